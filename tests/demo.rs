//! `reservnod demo` as the README tells a newcomer to use it: start it, use the CLI against
//! its nodes from another process, stop it with Ctrl-C. Then the same data directory answers
//! the CLI with no daemon running.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reservnod");

fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RESERVNOD_AUTHOR", "Kim Karlsson")
        .env_remove("RESERVNOD_DATA_DIR")
        .output()
        .expect("run reservnod")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn data(dir: &Path, node: &str) -> String {
    dir.join(node).display().to_string()
}

#[test]
fn the_demo_runs_a_region_the_cli_can_use_and_stops_on_ctrl_c() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let mut child = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(tmp.path().join("demo.err")).expect("stderr file"))
        .spawn()
        .expect("start the demo");
    // Lines are read on their own thread, so a demo that stalls fails the test, not hangs it.
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    while !printed.contains("Stoppa med Ctrl-C") {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the demo ended or stalled before it was ready ({e}): {printed}");
            }
        }
    }
    let dir = dir.canonicalize().expect("demo dir");
    for want in [
        "avdelning",
        "kommun",
        "vardcentral",
        "19121212-1212",
        "reservnod inbox",
    ] {
        assert!(printed.contains(want), "missing {want}: {printed}");
    }
    // One staff account per unit, the ward's admin and log reviewer and the municipality's
    // admin, each with a password made at start.
    let passwords: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains("inloggning "))
        .filter_map(|l| l.split("lösenord ").nth(1))
        .collect();
    assert_eq!(passwords.len(), 6, "{printed}");
    assert!(passwords.iter().all(|p| p.len() == 19), "{passwords:?}");
    assert_ne!(passwords[0], passwords[1]);
    let users = json(&[
        "user",
        "list",
        "--json",
        "--data-dir",
        &data(&dir, "kommun"),
    ]);
    assert_eq!(users["accounts"][0]["login"], "kim");
    // The municipality's admin is on its own node (to declare an outage at Driftstörning).
    assert_eq!(users["accounts"][1]["login"], "maja", "{users}");
    assert_eq!(users["accounts"][1]["roles"][0], "admin", "{users}");
    assert!(
        printed.contains("kommunadmin  inloggning maja"),
        "{printed}"
    );
    let ack_line = printed
        .lines()
        .find(|l| l.trim_start().starts_with("reservnod ack"))
        .expect("an ack example");
    let ready = ack_line
        .split_whitespace()
        .nth(2)
        .expect("event id")
        .to_string();

    // The municipality's inbox fills as the nodes sync; the ready notice is among it.
    let kommun = data(&dir, "kommun");
    let avdelning = data(&dir, "avdelning");
    poll(
        Duration::from_secs(30),
        "documents reach the municipality",
        || {
            let inbox = json(&["inbox", "--json", "--data-dir", &kommun]);
            let incoming = inbox["incoming"].as_array().expect("incoming").clone();
            (incoming.len() >= 3
                && incoming
                    .iter()
                    .any(|i| i["event"].as_str().is_some_and(|e| e.starts_with(&ready))))
            .then_some(())
        },
    );
    let chain = json(&["chain", "19121212-1212", "--json", "--data-dir", &kommun]);
    assert_eq!(chain["episodes"][0]["state"], "utskrivningsklar");

    // Acknowledge as the README says; the ward sees who read it.
    let out = cli(&["ack", &ready, "--data-dir", &kommun]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Kvitterad av Kim Karlsson"));
    poll(
        Duration::from_secs(30),
        "the ward sees the read receipt",
        || {
            let inbox = json(&["inbox", "--json", "--data-dir", &avdelning]);
            inbox["sent"]
                .as_array()
                .expect("sent")
                .iter()
                .any(|i| {
                    i["event"].as_str().is_some_and(|e| e.starts_with(&ready))
                        && i["recipients"][0]["state"] == "läst"
                        && i["recipients"][0]["read_by"] == "Kim Karlsson"
                })
                .then_some(())
        },
    );

    // The README's urgent message, and a refusal that is one clear line.
    let out = cli(&[
        "send",
        "--data-dir",
        &avdelning,
        "--patient",
        "19121212-1212",
        "--urgent",
        "message",
        "--subject",
        "Larm",
        "--text",
        "Ring avdelningen",
        "--to",
        "SE2120000837-HSV1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "send",
        "--data-dir",
        &avdelning,
        "message",
        "--subject",
        "x",
        "--text",
        "y",
        "--to",
        "SE2120000837-NOPE",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("finns inte i registret") && err.lines().count() == 1,
        "{err}"
    );

    // Ctrl-C stops every node cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().expect("reader");
    let rest: String = lines.try_iter().collect::<Vec<_>>().join("\n");
    assert!(status.success(), "exit {status:?}; {rest}");
    assert!(rest.contains("Stoppad."), "{rest}");

    // With no daemon, the CLI opens the data directory itself: nothing was lost.
    let inbox = json(&["inbox", "--json", "--data-dir", &avdelning]);
    assert!(inbox["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .any(|i| i["title"].as_str().is_some_and(|t| t.contains("Larm"))));
}
