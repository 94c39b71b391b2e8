//! Plans as a DAG of versions. A new version names the versions (heads) it replaces; two
//! heads mean two people edited apart from each other, and both texts are shown as a
//! conflict until someone writes a version with both as parents. Nothing clinical is merged
//! or dropped silently.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::event::EventId;
use crate::hlc::Hlc;

/// One version of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The version's event.
    pub id: EventId,
    /// The versions it replaces.
    pub parents: Vec<EventId>,
    /// Its timestamp.
    pub hlc: Hlc,
}

/// Where a document's versions stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanState {
    /// The current versions, newest first. One: settled; more: a conflict.
    pub heads: Vec<EventId>,
    /// Versions that name a parent this node has not received yet, with the missing ids:
    /// kept and shown as waiting, never dropped and never shown as complete.
    pub waiting: Vec<(EventId, Vec<EventId>)>,
}

impl PlanState {
    /// Whether people must choose between versions.
    pub fn in_conflict(&self) -> bool {
        self.heads.len() > 1
    }
}

/// The state of a document from the versions this node holds (in any order).
pub fn plan_state(versions: &[Version]) -> PlanState {
    let known: HashSet<EventId> = versions.iter().map(|v| v.id).collect();
    let replaced: HashSet<EventId> = versions
        .iter()
        .flat_map(|v| v.parents.iter().copied())
        .collect();
    let mut heads: Vec<&Version> = versions
        .iter()
        .filter(|v| !replaced.contains(&v.id))
        .collect();
    heads.sort_by_key(|v| std::cmp::Reverse((v.hlc, v.id)));
    let mut seen = BTreeSet::new();
    heads.retain(|v| seen.insert(v.id));
    let mut waiting: Vec<(EventId, Vec<EventId>)> = versions
        .iter()
        .filter_map(|v| {
            let missing: Vec<EventId> = v
                .parents
                .iter()
                .filter(|p| !known.contains(p))
                .copied()
                .collect();
            (!missing.is_empty()).then_some((v.id, missing))
        })
        .collect();
    waiting.sort();
    waiting.dedup();
    PlanState {
        heads: heads.iter().map(|v| v.id).collect(),
        waiting,
    }
}
