//! Replication: how events move between nodes.
//!
//! - **Ingest** is `node::ingest`: every way in verifies, authorizes and stores there, and
//!   only then is what was stored queued here (push).
//! - **Outbox**: what a connection will send, as event ids in two queues, urgent first; the
//!   connection's writer loads them from the store in bounded batches, so a catch-up of a
//!   million events never holds more than one batch in memory.
//! - **Sessions**: range-based reconciliation (`reservnod_proto::reconcile`), started by the
//!   dialler on connect and periodically, first over the urgent events, then over all; the
//!   rules are `reservnod_proto::link`'s, driven by `mesh::conn`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use reservnod_proto::frame::Frame;
use reservnod_proto::outbox::{Batch, SendQueue};
use reservnod_proto::{EventId, Hlc, NodeId, SignedEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use crate::limits::{CONTROL_QUEUE_MAX, REFUSED_REMEMBERED_MAX};
use crate::store::{Store, StoreError};

/// Events peers offered that this node refused under its current roster, remembered per
/// peer so that reconciliation with that peer counts them as held: the peer is not asked
/// for them and does not send them again every round. Bounded ([`REFUSED_REMEMBERED_MAX`],
/// oldest forgotten first: a forgotten refusal costs one more transfer, nothing else) and in
/// memory only; forgotten whenever the roster changes, since a newer roster may admit them.
#[derive(Default)]
pub struct Refusals {
    inner: Mutex<RefusalsInner>,
}

#[derive(Default)]
struct RefusalsInner {
    /// The roster version the refusals were made under.
    roster: u64,
    by_peer: HashMap<NodeId, HashMap<EventId, (Hlc, bool)>>,
    order: VecDeque<(NodeId, EventId)>,
}

impl Refusals {
    /// Refusals made under roster `version` (nothing is remembered yet).
    pub fn new(version: u64) -> Self {
        let refusals = Refusals::default();
        lock(&refusals.inner).roster = version;
        refusals
    }

    /// Remembers what `peer` offered and this node refused under roster `version` (ignored
    /// if the roster has changed since).
    pub fn record(&self, peer: NodeId, version: u64, refused: &[(Hlc, EventId, bool)]) {
        if refused.is_empty() {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.roster != version {
            return;
        }
        for &(hlc, id, urgent) in refused {
            if inner
                .by_peer
                .entry(peer)
                .or_default()
                .insert(id, (hlc, urgent))
                .is_none()
            {
                inner.order.push_back((peer, id));
            }
            while inner.order.len() > REFUSED_REMEMBERED_MAX {
                let Some((p, old)) = inner.order.pop_front() else {
                    break;
                };
                if let Some(m) = inner.by_peer.get_mut(&p) {
                    m.remove(&old);
                    if m.is_empty() {
                        inner.by_peer.remove(&p);
                    }
                }
            }
        }
    }

    /// Forgets every refusal: roster `version` is now in force.
    pub fn roster_changed(&self, version: u64) {
        let mut inner = lock(&self.inner);
        inner.roster = version;
        inner.by_peer.clear();
        inner.order.clear();
    }

    /// How many refusals are remembered.
    pub fn len(&self) -> usize {
        lock(&self.inner).order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `keys` (this node's sorted reconciliation keys of a scope) with the events refused
    /// from `peer` added, sorted and unique: what to reconcile with that peer.
    pub fn add_to(
        &self,
        peer: &NodeId,
        urgent_only: bool,
        mut keys: Vec<(Hlc, EventId)>,
    ) -> Vec<(Hlc, EventId)> {
        let inner = lock(&self.inner);
        let Some(refused) = inner.by_peer.get(peer) else {
            return keys;
        };
        let before = keys.len();
        keys.extend(
            refused
                .iter()
                .filter(|(_, (_, urgent))| *urgent || !urgent_only)
                .map(|(id, (hlc, _))| (*hlc, *id)),
        );
        drop(inner);
        if keys.len() > before {
            keys.sort_unstable();
            keys.dedup();
        }
        keys
    }
}

/// Replication figures for `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStats {
    /// Events received from peers.
    pub received: u64,
    /// Events newly stored, whatever their origin: received, written here, or written by
    /// this node in answer (receipts).
    pub stored: u64,
    /// Of those, already present.
    pub duplicates: u64,
    /// Of those, refused (forged, tampered, unknown or revoked author).
    pub refused: u64,
    /// Refused events remembered so that reconciliation does not fetch them again.
    #[serde(default)]
    pub refusals_remembered: u64,
    /// Events sent to peers.
    pub sent: u64,
    /// Events peers have announced or we asked for and that have not arrived yet.
    pub to_go: u64,
    /// Events stored per second, over the last few seconds.
    pub rate_per_s: f64,
    /// Events queued to be sent to peers.
    pub queued_to_send: u64,
}

/// Shared counters behind [`SyncStats`].
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub(crate) received: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) to_go: AtomicU64,
}

impl SyncCounters {
    /// Adds events announced or asked for, without overflowing (a peer's counts are untrusted).
    pub(crate) fn expect(&self, n: u64) {
        let _ = self
            .to_go
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(n))
            });
    }

    /// Subtracts without going below zero.
    pub(crate) fn arrived(&self, n: u64) {
        let _ = self
            .to_go
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

/// What one connection will send: control frames, then urgent events, then the bulk. The
/// queues of ids are `reservnod_proto::outbox`'s (shared with the simulator); this adds the
/// control channel to the writer, the lock for pushes from other connections, and the store
/// reads for a batch.
pub struct Outbox {
    control: mpsc::Sender<Frame>,
    queue: Mutex<SendQueue>,
    pub(crate) notify: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbox {
    /// A new outbox and the receiver of its control frames (for the writer).
    pub fn new() -> (std::sync::Arc<Outbox>, mpsc::Receiver<Frame>) {
        let (control, rx) = mpsc::channel(CONTROL_QUEUE_MAX);
        let outbox = Outbox {
            control,
            queue: Mutex::new(SendQueue::new()),
            notify: Notify::new(),
        };
        (std::sync::Arc::new(outbox), rx)
    }

    /// Queues a control frame; false if the queue is full (the peer is not reading).
    pub fn control(&self, frame: Frame) -> bool {
        self.control.try_send(frame).is_ok()
    }

    /// Queues events to send, by id; ids already queued are not queued twice.
    pub fn queue(&self, ids: impl IntoIterator<Item = EventId>, urgent: bool) {
        lock(&self.queue).queue(ids, urgent);
        self.notify.notify_one();
    }

    /// Events waiting to be sent.
    pub fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    /// The next batch to send: urgent ids first, loaded from the store, bounded in count and
    /// bytes. Blocking (store reads), with the queue locked only to take each id.
    pub fn next_batch(&self, store: &Store) -> Result<Vec<SignedEvent>, StoreError> {
        let mut batch = Batch::new();
        while !batch.is_full() {
            let Some(id) = lock(&self.queue).pop() else {
                break;
            };
            if let Some(se) = store.get(&id)? {
                batch.push(se);
            }
        }
        Ok(batch.into_events())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::limits::SEND_BATCH_EVENTS;
    use reservnod_proto::testkit::{region, SeededRng};
    use reservnod_proto::{Hlc, Priority};

    #[test]
    fn refusals_are_bounded_per_roster_and_added_to_the_peers_keys_only() {
        let peer = reservnod_proto::NodeKey::generate(&mut SeededRng::new("refused-peer")).id();
        let other = reservnod_proto::NodeKey::generate(&mut SeededRng::new("refused-other")).id();
        let key = |i: u64| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            (
                Hlc {
                    wall_ms: i,
                    logical: 0,
                },
                EventId(id),
                i.is_multiple_of(2),
            )
        };
        let refusals = Refusals::new(1);
        // Made under an older roster: not remembered.
        refusals.record(peer, 0, &[key(1)]);
        assert!(refusals.is_empty());
        let many: Vec<_> = (0..REFUSED_REMEMBERED_MAX as u64 + 100).map(key).collect();
        refusals.record(peer, 1, &many);
        assert_eq!(refusals.len(), REFUSED_REMEMBERED_MAX, "bounded");
        let own = vec![(key(200).0, key(200).1)];
        let all = refusals.add_to(&peer, false, own.clone());
        assert_eq!(
            all.len(),
            REFUSED_REMEMBERED_MAX,
            "key 200 once, the oldest 100 forgotten"
        );
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(all.iter().all(|(h, _)| h.wall_ms >= 100));
        let urgent = refusals.add_to(&peer, true, Vec::new());
        assert!(urgent.iter().all(|(h, _)| h.wall_ms.is_multiple_of(2)));
        assert_eq!(
            refusals.add_to(&other, false, own.clone()),
            own,
            "only for that peer"
        );
        refusals.roster_changed(2);
        assert!(refusals.is_empty());
        assert_eq!(refusals.add_to(&peer, false, own.clone()), own);
    }

    #[test]
    fn urgent_events_leave_before_the_bulk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let r = region("outbox");
        let mut rng = SeededRng::new("outbox");
        let mut ids = Vec::new();
        for i in 0..(SEND_BATCH_EVENTS as u64 + 10) {
            let mut e = r.clinical(
                &mut rng,
                b"x",
                Hlc {
                    wall_ms: i,
                    logical: 0,
                },
            );
            e.priority = if i % 50 == 7 {
                Priority::Urgent
            } else {
                Priority::Normal
            };
            let v = e.sign(&r.ward.1).expect("sign").verify().expect("verify");
            ids.push((v.id(), v.event().priority));
            store.insert(&[v]).expect("insert");
        }
        let (outbox, _control) = Outbox::new();
        // Queuing the same ids again (a later session finding them still on their way) adds nothing.
        outbox.queue(ids.iter().take(3).map(|(id, _)| *id), false);
        outbox.queue(ids.iter().take(3).map(|(id, _)| *id), false);
        assert_eq!(outbox.queued(), 3);
        while !outbox.next_batch(&store).expect("batch").is_empty() {}
        // Bulk queued first, urgent later: urgent still leaves first.
        outbox.queue(
            ids.iter()
                .filter(|(_, p)| *p == Priority::Normal)
                .map(|(id, _)| *id),
            false,
        );
        outbox.queue(
            ids.iter()
                .filter(|(_, p)| *p == Priority::Urgent)
                .map(|(id, _)| *id),
            true,
        );
        let first = outbox.next_batch(&store).expect("batch");
        let urgent: Vec<EventId> = ids
            .iter()
            .filter(|(_, p)| *p == Priority::Urgent)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(first.len(), SEND_BATCH_EVENTS);
        assert_eq!(
            first[..urgent.len()]
                .iter()
                .map(SignedEvent::id)
                .collect::<Vec<_>>(),
            urgent
        );
        let second = outbox.next_batch(&store).expect("batch");
        assert_eq!(first.len() + second.len(), ids.len());
        assert!(outbox.next_batch(&store).expect("batch").is_empty());
    }
}
