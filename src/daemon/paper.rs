//! The paper fallback (issue 13 §4): while an outage is declared, every
//! `paper.every_minutes` the node writes the active patients' sheet — the same printout as
//! the web interface's /utskrift/aktiva, made by `care::api` — to `paper.dir`, so that if
//! the node itself fails, the newest sheet is there to open from disk and print.
//!
//! The sheet is one file, [`SHEET_FILE`], replaced atomically (a temporary file in the
//! same folder, synced, renamed over it, the folder synced), so whoever opens it sees the
//! previous sheet or the new one, never half of one. It is 0640: it holds patient data,
//! and the folder's group is whom IT lets read it. Each write is in the access log as
//! printed (`Print`, by the node itself, naming every patient on it), written by
//! `care::api` before the file is made. The stylesheet is inlined: a file opened from disk
//! has no interface to fetch it from, and the interface's CSP does not apply to it.

use std::path::{Path, PathBuf};

use crate::care::api::{self, ApiError, Caller, CareNode, PrintRequest, Reply, Request};
use crate::files::keyfile::{self, FileError};

/// The sheet's file name in `paper.dir`.
pub const SHEET_FILE: &str = "aktiva-patienter.html";

/// Whether the sheet is due now: while an outage is declared.
pub type PaperDue = fn(&dyn CareNode) -> bool;

/// The condition the daemon runs the writer under: an outage in force at this node.
pub fn outage_declared(node: &dyn CareNode) -> bool {
    api::outage_in_force(node)
}

/// Why a sheet was not written.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// The node refused or could not make the sheet.
    #[error("the active patients' sheet could not be made: {0}")]
    Api(#[from] ApiError),
    /// The folder or the file.
    #[error("the paper sheet could not be written: {0}")]
    File(#[from] FileError),
    /// The folder could not be made.
    #[error("the paper folder {path} could not be made: {cause}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The error (said in the message, so not also a source).
        cause: std::io::Error,
    },
    /// An answer that is not a printout.
    #[error("the node answered the print request with something else")]
    Unexpected,
}

/// The sheet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetWritten {
    /// The file.
    pub path: PathBuf,
    /// How many patients are on it.
    pub patients: usize,
}

/// Writes the sheet to `dir` when `due` says so; `None` when it is not due.
pub fn write_if_due(
    node: &dyn CareNode,
    dir: &Path,
    due: PaperDue,
) -> Result<Option<SheetWritten>, PaperError> {
    if !due(node) {
        return Ok(None);
    }
    write_sheet(node, dir).map(Some)
}

/// Asks the node for the active patients' printout (logged as printed by the node itself)
/// and replaces `dir`/[`SHEET_FILE`] with it atomically.
pub fn write_sheet(node: &dyn CareNode, dir: &Path) -> Result<SheetWritten, PaperError> {
    make_folder(dir)?;
    let caller = Caller::node_itself("pappersreserv");
    let printed = match api::handle(node, &caller, Request::Print(PrintRequest::Active {}))? {
        Reply::Printed(p) => p,
        _ => return Err(PaperError::Unexpected),
    };
    let path = dir.join(SHEET_FILE);
    keyfile::write_group_readable(&path, printed.standalone().as_bytes())?;
    Ok(SheetWritten {
        path,
        patients: printed.patients.len(),
    })
}

/// The folder, made 0750 if it is missing (an existing one is IT's, left as it is).
fn make_folder(dir: &Path) -> Result<(), PaperError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(|cause| PaperError::Folder {
            path: dir.to_path_buf(),
            cause,
        })
}
