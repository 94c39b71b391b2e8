//! One patient's care chain (vårdkedja) for one episode, derived from whatever documents
//! have arrived, in any order: admission → ready for discharge → municipality ready →
//! discharged, with who did what and when, and the municipality's payment clock.
//!
//! The result depends only on the set of documents, never on the order they arrived in:
//! a plan that comes before its admission notice is kept and the chain shows the admission
//! as missing until it arrives.

use serde::{Deserialize, Serialize};

use super::documents::{ClinicalPayload, Document, EpisodeId};
use crate::event::EventId;
use crate::hlc::Hlc;
use crate::hsa::HsaId;
use crate::patient::PatientId;

/// One opened clinical event of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEntry {
    /// The event.
    pub event: EventId,
    /// Its timestamp.
    pub hlc: Hlc,
    /// The author's unit.
    pub unit: HsaId,
    /// What it says.
    pub payload: ClinicalPayload,
}

/// A step that happened: when, by whom, from which unit, in which event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// When it took effect (clinical time, ms since the epoch).
    pub at_ms: u64,
    /// Who wrote it.
    pub by: String,
    /// From which unit.
    pub unit: HsaId,
    /// The event.
    pub event: EventId,
}

/// Where the chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainState {
    /// Admitted (or documents exist but no step yet).
    Admitted,
    /// Ready for discharge (utskrivningsklar).
    ReadyForDischarge,
    /// The municipality can receive the patient (kommunklar).
    MunicipalityReady,
    /// Discharged (utskriven).
    Discharged,
}

impl ChainState {
    /// Swedish name for staff.
    pub fn name_sv(self) -> &'static str {
        match self {
            ChainState::Admitted => "inskriven",
            ChainState::ReadyForDischarge => "utskrivningsklar",
            ChainState::MunicipalityReady => "kommunklar",
            ChainState::Discharged => "utskriven",
        }
    }
}

/// Something the chain lacks that staff should see (a deviation in the region's terms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gap {
    /// Later steps are known but no admission notice has arrived.
    NoAdmissionNotice,
    /// The patient is discharged but no care report has arrived.
    NoCareReport,
}

/// The municipality's payment responsibility.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payment {
    /// Not ready for discharge (or the ready notice was withdrawn): no clock.
    NotRunning,
    /// The clock runs; the municipality pays from `from_ms` unless it is ready first.
    Running {
        /// When payment would start.
        from_ms: u64,
    },
    /// The municipality pays since `from_ms`.
    MunicipalityPays {
        /// Since when.
        from_ms: u64,
    },
    /// The municipality received no admission notice, so it does not pay.
    NoAdmissionNotice,
    /// Ended: the municipality was ready or the patient left.
    Ended,
}

/// One patient's chain for one episode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareChain {
    /// The patient.
    pub patient: PatientId,
    /// The episode.
    pub episode: EpisodeId,
    /// The admission notice.
    pub admitted: Option<StepRecord>,
    /// The ready notice in force (None if never given or withdrawn since).
    pub ready: Option<StepRecord>,
    /// The last withdrawal of the ready notice, if any.
    pub withdrawn: Option<StepRecord>,
    /// Municipality ready.
    pub municipality_ready: Option<StepRecord>,
    /// Discharged.
    pub discharged: Option<StepRecord>,
    /// Where the chain stands.
    pub state: ChainState,
    /// What is missing.
    pub gaps: Vec<Gap>,
    /// Every event of the chain, in clinical order.
    pub events: Vec<EventId>,
    /// The snapshot the chain was imported from, if any (the newest, by when it was taken).
    pub snapshot: Option<SnapshotRecord>,
}

/// The pre-outage snapshot a chain came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Its event.
    pub event: EventId,
    /// When the primary system took it.
    pub taken_at_ms: u64,
    /// What the plan said then.
    pub plan_summary: String,
}

// Step kinds, in the order they apply at the same instant.
const ADMITTED: u8 = 0;
const READY: u8 = 1;
const WITHDRAWN: u8 = 2;
const MUNICIPALITY_READY: u8 = 3;
const DISCHARGED: u8 = 4;
const CARE_REPORT: u8 = 5;

fn clinical_time(e: &ChainEntry) -> u64 {
    match &e.payload.document {
        Document::AdmissionNotice { admitted_at_ms, .. } => *admitted_at_ms,
        Document::DischargeReady { at_ms, .. }
        | Document::NoLongerReady { at_ms, .. }
        | Document::Discharged { at_ms, .. } => *at_ms,
        Document::MunicipalityReady { from_ms, .. } => *from_ms,
        Document::Snapshot(s) => s.admitted_at_ms,
        _ => e.payload.written_at_ms,
    }
}

fn record(e: &ChainEntry) -> StepRecord {
    StepRecord {
        at_ms: clinical_time(e),
        by: e.payload.author.clone(),
        unit: e.unit.clone(),
        event: e.event,
    }
}

impl CareChain {
    /// Builds the chain of `patient` / `episode` from its entries (others are ignored).
    pub fn build(patient: &PatientId, episode: EpisodeId, entries: &[ChainEntry]) -> CareChain {
        let mut mine: Vec<&ChainEntry> = entries
            .iter()
            .filter(|e| {
                e.payload.patient.as_ref() == Some(patient) && e.payload.episode == Some(episode)
            })
            .collect();
        // A total order that does not depend on arrival: clinical time, then hlc, then id.
        mine.sort_by(|a, b| {
            (clinical_time(a), a.hlc, a.event).cmp(&(clinical_time(b), b.hlc, b.event))
        });
        let mut chain = CareChain {
            patient: patient.clone(),
            episode,
            admitted: None,
            ready: None,
            withdrawn: None,
            municipality_ready: None,
            discharged: None,
            state: ChainState::Admitted,
            gaps: Vec::new(),
            events: mine.iter().map(|e| e.event).collect(),
            snapshot: None,
        };
        // Of several snapshots of the chain (a newer export imported later) only the newest
        // counts: it replaces what the older said, a withdrawn ready time included.
        let newest_snapshot = mine
            .iter()
            .filter_map(|e| match &e.payload.document {
                Document::Snapshot(s) => Some((s.taken_at_ms, e.hlc, e.event)),
                _ => None,
            })
            .max()
            .map(|(_, _, event)| event);
        // Each document's steps at their clinical times; a snapshot gives up to three (its
        // admission, ready and municipality-ready times), so documents written during the
        // outage fall before or after them by time, whatever the arrival order.
        let mut steps: Vec<(u64, Hlc, EventId, u8, &ChainEntry)> = Vec::new();
        for e in &mine {
            let at = clinical_time(e);
            let mut step = |t: u64, kind: u8| steps.push((t, e.hlc, e.event, kind, e));
            match &e.payload.document {
                Document::AdmissionNotice { .. } => step(at, ADMITTED),
                Document::DischargeReady { .. } => step(at, READY),
                Document::NoLongerReady { .. } => step(at, WITHDRAWN),
                Document::MunicipalityReady { .. } => step(at, MUNICIPALITY_READY),
                Document::Discharged { .. } => step(at, DISCHARGED),
                Document::CareReport { .. } => step(at, CARE_REPORT),
                Document::Snapshot(s) if newest_snapshot == Some(e.event) => {
                    step(s.admitted_at_ms, ADMITTED);
                    if let Some(r) = s.ready_at_ms {
                        step(r, READY);
                    }
                    if let Some(m) = s.municipality_ready_at_ms {
                        step(m, MUNICIPALITY_READY);
                    }
                    chain.snapshot = Some(SnapshotRecord {
                        event: e.event,
                        taken_at_ms: s.taken_at_ms,
                        plan_summary: s.plan_summary.clone(),
                    });
                }
                _ => {}
            }
        }
        steps.sort_by_key(|(t, hlc, event, kind, _)| (*t, *hlc, *event, *kind));
        let mut care_report = false;
        for (at, _, _, kind, e) in steps {
            let rec = StepRecord {
                at_ms: at,
                ..record(e)
            };
            match kind {
                // The first admission counts; later ones are corrections shown as documents.
                ADMITTED if chain.admitted.is_none() => chain.admitted = Some(rec),
                READY => chain.ready = Some(rec),
                WITHDRAWN => {
                    chain.ready = None;
                    chain.withdrawn = Some(rec);
                }
                MUNICIPALITY_READY => chain.municipality_ready = Some(rec),
                DISCHARGED => chain.discharged = Some(rec),
                CARE_REPORT => care_report = true,
                _ => {}
            }
        }
        chain.state = if chain.discharged.is_some() {
            ChainState::Discharged
        } else if chain.municipality_ready.is_some() && chain.ready.is_some() {
            ChainState::MunicipalityReady
        } else if chain.ready.is_some() {
            ChainState::ReadyForDischarge
        } else {
            ChainState::Admitted
        };
        if chain.admitted.is_none() && !mine.is_empty() {
            chain.gaps.push(Gap::NoAdmissionNotice);
        }
        if chain.discharged.is_some() && !care_report {
            chain.gaps.push(Gap::NoCareReport);
        }
        chain
    }

    /// Whole calendar days since the ready notice in force, at `now_ms` (local time given
    /// by `utc_offset_min`), or None when no ready notice is in force.
    pub fn days_since_ready(&self, now_ms: u64, utc_offset_min: i32) -> Option<u32> {
        let ready = self.ready.as_ref()?;
        let day = |ms: u64| (ms as i64 + i64::from(utc_offset_min) * 60_000).div_euclid(86_400_000);
        Some(u32::try_from((day(now_ms) - day(ready.at_ms)).max(0)).unwrap_or(u32::MAX))
    }

    /// The municipality's payment responsibility at `now_ms`: it pays from the start of the
    /// `payment_days`-th calendar day after the ready notice (3 in Blekinge), and only if it
    /// received the admission notice too; it stops when the municipality is ready or the
    /// patient leaves.
    pub fn payment(&self, now_ms: u64, payment_days: u32, utc_offset_min: i32) -> Payment {
        let Some(ready) = &self.ready else {
            return Payment::NotRunning;
        };
        if self.admitted.is_none() {
            return Payment::NoAdmissionNotice;
        }
        let offset = i64::from(utc_offset_min) * 60_000;
        let ready_day = (ready.at_ms as i64 + offset).div_euclid(86_400_000);
        let from_ms =
            u64::try_from((ready_day + i64::from(payment_days)) * 86_400_000 - offset).unwrap_or(0);
        // The municipality is ready, or the patient has left: nothing more accrues.
        if self.municipality_ready.is_some() || self.discharged.is_some() {
            return Payment::Ended;
        }
        if now_ms >= from_ms {
            Payment::MunicipalityPays { from_ms }
        } else {
            Payment::Running { from_ms }
        }
    }

    /// A patient ready on a Thursday or Friday whose municipality is not ready: the weekend
    /// case the region's minutes count.
    pub fn weekend_risk(&self, utc_offset_min: i32) -> bool {
        let Some(ready) = &self.ready else {
            return false;
        };
        if self.municipality_ready.is_some() || self.discharged.is_some() {
            return false;
        }
        // 1970-01-01 was a Thursday: day 0 → Thursday, day 1 → Friday.
        let day = (ready.at_ms as i64 + i64::from(utc_offset_min) * 60_000).div_euclid(86_400_000);
        matches!(day.rem_euclid(7), 0 | 1)
    }
}
