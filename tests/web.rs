//! The web interface's HTTP and security properties, against the router in-process
//! (`tower::ServiceExt::oneshot`): every API route refuses an unauthenticated request, the
//! Host check, the security headers, cookie flags, a new session id at login, CSRF and
//! Origin, idle and absolute expiry by the injected clock, back-off with 429 and
//! Retry-After, logout on the server, and that no request field can name the author.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use reservnod::serve::web;
use support::web::*;

fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').expect("closing brace") + i;
        out.push_str("0011aabbccdd");
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_api_route_refuses_an_unauthenticated_request() {
    let f = fixture(false);
    for (method, path) in web::api::ROUTES {
        let b = if *method == "GET" {
            get(&concrete(path))
        } else {
            post(&concrete(path))
        };
        let r = f
            .send(
                b.header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        // A wrong token is no better.
        let b = if *method == "GET" {
            get(&concrete(path))
        } else {
            post(&concrete(path))
        };
        let r = f
            .send(
                b.header(header::AUTHORIZATION, "Bearer nope")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .expect("request"),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a bad token"
        );
    }
    // The screens send the browser to the login form.
    for path in [
        "/inkorg",
        "/inkorg/lista",
        "/skriv",
        "/patient",
        "/noder",
        "/dokument/0011aabbccdd",
        "/konton",
        "/konton/sara",
        "/konto",
        "/logg",
        "/logg.csv",
        "/logg/kontroll",
    ] {
        let r = f.send(get(path).body(Body::empty()).expect("r")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()[header::LOCATION], "/logga-in", "{path}");
    }
}

#[test]
fn the_openapi_file_describes_exactly_the_routes() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let mut described = Vec::new();
    let mut path: Option<String> = None;
    for line in yaml.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/api/v1/{p}"));
        } else if let (Some(p), Some(m)) = (
            &path,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) {
            if ["get", "post"].contains(&m) {
                described.push((m.to_uppercase(), p.clone()));
            }
        }
    }
    let mut routes: Vec<(String, String)> = web::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    described.sort();
    assert_eq!(described, routes);
}

#[tokio::test]
async fn a_foreign_host_is_refused_and_every_response_has_the_security_headers() {
    let f = fixture(false);
    for host in [Some("evil.example:7480"), Some("127.0.0.1:9999"), None] {
        let mut b = Request::get("/logga-in").extension(client());
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        let r = f.send(b.body(Body::empty()).expect("r")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{host:?}");
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
    for host in ["127.0.0.1:7480", "localhost:7480", "AVD12.region.se:7480"] {
        let r = f
            .send(
                Request::get("/logga-in")
                    .header(header::HOST, host)
                    .extension(client())
                    .body(Body::empty())
                    .expect("r"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{host}");
        let h = r.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        let html = text(r).await;
        assert!(html.contains("<html lang=\"sv\">"));
        assert!(html.contains("autocomplete=\"username\""));
        assert!(html.contains("autocomplete=\"current-password\""));
        // Nothing from any other origin, and no inline script or style.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{html}"
        );
    }
}

#[tokio::test]
async fn login_sets_a_new_strict_http_only_cookie_and_logout_ends_the_session() {
    let f = fixture(false);
    // An id planted before login is never the one that logs in.
    let planted = format!("{}=deadbeef", web::SESSION_COOKIE);
    let r = f
        .send(
            post("/logga-in")
                .header(header::COOKIE, &planted)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("username=kim&password=r%C3%A4tt+l%C3%B6sen"))
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "no Secure on plain loopback HTTP: {set}"
    );
    let cookie = session_cookie(&r).expect("cookie");
    assert_ne!(cookie, planted);
    let second = session_cookie(&f.login_as("kim", "rätt lösen").await).expect("cookie");
    assert_ne!(cookie, second, "every login gets a new id");
    let (cookie, csrf) = f.login().await;
    let r = f
        .send(
            post("/logga-ut")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("_csrf={csrf}")))
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The server forgot it: the old cookie no longer works.
    let r = f
        .send(
            get("/api/v1/inbox")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let tls = fixture(true);
    let r = tls
        .send(
            Request::post("/logga-in")
                .header(header::HOST, HOST)
                .header(header::ORIGIN, "https://127.0.0.1:7480")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .extension(client())
                .body(Body::from("username=kim&password=r%C3%A4tt+l%C3%B6sen"))
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Under TLS, a page posted from the plain-HTTP origin of the same host is another site.
    assert_eq!(
        tls.login_as("kim", "rätt lösen").await.status(),
        StatusCode::FORBIDDEN
    );
    let set = r.headers()[header::SET_COOKIE].to_str().expect("ascii");
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn a_state_change_needs_the_session_token_and_our_own_origin() {
    let f = fixture(false);
    let (cookie, csrf) = f.login().await;
    let ack = |origin: Option<&str>, token: Option<&str>| {
        let mut b = Request::post("/dokument/0011aabbccdd/kvittera")
            .header(header::HOST, HOST)
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .extension(client());
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        let body = token.map(|t| format!("_csrf={t}")).unwrap_or_default();
        b.body(Body::from(body)).expect("r")
    };
    assert_eq!(
        f.send(ack(Some(ORIGIN), None)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.send(ack(Some(ORIGIN), Some(&"0".repeat(64))))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.send(ack(Some("http://evil.example"), Some(&csrf)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // `Origin: null` (what a browser sends under no-referrer) passes only with the
    // browser's word that the request came from this origin.
    assert_eq!(
        f.send(ack(Some("null"), Some(&csrf))).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut null_same = ack(Some("null"), Some(&csrf));
    null_same.headers_mut().insert(
        "sec-fetch-site",
        axum::http::HeaderValue::from_static("same-origin"),
    );
    assert_eq!(
        f.send(null_same).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The right token from our own origin reaches the node (which refuses the unknown event).
    let r = f.send(ack(Some(ORIGIN), Some(&csrf))).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A script sends the token in the header.
    let r = f
        .send(
            post("/api/v1/events/0011aabbccdd/ack")
                .header(header::COOKIE, &cookie)
                .header(web::CSRF_HEADER, &csrf)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = f
        .send(
            post("/api/v1/events/0011aabbccdd/ack")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A login form posted from another site is refused too.
    let r = f
        .send(
            Request::post("/logga-in")
                .header(header::HOST, HOST)
                .header(header::ORIGIN, "http://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .extension(client())
                .body(Body::from("username=kim&password=x"))
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_end_when_idle_and_after_twelve_hours_by_the_injected_clock() {
    let f = fixture(false);
    let (cookie, _) = f.login().await;
    let inbox = |poll: bool| {
        let mut b = get("/inkorg/lista").header(header::COOKIE, &cookie);
        if poll {
            b = b.header(web::POLL_HEADER, "1");
        }
        b.body(Body::empty()).expect("r")
    };
    // Polling does not keep a session alive.
    f.advance(Duration::from_secs(19 * 60));
    assert_eq!(f.send(inbox(true)).await.status(), StatusCode::OK);
    f.advance(Duration::from_secs(60));
    let r = f.send(inbox(true)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/logga-in?utgangen=1");

    // Activity does, up to the absolute limit.
    let (cookie, _) = f.login().await;
    for _ in 0..(12 * 60 / 15 - 1) {
        f.advance(Duration::from_secs(15 * 60));
        let r = f
            .send(
                get("/inkorg/lista")
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .expect("r"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    f.advance(Duration::from_secs(15 * 60));
    let r = f
        .send(
            get("/inkorg/lista")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "ended after 12 hours");
}

#[tokio::test]
async fn failed_logins_back_off_with_429_and_retry_after() {
    let f = fixture(false);
    let mut last = None;
    for _ in 0..5 {
        let r = f.login_as("kim", "fel").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let html = text(r).await;
        assert!(html.contains(web::login::REFUSAL));
        last = Some(html);
    }
    // One generic refusal: an unknown login gets the same words.
    let unknown = text(f.login_as("nobody", "x").await).await;
    assert!(unknown.contains(web::login::REFUSAL));
    assert!(last.is_some());
    // Now even the right password waits.
    let r = f.login_as("kim", "rätt lösen").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let after: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(after >= 1, "{after}");
    f.advance(Duration::from_secs(after));
    let r = f.login_as("kim", "rätt lösen").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "after the wait it goes on"
    );
}

#[tokio::test]
async fn no_request_field_names_the_author() {
    let f = fixture(false);
    let body = serde_json::json!({
        "person": {"name": "Mallory Mask", "role": "chef", "login": "mallory"},
        "to": [f.other_unit],
        "receipt_required": true,
        "consent": "samtycke",
        "document": {"type": "message", "subject": "Fråga", "text": "Hej"}
    });
    let r = f
        .send(
            post("/api/v1/send")
                .header(header::AUTHORIZATION, "Bearer token-kim")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("r"),
        )
        .await;
    // A body that names a person is refused, and nothing is written.
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut body = body;
    body.as_object_mut().expect("object").remove("person");
    let r = f
        .send(
            post("/api/v1/send")
                .header(header::AUTHORIZATION, "Bearer token-kim")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("r"),
        )
        .await;
    let status = r.status();
    let sent: serde_json::Value = serde_json::from_str(&text(r).await).expect("json");
    assert_eq!(status, StatusCode::OK, "{sent}");
    {
        let event = sent["event"].as_str().expect("event").to_string();
        let r = f
            .send(
                get(&format!("/api/v1/events/{event}"))
                    .header(header::AUTHORIZATION, "Bearer token-kim")
                    .body(Body::empty())
                    .expect("r"),
            )
            .await;
        let shown: serde_json::Value = serde_json::from_str(&text(r).await).expect("json");
        assert_eq!(shown["item"]["author"], "Kim Karlsson", "{shown}");
        assert_eq!(shown["role"], "sjuksköterska");
    }
}

#[tokio::test]
async fn an_account_of_another_unit_gets_nothing_at_this_node() {
    let f = fixture(false);
    for path in [
        "/api/v1/inbox",
        "/api/v1/directory",
        "/api/v1/id-check?id=191212121212",
    ] {
        let r = f
            .send(
                get(path)
                    .header(header::AUTHORIZATION, "Bearer token-olle")
                    .body(Body::empty())
                    .expect("r"),
            )
            .await;
        // Not allowed here: 403, the one status every refusal by role gets.
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let j: serde_json::Value = serde_json::from_str(&text(r).await).expect("json");
        assert!(
            j["error"]
                .as_str()
                .is_some_and(|e| e.contains("annan enhet")),
            "{j}"
        );
    }
}

/// The export route hands over the file (a download, its media type, a name without the
/// patient) made by the logged-in account; a refusal is the usual JSON error.
#[tokio::test]
async fn a_patients_export_is_a_download_of_its_format() {
    let f = fixture(false);
    let body = serde_json::json!({
        "patient": "19121212-1212",
        "to": [f.other_unit],
        "receipt_required": true,
        "consent": "samtycke",
        "document": {"type": "message", "subject": "Fråga", "text": "Hej <b>"}
    });
    let r = f
        .send(
            post("/api/v1/send")
                .header(header::AUTHORIZATION, "Bearer token-kim")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for (format, media) in [
        ("fhir", "application/fhir+json"),
        ("json", "application/json"),
        ("html", "text/html; charset=utf-8"),
    ] {
        let r = f
            .send(
                get(&format!(
                    "/api/v1/export?patient=191212121212&format={format}"
                ))
                .header(header::AUTHORIZATION, "Bearer token-kim")
                .body(Body::empty())
                .expect("r"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{format}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], media);
        let disposition = r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(disposition.starts_with("attachment; filename=\"reservnod-export-"));
        assert!(!disposition.contains("1212"), "{disposition}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let t = text(r).await;
        match format {
            "html" => {
                assert!(t.contains("Hej &lt;b&gt;") && !t.contains("Hej <b>"));
                assert!(t.contains("Kim Karlsson"));
            }
            _ => {
                let j: serde_json::Value = serde_json::from_str(&t).expect("json");
                assert!(
                    t.contains("Kim Karlsson"),
                    "{format}: the author is the account"
                );
                if format == "fhir" {
                    assert_eq!(j["resourceType"], "Bundle");
                } else {
                    assert_eq!(j["schema"], "reservnod-export");
                    assert_eq!(j["exported_by"]["login"], "kim");
                }
            }
        }
    }
    let r = f
        .send(
            get("/api/v1/export?patient=191212121212&format=pdf")
                .header(header::AUTHORIZATION, "Bearer token-kim")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
