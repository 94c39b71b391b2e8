//! The node: one state shared by everything that acts for this node — the connections of
//! the mesh, the daemon's loops, the local socket and the staff's operations.
//!
//! [`Node`] holds the keys, the roster in force ([`Admission`]) and its offers, the clock,
//! the care view, the store, the registry of connections with their outboxes, the peer table
//! and the sync counters. It knows nothing of QUIC: a connection registers its outbox and a
//! way to close it, so the mesh (and later a simulator) drives a node without the node
//! knowing how links are made.
//!
//! - [`admission`]: the roster in force, shared with the TLS verifiers.
//! - [`ingest`]: the one pipeline every event enters by (verify, authorize, Delivered,
//!   one atomic store, view, what to push).
//! - [`peers`]: the peer table and the refusal counters shown by `peers` and `status`.

pub mod admission;
pub mod ingest;
pub mod peers;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reservnod_proto::budget::TokenBucket;
use reservnod_proto::{
    AdminPublicKey, EventId, Hlc, HlcClock, NodeId, NodeKey, Priority, Roster, SignedEvent,
    SignedRoster, UnitSecretKey,
};
use tokio::sync::{mpsc, watch};

pub use admission::Admission;
pub use ingest::{IngestOutcome, Push};
use peers::PeerTable;

use crate::care::api::{ApiError, CareNode, MeshSeen};
use crate::care::view::CareView;
use crate::clock::now_ms;
use crate::files::config::{
    Config, DEFAULT_CLOCK_SKEW_WARN_MS, DEFAULT_PAYMENT_DAYS, DEFAULT_UNIT_UNREACHABLE_AFTER,
};
use crate::files::datadir::{DataDir, DataDirError};
use crate::limits::RECONCILE_INTERVAL;
use crate::replication::{Outbox, Refusals, SyncCounters};
use crate::store::{Store, StoreError};

/// Why a node could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory (keys, roster file, store).
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// No roster: the node cannot tell friend from stranger without one.
    #[error(
        "no roster is installed in {0}: install one with `reservnod node install-roster FILE`"
    )]
    NoRoster(PathBuf),
    /// The installed roster file does not read back.
    #[error("the installed roster: {0}")]
    RosterFile(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The config recorded in the data directory cannot be used.
    #[error("{error} (the config `reservnod run` last used, named in {record})")]
    Config {
        /// The record.
        record: PathBuf,
        /// What is wrong.
        error: String,
    },
}

/// What a node takes from its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Calendar days after "ready for discharge" until the municipality pays.
    pub payment_days: u32,
    /// A peer whose clock differs by more than this is warned about.
    pub clock_skew_warn_ms: u64,
    /// How often a dialled connection reconciles with its peer.
    pub reconcile_interval: Duration,
    /// A unit none of whose nodes was reachable for this long is unreachable.
    pub unit_unreachable_after: Duration,
    /// Days after a purge decision before this node removes what it covers; None: never.
    pub purge_after_days: Option<u32>,
}

impl Settings {
    /// The settings `config` gives.
    pub fn of(config: &Config) -> Settings {
        Settings {
            payment_days: config.payment_days,
            clock_skew_warn_ms: config.clock_skew_warn.as_millis() as u64,
            reconcile_interval: config.reconcile_interval,
            unit_unreachable_after: config.unit_unreachable_after,
            purge_after_days: config.purge_after_days,
        }
    }

    /// The settings for a command that opens `data` itself (no daemon runs): those of the
    /// config `reservnod run` last ran the directory with (recorded in it), so a command
    /// answers the same with the node running or not; the defaults if it never ran.
    pub fn for_data_dir(data: &DataDir) -> Result<Settings, NodeError> {
        let Some(path) = data.recorded_config()? else {
            return Ok(Settings::default());
        };
        let config = Config::load(&path).map_err(|e| NodeError::Config {
            record: data.config_record_path(),
            error: e.to_string(),
        })?;
        let same =
            |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            };
        if !same(&config.data_dir, data.root()) {
            return Err(NodeError::Config {
                record: data.config_record_path(),
                error: format!(
                    "{} names another data directory ({})",
                    path.display(),
                    config.data_dir.display()
                ),
            });
        }
        Ok(Settings::of(&config))
    }
}

impl Default for Settings {
    /// What a config that sets nothing gives.
    fn default() -> Settings {
        Settings {
            payment_days: DEFAULT_PAYMENT_DAYS,
            clock_skew_warn_ms: DEFAULT_CLOCK_SKEW_WARN_MS,
            reconcile_interval: RECONCILE_INTERVAL,
            unit_unreachable_after: DEFAULT_UNIT_UNREACHABLE_AFTER,
            purge_after_days: None,
        }
    }
}

/// One registered connection.
struct Link {
    id: u64,
    /// Which run of the peer (the hash of its certificate).
    instance: [u8; 32],
    initiator: NodeId,
    outbox: Arc<Outbox>,
    /// Closes the connection when a newer one to the same peer replaces it.
    displaced: Box<dyn FnOnce() + Send>,
}

/// Resolves once every [`Node`] made with it is gone, so whoever stops the node knows no
/// task holds its store any more (tokio's "wait for the last sender to drop" pattern).
pub struct Gone(mpsc::Receiver<()>);

impl Gone {
    /// Waits up to `grace` for the node to be dropped everywhere; false if it was not.
    pub async fn wait(mut self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.0.recv()).await.is_ok()
    }
}

/// The state of one node.
pub struct Node {
    pub(crate) id: NodeId,
    pub(crate) admission: Arc<Admission>,
    pub(crate) clock_skew_warn_ms: u64,
    pub(crate) reconcile_interval: Duration,
    unit_unreachable_after: Duration,
    /// When the node opened: its peer table knows nothing from before.
    opened_ms: u64,
    pub(crate) store: Arc<Store>,
    node_key: NodeKey,
    unit_key: UnitSecretKey,
    data: DataDir,
    admin: AdminPublicKey,
    payment_days: u32,
    purge_after_days: Option<u32>,
    sync: SyncCounters,
    refusals: Refusals,
    clock: Mutex<HlcClock>,
    view: Mutex<CareView>,
    /// Held by a care operation from the reads its write depends on to the write.
    write_turn: Mutex<()>,
    peers: Mutex<PeerTable>,
    links: Mutex<HashMap<NodeId, Link>>,
    /// New reconciliation sessions each peer node may still start (bounded by the roster:
    /// only admitted nodes get a connection).
    session_budgets: Mutex<HashMap<NodeId, TokenBucket>>,
    signed_roster: Mutex<SignedRoster>,
    roster_lock: Mutex<()>,
    roster_tx: watch::Sender<u64>,
    shutdown_tx: watch::Sender<bool>,
    next_id: AtomicU64,
    /// Events a batch of the ingest pipeline is storing right now.
    in_flight: Mutex<HashSet<EventId>>,
    /// Dropped last (fields drop in order), after the store above: when [`Gone`] resolves,
    /// this node no longer holds the store.
    _alive: mpsc::Sender<()>,
}

/// What a node reads from its data directory before it opens the store.
struct Keys {
    node: NodeKey,
    unit: UnitSecretKey,
    roster: Roster,
    admin: AdminPublicKey,
    signed: SignedRoster,
}

impl Keys {
    fn read(data: &DataDir) -> Result<Keys, NodeError> {
        let node = data.node_key()?;
        let unit = data.unit_key()?;
        let roster = data
            .roster()?
            .ok_or_else(|| NodeError::NoRoster(data.root().to_path_buf()))?;
        let admin = data
            .trusted_admin()?
            .ok_or_else(|| NodeError::NoRoster(data.root().to_path_buf()))?;
        let signed = crate::files::admin::read_roster_file(&data.roster_path())
            .map_err(|e| NodeError::RosterFile(e.to_string()))?;
        Ok(Keys {
            node,
            unit,
            roster,
            admin,
            signed,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// Opens the node of a data directory: keys, the installed roster and the admin key it
    /// is signed by, the store (whose lock is held until the node is dropped) and the view
    /// of this unit's events. Returns the node and what tells when it is gone.
    pub fn open(data: DataDir, settings: Settings) -> Result<(Node, Gone), NodeError> {
        let keys = Keys::read(&data)?;
        let store = Arc::new(data.open_store()?);
        Node::assemble(data, keys, store, settings)
    }

    /// [`Node::open`] with the store already open (the daemon holds its lock before it
    /// binds the local socket, and binds that before the view is built).
    pub fn open_with_store(
        data: DataDir,
        store: Arc<Store>,
        settings: Settings,
    ) -> Result<(Node, Gone), NodeError> {
        let keys = Keys::read(&data)?;
        Node::assemble(data, keys, store, settings)
    }

    fn assemble(
        data: DataDir,
        keys: Keys,
        store: Arc<Store>,
        settings: Settings,
    ) -> Result<(Node, Gone), NodeError> {
        // An event from a peer with a clock far ahead must not drag ours into the future.
        let clock = crate::clock::hlc_after(store.newest_hlc()?, now_ms());
        let mut owed = ingest::Owed::default();
        let unit = keys.unit.unit().clone();
        let mut view =
            CareView::build_with(&store, &keys.unit, |v, opened| owed.see(&unit, v, opened))?;
        view.forget_revoked(&keys.roster);
        let refusals = Refusals::new(keys.roster.version);
        let (roster_tx, _) = watch::channel(keys.roster.version);
        let (shutdown_tx, _) = watch::channel(false);
        let (alive, gone) = mpsc::channel(1);
        let node = Node {
            id: keys.node.id(),
            admission: Admission::new(keys.roster),
            clock_skew_warn_ms: settings.clock_skew_warn_ms,
            reconcile_interval: settings.reconcile_interval,
            unit_unreachable_after: settings.unit_unreachable_after,
            opened_ms: now_ms(),
            store,
            node_key: keys.node,
            unit_key: keys.unit,
            data,
            admin: keys.admin,
            payment_days: settings.payment_days,
            purge_after_days: settings.purge_after_days,
            sync: SyncCounters::default(),
            refusals,
            clock: Mutex::new(clock),
            view: Mutex::new(view),
            write_turn: Mutex::new(()),
            peers: Mutex::new(PeerTable::default()),
            links: Mutex::new(HashMap::new()),
            session_budgets: Mutex::new(HashMap::new()),
            signed_roster: Mutex::new(keys.signed),
            roster_lock: Mutex::new(()),
            roster_tx,
            shutdown_tx,
            next_id: AtomicU64::new(1),
            in_flight: Mutex::new(HashSet::new()),
            _alive: alive,
        };
        // The receipts this node owes (a crash before the pipeline wrote them atomically, or
        // events taken in by an older version): written now, spread by reconciliation.
        let owed = owed.into_events();
        if !owed.is_empty() {
            let mut written = 0;
            for chunk in owed.chunks(crate::limits::BUNDLE_IMPORT_BATCH) {
                let receipts = ingest::owed_receipts(&node, chunk)?;
                written += node.ingest_blocking(receipts, None)?.stored.len();
            }
            tracing::info!(
                receipts = written,
                "wrote the Delivered receipts this node owed"
            );
        }
        Ok((node, Gone(gone)))
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
    /// The roster in force.
    pub fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }
    /// This node's unit key.
    pub fn unit_key(&self) -> &UnitSecretKey {
        &self.unit_key
    }
    /// The node key.
    pub fn node_key(&self) -> &NodeKey {
        &self.node_key
    }
    /// The opened events of this unit.
    pub fn view(&self) -> MutexGuard<'_, CareView> {
        lock(&self.view)
    }
    /// The peer table.
    pub fn peers(&self) -> MutexGuard<'_, PeerTable> {
        lock(&self.peers)
    }
    /// The replication counters.
    pub fn sync(&self) -> &SyncCounters {
        &self.sync
    }
    /// Refused events remembered, over all peers.
    pub fn refusals_remembered(&self) -> usize {
        self.refusals.len()
    }
    /// A timestamp from the node's clock, for an event written now.
    pub fn tick(&self) -> Hlc {
        lock(&self.clock).tick(now_ms())
    }
    /// Takes a peer's clock into account.
    pub fn observe(&self, remote: Hlc) {
        // A remote clock far ahead is refused by the HLC and reported in the peer table.
        let _ = lock(&self.clock).observe(remote, now_ms());
    }
    /// A number never handed out before by this node (sessions, pings, registrations).
    pub fn next_nonce(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
    /// Changes to the roster version.
    pub fn roster_changes(&self) -> watch::Receiver<u64> {
        self.roster_tx.subscribe()
    }
    /// Turns true when the node is stopping.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }
    /// Tells every task to stop.
    pub fn shut_down(&self) {
        self.shutdown_tx.send_replace(true);
    }
    /// The roster in force as the admin signed it, to hand to a peer with an older one.
    pub fn signed_roster(&self) -> SignedRoster {
        lock(&self.signed_roster).clone()
    }
    /// Connections registered.
    pub fn connections(&self) -> usize {
        lock(&self.links).len()
    }
    /// Whether a connection to `node` is registered.
    pub fn is_connected(&self, node: &NodeId) -> bool {
        lock(&self.links).contains_key(node)
    }

    /// Registers a connection. A connection from another run of the peer (`instance`, its
    /// certificate) than the registered one means the peer restarted: the new one replaces
    /// the old, whose process is gone, at once. Of two connections from the same run, both
    /// sides keep the one dialled by the smaller node id. The connection replaced is closed
    /// through its `displaced`. Returns the registration id, or None if this connection is
    /// the one to drop.
    pub fn register(
        &self,
        peer: NodeId,
        instance: [u8; 32],
        dialed: bool,
        outbox: Arc<Outbox>,
        displaced: impl FnOnce() + Send + 'static,
    ) -> Option<u64> {
        let initiator = if dialed { self.id } else { peer };
        let id = self.next_nonce();
        let mut links = lock(&self.links);
        if let Some(existing) = links.get(&peer) {
            let restarted = existing.instance != instance;
            let keep_existing =
                !restarted && existing.initiator != initiator && existing.initiator < initiator;
            if keep_existing {
                return None;
            }
            if restarted {
                tracing::info!(peer = %peer, "a new connection from the restarted peer replaces its old one");
            }
        }
        let link = Link {
            id,
            instance,
            initiator,
            outbox,
            displaced: Box::new(displaced),
        };
        if let Some(old) = links.insert(peer, link) {
            (old.displaced)();
        }
        Some(id)
    }

    /// Removes a registration (if it is still the one registered for `peer`).
    pub fn unregister(&self, peer: NodeId, id: u64) {
        let mut links = lock(&self.links);
        if links.get(&peer).is_some_and(|l| l.id == id) {
            links.remove(&peer);
            drop(links);
            self.peers().disconnected(&peer);
        }
    }

    /// Events queued to be sent, over all connections.
    pub fn queued_to_send(&self) -> u64 {
        lock(&self.links)
            .values()
            .map(|l| l.outbox.queued() as u64)
            .sum()
    }

    /// The reconciliation keys of a scope for a session with `peer`: what the store holds,
    /// plus what this node refused from that peer (so it is neither asked for nor sent
    /// again). Blocking (a store scan).
    pub fn reconcile_keys(
        &self,
        peer: &NodeId,
        urgent_only: bool,
    ) -> Result<Vec<(Hlc, EventId)>, StoreError> {
        Ok(self
            .refusals
            .add_to(peer, urgent_only, self.store.keys(urgent_only)?))
    }

    /// The ingest pipeline ([`ingest::take_in`]), then the counters, the refusals remembered
    /// for `from`, and the push to every connection (none offline). Blocking.
    pub fn ingest_blocking(
        &self,
        events: Vec<SignedEvent>,
        from: Option<NodeId>,
    ) -> Result<IngestOutcome, StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let roster_version = self.admission.roster().version;
        let (outcome, push) = ingest::take_in(self, &events, from)?;
        if let Some(peer) = from {
            self.refusals
                .record(peer, roster_version, &outcome.refused_keys);
            self.sync.received.fetch_add(events.len() as u64, Relaxed);
            self.sync
                .duplicates
                .fetch_add(outcome.duplicates as u64, Relaxed);
            self.sync
                .refused
                .fetch_add(outcome.refused.len() as u64, Relaxed);
        }
        self.sync.stored.fetch_add(
            (outcome.stored.len() + outcome.answers.len()) as u64,
            Relaxed,
        );
        self.push(&push);
        Ok(outcome)
    }

    /// [`Node::ingest_blocking`] off the async threads.
    pub async fn ingest(
        self: &Arc<Self>,
        events: Vec<SignedEvent>,
        from: Option<NodeId>,
    ) -> Result<IngestOutcome, StoreError> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.ingest_blocking(events, from))
            .await
            .map_err(|e| StoreError::Corrupt(format!("ingest task failed: {e}")))?
    }

    /// Queues what a batch stored ([`Push`]) on the connections: what arrived on every one
    /// but the sender's, what this node wrote in answer on every one; urgent first.
    pub fn push(&self, push: &Push) {
        self.queue(&push.forward, push.except);
        self.queue(&push.answers, None);
    }

    fn queue(&self, stored: &[(EventId, Priority)], except: Option<NodeId>) {
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
        let links = lock(&self.links);
        for (_, l) in links.iter().filter(|(node, _)| Some(**node) != except) {
            if !urgent.is_empty() {
                l.outbox.queue(urgent.iter().copied(), true);
            }
            if !bulk.is_empty() {
                l.outbox.queue(bulk.iter().copied(), false);
            }
        }
    }

    /// [`Node::offer_roster`] on a blocking thread: verifying a roster checks every key in
    /// it, which must not hold up an async worker.
    pub async fn offer_roster_blocking(
        self: &Arc<Self>,
        signed: SignedRoster,
    ) -> Result<Option<u64>, RosterRefusal> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.offer_roster(&signed))
            .await
            .map_err(|e| RosterRefusal::Retry(format!("roster task failed: {e}")))?
    }

    /// Whether `peer` may start one more reconciliation session with this node now
    /// ([`crate::limits::RESPONDER_SESSIONS_BURST`], then one per
    /// [`crate::limits::RESPONDER_SESSION_REFILL`]), counted per node over its connections.
    pub fn allow_responder_session(&self, peer: &NodeId) -> bool {
        let now = crate::clock::monotonic_ms();
        lock(&self.session_budgets)
            .entry(*peer)
            .or_insert_with(|| {
                TokenBucket::new(
                    crate::limits::RESPONDER_SESSIONS_BURST,
                    crate::limits::RESPONDER_SESSION_REFILL.as_millis() as u64,
                    now,
                )
            })
            .take(now)
    }

    /// Installs `signed` if it is a newer roster by the trusted admin than the one in force
    /// (in memory: the file on disk may be the very one offered); tells every connection.
    /// Returns the new version, or None if it was not newer. The one way a roster is put in
    /// force: from the drop file, a peer or the CLI.
    pub fn offer_roster(&self, signed: &SignedRoster) -> Result<Option<u64>, RosterRefusal> {
        // The claimed version first: a replayed or older roster costs no signature or key
        // checks. A roster that claims to be newer is verified in full below.
        if signed
            .claimed_version()
            .is_ok_and(|v| v <= self.admission.roster().version)
        {
            return Ok(None);
        }
        let _guard = lock(&self.roster_lock);
        let new = signed
            .verify_trusted(&self.admin)
            .map_err(|e| RosterRefusal::Forged(e.to_string()))?;
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
                DataDirError::Roster { cause, .. } => RosterRefusal::Final(cause.to_string()),
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
}

/// Why a roster was not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterRefusal {
    /// The roster itself is refused (signature, admin key, content, not for this unit): the
    /// same file will be refused again.
    #[error("{0}")]
    Final(String),
    /// It does not verify: not signed by the pinned admin key, or not a valid roster. Final
    /// too; from a peer, a protocol violation (peers forward only rosters they verified).
    #[error("{0}")]
    Forged(String),
    /// Installing it failed here (reading a key, writing the file): try again.
    #[error("{0}")]
    Retry(String),
}

impl ingest::Context for Node {
    fn store(&self) -> &Store {
        &self.store
    }
    fn roster(&self) -> Arc<Roster> {
        self.admission.roster()
    }
    fn node_key(&self) -> &NodeKey {
        &self.node_key
    }
    fn unit_key(&self) -> &UnitSecretKey {
        &self.unit_key
    }
    fn tick(&self) -> Hlc {
        Node::tick(self)
    }
    fn view(&self) -> MutexGuard<'_, CareView> {
        Node::view(self)
    }
    fn in_flight(&self) -> &Mutex<HashSet<EventId>> {
        &self.in_flight
    }
    fn purge_after_days(&self) -> Option<u32> {
        self.purge_after_days
    }
}

impl CareNode for Node {
    fn store(&self) -> &Store {
        &self.store
    }
    fn roster(&self) -> Arc<Roster> {
        self.admission.roster()
    }
    fn node_key(&self) -> &NodeKey {
        &self.node_key
    }
    fn unit_key(&self) -> &UnitSecretKey {
        &self.unit_key
    }
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, buf)
    }
    fn tick(&self) -> Hlc {
        Node::tick(self)
    }
    fn view(&self) -> MutexGuard<'_, CareView> {
        Node::view(self)
    }
    fn write_turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.write_turn)
    }
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError> {
        let outcome = Node::ingest_blocking(self, events, None)?;
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
    fn purge_after_days(&self) -> Option<u32> {
        self.purge_after_days
    }
    /// A roster handed over by the CLI (`node install-roster` while the node runs).
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError> {
        match self.offer_roster(signed) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(ApiError::Refused(format!(
                "rostern är inte nyare än den noden har (version {})",
                self.admission.roster().version
            ))),
            Err(RosterRefusal::Final(m))
            | Err(RosterRefusal::Forged(m))
            | Err(RosterRefusal::Retry(m)) => Err(ApiError::Refused(format!(
                "rostern installerades inte: {m}"
            ))),
        }
    }
    fn mesh(&self) -> MeshSeen {
        MeshSeen {
            since_ms: self.opened_ms,
            contacts: self.peers().contacts(),
            to_come: self.sync.to_go.load(Ordering::Relaxed),
            to_send: self.queued_to_send(),
            unreachable_after_ms: self.unit_unreachable_after.as_millis() as u64,
            clock_skew_warn_ms: self.clock_skew_warn_ms,
        }
    }
    fn backup(&self, with_keys: bool) -> Result<crate::care::api::BackupMade, ApiError> {
        let now = now_ms();
        let made = crate::files::backup::staging_path(&self.data, now)
            .and_then(|path| {
                crate::files::backup::write(&self.data, &self.store, &path, with_keys, now)
            })
            .map_err(|e| ApiError::Refused(format!("säkerhetskopian skrevs inte: {e}")))?;
        Ok(crate::care::api::BackupMade {
            path: made.path.display().to_string(),
            entries: made.entries,
            bytes: made.bytes,
            with_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_settings_come_from_the_config_the_daemon_recorded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(tmp.path().join("node"));
        std::fs::create_dir_all(data.root()).expect("dir");
        // Never ran: the defaults of a config that sets nothing.
        let none = Settings::for_data_dir(&data).expect("settings");
        assert_eq!(none.payment_days, DEFAULT_PAYMENT_DAYS);

        let config = tmp.path().join("node.toml");
        std::fs::write(&config, "data_dir = \"node\"\npayment_days = 5\n").expect("write");
        data.record_config(&config).expect("record");
        assert_eq!(
            Settings::for_data_dir(&data)
                .expect("settings")
                .payment_days,
            5
        );

        // A config that names another directory, or none that can be read: a clear error.
        std::fs::write(&config, "data_dir = \"other\"\n").expect("write");
        let err = Settings::for_data_dir(&data).expect_err("another directory");
        assert!(err.to_string().contains("another data directory"), "{err}");
        std::fs::remove_file(&config).expect("remove");
        let err = Settings::for_data_dir(&data).expect_err("gone");
        assert!(err.to_string().contains("config-path"), "{err}");
    }
}
