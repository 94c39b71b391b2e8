//! The command line: what a person types, and what each command prints.
//!
//! - `args`: the clap argument types (help texts in Swedish; no logic), re-exported here.
//! - [`commands`]: running each command; context-rich errors for one line to the user.
//! - [`care`]: the staff's commands (send, inbox, show, chain, ack, plan, directory,
//!   escalations): build the request, ask the node, print Swedish text or JSON.
//! - `export`: `reservnod export`, a patient's export written to a new file.
//! - `snapshot`: `reservnod snapshot import`, the region's pre-outage snapshot.
//! - [`idcheck`]: checking patient and unit identifiers one by one or in bulk.
//! - [`doctor`]: `reservnod doctor`, IT's checks of a node, one line each with what to do.
//! - [`ops`]: IT's commands: backup and restore.
//! - [`offline`]: the data directory opened as a node by a command when none runs.

mod args;
pub mod care;
pub mod commands;
pub mod doctor;
mod export;
pub mod idcheck;
pub mod offline;
pub mod ops;
mod outage;
mod snapshot;
mod user;

pub use args::*;
pub use commands::run;
