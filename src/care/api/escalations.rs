//! `escalations`: the unread events this node escalated, and whether the command ran.

use serde::{Deserialize, Serialize};

use super::common::unit_ref;
use super::types::{ApiError, CareNode, UnitRef};

/// An escalation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalated {
    /// The unread event (hex).
    pub event: String,
    /// The unit that has not read it.
    pub unit: UnitRef,
    /// When it was escalated.
    pub at_ms: u64,
    /// Whether the configured command has run.
    pub command_ran: bool,
}

/// The escalations this node has made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalations {
    /// Oldest first.
    pub escalations: Vec<Escalated>,
}

pub(super) fn escalations(node: &dyn CareNode) -> Result<Escalations, ApiError> {
    let roster = node.roster();
    let mut escalations: Vec<Escalated> = node
        .store()
        .escalations()?
        .into_iter()
        .map(|m| Escalated {
            event: m.event.to_string(),
            unit: unit_ref(&roster, &m.unit),
            at_ms: m.at_ms,
            command_ran: m.hook_done,
        })
        .collect();
    escalations.sort_by_key(|e| (e.at_ms, e.event.clone()));
    Ok(Escalations { escalations })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{CareNode, Reply, Request};
    use super::*;

    fn list(node: &TestNode) -> Vec<Escalated> {
        match node.ask(Request::Escalations {}) {
            Ok(Reply::Escalations(e)) => e.escalations,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escalations_are_listed_oldest_first_with_the_unit_and_the_command_state() {
        let (ward, _kommun, admission) = admitted();
        assert!(list(&ward).is_empty());
        let q = sent(
            &ward,
            Request::Send(sending(None, &[Side::Vc], message_form("Fråga"))),
        );
        let id = |s: &str| s.parse::<reservnod_proto::EventId>().expect("id");
        let (kommun_u, vc_u) = (
            unit_of(Side::Kommun).parse().expect("hsa"),
            unit_of(Side::Vc).parse().expect("hsa"),
        );
        assert!(ward
            .store()
            .mark_escalated(&id(&q.event), &vc_u, NOW + 2)
            .expect("mark"));
        assert!(ward
            .store()
            .mark_escalated(&id(&admission.event), &kommun_u, NOW + 1)
            .expect("mark"));
        ward.store()
            .escalation_hook_done(&id(&q.event), &vc_u)
            .expect("done");
        let l = list(&ward);
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].event.as_str(), l[0].at_ms),
            (admission.event.as_str(), NOW + 1)
        );
        assert_eq!(l[0].unit.name, "Hemsjukvården Karlskrona");
        assert!(!l[0].command_ran);
        assert_eq!(l[1].event, q.event);
        assert!(l[1].command_ran);
    }
}
