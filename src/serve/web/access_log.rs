//! Logg: the log reviewer's screen for the access log: a search by patient, account and
//! period (care::api reads each as typed: any spelling of a personnummer, a login, Swedish
//! dates or times), the entries as a table a page at a time, the same search as a CSV file
//! to save, and a check of the log's hash chain on request (it walks the whole log, so it is
//! a button, not part of every page). Every search, export and check is itself logged by
//! care::api; anyone but a log reviewer is refused there (403).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::pages::{refused, unexpected};
use super::state::{page, status_of, Chrome, Identity, Web};
use crate::care::api::{
    local_time, ApiError, AuditExported, AuditFilter, AuditFound, AuditVerified, Reply, Request,
};
use crate::limits::AUDIT_EXPORT_ROWS_MAX;

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/logg", get(search))
        .route("/logg.csv", get(csv))
        .route("/logg/kontroll", get(verify))
}

/// The search as typed in the form (`/logg?patient=…&konto=…&fran=…&till=…`).
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct LogQuery {
    #[serde(default)]
    patient: Option<String>,
    #[serde(default)]
    konto: Option<String>,
    #[serde(default)]
    fran: Option<String>,
    #[serde(default)]
    till: Option<String>,
    #[serde(default)]
    efter: Option<String>,
}

impl LogQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            patient: self.patient.clone(),
            account: self.konto.clone(),
            from: self.fran.clone(),
            to: self.till.clone(),
            after: self.efter.clone(),
            limit: None,
        }
    }

    fn nothing_asked(&self) -> bool {
        [
            &self.patient,
            &self.konto,
            &self.fran,
            &self.till,
            &self.efter,
        ]
        .iter()
        .all(|f| f.is_none())
    }

    /// The search as a query string (for the CSV link and the next page), `&`-joined and
    /// percent-encoded.
    fn query_string(&self, after: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in [
            ("patient", &self.patient),
            ("konto", &self.konto),
            ("fran", &self.fran),
            ("till", &self.till),
        ] {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        }
        if let Some(a) = after {
            pairs.push(("efter", a));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// One entry as a row of the table.
struct Row {
    at: String,
    login: String,
    name: String,
    unit: String,
    node: String,
    client: String,
    via: String,
    action: String,
    patients: Vec<String>,
    event: String,
    detail: String,
}

fn rows(found: &AuditFound) -> Vec<Row> {
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "–".into());
    found
        .rows
        .iter()
        .map(|r| Row {
            at: r.at.clone(),
            login: or_dash(&r.login),
            name: r.name.clone().unwrap_or_default(),
            unit: or_dash(&r.unit),
            node: r.node_name.clone(),
            client: or_dash(&r.client),
            via: or_dash(&r.via),
            action: r.action.clone(),
            patients: r.patients.clone(),
            event: or_dash(&r.event),
            detail: r.detail.clone(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct LogPage {
    c: Chrome,
    q: LogQuery,
    /// What was searched for, in the node's words.
    described: String,
    rows: Vec<Row>,
    /// The next page's link, if there may be more.
    next: Option<String>,
    /// The CSV link for the same search.
    csv: String,
    unreadable: u64,
    error: Option<String>,
    /// The most rows one CSV file holds.
    csv_max: usize,
}

async fn search(State(web): State<Web>, who: Identity, Query(mut q): Query<LogQuery>) -> Response {
    if q.nothing_asked() {
        // A first visit shows today's entries: the search is a real one (and logged).
        let today: String = local_time(web.now_ms()).chars().take(10).collect();
        q.fran = Some(today);
    }
    let mut p = LogPage {
        c: Chrome::of(&web, &who, "Logg", "logg"),
        described: String::new(),
        rows: Vec::new(),
        next: None,
        csv: format!("/logg.csv?{}", q.query_string(None)),
        unreadable: 0,
        error: None,
        csv_max: AUDIT_EXPORT_ROWS_MAX,
        q: q.clone(),
    };
    match web.ask(&who, Request::AuditSearch(q.filter())).await {
        Ok(Reply::AuditFound(found)) => {
            p.described = found.query.clone();
            p.rows = rows(&found);
            p.next = found
                .next
                .as_deref()
                .map(|n| format!("/logg?{}", q.query_string(Some(n))));
            p.unreadable = found.unreadable;
            page(StatusCode::OK, p)
        }
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            p.error = Some(e.to_string());
            page(status_of(&e), p)
        }
        Err(e) => refused(&web, &who, e),
    }
}

/// The CSV as a file to save: `Content-Disposition: attachment`, `no-store` (as every
/// response). One page of the export (up to `AUDIT_EXPORT_ROWS_MAX` rows); when there may
/// be more, `x-reservnod-next` holds where the next starts (`efter` / `after`).
pub(super) fn download(x: AuditExported) -> Response {
    let mut r = x.csv.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"granskningslogg.csv\""),
    );
    if let Some(next) = x.next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        h.insert("x-reservnod-next", next);
    }
    r
}

async fn csv(State(web): State<Web>, who: Identity, Query(q): Query<LogQuery>) -> Response {
    match web.ask(&who, Request::AuditExport(q.filter())).await {
        Ok(Reply::AuditExported(x)) => download(x),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Template)]
#[template(path = "access_log_verified.html")]
struct VerifiedPage {
    c: Chrome,
    v: AuditVerified,
}

async fn verify(State(web): State<Web>, who: Identity) -> Response {
    match web.ask(&who, Request::AuditVerify {}).await {
        Ok(Reply::AuditVerified(v)) => page(
            StatusCode::OK,
            VerifiedPage {
                c: Chrome::of(&web, &who, "Kontroll av loggen", "logg"),
                v,
            },
        ),
        Ok(_) => unexpected(&web, &who),
        Err(e) => refused(&web, &who, e),
    }
}
