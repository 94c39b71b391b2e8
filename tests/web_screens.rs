//! The screens beyond the inbox, against the router in-process: Noder (what the node knows
//! of the others), a plan conflict side by side on the patient page and its resolution,
//! the printable views and their access-log entries, and a document's receipts as a
//! timeline at the sender and at the receiver. Two nodes of a small region on disk (a ward
//! and a municipality), each with its own web interface; events go between them by hand.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::{self, Web};
use reservnod_proto::HsaId;
use serde_json::Value;
use support::web::{account, client, session_cookie, text, web_of, TestAccounts, HOST, ORIGIN};
use tower::ServiceExt;

/// The password of every account here.
const PASSWORD: &str = "lösen";

/// One node with its web interface and one staff account (token `token-LOGIN`).
struct Site {
    node: Arc<Node>,
    web: Web,
    unit: HsaId,
    login: &'static str,
}

struct Fixture {
    region: support::TestRegion,
    ward: Site,
    kommun: Site,
}

fn site(region: &support::TestRegion, i: usize, login: &'static str, name: &str) -> Site {
    let dd = DataDir::new(&region.nodes[i].dir);
    let settings = Settings::for_data_dir(&dd).expect("settings");
    let (node, _gone) = Node::open(dd, settings).expect("open node");
    let node = Arc::new(node);
    let unit = region.nodes[i].unit.clone();
    let accounts = TestAccounts::new(&[(PASSWORD, account(login, name, &unit))]);
    let (web, _clock) = web_of(&node, Arc::new(accounts), false);
    Site {
        node,
        web,
        unit,
        login,
    }
}

/// A ward (node 0) and a municipal unit (node 1) of one region.
fn fixture() -> Fixture {
    let region = support::region(2, 0);
    let ward = site(&region, 0, "sara", "Sara Sjöberg");
    let kommun = site(&region, 1, "kim", "Kim Karlsson");
    Fixture {
        region,
        ward,
        kommun,
    }
}

/// Form encoding of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("form")
}

impl Site {
    async fn send(&self, r: Request<Body>) -> Response<Body> {
        web::router(self.web.clone())
            .oneshot(r)
            .await
            .expect("infallible")
    }

    /// A JSON API call with the account's token; the status and the JSON body.
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST)
            .header(
                header::AUTHORIZATION,
                format!("Bearer token-{}", self.login),
            )
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

    /// A JSON API call that must succeed.
    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.api(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {v}");
        v
    }

    /// Logs the account in: the session cookie.
    async fn login(&self) -> String {
        let r = self
            .send(
                Request::post("/logga-in")
                    .header(header::HOST, HOST)
                    .header(header::ORIGIN, ORIGIN)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .extension(client())
                    .body(Body::from(form(&[
                        ("username", self.login),
                        ("password", PASSWORD),
                    ])))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        session_cookie(&r).expect("a session cookie")
    }

    /// A page with the session: status and HTML.
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
}

/// Noder: every other node of the roster with its last contact, the unit that is not
/// reachable, a clock warning and what is still to come; in the API too. No patient data,
/// so no access-log entry.
#[tokio::test]
async fn noder_shows_peers_last_contact_and_clock_warnings() {
    let f = fixture();
    let peer = f.region.nodes[1].id;
    let roster = f.ward.node.admission().roster();
    let now = reservnod::clock::now_ms();
    {
        let mut table = f.ward.node.peers();
        table.connected(
            peer,
            &roster,
            "127.0.0.1:7001".parse().expect("addr"),
            true,
            now,
            roster.version,
        );
        // Its clock 90 s ahead of ours: past the default bound of 60 s.
        table.pinged(&peer, 2.0, 90_000, now);
    }
    let before = f.ward.node.store().audit_entries(0).count();
    let cookie = f.ward.login().await;
    let (status, html) = f.ward.page(&cookie, "/noder").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>Noder</h1>"), "{html}");
    assert!(
        html.contains("aria-current=\"page\">Noder"),
        "the menu marks it"
    );
    assert!(html.contains("Nod 1") && html.contains("Enhet 1"), "{html}");
    assert!(html.contains(">ansluten<"), "{html}");
    assert!(html.contains("Klockvarningar"), "{html}");
    assert!(html.contains("90000 ms före"), "{html}");
    assert!(html.contains("<th scope=\"col\">Senaste kontakt</th>"));
    assert!(html.contains("Händelser som ännu ska komma"));
    assert!(!html.contains("Enheter som inte nås"), "just connected");

    // The connection ends: the peer is shown disconnected, with its last contact kept.
    f.ward.node.peers().disconnected(&peer);
    let v = f.ward.ok("GET", "/api/v1/nodes", None).await;
    assert_eq!(v["reply"], "nodes", "{v}");
    let p = &v["peers"][0];
    assert_eq!(p["node"], peer.to_string(), "{v}");
    assert_eq!(p["state"], "frånkopplad");
    assert_eq!(p["last_contact_ms"], now);
    assert_eq!(v["clock_warnings"][0]["offset_ms"], 90_000);
    assert_eq!(v["unit"]["id"], f.ward.unit.to_string());
    assert!(v["unreachable"].as_array().expect("list").is_empty());
    assert_eq!(
        f.ward.node.store().audit_entries(0).count(),
        before,
        "nothing about patients, nothing logged"
    );
    // The municipality's node, which has had no contact, lists the ward's node as such.
    let v = f.kommun.ok("GET", "/api/v1/nodes", None).await;
    assert_eq!(
        v["peers"][0]["node"],
        f.region.nodes[0].id.to_string(),
        "{v}"
    );
    assert_eq!(v["peers"][0]["state"], "ingen kontakt");
}

// ---- Plan conflicts side by side, their resolution, and the receipt timeline ----

/// The patient of these tests (Skatteverket's test personnummer).
const PATIENT: &str = "19121212-1212";

impl Site {
    /// Everything this node holds, taken in by `other` through its ingest pipeline as from a
    /// connected peer.
    fn carry_to(&self, other: &Site) {
        let ids: Vec<_> = self
            .node
            .store()
            .keys(false)
            .expect("keys")
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let events = self.node.store().get_many(&ids).expect("events");
        let outcome = other
            .node
            .ingest_blocking(events, Some(self.node.id()))
            .expect("ingest");
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    }

    /// A form posted with the session (its CSRF token, the page's origin): the response.
    async fn post_form(&self, cookie: &str, path: &str, pairs: &[(&str, &str)]) -> Response<Body> {
        self.send(
            Request::post(path)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, ORIGIN)
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .extension(client())
                .body(Body::from(form(pairs)))
                .expect("request"),
        )
        .await
    }

    /// The patient's page.
    async fn patient(&self, cookie: &str) -> String {
        let (status, html) = self.page(cookie, &format!("/patient?id={PATIENT}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        html
    }
}

/// The ward admits the patient and writes a SIP that goes to the municipality; both hold
/// it. The plan's id.
async fn planned(f: &Fixture) -> String {
    let kommun = f.kommun.unit.to_string();
    f.ward
        .ok(
            "POST",
            "/api/v1/send",
            Some(serde_json::json!({
                "patient": PATIENT,
                "to": [kommun],
                "receipt_required": true,
                "consent": "samtycke",
                "document": {"type": "admission", "reason": "Höftfraktur", "at": "2026-11-20 08:15"}
            })),
        )
        .await;
    let plan = f
        .ward
        .ok(
            "POST",
            "/api/v1/send",
            Some(serde_json::json!({
                "patient": PATIENT,
                "to": [kommun],
                "receipt_required": true,
                "consent": "samtycke",
                "document": {"type": "plan", "kind": "sip", "content": {
                    "goals": "Hem",
                    "measures": ["Hemtjänst morgon och kväll; Karlskrona kommun; senast 2026-12-10"],
                    "patient_view": "Vill hem"
                }}
            })),
        )
        .await;
    f.ward.carry_to(&f.kommun);
    plan["plan"].as_str().expect("a plan id").to_string()
}

/// Each side writes its own next version of `plan` without the other's; then both hold
/// both. The two versions' ids (ward's, municipality's).
async fn apart(f: &Fixture, plan: &str) -> (String, String) {
    let path = format!("/api/v1/plans/{plan}/versions");
    let w = f
        .ward
        .ok(
            "POST",
            &path,
            Some(serde_json::json!({"patch": {"goals": "Avdelningen: hem med hemsjukvård"}})),
        )
        .await;
    let k = f
        .kommun
        .ok(
            "POST",
            &path,
            Some(serde_json::json!({"patch": {"goals": "Kommunen: korttidsboende först"}})),
        )
        .await;
    f.ward.carry_to(&f.kommun);
    f.kommun.carry_to(&f.ward);
    (
        w["event"].as_str().expect("event").to_string(),
        k["event"].as_str().expect("event").to_string(),
    )
}

/// The patient page shows a plan in conflict with both current versions side by side:
/// each one's author, unit, node and time, every field, the field that differs marked in
/// words; the form to resolve it is filled from one of them and names both.
#[tokio::test]
async fn a_plan_in_conflict_shows_both_versions_side_by_side() {
    let f = fixture();
    let plan = planned(&f).await;
    let cookie = f.ward.login().await;
    let html = f.ward.patient(&cookie).await;
    assert!(html.contains("Plan SIP: 1 version<"), "one version: {html}");
    assert!(!html.contains("1 versioner"), "{html}");
    assert!(html.contains("Gällande version: Sara Sjöberg"), "{html}");

    let (w, k) = apart(&f, &plan).await;
    for (site, cookie) in [
        (&f.ward, cookie.clone()),
        (&f.kommun, f.kommun.login().await),
    ] {
        let html = site.patient(&cookie).await;
        assert!(
            html.contains("Plan SIP: 3 versioner <strong class=\"tag urgent\">konflikt</strong>"),
            "{html}"
        );
        // Both versions, as columns, each with who wrote it where and when.
        for (event, who) in [
            (&w, "Sara Sjöberg, sjuksköterska – Enhet 0 (nod Nod 0)"),
            (&k, "Kim Karlsson, sjuksköterska – Enhet 1 (nod Nod 1)"),
        ] {
            assert!(
                html.contains(&format!("Version {}", &event[..12])),
                "{event}: {html}"
            );
            assert!(html.contains(who), "{who}: {html}");
            assert!(
                html.contains(&format!("name=\"heads[]\" value=\"{event}\"")),
                "the form names {event}: {html}"
            );
        }
        assert!(
            html.contains("<td>Avdelningen: hem med hemsjukvård</td>"),
            "{html}"
        );
        assert!(
            html.contains("<td>Kommunen: korttidsboende först</td>"),
            "{html}"
        );
        // The goals differ (said in words); the measure and the patient's view do not.
        assert!(
            html.contains("<th scope=\"row\">Mål <strong class=\"tag\">skiljer sig</strong></th>"),
            "{html}"
        );
        assert!(html.contains("<th scope=\"row\">Insats</th>"), "{html}");
        assert!(
            html.contains("<th scope=\"row\">Patientens syn</th>"),
            "{html}"
        );
        assert!(
            html.contains(&format!("action=\"/patient/plan/{plan}/losa\"")),
            "{html}"
        );
        // Filled from one version, every field editable.
        assert!(
            html.contains(
                "Hemtjänst morgon och kväll; Karlskrona kommun; senast 2026-12-10</textarea>"
            ),
            "{html}"
        );
    }
    // Another version chosen to fill the form from.
    let (_, html) = f
        .ward
        .page(&cookie, &format!("/patient?id={PATIENT}&bas={k}"))
        .await;
    assert!(
        html.contains(&format!("name=\"base\" value=\"{k}\"")),
        "{html}"
    );
    assert!(
        html.contains(">Kommunen: korttidsboende först</textarea>"),
        "{html}"
    );
}

/// The form posts a version whose parents are every head, written by the session's
/// account whatever the form says; the conflict is gone here and, once carried, at the
/// other node.
#[tokio::test]
async fn the_resolving_form_replaces_every_head_and_names_the_account() {
    let f = fixture();
    let plan = planned(&f).await;
    let (w, k) = apart(&f, &plan).await;
    let cookie = f.ward.login().await;
    let html = f.ward.patient(&cookie).await;
    let csrf = support::web::csrf_of(&html);
    let goals = "Korttidsboende först, sedan hem med hemsjukvård";
    let path = format!("/patient/plan/{plan}/losa");
    let r = f
        .ward
        .post_form(
            &cookie,
            &path,
            &[
                ("_csrf", &csrf),
                ("patient", PATIENT),
                ("base", &w),
                ("heads[]", &w),
                ("heads[]", &k),
                ("goals", goals),
                (
                    "measures",
                    "Korttidsboende; Enhet 1; senast 2026-12-05\r\nHemsjukvård; Enhet 1",
                ),
                ("follow_up", "2026-12-20"),
                ("participants", "Sara Sjöberg\r\nKim Karlsson"),
                ("patient_view", "Vill hem"),
                // Fields a form must not be able to set: who writes comes from the session.
                ("author", "Mallory Mask"),
                ("person", "Mallory Mask"),
                ("login", "mallory"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", text(r).await);
    let to = r.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        to.starts_with(&format!("/patient?id={PATIENT}&lost={plan}")),
        "{to}"
    );

    let (_, html) = f.ward.page(&cookie, &to).await;
    assert!(html.contains("Konflikten är löst"), "{html}");
    assert!(html.contains("Plan SIP: 4 versioner<"), "{html}");
    assert!(!html.contains("tag urgent\">konflikt"), "{html}");
    assert!(
        !html.contains("/losa"),
        "no form without a conflict: {html}"
    );
    assert!(html.contains("Gällande version: Sara Sjöberg"), "{html}");
    assert!(!html.contains("Mallory"), "{html}");

    // The new version replaces both heads, by the session's account.
    let v = f
        .ward
        .ok("GET", &format!("/api/v1/plans/{plan}"), None)
        .await;
    assert_eq!(v["conflict"], false, "{v}");
    let head = &v["heads"][0];
    assert_eq!(head["author"], "Sara Sjöberg", "{v}");
    let mut replaces: Vec<&str> = head["replaces"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_str().expect("hex"))
        .collect();
    replaces.sort();
    let mut both = vec![w.as_str(), k.as_str()];
    both.sort();
    assert_eq!(replaces, both, "{v}");
    assert_eq!(head["content"]["goals"], goals);
    assert_eq!(head["content"]["measures"][1]["text"], "Hemsjukvård");
    assert_eq!(head["content"]["follow_up"], "2026-12-20");
    let last = f
        .ward
        .node
        .store()
        .audit_entries(0)
        .map(|e| e.expect("reads").1)
        .filter(|e| e.detail == "löste konflikt i plan")
        .last()
        .expect("the resolution is in the access log");
    assert_eq!(last.login.as_deref(), Some("sara"));

    // Carried to the municipality: no conflict there either.
    f.ward.carry_to(&f.kommun);
    let html = f.kommun.patient(&f.kommun.login().await).await;
    assert!(html.contains("Plan SIP: 4 versioner<"), "{html}");
    assert!(!html.contains("tag urgent\">konflikt"), "{html}");
    assert!(html.contains(goals), "{html}");
}

/// A resolution is refused, nothing written and what was typed kept beside the refusal,
/// when the plan's heads are no longer the ones the page showed (a third version arrived
/// after it was shown), and when a measure does not read.
#[tokio::test]
async fn a_resolution_of_versions_not_all_seen_or_badly_typed_is_refused_and_kept() {
    let f = fixture();
    let plan = planned(&f).await;
    let (w, k) = apart(&f, &plan).await;
    let cookie = f.ward.login().await;
    let html = f.ward.patient(&cookie).await;
    let csrf = support::web::csrf_of(&html);
    let plan_path = format!("/api/v1/plans/{plan}");
    let before = f.ward.ok("GET", &plan_path, None).await["versions"].clone();
    let path = format!("/patient/plan/{plan}/losa");
    for (heads, measures, why) in [
        (
            vec![w.as_str()],
            "Hemtjänst",
            "har fått en ny version sedan den visades",
        ),
        (
            vec![w.as_str(), k.as_str()],
            "Hemtjänst; Enhet 1; senast 2026-13-40",
            "är inget datum",
        ),
    ] {
        let mut pairs = vec![
            ("_csrf", csrf.as_str()),
            ("patient", PATIENT),
            ("base", w.as_str()),
            ("goals", "Skrivet men inte sparat"),
            ("measures", measures),
        ];
        pairs.extend(heads.iter().map(|h| ("heads[]", *h)));
        let r = f.ward.post_form(&cookie, &path, &pairs).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(r).await;
        assert!(html.contains(why), "{why}: {html}");
        assert!(html.contains("role=\"alert\""), "beside the form: {html}");
        assert!(
            html.contains(">Skrivet men inte sparat</textarea>"),
            "kept: {html}"
        );
        assert!(
            !html.contains("--base") && !html.contains("reservnod plan"),
            "{html}"
        );
        // The form now names every version shown: sent again, it resolves what is seen.
        for h in [&w, &k] {
            assert!(
                html.contains(&format!("name=\"heads[]\" value=\"{h}\"")),
                "{html}"
            );
        }
        let now = f.ward.ok("GET", &plan_path, None).await["versions"].clone();
        assert_eq!(now, before, "nothing written");
    }
}

/// A document's receipts as a timeline per recipient unit: skickad → levererad (when, to
/// which node) → läst (by whom, their title, when), at the sender and at the receiver, and
/// each state said in words.
#[tokio::test]
async fn a_document_shows_its_receipts_as_a_timeline() {
    let f = fixture();
    // Kim's account in the municipality's own accounts (the view), with a title.
    reservnod::care::api::handle(
        f.kommun.node.as_ref(),
        &reservnod::care::api::Caller::local(
            reservnod::care::api::Person {
                name: "IT-avdelningen".into(),
                role: String::new(),
                login: Some("it".into()),
            },
            reservnod::care::api::Via::Cli,
        ),
        reservnod::care::api::Request::UserAdd(reservnod::care::api::UserAddRequest {
            login: "kim".into(),
            name: "Kim Karlsson".into(),
            title: "biståndshandläggare".into(),
            roles: vec!["personal".into()],
            password: Some(reservnod::care::api::Secret::new("en lång fras om vår")),
        }),
    )
    .expect("the node's own account adds an account");
    let sent = f
        .ward
        .ok(
            "POST",
            "/api/v1/send",
            Some(serde_json::json!({
                "patient": PATIENT,
                "to": [f.kommun.unit.to_string()],
                "receipt_required": true,
                "consent": "samtycke",
                "document": {"type": "message", "subject": "Hembesök", "text": "Kan ni komma?"}
            })),
        )
        .await;
    let event = sent["event"].as_str().expect("event").to_string();
    let doc = format!("/dokument/{event}");
    let sara = f.ward.login().await;
    let (_, html) = f.ward.page(&sara, &doc).await;
    assert!(html.contains("<h3 id=\"tl-1\">Enhet 1</h3>"), "{html}");
    assert!(html.contains("<strong>Skickad</strong>: "), "{html}");
    assert!(html.contains("av Sara Sjöberg (Enhet 0)"), "{html}");
    assert!(
        html.contains("<li class=\"pending\"><strong>Levererad</strong>: inte ännu</li>"),
        "{html}"
    );
    assert!(
        html.contains("<li class=\"pending\"><strong>Läst</strong>: inte kvitterad ännu</li>"),
        "{html}"
    );

    // At the municipality: delivered here, to its node, not yet read.
    f.ward.carry_to(&f.kommun);
    let kim = f.kommun.login().await;
    let (_, html) = f.kommun.page(&kim, &doc).await;
    assert!(html.contains("<strong>Levererad</strong>: hit "), "{html}");
    assert!(html.contains(", till noden Nod 1</li>"), "{html}");
    assert!(
        html.contains("<strong>Läst</strong>: inte kvitterad ännu"),
        "{html}"
    );
    let csrf = support::web::csrf_of(&html);
    let r = f
        .kommun
        .post_form(&kim, &format!("{doc}/kvittera"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = f.kommun.page(&kim, &doc).await;
    assert!(
        html.contains(
            "<li class=\"done\"><strong>Läst</strong>: av Kim Karlsson, biståndshandläggare, "
        ),
        "{html}"
    );

    // Back at the ward: delivered to the municipality's node, read by Kim.
    f.kommun.carry_to(&f.ward);
    let (_, html) = f.ward.page(&sara, &doc).await;
    assert!(
        html.contains("<li class=\"done\"><strong>Levererad</strong>: "),
        "{html}"
    );
    assert!(html.contains(", till noden Nod 1</li>"), "{html}");
    assert!(
        html.contains("<li class=\"done\"><strong>Läst</strong>: av Kim Karlsson, "),
        "{html}"
    );
    assert!(html.contains("track state-read"), "{html}");
    // The same in the API: the node that took it in.
    let v = f
        .ward
        .ok("GET", &format!("/api/v1/events/{event}"), None)
        .await;
    assert_eq!(v["item"]["recipients"][0]["delivered_node"], "Nod 1", "{v}");
    assert_eq!(v["item"]["recipients"][0]["read_by"], "Kim Karlsson", "{v}");
}

/// What staff are told when the node refuses what they wrote is Swedish and names the
/// screen's fields, never a command-line flag or serde's English.
#[tokio::test]
async fn refusals_on_the_screens_are_swedish_and_name_no_cli_flag() {
    let f = fixture();
    let cookie = f.ward.login().await;
    let (_, html) = f.ward.page(&cookie, "/skriv").await;
    let csrf = support::web::csrf_of(&html);
    let kommun = f.kommun.unit.to_string();
    let message = |subject: &'static str, text: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("doc.type", "message".to_string()),
            ("doc.subject", subject.to_string()),
            ("doc.text", text.to_string()),
            ("to", kommun.clone()),
            ("consent", "samtycke".to_string()),
        ]
    };
    let mut with_author = message("Fråga", "Hej");
    with_author.push(("author", "Mallory Mask".into()));
    for (pairs, said) in [
        (message("", "Hej"), "ett meddelande måste ha ett ämne"),
        (
            message("Fråga", ""),
            "meddelandet saknar text: skriv en text eller välj en fras",
        ),
        (with_author, "hör inte till begäran"),
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = f.ward.post_form(&cookie, "/skriv", &pairs).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(r).await;
        assert!(html.contains(said), "{said}: {html}");
        for english in [
            "needs",
            "unknown field",
            "expected",
            "--text",
            "--to",
            "reservnod ",
        ] {
            assert!(!html.contains(english), "{english}: {html}");
        }
    }
    // A plan edited while it is in conflict: the refusal points to the Patient page.
    let plan = planned(&f).await;
    apart(&f, &plan).await;
    let (status, v) = f
        .ward
        .api(
            "POST",
            &format!("/api/v1/plans/{plan}/versions"),
            Some(serde_json::json!({"patch": {"goals": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let e = v["error"].as_str().expect("a refusal");
    assert!(e.contains("patientens sida"), "{e}");
    assert!(!e.contains("reservnod") && !e.contains("--"), "{e}");
    let (_, v) = f
        .ward
        .api(
            "POST",
            &format!("/api/v1/plans/{plan}/versions"),
            Some(serde_json::json!({"resolve": true, "patch": {"goals": "x"}})),
        )
        .await;
    let e = v["error"].as_str().expect("a refusal");
    assert!(e.contains("ange vilken av versionerna"), "{e}");
    assert!(!e.contains("--base"), "{e}");
}
