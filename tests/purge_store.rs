//! The store's side of retention: a purged clinical body is gone, its id stays held (a
//! tombstone, and the keys reconciliation reads), and it never comes back: not by an insert
//! (what a push, a reconciliation's fetch, a bundle import and a restore all end in), not
//! by a reconciliation with a store that never purged (nothing is found missing), not by a
//! bundle written by that store. Other classes are never purged, and the access log is not
//! touched.

use reservnod::files::bundle::{self, BundleHeader, Taken, BUNDLE_FORMAT};
use reservnod::store::{AuditAction, AuditEntry, Store, StoreError};
use reservnod_proto::event::{Body, Event, EventClass, Priority, EVENT_FORMAT};
use reservnod_proto::testkit::{region, run_session, Region, SeededRng};
use reservnod_proto::{Hlc, SignedEvent, VerifiedEvent};

fn hlc(ms: u64) -> Hlc {
    Hlc {
        wall_ms: ms,
        logical: 0,
    }
}

fn clinical(r: &Region, rng: &mut SeededRng, n: u64) -> VerifiedEvent {
    r.clinical(rng, format!("vårdrapport {n}").as_bytes(), hlc(1_000 + n))
        .sign(&r.ward.1)
        .expect("sign")
        .verify()
        .expect("verify")
}

fn control(r: &Region) -> VerifiedEvent {
    Event {
        format: EVENT_FORMAT,
        author: r.ward.1.id(),
        unit: r.ward.0.unit().clone(),
        user: None,
        hlc: hlc(5_000),
        class: EventClass::Control,
        priority: Priority::Normal,
        recipients: vec![],
        doc: None,
        body: Body::Plain(b"x".to_vec()),
    }
    .sign(&r.ward.1)
    .expect("sign")
    .verify()
    .expect("verify")
}

fn take_into(store: &Store) -> impl FnMut(Vec<SignedEvent>) -> Result<Taken, StoreError> + '_ {
    move |batch| {
        let verified: Vec<VerifiedEvent> = batch
            .into_iter()
            .map(|se| se.verify().expect("verifies"))
            .collect();
        let report = store.insert(&verified)?;
        Ok(Taken {
            new: report.new.len() as u64,
            duplicates: report.duplicates as u64,
            refused: vec![],
        })
    }
}

#[test]
fn a_purged_body_is_held_as_a_tombstone_and_never_comes_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = region("purge-store");
    let mut rng = SeededRng::new("purge-store");
    let evs: Vec<VerifiedEvent> = (0..4).map(|n| clinical(&r, &mut rng, n)).collect();
    let purged_node = Store::open(&tmp.path().join("a")).expect("open");
    let never_purged = Store::open(&tmp.path().join("b")).expect("open");
    purged_node.insert(&evs).expect("insert");
    never_purged.insert(&evs).expect("insert");
    purged_node
        .append_audit(&AuditEntry::new(
            8_000,
            r.ward.1.id(),
            AuditAction::Read,
            "läst",
        ))
        .expect("audit");
    let audit_before = purged_node.stats().expect("stats").audit_entries;
    let keys_before = purged_node.keys(false).expect("keys");

    let id = evs[1].id();
    let recipient = r.kommun.0.unit().clone();
    assert!(
        purged_node
            .iter_by_recipient(&recipient)
            .any(|k| k.expect("key").1 == id),
        "indexed for its recipient before"
    );
    assert!(purged_node
        .purge_body(&id, "RS 2026/1234", 9_000)
        .expect("purge"));
    assert!(
        purged_node.get(&id).expect("get").is_none(),
        "the body is gone"
    );
    assert!(
        purged_node.contains(&id).expect("contains"),
        "the id is held"
    );
    let tomb = purged_node.purged(&id).expect("read").expect("a tombstone");
    assert_eq!(
        (tomb.reference.as_str(), tomb.hlc, tomb.at_ms),
        ("RS 2026/1234", evs[1].event().hlc, 9_000)
    );
    assert_eq!(purged_node.purged_count().expect("count"), 1);
    assert_eq!(
        purged_node.keys(false).expect("keys"),
        keys_before,
        "reconciliation keys are unchanged"
    );
    assert!(!purged_node
        .purge_body(&id, "RS 2026/1234", 9_001)
        .expect("twice"));
    assert_eq!(
        purged_node.stats().expect("stats").audit_entries,
        audit_before,
        "the access log is not touched"
    );
    assert!(
        purged_node
            .iter_by_recipient(&recipient)
            .all(|k| k.expect("key").1 != id),
        "no index leads to it"
    );

    // An insert of the same event (a push, a fetch, an import, a restore) stores nothing.
    let again = purged_node.insert(&evs).expect("insert");
    assert!(again.new.is_empty(), "{again:?}");
    assert_eq!(again.duplicates, evs.len());
    assert!(purged_node.get(&id).expect("get").is_none());

    // Reconciliation with the node that never purged finds nothing missing either way.
    let (ra, rb, _) = run_session(
        purged_node.keys(false).expect("keys"),
        never_purged.keys(false).expect("keys"),
        64,
        |_| {},
    );
    assert!(
        ra.need().is_empty() && ra.have().is_empty(),
        "nothing to fetch"
    );
    assert!(rb.need().is_empty() && rb.have().is_empty());

    // A bundle written by the node that never purged brings the body back to no one.
    let file = tmp.path().join("b.rsvb");
    let header = BundleHeader {
        format: BUNDLE_FORMAT,
        created_ms: 10_000,
        node: r.ward.1.id(),
        unit: r.ward.0.unit().clone(),
        since: None,
    };
    bundle::export(&never_purged, header, &file, |_, _| {}).expect("export");
    let (_, summary) = bundle::import(&file, take_into(&purged_node), |_, _| {}).expect("import");
    assert_eq!(summary.new, 0, "{summary:?}");
    assert!(purged_node.get(&id).expect("get").is_none());

    // Only clinical bodies are ever purged.
    let c = control(&r);
    purged_node
        .insert(std::slice::from_ref(&c))
        .expect("insert");
    assert!(matches!(
        purged_node.purge_body(&c.id(), "RS 2026/1234", 9_000),
        Err(StoreError::NotPurgeable("control"))
    ));
    assert!(purged_node.get(&c.id()).expect("get").is_some());

    // After a reopen, all of it holds.
    drop(purged_node);
    let reopened = Store::open(&tmp.path().join("a")).expect("reopen");
    assert!(reopened.get(&id).expect("get").is_none());
    assert!(reopened.contains(&id).expect("contains"));
    assert!(reopened.insert(&evs[1..2]).expect("insert").new.is_empty());
}
