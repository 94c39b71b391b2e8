//! Konton: the unit admin's screen for the unit's accounts: the list (login, name, title,
//! roles, enabled or disabled, API tokens), a new account, and per account its roles, a new
//! password, disable / enable and its tokens revoked. Every change is a `care::api` request
//! (which writes the account's event, sealed to the unit, after its audit entry); care::api
//! refuses anyone but the unit admin, and the page says so with 403.
//!
//! The password of a new account, and a colleague's new password, is made by the node and
//! shown once: at a unit during an outage the admin sets up temporary staff at the desk,
//! and a generated password meets the rules, is not one the admin chose (or reuses), and
//! is seen only on this one answer (never stored, never in the log); the person changes it
//! under Mitt konto.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::pages::{refused, unexpected};
use super::state::{page, status_of, Chrome, Identity, Web};
use crate::care::api::{AccountView, ApiError, PasswordSet, Reply, Request, UserAddRequest};

pub(super) fn routes() -> Router<Web> {
    Router::new()
        .route("/konton", get(list).post(add))
        .route("/konton/{login}", get(one))
        .route("/konton/{login}/roller", post(roles))
        .route("/konton/{login}/losenord", post(new_password))
        .route("/konton/{login}/sparra", post(disable))
        .route("/konton/{login}/oppna", post(enable))
        .route("/konton/{login}/nycklar/{token}/aterkalla", post(revoke))
}

/// The roles an account can have: (value care::api reads, Swedish label).
const ROLES: [(&str, &str); 3] = [
    ("personal", "Personal: läser och skriver enhetens dokument"),
    ("admin", "Administratör: hanterar enhetens konton"),
    ("logggranskare", "Logggranskare: granskar åtkomstloggen"),
];

/// One role as a check box.
struct RoleBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

fn role_boxes(checked: &[String]) -> Vec<RoleBox> {
    ROLES
        .iter()
        .map(|(value, label)| RoleBox {
            value,
            label,
            checked: checked.iter().any(|c| c == value),
        })
        .collect()
}

/// An account as a row of the list.
struct Row {
    login: String,
    name: String,
    title: String,
    roles: String,
    enabled: bool,
    tokens: String,
}

fn row(a: &AccountView) -> Row {
    Row {
        login: a.login.clone(),
        name: a.name.clone(),
        title: a.title.clone(),
        roles: a.roles.join(", "),
        enabled: a.enabled,
        tokens: if a.tokens.is_empty() {
            "inga".into()
        } else {
            a.tokens
                .iter()
                .map(|t| {
                    if t.label.is_empty() {
                        t.id.clone()
                    } else {
                        format!("{} ({})", t.label, t.id)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    }
}

/// The new-account form as typed (kept beside a refusal).
#[derive(Default)]
struct NewAccount {
    login: String,
    name: String,
    title: String,
    roles: Vec<RoleBox>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    c: Chrome,
    rows: Vec<Row>,
    f: NewAccount,
    error: Option<String>,
}

async fn accounts(web: &Web, who: &Identity) -> Result<Vec<AccountView>, ApiError> {
    match web.ask(who, Request::UserList {}).await? {
        Reply::Users(u) => Ok(u.accounts),
        _ => Err(ApiError::Refused("internt fel: oväntat svar".into())),
    }
}

fn list_page(
    web: &Web,
    who: &Identity,
    all: &[AccountView],
    f: NewAccount,
    error: Option<String>,
) -> AccountsPage {
    AccountsPage {
        c: Chrome::of(web, who, "Konton", "konton"),
        rows: all.iter().map(row).collect(),
        f,
        error,
    }
}

async fn list(State(web): State<Web>, who: Identity) -> Response {
    match accounts(&web, &who).await {
        Ok(all) => {
            let f = NewAccount {
                roles: role_boxes(&["personal".into()]),
                ..NewAccount::default()
            };
            page(StatusCode::OK, list_page(&web, &who, &all, f, None))
        }
        Err(e) => refused(&web, &who, e),
    }
}

/// The value of `k` in a posted form (the first), and every value of `k`.
fn field(pairs: &[(String, String)], k: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn fields(pairs: &[(String, String)], k: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .collect()
}

#[derive(Template)]
#[template(path = "password_shown.html")]
struct PasswordPage {
    c: Chrome,
    heading: String,
    account: AccountView,
    password: String,
}

/// The password the node made, shown this once (the response is `no-store`, as every page).
fn password_page(web: &Web, who: &Identity, heading: &str, p: PasswordSet) -> Response {
    page(
        StatusCode::OK,
        PasswordPage {
            c: Chrome::of(web, who, heading, "konton"),
            heading: heading.to_string(),
            password: p.password.expose().to_string(),
            account: p.account,
        },
    )
}

async fn add(
    State(web): State<Web>,
    who: Identity,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let typed_roles = fields(&pairs, "roles");
    let request = Request::UserAdd(UserAddRequest {
        login: field(&pairs, "login"),
        name: field(&pairs, "name"),
        title: field(&pairs, "title"),
        roles: typed_roles.clone(),
        // The node makes the password and shows it once.
        password: None,
    });
    match web.ask(&who, request).await {
        Ok(Reply::PasswordSet(p)) => password_page(&web, &who, "Kontot är skapat", p),
        Ok(_) => unexpected(&web, &who),
        Err(e @ ApiError::Refused(_)) => {
            let all = match accounts(&web, &who).await {
                Ok(all) => all,
                Err(e) => return refused(&web, &who, e),
            };
            let f = NewAccount {
                login: field(&pairs, "login"),
                name: field(&pairs, "name"),
                title: field(&pairs, "title"),
                roles: role_boxes(&typed_roles),
            };
            page(
                status_of(&e),
                list_page(&web, &who, &all, f, Some(e.to_string())),
            )
        }
        Err(e) => refused(&web, &who, e),
    }
}

#[derive(Template)]
#[template(path = "account_edit.html")]
struct AccountPage {
    c: Chrome,
    a: AccountView,
    roles: Vec<RoleBox>,
    /// The account is the admin's own (its password is changed under Mitt konto).
    own: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Done {
    #[serde(default)]
    klart: Option<String>,
}

/// One account's page, with `notice` or `error`.
async fn account_page(
    web: &Web,
    who: &Identity,
    login: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let all = match accounts(web, who).await {
        Ok(all) => all,
        Err(e) => return refused(web, who, e),
    };
    let typed = login.trim().to_lowercase();
    let Some(a) = all.into_iter().find(|a| a.login == typed) else {
        return refused(
            web,
            who,
            ApiError::Refused(format!("kontot {typed} finns inte på den här enheten")),
        );
    };
    let (status, error) = match error {
        Some((s, e)) => (s, Some(e)),
        None => (StatusCode::OK, None),
    };
    page(
        status,
        AccountPage {
            c: Chrome::of(web, who, &format!("Konto {}", a.login), "konton"),
            roles: role_boxes(&a.roles),
            own: a.login == who.account.login,
            a,
            notice,
            error,
        },
    )
}

async fn one(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let notice = d.klart.as_deref().map(|k| {
        match k {
            "roller" => "Rollerna är sparade.",
            "sparrat" => "Kontot är spärrat. Dess inloggningar avslutas på enhetens noder när de fått ändringen.",
            "oppnat" => "Kontot är öppnat igen.",
            "nyckel" => "API-nyckeln är återkallad.",
            _ => "Sparat.",
        }
        .to_string()
    });
    account_page(&web, &who, &login, notice, None).await
}

/// After a change: back to the account's page saying what was done, or the page with the
/// node's refusal.
async fn after(
    web: &Web,
    who: &Identity,
    login: &str,
    answer: Result<Reply, ApiError>,
    done: &str,
) -> Response {
    match answer {
        Ok(Reply::Account(a)) => {
            Redirect::to(&format!("/konton/{}?klart={done}", a.login)).into_response()
        }
        Ok(_) => unexpected(web, who),
        Err(e @ (ApiError::Refused(_) | ApiError::NotAllowed(_))) => {
            // Not allowed at all (not an admin): the refusal page, not the account.
            if matches!(e, ApiError::NotAllowed(_)) && accounts(web, who).await.is_err() {
                return refused(web, who, e);
            }
            account_page(web, who, login, None, Some((status_of(&e), e.to_string()))).await
        }
        Err(e) => refused(web, who, e),
    }
}

async fn roles(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let request = Request::UserRoles {
        login: login.clone(),
        roles: fields(&pairs, "roles"),
    };
    let answer = web.ask(&who, request).await;
    after(&web, &who, &login, answer, "roller").await
}

async fn new_password(
    State(web): State<Web>,
    who: Identity,
    Path(login): Path<String>,
) -> Response {
    let request = Request::UserPasswd {
        login: login.clone(),
        password: None,
    };
    match web.ask(&who, request).await {
        Ok(Reply::PasswordSet(p)) => password_page(&web, &who, "Nytt lösenord", p),
        other => after(&web, &who, &login, other, "losenord").await,
    }
}

async fn disable(State(web): State<Web>, who: Identity, Path(login): Path<String>) -> Response {
    let answer = web
        .ask(
            &who,
            Request::UserDisable {
                login: login.clone(),
            },
        )
        .await;
    after(&web, &who, &login, answer, "sparrat").await
}

async fn enable(State(web): State<Web>, who: Identity, Path(login): Path<String>) -> Response {
    let answer = web
        .ask(
            &who,
            Request::UserEnable {
                login: login.clone(),
            },
        )
        .await;
    after(&web, &who, &login, answer, "oppnat").await
}

async fn revoke(
    State(web): State<Web>,
    who: Identity,
    Path((login, token)): Path<(String, String)>,
) -> Response {
    let answer = web
        .ask(
            &who,
            Request::TokenRevoke {
                login: login.clone(),
                token,
            },
        )
        .await;
    after(&web, &who, &login, answer, "nyckel").await
}
