//! A patient's export handed over as a file to save (`Content-Disposition: attachment`),
//! for `GET /api/v1/export?patient=…&format=fhir|json|html` (scripts, and the Patient page's
//! links). The care layer makes it and logs it; this only hands the file over. As a
//! download it is opened outside the interface, so the interface's CSP does not keep the
//! printout's own stylesheet from applying.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::care::api::Exported;

/// The export as a download with its media type and file name.
pub(super) fn download(x: Exported) -> Response {
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
