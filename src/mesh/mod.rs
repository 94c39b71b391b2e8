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

/// Most connections a node keeps at once; further handshakes are refused.
pub const CONNECTIONS_MAX: usize = 64;
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
