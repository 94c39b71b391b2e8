//! `reservnod export` from the command line, with the node stopped (the CLI opens the data
//! directory itself): a new file only its owner can read, holding the format asked for;
//! never over an existing file; a refusal leaves no file; each export in the access log.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use reservnod::files::datadir::DataDir;
use reservnod::store::AuditAction;
use support::region;

fn cli(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .env_remove("RESERVNOD_AUTHOR")
        .env("USER", "sara")
        .output()
        .expect("run reservnod")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn export_writes_a_new_private_file_in_the_format_asked_and_logs_it() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let to = r.nodes[1].unit.to_string();
    ok(&cli(&[
        "send",
        "--data-dir",
        &dir,
        "--author",
        "Sara Sjöberg",
        "--role",
        "sjuksköterska",
        "--patient",
        "19121212-1212",
        "--to",
        &to,
        "message",
        "--subject",
        "Hemtjänst?",
        "--text",
        "Finns hemtjänst från måndag?",
    ]));
    let out_dir = r.root.path();
    for (format, check) in [
        ("fhir", "\"resourceType\": \"Bundle\""),
        ("json", "\"schema\": \"reservnod-export\""),
        ("html", "<html lang=\"sv\">"),
    ] {
        let path = out_dir.join(format!("export.{format}"));
        let file = path.to_str().expect("utf8");
        let o = cli(&[
            "export",
            "--data-dir",
            &dir,
            "--patient",
            "191212121212",
            "--format",
            format,
            "--out",
            file,
            "--author",
            "Sara Sjöberg",
        ]);
        ok(&o);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(
            said.contains("1 händelser") && said.contains(file),
            "{said}"
        );
        let text = std::fs::read_to_string(&path).expect("written");
        assert!(text.contains(check), "{format}");
        assert!(text.contains("Finns hemtjänst från måndag?"), "{format}");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{format}");
        // Never over an existing file, and nothing exported then.
        let o = cli(&[
            "export",
            "--data-dir",
            &dir,
            "--patient",
            "191212121212",
            "--format",
            format,
            "--out",
            file,
        ]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("kunde inte skapa"));
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), text);
    }
    // A refusal (an unknown format, a patient with nothing here) leaves no file.
    for (format, patient, why) in [
        ("pdf", "191212121212", "exportens format"),
        ("json", "19821105-9954", "inget om"),
    ] {
        let path = out_dir.join("refused.out");
        let o = cli(&[
            "export",
            "--data-dir",
            &dir,
            "--patient",
            patient,
            "--format",
            format,
            "--out",
            path.to_str().expect("utf8"),
        ]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("fel: ") && err.contains(why), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!path.exists(), "{format} {patient}");
    }
    // Three exports in the access log, each naming the patient and who made it.
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    let exports: Vec<_> = store
        .audit_entries(0)
        .filter_map(Result::ok)
        .map(|(_, e)| e)
        .filter(|e| e.action == AuditAction::Export)
        .collect();
    assert_eq!(exports.len(), 3, "{exports:?}");
    for e in &exports {
        assert_eq!(e.login.as_deref(), Some("sara"));
        assert_eq!(e.name.as_deref(), Some("Sara Sjöberg"));
        assert_eq!(e.patients.len(), 1);
        assert_eq!(e.patients[0].canonical(), "19121212-1212");
    }
}

/// `reservnod export --outage`: every item of the unit's re-entry list, both patients, in
/// a new private file per format, each logged once naming both; with `--patient` too, or
/// where no outage is declared, refused with no file left.
#[test]
fn export_of_an_outage_holds_every_patient_and_marks_and_is_logged_naming_them() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let other_dir = r.nodes[1].dir.to_str().expect("utf8 path").to_string();
    let to = r.nodes[1].unit.to_string();
    ok(&cli(&[
        "outage",
        "declare",
        "--data-dir",
        &dir,
        "--author",
        "Anna Admin",
        "--reason",
        "LINK nere",
    ]));
    let mut events = Vec::new();
    for (patient, subject) in [
        ("19121212-1212", "Hemtjänst?"),
        ("19821105-9954", "Recept?"),
    ] {
        let o = cli(&[
            "send",
            "--data-dir",
            &dir,
            "--author",
            "Sara Sjöberg",
            "--patient",
            patient,
            "--to",
            &to,
            "--json",
            "message",
            "--subject",
            subject,
            "--text",
            "Svar före fredag",
        ]);
        ok(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        events.push(v["event"].as_str().expect("event").to_string());
    }
    ok(&cli(&[
        "reentry",
        "mark",
        "--data-dir",
        &dir,
        "--author",
        "Sara Sjöberg",
        &events[0][..12],
        "inregistrerat",
        "--link-ref",
        "LINK-4711",
    ]));
    let out_dir = r.root.path();
    for (format, checks) in [
        (
            "fhir",
            [
                "\"resourceType\": \"Task\"",
                "\"LINK-4711\"",
                "198211059954",
            ],
        ),
        (
            "json",
            ["\"kind\": \"outage\"", "\"LINK-4711\"", "19821105-9954"],
        ),
        ("html", ["Efterregistrering", "LINK-4711", "19821105-9954"]),
    ] {
        let path = out_dir.join(format!("outage.{format}"));
        let file = path.to_str().expect("utf8");
        let o = cli(&[
            "export",
            "--data-dir",
            &dir,
            "--outage",
            "--format",
            format,
            "--out",
            file,
        ]);
        ok(&o);
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(
            said.contains("2 händelser") && said.contains("19121212-1212, 19821105-9954"),
            "{said}"
        );
        let text = std::fs::read_to_string(&path).expect("written");
        for c in checks {
            assert!(text.contains(c), "{format}: {c}");
        }
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{format}");
    }
    // Refused: both selectors (clap), an outage id that is none here, a node with no outage.
    for (d, args, why) in [
        (
            &dir,
            vec!["--outage", "--patient", "191212121212"],
            "cannot be used with",
        ),
        (
            &dir,
            vec!["--outage", "abcdef01"],
            "ingen driftstörning här",
        ),
        (
            &other_dir,
            vec!["--outage"],
            "ingen driftstörning är utlyst",
        ),
    ] {
        let path = out_dir.join("refused.out");
        let mut a = vec!["export", "--data-dir", d.as_str(), "--format", "fhir"];
        a.extend(args.iter().copied());
        a.extend(["--out", path.to_str().expect("utf8")]);
        let o = cli(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{err}");
        assert!(!path.exists(), "{args:?}");
    }
    // Three exports in the access log, each naming both patients.
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    let exports: Vec<_> = store
        .audit_entries(0)
        .filter_map(Result::ok)
        .map(|(_, e)| e)
        .filter(|e| e.action == AuditAction::Export)
        .collect();
    assert_eq!(exports.len(), 3, "{exports:?}");
    for e in &exports {
        let mut named: Vec<&str> = e.patients.iter().map(|p| p.canonical()).collect();
        named.sort();
        assert_eq!(named, ["19121212-1212", "19821105-9954"]);
    }
}
