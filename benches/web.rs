//! Web benchmark: a ward node holding many documents, served over HTTP on loopback to
//! logged-in sessions that poll the way the pages' script does. Figures, p50 and p99:
//! Inkorg's lists (`/inkorg/lista`, what the browsers poll), the JSON inbox
//! (`/api/v1/inbox`) and the Patient page (`/patient?id=…`), each unloaded (one request at a
//! time) and under load (every session polling, each waiting the poll interval after its
//! answer, as the script does). Anchor, measured in the same run: the same operation
//! through `care::api::handle` in-process, one at a time, so the ratio is what HTTP, the
//! session checks, rendering and the load add.
//!
//! Run: `cargo bench --bench web` (about 3 minutes). Knobs: RESERVNOD_BENCH_WEB_DOCS
//! (default 20,000 documents), RESERVNOD_BENCH_WEB_SESSIONS (30), RESERVNOD_BENCH_WEB_SECS
//! (25 seconds per loaded phase). The load generator (hyper's HTTP/1.1 client, one
//! keep-alive connection per session) runs in the same process as the node and shares its
//! cores. No mesh and no daemon loops run (the daemon's escalation scan would add its few
//! per cent). Patients are synthetic reservnummer (R:BENCH:n), never real persons.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "support/ward.rs"]
mod ward;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request as HttpRequest, StatusCode};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use reservnod::care::api::{
    handle, Account, Caller, CareNode, Person, Reply, Request, Role, Secret, UserAddRequest, Via,
};
use reservnod::clock::now_ms;
use reservnod::node::{Node, Settings};
use reservnod::serve::web::{self, Accounts, UnitAccounts, Web, WebSettings, POLL_HEADER};
use ward::{Ward, PER_PATIENT};

/// How often the pages' script polls (it waits this long after each answer).
const THINK: Duration = reservnod::limits::WEB_POLL_INTERVAL;
/// The pause between Patient pages opened by the probing session under load.
const PATIENT_THINK: Duration = Duration::from_secs(1);
/// A request not answered in this long counts as failed (and ends its session's loop).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The most requests one session makes in a phase (a bound; time ends it first).
const REQUESTS_MAX: usize = 100_000;
/// Requests one at a time for the unloaded figures and the anchor.
const INBOX_ROUNDS: usize = 6;
const PATIENT_ROUNDS: usize = 200;
const PASSWORD: &str = "en lång fras för benchmarken";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies of one measure, in seconds.
#[derive(Default)]
struct Samples {
    secs: Vec<f64>,
    bytes: usize,
    failed: usize,
}

impl Samples {
    fn add(&mut self, other: Samples) {
        self.secs.extend(other.secs);
        self.bytes = self.bytes.max(other.bytes);
        self.failed += other.failed;
    }

    /// The `p` quantile (nearest rank), in ms.
    fn ms(&self, p: f64) -> f64 {
        let mut s = self.secs.clone();
        s.sort_by(f64::total_cmp);
        if s.is_empty() {
            return f64::NAN;
        }
        let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s[rank - 1] * 1000.0
    }

    fn p50_p99(&self) -> String {
        format!("{:.1} / {:.1} ms", self.ms(0.50), self.ms(0.99))
    }
}

/// This process's CPU time so far (user + system), from /proc (0 where there is none).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// One session's keep-alive connection.
struct Client {
    send: http1::SendRequest<Body>,
    host: String,
    cookie: String,
}

async fn connect(addr: SocketAddr) -> http1::SendRequest<Body> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (send, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

impl Client {
    async fn new(addr: SocketAddr, cookie: String) -> Client {
        Client {
            send: connect(addr).await,
            host: addr.to_string(),
            cookie,
        }
    }

    /// GET `path` as the session; the status and the body.
    async fn get(&mut self, path: &str, poll: bool) -> Result<(StatusCode, Vec<u8>), String> {
        self.send.ready().await.map_err(|e| e.to_string())?;
        let mut b = HttpRequest::get(path)
            .header(header::HOST, &self.host)
            .header(header::COOKIE, &self.cookie);
        if poll {
            b = b.header(POLL_HEADER, "1");
        }
        let r = self
            .send
            .send_request(b.body(Body::empty()).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = axum::body::to_bytes(Body::new(r.into_body()), 256 << 20)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, body.to_vec()))
    }

    /// One timed GET that must answer 200.
    async fn timed(&mut self, path: &str, poll: bool, into: &mut Samples) -> bool {
        let t = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, self.get(path, poll)).await {
            Ok(Ok((StatusCode::OK, body))) => {
                into.secs.push(t.elapsed().as_secs_f64());
                into.bytes = into.bytes.max(body.len());
                true
            }
            Ok(Ok((status, _))) => {
                eprintln!("{path}: {status}");
                into.failed += 1;
                false
            }
            Ok(Err(e)) => {
                eprintln!("{path}: {e}");
                into.failed += 1;
                false
            }
            Err(_) => {
                into.failed += 1;
                false
            }
        }
    }
}

/// Logs `login` in over HTTP; the session cookie (`name=value`).
async fn log_in(addr: SocketAddr, login: &str) -> String {
    let mut send = connect(addr).await;
    let body =
        serde_urlencoded::to_string([("username", login), ("password", PASSWORD)]).expect("form");
    let r = send
        .send_request(
            HttpRequest::post("/logga-in")
                .header(header::HOST, addr.to_string())
                .header(header::ORIGIN, format!("http://{addr}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {login}");
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(web::SESSION_COOKIE))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// Which page a session asks for on its `k`-th request.
type Path = fn(usize, usize) -> String;

fn lists(_: usize, _: usize) -> String {
    "/inkorg/lista".into()
}

fn api_inbox(_: usize, _: usize) -> String {
    "/api/v1/inbox".into()
}

/// Patients in turn, spread over all of them.
fn patient_page(session: usize, k: usize) -> String {
    format!(
        "/patient?id={}",
        Ward::patient((session * 7919 + k * 104_729) % PATIENTS.load())
    )
}

/// The number of synthetic patients (set once in `main`).
static PATIENTS: Patients = Patients(std::sync::atomic::AtomicUsize::new(1));
struct Patients(std::sync::atomic::AtomicUsize);
impl Patients {
    fn load(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed).max(1)
    }
}

/// Session `session` asks for `path` until `until`, waiting `think` after each answer; the
/// first request after `delay` (sessions opened at different times).
async fn session_loop(
    mut c: Client,
    session: usize,
    path: Path,
    poll: bool,
    delay: Duration,
    think: Duration,
    until: Instant,
) -> Samples {
    let mut s = Samples::default();
    tokio::time::sleep(delay).await;
    for k in 0..REQUESTS_MAX {
        if Instant::now() >= until || !c.timed(&path(session, k), poll, &mut s).await {
            break;
        }
        tokio::time::sleep(think).await;
    }
    s
}

struct Phase {
    polled: Samples,
    probe: Samples,
    wall: f64,
    cpu: f64,
    load: (String, String),
}

/// Every session polls `path` for `secs`; the probe (when given) opens Patient pages
/// beside them as one more tab of the first session.
async fn loaded(addr: SocketAddr, cookies: &[String], path: Path, secs: u64, probe: bool) -> Phase {
    let load_before = loadavg();
    let (t, cpu) = (Instant::now(), cpu_secs());
    let until = t + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    let n = cookies.len().max(1) as u32;
    for (i, cookie) in cookies.iter().enumerate() {
        let c = Client::new(addr, cookie.clone()).await;
        let delay = THINK * i as u32 / n;
        tasks.spawn(async move {
            (
                false,
                session_loop(c, i, path, true, delay, THINK, until).await,
            )
        });
    }
    if probe {
        let c = Client::new(addr, cookies[0].clone()).await;
        tasks.spawn(async move {
            (
                true,
                session_loop(c, 0, patient_page, false, THINK / 2, PATIENT_THINK, until).await,
            )
        });
    }
    let (mut polled, mut probed) = (Samples::default(), Samples::default());
    while let Some(r) = tasks.join_next().await {
        let (is_probe, s) = r.expect("session task");
        if is_probe {
            probed.add(s);
        } else {
            polled.add(s);
        }
    }
    Phase {
        polled,
        probe: probed,
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_secs() - cpu,
        load: (load_before, loadavg()),
    }
}

fn anchor(
    node: &Node,
    caller: &Caller,
    request: impl Fn(usize) -> Request,
    rounds: usize,
) -> Samples {
    let mut s = Samples::default();
    for k in 0..rounds {
        let t = Instant::now();
        let reply = handle(node, caller, request(k)).expect("in-process");
        s.secs.push(t.elapsed().as_secs_f64());
        assert!(matches!(reply, Reply::Inbox(_) | Reply::Chain(_)));
    }
    s
}

fn main() {
    let n = env("RESERVNOD_BENCH_WEB_DOCS", 20_000) as usize;
    let sessions = env("RESERVNOD_BENCH_WEB_SESSIONS", 30).max(1) as usize;
    let secs = env("RESERVNOD_BENCH_WEB_SECS", 25);
    PATIENTS.0.store(
        n.div_ceil(PER_PATIENT),
        std::sync::atomic::Ordering::Relaxed,
    );
    println!("reservnod web benchmark — a ward node with {n} sent documents ({PER_PATIENT} per patient, each with a Delivered receipt), {sessions} logged-in sessions polling every {} s on loopback", THINK.as_secs());
    println!("machine: {}", support::machine());
    println!("release build: {}", !cfg!(debug_assertions));
    println!("load average at start: {}", loadavg());

    let w = ward::ward_with_sent_documents(n, "web-bench");
    // The data directory becomes the roster's ward node, the one that wrote the documents,
    // so that it may write the accounts below: its key in place of the one init made.
    std::fs::write(w.dd.root().join("node.key"), w.region.ward.1.to_file_text()).expect("node key");
    let t = Instant::now();
    let (node, _gone) = Node::open(w.dd.clone(), Settings::default()).expect("open node");
    let node = Arc::new(node);
    println!("setup: view built in {:.1} s", t.elapsed().as_secs_f64());

    // The unit's staff: real accounts (argon2 hashes), made by IT at the node.
    let it = Caller::local(
        Person {
            name: "IT-avdelningen".into(),
            role: String::new(),
            login: Some("it".into()),
        },
        Via::Cli,
    );
    let t = Instant::now();
    let logins: Vec<String> = (0..sessions).map(|i| format!("personal{i}")).collect();
    for login in &logins {
        handle(
            node.as_ref(),
            &it,
            Request::UserAdd(UserAddRequest {
                login: login.clone(),
                name: format!("Sara {login}"),
                title: "sjuksköterska".into(),
                roles: vec!["personal".into()],
                password: Some(Secret::new(PASSWORD)),
            }),
        )
        .expect("user add");
    }
    println!(
        "setup: {sessions} accounts made in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The anchor: the same operations in-process, one at a time, as the first account.
    let caller = Caller::account(
        Account {
            login: logins[0].clone(),
            name: format!("Sara {}", logins[0]),
            title: "sjuksköterska".into(),
            unit: w.unit().unit().clone(),
            roles: vec![Role::Staff],
        },
        Some("127.0.0.1".into()),
        Via::Web,
    );
    let anchor_inbox = anchor(&node, &caller, |_| Request::Inbox {}, INBOX_ROUNDS);
    let anchor_chain = anchor(
        &node,
        &caller,
        |k| Request::Chain {
            patient: Ward::patient((k * 104_729) % PATIENTS.load()),
        },
        PATIENT_ROUNDS,
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accounts: Arc<dyn Accounts> =
            Arc::new(UnitAccounts(node.clone() as Arc<dyn CareNode>));
        let app = web::router(Web::new(
            node.clone() as Arc<dyn CareNode>,
            accounts,
            WebSettings {
                listen: addr,
                names: vec![],
                tls: false,
                idle_timeout: Duration::from_secs(20 * 60),
            },
            Arc::new(now_ms),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(web::tls::serve(listener, None, app, async move {
            let _ = stopped.await;
        }));

        let t = Instant::now();
        let mut cookies = Vec::new();
        for login in &logins {
            cookies.push(log_in(addr, login).await);
        }
        println!(
            "setup: {sessions} sessions logged in over HTTP in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        // Unloaded: one request at a time over HTTP, the first session.
        let mut c = Client::new(addr, cookies[0].clone()).await;
        let (status, body) = c.get("/api/v1/inbox", true).await.expect("inbox");
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json["sent"].as_array().map(Vec::len),
            Some(n),
            "the API's inbox lists every sent document"
        );
        let mut idle_lists = Samples::default();
        let mut idle_api = Samples::default();
        let mut idle_patient = Samples::default();
        for _ in 0..INBOX_ROUNDS {
            assert!(c.timed("/inkorg/lista", true, &mut idle_lists).await);
        }
        for _ in 0..INBOX_ROUNDS {
            assert!(c.timed("/api/v1/inbox", true, &mut idle_api).await);
        }
        for k in 0..PATIENT_ROUNDS {
            assert!(c.timed(&patient_page(0, k), false, &mut idle_patient).await);
        }
        drop(c);

        let phase_lists = loaded(addr, &cookies, lists, secs, true).await;
        let phase_api = loaded(addr, &cookies, api_inbox, secs, false).await;
        let _ = stop.send(());
        let _ = server.await;

        println!();
        println!("| measure | anchor: care::api::handle in-process, p50 / p99 | over HTTP, one at a time, p50 / p99 | under load, p50 / p99 (requests) | ratio (p50 under load / anchor p50) |");
        println!("|---|---|---|---|---|");
        let row = |name: &str, a: &Samples, idle: &Samples, load: &Samples| {
            println!(
                "| {name} ({} KiB) | {} | {} | {} ({}{}) | {:.1} |",
                idle.bytes.max(load.bytes) / 1024,
                a.p50_p99(),
                idle.p50_p99(),
                load.p50_p99(),
                load.secs.len(),
                if load.failed > 0 {
                    format!(", {} failed", load.failed)
                } else {
                    String::new()
                },
                load.ms(0.5) / a.ms(0.5)
            );
        };
        row(
            &format!("Inkorg lists `/inkorg/lista`, {sessions} sessions polling them"),
            &anchor_inbox,
            &idle_lists,
            &phase_lists.polled,
        );
        row(
            "Patient page `/patient?id=`, one session opening one a second while the lists are polled",
            &anchor_chain,
            &idle_patient,
            &phase_lists.probe,
        );
        row(
            &format!("JSON inbox `/api/v1/inbox`, {sessions} sessions polling it"),
            &anchor_inbox,
            &idle_api,
            &phase_api.polled,
        );
        println!();
        for (name, p) in [("lists", &phase_lists), ("api", &phase_api)] {
            let served = p.polled.secs.len() + p.probe.secs.len();
            println!(
                "[{name} phase] {:.1} s, {served} requests answered ({:.2}/s; the sessions ask for at most {:.1}/s), process CPU {:.1} s ({:.2} cores), load average {} → {}",
                p.wall,
                served as f64 / p.wall,
                sessions as f64 / THINK.as_secs_f64(),
                p.cpu,
                p.cpu / p.wall,
                p.load.0,
                p.load.1
            );
        }
    });
}
