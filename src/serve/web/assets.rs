//! The stylesheet and the script, embedded in the binary and served under names that carry
//! their hash, so a browser may keep them for good and a new build is never mixed with an
//! old one. Nothing is ever fetched from another origin.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
/// Utskrift's stylesheet: the printouts' own, which files carry inlined.
const PRINT_CSS: &str = crate::care::api::PRINT_CSS;

struct Names {
    css: String,
    js: String,
    print: String,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let short = |b: &str| blake3::hash(b.as_bytes()).to_hex()[..16].to_string();
        Names {
            css: format!("/assets/app-{}.css", short(CSS)),
            js: format!("/assets/app-{}.js", short(JS)),
            print: format!("/assets/print-{}.css", short(PRINT_CSS)),
        }
    })
}

/// The stylesheet's path.
pub fn css_path() -> &'static str {
    &names().css
}

/// The script's path.
pub fn js_path() -> &'static str {
    &names().js
}

/// The print stylesheet's path.
pub fn print_css_path() -> &'static str {
    &names().print
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let path = format!("/assets/{name}");
    let (body, kind) = if path == names().css {
        (CSS, "text/css; charset=utf-8")
    } else if path == names().js {
        (JS, "text/javascript; charset=utf-8")
    } else if path == names().print {
        (PRINT_CSS, "text/css; charset=utf-8")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}
