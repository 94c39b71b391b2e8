//! What this unit can read: every clinical event addressed to it or written by it, opened
//! once and kept in memory (never on disk in clear), indexed by patient and document; and
//! the unit's own staff accounts, the changes its nodes wrote ([`CareView::accounts`]).
//!
//! The daemon builds it at start from the store's recipient and author-unit indices and adds
//! each newly stored event; the offline CLI builds it per command. The sealed events in the
//! store stay the truth: the view can always be rebuilt from them.
//!
//! What the view holds was written by admitted nodes, but not every author is to be trusted
//! with every patient: a plan is what its first version says ([`CareView::plan`]), and an
//! episode's participants are the units its author unit and this unit addressed
//! ([`CareView::episode_participants`]), never a unit that merely wrote into it.

use std::collections::{BTreeMap, HashMap};

use reservnod_proto::accounts::{AccountPayload, AccountState, Change};
use reservnod_proto::care::chain::ChainEntry;
use reservnod_proto::care::documents::{is_future_dated, ClinicalPayload, Document, EpisodeId};
use reservnod_proto::care::plan::{plan_state, plan_trust, Member, PlanState, Untrusted, Version};
use reservnod_proto::event::DocRef;
use reservnod_proto::outage::{Control, ControlPayload, Declared, Ended, Mark, Outage};
use reservnod_proto::Body;
use reservnod_proto::{
    DocId, EventClass, EventId, Hlc, HsaId, NodeId, PatientId, Priority, Roster, UnitSecretKey,
    VerifiedEvent,
};

use crate::limits::{CLOCK_AHEAD_MAX_MS, VIEW_UNIT_BYTES_MAX};
use crate::store::{Store, StoreError};

/// One opened clinical event.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The event.
    pub id: EventId,
    /// Its timestamp (the author node's clock when it was written).
    pub hlc: Hlc,
    /// The author's unit.
    pub unit: HsaId,
    /// The author node.
    pub node: NodeId,
    /// The staff login, if given.
    pub user: Option<String>,
    /// The units it is addressed to.
    pub recipients: Vec<HsaId>,
    /// How urgent.
    pub priority: Priority,
    /// Version links, for plans.
    pub doc: Option<DocRef>,
    /// What it says.
    pub payload: ClinicalPayload,
}

impl Opened {
    /// The chain's view of it.
    pub fn chain_entry(&self) -> ChainEntry {
        ChainEntry {
            event: self.id,
            hlc: self.hlc,
            unit: self.unit.clone(),
            payload: self.payload.clone(),
        }
    }
}

/// A clinical event of this unit whose body was purged here (PROTOCOL.md §5.7): what its
/// header and tombstone say, no patient data (that was in the body). Screens list it as
/// "gallrad enligt <reference>" where they list headers (the re-entry list, its counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgedHeld {
    /// The event.
    pub id: EventId,
    /// Its hybrid time (which outage it belongs to).
    pub hlc: Hlc,
    /// The author's unit.
    pub unit: HsaId,
    /// The units it was addressed to.
    pub recipients: Vec<HsaId>,
    /// The purge decision's reference (gallringsbeslut).
    pub reference: String,
    /// When the body was removed here (or not taken in: on arrival).
    pub at_ms: u64,
}

/// What one purged event's record costs of its author unit's quota (bytes; more than it
/// holds, so a unit's purged records never hold more than its opened events could).
const PURGED_RECORD_COST: usize = 256;

/// A plan as this unit sees it: what is part of it, and what is kept only as evidence.
#[derive(Clone, Debug)]
pub struct PlanSummary<'a> {
    /// The first version, once it is here: the plan's patient, episode and participants.
    pub first: Option<&'a Opened>,
    /// The first version's unit and recipients.
    pub participants: Vec<HsaId>,
    /// The versions that are part of the plan, oldest first (the first included).
    pub versions: Vec<&'a Opened>,
    /// The notes that are part of the plan, oldest first.
    pub notes: Vec<&'a Opened>,
    /// Versions and notes that claim the plan but are no part of it, with why, oldest first.
    pub untrusted: Vec<(&'a Opened, Untrusted)>,
    /// Versions and notes held before the first version arrived.
    pub pending: Vec<&'a Opened>,
    /// Where its versions stand (no heads while the first version is missing).
    pub state: PlanState,
}

/// The opened events of one unit.
pub struct CareView {
    events: HashMap<EventId, Opened>,
    by_patient: BTreeMap<PatientId, Vec<EventId>>,
    by_doc: HashMap<DocId, Vec<EventId>>,
    /// Bytes held per author unit (bounded by the roster's units: only authorized events
    /// reach the view), and each event's share, to give back when it leaves.
    held_by_unit: HashMap<HsaId, usize>,
    held_by_event: HashMap<EventId, usize>,
    unit_bytes_max: usize,
    /// Author units already logged as over their quota (logged once each).
    over_quota_logged: std::collections::HashSet<HsaId>,
    /// Events that did not open or decode, counted for `status`.
    pub unreadable: u64,
    /// Events left sealed because their author unit's quota was full: kept in the store,
    /// not shown, no Delivered receipt; counted and logged once per unit.
    pub over_quota: u64,
    /// Stored events found damaged while building the view, and quarantined.
    pub quarantined: u64,
    /// The unit's account changes (few and small: bounded by what its own nodes write),
    /// with the node that wrote each.
    account_changes: Vec<(NodeId, Change)>,
    account_ids: std::collections::HashSet<EventId>,
    /// What `care::api`'s inbox poll last logged, per reader (login, client, way in): a
    /// fingerprint of the patients shown and when. In memory only: forgetting it costs one
    /// more audit entry, never one fewer.
    pub inbox_logged: HashMap<String, ([u8; 32], u64)>,
    /// Outage declarations and ends addressed to or written by this unit, and this unit's
    /// re-entry marks and sign-offs (few and small: one per item at most, normally), with
    /// the node that wrote each.
    controls: Vec<ControlHeld>,
    control_ids: std::collections::HashSet<EventId>,
    /// This unit's clinical events whose body was purged here.
    purged: HashMap<EventId, PurgedHeld>,
}

/// A control event as held (see [`reservnod_proto::outage`]).
#[derive(Clone, Debug)]
pub struct ControlHeld {
    /// The event.
    pub id: EventId,
    /// Its hybrid time.
    pub hlc: Hlc,
    /// The author node.
    pub node: NodeId,
    /// The author's unit.
    pub unit: HsaId,
    /// The staff login, if given.
    pub user: Option<String>,
    /// The units it is addressed to.
    pub recipients: Vec<HsaId>,
    /// What it says.
    pub payload: ControlPayload,
}

/// A re-entry mark as held.
#[derive(Clone, Debug)]
pub struct MarkHeld<'a> {
    /// The mark's event, its time, node and login.
    pub held: &'a ControlHeld,
    /// The outage.
    pub outage: EventId,
    /// The item (a clinical event).
    pub item: EventId,
    /// How it was dealt with.
    pub mark: &'a Mark,
}

/// What opening one event for this unit gave, before it is added to the view: the ingest
/// pipeline opens each new body once, decides on Delivered from it, stores, then adds it.
#[derive(Debug)]
pub enum Opening {
    /// Not a clinical event, or neither addressed to nor written by this unit.
    NotOurs,
    /// Opened and decoded, with the bytes it holds of its author unit's quota.
    Opened(Box<Opened>, usize),
    /// Opened, but what was inside does not decode (still opened: Delivered holds).
    Undecodable,
    /// Addressed to this unit but does not open with its key.
    Unopenable,
    /// Left sealed: its author unit's quota is full (not shown, no Delivered).
    OverQuota,
    /// A change to one of this unit's accounts, written by that node.
    Account(Box<(NodeId, Change)>),
    /// An outage declared or ended for this unit, or a re-entry mark or sign-off of its own,
    /// with the bytes it holds of its author unit's quota.
    Control(Box<ControlHeld>, usize),
}

impl Opening {
    /// Whether this unit opened the body, even if what was inside did not decode.
    pub fn opened(&self) -> bool {
        matches!(self, Opening::Opened(..) | Opening::Undecodable)
    }
}

impl Default for CareView {
    fn default() -> Self {
        CareView::with_unit_quota(VIEW_UNIT_BYTES_MAX)
    }
}

impl CareView {
    /// An empty view holding at most `bytes` per author unit.
    pub fn with_unit_quota(bytes: usize) -> CareView {
        CareView {
            events: HashMap::new(),
            by_patient: BTreeMap::new(),
            by_doc: HashMap::new(),
            held_by_unit: HashMap::new(),
            held_by_event: HashMap::new(),
            unit_bytes_max: bytes,
            over_quota_logged: Default::default(),
            unreadable: 0,
            over_quota: 0,
            quarantined: 0,
            account_changes: Vec::new(),
            account_ids: Default::default(),
            inbox_logged: HashMap::new(),
            controls: Vec::new(),
            control_ids: Default::default(),
            purged: HashMap::new(),
        }
    }

    /// Opens every clinical event of the store that `unit` can read.
    pub fn build(store: &Store, unit: &UnitSecretKey) -> Result<CareView, StoreError> {
        CareView::build_with(store, unit, |_, _| {})
    }

    /// [`CareView::build`], telling `seen` of every event it reads (addressed to or written
    /// by `unit`, clinical or not; one both addressed to and written by `unit` and not
    /// added may be told twice) and whether `unit` opened it: what a node owes in answer is
    /// found in the same pass.
    pub fn build_with(
        store: &Store,
        unit: &UnitSecretKey,
        mut seen: impl FnMut(&VerifiedEvent, bool),
    ) -> Result<CareView, StoreError> {
        let mut view = CareView::default();
        let ids = store
            .iter_by_recipient(unit.unit())
            .chain(store.iter_by_author_unit(unit.unit()));
        for item in ids {
            let (_, id) = item?;
            if view.events.contains_key(&id) {
                continue;
            }
            // Stored events were verified on the way in; verifying again costs one
            // signature check and keeps this path free of unchecked decoding. One that no
            // longer reads or verifies (a damaged disk) is taken out of use, not a reason
            // for the node to stay down.
            let reason = match store.get(&id) {
                Ok(None) => continue,
                Ok(Some(signed)) => match signed.verify() {
                    Ok(v) => {
                        let opened = view.add(&v, unit);
                        seen(&v, opened);
                        continue;
                    }
                    Err(e) => format!("fails verification: {e}"),
                },
                Err(StoreError::Corrupt(e)) => format!("does not read: {e}"),
                Err(e) => return Err(e),
            };
            tracing::error!(event = %id.short(), %reason, "a stored event is damaged: quarantined, the node goes on without it");
            store.quarantine(&id, &reason)?;
            view.quarantined += 1;
        }
        for item in store.iter_purged() {
            let (id, t) = item?;
            view.add_purged(
                PurgedHeld {
                    id,
                    hlc: t.hlc,
                    unit: t.unit,
                    recipients: t.recipients,
                    reference: t.reference,
                    at_ms: t.at_ms,
                },
                unit.unit(),
            );
        }
        Ok(view)
    }

    /// Lists a purged event if it is this unit's (written by it or addressed to it), under
    /// its author unit's quota. Returns whether it was listed.
    pub fn add_purged(&mut self, p: PurgedHeld, own: &HsaId) -> bool {
        if (&p.unit != own && !p.recipients.contains(own)) || self.purged.contains_key(&p.id) {
            return false;
        }
        let held = self.held_by_unit.get(&p.unit).copied().unwrap_or(0);
        if held.saturating_add(PURGED_RECORD_COST) > self.unit_bytes_max {
            self.over_quota += 1;
            return false;
        }
        *self.held_by_unit.entry(p.unit.clone()).or_default() += PURGED_RECORD_COST;
        self.purged.insert(p.id, p);
        true
    }

    /// Drops an opened event whose body was just purged (its clear text goes with it) and
    /// lists it as purged under `reference`. Returns what was opened, for the caller's
    /// audit entry (it names the patient); None if the view did not hold it opened.
    pub fn drop_purged(
        &mut self,
        id: &EventId,
        reference: &str,
        at_ms: u64,
        own: &HsaId,
    ) -> Option<Opened> {
        let o = self.events.remove(id)?;
        if let Some(cost) = self.held_by_event.remove(id) {
            self.give_back(&o.unit, cost);
        }
        let keep = |ids: &mut Vec<EventId>| ids.retain(|x| x != id);
        if let Some(p) = &o.payload.patient {
            if let Some(ids) = self.by_patient.get_mut(p) {
                keep(ids);
                if ids.is_empty() {
                    self.by_patient.remove(p);
                }
            }
        }
        let docs: Vec<DocId> = o
            .doc
            .iter()
            .map(|d| d.doc)
            .chain(match &o.payload.document {
                Document::PlanNote { plan, .. } => Some(*plan),
                _ => None,
            })
            .collect();
        for d in docs {
            if let Some(ids) = self.by_doc.get_mut(&d) {
                keep(ids);
                if ids.is_empty() {
                    self.by_doc.remove(&d);
                }
            }
        }
        self.add_purged(
            PurgedHeld {
                id: *id,
                hlc: o.hlc,
                unit: o.unit.clone(),
                recipients: o.recipients.clone(),
                reference: reference.to_string(),
                at_ms,
            },
            own,
        );
        Some(o)
    }

    /// This unit's events whose body was purged here, in no order.
    pub fn purged(&self) -> impl Iterator<Item = &PurgedHeld> {
        self.purged.values()
    }

    /// Whether `id` is listed as purged here.
    pub fn is_purged(&self, id: &EventId) -> bool {
        self.purged.contains_key(id)
    }

    /// Adds a newly stored event if it is clinical and `unit` can read it. Returns whether
    /// `unit` opened its body (now or before), even if what was inside did not decode; false
    /// for an event beyond its author unit's quota, which stays sealed (see [`CareView`]).
    pub fn add(&mut self, v: &VerifiedEvent, unit: &UnitSecretKey) -> bool {
        if v.event().class == EventClass::Clinical && self.events.contains_key(&v.id()) {
            return true;
        }
        let opening = self.open(v, unit);
        self.insert(opening)
    }

    /// Opens `v` for `unit` without adding it (see [`Opening`]); what it will hold is
    /// set aside from its author unit's quota until [`CareView::insert`] takes it or
    /// [`CareView::release`] gives it back. The quota is checked before opening: beyond it
    /// nothing is decrypted.
    pub fn open(&mut self, v: &VerifiedEvent, unit: &UnitSecretKey) -> Opening {
        let e = v.event();
        if e.class == EventClass::Account {
            return open_account(v, unit);
        }
        if e.class == EventClass::Control {
            // Addressing first, from the header alone: one that is not for this unit (another
            // unit's marks, a declaration for other units) is carried, never counted
            // against the quota nor as left sealed for it.
            let Some(private) = control_for(e, unit) else {
                return Opening::NotOurs;
            };
            // Held in clear like clinical events, so under the same per-unit quota: no
            // admitted node can make this one hold more of its unit's declarations.
            let cost = v.signed().bytes.len();
            let held = self.held_by_unit.get(&e.unit).copied().unwrap_or(0);
            if held.saturating_add(cost) > self.unit_bytes_max {
                return Opening::OverQuota;
            }
            let opening = open_control(v, unit, private, cost);
            if let Opening::Control(..) = &opening {
                *self.held_by_unit.entry(e.unit.clone()).or_default() += cost;
            }
            return opening;
        }
        if e.class != EventClass::Clinical {
            return Opening::NotOurs;
        }
        if &e.unit != unit.unit() && !e.recipients.contains(unit.unit()) {
            return Opening::NotOurs;
        }
        let cost = v.signed().bytes.len();
        let held = self.held_by_unit.get(&e.unit).copied().unwrap_or(0);
        if held.saturating_add(cost) > self.unit_bytes_max {
            if self.over_quota_logged.insert(e.unit.clone()) {
                tracing::warn!(unit = %e.unit, held, max = self.unit_bytes_max, "a unit's events exceed what this node holds open for one unit: the rest stay sealed in the store, unshown (logged once)");
            }
            return Opening::OverQuota;
        }
        let payload = match v.open(unit) {
            Ok(plain) => match ClinicalPayload::decode(&plain) {
                Ok(p) => p,
                Err(reason) => {
                    tracing::warn!(event = %v.id().short(), %reason, "a clinical event's content does not decode");
                    return Opening::Undecodable;
                }
            },
            Err(reason) => {
                tracing::warn!(event = %v.id().short(), %reason, "a clinical event addressed to this unit does not open");
                return Opening::Unopenable;
            }
        };
        *self.held_by_unit.entry(e.unit.clone()).or_default() += cost;
        Opening::Opened(
            Box::new(Opened {
                id: v.id(),
                hlc: e.hlc,
                unit: e.unit.clone(),
                node: e.author,
                user: e.user.clone(),
                recipients: e.recipients.clone(),
                priority: e.priority,
                doc: e.doc.clone(),
                payload,
            }),
            cost,
        )
    }

    /// Adds what [`CareView::open`] gave, for an event now stored. Returns whether the body
    /// was opened.
    pub fn insert(&mut self, opening: Opening) -> bool {
        let (o, cost) = match opening {
            Opening::NotOurs => return false,
            Opening::Account(change) => {
                let (node, change) = *change;
                if self.account_ids.insert(change.id) {
                    self.account_changes.push((node, change));
                }
                return false;
            }
            Opening::Control(c, cost) => {
                if self.control_ids.insert(c.id) {
                    self.held_by_event.insert(c.id, cost);
                    self.controls.push(*c);
                } else {
                    self.give_back(&c.unit, cost);
                }
                return false;
            }
            Opening::OverQuota => {
                self.over_quota += 1;
                return false;
            }
            Opening::Unopenable => {
                self.unreadable += 1;
                return false;
            }
            Opening::Undecodable => {
                self.unreadable += 1;
                return true;
            }
            Opening::Opened(o, cost) => (*o, cost),
        };
        let id = o.id;
        if self.events.contains_key(&id) {
            self.give_back(&o.unit, cost);
            return true;
        }
        self.held_by_event.insert(id, cost);
        if let Some(p) = &o.payload.patient {
            self.by_patient.entry(p.clone()).or_default().push(id);
        }
        if let Some(d) = &o.doc {
            self.by_doc.entry(d.doc).or_default().push(id);
        }
        if let Document::PlanNote { plan, .. } = &o.payload.document {
            self.by_doc.entry(*plan).or_default().push(id);
        }
        self.events.insert(id, o);
        true
    }

    /// Gives back what [`CareView::open`] set aside, for an event that was not stored.
    pub fn release(&mut self, opening: Opening) {
        match opening {
            Opening::Opened(o, cost) => self.give_back(&o.unit, cost),
            Opening::Control(c, cost) => self.give_back(&c.unit, cost),
            _ => {}
        }
    }

    fn give_back(&mut self, unit: &HsaId, cost: usize) {
        if let Some(held) = self.held_by_unit.get_mut(unit) {
            *held = held.saturating_sub(cost);
        }
    }

    /// Drops the events `roster` no longer counts: those a revoked node wrote from its
    /// cut-off on (taken in before this node knew of the revocation). They stay in the store
    /// as evidence. Returns how many were dropped.
    pub fn forget_revoked(&mut self, roster: &Roster) -> usize {
        if roster.revoked.is_empty() {
            return 0;
        }
        let before = self.account_changes.len();
        self.account_changes
            .retain(|(node, c)| roster.revocation(node).is_none_or(|r| c.hlc < r.cutoff));
        let mut accounts_gone = before - self.account_changes.len();
        let (keep, gone): (Vec<ControlHeld>, Vec<ControlHeld>) = std::mem::take(&mut self.controls)
            .into_iter()
            .partition(|c| roster.revocation(&c.node).is_none_or(|r| c.hlc < r.cutoff));
        self.controls = keep;
        accounts_gone += gone.len();
        for c in gone {
            self.control_ids.remove(&c.id);
            if let Some(cost) = self.held_by_event.remove(&c.id) {
                self.give_back(&c.unit, cost);
            }
        }
        let gone: std::collections::HashSet<EventId> = self
            .events
            .values()
            .filter(|o| {
                roster
                    .revocation(&o.node)
                    .is_some_and(|r| o.hlc >= r.cutoff)
            })
            .map(|o| o.id)
            .collect();
        if gone.is_empty() {
            return accounts_gone;
        }
        for id in &gone {
            if let (Some(o), Some(cost)) = (self.events.remove(id), self.held_by_event.remove(id)) {
                if let Some(held) = self.held_by_unit.get_mut(&o.unit) {
                    *held = held.saturating_sub(cost);
                }
            }
        }
        let keep = |ids: &mut Vec<EventId>| ids.retain(|id| !gone.contains(id));
        self.by_patient.values_mut().for_each(keep);
        self.by_doc.values_mut().for_each(keep);
        self.by_patient.retain(|_, v| !v.is_empty());
        self.by_doc.retain(|_, v| !v.is_empty());
        gone.len() + accounts_gone
    }

    /// The unit's accounts by login: the fold over every account change of the unit held
    /// (see [`reservnod_proto::accounts::fold`]).
    pub fn accounts(&self) -> BTreeMap<String, AccountState> {
        let changes: Vec<Change> = self
            .account_changes
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        reservnod_proto::accounts::fold(&changes)
    }

    /// The account `login` (as stored: lower case) alone: the fold over its own changes, so
    /// a web session can re-check its account on every request without folding the others.
    pub fn account(&self, login: &str) -> Option<AccountState> {
        let changes: Vec<Change> = self
            .account_changes
            .iter()
            .filter(|(_, c)| c.payload.login == login)
            .map(|(_, c)| c.clone())
            .collect();
        reservnod_proto::accounts::fold(&changes).remove(login)
    }

    /// The outages this unit's nodes are told of (declared by it or addressed to it), in
    /// declaration order ([`reservnod_proto::outage::outages`]).
    pub fn outages(&self) -> Vec<Outage> {
        let mut declared = Vec::new();
        let mut ended = Vec::new();
        for c in &self.controls {
            match &c.payload.control {
                Control::OutageDeclared { reason } => {
                    let mut scope = vec![c.unit.clone()];
                    scope.extend(c.recipients.iter().filter(|u| **u != c.unit).cloned());
                    declared.push(Declared {
                        id: c.id,
                        hlc: c.hlc,
                        unit: c.unit.clone(),
                        scope,
                        by: c.payload.by.clone(),
                        reason: reason.clone(),
                        written_at_ms: c.payload.written_at_ms,
                    })
                }
                Control::OutageEnded { outage, note } => ended.push(Ended {
                    id: c.id,
                    outage: *outage,
                    hlc: c.hlc,
                    unit: c.unit.clone(),
                    by: c.payload.by.clone(),
                    note: note.clone(),
                    written_at_ms: c.payload.written_at_ms,
                }),
                _ => {}
            }
        }
        reservnod_proto::outage::outages(&declared, &ended)
    }

    /// This unit's re-entry marks, oldest first (every one kept: two made apart on one item
    /// are both here).
    pub fn reentry_marks(&self) -> Vec<MarkHeld<'_>> {
        let mut out: Vec<MarkHeld<'_>> = self
            .controls
            .iter()
            .filter_map(|c| match &c.payload.control {
                Control::ReentryMarked { outage, item, mark } => Some(MarkHeld {
                    held: c,
                    outage: *outage,
                    item: *item,
                    mark,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|m| (m.held.hlc, m.held.id));
        out
    }

    /// This unit's sign-offs of an outage's re-entry, oldest first, with their reasons.
    pub fn reentry_signoffs(&self, of: &EventId) -> Vec<(&ControlHeld, &str)> {
        let mut out: Vec<(&ControlHeld, &str)> = self
            .controls
            .iter()
            .filter_map(|c| match &c.payload.control {
                Control::ReentrySignedOff { outage, reason } if outage == of => {
                    Some((c, reason.as_str()))
                }
                _ => None,
            })
            .collect();
        out.sort_by_key(|(c, _)| (c.hlc, c.id));
        out
    }

    /// One event.
    pub fn get(&self, id: &EventId) -> Option<&Opened> {
        self.events.get(id)
    }

    /// Every event, in no order.
    pub fn all(&self) -> impl Iterator<Item = &Opened> {
        self.events.values()
    }

    /// How many events the view holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every patient the view holds an event about, in order.
    pub fn patients(&self) -> impl Iterator<Item = &PatientId> {
        self.by_patient.keys()
    }

    /// A patient's events, oldest first.
    pub fn patient(&self, patient: &PatientId) -> Vec<&Opened> {
        let mut out: Vec<&Opened> = self
            .by_patient
            .get(patient)
            .into_iter()
            .flatten()
            .filter_map(|id| self.events.get(id))
            .collect();
        out.sort_by_key(|o| (o.hlc, o.id));
        out
    }

    /// A patient's episodes at `now_ms`, the most recently admitted first (by the admission
    /// notice's time); episodes whose notice has not arrived come after, by their latest
    /// event. An event dated further ahead of `now_ms` than clocks may differ
    /// ([`is_future_dated`]) counts for nothing here: an episode known only from such
    /// events comes last, so a notice written "in the future" never becomes the patient's
    /// latest episode (the one a new document goes to when none is named).
    pub fn episodes(&self, patient: &PatientId, now_ms: u64) -> Vec<EpisodeId> {
        let mut rank: HashMap<EpisodeId, (u64, Hlc, EventId)> = HashMap::new();
        let mut only_future: Vec<EpisodeId> = Vec::new();
        for o in self.patient(patient) {
            let Some(ep) = o.payload.episode else {
                continue;
            };
            if is_future_dated(&o.payload, o.hlc.wall_ms, now_ms, CLOCK_AHEAD_MAX_MS) {
                if !only_future.contains(&ep) {
                    only_future.push(ep);
                }
                continue;
            }
            let admitted = match &o.payload.document {
                Document::AdmissionNotice { admitted_at_ms, .. } => *admitted_at_ms,
                // An imported chain dates its episode as its admission notice would.
                Document::Snapshot(s) => s.admitted_at_ms,
                _ => 0,
            };
            let slot = rank.entry(ep).or_insert((admitted, o.hlc, o.id));
            if admitted > 0 && (slot.0 == 0 || admitted < slot.0) {
                // The first admission notice of an episode dates it.
                slot.0 = admitted;
            }
            if (o.hlc, o.id) > (slot.1, slot.2) {
                (slot.1, slot.2) = (o.hlc, o.id);
            }
        }
        only_future.retain(|ep| !rank.contains_key(ep));
        let mut eps: Vec<(EpisodeId, (u64, Hlc, EventId))> = rank.into_iter().collect();
        eps.sort_by_key(|(ep, at)| std::cmp::Reverse((at.0, at.1, at.2, *ep)));
        eps.into_iter()
            .map(|(ep, _)| ep)
            .chain(only_future)
            .collect()
    }

    /// The versions and notes that claim a plan, oldest first.
    fn plan_members(&self, doc: &DocId) -> Vec<&Opened> {
        let mut out: Vec<&Opened> = self
            .by_doc
            .get(doc)
            .into_iter()
            .flatten()
            .filter_map(|id| self.events.get(id))
            .filter(|o| is_version_of(o, doc) || is_note_on(o, doc))
            .collect();
        out.sort_by_key(|o| (o.hlc, o.id));
        out.dedup_by_key(|o| o.id);
        out
    }

    /// A plan: its first version, its participants, the versions and notes that are part
    /// of it, those kept only as evidence, and where its versions stand.
    pub fn plan(&self, doc: &DocId) -> PlanSummary<'_> {
        let members = self.plan_members(doc);
        let trust = plan_trust(
            &members
                .iter()
                .map(|o| Member {
                    id: o.id,
                    hlc: o.hlc,
                    unit: o.unit.clone(),
                    recipients: o.recipients.clone(),
                    patient: o.payload.patient.clone(),
                    episode: o.payload.episode,
                    parents: is_version_of(o, doc)
                        .then(|| o.doc.as_ref().map(|d| d.parents.clone()))
                        .flatten(),
                })
                .collect::<Vec<_>>(),
        );
        let pick = |ids: &[EventId]| -> Vec<&Opened> {
            let mut out: Vec<&Opened> = ids.iter().filter_map(|id| self.events.get(id)).collect();
            out.sort_by_key(|o| (o.hlc, o.id));
            out
        };
        let versions = pick(&trust.versions);
        let pending = pick(&trust.pending);
        let state = if trust.first.is_some() {
            plan_state(&versions.iter().map(|o| version(o)).collect::<Vec<_>>())
        } else {
            // Nothing can be edited before the first version says what the plan is; show
            // what the held versions wait for.
            let held: Vec<Version> = pending
                .iter()
                .filter(|o| is_version_of(o, doc))
                .map(|o| version(o))
                .collect();
            PlanState {
                heads: Vec::new(),
                incomplete: Vec::new(),
                waiting: plan_state(&held).waiting,
            }
        };
        let mut untrusted: Vec<(&Opened, Untrusted)> = trust
            .untrusted
            .iter()
            .filter_map(|(id, why)| self.events.get(id).map(|o| (o, *why)))
            .collect();
        untrusted.sort_by_key(|(o, _)| (o.hlc, o.id));
        PlanSummary {
            first: trust.first.and_then(|id| self.events.get(&id)),
            participants: trust.participants,
            versions,
            notes: pick(&trust.notes),
            untrusted,
            pending,
            state,
        }
    }

    /// The versions that are part of a plan (notes excluded), oldest first.
    pub fn plan_versions(&self, doc: &DocId) -> Vec<&Opened> {
        self.plan(doc).versions
    }

    /// The notes that are part of a plan, oldest first.
    pub fn plan_notes(&self, doc: &DocId) -> Vec<&Opened> {
        self.plan(doc).notes
    }

    /// Where the versions that are part of a plan stand: one head, a conflict, or waiting.
    pub fn plan_state(&self, doc: &DocId) -> PlanState {
        self.plan(doc).state
    }

    /// The plans of a patient's episode: those whose first version names it.
    pub fn plans_of(&self, patient: &PatientId, episode: EpisodeId) -> Vec<DocId> {
        let mut docs: Vec<(Hlc, DocId)> = Vec::new();
        for o in self.patient(patient) {
            if o.payload.episode != Some(episode) {
                continue;
            }
            if let (Some(d), Document::Plan { .. }) = (&o.doc, &o.payload.document) {
                if d.parents.is_empty() && !docs.iter().any(|(_, x)| x == &d.doc) {
                    docs.push((o.hlc, d.doc));
                }
            }
        }
        docs.sort();
        docs.into_iter().map(|(_, d)| d).collect()
    }

    /// The units taking part in a patient's episode, other than `own`, as this unit can
    /// establish them: the episode's author unit (the unit that wrote its admission notice;
    /// `own` if it wrote one; none if several other units did), the units that author unit
    /// addressed in the episode, and the units `own` addressed in it. A unit that only wrote
    /// into the episode is never one of them. In the order first met, oldest event first.
    pub fn episode_participants(
        &self,
        patient: &PatientId,
        episode: EpisodeId,
        own: &HsaId,
    ) -> Vec<HsaId> {
        let events: Vec<&Opened> = self
            .patient(patient)
            .into_iter()
            .filter(|o| o.payload.episode == Some(episode))
            .collect();
        let mut noticed: Vec<&HsaId> = Vec::new();
        for o in &events {
            if matches!(o.payload.document, Document::AdmissionNotice { .. })
                && !noticed.contains(&&o.unit)
            {
                noticed.push(&o.unit);
            }
        }
        let author = if noticed.contains(&own) {
            Some(own)
        } else {
            match noticed.as_slice() {
                [one] => Some(*one),
                _ => None,
            }
        };
        let mut out: Vec<HsaId> = Vec::new();
        let mut add = |u: &HsaId| {
            if u != own && !out.contains(u) {
                out.push(u.clone());
            }
        };
        if let Some(a) = author {
            add(a);
        }
        for o in &events {
            if Some(&o.unit) == author || &o.unit == own {
                o.recipients.iter().for_each(&mut add);
            }
        }
        out
    }
}

fn is_version_of(o: &Opened, doc: &DocId) -> bool {
    o.doc.as_ref().is_some_and(|d| &d.doc == doc)
        && matches!(o.payload.document, Document::Plan { .. })
}

fn is_note_on(o: &Opened, doc: &DocId) -> bool {
    matches!(&o.payload.document, Document::PlanNote { plan, .. } if plan == doc)
}

fn version(o: &Opened) -> Version {
    Version {
        id: o.id,
        parents: o
            .doc
            .as_ref()
            .map(|d| d.parents.clone())
            .unwrap_or_default(),
        hlc: o.hlc,
    }
}

/// Opens an account event of `unit`'s own (one of another unit is not ours: it is sealed to
/// that unit alone and this node only carries it).
fn open_account(v: &VerifiedEvent, unit: &UnitSecretKey) -> Opening {
    let e = v.event();
    if &e.unit != unit.unit() {
        return Opening::NotOurs;
    }
    let payload = match v.open(unit).map(|plain| AccountPayload::decode(&plain)) {
        Ok(Ok(p)) => p,
        Ok(Err(reason)) => {
            tracing::warn!(event = %v.id().short(), %reason, "an account event's content does not decode");
            return Opening::Unopenable;
        }
        Err(reason) => {
            tracing::warn!(event = %v.id().short(), %reason, "an account event of this unit does not open");
            return Opening::Unopenable;
        }
    };
    Opening::Account(Box::new((
        e.author,
        Change {
            hlc: e.hlc,
            id: v.id(),
            payload,
        },
    )))
}

/// Whether a control event is for `unit`, by its header: `Some(false)` for a declaration or
/// end (plain) addressed to or written by it, `Some(true)` for a mark or sign-off (sealed)
/// of its own, None for anything else (carried, not ours).
fn control_for(e: &reservnod_proto::Event, unit: &UnitSecretKey) -> Option<bool> {
    let own = &e.unit == unit.unit();
    match &e.body {
        Body::Plain(_) if own || e.recipients.contains(unit.unit()) => Some(false),
        Body::Sealed(_) if own && e.recipients.is_empty() && e.doc.is_none() => Some(true),
        _ => None,
    }
}

/// Opens a control event for `unit` that [`control_for`] found ours (`private`: sealed to
/// the unit alone).
fn open_control(v: &VerifiedEvent, unit: &UnitSecretKey, private: bool, cost: usize) -> Opening {
    let e = v.event();
    let payload = match v.open(unit).map(|plain| ControlPayload::decode(&plain)) {
        Ok(Ok(p)) => p,
        Ok(Err(reason)) => {
            tracing::warn!(event = %v.id().short(), %reason, "a control event's content does not decode");
            return Opening::Unopenable;
        }
        Err(reason) => {
            tracing::warn!(event = %v.id().short(), %reason, "a control event of this unit does not open");
            return Opening::Unopenable;
        }
    };
    // A mark in clear, or a declaration sealed away from the units it concerns, is not
    // what its kind says it is: carried, never counted.
    if payload.control.is_unit_private() != private {
        tracing::warn!(event = %v.id().short(), "a control event's body is not of the form its kind needs: ignored");
        return Opening::NotOurs;
    }
    Opening::Control(
        Box::new(ControlHeld {
            id: v.id(),
            hlc: e.hlc,
            node: e.author,
            unit: e.unit.clone(),
            user: e.user.clone(),
            recipients: e.recipients.clone(),
            payload,
        }),
        cost,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reservnod_proto::care::documents::{ConsentBasis, PAYLOAD_FORMAT};
    use reservnod_proto::testkit::{region, SeededRng};

    fn payload(n: u64) -> Vec<u8> {
        ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: Some("19121212-1212".parse().expect("test number")),
            episode: Some(EpisodeId([0x11; 16])),
            written_at_ms: 1_795_000_000_000 + n,
            author: "Sara Sjöberg".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: false,
            phrases: vec![],
            document: Document::DischargeReady {
                at_ms: 1_795_000_000_000,
                physician: "Dr Lena Berg".into(),
            },
        }
        .encode()
        .expect("encode")
    }

    #[test]
    fn another_units_outage_declarations_count_against_its_quota_and_only_real_ones_count() {
        use reservnod_proto::event::{Event, EVENT_FORMAT};
        use reservnod_proto::outage::{Control, CONTROL_FORMAT};
        let r = region("view-controls");
        let declaration = |n: u64, body: Body, to: Vec<HsaId>| {
            Event {
                format: EVENT_FORMAT,
                author: r.ward.1.id(),
                unit: r.ward.0.unit().clone(),
                user: None,
                hlc: Hlc {
                    wall_ms: 1_795_000_000_000 + n,
                    logical: 0,
                },
                class: EventClass::Control,
                priority: Priority::Urgent,
                recipients: to,
                doc: None,
                body,
            }
            .sign(&r.ward.1)
            .expect("sign")
            .verify()
            .expect("verify")
        };
        let plain = |n: u64| {
            Body::Plain(
                ControlPayload {
                    format: CONTROL_FORMAT,
                    written_at_ms: n,
                    by: "Anna".into(),
                    control: Control::OutageDeclared {
                        reason: format!("LINK nere {n}"),
                    },
                }
                .encode()
                .expect("encode"),
            )
        };
        let kommun = &r.kommun.0;
        let to_kommun = vec![kommun.unit().clone()];
        let events: Vec<VerifiedEvent> = (0..20)
            .map(|n| declaration(n, plain(n), to_kommun.clone()))
            .collect();
        let one = events[0].signed().bytes.len();
        let mut view = CareView::with_unit_quota(5 * one + one / 2);
        for v in &events {
            view.add(v, kommun);
        }
        assert_eq!(view.outages().len(), 5, "the rest left aside");
        assert_eq!(view.over_quota, 15);
        // Not addressed to this unit, or not a payload: carried, never an outage here.
        let mut view = CareView::default();
        view.add(&declaration(30, plain(30), vec![]), kommun);
        view.add(
            &declaration(31, Body::Plain(b"driftstopp".to_vec()), to_kommun.clone()),
            kommun,
        );
        assert!(view.outages().is_empty());
        view.add(&declaration(32, plain(32), to_kommun.clone()), kommun);
        assert_eq!(view.outages().len(), 1);
        // With the ward's quota full, a control event not for this unit is carried as
        // not ours: it is not counted as left sealed for lack of room, nor takes any.
        let mut view = CareView::with_unit_quota(5 * one + one / 2);
        for v in &events[..5] {
            view.add(v, kommun);
        }
        assert_eq!(view.over_quota, 0);
        let held = view.held_by_unit.clone();
        for n in 40..45 {
            assert!(matches!(
                view.open(&declaration(n, plain(n), vec![]), kommun),
                Opening::NotOurs
            ));
        }
        assert_eq!(view.over_quota, 0);
        assert_eq!(view.held_by_unit, held);
        // One that is for it still finds the quota full.
        assert!(matches!(
            view.open(&declaration(50, plain(50), to_kommun), kommun),
            Opening::OverQuota
        ));
    }

    #[test]
    fn one_author_unit_cannot_fill_the_view_beyond_its_quota() {
        let r = region("view-quota");
        let mut rng = SeededRng::new("view-quota events");
        let events: Vec<VerifiedEvent> = (0..40u64)
            .map(|n| {
                let hlc = Hlc {
                    wall_ms: 1_795_000_000_000 + n,
                    logical: 0,
                };
                r.clinical(&mut rng, &payload(n), hlc)
                    .sign(&r.ward.1)
                    .expect("sign")
                    .verify()
                    .expect("verify")
            })
            .collect();
        let one = events[0].signed().bytes.len();
        let quota = 10 * one + one / 2;
        let kommun = &r.kommun.0;
        let mut view = CareView::with_unit_quota(quota);
        let opened: Vec<bool> = events.iter().map(|v| view.add(v, kommun)).collect();
        // Ten fit; the rest stay sealed, unshown, with no Delivered receipt (add says false).
        assert_eq!(opened.iter().filter(|o| **o).count(), 10, "{opened:?}");
        assert_eq!(view.len(), 10);
        assert_eq!(view.over_quota, 30);
        assert!(view.held_by_unit.values().all(|held| *held <= quota));
        // Those it holds it still shows; an event it holds is not counted twice.
        assert!(view.add(&events[0], kommun));
        assert_eq!(view.len(), 10);
        assert!(view.get(&events[0].id()).is_some());
        assert!(view.get(&events[39].id()).is_none());
        // The default quota holds a unit's ordinary volume.
        let mut roomy = CareView::default();
        assert!(events.iter().all(|v| roomy.add(v, kommun)));
        assert_eq!(roomy.over_quota, 0);
    }
}
