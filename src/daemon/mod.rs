//! The daemon: `reservnod run`. Drives the node's mesh with tokio until shutdown.
//!
//! [`run`] takes an already-bound UDP socket and a shutdown future (mini-redis's pattern), so
//! tests bind port 0 on loopback and stop it with their own signal. It holds the data
//! directory's lock for its whole life and writes `daemon-status.json` there every second,
//! which `reservnod peers` and `reservnod status` read while it runs.
//!
//! - [`dial`](self): static peers, incoming handshakes, discovery dials.
//! - `housekeeping`: the roster drop file, the status file, escalation of unread messages.
//! - `web`: starts the staff's web interface (`serve::web`) when the config has `http`.
//! - [`paper`]: the paper fallback, the active patients' sheet written to a folder while an
//!   outage is declared.
//! - [`status`]: what the status file holds.

mod dial;
mod housekeeping;
pub mod paper;
pub mod status;
mod web;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use reservnod_proto::{EventId, Hlc, NodeId, SignedEvent};
use tokio::task::JoinSet;

pub use status::{DaemonStatus, STATUS_FILE};

use crate::care::api::ApiError;
use crate::clock::now_ms;
use crate::files::config::Config;
use crate::files::datadir::{DataDir, DataDirError};
use crate::limits::{
    DISCOVERED_QUEUE_MAX, ENDPOINT_CLOSE_WAIT, ESCALATION_CHECK_INTERVAL, HOUSEKEEPING_INTERVAL,
    PURGE_STEP_EVERY, SHUTDOWN_GRACE,
};
use crate::mesh::discovery::{self, Announce};
use crate::mesh::{close, endpoint};
use crate::node::{IngestOutcome, Node, NodeError, Settings};
use crate::store::StoreError;
use housekeeping::Housekeeping;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The data directory.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The node's keys, roster or store.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// TLS or QUIC setup.
    #[error("{0}")]
    Transport(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The web interface could not start (the message names the config key).
    #[error("{0}")]
    Web(String),
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
    node: Arc<Node>,
    web: Option<std::net::SocketAddr>,
}

impl NodeHandle {
    /// Where the web interface listens, when it runs.
    pub fn web_addr(&self) -> Option<std::net::SocketAddr> {
        self.web
    }
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node.id()
    }
    /// Verifies, authorizes and stores events written here, then pushes the new ones to
    /// every connected peer. Returns once they are durable.
    pub async fn write(&self, events: Vec<SignedEvent>) -> Result<IngestOutcome, StoreError> {
        self.node.ingest(events, None).await
    }
    /// Whether the node has this event.
    pub fn has(&self, id: &EventId) -> bool {
        self.node.store().contains(id).unwrap_or(false)
    }
    /// The stored event with this id, as stored (signed bytes), if the node has it.
    pub fn get(&self, id: &EventId) -> Option<SignedEvent> {
        self.node.store().get(id).ok().flatten()
    }
    /// How many events the node holds.
    pub fn event_count(&self) -> u64 {
        self.node.store().stats().map(|s| s.events).unwrap_or(0)
    }
    /// A timestamp from the node's clock, for events written here.
    pub fn tick(&self) -> Hlc {
        self.node.tick()
    }
    /// How many stored events were found damaged and quarantined.
    pub fn quarantined(&self) -> u64 {
        self.node
            .store()
            .stats()
            .map(|s| s.quarantined)
            .unwrap_or(0)
    }
    /// The access log as stored, oldest first.
    pub fn audit_entries(&self) -> Vec<crate::store::AuditEntry> {
        self.node
            .store()
            .audit_entries(0)
            .filter_map(|e| e.ok().map(|(_, e)| e))
            .collect()
    }
    /// How many entries the access log holds.
    pub fn audit_count(&self) -> usize {
        self.audit_entries().len()
    }
    /// The units whose Delivered receipt for `event` the node holds (HSA-ids).
    pub fn delivered_units(&self, event: &EventId) -> Vec<String> {
        self.node
            .store()
            .receipts_for(event)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind == reservnod_proto::care::receipts::ReceiptKind::Delivered)
            .map(|r| r.unit.to_string())
            .collect()
    }
    /// Runs one step of the purge pass now, from the start of the store (the daemon runs
    /// them every [`PURGE_STEP_EVERY`]); how many bodies it removed.
    pub fn purge_step_now(&self) -> Result<usize, ApiError> {
        crate::care::api::purge_step(self.node.as_ref(), None, crate::limits::PURGE_STEP_EVENTS)
            .map(|s| s.total())
    }
    /// How many events of one class the node holds.
    pub fn count_of(&self, class: reservnod_proto::EventClass) -> u64 {
        self.node
            .store()
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
    /// Answers a care request by `caller` as the local socket would (runs off the async
    /// threads).
    pub async fn ask(
        &self,
        caller: crate::care::api::Caller,
        request: crate::care::api::Request,
    ) -> Result<crate::care::api::Reply, ApiError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            crate::care::api::handle(node.as_ref(), &caller, request)
        })
        .await
        .map_err(|e| ApiError::Refused(format!("the request task failed: {e}")))?
    }
    /// Checks a login and password ([`crate::care::api::authenticate_password`]) on a
    /// blocking thread: Argon2id is slow on purpose and must not hold up the runtime.
    pub async fn authenticate_password(
        &self,
        login: String,
        password: crate::care::api::Secret,
        client: Option<String>,
    ) -> Result<crate::care::api::Account, ApiError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            crate::care::api::authenticate_password(node.as_ref(), &login, &password, client)
        })
        .await
        .map_err(|e| ApiError::Refused(format!("the login task failed: {e}")))?
    }
    /// Checks an API token ([`crate::care::api::authenticate_token`]) on a blocking thread.
    pub async fn authenticate_token(
        &self,
        token: crate::care::api::Secret,
        client: Option<String>,
    ) -> Result<crate::care::api::Account, ApiError> {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            crate::care::api::authenticate_token(node.as_ref(), &token, client)
        })
        .await
        .map_err(|e| ApiError::Refused(format!("the login task failed: {e}")))?
    }
    /// The receipts this node holds for an event.
    pub fn receipts(&self, event: &EventId) -> Vec<reservnod_proto::care::receipts::Receipt> {
        self.node.store().receipts_for(event).unwrap_or_default()
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
    let store = Arc::new(data.open_store()?);
    // The socket next (it needs the store's lock, so no other daemon serves this directory),
    // so the CLI waits for a node that is starting instead of being told it does not answer;
    // requests are taken once the view is built.
    let socket_file = crate::serve::socket::socket_path(&config.data_dir);
    let listener = crate::serve::socket::bind(&config.data_dir);
    let settings = Settings::of(&config);
    // The commands that open this directory themselves read the same config.
    if let Some(source) = &config.source {
        if let Err(e) = data.record_config(source) {
            tracing::warn!(error = %e, "cannot record the config in the data directory: commands run while the node is stopped may use other settings");
        }
    }
    let (node, gone) = Node::open_with_store(data, store.clone(), settings)?;
    let node = Arc::new(node);
    let roster = node.admission().roster();
    if !roster.is_admitted(&node.id()) {
        tracing::warn!(node = %node.id(), "this node is not admitted by its own roster: other nodes will refuse it");
    }
    let endpoint = endpoint::endpoint(node.node_key(), node.admission().clone(), socket)
        .map_err(DaemonError::Transport)?;
    let listen = endpoint
        .local_addr()
        .map_err(|e| DaemonError::Transport(e.to_string()))?;
    let unit = node.unit_key().unit().clone();
    tracing::info!(node = %node.id(), %unit, %listen, roster = roster.version, "reservnod started");

    let mut tasks = JoinSet::new();
    tasks.spawn(dial::accept_loop(node.clone(), endpoint.clone()));
    for addr in &config.static_peers {
        tasks.spawn(dial::keep_connected(node.clone(), endpoint.clone(), *addr));
    }
    if config.discovery {
        let (found_tx, found_rx) = tokio::sync::mpsc::channel(DISCOVERED_QUEUE_MAX);
        let me = Announce {
            node: node.id(),
            quic_port: listen.port(),
        };
        let port = config.discovery_port;
        let rx = node.shutdown_signal();
        tasks.spawn(async move {
            if let Err(e) = discovery::run(me, port, found_tx, rx).await {
                tracing::warn!(error = %e, "LAN discovery is not running");
            }
        });
        tasks.spawn(dial::dial_discovered(
            node.clone(),
            endpoint.clone(),
            found_rx,
        ));
    }
    // Without its socket the node still replicates; only the staff's commands cannot reach it
    // (they say so), so a socket that cannot be made is logged, not fatal.
    match listener {
        Ok(listener) => {
            tasks.spawn(crate::serve::socket::serve(
                listener,
                node.clone(),
                node.shutdown_signal(),
                socket_file,
            ));
        }
        Err(e) => {
            tracing::error!(socket = %socket_file.display(), error = %e, "cannot open the local socket: the staff's commands cannot reach this node");
        }
    }
    let web = match &config.http {
        Some(http) => Some(
            web::start(&config.data_dir, http, node.clone(), &mut tasks)
                .await
                .map_err(DaemonError::Web)?,
        ),
        None => None,
    };
    let escalation_command = config.escalation_command.clone();
    let paper_config = config.paper.clone();
    let escalated = Arc::new(AtomicU64::new(0));
    // What became due before this node first escalated was its unit's older nodes' to alarm.
    let escalation_floor = node.store().escalation_floor(now_ms())?;
    let mut house = Housekeeping {
        node: node.clone(),
        unit: unit.to_string(),
        listen,
        started_ms: now_ms(),
        roster_seen: None,
        roster_retry: None,
        unreachable: Vec::new(),
        rate_samples: VecDeque::new(),
        escalated: escalated.clone(),
        web: web.as_ref().map(|w| (w.url.clone(), w.fingerprint.clone())),
        outage_line: None,
        purge_line: None,
        config,
    };
    house.write_status(true);
    if let Some(ready) = ready {
        let _ = ready.send(NodeHandle {
            node: node.clone(),
            web: web.as_ref().map(|w| w.addr),
        });
    }
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    let mut escalation_tick = tokio::time::interval(ESCALATION_CHECK_INTERVAL);
    let mut escalation_task: Option<tokio::task::JoinHandle<()>> = None;
    // Without `paper.dir` the timer never fires (an hour, re-armed, does nothing).
    let mut paper_tick = tokio::time::interval(
        paper_config
            .as_ref()
            .map(|p| p.every)
            .unwrap_or(std::time::Duration::from_secs(3600)),
    );
    let mut paper_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut purge_tick = tokio::time::interval(PURGE_STEP_EVERY);
    let purge_cursor = Arc::new(std::sync::Mutex::new(None));
    let mut purge_task: Option<tokio::task::JoinHandle<()>> = None;
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
                    let (node, command, escalated) = (node.clone(), escalation_command.clone(), escalated.clone());
                    escalation_task = Some(tokio::task::spawn_blocking(move || {
                        match housekeeping::check_escalations(&node, command.as_deref(), escalation_floor) {
                            Ok(n) => { escalated.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed); }
                            Err(e) => tracing::warn!(error = %e, "escalation check failed"),
                        }
                    }));
                }
            }
            _ = purge_tick.tick() => {
                // One step at a time, each bounded (PURGE_STEP_EVENTS): the walk goes on
                // where the last stopped.
                if purge_task.as_ref().is_none_or(|t| t.is_finished()) {
                    let (node, cursor) = (node.clone(), purge_cursor.clone());
                    purge_task = Some(tokio::task::spawn_blocking(move || {
                        let at = *cursor.lock().unwrap_or_else(|p| p.into_inner());
                        let next = housekeeping::purge_step(&node, at);
                        *cursor.lock().unwrap_or_else(|p| p.into_inner()) = next;
                    }));
                }
            }
            _ = paper_tick.tick(), if paper_config.is_some() => {
                if let Some(p) = &paper_config {
                    if paper_task.as_ref().is_none_or(|t| t.is_finished()) {
                        let (node, dir) = (node.clone(), p.dir.clone());
                        paper_task = Some(tokio::task::spawn_blocking(move || {
                            // No patient data in these lines: the folder and a count only.
                            match paper::write_if_due(node.as_ref(), &dir, paper::outage_declared) {
                                Ok(Some(w)) => tracing::info!(file = %w.path.display(), patients = w.patients, "paper sheet written"),
                                Ok(None) => {}
                                Err(e) => tracing::warn!(error = %e, "paper sheet not written"),
                            }
                        }));
                    }
                }
            }
        }
    }
    if let Some(t) = escalation_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, t).await;
    }
    if let Some(t) = paper_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, t).await;
    }
    if let Some(t) = purge_task {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, t).await;
    }
    tracing::info!("shutting down: closing connections");
    node.shut_down();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    endpoint.close(close::SHUTDOWN.into(), b"shutting down");
    let _ = tokio::time::timeout(ENDPOINT_CLOSE_WAIT, endpoint.wait_idle()).await;
    house.write_status(false);
    drop(house);
    // Wait until every task has let go of the node (each holds the store through it), so
    // the store is flushed last and its lock is free when this returns.
    drop(node);
    if !gone.wait(SHUTDOWN_GRACE).await {
        tracing::warn!("some tasks were still running at shutdown");
    }
    store.flush()?;
    tracing::info!("stopped; store flushed");
    Ok(())
}
