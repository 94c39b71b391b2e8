//! Bundles: events carried as a file (a laptop, a USB stick) when no network is left.
//!
//! ```text
//! "RSVNBND1"                          8 bytes, magic
//! u32 BE length, header               codec-encoded BundleHeader
//! { u32 BE length, signed event }*    codec-encoded SignedEvent, one per record
//! u32 BE 0, u64 BE record count       end marker: a file cut short is detected
//! ```
//! Importing hands the records in bounded batches to the node's ingest pipeline, which
//! verifies every event exactly as for the network (signature, structure, an admitted author
//! writing for its own unit), stores durably and writes the Delivered receipts they cause, so
//! importing the same file twice stores nothing the second time, and a damaged record
//! changes nothing. This module knows the file format only.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use reservnod_proto::codec;
use reservnod_proto::{Hlc, HsaId, NodeId, SignedEvent};
use serde::{Deserialize, Serialize};

use crate::limits::{BUNDLE_HEADER_BYTES_MAX, BUNDLE_IMPORT_BATCH, BUNDLE_RECORD_BYTES_MAX};
use crate::store::{Store, StoreError};

const MAGIC: &[u8; 8] = b"RSVNBND1";
/// The bundle format this code writes and reads.
pub const BUNDLE_FORMAT: u16 = 1;

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a bundle at all.
    #[error("not a reservnod bundle (wrong magic bytes)")]
    NotABundle,
    /// A bundle of a format this node does not read.
    #[error("bundle format {0} is not supported")]
    UnsupportedFormat(u16),
    /// A record or the header is damaged.
    #[error("damaged bundle: {0}")]
    Damaged(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who made a bundle and what it covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleHeader {
    /// [`BUNDLE_FORMAT`].
    pub format: u16,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
    /// The node that made it.
    pub node: NodeId,
    /// Its unit.
    pub unit: HsaId,
    /// Events that arrived at the exporting node from this time on (`wall_ms`; `logical`
    /// is 0), or all.
    pub since: Option<Hlc>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Events read from the file.
    pub read: u64,
    /// Newly stored.
    pub new: u64,
    /// Already present.
    pub duplicates: u64,
    /// Refused (forged, tampered, unknown or revoked author), with the first reasons.
    pub refused: u64,
    /// The first few refusal reasons.
    pub refusal_reasons: Vec<String>,
    /// Whether the file ended properly (false: cut short; what was read was still imported).
    pub complete: bool,
}

fn write_record(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("record too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

/// Writes every stored event that arrived here at or after `since` to `path`, in order of
/// arrival, (atomically: a temporary file
/// synced, renamed into place, and its directory synced). `progress` is called with (events written, events in the store).
pub fn export(
    store: &Store,
    header: BundleHeader,
    path: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<ExportSummary, BundleError> {
    let total = store.stats()?.events;
    let tmp = path.with_extension("rsvb.tmp");
    let file = std::fs::File::create(&tmp)?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    out.write_all(MAGIC)?;
    let head = codec::encode::<_, BUNDLE_HEADER_BYTES_MAX>(&header)
        .map_err(|e| BundleError::Damaged(e.to_string()))?;
    write_record(&mut out, &head)?;
    // By arrival here, not by the author's time: an event that came late (a carrier, a
    // healed link) is in the next incremental export.
    let from = header.since.map_or(0, |h| h.wall_ms);
    let mut events = 0u64;
    let mut bytes = (MAGIC.len() + 4 + head.len()) as u64;
    for item in store.iter_by_arrival(from) {
        let (_, id) = item?;
        let Some(se) = store.get(&id)? else { continue };
        let record = codec::encode::<_, BUNDLE_RECORD_BYTES_MAX>(&se)
            .map_err(|e| BundleError::Damaged(e.to_string()))?;
        write_record(&mut out, &record)?;
        events += 1;
        bytes += 4 + record.len() as u64;
        if events.is_multiple_of(500) {
            progress(events, total);
        }
    }
    out.write_all(&0u32.to_be_bytes())?;
    out.write_all(&events.to_be_bytes())?;
    bytes += 12;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    // Without this the rename may still be only in memory when the stick is pulled.
    crate::files::keyfile::sync_parent_dir(path)?;
    progress(events, total);
    Ok(ExportSummary { events, bytes })
}

/// Reads a bundle's header.
pub fn read_header(input: &mut impl Read) -> Result<BundleHeader, BundleError> {
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| BundleError::NotABundle)?;
    if &magic != MAGIC {
        return Err(BundleError::NotABundle);
    }
    let head = read_record(input, BUNDLE_HEADER_BYTES_MAX)?
        .ok_or_else(|| BundleError::Damaged("no header".into()))?;
    let format: u16 =
        codec::decode_prefix(&head).map_err(|e| BundleError::Damaged(e.to_string()))?;
    if format != BUNDLE_FORMAT {
        return Err(BundleError::UnsupportedFormat(format));
    }
    codec::decode::<_, BUNDLE_HEADER_BYTES_MAX>(&head)
        .map_err(|e| BundleError::Damaged(format!("header: {e}")))
}

/// One record, `None` at the end marker. The length is checked before anything is read.
fn read_record(input: &mut impl Read, max: usize) -> Result<Option<Vec<u8>>, BundleError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > max {
        return Err(BundleError::Damaged(format!(
            "a record of {len} bytes is over the limit of {max}"
        )));
    }
    let mut buf = vec![0u8; len];
    input.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// What the node did with one batch of a bundle's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Newly stored.
    pub new: u64,
    /// Already present.
    pub duplicates: u64,
    /// Why each refused event was refused.
    pub refused: Vec<String>,
}

/// Imports a bundle: hands its events to `take` (the node's ingest pipeline) in batches of
/// at most [`BUNDLE_IMPORT_BATCH`]. Streams: memory holds one batch. `progress` is called
/// with (bytes read, file size).
pub fn import(
    path: &Path,
    mut take: impl FnMut(Vec<SignedEvent>) -> Result<Taken, StoreError>,
    mut progress: impl FnMut(u64, u64),
) -> Result<(BundleHeader, ImportSummary), BundleError> {
    let size = std::fs::metadata(path)?.len();
    let file = std::fs::File::open(path)?;
    let mut counted = CountingReader {
        inner: BufReader::with_capacity(256 * 1024, file),
        read: 0,
    };
    let header = read_header(&mut counted)?;
    let mut summary = ImportSummary::default();
    let mut batch: Vec<SignedEvent> = Vec::with_capacity(BUNDLE_IMPORT_BATCH);
    let mut flush =
        |batch: &mut Vec<SignedEvent>, summary: &mut ImportSummary| -> Result<(), BundleError> {
            if batch.is_empty() {
                return Ok(());
            }
            let taken = take(std::mem::take(batch))?;
            summary.new += taken.new;
            summary.duplicates += taken.duplicates;
            summary.refused += taken.refused.len() as u64;
            for r in taken
                .refused
                .into_iter()
                .take(5usize.saturating_sub(summary.refusal_reasons.len()))
            {
                summary.refusal_reasons.push(r);
            }
            Ok(())
        };
    loop {
        let record = match read_record(&mut counted, BUNDLE_RECORD_BYTES_MAX) {
            Ok(Some(r)) => r,
            Ok(None) => {
                let mut count = [0u8; 8];
                summary.complete = counted.read_exact(&mut count).is_ok()
                    && u64::from_be_bytes(count) == summary.read;
                break;
            }
            // Cut short: keep what was read (each event stands on its own signature).
            Err(BundleError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            // A damaged length: the records after it cannot be found. Keep what was read
            // and say the file is incomplete, rather than fail after storing part of it.
            Err(BundleError::Damaged(reason)) => {
                summary.refused += 1;
                if summary.refusal_reasons.len() < 5 {
                    summary.refusal_reasons.push(reason);
                }
                break;
            }
            Err(e) => {
                flush(&mut batch, &mut summary)?;
                return Err(e);
            }
        };
        summary.read += 1;
        match codec::decode::<SignedEvent, BUNDLE_RECORD_BYTES_MAX>(&record) {
            Ok(se) => batch.push(se),
            Err(e) => {
                summary.refused += 1;
                if summary.refusal_reasons.len() < 5 {
                    summary.refusal_reasons.push(format!("damaged record: {e}"));
                }
            }
        }
        if batch.len() >= BUNDLE_IMPORT_BATCH {
            flush(&mut batch, &mut summary)?;
            progress(counted.read, size);
        }
    }
    flush(&mut batch, &mut summary)?;
    progress(counted.read, size);
    Ok((header, summary))
}

struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}
