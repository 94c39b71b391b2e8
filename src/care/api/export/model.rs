//! The export's own form: everything this unit can open about the patients exported, as
//! plain data with string ids and times in ms since the epoch. It is the JSON export as it
//! is (schema `reservnod-export`, version [`EXPORT_VERSION`], described by
//! docs/export-schema.json), and what the FHIR Bundle and the printable HTML are made from,
//! so the three never disagree.

use std::collections::{BTreeMap, HashMap, HashSet};

use reservnod_proto::care::chain::CareChain;
use reservnod_proto::care::documents::{
    ConsentBasis, Document, ExpectedNeeds, MessageKind, PlanKind, Service,
};
use reservnod_proto::care::receipts::{receipt_state, ReceiptState};
use reservnod_proto::patient::PatientIdKind;
use reservnod_proto::{EventId, PatientId};
use serde::Serialize;

use crate::care::api::caller::Caller;
use crate::care::api::common::unit_ref;
use crate::care::api::show::{document_fields, Field};
use crate::care::api::types::{ApiError, CareNode, UnitRef};
use crate::care::view::{CareView, Opened};

/// The schema's name, in every export.
pub const EXPORT_SCHEMA: &str = "reservnod-export";
/// The schema's version: a change that breaks a reader of an older export raises it.
pub const EXPORT_VERSION: u32 = 1;
/// Most answers followed from a patient's messages into their threads (an answer may name
/// no patient: it belongs to the patient through the message it answers).
const THREAD_ROUNDS_MAX: usize = 100;

/// One export.
#[derive(Clone, Debug, Serialize)]
pub struct ExportFile {
    /// [`EXPORT_SCHEMA`].
    pub schema: &'static str,
    /// [`EXPORT_VERSION`].
    pub version: u32,
    /// This export's own id (a UUID).
    pub id: String,
    /// When it was made.
    pub exported_at_ms: u64,
    /// Who made it.
    pub exported_by: ExportedBy,
    /// The node that made it (its NodeId text).
    pub node: String,
    /// What was asked for.
    pub scope: Scope,
    /// Every unit named in the export (authors, recipients, the exporting unit).
    pub units: Vec<UnitRef>,
    /// The patients, each with what this unit can open about them.
    pub patients: Vec<PatientExport>,
}

/// Who made an export.
#[derive(Clone, Debug, Serialize)]
pub struct ExportedBy {
    /// The account's login, if any.
    pub login: Option<String>,
    /// The person's name, if given.
    pub name: Option<String>,
    /// The exporting unit (HSA-id).
    pub unit: String,
}

/// What an export covers.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// One patient.
    Patient {
        /// The patient (canonical form).
        patient: String,
    },
    /// Every clinical event of one outage this unit sent or received (its re-entry list's
    /// items), of every patient, each with its re-entry state (`reentry`).
    Outage {
        /// The outage (its declaration's event id, hex).
        outage: String,
        /// The unit whose re-entry list it is (HSA-id).
        unit: String,
        /// Whether a unit admin has signed off what is left.
        signed_off: bool,
    },
}

/// Where one re-entry item stands (in an outage's export only).
#[derive(Clone, Debug, Serialize)]
pub struct ReentryExport {
    /// `inregistrerat`, `behovs-inte` or `kvar`: from the latest mark, `kvar` with none.
    pub state: &'static str,
    /// Written `före utlysningen`, `under driftstörningen` or `efter slutet`.
    pub placement: String,
    /// Every mark made on it, oldest first (two made apart on different nodes are both
    /// here; the latest decides `state`).
    pub marks: Vec<MarkExport>,
}

/// One mark on a re-entry item.
#[derive(Clone, Debug, Serialize)]
pub struct MarkExport {
    /// The mark's own event (hex).
    pub event: String,
    /// `inregistrerat` or `behovs-inte`.
    pub state: &'static str,
    /// LINK's reference (entered; may be empty) or the reason (not needed).
    pub detail: String,
    /// Who marked it.
    pub by: String,
    /// Their login, if any.
    pub login: Option<String>,
    /// When.
    pub at_ms: u64,
}

impl ReentryExport {
    /// The latest mark (by its time, then its id), which decides the state.
    pub fn latest(&self) -> Option<&MarkExport> {
        self.marks
            .iter()
            .max_by(|a, b| (a.at_ms, &a.event).cmp(&(b.at_ms, &b.event)))
    }
}

/// One patient.
#[derive(Clone, Debug, Serialize)]
pub struct PatientExport {
    /// Canonical form: `ÅÅÅÅMMDD-NNNN` or `R:<utfärdare>:<värde>`.
    pub id: String,
    /// `personnummer`, `samordningsnummer` or `reservnummer`.
    pub kind: &'static str,
    /// Episodes, the most recent first.
    pub episodes: Vec<EpisodeExport>,
    /// Every event, oldest first (by the author node's clock, then id).
    pub events: Vec<EventExport>,
    /// Plans, by their first version.
    pub plans: Vec<PlanExport>,
}

/// One episode (vårdtillfälle).
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeExport {
    /// Its id (hex).
    pub episode: String,
    /// Where the chain stands, Swedish.
    pub state: String,
    /// The unit whose admission notice opened it.
    pub admitted_by: Option<String>,
    /// When the patient was admitted.
    pub admitted_at_ms: Option<u64>,
    /// When the patient was judged ready for discharge (the notice in force).
    pub ready_at_ms: Option<u64>,
    /// When the municipality was ready.
    pub municipality_ready_at_ms: Option<u64>,
    /// When the patient was discharged.
    pub discharged_at_ms: Option<u64>,
}

/// One signed event.
#[derive(Clone, Debug, Serialize)]
pub struct EventExport {
    /// Its id (hex BLAKE3 of the signed bytes).
    pub event: String,
    /// Its episode (hex), if any.
    pub episode: Option<String>,
    /// The kind as a code (the `type` of `content`).
    pub kind: &'static str,
    /// The kind, Swedish.
    pub kind_sv: &'static str,
    /// One line, Swedish.
    pub title: String,
    /// The author's unit (HSA-id).
    pub unit: String,
    /// The author node (NodeId text), whose key signed it.
    pub node: String,
    /// The author's login, if the header names one.
    pub login: Option<String>,
    /// The author as written.
    pub author: String,
    /// The author's role.
    pub role: String,
    /// When the author wrote it (the author's wall clock).
    pub written_at_ms: u64,
    /// The signed timestamp's wall time (the author node's hybrid clock).
    pub recorded_at_ms: u64,
    /// Sent as urgent.
    pub urgent: bool,
    /// Why the information may pass: `samtycke`, `nödsituation` or `inte inhämtat: …`.
    pub consent: String,
    /// Whether the sender asked for a read receipt.
    pub receipt_required: bool,
    /// Per recipient unit: delivered and read as this node knows.
    pub recipients: Vec<RecipientExport>,
    /// The plan it is a version of (hex), if any.
    pub plan: Option<String>,
    /// The versions it replaces (hex), for a plan version.
    pub replaces: Vec<String>,
    /// The ed25519 signature over the event (hex).
    pub signature: String,
    /// What it says.
    pub content: Content,
    /// Its re-entry state, in an outage's export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reentry: Option<ReentryExport>,
    /// What it says as staff read it, label and value (`care::api::document_fields`): the
    /// printout's and the FHIR narrative's text. Not part of the JSON export.
    #[serde(skip)]
    pub fields: Vec<Field>,
}

/// What became of an event at one recipient unit.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientExport {
    /// The unit (HSA-id).
    pub unit: String,
    /// When a node of the unit stored and opened it (Delivered).
    pub delivered_at_ms: Option<u64>,
    /// When a person there acknowledged it (Read).
    pub read_at_ms: Option<u64>,
    /// Who acknowledged it.
    pub read_by: Option<String>,
}

/// A plan and where its versions stand.
#[derive(Clone, Debug, Serialize)]
pub struct PlanExport {
    /// The plan (hex document id).
    pub plan: String,
    /// `discharge`, `sip` or `lpt`.
    pub plan_kind: &'static str,
    /// Its versions that are part of it (event ids), oldest first.
    pub versions: Vec<String>,
    /// The current versions: one, or several in conflict.
    pub heads: Vec<String>,
    /// Its notes (event ids), oldest first.
    pub notes: Vec<String>,
}

/// One measure of a plan.
#[derive(Clone, Debug, Serialize)]
pub struct MeasureExport {
    /// What is to be done.
    pub text: String,
    /// Who is responsible.
    pub responsible: String,
    /// By when (ÅÅÅÅ-MM-DD).
    pub by_date: Option<String>,
}

/// One drug.
#[derive(Clone, Debug, Serialize)]
pub struct DrugExport {
    /// Name.
    pub name: String,
    /// Strength.
    pub strength: String,
    /// Dose.
    pub dose: String,
    /// What changed and why.
    pub change: Option<String>,
}

/// The document an event carries, tagged by `type`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Inskrivningsmeddelande.
    AdmissionNotice {
        /// When the patient was admitted.
        admitted_at_ms: u64,
        /// Why.
        reason: String,
        /// `municipality`, `primary_care` or `both`.
        expected_needs: &'static str,
        /// `home_care`, `home_nursing`, `nursing_home`.
        current_services: Vec<&'static str>,
        /// Preliminary discharge date.
        preliminary_discharge: Option<String>,
        /// The patient's municipality code.
        municipality: Option<String>,
    },
    /// Utskrivningsklar.
    DischargeReady {
        /// When.
        at_ms: u64,
        /// Treating physician.
        physician: String,
    },
    /// Återtag av utskrivningsklar.
    NoLongerReady {
        /// When.
        at_ms: u64,
        /// Why.
        reason: String,
    },
    /// Kommunklar.
    MunicipalityReady {
        /// From when.
        from_ms: u64,
        /// Planned measures.
        planned_measures: String,
    },
    /// Utskriven.
    Discharged {
        /// When.
        at_ms: u64,
        /// Where to.
        destination: String,
    },
    /// A version of a plan.
    Plan {
        /// `discharge`, `sip` or `lpt`.
        plan_kind: &'static str,
        /// Goals.
        goals: String,
        /// Measures.
        measures: Vec<MeasureExport>,
        /// Follow-up date.
        follow_up: Option<String>,
        /// Who took part.
        participants: Vec<String>,
        /// The patient's own view.
        patient_view: String,
    },
    /// A note on a plan.
    PlanNote {
        /// The plan (hex).
        plan: String,
        /// The note.
        text: String,
    },
    /// Vårdrapport with the medication list.
    CareReport {
        /// Reason for admission.
        reason_for_admission: String,
        /// Responsible physician.
        responsible_physician: String,
        /// Summary of the care given.
        summary: String,
        /// Complications.
        complications: String,
        /// Current health and function.
        current_health: String,
        /// Risk assessments.
        risks: String,
        /// Changes since planning.
        changes: String,
        /// Medication list.
        medication: Vec<DrugExport>,
    },
    /// A standalone message or an answer.
    Message {
        /// `prescription_renewal`, `book_doctor`, `home_visit`, `question`, `other`.
        message_kind: &'static str,
        /// Subject.
        subject: String,
        /// Text.
        text: String,
        /// Answer wanted by.
        answer_by_ms: Option<u64>,
        /// The message it answers (hex).
        reply_to: Option<String>,
    },
}

/// The code of a plan kind, and its category code in the FHIR mapping.
pub fn plan_kind_code(k: PlanKind) -> &'static str {
    match k {
        PlanKind::Discharge => "discharge",
        PlanKind::Sip => "sip",
        PlanKind::Lpt => "lpt",
    }
}

fn kind_code(d: &Document) -> &'static str {
    match d {
        Document::AdmissionNotice { .. } => "admission_notice",
        Document::DischargeReady { .. } => "discharge_ready",
        Document::NoLongerReady { .. } => "no_longer_ready",
        Document::MunicipalityReady { .. } => "municipality_ready",
        Document::Discharged { .. } => "discharged",
        Document::Plan { .. } => "plan",
        Document::PlanNote { .. } => "plan_note",
        Document::CareReport { .. } => "care_report",
        Document::Message { .. } => "message",
        Document::Snapshot(_) => "snapshot",
    }
}

/// What the document says, in the export's form; none for an imported snapshot, which came
/// from the primary system and so is nothing to re-enter there.
fn content(d: &Document) -> Option<Content> {
    Some(match d.clone() {
        Document::AdmissionNotice {
            admitted_at_ms,
            reason,
            expected_needs,
            current_services,
            preliminary_discharge,
            municipality,
        } => Content::AdmissionNotice {
            admitted_at_ms,
            reason,
            expected_needs: match expected_needs {
                ExpectedNeeds::Municipality => "municipality",
                ExpectedNeeds::PrimaryCare => "primary_care",
                ExpectedNeeds::Both => "both",
            },
            current_services: current_services
                .iter()
                .map(|s| match s {
                    Service::HomeCare => "home_care",
                    Service::HomeNursing => "home_nursing",
                    Service::NursingHome => "nursing_home",
                })
                .collect(),
            preliminary_discharge,
            municipality: municipality.map(String::from),
        },
        Document::DischargeReady { at_ms, physician } => {
            Content::DischargeReady { at_ms, physician }
        }
        Document::NoLongerReady { at_ms, reason } => Content::NoLongerReady { at_ms, reason },
        Document::MunicipalityReady {
            from_ms,
            planned_measures,
        } => Content::MunicipalityReady {
            from_ms,
            planned_measures,
        },
        Document::Discharged { at_ms, destination } => Content::Discharged { at_ms, destination },
        Document::Plan { kind, content } => Content::Plan {
            plan_kind: plan_kind_code(kind),
            goals: content.goals,
            measures: content
                .measures
                .into_iter()
                .map(|m| MeasureExport {
                    text: m.text,
                    responsible: m.responsible,
                    by_date: m.by_date,
                })
                .collect(),
            follow_up: content.follow_up,
            participants: content.participants,
            patient_view: content.patient_view,
        },
        Document::PlanNote { plan, text } => Content::PlanNote {
            plan: plan.to_string(),
            text,
        },
        Document::CareReport {
            reason_for_admission,
            responsible_physician,
            summary,
            complications,
            current_health,
            risks,
            changes,
            medication,
        } => Content::CareReport {
            reason_for_admission,
            responsible_physician,
            summary,
            complications,
            current_health,
            risks,
            changes,
            medication: medication
                .into_iter()
                .map(|d| DrugExport {
                    name: d.name,
                    strength: d.strength,
                    dose: d.dose,
                    change: d.change,
                })
                .collect(),
        },
        Document::Message {
            kind,
            subject,
            text,
            answer_by_ms,
            reply_to,
        } => Content::Message {
            message_kind: match kind {
                MessageKind::PrescriptionRenewal => "prescription_renewal",
                MessageKind::BookDoctor => "book_doctor",
                MessageKind::HomeVisit => "home_visit",
                MessageKind::Question => "question",
                MessageKind::Other => "other",
            },
            subject,
            text,
            answer_by_ms,
            reply_to: reply_to.map(|r| r.to_string()),
        },
        Document::Snapshot(_) => return None,
    })
}

/// The kind of a patient identifier, as the schema names it.
pub fn patient_kind(p: &PatientId) -> &'static str {
    match p.kind() {
        PatientIdKind::Personnummer => "personnummer",
        PatientIdKind::Samordningsnummer => "samordningsnummer",
        PatientIdKind::Reservnummer => "reservnummer",
    }
}

fn consent_text(c: &ConsentBasis) -> String {
    match c {
        ConsentBasis::Consent => "samtycke".into(),
        ConsentBasis::Emergency => "nödsituation".into(),
        ConsentBasis::NotObtained(why) => format!("inte inhämtat: {why}"),
    }
}

/// A patient's events as this unit can open them, and the answers in their threads (an
/// answer may name no patient), oldest first.
pub(super) fn patient_events<'a>(view: &'a CareView, patient: &PatientId) -> Vec<&'a Opened> {
    // An imported snapshot is the primary system's own record: not exported back to it.
    let mut events: Vec<&Opened> = view
        .patient(patient)
        .into_iter()
        .filter(|o| !matches!(o.payload.document, Document::Snapshot(_)))
        .collect();
    let mut have: HashSet<EventId> = events.iter().map(|o| o.id).collect();
    for _ in 0..THREAD_ROUNDS_MAX {
        let answers: Vec<&Opened> = view
            .all()
            .filter(|o| !have.contains(&o.id))
            .filter(|o| {
                matches!(&o.payload.document, Document::Message { reply_to: Some(r), .. } if have.contains(r))
            })
            .collect();
        if answers.is_empty() {
            break;
        }
        have.extend(answers.iter().map(|o| o.id));
        events.extend(answers);
    }
    events.sort_by_key(|o| (o.hlc, o.id));
    events
}

/// Everything this unit can open about `patients`, as of the node's time.
pub(super) fn build(
    node: &dyn CareNode,
    caller: &Caller,
    patients: &[PatientId],
    scope: Scope,
    id: String,
    only: Option<&HashMap<EventId, ReentryExport>>,
) -> Result<ExportFile, ApiError> {
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let now = node.now_ms();
    let mut units: BTreeMap<String, UnitRef> = BTreeMap::new();
    units.insert(own.to_string(), unit_ref(&roster, &own));
    let mut out = Vec::new();
    let view = node.view();
    for patient in patients {
        let mut opened = patient_events(&view, patient);
        if let Some(only) = only {
            opened.retain(|o| only.contains_key(&o.id));
        }
        let mut events = Vec::with_capacity(opened.len());
        for o in &opened {
            let Some(content) = content(&o.payload.document) else {
                continue;
            };
            units.insert(o.unit.to_string(), unit_ref(&roster, &o.unit));
            let receipts = node.store().receipts_for(&o.id)?;
            let signature = node
                .store()
                .get(&o.id)?
                .map(|s| data_encoding::HEXLOWER.encode(&s.sig))
                .unwrap_or_default();
            let recipients = o
                .recipients
                .iter()
                .map(|u| {
                    units.insert(u.to_string(), unit_ref(&roster, u));
                    let (delivered_at_ms, read_at_ms, read_by) =
                        match receipt_state(&o.id, u, &receipts) {
                            ReceiptState::Waiting => (None, None, None),
                            ReceiptState::Delivered { at_ms } => (Some(at_ms), None, None),
                            ReceiptState::Read {
                                delivered_ms,
                                at_ms,
                                by,
                            } => (delivered_ms, Some(at_ms), Some(by)),
                        };
                    RecipientExport {
                        unit: u.to_string(),
                        delivered_at_ms,
                        read_at_ms,
                        read_by,
                    }
                })
                .collect();
            events.push(EventExport {
                event: o.id.to_string(),
                episode: o.payload.episode.map(|e| e.to_string()),
                kind: kind_code(&o.payload.document),
                kind_sv: o.payload.document.name_sv(),
                title: o.payload.document.title_sv(),
                unit: o.unit.to_string(),
                node: o.node.to_string(),
                login: o.user.clone(),
                author: o.payload.author.clone(),
                role: o.payload.role.clone(),
                written_at_ms: o.payload.written_at_ms,
                recorded_at_ms: o.hlc.wall_ms,
                urgent: o.priority == reservnod_proto::Priority::Urgent,
                consent: consent_text(&o.payload.consent),
                receipt_required: o.payload.receipt_required,
                recipients,
                plan: o.doc.as_ref().map(|d| d.doc.to_string()),
                replaces: o
                    .doc
                    .as_ref()
                    .map(|d| d.parents.iter().map(|p| p.to_string()).collect())
                    .unwrap_or_default(),
                signature,
                content,
                reentry: only.and_then(|m| m.get(&o.id)).cloned(),
                fields: document_fields(&o.payload.document),
            });
        }
        let entries: Vec<_> = opened.iter().map(|o| o.chain_entry()).collect();
        let mut episodes = Vec::new();
        let mut plans = Vec::new();
        for ep in view.episodes(patient, now) {
            let c = CareChain::build(patient, ep, &entries);
            episodes.push(EpisodeExport {
                episode: ep.to_string(),
                state: c.state.name_sv().into(),
                admitted_by: c.admitted.as_ref().map(|s| s.unit.to_string()),
                admitted_at_ms: c.admitted.as_ref().map(|s| s.at_ms),
                ready_at_ms: c.ready.as_ref().map(|s| s.at_ms),
                municipality_ready_at_ms: c.municipality_ready.as_ref().map(|s| s.at_ms),
                discharged_at_ms: c.discharged.as_ref().map(|s| s.at_ms),
            });
            for doc in view.plans_of(patient, ep) {
                let p = view.plan(&doc);
                let Some(Document::Plan { kind, .. }) = p.first.map(|f| &f.payload.document) else {
                    continue;
                };
                plans.push(PlanExport {
                    plan: doc.to_string(),
                    plan_kind: plan_kind_code(*kind),
                    versions: p.versions.iter().map(|o| o.id.to_string()).collect(),
                    heads: p.state.heads.iter().map(|h| h.to_string()).collect(),
                    notes: p.notes.iter().map(|o| o.id.to_string()).collect(),
                });
            }
        }
        out.push(PatientExport {
            id: patient.canonical().to_string(),
            kind: patient_kind(patient),
            episodes,
            events,
            plans,
        });
    }
    drop(view);
    let (login, name) = (caller.login(), caller_name(caller));
    Ok(ExportFile {
        schema: EXPORT_SCHEMA,
        version: EXPORT_VERSION,
        id,
        exported_at_ms: now,
        exported_by: ExportedBy {
            login,
            name,
            unit: own.to_string(),
        },
        node: node.node_key().id().to_string(),
        scope,
        units: units.into_values().collect(),
        patients: out,
    })
}

fn caller_name(caller: &Caller) -> Option<String> {
    match &caller.actor {
        crate::care::api::caller::Actor::Account(a) => Some(a.name.clone()),
        crate::care::api::caller::Actor::Local(p) => {
            crate::care::api::input::given(Some(p.name.as_str())).map(str::to_string)
        }
    }
}
