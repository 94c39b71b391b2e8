//! `reservnod doctor`: a node set up as documented passes every check (exit 0), with its
//! daemon running too (the port held by this node, the skew to its peer); each failure
//! names what is wrong and what to do, and makes the exit code 1: a config that does not
//! parse, a data directory others can read, a key file with the wrong mode, a node not in
//! the roster, a revoked node, a port held by another program, an escalation command that
//! does not exist or is not executable, no way to find peers.

mod support;

use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{bind, region, start_node};

/// A free loopback UDP port (bound and let go).
fn free_addr() -> std::net::SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

fn write_config(path: &Path, data: &Path, listen: std::net::SocketAddr, extra: &str) {
    std::fs::write(
        path,
        format!(
            "data_dir = \"{}\"\nlisten = \"{listen}\"\nstatic_peers = [\"127.0.0.1:7420\"]\ndiscovery = false\nlog = \"warn\"\n{extra}",
            data.display()
        ),
    )
    .expect("write config");
}

/// Runs doctor --json: (exit code, checks by name → (outcome, found, fix)).
fn doctor(config: &Path) -> (i32, Vec<(String, String, String, String)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .output()
        .expect("run doctor");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let checks = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().expect("name").to_string(),
                c["outcome"].as_str().expect("outcome").to_string(),
                c["found"].as_str().expect("found").to_string(),
                c["fix"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(v["ok"], out.status.code() == Some(0));
    (out.status.code().expect("exit code"), checks)
}

fn outcome<'a>(
    checks: &'a [(String, String, String, String)],
    name: &str,
) -> &'a (String, String, String, String) {
    checks
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

fn assert_only_failure(
    checks: &[(String, String, String, String)],
    name: &str,
    found: &str,
    fix: &str,
) {
    let c = outcome(checks, name);
    assert_eq!(c.1, "fail", "{name}: {checks:?}");
    assert!(c.2.contains(found), "{name} found: {}", c.2);
    assert!(c.3.contains(fix), "{name} fix: {}", c.3);
    let others: Vec<_> = checks
        .iter()
        .filter(|c| c.0 != name && c.1 == "fail")
        .collect();
    assert!(others.is_empty(), "only {name} fails: {others:?}");
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

struct Setup {
    _r: support::TestRegion,
    dir: PathBuf,
    config: PathBuf,
    listen: std::net::SocketAddr,
}

fn setup(extra: &str) -> Setup {
    let r = region(1, 1);
    let dir = r.nodes[0].dir.clone();
    let config = r.root.path().join("node.toml");
    let listen = free_addr();
    write_config(&config, &dir, listen, extra);
    Setup {
        dir,
        config,
        listen,
        _r: r,
    }
}

#[test]
fn a_node_set_up_as_documented_passes_and_each_failure_says_what_to_do() {
    let hook = tempfile::NamedTempFile::new().expect("hook");
    chmod(hook.path(), 0o755);
    let s = setup(&format!(
        "escalation_command = [\"{}\"]\n",
        hook.path().display()
    ));
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    for name in [
        "konfiguration",
        "datakatalog",
        "nycklar",
        "roster",
        "rosterns ålder",
        "klocka",
        "port",
        "fasta grannar",
        "upptäckt",
        "diskutrymme",
        "eskaleringskommando",
    ] {
        let c = outcome(&checks, name);
        assert!(matches!(c.1.as_str(), "ok" | "skip" | "warn"), "{c:?}");
    }
    assert_eq!(outcome(&checks, "upptäckt").1, "skip");

    // The text form: one line per check, each failure with what to do.
    let text = Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(["doctor", "--config"])
        .arg(&s.config)
        .output()
        .expect("run");
    assert!(text.status.success());
    assert_eq!(
        String::from_utf8_lossy(&text.stdout).lines().count(),
        checks.len() + 1
    );

    // The escalation command not executable, then gone.
    chmod(hook.path(), 0o644);
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "eskaleringskommando",
        "inte ett körbart",
        "escalation_command",
    );
    let gone = hook.path().to_path_buf();
    drop(hook);
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "eskaleringskommando",
        &gone.display().to_string(),
        "installera",
    );

    // The listen port held by another program.
    let s = setup("");
    let squatter = UdpSocket::bind(s.listen).expect("bind");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "port", "annat program", "ss -ulpn");
    drop(squatter);

    // Others may read the data directory; a key file others may read.
    chmod(&s.dir, 0o755);
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "datakatalog", "755", "chmod 700");
    chmod(&s.dir, 0o700);
    chmod(&s.dir.join("unit.key"), 0o644);
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "nycklar",
        "unit.key har rättigheterna 644",
        "chmod 600",
    );
    chmod(&s.dir.join("unit.key"), 0o600);
    assert_eq!(doctor(&s.config).0, 0);

    // No way to find a peer.
    let c = s.config.clone();
    std::fs::write(
        &c,
        format!(
            "data_dir = \"{}\"\nlisten = \"{}\"\ndiscovery = false\n",
            s.dir.display(),
            s.listen
        ),
    )
    .expect("write");
    let (code, checks) = doctor(&c);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "fasta grannar", "hittar aldrig", "static_peers");

    // A config that does not parse: said with its key, the rest not checked.
    std::fs::write(&c, "data_dir = \"x\"\nlisten = \"not an address\"\n").expect("write");
    let (code, checks) = doctor(&c);
    assert_eq!(code, 1);
    let first = &checks[0];
    assert_eq!(
        (first.0.as_str(), first.1.as_str()),
        ("konfiguration", "fail")
    );
    assert!(first.2.contains("listen"), "{first:?}");
    assert!(checks[1..].iter().all(|c| c.1 == "skip"), "{checks:?}");
}

#[test]
fn a_node_not_in_the_roster_or_revoked_fails_the_roster_check() {
    // The stranger: set up with the roster, never admitted.
    let r = region(1, 1);
    let config = r.root.path().join("node.toml");
    write_config(&config, &r.nodes[1].dir, free_addr(), "");
    let (code, checks) = doctor(&config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "roster", "finns inte i roster", "admin node add");

    // The admitted node, revoked.
    let mut admin = r.admin;
    admin
        .revoke_node(r.nodes[0].id, "stulen", None, reservnod::clock::now_ms())
        .expect("revoke");
    reservnod::files::datadir::DataDir::new(&r.nodes[0].dir)
        .install_roster(&admin.signed().expect("signed"))
        .expect("install");
    write_config(&config, &r.nodes[0].dir, free_addr(), "");
    let (code, checks) = doctor(&config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "roster", "spärrad", "kontakta administratören");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_daemon_running_the_port_is_its_own_and_the_skew_to_its_peer_is_shown() {
    let r = region(2, 0);
    let (sa, aa) = bind();
    let (sb, ab) = bind();
    let a = start_node(&r.nodes[0].dir, sa, aa, &[ab]).await;
    let b = start_node(&r.nodes[1].dir, sb, ab, &[aa]).await;
    support::wait_for(
        &r.nodes[0].dir,
        std::time::Duration::from_secs(60),
        "the peer's clock offset",
        |s| s.peers.iter().any(|p| p.clock_offset_ms.is_some()),
    );
    let config = r.root.path().join("node.toml");
    write_config(&config, &r.nodes[0].dir, aa, "");
    let (code, checks) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || doctor(&config))
            .await
            .expect("join")
    };
    assert_eq!(code, 0, "{checks:#?}");
    assert!(
        outcome(&checks, "port")
            .2
            .contains("hålls av den här noden"),
        "{checks:?}"
    );
    assert!(
        outcome(&checks, "klocka")
            .2
            .contains("avvikelsen mot 1 grannar"),
        "{checks:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[test]
fn the_packaged_config_parses_with_the_package_paths() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/node.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    let c = reservnod::files::config::Config::parse(&text, &path).expect("the conffile parses");
    assert_eq!(c.data_dir, Path::new("/var/lib/reservnod"));
    assert!(c.roster_file.starts_with("/var/lib/reservnod"));
    assert_eq!(c.listen.port(), 7420);
    assert!(c.http.as_ref().is_none_or(|h| h.listen.ip().is_loopback()));
}

/// A certificate for `names` valid from `from_days` to `to_days` days from now, and its key
/// (PEM, as IT would hand them over).
fn cert_pair(names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
    let now_s = (reservnod::clock::now_ms() / 1000) as i64;
    let at = |days: i64| {
        rcgen::date_time_ymd(1970, 1, 1)
            + std::time::Duration::from_secs((now_s + days * 86_400) as u64)
    };
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.not_before = at(from_days);
    params.not_after = at(to_days);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

/// Writes IT's certificate and key (key 0600) and a config that serves them on `names`.
fn with_pem(s: &Setup, cert: &str, key: &str, names: &str) {
    let dir = s.config.parent().expect("dir");
    let (c, k) = (dir.join("web-cert.pem"), dir.join("web-key.pem"));
    std::fs::write(&c, cert).expect("cert");
    let _ = std::fs::remove_file(&k);
    std::fs::write(&k, key).expect("key");
    chmod(&k, 0o600);
    write_config(
        &s.config,
        &s.dir,
        s.listen,
        &format!(
            "[http]\nlisten = \"127.0.0.1:0\"\nnames = [{names}]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
            c.display(),
            k.display()
        ),
    );
}

#[test]
fn the_web_certificate_is_checked_for_its_key_its_names_and_its_expiry() {
    // No [http]: not checked.
    let s = setup("");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    assert_eq!(outcome(&checks, "webbcertifikat").1, "skip");

    // The node's own: not made before the first start, then made and good until 2049.
    write_config(
        &s.config,
        &s.dir,
        s.listen,
        "[http]\nlisten = \"127.0.0.1:0\"\ntls = \"self\"\n",
    );
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    let c = outcome(&checks, "webbcertifikat");
    assert_eq!(c.1, "ok");
    assert!(c.2.contains("görs när noden startar"), "{c:?}");
    let config = reservnod::files::config::Config::load(&s.config).expect("config");
    let served = reservnod::files::webcert::load(&s.dir, config.http.as_ref().expect("http"))
        .expect("made")
        .expect("tls");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    let c = outcome(&checks, "webbcertifikat");
    assert_eq!(c.1, "ok", "{c:?}");
    assert!(c.2.contains("gäller till 2049-12-31"), "{c:?}");
    assert!(c.2.contains(&served.fingerprint), "{c:?}");
    // Its key left open to others: the daemon would refuse it too.
    let own_key = s.dir.join("web/key.pem");
    chmod(&own_key, 0o644);
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "webbcertifikat", "644", "chmod 600");
    chmod(&own_key, 0o600);

    // IT's certificate for the ward's name, a year left: ok.
    let (cert, key) = cert_pair(&["avd12.region.se"], -1, 365);
    with_pem(&s, &cert, &key, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    let c = outcome(&checks, "webbcertifikat");
    assert_eq!(c.1, "ok", "{c:?}");
    assert!(c.2.contains("nyckeln hör till det"), "{c:?}");

    // A name staff type that the certificate does not cover: a warning, exit 0.
    with_pem(&s, &cert, &key, "\"avd12.region.se\", \"10.1.2.3\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    let c = outcome(&checks, "webbcertifikat");
    assert_eq!(c.1, "warn", "{c:?}");
    assert!(c.2.contains("gäller inte för 10.1.2.3"), "{c:?}");
    assert!(!c.2.contains("avd12"), "{c:?}");
    assert!(c.3.contains("beställ ett nytt certifikat"), "{c:?}");

    // Ten days left: a warning that says when and what to do.
    let (cert10, key10) = cert_pair(&["avd12.region.se"], -300, 10);
    with_pem(&s, &cert10, &key10, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 0, "{checks:#?}");
    let c = outcome(&checks, "webbcertifikat");
    assert_eq!(c.1, "warn", "{c:?}");
    assert!(
        c.2.contains("om 9 dagar") || c.2.contains("om 10 dagar"),
        "{c:?}"
    );
    assert!(c.3.contains("beställ ett nytt certifikat"), "{c:?}");

    // Expired yesterday: fails.
    let (old, old_key) = cert_pair(&["avd12.region.se"], -400, -1);
    with_pem(&s, &old, &old_key, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "webbcertifikat",
        "gick ut",
        "beställ ett nytt certifikat",
    );

    // Not valid yet (a wrong clock or a certificate dated ahead): fails.
    let (ahead, ahead_key) = cert_pair(&["avd12.region.se"], 3, 400);
    with_pem(&s, &ahead, &ahead_key, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "webbcertifikat",
        "gäller först från",
        "timedatectl",
    );

    // The key of another certificate: fails, whatever the dates.
    with_pem(&s, &cert, &key10, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "webbcertifikat",
        "hör inte till",
        "samma beställning",
    );

    // A certificate file that is no certificate, a key file that is no key, a missing file.
    with_pem(&s, "not a certificate\n", &key, "\"avd12.region.se\"");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "webbcertifikat", "no certificate", "PEM-filer");
    with_pem(
        &s,
        &cert,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "\"avd12.region.se\"",
    );
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(&checks, "webbcertifikat", "web-key.pem", "PEM-filer");
    with_pem(&s, &cert, &key, "\"avd12.region.se\"");
    std::fs::remove_file(s.config.parent().expect("dir").join("web-cert.pem")).expect("rm");
    let (code, checks) = doctor(&s.config);
    assert_eq!(code, 1);
    assert_only_failure(
        &checks,
        "webbcertifikat",
        "web-cert.pem",
        "rätta sökvägarna",
    );
}
