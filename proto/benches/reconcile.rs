//! Reconciliation of two 1,000,000-event sets differing by 1 k, 10 k and 100 k events on each
//! side (protocol version 4): bytes, messages, round trips and computation time, beside
//! anchors measured in the same run: the bytes of the plainest exchange (one side's sorted id
//! list, 32 bytes an id), and the time of one fingerprint over the whole set next to the
//! version 3 fingerprint's work (a 256-bit sum of the ids) over the same set.
//!
//! `cargo bench -p reservnod-proto --bench reconcile` (`RESERVNOD_BENCH_N` sets the set size).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reservnod_proto::reconcile::{fingerprint, Key, Message, Mode};
use reservnod_proto::{EventId, Hlc};

/// A key of a region's year: events about 31.5 s apart (a million a year), ids random.
fn key(i: u64) -> Key {
    (
        Hlc {
            wall_ms: 1_795_000_000_000 + i * 31_536,
            logical: 0,
        },
        EventId(*blake3::hash(&i.to_le_bytes()).as_bytes()),
    )
}

/// The version 3 fingerprint's work: the ids summed as 256-bit numbers.
fn sum_of_ids(items: &[Key]) -> [u64; 4] {
    let mut sum = [0u64; 4];
    for (_, id) in items {
        let mut carry = 0u128;
        for (i, limb) in sum.iter_mut().enumerate() {
            let word = u64::from_le_bytes(id.0[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let total = u128::from(*limb) + u128::from(word) + carry;
            *limb = total as u64;
            carry = total >> 64;
        }
    }
    sum
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .expect("runs > 0")
}

fn main() {
    let n: u64 = std::env::var("RESERVNOD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("reservnod reconciliation benchmark — {n} vs {n} events, protocol v4");
    println!(
        "machine: {cores} cores available; release build: {}",
        !cfg!(debug_assertions)
    );
    let all: Vec<Key> = (0..n).map(key).collect();

    // Anchors.
    let blake = best_of(5, || fingerprint(&all));
    let sum = best_of(5, || sum_of_ids(&all));
    let list_bytes = 32 * n as usize;
    println!(
        "[anchor] one fingerprint over {n} ids: {:.1} ms (BLAKE3, v4); the v3 sum of ids: {:.1} ms; ratio {:.1}",
        blake.as_secs_f64() * 1e3,
        sum.as_secs_f64() * 1e3,
        blake.as_secs_f64() / sum.as_secs_f64().max(1e-9)
    );
    println!("[anchor] one side's sorted id list: {list_bytes} bytes");

    for diff in [1_000u64, 10_000, 100_000] {
        if diff * 4 > n {
            continue;
        }
        let mut a = all.clone();
        let mut b = all.clone();
        // Replace `diff` shared keys on each side by new ones, spread over the set.
        let (step_a, step_b) = (n / diff, n / diff);
        for i in 0..diff {
            let (ia, ib) = (
                (i * step_a + 3) as usize,
                (i * step_b + step_b / 2) as usize,
            );
            a[ia] = key(n + 10 + i);
            b[ib] = key(2 * n + 10 + i);
        }
        a.sort_unstable();
        b.sort_unstable();
        let delta: HashSet<EventId> = {
            let (sa, sb): (HashSet<_>, HashSet<_>) = (a.iter().collect(), b.iter().collect());
            sa.symmetric_difference(&sb).map(|k| k.1).collect()
        };
        let expected = delta.len();
        let (mut bytes, mut fps, mut lists, mut list_bytes_sent, mut wants, mut full) =
            (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
        let t = Instant::now();
        let (ra, rb, messages) =
            reservnod_proto::testkit::run_session(a, b, usize::MAX, |m: &Message| {
                bytes += reservnod_proto::codec::encode::<_, { usize::MAX }>(m)
                    .expect("encode")
                    .len();
                for r in &m.ranges {
                    match &r.mode {
                        Mode::Fingerprint(_) => fps += 1,
                        Mode::IdList(l) => {
                            lists += 1;
                            list_bytes_sent += l.prefixes.len();
                            full += usize::from(l.prefix_len == 32);
                        }
                        Mode::Want(_) => wants += 1,
                        Mode::Skip => {}
                    }
                }
            });
        let wall = t.elapsed();
        let found: HashSet<EventId> = ra.have().iter().chain(rb.have()).copied().collect();
        assert!(delta.is_subset(&found), "every difference found");
        // Sent to a side that held them: only after a prefix collision.
        let extra = ra.have().len() + rb.have().len() - expected;
        let found = found.len();
        println!(
            "\n[{diff} differences each side] {bytes} bytes ({:.3} MB), {messages} messages ({} round trips), {:.0} ms computation (both sides, one thread)\n  found {found} of the {expected} in A Δ B ({extra} sent to a side that held them); ratio to one side's id list {:.4}; time ratio to one whole-set fingerprint {:.1}\n  {fps} fingerprints, {lists} id lists ({list_bytes_sent} bytes of prefixes; {full} sent again with whole ids), {wants} wants; {:.0} bytes per difference\n  goal (1 k): under 1 MB: {}",
            bytes as f64 / 1e6,
            messages.div_ceil(2),
            wall.as_secs_f64() * 1e3,
            bytes as f64 / list_bytes as f64,
            wall.as_secs_f64() / blake.as_secs_f64().max(1e-9),
            bytes as f64 / expected.max(1) as f64,
            if diff != 1_000 {
                "n/a"
            } else if bytes < 1_000_000 {
                "met"
            } else {
                "missed"
            },
        );
    }
}
