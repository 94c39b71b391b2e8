//! `audit_search`: a log reviewer's search of the access log by patient, by account and by
//! period, a page at a time (PROTOCOL.md §12.4). The search is itself logged, naming the
//! patient searched for.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, audit_query, node_name};
use super::types::{ApiError, AuditFilter, CareNode};
use crate::clock::format_ms_local;
use crate::limits::{AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX};
use crate::store::{AuditAction, AuditEntry};
use reservnod_proto::roster::Roster;

/// One entry as a reviewer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Its sequence number in the node's log.
    pub seq: u64,
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// When, Swedish local time.
    pub at: String,
    /// What was done, in Swedish (läst, skrivet, utskrivet, …).
    pub action: String,
    /// Who: the login.
    pub login: Option<String>,
    /// Who: the person's name.
    pub name: Option<String>,
    /// The unit (HSA-id).
    pub unit: Option<String>,
    /// The node (its id as text).
    pub node: String,
    /// The node's name in the roster (its id's short form if the roster has it no more).
    pub node_name: String,
    /// The client's address.
    pub client: Option<String>,
    /// The way in.
    pub via: Option<String>,
    /// The patients (canonical form).
    pub patients: Vec<String>,
    /// The event (hex), if one.
    pub event: Option<String>,
    /// Free text.
    pub detail: String,
}

impl AuditRow {
    pub(super) fn new(seq: u64, e: AuditEntry, roster: &Roster) -> AuditRow {
        AuditRow {
            node_name: node_name(roster, &e.node),
            seq,
            at_ms: e.at_ms,
            at: format_ms_local(e.at_ms),
            action: e.action.as_str_sv().to_string(),
            login: e.login,
            name: e.name,
            unit: e.unit.map(|u| u.to_string()),
            node: e.node.to_string(),
            client: e.client,
            via: e.via,
            patients: e
                .patients
                .iter()
                .map(|p| p.canonical().to_string())
                .collect(),
            event: e.event.map(|id| id.to_string()),
            detail: e.detail,
        }
    }
}

/// One page of a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFound {
    /// What was searched for, in Swedish.
    pub query: String,
    /// The entries, in time order.
    pub rows: Vec<AuditRow>,
    /// Where the next page starts (pass it as `after`), if there may be more.
    pub next: Option<String>,
    /// Entries the index named that do not read (see `audit verify`).
    pub unreadable: u64,
}

pub(super) fn audit_search(
    node: &dyn CareNode,
    caller: &Caller,
    filter: &AuditFilter,
) -> Result<AuditFound, ApiError> {
    let limit = filter.limit.map_or(AUDIT_PAGE_DEFAULT, |l| {
        (l as usize).clamp(1, AUDIT_PAGE_MAX)
    });
    let (query, described) = audit_query(node, filter, limit)?;
    let page = node.store().search_audit(&query)?;
    let roster = node.roster();
    let found = AuditFound {
        query: described.clone(),
        rows: page
            .entries
            .into_iter()
            .map(|(seq, e)| AuditRow::new(seq, e, &roster))
            .collect(),
        next: page.next.map(|(at, seq)| format!("{at}.{seq}")),
        unreadable: page.unreadable,
    };
    audit_patients(
        node,
        caller,
        AuditAction::LogViewed,
        query.patient.into_iter().collect(),
        None,
        &format!("sökning i loggen: {described}; {} poster", found.rows.len()),
    )?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    const DAY: u64 = 86_400_000;

    fn reviewer() -> super::super::Caller {
        account(Side::Ward, "lena", &[super::super::Role::LogReviewer])
    }

    fn search(node: &TestNode, filter: AuditFilter) -> AuditFound {
        match node.ask_as(&reviewer(), Request::AuditSearch(filter)) {
            Ok(Reply::AuditFound(f)) => f,
            other => panic!("{other:?}"),
        }
    }

    /// A ward that wrote about two patients and read one of them.
    fn ward_with_history() -> TestNode {
        let ward = TestNode::new(Side::Ward);
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
        );
        ward.set_now(NOW + DAY);
        sent(
            &ward,
            Request::Send(sending(Some(OTHER_PATIENT), &[], admission_form())),
        );
        ward.set_now(NOW + 2 * DAY);
        ward.ask_as(
            &staff_at(&ward, "kim"),
            Request::Chain {
                patient: PATIENT.into(),
            },
        )
        .expect("chain");
        ward
    }

    #[test]
    fn a_reviewer_finds_entries_by_patient_account_and_period_and_the_search_is_logged() {
        let ward = ward_with_history();
        let f = search(
            &ward,
            AuditFilter {
                // Any spelling the rest of the input reads.
                patient: Some("191212121212".into()),
                ..AuditFilter::default()
            },
        );
        let actions: Vec<&str> = f.rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["skrivet", "läst"], "{f:?}");
        assert!(f.rows.iter().all(|r| r.patients == [PATIENT]));
        assert!(f.query.contains(PATIENT), "{}", f.query);
        // Who read, by login and name, from where.
        let read = &f.rows[1];
        assert_eq!(
            (read.login.as_deref(), read.name.as_deref()),
            (Some("kim"), Some("Konto kim"))
        );
        assert_eq!(
            (read.client.as_deref(), read.via.as_deref()),
            (Some("127.0.0.1"), Some("web"))
        );
        // The search is in the log, by the reviewer, about the patient searched for.
        let last = ward.audit_log().pop().expect("logged");
        assert_eq!(last.action, AuditAction::LogViewed);
        assert_eq!(last.login.as_deref(), Some("lena"));
        assert_eq!(last.patients.first().map(|p| p.canonical()), Some(PATIENT));

        let by_kim = search(
            &ward,
            AuditFilter {
                account: Some("KIM".into()),
                ..AuditFilter::default()
            },
        );
        assert_eq!(by_kim.rows.len(), 1);
        assert_eq!(by_kim.rows[0].login.as_deref(), Some("kim"));

        // The second day, local time, as a reviewer types it.
        let day2 = search(
            &ward,
            AuditFilter {
                from: Some("2026-11-24".into()),
                to: Some("2026-11-24".into()),
                ..AuditFilter::default()
            },
        );
        assert_eq!(day2.rows.len(), 1, "{day2:?}");
        assert_eq!(day2.rows[0].patients, [OTHER_PATIENT]);
    }

    #[test]
    fn pages_follow_each_other_and_bad_input_is_refused_without_a_trace() {
        let ward = ward_with_history();
        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..20 {
            let f = search(
                &ward,
                AuditFilter {
                    limit: Some(1),
                    after: after.clone(),
                    // Before the day of the searches, which are logged too.
                    to: Some("2026-11-24".into()),
                    ..AuditFilter::default()
                },
            );
            seen.extend(f.rows.iter().map(|r| r.seq));
            after = f.next;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(seen, [0, 1]);
        for (filter, expect) in [
            (
                AuditFilter {
                    patient: Some("19121212-1213".into()),
                    ..AuditFilter::default()
                },
                "ogiltigt patient-id",
            ),
            (
                AuditFilter {
                    from: Some("i går".into()),
                    ..AuditFilter::default()
                },
                "ÅÅÅÅ-MM-DD",
            ),
            (
                AuditFilter {
                    after: Some("x".into()),
                    ..AuditFilter::default()
                },
                "fortsättning",
            ),
        ] {
            ward.refuses_as(&reviewer(), Request::AuditSearch(filter), expect);
        }
    }

    /// Staff cannot see the log, in any way; the node's own account (IT at the console)
    /// can.
    #[test]
    fn only_a_log_reviewer_or_the_node_itself_sees_the_log() {
        let ward = ward_with_history();
        let staff = staff_at(&ward, "sara");
        let admin = account(Side::Ward, "anna", &[super::super::Role::UnitAdmin]);
        for caller in [&staff, &admin] {
            for request in [
                Request::AuditSearch(AuditFilter::default()),
                Request::AuditExport(AuditFilter::default()),
                Request::AuditVerify {},
            ] {
                ward.refuses_as(caller, request, "bara en logggranskare kan se loggen");
            }
        }
        // A reviewer of another unit is refused at this unit's node.
        let elsewhere = account(Side::Kommun, "lena", &[super::super::Role::LogReviewer]);
        ward.refuses_as(
            &elsewhere,
            Request::AuditSearch(AuditFilter::default()),
            "annan enhet",
        );
        assert!(matches!(
            ward.ask(Request::AuditSearch(AuditFilter::default())),
            Ok(Reply::AuditFound(_))
        ));
    }
}
