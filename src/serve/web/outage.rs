//! Driftstörning (`/driftstopp`: where the outages stand for everyone; the declare and end
//! forms for the unit admin) and Efterregistrering (`/efterregistrering`: the unit's re-entry
//! list with a mark form on each item, and the unit admin's sign-off of what is left). Like
//! every screen they build `care::api` requests from the form as typed and render the reply
//! or the node's refusal; who may do what is the node's check alone (a staff account gets
//! the node's refusal, 403). Forms are plain POSTs with the session's CSRF token, then a
//! redirect back.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::pages::{refused, unexpected};
use super::state::{page, Chrome, Identity, Web};
use crate::care::api::{
    ApiError, OutageDeclareRequest, OutageView, ReentryList, ReentryMarkRequest, Reply, Request,
    Role,
};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/driftstopp", get(outage))
        .route("/driftstopp/utlys", post(declare))
        .route("/driftstopp/avsluta", post(end))
        .route("/efterregistrering", get(reentry))
        .route("/efterregistrering/markera", post(mark))
        .route("/efterregistrering/skriv-av", post(sign_off))
}

fn is_admin(who: &Identity) -> bool {
    who.account.roles.contains(&Role::UnitAdmin)
}

#[derive(Template)]
#[template(path = "outage.html")]
struct OutagePage {
    c: Chrome,
    v: OutageView,
    /// Shows the declare or end form (the node decides whether it may: this only spares
    /// staff a form they cannot use).
    admin: bool,
    notice: Option<String>,
    error: Option<String>,
    reason: String,
    scope: String,
    note: String,
}

#[derive(Deserialize, Default)]
struct OutageNotice {
    #[serde(default)]
    utlyst: Option<String>,
    #[serde(default)]
    avslutad: Option<String>,
}

async fn outage_page(
    web: &Web,
    who: &Identity,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: (String, String, String),
) -> Response {
    match web.ask(who, Request::OutageShow {}).await {
        Ok(Reply::Outage(v)) => page(
            status,
            OutagePage {
                c: Chrome::of(web, who, "Driftstörning", "driftstopp"),
                v,
                admin: is_admin(who),
                notice,
                error,
                reason: typed.0,
                scope: typed.1,
                note: typed.2,
            },
        ),
        Ok(_) => unexpected(web, who),
        Err(e) => refused(web, who, e),
    }
}

async fn outage(State(web): State<Web>, who: Identity, Query(n): Query<OutageNotice>) -> Response {
    let notice = if n.utlyst.is_some() {
        Some("Driftstörningen är utlyst. Den når enhetens andra noder och de andra enheterna när deras noder fått den.".to_string())
    } else if n.avslutad.is_some() {
        Some(
            "Driftstörningen är avslutad. Efterregistrera nu det som skrevs (Efterregistrering)."
                .to_string(),
        )
    } else {
        None
    };
    outage_page(&web, &who, StatusCode::OK, notice, None, Default::default()).await
}

#[derive(Deserialize)]
struct DeclareForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    scope: String,
}

async fn declare(State(web): State<Web>, who: Identity, Form(f): Form<DeclareForm>) -> Response {
    let request = Request::OutageDeclare(OutageDeclareRequest {
        reason: f.reason.clone(),
        scope: vec![f.scope.clone()],
    });
    match web.ask(&who, request).await {
        Ok(Reply::Outage(_)) => Redirect::to("/driftstopp?utlyst=1").into_response(),
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            outage_page(
                &web,
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
                (f.reason, f.scope, String::new()),
            )
            .await
        }
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Deserialize)]
struct EndForm {
    #[serde(default)]
    note: String,
}

async fn end(State(web): State<Web>, who: Identity, Form(f): Form<EndForm>) -> Response {
    match web
        .ask(
            &who,
            Request::OutageEnd {
                note: f.note.clone(),
            },
        )
        .await
    {
        Ok(Reply::Outage(_)) => Redirect::to("/driftstopp?avslutad=1").into_response(),
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            outage_page(
                &web,
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
                (String::new(), String::new(), f.note),
            )
            .await
        }
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Template)]
#[template(path = "reentry.html")]
struct ReentryPage {
    c: Chrome,
    /// None when no outage is held here.
    l: Option<ReentryList>,
    admin: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ReentryQuery {
    #[serde(default)]
    driftstorning: Option<String>,
    #[serde(default)]
    markerat: Option<String>,
    #[serde(default)]
    avskrivet: Option<String>,
}

async fn reentry_page(
    web: &Web,
    who: &Identity,
    outage: Option<String>,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let c = Chrome::of(web, who, "Efterregistrering", "efterregistrering");
    // With no outage held there is no list: say so, as a page (not a refusal).
    match web.ask(who, Request::OutageShow {}).await {
        Ok(Reply::Outage(v)) if v.outages.is_empty() => {
            return page(
                status,
                ReentryPage {
                    c,
                    l: None,
                    admin: is_admin(who),
                    notice,
                    error,
                },
            )
        }
        Ok(Reply::Outage(_)) => {}
        Ok(_) => return unexpected(web, who),
        Err(e) => return refused(web, who, e),
    }
    match web.ask(who, Request::Reentry { outage }).await {
        Ok(Reply::Reentry(l)) => page(
            status,
            ReentryPage {
                c,
                l: Some(*l),
                admin: is_admin(who),
                notice,
                error,
            },
        ),
        Ok(_) => unexpected(web, who),
        Err(e) => refused(web, who, e),
    }
}

async fn reentry(State(web): State<Web>, who: Identity, Query(q): Query<ReentryQuery>) -> Response {
    let notice = if q.markerat.is_some() {
        Some("Markerat. Enhetens andra noder ser det när de fått markeringen.".to_string())
    } else if q.avskrivet.is_some() {
        Some(
            "Det som var kvar är avskrivet; efterregistreringen är stängd för enheten.".to_string(),
        )
    } else {
        None
    };
    reentry_page(&web, &who, q.driftstorning, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct MarkForm {
    #[serde(default)]
    outage: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    link_ref: String,
    #[serde(default)]
    reason: String,
}

/// Back to the list of `outage` (an id the node gave: hex digits only, else the newest).
fn back_to(outage: &str, what: &str) -> String {
    if !outage.is_empty() && outage.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("/efterregistrering?driftstorning={outage}&{what}=1")
    } else {
        format!("/efterregistrering?{what}=1")
    }
}

async fn mark(State(web): State<Web>, who: Identity, Form(f): Form<MarkForm>) -> Response {
    let request = Request::ReentryMark(ReentryMarkRequest {
        item: f.item.clone(),
        state: f.state.clone(),
        link_ref: f.link_ref.clone(),
        reason: f.reason.clone(),
    });
    match web.ask(&who, request).await {
        Ok(Reply::ReentryMarked(m)) => {
            Redirect::to(&back_to(&m.outage, "markerat")).into_response()
        }
        Ok(_) => unexpected(&web, &who),
        Err(e) => list_refused(&web, &who, (!f.outage.is_empty()).then_some(f.outage), e).await,
    }
}

/// A mark or a sign-off refused: the list again with the refusal beside its form (a store
/// failure is the error page).
async fn list_refused(web: &Web, who: &Identity, outage: Option<String>, e: ApiError) -> Response {
    match e {
        ApiError::Refused(_) => {
            let error = Some(e.to_string());
            reentry_page(
                web,
                who,
                outage,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                error,
            )
            .await
        }
        e => refused(web, who, e),
    }
}

#[derive(Deserialize)]
struct SignOffForm {
    #[serde(default)]
    outage: String,
    #[serde(default)]
    reason: String,
}

async fn sign_off(State(web): State<Web>, who: Identity, Form(f): Form<SignOffForm>) -> Response {
    let outage = (!f.outage.is_empty()).then_some(f.outage.clone());
    let request = Request::ReentrySignOff {
        outage: outage.clone(),
        reason: f.reason.clone(),
    };
    match web.ask(&who, request).await {
        Ok(Reply::ReentrySignedOff(_)) => {
            Redirect::to(&back_to(&f.outage, "avskrivet")).into_response()
        }
        Ok(_) => unexpected(&web, &who),
        Err(e) => list_refused(&web, &who, outage, e).await,
    }
}
