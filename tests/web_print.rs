//! Utskrift against the router in-process, and the paper fallback's sheet: a ward and a
//! municipality of a small region on disk, each with its web interface. A print view is
//! logged as printed (not as read), an account of another unit gets nothing, the pages
//! show the chain and the active patients, the JSON list is a read; the paper writer
//! writes the same sheet only when due, replaces it whole and leaves nothing else behind.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use reservnod::daemon::paper;
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::{self, Web};
use reservnod::store::AuditAction;
use reservnod_proto::{HsaId, PatientId};
use serde_json::Value;
use support::web::{account, client, session_cookie, text, web_of, TestAccounts, HOST, ORIGIN};
use tower::ServiceExt;

const PASSWORD: &str = "lösen";
const PATIENT: &str = "19121212-1212";

struct Site {
    node: Arc<Node>,
    web: Web,
    login: &'static str,
}

struct Fixture {
    _region: support::TestRegion,
    ward: Site,
    kommun_unit: HsaId,
}

/// A ward (node 0, account `sara`; `kim` of the municipality is also known to its web
/// interface) and a municipal unit (node 1).
fn fixture() -> Fixture {
    let region = support::region(2, 0);
    let dd = DataDir::new(&region.nodes[0].dir);
    let settings = Settings::for_data_dir(&dd).expect("settings");
    let (node, _gone) = Node::open(dd, settings).expect("open node");
    let node = Arc::new(node);
    let unit = region.nodes[0].unit.clone();
    let kommun_unit = region.nodes[1].unit.clone();
    let accounts = TestAccounts::new(&[
        (PASSWORD, account("sara", "Sara Sjöberg", &unit)),
        (PASSWORD, account("kim", "Kim Karlsson", &kommun_unit)),
    ]);
    let (web, _clock) = web_of(&node, Arc::new(accounts), false);
    Fixture {
        _region: region,
        ward: Site {
            node,
            web,
            login: "sara",
        },
        kommun_unit,
    }
}

impl Site {
    async fn send(&self, r: Request<Body>) -> Response<Body> {
        web::router(self.web.clone())
            .oneshot(r)
            .await
            .expect("infallible")
    }

    async fn api_as(&self, login: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let b = Request::builder()
            .method(if body.is_some() { "POST" } else { "GET" })
            .uri(path)
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Bearer token-{login}"))
            .header(header::CONTENT_TYPE, "application/json")
            .extension(client());
        let r = self
            .send(
                b.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
                    .expect("request"),
            )
            .await;
        let status = r.status();
        let t = text(r).await;
        (status, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    async fn sent(&self, body: Value) {
        let (status, v) = self.api_as(self.login, "/api/v1/send", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }

    async fn login_as(&self, login: &str) -> String {
        let r = self
            .send(
                Request::post("/logga-in")
                    .header(header::HOST, HOST)
                    .header(header::ORIGIN, ORIGIN)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .extension(client())
                    .body(Body::from(
                        serde_urlencoded::to_string([("username", login), ("password", PASSWORD)])
                            .expect("form"),
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        session_cookie(&r).expect("a session cookie")
    }

    async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let r = self
            .send(
                Request::get(path)
                    .header(header::HOST, HOST)
                    .header(header::COOKIE, cookie)
                    .extension(client())
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        let status = r.status();
        (status, text(r).await)
    }

    fn audit_len(&self) -> usize {
        self.node.store().audit_entries(0).count()
    }

    fn audit_since(&self, n: usize) -> Vec<reservnod::store::AuditEntry> {
        self.node
            .store()
            .audit_entries(0)
            .skip(n)
            .map(|e| e.expect("entry").1)
            .collect()
    }
}

/// The ward admits the patient to the municipality, with a reason that is markup, and
/// judges them ready; a SIP goes with it.
async fn admitted_and_ready(f: &Fixture) {
    let to = serde_json::json!([f.kommun_unit.to_string()]);
    let doc = |d: Value| {
        serde_json::json!({
            "patient": "191212121212", "to": to, "receipt_required": true,
            "consent": "samtycke", "document": d
        })
    };
    f.ward
        .sent(doc(serde_json::json!({
            "type": "admission", "reason": "Höftfraktur <b>vänster</b>", "municipality": "1080"
        })))
        .await;
    f.ward
        .sent(doc(serde_json::json!({
            "type": "plan", "kind": "sip", "content": {"goals": "Hem med hemtjänst"}
        })))
        .await;
    f.ward
        .sent(doc(
            serde_json::json!({"type": "ready", "physician": "Dr Lena Berg"}),
        ))
        .await;
}

fn patient() -> PatientId {
    PATIENT.parse().expect("test number")
}

#[tokio::test]
async fn a_print_view_is_logged_as_printed_and_shows_the_chain() {
    let f = fixture();
    admitted_and_ready(&f).await;
    let cookie = f.ward.login_as("sara").await;

    // The choice page names no patient and logs nothing.
    let before = f.ward.audit_len();
    let (status, html) = f.ward.page(&cookie, "/utskrift").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("aria-current=\"page\">Utskrift"),
        "the menu marks it"
    );
    assert!(html.contains("href=\"/utskrift/aktiva\""));
    assert_eq!(f.ward.audit_len(), before);

    // The patient's chain, from the Patient page's link.
    let (_, patient_page) = f.ward.page(&cookie, "/patient?id=191212121212").await;
    assert!(
        patient_page.contains("href=\"/utskrift/patient?patient=19121212-1212\""),
        "{patient_page}"
    );
    let before = f.ward.audit_len();
    let (status, html) = f
        .ward
        .page(&cookie, "/utskrift/patient?patient=191212121212")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // A whole page of its own: no menu, the print stylesheet as an asset (the CSP allows
    // no inline style), the header saying who printed it where.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("Huvudmeny") && !html.contains("<style") && !html.contains("style="));
    let css = html
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a stylesheet")
        .to_string();
    assert!(css.starts_with("/assets/print-"), "{css}");
    for text in [
        "Reservrutin: vårdkedja",
        "av Sara Sjöberg vid Enhet 0 (SE2321000081-U0)",
        "nod Nod 0",
        "Personnummer: 19121212-1212",
        "Inskriven",
        "Utskrivningsklar",
        "Planer (1)",
        "SIP</strong>",
        "1 version",
        "gällande",
        "Dr Lena Berg",
        // Escaped where it was typed as markup.
        "Höftfraktur &lt;b&gt;vänster&lt;/b&gt;",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    assert!(!html.contains("<b>vänster"));
    let new = f.ward.audit_since(before);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].action, AuditAction::Print, "printed, not read");
    assert!(new[0].names(&patient()));
    assert_eq!(new[0].login.as_deref(), Some("sara"));
    assert_eq!(new[0].via.as_deref(), Some("web"));

    // The stylesheet is served, with what a printout needs.
    let r = f
        .ward
        .send(
            Request::get(&css)
                .header(header::HOST, HOST)
                .extension(client())
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let sheet = text(r).await;
    assert!(sheet.contains("@page { size: A4;") && sheet.contains("@media print"));

    // An unknown patient: the choice page with the node's line, nothing logged.
    let before = f.ward.audit_len();
    let (status, html) = f
        .ward
        .page(&cookie, "/utskrift/patient?patient=19821105-9954")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("inget om 19821105-9954"), "{html}");
    assert_eq!(f.ward.audit_len(), before);
}

#[tokio::test]
async fn the_active_patients_sheet_and_list_show_what_goes_on() {
    let f = fixture();
    admitted_and_ready(&f).await;
    let cookie = f.ward.login_as("sara").await;
    let before = f.ward.audit_len();
    let (status, html) = f.ward.page(&cookie, "/utskrift/aktiva").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for text in [
        "Reservrutin: aktiva patienter, Enhet 0",
        "Pågående vårdkedjor (1)",
        "19121212-1212",
        "utskrivningsklar",
        "SIP (1 version)",
        "kommunen betalar från",
        "från oss: 3",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    let new = f.ward.audit_since(before);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].action, AuditAction::Print);
    assert!(new[0].names(&patient()));

    // The same as JSON: a read.
    let before = f.ward.audit_len();
    let (status, v) = f.ward.api_as("sara", "/api/v1/active-patients", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["reply"], "active_patients");
    let c = &v["chains"][0];
    assert_eq!(c["patient"], PATIENT, "{v}");
    assert_eq!(c["state"], "utskrivningsklar");
    assert_eq!(c["days_since_ready"], 0);
    assert_eq!(c["plans"][0]["versions"], 1);
    assert_eq!(
        c["unacknowledged_there"], 3,
        "nothing read at the municipality yet"
    );
    let new = f.ward.audit_since(before);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].action, AuditAction::Read);
    assert!(new[0].names(&patient()));

    // Discharged: no longer active.
    f.ward
        .sent(serde_json::json!({
            "patient": "191212121212", "to": [f.kommun_unit.to_string()],
            "receipt_required": true, "consent": "samtycke",
            "document": {"type": "discharged", "destination": "hemmet"}
        }))
        .await;
    let v = f
        .ward
        .api_as("sara", "/api/v1/active-patients", None)
        .await
        .1;
    assert_eq!(v["chains"].as_array().map(Vec::len), Some(0), "{v}");
    let (_, html) = f.ward.page(&cookie, "/utskrift/aktiva").await;
    assert!(html.contains("Inga pågående vårdkedjor"), "{html}");
}

#[tokio::test]
async fn staff_of_another_unit_get_no_printout() {
    let f = fixture();
    admitted_and_ready(&f).await;
    let cookie = f.ward.login_as("kim").await;
    let after_login = f.ward.audit_len();
    for path in ["/utskrift/aktiva", "/utskrift/patient?patient=191212121212"] {
        let (status, html) = f.ward.page(&cookie, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("annan enhet"), "{path}: {html}");
        assert!(!html.contains("19121212-1212"), "{path}");
    }
    let (status, v) = f.ward.api_as("kim", "/api/v1/active-patients", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(f.ward.audit_len(), after_login, "a refusal logs nothing");
}

/// The files in `dir`, by name.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_paper_sheet_is_written_only_when_due_and_replaced_whole() {
    let f = fixture();
    admitted_and_ready(&f).await;
    let node: &dyn reservnod::care::api::CareNode = f.ward.node.as_ref();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("papper");

    // Not due (no outage declared): nothing is made, nothing logged.
    let before = f.ward.audit_len();
    assert_eq!(
        paper::write_if_due(node, &dir, |_| false).expect("not due"),
        None
    );
    assert!(!dir.exists());
    assert_eq!(f.ward.audit_len(), before);
    // The daemon's default until the outage state is wired in.
    assert!(!paper::outage_declared(node));

    // Due: the sheet, standalone (its stylesheet inlined), the same content as the page.
    let w = paper::write_if_due(node, &dir, |_| true)
        .expect("written")
        .expect("due");
    assert_eq!(w.path, dir.join(paper::SHEET_FILE));
    assert_eq!(w.patients, 1);
    assert_eq!(files(&dir), [paper::SHEET_FILE]);
    let mode = std::fs::metadata(&w.path)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    let first = std::fs::read_to_string(&w.path).expect("read");
    assert!(first.starts_with("<!DOCTYPE html>") && first.ends_with("</html>\n"));
    assert!(first.contains("<style>") && first.contains("@page { size: A4;"));
    assert!(first.contains("19121212-1212") && first.contains("Pågående vårdkedjor (1)"));
    assert!(first.contains("av noden själv (pappersreserv)"), "{first}");
    let new = f.ward.audit_since(before);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].action, AuditAction::Print);
    assert!(new[0].names(&patient()));
    assert_eq!(new[0].via.as_deref(), Some("node"));
    assert_eq!(new[0].login, None);

    // The next write replaces it whole: the new content, one file, no temporary left.
    f.ward
        .sent(serde_json::json!({
            "patient": "191212121212", "to": [f.kommun_unit.to_string()],
            "receipt_required": true, "consent": "samtycke",
            "document": {"type": "discharged", "destination": "hemmet"}
        }))
        .await;
    let w = paper::write_sheet(node, &dir).expect("written again");
    assert_eq!(w.patients, 0);
    assert_eq!(files(&dir), [paper::SHEET_FILE]);
    let second = std::fs::read_to_string(&w.path).expect("read");
    assert_ne!(first, second);
    assert!(second.contains("Inga pågående vårdkedjor") && second.ends_with("</html>\n"));

    // A folder that cannot be made: an error naming it, nothing written or logged.
    let blocked = tmp.path().join("fil");
    std::fs::write(&blocked, "x").expect("a file");
    let before = f.ward.audit_len();
    let e = paper::write_sheet(node, &blocked.join("papper")).expect_err("no folder");
    assert!(e.to_string().contains("papper"), "{e}");
    assert_eq!(f.ward.audit_len(), before);
    assert_eq!(files(tmp.path()), ["fil", "papper"]);
}
