//! Receipts (kvittens): Delivered when a node of a recipient unit has stored and opened an
//! event, Read when a person there acknowledged it; and Escalated, the sending unit's own
//! mark that an unread event was escalated, so its other nodes do not alarm again. A receipt is a signed event of its own
//! (class `Receipt`, plain body: it carries no patient data), so it cannot be forged, and the
//! state per recipient unit only ever moves forward.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::{EventId, Priority};
use crate::hsa::HsaId;
use crate::roster::EscalationPolicy;

/// The receipt encoding this code writes and reads (2: the `Escalated` kind).
pub const RECEIPT_FORMAT: u16 = 2;

/// Which receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// A node of the unit stored and opened it (levererad).
    Delivered,
    /// A person at the unit acknowledged it (kvitterad / läst).
    Read,
    /// A node of the event's own (sending) unit escalated it as unread past its time. Its
    /// `unit` is the sending unit and it is addressed to that unit: one alarm per unit.
    Escalated,
}

/// The plain body of a `Receipt` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// [`RECEIPT_FORMAT`].
    pub format: u16,
    /// Which receipt.
    pub kind: ReceiptKind,
    /// The exact version acknowledged.
    pub event: EventId,
    /// The recipient unit that acknowledges.
    pub unit: HsaId,
    /// Who read it (for `Read`).
    pub by: Option<String>,
    /// When (ms since the epoch, the acknowledging node's clock).
    pub at_ms: u64,
}

impl Receipt {
    /// The body's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode::<_, 4096>(self)
    }
    /// Reads a body.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let r: Receipt = codec::decode::<_, 4096>(bytes)?;
        if r.format != RECEIPT_FORMAT {
            return Err(CodecError::Malformed(format!(
                "unsupported receipt format {}",
                r.format
            )));
        }
        Ok(r)
    }
}

/// What the sender sees for one recipient unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptState {
    /// Nothing yet (väntar).
    Waiting,
    /// Delivered at `at_ms`.
    Delivered {
        /// When.
        at_ms: u64,
    },
    /// Read by `by` at `at_ms` (delivery time kept when known).
    Read {
        /// When it was delivered, if that receipt arrived.
        delivered_ms: Option<u64>,
        /// When it was read.
        at_ms: u64,
        /// By whom.
        by: String,
    },
}

/// The state of `event` for `unit` from the receipts held, in any order: it never goes
/// backwards (a late Delivered does not undo a Read), and the earliest receipt of each kind
/// counts.
pub fn receipt_state(event: &EventId, unit: &HsaId, receipts: &[Receipt]) -> ReceiptState {
    let mine = receipts
        .iter()
        .filter(|r| &r.event == event && &r.unit == unit);
    let delivered = mine
        .clone()
        .filter(|r| r.kind == ReceiptKind::Delivered)
        .map(|r| r.at_ms)
        .min();
    let read = mine
        .filter(|r| r.kind == ReceiptKind::Read)
        .min_by_key(|r| (r.at_ms, r.by.clone()));
    match (read, delivered) {
        (Some(r), d) => ReceiptState::Read {
            delivered_ms: d,
            at_ms: r.at_ms,
            by: r.by.clone().unwrap_or_default(),
        },
        (None, Some(at_ms)) => ReceiptState::Delivered { at_ms },
        (None, None) => ReceiptState::Waiting,
    }
}

/// When an unread event must be escalated: `sent_ms` (when it was written, by the author's
/// wall clock: the payload's `written_at_ms`, not the hybrid clock, which a peer can push
/// ahead) plus the policy's time for its priority. None once it is read.
pub fn escalation_due(
    sent_ms: u64,
    priority: Priority,
    policy: &EscalationPolicy,
    state: &ReceiptState,
) -> Option<u64> {
    if matches!(state, ReceiptState::Read { .. }) {
        return None;
    }
    Some(sent_ms.saturating_add(u64::from(policy.minutes(priority)) * 60_000))
}

/// When `unit` (the sending unit) escalated `event`, if a node of it did: the earliest
/// `Escalated` receipt of that unit.
pub fn escalated_at(event: &EventId, unit: &HsaId, receipts: &[Receipt]) -> Option<u64> {
    receipts
        .iter()
        .filter(|r| r.kind == ReceiptKind::Escalated && &r.event == event && &r.unit == unit)
        .map(|r| r.at_ms)
        .min()
}

/// Whether an `Escalated` receipt the sending unit wrote at `escalated_ms` covers the
/// recipient `unit`: an `Escalated` names the event, not the units that had not read it, so
/// it covers every recipient that had not read the event by then (a Read written later, or
/// none).
pub fn escalation_covers(
    event: &EventId,
    unit: &HsaId,
    escalated_ms: u64,
    receipts: &[Receipt],
) -> bool {
    !matches!(receipt_state(event, unit, receipts), ReceiptState::Read { at_ms, .. } if at_ms <= escalated_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escalation_covers_the_units_that_had_not_read_by_then() {
        let event = EventId([7; 32]);
        let (a, b, c) = (
            crate::testkit::hsa("KOM1080"),
            crate::testkit::hsa("VCNH"),
            crate::testkit::hsa("AVD12"),
        );
        let read = |unit: &HsaId, at_ms| Receipt {
            format: RECEIPT_FORMAT,
            kind: ReceiptKind::Read,
            event,
            unit: unit.clone(),
            by: Some("Kim".into()),
            at_ms,
        };
        let receipts = [read(&a, 100), read(&b, 300)];
        assert!(
            !escalation_covers(&event, &a, 200, &receipts),
            "read before"
        );
        assert!(escalation_covers(&event, &b, 200, &receipts), "read after");
        assert!(escalation_covers(&event, &c, 200, &receipts), "never read");
    }
}
