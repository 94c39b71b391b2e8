//! The types every operation shares: the node they run against ([`CareNode`]), the refusal
//! ([`ApiError`]), and the parts of replies several operations use.

use std::sync::{Arc, MutexGuard};

use reservnod_proto::{Hlc, NodeId, NodeKey, Roster, SignedEvent, SignedRoster, UnitSecretKey};
use serde::{Deserialize, Serialize};

use super::input::Invalid;
use crate::care::view::CareView;
use crate::store::{Store, StoreError};

/// Why a request was refused. The message is Swedish, for staff.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this: their roles, or an account of another unit
    /// ([`super::Caller::require`]). The web layer answers it with 403.
    #[error("{0}")]
    NotAllowed(String),
    /// The store failed.
    #[error("lagringsfel: {0}")]
    Store(StoreError),
}

// By hand, not `#[from]`: the message already says the cause, so it is not also a source.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::Refused(e.message().to_string())
    }
}

pub(super) fn refused(s: impl Into<String>) -> ApiError {
    ApiError::Refused(s.into())
}

pub(super) fn not_allowed(s: impl Into<String>) -> ApiError {
    ApiError::NotAllowed(s.into())
}

/// What the care operations need of a node.
pub trait CareNode: Send + Sync {
    /// The store.
    fn store(&self) -> &Store;
    /// The roster in force.
    fn roster(&self) -> Arc<Roster>;
    /// This node's key.
    fn node_key(&self) -> &NodeKey;
    /// This node's unit key.
    fn unit_key(&self) -> &UnitSecretKey;
    /// Now, in ms since the epoch: the node's wall clock (a test or a simulation injects its
    /// own). Stamps what a person writes, the audit log and "today" for patient ids.
    fn now_ms(&self) -> u64;
    /// Fills `buf` with cryptographically secure random bytes (a test may seed them): for
    /// sealing, new plan ids and new episode ids.
    fn fill_random(&self, buf: &mut [u8]);
    /// A timestamp for an event written now.
    fn tick(&self) -> Hlc;
    /// The opened events of this unit.
    fn view(&self) -> MutexGuard<'_, CareView>;
    /// Held by an operation from the reads its write depends on to the write (a plan edit
    /// reads the heads, an ack looks for an earlier Read), so on one node such operations
    /// take turns: two at once would read the same state and both write (a node in conflict
    /// with itself, two Read receipts). The node's own lock: other nodes never wait for it.
    fn write_turn(&self) -> MutexGuard<'_, ()>;
    /// Verifies, stores (durably), adds to the view and spreads events written here.
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError>;
    /// Calendar days after "ready for discharge" until the municipality pays.
    fn payment_days(&self) -> u32;
    /// Days after a purge decision before this node removes the bodies it covers
    /// (`[retention] purge_after_days`); None, the default: never (PROTOCOL.md §5.7).
    fn purge_after_days(&self) -> Option<u32>;
    /// Installs a newer roster by the trusted admin and puts it in force; its version.
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError>;
    /// Writes a consistent backup of the node's data directory into its `backups/`.
    fn backup(&self, with_keys: bool) -> Result<BackupMade, ApiError>;
    /// What the node's mesh has recorded of its peers since the node opened (nothing for a
    /// node opened by a command with no daemon running: it has no connections).
    fn mesh(&self) -> MeshSeen;
}

/// What the mesh recorded of one peer node (filled by the node's peer table).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    /// The peer.
    pub node: NodeId,
    /// Connected now (past the hello).
    pub connected: bool,
    /// Its address, as last connected.
    pub address: String,
    /// When it was last heard from (ms since the epoch).
    pub last_seen_ms: u64,
    /// Round trip of the last ping.
    pub rtt_ms: Option<f64>,
    /// Its clock minus ours, from the last ping (ms).
    pub clock_offset_ms: Option<i64>,
    /// When events were last reconciled with it.
    pub last_sync_ms: Option<u64>,
    /// Events sent to and received from it.
    pub events_exchanged: u64,
}

/// What a node knows of its mesh ([`CareNode::mesh`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshSeen {
    /// Since when it has watched its peers (the node opened): before that it knows nothing.
    pub since_ms: u64,
    /// The peers it has had a connection with since then.
    pub contacts: Vec<Contact>,
    /// Events peers announced or it asked for that have not arrived.
    pub to_come: u64,
    /// Events queued here to be sent to peers.
    pub to_send: u64,
    /// A unit none of whose nodes was reachable for this long is unreachable.
    pub unreachable_after_ms: u64,
    /// A peer clock off by more than this is warned about.
    pub clock_skew_warn_ms: u64,
}

/// A backup written (`backup`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMade {
    /// Where the node wrote it (in its data directory's `backups/`; the CLI moves it).
    pub path: String,
    /// Store entries in it.
    pub entries: u64,
    /// Its size.
    pub bytes: u64,
    /// Whether the node's and the unit's secret keys are in it.
    pub with_keys: bool,
}

/// A unit as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// HSA-id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What became of a sent event at one recipient unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The unit.
    pub unit: UnitRef,
    /// "väntar", "levererad" or "läst".
    pub state: String,
    /// When delivered (the first Delivered receipt of the unit).
    pub delivered_ms: Option<u64>,
    /// To which of the unit's nodes (the roster's name of the node that wrote it).
    pub delivered_node: Option<String>,
    /// When read.
    pub read_ms: Option<u64>,
    /// By whom (the name on the Read receipt).
    pub read_by: Option<String>,
    /// Their title, where this node knows it (the reader's own unit: from its accounts).
    pub read_title: Option<String>,
    /// When it was escalated as unread, if it was.
    pub escalated_ms: Option<u64>,
}

/// One event in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Event id (hex).
    pub event: String,
    /// Document kind, Swedish.
    pub kind: String,
    /// One line.
    pub title: String,
    /// The patient (canonical form), if any.
    pub patient: Option<String>,
    /// Author unit.
    pub from: UnitRef,
    /// Author name.
    pub author: String,
    /// When it was written (ms since the epoch).
    pub at_ms: u64,
    /// Local time, for people.
    pub at: String,
    /// Urgent.
    pub urgent: bool,
    /// This unit acknowledged it: by whom and when.
    pub read_by: Option<String>,
    /// When this unit acknowledged it.
    pub read_ms: Option<u64>,
    /// Per recipient unit, for events this unit sent.
    pub recipients: Vec<RecipientState>,
    /// Whether the sender asked for a read receipt.
    pub receipt_required: bool,
    /// The plan it is a version of, if any (hex).
    pub plan: Option<String>,
}

/// What was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sent {
    /// The event (hex).
    pub event: String,
    /// Kind, Swedish.
    pub kind: String,
    /// To whom.
    pub to: Vec<UnitRef>,
    /// Whether the recipients came from the roster's routing rules.
    pub suggested: bool,
    /// The episode (hex).
    pub episode: Option<String>,
    /// The plan (hex), for a plan version.
    pub plan: Option<String>,
}

/// What a log reviewer searches the access log for, as typed (every field may be left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Entries about this patient (any spelling `input::patient` reads).
    #[serde(default)]
    pub patient: Option<String>,
    /// Entries by this account (its login, any case).
    #[serde(default)]
    pub account: Option<String>,
    /// From this date or Swedish local time (`ÅÅÅÅ-MM-DD` or `ÅÅÅÅ-MM-DD TT:MM`).
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this date (through its end) or time (through its minute).
    #[serde(default)]
    pub to: Option<String>,
    /// Where to go on: an earlier page's `next`.
    #[serde(default)]
    pub after: Option<String>,
    /// Most entries in the page (bounded by the node).
    #[serde(default)]
    pub limit: Option<u32>,
}
