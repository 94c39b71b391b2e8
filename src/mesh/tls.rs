//! Mutual TLS for the mesh: each node presents a self-signed certificate whose key is its
//! ed25519 node key, and each side accepts the other only if that key is a non-revoked node
//! of its current roster (Syncthing's device-ID idea with the roster as the register).
//!
//! The certificate is only a carrier for the key: no chain, names or dates are trusted. The
//! handshake signature proves possession of the key; the node's [`Admission`] decides admission.

use std::sync::Arc;

use reservnod_proto::{NodeId, NodeKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::node::Admission;

/// The ALPN protocol id; a peer without it is refused in the handshake.
pub const ALPN: &[u8] = b"reservnod/1";
/// The name every node's certificate carries and every client asks for (not checked).
pub const SERVER_NAME: &str = "reservnod";

/// Why the TLS setup failed, or why a peer certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The node key could not be turned into a certificate.
    #[error("cannot make the node certificate: {0}")]
    Certificate(String),
    /// rustls or quinn refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Which run of a node a certificate belongs to: its hash. Each process start makes a new
/// certificate (a random serial), and the handshake proves it is the node's, so two
/// connections with different instances mean the node restarted in between.
pub fn instance_of(cert: &CertificateDer<'_>) -> [u8; 32] {
    *blake3::hash(cert.as_ref()).as_bytes()
}

/// The ed25519 key of a certificate, read by a real X.509 parser (never by searching bytes:
/// the key the handshake signature is checked against must be the key admitted).
pub fn node_id_of(cert: &CertificateDer<'_>) -> Result<NodeId, String> {
    let (rest, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let spki = parsed.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return Err("certificate key is not ed25519".into());
    }
    let key: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| "ed25519 key is not 32 bytes".to_string())?;
    Ok(NodeId(key))
}

/// The node id of an established connection's peer (the key of the certificate it
/// presented; the verifier already admitted it) and which run of it this is
/// ([`instance_of`]).
pub fn peer_identity(conn: &quinn::Connection) -> Result<(NodeId, [u8; 32]), String> {
    let identity = conn.peer_identity().ok_or("no peer certificate")?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| "unexpected peer identity type")?;
    let cert = certs.first().ok_or("empty certificate chain")?;
    Ok((node_id_of(cert)?, instance_of(cert)))
}

/// A node's certificate and private key, for both TLS roles.
pub struct NodeIdentity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl NodeIdentity {
    /// A self-signed certificate carrying the node key.
    pub fn new(node: &NodeKey) -> Result<Self, TlsError> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let signing = ed25519_dalek::SigningKey::from_bytes(&node.secret_bytes());
        let pkcs8 = signing
            .to_pkcs8_der()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let key_pair = rcgen::KeyPair::try_from(pkcs8.as_bytes())
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        // A fresh random serial each time the identity is made (once per process start): the
        // certificate then names this run of the node, so a peer tells a restarted node's new
        // connection from a second live one (see `instance_of`).
        let mut serial = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let identity = NodeIdentity {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()),
        };
        debug_assert_eq!(node_id_of(&identity.cert), Ok(node.id()));
        Ok(identity)
    }
}

/// Verifies a peer in either role: its certificate key must be admitted, and its handshake
/// signature must verify with that key (TLS 1.3, ed25519 only).
#[derive(Debug)]
struct PeerVerifier {
    admission: Arc<Admission>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    /// QUIC is TLS 1.3 only.
    fn tls12_refused() -> rustls::Error {
        rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic)
    }
    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    /// Node keys are ed25519, so that is the only handshake signature accepted.
    fn schemes() -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
    fn admit(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let node = node_id_of(end_entity).map_err(rustls::Error::General)?;
        self.admission.check(&node).map_err(|reason| {
            tracing::warn!(node = %node, %reason, "refused a peer in the TLS handshake");
            rustls::Error::General(reason)
        })
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.admit(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::tls12_refused())
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.admit(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::tls12_refused())
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

/// The one crypto provider: ring, chosen explicitly (with two providers compiled in and none
/// chosen, rustls panics at run time).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configurations for both roles, with ALPN `reservnod/1` and TLS 1.3 only.
pub fn rustls_configs(
    identity: &NodeIdentity,
    admission: Arc<Admission>,
) -> Result<(rustls::ServerConfig, rustls::ClientConfig), TlsError> {
    let provider = provider();
    let verifier = Arc::new(PeerVerifier {
        admission,
        algorithms: provider.signature_verification_algorithms,
    });
    let key = || PrivateKeyDer::Pkcs8(identity.key.clone_key());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(vec![identity.cert.clone()], key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    // No session resumption either way: a resumed handshake skips the certificate verifier,
    // and with it the roster check, so a node revoked since the last session would get in.
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![identity.cert.clone()], key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.resumption = rustls::client::Resumption::disabled();
    Ok((server, client))
}
