//! Retention (gallring): the purge decisions a regional admin records, and the pure rule
//! that says whether a node may remove an event's sealed body.
//!
//! What is written in care is a record the law keeps (a journalhandling: PDL 3 kap. 17 §),
//! so purging is never a node's own choice: it follows a formal decision to cull
//! (gallringsbeslut) whose reference travels with it. A decision travels in the roster
//! ([`crate::roster::Roster::purge_decisions`]): signed by the admin key, already carried to
//! every node, and with succession rules, so a later roster cannot drop a decision (a body
//! once purged must not come back because the decision was forgotten).
//!
//! A node removes the body of an event only when [`purge_under`] names a decision; the same
//! rule decides, on arrival, that an event is stored without its body, so neither
//! reconciliation, a bundle nor a node that was offline for months brings a purged body back.
//! The access log is never touched by any of this.

use serde::{Deserialize, Serialize};

use crate::event::{EventClass, EventId};
use crate::hlc::Hlc;
use crate::hsa::HsaId;

/// The longest decision reference, in bytes.
pub const PURGE_REFERENCE_BYTES_MAX: usize = 200;
/// The most decisions a roster holds.
pub const PURGE_DECISIONS_MAX: usize = 1_000;
/// The most units one decision lists.
pub const PURGE_UNITS_MAX: usize = 2_000;
/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// What a decision covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PurgeCover {
    /// The clinical events of one outage (its declaration's id), as
    /// [`crate::outage::attach`] places them.
    Outage(EventId),
    /// Every clinical event written (hybrid time) before this wall time, ms since the epoch.
    WrittenBefore {
        /// The horizon.
        wall_ms: u64,
    },
}

/// A purge decision, as the admin signs it into the roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeDecision {
    /// The decision's reference (the gallringsbeslut's diarienummer, e.g. "RS 2026/1234").
    pub reference: String,
    /// What it covers.
    pub covers: PurgeCover,
    /// The units it applies to: the admin lists a unit once the unit has reported its
    /// re-entry closed. A node cannot see another unit's re-entry (marks are sealed to their
    /// unit), so this list is its word for the other units; its own unit it checks itself.
    pub units: Vec<HsaId>,
    /// When the admin recorded it (ms since the epoch, the admin's clock): the retention
    /// period counts from here.
    pub decided_at_ms: u64,
}

impl PurgeDecision {
    /// Checks the field rules.
    pub fn validate(&self) -> Result<(), String> {
        let r = &self.reference;
        if r.trim().is_empty() {
            return Err("a purge decision needs its reference (the gallringsbeslut)".into());
        }
        if r.len() > PURGE_REFERENCE_BYTES_MAX || r.chars().any(char::is_control) {
            return Err(format!(
                "purge decision reference must be at most {PURGE_REFERENCE_BYTES_MAX} bytes \
                 with no control character"
            ));
        }
        if self.units.is_empty() {
            return Err(format!("purge decision {r} names no unit"));
        }
        if self.units.len() > PURGE_UNITS_MAX {
            return Err(format!("purge decision {r} names too many units"));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(u) = self.units.iter().find(|u| !seen.insert(*u)) {
            return Err(format!("purge decision {r} names unit {u} twice"));
        }
        Ok(())
    }

    /// Whether it covers an event written at `hlc` and placed in outage `outage`.
    pub fn covers(&self, hlc: Hlc, outage: Option<&EventId>) -> bool {
        match &self.covers {
            PurgeCover::Outage(id) => outage == Some(id),
            PurgeCover::WrittenBefore { wall_ms } => hlc.wall_ms < *wall_ms,
        }
    }

    /// When it takes effect on a node that keeps bodies `purge_after_days` days.
    pub fn effective_ms(&self, purge_after_days: u32) -> u64 {
        self.decided_at_ms
            .saturating_add(u64::from(purge_after_days) * DAY_MS)
    }
}

/// What a node knows of one event, to decide on its body.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    /// Its class: only clinical bodies are ever purged (receipts and declarations are plain,
    /// re-entry marks and account changes are what later checks rest on).
    pub class: EventClass,
    /// Its hybrid time.
    pub hlc: Hlc,
    /// The units its body is sealed to ([`crate::event::Header::seal_units`]).
    pub seal_units: &'a [HsaId],
    /// The outage [`crate::outage::attach`] places it in, if any is held.
    pub outage: Option<EventId>,
}

/// What the node holding a candidate knows beyond the candidate itself.
pub trait Knowledge {
    /// This node's unit.
    fn own_unit(&self) -> &HsaId;
    /// Whether this node's unit's re-entry of `outage` is closed (every item marked, or
    /// the rest signed off).
    fn own_reentry_closed(&self, outage: &EventId) -> bool;
    /// Whether `unit` is known to hold the event: its author's unit, or a unit one of whose
    /// nodes has sent a Delivered receipt for it. A body is never removed before every
    /// unit it is for has it.
    fn delivered_to(&self, unit: &HsaId) -> bool;
}

/// The decision under which this node may remove the candidate's body, if any.
///
/// All of these must hold:
/// - the node is configured to purge (`purge_after_days` is Some; off by default);
/// - the event is clinical and placed in an outage (only what re-entry has dealt with);
/// - the decision covers it, and `purge_after_days` have passed since the decision;
/// - every unit the body is sealed to is listed in the decision and has it (delivered):
///   a body is purged only when every unit that can open it is done with it, since a node
///   holding a copy may be where another unit gets (or gets back) its own;
/// - if this node's unit is one of them, its own re-entry of that outage is closed (the
///   node checks what it can see rather than only the admin's word).
///
/// The first such decision in `decisions`' order is named.
pub fn purge_under<'d>(
    decisions: &'d [PurgeDecision],
    candidate: &Candidate<'_>,
    knows: &impl Knowledge,
    purge_after_days: Option<u32>,
    now_ms: u64,
) -> Option<&'d PurgeDecision> {
    let days = purge_after_days?;
    if candidate.class != EventClass::Clinical || candidate.seal_units.is_empty() {
        return None;
    }
    let outage = candidate.outage.as_ref()?;
    let own = knows.own_unit();
    if candidate.seal_units.contains(own) && !knows.own_reentry_closed(outage) {
        return None;
    }
    if !candidate.seal_units.iter().all(|u| knows.delivered_to(u)) {
        return None;
    }
    decisions.iter().find(|d| {
        d.covers(candidate.hlc, Some(outage))
            && now_ms >= d.effective_ms(days)
            && candidate.seal_units.iter().all(|u| d.units.contains(u))
    })
}

/// Checks a roster's decisions: each valid, references unique, within bounds.
pub fn validate_all(decisions: &[PurgeDecision]) -> Result<(), String> {
    if decisions.len() > PURGE_DECISIONS_MAX {
        return Err(format!(
            "the roster has more than {PURGE_DECISIONS_MAX} purge decisions"
        ));
    }
    let mut refs = std::collections::HashSet::new();
    for d in decisions {
        d.validate()?;
        if !refs.insert(d.reference.as_str()) {
            return Err(format!("purge decision {} is listed twice", d.reference));
        }
    }
    Ok(())
}

/// Checks that `next` keeps every decision of `current` unchanged (more may be added): a
/// decision once travelling may have been acted on, so dropping or narrowing it would let
/// a purged body count as missing and come back.
pub fn check_kept(current: &[PurgeDecision], next: &[PurgeDecision]) -> Result<(), String> {
    match current.iter().find(|d| !next.contains(d)) {
        Some(d) => Err(format!(
            "purge decision {} is missing or changed in the new roster (a decision cannot be \
             withdrawn)",
            d.reference
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct K {
        own: HsaId,
        closed: bool,
        delivered: Vec<HsaId>,
    }
    impl Knowledge for K {
        fn own_unit(&self) -> &HsaId {
            &self.own
        }
        fn own_reentry_closed(&self, _: &EventId) -> bool {
            self.closed
        }
        fn delivered_to(&self, unit: &HsaId) -> bool {
            self.delivered.contains(unit)
        }
    }

    fn u(s: &str) -> HsaId {
        s.parse().expect("hsa")
    }

    #[test]
    fn a_body_is_purged_only_when_everything_holds() {
        let ward = u("SE2321000081-AVD1");
        let kommun = u("SE2120001033-HT1");
        let outage = EventId([1; 32]);
        let d = PurgeDecision {
            reference: "RS 2026/1234".into(),
            covers: PurgeCover::Outage(outage),
            units: vec![ward.clone(), kommun.clone()],
            decided_at_ms: 1_000,
        };
        let units = [ward.clone(), kommun.clone()];
        let c = Candidate {
            class: EventClass::Clinical,
            hlc: Hlc {
                wall_ms: 5,
                logical: 0,
            },
            seal_units: &units,
            outage: Some(outage),
        };
        let mut k = K {
            own: ward.clone(),
            closed: true,
            delivered: units.to_vec(),
        };
        let ds = [d.clone()];
        let due = 1_000 + 30 * DAY_MS;
        assert_eq!(purge_under(&ds, &c, &k, Some(30), due), Some(&d));
        assert_eq!(purge_under(&ds, &c, &k, None, u64::MAX), None, "off");
        assert_eq!(purge_under(&ds, &c, &k, Some(30), due - 1), None, "early");
        k.closed = false;
        assert_eq!(purge_under(&ds, &c, &k, Some(30), due), None, "open");
        k.closed = true;
        k.delivered.pop();
        assert_eq!(purge_under(&ds, &c, &k, Some(30), due), None, "undelivered");
        assert!(d.validate().is_ok());
        let mut bad = d.clone();
        bad.reference = " ".into();
        assert!(bad.validate().is_err());
        assert!(validate_all(&[d.clone(), d.clone()]).is_err());
        assert!(check_kept(&ds, &[]).is_err());
        assert!(check_kept(&ds, &ds).is_ok());
    }
}
