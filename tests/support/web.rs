//! The web interface's router in-process, for the web tests: a node of a small region on
//! disk, the router with an injected clock, requests from a LAN client, logins and the
//! session cookie and CSRF token they give.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use reservnod::care::api::{ApiError, CareNode, Role};
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::tls::ClientAddr;
use reservnod::serve::web::{self, Account, Accounts, Standing, Web, WebSettings};
use reservnod_proto::HsaId;
use tower::ServiceExt;

pub const HOST: &str = "127.0.0.1:7480";
pub const ORIGIN: &str = "http://127.0.0.1:7480";
pub const T0: u64 = 1_780_000_000_000;

/// Accounts for the test: logins with passwords and API tokens.
pub struct TestAccounts {
    by_login: HashMap<String, (String, Account)>,
    by_token: HashMap<String, Account>,
}

impl Accounts for TestAccounts {
    fn password(&self, login: &str, password: &str, _client: &str) -> Result<Account, ApiError> {
        match self.by_login.get(login) {
            Some((p, a)) if p == password => Ok(a.clone()),
            _ => Err(ApiError::Refused("fel".into())),
        }
    }
    fn token(&self, token: &str, _client: &str) -> Result<Account, ApiError> {
        self.by_token
            .get(token)
            .cloned()
            .ok_or_else(|| ApiError::Refused("fel".into()))
    }
    fn any_can_log_in(&self) -> bool {
        !self.by_login.is_empty()
    }
    fn standing(&self, login: &str) -> Option<Standing> {
        self.by_login.get(login).map(|(_, a)| Standing {
            account: a.clone(),
            stamp: [7; 32],
        })
    }
    fn session_ended(&self, _: &Account, _: &str, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
}

impl TestAccounts {
    /// `accounts`, each with its password and the token `token-LOGIN`.
    pub fn new(accounts: &[(&str, Account)]) -> TestAccounts {
        TestAccounts {
            by_login: accounts
                .iter()
                .map(|(p, a)| (a.login.clone(), (p.to_string(), a.clone())))
                .collect(),
            by_token: accounts
                .iter()
                .map(|(_, a)| (format!("token-{}", a.login), a.clone()))
                .collect(),
        }
    }
}

pub fn account(login: &str, name: &str, unit: &HsaId) -> Account {
    Account {
        login: login.into(),
        name: name.into(),
        title: "sjuksköterska".into(),
        unit: unit.clone(),
        roles: vec![Role::Staff],
    }
}

pub struct Fixture {
    pub region: super::TestRegion,
    pub node: Arc<Node>,
    pub web: Web,
    pub clock: Arc<AtomicU64>,
    pub other_unit: String,
}

/// The first node of a two-unit region, its accounts the test's own: `kim` of this unit
/// and `olle` of the other (as if his password were known here), each with a token.
pub fn fixture(tls: bool) -> Fixture {
    fixture_with(tls, |_node, own, other| {
        let kim = account("kim", "Kim Karlsson", own);
        let mut by_login = HashMap::new();
        by_login.insert("kim".to_string(), ("rätt lösen".to_string(), kim.clone()));
        by_login.insert(
            "olle".to_string(),
            (
                "rätt lösen".to_string(),
                account("olle", "Olle Other", other),
            ),
        );
        let mut by_token = HashMap::new();
        by_token.insert("token-kim".to_string(), kim);
        by_token.insert(
            "token-olle".to_string(),
            account("olle", "Olle Other", other),
        );
        Arc::new(TestAccounts { by_login, by_token })
    })
}

/// The first node of a two-unit region, with the accounts `accounts` gives for the node,
/// its unit and the other unit.
pub fn fixture_with(
    tls: bool,
    accounts: impl FnOnce(&Arc<Node>, &HsaId, &HsaId) -> Arc<dyn Accounts>,
) -> Fixture {
    fixture_in(super::region(2, 0), tls, accounts)
}

/// As [`fixture_with`], on the first node of `region` (of at least two units).
pub fn fixture_in(
    region: super::TestRegion,
    tls: bool,
    accounts: impl FnOnce(&Arc<Node>, &HsaId, &HsaId) -> Arc<dyn Accounts>,
) -> Fixture {
    let dd = DataDir::new(&region.nodes[0].dir);
    let settings = Settings::for_data_dir(&dd).expect("settings");
    let (node, _gone) = Node::open(dd, settings).expect("open node");
    let node = Arc::new(node);
    let own = region.nodes[0].unit.clone();
    let other = region.nodes[1].unit.clone();
    let (web, clock) = web_of(&node, accounts(&node, &own, &other), tls);
    Fixture {
        other_unit: region.nodes[1].unit.to_string(),
        region,
        node,
        web,
        clock,
    }
}

/// The web interface of `node` for `accounts`, on [`HOST`], with its own clock from [`T0`].
pub fn web_of(node: &Arc<Node>, accounts: Arc<dyn Accounts>, tls: bool) -> (Web, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(T0));
    let c = clock.clone();
    let web = Web::new(
        node.clone() as Arc<dyn CareNode>,
        accounts,
        WebSettings {
            listen: HOST.parse().expect("addr"),
            names: vec!["avd12.region.se".into()],
            tls,
            idle_timeout: Duration::from_secs(20 * 60),
        },
        Arc::new(move || c.load(Ordering::SeqCst)),
    );
    (web, clock)
}

pub fn client() -> ConnectInfo<ClientAddr> {
    ConnectInfo(ClientAddr(SocketAddr::from(([10, 0, 0, 7], 50000))))
}

pub fn get(path: &str) -> axum::http::request::Builder {
    Request::get(path)
        .header(header::HOST, HOST)
        .extension(client())
}

pub fn post(path: &str) -> axum::http::request::Builder {
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .extension(client())
}

impl Fixture {
    pub async fn send(&self, r: Request<Body>) -> Response<Body> {
        web::router(self.web.clone())
            .oneshot(r)
            .await
            .expect("infallible")
    }

    pub fn advance(&self, by: Duration) {
        self.clock
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub async fn login_as(&self, user: &str, password: &str) -> Response<Body> {
        self.send(
            post("/logga-in")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "username={user}&password={}",
                    password.replace(' ', "+")
                )))
                .expect("request"),
        )
        .await
    }

    /// Logs kim in; the session cookie (`name=value`) and the CSRF token of the first page.
    pub async fn login(&self) -> (String, String) {
        self.login_with("kim", "rätt lösen").await
    }

    /// Logs `user` in; the session cookie (`name=value`) and the CSRF token of the first page.
    pub async fn login_with(&self, user: &str, password: &str) -> (String, String) {
        let r = self.login_as(user, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = session_cookie(&r).expect("a session cookie");
        let page = self
            .send(
                get("/inkorg")
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .expect("r"),
            )
            .await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = text(page).await;
        (cookie, csrf_of(&html))
    }
}

pub fn session_cookie(r: &Response<Body>) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(web::SESSION_COOKIE))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

pub async fn text(r: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 10 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a csrf field") + 20;
    html[at..at + 64].to_string()
}
