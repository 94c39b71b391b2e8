//! Hostile peers against one daemon: garbage, a 4 GiB length prefix, an over-limit frame, a
//! slow-loris, a wrong protocol version, endless stream openings and a connection flood.
//! Each is closed and counted, the daemon keeps serving, and peak memory stays bounded. Its
//! own test binary, so the counting allocator sees this test alone.

mod support;

use std::time::Duration;

use cap::Cap;
use reservnod::files::datadir::DataDir;
use reservnod::mesh::close;
use reservnod::mesh::tls;
use reservnod_proto::frame::{Frame, FrameDecoder, Hello};
use reservnod_proto::limits::FRAME_BYTES_MAX;
use reservnod_proto::Hlc;
use support::{bind, client, config, region, wait_for};

#[global_allocator]
static ALLOC: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// The daemon, its QUIC buffers for every hostile connection, and this test's own client.
const PEAK_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Connects, opens the control stream, writes `bytes`, and returns the close code the
/// daemon ends the connection with.
async fn close_code_after(
    ep: &quinn::Endpoint,
    addr: std::net::SocketAddr,
    bytes: &[u8],
) -> Option<u64> {
    let conn = ep
        .connect(addr, tls::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (mut tx, _rx) = conn.open_bi().await.expect("stream");
    let _ = tx.write_all(bytes).await;
    match tokio::time::timeout(Duration::from_secs(15), conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => Some(c.error_code.into_inner()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_closed_counted_and_memory_stays_bounded() {
    let r = region(2, 0);
    let (sock, addr) = bind();
    let cfg = config(&r.nodes[0].dir, addr, &[], "");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(reservnod::daemon::run(cfg, sock, async move {
        let _ = rx.await;
    }));
    let baseline = ALLOC.allocated();
    let ep = client(&r.nodes[1].dir, r.admin.roster.clone());
    let protocol = u64::from(close::PROTOCOL);

    assert_eq!(
        close_code_after(&ep, addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await,
        Some(protocol),
        "garbage"
    );
    assert_eq!(
        close_code_after(&ep, addr, &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]).await,
        Some(protocol),
        "4 GiB prefix"
    );
    let mut over = ((FRAME_BYTES_MAX + 1) as u32).to_be_bytes().to_vec();
    over.extend(std::iter::repeat_n(0u8, 64 * 1024));
    assert_eq!(
        close_code_after(&ep, addr, &over).await,
        Some(protocol),
        "over-limit frame"
    );
    // Slow-loris: two bytes of a length prefix, then nothing.
    assert_eq!(
        close_code_after(&ep, addr, &[0, 0]).await,
        Some(protocol),
        "slow-loris"
    );

    // A hello with another protocol version: a goodbye that says why, then the version code.
    let conn = ep
        .connect(addr, tls::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (mut tx, mut rx) = conn.open_bi().await.expect("stream");
    let node = DataDir::new(&r.nodes[1].dir).node_key().expect("key").id();
    let hello = Frame::Hello(Hello {
        protocol_version: 99,
        roster_version: 1,
        node,
        hlc: Hlc::default(),
    });
    tx.write_all(&hello.encode().expect("encode"))
        .await
        .expect("write");
    let mut decoder = FrameDecoder::new();
    let mut got = Vec::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_secs(10), rx.read_chunk(64 * 1024, true)).await
    {
        got.extend(
            decoder
                .decode_all(&chunk.bytes)
                .expect("daemon frames decode"),
        );
        if got.iter().any(|f| matches!(f, Frame::Goodbye { .. })) {
            break;
        }
    }
    let reason = got.iter().find_map(|f| match f {
        Frame::Goodbye { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("incompatible protocol version 99")),
        "{got:?}"
    );
    match tokio::time::timeout(Duration::from_secs(10), conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close::VERSION))
        }
        other => panic!("expected a version close, got {other:?}"),
    }

    // Endless stream openings: only one stream is ever allowed; the rest wait on flow control.
    let conn = ep
        .connect(addr, tls::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let mut opened = 0;
    for _ in 0..200 {
        if let Ok(Ok(_s)) = tokio::time::timeout(Duration::from_millis(5), conn.open_bi()).await {
            opened += 1;
        }
    }
    assert!(opened <= 1, "the daemon let a peer open {opened} streams");
    conn.close(0u32.into(), b"done");

    // A flood of connections that never speak: bounded by the connection limit and timeouts.
    let mut flood = Vec::new();
    for _ in 0..100 {
        if let Ok(Ok(c)) = tokio::time::timeout(
            Duration::from_secs(2),
            ep.connect(addr, tls::SERVER_NAME).expect("connect"),
        )
        .await
        {
            flood.push(c);
        }
    }
    drop(flood);

    let dir = r.nodes[0].dir.clone();
    let s = tokio::task::spawn_blocking(move || {
        wait_for(&dir, Duration::from_secs(20), "violations counted", |s| {
            s.counters.protocol_violations >= 4
        })
    })
    .await
    .expect("join");
    assert!(s.running, "the daemon is still serving");
    let peak = ALLOC.max_allocated().saturating_sub(baseline);
    eprintln!("peak allocation during the hostile session: {peak} bytes (bound {PEAK_BYTES_MAX})");
    assert!(
        peak <= PEAK_BYTES_MAX,
        "peak allocation {peak} exceeds {PEAK_BYTES_MAX}"
    );
    let _ = stop.send(());
    daemon
        .await
        .expect("join")
        .expect("clean shutdown after the hostile session");
}
