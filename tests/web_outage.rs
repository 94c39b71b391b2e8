//! Driftstörning and Efterregistrering in the web interface, against the router
//! in-process: the banner on every page (none declared, in force, ended), the declare and
//! end forms (a unit admin's; staff get the node's refusal as 403; no CSRF token, 403),
//! a refused form shown again with the node's line and what was typed, the refusal of a
//! new document after the end through the JSON API, and the re-entry list with its mark
//! form and its links to the outage's export.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, StatusCode};
use reservnod::care::api::Role;
use serde_json::Value;
use support::web::{account, fixture_with, get, post, text, Fixture, TestAccounts};

const PASSWORD: &str = "rätt lösen";

/// The first node of a two-unit region with `anna` (unit admin) and `sara` (staff).
fn fixture() -> Fixture {
    fixture_with(false, |_node, own, _other| {
        let mut anna = account("anna", "Anna Admin", own);
        anna.roles = vec![Role::UnitAdmin];
        let sara = account("sara", "Sara Sjöberg", own);
        Arc::new(TestAccounts::new(&[(PASSWORD, anna), (PASSWORD, sara)]))
    })
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form")
}

async fn page(f: &Fixture, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = f
        .send(
            get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    (r.status(), text(r).await)
}

async fn submit(
    f: &Fixture,
    cookie: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let r = f
        .send(
            post(path)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form(pairs)))
                .expect("r"),
        )
        .await;
    let to = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (r.status(), to, text(r).await)
}

async fn api(f: &Fixture, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let r = match body {
        Some(b) => post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty()),
    }
    .expect("r");
    let r = f.send(r).await;
    let status = r.status();
    (status, serde_json::from_str(&text(r).await).expect("json"))
}

fn message(to: &str) -> Value {
    serde_json::json!({
        "patient": "191212121212",
        "to": [to],
        "receipt_required": false,
        "consent": "samtycke",
        "document": {"type": "message", "subject": "Fråga", "text": "Hur går det?"}
    })
}

#[tokio::test]
async fn the_banner_the_forms_and_the_re_entry_list() {
    let f = fixture();
    let (anna, anna_csrf) = f.login_with("anna", PASSWORD).await;
    let (sara, sara_csrf) = f.login_with("sara", PASSWORD).await;
    // None declared: a warning on every page; staff see the state but no form.
    for path in [
        "/inkorg",
        "/patient",
        "/noder",
        "/driftstopp",
        "/efterregistrering",
    ] {
        let (status, html) = page(&f, &sara, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            html.contains("outage-ingen") && html.contains("Ingen driftstörning är utlyst"),
            "{path}"
        );
    }
    let (_, html) = page(&f, &sara, "/driftstopp").await;
    assert!(!html.contains("/driftstopp/utlys"), "no form for staff");
    let (_, html) = page(&f, &anna, "/driftstopp").await;
    assert!(html.contains("action=\"/driftstopp/utlys\""));
    // Without the CSRF token: refused before the node is asked.
    let (status, _, _) = submit(&f, &anna, "/driftstopp/utlys", &[("reason", "LINK nere")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Staff with a token: the node refuses the role, 403, nothing declared.
    let (status, _, html) = submit(
        &f,
        &sara,
        "/driftstopp/utlys",
        &[("_csrf", &sara_csrf), ("reason", "LINK nere")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("bara enhetens administratör"), "{html}");
    // A refusal by the node shows the form again with its line and what was typed.
    let (status, _, html) = submit(
        &f,
        &anna,
        "/driftstopp/utlys",
        &[
            ("_csrf", &anna_csrf),
            ("reason", " "),
            ("scope", "KVAR-TEXT"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("skälet") && html.contains("KVAR-TEXT"),
        "{html}"
    );
    let (status, to, _) = submit(
        &f,
        &anna,
        "/driftstopp/utlys",
        &[("_csrf", &anna_csrf), ("reason", "LINK nere sedan 08.10")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to.as_deref(), Some("/driftstopp?utlyst=1"));
    let (_, html) = page(&f, &sara, "/inkorg").await;
    assert!(
        html.contains("outage-utlyst") && html.contains("LINK nere sedan 08.10"),
        "{html}"
    );
    let (status, v) = api(&f, "token-sara", "/api/v1/outage", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["state"], "utlyst");
    // A document during the outage, then the end.
    let (status, sent) = api(
        &f,
        "token-sara",
        "/api/v1/send",
        Some(message(&f.other_unit)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let event = sent["event"].as_str().expect("event").to_string();
    let (status, _) = api(
        &f,
        "token-sara",
        "/api/v1/outage/end",
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "staff may not end it");
    let (status, to, _) = submit(
        &f,
        &anna,
        "/driftstopp/avsluta",
        &[("_csrf", &anna_csrf), ("note", "LINK uppe")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to.as_deref(), Some("/driftstopp?avslutad=1"));
    let (_, html) = page(&f, &sara, "/inkorg").await;
    assert!(html.contains("outage-avslutad"), "{html}");
    // After the end the node takes no new document, whichever way it comes.
    let (status, e) = api(
        &f,
        "token-sara",
        "/api/v1/send",
        Some(message(&f.other_unit)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["error"].as_str().is_some_and(|m| m.contains("avslutad")),
        "{e}"
    );
    // The re-entry list shows the message with both times and a mark form.
    let (status, html) = page(&f, &sara, "/efterregistrering").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("id=\"h-{event}\"")), "{html}");
    assert!(html.contains("Inträffade") && html.contains("Skrevs"));
    assert!(html.contains("0 klara, 1 kvar"));
    assert!(
        !html.contains("/efterregistrering/skriv-av"),
        "no sign-off for staff"
    );
    let (_, admin_html) = page(&f, &anna, "/efterregistrering").await;
    assert!(admin_html.contains("/efterregistrering/skriv-av"));
    let (status, to, _) = submit(
        &f,
        &sara,
        "/efterregistrering/markera",
        &[
            ("_csrf", &sara_csrf),
            ("item", &event),
            ("state", "inregistrerat"),
            ("link_ref", "LINK-4711"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.is_some_and(|t| t.contains("markerat=1")));
    let (_, html) = page(&f, &sara, "/efterregistrering").await;
    assert!(html.contains("inregistrerat i LINK") && html.contains("LINK-4711"));
    assert!(
        html.contains("Sara Sjöberg"),
        "the mark names the session's account"
    );
    assert!(html.contains("1 klara, 0 kvar"));
    let (status, l) = api(&f, "token-sara", "/api/v1/reentry", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(l["patients"][0]["items"][0]["marks"][0]["login"], "sara");
    // The list links to the outage's export in the three formats; the link is a download
    // of the session's account's export, with the item's Task completed.
    let outage = l["outage"]["id"].as_str().expect("outage id");
    assert!(html.contains("Exportera driftstörningen"));
    for format in ["fhir", "json", "html"] {
        let href = format!("/api/v1/export?outage={outage}&amp;format={format}");
        assert!(html.contains(&href), "{href}");
    }
    let r = f
        .send(
            get(&format!("/api/v1/export?outage={outage}&format=fhir"))
                .header(header::COOKIE, &sara)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/fhir+json");
    let b: Value = serde_json::from_str(&text(r).await).expect("json");
    let tasks: Vec<&Value> = b["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Task")
        .collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["status"], "completed");
    assert_eq!(
        tasks[0]["output"][0]["valueIdentifier"]["value"],
        "LINK-4711"
    );
    // A mark form refused by the node: the list again, with its line.
    let (status, _, html) = submit(
        &f,
        &sara,
        "/efterregistrering/markera",
        &[
            ("_csrf", &sara_csrf),
            ("item", &event),
            ("state", "behovs-inte"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("skälet"), "{html}");
}

/// The words Hjälp quotes, each as the screen it names shows it (so the help stays true to
/// the screens): the phrase, and where it is.
const QUOTED: [(&str, &str); 12] = [
    ("Vad är nere (skäl)", "/driftstopp"),
    ("Enheter den gäller", "/driftstopp"),
    ("Utlys driftstörning", "/driftstopp"),
    ("Visa mottagare", "/skriv"),
    ("Brådskande", "/skriv"),
    ("Aktiva patienter", "/utskrift"),
    ("Nytt konto", "/konton"),
    ("Avsluta driftstörningen", "declared:/driftstopp"),
    ("Inregistrerat i LINK", "ended:/efterregistrering"),
    ("Behövs inte", "ended:/efterregistrering"),
    ("LINK-referens", "ended:/efterregistrering"),
    ("Skriv av resten", "ended:/efterregistrering"),
];

#[tokio::test]
async fn hjalp_is_open_without_a_login_and_names_the_screens_as_they_are() {
    let f = fixture();
    // Without a login: the page itself (no patient data, nothing asked of the node), no
    // menu, a way to the login; the login page links to it.
    let r = f.send(get("/hjalp").body(Body::empty()).expect("r")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .is_ok_and(|c| c.contains("script-src 'self'")));
    let open = text(r).await;
    assert!(
        open.contains("<h1>Hjälp: driftstopp steg för steg</h1>"),
        "{open}"
    );
    assert!(!open.contains("Huvudmeny") && open.contains("href=\"/logga-in\""));
    assert!(
        !open.contains("<script>") && !open.contains("style="),
        "no inline script/style"
    );
    let r = f
        .send(get("/logga-in").body(Body::empty()).expect("r"))
        .await;
    assert!(text(r).await.contains("href=\"/hjalp\""));
    // The routine: each phase a heading over an ordered list of steps, each step naming
    // its screen and who does it.
    for phase in [
        "Före: förbered enheten",
        "På dagen: arbeta i reservnod",
        "Om noden själv slutar fungera",
        "Slutet: avsluta driftstörningen",
        "Efteråt: efterregistrera i LINK",
        "Vem ringer man",
    ] {
        assert!(open.contains(&format!("\">{phase}</h2>")), "{phase}");
    }
    assert!(open.matches("<ol class=\"steps\">").count() >= 5);
    for screen in [
        "Driftstörning",
        "Inkorg",
        "Dokument",
        "Skriv / skicka",
        "Patient",
        "Noder",
        "Utskrift",
        "Efterregistrering",
        "Konton",
        "Mitt konto",
    ] {
        assert!(
            open.contains(&format!("<strong>{screen}</strong>")),
            "{screen}"
        );
    }
    for role in ["(personal)", "(enhetens administratör)", "(alla)"] {
        assert!(open.contains(role), "{role}");
    }
    for it in [
        "reservnod status",
        "reservnod doctor",
        "aktiva-patienter.html",
    ] {
        assert!(open.contains(it), "{it}");
    }

    // Logged in: the same text with the person's menu (Hjälp marked as this page), the
    // banner, and a menu link to it on every page.
    let (anna, anna_csrf) = f.login_with("anna", PASSWORD).await;
    let (status, html) = page(&f, &anna, "/hjalp").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<a href=\"/hjalp\" aria-current=\"page\">Hjälp</a>"),
        "{html}"
    );
    assert!(html.contains("outage-ingen") && html.contains("Anna Admin"));
    let (_, inbox) = page(&f, &anna, "/inkorg").await;
    assert!(inbox.contains("<a href=\"/hjalp\">Hjälp</a>"));

    // Every phrase Hjälp quotes is on the screen it names, in the state it names.
    let check = |html: &str, phrase: &str, at: &str| {
        assert!(open.contains(phrase), "Hjälp quotes {phrase}");
        assert!(html.contains(phrase), "{at} shows {phrase}: {html}");
    };
    for (phrase, at) in QUOTED.iter().filter(|(_, at)| at.starts_with('/')) {
        let (status, html) = page(&f, &anna, at).await;
        assert_eq!(status, StatusCode::OK, "{at}");
        check(&html, phrase, at);
    }
    let (status, _, _) = submit(
        &f,
        &anna,
        "/driftstopp/utlys",
        &[("_csrf", &anna_csrf), ("reason", "LINK nere")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for (phrase, at) in QUOTED
        .iter()
        .filter_map(|(p, at)| Some((p, at.strip_prefix("declared:")?)))
    {
        check(&page(&f, &anna, at).await.1, phrase, at);
    }
    let (status, _) = api(
        &f,
        "token-sara",
        "/api/v1/send",
        Some(message(&f.other_unit)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = submit(
        &f,
        &anna,
        "/driftstopp/avsluta",
        &[("_csrf", &anna_csrf), ("note", "")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for (phrase, at) in QUOTED
        .iter()
        .filter_map(|(p, at)| Some((p, at.strip_prefix("ended:")?)))
    {
        check(&page(&f, &anna, at).await.1, phrase, at);
    }
}
