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
