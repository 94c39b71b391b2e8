//! Real daemon processes: two `reservnod run` with each other as static peers show each
//! other in `reservnod peers`; SIGTERM stops each cleanly with its store intact; a bad
//! config gets one line naming the key; a killed peer is noticed within seconds, and so is a
//! static peer that comes up.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::region;

fn reservnod() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reservnod"))
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn write_config(path: &Path, data_dir: &Path, port: u16, peer: u16, discovery_port: u16) {
    let text = format!(
        "data_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\nstatic_peers = [\"127.0.0.1:{peer}\"]\ndiscovery = false\ndiscovery_port = {discovery_port}\nlog = \"info\"\n",
        data_dir.display()
    );
    std::fs::write(path, text).expect("write config");
}

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config: &Path, log: &Path) -> Daemon {
    let err = std::fs::File::create(log).expect("log file");
    let child = reservnod()
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn daemon");
    Daemon {
        child,
        log: log.to_path_buf(),
    }
}

fn peers_json(dir: &Path) -> Option<serde_json::Value> {
    let out = reservnod()
        .args(["peers", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("run peers");
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("peers json"))
}

fn wait_exit(d: &mut Daemon, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = d.child.try_wait().expect("try_wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn two_daemons_connect_and_stop_cleanly_on_sigterm() {
    let r = region(2, 0);
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (r.root.path().join("a.toml"), r.root.path().join("b.toml"));
    write_config(&ca, &r.nodes[0].dir, pa, pb, free_port());
    write_config(&cb, &r.nodes[1].dir, pb, pa, free_port());
    let mut a = spawn(&ca, &r.root.path().join("a.log"));
    let mut b = spawn(&cb, &r.root.path().join("b.log"));

    let start = Instant::now();
    loop {
        let seen_a = peers_json(&r.nodes[0].dir).is_some_and(|p| {
            p[0]["node"] == r.nodes[1].id.to_string() && p[0]["state"] == "connected"
        });
        let seen_b = peers_json(&r.nodes[1].dir).is_some_and(|p| {
            p[0]["node"] == r.nodes[0].id.to_string() && p[0]["state"] == "connected"
        });
        if seen_a && seen_b {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the two daemons did not connect; logs:\n{}\n{}",
            std::fs::read_to_string(&a.log).unwrap_or_default(),
            std::fs::read_to_string(&b.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = String::from_utf8(
        reservnod()
            .args(["peers", "--data-dir"])
            .arg(&r.nodes[0].dir)
            .output()
            .expect("peers")
            .stdout,
    )
    .expect("utf8");
    assert!(text.contains("ansluten"), "{text}");

    let log_a = std::fs::read_to_string(&a.log).expect("log");
    assert!(
        log_a.contains(&r.nodes[0].id.to_string()) && log_a.contains(&format!("127.0.0.1:{pa}")),
        "the log names the node id and the listen address:\n{log_a}"
    );

    // `status --json` has one shape: the same keys running and stopped.
    let running_status = status_json(&r.nodes[0].dir);
    assert_eq!(running_status["running"], true, "{running_status}");
    assert_eq!(running_status["node_id"], r.nodes[0].id.to_string());

    for d in [&mut a, &mut b] {
        let pid = d.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success());
        assert_eq!(
            wait_exit(d, Duration::from_secs(15)),
            Some(0),
            "clean exit on SIGTERM; log:\n{}",
            std::fs::read_to_string(&d.log).unwrap_or_default()
        );
    }
    // The store is intact and free: status opens it directly now.
    for n in &r.nodes {
        let out = reservnod()
            .args(["status", "--json", "--data-dir"])
            .arg(&n.dir)
            .output()
            .expect("status");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["node_id"], n.id.to_string());
        assert!(
            peers_json(&n.dir).is_none(),
            "peers says the daemon is not running"
        );
    }
    let log_a = std::fs::read_to_string(&a.log).expect("log");
    assert!(log_a.contains("store flushed"), "{log_a}");
    // a stopped first: b heard its goodbye, and an orderly shutdown is not a warning.
    let log_b = std::fs::read_to_string(&b.log).expect("log");
    assert!(log_b.contains("the peer is shutting down"), "{log_b}");
    assert!(
        !log_b
            .lines()
            .any(|l| l.contains("WARN") && l.contains("closed the connection")),
        "a shutdown goodbye was logged as a warning:\n{log_b}"
    );
    let stopped_status = status_json(&r.nodes[0].dir);
    assert_eq!(stopped_status["running"], false, "{stopped_status}");
    assert_eq!(
        keys(&running_status),
        keys(&stopped_status),
        "status --json changes shape when the node stops"
    );
}

fn status_json(dir: &Path) -> serde_json::Value {
    let out = reservnod()
        .args(["status", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status json")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

/// Runs `reservnod run --config cfg` and returns its exit code and standard error.
fn run_config(cfg: &Path) -> (Option<i32>, String) {
    let out = reservnod()
        .args(["run", "--config"])
        .arg(cfg)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_gets_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "data_dir = \"x\"\nlisten = \"127.0.0.1:notaport\"\n").expect("write");
    let (code, err) = run_config(&cfg);
    assert_eq!(code, Some(2));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("listen"), "{err}");
    std::fs::write(&cfg, "data_dir = \"x\"\n").expect("write");
    let (code, err) = run_config(&cfg);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("node init"),
        "an uninitialised data directory is named: {err}"
    );
}

fn connected_to(dir: &Path, node: &reservnod_proto::NodeId) -> bool {
    peers_json(dir).is_some_and(|p| {
        p.as_array().is_some_and(|peers| {
            peers
                .iter()
                .any(|q| q["node"] == node.to_string() && q["state"] == "connected")
        })
    })
}

#[test]
fn a_killed_daemon_is_not_running_at_once_and_its_restart_replaces_the_dead_link() {
    let r = region(2, 0);
    // The survivor has the smaller id, so the link both keep is the one the survivor
    // dialled, and the restarted node's own dial is the one the old rule refuses.
    let (s, v) = if r.nodes[0].id < r.nodes[1].id {
        (&r.nodes[0], &r.nodes[1])
    } else {
        (&r.nodes[1], &r.nodes[0])
    };
    let (ps, pv) = (free_port(), free_port());
    let (cs, cv) = (r.root.path().join("s.toml"), r.root.path().join("v.toml"));
    write_config(&cs, &s.dir, ps, pv, free_port());
    write_config(&cv, &v.dir, pv, ps, free_port());
    let survivor = spawn(&cs, &r.root.path().join("s.log"));
    let mut victim = spawn(&cv, &r.root.path().join("v.log"));
    let start = Instant::now();
    while !(connected_to(&s.dir, &v.id) && connected_to(&v.dir, &s.id)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the two daemons did not connect; logs:\n{}\n{}",
            std::fs::read_to_string(&survivor.log).unwrap_or_default(),
            std::fs::read_to_string(&victim.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // SIGKILL: no goodbye, no last status file; the survivor hears nothing more.
    victim.child.kill().expect("kill");
    victim.child.wait().expect("wait");
    let killed = Instant::now();
    assert!(
        peers_json(&v.dir).is_none(),
        "the killed daemon's fresh status file is not taken for a running daemon"
    );
    let out = reservnod()
        .args(["status", "--data-dir"])
        .arg(&v.dir)
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "status reads the store of the killed daemon directly: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let victim = spawn(&cv, &r.root.path().join("v2.log"));
    // Connected as the new process says it (its own status file, not the dead one's).
    let restarted_connected = || {
        reservnod::daemon::DaemonStatus::read_fresh(&v.dir)
            .is_some_and(|st| st.pid == victim.child.id() && support::connected(&st, &s.id))
    };
    while !(restarted_connected() && connected_to(&s.dir, &v.id)) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the restarted daemon did not reconnect; logs:\n{}\n{}",
            std::fs::read_to_string(&survivor.log).unwrap_or_default(),
            std::fs::read_to_string(&victim.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The old link could only have expired by QUIC's 15 s idle timeout (at the earliest about
    // 11 s after the kill: keep-alives go every 4 s).
    let took = killed.elapsed();
    eprintln!("the restarted node was connected {took:?} after the kill");
    assert!(
        took < Duration::from_secs(9),
        "the restarted node's new connection waited {took:?}, as if for the old one to time out; logs:\n{}\n{}",
        std::fs::read_to_string(&survivor.log).unwrap_or_default(),
        std::fs::read_to_string(&victim.log).unwrap_or_default()
    );
}

/// Whether `status --json` of the running node in `dir` lists `node` as connected; None
/// while it cannot say (a daemon just started has not written its status file yet).
fn status_lists_connected(dir: &Path, node: &reservnod_proto::NodeId) -> Option<bool> {
    let out = reservnod()
        .args(["status", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("status");
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    if v["running"] != true {
        return None;
    }
    Some(v["peers"].as_array().is_some_and(|peers| {
        peers
            .iter()
            .any(|q| q["node"] == node.to_string() && q["state"] == "connected")
    }))
}

fn logs(daemons: &[&Daemon]) -> String {
    daemons
        .iter()
        .map(|d| std::fs::read_to_string(&d.log).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

#[test]
fn a_killed_peer_is_no_longer_shown_connected_within_seconds() {
    let r = region(2, 0);
    let (s, v) = (&r.nodes[0], &r.nodes[1]);
    let (ps, pv) = (free_port(), free_port());
    let (cs, cv) = (r.root.path().join("s.toml"), r.root.path().join("v.toml"));
    write_config(&cs, &s.dir, ps, pv, free_port());
    write_config(&cv, &v.dir, pv, ps, free_port());
    let survivor = spawn(&cs, &r.root.path().join("s.log"));
    let mut victim = spawn(&cv, &r.root.path().join("v.log"));
    let start = Instant::now();
    while !(status_lists_connected(&s.dir, &v.id) == Some(true) && connected_to(&v.dir, &s.id)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the two daemons did not connect; logs:\n{}",
            logs(&[&survivor, &victim])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // No goodbye: only the silence of the dead peer can tell the survivor.
    victim.child.kill().expect("kill");
    victim.child.wait().expect("wait");
    let killed = Instant::now();
    // The survivor runs throughout: its status always answers.
    while status_lists_connected(&s.dir, &v.id).expect("the survivor's status") {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the survivor still shows the killed peer connected; logs:\n{}",
            logs(&[&survivor])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = killed.elapsed();
    eprintln!("the killed peer was shown connected for {took:?}");
    // With the old 15 s idle timeout this took 11 s at the earliest (keep-alives every 4 s);
    // now the idle timeout (6 s) and the status file's one-second refresh.
    assert!(
        took < Duration::from_secs(10),
        "the killed peer was shown connected for {took:?}; logs:\n{}",
        logs(&[&survivor])
    );
}

#[test]
fn a_static_peer_that_was_down_is_connected_within_seconds_of_coming_up() {
    let r = region(2, 0);
    let (d, late) = (&r.nodes[0], &r.nodes[1]);
    let (pd, pl) = (free_port(), free_port());
    let (cd, cl) = (r.root.path().join("d.toml"), r.root.path().join("l.toml"));
    write_config(&cd, &d.dir, pd, pl, free_port());
    // The late node dials nobody (its static peer is a port nothing listens on), so only the
    // dialler's redial can connect them.
    write_config(&cl, &late.dir, pl, free_port(), free_port());
    let dialler = spawn(&cd, &r.root.path().join("d.log"));
    // Long enough for a doubling backoff to have grown well past its first steps (with the
    // old 30 s cap it waited 16 s, then 30 s, between dials by now).
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(40) {
        assert!(!connected_to(&d.dir, &late.id));
        std::thread::sleep(Duration::from_millis(500));
    }
    let late_node = spawn(&cl, &r.root.path().join("l.log"));
    let up = Instant::now();
    while status_lists_connected(&d.dir, &late.id) != Some(true) {
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "the dialler never reached the peer that came up; logs:\n{}",
            logs(&[&dialler, &late_node])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = up.elapsed();
    eprintln!("the peer that came up was connected after {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "the dialler took {took:?} to notice the healed link; logs:\n{}",
        logs(&[&dialler, &late_node])
    );
}
