//! `plan show`: a plan's current version (or every head of a conflict), its history (every
//! version that is part of it, superseded ones included), versions waiting for an earlier
//! one, its notes, and what claims to belong to it but does not (versions and
//! notes from units outside its participants, or about another patient or episode: kept as
//! evidence, listed apart, never part of the plan).

use reservnod_proto::care::documents::{Document, PlanContent};
use std::collections::HashMap;

use reservnod_proto::{DocId, EventId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit, find_plan, node_name, unit_ref};
use super::types::{ApiError, CareNode, UnitRef};
use crate::care::view::{CareView, Opened};
use crate::clock::format_ms_local;
use crate::store::AuditAction;

/// One plan version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanVersion {
    /// The version's event (hex).
    pub event: String,
    /// Who wrote it.
    pub author: String,
    /// Their title or role, as on the document.
    pub role: String,
    /// From which unit.
    pub unit: UnitRef,
    /// The node it was written on (its roster name).
    pub node: String,
    /// When (ms since the epoch, its author's clock).
    pub at_ms: u64,
    /// When, in Swedish local time.
    pub at: String,
    /// The versions it replaced (hex).
    pub replaces: Vec<String>,
    /// Its content.
    pub content: PlanContent,
}

/// One version in a plan's history (content left out: `show ID` opens it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryVersion {
    /// The version's event (hex).
    pub event: String,
    /// Who wrote it.
    pub author: String,
    /// From which unit.
    pub unit: UnitRef,
    /// When (ms since the epoch, its author's clock).
    pub at_ms: u64,
    /// The same, in Swedish local time.
    pub at: String,
    /// The versions it replaced (hex); none for the first version.
    pub replaces: Vec<String>,
    /// The versions held here that replace it (hex).
    pub replaced_by: Vec<String>,
    /// "gällande" (the current version), "konflikt" (one of the current versions of a
    /// conflict), "ersatt" (superseded) or "väntar" (an earlier version it names has not
    /// arrived).
    pub state: String,
}

/// A version or note that claims a plan but is no part of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Untrusted {
    /// Its event (hex).
    pub event: String,
    /// "version" or "anteckning".
    pub what: String,
    /// The unit that wrote it.
    pub unit: UnitRef,
    /// When (its author's clock).
    pub at: String,
    /// Why it is not part of the plan, Swedish.
    pub reason: String,
}

/// A plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanView {
    /// Document id (hex).
    pub doc: String,
    /// Kind, Swedish.
    pub kind: String,
    /// The patient.
    pub patient: Option<String>,
    /// Two or more current versions: people must choose.
    pub conflict: bool,
    /// The current versions (one, or the conflicting ones), newest first.
    pub heads: Vec<PlanVersion>,
    /// How many versions this node holds.
    pub versions: usize,
    /// Every version that is part of the plan, oldest first: the history, superseded
    /// versions included.
    pub history: Vec<HistoryVersion>,
    /// Versions waiting for an earlier version that has not arrived: (version, missing).
    pub waiting: Vec<(String, Vec<String>)>,
    /// Notes on the plan: (when, who, text).
    pub notes: Vec<(String, String, String)>,
    /// The units taking part: the first version's unit and recipients (empty until the
    /// first version is here). New versions and notes go to them.
    pub participants: Vec<UnitRef>,
    /// Versions and notes held before the first version arrived (hex): nothing is known of
    /// them until it does.
    pub awaiting_first: Vec<String>,
    /// Versions and notes that claim the plan but are no part of it, oldest first.
    pub untrusted: Vec<Untrusted>,
}

/// How many versions, in Swedish: "1 version", "3 versioner".
pub fn versions_sv(n: usize) -> String {
    if n == 1 {
        "1 version".into()
    } else {
        format!("{n} versioner")
    }
}

/// How many versions lead to each version (0 for the first), over parents that are here.
/// Linear in versions and links: ids hash their parents, so there is no cycle.
fn version_depths(versions: &[&Opened]) -> HashMap<EventId, usize> {
    let by_id: HashMap<EventId, &Opened> = versions.iter().map(|o| (o.id, *o)).collect();
    let parents = |id: &EventId| -> Vec<EventId> {
        by_id
            .get(id)
            .and_then(|o| o.doc.as_ref())
            .map(|d| {
                d.parents
                    .iter()
                    .filter(|p| by_id.contains_key(p))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut depth: HashMap<EventId, usize> = HashMap::new();
    for o in versions {
        let mut stack = vec![(o.id, false)];
        while let Some((id, expanded)) = stack.pop() {
            if depth.contains_key(&id) {
                continue;
            }
            let ps = parents(&id);
            if expanded {
                let d = ps
                    .iter()
                    .filter_map(|p| depth.get(p))
                    .max()
                    .map_or(0, |d| d + 1);
                depth.insert(id, d);
            } else {
                stack.push((id, true));
                stack.extend(
                    ps.into_iter()
                        .filter(|p| !depth.contains_key(p))
                        .map(|p| (p, false)),
                );
            }
        }
    }
    depth
}

pub(super) fn plan_view(roster: &Roster, view: &CareView, doc: &DocId) -> PlanView {
    let plan = view.plan(doc);
    let state = &plan.state;
    let heads = state
        .heads
        .iter()
        .filter_map(|h| view.get(h))
        .filter_map(|o| match &o.payload.document {
            Document::Plan { content, .. } => Some(PlanVersion {
                event: o.id.to_string(),
                author: o.payload.author.clone(),
                role: o.payload.role.clone(),
                unit: unit_ref(roster, &o.unit),
                node: node_name(roster, &o.node),
                at_ms: o.hlc.wall_ms,
                at: format_ms_local(o.hlc.wall_ms),
                replaces: o
                    .doc
                    .as_ref()
                    .map(|d| d.parents.iter().map(|p| p.to_string()).collect())
                    .unwrap_or_default(),
                content: content.clone(),
            }),
            _ => None,
        })
        .collect();
    let parents = |o: &Opened| -> Vec<String> {
        o.doc
            .as_ref()
            .map(|d| d.parents.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    };
    // Oldest first, and never a version before one it replaces (clocks of units that wrote
    // apart need not agree): by how many versions lead to it, then by time.
    let depth = version_depths(&plan.versions);
    let mut ordered = plan.versions.clone();
    ordered.sort_by_key(|o| (depth.get(&o.id).copied().unwrap_or(0), o.hlc, o.id));
    let history = ordered
        .iter()
        .map(|o| {
            let state = if state.waiting.iter().any(|(v, _)| v == &o.id) {
                "väntar"
            } else if state.heads.contains(&o.id) {
                if state.in_conflict() {
                    "konflikt"
                } else {
                    "gällande"
                }
            } else {
                "ersatt"
            };
            HistoryVersion {
                event: o.id.to_string(),
                author: o.payload.author.clone(),
                unit: unit_ref(roster, &o.unit),
                at_ms: o.hlc.wall_ms,
                at: format_ms_local(o.hlc.wall_ms),
                replaces: parents(o),
                replaced_by: plan
                    .versions
                    .iter()
                    .filter(|c| c.doc.as_ref().is_some_and(|d| d.parents.contains(&o.id)))
                    .map(|c| c.id.to_string())
                    .collect(),
                state: state.into(),
            }
        })
        .collect();
    PlanView {
        doc: doc.to_string(),
        kind: plan
            .first
            .map(|o| o.payload.document.name_sv().to_string())
            .unwrap_or_default(),
        patient: plan
            .first
            .and_then(|o| o.payload.patient.as_ref())
            .map(|p| p.canonical().to_string()),
        conflict: state.in_conflict(),
        heads,
        versions: plan.versions.len(),
        history,
        waiting: state
            .waiting
            .iter()
            .map(|(v, missing)| {
                (
                    v.to_string(),
                    missing.iter().map(|m| m.to_string()).collect(),
                )
            })
            .collect(),
        notes: plan
            .notes
            .iter()
            .filter_map(|o| match &o.payload.document {
                Document::PlanNote { text, .. } => Some((
                    format_ms_local(o.hlc.wall_ms),
                    o.payload.author.clone(),
                    text.clone(),
                )),
                _ => None,
            })
            .collect(),
        participants: plan
            .participants
            .iter()
            .map(|u| unit_ref(roster, u))
            .collect(),
        awaiting_first: plan.pending.iter().map(|o| o.id.to_string()).collect(),
        untrusted: plan
            .untrusted
            .iter()
            .map(|(o, why)| Untrusted {
                event: o.id.to_string(),
                what: match o.payload.document {
                    Document::PlanNote { .. } => "anteckning",
                    _ => "version",
                }
                .into(),
                unit: unit_ref(roster, &o.unit),
                at: format_ms_local(o.hlc.wall_ms),
                reason: why.reason_sv().into(),
            })
            .collect(),
    }
}

pub(super) fn plan(node: &dyn CareNode, caller: &Caller, doc: &str) -> Result<PlanView, ApiError> {
    let roster = node.roster();
    let (pv, patient) = {
        let view = node.view();
        let d = find_plan(&view, doc)?;
        let pv = plan_view(&roster, &view, &d);
        let patient = view.plan(&d).first.and_then(|o| o.payload.patient.clone());
        (pv, patient)
    };
    audit(node, caller, AuditAction::Read, patient, None, "plan visad")?;
    Ok(pv)
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request, Role};
    use super::*;

    #[test]
    fn a_plan_is_shown_by_its_short_id_and_the_read_is_audited() {
        let (ward, _, _) = admitted();
        let s = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        );
        let doc = s.plan.expect("plan id");
        let sara = account(Side::Ward, "sara", &[Role::Staff]);
        let p = match ward.ask_as(
            &sara,
            Request::Plan {
                doc: doc[..12].to_uppercase(),
            },
        ) {
            Ok(Reply::Plan(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.doc, doc);
        assert_eq!(p.patient.as_deref(), Some(PATIENT));
        assert!(!p.conflict);
        assert_eq!((p.versions, p.heads.len()), (1, 1));
        assert_eq!(p.heads[0].event, s.event);
        assert_eq!(p.heads[0].author, "Sara Sjöberg");
        assert_eq!(
            p.heads[0].content.measures[0].by_date.as_deref(),
            Some("2026-12-10")
        );
        assert!(p.waiting.is_empty() && p.notes.is_empty());
        let last = ward.audit_log().pop().expect("audited");
        assert_eq!(
            (last.action, last.detail.as_str()),
            (AuditAction::Read, "plan visad")
        );
        assert_eq!(last.login.as_deref(), Some("sara"));
    }

    #[test]
    fn an_id_that_names_no_plan_is_refused() {
        let (ward, _, admission) = admitted();
        let plan = |doc: &str| Request::Plan { doc: doc.into() };
        ward.refuses(plan("zz"), "plan-id");
        ward.refuses(plan("0123456789ab"), "ingen plan här har id 0123456789ab");
        // An event id is not a plan id.
        ward.refuses(plan(&admission.event), "plan-id");
    }
}
