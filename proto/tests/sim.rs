//! The deterministic simulation of a mesh (`reservnod_proto::meshsim`, issue 14 §1): N nodes
//! running the daemon's link, reconciliation and outbox code under seeded partitions, loss,
//! re-sends, crashes, restarts and clock offsets, each run checked for lost, unexpected and
//! duplicated events, convergence and receipts.
//!
//! - `ci_seeds`: seeds 0..200 (`SIM_SEEDS=N` for another count, `SIM_SEED_START=S` to start
//!   elsewhere); each failing seed is printed with its replay command.
//! - `SIM_SEED=N cargo test -p reservnod-proto --test sim -- ci_seeds --nocapture` replays
//!   one seed exactly and prints its trace.
//! - `runs_are_a_function_of_the_seed`: the same seed twice gives the same run.
//! - `broken_variants_are_caught`: each deliberately broken driver is caught within
//!   [`CATCH_WITHIN`] seeds, on seeds the healthy one passes.
//! - `soak` (ignored): `SIM_SEEDS=100000 cargo test --release -p reservnod-proto --test sim
//!   -- --ignored soak --nocapture` prints the figures of docs/RELIABILITY.md.

use std::time::Instant;

use reservnod_proto::meshsim::{run, Bug, Report, Setup, Totals};

/// Seeds of the CI subset.
const CI_SEEDS: u64 = 200;
/// A broken variant must be caught within this many seeds.
const CATCH_WITHIN: u64 = 300;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
    )
}

fn replay_command(seed: u64) -> String {
    format!("SIM_SEED={seed} cargo test -p reservnod-proto --test sim -- ci_seeds --nocapture")
}

fn describe(r: &Report) -> String {
    format!(
        "seed {} ({} nodes): {}\n  replay: {}",
        r.seed,
        r.nodes,
        r.violations.join("; "),
        replay_command(r.seed)
    )
}

#[test]
fn ci_seeds() {
    let setup = Setup::new();
    if let Some(seed) = env_u64("SIM_SEED") {
        let r = run(&setup, seed, Bug::None, true);
        for line in &r.trace {
            println!("{line}");
        }
        println!("{r:#?}");
        assert!(r.ok(), "{}", describe(&r));
        return;
    }
    let start = env_u64("SIM_SEED_START").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(CI_SEEDS);
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in start..start + count {
        let r = run(&setup, seed, Bug::None, false);
        totals.add(&r);
        if !r.ok() {
            failures.push(describe(&r));
        }
    }
    println!("{}", totals.summary());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The faults really happened, and every run converged.
    let f = &totals.faults;
    assert!(f.crashes > 0 && f.unflushed_dropped > 0 && f.ingests_dropped > 0);
    assert!(f.partitions_full > 0 && f.partitions_one_way > 0 && f.stall_breaks > 0);
    assert!(f.retransmits > 0 && f.resends > 0 && f.duplicate_arrivals > 0);
    assert!(f.clock_offsets > 0);
    assert_eq!(totals.converge_ms.len() as u64, count);
}

#[test]
fn runs_are_a_function_of_the_seed() {
    let setup = Setup::new();
    for seed in [0, 1, 7, 4242] {
        let a = run(&setup, seed, Bug::None, true);
        let b = run(&setup, seed, Bug::None, true);
        assert_eq!(a, b, "seed {seed} ran differently twice");
        assert!(!a.trace.is_empty());
    }
    // And different seeds make different runs.
    assert_ne!(
        run(&setup, 0, Bug::None, false).digest,
        run(&setup, 1, Bug::None, false).digest
    );
}

#[test]
fn broken_variants_are_caught() {
    let setup = Setup::new();
    for bug in Bug::BROKEN {
        let caught = (0..CATCH_WITHIN).find_map(|seed| {
            let r = run(&setup, seed, bug, false);
            (!r.ok()).then_some(r)
        });
        let Some(r) = caught else {
            panic!("{bug:?} was not caught within {CATCH_WITHIN} seeds");
        };
        println!("{bug:?} caught at seed {}: {}", r.seed, r.violations[0]);
        // The healthy driver passes that same seed: it is the bug that is caught.
        let healthy = run(&setup, r.seed, Bug::None, false);
        assert!(healthy.ok(), "{}", describe(&healthy));
    }
}

/// The soak: `SIM_SEEDS` seeds (default 100,000) from `SIM_SEED_START`, with figures.
#[test]
#[ignore = "the soak: run with --release --ignored"]
fn soak() {
    let setup = Setup::new();
    let start = env_u64("SIM_SEED_START").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(100_000);
    let began = Instant::now();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for seed in start..start + count {
        let r = run(&setup, seed, Bug::None, false);
        totals.add(&r);
        if !r.ok() {
            eprintln!("{}", describe(&r));
            failures.push(r.seed);
        }
        if (seed - start + 1).is_multiple_of(10_000) {
            eprintln!(
                "{} seeds, {} failed, {:.0} s",
                seed - start + 1,
                failures.len(),
                began.elapsed().as_secs_f64()
            );
        }
    }
    println!("seeds {start}..{}", start + count);
    println!("{}", totals.summary());
    println!("wall time: {:.0} s", began.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "failed seeds: {failures:?}");
}
