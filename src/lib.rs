//! reservnod: the daemon and command-line tool around the sans-io core in `reservnod-proto`.
//!
//! Module map, lowest layer first (a module names only modules of its own group or of
//! lower layers; `tests/layers.rs` checks it):
//! - [`limits`]: every bound on time, sizes and counts, with compile-time checks.
//! - [`clock`]: the system clock and calendar dates (the one place that reads wall time).
//! - [`store`]: the sled-backed event store, its indices and the audit log (the only place
//!   that knows sled).
//! - [`replication`]: outboxes, refusals remembered per peer, sync counters.
//! - [`files`]: the data directory, the admin directory, key files, bundles, the config.
//! - [`care`]: the care layer: the view of this unit's opened events, the staff's operations
//!   (`care::api`), Delivered receipts, escalation.
//! - [`node`]: the one state of a node (keys, roster, clock, view, store, connections,
//!   peers, counters) that everything above shares, and the one ingest pipeline.
//! - [`mesh`]: QUIC with mutual TLS, the endpoint, connections, LAN discovery.
//! - [`serve`]: the local socket the staff's tools reach a running node through.
//! - [`daemon`]: `reservnod run`: the tokio loops around the node, the mesh and the socket.
//! - [`demo`]: `reservnod demo`, a three-unit practice region on loopback.
//! - [`cli`]: the command line: clap types, each command, the staff's commands, id checks.

#![forbid(unsafe_code)]

pub mod care;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod demo;
pub mod files;
pub mod limits;
pub mod mesh;
pub mod node;
pub mod replication;
pub mod serve;
pub mod store;
