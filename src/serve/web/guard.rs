//! What every request passes before a handler sees it: the `Host` check, the security
//! headers, and who is asking (API token or session cookie), with the CSRF token and the
//! `Origin` check on every state-changing request.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::session::Session;
use super::state::{
    cookie, ApiRequest, Client, Expired, Identity, Web, CSRF_HEADER, POLL_HEADER, SESSION_COOKIE,
};
use crate::limits::WEB_BODY_BYTES_MAX;

/// The content security policy: nothing from any other origin, no inline script or style,
/// never in a frame.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Security headers on every response; `no-store` on everything but the (immutable,
/// patient-free) assets.
pub async fn headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// 403 for a `Host` that is not one of this node's (DNS rebinding).
pub async fn host(State(web): State<Web>, request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| web.inner.hosts.contains(&h.to_ascii_lowercase()));
    if !ok {
        return (StatusCode::FORBIDDEN, "Okänt värdnamn (Host).").into_response();
    }
    next.run(request).await
}

fn forbidden(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, why).into_response()
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who is asking, put in the request for [`Identity`]; the client's address for the audit
/// log; and for a state-changing request, the `Origin` check and (with a cookie) the CSRF
/// token, from the `x-csrf-token` header or the form's `_csrf` field.
pub async fn identify(State(web): State<Web>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<super::tls::ClientAddr>>()
        .map(|c| c.0 .0.ip().to_string())
        .unwrap_or_else(|| "okänd".into());
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(Client(client.clone()));
    // Seen here, before the API's nested router strips its prefix.
    if parts.uri.path().starts_with("/api/") {
        parts.extensions.insert(ApiRequest);
    }
    let unsafe_method = !safe(&parts.method);
    if unsafe_method {
        let scheme = if web.inner.settings.tls {
            "https"
        } else {
            "http"
        };
        let own = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| format!("{scheme}://{}", h.to_ascii_lowercase()));
        match parts.headers.get(header::ORIGIN).map(|o| o.to_str()) {
            Some(Ok(origin)) if Some(origin.to_ascii_lowercase()) == own => {}
            // `Referrer-Policy: no-referrer` makes a browser send `Origin: null` even for
            // its own forms; then the browser's own word on where the request came from
            // decides (sent to loopback and HTTPS origins, the only ones served).
            Some(Ok("null"))
                if parts
                    .headers
                    .get("sec-fetch-site")
                    .is_some_and(|v| v.as_bytes() == b"same-origin") => {}
            Some(_) => return forbidden("Begäran kom från en annan webbplats."),
            // No Origin (an older browser, a script): a browser that says the request is
            // from another site is still refused.
            None => {
                if parts
                    .headers
                    .get("sec-fetch-site")
                    .is_some_and(|v| v.as_bytes() == b"cross-site")
                {
                    return forbidden("Begäran kom från en annan webbplats.");
                }
            }
        }
    }
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let now = web.now_ms();
    let mut body = body;
    if let Some(token) = bearer {
        let accounts = web.accounts();
        let from = client.clone();
        let found = tokio::task::spawn_blocking(move || accounts.token(&token, &from)).await;
        match found {
            Ok(Ok(account)) => {
                parts.extensions.insert(Identity {
                    account,
                    client: client.clone(),
                    session: None,
                    ends_ms: None,
                });
            }
            _ => {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({ "error": "ogiltig API-nyckel" })),
                )
                    .into_response()
            }
        }
    } else if let Some(id) = cookie(&parts.headers, SESSION_COOKIE) {
        let activity = !parts.headers.contains_key(POLL_HEADER);
        let found = web.sessions().get(&id, now, activity);
        let found = match found {
            Some(session) => match still_stands(&web, &session).await {
                Ok(()) => Some(session),
                Err(why) => {
                    web.sessions().end(&id, why);
                    parts.extensions.insert(Expired {
                        account_changed: true,
                    });
                    None
                }
            },
            None => {
                parts.extensions.insert(Expired {
                    account_changed: false,
                });
                None
            }
        };
        match found {
            None => {}
            Some(session) => {
                if unsafe_method {
                    let header_token = parts
                        .headers
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let token = match header_token {
                        Some(t) => Some(t),
                        None => {
                            let taken = std::mem::replace(&mut body, Body::empty());
                            let bytes = match axum::body::to_bytes(taken, WEB_BODY_BYTES_MAX).await
                            {
                                Ok(b) => b,
                                Err(_) => {
                                    return (StatusCode::PAYLOAD_TOO_LARGE, "För stor begäran.")
                                        .into_response()
                                }
                            };
                            let token =
                                serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                                    .ok()
                                    .and_then(|pairs| {
                                        pairs
                                            .into_iter()
                                            .find(|(k, _)| k == "_csrf")
                                            .map(|(_, v)| v)
                                    });
                            body = Body::from(bytes);
                            token
                        }
                    };
                    if token.as_deref() != Some(session.csrf.as_str()) {
                        return forbidden("Sidan var för gammal: ladda om den och försök igen.");
                    }
                }
                let ends_ms = Some(session.ends_ms(web.idle()));
                parts.extensions.insert(Identity {
                    account: session.account.clone(),
                    client: client.clone(),
                    session: Some((id, session)),
                    ends_ms,
                });
            }
        }
    }
    web.sessions().sweep(now);
    web.log_ended().await;
    next.run(Request::from_parts(parts, body)).await
}

/// Whether the session's account still stands as it did at login: enabled, with the same
/// password and roles, as this node holds it now (a change made on another node of the unit
/// counts as soon as it has replicated here). Why not, in Swedish, for the access log.
async fn still_stands(web: &Web, session: &Session) -> Result<(), &'static str> {
    let accounts = web.accounts();
    let login = session.account.login.clone();
    let now = tokio::task::spawn_blocking(move || accounts.standing(&login))
        .await
        .ok()
        .flatten();
    match now {
        Some(s) if s.stamp == session.stamp => Ok(()),
        Some(_) => Err("sessionen avslutad: kontots lösenord eller roller har ändrats"),
        None => Err("sessionen avslutad: kontot är spärrat eller finns inte längre"),
    }
}
