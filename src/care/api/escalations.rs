//! `escalations`: the unread events this unit escalated, whichever of its nodes did, and
//! whether this node's command ran for those it escalated itself.
//!
//! Escalation is the unit's (PROTOCOL 9.3): the node that escalates writes an `Escalated`
//! receipt to its own unit, so the list is this node's own marks together with the
//! `Escalated` receipts of the unit's other nodes that reached it.

use reservnod_proto::care::receipts::{escalation_covers, ReceiptKind};
use reservnod_proto::{EventId, HsaId, NodeId, Roster};
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
    /// The node of this unit that escalated it (hex).
    pub node: String,
    /// That node's name in the roster.
    pub node_name: String,
    /// Whether this node escalated it.
    pub by_this_node: bool,
    /// Whether this node's configured command has run; None when another node escalated it
    /// (its command is that node's).
    pub command_ran: Option<bool>,
}

/// The unit's escalations.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalations {
    /// Oldest first.
    pub escalations: Vec<Escalated>,
}

fn node_name(roster: &Roster, node: &NodeId) -> String {
    roster
        .node(node)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| "(okänd nod)".into())
}

/// When each (event, recipient unit) was escalated by another node of `own`, from the
/// `Escalated` receipts that reached this node (the earliest per node).
fn by_other_nodes(
    node: &dyn CareNode,
    own: &HsaId,
    me: &NodeId,
) -> Result<Vec<(EventId, HsaId, NodeId, u64)>, ApiError> {
    let sent: Vec<(EventId, Vec<HsaId>)> = node
        .view()
        .all()
        .filter(|o| &o.unit == own && o.payload.receipt_required)
        .map(|o| (o.id, o.recipients.clone()))
        .collect();
    let mut out: Vec<(EventId, HsaId, NodeId, u64)> = Vec::new();
    for (event, recipients) in sent {
        let with_author = node.store().receipts_by_author_for(&event)?;
        let receipts: Vec<_> = with_author.iter().map(|(_, r)| r.clone()).collect();
        for (author, r) in &with_author {
            if r.kind != ReceiptKind::Escalated
                || &r.unit != own
                || r.event != event
                || author == me
            {
                continue;
            }
            for unit in &recipients {
                if !escalation_covers(&event, unit, r.at_ms, &receipts) {
                    continue;
                }
                match out
                    .iter_mut()
                    .find(|(e, u, n, _)| *e == event && u == unit && n == author)
                {
                    Some(slot) => slot.3 = slot.3.min(r.at_ms),
                    None => out.push((event, unit.clone(), *author, r.at_ms)),
                }
            }
        }
    }
    Ok(out)
}

pub(super) fn escalations(node: &dyn CareNode) -> Result<Escalations, ApiError> {
    let roster = node.roster();
    let me = node.node_key().id();
    let own = node.unit_key().unit().clone();
    let mut escalations: Vec<Escalated> = node
        .store()
        .escalations()?
        .into_iter()
        .map(|m| Escalated {
            event: m.event.to_string(),
            unit: unit_ref(&roster, &m.unit),
            at_ms: m.at_ms,
            node: me.to_string(),
            node_name: node_name(&roster, &me),
            by_this_node: true,
            command_ran: Some(m.hook_done),
        })
        .collect();
    for (event, unit, author, at_ms) in by_other_nodes(node, &own, &me)? {
        escalations.push(Escalated {
            event: event.to_string(),
            unit: unit_ref(&roster, &unit),
            at_ms,
            node: author.to_string(),
            node_name: node_name(&roster, &author),
            by_this_node: false,
            command_ran: None,
        });
    }
    escalations.sort_by(|a, b| {
        (a.at_ms, &a.event, &a.unit.id, &a.node).cmp(&(b.at_ms, &b.event, &b.unit.id, &b.node))
    });
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
        assert_eq!(l[0].command_ran, Some(false));
        assert!(l[0].by_this_node);
        assert_eq!(l[0].node, ward.node_key().id().to_string());
        assert_eq!(l[1].event, q.event);
        assert_eq!(l[1].command_ran, Some(true));
    }
}
