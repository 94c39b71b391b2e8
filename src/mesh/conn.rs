//! One connection's life: a tokio driver of the sans-io [`Link`] machine.
//!
//! The rules (hello checks, roster exchange, pings, reconciliation sessions, what a round
//! found, back-pressure) live in `reservnod_proto::link`; this module does the I/O they ask
//! for. It reads frames with bounded buffering and a per-frame deadline, hands them to the
//! machine, writes what the machine gives, reads key snapshots and stores batches off the
//! async threads, and keeps the peer table and sync counters. Until the peer's hello has come
//! this task writes the few frames due (our hello, or a goodbye) itself; from then on the
//! writer task owns the send stream, so reading never waits on writing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reservnod_proto::frame::{Frame, FrameDecoder, FrameError, Scope};
use reservnod_proto::link::{
    self, Close, Host, Link, LinkConfig, LinkEvent, RosterOffer, RosterState, Time, Timing,
};
use reservnod_proto::{EventId, Hlc, NodeId, SignedEvent};
use tokio::time::timeout;

use super::{close, tls};
use crate::limits::{FRAME_TIMEOUT, GOODBYE_LINGER, HELLO_TIMEOUT, READ_CHUNK_BYTES};
use crate::node::{Node, RosterRefusal};
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

async fn send(stream: &mut quinn::SendStream, frame: &Frame) -> Result<(), ConnError> {
    let bytes = frame
        .encode()
        .map_err(|e| ConnError::Protocol(format!("cannot encode own frame: {e}")))?;
    stream.write_all(&bytes).await?;
    Ok(())
}

/// Writes one control frame; after a goodbye, finishes the stream and waits (briefly) until
/// the peer has it: closing at once would discard the goodbye, and the peer would not learn
/// why. Returns whether the stream is done.
async fn write_control(tx: &mut quinn::SendStream, frame: Frame) -> Result<bool, ConnError> {
    let bye = matches!(frame, Frame::Goodbye { .. });
    send(tx, &frame).await?;
    if bye && tx.finish().is_ok() {
        let _ = timeout(GOODBYE_LINGER, tx.stopped()).await;
    }
    Ok(bye)
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
    let mut driver = Driver {
        shared: shared.clone(),
        conn: conn.clone(),
        peer,
        addr,
        dialed,
        outbox,
        origin: Instant::now(),
        refusal_logged: false,
        skew_warned: false,
    };
    let (result, expected) = driver.drive(control_rx).await;
    shared.sync().arrived(expected);
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
    s.chars().take(link::CLOSE_REASON_CHARS_MAX).collect()
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The node as its links see it: its clocks, its numbers and its session budgets.
struct NodeHost(Arc<Node>);

impl Host for NodeHost {
    fn tick(&mut self) -> Hlc {
        self.0.tick()
    }
    fn observe(&mut self, remote: Hlc) {
        self.0.observe(remote);
    }
    fn wall_ms(&mut self) -> u64 {
        crate::clock::now_ms()
    }
    fn next_id(&mut self) -> u64 {
        self.0.next_nonce()
    }
    fn allow_new_session(&mut self, peer: &NodeId) -> bool {
        self.0.allow_responder_session(peer)
    }
}

fn roster_state(shared: &Node) -> RosterState {
    RosterState {
        roster: shared.admission.roster(),
        signed: Arc::new(shared.signed_roster()),
    }
}

/// Writes everything the connection sends once connected: control frames first, then
/// event batches from the outbox. The only owner of the send stream from then on, so
/// reading never waits on writing.
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

/// Where the link's frames go: written here until the peer's hello has come, then to the
/// writer task.
enum Out {
    Direct(quinn::SendStream),
    Writer {
        task: tokio::task::JoinHandle<Result<(), ConnError>>,
        _abort: AbortOnDrop,
    },
    /// Between the two, for a moment.
    Gone,
}

/// What handling an event decided.
enum Next {
    Continue,
    End(Result<(), ConnError>),
}

/// One connection's I/O around its [`Link`].
struct Driver {
    shared: Arc<Node>,
    conn: quinn::Connection,
    peer: NodeId,
    addr: SocketAddr,
    dialed: bool,
    outbox: Arc<Outbox>,
    /// The origin of the link's [`Time`].
    origin: Instant,
    refusal_logged: bool,
    skew_warned: bool,
}

impl Driver {
    fn now(&self) -> Time {
        Time::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn instant_of(&self, t: Time) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_micros(t.as_micros()))
    }

    /// Runs the connection; returns how it ended and the events still expected from it.
    async fn drive(
        &mut self,
        control_rx: tokio::sync::mpsc::Receiver<Frame>,
    ) -> (Result<(), ConnError>, u64) {
        let shared = self.shared.clone();
        // Subscribe before anything else: a roster change after the TLS check must not be missed.
        let roster_changes = shared.roster_changes();
        let streams = if self.dialed {
            self.conn.open_bi().await.map_err(ConnError::from)
        } else {
            match timeout(HELLO_TIMEOUT, self.conn.accept_bi()).await {
                Err(_) => Err(ConnError::Protocol(
                    "no control stream within the hello timeout".into(),
                )),
                Ok(r) => r.map_err(ConnError::from),
            }
        };
        let (tx, rx) = match streams {
            Ok(s) => s,
            Err(e) => return (Err(e), 0),
        };
        let config = LinkConfig {
            local: shared.id,
            peer: self.peer,
            dialled: self.dialed,
            roster: roster_state(&shared),
            timing: Timing {
                reconcile_interval: shared.reconcile_interval,
                ..Timing::default()
            },
        };
        let mut link = Link::new(config, NodeHost(shared.clone()), self.now());
        let result = self
            .run_link(&mut link, tx, rx, control_rx, roster_changes)
            .await;
        (result, link.expected())
    }

    async fn run_link(
        &mut self,
        link: &mut Link<NodeHost>,
        tx: quinn::SendStream,
        rx: quinn::RecvStream,
        control_rx: tokio::sync::mpsc::Receiver<Frame>,
        mut roster_changes: tokio::sync::watch::Receiver<u64>,
    ) -> Result<(), ConnError> {
        let shared = self.shared.clone();
        let mut reader = FrameReader::new(rx);
        let mut out = Out::Direct(tx);
        let mut control_rx = Some(control_rx);
        let mut shutdown = shared.shutdown_signal();
        loop {
            // Events first: once the peer's hello is in, the writer takes over the stream
            // before anything but our hello is written.
            while let Some(event) = link.poll() {
                if let Next::End(result) = self
                    .on_event(link, event, &mut out, &mut control_rx)
                    .await?
                {
                    return result;
                }
            }
            self.flush(link, &mut out, true).await?;
            let deadline = link.poll_timeout().map(|t| self.instant_of(t));
            let wants_frame = link.wants_frame();
            tokio::select! {
                frame = reader.next(), if wants_frame => {
                    let frame = match frame {
                        Err(ConnError::Finished) => return Ok(()),
                        other => other?,
                    };
                    if link.is_connected() {
                        shared.peers().seen(&self.peer, crate::clock::now_ms());
                    }
                    link.handle_frame(frame, self.now());
                }
                _ = sleep_until(deadline), if deadline.is_some() => link.handle_timeout(self.now()),
                changed = roster_changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    link.set_roster(roster_state(&shared));
                }
                _ = shutdown.changed() => link.close(close::SHUTDOWN, SHUTDOWN_REASON),
                result = writer_finished(&mut out) => {
                    return match result {
                        Ok(r) => r,
                        Err(e) => Err(ConnError::Protocol(format!("writer failed: {e}"))),
                    };
                }
                reason = self.conn.closed() => return Err(ConnError::Connection(reason)),
            }
        }
    }

    /// Writes what the link has to send: itself before the writer runs, else through the
    /// writer's bounded queue (full means the peer does not read: a violation, unless the
    /// link is closing anyway).
    async fn flush(
        &self,
        link: &mut Link<NodeHost>,
        out: &mut Out,
        strict: bool,
    ) -> Result<(), ConnError> {
        while let Some(frame) = link.poll_transmit() {
            match out {
                Out::Direct(tx) => {
                    write_control(tx, frame).await?;
                }
                Out::Writer { .. } | Out::Gone => {
                    if !self.outbox.control(frame) && strict {
                        return Err(ConnError::Protocol(
                            "the peer does not read what it is sent".into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    async fn on_event(
        &mut self,
        link: &mut Link<NodeHost>,
        event: LinkEvent,
        out: &mut Out,
        control_rx: &mut Option<tokio::sync::mpsc::Receiver<Frame>>,
    ) -> Result<Next, ConnError> {
        let (shared, peer) = (self.shared.clone(), self.peer);
        match event {
            LinkEvent::Connected { roster_version } => {
                let roster = shared.admission.roster();
                shared.peers().connected(
                    peer,
                    &roster,
                    self.addr,
                    self.dialed,
                    crate::clock::now_ms(),
                    roster_version,
                );
                tracing::info!(peer = %peer, addr = %self.addr, direction = if self.dialed { "out" } else { "in" }, roster = roster_version, "peer connected");
                // From now on the writer owns the send stream.
                if !matches!(out, Out::Direct(_)) {
                    return Ok(Next::Continue);
                }
                if let (Out::Direct(tx), Some(control)) =
                    (std::mem::replace(out, Out::Gone), control_rx.take())
                {
                    let task = tokio::spawn(writer(
                        shared.clone(),
                        peer,
                        tx,
                        control,
                        self.outbox.clone(),
                    ));
                    // The writer never outlives its connection (it holds the store).
                    let abort = AbortOnDrop(task.abort_handle());
                    *out = Out::Writer {
                        task,
                        _abort: abort,
                    };
                }
            }
            LinkEvent::NeedKeys { scope } => {
                let keys = self.keys(scope).await?;
                link.provide_keys(scope, keys, self.now());
            }
            LinkEvent::Queue { ids, urgent } => self.outbox.queue(ids, urgent),
            LinkEvent::Serve { ids, urgent } => {
                // Only what this node holds: the queue stays bounded by the store.
                let held = self.held(ids).await?;
                self.outbox.queue(held, urgent);
            }
            LinkEvent::Expecting { events } => shared.sync().expect(events),
            LinkEvent::Arrived { events } => shared.sync().arrived(events),
            LinkEvent::Ingest { events } => {
                self.ingest(events).await?;
                link.events_stored(self.now());
            }
            LinkEvent::OfferRoster(signed) => {
                let offer = match shared.offer_roster_blocking(signed).await {
                    Ok(Some(v)) => {
                        tracing::info!(peer = %peer, version = v, "installed a newer roster from a peer");
                        RosterOffer::Installed(v)
                    }
                    Ok(None) => RosterOffer::Kept,
                    Err(RosterRefusal::Forged(reason)) => RosterOffer::Forged(reason),
                    Err(RosterRefusal::Final(reason)) => {
                        tracing::warn!(peer = %peer, %reason, "refused a roster from a peer");
                        RosterOffer::Kept
                    }
                    Err(RosterRefusal::Retry(reason)) => {
                        tracing::warn!(peer = %peer, %reason, "could not install a roster from a peer");
                        RosterOffer::Kept
                    }
                };
                // Before the roster change reaches this link, so an installed one is not
                // sent back.
                link.roster_offered(offer, self.now());
            }
            LinkEvent::Synced => shared.peers().synced(&peer, crate::clock::now_ms()),
            LinkEvent::PeerInfo {
                rtt,
                clock_offset_ms,
            } => {
                shared.peers().pinged(
                    &peer,
                    rtt.as_secs_f64() * 1000.0,
                    clock_offset_ms,
                    crate::clock::now_ms(),
                );
                if clock_offset_ms.unsigned_abs() > shared.clock_skew_warn_ms && !self.skew_warned {
                    self.skew_warned = true;
                    tracing::warn!(peer = %peer, offset_ms = clock_offset_ms, "peer clock differs from ours beyond the configured bound");
                }
            }
            LinkEvent::SessionStalled { session } => {
                tracing::warn!(peer = %peer, session, "a reconciliation session got no answer; starting over");
            }
            LinkEvent::Closed(Close::Peer { reason }) => {
                // A neighbour shutting down is routine; any other goodbye is news.
                if reason == SHUTDOWN_REASON {
                    tracing::info!(peer = %peer, "the peer is shutting down");
                } else {
                    tracing::warn!(peer = %peer, %reason, "the peer closed the connection");
                }
                return Ok(Next::End(Ok(())));
            }
            LinkEvent::Closed(Close::Local {
                code,
                reason,
                goodbye,
            }) => {
                if code == close::PROTOCOL || !goodbye {
                    return Ok(Next::End(Err(ConnError::Protocol(reason))));
                }
                if code == close::VERSION {
                    tracing::error!(peer = %peer, addr = %self.addr, %reason, "refusing peer");
                } else if code == close::NOT_ADMITTED {
                    shared.peers().counters.revoked_closed += 1;
                    tracing::warn!(peer = %peer, addr = %self.addr, %reason, "closing the connection: peer no longer admitted");
                }
                self.close_with_goodbye(link, out, code, &reason).await;
                return Ok(Next::End(Ok(())));
            }
        }
        Ok(Next::Continue)
    }

    /// Writes the goodbye the link queued, waits (briefly) for it to go out, then closes.
    async fn close_with_goodbye(
        &self,
        link: &mut Link<NodeHost>,
        out: &mut Out,
        code: u32,
        reason: &str,
    ) {
        let _ = self.flush(link, out, false).await;
        if let Out::Writer { task, .. } = out {
            let _ = timeout(GOODBYE_LINGER + Duration::from_millis(500), task).await;
        }
        self.conn.close(code.into(), truncate(reason).as_bytes());
    }

    async fn keys(&self, scope: Scope) -> Result<Vec<reservnod_proto::reconcile::Key>, ConnError> {
        // With the events refused from this peer counted as held, so they are not fetched
        // again every round.
        let (shared, peer) = (self.shared.clone(), self.peer);
        tokio::task::spawn_blocking(move || shared.reconcile_keys(&peer, scope == Scope::Urgent))
            .await
            .map_err(|e| ConnError::Protocol(format!("store task failed: {e}")))?
            .map_err(|e| ConnError::Protocol(format!("store: {e}")))
    }

    async fn held(&self, ids: Vec<EventId>) -> Result<Vec<EventId>, ConnError> {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || {
            ids.into_iter()
                .filter(|id| store.contains(id).unwrap_or(false))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ConnError::Protocol(format!("store task failed: {e}")))
    }

    async fn ingest(&mut self, events: Vec<SignedEvent>) -> Result<(), ConnError> {
        self.shared
            .peers()
            .exchanged(&self.peer, events.len() as u64);
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
}

/// Sleeps until `deadline` (forever for None; the caller guards that branch anyway).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Completes when the writer task ends (never before it runs).
async fn writer_finished(out: &mut Out) -> Result<Result<(), ConnError>, tokio::task::JoinError> {
    match out {
        Out::Writer { task, .. } => task.await,
        Out::Direct(_) | Out::Gone => std::future::pending().await,
    }
}
