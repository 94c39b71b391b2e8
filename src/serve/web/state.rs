//! The web interface's shared state and what every handler uses: [`Web`] (the node, the
//! accounts, the clock, sessions and throttle), who asks ([`Identity`]), the page frame
//! ([`Chrome`]), the cookie, and the `Host` values answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

pub use super::account::{Account, Accounts};
use super::assets;
use super::session::{Session, Sessions, Throttle};
use crate::care::api::{
    handle, outage_banner, ApiError, Caller, CareNode, Reply, Request, Role, Via,
};
use crate::limits::{WEB_IDLE_WARNING, WEB_POLL_INTERVAL};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "reservnod_session";
/// The header a script sends the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header the polling script sets: its requests are not activity (they do not keep an
/// idle session alive).
pub const POLL_HEADER: &str = "x-reservnod-poll";

/// What the web interface needs to know of its configuration.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Names and addresses accepted in `Host` beside the listen address.
    pub names: Vec<String>,
    /// Whether it is served over TLS (cookies are then `Secure`).
    pub tls: bool,
    /// A session with no activity for this long ends.
    pub idle_timeout: Duration,
}

/// The clock the web layer reads (ms since the epoch); tests inject their own.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The web interface's state, shared by every request.
#[derive(Clone)]
pub struct Web {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    node: Arc<dyn CareNode>,
    accounts: Arc<dyn Accounts>,
    clock: Clock,
    pub(super) settings: WebSettings,
    pub(super) hosts: Vec<String>,
    sessions: Mutex<Sessions>,
    throttle: Mutex<Throttle>,
}

impl Web {
    /// The web interface of `node`, whose people are `accounts`.
    pub fn new(
        node: Arc<dyn CareNode>,
        accounts: Arc<dyn Accounts>,
        settings: WebSettings,
        clock: Clock,
    ) -> Web {
        let hosts = allowed_hosts(&settings);
        Web {
            inner: Arc::new(Inner {
                node,
                accounts,
                clock,
                sessions: Mutex::new(Sessions::new(settings.idle_timeout)),
                throttle: Mutex::new(Throttle::default()),
                hosts,
                settings,
            }),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        (self.inner.clock)()
    }

    pub(super) fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn throttle(&self) -> MutexGuard<'_, Throttle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn accounts(&self) -> Arc<dyn Accounts> {
        self.inner.accounts.clone()
    }

    pub(super) fn idle(&self) -> Duration {
        self.inner.settings.idle_timeout
    }

    pub(super) fn session_cookie(&self, id: &str) -> HeaderValue {
        let secure = if self.inner.settings.tls {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("a hex id is a valid header value")
    }

    pub(super) fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.inner.settings.tls {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ))
        .expect("a valid header value")
    }

    /// Writes the sessions that ended to the access log, off the async threads. A failure
    /// to write is a warning in the node's log (the login only, nothing about patients).
    pub(super) async fn log_ended(&self) {
        let ended = self.sessions().take_ended();
        if ended.is_empty() {
            return;
        }
        let accounts = self.accounts();
        let _ = tokio::task::spawn_blocking(move || {
            for e in ended {
                if let Err(err) =
                    accounts.session_ended(&e.session.account, &e.session.client, &e.why)
                {
                    tracing::warn!(login = %e.session.account.login, error = %err, "a session's end could not be written to the access log");
                }
            }
        })
        .await;
    }

    /// Answers a care request from `who` off the async threads.
    pub(super) async fn ask(&self, who: &Identity, request: Request) -> Result<Reply, ApiError> {
        let node = self.inner.node.clone();
        let caller = who.caller();
        tokio::task::spawn_blocking(move || handle(node.as_ref(), &caller, request))
            .await
            .map_err(|e| ApiError::Refused(format!("internt fel: {e}")))?
    }
}

/// The client's address, as the connection gave it (for the audit log and the throttle).
#[derive(Clone, Debug)]
pub struct Client(pub String);

/// Who made a request: the account, and the session when it came with the cookie (none for
/// an API token).
#[derive(Clone, Debug)]
pub struct Identity {
    /// Who.
    pub account: Account,
    /// From where (the client's address).
    pub client: String,
    /// The session id and session, for a cookie.
    pub session: Option<(String, Session)>,
    /// When the session ends if nothing more happens.
    pub ends_ms: Option<u64>,
}

impl Identity {
    /// The caller of every request this person makes: the account, from the session or the
    /// token, never from a request field.
    pub fn caller(&self) -> Caller {
        Caller::account(self.account.clone(), Some(self.client.clone()), Via::Web)
    }

    pub(super) fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|(_, s)| s.csrf.clone())
            .unwrap_or_default()
    }
}

/// The request is for the JSON API (its refusals are JSON, never a redirect).
#[derive(Clone, Copy, Debug)]
pub struct ApiRequest;

/// A request the guard found had a session cookie that has ended.
#[derive(Clone, Copy, Debug)]
pub struct Expired {
    /// It ended because its account was disabled or changed (not by time).
    pub account_changed: bool,
}

impl FromRequestParts<Web> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        if let Some(i) = parts.extensions.get::<Identity>() {
            return Ok(i.clone());
        }
        let expired = parts.extensions.get::<Expired>().copied();
        let mut r = refusal(parts);
        if expired.is_some() {
            r.headers_mut()
                .insert(header::SET_COOKIE, web.clear_cookie());
        }
        Err(r)
    }
}

/// The answer to a request that needs a person and has none: 401 for the API, else the login
/// page (saying why when a session has ended).
fn refusal(parts: &Parts) -> Response {
    if parts.extensions.get::<ApiRequest>().is_some() {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": "inte inloggad" })),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"reservnod\""),
        );
        return r;
    }
    let to = match parts.extensions.get::<Expired>() {
        Some(Expired {
            account_changed: true,
        }) => "/logga-in?andrat=1",
        Some(_) => "/logga-in?utgangen=1",
        None => "/logga-in",
    };
    Redirect::to(to).into_response()
}

/// The parts of every page around its content.
pub(crate) struct Chrome {
    /// The page's title (also `<title>`).
    pub title: String,
    /// The stylesheet's path.
    pub css: &'static str,
    /// The script's path.
    pub js: &'static str,
    /// Who is logged in: name and title.
    pub user: Option<(String, String)>,
    /// The session's CSRF token (empty without a session).
    pub csrf: String,
    /// Which menu item is this page.
    pub nav: &'static str,
    /// Milliseconds until the session ends if idle (0: no session).
    pub idle_ms: u64,
    /// Milliseconds before that the warning shows.
    pub warn_ms: u64,
    /// How often the polling script asks (ms).
    pub poll_ms: u64,
    /// The idle timeout in whole minutes, for the text shown without JavaScript.
    pub idle_mins: u64,
    /// Which screens the menu offers (only what the account's roles are for; care::api
    /// decides what each may do).
    pub menu: Menu,
    /// The outage banner for a logged-in person: its state (`ingen`, `utlyst`,
    /// `avslutad`) and its line.
    pub outage: Option<(String, String)>,
}

/// The menu's items beyond those for everyone, by the account's roles.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Menu {
    /// Inkorg, Skriv, Patient (staff and unit admins).
    pub clinical: bool,
    /// Konton (unit admins).
    pub accounts: bool,
    /// Logg (log reviewers).
    pub access_log: bool,
}

impl Menu {
    pub(super) fn of(a: &Account) -> Menu {
        Menu {
            clinical: a.has(Role::Staff) || a.has(Role::UnitAdmin),
            accounts: a.has(Role::UnitAdmin),
            access_log: a.has(Role::LogReviewer),
        }
    }

    /// Where a login of this account lands: the first screen it has.
    pub(super) fn landing(self) -> &'static str {
        if self.clinical {
            "/inkorg"
        } else if self.access_log {
            "/logg"
        } else {
            "/konto"
        }
    }
}

impl Chrome {
    pub(super) fn anonymous(web: &Web, title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            css: assets::css_path(),
            js: assets::js_path(),
            user: None,
            csrf: String::new(),
            nav: "",
            idle_ms: 0,
            warn_ms: 0,
            poll_ms: WEB_POLL_INTERVAL.as_millis() as u64,
            idle_mins: web.idle().as_secs() / 60,
            menu: Menu::default(),
            outage: None,
        }
    }

    pub(super) fn of(web: &Web, who: &Identity, title: &str, nav: &'static str) -> Chrome {
        let idle = web.idle();
        Chrome {
            user: Some((who.account.name.clone(), who.account.title.clone())),
            csrf: who.csrf(),
            nav,
            idle_ms: who
                .ends_ms
                .map(|e| e.saturating_sub(web.now_ms()))
                .unwrap_or(0),
            warn_ms: WEB_IDLE_WARNING.min(idle / 2).as_millis() as u64,
            menu: Menu::of(&who.account),
            // Read from the view in memory (no patient data, nothing written).
            outage: {
                let b = outage_banner(web.inner.node.as_ref());
                Some((b.state, b.text))
            },
            ..Chrome::anonymous(web, title)
        }
    }
}

/// The one mapping of a refusal to its HTTP status, for the screens and the API alike:
/// 403 for what the caller may not do, 422 for what cannot be done as asked, 500 for the
/// store.
pub(super) fn status_of(e: &ApiError) -> StatusCode {
    match e {
        ApiError::NotAllowed(_) => StatusCode::FORBIDDEN,
        ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A rendered page with its status.
pub(super) fn page(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internt fel").into_response()
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Every `Host` value the interface answers: the configured names and the listen address,
/// with the port (and without it on the scheme's default port), plus `localhost` and both
/// loopback addresses when it listens on loopback. Lowercase.
pub fn allowed_hosts(s: &WebSettings) -> Vec<String> {
    let port = s.listen.port();
    let default_port = if s.tls { 443 } else { 80 };
    let mut names: Vec<String> = s.names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let ip = match s.listen.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    if !s.listen.ip().is_unspecified() {
        names.push(ip);
    }
    if s.listen.ip().is_loopback() {
        names.extend(["localhost".into(), "127.0.0.1".into(), "[::1]".into()]);
    }
    let mut out = Vec::new();
    for n in names {
        out.push(format!("{n}:{port}"));
        if port == default_port {
            out.push(n);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Why a body or form did not read as its request, in Swedish for staff (serde says it in
/// English): the field it is about, when serde names one.
pub(super) fn unread_sv(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let named = text
        .split('`')
        .nth(1)
        .map(|n| n.chars().take(40).collect::<String>());
    match named {
        Some(n) if text.starts_with("unknown field") => {
            format!(
                "fältet \"{n}\" hör inte till begäran (vem som skriver kommer från inloggningen)"
            )
        }
        Some(n) if text.starts_with("missing field") => format!("fältet \"{n}\" saknas"),
        Some(n) if text.starts_with("unknown variant") => {
            format!("\"{n}\" är inget av de värden som fältet tar")
        }
        _ => "ett fält har fel form".into(),
    }
}
