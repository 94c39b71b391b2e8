//! `show`: one event, whole, with its thread.

use reservnod_proto::care::documents::{ConsentBasis, Document};
use reservnod_proto::{EventId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit, find_event, item, sealed_elsewhere, unit_ref};
use super::types::{ApiError, CareNode, Item, UnitRef};
use crate::care::view::{CareView, Opened};
use crate::store::{AuditAction, EscalationMark};

/// One event, whole.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shown {
    /// The list line.
    pub item: Item,
    /// The author's role.
    pub role: String,
    /// Episode (hex).
    pub episode: Option<String>,
    /// Why the information may pass.
    pub consent: ConsentBasis,
    /// Phrase templates used.
    pub phrases: Vec<String>,
    /// The document.
    pub document: Document,
    /// Recipient units.
    pub to: Vec<UnitRef>,
    /// The thread: the message this answers and the answers to it, oldest first.
    pub thread: Vec<Item>,
}

pub(super) fn show(node: &dyn CareNode, caller: &Caller, event: &str) -> Result<Shown, ApiError> {
    let roster = node.roster();
    let marks = node.store().escalations()?;
    let (shown, patient, id) = {
        let view = node.view();
        let o = match find_event(&view, event) {
            Ok(o) => o,
            Err(not_here) => return Err(sealed_elsewhere(node.store(), event)?.unwrap_or(not_here)),
        };
        let shown = Shown {
            item: item(node, &roster, o, &marks)?,
            role: o.payload.role.clone(),
            episode: o.payload.episode.map(|e| e.to_string()),
            consent: o.payload.consent.clone(),
            phrases: o.payload.phrases.clone(),
            document: o.payload.document.clone(),
            to: o.recipients.iter().map(|u| unit_ref(&roster, u)).collect(),
            thread: thread(node, &roster, &view, o, &marks)?,
        };
        (shown, o.payload.patient.clone(), o.id)
    };
    audit(
        node,
        caller,
        AuditAction::Read,
        patient,
        Some(id),
        "händelse visad",
    )?;
    Ok(shown)
}

/// The messages of `o`'s thread other than `o`: from its first message on, every answer.
fn thread(
    node: &dyn CareNode,
    roster: &Roster,
    view: &CareView,
    o: &Opened,
    marks: &[EscalationMark],
) -> Result<Vec<Item>, ApiError> {
    let parent = |x: &Opened| match &x.payload.document {
        Document::Message { reply_to, .. } => *reply_to,
        _ => None,
    };
    // Up to the first message (bounded: a thread longer than this is shown from there).
    let mut root = o.id;
    for _ in 0..1000 {
        match view.get(&root).and_then(parent) {
            Some(p) if view.get(&p).is_some() => root = p,
            _ => break,
        }
    }
    let mut answers: std::collections::HashMap<EventId, Vec<EventId>> = Default::default();
    for x in view.all() {
        if let Some(p) = parent(x) {
            answers.entry(p).or_default().push(x.id);
        }
    }
    // Ids are hashes of what names its parent, so the answers form a tree: no id twice.
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() && members.len() < 1000 {
        members.extend(answers.get(&members[i]).into_iter().flatten().copied());
        i += 1;
    }
    let mut items = Vec::new();
    for id in members.iter().filter(|id| **id != o.id) {
        if let Some(x) = view.get(id) {
            items.push(item(node, roster, x, marks)?);
        }
    }
    items.sort_by(|a, b| (a.at_ms, &a.event).cmp(&(b.at_ms, &b.event)));
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request, SendRequest};
    use super::*;

    fn show_of(node: &TestNode, event: &str) -> Shown {
        match node.ask(Request::Show {
            event: event.into(),
        }) {
            Ok(Reply::Shown(s)) => *s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_event_is_shown_whole_with_its_thread_and_the_read_is_audited() {
        let (ward, kommun, _) = admitted();
        let q = sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Kommun],
                message_form("Hemtjänst?"),
            )),
        );
        ward.carry_to(&kommun);
        let a = sent(
            &kommun,
            Request::Send(SendRequest {
                reply_to: Some(q.event.clone()),
                ..sending(None, &[], message_form("Ja"))
            }),
        );
        kommun.carry_to(&ward);
        let s = show_of(&ward, &q.event[..8]);
        assert_eq!(s.item.event, q.event);
        assert_eq!(s.item.title, "fråga: Hemtjänst?");
        assert_eq!(s.role, "sjuksköterska");
        assert_eq!(s.to.len(), 1);
        assert_eq!(s.to[0].id, unit_of(Side::Kommun));
        assert_eq!(s.thread.len(), 1);
        assert_eq!(s.thread[0].event, a.event);
        // From the answer, the question is the thread.
        let s = show_of(&ward, &a.event);
        assert_eq!(s.thread.len(), 1);
        assert_eq!(s.thread[0].event, q.event);
        let last = ward.audit_log().pop().expect("audited");
        assert_eq!(
            (last.action, last.detail.as_str()),
            (AuditAction::Read, "händelse visad")
        );
        assert_eq!(last.event.map(|e| e.to_string()), Some(a.event.clone()));
        assert_eq!(last.patients.len(), 1);
    }

    #[test]
    fn an_event_carried_for_other_units_is_said_to_be_here_and_sealed() {
        let (ward, _, admission) = admitted();
        let vc = TestNode::new(Side::Vc);
        ward.carry_to(&vc);
        for typed in [
            admission.event.clone(),
            admission.event[..12].to_uppercase(),
        ] {
            vc.refuses(
                Request::Show { event: typed },
                "finns här men är förseglad till andra enheter",
            );
        }
        vc.refuses(
            Request::Show {
                event: "00112233".into(),
            },
            "ingen händelse här börjar på 00112233",
        );
    }

    #[test]
    fn an_id_that_names_nothing_is_refused_and_nothing_is_audited() {
        let (ward, _, _) = admitted();
        let show = |event: &str| Request::Show {
            event: event.into(),
        };
        ward.refuses(show("zz"), "händelse-id");
        ward.refuses(show("0011223"), "8 till 64 hexsiffror");
        ward.refuses(show("00112233"), "ingen händelse här börjar på 00112233");
        ward.refuses(show(&"ab".repeat(32)), "finns inte här");
    }
}
