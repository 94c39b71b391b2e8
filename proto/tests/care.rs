//! The care layer's pure logic: payloads, care chains (in any arrival order), plan versions
//! and conflicts, receipts that never go backwards, escalation timing.

use proptest::prelude::*;
use reservnod_proto::care::chain::{CareChain, ChainEntry, ChainState, Gap, Payment};
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, ExpectedNeeds, PlanContent, PlanKind,
    PAYLOAD_FORMAT,
};
use reservnod_proto::care::plan::{plan_state, plan_trust, Member, Untrusted, Version};
use reservnod_proto::care::receipts::{
    escalation_due, receipt_state, Receipt, ReceiptKind, ReceiptState, RECEIPT_FORMAT,
};
use reservnod_proto::roster::EscalationPolicy;
use reservnod_proto::{EventId, Hlc, HsaId, PatientId, Priority};

const DAY: u64 = 86_400_000;
/// 2026-11-19, a Thursday, 10:00 UTC.
const THURSDAY: u64 = 1_795_082_400_000;

fn patient() -> PatientId {
    "19121212-1212".parse().expect("Skatteverket's test number")
}

fn ward() -> HsaId {
    "SE2321000081-AVD12".parse().expect("valid")
}

fn id(n: u8) -> EventId {
    EventId([n; 32])
}

fn entry(n: u8, document: Document) -> ChainEntry {
    ChainEntry {
        event: id(n),
        hlc: Hlc {
            wall_ms: THURSDAY + u64::from(n),
            logical: 0,
        },
        unit: ward(),
        payload: ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: Some(patient()),
            episode: Some(EpisodeId([7; 16])),
            written_at_ms: THURSDAY + u64::from(n),
            author: "Anna Andersson".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: true,
            phrases: vec![],
            document,
        },
    }
}

fn admission(n: u8, at: u64) -> ChainEntry {
    entry(
        n,
        Document::AdmissionNotice {
            admitted_at_ms: at,
            reason: "fall".into(),
            expected_needs: ExpectedNeeds::Both,
            current_services: vec![],
            preliminary_discharge: None,
            municipality: None,
        },
    )
}

fn ready(n: u8, at: u64) -> ChainEntry {
    entry(
        n,
        Document::DischargeReady {
            at_ms: at,
            physician: "Dr Berg".into(),
        },
    )
}

fn chain(entries: &[ChainEntry]) -> CareChain {
    CareChain::build(&patient(), EpisodeId([7; 16]), entries)
}

#[test]
fn payload_round_trips_and_refuses_oversize() {
    let e = admission(1, THURSDAY);
    let bytes = e.payload.encode().expect("encode");
    assert_eq!(ClinicalPayload::decode(&bytes).expect("decode"), e.payload);
    let mut big = e.payload.clone();
    big.author = "x".repeat(1000);
    assert!(big.encode().is_err());
    assert!(ClinicalPayload::decode(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn the_chain_moves_through_its_steps_and_the_payment_clock_runs() {
    let e1 = admission(1, THURSDAY - DAY);
    let e2 = ready(2, THURSDAY);
    let c = chain(&[e1.clone(), e2.clone()]);
    assert_eq!(c.state, ChainState::ReadyForDischarge);
    assert!(c.gaps.is_empty());
    assert_eq!(c.days_since_ready(THURSDAY + 2 * DAY, 60), Some(2));
    // Ready Thursday: the municipality pays from the start of Sunday (3 calendar days), local time.
    let pays_from = (THURSDAY / DAY + 3) * DAY - 3_600_000;
    assert_eq!(
        c.payment(THURSDAY + DAY, 3, 60),
        Payment::Running { from_ms: pays_from }
    );
    assert_eq!(
        c.payment(pays_from, 3, 60),
        Payment::MunicipalityPays { from_ms: pays_from }
    );
    assert!(
        c.weekend_risk(60),
        "ready on a Thursday with the municipality not ready"
    );

    let e3 = entry(
        3,
        Document::MunicipalityReady {
            from_ms: THURSDAY + DAY,
            planned_measures: "hemtjänst".into(),
        },
    );
    let c = chain(&[e1.clone(), e2.clone(), e3.clone()]);
    assert_eq!(c.state, ChainState::MunicipalityReady);
    assert_eq!(c.payment(THURSDAY + 5 * DAY, 3, 60), Payment::Ended);
    assert!(!c.weekend_risk(60));

    let e4 = entry(
        4,
        Document::Discharged {
            at_ms: THURSDAY + 2 * DAY,
            destination: "hemmet".into(),
        },
    );
    let c = chain(&[e1, e2, e3, e4]);
    assert_eq!(c.state, ChainState::Discharged);
    assert_eq!(
        c.gaps,
        vec![Gap::NoCareReport],
        "discharged without a care report is a deviation"
    );
}

#[test]
fn no_admission_notice_means_no_payment_and_a_visible_gap() {
    let c = chain(&[ready(2, THURSDAY)]);
    assert_eq!(c.gaps, vec![Gap::NoAdmissionNotice]);
    assert_eq!(
        c.payment(THURSDAY + 10 * DAY, 3, 60),
        Payment::NoAdmissionNotice
    );
}

#[test]
fn a_withdrawn_ready_notice_stops_the_clock_until_given_again() {
    let a = admission(1, THURSDAY - DAY);
    let withdraw = entry(
        3,
        Document::NoLongerReady {
            at_ms: THURSDAY + 3_600_000,
            reason: "feber".into(),
        },
    );
    let c = chain(&[a.clone(), ready(2, THURSDAY), withdraw.clone()]);
    assert_eq!(c.state, ChainState::Admitted);
    assert_eq!(c.payment(THURSDAY + 9 * DAY, 3, 60), Payment::NotRunning);
    assert!(c.withdrawn.is_some());
    let again = chain(&[
        a,
        ready(2, THURSDAY),
        withdraw,
        ready(4, THURSDAY + 2 * DAY),
    ]);
    assert_eq!(again.state, ChainState::ReadyForDischarge);
    assert_eq!(again.ready.as_ref().map(|r| r.event), Some(id(4)));
}

#[test]
fn a_plan_that_arrives_before_the_admission_is_kept() {
    let plan = entry(
        5,
        Document::Plan {
            kind: PlanKind::Discharge,
            content: PlanContent {
                goals: "hem".into(),
                measures: vec![],
                follow_up: None,
                participants: vec![],
                patient_view: String::new(),
            },
        },
    );
    let early = chain(std::slice::from_ref(&plan));
    assert_eq!(early.events, vec![id(5)]);
    assert_eq!(early.gaps, vec![Gap::NoAdmissionNotice]);
    let complete = chain(&[plan, admission(1, THURSDAY - DAY)]);
    assert!(complete.gaps.is_empty());
    assert_eq!(complete.events.len(), 2);
}

proptest! {
    #[test]
    fn the_chain_does_not_depend_on_arrival_order(order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle()) {
        let all = [
            admission(1, THURSDAY - DAY),
            ready(2, THURSDAY),
            entry(3, Document::NoLongerReady { at_ms: THURSDAY + 1_000, reason: "feber".into() }),
            ready(4, THURSDAY + DAY),
            entry(5, Document::MunicipalityReady { from_ms: THURSDAY + 2 * DAY, planned_measures: String::new() }),
            entry(6, Document::Discharged { at_ms: THURSDAY + 3 * DAY, destination: "hemmet".into() }),
        ];
        let reference = chain(&all);
        let shuffled: Vec<ChainEntry> = order.iter().map(|&i| all[i].clone()).collect();
        prop_assert_eq!(chain(&shuffled), reference);
    }

    #[test]
    fn receipt_state_never_goes_backwards(order in Just((0..3usize).collect::<Vec<_>>()).prop_shuffle()) {
        let r = |kind, at, by: Option<&str>| Receipt { format: RECEIPT_FORMAT, kind, event: id(1), unit: ward(), by: by.map(str::to_string), at_ms: at };
        let all = [r(ReceiptKind::Delivered, 10, None), r(ReceiptKind::Read, 20, Some("Bo")), r(ReceiptKind::Delivered, 30, None)];
        let got: Vec<Receipt> = order.iter().map(|&i| all[i].clone()).collect();
        prop_assert_eq!(receipt_state(&id(1), &ward(), &got), ReceiptState::Read { delivered_ms: Some(10), at_ms: 20, by: "Bo".into() });
    }
}

#[test]
fn receipts_and_escalation() {
    let policy = EscalationPolicy {
        urgent_unread_minutes: 30,
        normal_unread_minutes: 240,
    };
    assert_eq!(receipt_state(&id(1), &ward(), &[]), ReceiptState::Waiting);
    let d = Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Delivered,
        event: id(1),
        unit: ward(),
        by: None,
        at_ms: 5,
    };
    let other_unit: HsaId = "SE2321000081-KOM1080".parse().expect("valid");
    let elsewhere = Receipt {
        unit: other_unit,
        ..d.clone()
    };
    assert_eq!(
        receipt_state(&id(1), &ward(), &[elsewhere]),
        ReceiptState::Waiting,
        "another unit's receipt is not ours"
    );
    let state = receipt_state(&id(1), &ward(), std::slice::from_ref(&d));
    assert_eq!(state, ReceiptState::Delivered { at_ms: 5 });
    assert_eq!(
        escalation_due(1_000, Priority::Urgent, &policy, &state),
        Some(1_000 + 30 * 60_000)
    );
    assert_eq!(
        escalation_due(1_000, Priority::Normal, &policy, &state),
        Some(1_000 + 240 * 60_000)
    );
    let read = ReceiptState::Read {
        delivered_ms: Some(5),
        at_ms: 9,
        by: "Bo".into(),
    };
    assert_eq!(
        escalation_due(1_000, Priority::Urgent, &policy, &read),
        None
    );
    let bytes = d.encode().expect("encode");
    assert_eq!(Receipt::decode(&bytes).expect("decode"), d);
}

fn version(n: u8, parents: &[u8]) -> Version {
    Version {
        id: id(n),
        parents: parents.iter().map(|&p| id(p)).collect(),
        hlc: Hlc {
            wall_ms: u64::from(n),
            logical: 0,
        },
    }
}

#[test]
fn plan_versions_conflict_until_resolved() {
    let v = version;
    let linear = plan_state(&[v(1, &[]), v(2, &[1]), v(3, &[2])]);
    assert_eq!(linear.heads, vec![id(3)]);
    assert!(!linear.in_conflict());
    // Two nodes cut off from each other both edit version 2.
    let fork = [v(1, &[]), v(2, &[1]), v(3, &[2]), v(4, &[2])];
    let state = plan_state(&fork);
    assert!(state.in_conflict());
    assert_eq!(
        state.heads,
        vec![id(4), id(3)],
        "both texts kept, newest first"
    );
    // Someone writes a version replacing both: settled.
    let mut resolved = fork.to_vec();
    resolved.push(v(5, &[3, 4]));
    assert_eq!(plan_state(&resolved).heads, vec![id(5)]);
    // Order does not matter.
    let mut reversed = resolved.clone();
    reversed.reverse();
    assert_eq!(plan_state(&reversed), plan_state(&resolved));
}

#[test]
fn a_version_whose_parent_has_not_arrived_waits_and_is_no_conflict() {
    let v = version;
    // The first version is here; version 3 (urgent) arrived before version 2, its parent.
    let early = plan_state(&[v(1, &[]), v(3, &[2])]);
    assert_eq!(early.waiting, vec![(id(3), vec![id(2)])]);
    assert!(early.is_waiting());
    assert!(!early.in_conflict(), "a waiting version is no conflict");
    assert_eq!(early.heads, vec![id(3)], "the newest text is the head");
    // Version 2 arrives: settled on version 3, nothing waits.
    let all = plan_state(&[v(1, &[]), v(3, &[2]), v(2, &[1])]);
    assert_eq!(all.heads, vec![id(3)]);
    assert!(all.waiting.is_empty() && all.incomplete.is_empty());
    // A head with all its history beside one whose history is missing: not known to
    // conflict until the missing version shows whether it replaced the other.
    let unsure = plan_state(&[v(1, &[]), v(2, &[1]), v(4, &[3])]);
    assert_eq!(unsure.heads, vec![id(4), id(2)]);
    assert_eq!(unsure.incomplete, vec![id(4)]);
    assert!(!unsure.in_conflict());
    // It did not (3 was written from 1): now a real conflict.
    let forked = plan_state(&[v(1, &[]), v(2, &[1]), v(4, &[3]), v(3, &[1])]);
    assert!(forked.in_conflict());
    assert_eq!(forked.heads, vec![id(4), id(2)]);
    // Without the first version, nothing is known to conflict either.
    let no_first = plan_state(&[v(3, &[2]), v(5, &[4])]);
    assert!(!no_first.in_conflict());
}

/// A linear history of `len` versions, and which of them arrived, in arrival order.
fn linear_arrivals() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (1usize..24).prop_flat_map(|len| {
        (
            Just(len),
            proptest::sample::subsequence((0..len).collect::<Vec<_>>(), 0..=len).prop_shuffle(),
        )
    })
}

proptest! {
    /// A plan edited one version after another is never shown as a conflict, whichever of
    /// its versions have arrived and in whatever order; its newest arrived version is
    /// always a head, and once all have arrived the last one is the only head.
    #[test]
    fn a_linear_history_never_conflicts_whatever_arrived((len, arrived) in linear_arrivals()) {
        let all: Vec<Version> = (1..=len)
            .map(|n| {
                let n = u8::try_from(n).expect("small");
                if n == 1 { version(n, &[]) } else { version(n, &[n - 1]) }
            })
            .collect();
        let held: Vec<Version> = arrived.iter().map(|&i| all[i].clone()).collect();
        let state = plan_state(&held);
        prop_assert!(!state.in_conflict(), "{:?} -> {:?}", held, state);
        if let Some(newest) = held.iter().max_by_key(|v| v.hlc) {
            prop_assert!(state.heads.contains(&newest.id), "{:?} -> {:?}", held, state);
        }
        let complete = plan_state(&all);
        prop_assert_eq!(complete.heads, vec![all[len - 1].id]);
        prop_assert!(complete.waiting.is_empty());
    }
}

fn member(n: u8, unit: &str, parents: Option<&[u8]>) -> Member {
    Member {
        id: id(n),
        hlc: Hlc {
            wall_ms: THURSDAY + u64::from(n),
            logical: 0,
        },
        unit: unit.parse().expect("valid"),
        recipients: vec![],
        patient: Some(patient()),
        episode: Some(EpisodeId([7; 16])),
        parents: parents.map(|p| p.iter().map(|&x| id(x)).collect()),
    }
}

#[test]
fn a_plan_is_what_its_first_version_says_and_outsiders_are_evidence() {
    const WARD: &str = "SE2321000081-AVD12";
    const KOMMUN: &str = "SE2321000081-KOM1080";
    const VC: &str = "SE2321000081-VCNH";
    let mut first = member(1, WARD, Some(&[]));
    first.recipients = vec![KOMMUN.parse().expect("valid")];
    let kommun_edit = member(2, KOMMUN, Some(&[1]));
    // Primary care, not a participant, writes a version of the plan, one with an earlier
    // time (to become the oldest) and a note.
    let mut outsider = member(3, VC, Some(&[2]));
    outsider.hlc.wall_ms = 1;
    let outsider_note = member(4, VC, None);
    // A participant's version naming another patient or episode.
    let mut other_patient = member(5, KOMMUN, Some(&[2]));
    other_patient.patient = Some("19821105-9954".parse().expect("test number"));
    let mut other_episode = member(6, WARD, Some(&[2]));
    other_episode.episode = Some(EpisodeId([8; 16]));
    let ward_note = member(7, WARD, None);
    let members = vec![
        outsider.clone(),
        kommun_edit.clone(),
        outsider_note.clone(),
        first.clone(),
        other_patient.clone(),
        other_episode.clone(),
        ward_note.clone(),
    ];
    let t = plan_trust(&members);
    assert_eq!(t.first, Some(id(1)));
    assert_eq!(
        t.participants,
        vec![WARD.parse().expect("valid"), KOMMUN.parse().expect("valid")]
    );
    assert_eq!(t.versions, vec![id(1), id(2)]);
    assert_eq!(t.notes, vec![id(7)]);
    let mut untrusted = t.untrusted.clone();
    untrusted.sort();
    assert_eq!(
        untrusted,
        vec![
            (id(3), Untrusted::OutsideUnit),
            (id(4), Untrusted::OutsideUnit),
            (id(5), Untrusted::OtherPatient),
            (id(6), Untrusted::OtherEpisode),
        ]
    );
    assert!(t.pending.is_empty());
    // Before the first version arrives nothing is trusted yet.
    let early = plan_trust(&[kommun_edit, outsider]);
    assert_eq!(early.first, None);
    assert!(early.versions.is_empty() && early.untrusted.is_empty());
    assert_eq!(early.pending.len(), 2);
    // Arrival order does not matter.
    let mut reversed = members;
    reversed.reverse();
    assert_eq!(plan_trust(&reversed), t);
}

#[test]
fn only_a_standalone_message_may_leave_out_the_patient() {
    let mut e = admission(1, THURSDAY);
    e.payload.patient = None;
    let err = e
        .payload
        .encode()
        .expect_err("an admission notice without a patient");
    assert!(err.to_string().contains("patient"), "{err}");
    let mut m = admission(2, THURSDAY).payload;
    m.document = Document::Message {
        kind: reservnod_proto::care::documents::MessageKind::Question,
        subject: "Fråga".into(),
        text: "Text".into(),
        answer_by_ms: None,
        reply_to: None,
    };
    m.patient = None;
    m.episode = None;
    let bytes = m.encode().expect("a message about no patient");
    assert_eq!(ClinicalPayload::decode(&bytes).expect("decode"), m);
    // An episode without a patient, or a message without a subject, is refused.
    m.episode = Some(EpisodeId([1; 16]));
    assert!(m.encode().is_err());
    m.episode = None;
    if let Document::Message { subject, .. } = &mut m.document {
        *subject = " ".into();
    }
    assert!(m.encode().is_err());
}

#[test]
fn a_time_past_the_year_9999_is_refused() {
    let mut e = ready(1, u64::MAX - 1);
    assert!(e.payload.encode().is_err());
    e = ready(1, reservnod_proto::care::documents::TIME_MS_MAX);
    assert!(e.payload.encode().is_ok());
}

fn snapshot(n: u8, admitted: u64, ready_at: Option<u64>) -> ChainEntry {
    entry(
        n,
        Document::Snapshot(reservnod_proto::care::snapshot::ChainSnapshot {
            key: [n; 16],
            taken_at_ms: THURSDAY,
            state: if ready_at.is_some() {
                ChainState::ReadyForDischarge
            } else {
                ChainState::Admitted
            },
            admitted_at_ms: admitted,
            ready_at_ms: ready_at,
            municipality_ready_at_ms: None,
            preliminary_discharge: None,
            plan_summary: "Hemtjänst".into(),
            units: vec![ward()],
        }),
    )
}

/// An imported snapshot's steps count at their own times among the documents written
/// during the outage, whatever the order they arrive in: a withdrawal after the snapshot's
/// ready notice stops the clock, a ready notice before it does not override it.
#[test]
fn a_snapshot_gives_its_steps_at_their_times_beside_the_outage_documents() {
    let snap = snapshot(1, THURSDAY - 3 * DAY, Some(THURSDAY - DAY));
    let withdrawn = entry(
        2,
        Document::NoLongerReady {
            at_ms: THURSDAY - DAY / 2,
            reason: "feber".into(),
        },
    );
    let early_ready = ready(3, THURSDAY - 2 * DAY);
    for entries in [
        vec![snap.clone(), withdrawn.clone()],
        vec![withdrawn.clone(), snap.clone()],
    ] {
        let c = chain(&entries);
        assert_eq!(c.state, ChainState::Admitted);
        assert!(c.ready.is_none());
        assert_eq!(
            c.admitted.as_ref().map(|s| s.at_ms),
            Some(THURSDAY - 3 * DAY)
        );
        assert_eq!(c.snapshot.as_ref().map(|s| s.event), Some(id(1)));
        assert!(c.gaps.is_empty(), "the snapshot counts as the admission");
    }
    // A ready notice older than the snapshot's is replaced by the snapshot's.
    let c = chain(&[early_ready, snap.clone()]);
    assert_eq!(c.state, ChainState::ReadyForDischarge);
    assert_eq!(
        c.ready.as_ref().map(|s| (s.at_ms, s.event)),
        Some((THURSDAY - DAY, id(1)))
    );
    assert!(matches!(
        c.payment(THURSDAY, 3, 60),
        Payment::Running { .. } | Payment::MunicipalityPays { .. }
    ));
    // Steps that do not fit the state are refused on encode (and so on decode).
    let mut bad = snapshot(4, THURSDAY - DAY, None).payload;
    if let Document::Snapshot(s) = &mut bad.document {
        s.municipality_ready_at_ms = Some(THURSDAY);
    }
    assert!(bad.encode().is_err());
    assert!(snap.payload.encode().is_ok());
}
