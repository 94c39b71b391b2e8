//! Staff accounts of a unit: what an `Account` event says, and an account's state as a
//! deterministic fold over those events.
//!
//! A unit may have several nodes, so an account must work on each of them and on no other
//! unit's: every change (created, password, roles, disabled, enabled, API token issued or
//! revoked) is an event of class [`EventClass::Account`](crate::EventClass::Account) sealed
//! to the author's unit alone (no recipients). Other units' nodes carry it and cannot open it.
//!
//! # The fold
//!
//! [`fold`] gives the same state for the same set of changes in any order:
//!
//! - The changes are taken in `(hlc, event id)` order; the id breaks ties between events
//!   written at the same hybrid time on different nodes.
//! - Name, title, roles and password are each the value of the last change (in that order)
//!   that sets them; [`AccountChange::Created`] sets all four. An account exists once a
//!   `Created` for its login is held.
//! - Disabling wins: an account is enabled only if every `Disabled` held is lifted by an
//!   `Enabled` that names it ([`AccountChange::Enabled::lifts`], the disables its author had
//!   seen). A disable written on one node while another enables or changes the password is
//!   therefore never undone by them; a password change never touches it at all.
//! - A token is usable once issued and until a `TokenRevoked` naming it is held, in any
//!   order (a revocation that arrives before its issue still counts).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::EventId;
use crate::hlc::Hlc;

/// The account payload encoding this code writes and reads.
pub const ACCOUNT_FORMAT: u16 = 1;
/// The longest login, in bytes.
pub const LOGIN_BYTES_MAX: usize = 64;
/// The longest name, title or token label, in bytes.
pub const ACCOUNT_TEXT_BYTES_MAX: usize = 200;
/// The longest stored password hash (a PHC string), in bytes.
pub const PASSWORD_HASH_BYTES_MAX: usize = 256;
/// The most disables one `Enabled` lifts.
pub const LIFTS_MAX: usize = 64;
/// The largest encoded account payload.
pub const ACCOUNT_PAYLOAD_BYTES_MAX: usize = 8 * 1024;

/// What an account may do. An account may have several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and writes the unit's clinical documents (personal).
    Staff,
    /// Manages the unit's accounts, and reads and writes like staff (enhetsadministratör).
    UnitAdmin,
    /// Reads the access log (logggranskare); no clinical documents by this role alone.
    LogReviewer,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 3] = [Role::Staff, Role::UnitAdmin, Role::LogReviewer];
    /// The name as typed and shown (`personal`, `admin`, `logggranskare`).
    pub fn name_sv(self) -> &'static str {
        match self {
            Role::Staff => "personal",
            Role::UnitAdmin => "admin",
            Role::LogReviewer => "logggranskare",
        }
    }
}

/// An API token's public id (shown with the token, used to revoke it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TokenId(pub [u8; 8]);

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// One change to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountChange {
    /// The account is made (or, by a later one, made again: its fields are set anew).
    Created {
        /// Name as on documents and receipts.
        name: String,
        /// Title or role as on documents (sjuksköterska, läkare, …).
        title: String,
        /// What it may do (at least one).
        roles: Vec<Role>,
        /// The password's hash: an Argon2id PHC string (never the password).
        password: String,
    },
    /// A new password.
    Password {
        /// The new password's hash (PHC string).
        password: String,
    },
    /// New roles (replace the old).
    Roles {
        /// What it may do (at least one).
        roles: Vec<Role>,
    },
    /// The account may not log in or use its tokens.
    Disabled,
    /// The disables named are lifted.
    Enabled {
        /// The `Disabled` events its author held (all of them).
        lifts: Vec<EventId>,
    },
    /// An API token for scripts.
    TokenIssued {
        /// Its public id.
        token: TokenId,
        /// BLAKE3 of the token's 32 secret bytes (a token is random, so a fast hash is
        /// enough: it cannot be guessed to be checked against).
        hash: [u8; 32],
        /// What it is for.
        label: String,
    },
    /// A token may no longer be used.
    TokenRevoked {
        /// The token.
        token: TokenId,
    },
}

impl AccountChange {
    /// Lower-case name, for logs and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            AccountChange::Created { .. } => "created",
            AccountChange::Password { .. } => "password",
            AccountChange::Roles { .. } => "roles",
            AccountChange::Disabled => "disabled",
            AccountChange::Enabled { .. } => "enabled",
            AccountChange::TokenIssued { .. } => "token_issued",
            AccountChange::TokenRevoked { .. } => "token_revoked",
        }
    }
}

/// The sealed plaintext of an `Account` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPayload {
    /// [`ACCOUNT_FORMAT`].
    pub format: u16,
    /// The account's login.
    pub login: String,
    /// When the change was made, by the author's wall clock (ms since the epoch).
    pub at_ms: u64,
    /// What changed.
    pub change: AccountChange,
}

/// Why an account payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum AccountError {
    /// Does not decode.
    #[error("damaged account payload: {0}")]
    Malformed(CodecError),
    /// A format this node does not read.
    #[error("unsupported account payload format {0}")]
    UnsupportedFormat(u16),
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

/// Whether `login` is a valid login: 1 to [`LOGIN_BYTES_MAX`] bytes of lower-case ASCII
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit.
pub fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= LOGIN_BYTES_MAX
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && login
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

fn invalid(s: impl Into<String>) -> AccountError {
    AccountError::Invalid(s.into())
}

fn text(what: &str, s: &str, max: usize) -> Result<(), AccountError> {
    if s.len() > max || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be at most {max} bytes of printable text"
        )));
    }
    Ok(())
}

fn roles(r: &[Role]) -> Result<(), AccountError> {
    let set: BTreeSet<&Role> = r.iter().collect();
    if r.is_empty() || set.len() != r.len() {
        return Err(invalid("an account has one or more roles, each once"));
    }
    Ok(())
}

impl AccountPayload {
    /// Checks every field against its rule.
    pub fn validate(&self) -> Result<(), AccountError> {
        if self.format != ACCOUNT_FORMAT {
            return Err(AccountError::UnsupportedFormat(self.format));
        }
        if !valid_login(&self.login) {
            return Err(invalid("the login is not valid"));
        }
        match &self.change {
            AccountChange::Created {
                name,
                title,
                roles: r,
                password,
            } => {
                if name.trim().is_empty() {
                    return Err(invalid("the name is empty"));
                }
                text("name", name, ACCOUNT_TEXT_BYTES_MAX)?;
                text("title", title, ACCOUNT_TEXT_BYTES_MAX)?;
                roles(r)?;
                text("password hash", password, PASSWORD_HASH_BYTES_MAX)?;
            }
            AccountChange::Password { password } => {
                text("password hash", password, PASSWORD_HASH_BYTES_MAX)?
            }
            AccountChange::Roles { roles: r } => roles(r)?,
            AccountChange::Enabled { lifts } => {
                if lifts.len() > LIFTS_MAX {
                    return Err(invalid(format!("more than {LIFTS_MAX} disables lifted")));
                }
            }
            AccountChange::TokenIssued { label, .. } => {
                text("token label", label, ACCOUNT_TEXT_BYTES_MAX)?
            }
            AccountChange::Disabled | AccountChange::TokenRevoked { .. } => {}
        }
        Ok(())
    }
    /// The payload's bytes (checked first).
    pub fn encode(&self) -> Result<Vec<u8>, AccountError> {
        self.validate()?;
        codec::encode::<_, ACCOUNT_PAYLOAD_BYTES_MAX>(self).map_err(AccountError::Malformed)
    }
    /// Reads and checks a payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, AccountError> {
        let format: u16 = codec::decode_prefix(bytes).map_err(AccountError::Malformed)?;
        if format != ACCOUNT_FORMAT {
            return Err(AccountError::UnsupportedFormat(format));
        }
        let p: AccountPayload = codec::decode::<_, ACCOUNT_PAYLOAD_BYTES_MAX>(bytes)
            .map_err(AccountError::Malformed)?;
        p.validate()?;
        Ok(p)
    }
}

/// One change as the fold takes it: the event's time and id, and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The event's hybrid time.
    pub hlc: Hlc,
    /// The event.
    pub id: EventId,
    /// What it says.
    pub payload: AccountPayload,
}

/// An API token of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Its public id.
    pub id: TokenId,
    /// BLAKE3 of its secret.
    pub hash: [u8; 32],
    /// What it is for.
    pub label: String,
    /// When it was issued (the issuing event's time).
    pub issued: Hlc,
}

/// An account as the fold leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// Login.
    pub login: String,
    /// Name as on documents.
    pub name: String,
    /// Title as on documents.
    pub title: String,
    /// Roles, in order, each once.
    pub roles: Vec<Role>,
    /// The password's hash (PHC string).
    pub password: String,
    /// Whether it may log in (no unlifted disable).
    pub enabled: bool,
    /// The disables held and not lifted (what an `Enabled` must name).
    pub disables: Vec<EventId>,
    /// Usable tokens, by id.
    pub tokens: Vec<Token>,
    /// When it was last changed.
    pub changed: Hlc,
}

/// The accounts `changes` make, by login; the same for the same set of changes in any
/// order (see the module documentation). A change repeated counts once.
pub fn fold(changes: &[Change]) -> BTreeMap<String, AccountState> {
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by_key(|c| (c.hlc, c.id));
    sorted.dedup_by_key(|c| c.id);
    let mut by_login: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in sorted {
        by_login.entry(&c.payload.login).or_default().push(c);
    }
    let mut out = BTreeMap::new();
    for (login, changes) in by_login {
        if let Some(state) = fold_one(login, &changes) {
            out.insert(login.to_string(), state);
        }
    }
    out
}

fn fold_one(login: &str, changes: &[&Change]) -> Option<AccountState> {
    let mut exists = false;
    let (mut name, mut title, mut password) = (String::new(), String::new(), String::new());
    let mut roles: Vec<Role> = Vec::new();
    let mut disables: BTreeSet<EventId> = BTreeSet::new();
    let mut lifted: BTreeSet<EventId> = BTreeSet::new();
    let mut issued: BTreeMap<TokenId, Token> = BTreeMap::new();
    let mut revoked: BTreeSet<TokenId> = BTreeSet::new();
    let mut changed = Hlc::default();
    for c in changes {
        changed = c.hlc;
        match &c.payload.change {
            AccountChange::Created {
                name: n,
                title: t,
                roles: r,
                password: p,
            } => {
                exists = true;
                name.clone_from(n);
                title.clone_from(t);
                roles.clone_from(r);
                password.clone_from(p);
            }
            AccountChange::Password { password: p } => password.clone_from(p),
            AccountChange::Roles { roles: r } => roles.clone_from(r),
            AccountChange::Disabled => {
                disables.insert(c.id);
            }
            AccountChange::Enabled { lifts } => lifted.extend(lifts.iter().copied()),
            AccountChange::TokenIssued { token, hash, label } => {
                // The first issue of an id counts (ids are random: a second is a replay).
                issued.entry(*token).or_insert_with(|| Token {
                    id: *token,
                    hash: *hash,
                    label: label.clone(),
                    issued: c.hlc,
                });
            }
            AccountChange::TokenRevoked { token } => {
                revoked.insert(*token);
            }
        }
    }
    if !exists {
        return None;
    }
    roles.sort();
    roles.dedup();
    let disables: Vec<EventId> = disables.difference(&lifted).copied().collect();
    Some(AccountState {
        login: login.to_string(),
        name,
        title,
        roles,
        password,
        enabled: disables.is_empty(),
        disables,
        tokens: issued
            .into_values()
            .filter(|t| !revoked.contains(&t.id))
            .collect(),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u8, wall_ms: u64, login: &str, change: AccountChange) -> Change {
        Change {
            hlc: Hlc {
                wall_ms,
                logical: 0,
            },
            id: EventId([n; 32]),
            payload: AccountPayload {
                format: ACCOUNT_FORMAT,
                login: login.into(),
                at_ms: wall_ms,
                change,
            },
        }
    }

    fn created(n: u8, at: u64, login: &str) -> Change {
        change(
            n,
            at,
            login,
            AccountChange::Created {
                name: "Sara Sjöberg".into(),
                title: "sjuksköterska".into(),
                roles: vec![Role::Staff],
                password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            },
        )
    }

    #[test]
    fn a_payload_crosses_its_encoding_and_bad_ones_are_refused() {
        let c = created(1, 10, "sara");
        let bytes = c.payload.encode().expect("encodes");
        assert_eq!(AccountPayload::decode(&bytes).expect("decodes"), c.payload);
        for (login, ok) in [
            ("sara", true),
            ("s.sjoberg-2", true),
            ("Sara", false),
            ("", false),
            (".sara", false),
            ("sa ra", false),
            ("åsa", false),
        ] {
            assert_eq!(valid_login(login), ok, "{login}");
        }
        let mut bad = c.payload.clone();
        bad.change = AccountChange::Roles { roles: vec![] };
        assert!(bad.encode().is_err());
        bad.change = AccountChange::Roles {
            roles: vec![Role::Staff, Role::Staff],
        };
        assert!(bad.encode().is_err());
        bad.change = AccountChange::Created {
            name: " ".into(),
            title: String::new(),
            roles: vec![Role::Staff],
            password: String::new(),
        };
        assert!(bad.encode().is_err());
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(
            AccountPayload::decode(&other),
            Err(AccountError::UnsupportedFormat(2))
        );
        assert!(AccountPayload::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn the_last_change_of_each_field_counts_and_a_disable_needs_its_own_enable() {
        let a = created(1, 10, "sara");
        let pw = change(
            2,
            20,
            "sara",
            AccountChange::Password {
                password: "new".into(),
            },
        );
        let off = change(3, 30, "sara", AccountChange::Disabled);
        let on_blind = change(4, 40, "sara", AccountChange::Enabled { lifts: vec![] });
        let s = &fold(&[a.clone(), pw.clone(), off.clone(), on_blind.clone()])["sara"];
        assert_eq!(s.password, "new");
        assert!(
            !s.enabled,
            "an enable that did not see the disable lifts nothing"
        );
        assert_eq!(s.disables, [off.id]);
        let on = change(
            5,
            50,
            "sara",
            AccountChange::Enabled {
                lifts: vec![off.id],
            },
        );
        assert!(fold(&[a.clone(), off.clone(), on.clone()])["sara"].enabled);
        // A password change after the disable does not enable.
        let pw_late = change(
            6,
            60,
            "sara",
            AccountChange::Password {
                password: "later".into(),
            },
        );
        assert!(!fold(&[a.clone(), off.clone(), pw_late])["sara"].enabled);
        // Nothing exists without Created.
        assert!(fold(&[pw, off]).is_empty());
    }

    #[test]
    fn tokens_are_usable_from_issue_to_revocation_in_any_order() {
        let a = created(1, 10, "sara");
        let t = TokenId([7; 8]);
        let issue = change(
            2,
            20,
            "sara",
            AccountChange::TokenIssued {
                token: t,
                hash: [9; 32],
                label: "skript".into(),
            },
        );
        let revoke = change(3, 5, "sara", AccountChange::TokenRevoked { token: t });
        assert_eq!(fold(&[a.clone(), issue.clone()])["sara"].tokens.len(), 1);
        assert!(fold(&[a, issue, revoke])["sara"].tokens.is_empty());
    }
}
