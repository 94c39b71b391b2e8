//! The staff's screens in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core from tests/browser/ (npm, from the committed lock). This test starts
//! `reservnod demo` (three nodes on 127.0.0.1, each serving its web UI on a loopback port of
//! its own, one staff account per unit) and runs `node --test` on tests/browser/*.test.mjs
//! with the nodes' addresses and passwords in the environment, then on after/*.test.mjs (the
//! outage's end, once the others wrote during it). Any failing scenario fails
//! this test with node's output. Screenshots go to target/browser-artifacts/.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reservnod");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Whole `node --test` run; far above what it takes (about a minute), so a hung browser
/// fails the test instead of holding CI.
const NODE_LIMIT: Duration = Duration::from_secs(600);

fn chromium() -> PathBuf {
    std::env::var_os("RESERVNOD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What the browser tests need from outside cargo, each with what installs it. Missing
/// pieces fail the test with one line: CI must install them, and a silent pass would hide
/// that the browser scenarios never ran.
fn missing() -> Vec<&'static str> {
    let dir = Path::new(ROOT).join("tests/browser");
    let mut out = Vec::new();
    if !chromium().is_file() {
        out.push("chromium (apt-get install chromium)");
    }
    if Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        out.push("node (apt-get install nodejs npm)");
    }
    for module in ["playwright-core", "axe-core"] {
        if !dir
            .join("node_modules")
            .join(module)
            .join("package.json")
            .is_file()
        {
            out.push("tests/browser/node_modules (cd tests/browser && npm ci)");
            break;
        }
    }
    out
}

/// The demo as started: its stdout lines arrive on a channel read on its own thread, so a
/// demo that stalls fails the test instead of hanging it.
struct Demo {
    child: Child,
    lines: Receiver<String>,
    printed: String,
}

impl Demo {
    fn start(dir: &Path, err: &Path) -> Demo {
        let mut child = Command::new(BIN)
            .args(["demo", "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(err).expect("stderr file"))
            .spawn()
            .expect("start the demo");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child,
            lines,
            printed: String::new(),
        };
        while !demo.printed.contains("Stoppa med Ctrl-C") {
            match demo.lines.recv_timeout(Duration::from_secs(90)) {
                Ok(line) => {
                    demo.printed.push_str(&line);
                    demo.printed.push('\n');
                }
                Err(e) => panic!(
                    "the demo ended or stalled before it was ready ({e}): {}{}",
                    demo.printed,
                    std::fs::read_to_string(err).unwrap_or_default()
                ),
            }
        }
        demo
    }

    /// `http://127.0.0.1:PORT` of the node named `name` (the line after the node's line).
    fn url(&self, name: &str) -> String {
        let mut lines = self.printed.lines();
        while let Some(l) = lines.next() {
            if l.trim_start().starts_with(name) && l.contains("nod på") {
                let web = lines.next().unwrap_or_default();
                let url = web
                    .split("webb: ")
                    .nth(1)
                    .unwrap_or_else(|| panic!("no web address for {name}: {}", self.printed));
                return url.trim().trim_end_matches('/').to_string();
            }
        }
        panic!("no node {name} in: {}", self.printed)
    }

    /// (login, password) of the node named `name`'s account.
    fn account(&self, name: &str) -> (String, String) {
        let line = self
            .printed
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("inloggning "))
            .unwrap_or_else(|| panic!("no account for {name}: {}", self.printed));
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string())
                .unwrap_or_else(|| panic!("no {w} in {line}"))
        };
        (after("inloggning"), after("lösenord"))
    }

    /// Ctrl-C, as a person stops it; the demo must stop cleanly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "the demo stopped with {status:?}");
                return;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("the demo did not stop within 30 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // A failed assertion must not leave the nodes running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `node --test` on the `.test.mjs` files in `dir` with `env`; fails with node's
/// output if any scenario fails, none ran, or the run does not end in time.
fn node_tests(dir: &Path, env: &[(String, String)]) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {}/*.test.mjs", dir.display());
    let mut node = Command::new("node");
    // One file at a time: each starts its own Chromium, and the machine has two cores.
    node.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = node.spawn().expect("run node --test");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for node") {
            break Some(s);
        }
        if start.elapsed() > NODE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => {
            // node's own summary; a run that executed nothing must not pass.
            assert!(
                stdout
                    .lines()
                    .any(|l| l.contains("pass ") && !l.contains("pass 0")),
                "node --test ran no test:\n{stdout}\n{stderr}"
            );
            println!("{stdout}");
        }
        Some(s) => panic!("browser tests failed ({s}):\n{stdout}\n{stderr}"),
        None => panic!("browser tests did not end within {NODE_LIMIT:?}:\n{stdout}\n{stderr}"),
    }
}

#[test]
fn the_staff_screens_work_in_a_real_browser() {
    let missing = missing();
    assert!(
        missing.is_empty(),
        "the browser tests need: {} (.ci/run installs them)",
        missing.join(", ")
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let demo_dir = tmp.path().join("demo");
    let demo = Demo::start(&demo_dir, &tmp.path().join("demo.err"));
    let artifacts = Path::new(ROOT).join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let mut env: Vec<(String, String)> = vec![
        (
            "RESERVNOD_CHROMIUM".into(),
            chromium().display().to_string(),
        ),
        (
            "RESERVNOD_ARTIFACTS".into(),
            artifacts.display().to_string(),
        ),
        ("RESERVNOD_BIN".into(), BIN.into()),
        ("RESERVNOD_DEMO_DIR".into(), demo_dir.display().to_string()),
    ];
    for (name, var) in [
        ("avdelning", "WARD"),
        ("kommun", "KOMMUN"),
        ("vardcentral", "VC"),
    ] {
        let (login, password) = demo.account(name);
        env.push((format!("RESERVNOD_{var}_URL"), demo.url(name)));
        env.push((format!("RESERVNOD_{var}_LOGIN"), login));
        env.push((format!("RESERVNOD_{var}_PASSWORD"), password));
    }
    // The ward's unit admin and log reviewer (Konton, Logg), the municipality's admin
    // (Driftstörning).
    for (name, var, node) in [
        ("admin", "WARD_ADMIN", "avdelning"),
        ("granskare", "WARD_REVIEWER", "avdelning"),
        ("kommunadmin", "KOMMUN_ADMIN", "kommun"),
    ] {
        let (login, password) = demo.account(name);
        env.push((format!("RESERVNOD_{var}_URL"), demo.url(node)));
        env.push((format!("RESERVNOD_{var}_LOGIN"), login));
        env.push((format!("RESERVNOD_{var}_PASSWORD"), password));
    }

    // With the demo running: its three nodes connected.
    let browser = Path::new(ROOT).join("tests/browser");
    // Then, the demo still up, after/: the end of the outage the first run declared and
    // wrote during (it ends it, and declares a new one for apart/, which writes).
    let first = std::panic::catch_unwind(|| {
        node_tests(&browser, &env);
        node_tests(&browser.join("after"), &env);
    });
    demo.stop();
    if let Err(e) = first {
        std::panic::resume_unwind(e);
    }
    // The demo stopped: the scenarios in apart/ run the demo's nodes themselves as
    // `reservnod run` processes, with and without their links to each other.
    node_tests(&browser.join("apart"), &env);
}
