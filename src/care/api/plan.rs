//! `plan show`: a plan's current version (or every head of a conflict), versions waiting
//! for an earlier one, its notes, and what claims to belong to it but does not (versions and
//! notes from units outside its participants, or about another patient or episode: kept as
//! evidence, listed apart, never part of the plan).

use reservnod_proto::care::documents::{Document, PlanContent};
use reservnod_proto::{DocId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit, find_plan, unit_ref};
use super::types::{ApiError, CareNode, UnitRef};
use crate::care::view::CareView;
use crate::clock::format_ms_local;
use crate::store::AuditAction;

/// One plan version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanVersion {
    /// The version's event (hex).
    pub event: String,
    /// Who wrote it.
    pub author: String,
    /// From which unit.
    pub unit: UnitRef,
    /// When.
    pub at: String,
    /// The versions it replaced (hex).
    pub replaces: Vec<String>,
    /// Its content.
    pub content: PlanContent,
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
                unit: unit_ref(roster, &o.unit),
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
