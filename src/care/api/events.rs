//! `events`: the ids and headers of the events this node stores, newest first, bounded.
//!
//! Headers only: who wrote an event (unit and node), when (its timestamp), its class,
//! priority, recipients and document links. The body is never opened, so the list is the
//! same whatever this unit may read, and shows events this node only relays.
//!
//! Not an audit entry: a header holds no patient data. The patient, the episode, the
//! document's kind and its text are inside the sealed body; a document id is random (a
//! plan's first version derives its id from its author and time), so it names no one.
//! Headers are what every relaying node carries in clear and sends on; reading them reads
//! nothing a node of an unrelated unit cannot see. Opening an event (`show`) is audited.

use reservnod_proto::{EventClass, EventId, Hlc, Priority, VerifiedEvent};
use serde::{Deserialize, Serialize};

use super::common::unit_ref;
use super::input;
use super::types::{refused, ApiError, CareNode, UnitRef};
use crate::clock::format_ms_local;
use crate::limits::{EVENTS_LIST_DEFAULT, EVENTS_LIST_MAX, EVENTS_LIST_SCAN_MAX};
use crate::store::Purged;

/// What to list, as typed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    /// Only events of this class (`clinical`, `receipt`, `control`, `roster`).
    #[serde(default)]
    pub class: Option<String>,
    /// At most this many (default [`EVENTS_LIST_DEFAULT`], at most [`EVENTS_LIST_MAX`]).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Only events written at or after this time (Swedish local time, `ÅÅÅÅ-MM-DD[ TT:MM]`).
    #[serde(default)]
    pub since: Option<String>,
}

/// One event's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHeader {
    /// The event id (hex).
    pub event: String,
    /// `clinical`, `receipt`, `control` or `roster`.
    pub class: String,
    /// The author's unit.
    pub unit: UnitRef,
    /// The author node (hex).
    pub node: String,
    /// When it was written: its timestamp's wall time (ms since the epoch).
    pub at_ms: u64,
    /// The same, in Swedish local time.
    pub at: String,
    /// Its whole timestamp, `wall_ms.logical`.
    pub hlc: String,
    /// Urgent.
    pub urgent: bool,
    /// The units it is addressed to.
    pub recipients: Vec<UnitRef>,
    /// The document it is a version of (hex), if any.
    pub doc: Option<String>,
    /// The versions it replaces (hex).
    pub parents: Vec<String>,
    /// `gallrad enligt <reference>` when its body was purged here (the header stays).
    #[serde(default)]
    pub purged: Option<String>,
}

/// The list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<EventHeader>,
    /// Whether older events that match may be left out (the limit was reached, or the
    /// bound on events looked at per request; narrow with `since` or `class`).
    pub more: bool,
}

fn class(typed: &str) -> Result<EventClass, ApiError> {
    let t = typed.trim();
    EventClass::ALL
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(t))
        .ok_or_else(|| {
            refused(format!(
                "'{}' är ingen händelseklass (clinical, receipt, control, roster)",
                input::quote(typed)
            ))
        })
}

fn header(node: &dyn CareNode, v: &VerifiedEvent) -> EventHeader {
    let roster = node.roster();
    let e = v.event();
    EventHeader {
        event: v.id().to_string(),
        class: e.class.name().into(),
        unit: unit_ref(&roster, &e.unit),
        node: e.author.to_string(),
        at_ms: e.hlc.wall_ms,
        at: format_ms_local(e.hlc.wall_ms),
        hlc: e.hlc.to_string(),
        urgent: e.priority == Priority::Urgent,
        recipients: e.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
        doc: e.doc.as_ref().map(|d| d.doc.to_string()),
        parents: e
            .doc
            .iter()
            .flat_map(|d| d.parents.iter().map(|p| p.to_string()))
            .collect(),
        purged: None,
    }
}

/// What a tombstone keeps of a purged event's header (document links went with the body).
fn purged_header(node: &dyn CareNode, id: &EventId, t: &Purged) -> EventHeader {
    let roster = node.roster();
    EventHeader {
        event: id.to_string(),
        class: t.class.name().into(),
        unit: unit_ref(&roster, &t.unit),
        node: t.node.to_string(),
        at_ms: t.hlc.wall_ms,
        at: format_ms_local(t.hlc.wall_ms),
        hlc: t.hlc.to_string(),
        urgent: t.priority == Priority::Urgent,
        recipients: t.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
        doc: None,
        parents: Vec::new(),
        purged: Some(purged_sv(&t.reference)),
    }
}

/// How a purged item is shown.
pub fn purged_sv(reference: &str) -> String {
    format!("gallrad enligt {reference}")
}

pub(super) fn events(node: &dyn CareNode, r: EventsRequest) -> Result<EventList, ApiError> {
    let class = input::given(r.class.as_deref()).map(class).transpose()?;
    let limit = match r.limit {
        None => EVENTS_LIST_DEFAULT,
        Some(0) => return Err(refused("antalet ska vara minst 1")),
        Some(n) => usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(EVENTS_LIST_MAX),
    };
    let since = input::given(r.since.as_deref())
        .map(input::local_time)
        .transpose()?;
    let store = node.store();
    let mut out = Vec::new();
    let mut more = false;
    for (looked, key) in store.iter_by_hlc_newest_first().enumerate() {
        let (hlc, id): (Hlc, _) = key?;
        if since.is_some_and(|s| hlc.wall_ms < s) {
            break;
        }
        if out.len() == limit || looked == EVENTS_LIST_SCAN_MAX {
            more = true;
            break;
        }
        let Some(signed) = store.get(&id)? else {
            if let Some(t) = store.purged(&id)? {
                if class.is_none_or(|c| c == t.class) {
                    out.push(purged_header(node, &id, &t));
                }
            }
            continue;
        };
        // Stored events were verified on the way in; one that no longer verifies is left
        // out here (building the view quarantines it).
        let Ok(v) = signed.verify() else {
            continue;
        };
        if class.is_some_and(|c| v.event().class != c) {
            continue;
        }
        out.push(header(node, &v));
    }
    Ok(EventList { events: out, more })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    fn list(node: &TestNode, r: EventsRequest) -> EventList {
        match node.ask(Request::Events(r)) {
            Ok(Reply::Events(l)) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn headers_newest_first_bounded_by_class_limit_and_time_never_the_body() {
        let (ward, kommun, admission) = admitted();
        ward.set_now(NOW + 60_000);
        let plan = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        );
        ward.set_now(NOW + 120_000);
        let urgent = sent(
            &ward,
            Request::Send(super::super::SendRequest {
                urgent: true,
                ..sending(None, &[Side::Vc], message_form("Ring oss"))
            }),
        );
        let audited = ward.audit_log().len();
        let all = list(&ward, EventsRequest::default());
        let ids: Vec<&str> = all.events.iter().map(|h| h.event.as_str()).collect();
        assert_eq!(ids, [&urgent.event, &plan.event, &admission.event]);
        assert!(!all.more);
        let u = &all.events[0];
        assert_eq!(
            (u.class.as_str(), u.urgent, u.unit.id.clone()),
            ("clinical", true, unit_of(Side::Ward))
        );
        assert_eq!(u.recipients[0].id, unit_of(Side::Vc));
        assert_eq!(u.node, ward.node_key().id().to_string());
        assert_eq!(u.at_ms, NOW + 120_000);
        let p = &all.events[1];
        assert_eq!(p.doc.as_deref(), plan.plan.as_deref());
        assert!(p.parents.is_empty());
        // Nothing from inside the sealed bodies: no patient id in any form, no subject.
        let json = serde_json::to_string(&all).expect("json");
        for secret in [
            "19121212",
            "121212-1212",
            "Ring oss",
            "Höftfraktur",
            "Hem\"",
        ] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        // Headers are no patient data: listing them writes no audit entry.
        assert_eq!(ward.audit_log().len(), audited);

        let one = list(
            &ward,
            EventsRequest {
                limit: Some(1),
                ..EventsRequest::default()
            },
        );
        assert_eq!(one.events.len(), 1);
        assert!(one.more, "older events are left out and it says so");
        let since = list(
            &ward,
            EventsRequest {
                since: Some("2026-11-23 13:01".into()),
                ..EventsRequest::default()
            },
        );
        assert_eq!(since.events.len(), 2, "{since:?}");
        assert!(!since.more);
        assert!(list(
            &ward,
            EventsRequest {
                class: Some("receipt".into()),
                ..EventsRequest::default()
            }
        )
        .events
        .is_empty());
        // A node lists what it stores, read or not: the municipality holds the admission.
        let k = list(&kommun, EventsRequest::default());
        assert_eq!(k.events.len(), 1);
        assert_eq!(k.events[0].event, admission.event);

        for (bad, expect) in [
            (
                EventsRequest {
                    class: Some("brev".into()),
                    ..EventsRequest::default()
                },
                "ingen händelseklass",
            ),
            (
                EventsRequest {
                    limit: Some(0),
                    ..EventsRequest::default()
                },
                "minst 1",
            ),
            (
                EventsRequest {
                    since: Some("igår".into()),
                    ..EventsRequest::default()
                },
                "ingen tidpunkt",
            ),
        ] {
            ward.refuses(Request::Events(bad), expect);
        }
    }
}
