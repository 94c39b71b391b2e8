//! A small region on disk for daemon tests: an admin directory, units, and node data
//! directories with configs that listen on 127.0.0.1 only.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reservnod::daemon::DaemonStatus;
use reservnod::files::admin::{Admin, AdminDir};
use reservnod::files::config::Config;
use reservnod::files::datadir::DataDir;
use reservnod_proto::roster::UnitKind;
use reservnod_proto::{HsaId, NodeId};

pub struct TestNode {
    pub dir: PathBuf,
    pub id: NodeId,
    pub unit: HsaId,
}

pub struct TestRegion {
    pub root: tempfile::TempDir,
    pub admin: Admin,
    pub nodes: Vec<TestNode>,
}

const KINDS: [UnitKind; 3] = [UnitKind::Ward, UnitKind::Municipal, UnitKind::PrimaryCare];

/// `admitted` nodes in the roster, plus `strangers` set up with the roster but not in it.
pub fn region(admitted: usize, strangers: usize) -> TestRegion {
    let root = tempfile::tempdir().expect("tempdir");
    let admin_dir = AdminDir::new(root.path().join("admin"));
    let mut admin = admin_dir.init("Testregion", 1).expect("admin init");
    let mut nodes = Vec::new();
    for i in 0..admitted + strangers {
        let unit: HsaId = format!("SE2321000081-U{i}").parse().expect("valid");
        let key_path = admin
            .add_unit(
                unit.clone(),
                &format!("Enhet {i}"),
                KINDS[i % 3],
                "1080".parse().expect("valid"),
                2,
            )
            .expect("unit");
        let dir = root.path().join(format!("node{i}"));
        let unit_key = std::fs::read_to_string(&key_path).expect("unit key");
        let init = DataDir::new(&dir)
            .init(&unit_key, Some(&admin.signed().expect("signed")))
            .expect("node init");
        if i < admitted {
            admin
                .add_node(init.node.id(), unit.clone(), &format!("Nod {i}"), 3)
                .expect("node add");
        }
        nodes.push(TestNode {
            dir,
            id: init.node.id(),
            unit,
        });
    }
    let signed = admin.signed().expect("signed");
    let version = admin.roster.version;
    for n in &nodes {
        let dd = DataDir::new(&n.dir);
        if dd.roster().expect("roster").map(|r| r.version) != Some(version) {
            dd.install_roster(&signed).expect("install roster");
        }
    }
    TestRegion { root, admin, nodes }
}

impl TestRegion {
    pub fn roster_file(&self) -> PathBuf {
        self.root.path().join("admin/roster.rsv")
    }

    /// Another node of the unit of node `i`, admitted: the roster re-signed and installed on
    /// every node (before any is opened). Returns its index in `nodes`.
    pub fn add_node_of_unit(&mut self, i: usize) -> usize {
        let unit = self.nodes[i].unit.clone();
        let key_path = self
            .root
            .path()
            .join("admin/units")
            .join(format!("{unit}.key"));
        let unit_key = std::fs::read_to_string(&key_path).expect("unit key");
        let n = self.nodes.len();
        let dir = self.root.path().join(format!("node{n}"));
        let init = DataDir::new(&dir)
            .init(&unit_key, Some(&self.admin.signed().expect("signed")))
            .expect("node init");
        self.admin
            .add_node(init.node.id(), unit.clone(), &format!("Nod {n}"), 4)
            .expect("node add");
        self.nodes.push(TestNode {
            dir,
            id: init.node.id(),
            unit,
        });
        let signed = self.admin.signed().expect("signed");
        for node in &self.nodes {
            DataDir::new(&node.dir)
                .install_roster(&signed)
                .expect("install roster");
        }
        n
    }
}

pub fn bind() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    let a = s.local_addr().expect("addr");
    (s, a)
}

pub fn config(dir: &Path, listen: SocketAddr, peers: &[SocketAddr], extra: &str) -> Config {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        "data_dir = \"{}\"\nlisten = \"{listen}\"\nstatic_peers = [{}]\ndiscovery = false\nlog = \"warn\"\n{extra}",
        dir.display(),
        peers.join(", ")
    );
    Config::parse(&text, Path::new("/")).expect("test config")
}

/// Polls a daemon's status until `pred` holds, for at most `limit`.
pub fn wait_for(
    dir: &Path,
    limit: Duration,
    what: &str,
    pred: impl Fn(&DaemonStatus) -> bool,
) -> DaemonStatus {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(s) = DaemonStatus::read_fresh(dir) {
            if pred(&s) {
                return s;
            }
            last = Some(s);
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what} ({}); last status: {last:#?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn connected(s: &DaemonStatus, node: &NodeId) -> bool {
    s.peers.iter().any(|p| {
        p.node == node.to_string() && p.state == reservnod::node::peers::PeerState::Connected
    })
}

/// A clinical event written by the node in `dir`, sealed to `recipients` and its own unit.
pub fn clinical_event(
    dir: &Path,
    roster: &reservnod_proto::Roster,
    recipients: &[HsaId],
    text: &str,
    hlc: reservnod_proto::Hlc,
    priority: reservnod_proto::Priority,
) -> reservnod_proto::SignedEvent {
    use reservnod_proto::event::{DocRef, EventClass, Header, EVENT_FORMAT};
    let dd = DataDir::new(dir);
    let node = dd.node_key().expect("node key");
    let unit = dd.unit_key().expect("unit key");
    Header {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: unit.unit().clone(),
        user: Some("test".into()),
        hlc,
        class: EventClass::Clinical,
        priority,
        recipients: recipients.to_vec(),
        doc: Some(DocRef::first(&node.id(), hlc)),
    }
    .seal(&mut rand_core::OsRng, text.as_bytes(), |u| {
        roster.unit(u).map(|x| x.encryption_key)
    })
    .expect("seal")
    .sign(&node)
    .expect("sign")
}

/// A raw QUIC client with the identity of the node in `dir`, for speaking the protocol by hand.
pub fn client(dir: &Path, roster: reservnod_proto::Roster) -> quinn::Endpoint {
    use reservnod::mesh::tls::{self, NodeIdentity};
    use reservnod::node::Admission;
    let key = DataDir::new(dir).node_key().expect("key");
    let identity = NodeIdentity::new(&key).expect("identity");
    let (_, client_tls) = tls::rustls_configs(&identity, Admission::new(roster)).expect("tls");
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("quic tls");
    let mut cfg = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
    cfg.transport_config(reservnod::mesh::transport_config());
    let mut ep =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client endpoint");
    ep.set_default_client_config(cfg);
    ep
}

/// A daemon running in this process, with a handle for local writes.
pub struct Node {
    pub handle: reservnod::daemon::NodeHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), reservnod::daemon::DaemonError>>,
}

/// Starts a daemon on an already-bound loopback socket; returns once it is up.
pub async fn start_node(
    dir: &Path,
    socket: UdpSocket,
    addr: SocketAddr,
    peers: &[SocketAddr],
) -> Node {
    start_node_with(dir, socket, addr, peers, "").await
}

/// [`start_node`] with extra configuration lines.
pub async fn start_node_with(
    dir: &Path,
    socket: UdpSocket,
    addr: SocketAddr,
    peers: &[SocketAddr],
    extra: &str,
) -> Node {
    start_config(config(dir, addr, peers, extra), socket).await
}

/// Starts a daemon with `cfg` on `socket` (already bound to the config's listen address).
pub async fn start_config(cfg: Config, socket: UdpSocket) -> Node {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(reservnod::daemon::run_with(
        cfg,
        socket,
        async move {
            let _ = rx.await;
        },
        Some(ready_tx),
    ));
    match ready_rx.await {
        Ok(handle) => Node { handle, stop, task },
        Err(_) => panic!("node did not start: {:?}", task.await),
    }
}

impl Node {
    /// Stops the daemon and waits for a clean shutdown.
    pub async fn stop(self) {
        let Node { handle, stop, task } = self;
        // The handle holds the node's store; let go of it so shutdown can finish at once.
        drop(handle);
        let _ = stop.send(());
        task.await.expect("join").expect("clean shutdown");
    }
}

/// The machine, for benchmark reports: CPU model, cores, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!(
        "{cpu}, {} cores, {mem_gib} GiB",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

/// Peak resident memory (VmHWM) of a process, in MB.
pub fn peak_rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Polls `f` until it holds, for at most `limit`.
pub async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
pub mod web;

/// The command line run as the node's own Unix account `it` (no `--author`), against the
/// data directory `dir`, as an operator runs it with the node stopped or running.
pub fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("USER", "it")
        .env_remove("RESERVNOD_AUTHOR")
        .output()
        .expect("run reservnod")
}

/// [`cli`] that must succeed: its standard output.
pub fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
