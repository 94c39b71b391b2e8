//! `directory`: the roster's units, routing rules, phrase templates and escalation times.

use reservnod_proto::roster::PhraseTemplate;
use serde::{Deserialize, Serialize};

use super::common::unit_ref;
use super::types::{CareNode, UnitRef};

/// The roster's units and phrases.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Directory {
    /// This unit.
    pub unit: UnitRef,
    /// Every unit: (id, name, kind, municipality).
    pub units: Vec<(String, String, String, String)>,
    /// Routing rules: (municipality, unit).
    pub routing: Vec<(String, String)>,
    /// Phrase templates.
    pub phrases: Vec<PhraseTemplate>,
    /// Minutes unread before escalation: (urgent, normal).
    pub escalation_minutes: (u32, u32),
}

pub(super) fn directory(node: &dyn CareNode) -> Directory {
    let roster = node.roster();
    Directory {
        unit: unit_ref(&roster, node.unit_key().unit()),
        units: roster
            .units
            .iter()
            .map(|u| {
                (
                    u.id.to_string(),
                    u.name.clone(),
                    u.kind.name_sv().to_string(),
                    u.municipality.to_string(),
                )
            })
            .collect(),
        routing: roster
            .routing
            .iter()
            .map(|r| (r.municipality.to_string(), r.unit.to_string()))
            .collect(),
        phrases: roster.phrases.clone(),
        escalation_minutes: (
            roster.escalation.urgent_unread_minutes,
            roster.escalation.normal_unread_minutes,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};

    #[test]
    fn the_directory_lists_the_roster_and_reads_no_patient_data() {
        let ward = TestNode::new(Side::Ward);
        let d = match ward.ask(Request::Directory {}) {
            Ok(Reply::Directory(d)) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(d.unit.id, unit_of(Side::Ward));
        assert_eq!(d.unit.name, "Avdelning 12, Blekingesjukhuset");
        assert_eq!(d.units.len(), 4);
        assert!(d
            .units
            .iter()
            .any(|(id, _, _, m)| id == &unit_of(Side::Kommun) && m == "1080"));
        assert_eq!(d.routing, [("1080".to_string(), unit_of(Side::Kommun))]);
        let roster = reservnod_proto::testkit::region("care api unit tests").roster;
        assert_eq!(
            d.escalation_minutes,
            (
                roster.escalation.urgent_unread_minutes,
                roster.escalation.normal_unread_minutes
            )
        );
        assert!(
            ward.audit_log().is_empty(),
            "nothing about a patient was read"
        );
    }
}
