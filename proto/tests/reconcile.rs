//! Range-based reconciliation: for random sets A and B (empty, equal, disjoint, nested, one
//! huge and one tiny) both sides end with A ∪ B, and the bytes exchanged stay within a bound
//! that grows with the difference and only logarithmically with |A ∪ B|.

use std::collections::BTreeSet;

use proptest::prelude::*;
use reservnod_proto::reconcile::{Key, Message, Reconciler};
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
}

/// Runs a session between A (initiator) and B, then applies what each learned.
fn sync(a: &BTreeSet<Key>, b: &BTreeSet<Key>) -> Outcome {
    let mut bytes = 0;
    let (ra, rb, messages) = reservnod_proto::testkit::run_session(
        a.iter().copied().collect(),
        b.iter().copied().collect(),
        64,
        |m| bytes += bytes_of(m),
    );
    let rounds = messages as u32;
    let by_id = |set: &BTreeSet<Key>, id: &EventId| {
        *set.iter()
            .find(|k| &k.1 == id)
            .expect("learned id exists on the other side")
    };
    let (mut a_final, mut b_final) = (a.clone(), b.clone());
    // Each side sends what it has that the peer lacks, and asks for what it needs.
    for id in ra.have().iter().chain(rb.need()) {
        b_final.insert(by_id(a, id));
    }
    for id in rb.have().iter().chain(ra.need()) {
        a_final.insert(by_id(b, id));
    }
    // Nothing spurious: every id learned is a real difference.
    for id in ra.have().iter().chain(rb.need()) {
        assert!(
            !b.iter().any(|k| &k.1 == id),
            "A offered what B already had"
        );
    }
    for id in rb.have().iter().chain(ra.need()) {
        assert!(
            !a.iter().any(|k| &k.1 == id),
            "B offered what A already had"
        );
    }
    Outcome {
        a_final,
        b_final,
        bytes,
        rounds,
    }
}

fn bound(diff: usize, union: usize) -> usize {
    let levels = ((union + 1) as f64).log(16.0).ceil() as usize + 2;
    2_048 * (diff + 1) * levels
}

fn check(a: &BTreeSet<Key>, b: &BTreeSet<Key>) -> Outcome {
    let o = sync(a, b);
    let union: BTreeSet<Key> = a.union(b).copied().collect();
    assert!(o.a_final == union, "A ends with A ∪ B");
    assert!(o.b_final == union, "B ends with A ∪ B");
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
    fn hostile_messages_never_panic(ranges in proptest::collection::vec((any::<Option<(u64, u8, Vec<u8>)>>(), 0u8..3, proptest::collection::vec(any::<[u8; 32]>(), 0..4)), 0..20)) {
        use reservnod_proto::reconcile::{Bound, Mode, Range};
        let msg = Message { ranges: ranges.into_iter().map(|(b, mode, ids)| Range {
            upper: b.map(|(w, l, p)| Bound { hlc: Hlc { wall_ms: w, logical: u32::from(l) }, prefix: p }),
            mode: match mode { 0 => Mode::Skip, 1 => Mode::Fingerprint(ids.first().map(|i| i[..16].to_vec()).unwrap_or_default()), _ => Mode::IdList(ids.into_iter().map(EventId).collect()) },
        }).collect() };
        let items: Vec<Key> = set(0..200).into_iter().collect();
        let _ = Reconciler::new(items).reconcile(&msg);
    }
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
