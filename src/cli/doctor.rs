//! `reservnod doctor`: what IT checks on the day, one line per check with what to do when it
//! fails, read over the phone. Reads files, the status file and the system; it never opens
//! the store (that could upgrade it) and never sends a packet.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::args::DoctorArgs;
use crate::daemon::DaemonStatus;
use crate::files::config::{Config, HttpTls};
use crate::files::datadir::DataDir;
use crate::files::format;
use crate::files::keyfile::FileError;
use crate::files::webcert::{self, WebCertError, WebCertInfo, WebCertState};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// As it should be.
    Ok,
    /// Works, but look at it soon.
    Warn,
    /// Does not work: the node will not run or not do its job until fixed.
    Fail,
    /// Not checked (it depends on a check that failed, or it is switched off).
    Skip,
}

/// One check's line.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Which check.
    pub check: &'static str,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found.
    pub found: String,
    /// What to do, when it is not ok.
    pub fix: Option<String>,
}

fn line(check: &'static str, outcome: Outcome, found: impl Into<String>) -> Check {
    Check {
        check,
        outcome,
        found: found.into(),
        fix: None,
    }
}

fn fail(check: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        outcome: Outcome::Fail,
        found: found.into(),
        fix: Some(fix.into()),
    }
}

fn warn(check: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        outcome: Outcome::Warn,
        found: found.into(),
        fix: Some(fix.into()),
    }
}

/// Free space below this fails (the store flushes every write and must never find the disk
/// full).
const DISK_FREE_MIN: u64 = 512 * 1024 * 1024;
/// Days of growth at the store's rate that must fit in the free space (warn below 180).
const DISK_DAYS_MIN: u64 = 30;
const DISK_DAYS_WARN: u64 = 180;
/// A roster older than this is worth asking the admin about.
const ROSTER_AGE_WARN_DAYS: u64 = 60;
/// Files looked at for their owner (a data directory holds a few dozen).
const WALK_MAX: usize = 100_000;
/// The clock is certainly wrong before this (2025-01-01).
const CLOCK_FLOOR_MS: u64 = 1_735_689_600_000;
/// A web certificate that ends within this many days is worth renewing now (a CA may take
/// a week or two).
const WEB_CERT_WARN_DAYS: i64 = 30;

/// `reservnod doctor`.
pub fn doctor(args: DoctorArgs) -> Result<ExitCode> {
    let checks = run_checks(&args.config, crate::clock::now_ms());
    let failed = checks.iter().any(|c| c.outcome == Outcome::Fail);
    if args.json {
        #[derive(Serialize)]
        struct Report<'a> {
            ok: bool,
            checks: &'a [Check],
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Report {
                ok: !failed,
                checks: &checks,
            })?
        );
    } else {
        for c in &checks {
            let tag = match c.outcome {
                Outcome::Ok => "ok     ",
                Outcome::Warn => "VARNING",
                Outcome::Fail => "FEL    ",
                Outcome::Skip => "-      ",
            };
            match &c.fix {
                Some(fix) => println!("{tag} {}: {} — gör så här: {fix}", c.check, c.found),
                None => println!("{tag} {}: {}", c.check, c.found),
            }
        }
        if failed {
            println!("Något är fel: rätta raderna märkta FEL och kör `reservnod doctor` igen.");
        } else {
            println!("Allt som kontrolleras är i ordning.");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, in the order IT reads them.
pub fn run_checks(config_path: &Path, now_ms: u64) -> Vec<Check> {
    let mut out = Vec::new();
    let config = match Config::load(config_path) {
        Ok(c) => {
            out.push(line(
                "konfiguration",
                Outcome::Ok,
                format!("{} läses", config_path.display()),
            ));
            c
        }
        Err(e) => {
            out.push(fail(
                "konfiguration",
                format!("{e}"),
                format!(
                    "rätta {} (kommentarerna i filen säger vad varje nyckel är), eller ange filen med --config",
                    config_path.display()
                ),
            ));
            out.push(line(
                "övrigt",
                Outcome::Skip,
                "kontrolleras när konfigurationen läses",
            ));
            return out;
        }
    };
    let dir = DataDir::new(&config.data_dir);
    let daemon = DaemonStatus::read_fresh(dir.root());
    let set_up = data_dir_check(&dir, &mut out);
    if set_up {
        roster_checks(&dir, now_ms, &mut out);
    } else {
        out.push(line("roster", Outcome::Skip, "noden är inte uppsatt"));
    }
    out.push(clock_check(&config, daemon.as_ref(), now_ms));
    out.push(listen_check(&config, daemon.as_ref()));
    out.push(peers_check(&config));
    out.push(discovery_check(&config));
    out.push(disk_check(&dir, daemon.as_ref(), now_ms));
    out.push(web_cert_check(&config, now_ms));
    out.push(escalation_check(&config));
    out
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The data directory and its key files: set up, owner-only, one owner. Returns whether
/// the node is set up.
fn data_dir_check(dir: &DataDir, out: &mut Vec<Check>) -> bool {
    const C: &str = "datakatalog";
    let root = dir.root();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            out.push(fail(
                C,
                format!("{}: {e}", root.display()),
                "sätt upp noden: reservnod node init --data-dir KATALOG --unit-key ENHET.key --roster roster.rsv (som nodens användare)",
            ));
            out.push(line("nycklar", Outcome::Skip, "ingen datakatalog"));
            return false;
        }
    };
    let owner = meta.uid();
    let me = effective_uid();
    let owner_name = user_name(owner);
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if meta.permissions().mode() & 0o077 != 0 {
        problems.push(format!(
            "{} har rättigheterna {:o} (andra än ägaren kommer åt den)",
            root.display(),
            meta.permissions().mode() & 0o777
        ));
        fixes.push(format!("chmod 700 {}", root.display()));
    }
    if me != 0 && me != owner {
        problems.push(format!(
            "doctor körs som {}, katalogen ägs av {owner_name}",
            user_name(me)
        ));
        fixes.push(format!(
            "kör som ägaren: sudo -u {owner_name} reservnod doctor"
        ));
    }
    // Everything inside belongs to the directory's owner (a restore or init run as root
    // leaves files the daemon cannot open).
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    let mut foreign: Option<(PathBuf, u32)> = None;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > WALK_MAX {
                break;
            }
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.uid() != owner && foreign.is_none() {
                foreign = Some((e.path(), m.uid()));
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    if let Some((p, uid)) = foreign {
        problems.push(format!(
            "{} ägs av {} men katalogen av {owner_name}",
            p.display(),
            user_name(uid)
        ));
        fixes.push(format!(
            "chown -R {owner_name}:{owner_name} {}",
            root.display()
        ));
    }
    let set_up = root.join("node.key").exists();
    if !set_up {
        problems.push("noden är inte uppsatt (ingen node.key)".into());
        fixes.push(format!(
            "sudo -u {owner_name} reservnod node init --data-dir {} --unit-key ENHET.key --roster roster.rsv",
            root.display()
        ));
    }
    match format::check_not_newer(root) {
        Ok(_) => {}
        Err(e) => {
            problems.push(e.to_string());
            fixes.push("installera den reservnod-version som katalogen kräver".into());
        }
    }
    if problems.is_empty() {
        out.push(line(
            C,
            Outcome::Ok,
            format!(
                "{} ägs av {owner_name}, bara ägaren kommer åt den, dataformat {}",
                root.display(),
                format::read(root)
                    .map(|f| f.format)
                    .unwrap_or(format::FORMAT)
            ),
        ));
    } else {
        out.push(fail(C, problems.join("; "), fixes.join("; ")));
    }

    const K: &str = "nycklar";
    if !set_up {
        out.push(line(K, Outcome::Skip, "noden är inte uppsatt"));
        return false;
    }
    let mut bad = Vec::new();
    for name in ["node.key", "unit.key"] {
        let p = root.join(name);
        match std::fs::metadata(&p) {
            Err(e) => bad.push(format!("{name}: {e}")),
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    bad.push(format!("{name} har rättigheterna {mode:o}"));
                }
                if m.uid() != owner {
                    bad.push(format!("{name} ägs av {}", user_name(m.uid())));
                }
            }
        }
    }
    if bad.is_empty() {
        if let Err(e) = dir.node_key().and_then(|_| dir.unit_key()) {
            bad.push(e.to_string());
        }
    }
    if bad.is_empty() {
        out.push(line(
            K,
            Outcome::Ok,
            "node.key och unit.key läses, 0600, ägs av katalogens ägare",
        ));
    } else {
        out.push(fail(
            K,
            bad.join("; "),
            format!(
                "chmod 600 {0}/node.key {0}/unit.key; chown {owner_name} {0}/node.key {0}/unit.key (en skadad unit.key: be administratören om enhetens nyckelfil)",
                root.display()
            ),
        ));
    }
    true
}

fn roster_checks(dir: &DataDir, now_ms: u64, out: &mut Vec<Check>) {
    const C: &str = "roster";
    let roster = match dir.roster() {
        Ok(Some(r)) => r,
        Ok(None) => {
            out.push(fail(
                C,
                "ingen roster installerad",
                "installera rostern från administratören: reservnod node install-roster --data-dir KATALOG roster.rsv",
            ));
            out.push(line("rosterns ålder", Outcome::Skip, "ingen roster"));
            return;
        }
        Err(e) => {
            out.push(fail(
                C,
                e.to_string(),
                "installera en giltig roster från administratören (reservnod node install-roster)",
            ));
            out.push(line("rosterns ålder", Outcome::Skip, "ingen giltig roster"));
            return;
        }
    };
    let Ok(node) = dir.node_key() else {
        out.push(line(C, Outcome::Skip, "nodens nyckel läses inte"));
        return;
    };
    let id = node.id();
    if let Some(r) = roster.revocation(&id) {
        out.push(fail(
            C,
            format!(
                "noden {id} är spärrad i roster version {} (sedan {})",
                roster.version,
                crate::clock::format_ms_utc(r.at_ms)
            ),
            "den här datorn ska inte köras: stoppa den (systemctl disable --now reservnod) och kontakta administratören",
        ));
    } else if roster.node(&id).is_none() {
        out.push(fail(
            C,
            format!("noden {id} finns inte i roster version {}", roster.version),
            format!(
                "be administratören släppa in den (reservnod admin node add --node-id {id} --unit ENHET) och installera den nya rostern"
            ),
        ));
    } else {
        out.push(line(
            C,
            Outcome::Ok,
            format!(
                "noden {id} är insläppt i roster version {} ({})",
                roster.version, roster.region
            ),
        ));
    }
    let days = now_ms.saturating_sub(roster.issued_at_ms) / 86_400_000;
    let found = format!(
        "utfärdad {} ({days} dagar sedan)",
        crate::clock::format_ms_utc(roster.issued_at_ms)
    );
    out.push(if days > ROSTER_AGE_WARN_DAYS {
        warn(
            "rosterns ålder",
            found,
            "fråga administratören om det finns en nyare roster (spärrade noder, nya enheter)",
        )
    } else {
        line("rosterns ålder", Outcome::Ok, found)
    });
}

fn clock_check(config: &Config, daemon: Option<&DaemonStatus>, now_ms: u64) -> Check {
    const C: &str = "klocka";
    if now_ms < CLOCK_FLOOR_MS {
        return fail(
            C,
            format!(
                "systemklockan visar {}",
                crate::clock::format_ms_utc(now_ms)
            ),
            "ställ klockan och slå på tidssynkronisering: timedatectl set-ntp true",
        );
    }
    let Some(status) = daemon else {
        return line(
            C,
            Outcome::Ok,
            format!(
                "{}; noden kör inte, så avvikelsen mot grannarna syns inte",
                crate::clock::format_ms_utc(now_ms)
            ),
        );
    };
    let limit = config.clock_skew_warn.as_millis() as i64;
    let offsets: Vec<(String, i64)> = status
        .peers
        .iter()
        .filter_map(|p| {
            p.clock_offset_ms
                .map(|o| (p.name.clone().unwrap_or_else(|| p.node.clone()), o))
        })
        .collect();
    let worst = offsets.iter().max_by_key(|(_, o)| o.abs());
    match worst {
        None => line(
            C,
            Outcome::Ok,
            "noden kör men har ingen granne att jämföra klockan med",
        ),
        Some((name, o)) if o.abs() > limit => fail(
            C,
            format!("klockan skiljer {o} ms mot {name} (gränsen är {limit} ms)"),
            "slå på tidssynkronisering här och hos grannen: timedatectl set-ntp true; timedatectl status",
        ),
        Some((name, o)) => line(
            C,
            Outcome::Ok,
            format!(
                "största avvikelsen mot {} grannar är {o} ms ({name})",
                offsets.len()
            ),
        ),
    }
}

fn listen_check(config: &Config, daemon: Option<&DaemonStatus>) -> Check {
    const C: &str = "port";
    match UdpSocket::bind(config.listen) {
        Ok(_) => line(
            C,
            Outcome::Ok,
            format!("{} (UDP) är ledig för noden", config.listen),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => match daemon {
            Some(d) if d.listen == config.listen.to_string() => line(
                C,
                Outcome::Ok,
                format!("{} hålls av den här noden (pid {})", config.listen, d.pid),
            ),
            _ => fail(
                C,
                format!("{} (UDP) används av ett annat program", config.listen),
                format!(
                    "se vilket: ss -ulpn 'sport = :{}'; stoppa det eller ändra listen i konfigurationen",
                    config.listen.port()
                ),
            ),
        },
        Err(e) => fail(
            C,
            format!("{}: {e}", config.listen),
            "ändra listen i konfigurationen till en adress på den här datorn och en port över 1024",
        ),
    }
}

/// A route to `to` exists (a UDP connect sends nothing).
fn routable(to: SocketAddr) -> std::io::Result<()> {
    let any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    UdpSocket::bind(any)?.connect(to)
}

fn peers_check(config: &Config) -> Check {
    const C: &str = "fasta grannar";
    if config.static_peers.is_empty() {
        return if config.discovery {
            line(
                C,
                Outcome::Ok,
                "inga i konfigurationen (grannarna hittas på det lokala nätet)",
            )
        } else {
            fail(
                C,
                "inga fasta grannar och ingen upptäckt på nätet: noden hittar aldrig någon",
                "lägg till static_peers i konfigurationen eller sätt discovery = true",
            )
        };
    }
    let bad: Vec<String> = config
        .static_peers
        .iter()
        .filter_map(|p| routable(*p).err().map(|e| format!("{p}: {e}")))
        .collect();
    if bad.is_empty() {
        line(
            C,
            Outcome::Ok,
            format!(
                "{} adresser, väg finns till alla",
                config.static_peers.len()
            ),
        )
    } else {
        fail(
            C,
            format!("ingen väg till {}", bad.join(", ")),
            "kontrollera nätverket och vägarna (ip route get ADRESS) eller rätta static_peers",
        )
    }
}

fn discovery_check(config: &Config) -> Check {
    const C: &str = "upptäckt";
    if !config.discovery {
        return line(C, Outcome::Skip, "avslagen i konfigurationen");
    }
    let lan = if_addrs::get_if_addrs()
        .map(|a| a.iter().any(|i| !i.is_loopback() && i.ip().is_ipv4()))
        .unwrap_or(false);
    if !lan {
        return fail(
            C,
            "inget nätverksgränssnitt med IPv4-adress utom loopback",
            "anslut datorn till enhetens nät (ip addr visar gränssnitten)",
        );
    }
    let to = SocketAddr::from(([255, 255, 255, 255], config.discovery_port));
    let result = UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.set_broadcast(true)?;
        s.connect(to)
    });
    match result {
        Ok(()) => line(
            C,
            Outcome::Ok,
            format!("kan sända utrop på UDP-port {}", config.discovery_port),
        ),
        Err(e) => fail(
            C,
            format!("utrop till {to} går inte: {e}"),
            format!(
                "släpp igenom UDP-port {} och mDNS (5353) i brandväggen, eller lägg in static_peers",
                config.discovery_port
            ),
        ),
    }
}

fn dir_bytes(root: &Path) -> u64 {
    let mut stack = vec![root.to_path_buf()];
    let (mut total, mut seen) = (0u64, 0usize);
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > WALK_MAX {
                return total;
            }
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                // Blocks used, not the length: sled's files are sparse.
                total += m.blocks() * 512;
            }
        }
    }
    total
}

fn disk_check(dir: &DataDir, daemon: Option<&DaemonStatus>, now_ms: u64) -> Check {
    const C: &str = "diskutrymme";
    let root = dir.root();
    let stat = match rustix::fs::statvfs(root) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                C,
                format!("{}: {e}", root.display()),
                "kontrollera att datakatalogens disk är monterad",
            )
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let store = dir_bytes(&root.join("store"));
    // Growth: the store's size over the node's age (its key's time), at least a day.
    let born_ms = std::fs::metadata(root.join("node.key"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(now_ms);
    let age_days = (now_ms.saturating_sub(born_ms) / 86_400_000).max(1);
    let per_day = (store / age_days).max(1);
    let days_left = free / per_day;
    let events = daemon
        .map(|d| format!(", {} händelser", d.store.events))
        .unwrap_or_default();
    let lasts = if days_left > 3650 {
        "räcker mer än tio år".to_string()
    } else {
        format!("räcker omkring {days_left} dygn")
    };
    let found = format!(
        "{:.1} GB ledigt, lagret {:.1} MB{events}, växer omkring {:.1} MB/dygn: {lasts}",
        free as f64 / 1e9,
        store as f64 / 1e6,
        per_day as f64 / 1e6
    );
    let fix = format!(
        "frigör utrymme eller ge {} en större disk (kopiera inte bort lagret medan noden kör)",
        root.display()
    );
    if free < DISK_FREE_MIN || days_left < DISK_DAYS_MIN {
        fail(C, found, fix)
    } else if days_left < DISK_DAYS_WARN {
        warn(C, found, fix)
    } else {
        line(C, Outcome::Ok, found)
    }
}

fn web_cert_check(config: &Config, now_ms: u64) -> Check {
    const C: &str = "webbcertifikat";
    let Some(http) = &config.http else {
        return line(
            C,
            Outcome::Skip,
            "inget webbgränssnitt i konfigurationen ([http])",
        );
    };
    let restart = "systemctl restart reservnod";
    let renew = |info: &WebCertInfo| {
        match &http.tls {
        HttpTls::SelfSigned => {
            let (cert, key) = webcert::self_signed_paths(&config.data_dir);
            format!(
                "ta bort {} och {} och starta om noden ({restart}): ett nytt görs; läs upp det nya fingeravtrycket från `reservnod status` för personalen",
                cert.display(),
                key.display()
            )
        }
        _ => format!(
            "beställ ett nytt certifikat från regionens IT (för {}), lägg det och nyckeln i {} och starta om noden ({restart})",
            if http.names.is_empty() {
                http.listen.ip().to_string()
            } else {
                http.names.join(", ")
            },
            info.cert.display()
        ),
    }
    };
    let info = match webcert::inspect(&config.data_dir, http) {
        Ok(WebCertState::NoTls) => {
            return line(
                C,
                Outcome::Ok,
                format!("webbgränssnittet på {} utan TLS (bara den här datorn når det)", http.listen),
            )
        }
        Ok(WebCertState::NotYetMade(cert)) => {
            return line(
                C,
                Outcome::Ok,
                format!(
                    "nodens eget certifikat görs när noden startar första gången ({})",
                    cert.display()
                ),
            )
        }
        Ok(WebCertState::Ready(info)) => info,
        Err(WebCertError::File(e @ FileError::TooOpen { .. })) => {
            return fail(
                C,
                format!("nyckeln: {e}"),
                "chmod 600 på nyckelfilen och chown till nodens användare (andra ska inte kunna läsa den)",
            )
        }
        Err(e @ WebCertError::Mismatch { .. }) => {
            return fail(
                C,
                format!("nyckeln hör inte till certifikatet ({e})"),
                "lägg certifikatet och den nyckel det gjordes för i http.tls (de kommer från samma beställning hos IT)",
            )
        }
        Err(e) => {
            let fix = match &http.tls {
                HttpTls::SelfSigned => {
                    let (cert, key) = webcert::self_signed_paths(&config.data_dir);
                    format!(
                        "ta bort {} och {} och starta om noden ({restart}): ett nytt görs",
                        cert.display(),
                        key.display()
                    )
                }
                _ => "lägg certifikatkedjan och den privata nyckeln som PEM-filer där http.tls anger (cert, key), eller rätta sökvägarna i konfigurationen".to_string(),
            };
            return fail(C, e.to_string(), fix);
        }
    };
    let now_s = (now_ms / 1000) as i64;
    let end = crate::clock::format_ms_utc(info.not_after_s.max(0) as u64 * 1000);
    let days_left = (info.not_after_s - now_s).div_euclid(86_400);
    let whose = if info.self_signed {
        "nodens eget certifikat"
    } else {
        "certifikatet"
    };
    if now_s >= info.not_after_s {
        return fail(
            C,
            format!(
                "{whose} {} gick ut {end}: webbläsarna vägrar",
                info.cert.display()
            ),
            renew(&info),
        );
    }
    if now_s < info.not_before_s {
        return fail(
            C,
            format!(
                "{whose} {} gäller först från {}",
                info.cert.display(),
                crate::clock::format_ms_utc(info.not_before_s.max(0) as u64 * 1000)
            ),
            format!(
                "kontrollera klockan (timedatectl status); stämmer den: {}",
                renew(&info)
            ),
        );
    }
    if days_left < WEB_CERT_WARN_DAYS {
        return warn(
            C,
            format!(
                "{whose} {} går ut {end}, om {days_left} dagar",
                info.cert.display()
            ),
            renew(&info),
        );
    }
    if !info.uncovered.is_empty() {
        return warn(
            C,
            format!(
                "{whose} {} gäller inte för {} (webbläsarna varnar)",
                info.cert.display(),
                info.uncovered.join(", ")
            ),
            renew(&info),
        );
    }
    line(
        C,
        Outcome::Ok,
        format!(
            "{whose} {} gäller till {end} ({days_left} dagar), nyckeln hör till det, fingeravtryck {}",
            info.cert.display(),
            info.fingerprint
        ),
    )
}

fn escalation_check(config: &Config) -> Check {
    const C: &str = "eskaleringskommando";
    let Some(argv) = &config.escalation_command else {
        return line(
            C,
            Outcome::Ok,
            "inget inställt (eskaleringar syns i `reservnod escalations`)",
        );
    };
    let Some(program) = argv.first() else {
        return fail(
            C,
            "tomt kommando",
            "ta bort escalation_command eller ange ett program",
        );
    };
    let path = if program.contains('/') {
        Some(PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    let fix = "installera programmet eller rätta escalation_command i konfigurationen (fullständig sökväg, körbar för nodens användare)";
    match path.as_deref().map(|p| (p, std::fs::metadata(p))) {
        Some((p, Ok(m))) if m.is_file() && m.permissions().mode() & 0o111 != 0 => line(
            C,
            Outcome::Ok,
            format!("{} finns och är körbart", p.display()),
        ),
        Some((p, Ok(_))) => fail(
            C,
            format!("{} är inte ett körbart program", p.display()),
            fix,
        ),
        Some((p, Err(e))) => fail(C, format!("{}: {e}", p.display()), fix),
        None => fail(C, format!("{program} finns inte i PATH"), fix),
    }
}
