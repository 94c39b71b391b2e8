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
