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
            reason: "stulen dator".into(),
        });
    assert_eq!(
        region.roster.authorize(&v),
        Err(Reject::RevokedAuthor(region.ward.1.id()))
    );
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
fn batch_verification_agrees_with_single_verification() {
    let region = region("events-7");
    let mut rng = SeededRng::new("e7");
    let mut events: Vec<SignedEvent> = (0..20)
        .map(|i| {
            region
                .clinical(
                    &mut rng,
                    TEXT,
                    Hlc {
                        wall_ms: 1000 + i,
                        logical: 0,
                    },
                )
                .sign(&region.ward.1)
                .expect("sign")
        })
        .collect();
    let all_good = SignedEvent::verify_batch(&events);
    assert!(all_good.iter().all(Result::is_ok));
    events[7].sig[0] ^= 1;
    events[13].bytes.truncate(10);
    let results = SignedEvent::verify_batch(&events);
    for (i, (r, e)) in results.iter().zip(&events).enumerate() {
        assert_eq!(r.is_ok(), e.verify().is_ok(), "event {i}");
        assert_eq!(r.is_ok(), i != 7 && i != 13, "event {i}");
    }
    assert_eq!(results[7].as_ref().err(), Some(&Reject::BadSignature));
}
