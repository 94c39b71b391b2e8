//! Escalation of unread messages: a clinical event this unit sent with a read receipt asked
//! for, still unread by a recipient unit past the roster's time for its priority, is marked
//! (durably, once), counted, and the node's configured command is run for it once.
//!
//! The mark is written before the command runs and the command's completion after, so a
//! node that stops in between runs the command again at start: an alarm may repeat after a
//! crash but is never lost. The command gets no patient data: only the event id, the unit,
//! the priority and times, in its environment.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reservnod_proto::care::receipts::{escalation_due, receipt_state};
use reservnod_proto::roster::EscalationPolicy;
use reservnod_proto::{EventId, HsaId, Priority, Roster};

use super::view::CareView;
use crate::clock::format_ms_local;
use crate::limits::ESCALATION_COMMAND_TIMEOUT;
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
    /// When it was sent (ms since the epoch).
    pub sent_ms: u64,
    /// The minutes the policy allows.
    pub minutes: u32,
}

/// Events `own` sent that are unread past the policy at `now_ms` and not yet escalated.
pub fn due(
    view: &CareView,
    store: &Store,
    own: &HsaId,
    policy: &EscalationPolicy,
    now_ms: u64,
) -> Result<Vec<Due>, StoreError> {
    let marked = store.escalations()?;
    let mut out = Vec::new();
    for o in view
        .all()
        .filter(|o| &o.unit == own && o.payload.receipt_required)
    {
        let receipts = store.receipts_for(&o.id)?;
        for unit in &o.recipients {
            if marked.iter().any(|m| m.event == o.id && &m.unit == unit) {
                continue;
            }
            let state = receipt_state(&o.id, unit, &receipts);
            let Some(at) = escalation_due(o.hlc.wall_ms, o.priority, policy, &state) else {
                continue;
            };
            if at <= now_ms {
                out.push(Due {
                    event: o.id,
                    unit: unit.clone(),
                    priority: o.priority,
                    sent_ms: o.hlc.wall_ms,
                    minutes: policy.minutes(o.priority),
                });
            }
        }
    }
    out.sort_by_key(|d| (d.sent_ms, d.event, d.unit.clone()));
    Ok(out)
}

/// Marks each due escalation and runs `command` once for each newly marked one, then for
/// any mark whose command had not completed (a crash in between). Returns how many were
/// newly escalated. Blocking: call it off the async threads.
pub fn escalate(
    store: &Store,
    roster: &Roster,
    due: &[Due],
    command: Option<&[String]>,
    now_ms: u64,
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
