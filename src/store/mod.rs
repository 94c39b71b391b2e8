//! The event store: signed events, their indices, and the append-only audit log.
//!
//! This module is the only one that knows sled (pinned `=0.34.7`); the rest of the daemon
//! sees [`Store`]. Events and all their index entries live in one sled tree and are written
//! with one atomic batch, so a crash leaves an event either fully present or absent. Nothing
//! is reported saved until sled's flush has returned: [`Store::insert`] flushes before it
//! returns, and callers batch events for throughput rather than skip the flush.
//!
//! Keys in the `events` tree (all big-endian, so byte order is the logical order):
//! - `E` id → the encoded [`SignedEvent`]
//! - `H` hlc id → empty (the (hlc, id) order used for reconciliation ranges)
//! - `R` len unit hlc id → empty (events addressed to a unit; `len` is the unit id's length)
//! - `D` doc hlc id → empty (versions of a document)
//! - `U` hlc id → empty (urgent events: reconciled and sent before the bulk)
//! - `K` target receipt → empty (receipts, by the event they acknowledge)
//! - `C` class → event count of that class (u64)
//! - `S` arrival_ms id → empty (when the event was stored here, this node's clock: what an
//!   incremental bundle export follows, since an author's timestamp says nothing about when
//!   an event reached this node)
//! - `P` id → a [`Purged`] tombstone: the event's body was removed under a purge decision
//!   ([`Store::purge_body`]); its `E`, `R`, `D` and `A` entries are gone, its `H` and `U`
//!   keys stay so reconciliation counts it as held, and it is never stored again
//!
//! The access log is in `audit-chain` (see [`audit`] and PROTOCOL.md §12), all big-endian:
//! - `E` seq → a chain record (the entry's bytes, the hash before it, its own hash)
//! - `H` → the chain's head: the last seq and its hash, written in the batch of each record
//! - `P` len patient at_ms seq, `L` len(2) login at_ms seq, `T` at_ms seq → empty: the
//!   reviewer's indices by patient, by login (lower case) and by time
//!
//! Other trees: `audit` (sequence → entry: the unchained log of stores from before the
//! chain, kept as it was and read, never written), `local` (escalation bookkeeping and the store's
//! own migration marks), `quarantine` (id → why and the raw bytes of a stored event that
//! no longer reads or verifies, taken out of `events` so the node goes on without it).

use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reservnod_proto::codec;
use reservnod_proto::event::{EventClass, EventId, SignedEvent, VerifiedEvent};
use reservnod_proto::hlc::HLC_KEY_BYTES;
use reservnod_proto::limits::EVENT_BYTES_MAX;
use reservnod_proto::retention::PURGE_REFERENCE_BYTES_MAX;
use reservnod_proto::{DocId, Hlc, HsaId, PatientId};
use serde::{Deserialize, Serialize};

mod audit;
pub use audit::{
    link_hash, AuditAction, AuditEntry, BreakKind, ChainBreak, ChainReport, LINK_CONTEXT,
    PREFIX_CONTEXT,
};
use audit::{ChainRecord, Head, PrefixHasher};

/// What is kept of an event whose body was purged: the id (the key), what orders it, and
/// under which decision. The id is the hash of the whole signed event, body included, so
/// it cannot be recomputed from a header: the tombstone is what keeps it known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    /// Its hybrid time.
    pub hlc: Hlc,
    /// Its class (always `Clinical`).
    pub class: EventClass,
    /// The purge decision's reference (gallringsbeslut).
    pub reference: String,
    /// When it was purged here (this node's clock).
    pub at_ms: u64,
    /// The author's unit (header, no patient data): whose view lists it as purged.
    pub unit: HsaId,
    /// The author node (header).
    pub node: reservnod_proto::NodeId,
    /// The units it was addressed to (header).
    pub recipients: Vec<HsaId>,
    /// Its priority (header).
    pub priority: reservnod_proto::Priority,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another open in this one) holds the data directory.
    #[error("the data directory {dir} is in use by another reservnod process (lock file {lock})")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A file-system error outside sled.
    #[error("{what} {path}: {cause}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error (said in the message, so not also a source).
        cause: std::io::Error,
    },
    /// sled reported an error.
    #[error("database error: {0}")]
    Backend(sled::Error),
    /// A stored value does not decode: the store is damaged.
    #[error("damaged store entry ({0})")]
    Corrupt(String),
    /// Only clinical bodies are ever purged.
    #[error("a {0} event is never purged")]
    NotPurgeable(&'static str),
}

// By hand, not `#[from]`: the message already says the cause, so it is not also a source.
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e)
    }
}

/// What an insert did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InsertReport {
    /// Ids stored by this call (durable when the call returned).
    pub new: Vec<EventId>,
    /// Events already present (including repeats within the call).
    pub duplicates: usize,
}

/// A stored receipt with what its signed header says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptSigned {
    /// The node that wrote it.
    pub node: reservnod_proto::NodeId,
    /// The login its header names, if any.
    pub login: Option<String>,
    /// The receipt.
    pub receipt: reservnod_proto::care::receipts::Receipt,
}

/// Figures about the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Events held.
    pub events: u64,
    /// Events per class, in [`EventClass::ALL`] order.
    pub by_class: Vec<(String, u64)>,
    /// Audit log entries.
    pub audit_entries: u64,
    /// Bytes sled uses on disk.
    pub disk_bytes: u64,
    /// Oldest and newest event timestamps.
    pub oldest: Option<Hlc>,
    /// Newest event timestamp.
    pub newest: Option<Hlc>,
    /// Stored events taken out of use because they no longer read or verify.
    #[serde(default)]
    pub quarantined: u64,
}

/// An unread event escalated for one recipient unit by this node: the bookkeeping of its
/// command (the unit-wide mark is the `Escalated` receipt, which replicates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationMark {
    /// The unread event.
    pub event: EventId,
    /// The recipient unit that has not read it.
    pub unit: HsaId,
    /// When it was escalated.
    pub at_ms: u64,
    /// Whether the configured command has run for it.
    pub hook_done: bool,
}

const PREFIX_ESCALATION: u8 = b'X';
/// In `local`: when this node started escalating (see [`Store::escalation_floor`]).
const ESCALATION_FLOOR: &[u8] = b"Fescalation-floor";

fn escalation_key(event: &EventId, unit: &HsaId) -> Vec<u8> {
    let mut k = vec![PREFIX_ESCALATION];
    k.extend_from_slice(&event.0);
    k.extend_from_slice(unit.as_str().as_bytes());
    k
}

/// Bytes of a stored event value beyond the event itself (length prefixes, signature).
const STORED_EVENT_OVERHEAD_MAX: usize = 128;

const PREFIX_EVENT: u8 = b'E';
const PREFIX_HLC: u8 = b'H';
const PREFIX_RECIPIENT: u8 = b'R';
const PREFIX_DOC: u8 = b'D';
const PREFIX_CLASS_COUNT: u8 = b'C';
const PREFIX_URGENT: u8 = b'U';
const PREFIX_RECEIPT: u8 = b'K';
const PREFIX_AUTHOR_UNIT: u8 = b'A';
const PREFIX_ARRIVAL: u8 = b'S';
const PREFIX_PURGED: u8 = b'P';
/// Set in `local` once every event has an arrival entry (stores made before the arrival
/// index get one at their first open, dated then).
const ARRIVAL_INDEX_MARK: &[u8] = b"Marrival-index-v1";

fn arrival_key(arrival_ms: u64, id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(PREFIX_ARRIVAL);
    k.extend_from_slice(&arrival_ms.to_be_bytes());
    k.extend_from_slice(&id.0);
    k
}

/// What [`Store::clinical_after`] gives: the clinical events found, and where to go on.
pub type ClinicalStep = (
    Vec<(EventId, reservnod_proto::Event)>,
    Option<(Hlc, EventId)>,
);

/// A stored event taken out of use: why, and its bytes as they were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Why it was taken out.
    pub reason: String,
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// The stored value as found.
    pub bytes: Vec<u8>,
}

/// What [`Store::snapshot`] hands each entry to: (tree, key, value).
pub type SnapshotSink<'a> = dyn FnMut(&str, &[u8], &[u8]) -> std::io::Result<()> + 'a;

/// The sled-backed store of one node. Holds the data directory's lock while open.
pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    /// The unchained log of a store from before the chain (read only).
    audit: sled::Tree,
    /// The chained access log and its indices.
    audit_chain: sled::Tree,
    /// This node's own bookkeeping, never replicated (escalation marks).
    local: sled::Tree,
    /// Stored events that no longer read or verify, kept as found.
    quarantine: sled::Tree,
    /// Serialises writers so the duplicate check and the batch see the same state.
    write_lock: Mutex<()>,
    /// Whether any body was ever purged here: until one is, the tombstone lookup is
    /// skipped on every store and `contains` (one sled read less per new event).
    any_purged: std::sync::atomic::AtomicBool,
    _lock_file: File,
}

/// The lock of a store whose database is not open yet: its files are the last closed
/// state and may be copied (the daemon and every command open the store only through this).
pub struct StoreLock {
    dir: PathBuf,
    file: File,
}

impl StoreLock {
    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the database under this lock.
    pub fn open(self) -> Result<Store, StoreError> {
        // Every option spelled out rather than trusting defaults. sled also flushes on its
        // own every 500 ms, but acknowledgement never relies on that: see `insert`.
        let config = sled::Config::new()
            .path(self.dir.join("db"))
            .cache_capacity(128 * 1024 * 1024)
            .flush_every_ms(Some(500))
            .mode(sled::Mode::HighThroughput);
        let db = open_sled(&config)?;
        let events = db.open_tree("events")?;
        let audit = db.open_tree("audit")?;
        let audit_chain = db.open_tree("audit-chain")?;
        let local = db.open_tree("local")?;
        let quarantine = db.open_tree("quarantine")?;
        let any_purged = events.scan_prefix([PREFIX_PURGED]).next().is_some();
        Ok(Store {
            any_purged: std::sync::atomic::AtomicBool::new(any_purged),
            db,
            events,
            audit,
            audit_chain,
            local,
            quarantine,
            write_lock: Mutex::new(()),
            _lock_file: self.file,
        })
    }
}

fn class_index(class: EventClass) -> u8 {
    EventClass::ALL
        .iter()
        .position(|c| *c == class)
        .expect("ALL lists every class") as u8
}

fn hlc_id_key(prefix: &[u8], hlc: Hlc, id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + HLC_KEY_BYTES + 32);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&hlc.to_key_bytes());
    k.extend_from_slice(&id.0);
    k
}

fn recipient_prefix(unit: &HsaId) -> Vec<u8> {
    unit_prefix(PREFIX_RECIPIENT, unit)
}

fn unit_prefix(prefix: u8, unit: &HsaId) -> Vec<u8> {
    let s = unit.as_str().as_bytes();
    let mut p = Vec::with_capacity(2 + s.len());
    p.push(prefix);
    p.push(u8::try_from(s.len()).expect("HSA-ids are at most 31 bytes"));
    p.extend_from_slice(s);
    p
}

fn doc_prefix(doc: &DocId) -> Vec<u8> {
    let mut p = Vec::with_capacity(17);
    p.push(PREFIX_DOC);
    p.extend_from_slice(&doc.0);
    p
}

/// Splits the `hlc id` tail of an index key.
fn parse_hlc_id_tail(key: &[u8]) -> Result<(Hlc, EventId), StoreError> {
    let n = key.len();
    if n < HLC_KEY_BYTES + 32 {
        return Err(StoreError::Corrupt("short index key".into()));
    }
    let hlc: [u8; HLC_KEY_BYTES] = key[n - 32 - HLC_KEY_BYTES..n - 32]
        .try_into()
        .expect("sliced to size");
    let id: [u8; 32] = key[n - 32..].try_into().expect("sliced to size");
    Ok((Hlc::from_key_bytes(hlc), EventId(id)))
}

fn read_u64(v: Option<sled::IVec>) -> Result<u64, StoreError> {
    match v {
        None => Ok(0),
        Some(v) => {
            Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::Corrupt("counter is not 8 bytes".into())
            })?))
        }
    }
}

impl Store {
    /// Whether some process holds the lock of the store in `dir` (a running daemon, or a
    /// command using the store). Takes the lock for an instant when it is free: `open` waits
    /// that long, so this never makes a starting node fail.
    pub fn is_in_use(dir: &Path) -> bool {
        let Ok(file) = File::options().read(true).open(dir.join("LOCK")) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => false,
        }
    }

    /// Opens (or creates) the store in `dir`, taking the directory's lock. A data
    /// directory's store is opened through `files::datadir`, which first brings an older
    /// format up to date (see [`StoreLock`]).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::lock(dir)?.open()
    }

    /// Takes the lock of the store in `dir` (creating the directory) without opening the
    /// database, so its files can be copied as they are before an upgrade.
    pub fn lock(dir: &Path) -> Result<StoreLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            what: "cannot create",
            path: dir.to_path_buf(),
            cause: source,
        })?;
        let lock_path = dir.join("LOCK");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                what: "cannot open",
                path: lock_path.clone(),
                cause: source,
            })?;
        // A process forked from this one holds a copy of the lock until it execs, so a lock
        // that is busy for an instant is tried again; one held by another reservnod stays
        // busy and is reported.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked {
                        dir: dir.to_path_buf(),
                        lock: lock_path,
                    });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(StoreError::Io {
                        what: "cannot lock",
                        path: lock_path,
                        cause: source,
                    });
                }
            }
        }
        Ok(StoreLock {
            dir: dir.to_path_buf(),
            file: lock_file,
        })
    }

    /// Gives every event of a store made before the arrival index an arrival entry, dated
    /// now: a later incremental export then includes them once more (an import drops what
    /// it has), rather than skip them. Part of the upgrade to data format 2; a store that
    /// already has the index (made before the format file but after the index) is left as
    /// it is. Returns how many events got an entry.
    pub fn build_arrival_index(&self) -> Result<usize, StoreError> {
        if self.local.contains_key(ARRIVAL_INDEX_MARK)? {
            return Ok(0);
        }
        let now = crate::clock::now_ms();
        let mut batch = sled::Batch::default();
        let mut n = 0usize;
        for item in self.events.scan_prefix([PREFIX_HLC]) {
            let (_, id) = parse_hlc_id_tail(&item?.0)?;
            batch.insert(arrival_key(now, &id), &[] as &[u8]);
            n += 1;
            if n.is_multiple_of(10_000) {
                self.events.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        self.events.apply_batch(batch)?;
        self.local.insert(ARRIVAL_INDEX_MARK, &[1u8][..])?;
        self.db.flush()?;
        Ok(n)
    }

    /// Stores verified events that are not yet present, atomically per call, and returns
    /// once they are durable on disk. Storing an event twice is a no-op.
    pub fn insert(&self, events: &[VerifiedEvent]) -> Result<InsertReport, StoreError> {
        self.insert_purging(events, &std::collections::HashMap::new(), 0)
    }

    /// [`Store::insert`], but the clinical events named in `purge` (id → the purge
    /// decision's reference) are stored as held without their body: a tombstone and the
    /// `H` / `U` keys and class count that reconciliation reads, as
    /// [`Store::purge_body`] leaves a purged event (`now_ms` dates the tombstone). What a
    /// purge decision already covers on arrival is never stored with its body. Such
    /// events are in `new` like the others (they are held now).
    pub fn insert_purging(
        &self,
        events: &[VerifiedEvent],
        purge: &std::collections::HashMap<EventId, String>,
        now_ms: u64,
    ) -> Result<InsertReport, StoreError> {
        let mut report = InsertReport::default();
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch = sled::Batch::default();
            let mut class_added = [0u64; EventClass::ALL.len()];
            let arrival_ms = crate::clock::now_ms();
            for v in events {
                let id = v.id();
                let event_key = event_key(&id);
                if !seen.insert(id)
                    || self.events.contains_key(event_key)?
                    || self.is_purged(&id)?
                {
                    // A purged event is held: its body is never stored again, whoever
                    // offers it (a peer, a bundle, a backup).
                    report.duplicates += 1;
                    continue;
                }
                let e = v.event();
                if let Some(reference) = purge.get(&id).filter(|_| e.class == EventClass::Clinical)
                {
                    let tomb = tombstone(e, reference, now_ms)?;
                    batch.insert(purged_key(&id).to_vec(), tomb);
                    batch.insert(hlc_id_key(&[PREFIX_HLC], e.hlc, &id), &[] as &[u8]);
                    if e.priority == reservnod_proto::Priority::Urgent {
                        batch.insert(hlc_id_key(&[PREFIX_URGENT], e.hlc, &id), &[] as &[u8]);
                    }
                    // Set before the tombstone is written: a reader that sees it must look.
                    self.any_purged
                        .store(true, std::sync::atomic::Ordering::Release);
                    class_added[usize::from(class_index(e.class))] += 1;
                    report.new.push(id);
                    continue;
                }
                let value =
                    codec::encode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(v.signed())
                        .map_err(|err| {
                            StoreError::Corrupt(format!(
                                "cannot encode event {}: {err}",
                                id.short()
                            ))
                        })?;
                batch.insert(&event_key[..], value);
                batch.insert(hlc_id_key(&[PREFIX_HLC], e.hlc, &id), &[] as &[u8]);
                batch.insert(arrival_key(arrival_ms, &id), &[] as &[u8]);
                batch.insert(
                    hlc_id_key(&unit_prefix(PREFIX_AUTHOR_UNIT, &e.unit), e.hlc, &id),
                    &[] as &[u8],
                );
                for unit in &e.recipients {
                    batch.insert(
                        hlc_id_key(&recipient_prefix(unit), e.hlc, &id),
                        &[] as &[u8],
                    );
                }
                if let Some(doc) = &e.doc {
                    batch.insert(hlc_id_key(&doc_prefix(&doc.doc), e.hlc, &id), &[] as &[u8]);
                }
                if let (EventClass::Receipt, reservnod_proto::Body::Plain(body)) =
                    (e.class, &e.body)
                {
                    // Indexed by the event it acknowledges; a body that does not decode is
                    // stored (it is signed and valid as an event) but acknowledges nothing.
                    if let Ok(r) = reservnod_proto::care::receipts::Receipt::decode(body) {
                        let mut key = Vec::with_capacity(65);
                        key.push(PREFIX_RECEIPT);
                        key.extend_from_slice(&r.event.0);
                        key.extend_from_slice(&id.0);
                        batch.insert(key, &[] as &[u8]);
                    }
                }
                if e.priority == reservnod_proto::Priority::Urgent {
                    batch.insert(hlc_id_key(&[PREFIX_URGENT], e.hlc, &id), &[] as &[u8]);
                }
                class_added[usize::from(class_index(e.class))] += 1;
                report.new.push(id);
            }
            if report.new.is_empty() {
                return Ok(report);
            }
            for (i, added) in class_added.iter().enumerate() {
                if *added > 0 {
                    let key = [PREFIX_CLASS_COUNT, i as u8];
                    let count = read_u64(self.events.get(key)?)? + added;
                    batch.insert(&key[..], &count.to_be_bytes()[..]);
                }
            }
            self.events.apply_batch(batch)?;
        }
        // Only now is anything reported saved.
        self.db.flush()?;
        Ok(report)
    }

    /// Makes everything written so far durable (every write path already does; this is for
    /// shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Whether the event is stored (a purged one counts: it is held without its body).
    pub fn contains(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.events.contains_key(event_key(id))? || self.is_purged(id)?)
    }

    /// Whether a tombstone of `id` is here (read only once any body was purged).
    fn is_purged(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(self.any_purged.load(std::sync::atomic::Ordering::Acquire)
            && self.events.contains_key(purged_key(id))?)
    }

    /// The tombstone of a purged event, if its body was purged here.
    pub fn purged(&self, id: &EventId) -> Result<Option<Purged>, StoreError> {
        match self.events.get(purged_key(id))? {
            None => Ok(None),
            Some(v) => codec::decode::<Purged, PURGED_BYTES_MAX>(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("tombstone {}: {e}", id.short()))),
        }
    }

    /// Every tombstone, in id order (what the view lists as purged).
    pub fn iter_purged(&self) -> impl Iterator<Item = Result<(EventId, Purged), StoreError>> + '_ {
        self.events.scan_prefix([PREFIX_PURGED]).map(|r| {
            let (k, v) = r?;
            let id: [u8; 32] = k
                .get(1..33)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("short tombstone key".into()))?;
            let id = EventId(id);
            let tomb = codec::decode::<Purged, PURGED_BYTES_MAX>(&v)
                .map_err(|e| StoreError::Corrupt(format!("tombstone {}: {e}", id.short())))?;
            Ok((id, tomb))
        })
    }

    /// The stored clinical events (with their bodies) after `after` in (hlc, id) order, at
    /// most `max` keys looked at; and where to go on (None: the end was reached). The
    /// purge pass walks the store with it a bounded step at a time. The events are decoded,
    /// not verified again (they were on the way in).
    pub fn clinical_after(
        &self,
        after: Option<(Hlc, EventId)>,
        max: usize,
    ) -> Result<ClinicalStep, StoreError> {
        let start = match after {
            Some((hlc, id)) => Bound::Excluded(hlc_id_key(&[PREFIX_HLC], hlc, &id)),
            None => Bound::Included(vec![PREFIX_HLC]),
        };
        let mut out = Vec::new();
        let mut last = None;
        for (looked, item) in self
            .events
            .range::<Vec<u8>, _>((start, Bound::Excluded(vec![PREFIX_HLC + 1])))
            .enumerate()
        {
            if looked == max {
                return Ok((out, last));
            }
            let (k, _) = item?;
            let (hlc, id) = parse_hlc_id_tail(&k)?;
            last = Some((hlc, id));
            let Some(value) = self.events.get(event_key(&id))? else {
                continue;
            };
            let Ok(se) = codec::decode::<
                SignedEvent,
                { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX },
            >(&value) else {
                continue;
            };
            let Ok(e) = codec::decode::<reservnod_proto::Event, EVENT_BYTES_MAX>(&se.bytes) else {
                continue;
            };
            if e.class == EventClass::Clinical {
                out.push((id, e));
            }
        }
        Ok((out, None))
    }

    /// How many event bodies were purged here.
    pub fn purged_count(&self) -> Result<u64, StoreError> {
        Ok(self.events.scan_prefix([PREFIX_PURGED]).count() as u64)
    }

    /// Removes the sealed body of a stored clinical event under purge decision `reference`,
    /// keeping a tombstone ([`Purged`]) and the `H` / `U` keys, in one atomic batch, durable
    /// when it returns. Whether the event may be purged is the caller's question
    /// (`reservnod_proto::retention::purge_under`); this only refuses what is never purged
    /// (another class). The access log is not touched. Returns false if the event is not
    /// stored with its body (not held, or already purged).
    pub fn purge_body(
        &self,
        id: &EventId,
        reference: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(value) = self.events.get(event_key(id))? else {
            return Ok(false);
        };
        let se: SignedEvent =
            codec::decode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(&value)
                .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", id.short())))?;
        let e = codec::decode::<reservnod_proto::Event, EVENT_BYTES_MAX>(&se.bytes)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", id.short())))?;
        if e.class != EventClass::Clinical {
            return Err(StoreError::NotPurgeable(e.class.name()));
        }
        let tomb = tombstone(&e, reference, now_ms)?;
        let mut batch = sled::Batch::default();
        batch.remove(&event_key(id)[..]);
        batch.remove(hlc_id_key(
            &unit_prefix(PREFIX_AUTHOR_UNIT, &e.unit),
            e.hlc,
            id,
        ));
        for unit in &e.recipients {
            batch.remove(hlc_id_key(&recipient_prefix(unit), e.hlc, id));
        }
        if let Some(doc) = &e.doc {
            batch.remove(hlc_id_key(&doc_prefix(&doc.doc), e.hlc, id));
        }
        batch.insert(purged_key(id).to_vec(), tomb);
        // Set before the tombstone is written: a reader that sees it must look it up.
        self.any_purged
            .store(true, std::sync::atomic::Ordering::Release);
        self.events.apply_batch(batch)?;
        self.db.flush()?;
        Ok(true)
    }

    /// Ids of stored events whose bytes begin with `prefix`, at most `max` of them.
    pub fn event_ids_with_prefix(
        &self,
        prefix: &[u8],
        max: usize,
    ) -> Result<Vec<EventId>, StoreError> {
        let mut p = Vec::with_capacity(1 + prefix.len());
        p.push(PREFIX_EVENT);
        p.extend_from_slice(prefix);
        self.events
            .scan_prefix(p)
            .keys()
            .take(max)
            .map(|k| {
                let k = k?;
                let id: [u8; 32] = k
                    .get(1..33)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("event key of the wrong size".into()))?;
                Ok(EventId(id))
            })
            .collect()
    }

    /// The stored event, exactly as received.
    pub fn get(&self, id: &EventId) -> Result<Option<SignedEvent>, StoreError> {
        match self.events.get(event_key(id))? {
            None => Ok(None),
            Some(v) => {
                let se: SignedEvent =
                    codec::decode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(&v)
                        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", id.short())))?;
                // Pair check: what comes back from disk is what was stored under its id.
                if se.id() != *id {
                    return Err(StoreError::Corrupt(format!(
                        "event {} does not hash to its key",
                        id.short()
                    )));
                }
                Ok(Some(se))
            }
        }
    }

    /// (hlc, id) of stored events in order, starting at `from` (inclusive).
    pub fn iter_by_hlc(
        &self,
        from: Option<(Hlc, EventId)>,
    ) -> impl Iterator<Item = Result<(Hlc, EventId), StoreError>> + '_ {
        let start = match from {
            Some((hlc, id)) => hlc_id_key(&[PREFIX_HLC], hlc, &id),
            None => vec![PREFIX_HLC],
        };
        self.events
            .range(start..)
            .take_while(|r| {
                r.as_ref()
                    .map(|(k, _)| k.first() == Some(&PREFIX_HLC))
                    .unwrap_or(true)
            })
            .map(|r| parse_hlc_id_tail(&r?.0))
    }

    /// (hlc, id) of stored events, newest first.
    pub fn iter_by_hlc_newest_first(
        &self,
    ) -> impl Iterator<Item = Result<(Hlc, EventId), StoreError>> + '_ {
        self.events
            .scan_prefix([PREFIX_HLC])
            .rev()
            .map(|r| parse_hlc_id_tail(&r?.0))
    }

    /// (arrival ms, id) of stored events in the order they were stored here, from those that
    /// arrived at or after `from_ms`.
    pub fn iter_by_arrival(
        &self,
        from_ms: u64,
    ) -> impl Iterator<Item = Result<(u64, EventId), StoreError>> + '_ {
        let mut start = vec![PREFIX_ARRIVAL];
        start.extend_from_slice(&from_ms.to_be_bytes());
        self.events
            .range(start..)
            .take_while(|r| {
                r.as_ref()
                    .map(|(k, _)| k.first() == Some(&PREFIX_ARRIVAL))
                    .unwrap_or(true)
            })
            .map(|r| {
                let (k, _) = r?;
                if k.len() != 41 {
                    return Err(StoreError::Corrupt("arrival key of the wrong size".into()));
                }
                let at = u64::from_be_bytes(k[1..9].try_into().expect("sliced to size"));
                let id = EventId(k[9..41].try_into().expect("sliced to size"));
                Ok((at, id))
            })
    }

    /// Takes a stored event that no longer reads or verifies out of use: its bytes and the
    /// reason go to the quarantine, and it leaves the event tree with every index entry
    /// (so reconciliation fetches a good copy again if a peer has one). Returns false if
    /// it was not stored. Rare, so it may scan the whole event tree for the index entries.
    pub fn quarantine(&self, id: &EventId, reason: &str) -> Result<bool, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(value) = self.events.get(event_key(id))? else {
            return Ok(false);
        };
        let entry = Quarantined {
            reason: reason.chars().take(1000).collect(),
            at_ms: crate::clock::now_ms(),
            bytes: value.to_vec(),
        };
        let encoded =
            codec::encode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX + 8192 }>(&entry)
                .map_err(|e| StoreError::Corrupt(format!("quarantine entry: {e}")))?;
        self.quarantine.insert(id.0, encoded)?;
        let mut batch = sled::Batch::default();
        // Every index key ends with the id of the event it indexes (a receipt's `K` key ends
        // with the receipt's id), the event key is `E` id, and no counter key is 33 bytes
        // or longer with an id tail by chance that matters: counters are 2 bytes.
        for item in self.events.iter().keys() {
            let k = item?;
            if k.len() >= 33 && k[k.len() - 32..] == id.0 && k[0] != PREFIX_CLASS_COUNT {
                batch.remove(k);
            }
        }
        let class =
            codec::decode::<SignedEvent, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(&value)
                .ok()
                .and_then(|se| {
                    codec::decode::<reservnod_proto::Event, EVENT_BYTES_MAX>(&se.bytes).ok()
                })
                .map(|e| e.class);
        if let Some(class) = class {
            let key = [PREFIX_CLASS_COUNT, class_index(class)];
            let count = read_u64(self.events.get(key)?)?.saturating_sub(1);
            batch.insert(&key[..], &count.to_be_bytes()[..]);
        }
        self.events.apply_batch(batch)?;
        self.db.flush()?;
        Ok(true)
    }

    /// Replaces a stored event's value with `se` without any check: only for tests that
    /// need a damaged store (a stored event that no longer verifies). Never call it
    /// elsewhere: everything else stores only verified events.
    #[doc(hidden)]
    pub fn overwrite_for_fault_tests(
        &self,
        id: &EventId,
        se: &SignedEvent,
    ) -> Result<(), StoreError> {
        let value = codec::encode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(se)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))?;
        self.events.insert(event_key(id), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Changes the stored detail of chained audit entry `seq` to `detail`, keeping its old
    /// hash: only for tests that need a tampered log. Returns false if there is no such
    /// entry. Never call it elsewhere: the log has no update.
    #[doc(hidden)]
    pub fn tamper_audit_for_fault_tests(&self, seq: u64, detail: &str) -> Result<bool, StoreError> {
        let Some(v) = self.audit_chain.get(audit_key(seq))? else {
            return Ok(false);
        };
        let corrupt = |e: reservnod_proto::codec::CodecError| StoreError::Corrupt(e.to_string());
        let mut record = ChainRecord::decode(&v).map_err(corrupt)?;
        let mut entry = record.entry().map_err(corrupt)?;
        entry.detail = detail.to_string();
        record.entry = codec::encode::<_, { crate::limits::AUDIT_ENTRY_BYTES_MAX }>(&entry)
            .map_err(corrupt)?;
        self.audit_chain
            .insert(audit_key(seq), record.encode().map_err(corrupt)?)?;
        self.db.flush()?;
        Ok(true)
    }

    /// A sorted snapshot of the (hlc, id) keys of every event, or of the urgent ones, for a
    /// reconciliation session (44 bytes per event; the events themselves stay on disk).
    pub fn keys(&self, urgent_only: bool) -> Result<Vec<(Hlc, EventId)>, StoreError> {
        let prefix = if urgent_only {
            PREFIX_URGENT
        } else {
            PREFIX_HLC
        };
        self.events
            .scan_prefix([prefix])
            .map(|r| parse_hlc_id_tail(&r?.0))
            .collect()
    }

    /// The receipts stored for `target`, decoded (a receipt event whose body does not decode
    /// is not indexed).
    pub fn receipts_for(
        &self,
        target: &EventId,
    ) -> Result<Vec<reservnod_proto::care::receipts::Receipt>, StoreError> {
        Ok(self
            .receipts_by_author_for(target)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// [`Store::receipts_for`], each with the node that wrote it.
    pub fn receipts_by_author_for(
        &self,
        target: &EventId,
    ) -> Result<
        Vec<(
            reservnod_proto::NodeId,
            reservnod_proto::care::receipts::Receipt,
        )>,
        StoreError,
    > {
        Ok(self
            .receipts_signed_for(target)?
            .into_iter()
            .map(|r| (r.node, r.receipt))
            .collect())
    }

    /// [`Store::receipts_for`], each with the node that wrote it and the login its header
    /// names (who acknowledged a Read).
    pub fn receipts_signed_for(&self, target: &EventId) -> Result<Vec<ReceiptSigned>, StoreError> {
        let mut prefix = Vec::with_capacity(33);
        prefix.push(PREFIX_RECEIPT);
        prefix.extend_from_slice(&target.0);
        let mut out = Vec::new();
        for item in self.events.scan_prefix(prefix) {
            let (k, _) = item?;
            let id = EventId(
                k[33..65]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("short receipt key".into()))?,
            );
            let Some(se) = self.get(&id)? else { continue };
            let event: reservnod_proto::Event = codec::decode::<_, EVENT_BYTES_MAX>(&se.bytes)
                .map_err(|e| StoreError::Corrupt(format!("receipt {}: {e}", id.short())))?;
            if let reservnod_proto::Body::Plain(body) = &event.body {
                if let Ok(r) = reservnod_proto::care::receipts::Receipt::decode(body) {
                    // A receipt speaks only for its author's own unit: a node of one unit
                    // cannot say another unit read something.
                    if r.unit == event.unit && event.class == reservnod_proto::EventClass::Receipt {
                        out.push(ReceiptSigned {
                            node: event.author,
                            login: event.user.clone(),
                            receipt: r,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The stored events among `ids`, in the order given; ids not stored are skipped.
    pub fn get_many(&self, ids: &[EventId]) -> Result<Vec<SignedEvent>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(se) = self.get(id)? {
                out.push(se);
            }
        }
        Ok(out)
    }

    /// (hlc, id) of events addressed to `unit`, oldest first.
    pub fn iter_by_recipient(
        &self,
        unit: &HsaId,
    ) -> impl Iterator<Item = Result<(Hlc, EventId), StoreError>> + '_ {
        self.events
            .scan_prefix(recipient_prefix(unit))
            .map(|r| parse_hlc_id_tail(&r?.0))
    }

    /// (hlc, id) of events written by nodes of `unit`, oldest first.
    pub fn iter_by_author_unit(
        &self,
        unit: &HsaId,
    ) -> impl Iterator<Item = Result<(Hlc, EventId), StoreError>> + '_ {
        self.events
            .scan_prefix(unit_prefix(PREFIX_AUTHOR_UNIT, unit))
            .map(|r| parse_hlc_id_tail(&r?.0))
    }

    /// Marks `event` escalated for `unit` at `at_ms`, durably. Returns false (and changes
    /// nothing) if it was marked before: an escalation happens once.
    pub fn mark_escalated(
        &self,
        event: &EventId,
        unit: &HsaId,
        at_ms: u64,
    ) -> Result<bool, StoreError> {
        let key = escalation_key(event, unit);
        let mark = EscalationMark {
            event: *event,
            unit: unit.clone(),
            at_ms,
            hook_done: false,
        };
        let value = codec::encode::<_, 1024>(&mark)
            .map_err(|e| StoreError::Corrupt(format!("escalation mark: {e}")))?;
        let new = self
            .local
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))?
            .is_ok();
        if new {
            self.db.flush()?;
        }
        Ok(new)
    }

    /// When this node first escalated anything (set to `now_ms` the first time it is
    /// asked, durably): escalations of events that became due before then belong to the
    /// unit's nodes that ran then, so a new or re-imaged node does not replay history.
    pub fn escalation_floor(&self, now_ms: u64) -> Result<u64, StoreError> {
        let _ = self.local.compare_and_swap(
            ESCALATION_FLOOR,
            None as Option<&[u8]>,
            Some(&now_ms.to_be_bytes()[..]),
        )?;
        self.db.flush()?;
        read_u64(self.local.get(ESCALATION_FLOOR)?)
    }

    /// Records that the escalation command ran for a mark.
    pub fn escalation_hook_done(&self, event: &EventId, unit: &HsaId) -> Result<(), StoreError> {
        let key = escalation_key(event, unit);
        let Some(v) = self.local.get(&key)? else {
            return Ok(());
        };
        let mut mark: EscalationMark = codec::decode::<_, 1024>(&v)
            .map_err(|e| StoreError::Corrupt(format!("escalation mark: {e}")))?;
        mark.hook_done = true;
        let value = codec::encode::<_, 1024>(&mark)
            .map_err(|e| StoreError::Corrupt(format!("escalation mark: {e}")))?;
        self.local.insert(key, value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Every escalation mark, by event.
    pub fn escalations(&self) -> Result<Vec<EscalationMark>, StoreError> {
        self.local
            .scan_prefix([PREFIX_ESCALATION])
            .map(|r| {
                let (_, v) = r?;
                codec::decode::<_, 1024>(&v)
                    .map_err(|e| StoreError::Corrupt(format!("escalation mark: {e}")))
            })
            .collect()
    }

    /// (hlc, id) of the versions of a document, oldest first.
    pub fn iter_by_doc(
        &self,
        doc: &DocId,
    ) -> impl Iterator<Item = Result<(Hlc, EventId), StoreError>> + '_ {
        self.events
            .scan_prefix(doc_prefix(doc))
            .map(|r| parse_hlc_id_tail(&r?.0))
    }

    /// The newest timestamp stored, so a restarted clock never goes below it.
    pub fn newest_hlc(&self) -> Result<Option<Hlc>, StoreError> {
        let last = self
            .events
            .scan_prefix([PREFIX_HLC])
            .next_back()
            .transpose()?;
        last.map(|(k, _)| parse_hlc_id_tail(&k).map(|(h, _)| h))
            .transpose()
    }

    fn oldest_hlc(&self) -> Result<Option<Hlc>, StoreError> {
        let first = self.events.scan_prefix([PREFIX_HLC]).next().transpose()?;
        first
            .map(|(k, _)| parse_hlc_id_tail(&k).map(|(h, _)| h))
            .transpose()
    }

    /// Appends an audit entry, chained to the one before, and returns its sequence number
    /// once it is durable. The log has no update or delete. An entry naming more patients
    /// than one entry holds is stored as several (the last one's number is returned).
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        self.append_audit_many(std::slice::from_ref(entry))
    }

    /// Appends entries in one atomic batch with the chain's head, durably; returns the
    /// last sequence number written. Nothing stored before (a damaged entry or head) can
    /// make it fail: the chain goes on from what reads, and `verify_audit` reports the rest.
    pub fn append_audit_many(&self, entries: &[AuditEntry]) -> Result<u64, StoreError> {
        let last = {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let (mut seq, mut prev) = self.chain_tip()?;
            let mut batch = sled::Batch::default();
            let mut last = None;
            for entry in entries.iter().cloned().flat_map(AuditEntry::split) {
                let record = ChainRecord::new(seq, prev, &entry)
                    .and_then(|r| r.encode().map(|bytes| (r, bytes)))
                    .map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?;
                batch.insert(&audit_key(seq)[..], record.1);
                for key in audit_index_keys(seq, &entry) {
                    batch.insert(key, &[] as &[u8]);
                }
                prev = record.0.hash;
                last = Some(seq);
                seq += 1;
            }
            let Some(last) = last else {
                return Ok(seq.saturating_sub(1));
            };
            batch.insert(
                &[AUDIT_HEAD][..],
                &Head {
                    seq: last,
                    hash: prev,
                }
                .encode()[..],
            );
            self.audit_chain.apply_batch(batch)?;
            last
        };
        self.db.flush()?;
        Ok(last)
    }

    /// The number and the `prev` hash of the next chained entry. Prefers the head; a head
    /// that does not read (or names an earlier entry than the last stored) gives way to the
    /// last record, and a record that does not read is chained on by the hash of its bytes.
    fn chain_tip(&self) -> Result<(u64, [u8; 32]), StoreError> {
        let head = self.audit_chain.get([AUDIT_HEAD])?;
        let head = head.as_deref().and_then(Head::decode);
        let last = self
            .audit_chain
            .scan_prefix([AUDIT_RECORD])
            .next_back()
            .transpose()?;
        let last = match last {
            None => None,
            Some((k, v)) => Some((audit_seq(&k)?, v)),
        };
        Ok(match (head, last) {
            (Some(h), Some((seq, _))) if h.seq >= seq => (h.seq + 1, h.hash),
            (Some(h), None) => (h.seq + 1, h.hash),
            (_, Some((seq, v))) => {
                let hash = ChainRecord::decode(&v)
                    .map(|r| r.hash)
                    .unwrap_or_else(|_| *blake3::hash(&v).as_bytes());
                (seq + 1, hash)
            }
            (None, None) => {
                let (next, _, prefix) = self.unchained_prefix()?;
                (next, prefix)
            }
        })
    }

    /// One past the last unchained entry, how many there are, and their hash.
    fn unchained_prefix(&self) -> Result<(u64, u64, [u8; 32]), StoreError> {
        let mut h = PrefixHasher::new();
        let (mut next, mut n) = (0, 0);
        for item in self.audit.iter() {
            let (k, v) = item?;
            let seq = read_u64(Some(k))?;
            h.add(seq, &v);
            next = seq + 1;
            n += 1;
        }
        Ok((next, n, h.finish()))
    }

    /// Walks the whole chain (PROTOCOL.md §12.3).
    pub fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        let (first, unchained, prefix) = self.unchained_prefix()?;
        let head = self.audit_chain.get([AUDIT_HEAD])?;
        let records = self.audit_chain.scan_prefix([AUDIT_RECORD]).map(|r| {
            let (k, v) = r?;
            Ok::<_, StoreError>((audit_seq(&k)?, v.to_vec()))
        });
        audit::walk(unchained, first, prefix, records, head.as_deref())
    }

    /// Audit entries in order, from sequence number `from`: the unchained ones, then the
    /// chained. An entry that does not read is an `Err` item and the walk goes on.
    pub fn audit_entries(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, AuditEntry), StoreError>> + '_ {
        let unchained = self.audit.range(from.to_be_bytes()..).map(|r| {
            let (k, v) = r?;
            let seq = read_u64(Some(k))?;
            let entry = audit::decode_unchained(&v)
                .map_err(|e| StoreError::Corrupt(format!("audit entry {seq}: {e}")))?;
            Ok((seq, entry))
        });
        let chained = self
            .audit_chain
            .range(audit_key(from)..=audit_key(u64::MAX))
            .map(|r| {
                let (k, v) = r?;
                let seq = audit_seq(&k)?;
                Ok((seq, read_record(seq, &v)?))
            });
        unchained.chain(chained)
    }

    /// The entry numbered `seq`, chained or not; `None` if there is none.
    pub fn audit_entry(&self, seq: u64) -> Result<Option<AuditEntry>, StoreError> {
        if let Some(v) = self.audit_chain.get(audit_key(seq))? {
            return read_record(seq, &v).map(Some);
        }
        match self.audit.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(v) => audit::decode_unchained(&v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("audit entry {seq}: {e}"))),
        }
    }

    /// Searches the access log by its indices (PROTOCOL.md §12.4): entries about
    /// `q.patient`, by `q.login`, within `q.from_ms..q.to_ms`, in time order, after
    /// `q.after`; at most `q.limit` entries, looking at most at `q.scan_max` index entries.
    pub fn search_audit(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let from = q.from_ms.unwrap_or(0);
        let to = q.to_ms.unwrap_or(u64::MAX);
        let prefix = match (&q.patient, &q.login) {
            (Some(p), _) => patient_index_prefix(p),
            (None, Some(l)) => login_index_prefix(l),
            (None, None) => vec![AUDIT_BY_TIME],
        };
        let key = |at: u64, seq: Option<u64>| {
            let mut k = prefix.clone();
            k.extend_from_slice(&at.to_be_bytes());
            if let Some(seq) = seq {
                k.extend_from_slice(&seq.to_be_bytes());
            }
            k
        };
        let start = match q.after {
            Some((at, seq)) if at >= from => Bound::Excluded(key(at, Some(seq))),
            _ => Bound::Included(key(from, None)),
        };
        let end = Bound::Excluded(key(to, None));
        let mut page = AuditPage::default();
        let mut last_scanned = None;
        for (scanned, item) in self.audit_chain.range((start, end)).enumerate() {
            let (k, _) = item?;
            if page.entries.len() >= q.limit {
                page.next = page.entries.last().map(|(s, e)| (e.at_ms, *s));
                break;
            }
            if scanned >= q.scan_max {
                page.next = last_scanned;
                break;
            }
            let tail = k
                .len()
                .checked_sub(16)
                .filter(|&n| n >= prefix.len())
                .map(|n| &k[n..])
                .ok_or_else(|| StoreError::Corrupt("audit index key too short".into()))?;
            let at = u64::from_be_bytes(tail[..8].try_into().expect("sliced to size"));
            let seq = u64::from_be_bytes(tail[8..].try_into().expect("sliced to size"));
            last_scanned = Some((at, seq));
            let entry = match self.audit_entry(seq) {
                Ok(Some(e)) => e,
                Ok(None) | Err(StoreError::Corrupt(_)) => {
                    page.unreadable += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let login_ok = q.login.as_ref().is_none_or(|l| {
                entry
                    .login
                    .as_ref()
                    .is_some_and(|e| e.to_lowercase() == l.to_lowercase())
            });
            let patient_ok = q.patient.as_ref().is_none_or(|p| entry.names(p));
            if login_ok && patient_ok {
                page.entries.push((seq, entry));
            }
        }
        Ok(page)
    }

    /// Indexes the entries of the unchained log once (stores from before the chain): the
    /// chained ones are indexed as they are written. Part of the upgrade to data format 3;
    /// run again, it does nothing. Returns how many entries it looked at.
    pub fn index_unchained_audit(&self) -> Result<usize, StoreError> {
        if self.local.contains_key(AUDIT_INDEX_MARK)? {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        let mut n = 0usize;
        for item in self.audit.iter() {
            let (k, v) = item?;
            let seq = read_u64(Some(k))?;
            // An old entry that does not read is left to `audit_entries` to report.
            if let Ok(entry) = audit::decode_unchained(&v) {
                for key in audit_index_keys(seq, &entry) {
                    batch.insert(key, &[] as &[u8]);
                }
            }
            n += 1;
            if n.is_multiple_of(10_000) {
                self.audit_chain.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        self.audit_chain.apply_batch(batch)?;
        self.local.insert(AUDIT_INDEX_MARK, &[1u8][..])?;
        self.db.flush()?;
        Ok(n)
    }

    /// Hands every entry of every tree to `each` as (tree, key, value), holding the write
    /// lock throughout: no event insert or audit append runs meanwhile, so what `each` sees
    /// is one point in time with every index entry beside its event (writers wait until it
    /// returns). Everything acknowledged before the call is in it. For backups.
    pub fn snapshot(&self, each: &mut SnapshotSink<'_>) -> Result<u64, StoreError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0u64;
        let mut names = self.db.tree_names();
        names.sort();
        for name in names {
            let tree_name = String::from_utf8_lossy(&name).to_string();
            let tree = self.db.open_tree(&name)?;
            for item in tree.iter() {
                let (k, v) = item?;
                each(&tree_name, &k, &v).map_err(|cause| StoreError::Io {
                    what: "cannot write the backup of",
                    path: PathBuf::from(&tree_name),
                    cause,
                })?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Puts one entry of a [`Store::snapshot`] into this (new, empty) store. An event's
    /// entry must decode and hash to its key, so a damaged backup is refused rather than
    /// loaded; [`Store::flush`] after the last one.
    pub fn restore_entry(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if tree == "events" && key.first() == Some(&PREFIX_EVENT) {
            let id: [u8; 32] = key
                .get(1..)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("event key of the wrong size".into()))?;
            let se: SignedEvent =
                codec::decode::<_, { EVENT_BYTES_MAX + STORED_EVENT_OVERHEAD_MAX }>(value)
                    .map_err(|e| StoreError::Corrupt(format!("event in the backup: {e}")))?;
            if se.id() != EventId(id) {
                return Err(StoreError::Corrupt(
                    "an event in the backup does not hash to its key".into(),
                ));
            }
        }
        self.db.open_tree(tree)?.insert(key, value)?;
        Ok(())
    }

    /// Figures for `status`.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut by_class = Vec::with_capacity(EventClass::ALL.len());
        let mut events = 0;
        for class in EventClass::ALL {
            let n = read_u64(self.events.get([PREFIX_CLASS_COUNT, class_index(class)])?)?;
            events += n;
            by_class.push((class.name().to_string(), n));
        }
        Ok(StoreStats {
            events,
            by_class,
            // Sequence numbers run from 0 without gaps, so the next one counts them.
            audit_entries: self.chain_tip()?.0,
            disk_bytes: self.db.size_on_disk()?,
            oldest: self.oldest_hlc()?,
            newest: self.newest_hlc()?,
            quarantined: self.quarantine.len() as u64,
        })
    }
}

/// The physical anchor for store benchmarks: raw sled inserts of `values` under random-ish
/// 33-byte keys into a fresh database in `dir`, flushed every `batch` values, with no
/// verification, no indices and no encoding. Returns the wall time taken and the bytes on
/// disk. Lives here so that sled stays behind this module.
#[doc(hidden)]
pub fn raw_backend_anchor(
    dir: &Path,
    values: &[Vec<u8>],
    batch: usize,
) -> Result<(std::time::Duration, u64), StoreError> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(128 * 1024 * 1024)
        .flush_every_ms(Some(500))
        .mode(sled::Mode::HighThroughput)
        .open()?;
    let tree = db.open_tree("raw")?;
    let start = std::time::Instant::now();
    for (chunk_no, chunk) in values.chunks(batch.max(1)).enumerate() {
        let mut b = sled::Batch::default();
        for (i, v) in chunk.iter().enumerate() {
            let mut key = [0u8; 33];
            key[0] = PREFIX_EVENT;
            key[1..].copy_from_slice(
                blake3::hash(&((chunk_no * batch + i) as u64).to_le_bytes()).as_bytes(),
            );
            b.insert(&key[..], v.as_slice());
        }
        tree.apply_batch(b)?;
        db.flush()?;
    }
    let elapsed = start.elapsed();
    Ok((elapsed, db.size_on_disk()?))
}

/// How long `open` waits for the directory lock before reporting the store as in use.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long `open` waits for a just-closed store in this process to release sled's lock
/// (its final flush can take seconds under heavy disk load).
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Opens sled. sled releases its own file lock a moment after the last handle is dropped
/// (its flusher thread holds a reference); our LOCK file is already ours, so the only
/// possible holder is such a closing instance in this process, and a short wait is right.
fn open_sled(config: &sled::Config) -> Result<sled::Db, StoreError> {
    let start = std::time::Instant::now();
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < SLED_LOCK_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A search of the access log (see [`Store::search_audit`]).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries about this patient.
    pub patient: Option<PatientId>,
    /// Entries by this login (any case).
    pub login: Option<String>,
    /// From this time (ms since the epoch, inclusive).
    pub from_ms: Option<u64>,
    /// Up to this time (exclusive).
    pub to_ms: Option<u64>,
    /// After this entry (its time and number), from an earlier page's `next`.
    pub after: Option<(u64, u64)>,
    /// Most entries.
    pub limit: usize,
    /// Most index entries looked at.
    pub scan_max: usize,
}

/// One page of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// (sequence number, entry), in time order.
    pub entries: Vec<(u64, AuditEntry)>,
    /// Where the next page starts (its `after`), if there may be more.
    pub next: Option<(u64, u64)>,
    /// Entries the index named that do not read.
    pub unreadable: u64,
}

const AUDIT_RECORD: u8 = b'E';
const AUDIT_HEAD: u8 = b'H';
const AUDIT_BY_PATIENT: u8 = b'P';
const AUDIT_BY_LOGIN: u8 = b'L';
const AUDIT_BY_TIME: u8 = b'T';
/// Set in `local` once the unchained log's entries are indexed.
const AUDIT_INDEX_MARK: &[u8] = b"Maudit-index-v1";

fn audit_key(seq: u64) -> [u8; 9] {
    let mut k = [AUDIT_RECORD; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn audit_seq(key: &[u8]) -> Result<u64, StoreError> {
    key.get(1..9)
        .filter(|_| key.len() == 9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("audit key of the wrong size".into()))
}

fn read_record(seq: u64, value: &[u8]) -> Result<AuditEntry, StoreError> {
    ChainRecord::decode(value)
        .and_then(|r| r.entry())
        .map_err(|e| StoreError::Corrupt(format!("audit entry {seq}: {e}")))
}

fn patient_index_prefix(p: &PatientId) -> Vec<u8> {
    let c = p.canonical().as_bytes();
    let mut k = Vec::with_capacity(2 + c.len());
    k.push(AUDIT_BY_PATIENT);
    k.push(u8::try_from(c.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(&c[..c.len().min(255)]);
    k
}

fn login_index_prefix(login: &str) -> Vec<u8> {
    let l = login.to_lowercase();
    let l = &l.as_bytes()[..l.len().min(u16::MAX as usize)];
    let mut k = Vec::with_capacity(3 + l.len());
    k.push(AUDIT_BY_LOGIN);
    k.extend_from_slice(&(l.len() as u16).to_be_bytes());
    k.extend_from_slice(l);
    k
}

/// The reviewer's index keys of an entry: by time, by login, by each patient.
fn audit_index_keys(seq: u64, e: &AuditEntry) -> Vec<Vec<u8>> {
    let tail = |mut k: Vec<u8>| {
        k.extend_from_slice(&e.at_ms.to_be_bytes());
        k.extend_from_slice(&seq.to_be_bytes());
        k
    };
    let mut keys = vec![tail(vec![AUDIT_BY_TIME])];
    if let Some(l) = &e.login {
        keys.push(tail(login_index_prefix(l)));
    }
    for p in &e.patients {
        keys.push(tail(patient_index_prefix(p)));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The encoded tombstone of `e`, purged under `reference` at `now_ms`.
fn tombstone(
    e: &reservnod_proto::Event,
    reference: &str,
    now_ms: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut bounded = String::new();
    for c in reference.chars() {
        if bounded.len() + c.len_utf8() > PURGE_REFERENCE_BYTES_MAX {
            break;
        }
        bounded.push(c);
    }
    let tomb = Purged {
        hlc: e.hlc,
        class: e.class,
        reference: bounded,
        at_ms: now_ms,
        unit: e.unit.clone(),
        node: e.author,
        recipients: e.recipients.clone(),
        priority: e.priority,
    };
    codec::encode::<_, PURGED_BYTES_MAX>(&tomb)
        .map_err(|err| StoreError::Corrupt(format!("tombstone: {err}")))
}

fn purged_key(id: &EventId) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = PREFIX_PURGED;
    k[1..].copy_from_slice(&id.0);
    k
}

/// The largest encoded tombstone (a bounded reference, a few numbers, the author unit and
/// at most `RECIPIENTS_MAX` recipients, each at most 31 bytes and its length).
const PURGED_BYTES_MAX: usize =
    PURGE_REFERENCE_BYTES_MAX * 4 + 64 + (reservnod_proto::limits::RECIPIENTS_MAX + 1) * 40;

fn event_key(id: &EventId) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = PREFIX_EVENT;
    k[1..].copy_from_slice(&id.0);
    k
}

#[cfg(test)]
mod tests {
    //! The audit chain against its stored bytes: sled written directly, as an intruder with
    //! the disk would.
    use super::*;
    use reservnod_proto::testkit::region;

    const PATIENT: &str = "19121212-1212";
    const OTHER: &str = "19821105-9954";

    fn entry(i: u64, login: &str, patient: &str) -> AuditEntry {
        AuditEntry {
            unit: Some(HsaId::parse("SE2321000081-AVD12").expect("hsa")),
            login: Some(login.into()),
            name: Some(format!("Person {login}")),
            client: Some("127.0.0.1".into()),
            patients: vec![patient.parse().expect("test number")],
            ..AuditEntry::new(
                1_000_000 + i * 1000,
                region("audit").ward.1.id(),
                AuditAction::Read,
                format!("post {i}"),
            )
        }
    }

    fn store_with(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for i in 0..n {
            let p = if i % 2 == 0 { PATIENT } else { OTHER };
            assert_eq!(store.append_audit(&entry(i, "anna", p)).expect("append"), i);
        }
        (dir, store)
    }

    fn broken(store: &Store) -> ChainBreak {
        let report = store.verify_audit().expect("verify");
        report.first_break.expect("a break is found")
    }

    #[test]
    fn an_intact_chain_verifies_and_survives_a_reopen() {
        let (dir, store) = store_with(5);
        let report = store.verify_audit().expect("verify");
        assert_eq!(
            (report.chained, report.unchained, report.first_break),
            (5, 0, None)
        );
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            store
                .append_audit(&entry(5, "kim", PATIENT))
                .expect("append"),
            5
        );
        let report = store.verify_audit().expect("verify");
        assert_eq!((report.entries(), report.first_break), (6, None));
        assert_eq!(store.stats().expect("stats").audit_entries, 6);
        // An empty log verifies too.
        let (_d, empty) = store_with(0);
        assert_eq!(empty.verify_audit().expect("verify").first_break, None);
    }

    #[test]
    fn a_changed_entry_is_found() {
        let (_dir, store) = store_with(5);
        let key = audit_key(2);
        let mut record =
            ChainRecord::decode(&store.audit_chain.get(key).expect("sled").expect("sled"))
                .expect("record");
        let mut e = record.entry().expect("entry");
        e.login = Some("someone-else".into());
        record.entry =
            codec::encode::<_, { crate::limits::AUDIT_ENTRY_BYTES_MAX }>(&e).expect("encode");
        store
            .audit_chain
            .insert(key, record.encode().expect("encode"))
            .expect("sled");
        let b = broken(&store);
        assert_eq!(
            (b.seq, b.kind, b.at_ms, b.own_time),
            (2, BreakKind::Altered, Some(1_002_000), true)
        );
        // Changed and rehashed: then the next link no longer holds.
        record.hash = link_hash(record.seq, &record.prev, &record.entry);
        store
            .audit_chain
            .insert(key, record.encode().expect("encode"))
            .expect("sled");
        let b = broken(&store);
        assert_eq!((b.seq, b.kind), (3, BreakKind::LinkBroken));
        // A flipped byte anywhere in the stored value is found too.
        let (_dir, store) = store_with(3);
        let mut v = store
            .audit_chain
            .get(audit_key(1))
            .expect("sled")
            .expect("sled")
            .to_vec();
        let last = v.len() - 1;
        v[last] ^= 1;
        store.audit_chain.insert(audit_key(1), v).expect("sled");
        assert_eq!(broken(&store).seq, 1);
    }

    #[test]
    fn a_removed_entry_is_found_in_the_middle_at_the_start_and_at_the_end() {
        let (_dir, store) = store_with(5);
        store.audit_chain.remove(audit_key(2)).expect("sled");
        let b = broken(&store);
        assert_eq!(
            (b.seq, b.kind.clone()),
            (2, BreakKind::Missing { until: 3 })
        );
        // The time is that of the last entry before the gap.
        assert_eq!((b.at_ms, b.own_time), (Some(1_001_000), false));

        let (_dir, store) = store_with(5);
        store.audit_chain.remove(audit_key(0)).expect("sled");
        assert_eq!(broken(&store).kind, BreakKind::Missing { until: 1 });

        let (_dir, store) = store_with(5);
        store.audit_chain.remove(audit_key(4)).expect("sled");
        let b = broken(&store);
        assert_eq!(
            (b.seq, b.kind),
            (4, BreakKind::HeadMismatch { head: Some(4) })
        );
        // The next entry still chains on from the head: the gap stays visible.
        store
            .append_audit(&entry(5, "anna", PATIENT))
            .expect("append");
        assert_eq!(broken(&store).kind, BreakKind::Missing { until: 5 });
    }

    #[test]
    fn reordered_entries_are_found() {
        let (_dir, store) = store_with(5);
        let a = store
            .audit_chain
            .get(audit_key(1))
            .expect("sled")
            .expect("sled");
        let b = store
            .audit_chain
            .get(audit_key(3))
            .expect("sled")
            .expect("sled");
        store.audit_chain.insert(audit_key(1), b).expect("sled");
        store.audit_chain.insert(audit_key(3), a).expect("sled");
        let found = broken(&store);
        assert_eq!(
            (found.seq, found.kind),
            (1, BreakKind::Moved { written_as: 3 })
        );
        // Renumbered to fit their new places, the hashes no longer hold.
        let (_dir, store) = store_with(5);
        let read = |seq: u64| {
            ChainRecord::decode(
                &store
                    .audit_chain
                    .get(audit_key(seq))
                    .expect("sled")
                    .expect("sled"),
            )
            .expect("record")
        };
        let (mut one, mut three) = (read(1), read(3));
        (one.seq, three.seq) = (3, 1);
        store
            .audit_chain
            .insert(audit_key(3), one.encode().expect("sled"))
            .expect("sled");
        store
            .audit_chain
            .insert(audit_key(1), three.encode().expect("sled"))
            .expect("sled");
        let found = broken(&store);
        assert_eq!((found.seq, found.kind), (1, BreakKind::Altered));
    }

    #[test]
    fn an_entry_that_does_not_read_stops_nothing() {
        let (_dir, store) = store_with(3);
        store
            .audit_chain
            .insert(audit_key(2), &b"garbage"[..])
            .expect("sled");
        store.audit_chain.remove([AUDIT_HEAD]).expect("sled");
        // Appending goes on (chained to the damaged bytes), reading goes on past it.
        assert_eq!(
            store
                .append_audit(&entry(3, "anna", PATIENT))
                .expect("append"),
            3
        );
        let read: Vec<_> = store.audit_entries(0).collect();
        assert_eq!(read.len(), 4);
        assert!(read[2].is_err() && read[3].is_ok());
        let b = broken(&store);
        assert_eq!(
            (b.seq, b.kind, b.at_ms),
            (2, BreakKind::Unreadable, Some(1_001_000))
        );
        assert_eq!(store.stats().expect("stats").audit_entries, 4);
        let page = store
            .search_audit(&AuditQuery {
                limit: 10,
                scan_max: 100,
                ..AuditQuery::default()
            })
            .expect("search");
        assert_eq!((page.entries.len(), page.unreadable), (3, 1));
    }

    /// A store from before the chain: its entries stay as they were, unchained, the chain
    /// starts after them with their hash, and changing them afterwards is found.
    #[test]
    fn an_unchained_log_is_kept_as_a_verified_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            for i in 0..3 {
                let v = audit::encode_unchained(&entry(i, "old", PATIENT));
                store.audit.insert(i.to_be_bytes(), v).expect("sled");
            }
        }
        let store = Store::open(dir.path()).expect("reopen");
        // The upgrade to format 3 indexes them, once.
        assert_eq!(store.index_unchained_audit().expect("index"), 3);
        assert_eq!(store.index_unchained_audit().expect("index"), 0);
        let report = store.verify_audit().expect("verify");
        assert_eq!(
            (report.unchained, report.chained, report.first_break.clone()),
            (3, 0, None)
        );
        assert_eq!(
            store.append_audit(&entry(3, "new", OTHER)).expect("append"),
            3
        );
        let report = store.verify_audit().expect("verify");
        assert_eq!(
            (report.unchained, report.chained, report.first_break),
            (3, 1, None)
        );
        // Read as entries of today's shape, and found by the reviewer's indices.
        let all: Vec<_> = store.audit_entries(0).map(|e| e.expect("reads")).collect();
        assert_eq!(all[0].1.login.as_deref(), Some("old"));
        assert_eq!(
            all.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let page = store
            .search_audit(&AuditQuery {
                login: Some("OLD".into()),
                limit: 10,
                scan_max: 100,
                ..AuditQuery::default()
            })
            .expect("search");
        assert_eq!(page.entries.len(), 3);
        // An old entry changed after the chain began breaks the first link.
        let mut e = entry(1, "old", PATIENT);
        e.detail = "ändrad".into();
        store
            .audit
            .insert(1u64.to_be_bytes(), audit::encode_unchained(&e))
            .expect("sled");
        let b = broken(&store);
        assert_eq!((b.seq, b.kind), (3, BreakKind::PrefixChanged));
        // So does a removed one.
        store
            .audit
            .insert(
                1u64.to_be_bytes(),
                audit::encode_unchained(&entry(1, "old", PATIENT)),
            )
            .expect("sled");
        assert_eq!(store.verify_audit().expect("verify").first_break, None);
        store.audit.remove(1u64.to_be_bytes()).expect("sled");
        assert_eq!(broken(&store).kind, BreakKind::PrefixChanged);
    }

    #[test]
    fn searches_by_patient_login_and_period_page_in_time_order() {
        let (_dir, store) = store_with(10);
        store
            .append_audit(&entry(10, "Kim", PATIENT))
            .expect("append");
        let q = |patient: Option<&str>, login: Option<&str>, from: Option<u64>, to: Option<u64>| {
            AuditQuery {
                patient: patient.map(|p| p.parse().expect("test number")),
                login: login.map(str::to_string),
                from_ms: from,
                to_ms: to,
                after: None,
                limit: 100,
                scan_max: 1000,
            }
        };
        let seqs = |q: AuditQuery| -> Vec<u64> {
            store
                .search_audit(&q)
                .expect("search")
                .entries
                .iter()
                .map(|(s, _)| *s)
                .collect()
        };
        assert_eq!(
            seqs(q(Some(PATIENT), None, None, None)),
            [0, 2, 4, 6, 8, 10]
        );
        assert_eq!(seqs(q(Some(OTHER), None, None, None)), [1, 3, 5, 7, 9]);
        assert_eq!(seqs(q(None, Some("kim"), None, None)), [10]);
        assert_eq!(
            seqs(q(Some(PATIENT), Some("anna"), None, None)),
            [0, 2, 4, 6, 8]
        );
        assert_eq!(
            seqs(q(None, None, Some(1_003_000), Some(1_006_000))),
            [3, 4, 5]
        );
        assert_eq!(
            seqs(q(Some(OTHER), None, Some(1_003_000), Some(1_006_000))),
            [3, 5]
        );
        // Pages of two, each after the last of the one before.
        let mut got = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let page = store
                .search_audit(&AuditQuery {
                    after,
                    limit: 2,
                    ..q(Some(PATIENT), None, None, None)
                })
                .expect("search");
            got.extend(page.entries.iter().map(|(s, _)| *s));
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(got, [0, 2, 4, 6, 8, 10]);
        // A bounded scan says where to go on.
        let page = store
            .search_audit(&AuditQuery {
                scan_max: 3,
                ..q(Some(PATIENT), Some("kim"), None, None)
            })
            .expect("search");
        assert!(page.entries.is_empty());
        assert_eq!(page.next, Some((1_004_000, 4)));
    }

    #[test]
    fn an_entry_naming_many_patients_is_stored_as_several_in_one_chain() {
        let (_dir, store) = store_with(1);
        let n = crate::limits::AUDIT_PATIENTS_PER_ENTRY * 2 + 1;
        // Reservnummer: local numbers, no one's personnummer.
        let patients: Vec<PatientId> = (0..n)
            .map(|i| {
                format!("R:SE2321000081:TEST{i:05}")
                    .parse()
                    .expect("reservnummer")
            })
            .collect();
        let mut e = entry(1, "anna", PATIENT);
        e.patients = patients.clone();
        e.detail = "x".repeat(10_000);
        assert_eq!(store.append_audit(&e).expect("append"), 3);
        let all: Vec<_> = store
            .audit_entries(1)
            .map(|e| e.expect("reads").1)
            .collect();
        assert_eq!(all.len(), 3);
        let back: Vec<PatientId> = all.iter().flat_map(|e| e.patients.clone()).collect();
        assert_eq!(back, patients);
        assert_eq!(
            all[0].detail.chars().count(),
            crate::limits::AUDIT_DETAIL_CHARS_MAX
        );
        assert_eq!(store.verify_audit().expect("verify").first_break, None);
    }
}
