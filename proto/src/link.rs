//! The link protocol between two connected nodes, as a sans-io state machine (PROTOCOL.md
//! 6.5, 7.7 and 7.8).
//!
//! One [`Link`] per connection, in quinn-proto's shape: the driver feeds it the peer's frames
//! ([`Link::handle_frame`]) and the passing of time ([`Link::handle_timeout`] at
//! [`Link::poll_timeout`]), writes the frames it hands out ([`Link::poll_transmit`]), and does
//! what its events ask ([`Link::poll`]): read a key snapshot and hand it back
//! ([`Link::provide_keys`]), queue ids for sending, store events and say so
//! ([`Link::events_stored`]), install a roster ([`Link::roster_offered`]). Time is always a
//! parameter ([`Time`], on a clock the driver controls); the node's hybrid clock, its id
//! counter and its per-peer session budget are asked of the [`Host`]. Nothing here reads a
//! clock, touches a store or does I/O, so the daemon and a simulator run the same rules.
//!
//! What the machine owns:
//! - the hello: sent first, the peer's due within [`HELLO_TIMEOUT`]; its version must be
//!   ours, its node the TLS key, and the peer admitted by the current roster;
//! - the roster exchange: a peer whose known roster version is older is sent ours, at once
//!   and after every roster change; a peer no longer admitted is closed;
//! - pings every [`PING_INTERVAL`], and the round-trip time and clock offset they show;
//! - reconciliation sessions: only the dialler starts them, urgent scope first and then all,
//!   on connect and every [`RECONCILE_INTERVAL`]; one unanswered for [`SESSION_STALL`] is
//!   started over, and a late reply to it is ignored; the responder keeps one session per
//!   scope, always replies, and lets a peer start new ones only within the node's budget;
//! - what a round found: `Pending` and the ids to queue for the peer, `Want` for what this
//!   side lacks, and the count of events still to come;
//! - back-pressure: after handing out one `Events` batch to ingest (or a roster to install,
//!   or a key request) it takes no further frame until the driver answers
//!   ([`Link::wants_frame`]); a roster that claims to be newer and fails verification closes
//!   the link.
//!
//! Event batches themselves are not sent by the machine: the ids it asks to queue go into a
//! per-connection [`crate::outbox::SendQueue`], and the writer sends every frame of
//! [`Link::poll_transmit`] before each batch taken from that queue.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Add;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{EventId, SignedEvent};
use crate::frame::{Frame, Hello, Scope, PROTOCOL_VERSION, WANT_IDS_MAX};
use crate::hlc::Hlc;
use crate::keys::NodeId;
use crate::limits::GOODBYE_REASON_BYTES_MAX;
use crate::reconcile::{self, Key, Reconciler};
use crate::roster::{Roster, SignedRoster};

/// A peer must send its hello within this long after the link is made.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often each side pings (round-trip time, clock offset, liveness).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How often the dialler starts a new reconciliation session (the first this long after
/// the hellos; one also starts right after them).
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(30);
/// A session of the dialler's unanswered for longer than this is abandoned and started over.
pub const SESSION_STALL: Duration = Duration::from_secs(5 * 60);
/// Most events one `Pending` frame may add to the count still to come: bounded by what a
/// session can find, so a lying peer only skews the display.
pub const PENDING_ANNOUNCED_MAX: u64 = 10_000_000;
/// New reconciliation sessions a peer may start with a node at once (each takes a snapshot
/// of the key space); an honest dialler starts two per reconcile interval. Counted by the
/// node per peer node, over its connections ([`Host::allow_new_session`]).
pub const RESPONDER_SESSIONS_BURST: u32 = 10;
/// After the burst, one more new session per this long. A peer beyond it is closed as
/// breaking the protocol.
pub const RESPONDER_SESSION_REFILL: Duration = Duration::from_millis(500);
/// Longest reason given in a goodbye or a close, in characters (and never more than
/// [`GOODBYE_REASON_BYTES_MAX`] bytes).
pub const CLOSE_REASON_CHARS_MAX: usize = 200;

/// Application close codes of a connection (PROTOCOL.md 6.5).
pub mod close {
    /// Orderly shutdown.
    pub const SHUTDOWN: u32 = 0;
    /// The peer broke the protocol (bad frame, timeout, wrong hello).
    pub const PROTOCOL: u32 = 1;
    /// The peer speaks an incompatible protocol version.
    pub const VERSION: u32 = 2;
    /// The peer is not (or no longer) admitted by the roster.
    pub const NOT_ADMITTED: u32 = 3;
    /// A second connection to the same node; the other one is kept.
    pub const DUPLICATE: u32 = 4;
    /// Too many connections.
    pub const BUSY: u32 = 5;
}

/// A moment on the driver's monotonic clock: microseconds since an origin the driver picks
/// (the daemon: when the connection started; a simulator: its simulated zero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Time {
        Time(us)
    }

    /// `ms` milliseconds after the origin (saturating).
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(us))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// What a link asks of the node that hosts it: the node's hybrid clock, its wall clock, its
/// counter of numbers, and its budget of sessions per peer node (which outlives any one
/// connection). The daemon implements it over its node state; a simulator over its
/// simulated node.
pub trait Host {
    /// A timestamp for a frame this node sends now (advances the node's clock).
    fn tick(&mut self) -> Hlc;
    /// A peer's clock, seen in a frame (the node's clock may refuse to follow it).
    fn observe(&mut self, remote: Hlc);
    /// This node's wall clock, milliseconds since the Unix epoch (for the clock offset).
    fn wall_ms(&mut self) -> u64;
    /// A number not handed out before by this node, for a session or a ping.
    fn next_id(&mut self) -> u64;
    /// Whether `peer` may start one more reconciliation session with this node now (at most
    /// [`RESPONDER_SESSIONS_BURST`], then one per [`RESPONDER_SESSION_REFILL`]; for
    /// instance a [`crate::budget::TokenBucket`] per peer node). Asked once per new session
    /// number the peer sends; a refusal closes the link as a violation.
    fn allow_new_session(&mut self, peer: &NodeId) -> bool;
}

/// What became of a roster the peer sent ([`LinkEvent::OfferRoster`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RosterOffer {
    /// Installed: this is its version, which the peer therefore holds.
    Installed(u64),
    /// Not installed: not newer, not a successor, or it could not be stored now.
    Kept,
    /// It claims to be newer and fails verification: a peer forwards only rosters it
    /// verified against the same admin key, so this is no accident (the link closes).
    Forged(String),
}

/// The link's timers; [`Timing::default`] is the protocol's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// [`HELLO_TIMEOUT`].
    pub hello_timeout: Duration,
    /// [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// [`RECONCILE_INTERVAL`].
    pub reconcile_interval: Duration,
    /// [`SESSION_STALL`].
    pub session_stall: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            hello_timeout: HELLO_TIMEOUT,
            ping_interval: PING_INTERVAL,
            reconcile_interval: RECONCILE_INTERVAL,
            session_stall: SESSION_STALL,
        }
    }
}

/// The node's current roster, as the link needs it: decoded to check the peer's admission,
/// and signed to send it to a peer with an older one.
#[derive(Clone, Debug)]
pub struct RosterState {
    /// The roster in force.
    pub roster: Arc<Roster>,
    /// Its signed form, exactly as installed.
    pub signed: Arc<SignedRoster>,
}

/// How a link is made.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// This node.
    pub local: NodeId,
    /// The peer, as its TLS certificate proved (the hello must name the same node).
    pub peer: NodeId,
    /// Whether this side dialled (and so starts every reconciliation session).
    pub dialled: bool,
    /// This node's roster now.
    pub roster: RosterState,
    /// The timers.
    pub timing: Timing,
}

/// Whether `roster` admits `node` to connect: listed and not revoked. The reason names
/// the node and the roster version.
pub fn admission(roster: &Roster, node: &NodeId) -> Result<(), String> {
    match roster.node(node) {
        None => Err(format!(
            "node {node} is not in roster version {}",
            roster.version
        )),
        Some(_) if roster.is_revoked(node) => Err(format!(
            "node {node} is revoked (roster version {})",
            roster.version
        )),
        Some(_) => Ok(()),
    }
}

/// How a link ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// This side closes: write what [`Link::poll_transmit`] still gives (the goodbye, if
    /// `goodbye`), then close the connection with `code` and `reason`.
    Local {
        /// One of [`close`].
        code: u32,
        /// Why, for both sides' logs (already cut to [`CLOSE_REASON_CHARS_MAX`]).
        reason: String,
        /// Whether a `Goodbye` was queued (a protocol violation is closed without one).
        goodbye: bool,
    },
    /// The peer said goodbye.
    Peer {
        /// Its reason (cut to [`CLOSE_REASON_CHARS_MAX`]).
        reason: String,
    },
}

/// What the machine asks of its driver or tells it, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// The hellos are exchanged and every check passed: the peer is connected.
    Connected {
        /// The roster version in the peer's hello.
        roster_version: u64,
    },
    /// Read a sorted snapshot of the stored keys of `scope` and hand it back with
    /// [`Link::provide_keys`]. No further frame is taken until then.
    NeedKeys {
        /// Which keys: urgent events only, or all.
        scope: Scope,
    },
    /// A round found events this side holds and the peer lacks: queue them for sending
    /// (they come from this side's own snapshot).
    Queue {
        /// The events.
        ids: Vec<EventId>,
        /// Whether to queue them before the bulk.
        urgent: bool,
    },
    /// The peer asked for these events: queue those this node holds; ignore the rest.
    Serve {
        /// The events asked for.
        ids: Vec<EventId>,
        /// Whether to queue them before the bulk.
        urgent: bool,
    },
    /// This many more events are on their way (announced or asked for): add them to the
    /// count still to come.
    Expecting {
        /// How many.
        events: u64,
    },
    /// This many of the events counted as still to come have arrived.
    Arrived {
        /// How many.
        events: u64,
    },
    /// Verify, authorize and durably store these events (a peer's batch), then call
    /// [`Link::events_stored`]. No further frame is taken until then.
    Ingest {
        /// The batch, as received.
        events: Vec<SignedEvent>,
    },
    /// The peer sent a roster: install it if it is newer and signed by the trusted admin,
    /// then say what became of it with [`Link::roster_offered`]. No further frame is taken
    /// until then.
    OfferRoster(SignedRoster),
    /// A session of scope `All` completed: the peer is in sync with this node.
    Synced,
    /// A ping's answer: the round trip, and the peer's clock minus ours.
    PeerInfo {
        /// Round-trip time.
        rtt: Duration,
        /// The peer's wall clock minus ours, in milliseconds.
        clock_offset_ms: i64,
    },
    /// The dialler's session got no answer within the stall time; a new one starts.
    SessionStalled {
        /// The abandoned session.
        session: u64,
    },
    /// The link is over; see [`Close`]. Nothing follows this event.
    Closed(Close),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Our hello is sent; the peer's is due by the deadline.
    Hello {
        deadline: Time,
    },
    Open,
    Closed,
}

/// The dialler's own session.
enum Own {
    /// Waiting for the driver's key snapshot.
    Keys { scope: Scope },
    /// Started: waiting for the peer's reply since `waiting_since`.
    Running {
        scope: Scope,
        id: u64,
        reconciler: Reconciler,
        waiting_since: Time,
    },
}

/// A peer's session kept by the responder.
struct Kept {
    scope: Scope,
    id: u64,
    reconciler: Reconciler,
}

/// A ping waiting for its pong: its nonce, when it left, and our wall clock then.
#[derive(Clone, Copy)]
struct PingSent {
    nonce: u64,
    at: Time,
    wall_ms: u64,
}

/// One connection's protocol state. See the module documentation.
pub struct Link<C> {
    host: C,
    peer: NodeId,
    dialled: bool,
    timing: Timing,
    roster: RosterState,
    /// The newest roster version the peer is known to hold.
    peer_roster: u64,
    phase: Phase,
    /// The dialler's session (never used by the responder).
    own: Option<Own>,
    /// The responder's kept sessions, at most one per scope.
    kept: Vec<Kept>,
    /// A peer's message that starts a new session, waiting for the key snapshot.
    parked: Option<(Scope, u64, reconcile::Message)>,
    /// An `Events` batch was handed out and is not yet stored.
    storing: bool,
    /// A roster was handed out and what became of it is not yet known.
    offering: bool,
    /// Frames handed in while the machine waited (the driver should not read them).
    deferred: VecDeque<Frame>,
    transmit: VecDeque<Frame>,
    events: VecDeque<LinkEvent>,
    /// Events the peer announced or we asked for that have not arrived.
    expected: u64,
    next_ping: Time,
    ping: Option<PingSent>,
    next_session: Time,
}

impl<C: Host> Link<C> {
    /// A link just made at `now`: its hello is the first frame to send.
    pub fn new(config: LinkConfig, mut host: C, now: Time) -> Self {
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            roster_version: config.roster.roster.version,
            node: config.local,
            hlc: host.tick(),
        };
        let mut transmit = VecDeque::new();
        transmit.push_back(Frame::Hello(hello));
        Link {
            host,
            peer: config.peer,
            dialled: config.dialled,
            timing: config.timing,
            roster: config.roster,
            peer_roster: 0,
            phase: Phase::Hello {
                deadline: now + config.timing.hello_timeout,
            },
            own: None,
            kept: Vec::new(),
            parked: None,
            storing: false,
            offering: false,
            deferred: VecDeque::new(),
            transmit,
            events: VecDeque::new(),
            expected: 0,
            next_ping: now,
            ping: None,
            next_session: now,
        }
    }

    /// The peer's node id (its TLS key).
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// Whether this side dialled.
    pub fn dialled(&self) -> bool {
        self.dialled
    }

    /// Whether the hellos are exchanged and the link is not closed.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the link is over ([`LinkEvent::Closed`] was or will be handed out).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Events the peer announced or this side asked for that have not arrived; what a
    /// driver subtracts from its count still to come when the connection ends.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// The dialler's own session, if one is starting or running: its scope, and its number
    /// once started (None while the key snapshot is awaited).
    pub fn session(&self) -> Option<(Scope, Option<u64>)> {
        match &self.own {
            None => None,
            Some(Own::Keys { scope }) => Some((*scope, None)),
            Some(Own::Running { scope, id, .. }) => Some((*scope, Some(*id))),
        }
    }

    /// The newest roster version the peer is known to hold.
    pub fn peer_roster_version(&self) -> u64 {
        self.peer_roster
    }

    /// The node the link asks for clocks, numbers and session budgets.
    pub fn host(&self) -> &C {
        &self.host
    }

    /// The host, mutably (a simulator moves its clock).
    pub fn host_mut(&mut self) -> &mut C {
        &mut self.host
    }

    /// Whether the driver should read the next frame: false while a key snapshot, the
    /// storing of a batch or the fate of a roster is awaited, and once closed. This is the back-pressure of the
    /// link: a frame handed in anyway is kept and taken in order later.
    pub fn wants_frame(&self) -> bool {
        self.phase != Phase::Closed && !self.waiting()
    }

    fn waiting(&self) -> bool {
        self.storing
            || self.offering
            || self.parked.is_some()
            || matches!(self.own, Some(Own::Keys { .. }))
    }

    /// The next frame to write, in order. Write all of them before the next event batch.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmit.pop_front()
    }

    /// The next thing the driver must do or know, in order.
    pub fn poll(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] is due next, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        match self.phase {
            Phase::Hello { deadline } => Some(deadline),
            Phase::Open if self.dialled => Some(self.next_ping.min(self.next_session)),
            Phase::Open => Some(self.next_ping),
            Phase::Closed => None,
        }
    }

    /// A frame from the peer, at `now`.
    pub fn handle_frame(&mut self, frame: Frame, now: Time) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.waiting() {
            self.deferred.push_back(frame);
            return;
        }
        self.process(frame, now);
    }

    /// Time has passed: runs whatever is due at `now` (hello deadline, ping, session).
    pub fn handle_timeout(&mut self, now: Time) {
        match self.phase {
            Phase::Hello { deadline } => {
                if now >= deadline {
                    self.violation("no hello within the hello timeout".into());
                }
            }
            Phase::Open => {
                if now >= self.next_ping {
                    self.next_ping = next_tick(self.next_ping, self.timing.ping_interval, now);
                    self.send_ping(now);
                }
                if self.dialled && now >= self.next_session {
                    self.next_session =
                        next_tick(self.next_session, self.timing.reconcile_interval, now);
                    self.session_tick(now);
                }
            }
            Phase::Closed => {}
        }
    }

    /// The key snapshot asked for by [`LinkEvent::NeedKeys`]: every stored key of `scope`,
    /// sorted and without duplicates (it is sorted here if it is not). A snapshot nobody
    /// waits for (the link closed, or started over) is dropped.
    pub fn provide_keys(&mut self, scope: Scope, mut keys: Vec<Key>, now: Time) {
        if self.phase == Phase::Closed {
            return;
        }
        if !keys.windows(2).all(|w| w[0] < w[1]) {
            keys.sort_unstable();
            keys.dedup();
        }
        if matches!(self.own, Some(Own::Keys { scope: s }) if s == scope) {
            let reconciler = Reconciler::new(keys);
            let id = self.host.next_id();
            let message = reconciler.initiate();
            self.own = Some(Own::Running {
                scope,
                id,
                reconciler,
                waiting_since: now,
            });
            self.transmit.push_back(Frame::Reconcile {
                scope,
                session: id,
                message,
            });
        } else if self.parked.as_ref().is_some_and(|(s, _, _)| *s == scope) {
            if let Some((scope, id, message)) = self.parked.take() {
                // A new session number starts over: the fresh snapshot replaces the kept one.
                self.kept.retain(|k| k.scope != scope);
                self.kept.push(Kept {
                    scope,
                    id,
                    reconciler: Reconciler::new(keys),
                });
                self.respond(scope, id, &message);
            }
        }
        self.take_deferred(now);
    }

    /// The batch handed out by [`LinkEvent::Ingest`] is stored (or refused): the next frame
    /// may come.
    pub fn events_stored(&mut self, now: Time) {
        if self.storing {
            self.storing = false;
            self.take_deferred(now);
        }
    }

    /// The node's roster changed: the peer is checked again (and closed if no longer
    /// admitted), and sent the new roster if it holds an older one.
    pub fn set_roster(&mut self, roster: RosterState) {
        self.roster = roster;
        if self.phase != Phase::Open {
            return;
        }
        if let Err(reason) = admission(&self.roster.roster, &self.peer) {
            self.close_local(close::NOT_ADMITTED, &reason, true);
            return;
        }
        self.send_roster_if_older();
    }

    /// What became of the roster handed out by [`LinkEvent::OfferRoster`]. Call it before
    /// [`Link::set_roster`] with a roster it installed, so that roster is not sent back.
    pub fn roster_offered(&mut self, offer: RosterOffer, now: Time) {
        if !self.offering {
            return;
        }
        self.offering = false;
        match offer {
            RosterOffer::Installed(version) => self.peer_roster = self.peer_roster.max(version),
            RosterOffer::Kept => {}
            RosterOffer::Forged(reason) => {
                self.violation(format!("a roster that fails verification: {reason}"));
                return;
            }
        }
        self.take_deferred(now);
    }

    /// Closes from this side with a goodbye (shutdown, for instance). A link already closed
    /// stays as it is.
    pub fn close(&mut self, code: u32, reason: &str) {
        if self.phase != Phase::Closed {
            self.close_local(code, reason, true);
        }
    }

    fn take_deferred(&mut self, now: Time) {
        while self.phase != Phase::Closed && !self.waiting() {
            let Some(frame) = self.deferred.pop_front() else {
                break;
            };
            self.process(frame, now);
        }
    }

    fn process(&mut self, frame: Frame, now: Time) {
        match self.phase {
            Phase::Closed => {}
            Phase::Hello { .. } => match frame {
                Frame::Hello(hello) => self.on_hello(hello, now),
                other => self.violation(format!("expected a hello, got {}", other.name())),
            },
            Phase::Open => match frame {
                Frame::Hello(_) => self.violation("a second hello".into()),
                Frame::Ping { nonce, hlc } => {
                    self.host.observe(hlc);
                    let hlc = self.host.tick();
                    self.transmit.push_back(Frame::Pong { nonce, hlc });
                }
                Frame::Pong { nonce, hlc } => {
                    if let Some(sent) = self.ping.take() {
                        if sent.nonce == nonce {
                            let rtt = now.saturating_since(sent.at);
                            self.events.push_back(LinkEvent::PeerInfo {
                                rtt,
                                clock_offset_ms: clock_offset_ms(sent.wall_ms, rtt, hlc),
                            });
                        }
                    }
                    self.host.observe(hlc);
                }
                Frame::Roster(signed) => {
                    self.offering = true;
                    self.events.push_back(LinkEvent::OfferRoster(signed));
                }
                Frame::Goodbye { reason } => {
                    self.phase = Phase::Closed;
                    self.transmit.clear();
                    self.end_waits();
                    self.events.push_back(LinkEvent::Closed(Close::Peer {
                        reason: cut_reason(&reason),
                    }));
                }
                Frame::Events(events) => {
                    let arrived = (events.len() as u64).min(self.expected);
                    if arrived > 0 {
                        self.expected -= arrived;
                        self.events
                            .push_back(LinkEvent::Arrived { events: arrived });
                    }
                    self.storing = true;
                    self.events.push_back(LinkEvent::Ingest { events });
                }
                Frame::Reconcile {
                    scope,
                    session,
                    message,
                } => {
                    if self.dialled {
                        self.on_reply(scope, session, &message, now);
                    } else {
                        self.on_peer_session(scope, session, message);
                    }
                }
                Frame::Want { urgent, ids } => {
                    if !ids.is_empty() {
                        self.events.push_back(LinkEvent::Serve { ids, urgent });
                    }
                }
                Frame::Pending { events } => {
                    let events = events.min(PENDING_ANNOUNCED_MAX);
                    if events > 0 {
                        self.expected = self.expected.saturating_add(events);
                        self.events.push_back(LinkEvent::Expecting { events });
                    }
                }
            },
        }
    }

    fn on_hello(&mut self, hello: Hello, now: Time) {
        if hello.protocol_version != PROTOCOL_VERSION {
            let reason = format!(
                "incompatible protocol version {} (this node speaks {PROTOCOL_VERSION})",
                hello.protocol_version
            );
            self.close_local(close::VERSION, &reason, true);
            return;
        }
        if hello.node != self.peer {
            self.violation("hello names a node other than the TLS key".into());
            return;
        }
        // Admission again: the roster may have changed since the handshake checked it.
        if let Err(reason) = admission(&self.roster.roster, &self.peer) {
            self.close_local(close::NOT_ADMITTED, &reason, true);
            return;
        }
        self.phase = Phase::Open;
        self.peer_roster = hello.roster_version;
        self.events.push_back(LinkEvent::Connected {
            roster_version: hello.roster_version,
        });
        self.send_roster_if_older();
        self.next_ping = now;
        if self.dialled {
            self.next_session = now + self.timing.reconcile_interval;
            self.start_session(Scope::Urgent);
        }
    }

    fn send_roster_if_older(&mut self) {
        if self.peer_roster < self.roster.roster.version {
            self.transmit
                .push_back(Frame::Roster(SignedRoster::clone(&self.roster.signed)));
            self.peer_roster = self.roster.roster.version;
        }
    }

    fn send_ping(&mut self, now: Time) {
        let nonce = self.host.next_id();
        let wall_ms = self.host.wall_ms();
        self.ping = Some(PingSent {
            nonce,
            at: now,
            wall_ms,
        });
        let hlc = self.host.tick();
        self.transmit.push_back(Frame::Ping { nonce, hlc });
    }

    /// The dialler's periodic session: a new one unless its own is still running, or that
    /// one has waited for an answer beyond the stall time.
    fn session_tick(&mut self, now: Time) {
        match &self.own {
            None => self.start_session(Scope::Urgent),
            Some(Own::Running {
                id, waiting_since, ..
            }) if now.saturating_since(*waiting_since) > self.timing.session_stall => {
                let session = *id;
                self.events.push_back(LinkEvent::SessionStalled { session });
                self.start_session(Scope::Urgent);
            }
            Some(_) => {}
        }
    }

    fn start_session(&mut self, scope: Scope) {
        self.own = Some(Own::Keys { scope });
        self.events.push_back(LinkEvent::NeedKeys { scope });
    }

    /// The dialler: a reply to its own session, or a late one (ignored).
    fn on_reply(&mut self, scope: Scope, session: u64, message: &reconcile::Message, now: Time) {
        let Some(Own::Running {
            scope: own_scope,
            id,
            reconciler,
            waiting_since,
        }) = &mut self.own
        else {
            return;
        };
        if *own_scope != scope || *id != session {
            // A late reply to a session abandoned as stalled.
            return;
        }
        let reply = match reconciler.reconcile(message) {
            Ok(reply) => reply,
            Err(e) => {
                self.violation(e.to_string());
                return;
            }
        };
        let (have, need) = reconciler.take_found();
        *waiting_since = now;
        self.act_on_found(scope, have, need);
        match reply {
            Some(message) => self.transmit.push_back(Frame::Reconcile {
                scope,
                session,
                message,
            }),
            None => {
                self.own = None;
                match scope {
                    Scope::Urgent => self.start_session(Scope::All),
                    Scope::All => self.events.push_back(LinkEvent::Synced),
                }
            }
        }
    }

    /// The responder: a message of the peer's session; a new number waits for a snapshot.
    fn on_peer_session(&mut self, scope: Scope, session: u64, message: reconcile::Message) {
        if self
            .kept
            .iter()
            .any(|k| k.scope == scope && k.id == session)
        {
            self.respond(scope, session, &message);
        } else if !self.host.allow_new_session(&self.peer) {
            // Each new session takes a snapshot of the key space: bounded per peer node.
            self.violation(format!(
                "more than {RESPONDER_SESSIONS_BURST} new reconciliation sessions, or more than one per {} ms",
                RESPONDER_SESSION_REFILL.as_millis()
            ));
        } else {
            self.parked = Some((scope, session, message));
            self.events.push_back(LinkEvent::NeedKeys { scope });
        }
    }

    /// The responder processes a round of a kept session and always replies.
    fn respond(&mut self, scope: Scope, session: u64, message: &reconcile::Message) {
        let Some(index) = self
            .kept
            .iter()
            .position(|k| k.scope == scope && k.id == session)
        else {
            return;
        };
        let kept = &mut self.kept[index];
        let reply = match kept.reconciler.reconcile(message) {
            Ok(reply) => reply,
            Err(e) => {
                self.violation(e.to_string());
                return;
            }
        };
        let (have, need) = kept.reconciler.take_found();
        self.act_on_found(scope, have, need);
        let done = reply.is_none();
        // Always answer, so the dialler learns when the session is settled.
        let message = reply.unwrap_or_else(|| reconcile::Message {
            ranges: vec![reconcile::Range {
                upper: None,
                mode: reconcile::Mode::Skip,
            }],
        });
        self.transmit.push_back(Frame::Reconcile {
            scope,
            session,
            message,
        });
        if done {
            self.kept.remove(index);
            if scope == Scope::All {
                self.events.push_back(LinkEvent::Synced);
            }
        }
    }

    /// What a round found: announce and queue what the peer lacks, ask for what we lack.
    fn act_on_found(&mut self, scope: Scope, have: Vec<EventId>, need: Vec<EventId>) {
        let urgent = scope == Scope::Urgent;
        if !have.is_empty() {
            self.transmit.push_back(Frame::Pending {
                events: have.len() as u64,
            });
            self.events
                .push_back(LinkEvent::Queue { ids: have, urgent });
        }
        if !need.is_empty() {
            let n = need.len() as u64;
            self.expected = self.expected.saturating_add(n);
            self.events.push_back(LinkEvent::Expecting { events: n });
            for chunk in need.chunks(WANT_IDS_MAX) {
                self.transmit.push_back(Frame::Want {
                    urgent,
                    ids: chunk.to_vec(),
                });
            }
        }
    }

    fn violation(&mut self, reason: String) {
        self.close_local(close::PROTOCOL, &reason, false);
    }

    /// Ends the link from this side. A goodbye goes after what is already queued; without
    /// one, nothing more is sent.
    fn close_local(&mut self, code: u32, reason: &str, goodbye: bool) {
        let reason = cut_reason(reason);
        if goodbye {
            self.transmit.push_back(Frame::Goodbye {
                reason: reason.clone(),
            });
        } else {
            self.transmit.clear();
        }
        self.phase = Phase::Closed;
        self.end_waits();
        self.events.push_back(LinkEvent::Closed(Close::Local {
            code,
            reason,
            goodbye,
        }));
    }

    fn end_waits(&mut self) {
        self.deferred.clear();
        self.parked = None;
        self.own = None;
        self.kept.clear();
        self.storing = false;
        self.offering = false;
        self.ping = None;
    }
}

/// The next deadline of a periodic timer that fired at `now`: one interval after the last
/// deadline, or after `now` if that is already past (missed ticks are not made up).
fn next_tick(last: Time, interval: Duration, now: Time) -> Time {
    let next = last + interval;
    if next > now {
        next
    } else {
        now + interval
    }
}

/// The peer's clock minus ours: its wall clock in the pong against ours at the midpoint of
/// the round trip. Saturating, so no timestamp a peer sends can overflow it.
fn clock_offset_ms(sent_wall_ms: u64, rtt: Duration, theirs: Hlc) -> i64 {
    let half = u64::try_from(rtt.as_millis() / 2).unwrap_or(u64::MAX);
    let midpoint = sent_wall_ms.saturating_add(half);
    let offset = i128::from(theirs.wall_ms) - i128::from(midpoint);
    i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX })
}

/// A reason cut to [`CLOSE_REASON_CHARS_MAX`] characters and [`GOODBYE_REASON_BYTES_MAX`]
/// bytes, at a character boundary, so a goodbye always encodes.
fn cut_reason(reason: &str) -> String {
    let mut out = String::new();
    for c in reason.chars().take(CLOSE_REASON_CHARS_MAX) {
        if out.len() + c.len_utf8() > GOODBYE_REASON_BYTES_MAX {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_to_fit_a_goodbye() {
        let long = "å".repeat(300);
        let cut = cut_reason(&long);
        assert!(cut.len() <= GOODBYE_REASON_BYTES_MAX);
        assert_eq!(cut.chars().count(), GOODBYE_REASON_BYTES_MAX / 2);
        assert!(Frame::Goodbye { reason: cut }.encode().is_ok());
        assert_eq!(cut_reason(&"x".repeat(300)).len(), CLOSE_REASON_CHARS_MAX);
    }

    #[test]
    fn clock_offset_saturates_on_hostile_timestamps() {
        let rtt = Duration::from_millis(10);
        let hlc = |wall_ms| Hlc {
            wall_ms,
            logical: 0,
        };
        assert_eq!(clock_offset_ms(1_000, rtt, hlc(1_105)), 100);
        assert_eq!(clock_offset_ms(1_000, rtt, hlc(0)), -1_005);
        assert_eq!(clock_offset_ms(0, rtt, hlc(u64::MAX)), i64::MAX);
        assert_eq!(clock_offset_ms(u64::MAX, rtt, hlc(0)), i64::MIN);
    }
}
