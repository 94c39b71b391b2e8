//! The care operations staff use: send, inbox, chain, show, acknowledge, plan edits.
//!
//! [`handle`] answers one [`Request`] by a [`Caller`] against a [`CareNode`]: the running
//! daemon (through its local socket, see [`crate::serve::socket`], or its web layer) or the
//! data directory opened directly when no daemon runs. Who asks comes from the way in, never
//! from the request: the author of what an operation writes and the login of its audit
//! entry are the caller's ([`Caller::author`], [`Caller::login`]), and [`handle`] checks the
//! caller's roles first ([`Request::need`], [`Caller::require`]). Requests carry what the
//! person typed, as a form would post it; [`input`]
//! reads every field and each operation checks it against the node (units in the roster,
//! ids in the view, plan heads), once, so every way in refuses the same things with the
//! same Swedish message and changes nothing when it refuses.
//!
//! One operation per module, mini-redis's `cmd/` shape: [`send`](SendRequest) (and
//! `preview`, what a send would do), `inbox`, `show`, `chain`, `ack`, `plan` (show),
//! `plan_edit` (edit and resolve), `directory`, `escalations`, `nodes` (the mesh as this
//! node knows it), `events` (headers only), `export`, `print` (the active patients and
//! Utskrift's printouts), `outage` (declare, end, show, the re-entry
//! list, marks and sign-off, and the gate that refuses new documents after an end),
//! `install_roster`, `backup` and `audit_verify` for IT, `snapshot` (the pre-outage snapshot
//! import, for the unit admin or IT), and `audit_search` and
//! `audit_export` for log reviewers. What they share: the types in
//! `types` (the node, the error, reply parts), the helpers in the private `common` (finding
//! a typed id in the view, list items, sealing, the audit entry), and [`input`]. Operations
//! never import this module (it imports them). Time and randomness come from the node
//! ([`CareNode::now_ms`], [`CareNode::fill_random`]), never from the system directly.
//!
//! # The request on the socket
//!
//! One JSON object per line ([`LocalRequest`]): `local`, the person at the keyboard of the
//! node's own Unix account (`name` and `role` as on documents, `login` for the audit log;
//! all optional, a write needs the name), and `request`, tagged by `op` (`send`, `preview`,
//! `inbox`, `inbox_poll`, `show`, `chain`, `ack`, `plan`, `plan_edit`, `directory`, `escalations`,
//! `id_check`, `nodes`, `events`, `install_roster`, `backup`, `audit_search`, `audit_export`, `audit_verify`,
//! `export`, `active_patients`, `print` (with `sheet`: `active` or `patient`),
//! `outage_declare`, `outage_end`, `outage_show`, `reentry`, `reentry_mark`, `reentry_sign_off`,
//! `snapshot_import`), with the fields of the variant; a `send`'s (and a `preview`'s)
//! `document` is tagged by `type` ([`DocumentForm`]). A field that is not one of these is
//! refused. For example:
//!
//! ```json
//! {"local":{"name":"Sara Sjöberg","role":"sjuksköterska","login":"sara"},
//!  "request":{"op":"send","patient":"191212121212","to":["SE2321000081-KOM1080"],
//!   "urgent":false,"receipt_required":true,"consent":"samtycke",
//!   "document":{"type":"plan","kind":"sip","content":{"goals":"Hem",
//!    "measures":["Hemtjänst; Karlskrona kommun; senast 2026-12-10"]}}}}
//! {"local":{"name":"Kim Karlsson"},"request":{"op":"ack","event":"3f2a9c01d4e5"}}
//! {"local":{"login":"kim"},"request":{"op":"chain","patient":"19121212-1212"}}
//! ```
//!
//! The reply is `{"ok":{"reply":KIND,…}}` or `{"error":"one line in Swedish"}`
//! (see [`crate::serve::socket`]).

use serde::{Deserialize, Serialize};

mod ack;
mod audit_export;
mod audit_search;
mod audit_verify;
mod auth;
mod backup;
mod caller;
mod chain;
mod common;
mod directory;
mod escalations;
mod events;
pub mod export;
mod id_check;
mod inbox;
pub mod input;
mod install_roster;
mod nodes;
mod outage;
pub mod password;
mod plan;
mod plan_edit;
mod print;
mod retention;
mod send;
mod show;
mod snapshot;
mod types;
pub mod user;

pub use ack::Acked;
pub use audit_export::{AuditExported, CSV_HEADER};
pub use audit_search::{AuditFound, AuditRow};
pub use audit_verify::{AuditVerified, BrokenLink};
pub use auth::{
    any_can_log_in, audit_session_end, authenticate_password, authenticate_token, standing,
    Standing, LOGIN_REFUSED,
};
pub use caller::{Account, Actor, Caller, Need, Role, Via};
pub use chain::{ChainView, EpisodeView, Step};
pub use common::snapshot_marker;
pub use directory::Directory;
pub use escalations::{Escalated, Escalations};
pub use events::{EventHeader, EventList, EventsRequest};
pub use export::{ExportFormat, ExportRequest, Exported};
pub use id_check::{check_id, IdCheck};
pub use inbox::Inbox;
pub use input::{Person, PlanPatch};
pub use install_roster::RosterInstalled;
pub use nodes::{
    clock_warnings, unreachable_units, ClockWarning, NodesView, PeerNode, UnreachableUnit,
};
pub use outage::{
    outage_banner, outage_in_force, outage_status_line, MarkRow, OutageBanner,
    OutageDeclareRequest, OutageEnd, OutageRow, OutageView, PatientItems, Progress, PurgedItem,
    ReentryItem, ReentryList, ReentryMarkRequest, ReentryMarked, SignOffRow,
};
pub use password::Secret;
pub use plan::{versions_sv, HistoryVersion, PlanVersion, PlanView, Untrusted};
pub use plan_edit::PlanEditRequest;
pub use print::{ActiveChain, ActivePatients, ActivePlan, PrintRequest, Printed, PRINT_CSS};
pub use retention::{purge_status_line, purge_step, purged_on_arrival, purged_record, PurgeStep};
pub use send::{DocumentForm, Preview, SendRequest};
pub use show::{document_fields, plan_fields, Field, Shown};
pub use snapshot::{BadRow, SnapshotImportRequest, SnapshotImported};
pub use types::{
    ApiError, AuditFilter, BackupMade, CareNode, Contact, Item, MeshSeen, RecipientState, Sent,
    UnitRef,
};
pub use user::{
    is_wrong_current_password, AccountView, PasswordSet, TokenCreated, TokenView, UserAddRequest,
    Users, CURRENT_PASSWORD_WRONG,
};

/// A time (ms since the epoch) as Swedish local time, `ÅÅÅÅ-MM-DD TT:MM`, as replies show it.
pub use crate::clock::format_ms_local as local_time;

/// One request to the care layer. Who asks is not part of it: it comes with the request as
/// a [`Caller`], from the way in. A field the request does not have is refused, so a
/// request cannot name its author (`person`, `login`, `author`, …).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Send a document or message.
    Send(SendRequest),
    /// What a send would do (recipients and where they come from), nothing written: the
    /// sender confirms the suggestion before sending.
    Preview(SendRequest),
    /// The unit's inbox and what it sent.
    Inbox {},
    /// The inbox again, as a page's poll asks every few seconds: the same reply, but the
    /// read is logged only when the patients shown changed since this account (from this
    /// client) was last logged reading the inbox, or that was `INBOX_POLL_LOG_INTERVAL`
    /// ago (see `inbox`).
    InboxPoll {},
    /// One event, whole.
    Show {
        /// The event (hex, or a unique prefix of at least 8 digits).
        event: String,
    },
    /// A patient's care chain.
    Chain {
        /// The patient as typed.
        patient: String,
    },
    /// Acknowledge (kvittera) an event addressed to this unit.
    Ack {
        /// The event (hex, or a unique prefix).
        event: String,
    },
    /// A plan's versions.
    Plan {
        /// The plan (hex document id, or a unique prefix).
        doc: String,
    },
    /// Write a new version of a plan.
    PlanEdit(PlanEditRequest),
    /// The roster's units and phrase templates.
    Directory {},
    /// Escalated events this unit sent.
    Escalations {},
    /// What this node knows of the other nodes: last contact, unreachable units, clock
    /// warnings, events still to come (no patient data).
    Nodes {},
    /// Whether a patient or unit identifier is valid, and why not (nothing is written).
    IdCheck {
        /// The identifier as typed.
        id: String,
    },
    /// The ids and headers of stored events, newest first (never a body).
    Events(EventsRequest),
    /// Install a newer roster (`node install-roster` while the node runs).
    InstallRoster {
        /// The roster file's bytes, base64.
        roster: String,
    },
    /// Search the access log (a log reviewer, or IT at the node).
    AuditSearch(AuditFilter),
    /// Export what a search finds as CSV (a log reviewer, or IT at the node).
    AuditExport(AuditFilter),
    /// Write a backup of the data directory (`reservnod backup`).
    Backup {
        /// Include the node's and the unit's secret keys.
        #[serde(default)]
        with_keys: bool,
    },
    /// Check the access log's hash chain (a log reviewer, or IT at the node).
    AuditVerify {},
    /// Export everything this unit can open about a patient (FHIR R4, JSON or HTML).
    Export(ExportRequest),
    /// The unit's care chains still going on (not discharged), one line each.
    ActivePatients {},
    /// A printout (Utskrift): one patient's chain or the active patients, logged as printed.
    Print(PrintRequest),
    /// Make a staff account of this unit (unit admin).
    UserAdd(UserAddRequest),
    /// Set a colleague's password (unit admin). Left out, the node makes one and shows it
    /// once. An account changes its own with `own_passwd`.
    UserPasswd {
        /// The account.
        login: String,
        /// The new password.
        #[serde(default)]
        password: Option<Secret>,
    },
    /// The logged-in account changes its own password, giving the current one.
    OwnPasswd {
        /// The current password.
        current: Secret,
        /// The new password.
        new: Secret,
        /// The new password again.
        repeat: Secret,
    },
    /// Set an account's roles (unit admin).
    UserRoles {
        /// The account.
        login: String,
        /// Roles as typed: `personal`, `admin`, `logggranskare`.
        roles: Vec<String>,
    },
    /// Disable an account on every node of the unit (unit admin).
    UserDisable {
        /// The account.
        login: String,
    },
    /// Enable a disabled account again (unit admin).
    UserEnable {
        /// The account.
        login: String,
    },
    /// The unit's accounts (unit admin).
    UserList {},
    /// Make an API token for an account (unit admin, or the account itself).
    TokenCreate {
        /// The account.
        login: String,
        /// What it is for.
        #[serde(default)]
        label: String,
    },
    /// Revoke an account's API token (unit admin, or the account itself).
    TokenRevoke {
        /// The account.
        login: String,
        /// The token's id (hex, or a unique prefix).
        token: String,
    },
    /// Declare an outage (unit admin).
    OutageDeclare(OutageDeclareRequest),
    /// End the outage in force (unit admin).
    OutageEnd {
        /// A note (optional).
        #[serde(default)]
        note: String,
    },
    /// Where the outages stand (no patient data).
    OutageShow {},
    /// The unit's re-entry list of an outage (the newest when none is named).
    Reentry {
        /// The outage (its id, or a unique prefix).
        #[serde(default)]
        outage: Option<String>,
    },
    /// Mark one re-entry item: entered into LINK, or not needed.
    ReentryMark(ReentryMarkRequest),
    /// Sign off what is left of the unit's re-entry list of an ended outage (unit admin).
    ReentrySignOff {
        /// The outage (its id, or a unique prefix; the newest when none).
        #[serde(default)]
        outage: Option<String>,
        /// Why what is left need not be entered.
        reason: String,
    },
    /// Import the region's pre-outage snapshot of active care chains (unit admin, or IT at
    /// the node).
    SnapshotImport(SnapshotImportRequest),
}

impl Request {
    /// What the caller must be allowed to do for this request.
    pub fn need(&self) -> Need {
        match self {
            Request::Directory {}
            | Request::IdCheck { .. }
            | Request::Nodes {}
            | Request::OutageShow {} => Need::Any,
            Request::OutageDeclare(_)
            | Request::OutageEnd { .. }
            | Request::ReentrySignOff { .. } => Need::Outage,
            Request::InstallRoster { .. } | Request::Backup { .. } => Need::Local,
            Request::UserAdd(_)
            | Request::UserRoles { .. }
            | Request::UserDisable { .. }
            | Request::UserEnable { .. }
            | Request::UserList {}
            | Request::SnapshotImport(_) => Need::Accounts,
            // The operation lets the unit admin or the account itself (`user_passwd` sends an
            // account asking for its own to `own_passwd`, then needs the unit admin).
            Request::UserPasswd { .. }
            | Request::OwnPasswd { .. }
            | Request::TokenCreate { .. }
            | Request::TokenRevoke { .. } => Need::Any,
            Request::Send(_)
            | Request::Preview(_)
            | Request::Inbox {}
            | Request::InboxPoll {}
            | Request::Show { .. }
            | Request::Chain { .. }
            | Request::Ack { .. }
            | Request::Plan { .. }
            | Request::PlanEdit(_)
            | Request::Escalations {}
            | Request::Events(_)
            | Request::Export(_)
            | Request::ActivePatients {}
            | Request::Print(_)
            | Request::Reentry { .. }
            | Request::ReentryMark(_) => Need::Clinical,
            Request::AuditSearch(_) | Request::AuditExport(_) | Request::AuditVerify {} => {
                Need::AccessLog
            }
        }
    }
}

/// One reply. Every variant holds a struct: the tagged JSON form cannot carry a bare list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Sent.
    Sent(Sent),
    /// What a send would do.
    Preview(Preview),
    /// The inbox.
    Inbox(Inbox),
    /// One event.
    Shown(Box<Shown>),
    /// A chain.
    Chain(ChainView),
    /// Acknowledged.
    Acked(Acked),
    /// A plan.
    Plan(PlanView),
    /// The directory.
    Directory(Directory),
    /// Escalations.
    Escalations(Escalations),
    /// What the node knows of the others.
    Nodes(NodesView),
    /// Event headers.
    Events(EventList),
    /// A roster installed.
    RosterInstalled(RosterInstalled),
    /// A page of the access log.
    AuditFound(AuditFound),
    /// A page of the access log as CSV.
    AuditExported(AuditExported),
    /// A backup written.
    BackupMade(BackupMade),
    /// The access log's chain checked.
    AuditVerified(AuditVerified),
    /// An identifier checked.
    IdChecked(IdCheck),
    /// An account as it is now.
    Account(AccountView),
    /// The unit's accounts.
    Users(Users),
    /// An account made or given a new password by the node: the password, shown once.
    PasswordSet(PasswordSet),
    /// A token made (its secret shown once).
    TokenCreated(TokenCreated),
    /// An export made.
    Exported(Box<Exported>),
    /// The unit's active care chains.
    ActivePatients(ActivePatients),
    /// A printout.
    Printed(Box<Printed>),
    /// Where the outages stand.
    Outage(OutageView),
    /// A unit's re-entry list.
    Reentry(Box<ReentryList>),
    /// A re-entry item marked.
    ReentryMarked(ReentryMarked),
    /// A re-entry list's rest signed off: the unit's progress now.
    ReentrySignedOff(Progress),
    /// A snapshot import, with its bad rows.
    SnapshotImported(SnapshotImported),
}

/// A request from the node's own Unix account (a line on the local socket): the person at
/// the keyboard, as `--author`, `--role` and the login name, and the request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRequest {
    /// Who is at the keyboard.
    #[serde(default)]
    pub local: Person,
    /// The request.
    pub request: Request,
}

impl LocalRequest {
    /// The caller (the node's own account, naming the person) coming in `via`, and the
    /// request.
    pub fn into_parts(self, via: Via) -> (Caller, Request) {
        (Caller::local(self.local, via), self.request)
    }
}

/// The roster file's bytes as [`Request::InstallRoster`] carries them.
pub fn roster_request(file_bytes: &[u8]) -> Request {
    Request::InstallRoster {
        roster: data_encoding::BASE64.encode(file_bytes),
    }
}

/// Answers one request by `caller`, once the caller may make it ([`Caller::require`]).
pub fn handle(node: &dyn CareNode, caller: &Caller, request: Request) -> Result<Reply, ApiError> {
    caller.require(node, request.need())?;
    // After an outage's end the node takes no new clinical documents (issue 13 §1): one
    // check, here, for every way in.
    match &request {
        Request::Send(r) | Request::Preview(r) => outage::may_write(node, r.reply_to.as_deref())?,
        Request::PlanEdit(_) => outage::may_write(node, None)?,
        _ => {}
    }
    match request {
        Request::Send(r) => send::send(node, caller, r).map(Reply::Sent),
        Request::Preview(r) => send::preview(node, caller, r).map(Reply::Preview),
        Request::Inbox {} => inbox::inbox(node, caller).map(Reply::Inbox),
        Request::InboxPoll {} => inbox::poll(node, caller).map(Reply::Inbox),
        Request::Show { event } => {
            show::show(node, caller, &event).map(|s| Reply::Shown(Box::new(s)))
        }
        Request::Chain { patient } => chain::chain(node, caller, &patient).map(Reply::Chain),
        Request::Ack { event } => ack::ack(node, caller, &event).map(Reply::Acked),
        Request::Plan { doc } => plan::plan(node, caller, &doc).map(Reply::Plan),
        Request::PlanEdit(r) => plan_edit::plan_edit(node, caller, r).map(Reply::Sent),
        Request::Directory {} => Ok(Reply::Directory(directory::directory(node))),
        Request::Escalations {} => escalations::escalations(node).map(Reply::Escalations),
        Request::Nodes {} => Ok(Reply::Nodes(nodes::nodes(node))),
        Request::IdCheck { id } => Ok(Reply::IdChecked(id_check::id_check(node, &id))),
        Request::Events(r) => events::events(node, r).map(Reply::Events),
        Request::InstallRoster { roster } => {
            install_roster::install_roster(node, caller, &roster).map(Reply::RosterInstalled)
        }
        Request::AuditSearch(f) => {
            audit_search::audit_search(node, caller, &f).map(Reply::AuditFound)
        }
        Request::AuditExport(f) => {
            audit_export::audit_export(node, caller, &f).map(Reply::AuditExported)
        }
        Request::Backup { with_keys } => {
            backup::backup(node, caller, with_keys).map(Reply::BackupMade)
        }
        Request::AuditVerify {} => {
            audit_verify::audit_verify(node, caller).map(Reply::AuditVerified)
        }
        Request::Export(r) => {
            export::export(node, caller, &r).map(|x| Reply::Exported(Box::new(x)))
        }
        Request::ActivePatients {} => {
            print::active_patients(node, caller).map(Reply::ActivePatients)
        }
        Request::Print(r) => print::print(node, caller, &r).map(|x| Reply::Printed(Box::new(x))),
        Request::UserAdd(r) => user::add(node, caller, r).map(password_reply),
        Request::UserPasswd { login, password } => {
            user::passwd(node, caller, &login, password).map(password_reply)
        }
        Request::OwnPasswd {
            current,
            new,
            repeat,
        } => user::own_passwd(node, caller, &current, &new, &repeat).map(Reply::Account),
        Request::UserRoles { login, roles } => {
            user::set_roles(node, caller, &login, &roles).map(Reply::Account)
        }
        Request::UserDisable { login } => user::disable(node, caller, &login).map(Reply::Account),
        Request::UserEnable { login } => user::enable(node, caller, &login).map(Reply::Account),
        Request::UserList {} => Ok(Reply::Users(user::list(node))),
        Request::TokenCreate { login, label } => {
            user::token_create(node, caller, &login, &label).map(Reply::TokenCreated)
        }
        Request::TokenRevoke { login, token } => {
            user::token_revoke(node, caller, &login, &token).map(Reply::Account)
        }
        Request::OutageDeclare(r) => outage::declare(node, caller, &r).map(Reply::Outage),
        Request::OutageEnd { note } => outage::end(node, caller, &note).map(Reply::Outage),
        Request::OutageShow {} => Ok(Reply::Outage(outage::show(node))),
        Request::Reentry { outage } => {
            outage::list(node, caller, outage.as_deref()).map(|l| Reply::Reentry(Box::new(l)))
        }
        Request::ReentryMark(r) => outage::mark(node, caller, &r).map(Reply::ReentryMarked),
        Request::ReentrySignOff { outage, reason } => {
            outage::sign_off(node, caller, outage.as_deref(), &reason).map(Reply::ReentrySignedOff)
        }
        Request::SnapshotImport(r) => {
            snapshot::snapshot_import(node, caller, r).map(Reply::SnapshotImported)
        }
    }
}

/// The account, with the password when the node made it (shown once).
fn password_reply((account, made): user::Changed) -> Reply {
    match made {
        Some(password) => Reply::PasswordSet(PasswordSet { account, password }),
        None => Reply::Account(account),
    }
}

#[cfg(test)]
mod testnode;

#[cfg(test)]
mod tests {
    use super::testnode::*;
    use super::*;
    use crate::store::AuditAction;

    /// The request lines in this module's documentation, as the socket reads them.
    #[test]
    fn the_documented_request_lines_parse() {
        let doc = include_str!("mod.rs");
        let start = doc.find("//! ```json").expect("an example") + "//! ```json".len();
        let end = start + doc[start..].find("//! ```").expect("its end");
        let text: String = doc[start..end]
            .lines()
            .map(|l| l.trim_start_matches("//!").trim())
            .collect::<Vec<_>>()
            .join("");
        let mut lines = Vec::new();
        for r in serde_json::Deserializer::from_str(&text).into_iter::<LocalRequest>() {
            lines.push(r.expect("a documented request parses"));
        }
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].local.name, "Sara Sjöberg");
        assert_eq!(lines[2].local.login.as_deref(), Some("kim"));
        let requests: Vec<Request> = lines.iter().map(|l| l.request.clone()).collect();
        let Request::Send(s) = &requests[0] else {
            panic!("{:?}", requests[0])
        };
        assert!(
            matches!(&s.document, DocumentForm::Plan { kind: Some(k), content } if k == "sip" && content.measures.as_ref().is_some_and(|m| m.len() == 1))
        );
        // And it is answered: the form is what the node reads.
        let ward = TestNode::new(Side::Ward);
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
        );
        let (caller, request) = lines[0].clone().into_parts(Via::Socket);
        let reply = ward.ask_as(&caller, request);
        assert!(matches!(reply, Ok(Reply::Sent(_))), "{reply:?}");
        assert!(matches!(requests[2], Request::Chain { .. }));
    }

    #[test]
    fn every_request_crosses_json_unchanged() {
        let requests = vec![
            Request::Send(SendRequest {
                reply_to: Some("0011aabb".into()),
                phrases: vec!["recept".into()],
                ..sending(Some(PATIENT), &[Side::Kommun], message_form("x"))
            }),
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
            Request::Preview(sending(Some(PATIENT), &[], plan_form("Hem"))),
            Request::Inbox {},
            Request::Show {
                event: "0011aabb".into(),
            },
            Request::Chain {
                patient: PATIENT.into(),
            },
            Request::Ack {
                event: "0011aabb".into(),
            },
            Request::Plan {
                doc: "0011aabb".into(),
            },
            Request::PlanEdit(PlanEditRequest {
                doc: "0011aabb".into(),
                resolve: true,
                base: Some("22334455".into()),
                heads: None,
                patch: PlanPatch {
                    follow_up: Some(String::new()),
                    ..PlanPatch::default()
                },
                urgent: true,
            }),
            Request::Directory {},
            Request::Escalations {},
            Request::Nodes {},
            Request::IdCheck {
                id: "19121212-1212".into(),
            },
            Request::Events(EventsRequest {
                class: Some("clinical".into()),
                limit: Some(10),
                since: Some("2026-11-23".into()),
            }),
            Request::Events(EventsRequest::default()),
            Request::ActivePatients {},
            Request::Print(PrintRequest::Active {}),
            Request::Print(PrintRequest::Patient {
                patient: PATIENT.into(),
            }),
        ];
        for r in requests {
            let line = serde_json::to_string(&r).expect("json");
            assert!(!line.contains('\n'));
            let back: Request = serde_json::from_str(&line).expect("parses");
            assert_eq!(format!("{back:?}"), format!("{r:?}"), "{line}");
        }
        // Fields a form leaves out take their defaults.
        let r: Request = serde_json::from_str(
            r#"{"op":"send","receipt_required":true,"consent":"samtycke","document":{"type":"message","subject":"Hej"}}"#,
        )
        .expect("a minimal send");
        assert!(
            matches!(r, Request::Send(s) if s.to.is_empty() && !s.urgent && s.patient.is_none())
        );
    }

    /// Who writes is the caller, never a field of the request: a line naming a person,
    /// a login or an author anywhere but in the socket's `local` is refused whole.
    #[test]
    fn a_request_cannot_name_its_author() {
        for line in [
            r#"{"op":"send","person":{"name":"Mallory"},"receipt_required":true,"consent":"samtycke","document":{"type":"message","subject":"Hej","text":"x"}}"#,
            r#"{"op":"send","author":"Mallory","receipt_required":true,"consent":"samtycke","document":{"type":"message","subject":"Hej","text":"x"}}"#,
            r#"{"op":"send","receipt_required":true,"consent":"samtycke","document":{"type":"message","subject":"Hej","text":"x","author":"Mallory"}}"#,
            r#"{"op":"ack","event":"0011aabb","person":{"name":"Mallory"}}"#,
            r#"{"op":"inbox","login":"mallory"}"#,
            r#"{"op":"chain","patient":"191212121212","login":"mallory"}"#,
            r#"{"op":"show","event":"0011aabb","login":"mallory"}"#,
            r#"{"op":"plan","doc":"0011aabb","login":"mallory"}"#,
            r#"{"op":"plan_edit","doc":"0011aabb","person":{"name":"Mallory"}}"#,
            r#"{"op":"plan_edit","doc":"0011aabb","patch":{"goals":"x","author":"Mallory"}}"#,
            r#"{"op":"directory","login":"mallory"}"#,
            r#"{"op":"escalations","user":"mallory"}"#,
            r#"{"op":"nodes","login":"mallory"}"#,
            r#"{"op":"active_patients","login":"mallory"}"#,
            r#"{"op":"print","sheet":"active","login":"mallory"}"#,
            r#"{"op":"inbox_poll","login":"mallory"}"#,
            r#"{"op":"own_passwd","current":"a","new":"b","repeat":"b","login":"mallory"}"#,
            r#"{"op":"user_passwd","login":"sara","account":"mallory"}"#,
        ] {
            let e = serde_json::from_str::<Request>(line).expect_err(line);
            assert!(e.to_string().contains("unknown field"), "{line}: {e}");
        }
        let e = serde_json::from_str::<LocalRequest>(
            r#"{"local":{"name":"Sara"},"request":{"op":"inbox"},"account":{"login":"admin"}}"#,
        )
        .expect_err("an envelope with more than the person and the request");
        assert!(e.to_string().contains("unknown field"), "{e}");
        // The same requests without those fields are read.
        for line in [
            r#"{"op":"ack","event":"0011aabb"}"#,
            r#"{"op":"inbox"}"#,
            r#"{"op":"inbox_poll"}"#,
            r#"{"op":"directory"}"#,
            r#"{"op":"user_passwd","login":"sara"}"#,
        ] {
            serde_json::from_str::<Request>(line).expect(line);
        }
    }

    /// What a logged-in account writes names it: its name and title in the sealed payload,
    /// its login in the signed header and the audit entry.
    #[test]
    fn what_an_account_writes_names_the_account() {
        let (ward, kommun, admission) = admitted();
        let sara = account(Side::Ward, "sara", &[Role::Staff]);
        let s = match ward.ask_as(
            &sara,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        ) {
            Ok(Reply::Sent(s)) => s,
            other => panic!("{other:?}"),
        };
        {
            let view = ward.view();
            let o = view
                .get(&s.event.parse().expect("event id"))
                .expect("written");
            assert_eq!(o.payload.author, "Konto sara");
            assert_eq!(o.payload.role, "sjuksköterska");
            assert_eq!(o.user.as_deref(), Some("sara"));
        }
        let last = ward.audit_log().pop().expect("audited");
        assert_eq!(last.login.as_deref(), Some("sara"));
        ward.carry_to(&kommun);
        let kim = account(Side::Kommun, "kim", &[Role::Staff]);
        let acked = match kommun.ask_as(
            &kim,
            Request::Ack {
                event: admission.event.clone(),
            },
        ) {
            Ok(Reply::Acked(a)) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(acked.by, "Konto kim");
        assert_eq!(
            kommun.audit_log().pop().expect("audited").login.as_deref(),
            Some("kim")
        );
    }

    /// What each kind of request does with a patient's data, for the access-log walk
    /// below. Exhaustive on purpose: a new operation does not compile until it says.
    fn logged_as(r: &Request) -> Option<AuditAction> {
        match r {
            Request::Send(_)
            | Request::Ack { .. }
            | Request::PlanEdit(_)
            | Request::ReentryMark(_) => Some(AuditAction::Write),
            Request::Reentry { .. } => Some(AuditAction::Read),
            // An outage's declaration, end and sign-off name no patient (written, logged).
            Request::OutageDeclare(_)
            | Request::OutageEnd { .. }
            | Request::OutageShow {}
            | Request::ReentrySignOff { .. } => None,
            Request::Preview(_)
            | Request::Inbox {}
            | Request::InboxPoll {}
            | Request::Show { .. }
            | Request::Chain { .. }
            | Request::Plan { .. }
            | Request::ActivePatients {} => Some(AuditAction::Read),
            Request::Print(_) => Some(AuditAction::Print),
            Request::AuditSearch(_) => Some(AuditAction::LogViewed),
            Request::AuditExport(_) => Some(AuditAction::LogExported),
            Request::Export(_) => Some(AuditAction::Export),
            Request::SnapshotImport(_) => Some(AuditAction::Import),
            // A backup copies the whole store, sealed, for IT: no patient is shown. Event
            // headers hold no patient data (see `events`); accounts are staff, not patients.
            Request::Events(_)
            | Request::UserAdd(_)
            | Request::UserPasswd { .. }
            | Request::OwnPasswd { .. }
            | Request::UserRoles { .. }
            | Request::UserDisable { .. }
            | Request::UserEnable { .. }
            | Request::UserList {}
            | Request::TokenCreate { .. }
            | Request::TokenRevoke { .. } => None,
            Request::Directory {}
            | Request::IdCheck { .. }
            | Request::Escalations {}
            | Request::Nodes {}
            | Request::InstallRoster { .. }
            | Request::Backup { .. }
            | Request::AuditVerify {} => None,
        }
    }

    /// Every read of patient data is in the access log (Patientdatalagen 4 kap.): each
    /// operation is run by a caller allowed to, and one whose reply shows the patient, or
    /// that writes about them, must have appended an entry of its kind naming the patient
    /// and the caller by login, name and client address; one classified as showing nothing
    /// must show nothing.
    #[test]
    fn every_operation_that_shows_or_writes_patient_data_logs_it_with_the_patient() {
        let (ward, kommun, admission) = admitted();
        let plan = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], plan_form("Hem"))),
        );
        ward.carry_to(&kommun);
        let doc = plan.plan.clone().expect("a plan");
        let patient: reservnod_proto::PatientId = PATIENT.parse().expect("test number");
        let staff = staff_at(&kommun, "kim");
        let reviewer = account(Side::Kommun, "lena", &[Role::LogReviewer]);
        let it = local("IT-tekniker");
        let by_patient = || AuditFilter {
            patient: Some("191212121212".into()),
            ..AuditFilter::default()
        };
        let requests = [
            // Before the inbox: the poll's first read by this caller is logged.
            Request::InboxPoll {},
            Request::Inbox {},
            Request::Show {
                event: admission.event.clone(),
            },
            Request::Chain {
                patient: "191212121212".into(),
            },
            Request::Plan { doc: doc.clone() },
            Request::ActivePatients {},
            Request::Print(PrintRequest::Active {}),
            Request::Print(PrintRequest::Patient {
                patient: "191212121212".into(),
            }),
            Request::Preview(sending(Some(PATIENT), &[], message_form("Fråga"))),
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Fråga"))),
            Request::PlanEdit(PlanEditRequest {
                doc,
                resolve: false,
                base: None,
                heads: None,
                patch: PlanPatch {
                    goals: Some("Hem med stöd".into()),
                    ..PlanPatch::default()
                },
                urgent: false,
            }),
            Request::Ack {
                event: admission.event.clone(),
            },
            Request::Directory {},
            Request::Escalations {},
            Request::Nodes {},
            Request::AuditVerify {},
            Request::AuditSearch(by_patient()),
            Request::AuditExport(by_patient()),
            roster_request(
                &signed_roster(kommun.roster().version + 1)
                    .to_file_bytes()
                    .expect("file"),
            ),
        ];
        for request in requests {
            let caller = match request.need() {
                Need::Clinical | Need::Any => &staff,
                Need::AccessLog => &reviewer,
                Need::Local | Need::Accounts | Need::Outage => &it,
            };
            let what = format!("{request:?}");
            let expected = logged_as(&request);
            let before = kommun.audit_log().len();
            let reply = kommun
                .ask_as(caller, request)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let shown = serde_json::to_string(&reply)
                .expect("json")
                .contains(PATIENT);
            let new = kommun.audit_log().split_off(before);
            match expected {
                None => assert!(!shown, "{what} shows the patient but logs no read"),
                Some(action) => {
                    if action == AuditAction::Read {
                        assert!(shown, "{what}: the reply should show the patient");
                    }
                    let entry = new
                        .iter()
                        .find(|e| e.action == action && e.names(&patient))
                        .unwrap_or_else(|| {
                            panic!("{what}: no {action:?} naming the patient in {new:?}")
                        });
                    assert_eq!(entry.login, caller.login(), "{what}");
                    let (name, client) = match &caller.actor {
                        Actor::Account(a) => (Some(a.name.clone()), caller.client.clone()),
                        Actor::Local(p) => (Some(p.name.clone()), None),
                    };
                    assert_eq!((&entry.name, &entry.client), (&name, &client), "{what}");
                    assert_eq!(entry.via.as_deref(), Some(caller.via.name()), "{what}");
                }
            }
        }
    }

    /// Roles decide what an account may do, only at its own unit's nodes; a refusal writes
    /// nothing, not even an audit entry.
    #[test]
    fn roles_decide_what_a_caller_may_do() {
        let ward = TestNode::new(Side::Ward);
        let send = || Request::Send(sending(Some(PATIENT), &[], admission_form()));
        let reviewer = account(Side::Ward, "lena", &[Role::LogReviewer]);
        ward.refuses_as(&reviewer, send(), "behörighet till patientuppgifter");
        ward.refuses_as(&reviewer, Request::Inbox {}, "behörighet");
        let other_unit = account(Side::Kommun, "kim", &[Role::Staff, Role::UnitAdmin]);
        ward.refuses_as(&other_unit, send(), "annan enhet");
        ward.refuses_as(&other_unit, Request::Directory {}, "annan enhet");
        let staff = account(Side::Ward, "sara", &[Role::Staff]);
        ward.refuses_as(&staff, roster_request(b"x"), "IT");
        assert!(matches!(
            ward.ask_as(&staff, Request::Directory {}),
            Ok(Reply::Directory(_))
        ));
        assert!(ward.ask_as(&reviewer, Request::Directory {}).is_ok());
        let admin = account(Side::Ward, "anna", &[Role::UnitAdmin]);
        assert!(matches!(ward.ask_as(&admin, send()), Ok(Reply::Sent(_))));
        assert!(matches!(ward.ask_as(&staff, send()), Ok(Reply::Sent(_))));
        // The checks the access log and account operations use.
        for (caller, need, ok) in [
            (&staff, Need::Accounts, false),
            (&admin, Need::Accounts, true),
            (&reviewer, Need::Accounts, false),
            (&staff, Need::AccessLog, false),
            (&admin, Need::AccessLog, false),
            (&reviewer, Need::AccessLog, true),
            (&other_unit, Need::Accounts, false),
            (&staff, Need::Outage, false),
            (&admin, Need::Outage, true),
            (&reviewer, Need::Outage, false),
            (&other_unit, Need::Outage, false),
            (&local("IT"), Need::Outage, true),
            (&local("IT"), Need::Accounts, true),
            (&local("IT"), Need::AccessLog, true),
            (&local("IT"), Need::Local, true),
        ] {
            assert_eq!(
                caller.require(&ward, need).is_ok(),
                ok,
                "{caller:?} {need:?}"
            );
        }
    }

    /// Time and randomness come only from the node: two nodes with the same keys, clock and
    /// seed write byte for byte the same event for the same request.
    #[test]
    fn the_api_reads_no_clock_or_randomness_of_its_own() {
        let ids = || {
            let ward = TestNode::new(Side::Ward);
            let a = sent(
                &ward,
                Request::Send(sending(Some(PATIENT), &[], admission_form())),
            );
            let p = sent(
                &ward,
                Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
            );
            let log: Vec<u64> = ward.audit_log().iter().map(|e| e.at_ms).collect();
            (a.event, a.episode, p.event, p.plan, log)
        };
        let first = ids();
        assert_eq!(first, ids());
        assert_eq!(first.4, [NOW, NOW]);
    }
}
