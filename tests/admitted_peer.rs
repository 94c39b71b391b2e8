//! What an admitted peer can make a node compute: new reconciliation sessions (each a
//! snapshot of the key space) are limited per peer, and a roster frame is compared by its
//! claimed version before anything is verified; one that claims to be newer and fails
//! verification closes the connection.

mod support;

use std::time::Duration;

use reservnod::files::datadir::DataDir;
use reservnod::mesh::{close, tls};
use reservnod_proto::frame::{Frame, FrameDecoder, Hello, Scope, PROTOCOL_VERSION};
use reservnod_proto::reconcile::Reconciler;
use reservnod_proto::Hlc;
use support::{bind, client, region, start_node, wait_for};

/// A connection that has sent its hello and read the daemon's.
struct Raw {
    conn: quinn::Connection,
    tx: quinn::SendStream,
    rx: quinn::RecvStream,
    decoder: FrameDecoder,
}

impl Raw {
    async fn open(
        ep: &quinn::Endpoint,
        addr: std::net::SocketAddr,
        dir: &std::path::Path,
        roster: u64,
    ) -> Raw {
        let conn = ep
            .connect(addr, tls::SERVER_NAME)
            .expect("connect")
            .await
            .expect("handshake");
        let (tx, rx) = conn.open_bi().await.expect("stream");
        let mut raw = Raw {
            conn,
            tx,
            rx,
            decoder: FrameDecoder::new(),
        };
        let node = DataDir::new(dir).node_key().expect("key").id();
        raw.send(Frame::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            roster_version: roster,
            node,
            hlc: Hlc::default(),
        }))
        .await;
        assert!(
            raw.until(|f| matches!(f, Frame::Hello(_))).await,
            "the daemon's hello"
        );
        raw
    }

    async fn send(&mut self, frame: Frame) {
        self.tx
            .write_all(&frame.encode().expect("encode"))
            .await
            .expect("write");
    }

    /// Reads frames until one matches (true) or the stream ends or 10 s pass (false).
    async fn until(&mut self, want: impl Fn(&Frame) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let chunk = match tokio::time::timeout_at(deadline, self.rx.read_chunk(64 * 1024, true))
                .await
            {
                Ok(Ok(Some(chunk))) => chunk,
                _ => return false,
            };
            let frames = self
                .decoder
                .decode_all(&chunk.bytes)
                .expect("daemon frames decode");
            if frames.iter().any(&want) {
                return true;
            }
        }
    }

    /// The application close code the daemon ends the connection with, within 15 s.
    async fn close_code(&self) -> Option<u64> {
        match tokio::time::timeout(Duration::from_secs(15), self.conn.closed()).await {
            Ok(quinn::ConnectionError::ApplicationClosed(c)) => Some(c.error_code.into_inner()),
            _ => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_reconciliation_sessions_are_limited_per_peer() {
    let r = region(2, 0);
    let (sock, addr) = bind();
    let node = start_node(&r.nodes[0].dir, sock, addr, &[]).await;
    let ep = client(&r.nodes[1].dir, r.admin.roster.clone());
    let mut raw = Raw::open(&ep, addr, &r.nodes[1].dir, r.admin.roster.version).await;
    let message = Reconciler::new(Vec::new()).initiate();
    // An honest dialler starts two sessions per reconcile interval (at least 1 s); this one
    // starts a new one per frame.
    for session in 1..=40u64 {
        raw.send(Frame::Reconcile {
            scope: Scope::All,
            session,
            message: message.clone(),
        })
        .await;
    }
    assert_eq!(
        raw.close_code().await,
        Some(u64::from(close::PROTOCOL)),
        "a peer starting session after session is closed"
    );
    let dir = r.nodes[0].dir.clone();
    tokio::task::spawn_blocking(move || {
        wait_for(
            &dir,
            Duration::from_secs(10),
            "the violation counted",
            |s| s.counters.protocol_violations >= 1,
        )
    })
    .await
    .expect("join");
    ep.close(0u32.into(), b"done");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_roster_is_set_aside_unverified_and_a_forged_newer_one_closes() {
    let mut r = region(2, 0);
    let (sock, addr) = bind();
    let node = start_node(&r.nodes[0].dir, sock, addr, &[]).await;
    let ep = client(&r.nodes[1].dir, r.admin.roster.clone());
    let version = r.admin.roster.version;
    let mut raw = Raw::open(&ep, addr, &r.nodes[1].dir, version).await;

    // A replay of the current roster with a broken signature: not newer, so never verified
    // (verifying it would fail) and the connection goes on: the next ping is answered.
    let mut stale = r.admin.signed().expect("signed");
    stale.sig[0] ^= 1;
    for _ in 0..50 {
        raw.send(Frame::Roster(stale.clone())).await;
    }
    raw.send(Frame::Ping {
        nonce: 7,
        hlc: Hlc::default(),
    })
    .await;
    assert!(
        raw.until(|f| matches!(f, Frame::Pong { nonce: 7, .. }))
            .await,
        "the connection goes on after stale rosters"
    );

    // One that claims to be newer is verified, and a forgery ends the connection.
    r.admin.roster.version = version + 1;
    let mut forged = r.admin.signed().expect("signed");
    forged.sig[0] ^= 1;
    raw.send(Frame::Roster(forged)).await;
    assert_eq!(raw.close_code().await, Some(u64::from(close::PROTOCOL)));
    let dir = r.nodes[0].dir.clone();
    let s = tokio::task::spawn_blocking(move || {
        wait_for(
            &dir,
            Duration::from_secs(10),
            "the violation counted",
            |s| s.counters.protocol_violations >= 1,
        )
    })
    .await
    .expect("join");
    assert_eq!(
        s.roster_version, version,
        "the forged roster was not installed"
    );
    ep.close(0u32.into(), b"done");
    node.stop().await;
}
