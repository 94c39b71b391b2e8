//! Range-based reconciliation: for random sets A and B (empty, equal, disjoint, nested, one
//! huge and one tiny) both sides end with A ∪ B, and the bytes exchanged stay within a bound
//! that grows with the difference and only logarithmically with |A ∪ B|; id prefixes that
//! collide on purpose (twins across the sides, two ids with one prefix on one side) still
//! end in exact equality; every message survives its wire form, and hostile bytes or
//! messages never panic; the byte bound of the v4 encoding at 100 k vs 100 k.

use std::collections::BTreeSet;

use proptest::prelude::*;
use reservnod_proto::reconcile::{Key, Message, Mode, Reconciler};
use reservnod_proto::{EventId, Hlc};

fn key(seed: u64) -> Key {
    let h = blake3::hash(&seed.to_le_bytes());
    // Timestamps collide often on purpose, so bounds need id prefixes too.
    (
        Hlc {
            wall_ms: 1_795_000_000_000 + (seed % 5_000),
            logical: (seed % 3) as u32,
        },
        EventId(*h.as_bytes()),
    )
}

fn bytes_of(m: &Message) -> usize {
    reservnod_proto::codec::encode::<_, { usize::MAX }>(m)
        .expect("encode")
        .len()
}

struct Outcome {
    a_final: BTreeSet<Key>,
    b_final: BTreeSet<Key>,
    bytes: usize,
    rounds: u32,
    /// Ids sent to a side that already held them (only after a prefix collision).
    spurious: usize,
    /// Id lists sent again with whole ids (after a prefix collision).
    full_lists: usize,
}

/// Runs a session between A (initiator) and B, then applies what each learned.
fn sync(a: &BTreeSet<Key>, b: &BTreeSet<Key>) -> Outcome {
    let mut bytes = 0;
    let mut full_lists = 0;
    let (ra, rb, messages) = reservnod_proto::testkit::run_session(
        a.iter().copied().collect(),
        b.iter().copied().collect(),
        64,
        |m| {
            bytes += bytes_of(m);
            // Every message goes through its wire form and back unchanged.
            let wire = m.to_bytes().expect("an honest message encodes");
            assert_eq!(&Message::from_bytes(&wire).expect("decodes"), m);
            full_lists += m
                .ranges
                .iter()
                .filter(
                    |r| matches!(&r.mode, Mode::IdList(l) if l.prefix_len == 32 && !l.is_empty()),
                )
                .count();
        },
    );
    let rounds = messages as u32;
    let by_id = |set: &BTreeSet<Key>, id: &EventId| {
        *set.iter()
            .find(|k| &k.1 == id)
            .expect("an id sent is held by its sender")
    };
    let (mut a_final, mut b_final) = (a.clone(), b.clone());
    let mut spurious = 0;
    // Each side sends what it found the peer lacks or was asked for.
    for id in ra.have() {
        spurious += usize::from(!b_final.insert(by_id(a, id)));
    }
    for id in rb.have() {
        spurious += usize::from(!a_final.insert(by_id(b, id)));
    }
    Outcome {
        a_final,
        b_final,
        bytes,
        rounds,
        spurious,
        full_lists,
    }
}

fn bound(diff: usize, union: usize) -> usize {
    let levels = ((union + 1) as f64).log(16.0).ceil() as usize + 2;
    2_048 * (diff + 1) * levels
}

/// A session converges to A ∪ B on both sides.
fn converges(a: &BTreeSet<Key>, b: &BTreeSet<Key>) -> Outcome {
    let o = sync(a, b);
    let union: BTreeSet<Key> = a.union(b).copied().collect();
    assert!(o.a_final == union, "A ends with A ∪ B");
    assert!(o.b_final == union, "B ends with A ∪ B");
    o
}

fn check(a: &BTreeSet<Key>, b: &BTreeSet<Key>) -> Outcome {
    let o = converges(a, b);
    assert_eq!(o.spurious, 0, "nothing sent that the peer held");
    let union: BTreeSet<Key> = a.union(b).copied().collect();
    let diff = a.symmetric_difference(b).count();
    assert!(
        o.bytes <= bound(diff, union.len()),
        "{} bytes for a difference of {diff} in {}: over {}",
        o.bytes,
        union.len(),
        bound(diff, union.len())
    );
    o
}

fn set(range: std::ops::Range<u64>) -> BTreeSet<Key> {
    range.map(key).collect()
}

#[test]
fn shapes() {
    let empty = BTreeSet::new();
    check(&empty, &empty);
    let o = check(&set(0..5_000), &set(0..5_000));
    assert!(
        o.bytes < 100 && o.rounds == 1,
        "equal sets settle with one message: {} bytes, {} rounds",
        o.bytes,
        o.rounds
    );
    check(&set(0..3_000), &empty);
    check(&empty, &set(0..3_000));
    check(&set(0..2_000), &set(2_000..4_000));
    check(&set(0..4_000), &set(1_000..1_500));
    check(&set(0..20_000), &set(7..9));
    check(&set(5..6), &set(0..20_000));
}

#[test]
fn equal_sets_cost_the_same_however_large() {
    let small = check(&set(0..100), &set(0..100)).bytes;
    let large = check(&set(0..50_000), &set(0..50_000)).bytes;
    assert_eq!(
        small, large,
        "equal sets exchange one fingerprint whatever their size"
    );
}

#[test]
fn a_small_difference_in_a_large_set_is_cheap() {
    let mut a = set(0..100_000);
    let mut b = a.clone();
    for i in 0..50u64 {
        a.remove(&key(i * 1_999));
        b.remove(&key(i * 1_999 + 1_000));
    }
    let o = check(&a, &b);
    eprintln!(
        "100k items, 100 differences: {} bytes in {} rounds",
        o.bytes, o.rounds
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn random_sets_converge_within_the_byte_bound(
        common in 0u64..3_000,
        only_a in 0u64..300,
        only_b in 0u64..300,
        seed in any::<u32>(),
    ) {
        let base = u64::from(seed) << 20;
        let shared = set(base..base + common);
        let mut a = shared.clone();
        a.extend(set(base + 100_000..base + 100_000 + only_a));
        let mut b = shared;
        b.extend(set(base + 200_000..base + 200_000 + only_b));
        check(&a, &b);
    }

    #[test]
    fn hostile_messages_never_panic(ranges in proptest::collection::vec((any::<Option<(u64, u8, Vec<u8>)>>(), 0u8..4, proptest::collection::vec(any::<[u8; 32]>(), 0..4), 1u8..40, any::<u32>()), 0..20)) {
        use reservnod_proto::reconcile::{Bound, IdList, Range, Want};
        let msg = Message { ranges: ranges.into_iter().map(|(b, mode, ids, plen, count)| Range {
            upper: b.map(|(w, l, p)| Bound { hlc: Hlc { wall_ms: w, logical: u32::from(l) }, prefix: p }),
            mode: match mode {
                0 => Mode::Skip,
                1 => Mode::Fingerprint(ids.first().map(|i| { let mut f = [0u8; 16]; f.copy_from_slice(&i[..16]); f }).unwrap_or_default()),
                2 => Mode::IdList(IdList { prefix_len: plen, prefixes: ids.concat()[..(ids.len() * 32).min(usize::from(plen) * ids.len())].to_vec() }),
                _ => Mode::Want(Want { count: count % 64, bits: vec![0xff; ((count % 64) as usize).div_ceil(8)], held: [7; 16] }),
            },
        }).collect() };
        let items: Vec<Key> = set(0..200).into_iter().collect();
        let _ = Reconciler::new(items.clone()).reconcile(&msg);
        // Whatever encodes decodes to the same message, and the receiver takes it as such.
        if let Ok(bytes) = msg.to_bytes() {
            let back = Message::from_bytes(&bytes).expect("an encoded message decodes");
            prop_assert_eq!(&back, &msg);
            let _ = Reconciler::new(items).reconcile(&back);
        }
    }

    /// Any bytes at all: decoding refuses or yields a message, never panics, and never holds
    /// more ranges than RANGES_MAX.
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::from_bytes(&bytes) {
            prop_assert!(m.ranges.len() <= reservnod_proto::reconcile::RANGES_MAX);
            let items: Vec<Key> = set(0..100).into_iter().collect();
            let _ = Reconciler::new(items).reconcile(&m);
            // The decoder reads only the shortest forms, so the bytes are the encoding.
            prop_assert_eq!(m.to_bytes().expect("a decoded message encodes"), bytes);
        }
    }

    /// Ids planted in pairs that share their first `shared` bytes, one of each pair on each
    /// side and with the same timestamp, so a prefix in an id list matches the other side's
    /// twin: the answer's fingerprint shows it, the range is listed again with whole ids, and
    /// both sides still end with exactly A ∪ B.
    #[test]
    fn prefix_collisions_made_on_purpose_still_converge(
        common in 0u64..2_000,
        twins in 1u64..40,
        shared in 3usize..32,
        only_a in 0u64..50,
        seed in any::<u32>(),
    ) {
        let base = u64::from(seed) << 20;
        let shared_set = set(base..base + common);
        let (mut a, mut b) = (shared_set.clone(), shared_set);
        for t in 0..twins {
            let (x, y) = twin_pair(base + 500_000 + t, shared);
            a.insert(x);
            b.insert(y);
        }
        a.extend(set(base + 600_000..base + 600_000 + only_a));
        let o = converges(&a, &b);
        // Each collision may cost a resend of the other ids of its range, never more.
        prop_assert!(o.spurious as u64 <= twins * reservnod_proto::reconcile::ID_LIST_MAX as u64);
        if shared >= 8 {
            prop_assert!(o.full_lists > 0, "a collision on {shared} bytes is found and listed again");
        }
    }

    /// One side holds two ids with the same prefix, the other one of them, both, or a third:
    /// whichever the first side matches, the check sorts it out.
    #[test]
    fn an_ambiguous_prefix_still_converges(
        common in 0u64..500,
        which in 0u8..4,
        shared in 3usize..32,
        seed in any::<u32>(),
    ) {
        let base = u64::from(seed) << 20;
        let shared_set = set(base..base + common);
        let (mut a, mut b) = (shared_set.clone(), shared_set);
        let (y1, y2) = twin_pair(base + 700_000, shared);
        let (_, x) = twin_pair(base + 700_000, shared.min(30) + 1);
        b.insert(y1);
        b.insert(y2);
        match which {
            0 => { a.insert(y1); }
            1 => { a.insert(y2); }
            2 => { a.insert(x); }
            _ => { a.insert(y1); a.insert(y2); a.insert(x); }
        }
        converges(&a, &b);
        converges(&b, &a);
    }
}

/// Two keys with the same timestamp whose ids share exactly their first `shared` bytes.
fn twin_pair(seed: u64, shared: usize) -> (Key, Key) {
    let (hlc, x) = key(seed);
    let mut y = *blake3::hash(&(seed ^ 0x5eed).to_le_bytes()).as_bytes();
    y[..shared].copy_from_slice(&x.0[..shared]);
    if shared < 32 && y[shared] == x.0[shared] {
        y[shared] ^= 0x80;
    }
    ((hlc, x), (hlc, EventId(y)))
}

/// The byte bound of the v4 encoding: 100,000 vs 100,000 events with 1,000 differences on
/// each side. The goal is under 1 MB for 1,000,000 vs 1,000,000 with as many differences
/// (500 bytes per difference); a set ten times smaller is one split level shallower (of
/// about four), so its bound is three quarters of that: 750,000 bytes.
#[test]
fn a_hundred_thousand_with_a_thousand_differences_each_side_stays_under_the_bound() {
    const BOUND: usize = 750_000;
    let mut a: Vec<Key> = (0..100_000u64).map(spread).collect();
    let mut b = a.clone();
    for i in 0..1_000usize {
        a[i * 97 + 3] = spread(2_000_000 + i as u64);
        b[i * 89 + 50] = spread(3_000_000 + i as u64);
    }
    let (a, b): (BTreeSet<Key>, BTreeSet<Key>) = (a.into_iter().collect(), b.into_iter().collect());
    let o = converges(&a, &b);
    assert_eq!(o.spurious, 0);
    eprintln!(
        "100k vs 100k, 1k differences each side: {} bytes in {} messages",
        o.bytes, o.rounds
    );
    assert!(o.bytes < BOUND, "{} bytes, over {BOUND}", o.bytes);
}

/// A key of a region's year: events about 31 s apart (a million a year), ids random.
fn spread(i: u64) -> Key {
    (
        Hlc {
            wall_ms: 1_795_000_000_000 + (i % 1_000_000) * 31_536,
            logical: 0,
        },
        EventId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
    )
}

/// The spec's session limit is the code's: PROTOCOL.md §7.4 and §7.6 name `ROUNDS_MAX`, the
/// message after it is refused, and every message up to it is processed.
#[test]
fn the_session_limit_is_the_one_protocol_md_states() {
    use reservnod_proto::reconcile::{ReconcileError, ROUNDS_MAX};
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md"))
        .expect("PROTOCOL.md");
    let n = ROUNDS_MAX.to_string();
    let spelled = if ROUNDS_MAX >= 1000 {
        format!("{},{:03}", ROUNDS_MAX / 1000, ROUNDS_MAX % 1000)
    } else {
        n.clone()
    };
    let next = ROUNDS_MAX + 1;
    let next_spelled = if next >= 1000 {
        format!("{},{:03}", next / 1000, next % 1000)
    } else {
        next.to_string()
    };
    assert!(
        spec.contains(&format!("| `ROUNDS_MAX` | {spelled} |")),
        "§7.4 does not give ROUNDS_MAX as {spelled}"
    );
    assert!(
        spec.contains(&format!("`ROUNDS_MAX` ({spelled})")),
        "§7.6 does not give ROUNDS_MAX as {spelled}"
    );
    assert!(
        spec.contains(&format!("the {next_spelled}th message is refused")),
        "§7.6 does not say the {next_spelled}th message is refused"
    );
    assert!(
        spec.contains(&format!("at most {spelled} messages")),
        "§7.6's byte bound does not use {spelled} messages"
    );
    // The code: an endlessly unsettled session is processed up to the limit, then refused.
    let ours: Vec<Key> = (0..1_000).map(key).collect();
    let theirs = Reconciler::new((1_000..2_000).map(key).collect()).initiate();
    let mut r = Reconciler::new(ours);
    for round in 1..=ROUNDS_MAX {
        assert!(r.reconcile(&theirs).is_ok(), "round {round} refused");
    }
    assert!(matches!(
        r.reconcile(&theirs),
        Err(ReconcileError::TooManyRounds)
    ));
}
