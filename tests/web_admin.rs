//! The unit admin's, the log reviewer's and everyone's own account screens against the
//! router in-process, over the unit's real accounts (`UnitAccounts`): Konton adds, disables,
//! enables, sets a colleague's password and roles (a disabled account's session is refused
//! at once); staff and reviewers get 403 there, staff on Logg too; Logg finds entries by
//! patient, account and period, downloads them as CSV, checks the chain, and each of those
//! is in the access log itself; Mitt konto needs the current password and ends the other
//! sessions; every POST needs the CSRF token; the inbox's poll does not log a read every
//! 3 s.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use reservnod::care::api::{
    handle, Caller, CareNode, Person, Reply, Request, Secret, UserAddRequest, Via, CSV_HEADER,
};
use reservnod::serve::web::{Accounts, UnitAccounts, POLL_HEADER};
use reservnod::store::{AuditAction, AuditEntry};
use support::web::*;

const PW: &str = "en lång fras om vår";
const PATIENT: &str = "19121212-1212";

fn it() -> Caller {
    Caller::local(
        Person {
            name: "IT-avdelningen".into(),
            role: String::new(),
            login: Some("it".into()),
        },
        Via::Cli,
    )
}

/// The ward's node with its web interface and three accounts: `anna` (unit admin), `sara`
/// (staff) and `lena` (log reviewer).
fn ward() -> Fixture {
    let f = fixture_with(false, |node, _, _| {
        Arc::new(UnitAccounts(node.clone() as Arc<dyn CareNode>)) as Arc<dyn Accounts>
    });
    for (login, name, role) in [
        ("anna", "Anna Andersson", "admin"),
        ("sara", "Sara Sjöberg", "personal"),
        ("lena", "Lena Lind", "logggranskare"),
    ] {
        handle(
            f.node.as_ref(),
            &it(),
            Request::UserAdd(UserAddRequest {
                login: login.into(),
                name: name.into(),
                title: "sjuksköterska".into(),
                roles: vec![role.into()],
                password: Some(Secret::new(PW)),
            }),
        )
        .expect("the node's own account makes accounts");
    }
    f
}

fn log(f: &Fixture) -> Vec<AuditEntry> {
    f.node
        .store()
        .audit_entries(0)
        .map(|e| e.expect("reads").1)
        .collect()
}

fn location(r: &Response<Body>) -> String {
    r.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn page(f: &Fixture, path: &str, cookie: &str) -> Response<Body> {
    f.send(
        get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

async fn form(f: &Fixture, path: &str, cookie: &str, body: &str) -> Response<Body> {
    f.send(
        post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

/// Logs `login` in and returns its cookie and the CSRF token of its first page (whatever
/// page its login lands on).
async fn session(f: &Fixture, login: &str, password: &str) -> (String, String) {
    let r = f.login_as(login, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{login} logs in");
    let cookie = session_cookie(&r).expect("a cookie");
    let html = text(page(f, "/konto", &cookie).await).await;
    (cookie, csrf_of(&html))
}

/// The password on the page that shows it once.
fn shown_password(html: &str) -> String {
    let at = html.find("<code>").expect("the password is shown") + "<code>".len();
    let end = at + html[at..].find("</code>").expect("its end");
    html[at..end].to_string()
}

fn enc(s: &str) -> String {
    s.replace(' ', "+")
}

#[tokio::test]
async fn the_unit_admin_adds_disables_enables_and_sets_passwords_and_roles() {
    let f = ward();
    let (anna, csrf) = session(&f, "anna", PW).await;
    let r = page(&f, "/konton", &anna).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = text(r).await;
    for want in ["Sara Sjöberg", "Lena Lind", "logggranskare", "Aktivt"] {
        assert!(html.contains(want), "{want} in {html}");
    }

    // A new account: the node makes its password and shows it once; it logs in with it.
    let r = form(
        &f,
        "/konton",
        &anna,
        &format!(
            "_csrf={csrf}&login=vera&name={}&title={}&roles=personal",
            enc("Vera Vikarie"),
            enc("undersköterska")
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let html = text(r).await;
    assert!(html.contains("Kontot är skapat"), "{html}");
    let vera_pw = shown_password(&html);
    assert_eq!(vera_pw.len(), 19, "{vera_pw}");
    session(&f, "vera", &vera_pw).await;
    // Not in the access log, nor on the account's page.
    assert!(log(&f).iter().all(|e| !e.detail.contains(&vera_pw)));
    assert!(!text(page(&f, "/konton/vera", &anna).await)
        .await
        .contains(&vera_pw));
    // A refusal keeps what was typed and creates nothing.
    let r = form(
        &f,
        "/konton",
        &anna,
        &format!("_csrf={csrf}&login=Inte+Giltigt&name=N&roles=personal"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(r).await;
    assert!(html.contains("ogiltigt inloggningsnamn"), "{html}");
    assert!(html.contains("value=\"Inte Giltigt\""), "{html}");

    // Disabled: sara's open session is refused at its next request, and she cannot log in.
    let (sara, _) = session(&f, "sara", PW).await;
    let r = form(&f, "/konton/sara/sparra", &anna, &format!("_csrf={csrf}")).await;
    assert_eq!(
        (r.status(), location(&r).as_str()),
        (StatusCode::SEE_OTHER, "/konton/sara?klart=sparrat")
    );
    let r = page(&f, "/inkorg", &sara).await;
    assert_eq!(
        (r.status(), location(&r).as_str()),
        (StatusCode::SEE_OTHER, "/logga-in?andrat=1")
    );
    assert_eq!(
        f.login_as("sara", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(text(page(&f, "/konton/sara", &anna).await)
        .await
        .contains("Spärrat"));

    // Enabled, then a new password made by the node: the old one no longer works.
    let r = form(&f, "/konton/sara/oppna", &anna, &format!("_csrf={csrf}")).await;
    assert_eq!(location(&r), "/konton/sara?klart=oppnat");
    session(&f, "sara", PW).await;
    let r = form(&f, "/konton/sara/losenord", &anna, &format!("_csrf={csrf}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_pw = shown_password(&text(r).await);
    assert_eq!(
        f.login_as("sara", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );
    session(&f, "sara", &new_pw).await;
    // The admin's own password is not changed here: that needs the current one.
    let r = form(&f, "/konton/anna/losenord", &anna, &format!("_csrf={csrf}")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(text(r).await.contains("Mitt konto"));

    // Roles, as check boxes.
    let r = form(
        &f,
        "/konton/sara/roller",
        &anna,
        &format!("_csrf={csrf}&roles=personal&roles=logggranskare"),
    )
    .await;
    assert_eq!(location(&r), "/konton/sara?klart=roller");
    match handle(f.node.as_ref(), &it(), Request::UserList {}).expect("list") {
        Reply::Users(u) => {
            let sara = u.accounts.iter().find(|a| a.login == "sara").expect("sara");
            assert_eq!(sara.roles, ["personal", "logggranskare"]);
            assert!(sara.enabled);
        }
        other => panic!("{other:?}"),
    }

    // Every change is in the access log, by anna, from her address, through the web.
    let changes: Vec<AuditEntry> = log(&f)
        .into_iter()
        .filter(|e| e.action == AuditAction::AccountChanged && e.login.as_deref() == Some("anna"))
        .collect();
    let details: Vec<&str> = changes.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "konto skapat: vera (personal)",
            "konto spärrat: sara",
            "konto öppnat: sara",
            "lösenord bytt: sara",
            "roller ändrade: sara (personal, logggranskare)",
        ]
    );
    for e in &changes {
        assert_eq!(
            (e.client.as_deref(), e.via.as_deref()),
            (Some("10.0.0.7"), Some("web"))
        );
    }

    // Without the CSRF token nothing happens.
    let r = form(&f, "/konton/lena/sparra", &anna, "").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = form(&f, "/konton", &anna, "login=mallory&name=M&roles=admin").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    match handle(f.node.as_ref(), &it(), Request::UserList {}).expect("list") {
        Reply::Users(u) => {
            assert!(u.accounts.iter().all(|a| a.login != "mallory"));
            assert!(u.accounts.iter().all(|a| a.enabled));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn staff_and_reviewers_are_refused_konton_and_staff_logg_with_403() {
    let f = ward();
    let (sara, sara_csrf) = session(&f, "sara", PW).await;
    for path in [
        "/konton",
        "/konton/lena",
        "/logg",
        "/logg.csv",
        "/logg/kontroll",
    ] {
        let r = page(&f, path, &sara).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let html = text(r).await;
        assert!(html.contains("Du har inte behörighet"), "{path}: {html}");
    }
    let before = log(&f).len();
    let r = form(
        &f,
        "/konton/lena/sparra",
        &sara,
        &format!("_csrf={sara_csrf}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(log(&f).len(), before, "a refusal by role writes nothing");
    for path in ["/api/v1/accounts", "/api/v1/audit", "/api/v1/audit.csv"] {
        let r = page(&f, path, &sara).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // The menu offers only what the roles are for.
    let html = text(page(&f, "/konto", &sara).await).await;
    assert!(!html.contains("href=\"/konton\"") && !html.contains("href=\"/logg\""));

    // A reviewer lands on Logg, and is refused Konton and the patients' screens.
    let r = f.login_as("lena", PW).await;
    assert_eq!(location(&r), "/logg");
    let lena = session_cookie(&r).expect("cookie");
    assert_eq!(page(&f, "/logg", &lena).await.status(), StatusCode::OK);
    for path in ["/konton", "/inkorg", "/api/v1/accounts"] {
        assert_eq!(
            page(&f, path, &lena).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let html = text(page(&f, "/logg", &lena).await).await;
    assert!(html.contains("href=\"/logg\"") && !html.contains("href=\"/konton\""));
    assert!(!html.contains("href=\"/inkorg\""));
}

/// A message about the patient from sara, through the API with her session.
async fn sara_writes(f: &Fixture, cookie: &str, csrf: &str, patient: &str) {
    let body = serde_json::json!({
        "patient": patient,
        "to": [f.other_unit],
        "receipt_required": true,
        "consent": "samtycke",
        "document": {"type": "message", "subject": "Fråga", "text": "Hej"}
    });
    let r = f
        .send(
            post("/api/v1/send")
                .header(header::COOKIE, cookie)
                .header(reservnod::serve::web::CSRF_HEADER, csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", text(r).await);
}

async fn api_rows(f: &Fixture, cookie: &str, query: &str) -> Vec<serde_json::Value> {
    let r = page(f, &format!("/api/v1/audit?{query}"), cookie).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    let j: serde_json::Value = serde_json::from_str(&text(r).await).expect("json");
    assert_eq!(j["reply"], "audit_found", "{j}");
    j["rows"].as_array().expect("rows").clone()
}

#[tokio::test]
async fn a_reviewer_searches_by_patient_account_and_period_and_each_look_is_logged() {
    let f = ward();
    let (sara, csrf) = session(&f, "sara", PW).await;
    sara_writes(&f, &sara, &csrf, "191212121212").await;
    assert_eq!(page(&f, "/inkorg", &sara).await.status(), StatusCode::OK);
    let (anna, _) = session(&f, "anna", PW).await;
    assert_eq!(page(&f, "/inkorg", &anna).await.status(), StatusCode::OK);
    let (lena, _) = session(&f, "lena", PW).await;

    // By patient (any spelling): sara's write and her read, anna's read; nothing else.
    let rows = api_rows(&f, &lena, "patient=191212121212").await;
    let seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["login"].as_str().unwrap_or_default().to_string(),
                r["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("sara".to_string(), "skrivet".to_string()),
            ("sara".into(), "läst".into()),
            ("anna".into(), "läst".into()),
        ],
        "{rows:?}"
    );
    for r in &rows {
        assert_eq!(r["patients"], serde_json::json!([PATIENT]));
        assert_eq!(r["client"], "10.0.0.7");
        assert_eq!(r["via"], "web");
    }
    // By account: only sara's entries (her login, her reads and her write).
    let rows = api_rows(&f, &lena, "login=SARA").await;
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["login"] == "sara"), "{rows:?}");
    // By period: nothing in 2001, everything from 2001 on.
    assert!(api_rows(&f, &lena, "from=2001-01-01&to=2001-12-31")
        .await
        .is_empty());
    let all = api_rows(&f, &lena, "from=2001-01-01&limit=1000").await;
    assert!(all.len() >= 8, "{all:?}");

    // The screen: the same search as a table, with the CSV link of the same filter.
    let r = page(&f, "/logg?patient=191212121212&konto=sara", &lena).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = text(r).await;
    assert!(
        html.contains("Träffar: patient 19121212-1212, konto sara"),
        "{html}"
    );
    assert_eq!(html.matches("<td class=\"nowrap\">").count(), 2, "{html}");
    // Which node, by its name in the roster (the CSV keeps the full id).
    let id = f.node.id();
    let roster = reservnod::care::api::CareNode::roster(f.node.as_ref());
    let name = &roster.node(&id).expect("the node in its roster").name;
    assert!(html.contains(&format!("<td>{name}</td>")), "{html}");
    assert!(!html.contains(&id.to_string()), "{html}");
    assert!(
        html.contains("href=\"/logg.csv?patient=191212121212&#38;konto=sara\""),
        "{html}"
    );
    // A bad date is the node's refusal beside the form.
    let r = page(&f, "/logg?fran=2026-13-01", &lena).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("2026-13-01"));

    // The CSV: a download, not cached, a byte order mark, the header, one record per row.
    for path in [
        "/logg.csv?patient=191212121212&konto=sara",
        "/api/v1/audit.csv?patient=191212121212&login=sara",
    ] {
        let r = page(&f, path, &lena).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"granskningslogg.csv\""
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        let csv = text(r).await;
        let mut lines = csv.split("\r\n");
        assert_eq!(
            lines.next().expect("header"),
            format!(
                "\u{feff}{}",
                CSV_HEADER
                    .iter()
                    // RFC 4180: a field with a comma is quoted.
                    .map(|h| if h.contains(',') {
                        format!("\"{h}\"")
                    } else {
                        h.to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            )
        );
        let records: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        assert_eq!(records.len(), 2, "{csv}");
        assert!(records[0].contains(";skrivet;sara;Sara Sjöberg;"), "{csv}");
        assert!(records[1].contains(";läst;sara;"), "{csv}");
        assert!(records.iter().all(|l| l.contains(PATIENT)));
    }

    // The chain, checked on request.
    let r = page(&f, "/logg/kontroll", &lena).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("obruten"));

    // Each look is in the log itself, by lena, naming the patient she looked for.
    let entries = log(&f);
    let by_lena: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| e.login.as_deref() == Some("lena"))
        .collect();
    let count = |a: AuditAction| by_lena.iter().filter(|e| e.action == a).count();
    assert_eq!(count(AuditAction::LogViewed), 5, "{by_lena:?}");
    assert_eq!(count(AuditAction::LogExported), 2);
    assert_eq!(count(AuditAction::LogVerified), 1);
    let patient: reservnod_proto::PatientId = PATIENT.parse().expect("test number");
    assert!(by_lena
        .iter()
        .filter(|e| e.action == AuditAction::LogExported)
        .all(|e| e.names(&patient) && e.client.as_deref() == Some("10.0.0.7")));
}

#[tokio::test]
async fn an_own_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let f = ward();
    let (here, csrf) = session(&f, "sara", PW).await;
    let (elsewhere, _) = session(&f, "sara", PW).await;
    let new = "en ny lång fras i höst";
    let change = |current: &str| {
        format!(
            "_csrf={csrf}&current={}&new={}&repeat={}",
            enc(current),
            enc(new),
            enc(new)
        )
    };
    // A wrong current password: refused beside the form, logged, nothing changed.
    let r = form(&f, "/konto/losenord", &here, &change("fel lösenord")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(r).await;
    assert!(
        html.contains("det nuvarande lösenordet stämmer inte"),
        "{html}"
    );
    assert!(!html.contains("fel lösenord\"") && !html.contains(new));
    assert!(log(&f).iter().any(|e| e.action == AuditAction::LoginRefused
        && e.detail == "byte av eget lösenord nekat: fel nuvarande lösenord"
        && e.login.as_deref() == Some("sara")));
    assert_eq!(
        page(&f, "/inkorg", &elsewhere).await.status(),
        StatusCode::OK
    );
    // Without the CSRF token: refused before anything is asked.
    let no_token = change(PW).replacen(&format!("_csrf={csrf}&"), "", 1);
    let r = form(&f, "/konto/losenord", &here, &no_token).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    session(&f, "sara", PW).await;

    let r = form(&f, "/konto/losenord", &here, &change(PW)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("Lösenordet är bytt"));
    // This session goes on; the other one ended, and says so in the access log.
    assert_eq!(page(&f, "/inkorg", &here).await.status(), StatusCode::OK);
    let r = page(&f, "/inkorg", &elsewhere).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/logga-in"));
    let ended: Vec<String> = log(&f)
        .into_iter()
        .filter(|e| e.action == AuditAction::Logout && e.login.as_deref() == Some("sara"))
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        ended
            .iter()
            .filter(
                |d| d.as_str() == "sessionen avslutad: kontots lösenord byttes i en annan session"
            )
            .count(),
        2,
        "the other session and the one logged in above: {ended:?}"
    );
    assert_eq!(
        f.login_as("sara", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );
    session(&f, "sara", new).await;
}

#[tokio::test]
async fn the_inbox_poll_logs_a_read_only_when_the_patients_shown_change() {
    let f = ward();
    let (sara, csrf) = session(&f, "sara", PW).await;
    sara_writes(&f, &sara, &csrf, "191212121212").await;
    let reads = || {
        log(&f)
            .into_iter()
            .filter(|e| e.action == AuditAction::Read && e.login.as_deref() == Some("sara"))
            .count()
    };
    assert_eq!(page(&f, "/inkorg", &sara).await.status(), StatusCode::OK);
    let after_page = reads();
    let poll = || async {
        let r = f
            .send(
                get("/inkorg/lista")
                    .header(header::COOKIE, &sara)
                    .header(POLL_HEADER, "1")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        text(r).await
    };
    for _ in 0..20 {
        assert!(poll().await.contains(PATIENT));
    }
    assert_eq!(
        reads(),
        after_page,
        "twenty polls, the same patient: no new entry"
    );
    // Another patient on the list: the next poll logs the read, naming both.
    sara_writes(&f, &sara, &csrf, "19821105-9954").await;
    assert!(poll().await.contains("19821105-9954"));
    assert_eq!(reads(), after_page + 1);
    let last = log(&f)
        .into_iter()
        .rfind(|e| e.action == AuditAction::Read)
        .expect("logged");
    assert_eq!(last.detail, "inkorgen visad (uppdateras automatiskt)");
    assert_eq!(last.patients.len(), 2);
    poll().await;
    assert_eq!(reads(), after_page + 1);
}

#[tokio::test]
async fn guessing_the_current_password_backs_off_as_guessing_at_the_login_does() {
    let f = ward();
    let (sara, csrf) = session(&f, "sara", PW).await;
    let body = |current: &str| {
        format!(
            "_csrf={csrf}&current={}&new=en+ny+lång+fras&repeat=en+ny+lång+fras",
            enc(current)
        )
    };
    for i in 0..5 {
        let r = form(
            &f,
            "/konto/losenord",
            &sara,
            &body(&format!("gissning {i}")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "guess {i}");
    }
    // Past the free failures, even the right one waits, and nothing is asked of the node.
    let before = log(&f).len();
    let r = form(&f, "/konto/losenord", &sara, &body(PW)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(text(r).await.contains("Försök igen om"));
    assert_eq!(log(&f).len(), before);
    f.advance(std::time::Duration::from_secs(3));
    let r = form(&f, "/konto/losenord", &sara, &body(PW)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The JSON API's own-password route backs off a guessed current password as the form
/// does (the same counters), with `Retry-After`.
#[tokio::test]
async fn the_api_own_password_route_backs_off_as_the_form_does() {
    let f = ward();
    let (sara, csrf) = session(&f, "sara", PW).await;
    let ask = |current: String| {
        let body = serde_json::json!({
            "current": current, "new": "en ny lång fras", "repeat": "en ny lång fras"
        });
        f.send(
            post("/api/v1/account/password")
                .header(header::COOKIE, &sara)
                .header(reservnod::serve::web::CSRF_HEADER, &csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
    };
    for i in 0..5 {
        let r = ask(format!("gissning {i}")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "guess {i}");
    }
    let before = log(&f).len();
    let r = ask(PW.to_string()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(log(&f).len(), before, "nothing asked of the node");
    f.advance(std::time::Duration::from_secs(3));
    assert_eq!(ask(PW.to_string()).await.status(), StatusCode::OK);
}
