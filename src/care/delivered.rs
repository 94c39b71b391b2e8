//! Delivered receipts: what a node does on its own when clinical events arrive.
//!
//! When this node stores a clinical event addressed to its
//! unit and can open it, it writes a signed `Receipt::Delivered` back to the author's unit,
//! once per event and unit (a node of the same unit that already sent one is enough). The
//! receipt is an ordinary event: verified, stored, pushed and reconciled like any other.

use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
use reservnod_proto::event::{Body, Event, EventClass, EVENT_FORMAT};
use reservnod_proto::{Hlc, NodeKey, SignedEvent, UnitSecretKey, VerifiedEvent};

use crate::store::{Store, StoreError};

/// Receipts to write for newly stored events: Delivered for each clinical event addressed
/// to `unit` that opens with its key and has no Delivered from `unit` yet.
pub fn delivered_receipts(
    node: &NodeKey,
    unit: &UnitSecretKey,
    store: &Store,
    new_events: &[VerifiedEvent],
    now_ms: u64,
    mut tick: impl FnMut() -> Hlc,
) -> Result<Vec<SignedEvent>, StoreError> {
    let mut out = Vec::new();
    for v in new_events {
        let e = v.event();
        if e.class != EventClass::Clinical || !e.recipients.contains(unit.unit()) {
            continue;
        }
        // Delivered means stored *and* opened: a body this unit cannot open gets no receipt.
        if v.open(unit).is_err() {
            tracing::warn!(event = %v.id().short(), "an event addressed to this unit does not open with its key");
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
        let body = receipt
            .encode()
            .map_err(|e| StoreError::Corrupt(format!("receipt: {e}")))?;
        let event = Event {
            format: EVENT_FORMAT,
            author: node.id(),
            unit: unit.unit().clone(),
            user: None,
            hlc: tick(),
            class: EventClass::Receipt,
            // An urgent message's receipt travels as urgently as the message did.
            priority: e.priority,
            recipients: vec![e.unit.clone()],
            doc: None,
            body: Body::Plain(body),
        };
        match event.sign(node) {
            Ok(signed) => out.push(signed),
            Err(reason) => tracing::warn!(%reason, "could not sign a receipt"),
        }
    }
    Ok(out)
}
