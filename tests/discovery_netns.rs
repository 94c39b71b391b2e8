//! LAN discovery for real: two network namespaces joined by a veth pair, one discovery
//! instance in each, and no static configuration. Each side must find the other by UDP
//! broadcast and by mDNS, at the other's namespace address and announced QUIC port, exactly
//! once per mechanism, and then shut down cleanly when asked.
//!
//! Broadcast and multicast do not work on loopback alone, hence the namespaces. They need
//! root and iproute2; without them the test prints `SKIP: <reason>` and passes. CI runs as
//! root, so there it runs for real.
//!
//! Code runs inside a namespace by re-executing this test binary under `ip netns exec` with
//! only the child test selected; the child test does nothing unless its environment variable
//! is set. Only addresses inside the namespaces this test creates are used.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use reservnod::limits::ANNOUNCE_INTERVAL;
use reservnod::mesh::discovery::{self, Announce, Discovered, DiscoveryKind};
use reservnod_proto::{NodeId, NodeKey};

/// Environment variable that turns the child test on: the node key seed byte.
const CHILD_ENV_SEED: &str = "RESERVNOD_DISC_CHILD_SEED";
/// Environment variable with the child's QUIC port to announce.
const CHILD_ENV_QUIC_PORT: &str = "RESERVNOD_DISC_CHILD_QUIC_PORT";
/// Name of the child test, as `--exact` wants it.
const CHILD_TEST_NAME: &str = "netns_child";
/// Discovery port used inside both namespaces (each namespace has its own ports).
const DISCOVERY_PORT: u16 = 47_531;
/// Seeds and QUIC ports of the two nodes; distinct ports show the announced port is used.
const SEED_A: u8 = 0xA1;
const SEED_B: u8 = 0xB2;
const QUIC_PORT_A: u16 = 4_701;
const QUIC_PORT_B: u16 = 4_702;
/// How long both sides may take to find each other by both mechanisms.
const FIND_TIMEOUT: Duration = Duration::from_secs(20);
/// After everything was found, how long to keep listening for duplicate reports: longer than
/// one broadcast interval, shorter than the re-report window.
const QUIET_PERIOD: Duration = ANNOUNCE_INTERVAL.saturating_add(Duration::from_secs(2));
/// A child shuts itself down after this long even if the parent vanished.
const CHILD_MAX_LIFETIME: Duration = Duration::from_secs(90);
/// How long `discovery::run` may take to return after shutdown (mDNS goodbyes included).
const RUN_STOP_BOUND: Duration = Duration::from_secs(8);
/// How long the parent waits for a child to exit after closing its stdin.
const CHILD_EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the veth ends may take to report their carrier up.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll interval while waiting for the veth ends.
const LINK_UP_POLL: Duration = Duration::from_millis(20);
/// Poll interval while waiting for a child to exit.
const EXIT_POLL: Duration = Duration::from_millis(50);
/// Most output lines read from one child; the reader stops after that.
const MAX_CHILD_LINES: usize = 10_000;
/// Capacity of the channel of child output lines to the parent.
const LINE_CHANNEL_CAPACITY: usize = 256;
/// Found-hint channel capacity in the child.
const CHILD_FOUND_CAPACITY: usize = 64;

/// Runs discovery inside a namespace when started by the parent test; a no-op otherwise.
/// Prints `FOUND <node id> <addr> <mdns|broadcast>` per hint, and `STOPPED` after a clean
/// shutdown, which it starts when its stdin closes.
#[test]
fn netns_child() {
    let Ok(seed) = std::env::var(CHILD_ENV_SEED) else {
        return;
    };
    let seed: u8 = seed.parse().expect("the parent passes a seed byte");
    let quic_port: u16 = std::env::var(CHILD_ENV_QUIC_PORT)
        .expect("the parent passes a QUIC port")
        .parse()
        .expect("the parent passes a valid port");
    let me = Announce {
        node: NodeKey::from_seed(&[seed; 32]).id(),
        quic_port,
    };
    // Ends libtest's unterminated "test netns_child ... ", so each report is a line of its own.
    println!();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let (found_tx, mut found_rx) = tokio::sync::mpsc::channel(CHILD_FOUND_CAPACITY);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // The parent closes stdin to ask for shutdown; EOF also comes if the parent dies.
        let (eof_tx, mut eof_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = eof_tx.send(());
        });

        let mut task = tokio::spawn(discovery::run(me, DISCOVERY_PORT, found_tx, stop_rx));
        let lifetime = tokio::time::sleep(CHILD_MAX_LIFETIME);
        tokio::pin!(lifetime);
        loop {
            tokio::select! {
                Some(Discovered { node, addr, via }) = found_rx.recv() => {
                    println!("FOUND {node} {addr} {via}");
                }
                joined = &mut task => panic!("discovery::run ended before shutdown: {joined:?}"),
                _ = &mut eof_rx => break,
                _ = &mut lifetime => break,
            }
        }
        stop_tx.send(true).expect("run still holds the receiver");
        let result = tokio::time::timeout(RUN_STOP_BOUND, task)
            .await
            .expect("discovery::run returns promptly after shutdown")
            .expect("discovery::run did not panic");
        result.expect("discovery::run ends with Ok");
        println!("STOPPED");
    });
}

/// Two namespaces and a veth pair between them; deleted on drop, even after a failure.
struct Namespaces {
    a: String,
    b: String,
    /// The /24 inside the namespaces: 10.231.`subnet`.0.
    subnet: u8,
    created: Vec<String>,
}

impl Namespaces {
    /// Creates the namespaces; `Err` (a reason to skip) only if `ip netns add` fails.
    fn create(pid: u32) -> Result<Self, String> {
        let subnet = u8::try_from(pid % 254 + 1).expect("pid % 254 + 1 is at most 254");
        let mut namespaces = Namespaces {
            a: format!("rsvn-disc-{pid}-a"),
            b: format!("rsvn-disc-{pid}-b"),
            subnet,
            created: Vec::new(),
        };
        for name in [namespaces.a.clone(), namespaces.b.clone()] {
            ip(&["netns", "add", &name]).map_err(|e| format!("`ip netns add` failed: {e}"))?;
            namespaces.created.push(name);
        }
        Ok(namespaces)
    }

    fn ip_a(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, 1)
    }

    fn ip_b(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, 2)
    }

    /// The veth pair, created directly inside the namespaces, addressed and up, with lo up.
    fn connect(&self, pid: u32) {
        // Interface names are at most 15 bytes: "rsa" and a pid of at most 7 digits.
        let (veth_a, veth_b) = (format!("rsa{pid}"), format!("rsb{pid}"));
        ip(&[
            "link", "add", &veth_a, "netns", &self.a, "type", "veth", "peer", "name", &veth_b,
            "netns", &self.b,
        ])
        .expect("create the veth pair inside the namespaces");
        for (ns, dev, addr) in [
            (&self.a, &veth_a, self.ip_a()),
            (&self.b, &veth_b, self.ip_b()),
        ] {
            let cidr = format!("{addr}/24");
            ip(&["-n", ns, "addr", "add", &cidr, "brd", "+", "dev", dev])
                .expect("address the veth end");
            ip(&["-n", ns, "link", "set", "lo", "up"]).expect("bring lo up");
            ip(&["-n", ns, "link", "set", dev, "up"]).expect("bring the veth end up");
        }
        // mDNS only uses interfaces whose carrier is up, and looks again only every few
        // seconds: start the nodes once both ends are really up.
        for (ns, dev) in [(&self.a, &veth_a), (&self.b, &veth_b)] {
            let deadline = Instant::now() + LINK_UP_TIMEOUT;
            while !link_is_up(ns, dev) {
                assert!(
                    Instant::now() < deadline,
                    "veth end {dev} in {ns} not up within {LINK_UP_TIMEOUT:?}"
                );
                std::thread::sleep(LINK_UP_POLL);
            }
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end inside it.
        for name in &self.created {
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("could not delete network namespace {name}: {e}");
            }
        }
    }
}

/// Whether `dev` in namespace `ns` has its carrier up (operational state UP).
fn link_is_up(ns: &str, dev: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", dev])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(" state UP ")
        })
}

/// Runs `ip` with `args`; `Err` carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Why the namespace test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => status,
        Err(e) => {
            return Some(format!(
                "cannot read /proc/self/status to check for root: {e}"
            ))
        }
    };
    // "Uid:\treal\teffective\tsaved\tfs": namespaces need an effective uid of 0.
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some("not running as root (network namespaces need root)".to_owned());
    }
    match Command::new("ip").arg("-V").stdin(Stdio::null()).output() {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!("`ip -V` failed: {}", output.status)),
        Err(e) => Some(format!("iproute2 `ip` is not available: {e}")),
    }
}

/// A discovery child inside a namespace; killed on drop if still running.
struct ChildNode {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl ChildNode {
    /// Starts the child test under `ip netns exec` and forwards its output lines, tagged
    /// with `side`, to `lines`.
    fn spawn(
        ns: &str,
        seed: u8,
        quic_port: u16,
        side: char,
        lines: std_mpsc::SyncSender<(char, String)>,
    ) -> Self {
        let exe = std::env::current_exe().expect("the test binary's own path");
        let mut child = Command::new("ip")
            .arg("netns")
            .arg("exec")
            .arg(ns)
            .arg(exe)
            .args([
                "--exact",
                CHILD_TEST_NAME,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV_SEED, seed.to_string())
            .env(CHILD_ENV_QUIC_PORT, quic_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child under ip netns exec");
        let stdout = child.stdout.take().expect("stdout was piped");
        let stdin = child.stdin.take();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().take(MAX_CHILD_LINES) {
                let Ok(line) = line else { break };
                if lines.send((side, line)).is_err() {
                    break;
                }
            }
        });
        ChildNode { child, stdin }
    }

    /// Closes stdin (the child's signal to shut down) and waits, bounded, for a clean exit.
    fn stop(&mut self) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_EXIT_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("child exited with {status}")),
                Ok(None) => std::thread::sleep(EXIT_POLL),
                Err(e) => return Err(format!("waiting for the child: {e}")),
            }
        }
        Err(format!("child did not exit within {CHILD_EXIT_TIMEOUT:?}"))
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `FOUND <node> <addr> <via>` line, read back.
fn parse_found(line: &str) -> Option<(NodeId, SocketAddr, String)> {
    let mut parts = line.strip_prefix("FOUND ")?.split_whitespace();
    let node = NodeId::from_str(parts.next()?).ok()?;
    let addr = parts.next()?.parse().ok()?;
    let via = parts.next()?.to_owned();
    parts.next().is_none().then_some((node, addr, via))
}

#[test]
fn discovery_finds_peer_in_netns() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIP: {reason}");
        return;
    }
    let pid = std::process::id();
    let net = match Namespaces::create(pid) {
        Ok(net) => net,
        Err(reason) => {
            eprintln!("SKIP: {reason}");
            return;
        }
    };
    net.connect(pid);

    let node_a = NodeKey::from_seed(&[SEED_A; 32]).id();
    let node_b = NodeKey::from_seed(&[SEED_B; 32]).id();
    let addr_a = SocketAddr::from((net.ip_a(), QUIC_PORT_A));
    let addr_b = SocketAddr::from((net.ip_b(), QUIC_PORT_B));
    let (mdns, broadcast) = (
        DiscoveryKind::Mdns.to_string(),
        DiscoveryKind::Broadcast.to_string(),
    );
    // What each side must report, exactly once: the other side, by each mechanism.
    let expected = |side: char| -> Vec<(NodeId, SocketAddr, String)> {
        let (node, addr) = if side == 'a' {
            (node_b, addr_b)
        } else {
            (node_a, addr_a)
        };
        vec![(node, addr, broadcast.clone()), (node, addr, mdns.clone())]
    };

    let (lines_tx, lines_rx) = std_mpsc::sync_channel(LINE_CHANNEL_CAPACITY);
    // Declared after `net`, so the children are killed before the namespaces are deleted.
    let mut child_a = ChildNode::spawn(&net.a, SEED_A, QUIC_PORT_A, 'a', lines_tx.clone());
    let mut child_b = ChildNode::spawn(&net.b, SEED_B, QUIC_PORT_B, 'b', lines_tx);

    let mut found: Vec<(char, NodeId, SocketAddr, String)> = Vec::new();
    let mut transcript: Vec<String> = Vec::new();
    let all_found = |found: &[(char, NodeId, SocketAddr, String)]| {
        ['a', 'b'].iter().all(|&side| {
            expected(side).into_iter().all(|(n, a, v)| {
                found
                    .iter()
                    .any(|(s, fn_, fa, fv)| *s == side && *fn_ == n && *fa == a && *fv == v)
            })
        })
    };

    let started = Instant::now();
    let mut deadline = started + FIND_TIMEOUT;
    let mut found_all_after = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match lines_rx.recv_timeout(deadline - now) {
            Ok((side, line)) => {
                if let Some((node, addr, via)) = parse_found(&line) {
                    found.push((side, node, addr, via));
                }
                transcript.push(format!("{side}: {line}"));
                if found_all_after.is_none() && all_found(&found) {
                    found_all_after = Some(started.elapsed());
                    // Keep listening a while: a second report would be a duplicate.
                    deadline = Instant::now() + QUIET_PERIOD;
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => break,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }

    let Some(elapsed) = found_all_after else {
        let mut missing = Vec::new();
        for side in ['a', 'b'] {
            for (n, a, v) in expected(side) {
                let seen = found
                    .iter()
                    .any(|(s, fn_, fa, fv)| *s == side && *fn_ == n && *fa == a && *fv == v);
                if !seen {
                    missing.push(format!("{side} did not find {} at {a} by {v}", n.short()));
                }
            }
        }
        panic!(
            "within {FIND_TIMEOUT:?}: {}\nchild output:\n{}",
            missing.join("; "),
            transcript.join("\n")
        );
    };
    eprintln!("both sides found each other by broadcast and mDNS after {elapsed:?}");

    // Nothing but the expected hints, each exactly once (no own node, no other address).
    for side in ['a', 'b'] {
        let reports: Vec<(NodeId, SocketAddr, String)> = found
            .iter()
            .filter(|(s, ..)| *s == side)
            .map(|(_, n, a, v)| (*n, *a, v.clone()))
            .collect();
        let mut want = expected(side);
        let mut got = reports.clone();
        want.sort_by(|x, y| x.2.cmp(&y.2));
        got.sort_by(|x, y| x.2.cmp(&y.2));
        assert_eq!(
            got,
            want,
            "side {side} reported exactly the peer once per mechanism\nchild output:\n{}",
            transcript.join("\n")
        );
    }

    // A clean shutdown: each child's `run` returns Ok promptly and it prints STOPPED.
    let stop_a = child_a.stop();
    let stop_b = child_b.stop();
    // The readers end when the children's stdout closes; read what is left, bounded.
    let mut tail: Vec<String> = Vec::new();
    let drain_deadline = Instant::now() + CHILD_EXIT_TIMEOUT;
    loop {
        let now = Instant::now();
        if now >= drain_deadline {
            break;
        }
        match lines_rx.recv_timeout(drain_deadline - now) {
            Ok((side, line)) => tail.push(format!("{side}: {line}")),
            Err(_) => break,
        }
    }
    assert_eq!(stop_a, Ok(()), "child a stops cleanly\n{}", tail.join("\n"));
    assert_eq!(stop_b, Ok(()), "child b stops cleanly\n{}", tail.join("\n"));
    for side in ['a', 'b'] {
        assert!(
            tail.contains(&format!("{side}: STOPPED")),
            "child {side} printed STOPPED after shutdown\n{}",
            tail.join("\n")
        );
    }
}
