//! Staff accounts end to end: made from the CLI (with and without a running node), they
//! replicate to every node of their unit, sealed, and to no other unit's: a ward with two
//! nodes (its box and a laptop) and a municipality, on loopback. A password change and a
//! disable made on one of the ward's nodes hold on the other once it replicates; the
//! municipality's node carries the ward's account events and cannot log anyone in with them.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reservnod::care::api::{
    Caller, Person, Reply, Request, Secret, UserAddRequest, Via, LOGIN_REFUSED,
};
use reservnod::files::datadir::DataDir;
use reservnod_proto::EventClass;
use support::{bind, region, start_node, Node};

const LIMIT: Duration = Duration::from_secs(30);
const PW: &str = "vårdplanering hela natten";

fn it() -> Caller {
    Caller::local(
        Person {
            login: Some("it".into()),
            ..Person::default()
        },
        Via::Socket,
    )
}

fn reservnod(dir: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("USER", "it")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run reservnod");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait")
}

/// The CLI with no node running: the first admin is made from a password on standard input
/// (no terminal, so without `--password-stdin` it refuses), listed, and can log in.
#[test]
fn the_first_unit_admin_is_made_from_the_cli_without_a_running_node() {
    let r = region(1, 0);
    let dir = &r.nodes[0].dir;
    let out = reservnod(
        dir,
        &[
            "user",
            "add",
            "anna",
            "--name",
            "Anna Admin",
            "--role",
            "admin,personal",
        ],
        Some(&format!("{PW}\n")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--password-stdin"), "{err}");
    let add = |pw: &str| {
        reservnod(
            dir,
            &[
                "user",
                "add",
                "anna",
                "--name",
                "Anna Admin",
                "--title",
                "enhetschef",
                "--role",
                "admin,personal",
                "--password-stdin",
            ],
            Some(&format!("{pw}\n")),
        )
    };
    let short = add("kort");
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("för kort"),
        "{short:?}"
    );
    let made = add(PW);
    assert!(made.status.success(), "{made:?}");
    assert!(String::from_utf8_lossy(&made.stdout).contains("anna"));
    let list = reservnod(dir, &["user", "list", "--json"], None);
    assert!(list.status.success(), "{list:?}");
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(v["accounts"][0]["login"], "anna");
    assert_eq!(
        v["accounts"][0]["roles"],
        serde_json::json!(["personal", "admin"])
    );
    assert!(!String::from_utf8_lossy(&list.stdout).contains("argon2"));
    // The node, opened as a daemon would, logs the account in.
    let node = reservnod::cli::offline::open_node(&DataDir::new(dir)).expect("open");
    let acc = reservnod::care::api::authenticate_password(&node, "anna", &Secret::new(PW), None)
        .expect("logs in");
    assert_eq!(
        (acc.name.as_str(), acc.title.as_str()),
        ("Anna Admin", "enhetschef")
    );
}

async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < LIMIT, "timed out after {LIMIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn logs_in(node: &Node, login: &str, pw: &str) -> bool {
    node.handle
        .authenticate_password(login.into(), Secret::new(pw), Some("127.0.0.1".into()))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_replicate_to_every_node_of_their_unit_and_to_no_other() {
    // Node 0: the ward's box; node 1: the municipality; node 2: the ward's laptop.
    let mut r = region(2, 0);
    let ward = r.nodes[0].unit.clone();
    let key = std::fs::read_to_string(r.root.path().join(format!("admin/units/{ward}.key")))
        .expect("the ward's unit key");
    let laptop = r.root.path().join("laptop");
    let init = DataDir::new(&laptop)
        .init(&key, Some(&r.admin.signed().expect("signed")))
        .expect("init laptop");
    r.admin
        .add_node(init.node.id(), ward.clone(), "Avdelningens bärbara", 3)
        .expect("add laptop");
    let signed = r.admin.signed().expect("signed");
    for dir in [&r.nodes[0].dir, &r.nodes[1].dir, &laptop] {
        DataDir::new(dir).install_roster(&signed).expect("roster");
    }
    let (sb, ab) = bind();
    let (sm, am) = bind();
    let (sl, al) = bind();
    let boxn = start_node(&r.nodes[0].dir, sb, ab, &[am, al]).await;
    let muni = start_node(&r.nodes[1].dir, sm, am, &[ab, al]).await;
    let lap = start_node(&laptop, sl, al, &[ab, am]).await;

    // Made on the box: it logs in at the laptop once that has it.
    let made = boxn
        .handle
        .ask(
            it(),
            Request::UserAdd(UserAddRequest {
                login: "sara".into(),
                name: "Sara Sjöberg".into(),
                title: "sjuksköterska".into(),
                roles: vec!["personal".into()],
                password: Some(Secret::new(PW)),
            }),
        )
        .await
        .expect("made");
    assert!(matches!(made, Reply::Account(_)));
    until("the laptop logs sara in", || async {
        logs_in(&lap, "sara", PW).await.then_some(())
    })
    .await;
    // The municipality holds the event, sealed, and logs no one in with it.
    until(
        "the municipality carries the ward's account event",
        || async { (muni.handle.count_of(EventClass::Account) >= 1).then_some(()) },
    )
    .await;
    let refused = muni
        .handle
        .authenticate_password("sara".into(), Secret::new(PW), None)
        .await
        .expect_err("another unit's account");
    assert_eq!(refused.to_string(), LOGIN_REFUSED);
    let wrong = lap
        .handle
        .authenticate_password("sara".into(), Secret::new("inte hennes lösenord"), None)
        .await
        .expect_err("wrong password");
    let unknown = lap
        .handle
        .authenticate_password("okand".into(), Secret::new(PW), None)
        .await
        .expect_err("unknown login");
    assert_eq!(wrong.to_string(), unknown.to_string());

    // The password changed on the laptop holds on the box.
    const NEW: &str = "ett nytt och längre lösenord";
    lap.handle
        .ask(
            it(),
            Request::UserPasswd {
                login: "sara".into(),
                password: Some(Secret::new(NEW)),
            },
        )
        .await
        .expect("password changed");
    until("the box takes the new password and not the old", || async {
        (logs_in(&boxn, "sara", NEW).await && !logs_in(&boxn, "sara", PW).await).then_some(())
    })
    .await;

    // Disabled on the box: refused on the laptop too, with the same message.
    boxn.handle
        .ask(
            it(),
            Request::UserDisable {
                login: "sara".into(),
            },
        )
        .await
        .expect("disabled");
    assert!(!logs_in(&boxn, "sara", NEW).await);
    until("the laptop refuses the disabled account", || async {
        (!logs_in(&lap, "sara", NEW).await).then_some(())
    })
    .await;
    let e = lap
        .handle
        .authenticate_password("sara".into(), Secret::new(NEW), None)
        .await
        .expect_err("disabled");
    assert_eq!(e.to_string(), LOGIN_REFUSED);

    boxn.stop().await;
    muni.stop().await;
    lap.stop().await;
}
