//! The web interface's certificate: the node's own self-signed one (made once in the data
//! directory, `web/cert.pem` and the secret `web/key.pem`), or the PEM files IT provides.
//! Its SHA-256 fingerprint is what `reservnod status` prints, so IT can compare it with what
//! the browser shows before anyone trusts it.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::{HttpConfig, HttpTls};
use super::keyfile::{read_bounded, read_secret, write_public, write_secret};

/// The largest certificate or key file read.
const PEM_BYTES_MAX: usize = 256 * 1024;

/// A certificate chain and its key, as PEM.
pub struct WebCertificate {
    /// The chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The private key.
    pub key_pem: Zeroizing<Vec<u8>>,
    /// SHA-256 of the leaf certificate, as browsers show it (`AB:CD:…`).
    pub fingerprint: String,
}

/// Where the node's own certificate and key are kept.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("web");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The SHA-256 fingerprint of the first certificate in `pem`.
pub fn fingerprint(pem: &[u8]) -> Result<String, String> {
    let cert = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or("no certificate in the file")?
        .map_err(|e| format!("the certificate does not read as PEM: {e}"))?;
    let digest = Sha256::digest(cert.as_ref());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The fingerprint of the certificate this configuration serves, if it has one yet (for
/// `status`; makes nothing).
pub fn current_fingerprint(data_dir: &Path, http: &HttpConfig) -> Option<Result<String, String>> {
    let cert = match &http.tls {
        HttpTls::None => return None,
        HttpTls::SelfSigned => self_signed_paths(data_dir).0,
        HttpTls::Pem { cert, .. } => cert.clone(),
    };
    if !cert.exists() {
        return None;
    }
    Some(
        read_bounded(&cert, PEM_BYTES_MAX)
            .map_err(|e| e.to_string())
            .and_then(|b| fingerprint(&b)),
    )
}

/// The certificate to serve with: none without TLS; IT's files; or the node's own, made
/// now if there is none yet (for the configured names, the listen address and localhost).
pub fn load(data_dir: &Path, http: &HttpConfig) -> Result<Option<WebCertificate>, String> {
    let (cert, key) = match &http.tls {
        HttpTls::None => return Ok(None),
        HttpTls::Pem { cert, key } => (cert.clone(), key.clone()),
        HttpTls::SelfSigned => {
            let (cert, key) = self_signed_paths(data_dir);
            if !cert.exists() {
                make_self_signed(http, &cert, &key)?;
            }
            (cert, key)
        }
    };
    let cert_pem = read_bounded(&cert, PEM_BYTES_MAX).map_err(|e| e.to_string())?;
    let key_pem = read_secret(&key).map_err(|e| e.to_string())?;
    let fingerprint = fingerprint(&cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(Some(WebCertificate {
        cert_pem,
        key_pem: Zeroizing::new(key_pem.as_bytes().to_vec()),
        fingerprint,
    }))
}

fn make_self_signed(http: &HttpConfig, cert: &Path, key: &Path) -> Result<(), String> {
    let mut names: Vec<String> = http.names.clone();
    names.push("localhost".into());
    let ip = http.listen.ip();
    if ip.is_unspecified() {
        // Bound to every address: the certificate names each of this machine's.
        if let Ok(interfaces) = if_addrs::get_if_addrs() {
            names.extend(interfaces.iter().map(|i| i.ip().to_string()));
        }
    } else {
        names.push(ip.to_string());
    }
    names.push("127.0.0.1".into());
    names.sort();
    names.dedup();
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect();
    let key_pair = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| format!("cannot make the web certificate: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reservnod");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let c = params
        .self_signed(&key_pair)
        .map_err(|e| format!("cannot make the web certificate: {e}"))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    write_secret(key, &key_pair.serialize_pem()).map_err(|e| e.to_string())?;
    write_public(cert, c.pem().as_bytes()).map_err(|e| e.to_string())?;
    Ok(())
}

/// What `reservnod doctor` learns of the web certificate without starting anything.
#[derive(Debug)]
pub enum WebCertState {
    /// The web interface runs without TLS (loopback only).
    NoTls,
    /// The node's own certificate is not made yet: the daemon makes it at its first start.
    NotYetMade(PathBuf),
    /// The certificate and key read, parse and go together.
    Ready(WebCertInfo),
}

/// The certificate the web interface would serve.
#[derive(Debug)]
pub struct WebCertInfo {
    /// The certificate file.
    pub cert: PathBuf,
    /// Whether it is the node's own (self-signed) one.
    pub self_signed: bool,
    /// Its validity, in seconds since the epoch.
    pub not_before_s: i64,
    /// The end of its validity, in seconds since the epoch.
    pub not_after_s: i64,
    /// SHA-256 of the leaf, as browsers show it.
    pub fingerprint: String,
    /// Configured names (`http.names`) the leaf does not cover: a browser warns for them.
    pub uncovered: Vec<String>,
}

/// Why the web certificate would not serve.
#[derive(Debug, thiserror::Error)]
pub enum WebCertError {
    /// A file is missing or cannot be read (the key may be open to others).
    #[error("{0}")]
    File(#[from] super::keyfile::FileError),
    /// The certificate file holds no certificate or no readable PEM.
    #[error("{path}: {why}")]
    Certificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key file holds no readable private key.
    #[error("{path}: {why}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key is not the certificate's.
    #[error("{key} is not the key of {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// Reads the configured certificate and key as the daemon would, and checks them the way
/// rustls does when the daemon starts (same parser, same key match), without making one.
pub fn inspect(data_dir: &Path, http: &HttpConfig) -> Result<WebCertState, WebCertError> {
    use rustls::pki_types::PrivateKeyDer;
    let (cert, key, self_signed) = match &http.tls {
        HttpTls::None => return Ok(WebCertState::NoTls),
        HttpTls::Pem { cert, key } => (cert.clone(), key.clone(), false),
        HttpTls::SelfSigned => {
            let (cert, key) = self_signed_paths(data_dir);
            if !cert.exists() && !key.exists() {
                return Ok(WebCertState::NotYetMade(cert));
            }
            (cert, key, true)
        }
    };
    let cert_pem = read_bounded(&cert, PEM_BYTES_MAX)?;
    let key_pem = read_secret(&key)?;
    let cert_err = |why: String| WebCertError::Certificate {
        path: cert.clone(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(format!("does not read as PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| cert_err("holds no certificate".into()))?
        .clone();
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| cert_err(format!("not a readable X.509 certificate: {e}")))?;
    let private =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| WebCertError::Key {
            path: key.clone(),
            why: format!("no readable PEM private key: {e}"),
        })?;
    let provider = rustls::crypto::ring::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, private, &provider) {
        Ok(_) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(WebCertError::Mismatch {
                cert: cert.clone(),
                key: key.clone(),
            })
        }
        Err(e) => {
            return Err(WebCertError::Key {
                path: key.clone(),
                why: e.to_string(),
            })
        }
    }
    let uncovered = http
        .names
        .iter()
        .filter(|n| !covers(&parsed, n))
        .cloned()
        .collect();
    Ok(WebCertState::Ready(WebCertInfo {
        self_signed,
        not_before_s: parsed.validity().not_before.timestamp(),
        not_after_s: parsed.validity().not_after.timestamp(),
        fingerprint: fingerprint(&cert_pem).map_err(cert_err)?,
        uncovered,
        cert,
    }))
}

/// Whether the certificate's subject alternative names cover `name` (a host name, with a
/// one-label wildcard, or an address), as a browser checks it.
fn covers(cert: &x509_parser::certificate::X509Certificate<'_>, name: &str) -> bool {
    use x509_parser::extensions::GeneralName;
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<std::net::IpAddr> = name.parse().ok();
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value.general_names.iter().any(|g| match (g, ip) {
        (GeneralName::DNSName(d), None) => {
            let d = d.to_ascii_lowercase();
            match d.strip_prefix("*.") {
                Some(rest) => name
                    .split_once('.')
                    .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
                None => d == name,
            }
        }
        (GeneralName::IPAddress(bytes), Some(ip)) => match ip {
            std::net::IpAddr::V4(v4) => *bytes == v4.octets(),
            std::net::IpAddr::V6(v6) => *bytes == v6.octets(),
        },
        _ => false,
    })
}
