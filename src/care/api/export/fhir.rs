//! The export as an HL7 FHIR R4 (4.0.1) Bundle of type `collection`, per docs/FHIR.md:
//! Patient (HL7 Sweden identifier systems), Organization (HSA-id), PractitionerRole and
//! Practitioner for the authors, Device for the signing nodes, EpisodeOfCare and Encounter
//! per episode, Communication per notice or message and recipient unit (Delivered as
//! `received`, answers through `inResponseTo`), CarePlan per plan version (notes as
//! `note`), Composition and MedicationStatement for the care report, AuditEvent per Read
//! receipt, and a Provenance per event naming the node whose key signed it.
//!
//! Every `fullUrl` is a `urn:uuid:` derived from what the resource stands for (the same
//! event gives the same Communication in every export), and references inside the Bundle
//! use it. Built from [`ExportFile`], so it says what the JSON export says.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::model::{Content, EventExport, ExportFile, PatientExport, Scope};
use crate::care::api::show::Field;
use crate::clock::format_ms_rfc3339 as time;

/// HL7 Sweden's identifier system for personnummer.
pub const SYSTEM_PERSONNUMMER: &str = "http://electronichealth.se/identifier/personnummer";
/// HL7 Sweden's identifier system for samordningsnummer.
pub const SYSTEM_SAMORDNINGSNUMMER: &str =
    "http://electronichealth.se/identifier/samordningsnummer";
/// HSA-id (units, people).
pub const SYSTEM_HSA: &str = "urn:oid:1.2.752.29.4.19";
/// Organisation number.
pub const SYSTEM_ORGANISATION_NUMBER: &str = "urn:oid:2.5.4.97";
/// The local codes and identifiers of this project (no registered system exists for them).
pub const LOCAL: &str = "urn:reservnod:";

fn local(name: &str) -> String {
    format!("{LOCAL}{name}")
}

/// A UUID (version 8, RFC 9562) derived from `what`: the same thing always gets the same
/// `urn:uuid:`, and different things different ones (BLAKE3, 122 bits kept).
pub fn uuid_for(what: &str) -> String {
    let h = blake3::hash(format!("reservnod fhir uuid\n{what}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = data_encoding::HEXLOWER.encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The Bundle's entries as they are made, each once.
struct Entries {
    list: Vec<Value>,
    seen: HashMap<String, usize>,
}

impl Entries {
    /// Adds `resource` for `what` (if not there yet) and returns its reference.
    fn add(&mut self, what: &str, mut resource: Value) -> String {
        let id = uuid_for(what);
        let url = format!("urn:uuid:{id}");
        if !self.seen.contains_key(&url) {
            if let Some(o) = resource.as_object_mut() {
                // `id` right after `resourceType`, as FHIR writes it.
                let mut m = Map::new();
                if let Some(t) = o.remove("resourceType") {
                    m.insert("resourceType".into(), t);
                }
                m.insert("id".into(), Value::String(id));
                m.append(o);
                resource = Value::Object(m);
            }
            self.seen.insert(url.clone(), self.list.len());
            self.list
                .push(json!({ "fullUrl": url.clone(), "resource": resource }));
        }
        url
    }
}

fn reference(url: &str) -> Value {
    json!({ "reference": url })
}

/// A Narrative of plain text (escaped) in a `div`, as FHIR requires.
fn narrative(lines: &[String]) -> Value {
    let mut div = String::from("<div xmlns=\"http://www.w3.org/1999/xhtml\">");
    for l in lines {
        div.push_str("<p>");
        div.push_str(&escape(l));
        div.push_str("</p>");
    }
    div.push_str("</div>");
    json!({ "status": "generated", "div": div })
}

/// Escapes text for XHTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The patient's identifier in HL7 Sweden's systems: personnummer and samordningsnummer as
/// 12 digits; a reservnummer under its issuer, `use` `temp` (docs/FHIR.md).
pub fn patient_identifier(p: &PatientExport) -> Value {
    match p.kind {
        "personnummer" | "samordningsnummer" => {
            let digits: String = p.id.chars().filter(char::is_ascii_digit).collect();
            let system = if p.kind == "personnummer" {
                SYSTEM_PERSONNUMMER
            } else {
                SYSTEM_SAMORDNINGSNUMMER
            };
            json!({ "use": "official", "system": system, "value": digits })
        }
        _ => {
            let (issuer, value) =
                p.id.strip_prefix("R:")
                    .and_then(|r| r.split_once(':'))
                    .unwrap_or(("", p.id.as_str()));
            json!({
                "use": "temp",
                "system": local(&format!("reservnummer:{issuer}")),
                "value": value,
                "assigner": { "display": issuer },
            })
        }
    }
}

/// The identifiers of a unit: its HSA-id and, for a real HSA-id, its organisation number.
pub fn unit_identifiers(hsa: &str) -> Vec<Value> {
    if let Some(local_id) = hsa.strip_prefix("LOCAL-") {
        return vec![json!({ "system": local("local-unit"), "value": local_id })];
    }
    let mut out = vec![json!({ "system": SYSTEM_HSA, "value": hsa })];
    if let Ok(id) = reservnod_proto::HsaId::parse(hsa) {
        if let Some(org) = id.organisation_number() {
            out.push(json!({ "system": SYSTEM_ORGANISATION_NUMBER, "value": org }));
        }
    }
    out
}

fn event_identifier(e: &str) -> Value {
    json!({ "system": local("event"), "value": e })
}

fn kind_coding(e: &EventExport) -> Value {
    json!({ "coding": [{ "system": local("CodeSystem/document-kind"), "code": e.kind, "display": e.kind_sv }] })
}

/// Swedish lines saying what a notice or message says, for `payload` and the printout:
/// each field as `Label: value`, free text as it is.
pub fn content_lines(fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            if f.text {
                f.value.clone()
            } else {
                format!("{}: {}", f.label, f.value)
            }
        })
        .collect()
}

/// The Bundle.
pub fn bundle(x: &ExportFile) -> Value {
    let mut en = Entries {
        list: Vec::new(),
        seen: HashMap::new(),
    };
    let unit_names: BTreeMap<&str, &str> = x
        .units
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    let mut org = |en: &mut Entries, hsa: &str| -> String {
        let name = unit_names.get(hsa).copied().unwrap_or("(okänd enhet)");
        en.add(
            &format!("organization {hsa}"),
            json!({
                "resourceType": "Organization",
                "identifier": unit_identifiers(hsa),
                "active": true,
                "name": name,
            }),
        )
    };
    for u in &x.units {
        org(&mut en, &u.id);
    }
    // An outage's export: each item's re-entry as a Task owned by this unit.
    let owner = match &x.scope {
        Scope::Outage { unit, .. } => Some(unit.as_str()),
        Scope::Patient { .. } => None,
    };
    for p in &x.patients {
        patient_entries(&mut en, &mut org, p, owner);
    }
    let mut entries = en.list;
    // Organizations first, then in the order made: a reader meets what is referred to
    // before (or near) what refers to it.
    entries.sort_by_key(|e| e["resource"]["resourceType"].as_str() != Some("Organization"));
    json!({
        "resourceType": "Bundle",
        "id": uuid_for(&format!("bundle {}", x.id)),
        "meta": { "tag": [{ "system": local("CodeSystem/export"), "code": format!("{}-{}", x.schema, x.version) }] },
        "identifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", x.id) },
        "type": "collection",
        "timestamp": time(x.exported_at_ms),
        "entry": entries,
    })
}

fn patient_entries(
    en: &mut Entries,
    org: &mut impl FnMut(&mut Entries, &str) -> String,
    p: &PatientExport,
    owner: Option<&str>,
) {
    let mut patient = json!({
        "resourceType": "Patient",
        "identifier": [patient_identifier(p)],
        "active": true,
    });
    if let Some((date, gender)) = birth_and_gender(p) {
        patient["birthDate"] = json!(date);
        patient["gender"] = json!(gender);
    }
    let pat = en.add(&format!("patient {}", p.id), patient);

    // Episodes and stays.
    let mut encounters: HashMap<&str, String> = HashMap::new();
    for ep in &p.episodes {
        let finished = ep.discharged_at_ms.is_some();
        let mut period = Map::new();
        if let Some(a) = ep.admitted_at_ms {
            period.insert("start".into(), json!(time(a)));
        }
        if let Some(d) = ep.discharged_at_ms {
            period.insert("end".into(), json!(time(d)));
        }
        let mut eoc = json!({
            "resourceType": "EpisodeOfCare",
            "identifier": [{ "system": local("episode"), "value": ep.episode }],
            "status": if finished { "finished" } else { "active" },
            "patient": reference(&pat),
        });
        let mut enc = json!({
            "resourceType": "Encounter",
            "identifier": [{ "system": local("episode"), "value": ep.episode }],
            "status": if finished { "finished" } else { "in-progress" },
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "inpatient encounter" },
            "subject": reference(&pat),
        });
        if let Some(unit) = &ep.admitted_by {
            let o = org(en, unit);
            eoc["managingOrganization"] = reference(&o);
            enc["serviceProvider"] = reference(&o);
        }
        if !period.is_empty() {
            eoc["period"] = Value::Object(period.clone());
            enc["period"] = Value::Object(period);
        }
        let eoc_url = en.add(&format!("episode {}", ep.episode), eoc);
        enc["episodeOfCare"] = json!([reference(&eoc_url)]);
        let enc_url = en.add(&format!("encounter {}", ep.episode), enc);
        encounters.insert(&ep.episode, enc_url);
    }

    // Per event: what it becomes, and who wrote it.
    let by_id: HashMap<&str, &EventExport> =
        p.events.iter().map(|e| (e.event.as_str(), e)).collect();
    // The Communication of each (event, recipient unit).
    let mut comms: HashMap<(String, String), String> = HashMap::new();
    let notes_of: HashMap<&str, Vec<&EventExport>> = {
        let mut m: HashMap<&str, Vec<&EventExport>> = HashMap::new();
        for e in &p.events {
            if let Content::PlanNote { plan, .. } = &e.content {
                m.entry(plan.as_str()).or_default().push(e);
            }
        }
        m
    };
    let heads: Vec<&str> = p
        .plans
        .iter()
        .flat_map(|pl| pl.heads.iter().map(String::as_str))
        .collect();
    for e in &p.events {
        let author_org = org(en, &e.unit);
        let practitioner = en.add(
            &format!("practitioner {} {}", e.unit, e.author),
            json!({ "resourceType": "Practitioner", "name": [{ "text": e.author }] }),
        );
        let mut role = json!({
            "resourceType": "PractitionerRole",
            "practitioner": reference(&practitioner),
            "organization": reference(&author_org),
        });
        if !e.role.is_empty() {
            role["code"] = json!([{ "text": e.role }]);
        }
        let author = en.add(
            &format!("practitioner-role {} {} {}", e.unit, e.author, e.role),
            role,
        );
        let device = en.add(
            &format!("device {}", e.node),
            json!({
                "resourceType": "Device",
                "identifier": [{ "system": local("node"), "value": e.node }],
                "deviceName": [{ "name": format!("reservnod {}", e.node), "type": "user-friendly-name" }],
                "owner": reference(&author_org),
            }),
        );
        let encounter = e
            .episode
            .as_deref()
            .and_then(|ep| encounters.get(ep).cloned());
        let mut targets: Vec<String> = Vec::new();
        match &e.content {
            Content::Plan {
                plan_kind,
                goals,
                measures,
                participants,
                ..
            } => {
                let (code, display) = match *plan_kind {
                    "discharge" => ("SPU", "Samordnad planering vid utskrivning"),
                    "sip" => ("SIP", "Samordnad individuell plan"),
                    _ => ("SPLPTLRV", "Samordnad vårdplan enligt LPT/LRV"),
                };
                let plan = e.plan.clone().unwrap_or_default();
                let mut cp = json!({
                    "resourceType": "CarePlan",
                    "identifier": [{ "system": local("plan"), "value": plan }, event_identifier(&e.event)],
                    "status": if heads.contains(&e.event.as_str()) { "active" } else { "revoked" },
                    "intent": "plan",
                    "category": [{ "coding": [{ "system": local("CodeSystem/plan-kind"), "code": code, "display": display }] }],
                    "title": e.kind_sv,
                    "description": goals,
                    "subject": reference(&pat),
                    "created": time(e.written_at_ms),
                    "author": reference(&author),
                });
                if let Some(enc) = &encounter {
                    cp["encounter"] = reference(enc);
                }
                if !participants.is_empty() {
                    cp["contributor"] = Value::Array(
                        participants
                            .iter()
                            .map(|n| json!({ "display": n }))
                            .collect(),
                    );
                }
                let replaced: Vec<Value> = e
                    .replaces
                    .iter()
                    .filter(|r| by_id.contains_key(r.as_str()))
                    .map(|r| reference(&format!("urn:uuid:{}", uuid_for(&format!("careplan {r}")))))
                    .collect();
                if !replaced.is_empty() {
                    cp["replaces"] = Value::Array(replaced);
                }
                if !measures.is_empty() {
                    cp["activity"] = Value::Array(
                        measures
                            .iter()
                            .map(|m| {
                                let mut d = json!({
                                    "status": "not-started",
                                    "description": m.text,
                                    "performer": [{ "display": m.responsible }],
                                });
                                if let Some(by) = &m.by_date {
                                    d["scheduledString"] = json!(format!("senast {by}"));
                                }
                                json!({ "detail": d })
                            })
                            .collect(),
                    );
                }
                let mut notes: Vec<Value> = Vec::new();
                if let Content::Plan {
                    patient_view,
                    follow_up,
                    ..
                } = &e.content
                {
                    if let Some(f) = follow_up {
                        notes.push(json!({ "text": format!("Uppföljning: {f}") }));
                    }
                    if !patient_view.is_empty() {
                        notes.push(
                            json!({ "text": format!("Patientens synpunkter: {patient_view}") }),
                        );
                    }
                }
                // The plan's notes belong to the plan, not a version: on its current ones.
                if heads.contains(&e.event.as_str()) {
                    for n in notes_of.get(plan.as_str()).into_iter().flatten() {
                        if let Content::PlanNote { text, .. } = &n.content {
                            notes.push(json!({
                                "authorString": format!("{} ({})", n.author, unit_names_of(&n.unit, en)),
                                "time": time(n.written_at_ms),
                                "text": text,
                            }));
                        }
                    }
                }
                if !notes.is_empty() {
                    cp["note"] = Value::Array(notes);
                }
                targets.push(en.add(&format!("careplan {}", e.event), cp));
            }
            Content::PlanNote { .. } => {
                // Carried as a `note` of the plan's current versions; its signature still
                // gets its Provenance below, targeting those.
                if let Some(pl) = p.plans.iter().find(|pl| pl.notes.contains(&e.event)) {
                    // Only versions in this export (an outage's may hold the note alone).
                    for h in pl.heads.iter().filter(|h| by_id.contains_key(h.as_str())) {
                        targets.push(format!("urn:uuid:{}", uuid_for(&format!("careplan {h}"))));
                    }
                }
            }
            Content::CareReport {
                reason_for_admission,
                responsible_physician,
                summary,
                complications,
                current_health,
                risks,
                changes,
                medication,
            } => {
                let mut meds = Vec::new();
                for (i, d) in medication.iter().enumerate() {
                    let mut ms = json!({
                        "resourceType": "MedicationStatement",
                        "identifier": [event_identifier(&format!("{}#{i}", e.event))],
                        "status": "active",
                        "medicationCodeableConcept": { "text": format!("{} {}", d.name, d.strength).trim().to_string() },
                        "subject": reference(&pat),
                        "dateAsserted": time(e.written_at_ms),
                        "informationSource": reference(&author),
                        "dosage": [{ "text": d.dose }],
                    });
                    if let Some(enc) = &encounter {
                        ms["context"] = reference(enc);
                    }
                    if let Some(c) = &d.change {
                        ms["note"] = json!([{ "text": format!("Ändring: {c}") }]);
                    }
                    meds.push(en.add(&format!("medication {} {i}", e.event), ms));
                }
                let section = |title: &str, text: &str| json!({ "title": title, "text": narrative(&[text.to_string()]) });
                let mut sections = vec![
                    section("Orsak till inskrivning", reason_for_admission),
                    section("Ansvarig läkare", responsible_physician),
                    section("Sammanfattning av vården", summary),
                    section("Komplikationer", complications),
                    section("Aktuellt hälsotillstånd och funktion", current_health),
                    section("Riskbedömningar", risks),
                    section("Förändringar sedan planeringen", changes),
                ];
                let med_lines: Vec<String> = medication
                    .iter()
                    .map(|d| format!("{} {} {}", d.name, d.strength, d.dose))
                    .collect();
                let mut med = json!({
                    "title": "Läkemedelslista",
                    "text": narrative(if med_lines.is_empty() { &[] } else { &med_lines }),
                });
                if !meds.is_empty() {
                    med["entry"] = Value::Array(meds.iter().map(|m| reference(m)).collect());
                } else {
                    med["emptyReason"] = json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "nilknown" }] });
                    med.as_object_mut().map(|o| o.remove("text"));
                }
                sections.push(med);
                let mut comp = json!({
                    "resourceType": "Composition",
                    "identifier": event_identifier(&e.event),
                    "status": "final",
                    "type": { "coding": [{ "system": "http://loinc.org", "code": "34745-0", "display": "Nurse Discharge summary" }], "text": "Vårdrapport" },
                    "subject": reference(&pat),
                    "date": time(e.written_at_ms),
                    "author": [reference(&author)],
                    "title": "Vårdrapport",
                    "custodian": reference(&author_org),
                    "section": sections,
                });
                if let Some(enc) = &encounter {
                    comp["encounter"] = reference(enc);
                }
                targets.push(en.add(&format!("composition {}", e.event), comp));
                targets.extend(meds);
            }
            _ => {
                // Notices and messages: one Communication per recipient unit.
                let units: Vec<Option<&super::model::RecipientExport>> = if e.recipients.is_empty()
                {
                    vec![None]
                } else {
                    e.recipients.iter().map(Some).collect()
                };
                for r in units {
                    let mut c = json!({
                        "resourceType": "Communication",
                        "identifier": [event_identifier(&e.event)],
                        "status": "completed",
                        "category": [kind_coding(e)],
                        "priority": if e.urgent { "urgent" } else { "routine" },
                        "subject": reference(&pat),
                        "sent": time(e.written_at_ms),
                        "sender": reference(&author),
                        "payload": content_lines(&e.fields).into_iter().map(|l| json!({ "contentString": l })).collect::<Vec<_>>(),
                    });
                    if let Some(enc) = &encounter {
                        c["encounter"] = reference(enc);
                    }
                    if let Content::Message {
                        subject, reply_to, ..
                    } = &e.content
                    {
                        c["topic"] = json!({ "text": subject });
                        if let Some(q) = reply_to.as_deref().and_then(|q| by_id.get(q)) {
                            // The copy of the question this unit got (or the first).
                            let to = q
                                .recipients
                                .iter()
                                .find(|x| x.unit == e.unit)
                                .or(q.recipients.first())
                                .map(|x| x.unit.clone())
                                .unwrap_or_default();
                            c["inResponseTo"] = json!([reference(&format!(
                                "urn:uuid:{}",
                                uuid_for(&format!("communication {} {to}", q.event))
                            ))]);
                        }
                    }
                    let key_unit = r.map(|r| r.unit.clone()).unwrap_or_default();
                    if let Some(r) = r {
                        let to = org(en, &r.unit);
                        c["recipient"] = json!([reference(&to)]);
                        match r.delivered_at_ms.or(r.read_at_ms) {
                            Some(d) => c["received"] = json!(time(d)),
                            None => c["status"] = json!("in-progress"),
                        }
                    }
                    let url = en.add(&format!("communication {} {key_unit}", e.event), c);
                    comms.insert((e.event.clone(), key_unit), url.clone());
                    targets.push(url);
                }
            }
        }
        // Read receipts: an AuditEvent per unit that acknowledged it.
        for r in e.recipients.iter() {
            let (Some(at), Some(by)) = (r.read_at_ms, r.read_by.as_ref()) else {
                continue;
            };
            let reader_org = org(en, &r.unit);
            let what = comms
                .get(&(e.event.clone(), r.unit.clone()))
                .cloned()
                .or_else(|| targets.first().cloned());
            let mut entity = json!({ "what": what.map(|w| reference(&w)).unwrap_or_else(|| json!({ "identifier": event_identifier(&e.event) })) });
            entity["type"] = json!({ "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" });
            en.add(
                &format!("read {} {}", e.event, r.unit),
                json!({
                    "resourceType": "AuditEvent",
                    "type": { "system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110", "display": "Patient Record" },
                    "subtype": [{ "system": local("CodeSystem/access"), "code": "read-receipt", "display": "läst (kvitterad)" }],
                    "action": "R",
                    "recorded": time(at),
                    "outcome": "0",
                    "agent": [{ "who": { "display": by }, "requestor": true }],
                    "source": { "site": unit_names_of(&r.unit, en), "observer": reference(&reader_org) },
                    "entity": [entity],
                }),
            );
        }
        if let (Some(owner), Some(r)) = (owner, &e.reentry) {
            let owner = org(en, owner);
            en.add(
                &format!("task {} {}", e.event, owner),
                reentry_task(e, r, &pat, &owner, targets.first().map(String::as_str)),
            );
        }
        // The signature: which node signed what, and when.
        if !targets.is_empty() {
            en.add(
                &format!("provenance {}", e.event),
                json!({
                    "resourceType": "Provenance",
                    "target": targets.iter().map(|t| reference(t)).collect::<Vec<_>>(),
                    "recorded": time(e.recorded_at_ms),
                    "agent": [
                        { "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] }, "who": reference(&author), "onBehalfOf": reference(&author_org) },
                        { "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler" }] }, "who": reference(&device) },
                    ],
                    "entity": [{ "role": "source", "what": { "identifier": event_identifier(&e.event), "display": format!("signerad händelse {}", e.event) } }],
                    "signature": [{
                        "type": [{ "system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.14", "display": "Source Signature" }],
                        "when": time(e.recorded_at_ms),
                        "who": reference(&device),
                        "sigFormat": "application/x-reservnod-ed25519",
                        "data": base64_of_hex(&e.signature),
                    }],
                }),
            );
        }
    }
}

fn unit_names_of(hsa: &str, en: &Entries) -> String {
    // The name the Organization entry carries, or the HSA-id.
    let url = format!("urn:uuid:{}", uuid_for(&format!("organization {hsa}")));
    en.seen
        .get(&url)
        .and_then(|i| en.list[*i]["resource"]["name"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| hsa.to_string())
}

fn base64_of_hex(hex: &str) -> String {
    data_encoding::HEXLOWER
        .decode(hex.as_bytes())
        .map(|b| data_encoding::BASE64.encode(&b))
        .unwrap_or_default()
}

/// Birth date and administrative gender from a personnummer or samordningsnummer.
fn birth_and_gender(p: &PatientExport) -> Option<(String, &'static str)> {
    let id = reservnod_proto::PatientId::parse(&p.id).ok()?;
    let b = id.birth_date()?;
    let gender = if id.is_male()? { "male" } else { "female" };
    Some((format!("{:04}-{:02}-{:02}", b.year, b.month, b.day), gender))
}

/// An item's re-entry into LINK as a Task (docs/FHIR.md): the state from the latest mark
/// (`completed` entered, `cancelled` not needed, `requested` left), every mark as a note
/// (two made apart are both kept), each LINK reference as an output.
fn reentry_task(
    e: &EventExport,
    r: &super::model::ReentryExport,
    pat: &str,
    owner: &str,
    focus: Option<&str>,
) -> Value {
    let (status, display) = match r.state {
        "inregistrerat" => ("completed", "inregistrerat i LINK"),
        "behovs-inte" => ("cancelled", "behövs inte"),
        _ => ("requested", "kvar"),
    };
    let last = r.latest().map(|m| m.at_ms).unwrap_or(e.recorded_at_ms);
    let mut t = json!({
        "resourceType": "Task",
        "identifier": [event_identifier(&e.event)],
        "status": status,
        "businessStatus": {
            "coding": [{ "system": local("CodeSystem/reentry-state"), "code": r.state, "display": display }],
            "text": display,
        },
        "intent": "order",
        "code": { "text": "Efterregistrering i LINK" },
        "description": format!("{} ({})", e.title, r.placement),
        "focus": match focus {
            Some(f) => reference(f),
            None => json!({ "identifier": event_identifier(&e.event) }),
        },
        "for": reference(pat),
        "authoredOn": time(e.recorded_at_ms),
        "lastModified": time(last),
        "owner": reference(owner),
    });
    let outputs: Vec<Value> = r
        .marks
        .iter()
        .filter(|m| m.state == "inregistrerat" && !m.detail.trim().is_empty())
        .map(|m| {
            json!({
                "type": { "text": "LINK-referens" },
                "valueIdentifier": { "system": local("link-reference"), "value": m.detail },
            })
        })
        .collect();
    if !outputs.is_empty() {
        t["output"] = Value::Array(outputs);
    }
    let notes: Vec<Value> = r
        .marks
        .iter()
        .map(|m| {
            let text = match (m.state, m.detail.trim()) {
                ("inregistrerat", "") => "inregistrerat i LINK".to_string(),
                ("inregistrerat", d) => format!("inregistrerat i LINK ({d})"),
                (_, d) => format!("behövs inte: {d}"),
            };
            json!({ "authorString": m.by, "time": time(m.at_ms), "text": text })
        })
        .collect();
    if !notes.is_empty() {
        t["note"] = Value::Array(notes);
    }
    t
}
