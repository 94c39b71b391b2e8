//! `export`: everything this unit can open about a patient, as a file for whoever enters
//! it into the primary system (LINK) or keeps it: an HL7 FHIR R4 Bundle ([`fhir`]), JSON in
//! the project's own versioned schema ([`model`], docs/export-schema.json) or a printable
//! HTML page ([`html`]). An export discloses patient data, so it is in the access log as
//! `utlämnat`, naming each patient and the caller, before the file is handed over.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, patient};
use super::input;
use super::types::{refused, ApiError, CareNode};
use crate::store::AuditAction;

pub mod fhir;
pub mod html;
pub mod model;

pub use input::ExportFormat;

/// What to export, as typed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// The patient (any spelling `input::patient` reads); empty with `outage`.
    #[serde(default)]
    pub patient: String,
    /// `fhir`, `json` or `html`.
    pub format: String,
    /// Export an outage instead of a patient: its id (a prefix of its declaration's id),
    /// or empty for the newest. Every item of this unit's re-entry list, every patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<String>,
}

/// An export made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Exported {
    /// `fhir`, `json` or `html`.
    pub format: String,
    /// Its media type.
    pub media_type: String,
    /// A file name to suggest (no patient identifier in it: file names are seen in lists).
    pub file_name: String,
    /// The patients in it (canonical form).
    pub patients: Vec<String>,
    /// How many events it holds.
    pub events: usize,
    /// The file's text.
    pub content: String,
}

pub(super) fn export(
    node: &dyn CareNode,
    caller: &Caller,
    r: &ExportRequest,
) -> Result<Exported, ApiError> {
    let format = input::export_format(&r.format)?;
    if let Some(outage) = &r.outage {
        if input::given(Some(r.patient.as_str())).is_some() {
            return Err(refused(
                "välj antingen en patient eller en driftstörning att exportera, inte båda",
            ));
        }
        return export_outage(node, caller, format, outage);
    }
    let p = patient(node, &r.patient)?;
    let id = export_id(node);
    let file = model::build(
        node,
        caller,
        std::slice::from_ref(&p),
        model::Scope::Patient {
            patient: p.canonical().to_string(),
        },
        id.clone(),
        None,
    )?;
    let events: usize = file.patients.iter().map(|x| x.events.len()).sum();
    if events == 0 {
        return Err(refused(format!(
            "inget om {} finns här (eller inget som enheten får läsa)",
            p.canonical()
        )));
    }
    finish(node, caller, format, file, vec![p], events, "")
}

/// An outage's export: every item of this unit's re-entry list for it, grouped by
/// patient, each with where its re-entry stands. Bounded like a patient's export
/// (`EXPORT_BYTES_MAX`, one reply): an outage too large for it is refused, whole, with
/// the advice to export patient by patient. Items that name no patient (a message about
/// no one, answering none) are not in it: there is no record to enter them into.
fn export_outage(
    node: &dyn CareNode,
    caller: &Caller,
    format: ExportFormat,
    outage: &str,
) -> Result<Exported, ApiError> {
    let items = super::outage::export_items(node, input::given(Some(outage)))?;
    let mut patients: Vec<reservnod_proto::PatientId> = Vec::new();
    let mut only = std::collections::HashMap::new();
    for (event, p, placement, marks) in items.items {
        let Some(p) = p else { continue };
        if !patients.contains(&p) {
            patients.push(p);
        }
        let marks: Vec<model::MarkExport> = marks
            .into_iter()
            .map(|m| model::MarkExport {
                event: m.event,
                state: if m.state.starts_with("inregistrerat") {
                    "inregistrerat"
                } else {
                    "behovs-inte"
                },
                detail: m.detail,
                by: m.by,
                login: m.login,
                at_ms: m.at_ms,
            })
            .collect();
        let mut r = model::ReentryExport {
            state: "kvar",
            placement,
            marks,
        };
        if let Some(last) = r.latest() {
            r.state = last.state;
        }
        only.insert(event, r);
    }
    let id = export_id(node);
    let file = model::build(
        node,
        caller,
        &patients,
        model::Scope::Outage {
            outage: items.outage.clone(),
            unit: node.unit_key().unit().to_string(),
            signed_off: items.signed_off,
        },
        id,
        Some(&only),
    )?;
    let events: usize = file.patients.iter().map(|x| x.events.len()).sum();
    if events == 0 {
        return Err(refused(
            "driftstörningen har inget här om någon patient att exportera",
        ));
    }
    let what = format!(", driftstörning {}", &items.outage[..12]);
    finish(node, caller, format, file, patients, events, &what)
}

/// Renders `file` in `format`, within the bound, logs it as `Export` naming every patient,
/// and hands it over.
fn finish(
    node: &dyn CareNode,
    caller: &Caller,
    format: ExportFormat,
    file: model::ExportFile,
    patients: Vec<reservnod_proto::PatientId>,
    events: usize,
    what: &str,
) -> Result<Exported, ApiError> {
    let id = file.id.clone();
    let (content, media_type, ext) = match format {
        ExportFormat::Fhir => (
            to_json(&fhir::bundle(&file))?,
            "application/fhir+json",
            "fhir.json",
        ),
        ExportFormat::Json => (to_json(&file)?, "application/json", "json"),
        ExportFormat::Html => (html::page(&file), "text/html; charset=utf-8", "html"),
    };
    if content.len() > crate::limits::EXPORT_BYTES_MAX {
        return Err(refused(format!(
            "exporten blev {} MiB, mer än de {} MiB en export får vara{}",
            content.len() >> 20,
            crate::limits::EXPORT_BYTES_MAX >> 20,
            if what.is_empty() {
                ""
            } else {
                ": exportera patient för patient"
            }
        )));
    }
    let canonical: Vec<String> = patients.iter().map(|p| p.canonical().to_string()).collect();
    audit_patients(
        node,
        caller,
        AuditAction::Export,
        patients,
        None,
        &format!("export {} ({} händelser{what})", format.name(), events),
    )?;
    let day = crate::clock::format_ms_local(file.exported_at_ms);
    Ok(Exported {
        format: format.name().into(),
        media_type: media_type.into(),
        file_name: format!("reservnod-export-{}-{}.{ext}", &day[..10], &id[..8]),
        patients: canonical,
        events,
        content,
    })
}

/// One patient's printout for Utskrift (the export's model and its HTML, without the
/// export's id line) and how many events it shows. Not logged here: printing logs `Print`.
pub(super) fn chain_printout(
    node: &dyn CareNode,
    caller: &Caller,
    p: &reservnod_proto::PatientId,
) -> Result<(String, usize), ApiError> {
    let file = model::build(
        node,
        caller,
        std::slice::from_ref(p),
        model::Scope::Patient {
            patient: p.canonical().to_string(),
        },
        export_id(node),
        None,
    )?;
    let events: usize = file.patients.iter().map(|x| x.events.len()).sum();
    if events == 0 {
        return Err(refused(format!(
            "inget om {} finns här (eller inget som enheten får läsa)",
            p.canonical()
        )));
    }
    Ok((html::chain_body(&file, &node_name(node)), events))
}

/// This node as printouts name it: its roster name and the start of its id.
pub(super) fn node_name(node: &dyn CareNode) -> String {
    let id = node.node_key().id();
    let text = id.to_string();
    match node.roster().node(&id) {
        Some(n) => format!("{} ({})", n.name, &text[..text.len().min(7)]),
        None => text,
    }
}

/// A new export's id: a random UUID (version 4) from the node's randomness.
fn export_id(node: &dyn CareNode) -> String {
    let mut b = [0u8; 16];
    node.fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
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

fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string_pretty(v)
        .map_err(|e| refused(format!("exporten kunde inte skrivas: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{
        DocumentForm, PlanEditRequest, PlanPatch, Reply, Request, Role, SendRequest,
    };
    use super::*;
    use serde_json::Value;

    /// A discharge process between the ward and the municipality: admission, a SIP and a
    /// new version of it, a note, ready, a question and its answer, the municipality's
    /// Read of the admission, municipality ready, the care report with two drugs,
    /// discharged. Returns the ward and the municipality, each holding it all.
    pub(crate) fn scenario() -> (TestNode, TestNode) {
        let (ward, kommun, admission) = admitted();
        let plan = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], plan_form("Hem"))),
        );
        let doc = plan.plan.clone().expect("a plan");
        ward.ask(Request::PlanEdit(PlanEditRequest {
            doc: doc.clone(),
            resolve: false,
            base: None,
            heads: None,
            patch: PlanPatch {
                goals: Some("Hem med hemtjänst & trygghetslarm".into()),
                ..PlanPatch::default()
            },
            urgent: false,
        }))
        .expect("plan edited");
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Kommun],
                DocumentForm::PlanNote {
                    plan: doc,
                    text: "Dottern vill delta <per telefon>".into(),
                },
            )),
        );
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[],
                DocumentForm::Ready {
                    physician: "Dr Lena Berg".into(),
                    at: Some("2026-11-23 09:00".into()),
                },
            )),
        );
        let q = sent(
            &ward,
            Request::Send(SendRequest {
                urgent: true,
                ..sending(Some(PATIENT), &[Side::Kommun], message_form("Hemtjänst?"))
            }),
        );
        ward.carry_to(&kommun);
        kommun
            .ask(Request::Ack {
                event: admission.event.clone(),
            })
            .expect("read");
        sent(
            &kommun,
            Request::Send(SendRequest {
                reply_to: Some(q.event.clone()),
                ..sending(None, &[], message_form("Ja, från måndag"))
            }),
        );
        sent(
            &kommun,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Ward],
                DocumentForm::MunicipalityReady {
                    measures: "Hemtjänst 4 ggr/dag".into(),
                    from: Some("2026-11-23 10:00".into()),
                },
            )),
        );
        kommun.carry_to(&ward);
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Kommun],
                DocumentForm::CareReport {
                    reason: "Höftfraktur".into(),
                    physician: "Dr Lena Berg".into(),
                    summary: "Opererad, mobiliserad med rollator".into(),
                    complications: "Inga".into(),
                    health: "Går med rollator".into(),
                    risks: "Fallrisk".into(),
                    changes: "Nytt: Alvedon".into(),
                    drugs: vec![
                        "Alvedon; 500 mg; 2 x 4; insatt för smärta".into(),
                        "Waran; 2,5 mg; enligt ordination".into(),
                    ],
                },
            )),
        );
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[],
                DocumentForm::Discharged {
                    destination: "hemmet".into(),
                    at: Some("2026-11-23 11:30".into()),
                },
            )),
        );
        ward.carry_to(&kommun);
        (ward, kommun)
    }

    fn exported(node: &TestNode, format: &str) -> Exported {
        match node.ask(Request::Export(ExportRequest {
            patient: "191212121212".into(),
            format: format.into(),
            outage: None,
        })) {
            Ok(Reply::Exported(x)) => *x,
            other => panic!("{other:?}"),
        }
    }

    /// What the two outside validators (tests/fhir/validate.js: the official R4 JSON schema
    /// run by ajv, and FHIR.js) say of `bundle`: per validator, valid and its errors.
    pub(crate) fn validators(bundle: &Value) -> Vec<(String, bool, Vec<String>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir");
        assert!(
            root.join("node_modules/fhir").is_dir(),
            "the FHIR validators are not installed: run `npm ci --prefix tests/fhir` (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bundle.json");
        std::fs::write(&file, serde_json::to_vec(bundle).expect("json")).expect("write");
        let out = std::process::Command::new("node")
            .arg(root.join("validate.js"))
            .arg(&file)
            .output()
            .expect("node runs (Node.js is needed for the FHIR validators)");
        let text = String::from_utf8_lossy(&out.stdout);
        let results: Vec<(String, bool, Vec<String>)> = text
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("a result line");
                (
                    v["validator"].as_str().expect("name").to_string(),
                    v["valid"].as_bool().expect("valid"),
                    v["errors"]
                        .as_array()
                        .expect("errors")
                        .iter()
                        .map(|e| e.as_str().unwrap_or_default().to_string())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            results.len(),
            2,
            "both validators answer: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(if results.iter().all(|r| r.1) { 0 } else { 1 }),
            "{text}"
        );
        results
    }

    fn resources<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == kind)
            .collect()
    }

    #[test]
    fn a_patients_fhir_bundle_passes_both_outside_validators() {
        let (ward, kommun) = scenario();
        let before = ward.audit_log().len();
        let x = exported(&ward, "fhir");
        assert_eq!(x.media_type, "application/fhir+json");
        assert!(!x.file_name.contains("1212"), "{}", x.file_name);
        let b: Value = serde_json::from_str(&x.content).expect("json");
        for (name, valid, errors) in validators(&b) {
            assert!(valid, "{name}: {errors:#?}");
        }
        // What the mapping promises.
        assert_eq!(b["type"], "collection");
        let count = |k: &str| resources(&b, k).len();
        assert_eq!(count("Patient"), 1);
        assert_eq!(count("Organization"), 2);
        assert_eq!(count("CarePlan"), 2, "two versions of the SIP");
        assert_eq!(count("Composition"), 1);
        assert_eq!(count("MedicationStatement"), 2);
        assert_eq!(count("AuditEvent"), 1, "the municipality's Read");
        assert_eq!(count("EpisodeOfCare"), 1);
        assert!(count("Provenance") >= 9);
        let plans = resources(&b, "CarePlan");
        let active: Vec<_> = plans.iter().filter(|p| p["status"] == "active").collect();
        assert_eq!(active.len(), 1);
        assert!(active[0]["replaces"].is_array());
        assert_eq!(
            active[0]["note"][0]["text"]
                .as_str()
                .map(|t| t.contains("Vill hem")),
            Some(true)
        );
        assert!(active[0]["note"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n["text"] == "Dottern vill delta <per telefon>"));
        let comms = resources(&b, "Communication");
        let answer = comms
            .iter()
            .find(|c| c["inResponseTo"].is_array())
            .expect("the answer");
        let question = answer["inResponseTo"][0]["reference"]
            .as_str()
            .expect("ref");
        assert!(b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["fullUrl"] == question && e["resource"]["priority"] == "urgent"));
        // The export is in the access log as disclosed, naming the patient and the caller.
        let new = ward.audit_log().split_off(before);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].action, AuditAction::Export);
        assert_eq!(new[0].patients.len(), 1);
        assert_eq!(new[0].patients[0].canonical(), PATIENT);
        assert_eq!(new[0].name.as_deref(), Some("Sara Sjöberg"));
        // The municipality's own export of the same patient passes too.
        let theirs: Value = serde_json::from_str(&exported(&kommun, "fhir").content).expect("json");
        for (name, valid, errors) in validators(&theirs) {
            assert!(valid, "{name} (municipality): {errors:#?}");
        }
    }

    /// Each validator catches a fault the project's own code could make; the schema and
    /// FHIR.js are not the same check.
    #[test]
    fn each_outside_validator_fails_a_broken_bundle() {
        let (ward, _) = scenario();
        let good: Value = serde_json::from_str(&exported(&ward, "fhir").content).expect("json");
        let entry_of = |b: &mut Value, kind: &str| -> usize {
            b["entry"]
                .as_array()
                .expect("entries")
                .iter()
                .position(|e| e["resource"]["resourceType"] == kind)
                .expect(kind)
        };
        // `sent` is no EventStatus: FHIR.js checks the required value set, the schema does not.
        let mut sent_status = good.clone();
        let i = entry_of(&mut sent_status, "Communication");
        sent_status["entry"][i]["resource"]["status"] = "sent".into();
        // An element R4 does not have.
        let mut unknown = good.clone();
        let i = entry_of(&mut unknown, "Patient");
        unknown["entry"][i]["resource"]["personnummer"] = "191212121212".into();
        // A dateTime without its time zone.
        let mut bad_time = good.clone();
        let i = entry_of(&mut bad_time, "Communication");
        bad_time["entry"][i]["resource"]["sent"] = "2026-11-23T12:00:00".into();
        // A Bundle without its required type.
        let mut no_type = good.clone();
        no_type.as_object_mut().expect("object").remove("type");
        let verdict = |b: &Value| -> Vec<bool> { validators(b).into_iter().map(|r| r.1).collect() };
        assert_eq!(verdict(&good), [true, true]);
        assert_eq!(
            verdict(&sent_status),
            [true, false],
            "only FHIR.js knows EventStatus"
        );
        assert_eq!(verdict(&unknown), [false, false]);
        assert!(
            !verdict(&bad_time)[0],
            "the schema checks dateTime's pattern"
        );
        assert!(!verdict(&no_type)[1], "FHIR.js checks Bundle.type 1..1");
    }

    /// What ajv says of `doc` against docs/export-schema.json: valid, and its errors.
    fn schema_check(doc: &Value) -> (bool, Vec<String>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("export.json");
        std::fs::write(&file, serde_json::to_vec(doc).expect("json")).expect("write");
        let out = std::process::Command::new("node")
            .arg(root.join("tests/fhir/validate-json.js"))
            .arg(root.join("docs/export-schema.json"))
            .arg(&file)
            .output()
            .expect("node runs");
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let valid = v["valid"].as_bool().expect("valid");
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }));
        let errors = v["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e.as_str().unwrap_or_default().to_string())
            .collect();
        (valid, errors)
    }

    #[test]
    fn the_json_export_follows_its_documented_schema() {
        let (ward, kommun) = scenario();
        for node in [&ward, &kommun] {
            let x = exported(node, "json");
            assert_eq!(x.media_type, "application/json");
            let doc: Value = serde_json::from_str(&x.content).expect("json");
            let (valid, errors) = schema_check(&doc);
            assert!(valid, "{errors:#?}");
            assert_eq!(doc["schema"], model::EXPORT_SCHEMA);
            assert_eq!(doc["version"], model::EXPORT_VERSION);
            let events = doc["patients"][0]["events"].as_array().expect("events");
            assert_eq!(events.len(), x.events);
            assert_eq!(
                x.events, 10,
                "every document of the scenario, the answer too"
            );
            // Every kind of content the scenario has is in it.
            let kinds: std::collections::BTreeSet<&str> = events
                .iter()
                .filter_map(|e| e["content"]["type"].as_str())
                .collect();
            assert_eq!(kinds.len(), 8, "{kinds:?}");
        }
        // The schema is strict: it fails what a reader could not rely on.
        let good: Value = serde_json::from_str(&exported(&ward, "json").content).expect("json");
        let mut extra = good.clone();
        extra["patients"][0]["events"][0]["note"] = "x".into();
        let mut bad_kind = good.clone();
        bad_kind["patients"][0]["events"][0]["content"]["type"] = "fax".into();
        let mut bad_version = good.clone();
        bad_version["version"] = 2.into();
        let mut bad_unit = good.clone();
        bad_unit["units"][0]["id"] = "se2321000081-avd12".into();
        for (what, doc) in [
            ("an unknown field", extra),
            ("an unknown content type", bad_kind),
            ("another version", bad_version),
            ("an HSA-id not in canonical form", bad_unit),
        ] {
            assert!(!schema_check(&doc).0, "{what} is refused");
        }
    }

    #[test]
    fn the_printout_is_a4_swedish_escaped_with_a_page_per_patient() {
        let (ward, _) = scenario();
        let x = exported(&ward, "html");
        let h = &x.content;
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(h.contains("<html lang=\"sv\">"));
        assert!(h.contains("@page { size: A4;"));
        assert!(h.contains("section.patient { page-break-before: always;"));
        assert_eq!(h.matches("<section class=\"patient\">").count(), 1);
        // Text is escaped: the note's angle brackets and the goal's ampersand.
        assert!(h.contains("Dottern vill delta &lt;per telefon&gt;"));
        assert!(h.contains("Hem med hemtjänst &amp; trygghetslarm"));
        assert!(!h.contains("<per telefon>"));
        // What a person entering it into LINK needs, in Swedish.
        for label in [
            "Personnummer: 19121212-1212",
            "Inskriven",
            "Utskrivningsklar",
            "Kommunklar",
            "Utskriven",
            "Läkemedel: Alvedon 500 mg 2 x 4 (ändring: insatt för smärta)",
            "läst 2026-11-23 13:00 av Sara Sjöberg",
            "Inregistrerat i LINK",
            "BRÅDSKANDE",
        ] {
            assert!(h.contains(label), "{label}");
        }
        // Nothing loaded from elsewhere.
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<script"));
    }

    #[test]
    fn the_swedish_rules_hold_in_the_bundle() {
        let (ward, _) = scenario();
        let b: Value = serde_json::from_str(&exported(&ward, "fhir").content).expect("json");
        // Unique fullUrls, each a urn:uuid, and every reference inside the Bundle resolves.
        let entries = b["entry"].as_array().expect("entries");
        let urls: std::collections::HashSet<&str> = entries
            .iter()
            .map(|e| e["fullUrl"].as_str().expect("fullUrl"))
            .collect();
        assert_eq!(urls.len(), entries.len(), "fullUrls are unique");
        for u in &urls {
            let uuid = u.strip_prefix("urn:uuid:").expect("urn:uuid");
            assert_eq!(uuid.len(), 36);
            assert!(uuid
                .chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        let text = b.to_string();
        for r in text.split("\"reference\":\"").skip(1) {
            let target = &r[..r.find('"').expect("end")];
            assert!(urls.contains(target), "{target} is in the Bundle");
        }
        // The patient under HL7 Sweden's personnummer system, 12 digits with a valid
        // check digit.
        let p = resources(&b, "Patient")[0];
        assert_eq!(p["identifier"][0]["system"], fhir::SYSTEM_PERSONNUMMER);
        let v = p["identifier"][0]["value"].as_str().expect("value");
        assert_eq!(v, "191212121212");
        assert!(luhn_ok(&v[2..]), "check digit of {v}");
        assert_eq!(
            (p["birthDate"].as_str(), p["gender"].as_str()),
            (Some("1912-12-12"), Some("male"))
        );
        // Units under the HSA-id system in the HSA form, with their organisation number.
        for o in resources(&b, "Organization") {
            let ids = o["identifier"].as_array().expect("identifiers");
            assert_eq!(ids[0]["system"], fhir::SYSTEM_HSA);
            let hsa = ids[0]["value"].as_str().expect("hsa");
            assert!(hsa_form(hsa), "{hsa}");
            assert_eq!(ids[1]["system"], fhir::SYSTEM_ORGANISATION_NUMBER);
            let org = ids[1]["value"].as_str().expect("org");
            assert_eq!(org.len(), 10);
            assert!(luhn_ok(org), "{org}");
            assert!(hsa.contains(org));
        }
    }

    /// The Luhn check digit of a 10-digit personnummer or organisation number.
    fn luhn_ok(ten: &str) -> bool {
        let d: Vec<u32> = ten.chars().filter_map(|c| c.to_digit(10)).collect();
        if d.len() != 10 {
            return false;
        }
        let sum: u32 = d[..9]
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let y = if i % 2 == 0 { x * 2 } else { *x };
                y / 10 + y % 10
            })
            .sum();
        (10 - sum % 10) % 10 == d[9]
    }

    /// `SE` + a 10-digit organisation number (or 12 from `16`) + `-` + `[A-Z0-9]+`.
    fn hsa_form(s: &str) -> bool {
        let Some(rest) = s.strip_prefix("SE") else {
            return false;
        };
        let Some((org, local)) = rest.split_once('-') else {
            return false;
        };
        (org.len() == 10 || org.len() == 12 && org.starts_with("16"))
            && org.chars().all(|c| c.is_ascii_digit())
            && !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    }

    #[test]
    fn the_swedish_rule_checks_fail_on_wrong_numbers() {
        assert!(luhn_ok("1212121212"));
        assert!(!luhn_ok("1212121213"));
        assert!(luhn_ok("2321000081"));
        assert!(!luhn_ok("2321000082"));
        // A samordningsnummer: day + 60, the same check digit rule.
        let s: reservnod_proto::PatientId = "19121272-1219".parse().expect("samordningsnummer");
        let x = model::PatientExport {
            id: s.canonical().into(),
            kind: model::patient_kind(&s),
            episodes: vec![],
            events: vec![],
            plans: vec![],
        };
        let id = fhir::patient_identifier(&x);
        assert_eq!(id["system"], fhir::SYSTEM_SAMORDNINGSNUMMER);
        assert_eq!(id["value"], "191212721219");
        assert!(luhn_ok(&id["value"].as_str().expect("v")[2..]));
        assert!(hsa_form("SE2321000081-AVD12"));
        assert!(!hsa_form("se2321000081-avd12"));
        assert!(!hsa_form("SE232100008-AVD12"));
        assert!(!hsa_form("SE2321000081-"));
    }

    /// An outage at the ward: an admission of one patient and a message about another,
    /// both to the municipality, which stores them and sends its Delivered for the message
    /// back; the admission marked entered into LINK. Returns the ward, the municipality, the
    /// admission's and the message's ids.
    fn outage_scenario() -> (TestNode, TestNode, String, String) {
        use super::super::{OutageDeclareRequest, ReentryMarkRequest};
        let ward = TestNode::new(Side::Ward);
        let kommun = TestNode::new(Side::Kommun);
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        ward.ask_as(
            &admin,
            Request::OutageDeclare(OutageDeclareRequest {
                reason: "LINK nere".into(),
                scope: Vec::new(),
            }),
        )
        .expect("declared");
        let admission = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], admission_form())),
        );
        let message = sent(
            &ward,
            Request::Send(sending(
                Some(OTHER_PATIENT),
                &[Side::Kommun],
                message_form("Hemtjänst?"),
            )),
        );
        ward.carry_to(&kommun);
        // The municipality's node stores the message and writes its Delivered, as
        // `node::ingest` does; it reaches the ward.
        let id: reservnod_proto::EventId = message.event.parse().expect("id");
        let receipt = crate::care::delivered::delivered(
            kommun.node_key(),
            kommun.unit_key(),
            id,
            reservnod_proto::Priority::Normal,
            ward.unit_key().unit(),
            NOW + 60_000,
            kommun.tick(),
        )
        .expect("signed");
        kommun.write(vec![receipt]).expect("stored");
        kommun.carry_to(&ward);
        match ward.ask(Request::ReentryMark(ReentryMarkRequest {
            item: admission.event.clone(),
            state: "inregistrerat".into(),
            link_ref: "LINK-77".into(),
            reason: String::new(),
        })) {
            Ok(Reply::ReentryMarked(_)) => {}
            other => panic!("{other:?}"),
        }
        (ward, kommun, admission.event, message.event)
    }

    fn outage_export(node: &TestNode, format: &str) -> Exported {
        match node.ask(Request::Export(ExportRequest {
            patient: String::new(),
            format: format.into(),
            outage: Some(String::new()),
        })) {
            Ok(Reply::Exported(x)) => *x,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_outages_export_holds_every_item_with_a_task_each_and_is_logged_once() {
        let (ward, kommun, admission, message) = outage_scenario();
        let before = ward.audit_log().len();
        let x = outage_export(&ward, "fhir");
        assert_eq!(x.events, 2);
        let mut both = x.patients.clone();
        both.sort();
        assert_eq!(both, [PATIENT, OTHER_PATIENT]);
        let b: Value = serde_json::from_str(&x.content).expect("json");
        for (name, valid, errors) in validators(&b) {
            assert!(valid, "{name}: {errors:#?}");
        }
        // Unique fullUrls, and every reference resolves inside the Bundle.
        let entries = b["entry"].as_array().expect("entries");
        let urls: std::collections::HashSet<&str> = entries
            .iter()
            .map(|e| e["fullUrl"].as_str().expect("fullUrl"))
            .collect();
        assert_eq!(urls.len(), entries.len());
        let text = b.to_string();
        for r in text.split("\"reference\":\"").skip(1) {
            let target = &r[..r.find('"').expect("end")];
            assert!(urls.contains(target), "{target} is in the Bundle");
        }
        // Two patients, each under the personnummer system with a valid check digit.
        let patients = resources(&b, "Patient");
        assert_eq!(patients.len(), 2);
        for p in &patients {
            assert_eq!(p["identifier"][0]["system"], fhir::SYSTEM_PERSONNUMMER);
            let v = p["identifier"][0]["value"].as_str().expect("value");
            assert!(luhn_ok(&v[2..]), "{v}");
        }
        for o in resources(&b, "Organization") {
            let hsa = o["identifier"][0]["value"].as_str().expect("hsa");
            assert_eq!(o["identifier"][0]["system"], fhir::SYSTEM_HSA);
            assert!(hsa_form(hsa), "{hsa}");
        }
        // A Task per item: the marked one completed with its LINK reference, the other left.
        let tasks = resources(&b, "Task");
        assert_eq!(tasks.len(), 2);
        let task_of = |e: &str| {
            *tasks
                .iter()
                .find(|t| t["identifier"][0]["value"] == e)
                .expect("a task")
        };
        let done = task_of(&admission);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["intent"], "order");
        assert_eq!(done["businessStatus"]["coding"][0]["code"], "inregistrerat");
        assert_eq!(done["output"][0]["valueIdentifier"]["value"], "LINK-77");
        assert_eq!(done["note"].as_array().map(Vec::len), Some(1));
        let left = task_of(&message);
        assert_eq!(left["status"], "requested");
        assert_eq!(left["businessStatus"]["coding"][0]["code"], "kvar");
        assert!(left.get("output").is_none() && left.get("note").is_none());
        let ward_org = format!(
            "urn:uuid:{}",
            fhir::uuid_for(&format!("organization {}", unit_of(Side::Ward)))
        );
        for t in [done, left] {
            assert_eq!(t["owner"]["reference"], ward_org.as_str());
            let focus = t["focus"]["reference"].as_str().expect("focus");
            let target = entries
                .iter()
                .find(|e| e["fullUrl"] == focus)
                .expect("focus in the Bundle");
            assert_eq!(target["resource"]["resourceType"], "Communication");
        }
        // The municipality's Delivered, arrived at the ward, is the message's `received`.
        let comm = entries
            .iter()
            .map(|e| &e["resource"])
            .find(|r| {
                r["resourceType"] == "Communication"
                    && r["identifier"][0]["value"] == message.as_str()
            })
            .expect("the message");
        assert_eq!(comm["status"], "completed");
        assert_eq!(
            comm["received"].as_str(),
            Some(crate::clock::format_ms_rfc3339(NOW + 60_000).as_str())
        );
        // One Export in the access log, naming both patients.
        let new = ward.audit_log().split_off(before);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].action, AuditAction::Export);
        let mut named: Vec<&str> = new[0].patients.iter().map(|p| p.canonical()).collect();
        named.sort();
        assert_eq!(named, [PATIENT, OTHER_PATIENT]);
        // The municipality's export of the same outage is its own re-entry list: the same
        // two items, received, owned by it and left there (the ward's marks are the ward's).
        let theirs: Value =
            serde_json::from_str(&outage_export(&kommun, "fhir").content).expect("json");
        for (name, valid, errors) in validators(&theirs) {
            assert!(valid, "{name} (municipality): {errors:#?}");
        }
        let kommun_org = format!(
            "urn:uuid:{}",
            fhir::uuid_for(&format!("organization {}", unit_of(Side::Kommun)))
        );
        let tasks = resources(&theirs, "Task");
        assert_eq!(tasks.len(), 2);
        assert!(tasks
            .iter()
            .all(|t| t["status"] == "requested" && t["owner"]["reference"] == kommun_org.as_str()));
    }

    #[test]
    fn an_outages_json_follows_the_schema_and_its_printout_has_each_patient() {
        let (ward, _, admission, _) = outage_scenario();
        let x = outage_export(&ward, "json");
        let doc: Value = serde_json::from_str(&x.content).expect("json");
        let (valid, errors) = schema_check(&doc);
        assert!(valid, "{errors:#?}");
        assert_eq!(doc["scope"]["kind"], "outage");
        assert_eq!(doc["patients"].as_array().map(Vec::len), Some(2));
        let events: Vec<&Value> = doc["patients"]
            .as_array()
            .expect("patients")
            .iter()
            .flat_map(|p| p["events"].as_array().expect("events"))
            .collect();
        let marked = events
            .iter()
            .find(|e| e["event"] == admission.as_str())
            .expect("the admission");
        assert_eq!(marked["reentry"]["state"], "inregistrerat");
        assert_eq!(marked["reentry"]["marks"][0]["detail"], "LINK-77");
        assert!(events
            .iter()
            .all(|e| e["reentry"]["placement"] == "under driftstörningen"));
        let mut bad = doc.clone();
        bad["patients"][0]["events"][0]["reentry"]["state"] = "klar".into();
        assert!(
            !schema_check(&bad).0,
            "an unknown re-entry state is refused"
        );
        let h = outage_export(&ward, "html").content;
        assert_eq!(h.matches("<section class=\"patient\">").count(), 2);
        for text in [
            "Personnummer: 19121212-1212",
            "Personnummer: 19821105-9954",
            "inregistrerat i LINK LINK-77",
            "kvar att efterregistrera",
        ] {
            assert!(h.contains(text), "{text}");
        }
    }

    /// Two marks on one item (made apart, say on two nodes of the unit): both are notes,
    /// the LINK reference stays an output, and the latest decides the status.
    #[test]
    fn two_marks_on_an_item_are_both_kept_and_the_latest_decides() {
        let (ward, _, admission, _) = outage_scenario();
        ward.set_now(NOW + 600_000);
        match ward.ask(Request::ReentryMark(super::super::ReentryMarkRequest {
            item: admission.clone(),
            state: "behovs-inte".into(),
            link_ref: String::new(),
            reason: "Dubblett, redan i LINK".into(),
        })) {
            Ok(Reply::ReentryMarked(m)) => assert_eq!(m.marks.len(), 2),
            other => panic!("{other:?}"),
        }
        let b: Value = serde_json::from_str(&outage_export(&ward, "fhir").content).expect("json");
        let tasks = resources(&b, "Task");
        let t = tasks
            .iter()
            .find(|t| t["identifier"][0]["value"] == admission.as_str())
            .expect("the task");
        assert_eq!(t["status"], "cancelled");
        assert_eq!(t["businessStatus"]["coding"][0]["code"], "behovs-inte");
        assert_eq!(t["output"][0]["valueIdentifier"]["value"], "LINK-77");
        let notes: Vec<&str> = t["note"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|n| n["text"].as_str().expect("text"))
            .collect();
        assert_eq!(
            notes,
            [
                "inregistrerat i LINK (LINK-77)",
                "behövs inte: Dubblett, redan i LINK"
            ]
        );
        assert_eq!(
            t["lastModified"].as_str(),
            Some(crate::clock::format_ms_rfc3339(NOW + 600_000).as_str())
        );
    }

    #[test]
    fn an_outages_export_is_refused_to_another_unit_and_for_both_selectors() {
        let (ward, _, _, _) = outage_scenario();
        let other_unit = account(Side::Kommun, "kim", &[Role::Staff]);
        let req = |patient: &str| {
            Request::Export(ExportRequest {
                patient: patient.into(),
                format: "fhir".into(),
                outage: Some(String::new()),
            })
        };
        assert!(matches!(
            ward.ask_as(&other_unit, req("")),
            Err(ApiError::NotAllowed(_))
        ));
        ward.refuses(req(PATIENT), "inte båda");
        ward.refuses(
            Request::Export(ExportRequest {
                patient: String::new(),
                format: "fhir".into(),
                outage: Some("abcdef01".into()),
            }),
            "ingen driftstörning här",
        );
    }

    #[test]
    fn an_export_of_nothing_or_in_an_unknown_format_is_refused_and_not_logged() {
        let (ward, _, _) = admitted();
        ward.refuses(
            Request::Export(ExportRequest {
                patient: OTHER_PATIENT.into(),
                format: "fhir".into(),
                outage: None,
            }),
            "inget om",
        );
        ward.refuses(
            Request::Export(ExportRequest {
                patient: PATIENT.into(),
                format: "pdf".into(),
                outage: None,
            }),
            "exportens format",
        );
        ward.refuses(
            Request::Export(ExportRequest {
                patient: "19121212-1213".into(),
                format: "json".into(),
                outage: None,
            }),
            "kontrollsiffra",
        );
    }
}
