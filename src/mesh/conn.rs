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

use reservnod_proto::frame::{
    Frame, FrameDecoder, FrameError, Hello, Scope, PROTOCOL_VERSION, WANT_IDS_MAX,
};
use reservnod_proto::reconcile::{self, Reconciler};
use reservnod_proto::NodeId;
use tokio::time::timeout;

use super::{close, tls};
use crate::limits::{
    FRAME_TIMEOUT, GOODBYE_LINGER, HELLO_TIMEOUT, PENDING_ANNOUNCED_MAX, PING_INTERVAL,
    READ_CHUNK_BYTES, SESSION_STALL,
};
use crate::node::Node;
use crate::replication::Outbox;

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

/// The goodbye reason of an orderly shutdown (logged as info by the peer, not as a warning).
pub(crate) const SHUTDOWN_REASON: &str = "shutting down";

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

/// Runs an established connection until it ends.
pub async fn run(
    shared: Arc<Node>,
    conn: quinn::Connection,
    dialed: bool,
) -> Result<(), ConnError> {
    let (peer, instance) = tls::peer_identity(&conn).map_err(ConnError::Protocol)?;
    let addr = conn.remote_address();
    let (outbox, control_rx) = Outbox::new();
    let displaced = conn.clone();
    let Some(registration) = shared.register(peer, instance, dialed, outbox.clone(), move || {
        displaced.close(close::DUPLICATE.into(), b"duplicate connection")
    }) else {
        conn.close(close::DUPLICATE.into(), b"duplicate connection");
        return Ok(());
    };
    let mut link = Link {
        shared: shared.clone(),
        conn: conn.clone(),
        peer,
        addr,
        dialed,
        outbox,
        expected: 0,
        refusal_logged: false,
        initiator: None,
        responders: Vec::new(),
    };
    let result = link.drive(control_rx).await;
    shared.sync().arrived(link.expected);
    shared.unregister(peer, registration);
    if let Err(e) = &result {
        match e {
            ConnError::Protocol(reason) => {
                shared.peers().counters.protocol_violations += 1;
                tracing::warn!(peer = %peer, %addr, %reason, "closing the connection: protocol violation");
                conn.close(close::PROTOCOL.into(), truncate(reason).as_bytes());
            }
            ConnError::Connection(e) if super::is_peer_violation(e) => {
                shared.peers().counters.protocol_violations += 1;
                tracing::warn!(peer = %peer, %addr, reason = %e, "connection ended: the peer broke QUIC's rules");
            }
            other => tracing::info!(peer = %peer, %addr, reason = %other, "connection ended"),
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An initiated reconciliation session of this side.
struct Session {
    scope: Scope,
    id: u64,
    started: Instant,
    reconciler: Reconciler,
}

/// One connection's state.
struct Link {
    shared: Arc<Node>,
    conn: quinn::Connection,
    peer: NodeId,
    addr: SocketAddr,
    dialed: bool,
    outbox: Arc<Outbox>,
    /// Events the peer announced or we asked for that have not arrived.
    expected: u64,
    refusal_logged: bool,
    initiator: Option<Session>,
    responders: Vec<(Scope, u64, Reconciler)>,
}

/// Writes one control frame; after a goodbye, finishes the stream and waits briefly for the
/// peer to have it. Returns whether the stream is done.
async fn write_control(tx: &mut quinn::SendStream, frame: Frame) -> Result<bool, ConnError> {
    let bye = matches!(frame, Frame::Goodbye { .. });
    send(tx, &frame).await?;
    if bye && tx.finish().is_ok() {
        let _ = timeout(GOODBYE_LINGER, tx.stopped()).await;
    }
    Ok(bye)
}

/// Writes everything the connection sends: control frames first, then event batches from
/// the outbox. The only owner of the send stream, so reading never waits on writing.
async fn writer(
    shared: Arc<Node>,
    peer: NodeId,
    mut tx: quinn::SendStream,
    mut control: tokio::sync::mpsc::Receiver<Frame>,
    outbox: Arc<Outbox>,
) -> Result<(), ConnError> {
    loop {
        match control.try_recv() {
            Ok(frame) => {
                if write_control(&mut tx, frame).await? {
                    return Ok(());
                }
                continue;
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return Ok(()),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {}
        }
        if outbox.queued() > 0 {
            let (store, ob) = (shared.store.clone(), outbox.clone());
            let batch = tokio::task::spawn_blocking(move || ob.next_batch(&store))
                .await
                .map_err(|e| ConnError::Protocol(format!("store task failed: {e}")))?
                .map_err(|e| ConnError::Protocol(format!("store: {e}")))?;
            if !batch.is_empty() {
                let n = batch.len() as u64;
                send(&mut tx, &Frame::Events(batch)).await?;
                shared
                    .sync()
                    .sent
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                shared.peers().exchanged(&peer, n);
            }
            continue;
        }
        tokio::select! {
            frame = control.recv() => match frame {
                None => return Ok(()),
                Some(frame) => {
                    if write_control(&mut tx, frame).await? {
                        return Ok(());
                    }
                }
            },
            _ = outbox.notify.notified() => {}
        }
    }
}

impl Link {
    fn control(&self, frame: Frame) -> Result<(), ConnError> {
        if self.outbox.control(frame) {
            Ok(())
        } else {
            Err(ConnError::Protocol(
                "the peer does not read what it is sent".into(),
            ))
        }
    }

    /// Sends a goodbye through the writer, waits (briefly) for it to go out, then closes.
    async fn close_with(
        &self,
        writer: &mut tokio::task::JoinHandle<Result<(), ConnError>>,
        code: u32,
        reason: &str,
    ) {
        let _ = self.outbox.control(Frame::Goodbye {
            reason: truncate(reason),
        });
        let _ = timeout(
            GOODBYE_LINGER + std::time::Duration::from_millis(500),
            &mut *writer,
        )
        .await;
        self.conn.close(code.into(), truncate(reason).as_bytes());
    }

    async fn keys(&self, scope: Scope) -> Result<Vec<reconcile::Key>, ConnError> {
        let (shared, peer) = (self.shared.clone(), self.peer);
        tokio::task::spawn_blocking(move || shared.reconcile_keys(&peer, scope == Scope::Urgent))
            .await
            .map_err(|e| ConnError::Protocol(format!("store task failed: {e}")))?
            .map_err(|e| ConnError::Protocol(format!("store: {e}")))
    }

    async fn start_session(&mut self, scope: Scope) -> Result<(), ConnError> {
        let reconciler = Reconciler::new(self.keys(scope).await?);
        let id = self.shared.next_nonce();
        let message = reconciler.initiate();
        self.initiator = Some(Session {
            scope,
            id,
            reconciler,
            started: Instant::now(),
        });
        self.control(Frame::Reconcile {
            scope,
            session: id,
            message,
        })
    }

    /// Acts on what a session round found: queue what the peer lacks, ask for what we lack.
    fn act_on_found(
        &mut self,
        scope: Scope,
        have: Vec<reservnod_proto::EventId>,
        need: Vec<reservnod_proto::EventId>,
    ) -> Result<(), ConnError> {
        let urgent = scope == Scope::Urgent;
        if !have.is_empty() {
            self.control(Frame::Pending {
                events: have.len() as u64,
            })?;
            self.outbox.queue(have, urgent);
        }
        if !need.is_empty() {
            self.expected = self.expected.saturating_add(need.len() as u64);
            self.shared.sync().expect(need.len() as u64);
            for chunk in need.chunks(WANT_IDS_MAX) {
                self.control(Frame::Want {
                    urgent,
                    ids: chunk.to_vec(),
                })?;
            }
        }
        Ok(())
    }

    async fn on_reconcile(
        &mut self,
        scope: Scope,
        session: u64,
        message: reconcile::Message,
    ) -> Result<(), ConnError> {
        if self.dialed {
            // Replies to our own session.
            let Some(s) = self
                .initiator
                .as_mut()
                .filter(|s| s.scope == scope && s.id == session)
            else {
                // A late reply to a session abandoned as stalled: nothing to do.
                tracing::debug!(peer = %self.peer, session, "reconciliation reply for a session no longer open");
                return Ok(());
            };
            let reply = s
                .reconciler
                .reconcile(&message)
                .map_err(|e| ConnError::Protocol(e.to_string()))?;
            let (have, need) = s.reconciler.take_found();
            self.act_on_found(scope, have, need)?;
            match reply {
                Some(m) => self.control(Frame::Reconcile {
                    scope,
                    session,
                    message: m,
                })?,
                None => {
                    self.initiator = None;
                    if scope == Scope::Urgent {
                        self.start_session(Scope::All).await?;
                    } else {
                        self.shared
                            .peers()
                            .synced(&self.peer, crate::clock::now_ms());
                    }
                }
            }
            return Ok(());
        }
        // We respond to the peer's sessions: a new session number starts over.
        let current = self
            .responders
            .iter()
            .position(|(sc, id, _)| *sc == scope && *id == session);
        let index = match current {
            Some(i) => i,
            None => {
                // Each new session takes a snapshot of the key space: bounded per peer.
                if !self.shared.allow_responder_session(&self.peer) {
                    return Err(ConnError::Protocol(format!(
                        "more than {} new reconciliation sessions, or more than one per {} ms",
                        crate::limits::RESPONDER_SESSIONS_BURST,
                        crate::limits::RESPONDER_SESSION_REFILL.as_millis()
                    )));
                }
                let keys = self.keys(scope).await?;
                self.responders.retain(|(sc, _, _)| *sc != scope);
                self.responders
                    .push((scope, session, Reconciler::new(keys)));
                self.responders.len() - 1
            }
        };
        let reconciler = &mut self.responders[index].2;
        let reply = reconciler
            .reconcile(&message)
            .map_err(|e| ConnError::Protocol(e.to_string()))?;
        let (have, need) = reconciler.take_found();
        self.act_on_found(scope, have, need)?;
        let done = reply.is_none();
        // Always answer, so the dialler learns the session is settled.
        let message = reply.unwrap_or_else(|| reconcile::Message {
            ranges: vec![reconcile::Range {
                upper: None,
                mode: reconcile::Mode::Skip,
            }],
        });
        self.control(Frame::Reconcile {
            scope,
            session,
            message,
        })?;
        if done {
            self.responders.remove(index);
            if scope == Scope::All {
                self.shared
                    .peers()
                    .synced(&self.peer, crate::clock::now_ms());
            }
        }
        Ok(())
    }

    async fn on_events(
        &mut self,
        events: Vec<reservnod_proto::SignedEvent>,
    ) -> Result<(), ConnError> {
        let n = events.len() as u64;
        self.shared.peers().exchanged(&self.peer, n);
        let arrived = n.min(self.expected);
        self.expected -= arrived;
        self.shared.sync().arrived(arrived);
        let outcome = self
            .shared
            .ingest(events, Some(self.peer))
            .await
            .map_err(|e| ConnError::Protocol(format!("store: {e}")))?;
        if let Some(reason) = outcome.refused.first() {
            if !self.refusal_logged {
                self.refusal_logged = true;
                tracing::warn!(peer = %self.peer, %reason, refused = outcome.refused.len(), "refused events from a peer (logged once per connection)");
            }
        }
        Ok(())
    }

    async fn drive(
        &mut self,
        control_rx: tokio::sync::mpsc::Receiver<Frame>,
    ) -> Result<(), ConnError> {
        let shared = self.shared.clone();
        let (conn, peer, addr, dialed) = (self.conn.clone(), self.peer, self.addr, self.dialed);
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
            node: shared.id,
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
            goodbye(&conn, &mut tx, close::VERSION, &reason).await;
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
            goodbye(&conn, &mut tx, close::NOT_ADMITTED, &reason).await;
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

        let mut writer_task = tokio::spawn(writer(
            shared.clone(),
            peer,
            tx,
            control_rx,
            self.outbox.clone(),
        ));
        // The writer never outlives its connection (it holds the store through `shared`).
        let _abort_writer = AbortOnDrop(writer_task.abort_handle());
        let mut their_roster = theirs.roster_version;
        if their_roster < roster.version {
            self.control(Frame::Roster(shared.signed_roster()))?;
            their_roster = roster.version;
        }
        if dialed {
            self.start_session(Scope::Urgent).await?;
        }
        let mut shutdown = shared.shutdown_signal();
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let mut resync = tokio::time::interval_at(
            tokio::time::Instant::now() + shared.reconcile_interval,
            shared.reconcile_interval,
        );
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
                            self.control(Frame::Pong { nonce, hlc: shared.tick() })?;
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
                        Frame::Roster(signed) => match shared.offer_roster_blocking(signed).await {
                            Ok(Some(v)) => {
                                their_roster = their_roster.max(v);
                                tracing::info!(peer = %peer, version = v, "installed a newer roster from a peer");
                            }
                            Ok(None) => {}
                            // A peer forwards only rosters it verified against the same admin
                            // key, so one that claims to be newer and does not verify is no
                            // accident; and each costs a full verification.
                            Err(crate::node::RosterRefusal::Forged(reason)) => return Err(ConnError::Protocol(format!("a roster that fails verification: {reason}"))),
                            Err(crate::node::RosterRefusal::Final(reason)) => tracing::warn!(peer = %peer, %reason, "refused a roster from a peer"),
                            Err(crate::node::RosterRefusal::Retry(reason)) => tracing::warn!(peer = %peer, %reason, "could not install a roster from a peer"),
                        },
                        Frame::Goodbye { reason } => {
                            // A neighbour shutting down is routine; any other goodbye is news.
                            if reason == SHUTDOWN_REASON {
                                tracing::info!(peer = %peer, "the peer is shutting down");
                            } else {
                                tracing::warn!(peer = %peer, reason = %truncate(&reason), "the peer closed the connection");
                            }
                            return Ok(());
                        }
                        Frame::Hello(_) => return Err(ConnError::Protocol("a second hello".into())),
                        Frame::Events(events) => self.on_events(events).await?,
                        Frame::Reconcile { scope, session, message } => self.on_reconcile(scope, session, message).await?,
                        Frame::Want { urgent, ids } => {
                            // Only what this node holds: the queue stays bounded by the store.
                            let store = shared.store.clone();
                            let held = tokio::task::spawn_blocking(move || ids.into_iter().filter(|id| store.contains(id).unwrap_or(false)).collect::<Vec<_>>())
                                .await
                                .map_err(|e| ConnError::Protocol(format!("store task failed: {e}")))?;
                            self.outbox.queue(held, urgent);
                        }
                        Frame::Pending { events } => {
                            // Bounded by what a session can find; a lying peer only skews the display.
                            let events = events.min(PENDING_ANNOUNCED_MAX);
                            self.expected = self.expected.saturating_add(events);
                            shared.sync().expect(events);
                        }
                    }
                }
                _ = ping.tick() => {
                    let nonce = shared.next_nonce();
                    pending_ping = Some((nonce, Instant::now(), crate::clock::now_ms()));
                    self.control(Frame::Ping { nonce, hlc: shared.tick() })?;
                }
                _ = resync.tick(), if dialed => {
                    // A session the peer stopped answering must not block every later one.
                    let stalled = self.initiator.as_ref().is_some_and(|s| s.started.elapsed() > SESSION_STALL);
                    if stalled {
                        tracing::warn!(peer = %peer, "a reconciliation session got no answer; starting over");
                    }
                    if self.initiator.is_none() || stalled {
                        self.start_session(Scope::Urgent).await?;
                    }
                }
                changed = roster_changes.changed() => {
                    if changed.is_err() { return Ok(()); }
                    if let Err(reason) = shared.admission.check(&peer) {
                        shared.peers().counters.revoked_closed += 1;
                        tracing::warn!(peer = %peer, %addr, %reason, "closing the connection: peer no longer admitted");
                        self.close_with(&mut writer_task, close::NOT_ADMITTED, &reason).await;
                        return Ok(());
                    }
                    let current = shared.admission.roster();
                    if their_roster < current.version {
                        self.control(Frame::Roster(shared.signed_roster()))?;
                        their_roster = current.version;
                    }
                }
                _ = shutdown.changed() => {
                    self.close_with(&mut writer_task, close::SHUTDOWN, SHUTDOWN_REASON).await;
                    return Ok(());
                }
                result = &mut writer_task => {
                    return match result {
                        Ok(r) => r,
                        Err(e) => Err(ConnError::Protocol(format!("writer failed: {e}"))),
                    };
                }
                reason = conn.closed() => {
                    return Err(ConnError::Connection(reason));
                }
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
        Frame::Reconcile { .. } => "reconcile",
        Frame::Want { .. } => "want",
        Frame::Pending { .. } => "pending",
    }
}
