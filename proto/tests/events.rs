//! Signed and sealed events: signing, verification, sealing, and what is refused.

use reservnod_proto::testkit as common;

use common::{hsa, region, SeededRng};
use proptest::prelude::*;
use reservnod_proto::event::{
    Body, DocId, DocRef, Event, EventClass, EventId, Priority, Reject, SignedEvent, EVENT_FORMAT,
};
use reservnod_proto::seal::{SealError, Sealed, WrappedKey};
use reservnod_proto::{Hlc, NodeId, NodeKey};

const TEXT: &[u8] = b"Patient 19121212-1212 bedoms utskrivningsklar 2026-11-23 kl 14.00";

#[test]
fn signed_event_verifies_from_its_stored_bytes() {
    let region = region("events-1");
    let mut rng = SeededRng::new("e1");
    let event = region.clinical(
        &mut rng,
        TEXT,
        Hlc {
            wall_ms: 1_795_000_000_000,
            logical: 0,
        },
    );
    let signed = event.sign(&region.ward.1).expect("sign");
    let verified = signed.verify().expect("verify");
    assert_eq!(verified.event(), &event);
    assert_eq!(verified.id(), signed.id());
    assert_eq!(verified.signed().bytes, signed.bytes);
    region
        .roster
        .authorize(&verified)
        .expect("ward node is admitted");
}

#[test]
fn recipients_and_author_unit_open_it_and_no_one_else() {
    let region = region("events-2");
    let mut rng = SeededRng::new("e2");
    let signed = region
        .clinical(&mut rng, TEXT, Hlc::default())
        .sign(&region.ward.1)
        .expect("sign");
    let verified = signed.verify().expect("verify");
    for unit_key in [&region.ward.0, &region.kommun.0, &region.vc.0] {
        assert_eq!(verified.open(unit_key).expect("opens").as_slice(), TEXT);
    }
    assert_eq!(
        verified.open(&region.outsider.0),
        Err(SealError::NotARecipient(hsa("AVD99")))
    );
    // No patient data outside the sealed body: the personnummer is nowhere in the bytes.
    for needle in [&b"19121212"[..], b"121212", b"utskrivningsklar"] {
        assert!(!signed.bytes.windows(needle.len()).any(|w| w == needle));
    }
}

#[test]
fn tampered_or_forged_events_are_refused() {
    let region = region("events-3");
    let mut rng = SeededRng::new("e3");
    let event = region.clinical(&mut rng, TEXT, Hlc::default());
    let signed = event.sign(&region.ward.1).expect("sign");

    // Any flipped bit in the signed bytes or the signature fails.
    for i in [0, signed.bytes.len() / 2, signed.bytes.len() - 1] {
        let mut t = signed.clone();
        t.bytes[i] ^= 0x01;
        assert!(t.verify().is_err(), "flip at {i} must fail");
    }
    let mut t = signed.clone();
    t.sig[10] ^= 0x80;
    assert_eq!(t.verify().err(), Some(Reject::BadSignature));

    // Signed by a node that claims to be another: the key must be the author's.
    let mallory = NodeKey::from_seed(&[9u8; 32]);
    assert!(event.sign(&mallory).is_err());
    let mut claims_ward = event.clone();
    claims_ward.author = mallory.id();
    claims_ward.doc = Some(DocRef::first(&mallory.id(), claims_ward.hlc));
    let forged = claims_ward.sign(&mallory).expect("signs as itself");
    let verified = forged.verify().expect("self-consistent");
    assert_eq!(
        region.roster.authorize(&verified),
        Err(Reject::UnknownAuthor(mallory.id()))
    );

    // A roster node writing for another unit.
    let mut wrong_unit = region.clinical(&mut rng, TEXT, Hlc::default());
    wrong_unit.author = region.kommun.1.id();
    wrong_unit.doc = Some(DocRef::first(&region.kommun.1.id(), wrong_unit.hlc));
    let v = wrong_unit
        .sign(&region.kommun.1)
        .expect("sign")
        .verify()
        .expect("verify");
    assert!(matches!(
        region.roster.authorize(&v),
        Err(Reject::WrongUnit { .. })
    ));
}

#[test]
fn revoked_author_is_refused() {
    let mut region = region("events-4");
    let mut rng = SeededRng::new("e4");
    let v = region
        .clinical(&mut rng, TEXT, Hlc::default())
        .sign(&region.ward.1)
        .expect("sign")
        .verify()
        .expect("verify");
    region
        .roster
        .revoked
        .push(reservnod_proto::roster::Revocation {
            node: region.ward.1.id(),
            at_ms: 1,
            cutoff: Hlc::default(),
            reason: "stulen dator".into(),
        });
    assert_eq!(
        region.roster.authorize(&v),
        Err(Reject::RevokedAuthor(region.ward.1.id()))
    );
}

/// Before the cut-off an event of a revoked node counts when an admitted node carries it;
/// never from the node itself or from no carrier, and nothing from the cut-off on.
#[test]
fn a_revoked_nodes_events_before_the_cutoff_count_when_an_admitted_node_carries_them() {
    let mut region = region("events-cutoff");
    let mut rng = SeededRng::new("ecut");
    let cutoff = Hlc {
        wall_ms: 1_000,
        logical: 5,
    };
    let mut at = |wall_ms, logical| {
        region
            .clinical(&mut rng, TEXT, Hlc { wall_ms, logical })
            .sign(&region.ward.1)
            .expect("sign")
            .verify()
            .expect("verify")
    };
    let (before, on, after) = (at(1_000, 4), at(1_000, 5), at(2_000, 0));
    let revoked = region.ward.1.id();
    region
        .roster
        .revoked
        .push(reservnod_proto::roster::Revocation {
            node: revoked,
            at_ms: 1_500,
            cutoff,
            reason: "stulen dator".into(),
        });
    region.roster.validate().expect("a valid revocation");
    let carrier = region.kommun.1.id();
    let refused = Err(Reject::RevokedAuthor(revoked));
    assert_eq!(
        region.roster.authorize_carried(&before, Some(&carrier)),
        Ok(())
    );
    assert_eq!(region.roster.authorize_carried(&before, None), refused);
    assert_eq!(region.roster.authorize(&before), refused);
    assert_eq!(
        region.roster.authorize_carried(&before, Some(&revoked)),
        refused
    );
    for late in [&on, &after] {
        assert_eq!(
            region.roster.authorize_carried(late, Some(&carrier)),
            refused
        );
    }
    // A stranger carrying it is no admitted node.
    let stranger = reservnod_proto::NodeKey::generate(&mut rng).id();
    assert_eq!(
        region.roster.authorize_carried(&before, Some(&stranger)),
        refused
    );
    // A cut-off after the revocation itself is refused by validation.
    region.roster.revoked[0].cutoff = Hlc {
        wall_ms: 1_501,
        logical: 0,
    };
    assert!(region.roster.validate().is_err());
}

#[test]
fn clinical_content_must_be_sealed_to_exactly_the_recipients() {
    let region = region("events-5");
    let mut rng = SeededRng::new("e5");
    let mut plain = region.clinical(&mut rng, TEXT, Hlc::default());
    plain.body = Body::Plain(TEXT.to_vec());
    assert!(matches!(
        plain.sign(&region.ward.1),
        Err(Reject::Invalid(_))
    ));

    // Sealed to an extra unit the header does not name: refused.
    let mut extra = region.clinical(&mut rng, TEXT, Hlc::default());
    extra.recipients.pop();
    assert!(matches!(
        extra.sign(&region.ward.1),
        Err(Reject::Invalid(_))
    ));

    let mut dup = region.clinical(&mut rng, TEXT, Hlc::default());
    dup.recipients.push(dup.recipients[0].clone());
    assert!(matches!(dup.sign(&region.ward.1), Err(Reject::Invalid(_))));

    let mut roster_sealed = region.clinical(&mut rng, TEXT, Hlc::default());
    roster_sealed.class = EventClass::Roster;
    assert!(matches!(
        roster_sealed.sign(&region.ward.1),
        Err(Reject::Invalid(_))
    ));
}

#[test]
fn oversized_event_is_refused_on_both_sides() {
    let region = region("events-6");
    let mut rng = SeededRng::new("e6");
    let big = vec![b'x'; reservnod_proto::limits::EVENT_BYTES_MAX];
    let event = region.clinical(&mut rng, &big, Hlc::default());
    assert!(matches!(
        event.sign(&region.ward.1),
        Err(Reject::TooLarge { .. })
    ));
    let fake = SignedEvent {
        bytes: vec![0; reservnod_proto::limits::EVENT_BYTES_MAX + 1],
        sig: [0; 64],
    };
    assert!(matches!(fake.verify(), Err(Reject::TooLarge { .. })));
}

#[test]
fn an_event_just_under_the_size_limit_signs_and_verifies() {
    // bincode's decode limit counts in-memory claims, not bytes: a legal encoding near the
    // limit must still decode on every receiver.
    let r = region("events-7");
    let mut event = r.clinical(&mut SeededRng::new("e7"), b"x", Hlc::default());
    event.class = EventClass::Control;
    event.recipients.clear();
    event.doc = None;
    event.body = Body::Plain(vec![0xAB; reservnod_proto::limits::EVENT_BYTES_MAX - 200]);
    let signed = event.sign(&r.ward.1).expect("fits");
    assert!(signed.bytes.len() > reservnod_proto::limits::EVENT_BYTES_MAX - 200);
    signed.verify().expect("verifies");
}

#[test]
fn a_newer_format_is_reported_as_unsupported_not_malformed() {
    let r = region("events-8");
    let mut event = r.clinical(&mut SeededRng::new("e8"), TEXT, Hlc::default());
    event.format = EVENT_FORMAT + 1;
    let bytes = reservnod_proto::codec::encode::<_, { usize::MAX }>(&event).expect("encode");
    let fake = SignedEvent {
        bytes,
        sig: [0; 64],
    };
    assert_eq!(
        fake.verify().err(),
        Some(Reject::UnsupportedFormat(EVENT_FORMAT + 1))
    );
}

/// Signs `event` as its author would, whatever its format (to stand for an older writer).
fn sign_any_format(event: &Event, key: &NodeKey) -> SignedEvent {
    let bytes = reservnod_proto::codec::encode::<_, { usize::MAX }>(event).expect("encode");
    let mut message = b"reservnod/event/v1\0".to_vec();
    message.extend_from_slice(&bytes);
    SignedEvent {
        sig: key.sign(&message),
        bytes,
    }
}

#[test]
fn a_format_1_event_is_refused_with_the_reason() {
    let r = region("events-10");
    let mut event = r.clinical(&mut SeededRng::new("e10"), TEXT, Hlc::default());
    event.format = 1;
    let old = sign_any_format(&event, &r.ward.1);
    let err = old.verify().expect_err("format 1 is refused");
    assert_eq!(err, Reject::UnsupportedFormat(1));
    assert!(
        err.to_string().contains("not bound to their headers"),
        "{err}"
    );
    // The author's side refuses to write one too.
    assert_eq!(
        event.sign(&r.ward.1).err(),
        Some(Reject::UnsupportedFormat(1))
    );
}

#[test]
fn a_body_lifted_into_another_units_event_does_not_open() {
    // The incident: an admitted node of an unrelated unit (primary care) copies the ward's
    // sealed body into its own signed event, keeping the ephemeral key, the municipality's
    // slot and the ciphertext, with 48 random bytes as its own slot.
    let r = region("events-11");
    let mut rng = SeededRng::new("e11");
    let ward_event = r.clinical(&mut rng, TEXT, Hlc::default());
    let Body::Sealed(sealed) = &ward_event.body else {
        panic!("clinical events are sealed");
    };
    let kommun = hsa("KOM1080");
    let kommun_slot = sealed
        .keys
        .iter()
        .find(|k| k.unit == kommun)
        .expect("the municipality's slot")
        .clone();
    let (vc_unit, vc_node) = &r.vc;
    let hlc = Hlc {
        wall_ms: 1_795_000_000_000,
        logical: 0,
    };
    let mut header = ward_event.header();
    header.author = vc_node.id();
    header.unit = vc_unit.unit().clone();
    header.user = None;
    header.hlc = hlc;
    header.recipients = vec![kommun.clone()];
    header.doc = None;
    let mut lifted = header.plain(Vec::new());
    lifted.body = Body::Sealed(Sealed {
        ephemeral: sealed.ephemeral,
        keys: vec![
            kommun_slot,
            WrappedKey {
                unit: vc_unit.unit().clone(),
                wrapped: vec![0x5a; 48],
            },
        ],
        ciphertext: sealed.ciphertext.clone(),
    });
    // It is a well-formed event of an admitted node: it verifies and is authorized ...
    let v = lifted
        .sign(vc_node)
        .expect("sign")
        .verify()
        .expect("verify");
    r.roster.authorize(&v).expect("an admitted node");
    // ... but the municipality cannot open it, while the original opens as before.
    assert_eq!(v.open(&r.kommun.0), Err(SealError::Decrypt));
    assert_eq!(
        ward_event.open(&r.kommun.0).expect("original").as_slice(),
        TEXT
    );
}

/// One change to one header field of an event.
#[derive(Clone, Debug)]
enum HeaderChange {
    Format(u16),
    Author([u8; 32]),
    Unit(usize),
    User(Option<String>),
    Hlc(u64, u32),
    Class(usize),
    Priority,
    AddRecipient(usize),
    DropRecipient(usize),
    SwapRecipients,
    Doc(Option<([u8; 16], Vec<[u8; 32]>)>),
}

fn header_change() -> impl Strategy<Value = HeaderChange> {
    prop_oneof![
        any::<u16>().prop_map(HeaderChange::Format),
        any::<[u8; 32]>().prop_map(HeaderChange::Author),
        (0usize..4).prop_map(HeaderChange::Unit),
        proptest::option::of("[a-z.]{1,20}").prop_map(HeaderChange::User),
        (any::<u64>(), any::<u32>()).prop_map(|(w, l)| HeaderChange::Hlc(w, l)),
        (0usize..4).prop_map(HeaderChange::Class),
        Just(HeaderChange::Priority),
        (0usize..4).prop_map(HeaderChange::AddRecipient),
        (0usize..2).prop_map(HeaderChange::DropRecipient),
        Just(HeaderChange::SwapRecipients),
        proptest::option::of((
            any::<[u8; 16]>(),
            proptest::collection::vec(any::<[u8; 32]>(), 0..3)
        ))
        .prop_map(HeaderChange::Doc),
    ]
}

fn apply(e: &mut Event, change: &HeaderChange) {
    let units = [hsa("AVD12"), hsa("KOM1080"), hsa("VCNH"), hsa("AVD99")];
    match change {
        HeaderChange::Format(f) => e.format = *f,
        HeaderChange::Author(a) => e.author = NodeId(*a),
        HeaderChange::Unit(i) => e.unit = units[*i].clone(),
        HeaderChange::User(u) => e.user = u.clone(),
        HeaderChange::Hlc(w, l) => {
            e.hlc = Hlc {
                wall_ms: *w,
                logical: *l,
            }
        }
        HeaderChange::Class(i) => e.class = EventClass::ALL[*i],
        HeaderChange::Priority => {
            e.priority = match e.priority {
                Priority::Normal => Priority::Urgent,
                Priority::Urgent => Priority::Normal,
            }
        }
        HeaderChange::AddRecipient(i) => e.recipients.push(units[*i].clone()),
        HeaderChange::DropRecipient(i) => {
            e.recipients.remove(*i);
        }
        HeaderChange::SwapRecipients => e.recipients.swap(0, 1),
        HeaderChange::Doc(d) => {
            e.doc = d.as_ref().map(|(doc, parents)| DocRef {
                doc: DocId(*doc),
                parents: parents.iter().map(|p| EventId(*p)).collect(),
            })
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any change to any field of the header the body was sealed for (everything of the
    /// event but the body) makes the body fail to open for every unit it was sealed to.
    #[test]
    fn any_change_to_the_header_makes_the_body_fail_to_open(change in header_change()) {
        let r = region("events-12");
        let original = r.clinical(&mut SeededRng::new("e12"), TEXT, Hlc::default());
        let mut changed = original.clone();
        apply(&mut changed, &change);
        prop_assume!(changed.header() != original.header());
        for key in [&r.ward.0, &r.kommun.0, &r.vc.0] {
            let opened = original.open(key).expect("opens");
            prop_assert_eq!(opened.as_slice(), TEXT);
            prop_assert_eq!(changed.open(key), Err(SealError::Decrypt), "{:?}", change);
        }
    }
}

#[test]
fn the_header_is_the_event_before_its_body() {
    let r = region("events-13");
    let event = r.clinical(&mut SeededRng::new("e13"), TEXT, Hlc::default());
    let whole = reservnod_proto::codec::encode::<_, { usize::MAX }>(&event).expect("encode");
    let header =
        reservnod_proto::codec::encode::<_, { usize::MAX }>(&event.header()).expect("encode");
    assert!(whole.starts_with(&header));
    assert_eq!(event.header().plain(vec![]).header(), event.header());
}

#[test]
fn only_the_author_can_write_a_first_version() {
    let r = region("events-14");
    let mut event = r.clinical(&mut SeededRng::new("e14"), TEXT, Hlc::default());
    // Another document id for a first version (no parents): refused on both sides.
    event.doc = Some(DocRef {
        doc: DocId([7; 16]),
        parents: vec![],
    });
    let err = event.sign(&r.ward.1).expect_err("not derived");
    assert!(err.to_string().contains("derived"), "{err}");
    let forged = sign_any_format(&event, &r.ward.1);
    assert!(matches!(forged.verify(), Err(Reject::Invalid(_))));
    // A later version may name any document.
    event.doc = Some(DocRef {
        doc: DocId([7; 16]),
        parents: vec![EventId([1; 32])],
    });
    event.sign(&r.ward.1).expect("a later version");
}

#[test]
fn a_non_canonical_encoding_is_refused_even_with_a_valid_signature() {
    let r = region("events-9");
    let signed = r
        .clinical(&mut SeededRng::new("e9"), TEXT, Hlc::default())
        .sign(&r.ward.1)
        .expect("sign");
    assert_eq!(signed.bytes[0], 2, "format 2 is one varint byte");
    // The same format number as a three-byte varint (251 = u16 follows).
    let mut bytes = vec![251, 2, 0];
    bytes.extend_from_slice(&signed.bytes[1..]);
    let mut message = b"reservnod/event/v1\0".to_vec();
    message.extend_from_slice(&bytes);
    let resigned = SignedEvent {
        sig: r.ward.1.sign(&message),
        bytes,
    };
    let err = resigned.verify().expect_err("non-canonical");
    assert!(
        matches!(err, Reject::Invalid(_) | Reject::Malformed(_)),
        "{err:?}"
    );
    assert_ne!(resigned.id(), signed.id());
}
