//! The data directory's format version and the upgrades between versions.
//!
//! `DIR/format` says which layout of the directory and its store a node left there:
//!
//! ```text
//! reservnod data format 3
//! written by reservnod 0.1.0
//! ```
//!
//! A file beside the store rather than a key inside it, so that a binary reads it without
//! opening the database (an older one must refuse a newer store before touching it, and
//! `backup` and `doctor` read it as it is). A directory without the file was made before
//! it existed: format 1. Opening a store of an older format first copies the store as it
//! is into `DIR/upgrade-backups/`, then runs each step up to [`FORMAT`], then writes the
//! file; a step interrupted halfway runs again at the next open (every step is written to
//! be run again). A newer format is refused with one line naming the version it needs.

use std::path::{Path, PathBuf};

use crate::files::keyfile::{self, FileError};
use crate::store::{Store, StoreError};

/// The data format this binary writes.
pub const FORMAT: u32 = 3;

/// The file holding it, in the data directory.
pub const FORMAT_FILE: &str = "format";

/// Where the store is copied before an upgrade, in the data directory.
pub const UPGRADE_BACKUPS: &str = "upgrade-backups";

/// This binary's version, as the format file and the refusal name it.
pub const BINARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One upgrade: from format `to - 1` to `to`.
struct Step {
    to: u32,
    what: &'static str,
    run: fn(&Store) -> Result<(), StoreError>,
}

/// Every upgrade, in order. A change of the directory's layout or of the store's keys adds
/// a step here and raises [`FORMAT`].
const STEPS: &[Step] = &[Step {
    to: 2,
    what:
        "arrival index for incremental bundle exports; quarantine of events that no longer verify",
    run: |store| {
        let n = store.build_arrival_index()?;
        tracing::info!(
            events = n,
            "upgrade: arrival index built for existing events"
        );
        Ok(())
    },
}, Step {
    to: 3,
    what: "access log as a hash chain (PROTOCOL.md §12): the entries before it kept as they are, as an unchained prefix the first link covers, and indexed for the log reviewer",
    run: |store| {
        let n = store.index_unchained_audit()?;
        tracing::info!(
            entries = n,
            "upgrade: access log entries from before the chain indexed"
        );
        Ok(())
    },
}];

const _: () = assert!(STEPS[STEPS.len() - 1].to == FORMAT);

/// What the format file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatRecord {
    /// The format.
    pub format: u32,
    /// The version of the binary that wrote it, if it said.
    pub written_by: Option<String>,
}

/// Why a directory's format is not one this binary can use.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Made by a newer binary.
    #[error(
        "{dir} has data format {found} (written by reservnod {by}); this reservnod {BINARY_VERSION} reads format {FORMAT} at most: install reservnod {by} or newer"
    )]
    TooNew {
        /// The data directory.
        dir: PathBuf,
        /// Its format.
        found: u32,
        /// The binary that wrote it (or "a newer version").
        by: String,
    },
    /// The file does not say a format.
    #[error("{path}: not a data format record (expected `reservnod data format N`)")]
    Unreadable {
        /// The format file.
        path: PathBuf,
    },
    /// A file problem.
    #[error(transparent)]
    File(#[from] FileError),
    /// Copying the store before an upgrade.
    #[error("cannot copy the store to {path} before upgrading it (nothing was changed): {cause}")]
    Backup {
        /// Where it was being copied.
        path: PathBuf,
        /// Why not (said in the message, so not also a source).
        cause: std::io::Error,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the format of the data directory at `root` (1 when it has no format file).
pub fn read(root: &Path) -> Result<FormatRecord, FormatError> {
    let path = root.join(FORMAT_FILE);
    if !path.exists() {
        return Ok(FormatRecord {
            format: 1,
            written_by: None,
        });
    }
    let bytes = keyfile::read_bounded(&path, 1024)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let format = lines
        .next()
        .and_then(|l| l.strip_prefix("reservnod data format "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| FormatError::Unreadable { path: path.clone() })?;
    let written_by = lines
        .next()
        .and_then(|l| l.strip_prefix("written by reservnod "))
        .map(|v| v.trim().to_string());
    Ok(FormatRecord { format, written_by })
}

/// Writes this binary's format into the data directory at `root` (atomically).
pub fn write(root: &Path) -> Result<(), FormatError> {
    let text = format!("reservnod data format {FORMAT}\nwritten by reservnod {BINARY_VERSION}\n");
    keyfile::write_public(&root.join(FORMAT_FILE), text.as_bytes())?;
    Ok(())
}

/// Writes a given format (a restored backup's, so that its first open upgrades it).
pub fn write_as(root: &Path, format: u32, written_by: &str) -> Result<(), FormatError> {
    // From a backup's header: only what a version number may hold.
    let written_by: String = written_by
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        .take(64)
        .collect();
    let text = format!("reservnod data format {format}\nwritten by reservnod {written_by}\n");
    keyfile::write_public(&root.join(FORMAT_FILE), text.as_bytes())?;
    Ok(())
}

/// Refuses a format newer than this binary's.
pub fn check_not_newer(root: &Path) -> Result<FormatRecord, FormatError> {
    let found = read(root)?;
    if found.format > FORMAT {
        return Err(FormatError::TooNew {
            dir: root.to_path_buf(),
            found: found.format,
            by: found
                .written_by
                .clone()
                .unwrap_or_else(|| "a newer version".into()),
        });
    }
    Ok(found)
}

/// Opens the store of the data directory at `root` (store in `store_dir`), upgrading an
/// older format first: the store's files are copied as they are (under its lock, before the
/// database is opened) into `root/upgrade-backups/format-N-<ms>/`, then each step runs,
/// then the format file is written.
pub fn open_store(root: &Path, store_dir: &Path) -> Result<Store, FormatError> {
    let found = check_not_newer(root)?;
    let lock = Store::lock(store_dir)?;
    if found.format == FORMAT {
        return Ok(lock.open()?);
    }
    let backup = root.join(UPGRADE_BACKUPS).join(format!(
        "format-{}-{}",
        found.format,
        crate::clock::now_ms()
    ));
    copy_store(lock.dir(), &backup).map_err(|cause| FormatError::Backup {
        path: backup.clone(),
        cause,
    })?;
    tracing::info!(
        from = found.format,
        to = FORMAT,
        backup = %backup.display(),
        "upgrade: data directory copied before upgrading"
    );
    let store = lock.open()?;
    for step in STEPS.iter().filter(|s| s.to > found.format) {
        tracing::info!(to = step.to, what = step.what, "upgrade: step");
        (step.run)(&store)?;
    }
    store.flush()?;
    write(root)?;
    tracing::info!(format = FORMAT, "upgrade: data directory upgraded");
    Ok(store)
}

/// Copies the store's files (everything but its lock file) to `to`, owner-only.
fn copy_store(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = to.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let result = copy_dir(from, to);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(to);
    }
    result
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if name == "LOCK" {
            continue;
        }
        let target = to.join(&name);
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    // The copy is on disk before the original is changed.
    std::fs::File::open(to)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_is_format_1_and_a_written_file_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("read").format, 1);
        write(dir.path()).expect("write");
        let r = read(dir.path()).expect("read");
        assert_eq!(r.format, FORMAT);
        assert_eq!(r.written_by.as_deref(), Some(BINARY_VERSION));
    }

    #[test]
    fn a_newer_format_is_refused_in_one_line_naming_the_version_it_needs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(FORMAT_FILE),
            format!(
                "reservnod data format {}\nwritten by reservnod 9.4.0\n",
                FORMAT + 1
            ),
        )
        .expect("write");
        let e = check_not_newer(dir.path())
            .expect_err("refused")
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("install reservnod 9.4.0 or newer"), "{e}");
        assert!(e.contains(&format!("format {}", FORMAT + 1)), "{e}");
        // Nothing was made: not even a store directory.
        assert!(open_store(dir.path(), &dir.path().join("store")).is_err());
        assert!(!dir.path().join("store").exists());
    }

    #[test]
    fn garbage_in_the_format_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FORMAT_FILE), "hello\n").expect("write");
        assert!(matches!(
            read(dir.path()),
            Err(FormatError::Unreadable { .. })
        ));
    }
}
