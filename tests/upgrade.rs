//! The data directory's format across a real change: a directory written by an old binary
//! (tests/fixtures/format1, made by its make.sh with commit 4cc294c: no format file, a store
//! without the arrival index) is copied aside, then upgraded by today's binary; a directory
//! of a newer format than this binary's is refused in one line and left as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reservnod::files::datadir::DataDir;
use reservnod::files::format::{self, FORMAT, FORMAT_FILE, UPGRADE_BACKUPS};
use reservnod::store::Store;

fn reservnod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .output()
        .expect("run reservnod")
}

/// The fixture's data directory, unpacked into `tmp`.
fn format1_dir(tmp: &Path) -> PathBuf {
    let tarball =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1/format1.tar.gz");
    let out = Command::new("tar")
        .arg("-C")
        .arg(tmp)
        .arg("-xzf")
        .arg(&tarball)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmp.join("node")
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join(UPGRADE_BACKUPS)) {
        Err(_) => Vec::new(),
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
    }
}

#[test]
fn an_old_directory_is_copied_aside_then_upgraded_and_keeps_everything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = format1_dir(tmp.path());
    assert!(!dir.join(FORMAT_FILE).exists(), "the fixture is format 1");
    assert_eq!(format::read(&dir).expect("format").format, 1);

    let (events, audit, arrival) = {
        let store = DataDir::new(&dir).open_store().expect("upgraded");
        let stats = store.stats().expect("stats");
        let arrival = store.iter_by_arrival(0).count() as u64;
        // The old binary's access log is kept as an unchained prefix: read as it was,
        // found by the reviewer's index, and the chain begins after it.
        let report = store.verify_audit().expect("verify");
        assert_eq!(
            (report.unchained, report.chained, report.first_break),
            (stats.audit_entries, 0, None)
        );
        let all: Vec<_> = store
            .audit_entries(0)
            .collect::<Result<_, _>>()
            .expect("every old entry reads");
        assert_eq!(all.len() as u64, stats.audit_entries);
        let page = store
            .search_audit(&reservnod::store::AuditQuery {
                limit: 1000,
                scan_max: 1000,
                ..Default::default()
            })
            .expect("search");
        assert_eq!(page.entries.len() as u64, stats.audit_entries);
        let first = &all[0].1;
        let next = store
            .append_audit(&reservnod::store::AuditEntry::new(
                first.at_ms + 1,
                first.node,
                reservnod::store::AuditAction::LogVerified,
                "efter uppgraderingen",
            ))
            .expect("append");
        assert_eq!(next, stats.audit_entries);
        let report = store.verify_audit().expect("verify");
        assert_eq!((report.chained, report.first_break), (1, None));
        (stats.events, stats.audit_entries, arrival)
    };
    // Three messages and the node's set-up and writes in the audit log, as the old binary
    // left them.
    assert!(events >= 3, "{events}");
    assert!(audit >= 4, "{audit}");
    // The upgrade step ran: every event is in the arrival index (the old store had none).
    assert_eq!(arrival, events);
    assert_eq!(format::read(&dir).expect("format").format, FORMAT);

    // The copy is the store as the old binary left it: the same events, no arrival index.
    let copies = backups(&dir);
    assert_eq!(copies.len(), 1, "{copies:?}");
    let name = copies[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(name.starts_with("format-1-"), "{name}");
    {
        let copy = Store::open(&copies[0]).expect("the copy opens");
        assert_eq!(copy.stats().expect("stats").events, events);
        assert_eq!(copy.iter_by_arrival(0).count(), 0);
    }

    // The CLI reads the upgraded directory, and a second open upgrades nothing.
    let out = reservnod(&[
        "status",
        "--json",
        "--data-dir",
        dir.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["events"], events);
    assert_eq!(v["audit_entries"], audit + 1);
    assert_eq!(backups(&dir).len(), 1);
}

#[test]
fn a_newer_directory_is_refused_in_one_line_and_left_as_it_was() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = format1_dir(tmp.path());
    let newer = format!(
        "reservnod data format {}\nwritten by reservnod 7.3.0\n",
        FORMAT + 1
    );
    std::fs::write(dir.join(FORMAT_FILE), &newer).expect("write");
    let before = std::fs::read(dir.join("store/db/db")).expect("db");

    let out = reservnod(&["status", "--data-dir", dir.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("data format {}", FORMAT + 1))
            && err.contains("install reservnod 7.3.0 or newer"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(FORMAT_FILE)).expect("read"),
        newer
    );
    assert_eq!(std::fs::read(dir.join("store/db/db")).expect("db"), before);
    assert!(backups(&dir).is_empty());
}

#[test]
fn a_new_directory_is_made_at_this_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = format1_dir(tmp.path());
    // A node set up today writes the format at init (here: the upgraded fixture's unit key).
    let fresh = tmp.path().join("fresh");
    let unit_key = std::fs::read_to_string(dir.join("unit.key")).expect("unit key");
    DataDir::new(&fresh).init(&unit_key, None).expect("init");
    let r = format::read(&fresh).expect("format");
    assert_eq!(r.format, FORMAT);
    assert_eq!(r.written_by.as_deref(), Some(format::BINARY_VERSION));
    drop(DataDir::new(&fresh).open_store().expect("open"));
    assert!(backups(&fresh).is_empty());
}
