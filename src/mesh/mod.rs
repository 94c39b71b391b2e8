//! The secure mesh: QUIC (quinn) with mutual TLS (rustls), admission by the roster, LAN
//! discovery and connections.
//!
//! - [`tls`]: node certificates, the verifiers that admit only roster nodes, rustls configs.
//! - [`conn`]: one connection's life: the tokio driver of `reservnod_proto::link`'s machine.
//! - [`discovery`]: mDNS and UDP broadcast announcements (hints to dial, never trust).
//! - [`endpoint`]: the QUIC endpoint (server and client) with the node's TLS configs.
//!
//! The node's state (registry of connections, peer table, roster) is [`crate::node::Node`];
//! the mesh drives it and never imports the daemon.

pub mod conn;
pub mod discovery;
pub mod endpoint;
pub mod tls;

use std::sync::Arc;

/// The application close codes are the link protocol's.
pub use reservnod_proto::link::close;

use crate::limits::{
    CONNECTION_WINDOW_BYTES, IDLE_TIMEOUT, INCOMING_BUFFER_BYTES, INCOMING_BUFFER_TOTAL_BYTES,
    INCOMING_MAX, KEEP_ALIVE, STREAM_WINDOW_BYTES,
};

/// QUIC transport settings, every one spelled out rather than left to quinn's defaults.
pub fn transport_config() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // One control stream per connection, opened by the dialer; a peer cannot open more.
    t.max_concurrent_bidi_streams(1u32.into());
    t.max_concurrent_uni_streams(0u32.into());
    t.stream_receive_window(STREAM_WINDOW_BYTES.into());
    t.receive_window(CONNECTION_WINDOW_BYTES.into());
    t.send_window(u64::from(CONNECTION_WINDOW_BYTES));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT).expect("IDLE_TIMEOUT is a valid idle timeout"),
    ));
    Arc::new(t)
}

/// The server's QUIC settings: the transport above and bounded buffers for connection
/// attempts not yet decided on.
pub fn server_config(crypto: Arc<dyn quinn::crypto::ServerConfig>) -> quinn::ServerConfig {
    let mut c = quinn::ServerConfig::with_crypto(crypto);
    c.transport_config(transport_config());
    c.max_incoming(INCOMING_MAX);
    c.incoming_buffer_size(INCOMING_BUFFER_BYTES);
    c.incoming_buffer_size_total(INCOMING_BUFFER_TOTAL_BYTES);
    c
}

/// Whether quinn closed a connection because the peer broke QUIC's own rules (opened more
/// streams than allowed, overran flow control, sent malformed frames): counted as a
/// protocol violation like a bad frame of ours.
pub fn is_peer_violation(e: &quinn::ConnectionError) -> bool {
    use quinn::TransportErrorCode as C;
    match e {
        quinn::ConnectionError::TransportError(t) => [
            C::STREAM_LIMIT_ERROR,
            C::FLOW_CONTROL_ERROR,
            C::STREAM_STATE_ERROR,
            C::FINAL_SIZE_ERROR,
            C::FRAME_ENCODING_ERROR,
            C::TRANSPORT_PARAMETER_ERROR,
            C::PROTOCOL_VIOLATION,
        ]
        .contains(&t.code),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(code: quinn::TransportErrorCode) -> quinn::ConnectionError {
        quinn::ConnectionError::TransportError(quinn_proto::TransportError {
            code,
            frame: None,
            reason: String::new(),
        })
    }

    #[test]
    fn a_peer_breaking_quic_rules_is_a_violation_and_a_timeout_is_not() {
        use quinn::TransportErrorCode as C;
        assert!(is_peer_violation(&transport(C::STREAM_LIMIT_ERROR)));
        assert!(is_peer_violation(&transport(C::FLOW_CONTROL_ERROR)));
        assert!(!is_peer_violation(&quinn::ConnectionError::TimedOut));
        assert!(!is_peer_violation(&quinn::ConnectionError::LocallyClosed));
        assert!(!is_peer_violation(&transport(C::crypto(42))));
    }
}
