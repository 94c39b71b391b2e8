//! The admin-signed roster: signing, trust, succession and validation.

use reservnod_proto::testkit as common;

use common::{hsa, region};
use reservnod_proto::roster::{NodeEntry, RosterError, SignedRoster};
use reservnod_proto::{AdminKey, NodeKey};

#[test]
fn signed_roster_round_trips_through_a_file() {
    let r = region("roster-1");
    let signed = r.roster.sign(&r.admin).expect("sign");
    let file = signed.to_file_bytes().expect("encode");
    let back = SignedRoster::from_file_bytes(&file).expect("decode");
    assert_eq!(
        back.verify_trusted(&r.admin.public()).expect("verify"),
        r.roster
    );
    assert_eq!(
        SignedRoster::from_file_bytes(b"not a roster"),
        Err(RosterError::NotARosterFile)
    );
}

#[test]
fn forged_or_foreign_rosters_are_refused() {
    let r = region("roster-2");
    let mut signed = r.roster.sign(&r.admin).expect("sign");
    let other_admin = AdminKey::from_seed(&[3u8; 32]);
    let mut foreign = r.roster.clone();
    foreign.admin = other_admin.public();
    let foreign = foreign.sign(&other_admin).expect("sign");
    assert!(matches!(
        foreign.verify_trusted(&r.admin.public()),
        Err(RosterError::WrongAdmin { .. })
    ));
    // Signing with a key that is not the roster's admin key is refused up front.
    assert!(r.roster.sign(&other_admin).is_err());
    let last = signed.bytes.len() - 1;
    signed.bytes[last] ^= 1;
    assert!(signed.verify().is_err());
}

#[test]
fn only_a_newer_version_from_the_same_admin_replaces_the_roster() {
    let r = region("roster-3");
    let mut next = r.roster.clone();
    assert_eq!(
        r.roster.check_successor(&next),
        Err(RosterError::NotNewer {
            current: 1,
            offered: 1
        })
    );
    next.version = 2;
    assert_eq!(r.roster.check_successor(&next), Ok(()));
    next.admin = AdminKey::from_seed(&[4u8; 32]).public();
    assert!(matches!(
        r.roster.check_successor(&next),
        Err(RosterError::WrongAdmin { .. })
    ));
}

#[test]
fn validation_names_what_is_wrong() {
    let r = region("roster-4");
    let mut bad = r.roster.clone();
    bad.units.push(bad.units[0].clone());
    assert!(bad
        .validate()
        .expect_err("dup")
        .to_string()
        .contains("listed twice"));

    let mut bad = r.roster.clone();
    bad.nodes.push(NodeEntry {
        id: NodeKey::from_seed(&[5u8; 32]).id(),
        unit: hsa("NOPE1"),
        name: "x".into(),
    });
    assert!(bad
        .validate()
        .expect_err("unknown unit")
        .to_string()
        .contains("not in the roster"));

    let mut bad = r.roster.clone();
    bad.routing[0].unit = hsa("AVD12");
    assert!(bad
        .validate()
        .expect_err("not municipal")
        .to_string()
        .contains("not a municipal unit"));

    let mut bad = r.roster.clone();
    bad.units[0].name = "   ".into();
    assert!(bad.validate().is_err());

    assert_eq!(
        r.roster
            .route(&"1080".parse().expect("valid"))
            .map(|u| u.id.clone()),
        Some(hsa("KOM1080"))
    );
    assert!(r.roster.route(&"1082".parse().expect("valid")).is_none());
}

#[test]
fn the_claimed_version_is_read_without_verifying() {
    let mut r = region("roster-claimed");
    r.roster.version = 41;
    r.roster.region = "å".repeat(100);
    let mut signed = r.roster.sign(&r.admin).expect("sign");
    assert_eq!(signed.claimed_version(), Ok(41));
    assert_eq!(signed.verify().expect("verify").version, 41);
    // A broken signature does not change the claim, and the claim alone installs nothing.
    signed.sig[0] ^= 1;
    assert_eq!(signed.claimed_version(), Ok(41));
    assert_eq!(signed.verify(), Err(RosterError::BadSignature));
    signed.bytes.truncate(3);
    assert!(signed.claimed_version().is_err());
}
