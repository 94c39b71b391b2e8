//! What each command does. Errors carry context for one line to the user (`fel: …`).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use reservnod_proto::roster::{MunicipalityCode, UnitKind};
use reservnod_proto::{HsaId, NodeId, Roster};
use serde::Serialize;

use super::args::*;
use crate::cli::care;
use crate::cli::idcheck;
use crate::clock::{format_ms_utc, now_ms, today};
use crate::daemon::DaemonStatus;
use crate::files::admin::{read_roster_file, AdminDir};
use crate::files::config::Config;
use crate::files::datadir::DataDir;
use crate::node::peers::PeerState;
use crate::store::{AuditAction, AuditEntry};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Admin(args) => admin(&AdminDir::new(&args.admin_dir), args.command),
        Command::Node(cmd) => node(cmd),
        Command::Run(args) => run_daemon(&args.config),
        Command::Status(args) => status(&DataDir::new(&args.data.data_dir), args.json),
        Command::Peers(args) => peers(&args.data.data_dir, args.json),
        Command::Id(IdCommand::Check { json, ids }) => id_check(&ids, json),
        Command::Bundle(cmd) => bundle(cmd),
        Command::WaitSync(args) => wait_sync(&args.data.data_dir, args.timeout),
        Command::Send(args) => care::send(args),
        Command::Inbox(args) => care::inbox(args),
        Command::Show(args) => care::show(args),
        Command::Chain(args) => care::chain(args),
        Command::Export(args) => super::export::export(args),
        Command::Snapshot(super::args::SnapshotCommand::Import(args)) => {
            super::snapshot::import(args)
        }
        Command::Ack(args) => care::ack(args),
        Command::Plan(cmd) => care::plan(cmd),
        Command::Directory(args) => care::directory(args),
        Command::Escalations(args) => care::escalations(args),
        Command::Audit(AuditCommand::Verify(args)) => care::audit_verify(args),
        Command::Events(args) => care::events(args),
        Command::Audit(AuditCommand::Search(args)) => care::audit_search(args),
        Command::Demo(args) => crate::demo::run(args.dir),
        Command::Backup(args) => crate::cli::ops::backup(args),
        Command::Restore(args) => crate::cli::ops::restore(args),
        Command::Doctor(args) => crate::cli::doctor::doctor(args),
        Command::User(cmd) => super::user::user(cmd),
        Command::Outage(cmd) => super::outage::outage(cmd),
        Command::Reentry(cmd) => super::outage::reentry(cmd),
    }
}

fn parse_hsa(s: &str) -> Result<HsaId> {
    HsaId::parse(s)
        .map_err(|e| anyhow::anyhow!("ogiltigt HSA-id '{}': {}", s.trim(), e.message_sv()))
}

fn parse_node_id(s: &str) -> Result<NodeId> {
    s.parse::<NodeId>()
        .with_context(|| format!("ogiltigt nod-id '{}'", s.trim()))
}

fn parse_municipality(s: &str) -> Result<MunicipalityCode> {
    s.parse::<MunicipalityCode>()
        .map_err(|e| anyhow::anyhow!("ogiltig kommunkod: {e}"))
}

fn load_admin(dir: &AdminDir) -> Result<crate::files::admin::Admin> {
    dir.load().context("kunde inte läsa adminkatalogen")
}

fn admin(dir: &AdminDir, cmd: AdminCommand) -> Result<ExitCode> {
    let now = now_ms();
    let roster_path = dir.roster_path();
    let mut out = std::io::stdout().lock();
    match cmd {
        AdminCommand::Init { region } => {
            let a = dir
                .init(&region, now)
                .context("kunde inte skapa adminkatalogen")?;
            writeln!(
                out,
                "Adminnyckel och tom roster (version 1) skapade för {}.",
                a.roster.region
            )?;
            writeln!(out, "Adminnyckelns id: {}", a.roster.admin)?;
            writeln!(out, "Roster-fil: {}", roster_path.display())?;
            writeln!(out, "Lägg till enheter med `reservnod admin unit add`.")?;
        }
        AdminCommand::Unit(UnitCommand::Add {
            id,
            name,
            kind,
            municipality,
        }) => {
            let id = parse_hsa(&id)?;
            let kind: UnitKind = kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let municipality = parse_municipality(&municipality)?;
            let mut a = load_admin(dir)?;
            let key_path = a
                .add_unit(id.clone(), &name, kind, municipality, now)
                .context("kunde inte lägga till enheten")?;
            writeln!(
                out,
                "Enheten {id} ({}) tillagd; roster version {}.",
                kind.name_sv(),
                a.roster.version
            )?;
            writeln!(
                out,
                "Enhetens nyckelfil: {} — ge den bara till enhetens noder.",
                key_path.display()
            )?;
        }
        AdminCommand::Node(AdminNodeCommand::Add {
            node_id,
            unit,
            name,
        }) => {
            let node = parse_node_id(&node_id)?;
            let unit = parse_hsa(&unit)?;
            let mut a = load_admin(dir)?;
            a.add_node(node, unit.clone(), &name, now)
                .context("kunde inte lägga till noden")?;
            writeln!(
                out,
                "Noden {node} släpps in för {unit}; roster version {}.",
                a.roster.version
            )?;
            writeln!(
                out,
                "Ge roster-filen {} till noderna.",
                roster_path.display()
            )?;
        }
        AdminCommand::Node(AdminNodeCommand::Revoke {
            node_id,
            reason,
            cutoff,
        }) => {
            let node = parse_node_id(&node_id)?;
            let cutoff = cutoff
                .map(|c| crate::clock::parse_utc(&c).map_err(|e| anyhow::anyhow!("--cutoff: {e}")))
                .transpose()?;
            let mut a = load_admin(dir)?;
            a.revoke_node(node, &reason, cutoff, now)
                .context("kunde inte återkalla noden")?;
            let cut = a
                .roster
                .revocation(&node)
                .map(|r| format_ms_utc(r.cutoff.wall_ms))
                .unwrap_or_default();
            writeln!(
                out,
                "Noden {node} är återkallad från {cut}; roster version {}.",
                a.roster.version
            )?;
            writeln!(
                out,
                "Det den skrev före dess gäller när andra noder för det vidare; allt senare avvisas."
            )?;
            writeln!(
                out,
                "Sprid roster-filen {} till noderna.",
                roster_path.display()
            )?;
        }
        AdminCommand::Route(RouteCommand::Set { municipality, unit }) => {
            let m = parse_municipality(&municipality)?;
            let unit = parse_hsa(&unit)?;
            let mut a = load_admin(dir)?;
            a.set_route(m.clone(), unit.clone(), now)
                .context("kunde inte ändra vägvalet")?;
            writeln!(
                out,
                "Patienter från kommun {m} föreslås till {unit}; roster version {}.",
                a.roster.version
            )?;
        }
        AdminCommand::Phrase(PhraseCommand::Set { key, title, text }) => {
            let mut a = load_admin(dir)?;
            a.set_phrase(&key, &title, &text, now)
                .context("kunde inte spara frastexten")?;
            writeln!(
                out,
                "Frastexten '{}' sparad; roster version {}.",
                key.trim(),
                a.roster.version
            )?;
        }
        AdminCommand::Escalation(EscalationCommand::Set {
            urgent_minutes,
            normal_minutes,
        }) => {
            let mut a = load_admin(dir)?;
            a.set_escalation(urgent_minutes, normal_minutes, now)
                .context("kunde inte ändra eskaleringen")?;
            writeln!(out, "Eskalering: brådskande efter {urgent_minutes} min, normala efter {normal_minutes} min; roster version {}.", a.roster.version)?;
        }
        AdminCommand::PurgeDecision {
            reference,
            outage,
            before,
            units,
        } => {
            use reservnod_proto::retention::PurgeCover;
            let covers = match (outage, before) {
                (Some(o), _) => PurgeCover::Outage(
                    o.parse()
                        .map_err(|e| anyhow::anyhow!("ogiltigt id för driftstörningen: {e}"))?,
                ),
                (None, Some(b)) => PurgeCover::WrittenBefore {
                    wall_ms: crate::clock::parse_utc(&b)
                        .map_err(|e| anyhow::anyhow!("--before: {e}"))?,
                },
                (None, None) => bail!("ange --outage eller --before"),
            };
            let units = units
                .iter()
                .map(|u| parse_hsa(u))
                .collect::<Result<Vec<_>>>()?;
            let mut a = load_admin(dir)?;
            a.add_purge_decision(&reference, covers, units, now)
                .context("kunde inte föra in gallringsbeslutet")?;
            writeln!(
                out,
                "Gallringsbeslut {} infört; roster version {}.",
                reference.trim(),
                a.roster.version
            )?;
            writeln!(
                out,
                "Sprid roster-filen {} till noderna. Inget gallras ännu: gallringen i noden är inte byggd (docs/OPERATIONS.md, Retention).",
                roster_path.display()
            )?;
        }
        AdminCommand::Roster(RosterCommand::Show { json }) => {
            // The error names the file already.
            let signed = read_roster_file(&roster_path).context("kunde inte visa rostern")?;
            let roster = signed
                .verify()
                .with_context(|| format!("{} är inte en giltig roster", roster_path.display()))?;
            show_roster(&mut out, &roster, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RosterView<'a> {
    region: &'a str,
    version: u64,
    issued_at: String,
    admin: String,
    units: Vec<UnitView<'a>>,
    nodes: Vec<NodeView<'a>>,
    routing: Vec<(String, String)>,
    phrases: Vec<(&'a str, &'a str, &'a str)>,
    escalation_urgent_minutes: u32,
    escalation_normal_minutes: u32,
    purge_decisions: Vec<PurgeView>,
}

#[derive(Serialize)]
struct PurgeView {
    reference: String,
    /// "driftstörning <id>", or "skrivet före <UTC time>".
    covers: String,
    units: Vec<String>,
    decided_at: String,
}

#[derive(Serialize)]
struct UnitView<'a> {
    id: String,
    name: &'a str,
    kind: &'static str,
    municipality: String,
}

#[derive(Serialize)]
struct NodeView<'a> {
    id: String,
    unit: String,
    name: &'a str,
    revoked: bool,
    /// From when its events are refused (UTC), if revoked.
    revoked_from: Option<String>,
}

fn show_roster(out: &mut impl Write, r: &Roster, json: bool) -> Result<()> {
    let view = RosterView {
        region: &r.region,
        version: r.version,
        issued_at: format_ms_utc(r.issued_at_ms),
        admin: r.admin.to_string(),
        units: r
            .units
            .iter()
            .map(|u| UnitView {
                id: u.id.to_string(),
                name: &u.name,
                kind: u.kind.name(),
                municipality: u.municipality.to_string(),
            })
            .collect(),
        nodes: r
            .nodes
            .iter()
            .map(|n| NodeView {
                id: n.id.to_string(),
                unit: n.unit.to_string(),
                name: &n.name,
                revoked: r.is_revoked(&n.id),
                revoked_from: r.revocation(&n.id).map(|x| format_ms_utc(x.cutoff.wall_ms)),
            })
            .collect(),
        routing: r
            .routing
            .iter()
            .map(|x| (x.municipality.to_string(), x.unit.to_string()))
            .collect(),
        phrases: r
            .phrases
            .iter()
            .map(|p| (p.key.as_str(), p.title.as_str(), p.text.as_str()))
            .collect(),
        escalation_urgent_minutes: r.escalation.urgent_unread_minutes,
        escalation_normal_minutes: r.escalation.normal_unread_minutes,
        purge_decisions: r
            .purge_decisions
            .iter()
            .map(|d| PurgeView {
                reference: d.reference.clone(),
                covers: match d.covers {
                    reservnod_proto::retention::PurgeCover::Outage(id) => {
                        format!("driftstörning {id}")
                    }
                    reservnod_proto::retention::PurgeCover::WrittenBefore { wall_ms } => {
                        format!("skrivet före {}", format_ms_utc(wall_ms))
                    }
                },
                units: d.units.iter().map(|u| u.to_string()).collect(),
                decided_at: format_ms_utc(d.decided_at_ms),
            })
            .collect(),
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &view)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Roster för {}, version {} (signerad {})",
        r.region, r.version, view.issued_at
    )?;
    writeln!(out, "Adminnyckel: {}", view.admin)?;
    writeln!(out, "\nEnheter ({}):", r.units.len())?;
    for u in &r.units {
        writeln!(
            out,
            "  {:<31} {:<16} kommun {}  {}",
            u.id,
            u.kind.name_sv(),
            u.municipality,
            u.name
        )?;
    }
    writeln!(out, "\nNoder ({}):", r.nodes.len())?;
    for n in &r.nodes {
        let mark = match r.revocation(&n.id) {
            Some(x) => format!("ÅTERKALLAD från {} ", format_ms_utc(x.cutoff.wall_ms)),
            None => String::new(),
        };
        writeln!(out, "  {}  {:<31} {mark}{}", n.id, n.unit, n.name)?;
    }
    if !r.routing.is_empty() {
        writeln!(out, "\nVägval (kommun → mottagande enhet):")?;
        for x in &r.routing {
            writeln!(out, "  {} → {}", x.municipality, x.unit)?;
        }
    }
    if !r.phrases.is_empty() {
        writeln!(out, "\nFrastexter:")?;
        for p in &r.phrases {
            writeln!(out, "  {}: {}", p.key, p.title)?;
        }
    }
    writeln!(
        out,
        "\nEskalering av olästa: brådskande efter {} min, normala efter {} min",
        r.escalation.urgent_unread_minutes, r.escalation.normal_unread_minutes
    )?;
    if !view.purge_decisions.is_empty() {
        writeln!(out, "\nGallringsbeslut:")?;
        for p in &view.purge_decisions {
            writeln!(
                out,
                "  {} ({}): {}; enheter {}",
                p.reference,
                p.decided_at,
                p.covers,
                p.units.join(", ")
            )?;
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    crate::files::keyfile::read_secret(path)
        .with_context(|| format!("kunde inte läsa nyckelfilen {}", path.display()))
}

fn node(cmd: NodeCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        NodeCommand::Init {
            data,
            unit_key,
            roster,
        } => {
            let dir = DataDir::new(&data.data_dir);
            let unit_text = read_text(&unit_key)?;
            let signed = match &roster {
                Some(p) => Some(
                    read_roster_file(p)
                        .with_context(|| format!("kunde inte läsa roster-filen {}", p.display()))?,
                ),
                None => None,
            };
            let init = dir
                .init(&unit_text, signed.as_ref())
                .context("kunde inte sätta upp noden")?;
            let store = dir.open_store().context("kunde inte öppna lagret")?;
            audit_node_action(
                &store,
                init.node.id(),
                Some(init.unit.unit().clone()),
                AuditAction::NodeInitialised,
                format!("node init in {}", dir.root().display()),
            )?;
            writeln!(out, "Noden är uppsatt i {}.", dir.root().display())?;
            writeln!(out, "Nod-id: {}", init.node.id())?;
            writeln!(out, "Enhet:  {}", init.unit.unit())?;
            match &init.roster {
                Some(r) => {
                    writeln!(out, "Roster: version {} för {}; adminnyckel {}", r.version, r.region, r.admin)?;
                    if !r.is_admitted(&init.node.id()) {
                        writeln!(out, "Noden finns inte i rostern än: be administratören köra")?;
                        writeln!(out, "  reservnod admin node add --node-id {} --unit {} --name NAMN", init.node.id(), init.unit.unit())?;
                    }
                }
                None => writeln!(out, "Ingen roster installerad än: installera den med `reservnod node install-roster FIL`.")?,
            }
        }
        NodeCommand::InstallRoster { data, file } => {
            let dir = DataDir::new(&data.data_dir);
            let node = dir.node_key().context("kunde inte läsa nodens nyckel")?;
            let bytes = crate::files::keyfile::read_bounded(
                &file,
                reservnod_proto::limits::ROSTER_BYTES_MAX + 1024,
            )
            .with_context(|| format!("kunde inte läsa roster-filen {}", file.display()))?;
            let signed = reservnod_proto::SignedRoster::from_file_bytes(&bytes)
                .with_context(|| format!("kunde inte läsa roster-filen {}", file.display()))?;
            // A running node takes it through its socket and puts it in force at once; the
            // file it holds is its own to replace.
            let request = crate::care::api::LocalRequest {
                local: crate::care::api::Person {
                    login: std::env::var("USER").ok(),
                    ..Default::default()
                },
                request: crate::care::api::roster_request(&bytes),
            };
            let (version, admitted) = match crate::serve::socket::call(dir.root(), &request) {
                Ok(Ok(crate::care::api::Reply::RosterInstalled(r))) => (r.version, r.admitted),
                Ok(Ok(_)) => bail!("noden svarade med något annat än en installerad roster"),
                Ok(Err(message)) => bail!("{message}"),
                Err(crate::serve::socket::CallError::Broken(e)) => {
                    bail!("noden svarar inte som den ska ({e}): ingenting är ändrat")
                }
                Err(crate::serve::socket::CallError::NotRunning) => {
                    // The store lock first: if a node holds it, nothing has been touched.
                    let store = open_offline(&dir)?;
                    let roster = dir
                        .install_roster(&signed)
                        .context("rostern installerades inte")?;
                    audit_node_action(
                        &store,
                        node.id(),
                        None,
                        AuditAction::RosterInstalled,
                        format!("roster version {}", roster.version),
                    )?;
                    (roster.version, roster.is_admitted(&node.id()))
                }
            };
            writeln!(out, "Roster version {version} installerad.")?;
            if !admitted {
                writeln!(
                    out,
                    "Obs: den här noden ({}) är inte insläppt i rostern.",
                    node.id()
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `status --json` prints: one shape whether the node runs or not. The daemon's own
/// figures (`pid` … `escalated`) are null or empty when it is stopped.
#[derive(Serialize)]
struct StatusReport {
    running: bool,
    web: Option<String>,
    web_fingerprint: Option<String>,
    data_dir: String,
    node_id: String,
    unit: String,
    unit_name: Option<String>,
    admitted: bool,
    roster_version: Option<u64>,
    region: Option<String>,
    /// The store's figures: from the daemon while it runs (it holds the store), else read here.
    #[serde(flatten)]
    store: crate::store::StoreStats,
    oldest_event: Option<String>,
    newest_event: Option<String>,
    pid: Option<u32>,
    listen: Option<String>,
    started_ms: Option<u64>,
    updated_ms: Option<u64>,
    socket: Option<String>,
    peers: Vec<crate::node::peers::PeerInfo>,
    unreachable_units: Vec<String>,
    clock_warnings: Vec<String>,
    counters: Option<crate::node::peers::Counters>,
    sync: Option<crate::replication::SyncStats>,
    escalated: Option<u64>,
    roster_drop_retrying: Option<String>,
    outage: Option<String>,
    purge: Option<String>,
}

fn run_daemon(path: &Path) -> Result<ExitCode> {
    let config = Config::load(path)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).context("log")?;
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    let socket = std::net::UdpSocket::bind(config.listen)
        .with_context(|| format!("kunde inte lyssna på {} (listen)", config.listen))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("kunde inte starta tokio")?;
    runtime.block_on(async move {
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops the node");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
            }
        };
        crate::daemon::run(config, socket, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn daemon_status(dir: &Path) -> Result<DaemonStatus> {
    DaemonStatus::read_fresh(dir).ok_or_else(|| {
        anyhow::anyhow!(
            "noden kör inte (ingen färsk {} i {}): starta den med `reservnod run`",
            crate::daemon::STATUS_FILE,
            dir.display()
        )
    })
}

fn peers(dir: &Path, json: bool) -> Result<ExitCode> {
    let s = daemon_status(dir)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &s.peers)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    write_peers(&mut out, &s)?;
    Ok(ExitCode::SUCCESS)
}

fn write_peers(out: &mut impl Write, s: &DaemonStatus) -> Result<()> {
    let now = now_ms();
    writeln!(out, "Grannar till {} ({} st):", s.node_id, s.peers.len())?;
    for p in &s.peers {
        let state = match p.state {
            PeerState::Connected => "ansluten",
            PeerState::Disconnected => "frånkopplad",
        };
        writeln!(
            out,
            "  {} {:<11} {:<21} {} hörd för {} s sedan  svarstid {}  klocka {}  händelser {}",
            p.node,
            state,
            p.address,
            p.unit.as_deref().unwrap_or("?"),
            now.saturating_sub(p.last_seen_ms) / 1000,
            p.rtt_ms
                .map(|r| format!("{r:.1} ms"))
                .unwrap_or_else(|| "–".into()),
            p.clock_offset_ms
                .map(|o| format!("{o:+} ms"))
                .unwrap_or_else(|| "–".into()),
            p.events_exchanged,
        )?;
    }
    for u in &s.unreachable_units {
        writeln!(out, "  OBS: enheten {u} har inte gått att nå")?;
    }
    for c in &s.clock_warnings {
        writeln!(out, "  OBS: klockan hos {c} avviker")?;
    }
    Ok(())
}

fn status(dir: &DataDir, json: bool) -> Result<ExitCode> {
    let node = dir.node_key().context("kunde inte läsa nodens nyckel")?;
    let unit = dir.unit_key().context("kunde inte läsa enhetens nyckel")?;
    let roster = dir.roster().context("kunde inte läsa rostern")?;
    let daemon = DaemonStatus::read_fresh(dir.root());
    // The running daemon holds the store; its status file has the figures.
    let (stats, purged) = match &daemon {
        Some(d) => (d.store.clone(), None),
        None => {
            let store = dir.open_store().context("kunde inte öppna lagret")?;
            (
                store.stats().context("kunde inte läsa lagret")?,
                Some(store.purged_count().context("kunde inte läsa lagret")?),
            )
        }
    };
    // The running node's line; with none running, the same from the roster and the store.
    let purge = match &daemon {
        Some(d) => d.purge.clone(),
        None => roster
            .as_ref()
            .filter(|r| !r.purge_decisions.is_empty())
            .map(|r| {
                let refs: Vec<&str> = r
                    .purge_decisions
                    .iter()
                    .map(|d| d.reference.as_str())
                    .collect();
                format!(
                    "Gallringsbeslut {}: {} händelser gallrade här.",
                    refs.join(", "),
                    purged.unwrap_or(0)
                )
            }),
    };
    // The web certificate's fingerprint, for IT to compare with what the browser shows: the
    // running node's, or the one the recorded config would serve.
    let recorded_http = dir
        .recorded_config()
        .ok()
        .flatten()
        .and_then(|p| Config::load(&p).ok())
        .and_then(|c| c.http);
    let web_fingerprint = daemon
        .as_ref()
        .and_then(|d| d.web_fingerprint.clone())
        .or_else(|| {
            recorded_http
                .as_ref()
                .and_then(|h| crate::files::webcert::current_fingerprint(dir.root(), h))
                .and_then(Result::ok)
        });
    let view = StatusReport {
        running: daemon.is_some(),
        web: daemon.as_ref().and_then(|d| d.web.clone()),
        web_fingerprint,
        data_dir: dir.root().display().to_string(),
        node_id: node.id().to_string(),
        unit: unit.unit().to_string(),
        unit_name: roster
            .as_ref()
            .and_then(|r| r.unit(unit.unit()).map(|u| u.name.clone())),
        admitted: roster.as_ref().is_some_and(|r| r.is_admitted(&node.id())),
        roster_version: daemon
            .as_ref()
            .map(|d| d.roster_version)
            .or(roster.as_ref().map(|r| r.version)),
        region: roster.as_ref().map(|r| r.region.clone()),
        oldest_event: stats.oldest.map(|h| format_ms_utc(h.wall_ms)),
        newest_event: stats.newest.map(|h| format_ms_utc(h.wall_ms)),
        store: stats,
        pid: daemon.as_ref().map(|d| d.pid),
        listen: daemon.as_ref().map(|d| d.listen.clone()),
        started_ms: daemon.as_ref().map(|d| d.started_ms),
        updated_ms: daemon.as_ref().map(|d| d.updated_ms),
        socket: daemon.as_ref().map(|d| d.socket.clone()),
        peers: daemon.as_ref().map(|d| d.peers.clone()).unwrap_or_default(),
        unreachable_units: daemon
            .as_ref()
            .map(|d| d.unreachable_units.clone())
            .unwrap_or_default(),
        clock_warnings: daemon
            .as_ref()
            .map(|d| d.clock_warnings.clone())
            .unwrap_or_default(),
        counters: daemon.as_ref().map(|d| d.counters.clone()),
        sync: daemon.as_ref().map(|d| d.sync.clone()),
        escalated: daemon.as_ref().map(|d| d.escalated),
        roster_drop_retrying: daemon.as_ref().and_then(|d| d.roster_drop_retrying.clone()),
        // Only the running node's view knows it; offline status opens the store alone and
        // reads nothing more (building a view would quarantine and change the store).
        outage: daemon.as_ref().and_then(|d| d.outage.clone()),
        purge,
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    match &daemon {
        Some(d) => writeln!(out, "Noden kör (pid {}), lyssnar på {}", d.pid, d.listen)?,
        None => writeln!(out, "Noden kör inte")?,
    }
    writeln!(out, "Datakatalog:      {}", view.data_dir)?;
    if let Some(w) = &view.web {
        writeln!(out, "Webb:             {w}")?;
    }
    if let Some(f) = &view.web_fingerprint {
        writeln!(out, "Webbcertifikat:   SHA-256 {f}")?;
    }
    writeln!(out, "Nod-id:           {}", view.node_id)?;
    writeln!(
        out,
        "Enhet:            {} {}",
        view.unit,
        view.unit_name
            .as_deref()
            .map(|n| format!("({n})"))
            .unwrap_or_default()
    )?;
    match (&view.region, view.roster_version) {
        (Some(region), Some(v)) => writeln!(
            out,
            "Roster:           version {v}, {region}{}",
            if view.admitted {
                ""
            } else {
                " — noden är INTE insläppt"
            }
        )?,
        _ => writeln!(out, "Roster:           ingen installerad")?,
    }
    let classes: Vec<String> = view
        .store
        .by_class
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    writeln!(
        out,
        "Händelser:        {} ({})",
        view.store.events,
        classes.join(", ")
    )?;
    writeln!(out, "Granskningslogg:  {} poster", view.store.audit_entries)?;
    if let Some(p) = &view.purge {
        writeln!(out, "Gallring:         {p}")?;
    }
    if view.store.quarantined > 0 {
        writeln!(
            out,
            "Karantän:         {} skadade händelser tagna ur bruk (se loggen)",
            view.store.quarantined
        )?;
    }
    writeln!(
        out,
        "På disk:          {:.1} MB",
        view.store.disk_bytes as f64 / 1e6
    )?;
    if let (Some(o), Some(n)) = (&view.oldest_event, &view.newest_event) {
        writeln!(out, "Äldsta / nyaste:  {o} / {n}")?;
    }
    if let Some(d) = &daemon {
        let y = &d.sync;
        writeln!(out, "Synk:             {} kvar att ta emot, {:.0}/s; {} mottagna ({} nya, {} dubbletter, {} avvisade), {} skickade, {} i kö", y.to_go, y.rate_per_s, y.received, y.stored, y.duplicates, y.refused, y.sent, y.queued_to_send)?;
        writeln!(
            out,
            "Eskalerade:       {} olästa meddelanden sedan start",
            d.escalated
        )?;
        writeln!(out, "Lokalt uttag:     {}", d.socket)?;
        if let Some(o) = &d.outage {
            writeln!(out, "Driftstörning:    {o}")?;
        }
        if let Some(reason) = &d.roster_drop_retrying {
            writeln!(
                out,
                "OBS: rostern i släppfilen har inte kunnat installeras än (försöker igen varje sekund): {reason}"
            )?;
        }
        let c = &d.counters;
        writeln!(out, "Avvisade:         {} handskakningar, {} protokollfel, {} återkallade, {} vid full kapacitet", c.handshakes_failed, c.protocol_violations, c.revoked_closed, c.refused_busy)?;
        write_peers(&mut out, d)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    // Drawn on stderr and only on a terminal; scripts get just the summary.
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} kvar)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Appends an audit entry for something done to the node itself (no person, no patient).
fn audit_node_action(
    store: &crate::store::Store,
    node: NodeId,
    unit: Option<HsaId>,
    action: AuditAction,
    detail: String,
) -> Result<()> {
    store
        .append_audit(&AuditEntry {
            unit,
            ..AuditEntry::new(now_ms(), node, action, detail)
        })
        .context("kunde inte skriva granskningsloggen")?;
    Ok(())
}

/// The error for a store a running node holds.
fn locked(dir: &DataDir) -> anyhow::Error {
    anyhow::anyhow!(
        "noden kör och håller lagret i {}: stoppa den först (t.ex. systemctl stop reservnod)",
        dir.root().display()
    )
}

fn open_offline(dir: &DataDir) -> Result<crate::store::Store> {
    dir.open_store().map_err(|e| match e {
        crate::files::datadir::DataDirError::Store(crate::store::StoreError::Locked { .. }) => {
            locked(dir)
        }
        other => anyhow::Error::new(other).context("kunde inte öppna lagret"),
    })
}

fn bundle(cmd: BundleCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        BundleCommand::Export { data, since, file } => {
            let dir = DataDir::new(&data.data_dir);
            let node = dir.node_key().context("kunde inte läsa nodens nyckel")?;
            let unit = dir.unit_key().context("kunde inte läsa enhetens nyckel")?;
            let since = match since {
                Some(s) => Some(reservnod_proto::Hlc {
                    wall_ms: crate::clock::parse_utc(&s)
                        .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
                    logical: 0,
                }),
                None => None,
            };
            let store = open_offline(&dir)?;
            let header = crate::files::bundle::BundleHeader {
                format: crate::files::bundle::BUNDLE_FORMAT,
                created_ms: now_ms(),
                node: node.id(),
                unit: unit.unit().clone(),
                since,
            };
            let bar = progress_bar(store.stats()?.events, "Skriver");
            let summary = crate::files::bundle::export(&store, header, &file, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .with_context(|| format!("kunde inte skriva {}", file.display()))?;
            bar.finish_and_clear();
            audit_node_action(
                &store,
                node.id(),
                Some(unit.unit().clone()),
                AuditAction::Export,
                format!(
                    "bundle export of {} events to {}",
                    summary.events,
                    file.display()
                ),
            )?;
            writeln!(
                out,
                "{} händelser skrivna till {} ({:.1} MB).",
                summary.events,
                file.display(),
                summary.bytes as f64 / 1e6
            )?;
        }
        BundleCommand::Import { data, file, json } => {
            let dir = DataDir::new(&data.data_dir);
            let node = dir.node_key().context("kunde inte läsa nodens nyckel")?;
            // Said first: without a roster nothing can be checked.
            dir.roster()
                .context("kunde inte läsa rostern")?
                .ok_or_else(|| {
                    anyhow::anyhow!("ingen roster installerad: händelserna kan inte kontrolleras")
                })?;
            // The node itself, so the import goes through its one ingest pipeline: the
            // Delivered receipts the events cause are written with them.
            let opened = super::offline::open_node(&dir).map_err(|e| {
                if super::offline::is_locked(&e) {
                    locked(&dir)
                } else {
                    anyhow::Error::new(e).context("kunde inte öppna noden")
                }
            })?;
            let size = std::fs::metadata(&file)
                .with_context(|| format!("kunde inte läsa {}", file.display()))?
                .len();
            let bar = progress_bar(size, "Läser in");
            let take = |events: Vec<reservnod_proto::SignedEvent>| {
                let outcome = opened.ingest_blocking(events, None)?;
                Ok(crate::files::bundle::Taken {
                    new: (outcome.stored.len() + outcome.purged_on_arrival) as u64,
                    duplicates: outcome.duplicates as u64,
                    refused: outcome.refused.iter().map(|r| r.to_string()).collect(),
                })
            };
            let (header, summary) = crate::files::bundle::import(&file, take, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .with_context(|| format!("kunde inte läsa in {}", file.display()))?;
            bar.finish_and_clear();
            audit_node_action(
                opened.store(),
                node.id(),
                None,
                AuditAction::Import,
                format!(
                    "bundle import from {}: {} new, {} duplicates, {} refused",
                    file.display(),
                    summary.new,
                    summary.duplicates,
                    summary.refused
                ),
            )?;
            if json {
                serde_json::to_writer_pretty(&mut out, &summary)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "Fil från {} ({}), skapad {}.",
                    header.unit,
                    header.node,
                    format_ms_utc(header.created_ms)
                )?;
                writeln!(
                    out,
                    "{} händelser lästa: {} nya, {} fanns redan, {} avvisade.",
                    summary.read, summary.new, summary.duplicates, summary.refused
                )?;
                for r in &summary.refusal_reasons {
                    writeln!(out, "  avvisad: {r}")?;
                }
                if !summary.complete {
                    writeln!(out, "OBS: filen är ofullständig (avbruten kopiering?). Det som fanns är inläst; läs in en hel kopia också.")?;
                }
            }
            if !summary.complete || summary.refused > 0 {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn wait_sync(dir: &Path, timeout_secs: u64) -> Result<ExitCode> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_secs);
    let first = daemon_status(dir)?;
    let bar = progress_bar(first.sync.to_go, "Synkar");
    let start_stored = first.sync.stored;
    loop {
        let s = daemon_status(dir)?;
        let done = s.sync.stored.saturating_sub(start_stored);
        bar.set_length(done + s.sync.to_go);
        bar.set_position(done);
        if s.sync.to_go == 0 {
            bar.finish_and_clear();
            writeln!(
                std::io::stdout(),
                "I fas: {done} nya händelser under väntan, {} totalt.",
                s.store.events
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        if std::time::Instant::now() > deadline {
            bar.abandon();
            bail!("{} händelser återstår efter {timeout_secs} s", s.sync.to_go);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

fn id_check(ids: &[String], json: bool) -> Result<ExitCode> {
    let today = today(now_ms());
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let tally = if ids.len() == 1 && ids[0] == "-" {
        idcheck::check_lines(std::io::stdin().lock(), &mut out, today, json)
            .context("kunde inte läsa standard in")?
    } else {
        if ids.iter().any(|i| i == "-") {
            bail!("- (standard in) kan inte blandas med andra identiteter");
        }
        let mut tally = idcheck::Tally::default();
        for id in ids {
            let r = idcheck::check(id, today);
            if r.valid {
                tally.valid += 1;
            } else {
                tally.invalid += 1;
            }
            idcheck::write_result(&mut out, &r, json)?;
        }
        tally
    };
    out.flush()?;
    Ok(if tally.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
