//! The screens, in Swedish. Each handler builds one `care::api` request from the URL or the
//! form as typed, and renders the reply (or the node's refusal, beside the field it is
//! about, with what was typed kept). Plain forms with POST-redirect-GET; the small script
//! only adds live updates, the as-you-type id check and the idle warning.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use reservnod_proto::care::documents::{Document, PlanContent};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::state::{page, Chrome, Identity, Web};
use crate::care::api::{
    local_time, ApiError, ChainView, Directory, Inbox, Item, Preview, RecipientState, Reply,
    Request, SendRequest, Shown,
};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/inkorg", get(inbox))
        .route("/inkorg/lista", get(inbox_lists))
        .route("/dokument/{event}", get(document))
        .route("/dokument/{event}/kvittera", post(acknowledge))
        .route("/skriv", get(write_form).post(write_submit))
        .route("/patient", get(patient))
}

/// One event in a list, as shown.
struct Row {
    event: String,
    kind: String,
    title: String,
    patient: String,
    from: String,
    author: String,
    at: String,
    urgent: bool,
    /// "Oläst", or "Läst av … (när)".
    read: Option<String>,
    recipients: Vec<RecipientRow>,
}

struct RecipientRow {
    unit: String,
    /// väntar → levererad (när) → läst (av vem, när), in words.
    state: String,
    /// The state's word alone (for the style; the text says it too).
    class: &'static str,
    escalated: Option<String>,
}

fn recipient_row(r: &RecipientState) -> RecipientRow {
    let (state, class) = match (&r.read_by, r.read_ms, r.delivered_ms) {
        (Some(by), Some(at), _) => (format!("läst av {by} {}", local_time(at)), "read"),
        (_, _, Some(at)) => (format!("levererad {}", local_time(at)), "delivered"),
        _ => ("väntar".to_string(), "waiting"),
    };
    RecipientRow {
        unit: r.unit.name.clone(),
        state,
        class,
        escalated: r.escalated_ms.map(local_time),
    }
}

fn row(i: &Item) -> Row {
    Row {
        event: i.event.clone(),
        kind: i.kind.clone(),
        title: i.title.clone(),
        patient: i.patient.clone().unwrap_or_default(),
        from: i.from.name.clone(),
        author: i.author.clone(),
        at: i.at.clone(),
        urgent: i.urgent,
        read: match (&i.read_by, i.read_ms) {
            (Some(by), Some(at)) => Some(format!("Läst av {by} {}", local_time(at))),
            _ => None,
        },
        recipients: i.recipients.iter().map(recipient_row).collect(),
    }
}

/// A refusal as a page (the node's own line), with the status it deserves.
pub(super) fn refused(web: &Web, who: &Identity, e: ApiError) -> Response {
    let status = match e {
        ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    page(
        status,
        ErrorPage {
            c: Chrome::of(web, who, "Det gick inte", ""),
            message: e.to_string(),
        },
    )
}

/// Any path the interface does not have: a whole page that says so (logged in or not).
pub(super) async fn not_found(State(web): State<Web>, req: axum::extract::Request) -> Response {
    let c = match req.extensions().get::<Identity>() {
        Some(who) => Chrome::of(&web, who, "Sidan finns inte", ""),
        None => Chrome::anonymous(&web, "Sidan finns inte"),
    };
    page(
        StatusCode::NOT_FOUND,
        ErrorPage {
            c,
            message: "Sidan finns inte. Kontrollera adressen.".into(),
        },
    )
}

pub(super) fn unexpected(web: &Web, who: &Identity) -> Response {
    refused(
        web,
        who,
        ApiError::Refused("internt fel: oväntat svar från noden".into()),
    )
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    message: String,
}

#[derive(Template)]
#[template(path = "inbox_lists.html")]
struct InboxLists {
    unit: String,
    incoming: Vec<Row>,
    unread: usize,
    sent: Vec<Row>,
    escalated: usize,
    unreadable: u64,
}

fn lists(i: &Inbox) -> InboxLists {
    let sent: Vec<Row> = i.sent.iter().map(row).collect();
    InboxLists {
        unit: i.unit.name.clone(),
        unread: i.incoming.iter().filter(|x| x.read_ms.is_none()).count(),
        incoming: i.incoming.iter().map(row).collect(),
        escalated: sent
            .iter()
            .filter(|r| r.recipients.iter().any(|x| x.escalated.is_some()))
            .count(),
        sent,
        unreadable: i.unreadable,
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    lists: InboxLists,
}

async fn inbox(State(web): State<Web>, who: Identity) -> Response {
    match web.ask(&who, Request::Inbox {}).await {
        Ok(Reply::Inbox(i)) => page(
            StatusCode::OK,
            InboxPage {
                c: Chrome::of(&web, &who, "Inkorg", "inkorg"),
                lists: lists(&i),
            },
        ),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

/// The lists alone, for the polling script.
async fn inbox_lists(State(web): State<Web>, who: Identity) -> Response {
    match web.ask(&who, Request::Inbox {}).await {
        Ok(Reply::Inbox(i)) => page(StatusCode::OK, lists(&i)),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

/// One step of a document's receipts, oldest first.
struct TimelineStep {
    at: String,
    what: String,
}

#[derive(Template)]
#[template(path = "document.html")]
struct DocumentPage {
    c: Chrome,
    row: Row,
    role: String,
    to: String,
    fields: Vec<(String, String)>,
    text: Option<String>,
    thread: Vec<Row>,
    timeline: Vec<TimelineStep>,
    /// Addressed to this unit and not yet acknowledged.
    can_ack: bool,
    /// A message from another unit: it can be answered.
    can_answer: bool,
    notice: Option<String>,
}

fn plan_fields(c: &PlanContent, out: &mut Vec<(String, String)>) {
    out.push(("Mål".into(), c.goals.clone()));
    for m in &c.measures {
        let mut s = m.text.clone();
        if !m.responsible.is_empty() {
            s.push_str(&format!("; ansvarig {}", m.responsible));
        }
        if let Some(d) = &m.by_date {
            s.push_str(&format!("; senast {d}"));
        }
        out.push(("Insats".into(), s));
    }
    if let Some(f) = &c.follow_up {
        out.push(("Uppföljning".into(), f.clone()));
    }
    if !c.participants.is_empty() {
        out.push(("Deltagare".into(), c.participants.join(", ")));
    }
    if !c.patient_view.is_empty() {
        out.push(("Patientens syn".into(), c.patient_view.clone()));
    }
}

/// The document's fields as label and value, and a message's text.
fn fields(d: &Document) -> (Vec<(String, String)>, Option<String>) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut text = None;
    match d {
        Document::AdmissionNotice {
            admitted_at_ms,
            reason,
            expected_needs,
            current_services,
            preliminary_discharge,
            municipality,
        } => {
            out.push(("Inskriven".into(), local_time(*admitted_at_ms)));
            out.push(("Orsak".into(), reason.clone()));
            out.push(("Förväntade behov".into(), format!("{expected_needs:?}")));
            if !current_services.is_empty() {
                out.push((
                    "Insatser före inskrivning".into(),
                    format!("{current_services:?}"),
                ));
            }
            if let Some(d) = preliminary_discharge {
                out.push(("Preliminärt utskrivningsdatum".into(), d.clone()));
            }
            if let Some(m) = municipality {
                out.push(("Kommun".into(), m.to_string()));
            }
        }
        Document::DischargeReady { at_ms, physician } => {
            out.push(("Utskrivningsklar".into(), local_time(*at_ms)));
            out.push(("Läkare".into(), physician.clone()));
        }
        Document::NoLongerReady { at_ms, reason } => {
            out.push(("Återtagen".into(), local_time(*at_ms)));
            out.push(("Orsak".into(), reason.clone()));
        }
        Document::MunicipalityReady {
            from_ms,
            planned_measures,
        } => {
            out.push(("Kommunklar från".into(), local_time(*from_ms)));
            out.push(("Planerade insatser".into(), planned_measures.clone()));
        }
        Document::Discharged { at_ms, destination } => {
            out.push(("Utskriven".into(), local_time(*at_ms)));
            out.push(("Till".into(), destination.clone()));
        }
        Document::Plan { content, .. } => plan_fields(content, &mut out),
        Document::PlanNote { plan, text: t } => {
            out.push(("Anteckning till plan".into(), plan.to_string()));
            text = Some(t.clone());
        }
        Document::CareReport {
            reason_for_admission,
            responsible_physician,
            summary,
            complications,
            current_health,
            risks,
            changes,
            medication,
        } => {
            for (k, v) in [
                ("Orsak till inskrivning", reason_for_admission),
                ("Ansvarig läkare", responsible_physician),
                ("Sammanfattning", summary),
                ("Komplikationer", complications),
                ("Aktuellt hälsotillstånd", current_health),
                ("Riskbedömningar", risks),
                ("Förändringar", changes),
            ] {
                if !v.is_empty() {
                    out.push((k.into(), v.clone()));
                }
            }
            for d in medication {
                out.push((
                    "Läkemedel".into(),
                    format!(
                        "{} {} {}{}",
                        d.name,
                        d.strength,
                        d.dose,
                        d.change
                            .as_deref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        Document::Message {
            subject,
            text: t,
            answer_by_ms,
            ..
        } => {
            out.push(("Ämne".into(), subject.clone()));
            if let Some(a) = answer_by_ms {
                out.push(("Svar önskas senast".into(), local_time(*a)));
            }
            text = Some(t.clone());
        }
        Document::Snapshot(s) => snapshot_fields(s, &mut out),
    }
    (out, text)
}

fn timeline(s: &Shown) -> Vec<TimelineStep> {
    let i = &s.item;
    let mut steps = vec![(
        i.at_ms,
        TimelineStep {
            at: i.at.clone(),
            what: format!("Skrivet av {} ({})", i.author, i.from.name),
        },
    )];
    for r in &i.recipients {
        if let Some(at) = r.delivered_ms {
            steps.push((
                at,
                TimelineStep {
                    at: local_time(at),
                    what: format!("Levererad till {}", r.unit.name),
                },
            ));
        }
        if let (Some(by), Some(at)) = (&r.read_by, r.read_ms) {
            steps.push((
                at,
                TimelineStep {
                    at: local_time(at),
                    what: format!("Läst av {by} ({})", r.unit.name),
                },
            ));
        }
        if let Some(at) = r.escalated_ms {
            steps.push((
                at,
                TimelineStep {
                    at: local_time(at),
                    what: format!("Eskalerad: oläst hos {}", r.unit.name),
                },
            ));
        }
    }
    if let (Some(by), Some(at)) = (&i.read_by, i.read_ms) {
        steps.push((
            at,
            TimelineStep {
                at: local_time(at),
                what: format!("Kvitterad av {by}"),
            },
        ));
    }
    steps.sort_by_key(|(at, _)| *at);
    steps.into_iter().map(|(_, s)| s).collect()
}

#[derive(Deserialize)]
struct Notice {
    #[serde(default)]
    skickat: Option<String>,
    #[serde(default)]
    kvitterat: Option<String>,
}

async fn document(
    State(web): State<Web>,
    who: Identity,
    Path(event): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let own = match web.ask(&who, Request::Directory {}).await {
        Ok(Reply::Directory(d)) => d.unit.id,
        Ok(_) => return unexpected(&web, &who),
        Err(e) => return refused(&web, &who, e),
    };
    match web.ask(&who, Request::Show { event }).await {
        Ok(Reply::Shown(s)) => {
            let incoming = s.item.from.id != own;
            let (fields, text) = fields(&s.document);
            let notice = if n.skickat.is_some() {
                Some("Skickat.".to_string())
            } else if n.kvitterat.is_some() {
                Some("Kvitterat.".to_string())
            } else {
                None
            };
            page(
                StatusCode::OK,
                DocumentPage {
                    c: Chrome::of(&web, &who, &s.item.kind, "inkorg"),
                    row: row(&s.item),
                    role: s.role.clone(),
                    to: s
                        .to
                        .iter()
                        .map(|u| u.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    fields,
                    text,
                    thread: s.thread.iter().map(row).collect(),
                    timeline: timeline(&s),
                    can_ack: incoming && s.item.read_ms.is_none(),
                    can_answer: incoming && matches!(s.document, Document::Message { .. }),
                    notice,
                },
            )
        }
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

/// "Kvittera": the only way a Read receipt is written.
async fn acknowledge(State(web): State<Web>, who: Identity, Path(event): Path<String>) -> Response {
    match web.ask(&who, Request::Ack { event }).await {
        Ok(Reply::Acked(a)) => {
            Redirect::to(&format!("/dokument/{}?kvitterat=1", a.event)).into_response()
        }
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

/// The document kinds the write form offers, message first: (value, Swedish name).
const KINDS: &[(&str, &str)] = &[
    ("message", "Meddelande"),
    ("admission", "Inskrivningsmeddelande"),
    ("ready", "Utskrivningsklar"),
    ("withdraw_ready", "Återtag av utskrivningsklar"),
    ("municipality_ready", "Kommunklar"),
    ("discharged", "Utskriven"),
    ("plan", "Ny plan"),
    ("plan_note", "Anteckning till plan"),
    ("care_report", "Vårdrapport"),
];

/// The form as typed, field by field (kept to show again beside a refusal).
#[derive(Default)]
struct Typed {
    pairs: Vec<(String, String)>,
}

impl Typed {
    fn get(&self, k: &str) -> String {
        self.pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    fn has(&self, k: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == k)
    }
    fn has_value(&self, k: &str, v: &str) -> bool {
        self.pairs.iter().any(|(n, x)| n == k && x == v)
    }
}

/// One phrase template as offered.
struct Phrase {
    key: String,
    title: String,
    text: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "write.html")]
struct WritePage {
    c: Chrome,
    kind: String,
    kinds: Vec<(String, String, bool)>,
    f: Typed,
    phrases: Vec<Phrase>,
    preview: Option<Preview>,
    error: Option<String>,
}

impl WritePage {
    fn to_text(&self) -> String {
        self.preview
            .as_ref()
            .map(|p| {
                p.to.iter()
                    .map(|u| format!("{} ({})", u.name, u.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct KindQuery {
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    svar: Option<String>,
}

async fn directory(web: &Web, who: &Identity) -> Result<Directory, ApiError> {
    match web.ask(who, Request::Directory {}).await? {
        Reply::Directory(d) => Ok(d),
        _ => Err(ApiError::Refused("internt fel: oväntat svar".into())),
    }
}

fn write_page(
    web: &Web,
    who: &Identity,
    d: &Directory,
    kind: &str,
    f: Typed,
    preview: Option<Preview>,
    error: Option<String>,
) -> WritePage {
    let kind = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(k, _)| *k)
        .unwrap_or("message");
    WritePage {
        c: Chrome::of(web, who, "Skriv / skicka", "skriv"),
        kind: kind.to_string(),
        kinds: KINDS
            .iter()
            .map(|(k, n)| (k.to_string(), n.to_string(), *k == kind))
            .collect(),
        phrases: d
            .phrases
            .iter()
            .map(|p| Phrase {
                key: p.key.clone(),
                title: p.title.clone(),
                text: p.text.clone(),
                checked: f.has_value("phrases[]", &p.key),
            })
            .collect(),
        f,
        preview,
        error,
    }
}

async fn write_form(State(web): State<Web>, who: Identity, Query(q): Query<KindQuery>) -> Response {
    let d = match directory(&web, &who).await {
        Ok(d) => d,
        Err(e) => return refused(&web, &who, e),
    };
    let mut f = Typed::default();
    // A new form asks for a read receipt and has consent; the person changes that.
    f.pairs.push(("receipt_required".into(), "on".into()));
    f.pairs.push(("consent".into(), "samtycke".into()));
    if let Some(r) = q.svar {
        // An answer keeps the question's subject (a message needs one); reading the
        // question here is the read the person makes to answer it, logged as every read.
        if let Ok(Reply::Shown(s)) = web.ask(&who, Request::Show { event: r.clone() }).await {
            if let Document::Message { subject, .. } = &s.document {
                let subject = if subject.starts_with("Sv: ") {
                    subject.clone()
                } else {
                    format!("Sv: {subject}")
                };
                f.pairs.push(("doc.subject".into(), subject));
            }
        }
        f.pairs.push(("reply_to".into(), r));
    }
    let kind = q.typ.unwrap_or_else(|| "message".into());
    page(
        StatusCode::OK,
        write_page(&web, &who, &d, &kind, f, None, None),
    )
}

/// The posted form as the socket's JSON request: `doc.a.b` goes to the document's field
/// `a.b`, a name ending in `[]` is a list (one entry per line, and per repeated field), the
/// check boxes `urgent` and `receipt_required` are true when sent. Values go as typed: the
/// node reads them.
fn request_json(pairs: &[(String, String)]) -> Value {
    fn slot<'a>(root: &'a mut Map<String, Value>, path: &[&str]) -> &'a mut Map<String, Value> {
        let mut at = root;
        for p in path {
            let next = at
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            at = next.as_object_mut().expect("made an object just above");
        }
        at
    }
    let mut root = Map::new();
    root.insert("urgent".into(), Value::Bool(false));
    root.insert("receipt_required".into(), Value::Bool(false));
    for (name, value) in pairs {
        if name == "_csrf" || name == "action" {
            continue;
        }
        if name == "urgent" || name == "receipt_required" {
            root.insert(name.clone(), Value::Bool(true));
            continue;
        }
        let (name, list) = match name.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (name.as_str(), false),
        };
        let mut path: Vec<&str> = name.split('.').collect();
        if path.first() == Some(&"doc") {
            path[0] = "document";
        }
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let map = slot(&mut root, parents);
        if list {
            let entry = map
                .entry(last.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = entry {
                a.extend(
                    value
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(|l| Value::String(l.to_string())),
                );
            }
        } else {
            map.insert(last.to_string(), Value::String(value.clone()));
        }
    }
    // An empty recipient field is the roster's suggestion.
    if root.get("to").is_some_and(|t| t.as_str() == Some("")) {
        root.remove("to");
    }
    if let Some(Value::String(to)) = root.get("to").cloned() {
        root.insert("to".into(), Value::Array(vec![Value::String(to)]));
    }
    for k in ["patient", "episode", "reply_to"] {
        if root.get(k).and_then(Value::as_str) == Some("") {
            root.remove(k);
        }
    }
    Value::Object(root)
}

async fn write_submit(
    State(web): State<Web>,
    who: Identity,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let d = match directory(&web, &who).await {
        Ok(d) => d,
        Err(e) => return refused(&web, &who, e),
    };
    let f = Typed { pairs };
    let kind = f.get("doc.type");
    let body = request_json(&f.pairs);
    let request: SendRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => {
            let error = Some(format!("Formuläret kunde inte läsas: {e}"));
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                write_page(&web, &who, &d, &kind, f, None, error),
            );
        }
    };
    let previewing = f.get("action") == "preview";
    let answer = if previewing {
        web.ask(&who, Request::Preview(request)).await
    } else {
        web.ask(&who, Request::Send(request)).await
    };
    match answer {
        Ok(Reply::Sent(s)) => {
            Redirect::to(&format!("/dokument/{}?skickat=1", s.event)).into_response()
        }
        Ok(Reply::Preview(p)) => page(
            StatusCode::OK,
            write_page(&web, &who, &d, &kind, f, Some(p), None),
        ),
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            write_page(&web, &who, &d, &kind, f, None, Some(e.to_string())),
        ),
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Deserialize)]
struct PatientQuery {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    typed: String,
    chain: Option<ChainView>,
    messages: Vec<Row>,
    documents: Vec<Vec<Row>>,
    error: Option<String>,
}

async fn patient(State(web): State<Web>, who: Identity, Query(q): Query<PatientQuery>) -> Response {
    let typed = q.id.unwrap_or_default();
    let mut p = PatientPage {
        c: Chrome::of(&web, &who, "Patient", "patient"),
        typed: typed.clone(),
        chain: None,
        messages: Vec::new(),
        documents: Vec::new(),
        error: None,
    };
    if typed.trim().is_empty() {
        return page(StatusCode::OK, p);
    }
    match web.ask(&who, Request::Chain { patient: typed }).await {
        Ok(Reply::Chain(c)) => {
            p.c.title = format!("Patient {}", c.patient);
            p.messages = c.messages.iter().map(row).collect();
            p.documents = c
                .episodes
                .iter()
                .map(|e| e.documents.iter().map(row).collect())
                .collect();
            p.chain = Some(c);
            page(StatusCode::OK, p)
        }
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            p.error = Some(e.to_string());
            page(StatusCode::UNPROCESSABLE_ENTITY, p)
        }
        Err(e) => refused(&web, &who, e),
    }
}

/// An imported chain's fields: what the region's primary system said before the outage.
fn snapshot_fields(
    s: &reservnod_proto::care::snapshot::ChainSnapshot,
    out: &mut Vec<(String, String)>,
) {
    out.push((
        "Ögonblicksbild".into(),
        crate::care::api::snapshot_marker(s.taken_at_ms),
    ));
    out.push(("Status".into(), s.state.name_sv().into()));
    out.push(("Inskriven".into(), local_time(s.admitted_at_ms)));
    if let Some(r) = s.ready_at_ms {
        out.push(("Utskrivningsklar".into(), local_time(r)));
    }
    if let Some(m) = s.municipality_ready_at_ms {
        out.push(("Kommunklar".into(), local_time(m)));
    }
    if let Some(d) = &s.preliminary_discharge {
        out.push(("Preliminärt utskrivningsdatum".into(), d.clone()));
    }
    if !s.plan_summary.is_empty() {
        out.push(("Planering".into(), s.plan_summary.clone()));
    }
    let units: Vec<String> = s.units.iter().map(|u| u.to_string()).collect();
    out.push(("Enheter".into(), units.join(", ")));
}
