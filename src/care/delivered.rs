//! Delivered receipts: what a node does on its own when clinical events arrive.
//!
//! When this node stores a clinical event addressed to its unit and can open it, it writes a
//! signed `Receipt::Delivered` back to the author's unit, once per event and unit (a node of
//! the same unit that already sent one is enough). The receipt is written in the same
//! atomic batch as the event it acknowledges (see `node::ingest`), and a node that starts
//! writes any it owes; then it is an ordinary event: pushed and reconciled like any other.

use std::collections::HashSet;

use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
use reservnod_proto::event::{Body, Event, EventClass, EVENT_FORMAT};
use reservnod_proto::{
    EventId, Hlc, HsaId, NodeKey, Priority, SignedEvent, UnitSecretKey, VerifiedEvent,
};

use crate::store::{Store, StoreError};

/// Whether `unit` owes a Delivered for `e` once it has stored and opened it: a clinical
/// event addressed to it.
pub fn owed_by(unit: &HsaId, e: &Event) -> bool {
    e.class == EventClass::Clinical && e.recipients.contains(unit)
}

/// The event `v` says `unit` has delivered, if `v` is a Delivered receipt written for
/// `unit` (by one of its nodes).
pub fn delivered_by(unit: &HsaId, v: &VerifiedEvent) -> Option<EventId> {
    let e = v.event();
    if e.class != EventClass::Receipt || &e.unit != unit {
        return None;
    }
    let Body::Plain(body) = &e.body else {
        return None;
    };
    let r = Receipt::decode(body).ok()?;
    (r.kind == ReceiptKind::Delivered && &r.unit == unit).then_some(r.event)
}

/// A Delivered receipt from `unit` for the event `event` that `to`'s node wrote with
/// `priority` (an urgent message's receipt travels as urgently as the message did).
pub fn delivered(
    node: &NodeKey,
    unit: &UnitSecretKey,
    event: EventId,
    priority: Priority,
    to: &HsaId,
    now_ms: u64,
    hlc: Hlc,
) -> Result<SignedEvent, String> {
    let receipt = Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Delivered,
        event,
        unit: unit.unit().clone(),
        by: None,
        at_ms: now_ms,
    };
    receipt_event(node, &receipt, priority, to, None, hlc)
}

/// Receipts to write for newly stored events: Delivered for each clinical event addressed
/// to `unit` among `opened` (the events this node has just opened with the unit's key: the
/// view opens each body once, and Delivered means stored *and* opened) that has no Delivered
/// from `unit` yet, in the store or among `delivered_here` (the Delivered receipts of
/// `unit` arriving with them).
pub fn delivered_receipts(
    node: &NodeKey,
    unit: &UnitSecretKey,
    store: &Store,
    opened: &[&VerifiedEvent],
    delivered_here: &HashSet<EventId>,
    now_ms: u64,
    mut tick: impl FnMut() -> Hlc,
) -> Result<Vec<SignedEvent>, StoreError> {
    let mut out = Vec::new();
    for v in opened {
        let e = v.event();
        if !owed_by(unit.unit(), e) || delivered_here.contains(&v.id()) {
            continue;
        }
        let already = store
            .receipts_for(&v.id())?
            .iter()
            .any(|r| r.kind == ReceiptKind::Delivered && &r.unit == unit.unit());
        if already {
            continue;
        }
        match delivered(node, unit, v.id(), e.priority, &e.unit, now_ms, tick()) {
            Ok(signed) => out.push(signed),
            Err(reason) => tracing::warn!(%reason, "could not sign a receipt"),
        }
    }
    Ok(out)
}

/// A receipt as a signed event from `node`, addressed to the acknowledged event's author
/// unit `to`, with that event's priority.
pub fn receipt_event(
    node: &NodeKey,
    receipt: &Receipt,
    priority: Priority,
    to: &HsaId,
    user: Option<String>,
    hlc: Hlc,
) -> Result<SignedEvent, String> {
    let body = receipt.encode().map_err(|e| e.to_string())?;
    Event {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: receipt.unit.clone(),
        user,
        hlc,
        class: EventClass::Receipt,
        priority,
        recipients: vec![to.clone()],
        doc: None,
        body: Body::Plain(body),
    }
    .sign(node)
    .map_err(|e| e.to_string())
}
