//! The login and logout screens.
//!
//! The web layer checks no password itself: the unit's accounts answer, and writes every attempt
//! to the audit log. The web layer adds what only it can: one generic refusal, back-off per
//! client address and per login (429 with `Retry-After`), a new session id at every login,
//! and a logout that ends the session on the server.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::state::{cookie, page, Chrome, Client, Identity, Menu, Web, SESSION_COOKIE};

/// The one refusal every failed login gets, whatever failed.
pub const REFUSAL: &str = "Inloggningen misslyckades. Kontrollera användarnamn och lösenord.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    login: String,
    error: Option<String>,
    notice: Option<String>,
}

/// `?utloggad`, `?utgangen`, `?andrat` after a logout, an expired session, or one ended
/// because its account changed.
#[derive(Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    utloggad: Option<String>,
    #[serde(default)]
    utgangen: Option<String>,
    #[serde(default)]
    andrat: Option<String>,
}

pub(super) async fn form(State(web): State<Web>, Query(q): Query<LoginQuery>) -> Response {
    let notice = if q.utloggad.is_some() {
        Some("Du är utloggad.".to_string())
    } else if q.utgangen.is_some() {
        Some("Sessionen har gått ut. Logga in igen.".to_string())
    } else if q.andrat.is_some() {
        Some(
            "Du har loggats ut eftersom ditt konto har ändrats eller spärrats. Logga in igen."
                .to_string(),
        )
    } else {
        None
    };
    page(
        StatusCode::OK,
        LoginPage {
            c: Chrome::anonymous(&web, "Logga in"),
            login: String::new(),
            error: None,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn submit(
    State(web): State<Web>,
    Extension(Client(client)): Extension<Client>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let old = cookie(&headers, SESSION_COOKIE);
    let now = web.now_ms();
    let wait = web.throttle().wait_ms(&client, f.username.trim(), now);
    if wait > 0 {
        let secs = wait.div_ceil(1000);
        let mut r = page(
            StatusCode::TOO_MANY_REQUESTS,
            LoginPage {
                c: Chrome::anonymous(&web, "Logga in"),
                login: f.username.clone(),
                error: Some(format!(
                    "För många misslyckade försök. Försök igen om {secs} sekunder."
                )),
                notice: None,
            },
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let accounts = web.accounts();
    let (login, password, from) = (f.username.trim().to_string(), f.password, client.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        // What the account stands on is read before the password is checked: a change in
        // between then ends the new session at its first request rather than being missed.
        let stamp = accounts.standing(&login).map(|s| s.stamp);
        accounts
            .password(&login, &password, &from)
            .map(|a| (a, stamp))
    })
    .await;
    let now = web.now_ms();
    match outcome {
        Ok(Ok((account, stamp))) => {
            web.throttle().succeeded(f.username.trim());
            let landing = Menu::of(&account).landing();
            let id = {
                let mut sessions = web.sessions();
                // A session id from before the login never becomes the logged-in one.
                if let Some(old) = old {
                    sessions.end(&old, "sessionen avslutad: ny inloggning i samma webbläsare");
                }
                // No stamp (the account appeared between the two reads): one never matching.
                sessions
                    .start(account, stamp.unwrap_or([0; 32]), &client, now)
                    .0
            };
            web.log_ended().await;
            let mut r = Redirect::to(landing).into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, web.session_cookie(&id));
            r
        }
        Ok(Err(_)) | Err(_) => {
            web.throttle().failed(&client, f.username.trim(), now);
            page(
                StatusCode::UNAUTHORIZED,
                LoginPage {
                    c: Chrome::anonymous(&web, "Logga in"),
                    login: f.username,
                    error: Some(REFUSAL.into()),
                    notice: None,
                },
            )
        }
    }
}

pub(super) async fn logout(State(web): State<Web>, identity: Identity) -> Response {
    if let Some((id, _)) = &identity.session {
        web.sessions().end(id, "utloggad");
    }
    web.log_ended().await;
    let mut r = Redirect::to("/logga-in?utloggad=1").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, web.clear_cookie());
    r
}

/// "Förläng": activity that keeps the session (the request itself is the activity). The
/// script asks with `fetch` and reads the new end; without JavaScript the form returns to
/// the page it came from.
pub(super) async fn extend(identity: Identity, headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let ends = identity.ends_ms;
        return axum::Json(serde_json::json!({ "ends_ms": ends })).into_response();
    }
    Redirect::to("/inkorg").into_response()
}
