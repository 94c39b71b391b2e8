//! The web interface with the unit's real accounts (`UnitAccounts`, the node's own view of
//! the unit's `Account` events), in-process: a session or token follows its account, so a
//! disable, a password change or a role change made on another node of the unit ends the
//! open sessions here as soon as it has replicated; logins, logouts and session ends are in
//! the access log, without the password.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use reservnod::care::api::{handle, Caller, CareNode, Person, Reply, Request, Secret, Via};
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::{Accounts, UnitAccounts};
use reservnod::store::{AuditAction, AuditEntry};
use support::web::*;

const PW: &str = "en lång fras om vår";

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

fn ask(node: &dyn CareNode, r: Request) -> Reply {
    handle(node, &it(), r).expect("the node's own account may")
}

fn add(login: &str, roles: &[&str]) -> Request {
    Request::UserAdd(reservnod::care::api::UserAddRequest {
        login: login.into(),
        name: format!("Sara {login}"),
        title: "sjuksköterska".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        password: Some(Secret::new(PW)),
    })
}

/// A ward with two nodes: the web interface on the first (`f.node`), the second opened
/// here, where the unit's admin works; its account events reach the first as a peer's do.
struct Ward {
    f: Fixture,
    other: Node,
}

impl Ward {
    fn new() -> Ward {
        let mut region = support::region(2, 0);
        let second = region.add_node_of_unit(0);
        let dd = DataDir::new(&region.nodes[second].dir);
        let settings = Settings::for_data_dir(&dd).expect("settings");
        let (other, _gone) = Node::open(dd, settings).expect("open the second node");
        let f = fixture_in(region, false, |node, _, _| {
            Arc::new(UnitAccounts(node.clone() as Arc<dyn CareNode>)) as Arc<dyn Accounts>
        });
        Ward { f, other }
    }

    /// What the second node wrote, taken in by the first through the ingest pipeline as
    /// from a connected peer.
    fn replicate(&self) {
        let ids: Vec<_> = self
            .other
            .store()
            .keys(false)
            .expect("keys")
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let events = self.other.store().get_many(&ids).expect("events");
        let outcome = self
            .f
            .node
            .ingest_blocking(events, Some(self.other.id()))
            .expect("ingest");
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    }

    fn log(&self) -> Vec<AuditEntry> {
        self.f
            .node
            .store()
            .audit_entries(0)
            .map(|e| e.expect("reads").1)
            .collect()
    }

    async fn get(&self, path: &str, cookie: &str) -> axum::http::Response<Body> {
        self.f
            .send(
                get(path)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
    }

    async fn with_token(&self, path: &str, token: &str) -> axum::http::Response<Body> {
        self.f
            .send(
                get(path)
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
    }
}

fn location(r: &axum::http::Response<Body>) -> String {
    r.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn ends(log: &[AuditEntry], login: &str) -> Vec<String> {
    log.iter()
        .filter(|e| e.action == AuditAction::Logout && e.login.as_deref() == Some(login))
        .map(|e| e.detail.clone())
        .collect()
}

#[tokio::test]
async fn a_disable_made_on_another_node_of_the_unit_ends_the_open_session_and_the_token() {
    let w = Ward::new();
    ask(&w.other, add("sara", &["personal"]));
    let token = match ask(
        &w.other,
        Request::TokenCreate {
            login: "sara".into(),
            label: "utskrifter".into(),
        },
    ) {
        Reply::TokenCreated(t) => t.token.expose().to_string(),
        other => panic!("{other:?}"),
    };
    w.replicate();
    let (cookie, _) = w.f.login_with("sara", PW).await;
    assert_eq!(w.get("/inkorg", &cookie).await.status(), StatusCode::OK);
    assert_eq!(
        w.with_token("/api/v1/inbox", &token).await.status(),
        StatusCode::OK
    );

    ask(
        &w.other,
        Request::UserDisable {
            login: "sara".into(),
        },
    );
    // Before it replicates, this node does not know.
    assert_eq!(w.get("/inkorg", &cookie).await.status(), StatusCode::OK);
    w.replicate();

    let r = w.get("/inkorg", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/logga-in?andrat=1");
    let cleared = session_cookie(&r).expect("the cookie is cleared");
    assert_eq!(
        cleared,
        format!("{}=", reservnod::serve::web::SESSION_COOKIE)
    );
    // The session is gone on the server: the cookie is refused from now on, also by the API.
    let again = w.get("/inkorg", &cookie).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(location(&again).starts_with("/logga-in"));
    assert_eq!(
        w.get("/api/v1/inbox", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        w.with_token("/api/v1/inbox", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        w.f.login_as("sara", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let log = w.log();
    assert_eq!(
        ends(&log, "sara"),
        ["sessionen avslutad: kontot är spärrat eller finns inte längre"]
    );
    let refused = log
        .iter()
        .filter(|e| e.action == AuditAction::LoginRefused && e.login.as_deref() == Some("sara"))
        .count();
    assert_eq!(refused, 2, "the token and the password, each refused");

    // Enabled again (on the other node), sara logs in anew; the old session stays ended.
    ask(
        &w.other,
        Request::UserEnable {
            login: "sara".into(),
        },
    );
    w.replicate();
    assert_ne!(w.get("/inkorg", &cookie).await.status(), StatusCode::OK);
    let (fresh, _) = w.f.login_with("sara", PW).await;
    assert_eq!(w.get("/inkorg", &fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_password_or_role_change_ends_the_session_and_other_changes_do_not() {
    let w = Ward::new();
    ask(&w.other, add("sara", &["personal"]));
    w.replicate();
    let (cookie, _) = w.f.login_with("sara", PW).await;

    // A token made for the account changes nothing a session stands on.
    ask(
        &w.other,
        Request::TokenCreate {
            login: "sara".into(),
            label: "skript".into(),
        },
    );
    w.replicate();
    assert_eq!(w.get("/inkorg", &cookie).await.status(), StatusCode::OK);

    let new_pw = "ett helt nytt lösenord";
    ask(
        &w.other,
        Request::UserPasswd {
            login: "sara".into(),
            password: Some(Secret::new(new_pw)),
        },
    );
    w.replicate();
    let r = w.get("/inkorg", &cookie).await;
    assert_eq!(
        (r.status(), location(&r).as_str()),
        (StatusCode::SEE_OTHER, "/logga-in?andrat=1")
    );
    assert_eq!(
        w.f.login_as("sara", PW).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (cookie, _) = w.f.login_with("sara", new_pw).await;
    assert_eq!(w.get("/inkorg", &cookie).await.status(), StatusCode::OK);

    // A role taken away takes effect at once: the session ends rather than keep it.
    ask(
        &w.other,
        Request::UserRoles {
            login: "sara".into(),
            roles: vec!["logggranskare".into()],
        },
    );
    w.replicate();
    let r = w.get("/inkorg", &cookie).await;
    assert_eq!(
        (r.status(), location(&r).as_str()),
        (StatusCode::SEE_OTHER, "/logga-in?andrat=1")
    );
    assert_eq!(
        ends(&w.log(), "sara"),
        [
            "sessionen avslutad: kontots lösenord eller roller har ändrats",
            "sessionen avslutad: kontots lösenord eller roller har ändrats"
        ]
    );
}

#[tokio::test]
async fn logins_logouts_and_expiry_are_in_the_access_log_with_the_address_and_no_password() {
    let w = Ward::new();
    ask(&w.other, add("sara", &["personal"]));
    ask(&w.other, add("kim", &["personal"]));
    w.replicate();

    assert_eq!(
        w.f.login_as("sara", "inte rätt lösenord").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (cookie, csrf) = w.f.login_with("sara", PW).await;
    let r =
        w.f.send(
            post("/logga-ut")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("_csrf={csrf}")))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // kim's session ends by time while nobody uses it: the next request anyone makes after
    // the sweep interval finds it.
    let (kim, _) = w.f.login_with("kim", PW).await;
    w.f.advance(Duration::from_secs(21 * 60));
    assert_eq!(
        w.get("/logga-in", "x=y").await.status(),
        StatusCode::OK,
        "the login page, no session"
    );
    let log = w.log();
    let sara: Vec<(AuditAction, String)> = log
        .iter()
        .filter(|e| e.login.as_deref() == Some("sara") && e.action != AuditAction::Read)
        .filter(|e| e.action != AuditAction::AccountChanged)
        .map(|e| (e.action, e.detail.clone()))
        .collect();
    assert_eq!(
        sara,
        [
            (
                AuditAction::LoginRefused,
                "inloggning nekad: fel lösenord".into()
            ),
            (AuditAction::Login, "inloggad med lösenord".into()),
            (AuditAction::Logout, "utloggad".into()),
        ]
    );
    for e in log.iter().filter(|e| {
        matches!(
            e.action,
            AuditAction::Login | AuditAction::LoginRefused | AuditAction::Logout
        )
    }) {
        assert_eq!(e.client.as_deref(), Some("10.0.0.7"), "{e:?}");
        assert_eq!(e.via.as_deref(), Some("web"), "{e:?}");
        assert!(!e.detail.contains(PW) && !e.detail.contains("inte rätt"));
    }
    assert_eq!(
        ends(&log, "kim"),
        ["sessionen gick ut efter 20 minuter utan aktivitet"]
    );
    // Once: the cookie coming back later does not log it again.
    let r = w.get("/inkorg", &kim).await;
    assert_eq!(location(&r), "/logga-in?utgangen=1");
    assert_eq!(ends(&w.log(), "kim").len(), 1);
}
