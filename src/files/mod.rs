//! What a node keeps in files outside the store.
//!
//! - [`datadir`]: a node's data directory: node key, unit key, trusted admin key, roster, store.
//! - [`admin`]: the regional admin directory: admin key, roster file, unit key files.
//! - [`format`]: the data directory's format version and the upgrades between versions.
//! - [`keyfile`]: secret files (0600, never overwritten) and atomic public files.
//! - [`bundle`]: events carried as a file (a laptop, a USB stick): the format, export, import.
//! - [`backup`]: a consistent copy of the data directory as one file, and restoring it.
//! - [`config`]: the daemon's TOML configuration, validated, with defaults spelled out.
//! - [`snapshot`]: the region's pre-outage snapshot file (CSV or JSON) read into rows.
//! - [`webcert`]: the web interface's certificate (the node's own or IT's) and its fingerprint.

pub mod admin;
pub mod backup;
pub mod bundle;
pub mod config;
pub mod datadir;
pub mod format;
pub mod keyfile;
pub mod snapshot;
pub mod webcert;
