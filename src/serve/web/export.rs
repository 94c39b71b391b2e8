//! `GET /api/v1/export?patient=…&format=fhir|json|html`: a patient's export as a file to
//! save (`Content-Disposition: attachment`), for scripts and for the Patient page's links.
//! The care layer makes it and logs it; this only hands the file over. As a download it is
//! opened outside the interface, so the page's CSP does not keep the printout's own
//! stylesheet from applying.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api::json;
use super::state::{Identity, Web};
use crate::care::api::{ExportRequest, Reply, Request};

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    format: String,
}

pub(super) async fn export(
    State(web): State<Web>,
    who: Identity,
    Query(q): Query<ExportQuery>,
) -> Response {
    let answer = web
        .ask(
            &who,
            Request::Export(ExportRequest {
                patient: q.patient,
                format: q.format,
            }),
        )
        .await;
    let x = match answer {
        Ok(Reply::Exported(x)) => x,
        other => return json(other),
    };
    let mut r = x.content.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&x.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // The file name is ASCII by construction (no patient identifier in it).
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", x.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
