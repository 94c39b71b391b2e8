//! The staff's web interface: Swedish screens and a JSON API under `/api/v1`, served by the
//! daemon beside the local socket (axum; templates checked at compile time by askama).
//!
//! Like the socket it only builds `care::api` requests and renders the replies: every field a
//! person typed goes to the node as typed, and every refusal is the node's own Swedish line.
//! What it adds is what only a web server can: who the person is (login, sessions, API
//! tokens, see [`login`] and [`session`]), and the browser's defences: a `Host` check
//! against DNS rebinding, security headers on every response, a CSRF token and an `Origin`
//! check on every state-changing request ([`guard`]).
//!
//! - [`api`]: `/api/v1/…`, the JSON form (described in `docs/openapi.yaml`).
//! - `pages`: the screens (Inkorg, Dokument, Skriv, Patient); `nodes`: Noder; `print`:
//!   Utskrift (a patient's chain and the active patients as A4 printouts); `admin`:
//!   Konton (the unit admin's); `own`: Mitt konto (one's own password); `access_log`: Logg
//!   (the log reviewer's search, CSV and chain check); `outage`: Driftstörning and
//!   Efterregistrering; `help`: Hjälp (the outage routine step by step, open without a
//!   login).
//! - `assets`: the stylesheet and the small script, embedded, under hashed names.
//! - [`tls`]: the listener, plain on loopback or TLS with the node's or IT's certificate.
//!
//! Time comes from an injected clock ([`Web::new`]), so expiry and back-off are testable.

mod access_log;
mod account;
mod admin;
pub mod api;
mod assets;
mod export;
mod guard;
mod help;
pub mod login;
mod nodes;
mod outage;
mod own;
mod pages;
mod print;
pub mod session;
mod state;
pub mod tls;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

pub use account::{Account, Accounts, Standing, UnitAccounts};
pub use guard::CSP;
pub use state::{
    allowed_hosts, Client, Clock, Identity, Web, WebSettings, CSRF_HEADER, POLL_HEADER,
    SESSION_COOKIE,
};

use crate::limits::WEB_BODY_BYTES_MAX;

/// The whole interface: screens, API and assets, behind the guards.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inkorg") }))
        .route("/logga-in", get(login::form).post(login::submit))
        .route("/logga-ut", post(login::logout))
        .route("/forlang", post(login::extend))
        .merge(pages::routes())
        .merge(nodes::routes())
        .merge(print::routes())
        .merge(admin::routes())
        .merge(own::routes())
        .merge(access_log::routes())
        .merge(outage::routes())
        .merge(help::routes())
        .nest("/api/v1", api::routes())
        .route("/assets/{name}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            guard::identify,
        ))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            guard::host,
        ))
        .layer(axum::middleware::from_fn(guard::headers))
        .layer(axum::extract::DefaultBodyLimit::max(WEB_BODY_BYTES_MAX))
        .with_state(web)
}
