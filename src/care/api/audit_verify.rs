//! `audit_verify`: walks the access log's hash chain (PROTOCOL.md §12.3) and says in one
//! Swedish line whether it holds, or where it first breaks. The check itself is logged.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::audit;
use super::types::{ApiError, CareNode};
use crate::clock::format_ms_local;
use crate::store::{AuditAction, BreakKind, ChainBreak, ChainReport};

/// What the walk found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerified {
    /// Every entry, chained or from before the chain.
    pub entries: u64,
    /// Entries from before the chain (kept as they were, covered by the first link).
    pub unchained: u64,
    /// Chained entries whose link holds but whose content this version cannot read.
    pub unreadable: u64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
    /// The finding in one Swedish line.
    pub line: String,
}

/// The first broken link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenLink {
    /// The sequence number of the first entry that does not check out.
    pub seq: u64,
    /// The time of that entry (or of the last good one before it), ms since the epoch.
    pub at_ms: Option<u64>,
    /// Swedish local time of `at_ms`.
    pub at: Option<String>,
    /// What is wrong, in Swedish.
    pub what: String,
}

pub(super) fn audit_verify(
    node: &dyn CareNode,
    caller: &Caller,
) -> Result<AuditVerified, ApiError> {
    let report = node.store().verify_audit()?;
    let verified = verified(&report);
    audit(
        node,
        caller,
        AuditAction::LogVerified,
        None,
        None,
        &verified.line,
    )?;
    Ok(verified)
}

fn verified(r: &ChainReport) -> AuditVerified {
    let broken = r.first_break.as_ref().map(broken_link);
    let line = match &broken {
        None => {
            let mut line = format!("Granskningsloggen är obruten: {} poster", r.entries());
            if r.unchained > 0 {
                line += &format!(
                    " (de {} första från före kedjan, oförändrade sedan den började)",
                    r.unchained
                );
            }
            if r.unreadable > 0 {
                line += &format!("; {} kan inte visas av den här versionen", r.unreadable);
            }
            line + "."
        }
        Some(b) => {
            let when = match (&b.at, r.first_break.as_ref().is_some_and(|f| f.own_time)) {
                (Some(at), true) => format!(" ({at})"),
                (Some(at), false) => format!(" (närmast före: {at})"),
                (None, _) => String::new(),
            };
            format!(
                "Granskningsloggen är BRUTEN vid post {}{when}: {} ({} poster).",
                b.seq,
                b.what,
                r.entries()
            )
        }
    };
    AuditVerified {
        entries: r.entries(),
        unchained: r.unchained,
        unreadable: r.unreadable,
        broken,
        line,
    }
}

fn broken_link(b: &ChainBreak) -> BrokenLink {
    let what = match &b.kind {
        BreakKind::Altered => "posten har ändrats efter att den skrevs".to_string(),
        BreakKind::Missing { until } if *until == b.seq + 1 => {
            "posten saknas (borttagen)".to_string()
        }
        BreakKind::Missing { until } => format!("posterna {}–{} saknas (borttagna)", b.seq, until - 1),
        BreakKind::Moved { written_as } => {
            format!("posten skrevs som post {written_as} och har flyttats")
        }
        BreakKind::LinkBroken => {
            "länken till posten före stämmer inte (den har ändrats eller bytts ut)".to_string()
        }
        BreakKind::Unreadable => "posten går inte att läsa (skadad)".to_string(),
        BreakKind::PrefixChanged => format!(
            "posterna från före kedjan (0–{}) har ändrats eller tagits bort sedan kedjan började",
            b.seq.saturating_sub(1)
        ),
        BreakKind::HeadMismatch { head: Some(h) } if *h >= b.seq => format!(
            "loggen slutar före post {} men kedjans huvud anger post {h}: poster i slutet har tagits bort",
            b.seq
        ),
        BreakKind::HeadMismatch { .. } => {
            "kedjans huvud saknas eller stämmer inte med sista posten".to_string()
        }
    };
    BrokenLink {
        seq: b.seq,
        at_ms: b.at_ms,
        at: b.at_ms.map(format_ms_local),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    #[test]
    fn an_intact_log_is_reported_whole_and_the_check_is_logged() {
        let ward = TestNode::new(Side::Ward);
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
        );
        let before = ward.audit_log().len() as u64;
        let Ok(Reply::AuditVerified(v)) = ward.ask(Request::AuditVerify {}) else {
            panic!("a report")
        };
        assert_eq!((v.entries, v.broken.clone()), (before, None));
        assert!(
            v.line.starts_with("Granskningsloggen är obruten"),
            "{}",
            v.line
        );
        assert!(!v.line.contains('\n'));
        let last = ward.audit_log().pop().expect("logged");
        assert_eq!(last.action, AuditAction::LogVerified);
    }

    #[test]
    fn every_kind_of_break_reads_as_one_swedish_line() {
        let kinds = [
            BreakKind::Altered,
            BreakKind::Missing { until: 8 },
            BreakKind::Missing { until: 10 },
            BreakKind::Moved { written_as: 9 },
            BreakKind::LinkBroken,
            BreakKind::Unreadable,
            BreakKind::PrefixChanged,
            BreakKind::HeadMismatch { head: Some(12) },
            BreakKind::HeadMismatch { head: None },
        ];
        for kind in kinds {
            let r = ChainReport {
                unchained: 0,
                chained: 20,
                unreadable: 0,
                first_break: Some(ChainBreak {
                    seq: 7,
                    at_ms: Some(NOW),
                    own_time: true,
                    kind: kind.clone(),
                }),
            };
            let v = verified(&r);
            assert!(
                v.line.contains("BRUTEN vid post 7 (2026-11-23 13:00)"),
                "{kind:?}: {}",
                v.line
            );
            assert!(!v.line.contains('\n'));
            assert_eq!(v.broken.map(|b| b.seq), Some(7));
        }
    }
}
