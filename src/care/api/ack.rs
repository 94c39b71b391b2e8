//! `ack`: a person acknowledges (kvitterar) an event sent to this unit; a Read receipt is
//! written once per unit.

use reservnod_proto::care::receipts::{
    receipt_state, Receipt, ReceiptKind, ReceiptState, RECEIPT_FORMAT,
};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audited_write, find_event};
use super::types::{refused, ApiError, CareNode};

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

pub(super) fn ack(node: &dyn CareNode, caller: &Caller, event: &str) -> Result<Acked, ApiError> {
    let person = caller.author()?;
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
    let _one_at_a_time = node.write_turn();
    let receipts = node.store().receipts_for(&id)?;
    if let ReceiptState::Read { by, at_ms, .. } = receipt_state(&id, &own, &receipts) {
        return Ok(Acked {
            event: id.to_string(),
            already: true,
            by,
            at_ms,
        });
    }
    let at_ms = node.now_ms();
    let receipt = Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Read,
        event: id,
        unit: own.clone(),
        by: Some(person.name.clone()),
        at_ms,
    };
    let signed = crate::care::delivered::receipt_event(
        node.node_key(),
        &receipt,
        priority,
        &author_unit,
        person.login.clone(),
        node.tick(),
    )
    .map_err(|e| refused(format!("kvittensen kunde inte skrivas: {e}")))?;
    audited_write(node, caller, patient, id, "kvitterad", vec![signed])?;
    Ok(Acked {
        event: id.to_string(),
        already: false,
        by: person.name,
        at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    fn ack(node: &TestNode, event: &str, name: &str) -> Acked {
        match node.ask_as(
            &local(name),
            Request::Ack {
                event: event.into(),
            },
        ) {
            Ok(Reply::Acked(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_read_receipt_is_written_once_per_unit() {
        let (_ward, kommun, admission) = admitted();
        let events = kommun.event_count();
        let a = ack(&kommun, &admission.event[..12], "  Kim Karlsson ");
        assert!(!a.already);
        assert_eq!((a.by.as_str(), a.at_ms), ("Kim Karlsson", NOW));
        assert_eq!(a.event, admission.event);
        assert_eq!(kommun.event_count(), events + 1, "one Read receipt");
        assert_eq!(kommun.audited_writes(), 1);
        let last = kommun.audit_log().pop().expect("audited");
        assert_eq!(last.detail, "kvitterad");
        assert_eq!(
            last.event.map(|e| e.to_string()),
            Some(admission.event.clone())
        );
        // Again, by someone else: the first is reported and nothing is written.
        kommun.set_now(NOW + 60_000);
        let again = ack(&kommun, &admission.event, "Någon Annan");
        assert!(again.already);
        assert_eq!((again.by.as_str(), again.at_ms), ("Kim Karlsson", NOW));
        assert_eq!(kommun.event_count(), events + 1);
        assert_eq!(kommun.audited_writes(), 1);
    }

    #[test]
    fn people_acknowledging_at_once_write_one_read_receipt() {
        let (_ward, kommun, admission) = admitted();
        let events = kommun.event_count();
        // A slow node: each write spends a while between its check and its write.
        kommun.set_tick_delay_ms(20);
        let gate = std::sync::Barrier::new(8);
        let acks: Vec<Acked> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (kommun, event, gate) = (&kommun, &admission.event, &gate);
                    s.spawn(move || {
                        gate.wait();
                        ack(kommun, event, &format!("Person {i}"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("ack thread"))
                .collect()
        });
        assert_eq!(kommun.event_count(), events + 1, "one Read receipt");
        assert_eq!(acks.iter().filter(|a| !a.already).count(), 1);
        let first = acks.iter().find(|a| !a.already).expect("one wrote it");
        assert!(
            acks.iter().all(|a| a.by == first.by),
            "the others are told of the first"
        );
    }

    #[test]
    fn only_an_event_sent_to_this_unit_can_be_acknowledged() {
        let (ward, kommun, admission) = admitted();
        let ack = |event: &str| Request::Ack {
            event: event.into(),
        };
        ward.refuses(ack(&admission.event), "inte skickad till den här enheten");
        kommun.refuses_as(&local(" "), ack(&admission.event), "--author");
        kommun.refuses(ack("zz"), "händelse-id");
        kommun.refuses(ack("00112233"), "ingen händelse här");
        // Primary care holds it sealed but cannot read it.
        let vc = TestNode::new(Side::Vc);
        ward.carry_to(&vc);
        vc.refuses(ack(&admission.event), "kan inte läsas av enheten");
    }
}
