//! Signed and sealed events: signing, verification, sealing, and what is refused.

use reservnod_proto::testkit as common;

use common::{hsa, region, SeededRng};
use reservnod_proto::event::{Body, EventClass, Reject, SignedEvent};
use reservnod_proto::seal::SealError;
use reservnod_proto::{Hlc, NodeKey};

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
    let forged = claims_ward.sign(&mallory).expect("signs as itself");
    let verified = forged.verify().expect("self-consistent");
    assert_eq!(
        region.roster.authorize(&verified),
        Err(Reject::UnknownAuthor(mallory.id()))
    );

    // A roster node writing for another unit.
    let mut wrong_unit = region.clinical(&mut rng, TEXT, Hlc::default());
    wrong_unit.author = region.kommun.1.id();
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
    event.format = 2;
    let bytes = reservnod_proto::codec::encode::<_, { usize::MAX }>(&event).expect("encode");
    let fake = SignedEvent {
        bytes,
        sig: [0; 64],
    };
    assert_eq!(fake.verify().err(), Some(Reject::UnsupportedFormat(2)));
}

#[test]
fn a_non_canonical_encoding_is_refused_even_with_a_valid_signature() {
    let r = region("events-9");
    let signed = r
        .clinical(&mut SeededRng::new("e9"), TEXT, Hlc::default())
        .sign(&r.ward.1)
        .expect("sign");
    assert_eq!(signed.bytes[0], 1, "format 1 is one varint byte");
    // The same format number as a three-byte varint (251 = u16 follows).
    let mut bytes = vec![251, 1, 0];
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
