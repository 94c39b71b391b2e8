//! Golden byte vectors: the exact bytes of every frame kind, a plain and a sealed signed
//! event, a roster file (also one with a revocation), a clinical payload, a receipt body,
//! a staff account's change (its payload, and the event sealed to its unit alone), and two
//! control payloads (an outage's declaration, a re-entry mark), a roster with a purge
//! decision. An
//! accidental change to the wire or storage format fails here.
//! `event_v1_sealed_signed.hex` is a sealed event of the retired format 1 (bodies not bound
//! to their headers), kept as written then: it must be refused with that reason.
//! `roster_v2_file.hex` is the roster file of format 2 (before purge decisions), kept as
//! written then: it must still verify, as a roster with no decision.
//!
//! After a deliberate format change (with a new format version and a PROTOCOL.md update),
//! regenerate with `RESERVNOD_UPDATE_GOLDEN=1 cargo test -p reservnod-proto --test golden`.

use reservnod_proto::testkit as common;

use std::path::PathBuf;

use common::{region, SeededRng};
use reservnod_proto::accounts::{AccountChange, AccountPayload, Role, ACCOUNT_FORMAT};
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, PAYLOAD_FORMAT,
};
use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
use reservnod_proto::event::{Body, Event, EventClass, Priority, Reject, EVENT_FORMAT};
use reservnod_proto::frame::{Frame, FrameDecoder, Hello, Scope, PROTOCOL_VERSION};
use reservnod_proto::outage::{Control, ControlPayload, Mark, CONTROL_FORMAT};
use reservnod_proto::reconcile::{Bound, Message, Mode, Range};
use reservnod_proto::roster::SignedRoster;
use reservnod_proto::{Hlc, SignedEvent};

const HLC: Hlc = Hlc {
    wall_ms: 1_795_435_200_000,
    logical: 3,
};

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let r = region("golden");
    let mut rng = SeededRng::new("golden-seal");
    let sealed = r
        .clinical(&mut rng, b"Utskrivningsklar: 19121212-1212", HLC)
        .sign(&r.ward.1)
        .expect("sign");
    let plain = Event {
        format: EVENT_FORMAT,
        author: r.kommun.1.id(),
        unit: r.kommun.0.unit().clone(),
        user: None,
        hlc: HLC,
        class: EventClass::Control,
        priority: Priority::Normal,
        recipients: vec![],
        doc: None,
        body: Body::Plain(b"driftstopp".to_vec()),
    }
    .sign(&r.kommun.1)
    .expect("sign");
    let roster = r.roster.sign(&r.admin).expect("sign");
    let account = account_event(&r);
    let frames = [
        (
            "frame_hello",
            Frame::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                roster_version: 1,
                node: r.ward.1.id(),
                hlc: HLC,
            }),
        ),
        (
            "frame_events",
            Frame::Events(vec![plain.clone(), sealed.clone()]),
        ),
        ("frame_roster", Frame::Roster(roster.clone())),
        (
            "frame_ping",
            Frame::Ping {
                nonce: 0x0123_4567_89ab_cdef,
                hlc: HLC,
            },
        ),
        (
            "frame_pong",
            Frame::Pong {
                nonce: 0x0123_4567_89ab_cdef,
                hlc: HLC,
            },
        ),
        (
            "frame_goodbye",
            Frame::Goodbye {
                reason: "revoked".into(),
            },
        ),
        (
            "frame_reconcile",
            Frame::Reconcile {
                scope: Scope::All,
                session: 7,
                message: Message {
                    ranges: vec![
                        Range {
                            upper: Some(Bound {
                                hlc: HLC,
                                prefix: vec![0xab],
                            }),
                            mode: Mode::Fingerprint(vec![0x11; 16]),
                        },
                        Range {
                            upper: None,
                            mode: Mode::IdList(vec![sealed.id()]),
                        },
                    ],
                },
            },
        ),
        (
            "frame_want",
            Frame::Want {
                urgent: true,
                ids: vec![sealed.id()],
            },
        ),
        ("frame_pending", Frame::Pending { events: 42 }),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "event_plain_signed",
            reservnod_proto::codec::encode::<_, { usize::MAX }>(&plain).expect("encode"),
        ),
        (
            "event_sealed_signed",
            reservnod_proto::codec::encode::<_, { usize::MAX }>(&sealed).expect("encode"),
        ),
        ("roster_file", roster.to_file_bytes().expect("encode")),
        (
            "roster_revoked_file",
            revoked_roster(&r)
                .sign(&r.admin)
                .expect("sign")
                .to_file_bytes()
                .expect("encode"),
        ),
        (
            "roster_purge_file",
            purge_roster(&r)
                .sign(&r.admin)
                .expect("sign")
                .to_file_bytes()
                .expect("encode"),
        ),
        ("care_payload", payload().encode().expect("encode")),
        ("care_receipt", receipt().encode().expect("encode")),
        (
            "account_payload",
            account_payload().encode().expect("encode"),
        ),
        (
            "event_account_signed",
            reservnod_proto::codec::encode::<_, { usize::MAX }>(&account).expect("encode"),
        ),
        (
            "control_declared",
            control(Control::OutageDeclared {
                reason: "LINK nere sedan 08.10".into(),
            })
            .encode()
            .expect("encode"),
        ),
        (
            "control_marked",
            control(Control::ReentryMarked {
                outage: reservnod_proto::EventId([0x11; 32]),
                item: reservnod_proto::EventId([0x22; 32]),
                mark: Mark::Entered {
                    link_ref: "LINK-4711".into(),
                },
            })
            .encode()
            .expect("encode"),
        ),
    ];
    for (name, f) in frames {
        out.push((name, f.encode().expect("encode")));
    }
    out
}

/// The region's roster, version 2, with the AVD99 ward's node revoked (cut-off 100 s
/// before the revocation).
fn revoked_roster(r: &common::Region) -> reservnod_proto::Roster {
    let mut roster = r.roster.clone();
    roster.version = 2;
    roster.issued_at_ms = HLC.wall_ms;
    roster.revoked.push(reservnod_proto::roster::Revocation {
        node: r.outsider.1.id(),
        at_ms: HLC.wall_ms,
        cutoff: Hlc {
            wall_ms: HLC.wall_ms - 100_000,
            logical: 0,
        },
        reason: "stulen dator".into(),
    });
    roster
}

/// The region's roster, version 2, with a purge decision for one outage at the ward.
fn purge_roster(r: &common::Region) -> reservnod_proto::Roster {
    let mut roster = r.roster.clone();
    roster.version = 2;
    roster.issued_at_ms = HLC.wall_ms;
    roster
        .purge_decisions
        .push(reservnod_proto::retention::PurgeDecision {
            reference: "RS 2026/1234".into(),
            covers: reservnod_proto::retention::PurgeCover::Outage(reservnod_proto::EventId(
                [0x11; 32],
            )),
            units: vec![r.ward.0.unit().clone()],
            decided_at_ms: HLC.wall_ms,
        });
    roster
}

/// A control payload (an outage's declaration is a plain body; a mark is sealed).
fn control(control: Control) -> ControlPayload {
    ControlPayload {
        format: CONTROL_FORMAT,
        written_at_ms: HLC.wall_ms,
        by: "Anna Andersson".into(),
        control,
    }
}

/// A ready-for-discharge payload (sealed in real events; here its plaintext bytes).
fn payload() -> ClinicalPayload {
    ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: Some("19121212-1212".parse().expect("test number")),
        episode: Some(EpisodeId([0x11; 16])),
        written_at_ms: HLC.wall_ms,
        author: "Sara Sjöberg".into(),
        role: "sjuksköterska".into(),
        consent: ConsentBasis::Consent,
        receipt_required: true,
        phrases: vec!["recept".into()],
        document: Document::DischargeReady {
            at_ms: HLC.wall_ms - 3_600_000,
            physician: "Dr Lena Berg".into(),
        },
    }
}

/// A staff account made at the ward (the password hash is a fixed PHC string).
fn account_payload() -> AccountPayload {
    AccountPayload {
        format: ACCOUNT_FORMAT,
        login: "sara".into(),
        at_ms: HLC.wall_ms,
        change: AccountChange::Created {
            name: "Sara Sjöberg".into(),
            title: "sjuksköterska".into(),
            roles: vec![Role::Staff, Role::UnitAdmin],
            password: "$argon2id$v=19$m=19456,t=2,p=1$cmVzZXJ2bm9kLXNhbHQh$ZmFrZSBoYXNoIGZvciB0aGUgZ29sZGVuIHZlY3Rvcg".into(),
        },
    }
}

/// [`account_payload`] as the ward's node writes it: an `Account` event sealed to the ward
/// alone, by the RNG seeded `golden-account`.
fn account_event(r: &common::Region) -> SignedEvent {
    let (ward_unit, ward_node) = &r.ward;
    let own = ward_unit.unit().clone();
    let key = ward_unit.public();
    reservnod_proto::Header {
        format: EVENT_FORMAT,
        author: ward_node.id(),
        unit: own.clone(),
        user: Some("it".into()),
        hlc: HLC,
        class: EventClass::Account,
        priority: Priority::Normal,
        recipients: vec![],
        doc: None,
    }
    .seal(
        &mut SeededRng::new("golden-account"),
        &account_payload().encode().expect("encode"),
        |u| (u == &own).then_some(key),
    )
    .expect("seal")
    .sign(ward_node)
    .expect("sign")
}

fn receipt() -> Receipt {
    Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Read,
        event: reservnod_proto::EventId([0x22; 32]),
        unit: "SE2321000081-KOM1080".parse().expect("valid"),
        by: Some("Kim Karlsson".into()),
        at_ms: HLC.wall_ms,
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn to_hex_lines(bytes: &[u8]) -> String {
    let hex = data_encoding::HEXLOWER.encode(bytes);
    let mut s = String::new();
    for line in hex.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("hex is ASCII"));
        s.push('\n');
    }
    s
}

#[test]
fn encodings_match_the_golden_vectors() {
    let update = std::env::var_os("RESERVNOD_UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for (name, bytes) in vectors() {
        let path = golden_dir().join(format!("{name}.hex"));
        let text = to_hex_lines(&bytes);
        if update {
            std::fs::write(&path, &text).expect("write golden file");
            continue;
        }
        let expected =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if expected != text {
            mismatched.push(name);
        }
    }
    assert!(
        mismatched.is_empty(),
        "encoding changed for {mismatched:?}: if deliberate, bump the format version, update PROTOCOL.md and regenerate (see this file's header)"
    );
}

#[test]
fn golden_bytes_decode_and_verify() {
    let read = |name: &str| {
        let text =
            std::fs::read_to_string(golden_dir().join(format!("{name}.hex"))).expect("golden file");
        data_encoding::HEXLOWER
            .decode(text.replace('\n', "").as_bytes())
            .expect("hex")
    };
    let r = region("golden");
    for name in [
        "event_plain_signed",
        "event_sealed_signed",
        "event_account_signed",
    ] {
        let se: SignedEvent =
            reservnod_proto::codec::decode::<_, { 1 << 20 }>(&read(name)).expect("decode");
        let v = se.verify().expect("golden event verifies");
        r.roster.authorize(&v).expect("author in roster");
    }
    let v2 = SignedRoster::from_file_bytes(&read("roster_v2_file")).expect("a format 2 file");
    let v2 = v2
        .verify_trusted(&r.roster.admin)
        .expect("a format 2 roster still verifies");
    assert_eq!(
        v2, r.roster,
        "read as the same roster with no purge decision"
    );
    let purge = SignedRoster::from_file_bytes(&read("roster_purge_file")).expect("file");
    assert_eq!(purge.verify().expect("verifies"), purge_roster(&r));
    let old: SignedEvent =
        reservnod_proto::codec::decode::<_, { 1 << 20 }>(&read("event_v1_sealed_signed"))
            .expect("a format-1 event still decodes as a SignedEvent");
    let refused = old.verify().expect_err("format 1 is refused");
    assert_eq!(refused, Reject::UnsupportedFormat(1));
    assert!(refused.to_string().contains("not bound to their headers"));
    let sealed: SignedEvent =
        reservnod_proto::codec::decode::<_, { 1 << 20 }>(&read("event_sealed_signed"))
            .expect("decode");
    let opened = sealed
        .verify()
        .expect("verify")
        .open(&r.kommun.0)
        .expect("municipality opens");
    assert_eq!(opened.as_slice(), b"Utskrivningsklar: 19121212-1212");
    assert_eq!(
        ClinicalPayload::decode(&read("care_payload")).expect("decode"),
        payload()
    );
    assert_eq!(
        Receipt::decode(&read("care_receipt")).expect("decode"),
        receipt()
    );
    assert_eq!(
        AccountPayload::decode(&read("account_payload")).expect("decode"),
        account_payload()
    );
    let account: SignedEvent =
        reservnod_proto::codec::decode::<_, { 1 << 20 }>(&read("event_account_signed"))
            .expect("decode");
    let account = account.verify().expect("verify");
    let opened = account
        .open(&r.ward.0)
        .expect("the ward opens its own account event");
    assert_eq!(
        AccountPayload::decode(&opened).expect("decode"),
        account_payload()
    );
    assert!(
        account.open(&r.kommun.0).is_err(),
        "another unit cannot open it"
    );
    let roster = SignedRoster::from_file_bytes(&read("roster_file")).expect("decode");
    assert_eq!(
        roster.verify_trusted(&r.admin.public()).expect("verify"),
        r.roster
    );
    let revoked = SignedRoster::from_file_bytes(&read("roster_revoked_file")).expect("decode");
    assert_eq!(
        revoked.verify_trusted(&r.admin.public()).expect("verify"),
        revoked_roster(&r)
    );
    for name in [
        "frame_hello",
        "frame_events",
        "frame_roster",
        "frame_ping",
        "frame_pong",
        "frame_goodbye",
        "frame_reconcile",
        "frame_want",
        "frame_pending",
    ] {
        let frames = FrameDecoder::new()
            .decode_all(&read(name))
            .expect("golden frame decodes");
        assert_eq!(frames.len(), 1, "{name}");
    }
}
