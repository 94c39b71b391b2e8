//! `user add | passwd | roles | disable | enable | list`, `own_passwd` and
//! `user token create | revoke`: the
//! unit's staff accounts. Every change is an `Account` event sealed to this unit alone
//! ([`reservnod_proto::accounts`]), so it reaches every node of the unit and no other unit
//! can read it; the account's state is the fold over those events in the view.
//!
//! Managing accounts needs the unit admin role (or the node's own Unix account, which is how
//! the first unit admin is made); an account may change its own password (`own_passwd` only,
//! giving the current one) and its own tokens. A password left out of `add` or `passwd` is
//! made by the node and returned once.

use reservnod_proto::accounts::{
    valid_login, AccountChange, AccountPayload, AccountState, Role, TokenId, ACCOUNT_FORMAT,
};
use serde::{Deserialize, Serialize};

use super::caller::{Actor, Caller, Need};
use super::common::{account_write, audit};
use super::input;
use super::password::{self, Secret};
use super::types::{not_allowed, refused, ApiError, CareNode};
use crate::store::AuditAction;

/// The refusal of an own password change whose current password is wrong (the web layer
/// counts these as it counts failed logins, for its back-off).
pub const CURRENT_PASSWORD_WRONG: &str = "det nuvarande lösenordet stämmer inte";

/// Whether `e` is `own_passwd`'s refusal of a wrong current password (the web counts it in
/// the login back-off). Beside the message it compares, so the two cannot drift apart.
pub fn is_wrong_current_password(e: &ApiError) -> bool {
    matches!(e, ApiError::Refused(m) if m == CURRENT_PASSWORD_WRONG)
}

/// The most usable API tokens one account may have.
pub const TOKENS_PER_ACCOUNT_MAX: usize = 16;

/// Make an account.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAddRequest {
    /// Login (lower-case letters a–z, digits, `.`, `_`, `-`).
    pub login: String,
    /// Name as on documents and receipts.
    pub name: String,
    /// Title or role as on documents (sjuksköterska, läkare, …).
    #[serde(default)]
    pub title: String,
    /// Roles as typed: `personal`, `admin`, `logggranskare`.
    pub roles: Vec<String>,
    /// The first password; left out, the node makes one and shows it once
    /// ([`PasswordSet`]).
    #[serde(default)]
    pub password: Option<Secret>,
}

/// A password the node made for an account ([`generate`](password::generate)): shown here
/// once, for the administrator to hand over in person, and kept nowhere but as its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasswordSet {
    /// The account as it is now.
    pub account: AccountView,
    /// The password.
    pub password: Secret,
}

/// What a password change gave: the account, and the password when the node made it.
pub(super) type Changed = (AccountView, Option<Secret>);

/// An account as shown (never its password hash or token secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Login.
    pub login: String,
    /// Name as on documents.
    pub name: String,
    /// Title as on documents.
    pub title: String,
    /// Roles (Swedish names).
    pub roles: Vec<String>,
    /// Whether it may log in.
    pub enabled: bool,
    /// Its usable API tokens.
    pub tokens: Vec<TokenView>,
}

/// An API token as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    /// Its id (hex), to revoke it by.
    pub id: String,
    /// What it is for.
    pub label: String,
    /// When it was issued (ms since the epoch, the issuing node's clock).
    pub issued_ms: u64,
}

/// The unit's accounts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Users {
    /// By login.
    pub accounts: Vec<AccountView>,
}

/// A token made: its secret is shown here once and kept nowhere.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The account.
    pub login: String,
    /// The token's id (hex).
    pub id: String,
    /// What it is for.
    pub label: String,
    /// The token (`rnt_…`), to give the script; it cannot be shown again.
    pub token: Secret,
}

pub(super) fn view_of(s: &AccountState) -> AccountView {
    AccountView {
        login: s.login.clone(),
        name: s.name.clone(),
        title: s.title.clone(),
        roles: s.roles.iter().map(|r| r.name_sv().to_string()).collect(),
        enabled: s.enabled,
        tokens: s
            .tokens
            .iter()
            .map(|t| TokenView {
                id: t.id.to_string(),
                label: t.label.clone(),
                issued_ms: t.issued.wall_ms,
            })
            .collect(),
    }
}

/// A login as typed, in the form it is stored (trimmed, lower case).
pub fn login(typed: &str) -> Result<String, ApiError> {
    let l = typed.trim().to_lowercase();
    if !valid_login(&l) {
        return Err(refused(format!(
            "ogiltigt inloggningsnamn '{}': små bokstäver a–z, siffror, punkt, understreck och bindestreck, högst {} tecken, först en bokstav eller siffra",
            input::quote(typed),
            reservnod_proto::accounts::LOGIN_BYTES_MAX
        )));
    }
    Ok(l)
}

/// A role as typed (its Swedish or English name, any case).
pub fn role(typed: &str) -> Result<Role, ApiError> {
    let t = typed.trim().to_lowercase();
    Role::ALL
        .into_iter()
        .find(|r| {
            t == r.name_sv()
                || t == match r {
                    Role::Staff => "staff",
                    Role::UnitAdmin => "unit_admin",
                    Role::LogReviewer => "log_reviewer",
                }
        })
        .ok_or_else(|| {
            refused(format!(
                "okänd roll '{}': välj personal, admin eller logggranskare",
                input::quote(typed)
            ))
        })
}

fn roles(typed: &[String]) -> Result<Vec<Role>, ApiError> {
    let mut out = Vec::new();
    for t in typed.iter().flat_map(|t| t.split(',')) {
        if t.trim().is_empty() {
            continue;
        }
        let r = role(t)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(refused(
            "ange minst en roll: personal, admin eller logggranskare",
        ));
    }
    out.sort();
    Ok(out)
}

fn text(what: &str, s: &str, required: bool) -> Result<String, ApiError> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(refused(format!("{what} saknas")));
    }
    if t.len() > reservnod_proto::accounts::ACCOUNT_TEXT_BYTES_MAX
        || t.chars().any(char::is_control)
    {
        return Err(refused(format!(
            "{what} får vara högst {} tecken utan radbrytningar",
            reservnod_proto::accounts::ACCOUNT_TEXT_BYTES_MAX
        )));
    }
    Ok(t.to_string())
}

/// The account `login` names at this node.
fn existing(node: &dyn CareNode, login: &str) -> Result<AccountState, ApiError> {
    node.view()
        .accounts()
        .remove(login)
        .ok_or_else(|| refused(format!("kontot {login} finns inte på den här enheten")))
}

/// Whether `caller` is the account `login` itself.
fn is_self(caller: &Caller, login: &str) -> bool {
    matches!(&caller.actor, Actor::Account(a) if a.login == login)
}

/// May manage `login`'s password or tokens: the unit admin, or the account itself.
fn require_admin_or_self(
    node: &dyn CareNode,
    caller: &Caller,
    login: &str,
) -> Result<(), ApiError> {
    if is_self(caller, login) {
        return caller.require(node, Need::Any);
    }
    caller.require(node, Need::Accounts)
}

fn payload(node: &dyn CareNode, login: &str, change: AccountChange) -> AccountPayload {
    AccountPayload {
        format: ACCOUNT_FORMAT,
        login: login.to_string(),
        at_ms: node.now_ms(),
        change,
    }
}

/// The password given, checked against the rules, or one the node makes.
fn new_password(
    node: &dyn CareNode,
    login: &str,
    given: Option<Secret>,
) -> Result<(Secret, bool), ApiError> {
    match given {
        Some(p) => {
            password::check_new(login, &p)?;
            Ok((p, false))
        }
        None => Ok((password::generate(node), true)),
    }
}

pub(super) fn add(
    node: &dyn CareNode,
    caller: &Caller,
    r: UserAddRequest,
) -> Result<Changed, ApiError> {
    let login = login(&r.login)?;
    let name = text("namnet", &r.name, true)?;
    let title = text("titeln", &r.title, false)?;
    let roles = roles(&r.roles)?;
    let (pw, made) = new_password(node, &login, r.password)?;
    // The hash is slow on purpose: made before the node's write turn, so no other writer
    // waits for it.
    let hash = password::hash(node, &pw)?;
    let _one_at_a_time = node.write_turn();
    if node.view().accounts().contains_key(&login) {
        return Err(refused(format!("kontot {login} finns redan")));
    }
    let detail = format!("konto skapat: {login} ({})", role_names(&roles));
    account_write(
        node,
        caller,
        &payload(
            node,
            &login,
            AccountChange::Created {
                name,
                title,
                roles,
                password: hash,
            },
        ),
        &detail,
    )?;
    let view = existing(node, &login).map(|s| view_of(&s))?;
    Ok((view, made.then_some(pw)))
}

/// A colleague's new password, set by the unit admin (or IT). An account's own password is
/// changed with [`own_passwd`], which asks for the current one: a session left open must not
/// be enough to take the account over.
pub(super) fn passwd(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
    given: Option<Secret>,
) -> Result<Changed, ApiError> {
    let login = login(typed)?;
    if is_self(caller, &login) {
        return Err(not_allowed(
            "ditt eget lösenord byter du under Mitt konto, med ditt nuvarande lösenord",
        ));
    }
    caller.require(node, Need::Accounts)?;
    let (pw, made) = new_password(node, &login, given)?;
    let hash = password::hash(node, &pw)?;
    let _one_at_a_time = node.write_turn();
    existing(node, &login)?;
    account_write(
        node,
        caller,
        &payload(node, &login, AccountChange::Password { password: hash }),
        &format!("lösenord bytt: {login}"),
    )?;
    let view = existing(node, &login).map(|s| view_of(&s))?;
    Ok((view, made.then_some(pw)))
}

/// The logged-in account changes its own password: the current one, then the new one
/// twice. A wrong current password changes nothing and is in the access log, as a refused
/// login is (with the caller's address), so a reviewer sees someone trying at an open
/// session.
pub(super) fn own_passwd(
    node: &dyn CareNode,
    caller: &Caller,
    current: &Secret,
    new: &Secret,
    repeat: &Secret,
) -> Result<AccountView, ApiError> {
    let Actor::Account(a) = &caller.actor else {
        return Err(not_allowed(
            "det här är för ett inloggat konto: IT byter lösenord med reservnod user passwd",
        ));
    };
    let login = a.login.clone();
    if new != repeat {
        return Err(refused(
            "de två nya lösenorden är inte lika: skriv samma nya lösenord två gånger",
        ));
    }
    password::check_new(&login, new)?;
    if new == current {
        return Err(refused(
            "det nya lösenordet är samma som det nuvarande: välj ett annat",
        ));
    }
    let s = existing(node, &login)?;
    if !password::verify(&s.password, current) {
        audit(
            node,
            caller,
            AuditAction::LoginRefused,
            None,
            None,
            "byte av eget lösenord nekat: fel nuvarande lösenord",
        )?;
        return Err(refused(CURRENT_PASSWORD_WRONG));
    }
    let hash = password::hash(node, new)?;
    let _one_at_a_time = node.write_turn();
    // Changed by another node meanwhile? Then the current password proved above may be gone.
    if existing(node, &login)?.password != s.password {
        return Err(refused(
            "lösenordet ändrades nyss på en annan nod: logga in igen",
        ));
    }
    account_write(
        node,
        caller,
        &payload(node, &login, AccountChange::Password { password: hash }),
        &format!("eget lösenord bytt: {login}"),
    )?;
    existing(node, &login).map(|s| view_of(&s))
}

pub(super) fn set_roles(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
    typed_roles: &[String],
) -> Result<AccountView, ApiError> {
    let login = login(typed)?;
    let roles = roles(typed_roles)?;
    let _one_at_a_time = node.write_turn();
    let s = existing(node, &login)?;
    if s.roles == roles {
        return Ok(view_of(&s));
    }
    let detail = format!("roller ändrade: {login} ({})", role_names(&roles));
    account_write(
        node,
        caller,
        &payload(node, &login, AccountChange::Roles { roles }),
        &detail,
    )?;
    existing(node, &login).map(|s| view_of(&s))
}

pub(super) fn disable(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
) -> Result<AccountView, ApiError> {
    let login = login(typed)?;
    let _one_at_a_time = node.write_turn();
    let s = existing(node, &login)?;
    if !s.enabled {
        return Err(refused(format!("kontot {login} är redan spärrat")));
    }
    account_write(
        node,
        caller,
        &payload(node, &login, AccountChange::Disabled),
        &format!("konto spärrat: {login}"),
    )?;
    existing(node, &login).map(|s| view_of(&s))
}

pub(super) fn enable(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
) -> Result<AccountView, ApiError> {
    let login = login(typed)?;
    let _one_at_a_time = node.write_turn();
    let s = existing(node, &login)?;
    if s.enabled {
        return Err(refused(format!("kontot {login} är inte spärrat")));
    }
    account_write(
        node,
        caller,
        &payload(
            node,
            &login,
            AccountChange::Enabled {
                lifts: s.disables.clone(),
            },
        ),
        &format!("konto öppnat: {login}"),
    )?;
    existing(node, &login).map(|s| view_of(&s))
}

pub(super) fn list(node: &dyn CareNode) -> Users {
    Users {
        accounts: node.view().accounts().values().map(view_of).collect(),
    }
}

pub(super) fn token_create(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
    label: &str,
) -> Result<TokenCreated, ApiError> {
    let login = login(typed)?;
    require_admin_or_self(node, caller, &login)?;
    let label = text("beskrivningen", label, false)?;
    let _one_at_a_time = node.write_turn();
    let s = existing(node, &login)?;
    if s.tokens.len() >= TOKENS_PER_ACCOUNT_MAX {
        return Err(refused(format!(
            "kontot {login} har redan {TOKENS_PER_ACCOUNT_MAX} nycklar: återkalla någon först"
        )));
    }
    let (id, token, hash) = password::new_token(node);
    let id = TokenId(id);
    account_write(
        node,
        caller,
        &payload(
            node,
            &login,
            AccountChange::TokenIssued {
                token: id,
                hash,
                label: label.clone(),
            },
        ),
        &format!("API-nyckel {id} skapad: {login}"),
    )?;
    Ok(TokenCreated {
        login,
        id: id.to_string(),
        label,
        token,
    })
}

pub(super) fn token_revoke(
    node: &dyn CareNode,
    caller: &Caller,
    typed: &str,
    token: &str,
) -> Result<AccountView, ApiError> {
    let login = login(typed)?;
    require_admin_or_self(node, caller, &login)?;
    let _one_at_a_time = node.write_turn();
    let s = existing(node, &login)?;
    let t = token.trim().to_lowercase();
    let hits: Vec<TokenId> = s
        .tokens
        .iter()
        .map(|x| x.id)
        .filter(|id| !t.is_empty() && id.to_string().starts_with(&t))
        .collect();
    let id = match hits.as_slice() {
        [id] => *id,
        [] => {
            return Err(refused(format!(
                "kontot {login} har ingen giltig API-nyckel med id '{}'",
                input::quote(token)
            )))
        }
        _ => return Err(refused("flera nycklar börjar så: skriv fler tecken")),
    };
    account_write(
        node,
        caller,
        &payload(node, &login, AccountChange::TokenRevoked { token: id }),
        &format!("API-nyckel {id} återkallad: {login}"),
    )?;
    existing(node, &login).map(|s| view_of(&s))
}

/// The roles as the audit entry names them (`personal, admin`).
fn role_names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.name_sv())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{authenticate_password, authenticate_token, Reply, Request, LOGIN_REFUSED};
    use super::*;
    use crate::store::AuditAction;

    pub(in super::super) fn add_request(login: &str, roles: &[&str], pw: &str) -> Request {
        Request::UserAdd(UserAddRequest {
            login: login.into(),
            name: format!("Namn {login}"),
            title: "sjuksköterska".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password: Some(Secret::new(pw)),
        })
    }

    fn account(node: &TestNode, caller: &Caller, r: Request) -> AccountView {
        match node.ask_as(caller, r) {
            Ok(Reply::Account(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    const PW: &str = "en lång fras om vår";

    #[test]
    fn the_first_admin_is_made_locally_and_can_log_in_with_its_password_only() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        let a = account(
            &ward,
            &it,
            add_request(" Anna ", &["admin", "personal"], PW),
        );
        assert_eq!(a.login, "anna");
        assert_eq!(a.roles, ["personal", "admin"]);
        assert!(a.enabled);
        let acc = authenticate_password(&ward, "ANNA", &Secret::new(PW), Some("10.0.0.7".into()))
            .expect("logs in");
        assert_eq!(acc.login, "anna");
        assert_eq!(
            (acc.name.as_str(), acc.title.as_str()),
            ("Namn  Anna", "sjuksköterska")
        );
        assert_eq!(&acc.unit, ward.unit_key().unit());
        assert!(acc.has(Role::UnitAdmin) && acc.has(Role::Staff));
        // The password is nowhere in the store's audit log or the event's clear header.
        let log = ward.audit_log();
        assert!(log.iter().all(|e| !e.detail.contains(PW)));
        let created = log
            .iter()
            .find(|e| e.action == AuditAction::AccountChanged)
            .expect("the creation is audited");
        assert_eq!(
            created.login.as_deref(),
            Some("test"),
            "by the local person"
        );
        let login = log.last().expect("the login is audited");
        assert_eq!(login.action, AuditAction::Login);
        assert_eq!(login.login.as_deref(), Some("anna"));
        assert_eq!(login.client.as_deref(), Some("10.0.0.7"));
        // No default password: nothing else logs in.
        for (l, p) in [
            ("anna", ""),
            ("anna", "admin"),
            ("admin", "admin"),
            ("anna", "en lång fras om vår "),
        ] {
            let e = authenticate_password(&ward, l, &Secret::new(p), None).expect_err(p);
            assert_eq!(e.to_string(), LOGIN_REFUSED);
        }
    }

    #[test]
    fn a_wrong_password_an_unknown_login_and_a_disabled_account_are_refused_alike_and_audited() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        account(&ward, &it, add_request("sara", &["personal"], PW));
        let wrong = authenticate_password(&ward, "sara", &Secret::new("fel lösenord!"), None)
            .expect_err("wrong");
        let unknown =
            authenticate_password(&ward, "okand", &Secret::new(PW), None).expect_err("unknown");
        let garbage = authenticate_password(&ward, "'; drop", &Secret::new(PW), None)
            .expect_err("not a login");
        account(
            &ward,
            &it,
            Request::UserDisable {
                login: "sara".into(),
            },
        );
        let disabled =
            authenticate_password(&ward, "sara", &Secret::new(PW), None).expect_err("disabled");
        for e in [&wrong, &unknown, &garbage, &disabled] {
            assert_eq!(e.to_string(), LOGIN_REFUSED);
        }
        let refusals: Vec<_> = ward
            .audit_log()
            .into_iter()
            .filter(|e| e.action == AuditAction::LoginRefused)
            .map(|e| (e.login, e.detail))
            .collect();
        assert_eq!(
            refusals,
            [
                (Some("sara".into()), "inloggning nekad: fel lösenord".into()),
                (
                    Some("okand".into()),
                    "inloggning nekad: okänt inloggningsnamn".into()
                ),
                (None, "inloggning nekad: okänt inloggningsnamn".into()),
                (
                    Some("sara".into()),
                    "inloggning nekad: kontot är spärrat".into()
                ),
            ]
        );
        // Enabled again, the same password works.
        let a = account(
            &ward,
            &it,
            Request::UserEnable {
                login: "sara".into(),
            },
        );
        assert!(a.enabled);
        authenticate_password(&ward, "sara", &Secret::new(PW), None).expect("enabled again");
    }

    #[test]
    fn an_account_of_one_unit_cannot_log_in_at_another_units_node() {
        let ward = TestNode::new(Side::Ward);
        let kommun = TestNode::new(Side::Kommun);
        account(&ward, &local("IT"), add_request("sara", &["personal"], PW));
        // The municipality's node carries the ward's account events, sealed.
        ward.carry_to(&kommun);
        assert!(kommun.event_count() >= 1);
        assert!(kommun.view().accounts().is_empty());
        let e =
            authenticate_password(&kommun, "sara", &Secret::new(PW), None).expect_err("other unit");
        assert_eq!(e.to_string(), LOGIN_REFUSED);
        // And an account the ward made is refused at the municipality even if presented as one.
        let sara = authenticate_password(&ward, "sara", &Secret::new(PW), None).expect("ward");
        let caller = Caller::account(sara, None, super::super::Via::Web);
        kommun.refuses_as(&caller, Request::Inbox {}, "annan enhet");
    }

    #[test]
    fn new_passwords_follow_the_rules_and_bad_requests_change_nothing() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        ward.refuses_as(&it, add_request("sara", &["personal"], "kort"), "för kort");
        ward.refuses_as(
            &it,
            add_request("saralinnea", &["personal"], "SaraLinnea"),
            "inloggningsnamnet",
        );
        ward.refuses_as(
            &it,
            add_request("Sara Sjöberg", &["personal"], PW),
            "ogiltigt inloggningsnamn",
        );
        ward.refuses_as(&it, add_request("sara", &[], PW), "minst en roll");
        ward.refuses_as(&it, add_request("sara", &["chef"], PW), "okänd roll 'chef'");
        let mut r = add_request("sara", &["personal"], PW);
        if let Request::UserAdd(a) = &mut r {
            a.name = " ".into();
        }
        ward.refuses_as(&it, r, "namnet saknas");
        account(&ward, &it, add_request("sara", &["personal"], PW));
        ward.refuses_as(&it, add_request("sara", &["personal"], PW), "finns redan");
        ward.refuses_as(
            &it,
            Request::UserDisable {
                login: "kim".into(),
            },
            "finns inte",
        );
        ward.refuses_as(
            &it,
            Request::UserEnable {
                login: "sara".into(),
            },
            "inte spärrat",
        );
        ward.refuses_as(
            &it,
            Request::UserPasswd {
                login: "sara".into(),
                password: Some(Secret::new("sara")),
            },
            "för kort",
        );
    }

    #[test]
    fn roles_decide_who_manages_accounts_and_an_account_may_change_its_own_password() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        account(&ward, &it, add_request("anna", &["admin"], PW));
        account(&ward, &it, add_request("sara", &["personal"], PW));
        let login = |l: &str, p: &str| {
            Caller::account(
                authenticate_password(&ward, l, &Secret::new(p), None).expect("login"),
                None,
                super::super::Via::Web,
            )
        };
        let anna = login("anna", PW);
        let sara = login("sara", PW);
        ward.refuses_as(
            &sara,
            add_request("kim", &["personal"], PW),
            "administratör",
        );
        ward.refuses_as(&sara, Request::UserList {}, "administratör");
        ward.refuses_as(
            &sara,
            Request::UserDisable {
                login: "anna".into(),
            },
            "administratör",
        );
        ward.refuses_as(
            &sara,
            Request::UserPasswd {
                login: "anna".into(),
                password: Some(Secret::new("ett nytt lösenord")),
            },
            "administratör",
        );
        account(
            &ward,
            &anna,
            add_request("kim", &["personal", "logggranskare"], PW),
        );
        // Her own password only with the current one (a session left open is not enough).
        ward.refuses_as(
            &sara,
            Request::UserPasswd {
                login: "sara".into(),
                password: Some(Secret::new("mitt nya lösenord")),
            },
            "Mitt konto",
        );
        let a = account(
            &ward,
            &sara,
            Request::OwnPasswd {
                current: Secret::new(PW),
                new: Secret::new("mitt nya lösenord"),
                repeat: Secret::new("mitt nya lösenord"),
            },
        );
        assert_eq!(a.login, "sara");
        assert!(authenticate_password(&ward, "sara", &Secret::new(PW), None).is_err());
        let sara = login("sara", "mitt nya lösenord");
        let a = account(
            &ward,
            &anna,
            Request::UserRoles {
                login: "sara".into(),
                roles: vec!["personal,admin".into()],
            },
        );
        assert_eq!(a.roles, ["personal", "admin"]);
        // The session's account still has its old roles: what it may do is what it logged in with.
        ward.refuses_as(&sara, Request::UserList {}, "administratör");
        match ward.ask_as(&anna, Request::UserList {}) {
            Ok(Reply::Users(u)) => assert_eq!(
                u.accounts
                    .iter()
                    .map(|a| a.login.as_str())
                    .collect::<Vec<_>>(),
                ["anna", "kim", "sara"]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_token_is_shown_once_works_until_revoked_and_only_its_hash_is_kept() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        account(&ward, &it, add_request("skript", &["personal"], PW));
        let made = match ward.ask_as(
            &it,
            Request::TokenCreate {
                login: "skript".into(),
                label: "utskrifter".into(),
            },
        ) {
            Ok(Reply::TokenCreated(t)) => t,
            other => panic!("{other:?}"),
        };
        assert!(made.token.expose().starts_with("rnt_"));
        let acc = authenticate_token(&ward, &made.token, Some("127.0.0.1".into())).expect("token");
        assert_eq!(acc.login, "skript");
        let state = ward.view().accounts().remove("skript").expect("held");
        assert_eq!(state.tokens.len(), 1);
        assert_eq!(
            state.tokens[0].hash,
            password::token_hash(
                &password::parse_token(made.token.expose())
                    .expect("parses")
                    .1
            )
        );
        // A token with its secret changed, or no token at all, is refused alike.
        let mut forged = made.token.expose().to_string();
        let last = forged.pop().expect("digit");
        forged.push(if last == '0' { '1' } else { '0' });
        for bad in [forged.as_str(), "rnt_", "Bearer x"] {
            let e = authenticate_token(&ward, &Secret::new(bad), None).expect_err(bad);
            assert_eq!(e.to_string(), LOGIN_REFUSED);
        }
        let a = account(
            &ward,
            &it,
            Request::TokenRevoke {
                login: "skript".into(),
                token: made.id[..6].into(),
            },
        );
        assert!(a.tokens.is_empty());
        assert!(authenticate_token(&ward, &made.token, None).is_err());
        let log = ward.audit_log();
        assert!(log.iter().all(|e| !e.detail.contains(made.token.expose())));
        assert_eq!(
            log.iter()
                .filter(|e| e.action == AuditAction::Login)
                .count(),
            1
        );
        assert_eq!(
            log.iter()
                .filter(|e| e.action == AuditAction::LoginRefused)
                .count(),
            4
        );
    }

    #[test]
    fn an_own_password_change_needs_the_current_password_and_the_new_one_twice() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        account(&ward, &it, add_request("sara", &["personal"], PW));
        let sara = Caller::account(
            authenticate_password(&ward, "sara", &Secret::new(PW), Some("10.0.0.7".into()))
                .expect("login"),
            Some("10.0.0.7".into()),
            super::super::Via::Web,
        );
        let own = |current: &str, new: &str, repeat: &str| Request::OwnPasswd {
            current: Secret::new(current),
            new: Secret::new(new),
            repeat: Secret::new(repeat),
        };
        let new = "en annan lång fras";
        ward.refuses_as(&sara, own(PW, new, "en annan lång frax"), "inte lika");
        ward.refuses_as(&sara, own(PW, "kort", "kort"), "för kort");
        ward.refuses_as(&sara, own(PW, PW, PW), "samma som det nuvarande");
        ward.refuses_as(&it, own(PW, new, new), "reservnod user passwd");
        // A wrong current password changes nothing and is logged, as a refused login is.
        let before = ward.audit_log().len();
        let events = ward.event_count();
        let e = ward
            .ask_as(&sara, own("fel lösenord här", new, new))
            .expect_err("wrong current password");
        assert_eq!(e.to_string(), "det nuvarande lösenordet stämmer inte");
        assert_eq!(ward.event_count(), events);
        let log = ward.audit_log();
        assert_eq!(log.len(), before + 1);
        let tried = log.last().expect("logged");
        assert_eq!(tried.action, AuditAction::LoginRefused);
        assert_eq!(
            (tried.login.as_deref(), tried.client.as_deref()),
            (Some("sara"), Some("10.0.0.7"))
        );
        assert!(!tried.detail.contains("fel lösenord här"));
        authenticate_password(&ward, "sara", &Secret::new(PW), None).expect("unchanged");
        // The right one: changed, in the log as her own change, and only the new one works.
        let a = account(&ward, &sara, own(PW, new, new));
        assert_eq!(a.login, "sara");
        let changed = ward
            .audit_log()
            .into_iter()
            .rfind(|e| e.action == AuditAction::AccountChanged)
            .expect("logged");
        assert_eq!(
            (changed.login.as_deref(), changed.detail.as_str()),
            (Some("sara"), "eget lösenord bytt: sara")
        );
        assert!(authenticate_password(&ward, "sara", &Secret::new(PW), None).is_err());
        authenticate_password(&ward, "sara", &Secret::new(new), None).expect("the new one");
    }

    #[test]
    fn a_password_left_out_is_made_by_the_node_and_shown_once() {
        let ward = TestNode::new(Side::Ward);
        let it = local("IT");
        account(&ward, &it, add_request("anna", &["admin"], PW));
        let anna = Caller::account(
            authenticate_password(&ward, "anna", &Secret::new(PW), None).expect("login"),
            None,
            super::super::Via::Web,
        );
        let made = match ward.ask_as(
            &anna,
            Request::UserAdd(UserAddRequest {
                login: "vikarie".into(),
                name: "Vera Vikarie".into(),
                title: "undersköterska".into(),
                roles: vec!["personal".into()],
                password: None,
            }),
        ) {
            Ok(Reply::PasswordSet(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(made.account.login, "vikarie");
        assert_eq!(made.password.expose().len(), 19);
        authenticate_password(&ward, "vikarie", &made.password, None).expect("it works");
        let again = match ward.ask_as(
            &anna,
            Request::UserPasswd {
                login: "vikarie".into(),
                password: None,
            },
        ) {
            Ok(Reply::PasswordSet(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_ne!(again.password, made.password);
        assert!(authenticate_password(&ward, "vikarie", &made.password, None).is_err());
        authenticate_password(&ward, "vikarie", &again.password, None).expect("the new one");
        // Neither password is in the access log.
        let log = ward.audit_log();
        for p in [&made.password, &again.password] {
            assert!(log.iter().all(|e| !e.detail.contains(p.expose())));
        }
    }
}
