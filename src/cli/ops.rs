//! IT's commands for keeping a node: `backup` and `restore`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::args::{BackupArgs, RestoreArgs};
use crate::care::api::{Person, Reply, Request};
use crate::files::keyfile;

#[derive(Serialize)]
struct BackupReport {
    file: String,
    entries: u64,
    bytes: u64,
    with_keys: bool,
}

/// `reservnod backup FILE`: the node that holds the store (the running daemon, or this
/// command when none runs) writes a consistent copy into its data directory's `backups/`,
/// then it is moved to FILE.
pub fn backup(args: BackupArgs) -> Result<ExitCode> {
    if args.file.exists() {
        bail!(
            "{} finns redan: välj ett nytt filnamn (en säkerhetskopia skrivs aldrig över)",
            args.file.display()
        );
    }
    let reply = super::care::ask(
        &args.data.data_dir,
        Person {
            login: args.login.clone(),
            ..Person::default()
        },
        Request::Backup {
            with_keys: args.with_keys,
        },
    )?;
    let Reply::BackupMade(made) = reply else {
        bail!("noden svarade med något annat än en säkerhetskopia");
    };
    move_out(Path::new(&made.path), &args.file)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&BackupReport {
                file: args.file.display().to_string(),
                entries: made.entries,
                bytes: made.bytes,
                with_keys: made.with_keys,
            })?
        );
    } else {
        println!(
            "Säkerhetskopia: {} ({} poster, {:.1} MB)",
            args.file.display(),
            made.entries,
            made.bytes as f64 / 1e6
        );
    }
    if made.with_keys {
        eprintln!(
            "varning: filen innehåller nodens och enhetens hemliga nycklar: förvara den som nycklarna (bara åtkomlig för IT, aldrig på en delad disk)"
        );
    } else {
        eprintln!(
            "obs: nycklarna är inte med: en återställning behöver enhetens nyckelfil (--unit-key) och ger noden ett nytt nod-id som administratören släpper in"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Moves the node's file to `to` (a rename, or a copy made durable when `to` is on another
/// file system), owner-only, never over an existing file.
fn move_out(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        std::fs::remove_file(from)
            .with_context(|| format!("kunde inte ta bort {}", from.display()))?;
        keyfile::sync_parent_dir(to)
            .with_context(|| format!("kunde inte skriva {}", to.display()))?;
        return Ok(());
    }
    let result = (|| -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .with_context(|| format!("kunde inte skapa {}", to.display()))?;
        let mut input = std::fs::File::open(from)
            .with_context(|| format!("kunde inte läsa {}", from.display()))?;
        std::io::copy(&mut input, &mut out)
            .with_context(|| format!("kunde inte skriva {}", to.display()))?;
        out.sync_all()
            .with_context(|| format!("kunde inte skriva {}", to.display()))?;
        keyfile::sync_parent_dir(to)
            .with_context(|| format!("kunde inte skriva {}", to.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    let _ = std::fs::remove_file(from);
    result
}

#[derive(Serialize)]
struct RestoreReport {
    data_dir: String,
    node_id: String,
    new_node_key: bool,
    events: u64,
    entries: u64,
    backup_made_ms: u64,
}

/// `reservnod restore FILE --data-dir DIR`.
pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let unit_key = match &args.unit_key {
        None => None,
        Some(p) => Some(
            keyfile::read_secret(p).with_context(|| format!("kunde inte läsa {}", p.display()))?,
        ),
    };
    let dir = &args.data.data_dir;
    let r = crate::files::backup::restore(&args.file, dir, unit_key.as_deref().map(|s| s.as_str()))
        .with_context(|| format!("kunde inte återställa {}", args.file.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&RestoreReport {
                data_dir: dir.display().to_string(),
                node_id: r.node.to_string(),
                new_node_key: !r.header.with_keys,
                events: r.events,
                entries: r.entries,
                backup_made_ms: r.header.created_ms,
            })?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Återställd i {}: {} händelser från säkerhetskopian gjord {}.",
        dir.display(),
        r.events,
        crate::clock::format_ms_utc(r.header.created_ms)
    );
    println!("Nod-id: {}", r.node);
    if !r.header.with_keys {
        println!(
            "Noden har fått en ny nodnyckel. Be administratören släppa in den:\n  reservnod admin node add --node-id {} --unit {} --name …\noch installera den nya rostern med `reservnod node install-roster`.",
            r.node, r.header.unit
        );
    }
    println!(
        "Starta noden (systemctl start reservnod): den hämtar det som skrivits efter säkerhetskopian från grannarna."
    );
    Ok(ExitCode::SUCCESS)
}
