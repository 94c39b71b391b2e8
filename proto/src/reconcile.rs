//! Range-based set reconciliation over the (hlc, id)-ordered event sets of two nodes
//! (PROTOCOL.md §7; this is the encoding and the rules of protocol version 4).
//!
//! The idea is Negentropy's: both sides cover the key space with consecutive ranges; for
//! each range one side sends a fingerprint of what it holds there. Equal fingerprints end
//! the range; unequal ones are split into sub-ranges, and small ranges are answered with a
//! list of the ids held, each cut to a short prefix. The receiver of such a list learns what
//! it holds that the peer lacks (its ids matching no prefix) and answers with a [`Want`]:
//! which of the listed ids it lacks, by position, and the fingerprint of those it matched.
//! The list's sender checks that fingerprint against its own ids at the matched positions:
//! equal, and the range is settled exactly (the wanted ids are sent); different, and a
//! prefix matched another id than the one listed (a collision, by chance or made on
//! purpose), so it sends the range again with whole ids. Cost grows with the size of the
//! difference and only logarithmically with the size of the sets.
//!
//! A fingerprint is BLAKE3 over the run's ids in key order and their count, so it depends on
//! the order and no one can find two sets with the same fingerprint short of a 2^64 search
//! for a collision of its 16 bytes; computing it is one forward walk over the sorted run,
//! which both sides walk anyway.
//!
//! This is a pure state machine: the caller gives it the sorted keys and the peer's
//! messages, and sends the messages it returns. It never allocates more than the items it
//! was given plus one reply, whose encoding it keeps near [`MESSAGE_BYTES_BUDGET`] (and
//! under [`MESSAGE_BYTES_LIMIT`]) by leaving the splitting of the rest to the next round.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::EventId;
use crate::hlc::Hlc;

/// A key in reconciliation order.
pub type Key = (Hlc, EventId);

/// Sub-ranges a large differing range is split into.
pub const BUCKETS: usize = 16;
/// A range holding at most this many items is answered with its id list; a differing range
/// of at most `BUCKETS` times this is split into buckets of about this many.
pub const ID_LIST_MAX: usize = 2 * BUCKETS;
/// Bytes of a fingerprint.
pub const FINGERPRINT_BYTES: usize = 16;
/// The shortest id prefix in an id list (longer when the listed ids share more).
pub const ID_PREFIX_MIN: usize = 3;
/// Once a reply's encoding passes this many bytes, differing ranges are no longer split
/// but answered with this side's own fingerprint (the peer splits them next round); id lists
/// and wants are still answered, so nothing settled is found twice.
pub const MESSAGE_BYTES_BUDGET: usize = 256 * 1024;
/// Once a reply passes this many bytes (only a message built to provoke it gets there), the
/// rest of the key space is handed back as one fingerprint, to be refined in later rounds.
pub const MESSAGE_BYTES_LIMIT: usize = 768 * 1024;
/// Most ranges one message may carry.
pub const RANGES_MAX: usize = 64 * 1024;
/// Most messages one side processes in one session. Every round is bounded in bytes
/// ([`MESSAGE_BYTES_LIMIT`]) and settles the ranges before the budget ran out, so 4,096
/// rounds cover a difference of millions of events and bound what one session can make a
/// side process (about 3 GiB of replies over its life). A longer difference ends the
/// session; what it found was acted on, so the next session goes on from there.
pub const ROUNDS_MAX: u32 = 4_096;

/// The key derivation context of the fingerprint (PROTOCOL.md §7.3).
const _: () = assert!(
    MESSAGE_BYTES_LIMIT + 4 * 1024 < crate::limits::FRAME_BYTES_MAX - 64,
    "a reply (the limit, one range's answer past it and the rest) fits a frame"
);

const FINGERPRINT_CONTEXT: &str = "reservnod 2026-12 reconciliation fingerprint v2";

/// A fingerprint of a run of keys ([`fingerprint`]).
pub type Fingerprint = [u8; FINGERPRINT_BYTES];

/// An exclusive upper bound: everything below `(hlc, prefix padded with zero bytes)`.
/// The last range of a message has no bound (it runs to the end of the key space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The bound's timestamp.
    pub hlc: Hlc,
    /// As few leading bytes of an id as tell the bound's neighbours apart.
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

/// Every id a side holds in a range, in key order, each cut to its first `prefix_len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdList {
    /// Bytes of each prefix, 1 to 32 (32: whole ids).
    pub prefix_len: u8,
    /// The prefixes, one after the other.
    pub prefixes: Vec<u8>,
}

impl IdList {
    /// The list of `ids`, each cut to `prefix_len` bytes (at most 32).
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a EventId>, prefix_len: usize) -> IdList {
        let prefix_len = prefix_len.clamp(1, 32);
        let mut prefixes = Vec::new();
        for id in ids {
            prefixes.extend_from_slice(&id.0[..prefix_len]);
        }
        IdList {
            prefix_len: prefix_len as u8,
            prefixes,
        }
    }

    /// How many ids the list holds.
    pub fn len(&self) -> usize {
        match self.prefix_len {
            0 => 0,
            n => self.prefixes.len() / usize::from(n),
        }
    }

    /// Whether the list holds no id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th prefix.
    pub fn get(&self, i: usize) -> &[u8] {
        let n = usize::from(self.prefix_len);
        &self.prefixes[i * n..(i + 1) * n]
    }
}

/// The answer to an [`IdList`]: which of the listed ids the sender lacks, and the
/// fingerprint of the ids it holds that it took the other prefixes for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    /// How many ids the answered list held.
    pub count: u32,
    /// Bit `i` (of byte `i / 8`, least significant first) set: the sender lacks listed id `i`
    /// and asks for it. Exactly `ceil(count / 8)` bytes; unused bits are zero.
    pub bits: Vec<u8>,
    /// The fingerprint of the sender's ids that matched the listed ids whose bit is clear.
    pub held: Fingerprint,
}

impl Want {
    /// Whether listed id `i` is asked for.
    pub fn wants(&self, i: usize) -> bool {
        self.bits
            .get(i / 8)
            .is_some_and(|b| (b >> (i % 8)) & 1 == 1)
    }
}

/// What a message says about one range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing more to do for this range.
    Skip,
    /// The sender's fingerprint of what it holds in the range.
    Fingerprint(Fingerprint),
    /// Every id the sender holds in the range, as prefixes.
    IdList(IdList),
    /// The answer to the peer's id list for this range.
    Want(Want),
}

/// One range of a message: from the previous range's bound (or the start) to `upper`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Exclusive upper bound; `None` for the end of the key space.
    pub upper: Option<Bound>,
    /// What the sender says about the range.
    pub mode: Mode,
}

/// One reconciliation message: consecutive ranges covering the whole key space. On the wire
/// it is the byte string of [`Message::to_bytes`] (PROTOCOL.md §7.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// The ranges, in order; the last has no upper bound.
    pub ranges: Vec<Range>,
}

/// Why a peer's message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ReconcileError {
    /// The ranges are empty, out of order, do not end at the end of the key space, or do
    /// not decode.
    #[error("malformed reconciliation message: {0}")]
    Malformed(&'static str),
    /// The session took more rounds than any honest peer needs.
    #[error("reconciliation did not finish within {ROUNDS_MAX} rounds")]
    TooManyRounds,
}

/// The fingerprint of a run of keys: BLAKE3 (derive-key mode) over its ids in order, then
/// their count, cut to [`FINGERPRINT_BYTES`].
pub fn fingerprint(items: &[Key]) -> Fingerprint {
    fingerprint_ids(items.iter().map(|k| &k.1))
}

/// [`fingerprint`] of ids given in key order (one forward walk, as a store range scan gives
/// them).
pub fn fingerprint_ids<'a>(ids: impl IntoIterator<Item = &'a EventId>) -> Fingerprint {
    // Fed in blocks of 256 ids (8 KiB) so BLAKE3 hashes its chunks in parallel lanes.
    const BLOCK: usize = 256;
    let mut h = blake3::Hasher::new_derive_key(FINGERPRINT_CONTEXT);
    let mut block = [0u8; 32 * BLOCK];
    let (mut n, mut count) = (0usize, 0u64);
    for id in ids {
        block[n * 32..n * 32 + 32].copy_from_slice(&id.0);
        n += 1;
        count += 1;
        if n == BLOCK {
            h.update(&block);
            n = 0;
        }
    }
    h.update(&block[..n * 32]);
    h.update(&count.to_le_bytes());
    let mut out = [0u8; FINGERPRINT_BYTES];
    out.copy_from_slice(&h.finalize().as_bytes()[..FINGERPRINT_BYTES]);
    out
}

/// The prefix length a run's id list uses: [`ID_PREFIX_MIN`], or one more than the most
/// leading bytes two of its ids share, so its prefixes are distinct.
fn list_prefix_len(run: &[Key]) -> usize {
    let mut ids: Vec<&[u8; 32]> = run.iter().map(|k| &k.1 .0).collect();
    ids.sort_unstable();
    let shared = ids
        .windows(2)
        .map(|w| {
            w[0].iter()
                .zip(w[1].iter())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    (shared + 1).clamp(ID_PREFIX_MIN, 32)
}

/// The shortest bound that separates `prev` (below) from `next` (at or above). Its logical
/// part is zero when the wall clocks differ (one byte less on the wire).
fn separating_bound(prev: &Key, next: &Key) -> Bound {
    if prev.0.wall_ms != next.0.wall_ms {
        return Bound {
            hlc: Hlc {
                wall_ms: next.0.wall_ms,
                logical: 0,
            },
            prefix: Vec::new(),
        };
    }
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

/// A reply being built: skips merged as they come, its exact encoded size kept.
#[derive(Default)]
struct Reply {
    ranges: Vec<Range>,
    bytes: usize,
}

impl Reply {
    fn prev_wall(&self) -> u64 {
        self.ranges
            .last()
            .and_then(|r| r.upper.as_ref())
            .map_or(0, |b| b.hlc.wall_ms)
    }

    fn push(&mut self, upper: Option<Bound>, mode: Mode) {
        // A run of skips is one skip: its bound only matters where the next range begins.
        if mode == Mode::Skip && self.ranges.last().is_some_and(|r| r.mode == Mode::Skip) {
            let last = self.ranges.pop().expect("checked");
            self.bytes -= wire::range_len(self.prev_wall(), &last);
        }
        let range = Range { upper, mode };
        self.bytes += wire::range_len(self.prev_wall(), &range);
        self.ranges.push(range);
    }
}

/// One side of a reconciliation session, over a snapshot of this side's keys.
pub struct Reconciler {
    items: Vec<Key>,
    have: Vec<EventId>,
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
            rounds: 0,
        }
    }

    /// Ids this side holds that the peer lacks (found so far): to be sent to the peer.
    pub fn have(&self) -> &[EventId] {
        &self.have
    }

    /// Takes the ids found so far, so the caller can act on them between rounds.
    pub fn take_found(&mut self) -> Vec<EventId> {
        std::mem::take(&mut self.have)
    }

    /// The first message of the initiating side: one fingerprint of everything (equal sets
    /// then settle in a single message), or the id list of a small set.
    pub fn initiate(&self) -> Message {
        let mut reply = Reply::default();
        self.describe_whole(&self.items, None, &mut reply);
        Message {
            ranges: reply.ranges,
        }
    }

    /// Index of the first item at or above `bound` (the end for `None`).
    fn split_at(&self, bound: Option<&Bound>) -> usize {
        match bound {
            None => self.items.len(),
            Some(b) => self.items.partition_point(|k| b.above(k)),
        }
    }

    /// `run` as one range: its id list when small, else its fingerprint.
    fn describe_whole(&self, run: &[Key], upper: Option<Bound>, out: &mut Reply) {
        let mode = if run.len() <= ID_LIST_MAX {
            Mode::IdList(IdList::of(run.iter().map(|k| &k.1), list_prefix_len(run)))
        } else {
            Mode::Fingerprint(fingerprint(run))
        };
        out.push(upper, mode);
    }

    /// Describes `run` (the items below `upper`), which differs from the peer's: its id list
    /// when small, else fingerprinted buckets: [`BUCKETS`] of them, or, when the buckets
    /// would be lists next, buckets of about [`ID_LIST_MAX`] (fewer fingerprints).
    fn describe(&self, run: &[Key], upper: Option<Bound>, out: &mut Reply) {
        if run.len() <= ID_LIST_MAX {
            self.describe_whole(run, upper, out);
            return;
        }
        let buckets = if run.len() <= BUCKETS * ID_LIST_MAX {
            run.len().div_ceil(ID_LIST_MAX)
        } else {
            BUCKETS
        };
        let per = run.len().div_ceil(buckets);
        let mut start = 0;
        while start < run.len() {
            let end = (start + per).min(run.len());
            let bucket_upper = if end == run.len() {
                upper.clone()
            } else {
                Some(separating_bound(&run[end - 1], &run[end]))
            };
            out.push(
                bucket_upper,
                Mode::Fingerprint(fingerprint(&run[start..end])),
            );
            start = end;
        }
    }

    /// The answer to the peer's id list for a range where this side holds `ours`: the ids
    /// no prefix matches go to `have`; the reply says which listed ids this side lacks and
    /// fingerprints the ones it matched, for the peer to check.
    fn answer_list(&mut self, ours: &[Key], list: &IdList, upper: Option<Bound>, out: &mut Reply) {
        let n = list.len();
        if n == 0 {
            // The peer holds nothing here: nothing to ask for, nothing to check.
            self.have.extend(ours.iter().map(|k| k.1));
            out.push(upper, Mode::Skip);
            return;
        }
        let plen = usize::from(list.prefix_len);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&a, &b| list.get(a).cmp(list.get(b)));
        let mut matched = vec![false; n];
        let mut held: Vec<&EventId> = Vec::new();
        for k in ours {
            let prefix = &k.1 .0[..plen];
            let at = order.partition_point(|&i| list.get(i) < prefix);
            match order.get(at) {
                Some(&i) if list.get(i) == prefix && !matched[i] => {
                    matched[i] = true;
                    held.push(&k.1);
                }
                // No listed id begins so (or the one that does is taken by another of ours,
                // which the peer's check then sorts out): the peer lacks it.
                _ => self.have.push(k.1),
            }
        }
        let mut bits = vec![0u8; n.div_ceil(8)];
        for (i, m) in matched.iter().enumerate() {
            if !m {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        let want = Want {
            count: u32::try_from(n).expect("at most ID_LIST_MAX"),
            bits,
            held: fingerprint_ids(held),
        };
        out.push(upper, Mode::Want(want));
    }

    /// The peer's answer to this side's id list for a range where it holds `ours`.
    fn answer_want(
        &mut self,
        ours: &[Key],
        want: &Want,
        upper: Option<Bound>,
        out: &mut Reply,
    ) -> Result<(), ReconcileError> {
        if ours.len() > ID_LIST_MAX || want.count as usize != ours.len() {
            return Err(ReconcileError::Malformed(
                "an answer to an id list this side did not send",
            ));
        }
        let held = fingerprint_ids(
            ours.iter()
                .enumerate()
                .filter(|(i, _)| !want.wants(*i))
                .map(|(_, k)| &k.1),
        );
        if held == want.held {
            self.have.extend(
                ours.iter()
                    .enumerate()
                    .filter(|(i, _)| want.wants(*i))
                    .map(|(_, k)| k.1),
            );
            out.push(upper, Mode::Skip);
        } else {
            // A prefix matched another id than ours: list the range again with whole ids.
            out.push(
                upper,
                Mode::IdList(IdList::of(ours.iter().map(|k| &k.1), 32)),
            );
        }
        Ok(())
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
    /// complete (every range settled). `have` grows as ranges settle.
    pub fn reconcile(&mut self, msg: &Message) -> Result<Option<Message>, ReconcileError> {
        self.rounds += 1;
        if self.rounds > ROUNDS_MAX {
            return Err(ReconcileError::TooManyRounds);
        }
        check(msg)?;
        let mut out = Reply::default();
        let mut lower = 0usize;
        for range in &msg.ranges {
            if out.bytes > MESSAGE_BYTES_LIMIT {
                let rest = fingerprint(&self.items[lower..]);
                out.push(None, Mode::Fingerprint(rest));
                break;
            }
            let over_budget = out.bytes > MESSAGE_BYTES_BUDGET;
            let upper_index = self.split_at(range.upper.as_ref()).max(lower);
            let ours = lower..upper_index;
            lower = upper_index;
            let upper = range.upper.clone();
            match &range.mode {
                Mode::Skip => out.push(upper, Mode::Skip),
                Mode::Fingerprint(theirs) => {
                    let own = fingerprint(&self.items[ours.clone()]);
                    if *theirs == own {
                        out.push(upper, Mode::Skip);
                    } else if over_budget {
                        out.push(upper, Mode::Fingerprint(own));
                    } else {
                        self.describe(&self.items[ours], upper, &mut out);
                    }
                }
                Mode::IdList(list) => {
                    let run = std::mem::take(&mut self.items);
                    self.answer_list(&run[ours], list, upper, &mut out);
                    self.items = run;
                }
                Mode::Want(want) => {
                    let run = std::mem::take(&mut self.items);
                    let answered = self.answer_want(&run[ours], want, upper, &mut out);
                    self.items = run;
                    answered?;
                }
            }
        }
        if out.ranges.iter().all(|r| r.mode == Mode::Skip) {
            return Ok(None);
        }
        Ok(Some(Message { ranges: out.ranges }))
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
        prev = Some(b);
    }
    for r in &msg.ranges {
        match &r.mode {
            Mode::IdList(list) => {
                if !(1..=32).contains(&list.prefix_len)
                    || list.prefixes.len() % usize::from(list.prefix_len) != 0
                {
                    return Err(ReconcileError::Malformed("id list of uneven prefixes"));
                }
                if list.len() > ID_LIST_MAX {
                    return Err(ReconcileError::Malformed("id list longer than ID_LIST_MAX"));
                }
            }
            Mode::Want(want) => {
                if want.count as usize > ID_LIST_MAX {
                    return Err(ReconcileError::Malformed("want longer than ID_LIST_MAX"));
                }
                if want.bits.len() != (want.count as usize).div_ceil(8)
                    || (want.count % 8 != 0
                        && want.bits.last().is_some_and(|b| b >> (want.count % 8) != 0))
                {
                    return Err(ReconcileError::Malformed(
                        "want bits do not match its count",
                    ));
                }
            }
            Mode::Skip | Mode::Fingerprint(_) => {}
        }
    }
    Ok(())
}

impl Message {
    /// The message's bytes on the wire (PROTOCOL.md §7.2). Fails only for a message no
    /// [`Reconciler`] writes (a bound prefix over 63 bytes, bounds out of order, a list or
    /// want whose lengths do not agree).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ReconcileError> {
        wire::encode(self)
    }

    /// Reads a message from its bytes: the structure only (PROTOCOL.md §7.2); the rules of
    /// §7.5 are checked by the receiving [`Reconciler`]. Never allocates more than a small
    /// multiple of `bytes`, and at most [`RANGES_MAX`] ranges.
    pub fn from_bytes(bytes: &[u8]) -> Result<Message, ReconcileError> {
        wire::decode(bytes)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes().map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Message, D::Error> {
        let bytes: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        Message::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// The byte encoding of a message (PROTOCOL.md §7.2): per range a head byte (mode in the
/// low two bits, the bound's prefix length above), the bound's wall clock as a LEB128 delta
/// from the previous bound's (0 for the end of the key space), its logical counter only when
/// not zero, the prefix, then the mode's payload.
mod wire {
    use super::{
        Bound, IdList, Message, Mode, Range, ReconcileError, Want, FINGERPRINT_BYTES, RANGES_MAX,
    };
    use crate::hlc::Hlc;

    const SKIP: u8 = 0;
    const FINGERPRINT: u8 = 1;
    const ID_LIST: u8 = 2;
    const WANT: u8 = 3;
    /// Longest bound prefix the head byte can say.
    const PREFIX_MAX: usize = 63;

    fn bad(what: &'static str) -> ReconcileError {
        ReconcileError::Malformed(what)
    }

    pub(super) fn varint_len(v: u64) -> usize {
        (64 - v.leading_zeros() as usize).max(1).div_ceil(7)
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// The bound's time field: 0 for none, else 1 + 2 × wall delta + whether a logical part
    /// follows.
    fn time_of(prev_wall: u64, upper: Option<&Bound>) -> Option<u64> {
        let Some(b) = upper else { return Some(0) };
        let delta = b.hlc.wall_ms.checked_sub(prev_wall)?;
        delta
            .checked_mul(2)?
            .checked_add(1 + u64::from(b.hlc.logical != 0))
    }

    fn payload_len(mode: &Mode) -> usize {
        match mode {
            Mode::Skip => 0,
            Mode::Fingerprint(_) => FINGERPRINT_BYTES,
            Mode::IdList(l) => 1 + varint_len(l.len() as u64) + l.prefixes.len(),
            Mode::Want(w) => varint_len(u64::from(w.count)) + w.bits.len() + FINGERPRINT_BYTES,
        }
    }

    /// Encoded bytes of `r` after a bound whose wall clock was `prev_wall` (an estimate of
    /// 10 bytes for a time field that cannot be encoded).
    pub(super) fn range_len(prev_wall: u64, r: &Range) -> usize {
        let time = time_of(prev_wall, r.upper.as_ref()).map_or(10, varint_len);
        let bound = r.upper.as_ref().map_or(0, |b| {
            b.prefix.len()
                + match b.hlc.logical {
                    0 => 0,
                    l => varint_len(u64::from(l)),
                }
        });
        1 + time + bound + payload_len(&r.mode)
    }

    pub(super) fn encode(msg: &Message) -> Result<Vec<u8>, ReconcileError> {
        let mut out = Vec::new();
        let mut prev_wall = 0u64;
        for r in &msg.ranges {
            let plen = r.upper.as_ref().map_or(0, |b| b.prefix.len());
            if plen > PREFIX_MAX {
                return Err(bad("bound prefix longer than 63 bytes"));
            }
            let tag = match &r.mode {
                Mode::Skip => SKIP,
                Mode::Fingerprint(_) => FINGERPRINT,
                Mode::IdList(_) => ID_LIST,
                Mode::Want(_) => WANT,
            };
            out.push(tag | (plen as u8) << 2);
            let time = time_of(prev_wall, r.upper.as_ref()).ok_or(bad("bounds out of order"))?;
            put_varint(&mut out, time);
            if let Some(b) = &r.upper {
                if b.hlc.logical != 0 {
                    put_varint(&mut out, u64::from(b.hlc.logical));
                }
                out.extend_from_slice(&b.prefix);
                prev_wall = b.hlc.wall_ms;
            }
            match &r.mode {
                Mode::Skip => {}
                Mode::Fingerprint(f) => out.extend_from_slice(f),
                Mode::IdList(l) => {
                    if !(1..=32).contains(&l.prefix_len)
                        || l.prefixes.len() % usize::from(l.prefix_len) != 0
                    {
                        return Err(bad("id list of uneven prefixes"));
                    }
                    out.push(l.prefix_len);
                    put_varint(&mut out, l.len() as u64);
                    out.extend_from_slice(&l.prefixes);
                }
                Mode::Want(w) => {
                    if w.bits.len() != (w.count as usize).div_ceil(8) {
                        return Err(bad("want bits do not match its count"));
                    }
                    put_varint(&mut out, u64::from(w.count));
                    out.extend_from_slice(&w.bits);
                    out.extend_from_slice(&w.held);
                }
            }
        }
        Ok(out)
    }

    struct Reader<'a> {
        bytes: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], ReconcileError> {
            if n > self.bytes.len() {
                return Err(bad("cut short"));
            }
            let (head, rest) = self.bytes.split_at(n);
            self.bytes = rest;
            Ok(head)
        }

        fn byte(&mut self) -> Result<u8, ReconcileError> {
            Ok(self.take(1)?[0])
        }

        /// LEB128, at most 10 bytes, in its shortest form, fitting 64 bits.
        fn varint(&mut self) -> Result<u64, ReconcileError> {
            let mut v = 0u64;
            for i in 0..10 {
                let b = self.byte()?;
                let low = u64::from(b & 0x7f);
                if i == 9 && low > 1 {
                    return Err(bad("varint over 64 bits"));
                }
                v |= low << (7 * i);
                if b & 0x80 == 0 {
                    if b == 0 && i > 0 {
                        return Err(bad("varint not in its shortest form"));
                    }
                    return Ok(v);
                }
            }
            Err(bad("varint over 64 bits"))
        }

        fn fingerprint(&mut self) -> Result<[u8; FINGERPRINT_BYTES], ReconcileError> {
            Ok(self
                .take(FINGERPRINT_BYTES)?
                .try_into()
                .expect("took FINGERPRINT_BYTES"))
        }
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Message, ReconcileError> {
        let mut r = Reader { bytes };
        let mut ranges = Vec::new();
        let mut prev_wall = 0u64;
        while !r.bytes.is_empty() {
            if ranges.len() == RANGES_MAX {
                return Err(bad("too many ranges"));
            }
            let head = r.byte()?;
            let plen = usize::from(head >> 2);
            let time = r.varint()?;
            let upper = if time == 0 {
                if plen != 0 {
                    return Err(bad("the end of the key space has no prefix"));
                }
                None
            } else {
                let t = time - 1;
                let wall_ms = prev_wall
                    .checked_add(t >> 1)
                    .ok_or(bad("bound beyond the clock"))?;
                let logical = if t & 1 == 1 {
                    let l = r.varint()?;
                    if l == 0 {
                        return Err(bad("a logical part of zero written out"));
                    }
                    u32::try_from(l).map_err(|_| bad("logical part over 32 bits"))?
                } else {
                    0
                };
                prev_wall = wall_ms;
                Some(Bound {
                    hlc: Hlc { wall_ms, logical },
                    prefix: r.take(plen)?.to_vec(),
                })
            };
            let mode = match head & 3 {
                SKIP => Mode::Skip,
                FINGERPRINT => Mode::Fingerprint(r.fingerprint()?),
                ID_LIST => {
                    let prefix_len = r.byte()?;
                    if !(1..=32).contains(&prefix_len) {
                        return Err(bad("id prefix length not 1 to 32"));
                    }
                    let count = r.varint()?;
                    let len = usize::try_from(count)
                        .ok()
                        .and_then(|c| c.checked_mul(usize::from(prefix_len)))
                        .ok_or(bad("cut short"))?;
                    IdList {
                        prefix_len,
                        prefixes: r.take(len)?.to_vec(),
                    }
                    .into()
                }
                _ => {
                    let count = r.varint()?;
                    let count = u32::try_from(count).map_err(|_| bad("cut short"))?;
                    let bits = r.take((count as usize).div_ceil(8))?.to_vec();
                    Mode::Want(Want {
                        count,
                        bits,
                        held: r.fingerprint()?,
                    })
                }
            };
            ranges.push(Range { upper, mode });
        }
        Ok(Message { ranges })
    }

    impl From<IdList> for Mode {
        fn from(l: IdList) -> Mode {
            Mode::IdList(l)
        }
    }
}
