//! `inbox`: what was sent to this unit (unread first) and what it sent, with receipt state.

use serde::{Deserialize, Serialize};

use reservnod_proto::PatientId;

use super::caller::Caller;
use super::common::{audit_patients, item, unit_ref};
use super::types::{ApiError, CareNode, Item, UnitRef};
use crate::limits::{INBOX_POLL_LOG_INTERVAL, INBOX_POLL_READERS_MAX};
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

/// The inbox, its read logged (the page opened, the API asked).
pub(super) fn inbox(node: &dyn CareNode, caller: &Caller) -> Result<Inbox, ApiError> {
    let (inbox, patients) = gather(node)?;
    log_read(node, caller, patients, "inkorgen visad")?;
    Ok(inbox)
}

/// The inbox as the page's poll asks for it every few seconds. Its read is logged when the
/// patients shown are not those this reader was last logged reading here, or that entry
/// is `INBOX_POLL_LOG_INTERVAL` old; otherwise the entry already in the log says what
/// this reader sees, and one every 3 s per open page would bury everything else in it.
pub(super) fn poll(node: &dyn CareNode, caller: &Caller) -> Result<Inbox, ApiError> {
    let (inbox, patients) = gather(node)?;
    let now = node.now_ms();
    let fingerprint = fingerprint(&patients);
    let logged = node.view().inbox_logged.get(&reader(caller)).copied();
    let fresh = logged.is_some_and(|(f, at)| {
        f == fingerprint && now >= at && now - at < INBOX_POLL_LOG_INTERVAL.as_millis() as u64
    });
    if !fresh {
        log_read(
            node,
            caller,
            patients,
            "inkorgen visad (uppdateras automatiskt)",
        )?;
    }
    Ok(inbox)
}

/// Who reads, for the poll's memory: the login, the client and the way in.
fn reader(caller: &Caller) -> String {
    format!(
        "{}\u{0}{}\u{0}{}",
        caller.login().unwrap_or_default(),
        caller.client.as_deref().unwrap_or_default(),
        caller.via.name()
    )
}

/// The set of patients, whatever their order.
fn fingerprint(patients: &[PatientId]) -> [u8; 32] {
    let mut ids: Vec<&str> = patients.iter().map(|p| p.canonical()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut h = blake3::Hasher::new_derive_key("reservnod 2026 inbox poll patients");
    for id in ids {
        h.update(&(id.len() as u64).to_le_bytes());
        h.update(id.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Logs that `caller` read the inbox showing `patients`, and remembers it for the poll.
fn log_read(
    node: &dyn CareNode,
    caller: &Caller,
    patients: Vec<PatientId>,
    detail: &str,
) -> Result<(), ApiError> {
    let fingerprint = fingerprint(&patients);
    audit_patients(node, caller, AuditAction::Read, patients, None, detail)?;
    let now = node.now_ms();
    let mut view = node.view();
    let memory = &mut view.inbox_logged;
    if memory.len() >= INBOX_POLL_READERS_MAX {
        // Forget the stale first, then everyone: forgetting only means logging again.
        let stale = INBOX_POLL_LOG_INTERVAL.as_millis() as u64;
        memory.retain(|_, (_, at)| now.saturating_sub(*at) < stale);
        if memory.len() >= INBOX_POLL_READERS_MAX {
            memory.clear();
        }
    }
    memory.insert(reader(caller), (fingerprint, now));
    Ok(())
}

/// The inbox and every patient it shows.
fn gather(node: &dyn CareNode) -> Result<(Inbox, Vec<PatientId>), ApiError> {
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
    Ok((
        Inbox {
            unit: unit_ref(&roster, &own),
            incoming,
            sent,
            unreadable,
        },
        patients,
    ))
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

    #[test]
    fn the_poll_logs_a_read_only_when_the_patients_change_or_ten_minutes_pass() {
        let (ward, kommun, _) = admitted();
        let kim = staff_at(&kommun, "kim");
        let reads = || -> Vec<AuditEntryLite> {
            kommun
                .audit_log()
                .into_iter()
                .filter(|e| e.action == AuditAction::Read)
                .map(|e| {
                    (
                        e.at_ms,
                        e.detail,
                        e.patients
                            .iter()
                            .map(|p| p.canonical().to_string())
                            .collect(),
                    )
                })
                .collect()
        };
        let poll = |at: u64| {
            kommun.set_now(at);
            match kommun.ask_as(&kim, Request::InboxPoll {}) {
                Ok(Reply::Inbox(i)) => i,
                other => panic!("{other:?}"),
            }
        };
        kommun.ask_as(&kim, Request::Inbox {}).expect("the page");
        assert_eq!(reads().len(), 1);
        // A page left open polls every 3 s for 9 minutes: the page's entry says it all.
        for i in 1..=180 {
            assert_eq!(poll(NOW + i * 3_000).incoming.len(), 1);
        }
        assert_eq!(reads().len(), 1, "{:?}", reads());
        // Another patient arrives: the next poll shows and logs them, at once.
        ward.set_now(NOW + 541_000);
        sent(
            &ward,
            Request::Send(sending(Some(OTHER_PATIENT), &[], admission_form())),
        );
        ward.carry_to(&kommun);
        assert_eq!(poll(NOW + 543_000).incoming.len(), 2);
        let r = reads();
        assert_eq!(r.len(), 2, "{r:?}");
        let mut shown = r[1].2.clone();
        shown.sort();
        assert_eq!(shown, [PATIENT, OTHER_PATIENT]);
        assert_eq!(r[1].1, "inkorgen visad (uppdateras automatiskt)");
        // The same two for just under ten minutes after that entry, then once more.
        poll(NOW + 543_000 + 599_000);
        assert_eq!(reads().len(), 2);
        poll(NOW + 543_000 + 600_000);
        assert_eq!(reads().len(), 3);
        // Another reader (another workstation) is logged on its own first poll.
        let mut elsewhere = kim.clone();
        elsewhere.client = Some("10.0.0.9".into());
        kommun
            .ask_as(&elsewhere, Request::InboxPoll {})
            .expect("poll");
        assert_eq!(reads().len(), 4);
        assert_eq!(
            kommun.audit_log().pop().expect("logged").client.as_deref(),
            Some("10.0.0.9")
        );
    }

    type AuditEntryLite = (u64, String, Vec<String>);
}
