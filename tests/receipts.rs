//! Delivered receipts end to end on loopback: the recipient unit's node emits one when it
//! stores and opens a clinical event, it reaches the sender, a relaying node that is not a
//! recipient emits none, and a resync does not make a second one; a node that starts writes
//! the Delivered it owes and it reaches the sender.

mod support;

use std::time::Duration;

use reservnod_proto::care::receipts::ReceiptKind;
use reservnod_proto::Priority;
use support::{bind, clinical_event, eventually, region, start_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_emits_delivered_once_and_it_reaches_the_sender() {
    // Node 0: a ward. Node 1: a municipal unit. Node 2: a primary care centre that relays.
    let r = region(3, 0);
    let roster = r.admin.roster.clone();
    let (ward_dir, kommun_dir, vc_dir) = (
        r.nodes[0].dir.clone(),
        r.nodes[1].dir.clone(),
        r.nodes[2].dir.clone(),
    );
    let kommun_unit = r.nodes[1].unit.clone();
    let ((s0, a0), (s1, a1), (s2, a2)) = (bind(), bind(), bind());
    // A line: ward – vc – kommun, so everything passes through the relaying node.
    let vc = start_node(&vc_dir, s2, a2, &[]).await;
    let ward = start_node(&ward_dir, s0, a0, &[a2]).await;
    let kommun = start_node(&kommun_dir, s1, a1, &[a2]).await;

    let ev = clinical_event(
        &ward_dir,
        &roster,
        std::slice::from_ref(&kommun_unit),
        "Utskrivningsklar",
        ward.handle.tick(),
        Priority::Urgent,
    );
    let id = ev.id();
    ward.handle.write(vec![ev]).await.expect("write");
    eventually(
        Duration::from_secs(20),
        "the ward sees Delivered from the municipality",
        || {
            ward.handle
                .receipts(&id)
                .iter()
                .any(|r| r.kind == ReceiptKind::Delivered && r.unit == kommun_unit)
        },
    )
    .await;
    let receipts = ward.handle.receipts(&id);
    assert_eq!(
        receipts.len(),
        1,
        "only the recipient unit acknowledges: {receipts:?}"
    );
    assert!(
        vc.handle.has(&id) && vc.handle.receipts(&id).len() == 1,
        "the relay carries the event and the receipt"
    );

    // The municipality's node restarts and resyncs: still one Delivered.
    kommun.stop().await;
    let restarted_ms = reservnod::clock::now_ms();
    let (s1b, a1b) = bind();
    let kommun = start_node(&kommun_dir, s1b, a1b, &[a2]).await;
    let vc_dir2 = vc_dir.clone();
    let kommun_id = r.nodes[1].id;
    tokio::task::spawn_blocking(move || {
        support::wait_for(
            &vc_dir2,
            Duration::from_secs(20),
            "the municipality reconnected and synced",
            |s| {
                s.peers.iter().any(|p| {
                    p.node == kommun_id.to_string()
                        && p.last_sync_ms.is_some_and(|t| t > restarted_ms)
                        && p.state == reservnod::node::peers::PeerState::Connected
                })
            },
        )
    })
    .await
    .expect("join");
    assert_eq!(
        kommun.handle.receipts(&id).len(),
        1,
        "no second Delivered after a resync"
    );
    ward.stop().await;
    kommun.stop().await;
    vc.stop().await;
}

/// Events addressed to the municipality that its node holds with no Delivered (an import by
/// a version that wrote none, or a crash between the event and its receipt): the node
/// writes what it owes when it starts, and reconciliation carries it to the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_owed_when_a_node_starts_is_written_and_reaches_the_sender() {
    let r = region(2, 0);
    let roster = r.admin.roster.clone();
    let (ward_dir, kommun_dir) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());
    let kommun_unit = r.nodes[1].unit.clone();
    let events: Vec<reservnod_proto::SignedEvent> = (0..5u64)
        .map(|i| {
            clinical_event(
                &ward_dir,
                &roster,
                std::slice::from_ref(&kommun_unit),
                &format!("Meddelande {i}"),
                reservnod_proto::Hlc {
                    wall_ms: reservnod::clock::now_ms() - 60_000 + i,
                    logical: 0,
                },
                Priority::Normal,
            )
        })
        .collect();
    let verified: Vec<reservnod_proto::VerifiedEvent> =
        events.iter().map(|e| e.verify().expect("verify")).collect();
    for dir in [&ward_dir, &kommun_dir] {
        let store = reservnod::files::datadir::DataDir::new(dir)
            .open_store()
            .expect("store");
        store.insert(&verified).expect("insert");
    }
    let ((s0, a0), (s1, a1)) = (bind(), bind());
    let ward = start_node(&ward_dir, s0, a0, &[a1]).await;
    let kommun = start_node(&kommun_dir, s1, a1, &[a0]).await;
    eventually(
        Duration::from_secs(30),
        "the ward sees the municipality's Delivered for every event",
        || {
            events.iter().all(|e| {
                ward.handle
                    .receipts(&e.id())
                    .iter()
                    .any(|r| r.kind == ReceiptKind::Delivered && r.unit == kommun_unit)
            })
        },
    )
    .await;
    for e in &events {
        assert_eq!(
            kommun.handle.receipts(&e.id()).len(),
            1,
            "one Delivered each"
        );
    }
    ward.stop().await;
    kommun.stop().await;
}
