//! Hjälp (`/hjalp`): the outage routine step by step as a unit follows it, before, on the
//! day, at the end and after (issue 13). Static text from a template, no patient data and
//! nothing asked of the node, so it is open without a login too (linked from the login
//! page: whoever cannot log in can still read whom to call); with a session it has the
//! person's menu and the outage banner like every page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use super::state::{page, Chrome, Identity, Web};

pub(super) fn routes() -> Router<Web> {
    Router::new().route("/hjalp", get(help))
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    c: Chrome,
}

async fn help(
    axum::extract::State(web): axum::extract::State<Web>,
    who: Option<Extension<Identity>>,
) -> Response {
    let c = match who {
        Some(Extension(who)) => Chrome::of(&web, &who, "Hjälp", "hjalp"),
        None => Chrome::anonymous(&web, "Hjälp"),
    };
    page(StatusCode::OK, HelpPage { c })
}
