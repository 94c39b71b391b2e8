//! The access log from the command line: `audit verify` on an intact and on a tampered log,
//! with the node stopped (the CLI opens the data directory itself).

mod support;

use std::process::Output;

use reservnod::files::datadir::DataDir;
use support::region;

fn cli(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .env_remove("RESERVNOD_AUTHOR")
        .env("USER", "it-tekniker")
        .output()
        .expect("run reservnod")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn audit_verify_reports_an_intact_log_and_exits_non_zero_on_a_break() {
    let r = region(1, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let out = cli(&["audit", "verify", "--data-dir", &dir]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("Granskningsloggen är obruten"), "{line}");

    // Someone with the disk changes what an entry says.
    {
        let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
        let first = store
            .audit_entries(0)
            .next()
            .expect("an entry")
            .expect("reads")
            .0;
        assert!(store
            .tamper_audit_for_fault_tests(first, "ingenting hände")
            .expect("tamper"));
    }
    let out = cli(&["audit", "verify", "--data-dir", &dir, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["broken"]["seq"], 0, "{v}");
    let line = v["line"].as_str().expect("a line");
    assert!(
        line.contains("BRUTEN vid post 0") && line.contains("ändrats"),
        "{line}"
    );
    // Each check is itself in the log, by the login that ran it.
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    let checks: Vec<_> = store
        .audit_entries(0)
        .filter_map(Result::ok)
        .filter(|(_, e)| e.action == reservnod::store::AuditAction::LogVerified)
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[1].1.login.as_deref(), Some("it-tekniker"));
}

#[test]
fn audit_search_pages_and_exports_csv_that_swedish_excel_opens() {
    use std::os::unix::fs::PermissionsExt;
    let r = region(1, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    // Two entries to find: each check of the chain is logged.
    for _ in 0..2 {
        assert!(cli(&["audit", "verify", "--data-dir", &dir])
            .status
            .success());
    }
    let out = cli(&[
        "audit",
        "search",
        "--data-dir",
        &dir,
        "--json",
        "--limit",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1), "{v}");
    let next = v["next"].as_str().expect("more than one entry").to_string();
    let out = cli(&["audit", "search", "--data-dir", &dir, "--after", &next]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).starts_with("Granskningsloggen, alla poster"),
        "{}",
        stdout(&out)
    );
    // A wrong date is refused in one line.
    let out = cli(&["audit", "search", "--data-dir", &dir, "--from", "igår"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ÅÅÅÅ-MM-DD"));

    let csv = r.root.path().join("logg.csv");
    let file = csv.to_str().expect("utf8 path");
    let out = cli(&["audit", "search", "--data-dir", &dir, "--csv", file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).expect("the file");
    assert!(text.starts_with("\u{feff}löpnummer;tid;"), "{text}");
    assert!(
        text.lines().count() >= 3,
        "a header and the entries: {text}"
    );
    assert!(text.ends_with("\r\n"));
    let mode = std::fs::metadata(&csv).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "patient data: only the owner reads it");
    // Never over an existing file.
    let out = cli(&["audit", "search", "--data-dir", &dir, "--csv", file]);
    assert_eq!(out.status.code(), Some(2));
    // The searches and the export are in the log.
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    let actions: Vec<_> = store
        .audit_entries(0)
        .filter_map(Result::ok)
        .map(|(_, e)| e.action)
        .collect();
    use reservnod::store::AuditAction::{LogExported, LogViewed};
    assert_eq!(actions.iter().filter(|a| **a == LogViewed).count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == LogExported).count(), 1);
}
