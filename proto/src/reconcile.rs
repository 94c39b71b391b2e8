//! Range-based set reconciliation over the (hlc, id)-ordered event sets of two nodes.
//!
//! The idea is Negentropy's: both sides cover the key space with consecutive ranges; for
//! each range one side sends a fingerprint of what it holds there. Equal fingerprints end
//! the range; unequal ones are split into [`BUCKETS`] sub-ranges, and small ranges are
//! answered with the list of ids held. Whoever receives an id list learns both what it has
//! that the peer lacks (`have`) and what the peer has that it lacks (`need`). Cost grows
//! with the size of the difference and only logarithmically with the size of the sets.
//!
//! This is a pure state machine: the caller gives it the sorted keys and the peer's
//! messages, and sends the messages it returns. It never allocates more than the items it
//! was given plus one reply, whose size it keeps under [`MESSAGE_BYTES_BUDGET`] by deferring
//! the rest of the key space to the next round.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::event::EventId;
use crate::hlc::Hlc;

/// A key in reconciliation order.
pub type Key = (Hlc, EventId);

/// Sub-ranges a differing range is split into.
pub const BUCKETS: usize = 16;
/// A range holding at most this many items is answered with its id list.
pub const ID_LIST_MAX: usize = 2 * BUCKETS;
/// Bytes of a fingerprint.
pub const FINGERPRINT_BYTES: usize = 16;
/// A reply is kept under about this many encoded bytes; the rest waits for the next round.
pub const MESSAGE_BYTES_BUDGET: usize = 256 * 1024;
/// Most ranges one message may carry.
pub const RANGES_MAX: usize = 64 * 1024;
/// Most messages one side processes in one session. Every round is bounded in bytes
/// ([`MESSAGE_BYTES_BUDGET`]) and settles the ranges before the budget ran out, so a large
/// difference needs about one round per 8,000 differing ids: 4,096 rounds cover a
/// difference of tens of millions of events, and bound what one session can make a side
/// process (about 1 GiB of replies over its life). A longer difference ends the session;
/// what it found was acted on, so the next session goes on from there.
pub const ROUNDS_MAX: u32 = 4_096;

/// An exclusive upper bound: everything below `(hlc, prefix padded with zero bytes)`.
/// The last range of a message has no bound (it runs to the end of the key space).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The bound's timestamp.
    pub hlc: Hlc,
    /// As few leading bytes of an id as tell the bound's neighbours apart.
    #[serde(with = "serde_bytes")]
    pub prefix: Vec<u8>,
}

impl Bound {
    /// Whether `key` lies below this bound.
    fn above(&self, key: &Key) -> bool {
        if key.0 != self.hlc {
            return key.0 < self.hlc;
        }
        // Compare the id with the prefix padded by zeros: an id equal to the prefix on its
        // length is at or above the bound.
        let n = self.prefix.len().min(32);
        key.1 .0[..n] < self.prefix[..n]
    }
}

/// What a message says about one range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Nothing more to do for this range.
    Skip,
    /// The sender's fingerprint of what it holds in the range.
    Fingerprint(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Every id the sender holds in the range.
    IdList(Vec<EventId>),
}

/// One range of a message: from the previous range's bound (or the start) to `upper`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// Exclusive upper bound; `None` for the end of the key space.
    pub upper: Option<Bound>,
    /// What the sender says about the range.
    pub mode: Mode,
}

/// One reconciliation message: consecutive ranges covering the whole key space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Message {
    /// The ranges, in order; the last has no upper bound.
    pub ranges: Vec<Range>,
}

/// Why a peer's message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ReconcileError {
    /// The ranges are empty, out of order, or do not end at the end of the key space.
    #[error("malformed reconciliation message: {0}")]
    Malformed(&'static str),
    /// The session took more rounds than any honest peer needs.
    #[error("reconciliation did not finish within {ROUNDS_MAX} rounds")]
    TooManyRounds,
}

/// The fingerprint of a run of items: a hash of the count and the sum of the ids as
/// 256-bit little-endian numbers (order-independent, so both sides agree on any run).
pub fn fingerprint(items: &[Key]) -> [u8; FINGERPRINT_BYTES] {
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
    let mut h = blake3::Hasher::new_derive_key("reservnod 2026-11 reconciliation fingerprint v1");
    for limb in sum {
        h.update(&limb.to_le_bytes());
    }
    h.update(&(items.len() as u64).to_le_bytes());
    let mut out = [0u8; FINGERPRINT_BYTES];
    out.copy_from_slice(&h.finalize().as_bytes()[..FINGERPRINT_BYTES]);
    out
}

/// Approximate encoded size of a range, for the reply budget.
fn range_bytes(r: &Range) -> usize {
    let bound = r.upper.as_ref().map_or(1, |b| 16 + b.prefix.len());
    bound
        + match &r.mode {
            Mode::Skip => 1,
            Mode::Fingerprint(_) => 2 + FINGERPRINT_BYTES,
            Mode::IdList(ids) => 4 + 32 * ids.len(),
        }
}

/// The shortest bound that separates `prev` (below) from `next` (at or above).
fn separating_bound(prev: &Key, next: &Key) -> Bound {
    if prev.0 != next.0 {
        return Bound {
            hlc: next.0,
            prefix: Vec::new(),
        };
    }
    let common = prev
        .1
         .0
        .iter()
        .zip(next.1 .0.iter())
        .take_while(|(a, b)| a == b)
        .count();
    Bound {
        hlc: next.0,
        prefix: next.1 .0[..(common + 1).min(32)].to_vec(),
    }
}

/// One side of a reconciliation session, over a snapshot of this side's keys.
pub struct Reconciler {
    items: Vec<Key>,
    have: Vec<EventId>,
    need: Vec<EventId>,
    rounds: u32,
}

impl Reconciler {
    /// A session over `items`, which must be sorted and free of duplicates.
    pub fn new(items: Vec<Key>) -> Self {
        debug_assert!(
            items.windows(2).all(|w| w[0] < w[1]),
            "items sorted and unique"
        );
        Reconciler {
            items,
            have: Vec::new(),
            need: Vec::new(),
            rounds: 0,
        }
    }

    /// Ids this side holds that the peer lacks (found so far).
    pub fn have(&self) -> &[EventId] {
        &self.have
    }

    /// Ids the peer holds that this side lacks (found so far).
    pub fn need(&self) -> &[EventId] {
        &self.need
    }

    /// Takes the ids found so far, so the caller can act on them between rounds.
    pub fn take_found(&mut self) -> (Vec<EventId>, Vec<EventId>) {
        (
            std::mem::take(&mut self.have),
            std::mem::take(&mut self.need),
        )
    }

    /// The first message of the initiating side: one fingerprint of everything (equal sets
    /// then settle in a single message), or the id list of a small set.
    pub fn initiate(&self) -> Message {
        let mode = if self.items.len() <= ID_LIST_MAX {
            Mode::IdList(self.items.iter().map(|k| k.1).collect())
        } else {
            Mode::Fingerprint(fingerprint(&self.items).to_vec())
        };
        Message {
            ranges: vec![Range { upper: None, mode }],
        }
    }

    /// Index of the first item at or above `bound` (the end for `None`).
    fn split_at(&self, bound: Option<&Bound>) -> usize {
        match bound {
            None => self.items.len(),
            Some(b) => self.items.partition_point(|k| b.above(k)),
        }
    }

    /// Describes `run` (the items below `upper`) as one or more ranges: an id list when
    /// small, else [`BUCKETS`] fingerprinted sub-ranges.
    fn describe(&self, run: &[Key], upper: Option<Bound>, out: &mut Vec<Range>) {
        if run.len() <= ID_LIST_MAX {
            out.push(Range {
                upper,
                mode: Mode::IdList(run.iter().map(|k| k.1).collect()),
            });
            return;
        }
        let per = run.len().div_ceil(BUCKETS);
        let mut start = 0;
        while start < run.len() {
            let end = (start + per).min(run.len());
            let bucket_upper = if end == run.len() {
                upper.clone()
            } else {
                Some(separating_bound(&run[end - 1], &run[end]))
            };
            out.push(Range {
                upper: bucket_upper,
                mode: Mode::Fingerprint(fingerprint(&run[start..end]).to_vec()),
            });
            start = end;
        }
    }

    /// How many keys this side holds in the session.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether this side holds no keys.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Processes the peer's message and returns the reply, or `None` when the session is
    /// complete (every range settled). `have` and `need` grow as ranges settle.
    pub fn reconcile(&mut self, msg: &Message) -> Result<Option<Message>, ReconcileError> {
        self.rounds += 1;
        if self.rounds > ROUNDS_MAX {
            return Err(ReconcileError::TooManyRounds);
        }
        check(msg)?;
        let mut out: Vec<Range> = Vec::new();
        let mut bytes = 0usize;
        let mut lower = 0usize;
        for range in &msg.ranges {
            let upper_index = self.split_at(range.upper.as_ref()).max(lower);
            let ours: &[Key] = &self.items[lower..upper_index];
            if bytes > MESSAGE_BYTES_BUDGET {
                // Over budget: hand the rest of the key space back as one fingerprint, to be
                // refined in later rounds.
                let rest = &self.items[lower..];
                out.push(Range {
                    upper: None,
                    mode: Mode::Fingerprint(fingerprint(rest).to_vec()),
                });
                break;
            }
            let before = out.len();
            match &range.mode {
                Mode::Skip => out.push(Range {
                    upper: range.upper.clone(),
                    mode: Mode::Skip,
                }),
                Mode::Fingerprint(theirs) => {
                    if theirs.as_slice() == fingerprint(ours).as_slice() {
                        out.push(Range {
                            upper: range.upper.clone(),
                            mode: Mode::Skip,
                        });
                    } else {
                        self.describe(ours, range.upper.clone(), &mut out);
                    }
                }
                Mode::IdList(theirs) => {
                    let theirs_set: HashSet<&EventId> = theirs.iter().collect();
                    let ours_set: HashSet<&EventId> = ours.iter().map(|k| &k.1).collect();
                    self.have.extend(
                        ours.iter()
                            .map(|k| k.1)
                            .filter(|id| !theirs_set.contains(id)),
                    );
                    self.need
                        .extend(theirs.iter().filter(|id| !ours_set.contains(id)).copied());
                    out.push(Range {
                        upper: range.upper.clone(),
                        mode: Mode::Skip,
                    });
                }
            }
            bytes += out[before..].iter().map(range_bytes).sum::<usize>();
            lower = upper_index;
        }
        // Merge runs of skips: a skip's bound only matters where the next range begins.
        let mut merged: Vec<Range> = Vec::with_capacity(out.len());
        for r in out {
            if let (Some(last), Mode::Skip) = (merged.last_mut(), &r.mode) {
                if last.mode == Mode::Skip {
                    last.upper = r.upper;
                    continue;
                }
            }
            merged.push(r);
        }
        if merged.iter().all(|r| r.mode == Mode::Skip) {
            return Ok(None);
        }
        Ok(Some(Message { ranges: merged }))
    }
}

/// Structural checks on a peer's message.
fn check(msg: &Message) -> Result<(), ReconcileError> {
    let Some(last) = msg.ranges.last() else {
        return Err(ReconcileError::Malformed("no ranges"));
    };
    if msg.ranges.len() > RANGES_MAX {
        return Err(ReconcileError::Malformed("too many ranges"));
    }
    if last.upper.is_some() {
        return Err(ReconcileError::Malformed(
            "the last range must reach the end",
        ));
    }
    let mut prev: Option<&Bound> = None;
    for r in &msg.ranges[..msg.ranges.len() - 1] {
        let Some(b) = &r.upper else {
            return Err(ReconcileError::Malformed(
                "only the last range may be unbounded",
            ));
        };
        if b.prefix.len() > 32 {
            return Err(ReconcileError::Malformed("bound prefix longer than an id"));
        }
        if let Some(p) = prev {
            if (p.hlc, &p.prefix) >= (b.hlc, &b.prefix) {
                return Err(ReconcileError::Malformed("ranges out of order"));
            }
        }
        if let Mode::Fingerprint(f) = &r.mode {
            if f.len() != FINGERPRINT_BYTES {
                return Err(ReconcileError::Malformed("fingerprint of the wrong size"));
            }
        }
        prev = Some(b);
    }
    if let Mode::Fingerprint(f) = &last.mode {
        if f.len() != FINGERPRINT_BYTES {
            return Err(ReconcileError::Malformed("fingerprint of the wrong size"));
        }
    }
    Ok(())
}
