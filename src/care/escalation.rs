//! Escalation of unread messages: a clinical event this unit sent with a read receipt asked
//! for, still unread by a recipient unit past the roster's time for its priority, is marked
//! (durably, once), counted, and the node's configured command is run for it once.
//!
//! Escalations are the unit's, not the node's: the time counts from when the message was
//! written (the payload's `written_at_ms`, the author's wall clock, which no peer can push
//! ahead as it can the hybrid clock), and the node that escalates writes an `Escalated`
//! receipt addressed to its own unit, which replicates like any event, so the unit's other
//! nodes do not alarm again. The author node escalates at the due time; another node of
//! the unit takes over `ESCALATION_TAKEOVER_AFTER` later if no `Escalated` has reached it (the
//! author node is down or cut off), and only for events that became due after it started
//! escalating (its floor), so a new or re-imaged node does not replay the unit's history.
//!
//! The local mark is written before the command runs and the command's completion after,
//! so a node that stops in between runs the command again at start: an alarm may repeat
//! after a crash but is never lost. The command gets no patient data: only the event id,
//! the unit, the priority and times, in its environment.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reservnod_proto::care::receipts::{
    escalated_at, escalation_due, receipt_state, Receipt, ReceiptKind, RECEIPT_FORMAT,
};
use reservnod_proto::roster::EscalationPolicy;
use reservnod_proto::{EventId, HsaId, NodeId, Priority, Roster};

use super::view::CareView;
use crate::clock::format_ms_local;
use crate::limits::{ESCALATION_COMMAND_TIMEOUT, ESCALATION_TAKEOVER_AFTER};
use crate::store::{Store, StoreError};

/// An unread event past its time at one recipient unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The event.
    pub event: EventId,
    /// The unit that has not read it.
    pub unit: HsaId,
    /// Its priority.
    pub priority: Priority,
    /// When it was written (ms since the epoch, the author's wall clock).
    pub sent_ms: u64,
    /// The minutes the policy allows.
    pub minutes: u32,
}

/// Events `own` sent that are unread past the policy at `now_ms` and that this node `me`
/// should escalate: not escalated by any node of the unit yet, and due for this node (at
/// the due time for the author node; `ESCALATION_TAKEOVER_AFTER` later for the others, and only
/// if the event became due at or after `floor_ms`, when this node started escalating).
pub fn due(
    view: &CareView,
    store: &Store,
    me: &NodeId,
    own: &HsaId,
    policy: &EscalationPolicy,
    floor_ms: u64,
    now_ms: u64,
) -> Result<Vec<Due>, StoreError> {
    let marked = store.escalations()?;
    let takeover = ESCALATION_TAKEOVER_AFTER.as_millis() as u64;
    let mut out = Vec::new();
    for o in view
        .all()
        .filter(|o| &o.unit == own && o.payload.receipt_required)
    {
        let written = o.payload.written_at_ms;
        let due_at =
            written.saturating_add(u64::from(policy.minutes(o.priority)).saturating_mul(60_000));
        // Cheap tests first: most events are long read or not yet due.
        let for_me = if &o.node == me {
            due_at
        } else if due_at >= floor_ms {
            due_at.saturating_add(takeover)
        } else {
            continue;
        };
        if for_me > now_ms {
            continue;
        }
        let receipts = store.receipts_for(&o.id)?;
        if escalated_at(&o.id, own, &receipts).is_some() {
            continue;
        }
        for unit in &o.recipients {
            if marked.iter().any(|m| m.event == o.id && &m.unit == unit) {
                continue;
            }
            let state = receipt_state(&o.id, unit, &receipts);
            if escalation_due(written, o.priority, policy, &state).is_some() {
                out.push(Due {
                    event: o.id,
                    unit: unit.clone(),
                    priority: o.priority,
                    sent_ms: written,
                    minutes: policy.minutes(o.priority),
                });
            }
        }
    }
    out.sort_by_key(|d| (d.sent_ms, d.event, d.unit.clone()));
    Ok(out)
}

/// The `Escalated` receipt body for `event` by the sending unit `own`.
pub fn escalated_receipt(event: EventId, own: &HsaId, at_ms: u64) -> Receipt {
    Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Escalated,
        event,
        unit: own.clone(),
        by: None,
        at_ms,
    }
}

/// Marks each due escalation, tells the unit through `announce` (which writes the
/// `Escalated` receipt for an event, once per event), and runs `command` once for each
/// newly marked one, then for any mark whose command had not completed (a crash in
/// between; its receipt is written then if it was not). Returns how many were newly
/// escalated. Blocking: call it off the async threads.
pub fn escalate(
    store: &Store,
    roster: &Roster,
    own: &HsaId,
    due: &[Due],
    command: Option<&[String]>,
    now_ms: u64,
    mut announce: impl FnMut(&EventId) -> Result<(), String>,
) -> Result<usize, StoreError> {
    let mut new = 0;
    for d in due {
        if store.mark_escalated(&d.event, &d.unit, now_ms)? {
            new += 1;
            tracing::warn!(event = %d.event.short(), unit = %d.unit, minutes = d.minutes, "unread past its time: escalated");
        }
    }
    let pending: Vec<_> = store
        .escalations()?
        .into_iter()
        .filter(|m| !m.hook_done)
        .collect();
    let mut announced: Vec<EventId> = Vec::new();
    for m in &pending {
        if announced.contains(&m.event)
            || escalated_at(&m.event, own, &store.receipts_for(&m.event)?).is_some()
        {
            continue;
        }
        announced.push(m.event);
        // The alarm goes ahead even if the unit cannot be told: its other nodes may then
        // alarm too, which is better than none.
        if let Err(reason) = announce(&m.event) {
            tracing::warn!(event = %m.event.short(), %reason, "could not write the Escalated receipt");
        }
    }
    for m in pending {
        if let Some(cmd) = command {
            let d = due.iter().find(|d| d.event == m.event && d.unit == m.unit);
            let unit_name = roster
                .unit(&m.unit)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            if let Err(reason) = run_command(cmd, &m.event, &m.unit, &unit_name, d) {
                tracing::warn!(event = %m.event.short(), %reason, "the escalation command failed");
            }
        }
        // Done whether or not a command is configured or succeeded: it runs once.
        store.escalation_hook_done(&m.event, &m.unit)?;
    }
    Ok(new)
}

fn run_command(
    cmd: &[String],
    event: &EventId,
    unit: &HsaId,
    unit_name: &str,
    due: Option<&Due>,
) -> Result<(), String> {
    let (program, args) = cmd.split_first().ok_or("no program")?;
    let mut c = Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("RESERVNOD_ESCALATION_EVENT", event.to_string())
        .env("RESERVNOD_ESCALATION_UNIT", unit.as_str())
        .env("RESERVNOD_ESCALATION_UNIT_NAME", unit_name);
    if let Some(d) = due {
        c.env(
            "RESERVNOD_ESCALATION_PRIORITY",
            match d.priority {
                Priority::Urgent => "brådskande",
                Priority::Normal => "normal",
            },
        )
        .env("RESERVNOD_ESCALATION_SENT", format_ms_local(d.sent_ms))
        .env("RESERVNOD_ESCALATION_MINUTES", d.minutes.to_string());
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let deadline = Instant::now() + ESCALATION_COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{program} ended with {status}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} ran longer than {ESCALATION_COMMAND_TIMEOUT:?} and was stopped"
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reservnod_proto::care::documents::{
        ClinicalPayload, ConsentBasis, Document, MessageKind, PAYLOAD_FORMAT,
    };
    use reservnod_proto::testkit::{region, SeededRng};
    use reservnod_proto::{Hlc, NodeKey};

    const WRITTEN: u64 = 1_795_435_200_000;
    const MINUTE: u64 = 60_000;

    /// The policy of the test: urgent messages may stay unread 30 minutes.
    const POLICY: EscalationPolicy = EscalationPolicy {
        urgent_unread_minutes: 30,
        normal_unread_minutes: 240,
    };

    /// An urgent message the ward's node wrote at `WRITTEN`, asking for a read receipt, in
    /// the ward's view and store; and the ward's author node and another node of the ward.
    fn sent() -> (CareView, Store, tempfile::TempDir, NodeId, NodeId, HsaId) {
        let r = region("escalation takeover");
        let mut rng = SeededRng::new("escalation takeover events");
        let payload = ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: None,
            episode: None,
            written_at_ms: WRITTEN,
            author: "Sara Sjöberg".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: true,
            phrases: vec![],
            document: Document::Message {
                kind: MessageKind::Question,
                subject: "Ring oss".into(),
                text: "Text".into(),
                answer_by_ms: None,
                reply_to: None,
            },
        }
        .encode()
        .expect("encode");
        // The header's clock pushed ahead by a peer: escalation counts from WRITTEN anyway.
        let hlc = Hlc {
            wall_ms: WRITTEN + 9 * MINUTE,
            logical: 0,
        };
        let v = r
            .clinical(&mut rng, &payload, hlc)
            .sign(&r.ward.1)
            .expect("sign")
            .verify()
            .expect("verify");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        store.insert(std::slice::from_ref(&v)).expect("insert");
        let mut view = CareView::default();
        assert!(view.add(&v, &r.ward.0), "the ward opens what it sent");
        let other = NodeKey::generate(&mut SeededRng::new("the ward's second node")).id();
        (
            view,
            store,
            dir,
            r.ward.1.id(),
            other,
            r.ward.0.unit().clone(),
        )
    }

    /// PROTOCOL 9.3: the author node escalates at the due time; another node of the unit
    /// 60 s later, and only what became due at or after its floor.
    #[test]
    fn another_node_of_the_unit_takes_over_a_minute_late_and_only_after_its_floor() {
        let (view, store, _dir, author, other, own) = sent();
        let due_at = WRITTEN + 30 * MINUTE;
        let takeover = ESCALATION_TAKEOVER_AFTER.as_millis() as u64;
        let at = |me: &NodeId, floor: u64, now: u64| {
            due(&view, &store, me, &own, &POLICY, floor, now)
                .expect("due")
                .len()
        };
        // The author node: at the due time (two recipient units unread), not a moment before.
        assert_eq!(at(&author, 0, due_at - 1), 0);
        assert_eq!(at(&author, 0, due_at), 2);
        // Another node whose floor is before the due time: a minute later.
        assert_eq!(at(&other, due_at - MINUTE, due_at), 0);
        assert_eq!(at(&other, due_at - MINUTE, due_at + takeover - 1), 0);
        assert_eq!(at(&other, due_at - MINUTE, due_at + takeover), 2);
        assert_eq!(
            at(&other, due_at, due_at + takeover),
            2,
            "floor at the due time"
        );
        // A node that started escalating after it became due never does (history).
        assert_eq!(at(&other, due_at + 1, due_at + takeover), 0);
        assert_eq!(at(&other, due_at + 1, due_at + 24 * 60 * MINUTE), 0);
        // The author node's own floor does not hold it back.
        assert_eq!(at(&author, due_at + 1, due_at), 2);
        // Once the unit has escalated it (an Escalated receipt of the unit), no node does.
        let receipt = escalated_receipt(
            due(&view, &store, &author, &own, &POLICY, 0, due_at).expect("due")[0].event,
            &own,
            due_at,
        );
        let r = region("escalation takeover");
        let event = reservnod_proto::Event {
            format: reservnod_proto::event::EVENT_FORMAT,
            author: r.ward.1.id(),
            unit: own.clone(),
            user: None,
            hlc: Hlc {
                wall_ms: due_at,
                logical: 0,
            },
            class: reservnod_proto::EventClass::Receipt,
            priority: reservnod_proto::Priority::Urgent,
            recipients: vec![own.clone()],
            doc: None,
            body: reservnod_proto::Body::Plain(receipt.encode().expect("encode")),
        };
        let v = event
            .sign(&r.ward.1)
            .expect("sign")
            .verify()
            .expect("verify");
        store.insert(&[v]).expect("insert");
        assert_eq!(at(&author, 0, due_at), 0);
        assert_eq!(at(&other, 0, due_at + takeover), 0);
    }
}
