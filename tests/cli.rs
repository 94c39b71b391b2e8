//! The command line end to end: admin and node setup, status, roster, id check, and that
//! bad input gets one line and a non-zero exit, never a panic.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

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

/// Fails with exit code 2 and exactly one line on stderr naming the problem.
fn fails(args: &[&str], needle: &str) {
    let out = reservnod(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("fel: "), "{err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    cause_said_once(&err);
}

/// `admin unit add` arguments.
fn unit_add<'a>(
    admin_dir: &'a str,
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    municipality: &'a str,
) -> [&'a str; 13] {
    [
        "admin",
        "--admin-dir",
        admin_dir,
        "unit",
        "add",
        "--id",
        id,
        "--name",
        name,
        "--kind",
        kind,
        "--municipality",
        municipality,
    ]
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn node_id_from(init_output: &str) -> String {
    init_output
        .lines()
        .find_map(|l| l.strip_prefix("Nod-id: "))
        .expect("init prints the node id")
        .trim()
        .to_string()
}

#[test]
fn a_region_is_set_up_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let admin = tmp.path().join("admin");
    let a = admin.to_str().expect("utf8 path");
    let node_dir = tmp.path().join("avd12");
    let n = node_dir.to_str().expect("utf8 path");

    ok(&[
        "admin",
        "--admin-dir",
        a,
        "init",
        "--region",
        "Region Blekinge (test)",
    ]);
    assert_eq!(mode(&admin.join("admin.key")), 0o600);
    let out = ok(&unit_add(
        a,
        "SE2321000081-AVD12",
        "Avdelning 12",
        "ward",
        "1080",
    ));
    assert!(out.contains("roster version 2"), "{out}");
    ok(&unit_add(
        a,
        "se2321000081-kom1080",
        "Hemsjukvården Karlskrona",
        "municipal",
        "1080",
    ));
    ok(&[
        "admin",
        "--admin-dir",
        a,
        "route",
        "set",
        "--municipality",
        "1080",
        "--unit",
        "SE2321000081-KOM1080",
    ]);
    let unit_key = admin.join("units/SE2321000081-AVD12.key");
    assert_eq!(mode(&unit_key), 0o600);

    let roster = admin.join("roster.rsv");
    let init = ok(&[
        "node",
        "init",
        "--data-dir",
        n,
        "--unit-key",
        unit_key.to_str().expect("utf8"),
        "--roster",
        roster.to_str().expect("utf8"),
    ]);
    assert!(init.contains("inte i rostern"), "{init}");
    assert_eq!(mode(&node_dir.join("node.key")), 0o600);
    assert_eq!(mode(&node_dir.join("unit.key")), 0o600);
    let node_id = node_id_from(&init);

    ok(&[
        "admin",
        "--admin-dir",
        a,
        "node",
        "add",
        "--node-id",
        &node_id,
        "--unit",
        "SE2321000081-AVD12",
        "--name",
        "Avd 12 expeditionen",
    ]);
    ok(&[
        "node",
        "install-roster",
        "--data-dir",
        n,
        roster.to_str().expect("utf8"),
    ]);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--data-dir", n, "--json"])).expect("json");
    assert_eq!(status["node_id"], node_id.as_str());
    assert_eq!(status["unit"], "SE2321000081-AVD12");
    assert_eq!(status["admitted"], true);
    assert_eq!(status["roster_version"], 5);
    assert_eq!(status["events"], 0);
    assert_eq!(
        status["audit_entries"], 2,
        "node init and roster install are audited"
    );

    // Installing the same roster again is refused (not newer) and changes nothing.
    fails(
        &[
            "node",
            "install-roster",
            "--data-dir",
            n,
            roster.to_str().expect("utf8"),
        ],
        "not newer",
    );

    ok(&[
        "admin",
        "--admin-dir",
        a,
        "node",
        "revoke",
        "--node-id",
        &node_id,
        "--reason",
        "stulen dator",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "--admin-dir",
        a,
        "roster",
        "show",
        "--json",
    ]))
    .expect("json");
    assert_eq!(shown["version"], 6);
    assert_eq!(shown["nodes"][0]["revoked"], true);
    assert_eq!(shown["units"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["routing"][0][1], "SE2321000081-KOM1080");
    let text = ok(&["admin", "--admin-dir", a, "roster", "show"]);
    assert!(text.contains("ÅTERKALLAD"), "{text}");
    ok(&[
        "node",
        "install-roster",
        "--data-dir",
        n,
        roster.to_str().expect("utf8"),
    ]);
    let status = ok(&["status", "--data-dir", n]);
    assert!(status.contains("INTE insläppt"), "{status}");
}

/// No part of an error line is said twice ("cannot read f: No such file: No such file").
fn cause_said_once(err: &str) {
    let line = err.trim_end().trim_start_matches("fel: ");
    let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            p.len() < 4 || !parts[i + 1..].contains(p),
            "'{p}' is said twice in: {err}"
        );
    }
}

#[test]
fn error_lines_say_their_cause_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = |p: &str| tmp.path().join(p).display().to_string();
    // A missing file, a file that is not a roster, a directory that does not exist.
    fails(
        &["admin", "--admin-dir", &t("admin"), "roster", "show"],
        "No such file",
    );
    fails(&["run", "--config", &t("none.toml")], "No such file");
    std::fs::write(tmp.path().join("junk"), b"not a roster").expect("write");
    let a = t("admin");
    ok(&["admin", "--admin-dir", &a, "init", "--region", "Test"]);
    ok(&unit_add(&a, "SE2321000081-A1", "Avd", "ward", "1080"));
    let d = t("node");
    ok(&[
        "node",
        "init",
        "--data-dir",
        &d,
        "--unit-key",
        &format!("{a}/units/SE2321000081-A1.key"),
        "--roster",
        &format!("{a}/roster.rsv"),
    ]);
    fails(
        &["node", "install-roster", "--data-dir", &d, &t("junk")],
        "not a reservnod roster file",
    );
    fails(
        &[
            "bundle",
            "export",
            "--data-dir",
            &d,
            &t("no/such/dir/x.rsvb"),
        ],
        "No such file",
    );
    fails(
        &["bundle", "import", "--data-dir", &d, &t("none.rsvb")],
        "No such file",
    );
}

#[test]
fn bad_input_gets_one_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let admin = tmp.path().join("admin");
    let a = admin.to_str().expect("utf8 path");
    fails(&["admin", "--admin-dir", a, "roster", "show"], "roster.rsv");
    ok(&["admin", "--admin-dir", a, "init", "--region", "Test"]);
    let before = std::fs::read(admin.join("roster.rsv")).expect("roster");
    fails(
        &["admin", "--admin-dir", a, "init", "--region", "Test"],
        "already",
    );
    fails(
        &unit_add(a, "SE2321000081-ÅÄÖ", "x", "ward", "1080"),
        "HSA-id",
    );
    fails(
        &unit_add(a, "SE2321000081-A1", "x", "sjukhus", "1080"),
        "unknown unit kind",
    );
    fails(
        &unit_add(a, "SE2321000081-A1", "x", "ward", "10800"),
        "kommunkod",
    );
    fails(
        &[
            "admin",
            "--admin-dir",
            a,
            "node",
            "add",
            "--node-id",
            "AAAA",
            "--unit",
            "SE2321000081-A1",
            "--name",
            "x",
        ],
        "nod-id",
    );
    fails(
        &[
            "admin",
            "--admin-dir",
            a,
            "route",
            "set",
            "--municipality",
            "1080",
            "--unit",
            "SE2321000081-A1",
        ],
        "unknown unit",
    );
    assert_eq!(
        std::fs::read(admin.join("roster.rsv")).expect("roster"),
        before,
        "failed commands change nothing"
    );

    let data = tmp.path().join("nod");
    fails(
        &["status", "--data-dir", data.to_str().expect("utf8")],
        "node init",
    );
    let garbage = tmp.path().join("garbage.key");
    std::fs::write(&garbage, "hello").expect("write");
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fails(
        &[
            "node",
            "init",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--unit-key",
            garbage.to_str().expect("utf8"),
        ],
        "not a unit key file",
    );
    assert!(
        !data.join("node.key").exists(),
        "a failed init leaves no node key"
    );
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    fails(
        &[
            "node",
            "init",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--unit-key",
            garbage.to_str().expect("utf8"),
        ],
        "chmod 600",
    );
}

#[test]
fn a_second_process_on_the_same_data_directory_is_refused_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let admin = tmp.path().join("admin");
    let a = admin.to_str().expect("utf8");
    ok(&["admin", "--admin-dir", a, "init", "--region", "Test"]);
    ok(&unit_add(a, "SE2321000081-A1", "A1", "ward", "1080"));
    let data = tmp.path().join("nod");
    let d = data.to_str().expect("utf8");
    ok(&[
        "node",
        "init",
        "--data-dir",
        d,
        "--unit-key",
        admin
            .join("units/SE2321000081-A1.key")
            .to_str()
            .expect("utf8"),
    ]);
    let _held = reservnod::store::Store::open(&data.join("store")).expect("hold the store");
    fails(
        &["status", "--data-dir", d],
        &data.join("store").display().to_string(),
    );
}

#[test]
fn id_check_reports_kind_canonical_form_and_what_is_wrong() {
    let out = reservnod(&[
        "id",
        "check",
        "640823-3234",
        "701063-2391",
        "se2321000081-abc1",
        "640823-3235",
    ]);
    assert_eq!(out.status.code(), Some(1), "an invalid id gives exit 1");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "19640823-3234\tpersonnummer\t640823-3234");
    assert!(lines[1].starts_with("19701063-2391\tsamordningsnummer"));
    assert!(lines[2].starts_with("SE2321000081-ABC1\tHSA-id"));
    assert!(lines[3].starts_with("640823-3235\tFEL\t"), "{}", lines[3]);

    let json = ok(&["id", "check", "--json", "19121212-1212"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json line");
    assert_eq!(v["valid"], true);
    assert_eq!(v["kind"], "personnummer");
    assert_eq!(v["canonical"], "19121212-1212");
}

#[test]
fn id_check_reads_a_list_of_100000_from_standard_input() {
    // Generated test numbers (valid Luhn) and one broken one in every hundred.
    let mut input = String::new();
    let mut broken = 0;
    for i in 0..100_000u32 {
        let date = format!("19{:02}{:02}{:02}", 30 + i % 60, 1 + i % 12, 1 + i % 28);
        let nnn = format!("{:03}", 1 + i % 999);
        let nine = format!("{}{}", &date[2..], nnn);
        let sum: u32 = nine
            .bytes()
            .enumerate()
            .map(|(k, b)| {
                let p = u32::from(b - b'0') * if k % 2 == 0 { 2 } else { 1 };
                p / 10 + p % 10
            })
            .sum();
        let mut check = (10 - sum % 10) % 10;
        if i % 100 == 0 {
            check = (check + 1) % 10;
            broken += 1;
        }
        input.push_str(&format!("{date}-{nnn}{check}\n"));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(["id", "check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("join").expect("write stdin");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(text.lines().count(), 100_000);
    assert_eq!(
        text.lines().filter(|l| l.contains("\tFEL\t")).count(),
        broken
    );
}

#[test]
fn every_command_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["admin", "--help"],
        vec!["admin", "unit", "add", "--help"],
        vec!["admin", "node", "revoke", "--help"],
        vec!["node", "init", "--help"],
        vec!["status", "--help"],
        vec!["id", "check", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.len() > 100, "{args:?}: {out}");
    }
    let out = reservnod(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
