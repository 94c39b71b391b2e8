//! The data directory opened by a command itself, when no node runs: the same [`Node`] the
//! daemon runs, with the settings of the config the daemon last ran with, so every way in
//! goes through the same ingest pipeline and answers the same.

use crate::files::datadir::{DataDir, DataDirError};
use crate::node::{Node, NodeError, Settings};
use crate::store::StoreError;

/// Opens the node of `dir` for one command (its store lock is held until it is dropped).
pub fn open_node(dir: &DataDir) -> Result<Node, NodeError> {
    let settings = Settings::for_data_dir(dir)?;
    let (node, _gone) = Node::open(dir.clone(), settings)?;
    Ok(node)
}

/// Whether opening failed because another process (a running node) holds the store.
pub fn is_locked(e: &NodeError) -> bool {
    matches!(
        e,
        NodeError::DataDir(DataDirError::Store(StoreError::Locked { .. }))
    )
}
