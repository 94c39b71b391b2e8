//! A flood of QUIC Initials that never complete a handshake, from one address that holds no
//! admitted key, while an admitted node connects: it gets in, and memory stays bounded. Its
//! own test binary, so the counting allocator sees this test alone.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use reservnod::files::datadir::DataDir;
use reservnod::mesh::tls::{self, NodeIdentity};
use reservnod::node::Admission;
use support::{bind, connected, region, start_node, wait_for};

#[global_allocator]
static ALLOC: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// The daemons, their QUIC state for the flood, and this test's own Initials.
const PEAK_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Initials sent at once before the admitted node dials, then more every few milliseconds
/// for as long as the test runs, so the flood never lets up on its own.
const BURST: usize = 2_000;

/// The client config of a node key the roster does not hold.
fn stranger_client(dir: &std::path::Path, roster: reservnod_proto::Roster) -> quinn::ClientConfig {
    let key = DataDir::new(dir).node_key().expect("key");
    let identity = NodeIdentity::new(&key).expect("identity");
    let (_, client_tls) = tls::rustls_configs(&identity, Admission::new(roster)).expect("tls");
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("quic tls");
    quinn::ClientConfig::new(Arc::new(crypto))
}

/// Sends Initials, each of a new connection, from one UDP socket that never reads: no
/// handshake (and no Retry) is ever answered; `sent` counts them.
fn flood(
    target: SocketAddr,
    client: quinn::ClientConfig,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind flood socket");
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut endpoint = None;
    let mut n = 0usize;
    // Bounded in count and time whatever the daemon does.
    while !stop.load(Ordering::Relaxed)
        && started.elapsed() < Duration::from_secs(90)
        && n < 200_000
    {
        // A fresh endpoint now and then, so this side's own bookkeeping stays small.
        if n.is_multiple_of(100) {
            endpoint = Some(quinn_proto::Endpoint::new(
                Arc::new(quinn_proto::EndpointConfig::default()),
                None,
                false,
                None,
            ));
        }
        let ep = endpoint.as_mut().expect("endpoint");
        let now = Instant::now();
        let (_, mut conn) = ep
            .connect(now, client.clone(), target, tls::SERVER_NAME)
            .expect("connect");
        buf.clear();
        if let Some(t) = conn.poll_transmit(now, 1, &mut buf) {
            let _ = socket.send_to(&buf[..t.size], target);
            sent.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        if n >= BURST {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admitted_node_gets_in_during_a_handshake_flood() {
    let r = region(2, 1);
    let (sock_a, addr_a) = bind();
    let baseline = ALLOC.allocated();
    let a = start_node(&r.nodes[0].dir, sock_a, addr_a, &[]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooder = {
        let client = stranger_client(&r.nodes[2].dir, r.admin.roster.clone());
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || flood(addr_a, client, stop, sent))
    };
    // The burst is out before the admitted node dials.
    let burst_at = Instant::now();
    while sent.load(Ordering::Relaxed) < BURST as u64 {
        assert!(
            burst_at.elapsed() < Duration::from_secs(30),
            "the flood did not get its burst out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (sock_b, addr_b) = bind();
    let b = start_node(&r.nodes[1].dir, sock_b, addr_b, &[addr_a]).await;
    let (dir_a, id_b) = (r.nodes[0].dir.clone(), r.nodes[1].id);
    let s = tokio::task::spawn_blocking(move || {
        // The flood never stops, so on a node whose handshake slots it can hold this never
        // happens at all.
        wait_for(
            &dir_a,
            Duration::from_secs(30),
            "the admitted node connected during the flood",
            |s| connected(s, &id_b),
        )
    })
    .await
    .expect("join");
    let flooded = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    flooder.join().expect("flood thread");
    eprintln!("initials sent: {flooded}; counters: {:?}", s.counters);
    assert!(
        s.counters.retries_sent > 0,
        "the flood was met with address validation: {:?}",
        s.counters
    );
    let peak = ALLOC.max_allocated().saturating_sub(baseline);
    eprintln!("peak allocation during the flood: {peak} bytes (bound {PEAK_BYTES_MAX})");
    assert!(
        peak <= PEAK_BYTES_MAX,
        "peak allocation {peak} exceeds {PEAK_BYTES_MAX}"
    );
    b.stop().await;
    a.stop().await;
}
