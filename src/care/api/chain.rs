//! `chain`: a patient's care chain: each episode's steps, payment clock, gaps, documents
//! and plans, and the messages outside any episode.

use reservnod_proto::care::chain::{CareChain, ChainState, Gap, Payment, StepRecord};
use reservnod_proto::{PatientId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit, item, patient, snapshot_marker, unit_ref};
use super::plan::{plan_view, PlanView};

use super::types::{refused, ApiError, CareNode, Item, UnitRef};
use crate::clock::{format_ms_local, swedish_offset_min};
use crate::store::AuditAction;

/// A step of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Which step, Swedish.
    pub step: String,
    /// When (clinical time).
    pub at_ms: u64,
    /// Local time.
    pub at: String,
    /// Who.
    pub by: String,
    /// From which unit.
    pub unit: UnitRef,
    /// The event (hex).
    pub event: String,
}

/// One episode of a patient's chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpisodeView {
    /// Episode (hex).
    pub episode: String,
    /// Where it stands, Swedish.
    pub state: String,
    /// Still going on: not discharged (a withdrawn ready notice leaves it admitted).
    pub active: bool,
    /// The steps that happened.
    pub steps: Vec<Step>,
    /// Whole days since "utskrivningsklar", while it is in force.
    pub days_since_ready: Option<u32>,
    /// The municipality's payment responsibility, Swedish.
    pub payment: String,
    /// When the municipality pays from, if the clock runs or has run out.
    pub payment_from_ms: Option<u64>,
    /// Ready on a Thursday or Friday with the municipality not ready.
    pub weekend_risk: bool,
    /// What is missing, Swedish.
    pub gaps: Vec<String>,
    /// Every document, oldest first.
    pub documents: Vec<Item>,
    /// Its plans.
    pub plans: Vec<PlanView>,
    /// "från ögonblicksbild (ÅÅÅÅ-MM-DD TT:MM)" when the chain was imported from the
    /// region's pre-outage snapshot.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// What the plan said in the snapshot (empty when it said nothing).
    #[serde(default)]
    pub snapshot_plan: String,
}

/// A patient's care chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChainView {
    /// The patient.
    pub patient: String,
    /// Episodes, newest first.
    pub episodes: Vec<EpisodeView>,
    /// Standalone messages about the patient outside any episode.
    pub messages: Vec<Item>,
}

fn step(roster: &Roster, name: &str, s: &Option<StepRecord>) -> Option<Step> {
    s.as_ref().map(|s| Step {
        step: name.into(),
        at_ms: s.at_ms,
        at: format_ms_local(s.at_ms),
        by: s.by.clone(),
        unit: unit_ref(roster, &s.unit),
        event: s.event.to_string(),
    })
}

pub(super) fn chain(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
) -> Result<ChainView, ApiError> {
    let patient = patient(node, typed)?;
    let result = build(node, &patient)?;
    audit(
        node,
        caller,
        AuditAction::Read,
        Some(patient),
        None,
        "vårdkedjan visad",
    )?;
    Ok(result)
}

/// A patient's chain as of the node's time, refused when the unit can open nothing about
/// them. Not logged: the operation that shows it logs it.
pub(super) fn build(node: &dyn CareNode, patient: &PatientId) -> Result<ChainView, ApiError> {
    let roster = node.roster();
    let marks = node.store().escalations()?;
    let now = node.now_ms();
    let offset = swedish_offset_min(now);
    let days = node.payment_days();
    let result = {
        let view = node.view();
        let events = view.patient(patient);
        if events.is_empty() {
            return Err(refused(format!(
                "inget om {} finns här (eller inget som enheten får läsa)",
                patient.canonical()
            )));
        }
        let entries: Vec<_> = events.iter().map(|o| o.chain_entry()).collect();
        let mut episodes = Vec::new();
        for ep in view.episodes(patient, node.now_ms()) {
            let c = CareChain::build(patient, ep, &entries);
            let (payment, payment_from_ms) = match c.payment(now, days, offset) {
                Payment::NotRunning => (
                    "ingen betalningsklocka (inte utskrivningsklar)".into(),
                    None,
                ),
                Payment::Running { from_ms } => (
                    format!(
                        "kommunen betalar från {} om den inte är klar före",
                        format_ms_local(from_ms)
                    ),
                    Some(from_ms),
                ),
                Payment::MunicipalityPays { from_ms } => (
                    format!("kommunen betalar sedan {}", format_ms_local(from_ms)),
                    Some(from_ms),
                ),
                Payment::NoAdmissionNotice => (
                    "inget betalningsansvar: kommunen har inte fått inskrivningsmeddelande".into(),
                    None,
                ),
                Payment::Ended => ("avslutad (kommunklar eller utskriven)".into(), None),
            };
            let mut documents = Vec::new();
            for o in events.iter().filter(|o| o.payload.episode == Some(ep)) {
                documents.push(item(node, &roster, o, &marks)?);
            }
            episodes.push(EpisodeView {
                episode: ep.to_string(),
                state: c.state.name_sv().into(),
                active: c.state != ChainState::Discharged,
                steps: [
                    step(&roster, "inskriven", &c.admitted),
                    step(&roster, "utskrivningsklar", &c.ready),
                    step(&roster, "återtag av utskrivningsklar", &c.withdrawn),
                    step(&roster, "kommunklar", &c.municipality_ready),
                    step(&roster, "utskriven", &c.discharged),
                ]
                .into_iter()
                .flatten()
                .collect(),
                days_since_ready: c.days_since_ready(now, offset),
                payment,
                payment_from_ms,
                weekend_risk: c.weekend_risk(offset),
                gaps: c
                    .gaps
                    .iter()
                    .map(|g| match g {
                        Gap::NoAdmissionNotice => "inget inskrivningsmeddelande har kommit".into(),
                        Gap::NoCareReport => "utskriven men ingen vårdrapport har kommit".into(),
                    })
                    .collect(),
                documents,
                plans: view
                    .plans_of(patient, ep)
                    .iter()
                    .map(|d| plan_view(&roster, &view, d))
                    .collect(),
                snapshot: c.snapshot.as_ref().map(|s| snapshot_marker(s.taken_at_ms)),
                snapshot_plan: c
                    .snapshot
                    .as_ref()
                    .map(|s| s.plan_summary.clone())
                    .unwrap_or_default(),
            });
        }
        let mut messages = Vec::new();
        for o in events.iter().filter(|o| o.payload.episode.is_none()) {
            messages.push(item(node, &roster, o, &marks)?);
        }
        ChainView {
            patient: patient.canonical().to_string(),
            episodes,
            messages,
        }
    };
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{DocumentForm, Reply, Request};
    use super::*;

    const DAY: u64 = 86_400_000;

    fn chain_of(node: &TestNode, patient: &str) -> ChainView {
        match node.ask(Request::Chain {
            patient: patient.into(),
        }) {
            Ok(Reply::Chain(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_chain_counts_days_and_the_payment_clock_by_the_node_s_clock() {
        let (ward, kommun, admission) = admitted();
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[],
                DocumentForm::Ready {
                    physician: "Dr Berg".into(),
                    at: Some("2026-11-23 10:00".into()),
                },
            )),
        );
        sent(
            &ward,
            Request::Send(sending(None, &[Side::Kommun], message_form("Utan patient"))),
        );
        ward.carry_to(&kommun);
        kommun.set_now(NOW + 2 * DAY);
        let c = chain_of(&kommun, "191212121212");
        assert_eq!(c.patient, PATIENT);
        assert_eq!(c.episodes.len(), 1);
        let e = &c.episodes[0];
        assert_eq!(Some(&e.episode), admission.episode.as_ref());
        assert_eq!(e.state, "utskrivningsklar");
        assert_eq!(e.days_since_ready, Some(2));
        assert_eq!(
            e.steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(),
            ["inskriven", "utskrivningsklar"]
        );
        assert_eq!(e.steps[1].at, "2026-11-23 10:00");
        assert_eq!(e.documents.len(), 2);
        assert!(
            e.payment.starts_with("kommunen betalar från"),
            "{}",
            e.payment
        );
        assert!(c.messages.is_empty(), "the message has no patient");
        // Later the clock has run out.
        kommun.set_now(NOW + 9 * DAY);
        let c = chain_of(&kommun, PATIENT);
        assert!(
            c.episodes[0].payment.starts_with("kommunen betalar sedan"),
            "{}",
            c.episodes[0].payment
        );
        let last = kommun.audit_log().pop().expect("audited");
        assert_eq!(
            (last.action, last.at_ms),
            (AuditAction::Read, NOW + 9 * DAY)
        );
        assert_eq!(
            last.patients
                .first()
                .map(|p| p.canonical().to_string())
                .as_deref(),
            Some(PATIENT)
        );
    }

    #[test]
    fn a_bad_or_unknown_patient_is_refused_and_nothing_is_audited() {
        let (ward, _, _) = admitted();
        let chain = |p: &str| Request::Chain { patient: p.into() };
        ward.refuses(chain("19121212-1213"), "ogiltigt patient-id");
        ward.refuses(chain(""), "ogiltigt patient-id");
        ward.refuses(chain(OTHER_PATIENT), "inget om 19821105-9954 finns här");
    }
}
