//! Retention end to end (issue 13 §6, PROTOCOL.md §5.7) on loopback daemons: a ward, a
//! municipality and a primary care centre (each purging 0 days after a decision) and the
//! ward's laptop (purging off, the default). An outage, a message from the ward to each
//! unit, the end, re-entry closed at the ward and the municipality but not at the centre;
//! then a purge decision covering the outage for all three units is dropped into the
//! ward's roster file and spreads. The running nodes' purge pass then removes the bodies on
//! every node whose unit is done, keeps the headers (the ids stay held, the re-entry list
//! and `events` show "gallrad enligt"), leaves the access log whole with one entry by the
//! node itself per decision; the centre keeps its body until its own re-entry is closed.
//! The laptop purges nothing; reconciling with it brings no body back, nor does a bundle
//! it writes; and a municipality node that was offline all along takes in what the
//! decision covers without its body.

mod support;

use std::time::{Duration, Instant};

use reservnod::care::api::{
    Caller, DocumentForm, EventsRequest, OutageDeclareRequest, Person, ReentryList,
    ReentryMarkRequest, Reply, Request, SendRequest, Via,
};
use reservnod::daemon::DaemonStatus;
use reservnod::files::datadir::DataDir;
use reservnod::node::{Node as OfflineNode, Settings};
use reservnod::store::AuditAction;
use reservnod_proto::retention::PurgeCover;
use reservnod_proto::{EventClass, EventId};
use support::{bind, cli_ok, region, start_node_with, Node};

const LIMIT: Duration = Duration::from_secs(60);
const PATIENT: &str = "19121212-1212";
const OTHER_PATIENT: &str = "19821105-9954";
const PURGE_ON: &str = "[retention]\npurge_after_days = 0\n";
const REFERENCE: &str = "RS 2026/1234";

fn it(name: &str) -> Caller {
    Caller::local(
        Person {
            name: name.into(),
            role: "sjuksköterska".into(),
            login: Some("it".into()),
        },
        Via::Socket,
    )
}

async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < LIMIT, "timed out after {LIMIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(node: &Node, patient: &str, to: &str, subject: &str) -> EventId {
    let reply = node
        .handle
        .ask(
            it("Sara Sjöberg"),
            Request::Send(SendRequest {
                patient: Some(patient.into()),
                to: vec![to.into()],
                ..SendRequest::new(DocumentForm::Message {
                    subject: subject.into(),
                    text: "Hur går det?".into(),
                    kind: None,
                    answer_by: None,
                })
            }),
        )
        .await
        .expect("sent");
    match reply {
        Reply::Sent(s) => s.event.parse().expect("event id"),
        other => panic!("{other:?}"),
    }
}

async fn mark(node: &Node, item: &EventId) {
    node.handle
        .ask(
            it("Sara Sjöberg"),
            Request::ReentryMark(ReentryMarkRequest {
                item: item.to_string(),
                state: "inregistrerat".into(),
                link_ref: "LINK-1".into(),
                reason: String::new(),
            }),
        )
        .await
        .expect("marked");
}

async fn list(node: &Node) -> Option<ReentryList> {
    match node
        .handle
        .ask(it("Sara Sjöberg"), Request::Reentry { outage: None })
        .await
    {
        Ok(Reply::Reentry(l)) => Some(*l),
        _ => None,
    }
}

/// Held (the id known to reconciliation) and its body stored.
fn with_body(node: &Node, id: &EventId) -> bool {
    node.handle.get(id).is_some()
}

/// Held, but without its body.
fn purged(node: &Node, id: &EventId) -> bool {
    node.handle.has(id) && node.handle.get(id).is_none()
}

/// Whether the Delivered receipt of `unit` for `event` is at `node`.
fn delivered_at(node: &Node, event: &EventId, unit: &str) -> bool {
    node.handle.delivered_units(event).iter().any(|u| u == unit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_purges_closed_units_bodies_everywhere_and_nothing_brings_them_back() {
    // 0 the ward's box, 1 the municipality, 2 the primary care centre, 3 the ward's
    // laptop (purging off), 4 a municipality node that stays offline until the end.
    let mut r = region(3, 0);
    let laptop = r.add_node_of_unit(0);
    let offline = r.add_node_of_unit(1);
    let (ward, kommun, vc) = (
        r.nodes[0].unit.to_string(),
        r.nodes[1].unit.to_string(),
        r.nodes[2].unit.to_string(),
    );
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let (s2, a2) = bind();
    let (s3, a3) = bind();
    let boxn = start_node_with(&r.nodes[0].dir, s0, a0, &[a1, a2, a3], PURGE_ON).await;
    let muni = start_node_with(&r.nodes[1].dir, s1, a1, &[a0, a2, a3], PURGE_ON).await;
    let centre = start_node_with(&r.nodes[2].dir, s2, a2, &[a0, a1, a3], PURGE_ON).await;
    let lap = start_node_with(&r.nodes[laptop].dir, s3, a3, &[a0, a1, a2], "").await;

    boxn.handle
        .ask(
            it("Anna Admin"),
            Request::OutageDeclare(OutageDeclareRequest {
                reason: "LINK nere".into(),
                scope: Vec::new(),
            }),
        )
        .await
        .expect("declared");
    until("the declaration reaches the centre", || async {
        centre
            .handle
            .ask(it("Kim"), Request::OutageShow {})
            .await
            .ok()
            .filter(|r| matches!(r, Reply::Outage(v) if v.state == "utlyst"))
    })
    .await;
    let to_muni = send(&boxn, PATIENT, &kommun, "Till kommunen").await;
    let to_centre = send(&boxn, OTHER_PATIENT, &vc, "Till vårdcentralen").await;
    until(
        "both recipients' Delivered receipts reach the box",
        || async {
            (delivered_at(&boxn, &to_muni, &kommun) && delivered_at(&boxn, &to_centre, &vc))
                .then_some(())
        },
    )
    .await;
    boxn.handle
        .ask(
            it("Anna Admin"),
            Request::OutageEnd {
                note: "LINK uppe".into(),
            },
        )
        .await
        .expect("ended");
    until(
        "the end reaches the municipality and the laptop",
        || async {
            let ended =
                |r: Result<Reply, _>| matches!(r, Ok(Reply::Outage(v)) if v.state == "avslutad");
            (ended(muni.handle.ask(it("Kim"), Request::OutageShow {}).await)
                && ended(lap.handle.ask(it("Kim"), Request::OutageShow {}).await))
            .then_some(())
        },
    )
    .await;
    // The ward and the municipality enter everything into LINK; the centre does not yet.
    mark(&boxn, &to_muni).await;
    mark(&boxn, &to_centre).await;
    mark(&muni, &to_muni).await;
    until("the ward's marks reach the laptop", || async {
        list(&lap)
            .await
            .filter(|l| l.outage.reentry.closed && l.outage.reentry.done == 2)
    })
    .await;
    let access_log_before: Vec<_> = [&boxn, &muni, &centre]
        .iter()
        .map(|n| n.handle.audit_count())
        .collect();

    // Nothing is purged without a decision, purging on or off.
    for n in [&boxn, &muni, &centre, &lap] {
        assert_eq!(n.handle.purge_step_now().expect("step"), 0);
        assert!(with_body(n, &to_muni) && with_body(n, &to_centre));
    }
    // The laptop goes away for a while (it is not running during the purge).
    lap.stop().await;

    // The region's admin records the decision; the roster reaches the box by its drop file
    // and the others from the box.
    let outage: EventId = list(&boxn)
        .await
        .expect("list")
        .outage
        .id
        .parse()
        .expect("outage id");
    let units = [0, 1, 2].map(|i| r.nodes[i].unit.clone()).to_vec();
    r.admin
        .add_purge_decision(
            REFERENCE,
            PurgeCover::Outage(outage),
            units,
            reservnod::clock::now_ms(),
        )
        .expect("decision");
    let signed = r.admin.signed().expect("signed");
    let version = r.admin.roster.version;
    std::fs::write(
        r.nodes[0].dir.join("roster-drop.rsv"),
        signed.to_file_bytes().expect("roster bytes"),
    )
    .expect("drop the roster");

    // The daemons' own pass: the box and the municipality purge both (each is done, and
    // every unit a body is sealed to is listed and has it; the municipality only carries
    // the centre's message, sealed to units it cannot open).
    until(
        "the box and the municipality have purged both bodies",
        || async {
            [&boxn, &muni]
                .iter()
                .all(|n| purged(n, &to_muni) && purged(n, &to_centre))
                .then_some(())
        },
    )
    .await;
    // The centre carries the municipality's message and purges it; its own re-entry is
    // open, so its message keeps its body there.
    until("the centre purges the message it only carries", || async {
        purged(&centre, &to_muni).then_some(())
    })
    .await;
    centre.handle.purge_step_now().expect("step");
    assert!(
        with_body(&centre, &to_centre),
        "the centre's re-entry is open: it keeps its body"
    );
    assert!(list(&centre)
        .await
        .is_some_and(|l| !l.outage.reentry.closed));
    // Headers stay: the re-entry list and `events` show it purged, the counts do not confuse.
    let l = list(&boxn).await.expect("list");
    assert_eq!(
        (
            l.outage.reentry.done,
            l.outage.reentry.left,
            l.outage.reentry.purged
        ),
        (0, 0, 2),
        "{:?}",
        l.outage.reentry
    );
    assert!(l.outage.reentry.closed);
    assert!(l.patients.is_empty(), "no purged item shows its patient");
    assert_eq!(l.purged.len(), 2);
    assert!(l
        .purged
        .iter()
        .all(|p| p.state == format!("gallrad enligt {REFERENCE}")));
    let events = match boxn
        .handle
        .ask(
            it("Sara Sjöberg"),
            Request::Events(EventsRequest::default()),
        )
        .await
    {
        Ok(Reply::Events(e)) => e,
        other => panic!("{other:?}"),
    };
    let h = events
        .events
        .iter()
        .find(|h| h.event == to_muni.to_string())
        .expect("the purged event's header is listed");
    assert_eq!(h.purged.as_deref(), Some("gallrad enligt RS 2026/1234"));
    assert_eq!(h.unit.id, ward);
    // No screen shows the purged document: its page is gone.
    assert!(boxn
        .handle
        .ask(
            it("Sara Sjöberg"),
            Request::Show {
                event: to_muni.to_string()
            }
        )
        .await
        .is_err());
    // The access log: nothing taken away, one entry by the node itself naming the decision.
    for (n, before) in [&boxn, &muni].iter().zip(&access_log_before) {
        let entries = n.handle.audit_entries();
        assert!(entries.len() > *before, "the log only grows");
        let purge: Vec<_> = entries
            .iter()
            .filter(|e| e.action == AuditAction::Purged)
            .collect();
        assert!(!purge.is_empty(), "each purge is in the access log");
        for e in &purge {
            assert!(e.detail.contains(REFERENCE), "{}", e.detail);
            assert!(e.name.as_deref().is_some_and(|n| n.contains("noden själv")));
            assert!(e.login.is_none());
        }
    }
    // The ward's entry names the patients whose documents' bodies went.
    let named: Vec<String> = boxn
        .handle
        .audit_entries()
        .iter()
        .filter(|e| e.action == AuditAction::Purged)
        .flat_map(|e| e.patients.iter().map(|p| p.canonical().to_string()))
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    // The box's status names the decision and the count, and no patient.
    let line = until("the box's status has the purge line", || async {
        DaemonStatus::read_fresh(&r.nodes[0].dir)
            .and_then(|s| s.purge)
            .filter(|p| p.contains("2 händelser gallrade"))
    })
    .await;
    assert!(line.contains(REFERENCE), "{line}");
    assert!(!line.contains("19121212") && !line.contains("19821105"));

    // The centre closes its re-entry: then its copy goes too.
    mark(&centre, &to_centre).await;
    until("the centre purges once its re-entry is closed", || async {
        purged(&centre, &to_centre).then_some(())
    })
    .await;

    // The laptop comes back: it never purged (purging is off there) and still holds both
    // bodies; reconciling with the box brings neither back to the box.
    let (s3, a3) = bind();
    let lap = start_node_with(&r.nodes[laptop].dir, s3, a3, &[a0, a1, a2], "").await;
    until("the laptop has the new roster", || async {
        DaemonStatus::read_fresh(&r.nodes[laptop].dir).filter(|s| s.roster_version == version)
    })
    .await;
    let since = reservnod::clock::now_ms();
    let late = support::clinical_event(
        &r.nodes[laptop].dir,
        &r.admin.roster,
        &[r.nodes[1].unit.clone()],
        "efter",
        lap.handle.tick(),
        reservnod_proto::Priority::Normal,
    );
    let late_id = late.id();
    lap.handle.write(vec![late]).await.expect("written");
    until(
        "the laptop and the box have reconciled since it came back",
        || async {
            DaemonStatus::read_fresh(&r.nodes[laptop].dir)
                .filter(|s| {
                    s.peers.iter().any(|p| {
                        p.node == boxn.handle.node_id().to_string()
                            && p.last_sync_ms.is_some_and(|t| t >= since)
                    })
                })
                .filter(|_| boxn.handle.has(&late_id))
        },
    )
    .await;
    assert!(
        with_body(&lap, &to_muni),
        "purging off: the laptop keeps it"
    );
    assert!(purged(&boxn, &to_muni) && purged(&boxn, &to_centre));
    assert!(purged(&muni, &to_muni));
    lap.stop().await;

    // A bundle the laptop writes (with both bodies) imported into the stopped box brings
    // neither back.
    boxn.stop().await;
    let bundle = r.root.path().join("laptop.rnb");
    cli_ok(
        &r.nodes[laptop].dir,
        &["bundle", "export", bundle.to_str().expect("utf-8")],
    );
    let out = cli_ok(
        &r.nodes[0].dir,
        &["bundle", "import", bundle.to_str().expect("utf-8")],
    );
    assert!(out.contains("0 nya"), "{out}");
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    for id in [&to_muni, &to_centre] {
        assert!(store.contains(id).expect("contains"));
        assert!(store.get(id).expect("get").is_none(), "no body came back");
    }
    drop(store);
    // `status` with the node stopped still has the purge line.
    let status = cli_ok(&r.nodes[0].dir, &["status"]);
    assert!(
        status.contains("Gallring:") && status.contains(REFERENCE),
        "{status}"
    );

    // A municipality node offline all along: it takes in the laptop's copies (its
    // declaration, receipts and marks first, then the documents), and what the decision
    // covers arrives without its body; it writes no Delivered of its own for it.
    muni.stop().await;
    centre.stop().await;
    let laptop_store = DataDir::new(&r.nodes[laptop].dir)
        .open_store()
        .expect("laptop store");
    let ids: Vec<EventId> = laptop_store
        .keys(false)
        .expect("keys")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let all = laptop_store.get_many(&ids).expect("events");
    drop(laptop_store);
    let (clinical, other): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|se| se.verify().expect("verifies").event().class == EventClass::Clinical);
    let off_dir = DataDir::new(&r.nodes[offline].dir);
    off_dir.install_roster(&signed).expect("roster");
    let (node, _gone) = OfflineNode::open(
        off_dir,
        Settings {
            purge_after_days: Some(0),
            ..Settings::default()
        },
    )
    .expect("open the offline node");
    node.ingest_blocking(other, None)
        .expect("controls and receipts");
    let outcome = node.ingest_blocking(clinical, None).expect("documents");
    assert_eq!(
        outcome.purged_on_arrival, 2,
        "both of the outage's documents came without their body"
    );
    assert!(
        outcome.answers.is_empty(),
        "no Delivered for what it never opened"
    );
    for id in [&to_muni, &to_centre] {
        assert!(node.store().contains(id).expect("contains"));
        assert!(node.store().get(id).expect("get").is_none());
    }
    assert!(
        node.store().get(&late_id).expect("get").is_some(),
        "what no decision covers keeps its body"
    );
    let arrival: Vec<_> = node
        .store()
        .audit_entries(0)
        .map(|e| e.expect("entry").1)
        .filter(|e| e.action == AuditAction::Purged)
        .collect();
    assert_eq!(arrival.len(), 1);
    assert!(arrival[0].patients.is_empty() && arrival[0].detail.contains(REFERENCE));
}
