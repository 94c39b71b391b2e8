//! The link machine on its own: two machines back to back in simulated time and network
//! (`reservnod_proto::sim`), and one machine fed by hand.
//!
//! - Arbitrary key sets and delays: both sides end knowing exactly each other's missing ids,
//!   hold the union, and say they are in sync.
//! - Only the dialler starts sessions, one at a time, urgent scope before all; the responder
//!   replies to every round.
//! - A session unanswered for the stall time starts over (and not before); a late reply to it
//!   is ignored; a session that is slow but answered is not abandoned.
//! - Hostile frames never panic, every frame the machine writes encodes, and violations are
//!   answered with a close.
//! - The hello checks, the roster exchange, back-pressure, and the ping's clock math.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use reservnod_proto::budget::TokenBucket;
use reservnod_proto::frame::{Frame, Hello, Scope, PROTOCOL_VERSION};
use reservnod_proto::link::{
    close, Close, Host, Link, LinkConfig, LinkEvent, RosterOffer, RosterState, Time, Timing,
    HELLO_TIMEOUT, RECONCILE_INTERVAL, RESPONDER_SESSIONS_BURST, RESPONDER_SESSION_REFILL,
    SESSION_STALL,
};
use reservnod_proto::reconcile::{Bound, Key, Message, Mode, Range};
use reservnod_proto::roster::Revocation;
use reservnod_proto::sim::{self, Pair, Told, Wire};
use reservnod_proto::{EventId, Hlc, NodeId, SignedEvent, SignedRoster};

/// A synthetic event: its key, whether it is urgent, its bytes.
type Ev = (Key, bool, SignedEvent);

/// A synthetic event from a seed; timestamps collide often so bounds need id prefixes.
fn ev(seed: u64, urgent: bool) -> Ev {
    let hlc = Hlc {
        wall_ms: sim::EPOCH_MS - 1_000_000 + (seed % 997),
        logical: (seed % 3) as u32,
    };
    let (key, se) = sim::event(hlc, urgent, seed);
    (key, urgent, se)
}

fn ids(events: &[Ev]) -> BTreeSet<EventId> {
    events.iter().map(|(k, _, _)| k.1).collect()
}

/// The (scope, session) of every `Reconcile` in a record, in order.
fn rounds(record: &[(Time, Wire)]) -> Vec<(Scope, u64)> {
    record
        .iter()
        .filter_map(|(_, w)| match w {
            Wire::Frame(Frame::Reconcile { scope, session, .. }) => Some((*scope, *session)),
            _ => None,
        })
        .collect()
}

/// Builds a pair whose a holds `only_a ∪ common` and b holds `only_b ∪ common`.
fn pair_with(seed: &str, only_a: &[Ev], only_b: &[Ev], common: &[Ev]) -> Pair {
    let mut pair = Pair::new(seed);
    pair.a.preload(only_a.iter().chain(common).cloned());
    pair.b.preload(only_b.iter().chain(common).cloned());
    pair
}

/// Splits seeds into three disjoint sets of events, some urgent.
fn sets(seeds: BTreeSet<u64>, split: &[u8], urgent_every: u64) -> (Vec<Ev>, Vec<Ev>, Vec<Ev>) {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for (i, seed) in seeds.into_iter().enumerate() {
        let e = ev(seed, seed % urgent_every == 0);
        match split.get(i).copied().unwrap_or(0) % 3 {
            0 => a.push(e),
            1 => b.push(e),
            _ => c.push(e),
        }
    }
    (a, b, c)
}

/// Checks a settled pair: the union on both sides, each side offering exactly what the
/// other lacked (nothing spurious, nothing missing), and the session rules.
fn check_converged(
    pair: &Pair,
    only_a: &BTreeSet<EventId>,
    only_b: &BTreeSet<EventId>,
) -> Result<(), TestCaseError> {
    let union: BTreeSet<EventId> = pair
        .a
        .store
        .keys()
        .chain(pair.b.store.keys())
        .copied()
        .collect();
    prop_assert_eq!(
        pair.a.store.keys().copied().collect::<BTreeSet<_>>(),
        union.clone()
    );
    prop_assert_eq!(pair.b.store.keys().copied().collect::<BTreeSet<_>>(), union);
    prop_assert_eq!(
        &pair.a.offered().into_iter().collect::<BTreeSet<_>>(),
        only_a
    );
    prop_assert_eq!(
        &pair.b.offered().into_iter().collect::<BTreeSet<_>>(),
        only_b
    );
    prop_assert_eq!(
        &pair.a.events_sent().into_iter().collect::<BTreeSet<_>>(),
        only_a
    );
    prop_assert_eq!(
        &pair.b.events_sent().into_iter().collect::<BTreeSet<_>>(),
        only_b
    );
    // The dialler knows when a session of scope all completes; the responder only when its
    // own answer settles it (PROTOCOL.md 7.7), so it is not asserted here.
    prop_assert!(pair.a.synced() >= 1);
    prop_assert!(pair.a.closed.is_none() && pair.b.closed.is_none());
    prop_assert_eq!(pair.a.link.expected(), 0);
    prop_assert_eq!(pair.b.link.expected(), 0);
    check_session_rules(pair)
}

/// Only the dialler starts sessions, one at a time, urgent before all; the responder
/// replies to each round it receives with the same scope and number, in order.
fn check_session_rules(pair: &Pair) -> Result<(), TestCaseError> {
    let a_sent = rounds(&pair.a.sent);
    let b_sent = rounds(&pair.b.sent);
    let b_received = rounds(&pair.b.received);
    // The responder answers every round it took, in order (the ones still on their way to
    // it are the only ones without an answer).
    prop_assert_eq!(&b_sent, &b_received);
    // Every session number the responder uses is one the dialler started.
    let started: HashSet<u64> = a_sent.iter().map(|(_, s)| *s).collect();
    prop_assert!(b_sent.iter().all(|(_, s)| started.contains(s)));
    // One session at a time: once a new number appears, no earlier one is used again.
    let mut order: Vec<(Scope, u64)> = Vec::new();
    for r in &a_sent {
        if order.last() != Some(r) {
            prop_assert!(
                !order.contains(r),
                "session {:?} resumed after a newer one",
                r
            );
            order.push(*r);
        }
    }
    // Urgent first, then all, each all right after an urgent one.
    prop_assert_eq!(order.first().map(|r| r.0), Some(Scope::Urgent));
    for w in order.windows(2) {
        if w[1].0 == Scope::All {
            prop_assert_eq!(w[0].0, Scope::Urgent);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn two_links_end_knowing_exactly_each_others_missing_ids(
        seeds in prop::collection::btree_set(any::<u64>(), 0..400),
        split in prop::collection::vec(any::<u8>(), 400),
        urgent_every in 1u64..8,
        delay in (0u64..50_000, 0u64..200_000),
        store_delay_ms in 0u64..30,
        seed in any::<u64>(),
    ) {
        let (a, b, common) = sets(seeds, &split, urgent_every);
        let mut pair = pair_with(&seed.to_string(), &a, &b, &common);
        pair.set_delay_us(delay.0, delay.0 + delay.1);
        pair.b.store_delay = Duration::from_millis(store_delay_ms);
        pair.a.store_delay = Duration::from_millis(store_delay_ms / 2);
        let done = pair.run_until(Time::from_millis(120_000), Pair::settled);
        prop_assert!(done, "did not settle within 2 simulated minutes");
        check_converged(&pair, &ids(&a), &ids(&b))?;
    }

    /// Later rounds (every 30 s) keep the rules, and events written on either side while
    /// linked reach the other.
    #[test]
    fn periodic_sessions_and_pushes_keep_the_rules(
        seeds in prop::collection::btree_set(any::<u64>(), 0..200),
        split in prop::collection::vec(any::<u8>(), 200),
        written in prop::collection::btree_set(any::<u64>(), 1..50),
        seed in any::<u64>(),
    ) {
        let (a, b, common) = sets(seeds, &split, 4);
        let mut pair = pair_with(&seed.to_string(), &a, &b, &common);
        prop_assert!(pair.run_until(Time::from_millis(60_000), Pair::settled));
        let written: Vec<_> = written.into_iter().map(|s| ev(s ^ 0x5555, s % 2 == 0)).collect();
        let (to_a, to_b): (Vec<_>, Vec<_>) = written.iter().cloned().partition(|e| e.0 .1 .0[0] % 2 == 0);
        pair.a.write(to_b.iter().cloned());
        pair.b.write(to_a.iter().cloned());
        pair.run_to(pair.now + RECONCILE_INTERVAL * 3);
        prop_assert!(pair.run_until(pair.now + Duration::from_secs(60), Pair::settled));
        let union: BTreeSet<EventId> = pair.a.store.keys().chain(pair.b.store.keys()).copied().collect();
        prop_assert!(ids(&written).is_subset(&union));
        prop_assert_eq!(pair.a.store.keys().copied().collect::<BTreeSet<_>>(), union.clone());
        prop_assert_eq!(pair.b.store.keys().copied().collect::<BTreeSet<_>>(), union);
        prop_assert!(pair.a.synced() >= 4, "a session on connect and one every 30 s");
        check_session_rules(&pair)?;
    }
}

#[test]
fn a_large_catch_up_converges_in_bounded_batches() {
    let a: Vec<_> = (0..6_000u64).map(|s| ev(s, s % 10 == 0)).collect();
    let b: Vec<_> = (6_000..6_500u64).map(|s| ev(s, false)).collect();
    let common: Vec<_> = (10_000..12_000u64).map(|s| ev(s, s % 7 == 0)).collect();
    let mut pair = pair_with("large", &a, &b, &common);
    pair.b.store_delay = Duration::from_millis(5);
    assert!(pair.run_until(Time::from_millis(300_000), Pair::settled));
    check_converged(&pair, &ids(&a), &ids(&b)).expect("converged");
    for (_, w) in &pair.a.sent {
        if let Wire::Events(batch) = w {
            assert!(batch.len() <= reservnod_proto::outbox::SEND_BATCH_EVENTS);
        }
    }
    // Urgent events the peer lacked left before the bulk: the first batch starts with them.
    let urgent: BTreeSet<EventId> = a.iter().filter(|e| e.1).map(|e| e.0 .1).collect();
    let first: Vec<EventId> = pair
        .a
        .events_sent()
        .into_iter()
        .take(urgent.len())
        .collect();
    assert_eq!(first.into_iter().collect::<BTreeSet<_>>(), urgent);
}

#[test]
fn a_session_unanswered_for_the_stall_time_starts_over_and_a_late_reply_is_ignored() {
    let a: Vec<_> = (0..50u64).map(|s| ev(s, s % 3 == 0)).collect();
    let b: Vec<_> = (50..90u64).map(|s| ev(s, s % 3 == 0)).collect();
    let mut pair = pair_with("stall", &a, &b, &[]);
    // The responder's driver does not answer its key request: the session gets no reply.
    pair.b.answer_keys = false;
    let first_round_at = |pair: &Pair| {
        pair.a.sent.iter().find_map(|(t, w)| match w {
            Wire::Frame(Frame::Reconcile { session, .. }) => Some((*t, *session)),
            _ => None,
        })
    };
    pair.run_to(Time::from_millis(1_000));
    let (started, first) = first_round_at(&pair).expect("the dialler started a session");
    // Not a moment before the stall time has passed: the ticks at 30 s … 5 min skip.
    pair.run_to(started + SESSION_STALL);
    assert!(!pair
        .a
        .told
        .iter()
        .any(|(_, t)| matches!(t, Told::SessionStalled { .. })));
    assert_eq!(rounds(&pair.a.sent).len(), 1);
    // The first tick after it starts a new session.
    pair.run_to(started + SESSION_STALL + RECONCILE_INTERVAL);
    let stalled: Vec<_> = pair
        .a
        .told
        .iter()
        .filter_map(|(t, e)| match e {
            Told::SessionStalled { session } => Some((*t, *session)),
            _ => None,
        })
        .collect();
    assert_eq!(stalled.len(), 1);
    assert_eq!(stalled[0].1, first);
    assert!(stalled[0].0.saturating_since(started) > SESSION_STALL);
    let sessions: Vec<(Scope, u64)> = rounds(&pair.a.sent);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[1].0, Scope::Urgent);
    assert_ne!(sessions[1].1, first, "a new number");
    // Now the responder's keys come: it answers the old session first (a late reply the
    // dialler ignores), then takes the new one; everything converges, nobody is closed.
    pair.b.answer_keys = true;
    let keys = pair.b.keys(Scope::Urgent);
    pair.b.link.provide_keys(Scope::Urgent, keys, pair.now);
    assert!(pair.run_until(pair.now + Duration::from_secs(120), Pair::settled));
    assert_eq!(rounds(&pair.b.sent)[0], (Scope::Urgent, first));
    check_converged(&pair, &ids(&a), &ids(&b)).expect("converged");
}

#[test]
fn a_slow_session_that_is_answered_is_not_abandoned() {
    // Two minutes each way: every round trip takes four, the session many more than the
    // stall time, but no round waits longer than it for its answer.
    let a: Vec<_> = (0..3_000u64).map(|s| ev(s, false)).collect();
    let extra_a: Vec<_> = (3_000..3_040u64).map(|s| ev(s * 7919, false)).collect();
    let extra_b: Vec<_> = (5_000..5_040u64).map(|s| ev(s * 7919, false)).collect();
    let mut pair = pair_with("slow", &extra_a, &extra_b, &a);
    // The hellos at the usual pace (they have 5 s), everything after at the slow one.
    assert!(pair.run_until(Time::from_millis(1_000), |p| {
        p.a.link.is_connected() && p.b.link.is_connected()
    }));
    pair.set_delay_us(120_000_000, 120_000_000);
    let union = ids(&a).len() + extra_a.len() + extra_b.len();
    // Pings are always on their way at this delay, so wait for the stores, not for quiet.
    assert!(pair.run_until(Time::from_millis(3_600_000), |p| {
        p.a.synced() >= 1 && p.a.store.len() == union && p.b.store.len() == union
    }));
    let all_rounds = rounds(&pair.a.sent);
    let (first_t, _) = pair
        .a
        .sent
        .iter()
        .find(|(_, w)| matches!(w, Wire::Frame(Frame::Reconcile { .. })))
        .expect("a round");
    let last_t = pair
        .a
        .sent
        .iter()
        .rev()
        .find(|(_, w)| matches!(w, Wire::Frame(Frame::Reconcile { .. })))
        .map(|(t, _)| *t)
        .expect("a round");
    assert!(
        last_t.saturating_since(*first_t) > SESSION_STALL,
        "the session outlasted the stall time"
    );
    assert!(!pair
        .a
        .told
        .iter()
        .any(|(_, t)| matches!(t, Told::SessionStalled { .. })));
    assert!(all_rounds.len() >= 3);
    check_converged(&pair, &ids(&extra_a), &ids(&extra_b)).expect("converged");
}

#[test]
fn a_newer_roster_goes_to_the_older_side_once_and_a_revoked_peer_is_closed() {
    let mut pair = Pair::new("roster");
    let mut v2 = pair.region.roster.clone();
    v2.version += 1;
    let signed = v2.sign(&pair.region.admin).expect("sign");
    pair.b.install_roster(RosterState {
        roster: Arc::new(v2.clone()),
        signed: Arc::new(signed.clone()),
    });
    assert!(pair.run_until(Time::from_millis(60_000), Pair::settled));
    let rosters = |sent: &[(Time, Wire)]| {
        sent.iter()
            .filter(|(_, w)| matches!(w, Wire::Frame(Frame::Roster(_))))
            .count()
    };
    assert_eq!(rosters(&pair.b.sent), 1, "the newer side sends it once");
    assert_eq!(rosters(&pair.a.sent), 0, "and does not get it back");
    assert_eq!(
        pair.a.roster.roster.version, v2.version,
        "the older side installed it"
    );
    assert!(pair.a.told.iter().any(|(_, t)| *t
        == Told::OfferRoster {
            outcome: RosterOffer::Installed(v2.version)
        }));

    // b learns that a is revoked: it says goodbye and closes; a hears why.
    let mut v3 = v2.clone();
    v3.version += 1;
    v3.revoked.push(Revocation {
        node: pair.region.ward.1.id(),
        at_ms: sim::EPOCH_MS,
        cutoff: Hlc {
            wall_ms: sim::EPOCH_MS,
            logical: 0,
        },
        reason: "stulen dator".into(),
    });
    let signed3 = v3.sign(&pair.region.admin).expect("sign");
    pair.b.install_roster(RosterState {
        roster: Arc::new(v3),
        signed: Arc::new(signed3),
    });
    pair.run_to(pair.now + Duration::from_secs(1));
    match &pair.b.closed {
        Some(Close::Local {
            code,
            reason,
            goodbye,
        }) => {
            assert_eq!(*code, close::NOT_ADMITTED);
            assert!(reason.contains("revoked"), "{reason}");
            assert!(goodbye);
        }
        other => panic!("b not closed as expected: {other:?}"),
    }
    assert_eq!(
        rosters(&pair.b.sent),
        1,
        "a revoked peer is not sent the roster"
    );
    assert!(matches!(&pair.a.closed, Some(Close::Peer { reason }) if reason.contains("revoked")));
}

#[test]
fn the_clock_offset_and_round_trip_come_from_the_ping() {
    let mut pair = Pair::new("ping");
    pair.set_delay_us(10_000, 10_000);
    pair.b.link.host_mut().offset_ms = 1_500;
    pair.run_to(Time::from_millis(12_000));
    let infos: Vec<(Duration, i64)> = pair
        .a
        .told
        .iter()
        .filter_map(|(_, t)| match t {
            Told::PeerInfo {
                rtt,
                clock_offset_ms,
            } => Some((*rtt, *clock_offset_ms)),
            _ => None,
        })
        .collect();
    assert!(infos.len() >= 2, "a ping every 5 s: {infos:?}");
    for (rtt, offset) in infos {
        assert_eq!(rtt, Duration::from_millis(20));
        assert_eq!(offset, 1_500);
    }
}

// ---- one machine, fed by hand ----

struct FakeHost {
    wall_ms: u64,
    ids: u64,
    hlc: Hlc,
    /// The protocol's session budget, on the fake wall clock.
    sessions: TokenBucket,
}

impl Host for FakeHost {
    fn tick(&mut self) -> Hlc {
        self.hlc.logical += 1;
        self.hlc.wall_ms = self.hlc.wall_ms.max(self.wall_ms);
        self.hlc
    }
    fn observe(&mut self, _: Hlc) {}
    fn wall_ms(&mut self) -> u64 {
        self.wall_ms
    }
    fn next_id(&mut self) -> u64 {
        self.ids += 1;
        self.ids
    }
    fn allow_new_session(&mut self, _: &NodeId) -> bool {
        self.sessions.take(self.wall_ms)
    }
}

struct Solo {
    link: Link<FakeHost>,
    peer: NodeId,
    sent: Vec<Frame>,
    told: Vec<LinkEvent>,
}

fn solo(dialled: bool) -> Solo {
    let region = reservnod_proto::testkit::region("solo");
    let signed = region.roster.sign(&region.admin).expect("sign");
    let (local, peer) = (region.ward.1.id(), region.kommun.1.id());
    let config = LinkConfig {
        local,
        peer,
        dialled,
        roster: RosterState {
            roster: Arc::new(region.roster.clone()),
            signed: Arc::new(signed),
        },
        timing: Timing::default(),
    };
    let clock = FakeHost {
        wall_ms: sim::EPOCH_MS,
        ids: 100,
        hlc: Hlc::default(),
        sessions: TokenBucket::new(
            RESPONDER_SESSIONS_BURST,
            RESPONDER_SESSION_REFILL.as_millis() as u64,
            sim::EPOCH_MS,
        ),
    };
    let mut s = Solo {
        link: Link::new(config, clock, Time::ZERO),
        peer,
        sent: Vec::new(),
        told: Vec::new(),
    };
    s.drain();
    s
}

impl Solo {
    fn drain(&mut self) {
        while let Some(f) = self.link.poll_transmit() {
            f.encode().expect("every frame the machine writes encodes");
            self.sent.push(f);
        }
        while let Some(e) = self.link.poll() {
            self.told.push(e);
        }
    }

    fn hello(&self) -> Frame {
        Frame::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            roster_version: 1,
            node: self.peer,
            hlc: Hlc::default(),
        })
    }

    fn feed(&mut self, f: Frame, now: Time) {
        self.link.handle_frame(f, now);
        self.drain();
    }

    fn closed(&self) -> Option<&Close> {
        self.told.iter().find_map(|e| match e {
            LinkEvent::Closed(c) => Some(c),
            _ => None,
        })
    }
}

#[test]
fn the_hello_comes_first_and_is_checked() {
    let s = solo(true);
    assert!(matches!(&s.sent[..], [Frame::Hello(h)] if h.protocol_version == PROTOCOL_VERSION));

    let mut s = solo(true);
    let mut hello = s.hello();
    if let Frame::Hello(h) = &mut hello {
        h.protocol_version = 99;
    }
    s.feed(hello, Time::ZERO);
    assert_eq!(
        s.closed(),
        Some(&Close::Local {
            code: close::VERSION,
            reason: format!(
                "incompatible protocol version 99 (this node speaks {PROTOCOL_VERSION})"
            ),
            goodbye: true
        })
    );
    assert!(matches!(s.sent.last(), Some(Frame::Goodbye { reason }) if reason.contains("99")));

    let mut s = solo(false);
    let mut hello = s.hello();
    if let Frame::Hello(h) = &mut hello {
        h.node = NodeId([7; 32]);
    }
    s.feed(hello, Time::ZERO);
    assert!(matches!(
        s.closed(),
        Some(Close::Local {
            code: close::PROTOCOL,
            goodbye: false,
            ..
        })
    ));

    let mut s = solo(false);
    s.feed(Frame::Pending { events: 3 }, Time::ZERO);
    assert!(
        matches!(s.closed(), Some(Close::Local { code: close::PROTOCOL, reason, .. }) if reason == "expected a hello, got pending")
    );

    let mut s = solo(false);
    let almost = Time::from_micros(HELLO_TIMEOUT.as_micros() as u64 - 1);
    assert_eq!(s.link.poll_timeout(), Some(Time::ZERO + HELLO_TIMEOUT));
    s.link.handle_timeout(almost);
    s.drain();
    assert!(s.closed().is_none());
    s.link.handle_timeout(Time::ZERO + HELLO_TIMEOUT);
    s.drain();
    assert!(
        matches!(s.closed(), Some(Close::Local { code: close::PROTOCOL, reason, .. }) if reason.contains("no hello"))
    );
    assert_eq!(s.link.poll_timeout(), None);

    // Connected: a second hello is a violation.
    let mut s = solo(false);
    s.feed(s.hello(), Time::ZERO);
    assert!(matches!(
        s.told.first(),
        Some(LinkEvent::Connected { roster_version: 1 })
    ));
    s.feed(s.hello(), Time::ZERO);
    assert!(
        matches!(s.closed(), Some(Close::Local { code: close::PROTOCOL, reason, .. }) if reason == "a second hello")
    );
}

#[test]
fn the_dialler_starts_with_the_urgent_scope_and_the_responder_never_starts() {
    let mut d = solo(true);
    d.feed(d.hello(), Time::ZERO);
    assert!(d.told.contains(&LinkEvent::NeedKeys {
        scope: Scope::Urgent
    }));
    assert!(!d.link.wants_frame(), "waits for its key snapshot");
    d.link.provide_keys(Scope::Urgent, Vec::new(), Time::ZERO);
    d.drain();
    assert!(d.sent.iter().any(|f| matches!(
        f,
        Frame::Reconcile {
            scope: Scope::Urgent,
            ..
        }
    )));

    let mut r = solo(false);
    r.feed(r.hello(), Time::ZERO);
    for t in (0..20).map(|i| Time::ZERO + RECONCILE_INTERVAL * i) {
        r.link.handle_timeout(t);
        r.drain();
    }
    assert!(!r.sent.iter().any(|f| matches!(f, Frame::Reconcile { .. })));
    assert!(!r
        .told
        .iter()
        .any(|e| matches!(e, LinkEvent::NeedKeys { .. })));
}

#[test]
fn one_batch_is_ingested_at_a_time() {
    let mut s = solo(false);
    s.feed(s.hello(), Time::ZERO);
    let batch = |seed| Frame::Events(vec![ev(seed, false).2]);
    s.feed(batch(1), Time::ZERO);
    s.feed(batch(2), Time::ZERO);
    s.feed(
        Frame::Ping {
            nonce: 5,
            hlc: Hlc::default(),
        },
        Time::ZERO,
    );
    let ingests = |s: &Solo| {
        s.told
            .iter()
            .filter(|e| matches!(e, LinkEvent::Ingest { .. }))
            .count()
    };
    assert_eq!(ingests(&s), 1);
    assert!(!s.link.wants_frame());
    assert!(
        !s.sent.iter().any(|f| matches!(f, Frame::Pong { .. })),
        "later frames wait too"
    );
    s.link.events_stored(Time::ZERO);
    s.drain();
    assert_eq!(ingests(&s), 2);
    assert!(!s.sent.iter().any(|f| matches!(f, Frame::Pong { .. })));
    s.link.events_stored(Time::ZERO);
    s.drain();
    assert!(s
        .sent
        .iter()
        .any(|f| matches!(f, Frame::Pong { nonce: 5, .. })));
    assert!(s.link.wants_frame());
}

#[test]
fn pending_and_wants_count_what_is_still_to_come() {
    let mut s = solo(false);
    s.feed(s.hello(), Time::ZERO);
    s.feed(Frame::Pending { events: u64::MAX }, Time::ZERO);
    assert_eq!(
        s.link.expected(),
        reservnod_proto::link::PENDING_ANNOUNCED_MAX
    );
    s.feed(
        Frame::Events(vec![ev(1, false).2, ev(2, false).2]),
        Time::ZERO,
    );
    assert_eq!(
        s.link.expected(),
        reservnod_proto::link::PENDING_ANNOUNCED_MAX - 2
    );
    assert!(s.told.contains(&LinkEvent::Arrived { events: 2 }));
}

// ---- hostile input ----

fn arb_hlc() -> impl Strategy<Value = Hlc> {
    prop_oneof![
        (any::<u64>(), any::<u32>()).prop_map(|(wall_ms, logical)| Hlc { wall_ms, logical }),
        Just(Hlc {
            wall_ms: u64::MAX,
            logical: u32::MAX
        }),
        Just(Hlc {
            wall_ms: 1 << 63,
            logical: 0
        }),
        Just(Hlc::default()),
        (0u64..10_000).prop_map(|d| Hlc {
            wall_ms: sim::EPOCH_MS + d,
            logical: 0
        }),
    ]
}

fn arb_id() -> impl Strategy<Value = EventId> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(EventId),
        (0u64..20).prop_map(|s| ev(s, false).0 .1)
    ]
}

fn arb_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Skip),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Mode::Fingerprint),
        prop::collection::vec(arb_id(), 0..40).prop_map(Mode::IdList),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    let bound = (arb_hlc(), prop::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(hlc, prefix)| Bound { hlc, prefix });
    prop::collection::vec((prop::option::of(bound), arb_mode()), 0..12).prop_map(|ranges| Message {
        ranges: ranges
            .into_iter()
            .map(|(upper, mode)| Range { upper, mode })
            .collect(),
    })
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Urgent), Just(Scope::All)]
}

fn arb_frame(peer: NodeId) -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            prop_oneof![Just(PROTOCOL_VERSION), any::<u16>()],
            any::<u64>(),
            any::<bool>(),
            arb_hlc()
        )
            .prop_map(
                move |(protocol_version, roster_version, right, hlc)| Frame::Hello(Hello {
                    protocol_version,
                    roster_version,
                    node: if right { peer } else { NodeId([9; 32]) },
                    hlc,
                })
            ),
        prop::collection::vec(
            prop_oneof![
                (0u64..30, any::<bool>()).prop_map(|(s, u)| ev(s, u).2),
                prop::collection::vec(any::<u8>(), 0..40).prop_map(|bytes| SignedEvent {
                    bytes,
                    sig: [1; 64]
                }),
            ],
            0..6
        )
        .prop_map(Frame::Events),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| Frame::Roster(SignedRoster {
            bytes,
            sig: [0; 64]
        })),
        ((0u64..4), arb_hlc()).prop_map(|(nonce, hlc)| Frame::Ping { nonce, hlc }),
        // The fake clock numbers from 101: pongs often match the ping in flight.
        (prop_oneof![100u64..106, any::<u64>()], arb_hlc())
            .prop_map(|(nonce, hlc)| Frame::Pong { nonce, hlc }),
        "\\PC{0,80}".prop_map(|reason| Frame::Goodbye { reason }),
        (
            arb_scope(),
            prop_oneof![0u64..4, 100u64..110, any::<u64>()],
            arb_message()
        )
            .prop_map(|(scope, session, message)| Frame::Reconcile {
                scope,
                session,
                message
            }),
        (any::<bool>(), prop::collection::vec(arb_id(), 0..50))
            .prop_map(|(urgent, ids)| Frame::Want { urgent, ids }),
        any::<u64>().prop_map(|events| Frame::Pending { events }),
    ]
}

#[derive(Debug, Clone)]
enum Act {
    Frame(Frame),
    Advance(u64),
    /// Answers the last ping sent, with this clock.
    Pong(Hlc),
}

fn acts(peer: NodeId) -> impl Strategy<Value = Vec<Act>> {
    prop::collection::vec(
        prop_oneof![
            6 => arb_frame(peer).prop_map(Act::Frame),
            1 => (0u64..400_000).prop_map(Act::Advance),
            1 => arb_hlc().prop_map(Act::Pong),
        ],
        0..40,
    )
}

fn peer_id() -> NodeId {
    reservnod_proto::testkit::region("solo").kommun.1.id()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Whatever a peer sends, in any order and at any time: no panic, every frame written
    /// encodes, the responder answers every round it takes, one close at most and nothing
    /// after it but the goodbye.
    #[test]
    fn hostile_frames_never_panic_and_end_in_a_close(
        dialled in any::<bool>(),
        hello_first in any::<bool>(),
        acts in acts(peer_id()),
        keys in prop::collection::vec(0u64..30, 0..30),
        forged in any::<bool>(),
    ) {
        let mut s = solo(dialled);
        let mut now = Time::ZERO;
        if hello_first {
            s.feed(s.hello(), now);
        }
        let keys: Vec<Key> = keys.into_iter().map(|k| ev(k, k % 2 == 0).0).collect();
        let mut closes = 0;
        for act in acts {
            let sent_before = s.sent.len();
            let round_in = match &act {
                Act::Frame(Frame::Reconcile { scope, session, .. }) if !dialled && s.link.is_connected() && s.link.wants_frame() => Some((*scope, *session)),
                _ => None,
            };
            match act {
                Act::Frame(f) => s.link.handle_frame(f, now),
                Act::Advance(ms) => {
                    now = now + Duration::from_millis(ms);
                    s.link.handle_timeout(now);
                }
                Act::Pong(hlc) => {
                    let last = s.sent.iter().rev().find_map(|f| match f {
                        Frame::Ping { nonce, .. } => Some(*nonce),
                        _ => None,
                    });
                    s.link.handle_frame(Frame::Pong { nonce: last.unwrap_or(0), hlc }, now);
                }
            }
            // The driver answers everything at once, as the daemon does.
            loop {
                let mut again = false;
                while let Some(f) = s.link.poll_transmit() {
                    prop_assert!(f.encode().is_ok(), "unencodable frame {:?}", f.name());
                    let after_close_only_goodbye = closes == 0 || matches!(f, Frame::Goodbye { .. });
                    prop_assert!(after_close_only_goodbye, "a frame after the close");
                    s.sent.push(f);
                }
                while let Some(e) = s.link.poll() {
                    prop_assert_eq!(closes, 0, "nothing follows a close");
                    again = true;
                    match &e {
                        LinkEvent::NeedKeys { scope } => s.link.provide_keys(*scope, keys.clone(), now),
                        LinkEvent::Ingest { .. } => s.link.events_stored(now),
                        LinkEvent::OfferRoster(_) => s.link.roster_offered(
                            if forged { RosterOffer::Forged("bad signature".into()) } else { RosterOffer::Kept },
                            now,
                        ),
                        LinkEvent::Closed(_) => closes += 1,
                        _ => {}
                    }
                    s.told.push(e);
                }
                if !again {
                    break;
                }
            }
            if let Some((scope, session)) = round_in {
                let replied = s.sent[sent_before..].iter().any(|f| matches!(f, Frame::Reconcile { scope: sc, session: se, .. } if *sc == scope && *se == session));
                prop_assert!(replied || s.link.is_closed(), "the responder always replies");
            }
            prop_assert!(closes <= 1);
            prop_assert_eq!(closes == 1, s.link.is_closed());
        }
    }

    /// A malformed round of a session is a protocol violation, closed without a goodbye.
    #[test]
    fn a_malformed_round_is_answered_with_a_close(
        dialled in any::<bool>(),
        scope in arb_scope(),
        broken in prop_oneof![
            Just(Message { ranges: vec![] }),
            arb_message().prop_map(|mut m| { m.ranges.push(Range { upper: Some(Bound { hlc: Hlc::default(), prefix: vec![] }), mode: Mode::Skip }); m }),
            prop::collection::vec(any::<u8>(), 0..40).prop_filter("not 16", |f| f.len() != 16)
                .prop_map(|f| Message { ranges: vec![Range { upper: None, mode: Mode::Fingerprint(f) }] }),
            (arb_hlc(), prop::collection::vec(any::<u8>(), 33..60)).prop_map(|(hlc, prefix)| Message { ranges: vec![
                Range { upper: Some(Bound { hlc, prefix }), mode: Mode::Skip },
                Range { upper: None, mode: Mode::Skip },
            ] }),
        ],
    ) {
        let mut s = solo(dialled);
        s.feed(s.hello(), Time::ZERO);
        let session = if dialled {
            s.link.provide_keys(Scope::Urgent, Vec::new(), Time::ZERO);
            s.drain();
            // The dialler's running session: urgent first.
            match s.link.session() {
                Some((Scope::Urgent, Some(id))) => id,
                other => return Err(TestCaseError::fail(format!("no running session: {other:?}"))),
            }
        } else {
            7
        };
        let scope = if dialled { Scope::Urgent } else { scope };
        s.feed(Frame::Reconcile { scope, session, message: broken }, Time::ZERO);
        if !dialled {
            s.link.provide_keys(scope, Vec::new(), Time::ZERO);
            s.drain();
        }
        prop_assert!(matches!(s.closed(), Some(Close::Local { code: close::PROTOCOL, goodbye: false, .. })), "{:?}", s.closed());
        prop_assert!(s.link.poll_transmit().is_none());
        let replied = s.sent.iter().any(|f| matches!(f, Frame::Reconcile { session: se, .. } if *se == session && !dialled));
        prop_assert!(!replied, "no reply to a malformed round");
    }
}

#[test]
fn a_pong_from_the_far_future_is_measured_without_overflow() {
    let mut s = solo(false);
    s.feed(s.hello(), Time::ZERO);
    let mut offsets = Vec::new();
    for wall_ms in [1 << 63, u64::MAX, 0] {
        // A ping goes out; the peer answers it at once with a hostile clock.
        let mut now = s.link.poll_timeout().expect("open");
        s.link.handle_timeout(now);
        s.drain();
        let Some(Frame::Ping { nonce, .. }) = s.sent.last().cloned() else {
            panic!("a ping: {:?}", s.sent.last());
        };
        now = now + Duration::from_millis(1);
        s.feed(
            Frame::Pong {
                nonce,
                hlc: Hlc {
                    wall_ms,
                    logical: 0,
                },
            },
            now,
        );
        offsets.extend(s.told.drain(..).filter_map(|e| match e {
            LinkEvent::PeerInfo {
                clock_offset_ms, ..
            } => Some(clock_offset_ms),
            _ => None,
        }));
    }
    let ours = i64::try_from(sim::EPOCH_MS).expect("fits");
    assert_eq!(offsets, vec![i64::MAX - ours + 1, i64::MAX, -ours]);
    assert!(!s.link.is_closed());
}

#[test]
fn a_reply_for_another_session_changes_nothing_at_the_dialler() {
    let mut d = solo(true);
    d.feed(d.hello(), Time::ZERO);
    d.link
        .provide_keys(Scope::Urgent, vec![ev(1, true).0], Time::ZERO);
    d.drain();
    let running = d.link.session();
    let Some((Scope::Urgent, Some(id))) = running else {
        panic!("no running session: {running:?}");
    };
    let (sent, told) = (d.sent.len(), d.told.len());
    let settled = Message {
        ranges: vec![Range {
            upper: None,
            mode: Mode::Skip,
        }],
    };
    for (scope, session) in [
        (Scope::Urgent, id + 1),
        (Scope::All, id),
        (Scope::Urgent, 0),
    ] {
        d.feed(
            Frame::Reconcile {
                scope,
                session,
                message: settled.clone(),
            },
            Time::ZERO,
        );
    }
    assert_eq!((d.sent.len(), d.told.len()), (sent, told), "ignored");
    assert_eq!(d.link.session(), running);
    // Its own session's reply settles it, and the all scope follows.
    d.feed(
        Frame::Reconcile {
            scope: Scope::Urgent,
            session: id,
            message: settled,
        },
        Time::ZERO,
    );
    assert_eq!(d.link.session(), Some((Scope::All, None)));
}

#[test]
fn a_peer_starting_sessions_beyond_the_budget_is_closed() {
    let mut r = solo(false);
    r.feed(r.hello(), Time::ZERO);
    let round = |session| Frame::Reconcile {
        scope: Scope::All,
        session,
        message: Message {
            ranges: vec![Range {
                upper: None,
                mode: Mode::IdList(vec![]),
            }],
        },
    };
    // The burst, each a new session number: answered.
    for session in 0..u64::from(RESPONDER_SESSIONS_BURST) {
        r.feed(round(session), Time::ZERO);
        r.link.provide_keys(Scope::All, Vec::new(), Time::ZERO);
        r.drain();
        assert!(r.closed().is_none(), "session {session}");
    }
    // One refill later one more is allowed.
    r.link.host_mut().wall_ms += RESPONDER_SESSION_REFILL.as_millis() as u64;
    r.feed(round(100), Time::ZERO);
    r.link.provide_keys(Scope::All, Vec::new(), Time::ZERO);
    r.drain();
    assert!(r.closed().is_none());
    // Beyond: a violation, before any snapshot is asked for.
    let asked = r
        .told
        .iter()
        .filter(|e| matches!(e, LinkEvent::NeedKeys { .. }))
        .count();
    r.feed(round(101), Time::ZERO);
    assert!(
        matches!(r.closed(), Some(Close::Local { code: close::PROTOCOL, reason, .. }) if reason.contains("new reconciliation sessions"))
    );
    assert_eq!(
        r.told
            .iter()
            .filter(|e| matches!(e, LinkEvent::NeedKeys { .. }))
            .count(),
        asked
    );
}

#[test]
fn a_roster_holds_the_link_until_its_fate_is_known_and_a_forged_one_closes_it() {
    let mut s = solo(false);
    s.feed(s.hello(), Time::ZERO);
    let roster = Frame::Roster(SignedRoster {
        bytes: vec![1, 2, 3],
        sig: [0; 64],
    });
    s.feed(roster.clone(), Time::ZERO);
    s.feed(
        Frame::Ping {
            nonce: 9,
            hlc: Hlc::default(),
        },
        Time::ZERO,
    );
    assert!(matches!(s.told.last(), Some(LinkEvent::OfferRoster(_))));
    assert!(!s.link.wants_frame());
    assert!(!s.sent.iter().any(|f| matches!(f, Frame::Pong { .. })));
    s.link.roster_offered(RosterOffer::Kept, Time::ZERO);
    s.drain();
    assert!(s
        .sent
        .iter()
        .any(|f| matches!(f, Frame::Pong { nonce: 9, .. })));
    s.feed(roster, Time::ZERO);
    s.link
        .roster_offered(RosterOffer::Forged("bad signature".into()), Time::ZERO);
    s.drain();
    assert!(
        matches!(s.closed(), Some(Close::Local { code: close::PROTOCOL, reason, goodbye: false }) if reason == "a roster that fails verification: bad signature")
    );
}
