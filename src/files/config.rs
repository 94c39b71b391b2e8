//! The daemon's configuration: a TOML file, validated into a [`Config`] with every default
//! spelled out here. A bad file gets one error that names the key and what is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::limits::{
    RECONCILE_INTERVAL, RECONCILE_INTERVAL_MAX, RECONCILE_INTERVAL_MIN, STATIC_PEERS_MAX,
};

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error (said in the message, so not also a source).
        cause: std::io::Error,
    },
    /// The TOML does not parse or a key has a wrong value (the message names the key).
    #[error("configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The file as written (every key optional except `data_dir`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: PathBuf,
    listen: Option<SocketAddr>,
    #[serde(default)]
    static_peers: Vec<SocketAddr>,
    discovery: Option<bool>,
    roster_file: Option<PathBuf>,
    http: Option<HttpFile>,
    log: Option<String>,
    unit_unreachable_after_secs: Option<u64>,
    clock_skew_warn_ms: Option<u64>,
    discovery_port: Option<u16>,
    payment_days: Option<u32>,
    escalation_command: Option<Vec<String>>,
    reconcile_interval_secs: Option<u64>,
    paper: Option<PaperFile>,
    retention: Option<RetentionFile>,
}

/// `[retention]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    purge_after_days: Option<u32>,
}

/// The most days `retention.purge_after_days` may wait (ten years: a longer wait is
/// keeping, not a purge).
pub const PURGE_AFTER_DAYS_MAX: u32 = 3_650;

/// `[retention] purge_after_days`: none (the default) means this node never purges.
fn retention_days(file: Option<RetentionFile>) -> Result<Option<u32>, String> {
    match file.and_then(|r| r.purge_after_days) {
        Some(d) if d > PURGE_AFTER_DAYS_MAX => Err(format!(
            "retention.purge_after_days: must be 0 to {PURGE_AFTER_DAYS_MAX} (leave it out to never purge)"
        )),
        days => Ok(days),
    }
}

/// `[paper]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperFile {
    dir: Option<PathBuf>,
    every_minutes: Option<u64>,
}

/// How often the paper fallback writes its sheet, if the config sets no other time.
pub const DEFAULT_PAPER_EVERY_MINUTES: u64 = 15;

/// The paper fallback (issue 13 §4): while an outage is declared, the active patients'
/// sheet is written to a folder every few minutes, to print if the node itself fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperConfig {
    /// The folder the sheet is written to (made if missing).
    pub dir: PathBuf,
    /// How often.
    pub every: Duration,
}

impl PaperConfig {
    fn read(file: PaperFile, base: &Path) -> Result<Option<PaperConfig>, String> {
        let every = file.every_minutes.unwrap_or(DEFAULT_PAPER_EVERY_MINUTES);
        if !(1..=24 * 60).contains(&every) {
            return Err("paper.every_minutes: must be 1 to 1440".into());
        }
        let Some(dir) = file.dir else {
            if file.every_minutes.is_some() {
                return Err(
                    "paper.every_minutes: set paper.dir too (the folder for the sheet), or the paper fallback stays off".into(),
                );
            }
            return Ok(None);
        };
        if dir.as_os_str().is_empty() {
            return Err("paper.dir: give a folder, e.g. \"/var/lib/reservnod/papper\"".into());
        }
        Ok(Some(PaperConfig {
            dir: base.join(dir),
            every: Duration::from_secs(every * 60),
        }))
    }
}

/// `http` as written: an address alone, or a table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HttpFile {
    Address(SocketAddr),
    Table(HttpTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTable {
    listen: Option<SocketAddr>,
    #[serde(default)]
    names: Vec<String>,
    tls: Option<TlsFile>,
    idle_timeout_mins: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TlsFile {
    Mode(String),
    Pem { cert: PathBuf, key: PathBuf },
}

/// The web interface's address by default (loopback only).
pub const DEFAULT_HTTP: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7480);
/// Minutes without activity before a web session ends, if the config sets none.
pub const DEFAULT_IDLE_TIMEOUT_MINS: u64 = 20;
/// Host names (and addresses) the web interface may be reached by, at most.
pub const HTTP_NAMES_MAX: usize = 32;

/// The staff's web interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where it listens (TCP).
    pub listen: SocketAddr,
    /// Names and addresses accepted in the `Host` header beside the listen address (and
    /// `localhost` on a loopback address): what staff type in the browser.
    pub names: Vec<String>,
    /// TLS, required on any address but loopback.
    pub tls: HttpTls,
    /// A session with no activity for this long ends.
    pub idle_timeout: Duration,
}

/// The web interface's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpTls {
    /// Plain HTTP (loopback only).
    None,
    /// The node's own self-signed certificate, made once in the data directory; `reservnod
    /// status` prints its SHA-256 fingerprint.
    SelfSigned,
    /// A certificate chain and key in PEM files that IT provides (e.g. from the region's CA).
    Pem {
        /// The certificate chain.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

impl HttpConfig {
    fn read(file: HttpFile, base: &Path) -> Result<HttpConfig, String> {
        let table = match file {
            HttpFile::Address(a) => HttpTable {
                listen: Some(a),
                names: Vec::new(),
                tls: None,
                idle_timeout_mins: None,
            },
            HttpFile::Table(t) => t,
        };
        let listen = table.listen.unwrap_or(DEFAULT_HTTP);
        let tls = match table.tls {
            None => HttpTls::None,
            Some(TlsFile::Mode(m)) if m == "self" => HttpTls::SelfSigned,
            Some(TlsFile::Mode(m)) if m == "none" => HttpTls::None,
            Some(TlsFile::Mode(m)) => {
                return Err(format!(
                    "http.tls: '{m}' is not \"self\", \"none\" or {{ cert = \"…\", key = \"…\" }}"
                ))
            }
            Some(TlsFile::Pem { cert, key }) => HttpTls::Pem {
                cert: base.join(cert),
                key: base.join(key),
            },
        };
        if !listen.ip().is_loopback() && tls == HttpTls::None {
            return Err(format!(
                "http.listen: {listen} is not a loopback address, so the web interface needs TLS: set http.tls = \"self\" or the region's certificate"
            ));
        }
        if table.names.len() > HTTP_NAMES_MAX {
            return Err(format!("http.names: at most {HTTP_NAMES_MAX} names"));
        }
        for n in &table.names {
            let ok = !n.is_empty()
                && n.len() <= 253
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
            if !ok {
                return Err(format!(
                    "http.names: '{n}' is not a host name or address (e.g. avd12.region.se or 10.1.2.3)"
                ));
            }
        }
        let idle = table.idle_timeout_mins.unwrap_or(DEFAULT_IDLE_TIMEOUT_MINS);
        if !(1..=12 * 60).contains(&idle) {
            return Err("http.idle_timeout_mins: must be 1 to 720".into());
        }
        Ok(HttpConfig {
            listen,
            names: table.names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            tls,
            idle_timeout: Duration::from_secs(idle * 60),
        })
    }
}

/// The UDP port reservnod listens on by default.
pub const DEFAULT_PORT: u16 = 7420;
/// The UDP port of the broadcast announcements by default.
pub const DEFAULT_DISCOVERY_PORT: u16 = 7421;

/// Calendar days after "ready for discharge" before the municipality pays, if the config
/// sets none (3 in Blekinge).
pub const DEFAULT_PAYMENT_DAYS: u32 = 3;
/// A peer whose clock differs by more than this is warned about, if the config sets none.
pub const DEFAULT_CLOCK_SKEW_WARN_MS: u64 = 60_000;
/// A unit none of whose nodes was reachable for this long is flagged, if the config sets
/// no other time.
pub const DEFAULT_UNIT_UNREACHABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

/// The validated configuration of one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (absolute), when it was read by [`Config::load`].
    pub source: Option<PathBuf>,
    /// The node's data directory (`reservnod node init` made it).
    pub data_dir: PathBuf,
    /// Where QUIC listens (UDP).
    pub listen: SocketAddr,
    /// Peers dialled and kept connected.
    pub static_peers: Vec<SocketAddr>,
    /// LAN discovery (mDNS and UDP broadcast) on or off.
    pub discovery: bool,
    /// UDP port of the broadcast announcements.
    pub discovery_port: u16,
    /// Where a newer roster can be dropped for the node to pick up and spread
    /// (`DIR/roster-drop.rsv` by default; never the installed `DIR/roster.rsv`).
    pub roster_file: PathBuf,
    /// The staff's web interface: off without an `http` key; on loopback by default.
    pub http: Option<HttpConfig>,
    /// Log filter, e.g. `info` or `reservnod=debug`.
    pub log: String,
    /// A unit none of whose nodes was reachable for this long is flagged as unreachable.
    pub unit_unreachable_after: Duration,
    /// A peer whose clock differs by more than this is warned about.
    pub clock_skew_warn: Duration,
    /// Calendar days after "ready for discharge" before the municipality pays (3 in Blekinge).
    pub payment_days: u32,
    /// Program and arguments run once per escalation of an unread message (no patient data
    /// is passed: see `care::escalation`).
    pub escalation_command: Option<Vec<String>>,
    /// How often a dialled connection reconciles with its peer (30 s by default).
    pub reconcile_interval: Duration,
    /// The paper fallback: off without `paper.dir`.
    pub paper: Option<PaperConfig>,
    /// `[retention] purge_after_days`: the days after a purge decision before this node
    /// removes the bodies it covers (PROTOCOL.md §5.7). None, the default: never.
    pub purge_after_days: Option<u32>,
}

/// The roster drop file in the data directory when the config names none.
pub const DEFAULT_ROSTER_DROP: &str = "roster-drop.rsv";

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        let mut config = Config::parse(&text, path)?;
        config.source = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        Ok(config)
    }

    /// Validates configuration text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            // toml's message names the key and shows the line; keep it on one line.
            invalid(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let data_dir = base.join(&file.data_dir);
        if file.static_peers.len() > STATIC_PEERS_MAX {
            return Err(invalid(format!(
                "static_peers: at most {STATIC_PEERS_MAX} peers"
            )));
        }
        let log = file.log.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(invalid(format!(
                "log: '{log}' is not a log level or filter (try info, debug, warn)"
            )));
        }
        let unreachable = file
            .unit_unreachable_after_secs
            .unwrap_or(DEFAULT_UNIT_UNREACHABLE_AFTER.as_secs());
        if unreachable == 0 {
            return Err(invalid(
                "unit_unreachable_after_secs: must be at least 1".into(),
            ));
        }
        let listen = file
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)));
        let discovery_port = file.discovery_port.unwrap_or(DEFAULT_DISCOVERY_PORT);
        if discovery_port == 0 || discovery_port == listen.port() {
            return Err(invalid(
                "discovery_port: must be a port other than 0 and the listen port".into(),
            ));
        }
        let payment_days = file.payment_days.unwrap_or(DEFAULT_PAYMENT_DAYS);
        if !(1..=30).contains(&payment_days) {
            return Err(invalid("payment_days: must be 1 to 30".into()));
        }
        if let Some(cmd) = &file.escalation_command {
            if cmd.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(invalid(
                    "escalation_command: give the program first, e.g. [\"/usr/local/bin/larm\", \"--avdelning\"]".into(),
                ));
            }
        }
        let roster_file = file
            .roster_file
            .map(|p| base.join(p))
            .unwrap_or_else(|| data_dir.join(DEFAULT_ROSTER_DROP));
        // The installed roster is rewritten by the node itself; a drop there would be
        // compared with itself.
        let installed = crate::files::datadir::DataDir::new(&data_dir).roster_path();
        if same_file(&roster_file, &installed) {
            return Err(invalid(format!(
                "roster_file: must not be the installed roster {} (the node rewrites it); drop newer rosters in another file, e.g. {}",
                installed.display(),
                data_dir.join(DEFAULT_ROSTER_DROP).display()
            )));
        }
        let reconcile = file
            .reconcile_interval_secs
            .unwrap_or(RECONCILE_INTERVAL.as_secs());
        let (min, max) = (
            RECONCILE_INTERVAL_MIN.as_secs(),
            RECONCILE_INTERVAL_MAX.as_secs(),
        );
        if !(min..=max).contains(&reconcile) {
            return Err(invalid(format!(
                "reconcile_interval_secs: must be {min} to {max}"
            )));
        }
        let http = file
            .http
            .map(|h| HttpConfig::read(h, base))
            .transpose()
            .map_err(invalid)?;
        let paper = match file.paper {
            Some(p) => PaperConfig::read(p, base).map_err(invalid)?,
            None => None,
        };
        let purge_after_days = retention_days(file.retention).map_err(invalid)?;
        Ok(Config {
            source: None,
            paper,
            purge_after_days,
            reconcile_interval: Duration::from_secs(reconcile),
            payment_days,
            escalation_command: file.escalation_command.map(|cmd| {
                // A relative program path is relative to the configuration file.
                let mut cmd = cmd;
                if cmd[0].contains('/') && !Path::new(&cmd[0]).is_absolute() {
                    cmd[0] = base.join(&cmd[0]).to_string_lossy().into_owned();
                }
                cmd
            }),
            roster_file,
            data_dir,
            listen,
            static_peers: file.static_peers,
            discovery: file.discovery.unwrap_or(true),
            discovery_port,
            http,
            log,
            unit_unreachable_after: Duration::from_secs(unreachable),
            clock_skew_warn: Duration::from_millis(
                file.clock_skew_warn_ms
                    .unwrap_or(DEFAULT_CLOCK_SKEW_WARN_MS),
            ),
        })
    }
}

/// Whether two paths name one file: the same path once `.` and `..` are resolved, or the
/// same file on disk.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::path::Component;
    let lexical = |p: &Path| {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    };
    if lexical(a) == lexical(b) {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/reservnod/node.toml"))
    }

    #[test]
    fn defaults_are_spelled_out() {
        let c = parse("data_dir = \"/var/lib/reservnod\"").expect("minimal config");
        assert_eq!(c.listen.port(), DEFAULT_PORT);
        assert!(c.discovery);
        assert_eq!(
            c.roster_file,
            PathBuf::from("/var/lib/reservnod/roster-drop.rsv")
        );
        assert_eq!(c.reconcile_interval, Duration::from_secs(30));
        assert!(c.http.is_none());
        assert!(
            c.paper.is_none(),
            "the paper fallback is off without a folder"
        );
        let paper = parse("data_dir = \"d\"\n[paper]\ndir = \"papper\"")
            .expect("the paper fallback with its default")
            .paper
            .expect("on");
        assert_eq!(paper.dir, PathBuf::from("/etc/reservnod/papper"));
        assert_eq!(paper.every, Duration::from_secs(15 * 60));
        let every = parse("data_dir = \"d\"\n[paper]\ndir = \"/srv/p\"\nevery_minutes = 5")
            .expect("every 5 minutes")
            .paper
            .expect("on");
        assert_eq!(
            (every.dir, every.every),
            (PathBuf::from("/srv/p"), Duration::from_secs(300))
        );
        assert!(parse("data_dir = \"d\"\n[paper]")
            .expect("an empty table")
            .paper
            .is_none());
        assert_eq!(c.purge_after_days, None, "purging is off by default");
        assert_eq!(
            parse("data_dir = \"d\"\n[retention]")
                .expect("an empty table")
                .purge_after_days,
            None
        );
        for days in [0, 30, PURGE_AFTER_DAYS_MAX] {
            let text = format!("data_dir = \"d\"\n[retention]\npurge_after_days = {days}");
            assert_eq!(parse(&text).expect(&text).purge_after_days, Some(days));
        }
        let on = parse("data_dir = \"d\"\n[http]").expect("the web interface with defaults");
        let h = on.http.expect("on");
        assert_eq!(h.listen, DEFAULT_HTTP);
        assert_eq!(h.tls, HttpTls::None);
        assert_eq!(h.idle_timeout, Duration::from_secs(20 * 60));
        let t = parse(
            "data_dir = \"d\"\n[http]\nlisten = \"0.0.0.0:8443\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }\nnames = [\"Avd12.region.se\"]\nidle_timeout_mins = 5",
        )
        .expect("a LAN bind with TLS");
        let th = t.http.expect("on");
        assert_eq!(
            th.tls,
            HttpTls::Pem {
                cert: "/etc/reservnod/c.pem".into(),
                key: "/etc/reservnod/k.pem".into()
            }
        );
        assert_eq!(th.names, ["avd12.region.se"]);
        assert_eq!(th.idle_timeout, Duration::from_secs(300));
        let old = parse("data_dir = \"d\"\nhttp = \"127.0.0.1:9000\"").expect("an address alone");
        assert_eq!(old.http.map(|h| h.listen.port()), Some(9000));
        let rel =
            parse("data_dir = \"data\"\nroster_file = \"drop/roster.rsv\"").expect("relative");
        assert_eq!(rel.data_dir, PathBuf::from("/etc/reservnod/data"));
        assert_eq!(
            rel.roster_file,
            PathBuf::from("/etc/reservnod/drop/roster.rsv")
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("data_dir = \"d\"\nlisten = \"not an address\"", "listen"),
            ("data_dir = \"d\"\nlistn = \"127.0.0.1:1\"", "listn"),
            ("data_dir = \"d\"\ndiscovery = \"yes\"", "discovery"),
            ("data_dir = \"d\"\nlog = \"[[[\"", "log"),
            (
                "data_dir = \"d\"\nunit_unreachable_after_secs = 0",
                "unit_unreachable_after_secs",
            ),
            ("listen = \"127.0.0.1:1\"", "data_dir"),
            ("data_dir = \"d\"\npayment_days = 0", "payment_days"),
            (
                "data_dir = \"d\"\nescalation_command = []",
                "escalation_command",
            ),
            (
                "data_dir = \"d\"\nroster_file = \"d/./roster.rsv\"",
                "roster_file",
            ),
            (
                "data_dir = \"d\"\n[http]\nlisten = \"0.0.0.0:8443\"",
                "http.listen",
            ),
            ("data_dir = \"d\"\n[http]\ntls = \"yes\"", "http.tls"),
            (
                "data_dir = \"d\"\n[http]\nidle_timeout_mins = 0",
                "http.idle_timeout_mins",
            ),
            ("data_dir = \"d\"\n[http]\nnames = [\"a b\"]", "http.names"),
            (
                "data_dir = \"d\"\nreconcile_interval_secs = 0",
                "reconcile_interval_secs",
            ),
            (
                "data_dir = \"d\"\n[paper]\ndir = \"p\"\nevery_minutes = 0",
                "paper.every_minutes",
            ),
            (
                "data_dir = \"d\"\n[paper]\ndir = \"p\"\nevery_minutes = 1441",
                "paper.every_minutes",
            ),
            ("data_dir = \"d\"\n[paper]\nevery_minutes = 5", "paper.dir"),
            ("data_dir = \"d\"\n[paper]\ndir = \"\"", "paper.dir"),
            ("data_dir = \"d\"\n[paper]\nfolder = \"p\"", "folder"),
            ("data_dir = \"d\"\n[paper]\ndir = 5", "dir"),
            (
                "data_dir = \"d\"\n[retention]\npurge_after_days = 3651",
                "retention.purge_after_days",
            ),
            (
                "data_dir = \"d\"\n[retention]\npurge_after_days = -1",
                "purge_after_days",
            ),
            ("data_dir = \"d\"\n[retention]\ndays = 3", "days"),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
