//! The care operations staff use: send, inbox, chain, show, acknowledge, plan edits.
//!
//! [`handle`] answers one [`Request`] against a [`CareNode`]: the running daemon (through its
//! local socket, see [`crate::serve::socket`]) or the data directory opened directly when no
//! daemon runs. Requests carry what the person typed; every check (patient id, units,
//! phrases, plan heads) happens here, once, so every way in refuses the same things with the
//! same Swedish message and changes nothing when it refuses.

use std::sync::{Arc, MutexGuard};

use rand_core::OsRng;
use reservnod_proto::care::chain::{CareChain, Gap, Payment, StepRecord};
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, PlanContent, PlanKind, PAYLOAD_FORMAT,
};
use reservnod_proto::care::receipts::{
    receipt_state, Receipt, ReceiptKind, ReceiptState, RECEIPT_FORMAT,
};
use reservnod_proto::event::{DocRef, EventClass, Header, EVENT_FORMAT};
use reservnod_proto::roster::PhraseTemplate;
use reservnod_proto::seal::SealError;
use reservnod_proto::{
    DocId, EventId, Hlc, HsaId, NodeKey, PatientId, Priority, Roster, SignedEvent, SignedRoster,
    UnitSecretKey,
};
use serde::{Deserialize, Serialize};

use super::view::{CareView, Opened};
use crate::clock::{format_ms_local, now_ms, swedish_offset_min, today};
use crate::store::{AuditAction, AuditEntry, Store, StoreError};

/// Why a request was refused. The message is Swedish, for staff.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error("lagringsfel: {0}")]
    Store(StoreError),
}

// By hand, not `#[from]`: the message already says the cause, so it is not also a source.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

fn refused(s: impl Into<String>) -> ApiError {
    ApiError::Refused(s.into())
}

/// What the care operations need of a node.
pub trait CareNode: Send + Sync {
    /// The store.
    fn store(&self) -> &Store;
    /// The roster in force.
    fn roster(&self) -> Arc<Roster>;
    /// This node's key.
    fn node_key(&self) -> &NodeKey;
    /// This node's unit key.
    fn unit_key(&self) -> &UnitSecretKey;
    /// A timestamp for an event written now.
    fn tick(&self) -> Hlc;
    /// The opened events of this unit.
    fn view(&self) -> MutexGuard<'_, CareView>;
    /// Verifies, stores (durably), adds to the view and spreads events written here.
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError>;
    /// Calendar days after "ready for discharge" until the municipality pays.
    fn payment_days(&self) -> u32;
    /// Installs a newer roster by the trusted admin and puts it in force; its version.
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError>;
}

/// Who is at the keyboard.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Person {
    /// Name as it appears on documents and receipts (e.g. "Anna Andersson").
    pub name: String,
    /// Role (sjuksköterska, läkare, biståndshandläggare, …).
    pub role: String,
    /// Login, for the audit log.
    pub login: Option<String>,
}

/// Send a document or message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    /// Who writes it.
    pub person: Person,
    /// The patient as typed (any common spelling); only a message may have none.
    pub patient: Option<String>,
    /// The episode (hex); by default the patient's newest, or a new one for an admission notice.
    pub episode: Option<String>,
    /// Recipient units as typed; empty means the roster's suggestion.
    pub to: Vec<String>,
    /// Urgent or not.
    pub urgent: bool,
    /// Whether a read receipt is asked for.
    pub receipt_required: bool,
    /// Why the information may pass.
    pub consent: ConsentBasis,
    /// Phrase templates (frastexter) by key; their texts open a message's text.
    pub phrases: Vec<String>,
    /// The document. For `PlanNote`, `plan` names the plan; a `Plan` starts a new plan.
    pub document: Document,
    /// For a message: the message it answers (hex, or a unique prefix). The answer goes to
    /// that message's unit and concerns its patient unless told otherwise.
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl SendRequest {
    /// `document` from `person`, with the defaults staff get: no patient, recipients from
    /// the roster, not urgent, a read receipt asked for, consent given.
    pub fn new(person: Person, document: Document) -> SendRequest {
        SendRequest {
            person,
            patient: None,
            episode: None,
            to: Vec::new(),
            urgent: false,
            receipt_required: true,
            consent: ConsentBasis::Consent,
            phrases: Vec::new(),
            document,
            reply_to: None,
        }
    }
}

/// Changes to a plan; fields not given keep the base version's content.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PlanPatch {
    /// New goals.
    pub goals: Option<String>,
    /// New measures (replace the list).
    pub measures: Option<Vec<reservnod_proto::care::documents::Measure>>,
    /// New follow-up date.
    pub follow_up: Option<String>,
    /// New participants (replace the list).
    pub participants: Option<Vec<String>>,
    /// The patient's view.
    pub patient_view: Option<String>,
}

/// Write a new version of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanEditRequest {
    /// Who writes it.
    pub person: Person,
    /// The plan (hex document id).
    pub doc: String,
    /// For a conflict: resolve it; the new version replaces every head.
    pub resolve: bool,
    /// The version whose text the edit starts from (hex event id); by default the only head.
    pub base: Option<String>,
    /// The changes.
    pub patch: PlanPatch,
    /// Urgent or not.
    pub urgent: bool,
}

/// One request to the care layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Send a document or message.
    Send(SendRequest),
    /// The unit's inbox and what it sent.
    Inbox {
        /// Login, for the audit log.
        login: Option<String>,
    },
    /// One event, whole.
    Show {
        /// The event (hex, or a unique prefix of at least 8 digits).
        event: String,
        /// Login, for the audit log.
        login: Option<String>,
    },
    /// A patient's care chain.
    Chain {
        /// The patient as typed.
        patient: String,
        /// Login, for the audit log.
        login: Option<String>,
    },
    /// Acknowledge (kvittera) an event addressed to this unit.
    Ack {
        /// The event (hex, or a unique prefix).
        event: String,
        /// Who acknowledges.
        person: Person,
    },
    /// A plan's versions.
    Plan {
        /// The plan (hex document id, or a unique prefix).
        doc: String,
        /// Login, for the audit log.
        login: Option<String>,
    },
    /// Write a new version of a plan.
    PlanEdit(PlanEditRequest),
    /// The roster's units and phrase templates.
    Directory,
    /// Escalated events this unit sent.
    Escalations,
    /// Install a newer roster (`node install-roster` while the node runs).
    InstallRoster {
        /// The roster file's bytes, base64.
        roster: String,
    },
}

/// A unit as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// HSA-id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What became of a sent event at one recipient unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The unit.
    pub unit: UnitRef,
    /// "väntar", "levererad" or "läst".
    pub state: String,
    /// When delivered.
    pub delivered_ms: Option<u64>,
    /// When read.
    pub read_ms: Option<u64>,
    /// By whom.
    pub read_by: Option<String>,
    /// When it was escalated as unread, if it was.
    pub escalated_ms: Option<u64>,
}

/// One event in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Event id (hex).
    pub event: String,
    /// Document kind, Swedish.
    pub kind: String,
    /// One line.
    pub title: String,
    /// The patient (canonical form), if any.
    pub patient: Option<String>,
    /// Author unit.
    pub from: UnitRef,
    /// Author name.
    pub author: String,
    /// When it was written (ms since the epoch).
    pub at_ms: u64,
    /// Local time, for people.
    pub at: String,
    /// Urgent.
    pub urgent: bool,
    /// This unit acknowledged it: by whom and when.
    pub read_by: Option<String>,
    /// When this unit acknowledged it.
    pub read_ms: Option<u64>,
    /// Per recipient unit, for events this unit sent.
    pub recipients: Vec<RecipientState>,
    /// Whether the sender asked for a read receipt.
    pub receipt_required: bool,
    /// The plan it is a version of, if any (hex).
    pub plan: Option<String>,
}

/// The inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// This unit.
    pub unit: UnitRef,
    /// Addressed to this unit: unread first, urgent first, newest first.
    pub incoming: Vec<Item>,
    /// Sent by this unit, newest first, with receipt state per recipient.
    pub sent: Vec<Item>,
    /// Events that could not be opened or read.
    pub unreadable: u64,
}

/// One event, whole.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shown {
    /// The list line.
    pub item: Item,
    /// The author's role.
    pub role: String,
    /// Episode (hex).
    pub episode: Option<String>,
    /// Why the information may pass.
    pub consent: ConsentBasis,
    /// Phrase templates used.
    pub phrases: Vec<String>,
    /// The document.
    pub document: Document,
    /// Recipient units.
    pub to: Vec<UnitRef>,
    /// The thread: the message this answers and the answers to it, oldest first.
    pub thread: Vec<Item>,
}

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
}

/// One episode of a patient's chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpisodeView {
    /// Episode (hex).
    pub episode: String,
    /// Where it stands, Swedish.
    pub state: String,
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

/// What was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sent {
    /// The event (hex).
    pub event: String,
    /// Kind, Swedish.
    pub kind: String,
    /// To whom.
    pub to: Vec<UnitRef>,
    /// Whether the recipients came from the roster's routing rules.
    pub suggested: bool,
    /// The episode (hex).
    pub episode: Option<String>,
    /// The plan (hex), for a plan version.
    pub plan: Option<String>,
}

/// An acknowledgement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Acked {
    /// The event (hex).
    pub event: String,
    /// Whether it had been acknowledged before (nothing new was written).
    pub already: bool,
    /// By whom.
    pub by: String,
    /// When.
    pub at_ms: u64,
}

/// The roster's units and phrases.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Directory {
    /// This unit.
    pub unit: UnitRef,
    /// Every unit: (id, name, kind, municipality).
    pub units: Vec<(String, String, String, String)>,
    /// Routing rules: (municipality, unit).
    pub routing: Vec<(String, String)>,
    /// Phrase templates.
    pub phrases: Vec<PhraseTemplate>,
    /// Minutes unread before escalation: (urgent, normal).
    pub escalation_minutes: (u32, u32),
}

/// An escalation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalated {
    /// The unread event (hex).
    pub event: String,
    /// The unit that has not read it.
    pub unit: UnitRef,
    /// When it was escalated.
    pub at_ms: u64,
    /// Whether the configured command has run.
    pub command_ran: bool,
}

/// The escalations this node has made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalations {
    /// Oldest first.
    pub escalations: Vec<Escalated>,
}

/// One reply. Every variant holds a struct: the tagged JSON form cannot carry a bare list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Sent.
    Sent(Sent),
    /// The inbox.
    Inbox(Inbox),
    /// One event.
    Shown(Box<Shown>),
    /// A chain.
    Chain(ChainView),
    /// Acknowledged.
    Acked(Acked),
    /// A plan.
    Plan(PlanView),
    /// The directory.
    Directory(Directory),
    /// Escalations.
    Escalations(Escalations),
    /// A roster installed.
    RosterInstalled(RosterInstalled),
}

/// A roster installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterInstalled {
    /// Its version.
    pub version: u64,
    /// Whether it admits this node.
    pub admitted: bool,
}

/// Answers one request.
pub fn handle(node: &dyn CareNode, request: Request) -> Result<Reply, ApiError> {
    match request {
        Request::Send(r) => send(node, r).map(Reply::Sent),
        Request::Inbox { login } => inbox(node, login).map(Reply::Inbox),
        Request::Show { event, login } => {
            show(node, &event, login).map(|s| Reply::Shown(Box::new(s)))
        }
        Request::Chain { patient, login } => chain(node, &patient, login).map(Reply::Chain),
        Request::Ack { event, person } => ack(node, &event, person).map(Reply::Acked),
        Request::Plan { doc, login } => plan(node, &doc, login).map(Reply::Plan),
        Request::PlanEdit(r) => plan_edit(node, r).map(Reply::Sent),
        Request::Directory => Ok(Reply::Directory(directory(node))),
        Request::Escalations => escalations(node).map(Reply::Escalations),
        Request::InstallRoster { roster } => {
            install_roster(node, &roster).map(Reply::RosterInstalled)
        }
    }
}

/// The roster file's bytes as [`Request::InstallRoster`] carries them.
pub fn roster_request(file_bytes: &[u8]) -> Request {
    Request::InstallRoster {
        roster: data_encoding::BASE64.encode(file_bytes),
    }
}

fn install_roster(node: &dyn CareNode, text: &str) -> Result<RosterInstalled, ApiError> {
    let bytes = data_encoding::BASE64
        .decode(text.trim().as_bytes())
        .map_err(|e| refused(format!("rostern kunde inte läsas (base64): {e}")))?;
    let signed = SignedRoster::from_file_bytes(&bytes)
        .map_err(|e| refused(format!("rostern kunde inte läsas: {e}")))?;
    let version = node.install_roster(&signed)?;
    audit(
        node,
        AuditAction::RosterInstalled,
        None,
        None,
        None,
        &format!("roster version {version}"),
    )?;
    Ok(RosterInstalled {
        version,
        admitted: node.roster().is_admitted(&node.node_key().id()),
    })
}

fn unit_ref(roster: &Roster, id: &HsaId) -> UnitRef {
    UnitRef {
        id: id.to_string(),
        name: roster
            .unit(id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| "(okänd enhet)".into()),
    }
}

fn parse_patient(s: &str) -> Result<PatientId, ApiError> {
    PatientId::parse_at(s, today()).map_err(|e| {
        refused(format!(
            "ogiltigt patient-id '{}': {}",
            s.trim(),
            e.message_sv()
        ))
    })
}

fn parse_hex<const N: usize>(s: &str, what: &str) -> Result<[u8; N], ApiError> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.trim().as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            refused(format!(
                "'{}' är inget {what} ({} hexsiffror)",
                s.trim(),
                2 * N
            ))
        })
}

/// `s` as a lower-case prefix of at least 8 hex digits, or a refusal naming `what`.
fn hex_prefix(s: &str, what: &str) -> Result<String, ApiError> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() < 8 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refused(format!(
            "'{s}' är inget {what} (minst 8 hexsiffror)"
        )));
    }
    Ok(s)
}

/// An event of the view by full id or a unique prefix of at least 8 hex digits.
fn find_event<'a>(view: &'a CareView, s: &str) -> Result<&'a Opened, ApiError> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() == 64 {
        let id = EventId(parse_hex::<32>(&s, "händelse-id")?);
        return view.get(&id).ok_or_else(|| {
            refused(format!(
                "händelsen {s} finns inte här (eller kan inte läsas av enheten)"
            ))
        });
    }
    let s = hex_prefix(&s, "händelse-id")?;
    let mut hits = view.all().filter(|o| o.id.to_string().starts_with(&s));
    match (hits.next(), hits.next()) {
        (Some(o), None) => Ok(o),
        (None, _) => Err(refused(format!("ingen händelse här börjar på {s}"))),
        (Some(_), Some(_)) => Err(refused(format!(
            "flera händelser börjar på {s}: skriv fler siffror"
        ))),
    }
}

/// When `s` names no event this unit can read: whether the store holds it all the same
/// (sealed to other units, carried for them), to say so instead of "not here".
fn sealed_elsewhere(store: &Store, s: &str) -> Result<Option<ApiError>, ApiError> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() < 8 || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let bytes = data_encoding::HEXLOWER
        .decode(&s.as_bytes()[..s.len() / 2 * 2])
        .map_err(|e| refused(format!("ogiltigt händelse-id: {e}")))?;
    let held = store
        .event_ids_with_prefix(&bytes, 64)?
        .into_iter()
        .find(|id| id.to_string().starts_with(&s));
    Ok(held.map(|id| {
        refused(format!(
            "händelsen {} finns här men är förseglad till andra enheter: den här enheten bär den åt dem och kan inte läsa den",
            id.short()
        ))
    }))
}

fn find_plan(view: &CareView, s: &str) -> Result<DocId, ApiError> {
    let s = hex_prefix(s, "plan-id")?;
    let mut docs: Vec<DocId> = view
        .all()
        .filter_map(|o| match (&o.doc, &o.payload.document) {
            (Some(d), Document::Plan { .. }) if d.doc.to_string().starts_with(&s) => Some(d.doc),
            _ => None,
        })
        .collect();
    docs.sort();
    docs.dedup();
    match docs.as_slice() {
        [d] => Ok(*d),
        [] => Err(refused(format!("ingen plan här har id {s}"))),
        _ => Err(refused(format!(
            "flera planer börjar på {s}: skriv fler siffror"
        ))),
    }
}

fn audit(
    node: &dyn CareNode,
    action: AuditAction,
    login: Option<String>,
    patient: Option<PatientId>,
    event: Option<EventId>,
    detail: &str,
) -> Result<(), ApiError> {
    node.store().append_audit(&AuditEntry {
        at_ms: now_ms(),
        node: node.node_key().id(),
        unit: Some(node.unit_key().unit().clone()),
        user: login,
        action,
        patient,
        event,
        detail: detail.chars().take(500).collect(),
    })?;
    Ok(())
}

/// Writes `events` after their audit entry (Patientdatalagen: no write unlogged). If the
/// entry cannot be written, nothing is written, so a retry cannot send a document twice; if
/// the write then fails, a second entry says so.
fn audited_write(
    node: &dyn CareNode,
    login: Option<String>,
    patient: Option<PatientId>,
    id: EventId,
    detail: &str,
    events: Vec<SignedEvent>,
) -> Result<(), ApiError> {
    audit(
        node,
        AuditAction::Write,
        login.clone(),
        patient.clone(),
        Some(id),
        detail,
    )?;
    if let Err(e) = node.write(events) {
        let outcome = format!("{detail}: skrevs inte ({e})");
        if let Err(a) = audit(node, AuditAction::Write, login, patient, Some(id), &outcome) {
            tracing::warn!(error = %a, "could not log that a write failed");
        }
        return Err(e);
    }
    Ok(())
}

fn check_person(p: &Person) -> Result<(), ApiError> {
    if p.name.trim().is_empty() {
        return Err(refused(
            "ange vem du är med --author \"Förnamn Efternamn\" (eller RESERVNOD_AUTHOR)",
        ));
    }
    Ok(())
}

/// The units among `units` other than `own` that the roster still has, each once, in order.
fn other_units<'a>(
    roster: &Roster,
    own: &HsaId,
    units: impl IntoIterator<Item = &'a HsaId>,
) -> Vec<HsaId> {
    let mut out: Vec<HsaId> = Vec::new();
    for u in units {
        if u != own && roster.unit(u).is_some() && !out.contains(u) {
            out.push(u.clone());
        }
    }
    out
}

/// Resolves typed recipient units against the roster; an unknown unit is refused.
fn recipients(roster: &Roster, own: &HsaId, typed: &[String]) -> Result<Vec<HsaId>, ApiError> {
    let mut out = Vec::new();
    for t in typed {
        let id = HsaId::parse(t).map_err(|e| {
            refused(format!(
                "ogiltigt HSA-id '{}': {}",
                t.trim(),
                e.message_sv()
            ))
        })?;
        if roster.unit(&id).is_none() {
            return Err(refused(format!(
                "enheten {id} finns inte i registret (se `reservnod directory`)"
            )));
        }
        if &id == own {
            return Err(refused(format!("{id} är den egna enheten")));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The document links of a new clinical event.
enum Links {
    /// Not a document version.
    None,
    /// The first version of a new document (its id is derived from this node and time).
    First,
    /// A later version.
    Version(DocRef),
}

/// Builds the header of a clinical event from this node, seals the payload for it and signs
/// it; returns the event and its document links.
fn clinical_event(
    node: &dyn CareNode,
    roster: &Roster,
    to: &[HsaId],
    login: Option<String>,
    urgent: bool,
    links: Links,
    payload: &ClinicalPayload,
) -> Result<(SignedEvent, Option<DocRef>), ApiError> {
    let own = node.unit_key().unit().clone();
    let own_key = node.unit_key().public();
    let plain = zeroize::Zeroizing::new(
        payload
            .encode()
            .map_err(|e| refused(format!("dokumentet är ogiltigt: {e}")))?,
    );
    let author = node.node_key().id();
    let hlc = node.tick();
    let doc = match links {
        Links::None => None,
        Links::First => Some(DocRef::first(&author, hlc)),
        Links::Version(d) => Some(d),
    };
    let header = Header {
        format: EVENT_FORMAT,
        author,
        unit: own.clone(),
        user: login,
        hlc,
        class: EventClass::Clinical,
        priority: if urgent {
            Priority::Urgent
        } else {
            Priority::Normal
        },
        recipients: to.to_vec(),
        doc: doc.clone(),
    };
    let event = header
        .seal(&mut OsRng, &plain, |u| {
            if u == &own {
                Some(own_key)
            } else {
                roster.unit(u).map(|x| x.encryption_key)
            }
        })
        .map_err(|e| match e {
            SealError::UnknownUnit(u) => refused(format!("enheten {u} finns inte i registret")),
            e => refused(format!("kunde inte försegla: {e}")),
        })?;
    let signed = event
        .sign(node.node_key())
        .map_err(|e| refused(format!("händelsen kunde inte skrivas: {e}")))?;
    Ok((signed, doc))
}

fn send(node: &dyn CareNode, mut r: SendRequest) -> Result<Sent, ApiError> {
    check_person(&r.person)?;
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let mut patient = r.patient.as_deref().map(parse_patient).transpose()?;
    let mut reply_units = Vec::new();
    // The episode a reply or plan note belongs to: its question's or its plan's.
    let mut inherited_episode: Option<Option<EpisodeId>> = None;
    if let Some(original) = &r.reply_to {
        let Document::Message { reply_to, .. } = &mut r.document else {
            return Err(refused("bara ett meddelande kan vara ett svar"));
        };
        let view = node.view();
        let o = find_event(&view, original)?;
        *reply_to = Some(o.id);
        if patient.is_none() || patient == o.payload.patient {
            patient = o.payload.patient.clone();
            inherited_episode = Some(o.payload.episode);
        }
        reply_units = if o.unit != own {
            vec![o.unit.clone()]
        } else {
            other_units(&roster, &own, &o.recipients)
        };
    }
    // A note belongs to its plan's patient and episode, whatever was typed.
    if let Document::PlanNote { plan, .. } = &r.document {
        let view = node.view();
        let Some(first) = view.plan_versions(plan).first().map(|o| o.payload.clone()) else {
            return Err(refused(format!("planen {plan} finns inte här")));
        };
        if patient.is_some() && patient != first.patient {
            return Err(refused(
                "anteckningen gäller en annan patient än planen (utelämna --patient)",
            ));
        }
        patient = first.patient;
        inherited_episode = Some(first.episode);
    }
    let standalone = matches!(r.document, Document::Message { .. });
    if patient.is_none() && !standalone {
        return Err(refused(format!(
            "ett {} måste gälla en patient (--patient)",
            r.document.name_sv()
        )));
    }
    // Phrase templates open a message's text.
    let mut phrase_texts = Vec::new();
    for key in &r.phrases {
        let p = roster
            .phrases
            .iter()
            .find(|p| &p.key == key)
            .ok_or_else(|| refused(format!("frastexten '{key}' finns inte i registret")))?;
        phrase_texts.push(p.text.clone());
    }
    if let Document::Message { text, .. } = &mut r.document {
        if !phrase_texts.is_empty() {
            phrase_texts.push(std::mem::take(text));
            *text = phrase_texts
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n\n");
        }
        if text.trim().is_empty() {
            return Err(refused("meddelandet saknar text (--text eller --phrase)"));
        }
    }
    let explicit = recipients(&roster, &own, &r.to)?;
    let (to, suggested, episode) = {
        let view = node.view();
        let episode = match (&patient, &r.episode) {
            (Some(_), None) if inherited_episode.is_some() => inherited_episode.flatten(),
            (None, None) => None,
            (None, Some(_)) => return Err(refused("en episod kräver en patient")),
            (Some(_), Some(e)) => Some(EpisodeId(parse_hex::<16>(e, "episod-id")?)),
            (Some(_), None) if matches!(r.document, Document::AdmissionNotice { .. }) => {
                let mut b = [0u8; 16];
                rand_core::RngCore::fill_bytes(&mut OsRng, &mut b);
                Some(EpisodeId(b))
            }
            (Some(p), None) => match view.episodes(p).first() {
                Some(e) => Some(*e),
                None if standalone => None,
                None => {
                    return Err(refused(format!(
                        "patienten {} har inget vårdtillfälle här: skicka ett inskrivningsmeddelande först, eller ange --episode",
                        p.canonical()
                    )))
                }
            },
        };
        let (to, suggested) = if !explicit.is_empty() {
            (explicit, false)
        } else if !reply_units.is_empty() {
            (reply_units, true)
        } else {
            (
                suggest(&roster, &view, &own, &r.document, patient.as_ref(), episode)?,
                true,
            )
        };
        (to, suggested, episode)
    };
    let payload = ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: patient.clone(),
        episode,
        written_at_ms: now_ms(),
        author: r.person.name.trim().to_string(),
        role: r.person.role.trim().to_string(),
        consent: r.consent,
        receipt_required: r.receipt_required,
        phrases: r.phrases,
        document: r.document,
    };
    let kind = payload.document.name_sv().to_string();
    let links = match payload.document {
        Document::Plan { .. } => Links::First,
        _ => Links::None,
    };
    let (event, doc) = clinical_event(
        node,
        &roster,
        &to,
        r.person.login.clone(),
        r.urgent,
        links,
        &payload,
    )?;
    let id = event.id();
    audited_write(
        node,
        r.person.login,
        patient.clone(),
        id,
        &format!("skickade {kind}"),
        vec![event],
    )?;
    Ok(Sent {
        event: id.to_string(),
        kind,
        to: to.iter().map(|u| unit_ref(&roster, u)).collect(),
        suggested,
        episode: episode.map(|e| e.to_string()),
        plan: doc.map(|d| d.doc.to_string()),
    })
}

/// The recipients the roster suggests: for an admission notice the municipal unit of the
/// patient's municipality (what Prator took from the population register); later documents
/// go where the episode's documents from this unit went, or came from.
fn suggest(
    roster: &Roster,
    view: &CareView,
    own: &HsaId,
    document: &Document,
    patient: Option<&PatientId>,
    episode: Option<EpisodeId>,
) -> Result<Vec<HsaId>, ApiError> {
    if let Document::AdmissionNotice { municipality, .. } = document {
        let Some(m) = municipality else {
            return Err(refused(
                "ange mottagare med --to, eller patientens kommun med --municipality så föreslås den kommunala enheten",
            ));
        };
        return match roster.route(m) {
            Some(u) => Ok(vec![u.id.clone()]),
            None => Err(refused(format!(
                "registret har ingen mottagande enhet för kommun {m}: ange mottagare med --to"
            ))),
        };
    }
    if let Document::PlanNote { plan, .. } = document {
        let versions = view.plan_versions(plan);
        let units = other_units(
            roster,
            own,
            versions
                .iter()
                .flat_map(|v| v.recipients.iter().chain(std::iter::once(&v.unit))),
        );
        if !units.is_empty() {
            return Ok(units);
        }
    }
    if let (Some(p), Some(ep)) = (patient, episode) {
        let events = view.patient(p);
        // What this unit sent went to its recipients; what it received came from its author.
        let units = other_units(
            roster,
            own,
            events
                .iter()
                .filter(|o| o.payload.episode == Some(ep))
                .flat_map(|o| {
                    if &o.unit == own {
                        o.recipients.iter().collect::<Vec<_>>()
                    } else {
                        vec![&o.unit]
                    }
                }),
        );
        if !units.is_empty() {
            return Ok(units);
        }
    }
    Err(refused(
        "ange mottagare med --to (HSA-id; se `reservnod directory`)",
    ))
}

fn state_of(
    receipts: &[Receipt],
    roster: &Roster,
    o: &Opened,
    marks: &[crate::store::EscalationMark],
) -> Vec<RecipientState> {
    o.recipients
        .iter()
        .map(|u| {
            let state = receipt_state(&o.id, u, receipts);
            let escalated_ms = marks
                .iter()
                .find(|m| m.event == o.id && &m.unit == u)
                .map(|m| m.at_ms);
            let (name, delivered_ms, read_ms, read_by) = match state {
                ReceiptState::Waiting => ("väntar", None, None, None),
                ReceiptState::Delivered { at_ms } => ("levererad", Some(at_ms), None, None),
                ReceiptState::Read {
                    delivered_ms,
                    at_ms,
                    by,
                } => ("läst", delivered_ms, Some(at_ms), Some(by)),
            };
            RecipientState {
                unit: unit_ref(roster, u),
                state: name.into(),
                delivered_ms,
                read_ms,
                read_by,
                escalated_ms,
            }
        })
        .collect()
}

fn item(
    node: &dyn CareNode,
    roster: &Roster,
    o: &Opened,
    marks: &[crate::store::EscalationMark],
) -> Result<Item, ApiError> {
    let own = node.unit_key().unit();
    let addressed = o.recipients.contains(own);
    let sent = &o.unit == own;
    let receipts = if addressed || sent {
        node.store().receipts_for(&o.id)?
    } else {
        Vec::new()
    };
    let (read_by, read_ms) = match receipt_state(&o.id, own, &receipts) {
        ReceiptState::Read { by, at_ms, .. } if addressed => (Some(by), Some(at_ms)),
        _ => (None, None),
    };
    let recipients = if sent {
        state_of(&receipts, roster, o, marks)
    } else {
        Vec::new()
    };
    Ok(Item {
        event: o.id.to_string(),
        kind: o.payload.document.name_sv().into(),
        title: o.payload.document.title_sv(),
        patient: o
            .payload
            .patient
            .as_ref()
            .map(|p| p.canonical().to_string()),
        from: unit_ref(roster, &o.unit),
        author: o.payload.author.clone(),
        at_ms: o.hlc.wall_ms,
        at: format_ms_local(o.hlc.wall_ms),
        urgent: o.priority == Priority::Urgent,
        read_by,
        read_ms,
        recipients,
        receipt_required: o.payload.receipt_required,
        plan: o.doc.as_ref().map(|d| d.doc.to_string()),
    })
}

fn inbox(node: &dyn CareNode, login: Option<String>) -> Result<Inbox, ApiError> {
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let marks = node.store().escalations()?;
    let (mut incoming, mut sent, unreadable) = {
        let view = node.view();
        let mut incoming = Vec::new();
        let mut sent = Vec::new();
        for o in view.all() {
            if o.unit == own {
                sent.push(item(node, &roster, o, &marks)?);
            } else if o.recipients.contains(&own) {
                incoming.push(item(node, &roster, o, &marks)?);
            }
        }
        // Events left sealed beyond their unit's quota were not opened either.
        (incoming, sent, view.unreadable + view.over_quota)
    };
    incoming.sort_by(|a, b| {
        (
            a.read_ms.is_some(),
            !a.urgent,
            std::cmp::Reverse(a.at_ms),
            &a.event,
        )
            .cmp(&(
                b.read_ms.is_some(),
                !b.urgent,
                std::cmp::Reverse(b.at_ms),
                &b.event,
            ))
    });
    sent.sort_by(|a, b| {
        (std::cmp::Reverse(a.at_ms), &a.event).cmp(&(std::cmp::Reverse(b.at_ms), &b.event))
    });
    audit(node, AuditAction::Read, login, None, None, "inkorgen visad")?;
    Ok(Inbox {
        unit: unit_ref(&roster, &own),
        incoming,
        sent,
        unreadable,
    })
}

fn show(node: &dyn CareNode, event: &str, login: Option<String>) -> Result<Shown, ApiError> {
    let roster = node.roster();
    let marks = node.store().escalations()?;
    let (shown, patient, id) = {
        let view = node.view();
        let o = match find_event(&view, event) {
            Ok(o) => o,
            Err(not_here) => return Err(sealed_elsewhere(node.store(), event)?.unwrap_or(not_here)),
        };
        let shown = Shown {
            item: item(node, &roster, o, &marks)?,
            role: o.payload.role.clone(),
            episode: o.payload.episode.map(|e| e.to_string()),
            consent: o.payload.consent.clone(),
            phrases: o.payload.phrases.clone(),
            document: o.payload.document.clone(),
            to: o.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
            thread: thread(node, &roster, &view, o, &marks)?,
        };
        (shown, o.payload.patient.clone(), o.id)
    };
    audit(
        node,
        AuditAction::Read,
        login,
        patient,
        Some(id),
        "händelse visad",
    )?;
    Ok(shown)
}

/// The messages of `o`'s thread other than `o`: from its first message on, every answer.
fn thread(
    node: &dyn CareNode,
    roster: &Roster,
    view: &CareView,
    o: &Opened,
    marks: &[crate::store::EscalationMark],
) -> Result<Vec<Item>, ApiError> {
    let parent = |x: &Opened| match &x.payload.document {
        Document::Message { reply_to, .. } => *reply_to,
        _ => None,
    };
    // Up to the first message (bounded: a thread longer than this is shown from there).
    let mut root = o.id;
    for _ in 0..1000 {
        match view.get(&root).and_then(parent) {
            Some(p) if view.get(&p).is_some() => root = p,
            _ => break,
        }
    }
    let mut answers: std::collections::HashMap<EventId, Vec<EventId>> = Default::default();
    for x in view.all() {
        if let Some(p) = parent(x) {
            answers.entry(p).or_default().push(x.id);
        }
    }
    // Ids are hashes of what names its parent, so the answers form a tree: no id twice.
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() && members.len() < 1000 {
        members.extend(answers.get(&members[i]).into_iter().flatten().copied());
        i += 1;
    }
    let mut items = Vec::new();
    for id in members.iter().filter(|id| **id != o.id) {
        if let Some(x) = view.get(id) {
            items.push(item(node, roster, x, marks)?);
        }
    }
    items.sort_by(|a, b| (a.at_ms, &a.event).cmp(&(b.at_ms, &b.event)));
    Ok(items)
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

fn plan_view(roster: &Roster, view: &CareView, doc: &DocId) -> PlanView {
    let versions = view.plan_versions(doc);
    let state = view.plan_state(doc);
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
    let kind = versions
        .first()
        .map(|o| o.payload.document.name_sv().to_string())
        .unwrap_or_default();
    PlanView {
        doc: doc.to_string(),
        kind,
        patient: versions.first().and_then(|o| {
            o.payload
                .patient
                .as_ref()
                .map(|p| p.canonical().to_string())
        }),
        conflict: state.in_conflict(),
        heads,
        versions: versions.len(),
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
        notes: view
            .plan_notes(doc)
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
    }
}

fn chain(node: &dyn CareNode, patient: &str, login: Option<String>) -> Result<ChainView, ApiError> {
    let patient = parse_patient(patient)?;
    let roster = node.roster();
    let marks = node.store().escalations()?;
    let now = now_ms();
    let offset = swedish_offset_min(now);
    let days = node.payment_days();
    let result = {
        let view = node.view();
        let events = view.patient(&patient);
        if events.is_empty() {
            return Err(refused(format!(
                "inget om {} finns här (eller inget som enheten får läsa)",
                patient.canonical()
            )));
        }
        let entries: Vec<_> = events.iter().map(|o| o.chain_entry()).collect();
        let mut episodes = Vec::new();
        for ep in view.episodes(&patient) {
            let c = CareChain::build(&patient, ep, &entries);
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
                    .plans_of(&patient, ep)
                    .iter()
                    .map(|d| plan_view(&roster, &view, d))
                    .collect(),
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
    audit(
        node,
        AuditAction::Read,
        login,
        Some(patient),
        None,
        "vårdkedjan visad",
    )?;
    Ok(result)
}

fn ack(node: &dyn CareNode, event: &str, person: Person) -> Result<Acked, ApiError> {
    check_person(&person)?;
    let own = node.unit_key().unit().clone();
    let (id, author_unit, priority, patient) = {
        let view = node.view();
        let o = find_event(&view, event)?;
        if !o.recipients.contains(&own) {
            return Err(refused(format!(
                "händelsen {} är inte skickad till den här enheten",
                o.id.short()
            )));
        }
        (o.id, o.unit.clone(), o.priority, o.payload.patient.clone())
    };
    // The check and the write are one step on this node: two people acknowledging at once
    // write one Read (the second is told of the first).
    static ACKS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = ACKS.lock().unwrap_or_else(|p| p.into_inner());
    let receipts = node.store().receipts_for(&id)?;
    if let ReceiptState::Read { by, at_ms, .. } = receipt_state(&id, &own, &receipts) {
        return Ok(Acked {
            event: id.to_string(),
            already: true,
            by,
            at_ms,
        });
    }
    let at_ms = now_ms();
    let receipt = Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Read,
        event: id,
        unit: own.clone(),
        by: Some(person.name.trim().to_string()),
        at_ms,
    };
    let signed = super::delivered::receipt_event(
        node.node_key(),
        &receipt,
        priority,
        &author_unit,
        person.login.clone(),
        node.tick(),
    )
    .map_err(|e| refused(format!("kvittensen kunde inte skrivas: {e}")))?;
    audited_write(node, person.login, patient, id, "kvitterad", vec![signed])?;
    Ok(Acked {
        event: id.to_string(),
        already: false,
        by: person.name.trim().to_string(),
        at_ms,
    })
}

fn plan(node: &dyn CareNode, doc: &str, login: Option<String>) -> Result<PlanView, ApiError> {
    let roster = node.roster();
    let (pv, patient) = {
        let view = node.view();
        let d = find_plan(&view, doc)?;
        let pv = plan_view(&roster, &view, &d);
        let patient = view
            .plan_versions(&d)
            .first()
            .and_then(|o| o.payload.patient.clone());
        (pv, patient)
    };
    audit(node, AuditAction::Read, login, patient, None, "plan visad")?;
    Ok(pv)
}

/// Plan edits in this process one at a time: two edits reading the same head at once would
/// make this node conflict with itself.
static PLAN_EDITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn plan_edit(node: &dyn CareNode, r: PlanEditRequest) -> Result<Sent, ApiError> {
    check_person(&r.person)?;
    let _one_at_a_time = PLAN_EDITS.lock().unwrap_or_else(|p| p.into_inner());
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let (doc, parents, base, to) = {
        let view = node.view();
        let doc = find_plan(&view, &r.doc)?;
        let state = view.plan_state(&doc);
        if state.heads.is_empty() {
            return Err(refused(format!("planen {doc} har ingen version här")));
        }
        if state.in_conflict() && !r.resolve {
            return Err(refused(format!(
                "planen har {} versioner som skrivits samtidigt (konflikt): visa dem med `reservnod plan show {}` och lös konflikten med `reservnod plan resolve`",
                state.heads.len(),
                doc.to_string().get(..12).unwrap_or_default()
            )));
        }
        if !state.in_conflict() && r.resolve {
            return Err(refused(
                "planen har ingen konflikt att lösa: använd `reservnod plan edit`",
            ));
        }
        let base_id = match &r.base {
            Some(b) => {
                let o = find_event(&view, b)?;
                if !state.heads.contains(&o.id) {
                    return Err(refused(format!(
                        "{} är inte en av planens aktuella versioner",
                        o.id.short()
                    )));
                }
                o.id
            }
            None if state.heads.len() == 1 => state.heads[0],
            None => {
                return Err(refused(
                    "ange med --base vilken av versionerna den nya texten utgår från",
                ))
            }
        };
        let base = view
            .get(&base_id)
            .ok_or_else(|| refused("versionen finns inte här"))?
            .clone();
        let to = other_units(
            &roster,
            &own,
            state
                .heads
                .iter()
                .filter_map(|h| view.get(h))
                .flat_map(|o| o.recipients.iter().chain(std::iter::once(&o.unit))),
        );
        (doc, state.heads, base, to)
    };
    let Document::Plan { kind, content } = &base.payload.document else {
        return Err(refused("versionen är ingen plan"));
    };
    let mut content = content.clone();
    let p = r.patch;
    if let Some(g) = p.goals {
        content.goals = g;
    }
    if let Some(m) = p.measures {
        content.measures = m;
    }
    if let Some(f) = p.follow_up {
        content.follow_up = Some(f).filter(|f| !f.trim().is_empty());
    }
    if let Some(ps) = p.participants {
        content.participants = ps;
    }
    if let Some(v) = p.patient_view {
        content.patient_view = v;
    }
    let kind: PlanKind = *kind;
    let payload = ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: base.payload.patient.clone(),
        episode: base.payload.episode,
        written_at_ms: now_ms(),
        author: r.person.name.trim().to_string(),
        role: r.person.role.trim().to_string(),
        consent: base.payload.consent.clone(),
        receipt_required: base.payload.receipt_required,
        phrases: vec![],
        document: Document::Plan { kind, content },
    };
    let (event, _) = clinical_event(
        node,
        &roster,
        &to,
        r.person.login.clone(),
        r.urgent,
        Links::Version(DocRef { doc, parents }),
        &payload,
    )?;
    let id = event.id();
    let what = if r.resolve {
        "löste konflikt i plan"
    } else {
        "ny version av plan"
    };
    audited_write(
        node,
        r.person.login,
        base.payload.patient.clone(),
        id,
        what,
        vec![event],
    )?;
    Ok(Sent {
        event: id.to_string(),
        kind: payload.document.name_sv().into(),
        to: to.iter().map(|u| unit_ref(&roster, u)).collect(),
        suggested: true,
        episode: payload.episode.map(|e| e.to_string()),
        plan: Some(doc.to_string()),
    })
}

fn directory(node: &dyn CareNode) -> Directory {
    let roster = node.roster();
    Directory {
        unit: unit_ref(&roster, node.unit_key().unit()),
        units: roster
            .units
            .iter()
            .map(|u| {
                (
                    u.id.to_string(),
                    u.name.clone(),
                    u.kind.name_sv().to_string(),
                    u.municipality.to_string(),
                )
            })
            .collect(),
        routing: roster
            .routing
            .iter()
            .map(|r| (r.municipality.to_string(), r.unit.to_string()))
            .collect(),
        phrases: roster.phrases.clone(),
        escalation_minutes: (
            roster.escalation.urgent_unread_minutes,
            roster.escalation.normal_unread_minutes,
        ),
    }
}

fn escalations(node: &dyn CareNode) -> Result<Escalations, ApiError> {
    let roster = node.roster();
    let mut escalations: Vec<Escalated> = node
        .store()
        .escalations()?
        .into_iter()
        .map(|m| Escalated {
            event: m.event.to_string(),
            unit: unit_ref(&roster, &m.unit),
            at_ms: m.at_ms,
            command_ran: m.hook_done,
        })
        .collect();
    escalations.sort_by_key(|e| (e.at_ms, e.event.clone()));
    Ok(Escalations { escalations })
}
