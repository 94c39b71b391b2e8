//! What a clinical event says, inside its sealed body: the documents of the discharge process.
//!
//! The sealed plaintext of every `Clinical` event is one [`ClinicalPayload`]: the patient and
//! episode it concerns, who wrote it and on what consent basis, and one [`Document`]. The
//! glossary in DESIGN.md maps the names to the Swedish terms staff use.

use serde::{Deserialize, Serialize};

use super::chain::ChainState;
pub use super::snapshot::ChainSnapshot;
use crate::codec::{self, CodecError};
use crate::event::EventId;
use crate::limits::EVENT_BYTES_MAX;
use crate::patient::PatientId;
use crate::roster::MunicipalityCode;

/// The payload encoding this code writes and reads.
pub const PAYLOAD_FORMAT: u16 = 1;
/// Longest free-text field.
pub const TEXT_BYTES_MAX: usize = 64 * 1024;
/// Longest short field (names, subjects, titles).
pub const SHORT_BYTES_MAX: usize = 200;
/// Latest time a document may carry (9999-12-31 23:59:59.999 UTC): later is a broken clock
/// or a hostile value, and would overflow calendar arithmetic.
pub const TIME_MS_MAX: u64 = 253_402_300_799_999;
/// Most items in a list field (measures, drugs, services, participants).
pub const LIST_ITEMS_MAX: usize = 100;

/// One patient's episode of care (vårdtillfälle): from admission to discharge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct EpisodeId(pub [u8; 16]);

impl std::fmt::Display for EpisodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// Why information may pass from region to municipality for this patient.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ConsentBasis {
    /// The patient consented.
    Consent,
    /// Emergency: consent could not be asked for.
    Emergency,
    /// Not obtained, with the reason.
    NotObtained(String),
}

/// Who is expected to help after discharge.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ExpectedNeeds {
    /// The municipality (home care, home nursing, nursing home).
    Municipality,
    /// Primary care.
    PrimaryCare,
    /// Both.
    Both,
}

/// A service the patient has before admission.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Service {
    /// Hemtjänst.
    HomeCare,
    /// Hemsjukvård.
    HomeNursing,
    /// Särskilt boende (SÄBO).
    NursingHome,
}

/// One measure of a plan, with who is responsible and by when.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Measure {
    /// What is to be done.
    pub text: String,
    /// The responsible unit (HSA-id as text, or a name).
    pub responsible: String,
    /// By when (YYYY-MM-DD), if set.
    pub by_date: Option<String>,
}

/// The content of a discharge plan, a SIP or a coordinated care plan under LPT/LRV.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PlanContent {
    /// Goals.
    pub goals: String,
    /// Measures, each with its responsible unit and date.
    pub measures: Vec<Measure>,
    /// Follow-up date (YYYY-MM-DD).
    pub follow_up: Option<String>,
    /// Who took part.
    pub participants: Vec<String>,
    /// The patient's own view.
    pub patient_view: String,
}

/// Which kind of plan.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum PlanKind {
    /// Utskrivningsplan.
    Discharge,
    /// Samordnad individuell plan (SIP).
    Sip,
    /// Samordnad vårdplan enligt LPT/LRV.
    Lpt,
}

/// The subtype of a standalone message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum MessageKind {
    /// Receptförnyelse.
    PrescriptionRenewal,
    /// Boka läkare.
    BookDoctor,
    /// Hembesök.
    HomeVisit,
    /// Fråga.
    Question,
    /// Övrigt.
    Other,
}

/// One drug on a medication list.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Drug {
    /// Name.
    pub name: String,
    /// Strength.
    pub strength: String,
    /// Dose.
    pub dose: String,
    /// What changed and why, if anything.
    pub change: Option<String>,
}

/// The documents of the discharge process.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Document {
    /// Inskrivningsmeddelande: the ward tells municipality / primary care of an admission.
    AdmissionNotice {
        /// When the patient was admitted (ms since the epoch).
        admitted_at_ms: u64,
        /// Why.
        reason: String,
        /// Who is expected to help after discharge.
        expected_needs: ExpectedNeeds,
        /// Services before admission.
        current_services: Vec<Service>,
        /// Preliminary discharge date (YYYY-MM-DD).
        preliminary_discharge: Option<String>,
        /// The patient's municipality, for routing (from the population register).
        municipality: Option<MunicipalityCode>,
    },
    /// Utskrivningsklar: the physician judged the patient ready; starts the payment clock.
    DischargeReady {
        /// When (ms since the epoch).
        at_ms: u64,
        /// Treating physician.
        physician: String,
    },
    /// Återtag: no longer ready for discharge; stops the clock.
    NoLongerReady {
        /// When (ms since the epoch).
        at_ms: u64,
        /// Why.
        reason: String,
    },
    /// Kommunklar: the municipality can receive the patient.
    MunicipalityReady {
        /// From when (ms since the epoch).
        from_ms: u64,
        /// Planned measures.
        planned_measures: String,
    },
    /// Utskriven: the patient has left the hospital.
    Discharged {
        /// When (ms since the epoch).
        at_ms: u64,
        /// Where to (home, nursing home, other).
        destination: String,
    },
    /// A version of a plan (the event's `doc` links the versions).
    Plan {
        /// Which kind of plan.
        kind: PlanKind,
        /// Its content.
        content: PlanContent,
    },
    /// A note on a plan (SIP notes from several authors); not a version of it.
    PlanNote {
        /// The plan it belongs to.
        plan: crate::event::DocId,
        /// The note.
        text: String,
    },
    /// Vårdrapport / omvårdnadsepikris.
    CareReport {
        /// Reason for admission.
        reason_for_admission: String,
        /// Responsible physician.
        responsible_physician: String,
        /// Summary of medical, nursing and rehabilitation care.
        summary: String,
        /// Complications.
        complications: String,
        /// Current health and function.
        current_health: String,
        /// Risk assessments (falls, pressure ulcers, nutrition).
        risks: String,
        /// Changes since planning (medication, return visits).
        changes: String,
        /// Medication list.
        medication: Vec<Drug>,
    },
    /// Fristående meddelande, optionally a reply in a thread.
    Message {
        /// Subtype.
        kind: MessageKind,
        /// Subject (never the patient's name: subjects may be shown in lists).
        subject: String,
        /// Text.
        text: String,
        /// Answer wanted by (ms since the epoch).
        answer_by_ms: Option<u64>,
        /// The message this replies to.
        reply_to: Option<EventId>,
    },
    /// Ögonblicksbild: an active chain as the region's primary system had it before the
    /// outage, imported from its snapshot file. Appended last, so no earlier document's
    /// encoding changed; a reader that predates it counts such an event as unreadable.
    Snapshot(ChainSnapshot),
}

impl Document {
    /// Swedish name for staff.
    pub fn name_sv(&self) -> &'static str {
        match self {
            Document::AdmissionNotice { .. } => "inskrivningsmeddelande",
            Document::DischargeReady { .. } => "utskrivningsklar",
            Document::NoLongerReady { .. } => "återtag av utskrivningsklar",
            Document::MunicipalityReady { .. } => "kommunklar",
            Document::Discharged { .. } => "utskriven",
            Document::Plan {
                kind: PlanKind::Discharge,
                ..
            } => "utskrivningsplan",
            Document::Plan {
                kind: PlanKind::Sip,
                ..
            } => "SIP",
            Document::Plan {
                kind: PlanKind::Lpt,
                ..
            } => "samordnad vårdplan (LPT/LRV)",
            Document::PlanNote { .. } => "anteckning till plan",
            Document::CareReport { .. } => "vårdrapport",
            Document::Message { .. } => "meddelande",
            Document::Snapshot(_) => "ögonblicksbild",
        }
    }
}

impl Document {
    /// One line for lists (never the patient: lists may be seen over a shoulder).
    pub fn title_sv(&self) -> String {
        match self {
            Document::Message { subject, kind, .. } => {
                let kind = match kind {
                    MessageKind::PrescriptionRenewal => "receptförnyelse",
                    MessageKind::BookDoctor => "boka läkare",
                    MessageKind::HomeVisit => "hembesök",
                    MessageKind::Question => "fråga",
                    MessageKind::Other => "övrigt",
                };
                format!("{kind}: {subject}")
            }
            Document::DischargeReady { physician, .. } => {
                format!("utskrivningsklar (läkare {physician})")
            }
            Document::Discharged { destination, .. } => format!("utskriven till {destination}"),
            Document::Snapshot(s) => format!("från ögonblicksbild: {}", s.state.name_sv()),
            other => other.name_sv().to_string(),
        }
    }
}

/// The sealed plaintext of a clinical event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClinicalPayload {
    /// [`PAYLOAD_FORMAT`].
    pub format: u16,
    /// The patient; only a standalone message may concern no patient.
    pub patient: Option<PatientId>,
    /// The episode; only a standalone message may have none.
    pub episode: Option<EpisodeId>,
    /// When the author wrote it, by the author's wall clock (ms since the epoch).
    pub written_at_ms: u64,
    /// The author's name and role, as staff know them.
    pub author: String,
    /// The author's role (sjuksköterska, läkare, biståndshandläggare, …).
    pub role: String,
    /// Why the information may pass.
    pub consent: ConsentBasis,
    /// Whether the sender wants a read receipt.
    pub receipt_required: bool,
    /// Keys of the phrase templates used.
    pub phrases: Vec<String>,
    /// The document.
    pub document: Document,
}

/// Why a payload was refused (Swedish: a refusal of what a person typed reaches them).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PayloadError {
    /// Does not decode.
    #[error("skadat kliniskt innehåll: {0}")]
    Malformed(CodecError),
    /// A format this node does not read.
    #[error("innehållsformat {0} läses inte av den här versionen")]
    UnsupportedFormat(u16),
    /// A field breaks a limit.
    #[error("{0}")]
    Invalid(String),
}

fn check_len(what: &str, s: &str, max: usize) -> Result<(), PayloadError> {
    if s.len() > max {
        return Err(PayloadError::Invalid(format!(
            "{what}: längre än {max} byte"
        )));
    }
    Ok(())
}

/// Whether an event claims a time further ahead of `now_ms` than `max_ahead_ms`: its
/// header's clock, its written time, or (an admission notice) when its patient was admitted.
/// No honest node writes one (its clock is within the bound of ours, and an admission is
/// not announced before it happens), so such an event never dates an episode: an admitted
/// unit cannot make its notice a patient's latest episode by writing it "in the future".
pub fn is_future_dated(
    payload: &ClinicalPayload,
    hlc_wall_ms: u64,
    now_ms: u64,
    max_ahead_ms: u64,
) -> bool {
    let bound = now_ms.saturating_add(max_ahead_ms);
    let admitted = match &payload.document {
        Document::AdmissionNotice { admitted_at_ms, .. } => *admitted_at_ms,
        Document::Snapshot(s) => s.admitted_at_ms.max(s.taken_at_ms),
        _ => 0,
    };
    hlc_wall_ms > bound || payload.written_at_ms > bound || admitted > bound
}

impl ClinicalPayload {
    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), PayloadError> {
        if self.format != PAYLOAD_FORMAT {
            return Err(PayloadError::UnsupportedFormat(self.format));
        }
        let standalone = matches!(self.document, Document::Message { .. });
        if !standalone && (self.patient.is_none() || self.episode.is_none()) {
            return Err(PayloadError::Invalid(format!(
                "{}: måste gälla en patient och ett vårdtillfälle",
                self.document.name_sv()
            )));
        }
        if self.patient.is_none() && self.episode.is_some() {
            return Err(PayloadError::Invalid(
                "ett vårdtillfälle utan patient".into(),
            ));
        }
        if self.author.trim().is_empty() {
            return Err(PayloadError::Invalid("ingen författare angiven".into()));
        }
        let snapshot_times;
        let times: &[u64] = match &self.document {
            Document::AdmissionNotice { admitted_at_ms, .. } => &[*admitted_at_ms],
            Document::DischargeReady { at_ms, .. }
            | Document::NoLongerReady { at_ms, .. }
            | Document::Discharged { at_ms, .. } => &[*at_ms],
            Document::MunicipalityReady { from_ms, .. } => &[*from_ms],
            Document::Message {
                answer_by_ms: Some(a),
                ..
            } => &[*a],
            Document::Snapshot(s) => {
                snapshot_times = [
                    s.taken_at_ms,
                    s.admitted_at_ms,
                    s.ready_at_ms.unwrap_or(0),
                    s.municipality_ready_at_ms.unwrap_or(0),
                ];
                &snapshot_times
            }
            _ => &[],
        };
        if self.written_at_ms > TIME_MS_MAX || times.iter().any(|t| *t > TIME_MS_MAX) {
            return Err(PayloadError::Invalid("en tidpunkt efter år 9999".into()));
        }
        check_len("Författare", &self.author, SHORT_BYTES_MAX)?;
        check_len("Titel", &self.role, SHORT_BYTES_MAX)?;
        if self.phrases.len() > LIST_ITEMS_MAX {
            return Err(PayloadError::Invalid("för många fraser".into()));
        }
        let list = |n: usize| {
            if n > LIST_ITEMS_MAX {
                Err(PayloadError::Invalid("en lista har för många rader".into()))
            } else {
                Ok(())
            }
        };
        match &self.document {
            Document::AdmissionNotice {
                reason,
                current_services,
                ..
            } => {
                check_len("Orsak", reason, TEXT_BYTES_MAX)?;
                list(current_services.len())?;
            }
            Document::Plan { content, .. } => {
                check_len("Mål", &content.goals, TEXT_BYTES_MAX)?;
                check_len("Patientens syn", &content.patient_view, TEXT_BYTES_MAX)?;
                list(content.measures.len())?;
                list(content.participants.len())?;
                for m in &content.measures {
                    check_len("Insats", &m.text, TEXT_BYTES_MAX)?;
                    check_len("Ansvarig", &m.responsible, SHORT_BYTES_MAX)?;
                }
                for p in &content.participants {
                    check_len("Deltagare", p, SHORT_BYTES_MAX)?;
                }
            }
            Document::Message { subject, text, .. } => {
                if subject.trim().is_empty() {
                    return Err(PayloadError::Invalid(
                        "ett meddelande måste ha ett ämne".into(),
                    ));
                }
                check_len("Ämne", subject, SHORT_BYTES_MAX)?;
                check_len("Text", text, TEXT_BYTES_MAX)?;
            }
            Document::CareReport {
                reason_for_admission,
                responsible_physician,
                summary,
                complications,
                current_health,
                risks,
                changes,
                medication,
            } => {
                check_len(
                    "Orsak till inskrivning",
                    reason_for_admission,
                    TEXT_BYTES_MAX,
                )?;
                check_len("Ansvarig läkare", responsible_physician, SHORT_BYTES_MAX)?;
                check_len("Sammanfattning", summary, TEXT_BYTES_MAX)?;
                check_len("Komplikationer", complications, TEXT_BYTES_MAX)?;
                check_len("Aktuellt hälsotillstånd", current_health, TEXT_BYTES_MAX)?;
                check_len("Riskbedömningar", risks, TEXT_BYTES_MAX)?;
                check_len("Förändringar", changes, TEXT_BYTES_MAX)?;
                list(medication.len())?;
            }
            Document::PlanNote { text, .. } => check_len("Anteckning", text, TEXT_BYTES_MAX)?,
            Document::DischargeReady { physician, .. } => {
                check_len("Läkare", physician, SHORT_BYTES_MAX)?
            }
            Document::NoLongerReady { reason, .. } => check_len("Orsak", reason, TEXT_BYTES_MAX)?,
            Document::MunicipalityReady {
                planned_measures, ..
            } => check_len("Planerade insatser", planned_measures, TEXT_BYTES_MAX)?,
            Document::Discharged { destination, .. } => {
                check_len("Till", destination, SHORT_BYTES_MAX)?
            }
            Document::Snapshot(s) => {
                check_len("plan summary", &s.plan_summary, TEXT_BYTES_MAX)?;
                if let Some(d) = &s.preliminary_discharge {
                    check_len("preliminary discharge", d, SHORT_BYTES_MAX)?;
                }
                list(s.units.len())?;
                let steps_fit = match s.state {
                    ChainState::Admitted => {
                        s.ready_at_ms.is_none() && s.municipality_ready_at_ms.is_none()
                    }
                    ChainState::ReadyForDischarge => {
                        s.ready_at_ms.is_some() && s.municipality_ready_at_ms.is_none()
                    }
                    ChainState::MunicipalityReady => {
                        s.ready_at_ms.is_some() && s.municipality_ready_at_ms.is_some()
                    }
                    ChainState::Discharged => false,
                };
                if !steps_fit {
                    return Err(PayloadError::Invalid(
                        "a snapshot's steps do not fit its state".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The payload's bytes, to be sealed.
    pub fn encode(&self) -> Result<Vec<u8>, PayloadError> {
        self.validate()?;
        codec::encode::<_, EVENT_BYTES_MAX>(self).map_err(PayloadError::Malformed)
    }

    /// Reads an opened sealed body.
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let format: u16 = codec::decode_prefix(bytes).map_err(PayloadError::Malformed)?;
        if format != PAYLOAD_FORMAT {
            return Err(PayloadError::UnsupportedFormat(format));
        }
        let p: ClinicalPayload =
            codec::decode::<_, EVENT_BYTES_MAX>(bytes).map_err(PayloadError::Malformed)?;
        p.validate()?;
        Ok(p)
    }
}
