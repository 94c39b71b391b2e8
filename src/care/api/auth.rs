//! Logging in: a login and password, or an API token, checked against the unit's accounts
//! as this node holds them, giving the [`Account`] a way in makes its [`Caller`] from.
//!
//! Every failure (unknown login, wrong password, disabled account, an account of another
//! unit, which this node cannot even read) gives the same message, [`LOGIN_REFUSED`], and
//! an unknown login costs the same Argon2id work as a wrong password. Every attempt is in
//! the audit log, success or failure, with the login as typed (when it is a login at all),
//! the client address and, for a refusal, the true reason for the log reviewer; never the
//! password. Both checks are slow on purpose: call them on a blocking thread.
//!
//! [`Caller`]: super::Caller

use reservnod_proto::accounts::{valid_login, AccountState};

use super::caller::{Account, Caller, Via};
use super::common::{audit, audit_login};
use super::password::{self, Secret};
use super::types::{refused, ApiError, CareNode};
use crate::store::AuditAction;

/// The one message for every refused login.
pub const LOGIN_REFUSED: &str =
    "inloggningen misslyckades: kontrollera inloggningsnamn och lösenord, eller kontakta enhetens administratör";

fn account_of(node: &dyn CareNode, s: &AccountState) -> Account {
    Account {
        login: s.login.clone(),
        name: s.name.clone(),
        title: s.title.clone(),
        unit: node.unit_key().unit().clone(),
        roles: s.roles.clone(),
    }
}

fn refuse(node: &dyn CareNode, login: Option<String>, client: Option<&str>, why: &str) -> ApiError {
    if let Err(e) = audit_login(
        node,
        login,
        client,
        false,
        &format!("inloggning nekad: {why}"),
    ) {
        return e;
    }
    refused(LOGIN_REFUSED)
}

/// The account `login` names at this node, if `password` is its password and it is enabled.
pub fn authenticate_password(
    node: &dyn CareNode,
    login: &str,
    password: &Secret,
    client: Option<String>,
) -> Result<Account, ApiError> {
    let typed = login.trim().to_lowercase();
    let logged = valid_login(&typed).then(|| typed.clone());
    let client = client.as_deref();
    // The view's lock is let go before the slow hash.
    let state = node.view().accounts().remove(&typed);
    let Some(s) = state else {
        password::verify_nothing(password);
        return Err(refuse(node, logged, client, "okänt inloggningsnamn"));
    };
    if !password::verify(&s.password, password) {
        return Err(refuse(node, logged, client, "fel lösenord"));
    }
    if !s.enabled {
        return Err(refuse(node, logged, client, "kontot är spärrat"));
    }
    audit_login(node, logged, client, true, "inloggad med lösenord")?;
    Ok(account_of(node, &s))
}

/// The account whose API token `token` is, if the token is usable and the account enabled.
pub fn authenticate_token(
    node: &dyn CareNode,
    token: &Secret,
    client: Option<String>,
) -> Result<Account, ApiError> {
    let client = client.as_deref();
    let Some((id, secret)) = password::parse_token(token.expose()) else {
        return Err(refuse(node, None, client, "API-nyckeln har fel form"));
    };
    let hash = blake3::Hash::from(password::token_hash(&secret));
    let found = node.view().accounts().into_values().find_map(|s| {
        let t = s.tokens.iter().find(|t| t.id.0 == id)?.clone();
        Some((s, t))
    });
    let Some((s, t)) = found else {
        return Err(refuse(
            node,
            None,
            client,
            "okänd eller återkallad API-nyckel",
        ));
    };
    // blake3::Hash compares in constant time.
    if blake3::Hash::from(t.hash) != hash {
        return Err(refuse(
            node,
            Some(s.login.clone()),
            client,
            &format!("fel hemlighet för API-nyckel {}", t.id),
        ));
    }
    if !s.enabled {
        return Err(refuse(
            node,
            Some(s.login.clone()),
            client,
            "kontot är spärrat",
        ));
    }
    audit_login(
        node,
        Some(s.login.clone()),
        client,
        true,
        &format!("inloggad med API-nyckel {}", t.id),
    )?;
    Ok(account_of(node, &s))
}

/// An account as this node holds it now, with a fingerprint of what a login of it stands on:
/// its password hash and its roles. A web session keeps the stamp from its login and
/// compares it on every request, so a password or role change, wherever in the unit it was
/// made, ends the sessions opened before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The account.
    pub account: Account,
    /// BLAKE3 of the password hash and the roles (never shown, never stored).
    pub stamp: [u8; 32],
}

/// The account `login` (as typed: trimmed, any case) as it stands now, if it exists and is
/// enabled. Cheap (one account's changes folded, no password hash): called on every request
/// of a web session.
pub fn standing(node: &dyn CareNode, login: &str) -> Option<Standing> {
    let typed = login.trim().to_lowercase();
    let s = node.view().account(&typed)?;
    if !s.enabled {
        return None;
    }
    let mut h = blake3::Hasher::new_derive_key("reservnod 2026 web session account stamp");
    h.update(&(s.password.len() as u64).to_le_bytes());
    h.update(s.password.as_bytes());
    for r in &s.roles {
        h.update(&[0]);
        h.update(r.name_sv().as_bytes());
    }
    Some(Standing {
        account: account_of(node, &s),
        stamp: *h.finalize().as_bytes(),
    })
}

/// Writes to the access log that a web session of `account` ended, and why (`detail`, in
/// Swedish: logged out, idle, the account changed).
pub fn audit_session_end(
    node: &dyn CareNode,
    account: &Account,
    client: Option<String>,
    detail: &str,
) -> Result<(), ApiError> {
    let caller = Caller::account(account.clone(), client, Via::Web);
    audit(node, &caller, AuditAction::Logout, None, None, detail)
}

/// Whether any account of this node's unit can log in (is enabled).
pub fn any_can_log_in(node: &dyn CareNode) -> bool {
    node.view().accounts().values().any(|a| a.enabled)
}
