//! Purgeability by property: a body is purged only under a decision that covers it, after
//! the configured days, when every unit it is sealed to is listed and has it and this node's
//! own re-entry is closed; nothing is ever purged with purging off; more decisions or a
//! later time never take a purge back; and a roster cannot drop a decision.

use proptest::prelude::*;
use reservnod_proto::retention::{
    check_kept, purge_under, Candidate, Knowledge, PurgeCover, PurgeDecision, DAY_MS,
};
use reservnod_proto::{EventClass, EventId, Hlc, HsaId};

const UNITS: [&str; 4] = [
    "SE2321000081-AVD1",
    "SE2321000081-AVD2",
    "SE2120001033-HT1",
    "SE2321000081-VC1",
];

fn unit(i: usize) -> HsaId {
    UNITS[i % UNITS.len()].parse().expect("hsa")
}

fn outage(i: u8) -> EventId {
    EventId([i % 3 + 1; 32])
}

struct Node {
    own: HsaId,
    closed: Vec<EventId>,
    delivered: Vec<HsaId>,
}

impl Knowledge for Node {
    fn own_unit(&self) -> &HsaId {
        &self.own
    }
    fn own_reentry_closed(&self, outage: &EventId) -> bool {
        self.closed.contains(outage)
    }
    fn delivered_to(&self, unit: &HsaId) -> bool {
        self.delivered.contains(unit)
    }
}

fn units_of(mask: u8) -> Vec<HsaId> {
    (0..UNITS.len())
        .filter(|i| mask & (1 << i) != 0)
        .map(unit)
        .collect()
}

fn decision() -> impl Strategy<Value = PurgeDecision> {
    (
        any::<bool>(),
        0u8..3,
        0u64..2_000,
        1u8..16,
        0u64..100 * DAY_MS,
    )
        .prop_map(|(by_outage, o, horizon, mask, at)| PurgeDecision {
            reference: format!("RS 2026/{o}-{horizon}-{mask}"),
            covers: if by_outage {
                PurgeCover::Outage(outage(o))
            } else {
                PurgeCover::WrittenBefore { wall_ms: horizon }
            },
            units: units_of(mask),
            decided_at_ms: at,
        })
}

#[derive(Debug, Clone)]
struct Case {
    decisions: Vec<PurgeDecision>,
    clinical: bool,
    wall_ms: u64,
    seal_mask: u8,
    outage: Option<u8>,
    own: usize,
    closed_mask: u8,
    delivered_mask: u8,
    days: Option<u32>,
    now_ms: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(decision(), 0..4),
        any::<bool>(),
        0u64..2_000,
        0u8..16,
        proptest::option::of(0u8..3),
        0usize..4,
        0u8..8,
        0u8..16,
        proptest::option::of(0u32..60),
        0u64..200 * DAY_MS,
    )
        .prop_map(
            |(
                decisions,
                clinical,
                wall_ms,
                seal_mask,
                outage,
                own,
                closed_mask,
                delivered_mask,
                days,
                now_ms,
            )| Case {
                decisions,
                clinical,
                wall_ms,
                seal_mask,
                outage,
                own,
                closed_mask,
                delivered_mask,
                days,
                now_ms,
            },
        )
}

fn run(c: &Case, decisions: &[PurgeDecision], now_ms: u64) -> Option<PurgeDecision> {
    let seal = units_of(c.seal_mask);
    let candidate = Candidate {
        class: if c.clinical {
            EventClass::Clinical
        } else {
            EventClass::Control
        },
        hlc: Hlc {
            wall_ms: c.wall_ms,
            logical: 0,
        },
        seal_units: &seal,
        outage: c.outage.map(outage),
    };
    let node = Node {
        own: unit(c.own),
        closed: (0..3u8)
            .filter(|i| c.closed_mask & (1 << i) != 0)
            .map(outage)
            .collect(),
        delivered: units_of(c.delivered_mask),
    };
    purge_under(decisions, &candidate, &node, c.days, now_ms).cloned()
}

proptest! {
    #[test]
    fn a_purge_has_every_reason_it_needs(c in case()) {
        let Some(d) = run(&c, &c.decisions, c.now_ms) else { return Ok(()) };
        let days = c.days.expect("purging is off without the setting");
        prop_assert!(c.clinical, "only clinical bodies");
        let o = outage(c.outage.expect("placed in an outage"));
        prop_assert!(c.decisions.contains(&d));
        match d.covers {
            PurgeCover::Outage(id) => prop_assert_eq!(id, o),
            PurgeCover::WrittenBefore { wall_ms } => prop_assert!(c.wall_ms < wall_ms),
        }
        prop_assert!(c.now_ms >= d.decided_at_ms + u64::from(days) * DAY_MS);
        let seal = units_of(c.seal_mask);
        prop_assert!(!seal.is_empty());
        for u in &seal {
            prop_assert!(d.units.contains(u), "every unit it is sealed to is listed");
            prop_assert!(units_of(c.delivered_mask).contains(u), "and has it");
        }
        if seal.contains(&unit(c.own)) {
            prop_assert!(c.closed_mask & (1 << (o.0[0] - 1)) != 0, "own re-entry closed");
        }
    }

    #[test]
    fn purging_off_purges_nothing(mut c in case()) {
        c.days = None;
        prop_assert_eq!(run(&c, &c.decisions, u64::MAX), None);
    }

    #[test]
    fn more_decisions_or_a_later_time_never_take_a_purge_back(
        c in case(),
        extra in proptest::collection::vec(decision(), 0..3),
        later in 0u64..100 * DAY_MS,
    ) {
        if run(&c, &c.decisions, c.now_ms).is_some() {
            let mut more = c.decisions.clone();
            more.extend(extra);
            prop_assert!(run(&c, &more, c.now_ms).is_some());
            prop_assert!(run(&c, &c.decisions, c.now_ms + later).is_some());
        }
    }

    #[test]
    fn a_decision_cannot_be_withdrawn(
        ds in proptest::collection::vec(decision(), 1..4),
        drop in 0usize..4,
    ) {
        let mut next = ds.clone();
        next.remove(drop % ds.len());
        // Duplicates of the dropped one may remain; only a real loss must be refused.
        let lost = ds.iter().any(|d| !next.contains(d));
        prop_assert_eq!(check_kept(&ds, &next).is_err(), lost);
        prop_assert!(check_kept(&ds, &ds).is_ok());
    }
}

proptest! {
    #[test]
    fn when_every_reason_holds_the_body_is_purged(
        d in decision(),
        own in 0usize..4,
        extra_days in 0u64..10,
        days in 0u32..60,
    ) {
        let seal = d.units.clone();
        let o = match d.covers {
            PurgeCover::Outage(id) => id,
            PurgeCover::WrittenBefore { .. } => outage(0),
        };
        let wall_ms = match d.covers {
            PurgeCover::Outage(_) => 5_000,
            PurgeCover::WrittenBefore { wall_ms } => wall_ms.saturating_sub(1),
        };
        if matches!(d.covers, PurgeCover::WrittenBefore { wall_ms: 0 }) {
            return Ok(());
        }
        let candidate = Candidate {
            class: EventClass::Clinical,
            hlc: Hlc { wall_ms, logical: 0 },
            seal_units: &seal,
            outage: Some(o),
        };
        let mut node = Node { own: unit(own), closed: vec![o], delivered: seal.clone() };
        let now = d.effective_ms(days) + extra_days * DAY_MS;
        let ds = [d.clone()];
        prop_assert_eq!(purge_under(&ds, &candidate, &node, Some(days), now), Some(&d));
        // The own unit's re-entry reopened (a late event arrived): kept, if it is for it.
        node.closed.clear();
        let kept = purge_under(&ds, &candidate, &node, Some(days), now).is_none();
        prop_assert_eq!(kept, seal.contains(&unit(own)));
    }
}

#[test]
fn the_roster_checks_and_keeps_its_decisions() {
    let r = reservnod_proto::testkit::region("retention");
    let d = PurgeDecision {
        reference: "RS 2026/1234".into(),
        covers: PurgeCover::Outage(outage(0)),
        units: vec![r.ward.0.unit().clone()],
        decided_at_ms: 1,
    };
    let mut with = r.roster.clone();
    with.purge_decisions.push(d.clone());
    assert!(with.validate().is_ok());
    let mut next = with.clone();
    next.version += 1;
    assert!(with.check_successor(&next).is_ok());
    next.purge_decisions.clear();
    let err = with
        .check_successor(&next)
        .expect_err("a decision cannot be dropped");
    assert!(err.to_string().contains("RS 2026/1234"), "{err}");
    let mut unknown = with.clone();
    unknown.purge_decisions[0].units = vec!["SE2321000081-OKAND".parse().expect("hsa")];
    assert!(unknown.validate().is_err(), "a unit not in the roster");
    let mut twice = with.clone();
    twice.purge_decisions.push(d);
    assert!(twice.validate().is_err(), "a reference twice");
    let signed = with.sign(&r.admin).expect("sign");
    assert_eq!(signed.verify().expect("verify"), with);
}
