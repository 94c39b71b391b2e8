//! `backup`: a consistent copy of the node's data directory written by the node that holds
//! its store (the running daemon, or the directory opened by the command), for IT.

use super::caller::Caller;
use super::common::audit;
use super::types::{ApiError, BackupMade, CareNode};
use crate::store::AuditAction;

pub(super) fn backup(
    node: &dyn CareNode,
    caller: &Caller,
    with_keys: bool,
) -> Result<BackupMade, ApiError> {
    // Logged before it is made, so the backup holds its own entry.
    let what = if with_keys {
        "säkerhetskopia med nodens och enhetens nycklar"
    } else {
        "säkerhetskopia utan nycklar"
    };
    audit(node, caller, AuditAction::Export, None, None, what)?;
    node.backup(with_keys)
}
