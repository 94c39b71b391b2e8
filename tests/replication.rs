//! Replication on loopback, in one process: push through a line of nodes (store and
//! forward), reconciliation after a partition, refusal of forged events, and a catch-up
//! that resumes after being cut off.

mod support;

use std::time::Duration;

use reservnod::files::datadir::DataDir;
use reservnod_proto::{EventClass, Hlc, Priority, SignedEvent};
use support::{bind, client, clinical_event, eventually, region, start_node as start, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_forward_through_a_line_then_direct_reconciliation() {
    let r = region(3, 0);
    let roster = r.admin.roster.clone();
    let (a_dir, b_dir, c_dir) = (
        r.nodes[0].dir.clone(),
        r.nodes[1].dir.clone(),
        r.nodes[2].dir.clone(),
    );
    let c_unit = r.nodes[2].unit.clone();
    let ((sa, aa), (sb, ab), (sc, ac)) = (bind(), bind(), bind());
    let _ = ac;
    // A – B – C: A and C both dial B and never each other.
    let b = start(&b_dir, sb, ab, &[]).await;
    let a = start(&a_dir, sa, aa, &[ab]).await;
    let c = start(&c_dir, sc, ac, &[ab]).await;

    let ev = clinical_event(
        &a_dir,
        &roster,
        std::slice::from_ref(&c_unit),
        "Vårdrapport till kommunen",
        a.handle.tick(),
        Priority::Normal,
    );
    let id = ev.id();
    let out = a.handle.write(vec![ev.clone()]).await.expect("write");
    assert_eq!(out.stored.len(), 1);
    eventually(
        Duration::from_secs(20),
        "the event reaches C through B",
        || c.handle.has(&id) && b.handle.has(&id),
    )
    .await;
    // B carries it but cannot open it; C can.
    let verified = ev.verify().expect("valid");
    let b_unit_key = DataDir::new(&b_dir).unit_key().expect("key");
    assert!(
        verified.open(&b_unit_key).is_err(),
        "B must not be able to open an event sealed to C"
    );
    let c_unit_key = DataDir::new(&c_dir).unit_key().expect("key");
    assert_eq!(
        verified.open(&c_unit_key).expect("C opens").as_slice(),
        "Vårdrapport till kommunen".as_bytes()
    );

    // B goes away. A and C write while apart, then meet directly and reconcile.
    b.stop().await;
    let only_a: Vec<SignedEvent> = (0..40)
        .map(|i| {
            clinical_event(
                &a_dir,
                &roster,
                std::slice::from_ref(&c_unit),
                &format!("A {i}"),
                a.handle.tick(),
                Priority::Normal,
            )
        })
        .collect();
    let a_unit = r.nodes[0].unit.clone();
    let only_c: Vec<SignedEvent> = (0..60)
        .map(|i| {
            clinical_event(
                &c_dir,
                &roster,
                std::slice::from_ref(&a_unit),
                &format!("C {i}"),
                c.handle.tick(),
                Priority::Normal,
            )
        })
        .collect();
    a.handle.write(only_a.clone()).await.expect("write");
    c.handle.write(only_c.clone()).await.expect("write");
    c.stop().await;
    let (sc2, ac2) = bind();
    let c = start(&c_dir, sc2, ac2, &[aa]).await;
    eventually(Duration::from_secs(30), "A and C converge", || {
        only_a.iter().all(|e| c.handle.has(&e.id())) && only_c.iter().all(|e| a.handle.has(&e.id()))
    })
    .await;
    assert_eq!(a.handle.count_of(EventClass::Clinical), 101);
    assert_eq!(c.handle.count_of(EventClass::Clinical), 101);
    let dir = c_dir.clone();
    let s = tokio::task::spawn_blocking(move || {
        // The status file is written every second: wait for one written after the catch-up.
        support::wait_for(&dir, Duration::from_secs(10), "a completed sync", |s| {
            s.peers.iter().any(|p| p.last_sync_ms.is_some()) && s.sync.stored >= 40
        })
    })
    .await
    .expect("join");
    assert!(s.sync.stored >= 40 && s.sync.refused == 0, "{:?}", s.sync);
    a.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_cut_off_halfway_resumes_without_storing_twice() {
    let r = region(2, 0);
    let roster = r.admin.roster.clone();
    let (a_dir, b_dir) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());
    let b_unit = r.nodes[1].unit.clone();
    let ((sa, aa), (sb, ab)) = (bind(), bind());
    let a = start(&a_dir, sa, aa, &[]).await;
    let events: Vec<SignedEvent> = (0..3_000u64)
        .map(|i| {
            clinical_event(
                &a_dir,
                &roster,
                std::slice::from_ref(&b_unit),
                &format!("händelse {i} {}", "x".repeat(800)),
                Hlc {
                    wall_ms: 1_795_000_000_000 + i,
                    logical: 0,
                },
                if i % 100 == 0 {
                    Priority::Urgent
                } else {
                    Priority::Normal
                },
            )
        })
        .collect();
    for chunk in events.chunks(500) {
        a.handle.write(chunk.to_vec()).await.expect("write");
    }
    let b = start(&b_dir, sb, ab, &[aa]).await;
    eventually(
        Duration::from_secs(60),
        "part of the catch-up arrived",
        || b.handle.count_of(EventClass::Clinical) >= 300,
    )
    .await;
    let partial = b.handle.count_of(EventClass::Clinical);
    b.stop().await;
    let (sb2, ab2) = bind();
    let b = start(&b_dir, sb2, ab2, &[aa]).await;
    eventually(Duration::from_secs(120), "the catch-up completed", || {
        b.handle.count_of(EventClass::Clinical) == 3_000
    })
    .await;
    assert!(partial <= 3_000);
    assert!(events.iter().all(|e| b.handle.has(&e.id())));
    // Exactly once: the store counts each event once however often it arrived, and B
    // acknowledged each exactly once (a Delivered receipt per event, none twice).
    assert_eq!(b.handle.count_of(EventClass::Clinical), 3_000);
    eventually(Duration::from_secs(60), "every event acknowledged", || {
        b.handle.count_of(EventClass::Receipt) == 3_000
    })
    .await;
    assert!(events.iter().all(|e| b.handle.receipts(&e.id()).len() == 1));
    // Progress: what was announced has all arrived, and the figures add up.
    let dir = b_dir.clone();
    let s = tokio::task::spawn_blocking(move || {
        wait_for(&dir, Duration::from_secs(20), "nothing left to come", |s| {
            s.sync.to_go == 0
        })
    })
    .await
    .expect("join");
    assert_eq!(s.sync.refused, 0);
    assert!(
        s.sync.received - s.sync.duplicates <= 3_000 - partial,
        "the second run stored only what was still missing: {:?}",
        s.sync
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_and_unknown_author_events_are_refused_and_never_forwarded() {
    use reservnod::mesh::tls;
    use reservnod_proto::frame::{Frame, Hello, PROTOCOL_VERSION};
    let r = region(3, 0);
    let roster = r.admin.roster.clone();
    let (d0, d1, d2) = (
        r.nodes[0].dir.clone(),
        r.nodes[1].dir.clone(),
        r.nodes[2].dir.clone(),
    );
    let u2 = r.nodes[2].unit.clone();
    let ((s0, a0), (s2, a2)) = (bind(), bind());
    let n0 = start(&d0, s0, a0, &[]).await;
    let n2 = start(&d2, s2, a2, &[a0]).await;
    let d0c = d0.clone();
    let n2id = r.nodes[2].id;
    tokio::task::spawn_blocking(move || {
        wait_for(&d0c, Duration::from_secs(20), "node 2 connected", |s| {
            support::connected(s, &n2id)
        })
    })
    .await
    .expect("join");

    // Node 1 speaks by hand: a valid event, a tampered one, and one by a key not in the roster.
    let valid = clinical_event(
        &d1,
        &roster,
        std::slice::from_ref(&u2),
        "giltig",
        Hlc {
            wall_ms: 1_795_000_000_001,
            logical: 0,
        },
        Priority::Normal,
    );
    let mut tampered = clinical_event(
        &d1,
        &roster,
        std::slice::from_ref(&u2),
        "ändrad",
        Hlc {
            wall_ms: 1_795_000_000_002,
            logical: 0,
        },
        Priority::Normal,
    );
    tampered.sig[5] ^= 0x40;
    let stranger_dir = r.root.path().join("stranger");
    let init = DataDir::new(&stranger_dir)
        .init(
            &std::fs::read_to_string(r.root.path().join("admin/units/SE2321000081-U1.key"))
                .expect("unit key"),
            None,
        )
        .expect("init");
    let _ = init;
    let forged = clinical_event(
        &stranger_dir,
        &roster,
        std::slice::from_ref(&u2),
        "förfalskad",
        Hlc {
            wall_ms: 1_795_000_000_003,
            logical: 0,
        },
        Priority::Normal,
    );
    let ep = client(&d1, roster.clone());
    let conn = ep
        .connect(a0, tls::SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (mut tx, _rx) = conn.open_bi().await.expect("stream");
    let node1 = DataDir::new(&d1).node_key().expect("key").id();
    let hello = Frame::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        roster_version: roster.version,
        node: node1,
        hlc: Hlc::default(),
    });
    tx.write_all(&hello.encode().expect("encode"))
        .await
        .expect("write");
    let batch = Frame::Events(vec![
        tampered.clone(),
        forged.clone(),
        valid.clone(),
        valid.clone(),
    ]);
    tx.write_all(&batch.encode().expect("encode"))
        .await
        .expect("write");

    eventually(
        Duration::from_secs(20),
        "the valid event is stored and forwarded",
        || n0.handle.has(&valid.id()) && n2.handle.has(&valid.id()),
    )
    .await;
    let d0c = d0.clone();
    let s = tokio::task::spawn_blocking(move || {
        wait_for(&d0c, Duration::from_secs(10), "refusals counted", |s| {
            s.sync.refused >= 2
        })
    })
    .await
    .expect("join");
    assert_eq!(s.sync.refused, 2, "{:?}", s.sync);
    assert_eq!(
        s.sync.duplicates, 1,
        "the repeated valid event is a duplicate"
    );
    for bad in [&tampered, &forged] {
        assert!(
            !n0.handle.has(&bad.id()) && !n2.handle.has(&bad.id()),
            "a refused event is never stored or forwarded"
        );
    }
    conn.close(0u32.into(), b"done");
    n0.stop().await;
    n2.stop().await;
}
