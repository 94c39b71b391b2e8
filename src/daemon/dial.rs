//! Making and taking connections: static peers kept connected with backoff, incoming
//! handshakes (bounded apart from established connections, with a deadline and QUIC Retry
//! under load), and dials of peers that LAN discovery found. Each established connection
//! is handed to [`conn::run`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use reservnod_proto::NodeId;
use tokio::task::JoinSet;

use crate::limits::{
    BACKOFF_BASE, BACKOFF_DOUBLINGS_MAX, BACKOFF_MAX, CONNECTIONS_MAX, DIAL_TIMEOUT,
    DISCOVERY_DIALS_MAX, DISCOVERY_REDIAL, DISCOVERY_REMEMBERED_MAX, HANDSHAKES_MAX,
    HANDSHAKES_PER_ADDRESS_MAX, HANDSHAKE_TIMEOUT, PING_INTERVAL, RETRY_AFTER_HANDSHAKES,
    SHUTDOWN_GRACE,
};
use crate::mesh::discovery::Discovered;
use crate::mesh::{conn, tls};
use crate::node::Node;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(BACKOFF_DOUBLINGS_MAX))
        .min(BACKOFF_MAX);
    // ±25 % jitter so nodes that lost the same link do not all redial in step.
    let jitter = (rand_core::OsRng.next_u32() % 500) as f64 / 1000.0 - 0.25;
    exp.mul_f64(1.0 + jitter)
}

async fn dial(
    shared: &Arc<Node>,
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
) -> Result<quinn::Connection, String> {
    let connecting = endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(DIAL_TIMEOUT, connecting).await {
        Err(_) => Err("timed out".into()),
        Ok(Err(e)) => {
            if matches!(
                e,
                quinn::ConnectionError::TransportError(_)
                    | quinn::ConnectionError::ConnectionClosed(_)
            ) {
                shared.peers().counters.handshakes_failed += 1;
            }
            Err(e.to_string())
        }
        Ok(Ok(conn)) => Ok(conn),
    }
}

/// Keeps a static peer connected: dial, run, and redial with exponential backoff and jitter.
pub(super) async fn keep_connected(shared: Arc<Node>, endpoint: quinn::Endpoint, addr: SocketAddr) {
    let mut shutdown = shared.shutdown_signal();
    let mut attempt = 0u32;
    let mut known: Option<NodeId> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let already = known.is_some_and(|n| shared.is_connected(&n));
        let delay = if already {
            // Connected through the peer's own dial; look again later.
            PING_INTERVAL
        } else {
            let attempt_result = tokio::select! {
                r = dial(&shared, &endpoint, addr) => r,
                _ = shutdown.changed() => return,
            };
            match attempt_result {
                Ok(c) => {
                    attempt = 0;
                    if let Ok((identity, _)) = tls::peer_identity(&c) {
                        known = Some(identity);
                    }
                    let _ = conn::run(shared.clone(), c, true).await;
                    backoff(0)
                }
                Err(reason) => {
                    tracing::debug!(%addr, %reason, attempt, "dial failed");
                    attempt = attempt.saturating_add(1);
                    backoff(attempt)
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Handshakes in progress: their number and how many come from each address. Both stay
/// below [`HANDSHAKES_MAX`], so the map is bounded too.
#[derive(Default)]
struct Handshakes {
    total: usize,
    by_address: HashMap<SocketAddr, usize>,
}

/// What to do with a connection attempt, from the handshakes in progress.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    Accept,
    Retry,
    Refuse,
}

impl Handshakes {
    fn decide(&self, addr: SocketAddr, validated: bool, may_retry: bool) -> Admit {
        if !validated && self.total >= RETRY_AFTER_HANDSHAKES {
            // Retry costs us one stateless packet; an address that never answers holds nothing.
            return if may_retry {
                Admit::Retry
            } else {
                Admit::Refuse
            };
        }
        // An unvalidated address may be forged, so only a validated one is held to its share.
        let from_addr = self.by_address.get(&addr).copied().unwrap_or(0);
        if self.total >= HANDSHAKES_MAX || (validated && from_addr >= HANDSHAKES_PER_ADDRESS_MAX) {
            return Admit::Refuse;
        }
        Admit::Accept
    }
    fn start(&mut self, addr: SocketAddr) {
        self.total += 1;
        *self.by_address.entry(addr).or_default() += 1;
    }
    fn end(&mut self, addr: SocketAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_address.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                self.by_address.remove(&addr);
            }
        }
    }
}

/// Ends a handshake's place in [`Handshakes`] however the handshake ends.
struct HandshakeSlot {
    handshakes: Arc<Mutex<Handshakes>>,
    addr: SocketAddr,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        lock(&self.handshakes).end(self.addr);
    }
}

/// Accepts connections: handshakes in progress and established connections are bounded
/// apart, handshakes have a deadline, and once handshakes pile up, addresses that have not
/// answered a Retry wait outside.
pub(super) async fn accept_loop(shared: Arc<Node>, endpoint: quinn::Endpoint) {
    let mut shutdown = shared.shutdown_signal();
    let mut tasks = JoinSet::new();
    let handshakes = Arc::new(Mutex::new(Handshakes::default()));
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let addr = incoming.remote_address();
                let decision = if shared.connections() >= CONNECTIONS_MAX {
                    Admit::Refuse
                } else {
                    lock(&handshakes).decide(addr, incoming.remote_address_validated(), incoming.may_retry())
                };
                match decision {
                    Admit::Refuse => {
                        shared.peers().counters.refused_busy += 1;
                        incoming.refuse();
                        continue;
                    }
                    Admit::Retry => {
                        shared.peers().counters.retries_sent += 1;
                        if incoming.retry().is_err() {
                            tracing::debug!(%addr, "could not send a retry");
                        }
                        continue;
                    }
                    Admit::Accept => {}
                }
                lock(&handshakes).start(addr);
                let slot = HandshakeSlot { handshakes: handshakes.clone(), addr };
                let shared = shared.clone();
                tasks.spawn(async move {
                    let handshake = async {
                        let connecting = incoming.accept()?;
                        connecting.await
                    };
                    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await;
                    drop(slot);
                    match result {
                        Ok(Ok(c)) => { let _ = conn::run(shared, c, false).await; }
                        Ok(Err(e)) => {
                            shared.peers().counters.handshakes_failed += 1;
                            tracing::warn!(%addr, error = %e, "incoming handshake failed");
                        }
                        Err(_) => {
                            shared.peers().counters.handshakes_timed_out += 1;
                            tracing::debug!(%addr, "incoming handshake did not finish in time");
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

pub(super) async fn dial_discovered(
    shared: Arc<Node>,
    endpoint: quinn::Endpoint,
    mut found: tokio::sync::mpsc::Receiver<Discovered>,
) {
    let mut shutdown = shared.shutdown_signal();
    let mut last_dial: HashMap<NodeId, Instant> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            d = found.recv() => {
                let Some(d) = d else { break };
                if d.node == shared.id() || shared.is_connected(&d.node) || shared.admission.check(&d.node).is_err() {
                    continue;
                }
                if last_dial.get(&d.node).is_some_and(|t| t.elapsed() < DISCOVERY_REDIAL) || tasks.len() >= DISCOVERY_DIALS_MAX {
                    continue;
                }
                if last_dial.len() >= DISCOVERY_REMEMBERED_MAX {
                    last_dial.retain(|_, t| t.elapsed() < DISCOVERY_REDIAL);
                }
                last_dial.insert(d.node, Instant::now());
                tracing::info!(peer = %d.node, addr = %d.addr, via = ?d.via, "discovered a peer");
                let (shared, endpoint) = (shared.clone(), endpoint.clone());
                let mut stop = shared.shutdown_signal();
                tasks.spawn(async move {
                    let attempt = tokio::select! {
                        r = dial(&shared, &endpoint, d.addr) => r,
                        _ = stop.changed() => return,
                    };
                    match attempt {
                        Ok(c) => { let _ = conn::run(shared, c, true).await; }
                        Err(reason) => tracing::debug!(addr = %d.addr, %reason, "dial of a discovered peer failed"),
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_peer_is_redialled_within_seconds_however_long_the_cut() {
        let mut previous = Duration::ZERO;
        for attempt in 0..64 {
            let d = backoff(attempt);
            // At most the cap plus its jitter: a healed link is tried again within this.
            assert!(
                d <= Duration::from_millis(6_250),
                "attempt {attempt}: {d:?}"
            );
            if attempt < 3 {
                assert!(d >= previous.mul_f64(0.5), "attempt {attempt} grows: {d:?}");
            }
            previous = d;
        }
        assert!(DIAL_TIMEOUT <= Duration::from_secs(5));
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn unvalidated_attempts_get_a_retry_once_handshakes_pile_up() {
        let mut h = Handshakes::default();
        for _ in 0..RETRY_AFTER_HANDSHAKES {
            assert_eq!(h.decide(addr(1), false, true), Admit::Accept);
            h.start(addr(1));
        }
        assert_eq!(h.decide(addr(1), false, true), Admit::Retry);
        assert_eq!(h.decide(addr(2), false, true), Admit::Retry);
        // A validated address gets in, up to its share.
        for _ in 0..HANDSHAKES_PER_ADDRESS_MAX {
            assert_eq!(h.decide(addr(3), true, false), Admit::Accept);
            h.start(addr(3));
        }
        assert_eq!(h.decide(addr(3), true, false), Admit::Refuse);
        assert_eq!(h.decide(addr(4), true, false), Admit::Accept);
        // The bound on all handshakes in progress holds for validated addresses too.
        let mut port = 100;
        while h.total < HANDSHAKES_MAX {
            h.start(addr(port));
            port += 1;
        }
        assert_eq!(h.decide(addr(5), true, false), Admit::Refuse);
        for p in 100..port {
            h.end(addr(p));
        }
        h.end(addr(3));
        assert_eq!(h.decide(addr(3), true, false), Admit::Accept);
        assert!(h.by_address.len() <= HANDSHAKES_MAX);
    }
}
