//! The care operations staff use: send, inbox, chain, show, acknowledge, plan edits.
//!
//! [`handle`] answers one [`Request`] against a [`CareNode`]: the running daemon (through its
//! local socket, see [`crate::serve::socket`]) or the data directory opened directly when no
//! daemon runs. Requests carry what the person typed, as a form would post it; [`input`]
//! reads every field and each operation checks it against the node (units in the roster,
//! ids in the view, plan heads), once, so every way in refuses the same things with the
//! same Swedish message and changes nothing when it refuses.
//!
//! One operation per module, mini-redis's `cmd/` shape: [`send`](SendRequest), `inbox`,
//! `show`, `chain`, `ack`, `plan` (show), `plan_edit` (edit and resolve), `directory`,
//! `escalations`, and `install_roster` for IT; what they share (finding a typed id in the view, list items, sealing,
//! the audit entry) is in the private `common`. Time and randomness come from the node
//! ([`CareNode::now_ms`], [`CareNode::fill_random`]), never from the system directly.
//!
//! # The request on the socket
//!
//! One JSON object per line, tagged by `op` (`send`, `inbox`, `show`, `chain`, `ack`,
//! `plan`, `plan_edit`, `directory`, `escalations`, `install_roster`), with the fields of
//! the variant; a
//! `send`'s `document` is tagged by `type` ([`DocumentForm`]). For example:
//!
//! ```json
//! {"op":"send","person":{"name":"Sara Sjöberg","role":"sjuksköterska","login":"sara"},
//!  "patient":"191212121212","to":["SE2321000081-KOM1080"],"urgent":false,
//!  "receipt_required":true,"consent":"samtycke",
//!  "document":{"type":"plan","kind":"sip","content":{"goals":"Hem",
//!   "measures":["Hemtjänst; Karlskrona kommun; senast 2026-12-10"]}}}
//! {"op":"ack","event":"3f2a9c01d4e5","person":{"name":"Kim Karlsson","role":"","login":null}}
//! {"op":"chain","patient":"19121212-1212","login":"kim"}
//! ```
//!
//! The reply is `{"ok":{"reply":KIND,…}}` or `{"error":"one line in Swedish"}`
//! (see [`crate::serve::socket`]).

use std::sync::{Arc, MutexGuard};

use reservnod_proto::{Hlc, NodeKey, Roster, SignedEvent, SignedRoster, UnitSecretKey};
use serde::{Deserialize, Serialize};

use super::view::CareView;
use crate::store::{Store, StoreError};

mod ack;
mod chain;
mod common;
mod directory;
mod escalations;
mod inbox;
pub mod input;
mod install_roster;
mod plan;
mod plan_edit;
mod send;
mod show;
#[cfg(test)]
mod testnode;

pub use ack::Acked;
pub use chain::{ChainView, EpisodeView, Step};
pub use directory::Directory;
pub use escalations::{Escalated, Escalations};
pub use inbox::Inbox;
pub use install_roster::{roster_request, RosterInstalled};
pub use plan::{PlanVersion, PlanView};
pub use plan_edit::{PlanEditRequest, PlanPatch};
pub use send::{DocumentForm, SendRequest};
pub use show::Shown;

/// Why a request was refused. The message is Swedish, for staff.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error("lagringsfel: {0}")]
    Store(StoreError),
}

// By hand, not `#[from]`: the message already says the cause, so it is not also a source.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl From<input::Invalid> for ApiError {
    fn from(e: input::Invalid) -> ApiError {
        ApiError::Refused(e.message().to_string())
    }
}

fn refused(s: impl Into<String>) -> ApiError {
    ApiError::Refused(s.into())
}

/// What the care operations need of a node.
pub trait CareNode: Send + Sync {
    /// The store.
    fn store(&self) -> &Store;
    /// The roster in force.
    fn roster(&self) -> Arc<Roster>;
    /// This node's key.
    fn node_key(&self) -> &NodeKey;
    /// This node's unit key.
    fn unit_key(&self) -> &UnitSecretKey;
    /// Now, in ms since the epoch: the node's wall clock (a test or a simulation injects its
    /// own). Stamps what a person writes, the audit log and "today" for patient ids.
    fn now_ms(&self) -> u64;
    /// Fills `buf` with cryptographically secure random bytes (a test may seed them): for
    /// sealing, new plan ids and new episode ids.
    fn fill_random(&self, buf: &mut [u8]);
    /// A timestamp for an event written now.
    fn tick(&self) -> Hlc;
    /// The opened events of this unit.
    fn view(&self) -> MutexGuard<'_, CareView>;
    /// Held by a plan edit from reading the heads to writing the version: two edits on one
    /// node reading the same head at once would make the node conflict with itself.
    fn plan_edit_lock(&self) -> MutexGuard<'_, ()>;
    /// Verifies, stores (durably), adds to the view and spreads events written here.
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError>;
    /// Calendar days after "ready for discharge" until the municipality pays.
    fn payment_days(&self) -> u32;
    /// Installs a newer roster by the trusted admin and puts it in force; its version.
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError>;
}

/// Who is at the keyboard.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Person {
    /// Name as it appears on documents and receipts (e.g. "Anna Andersson").
    pub name: String,
    /// Role (sjuksköterska, läkare, biståndshandläggare, …).
    #[serde(default)]
    pub role: String,
    /// Login, for the audit log.
    #[serde(default)]
    pub login: Option<String>,
}

/// One request to the care layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Send a document or message.
    Send(SendRequest),
    /// The unit's inbox and what it sent.
    Inbox {
        /// Login, for the audit log.
        #[serde(default)]
        login: Option<String>,
    },
    /// One event, whole.
    Show {
        /// The event (hex, or a unique prefix of at least 8 digits).
        event: String,
        /// Login, for the audit log.
        #[serde(default)]
        login: Option<String>,
    },
    /// A patient's care chain.
    Chain {
        /// The patient as typed.
        patient: String,
        /// Login, for the audit log.
        #[serde(default)]
        login: Option<String>,
    },
    /// Acknowledge (kvittera) an event addressed to this unit.
    Ack {
        /// The event (hex, or a unique prefix).
        event: String,
        /// Who acknowledges.
        person: Person,
    },
    /// A plan's versions.
    Plan {
        /// The plan (hex document id, or a unique prefix).
        doc: String,
        /// Login, for the audit log.
        #[serde(default)]
        login: Option<String>,
    },
    /// Write a new version of a plan.
    PlanEdit(PlanEditRequest),
    /// The roster's units and phrase templates.
    Directory,
    /// Escalated events this unit sent.
    Escalations,
    /// Install a newer roster (`node install-roster` while the node runs).
    InstallRoster {
        /// The roster file's bytes, base64.
        roster: String,
    },
}

/// A unit as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    /// HSA-id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What became of a sent event at one recipient unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The unit.
    pub unit: UnitRef,
    /// "väntar", "levererad" or "läst".
    pub state: String,
    /// When delivered.
    pub delivered_ms: Option<u64>,
    /// When read.
    pub read_ms: Option<u64>,
    /// By whom.
    pub read_by: Option<String>,
    /// When it was escalated as unread, if it was.
    pub escalated_ms: Option<u64>,
}

/// One event in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Event id (hex).
    pub event: String,
    /// Document kind, Swedish.
    pub kind: String,
    /// One line.
    pub title: String,
    /// The patient (canonical form), if any.
    pub patient: Option<String>,
    /// Author unit.
    pub from: UnitRef,
    /// Author name.
    pub author: String,
    /// When it was written (ms since the epoch).
    pub at_ms: u64,
    /// Local time, for people.
    pub at: String,
    /// Urgent.
    pub urgent: bool,
    /// This unit acknowledged it: by whom and when.
    pub read_by: Option<String>,
    /// When this unit acknowledged it.
    pub read_ms: Option<u64>,
    /// Per recipient unit, for events this unit sent.
    pub recipients: Vec<RecipientState>,
    /// Whether the sender asked for a read receipt.
    pub receipt_required: bool,
    /// The plan it is a version of, if any (hex).
    pub plan: Option<String>,
}

/// What was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sent {
    /// The event (hex).
    pub event: String,
    /// Kind, Swedish.
    pub kind: String,
    /// To whom.
    pub to: Vec<UnitRef>,
    /// Whether the recipients came from the roster's routing rules.
    pub suggested: bool,
    /// The episode (hex).
    pub episode: Option<String>,
    /// The plan (hex), for a plan version.
    pub plan: Option<String>,
}

/// One reply. Every variant holds a struct: the tagged JSON form cannot carry a bare list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Sent.
    Sent(Sent),
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
    /// A roster installed.
    RosterInstalled(RosterInstalled),
}

/// Answers one request.
pub fn handle(node: &dyn CareNode, request: Request) -> Result<Reply, ApiError> {
    match request {
        Request::Send(r) => send::send(node, r).map(Reply::Sent),
        Request::Inbox { login } => inbox::inbox(node, login).map(Reply::Inbox),
        Request::Show { event, login } => {
            show::show(node, &event, login).map(|s| Reply::Shown(Box::new(s)))
        }
        Request::Chain { patient, login } => chain::chain(node, &patient, login).map(Reply::Chain),
        Request::Ack { event, person } => ack::ack(node, &event, person).map(Reply::Acked),
        Request::Plan { doc, login } => plan::plan(node, &doc, login).map(Reply::Plan),
        Request::PlanEdit(r) => plan_edit::plan_edit(node, r).map(Reply::Sent),
        Request::Directory => Ok(Reply::Directory(directory::directory(node))),
        Request::Escalations => escalations::escalations(node).map(Reply::Escalations),
        Request::InstallRoster { roster } => {
            install_roster::install_roster(node, &roster).map(Reply::RosterInstalled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testnode::*;
    use super::*;

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
        let mut requests = Vec::new();
        for r in serde_json::Deserializer::from_str(&text).into_iter::<Request>() {
            requests.push(r.expect("a documented request parses"));
        }
        assert_eq!(requests.len(), 3);
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
        let reply = ward.ask(requests[0].clone());
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
            Request::Inbox { login: None },
            Request::Show {
                event: "0011aabb".into(),
                login: Some("kim".into()),
            },
            Request::Chain {
                patient: PATIENT.into(),
                login: None,
            },
            Request::Ack {
                event: "0011aabb".into(),
                person: person("Kim"),
            },
            Request::Plan {
                doc: "0011aabb".into(),
                login: None,
            },
            Request::PlanEdit(PlanEditRequest {
                person: person("Kim"),
                doc: "0011aabb".into(),
                resolve: true,
                base: Some("22334455".into()),
                patch: PlanPatch {
                    follow_up: Some(String::new()),
                    ..PlanPatch::default()
                },
                urgent: true,
            }),
            Request::Directory,
            Request::Escalations,
        ];
        for r in requests {
            let line = serde_json::to_string(&r).expect("json");
            assert!(!line.contains('\n'));
            let back: Request = serde_json::from_str(&line).expect("parses");
            assert_eq!(format!("{back:?}"), format!("{r:?}"), "{line}");
        }
        // Fields a form leaves out take their defaults.
        let r: Request = serde_json::from_str(
            r#"{"op":"send","person":{"name":"Sara"},"receipt_required":true,"consent":"samtycke","document":{"type":"message","subject":"Hej"}}"#,
        )
        .expect("a minimal send");
        assert!(
            matches!(r, Request::Send(s) if s.to.is_empty() && !s.urgent && s.patient.is_none())
        );
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
