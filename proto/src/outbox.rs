//! What one connection will send, as event ids: the pure part of the outbox (PROTOCOL.md
//! 7.8, 7.9).
//!
//! Two queues, urgent before bulk; an id already queued and not yet taken is not queued
//! again (a later session that finds the same events still on their way adds nothing); and
//! batches bounded by count and estimated bytes. The caller loads each event's bytes (the
//! daemon from its store, a simulator from memory), so a catch-up of a million events holds
//! a million ids here but never more than one batch of events.

use std::collections::{HashSet, VecDeque};

use crate::event::{EventId, SignedEvent};
use crate::limits::{FRAME_BYTES_MAX, FRAME_EVENTS_MAX};

/// Most events in one batch (one `Events` frame).
pub const SEND_BATCH_EVENTS: usize = 256;
/// A batch is closed once its estimated size reaches this (frames stay under 1 MiB).
pub const SEND_BATCH_BYTES: usize = 512 * 1024;
/// What one event adds to a batch's estimate beyond its signed bytes: its signature and
/// encoding overhead, generously.
pub const SEND_EVENT_OVERHEAD_BYTES: usize = 80;

const _: () = assert!(SEND_BATCH_EVENTS <= FRAME_EVENTS_MAX);
const _: () = assert!(
    SEND_BATCH_BYTES + crate::limits::EVENT_BYTES_MAX + SEND_EVENT_OVERHEAD_BYTES + 1024
        <= FRAME_BYTES_MAX,
    "a batch closed at the bound, plus the event that reached it, fits a frame"
);

/// The ids waiting to be sent to one peer.
#[derive(Debug, Default)]
pub struct SendQueue {
    urgent: VecDeque<EventId>,
    bulk: VecDeque<EventId>,
    /// Ids in either queue.
    queued: HashSet<EventId>,
}

impl SendQueue {
    /// An empty queue.
    pub fn new() -> Self {
        SendQueue::default()
    }

    /// Queues `ids` on the urgent or the bulk queue, each id at most once however often it
    /// is queued while it waits (in either queue). Returns how many were new.
    pub fn queue(&mut self, ids: impl IntoIterator<Item = EventId>, urgent: bool) -> usize {
        let queue = if urgent {
            &mut self.urgent
        } else {
            &mut self.bulk
        };
        let before = queue.len();
        let queued = &mut self.queued;
        queue.extend(ids.into_iter().filter(|id| queued.insert(*id)));
        debug_assert_eq!(self.queued.len(), self.urgent.len() + self.bulk.len());
        if urgent {
            self.urgent.len() - before
        } else {
            self.bulk.len() - before
        }
    }

    /// Ids waiting.
    pub fn len(&self) -> usize {
        self.urgent.len() + self.bulk.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` waits.
    pub fn contains(&self, id: &EventId) -> bool {
        self.queued.contains(id)
    }

    /// Takes the next id, urgent before bulk. Once taken it may be queued again.
    pub fn pop(&mut self) -> Option<EventId> {
        let id = match self.urgent.pop_front() {
            Some(id) => id,
            None => self.bulk.pop_front()?,
        };
        self.queued.remove(&id);
        Some(id)
    }

    /// The next batch: ids taken urgent first, each loaded with `load` (an id it does not
    /// find is skipped), until the batch is full or the queue empty. An error of `load`
    /// ends the batch; the id it failed on is not queued again.
    pub fn next_batch<E>(
        &mut self,
        mut load: impl FnMut(&EventId) -> Result<Option<SignedEvent>, E>,
    ) -> Result<Vec<SignedEvent>, E> {
        let mut batch = Batch::new();
        while !batch.is_full() {
            let Some(id) = self.pop() else {
                break;
            };
            if let Some(se) = load(&id)? {
                batch.push(se);
            }
        }
        Ok(batch.into_events())
    }
}

/// One batch being filled: closed at [`SEND_BATCH_EVENTS`] events or once its estimate
/// reaches [`SEND_BATCH_BYTES`] (the event that reaches it is included).
#[derive(Debug, Default)]
pub struct Batch {
    events: Vec<SignedEvent>,
    bytes: usize,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Whether no more events may be added.
    pub fn is_full(&self) -> bool {
        self.events.len() >= SEND_BATCH_EVENTS || self.bytes >= SEND_BATCH_BYTES
    }

    /// Adds an event (call only while not full).
    pub fn push(&mut self, event: SignedEvent) {
        debug_assert!(!self.is_full());
        self.bytes += event.bytes.len() + SEND_EVENT_OVERHEAD_BYTES;
        self.events.push(event);
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The batch's estimated size in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// The events, in the order taken.
    pub fn into_events(self) -> Vec<SignedEvent> {
        self.events
    }
}
