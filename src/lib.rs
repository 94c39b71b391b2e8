//! reservnod: the daemon and command-line tool around the sans-io core in `reservnod-proto`.
//!
//! Module map, lowest layer first:
//! - [`clock`]: the system clock and calendar dates (the one place that reads wall time).
//! - [`store`]: the sled-backed event store, its indices and the audit log (the only place
//!   that knows sled).
//! - [`files`]: the data directory, the admin directory, key files, bundles, the config.
//! - [`replication`]: ingest (verify, authorize, store, forward), outboxes, sync counters.
//! - [`care`]: the care layer: the view of this unit's opened events, the staff's operations
//!   (`care::api`), Delivered receipts, escalation, the data directory as an offline node.
//! - [`mesh`]: QUIC with mutual TLS, roster admission, connections, peers, LAN discovery.
//! - [`serve`]: the local socket the staff's tools reach a running node through.
//! - [`daemon`]: `reservnod run`: the tokio event loop around the mesh and the store.
//! - [`demo`]: `reservnod demo`, a three-unit practice region on loopback.
//! - [`cli`]: the command line: clap types, each command, the staff's commands, id checks.

#![forbid(unsafe_code)]

pub mod care;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod demo;
pub mod files;
pub mod mesh;
pub mod replication;
pub mod serve;
pub mod store;
