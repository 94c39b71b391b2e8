//! The ward node the care and web benchmarks share: its data directory holds `n` documents
//! the ward sent to the municipality (synthetic patients with reservnummer `R:BENCH:n`,
//! [`PER_PATIENT`] documents each, 400-byte texts), each with a Delivered receipt.
#![allow(dead_code)]

use std::time::Instant;

use reservnod::files::datadir::DataDir;
use reservnod::node::ingest::admit;
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, MessageKind, PAYLOAD_FORMAT,
};
use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
use reservnod_proto::event::{Body, Event, EventClass, Header, Priority, EVENT_FORMAT};
use reservnod_proto::testkit::{region, Region, SeededRng};
use reservnod_proto::{Hlc, HsaId, PatientId, SignedEvent, UnitSecretKey};

/// Documents per synthetic patient.
pub const PER_PATIENT: usize = 10;

/// The ward's data directory, filled, and what made it.
pub struct Ward {
    /// Holds the data directory; removed when dropped.
    pub _tmp: tempfile::TempDir,
    /// The ward node's data directory (not opened).
    pub dd: DataDir,
    /// The synthetic region.
    pub region: Region,
    /// The clinical events, as signed.
    pub events: Vec<SignedEvent>,
}

impl Ward {
    /// The ward's unit key.
    pub fn unit(&self) -> &UnitSecretKey {
        &self.region.ward.0
    }

    /// Patient `i` (of `n / PER_PATIENT`), as typed.
    pub fn patient(i: usize) -> String {
        format!("R:BENCH:{i}")
    }
}

/// A ward data directory holding `n` sent documents with their Delivered receipts, stored
/// as the ingest pipeline admits them. Prints how long signing took.
pub fn ward_with_sent_documents(n: usize, seed: &str) -> Ward {
    let r = region(seed);
    let signed = r.roster.sign(&r.admin).expect("sign roster");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dd = DataDir::new(tmp.path().join("ward"));
    dd.init(&r.ward.0.to_file_text(), Some(&signed))
        .expect("node init");
    let (ward_unit, ward_node) = &r.ward;
    let kommun: HsaId = r.kommun.0.unit().clone();
    let key_of = |u: &HsaId| r.roster.unit(u).map(|x| x.encryption_key);
    let mut rng = SeededRng::new(seed);
    let now = reservnod::clock::now_ms();
    let t = Instant::now();
    let mut events: Vec<SignedEvent> = Vec::with_capacity(n);
    let mut receipts: Vec<SignedEvent> = Vec::with_capacity(n);
    for i in 0..n {
        let patient = PatientId::reservnummer("BENCH", &format!("{}", i / PER_PATIENT))
            .expect("reservnummer");
        let payload = ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient: Some(patient),
            episode: Some(EpisodeId([(i / PER_PATIENT % 251) as u8; 16])),
            written_at_ms: now,
            author: "Sara Sjöberg".into(),
            role: "sjuksköterska".into(),
            consent: ConsentBasis::Consent,
            receipt_required: true,
            phrases: vec![],
            document: Document::Message {
                kind: MessageKind::Question,
                subject: format!("Fråga {i}"),
                text: "x".repeat(400),
                answer_by_ms: None,
                reply_to: None,
            },
        };
        let hlc = Hlc {
            wall_ms: now - 1000 + (i as u64 % 1000),
            logical: i as u32,
        };
        let e = Header {
            format: EVENT_FORMAT,
            author: ward_node.id(),
            unit: ward_unit.unit().clone(),
            user: None,
            hlc,
            class: EventClass::Clinical,
            priority: Priority::Normal,
            recipients: vec![kommun.clone()],
            doc: None,
        }
        .seal(&mut rng, &payload.encode().expect("payload"), key_of)
        .expect("seal")
        .sign(ward_node)
        .expect("sign");
        let receipt = Receipt {
            format: RECEIPT_FORMAT,
            kind: ReceiptKind::Delivered,
            event: e.id(),
            unit: kommun.clone(),
            by: None,
            at_ms: now,
        };
        receipts.push(
            Event {
                format: EVENT_FORMAT,
                author: r.kommun.1.id(),
                unit: kommun.clone(),
                user: None,
                hlc,
                class: EventClass::Receipt,
                priority: Priority::Normal,
                recipients: vec![ward_unit.unit().clone()],
                doc: None,
                body: Body::Plain(receipt.encode().expect("receipt")),
            }
            .sign(&r.kommun.1)
            .expect("sign"),
        );
        events.push(e);
    }
    println!(
        "setup: {} events and {} receipts signed in {:.1} s",
        events.len(),
        receipts.len(),
        t.elapsed().as_secs_f64()
    );
    {
        let store = dd.open_store().expect("store");
        for chunk in events.chunks(1000).chain(receipts.chunks(1000)) {
            let out = admit(&r.roster, chunk, None);
            assert!(out.refused.is_empty(), "{:?}", out.refused.first());
            store.insert(&out.accepted).expect("insert");
        }
    }
    Ward {
        _tmp: tmp,
        dd,
        region: r,
        events,
    }
}
