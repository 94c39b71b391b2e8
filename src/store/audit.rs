//! The audit log's entries and the hash chain that makes it tamper-evident (PROTOCOL.md
//! §12): what an entry records, how a link is hashed, and the walk that checks the chain.
//! Pure: the sled trees the entries live in are [`super::Store`]'s; this module sees keys
//! and values only.
//!
//! Each stored entry is a [`ChainRecord`]: its sequence number, the hash of the entry
//! before it, its own hash, and the entry's encoded bytes. The hash is
//! `BLAKE3-derive-key(LINK_CONTEXT, seq as 8 bytes big-endian ‖ prev (32 bytes) ‖ entry
//! bytes)`. The first chained entry's `prev` is the hash of everything logged before the
//! chain existed (the unchained prefix of a store from before this format, or nothing):
//! `BLAKE3-derive-key(PREFIX_CONTEXT, for each old entry: seq ‖ length as 8 bytes ‖ its
//! stored bytes)`, so the old entries are kept as they were and changing them afterwards
//! breaks the first link.

use reservnod_proto::codec;
use reservnod_proto::{EventId, HsaId, NodeId, PatientId};
use serde::{Deserialize, Serialize};

use crate::limits::{
    AUDIT_CLIENT_CHARS_MAX, AUDIT_DETAIL_CHARS_MAX, AUDIT_ENTRY_BYTES_MAX, AUDIT_LOGIN_CHARS_MAX,
    AUDIT_NAME_CHARS_MAX, AUDIT_PATIENTS_PER_ENTRY,
};

/// The BLAKE3 key-derivation context of a link's hash.
pub const LINK_CONTEXT: &str = "reservnod 2026-12-02 audit chain link v1";
/// The BLAKE3 key-derivation context of the hash of the unchained prefix.
pub const PREFIX_CONTEXT: &str = "reservnod 2026-12-02 audit unchained prefix v1";

/// What an audit entry records. The Swedish words are those of HSLF-FS 2016:40 4 kap.
/// (läst, ändrat/upprättat, utskrivet, utlämnat/kopierat). New actions go at the end: the
/// stored form is the variant's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A person read patient data.
    Read,
    /// A person wrote (created or changed) patient data.
    Write,
    /// Data was exported (a file, a copy).
    Export,
    /// The node was set up.
    NodeInitialised,
    /// A roster was installed.
    RosterInstalled,
    /// Events were imported from a file.
    Import,
    /// Patient data was printed.
    Print,
    /// Someone logged in.
    Login,
    /// A login was refused.
    LoginRefused,
    /// Someone logged out, or a session ended.
    Logout,
    /// An account was added or changed.
    AccountChanged,
    /// The access log was searched or shown.
    LogViewed,
    /// The access log was exported.
    LogExported,
    /// The access log's chain was checked.
    LogVerified,
    /// Event bodies were purged under a purge decision (gallring), or an event a decision
    /// already covered was taken in without its body.
    Purged,
}

impl AuditAction {
    /// Every action, in stored order.
    pub const ALL: [AuditAction; 15] = [
        AuditAction::Read,
        AuditAction::Write,
        AuditAction::Export,
        AuditAction::NodeInitialised,
        AuditAction::RosterInstalled,
        AuditAction::Import,
        AuditAction::Print,
        AuditAction::Login,
        AuditAction::LoginRefused,
        AuditAction::Logout,
        AuditAction::AccountChanged,
        AuditAction::LogViewed,
        AuditAction::LogExported,
        AuditAction::LogVerified,
        AuditAction::Purged,
    ];

    /// The Swedish word shown to a log reviewer.
    pub fn as_str_sv(self) -> &'static str {
        match self {
            AuditAction::Read => "läst",
            AuditAction::Write => "skrivet",
            AuditAction::Export => "utlämnat",
            AuditAction::NodeInitialised => "nod upprättad",
            AuditAction::RosterInstalled => "register installerat",
            AuditAction::Import => "inläst från fil",
            AuditAction::Print => "utskrivet",
            AuditAction::Login => "inloggning",
            AuditAction::LoginRefused => "inloggning nekad",
            AuditAction::Logout => "utloggning",
            AuditAction::AccountChanged => "konto ändrat",
            AuditAction::LogViewed => "loggen visad",
            AuditAction::LogExported => "loggen exporterad",
            AuditAction::LogVerified => "loggen kontrollerad",
            AuditAction::Purged => "gallrat",
        }
    }
}

/// One entry of the access log (Patientdatalagen 4 kap. 3 §, HSLF-FS 2016:40 4 kap. 9 a §):
/// what was done, at which unit and node, when, by whom and from where, about which
/// patients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, ms since the epoch (the node's clock).
    pub at_ms: u64,
    /// The node where it happened.
    pub node: NodeId,
    /// The unit the node serves.
    pub unit: Option<HsaId>,
    /// Who: the account's login, if a person logged in (or typed one at the console).
    pub login: Option<String>,
    /// Who: the person's name as on documents, when known.
    pub name: Option<String>,
    /// From which client address (the web client's), when not at the node itself.
    pub client: Option<String>,
    /// Which way in (`cli`, `socket`, `web`).
    pub via: Option<String>,
    /// What.
    pub action: AuditAction,
    /// About which patients, when known (an inbox lists several).
    pub patients: Vec<PatientId>,
    /// Which event, if one.
    pub event: Option<EventId>,
    /// Free text for people.
    pub detail: String,
}

impl AuditEntry {
    /// An entry with the required fields and nothing else.
    pub fn new(at_ms: u64, node: NodeId, action: AuditAction, detail: impl Into<String>) -> Self {
        AuditEntry {
            at_ms,
            node,
            unit: None,
            login: None,
            name: None,
            client: None,
            via: None,
            action,
            patients: Vec::new(),
            event: None,
            detail: detail.into(),
        }
    }

    /// Whether the entry is about `patient`.
    pub fn names(&self, patient: &PatientId) -> bool {
        self.patients.contains(patient)
    }

    /// The entry with every text cut to its bound, so an entry always fits
    /// [`AUDIT_ENTRY_BYTES_MAX`] with up to [`AUDIT_PATIENTS_PER_ENTRY`] patients.
    pub(super) fn bounded(mut self) -> Self {
        fn cut(s: &mut String, max: usize) {
            if let Some((i, _)) = s.char_indices().nth(max) {
                s.truncate(i);
            }
        }
        for (s, max) in [
            (&mut self.login, AUDIT_LOGIN_CHARS_MAX),
            (&mut self.name, AUDIT_NAME_CHARS_MAX),
            (&mut self.client, AUDIT_CLIENT_CHARS_MAX),
            (&mut self.via, AUDIT_CLIENT_CHARS_MAX),
        ] {
            if let Some(s) = s {
                cut(s, max);
            }
        }
        cut(&mut self.detail, AUDIT_DETAIL_CHARS_MAX);
        self
    }

    /// The entry as stored entries: the same entry once per [`AUDIT_PATIENTS_PER_ENTRY`]
    /// patients (one entry if it has none).
    pub(super) fn split(self) -> Vec<AuditEntry> {
        let e = self.bounded();
        if e.patients.len() <= AUDIT_PATIENTS_PER_ENTRY {
            return vec![e];
        }
        e.patients
            .chunks(AUDIT_PATIENTS_PER_ENTRY)
            .map(|chunk| AuditEntry {
                patients: chunk.to_vec(),
                ..e.clone()
            })
            .collect()
    }
}

/// An entry as stores before the chain wrote it (the unchained prefix).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UnchainedEntry {
    at_ms: u64,
    node: NodeId,
    unit: Option<HsaId>,
    user: Option<String>,
    action: AuditAction,
    patient: Option<PatientId>,
    event: Option<EventId>,
    detail: String,
}

impl From<UnchainedEntry> for AuditEntry {
    fn from(old: UnchainedEntry) -> AuditEntry {
        AuditEntry {
            at_ms: old.at_ms,
            node: old.node,
            unit: old.unit,
            login: old.user,
            name: None,
            client: None,
            via: None,
            action: old.action,
            patients: old.patient.into_iter().collect(),
            event: old.event,
            detail: old.detail,
        }
    }
}

/// Reads an entry of the unchained prefix.
pub(super) fn decode_unchained(bytes: &[u8]) -> Result<AuditEntry, codec::CodecError> {
    codec::decode::<UnchainedEntry, UNCHAINED_ENTRY_BYTES_MAX>(bytes).map(AuditEntry::from)
}

/// Most bytes of an entry of the unchained prefix (the old format's bound).
const UNCHAINED_ENTRY_BYTES_MAX: usize = 8 * 1024;

/// One stored link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ChainRecord {
    /// Its sequence number (also its key: a record moved to another key no longer matches).
    pub seq: u64,
    /// The hash of the record before it (or of the unchained prefix, for the first).
    pub prev: [u8; 32],
    /// [`link_hash`] of `seq`, `prev` and `entry`.
    pub hash: [u8; 32],
    /// The encoded [`AuditEntry`].
    pub entry: Vec<u8>,
}

/// Most bytes of a stored record.
pub(super) const RECORD_BYTES_MAX: usize = AUDIT_ENTRY_BYTES_MAX + 128;

impl ChainRecord {
    /// The record of `entry` at `seq` after `prev`.
    pub(super) fn new(
        seq: u64,
        prev: [u8; 32],
        entry: &AuditEntry,
    ) -> Result<ChainRecord, codec::CodecError> {
        let entry = codec::encode::<_, AUDIT_ENTRY_BYTES_MAX>(entry)?;
        Ok(ChainRecord {
            seq,
            prev,
            hash: link_hash(seq, &prev, &entry),
            entry,
        })
    }

    pub(super) fn encode(&self) -> Result<Vec<u8>, codec::CodecError> {
        codec::encode::<_, RECORD_BYTES_MAX>(self)
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<ChainRecord, codec::CodecError> {
        codec::decode::<_, RECORD_BYTES_MAX>(bytes)
    }

    /// The entry it holds.
    pub(super) fn entry(&self) -> Result<AuditEntry, codec::CodecError> {
        codec::decode::<_, AUDIT_ENTRY_BYTES_MAX>(&self.entry)
    }
}

/// The hash of one link.
pub fn link_hash(seq: u64, prev: &[u8; 32], entry: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(LINK_CONTEXT);
    h.update(&seq.to_be_bytes());
    h.update(prev);
    h.update(entry);
    *h.finalize().as_bytes()
}

/// Hashes the unchained prefix, entry by entry in order.
pub(super) struct PrefixHasher(blake3::Hasher);

impl PrefixHasher {
    pub(super) fn new() -> Self {
        PrefixHasher(blake3::Hasher::new_derive_key(PREFIX_CONTEXT))
    }
    pub(super) fn add(&mut self, seq: u64, stored: &[u8]) {
        self.0.update(&seq.to_be_bytes());
        self.0.update(&(stored.len() as u64).to_be_bytes());
        self.0.update(stored);
    }
    pub(super) fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The chain's head, stored beside the records and written in the same batch as each:
/// the last sequence number and its hash (so entries removed from the end show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl Head {
    pub(super) fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..].copy_from_slice(&self.hash);
        b
    }
    pub(super) fn decode(b: &[u8]) -> Option<Head> {
        let b: &[u8; 40] = b.try_into().ok()?;
        Some(Head {
            seq: u64::from_be_bytes(b[..8].try_into().ok()?),
            hash: b[8..].try_into().ok()?,
        })
    }
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Entries from before the chain (sequence 0 up to the first chained one).
    pub unchained: u64,
    /// Chained entries walked.
    pub chained: u64,
    /// Chained entries whose link holds but whose content this version cannot read.
    pub unreadable: u64,
    /// The first broken link, if any.
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    /// Every entry, chained or not.
    pub fn entries(&self) -> u64 {
        self.unchained + self.chained
    }
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The sequence number of the first entry that does not check out.
    pub seq: u64,
    /// The time of that entry if it can be read, else of the last one before it that
    /// checked out.
    pub at_ms: Option<u64>,
    /// Whether `at_ms` is the broken entry's own time.
    pub own_time: bool,
    /// What is wrong.
    pub kind: BreakKind,
}

/// What is wrong at a break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BreakKind {
    /// The entry's content is not what was hashed.
    Altered,
    /// The entries `seq` up to `until` (exclusive) are missing.
    Missing {
        /// The first sequence number present again.
        until: u64,
    },
    /// The entry stored under this number was written as another.
    Moved {
        /// The number it was written as.
        written_as: u64,
    },
    /// The entry does not link to the one before it (that one was changed or replaced).
    LinkBroken,
    /// The stored record does not decode.
    Unreadable,
    /// The unchained entries (0 to `seq`, exclusive) changed after the chain began.
    PrefixChanged,
    /// The chain's head does not name the last entry: entries were removed from the end
    /// (the head names a later one), or the head is missing or damaged.
    HeadMismatch {
        /// The last sequence number the head names, if it reads.
        head: Option<u64>,
    },
}

/// Walks the chain. `prefix` is the hash of the unchained entries as they are now and
/// `first_seq` the number the chain starts at (one past the last unchained entry);
/// `records` the stored records in key order, each with the sequence number of its key;
/// `head` the stored head's bytes.
pub(super) fn walk<E>(
    unchained: u64,
    first_seq: u64,
    prefix: [u8; 32],
    records: impl Iterator<Item = Result<(u64, Vec<u8>), E>>,
    head: Option<&[u8]>,
) -> Result<ChainReport, E> {
    let mut report = ChainReport {
        unchained,
        chained: 0,
        unreadable: 0,
        first_break: None,
    };
    let mut expected_seq = first_seq;
    let mut expected_prev = prefix;
    let mut first = true;
    let mut last_good_ms: Option<u64> = None;
    for item in records {
        let (key_seq, value) = item?;
        report.chained += 1;
        let found = ChainRecord::decode(&value);
        let entry = found.as_ref().ok().and_then(|r| r.entry().ok());
        let own_ms = entry.as_ref().map(|e| e.at_ms);
        let problem = match &found {
            Err(_) => Some(BreakKind::Unreadable),
            Ok(r) if r.seq != key_seq => Some(BreakKind::Moved { written_as: r.seq }),
            Ok(_) if key_seq != expected_seq => Some(BreakKind::Missing { until: key_seq }),
            Ok(r) if link_hash(r.seq, &r.prev, &r.entry) != r.hash => Some(BreakKind::Altered),
            Ok(r) if r.prev != expected_prev && first => Some(BreakKind::PrefixChanged),
            Ok(r) if r.prev != expected_prev => Some(BreakKind::LinkBroken),
            Ok(_) => None,
        };
        if let (Some(kind), None) = (problem, &report.first_break) {
            let missing = matches!(kind, BreakKind::Missing { .. });
            let own = own_ms.is_some() && !missing;
            report.first_break = Some(ChainBreak {
                seq: if missing { expected_seq } else { key_seq },
                at_ms: if own { own_ms } else { last_good_ms },
                own_time: own,
                kind,
            });
        }
        if let Ok(r) = &found {
            if entry.is_none() {
                report.unreadable += 1;
            }
            expected_prev = r.hash;
        }
        if report.first_break.is_none() {
            last_good_ms = own_ms.or(last_good_ms);
        }
        expected_seq = key_seq.saturating_add(1);
        first = false;
    }
    if report.first_break.is_none() {
        let head = head.map(Head::decode);
        let holds = match head {
            // No entry was ever chained.
            None => first,
            Some(Some(h)) => {
                !first && h.seq.saturating_add(1) == expected_seq && h.hash == expected_prev
            }
            Some(None) => false,
        };
        if !holds {
            report.first_break = Some(ChainBreak {
                seq: expected_seq,
                at_ms: last_good_ms,
                own_time: false,
                kind: BreakKind::HeadMismatch {
                    head: head.flatten().map(|h| h.seq),
                },
            });
        }
    }
    Ok(report)
}

/// An entry in the format of the unchained log, for tests of stores from before the chain.
#[cfg(test)]
pub(super) fn encode_unchained(e: &AuditEntry) -> Vec<u8> {
    codec::encode::<_, UNCHAINED_ENTRY_BYTES_MAX>(&UnchainedEntry {
        at_ms: e.at_ms,
        node: e.node,
        unit: e.unit.clone(),
        user: e.login.clone(),
        action: e.action,
        patient: e.patients.first().cloned(),
        event: e.event,
        detail: e.detail.clone(),
    })
    .expect("a small entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of a link as PROTOCOL.md §12.2 gives it: a change to what is hashed (or to
    /// the context) changes these values and breaks every stored chain.
    #[test]
    fn link_and_prefix_hashes_are_as_documented() {
        let hex = |b: [u8; 32]| data_encoding::HEXLOWER.encode(&b);
        assert_eq!(
            hex(link_hash(0, &[0u8; 32], b"abc")),
            "c63df6ad915d687590b238ad5446dddec4d5bc4183ca7469f4817d1f23507e84"
        );
        assert_eq!(
            hex(PrefixHasher::new().finish()),
            "9bcf5e7f98afa76e5835ed733086c4b344ba4afc88c7a689ea147d5253446de5"
        );
        let mut h = PrefixHasher::new();
        h.add(0, b"abc");
        assert_eq!(
            hex(h.finish()),
            "cd54e2bc65456bd2c67c03d208fc7fa258adf7706a3d0aafc9848ff8937d4dd7"
        );
    }
}
