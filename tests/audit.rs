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
