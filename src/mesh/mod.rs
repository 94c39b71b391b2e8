//! The secure mesh: QUIC (quinn) with mutual TLS (rustls), admission by the roster, LAN
//! discovery, connections and the peer table.
//!
//! - [`tls`]: node certificates, the verifiers that admit only roster nodes, rustls configs.
//! - [`conn`]: one connection's life: hello, roster exchange, pings, roster-driven cut-off.
//! - [`peers`]: the peer table and the counters shown by `reservnod peers` and `status`.
//! - [`discovery`]: mDNS and UDP broadcast announcements (hints to dial, never trust).

pub mod conn;
pub mod discovery;
pub mod peers;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

/// Most established connections a node keeps at once; further handshakes are refused.
pub const CONNECTIONS_MAX: usize = 64;
/// Most handshakes in progress at once, a bound apart from [`CONNECTIONS_MAX`] so that
/// handshakes that never finish cannot take the places of admitted peers.
pub const HANDSHAKES_MAX: usize = 32;
/// Once this many handshakes are in progress, a new one from an address that has not proved
/// it receives our packets is sent a QUIC Retry: a flood from addresses that never answer
/// holds nothing, and the places above this are left for validated addresses.
pub const RETRY_AFTER_HANDSHAKES: usize = 4;
/// Most handshakes in progress from one validated address (IP and port).
pub const HANDSHAKES_PER_ADDRESS_MAX: usize = 2;
/// A handshake not finished within this long is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connection attempts quinn holds before the accept loop has decided on them.
pub const INCOMING_MAX: usize = 256;
/// Bytes quinn buffers for one undecided connection attempt, and for all of them.
pub const INCOMING_BUFFER_BYTES: u64 = 64 * 1024;
/// Total for [`INCOMING_BUFFER_BYTES`].
pub const INCOMING_BUFFER_TOTAL_BYTES: u64 = 4 * 1024 * 1024;
/// A peer must send its hello within this long after the connection is up.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Once a frame has begun, the rest of it must arrive within this long (slow-loris guard).
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How often each side pings (round-trip time, clock offset, liveness).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// QUIC keep-alive: sent when a connection is otherwise quiet.
pub const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// A connection with no packets for this long is dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest chunk read from a stream at once.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Per-stream and per-connection flow-control windows: what a peer can make us buffer.
pub const STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
/// Per-connection receive window.
pub const CONNECTION_WINDOW_BYTES: u32 = 4 * 1024 * 1024;

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
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT).expect("15 s is a valid idle timeout"),
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

/// Application close codes.
pub mod close {
    /// Orderly shutdown.
    pub const SHUTDOWN: u32 = 0;
    /// The peer broke the protocol (bad frame, timeout, wrong hello).
    pub const PROTOCOL: u32 = 1;
    /// The peer speaks an incompatible protocol version.
    pub const VERSION: u32 = 2;
    /// The peer is not (or no longer) admitted by the roster.
    pub const NOT_ADMITTED: u32 = 3;
    /// A second connection to the same node; the other one is kept.
    pub const DUPLICATE: u32 = 4;
    /// Too many connections.
    pub const BUSY: u32 = 5;
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
