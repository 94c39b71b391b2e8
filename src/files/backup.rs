//! Backups of a node's data directory, and restoring one onto a fresh box.
//!
//! ```text
//! "RSVNBAK1"                          8 bytes, magic
//! u32 BE length, header               codec-encoded BackupHeader
//! { u32 BE length, record }*          codec-encoded Record: the directory's files first
//!                                     (roster, trusted admin key, the keys only when asked),
//!                                     then every entry of every store tree
//! u32 BE 0, u64 BE record count,      end marker: a file cut short is detected
//! 32 bytes BLAKE3 of all bytes before a damaged one too
//! ```
//!
//! The store's part is one point in time ([`Store::snapshot`] holds the store's write lock
//! while it runs), so every event acknowledged before the backup began is in it, with its
//! indices, the audit log and the node's own bookkeeping. A restore checks the whole file
//! (the digest) and every event (it must hash to its key) and writes only into an empty
//! directory; a refusal leaves the directory empty. The node then catches up from its peers
//! on what was written after the backup, by reconciliation as after any outage.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use reservnod_proto::codec;
use reservnod_proto::limits::{EVENT_BYTES_MAX, ROSTER_BYTES_MAX};
use reservnod_proto::{HsaId, NodeId, SignedRoster};
use serde::{Deserialize, Serialize};

use crate::files::datadir::{DataDir, DataDirError};
use crate::files::format::{self, FormatError, FORMAT};
use crate::files::keyfile::{self, FileError};
use crate::store::{Store, StoreError};

const MAGIC: &[u8; 8] = b"RSVNBAK1";
/// The backup file format this code writes and reads.
pub const BACKUP_FORMAT: u16 = 1;
/// Where a running node writes a backup before the CLI copies it out, in the data directory
/// (the only place the packaged daemon may write).
pub const BACKUPS_DIR: &str = "backups";
/// Most bytes of one record: an event or a quarantined one with its reason, or a file.
const RECORD_BYTES_MAX: usize = EVENT_BYTES_MAX + ROSTER_BYTES_MAX + 16 * 1024;
const HEADER_BYTES_MAX: usize = 4096;

/// The data directory's files a backup carries, and whether each is secret.
const FILES: &[(&str, bool)] = &[
    ("roster.rsv", false),
    ("trusted-admin", false),
    ("node.key", true),
    ("unit.key", true),
];

/// Why a backup could not be written or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file error.
    #[error("{what} {path}: {cause}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error (said in the message, so not also a source).
        cause: std::io::Error,
    },
    /// Not a backup at all.
    #[error("not a reservnod backup (wrong magic bytes)")]
    NotABackup,
    /// A backup of a format this binary does not read.
    #[error("backup format {0} is not supported by this reservnod")]
    UnsupportedFormat(u16),
    /// The backup holds a data directory newer than this binary reads.
    #[error(
        "the backup holds data format {found} (reservnod {by}); this reservnod reads format {FORMAT} at most: install reservnod {by} or newer"
    )]
    TooNew {
        /// Its data format.
        found: u32,
        /// The version that wrote it.
        by: String,
    },
    /// Cut short or changed.
    #[error("damaged backup: {0}")]
    Damaged(String),
    /// The restore target already holds something.
    #[error("{0} is not empty: a backup is restored only into an empty or new directory")]
    NotEmpty(PathBuf),
    /// A backup without keys needs the unit key.
    #[error("the backup holds no keys (made without --with-keys): give the unit's key file with --unit-key")]
    NeedsUnitKey,
    /// A key file given with a backup that has keys.
    #[error("the backup holds the node's keys already: leave out --unit-key")]
    HasKeys,
    /// A file problem.
    #[error(transparent)]
    File(#[from] FileError),
    /// The data directory.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The format record.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who made a backup and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupHeader {
    /// [`BACKUP_FORMAT`].
    pub format: u16,
    /// The data format of the directory it holds.
    pub data_format: u32,
    /// The reservnod version that made it.
    pub written_by: String,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
    /// The node.
    pub node: NodeId,
    /// Its unit.
    pub unit: HsaId,
    /// Whether the node's and the unit's secret keys are in it.
    pub with_keys: bool,
}

#[derive(Debug, Serialize, Deserialize)]
enum Record {
    File {
        name: String,
        bytes: Vec<u8>,
    },
    Entry {
        tree: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

/// What a backup holds (written or read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// Where it was written (or read from).
    pub path: PathBuf,
    /// Its header.
    pub header: BackupHeader,
    /// Store entries in it.
    pub entries: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

/// A writer that hashes what it writes.
struct Hashing<W: Write> {
    inner: W,
    hash: blake3::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_record<W: Write>(out: &mut W, record: &Record) -> std::io::Result<()> {
    let bytes = codec::encode::<_, RECORD_BYTES_MAX>(record)
        .map_err(|e| std::io::Error::other(format!("cannot encode a record: {e}")))?;
    out.write_all(&(bytes.len() as u32).to_be_bytes())?;
    out.write_all(&bytes)
}

/// Writes a backup of the data directory `dir`, whose store `store` is open (by the running
/// node or by this command), to `path` (atomically: a temporary file renamed when complete).
pub fn write(
    dir: &DataDir,
    store: &Store,
    path: &Path,
    with_keys: bool,
    now_ms: u64,
) -> Result<BackupSummary, BackupError> {
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |cause| BackupError::Io {
            what,
            path: p.clone(),
            cause,
        }
    };
    let header = BackupHeader {
        format: BACKUP_FORMAT,
        data_format: format::read(dir.root())?.format,
        written_by: format::BINARY_VERSION.to_string(),
        created_ms: now_ms,
        node: dir.node_key()?.id(),
        unit: dir.unit_key()?.unit().clone(),
        with_keys,
    };
    let tmp = path.with_extension("part");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    // Owner-only: with or without keys it holds the audit log and sealed patient data.
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot set the mode of", &tmp))?;
    }
    let result = (|| -> Result<(u64, u64), BackupError> {
        let mut out = Hashing {
            inner: BufWriter::new(&file),
            hash: blake3::Hasher::new(),
            bytes: 0,
        };
        let w = io("cannot write", &tmp);
        out.write_all(MAGIC).map_err(&w)?;
        let h = codec::encode::<_, HEADER_BYTES_MAX>(&header)
            .map_err(|e| BackupError::Damaged(format!("header: {e}")))?;
        out.write_all(&(h.len() as u32).to_be_bytes()).map_err(&w)?;
        out.write_all(&h).map_err(&w)?;
        let mut count = 0u64;
        for (name, secret) in FILES {
            if *secret && !with_keys {
                continue;
            }
            let p = dir.root().join(name);
            if !p.exists() {
                continue;
            }
            let bytes = if *secret {
                keyfile::read_secret(&p)?.as_bytes().to_vec()
            } else {
                keyfile::read_bounded(&p, ROSTER_BYTES_MAX + 1024)?
            };
            write_record(
                &mut out,
                &Record::File {
                    name: (*name).to_string(),
                    bytes,
                },
            )
            .map_err(&w)?;
            count += 1;
        }
        let entries = store.snapshot(&mut |tree, key, value| {
            write_record(
                &mut out,
                &Record::Entry {
                    tree: tree.to_string(),
                    key: key.to_vec(),
                    value: value.to_vec(),
                },
            )
        })?;
        count += entries;
        out.write_all(&0u32.to_be_bytes()).map_err(&w)?;
        out.write_all(&count.to_be_bytes()).map_err(&w)?;
        let digest = out.hash.finalize();
        out.inner.write_all(digest.as_bytes()).map_err(&w)?;
        out.inner.flush().map_err(&w)?;
        Ok((entries, out.bytes + 32))
    })();
    let (entries, bytes) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    file.sync_all().map_err(io("cannot sync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename to", path))?;
    keyfile::sync_parent_dir(path).map_err(io("cannot sync the directory of", path))?;
    Ok(BackupSummary {
        path: path.to_path_buf(),
        header,
        entries,
        bytes,
    })
}

/// Where a node writes a backup it is asked for, in its data directory.
pub fn staging_path(dir: &DataDir, now_ms: u64) -> Result<PathBuf, BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    let d = dir.root().join(BACKUPS_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .map_err(|cause| BackupError::Io {
            what: "cannot create",
            path: d.clone(),
            cause,
        })?;
    Ok(d.join(format!("backup-{now_ms}.rsvbak")))
}

/// Reads a backup through its records, checking the digest at the end.
struct Reader<R: Read> {
    inner: R,
    hash: blake3::Hasher,
    count: u64,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BackupError::Damaged("the file is cut short".into())
            } else {
                BackupError::Damaged(e.to_string())
            }
        })?;
        self.hash.update(buf);
        Ok(())
    }

    fn header(&mut self) -> Result<BackupHeader, BackupError> {
        let mut magic = [0u8; 8];
        self.exact(&mut magic)
            .map_err(|_| BackupError::NotABackup)?;
        if &magic != MAGIC {
            return Err(BackupError::NotABackup);
        }
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > HEADER_BYTES_MAX {
            return Err(BackupError::Damaged("header too long".into()));
        }
        let mut h = vec![0u8; len];
        self.exact(&mut h)?;
        let header: BackupHeader = codec::decode::<_, HEADER_BYTES_MAX>(&h)
            .map_err(|e| BackupError::Damaged(format!("header: {e}")))?;
        if header.format != BACKUP_FORMAT {
            return Err(BackupError::UnsupportedFormat(header.format));
        }
        Ok(header)
    }

    /// The next record, or None at the end marker (whose count and digest are checked).
    fn next(&mut self) -> Result<Option<Record>, BackupError> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            let mut count = [0u8; 8];
            self.exact(&mut count)?;
            let expected = self.hash.finalize();
            let mut digest = [0u8; 32];
            self.inner
                .read_exact(&mut digest)
                .map_err(|_| BackupError::Damaged("the file is cut short".into()))?;
            if u64::from_be_bytes(count) != self.count || digest != *expected.as_bytes() {
                return Err(BackupError::Damaged(
                    "its checksum does not match (changed or copied wrongly)".into(),
                ));
            }
            let mut rest = [0u8; 1];
            if self.inner.read(&mut rest).unwrap_or(0) != 0 {
                return Err(BackupError::Damaged("bytes after the end".into()));
            }
            return Ok(None);
        }
        if len > RECORD_BYTES_MAX {
            return Err(BackupError::Damaged(format!("a record of {len} bytes")));
        }
        let mut buf = vec![0u8; len];
        self.exact(&mut buf)?;
        self.count += 1;
        codec::decode::<_, RECORD_BYTES_MAX>(&buf)
            .map(Some)
            .map_err(|e| BackupError::Damaged(format!("record {}: {e}", self.count)))
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// The backup's header.
    pub header: BackupHeader,
    /// The node id of the restored directory (the backup's, or a new one without keys).
    pub node: NodeId,
    /// Store entries loaded.
    pub entries: u64,
    /// Events now in the store.
    pub events: u64,
}

/// Restores the backup at `file` into `root`, which must be empty or absent. A backup made
/// without keys needs `unit_key_text` (the admin's unit key file) and gives the node a new
/// key, so a new node id the admin admits. Any refusal leaves `root` empty.
pub fn restore(
    file: &Path,
    root: &Path,
    unit_key_text: Option<&str>,
) -> Result<Restored, BackupError> {
    let existed = root.exists();
    if existed {
        let mut entries = std::fs::read_dir(root).map_err(|cause| BackupError::Io {
            what: "cannot read",
            path: root.to_path_buf(),
            cause,
        })?;
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(root.to_path_buf()));
        }
    }
    let f = std::fs::File::open(file).map_err(|cause| BackupError::Io {
        what: "cannot open",
        path: file.to_path_buf(),
        cause,
    })?;
    let result = restore_into(BufReader::new(f), root, unit_key_text);
    if result.is_err() {
        // Back to empty (an existing directory keeps its owner and mode).
        if existed {
            if let Ok(entries) = std::fs::read_dir(root) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(root);
        }
    }
    result
}

fn restore_into<R: Read>(
    input: R,
    root: &Path,
    unit_key_text: Option<&str>,
) -> Result<Restored, BackupError> {
    let mut r = Reader {
        inner: input,
        hash: blake3::Hasher::new(),
        count: 0,
    };
    let header = r.header()?;
    if header.data_format > FORMAT {
        return Err(BackupError::TooNew {
            found: header.data_format,
            by: header.written_by.clone(),
        });
    }
    match (header.with_keys, unit_key_text) {
        (false, None) => return Err(BackupError::NeedsUnitKey),
        (true, Some(_)) => return Err(BackupError::HasKeys),
        _ => {}
    }
    let dir = DataDir::new(root);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut store: Option<Store> = None;
    let mut entries = 0u64;
    while let Some(record) = r.next()? {
        match record {
            Record::File { name, bytes } => {
                if store.is_some() || !FILES.iter().any(|(n, _)| *n == name) {
                    return Err(BackupError::Damaged(format!("unexpected file {name:?}")));
                }
                files.push((name, bytes));
            }
            Record::Entry { tree, key, value } => {
                let s = match &mut store {
                    Some(s) => s,
                    None => store.insert(set_up(&dir, &header, &files, unit_key_text)?),
                };
                s.restore_entry(&tree, &key, &value)?;
                entries += 1;
            }
        }
    }
    let store = match store {
        Some(s) => s,
        None => set_up(&dir, &header, &files, unit_key_text)?,
    };
    store.flush()?;
    let events = store.stats()?.events;
    drop(store);
    Ok(Restored {
        node: dir.node_key()?.id(),
        header,
        entries,
        events,
    })
}

/// Writes the directory's files from the backup (or sets up a new node key with the given
/// unit key) and opens its new, empty store.
fn set_up(
    dir: &DataDir,
    header: &BackupHeader,
    files: &[(String, Vec<u8>)],
    unit_key_text: Option<&str>,
) -> Result<Store, BackupError> {
    let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
    let roster_bytes =
        file("roster.rsv").ok_or_else(|| BackupError::Damaged("no roster in it".into()))?;
    let signed = SignedRoster::from_file_bytes(roster_bytes)
        .map_err(|e| BackupError::Damaged(format!("its roster: {e}")))?;
    match unit_key_text {
        Some(text) => {
            // A new node key, as `node init` makes one, with the backup's roster.
            dir.init(text, Some(&signed))?;
            if let Some(admin) = file("trusted-admin") {
                let pinned = keyfile::read_bounded(&dir.root().join("trusted-admin"), 1024)?;
                if &pinned != admin {
                    return Err(BackupError::Damaged(
                        "its roster is not signed by the admin key it trusts".into(),
                    ));
                }
            }
        }
        None => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir.root())
                .map_err(|cause| BackupError::Io {
                    what: "cannot create",
                    path: dir.root().to_path_buf(),
                    cause,
                })?;
            for (name, secret) in FILES {
                let Some(bytes) = file(name) else {
                    if *secret {
                        return Err(BackupError::Damaged(format!("no {name} in it")));
                    }
                    continue;
                };
                let p = dir.root().join(name);
                if *secret {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| BackupError::Damaged(format!("{name} is not text")))?;
                    keyfile::write_secret(&p, text)?;
                } else {
                    keyfile::write_public(&p, bytes)?;
                }
            }
            // The keys and roster read back as the node will read them.
            dir.node_key()?;
            dir.unit_key()?;
            dir.roster()?;
        }
    }
    format::write_as(dir.root(), header.data_format, &header.written_by)?;
    Ok(Store::open(&dir.root().join("store"))?)
}
