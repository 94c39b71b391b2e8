//! Replication benchmark: one command, figures beside their physical anchors, written to
//! docs/benchmarks/replication.md with the machine and the date.
//!
//! Run: `cargo bench --bench replication` (RESERVNOD_BENCH_RESYNC sets the resync size,
//! default 100000; RESERVNOD_BENCH_SKIP_D=1 skips the 20-node mesh).

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reservnod::files::datadir::DataDir;
use reservnod::mesh::tls::{self, NodeIdentity};
use reservnod::node::Admission;
use reservnod_proto::reconcile::Key;
use reservnod_proto::{EventClass, EventId, Hlc, Priority, SignedEvent};
use support::{bind, clinical_event, machine, peak_rss_mb, region, start_node};

/// (a1) raw quinn bulk throughput on loopback, same TLS as the mesh, default transport.
async fn raw_quinn_mb_per_s(dir0: &Path, dir1: &Path, roster: reservnod_proto::Roster) -> f64 {
    let mk = |dir: &Path| {
        let key = DataDir::new(dir).node_key().expect("key");
        let identity = NodeIdentity::new(&key).expect("identity");
        tls::rustls_configs(&identity, Admission::new(roster.clone())).expect("tls")
    };
    let (server_tls, _) = mk(dir0);
    let (_, client_tls) = mk(dir1);
    let server_cfg = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).expect("server"),
    ));
    let server = quinn::Endpoint::server(server_cfg, "127.0.0.1:0".parse().expect("addr"))
        .expect("server endpoint");
    let addr = server.local_addr().expect("addr");
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client");
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("client"),
    )));
    const TOTAL: usize = 512 * 1024 * 1024;
    let receiver = tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("conn");
        let (_, mut rx) = conn.accept_bi().await.expect("stream");
        let mut got = 0usize;
        while let Some(chunk) = rx.read_chunk(1 << 20, true).await.expect("read") {
            got += chunk.bytes.len();
        }
        got
    });
    let conn = client
        .connect(addr, tls::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (mut tx, _rx) = conn.open_bi().await.expect("stream");
    let buf = vec![0x5au8; 64 * 1024];
    let start = Instant::now();
    let mut sent = 0;
    while sent < TOTAL {
        tx.write_all(&buf).await.expect("write");
        sent += buf.len();
    }
    tx.finish().expect("finish");
    let got = receiver.await.expect("join");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got, TOTAL);
    TOTAL as f64 / secs / 1e6
}

fn make_events(
    dir: &Path,
    roster: &reservnod_proto::Roster,
    to: &reservnod_proto::HsaId,
    n: u64,
) -> Vec<SignedEvent> {
    let body = "x".repeat(1000);
    (0..n)
        .map(|i| {
            clinical_event(
                dir,
                roster,
                std::slice::from_ref(to),
                &body,
                Hlc {
                    wall_ms: 1_795_000_000_000 + i,
                    logical: 0,
                },
                Priority::Normal,
            )
        })
        .collect()
}

/// CPU time (user + system) a process has used so far, in seconds: work counted, not waited
/// for, so a figure that other load on the machine barely moves.
fn cpu_s(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) in parentheses: utime and stime are
    // the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("RESERVNOD_BENCH_RESYNC")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut report = String::new();
    let started = reservnod::clock::format_ms_utc(reservnod::clock::now_ms());
    let header = format!("# Replication benchmark\n\nRun {started} on {} (release build: {}), `cargo bench --bench replication`.\n", machine(), !cfg!(debug_assertions));
    println!("{header}");
    report.push_str(&header);

    // Anchors.
    let r = region(3, 0);
    let roster = r.admin.roster.clone();
    let (d0, d1) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());
    let to = r.nodes[1].unit.clone();
    let quinn_mb = raw_quinn_mb_per_s(&d0, &d1, roster.clone()).await;
    println!("making {n} sealed events with ~1 KB bodies…");
    let events = make_events(&d0, &roster, &to, n);
    let event_bytes: u64 = events.iter().map(|e| e.bytes.len() as u64 + 64).sum();
    let anchor_dir = tempfile::tempdir().expect("tempdir");
    let anchor_store = reservnod::store::Store::open(anchor_dir.path()).expect("store");
    let start = Instant::now();
    for chunk in events.chunks(1000) {
        let admitted = reservnod::node::ingest::admit(&roster, chunk, None);
        anchor_store.insert(&admitted.accepted).expect("insert");
    }
    let verify_store = n as f64 / start.elapsed().as_secs_f64();
    drop(anchor_store);
    let a = format!(
        "\n## (a) Physical anchors\n\n- raw quinn bulk throughput over loopback (512 MiB, one stream, same TLS): **{quinn_mb:.0} MB/s**\n- verify + authorize + store durably from memory, batches of 1,000, one thread: **{verify_store:.0} events/s** ({:.1} MB/s of {:.0}-byte events)\n",
        verify_store * event_bytes as f64 / n as f64 / 1e6,
        event_bytes as f64 / n as f64
    );
    println!("{a}");
    report.push_str(&a);

    // (b) Full resync from a node holding n events to an empty one.
    {
        let store = DataDir::new(&d0).open_store().expect("store");
        for chunk in events.chunks(1000) {
            let admitted = reservnod::node::ingest::admit(&roster, chunk, None);
            store.insert(&admitted.accepted).expect("insert");
        }
    }
    drop(events);
    let rss_before = peak_rss_mb("self");
    let ((s0, a0), (s1, a1)) = (bind(), bind());
    let source = start_node(&d0, s0, a0, &[]).await;
    let cpu0 = cpu_s("self");
    let t0 = Instant::now();
    let empty = start_node(&d1, s1, a1, &[a0]).await;
    // The n clinical events themselves: the store's total also counts the Delivered receipt
    // the receiver writes for each, which would end the wait at about half the transfer.
    let clinical = || empty.handle.count_of(EventClass::Clinical);
    while clinical() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "resync did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_b = cpu_s("self") - cpu0;
    let receipts = empty.handle.count_of(EventClass::Receipt);
    let rate = n as f64 / secs;
    let b = format!(
        "\n## (b) Full resync of {n} events to an empty node\n\n- **{rate:.0} events/s**, **{:.1} MB/s**, {secs:.1} s in all (connect, reconcile, transfer, verify, open, store; the receiver also wrote {receipts} Delivered receipts, each signed, verified and stored with its event, and sent back)\n- CPU time of both nodes (one process): {cpu_b:.1} s, **{:.0} µs per event** (work done, which load on the machine moves far less than the wall time)\n- ratio to the verify-and-store anchor: **{:.2}**; to raw quinn: {:.3}\n- peak resident memory of the whole benchmark process: {:.0} MB (before the resync: {rss_before:.0} MB; the events were generated in this process)\n- targets: ≥ 70 % of the anchor ({}), ≥ 30,000 events/s ({})\n",
        rate * event_bytes as f64 / n as f64 / 1e6,
        cpu_b * 1e6 / n as f64,
        rate / verify_store,
        rate * event_bytes as f64 / n as f64 / 1e6 / quinn_mb,
        peak_rss_mb("self"),
        if rate >= 0.7 * verify_store { "met" } else { "missed" },
        if rate >= 30_000.0 { "met" } else { "missed" },
    );
    println!("{b}");
    report.push_str(&b);
    empty.stop().await;

    // (b') The same resync into a separate `reservnod run` process, to measure what a
    // catching-up node holds in memory against the size of what it receives.
    let d2 = r.nodes[2].dir.clone();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cfg_path = r.root.path().join("receiver.toml");
    std::fs::write(&cfg_path, format!("data_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\nstatic_peers = [\"{a0}\"]\ndiscovery = false\nlog = \"warn\"\n", d2.display())).expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(["run", "--config"])
        .arg(&cfg_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn receiver");
    let pid = child.id();
    let self_cpu0 = cpu_s("self");
    let t0 = Instant::now();
    let hwm = || peak_rss_mb(&pid.to_string());
    loop {
        // Clinical events only: the source also holds the receipts of (b).
        if reservnod::daemon::DaemonStatus::read_fresh(&d2).is_some_and(|s| {
            s.store
                .by_class
                .iter()
                .any(|(c, k)| c == EventClass::Clinical.name() && *k >= n)
        }) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "process resync did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let receiver_peak = hwm();
    let receiver_cpu = cpu_s(&pid.to_string());
    let sender_cpu = cpu_s("self") - self_cpu0;
    let secs2 = t0.elapsed().as_secs_f64();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let b2 = format!(
        "\n## (b') The same resync into a separate `reservnod run` process\n\n- {:.0} events/s; peak resident memory of the receiving process: **{receiver_peak:.0} MB** for {:.0} MB of events received (its sled cache is capped at 128 MiB; events are verified and stored one batch at a time)\n- CPU time: receiving process {receiver_cpu:.1} s (**{:.0} µs per event**; not its unit's, so nothing opened and no receipts), sending node {sender_cpu:.1} s\n",
        n as f64 / secs2,
        (n * event_bytes / n.max(1)) as f64 / 1e6,
        receiver_cpu * 1e6 / n as f64,
    );
    println!("{b2}");
    report.push_str(&b2);
    source.stop().await;

    // (c) Reconciliation of two 1,000,000-key sets differing by 1,000 on each side.
    let key = |i: u64| -> Key {
        (
            Hlc {
                wall_ms: 1_795_000_000_000 + i * 7,
                logical: 0,
            },
            EventId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
        )
    };
    let mut a_keys: Vec<Key> = (0..1_000_000u64).map(key).collect();
    let mut b_keys = a_keys.clone();
    let only_a: Vec<Key> = (2_000_000..2_001_000u64).map(key).collect();
    let only_b: Vec<Key> = (3_000_000..3_001_000u64).map(key).collect();
    // Drop 1,000 shared keys from each side and add 1,000 new ones, spread over the set.
    for i in 0..1_000usize {
        a_keys[i * 997 + 3].1 = only_a[i].1;
        b_keys[i * 991 + 500].1 = only_b[i].1;
    }
    a_keys.sort();
    b_keys.sort();
    let expected = {
        let (sa, sb): (std::collections::HashSet<_>, std::collections::HashSet<_>) =
            (a_keys.iter().collect(), b_keys.iter().collect());
        sa.symmetric_difference(&sb).count()
    };
    let t = Instant::now();
    let mut bytes = 0usize;
    // Where the bytes go: id lists versus fingerprinted ranges.
    let (mut id_bytes, mut fp_ranges, mut id_ranges) = (0usize, 0usize, 0usize);
    let (ra, rb, messages) =
        reservnod_proto::testkit::run_session(a_keys, b_keys, usize::MAX, |m| {
            bytes += reservnod_proto::codec::encode::<_, { usize::MAX }>(m)
                .expect("encode")
                .len();
            for r in &m.ranges {
                match &r.mode {
                    reservnod_proto::reconcile::Mode::IdList(ids) => {
                        id_bytes += 32 * ids.len();
                        id_ranges += 1;
                    }
                    reservnod_proto::reconcile::Mode::Fingerprint(_) => fp_ranges += 1,
                    reservnod_proto::reconcile::Mode::Skip => {}
                }
            }
        });
    let wall = t.elapsed();
    let found = ra.have().len() + ra.need().len() + rb.have().len() + rb.need().len();
    let c = format!(
        "\n## (c) Reconciliation of two stores of 1,000,000 events differing by 1,000 on each side\n\n- **{} bytes** exchanged ({:.2} MB), **{messages} messages** ({} round trips), **{:.0} ms** of computation for both sides (in one process; each round trip on loopback adds well under 1 ms)\n- differences found: {found} of the {expected} in A Δ B (each counted by whichever side learned it)
- where the bytes went: {id_bytes} bytes of ids in {id_ranges} id lists; {fp_ranges} fingerprinted ranges (about {} bytes each with their bounds)\n- targets: under 1 s ({}), under 1 MB ({})\n",
        bytes,
        bytes as f64 / 1e6,
        messages.div_ceil(2),
        wall.as_secs_f64() * 1000.0,
        (bytes - id_bytes) / fp_ranges.max(1),
        if wall < Duration::from_secs(1) { "met" } else { "missed" },
        if bytes < 1_000_000 { "met" } else { "missed" },
    );
    println!("{c}");
    report.push_str(&c);

    // (d) 20-node mesh: time from a write until stored on all.
    if std::env::var_os("RESERVNOD_BENCH_SKIP_D").is_none() {
        let r = region(20, 0);
        let roster = r.admin.roster.clone();
        let socks: Vec<_> = (0..20).map(|_| bind()).collect();
        let addrs: Vec<SocketAddr> = socks.iter().map(|(_, a)| *a).collect();
        // A ring plus two chords per node: every node has 3–4 peers, the graph is connected.
        let mut nodes = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for (i, (sock, addr)) in socks.into_iter().enumerate() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut peers = vec![addrs[(i + 1) % 20]];
            let chord = addrs[(i + 2 + (seed % 16) as usize) % 20];
            if chord != addr && !peers.contains(&chord) && i % 2 == 0 {
                peers.push(chord);
            }
            nodes.push(start_node(&r.nodes[i].dir, sock, addr, &peers).await);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut latencies = Vec::new();
        for w in 0..200usize {
            let from = w % 20;
            let to_unit = r.nodes[(from + 7) % 20].unit.clone();
            let ev = clinical_event(
                &r.nodes[from].dir,
                &roster,
                std::slice::from_ref(&to_unit),
                "mätning",
                nodes[from].handle.tick(),
                Priority::Normal,
            );
            let id = ev.id();
            let t = Instant::now();
            nodes[from].handle.write(vec![ev]).await.expect("write");
            while !nodes.iter().all(|n| n.handle.has(&id)) {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "write {w} did not reach every node"
                );
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        let d = format!(
            "\n## (d) 20-node mesh on loopback (ring plus chords, 3–4 peers per node)\n\n- time from a write on one node until it is stored on all 20, over 200 writes: **p50 {p50:.1} ms, p99 {p99:.1} ms** (max {:.1} ms)\n- includes the durable write on every node (each flushes before forwarding)\n- target: p99 under 200 ms ({})\n",
            latencies[latencies.len() - 1],
            if p99 < 200.0 { "met" } else { "missed" },
        );
        println!("{d}");
        report.push_str(&d);
        for n in nodes {
            n.stop().await;
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks/replication.md");
    std::fs::write(&path, report).expect("write the report");
    println!("report written to {}", path.display());
}
