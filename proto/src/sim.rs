//! A deterministic simulation of two linked nodes (feature `testkit`; tests only).
//!
//! quinn-proto's test `Pair` is the model: two [`Link`] machines, each with its own
//! [`SendQueue`] and an in-memory store, joined by two ordered pipes (a QUIC stream: frames
//! arrive in the order sent, each after a delay drawn from a seeded RNG, so the two
//! directions interleave arbitrarily in time). Simulated time jumps to the next thing due:
//! a frame's arrival, a link's timeout or the end of a slow store write. Each node is driven
//! as the daemon drives a link: events are answered at once, control frames are written
//! before event batches, batches only once connected, and a receiver takes no frame while
//! the link holds it back. Everything each node wrote, received and was told is recorded for
//! the checks of a test.
//!
//! The events are synthetic ([`event`]): their bytes carry their timestamp and priority and
//! are not signed; the simulated store takes any it can parse. The link never looks inside
//! an event, so this exercises all of it.
#![allow(missing_docs)]

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore;

use crate::budget::TokenBucket;
use crate::event::{EventId, SignedEvent};
use crate::frame::{Frame, Scope};
use crate::hlc::{Hlc, HlcClock, HLC_KEY_BYTES};
use crate::link::{
    Close, Host, Link, LinkConfig, LinkEvent, RosterOffer, RosterState, Time, Timing,
    RESPONDER_SESSIONS_BURST, RESPONDER_SESSION_REFILL,
};
use crate::outbox::SendQueue;
use crate::reconcile::Key;
use crate::roster::SignedRoster;
use crate::testkit::{region, Region, SeededRng};
use crate::{AdminPublicKey, NodeId};

/// The simulated wall clock at time zero (ms since the Unix epoch), November 2026.
pub const EPOCH_MS: u64 = 1_795_000_000_000;
/// How far ahead a remote clock may be before a node's clock refuses to follow it.
pub const CLOCK_AHEAD_MAX_MS: u64 = 60_000;

/// A synthetic event at `hlc`: its bytes are the timestamp, the priority and `seed`, so its
/// id is fixed by those three. Returns its reconciliation key too.
pub fn event(hlc: Hlc, urgent: bool, seed: u64) -> (Key, SignedEvent) {
    let mut bytes = Vec::with_capacity(HLC_KEY_BYTES + 9);
    bytes.extend_from_slice(&hlc.to_key_bytes());
    bytes.push(u8::from(urgent));
    bytes.extend_from_slice(&seed.to_le_bytes());
    let se = SignedEvent {
        bytes,
        sig: [0; 64],
    };
    ((hlc, se.id()), se)
}

/// The key and priority of a synthetic event, or None for anything else.
pub fn parse(se: &SignedEvent) -> Option<(Key, bool)> {
    if se.bytes.len() != HLC_KEY_BYTES + 9 {
        return None;
    }
    let hlc = Hlc::from_key_bytes(se.bytes[..HLC_KEY_BYTES].try_into().ok()?);
    let urgent = match se.bytes[HLC_KEY_BYTES] {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(((hlc, se.id()), urgent))
}

/// A node in the simulation as its link sees it: simulated time plus a fixed offset of its
/// wall clock, its hybrid clock, its numbers, and its budget of new sessions for the peer.
pub struct SimHost {
    now: Rc<Cell<Time>>,
    /// This node's wall clock minus true time, in ms.
    pub offset_ms: i64,
    hlc: HlcClock,
    ids: u64,
    /// New sessions the peer may still start (the protocol's burst and refill).
    pub sessions: TokenBucket,
}

impl SimHost {
    fn wall(&self) -> u64 {
        let true_ms = EPOCH_MS + self.now.get().as_micros() / 1000;
        true_ms.saturating_add_signed(self.offset_ms)
    }
}

impl Host for SimHost {
    fn tick(&mut self) -> Hlc {
        let wall = self.wall();
        self.hlc.tick(wall)
    }
    fn observe(&mut self, remote: Hlc) {
        let wall = self.wall();
        let _ = self.hlc.observe(remote, wall);
    }
    fn wall_ms(&mut self) -> u64 {
        self.wall()
    }
    fn next_id(&mut self) -> u64 {
        self.ids += 1;
        self.ids
    }
    fn allow_new_session(&mut self, _peer: &NodeId) -> bool {
        let now_ms = self.now.get().as_micros() / 1000;
        self.sessions.take(now_ms)
    }
}

/// A frame as recorded: control frames whole, event batches as their ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Wire {
    /// A control frame.
    Frame(Frame),
    /// An `Events` frame, by the ids of its events.
    Events(Vec<EventId>),
}

impl Wire {
    fn of(frame: &Frame) -> Wire {
        match frame {
            Frame::Events(events) => Wire::Events(events.iter().map(SignedEvent::id).collect()),
            other => Wire::Frame(other.clone()),
        }
    }
}

/// What a link told its node, as recorded (an ingest by the ids of its batch).
#[derive(Clone, Debug, PartialEq)]
pub enum Told {
    /// [`LinkEvent::Connected`].
    Connected { roster_version: u64 },
    /// [`LinkEvent::NeedKeys`].
    NeedKeys { scope: Scope },
    /// [`LinkEvent::Queue`].
    Queue { ids: Vec<EventId>, urgent: bool },
    /// [`LinkEvent::Serve`], with the ids this node held and queued.
    Serve {
        ids: Vec<EventId>,
        held: Vec<EventId>,
        urgent: bool,
    },
    /// [`LinkEvent::Expecting`].
    Expecting { events: u64 },
    /// [`LinkEvent::Arrived`].
    Arrived { events: u64 },
    /// [`LinkEvent::Ingest`], by ids.
    Ingest { ids: Vec<EventId> },
    /// [`LinkEvent::OfferRoster`], with what became of it.
    OfferRoster { outcome: RosterOffer },
    /// [`LinkEvent::Synced`].
    Synced,
    /// [`LinkEvent::PeerInfo`].
    PeerInfo { rtt: Duration, clock_offset_ms: i64 },
    /// [`LinkEvent::SessionStalled`].
    SessionStalled { session: u64 },
    /// [`LinkEvent::Closed`].
    Closed(Close),
}

/// One stored synthetic event.
#[derive(Clone, Debug)]
pub struct Stored {
    pub key: Key,
    pub urgent: bool,
    pub event: SignedEvent,
}

/// One simulated node with its link to the other.
pub struct Node {
    pub link: Link<SimHost>,
    pub queue: SendQueue,
    pub store: BTreeMap<EventId, Stored>,
    /// The roster this node has installed.
    pub roster: RosterState,
    admin: AdminPublicKey,
    /// Every frame this node wrote, with when.
    pub sent: Vec<(Time, Wire)>,
    /// Every frame handed to this node's link, with when.
    pub received: Vec<(Time, Wire)>,
    /// Everything the link told this node, with when.
    pub told: Vec<(Time, Told)>,
    /// How long storing a batch takes (the link waits for it).
    pub store_delay: Duration,
    /// Whether this node answers the link's key requests (false: a driver that hangs).
    pub answer_keys: bool,
    /// Whether this node reads from its pipe at all (false: a peer that stopped reading).
    pub reading: bool,
    storing: Option<(Time, Vec<SignedEvent>)>,
    /// How the link ended, if it did.
    pub closed: Option<Close>,
}

impl Node {
    /// Stores events as if written before the link was made (nothing is queued).
    pub fn preload(&mut self, events: impl IntoIterator<Item = (Key, bool, SignedEvent)>) {
        for (key, urgent, event) in events {
            self.store.insert(key.1, Stored { key, urgent, event });
        }
    }

    /// Writes events here now: stored, and queued for the peer (pushed), urgent first.
    pub fn write(&mut self, events: impl IntoIterator<Item = (Key, bool, SignedEvent)>) {
        for (key, urgent, event) in events {
            if self
                .store
                .insert(key.1, Stored { key, urgent, event })
                .is_none()
            {
                self.queue.queue([key.1], urgent);
            }
        }
    }

    /// The stored keys of a scope, sorted.
    pub fn keys(&self, scope: Scope) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .store
            .values()
            .filter(|s| scope == Scope::All || s.urgent)
            .map(|s| s.key)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Ids found by this side's sessions for the peer ([`Told::Queue`]) and ids the peer
    /// asked for that this side held ([`Told::Serve`]), in order.
    pub fn offered(&self) -> Vec<EventId> {
        self.told
            .iter()
            .flat_map(|(_, t)| match t {
                Told::Queue { ids, .. } => ids.clone(),
                Told::Serve { held, .. } => held.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The ids of every event this node wrote to the peer, in order.
    pub fn events_sent(&self) -> Vec<EventId> {
        self.sent
            .iter()
            .flat_map(|(_, w)| match w {
                Wire::Events(ids) => ids.clone(),
                Wire::Frame(_) => Vec::new(),
            })
            .collect()
    }

    /// How often the link said the peer is in sync.
    pub fn synced(&self) -> usize {
        self.told.iter().filter(|(_, t)| *t == Told::Synced).count()
    }

    fn finish_store(&mut self, now: Time) {
        if let Some((_, events)) = self.storing.take() {
            self.store_batch(events);
            self.link.events_stored(now);
        }
    }

    fn store_batch(&mut self, events: Vec<SignedEvent>) {
        for se in events {
            if let Some((key, urgent)) = parse(&se) {
                self.store.entry(key.1).or_insert(Stored {
                    key,
                    urgent,
                    event: se,
                });
            }
        }
    }

    /// Answers everything the link asks; then writes its frames, then event batches.
    fn service(&mut self, now: Time, pipe: &mut Pipe, rng: &mut SeededRng) {
        loop {
            let mut busy = false;
            while let Some(event) = self.link.poll() {
                busy = true;
                self.on_event(event, now);
            }
            while let Some(frame) = self.link.poll_transmit() {
                busy = true;
                self.sent.push((now, Wire::of(&frame)));
                pipe.send(now, frame, rng);
            }
            if !busy {
                break;
            }
        }
        // Event batches only after every control frame, and only once connected (the
        // peer's hello has come, so ours went first).
        while self.link.is_connected() && !self.queue.is_empty() {
            let store = &self.store;
            let batch = self
                .queue
                .next_batch(|id| Ok::<_, ()>(store.get(id).map(|s| s.event.clone())))
                .unwrap_or_default();
            if batch.is_empty() {
                continue;
            }
            let frame = Frame::Events(batch);
            self.sent.push((now, Wire::of(&frame)));
            pipe.send(now, frame, rng);
        }
    }

    fn on_event(&mut self, event: LinkEvent, now: Time) {
        let told = match event {
            LinkEvent::Connected { roster_version } => Told::Connected { roster_version },
            LinkEvent::NeedKeys { scope } => {
                if self.answer_keys {
                    let keys = self.keys(scope);
                    self.link.provide_keys(scope, keys, now);
                }
                Told::NeedKeys { scope }
            }
            LinkEvent::Queue { ids, urgent } => {
                self.queue.queue(ids.iter().copied(), urgent);
                Told::Queue { ids, urgent }
            }
            LinkEvent::Serve { ids, urgent } => {
                let held: Vec<EventId> = ids
                    .iter()
                    .filter(|id| self.store.contains_key(id))
                    .copied()
                    .collect();
                self.queue.queue(held.iter().copied(), urgent);
                Told::Serve { ids, held, urgent }
            }
            LinkEvent::Expecting { events } => Told::Expecting { events },
            LinkEvent::Arrived { events } => Told::Arrived { events },
            LinkEvent::Ingest { events } => {
                let ids = events.iter().map(SignedEvent::id).collect();
                if self.store_delay.is_zero() {
                    self.store_batch(events);
                    self.link.events_stored(now);
                } else {
                    self.storing = Some((now + self.store_delay, events));
                }
                Told::Ingest { ids }
            }
            LinkEvent::OfferRoster(signed) => {
                let outcome = self.offer_roster(signed, now);
                Told::OfferRoster { outcome }
            }
            LinkEvent::Synced => Told::Synced,
            LinkEvent::PeerInfo {
                rtt,
                clock_offset_ms,
            } => Told::PeerInfo {
                rtt,
                clock_offset_ms,
            },
            LinkEvent::SessionStalled { session } => Told::SessionStalled { session },
            LinkEvent::Closed(close) => {
                self.closed = Some(close.clone());
                Told::Closed(close)
            }
        };
        self.told.push((now, told));
    }

    /// As the daemon: a roster that claims no newer version is kept without a look; one
    /// that claims a newer one and does not verify is forged; a newer successor by the
    /// trusted admin is installed. The link is told, then the new roster is in force.
    fn offer_roster(&mut self, signed: SignedRoster, now: Time) -> RosterOffer {
        let current = self.roster.roster.version;
        let outcome = match signed.claimed_version() {
            Ok(v) if v <= current => RosterOffer::Kept,
            _ => match signed.verify_trusted(&self.admin) {
                Err(e) => RosterOffer::Forged(e.to_string()),
                Ok(roster) if self.roster.roster.check_successor(&roster).is_err() => {
                    RosterOffer::Kept
                }
                Ok(roster) => {
                    let version = roster.version;
                    self.link
                        .roster_offered(RosterOffer::Installed(version), now);
                    self.install_roster(RosterState {
                        roster: Arc::new(roster),
                        signed: Arc::new(signed),
                    });
                    return RosterOffer::Installed(version);
                }
            },
        };
        self.link.roster_offered(outcome.clone(), now);
        outcome
    }

    /// Installs a roster here (as the drop file would) and tells the link.
    pub fn install_roster(&mut self, roster: RosterState) {
        self.roster = roster.clone();
        self.link.set_roster(roster);
    }
}

/// One direction of the stream: frames in order, each with when it arrives.
#[derive(Default)]
pub struct Pipe {
    frames: VecDeque<(Time, Frame)>,
    /// Each frame's delay is drawn from this range (inclusive), in microseconds.
    pub delay_us: (u64, u64),
    last: Time,
    /// Frames delivered so far.
    pub delivered: usize,
}

impl Pipe {
    fn send(&mut self, now: Time, frame: Frame, rng: &mut SeededRng) {
        let (lo, hi) = self.delay_us;
        let delay = lo + rng.next_u64() % (hi.saturating_sub(lo) + 1);
        // A stream is ordered: a frame never overtakes the one before it.
        let at = (now + Duration::from_micros(delay)).max(self.last);
        self.last = at;
        self.frames.push_back((at, frame));
    }

    /// When the next frame arrives, if one is on its way.
    pub fn next_at(&self) -> Option<Time> {
        self.frames.front().map(|(at, _)| *at)
    }

    /// Frames on their way.
    pub fn in_flight(&self) -> usize {
        self.frames.len()
    }
}

/// Which node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The dialler.
    A,
    /// The responder.
    B,
}

/// Two nodes, `a` the dialler and `b` the responder, linked at time zero.
pub struct Pair {
    pub now: Time,
    clock: Rc<Cell<Time>>,
    pub a: Node,
    pub b: Node,
    /// Frames from a to b.
    pub to_b: Pipe,
    /// Frames from b to a.
    pub to_a: Pipe,
    rng: SeededRng,
    /// The region whose roster admits both nodes (its ward node is a, its municipal node b).
    pub region: Region,
}

/// The default one-way delay of each frame: 1 to 20 ms.
pub const DELAY_US: (u64, u64) = (1_000, 20_000);

impl Pair {
    /// A pair with the protocol's timing and the default delays; `seed` fixes everything.
    pub fn new(seed: &str) -> Pair {
        Pair::with_timing(seed, Timing::default())
    }

    /// A pair with the given timers.
    pub fn with_timing(seed: &str, timing: Timing) -> Pair {
        let region = region(seed);
        let signed = region
            .roster
            .sign(&region.admin)
            .expect("test roster signs");
        let roster = RosterState {
            roster: Arc::new(region.roster.clone()),
            signed: Arc::new(signed),
        };
        let clock = Rc::new(Cell::new(Time::ZERO));
        let (a_id, b_id) = (region.ward.1.id(), region.kommun.1.id());
        let node = |local, peer, dialled| {
            let config = LinkConfig {
                local,
                peer,
                dialled,
                roster: roster.clone(),
                timing,
            };
            let sim_clock = SimHost {
                now: clock.clone(),
                offset_ms: 0,
                hlc: HlcClock::new(CLOCK_AHEAD_MAX_MS),
                ids: 0,
                sessions: TokenBucket::new(
                    RESPONDER_SESSIONS_BURST,
                    RESPONDER_SESSION_REFILL.as_millis() as u64,
                    0,
                ),
            };
            Node {
                link: Link::new(config, sim_clock, Time::ZERO),
                queue: SendQueue::new(),
                store: BTreeMap::new(),
                roster: roster.clone(),
                admin: region.admin.public(),
                sent: Vec::new(),
                received: Vec::new(),
                told: Vec::new(),
                store_delay: Duration::ZERO,
                answer_keys: true,
                reading: true,
                storing: None,
                closed: None,
            }
        };
        let a = node(a_id, b_id, true);
        let b = node(b_id, a_id, false);
        let pipe = || Pipe {
            delay_us: DELAY_US,
            ..Pipe::default()
        };
        Pair {
            now: Time::ZERO,
            clock,
            a,
            b,
            to_b: pipe(),
            to_a: pipe(),
            rng: SeededRng::new(&format!("sim {seed}")),
            region,
        }
    }

    /// One node.
    pub fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Sets both directions' delay range (inclusive, microseconds).
    pub fn set_delay_us(&mut self, lo: u64, hi: u64) {
        self.to_a.delay_us = (lo, hi.max(lo));
        self.to_b.delay_us = (lo, hi.max(lo));
    }

    /// When the next thing is due, if anything is.
    fn next_due(&self) -> Option<Time> {
        let arrivals = [(&self.b, &self.to_b), (&self.a, &self.to_a)]
            .into_iter()
            .filter(|(n, _)| n.reading && n.link.wants_frame())
            .filter_map(|(_, p)| p.next_at());
        let timers = [&self.a, &self.b]
            .into_iter()
            .flat_map(|n| [n.link.poll_timeout(), n.storing.as_ref().map(|(at, _)| *at)]);
        arrivals.chain(timers.flatten()).min()
    }

    /// Services both nodes, moves time to the next thing due and does it. False if nothing
    /// is left to do.
    pub fn step(&mut self) -> bool {
        self.service();
        let Some(next) = self.next_due() else {
            return false;
        };
        self.now = self.now.max(next);
        self.clock.set(self.now);
        let now = self.now;
        for (node, pipe) in [(&mut self.a, &mut self.to_a), (&mut self.b, &mut self.to_b)] {
            if node.storing.as_ref().is_some_and(|(at, _)| *at <= now) {
                node.finish_store(now);
            }
            while node.reading
                && node.link.wants_frame()
                && pipe.next_at().is_some_and(|at| at <= now)
            {
                let Some((_, frame)) = pipe.frames.pop_front() else {
                    break;
                };
                pipe.delivered += 1;
                node.received.push((now, Wire::of(&frame)));
                node.link.handle_frame(frame, now);
            }
            if node.link.poll_timeout().is_some_and(|t| t <= now) {
                node.link.handle_timeout(now);
            }
        }
        self.service();
        true
    }

    fn service(&mut self) {
        let now = self.now;
        self.a.service(now, &mut self.to_b, &mut self.rng);
        self.b.service(now, &mut self.to_a, &mut self.rng);
    }

    /// Steps until `done` holds (true) or simulated time passes `limit` (false).
    pub fn run_until(&mut self, limit: Time, mut done: impl FnMut(&Pair) -> bool) -> bool {
        loop {
            self.service();
            if done(self) {
                return true;
            }
            if self.next_due().is_none_or(|t| t > limit) {
                return false;
            }
            self.step();
        }
    }

    /// Steps until simulated time reaches `until` (or nothing is left to do).
    pub fn run_to(&mut self, until: Time) {
        self.run_until(until, |_| false);
        if self.now < until {
            self.now = until;
            self.clock.set(until);
        }
    }

    /// Whether both links are connected, neither waits for anything, no frame is on its
    /// way and nothing is queued: every session has settled and every event arrived.
    pub fn settled(&self) -> bool {
        [(&self.a, &self.to_b), (&self.b, &self.to_a)]
            .iter()
            .all(|(n, p)| {
                n.link.is_connected()
                    && n.link.wants_frame()
                    && n.storing.is_none()
                    && n.queue.is_empty()
                    && p.in_flight() == 0
            })
            && self.a.synced() > 0
            && self.a.link.session().is_none()
    }
}
