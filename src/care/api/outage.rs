//! `outage declare | end | show` and `reentry list | mark | signoff`: the backup routine's
//! beginning and end (issue 13 §1) and each unit's re-entry into LINK after it (§2), and
//! the gate that keeps the backup system from becoming a second record system once an
//! outage is over ([`may_write`]).
//!
//! A declaration and an end are `Control` events with a plain body (a reason, a note, who;
//! never patient data) addressed to the units in the outage's scope, urgent so they travel
//! first; marks and sign-offs are `Control` events sealed to the author's unit alone, so
//! they reach the unit's other nodes and nobody else (see [`reservnod_proto::outage`]).
//! Which outage a clinical event belongs to is [`reservnod_proto::outage::attach`]: by its
//! hybrid time, so an event a cut-off node wrote joins the outage once the declaration
//! arrives there.

use std::collections::HashMap;

use reservnod_proto::care::documents::Document;
use reservnod_proto::event::{EventClass, Header, EVENT_FORMAT};
use reservnod_proto::limits::RECIPIENTS_MAX;
use reservnod_proto::outage::{
    attach, standing, Control, ControlPayload, Mark, Outage, Placement, Standing, CONTROL_FORMAT,
};
use reservnod_proto::{EventId, HsaId, PatientId, Priority, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, audited_write, find_event, unit_ref, NodeRng};
use super::input;
use super::types::{refused, ApiError, CareNode, UnitRef};
use crate::care::view::{CareView, MarkHeld, Opened, PurgedHeld};
use crate::clock::format_ms_local;
use crate::store::AuditAction;

/// Declare an outage (a unit admin).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageDeclareRequest {
    /// Why (required): what is down, as staff would say it.
    pub reason: String,
    /// The units it concerns, as typed (HSA-ids); none: every unit of the roster.
    #[serde(default)]
    pub scope: Vec<String>,
}

/// Mark one re-entry item.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReentryMarkRequest {
    /// The clinical event (hex, or a unique prefix).
    pub item: String,
    /// `inregistrerat` (entered into LINK) or `behovs-inte` (not needed).
    pub state: String,
    /// LINK's reference, for `inregistrerat` (optional).
    #[serde(default)]
    pub link_ref: String,
    /// Why not, for `behovs-inte` (required then).
    #[serde(default)]
    pub reason: String,
}

/// An outage's end, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageEnd {
    /// Who ended it.
    pub by: String,
    /// Their unit.
    pub unit: UnitRef,
    /// The note.
    pub note: String,
    /// When (the ending node's wall clock, ms since the epoch).
    pub at_ms: u64,
    /// Local time.
    pub at: String,
}

/// A unit's re-entry progress for one outage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Items with at least one mark.
    pub done: usize,
    /// Items with none.
    pub left: usize,
    /// A unit admin signed off what is left.
    pub signed_off: bool,
    /// Closed for the unit: nothing left, or signed off.
    pub closed: bool,
    /// Items whose body was purged here under a purge decision (counted in neither `done`
    /// nor `left`: the list was closed when they were purged; PROTOCOL.md §5.7).
    #[serde(default)]
    pub purged: usize,
}

/// One outage, as shown (no patient data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageRow {
    /// The declaration's event id (hex): the outage's id.
    pub id: String,
    /// The declaring unit.
    pub unit: UnitRef,
    /// Who declared it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The units it concerns.
    pub scope: Vec<UnitRef>,
    /// When it was declared (ms since the epoch).
    pub declared_ms: u64,
    /// Local time.
    pub declared_at: String,
    /// Its end, once held.
    pub ended: Option<OutageEnd>,
    /// This unit's re-entry of it.
    pub reentry: Progress,
}

/// Where the outages stand at this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageView {
    /// `ingen` (none declared), `utlyst` (in force) or `avslutad` (ended).
    pub state: String,
    /// The banner every page shows, one line.
    pub banner: String,
    /// Every outage held, oldest first.
    pub outages: Vec<OutageRow>,
}

/// What the banner says and how it looks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageBanner {
    /// `ingen`, `utlyst` or `avslutad`.
    pub state: String,
    /// One line in Swedish.
    pub text: String,
}

/// A mark on a re-entry item, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRow {
    /// The mark's event (hex).
    pub event: String,
    /// `inregistrerat i LINK` or `behövs inte`.
    pub state: String,
    /// LINK's reference (entered) or the reason (not needed).
    pub detail: String,
    /// Who marked it.
    pub by: String,
    /// Their login.
    pub login: Option<String>,
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// Local time.
    pub at: String,
}

/// One item of a unit's re-entry list: a clinical event of the outage it sent or received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReentryItem {
    /// The event (hex).
    pub event: String,
    /// Document kind, Swedish.
    pub kind: String,
    /// One line.
    pub title: String,
    /// `skickat` (this unit wrote it) or `mottaget`.
    pub direction: String,
    /// The author unit.
    pub from: UnitRef,
    /// The units it went to.
    pub to: Vec<UnitRef>,
    /// Who wrote it.
    pub author: String,
    /// When what it records happened (the document's own time; else when it was written).
    pub occurred_ms: u64,
    /// Local time.
    pub occurred: String,
    /// When it was written (the author's wall clock).
    pub written_ms: u64,
    /// Local time.
    pub written: String,
    /// Written before the declaration, during the outage, or after its end.
    pub placement: String,
    /// Every mark made on it, oldest first (two made apart are both here).
    pub marks: Vec<MarkRow>,
}

/// A patient's items, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientItems {
    /// The patient (canonical form), or empty for messages about no patient.
    pub patient: String,
    /// The items.
    pub items: Vec<ReentryItem>,
}

/// A sign-off, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOffRow {
    /// Who.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: String,
}

/// A unit's re-entry list for one outage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReentryList {
    /// The outage.
    pub outage: OutageRow,
    /// The unit.
    pub unit: UnitRef,
    /// By patient (in order of their first item).
    pub patients: Vec<PatientItems>,
    /// The unit admins' sign-offs of what is left.
    pub signoffs: Vec<SignOffRow>,
    /// The outage's items whose body was purged here, oldest first: their headers only
    /// (the patient was in the body), each "gallrad enligt <reference>".
    #[serde(default)]
    pub purged: Vec<PurgedItem>,
}

/// A re-entry item whose body was purged: what its header says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedItem {
    /// The event (hex).
    pub event: String,
    /// `skickat` or `mottaget`.
    pub direction: String,
    /// The author unit.
    pub from: UnitRef,
    /// The units it went to.
    pub to: Vec<UnitRef>,
    /// When it was written (its timestamp's wall time, ms since the epoch).
    pub written_ms: u64,
    /// Local time.
    pub written: String,
    /// `gallrad enligt <reference>`.
    pub state: String,
    /// When it was purged here, local time.
    pub purged_at: String,
}

/// A mark made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReentryMarked {
    /// The item.
    pub item: String,
    /// The outage (hex).
    pub outage: String,
    /// Its marks now, this one last.
    pub marks: Vec<MarkRow>,
    /// The unit's progress now.
    pub progress: Progress,
}

const ENDED: &str = "driftstörningen är avslutad: nya journalhandlingar skrivs i LINK. Här tas bara kvittenser, svar på meddelanden, efterregistrering och export emot tills en ny driftstörning utlyses";

/// Whether this node takes a new clinical document now: not once every outage it holds is
/// over (until a new one is declared), except an answer to a message (`reply_to`, as
/// typed) of an outage. Receipts, marks and exports never come here. With no outage held
/// it writes (staff are never blocked by a missing declaration; the banner warns).
pub(super) fn may_write(node: &dyn CareNode, reply_to: Option<&str>) -> Result<(), ApiError> {
    let view = node.view();
    let outages = view.outages();
    let Standing::Ended(i) = standing(&outages) else {
        return Ok(());
    };
    if let Some(typed) = input::given(reply_to) {
        if let Ok(o) = find_event(&view, typed) {
            // A message of the outage itself, not one written after its end (else a thread
            // could go on past the end without bound, a reply answering a reply).
            if matches!(o.payload.document, Document::Message { .. })
                && matches!(
                    attach(&outages, o.hlc),
                    Some((_, Placement::BeforeDeclaration | Placement::During))
                )
            {
                return Ok(());
            }
        }
    }
    let end = outages[i]
        .ended
        .as_ref()
        .map(|e| e.written_at_ms)
        .unwrap_or(0);
    Err(refused(format!(
        "{ENDED} (avslutad {})",
        format_ms_local(end)
    )))
}

/// The banner: what every page shows (no patient data, so no access-log entry).
pub fn outage_banner(node: &dyn CareNode) -> OutageBanner {
    let view = node.view();
    let outages = view.outages();
    banner(&node.roster(), &outages)
}

/// Whether an outage is in force at this node (declared and not ended): the paper
/// fallback's condition.
pub fn outage_in_force(node: &dyn CareNode) -> bool {
    let view = node.view();
    matches!(standing(&view.outages()), Standing::InForce(_))
}

fn banner(roster: &Roster, outages: &[Outage]) -> OutageBanner {
    match standing(outages) {
        Standing::NoneDeclared => OutageBanner {
            state: "ingen".into(),
            text: "Ingen driftstörning är utlyst. Det som skrivs här kopplas till driftstörningen när den utlyses: be enhetens administratör utlysa den (Driftstörning).".into(),
        },
        Standing::InForce(i) => {
            let d = &outages[i].declared;
            OutageBanner {
                state: "utlyst".into(),
                text: format!(
                    "Driftstörning utlyst {} av {} ({}): {}. Skriv här tills den avslutas.",
                    format_ms_local(d.written_at_ms),
                    d.by,
                    unit_ref(roster, &d.unit).name,
                    d.reason
                ),
            }
        }
        Standing::Ended(i) => {
            let at = outages[i]
                .ended
                .as_ref()
                .map(|e| format_ms_local(e.written_at_ms))
                .unwrap_or_default();
            OutageBanner {
                state: "avslutad".into(),
                text: format!(
                    "Driftstörningen är avslutad ({at}). Nya journalhandlingar skrivs i LINK; här efterregistreras det som skrevs under driftstörningen (Efterregistrering)."
                ),
            }
        }
    }
}

/// The line `reservnod status` shows while the daemon runs: the state, when, and the
/// re-entry progress. No free text (the reason and who declared it stay in the UI): the
/// status file is readable by every local account.
pub fn outage_status_line(node: &dyn CareNode) -> String {
    let view = node.view();
    let outages = view.outages();
    let text = match standing(&outages) {
        Standing::NoneDeclared => "Ingen driftstörning är utlyst.".to_string(),
        Standing::InForce(i) => format!(
            "Driftstörning utlyst {}.",
            format_ms_local(outages[i].declared.written_at_ms)
        ),
        Standing::Ended(i) => format!(
            "Driftstörningen är avslutad ({}).",
            outages[i]
                .ended
                .as_ref()
                .map(|e| format_ms_local(e.written_at_ms))
                .unwrap_or_default()
        ),
    };
    match outages.len().checked_sub(1) {
        None => text,
        Some(last) => {
            let p = progress(&view, &outages, last);
            format!(
                "{text} Efterregistrering: {} klara, {} kvar{}{}.",
                p.done,
                p.left,
                if p.closed { " (stängd)" } else { "" },
                if p.purged > 0 {
                    format!(", {} gallrade", p.purged)
                } else {
                    String::new()
                }
            )
        }
    }
}

/// Where the outages stand, each with this unit's re-entry progress.
pub(super) fn show(node: &dyn CareNode) -> OutageView {
    let view = node.view();
    let roster = node.roster();
    let outages = view.outages();
    let b = banner(&roster, &outages);
    OutageView {
        state: b.state,
        banner: b.text,
        outages: (0..outages.len())
            .map(|i| row(&roster, &view, &outages, i))
            .collect(),
    }
}

fn row(roster: &Roster, view: &CareView, outages: &[Outage], i: usize) -> OutageRow {
    let o = &outages[i];
    let d = &o.declared;
    OutageRow {
        id: d.id.to_string(),
        unit: unit_ref(roster, &d.unit),
        by: d.by.clone(),
        reason: d.reason.clone(),
        scope: d.scope.iter().map(|u| unit_ref(roster, u)).collect(),
        declared_ms: d.written_at_ms,
        declared_at: format_ms_local(d.written_at_ms),
        ended: o.ended.as_ref().map(|e| OutageEnd {
            by: e.by.clone(),
            unit: unit_ref(roster, &e.unit),
            note: e.note.clone(),
            at_ms: e.written_at_ms,
            at: format_ms_local(e.written_at_ms),
        }),
        reentry: progress(view, outages, i),
    }
}

/// The clinical events of outage `i` this unit sent or received, oldest first.
fn items_of<'a>(view: &'a CareView, outages: &[Outage], i: usize) -> Vec<(&'a Opened, Placement)> {
    let mut out: Vec<(&Opened, Placement)> = view
        .all()
        // An imported snapshot came from LINK: nothing to enter there again.
        .filter(|o| !matches!(o.payload.document, Document::Snapshot(_)))
        .filter_map(|o| match attach(outages, o.hlc) {
            Some((j, p)) if j == i => Some((o, p)),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(o, _)| (o.hlc, o.id));
    out
}

fn progress(view: &CareView, outages: &[Outage], i: usize) -> Progress {
    let marked: std::collections::HashSet<EventId> =
        view.reentry_marks().iter().map(|m| m.item).collect();
    let items = items_of(view, outages, i);
    let done = items.iter().filter(|(o, _)| marked.contains(&o.id)).count();
    let left = items.len() - done;
    let signed_off = !view.reentry_signoffs(&outages[i].declared.id).is_empty();
    Progress {
        done,
        left,
        signed_off,
        closed: left == 0 || signed_off,
        purged: purged_of(view, outages, i).len(),
    }
}

/// The purged items of outage `i`, oldest first.
fn purged_of<'a>(view: &'a CareView, outages: &[Outage], i: usize) -> Vec<&'a PurgedHeld> {
    let mut out: Vec<&PurgedHeld> = view
        .purged()
        .filter(|p| matches!(attach(outages, p.hlc), Some((j, _)) if j == i))
        .collect();
    out.sort_by_key(|p| (p.hlc, p.id));
    out
}

/// Whether this unit's re-entry of each outage held is closed, by outage id (what
/// `retention::purge_under` asks of the node's own unit).
pub(super) fn reentry_closed(view: &CareView, outages: &[Outage]) -> Vec<(EventId, bool)> {
    (0..outages.len())
        .map(|i| (outages[i].declared.id, progress(view, outages, i).closed))
        .collect()
}

/// Whether a unit admin signed off outage `outage`'s re-entry, or `item` has a mark: an
/// item not yet in the view (arriving) leaves the list closed only then.
pub(super) fn item_settled(view: &CareView, outage: &EventId, item: &EventId) -> bool {
    !view.reentry_signoffs(outage).is_empty()
        || view.reentry_marks().iter().any(|m| &m.item == item)
}

fn marks_on(view: &CareView, item: &EventId) -> Vec<MarkRow> {
    view.reentry_marks()
        .iter()
        .filter(|m| &m.item == item)
        .map(mark_row)
        .collect()
}

/// Every mark by the item it marks, oldest first: read once for a whole list, so a list of
/// n items with m marks costs n + m, not n × m.
fn marks_by_item(view: &CareView) -> HashMap<EventId, Vec<MarkRow>> {
    let mut out: HashMap<EventId, Vec<MarkRow>> = HashMap::new();
    for m in view.reentry_marks() {
        out.entry(m.item).or_default().push(mark_row(&m));
    }
    out
}

fn mark_row(m: &MarkHeld<'_>) -> MarkRow {
    let (state, detail) = match m.mark {
        Mark::Entered { link_ref } => ("inregistrerat i LINK", link_ref.clone()),
        Mark::NotNeeded { reason } => ("behövs inte", reason.clone()),
    };
    MarkRow {
        event: m.held.id.to_string(),
        state: state.into(),
        detail,
        by: m.held.payload.by.clone(),
        login: m.held.user.clone(),
        at_ms: m.held.payload.written_at_ms,
        at: format_ms_local(m.held.payload.written_at_ms),
    }
}

/// When what a document records happened: its own time where it has one.
fn occurred_ms(o: &Opened) -> u64 {
    match &o.payload.document {
        Document::AdmissionNotice { admitted_at_ms, .. } => *admitted_at_ms,
        Document::DischargeReady { at_ms, .. }
        | Document::NoLongerReady { at_ms, .. }
        | Document::Discharged { at_ms, .. } => *at_ms,
        Document::MunicipalityReady { from_ms, .. } => *from_ms,
        _ => o.payload.written_at_ms,
    }
}

/// The outage a typed id names (a prefix of its declaration's id), or the newest.
fn pick(outages: &[Outage], typed: Option<&str>) -> Result<usize, ApiError> {
    if outages.is_empty() {
        return Err(refused(
            "ingen driftstörning är utlyst här: det finns ingen efterregistrering",
        ));
    }
    let Some(typed) = input::given(typed) else {
        return Ok(outages.len() - 1);
    };
    let id = input::event_id(typed)?;
    let hits: Vec<usize> = (0..outages.len())
        .filter(|i| id.names(&outages[*i].declared.id.to_string()))
        .collect();
    match hits[..] {
        [i] => Ok(i),
        [] => Err(refused(format!(
            "ingen driftstörning här har id som börjar på {}",
            id.digits()
        ))),
        _ => Err(refused(format!(
            "flera driftstörningar börjar på {}: skriv fler siffror",
            id.digits()
        ))),
    }
}

/// The unit's re-entry list for an outage (the newest when none is named), logged as a
/// read naming every patient in it.
pub(super) fn list(
    node: &dyn CareNode,
    caller: &Caller,
    outage: Option<&str>,
) -> Result<ReentryList, ApiError> {
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let (list, patients) = {
        let view = node.view();
        let outages = view.outages();
        let i = pick(&outages, outage)?;
        let mut groups: Vec<PatientItems> = Vec::new();
        let mut patients: Vec<PatientId> = Vec::new();
        let marks = marks_by_item(&view);
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for (o, placement) in items_of(&view, &outages, i) {
            // An answer names no patient of its own: it is filed under its thread's.
            let of = patient_through_thread(&view, o);
            let patient = of
                .as_ref()
                .map(|p| p.canonical().to_string())
                .unwrap_or_default();
            patients.extend(of);
            let item = ReentryItem {
                event: o.id.to_string(),
                kind: o.payload.document.name_sv().into(),
                title: o.payload.document.title_sv(),
                direction: if o.unit == own { "skickat" } else { "mottaget" }.into(),
                from: unit_ref(&roster, &o.unit),
                to: o.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
                author: o.payload.author.clone(),
                occurred_ms: occurred_ms(o),
                occurred: format_ms_local(occurred_ms(o)),
                written_ms: o.payload.written_at_ms,
                written: format_ms_local(o.payload.written_at_ms),
                placement: match placement {
                    Placement::BeforeDeclaration => "före utlysningen",
                    Placement::During => "under driftstörningen",
                    Placement::AfterEnd => "efter slutet",
                }
                .into(),
                marks: marks.get(&o.id).cloned().unwrap_or_default(),
            };
            match group_of.get(&patient) {
                Some(g) => groups[*g].items.push(item),
                None => {
                    group_of.insert(patient.clone(), groups.len());
                    groups.push(PatientItems {
                        patient,
                        items: vec![item],
                    });
                }
            }
        }
        let signoffs = view
            .reentry_signoffs(&outages[i].declared.id)
            .into_iter()
            .map(|(c, reason)| SignOffRow {
                by: c.payload.by.clone(),
                reason: reason.to_string(),
                at: format_ms_local(c.payload.written_at_ms),
            })
            .collect();
        let purged = purged_of(&view, &outages, i)
            .into_iter()
            .map(|p| PurgedItem {
                event: p.id.to_string(),
                direction: if p.unit == own { "skickat" } else { "mottaget" }.into(),
                from: unit_ref(&roster, &p.unit),
                to: p.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
                written_ms: p.hlc.wall_ms,
                written: format_ms_local(p.hlc.wall_ms),
                state: super::events::purged_sv(&p.reference),
                purged_at: format_ms_local(p.at_ms),
            })
            .collect();
        (
            ReentryList {
                outage: row(&roster, &view, &outages, i),
                unit: unit_ref(&roster, &own),
                patients: groups,
                signoffs,
                purged,
            },
            patients,
        )
    };
    audit_patients(
        node,
        caller,
        AuditAction::Read,
        patients,
        None,
        &format!("efterregistrering, driftstörning {}", &list.outage.id[..12]),
    )?;
    Ok(list)
}

/// What an outage's export needs from its re-entry list: the outage, and per item its
/// patient (through the message it answers, for an answer that names none) and marks.
pub(super) struct ExportItems {
    /// The outage (its declaration's id, hex).
    pub outage: String,
    /// Each item: the event, its patient if any, its placement (Swedish) and its marks,
    /// oldest first.
    pub items: Vec<(EventId, Option<PatientId>, String, Vec<MarkRow>)>,
    /// Whether a unit admin signed off what is left.
    pub signed_off: bool,
}

/// The items of an outage (the newest when none is named) for its export. Not logged
/// here: the export logs `Export` naming every patient in it.
pub(super) fn export_items(
    node: &dyn CareNode,
    outage: Option<&str>,
) -> Result<ExportItems, ApiError> {
    let view = node.view();
    let outages = view.outages();
    let i = pick(&outages, outage)?;
    let mut marks = marks_by_item(&view);
    let items = items_of(&view, &outages, i)
        .into_iter()
        .map(|(o, placement)| {
            let patient = patient_through_thread(&view, o);
            let placement = match placement {
                Placement::BeforeDeclaration => "före utlysningen",
                Placement::During => "under driftstörningen",
                Placement::AfterEnd => "efter slutet",
            };
            let marks = marks.remove(&o.id).unwrap_or_default();
            (o.id, patient, placement.to_string(), marks)
        })
        .collect();
    Ok(ExportItems {
        outage: outages[i].declared.id.to_string(),
        items,
        signed_off: !view.reentry_signoffs(&outages[i].declared.id).is_empty(),
    })
}

/// Most messages followed up a thread to find the patient an answer belongs to.
const THREAD_DEPTH_MAX: usize = 100;

/// An event's patient, or for an answer naming none, that of the message it answers.
fn patient_through_thread(view: &CareView, o: &Opened) -> Option<PatientId> {
    let mut at = o;
    for _ in 0..THREAD_DEPTH_MAX {
        if let Some(p) = &at.payload.patient {
            return Some(p.clone());
        }
        let Document::Message {
            reply_to: Some(r), ..
        } = &at.payload.document
        else {
            return None;
        };
        at = view.get(r)?;
    }
    None
}

/// Writes a control event: plain and addressed to `recipients`, or sealed to this unit
/// alone; after its audit entry.
fn control_write(
    node: &dyn CareNode,
    caller: &Caller,
    control: Control,
    recipients: Vec<HsaId>,
    patient: Option<PatientId>,
    detail: &str,
) -> Result<EventId, ApiError> {
    let author = caller.author()?;
    let private = control.is_unit_private();
    let payload = ControlPayload {
        format: CONTROL_FORMAT,
        written_at_ms: node.now_ms(),
        by: author.name,
        control,
    };
    let bytes = zeroize::Zeroizing::new(
        payload
            .encode()
            .map_err(|e| refused(format!("ogiltigt: {e}")))?,
    );
    let own = node.unit_key().unit().clone();
    let header = Header {
        format: EVENT_FORMAT,
        author: node.node_key().id(),
        unit: own.clone(),
        user: caller.login(),
        hlc: node.tick(),
        class: EventClass::Control,
        // A declaration or an end must reach every node first.
        priority: if private {
            Priority::Normal
        } else {
            Priority::Urgent
        },
        recipients: if private { Vec::new() } else { recipients },
        doc: None,
    };
    let event = if private {
        let own_key = node.unit_key().public();
        header
            .seal(&mut NodeRng(node), &bytes, |u| {
                (u == &own).then_some(own_key)
            })
            .map_err(|e| refused(format!("kunde inte försegla: {e}")))?
    } else {
        header.plain(bytes.to_vec())
    };
    let signed = event
        .sign(node.node_key())
        .map_err(|e| refused(format!("kunde inte skrivas: {e}")))?;
    let id = signed.id();
    audited_write(node, caller, patient, id, detail, vec![signed])?;
    Ok(id)
}

/// Declares an outage for its scope (every roster unit when none is typed).
pub(super) fn declare(
    node: &dyn CareNode,
    caller: &Caller,
    r: &OutageDeclareRequest,
) -> Result<OutageView, ApiError> {
    let reason = input::control_text("skälet (vad som är nere)", &r.reason, true)?;
    let scope = input::units(&r.scope)?;
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    if let Some(u) = scope.iter().find(|u| roster.unit(u).is_none()) {
        return Err(refused(format!(
            "enheten {u} finns inte i regionens register"
        )));
    }
    let recipients: Vec<HsaId> = if scope.is_empty() {
        roster.units.iter().map(|u| u.id.clone()).collect()
    } else {
        scope
    }
    .into_iter()
    .filter(|u| *u != own)
    .collect();
    if recipients.len() > RECIPIENTS_MAX {
        return Err(refused(format!(
            "en driftstörning gäller högst {} enheter: ange vilka (omfattning)",
            RECIPIENTS_MAX + 1
        )));
    }
    {
        let view = node.view();
        let outages = view.outages();
        if let Standing::InForce(i) = standing(&outages) {
            return Err(refused(format!(
                "en driftstörning är redan utlyst (sedan {}, av {}): avsluta den först",
                format_ms_local(outages[i].declared.written_at_ms),
                outages[i].declared.by
            )));
        }
    }
    control_write(
        node,
        caller,
        Control::OutageDeclared {
            reason: reason.clone(),
        },
        recipients,
        None,
        &format!("driftstörning utlyst: {reason}"),
    )?;
    Ok(show(node))
}

/// Ends the outage in force (the newest, if several).
pub(super) fn end(
    node: &dyn CareNode,
    caller: &Caller,
    note: &str,
) -> Result<OutageView, ApiError> {
    let note = input::control_text("anteckningen", note, false)?;
    let own = node.unit_key().unit().clone();
    let (outage, recipients) = {
        let view = node.view();
        let outages = view.outages();
        let Standing::InForce(i) = standing(&outages) else {
            return Err(refused(
                "ingen driftstörning är utlyst här: det finns ingen att avsluta",
            ));
        };
        let d = &outages[i].declared;
        let recipients: Vec<HsaId> = d.scope.iter().filter(|u| **u != own).cloned().collect();
        (d.id, recipients)
    };
    control_write(
        node,
        caller,
        Control::OutageEnded { outage, note },
        recipients,
        None,
        &format!("driftstörning {} avslutad", &outage.to_string()[..12]),
    )?;
    Ok(show(node))
}

/// Marks one item of the unit's re-entry list.
pub(super) fn mark(
    node: &dyn CareNode,
    caller: &Caller,
    r: &ReentryMarkRequest,
) -> Result<ReentryMarked, ApiError> {
    let mark = input::reentry_mark(&r.state, &r.link_ref, &r.reason)?;
    let (item, outage, patient) = {
        let view = node.view();
        let outages = view.outages();
        let o = find_event(&view, &r.item)?;
        let Some((i, _)) = attach(&outages, o.hlc) else {
            return Err(refused(
                "ingen driftstörning är utlyst här: händelsen hör inte till någon efterregistrering",
            ));
        };
        (
            o.id,
            outages[i].declared.id,
            patient_through_thread(&view, o),
        )
    };
    let what = match &mark {
        Mark::Entered { .. } => "inregistrerat i LINK",
        Mark::NotNeeded { .. } => "behövs inte",
    };
    control_write(
        node,
        caller,
        Control::ReentryMarked { outage, item, mark },
        Vec::new(),
        patient,
        &format!("efterregistrering {}: {what}", &item.to_string()[..12]),
    )?;
    let view = node.view();
    let outages = view.outages();
    let progress = progress_of(&view, &outages, &outage).ok_or_else(|| gone(&outage))?;
    Ok(ReentryMarked {
        item: item.to_string(),
        outage: outage.to_string(),
        marks: marks_on(&view, &item),
        progress,
    })
}

/// Signs off what is left of the unit's re-entry list of an ended outage (a unit admin).
pub(super) fn sign_off(
    node: &dyn CareNode,
    caller: &Caller,
    outage: Option<&str>,
    reason: &str,
) -> Result<Progress, ApiError> {
    let reason = input::control_text("skälet", reason, true)?;
    let id = {
        let view = node.view();
        let outages = view.outages();
        let i = pick(&outages, outage)?;
        if outages[i].ended.is_none() {
            return Err(refused(
                "driftstörningen pågår: det som är kvar kan skrivas av först när den är avslutad",
            ));
        }
        outages[i].declared.id
    };
    control_write(
        node,
        caller,
        Control::ReentrySignedOff {
            outage: id,
            reason: reason.clone(),
        },
        Vec::new(),
        None,
        &format!(
            "efterregistrering av driftstörning {} avskriven: {reason}",
            &id.to_string()[..12]
        ),
    )?;
    let view = node.view();
    let outages = view.outages();
    progress_of(&view, &outages, &id).ok_or_else(|| gone(&id))
}

/// The progress of the outage declared by `id`, found again by its id after a write (the
/// outages may have been reordered meanwhile by a declaration that arrived), or None if it
/// is held no more: never another outage's.
fn progress_of(view: &CareView, outages: &[Outage], id: &EventId) -> Option<Progress> {
    let i = outages.iter().position(|o| &o.declared.id == id)?;
    Some(progress(view, outages, i))
}

/// What is said when the outage a mark or a sign-off was just written for is held no more
/// (its declaration dropped: a roster revoked the node that wrote it). What was written is
/// kept and in the access log; only its progress cannot be told.
fn gone(id: &EventId) -> ApiError {
    refused(format!(
        "det du skrev är sparat, men driftstörningen {} finns inte längre här (dess utlysning gäller inte längre): visa efterregistreringen igen",
        &id.to_string()[..12]
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{
        Need, OutageDeclareRequest, PlanEditRequest, PlanPatch, ReentryMarkRequest, Reply, Request,
        Role,
    };
    use super::*;

    fn declare_req(reason: &str) -> Request {
        Request::OutageDeclare(OutageDeclareRequest {
            reason: reason.into(),
            scope: Vec::new(),
        })
    }

    fn outage_state(node: &TestNode) -> OutageView {
        match node.ask(Request::OutageShow {}) {
            Ok(Reply::Outage(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    fn list(node: &TestNode) -> ReentryList {
        match node.ask(Request::Reentry { outage: None }) {
            Ok(Reply::Reentry(l)) => *l,
            other => panic!("{other:?}"),
        }
    }

    fn mark(node: &TestNode, item: &str, state: &str, reason: &str) -> ReentryMarked {
        match node.ask(Request::ReentryMark(ReentryMarkRequest {
            item: item.into(),
            state: state.into(),
            link_ref: "LINK-77".into(),
            reason: reason.into(),
        })) {
            Ok(Reply::ReentryMarked(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    /// The whole of §1 and §2 at the care level: a write with no declaration warns and
    /// works, a unit admin declares (staff may not), documents during it, the end, the
    /// refusal after it with receipts and answers still taken, the re-entry list with
    /// both times, marks, the sign-off, and a new declaration opening the node again.
    #[test]
    fn an_outage_from_declaration_to_closed_re_entry() {
        let ward = TestNode::new(Side::Ward);
        let kommun = TestNode::new(Side::Kommun);
        assert_eq!(outage_state(&ward).state, "ingen");
        assert!(outage_state(&ward)
            .banner
            .contains("Ingen driftstörning är utlyst"));
        // Written before anyone declared: still taken (staff are never blocked).
        let early = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
        );
        let staff = account(Side::Ward, "sara", &[Role::Staff]);
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        let m = ward.refuses_as(&staff, declare_req("LINK nere"), "administratör");
        assert!(m.contains("driftstörning"), "{m}");
        assert!(matches!(
            ward.ask_as(&staff, declare_req("LINK nere")),
            Err(ApiError::NotAllowed(_))
        ));
        ward.refuses_as(&admin, declare_req("  "), "skälet");
        ward.refuses_as(
            &admin,
            Request::OutageDeclare(OutageDeclareRequest {
                reason: "LINK nere".into(),
                scope: vec!["SE2321000081-FINNSINTE".into()],
            }),
            "finns inte",
        );
        ward.set_now(NOW + 60_000);
        let v = match ward.ask_as(&admin, declare_req("LINK nere sedan 08.10")) {
            Ok(Reply::Outage(v)) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(v.state, "utlyst");
        assert!(
            v.banner.contains("Konto anna") && v.banner.contains("LINK nere"),
            "{}",
            v.banner
        );
        assert_eq!(
            v.outages[0].scope.len(),
            ward.roster().units.len(),
            "every unit of the roster"
        );
        ward.refuses_as(&admin, declare_req("igen"), "redan utlyst");
        // The declaration names the account in its header and is in the access log.
        assert_eq!(
            ward.audit_log().pop().expect("audited").login.as_deref(),
            Some("anna")
        );
        ward.set_now(NOW + 120_000);
        let plan = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], plan_form("Hem"))),
        );
        ward.carry_to(&kommun);
        assert_eq!(outage_state(&kommun).state, "utlyst", "it replicates");
        kommun.set_now(NOW + 180_000);
        let question = sent(
            &kommun,
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Fråga"))),
        );
        kommun.carry_to(&ward);
        ward.set_now(NOW + 240_000);
        ward.refuses_as(
            &staff,
            Request::OutageEnd {
                note: String::new(),
            },
            "administratör",
        );
        match ward.ask_as(
            &admin,
            Request::OutageEnd {
                note: "LINK uppe".into(),
            },
        ) {
            Ok(Reply::Outage(v)) => assert_eq!(v.state, "avslutad"),
            other => panic!("{other:?}"),
        }
        ward.refuses_as(
            &admin,
            Request::OutageEnd {
                note: String::new(),
            },
            "ingen att avsluta",
        );
        // After the end: no new document, no plan version, not even a preview …
        let after = ward.refuses(
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
            "driftstörningen är avslutad",
        );
        assert!(after.contains("LINK"), "{after}");
        ward.refuses(
            Request::Preview(sending(Some(PATIENT), &[Side::Kommun], message_form("x"))),
            "avslutad",
        );
        ward.refuses(
            Request::PlanEdit(PlanEditRequest {
                doc: plan.plan.clone().expect("a plan"),
                resolve: false,
                base: None,
                heads: None,
                patch: PlanPatch {
                    goals: Some("Annat".into()),
                    ..PlanPatch::default()
                },
                urgent: false,
            }),
            "avslutad",
        );
        // … but a receipt and an answer to the outage's message are taken.
        assert!(matches!(
            ward.ask(Request::Ack {
                event: question.event.clone()
            }),
            Ok(Reply::Acked(_))
        ));
        let answer = sent(
            &ward,
            Request::Send(super::super::SendRequest {
                reply_to: Some(question.event.clone()),
                ..sending(Some(PATIENT), &[Side::Kommun], message_form("Svar"))
            }),
        );
        // An answer to that answer (written after the end, so not of the outage) is
        // refused: a thread does not go on past the end.
        ward.refuses(
            Request::Send(super::super::SendRequest {
                reply_to: Some(answer.event.clone()),
                ..sending(Some(PATIENT), &[Side::Kommun], message_form("Svar igen"))
            }),
            "avslutad",
        );
        // The ward's list: what it sent and received, by patient, oldest first.
        let l = list(&ward);
        assert_eq!(l.patients.len(), 1);
        let items = &l.patients[0].items;
        let ids: Vec<&str> = items.iter().map(|i| i.event.as_str()).collect();
        assert_eq!(
            ids,
            [
                early.event.as_str(),
                plan.event.as_str(),
                question.event.as_str(),
                answer.event.as_str()
            ]
        );
        assert_eq!(items[0].placement, "före utlysningen");
        assert_eq!(items[1].placement, "under driftstörningen");
        assert_eq!(items[2].direction, "mottaget");
        assert_eq!(items[3].placement, "efter slutet");
        // An admission notice occurred when the patient was admitted, not when written.
        assert_ne!(items[0].occurred_ms, items[0].written_ms);
        assert_eq!(items[1].occurred_ms, items[1].written_ms);
        assert_eq!(
            (
                l.outage.reentry.done,
                l.outage.reentry.left,
                l.outage.reentry.closed
            ),
            (0, 4, false)
        );
        let read = ward.audit_log().pop().expect("the list is logged");
        assert_eq!(read.action, crate::store::AuditAction::Read);
        assert!(read.names(&PATIENT.parse().expect("pnr")));
        // Marks: a refusal writes nothing; two marks on one item are both kept.
        ward.refuses(
            Request::ReentryMark(ReentryMarkRequest {
                item: plan.event.clone(),
                state: "behovs-inte".into(),
                ..Default::default()
            }),
            "skälet",
        );
        ward.refuses(
            Request::ReentryMark(ReentryMarkRequest {
                item: plan.event.clone(),
                state: "kanske".into(),
                ..Default::default()
            }),
            "okänt val",
        );
        let m = mark(&ward, &early.event[..12], "inregistrerat", "");
        assert_eq!((m.progress.done, m.progress.left), (1, 3));
        assert_eq!(m.marks[0].detail, "LINK-77");
        assert_eq!(m.marks[0].login.as_deref(), Some("test"));
        let m = mark(&ward, &early.event, "behovs-inte", "Dubblett");
        assert_eq!(m.marks.len(), 2, "both marks are kept");
        assert_eq!((m.progress.done, m.progress.left), (1, 3));
        // The marks are the ward's alone: the municipality carries them and cannot read them.
        ward.carry_to(&kommun);
        assert_eq!(
            list(&kommun).patients[0]
                .items
                .iter()
                .map(|i| i.marks.len())
                .sum::<usize>(),
            0
        );
        // The rest signed off by a unit admin, with a reason: closed for the ward.
        ward.refuses_as(
            &staff,
            Request::ReentrySignOff {
                outage: None,
                reason: "x".into(),
            },
            "administratör",
        );
        ward.refuses_as(
            &admin,
            Request::ReentrySignOff {
                outage: None,
                reason: " ".into(),
            },
            "skälet",
        );
        match ward.ask_as(
            &admin,
            Request::ReentrySignOff {
                outage: Some(l.outage.id[..10].into()),
                reason: "Registrerat på papper".into(),
            },
        ) {
            Ok(Reply::ReentrySignedOff(p)) => assert!(p.closed && p.signed_off, "{p:?}"),
            other => panic!("{other:?}"),
        }
        assert!(outage_status_line(&ward).contains("1 klara, 3 kvar (stängd)"));
        // A new outage opens the node again.
        ward.set_now(NOW + 300_000);
        assert!(ward.ask_as(&admin, declare_req("LINK nere igen")).is_ok());
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], message_form("Ny"))),
        );
        assert_eq!(outage_state(&ward).outages.len(), 2);
        assert_eq!(
            list(&ward).patients[0].items.len(),
            1,
            "the new outage's list"
        );
    }

    /// A node cut off when the outage was declared works on (with the warning banner), and
    /// what it wrote belongs to the outage as soon as the declaration reaches it.
    #[test]
    fn a_cut_off_nodes_documents_join_the_outage_when_the_declaration_arrives() {
        let ward = TestNode::new(Side::Ward);
        let kommun = TestNode::new(Side::Kommun);
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        ward.set_now(NOW + 1_000);
        assert!(ward.ask_as(&admin, declare_req("LINK nere")).is_ok());
        // The municipality has not heard: it writes, warned.
        kommun.set_now(NOW + 5_000);
        assert_eq!(outage_banner(&kommun).state, "ingen");
        let q = sent(
            &kommun,
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Fråga"))),
        );
        kommun.refuses(Request::Reentry { outage: None }, "ingen driftstörning");
        ward.carry_to(&kommun);
        assert_eq!(outage_banner(&kommun).state, "utlyst");
        let l = list(&kommun);
        assert_eq!(l.patients[0].items[0].event, q.event);
        assert_eq!(l.patients[0].items[0].placement, "under driftstörningen");
        // And the ward lists it too once it arrives.
        kommun.carry_to(&ward);
        assert_eq!(list(&ward).patients[0].items[0].event, q.event);
    }

    /// An answer that names no patient of its own (this node's answers inherit their
    /// question's, but a peer's need not: the payload's patient is optional for a message)
    /// is filed under its thread's patient in the re-entry list, as the export does, with
    /// the question; the list's read and its mark are logged naming that patient.
    #[test]
    fn an_answer_is_listed_and_marked_under_its_threads_patient() {
        use reservnod_proto::care::documents::{ClinicalPayload, ConsentBasis, PAYLOAD_FORMAT};
        let ward = TestNode::new(Side::Ward);
        let kommun = TestNode::new(Side::Kommun);
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        ward.set_now(NOW + 1_000);
        assert!(ward.ask_as(&admin, declare_req("LINK nere")).is_ok());
        ward.carry_to(&kommun);
        kommun.set_now(NOW + 5_000);
        let question = sent(
            &kommun,
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Fråga"))),
        );
        kommun.carry_to(&ward);
        // The municipality's answer to its own question, as another node may write it.
        kommun.set_now(NOW + 9_000);
        let payload = ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: None,
            episode: None,
            written_at_ms: NOW + 9_000,
            author: "Kim Karlsson".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: false,
            phrases: Vec::new(),
            document: Document::Message {
                subject: "Tillägg".into(),
                text: "Och trygghetslarm".into(),
                kind: reservnod_proto::care::documents::MessageKind::Question,
                answer_by_ms: None,
                reply_to: Some(question.event.parse().expect("id")),
            },
        };
        let roster = kommun.roster();
        let (answer, _) = super::super::common::clinical_event(
            &kommun,
            &roster,
            &[ward.unit_key().unit().clone()],
            None,
            false,
            super::super::common::Links::None,
            &payload,
        )
        .expect("sealed");
        let answer_id = answer.id().to_string();
        kommun.write(vec![answer]).expect("stored");
        kommun.carry_to(&ward);
        let before = ward.audit_log().len();
        let l = list(&ward);
        let groups: Vec<(&str, Vec<&str>)> = l
            .patients
            .iter()
            .map(|g| {
                (
                    g.patient.as_str(),
                    g.items.iter().map(|i| i.event.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [(PATIENT, vec![question.event.as_str(), answer_id.as_str()])],
            "one patient, the answer with its question"
        );
        let read = ward.audit_log().split_off(before);
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].patients.len(), 1, "{read:?}");
        mark(&ward, &answer_id, "inregistrerat", "");
        let logged = ward.audit_log().split_off(before + 1);
        assert_eq!(logged.len(), 1);
        assert!(
            logged[0].names(&PATIENT.parse().expect("pnr")),
            "{logged:?}"
        );
    }

    /// The progress after a mark is that of the outage marked, found by its id, never
    /// another outage's; one no longer held has none.
    #[test]
    fn progress_is_the_named_outages_or_none() {
        let ward = TestNode::new(Side::Ward);
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        ward.set_now(NOW + 1_000);
        assert!(ward.ask_as(&admin, declare_req("LINK nere")).is_ok());
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], message_form("Ett"))),
        );
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], message_form("Två"))),
        );
        ward.set_now(NOW + 2_000);
        assert!(ward
            .ask_as(
                &admin,
                Request::OutageEnd {
                    note: String::new()
                }
            )
            .is_ok());
        ward.set_now(NOW + 3_000);
        assert!(ward.ask_as(&admin, declare_req("LINK nere igen")).is_ok());
        let third = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], message_form("Tre"))),
        );
        let m = mark(&ward, &third.event, "inregistrerat", "");
        assert_eq!(
            (m.progress.done, m.progress.left, m.progress.closed),
            (1, 0, true),
            "the second outage's progress, not the first's (0 done, 2 left)"
        );
        let view = ward.view();
        let outages = view.outages();
        assert_eq!(outages.len(), 2);
        let first = progress_of(&view, &outages, &outages[0].declared.id).expect("held");
        assert_eq!((first.done, first.left), (0, 2));
        // An outage this node does not hold (say its declaration was dropped by a
        // revocation): no progress, rather than the first outage's.
        let unknown = third.event.parse().expect("an event id");
        assert_eq!(progress_of(&view, &outages, &unknown), None);
        assert!(gone(&unknown).to_string().contains("sparat"));
    }

    #[test]
    fn who_may_do_what_with_an_outage() {
        for (r, need) in [
            (declare_req("x"), Need::Outage),
            (
                Request::OutageEnd {
                    note: String::new(),
                },
                Need::Outage,
            ),
            (
                Request::ReentrySignOff {
                    outage: None,
                    reason: "x".into(),
                },
                Need::Outage,
            ),
            (Request::OutageShow {}, Need::Any),
            (Request::Reentry { outage: None }, Need::Clinical),
            (
                Request::ReentryMark(ReentryMarkRequest::default()),
                Need::Clinical,
            ),
        ] {
            assert_eq!(r.need(), need, "{r:?}");
            let line = serde_json::to_string(&r).expect("json");
            let back: Request = serde_json::from_str(&line).expect("parses");
            assert_eq!(format!("{back:?}"), format!("{r:?}"));
        }
        let e = serde_json::from_str::<Request>(
            r#"{"op":"outage_declare","reason":"x","by":"Mallory"}"#,
        )
        .expect_err("no author field");
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
