//! `reservnod export`: a patient's or an outage's export (FHIR R4, JSON or HTML) from the node, written to
//! a new file only its owner can read (it holds patient data), synced before it is said to
//! be written.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

use super::args::ExportArgs;
use super::care::ask;
use crate::care::api::{ExportRequest, Person, Reply, Request};

/// Asks the node for the export, then writes it to `--out`, refusing an existing file.
pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let me = Person {
        name: args.author.clone().unwrap_or_default(),
        login: args.login.clone(),
        ..Person::default()
    };
    let path = &args.out;
    // Made before asking, so a path that cannot be written changes nothing (no export
    // logged for a file that never was).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow!("kunde inte skapa {}: {e}", path.display()))?;
    let reply = ask(
        &args.data.data_dir,
        me,
        Request::Export(ExportRequest {
            patient: args.patient.clone().unwrap_or_default(),
            format: args.format.clone(),
            outage: args.outage.clone(),
        }),
    );
    let x = match reply {
        Ok(Reply::Exported(x)) => x,
        other => {
            // Nothing to keep: the empty file would look like an export.
            let _ = std::fs::remove_file(path);
            match other {
                Err(e) => return Err(e),
                Ok(_) => bail!("oväntat svar från noden"),
            }
        }
    };
    let written = file
        .write_all(x.content.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        bail!("kunde inte skriva {}: {e}", path.display());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "path": path.display().to_string(),
                "format": x.format,
                "patients": x.patients,
                "events": x.events,
                "bytes": x.content.len(),
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} händelser om {} exporterade som {} till {} ({} byte)",
            x.events,
            x.patients.join(", "),
            x.format,
            path.display(),
            x.content.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
