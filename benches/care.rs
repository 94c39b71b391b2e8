//! Care-layer benchmark: what a ward node with many sent documents costs to start and to
//! ask. Figures: building the view (open and index every event the unit can read) from the
//! store, the inbox with receipt state per item, one patient's chain, and the escalation scan
//! the daemon runs every few seconds. Anchor, measured in the same run: raw verify + open +
//! decode of the same events in memory, the cryptographic floor of building the view.
//!
//! Run: `cargo bench --bench care` (RESERVNOD_BENCH_CARE_EVENTS sets the count, default
//! 20,000). Patients are synthetic reservnummer (R:BENCH:n), never real persons.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "support/ward.rs"]
mod ward;

use std::time::Instant;

use reservnod::care::api::{handle, Caller, Person, Reply, Request, Via};
use reservnod::care::escalation;
use reservnod::node::{Node, Settings};
use reservnod_proto::care::documents::ClinicalPayload;
use ward::PER_PATIENT;

fn main() {
    let n: usize = std::env::var("RESERVNOD_BENCH_CARE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("reservnod care benchmark — a ward node with {n} sent documents ({PER_PATIENT} per patient), each with a Delivered receipt");
    println!("machine: {}", support::machine());
    println!("release build: {}", !cfg!(debug_assertions));

    let w = ward::ward_with_sent_documents(n, "care-bench");
    let (dd, events, ward_unit) = (w.dd.clone(), &w.events, w.unit());
    let now = reservnod::clock::now_ms();

    // Anchor: verify, open and decode every event in memory.
    let t = Instant::now();
    for e in events {
        let v = e.verify().expect("verify");
        let plain = v.open(ward_unit).expect("open");
        ClinicalPayload::decode(&plain).expect("decode");
    }
    let anchor = n as f64 / t.elapsed().as_secs_f64();

    // Figure 1: the view built from the store (what `reservnod run` and the offline CLI do).
    let t = Instant::now();
    let (node, _gone) = Node::open(dd.clone(), Settings::default()).expect("open node");
    let build_s = t.elapsed().as_secs_f64();
    let build = n as f64 / build_s;

    // Figure 2: the inbox, with receipt state for every sent item.
    let caller = Caller::local(Person::default(), Via::Cli);
    let t = Instant::now();
    let Reply::Inbox(inbox) = handle(&node, &caller, Request::Inbox {}).expect("inbox") else {
        panic!("unexpected reply")
    };
    let inbox_s = t.elapsed().as_secs_f64();
    assert_eq!(inbox.sent.len(), n);
    assert!(inbox
        .sent
        .iter()
        .all(|i| i.recipients[0].state == "levererad"));

    // Figure 3: one patient's chain.
    let t = Instant::now();
    let rounds: u32 = 100;
    for i in 0..rounds {
        let p = format!("R:BENCH:{}", (i as usize * 7) % (n / PER_PATIENT).max(1));
        let reply = handle(&node, &caller, Request::Chain { patient: p }).expect("chain");
        assert!(matches!(reply, Reply::Chain(_)));
    }
    let chain_ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);

    // Figure 4: the escalation scan (none due: the policy allows 4 hours).
    let roster = dd.roster().expect("roster").expect("installed");
    let t = Instant::now();
    let due = {
        let view = node.view();
        escalation::due(
            &view,
            node.store(),
            &node.node_key().id(),
            ward_unit.unit(),
            &roster.escalation,
            0,
            now,
        )
        .expect("scan")
    };
    let scan_s = t.elapsed().as_secs_f64();
    assert!(due.is_empty());

    println!();
    println!("| measure | figure | anchor | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| view build from the store (open, decode, index) | {build:.0} events/s ({build_s:.2} s) | raw verify+open+decode {anchor:.0} events/s | {:.2} |",
        build / anchor
    );
    println!(
        "| inbox with receipt state per item | {:.0} ms for {n} items ({:.1} µs/item) | — | — |",
        inbox_s * 1000.0,
        inbox_s * 1e6 / n as f64
    );
    println!("| one patient's chain | {chain_ms:.2} ms | — | — |");
    println!(
        "| escalation scan over all sent events | {:.0} ms ({:.1} µs/event) | — | — |",
        scan_s * 1000.0,
        scan_s * 1e6 / n as f64
    );
}
