//! Who is asking: established by the way in (the local socket, the CLI on the node's own
//! data directory, a web session or API token), never by a field of the request. Every
//! operation takes the author of what it writes and the login of its audit entry from the
//! [`Caller`] only, and [`Caller::require`] decides, by role, what the caller may do.

pub use reservnod_proto::accounts::Role;
use reservnod_proto::HsaId;
use serde::{Deserialize, Serialize};

use super::input::{self, Person};
use super::types::{not_allowed, ApiError, CareNode};

/// Who asks, and how they came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The person.
    pub actor: Actor,
    /// The client's address (for the access log), when the way in has one (the web layer).
    pub client: Option<String>,
    /// The way in.
    pub via: Via,
}

/// The person behind a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A staff account of this unit that logged in (web session or API token).
    Account(Account),
    /// The node's own Unix account: IT and scripts through the CLI or the local socket,
    /// naming the person at the keyboard with `--author` / `RESERVNOD_AUTHOR`. Only the
    /// node's own user can open the socket or the data directory, so it may do everything.
    Local(Person),
}

/// How a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The CLI on the data directory itself (no daemon running).
    Cli,
    /// The daemon's local socket.
    Socket,
    /// The daemon's HTTP server (UI or JSON API).
    Web,
    /// The node itself, on its own (the paper fallback writing its sheet).
    Node,
}

impl Via {
    /// Lower-case name, for the access log.
    pub fn name(self) -> &'static str {
        match self {
            Via::Cli => "cli",
            Via::Socket => "socket",
            Via::Web => "web",
            Via::Node => "node",
        }
    }
}

/// A staff account that logged in, as the node holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login (inloggningsnamn), unique in the unit.
    pub login: String,
    /// Name as it appears on documents and receipts.
    pub name: String,
    /// Title or role as it appears on documents (sjuksköterska, läkare, …).
    pub title: String,
    /// The unit the account belongs to.
    pub unit: HsaId,
    /// What the account may do.
    pub roles: Vec<Role>,
}

impl Account {
    /// Whether the account has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// What an operation needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Reads or writes patient data: staff or unit admin.
    Clinical,
    /// Manages the unit's accounts: unit admin.
    Accounts,
    /// Declares or ends an outage, signs off the rest of a re-entry list: unit admin.
    Outage,
    /// Reads the access log: log reviewer.
    AccessLog,
    /// Only the node's own Unix account (installing a roster).
    Local,
    /// Any caller of this unit (nothing about patients: the roster's units and phrases).
    Any,
}

impl Caller {
    /// The node's own Unix account, naming `person`.
    pub fn local(person: Person, via: Via) -> Caller {
        Caller {
            actor: Actor::Local(person),
            client: None,
            via,
        }
    }

    /// The node itself, doing what it does on its own (`what`, e.g. the paper fallback):
    /// the access log names it so, with no login.
    pub fn node_itself(what: &str) -> Caller {
        Caller::local(
            Person {
                name: format!("noden själv ({what})"),
                role: String::new(),
                login: None,
            },
            Via::Node,
        )
    }

    /// A logged-in account, from `client`.
    pub fn account(account: Account, client: Option<String>, via: Via) -> Caller {
        Caller {
            actor: Actor::Account(account),
            client,
            via,
        }
    }

    /// The login for the audit log: the account's, or the one the local user gave.
    pub fn login(&self) -> Option<String> {
        match &self.actor {
            Actor::Account(a) => Some(a.login.clone()),
            Actor::Local(p) => input::given(p.login.as_deref()).map(str::to_string),
        }
    }

    /// Who writes: the account as it is named on documents, or the person the local user
    /// named (refused when none was).
    pub fn author(&self) -> Result<Person, ApiError> {
        match &self.actor {
            Actor::Account(a) => Ok(Person {
                name: a.name.clone(),
                role: a.title.clone(),
                login: Some(a.login.clone()),
            }),
            Actor::Local(p) => Ok(input::person(p)?),
        }
    }

    /// Whether the caller may do what `need` says at `node`: an account only at its own
    /// unit's nodes and only with the role for it; the node's own Unix account always.
    pub fn require(&self, node: &dyn CareNode, need: Need) -> Result<(), ApiError> {
        let Actor::Account(a) = &self.actor else {
            return Ok(());
        };
        if &a.unit != node.unit_key().unit() {
            return Err(not_allowed(
                "kontot hör till en annan enhet än den här noden",
            ));
        }
        let allowed = match need {
            Need::Any => true,
            Need::Clinical => a.has(Role::Staff) || a.has(Role::UnitAdmin),
            Need::Accounts | Need::Outage => a.has(Role::UnitAdmin),
            Need::AccessLog => a.has(Role::LogReviewer),
            Need::Local => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(not_allowed(match need {
                Need::Clinical => "kontot har inte behörighet till patientuppgifter",
                Need::Accounts => "bara enhetens administratör kan hantera konton",
                Need::Outage => "bara enhetens administratör kan utlysa eller avsluta en driftstörning och skriva av det som är kvar att efterregistrera",
                Need::AccessLog => "bara en logggranskare kan se loggen",
                Need::Local | Need::Any => "det här görs av IT på noden (kommandoraden)",
            }))
        }
    }
}
