//! The sled store: idempotent durable inserts, indices, the audit log, the directory lock,
//! and a crash loop that kills a writer with SIGKILL and checks every acknowledged event.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reservnod::store::{AuditAction, AuditEntry, Store, StoreError};
use reservnod_proto::event::{EventClass, EventId};
use reservnod_proto::testkit::{hsa, region, Region, SeededRng};
use reservnod_proto::{Hlc, VerifiedEvent};

fn events(r: &Region, seed: &str, n: u64) -> Vec<VerifiedEvent> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|i| {
            r.clinical(
                &mut rng,
                format!("vårdrapport {i}").as_bytes(),
                Hlc {
                    wall_ms: 1_000 + i,
                    logical: 0,
                },
            )
            .sign(&r.ward.1)
            .expect("sign")
            .verify()
            .expect("verify")
        })
        .collect()
}

#[test]
fn insert_is_idempotent_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = region("store-1");
    let evs = events(&r, "s1", 10);
    {
        let store = Store::open(dir.path()).expect("open");
        let first = store.insert(&evs[..6]).expect("insert");
        assert_eq!(first.new.len(), 6);
        assert_eq!(first.duplicates, 0);
        // Overlapping batch with a repeat inside it: only the 4 unseen are new.
        let mut again: Vec<VerifiedEvent> = evs.clone();
        again.push(evs[9].clone());
        let second = store.insert(&again).expect("insert");
        assert_eq!(second.new.len(), 4);
        assert_eq!(second.duplicates, 7);
    }
    let store = Store::open(dir.path()).expect("reopen");
    for v in &evs {
        let got = store.get(&v.id()).expect("get").expect("present");
        assert_eq!(&got, v.signed(), "stored bytes are the signed bytes");
    }
    let stats = store.stats().expect("stats");
    assert_eq!(stats.events, 10);
    assert_eq!(
        stats
            .by_class
            .iter()
            .find(|(c, _)| c == "clinical")
            .map(|x| x.1),
        Some(10)
    );
    assert_eq!(
        stats.oldest,
        Some(Hlc {
            wall_ms: 1_000,
            logical: 0
        })
    );
    assert_eq!(
        stats.newest,
        Some(Hlc {
            wall_ms: 1_009,
            logical: 0
        })
    );
    assert!(stats.disk_bytes > 0);
    assert!(!store.contains(&EventId([0; 32])).expect("contains"));
}

#[test]
fn indices_order_by_hlc_and_select_by_recipient_and_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let r = region("store-2");
    let mut evs = events(&r, "s2", 20);
    evs.reverse();
    store.insert(&evs).expect("insert");
    let ordered: Vec<(Hlc, EventId)> = store
        .iter_by_hlc(None)
        .collect::<Result<_, _>>()
        .expect("iterate");
    assert_eq!(ordered.len(), 20);
    assert!(ordered.windows(2).all(|w| w[0] < w[1]), "(hlc, id) order");
    let from = ordered[5];
    let tail: Vec<_> = store
        .iter_by_hlc(Some(from))
        .collect::<Result<_, _>>()
        .expect("iterate");
    assert_eq!(tail, ordered[5..].to_vec());
    let to_kommun = store.iter_by_recipient(&hsa("KOM1080")).count();
    let to_outsider = store.iter_by_recipient(&hsa("AVD99")).count();
    assert_eq!((to_kommun, to_outsider), (20, 0));
    // A unit id that is a prefix of another must not match it.
    assert_eq!(store.iter_by_recipient(&hsa("KOM108")).count(), 0);
    let doc = evs[3].event().doc.as_ref().expect("doc").doc;
    let versions: Vec<_> = store
        .iter_by_doc(&doc)
        .collect::<Result<_, _>>()
        .expect("iterate");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].1, evs[3].id());
    assert_eq!(evs[0].event().class, EventClass::Clinical);
}

#[test]
fn a_second_open_gets_a_clear_error_naming_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = Store::open(dir.path()).expect("open");
    match Store::open(dir.path()) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(
                e.to_string().contains(&dir.path().display().to_string()),
                "{e}"
            );
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("second open must fail"),
    }
}

#[test]
fn audit_log_appends_in_order_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = region("store-3");
    let entry = |i: u64| AuditEntry {
        unit: Some(hsa("AVD12")),
        login: Some("anna".into()),
        name: Some("Anna Andersson".into()),
        client: Some("192.0.2.7".into()),
        patients: vec!["19121212-1212".parse().expect("canonical test number")],
        ..AuditEntry::new(
            1_000 + i,
            r.ward.1.id(),
            AuditAction::Read,
            format!("läste vårdrapport {i}"),
        )
    };
    {
        let store = Store::open(dir.path()).expect("open");
        for i in 0..3 {
            assert_eq!(store.append_audit(&entry(i)).expect("append"), i);
        }
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.append_audit(&entry(3)).expect("append"), 3);
    let all: Vec<_> = store
        .audit_entries(0)
        .collect::<Result<_, _>>()
        .expect("read");
    assert_eq!(all.len(), 4);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, (seq, e))| *seq == i as u64 && *e == entry(i as u64)));
    assert_eq!(store.audit_entries(2).count(), 2);
}

const CHILD_ENV: &str = "RESERVNOD_STORE_CRASH_CHILD_DIR";

/// Not a test on its own: the writer the crash loop starts and kills. It prints each id
/// only after `insert` (and so the flush) returned.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).expect("child open");
    let r = region("store-crash");
    let seed = format!("{}", std::process::id());
    let mut out = std::io::stdout().lock();
    for batch in 0..10_000u64 {
        let evs = events(&r, &format!("{seed}-{batch}"), 8);
        let report = store.insert(&evs).expect("child insert");
        for id in report.new {
            writeln!(out, "ACK {id}").expect("stdout");
        }
        out.flush().expect("stdout");
    }
}

#[test]
fn no_acknowledged_write_is_lost_when_the_writer_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut acked: Vec<EventId> = Vec::new();
    let cycles = 5;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a varying number of acknowledgements, bounded in time.
        let kill_after = 20 + cycle * 37;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < kill_after && Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(id) = line.strip_prefix("ACK ") {
                        acked.push(id.parse().expect("id"));
                        seen += 1;
                    }
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        // Acknowledgements already written to the pipe before the kill count too.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.parse().expect("id"));
            }
        }
        let _ = child.wait();
        assert!(seen > 0, "writer made no progress in cycle {cycle}");
    }
    let store = Store::open(dir.path()).expect("reopen after kills");
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !store.contains(id).expect("contains"))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost",
        missing.len(),
        acked.len()
    );
    let stats = store.stats().expect("stats");
    assert!(stats.events >= acked.len() as u64);
    // Every stored event is whole: it reads back and verifies.
    for item in store.iter_by_hlc(None) {
        let (_, id) = item.expect("index");
        let se = store.get(&id).expect("get").expect("indexed event present");
        se.verify().expect("stored event verifies");
    }
}
