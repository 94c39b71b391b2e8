//! Mitt konto: every logged-in person's own account, and changing its password (the current
//! one, then the new one twice; care::api checks all three, as `own_passwd`).
//!
//! After a change the session it was made in goes on (the person just proved the current
//! password), while the account's other sessions on this node end at once: one left open
//! elsewhere, or someone else's, is what a password change is for. Sessions on the unit's
//! other nodes end when the change reaches them (every session is checked against its
//! account on every request).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::pages::{refused, unexpected};
use super::state::{page, status_of, Chrome, Identity, Web};
use crate::care::api::{is_wrong_current_password, ApiError, Reply, Request, Secret};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/konto", get(show))
        .route("/konto/losenord", post(change))
}

#[derive(Template)]
#[template(path = "own_account.html")]
struct OwnPage {
    c: Chrome,
    login: String,
    name: String,
    title: String,
    roles: String,
    unit: String,
    notice: Option<String>,
    error: Option<String>,
}

fn own_page(web: &Web, who: &Identity, notice: Option<String>, error: Option<String>) -> OwnPage {
    let a = &who.account;
    OwnPage {
        c: Chrome::of(web, who, "Mitt konto", "konto"),
        login: a.login.clone(),
        name: a.name.clone(),
        title: a.title.clone(),
        roles: a
            .roles
            .iter()
            .map(|r| r.name_sv())
            .collect::<Vec<_>>()
            .join(", "),
        unit: a.unit.to_string(),
        notice,
        error,
    }
}

async fn show(State(web): State<Web>, who: Identity) -> Response {
    page(StatusCode::OK, own_page(&web, &who, None, None))
}

/// The form's fields; never shown again.
#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: Secret,
    #[serde(default)]
    new: Secret,
    #[serde(default)]
    repeat: Secret,
}

/// Why the account's other sessions here ended, for the access log.
const OTHERS_ENDED: &str = "sessionen avslutad: kontots lösenord byttes i en annan session";

/// Why one's own password was not changed.
pub(super) enum OwnRefused {
    /// Too many wrong current passwords: wait this many milliseconds.
    Wait(u64),
    /// The node's refusal.
    Api(ApiError),
}

/// Changes the caller's own password through `care::api`, for the form and the JSON API
/// alike. Guessing the current password at an open session backs off as guessing at the
/// login does (the same counters: it is the same secret); once changed, the account's other
/// sessions here end and this one goes on under the account's new stamp.
pub(super) async fn change_own(
    web: &Web,
    who: &Identity,
    current: Secret,
    new: Secret,
    repeat: Secret,
) -> Result<Reply, OwnRefused> {
    let login = who.account.login.clone();
    let wait = web.throttle().wait_ms(&who.client, &login, web.now_ms());
    if wait > 0 {
        return Err(OwnRefused::Wait(wait));
    }
    let request = Request::OwnPasswd {
        current,
        new,
        repeat,
    };
    let answer = web.ask(who, request).await;
    match &answer {
        Err(e) if is_wrong_current_password(e) => {
            web.throttle().failed(&who.client, &login, web.now_ms());
        }
        Ok(_) => web.throttle().succeeded(&login),
        Err(_) => {}
    }
    let reply = answer.map_err(OwnRefused::Api)?;
    let accounts = web.accounts();
    let stamp = tokio::task::spawn_blocking(move || accounts.standing(&login))
        .await
        .ok()
        .flatten()
        .map(|s| s.stamp);
    if let (Some((id, _)), Some(stamp)) = (&who.session, stamp) {
        let mut sessions = web.sessions();
        sessions.restamp(id, stamp);
        sessions.end_others(&who.account.login, id, OTHERS_ENDED);
    }
    web.log_ended().await;
    Ok(reply)
}

async fn change(State(web): State<Web>, who: Identity, Form(f): Form<PasswordForm>) -> Response {
    match change_own(&web, &who, f.current, f.new, f.repeat).await {
        Err(OwnRefused::Wait(wait)) => {
            let error = format!(
                "För många misslyckade försök. Försök igen om {} sekunder.",
                wait.div_ceil(1000)
            );
            page(
                StatusCode::TOO_MANY_REQUESTS,
                own_page(&web, &who, None, Some(error)),
            )
        }
        Ok(Reply::Account(_)) => page(
            StatusCode::OK,
            own_page(
                &web,
                &who,
                Some(
                    "Lösenordet är bytt. Dina andra inloggningar på den här noden är avslutade; \
                         på enhetens andra noder avslutas de när ändringen har nått dem."
                        .into(),
                ),
                None,
            ),
        ),
        Ok(_) => unexpected(&web, &who),
        Err(OwnRefused::Api(e @ (ApiError::Refused(_) | ApiError::NotAllowed(_)))) => page(
            status_of(&e),
            own_page(&web, &who, None, Some(e.to_string())),
        ),
        Err(OwnRefused::Api(e)) => refused(&web, &who, e),
    }
}
