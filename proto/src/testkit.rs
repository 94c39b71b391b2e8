//! Test support shared by this crate's tests, the daemon's tests and the benchmarks: a
//! deterministic RNG and a small synthetic region. Compiled only with the `testkit` feature;
//! never part of a release build.
#![allow(missing_docs)]

use crate::event::{DocRef, Event, EventClass, Header, Priority, EVENT_FORMAT};
use crate::roster::{MunicipalityCode, NodeEntry, RoutingRule, Unit, UnitKind};
use crate::{AdminKey, Hlc, HsaId, NodeKey, Roster, UnitSecretKey};
use rand_core::{CryptoRng, RngCore};

/// A deterministic cryptographic RNG from a seed (BLAKE3 in XOF mode), so golden vectors
/// that involve sealing are reproducible. Tests only.
pub struct SeededRng(blake3::OutputReader);

impl SeededRng {
    pub fn new(seed: &str) -> Self {
        SeededRng(
            blake3::Hasher::new_derive_key("reservnod test rng")
                .update(seed.as_bytes())
                .finalize_xof(),
        )
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}

pub fn hsa(local: &str) -> HsaId {
    format!("SE2321000081-{local}")
        .parse()
        .expect("valid test HSA-id")
}

/// A ward, a municipal unit, a primary care centre, one node each, and an outsider unit
/// that is in the roster but receives nothing.
pub struct Region {
    pub admin: AdminKey,
    pub roster: Roster,
    pub ward: (UnitSecretKey, NodeKey),
    pub kommun: (UnitSecretKey, NodeKey),
    pub vc: (UnitSecretKey, NodeKey),
    pub outsider: (UnitSecretKey, NodeKey),
}

pub fn region(seed: &str) -> Region {
    let mut rng = SeededRng::new(seed);
    let admin = AdminKey::generate(&mut rng);
    let mut roster = Roster::new("Region Blekinge (test)", admin.public(), 1_795_000_000_000);
    let mut make = |local: &str, name: &str, kind: UnitKind| {
        let unit = UnitSecretKey::generate(hsa(local), &mut rng);
        let node = NodeKey::generate(&mut rng);
        roster.units.push(Unit {
            id: hsa(local),
            name: name.into(),
            kind,
            municipality: "1080".parse::<MunicipalityCode>().expect("valid"),
            encryption_key: unit.public(),
        });
        roster.nodes.push(NodeEntry {
            id: node.id(),
            unit: hsa(local),
            name: format!("{name} node"),
        });
        (unit, node)
    };
    let ward = make("AVD12", "Avdelning 12, Blekingesjukhuset", UnitKind::Ward);
    let kommun = make("KOM1080", "Hemsjukvården Karlskrona", UnitKind::Municipal);
    let vc = make("VCNH", "Vårdcentralen Nättraby", UnitKind::PrimaryCare);
    let outsider = make("AVD99", "Avdelning 99", UnitKind::Ward);
    roster.routing.push(RoutingRule {
        municipality: "1080".parse().expect("valid"),
        unit: hsa("KOM1080"),
    });
    Region {
        admin,
        roster,
        ward,
        kommun,
        vc,
        outsider,
    }
}

impl Region {
    /// A clinical event from the ward to the municipality and primary care, the first
    /// version of a document, sealed for its header.
    pub fn clinical(&self, rng: &mut SeededRng, text: &[u8], hlc: Hlc) -> Event {
        self.clinical_header(hlc)
            .seal(rng, text, |u| self.roster.unit(u).map(|x| x.encryption_key))
            .expect("seal")
    }

    /// The header of [`Region::clinical`].
    pub fn clinical_header(&self, hlc: Hlc) -> Header {
        let (ward_unit, ward_node) = &self.ward;
        Header {
            format: EVENT_FORMAT,
            author: ward_node.id(),
            unit: ward_unit.unit().clone(),
            user: Some("sjukskoterska.anna".into()),
            hlc,
            class: EventClass::Clinical,
            priority: Priority::Urgent,
            recipients: vec![hsa("KOM1080"), hsa("VCNH")],
            doc: Some(DocRef::first(&ward_node.id(), hlc)),
        }
    }
}

/// Runs a reconciliation session between A (initiator) and B to completion, calling
/// `on_message` with every message sent; returns both sides and the number of messages.
/// Panics if a message is refused or the session needs `max_messages` or more.
pub fn run_session(
    a: Vec<crate::reconcile::Key>,
    b: Vec<crate::reconcile::Key>,
    max_messages: usize,
    mut on_message: impl FnMut(&crate::reconcile::Message),
) -> (
    crate::reconcile::Reconciler,
    crate::reconcile::Reconciler,
    usize,
) {
    let mut ra = crate::reconcile::Reconciler::new(a);
    let mut rb = crate::reconcile::Reconciler::new(b);
    let mut msg = ra.initiate();
    on_message(&msg);
    let mut messages = 1;
    let mut to_b = true;
    loop {
        let next = if to_b {
            rb.reconcile(&msg)
        } else {
            ra.reconcile(&msg)
        }
        .expect("honest messages are accepted");
        match next {
            None => break,
            Some(m) => {
                on_message(&m);
                messages += 1;
                msg = m;
                to_b = !to_b;
            }
        }
        assert!(messages < max_messages, "did not converge");
    }
    (ra, rb, messages)
}
