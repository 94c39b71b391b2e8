//! The care layer end to end on loopback: documents from a ward reach the municipality,
//! Delivered and Read come back, partitioned plan edits show a conflict until a person
//! resolves it, an unread urgent message escalates and runs the hook exactly once, and the
//! local socket refuses bad requests without harm.

mod support;

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reservnod::care::api::{
    ApiError, Caller, DocumentForm, Inbox, Item, LocalRequest, Person, PlanEditRequest, PlanPatch,
    PlanView, Reply, Request, SendRequest, Via,
};
use reservnod::files::datadir::DataDir;
use reservnod::serve::socket;
use reservnod::store::AuditAction;
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, MessageKind, PAYLOAD_FORMAT,
};
use reservnod_proto::event::{Body, Event, EventClass, Header, EVENT_FORMAT};
use reservnod_proto::{EventClass as Class, Hlc, HsaId, Priority};
use support::{bind, region, start_node, start_node_with, Node};

const PATIENT: &str = "19121212-1212";
const LIMIT: Duration = Duration::from_secs(30);

fn person(name: &str) -> Person {
    Person {
        name: name.into(),
        role: "sjuksköterska".into(),
        login: Some("test".into()),
    }
}

/// The node's own account, naming Sara Sjöberg (as the CLI with --author does).
fn sara() -> Caller {
    as_person("Sara Sjöberg")
}

fn as_person(name: &str) -> Caller {
    Caller::local(person(name), Via::Socket)
}

/// A request on the socket, from the node's own account naming `name`.
fn line(name: &str, request: Request) -> LocalRequest {
    LocalRequest {
        local: person(name),
        request,
    }
}

fn send(to: &[&HsaId], patient: Option<&str>, urgent: bool, document: DocumentForm) -> Request {
    Request::Send(SendRequest {
        patient: patient.map(str::to_string),
        to: to.iter().map(|u| u.to_string()).collect(),
        urgent,
        ..SendRequest::new(document)
    })
}

async fn ask(node: &Node, request: Request) -> Reply {
    node.handle
        .ask(sara(), request)
        .await
        .expect("request answered")
}

async fn sent_id(node: &Node, request: Request) -> String {
    match ask(node, request).await {
        Reply::Sent(s) => s.event,
        other => panic!("expected Sent, got {other:?}"),
    }
}

async fn inbox(node: &Node) -> Inbox {
    match ask(node, Request::Inbox {}).await {
        Reply::Inbox(i) => i,
        other => panic!("expected Inbox, got {other:?}"),
    }
}

async fn plan(node: &Node, doc: &str) -> Option<PlanView> {
    match node
        .handle
        .ask(sara(), Request::Plan { doc: doc.into() })
        .await
    {
        Ok(Reply::Plan(p)) => Some(p),
        _ => None,
    }
}

/// Polls an async probe until it yields, for at most `limit`.
async fn until<T, F: Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sent_item<'a>(inbox: &'a Inbox, id: &str) -> Option<&'a Item> {
    inbox.sent.iter().find(|i| i.event == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_for_discharge_and_plan_reach_the_municipality_and_read_comes_back() {
    let r = region(3, 0);
    let muni_u = &r.nodes[1].unit;
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let (s2, a2) = bind();
    let ward = start_node(&r.nodes[0].dir, s0, a0, &[a1, a2]).await;
    let muni = start_node(&r.nodes[1].dir, s1, a1, &[a0, a2]).await;
    let pc = start_node(&r.nodes[2].dir, s2, a2, &[a0, a1]).await;

    let admission = sent_id(
        &ward,
        send(
            &[muni_u],
            Some(PATIENT),
            false,
            DocumentForm::Admission {
                at: Some("2026-11-18 12:06".into()),
                reason: "Höftfraktur".into(),
                needs: Some("municipality".into()),
                services: vec![],
                preliminary_discharge: None,
                municipality: None,
            },
        ),
    )
    .await;
    let ready = sent_id(
        &ward,
        send(
            &[],
            Some(PATIENT),
            false,
            DocumentForm::Ready {
                at: Some("2026-11-19 15:53".into()),
                physician: "Dr Berg".into(),
            },
        ),
    )
    .await;
    let plan_sent = match ask(
        &ward,
        send(
            &[],
            Some(PATIENT),
            false,
            DocumentForm::Plan {
                kind: Some("discharge".into()),
                content: PlanPatch {
                    goals: Some("Hem med hemtjänst".into()),
                    ..PlanPatch::default()
                },
            },
        ),
    )
    .await
    {
        Reply::Sent(s) => s,
        other => panic!("{other:?}"),
    };
    // Later documents of the episode go where the admission notice went.
    assert_eq!(plan_sent.to.len(), 1);
    assert_eq!(plan_sent.to[0].id, muni_u.to_string());
    assert!(plan_sent.suggested);

    // The municipality's node stores and opens them and says Delivered on its own.
    until(
        LIMIT,
        "Delivered reaches the ward for all three",
        || async {
            let i = inbox(&ward).await;
            [&admission, &ready, &plan_sent.event]
                .iter()
                .all(|id| {
                    sent_item(&i, id).is_some_and(|it| {
                        it.recipients.len() == 1 && it.recipients[0].state == "levererad"
                    })
                })
                .then_some(())
        },
    )
    .await;
    let m = inbox(&muni).await;
    assert_eq!(m.incoming.len(), 3);
    assert!(m
        .incoming
        .iter()
        .all(|i| i.read_ms.is_none() && i.patient.as_deref() == Some(PATIENT)));
    // The municipality's chain: ready for discharge, with the plan.
    match ask(
        &muni,
        Request::Chain {
            patient: PATIENT.into(),
        },
    )
    .await
    {
        Reply::Chain(c) => {
            assert_eq!(c.episodes.len(), 1);
            assert_eq!(c.episodes[0].state, "utskrivningsklar");
            assert_eq!(c.episodes[0].plans.len(), 1);
            assert!(!c.episodes[0].plans[0].conflict);
        }
        other => panic!("{other:?}"),
    }
    // Primary care was not addressed: it holds the events sealed but cannot read them.
    until(LIMIT, "primary care holds the three events", || async {
        (pc.handle.count_of(Class::Clinical) >= 3).then_some(())
    })
    .await;
    assert!(inbox(&pc).await.incoming.is_empty());
    let refused = pc
        .handle
        .ask(
            as_person("Eva"),
            Request::Ack {
                event: ready.clone(),
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(ApiError::Refused(m)) if m.contains("kan inte läsas av enheten")),
        "{refused:?}"
    );

    // A person at the municipality acknowledges; the ward sees who and when.
    let receipts_before = muni.handle.count_of(Class::Receipt);
    match muni
        .handle
        .ask(
            as_person("Kim Karlsson"),
            Request::Ack {
                event: ready[..12].into(),
            },
        )
        .await
        .expect("acknowledged")
    {
        Reply::Acked(a) => assert!(!a.already),
        other => panic!("{other:?}"),
    }
    let read = until(LIMIT, "Read reaches the ward", || async {
        let i = inbox(&ward).await;
        sent_item(&i, &ready)
            .and_then(|it| (it.recipients[0].state == "läst").then(|| it.recipients[0].clone()))
    })
    .await;
    assert_eq!(read.read_by.as_deref(), Some("Kim Karlsson"));
    assert!(read.delivered_ms.is_some() && read.read_ms.is_some());
    // Acknowledging again writes nothing new.
    match muni
        .handle
        .ask(
            as_person("Någon Annan"),
            Request::Ack {
                event: ready.clone(),
            },
        )
        .await
        .expect("acknowledged")
    {
        Reply::Acked(a) => {
            assert!(a.already);
            assert_eq!(a.by, "Kim Karlsson");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(muni.handle.count_of(Class::Receipt), receipts_before + 1);
    // The municipality's inbox shows it read, the rest unread first.
    let m = inbox(&muni).await;
    assert_eq!(
        m.incoming.last().map(|i| i.event.as_str()),
        Some(ready.as_str())
    );
    // A question and its answer form a thread; the answer finds its way back by itself.
    let question = sent_id(
        &ward,
        send(&[muni_u], Some(PATIENT), false, message("Hemtjänst?")),
    )
    .await;
    // In the municipality's view (the store has it a moment before the view does).
    until(
        LIMIT,
        "the question reaches the municipality's inbox",
        || async {
            inbox(&muni)
                .await
                .incoming
                .iter()
                .any(|i| i.event == question)
                .then_some(())
        },
    )
    .await;
    let answer = match ask(
        &muni,
        Request::Send(SendRequest {
            reply_to: Some(question[..10].to_string()),
            ..match send(&[], None, false, message("Svar: ja")) {
                Request::Send(s) => s,
                _ => unreachable!(),
            }
        }),
    )
    .await
    {
        Reply::Sent(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        answer.to[0].id,
        r.nodes[0].unit.to_string(),
        "an answer goes to the asker"
    );
    let shown = until(LIMIT, "the answer reaches the ward's thread", || async {
        match ward
            .handle
            .ask(
                sara(),
                Request::Show {
                    event: question.clone(),
                },
            )
            .await
        {
            Ok(Reply::Shown(s)) if !s.thread.is_empty() => Some(s),
            _ => None,
        }
    })
    .await;
    assert_eq!(shown.thread.len(), 1);
    assert_eq!(shown.thread[0].event, answer.event);
    assert_eq!(
        shown.thread[0].patient.as_deref(),
        Some(PATIENT),
        "the answer keeps the patient"
    );

    ward.stop().await;
    muni.stop().await;
    pc.stop().await;
    // The municipality's reads and its acknowledgement are in its audit log, with the patient.
    let store = DataDir::new(&r.nodes[1].dir).open_store().expect("store");
    let entries: Vec<_> = store
        .audit_entries(0)
        .map(|e| e.expect("audit entry").1)
        .collect();
    let patient: reservnod_proto::PatientId = PATIENT.parse().expect("test number");
    assert!(entries.iter().any(|e| e.action == AuditAction::Read
        && e.names(&patient)
        && e.detail.contains("vårdkedja")));
    assert!(entries
        .iter()
        .any(|e| e.action == AuditAction::Write && e.names(&patient) && e.detail == "kvitterad"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_clear_and_change_nothing() {
    let r = region(2, 0);
    let (s0, a0) = bind();
    let ward = start_node(&r.nodes[0].dir, s0, a0, &[]).await;
    let muni_u = r.nodes[1].unit.clone();
    let before = ward.handle.event_count();
    let cases: Vec<(Request, &str)> = vec![
        (
            send(
                &[],
                Some(PATIENT),
                false,
                DocumentForm::Ready {
                    at: Some("1970-01-01 01:00".into()),
                    physician: "x".into(),
                },
            ),
            "vårdtillfälle",
        ),
        (
            Request::Send(SendRequest {
                to: vec!["SE2321000081-FINNSEJ".into()],
                ..match send(&[], Some(PATIENT), false, message("a")) {
                    Request::Send(s) => s,
                    _ => unreachable!(),
                }
            }),
            "finns inte i registret",
        ),
        (
            send(&[&muni_u], Some("19121212-1213"), false, message("a")),
            "ogiltigt patient-id",
        ),
        (
            send(
                &[&muni_u],
                None,
                false,
                DocumentForm::Ready {
                    at: Some("1970-01-01 01:00".into()),
                    physician: "x".into(),
                },
            ),
            "patient",
        ),
        (
            send(
                &[],
                Some(PATIENT),
                false,
                DocumentForm::Admission {
                    at: Some("1970-01-01 01:00".into()),
                    reason: "x".into(),
                    needs: Some("both".into()),
                    services: vec![],
                    preliminary_discharge: None,
                    municipality: Some("0180".into()),
                },
            ),
            "ingen mottagande enhet",
        ),
        (
            Request::Ack {
                event: "00112233".into(),
            },
            "ingen händelse",
        ),
        (Request::Plan { doc: "zz".into() }, "plan-id"),
    ];
    let nobody = (
        as_person(" "),
        send(&[&muni_u], None, false, message("a")),
        "--author",
    );
    for (caller, request, expect) in cases
        .into_iter()
        .map(|(r, e)| (sara(), r, e))
        .chain([nobody])
    {
        let what = format!("{request:?}");
        match ward.handle.ask(caller, request).await {
            Err(ApiError::Refused(m)) => assert!(m.contains(expect), "{what}: {m}"),
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        ward.handle.event_count(),
        before,
        "a refused request wrote something"
    );
    // A standalone message needs no patient.
    sent_id(&ward, send(&[&muni_u], None, true, message("Ring oss"))).await;
    assert_eq!(ward.handle.event_count(), before + 1);

    // The socket: a request that does not parse, or is too long, gets an error reply and the
    // node goes on answering.
    let path = socket::socket_path(&r.nodes[0].dir);
    for garbage in [
        b"{not json\n".to_vec(),
        vec![b'x'; reservnod::limits::REQUEST_BYTES_MAX + 10],
    ] {
        let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
        let _ = s.write_all(&garbage);
        let _ = s.write_all(b"\n");
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).expect("reply");
        assert!(line.contains("\"error\""), "{line}");
    }
    match socket::call(&r.nodes[0].dir, &line("", Request::Directory {})).expect("call") {
        Ok(Reply::Directory(d)) => assert_eq!(d.units.len(), 2),
        other => panic!("{other:?}"),
    }
    // Every kind of reply crosses the socket (JSON) intact.
    let sent = sent_id(
        &ward,
        send(&[&muni_u], Some(PATIENT), false, message("Över uttaget")),
    )
    .await;
    let chain_patient = PATIENT.to_string();
    for request in [
        Request::Inbox {},
        Request::Escalations {},
        Request::Show {
            event: sent.clone(),
        },
        Request::Chain {
            patient: chain_patient,
        },
        Request::Ack {
            event: sent.clone(),
        },
        match send(&[&muni_u], Some(PATIENT), false, message("Förhandsvisning")) {
            Request::Send(s) => Request::Preview(s),
            _ => unreachable!(),
        },
    ] {
        let what = format!("{request:?}");
        let dir = r.nodes[0].dir.clone();
        let answer = tokio::task::spawn_blocking(move || socket::call(&dir, &line("Kim", request)))
            .await
            .expect("join")
            .expect("the node answers");
        match answer {
            Ok(_) => {}
            // Acknowledging one's own message is refused, as a reply, not a broken line.
            Err(m) if what.starts_with("Ack") => assert!(m.contains("inte skickad till"), "{m}"),
            Err(m) => panic!("{what}: {m}"),
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the socket is open to others: {mode:o}");
    ward.stop().await;
    assert!(!path.exists(), "the socket is removed at shutdown");
    // Only the two messages that were sent are in the audit log as writes.
    let store = DataDir::new(&r.nodes[0].dir).open_store().expect("store");
    let writes = store
        .audit_entries(0)
        .map(|e| e.expect("audit entry").1)
        .filter(|e| e.action == AuditAction::Write)
        .count();
    assert_eq!(writes, 2, "a refused request left an audit entry");
}

fn message(subject: &str) -> DocumentForm {
    DocumentForm::Message {
        kind: Some("question".into()),
        subject: subject.into(),
        text: "Text".into(),
        answer_by: None,
    }
}

/// The document a [`message`] form describes, for events written by hand.
fn message_document(subject: &str) -> Document {
    Document::Message {
        kind: MessageKind::Question,
        subject: subject.into(),
        text: "Text".into(),
        answer_by_ms: None,
        reply_to: None,
    }
}

fn edit(doc: &str, goals: &str, resolve: bool, base: Option<&str>) -> Request {
    Request::PlanEdit(PlanEditRequest {
        doc: doc.into(),
        resolve,
        base: base.map(str::to_string),
        heads: None,
        patch: PlanPatch {
            goals: Some(goals.into()),
            ..PlanPatch::default()
        },
        urgent: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_plan_edits_show_a_conflict_until_resolved() {
    let r = region(2, 0);
    let muni_u = r.nodes[1].unit.clone();
    let (d0, d1) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());

    // Together: the ward admits the patient and writes a plan; the municipality receives it.
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let ward = start_node(&d0, s0, a0, &[a1]).await;
    let muni = start_node(&d1, s1, a1, &[a0]).await;
    sent_id(
        &ward,
        send(
            &[&muni_u],
            Some(PATIENT),
            false,
            DocumentForm::Admission {
                at: Some("2026-11-18 12:06".into()),
                reason: "x".into(),
                needs: Some("municipality".into()),
                services: vec![],
                preliminary_discharge: None,
                municipality: None,
            },
        ),
    )
    .await;
    let doc = match ask(
        &ward,
        send(
            &[],
            Some(PATIENT),
            false,
            DocumentForm::Plan {
                kind: Some("sip".into()),
                content: PlanPatch {
                    goals: Some("Första versionen".into()),
                    patient_view: Some("Vill hem".into()),
                    ..PlanPatch::default()
                },
            },
        ),
    )
    .await
    {
        Reply::Sent(s) => s.plan.expect("a plan id"),
        other => panic!("{other:?}"),
    };
    until(LIMIT, "the plan reaches the municipality", || {
        plan(&muni, &doc)
    })
    .await;
    ward.stop().await;
    muni.stop().await;

    // Apart: each side edits the same version.
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let ward = start_node(&d0, s0, a0, &[]).await;
    let muni = start_node(&d1, s1, a1, &[]).await;
    sent_id(&ward, edit(&doc, "Avdelningens text", false, None)).await;
    sent_id(&muni, edit(&doc, "Kommunens text", false, None)).await;
    for n in [&ward, &muni] {
        let p = plan(n, &doc).await.expect("plan");
        assert!(!p.conflict, "each side alone sees one head");
    }
    ward.stop().await;
    muni.stop().await;

    // Healed: both show the conflict with both texts, and refuse a plain edit.
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let ward = start_node(&d0, s0, a0, &[a1]).await;
    let muni = start_node(&d1, s1, a1, &[a0]).await;
    for n in [&ward, &muni] {
        let p = until(LIMIT, "both sides see the conflict", || async {
            plan(n, &doc).await.filter(|p| p.conflict)
        })
        .await;
        let mut texts: Vec<&str> = p.heads.iter().map(|h| h.content.goals.as_str()).collect();
        texts.sort();
        assert_eq!(texts, ["Avdelningens text", "Kommunens text"]);
        // The untouched field survives from the common version on both sides.
        assert!(p.heads.iter().all(|h| h.content.patient_view == "Vill hem"));
    }
    match ward
        .handle
        .ask(sara(), edit(&doc, "en tredje", false, None))
        .await
    {
        Err(ApiError::Refused(m)) => assert!(m.contains("konflikt"), "{m}"),
        other => panic!("a plain edit of a conflict must be refused: {other:?}"),
    }
    match ward
        .handle
        .ask(sara(), edit(&doc, "utan bas", true, None))
        .await
    {
        Err(ApiError::Refused(m)) => assert!(m.contains("--base"), "{m}"),
        other => panic!("resolving needs a base: {other:?}"),
    }
    // A person resolves it on the municipality's node, from the ward's text.
    let p = plan(&muni, &doc).await.expect("plan");
    let base = p
        .heads
        .iter()
        .find(|h| h.content.goals == "Avdelningens text")
        .expect("head")
        .event
        .clone();
    let resolved = sent_id(&muni, edit(&doc, "Gemensam text", true, Some(&base))).await;
    for n in [&ward, &muni] {
        let p = until(LIMIT, "both sides see the resolution", || async {
            plan(n, &doc).await.filter(|p| !p.conflict)
        })
        .await;
        assert_eq!(p.heads.len(), 1);
        assert_eq!(p.heads[0].event, resolved);
        assert_eq!(p.heads[0].content.goals, "Gemensam text");
        assert_eq!(
            p.heads[0].replaces.len(),
            2,
            "the resolution replaces both versions"
        );
        assert_eq!(p.versions, 4, "nothing was dropped");
    }
    // A note belongs to its plan's patient: another patient is refused, none is filled in.
    let note = |patient: Option<&str>| {
        send(
            &[],
            patient,
            false,
            DocumentForm::PlanNote {
                plan: doc.clone(),
                text: "SIP-möte bokat".into(),
            },
        )
    };
    match ward.handle.ask(sara(), note(Some("19821105-9954"))).await {
        Err(ApiError::Refused(m)) => assert!(m.contains("annan patient"), "{m}"),
        other => panic!("a note for another patient must be refused: {other:?}"),
    }
    sent_id(&ward, note(None)).await;
    let p = until(LIMIT, "the note reaches the municipality", || async {
        plan(&muni, &doc).await.filter(|p| !p.notes.is_empty())
    })
    .await;
    assert_eq!(p.notes[0].2, "SIP-möte bokat");
    ward.stop().await;
    muni.stop().await;
}

/// A clinical event from the node in `dir` with a chosen timestamp (to stand for a message
/// sent a while ago).
fn backdated(
    dir: &Path,
    roster: &reservnod_proto::Roster,
    to: &HsaId,
    wall_ms: u64,
    priority: Priority,
) -> reservnod_proto::SignedEvent {
    written_at(dir, roster, to, wall_ms, wall_ms, priority)
}

/// [`backdated`] with the payload's written time and the header's hybrid timestamp apart
/// (a peer's clock can push the hybrid clock ahead of the wall clock).
fn written_at(
    dir: &Path,
    roster: &reservnod_proto::Roster,
    to: &HsaId,
    written_ms: u64,
    hlc_ms: u64,
    priority: Priority,
) -> reservnod_proto::SignedEvent {
    let dd = DataDir::new(dir);
    let node = dd.node_key().expect("node key");
    let unit = dd.unit_key().expect("unit key");
    let payload = ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: Some(PATIENT.parse().expect("test number")),
        episode: None,
        written_at_ms: written_ms,
        author: "Sara Sjöberg".into(),
        role: "sjuksköterska".into(),
        consent: ConsentBasis::Consent,
        receipt_required: true,
        phrases: vec![],
        document: message_document("Ring avdelningen"),
    };
    Header {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: unit.unit().clone(),
        user: None,
        hlc: Hlc {
            wall_ms: hlc_ms,
            logical: 0,
        },
        class: EventClass::Clinical,
        priority,
        recipients: vec![to.clone()],
        doc: None,
    }
    .seal(
        &mut rand_core::OsRng,
        &payload.encode().expect("payload"),
        |u| roster.unit(u).map(|x| x.encryption_key),
    )
    .expect("seal")
    .sign(&node)
    .expect("sign")
}

fn hook_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_urgent_message_escalates_and_runs_the_hook_exactly_once() {
    let r = region(2, 0);
    let roster = DataDir::new(&r.nodes[0].dir)
        .roster()
        .expect("roster")
        .expect("installed");
    assert_eq!(roster.escalation.urgent_unread_minutes, 30);
    let muni_u = r.nodes[1].unit.clone();
    let hook_log = r.root.path().join("hook.log");
    // The hook records its whole environment: nothing about the patient may be in it.
    let extra = format!(
        "escalation_command = [\"/bin/sh\", \"-c\", \"env | grep -E 'RESERVNOD|1912' >> '{}'; echo ---- >> '{}'\"]\n",
        hook_log.display(),
        hook_log.display()
    );
    let now = reservnod::clock::now_ms();
    let urgent = backdated(
        &r.nodes[0].dir,
        &roster,
        &muni_u,
        now - 31 * 60_000,
        Priority::Urgent,
    );
    // Normal messages may stay unread for 4 hours: this one is not due.
    let normal = backdated(
        &r.nodes[0].dir,
        &roster,
        &muni_u,
        now - 31 * 60_000,
        Priority::Normal,
    );
    let urgent_id = urgent.id().to_string();

    let (s0, a0) = bind();
    let ward = start_node_with(&r.nodes[0].dir, s0, a0, &[], &extra).await;
    ward.handle
        .write(vec![urgent, normal])
        .await
        .expect("write");
    until(Duration::from_secs(30), "the hook runs", || async {
        hook_lines(&hook_log)
            .iter()
            .any(|l| l == "----")
            .then_some(())
    })
    .await;
    // Two more check rounds: still exactly one run.
    tokio::time::sleep(reservnod::limits::ESCALATION_CHECK_INTERVAL * 2 + Duration::from_secs(1))
        .await;
    let lines = hook_lines(&hook_log);
    assert_eq!(
        lines.iter().filter(|l| *l == "----").count(),
        1,
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("RESERVNOD_ESCALATION_EVENT={urgent_id}")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("RESERVNOD_ESCALATION_UNIT={muni_u}")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"RESERVNOD_ESCALATION_PRIORITY=brådskande".to_string()),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("1912")),
        "patient data reached the hook: {lines:?}"
    );
    match ask(&ward, Request::Escalations {}).await {
        Reply::Escalations(reservnod::care::api::Escalations { escalations: list }) => {
            assert_eq!(list.len(), 1, "{list:?}");
            assert_eq!(list[0].event, urgent_id);
            assert_eq!(list[0].command_ran, Some(true));
        }
        other => panic!("{other:?}"),
    }
    let i = inbox(&ward).await;
    let item = sent_item(&i, &urgent_id).expect("sent");
    assert!(item.recipients[0].escalated_ms.is_some());
    ward.stop().await;

    // After a restart the mark is still there: no second run.
    let (s0, a0) = bind();
    let ward = start_node_with(&r.nodes[0].dir, s0, a0, &[], &extra).await;
    tokio::time::sleep(reservnod::limits::ESCALATION_CHECK_INTERVAL * 2 + Duration::from_secs(1))
        .await;
    let lines = hook_lines(&hook_log);
    assert_eq!(
        lines.iter().filter(|l| *l == "----").count(),
        1,
        "{lines:?}"
    );
    ward.stop().await;
}

/// A receipt event by the node in `dir`, saying `unit` read `event`.
fn receipt_from(dir: &Path, event: &str, unit: &HsaId, to: &HsaId) -> reservnod_proto::SignedEvent {
    use reservnod_proto::care::receipts::{Receipt, ReceiptKind, RECEIPT_FORMAT};
    let dd = DataDir::new(dir);
    let node = dd.node_key().expect("node key");
    let own = dd.unit_key().expect("unit key");
    let body = Receipt {
        format: RECEIPT_FORMAT,
        kind: ReceiptKind::Read,
        event: event.parse().expect("event id"),
        unit: unit.clone(),
        by: Some("Mallory".into()),
        at_ms: 1,
    }
    .encode()
    .expect("receipt");
    Event {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: own.unit().clone(),
        user: None,
        hlc: Hlc {
            wall_ms: reservnod::clock::now_ms(),
            logical: 0,
        },
        class: EventClass::Receipt,
        priority: Priority::Normal,
        recipients: vec![to.clone()],
        doc: None,
        body: Body::Plain(body),
    }
    .sign(&node)
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_speaks_only_for_its_own_unit() {
    let r = region(3, 0);
    let (ward_u, muni_u) = (r.nodes[0].unit.clone(), r.nodes[1].unit.clone());
    let (s0, a0) = bind();
    let ward = start_node(&r.nodes[0].dir, s0, a0, &[]).await;
    let id = sent_id(&ward, send(&[&muni_u], None, false, message("Fråga"))).await;
    let state = |i: &Inbox| sent_item(i, &id).expect("sent").recipients[0].state.clone();
    // A node of primary care claims the municipality read it: stored (it is a valid event),
    // but it does not count.
    let forged = receipt_from(&r.nodes[2].dir, &id, &muni_u, &ward_u);
    let outcome = ward.handle.write(vec![forged]).await.expect("write");
    assert_eq!(outcome.stored.len(), 1);
    assert_eq!(state(&inbox(&ward).await), "väntar");
    // The municipality's own node saying so does.
    let genuine = receipt_from(&r.nodes[1].dir, &id, &muni_u, &ward_u);
    ward.handle.write(vec![genuine]).await.expect("write");
    assert_eq!(state(&inbox(&ward).await), "läst");
    ward.stop().await;
}

/// One stored event that no longer verifies (a damaged disk) does not keep the node down:
/// it is quarantined and counted, and the node starts with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_event_is_quarantined_and_the_node_starts() {
    let r = region(2, 0);
    let dd = DataDir::new(&r.nodes[0].dir);
    let roster = dd.roster().expect("roster").expect("installed");
    let muni_u = r.nodes[1].unit.clone();
    let now = reservnod::clock::now_ms();
    let good = backdated(&r.nodes[0].dir, &roster, &muni_u, now, Priority::Normal);
    let bad = backdated(&r.nodes[0].dir, &roster, &muni_u, now + 1, Priority::Normal);
    {
        let store = dd.open_store().expect("store");
        let out = store
            .insert(
                &reservnod::node::ingest::admit(&roster, &[good.clone(), bad.clone()], None)
                    .accepted,
            )
            .expect("insert");
        assert_eq!(out.new.len(), 2);
        let mut damaged = bad.clone();
        damaged.sig[0] ^= 0x01;
        store
            .overwrite_for_fault_tests(&bad.id(), &damaged)
            .expect("damage");
    }
    let (s0, a0) = bind();
    let ward = start_node(&r.nodes[0].dir, s0, a0, &[]).await;
    assert!(ward.handle.has(&good.id()));
    assert!(
        !ward.handle.has(&bad.id()),
        "the damaged event is out of use"
    );
    let i = inbox(&ward).await;
    assert!(sent_item(&i, &good.id().to_string()).is_some());
    assert!(sent_item(&i, &bad.id().to_string()).is_none());
    assert_eq!(ward.handle.event_count(), 1);
    assert_eq!(ward.handle.quarantined(), 1);
    ward.stop().await;
}

fn hook_config(log: &Path) -> String {
    format!(
        "escalation_command = [\"/bin/sh\", \"-c\", \"env | grep -E 'RESERVNOD' >> '{}'; echo ---- >> '{}'\"]\n",
        log.display(),
        log.display()
    )
}

fn hook_runs(log: &Path) -> usize {
    hook_lines(log).iter().filter(|l| *l == "----").count()
}

/// An urgent message escalates 30 minutes after it was written, even when its hybrid
/// timestamp was pushed 9 minutes ahead by a peer's clock (the HLC is not the clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_counts_from_when_the_message_was_written() {
    let r = region(2, 0);
    let roster = DataDir::new(&r.nodes[0].dir)
        .roster()
        .expect("roster")
        .expect("installed");
    let log = r.root.path().join("hook.log");
    let now = reservnod::clock::now_ms();
    let urgent = written_at(
        &r.nodes[0].dir,
        &roster,
        &r.nodes[1].unit,
        now - 31 * 60_000,
        now + 9 * 60_000,
        Priority::Urgent,
    );
    let (s0, a0) = bind();
    let ward = start_node_with(&r.nodes[0].dir, s0, a0, &[], &hook_config(&log)).await;
    ward.handle
        .write(vec![urgent.clone()])
        .await
        .expect("write");
    until(Duration::from_secs(30), "the hook runs", || async {
        (hook_runs(&log) > 0).then_some(())
    })
    .await;
    assert!(hook_lines(&log).contains(&format!("RESERVNOD_ESCALATION_EVENT={}", urgent.id())));
    ward.stop().await;
}

/// Escalations are the unit's: the node that escalates tells its unit with an Escalated
/// receipt that reaches the unit's other node, and a new node of the unit does not replay
/// the unit's unread history (messages that were due before it started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_escalates_once_and_a_new_node_does_not_replay_history() {
    use reservnod_proto::care::receipts::ReceiptKind;
    let mut r = region(2, 0);
    let ward_u = r.nodes[0].unit.clone();
    let muni_u = r.nodes[1].unit.clone();
    // A second workstation of the ward, set up now.
    let dir2 = r.root.path().join("ward2");
    let unit_key = std::fs::read_to_string(r.root.path().join(format!("admin/units/{ward_u}.key")))
        .expect("unit key");
    let init = DataDir::new(&dir2)
        .init(&unit_key, Some(&r.admin.signed().expect("signed")))
        .expect("init");
    r.admin
        .add_node(init.node.id(), ward_u.clone(), "Avdelningen 2", 10)
        .expect("add node");
    let signed = r.admin.signed().expect("signed");
    for d in [&r.nodes[0].dir, &r.nodes[1].dir, &dir2] {
        DataDir::new(d).install_roster(&signed).expect("install");
    }
    let roster = r.admin.roster.clone();
    let now = reservnod::clock::now_ms();
    // History: an urgent message of the ward's first node, unread for an hour, that the new
    // node got before it ever ran (the unit's nodes that ran then alarmed for it).
    let history = backdated(
        &r.nodes[0].dir,
        &roster,
        &muni_u,
        now - 60 * 60_000,
        Priority::Urgent,
    );
    {
        let store = DataDir::new(&dir2).open_store().expect("store");
        let out = store
            .insert(
                &reservnod::node::ingest::admit(&roster, std::slice::from_ref(&history), None)
                    .accepted,
            )
            .expect("insert");
        assert_eq!(out.new.len(), 1);
    }
    let (log1, log2) = (
        r.root.path().join("hook1.log"),
        r.root.path().join("hook2.log"),
    );
    let (s1, a1) = bind();
    let (s2, a2) = bind();
    let ward1 = start_node_with(&r.nodes[0].dir, s1, a1, &[a2], &hook_config(&log1)).await;
    let ward2 = start_node_with(&dir2, s2, a2, &[a1], &hook_config(&log2)).await;
    // A new unread urgent message of the first node, due a minute ago: its author alarms,
    // once, and tells the unit.
    let fresh = backdated(
        &r.nodes[0].dir,
        &roster,
        &muni_u,
        now - 31 * 60_000,
        Priority::Urgent,
    );
    ward1
        .handle
        .write(vec![fresh.clone()])
        .await
        .expect("write");
    until(
        LIMIT,
        "the second node holds the unit's Escalated receipt",
        || async {
            ward2
                .handle
                .receipts(&fresh.id())
                .iter()
                .any(|r| r.kind == ReceiptKind::Escalated && r.unit == ward_u)
                .then_some(())
        },
    )
    .await;
    until(LIMIT, "the author node's hook runs", || async {
        (hook_runs(&log1) >= 1).then_some(())
    })
    .await;
    // Two more check rounds: the new node alarmed for nothing, neither history nor the
    // message its unit already escalated.
    tokio::time::sleep(reservnod::limits::ESCALATION_CHECK_INTERVAL * 2 + Duration::from_secs(1))
        .await;
    assert_eq!(hook_runs(&log2), 0, "{:?}", hook_lines(&log2));
    // The escalation is the unit's: the second node lists it, with the node that escalated,
    // and its inbox marks the message escalated (issue 10 point 10), though it alarmed for
    // nothing itself.
    let listed = match ask(&ward2, Request::Escalations {}).await {
        Reply::Escalations(e) => e.escalations,
        other => panic!("expected Escalations, got {other:?}"),
    };
    let fresh_id = fresh.id().to_string();
    let mine: Vec<_> = listed.iter().filter(|e| e.event == fresh_id).collect();
    assert_eq!(mine.len(), 1, "{listed:?}");
    assert_eq!(mine[0].node, r.nodes[0].id.to_string());
    assert_eq!(mine[0].unit.id, muni_u.to_string());
    assert!(!mine[0].by_this_node && mine[0].command_ran.is_none());
    let item = inbox(&ward2).await;
    let sent = sent_item(&item, &fresh_id).expect("the unit's message in the second node's inbox");
    assert!(
        sent.recipients[0].escalated_ms.is_some(),
        "{:?}",
        sent.recipients
    );
    // The author node lists it as its own.
    let listed = match ask(&ward1, Request::Escalations {}).await {
        Reply::Escalations(e) => e.escalations,
        other => panic!("expected Escalations, got {other:?}"),
    };
    let own: Vec<_> = listed.iter().filter(|e| e.event == fresh_id).collect();
    assert_eq!(own.len(), 1, "{listed:?}");
    assert!(own[0].by_this_node && own[0].command_ran.is_some());
    ward2.stop().await;
    ward1.stop().await;
}

/// Concurrent acknowledgements of one event at one node write one Read receipt: the check
/// and the write are one step per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acks_write_one_read_receipt() {
    use reservnod_proto::care::receipts::ReceiptKind;
    let r = region(2, 0);
    let roster = DataDir::new(&r.nodes[0].dir)
        .roster()
        .expect("roster")
        .expect("installed");
    let muni_u = r.nodes[1].unit.clone();
    let msg = backdated(
        &r.nodes[0].dir,
        &roster,
        &muni_u,
        reservnod::clock::now_ms(),
        Priority::Normal,
    );
    let (s1, a1) = bind();
    let muni = start_node(&r.nodes[1].dir, s1, a1, &[]).await;
    muni.handle.write(vec![msg.clone()]).await.expect("write");
    // Warm the blocking pool (one thread per request), then let all asks go at once.
    let warm: Vec<_> = (0..16)
        .map(|_| tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50))))
        .collect();
    for w in warm {
        w.await.expect("warm");
    }
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let acks: Vec<_> = (0..16)
        .map(|i| {
            let h = muni.handle.clone();
            let event = msg.id().to_string();
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.wait().await;
                h.ask(as_person(&format!("Person {i}")), Request::Ack { event })
                    .await
            })
        })
        .collect();
    for a in acks {
        assert!(matches!(a.await.expect("join"), Ok(Reply::Acked(_))));
    }
    let reads = muni
        .handle
        .receipts(&msg.id())
        .into_iter()
        .filter(|r| r.kind == ReceiptKind::Read && r.unit == muni_u)
        .count();
    assert_eq!(
        reads, 1,
        "one Read per unit, however many acknowledge at once"
    );
    muni.stop().await;
}

/// `show` at a unit that carries an event sealed to other units says it is here but
/// sealed, not that there is no such event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_of_an_event_sealed_to_other_units_says_so() {
    let r = region(3, 0);
    let roster = DataDir::new(&r.nodes[0].dir)
        .roster()
        .expect("roster")
        .expect("installed");
    let msg = backdated(
        &r.nodes[0].dir,
        &roster,
        &r.nodes[1].unit,
        reservnod::clock::now_ms(),
        Priority::Normal,
    );
    let (s2, a2) = bind();
    let relay = start_node(&r.nodes[2].dir, s2, a2, &[]).await;
    relay.handle.write(vec![msg.clone()]).await.expect("write");
    let id = msg.id().to_string();
    for typed in [id.clone(), id[..12].to_string()] {
        match relay
            .handle
            .ask(
                sara(),
                Request::Show {
                    event: typed.clone(),
                },
            )
            .await
        {
            Err(ApiError::Refused(m)) => assert!(
                m.contains("finns här men är förseglad till andra enheter"),
                "{typed}: {m}"
            ),
            other => panic!("{typed}: {other:?}"),
        }
    }
    relay.stop().await;
}

/// The audit entry of a write comes first: a write the roster refuses is still in the
/// access log (the attempt and that it failed), and an entry that cannot be written stops
/// the write, so a retry never sends a document twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_audited_before_it_is_made() {
    let r = region(1, 1);
    let stranger = &r.nodes[1];
    let (s, a) = bind();
    let node = start_node(&stranger.dir, s, a, &[]).await;
    let to = r.nodes[0].unit.clone();
    let reply = node
        .handle
        .ask(sara(), send(&[&to], Some(PATIENT), false, message("Hej")))
        .await;
    assert!(matches!(reply, Err(ApiError::Refused(_))), "{reply:?}");
    node.stop().await;
    let store = DataDir::new(&stranger.dir).open_store().expect("store");
    let writes: Vec<String> = store
        .audit_entries(0)
        .map(|e| e.expect("entry").1)
        .filter(|e| e.action == AuditAction::Write)
        .map(|e| e.detail)
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes[1].contains("skrevs inte"), "{writes:?}");
}

/// Runs the `reservnod` binary.
fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .env_remove("RESERVNOD_AUTHOR")
        .output()
        .expect("run reservnod")
}

/// Issue 10 point 12: `send plan --measure` shows `text; ansvarig; senast ÅÅÅÅ-MM-DD` in its
/// help, and that form must be read (here with no daemon: the CLI opens the data directory).
#[test]
fn the_cli_reads_a_measure_as_its_help_writes_it() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let muni = r.nodes[1].unit.to_string();
    let help = cli(&["send", "plan", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("senast ÅÅÅÅ-MM-DD"),
        "the help shows the form this test types"
    );
    let base = [
        "send",
        "--data-dir",
        &dir,
        "--author",
        "Sara Sjöberg",
        "--patient",
        PATIENT,
    ];
    let out = cli(&[
        &base[..],
        &["--to", &muni, "admission", "--reason", "Höftfraktur"],
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let measure = "Hemtjänst morgon och kväll; Karlskrona hemtjänst; senast 2026-12-10";
    let out = cli(&[
        &base[..],
        &[
            "--json",
            "--yes",
            "plan",
            "--goals",
            "Hem",
            "--measure",
            measure,
        ],
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let plan = sent["plan"].as_str().expect("a plan id").to_string();
    let out = cli(&["plan", "show", &plan[..12], "--data-dir", &dir, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &shown["heads"][0]["content"]["measures"][0];
    assert_eq!(m["text"], "Hemtjänst morgon och kväll");
    assert_eq!(m["responsible"], "Karlskrona hemtjänst");
    assert_eq!(m["by_date"], "2026-12-10");
    // A date that does not exist: one line that shows the form that works; nothing written.
    let before = DataDir::new(&r.nodes[0].dir)
        .open_store()
        .expect("store")
        .stats()
        .expect("stats")
        .events;
    let out = cli(&[&base[..], &["plan", "--measure", "x; y; senast 2026-12-32"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("fel: ") && err.contains("senast ÅÅÅÅ-MM-DD"),
        "{err}"
    );
    let after = DataDir::new(&r.nodes[0].dir)
        .open_store()
        .expect("store")
        .stats()
        .expect("stats")
        .events;
    assert_eq!(after, before, "a refused send wrote something");
}

/// `reservnod chain --json` for the ward's patient, through the command line (the running
/// node's socket, or the data directory itself when none runs): its payment date.
fn cli_payment_from(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(["chain", PATIENT, "--json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("run reservnod");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["episodes"][0]["payment_from_ms"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_shows_the_same_payment_date_with_the_node_running_or_not() {
    let r = region(2, 0);
    let (ward_dir, muni_u) = (r.nodes[0].dir.clone(), r.nodes[1].unit.clone());
    let (sock, addr) = bind();
    // A config file as `reservnod run --config` reads it, with 5 payment days (not the 3 of
    // a config that sets none).
    let config_file = r.root.path().join("avd.toml");
    std::fs::write(
        &config_file,
        format!(
            "data_dir = \"{}\"\nlisten = \"{addr}\"\ndiscovery = false\nlog = \"warn\"\npayment_days = 5\n",
            ward_dir.display()
        ),
    )
    .expect("write config");
    let config = reservnod::files::config::Config::load(&config_file).expect("config");
    let ward = support::start_config(config, sock).await;
    for request in [
        send(
            &[&muni_u],
            Some(PATIENT),
            false,
            DocumentForm::Admission {
                at: Some("2026-11-18 12:06".into()),
                reason: "Höftfraktur".into(),
                needs: Some("municipality".into()),
                services: vec![],
                preliminary_discharge: None,
                municipality: None,
            },
        ),
        send(
            &[],
            Some(PATIENT),
            false,
            DocumentForm::Ready {
                at: Some("2026-11-19 15:53".into()),
                physician: "Dr Berg".into(),
            },
        ),
    ] {
        sent_id(&ward, request).await;
    }
    let dir = ward_dir.clone();
    let running = tokio::task::spawn_blocking(move || cli_payment_from(&dir))
        .await
        .expect("join");
    assert!(running.is_some(), "the payment clock runs");
    ward.stop().await;
    let stopped = tokio::task::spawn_blocking(move || cli_payment_from(&ward_dir))
        .await
        .expect("join");
    assert_eq!(running, stopped, "the same deadline with the node stopped");
}

/// `reservnod events --json` as a list of headers, or panics with the error.
fn events_json(dir: &str, extra: &[&str]) -> serde_json::Value {
    let out = cli(&[&["events", "--json", "--data-dir", dir][..], extra].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    for secret in ["19121212", "121212-1212", "Höftfraktur"] {
        assert!(!text.contains(secret), "{secret} listed: {text}");
    }
    serde_json::from_str(&text).expect("json")
}

/// Issue 10 point 12: event ids can be listed, headers only, newest first, with and without
/// a running daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_event_headers_with_and_without_a_daemon() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let muni = r.nodes[1].unit.to_string();
    let (d, m) = (dir.clone(), muni.clone());
    let admission = tokio::task::spawn_blocking(move || {
        let out = cli(&[
            "send",
            "--data-dir",
            &d,
            "--author",
            "Sara Sjöberg",
            "--patient",
            PATIENT,
            "--to",
            &m,
            "--json",
            "admission",
            "--reason",
            "Höftfraktur",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        sent["event"].as_str().expect("an id").to_string()
    })
    .await
    .expect("join");
    // No daemon: the CLI reads the store itself.
    let d = dir.clone();
    let offline = tokio::task::spawn_blocking(move || events_json(&d, &[]))
        .await
        .expect("join");
    let list = offline["events"].as_array().expect("a list");
    assert_eq!(list.len(), 1, "{offline}");
    assert_eq!(list[0]["event"], admission.as_str());
    assert_eq!(list[0]["class"], "clinical");
    assert_eq!(list[0]["recipients"][0]["id"], muni.as_str());
    assert_eq!(list[0]["unit"]["id"], r.nodes[0].unit.to_string().as_str());

    // With the daemon running the CLI asks it (the store is the daemon's), and sees what it
    // wrote since, newest first.
    let (s, a) = bind();
    let node = start_node(&r.nodes[0].dir, s, a, &[]).await;
    let note = sent_id(
        &node,
        send(&[&r.nodes[1].unit], None, true, message("Ring avdelningen")),
    )
    .await;
    let d = dir.clone();
    let online = tokio::task::spawn_blocking(move || events_json(&d, &["--class", "clinical"]))
        .await
        .expect("join");
    let list = online["events"].as_array().expect("a list");
    let ids: Vec<&str> = list.iter().filter_map(|h| h["event"].as_str()).collect();
    assert_eq!(ids, [note.as_str(), admission.as_str()], "{online}");
    assert_eq!(list[0]["urgent"], true);
    let d = dir.clone();
    let one = tokio::task::spawn_blocking(move || events_json(&d, &["--limit", "1"]))
        .await
        .expect("join");
    assert_eq!(one["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["more"], true);
    node.stop().await;
}

/// Issue 10 point 12: `plan show` lists the plan's history, superseded versions included,
/// in its text and in its JSON.
#[test]
fn plan_show_lists_every_version_superseded_ones_too() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let muni = r.nodes[1].unit.to_string();
    let ok = |args: &[&str]| {
        let out = cli(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let base = [
        "--data-dir",
        &dir,
        "--author",
        "Sara Sjöberg",
        "--patient",
        PATIENT,
        "--to",
        &muni,
    ];
    ok(&[
        &["send"][..],
        &base,
        &["admission", "--reason", "Höftfraktur"],
    ]
    .concat());
    let sent: serde_json::Value = serde_json::from_slice(&ok(&[
        &["send"][..],
        &base,
        &["--json", "plan", "--goals", "Hem"],
    ]
    .concat()))
    .expect("json");
    let (plan, first) = (
        sent["plan"].as_str().expect("plan").to_string(),
        sent["event"].as_str().expect("event").to_string(),
    );
    let edited: serde_json::Value = serde_json::from_slice(&ok(&[
        "plan",
        "edit",
        &plan[..12],
        "--data-dir",
        &dir,
        "--author",
        "Kim Karlsson",
        "--goals",
        "Hem med hemtjänst",
        "--json",
    ]))
    .expect("json");
    let second = edited["event"].as_str().expect("event").to_string();
    let shown: serde_json::Value = serde_json::from_slice(&ok(&[
        "plan",
        "show",
        &plan[..12],
        "--data-dir",
        &dir,
        "--json",
    ]))
    .expect("json");
    let h = shown["history"].as_array().expect("a history");
    assert_eq!(h.len(), 2, "{shown}");
    assert_eq!(
        (&h[0]["event"], &h[0]["state"], &h[0]["author"]),
        (
            &serde_json::json!(first),
            &serde_json::json!("ersatt"),
            &serde_json::json!("Sara Sjöberg")
        )
    );
    assert_eq!(h[1]["event"], second.as_str());
    assert_eq!(h[1]["state"], "gällande");
    assert_eq!(h[1]["replaces"][0], first.as_str());
    let text =
        String::from_utf8(ok(&["plan", "show", &plan[..12], "--data-dir", &dir])).expect("utf8");
    assert!(text.contains("Historik"), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.contains(&id[..12]) && (l.contains("ersatt") || l.contains("gällande")))
            .unwrap_or_else(|| panic!("no history line for {id}: {text}"))
            .to_string()
    };
    assert!(line(&first).contains("Sara Sjöberg") && line(&first).contains("ersatt"));
    assert!(line(&second).contains("Kim Karlsson") && line(&second).contains("gällande"));
}
