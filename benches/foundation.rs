//! Foundation benchmark: how fast events are signed and sealed, how fast they are verified
//! and stored durably, and how many bytes each takes on disk — each beside a physical anchor
//! measured in the same run (raw ed25519 verification, raw sled batch inserts with the same
//! flush cadence) and the ratio to it.
//!
//! Run: `cargo bench --bench foundation` (set RESERVNOD_BENCH_EVENTS to change the count).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use reservnod::store::{raw_backend_anchor, Store};
use reservnod_proto::event::{DocRef, EventClass, Header, Priority, EVENT_FORMAT};
use reservnod_proto::testkit::{region, SeededRng};
use reservnod_proto::{Hlc, HsaId, SignedEvent};

const BODY_BYTES: usize = 1024;
const FLUSH_BATCH: usize = 1000;

/// Bytes of the files under `dir` (their lengths) and the blocks they occupy, like `du`.
fn dir_bytes(dir: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                let (l, b) = dir_bytes(&e.path());
                total = (total.0 + l, total.1 + b);
            } else {
                total = (total.0 + meta.len(), total.1 + meta.blocks() * 512);
            }
        }
    }
    total
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn main() {
    let n: usize = std::env::var("RESERVNOD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("reservnod foundation benchmark — {n} events, {BODY_BYTES}-byte sealed bodies, flush every {FLUSH_BATCH}");
    println!("machine: {}", support::machine());
    println!("release build: {}", !cfg!(debug_assertions));

    let r = region("bench");
    let mut rng = SeededRng::new("bench");
    let body = vec![b'a'; BODY_BYTES];
    let (ward_unit, ward_node) = &r.ward;
    let recipients: Vec<HsaId> = vec![r.kommun.0.unit().clone(), r.vc.0.unit().clone()];
    let key_of = |u: &HsaId| r.roster.unit(u).map(|x| x.encryption_key);

    // 1. Sign + seal.
    let start = Instant::now();
    let signed: Vec<SignedEvent> = (0..n)
        .map(|i| {
            let hlc = Hlc {
                wall_ms: 1_795_000_000_000 + i as u64,
                logical: 0,
            };
            Header {
                format: EVENT_FORMAT,
                author: ward_node.id(),
                unit: ward_unit.unit().clone(),
                user: Some("bench".into()),
                hlc,
                class: EventClass::Clinical,
                priority: Priority::Normal,
                recipients: recipients.clone(),
                doc: Some(DocRef::first(&ward_node.id(), hlc)),
            }
            .seal(&mut rng, &body, key_of)
            .expect("seal")
            .sign(ward_node)
            .expect("sign")
        })
        .collect();
    let seal_secs = start.elapsed().as_secs_f64();
    let event_bytes: usize = signed.iter().map(|s| s.bytes.len() + 64).sum::<usize>() / n;
    println!(
        "\n[sign+seal]   {:>10.0} events/s  ({event_bytes} bytes per signed event)",
        rate(n, seal_secs)
    );

    // Anchor A: raw ed25519 strict verification of the same bytes, one by one.
    let start = Instant::now();
    for s in &signed {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&ward_node.id().0).expect("key");
        let mut msg = b"reservnod/event/v1\0".to_vec();
        msg.extend_from_slice(&s.bytes);
        key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&s.sig))
            .expect("valid");
    }
    let raw_verify = rate(n, start.elapsed().as_secs_f64());
    println!("[anchor] raw ed25519 verify_strict:      {raw_verify:>10.0} events/s");

    // Full verification: size, format, decode, canonical form, structure, strict signature.
    let start = Instant::now();
    let verified: Vec<_> = signed.iter().map(|s| s.verify().expect("valid")).collect();
    let verify = rate(n, start.elapsed().as_secs_f64());
    println!(
        "[verify]      {verify:>10.0} events/s ({:.2}× raw ed25519)",
        verify / raw_verify
    );

    // Anchor B: raw sled batch inserts of the same stored bytes, same flush cadence.
    let values: Vec<Vec<u8>> = signed
        .iter()
        .map(|s| reservnod_proto::codec::encode::<_, { usize::MAX }>(s).expect("encode"))
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (raw_time, raw_disk) =
        raw_backend_anchor(&tmp.path().join("raw"), &values, FLUSH_BATCH).expect("raw sled");
    let raw_store = rate(n, raw_time.as_secs_f64());
    println!("[anchor] raw sled insert+flush:          {raw_store:>10.0} events/s  ({:.0} bytes on disk per event)", raw_disk as f64 / n as f64);

    // Store only (already verified), then verify + store end to end, both durable per batch.
    let store = Store::open(&tmp.path().join("store")).expect("open");
    let start = Instant::now();
    for chunk in verified.chunks(FLUSH_BATCH) {
        store.insert(chunk).expect("insert");
    }
    let store_only = rate(n, start.elapsed().as_secs_f64());
    let disk = store.stats().expect("stats").disk_bytes;
    drop(store);
    let (file_len, blocks) = dir_bytes(&tmp.path().join("store"));
    println!(
        "[store]       {store_only:>10.0} events/s durable ({:.2}× raw sled)",
        store_only / raw_store
    );
    println!("[disk]        {:.0} bytes per event (sled size_on_disk), {:.0} (file lengths), {:.0} (allocated blocks); signed event itself {event_bytes}", disk as f64 / n as f64, file_len as f64 / n as f64, blocks as f64 / n as f64);

    let store = Store::open(&tmp.path().join("store2")).expect("open");
    let start = Instant::now();
    for chunk in signed.chunks(FLUSH_BATCH) {
        let batch: Vec<_> = chunk.iter().map(|s| s.verify().expect("valid")).collect();
        store.insert(&batch).expect("insert");
    }
    let end_to_end = rate(n, start.elapsed().as_secs_f64());
    let anchor = 1.0 / (1.0 / raw_verify + 1.0 / raw_store);
    println!("[verify+store] {end_to_end:>9.0} events/s durable; anchor (raw verify then raw sled, serial) {anchor:.0} events/s; ratio {:.2}", end_to_end / anchor);
}
