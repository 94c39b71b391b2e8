//! Delivered receipts: what a node does on its own when clinical events arrive.
//!
//! When this node stores a clinical event addressed to its
//! unit and can open it, it writes a signed `Receipt::Delivered` back to the author's unit,
//! once per event and unit (a node of the same unit that already sent one is enough). The
//! receipt is an ordinary event: verified, stored, pushed and reconciled like any other.

use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
use reservnod_proto::event::{Body, Event, EventClass, EVENT_FORMAT};
use reservnod_proto::{Hlc, HsaId, NodeKey, Priority, SignedEvent, UnitSecretKey, VerifiedEvent};

use crate::store::{Store, StoreError};

/// Receipts to write for newly stored events: Delivered for each clinical event addressed
/// to `unit` among `opened` (the events this node has just opened with the unit's key: the
/// view opens each body once, and Delivered means stored *and* opened) that has no Delivered
/// from `unit` yet.
pub fn delivered_receipts(
    node: &NodeKey,
    unit: &UnitSecretKey,
    store: &Store,
    opened: &[&VerifiedEvent],
    now_ms: u64,
    mut tick: impl FnMut() -> Hlc,
) -> Result<Vec<SignedEvent>, StoreError> {
    let mut out = Vec::new();
    for v in opened {
        let e = v.event();
        if e.class != EventClass::Clinical || !e.recipients.contains(unit.unit()) {
            continue;
        }
        let already = store
            .receipts_for(&v.id())?
            .iter()
            .any(|r| r.kind == ReceiptKind::Delivered && &r.unit == unit.unit());
        if already {
            continue;
        }
        let receipt = Receipt {
            format: RECEIPT_FORMAT,
            kind: ReceiptKind::Delivered,
            event: v.id(),
            unit: unit.unit().clone(),
            by: None,
            at_ms: now_ms,
        };
        // An urgent message's receipt travels as urgently as the message did.
        match receipt_event(node, &receipt, e.priority, &e.unit, None, tick()) {
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
