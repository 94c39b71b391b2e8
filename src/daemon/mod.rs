//! The daemon: `reservnod run`. Drives the mesh with tokio until shutdown.
//!
//! [`run`] takes an already-bound UDP socket and a shutdown future (mini-redis's pattern), so
//! tests bind port 0 on loopback and stop it with their own signal. It holds the data
//! directory's lock for its whole life and writes `daemon-status.json` there every second,
//! which `reservnod peers` and `reservnod status` read while it runs.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use reservnod_proto::{
    AdminPublicKey, EventId, Hlc, HlcClock, NodeId, Priority, SignedEvent, SignedRoster,
    VerifiedEvent,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::care::api::{ApiError, CareNode};
use crate::care::escalation;
use crate::care::view::CareView;
use crate::clock::now_ms;
use crate::files::config::Config;
use crate::files::datadir::{DataDir, DataDirError};
use crate::files::keyfile;
use crate::mesh::discovery::{self, Announce, Discovered};
use crate::mesh::peers::{Counters, PeerInfo, PeerTable};
use crate::mesh::tls::{self, Admission, NodeIdentity};
use crate::mesh::{
    close, conn, transport_config, CONNECTIONS_MAX, HANDSHAKES_MAX, HANDSHAKES_PER_ADDRESS_MAX,
    HANDSHAKE_TIMEOUT, RETRY_AFTER_HANDSHAKES,
};
use crate::replication::{self, IngestOutcome, Outbox, Refusals, SyncCounters, SyncStats};
use crate::store::{Store, StoreError, StoreStats};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The data directory.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// No roster: the node cannot tell friend from stranger without one.
    #[error(
        "no roster is installed in {0}: install one with `reservnod node install-roster FILE`"
    )]
    NoRoster(PathBuf),
    /// TLS or QUIC setup.
    #[error("{0}")]
    Transport(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// First reconnect delay; doubles per failed attempt up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest reconnect delay to a static peer: short, so a link that comes back after a cut
/// is noticed within seconds (a failed dial costs a few packets).
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a dial may take before it counts as failed; a new dial then sends fresh
/// Initials instead of waiting out QUIC's growing retransmission delay.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the roster drop file and the status file are looked at.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// How long shutdown waits for tasks before closing the endpoint regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Most discovery dials in flight at once.
const DISCOVERY_DIALS_MAX: usize = 16;
/// A discovered node is dialled at most this often.
const DISCOVERY_REDIAL: Duration = Duration::from_secs(10);
/// The status file in the data directory.
pub const STATUS_FILE: &str = "daemon-status.json";
/// A status file older than this means the daemon is not running.
pub const STATUS_STALE_MS: u64 = 10_000;

struct Registered {
    id: u64,
    /// Which run of the peer ([`tls::instance_of`]).
    instance: [u8; 32],
    conn: quinn::Connection,
    initiator: NodeId,
    outbox: Arc<Outbox>,
}

/// State shared by every task of the daemon.
pub struct Shared {
    pub(crate) node: NodeId,
    pub(crate) admission: Arc<Admission>,
    pub(crate) clock_skew_warn_ms: u64,
    pub(crate) store: Arc<Store>,
    sync: SyncCounters,
    refusals: Refusals,
    pub(crate) reconcile_interval: Duration,
    node_key: reservnod_proto::NodeKey,
    unit_key: reservnod_proto::UnitSecretKey,
    data: DataDir,
    admin: AdminPublicKey,
    clock: Mutex<HlcClock>,
    peers: Mutex<PeerTable>,
    registry: Mutex<HashMap<NodeId, Registered>>,
    signed_roster: Mutex<SignedRoster>,
    roster_lock: Mutex<()>,
    roster_tx: watch::Sender<u64>,
    shutdown_rx: watch::Receiver<bool>,
    next_id: AtomicU64,
    view: Mutex<CareView>,
    payment_days: u32,
    escalated: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn peers(&self) -> MutexGuard<'_, PeerTable> {
        lock(&self.peers)
    }
    pub(crate) fn tick(&self) -> Hlc {
        lock(&self.clock).tick(now_ms())
    }
    pub(crate) fn observe(&self, remote: Hlc) {
        // A remote clock far ahead is refused by the HLC and reported in the peer table.
        let _ = lock(&self.clock).observe(remote, now_ms());
    }
    pub(crate) fn next_nonce(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
    pub(crate) fn roster_changes(&self) -> watch::Receiver<u64> {
        self.roster_tx.subscribe()
    }
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_rx.clone()
    }
    pub(crate) fn signed_roster(&self) -> Result<SignedRoster, conn::ConnError> {
        Ok(lock(&self.signed_roster).clone())
    }
    fn connections(&self) -> usize {
        lock(&self.registry).len()
    }
    fn is_connected(&self, node: &NodeId) -> bool {
        lock(&self.registry).contains_key(node)
    }

    /// Registers a connection. A connection from another run of the peer (`instance`, its
    /// certificate) than the registered one means the peer restarted: the new one replaces
    /// the old, whose process is gone, at once. Of two connections from the same run, both
    /// sides keep the one dialled by the smaller node id. Returns the registration id, or
    /// None if this connection is the one to drop.
    pub(crate) fn register(
        &self,
        peer: NodeId,
        instance: [u8; 32],
        conn: &quinn::Connection,
        dialed: bool,
        outbox: Arc<Outbox>,
    ) -> Option<u64> {
        let initiator = if dialed { self.node } else { peer };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut reg = lock(&self.registry);
        if let Some(existing) = reg.get(&peer) {
            let restarted = existing.instance != instance;
            let keep_existing =
                !restarted && existing.initiator != initiator && existing.initiator < initiator;
            if keep_existing {
                return None;
            }
            if restarted {
                tracing::info!(peer = %peer, "a new connection from the restarted peer replaces its old one");
            }
            existing
                .conn
                .close(close::DUPLICATE.into(), b"duplicate connection");
        }
        reg.insert(
            peer,
            Registered {
                id,
                instance,
                conn: conn.clone(),
                initiator,
                outbox,
            },
        );
        Some(id)
    }

    pub(crate) fn unregister(&self, peer: NodeId, id: u64) {
        let mut reg = lock(&self.registry);
        if reg.get(&peer).is_some_and(|r| r.id == id) {
            reg.remove(&peer);
            drop(reg);
            self.peers().disconnected(&peer);
        }
    }

    pub(crate) fn sync(&self) -> &SyncCounters {
        &self.sync
    }

    /// Verifies, authorizes and stores events (off the async threads), then pushes the new
    /// ones to every connected peer but `from`.
    pub(crate) async fn ingest(
        self: &Arc<Self>,
        events: Vec<SignedEvent>,
        from: Option<NodeId>,
    ) -> Result<IngestOutcome, StoreError> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.ingest_blocking(events, from))
            .await
            .map_err(|e| StoreError::Corrupt(format!("ingest task failed: {e}")))?
    }

    /// [`Shared::ingest`] on the calling thread (which may block).
    fn ingest_blocking(
        &self,
        events: Vec<SignedEvent>,
        from: Option<NodeId>,
    ) -> Result<IngestOutcome, StoreError> {
        let n = events.len() as u64;
        let roster = self.admission.roster();
        let outcome = replication::ingest_from(&self.store, &roster, &events, from.as_ref())?;
        if let Some(peer) = from {
            self.refusals
                .record(peer, roster.version, &outcome.refused_keys);
        }
        // Into the view at once: what is stored must be shown, whatever fails after. The
        // view opens each body once; Delivered goes for what it opened.
        let opened: Vec<&VerifiedEvent> = {
            let mut view = lock(&self.view);
            outcome
                .new_events
                .iter()
                .filter(|v| view.add(v, &self.unit_key))
                .collect()
        };
        // What this node writes on its own in answer (Delivered receipts), stored in the
        // same pass.
        let receipts = crate::care::delivered_receipts(
            &self.node_key,
            &self.unit_key,
            &self.store,
            &opened,
            now_ms(),
            || self.tick(),
        )?;
        let own = if receipts.is_empty() {
            Vec::new()
        } else {
            replication::ingest(&self.store, &roster, &receipts)?.stored
        };
        if from.is_some() {
            self.sync.received.fetch_add(n, Ordering::Relaxed);
            self.sync
                .duplicates
                .fetch_add(outcome.duplicates as u64, Ordering::Relaxed);
            self.sync
                .refused
                .fetch_add(outcome.refused.len() as u64, Ordering::Relaxed);
        }
        self.sync
            .stored
            .fetch_add((outcome.stored.len() + own.len()) as u64, Ordering::Relaxed);
        // What arrived goes on to every peer but the one it came from; what this node wrote
        // in answer goes to every peer, the sender's too.
        self.push(&outcome.stored, from);
        self.push(&own, None);
        Ok(outcome)
    }

    /// The reconciliation keys of a scope for a session with `peer`: what the store holds,
    /// plus what this node refused from that peer (so it is neither asked for nor sent
    /// again). Blocking (a store scan).
    pub(crate) fn reconcile_keys(
        &self,
        peer: &NodeId,
        urgent_only: bool,
    ) -> Result<Vec<(Hlc, EventId)>, StoreError> {
        Ok(self
            .refusals
            .add_to(peer, urgent_only, self.store.keys(urgent_only)?))
    }

    /// Queues newly stored events on every connection but `except`'s, urgent ones first.
    fn push(&self, stored: &[(EventId, Priority)], except: Option<NodeId>) {
        if stored.is_empty() {
            return;
        }
        let urgent: Vec<EventId> = stored
            .iter()
            .filter(|(_, p)| *p == Priority::Urgent)
            .map(|(id, _)| *id)
            .collect();
        let bulk: Vec<EventId> = stored
            .iter()
            .filter(|(_, p)| *p != Priority::Urgent)
            .map(|(id, _)| *id)
            .collect();
        let reg = lock(&self.registry);
        for (_, r) in reg.iter().filter(|(node, _)| Some(**node) != except) {
            if !urgent.is_empty() {
                r.outbox.queue(urgent.iter().copied(), true);
            }
            if !bulk.is_empty() {
                r.outbox.queue(bulk.iter().copied(), false);
            }
        }
    }

    /// Looks for unread messages past their time and escalates them (blocking).
    fn check_escalations(&self, command: Option<&[String]>) -> Result<usize, StoreError> {
        let roster = self.admission.roster();
        let now = now_ms();
        let due = {
            let view = lock(&self.view);
            escalation::due(
                &view,
                &self.store,
                self.unit_key.unit(),
                &roster.escalation,
                now,
            )?
        };
        let new = escalation::escalate(&self.store, &roster, &due, command, now)?;
        self.escalated.fetch_add(new as u64, Ordering::Relaxed);
        Ok(new)
    }

    fn queued_to_send(&self) -> u64 {
        lock(&self.registry)
            .values()
            .map(|r| r.outbox.queued() as u64)
            .sum()
    }

    /// Installs `signed` if it is a newer roster by the trusted admin than the one in force
    /// (in memory: the file on disk may be the very one offered); tells every connection.
    /// Returns the new version, or None if it was not newer.
    pub(crate) fn offer_roster(&self, signed: &SignedRoster) -> Result<Option<u64>, RosterRefusal> {
        let _guard = lock(&self.roster_lock);
        let new = signed
            .verify_trusted(&self.admin)
            .map_err(|e| RosterRefusal::Final(e.to_string()))?;
        let current = self.admission.roster();
        if new.version <= current.version {
            return Ok(None);
        }
        current
            .check_successor(&new)
            .map_err(|e| RosterRefusal::Final(e.to_string()))?;
        self.data
            .replace_roster(&current, signed)
            .map_err(|e| match e {
                DataDirError::Mismatch(m) => RosterRefusal::Final(m),
                DataDirError::Roster { source, .. } => RosterRefusal::Final(source.to_string()),
                other => RosterRefusal::Retry(other.to_string()),
            })?;
        let version = new.version;
        self.peers().retain_in(&new);
        // What was refused under the old roster may be admitted now.
        self.refusals.roster_changed(version);
        let hidden = lock(&self.view).forget_revoked(&new);
        if hidden > 0 {
            tracing::warn!(
                hidden,
                "events written by revoked nodes after their cut-off are no longer shown"
            );
        }
        self.admission.replace(new);
        *lock(&self.signed_roster) = signed.clone();
        self.roster_tx.send_replace(version);
        tracing::info!(version, "roster installed");
        Ok(Some(version))
    }

    /// Installs a roster handed over by the CLI (`node install-roster` while the node runs).
    fn install_roster_from_cli(&self, signed: &SignedRoster) -> Result<u64, ApiError> {
        match self.offer_roster(signed) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(ApiError::Refused(format!(
                "rostern är inte nyare än den noden har (version {})",
                self.admission.roster().version
            ))),
            Err(RosterRefusal::Final(m)) | Err(RosterRefusal::Retry(m)) => Err(ApiError::Refused(
                format!("rostern installerades inte: {m}"),
            )),
        }
    }
}

/// Why a roster was not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RosterRefusal {
    /// The roster itself is refused (signature, admin key, content, not for this unit): the
    /// same file will be refused again.
    #[error("{0}")]
    Final(String),
    /// Installing it failed here (reading a key, writing the file): try again.
    #[error("{0}")]
    Retry(String),
}

impl CareNode for Shared {
    fn store(&self) -> &Store {
        &self.store
    }
    fn roster(&self) -> Arc<reservnod_proto::Roster> {
        self.admission.roster()
    }
    fn node_key(&self) -> &reservnod_proto::NodeKey {
        &self.node_key
    }
    fn unit_key(&self) -> &reservnod_proto::UnitSecretKey {
        &self.unit_key
    }
    fn tick(&self) -> Hlc {
        Shared::tick(self)
    }
    fn view(&self) -> MutexGuard<'_, CareView> {
        lock(&self.view)
    }
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError> {
        let outcome = self.ingest_blocking(events, None)?;
        if let Some(reason) = outcome.refused.first() {
            return Err(ApiError::Refused(format!(
                "noden får inte skriva enligt registret: {reason}"
            )));
        }
        Ok(())
    }
    fn payment_days(&self) -> u32 {
        self.payment_days
    }
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError> {
        self.install_roster_from_cli(signed)
    }
}

/// What `daemon-status.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Process id.
    pub pid: u32,
    /// This node.
    pub node_id: String,
    /// Its unit.
    pub unit: String,
    /// Where it listens.
    pub listen: String,
    /// Its roster version.
    pub roster_version: u64,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// When this status was written.
    pub updated_ms: u64,
    /// Whether it is stopping or stopped.
    pub running: bool,
    /// The peer table.
    pub peers: Vec<PeerInfo>,
    /// Units none of whose nodes has been reachable for longer than the configured time.
    pub unreachable_units: Vec<String>,
    /// Peers whose clocks are off by more than the configured bound.
    pub clock_warnings: Vec<String>,
    /// What peers did wrong.
    pub counters: Counters,
    /// The store's figures.
    pub store: StoreStats,
    /// Replication figures: received, stored, refused, sent, to go, rate.
    pub sync: SyncStats,
    /// Unread messages this node has escalated since it started.
    #[serde(default)]
    pub escalated: u64,
    /// Where the CLI reaches the running node.
    #[serde(default)]
    pub socket: String,
    /// Why the roster in the drop file could not be installed yet (tried again every second).
    #[serde(default)]
    pub roster_drop_retrying: Option<String>,
}

impl DaemonStatus {
    /// Reads the status file of a data directory, if the daemon that wrote it still runs:
    /// written recently, and the store's lock is held (a killed daemon's lock goes with its
    /// process at once, while its last status file stays fresh for a few seconds).
    pub fn read_fresh(data_dir: &std::path::Path) -> Option<DaemonStatus> {
        let bytes = keyfile::read_bounded(&data_dir.join(STATUS_FILE), 16 * 1024 * 1024).ok()?;
        let status: DaemonStatus = serde_json::from_slice(&bytes).ok()?;
        (status.running
            && now_ms().saturating_sub(status.updated_ms) < STATUS_STALE_MS
            && DataDir::new(data_dir).store_in_use())
        .then_some(status)
    }
}

fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(10))
        .min(BACKOFF_MAX);
    // ±25 % jitter so nodes that lost the same link do not all redial in step.
    let jitter = (rand_core::OsRng.next_u32() % 500) as f64 / 1000.0 - 0.25;
    exp.mul_f64(1.0 + jitter)
}

async fn dial(
    shared: &Arc<Shared>,
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
) -> Result<quinn::Connection, String> {
    let connecting = endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(DIAL_TIMEOUT, connecting).await {
        Err(_) => Err("timed out".into()),
        Ok(Err(e)) => {
            if matches!(
                e,
                quinn::ConnectionError::TransportError(_)
                    | quinn::ConnectionError::ConnectionClosed(_)
            ) {
                shared.peers().counters.handshakes_failed += 1;
            }
            Err(e.to_string())
        }
        Ok(Ok(conn)) => Ok(conn),
    }
}

/// Keeps a static peer connected: dial, run, and redial with exponential backoff and jitter.
async fn keep_connected(shared: Arc<Shared>, endpoint: quinn::Endpoint, addr: SocketAddr) {
    let mut shutdown = shared.shutdown_signal();
    let mut attempt = 0u32;
    let mut known: Option<NodeId> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let already = known.is_some_and(|n| shared.is_connected(&n));
        let delay = if already {
            // Connected through the peer's own dial; look again later.
            crate::mesh::PING_INTERVAL
        } else {
            let attempt_result = tokio::select! {
                r = dial(&shared, &endpoint, addr) => r,
                _ = shutdown.changed() => return,
            };
            match attempt_result {
                Ok(c) => {
                    attempt = 0;
                    if let Ok(identity) = conn_peer(&c) {
                        known = Some(identity);
                    }
                    let _ = conn::run(shared.clone(), c, true).await;
                    backoff(0)
                }
                Err(reason) => {
                    tracing::debug!(%addr, %reason, attempt, "dial failed");
                    attempt = attempt.saturating_add(1);
                    backoff(attempt)
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn conn_peer(c: &quinn::Connection) -> Result<NodeId, String> {
    let identity = c.peer_identity().ok_or("no identity")?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .map_err(|_| "identity type")?;
    tls::node_id_of(certs.first().ok_or("no certificate")?)
}

/// Handshakes in progress: their number and how many come from each address. Both stay
/// below [`HANDSHAKES_MAX`], so the map is bounded too.
#[derive(Default)]
struct Handshakes {
    total: usize,
    by_address: HashMap<SocketAddr, usize>,
}

/// What to do with a connection attempt, from the handshakes in progress.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    Accept,
    Retry,
    Refuse,
}

impl Handshakes {
    fn decide(&self, addr: SocketAddr, validated: bool, may_retry: bool) -> Admit {
        if !validated && self.total >= RETRY_AFTER_HANDSHAKES {
            // Retry costs us one stateless packet; an address that never answers holds nothing.
            return if may_retry {
                Admit::Retry
            } else {
                Admit::Refuse
            };
        }
        // An unvalidated address may be forged, so only a validated one is held to its share.
        let from_addr = self.by_address.get(&addr).copied().unwrap_or(0);
        if self.total >= HANDSHAKES_MAX || (validated && from_addr >= HANDSHAKES_PER_ADDRESS_MAX) {
            return Admit::Refuse;
        }
        Admit::Accept
    }
    fn start(&mut self, addr: SocketAddr) {
        self.total += 1;
        *self.by_address.entry(addr).or_default() += 1;
    }
    fn end(&mut self, addr: SocketAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_address.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                self.by_address.remove(&addr);
            }
        }
    }
}

/// Ends a handshake's place in [`Handshakes`] however the handshake ends.
struct HandshakeSlot {
    handshakes: Arc<Mutex<Handshakes>>,
    addr: SocketAddr,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        lock(&self.handshakes).end(self.addr);
    }
}

/// Accepts connections: handshakes in progress and established connections are bounded
/// apart, handshakes have a deadline, and once handshakes pile up, addresses that have not
/// answered a Retry wait outside.
async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    let mut shutdown = shared.shutdown_signal();
    let mut tasks = JoinSet::new();
    let handshakes = Arc::new(Mutex::new(Handshakes::default()));
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let addr = incoming.remote_address();
                let decision = if shared.connections() >= CONNECTIONS_MAX {
                    Admit::Refuse
                } else {
                    lock(&handshakes).decide(addr, incoming.remote_address_validated(), incoming.may_retry())
                };
                match decision {
                    Admit::Refuse => {
                        shared.peers().counters.refused_busy += 1;
                        incoming.refuse();
                        continue;
                    }
                    Admit::Retry => {
                        shared.peers().counters.retries_sent += 1;
                        if incoming.retry().is_err() {
                            tracing::debug!(%addr, "could not send a retry");
                        }
                        continue;
                    }
                    Admit::Accept => {}
                }
                lock(&handshakes).start(addr);
                let slot = HandshakeSlot { handshakes: handshakes.clone(), addr };
                let shared = shared.clone();
                tasks.spawn(async move {
                    let handshake = async {
                        let connecting = incoming.accept()?;
                        connecting.await
                    };
                    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await;
                    drop(slot);
                    match result {
                        Ok(Ok(c)) => { let _ = conn::run(shared, c, false).await; }
                        Ok(Err(e)) => {
                            shared.peers().counters.handshakes_failed += 1;
                            tracing::warn!(%addr, error = %e, "incoming handshake failed");
                        }
                        Err(_) => {
                            shared.peers().counters.handshakes_timed_out += 1;
                            tracing::debug!(%addr, "incoming handshake did not finish in time");
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

async fn dial_discovered(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    mut found: tokio::sync::mpsc::Receiver<Discovered>,
) {
    let mut shutdown = shared.shutdown_signal();
    let mut last_dial: HashMap<NodeId, Instant> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            d = found.recv() => {
                let Some(d) = d else { break };
                if d.node == shared.node || shared.is_connected(&d.node) || shared.admission.check(&d.node).is_err() {
                    continue;
                }
                if last_dial.get(&d.node).is_some_and(|t| t.elapsed() < DISCOVERY_REDIAL) || tasks.len() >= DISCOVERY_DIALS_MAX {
                    continue;
                }
                if last_dial.len() >= 4 * DISCOVERY_DIALS_MAX {
                    last_dial.retain(|_, t| t.elapsed() < DISCOVERY_REDIAL);
                }
                last_dial.insert(d.node, Instant::now());
                tracing::info!(peer = %d.node, addr = %d.addr, via = ?d.via, "discovered a peer");
                let (shared, endpoint) = (shared.clone(), endpoint.clone());
                let mut stop = shared.shutdown_signal();
                tasks.spawn(async move {
                    let attempt = tokio::select! {
                        r = dial(&shared, &endpoint, d.addr) => r,
                        _ = stop.changed() => return,
                    };
                    match attempt {
                        Ok(c) => { let _ = conn::run(shared, c, true).await; }
                        Err(reason) => tracing::debug!(addr = %d.addr, %reason, "dial of a discovered peer failed"),
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

struct Housekeeping {
    shared: Arc<Shared>,
    store: Arc<Store>,
    config: Config,
    unit: String,
    listen: SocketAddr,
    started_ms: u64,
    roster_seen: Option<(std::time::SystemTime, u64)>,
    /// The last reason a drop could not be installed, while it is being retried.
    roster_retry: Option<String>,
    unreachable: Vec<String>,
    /// (when, stored count) samples for the storage rate.
    rate_samples: VecDeque<(Instant, u64)>,
}

impl Housekeeping {
    /// Picks up a roster dropped into the configured file. A drop is marked as handled (by
    /// its modification time and length) once it was installed or refused for a reason the
    /// same file will always be refused for; a failure here (a read, a write, a key) is
    /// tried again every second, and logged when its reason changes.
    fn check_roster_drop(&mut self) {
        let Ok(meta) = std::fs::metadata(&self.config.roster_file) else {
            return;
        };
        let stamp = (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len());
        if self.roster_seen == Some(stamp) {
            return;
        }
        let result = keyfile::read_bounded(
            &self.config.roster_file,
            reservnod_proto::limits::ROSTER_BYTES_MAX + 1024,
        )
        .map_err(|e| RosterRefusal::Retry(e.to_string()))
        .and_then(|b| {
            SignedRoster::from_file_bytes(&b).map_err(|e| RosterRefusal::Final(e.to_string()))
        })
        .and_then(|s| self.shared.offer_roster(&s));
        let file = self.config.roster_file.display();
        match result {
            Ok(Some(v)) => {
                tracing::info!(version = v, %file, "installed a newer roster from the drop file")
            }
            Ok(None) => {}
            Err(RosterRefusal::Final(reason)) => {
                tracing::warn!(%file, %reason, "refused the roster in the drop file")
            }
            Err(RosterRefusal::Retry(reason)) => {
                if self.roster_retry.as_ref() != Some(&reason) {
                    tracing::warn!(%file, %reason, "could not install the roster in the drop file; trying again");
                    self.roster_retry = Some(reason);
                }
                return;
            }
        }
        self.roster_retry = None;
        self.roster_seen = Some(stamp);
    }

    fn status(&mut self, running: bool) -> DaemonStatus {
        let now = now_ms();
        let roster = self.shared.admission.roster();
        let (peers, counters, unreachable, clock_warnings) = {
            let table = self.shared.peers();
            let after_ms = self.config.unit_unreachable_after.as_millis() as u64;
            let mut unreachable = Vec::new();
            for unit in roster.units.iter().filter(|u| u.id.as_str() != self.unit) {
                let nodes: Vec<&NodeId> = roster
                    .nodes
                    .iter()
                    .filter(|n| n.unit == unit.id && !roster.is_revoked(&n.id))
                    .map(|n| &n.id)
                    .collect();
                if nodes.is_empty() {
                    continue;
                }
                let connected = nodes.iter().any(|n| table.is_connected(n));
                let last = nodes
                    .iter()
                    .filter_map(|n| table.last_seen_ms(n))
                    .max()
                    .unwrap_or(self.started_ms)
                    .max(self.started_ms);
                if !connected && now.saturating_sub(last) > after_ms {
                    unreachable.push(format!("{} ({})", unit.id, unit.name));
                }
            }
            let skew = self.shared.clock_skew_warn_ms;
            let clock_warnings = table
                .snapshot()
                .iter()
                .filter(|p| p.clock_offset_ms.is_some_and(|o| o.unsigned_abs() > skew))
                .map(|p| format!("{} {} ms", p.node, p.clock_offset_ms.unwrap_or(0)))
                .collect();
            (
                table.snapshot(),
                table.counters.clone(),
                unreachable,
                clock_warnings,
            )
        };
        for u in unreachable.iter().filter(|u| !self.unreachable.contains(u)) {
            tracing::warn!(unit = %u, "unit unreachable: none of its nodes has been reachable within the configured time");
        }
        self.unreachable = unreachable.clone();
        let c = &self.shared.sync;
        let stored = c.stored.load(Ordering::Relaxed);
        self.rate_samples.push_back((Instant::now(), stored));
        while self.rate_samples.len() > 6 {
            self.rate_samples.pop_front();
        }
        let rate_per_s = match (self.rate_samples.front(), self.rate_samples.back()) {
            (Some((t0, s0)), Some((t1, s1))) if t1 > t0 => {
                (s1 - s0) as f64 / (*t1 - *t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let sync = SyncStats {
            received: c.received.load(Ordering::Relaxed),
            stored,
            duplicates: c.duplicates.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            refusals_remembered: self.shared.refusals.len() as u64,
            sent: c.sent.load(Ordering::Relaxed),
            to_go: c.to_go.load(Ordering::Relaxed),
            rate_per_s,
            queued_to_send: self.shared.queued_to_send(),
        };
        DaemonStatus {
            sync,
            pid: std::process::id(),
            node_id: self.shared.node.to_string(),
            unit: self.unit.clone(),
            listen: self.listen.to_string(),
            roster_version: roster.version,
            started_ms: self.started_ms,
            updated_ms: now,
            running,
            peers,
            unreachable_units: unreachable,
            clock_warnings,
            counters,
            store: self.store.stats().unwrap_or_default(),
            escalated: self.shared.escalated.load(Ordering::Relaxed),
            socket: crate::serve::socket::socket_path(&self.config.data_dir)
                .display()
                .to_string(),
            roster_drop_retrying: self.roster_retry.clone(),
        }
    }

    fn write_status(&mut self, running: bool) {
        let status = self.status(running);
        match serde_json::to_vec_pretty(&status) {
            Ok(bytes) => {
                if let Err(e) =
                    keyfile::write_public(&self.config.data_dir.join(STATUS_FILE), &bytes)
                {
                    tracing::warn!(error = %e, "cannot write the status file");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the status"),
        }
    }
}

/// Runs the node until `shutdown` completes: stops accepting, ends connections with a
/// goodbye, flushes the store and returns.
pub async fn run(
    config: Config,
    socket: std::net::UdpSocket,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    run_with(config, socket, shutdown, None).await
}

/// A handle on a running node, for writing events locally (tests, bundles, later the
/// staff's interface). It shares the node's store: drop it before stopping the node, or
/// shutdown waits (up to its grace period) for it.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
}

impl NodeHandle {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.shared.node
    }
    /// Verifies, authorizes and stores events written here, then pushes the new ones to
    /// every connected peer. Returns once they are durable.
    pub async fn write(&self, events: Vec<SignedEvent>) -> Result<IngestOutcome, StoreError> {
        self.shared.ingest(events, None).await
    }
    /// Whether the node has this event.
    pub fn has(&self, id: &EventId) -> bool {
        self.shared.store.contains(id).unwrap_or(false)
    }
    /// How many events the node holds.
    pub fn event_count(&self) -> u64 {
        self.shared.store.stats().map(|s| s.events).unwrap_or(0)
    }
    /// A timestamp from the node's clock, for events written here.
    pub fn tick(&self) -> Hlc {
        self.shared.tick()
    }
    /// How many events of one class the node holds.
    pub fn count_of(&self, class: reservnod_proto::EventClass) -> u64 {
        self.shared
            .store
            .stats()
            .ok()
            .and_then(|s| {
                s.by_class
                    .iter()
                    .find(|(c, _)| c == class.name())
                    .map(|(_, n)| *n)
            })
            .unwrap_or(0)
    }
    /// Answers a care request as the local socket would (runs off the async threads).
    pub async fn ask(
        &self,
        request: crate::care::api::Request,
    ) -> Result<crate::care::api::Reply, ApiError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || crate::care::api::handle(shared.as_ref(), request))
            .await
            .map_err(|e| ApiError::Refused(format!("the request task failed: {e}")))?
    }
    /// The receipts this node holds for an event.
    pub fn receipts(&self, event: &EventId) -> Vec<reservnod_proto::care::receipts::Receipt> {
        self.shared.store.receipts_for(event).unwrap_or_default()
    }
}

/// [`run`], handing a [`NodeHandle`] to `ready` once the node is up.
pub async fn run_with(
    config: Config,
    socket: std::net::UdpSocket,
    shutdown: impl Future<Output = ()>,
    ready: Option<tokio::sync::oneshot::Sender<NodeHandle>>,
) -> Result<(), DaemonError> {
    let data = DataDir::new(&config.data_dir);
    let node = data.node_key()?;
    let unit = data.unit_key()?;
    let roster = data
        .roster()?
        .ok_or_else(|| DaemonError::NoRoster(config.data_dir.clone()))?;
    let admin = data
        .trusted_admin()?
        .ok_or_else(|| DaemonError::NoRoster(config.data_dir.clone()))?;
    let signed = crate::files::admin::read_roster_file(&data.roster_path())
        .map_err(|e| DaemonError::Transport(e.to_string()))?;
    let store = Arc::new(data.open_store()?);
    if !roster.is_admitted(&node.id()) {
        tracing::warn!(node = %node.id(), "this node is not admitted by its own roster: other nodes will refuse it");
    }
    // An event from a peer with a clock far ahead must not drag ours into the future.
    let clock = crate::clock::hlc_after(store.newest_hlc()?);

    let identity = NodeIdentity::new(&node).map_err(|e| DaemonError::Transport(e.to_string()))?;
    let admission = Admission::new(roster.clone());
    let (server_tls, client_tls) = tls::rustls_configs(&identity, admission.clone())
        .map_err(|e| DaemonError::Transport(e.to_string()))?;
    let server_crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls)
        .map_err(|e| DaemonError::Transport(e.to_string()))?;
    let client_crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls)
        .map_err(|e| DaemonError::Transport(e.to_string()))?;
    let server_config = crate::mesh::server_config(Arc::new(server_crypto));
    let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
    client_config.transport_config(transport_config());
    let mut endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| DaemonError::Transport(format!("cannot start QUIC on {}: {e}", config.listen)))?;
    endpoint.set_default_client_config(client_config);
    let listen = endpoint
        .local_addr()
        .map_err(|e| DaemonError::Transport(e.to_string()))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (roster_tx, _) = watch::channel(roster.version);
    // The socket first, so the CLI waits for a node that is starting instead of being told
    // it does not answer; requests are taken once the view is built.
    let socket_file = crate::serve::socket::socket_path(&config.data_dir);
    let listener = crate::serve::socket::bind(&config.data_dir);
    let mut view = CareView::build(&store, &unit)?;
    view.forget_revoked(&roster);
    let payment_days = config.payment_days;
    let shared = Arc::new(Shared {
        view: Mutex::new(view),
        payment_days,
        escalated: AtomicU64::new(0),
        store: store.clone(),
        sync: SyncCounters::default(),
        refusals: Refusals::new(roster.version),
        reconcile_interval: config.reconcile_interval,
        node_key: data.node_key()?,
        unit_key: data.unit_key()?,
        node: node.id(),
        admission,
        clock_skew_warn_ms: config.clock_skew_warn.as_millis() as u64,
        data,
        admin,
        clock: Mutex::new(clock),
        peers: Mutex::new(PeerTable::default()),
        registry: Mutex::new(HashMap::new()),
        signed_roster: Mutex::new(signed),
        roster_lock: Mutex::new(()),
        roster_tx,
        shutdown_rx,
        next_id: AtomicU64::new(1),
    });
    tracing::info!(node = %node.id(), unit = %unit.unit(), %listen, roster = roster.version, "reservnod started");

    let mut tasks = JoinSet::new();
    tasks.spawn(accept_loop(shared.clone(), endpoint.clone()));
    for addr in &config.static_peers {
        tasks.spawn(keep_connected(shared.clone(), endpoint.clone(), *addr));
    }
    if config.discovery {
        let (found_tx, found_rx) = tokio::sync::mpsc::channel(64);
        let me = Announce {
            node: node.id(),
            quic_port: listen.port(),
        };
        let port = config.discovery_port;
        let rx = shared.shutdown_signal();
        tasks.spawn(async move {
            if let Err(e) = discovery::run(me, port, found_tx, rx).await {
                tracing::warn!(error = %e, "LAN discovery is not running");
            }
        });
        tasks.spawn(dial_discovered(shared.clone(), endpoint.clone(), found_rx));
    }
    // Without its socket the node still replicates; only the staff's commands cannot reach it
    // (they say so), so a socket that cannot be made is logged, not fatal.
    match listener {
        Ok(listener) => {
            tasks.spawn(crate::serve::socket::serve(
                listener,
                shared.clone() as Arc<dyn CareNode>,
                shared.shutdown_signal(),
                socket_file,
            ));
        }
        Err(e) => {
            tracing::error!(socket = %socket_file.display(), error = %e, "cannot open the local socket: the staff's commands cannot reach this node");
        }
    }
    let escalation_command = config.escalation_command.clone();
    let mut house = Housekeeping {
        shared: shared.clone(),
        store: store.clone(),
        unit: unit.unit().to_string(),
        listen,
        started_ms: now_ms(),
        roster_seen: None,
        roster_retry: None,
        unreachable: Vec::new(),
        rate_samples: VecDeque::new(),
        config,
    };
    house.write_status(true);
    if let Some(ready) = ready {
        let _ = ready.send(NodeHandle {
            shared: shared.clone(),
        });
    }
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    let mut escalation_tick = tokio::time::interval(escalation::CHECK_INTERVAL);
    let mut escalation_task: Option<tokio::task::JoinHandle<()>> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                house.check_roster_drop();
                house.write_status(true);
            }
            _ = escalation_tick.tick() => {
                // One check at a time: a slow escalation command must not pile them up.
                if escalation_task.as_ref().is_none_or(|t| t.is_finished()) {
                    let (shared, command) = (shared.clone(), escalation_command.clone());
                    escalation_task = Some(tokio::task::spawn_blocking(move || {
                        if let Err(e) = shared.check_escalations(command.as_deref()) {
                            tracing::warn!(error = %e, "escalation check failed");
                        }
                    }));
                }
            }
        }
    }
    if let Some(t) = escalation_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, t).await;
    }
    tracing::info!("shutting down: closing connections");
    shutdown_tx.send_replace(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    endpoint.close(close::SHUTDOWN.into(), b"shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    house.write_status(false);
    drop(house);
    // Wait until every task is gone (each holds the store through `shared`), so the store
    // is flushed last and its lock is free when this returns.
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while Arc::strong_count(&shared) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if Arc::strong_count(&shared) > 1 {
        tracing::warn!("some tasks were still running at shutdown");
    }
    drop(shared);
    store.flush()?;
    tracing::info!("stopped; store flushed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_peer_is_redialled_within_seconds_however_long_the_cut() {
        let mut previous = Duration::ZERO;
        for attempt in 0..64 {
            let d = backoff(attempt);
            // At most the cap plus its jitter: a healed link is tried again within this.
            assert!(
                d <= Duration::from_millis(6_250),
                "attempt {attempt}: {d:?}"
            );
            if attempt < 3 {
                assert!(d >= previous.mul_f64(0.5), "attempt {attempt} grows: {d:?}");
            }
            previous = d;
        }
        assert!(DIAL_TIMEOUT <= Duration::from_secs(5));
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn unvalidated_attempts_get_a_retry_once_handshakes_pile_up() {
        let mut h = Handshakes::default();
        for _ in 0..RETRY_AFTER_HANDSHAKES {
            assert_eq!(h.decide(addr(1), false, true), Admit::Accept);
            h.start(addr(1));
        }
        assert_eq!(h.decide(addr(1), false, true), Admit::Retry);
        assert_eq!(h.decide(addr(2), false, true), Admit::Retry);
        // A validated address gets in, up to its share.
        for _ in 0..HANDSHAKES_PER_ADDRESS_MAX {
            assert_eq!(h.decide(addr(3), true, false), Admit::Accept);
            h.start(addr(3));
        }
        assert_eq!(h.decide(addr(3), true, false), Admit::Refuse);
        assert_eq!(h.decide(addr(4), true, false), Admit::Accept);
        // The bound on all handshakes in progress holds for validated addresses too.
        let mut port = 100;
        while h.total < HANDSHAKES_MAX {
            h.start(addr(port));
            port += 1;
        }
        assert_eq!(h.decide(addr(5), true, false), Admit::Refuse);
        for p in 100..port {
            h.end(addr(p));
        }
        h.end(addr(3));
        assert_eq!(h.decide(addr(3), true, false), Admit::Accept);
        assert!(h.by_address.len() <= HANDSHAKES_MAX);
    }
}
