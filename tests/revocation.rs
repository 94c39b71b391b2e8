//! Revocation end to end on loopback: a roster dropped where the documentation says is
//! installed and cuts the revoked node off, also after a failure; `node install-roster`
//! hands the roster to a running node and a refusal changes nothing; a revoked node's
//! documents from before its cut-off reach its unit's replacement node, what it wrote after
//! is refused everywhere, and refused events are not sent again round after round.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reservnod::care::api::{Caller, DocumentForm, Person, Reply, Request, SendRequest, Via};
use reservnod::clock::now_ms;
use reservnod::daemon::DaemonStatus;
use reservnod::files::config::Config;
use reservnod::files::datadir::DataDir;
use reservnod_proto::HsaId;
use support::{bind, config, connected, region, start_node_with, wait_for, Node};

const LIMIT: Duration = Duration::from_secs(30);

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

async fn wait(
    dir: &Path,
    what: &'static str,
    pred: impl Fn(&DaemonStatus) -> bool + Send + 'static,
) -> DaemonStatus {
    let dir = dir.to_path_buf();
    blocking(move || wait_for(&dir, LIMIT, what, pred))
        .await
        .expect("join")
}

/// Polls `cond` every 50 ms for at most `limit`.
async fn poll(limit: Duration, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The example config as shipped never names the installed roster as the drop file, and a
/// config that does is refused with a line naming the key.
#[test]
fn the_documented_drop_file_is_not_the_installed_roster() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/node.toml");
    let text = std::fs::read_to_string(&path).expect("config/node.toml");
    let c = Config::parse(&text, &path).expect("the example config is valid");
    assert_ne!(c.roster_file, DataDir::new(&c.data_dir).roster_path());
    let minimal = Config::parse("data_dir = \"/d\"", Path::new("/etc/n.toml")).expect("minimal");
    assert_ne!(minimal.roster_file, DataDir::new("/d").roster_path());
    let err = Config::parse(
        "data_dir = \"/d\"\nroster_file = \"/d/roster.rsv\"",
        Path::new("/etc/n.toml"),
    )
    .expect_err("the installed roster as drop file")
    .to_string();
    assert!(err.contains("roster_file"), "{err}");
}

/// Point 4: with the default drop file, a newer roster is installed within seconds and the
/// revoked node is cut off, also when the first attempt failed (here: the installed roster
/// could not be written) and the file was not touched again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_roster_is_installed_after_a_failure_and_cuts_the_revoked_node_off() {
    let mut r = region(3, 0);
    let socks: Vec<_> = (0..3).map(|_| bind()).collect();
    let addrs: Vec<_> = socks.iter().map(|(_, a)| *a).collect();
    let drop_file = config(&r.nodes[0].dir, addrs[0], &[], "").roster_file;
    let mut nodes: Vec<Node> = Vec::new();
    for (i, (sock, addr)) in socks.into_iter().enumerate() {
        let others: Vec<_> = addrs.iter().copied().filter(|a| *a != addr).collect();
        nodes.push(start_node_with(&r.nodes[i].dir, sock, addr, &others, "").await);
    }
    let victim = r.nodes[2].id;
    for n in &r.nodes[..2] {
        wait(&n.dir, "the victim connected", move |s| {
            connected(s, &victim)
        })
        .await;
    }
    // The installed roster cannot be replaced for now: a directory stands in its way.
    let installed = DataDir::new(&r.nodes[0].dir).roster_path();
    let kept = installed.with_extension("kept");
    std::fs::rename(&installed, &kept).expect("move the roster aside");
    std::fs::create_dir(&installed).expect("a directory in its place");
    std::fs::write(installed.join("x"), b"x").expect("not empty");

    r.admin
        .revoke_node(victim, "stulen dator", None, now_ms())
        .expect("revoke");
    let new_version = r.admin.roster.version;
    std::fs::copy(r.roster_file(), &drop_file).expect("drop the roster");
    let s = wait(&r.nodes[0].dir, "the failed install reported", |s| {
        s.roster_drop_retrying.is_some()
    })
    .await;
    assert_ne!(s.roster_version, new_version);
    std::fs::remove_dir_all(&installed).expect("clear the way");
    std::fs::rename(&kept, &installed).expect("put it back");

    let fixed = Instant::now();
    for n in &r.nodes[..2] {
        let s = wait(&n.dir, "new roster and the victim cut off", move |s| {
            s.roster_version == new_version && !connected(s, &victim)
        })
        .await;
        assert!(s.counters.revoked_closed >= 1, "{:?}", s.counters);
    }
    assert!(fixed.elapsed() < Duration::from_secs(10));
    let s = wait(&r.nodes[0].dir, "status", |_| true).await;
    assert_eq!(s.roster_drop_retrying, None);
    let on_disk = reservnod::files::admin::read_roster_file(&installed)
        .expect("installed roster")
        .verify()
        .expect("valid");
    assert_eq!(on_disk.version, new_version);
    for n in nodes {
        n.stop().await;
    }
}

fn reservnod(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .output()
        .expect("run reservnod")
}

/// Point 5: `node install-roster` on a running node puts the roster in force through the
/// node's socket; a roster the node refuses leaves every file as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_roster_reaches_a_running_node_and_a_refusal_changes_nothing() {
    let mut r = region(2, 0);
    let (sa, aa) = bind();
    let (sb, ab) = bind();
    let a = start_node_with(&r.nodes[0].dir, sa, aa, &[ab], "").await;
    let b = start_node_with(&r.nodes[1].dir, sb, ab, &[aa], "").await;
    let victim = r.nodes[1].id;
    wait(&r.nodes[0].dir, "b connected", move |s| {
        connected(s, &victim)
    })
    .await;
    let old = r.root.path().join("old.rsv");
    std::fs::copy(r.roster_file(), &old).expect("keep the old roster");
    r.admin
        .revoke_node(victim, "stulen dator", None, now_ms())
        .expect("revoke");
    let new_version = r.admin.roster.version;
    let dir = r.nodes[0].dir.clone();
    let installed = DataDir::new(&dir).roster_path();

    // Refused (not newer): nothing changes, and the message says why.
    let before = std::fs::read(&installed).expect("installed roster");
    let (d, o) = (dir.clone(), old.clone());
    let out = blocking(move || {
        reservnod(&[
            "node",
            "install-roster",
            "--data-dir",
            d.to_str().expect("utf8"),
            o.to_str().expect("utf8"),
        ])
    })
    .await
    .expect("join");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("inte nyare"), "{err}");
    assert_eq!(std::fs::read(&installed).expect("installed roster"), before);

    // Newer: in force at once, the revoked node cut off.
    let (d, f) = (dir.clone(), r.roster_file());
    let out = blocking(move || {
        reservnod(&[
            "node",
            "install-roster",
            "--data-dir",
            d.to_str().expect("utf8"),
            f.to_str().expect("utf8"),
        ])
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("version {new_version}")));
    wait(&dir, "the new roster in force, b cut off", move |s| {
        s.roster_version == new_version && !connected(s, &victim)
    })
    .await;
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(r.roster_file()).expect("admin roster")
    );
    a.stop().await;
    b.stop().await;
}

fn sara() -> Caller {
    Caller::local(
        Person {
            name: "Sara Sjöberg".into(),
            role: "sjuksköterska".into(),
            login: Some("sara".into()),
        },
        Via::Socket,
    )
}

fn message(to: &HsaId, subject: &str) -> Request {
    Request::Send(SendRequest {
        to: vec![to.to_string()],
        ..SendRequest::new(DocumentForm::Message {
            kind: Some("question".into()),
            subject: subject.into(),
            text: "Text".into(),
            answer_by: None,
        })
    })
}

async fn send(node: &Node, request: Request) -> String {
    match node.handle.ask(sara(), request).await.expect("sent") {
        Reply::Sent(s) => s.event,
        other => panic!("expected Sent, got {other:?}"),
    }
}

async fn inbox(node: &Node) -> reservnod::care::api::Inbox {
    match node
        .handle
        .ask(sara(), Request::Inbox {})
        .await
        .expect("inbox")
    {
        Reply::Inbox(i) => i,
        other => panic!("expected Inbox, got {other:?}"),
    }
}

fn id_of(hex: &str) -> reservnod_proto::EventId {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .expect("hex");
    reservnod_proto::EventId(bytes.try_into().expect("32 bytes"))
}

/// Point 6: a ward node writes 20 documents and is revoked with a cut-off after them; 5 it
/// wrote after the cut-off reached the municipality before the revocation did. A replacement
/// node of the ward gets the 20 from the municipality, refuses the 5, and over several
/// reconciliation rounds nothing crosses the link again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_nodes_earlier_documents_reach_its_replacement_and_refusals_are_not_resent() {
    let mut r = region(2, 0);
    let fast = "reconcile_interval_secs = 1";
    let (ward_unit, kommun_unit) = (r.nodes[0].unit.clone(), r.nodes[1].unit.clone());
    let (s_old, a_old) = bind();
    let (s_k, a_k) = bind();
    let old = start_node_with(&r.nodes[0].dir, s_old, a_old, &[a_k], fast).await;
    let kommun = start_node_with(&r.nodes[1].dir, s_k, a_k, &[a_old], fast).await;
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(send(&old, message(&kommun_unit, &format!("Före {i}"))).await);
    }
    let has_all = |n: &Node, ids: &[String]| ids.iter().all(|e| n.handle.has(&id_of(e)));
    poll(LIMIT, "the 20 at the municipality", || {
        has_all(&kommun, &before)
    })
    .await;
    let cutoff = now_ms();
    while now_ms() <= cutoff {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut after = Vec::new();
    for i in 0..5 {
        after.push(send(&old, message(&kommun_unit, &format!("Efter {i}"))).await);
    }
    poll(LIMIT, "the 5 at the municipality", || {
        has_all(&kommun, &after)
    })
    .await;

    // The replacement: a new node of the ward's unit, admitted with the revocation.
    let new_dir = r.root.path().join("replacement");
    let unit_key =
        std::fs::read_to_string(r.root.path().join(format!("admin/units/{ward_unit}.key")))
            .expect("unit key");
    let init = DataDir::new(&new_dir)
        .init(&unit_key, Some(&r.admin.signed().expect("signed")))
        .expect("init the replacement");
    let old_id = r.nodes[0].id;
    r.admin
        .add_node(init.node.id(), ward_unit.clone(), "Ersättare", now_ms())
        .expect("admit the replacement");
    r.admin
        .revoke_node(old_id, "stulen dator", Some(cutoff), now_ms())
        .expect("revoke");
    let version = r.admin.roster.version;
    let signed = r.admin.signed().expect("signed");
    DataDir::new(&new_dir)
        .install_roster(&signed)
        .expect("roster at the replacement");
    let drop_file = config(&r.nodes[1].dir, a_k, &[], "").roster_file;
    std::fs::copy(r.roster_file(), &drop_file).expect("drop at the municipality");
    wait(
        &r.nodes[1].dir,
        "the municipality cut the old node off",
        move |s| s.roster_version == version && !connected(s, &old_id),
    )
    .await;
    // The municipality no longer shows what the old node wrote after the cut-off.
    let shown = inbox(&kommun).await;
    let titles: Vec<&str> = shown.incoming.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(shown.incoming.len(), 20, "{titles:?}");
    assert!(titles.iter().all(|t| t.contains("Före")), "{titles:?}");

    let (s_new, a_new) = bind();
    let replacement = start_node_with(&new_dir, s_new, a_new, &[a_k], fast).await;
    poll(LIMIT, "the 20 at the replacement", || {
        has_all(&replacement, &before)
    })
    .await;
    // The view takes them in just after the store does: wait for it too.
    let start = Instant::now();
    let mut mine = inbox(&replacement).await;
    while mine.sent.len() < 20 && start.elapsed() < LIMIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
        mine = inbox(&replacement).await;
    }
    assert_eq!(mine.sent.len(), 20, "the unit's earlier documents");
    assert!(after.iter().all(|e| !replacement.handle.has(&id_of(e))));

    // Settled: the refusals are made once; then rounds pass and nothing crosses again.
    let kommun_id = r.nodes[1].id.to_string();
    let k = kommun_id.clone();
    let settled = wait(&new_dir, "a reconciliation round after the 20", move |s| {
        s.sync.refused == 5
            && s.peers
                .iter()
                .any(|p| p.node == k && p.last_sync_ms.is_some())
    })
    .await;
    let mut rounds = std::collections::BTreeSet::new();
    let deadline = Instant::now() + LIMIT;
    let mut last = settled.clone();
    while rounds.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "no reconciliation rounds: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(s) = DaemonStatus::read_fresh(&new_dir) else {
            continue;
        };
        if let Some(t) = s
            .peers
            .iter()
            .find(|p| p.node == kommun_id)
            .and_then(|p| p.last_sync_ms)
        {
            rounds.insert(t);
        }
        last = s;
    }
    assert_eq!(
        (last.sync.received, last.sync.refused),
        (settled.sync.received, settled.sync.refused),
        "events crossed the link again after {} rounds",
        rounds.len()
    );
    assert_eq!(last.sync.refused, 5, "the 5 refused once");
    assert!(after.iter().all(|e| !replacement.handle.has(&id_of(e))));
    for n in [old, kommun, replacement] {
        n.stop().await;
    }
}

/// Point 5's rule for every command: a refused `node init` leaves the directory as it was
/// (here something stands where the roster would go; before, the unit key and the trusted
/// admin key were left behind and blocked every later attempt).
#[test]
fn a_refused_node_init_changes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let p = |s: &str| root.path().join(s).to_str().expect("utf8").to_string();
    let admin = p("admin");
    for args in [
        vec![
            "admin",
            "--admin-dir",
            &admin,
            "init",
            "--region",
            "Testregion",
        ],
        vec![
            "admin",
            "--admin-dir",
            &admin,
            "unit",
            "add",
            "--id",
            "SE2321000081-AVD12",
            "--name",
            "Avdelning 12",
            "--kind",
            "ward",
            "--municipality",
            "1080",
        ],
    ] {
        let out = reservnod(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let data = root.path().join("avd12");
    std::fs::create_dir_all(data.join("roster.rsv")).expect("in the way");
    std::fs::write(data.join("roster.rsv/x"), b"x").expect("not empty");
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing(&data);
    let out = reservnod(&[
        "node",
        "init",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--unit-key",
        &p("admin/units/SE2321000081-AVD12.key"),
        "--roster",
        &p("admin/roster.rsv"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(listing(&data), before, "{err}");
}

/// `admin node revoke --cutoff`: a cut-off in the future is refused and changes nothing;
/// the roster shows from when the node is revoked.
#[test]
fn revoke_takes_a_cutoff_and_refuses_one_in_the_future() {
    let root = tempfile::tempdir().expect("tempdir");
    let admin = root.path().join("admin");
    let admin = admin.to_str().expect("utf8");
    let dir = reservnod::files::admin::AdminDir::new(admin);
    let mut a = dir.init("Testregion", now_ms()).expect("admin init");
    let unit: HsaId = "SE2321000081-AVD12".parse().expect("valid");
    a.add_unit(
        unit.clone(),
        "Avd 12",
        reservnod_proto::roster::UnitKind::Ward,
        "1080".parse().expect("valid"),
        now_ms(),
    )
    .expect("unit");
    let node = reservnod_proto::NodeKey::generate(&mut rand_core::OsRng).id();
    a.add_node(node, unit, "Nod", now_ms()).expect("node");
    let roster = dir.roster_path();
    let before = std::fs::read(&roster).expect("roster");
    let id = node.to_string();
    let out = reservnod(&[
        "admin",
        "--admin-dir",
        admin,
        "node",
        "revoke",
        "--node-id",
        &id,
        "--reason",
        "stulen",
        "--cutoff",
        "9999-01-01",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&roster).expect("roster"), before);
    let out = reservnod(&[
        "admin",
        "--admin-dir",
        admin,
        "node",
        "revoke",
        "--node-id",
        &id,
        "--reason",
        "stulen",
        "--cutoff",
        "2026-11-30 14:00",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = reservnod(&["admin", "--admin-dir", admin, "roster", "show", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["nodes"][0]["revoked"], true);
    assert!(
        shown["nodes"][0]["revoked_from"]
            .as_str()
            .is_some_and(|s| s.starts_with("2026-11-30 14:00")),
        "{shown}"
    );
}
