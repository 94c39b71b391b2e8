//! The care layer in the daemon and the CLI: what staff do and what a node does on its own.
//!
//! - [`view`]: the clinical events this unit can read, opened and indexed in memory.
//! - [`api`]: the operations (send, inbox, chain, acknowledge, plan edits) as requests and
//!   replies, answered against a running daemon or the data directory directly; what a
//!   person typed is read in [`api::input`].
//! - [`delivered`]: Delivered receipts, written by the node when an event reaches its unit.
//! - [`escalation`]: unread messages past their time are marked and a command is run once.

pub mod api;
pub mod delivered;
pub mod escalation;
pub mod view;
