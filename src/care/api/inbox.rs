//! `inbox`: what was sent to this unit (unread first) and what it sent, with receipt state.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, item, unit_ref};
use super::types::{ApiError, CareNode, Item, UnitRef};
use crate::store::AuditAction;

/// The inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// This unit.
    pub unit: UnitRef,
    /// Addressed to this unit: unread first, urgent first, newest first.
    pub incoming: Vec<Item>,
    /// Sent by this unit, newest first, with receipt state per recipient.
    pub sent: Vec<Item>,
    /// Events that could not be opened or read.
    pub unreadable: u64,
}

pub(super) fn inbox(node: &dyn CareNode, caller: &Caller) -> Result<Inbox, ApiError> {
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let marks = node.store().escalations()?;
    let (mut incoming, mut sent, unreadable, patients) = {
        let view = node.view();
        let mut incoming = Vec::new();
        let mut sent = Vec::new();
        // Every patient the inbox shows is in its audit entry.
        let mut patients = Vec::new();
        for o in view.all() {
            let listed = if o.unit == own {
                &mut sent
            } else if o.recipients.contains(&own) {
                &mut incoming
            } else {
                continue;
            };
            listed.push(item(node, &roster, o, &marks)?);
            patients.extend(o.payload.patient.clone());
        }
        // Events left sealed beyond their unit's quota were not opened either.
        (incoming, sent, view.unreadable + view.over_quota, patients)
    };
    incoming.sort_by(|a, b| {
        (
            a.read_ms.is_some(),
            !a.urgent,
            std::cmp::Reverse(a.at_ms),
            &a.event,
        )
            .cmp(&(
                b.read_ms.is_some(),
                !b.urgent,
                std::cmp::Reverse(b.at_ms),
                &b.event,
            ))
    });
    sent.sort_by(|a, b| {
        (std::cmp::Reverse(a.at_ms), &a.event).cmp(&(std::cmp::Reverse(b.at_ms), &b.event))
    });
    audit_patients(
        node,
        caller,
        AuditAction::Read,
        patients,
        None,
        "inkorgen visad",
    )?;
    Ok(Inbox {
        unit: unit_ref(&roster, &own),
        incoming,
        sent,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    fn inbox_of(node: &TestNode) -> Inbox {
        match node.ask_as(&staff_at(node, "kim"), Request::Inbox {}) {
            Ok(Reply::Inbox(i)) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unread_first_then_urgent_then_newest_and_the_sender_sees_who_read() {
        let (ward, kommun, admission) = admitted();
        ward.set_now(NOW + 60_000);
        let urgent = sent(
            &ward,
            Request::Send(super::super::SendRequest {
                urgent: true,
                ..sending(None, &[Side::Kommun], message_form("Ring oss"))
            }),
        );
        ward.set_now(NOW + 120_000);
        let newest = sent(
            &ward,
            Request::Send(sending(None, &[Side::Kommun], message_form("Senast"))),
        );
        ward.carry_to(&kommun);
        kommun
            .ask_as(
                &local("Kim Karlsson"),
                Request::Ack {
                    event: urgent.event.clone(),
                },
            )
            .expect("ack");
        let i = inbox_of(&kommun);
        assert_eq!(i.unit.id, unit_of(Side::Kommun));
        let order: Vec<&str> = i.incoming.iter().map(|x| x.event.as_str()).collect();
        // Unread (newest first), then the one read.
        assert_eq!(order, [&newest.event, &admission.event, &urgent.event]);
        assert_eq!(i.incoming[2].read_by.as_deref(), Some("Kim Karlsson"));
        assert!(i.sent.is_empty());
        let log = kommun.audit_log();
        let last = log.last().expect("audited");
        assert_eq!(
            (last.action, last.detail.as_str()),
            (AuditAction::Read, "inkorgen visad")
        );
        assert_eq!(last.login.as_deref(), Some("kim"));
        // Every patient shown is named, once.
        let shown: Vec<&str> = last.patients.iter().map(|p| p.canonical()).collect();
        assert_eq!(shown, [PATIENT]);
        // The ward sees its sent items newest first, with the receipt state per unit.
        kommun.carry_to(&ward);
        let w = inbox_of(&ward);
        assert!(w.incoming.is_empty());
        assert_eq!(w.sent.len(), 3);
        assert_eq!(w.sent[0].event, newest.event);
        let read = w
            .sent
            .iter()
            .find(|x| x.event == urgent.event)
            .expect("sent");
        assert!(read.urgent);
        assert_eq!(read.recipients[0].state, "läst");
        assert_eq!(read.recipients[0].read_by.as_deref(), Some("Kim Karlsson"));
        assert_eq!(read.recipients[0].read_ms, Some(NOW));
        assert_eq!(w.sent[0].recipients[0].state, "väntar");
        // Primary care was not addressed: its inbox is empty.
        let vc = TestNode::new(Side::Vc);
        ward.carry_to(&vc);
        assert!(inbox_of(&vc).incoming.is_empty());
    }
}
