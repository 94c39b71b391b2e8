//! Outages by property: which outage an event belongs to does not depend on the order the
//! declarations and ends arrived in, every event belongs to one once any is held, and a
//! control payload's decoder never panics on any bytes and reads back what was written.

use proptest::prelude::*;
use reservnod_proto::outage::{
    attach, outages, standing, Control, ControlPayload, Declared, Ended, Mark, Placement, Standing,
    CONTROL_FORMAT,
};
use reservnod_proto::{EventId, Hlc, HsaId};

fn hlc(ms: u64) -> Hlc {
    Hlc {
        wall_ms: ms,
        logical: 0,
    }
}

fn unit() -> HsaId {
    "SE2321000081-AVD12".parse().expect("hsa")
}

fn declared(n: u8, at: u64) -> Declared {
    Declared {
        id: EventId([n; 32]),
        hlc: hlc(at),
        unit: unit(),
        scope: vec![unit()],
        by: "Anna".into(),
        reason: "LINK nere".into(),
        written_at_ms: at,
    }
}

fn ended(n: u8, of: u8, at: u64) -> Ended {
    Ended {
        id: EventId([n; 32]),
        outage: EventId([of; 32]),
        hlc: hlc(at),
        unit: unit(),
        by: "Anna".into(),
        note: String::new(),
        written_at_ms: at,
    }
}

fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    let mut s = seed | 1;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

proptest! {
    #[test]
    fn placing_events_does_not_depend_on_arrival_order(
        decls in prop::collection::vec(0u64..1_000, 0..6),
        ends in prop::collection::vec((0usize..6, 0u64..1_200), 0..8),
        events in prop::collection::vec(0u64..1_300, 0..20),
        seed in any::<u64>(),
    ) {
        let d: Vec<Declared> = decls.iter().enumerate().map(|(i, at)| declared(i as u8 + 1, *at)).collect();
        let e: Vec<Ended> = ends
            .iter()
            .enumerate()
            .filter(|(_, (of, _))| *of < d.len())
            .map(|(i, (of, at))| ended(100 + i as u8, *of as u8 + 1, *at))
            .collect();
        let a = outages(&d, &e);
        let b = outages(&shuffled(&d, seed), &shuffled(&e, seed.rotate_left(7)));
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(standing(&a), standing(&b));
        for at in &events {
            let placed = attach(&a, hlc(*at));
            prop_assert_eq!(placed, attach(&b, hlc(*at)));
            // Every event belongs to exactly one outage once any is held.
            prop_assert_eq!(placed.is_some(), !a.is_empty());
            if let Some((i, p)) = placed {
                let o = &a[i];
                match p {
                    Placement::BeforeDeclaration => {
                        prop_assert_eq!(i, 0);
                        prop_assert!(hlc(*at) < o.declared.hlc);
                    }
                    Placement::During => {
                        prop_assert!(o.declared.hlc <= hlc(*at));
                        prop_assert!(o.end_hlc().is_none_or(|end| hlc(*at) < end));
                    }
                    Placement::AfterEnd => {
                        prop_assert!(o.end_hlc().is_some_and(|end| hlc(*at) >= end));
                    }
                }
                // No later declaration is at or before it.
                prop_assert!(a[i + 1..].iter().all(|later| later.declared.hlc > hlc(*at)));
            }
        }
        if let Standing::Ended(_) = standing(&a) {
            prop_assert!(a.iter().all(|o| o.ended.is_some()));
        }
    }

    #[test]
    fn a_control_payload_never_panics_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ControlPayload::decode(&bytes);
    }

    #[test]
    fn a_control_payload_reads_back(
        reason in "[a-zåäö ]{1,40}",
        link_ref in "[A-Z0-9-]{0,20}",
        at in any::<u64>(),
        which in 0u8..4,
    ) {
        let control = match which {
            0 => Control::OutageDeclared { reason: reason.clone() },
            1 => Control::OutageEnded { outage: EventId([1; 32]), note: link_ref.clone() },
            2 => Control::ReentryMarked {
                outage: EventId([1; 32]),
                item: EventId([2; 32]),
                mark: if link_ref.is_empty() {
                    Mark::NotNeeded { reason: reason.clone() }
                } else {
                    Mark::Entered { link_ref: link_ref.clone() }
                },
            },
            _ => Control::ReentrySignedOff { outage: EventId([1; 32]), reason: reason.clone() },
        };
        let p = ControlPayload { format: CONTROL_FORMAT, written_at_ms: at, by: "Anna".into(), control };
        if reason.trim().is_empty() {
            return Ok(());
        }
        let bytes = p.encode().expect("a valid payload encodes");
        prop_assert_eq!(ControlPayload::decode(&bytes).expect("reads back"), p);
    }
}
