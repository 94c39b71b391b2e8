//! A deterministic simulation of a mesh of nodes under faults (feature `testkit`; tests only).
//!
//! FoundationDB's simulator and TigerBeetle's VOPR are the model: N nodes (3 to 7), every
//! pair joined by a connection that runs the daemon's [`Link`] and [`SendQueue`] on both
//! ends, driven as `mesh::conn` drives them, in simulated time. Every run is a pure function
//! of its seed: the seed fixes the mesh, the writes, every fault and every delay.
//!
//! The network is modelled as QUIC gives it to the daemon: a connection's frames arrive in
//! order and once, each after a seeded delay. Packet loss is retransmission (a frame, and so
//! every later one, arrives late); a direction that gets nothing through (a partition, full
//! or one-way) stalls the connection, which resumes if it heals within the idle timeout and
//! breaks otherwise, after which the dialler dials again with backoff. Reordering is across
//! connections; duplicates are the same event arriving over several connections, and a
//! sender re-sending what it sent (as after a reconnect). Nodes crash (everything not yet
//! durable is gone: local writes being flushed, batches being stored, every connection and
//! queue, the clock's state) and restart from their store; each node's wall clock has its
//! own offset.
//!
//! A write is acknowledged once it is durable at its writer. Each write is addressed to some
//! of the other nodes; a recipient that stores it stores a Delivered receipt with it in the
//! same atomic batch (as `node::ingest` does), and later perhaps a Read receipt; both travel
//! back like any event. The writer's receipt state per write and recipient is a view over
//! its store, rebuilt at restart.
//!
//! The checkers ([`Report::violations`]): no acknowledged write lost (at the writer after
//! every restart, and everywhere once healed), nothing unexpected (every stored event is an
//! acknowledged write), exactly once (no event stored twice, at most one receipt of each
//! kind per write and recipient), convergence after the faults stop (every node the same
//! set, within [`CONVERGE_LIMIT`], the simulated time recorded), receipts back at the
//! writer, its receipt state never going backwards, and no honest link closed for breaking
//! the protocol.
//!
//! [`Bug`] switches on a deliberately broken variant of the driver, to show the checkers
//! catch it.
#![allow(missing_docs)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore;

use crate::budget::TokenBucket;
use crate::event::{EventId, SignedEvent};
use crate::frame::{Frame, Scope};
use crate::hlc::{Hlc, HlcClock, HLC_KEY_BYTES};
use crate::link::{
    close, Close, Host, Link, LinkConfig, LinkEvent, RosterOffer, RosterState, Time, Timing,
    RESPONDER_SESSIONS_BURST, RESPONDER_SESSION_REFILL,
};
use crate::outbox::SendQueue;
use crate::reconcile::Key;
use crate::roster::NodeEntry;
use crate::testkit::{region, SeededRng};
use crate::{NodeId, NodeKey};

/// Most nodes in a run.
pub const NODES_MAX: usize = 7;
/// The simulated wall clock at time zero (ms since the Unix epoch), November 2026.
pub const EPOCH_MS: u64 = 1_795_000_000_000;
/// How far ahead a peer's clock may be before a node's clock refuses to follow it.
pub const CLOCK_AHEAD_MAX_MS: u64 = 60_000;
/// A connection that gets nothing through one way for this long breaks (the daemon's
/// `limits::IDLE_TIMEOUT`, with keep-alives every second).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// A dial to an unreachable peer fails after this long (the daemon's `HANDSHAKE_TIMEOUT`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// The dialler's first backoff (the daemon's `BACKOFF_BASE`), doubled per failure up to
/// [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest backoff (the daemon's `BACKOFF_MAX`).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Once the faults stop, every node must hold the same events within this simulated time.
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Every run ends after this many steps (a bound on the loop, far above what a run takes).
pub const STEPS_MAX: u64 = 2_000_000;
/// Ids an end remembers having sent, for a re-send fault.
const SENT_REMEMBERED: usize = 64;

/// A deliberately broken variant of the driver (a test-only switch): the checkers must
/// catch each within a few hundred seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The healthy driver.
    None,
    /// Storing does not skip an event already stored.
    NoDedupe,
    /// A local write is acknowledged when issued, before it is durable.
    AckBeforeDurable,
    /// The events a peer asks for (`Want`, told as `Serve`) are never queued.
    IgnoreWants,
    /// The writer's receipt state is the last receipt stored, not the furthest one.
    ReceiptLastWins,
}

impl Bug {
    /// Every broken variant.
    pub const BROKEN: [Bug; 4] = [
        Bug::NoDedupe,
        Bug::AckBeforeDurable,
        Bug::IgnoreWants,
        Bug::ReceiptLastWins,
    ];
}

/// Faults injected in a run, and what they caused, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Node crashes (each followed by a restart).
    pub crashes: u64,
    /// Local writes being flushed that a crash dropped (never acknowledged).
    pub unflushed_dropped: u64,
    /// Peers' batches being stored that a crash dropped.
    pub ingests_dropped: u64,
    /// Full partitions (a node cut off, or the mesh split in two).
    pub partitions_full: u64,
    /// One-way partitions (one direction of some links cut).
    pub partitions_one_way: u64,
    /// Periods of packet loss and long delays on a link.
    pub lossy_periods: u64,
    /// Frames delayed by a lost packet's retransmission.
    pub retransmits: u64,
    /// Re-sends: a connection's end sends again ids it already sent.
    pub resends: u64,
    /// Nodes whose wall clock is off (by up to two minutes).
    pub clock_offsets: u64,
    /// Connections that broke because a direction stalled beyond the idle timeout.
    pub stall_breaks: u64,
    /// Links closed because no hello came in time.
    pub hello_timeouts: u64,
    /// Dials that failed (the peer down or unreachable).
    pub dial_failures: u64,
    /// Events that arrived at a node that already held them (and were not stored again).
    pub duplicate_arrivals: u64,
}

impl Faults {
    fn add(&mut self, o: &Faults) {
        self.crashes += o.crashes;
        self.unflushed_dropped += o.unflushed_dropped;
        self.ingests_dropped += o.ingests_dropped;
        self.partitions_full += o.partitions_full;
        self.partitions_one_way += o.partitions_one_way;
        self.lossy_periods += o.lossy_periods;
        self.retransmits += o.retransmits;
        self.resends += o.resends;
        self.clock_offsets += o.clock_offsets;
        self.stall_breaks += o.stall_breaks;
        self.hello_timeouts += o.hello_timeouts;
        self.dial_failures += o.dial_failures;
        self.duplicate_arrivals += o.duplicate_arrivals;
    }

    /// Each kind and its count, for printing.
    pub fn rows(&self) -> [(&'static str, u64); 13] {
        [
            ("crashes (each with a restart)", self.crashes),
            (
                "unflushed writes dropped by a crash",
                self.unflushed_dropped,
            ),
            (
                "batches being stored dropped by a crash",
                self.ingests_dropped,
            ),
            ("full partitions", self.partitions_full),
            ("one-way partitions", self.partitions_one_way),
            ("lossy / slow periods", self.lossy_periods),
            ("frames retransmitted", self.retransmits),
            ("re-sends", self.resends),
            ("nodes with a clock offset", self.clock_offsets),
            ("connections broken by a stall", self.stall_breaks),
            ("hello timeouts", self.hello_timeouts),
            ("dials failed", self.dial_failures),
            ("duplicate arrivals", self.duplicate_arrivals),
        ]
    }
}

/// What one run did and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub bug: Bug,
    pub nodes: usize,
    /// Writes issued (staff's writes and Read receipts).
    pub writes: u64,
    /// Events acknowledged (durable at their writer: writes and receipts).
    pub acknowledged: u64,
    pub faults: Faults,
    /// Simulated time from the end of the faults until every node held the same events.
    pub converged_after: Option<Duration>,
    /// Simulated time the run took.
    pub simulated: Duration,
    pub steps: u64,
    /// A digest of every node's final store (for the determinism check).
    pub digest: [u8; 32],
    /// What the checkers found; empty for a good run.
    pub violations: Vec<String>,
    /// The run's trace, when asked for.
    pub trace: Vec<String>,
}

impl Report {
    /// Whether every checker passed.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Figures over many runs.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub runs: u64,
    pub failed: Vec<u64>,
    pub nodes: u64,
    pub writes: u64,
    pub acknowledged: u64,
    pub faults: Faults,
    pub steps: u64,
    pub simulated: Duration,
    /// Each run's convergence time, in ms.
    pub converge_ms: Vec<u64>,
}

impl Totals {
    pub fn add(&mut self, r: &Report) {
        self.runs += 1;
        if !r.ok() {
            self.failed.push(r.seed);
        }
        self.nodes += r.nodes as u64;
        self.writes += r.writes;
        self.acknowledged += r.acknowledged;
        self.faults.add(&r.faults);
        self.steps += r.steps;
        self.simulated += r.simulated;
        if let Some(d) = r.converged_after {
            self.converge_ms.push(d.as_millis() as u64);
        }
    }

    /// The `p`th percentile (0 to 100) of the convergence times, in ms.
    pub fn converge_percentile(&self, p: u64) -> Option<u64> {
        let mut v = self.converge_ms.clone();
        v.sort_unstable();
        let last = v.len().checked_sub(1)?;
        let i = (last as u64 * p.min(100)).div_ceil(100) as usize;
        v.get(i).copied()
    }

    /// The figures as text.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "seeds run: {}", self.runs);
        let _ = writeln!(s, "seeds failed: {} {:?}", self.failed.len(), self.failed);
        let _ = writeln!(s, "nodes simulated: {}", self.nodes);
        let _ = writeln!(s, "writes issued: {}", self.writes);
        let _ = writeln!(s, "events acknowledged: {}", self.acknowledged);
        let _ = writeln!(s, "simulated time: {} h", self.simulated.as_secs() / 3600);
        let _ = writeln!(s, "steps: {}", self.steps);
        for (kind, n) in self.faults.rows() {
            let _ = writeln!(s, "fault {kind}: {n}");
        }
        let ms = |p| {
            self.converge_percentile(p)
                .map_or("-".into(), |ms| format!("{ms} ms"))
        };
        let _ = writeln!(
            s,
            "convergence after faults stop (simulated): p50 {}, p99 {}, max {}",
            ms(50),
            ms(99),
            ms(100)
        );
        s
    }
}

/// The roster and keys every run shares: the test region with three more nodes.
pub struct Setup {
    keys: Vec<NodeId>,
    roster: RosterState,
}

impl Setup {
    pub fn new() -> Setup {
        let mut region = region("meshsim");
        let mut rng = SeededRng::new("meshsim nodes");
        let units = [
            region.ward.0.unit().clone(),
            region.kommun.0.unit().clone(),
            region.vc.0.unit().clone(),
        ];
        let mut keys = vec![
            region.ward.1.id(),
            region.kommun.1.id(),
            region.vc.1.id(),
            region.outsider.1.id(),
        ];
        for (i, unit) in units.iter().enumerate() {
            let key = NodeKey::generate(&mut rng);
            region.roster.nodes.push(NodeEntry {
                id: key.id(),
                unit: unit.clone(),
                name: format!("reservnod {}", i + 5),
            });
            keys.push(key.id());
        }
        let signed = region
            .roster
            .sign(&region.admin)
            .expect("test roster signs");
        Setup {
            keys,
            roster: RosterState {
                roster: Arc::new(region.roster),
                signed: Arc::new(signed),
            },
        }
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

/// Runs one seed with the healthy driver or a broken one.
pub fn run(setup: &Setup, seed: u64, bug: Bug, trace: bool) -> Report {
    let mut world = World::new(setup, seed, bug, trace);
    world.run();
    world.report()
}

// ---------------------------------------------------------------------------------------
// Synthetic events.

/// What a synthetic event is: a write addressed to some nodes, or a receipt for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meta {
    Write {
        author: u8,
        recipients: u8,
    },
    Receipt {
        author: u8,
        write: EventId,
        level: u8,
    },
}

/// Receipt levels: stored at the recipient, read there.
const DELIVERED: u8 = 1;
const READ: u8 = 2;

impl Meta {
    fn author(&self) -> u8 {
        match self {
            Meta::Write { author, .. } | Meta::Receipt { author, .. } => *author,
        }
    }
}

/// A synthetic event's bytes: timestamp, priority, kind, author, recipients, a number, and
/// for a receipt the write it is for. Not signed: the link never looks inside.
fn make_event(hlc: Hlc, urgent: bool, meta: Meta, seq: u32) -> SignedEvent {
    let mut b = Vec::with_capacity(HLC_KEY_BYTES + 40);
    b.extend_from_slice(&hlc.to_key_bytes());
    b.push(u8::from(urgent));
    match meta {
        Meta::Write { author, recipients } => b.extend_from_slice(&[0, author, recipients]),
        Meta::Receipt { author, level, .. } => b.extend_from_slice(&[level, author, 0]),
    }
    b.extend_from_slice(&seq.to_le_bytes());
    if let Meta::Receipt { write, .. } = meta {
        b.extend_from_slice(&write.0);
    }
    SignedEvent {
        bytes: b,
        sig: [0; 64],
    }
}

fn parse_event(se: &SignedEvent) -> Option<(Key, bool, Meta)> {
    let b = &se.bytes;
    let hlc = Hlc::from_key_bytes(b.get(..HLC_KEY_BYTES)?.try_into().ok()?);
    let rest = &b[HLC_KEY_BYTES..];
    let urgent = match rest.first()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let (kind, author, recipients) = (*rest.get(1)?, *rest.get(2)?, *rest.get(3)?);
    let meta = match (kind, rest.len()) {
        (0, 8) => Meta::Write { author, recipients },
        (DELIVERED | READ, 40) => Meta::Receipt {
            author,
            level: kind,
            write: EventId(rest[8..40].try_into().ok()?),
        },
        _ => return None,
    };
    Some(((hlc, se.id()), urgent, meta))
}

// ---------------------------------------------------------------------------------------
// Nodes.

/// A node's clock, numbers and session budgets, which its links share (the daemon's node
/// is the `Host` of every connection).
struct NodeClock {
    now: Rc<Cell<Time>>,
    offset_ms: i64,
    hlc: HlcClock,
    ids: u64,
    budgets: BTreeMap<NodeId, TokenBucket>,
}

impl NodeClock {
    fn wall(&self) -> u64 {
        let true_ms = EPOCH_MS + self.now.get().as_micros() / 1000;
        true_ms.saturating_add_signed(self.offset_ms)
    }

    fn tick(&mut self) -> Hlc {
        let wall = self.wall();
        self.hlc.tick(wall)
    }
}

#[derive(Clone)]
struct SimHost(Rc<RefCell<NodeClock>>);

impl Host for SimHost {
    fn tick(&mut self) -> Hlc {
        self.0.borrow_mut().tick()
    }
    fn observe(&mut self, remote: Hlc) {
        let mut c = self.0.borrow_mut();
        let wall = c.wall();
        let _ = c.hlc.observe(remote, wall);
    }
    fn wall_ms(&mut self) -> u64 {
        self.0.borrow().wall()
    }
    fn next_id(&mut self) -> u64 {
        let mut c = self.0.borrow_mut();
        c.ids += 1;
        c.ids
    }
    fn allow_new_session(&mut self, peer: &NodeId) -> bool {
        let mut c = self.0.borrow_mut();
        let now_ms = c.now.get().as_micros() / 1000;
        c.budgets
            .entry(*peer)
            .or_insert_with(|| {
                TokenBucket::new(
                    RESPONDER_SESSIONS_BURST,
                    RESPONDER_SESSION_REFILL.as_millis() as u64,
                    now_ms,
                )
            })
            .take(now_ms)
    }
}

#[derive(Clone)]
struct Rec {
    key: Key,
    urgent: bool,
    meta: Meta,
    event: SignedEvent,
}

struct SimNode {
    id: NodeId,
    up: bool,
    clock: Rc<RefCell<NodeClock>>,
    /// The durable store, in the order stored (a duplicate would show as a second entry).
    log: Vec<Rec>,
    index: HashMap<EventId, usize>,
    /// The receipts stored here: (write, recipient, level).
    receipts: HashSet<(EventId, u8, u8)>,
    /// Count and XOR of the stored ids: equal sets have equal digests.
    count: u64,
    xor: u128,
    /// Local writes issued and not yet durable, with when they will be.
    flushing: VecDeque<(Time, Rec)>,
    /// Writes this node will read (and so write a Read receipt for), with when.
    reads: Vec<(Time, EventId)>,
    /// The receipt state of this node's writes, per write and recipient (in memory).
    view: HashMap<(EventId, u8), u8>,
    seq: u32,
    /// Events stored a second time (exactly once is broken).
    dups: u64,
}

impl SimNode {
    fn keys(&self, scope: Scope) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .log
            .iter()
            .filter(|r| scope == Scope::All || r.urgent)
            .map(|r| r.key)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn get(&self, id: &EventId) -> Option<&Rec> {
        self.index.get(id).map(|&i| &self.log[i])
    }

    fn add(&mut self, rec: Rec) {
        let id = rec.key.1;
        if self.index.contains_key(&id) {
            self.dups += 1;
        }
        self.count += 1;
        self.xor ^= u128::from_le_bytes(id.0[..16].try_into().expect("16 bytes"));
        if let Meta::Receipt {
            author,
            write,
            level,
        } = rec.meta
        {
            self.receipts.insert((write, author, level));
        }
        self.index.insert(id, self.log.len());
        self.log.push(rec);
    }
}

// ---------------------------------------------------------------------------------------
// Connections.

/// One direction of a connection's stream: frames in order, each with when it arrives.
#[derive(Default)]
struct Pipe {
    frames: VecDeque<(Time, Frame)>,
    last: Time,
}

/// One end of a connection: the link machine, its send queue, a batch being stored.
struct End {
    link: Link<SimHost>,
    queue: SendQueue,
    storing: Option<(Time, Vec<SignedEvent>)>,
    sent: VecDeque<EventId>,
}

struct Conn {
    /// ends[0] is the dialler (the pair's lower node).
    ends: [End; 2],
    /// pipes[d] carries frames from ends[d] to the other end.
    pipes: [Pipe; 2],
}

#[derive(Clone, Copy)]
struct Lossy {
    until: Time,
    /// Chance per frame of a lost packet, per million.
    loss_ppm: u64,
    delay_us: (u64, u64),
}

struct PairState {
    nodes: [usize; 2],
    conn: Option<Conn>,
    next_dial: Time,
    failures: u32,
    /// Since when each direction has been cut, if it is.
    cut_since: [Option<Time>; 2],
    lossy: Option<Lossy>,
}

/// The default one-way delay of a frame: 1 to 20 ms.
const DELAY_US: (u64, u64) = (1_000, 20_000);

// ---------------------------------------------------------------------------------------
// The world.

#[derive(Clone, Debug)]
enum Action {
    Write {
        node: usize,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Cut {
        links: Vec<(usize, usize)>,
        full: bool,
    },
    Uncut {
        links: Vec<(usize, usize)>,
    },
    Lossy {
        pair: usize,
        lossy: LossyPlan,
    },
    Resend {
        pair: usize,
    },
    EndFaults,
}

#[derive(Clone, Copy, Debug)]
struct LossyPlan {
    duration: Duration,
    loss_ppm: u64,
    delay_us: (u64, u64),
}

struct World {
    seed: u64,
    bug: Bug,
    now: Time,
    clock: Rc<Cell<Time>>,
    rng: SeededRng,
    roster: RosterState,
    nodes: Vec<SimNode>,
    pairs: Vec<PairState>,
    /// How many cuts hold each direction: cut[i][j] stops frames from i to j.
    cut: Vec<Vec<u32>>,
    actions: BTreeMap<(Time, u64), Action>,
    action_seq: u64,
    faults_on: bool,
    faults_end: Time,
    /// Every event issued, with what it is.
    issued: HashMap<EventId, Meta>,
    /// Every event acknowledged (durable at its writer), in order.
    acked: Vec<EventId>,
    acked_set: HashSet<EventId>,
    /// The furthest receipt level acknowledged per (write, recipient).
    receipt_acked: HashMap<(EventId, u8), u8>,
    /// The furthest receipt state each writer has shown per (write, recipient).
    shown: HashMap<(EventId, u8), u8>,
    writes: u64,
    faults: Faults,
    converged_after: Option<Duration>,
    steps: u64,
    violations: Vec<String>,
    trace: Option<Vec<String>>,
}

impl World {
    fn new(setup: &Setup, seed: u64, bug: Bug, trace: bool) -> World {
        let mut rng = SeededRng::new(&format!("meshsim {seed}"));
        let n = 3 + (rng.next_u64() % (NODES_MAX as u64 - 2)) as usize;
        let clock = Rc::new(Cell::new(Time::ZERO));
        let mut faults = Faults::default();
        let nodes = (0..n)
            .map(|i| {
                // About half the nodes have a clock off by up to two minutes either way.
                let offset_ms = if rng.next_u64().is_multiple_of(2) {
                    faults.clock_offsets += 1;
                    (rng.next_u64() % 240_001) as i64 - 120_000
                } else {
                    0
                };
                SimNode {
                    id: setup.keys[i],
                    up: true,
                    clock: Rc::new(RefCell::new(NodeClock {
                        now: clock.clone(),
                        offset_ms,
                        hlc: HlcClock::new(CLOCK_AHEAD_MAX_MS),
                        ids: 0,
                        budgets: BTreeMap::new(),
                    })),
                    log: Vec::new(),
                    index: HashMap::new(),
                    receipts: HashSet::new(),
                    count: 0,
                    xor: 0,
                    flushing: VecDeque::new(),
                    reads: Vec::new(),
                    view: HashMap::new(),
                    seq: 0,
                    dups: 0,
                }
            })
            .collect();
        let mut pairs = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                pairs.push(PairState {
                    nodes: [a, b],
                    conn: None,
                    next_dial: Time::ZERO,
                    failures: 0,
                    cut_since: [None, None],
                    lossy: None,
                });
            }
        }
        let mut world = World {
            seed,
            bug,
            now: Time::ZERO,
            clock,
            rng,
            roster: setup.roster.clone(),
            nodes,
            pairs,
            cut: vec![vec![0; n]; n],
            actions: BTreeMap::new(),
            action_seq: 0,
            faults_on: true,
            faults_end: Time::ZERO,
            issued: HashMap::new(),
            acked: Vec::new(),
            acked_set: HashSet::new(),
            receipt_acked: HashMap::new(),
            shown: HashMap::new(),
            writes: 0,
            faults,
            converged_after: None,
            steps: 0,
            violations: Vec::new(),
            trace: trace.then(Vec::new),
        };
        world.plan();
        world
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn range_us(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(lo + self.below(hi.saturating_sub(lo) + 1))
    }

    fn schedule(&mut self, at: Time, action: Action) {
        self.action_seq += 1;
        self.actions.insert((at, self.action_seq), action);
    }

    fn log(&mut self, what: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push(format!("{:?} {}", self.now, what()));
        }
    }

    /// The run's writes and faults, drawn from the seed.
    fn plan(&mut self) {
        let n = self.nodes.len();
        let fault_s = 60 + self.below(181);
        let end = Time::from_millis(fault_s * 1000);
        self.faults_end = end;
        let at = |w: &mut World| Time::from_micros(w.below(end.as_micros()));
        // Writes come in bursts at random nodes.
        let bursts = 3 + self.below(8);
        for _ in 0..bursts {
            let start = at(self);
            let node = self.below(n as u64) as usize;
            for k in 0..1 + self.below(8) {
                let t = start + Duration::from_millis(k * self.below(400));
                let node = if self.chance(700) {
                    node
                } else {
                    self.below(n as u64) as usize
                };
                self.schedule(t.min(end), Action::Write { node });
            }
        }
        for _ in 0..self.below(5) {
            let node = self.below(n as u64) as usize;
            let t = at(self);
            self.schedule(t, Action::Crash { node });
        }
        for _ in 0..self.below(5) {
            let t = at(self);
            let duration = self.range_us(500_000, 60_000_000);
            let (links, full) = match self.below(3) {
                // One node cut off.
                0 => {
                    let k = self.below(n as u64) as usize;
                    let links: Vec<(usize, usize)> = (0..n)
                        .filter(|&j| j != k)
                        .flat_map(|j| [(k, j), (j, k)])
                        .collect();
                    (links, true)
                }
                // The mesh split in two.
                1 => {
                    let side: Vec<bool> = (0..n).map(|_| self.chance(500)).collect();
                    let links: Vec<(usize, usize)> = (0..n)
                        .flat_map(|i| (0..n).map(move |j| (i, j)))
                        .filter(|&(i, j)| side[i] != side[j])
                        .collect();
                    (links, true)
                }
                // One direction of some links.
                _ => {
                    let links: Vec<(usize, usize)> = (0..n)
                        .flat_map(|i| (0..n).map(move |j| (i, j)))
                        .filter(|&(i, j)| i != j)
                        .filter(|_| self.chance(250))
                        .collect();
                    (links, false)
                }
            };
            self.schedule(
                t,
                Action::Cut {
                    links: links.clone(),
                    full,
                },
            );
            self.schedule((t + duration).min(end), Action::Uncut { links });
        }
        for _ in 0..self.below(6) {
            let t = at(self);
            let pair = self.below(self.pairs.len() as u64) as usize;
            let lo = 1_000 + self.below(100_000);
            let lossy = LossyPlan {
                duration: self.range_us(1_000_000, 30_000_000),
                loss_ppm: 10_000 + self.below(290_000),
                delay_us: (lo, lo + self.below(400_000)),
            };
            self.schedule(t, Action::Lossy { pair, lossy });
        }
        for _ in 0..self.below(6) {
            let t = at(self);
            let pair = self.below(self.pairs.len() as u64) as usize;
            self.schedule(t, Action::Resend { pair });
        }
        self.schedule(end, Action::EndFaults);
    }

    fn run(&mut self) {
        loop {
            self.service();
            if self.converged() {
                self.converged_after = Some(self.now.saturating_since(self.faults_end));
                break;
            }
            let Some(next) = self.next_due() else {
                self.violations
                    .push("nothing left to do, and the nodes differ".into());
                break;
            };
            if !self.faults_on && next.saturating_since(self.faults_end) > CONVERGE_LIMIT {
                self.violations.push(format!(
                    "not converged within {} s after the faults stopped",
                    CONVERGE_LIMIT.as_secs()
                ));
                break;
            }
            self.steps += 1;
            if self.steps > STEPS_MAX {
                let due = self.next_due();
                self.violations.push(format!(
                    "step bound reached at {:?} (next due {due:?}, faults end {:?})",
                    self.now, self.faults_end
                ));
                break;
            }
            self.now = self.now.max(next);
            self.clock.set(self.now);
            self.step();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.dups > 0 {
                    self.violations
                        .push(format!("node {i} stored an event it held a second time"));
                }
            }
            // The first violation ends the run: its seed replays it.
            if !self.violations.is_empty() {
                break;
            }
        }
        self.check_end();
    }

    fn converged(&self) -> bool {
        if self.faults_on {
            return false;
        }
        let first = &self.nodes[0];
        self.nodes
            .iter()
            .all(|n| n.up && n.flushing.is_empty() && n.count == first.count && n.xor == first.xor)
    }

    fn next_due(&self) -> Option<Time> {
        let mut due: Option<Time> = self.actions.keys().next().map(|(t, _)| *t);
        let mut at = |t: Option<Time>| {
            if let Some(t) = t {
                due = Some(due.map_or(t, |d| d.min(t)));
            }
        };
        for n in &self.nodes {
            at(n.flushing.front().map(|(t, _)| *t));
            at(n.reads.iter().map(|(t, _)| *t).min());
        }
        for p in &self.pairs {
            let Some(c) = &p.conn else {
                if self.nodes[p.nodes[0]].up {
                    at(Some(p.next_dial));
                }
                continue;
            };
            for d in 0..2 {
                let end = &c.ends[d];
                at(end.link.poll_timeout());
                at(end.storing.as_ref().map(|(t, _)| *t));
                // Frames into end d come from the other end, over pipes[1 - d].
                let (from, to) = (p.nodes[1 - d], p.nodes[d]);
                if self.cut[from][to] == 0 && end.link.wants_frame() {
                    at(c.pipes[1 - d].frames.front().map(|(t, _)| *t));
                }
                at(p.cut_since[d].map(|t| t + IDLE_TIMEOUT));
            }
        }
        due
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(entry) = self.actions.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let action = entry.remove();
            self.act(action);
        }
        for i in 0..self.nodes.len() {
            while self.nodes[i]
                .flushing
                .front()
                .is_some_and(|(t, _)| *t <= now)
            {
                if let Some((_, rec)) = self.nodes[i].flushing.pop_front() {
                    self.flushed(i, rec);
                }
            }
            let due: Vec<EventId> = {
                let n = &mut self.nodes[i];
                let (due, later) = n.reads.drain(..).partition(|(t, _)| *t <= now);
                n.reads = later;
                due.into_iter().map(|(_, id)| id).collect()
            };
            for write in due {
                self.read(i, write);
            }
        }
        for p in 0..self.pairs.len() {
            // Batches stored.
            for d in 0..2 {
                let done = match &mut self.pairs[p].conn {
                    Some(c) if c.ends[d].storing.as_ref().is_some_and(|(t, _)| *t <= now) => {
                        c.ends[d].storing.take()
                    }
                    _ => None,
                };
                if let Some((_, events)) = done {
                    let [a, b] = self.pairs[p].nodes;
                    let (node, from) = if d == 0 { (a, b) } else { (b, a) };
                    self.ingest(node, events, Some(from));
                    if let Some(c) = &mut self.pairs[p].conn {
                        c.ends[d].link.events_stored(now);
                    }
                }
            }
            let pair = &self.pairs[p];
            if pair.conn.is_none() {
                if self.nodes[pair.nodes[0]].up && pair.next_dial <= now {
                    self.dial(p);
                }
                continue;
            }
            // A direction cut beyond the idle timeout breaks the connection.
            if pair
                .cut_since
                .iter()
                .flatten()
                .any(|t| *t + IDLE_TIMEOUT <= now)
            {
                self.faults.stall_breaks += 1;
                self.drop_conn(p);
                continue;
            }
            let pair = &mut self.pairs[p];
            if let Some(c) = &mut pair.conn {
                for d in 0..2 {
                    let (from, to) = (pair.nodes[1 - d], pair.nodes[d]);
                    let open = self.cut[from][to] == 0;
                    let end = &mut c.ends[d];
                    let pipe = &mut c.pipes[1 - d];
                    while open
                        && end.link.wants_frame()
                        && pipe.frames.front().is_some_and(|(t, _)| *t <= now)
                    {
                        let Some((_, frame)) = pipe.frames.pop_front() else {
                            break;
                        };
                        end.link.handle_frame(frame, now);
                    }
                    if end.link.poll_timeout().is_some_and(|t| t <= now) {
                        end.link.handle_timeout(now);
                    }
                }
            }
        }
    }

    fn act(&mut self, action: Action) {
        self.log(|| format!("{action:?}"));
        match action {
            Action::Write { node } => self.write(node),
            Action::Crash { node } => self.crash(node),
            Action::Restart { node } => self.restart(node),
            Action::Cut { links, full } => {
                if !self.faults_on || links.is_empty() {
                    return;
                }
                if full {
                    self.faults.partitions_full += 1;
                } else {
                    self.faults.partitions_one_way += 1;
                }
                for (i, j) in links {
                    self.cut[i][j] += 1;
                    if self.cut[i][j] == 1 {
                        self.set_cut(i, j, Some(self.now));
                    }
                }
            }
            Action::Uncut { links } => {
                for (i, j) in links {
                    if self.cut[i][j] == 0 {
                        continue;
                    }
                    self.cut[i][j] -= 1;
                    if self.cut[i][j] == 0 {
                        self.set_cut(i, j, None);
                    }
                }
            }
            Action::Lossy { pair, lossy } => {
                self.faults.lossy_periods += 1;
                self.pairs[pair].lossy = Some(Lossy {
                    until: self.now + lossy.duration,
                    loss_ppm: lossy.loss_ppm,
                    delay_us: lossy.delay_us,
                });
            }
            Action::Resend { pair } => {
                if let Some(c) = &mut self.pairs[pair].conn {
                    let d = (self.rng.next_u64() % 2) as usize;
                    let end = &mut c.ends[d];
                    if !end.sent.is_empty() {
                        self.faults.resends += 1;
                        end.queue.queue(end.sent.iter().copied(), false);
                    }
                }
            }
            Action::EndFaults => {
                self.faults_on = false;
                for i in 0..self.nodes.len() {
                    self.nodes[i].reads.clear();
                    for j in 0..self.nodes.len() {
                        if self.cut[i][j] > 0 {
                            self.cut[i][j] = 0;
                            self.set_cut(i, j, None);
                        }
                    }
                }
                for p in &mut self.pairs {
                    p.lossy = None;
                }
                let down: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| !self.nodes[i].up)
                    .collect();
                for i in down {
                    self.restart(i);
                }
            }
        }
    }

    /// Marks the direction i→j cut since `since`, or no longer cut.
    fn set_cut(&mut self, i: usize, j: usize, since: Option<Time>) {
        let Some(p) = self.pair_of(i, j) else {
            return;
        };
        // Indexed by the sending end.
        let from = usize::from(i > j);
        self.pairs[p].cut_since[from] = since;
    }

    fn pair_of(&self, i: usize, j: usize) -> Option<usize> {
        let (a, b) = (i.min(j), i.max(j));
        self.pairs.iter().position(|p| p.nodes == [a, b])
    }

    fn write(&mut self, node: usize) {
        if !self.faults_on || !self.nodes[node].up {
            return;
        }
        let n = self.nodes.len();
        // One recipient for sure, each other node by chance.
        let first = (node + 1 + self.below(n as u64 - 1) as usize) % n;
        let mut recipients = 1u8 << first;
        for j in 0..n {
            if j != node && self.chance(300) {
                recipients |= 1 << j;
            }
        }
        let urgent = self.chance(200);
        let meta = Meta::Write {
            author: node as u8,
            recipients,
        };
        self.issue(node, urgent, meta);
    }

    /// A local write at `node`: durable after a flush; acknowledged then.
    fn issue(&mut self, node: usize, urgent: bool, meta: Meta) {
        self.writes += 1;
        let flush = self.flush_delay();
        let n = &mut self.nodes[node];
        let hlc = n.clock.borrow_mut().tick();
        n.seq += 1;
        let event = make_event(hlc, urgent, meta, n.seq);
        let key = (hlc, event.id());
        n.flushing.push_back((
            self.now + flush,
            Rec {
                key,
                urgent,
                meta,
                event,
            },
        ));
        self.issued.insert(key.1, meta);
        self.log(|| format!("node {node} writes {} {meta:?}", short(&key.1)));
        if self.bug == Bug::AckBeforeDurable {
            self.ack(key.1, meta);
        }
        // A crash in the middle of a write load.
        if self.faults_on && self.chance(60) {
            let t = self.now + self.range_us(0, 2 * flush.as_micros() as u64);
            self.schedule(t, Action::Crash { node });
        }
    }

    /// How long a flush (sled's fsync) takes: mostly quick, sometimes slow.
    fn flush_delay(&mut self) -> Duration {
        if self.chance(100) {
            self.range_us(50_000, 500_000)
        } else {
            self.range_us(100, 20_000)
        }
    }

    fn ack(&mut self, id: EventId, meta: Meta) {
        if self.acked_set.insert(id) {
            self.acked.push(id);
            if let Meta::Receipt {
                author,
                write,
                level,
            } = meta
            {
                let r = self.receipt_acked.entry((write, author)).or_insert(0);
                *r = (*r).max(level);
            }
        }
    }

    fn flushed(&mut self, node: usize, rec: Rec) {
        let (id, meta, urgent) = (rec.key.1, rec.meta, rec.urgent);
        self.nodes[node].add(rec);
        if self.bug != Bug::AckBeforeDurable {
            self.ack(id, meta);
        }
        self.on_stored(node, meta);
        self.push(node, &[(id, urgent)], None);
    }

    fn read(&mut self, node: usize, write: EventId) {
        if !self.nodes[node].up
            || self.nodes[node]
                .receipts
                .contains(&(write, node as u8, READ))
        {
            return;
        }
        let Some(urgent) = self.nodes[node].get(&write).map(|r| r.urgent) else {
            return;
        };
        self.issue(
            node,
            urgent,
            Meta::Receipt {
                author: node as u8,
                write,
                level: READ,
            },
        );
    }

    /// A peer's batch stored at `node` in one atomic step with the Delivered receipts it
    /// causes; what is new is pushed on the node's other connections, the receipts on all.
    fn ingest(&mut self, node: usize, events: Vec<SignedEvent>, from: Option<usize>) {
        let mut forward = Vec::new();
        let mut answers = Vec::new();
        for se in events {
            let Some((key, urgent, meta)) = parse_event(&se) else {
                self.violations
                    .push(format!("node {node} got an event it cannot read"));
                continue;
            };
            if self.nodes[node].index.contains_key(&key.1) {
                self.faults.duplicate_arrivals += 1;
                if self.bug != Bug::NoDedupe {
                    continue;
                }
            }
            self.nodes[node].add(Rec {
                key,
                urgent,
                meta,
                event: se,
            });
            forward.push((key.1, urgent));
            self.on_stored(node, meta);
            if let Meta::Write { author, recipients } = meta {
                let me = node as u8;
                if author != me
                    && recipients & (1 << node) != 0
                    && !self.nodes[node].receipts.contains(&(key.1, me, DELIVERED))
                {
                    let receipt = Meta::Receipt {
                        author: me,
                        write: key.1,
                        level: DELIVERED,
                    };
                    let n = &mut self.nodes[node];
                    let hlc = n.clock.borrow_mut().tick();
                    n.seq += 1;
                    let event = make_event(hlc, urgent, receipt, n.seq);
                    let rkey = (hlc, event.id());
                    n.add(Rec {
                        key: rkey,
                        urgent,
                        meta: receipt,
                        event,
                    });
                    self.issued.insert(rkey.1, receipt);
                    self.ack(rkey.1, receipt);
                    answers.push((rkey.1, urgent));
                    if self.faults_on && self.chance(600) {
                        let t = self.now + self.range_us(100_000, 20_000_000);
                        self.nodes[node].reads.push((t, key.1));
                    }
                }
            }
        }
        self.push(node, &forward, from);
        self.push(node, &answers, None);
    }

    /// A receipt for one of this node's writes updates its receipt state, which must never
    /// go backwards.
    fn on_stored(&mut self, node: usize, meta: Meta) {
        if let Some((write, recipient, state)) = self.fold_receipt(node, meta) {
            self.show(node, write, recipient, state);
        }
    }

    /// The receipt state of `node` after it stored `meta`, if that is a receipt for one of
    /// its writes: (write, recipient, state).
    fn fold_receipt(&mut self, node: usize, meta: Meta) -> Option<(EventId, u8, u8)> {
        let Meta::Receipt {
            author,
            write,
            level,
        } = meta
        else {
            return None;
        };
        let is_mine = matches!(
            self.issued.get(&write),
            Some(Meta::Write { author: a, .. }) if *a as usize == node
        );
        if !is_mine {
            return None;
        }
        let n = &mut self.nodes[node];
        let state = n.view.entry((write, author)).or_insert(0);
        *state = if self.bug == Bug::ReceiptLastWins {
            level
        } else {
            (*state).max(level)
        };
        Some((write, author, *state))
    }

    fn show(&mut self, node: usize, write: EventId, recipient: u8, state: u8) {
        let shown = self.shown.entry((write, recipient)).or_insert(0);
        if state < *shown {
            self.violations.push(format!(
                "node {node}'s receipt state of write {} from node {recipient} went back from {} to {state}",
                short(&write),
                *shown
            ));
        }
        *shown = (*shown).max(state);
    }

    /// Queues ids on every connection of `node` (not the one to `except`), urgent first.
    fn push(&mut self, node: usize, ids: &[(EventId, bool)], except: Option<usize>) {
        if ids.is_empty() {
            return;
        }
        for p in &mut self.pairs {
            let Some(d) = p.nodes.iter().position(|&k| k == node) else {
                continue;
            };
            if Some(p.nodes[1 - d]) == except {
                continue;
            }
            if let Some(c) = &mut p.conn {
                for urgent in [true, false] {
                    c.ends[d].queue.queue(
                        ids.iter().filter(|(_, u)| *u == urgent).map(|(id, _)| *id),
                        urgent,
                    );
                }
            }
        }
    }

    fn crash(&mut self, node: usize) {
        if !self.faults_on || !self.nodes[node].up {
            return;
        }
        self.log(|| format!("node {node} crashes"));
        self.faults.crashes += 1;
        let n = &mut self.nodes[node];
        n.up = false;
        self.faults.unflushed_dropped += n.flushing.len() as u64;
        n.flushing.clear();
        n.reads.clear();
        n.view.clear();
        for p in 0..self.pairs.len() {
            let Some(d) = self.pairs[p].nodes.iter().position(|&k| k == node) else {
                continue;
            };
            if let Some(c) = &self.pairs[p].conn {
                self.faults.ingests_dropped += u64::from(c.ends[d].storing.is_some());
            }
            // The peer's end learns of it by the idle timeout.
            self.drop_conn(p);
            let t = self.now + IDLE_TIMEOUT;
            let pair = &mut self.pairs[p];
            pair.next_dial = pair.next_dial.max(t);
        }
        let down = self.range_us(1_000_000, 30_000_000);
        self.schedule(self.now + down, Action::Restart { node });
    }

    fn restart(&mut self, node: usize) {
        if self.nodes[node].up {
            return;
        }
        self.log(|| format!("node {node} restarts"));
        let n = &mut self.nodes[node];
        n.up = true;
        // As the daemon: the clock starts at the newest timestamp in the store.
        {
            let mut c = n.clock.borrow_mut();
            let mut hlc = HlcClock::new(CLOCK_AHEAD_MAX_MS);
            if let Some(top) = n.log.iter().map(|r| r.key.0).max() {
                // Not dragged too far ahead by a peer's fast clock (`clock::hlc_after`).
                let ceiling = Hlc {
                    wall_ms: c.wall().saturating_add(CLOCK_AHEAD_MAX_MS),
                    logical: 0,
                };
                hlc.restore(top.min(ceiling));
            }
            c.hlc = hlc;
            c.budgets.clear();
        }
        // Everything this node acknowledged must have survived.
        let lost: Vec<EventId> = self
            .acked
            .iter()
            .filter(|id| {
                self.issued
                    .get(id)
                    .is_some_and(|m| m.author() as usize == node)
            })
            .filter(|id| !self.nodes[node].index.contains_key(id))
            .copied()
            .collect();
        for id in lost {
            self.violations.push(format!(
                "node {node} lost its acknowledged event {} in a crash",
                short(&id)
            ));
        }
        // The receipt view rebuilt from the store.
        let metas: Vec<Meta> = self.nodes[node].log.iter().map(|r| r.meta).collect();
        for meta in metas {
            self.fold_receipt(node, meta);
        }
        let mut states: Vec<((EventId, u8), u8)> = self.nodes[node]
            .view
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        states.sort_unstable();
        for ((write, recipient), state) in states {
            self.show(node, write, recipient, state);
        }
        for p in &mut self.pairs {
            if p.nodes[0] == node {
                p.next_dial = self.now;
                p.failures = 0;
            }
        }
    }

    fn backoff(&mut self, failures: u32) -> Duration {
        let base = BACKOFF_BASE
            .saturating_mul(1 << failures.min(10))
            .min(BACKOFF_MAX);
        let us = base.as_micros() as u64;
        self.range_us(us / 2, us)
    }

    fn dial(&mut self, p: usize) {
        let [a, b] = self.pairs[p].nodes;
        let reachable = self.nodes[b].up && self.cut[a][b] == 0 && self.cut[b][a] == 0;
        if !reachable {
            self.faults.dial_failures += 1;
            let failures = self.pairs[p].failures;
            self.pairs[p].failures += 1;
            let wait = HANDSHAKE_TIMEOUT + self.backoff(failures);
            self.pairs[p].next_dial = self.now + wait;
            return;
        }
        self.log(|| format!("{a} dials {b}"));
        let now = self.now;
        let end = |local: &SimNode, peer: &SimNode, dialled: bool, roster: &RosterState| End {
            link: Link::new(
                LinkConfig {
                    local: local.id,
                    peer: peer.id,
                    dialled,
                    roster: roster.clone(),
                    timing: Timing::default(),
                },
                SimHost(local.clock.clone()),
                now,
            ),
            queue: SendQueue::new(),
            storing: None,
            sent: VecDeque::new(),
        };
        let ends = [
            end(&self.nodes[a], &self.nodes[b], true, &self.roster),
            end(&self.nodes[b], &self.nodes[a], false, &self.roster),
        ];
        let pair = &mut self.pairs[p];
        pair.failures = 0;
        pair.conn = Some(Conn {
            ends,
            pipes: [Pipe::default(), Pipe::default()],
        });
    }

    fn drop_conn(&mut self, p: usize) {
        let pair = &mut self.pairs[p];
        if pair.conn.take().is_some() {
            let wait = self.backoff(0);
            let pair = &mut self.pairs[p];
            pair.next_dial = self.now + wait;
            let [a, b] = pair.nodes;
            self.log(|| format!("connection {a}-{b} ends"));
        }
    }

    /// Services every connection end as the daemon's driver does: answers what its link
    /// asks, writes its frames, then event batches once connected.
    fn service(&mut self) {
        let now = self.now;
        let mut closed = Vec::new();
        for p in 0..self.pairs.len() {
            let pair = &mut self.pairs[p];
            let Some(c) = &mut pair.conn else {
                continue;
            };
            if let Some(l) = pair.lossy {
                if l.until <= now {
                    pair.lossy = None;
                }
            }
            let lossy = pair.lossy;
            for d in 0..2 {
                let node = &self.nodes[pair.nodes[d]];
                let (ends, pipes) = (&mut c.ends, &mut c.pipes);
                let end = &mut ends[d];
                let pipe = &mut pipes[d];
                let mut net = Net {
                    rng: &mut self.rng,
                    lossy,
                    faults: &mut self.faults,
                };
                let closing = service_end(end, node, pipe, now, &mut net, self.bug);
                if let Some(close) = closing {
                    closed.push((p, close));
                }
            }
        }
        for (p, close) in closed {
            if self.pairs[p].conn.is_none() {
                continue;
            }
            match &close {
                Close::Local { code, reason, .. }
                    if *code == close::PROTOCOL && reason.contains("no hello") =>
                {
                    self.faults.hello_timeouts += 1;
                }
                Close::Peer { .. } => {}
                other => self.violations.push(format!(
                    "an honest link between nodes {:?} closed: {other:?}",
                    self.pairs[p].nodes
                )),
            }
            self.drop_conn(p);
        }
    }

    fn check_end(&mut self) {
        if self.converged_after.is_none() {
            return;
        }
        let first: HashSet<EventId> = self.nodes[0].index.keys().copied().collect();
        for (i, n) in self.nodes.iter().enumerate() {
            let ids: HashSet<EventId> = n.index.keys().copied().collect();
            if ids != first {
                self.violations
                    .push(format!("node {i} holds other events than node 0"));
            }
            // Exactly once.
            if n.log.len() != n.index.len() {
                self.violations.push(format!(
                    "node {i} stored {} events twice",
                    n.log.len() - n.index.len()
                ));
            }
            let mut receipts = HashSet::new();
            for r in &n.log {
                if let Meta::Receipt {
                    author,
                    write,
                    level,
                } = r.meta
                {
                    if !receipts.insert((write, author, level)) && n.log.len() == n.index.len() {
                        self.violations.push(format!(
                            "node {i} holds two receipts of level {level} by node {author} for {}",
                            short(&write)
                        ));
                    }
                }
            }
        }
        // No acknowledged event lost, nothing unexpected.
        let lost = self.acked.iter().filter(|id| !first.contains(id)).count();
        if lost > 0 {
            self.violations.push(format!(
                "{lost} acknowledged events are missing once healed"
            ));
        }
        let unexpected = first
            .iter()
            .filter(|id| !self.acked_set.contains(id))
            .count();
        if unexpected > 0 {
            self.violations.push(format!(
                "{unexpected} stored events were never acknowledged"
            ));
        }
        // Receipts back at the writer, at the furthest level acknowledged.
        for id in &self.acked {
            let Some(Meta::Write { author, recipients }) = self.issued.get(id) else {
                continue;
            };
            let writer = &self.nodes[*author as usize];
            for r in 0..self.nodes.len() as u8 {
                if recipients & (1 << r) == 0 {
                    continue;
                }
                let want = self.receipt_acked.get(&(*id, r)).copied().unwrap_or(0);
                let has = writer.view.get(&(*id, r)).copied().unwrap_or(0);
                if want < DELIVERED {
                    self.violations.push(format!(
                        "write {} by node {author} was never delivered to node {r}",
                        short(id)
                    ));
                } else if has != want {
                    self.violations.push(format!(
                        "node {author} shows receipt {has} for write {} at node {r}, not {want}",
                        short(id)
                    ));
                }
            }
        }
    }

    fn report(&self) -> Report {
        let mut h = blake3::Hasher::new();
        for n in &self.nodes {
            let mut ids: Vec<&EventId> = n.index.keys().collect();
            ids.sort_unstable();
            for id in ids {
                h.update(&id.0);
            }
            h.update(&n.log.len().to_le_bytes());
        }
        h.update(&self.now.as_micros().to_le_bytes());
        Report {
            seed: self.seed,
            bug: self.bug,
            nodes: self.nodes.len(),
            writes: self.writes,
            acknowledged: self.acked.len() as u64,
            faults: self.faults.clone(),
            converged_after: self.converged_after,
            simulated: self.now.saturating_since(Time::ZERO),
            steps: self.steps,
            digest: *h.finalize().as_bytes(),
            violations: self.violations.clone(),
            trace: self.trace.clone().unwrap_or_default(),
        }
    }
}

/// What the network needs while frames are written: delays, loss, counters.
struct Net<'a> {
    rng: &'a mut SeededRng,
    lossy: Option<Lossy>,
    faults: &'a mut Faults,
}

impl Net<'_> {
    fn send(&mut self, pipe: &mut Pipe, now: Time, frame: Frame) {
        let (lo, hi) = self.lossy.map_or(DELAY_US, |l| l.delay_us);
        let mut delay = lo + self.rng.next_u64() % (hi.saturating_sub(lo) + 1);
        if let Some(l) = self.lossy {
            // Each lost packet costs a retransmission timeout; it can be lost again.
            for _ in 0..4 {
                if self.rng.next_u64() % 1_000_000 >= l.loss_ppm {
                    break;
                }
                self.faults.retransmits += 1;
                delay += 200_000 + self.rng.next_u64() % 800_000;
            }
        }
        // A stream is ordered: a frame never overtakes the one before it.
        let at = (now + Duration::from_micros(delay)).max(pipe.last);
        pipe.last = at;
        pipe.frames.push_back((at, frame));
    }
}

/// One end serviced: link events answered, frames written, then batches. Returns how the
/// link closed, if it did.
fn service_end(
    end: &mut End,
    node: &SimNode,
    pipe: &mut Pipe,
    now: Time,
    net: &mut Net<'_>,
    bug: Bug,
) -> Option<Close> {
    let mut closed = None;
    loop {
        let mut busy = false;
        while let Some(event) = end.link.poll() {
            busy = true;
            match event {
                LinkEvent::NeedKeys { scope } => {
                    end.link.provide_keys(scope, node.keys(scope), now);
                }
                LinkEvent::Queue { ids, urgent } => {
                    end.queue.queue(ids, urgent);
                }
                LinkEvent::Serve { ids, urgent } => {
                    if bug != Bug::IgnoreWants {
                        let held = ids.into_iter().filter(|id| node.index.contains_key(id));
                        end.queue.queue(held, urgent);
                    }
                }
                LinkEvent::Ingest { events } => {
                    // Storing takes a while (sled's flush); the link waits for it.
                    let us = if net.rng.next_u64().is_multiple_of(10) {
                        20_000 + net.rng.next_u64() % 200_000
                    } else {
                        net.rng.next_u64() % 5_000
                    };
                    end.storing = Some((now + Duration::from_micros(us), events));
                }
                LinkEvent::OfferRoster(_) => {
                    // Every node holds the same roster: nothing newer is ever offered.
                    end.link.roster_offered(RosterOffer::Kept, now);
                }
                LinkEvent::Closed(close) => closed = Some(close),
                LinkEvent::Connected { .. }
                | LinkEvent::Expecting { .. }
                | LinkEvent::Arrived { .. }
                | LinkEvent::Synced
                | LinkEvent::PeerInfo { .. }
                | LinkEvent::SessionStalled { .. } => {}
            }
        }
        while let Some(frame) = end.link.poll_transmit() {
            busy = true;
            net.send(pipe, now, frame);
        }
        if !busy {
            break;
        }
    }
    while end.link.is_connected() && !end.queue.is_empty() {
        let batch = end
            .queue
            .next_batch(|id| Ok::<_, ()>(node.get(id).map(|r| r.event.clone())))
            .unwrap_or_default();
        if batch.is_empty() {
            continue;
        }
        for se in &batch {
            if end.sent.len() == SENT_REMEMBERED {
                end.sent.pop_front();
            }
            end.sent.push_back(se.id());
        }
        net.send(pipe, now, Frame::Events(batch));
    }
    closed
}

fn short(id: &EventId) -> String {
    id.0[..4].iter().map(|b| format!("{b:02x}")).collect()
}
