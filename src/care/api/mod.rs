//! The care operations staff use: send, inbox, chain, show, acknowledge, plan edits.
//!
//! [`handle`] answers one [`Request`] against a [`CareNode`]: the running daemon (through its
//! local socket, see [`crate::serve::socket`]) or the data directory opened directly when no
//! daemon runs. Requests carry what the person typed, as a form would post it; [`input`]
//! reads every field and each operation checks it against the node (units in the roster,
//! ids in the view, plan heads), once, so every way in refuses the same things with the
//! same Swedish message and changes nothing when it refuses.
//!
//! One operation per module, mini-redis's `cmd/` shape: [`send`](SendRequest) (and
//! `preview`, what a send would do), `inbox`, `show`, `chain`, `ack`, `plan` (show),
//! `plan_edit` (edit and resolve), `directory`, `escalations`, and `install_roster` for IT. What they share: the types in `types` (the
//! node, the error, reply parts), the helpers in the private `common` (finding a typed id in
//! the view, list items, sealing, the audit entry), and [`input`]. Operations never import
//! this module (it imports them). Time and randomness come from the node
//! ([`CareNode::now_ms`], [`CareNode::fill_random`]), never from the system directly.
//!
//! # The request on the socket
//!
//! One JSON object per line, tagged by `op` (`send`, `preview`, `inbox`, `show`, `chain`,
//! `ack`, `plan`, `plan_edit`, `directory`, `escalations`, `install_roster`), with the fields
//! of the variant; a `send`'s (and a `preview`'s) `document` is tagged by `type`
//! ([`DocumentForm`]). For example:
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

use serde::{Deserialize, Serialize};

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
mod types;

pub use ack::Acked;
pub use chain::{ChainView, EpisodeView, Step};
pub use directory::Directory;
pub use escalations::{Escalated, Escalations};
pub use inbox::Inbox;
pub use input::{Person, PlanPatch};
pub use install_roster::RosterInstalled;
pub use plan::{PlanVersion, PlanView, Untrusted};
pub use plan_edit::PlanEditRequest;
pub use send::{DocumentForm, Preview, SendRequest};
pub use show::Shown;
pub use types::{ApiError, CareNode, Item, RecipientState, Sent, UnitRef};

/// One request to the care layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Send a document or message.
    Send(SendRequest),
    /// What a send would do (recipients and where they come from), nothing written: the
    /// sender confirms the suggestion before sending.
    Preview(SendRequest),
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
    /// A roster installed.
    RosterInstalled(RosterInstalled),
}

/// The roster file's bytes as [`Request::InstallRoster`] carries them.
pub fn roster_request(file_bytes: &[u8]) -> Request {
    Request::InstallRoster {
        roster: data_encoding::BASE64.encode(file_bytes),
    }
}

/// Answers one request.
pub fn handle(node: &dyn CareNode, request: Request) -> Result<Reply, ApiError> {
    match request {
        Request::Send(r) => send::send(node, r).map(Reply::Sent),
        Request::Preview(r) => send::preview(node, r).map(Reply::Preview),
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
mod testnode;

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
            Request::Preview(sending(Some(PATIENT), &[], plan_form("Hem"))),
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
