//! Plans as a DAG of versions. A new version names the versions (heads) it replaces; two
//! heads mean two people edited apart from each other, and both texts are shown as a
//! conflict until someone writes a version with both as parents. Nothing clinical is merged
//! or dropped silently.
//!
//! Two rules keep a plan its own:
//! - **Trust comes from the first version** ([`plan_trust`]). A plan's patient, episode and
//!   participants (the first version's unit and recipients) are those of its first version,
//!   which only its author node can write (its document id is derived from that node and
//!   time, see [`crate::event::DocId::first_version`]). A later version or note from a unit
//!   outside the participants, or naming another patient or episode, is kept as evidence
//!   but is no part of the plan: it is never a head, never a parent, never a recipient.
//! - **A version waiting for its history is waiting, not a conflict** ([`plan_state`]).
//!   Urgent events travel first, so a version often arrives before the one it replaces.
//!   Every version descends from the first one, so the first version is never a head
//!   beside a later one; and while a head's history has not all arrived, a missing version
//!   may still replace the other heads, so no conflict is declared until it has.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::care::documents::EpisodeId;
use crate::event::EventId;
use crate::hlc::Hlc;
use crate::hsa::HsaId;
use crate::patient::PatientId;

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
    /// The current versions, newest first: those no held version replaces (the first
    /// version only while it is the only one). One: settled; more: a conflict, unless some
    /// head's history has not all arrived.
    pub heads: Vec<EventId>,
    /// Versions that name a parent this node has not received yet, with the missing ids:
    /// kept and shown as waiting, never dropped and never shown as complete.
    pub waiting: Vec<(EventId, Vec<EventId>)>,
    /// Heads whose history (the head or a version before it) is waiting: a version still
    /// to arrive may replace other heads, so they are not yet known to conflict.
    pub incomplete: Vec<EventId>,
}

impl PlanState {
    /// Whether people must choose between versions: two or more heads, each with all of its
    /// history here.
    pub fn in_conflict(&self) -> bool {
        self.heads.len() > 1 && self.incomplete.is_empty()
    }

    /// Whether a version waits for an earlier one.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}

/// The state of a document from the versions this node holds (in any order).
pub fn plan_state(versions: &[Version]) -> PlanState {
    let by_id: HashMap<EventId, &Version> = versions.iter().map(|v| (v.id, v)).collect();
    let replaced: HashSet<EventId> = versions
        .iter()
        .flat_map(|v| v.parents.iter().copied())
        .collect();
    let mut waiting: Vec<(EventId, Vec<EventId>)> = by_id
        .values()
        .filter_map(|v| {
            let mut missing: Vec<EventId> = v
                .parents
                .iter()
                .filter(|p| !by_id.contains_key(p))
                .copied()
                .collect();
            missing.sort();
            (!missing.is_empty()).then_some((v.id, missing))
        })
        .collect();
    waiting.sort();
    let waits: HashSet<EventId> = waiting.iter().map(|(v, _)| *v).collect();
    // Every version descends from the document's first version: with exactly one first
    // version, it is a head only while it is alone (it may be named by no held version
    // when the versions in between have not arrived).
    let firsts: Vec<&&Version> = by_id.values().filter(|v| v.parents.is_empty()).collect();
    let sole_first = match firsts.as_slice() {
        [f] if by_id.len() > 1 => Some(f.id),
        _ => None,
    };
    let mut heads: Vec<&Version> = by_id
        .values()
        .filter(|v| !replaced.contains(&v.id) && Some(v.id) != sole_first)
        .copied()
        .collect();
    heads.sort_by_key(|v| std::cmp::Reverse((v.hlc, v.id)));
    let mut incomplete: Vec<EventId> = heads
        .iter()
        .filter(|h| history_waits(h.id, &by_id, &waits))
        .map(|h| h.id)
        .collect();
    incomplete.sort();
    PlanState {
        heads: heads.iter().map(|v| v.id).collect(),
        waiting,
        incomplete,
    }
}

/// Whether `head` or any version before it waits for a missing parent. Each version is
/// visited once, so this is bounded by the number of versions.
fn history_waits(
    head: EventId,
    by_id: &HashMap<EventId, &Version>,
    waits: &HashSet<EventId>,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![head];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if waits.contains(&id) {
            return true;
        }
        if let Some(v) = by_id.get(&id) {
            stack.extend(v.parents.iter().copied());
        }
    }
    false
}

/// A version or note filed under a plan, as far as trust is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its event.
    pub id: EventId,
    /// Its timestamp.
    pub hlc: Hlc,
    /// The author's unit.
    pub unit: HsaId,
    /// The units it is addressed to.
    pub recipients: Vec<HsaId>,
    /// The patient its content names.
    pub patient: Option<PatientId>,
    /// The episode its content names.
    pub episode: Option<EpisodeId>,
    /// For a version, the versions it replaces (empty for the first); `None` for a note.
    pub parents: Option<Vec<EventId>>,
}

impl Member {
    fn is_first_version(&self) -> bool {
        self.parents.as_ref().is_some_and(|p| p.is_empty())
    }
}

/// Why a version or note is no part of its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Untrusted {
    /// Written by a unit that is not among the plan's participants.
    OutsideUnit,
    /// Names another patient than the plan's first version.
    OtherPatient,
    /// Names another episode than the plan's first version.
    OtherEpisode,
    /// A second first version (only the first version's author node could write one).
    SecondFirstVersion,
}

impl Untrusted {
    /// Swedish, for staff.
    pub fn reason_sv(self) -> &'static str {
        match self {
            Untrusted::OutsideUnit => "skriven av en enhet som inte deltar i planen",
            Untrusted::OtherPatient => "gäller en annan patient än planen",
            Untrusted::OtherEpisode => "gäller ett annat vårdtillfälle än planen",
            Untrusted::SecondFirstVersion => "en andra första version av planen",
        }
    }
}

/// What of a plan's members is part of it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PlanTrust {
    /// The first version, once it is here.
    pub first: Option<EventId>,
    /// The plan's participants: the first version's unit, then its recipients.
    pub participants: Vec<HsaId>,
    /// The versions that are part of the plan (the first included).
    pub versions: Vec<EventId>,
    /// The notes that are part of the plan.
    pub notes: Vec<EventId>,
    /// Members kept as evidence but no part of the plan, with why.
    pub untrusted: Vec<(EventId, Untrusted)>,
    /// Members held before the first version arrived: their trust is not known yet.
    pub pending: Vec<EventId>,
}

/// Sorts a plan's members (versions and notes, in any order) into what is part of the plan
/// and what is not, from its first version.
pub fn plan_trust(members: &[Member]) -> PlanTrust {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|m| (m.hlc, m.id));
    sorted.dedup_by_key(|m| m.id);
    let Some(first) = sorted.iter().copied().find(|m| m.is_first_version()) else {
        return PlanTrust {
            pending: sorted.iter().map(|m| m.id).collect(),
            ..PlanTrust::default()
        };
    };
    let mut participants = vec![first.unit.clone()];
    for u in &first.recipients {
        if !participants.contains(u) {
            participants.push(u.clone());
        }
    }
    let mut trust = PlanTrust {
        first: Some(first.id),
        participants,
        ..PlanTrust::default()
    };
    for m in sorted {
        let verdict = if m.id == first.id {
            None
        } else if m.is_first_version() {
            Some(Untrusted::SecondFirstVersion)
        } else if !trust.participants.contains(&m.unit) {
            Some(Untrusted::OutsideUnit)
        } else if m.patient != first.patient {
            Some(Untrusted::OtherPatient)
        } else if m.episode != first.episode {
            Some(Untrusted::OtherEpisode)
        } else {
            None
        };
        match (verdict, &m.parents) {
            (Some(why), _) => trust.untrusted.push((m.id, why)),
            (None, Some(_)) => trust.versions.push(m.id),
            (None, None) => trust.notes.push(m.id),
        }
    }
    trust
}
