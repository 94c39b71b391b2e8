//! `nodes`: what this node knows of the others: every node of the roster with its last
//! contact, the units none of whose nodes has been reachable for the configured time, the
//! peers whose clocks are off, and how many events are still to come or to go. No patient
//! data: node and unit names from the roster, and what the mesh recorded (`MeshSeen`, the
//! same table `reservnod peers` and `status` show).
//!
//! [`unreachable_units`] and [`clock_warnings`] are the one computation of both: the daemon's
//! status file uses them too.

use reservnod_proto::{HsaId, NodeId, Roster};
use serde::{Deserialize, Serialize};

use super::common::unit_ref;
use super::types::{CareNode, Contact, UnitRef};
use crate::clock::format_ms_local;

/// One node of the roster as this node knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerNode {
    /// Its id (the read-aloud text form).
    pub node: String,
    /// Its name in the roster.
    pub name: String,
    /// Its unit.
    pub unit: UnitRef,
    /// Connected now.
    pub connected: bool,
    /// "ansluten", "frånkopplad" or "ingen kontakt" (none since this node started).
    pub state: String,
    /// Its address, as last connected.
    pub address: Option<String>,
    /// Last contact (ms since the epoch), if any.
    pub last_contact_ms: Option<u64>,
    /// The same, in Swedish local time.
    pub last_contact: Option<String>,
    /// Round trip of the last ping (ms).
    pub rtt_ms: Option<f64>,
    /// Its clock minus ours (ms).
    pub clock_offset_ms: Option<i64>,
    /// Last reconciliation, in Swedish local time.
    pub last_sync: Option<String>,
    /// Events sent to and received from it.
    pub events_exchanged: u64,
}

/// A unit none of whose nodes has been reachable for the configured time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachableUnit {
    /// The unit.
    pub unit: UnitRef,
    /// Last contact with any of its nodes, in Swedish local time (none since start).
    pub last_contact: Option<String>,
}

/// A peer whose clock is off by more than the configured bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockWarning {
    /// The node (id text).
    pub node: String,
    /// Its name in the roster.
    pub name: String,
    /// Its unit.
    pub unit: UnitRef,
    /// Its clock minus ours (ms).
    pub offset_ms: i64,
}

/// The reply: this node and what it knows of the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodesView {
    /// This node's id.
    pub node: String,
    /// Its name in the roster.
    pub name: String,
    /// Its unit.
    pub unit: UnitRef,
    /// Now, as of this answer (Swedish local time).
    pub at: String,
    /// Since when the node has watched its peers (Swedish local time).
    pub since: String,
    /// Every other admitted node of the roster, connected first, then by unit and name.
    pub peers: Vec<PeerNode>,
    /// Units none of whose nodes has been reachable for `unreachable_after`.
    pub unreachable: Vec<UnreachableUnit>,
    /// The bound, in Swedish words ("5 minuter", "30 sekunder").
    pub unreachable_after: String,
    /// Peers whose clocks are off.
    pub clock_warnings: Vec<ClockWarning>,
    /// The bound, ms.
    pub clock_skew_warn_ms: u64,
    /// Events still to come from peers, as far as this node knows (announced or asked for).
    pub to_come: u64,
    /// Events queued here to be sent.
    pub to_send: u64,
}

/// The units other than `own` none of whose admitted nodes is connected or has been heard
/// from within `after_ms` (counting from `since_ms` for nodes never heard from), with the
/// last contact with any of them. A unit with no admitted node is left out: there is
/// nothing to reach.
pub fn unreachable_units(
    roster: &Roster,
    own: &HsaId,
    contacts: &[Contact],
    now_ms: u64,
    since_ms: u64,
    after_ms: u64,
) -> Vec<(UnitRef, Option<u64>)> {
    let mut out = Vec::new();
    for unit in roster.units.iter().filter(|u| &u.id != own) {
        let nodes: Vec<&NodeId> = roster
            .nodes
            .iter()
            .filter(|n| n.unit == unit.id && !roster.is_revoked(&n.id))
            .map(|n| &n.id)
            .collect();
        if nodes.is_empty() {
            continue;
        }
        let seen: Vec<&Contact> = contacts
            .iter()
            .filter(|c| nodes.contains(&&c.node))
            .collect();
        let last = seen.iter().map(|c| c.last_seen_ms).max();
        let connected = seen.iter().any(|c| c.connected);
        let counted_from = last.unwrap_or(since_ms).max(since_ms);
        if !connected && now_ms.saturating_sub(counted_from) > after_ms {
            out.push((unit_ref(roster, &unit.id), last));
        }
    }
    out
}

/// The contacts whose last ping showed a clock off by more than `skew_ms`.
pub fn clock_warnings(contacts: &[Contact], skew_ms: u64) -> Vec<&Contact> {
    contacts
        .iter()
        .filter(|c| {
            c.clock_offset_ms
                .is_some_and(|o| o.unsigned_abs() > skew_ms)
        })
        .collect()
}

/// A bound as staff read it: whole minutes when it is, seconds otherwise.
fn duration_sv(ms: u64) -> String {
    let secs = ms / 1000;
    match (secs / 60, secs % 60) {
        (1, 0) => "1 minut".into(),
        (m, 0) if m > 0 => format!("{m} minuter"),
        _ if secs == 1 => "1 sekund".into(),
        _ => format!("{secs} sekunder"),
    }
}

pub(super) fn nodes(node: &dyn CareNode) -> NodesView {
    let roster = node.roster();
    let mesh = node.mesh();
    let now = node.now_ms();
    let me = node.node_key().id();
    let own = node.unit_key().unit().clone();
    let name_of = |id: &NodeId| {
        roster
            .node(id)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| "(okänd nod)".into())
    };
    let unit_of = |id: &NodeId| match roster.node(id) {
        Some(n) => unit_ref(&roster, &n.unit),
        None => UnitRef {
            id: String::new(),
            name: "(okänd enhet)".into(),
        },
    };
    let mut peers: Vec<PeerNode> = roster
        .nodes
        .iter()
        .filter(|n| n.id != me && !roster.is_revoked(&n.id))
        .map(|n| {
            let c = mesh.contacts.iter().find(|c| c.node == n.id);
            let connected = c.is_some_and(|c| c.connected);
            PeerNode {
                node: n.id.to_string(),
                name: n.name.clone(),
                unit: unit_ref(&roster, &n.unit),
                connected,
                state: match c {
                    Some(_) if connected => "ansluten",
                    Some(_) => "frånkopplad",
                    None => "ingen kontakt",
                }
                .into(),
                address: c.map(|c| c.address.clone()),
                last_contact_ms: c.map(|c| c.last_seen_ms),
                last_contact: c.map(|c| format_ms_local(c.last_seen_ms)),
                rtt_ms: c.and_then(|c| c.rtt_ms),
                clock_offset_ms: c.and_then(|c| c.clock_offset_ms),
                last_sync: c.and_then(|c| c.last_sync_ms).map(format_ms_local),
                events_exchanged: c.map_or(0, |c| c.events_exchanged),
            }
        })
        .collect();
    peers.sort_by(|a, b| {
        (!a.connected, &a.unit.name, &a.name).cmp(&(!b.connected, &b.unit.name, &b.name))
    });
    let unreachable = unreachable_units(
        &roster,
        &own,
        &mesh.contacts,
        now,
        mesh.since_ms,
        mesh.unreachable_after_ms,
    )
    .into_iter()
    .map(|(unit, last)| UnreachableUnit {
        unit,
        last_contact: last.map(format_ms_local),
    })
    .collect();
    let clock_warnings = clock_warnings(&mesh.contacts, mesh.clock_skew_warn_ms)
        .into_iter()
        .map(|c| ClockWarning {
            node: c.node.to_string(),
            name: name_of(&c.node),
            unit: unit_of(&c.node),
            offset_ms: c.clock_offset_ms.unwrap_or(0),
        })
        .collect();
    NodesView {
        node: me.to_string(),
        name: name_of(&me),
        unit: unit_ref(&roster, &own),
        at: format_ms_local(now),
        since: format_ms_local(mesh.since_ms),
        peers,
        unreachable,
        unreachable_after: duration_sv(mesh.unreachable_after_ms),
        clock_warnings,
        clock_skew_warn_ms: mesh.clock_skew_warn_ms,
        to_come: mesh.to_come,
        to_send: mesh.to_send,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::types::MeshSeen;
    use super::super::{Reply, Request, Role};
    use super::*;
    use reservnod_proto::testkit::region;

    fn node_of(side: Side) -> NodeId {
        let r = region("care api unit tests");
        match side {
            Side::Ward => r.ward.1.id(),
            Side::Kommun => r.kommun.1.id(),
            Side::Vc => r.vc.1.id(),
        }
    }

    fn contact(node: NodeId, connected: bool, seen: u64, offset: Option<i64>) -> Contact {
        Contact {
            node,
            connected,
            address: "127.0.0.1:7000".into(),
            last_seen_ms: seen,
            rtt_ms: Some(1.5),
            clock_offset_ms: offset,
            last_sync_ms: Some(seen),
            events_exchanged: 12,
        }
    }

    fn nodes_of(node: &TestNode) -> NodesView {
        let staff = account(Side::Ward, "sara", &[Role::Staff]);
        match node.ask_as(&staff, Request::Nodes {}) {
            Ok(Reply::Nodes(n)) => n,
            other => panic!("{other:?}"),
        }
    }

    /// Every roster node but this one is listed with what the mesh saw of it; a unit is
    /// unreachable only once none of its nodes has been heard from for the bound (counted
    /// from the node's start for one never heard from), and a peer's clock is warned about
    /// beyond its bound. Nothing is written, not even an audit entry (no patient data).
    #[test]
    fn nodes_lists_peers_unreachable_units_and_clock_warnings() {
        let ward = TestNode::new(Side::Ward);
        let (kommun, vc) = (node_of(Side::Kommun), node_of(Side::Vc));
        ward.set_mesh(MeshSeen {
            since_ms: NOW,
            contacts: vec![contact(kommun, true, NOW + 1000, Some(-5_000))],
            to_come: 7,
            to_send: 3,
            unreachable_after_ms: 300_000,
            clock_skew_warn_ms: 2_000,
        });
        let (events, audit) = (ward.event_count(), ward.audit_log().len());
        // Just started: nothing is unreachable yet.
        let n = nodes_of(&ward);
        assert_eq!(n.unit.id, unit_of(Side::Ward));
        assert_eq!(n.node, node_of(Side::Ward).to_string());
        assert!(n.unreachable.is_empty(), "{:?}", n.unreachable);
        assert_eq!((n.to_come, n.to_send), (7, 3));
        assert_eq!(n.unreachable_after, "5 minuter");
        // Connected first; the others never heard from.
        assert_eq!(n.peers[0].node, kommun.to_string());
        assert_eq!(n.peers[0].state, "ansluten");
        assert_eq!(n.peers[0].last_contact_ms, Some(NOW + 1000));
        let never: Vec<&PeerNode> = n.peers.iter().filter(|p| !p.connected).collect();
        assert!(never
            .iter()
            .all(|p| p.state == "ingen kontakt" && p.last_contact.is_none()));
        assert!(never.iter().any(|p| p.node == vc.to_string()));
        assert_eq!(n.peers.len(), 3, "kommun, vc and the outsider ward");
        assert_eq!(n.clock_warnings.len(), 1);
        assert_eq!(n.clock_warnings[0].offset_ms, -5_000);
        assert_eq!(n.clock_warnings[0].unit.id, unit_of(Side::Kommun));

        // Ten minutes on, the municipality's node gone since a minute after start.
        ward.set_now(NOW + 10 * 60_000);
        ward.set_mesh(MeshSeen {
            since_ms: NOW,
            contacts: vec![contact(kommun, false, NOW + 60_000, Some(100))],
            unreachable_after_ms: 300_000,
            clock_skew_warn_ms: 2_000,
            ..MeshSeen::default()
        });
        let n = nodes_of(&ward);
        let ids: Vec<&str> = n.unreachable.iter().map(|u| u.unit.id.as_str()).collect();
        assert!(ids.contains(&unit_of(Side::Kommun).as_str()), "{ids:?}");
        assert!(ids.contains(&unit_of(Side::Vc).as_str()), "{ids:?}");
        assert!(
            !ids.contains(&unit_of(Side::Ward).as_str()),
            "not its own unit"
        );
        let k = n
            .unreachable
            .iter()
            .find(|u| u.unit.id == unit_of(Side::Kommun))
            .expect("kommun");
        assert_eq!(k.last_contact, Some(format_ms_local(NOW + 60_000)));
        let v = n
            .unreachable
            .iter()
            .find(|u| u.unit.id == unit_of(Side::Vc))
            .expect("vc");
        assert_eq!(v.last_contact, None);
        assert_eq!(
            n.peers
                .iter()
                .find(|p| p.node == kommun.to_string())
                .map(|p| p.state.as_str()),
            Some("frånkopplad")
        );
        assert!(n.clock_warnings.is_empty(), "100 ms is within the bound");
        // Four minutes after its last contact a unit is not yet unreachable.
        ward.set_now(NOW + 60_000 + 240_000);
        let n = nodes_of(&ward);
        assert!(!n
            .unreachable
            .iter()
            .any(|u| u.unit.id == unit_of(Side::Kommun)));
        assert_eq!(
            (ward.event_count(), ward.audit_log().len()),
            (events, audit)
        );
    }

    #[test]
    fn an_account_of_another_unit_is_refused() {
        let ward = TestNode::new(Side::Ward);
        let kim = account(Side::Kommun, "kim", &[Role::Staff]);
        ward.refuses_as(&kim, Request::Nodes {}, "annan enhet");
        let lena = account(Side::Ward, "lena", &[Role::LogReviewer]);
        assert!(matches!(
            ward.ask_as(&lena, Request::Nodes {}),
            Ok(Reply::Nodes(_))
        ));
    }

    #[test]
    fn bounds_read_as_words() {
        assert_eq!(duration_sv(300_000), "5 minuter");
        assert_eq!(duration_sv(60_000), "1 minut");
        assert_eq!(duration_sv(30_000), "30 sekunder");
        assert_eq!(duration_sv(90_000), "90 sekunder");
        assert_eq!(duration_sv(1_000), "1 sekund");
    }
}
