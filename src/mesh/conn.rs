//! One connection's life.
//!
//! The dialer opens the single control stream; both sides send a [`Hello`] first and must
//! receive the peer's within [`HELLO_TIMEOUT`]. The hello's node id must be the TLS key and
//! its protocol version ours, or the connection closes with a reason both sides log. The side
//! with the older roster is sent the newer one. Then pings measure round-trip time and clock
//! offset, and every roster change is checked: a peer no longer admitted is closed at once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use reservnod_proto::frame::{Frame, FrameDecoder, FrameError, Hello, PROTOCOL_VERSION};
use reservnod_proto::NodeId;
use tokio::time::timeout;

use super::{close, tls, FRAME_TIMEOUT, HELLO_TIMEOUT, PING_INTERVAL, READ_CHUNK_BYTES};
use crate::daemon::Shared;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The QUIC connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Reading the control stream failed.
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing the control stream failed.
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// The peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The peer closed the control stream.
    #[error("the peer closed the stream")]
    Finished,
}

impl From<FrameError> for ConnError {
    fn from(e: FrameError) -> Self {
        ConnError::Protocol(e.to_string())
    }
}

/// Reads frames from a stream with bounded buffering and a per-frame deadline.
struct FrameReader {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    ready: VecDeque<Frame>,
}

impl FrameReader {
    fn new(recv: quinn::RecvStream) -> Self {
        FrameReader {
            recv,
            decoder: FrameDecoder::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next frame. Once a frame has begun it must be complete within [`FRAME_TIMEOUT`].
    async fn next(&mut self) -> Result<Frame, ConnError> {
        let mut frame_started: Option<Instant> = None;
        loop {
            if let Some(f) = self.ready.pop_front() {
                return Ok(f);
            }
            if self.decoder.buffered() > 0 && frame_started.is_none() {
                frame_started = Some(Instant::now());
            }
            let chunk = match frame_started {
                None => self.recv.read_chunk(READ_CHUNK_BYTES, true).await?,
                Some(started) => {
                    let left = FRAME_TIMEOUT.saturating_sub(started.elapsed());
                    timeout(left, self.recv.read_chunk(READ_CHUNK_BYTES, true))
                        .await
                        .map_err(|_| {
                            ConnError::Protocol(format!(
                                "a frame did not complete within {} s",
                                FRAME_TIMEOUT.as_secs()
                            ))
                        })??
                }
            };
            let Some(chunk) = chunk else {
                return Err(ConnError::Finished);
            };
            let mut rest = &chunk.bytes[..];
            // The chunk is at most READ_CHUNK_BYTES, so `ready` holds at most that many frames.
            while !rest.is_empty() {
                let took = self.decoder.push(rest);
                rest = &rest[took..];
                while let Some(f) = self.decoder.poll()? {
                    self.ready.push_back(f);
                    frame_started = None;
                }
            }
        }
    }
}

/// How long a goodbye is given to reach the peer before the connection is closed.
const GOODBYE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends a goodbye, finishes the stream and waits (briefly) until the peer has it, then
/// closes: closing at once would discard the goodbye, and the peer would not learn why.
async fn goodbye(
    conn: &quinn::Connection,
    stream: &mut quinn::SendStream,
    code: u32,
    reason: &str,
) {
    if send(
        stream,
        &Frame::Goodbye {
            reason: truncate(reason),
        },
    )
    .await
    .is_ok()
        && stream.finish().is_ok()
    {
        let _ = timeout(GOODBYE_LINGER, stream.stopped()).await;
    }
    conn.close(code.into(), truncate(reason).as_bytes());
}

async fn send(stream: &mut quinn::SendStream, frame: &Frame) -> Result<(), ConnError> {
    let bytes = frame
        .encode()
        .map_err(|e| ConnError::Protocol(format!("cannot encode own frame: {e}")))?;
    stream.write_all(&bytes).await?;
    Ok(())
}

fn peer_node(conn: &quinn::Connection) -> Result<NodeId, ConnError> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| ConnError::Protocol("no peer certificate".into()))?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .map_err(|_| ConnError::Protocol("unexpected peer identity type".into()))?;
    let cert = certs
        .first()
        .ok_or_else(|| ConnError::Protocol("empty certificate chain".into()))?;
    tls::node_id_of(cert).map_err(ConnError::Protocol)
}

/// Runs an established connection until it ends; returns why it ended.
pub async fn run(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    dialed: bool,
) -> Result<(), ConnError> {
    let peer = peer_node(&conn)?;
    let addr = conn.remote_address();
    let Some(registration) = shared.register(peer, &conn, dialed) else {
        conn.close(close::DUPLICATE.into(), b"duplicate connection");
        return Ok(());
    };
    let result = drive(&shared, &conn, peer, addr, dialed).await;
    shared.unregister(peer, registration);
    if let Err(e) = &result {
        match e {
            ConnError::Protocol(reason) => {
                shared.peers().counters.protocol_violations += 1;
                tracing::warn!(peer = %peer, %addr, %reason, "closing the connection: protocol violation");
                conn.close(close::PROTOCOL.into(), truncate(reason).as_bytes());
            }
            other => tracing::info!(peer = %peer, %addr, reason = %other, "connection ended"),
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

async fn drive(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    peer: NodeId,
    addr: SocketAddr,
    dialed: bool,
) -> Result<(), ConnError> {
    // Subscribe before anything else: a roster change after the TLS check must not be missed.
    let mut roster_changes = shared.roster_changes();
    let (mut tx, rx) = if dialed {
        conn.open_bi().await?
    } else {
        timeout(HELLO_TIMEOUT, conn.accept_bi())
            .await
            .map_err(|_| {
                ConnError::Protocol("no control stream within the hello timeout".into())
            })??
    };
    let mut reader = FrameReader::new(rx);
    let roster = shared.admission.roster();
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        roster_version: roster.version,
        node: shared.node,
        hlc: shared.tick(),
    };
    send(&mut tx, &Frame::Hello(hello)).await?;
    let theirs = match timeout(HELLO_TIMEOUT, reader.next()).await {
        Err(_) => {
            return Err(ConnError::Protocol(
                "no hello within the hello timeout".into(),
            ))
        }
        Ok(frame) => match frame? {
            Frame::Hello(h) => h,
            other => {
                return Err(ConnError::Protocol(format!(
                    "expected a hello, got {}",
                    frame_name(&other)
                )))
            }
        },
    };
    if theirs.protocol_version != PROTOCOL_VERSION {
        let reason = format!(
            "incompatible protocol version {} (this node speaks {PROTOCOL_VERSION})",
            theirs.protocol_version
        );
        tracing::error!(peer = %peer, %addr, %reason, "refusing peer");
        goodbye(conn, &mut tx, close::VERSION, &reason).await;
        return Ok(());
    }
    if theirs.node != peer {
        return Err(ConnError::Protocol(
            "hello names a node other than the TLS key".into(),
        ));
    }
    // Admission again: the roster may have changed since the handshake checked it.
    let roster = shared.admission.roster();
    if let Err(reason) = shared.admission.check(&peer) {
        shared.peers().counters.revoked_closed += 1;
        tracing::warn!(peer = %peer, %addr, %reason, "closing the connection: peer no longer admitted");
        goodbye(conn, &mut tx, close::NOT_ADMITTED, &reason).await;
        return Ok(());
    }
    shared.peers().connected(
        peer,
        &roster,
        addr,
        dialed,
        crate::clock::now_ms(),
        theirs.roster_version,
    );
    tracing::info!(peer = %peer, %addr, direction = if dialed { "out" } else { "in" }, roster = theirs.roster_version, "peer connected");
    let mut their_roster = theirs.roster_version;
    if their_roster < roster.version {
        send(&mut tx, &Frame::Roster(shared.signed_roster()?)).await?;
        their_roster = roster.version;
    }

    let mut shutdown = shared.shutdown_signal();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    let mut pending_ping: Option<(u64, Instant, u64)> = None;
    let mut skew_warned = false;
    loop {
        tokio::select! {
            frame = reader.next() => {
                let frame = match frame {
                    Err(ConnError::Finished) => return Ok(()),
                    other => other?,
                };
                shared.peers().seen(&peer, crate::clock::now_ms());
                match frame {
                    Frame::Ping { nonce, hlc } => {
                        shared.observe(hlc);
                        send(&mut tx, &Frame::Pong { nonce, hlc: shared.tick() }).await?;
                    }
                    Frame::Pong { nonce, hlc } => {
                        if let Some((expected, sent_at, sent_ms)) = pending_ping.take() {
                            if nonce == expected {
                                let rtt = sent_at.elapsed();
                                let midpoint = sent_ms + (rtt.as_millis() as u64) / 2;
                                let offset = hlc.wall_ms as i64 - midpoint as i64;
                                shared.peers().pinged(&peer, rtt.as_secs_f64() * 1000.0, offset, crate::clock::now_ms());
                                if offset.unsigned_abs() > shared.clock_skew_warn_ms && !skew_warned {
                                    skew_warned = true;
                                    tracing::warn!(peer = %peer, offset_ms = offset, "peer clock differs from ours beyond the configured bound");
                                }
                            }
                        }
                        shared.observe(hlc);
                    }
                    Frame::Roster(signed) => {
                        match shared.offer_roster(&signed) {
                            Ok(Some(v)) => { their_roster = their_roster.max(v); tracing::info!(peer = %peer, version = v, "installed a newer roster from a peer"); }
                            Ok(None) => {}
                            Err(reason) => tracing::warn!(peer = %peer, %reason, "refused a roster from a peer"),
                        }
                    }
                    Frame::Goodbye { reason } => {
                        tracing::warn!(peer = %peer, reason = %truncate(&reason), "the peer closed the connection");
                        return Ok(());
                    }
                    Frame::Hello(_) => return Err(ConnError::Protocol("a second hello".into())),
                    Frame::Events(events) => {
                        // Replication is not part of the mesh layer yet; count and drop.
                        tracing::debug!(peer = %peer, n = events.len(), "events frame ignored: replication not enabled");
                    }
                }
            }
            _ = ping.tick() => {
                let nonce = shared.next_nonce();
                pending_ping = Some((nonce, Instant::now(), crate::clock::now_ms()));
                send(&mut tx, &Frame::Ping { nonce, hlc: shared.tick() }).await?;
            }
            changed = roster_changes.changed() => {
                if changed.is_err() { return Ok(()); }
                if let Err(reason) = shared.admission.check(&peer) {
                    shared.peers().counters.revoked_closed += 1;
                    tracing::warn!(peer = %peer, %addr, %reason, "closing the connection: peer no longer admitted");
                    goodbye(conn, &mut tx, close::NOT_ADMITTED, &reason).await;
                    return Ok(());
                }
                let current = shared.admission.roster();
                if their_roster < current.version {
                    send(&mut tx, &Frame::Roster(shared.signed_roster()?)).await?;
                    their_roster = current.version;
                }
            }
            _ = shutdown.changed() => {
                goodbye(conn, &mut tx, close::SHUTDOWN, "shutting down").await;
                return Ok(());
            }
            reason = conn.closed() => {
                return Err(ConnError::Connection(reason));
            }
        }
    }
}

fn frame_name(f: &Frame) -> &'static str {
    match f {
        Frame::Hello(_) => "hello",
        Frame::Events(_) => "events",
        Frame::Roster(_) => "roster",
        Frame::Ping { .. } => "ping",
        Frame::Pong { .. } => "pong",
        Frame::Goodbye { .. } => "goodbye",
    }
}
