//! `/api/v1`: the care operations as JSON, for scripts (with an API token as `Bearer`) and
//! for the pages' small script (with the session cookie and the CSRF header). Described in
//! `docs/openapi.yaml`; [`ROUTES`] is the list both are checked against.
//!
//! A body is the socket's request; who asks and writes is the logged-in account (the
//! request's `Caller`), and a body that names a person is refused.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::state::{status_of, unread_sv, Identity, Web};
use crate::care::api::{ApiError, AuditFilter, ExportRequest, Reply, Request, Secret};

/// Every API route: method and path (axum's syntax), as in `docs/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/inbox"),
    ("GET", "/api/v1/events/{event}"),
    ("POST", "/api/v1/events/{event}/ack"),
    ("POST", "/api/v1/send"),
    ("POST", "/api/v1/preview"),
    ("GET", "/api/v1/chain"),
    ("GET", "/api/v1/plans/{doc}"),
    ("POST", "/api/v1/plans/{doc}/versions"),
    ("GET", "/api/v1/directory"),
    ("GET", "/api/v1/escalations"),
    ("GET", "/api/v1/nodes"),
    ("GET", "/api/v1/id-check"),
    ("GET", "/api/v1/export"),
    ("GET", "/api/v1/active-patients"),
    ("GET", "/api/v1/accounts"),
    ("POST", "/api/v1/accounts"),
    ("POST", "/api/v1/accounts/{login}/password"),
    ("POST", "/api/v1/accounts/{login}/roles"),
    ("POST", "/api/v1/accounts/{login}/disable"),
    ("POST", "/api/v1/accounts/{login}/enable"),
    ("POST", "/api/v1/account/password"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit.csv"),
    ("GET", "/api/v1/audit/verify"),
    ("GET", "/api/v1/outage"),
    ("POST", "/api/v1/outage/declare"),
    ("POST", "/api/v1/outage/end"),
    ("GET", "/api/v1/reentry"),
    ("POST", "/api/v1/reentry/mark"),
    ("POST", "/api/v1/reentry/signoff"),
];

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/inbox", get(inbox))
        .route("/events/{event}", get(show))
        .route("/events/{event}/ack", post(ack))
        .route("/send", post(send))
        .route("/preview", post(preview))
        .route("/chain", get(chain))
        .route("/plans/{doc}", get(plan))
        .route("/plans/{doc}/versions", post(plan_edit))
        .route("/directory", get(directory))
        .route("/escalations", get(escalations))
        .route("/nodes", get(nodes))
        .route("/id-check", get(id_check))
        .route("/export", get(export))
        .route("/active-patients", get(active_patients))
        .route("/accounts", get(accounts).post(account_add))
        .route("/accounts/{login}/password", post(account_password))
        .route("/accounts/{login}/roles", post(account_roles))
        .route("/accounts/{login}/disable", post(account_disable))
        .route("/accounts/{login}/enable", post(account_enable))
        .route("/account/password", post(own_password))
        .route("/audit", get(audit))
        .route("/audit.csv", get(audit_csv))
        .route("/audit/verify", get(audit_verify))
        .route("/outage", get(outage))
        .route("/outage/declare", post(outage_declare))
        .route("/outage/end", post(outage_end))
        .route("/reentry", get(reentry))
        .route("/reentry/mark", post(reentry_mark))
        .route("/reentry/signoff", post(reentry_signoff))
}

/// The reply as JSON, or the refusal as `{"error": "…"}` with its status
/// ([`status_of`]: 403 not allowed, 422 refused, 500 the store).
pub(super) fn json(answer: Result<Reply, ApiError>) -> Response {
    match answer {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => (
            status_of(&e),
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

fn bad_body(e: serde_json::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            serde_json::json!({ "error": format!("begäran kunde inte läsas: {}", unread_sv(&e)) }),
        ),
    )
        .into_response()
}

/// The body as the request `T` (a field `T` does not have, such as `person`, is refused:
/// who writes comes from the login).
fn read<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(body)
}

async fn inbox(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::Inbox {}).await)
}

async fn show(State(web): State<Web>, who: Identity, Path(event): Path<String>) -> Response {
    json(web.ask(&who, Request::Show { event }).await)
}

async fn ack(State(web): State<Web>, who: Identity, Path(event): Path<String>) -> Response {
    json(web.ask(&who, Request::Ack { event }).await)
}

async fn send(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::Send(r)).await),
        Err(e) => bad_body(e),
    }
}

async fn preview(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::Preview(r)).await),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
struct PatientQuery {
    #[serde(default)]
    patient: String,
}

async fn chain(State(web): State<Web>, who: Identity, Query(q): Query<PatientQuery>) -> Response {
    json(web.ask(&who, Request::Chain { patient: q.patient }).await)
}

async fn plan(State(web): State<Web>, who: Identity, Path(doc): Path<String>) -> Response {
    json(web.ask(&who, Request::Plan { doc }).await)
}

async fn plan_edit(
    State(web): State<Web>,
    who: Identity,
    Path(doc): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut body = body;
    if let Value::Object(map) = &mut body {
        map.insert("doc".into(), Value::String(doc));
    }
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::PlanEdit(r)).await),
        Err(e) => bad_body(e),
    }
}

async fn directory(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::Directory {}).await)
}

async fn escalations(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::Escalations {}).await)
}

async fn nodes(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::Nodes {}).await)
}

#[derive(Deserialize)]
struct IdQuery {
    #[serde(default)]
    id: String,
}

async fn id_check(State(web): State<Web>, who: Identity, Query(q): Query<IdQuery>) -> Response {
    json(web.ask(&who, Request::IdCheck { id: q.id }).await)
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    format: String,
    /// An outage's id (or empty for the newest) instead of a patient.
    #[serde(default)]
    outage: Option<String>,
}

/// The export as a file to save; a refusal as JSON like every route's.
async fn export(State(web): State<Web>, who: Identity, Query(q): Query<ExportQuery>) -> Response {
    let request = Request::Export(ExportRequest {
        patient: q.patient,
        format: q.format,
        outage: q.outage,
    });
    match web.ask(&who, request).await {
        Ok(Reply::Exported(x)) => super::export::download(*x),
        other => json(other),
    }
}

async fn active_patients(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::ActivePatients {}).await)
}

async fn accounts(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::UserList {}).await)
}

/// A new account; without `password` the node makes one, in the reply once.
async fn account_add(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::UserAdd(r)).await),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    #[serde(default)]
    password: Option<Secret>,
}

async fn account_password(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    match read::<PasswordBody>(body) {
        Ok(b) => json(
            web.ask(
                &who,
                Request::UserPasswd {
                    login,
                    password: b.password,
                },
            )
            .await,
        ),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

async fn account_roles(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    match read::<RolesBody>(body) {
        Ok(b) => json(
            web.ask(
                &who,
                Request::UserRoles {
                    login,
                    roles: b.roles,
                },
            )
            .await,
        ),
        Err(e) => bad_body(e),
    }
}

async fn account_disable(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
) -> Response {
    json(web.ask(&who, Request::UserDisable { login }).await)
}

async fn account_enable(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
) -> Response {
    json(web.ask(&who, Request::UserEnable { login }).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnPasswordBody {
    current: Secret,
    new: Secret,
    repeat: Secret,
}

/// The caller's own password, as the Mitt konto form changes it (`own::change_own`: the
/// same back-off for a wrong current password, 429 with `Retry-After`; the account's other
/// sessions here end).
async fn own_password(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    let b = match read::<OwnPasswordBody>(body) {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    match super::own::change_own(&web, &who, b.current, b.new, b.repeat).await {
        Ok(reply) => json(Ok(reply)),
        Err(super::own::OwnRefused::Api(e)) => json(Err(e)),
        Err(super::own::OwnRefused::Wait(ms)) => {
            let secs = ms.div_ceil(1000);
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(serde_json::json!({
                    "error": format!("för många misslyckade försök; försök igen om {secs} sekunder")
                })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
    }
}

/// `?patient=&login=&from=&to=&after=&limit=`, each as typed.
#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    patient: Option<String>,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

impl AuditQuery {
    fn filter(self) -> AuditFilter {
        AuditFilter {
            patient: self.patient,
            account: self.login,
            from: self.from,
            to: self.to,
            after: self.after,
            limit: self.limit,
        }
    }
}

async fn audit(State(web): State<Web>, who: Identity, Query(q): Query<AuditQuery>) -> Response {
    json(web.ask(&who, Request::AuditSearch(q.filter())).await)
}

/// The same search as a CSV file to save (one page; `x-reservnod-next` says where the next
/// starts, to pass as `after`).
async fn audit_csv(State(web): State<Web>, who: Identity, Query(q): Query<AuditQuery>) -> Response {
    match web.ask(&who, Request::AuditExport(q.filter())).await {
        Ok(Reply::AuditExported(x)) => super::access_log::download(x),
        other => json(other),
    }
}

async fn audit_verify(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::AuditVerify {}).await)
}

async fn outage(State(web): State<Web>, who: Identity) -> Response {
    json(web.ask(&who, Request::OutageShow {}).await)
}

async fn outage_declare(
    State(web): State<Web>,
    who: Identity,
    Json(body): Json<Value>,
) -> Response {
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::OutageDeclare(r)).await),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndBody {
    #[serde(default)]
    note: String,
}

async fn outage_end(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    match read::<EndBody>(body) {
        Ok(b) => json(web.ask(&who, Request::OutageEnd { note: b.note }).await),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
struct OutageQuery {
    #[serde(default)]
    outage: Option<String>,
}

async fn reentry(State(web): State<Web>, who: Identity, Query(q): Query<OutageQuery>) -> Response {
    json(web.ask(&who, Request::Reentry { outage: q.outage }).await)
}

async fn reentry_mark(State(web): State<Web>, who: Identity, Json(body): Json<Value>) -> Response {
    match read(body) {
        Ok(r) => json(web.ask(&who, Request::ReentryMark(r)).await),
        Err(e) => bad_body(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignOffBody {
    #[serde(default)]
    outage: Option<String>,
    reason: String,
}

async fn reentry_signoff(
    State(web): State<Web>,
    who: Identity,
    Json(body): Json<Value>,
) -> Response {
    match read::<SignOffBody>(body) {
        Ok(b) => json(
            web.ask(
                &who,
                Request::ReentrySignOff {
                    outage: b.outage,
                    reason: b.reason,
                },
            )
            .await,
        ),
        Err(e) => bad_body(e),
    }
}
