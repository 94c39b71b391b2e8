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
use reservnod_proto::care::documents::Document;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::state::{page, status_of, Chrome, Identity, Web};
use crate::care::api::{
    document_fields, local_time, plan_fields, versions_sv, ApiError, ChainView, Directory, Field,
    Inbox, Item, PlanEditRequest, PlanPatch, PlanVersion, PlanView, Preview, RecipientState, Reply,
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
        .route("/patient/plan/{doc}/losa", post(resolve))
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
    let status = status_of(&e);
    let title = if status == StatusCode::FORBIDDEN {
        "Du har inte behörighet"
    } else {
        "Det gick inte"
    };
    page(
        status,
        ErrorPage {
            c: Chrome::of(web, who, title, ""),
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
    // The poll's read is logged when what it shows changes (care::api's inbox poll).
    match web.ask(&who, Request::InboxPoll {}).await {
        Ok(Reply::Inbox(i)) => page(StatusCode::OK, lists(&i)),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

/// One step of a document's way to a recipient unit: skickad → levererad → läst.
struct Stage {
    /// "Skickad", "Levererad" or "Läst".
    what: &'static str,
    /// Whether it has happened (the text says so too: never by style alone).
    done: bool,
    /// When, where and by whom; or "inte ännu".
    text: String,
}

/// A document's receipts at one recipient unit, as a timeline.
struct Track {
    unit: String,
    /// The state's word alone (for the style; the text says it too).
    class: &'static str,
    stages: Vec<Stage>,
    escalated: Option<String>,
}

/// The timeline of `r`, a recipient unit's receipts of the document `i`; `here` when the
/// unit is this one (delivered "hit").
fn track(i: &Item, r: &RecipientState, here: bool) -> Track {
    let sent = Stage {
        what: "Skickad",
        done: true,
        text: format!("{}, av {} ({})", i.at, i.author, i.from.name),
    };
    let delivered = match r.delivered_ms {
        Some(at) => Stage {
            what: "Levererad",
            done: true,
            text: format!(
                "{}{}{}",
                if here { "hit " } else { "" },
                local_time(at),
                r.delivered_node
                    .as_deref()
                    .map(|n| format!(", till noden {n}"))
                    .unwrap_or_default()
            ),
        },
        None => Stage {
            what: "Levererad",
            done: r.read_ms.is_some(),
            text: if r.read_ms.is_some() {
                "(leveranskvittensen har inte kommit hit)".into()
            } else {
                "inte ännu".into()
            },
        },
    };
    let read = match (&r.read_by, r.read_ms) {
        (Some(by), Some(at)) => Stage {
            what: "Läst",
            done: true,
            text: format!(
                "av {by}{}, {}",
                r.read_title
                    .as_deref()
                    .map(|t| format!(", {t}"))
                    .unwrap_or_default(),
                local_time(at)
            ),
        },
        _ => Stage {
            what: "Läst",
            done: false,
            text: "inte kvitterad ännu".into(),
        },
    };
    Track {
        unit: r.unit.name.clone(),
        class: recipient_row(r).class,
        stages: vec![sent, delivered, read],
        escalated: r.escalated_ms.map(local_time),
    }
}

fn tracks(s: &Shown) -> Vec<Track> {
    let mut out: Vec<Track> = s
        .item
        .recipients
        .iter()
        .map(|r| track(&s.item, r, false))
        .collect();
    if let Some(h) = &s.here {
        out.push(track(&s.item, h, true));
    }
    out
}

#[derive(Template)]
#[template(path = "document.html")]
struct DocumentPage {
    c: Chrome,
    row: Row,
    role: String,
    to: String,
    fields: Vec<Field>,
    thread: Vec<Row>,
    tracks: Vec<Track>,
    /// Addressed to this unit and not yet acknowledged.
    can_ack: bool,
    /// A message from another unit: it can be answered.
    can_answer: bool,
    notice: Option<String>,
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
                    fields: document_fields(&s.document),
                    thread: s.thread.iter().map(row).collect(),
                    tracks: tracks(&s),
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
            let error = Some(format!(
                "Formuläret kunde inte läsas: {}",
                super::state::unread_sv(&e)
            ));
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
    /// The version a conflict's form is filled from (default: the first shown).
    #[serde(default)]
    bas: Option<String>,
    /// The plan whose conflict was just resolved here.
    #[serde(default)]
    lost: Option<String>,
}

/// A version's author as shown: name, title, unit, node, time.
fn written_by(v: &PlanVersion) -> String {
    let mut s = v.author.clone();
    if !v.role.is_empty() {
        s.push_str(&format!(", {}", v.role));
    }
    format!("{s} – {} (nod {}) – {}", v.unit.name, v.node, v.at)
}

/// One current version of a plan in conflict, as a column.
struct Head {
    event: String,
    short: String,
    by: String,
    /// The form is filled from this one.
    base: bool,
}

/// One field of the versions side by side.
struct ConflictRow {
    label: String,
    /// Per version, in the columns' order ("–" where a version has none).
    values: Vec<String>,
    /// Not the same in every version.
    differs: bool,
}

/// The resolving version's form, as filled or as typed.
#[derive(Clone, Default)]
struct ResolveForm {
    base: String,
    heads: Vec<String>,
    goals: String,
    measures: String,
    follow_up: String,
    participants: String,
    patient_view: String,
}

impl ResolveForm {
    fn from_version(v: &PlanVersion, heads: Vec<String>) -> ResolveForm {
        let p = PlanPatch::typed(&v.content);
        let lines = |l: Option<Vec<String>>| l.unwrap_or_default().join("\n");
        ResolveForm {
            base: v.event.clone(),
            heads,
            goals: p.goals.unwrap_or_default(),
            measures: lines(p.measures),
            follow_up: p.follow_up.unwrap_or_default(),
            participants: lines(p.participants),
            patient_view: p.patient_view.unwrap_or_default(),
        }
    }
}

/// A plan in conflict on the Patient page: its heads side by side and the form that
/// resolves it.
struct Conflict {
    heads: Vec<Head>,
    rows: Vec<ConflictRow>,
    form: ResolveForm,
    error: Option<String>,
}

/// One version in a plan's history.
struct HistoryRow {
    event: String,
    short: String,
    at: String,
    by: String,
    state: String,
}

/// A plan on the Patient page.
struct PlanBox {
    doc: String,
    kind: String,
    /// "1 version" / "N versioner" held here.
    count: String,
    conflict: Option<Conflict>,
    /// The current version, when there is exactly one: who wrote it and its fields.
    current: Option<(String, Vec<Field>)>,
    history: Vec<HistoryRow>,
    waiting: usize,
}

/// The heads' fields side by side: every label any head has, in the order the fields
/// come, a head's values of one label on lines of their own.
fn side_by_side(heads: &[PlanVersion]) -> Vec<ConflictRow> {
    let per_head: Vec<Vec<Field>> = heads.iter().map(|h| plan_fields(&h.content)).collect();
    let mut labels: Vec<String> = Vec::new();
    for f in per_head.iter().flatten() {
        if !labels.contains(&f.label) {
            labels.push(f.label.clone());
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let values: Vec<String> = per_head
                .iter()
                .map(|fs| {
                    let v: Vec<&str> = fs
                        .iter()
                        .filter(|f| f.label == label)
                        .map(|f| f.value.as_str())
                        .collect();
                    if v.is_empty() {
                        "–".to_string()
                    } else {
                        v.join("\n")
                    }
                })
                .collect();
            let differs = values.iter().any(|v| v != &values[0]);
            ConflictRow {
                label,
                values,
                differs,
            }
        })
        .collect()
}

/// `p` as shown; `base` the version its conflict's form is filled from, `typed` a form as
/// the person sent it (with the node's refusal) for this plan.
fn plan_box(p: &PlanView, base: Option<&str>, typed: Option<&(ResolveForm, String)>) -> PlanBox {
    let conflict = p.conflict.then(|| {
        let chosen = p
            .heads
            .iter()
            .find(|h| Some(h.event.as_str()) == base)
            .or(p.heads.first());
        let ids: Vec<String> = p.heads.iter().map(|h| h.event.clone()).collect();
        let (form, error) = match typed {
            // What was typed, kept; but the heads are the ones shown now (the page shows
            // every current version, a newly arrived one too), so sending it again
            // resolves what the person sees.
            Some((f, e)) => {
                let mut f = f.clone();
                if !ids.contains(&f.base) {
                    f.base = chosen.map(|v| v.event.clone()).unwrap_or_default();
                }
                f.heads = ids.clone();
                (f, Some(e.clone()))
            }
            None => (
                chosen
                    .map(|v| ResolveForm::from_version(v, ids.clone()))
                    .unwrap_or_default(),
                None,
            ),
        };
        Conflict {
            heads: p
                .heads
                .iter()
                .map(|h| Head {
                    event: h.event.clone(),
                    short: h.event.get(..12).unwrap_or(&h.event).to_string(),
                    by: written_by(h),
                    base: h.event == form.base,
                })
                .collect(),
            rows: side_by_side(&p.heads),
            form,
            error,
        }
    });
    PlanBox {
        doc: p.doc.clone(),
        kind: p.kind.clone(),
        count: versions_sv(p.versions),
        current: match (p.conflict, p.heads.as_slice()) {
            (false, [only]) => Some((written_by(only), plan_fields(&only.content))),
            _ => None,
        },
        conflict,
        history: p
            .history
            .iter()
            .map(|v| HistoryRow {
                event: v.event.clone(),
                short: v.event.get(..12).unwrap_or(&v.event).to_string(),
                at: v.at.clone(),
                by: format!("{} ({})", v.author, v.unit.name),
                state: v.state.clone(),
            })
            .collect(),
        waiting: p.waiting.len(),
    }
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    typed: String,
    chain: Option<ChainView>,
    /// Per episode (as in `chain`), its plans.
    plans: Vec<Vec<PlanBox>>,
    messages: Vec<Row>,
    documents: Vec<Vec<Row>>,
    error: Option<String>,
    notice: Option<String>,
}

async fn patient(State(web): State<Web>, who: Identity, Query(q): Query<PatientQuery>) -> Response {
    let notice = q
        .lost
        .as_ref()
        .map(|_| "Konflikten är löst: den nya versionen ersätter versionerna som skrevs samtidigt och skickas till planens deltagare.".to_string());
    patient_page(
        &web,
        &who,
        q.id.unwrap_or_default(),
        q.bas.as_deref(),
        None,
        notice,
    )
    .await
}

/// The Patient page for `typed`; `retyped` a resolving form the node refused: (plan, the
/// form as typed, the refusal).
async fn patient_page(
    web: &Web,
    who: &Identity,
    typed: String,
    base: Option<&str>,
    retyped: Option<(String, ResolveForm, String)>,
    notice: Option<String>,
) -> Response {
    let mut p = PatientPage {
        c: Chrome::of(web, who, "Patient", "patient"),
        typed: typed.clone(),
        chain: None,
        plans: Vec::new(),
        messages: Vec::new(),
        documents: Vec::new(),
        error: None,
        notice,
    };
    if typed.trim().is_empty() {
        return page(StatusCode::OK, p);
    }
    let refused_form = retyped.is_some();
    match web.ask(who, Request::Chain { patient: typed }).await {
        Ok(Reply::Chain(c)) => {
            p.c.title = format!("Patient {}", c.patient);
            p.messages = c.messages.iter().map(row).collect();
            p.documents = c
                .episodes
                .iter()
                .map(|e| e.documents.iter().map(row).collect())
                .collect();
            p.plans = c
                .episodes
                .iter()
                .map(|e| {
                    e.plans
                        .iter()
                        .map(|pv| {
                            let typed = retyped
                                .as_ref()
                                .filter(|(doc, _, _)| doc == &pv.doc)
                                .map(|(_, f, e)| (f.clone(), e.clone()));
                            plan_box(pv, base, typed.as_ref())
                        })
                        .collect()
                })
                .collect();
            // A refusal of a plan no longer in conflict (someone resolved it meanwhile):
            // said at the top, since the form is gone.
            if let Some((doc, _, e)) = &retyped {
                let shown = p
                    .plans
                    .iter()
                    .flatten()
                    .any(|b| &b.doc == doc && b.conflict.is_some());
                if !shown {
                    p.error = Some(e.clone());
                }
            }
            p.chain = Some(c);
            let status = if refused_form {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            page(status, p)
        }
        Ok(_) => unexpected(web, who),
        Err(e @ ApiError::Refused(_)) => {
            p.error = Some(e.to_string());
            page(StatusCode::UNPROCESSABLE_ENTITY, p)
        }
        Err(e) => refused(web, who, e),
    }
}

/// The resolving version of a plan in conflict, as posted from the Patient page: the plan
/// from the path, the heads the page showed, the version the text starts from and every
/// field. Who writes is the session's account (care::api takes it from the caller); any
/// other field posted is ignored.
async fn resolve(
    State(web): State<Web>,
    who: Identity,
    Path(doc): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let lines = |v: &str| -> Vec<String> {
        v.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let form = ResolveForm {
        base: get("base"),
        heads: pairs
            .iter()
            .filter(|(n, _)| n == "heads[]")
            .map(|(_, v)| v.clone())
            .collect(),
        goals: get("goals"),
        measures: get("measures"),
        follow_up: get("follow_up"),
        participants: get("participants"),
        patient_view: get("patient_view"),
    };
    let patient = get("patient");
    let request = PlanEditRequest {
        doc: doc.clone(),
        resolve: true,
        base: Some(form.base.clone()),
        heads: Some(form.heads.clone()),
        patch: PlanPatch {
            goals: Some(form.goals.clone()),
            measures: Some(lines(&form.measures)),
            follow_up: Some(form.follow_up.trim().to_string()),
            participants: Some(lines(&form.participants)),
            patient_view: Some(form.patient_view.clone()),
        },
        urgent: false,
    };
    match web.ask(&who, Request::PlanEdit(request)).await {
        Ok(Reply::Sent(s)) => {
            let plan = s.plan.unwrap_or(doc);
            let query = serde_urlencoded::to_string([("id", patient.as_str()), ("lost", &plan)])
                .unwrap_or_default();
            Redirect::to(&format!("/patient?{query}#plan-{plan}")).into_response()
        }
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            patient_page(
                &web,
                &who,
                patient,
                None,
                Some((doc, form, e.to_string())),
                None,
            )
            .await
        }
        Err(e) => refused(&web, &who, e),
    }
}
