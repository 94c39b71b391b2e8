//! The outbox's queues against a model: urgent before bulk, first in first out within each,
//! an id waits at most once, everything queued leaves exactly once, and batches stay within
//! their bounds in count and bytes.

use std::collections::{HashMap, HashSet, VecDeque};

use proptest::prelude::*;
use reservnod_proto::outbox::{
    SendQueue, SEND_BATCH_BYTES, SEND_BATCH_EVENTS, SEND_EVENT_OVERHEAD_BYTES,
};
use reservnod_proto::{EventId, SignedEvent};

fn id(n: u16) -> EventId {
    let mut b = [0u8; 32];
    b[..2].copy_from_slice(&n.to_le_bytes());
    EventId(b)
}

#[derive(Debug, Clone)]
enum Op {
    Queue(Vec<u16>, bool),
    Pop,
    Batch,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (prop::collection::vec(0u16..400, 0..80), any::<bool>()).prop_map(|(ids, u)| Op::Queue(ids, u)),
            2 => Just(Op::Pop),
            1 => Just(Op::Batch),
        ],
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_queue_behaves_as_its_model(ops in ops(), missing in prop::collection::hash_set(0u16..400, 0..40), sizes in prop::collection::vec(0usize..6_000, 400)) {
        let mut q = SendQueue::new();
        let (mut urgent, mut bulk): (VecDeque<EventId>, VecDeque<EventId>) = Default::default();
        let missing: HashSet<EventId> = missing.into_iter().map(id).collect();
        let store: HashMap<EventId, SignedEvent> = (0..400u16)
            .map(id)
            .filter(|i| !missing.contains(i))
            .map(|i| {
                let n = u16::from_le_bytes([i.0[0], i.0[1]]) as usize;
                let mut bytes = i.0.to_vec();
                bytes.resize(32 + sizes[n], 0);
                (i, SignedEvent { bytes, sig: [0; 64] })
            })
            .collect();
        let take = |urgent: &mut VecDeque<EventId>, bulk: &mut VecDeque<EventId>| urgent.pop_front().or_else(|| bulk.pop_front());
        for op in ops {
            match op {
                Op::Queue(ids, is_urgent) => {
                    let ids: Vec<EventId> = ids.into_iter().map(id).collect();
                    let mut new = 0;
                    for i in &ids {
                        // An id already waiting (in either queue, or earlier in this call) is
                        // not queued again.
                        if !urgent.contains(i) && !bulk.contains(i) {
                            if is_urgent { urgent.push_back(*i) } else { bulk.push_back(*i) }
                            new += 1;
                        }
                    }
                    prop_assert_eq!(q.queue(ids, is_urgent), new);
                }
                Op::Pop => prop_assert_eq!(q.pop(), take(&mut urgent, &mut bulk)),
                Op::Batch => {
                    let batch = q
                        .next_batch(|i| Ok::<_, ()>(store.get(i).cloned()))
                        .expect("memory never fails");
                    let mut expected = Vec::new();
                    let mut bytes = 0;
                    while expected.len() < SEND_BATCH_EVENTS && bytes < SEND_BATCH_BYTES {
                        let Some(i) = take(&mut urgent, &mut bulk) else { break };
                        if let Some(se) = store.get(&i) {
                            bytes += se.bytes.len() + SEND_EVENT_OVERHEAD_BYTES;
                            expected.push(i);
                        }
                    }
                    // Each loaded event carries the id it was loaded for in its first bytes.
                    let loaded: Vec<EventId> = batch.iter().map(|e| EventId(e.bytes[..32].try_into().expect("32"))).collect();
                    prop_assert_eq!(loaded, expected);
                    prop_assert!(batch.len() <= SEND_BATCH_EVENTS);
                    let est: usize = batch.iter().map(|e| e.bytes.len() + SEND_EVENT_OVERHEAD_BYTES).sum();
                    let last = batch.last().map_or(0, |e| e.bytes.len() + SEND_EVENT_OVERHEAD_BYTES);
                    prop_assert!(est < SEND_BATCH_BYTES + last, "closed at the byte bound");
                }
            }
            prop_assert_eq!(q.len(), urgent.len() + bulk.len());
            for i in urgent.iter().chain(&bulk) {
                prop_assert!(q.contains(i));
            }
        }
    }
}

#[test]
fn the_same_ids_queued_twice_wait_once_and_urgent_overtakes_bulk() {
    let mut q = SendQueue::new();
    assert_eq!(q.queue((0..3).map(id), false), 3);
    assert_eq!(q.queue((0..3).map(id), false), 0);
    assert_eq!(q.queue((0..3).map(id), true), 0, "already waiting in bulk");
    assert_eq!(q.queue([id(9)], true), 1);
    assert_eq!(q.pop(), Some(id(9)));
    assert_eq!(q.pop(), Some(id(0)));
    // Once taken, an id may be queued again (it may have been lost on the way).
    assert_eq!(q.queue([id(0)], false), 1);
    assert_eq!(q.len(), 3);
}
