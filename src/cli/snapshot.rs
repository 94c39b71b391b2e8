//! `reservnod snapshot import FILE`: reads the file and hands its text to the node, which
//! checks every row; prints what was imported and each bad row (line, field, reason).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};

use super::args::SnapshotImportArgs;
use super::care::ask;
use crate::care::api::{Person, Reply, Request, SnapshotImportRequest};
use crate::files::snapshot::SNAPSHOT_BYTES_MAX;

/// Imports the file; exit code 1 when a bad row stopped the import or was skipped.
pub fn import(args: SnapshotImportArgs) -> Result<ExitCode> {
    let me = Person {
        name: args.author.clone().unwrap_or_default(),
        login: args.login.clone(),
        ..Person::default()
    };
    let path = &args.file;
    let size = std::fs::metadata(path)
        .map_err(|e| anyhow!("kunde inte läsa {}: {e}", path.display()))?
        .len();
    if size > SNAPSHOT_BYTES_MAX as u64 {
        bail!(
            "{} är större än {SNAPSHOT_BYTES_MAX} byte: dela upp ögonblicksbilden per enhet",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("kunde inte läsa {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow!("{} är inte UTF-8-text", path.display()))?;
    let reply = ask(
        &args.data.data_dir,
        me,
        Request::SnapshotImport(SnapshotImportRequest {
            text,
            skip_bad_rows: args.skip_bad_rows,
        }),
    )?;
    let Reply::SnapshotImported(r) = reply else {
        bail!("oväntat svar från noden");
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &r)?;
        writeln!(out)?;
    } else {
        for b in &r.bad {
            let field = if b.field.is_empty() {
                String::new()
            } else {
                format!(", fält {}", b.field)
            };
            writeln!(out, "rad {}{field}: {}", b.line, b.reason)?;
        }
        if r.written || r.bad.is_empty() || args.skip_bad_rows {
            let mut newer = String::new();
            if r.updated > 0 {
                newer.push_str(&format!(
                    ", {} uppdaterade från en nyare ögonblicksbild",
                    r.updated
                ));
            }
            if r.older > 0 {
                newer.push_str(&format!(
                    ", {} äldre än ögonblicksbilden som redan finns (inte importerade)",
                    r.older
                ));
            }
            writeln!(
                out,
                "{} vårdkedjor importerade{newer}, {} fanns redan, {} gäller andra enheter{} ({} rader, {})",
                r.imported,
                r.already,
                r.other_units,
                if r.bad.is_empty() {
                    String::new()
                } else {
                    format!(", {} felaktiga rader hoppades över", r.bad.len())
                },
                r.rows,
                r.form
            )?;
        } else {
            writeln!(
                out,
                "Ingenting importerades: {} felaktiga rader. Rätta filen, eller importera de andra raderna med --skip-bad-rows.",
                r.bad.len()
            )?;
        }
    }
    Ok(if r.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
