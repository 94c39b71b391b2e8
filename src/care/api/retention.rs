//! Retention on the node (issue 13 §6, PROTOCOL.md §5.7): what the node knows for
//! `reservnod_proto::retention::purge_under`, the purge pass the daemon runs a bounded step
//! at a time, the arrival rule the ingest pipeline asks, and the status line.
//!
//! The rule is proto's and pure; this module only gathers what it asks about from the
//! store (Delivered receipts) and the view (outages held, this unit's re-entry), removes
//! the bodies it names (`Store::purge_body`), drops them from the view, and writes the
//! access-log entry first (the node itself, the decision's reference, how many, the
//! patients whose documents went: the access log may name patients, log lines never do).

use std::collections::{BTreeMap, HashMap, HashSet};

use reservnod_proto::care::receipts::{Receipt, ReceiptKind};
use reservnod_proto::event::{Event, EventClass};
use reservnod_proto::outage::{attach, Outage};
use reservnod_proto::retention::{purge_under, Candidate, Knowledge, PurgeDecision};
use reservnod_proto::{Body, EventId, Hlc, HsaId, PatientId, Roster, VerifiedEvent};

use super::caller::Caller;
use super::common::audit_patients;
use super::outage::{item_settled, reentry_closed};
use super::types::{ApiError, CareNode};
use crate::care::view::{CareView, PurgedHeld};
use crate::store::{AuditAction, Store, StoreError};

/// What one step of the purge pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeStep {
    /// Bodies removed, by decision reference.
    pub purged: BTreeMap<String, usize>,
    /// Where the next step goes on (None: the walk reached the end, start over).
    pub next: Option<(Hlc, EventId)>,
}

impl PurgeStep {
    /// Bodies removed in this step.
    pub fn total(&self) -> usize {
        self.purged.values().sum()
    }
}

/// What the node knows of one candidate.
struct Knows<'a> {
    own: &'a HsaId,
    closed: &'a [(EventId, bool)],
    /// An arriving event is not in the view's re-entry list yet: the list stays closed
    /// only if the event itself is marked or the rest signed off.
    arriving: Option<(&'a CareView, EventId)>,
    delivered: HashSet<HsaId>,
}

impl Knowledge for Knows<'_> {
    fn own_unit(&self) -> &HsaId {
        self.own
    }
    fn own_reentry_closed(&self, outage: &EventId) -> bool {
        let closed = self
            .closed
            .iter()
            .any(|(id, closed)| id == outage && *closed);
        match self.arriving {
            Some((view, item)) => closed && item_settled(view, outage, &item),
            None => closed,
        }
    }
    fn delivered_to(&self, unit: &HsaId) -> bool {
        self.delivered.contains(unit)
    }
}

/// The units known to hold `e` (id `id`): its author's unit and every unit a Delivered
/// receipt of one of its own nodes (by the roster) says so for, stored or in `batch`.
fn holders(
    store: &Store,
    roster: &Roster,
    id: &EventId,
    e: &Event,
    batch: &[(EventId, HsaId)],
) -> Result<HashSet<HsaId>, StoreError> {
    let mut units = HashSet::from([e.unit.clone()]);
    for (node, r) in store.receipts_by_author_for(id)? {
        if r.kind == ReceiptKind::Delivered && roster.node(&node).is_some_and(|n| n.unit == r.unit)
        {
            units.insert(r.unit);
        }
    }
    units.extend(
        batch
            .iter()
            .filter(|(target, _)| target == id)
            .map(|(_, u)| u.clone()),
    );
    Ok(units)
}

/// The decision `purge_under` names for `e`, if any.
#[allow(clippy::too_many_arguments)]
fn decision_for<'d>(
    decisions: &'d [PurgeDecision],
    e: &Event,
    outages: &[Outage],
    knows: &Knows<'_>,
    days: Option<u32>,
    now_ms: u64,
) -> Option<&'d PurgeDecision> {
    // As `Header::seal_units`: the recipients and the author's unit.
    let mut seal_units: Vec<HsaId> = e.recipients.clone();
    if !seal_units.contains(&e.unit) {
        seal_units.push(e.unit.clone());
    }
    let candidate = Candidate {
        class: e.class,
        hlc: e.hlc,
        seal_units: &seal_units,
        outage: attach(outages, e.hlc).map(|(i, _)| outages[i].declared.id),
    };
    purge_under(decisions, &candidate, knows, days, now_ms)
}

/// Whether some decision covers `e` and lists every unit it is sealed to (the part of
/// `purge_under` that needs nothing of the node's state).
fn may_be_covered(decisions: &[PurgeDecision], e: &Event, outages: &[Outage]) -> bool {
    let outage = attach(outages, e.hlc).map(|(i, _)| outages[i].declared.id);
    outage.is_some()
        && decisions.iter().any(|d| {
            d.covers(e.hlc, outage.as_ref())
                && d.units.contains(&e.unit)
                && e.recipients.iter().all(|u| d.units.contains(u))
        })
}

/// One step of the purge pass: looks at up to `max` stored events after `after` (the
/// store's (hlc, id) order) and removes the body of each that `purge_under` names a
/// decision for, after one access-log entry per decision (by the node itself, naming the
/// patients of the documents whose bodies go). Does nothing while purging is off
/// (`[retention] purge_after_days` unset) or the roster holds no decision.
pub fn purge_step(
    node: &dyn CareNode,
    after: Option<(Hlc, EventId)>,
    max: usize,
) -> Result<PurgeStep, ApiError> {
    let roster = node.roster();
    let days = node.purge_after_days();
    if days.is_none() || roster.purge_decisions.is_empty() {
        return Ok(PurgeStep::default());
    }
    let now = node.now_ms();
    let own = node.unit_key().unit().clone();
    let store = node.store();
    let (events, next) = store.clinical_after(after, max)?;
    // The receipts are read before the view's lock is taken (ingest waits on it).
    let mut held = Vec::with_capacity(events.len());
    for (id, e) in events {
        let delivered = holders(store, &roster, &id, &e, &[])?;
        held.push((id, e, delivered));
    }
    // By decision: (id, the patient if this unit opened it).
    let mut due: BTreeMap<String, Vec<(EventId, Option<PatientId>)>> = BTreeMap::new();
    {
        let view = node.view();
        let outages = view.outages();
        let mut closed: Option<Vec<(EventId, bool)>> = None;
        for (id, e, delivered) in held {
            if !may_be_covered(&roster.purge_decisions, &e, &outages) {
                continue;
            }
            let closed = closed.get_or_insert_with(|| reentry_closed(&view, &outages));
            let knows = Knows {
                own: &own,
                closed,
                arriving: None,
                delivered,
            };
            if let Some(d) = decision_for(&roster.purge_decisions, &e, &outages, &knows, days, now)
            {
                let patient = view.get(&id).and_then(|o| o.payload.patient.clone());
                due.entry(d.reference.clone())
                    .or_default()
                    .push((id, patient));
            }
        }
    }
    let mut step = PurgeStep {
        next,
        ..PurgeStep::default()
    };
    let caller = Caller::node_itself("gallring");
    for (reference, items) in due {
        let patients: Vec<PatientId> = items.iter().filter_map(|(_, p)| p.clone()).collect();
        audit_patients(
            node,
            &caller,
            AuditAction::Purged,
            patients,
            None,
            &format!(
                "gallrat enligt {reference}: innehållet i {} händelser borttaget (huvudena kvar)",
                items.len()
            ),
        )?;
        let mut n = 0;
        for (id, _) in &items {
            if store.purge_body(id, &reference, now)? {
                node.view().drop_purged(id, &reference, now, &own);
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(reference = %reference, purged = n, "purged the bodies a purge decision covers");
            step.purged.insert(reference, n);
        }
    }
    Ok(step)
}

/// The events of a batch arriving at this node that a purge decision already covers here
/// (id → the decision's reference): they are stored without their body and never opened.
/// `batch` is what the ingest pipeline is about to store; its Delivered receipts count.
#[allow(clippy::too_many_arguments)]
pub fn purged_on_arrival(
    store: &Store,
    roster: &Roster,
    view: &CareView,
    own: &HsaId,
    batch: &[VerifiedEvent],
    days: Option<u32>,
    now_ms: u64,
) -> Result<HashMap<EventId, String>, StoreError> {
    let mut out = HashMap::new();
    if days.is_none() || roster.purge_decisions.is_empty() {
        return Ok(out);
    }
    if !batch
        .iter()
        .any(|v| v.event().class == EventClass::Clinical)
    {
        return Ok(out);
    }
    let receipts: Vec<(EventId, HsaId)> = batch
        .iter()
        .filter_map(|v| {
            let e = v.event();
            let Body::Plain(body) = &e.body else {
                return None;
            };
            if e.class != EventClass::Receipt {
                return None;
            }
            let r = Receipt::decode(body).ok()?;
            (r.kind == ReceiptKind::Delivered && r.unit == e.unit).then_some((r.event, r.unit))
        })
        .collect();
    let outages = view.outages();
    if outages.is_empty() {
        return Ok(out);
    }
    // The re-entry walk is over the whole view: done only once some event of the batch
    // is one a decision could cover at all (a catch-up of ordinary events costs nothing).
    let mut closed: Option<Vec<(EventId, bool)>> = None;
    for v in batch {
        let e = v.event();
        if e.class != EventClass::Clinical || !may_be_covered(&roster.purge_decisions, e, &outages)
        {
            continue;
        }
        let closed = closed.get_or_insert_with(|| reentry_closed(view, &outages));
        let id = v.id();
        let knows = Knows {
            own,
            closed,
            arriving: Some((view, id)),
            delivered: holders(store, roster, &id, e, &receipts)?,
        };
        if let Some(d) = decision_for(&roster.purge_decisions, e, &outages, &knows, days, now_ms) {
            out.insert(id, d.reference.clone());
        }
    }
    Ok(out)
}

/// What the view lists of an event stored without its body on arrival.
pub fn purged_record(v: &VerifiedEvent, reference: &str, at_ms: u64) -> PurgedHeld {
    let e = v.event();
    PurgedHeld {
        id: v.id(),
        hlc: e.hlc,
        unit: e.unit.clone(),
        recipients: e.recipients.clone(),
        reference: reference.to_string(),
        at_ms,
    }
}

/// The line `reservnod status` shows while a purge decision is in the roster: how many
/// bodies this node has purged, under which references, and whether purging is on here.
/// None without a decision. No patient data.
pub fn purge_status_line(node: &dyn CareNode) -> Result<Option<String>, ApiError> {
    let roster = node.roster();
    if roster.purge_decisions.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&str> = roster
        .purge_decisions
        .iter()
        .map(|d| d.reference.as_str())
        .collect();
    let refs = refs.join(", ");
    Ok(Some(match node.purge_after_days() {
        None => format!(
            "Gallringsbeslut {refs}: gallring är avstängd på den här noden (retention.purge_after_days saknas)."
        ),
        Some(days) => format!(
            "Gallringsbeslut {refs}: {} händelser gallrade här (innehållet borttaget {days} dagar efter beslutet, när efterregistreringen är stängd).",
            node.store().purged_count()?
        ),
    }))
}
