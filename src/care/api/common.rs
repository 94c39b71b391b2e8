//! What several operations share: finding what a typed id names in the view, units as
//! shown, list items with their receipt state, sealing and signing a clinical event, and
//! the audit entry every operation ends with.

use rand_core::{CryptoRng, RngCore};
use reservnod_proto::accounts::AccountPayload;
use reservnod_proto::care::documents::{ClinicalPayload, Document, EpisodeId};
use reservnod_proto::care::receipts::{
    escalated_at, escalation_covers, receipt_state, Receipt, ReceiptKind, ReceiptState,
};
use reservnod_proto::event::{DocRef, EventClass, Header, EVENT_FORMAT};
use reservnod_proto::seal::SealError;
use reservnod_proto::{DocId, EventId, HsaId, PatientId, Priority, Roster, SignedEvent};

use super::caller::{Actor, Caller, Via};
use super::input;
use super::types::{refused, ApiError, AuditFilter, CareNode, Item, RecipientState, UnitRef};
use crate::care::view::{CareView, Opened};
use crate::clock::format_ms_local;
use crate::store::{AuditAction, AuditEntry, AuditQuery, EscalationMark, ReceiptSigned, Store};

/// The node's randomness as an RNG, for sealing and new ids.
pub(super) struct NodeRng<'a>(pub(super) &'a dyn CareNode);

impl RngCore for NodeRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill_random(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill_random(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_random(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill_random(dest);
        Ok(())
    }
}

// `CareNode::fill_random` promises cryptographically secure bytes.
impl CryptoRng for NodeRng<'_> {}

/// The patient as typed, read with the node's date.
pub(super) fn patient(node: &dyn CareNode, typed: &str) -> Result<PatientId, ApiError> {
    Ok(input::patient(typed, crate::clock::today(node.now_ms()))?)
}

/// The same refusal in the words of the caller's way in: the command line names its flags
/// and commands, a screen (and the JSON API behind it) the fields to fill in. A web error
/// never names `--to` or `reservnod plan show`.
pub(super) fn worded(caller: &Caller, cli: &str, web: &str) -> String {
    match caller.via {
        Via::Web => web.to_string(),
        Via::Cli | Via::Socket | Via::Node => cli.to_string(),
    }
}

/// A roster node's name (its id's short form if the roster has it no more).
pub(super) fn node_name(roster: &Roster, id: &reservnod_proto::NodeId) -> String {
    roster
        .node(id)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| id.short())
}

pub(super) fn unit_ref(roster: &Roster, id: &HsaId) -> UnitRef {
    UnitRef {
        id: id.to_string(),
        name: roster
            .unit(id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| "(okänd enhet)".into()),
    }
}

/// The event of the view a typed id names: the whole id or a unique prefix.
pub(super) fn find_event<'a>(view: &'a CareView, typed: &str) -> Result<&'a Opened, ApiError> {
    let id = input::event_id(typed)?;
    if let Some(whole) = id.whole::<32>() {
        return view.get(&EventId(whole)).ok_or_else(|| {
            refused(format!(
                "händelsen {} finns inte här (eller kan inte läsas av enheten)",
                id.digits()
            ))
        });
    }
    let s = id.digits();
    let mut hits = view.all().filter(|o| id.names(&o.id.to_string()));
    match (hits.next(), hits.next()) {
        (Some(o), None) => Ok(o),
        (None, _) => Err(refused(format!("ingen händelse här börjar på {s}"))),
        (Some(_), Some(_)) => Err(refused(format!(
            "flera händelser börjar på {s}: skriv fler siffror"
        ))),
    }
}

/// When a typed id names no event this unit can read: whether the store holds it all the
/// same (sealed to other units, carried for them), to say so instead of "not here".
pub(super) fn sealed_elsewhere(store: &Store, typed: &str) -> Result<Option<ApiError>, ApiError> {
    let Ok(id) = input::event_id(typed) else {
        return Ok(None);
    };
    let digits = id.digits();
    let bytes = data_encoding::HEXLOWER
        .decode(&digits.as_bytes()[..digits.len() / 2 * 2])
        .map_err(|e| refused(format!("ogiltigt händelse-id: {e}")))?;
    let held = store
        .event_ids_with_prefix(&bytes, 64)?
        .into_iter()
        .find(|e| id.names(&e.to_string()));
    Ok(held.map(|e| {
        refused(format!(
            "händelsen {} finns här men är förseglad till andra enheter: den här enheten bär den åt dem och kan inte läsa den",
            e.short()
        ))
    }))
}

/// The plan of the view a typed id names: the whole id or a unique prefix.
pub(super) fn find_plan(view: &CareView, typed: &str) -> Result<DocId, ApiError> {
    let id = input::plan_id(typed)?;
    let mut docs: Vec<DocId> = view
        .all()
        .filter_map(|o| match (&o.doc, &o.payload.document) {
            (Some(d), Document::Plan { .. }) if id.names(&d.doc.to_string()) => Some(d.doc),
            _ => None,
        })
        .collect();
    docs.sort();
    docs.dedup();
    let s = id.digits();
    match docs.as_slice() {
        [d] => Ok(*d),
        [] => Err(refused(format!("ingen plan här har id {s}"))),
        _ => Err(refused(format!(
            "flera planer börjar på {s}: skriv fler siffror"
        ))),
    }
}

/// The patient's episode a typed id names: a whole id as it is (a unit may write about an
/// episode it has not seen yet), a prefix among the episodes this node knows.
pub(super) fn find_episode(
    view: &CareView,
    patient: &PatientId,
    typed: &str,
    now_ms: u64,
) -> Result<EpisodeId, ApiError> {
    let id = input::episode_id(typed)?;
    if let Some(whole) = id.whole::<16>() {
        return Ok(EpisodeId(whole));
    }
    let s = id.digits();
    let hits: Vec<EpisodeId> = view
        .episodes(patient, now_ms)
        .into_iter()
        .filter(|e| id.names(&e.to_string()))
        .collect();
    match hits.as_slice() {
        [e] => Ok(*e),
        [] => Err(refused(format!(
            "patienten {} har inget vårdtillfälle här som börjar på {s}",
            patient.canonical()
        ))),
        _ => Err(refused(format!(
            "flera vårdtillfällen börjar på {s}: skriv fler siffror"
        ))),
    }
}

/// Appends the audit entry of an operation by `caller`, stamped with the node's time.
pub(super) fn audit(
    node: &dyn CareNode,
    caller: &Caller,
    action: AuditAction,
    patient: Option<PatientId>,
    event: Option<EventId>,
    detail: &str,
) -> Result<(), ApiError> {
    audit_patients(
        node,
        caller,
        action,
        patient.into_iter().collect(),
        event,
        detail,
    )
}

/// As [`audit`], for an operation that showed several patients (each once, in order).
/// The entry names the caller by login and name, and says where the request came from.
pub(super) fn audit_patients(
    node: &dyn CareNode,
    caller: &Caller,
    action: AuditAction,
    mut patients: Vec<PatientId>,
    event: Option<EventId>,
    detail: &str,
) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    patients.retain(|p| seen.insert(p.clone()));
    let name = match &caller.actor {
        Actor::Account(a) => Some(a.name.clone()),
        Actor::Local(p) => input::given(Some(p.name.as_str())).map(str::to_string),
    };
    node.store().append_audit(&AuditEntry {
        unit: Some(node.unit_key().unit().clone()),
        login: caller.login(),
        name,
        client: caller.client.clone(),
        via: Some(caller.via.name().to_string()),
        patients,
        event,
        ..AuditEntry::new(node.now_ms(), node.node_key().id(), action, detail)
    })?;
    Ok(())
}

/// A reviewer's filter read into a store query of at most `limit` entries, and what it
/// asks for in Swedish (for the reply and the audit entry).
pub(super) fn audit_query(
    node: &dyn CareNode,
    f: &AuditFilter,
    limit: usize,
) -> Result<(AuditQuery, String), ApiError> {
    let patient = input::given(f.patient.as_deref())
        .map(|p| patient(node, p))
        .transpose()?;
    let account = input::given(f.account.as_deref()).map(str::to_string);
    let (from_ms, to_ms) = input::period(f.from.as_deref(), f.to.as_deref())?;
    let after = input::given(f.after.as_deref())
        .map(|a| {
            a.split_once('.')
                .and_then(|(at, seq)| Some((at.parse().ok()?, seq.parse().ok()?)))
                .ok_or_else(|| {
                    refused(format!(
                        "'{}' är ingen fortsättning från en tidigare sökning",
                        input::quote(a)
                    ))
                })
        })
        .transpose()?;
    let mut parts = Vec::new();
    if let Some(p) = &patient {
        parts.push(format!("patient {}", p.canonical()));
    }
    if let Some(a) = &account {
        parts.push(format!("konto {a}"));
    }
    match (from_ms, to_ms) {
        (None, None) => {}
        (a, b) => parts.push(format!(
            "från {} till {}",
            a.map_or("början".into(), format_ms_local),
            b.map_or("nu".into(), format_ms_local)
        )),
    }
    if parts.is_empty() {
        parts.push("alla poster".into());
    }
    let query = AuditQuery {
        patient,
        login: account,
        from_ms,
        to_ms,
        after,
        limit,
        scan_max: crate::limits::AUDIT_SCAN_MAX,
    };
    Ok((query, parts.join(", ")))
}

/// Writes `events` after their audit entry (Patientdatalagen: no write unlogged). If the
/// entry cannot be written, nothing is written, so a retry cannot send a document twice; if
/// the write then fails, a second entry says so.
pub(super) fn audited_write(
    node: &dyn CareNode,
    caller: &Caller,
    patient: Option<PatientId>,
    id: EventId,
    detail: &str,
    events: Vec<SignedEvent>,
) -> Result<(), ApiError> {
    audit(
        node,
        caller,
        AuditAction::Write,
        patient.clone(),
        Some(id),
        detail,
    )?;
    if let Err(e) = node.write(events) {
        let outcome = format!("{detail}: skrevs inte ({e})");
        if let Err(a) = audit(
            node,
            caller,
            AuditAction::Write,
            patient,
            Some(id),
            &outcome,
        ) {
            tracing::warn!(error = %a, "could not log that a write failed");
        }
        return Err(e);
    }
    Ok(())
}

/// Appends the audit entry of an attempt to log in as `login` (as typed, when it is a
/// login at all) from `client`: no caller exists yet.
pub(super) fn audit_login(
    node: &dyn CareNode,
    login: Option<String>,
    client: Option<&str>,
    ok: bool,
    detail: &str,
) -> Result<(), ApiError> {
    let action = if ok {
        AuditAction::Login
    } else {
        AuditAction::LoginRefused
    };
    node.store().append_audit(&AuditEntry {
        unit: Some(node.unit_key().unit().clone()),
        login,
        client: client.map(str::to_string),
        via: Some(Via::Web.name().to_string()),
        ..AuditEntry::new(node.now_ms(), node.node_key().id(), action, detail)
    })?;
    Ok(())
}

/// Seals `payload` to this unit alone as an `Account` event by `caller`, and writes it after
/// its audit entry (as [`audited_write`] does).
pub(super) fn account_write(
    node: &dyn CareNode,
    caller: &Caller,
    payload: &AccountPayload,
    detail: &str,
) -> Result<EventId, ApiError> {
    let own = node.unit_key().unit().clone();
    let own_key = node.unit_key().public();
    let plain = zeroize::Zeroizing::new(
        payload
            .encode()
            .map_err(|e| refused(format!("kontoändringen är ogiltig: {e}")))?,
    );
    let header = Header {
        format: EVENT_FORMAT,
        author: node.node_key().id(),
        unit: own.clone(),
        user: caller.login(),
        hlc: node.tick(),
        class: EventClass::Account,
        priority: Priority::Normal,
        recipients: Vec::new(),
        doc: None,
    };
    let signed = header
        .seal(&mut NodeRng(node), &plain, |u| {
            (u == &own).then_some(own_key)
        })
        .map_err(|e| refused(format!("kunde inte försegla: {e}")))?
        .sign(node.node_key())
        .map_err(|e| refused(format!("kontoändringen kunde inte skrivas: {e}")))?;
    let id = signed.id();
    audit(
        node,
        caller,
        AuditAction::AccountChanged,
        None,
        Some(id),
        detail,
    )?;
    if let Err(e) = node.write(vec![signed]) {
        let outcome = format!("{detail}: skrevs inte ({e})");
        if let Err(a) = audit(
            node,
            caller,
            AuditAction::AccountChanged,
            None,
            Some(id),
            &outcome,
        ) {
            tracing::warn!(error = %a, "could not log that a write failed");
        }
        return Err(e);
    }
    Ok(id)
}

/// The units among `units` other than `own` that the roster still has, each once, in order.
pub(super) fn other_units<'a>(
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

/// Typed recipient units, each a roster unit other than this one.
pub(super) fn recipients(
    caller: &Caller,
    roster: &Roster,
    own: &HsaId,
    typed: &[String],
) -> Result<Vec<HsaId>, ApiError> {
    let units = input::units(typed)?;
    for id in &units {
        if roster.unit(id).is_none() {
            let missing = format!("enheten {id} finns inte i registret");
            return Err(refused(worded(
                caller,
                &format!("{missing} (se `reservnod directory`)"),
                &missing,
            )));
        }
        if id == own {
            return Err(refused(format!("{id} är den egna enheten")));
        }
    }
    Ok(units)
}

/// The document links of a new clinical event.
pub(super) enum Links {
    /// Not a document version.
    None,
    /// The first version of a new document (its id is derived from this node and time).
    First,
    /// A later version.
    Version(DocRef),
}

/// Builds the header of a clinical event from this node, seals the payload for it and signs
/// it; returns the event and its document links.
pub(super) fn clinical_event(
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
        .seal(&mut NodeRng(node), &plain, |u| {
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

/// Who acknowledged `o` for `unit` as a title: from a login the header names (only this
/// unit's accounts are known here). `None` when unknown.
pub(super) type TitleOf<'a> = &'a dyn Fn(&HsaId, &str) -> Option<String>;

/// What became of `o` at `u`, one of its recipient units, from the receipts held.
pub(super) fn recipient_state(
    signed: &[ReceiptSigned],
    roster: &Roster,
    o: &Opened,
    u: &HsaId,
    marks: &[EscalationMark],
    title_of: TitleOf<'_>,
) -> RecipientState {
    let receipts: Vec<Receipt> = signed.iter().map(|r| r.receipt.clone()).collect();
    let state = receipt_state(&o.id, u, &receipts);
    // The unit's escalation: this node's own mark, or the Escalated receipt another
    // node of the unit wrote, whichever came first.
    let by_unit = escalated_at(&o.id, &o.unit, &receipts)
        .filter(|at| escalation_covers(&o.id, u, *at, &receipts));
    let escalated_ms = marks
        .iter()
        .find(|m| m.event == o.id && &m.unit == u)
        .map(|m| m.at_ms)
        .into_iter()
        .chain(by_unit)
        .min();
    let mine = |kind: ReceiptKind| {
        signed.iter().filter(move |r| {
            r.receipt.event == o.id && &r.receipt.unit == u && r.receipt.kind == kind
        })
    };
    // The receipts `receipt_state` counts: the earliest Delivered, the earliest Read.
    let delivered_node = mine(ReceiptKind::Delivered)
        .min_by_key(|r| (r.receipt.at_ms, r.node))
        .map(|r| node_name(roster, &r.node));
    let read = mine(ReceiptKind::Read).min_by_key(|r| (r.receipt.at_ms, r.receipt.by.clone()));
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
        delivered_node,
        read_ms,
        read_by,
        read_title: read
            .and_then(|r| r.login.as_deref())
            .and_then(|login| title_of(u, login))
            .filter(|t| !t.is_empty()),
        escalated_ms,
    }
}

/// "från ögonblicksbild (ÅÅÅÅ-MM-DD TT:MM)", as lists and the Patient page mark a chain
/// imported from the region's pre-outage snapshot.
pub fn snapshot_marker(taken_at_ms: u64) -> String {
    format!("från ögonblicksbild ({})", format_ms_local(taken_at_ms))
}

/// `o` as a list line, with its receipt state as this unit sees it.
pub(super) fn item(
    node: &dyn CareNode,
    roster: &Roster,
    o: &Opened,
    marks: &[EscalationMark],
) -> Result<Item, ApiError> {
    let own = node.unit_key().unit();
    let addressed = o.recipients.contains(own);
    let sent = &o.unit == own;
    let signed = if addressed || sent {
        node.store().receipts_signed_for(&o.id)?
    } else {
        Vec::new()
    };
    let receipts: Vec<Receipt> = signed.iter().map(|r| r.receipt.clone()).collect();
    let (read_by, read_ms) = match receipt_state(&o.id, own, &receipts) {
        ReceiptState::Read { by, at_ms, .. } if addressed => (Some(by), Some(at_ms)),
        _ => (None, None),
    };
    let recipients = if sent {
        o.recipients
            .iter()
            .map(|u| recipient_state(&signed, roster, o, u, marks, &|_, _| None))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Item {
        event: o.id.to_string(),
        kind: o.payload.document.name_sv().into(),
        title: match &o.payload.document {
            // Lists mark an imported chain with the snapshot's time.
            Document::Snapshot(s) => {
                format!("{}: {}", snapshot_marker(s.taken_at_ms), s.state.name_sv())
            }
            d => d.title_sv(),
        },
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
