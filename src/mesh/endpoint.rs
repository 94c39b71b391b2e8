//! The node's QUIC endpoint: server and client in one, on a socket the caller bound, with
//! the node key's certificate, the roster's admission in both TLS roles, and the settings
//! of [`super::transport_config`] and [`super::server_config`].

use std::sync::Arc;

use reservnod_proto::NodeKey;

use super::tls::{self, NodeIdentity};
use super::{server_config, transport_config};
use crate::node::Admission;

/// A QUIC endpoint on `socket` that accepts and dials only nodes `admission` admits.
pub fn endpoint(
    node: &NodeKey,
    admission: Arc<Admission>,
    socket: std::net::UdpSocket,
) -> Result<quinn::Endpoint, String> {
    let identity = NodeIdentity::new(node).map_err(|e| e.to_string())?;
    let (server_tls, client_tls) =
        tls::rustls_configs(&identity, admission).map_err(|e| e.to_string())?;
    let server_crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).map_err(|e| e.to_string())?;
    let client_crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).map_err(|e| e.to_string())?;
    let server_config = server_config(Arc::new(server_crypto));
    let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
    client_config.transport_config(transport_config());
    let local = socket.local_addr().ok();
    let mut endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| match local {
        Some(addr) => format!("cannot start QUIC on {addr}: {e}"),
        None => format!("cannot start QUIC: {e}"),
    })?;
    endpoint.set_default_client_config(client_config);
    Ok(endpoint)
}
