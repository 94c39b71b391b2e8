//! The mesh on loopback, in one process: nodes form a mesh from static config, an unknown
//! key is refused, a revoked node is cut off, and a newer roster spreads.

mod support;

use std::time::{Duration, Instant};

use reservnod::daemon;
use support::{bind, config, connected, region, wait_for};
use tokio::sync::oneshot;

struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), daemon::DaemonError>>,
}

fn start(cfg: reservnod::files::config::Config, socket: std::net::UdpSocket) -> Running {
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(daemon::run(cfg, socket, async move {
        let _ = rx.await;
    }));
    Running { stop, task }
}

async fn stop_all(nodes: Vec<Running>) {
    for n in nodes {
        let _ = n.stop.send(());
        n.task.await.expect("join").expect("clean shutdown");
    }
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_mesh_from_static_config() {
    let r = region(3, 0);
    let socks: Vec<_> = (0..3).map(|_| bind()).collect();
    let addrs: Vec<_> = socks.iter().map(|(_, a)| *a).collect();
    let mut running = Vec::new();
    for (i, (sock, addr)) in socks.into_iter().enumerate() {
        // Each node lists every other: both sides dial, and the duplicate rule keeps one link.
        let others: Vec<_> = addrs.iter().copied().filter(|a| *a != addr).collect();
        running.push(start(config(&r.nodes[i].dir, addr, &others, ""), sock));
    }
    for (i, n) in r.nodes.iter().enumerate() {
        let ids: Vec<_> = r
            .nodes
            .iter()
            .filter(|m| m.id != n.id)
            .map(|m| m.id)
            .collect();
        let dir = n.dir.clone();
        let s = blocking(move || {
            wait_for(
                &dir,
                Duration::from_secs(20),
                "both peers connected with a round-trip time",
                |s| {
                    ids.iter().all(|id| connected(s, id))
                        && s.peers.iter().all(|p| p.rtt_ms.is_some())
                },
            )
        })
        .await
        .expect("join");
        assert_eq!(s.peers.len(), 2, "node {i}: {:?}", s.peers);
        assert!(s
            .peers
            .iter()
            .all(|p| p.clock_offset_ms.is_some_and(|o| o.abs() < 5_000)));
        assert_eq!(s.counters.handshakes_failed, 0);
    }
    stop_all(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_refused_in_the_handshake() {
    let r = region(1, 1);
    let (sa, aa) = bind();
    let (sb, ab) = bind();
    let member = start(config(&r.nodes[0].dir, aa, &[], ""), sa);
    let stranger = start(config(&r.nodes[1].dir, ab, &[aa], ""), sb);
    let dir = r.nodes[0].dir.clone();
    let s = blocking(move || {
        wait_for(&dir, Duration::from_secs(20), "a refused handshake", |s| {
            s.counters.handshakes_failed >= 1
        })
    })
    .await
    .expect("join");
    assert!(
        s.peers.is_empty(),
        "the stranger must never appear as a peer: {:?}",
        s.peers
    );
    stop_all(vec![member, stranger]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_cut_off_and_the_roster_spreads() {
    let mut r = region(3, 0);
    let socks: Vec<_> = (0..3).map(|_| bind()).collect();
    let addrs: Vec<_> = socks.iter().map(|(_, a)| *a).collect();
    let drop_file = r.root.path().join("drop.rsv");
    let mut running = Vec::new();
    for (i, (sock, addr)) in socks.into_iter().enumerate() {
        let others: Vec<_> = addrs.iter().copied().filter(|a| *a != addr).collect();
        // Node 0 watches a drop file; the others learn the roster from the mesh.
        let extra = if i == 0 {
            format!("roster_file = \"{}\"", drop_file.display())
        } else {
            String::new()
        };
        running.push(start(config(&r.nodes[i].dir, addr, &others, &extra), sock));
    }
    let victim = r.nodes[2].id;
    for n in &r.nodes[..2] {
        let dir = n.dir.clone();
        blocking(move || {
            wait_for(&dir, Duration::from_secs(20), "the victim connected", |s| {
                connected(s, &victim)
            })
        })
        .await
        .expect("join");
    }
    r.admin
        .revoke_node(victim, "stulen dator", None, 4)
        .expect("revoke");
    let new_version = r.admin.roster.version;
    std::fs::copy(r.roster_file(), &drop_file).expect("drop the roster");
    let dropped = Instant::now();
    for n in &r.nodes[..2] {
        let dir = n.dir.clone();
        let s = blocking(move || {
            // Picked up within a second, spread at once, connection closed at once.
            wait_for(
                &dir,
                Duration::from_secs(6),
                "new roster and the victim cut off",
                |s| s.roster_version == new_version && !connected(s, &victim),
            )
        })
        .await
        .expect("join");
        assert!(
            s.counters.revoked_closed >= 1,
            "the open link to the victim was closed for revocation"
        );
    }
    let took = dropped.elapsed();
    assert!(took < Duration::from_secs(6), "cut-off took {took:?}");
    let closed_at_cutoff =
        support::wait_for(&r.nodes[0].dir, Duration::from_secs(5), "status", |_| true)
            .counters
            .revoked_closed;
    // The victim keeps redialling and keeps being refused in the handshake itself: no resumed
    // TLS session lets it past the certificate check to be caught only after the hello.
    let dir = r.nodes[0].dir.clone();
    let s = blocking(move || {
        wait_for(
            &dir,
            Duration::from_secs(20),
            "the victim refused in the handshake",
            |s| s.counters.handshakes_failed >= 2 && !connected(s, &victim),
        )
    })
    .await
    .expect("join");
    assert!(
        s.counters.revoked_closed <= closed_at_cutoff + 2,
        "the revoked node got past the handshake {} times after the cut-off",
        s.counters.revoked_closed - closed_at_cutoff
    );
    stop_all(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_with_no_reachable_node_is_flagged() {
    let r = region(2, 0);
    let (sa, aa) = bind();
    let (_, nowhere) = bind(); // a loopback port nobody serves
    let node = start(
        config(
            &r.nodes[0].dir,
            aa,
            &[nowhere],
            "unit_unreachable_after_secs = 1",
        ),
        sa,
    );
    let dir = r.nodes[0].dir.clone();
    let unit = r.nodes[1].unit.to_string();
    let s = blocking(move || {
        wait_for(
            &dir,
            Duration::from_secs(20),
            "the other unit flagged",
            |s| s.unreachable_units.iter().any(|u| u.starts_with(&unit)),
        )
    })
    .await
    .expect("join");
    assert_eq!(
        s.unreachable_units.len(),
        1,
        "only the other unit: {:?}",
        s.unreachable_units
    );
    stop_all(vec![node]).await;
}
