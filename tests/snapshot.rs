//! `reservnod snapshot import FILE`, the region's pre-outage snapshot (docs/snapshot.md),
//! from the command line with the node stopped: good CSV and JSON files import their
//! chains (state, steps and the payment clock as the primary system had them), each bad
//! row is reported with its line and field and nothing is imported, `--skip-bad-rows`
//! imports the rest, the same file twice changes nothing, and the Patient page and the
//! inbox lists show the chains marked "från ögonblicksbild"; only a unit admin (or IT at
//! the node) may import.

mod support;

use std::process::Output;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, StatusCode};
use reservnod::care::api::{
    handle, Caller, ChainView, Reply, Request, Role, SnapshotImportRequest, Via,
};
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node, Settings};
use reservnod::store::AuditAction;
use support::web::{fixture_in, get, text, TestAccounts};
use support::{region, TestRegion};

const HEADER: &str = "format;taken_at;patient;units;state;admitted;ready;municipality_ready;preliminary_discharge;plan_summary;consent";
const MARK: &str = "från ögonblicksbild (2026-12-01 06:00)";

fn cli(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .env_remove("RESERVNOD_AUTHOR")
        .env("USER", "anna")
        .output()
        .expect("run reservnod")
}

fn import(r: &TestRegion, file: &str, extra: &[&str]) -> (bool, String) {
    let dir = r.nodes[0].dir.to_str().expect("utf8").to_string();
    let mut args = vec![
        "snapshot",
        "import",
        file,
        "--data-dir",
        &dir,
        "--author",
        "Anna Admin",
    ];
    args.extend_from_slice(extra);
    let o = cli(&args);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), said)
}

fn write(r: &TestRegion, name: &str, text: &str) -> String {
    let path = r.root.path().join(name);
    std::fs::write(&path, text).expect("write file");
    path.to_str().expect("utf8").to_string()
}

fn units(r: &TestRegion) -> (String, String, String) {
    (
        r.nodes[0].unit.to_string(),
        r.nodes[1].unit.to_string(),
        r.nodes[2].unit.to_string(),
    )
}

/// Two chains of the ward (node 0) and one that only concerns the other two units.
fn good_csv(r: &TestRegion) -> String {
    let (ward, kommun, vc) = units(r);
    [
        HEADER.to_string(),
        format!("1;2026-12-01 06:00;19121212-1212;{ward} {kommun};utskrivningsklar;2026-11-28 14:30;2026-11-30 10:00;;2026-12-03;\"Hemtjänst 3 ggr/dag; trygghetslarm\";samtycke"),
        format!("1;2026-12-01 06:00;640823-3234;{ward} {vc};inskriven;2026-11-30;;;;;"),
        format!("1;2026-12-01 06:00;701063-2391;{kommun} {vc};inskriven;2026-11-29;;;;;"),
    ]
    .join("\n")
        + "\n"
}

fn node_of(r: &TestRegion) -> Node {
    let dd = DataDir::new(&r.nodes[0].dir);
    let settings = Settings::for_data_dir(&dd).expect("settings");
    Node::open(dd, settings).expect("open node").0
}

fn it() -> Caller {
    Caller::local(
        reservnod::care::api::Person {
            name: "IT".into(),
            role: String::new(),
            login: Some("it".into()),
        },
        Via::Cli,
    )
}

fn chain(node: &Node, patient: &str) -> ChainView {
    match handle(
        node,
        &it(),
        Request::Chain {
            patient: patient.into(),
        },
    ) {
        Ok(Reply::Chain(c)) => c,
        other => panic!("{other:?}"),
    }
}

/// How many events the ward's store holds.
fn stored(r: &TestRegion) -> usize {
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    store.keys(false).expect("keys").len()
}

#[test]
fn a_good_csv_file_imports_the_units_chains_with_their_steps_and_is_logged() {
    let r = region(3, 0);
    let file = write(&r, "aktiva.csv", &good_csv(&r));
    let before = stored(&r);
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains("2 vårdkedjor importerade, 0 fanns redan, 1 gäller andra enheter"),
        "{said}"
    );
    assert_eq!(stored(&r), before + 2);

    let node = node_of(&r);
    let c = chain(&node, "19121212-1212");
    assert_eq!(c.episodes.len(), 1);
    let e = &c.episodes[0];
    assert_eq!(e.state, "utskrivningsklar");
    assert_eq!(e.snapshot.as_deref(), Some(MARK));
    assert_eq!(e.snapshot_plan, "Hemtjänst 3 ggr/dag; trygghetslarm");
    let steps: Vec<(&str, &str)> = e
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.at.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("inskriven", "2026-11-28 14:30"),
            ("utskrivningsklar", "2026-11-30 10:00")
        ]
    );
    // The payment clock runs from the ready notice, as in the primary system (the
    // municipality got the admission notice there).
    assert!(e.payment_from_ms.is_some(), "{}", e.payment);
    // Sealed to the municipality named in the row.
    let doc = &e.documents[0];
    assert_eq!(doc.recipients.len(), 1);
    assert_eq!(doc.recipients[0].unit.id, r.nodes[1].unit.to_string());
    assert!(!doc.receipt_required);
    assert_eq!(doc.author, "Anna Admin");
    assert_eq!(chain(&node, "19640823-3234").episodes[0].state, "inskriven");
    // Not this unit's chain: not imported here.
    assert!(handle(
        &node,
        &it(),
        Request::Chain {
            patient: "701063-2391".into()
        }
    )
    .is_err());
    let imports: Vec<_> = node
        .store()
        .audit_entries(0)
        .map(|e| e.expect("reads").1)
        .filter(|e| e.action == AuditAction::Import)
        .collect();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].login.as_deref(), Some("anna"));
    assert_eq!(imports[0].name.as_deref(), Some("Anna Admin"));
    let named: Vec<&str> = imports[0].patients.iter().map(|p| p.canonical()).collect();
    assert_eq!(named, ["19121212-1212", "19640823-3234"]);
}

#[test]
fn a_good_json_file_imports_the_same_way() {
    let r = region(3, 0);
    let (ward, kommun, _) = units(&r);
    let text = format!(
        r#"{{"format": 1, "taken_at": "2026-12-01 06:00", "chains": [
  {{"patient": "19121212-1212", "units": ["{ward}", "{kommun}"], "state": "kommunklar",
   "admitted": "2026-11-28 14:30", "ready": "2026-11-30 10:00",
   "municipality_ready": "2026-12-01", "preliminary_discharge": null,
   "plan_summary": "Hemtjänst 3 ggr/dag"}}
]}}"#
    );
    let file = write(&r, "aktiva.json", &text);
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    assert!(said.contains("1 vårdkedjor importerade"), "{said}");
    assert!(said.contains("json"), "{said}");
    let node = node_of(&r);
    let e = &chain(&node, "191212121212").episodes[0];
    assert_eq!(e.state, "kommunklar");
    assert_eq!(e.snapshot.as_deref(), Some(MARK));
    assert!(e
        .steps
        .iter()
        .any(|s| s.step == "kommunklar" && s.at == "2026-12-01 00:00"));
}

#[test]
fn bad_rows_are_each_reported_with_line_and_field_and_nothing_is_imported() {
    let r = region(3, 0);
    let (ward, kommun, _) = units(&r);
    let text = [
        HEADER.to_string(),
        format!("1;2026-12-01 06:00;19121212-1212;{ward} {kommun};inskriven;2026-11-28;;;;;"),
        format!("1;2026-12-01 06:00;19121212-1213;{ward} {kommun};inskriven;2026-11-28;;;;;"),
        format!("1;2026-12-01 06:00;640823-3234;{ward} {kommun};utskrivningsklar;2026-11-28;;;;;"),
        format!(
            "1;2026-12-01 06:00;640823-3234;{ward} SE2321000081-NOPE;inskriven;2026-11-28;;;;;"
        ),
        format!(
            "1;2026-12-01 06:00;\"701063-2391\";{ward};inskriven;2026-11-31;;;;\"två\nrader\";"
        ),
        format!("1;2026-12-01 06:00;19121212-1212;{ward};utskriven;2026-11-28;;;;;"),
        "1;för få fält".to_string(),
    ]
    .join("\n");
    let file = write(&r, "fel.csv", &text);
    let before = stored(&r);
    let (ok, said) = import(&r, &file, &[]);
    assert!(!ok, "a bad row fails the command: {said}");
    for expected in [
        "rad 3, fält patient: ogiltigt patient-id '19121212-1213'",
        "rad 4, fält ready: tiden för utskrivningsklar saknas",
        "rad 5, fält units: enheten SE2321000081-NOPE finns inte i regionens register",
        "rad 6, fält admitted: '2026-11-31' är ingen tidpunkt",
        "rad 8, fält state: en utskriven patient har ingen aktiv vårdkedja",
        "rad 9: raden har 2 fält, ska ha 11",
        "Ingenting importerades: 6 felaktiga rader",
    ] {
        assert!(said.contains(expected), "{expected} in:\n{said}");
    }
    // The good row (line 2) was not imported either.
    assert_eq!(stored(&r), before);

    // With --skip-bad-rows the good row is imported and the bad ones still reported.
    let (ok, said) = import(&r, &file, &["--skip-bad-rows"]);
    assert!(!ok, "{said}");
    assert!(said.contains("rad 3, fält patient"), "{said}");
    assert!(
        said.contains("1 vårdkedjor importerade, 0 fanns redan, 0 gäller andra enheter, 6 felaktiga rader hoppades över"),
        "{said}"
    );
    assert_eq!(stored(&r), before + 1);
    let node = node_of(&r);
    assert_eq!(chain(&node, "19121212-1212").episodes[0].state, "inskriven");
}

#[test]
fn a_bad_json_chain_is_reported_on_the_line_it_starts() {
    let r = region(3, 0);
    let (ward, _, _) = units(&r);
    let text = format!(
        "{{\"format\": 1, \"taken_at\": \"2026-12-01 06:00\", \"chains\": [\n  {{\"patient\": \"19121212-1212\", \"units\": [\"{ward}\"], \"state\": \"inskriven\", \"admitted\": \"2026-11-28\"}},\n  {{\"patient\": \"19121212-1212\", \"units\": [\"{ward}\"],\n   \"state\": \"inskriven\", \"admitted\": \"2026-11-28\", \"bed\": \"12\"}}\n]}}"
    );
    let file = write(&r, "fel.json", &text);
    let before = stored(&r);
    let (ok, said) = import(&r, &file, &[]);
    assert!(!ok);
    assert!(said.contains("rad 3, fält bed: okänt fält 'bed'"), "{said}");
    assert_eq!(stored(&r), before);
    // A file that is no snapshot at all is refused as a whole, in one line.
    let file = write(&r, "annat.csv", "namn,adress\nx,y\n");
    let (ok, said) = import(&r, &file, &[]);
    assert!(!ok);
    assert!(
        said.contains("filen är ingen ögonblicksbild (rad 1): första raden ska vara kolumnnamnen"),
        "{said}"
    );
}

#[test]
fn the_same_file_twice_changes_nothing() {
    let r = region(3, 0);
    let file = write(&r, "aktiva.csv", &good_csv(&r));
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    let after_first = stored(&r);
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains("0 vårdkedjor importerade, 2 fanns redan"),
        "{said}"
    );
    assert_eq!(stored(&r), after_first);
    // The same content in the other form is the same chains too.
    let (ward, kommun, vc) = units(&r);
    let json = format!(
        r#"{{"format": 1, "taken_at": "2026-12-01 06:00", "chains": [
  {{"patient": "191212121212", "units": ["{ward}", "{kommun}"], "state": "utskrivningsklar",
   "admitted": "2026-11-28 14:30", "ready": "2026-11-30 10:00", "preliminary_discharge": "2026-12-03",
   "plan_summary": "Hemtjänst 3 ggr/dag; trygghetslarm", "consent": "samtycke"}},
  {{"patient": "640823-3234", "units": ["{ward}", "{vc}"], "state": "inskriven", "admitted": "2026-11-30"}}
]}}"#
    );
    let file = write(&r, "aktiva.json", &json);
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains("0 vårdkedjor importerade, 2 fanns redan"),
        "{said}"
    );
    assert_eq!(stored(&r), after_first);
}

#[test]
fn only_a_unit_admin_or_it_may_import() {
    let r = region(3, 0);
    let node = node_of(&r);
    let own = r.nodes[0].unit.clone();
    let account = |roles: Vec<Role>| {
        Caller::account(
            reservnod::care::api::Account {
                login: "kim".into(),
                name: "Kim Karlsson".into(),
                title: "sjuksköterska".into(),
                unit: own.clone(),
                roles,
            },
            Some("10.0.0.7".into()),
            Via::Web,
        )
    };
    let request = || {
        Request::SnapshotImport(SnapshotImportRequest {
            text: good_csv(&r),
            skip_bad_rows: false,
        })
    };
    let refused = handle(&node, &account(vec![Role::Staff]), request()).expect_err("staff");
    assert!(refused.to_string().contains("administratör"), "{refused}");
    match handle(&node, &account(vec![Role::UnitAdmin]), request()) {
        Ok(Reply::SnapshotImported(x)) => assert_eq!(x.imported, 2),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn imported_chains_are_marked_on_the_patient_page_and_in_the_inbox_lists() {
    let r = region(3, 0);
    let file = write(&r, "aktiva.csv", &good_csv(&r));
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    let f = fixture_in(r, false, |_, own, _| {
        Arc::new(TestAccounts::new(&[(
            "rätt lösen",
            support::web::account("kim", "Kim Karlsson", own),
        )])) as Arc<dyn reservnod::serve::web::Accounts>
    });
    let (cookie, _) = f.login().await;
    let page = f
        .send(
            get("/patient?id=19121212-1212")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = text(page).await;
    assert!(html.contains(MARK), "{html}");
    assert!(
        html.contains("Planering: Hemtjänst 3 ggr/dag; trygghetslarm"),
        "{html}"
    );
    let lists = f
        .send(
            get("/inkorg/lista")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(lists.status(), StatusCode::OK);
    let html = text(lists).await;
    assert!(
        html.contains(&format!("{MARK}: utskrivningsklar"))
            && html.contains(&format!("{MARK}: inskriven")),
        "{html}"
    );
}

/// What ajv (tests/fhir, `npm ci --prefix tests/fhir`) says of `text` against
/// docs/snapshot-schema.json: valid, and the errors.
fn schema_check(text: &str) -> (bool, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/fhir/node_modules/ajv").is_dir(),
        "ajv is not installed: run `npm ci --prefix tests/fhir` (.ci/run does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, text).expect("write");
    let out = std::process::Command::new("node")
        .arg(root.join("tests/fhir/validate-json.js"))
        .arg(root.join("docs/snapshot-schema.json"))
        .arg(&file)
        .output()
        .expect("node runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (
        v["valid"].as_bool().expect("valid"),
        v["errors"].to_string(),
    )
}

/// The documented schema says what the reader reads: a file it imports passes, one with a
/// field it refuses fails.
#[test]
fn the_json_schema_agrees_with_the_reader() {
    let good = r#"{"format": 1, "taken_at": "2026-12-01 06:00", "chains": [
  {"patient": "19121212-1212", "units": ["SE2321000081-U0", "SE2321000081-U1"],
   "state": "kommunklar", "admitted": "2026-11-28 14:30", "ready": "2026-11-30 10:00",
   "municipality_ready": "2026-12-01", "preliminary_discharge": null,
   "plan_summary": "Hemtjänst 3 ggr/dag", "consent": "samtycke"},
  {"patient": "640823-3234", "units": ["SE2321000081-U0", "SE2321000081-U1"],
   "state": "inskriven", "admitted": "2026-11-30"}
]}"#;
    let (valid, errors) = schema_check(good);
    assert!(valid, "{errors}");
    let r = region(2, 0);
    let file = write(&r, "aktiva.json", good);
    let (ok, said) = import(&r, &file, &[]);
    assert!(ok, "{said}");
    assert!(said.contains("2 vårdkedjor importerade"), "{said}");
    for bad in [
        good.replace("\"consent\"", "\"bed\""),
        good.replace("\"format\": 1", "\"format\": 2"),
        good.replace("\"state\": \"inskriven\"", "\"state\": \"utskriven\""),
    ] {
        assert!(!schema_check(&bad).0, "{bad}");
        let file = write(&r, "fel.json", &bad);
        assert!(!import(&r, &file, &[]).0, "{bad}");
    }
    // Valid by the schema, but a chain of this unit alone is shared with nobody.
    let alone = good.replace(
        r#"["SE2321000081-U0", "SE2321000081-U1"],
   "state": "inskriven""#,
        r#"["SE2321000081-U0"], "state": "inskriven""#,
    );
    assert!(schema_check(&alone).0);
    let file = write(&r, "ensam.json", &alone);
    let (ok, said) = import(&r, &file, &[]);
    assert!(!ok);
    assert!(
        said.contains("rad 6, fält units: bara den egna enheten"),
        "{said}"
    );
}

/// An imported chain came from LINK: once an outage is declared, it is not on the re-entry
/// list to be entered into LINK again (nor counted as left to do).
#[test]
fn an_imported_snapshot_is_nothing_to_enter_into_link_again() {
    let r = region(3, 0);
    let node = node_of(&r);
    let admin = Caller::account(
        reservnod::care::api::Account {
            login: "anna".into(),
            name: "Anna Andersson".into(),
            title: "enhetschef".into(),
            unit: r.nodes[0].unit.clone(),
            roles: vec![Role::UnitAdmin],
        },
        Some("10.0.0.7".into()),
        Via::Web,
    );
    let imported = handle(
        &node,
        &admin,
        Request::SnapshotImport(SnapshotImportRequest {
            text: good_csv(&r),
            skip_bad_rows: false,
        }),
    );
    assert!(
        matches!(imported, Ok(Reply::SnapshotImported(ref x)) if x.imported == 2),
        "{imported:?}"
    );
    let declared = handle(
        &node,
        &admin,
        Request::OutageDeclare(reservnod::care::api::OutageDeclareRequest {
            reason: "LINK nere".into(),
            scope: Vec::new(),
        }),
    );
    assert!(declared.is_ok(), "{declared:?}");
    match handle(&node, &admin, Request::Reentry { outage: None }) {
        Ok(Reply::Reentry(l)) => {
            assert!(l.patients.is_empty(), "{:?}", l.patients);
            assert_eq!((l.outage.reentry.done, l.outage.reentry.left), (0, 0));
        }
        other => panic!("{other:?}"),
    }
}

/// A newer snapshot of the same chains (the next night's export) updates the chain that
/// moved on and adds nothing for the one that stood still; the older file imported again
/// adds nothing; and the chain follows the newest snapshot alone, a withdrawn ready notice
/// included.
#[test]
fn a_newer_snapshot_of_a_chain_replaces_the_older_one_and_never_duplicates_it() {
    let r = region(3, 0);
    let (ward, kommun, vc) = units(&r);
    let first = write(&r, "natt1.csv", &good_csv(&r));
    let (ok, said) = import(&r, &first, &[]);
    assert!(ok, "{said}");
    let after_first = stored(&r);
    let next = |taken: &str, state: &str, ready: &str, muni: &str| {
        [
            HEADER.to_string(),
            format!("1;{taken};19121212-1212;{ward} {kommun};{state};2026-11-28 14:30;{ready};{muni};2026-12-03;\"Hemtjänst 3 ggr/dag; trygghetslarm\";samtycke"),
            // Stood still: the same as the night before but for when it was taken.
            format!("1;{taken};640823-3234;{vc} {ward};inskriven;2026-11-30;;;;;"),
        ]
        .join("\n")
            + "\n"
    };
    let second = write(
        &r,
        "natt2.csv",
        &next(
            "2026-12-01 18:00",
            "kommunklar",
            "2026-11-30 10:00",
            "2026-12-01 15:00",
        ),
    );
    let (ok, said) = import(&r, &second, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains(
            "0 vårdkedjor importerade, 1 uppdaterade från en nyare ögonblicksbild, 1 fanns redan"
        ),
        "{said}"
    );
    assert_eq!(stored(&r), after_first + 1, "one update, no duplicate");
    let c = chain(&node_of(&r), "19121212-1212");
    assert_eq!(c.episodes.len(), 1, "still one chain");
    let e = &c.episodes[0];
    assert_eq!(e.state, "kommunklar");
    assert_eq!(
        e.snapshot.as_deref(),
        Some("från ögonblicksbild (2026-12-01 18:00)")
    );
    assert!(e
        .steps
        .iter()
        .any(|s| s.step == "kommunklar" && s.at == "2026-12-01 15:00"));
    // Both files again: nothing new.
    for file in [&second, &first] {
        let (ok, said) = import(&r, file, &[]);
        assert!(ok, "{said}");
        assert!(
            said.contains("0 vårdkedjor importerade, 2 fanns redan"),
            "{said}"
        );
    }
    // One taken between the two that says otherwise: older than what is here, left out.
    let between = write(
        &r,
        "mellan.csv",
        &next(
            "2026-12-01 12:00",
            "kommunklar",
            "2026-11-30 10:00",
            "2026-12-01 11:00",
        ),
    );
    let (ok, said) = import(&r, &between, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains("0 vårdkedjor importerade, 1 äldre än ögonblicksbilden som redan finns (inte importerade), 1 fanns redan"),
        "{said}"
    );
    assert_eq!(stored(&r), after_first + 1);
    assert_eq!(
        chain(&node_of(&r), "19121212-1212").episodes[0]
            .snapshot
            .as_deref(),
        Some("från ögonblicksbild (2026-12-01 18:00)")
    );
    // The third night the primary system had withdrawn the ready notice: only the newest
    // snapshot counts, so the chain is back to admitted and the payment clock stops.
    let third = write(
        &r,
        "natt3.csv",
        &next("2026-12-01 20:00", "inskriven", "", ""),
    );
    let (ok, said) = import(&r, &third, &[]);
    assert!(ok, "{said}");
    assert!(said.contains("1 uppdaterade"), "{said}");
    let e = &chain(&node_of(&r), "19121212-1212").episodes[0];
    assert_eq!(e.state, "inskriven");
    assert!(e.payment_from_ms.is_none(), "{}", e.payment);
    assert_eq!(
        e.snapshot.as_deref(),
        Some("från ögonblicksbild (2026-12-01 20:00)")
    );
}

/// The municipality cannot be ready before the ward judged the patient ready: such a row
/// is refused with its line and field, and nothing is imported.
#[test]
fn municipality_ready_before_ready_is_a_bad_row() {
    let r = region(3, 0);
    let (ward, kommun, _) = units(&r);
    let text = [
        HEADER.to_string(),
        format!("1;2026-12-01 06:00;640823-3234;{ward} {kommun};inskriven;2026-11-30;;;;;"),
        format!("1;2026-12-01 06:00;19121212-1212;{ward} {kommun};kommunklar;2026-11-28 14:30;2026-11-30 10:00;2026-11-29 10:00;;;"),
    ]
    .join("\n");
    let file = write(&r, "ordning.csv", &text);
    let before = stored(&r);
    let (ok, said) = import(&r, &file, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("rad 3, fält municipality_ready: kommunklar 2026-11-29 10:00 är före utskrivningsklar 2026-11-30 10:00"),
        "{said}"
    );
    assert!(
        said.contains("Ingenting importerades: 1 felaktiga rader"),
        "{said}"
    );
    assert_eq!(stored(&r), before);
}
