//! `daemon-status.json`: what the running daemon tells `reservnod peers`, `status` and
//! `wait-sync`, rewritten every housekeeping round.

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::files::datadir::DataDir;
use crate::files::keyfile;
use crate::limits::{STATUS_FILE_BYTES_MAX, STATUS_STALE_MS};
use crate::node::peers::{Counters, PeerInfo};
use crate::replication::SyncStats;
use crate::store::StoreStats;

/// The status file in the data directory.
pub const STATUS_FILE: &str = "daemon-status.json";

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
    /// The web interface's address (`https://…/` or `http://…/`), when it runs.
    #[serde(default)]
    pub web: Option<String>,
    /// The SHA-256 fingerprint of the web interface's certificate, under TLS.
    #[serde(default)]
    pub web_fingerprint: Option<String>,
    /// Where the outages stand and this unit's re-entry progress, one line (no patient
    /// data); only a running node has its view built to say it.
    #[serde(default)]
    pub outage: Option<String>,
    /// While the roster holds a purge decision: how many bodies this node purged and
    /// under which references, one line (no patient data).
    #[serde(default)]
    pub purge: Option<String>,
}

impl DaemonStatus {
    /// Reads the status file of a data directory, if the daemon that wrote it still runs:
    /// written recently, and the store's lock is held (a killed daemon's lock goes with its
    /// process at once, while its last status file stays fresh for a few seconds).
    pub fn read_fresh(data_dir: &std::path::Path) -> Option<DaemonStatus> {
        let bytes =
            keyfile::read_bounded(&data_dir.join(STATUS_FILE), STATUS_FILE_BYTES_MAX).ok()?;
        let status: DaemonStatus = serde_json::from_slice(&bytes).ok()?;
        (status.running
            && now_ms().saturating_sub(status.updated_ms) < STATUS_STALE_MS
            && DataDir::new(data_dir).store_in_use())
        .then_some(status)
    }
}
