//! Key and roster files on disk.
//!
//! Secret key files are created with owner-only permissions (0600) and never overwritten;
//! reading one that others can read is refused, as ssh does, because a unit key opens the
//! unit's patient data. Every file is written to a temporary name, synced, and renamed, so a
//! crash leaves either the old file or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why a file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Refusing to replace an existing secret.
    #[error("{0} already exists; refusing to overwrite a key")]
    Exists(PathBuf),
    /// A secret file is readable or writable by others.
    #[error("{path} is accessible by others (mode {mode:o}); run: chmod 600 {path}")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Any other I/O error.
    #[error("{what} {path}: {cause}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error (said in the message, so not also a source).
        cause: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        what,
        path: path.to_path_buf(),
        cause: source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("cannot create", &tmp))?;
        // The mode given to open is masked by the umask; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("cannot set permissions on", &tmp))?;
        f.write_all(bytes).map_err(io("cannot write", &tmp))?;
        f.sync_all().map_err(io("cannot sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("cannot rename into", path))?;
        if let Ok(d) = File::open(dir) {
            // Best effort: makes the rename itself durable on file systems that need it.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Syncs the directory holding `path`, so a rename into it survives a power cut or a pulled
/// USB stick. A file system that cannot sync directories (it says so with `InvalidInput` or
/// `Unsupported`) is taken as it is; any other failure is an error.
pub fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match File::open(dir)?.sync_all() {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Writes a new secret file (0600). Refuses if the file exists.
pub fn write_secret(path: &Path, text: &str) -> Result<(), FileError> {
    if path.exists() {
        return Err(FileError::Exists(path.to_path_buf()));
    }
    write_atomic(path, text.as_bytes(), 0o600)
}

/// Reads a secret file, refusing one that others can access.
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, FileError> {
    let meta = fs::metadata(path).map_err(io("cannot read", path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(io("cannot read", path))?;
    Ok(Zeroizing::new(text))
}

/// Writes (or replaces) a public file such as a roster, atomically (0644).
pub fn write_public(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic(path, bytes, 0o644)
}

/// Writes (or replaces) a file for the owner and its group only (0640), atomically: a
/// reader sees the old file or the new one, never part of one.
pub fn write_group_readable(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic(path, bytes, 0o640)
}

/// Reads a whole file, refusing one larger than `max` bytes.
pub fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, FileError> {
    let len = fs::metadata(path).map_err(io("cannot read", path))?.len();
    if len > max as u64 {
        return Err(FileError::Io {
            what: "too large to be a reservnod file",
            path: path.to_path_buf(),
            cause: std::io::Error::other(format!("{len} bytes, limit {max}")),
        });
    }
    fs::read(path).map_err(io("cannot read", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("node.key");
        write_secret(&p, "secret").expect("write");
        assert_eq!(
            fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            write_secret(&p, "other"),
            Err(FileError::Exists(_))
        ));
        assert_eq!(read_secret(&p).expect("read").as_str(), "secret");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read_secret(&p).expect_err("too open");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}
