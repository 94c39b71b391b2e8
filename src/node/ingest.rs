//! The one ingest pipeline. Every way an event enters a node goes through [`take_in`]
//! (called by `Node::ingest_blocking`): a peer's `Events` frame, a write of the staff's
//! operations (the daemon's or the offline CLI's), `NodeHandle::write`, a bundle import, and
//! the receipts a node owes when it starts. It needs of the node only [`Context`], so it
//! never names the node that calls it.
//!
//! ```text
//! verify (strict, one by one) ─► authorize (roster; a carrier's link) ─► claim what is new
//!   ─► open what is this unit's (once) ─► a Delivered for each new clinical event addressed
//!      to this unit that opened and has none from this unit
//!   ─► store the events and those receipts in ONE atomic, flushed batch
//!   ─► into the view ─► what must be pushed, returned as data ([`Push`])
//! ```
//! The caller pushes: the daemon queues it on its connections (forwarded only once durable);
//! offline there are none, and the daemon spreads what was written through reconciliation
//! when it starts. A crash leaves an event with its Delivered or neither, and a node that
//! starts writes any Delivered it owes (found while its view is built), so a receipt is never
//! lost.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use reservnod_proto::event::Reject;
use reservnod_proto::{
    EventId, Hlc, HsaId, NodeId, NodeKey, Priority, Roster, SignedEvent, UnitSecretKey,
    VerifiedEvent,
};

use crate::care::delivered;
use crate::care::view::{CareView, Opening};
use crate::clock::now_ms;
use crate::store::{Store, StoreError};

/// What the pipeline needs of a node.
pub trait Context {
    /// The store.
    fn store(&self) -> &Store;
    /// The roster in force.
    fn roster(&self) -> Arc<Roster>;
    /// This node's key (it signs the receipts).
    fn node_key(&self) -> &NodeKey;
    /// This node's unit key (it opens what is addressed to the unit).
    fn unit_key(&self) -> &UnitSecretKey;
    /// A timestamp for an event written now.
    fn tick(&self) -> Hlc;
    /// The opened events of this unit.
    fn view(&self) -> MutexGuard<'_, CareView>;
    /// The events batches are storing right now.
    fn in_flight(&self) -> &Mutex<HashSet<EventId>>;
    /// `[retention] purge_after_days` (None: never purge): an event a purge decision
    /// already covers here is stored without its body.
    fn purge_after_days(&self) -> Option<u32>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Verified events the roster admits, and what it refused.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Verified and authorized.
    pub accepted: Vec<VerifiedEvent>,
    /// Refused, with the reason.
    pub refused: Vec<Reject>,
    /// The reconciliation keys of the refused events that verified (the roster refused
    /// them), and whether each is urgent.
    pub refused_keys: Vec<(Hlc, EventId, bool)>,
}

/// Verifies each event strictly and authorizes it against `roster` (an event `carrier`
/// handed over an authenticated link by [`Roster::authorize_carried`]). Stores nothing: the
/// first step of [`take_in`], public for benchmarks and tests that fill a store.
pub fn admit(roster: &Roster, events: &[SignedEvent], carrier: Option<&NodeId>) -> Admitted {
    let mut out = Admitted {
        accepted: Vec::with_capacity(events.len()),
        ..Admitted::default()
    };
    for se in events {
        let v = match se.verify() {
            Ok(v) => v,
            Err(reason) => {
                out.refused.push(reason);
                continue;
            }
        };
        match roster.authorize_carried(&v, carrier) {
            Ok(()) => out.accepted.push(v),
            Err(reason) => {
                let e = v.event();
                out.refused_keys
                    .push((e.hlc, v.id(), e.priority == Priority::Urgent));
                out.refused.push(reason);
            }
        }
    }
    out
}

/// What the pipeline did with one batch.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// Events of the batch newly stored (durable), with their priority.
    pub stored: Vec<(EventId, Priority)>,
    /// What this node wrote in answer in the same batch (Delivered receipts).
    pub answers: Vec<(EventId, Priority)>,
    /// Already present (stored, earlier in the batch, or being stored by another batch).
    pub duplicates: usize,
    /// Stored without their body: a purge decision already covered them here (not in
    /// `stored`, since there is nothing to send on).
    pub purged_on_arrival: usize,
    /// Refused, with the reason.
    pub refused: Vec<Reject>,
    /// The reconciliation keys of the refused events that verified (the roster refused
    /// them), and whether each is urgent.
    pub refused_keys: Vec<(Hlc, EventId, bool)>,
}

/// What must be sent on once a batch is durable.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Push {
    /// The batch's newly stored events: to every peer but `except`.
    pub forward: Vec<(EventId, Priority)>,
    /// The peer they came from.
    pub except: Option<NodeId>,
    /// What this node wrote in answer: to every peer, the sender's too.
    pub answers: Vec<(EventId, Priority)>,
}

/// Ids a batch in progress is storing; let go when it is dropped (after the store write),
/// so a concurrent batch carrying the same event counts it as a duplicate and writes no
/// second Delivered for it.
struct Claim<'a> {
    in_flight: &'a Mutex<HashSet<EventId>>,
    ids: Vec<EventId>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(self.in_flight);
        for id in &self.ids {
            in_flight.remove(id);
        }
    }
}

/// The pipeline on the calling thread (it blocks on the store): verifies, authorizes and
/// stores `events` with the Delivered receipts they cause, in one atomic batch, and adds
/// them to the view. `from` is the peer that sent them, if any. Returns what happened and
/// what must be pushed; it pushes nothing itself.
pub fn take_in(
    node: &impl Context,
    events: &[SignedEvent],
    from: Option<NodeId>,
) -> Result<(IngestOutcome, Push), StoreError> {
    let roster = node.roster();
    let admitted = admit(&roster, events, from.as_ref());
    let mut outcome = IngestOutcome {
        refused: admitted.refused,
        refused_keys: admitted.refused_keys,
        ..IngestOutcome::default()
    };
    let (mut batch, claim) = claim(node, admitted.accepted, &mut outcome.duplicates)?;
    // Each new body opened once: Delivered follows what opened, and the view takes it.
    // What a purge decision already covers here is neither opened nor stored with its
    // body (PROTOCOL.md §5.7): a peer, a bundle or a long-offline node never brings it back.
    let now = now_ms();
    let (purge, openings): (HashMap<EventId, String>, Vec<Opening>) = {
        let mut view = node.view();
        let purge = crate::care::api::purged_on_arrival(
            node.store(),
            &roster,
            &view,
            node.unit_key().unit(),
            &batch,
            node.purge_after_days(),
            now,
        )?;
        let openings = batch
            .iter()
            .map(|v| {
                if purge.contains_key(&v.id()) {
                    Opening::NotOurs
                } else {
                    view.open(v, node.unit_key())
                }
            })
            .collect();
        (purge, openings)
    };
    let receipts = delivered_for(node, &roster, &batch, &openings)?;
    let n = batch.len();
    batch.extend(receipts);
    // One atomic, flushed write: an event and the Delivered it causes are stored together
    // or not at all.
    let report = match node.store().insert_purging(&batch, &purge, now) {
        Ok(report) => report,
        Err(e) => {
            let mut view = node.view();
            openings.into_iter().for_each(|o| view.release(o));
            return Err(e);
        }
    };
    let stored: HashSet<EventId> = report.new.iter().copied().collect();
    debug_assert_eq!(stored.len(), batch.len(), "claimed events are new");
    let receipts = batch.split_off(n);
    {
        // Into the view at once: what is stored must be shown, whatever fails after.
        let mut view = node.view();
        for (v, opening) in batch.iter().zip(openings) {
            if !stored.contains(&v.id()) {
                view.release(opening);
            } else if let Some(reference) = purge.get(&v.id()) {
                view.add_purged(
                    crate::care::api::purged_record(v, reference, now),
                    node.unit_key().unit(),
                );
            } else {
                view.insert(opening);
            }
        }
    }
    drop(claim);
    if !purge.is_empty() {
        audit_purged_on_arrival(node, &purge, now);
    }
    let keys = |events: &[VerifiedEvent]| -> Vec<(EventId, Priority)> {
        events
            .iter()
            .filter(|v| stored.contains(&v.id()))
            .map(|v| (v.id(), v.event().priority))
            .collect()
    };
    outcome.stored = keys(&batch);
    outcome.answers = keys(&receipts);
    // Held without a body: nothing to send on (no peer is answered with it either).
    outcome.stored.retain(|(id, _)| !purge.contains_key(id));
    outcome.purged_on_arrival = purge.len();
    let push = Push {
        forward: outcome.stored.clone(),
        except: from,
        answers: outcome.answers.clone(),
    };
    Ok((outcome, push))
}

/// The access-log entry of events taken in without their body, one per decision: by the
/// node itself, no patient (the bodies were never opened). A failure to write it is logged
/// (the events are stored by then, and hold nothing in clear).
fn audit_purged_on_arrival(node: &impl Context, purge: &HashMap<EventId, String>, now: u64) {
    let mut by_ref: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in purge.values() {
        *by_ref.entry(r.as_str()).or_default() += 1;
    }
    for (reference, n) in by_ref {
        let entry = crate::store::AuditEntry {
            unit: Some(node.unit_key().unit().clone()),
            name: Some("noden själv (gallring)".into()),
            via: Some("node".into()),
            ..crate::store::AuditEntry::new(
                now,
                node.node_key().id(),
                crate::store::AuditAction::Purged,
                format!(
                    "gallrat enligt {reference}: {n} händelser togs emot utan innehåll (huvudena kvar)"
                ),
            )
        };
        if let Err(e) = node.store().append_audit(&entry) {
            tracing::error!(error = %e, "cannot write the access-log entry of events taken in without their body");
        }
    }
}

/// The accepted events no one has stored or is storing, claimed for this batch; the others
/// are counted in `duplicates`.
fn claim<'a>(
    node: &'a impl Context,
    accepted: Vec<VerifiedEvent>,
    duplicates: &mut usize,
) -> Result<(Vec<VerifiedEvent>, Claim<'a>), StoreError> {
    // Declared before the guard, so on an error the guard is let go first.
    let mut claim = Claim {
        in_flight: node.in_flight(),
        ids: Vec::new(),
    };
    let mut in_flight = lock(node.in_flight());
    let mut new = Vec::with_capacity(accepted.len());
    for v in accepted {
        let id = v.id();
        if in_flight.contains(&id) || node.store().contains(&id)? {
            *duplicates += 1;
            continue;
        }
        in_flight.insert(id);
        claim.ids.push(id);
        new.push(v);
    }
    drop(in_flight);
    Ok((new, claim))
}

/// The Delivered receipts `batch` causes (see [`delivered::delivered_receipts`]), verified
/// and authorized like any event.
fn delivered_for(
    node: &impl Context,
    roster: &Roster,
    batch: &[VerifiedEvent],
    openings: &[Opening],
) -> Result<Vec<VerifiedEvent>, StoreError> {
    let unit = node.unit_key().unit();
    let opened: Vec<&VerifiedEvent> = batch
        .iter()
        .zip(openings)
        .filter(|(v, o)| o.opened() && delivered::owed_by(unit, v.event()))
        .map(|(v, _)| v)
        .collect();
    if opened.is_empty() {
        return Ok(Vec::new());
    }
    let here: HashSet<EventId> = batch
        .iter()
        .filter_map(|v| delivered::delivered_by(unit, v))
        .collect();
    let signed = delivered::delivered_receipts(
        node.node_key(),
        node.unit_key(),
        node.store(),
        &opened,
        &here,
        now_ms(),
        || node.tick(),
    )?;
    Ok(own(roster, &signed))
}

/// This node's own events, verified and authorized like any other; if its roster refuses
/// them (the node is not admitted), they are logged and not written.
fn own(roster: &Roster, signed: &[SignedEvent]) -> Vec<VerifiedEvent> {
    let admitted = admit(roster, signed, None);
    if let Some(reason) = admitted.refused.first() {
        tracing::warn!(%reason, refused = admitted.refused.len(), "this node's own receipts are refused by its roster and not written");
    }
    admitted.accepted
}

/// The Delivered receipts this node owes for `events` (stored events addressed to its unit
/// that it opened and that have none from its unit: a receipt lost to a crash before this
/// pipeline, or an import by an older version), signed, to be taken in like any event.
pub fn owed_receipts(
    node: &impl Context,
    events: &[EventId],
) -> Result<Vec<SignedEvent>, StoreError> {
    let roster = node.roster();
    let mut signed = Vec::with_capacity(events.len());
    for se in node.store().get_many(events)? {
        let Ok(v) = se.verify() else { continue };
        let e = v.event();
        // What a revoked node wrote from its cut-off on is not counted, so not acknowledged.
        if roster
            .revocation(&e.author)
            .is_some_and(|r| e.hlc >= r.cutoff)
        {
            continue;
        }
        match delivered::delivered(
            node.node_key(),
            node.unit_key(),
            v.id(),
            e.priority,
            &e.unit,
            now_ms(),
            node.tick(),
        ) {
            Ok(r) => signed.push(r),
            Err(reason) => tracing::warn!(%reason, "could not sign a receipt"),
        }
    }
    Ok(signed)
}

/// What a node owes, found while its view is built: the clinical events addressed to its
/// unit that it opened, less those a Delivered of its unit acknowledges.
#[derive(Default)]
pub struct Owed {
    opened: HashSet<EventId>,
    delivered: HashSet<EventId>,
}

impl Owed {
    /// Takes in one event the view build read.
    pub fn see(&mut self, unit: &HsaId, v: &VerifiedEvent, opened: bool) {
        if let Some(acknowledged) = delivered::delivered_by(unit, v) {
            if !self.opened.remove(&acknowledged) {
                self.delivered.insert(acknowledged);
            }
        } else if opened && delivered::owed_by(unit, v.event()) && !self.delivered.contains(&v.id())
        {
            self.opened.insert(v.id());
        }
    }

    /// The events still owed a Delivered.
    pub fn into_events(self) -> Vec<EventId> {
        let mut out: Vec<EventId> = self.opened.into_iter().collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::datadir::DataDir;
    use crate::node::{Node, Settings};
    use reservnod_proto::care::receipts::ReceiptKind;
    use reservnod_proto::roster::NodeEntry;
    use reservnod_proto::testkit::{region, Region, SeededRng};

    /// The municipality's data directory, its node admitted by the region's roster.
    fn kommun_dir(r: &mut Region, root: &std::path::Path) -> DataDir {
        let dir = DataDir::new(root.join("kommun"));
        let init = dir
            .init(&r.kommun.0.to_file_text(), None)
            .expect("node init");
        r.roster.nodes.push(NodeEntry {
            id: init.node.id(),
            unit: r.kommun.0.unit().clone(),
            name: "Kommunens nod".into(),
        });
        let signed = r.roster.sign(&r.admin).expect("sign roster");
        dir.install_roster(&signed).expect("install roster");
        dir
    }

    fn open(dir: &DataDir) -> Node {
        Node::open(dir.clone(), Settings::default())
            .expect("open node")
            .0
    }

    /// A sealed message from the ward to the municipality (and primary care).
    fn from_ward(r: &Region, rng: &mut SeededRng, wall_ms: u64) -> SignedEvent {
        use reservnod_proto::care::documents::{
            ClinicalPayload, ConsentBasis, Document, MessageKind, PAYLOAD_FORMAT,
        };
        let payload = ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: None,
            episode: None,
            written_at_ms: wall_ms,
            author: "Sara Sjöberg".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: true,
            phrases: vec![],
            document: Document::Message {
                kind: MessageKind::Question,
                subject: "Fråga".into(),
                text: "Hur går det?".into(),
                answer_by_ms: None,
                reply_to: None,
            },
        }
        .encode()
        .expect("encode");
        r.clinical(
            rng,
            &payload,
            Hlc {
                wall_ms,
                logical: 0,
            },
        )
        .sign(&r.ward.1)
        .expect("sign")
    }

    fn delivered_by_kommun(node: &Node, id: &EventId) -> usize {
        node.store()
            .receipts_for(id)
            .expect("receipts")
            .iter()
            .filter(|r| r.kind == ReceiptKind::Delivered && &r.unit == node.unit_key().unit())
            .count()
    }

    #[test]
    fn an_event_twice_in_one_batch_is_new_once_with_one_delivered() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = region("twice");
        let dir = kommun_dir(&mut r, tmp.path());
        let node = open(&dir);
        let se = from_ward(&r, &mut SeededRng::new("twice"), 1);
        let (out, push) = take_in(&node, &[se.clone(), se.clone()], None).expect("ingest");
        assert_eq!(
            (out.stored.len(), out.answers.len(), out.duplicates),
            (1, 1, 1)
        );
        assert_eq!(delivered_by_kommun(&node, &se.id()), 1);
        // The same event again: a duplicate, no second receipt.
        let (again, _) = take_in(&node, std::slice::from_ref(&se), None).expect("ingest");
        assert_eq!(
            (again.stored.len(), again.answers.len(), again.duplicates),
            (0, 0, 1)
        );
        assert_eq!(delivered_by_kommun(&node, &se.id()), 1);
        assert_eq!(push.forward, out.stored);
        assert_eq!(push.answers, out.answers);
    }

    #[test]
    fn the_delivered_is_stored_with_its_event_and_the_view_shows_the_event() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = region("together");
        let dir = kommun_dir(&mut r, tmp.path());
        let node = open(&dir);
        let peer = r.vc.1.id();
        let se = from_ward(&r, &mut SeededRng::new("together"), 1);
        let (out, push) = take_in(&node, std::slice::from_ref(&se), Some(peer)).expect("ingest");
        let priority = se.verify().expect("verify").event().priority;
        assert_eq!(out.stored, vec![(se.id(), priority)]);
        assert_eq!(out.answers.len(), 1);
        assert!(node.store().contains(&out.answers[0].0).expect("contains"));
        assert_eq!(delivered_by_kommun(&node, &se.id()), 1);
        assert!(node.view().get(&se.id()).is_some());
        // What arrived goes on to all but the sender; the answer to all.
        assert_eq!(push.except, Some(peer));
        assert_eq!(push.answers, out.answers);
    }

    #[test]
    fn a_delivered_of_the_unit_arriving_with_its_event_is_enough() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = region("other-node");
        let dir = kommun_dir(&mut r, tmp.path());
        let node = open(&dir);
        let se = from_ward(&r, &mut SeededRng::new("other-node"), 1);
        let v = se.verify().expect("verify");
        // The region's own municipal node (another node of the same unit) already said so.
        let theirs = delivered::delivered(
            &r.kommun.1,
            &r.kommun.0,
            v.id(),
            v.event().priority,
            &v.event().unit,
            2,
            Hlc {
                wall_ms: 2,
                logical: 0,
            },
        )
        .expect("receipt");
        let (out, _) = take_in(&node, &[se.clone(), theirs], None).expect("ingest");
        assert_eq!((out.stored.len(), out.answers.len()), (2, 0));
        assert_eq!(delivered_by_kommun(&node, &se.id()), 1);
    }

    #[test]
    fn a_node_that_starts_writes_the_delivered_it_owes_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = region("owed");
        let dir = kommun_dir(&mut r, tmp.path());
        let mut rng = SeededRng::new("owed");
        let events: Vec<SignedEvent> = (1..=3).map(|i| from_ward(&r, &mut rng, i)).collect();
        {
            // What a crash between the event and its receipt left (or an older import).
            let store = dir.open_store().expect("store");
            let admitted = admit(&r.roster, &events, None);
            store.insert(&admitted.accepted).expect("insert");
        }
        let node = open(&dir);
        for e in &events {
            assert_eq!(delivered_by_kommun(&node, &e.id()), 1, "owed and written");
        }
        drop(node);
        let node = open(&dir);
        for e in &events {
            assert_eq!(delivered_by_kommun(&node, &e.id()), 1, "never twice");
        }
    }

    #[test]
    fn refused_events_are_reported_and_nothing_is_stored() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = region("refused");
        let dir = kommun_dir(&mut r, tmp.path());
        let node = open(&dir);
        // Signed by a node the roster does not know.
        let mut e = r.clinical(&mut SeededRng::new("refused"), b"x", Hlc::default());
        e.author = r.outsider.1.id();
        e.doc = None;
        let se = e.sign(&r.outsider.1).expect("sign");
        let (out, push) = take_in(&node, std::slice::from_ref(&se), None).expect("ingest");
        assert_eq!((out.stored.len(), out.refused.len()), (0, 1));
        assert!(!node.store().contains(&se.id()).expect("contains"));
        assert_eq!(push, Push::default());
    }
}
