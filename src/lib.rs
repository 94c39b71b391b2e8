//! reservnod: the daemon and command-line tool around the sans-io core in `reservnod-proto`.
//!
//! Module map:
//! - [`store`]: the sled-backed event store, its indices and the audit log (only place
//!   that knows sled).
//! - [`bundle`]: events carried as a file (laptop, USB stick), verified like the network.
//! - [`care`]: what a node does on its own when clinical events arrive (Delivered receipts).
//! - [`keyfile`]: writing and reading secret key files with owner-only permissions.
//! - [`daemon`]: `reservnod run`: the tokio event loop around the mesh and the store.
//! - [`mesh`]: QUIC with mutual TLS, roster admission, connections, peers, LAN discovery.
//! - [`replication`]: ingest (verify, authorize, store, forward), outboxes, reconciliation sessions.
//! - [`datadir`]: a node's data directory: its keys, roster and store.
//! - [`admin`]: the regional admin's key and roster file.
//! - [`idcheck`]: checking patient and unit identifiers in bulk.
//! - [`clock`]: the system clock and calendar dates (the one place that reads wall time).
//! - [`config`]: the daemon's TOML configuration, validated, with defaults spelled out.
//! - [`cli`]: the clap argument types (no logic).
//! - [`commands`]: what each command does, with one-line errors for the user.

#![forbid(unsafe_code)]

pub mod admin;
pub mod bundle;
pub mod care;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod datadir;
pub mod demo;
pub mod idcheck;
pub mod keyfile;
pub mod mesh;
pub mod replication;
pub mod store;
