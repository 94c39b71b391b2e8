//! Utskrift: printouts of one patient's chain and of the unit's active patients, each a
//! whole A4 page with the print stylesheet (no menu; a line to go back shown on screen
//! only). The care layer makes the page's content and logs it as printed (`Print`, not
//! `Read`), so this only asks and wraps it; `/utskrift` itself shows no patient data.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::assets;
use super::pages::{refused, unexpected};
use super::state::{page, Chrome, Identity, Web};
use crate::care::api::{ApiError, PrintRequest, Printed, Reply, Request};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/utskrift", get(choose))
        .route("/utskrift/aktiva", get(active))
        .route("/utskrift/patient", get(patient))
}

#[derive(Template)]
#[template(path = "print_choose.html")]
struct ChoosePage {
    c: Chrome,
    typed: String,
    error: Option<String>,
}

/// What can be printed; nothing about patients, so nothing logged.
async fn choose(State(web): State<Web>, who: Identity) -> Response {
    page(
        StatusCode::OK,
        ChoosePage {
            c: Chrome::of(&web, &who, "Utskrift", "utskrift"),
            typed: String::new(),
            error: None,
        },
    )
}

#[derive(Template)]
#[template(path = "print.html")]
struct PrintPage {
    title: String,
    css: &'static str,
    back: String,
    back_label: &'static str,
    /// The care layer's HTML, every text in it escaped there (`care::api::print`).
    body: String,
}

fn printout(p: Printed, back: String, back_label: &'static str) -> Response {
    page(
        StatusCode::OK,
        PrintPage {
            title: p.title,
            css: assets::print_css_path(),
            back,
            back_label,
            body: p.body,
        },
    )
}

async fn active(State(web): State<Web>, who: Identity) -> Response {
    match web.ask(&who, Request::Print(PrintRequest::Active {})).await {
        Ok(Reply::Printed(p)) => printout(*p, "/utskrift".into(), "Tillbaka till Utskrift"),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Deserialize)]
struct PatientQuery {
    #[serde(default)]
    patient: String,
}

async fn patient(State(web): State<Web>, who: Identity, Query(q): Query<PatientQuery>) -> Response {
    let request = Request::Print(PrintRequest::Patient {
        patient: q.patient.clone(),
    });
    match web.ask(&who, request).await {
        Ok(Reply::Printed(p)) => {
            let back = format!(
                "/patient?id={}",
                p.patients.first().map(|x| urlencode(x)).unwrap_or_default()
            );
            printout(*p, back, "Tillbaka till patienten")
        }
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            ChoosePage {
                c: Chrome::of(&web, &who, "Utskrift", "utskrift"),
                typed: q.patient,
                error: Some(e.to_string()),
            },
        ),
        Err(e) => refused(&web, &who, e),
    }
}

/// A patient id (canonical, so digits, `-`, `R:` and the issuer's letters) for a query.
fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .map(|q| q[2..].to_string())
        .unwrap_or_default()
}
