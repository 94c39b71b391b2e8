//! `reservnod demo`: a small synthetic region on this machine, so a newcomer sees the whole
//! thing work in one command. Three units, each its own node on loopback (a hospital ward, a
//! municipal home nursing unit and a primary care centre), a generated admin key and roster,
//! and a few documents about Skatteverket's test persons. Everything is the real code path:
//! the same `Config`, daemon, sockets and CLI as in production; only the addresses and the
//! data are made up. Ctrl-C (or SIGTERM) stops it cleanly.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use reservnod_proto::roster::UnitKind;
use reservnod_proto::HsaId;

use crate::care::api::{
    Caller, DocumentForm, Person, PlanPatch, Reply, Request, Secret, SendRequest, UserAddRequest,
    Via,
};
use crate::clock::{format_ms_local, now_ms};
use crate::daemon::NodeHandle;
use crate::files::admin::AdminDir;
use crate::files::config::Config;
use crate::files::datadir::DataDir;

/// The demo's units: directory name, HSA-id, name, kind, municipality.
const UNITS: [(&str, &str, &str, UnitKind, &str); 3] = [
    (
        "avdelning",
        "SE2321000081-AVD12",
        "Avd 12 Medicin, Blekingesjukhuset Karlskrona",
        UnitKind::Ward,
        "1080",
    ),
    (
        "kommun",
        "SE2120000837-HSV1",
        "Karlskrona kommun hemsjukvård",
        UnitKind::Municipal,
        "1080",
    ),
    (
        "vardcentral",
        "SE2321000081-VCLYC",
        "Vårdcentralen Lyckeby",
        UnitKind::PrimaryCare,
        "1080",
    ),
];

/// The demo's staff, one account per unit (in `UNITS` order): login, name, title.
const STAFF: [(&str, &str, &str); 3] = [
    ("sara", "Sara Sjöberg", "sjuksköterska"),
    ("kim", "Kim Karlsson", "sjuksköterska"),
    ("erik", "Erik Ek", "distriktsläkare"),
];

/// The units' office accounts (index into `UNITS`, role, login, name, title, the printed
/// label): the ward's unit admin and log reviewer, who work Konton and Logg in the demo, and
/// the municipality's unit admin, who can declare an outage at Driftstörning.
const OFFICE: [(usize, &str, &str, &str, &str, &str); 3] = [
    (0, "admin", "anna", "Anna Andersson", "enhetschef", "admin"),
    (
        0,
        "logggranskare",
        "lena",
        "Lena Lind",
        "logggranskare",
        "granskare",
    ),
    (
        1,
        "admin",
        "maja",
        "Maja Månsson",
        "enhetschef",
        "kommunadmin",
    ),
];

/// A password for a demo account, made now from the OS RNG and printed, never stored in
/// clear: 16 characters from 32 that cannot be mistaken for one another (80 bits), in four
/// groups (`k7mq-x3pa-…`).
fn demo_password() -> String {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    crate::care::api::password::readable(&bytes)
        .expose()
        .to_string()
}

/// Makes each unit's demo account on its node, then the office accounts on their units'
/// nodes; returns (login, password) per node, then per office account.
async fn make_accounts(
    handles: &[NodeHandle],
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let it = || {
        Caller::local(
            Person {
                login: Some("demo".into()),
                ..Person::default()
            },
            Via::Cli,
        )
    };
    let add = |login: &str, name: &str, title: &str, role: &str, password: &str| {
        Request::UserAdd(UserAddRequest {
            login: login.into(),
            name: name.into(),
            title: title.into(),
            roles: vec![role.into()],
            password: Some(Secret::new(password)),
        })
    };
    let mut staff = Vec::new();
    for (h, (login, name, title)) in handles.iter().zip(STAFF) {
        let password = demo_password();
        h.ask(it(), add(login, name, title, "personal", &password))
            .await
            .map_err(|e| anyhow!("demokontot {login}: {e}"))?;
        staff.push((login.to_string(), password));
    }
    let mut office = Vec::new();
    for (unit, role, login, name, title, _) in OFFICE {
        let password = demo_password();
        handles[unit]
            .ask(it(), add(login, name, title, role, &password))
            .await
            .map_err(|e| anyhow!("demokontot {login}: {e}"))?;
        office.push((login.to_string(), password));
    }
    Ok((staff, office))
}

/// Skatteverket's test personnummer (and a test samordningsnummer from the shared fixtures):
/// never a real person.
pub const TEST_PATIENTS: [&str; 3] = ["19121212-1212", "19821105-9954", "19570574-9959"];

/// Minutes an urgent message may stay unread in the demo before it is escalated (short, so
/// it can be seen happen).
pub const DEMO_URGENT_MINUTES: u32 = 2;

struct DemoNode {
    name: &'static str,
    unit: HsaId,
    unit_name: &'static str,
    config_path: PathBuf,
    data_dir: PathBuf,
    listen: SocketAddr,
    socket: UdpSocket,
}

fn demo_dir(dir: Option<PathBuf>) -> Result<(PathBuf, bool)> {
    let (dir, temporary) = match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("reservnod-demo-{}", std::process::id())),
            true,
        ),
    };
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("kunde inte läsa {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "katalogen {} finns redan och är inte tom: välj en ny med --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("kunde inte skapa {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("kunde inte läsa {}", dir.display()))?;
    Ok((dir, temporary))
}

/// Makes the admin key, the roster, the three nodes and their configurations.
fn set_up(dir: &Path) -> Result<Vec<DemoNode>> {
    let now = now_ms();
    let mut admin = AdminDir::new(dir.join("admin"))
        .init("Övningsregion Blekinge", now)
        .context("adminkatalogen")?;
    let mut nodes = Vec::new();
    for (name, id, unit_name, kind, municipality) in UNITS {
        let unit: HsaId = id.parse().map_err(|e| anyhow!("{id}: {e}"))?;
        let key_path = admin
            .add_unit(
                unit.clone(),
                unit_name,
                kind,
                municipality.parse().map_err(|e| anyhow!("{e}"))?,
                now,
            )
            .context("enhet")?;
        let unit_key = std::fs::read_to_string(&key_path).context("enhetens nyckelfil")?;
        let data_dir = dir.join(name);
        let init = DataDir::new(&data_dir)
            .init(&unit_key, Some(&admin.signed()?))
            .context("nod")?;
        admin
            .add_node(init.node.id(), unit.clone(), &format!("Demo {name}"), now)
            .context("nod")?;
        let socket = UdpSocket::bind(("127.0.0.1", 0)).context("kunde inte lyssna på 127.0.0.1")?;
        let listen = socket.local_addr()?;
        nodes.push(DemoNode {
            name,
            unit,
            unit_name,
            config_path: dir.join(format!("{name}.toml")),
            data_dir,
            listen,
            socket,
        });
    }
    admin.set_route(
        "1080".parse().map_err(|e| anyhow!("{e}"))?,
        nodes[1].unit.clone(),
        now,
    )?;
    admin.set_phrase(
        "recept",
        "Receptförnyelse",
        "Vi ber om förnyelse av recept enligt läkemedelslistan.",
        now,
    )?;
    admin.set_phrase(
        "hembesok",
        "Hembesök",
        "Vi ber om ett hembesök av distriktssköterska inom en vecka.",
        now,
    )?;
    admin.set_escalation(DEMO_URGENT_MINUTES, 60, now)?;
    let signed = admin.signed()?;
    let alarm_log = dir.join("larm.log");
    for (i, n) in nodes.iter().enumerate() {
        DataDir::new(&n.data_dir)
            .install_roster(&signed)
            .context("roster")?;
        let peers: Vec<String> = nodes
            .iter()
            .filter(|o| o.name != n.name)
            .map(|o| format!("\"{}\"", o.listen))
            .collect();
        // The escalation command: a line in larm.log, with no patient data (none is given).
        let hook = format!(
            "echo \"$(date '+%F %T') {}: oläst hos $RESERVNOD_ESCALATION_UNIT_NAME, händelse $RESERVNOD_ESCALATION_EVENT\" >> '{}'",
            n.name,
            alarm_log.display()
        );
        // The web interface on a loopback address and port of its own, chosen once, so a
        // restarted demo keeps its addresses. Each node on its own address (127.0.0.1, .2,
        // .3): a browser keeps cookies per host, not per port, so with one address logging
        // in at the municipality's tab would end the ward tab's session.
        let web_ip = std::net::Ipv4Addr::new(127, 0, 0, 1 + i as u8);
        let web_port = std::net::TcpListener::bind((web_ip, 0))
            .and_then(|l| l.local_addr())
            .context("a free loopback port for the web interface")?
            .port();
        let config = format!(
            "# reservnod demo: {unit_name}\n\
             data_dir = \"{name}\"\n\
             listen = \"{listen}\"\n\
             static_peers = [{peers}]\n\
             discovery = false\n\
             log = \"warn\"\n\
             payment_days = 3\n\
             escalation_command = [\"/bin/sh\", \"-c\", {hook:?}]\n\
             \n\
             [http]\n\
             listen = \"{web_ip}:{web_port}\"\n",
            unit_name = n.unit_name,
            name = n.name,
            listen = n.listen,
            peers = peers.join(", "),
        );
        std::fs::write(&n.config_path, config)
            .with_context(|| format!("kunde inte skriva {}", n.config_path.display()))?;
    }
    Ok(nodes)
}

async fn send(
    node: &NodeHandle,
    person: &Person,
    patient: Option<&str>,
    to: &[&HsaId],
    urgent: bool,
    document: DocumentForm,
) -> Result<String> {
    let reply = node
        .ask(
            Caller::local(person.clone(), Via::Cli),
            Request::Send(SendRequest {
                patient: patient.map(str::to_string),
                to: to.iter().map(|u| u.to_string()).collect(),
                urgent,
                ..SendRequest::new(document)
            }),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    match reply {
        Reply::Sent(s) => Ok(s.event),
        _ => bail!("unexpected reply"),
    }
}

/// The demo's documents; returns the event id of the ready-for-discharge notice.
async fn seed(ward: &NodeHandle, primary: &NodeHandle, units: &[HsaId]) -> Result<String> {
    let now = now_ms();
    let hour = 3_600_000;
    let nurse = Person {
        name: "Sara Sjöberg".into(),
        role: "sjuksköterska".into(),
        login: Some("demo".into()),
    };
    // Tolvan: admitted two days ago, ready for discharge today, with a discharge plan.
    let local = |ms: u64| Some(format_ms_local(ms));
    send(
        ward,
        &nurse,
        Some(TEST_PATIENTS[0]),
        &[],
        false,
        DocumentForm::Admission {
            reason: "Fall i hemmet, höftfraktur opererad".into(),
            municipality: Some("1080".into()),
            needs: Some("both".into()),
            services: vec!["home-care".into()],
            preliminary_discharge: None,
            at: local(now - 48 * hour),
        },
    )
    .await?;
    let ready = send(
        ward,
        &nurse,
        Some(TEST_PATIENTS[0]),
        &[],
        false,
        DocumentForm::Ready {
            physician: "Dr Lena Berg".into(),
            at: local(now - hour),
        },
    )
    .await?;
    send(
        ward,
        &nurse,
        Some(TEST_PATIENTS[0]),
        &[&units[1], &units[2]],
        false,
        DocumentForm::Plan {
            kind: Some("discharge".into()),
            content: PlanPatch {
                goals: Some("Åter till eget boende med utökad hemtjänst".into()),
                measures: Some(vec![
                    "Hemtjänst morgon och kväll, tillsyn natt; Karlskrona kommun".into(),
                    "Läkemedelsgenomgång; Vårdcentralen Lyckeby".into(),
                ]),
                follow_up: None,
                participants: Some(vec!["Sara Sjöberg".into(), "Patienten".into()]),
                patient_view: Some("Vill hem så snart som möjligt.".into()),
            },
        },
    )
    .await?;
    // Patient 2: admitted yesterday, no step yet.
    send(
        ward,
        &nurse,
        Some(TEST_PATIENTS[1]),
        &[],
        false,
        DocumentForm::Admission {
            reason: "Pneumoni".into(),
            municipality: Some("1080".into()),
            needs: Some("municipality".into()),
            services: vec![],
            preliminary_discharge: None,
            at: local(now - 24 * hour),
        },
    )
    .await?;
    // Primary care asks the ward about a patient with a samordningsnummer.
    let doctor = Person {
        name: "Dr Erik Ek".into(),
        role: "distriktsläkare".into(),
        login: Some("demo".into()),
    };
    send(
        primary,
        &doctor,
        Some(TEST_PATIENTS[2]),
        &[&units[0]],
        false,
        DocumentForm::Message {
            kind: Some("question".into()),
            subject: "Fråga om uppföljning efter utskrivning".into(),
            text: "Behöver patienten återbesök hos oss inom två veckor?".into(),
            answer_by: None,
        },
    )
    .await?;
    Ok(ready)
}

/// Runs the demo region in `dir` (a new temporary directory if None) until Ctrl-C or
/// SIGTERM.
pub fn run(dir: Option<PathBuf>) -> Result<ExitCode> {
    let (dir, temporary) = demo_dir(dir)?;
    let nodes = set_up(&dir)?;
    let filter = tracing_subscriber::EnvFilter::try_new("warn").context("log")?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("kunde inte starta tokio")?;
    let result = runtime.block_on(run_region(&dir, nodes));
    drop(runtime);
    if temporary && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn run_region(dir: &Path, nodes: Vec<DemoNode>) -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    let mut info = Vec::new();
    let mut webs = Vec::new();
    for n in nodes {
        let config = Config::load(&n.config_path)?;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut stop = stop_rx.clone();
        let task = tokio::spawn(crate::daemon::run_with(
            config,
            n.socket,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
            Some(ready_tx),
        ));
        let handle = match ready_rx.await {
            Ok(h) => h,
            Err(_) => bail!("noden {} startade inte: {:?}", n.name, task.await),
        };
        webs.push(handle.web_addr());
        handles.push(handle);
        tasks.push(task);
        info.push((n.name, n.unit, n.unit_name, n.listen, n.data_dir));
    }
    let units: Vec<HsaId> = info.iter().map(|i| i.1.clone()).collect();
    let ready = seed(&handles[0], &handles[2], &units).await?;
    let (accounts, office) = make_accounts(&handles).await?;
    drop(handles);

    let exe = std::env::current_exe().ok();
    let bin_dir = exe
        .as_deref()
        .and_then(Path::parent)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let d = |name: &str| dir.join(name).display().to_string();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Övningsregionen kör i {}:", dir.display())?;
    for ((name, unit, unit_name, listen, _), web) in info.iter().zip(&webs) {
        writeln!(out, "  {name:<12} {unit_name} ({unit}), nod på {listen}")?;
        if let Some(w) = web {
            writeln!(out, "  {:<12} webb: http://{w}/", "")?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Personalkonton (ett per enhet; lösenorden skapades nu och sparas bara som hash):"
    )?;
    for ((name, ..), (login, password)) in info.iter().zip(&accounts) {
        writeln!(
            out,
            "  {name:<12} inloggning {login:<6} lösenord {password}"
        )?;
    }
    for (i, ((unit, .., label), (login, password))) in OFFICE.iter().zip(&office).enumerate() {
        if i == 0 || OFFICE[i - 1].0 != *unit {
            writeln!(
                out,
                "{}",
                match unit {
                    0 => "Avdelningens administratör (Konton, Driftstörning) och logggranskare (Logg), på avdelningens nod:",
                    _ => "Kommunens administratör (Konton, Driftstörning), på kommunens nod:",
                }
            )?;
        }
        writeln!(
            out,
            "  {label:<12} inloggning {login:<6} lösenord {password}"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Testpatienter (Skatteverkets testpersonnummer, inga verkliga personer):"
    )?;
    writeln!(
        out,
        "  {}  inskriven, utskrivningsklar, utskrivningsplan skickad",
        TEST_PATIENTS[0]
    )?;
    writeln!(out, "  {}  inskriven i går", TEST_PATIENTS[1])?;
    writeln!(
        out,
        "  {}  fråga från vårdcentralen till avdelningen (samordningsnummer)",
        TEST_PATIENTS[2]
    )?;
    writeln!(out)?;
    writeln!(out, "Prova i en annan terminal:")?;
    writeln!(
        out,
        "  export PATH=\"{bin_dir}:$PATH\" RESERVNOD_AUTHOR=\"Kim Karlsson\""
    )?;
    writeln!(
        out,
        "  reservnod inbox --data-dir {}            # kommunens inkorg",
        d("kommun")
    )?;
    writeln!(
        out,
        "  reservnod chain {} --data-dir {}",
        TEST_PATIENTS[0],
        d("kommun")
    )?;
    writeln!(
        out,
        "  reservnod ack {} --data-dir {}      # kvittera utskrivningsklar",
        &ready[..12],
        d("kommun")
    )?;
    writeln!(
        out,
        "  reservnod inbox --data-dir {}         # avdelningen ser \"läst av Kim Karlsson\"",
        d("avdelning")
    )?;
    writeln!(
        out,
        "  reservnod send --data-dir {} --patient {} --urgent message --subject \"Larm\" --text \"Ring avdelningen\" --to {}",
        d("avdelning"),
        TEST_PATIENTS[0],
        info[1].1
    )?;
    writeln!(
        out,
        "      # okvitterat i {DEMO_URGENT_MINUTES} minuter eskaleras det: se `reservnod escalations` och {}",
        dir.join("larm.log").display()
    )?;
    writeln!(
        out,
        "  reservnod directory --data-dir {}    # enheter, vägval, frastexter",
        d("avdelning")
    )?;
    writeln!(out, "  reservnod peers --data-dir {}", d("vardcentral"))?;
    writeln!(out)?;
    writeln!(out, "Stoppa med Ctrl-C.")?;
    out.flush()?;
    drop(out);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("Stoppar övningsregionen …");
    stop_tx.send_replace(true);
    for t in tasks {
        t.await
            .map_err(|e| anyhow!("{e}"))?
            .map_err(|e| anyhow!("{e}"))?;
    }
    println!("Stoppad.");
    Ok(())
}
