//! The daemon's rounds besides the connections: a roster dropped into the configured file,
//! the status file, unread messages past their time, and the purge pass (retention).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use reservnod_proto::limits::ROSTER_BYTES_MAX;
use reservnod_proto::{EventId, Priority, SignedRoster};

use super::status::{DaemonStatus, STATUS_FILE};
use crate::care::api::{clock_warnings, unreachable_units};
use crate::care::escalation;
use crate::clock::now_ms;
use crate::files::config::Config;
use crate::files::keyfile;
use crate::limits::{OUTAGE_LINE_EVERY, PURGE_STEP_EVENTS, RATE_SAMPLES};
use crate::node::{Node, RosterRefusal};
use crate::replication::SyncStats;
use crate::serve::socket::socket_path;
use crate::store::StoreError;

/// Looks for unread messages past their time and escalates them (blocking). Returns how
/// many were escalated now.
pub(super) fn check_escalations(
    node: &Node,
    command: Option<&[String]>,
    floor_ms: u64,
) -> Result<usize, StoreError> {
    let roster = node.admission().roster();
    let now = now_ms();
    let own = node.unit_key().unit();
    let due = {
        let view = node.view();
        escalation::due(
            &view,
            node.store(),
            &node.id(),
            own,
            &roster.escalation,
            floor_ms,
            now,
        )?
    };
    // The unit's mark: an Escalated receipt to the unit itself, stored and pushed like any
    // event, so the unit's other nodes do not alarm for it again.
    let announce = |event: &EventId| -> Result<(), String> {
        let priority = node
            .view()
            .get(event)
            .map_or(Priority::Normal, |o| o.priority);
        let receipt = escalation::escalated_receipt(*event, own, now_ms());
        let signed = crate::care::delivered::receipt_event(
            node.node_key(),
            &receipt,
            priority,
            own,
            None,
            node.tick(),
        )?;
        let outcome = node
            .ingest_blocking(vec![signed], None)
            .map_err(|e| e.to_string())?;
        match outcome.refused.first() {
            Some(reason) => Err(reason.to_string()),
            None => Ok(()),
        }
    };
    escalation::escalate(node.store(), &roster, own, &due, command, now, announce)
}

/// One step of the purge pass (blocking; PROTOCOL.md §5.7): at most
/// [`PURGE_STEP_EVENTS`] stored events after `cursor` looked at, the bodies a purge
/// decision covers removed. Returns where the next step goes on.
pub(super) fn purge_step(
    node: &Node,
    cursor: Option<(reservnod_proto::Hlc, EventId)>,
) -> Option<(reservnod_proto::Hlc, EventId)> {
    match crate::care::api::purge_step(node, cursor, PURGE_STEP_EVENTS) {
        Ok(step) => step.next,
        Err(e) => {
            tracing::warn!(error = %e, "purge step failed; the walk starts over");
            None
        }
    }
}

/// What the daemon does every round besides the connections.
pub(super) struct Housekeeping {
    pub(super) node: Arc<Node>,
    pub(super) config: Config,
    pub(super) unit: String,
    pub(super) listen: SocketAddr,
    pub(super) started_ms: u64,
    pub(super) roster_seen: Option<(std::time::SystemTime, u64)>,
    /// The last reason a drop could not be installed, while it is being retried.
    pub(super) roster_retry: Option<String>,
    pub(super) unreachable: Vec<String>,
    /// (when, stored count) samples for the storage rate.
    pub(super) rate_samples: VecDeque<(Instant, u64)>,
    /// Unread messages escalated since the start.
    pub(super) escalated: Arc<AtomicU64>,
    /// The web interface's address and certificate fingerprint, when it runs.
    pub(super) web: Option<(String, Option<String>)>,
    /// The status file's outage line and when it was worked out.
    pub(super) outage_line: Option<(Instant, String)>,
    /// The status file's purge line and when it was worked out.
    pub(super) purge_line: Option<(Instant, Option<String>)>,
}

impl Housekeeping {
    /// Picks up a roster dropped into the configured file. A drop is marked as handled (by
    /// its modification time and length) once it was installed or refused for a reason the
    /// same file will always be refused for; a failure here (a read, a write, a key) is
    /// tried again every second, and logged when its reason changes.
    pub(super) fn check_roster_drop(&mut self) {
        let Ok(meta) = std::fs::metadata(&self.config.roster_file) else {
            return;
        };
        let stamp = (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len());
        if self.roster_seen == Some(stamp) {
            return;
        }
        let result = keyfile::read_bounded(&self.config.roster_file, ROSTER_BYTES_MAX + 1024)
            .map_err(|e| RosterRefusal::Retry(e.to_string()))
            .and_then(|b| {
                SignedRoster::from_file_bytes(&b).map_err(|e| RosterRefusal::Final(e.to_string()))
            })
            .and_then(|s| self.node.offer_roster(&s));
        let file = self.config.roster_file.display();
        match result {
            Ok(Some(v)) => {
                tracing::info!(version = v, %file, "installed a newer roster from the drop file")
            }
            Ok(None) => {}
            Err(RosterRefusal::Final(reason)) | Err(RosterRefusal::Forged(reason)) => {
                tracing::warn!(%file, %reason, "refused the roster in the drop file")
            }
            Err(RosterRefusal::Retry(reason)) => {
                if self.roster_retry.as_ref() != Some(&reason) {
                    tracing::warn!(%file, %reason, "could not install the roster in the drop file; trying again");
                    self.roster_retry = Some(reason);
                }
                return;
            }
        }
        self.roster_retry = None;
        self.roster_seen = Some(stamp);
    }

    fn status(&mut self, running: bool) -> DaemonStatus {
        let now = now_ms();
        let roster = self.node.admission().roster();
        let (peers, counters, unreachable, clock_warnings) = {
            let table = self.node.peers();
            let contacts = table.contacts();
            let unreachable: Vec<String> = unreachable_units(
                &roster,
                self.node.unit_key().unit(),
                &contacts,
                now,
                self.started_ms,
                self.config.unit_unreachable_after.as_millis() as u64,
            )
            .into_iter()
            .map(|(u, _)| format!("{} ({})", u.id, u.name))
            .collect();
            let clock_warnings: Vec<String> =
                clock_warnings(&contacts, self.node.clock_skew_warn_ms)
                    .into_iter()
                    .map(|c| format!("{} {} ms", c.node, c.clock_offset_ms.unwrap_or(0)))
                    .collect();
            (
                table.snapshot(),
                table.counters.clone(),
                unreachable,
                clock_warnings,
            )
        };
        for u in unreachable.iter().filter(|u| !self.unreachable.contains(u)) {
            tracing::warn!(unit = %u, "unit unreachable: none of its nodes has been reachable within the configured time");
        }
        self.unreachable = unreachable.clone();
        let c = self.node.sync();
        let stored = c.stored.load(Ordering::Relaxed);
        self.rate_samples.push_back((Instant::now(), stored));
        while self.rate_samples.len() > RATE_SAMPLES {
            self.rate_samples.pop_front();
        }
        let rate_per_s = match (self.rate_samples.front(), self.rate_samples.back()) {
            (Some((t0, s0)), Some((t1, s1))) if t1 > t0 => {
                (s1 - s0) as f64 / (*t1 - *t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let sync = SyncStats {
            received: c.received.load(Ordering::Relaxed),
            stored,
            duplicates: c.duplicates.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            refusals_remembered: self.node.refusals_remembered() as u64,
            sent: c.sent.load(Ordering::Relaxed),
            to_go: c.to_go.load(Ordering::Relaxed),
            rate_per_s,
            queued_to_send: self.node.queued_to_send(),
        };
        DaemonStatus {
            web: self.web.as_ref().map(|w| w.0.clone()),
            web_fingerprint: self.web.as_ref().and_then(|w| w.1.clone()),
            sync,
            pid: std::process::id(),
            node_id: self.node.id().to_string(),
            unit: self.unit.clone(),
            listen: self.listen.to_string(),
            roster_version: roster.version,
            started_ms: self.started_ms,
            updated_ms: now,
            running,
            peers,
            unreachable_units: unreachable,
            clock_warnings,
            counters,
            store: self.node.store().stats().unwrap_or_default(),
            escalated: self.escalated.load(Ordering::Relaxed),
            socket: socket_path(&self.config.data_dir).display().to_string(),
            roster_drop_retrying: self.roster_retry.clone(),
            outage: Some(self.outage_line()),
            purge: self.purge_line(),
        }
    }

    /// The purge line, worked out again at most every [`OUTAGE_LINE_EVERY`] (it counts the
    /// store's tombstones).
    fn purge_line(&mut self) -> Option<String> {
        match &self.purge_line {
            Some((at, line)) if at.elapsed() < OUTAGE_LINE_EVERY => line.clone(),
            _ => {
                let line = match crate::care::api::purge_status_line(self.node.as_ref()) {
                    Ok(line) => line,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count the purged events");
                        None
                    }
                };
                self.purge_line = Some((Instant::now(), line.clone()));
                line
            }
        }
    }

    /// The outage line, worked out again at most every [`OUTAGE_LINE_EVERY`].
    fn outage_line(&mut self) -> String {
        match &self.outage_line {
            Some((at, line)) if at.elapsed() < OUTAGE_LINE_EVERY => line.clone(),
            _ => {
                let line = crate::care::api::outage_status_line(self.node.as_ref());
                self.outage_line = Some((Instant::now(), line.clone()));
                line
            }
        }
    }

    pub(super) fn write_status(&mut self, running: bool) {
        let status = self.status(running);
        match serde_json::to_vec_pretty(&status) {
            Ok(bytes) => {
                if let Err(e) =
                    keyfile::write_public(&self.config.data_dir.join(STATUS_FILE), &bytes)
                {
                    tracing::warn!(error = %e, "cannot write the status file");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the status"),
        }
    }
}
