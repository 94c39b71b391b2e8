//! LAN discovery: finds other nodes on the local network with no static configuration.
//!
//! Two mechanisms run side by side, each able to work without the other:
//! - **mDNS / DNS-SD** (`mdns-sd`): this node registers `_reservnod._udp.local.` with its
//!   QUIC port and a TXT property `node=<node id>`, and browses for the same type.
//! - **UDP broadcast**: every [`ANNOUNCE_INTERVAL`] this node sends the datagram
//!   `RSVN/1 <node id> <quic port>\n` to 255.255.255.255 and to the subnet broadcast address
//!   of each IPv4 interface that has one, and listens for the same on the discovery port.
//!   It covers networks where multicast is filtered but broadcast is not.
//!
//! What comes out is only a *hint* ([`Discovered`]: a node id and an address to dial).
//! Anyone on the LAN can send an announcement, so announcements are untrusted input: they
//! are parsed strictly and bounded, and admission is decided later by mutual TLS, which
//! checks that the peer really holds the key of the node id and that the roster admits it.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;

use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};
use reservnod_proto::NodeId;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::limits::{
    ANNOUNCE_INTERVAL, MAX_ADDRS_PER_SERVICE, MAX_BROADCAST_TARGETS, MAX_DATAGRAM,
    MDNS_MAX_REBROWSE, MDNS_STOP_TIMEOUT, REANNOUNCE, RECV_ERROR_BACKOFF, SEEN_MAX,
};

/// The DNS-SD service type registered and browsed.
pub const MDNS_SERVICE_TYPE: &str = "_reservnod._udp.local.";

/// Start of every broadcast announcement: protocol name and version.
const DATAGRAM_PREFIX: &str = "RSVN/1 ";
/// Length of a node id in its canonical grouped form: 8 groups of 7 and 7 dashes.
const NODE_ID_TEXT_LEN: usize = 63;
/// Most digits a port can have (65535).
const PORT_DIGITS_MAX: usize = 5;
/// The TXT property that carries the full node id.
const MDNS_NODE_PROPERTY: &str = "node";

/// Which mechanism found a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryKind {
    /// mDNS / DNS-SD.
    Mdns,
    /// The UDP broadcast announcement.
    Broadcast,
}

impl fmt::Display for DiscoveryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiscoveryKind::Mdns => "mdns",
            DiscoveryKind::Broadcast => "broadcast",
        })
    }
}

/// A peer seen on the LAN: a hint to dial, not a proof of anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Discovered {
    /// The node id the announcement claims (proven only by the TLS handshake).
    pub node: NodeId,
    /// Where to dial the node's QUIC endpoint.
    pub addr: SocketAddr,
    /// Which mechanism found it.
    pub via: DiscoveryKind,
}

/// What this node announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// This node's id.
    pub node: NodeId,
    /// The UDP port of this node's QUIC endpoint.
    pub quic_port: u16,
}

/// Why discovery could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A port given to [`run`] was 0, so there is nothing to announce or listen on.
    #[error("the {what} port for LAN discovery must be 1 to 65535, not 0")]
    ZeroPort {
        /// Which port: "QUIC" or "discovery".
        what: &'static str,
    },
    /// Neither mechanism could start.
    #[error("no LAN discovery could start: UDP broadcast: {broadcast}; mDNS: {mdns}")]
    NothingStarted {
        /// Why the UDP broadcast socket could not be set up.
        broadcast: io::Error,
        /// Why the mDNS daemon could not be set up.
        mdns: String,
    },
}

/// Runs mDNS and UDP-broadcast discovery until `shutdown` turns true (or its sender is dropped).
///
/// Sends each newly seen (node, address) pair to `found`, at most once per pair and mechanism
/// per [`REANNOUNCE`] window: a peer found by both mechanisms is reported once by each, so
/// the daemon can show which one works. mDNS reports a peer when its service resolves (again
/// when it changes), broadcast each time an announcement arrives after the window. Uses
/// `try_send`: when `found` is full the hint is dropped and counted (it comes again with the
/// next announcement); when `found` is closed this node keeps announcing itself.
///
/// Never panics on input. An error in one mechanism is logged (`tracing::warn`) and the other
/// keeps running. Returns `Err` only if a port is 0 or neither mechanism could start.
///
/// The broadcast socket binds 0.0.0.0:`discovery_port` with `SO_REUSEADDR`, so several
/// processes on one host can listen on the same port.
pub async fn run(
    me: Announce,
    discovery_port: u16,
    found: mpsc::Sender<Discovered>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DiscoveryError> {
    if me.quic_port == 0 {
        return Err(DiscoveryError::ZeroPort { what: "QUIC" });
    }
    if discovery_port == 0 {
        return Err(DiscoveryError::ZeroPort { what: "discovery" });
    }

    let broadcast_started = Broadcaster::start(&me, discovery_port);
    let mdns_started = Mdns::start(&me);
    let (mut broadcast, mut mdns) = match (broadcast_started, mdns_started) {
        (Err(broadcast), Err(mdns)) => {
            return Err(DiscoveryError::NothingStarted {
                broadcast,
                mdns: mdns.to_string(),
            })
        }
        (broadcast, mdns) => {
            if let Err(e) = &broadcast {
                warn!(
                    port = discovery_port,
                    error = %e,
                    "UDP broadcast discovery could not start; mDNS only"
                );
            }
            if let Err(e) = &mdns {
                warn!(error = %e, "mDNS discovery could not start; UDP broadcast only");
            }
            (broadcast.ok(), mdns.ok())
        }
    };
    info!(
        node = %me.node.short(),
        broadcast = broadcast.is_some(),
        mdns = mdns.is_some(),
        "LAN discovery running"
    );

    let mut reporter = Reporter::new(me.node, found);
    let mut tick = tokio::time::interval(ANNOUNCE_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // One byte more than allowed, so an oversize datagram is seen as oversize, not cut to fit.
    let mut buf = [0u8; MAX_DATAGRAM + 1];

    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        // The futures of a select! are dropped before the chosen branch runs, so the branches
        // may borrow `broadcast` and `mdns` mutably.
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    debug!("shutdown sender dropped; stopping LAN discovery");
                    break;
                }
            }
            _ = tick.tick(), if broadcast.is_some() => {
                if let Some(b) = broadcast.as_mut() {
                    b.announce().await;
                }
            }
            received = recv_datagram(broadcast.as_ref(), &mut buf), if broadcast.is_some() => {
                if let Some(b) = broadcast.as_mut() {
                    match received {
                        Ok((len, source)) => {
                            b.recv_errors = 0;
                            let datagram = buf.get(..len).unwrap_or(&buf[..]);
                            match broadcast_hint(datagram, source) {
                                Ok(hint) => {
                                    reporter.offer(hint, Instant::now());
                                }
                                Err(why) => debug!(%source, ?why, "ignored a discovery datagram"),
                            }
                        }
                        Err(e) => {
                            b.recv_errors = b.recv_errors.saturating_add(1);
                            if b.recv_errors == 1 {
                                warn!(error = %e, "receiving on the discovery port failed");
                            }
                            tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                        }
                    }
                }
            }
            event = next_mdns_event(mdns.as_ref()), if mdns.is_some() => {
                match event {
                    Some(ServiceEvent::ServiceResolved(service)) => {
                        let now = Instant::now();
                        for hint in mdns_hints(&service) {
                            reporter.offer(hint, now);
                        }
                    }
                    Some(other) => debug!(event = ?other, "mDNS browse event"),
                    None => {
                        // The browse channel closed (the daemon stopped or we fell behind).
                        let keep = mdns.as_mut().is_some_and(Mdns::rebrowse);
                        if !keep {
                            warn!("mDNS discovery stopped; UDP broadcast continues if it runs");
                            if let Some(m) = mdns.take() {
                                m.stop().await;
                            }
                        }
                    }
                }
            }
        }
    }

    if let Some(m) = mdns.take() {
        m.stop().await;
    }
    info!(dropped_hints = reporter.dropped, "LAN discovery stopped");
    Ok(())
}

/// Receives one datagram, or waits forever when broadcast discovery is not running.
async fn recv_datagram(
    broadcast: Option<&Broadcaster>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match broadcast {
        Some(b) => b.socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The next mDNS browse event (`None` once the channel is closed), or waits forever when mDNS
/// is not running.
async fn next_mdns_event(mdns: Option<&Mdns>) -> Option<ServiceEvent> {
    match mdns {
        Some(m) => m.events.recv_async().await.ok(),
        None => std::future::pending().await,
    }
}

// ---------------------------------------------------------------------------------------
// UDP broadcast

/// The broadcast socket and what it announces.
struct Broadcaster {
    socket: UdpSocket,
    port: u16,
    datagram: String,
    /// Whether the last announcement round reached no destination (to warn once, not every
    /// round).
    failing: bool,
    /// Receive errors in a row.
    recv_errors: u32,
}

impl Broadcaster {
    fn start(me: &Announce, port: u16) -> io::Result<Self> {
        let socket = bind_broadcast_socket(port)?;
        let datagram = encode_datagram(me);
        debug_assert!(datagram.len() <= MAX_DATAGRAM);
        Ok(Broadcaster {
            socket,
            port,
            datagram,
            failing: false,
            recv_errors: 0,
        })
    }

    /// Sends the announcement to every broadcast destination; errors are logged, not fatal.
    async fn announce(&mut self) {
        let mut sent = 0usize;
        let mut last_error = None;
        for target in broadcast_targets(self.port) {
            match self
                .socket
                .send_to(self.datagram.as_bytes(), SocketAddr::V4(target))
                .await
            {
                Ok(_) => sent += 1,
                Err(e) => {
                    debug!(%target, error = %e, "broadcast announcement not sent");
                    last_error = Some(e);
                }
            }
        }
        if sent == 0 && !self.failing {
            let error = last_error.map(|e| e.to_string()).unwrap_or_default();
            warn!(%error, "broadcast announcement reached no destination; will keep trying");
        }
        self.failing = sent == 0;
    }
}

/// 0.0.0.0:`port`, reusable by other processes on the host, allowed to send broadcasts.
fn bind_broadcast_socket(port: u16) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    UdpSocket::from_std(socket.into())
}

/// The limited broadcast address and the broadcast address of every non-loopback IPv4
/// interface that has one, without duplicates. Read anew each round, as interfaces come and go.
fn broadcast_targets(port: u16) -> Vec<SocketAddrV4> {
    let mut targets = vec![SocketAddrV4::new(Ipv4Addr::BROADCAST, port)];
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => {
            for interface in interfaces {
                if let if_addrs::IfAddr::V4(v4) = &interface.addr {
                    let Some(broadcast) = v4.broadcast else {
                        continue;
                    };
                    let target = SocketAddrV4::new(broadcast, port);
                    if v4.ip.is_loopback()
                        || broadcast.is_unspecified()
                        || targets.contains(&target)
                    {
                        continue;
                    }
                    if targets.len() >= MAX_BROADCAST_TARGETS {
                        break;
                    }
                    targets.push(target);
                }
            }
        }
        Err(e) => debug!(error = %e, "could not list interfaces; limited broadcast only"),
    }
    targets
}

/// Why a broadcast datagram was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatagramError {
    /// Longer than [`MAX_DATAGRAM`].
    TooLong,
    /// Does not start with the exact prefix `RSVN/1 `.
    Prefix,
    /// Not `<prefix><node id> <port>\n` (missing newline, separator, extra bytes, not UTF-8).
    Shape,
    /// The node id is not in canonical form or not a valid ed25519 key.
    NodeId,
    /// The port is not a canonical decimal number in 1..=65535.
    Port,
    /// The source address cannot be dialled (unspecified, multicast, broadcast, not IPv4).
    Source,
}

/// The announcement this node broadcasts.
fn encode_datagram(me: &Announce) -> String {
    format!("{DATAGRAM_PREFIX}{} {}\n", me.node, me.quic_port)
}

/// Reads `RSVN/1 <node id> <port>\n`, exactly, with nothing before or after.
fn parse_datagram(datagram: &[u8]) -> Result<(NodeId, u16), DatagramError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DatagramError::TooLong);
    }
    let rest = datagram
        .strip_prefix(DATAGRAM_PREFIX.as_bytes())
        .ok_or(DatagramError::Prefix)?;
    let rest = rest.strip_suffix(b"\n").ok_or(DatagramError::Shape)?;
    let text = std::str::from_utf8(rest).map_err(|_| DatagramError::Shape)?;
    let (id_text, port_text) = text.split_once(' ').ok_or(DatagramError::Shape)?;
    let node = parse_node_id_strict(id_text).ok_or(DatagramError::NodeId)?;
    let port = parse_port_strict(port_text).ok_or(DatagramError::Port)?;
    Ok((node, port))
}

/// A node id only in the exact form `Display` writes (no lenient spellings on the wire), and
/// only if it is a valid ed25519 key (anything else could never pass the TLS handshake).
fn parse_node_id_strict(text: &str) -> Option<NodeId> {
    if text.len() != NODE_ID_TEXT_LEN {
        return None;
    }
    let node = NodeId::from_str(text).ok()?;
    if node.to_string() != text || node.verifying_key().is_err() {
        return None;
    }
    Some(node)
}

/// A port in 1..=65535 written as plain decimal digits, no sign and no leading zero.
fn parse_port_strict(text: &str) -> Option<u16> {
    if text.is_empty()
        || text.len() > PORT_DIGITS_MAX
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    text.parse::<u16>().ok().filter(|&port| port != 0)
}

/// An IPv4 address a hint may point at: not unspecified, multicast or broadcast.
fn dialable_ipv4(ip: Ipv4Addr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && !ip.is_broadcast()
}

/// The hint in a broadcast datagram: the announced node at (source address, announced port).
fn broadcast_hint(datagram: &[u8], source: SocketAddr) -> Result<Discovered, DatagramError> {
    let (node, port) = parse_datagram(datagram)?;
    let ip = match source.ip() {
        IpAddr::V4(ip) if dialable_ipv4(ip) => ip,
        _ => return Err(DatagramError::Source),
    };
    Ok(Discovered {
        node,
        addr: SocketAddr::from((ip, port)),
        via: DiscoveryKind::Broadcast,
    })
}

// ---------------------------------------------------------------------------------------
// mDNS

/// The running mDNS daemon with this node's registration and browse.
struct Mdns {
    daemon: ServiceDaemon,
    /// Full name of this node's registered service, to unregister it.
    fullname: String,
    events: mdns_sd::Receiver<ServiceEvent>,
    rebrowses: u32,
    /// Set once the daemon was shut down, so `Drop` does not do it again.
    stopped: bool,
}

impl Mdns {
    fn start(me: &Announce) -> Result<Self, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        match Self::register_and_browse(&daemon, me) {
            Ok((fullname, events)) => Ok(Mdns {
                daemon,
                fullname,
                events,
                rebrowses: 0,
                stopped: false,
            }),
            Err(e) => {
                // The daemon runs its own thread: do not leave it behind.
                if let Err(stop) = daemon.shutdown() {
                    debug!(error = %stop, "mDNS daemon shutdown after a failed start");
                }
                Err(e)
            }
        }
    }

    fn register_and_browse(
        daemon: &ServiceDaemon,
        me: &Announce,
    ) -> Result<(String, mdns_sd::Receiver<ServiceEvent>), mdns_sd::Error> {
        // Hints are IPv4 only, and loopback would only ever show this host's own nodes.
        daemon.disable_interface(vec![IfKind::IPv6, IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        let short = me.node.short();
        let host = format!("rsvn-{}.local.", short.to_ascii_lowercase());
        let node_text = me.node.to_string();
        let properties = [(MDNS_NODE_PROPERTY, node_text.as_str())];
        // No fixed addresses: the daemon publishes those of each interface it answers on.
        let service = ServiceInfo::new(
            MDNS_SERVICE_TYPE,
            &short,
            &host,
            (),
            me.quic_port,
            &properties[..],
        )?
        .enable_addr_auto();
        let fullname = service.get_fullname().to_owned();
        daemon.register(service)?;
        let events = daemon.browse(MDNS_SERVICE_TYPE)?;
        Ok((fullname, events))
    }

    /// Starts the browse again after its channel closed; false when it should give up.
    fn rebrowse(&mut self) -> bool {
        if self.rebrowses >= MDNS_MAX_REBROWSE {
            return false;
        }
        self.rebrowses += 1;
        match self.daemon.browse(MDNS_SERVICE_TYPE) {
            Ok(events) => {
                debug!(attempt = self.rebrowses, "mDNS browse started again");
                self.events = events;
                true
            }
            Err(e) => {
                warn!(error = %e, "mDNS browse could not start again");
                false
            }
        }
    }

    /// Unregisters this node (peers get a goodbye) and stops the daemon, each wait bounded.
    async fn stop(mut self) {
        self.stopped = true;
        match self.daemon.unregister(&self.fullname) {
            Ok(status) => {
                if tokio::time::timeout(MDNS_STOP_TIMEOUT, status.recv_async())
                    .await
                    .is_err()
                {
                    debug!("mDNS unregister did not confirm in time");
                }
            }
            Err(e) => debug!(error = %e, "mDNS unregister failed"),
        }
        match self.daemon.shutdown() {
            Ok(status) => {
                if tokio::time::timeout(MDNS_STOP_TIMEOUT, status.recv_async())
                    .await
                    .is_err()
                {
                    debug!("mDNS daemon did not confirm shutdown in time");
                }
            }
            Err(e) => debug!(error = %e, "mDNS daemon shutdown failed"),
        }
    }
}

impl Drop for Mdns {
    /// If `run` is cancelled instead of shut down, still stop the daemon's thread.
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = self.daemon.shutdown() {
                debug!(error = %e, "mDNS daemon shutdown on drop failed");
            }
        }
    }
}

/// The hints in a resolved service: the node of its TXT property at each IPv4 address.
/// Empty if the TXT node id is missing or invalid or the port is 0.
fn mdns_hints(service: &ResolvedService) -> Vec<Discovered> {
    let node = service
        .get_property_val(MDNS_NODE_PROPERTY)
        .flatten()
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(parse_node_id_strict);
    let Some(node) = node else {
        debug!(service = %service.get_fullname(), "mDNS service without a valid node id ignored");
        return Vec::new();
    };
    let port = service.get_port();
    if port == 0 {
        return Vec::new();
    }
    let mut ips: Vec<Ipv4Addr> = service
        .get_addresses_v4()
        .into_iter()
        .filter(|&ip| dialable_ipv4(ip))
        .collect();
    // Sorted, so which addresses are kept when there are too many does not depend on hashing.
    ips.sort_unstable();
    ips.truncate(MAX_ADDRS_PER_SERVICE);
    ips.into_iter()
        .map(|ip| Discovered {
            node,
            addr: SocketAddr::from((ip, port)),
            via: DiscoveryKind::Mdns,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reporting

/// Key of a reported hint: a peer found by both mechanisms is reported by each.
type SeenKey = (NodeId, SocketAddr, DiscoveryKind);

/// When each recently reported hint was last reported, at most [`SEEN_MAX`] of them.
struct Seen {
    last: HashMap<SeenKey, Instant>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            last: HashMap::with_capacity(SEEN_MAX),
        }
    }

    /// Whether `key` was reported less than [`REANNOUNCE`] before `now`.
    fn is_recent(&self, key: &SeenKey, now: Instant) -> bool {
        self.last
            .get(key)
            .is_some_and(|&then| now.saturating_duration_since(then) < REANNOUNCE)
    }

    /// Remembers that `key` was reported at `now`, forgetting the oldest entry when full.
    fn record(&mut self, key: SeenKey, now: Instant) {
        if !self.last.contains_key(&key) && self.last.len() >= SEEN_MAX {
            // A linear scan over at most SEEN_MAX entries, only when a new key meets a full map.
            let oldest = self
                .last
                .iter()
                .min_by_key(|(_, &then)| then)
                .map(|(&key, _)| key);
            if let Some(oldest) = oldest {
                self.last.remove(&oldest);
            }
        }
        self.last.insert(key, now);
    }
}

/// What became of an offered hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// Sent to the daemon.
    Sent,
    /// This node's own announcement.
    Own,
    /// Already reported within [`REANNOUNCE`].
    Recent,
    /// The daemon's channel was full; dropped and counted.
    Dropped,
    /// The daemon's channel is closed.
    Closed,
}

/// Filters hints (own node, recently reported) and hands them to the daemon without waiting.
struct Reporter {
    me: NodeId,
    found: mpsc::Sender<Discovered>,
    seen: Seen,
    /// Hints dropped because the channel was full.
    dropped: u64,
    /// Whether the closed channel was already logged.
    closed_logged: bool,
}

impl Reporter {
    fn new(me: NodeId, found: mpsc::Sender<Discovered>) -> Self {
        Reporter {
            me,
            found,
            seen: Seen::new(),
            dropped: 0,
            closed_logged: false,
        }
    }

    fn offer(&mut self, hint: Discovered, now: Instant) -> Offer {
        if hint.node == self.me {
            return Offer::Own;
        }
        let key = (hint.node, hint.addr, hint.via);
        if self.seen.is_recent(&key, now) {
            return Offer::Recent;
        }
        match self.found.try_send(hint) {
            Ok(()) => {
                debug!(node = %key.0.short(), addr = %key.1, via = %key.2, "peer found on the LAN");
                // Remembered only once sent, so a dropped hint is offered again next time.
                self.seen.record(key, now);
                Offer::Sent
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped = self.dropped.saturating_add(1);
                if self.dropped == 1 || self.dropped.is_power_of_two() {
                    warn!(
                        dropped = self.dropped,
                        "discovery hints dropped: the daemon is not keeping up"
                    );
                }
                Offer::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                if !self.closed_logged {
                    self.closed_logged = true;
                    debug!("nobody receives discovery hints; still announcing this node");
                }
                Offer::Closed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use reservnod_proto::NodeKey;
    use std::time::Duration;

    fn node(seed: u8) -> NodeId {
        NodeKey::from_seed(&[seed; 32]).id()
    }

    fn datagram(node: &NodeId, port: &str) -> Vec<u8> {
        format!("RSVN/1 {node} {port}\n").into_bytes()
    }

    fn source() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40_000))
    }

    #[test]
    fn valid_datagram_round_trips() {
        let me = Announce {
            node: node(1),
            quic_port: 4433,
        };
        let text = encode_datagram(&me);
        assert!(text.len() <= MAX_DATAGRAM);
        assert_eq!(parse_datagram(text.as_bytes()), Ok((me.node, 4433)));
        let hint = broadcast_hint(text.as_bytes(), source()).expect("valid datagram");
        assert_eq!(
            hint,
            Discovered {
                node: me.node,
                addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
                via: DiscoveryKind::Broadcast,
            }
        );
        // The extreme ports.
        assert_eq!(parse_datagram(&datagram(&me.node, "1")), Ok((me.node, 1)));
        assert_eq!(
            parse_datagram(&datagram(&me.node, "65535")),
            Ok((me.node, 65535))
        );
    }

    #[test]
    fn own_announcement_is_ignored() {
        let me = node(1);
        let (tx, mut rx) = mpsc::channel(4);
        let mut reporter = Reporter::new(me, tx);
        let hint = broadcast_hint(&datagram(&me, "4433"), source()).expect("valid datagram");
        assert_eq!(reporter.offer(hint, Instant::now()), Offer::Own);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        let id = node(2);
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\n".to_vec(),
            b"RSVN/1 ".to_vec(),
            b"RSVN/1 \n".to_vec(),
            b"hello world".to_vec(),
            vec![0xff; 80],
            format!("RSVN/2 {id} 4433\n").into_bytes(),
            format!("rsvn/1 {id} 4433\n").into_bytes(),
            format!(" RSVN/1 {id} 4433\n").into_bytes(),
            format!("RSVN/1 {id} 4433").into_bytes(),
            format!("RSVN/1 {id} 4433\n\n").into_bytes(),
            format!("RSVN/1 {id} 4433\r\n").into_bytes(),
            format!("RSVN/1 {id}  4433\n").into_bytes(),
            format!("RSVN/1 {id} 4433 extra\n").into_bytes(),
            format!("RSVN/1 {id}\n").into_bytes(),
            format!("RSVN/1 {id} 4433\n\0").into_bytes(),
        ];
        for case in cases {
            assert!(
                parse_datagram(&case).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(&case)
            );
        }
        // Invalid UTF-8 where the node id should be.
        let mut bad = b"RSVN/1 ".to_vec();
        bad.extend_from_slice(&[0xc3, 0x28, b' ', b'1', b'\n']);
        assert_eq!(parse_datagram(&bad), Err(DatagramError::Shape));
    }

    #[test]
    fn oversize_is_rejected() {
        let id = node(3);
        let mut long = datagram(&id, "4433");
        long.resize(MAX_DATAGRAM + 1, b' ');
        assert_eq!(parse_datagram(&long), Err(DatagramError::TooLong));
        assert_eq!(
            parse_datagram(&vec![b'A'; 65_536]),
            Err(DatagramError::TooLong)
        );
    }

    #[test]
    fn bad_port_is_rejected() {
        let id = node(4);
        for port in [
            "0", "00", "065535", "65536", "99999", "100000", "+4433", "-1", "4433a", "", "0x10",
            " 1", "٣",
        ] {
            assert_eq!(
                parse_datagram(&datagram(&id, port)),
                Err(DatagramError::Port),
                "port {port:?}"
            );
        }
    }

    #[test]
    fn bad_node_id_is_rejected() {
        let id = node(5).to_string();
        // A wrong check character (the last of the first part).
        let mut misread: Vec<char> = id.chars().collect();
        misread[13] = if misread[13] == 'A' { 'B' } else { 'A' };
        let misread: String = misread.into_iter().collect();
        let cases = [
            misread,
            id.to_lowercase(),
            id.replace('-', ""),
            id.replace('-', " "),
            id[..id.len() - 1].to_owned(),
            format!("{id}A"),
            "A".repeat(NODE_ID_TEXT_LEN),
            "-".repeat(NODE_ID_TEXT_LEN),
        ];
        for bad in cases {
            let text = format!("RSVN/1 {bad} 4433\n");
            assert!(parse_datagram(text.as_bytes()).is_err(), "accepted {bad:?}");
        }
        // A well-formed id whose bytes are not a valid ed25519 point.
        let not_a_key = (0u8..=255)
            .map(|b| NodeId([b; 32]))
            .find(|n| n.verifying_key().is_err())
            .expect("some constant byte string is not a curve point");
        assert_eq!(
            parse_datagram(&datagram(&not_a_key, "4433")),
            Err(DatagramError::NodeId)
        );
    }

    #[test]
    fn undialable_source_is_rejected() {
        let text = datagram(&node(6), "4433");
        for ip in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 251),
        ] {
            assert_eq!(
                broadcast_hint(&text, SocketAddr::from((ip, 1234))),
                Err(DatagramError::Source)
            );
        }
        assert_eq!(
            broadcast_hint(&text, "[::1]:1234".parse().expect("literal")),
            Err(DatagramError::Source)
        );
    }

    #[test]
    fn reports_once_per_window_and_mechanism() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut reporter = Reporter::new(node(1), tx);
        let hint = Discovered {
            node: node(7),
            addr: SocketAddr::from(([10, 231, 0, 2], 4433)),
            via: DiscoveryKind::Broadcast,
        };
        let t0 = Instant::now();
        assert_eq!(reporter.offer(hint.clone(), t0), Offer::Sent);
        assert_eq!(
            reporter.offer(hint.clone(), t0 + ANNOUNCE_INTERVAL),
            Offer::Recent
        );
        let by_mdns = Discovered {
            via: DiscoveryKind::Mdns,
            ..hint.clone()
        };
        assert_eq!(reporter.offer(by_mdns.clone(), t0), Offer::Sent);
        assert_eq!(reporter.offer(hint.clone(), t0 + REANNOUNCE), Offer::Sent);
        assert_eq!(rx.try_recv().ok(), Some(hint.clone()));
        assert_eq!(rx.try_recv().ok(), Some(by_mdns));
        assert_eq!(rx.try_recv().ok(), Some(hint));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn full_channel_drops_and_offers_again_later() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut reporter = Reporter::new(node(1), tx);
        let first = Discovered {
            node: node(8),
            addr: SocketAddr::from(([10, 231, 0, 2], 4433)),
            via: DiscoveryKind::Broadcast,
        };
        let second = Discovered {
            node: node(9),
            ..first.clone()
        };
        let now = Instant::now();
        assert_eq!(reporter.offer(first.clone(), now), Offer::Sent);
        assert_eq!(reporter.offer(second.clone(), now), Offer::Dropped);
        assert_eq!(reporter.dropped, 1);
        assert_eq!(rx.try_recv().ok(), Some(first));
        // Not remembered when dropped, so the next announcement gets through.
        assert_eq!(reporter.offer(second.clone(), now), Offer::Sent);
        assert_eq!(rx.try_recv().ok(), Some(second));
        drop(rx);
        let third = Discovered {
            node: node(10),
            addr: SocketAddr::from(([10, 231, 0, 3], 4433)),
            via: DiscoveryKind::Mdns,
        };
        assert_eq!(reporter.offer(third, now), Offer::Closed);
    }

    #[test]
    fn seen_is_capped_and_forgets_the_oldest() {
        let mut seen = Seen::new();
        let t0 = Instant::now();
        let key = |i: usize| {
            let port = u16::try_from(i + 1).expect("small index");
            (
                node(11),
                SocketAddr::from(([10, 231, 0, 2], port)),
                DiscoveryKind::Broadcast,
            )
        };
        for i in 0..=SEEN_MAX {
            let at = t0 + Duration::from_millis(u64::try_from(i).expect("small index"));
            seen.record(key(i), at);
        }
        assert_eq!(seen.last.len(), SEEN_MAX);
        let now = t0 + Duration::from_secs(1);
        assert!(!seen.is_recent(&key(0), now), "the oldest was forgotten");
        assert!(seen.is_recent(&key(1), now));
        assert!(seen.is_recent(&key(SEEN_MAX), now));
        // Refreshing a known key does not evict anything.
        seen.record(key(1), now);
        assert_eq!(seen.last.len(), SEEN_MAX);
        assert!(seen.is_recent(&key(2), now));
    }

    fn resolved(node_property: Option<&str>, addrs: &str, port: u16) -> ResolvedService {
        let properties: Vec<(&str, &str)> = node_property
            .map(|v| (MDNS_NODE_PROPERTY, v))
            .into_iter()
            .collect();
        ServiceInfo::new(
            MDNS_SERVICE_TYPE,
            "PEER",
            "rsvn-peer.local.",
            addrs,
            port,
            &properties[..],
        )
        .expect("valid service info")
        .as_resolved_service()
    }

    #[test]
    fn mdns_hints_take_node_from_txt_and_each_ipv4_address() {
        let peer = node(12);
        let text = peer.to_string();
        let service = resolved(Some(&text), "10.231.0.2,10.231.1.2,fe80::1", 4433);
        let mut hints = mdns_hints(&service);
        hints.sort_by_key(|h| h.addr);
        let expected: Vec<Discovered> = ["10.231.0.2:4433", "10.231.1.2:4433"]
            .iter()
            .map(|a| Discovered {
                node: peer,
                addr: a.parse().expect("literal"),
                via: DiscoveryKind::Mdns,
            })
            .collect();
        assert_eq!(hints, expected);
    }

    #[test]
    fn mdns_hints_ignore_bad_records() {
        let peer = node(13).to_string();
        assert!(mdns_hints(&resolved(None, "10.231.0.2", 4433)).is_empty());
        assert!(mdns_hints(&resolved(Some("not a node id"), "10.231.0.2", 4433)).is_empty());
        assert!(mdns_hints(&resolved(Some(&peer.to_lowercase()), "10.231.0.2", 4433)).is_empty());
        assert!(mdns_hints(&resolved(Some(&peer), "10.231.0.2", 0)).is_empty());
        assert!(mdns_hints(&resolved(Some(&peer), "0.0.0.0,224.0.0.251", 4433)).is_empty());
        // Own node: mDNS browsing also resolves this node's own registration.
        let me = node(13);
        let (tx, _rx) = mpsc::channel(4);
        let mut reporter = Reporter::new(me, tx);
        for hint in mdns_hints(&resolved(Some(&peer), "10.231.0.2", 4433)) {
            assert_eq!(reporter.offer(hint, Instant::now()), Offer::Own);
        }
    }

    #[test]
    fn mdns_hints_are_bounded() {
        let peer = node(14).to_string();
        let addrs: Vec<String> = (1..=40).map(|i| format!("10.231.0.{i}")).collect();
        let service = resolved(Some(&peer), &addrs.join(","), 4433);
        assert_eq!(mdns_hints(&service).len(), MAX_ADDRS_PER_SERVICE);
    }

    #[tokio::test]
    async fn zero_ports_are_refused_before_any_socket() {
        let (tx, _rx) = mpsc::channel(1);
        let (_stop, shutdown) = watch::channel(false);
        let me = Announce {
            node: node(1),
            quic_port: 0,
        };
        let result = run(me, 47_000, tx.clone(), shutdown.clone()).await;
        assert!(matches!(
            result,
            Err(DiscoveryError::ZeroPort { what: "QUIC" })
        ));
        let me = Announce {
            node: node(1),
            quic_port: 4433,
        };
        let result = run(me, 0, tx, shutdown).await;
        assert!(matches!(
            result,
            Err(DiscoveryError::ZeroPort { what: "discovery" })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_datagram(&bytes);
            let _ = broadcast_hint(&bytes, source());
        }

        #[test]
        fn parser_never_panics_near_valid(
            seed in any::<u8>(),
            port in any::<u16>(),
            cut in 0usize..80,
            flip in 0usize..80,
            byte in any::<u8>(),
        ) {
            let mut bytes = datagram(&node(seed), &port.to_string());
            if port != 0 {
                prop_assert_eq!(parse_datagram(&bytes), Ok((node(seed), port)));
            }
            if let Some(b) = bytes.get_mut(flip) {
                *b = byte;
            }
            bytes.truncate(cut);
            let _ = parse_datagram(&bytes);
        }
    }
}
