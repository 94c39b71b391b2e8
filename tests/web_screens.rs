//! The screens beyond the inbox, against the router in-process: Noder (what the node knows
//! of the others), a plan conflict side by side on the patient page and its resolution,
//! the printable views and their access-log entries, and a document's receipts as a
//! timeline at the sender and at the receiver. Two nodes of a small region on disk (a ward
//! and a municipality), each with its own web interface; events go between them by hand.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use reservnod::care::api::{ApiError, CareNode, Role};
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::tls::ClientAddr;
use reservnod::serve::web::{self, Account, Accounts, Web, WebSettings};
use reservnod_proto::HsaId;
use serde_json::Value;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:7480";
const ORIGIN: &str = "http://127.0.0.1:7480";

/// One login per account, password "lösen", token `token-LOGIN`.
struct TestAccounts(HashMap<String, Account>);

impl Accounts for TestAccounts {
    fn password(&self, login: &str, password: &str, _client: &str) -> Result<Account, ApiError> {
        match self.0.get(login) {
            Some(a) if password == "lösen" => Ok(a.clone()),
            _ => Err(ApiError::Refused("fel".into())),
        }
    }
    fn token(&self, token: &str, _client: &str) -> Result<Account, ApiError> {
        token
            .strip_prefix("token-")
            .and_then(|l| self.0.get(l))
            .cloned()
            .ok_or_else(|| ApiError::Refused("fel".into()))
    }
    fn any_can_log_in(&self) -> bool {
        !self.0.is_empty()
    }
}

/// One node with its web interface and one staff account.
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
    let account = Account {
        login: login.into(),
        name: name.into(),
        title: "sjuksköterska".into(),
        unit: unit.clone(),
        roles: vec![Role::Staff],
    };
    let clock = Arc::new(AtomicU64::new(reservnod::clock::now_ms()));
    let web = Web::new(
        node.clone() as Arc<dyn CareNode>,
        Arc::new(TestAccounts(HashMap::from([(login.to_string(), account)]))),
        WebSettings {
            listen: HOST.parse().expect("addr"),
            names: vec![],
            tls: false,
            idle_timeout: Duration::from_secs(20 * 60),
        },
        Arc::new(move || clock.load(Ordering::SeqCst)),
    );
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

fn client() -> ConnectInfo<ClientAddr> {
    ConnectInfo(ClientAddr(SocketAddr::from(([10, 0, 0, 7], 50000))))
}

async fn text(r: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 10 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
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
                        ("password", "lösen"),
                    ])))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        r.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(web::SESSION_COOKIE))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .expect("a session cookie")
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
