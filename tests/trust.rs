//! Trust between units, end to end between in-process nodes of different units on loopback:
//! a ward, a municipality and a primary care centre. The primary care node is admitted (it
//! relays), but it must never read or steer the others' patients: a body it lifts into its
//! own event does not open and nothing it writes into an episode or a plan widens who the
//! others address. A plan version whose parent is still on its way waits; it is no conflict.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use reservnod::care::api::{
    ApiError, DocumentForm, PlanEditRequest, PlanPatch, PlanView, Reply, Request, SendRequest,
};
use reservnod::files::datadir::DataDir;
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, MessageKind, PlanContent, PlanKind,
    PAYLOAD_FORMAT,
};
use reservnod_proto::event::{Body, DocRef, EventClass, Header, Reject, EVENT_FORMAT};
use reservnod_proto::seal::{Sealed, WrappedKey};
use reservnod_proto::{EventId, Hlc, HsaId, Priority, Roster, SignedEvent};
use support::{bind, region, start_node, Node};

const PATIENT: &str = "19121212-1212";
const OTHER_PATIENT: &str = "19821105-9954";
const LIMIT: Duration = Duration::from_secs(30);

fn person(name: &str) -> reservnod::care::api::Person {
    reservnod::care::api::Person {
        name: name.into(),
        role: "sjuksköterska".into(),
        login: Some("test".into()),
    }
}

/// The node's own account, naming Sara Sjöberg (as the CLI with --author does).
fn sara() -> reservnod::care::api::Caller {
    reservnod::care::api::Caller::local(person("Sara Sjöberg"), reservnod::care::api::Via::Socket)
}

fn send(to: &[&HsaId], patient: Option<&str>, document: DocumentForm) -> SendRequest {
    SendRequest {
        patient: patient.map(str::to_string),
        to: to.iter().map(|u| u.to_string()).collect(),
        ..SendRequest::new(document)
    }
}

fn admission() -> DocumentForm {
    DocumentForm::Admission {
        reason: "Höftfraktur".into(),
        municipality: None,
        needs: None,
        services: vec![],
        preliminary_discharge: None,
        at: None,
    }
}

fn plan_form(goals: &str) -> DocumentForm {
    DocumentForm::Plan {
        kind: None,
        content: PlanPatch {
            goals: Some(goals.into()),
            ..PlanPatch::default()
        },
    }
}

/// A plan's content as another node writes it into its own event.
fn plan_doc(goals: &str) -> Document {
    Document::Plan {
        kind: PlanKind::Discharge,
        content: PlanContent {
            goals: goals.into(),
            measures: vec![],
            follow_up: None,
            participants: vec![],
            patient_view: String::new(),
        },
    }
}

fn edit(doc: &str, goals: &str, urgent: bool) -> Request {
    Request::PlanEdit(PlanEditRequest {
        doc: doc.into(),
        resolve: false,
        base: None,
        heads: None,
        patch: PlanPatch {
            goals: Some(goals.into()),
            ..PlanPatch::default()
        },
        urgent,
    })
}

async fn sent(node: &Node, request: Request) -> reservnod::care::api::Sent {
    match node.handle.ask(sara(), request).await {
        Ok(Reply::Sent(s)) => s,
        other => panic!("expected Sent, got {other:?}"),
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

async fn holds(node: &Node, id: &str, what: &str) -> SignedEvent {
    let id: EventId = id.parse().expect("event id");
    until(LIMIT, what, || async { node.handle.get(&id) }).await
}

fn roster(dir: &std::path::Path) -> Roster {
    DataDir::new(dir)
        .roster()
        .expect("roster")
        .expect("installed")
}

/// A clinical event written and signed by the node in `dir` with its own key, sealed for its
/// own header: a genuine event of that unit, with whatever content it chooses.
fn written_by(
    dir: &std::path::Path,
    hlc: Hlc,
    to: &[HsaId],
    doc: Option<DocRef>,
    payload: &ClinicalPayload,
) -> SignedEvent {
    let node = DataDir::new(dir).node_key().expect("node key");
    sealed_by(dir, hlc, to, doc, payload)
        .sign(&node)
        .expect("sign")
}

/// [`written_by`] signed without the author's own checks, as a hostile node's own code would.
fn forged_by(
    dir: &std::path::Path,
    hlc: Hlc,
    to: &[HsaId],
    doc: Option<DocRef>,
    payload: &ClinicalPayload,
) -> SignedEvent {
    let node = DataDir::new(dir).node_key().expect("node key");
    let event = sealed_by(dir, hlc, to, doc, payload);
    let bytes = reservnod_proto::codec::encode::<_, { usize::MAX }>(&event).expect("encode");
    let mut message = b"reservnod/event/v1\0".to_vec();
    message.extend_from_slice(&bytes);
    SignedEvent {
        sig: node.sign(&message),
        bytes,
    }
}

fn sealed_by(
    dir: &std::path::Path,
    hlc: Hlc,
    to: &[HsaId],
    doc: Option<DocRef>,
    payload: &ClinicalPayload,
) -> reservnod_proto::Event {
    let dd = DataDir::new(dir);
    let node = dd.node_key().expect("node key");
    let unit = dd.unit_key().expect("unit key");
    let roster = roster(dir);
    Header {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: unit.unit().clone(),
        user: None,
        hlc,
        class: EventClass::Clinical,
        priority: Priority::Urgent,
        recipients: to.to_vec(),
        doc,
    }
    .seal(
        &mut rand_core::OsRng,
        &payload.encode().expect("payload"),
        |u| roster.unit(u).map(|x| x.encryption_key),
    )
    .expect("seal")
}

fn payload(patient: &str, episode: Option<EpisodeId>, document: Document) -> ClinicalPayload {
    ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: Some(patient.parse().expect("test number")),
        episode,
        written_at_ms: reservnod::clock::now_ms(),
        author: "Mallory".into(),
        role: "relä".into(),
        consent: ConsentBasis::Consent,
        receipt_required: false,
        phrases: vec![],
        document,
    }
}

fn episode(hex: &str) -> EpisodeId {
    EpisodeId(
        data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .expect("hex")
            .try_into()
            .expect("16 bytes"),
    )
}

async fn three_units() -> (support::TestRegion, Node, Node, Node) {
    let r = region(3, 0);
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let (s2, a2) = bind();
    let ward = start_node(&r.nodes[0].dir, s0, a0, &[a1, a2]).await;
    let muni = start_node(&r.nodes[1].dir, s1, a1, &[a0, a2]).await;
    let pc = start_node(&r.nodes[2].dir, s2, a2, &[a0, a1]).await;
    (r, ward, muni, pc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_lifted_into_another_units_event_does_not_open_and_steers_no_recipients() {
    let (r, ward, muni, pc) = three_units().await;
    let (ward_u, muni_u, pc_u) = (&r.nodes[0].unit, &r.nodes[1].unit, &r.nodes[2].unit);

    // The ward's admission notice, urgent, to the municipality only.
    let notice = sent(
        &ward,
        Request::Send(SendRequest {
            urgent: true,
            ..send(&[muni_u], Some(PATIENT), admission())
        }),
    )
    .await;
    let episode_hex = notice.episode.clone().expect("an episode");
    // Primary care relays it and so holds its bytes, but cannot open them.
    let original = holds(&pc, &notice.event, "primary care holds the notice").await;

    // It lifts the body into its own signed event: the ephemeral key, the municipality's
    // slot and the ciphertext kept, 48 random bytes as its own unit's slot.
    let v = original.verify().expect("verify");
    let Body::Sealed(sealed) = &v.event().body else {
        panic!("a clinical event is sealed");
    };
    let slot = sealed
        .keys
        .iter()
        .find(|k| &k.unit == muni_u)
        .expect("the municipality's slot")
        .clone();
    let pc_key = DataDir::new(&r.nodes[2].dir).node_key().expect("key");
    let mut header = v.event().header();
    header.author = pc_key.id();
    header.unit = pc_u.clone();
    header.user = None;
    header.hlc = pc.handle.tick();
    header.recipients = vec![muni_u.clone()];
    let mut random = [0u8; 48];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
    let mut lifted = header.plain(Vec::new());
    lifted.body = Body::Sealed(Sealed {
        ephemeral: sealed.ephemeral,
        keys: vec![
            slot,
            WrappedKey {
                unit: pc_u.clone(),
                wrapped: random.to_vec(),
            },
        ],
        ciphertext: sealed.ciphertext.clone(),
    });
    let lifted = lifted.sign(&pc_key).expect("sign");
    let lifted_id = lifted.id();
    // A well-formed event of an admitted node: its own node stores it and spreads it.
    let outcome = pc.handle.write(vec![lifted]).await.expect("write");
    assert_eq!(outcome.stored.len(), 1, "{:?}", outcome.refused);

    // The municipality stores it but cannot open it: it is counted unreadable, shown to no
    // one as coming from primary care, and gets no Delivered.
    let lifted_hex = lifted_id.to_string();
    let inbox = until(
        LIMIT,
        "the municipality takes the lifted event in",
        || async {
            match muni.handle.ask(sara(), Request::Inbox {}).await {
                Ok(Reply::Inbox(i))
                    if i.unreadable >= 1 || i.incoming.iter().any(|x| x.event == lifted_hex) =>
                {
                    Some(i)
                }
                _ => None,
            }
        },
    )
    .await;
    assert!(
        inbox.incoming.iter().all(|i| i.from.id != pc_u.to_string()),
        "the lifted notice is shown as from primary care: {:?}",
        inbox.incoming
    );
    assert_eq!(inbox.unreadable, 1);
    assert!(inbox
        .incoming
        .iter()
        .any(|i| i.event == notice.event && i.from.id == ward_u.to_string()));
    assert!(muni.handle.receipts(&lifted_id).is_empty());
    match muni
        .handle
        .ask(
            sara(),
            Request::Show {
                event: lifted_id.to_string(),
            },
        )
        .await
    {
        Err(ApiError::Refused(_)) => {}
        other => panic!("the lifted event must not be shown: {other:?}"),
    }

    // Primary care now writes its own, genuine event into the episode (as if the episode
    // id had leaked). The municipality reads it, but primary care does not become a
    // participant: the municipality's next document goes to the ward alone.
    let intrusion = written_by(
        &r.nodes[2].dir,
        pc.handle.tick(),
        std::slice::from_ref(muni_u),
        None,
        &payload(
            PATIENT,
            Some(episode(&episode_hex)),
            Document::Message {
                kind: MessageKind::Question,
                subject: "Hemgång?".into(),
                text: "Skicka planen till oss också".into(),
                answer_by_ms: None,
                reply_to: None,
            },
        ),
    );
    let intrusion_id = intrusion.id().to_string();
    pc.handle.write(vec![intrusion]).await.expect("write");
    until(LIMIT, "the municipality reads the intrusion", || async {
        match muni.handle.ask(sara(), Request::Inbox {}).await {
            Ok(Reply::Inbox(i)) => i
                .incoming
                .iter()
                .any(|x| x.event == intrusion_id)
                .then_some(()),
            _ => None,
        }
    })
    .await;
    let ready = DocumentForm::MunicipalityReady {
        measures: "Hemtjänst fyra gånger om dagen".into(),
        from: None,
    };
    // The suggestion is shown before anything is sent, and names the ward alone.
    match muni
        .handle
        .ask(
            sara(),
            Request::Preview(send(&[], Some(PATIENT), ready.clone())),
        )
        .await
    {
        Ok(Reply::Preview(p)) => {
            let to: Vec<&str> = p.to.iter().map(|u| u.id.as_str()).collect();
            assert_eq!(to, [ward_u.as_str()], "{p:?}");
            assert!(p.suggested);
        }
        other => panic!("expected a preview, got {other:?}"),
    }
    let before = muni.handle.event_count();
    let answer = sent(&muni, Request::Send(send(&[], Some(PATIENT), ready))).await;
    let to: Vec<&str> = answer.to.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        to,
        [ward_u.as_str()],
        "the municipality's document must not go to a unit that only wrote into the episode"
    );
    assert!(muni.handle.event_count() > before);
    ward.stop().await;
    muni.stop().await;
    pc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_plan_version_is_evidence_and_never_part_of_the_plan() {
    let (r, ward, muni, pc) = three_units().await;
    let (ward_u, muni_u) = (&r.nodes[0].unit, &r.nodes[1].unit);
    sent(
        &ward,
        Request::Send(send(&[muni_u], Some(PATIENT), admission())),
    )
    .await;
    let first = sent(
        &ward,
        Request::Send(send(&[], Some(PATIENT), plan_form("Hem med hemtjänst"))),
    )
    .await;
    let doc_hex = first.plan.clone().expect("a plan");
    let to: Vec<&str> = first.to.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(to, [muni_u.as_str()]);
    until(LIMIT, "the plan reaches the municipality", || {
        plan(&muni, &doc_hex)
    })
    .await;

    // Primary care sees the plan's id in the header it relays.
    let held = holds(&pc, &first.event, "primary care relays the plan").await;
    let doc = held
        .verify()
        .expect("verify")
        .event()
        .doc
        .clone()
        .expect("a document link")
        .doc;
    let dir = &r.nodes[2].dir;
    let foreign_episode = Some(EpisodeId([0x42; 16]));
    // A first version of the same plan with an early time, to take its patient: refused by
    // every node, since only the plan's author can write its first version.
    let early = forged_by(
        dir,
        Hlc {
            wall_ms: 1,
            logical: 0,
        },
        std::slice::from_ref(muni_u),
        Some(DocRef {
            doc,
            parents: vec![],
        }),
        &payload(OTHER_PATIENT, foreign_episode, plan_doc("Ny patient")),
    );
    let outcome = pc.handle.write(vec![early]).await.expect("write");
    assert!(
        matches!(outcome.refused.as_slice(), [Reject::Invalid(m)] if m.contains("derived")),
        "{:?}",
        outcome.refused
    );
    // A later version on top of the ward's, naming another patient, and a note on the plan
    // for the plan's own patient: well-formed, stored and spread, but evidence only.
    let version = written_by(
        dir,
        pc.handle.tick(),
        std::slice::from_ref(muni_u),
        Some(DocRef {
            doc,
            parents: vec![held.id()],
        }),
        &payload(
            OTHER_PATIENT,
            foreign_episode,
            plan_doc("Primärvårdens text"),
        ),
    );
    let note = written_by(
        dir,
        pc.handle.tick(),
        std::slice::from_ref(muni_u),
        None,
        &payload(
            PATIENT,
            foreign_episode,
            Document::PlanNote {
                plan: doc,
                text: "Lägg till oss som mottagare".into(),
            },
        ),
    );
    let (version_id, note_id) = (version.id(), note.id());
    let outcome = pc.handle.write(vec![version, note]).await.expect("write");
    assert_eq!(outcome.stored.len(), 2, "{:?}", outcome.refused);
    for id in [version_id, note_id] {
        until(
            LIMIT,
            "the municipality stores the foreign events",
            || async { muni.handle.has(&id).then_some(()) },
        )
        .await;
    }

    // The municipality's plan: the ward's version alone, no conflict, the ward's patient;
    // the foreign version and note listed as untrusted, not shown as part of it.
    let p = until(LIMIT, "the municipality takes both in", || async {
        plan(&muni, &doc_hex)
            .await
            .filter(|p| p.untrusted.len() + p.versions + p.notes.len() == 3)
    })
    .await;
    assert!(
        !p.conflict,
        "a foreign version must not make a conflict: {p:?}"
    );
    assert_eq!(p.heads.len(), 1);
    assert_eq!(p.heads[0].event, first.event);
    assert_eq!(p.patient.as_deref(), Some(PATIENT));
    assert_eq!(p.versions, 1);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let mut evidence: Vec<&str> = p.untrusted.iter().map(|u| u.event.as_str()).collect();
    evidence.sort();
    let mut expected = [version_id.to_string(), note_id.to_string()];
    expected.sort();
    assert_eq!(
        evidence,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(p
        .untrusted
        .iter()
        .all(|u| u.unit.id == r.nodes[2].unit.to_string()));
    // The other patient's chain does not show the plan.
    if let Ok(Reply::Chain(c)) = muni
        .handle
        .ask(
            sara(),
            Request::Chain {
                patient: OTHER_PATIENT.into(),
            },
        )
        .await
    {
        assert!(c.episodes.iter().all(|e| e.plans.is_empty()), "{c:?}");
    }

    // The municipality edits the plan as usual; the edit goes to the ward alone.
    let edited = sent(&muni, edit(&doc_hex, "Kommunens text", false)).await;
    let to: Vec<&str> = edited.to.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        to,
        [ward_u.as_str()],
        "a foreign version must not widen the recipients"
    );
    // And so does a note on it.
    let noted = sent(
        &muni,
        Request::Send(send(
            &[],
            None,
            DocumentForm::PlanNote {
                plan: doc_hex.clone(),
                text: "SIP-möte bokat".into(),
            },
        )),
    )
    .await;
    let to: Vec<&str> = noted.to.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(to, [ward_u.as_str()]);
    let p = until(LIMIT, "the ward sees the municipality's edit", || async {
        plan(&ward, &doc_hex)
            .await
            .filter(|p| p.heads.first().is_some_and(|h| h.event == edited.event))
    })
    .await;
    assert!(!p.conflict);
    ward.stop().await;
    muni.stop().await;
    pc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_waiting_for_its_parent_is_no_conflict_and_the_plan_can_be_edited() {
    let r = region(2, 0);
    let muni_u = r.nodes[1].unit.clone();
    let (d0, d1) = (r.nodes[0].dir.clone(), r.nodes[1].dir.clone());
    // Together: the admission notice and the plan reach the municipality.
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let ward = start_node(&d0, s0, a0, &[a1]).await;
    let muni = start_node(&d1, s1, a1, &[a0]).await;
    sent(
        &ward,
        Request::Send(send(&[&muni_u], Some(PATIENT), admission())),
    )
    .await;
    let first = sent(
        &ward,
        Request::Send(send(&[], Some(PATIENT), plan_form("Första"))),
    )
    .await;
    let doc = first.plan.clone().expect("a plan");
    until(LIMIT, "the plan reaches the municipality", || {
        plan(&muni, &doc)
    })
    .await;
    ward.stop().await;
    muni.stop().await;

    // Apart: the ward edits twice, the second edit urgent. The urgent one travels first
    // and reaches the municipality before its parent.
    let (s0, a0) = bind();
    let (s1, a1) = bind();
    let ward = start_node(&d0, s0, a0, &[]).await;
    let muni = start_node(&d1, s1, a1, &[]).await;
    let second = sent(&ward, edit(&doc, "Andra", false)).await;
    let third = sent(&ward, edit(&doc, "Tredje, brådskande", true)).await;
    let get = |id: &str| ward.handle.get(&id.parse().expect("id")).expect("stored");
    let (second_event, third_event) = (get(&second.event), get(&third.event));
    muni.handle.write(vec![third_event]).await.expect("write");

    let p = plan(&muni, &doc).await.expect("plan");
    assert!(!p.conflict, "a waiting version is no conflict: {p:?}");
    assert_eq!(
        p.waiting,
        vec![(third.event.clone(), vec![second.event.clone()])]
    );
    assert_eq!(p.heads.len(), 1);
    assert_eq!(p.heads[0].event, third.event);
    assert_eq!(p.heads[0].content.goals, "Tredje, brådskande");
    // The municipality can edit it: the new version replaces the newest text it has.
    let edited = sent(&muni, edit(&doc, "Kommunens text", false)).await;
    let p = plan(&muni, &doc).await.expect("plan");
    assert_eq!(p.heads.len(), 1);
    assert_eq!(p.heads[0].event, edited.event);
    assert_eq!(p.heads[0].replaces, vec![third.event.clone()]);
    // The missing version arrives: nothing waits, still one head.
    muni.handle.write(vec![second_event]).await.expect("write");
    let p = plan(&muni, &doc).await.expect("plan");
    assert!(p.waiting.is_empty(), "{p:?}");
    assert!(!p.conflict);
    assert_eq!(p.heads.len(), 1);
    assert_eq!(p.heads[0].event, edited.event);
    assert_eq!(p.versions, 4);
    ward.stop().await;
    muni.stop().await;
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reservnod"))
        .args(args)
        .env_remove("RESERVNOD_AUTHOR")
        .output()
        .expect("run reservnod")
}

/// `reservnod send` on a terminal, as `script` (util-linux, essential in Debian) gives it
/// one, with `answer` typed at the prompt.
fn cli_on_terminal(args: &[&str], answer: &str) -> std::process::Output {
    use std::io::Write as _;
    let command = std::iter::once(env!("CARGO_BIN_EXE_reservnod"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("RESERVNOD_AUTHOR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run script");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{answer}\n").as_bytes())
        .expect("answer");
    child.wait_with_output().expect("script ends")
}

fn events_in(dir: &std::path::Path) -> u64 {
    DataDir::new(dir)
        .open_store()
        .expect("store")
        .stats()
        .expect("stats")
        .events
}

/// Without `--to`, `send` shows the suggested recipients and sends only when the person
/// confirms them on a terminal; a script must say `--to` or `--yes`. (No daemon runs: the
/// CLI opens the data directory, and answers the same way.)
#[test]
fn send_shows_its_suggestion_and_sends_only_when_confirmed() {
    let r = region(2, 0);
    let dir = r.nodes[0].dir.to_str().expect("utf8 path").to_string();
    let muni = r.nodes[1].unit.to_string();
    let base = [
        "send",
        "--data-dir",
        &dir,
        "--author",
        "Sara Sjöberg",
        "--patient",
        PATIENT,
    ];
    let admitted = cli(&[&base[..], &["--to", &muni, "admission", "--reason", "Fall"]].concat());
    assert!(
        admitted.status.success(),
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );
    let ready = [&base[..], &["ready", "--physician", "Dr Berg"]].concat();
    // No terminal, no --to, no --yes: refused in one line that names the suggestion.
    let before = events_in(&r.nodes[0].dir);
    let out = cli(&ready);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&muni) && err.contains("--yes"), "{err}");
    assert_eq!(
        events_in(&r.nodes[0].dir),
        before,
        "nothing is sent unconfirmed"
    );
    // On a terminal the suggestion is shown; "n" sends nothing, "j" sends to the units shown.
    let no = cli_on_terminal(&ready, "n");
    let shown = String::from_utf8_lossy(&no.stdout);
    assert!(
        shown.contains("Förslag: utskrivningsklar till")
            && shown.contains(&muni)
            && shown.contains("Skicka? [j/N]"),
        "{shown}"
    );
    assert!(!no.status.success(), "{shown}");
    assert_eq!(events_in(&r.nodes[0].dir), before);
    let yes = cli_on_terminal(&[&ready[..], &["--json"]].concat(), "j");
    let shown = String::from_utf8_lossy(&yes.stdout);
    assert!(yes.status.success(), "{shown}");
    assert!(shown.contains(&format!("\"id\": \"{muni}\"")), "{shown}");
    assert_eq!(events_in(&r.nodes[0].dir), before + 1);
    // A script says --yes: sent to the suggestion without a question.
    let out = cli(&[&ready[..], &["--yes", "--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(sent["to"][0]["id"], muni.as_str());
    assert_eq!(sent["suggested"], true);
    assert_eq!(events_in(&r.nodes[0].dir), before + 2);
}
