//! Outages end to end (issue 13 §1–2): through the real command line with no node running
//! (declare, a document during, end, the refusal after it, the re-entry list and a mark;
//! `status` offline stays read-only and shows no outage line), and between running nodes
//! on loopback: a ward with two nodes (its box and a laptop) and a municipality that was
//! cut off when the outage was declared. What the municipality wrote meanwhile joins the
//! outage once the declaration reaches it; after the end it refuses new documents but
//! takes receipts; a mark made on one of the ward's nodes shows on the other, two marks made
//! apart on one item are both kept, and the running box's status has the outage line.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reservnod::care::api::{
    Caller, OutageDeclareRequest, Person, ReentryList, ReentryMarkRequest, Reply, Request, Via,
};
use reservnod::daemon::DaemonStatus;
use reservnod::files::datadir::DataDir;
use support::{bind, cli, cli_ok, region, start_node, Node};

const LIMIT: Duration = Duration::from_secs(30);
const PATIENT: &str = "19121212-1212";

fn send_message(dir: &Path, to: &str, subject: &str) -> Output {
    cli(
        dir,
        &[
            "send",
            "--author",
            "Sara Sjöberg",
            "--patient",
            PATIENT,
            "--to",
            to,
            "--json",
            "message",
            "--subject",
            subject,
            "--text",
            "Hur går det?",
        ],
    )
}

#[test]
fn the_command_line_declares_ends_refuses_and_marks() {
    let r = region(2, 0);
    let dir = &r.nodes[0].dir;
    let other = r.nodes[1].unit.to_string();
    assert!(cli_ok(dir, &["outage", "show"]).contains("Ingen driftstörning är utlyst"));
    let out = cli_ok(
        dir,
        &[
            "outage",
            "declare",
            "--author",
            "Anna Admin",
            "--reason",
            "LINK nere sedan 08.10",
        ],
    );
    assert!(out.contains("Driftstörningen är utlyst"), "{out}");
    assert!(
        out.contains("LINK nere sedan 08.10") && out.contains("Anna Admin"),
        "{out}"
    );
    let sent = send_message(dir, &other, "Fråga");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&sent.stdout).expect("json");
    let event = sent["event"].as_str().expect("event").to_string();
    cli_ok(
        dir,
        &[
            "outage",
            "end",
            "--author",
            "Anna Admin",
            "--note",
            "LINK uppe",
        ],
    );
    // After the end: one line, exit 2, nothing written.
    let refused = send_message(dir, &other, "En till");
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.starts_with("fel: driftstörningen är avslutad"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let list: ReentryList =
        serde_json::from_str(&cli_ok(dir, &["reentry", "list", "--json"])).expect("json");
    assert_eq!(list.patients.len(), 1);
    assert_eq!(
        list.patients[0].items.len(),
        1,
        "the refused one is not there"
    );
    assert_eq!(list.patients[0].items[0].event, event);
    assert_eq!(list.outage.reentry.left, 1);
    let out = cli_ok(
        dir,
        &[
            "reentry",
            "mark",
            "--author",
            "Sara Sjöberg",
            &event[..12],
            "inregistrerat",
            "--link-ref",
            "LINK-4711",
        ],
    );
    assert!(out.contains("1 klara, 0 kvar"), "{out}");
    let text = cli_ok(dir, &["reentry", "list"]);
    assert!(
        text.contains("inregistrerat i LINK (LINK-4711) – Sara Sjöberg"),
        "{text}"
    );
    assert!(
        text.contains("inträffade") && text.contains("skrevs"),
        "{text}"
    );
    // A bad mark: one line naming the field.
    let bad = cli(
        dir,
        &[
            "reentry",
            "mark",
            "--author",
            "Sara",
            &event[..12],
            "behovs-inte",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("skälet"));
    // Status with no node running opens the store alone: no outage line, nothing changed.
    let before = std::fs::read_dir(dir).expect("dir").count();
    let status = cli_ok(dir, &["status"]);
    assert!(!status.contains("Driftstörning:"), "{status}");
    assert_eq!(std::fs::read_dir(dir).expect("dir").count(), before);
}

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

async fn marks_on(node: &Node, item: &str) -> usize {
    list(node)
        .await
        .into_iter()
        .flat_map(|l| l.patients)
        .flat_map(|g| g.items)
        .filter(|i| i.event == item)
        .map(|i| i.marks.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_node_joins_the_outage_and_marks_reach_the_units_other_node() {
    // Node 0: the ward's box; node 1: the municipality; node 2: the ward's laptop.
    let mut r = region(2, 0);
    let laptop = r.add_node_of_unit(0);
    let ward = r.nodes[0].unit.to_string();
    let (sb, ab) = bind();
    let (sm, am) = bind();
    let (sl, al) = bind();
    let boxn = start_node(&r.nodes[0].dir, sb, ab, &[am, al]).await;
    let lap = start_node(&r.nodes[laptop].dir, sl, al, &[ab, am]).await;
    // The box declares while the municipality is cut off (not running).
    let declared = boxn
        .handle
        .ask(
            it("Anna Admin"),
            Request::OutageDeclare(OutageDeclareRequest {
                reason: "LINK nere".into(),
                scope: Vec::new(),
            }),
        )
        .await
        .expect("declared");
    assert!(matches!(declared, Reply::Outage(ref v) if v.state == "utlyst"));
    // The municipality, with no declaration, still writes (through its own command line).
    let muni_dir = r.nodes[1].dir.clone();
    let sent = send_message(&muni_dir, &ward, "Fråga från kommunen");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&sent.stdout).expect("json");
    let question = sent["event"].as_str().expect("event").to_string();
    assert!(cli_ok(&muni_dir, &["outage", "show"]).contains("Ingen driftstörning är utlyst"));
    // Connected again: the declaration reaches it, and its message joins the outage.
    let muni = start_node(&muni_dir, sm, am, &[ab, al]).await;
    let l = until(
        "the municipality's message is in its re-entry list",
        || async {
            list(&muni).await.filter(|l| {
                l.patients
                    .iter()
                    .flat_map(|g| &g.items)
                    .any(|i| i.event == question && i.placement == "under driftstörningen")
            })
        },
    )
    .await;
    assert_eq!(l.outage.by, "Anna Admin");
    until("the box lists the message it received", || async {
        list(&boxn).await.filter(|l| {
            l.patients
                .iter()
                .flat_map(|g| &g.items)
                .any(|i| i.event == question)
        })
    })
    .await;
    // The end, from the laptop (another node of the declaring unit).
    until("the laptop has the declaration", || async {
        lap.handle
            .ask(it("Anna Admin"), Request::OutageShow {})
            .await
            .ok()
            .filter(|r| matches!(r, Reply::Outage(v) if v.state == "utlyst"))
    })
    .await;
    lap.handle
        .ask(
            it("Anna Admin"),
            Request::OutageEnd {
                note: "LINK uppe".into(),
            },
        )
        .await
        .expect("ended");
    // The municipality then refuses a new document, but takes the receipt for the answer.
    until("the end reaches the municipality", || async {
        muni.handle
            .ask(it("Kim Karlsson"), Request::OutageShow {})
            .await
            .ok()
            .filter(|r| matches!(r, Reply::Outage(v) if v.state == "avslutad"))
    })
    .await;
    let refused = muni
        .handle
        .ask(
            it("Kim Karlsson"),
            Request::Send(reservnod::care::api::SendRequest {
                patient: Some(PATIENT.into()),
                to: vec![ward.clone()],
                ..reservnod::care::api::SendRequest::new(
                    reservnod::care::api::DocumentForm::Message {
                        subject: "Ny".into(),
                        text: "x".into(),
                        kind: None,
                        answer_by: None,
                    },
                )
            }),
        )
        .await
        .expect_err("no new document after the end");
    assert!(refused.to_string().contains("avslutad"), "{refused}");
    assert!(matches!(
        boxn.handle
            .ask(
                it("Sara Sjöberg"),
                Request::Ack {
                    event: question.clone()
                }
            )
            .await,
        Ok(Reply::Acked(_))
    ));
    // Two marks made apart, on each of the ward's nodes: both kept and shown on both.
    let mark = |state: &str, reason: &str| {
        Request::ReentryMark(ReentryMarkRequest {
            item: question.clone(),
            state: state.into(),
            link_ref: "LINK-1".into(),
            reason: reason.into(),
        })
    };
    boxn.handle
        .ask(it("Sara Sjöberg"), mark("inregistrerat", ""))
        .await
        .expect("marked on the box");
    lap.handle
        .ask(it("Olle Olsson"), mark("behovs-inte", "Redan inringt"))
        .await
        .expect("marked on the laptop");
    until("the laptop shows both marks", || async {
        (marks_on(&lap, &question).await == 2).then_some(())
    })
    .await;
    until("the box shows both marks", || async {
        (marks_on(&boxn, &question).await == 2).then_some(())
    })
    .await;
    // The municipality carries the ward's marks but cannot read them.
    assert_eq!(marks_on(&muni, &question).await, 0);
    // The running box's status has the outage line and the ward's progress.
    let box_dir = DataDir::new(&r.nodes[0].dir);
    let line = until("the box's status shows the ended outage", || async {
        DaemonStatus::read_fresh(box_dir.root())
            .and_then(|s| s.outage)
            .filter(|o| o.contains("avslutad"))
    })
    .await;
    assert!(
        line.contains("Efterregistrering: 1 klara, 0 kvar"),
        "{line}"
    );
    boxn.stop().await;
    lap.stop().await;
    muni.stop().await;
}
