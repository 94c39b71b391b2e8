//! The peer table: what this node knows of each peer, and counters of refusals.

use std::collections::HashMap;
use std::net::SocketAddr;

use reservnod_proto::{NodeId, Roster};
use serde::{Deserialize, Serialize};

use crate::care::api::Contact;

/// The state of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    /// Connected and past the hello.
    Connected,
    /// Was connected; the connection ended.
    Disconnected,
}

/// One peer as shown by `reservnod peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its node id.
    pub node: String,
    /// Its unit and name in the roster.
    pub unit: Option<String>,
    /// Its name in the roster.
    pub name: Option<String>,
    /// State.
    pub state: PeerState,
    /// Its address.
    pub address: String,
    /// Whether we dialled it (`out`) or it dialled us (`in`).
    pub direction: String,
    /// When we last heard from it (ms since the epoch).
    pub last_seen_ms: u64,
    /// Round-trip time of the last ping.
    pub rtt_ms: Option<f64>,
    /// Its clock minus ours, estimated from the last ping (ms).
    pub clock_offset_ms: Option<i64>,
    /// When events were last synchronised with it (replication; none yet).
    pub last_sync_ms: Option<u64>,
    /// Events sent to and received from it.
    pub events_exchanged: u64,
    /// Its roster version, from its hello.
    pub roster_version: u64,
}

/// Counters of what peers did wrong, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Handshakes that failed (unknown or revoked key, bad TLS, wrong ALPN).
    pub handshakes_failed: u64,
    /// Connections closed for protocol violations (garbage, oversize frames, timeouts).
    pub protocol_violations: u64,
    /// Connections refused because the node was at its connection or handshake limit.
    pub refused_busy: u64,
    /// Connection attempts answered with a QUIC Retry (address validation) because many
    /// handshakes were in progress.
    #[serde(default)]
    pub retries_sent: u64,
    /// Handshakes dropped for not finishing within the handshake deadline.
    #[serde(default)]
    pub handshakes_timed_out: u64,
    /// Connections closed because the peer was revoked.
    pub revoked_closed: u64,
}

/// Peers by node id (bounded by the roster: only admitted nodes get past the handshake).
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: HashMap<NodeId, PeerInfo>,
    /// Counters.
    pub counters: Counters,
}

impl PeerTable {
    /// Records a connection that passed the hello.
    pub fn connected(
        &mut self,
        node: NodeId,
        roster: &Roster,
        addr: SocketAddr,
        dialed: bool,
        now_ms: u64,
        roster_version: u64,
    ) {
        let entry = roster.node(&node);
        self.peers.insert(
            node,
            PeerInfo {
                node: node.to_string(),
                unit: entry.map(|e| e.unit.to_string()),
                name: entry.map(|e| e.name.clone()),
                state: PeerState::Connected,
                address: addr.to_string(),
                direction: if dialed { "out" } else { "in" }.into(),
                last_seen_ms: now_ms,
                rtt_ms: None,
                clock_offset_ms: None,
                last_sync_ms: self.peers.get(&node).and_then(|p| p.last_sync_ms),
                events_exchanged: self.peers.get(&node).map_or(0, |p| p.events_exchanged),
                roster_version,
            },
        );
    }
    /// Records a sign of life.
    pub fn seen(&mut self, node: &NodeId, now_ms: u64) {
        if let Some(p) = self.peers.get_mut(node) {
            p.last_seen_ms = now_ms;
        }
    }
    /// Records a ping's round trip and the clock offset it showed.
    pub fn pinged(&mut self, node: &NodeId, rtt_ms: f64, offset_ms: i64, now_ms: u64) {
        if let Some(p) = self.peers.get_mut(node) {
            p.rtt_ms = Some(rtt_ms);
            p.clock_offset_ms = Some(offset_ms);
            p.last_seen_ms = now_ms;
        }
    }
    /// Counts events sent to or received from a peer.
    pub fn exchanged(&mut self, node: &NodeId, n: u64) {
        if let Some(p) = self.peers.get_mut(node) {
            p.events_exchanged += n;
        }
    }
    /// Records a completed reconciliation with a peer.
    pub fn synced(&mut self, node: &NodeId, now_ms: u64) {
        if let Some(p) = self.peers.get_mut(node) {
            p.last_sync_ms = Some(now_ms);
        }
    }
    /// Records that the connection ended.
    pub fn disconnected(&mut self, node: &NodeId) {
        if let Some(p) = self.peers.get_mut(node) {
            p.state = PeerState::Disconnected;
        }
    }
    /// Whether a node is connected now.
    pub fn is_connected(&self, node: &NodeId) -> bool {
        self.peers
            .get(node)
            .is_some_and(|p| p.state == PeerState::Connected)
    }
    /// Last time a node was seen, if ever.
    pub fn last_seen_ms(&self, node: &NodeId) -> Option<u64> {
        self.peers.get(node).map(|p| p.last_seen_ms)
    }
    /// All peers, connected first, then by node id.
    pub fn snapshot(&self) -> Vec<PeerInfo> {
        let mut v: Vec<PeerInfo> = self.peers.values().cloned().collect();
        v.sort_by(|a, b| {
            (a.state != PeerState::Connected, &a.node)
                .cmp(&(b.state != PeerState::Connected, &b.node))
        });
        v
    }
    /// Each peer as the care layer's `nodes` reads it.
    pub fn contacts(&self) -> Vec<Contact> {
        self.peers
            .iter()
            .map(|(id, p)| Contact {
                node: *id,
                connected: p.state == PeerState::Connected,
                address: p.address.clone(),
                last_seen_ms: p.last_seen_ms,
                rtt_ms: p.rtt_ms,
                clock_offset_ms: p.clock_offset_ms,
                last_sync_ms: p.last_sync_ms,
                events_exchanged: p.events_exchanged,
            })
            .collect()
    }
    /// Forgets nodes the roster no longer lists.
    pub fn retain_in(&mut self, roster: &Roster) {
        self.peers.retain(|id, _| roster.node(id).is_some());
    }
}
