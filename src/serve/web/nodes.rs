//! Noder: what this node knows of the others (the care API's `nodes`), for staff who wonder
//! why something has not arrived: who is reachable, since when someone is not, whose clock
//! is off, and how much is still to come.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::pages::{refused, unexpected};
use super::state::{page, Chrome, Identity, Web};
use crate::care::api::{NodesView, Reply, Request};

pub(super) fn routes() -> Router<Web> {
    Router::new().route("/noder", get(nodes))
}

#[derive(Template)]
#[template(path = "nodes.html")]
struct NodesPage {
    c: Chrome,
    n: NodesView,
}

async fn nodes(State(web): State<Web>, who: Identity) -> Response {
    match web.ask(&who, Request::Nodes {}).await {
        Ok(Reply::Nodes(n)) => page(
            StatusCode::OK,
            NodesPage {
                c: Chrome::of(&web, &who, "Noder", "noder"),
                n,
            },
        ),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}
