//! Sans-io protocol core of reservnod.
//!
//! Pure types and state machines: no tokio, no sockets, no files, no system clock. Time and
//! randomness are always parameters, so every piece here is tested without I/O (quinn-proto
//! is the model). The daemon in the `reservnod` crate drives these with tokio and stores with
//! sled.
//!
//! Module map:
//! - [`limits`]: every size and count bound, as named constants.
//! - [`budget`]: a token bucket, for how often a peer may make this node do costly work.
//! - [`care`]: the care layer's pure logic: documents, care chains, plan versions, receipts.
//! - [`codec`]: the one place that knows the byte encoding (bincode), with hard limits.
//! - [`patient`]: `PatientId` (personnummer, samordningsnummer, reservnummer).
//! - [`hsa`]: `HsaId`, the identifier of a care unit.
//! - [`keys`]: node, admin and unit keys; `NodeId` and its read-aloud form.
//! - [`hlc`]: the hybrid logical clock that orders events.
//! - [`event`]: `Event`, `SignedEvent`, `VerifiedEvent`, `EventId` and the checks on them.
//! - [`seal`]: sealing a body to several units' X25519 keys and opening it.
//! - [`reconcile`]: range-based set reconciliation (Negentropy's idea) as a state machine.
//! - [`roster`]: the admin-signed register of units, nodes, revocations and policy.
//! - [`retention`]: purge decisions (gallringsbeslut) and when a node may remove a body.
//! - [`frame`]: the length-prefixed, versioned wire frames and their bounded decoder.
//! - [`link`]: one connection's protocol (hello, roster exchange, pings, reconciliation
//!   sessions, back-pressure) as a state machine in quinn-proto's shape.
//! - [`outbox`]: what a connection will send: ids in two queues, urgent first, deduplicated,
//!   taken in bounded batches.
//! - `testkit` (feature `testkit`, tests and benchmarks only): a seeded RNG and a synthetic region.
//! - `sim` (feature `testkit`, tests only): two linked nodes in simulated time and network.
//! - `meshsim` (feature `testkit`, tests only): N nodes in a mesh under seeded faults
//!   (partitions, loss, crashes, restarts, clock offsets) with the replication checkers.
//!
//! Architecture invariant: this crate depends on no tokio, quinn, rustls, sled or system
//! clock, and nothing in it panics on input from a peer, a file or a user.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod budget;
pub mod care;
pub mod codec;
pub mod event;
pub mod frame;
pub mod hlc;
pub mod hsa;
mod idtext;
pub mod keys;
pub mod limits;
pub mod link;
#[cfg(feature = "testkit")]
pub mod meshsim;
pub mod outage;
pub mod outbox;
pub mod patient;
pub mod reconcile;
pub mod retention;
pub mod roster;
pub mod seal;
#[cfg(feature = "testkit")]
pub mod sim;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use event::{
    Body, DocId, DocRef, Event, EventClass, EventId, Header, Priority, SignedEvent, VerifiedEvent,
};
pub use hlc::{Hlc, HlcClock};
pub use hsa::HsaId;
pub use keys::{AdminKey, AdminPublicKey, NodeId, NodeKey, UnitPublicKey, UnitSecretKey};
pub use patient::PatientId;
pub use roster::{Roster, SignedRoster};
