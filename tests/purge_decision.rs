//! A purge decision (gallringsbeslut) recorded from the command line: it goes into the next
//! roster, signed, and is shown; a second decision with the same reference, a unit not in
//! the roster or a horizon in the future is refused with one line and changes nothing.

use std::process::{Command, Output};

fn reservnod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .output()
        .expect("run reservnod")
}

fn ok(args: &[&str]) -> String {
    let out = reservnod(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn fails(args: &[&str], needle: &str) {
    let out = reservnod(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
}

const OUTAGE: &str = "1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn a_purge_decision_goes_into_the_signed_roster() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let admin = tmp.path().join("admin");
    let a = admin.to_str().expect("utf8 path");
    ok(&["admin", "--admin-dir", a, "init", "--region", "Test"]);
    ok(&[
        "admin",
        "--admin-dir",
        a,
        "unit",
        "add",
        "--id",
        "SE2321000081-AVD12",
        "--name",
        "Avdelning 12",
        "--kind",
        "ward",
        "--municipality",
        "1080",
    ]);
    let decide = |reference: &'static str, unit: &'static str| {
        vec![
            "admin",
            "--admin-dir",
            a,
            "purge-decision",
            "--ref",
            reference,
            "--outage",
            OUTAGE,
            "--unit",
            unit,
        ]
    };
    let said = ok(&decide("RS 2026/1234", "SE2321000081-AVD12"));
    assert!(
        said.contains("RS 2026/1234") && said.contains("version 3"),
        "{said}"
    );
    let shown = ok(&["admin", "--admin-dir", a, "roster", "show"]);
    assert!(shown.contains("Gallringsbeslut:"), "{shown}");
    assert!(
        shown.contains(&format!("driftstörning {OUTAGE}")),
        "{shown}"
    );
    let json = ok(&["admin", "--admin-dir", a, "roster", "show", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        json["purge_decisions"][0]["reference"], "RS 2026/1234",
        "{json}"
    );
    assert_eq!(json["purge_decisions"][0]["units"][0], "SE2321000081-AVD12");

    let before = std::fs::read(admin.join("roster.rsv")).expect("roster");
    fails(&decide("RS 2026/1234", "SE2321000081-AVD12"), "already");
    fails(
        &decide("RS 2026/9", "SE2321000081-AVD99"),
        "not in the roster",
    );
    fails(
        &[
            "admin",
            "--admin-dir",
            a,
            "purge-decision",
            "--ref",
            "RS 2026/10",
            "--before",
            "2999-01-01",
            "--unit",
            "SE2321000081-AVD12",
        ],
        "future",
    );
    // Neither an outage nor a horizon: clap's own usage error names what is missing.
    let out = reservnod(&[
        "admin",
        "--admin-dir",
        a,
        "purge-decision",
        "--ref",
        "RS 2026/11",
        "--unit",
        "SE2321000081-AVD12",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--outage"));
    assert_eq!(
        std::fs::read(admin.join("roster.rsv")).expect("roster"),
        before,
        "a refused decision changes nothing"
    );
}
