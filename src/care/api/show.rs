//! `show`: one event, whole, with its thread.

use reservnod_proto::care::documents::{
    ConsentBasis, Document, ExpectedNeeds, PlanContent, Service,
};
use reservnod_proto::{EventId, HsaId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit, find_event, item, recipient_state, sealed_elsewhere, unit_ref};
use super::types::{ApiError, CareNode, Item, RecipientState, UnitRef};
use crate::care::view::{CareView, Opened};
use crate::clock::format_ms_local;
use crate::store::{AuditAction, EscalationMark};

/// One field of a document as staff read it: its Swedish label and its value. The CLI, the
/// web screens and the export all show a document through [`document_fields`], so a field
/// has the same name and form everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The label, Swedish ("Mål", "Läkare", …).
    pub label: String,
    /// The value, as shown.
    pub value: String,
    /// Free text (a message's or a note's): shown as a block of its own, not as a line.
    pub text: bool,
}

fn field(label: &str, value: impl Into<String>) -> Field {
    Field {
        label: label.into(),
        value: value.into(),
        text: false,
    }
}

fn free_text(label: &str, value: &str) -> Field {
    Field {
        text: true,
        ..field(label, value)
    }
}

/// Who is expected to help, as a person says it.
fn needs_sv(n: ExpectedNeeds) -> &'static str {
    match n {
        ExpectedNeeds::Municipality => "kommunen",
        ExpectedNeeds::PrimaryCare => "primärvården",
        ExpectedNeeds::Both => "kommunen och primärvården",
    }
}

/// A service before admission, as a person says it.
fn service_sv(s: Service) -> &'static str {
    match s {
        Service::HomeCare => "hemtjänst",
        Service::HomeNursing => "hemsjukvård",
        Service::NursingHome => "särskilt boende",
    }
}

/// A plan version's fields, in order: goals, each measure, follow-up, participants, the
/// patient's view (the last three only when given).
pub fn plan_fields(c: &PlanContent) -> Vec<Field> {
    let mut out = vec![field("Mål", c.goals.clone())];
    for m in &c.measures {
        let mut s = m.text.clone();
        if !m.responsible.is_empty() {
            s.push_str(&format!("; ansvarig {}", m.responsible));
        }
        if let Some(d) = &m.by_date {
            s.push_str(&format!("; senast {d}"));
        }
        out.push(field("Insats", s));
    }
    if let Some(f) = &c.follow_up {
        out.push(field("Uppföljning", f.clone()));
    }
    if !c.participants.is_empty() {
        out.push(field("Deltagare", c.participants.join(", ")));
    }
    if !c.patient_view.is_empty() {
        out.push(field("Patientens syn", c.patient_view.clone()));
    }
    out
}

/// A document's fields as (Swedish label, value), in the document's order; times in
/// Swedish local time. Optional fields left empty are left out.
pub fn document_fields(d: &Document) -> Vec<Field> {
    let mut out = Vec::new();
    match d {
        Document::AdmissionNotice {
            admitted_at_ms,
            reason,
            expected_needs,
            current_services,
            preliminary_discharge,
            municipality,
        } => {
            out.push(field("Inskriven", format_ms_local(*admitted_at_ms)));
            out.push(field("Orsak", reason.clone()));
            out.push(field(
                "Förväntat behov av insatser från",
                needs_sv(*expected_needs),
            ));
            if !current_services.is_empty() {
                let s: Vec<&str> = current_services.iter().map(|s| service_sv(*s)).collect();
                out.push(field("Insatser före inskrivning", s.join(", ")));
            }
            if let Some(d) = preliminary_discharge {
                out.push(field("Preliminärt utskrivningsdatum", d.clone()));
            }
            if let Some(m) = municipality {
                out.push(field("Kommun", m.to_string()));
            }
        }
        Document::Snapshot(snap) => {
            out.push(field(
                "Källa",
                super::common::snapshot_marker(snap.taken_at_ms),
            ));
            out.push(field("Status", snap.state.name_sv()));
            out.push(field("Inskriven", format_ms_local(snap.admitted_at_ms)));
            if let Some(r) = snap.ready_at_ms {
                out.push(field("Utskrivningsklar", format_ms_local(r)));
            }
            if let Some(m) = snap.municipality_ready_at_ms {
                out.push(field("Kommunklar", format_ms_local(m)));
            }
            if let Some(d) = &snap.preliminary_discharge {
                out.push(field("Preliminärt utskrivningsdatum", d.clone()));
            }
            if !snap.plan_summary.is_empty() {
                out.push(free_text("Planering", &snap.plan_summary));
            }
        }
        Document::DischargeReady { at_ms, physician } => {
            out.push(field("Utskrivningsklar", format_ms_local(*at_ms)));
            out.push(field("Läkare", physician.clone()));
        }
        Document::NoLongerReady { at_ms, reason } => {
            out.push(field(
                "Återtag av utskrivningsklar",
                format_ms_local(*at_ms),
            ));
            out.push(field("Orsak", reason.clone()));
        }
        Document::MunicipalityReady {
            from_ms,
            planned_measures,
        } => {
            out.push(field("Kommunklar från", format_ms_local(*from_ms)));
            out.push(field("Planerade insatser", planned_measures.clone()));
        }
        Document::Discharged { at_ms, destination } => {
            out.push(field("Utskriven", format_ms_local(*at_ms)));
            out.push(field("Till", destination.clone()));
        }
        Document::Plan { content, .. } => out = plan_fields(content),
        Document::PlanNote { plan, text } => {
            // The plan's id as people type it (a unique prefix does).
            let id = plan.to_string();
            out.push(field("Plan", id.get(..12).unwrap_or(&id)));
            out.push(free_text("Anteckning", text));
        }
        Document::CareReport {
            reason_for_admission,
            responsible_physician,
            summary,
            complications,
            current_health,
            risks,
            changes,
            medication,
        } => {
            for (k, v) in [
                ("Orsak till inskrivning", reason_for_admission),
                ("Ansvarig läkare", responsible_physician),
                ("Sammanfattning", summary),
                ("Komplikationer", complications),
                ("Aktuellt hälsotillstånd", current_health),
                ("Riskbedömningar", risks),
                ("Förändringar", changes),
            ] {
                if !v.is_empty() {
                    out.push(field(k, v.clone()));
                }
            }
            for d in medication {
                out.push(field(
                    "Läkemedel",
                    format!(
                        "{} {} {}{}",
                        d.name,
                        d.strength,
                        d.dose,
                        d.change
                            .as_deref()
                            .map(|c| format!(" (ändring: {c})"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        Document::Message {
            subject,
            text,
            answer_by_ms,
            reply_to,
            ..
        } => {
            out.push(field("Ämne", subject.clone()));
            if let Some(r) = reply_to {
                out.push(field("Svar på", r.short()));
            }
            if let Some(a) = answer_by_ms {
                out.push(field("Svar önskas senast", format_ms_local(*a)));
            }
            out.push(free_text("Text", text));
        }
    }
    out
}

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
    /// For an event addressed to this unit: what became of it here (delivered to which
    /// node and when, read by whom, their title and when).
    pub here: Option<RecipientState>,
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
        let own = node.unit_key().unit().clone();
        let here = if o.recipients.contains(&own) {
            let signed = node.store().receipts_signed_for(&o.id)?;
            // Only this unit's accounts are in the view: so only its readers' titles.
            let title_of = |u: &HsaId, login: &str| {
                (u == &own)
                    .then(|| view.account(login))
                    .flatten()
                    .map(|a| a.title)
            };
            Some(recipient_state(
                &signed, &roster, o, &own, &marks, &title_of,
            ))
        } else {
            None
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
            here,
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
