//! `reservnod backup` and `restore`: a backup taken from a running node while it is being
//! written to holds every event acknowledged before the backup began, and the node restored
//! from it onto a fresh directory catches up from its peer on what came after; a backup
//! without keys is restored only with the unit key and gives a new node id; a non-empty
//! directory, a file without keys and no key file, and a damaged file are refused and
//! leave the target empty.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reservnod::files::datadir::DataDir;
use reservnod_proto::{EventId, Hlc, Priority};
use support::{bind, clinical_event, region, start_node};

fn reservnod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .output()
        .expect("run reservnod")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn is_empty_or_absent(p: &Path) -> bool {
    !p.exists() || std::fs::read_dir(p).expect("read dir").next().is_none()
}

/// Polls `pred` every 100 ms for at most `limit`.
async fn wait_until(limit: Duration, what: &str, pred: impl Fn() -> bool) {
    let start = Instant::now();
    while !pred() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_holds_all_acknowledged_before_it_and_the_restored_node_catches_up(
) {
    let r = region(2, 0);
    let (a_dir, b_dir) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());
    let (sa, aa) = bind();
    let (sb, ab) = bind();
    let a = start_node(&a_dir, sa, aa, &[ab]).await;
    let b = start_node(&b_dir, sb, ab, &[aa]).await;

    // A writer on A, recording each event once its write has been acknowledged (durable).
    let acked: Arc<Mutex<Vec<EventId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (handle, acked, stop) = (a.handle.clone(), acked.clone(), stop.clone());
        let (dir, roster, to) = (
            a_dir.clone(),
            r.admin.roster.clone(),
            r.nodes[1].unit.clone(),
        );
        tokio::spawn(async move {
            for i in 0..20_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let e = clinical_event(
                    &dir,
                    &roster,
                    std::slice::from_ref(&to),
                    &format!("meddelande {i}"),
                    handle.tick(),
                    Priority::Normal,
                );
                let id = e.id();
                let outcome = handle.write(vec![e]).await.expect("write");
                assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
                acked.lock().expect("lock").push(id);
            }
        })
    };
    wait_until(Duration::from_secs(60), "40 writes acknowledged", || {
        acked.lock().expect("lock").len() >= 40
    })
    .await;

    // Everything acknowledged before the backup starts must be in it.
    let before: Vec<EventId> = acked.lock().expect("lock").clone();
    let file = r.root.path().join("a.rsvbak");
    let out = {
        let (dir, file) = (a_dir.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            reservnod(&["backup", "--with-keys", "--data-dir", s(&dir), s(&file)])
        })
        .await
        .expect("join")
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hemliga nycklar"),
        "a backup with keys warns: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let during = acked.lock().expect("lock").len();
    assert!(
        during > before.len(),
        "writes were acknowledged while the backup ran ({} before, {during} after)",
        before.len()
    );
    // Writes went on after it, too.
    wait_until(Duration::from_secs(60), "30 more writes", || {
        acked.lock().expect("lock").len() >= during + 30
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let all: Vec<EventId> = acked.lock().expect("lock").clone();
    assert!(before.len() >= 40 && all.len() > before.len());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(
        is_empty_or_absent(&a_dir.join(reservnod::files::backup::BACKUPS_DIR)),
        "the node's copy was moved out"
    );

    // B has everything A wrote; then A's box is lost.
    wait_until(Duration::from_secs(120), "B has all of A's events", || {
        all.iter().all(|id| b.handle.has(id))
    })
    .await;
    a.stop().await;

    // Restored onto a fresh directory: everything acknowledged before the backup is there.
    let restored = r.root.path().join("restored");
    let out = reservnod(&["restore", "--data-dir", s(&restored), s(&file)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let store = DataDir::new(&restored)
            .open_store()
            .expect("restored store");
        let missing: Vec<_> = before
            .iter()
            .filter(|id| !store.contains(id).expect("contains"))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} missing",
            missing.len(),
            before.len()
        );
        assert!(
            store
                .audit_entries(0)
                .map(|e| e.expect("entry").1)
                .any(|e| e.detail.contains("säkerhetskopia med")),
            "the backup is in the audit log it holds"
        );
    }
    assert_eq!(
        DataDir::new(&restored).node_key().expect("key").id(),
        r.nodes[0].id,
        "with keys, the same node"
    );

    // The restored node catches up from B on what was written after the backup.
    let (sr, ar) = bind();
    let restored_node = start_node(&restored, sr, ar, &[ab]).await;
    wait_until(
        Duration::from_secs(120),
        "the restored node has every event A acknowledged",
        || all.iter().all(|id| restored_node.handle.has(id)),
    )
    .await;
    restored_node.stop().await;
    b.stop().await;
}

#[test]
fn a_backup_without_keys_needs_the_unit_key_and_refusals_leave_the_target_empty() {
    let r = region(1, 0);
    let dir = r.nodes[0].dir.clone();
    let events: Vec<_> = (0..25u64)
        .map(|i| {
            clinical_event(
                &dir,
                &r.admin.roster,
                std::slice::from_ref(&r.nodes[0].unit),
                &format!("meddelande {i}"),
                Hlc {
                    wall_ms: 1_795_435_200_000 + i,
                    logical: 0,
                },
                Priority::Normal,
            )
        })
        .collect();
    {
        let store = DataDir::new(&dir).open_store().expect("store");
        let verified: Vec<_> = events.iter().map(|e| e.verify().expect("verify")).collect();
        store.insert(&verified).expect("insert");
    }

    // No daemon runs: the command writes it itself.
    let file = r.root.path().join("nokeys.rsvbak");
    let out = reservnod(&["backup", "--data-dir", s(&dir), s(&file)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nycklarna är inte med"));
    let bytes = std::fs::read(&file).expect("read");
    let node_key = std::fs::read(dir.join("node.key")).expect("key");
    let unit_key = std::fs::read(dir.join("unit.key")).expect("key");
    for secret in [&node_key, &unit_key] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
            "no key in a backup made without --with-keys"
        );
    }
    // Never over an existing file.
    let again = reservnod(&["backup", "--data-dir", s(&dir), s(&file)]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read(&file).expect("read"), bytes);

    let target = r.root.path().join("target");
    let refused = |args: &[&str], what: &str| {
        let out = reservnod(args);
        assert_eq!(out.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            is_empty_or_absent(&target),
            "{what}: the target is left empty"
        );
        err.to_string()
    };
    let err = refused(
        &["restore", "--data-dir", s(&target), s(&file)],
        "no unit key",
    );
    assert!(err.contains("--unit-key"), "{err}");

    let unit_key_file = r
        .root
        .path()
        .join(format!("admin/units/{}.key", r.nodes[0].unit));
    assert!(unit_key_file.exists(), "{}", unit_key_file.display());
    // A damaged file: one byte changed in the middle.
    let damaged = r.root.path().join("damaged.rsvbak");
    let mut d = bytes.clone();
    let mid = d.len() / 2;
    d[mid] ^= 0x40;
    std::fs::write(&damaged, &d).expect("write");
    let err = refused(
        &[
            "restore",
            "--data-dir",
            s(&target),
            "--unit-key",
            s(&unit_key_file),
            s(&damaged),
        ],
        "damaged",
    );
    assert!(err.contains("damaged") || err.contains("skadad"), "{err}");
    // Cut short.
    std::fs::write(&damaged, &bytes[..bytes.len() - 40]).expect("write");
    refused(
        &[
            "restore",
            "--data-dir",
            s(&target),
            "--unit-key",
            s(&unit_key_file),
            s(&damaged),
        ],
        "cut short",
    );

    // Into a directory that holds something: refused, and it is not touched.
    let busy = r.root.path().join("busy");
    std::fs::create_dir(&busy).expect("dir");
    std::fs::write(busy.join("something"), "x").expect("write");
    let out = reservnod(&[
        "restore",
        "--data-dir",
        s(&busy),
        "--unit-key",
        s(&unit_key_file),
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inte tom")
            || String::from_utf8_lossy(&out.stderr).contains("not empty")
    );
    assert_eq!(std::fs::read_dir(&busy).expect("dir").count(), 1);

    // With the unit key: a new node with every event.
    let out = reservnod(&[
        "restore",
        "--json",
        "--data-dir",
        s(&target),
        "--unit-key",
        s(&unit_key_file),
        s(&file),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["new_node_key"], true);
    // The clinical events and the Delivered receipts the node wrote for them when the
    // command opened it.
    let source_events = DataDir::new(&dir)
        .open_store()
        .expect("store")
        .stats()
        .expect("stats")
        .events;
    assert!(source_events >= 25);
    assert_eq!(v["events"], source_events);
    let new_id = DataDir::new(&target).node_key().expect("key").id();
    assert_ne!(new_id, r.nodes[0].id);
    assert_eq!(v["node_id"], new_id.to_string());
    let store = DataDir::new(&target).open_store().expect("store");
    for e in &events {
        assert!(store.contains(&e.id()).expect("contains"));
    }
}
