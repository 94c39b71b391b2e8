//! The outage lifecycle end to end (issue 13 §7) on loopback nodes running in this
//! process: a ward with two nodes (its box and a laptop) and a municipality.
//!
//! 1. The region's pre-outage snapshot is imported at the box: the chain reaches the
//!    laptop and the municipality, whose own import of the same file adds nothing.
//! 2. The municipality is cut off (stopped); the box declares the outage.
//! 3. Documents and messages are written on every node: the box and the laptop during the
//!    outage, the municipality without the declaration (it shows the warning state).
//! 4. The municipality reconnects: what it wrote joins the outage, the chain counts it.
//! 5. The outage is ended from the laptop: new documents are refused everywhere, an answer
//!    to an outage message, a receipt and the marks are still taken.
//! 6. Re-entry: a mark made on the laptop is seen on the box; the box signs off the rest
//!    and the laptop sees the list closed; the municipality marks all of its own.
//! 7. Exports at the box: the outage's and one patient's FHIR Bundle pass both outside
//!    validators and the Swedish rules, the JSON export passes its schema, the printout has
//!    a page per patient.
//! 8. (The purge, issue 13 §6, is to be appended where marked.)

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reservnod::care::api::{
    ApiError, Caller, ChainView, DocumentForm, ExportRequest, Exported, OutageDeclareRequest,
    Person, PlanPatch, ReentryList, ReentryMarkRequest, Reply, Request, SendRequest,
    SnapshotImportRequest, Via,
};
use reservnod::clock::{format_ms_local, now_ms};
use serde_json::Value;
use support::{bind, cli_ok, region, start_node, Node};

const LIMIT: Duration = Duration::from_secs(30);
/// In the snapshot; the plan and the municipality's readiness are about this patient.
const P1: &str = "19121212-1212";
/// The municipality's question and the laptop's message.
const P2: &str = "19821105-9954";
/// A samordningsnummer (Skatteverket's test number, day 14 + 60).
const P3: &str = "19570574-9959";

const PERSONNUMMER: &str = "http://electronichealth.se/identifier/personnummer";
const SAMORDNINGSNUMMER: &str = "http://electronichealth.se/identifier/samordningsnummer";
const HSA: &str = "urn:oid:1.2.752.29.4.19";
const ORGANISATION_NUMBER: &str = "urn:oid:2.5.4.97";

fn person(name: &str) -> Caller {
    Caller::local(
        Person {
            name: name.into(),
            role: "sjuksköterska".into(),
            login: Some("it".into()),
        },
        Via::Socket,
    )
}

async fn ask(node: &Node, name: &str, request: Request) -> Result<Reply, ApiError> {
    node.handle.ask(person(name), request).await
}

async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < LIMIT, "timed out after {LIMIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn message(subject: &str, text: &str) -> DocumentForm {
    DocumentForm::Message {
        subject: subject.into(),
        text: text.into(),
        kind: None,
        answer_by: None,
    }
}

fn sending(patient: Option<&str>, to: &str, document: DocumentForm) -> Request {
    Request::Send(SendRequest {
        patient: patient.map(str::to_string),
        to: vec![to.to_string()],
        ..SendRequest::new(document)
    })
}

/// Sends and returns the event's id.
async fn sent(node: &Node, name: &str, request: Request) -> String {
    match ask(node, name, request).await {
        Ok(Reply::Sent(s)) => s.event,
        other => panic!("not sent: {other:?}"),
    }
}

async fn state(node: &Node) -> String {
    match ask(node, "Sara Sjöberg", Request::OutageShow {}).await {
        Ok(Reply::Outage(v)) => v.state,
        other => panic!("{other:?}"),
    }
}

async fn list(node: &Node) -> Option<ReentryList> {
    match ask(node, "Sara Sjöberg", Request::Reentry { outage: None }).await {
        Ok(Reply::Reentry(l)) => Some(*l),
        _ => None,
    }
}

/// The list's items as event → (patient group, placement, marks).
fn items(l: &ReentryList) -> BTreeMap<String, (String, String, usize)> {
    l.patients
        .iter()
        .flat_map(|g| {
            g.items.iter().map(|i| {
                (
                    i.event.clone(),
                    (g.patient.clone(), i.placement.clone(), i.marks.len()),
                )
            })
        })
        .collect()
}

async fn chain(node: &Node, patient: &str) -> Option<ChainView> {
    match ask(
        node,
        "Sara Sjöberg",
        Request::Chain {
            patient: patient.into(),
        },
    )
    .await
    {
        Ok(Reply::Chain(c)) => Some(c),
        _ => None,
    }
}

fn mark(item: &str, link_ref: &str) -> Request {
    Request::ReentryMark(ReentryMarkRequest {
        item: item.into(),
        state: "inregistrerat".into(),
        link_ref: link_ref.into(),
        reason: String::new(),
    })
}

fn cli_sent(dir: &Path, args: &[&str]) -> String {
    let v: Value = serde_json::from_str(&cli_ok(dir, args)).expect("json");
    v["event"].as_str().expect("event").to_string()
}

async fn export(node: &Node, format: &str, patient: &str, outage: bool) -> Exported {
    match ask(
        node,
        "Sara Sjöberg",
        Request::Export(ExportRequest {
            patient: patient.into(),
            format: format.into(),
            outage: outage.then(String::new),
        }),
    )
    .await
    {
        Ok(Reply::Exported(x)) => *x,
        other => panic!("no {format} export: {other:?}"),
    }
}

/// Runs a script of tests/fhir (installed by `npm ci --prefix tests/fhir`) on `doc`
/// written to a file: each line it prints as JSON, and its exit code.
fn node_script(script: &str, before: &[&Path], doc: &Value) -> (Vec<Value>, Option<i32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/fhir/node_modules/fhir").is_dir(),
        "the outside validators are not installed: run `npm ci --prefix tests/fhir` (.ci/run does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("doc.json");
    std::fs::write(&file, serde_json::to_vec(doc).expect("json")).expect("write");
    let out = Command::new("node")
        .arg(root.join("tests/fhir").join(script))
        .args(before)
        .arg(&file)
        .output()
        .expect("node runs (Node.js is needed for the validators)");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{e}: {l} {}", String::from_utf8_lossy(&out.stderr)))
        })
        .collect();
    (lines, out.status.code())
}

/// Both outside validators (tests/fhir/validate.js: HL7's R4 JSON schema with ajv, and
/// FHIR.js) pass the Bundle.
fn assert_valid_fhir(what: &str, bundle: &Value) {
    let (results, code) = node_script("validate.js", &[], bundle);
    assert_eq!(
        results.len(),
        2,
        "{what}: both validators answer: {results:?}"
    );
    for r in &results {
        assert_eq!(
            r["valid"], true,
            "{what}: {} says {:#}",
            r["validator"], r["errors"]
        );
    }
    assert_eq!(code, Some(0), "{what}");
}

/// The Luhn check digit of a 10-digit personnummer, samordningsnummer or organisation
/// number.
fn luhn_ok(ten: &str) -> bool {
    let d: Vec<u32> = ten.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 10 || ten.len() != 10 {
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

/// `SE` + a 10-digit organisation number + `-` + upper-case letters and digits.
fn hsa_form(s: &str) -> bool {
    let Some((org, local)) = s.strip_prefix("SE").and_then(|r| r.split_once('-')) else {
        return false;
    };
    org.len() == 10
        && org.chars().all(|c| c.is_ascii_digit())
        && !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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

/// The Swedish rules, checked here and not by the validators: unique `urn:uuid` fullUrls
/// that every reference resolves to; each Patient under HL7 Sweden's personnummer or
/// samordningsnummer system with 12 digits and a valid check digit (a samordningsnummer's
/// day 61–91); each Organization under the HSA-id system in the HSA form, with its
/// organisation number (valid check digit) inside the HSA-id. Returns the patients' ids.
fn assert_swedish_rules(what: &str, b: &Value) -> BTreeSet<String> {
    let entries = b["entry"].as_array().expect("entries");
    let urls: HashSet<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().expect("fullUrl"))
        .collect();
    assert_eq!(urls.len(), entries.len(), "{what}: fullUrls are unique");
    for u in &urls {
        let uuid = u.strip_prefix("urn:uuid:").expect("a urn:uuid");
        assert_eq!(uuid.len(), 36, "{u}");
    }
    let text = b.to_string();
    for r in text.split("\"reference\":\"").skip(1) {
        let target = &r[..r.find('"').expect("end")];
        assert!(urls.contains(target), "{what}: {target} is in the Bundle");
    }
    let mut patients = BTreeSet::new();
    for p in resources(b, "Patient") {
        let id = &p["identifier"][0];
        let v = id["value"].as_str().expect("value");
        assert_eq!(v.len(), 12, "{v}");
        assert!(luhn_ok(&v[2..]), "{what}: check digit of {v}");
        let day: u32 = v[6..8].parse().expect("day");
        let system = if day > 60 {
            SAMORDNINGSNUMMER
        } else {
            PERSONNUMMER
        };
        assert_eq!(id["system"], system, "{what}: {v}");
        assert_eq!(id["use"], "official");
        patients.insert(v.to_string());
    }
    let orgs = resources(b, "Organization");
    assert!(!orgs.is_empty(), "{what}: the units");
    for o in orgs {
        let ids = o["identifier"].as_array().expect("identifiers");
        assert_eq!(ids[0]["system"], HSA, "{what}");
        let hsa = ids[0]["value"].as_str().expect("hsa");
        assert!(hsa_form(hsa), "{what}: {hsa}");
        assert_eq!(ids[1]["system"], ORGANISATION_NUMBER, "{what}");
        let org = ids[1]["value"].as_str().expect("org");
        assert!(luhn_ok(org), "{what}: {org}");
        assert!(hsa.contains(org), "{what}: {org} in {hsa}");
    }
    patients
}

/// 12 digits, as the Bundle writes a patient.
fn digits(p: &str) -> String {
    p.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_from_the_snapshot_to_the_exports() {
    // Node 0: the ward's box; node 1: the municipality; node 2: the ward's laptop.
    let mut r = region(2, 0);
    let laptop = r.add_node_of_unit(0);
    let ward = r.nodes[0].unit.to_string();
    let muni = r.nodes[1].unit.to_string();
    let muni_dir = r.nodes[1].dir.clone();
    let (sb, ab) = bind();
    let (sm, am) = bind();
    let (sl, al) = bind();
    let boxn = start_node(&r.nodes[0].dir, sb, ab, &[am, al]).await;
    let lap = start_node(&r.nodes[laptop].dir, sl, al, &[ab, am]).await;
    let kommun = start_node(&muni_dir, sm, am, &[ab, al]).await;

    // 1. The snapshot, taken this morning: P1 admitted four days ago, ready yesterday.
    let now = now_ms();
    let hours = |h: u64| format_ms_local(now - h * 3_600_000);
    let csv = format!(
        "format;taken_at;patient;units;state;admitted;ready;municipality_ready;preliminary_discharge;plan_summary;consent\n\
         1;{};{P1};{ward} {muni};utskrivningsklar;{};{};;;Hemtjänst 3 ggr/dag;samtycke\n",
        hours(2),
        hours(96),
        hours(24),
    );
    let import = || {
        Request::SnapshotImport(SnapshotImportRequest {
            text: csv.clone(),
            skip_bad_rows: false,
        })
    };
    match ask(&boxn, "Anna Admin", import()).await {
        Ok(Reply::SnapshotImported(x)) => {
            assert_eq!((x.imported, x.already, x.bad.len()), (1, 0, 0), "{x:?}")
        }
        other => panic!("{other:?}"),
    }
    let at_box = chain(&boxn, P1).await.expect("the chain at the box");
    assert_eq!(at_box.episodes.len(), 1);
    assert_eq!(at_box.episodes[0].state, "utskrivningsklar");
    assert!(at_box.episodes[0].snapshot.is_some());
    for (name, node) in [("laptop", &lap), ("municipality", &kommun)] {
        until(
            &format!("the snapshot's chain reaches the {name}"),
            || async {
                chain(node, P1).await.filter(|c| {
                    c.episodes.len() == 1
                        && c.episodes[0].snapshot.is_some()
                        && c.episodes[0].state == "utskrivningsklar"
                })
            },
        )
        .await;
    }
    // The municipality imports the same file: the chain is already there.
    match ask(&kommun, "Kim Karlsson", import()).await {
        Ok(Reply::SnapshotImported(x)) => assert_eq!((x.imported, x.already), (0, 1), "{x:?}"),
        other => panic!("{other:?}"),
    }

    // 2. The municipality is cut off; the box declares the outage.
    kommun.stop().await;
    match ask(
        &boxn,
        "Anna Admin",
        Request::OutageDeclare(OutageDeclareRequest {
            reason: "LINK nere sedan 08.10".into(),
            scope: Vec::new(),
        }),
    )
    .await
    {
        Ok(Reply::Outage(v)) => {
            assert_eq!(v.state, "utlyst");
            assert!(v.banner.contains("LINK nere sedan 08.10"), "{}", v.banner);
        }
        other => panic!("{other:?}"),
    }
    until("the laptop has the declaration", || async {
        (state(&lap).await == "utlyst").then_some(())
    })
    .await;

    // 3. Written during it: a plan for P1 and a message about P3 at the box, a message
    //    about P2 at the laptop …
    let plan = sent(
        &boxn,
        "Sara Sjöberg",
        sending(
            Some(P1),
            &muni,
            DocumentForm::Plan {
                kind: Some("sip".into()),
                content: PlanPatch {
                    goals: Some("Hem med hemtjänst".into()),
                    measures: Some(vec![
                        "Hemtjänst; Karlskrona kommun; senast 2026-12-20".into()
                    ]),
                    patient_view: Some("Vill hem".into()),
                    ..PlanPatch::default()
                },
            },
        ),
    )
    .await;
    let p3_message = sent(
        &boxn,
        "Sara Sjöberg",
        sending(Some(P3), &muni, message("Trygghetslarm?", "Finns larm?")),
    )
    .await;
    let laptop_message = sent(
        &lap,
        "Olle Olsson",
        sending(Some(P2), &muni, message("Hemtjänst?", "Från måndag?")),
    )
    .await;
    // … and at the municipality, which has no declaration: it writes, warned.
    let shown = cli_ok(&muni_dir, &["outage", "show"]);
    assert!(
        shown.contains("Ingen driftstörning är utlyst")
            && shown.contains("kopplas till driftstörningen när den utlyses"),
        "{shown}"
    );
    let question = cli_sent(
        &muni_dir,
        &[
            "send",
            "--author",
            "Kim Karlsson",
            "--patient",
            P2,
            "--to",
            &ward,
            "--json",
            "message",
            "--subject",
            "Fråga från kommunen",
            "--text",
            "Hur går det?",
        ],
    );
    let muni_ready = cli_sent(
        &muni_dir,
        &[
            "send",
            "--author",
            "Kim Karlsson",
            "--patient",
            P1,
            "--to",
            &ward,
            "--json",
            "municipality-ready",
            "--measures",
            "Hemtjänst 4 ggr/dag",
        ],
    );

    // 4. Reconnected: what it wrote joins the outage, and the declaration reaches it.
    let sm = std::net::UdpSocket::bind(am).expect("the municipality's address again");
    let kommun = start_node(&muni_dir, sm, am, &[ab, al]).await;
    until("the municipality's writing joins the outage", || async {
        list(&kommun).await.filter(|l| {
            let i = items(l);
            [&question, &muni_ready]
                .iter()
                .all(|e| i.get(*e).is_some_and(|x| x.1 == "under driftstörningen"))
        })
    })
    .await;
    assert_eq!(state(&kommun).await, "utlyst");
    // The chain counts the snapshot and the municipality's readiness, at the box too.
    until("the box's chain is municipality-ready", || async {
        chain(&boxn, P1)
            .await
            .filter(|c| c.episodes.len() == 1 && c.episodes[0].state == "kommunklar")
    })
    .await;
    // The box answers the question; an answer names no patient of its own.
    let answer = sent(
        &boxn,
        "Sara Sjöberg",
        Request::Send(SendRequest {
            reply_to: Some(question.clone()),
            ..SendRequest::new(message("Sv: Fråga från kommunen", "Bra"))
        }),
    )
    .await;

    // 5. Ended from the laptop, once it holds everything.
    let during = [
        &plan,
        &p3_message,
        &laptop_message,
        &question,
        &muni_ready,
        &answer,
    ];
    until("the laptop holds the outage's writing", || async {
        list(&lap)
            .await
            .filter(|l| during.iter().all(|e| items(l).contains_key(*e)))
    })
    .await;
    match ask(
        &lap,
        "Anna Admin",
        Request::OutageEnd {
            note: "LINK uppe".into(),
        },
    )
    .await
    {
        Ok(Reply::Outage(v)) => assert_eq!(v.state, "avslutad"),
        other => panic!("{other:?}"),
    }
    for (name, node) in [("box", &boxn), ("municipality", &kommun)] {
        until(&format!("the end reaches the {name}"), || async {
            (state(node).await == "avslutad").then_some(())
        })
        .await;
    }
    // No new document anywhere …
    for (name, node, to) in [("box", &boxn, &muni), ("municipality", &kommun, &ward)] {
        let e = ask(
            node,
            "Sara Sjöberg",
            sending(Some(P2), to, message("Ny", "x")),
        )
        .await
        .expect_err("no new document after the end");
        assert!(e.to_string().contains("avslutad"), "{name}: {e}");
    }
    // … but an answer to an outage message, and a receipt.
    let late_answer = sent(
        &kommun,
        "Kim Karlsson",
        Request::Send(SendRequest {
            reply_to: Some(laptop_message.clone()),
            ..SendRequest::new(message("Sv: Hemtjänst?", "Ja, från måndag"))
        }),
    )
    .await;
    assert!(matches!(
        ask(
            &kommun,
            "Kim Karlsson",
            Request::Ack {
                event: plan.clone()
            }
        )
        .await,
        Ok(Reply::Acked(_))
    ));

    // 6. Re-entry. The ward's list, the same on both its nodes: every item of the outage
    //    under its patient (the answers under their thread's), none left without one.
    let mut expected: BTreeMap<String, &str> = BTreeMap::new();
    for (e, p) in [
        (&plan, P1),
        (&muni_ready, P1),
        (&p3_message, P3),
        (&laptop_message, P2),
        (&question, P2),
        (&answer, P2),
        (&late_answer, P2),
    ] {
        expected.insert(e.clone(), p);
    }
    let grouped = |l: &ReentryList| -> BTreeMap<String, String> {
        items(l).into_iter().map(|(e, (p, _, _))| (e, p)).collect()
    };
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(e, p)| (e.clone(), p.to_string()))
        .collect();
    for (name, node) in [("box", &boxn), ("laptop", &lap)] {
        let l = until(&format!("the {name}'s list is whole"), || async {
            list(node).await.filter(|l| grouped(l) == want)
        })
        .await;
        assert_eq!(l.outage.reentry.left, expected.len(), "{name}");
        let placed = items(&l);
        assert_eq!(placed[&late_answer].1, "efter slutet");
        assert_eq!(placed[&question].1, "under driftstörningen");
    }
    // The municipality's list: its own and what it received, the snapshot not among them.
    let muni_list = until("the municipality's list is whole", || async {
        list(&kommun).await.filter(|l| grouped(l) == want)
    })
    .await;
    // A mark on the laptop is seen on the box (and not by the municipality).
    match ask(&lap, "Olle Olsson", mark(&laptop_message, "LINK-100")).await {
        Ok(Reply::ReentryMarked(m)) => assert_eq!((m.progress.done, m.progress.left), (1, 6)),
        other => panic!("{other:?}"),
    }
    let seen = until("the box sees the laptop's mark", || async {
        list(&boxn).await.and_then(|l| {
            l.patients
                .iter()
                .flat_map(|g| &g.items)
                .find(|i| i.event == laptop_message && !i.marks.is_empty())
                .cloned()
        })
    })
    .await;
    assert_eq!(seen.marks.len(), 1);
    assert_eq!(seen.marks[0].by, "Olle Olsson");
    assert_eq!(seen.marks[0].detail, "LINK-100");
    // The box marks three more and signs off the rest; the laptop sees the list closed.
    for e in [&plan, &question, &answer] {
        assert!(matches!(
            ask(&boxn, "Sara Sjöberg", mark(e, "LINK-101")).await,
            Ok(Reply::ReentryMarked(_))
        ));
    }
    match ask(
        &boxn,
        "Anna Admin",
        Request::ReentrySignOff {
            outage: None,
            reason: "Registrerat från pappersrutinen".into(),
        },
    )
    .await
    {
        Ok(Reply::ReentrySignedOff(p)) => {
            assert_eq!((p.done, p.left, p.signed_off, p.closed), (4, 3, true, true))
        }
        other => panic!("{other:?}"),
    }
    let closed = until("the laptop sees the sign-off", || async {
        list(&lap).await.filter(|l| l.outage.reentry.closed)
    })
    .await;
    assert_eq!(closed.outage.reentry.done, 4);
    assert_eq!(closed.signoffs.len(), 1);
    assert_eq!(closed.signoffs[0].reason, "Registrerat från pappersrutinen");
    // The municipality carries the ward's marks unread, and closes its own list by marking
    // every item.
    assert!(items(&muni_list).values().all(|(_, _, marks)| *marks == 0));
    for e in expected.keys() {
        assert!(matches!(
            ask(&kommun, "Kim Karlsson", mark(e, "LINK-200")).await,
            Ok(Reply::ReentryMarked(_))
        ));
    }
    let muni_done = list(&kommun).await.expect("the municipality's list");
    assert_eq!(
        (
            muni_done.outage.reentry.done,
            muni_done.outage.reentry.left,
            muni_done.outage.reentry.closed,
            muni_done.outage.reentry.signed_off
        ),
        (expected.len(), 0, true, false)
    );
    assert!(items(&muni_done).values().all(|(_, _, marks)| *marks == 1));

    // 7. Exports at the box. The outage's FHIR Bundle: both validators, the Swedish
    //    rules, every patient, and a Task per item with its state.
    let x = export(&boxn, "fhir", "", true).await;
    assert_eq!(x.events, expected.len());
    let b: Value = serde_json::from_str(&x.content).expect("json");
    assert_valid_fhir("the outage's Bundle", &b);
    let patients = assert_swedish_rules("the outage's Bundle", &b);
    assert_eq!(
        patients,
        [P1, P2, P3]
            .iter()
            .map(|p| digits(p))
            .collect::<BTreeSet<_>>()
    );
    let tasks = resources(&b, "Task");
    assert_eq!(tasks.len(), expected.len(), "a Task per item");
    let task_of = |e: &str| {
        *tasks
            .iter()
            .find(|t| t["identifier"][0]["value"] == e)
            .unwrap_or_else(|| panic!("a Task for {e}"))
    };
    assert_eq!(task_of(&laptop_message)["status"], "completed");
    assert_eq!(
        task_of(&laptop_message)["output"][0]["valueIdentifier"]["value"],
        "LINK-100"
    );
    assert_ne!(
        task_of(&p3_message)["status"],
        "completed",
        "signed off, not entered"
    );
    // One patient's Bundle, the snapshot's chain: the same checks.
    let x = export(&boxn, "fhir", P1, false).await;
    let b: Value = serde_json::from_str(&x.content).expect("json");
    assert_valid_fhir("P1's Bundle", &b);
    assert_eq!(
        assert_swedish_rules("P1's Bundle", &b),
        BTreeSet::from([digits(P1)])
    );
    assert_eq!(resources(&b, "CarePlan").len(), 1, "the SIP");
    // The outage's JSON export follows its schema.
    let x = export(&boxn, "json", "", true).await;
    let doc: Value = serde_json::from_str(&x.content).expect("json");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/export-schema.json");
    let (results, code) = node_script("validate-json.js", &[&schema], &doc);
    assert_eq!(results[0]["valid"], true, "{:#}", results[0]["errors"]);
    assert_eq!(code, Some(0));
    assert_eq!(doc["patients"].as_array().map(Vec::len), Some(3));
    // The printout: a page per patient, each with its id.
    let x = export(&boxn, "html", "", true).await;
    let h = &x.content;
    assert_eq!(h.matches("<section class=\"patient\">").count(), 3);
    for p in [P1, P2, P3] {
        assert!(h.contains(p), "{p} in the printout");
    }

    // 8. The purge (issue 13 §6) goes here: a purge decision for this outage recorded by
    //    the region's admin, taking effect at the ward and the municipality (both closed
    //    above) after its days; then the bodies gone on every node, and a reconciliation
    //    and a bundle import from a node that never purged bringing none back.

    boxn.stop().await;
    lap.stop().await;
    kommun.stop().await;
}
