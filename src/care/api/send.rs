//! `send`: a document or message, as a person filled it in, sealed to its recipients and
//! written; and `preview`: the same request answered with what `send` would do (above all
//! the recipients it would suggest) and nothing written, so the sender sees the suggestion
//! before it is sent.
//!
//! Suggested recipients never come from who wrote something into the view: an admission
//! notice goes where the roster's routing rule says; a reply to the message it answers; a
//! plan note to its plan's participants (its first version's unit and recipients); any
//! other document to its episode's participants ([`CareView::episode_participants`]).

use reservnod_proto::care::documents::{
    ClinicalPayload, Document, EpisodeId, PlanContent, PAYLOAD_FORMAT,
};
use reservnod_proto::{HsaId, PatientId, Roster};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{
    audit, audited_write, clinical_event, find_episode, find_event, find_plan, other_units,
    patient, recipients, unit_ref, worded, Links,
};
use super::input::{self, given, PlanPatch};
use super::types::{refused, ApiError, CareNode, Sent, UnitRef};
use crate::care::view::CareView;
use crate::store::AuditAction;

/// Send a document or message. Every field is as the person typed it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The patient as typed (any common spelling); only a message may have none.
    #[serde(default)]
    pub patient: Option<String>,
    /// The episode (hex, or a unique prefix); by default the patient's newest, or a new one
    /// for an admission notice.
    #[serde(default)]
    pub episode: Option<String>,
    /// Recipient units as typed (HSA-ids, several per entry separated by commas); empty
    /// means the roster's suggestion.
    #[serde(default)]
    pub to: Vec<String>,
    /// Urgent or not.
    #[serde(default)]
    pub urgent: bool,
    /// Whether a read receipt is asked for.
    pub receipt_required: bool,
    /// Why the information may pass: `samtycke`, `nödsituation`, or why consent is missing.
    pub consent: String,
    /// Phrase templates (frastexter) by key; their texts open a message's text.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// The document.
    pub document: DocumentForm,
    /// For a message: the message it answers (hex, or a unique prefix). The answer goes to
    /// that message's unit and concerns its patient unless told otherwise.
    #[serde(default)]
    pub reply_to: Option<String>,
}

impl SendRequest {
    /// `document`, with the defaults staff get: no patient, recipients from the roster, not
    /// urgent, a read receipt asked for, consent given.
    pub fn new(document: DocumentForm) -> SendRequest {
        SendRequest {
            patient: None,
            episode: None,
            to: Vec::new(),
            urgent: false,
            receipt_required: true,
            consent: "samtycke".into(),
            phrases: Vec::new(),
            document,
            reply_to: None,
        }
    }
}

/// A document as a person filled it in (the fields of `reservnod send KIND` and of the web
/// form). Times are Swedish local time (`ÅÅÅÅ-MM-DD TT:MM`, none given: now), dates
/// `ÅÅÅÅ-MM-DD`; a field left empty is a field not given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DocumentForm {
    /// Inskrivningsmeddelande (starts a new episode).
    Admission {
        /// Why the patient was admitted.
        reason: String,
        /// The patient's municipality (kommunkod), to suggest the receiving unit.
        #[serde(default)]
        municipality: Option<String>,
        /// Who is expected to help: `municipality`, `primary-care` or `both` (Swedish words
        /// too); by default the municipality.
        #[serde(default)]
        needs: Option<String>,
        /// Services before admission: `home-care`, `home-nursing`, `nursing-home`.
        #[serde(default)]
        services: Vec<String>,
        /// Preliminary discharge date.
        #[serde(default)]
        preliminary_discharge: Option<String>,
        /// When the patient was admitted.
        #[serde(default)]
        at: Option<String>,
    },
    /// Utskrivningsklar (starts the payment clock).
    Ready {
        /// Treating physician.
        physician: String,
        /// When.
        #[serde(default)]
        at: Option<String>,
    },
    /// Återtag av utskrivningsklar.
    WithdrawReady {
        /// Why.
        reason: String,
        /// When.
        #[serde(default)]
        at: Option<String>,
    },
    /// Kommunklar.
    MunicipalityReady {
        /// Planned measures.
        measures: String,
        /// From when.
        #[serde(default)]
        from: Option<String>,
    },
    /// Utskriven.
    Discharged {
        /// Where to.
        destination: String,
        /// When.
        #[serde(default)]
        at: Option<String>,
    },
    /// A new plan.
    Plan {
        /// `discharge` (utskrivningsplan, the default), `sip` or `lpt`.
        #[serde(default)]
        kind: Option<String>,
        /// Its content; what is not given is empty.
        #[serde(default)]
        content: PlanPatch,
    },
    /// A note on a plan.
    PlanNote {
        /// The plan (hex, or a unique prefix).
        plan: String,
        /// The note.
        text: String,
    },
    /// Vårdrapport.
    CareReport {
        /// Reason for admission.
        #[serde(default)]
        reason: String,
        /// Responsible physician.
        #[serde(default)]
        physician: String,
        /// Summary of the care.
        summary: String,
        /// Complications.
        #[serde(default)]
        complications: String,
        /// Current health and function.
        #[serde(default)]
        health: String,
        /// Risk assessments.
        #[serde(default)]
        risks: String,
        /// Changes since the planning.
        #[serde(default)]
        changes: String,
        /// Drugs, one per line: `namn; styrka; dos; ändring`.
        #[serde(default)]
        drugs: Vec<String>,
    },
    /// A standalone message.
    Message {
        /// Subject (shown in lists: no patient name).
        subject: String,
        /// The text (may be empty when a phrase template is used).
        #[serde(default)]
        text: String,
        /// `prescription`, `doctor`, `home-visit`, `question` (the default) or `other`.
        #[serde(default)]
        kind: Option<String>,
        /// Answer wanted by.
        #[serde(default)]
        answer_by: Option<String>,
    },
}

impl DocumentForm {
    /// Whether this is a standalone message (which may concern no patient).
    fn is_message(&self) -> bool {
        matches!(self, DocumentForm::Message { .. })
    }
}

/// The document a form describes; a plan note's plan is looked up in `view`.
fn document(form: DocumentForm, now_ms: u64, view: &CareView) -> Result<Document, ApiError> {
    let at = |t: &Option<String>| input::time_or_now(t.as_deref(), now_ms);
    Ok(match form {
        DocumentForm::Admission {
            reason,
            municipality,
            needs,
            services,
            preliminary_discharge,
            at: when,
        } => Document::AdmissionNotice {
            admitted_at_ms: at(&when)?,
            reason,
            expected_needs: input::needs(needs.as_deref())?,
            current_services: input::services(&services)?,
            preliminary_discharge: given(preliminary_discharge.as_deref())
                .map(input::date)
                .transpose()?,
            municipality: given(municipality.as_deref())
                .map(input::municipality)
                .transpose()?,
        },
        DocumentForm::Ready {
            physician,
            at: when,
        } => Document::DischargeReady {
            at_ms: at(&when)?,
            physician,
        },
        DocumentForm::WithdrawReady { reason, at: when } => Document::NoLongerReady {
            at_ms: at(&when)?,
            reason,
        },
        DocumentForm::MunicipalityReady { measures, from } => Document::MunicipalityReady {
            from_ms: at(&from)?,
            planned_measures: measures,
        },
        DocumentForm::Discharged {
            destination,
            at: when,
        } => Document::Discharged {
            at_ms: at(&when)?,
            destination,
        },
        DocumentForm::Plan { kind, content } => Document::Plan {
            kind: input::plan_kind(kind.as_deref())?,
            content: input::plan_changes(&content)?.apply(PlanContent {
                goals: String::new(),
                measures: vec![],
                follow_up: None,
                participants: vec![],
                patient_view: String::new(),
            }),
        },
        DocumentForm::PlanNote { plan, text } => Document::PlanNote {
            plan: find_plan(view, &plan)?,
            text,
        },
        DocumentForm::CareReport {
            reason,
            physician,
            summary,
            complications,
            health,
            risks,
            changes,
            drugs,
        } => Document::CareReport {
            reason_for_admission: reason,
            responsible_physician: physician,
            summary,
            complications,
            current_health: health,
            risks,
            changes,
            medication: drugs
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| input::drug(d))
                .collect::<Result<_, _>>()?,
        },
        DocumentForm::Message {
            subject,
            text,
            kind,
            answer_by,
        } => Document::Message {
            kind: input::message_kind(kind.as_deref())?,
            subject,
            text,
            answer_by_ms: given(answer_by.as_deref())
                .map(input::local_time)
                .transpose()?,
            // Set below from `reply_to`, resolved in the view.
            reply_to: None,
        },
    })
}

/// What a send would write, as `preview` shows it. Nothing is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Preview {
    /// Kind, Swedish.
    pub kind: String,
    /// To whom it would go.
    pub to: Vec<UnitRef>,
    /// Whether the recipients are a suggestion (none were typed).
    pub suggested: bool,
    /// Where the recipients come from, Swedish (e.g. "vårdtillfällets deltagare").
    pub basis: String,
    /// The patient (canonical form), if any.
    pub patient: Option<String>,
    /// The episode (hex); none for a new one (an admission notice starts one when sent).
    pub episode: Option<String>,
}

/// A send, read and checked against the node: everything but the write.
struct Prepared {
    login: Option<String>,
    urgent: bool,
    to: Vec<HsaId>,
    suggested: bool,
    basis: &'static str,
    new_episode: bool,
    payload: ClinicalPayload,
}

pub(super) fn send(node: &dyn CareNode, caller: &Caller, r: SendRequest) -> Result<Sent, ApiError> {
    let p = prepare(node, caller, r)?;
    let roster = node.roster();
    let kind = p.payload.document.name_sv().to_string();
    let links = match p.payload.document {
        Document::Plan { .. } => Links::First,
        _ => Links::None,
    };
    let (event, doc) = clinical_event(
        node,
        &roster,
        &p.to,
        p.login.clone(),
        p.urgent,
        links,
        &p.payload,
    )?;
    let id = event.id();
    audited_write(
        node,
        caller,
        p.payload.patient.clone(),
        id,
        &format!("skickade {kind}"),
        vec![event],
    )?;
    Ok(Sent {
        event: id.to_string(),
        kind,
        to: p.to.iter().map(|u| unit_ref(&roster, u)).collect(),
        suggested: p.suggested,
        episode: p.payload.episode.map(|e| e.to_string()),
        plan: doc.map(|d| d.doc.to_string()),
    })
}

/// What `send` would do with `r`, with the same checks and refusals; writes nothing but
/// the audit entry (the suggestion names the units that take part in the patient's care).
pub(super) fn preview(
    node: &dyn CareNode,
    caller: &Caller,
    r: SendRequest,
) -> Result<Preview, ApiError> {
    let p = prepare(node, caller, r)?;
    let roster = node.roster();
    audit(
        node,
        caller,
        AuditAction::Read,
        p.payload.patient.clone(),
        None,
        "mottagare föreslagna",
    )?;
    Ok(Preview {
        kind: p.payload.document.name_sv().to_string(),
        to: p.to.iter().map(|u| unit_ref(&roster, u)).collect(),
        suggested: p.suggested,
        basis: p.basis.to_string(),
        patient: p
            .payload
            .patient
            .as_ref()
            .map(|x| x.canonical().to_string()),
        episode: (!p.new_episode)
            .then(|| p.payload.episode.map(|e| e.to_string()))
            .flatten(),
    })
}

fn prepare(node: &dyn CareNode, caller: &Caller, r: SendRequest) -> Result<Prepared, ApiError> {
    let person = caller.author()?;
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let now = node.now_ms();
    let mut patient = given(r.patient.as_deref())
        .map(|p| patient(node, p))
        .transpose()?;
    let consent = input::consent(&r.consent)?;
    let phrases = input::phrase_keys(&r.phrases);
    let standalone = r.document.is_message();
    let mut document = {
        let view = node.view();
        document(r.document, now, &view)?
    };
    let mut reply_units = Vec::new();
    // The episode a reply or plan note belongs to: its question's or its plan's.
    let mut inherited_episode: Option<Option<EpisodeId>> = None;
    if let Some(original) = given(r.reply_to.as_deref()) {
        let Document::Message { reply_to, .. } = &mut document else {
            return Err(refused("bara ett meddelande kan vara ett svar"));
        };
        let view = node.view();
        let o = find_event(&view, original)?;
        *reply_to = Some(o.id);
        if patient.is_none() || patient == o.payload.patient {
            patient = o.payload.patient.clone();
            inherited_episode = Some(o.payload.episode);
        }
        reply_units = if o.unit != own {
            vec![o.unit.clone()]
        } else {
            other_units(&roster, &own, &o.recipients)
        };
    }
    // A note belongs to its plan's patient and episode (its first version's), whatever was
    // typed.
    if let Document::PlanNote { plan, .. } = &document {
        let view = node.view();
        let Some(first) = view.plan(plan).first.map(|o| o.payload.clone()) else {
            return Err(refused(format!(
                "planens första version har inte kommit hit än: en anteckning kan skrivas när den har kommit (plan {plan})"
            )));
        };
        if patient.is_some() && patient != first.patient {
            return Err(refused(worded(
                caller,
                "anteckningen gäller en annan patient än planen (utelämna --patient)",
                "anteckningen gäller en annan patient än planen (lämna Patient tomt)",
            )));
        }
        patient = first.patient;
        inherited_episode = Some(first.episode);
    }
    if patient.is_none() && !standalone {
        let what = format!("ett {} måste gälla en patient", document.name_sv());
        return Err(refused(worded(
            caller,
            &format!("{what} (--patient)"),
            &format!("{what}: fyll i Patient"),
        )));
    }
    // Phrase templates open a message's text.
    let mut phrase_texts = Vec::new();
    for key in &phrases {
        let p = roster
            .phrases
            .iter()
            .find(|p| &p.key == key)
            .ok_or_else(|| {
                refused(format!(
                    "frastexten '{}' finns inte i registret",
                    input::quote(key)
                ))
            })?;
        phrase_texts.push(p.text.clone());
    }
    if let Document::Message { text, .. } = &mut document {
        if !phrase_texts.is_empty() {
            phrase_texts.push(std::mem::take(text));
            *text = phrase_texts
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n\n");
        }
        if text.trim().is_empty() {
            return Err(refused(worded(
                caller,
                "meddelandet saknar text (--text eller --phrase)",
                "meddelandet saknar text: skriv en text eller välj en fras",
            )));
        }
    }
    let explicit = recipients(caller, &roster, &own, &r.to)?;
    let new_episode = patient.is_some()
        && given(r.episode.as_deref()).is_none()
        && inherited_episode.is_none()
        && matches!(document, Document::AdmissionNotice { .. });
    let (to, suggested, basis, episode) = {
        let view = node.view();
        let episode = match (&patient, given(r.episode.as_deref())) {
            (Some(_), None) if inherited_episode.is_some() => inherited_episode.flatten(),
            (None, None) => None,
            (None, Some(_)) => return Err(refused("en episod kräver en patient")),
            (Some(p), Some(e)) => Some(find_episode(&view, p, e, node.now_ms())?),
            (Some(_), None) if matches!(document, Document::AdmissionNotice { .. }) => {
                let mut b = [0u8; 16];
                node.fill_random(&mut b);
                Some(EpisodeId(b))
            }
            (Some(p), None) => match view.episodes(p, node.now_ms()).first() {
                Some(e) => Some(*e),
                None if standalone => None,
                None => {
                    let none = format!(
                        "patienten {} har inget vårdtillfälle här: skicka ett inskrivningsmeddelande först",
                        p.canonical()
                    );
                    return Err(refused(worded(
                        caller,
                        &format!("{none}, eller ange --episode"),
                        &none,
                    )));
                }
            },
        };
        let (to, suggested, basis) = if !explicit.is_empty() {
            (explicit, false, "angivna")
        } else if !reply_units.is_empty() {
            (reply_units, true, "den som frågade (svar)")
        } else {
            let (to, basis) = suggest(
                caller,
                &roster,
                &view,
                &own,
                &document,
                patient.as_ref(),
                episode,
            )?;
            (to, true, basis)
        };
        (to, suggested, basis, episode)
    };
    Ok(Prepared {
        login: person.login,
        urgent: r.urgent,
        to,
        suggested,
        basis,
        new_episode,
        payload: ClinicalPayload {
            format: PAYLOAD_FORMAT,
            patient,
            episode,
            written_at_ms: now,
            author: person.name,
            role: person.role,
            consent,
            receipt_required: r.receipt_required,
            phrases,
            document,
        },
    })
}

/// The recipients suggested for a document nobody addressed, and where they come from: for
/// an admission notice the municipal unit of the patient's municipality (what Prator took
/// from the population register); for a plan note the plan's participants; for any other
/// document about an episode the episode's participants. Never a unit only because it
/// wrote something into the episode or the plan.
fn suggest(
    caller: &Caller,
    roster: &Roster,
    view: &CareView,
    own: &HsaId,
    document: &Document,
    patient: Option<&PatientId>,
    episode: Option<EpisodeId>,
) -> Result<(Vec<HsaId>, &'static str), ApiError> {
    if let Document::AdmissionNotice { municipality, .. } = document {
        let Some(m) = municipality else {
            return Err(refused(worded(
                caller,
                "ange mottagare med --to, eller patientens kommun med --municipality så föreslås den kommunala enheten",
                "ange mottagare (HSA-id), eller patientens kommun (kommunkod) så föreslås den kommunala enheten",
            )));
        };
        return match roster.route(m) {
            Some(u) => Ok((
                vec![u.id.clone()],
                "registrets mottagande enhet för kommunen",
            )),
            None => {
                let none = format!("registret har ingen mottagande enhet för kommun {m}");
                Err(refused(worded(
                    caller,
                    &format!("{none}: ange mottagare med --to"),
                    &format!("{none}: ange mottagare (HSA-id)"),
                )))
            }
        };
    }
    if let Document::PlanNote { plan, .. } = document {
        let units = other_units(roster, own, &view.plan(plan).participants);
        if !units.is_empty() {
            return Ok((units, "planens deltagare"));
        }
    }
    if let (Some(p), Some(ep)) = (patient, episode) {
        let units = other_units(roster, own, &view.episode_participants(p, ep, own));
        if !units.is_empty() {
            return Ok((units, "vårdtillfällets deltagare"));
        }
    }
    Err(refused(worded(
        caller,
        "ange mottagare med --to (HSA-id; se `reservnod directory`)",
        "ange mottagare (HSA-id)",
    )))
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;
    use crate::store::AuditAction;
    use reservnod_proto::care::documents::{ConsentBasis, MessageKind};
    use reservnod_proto::roster::PhraseTemplate;

    fn opened(node: &TestNode, event: &str) -> crate::care::view::Opened {
        let view = node.view();
        find_event(&view, event).expect("in the view").clone()
    }

    #[test]
    fn an_admission_goes_where_the_routing_rule_says_with_the_node_s_time() {
        let ward = TestNode::new(Side::Ward);
        let s = sent(
            &ward,
            Request::Send(sending(Some("121212+1212"), &[], admission_form())),
        );
        assert_eq!(s.kind, "inskrivningsmeddelande");
        assert_eq!(s.to.len(), 1);
        assert_eq!(s.to[0].id, unit_of(Side::Kommun));
        assert!(s.suggested);
        assert!(s.episode.is_some(), "an admission starts an episode");
        let o = opened(&ward, &s.event);
        assert_eq!(
            o.payload.written_at_ms, NOW,
            "the node's clock, not the system's"
        );
        assert_eq!(o.hlc.wall_ms, NOW);
        assert_eq!(
            o.payload
                .patient
                .as_ref()
                .map(|p| p.canonical().to_string())
                .as_deref(),
            Some(PATIENT)
        );
        assert_eq!(o.payload.consent, ConsentBasis::Consent);
        // 08:15 Swedish time in November is 07:15 UTC.
        match &o.payload.document {
            Document::AdmissionNotice {
                admitted_at_ms,
                expected_needs,
                municipality,
                ..
            } => {
                assert_eq!(
                    *admitted_at_ms,
                    crate::clock::parse_utc("2026-11-20 07:15").expect("utc")
                );
                assert_eq!(
                    *expected_needs,
                    reservnod_proto::care::documents::ExpectedNeeds::Municipality
                );
                assert_eq!(
                    municipality.as_ref().map(|m| m.to_string()).as_deref(),
                    Some("1080")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ward.event_count(), 1);
        let log = ward.audit_log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, AuditAction::Write);
        assert_eq!(log[0].at_ms, NOW);
        assert_eq!(log[0].login.as_deref(), Some("test"));
        assert_eq!(log[0].detail, "skickade inskrivningsmeddelande");
        assert_eq!(log[0].patients.first(), o.payload.patient.as_ref());
    }

    /// An admitted unit writes an admission notice for someone else's patient dated a month
    /// ahead: it stays evidence, listed after the real episode, and never becomes the
    /// patient's episode for what others write next.
    #[test]
    fn a_notice_dated_in_the_future_never_becomes_the_patients_episode() {
        let (_ward, kommun, admission) = admitted();
        let vc = TestNode::new(Side::Vc);
        vc.set_now(NOW + 30 * 24 * 3_600_000);
        let fake = sent(
            &vc,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Kommun],
                DocumentForm::Admission {
                    reason: "Påhittad".into(),
                    municipality: Some("1080".into()),
                    needs: None,
                    services: vec![],
                    preliminary_discharge: None,
                    at: Some("2026-12-24 08:00".into()),
                },
            )),
        );
        assert_ne!(fake.episode, admission.episode);
        vc.carry_to(&kommun);
        // The municipality's next document about the patient, no episode named.
        let next = sent(
            &kommun,
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Fråga"))),
        );
        assert_eq!(
            next.episode, admission.episode,
            "the real episode, not the future one"
        );
        let chain = match kommun.ask(Request::Chain {
            patient: PATIENT.into(),
        }) {
            Ok(Reply::Chain(c)) => c,
            other => panic!("{other:?}"),
        };
        let order: Vec<Option<String>> = chain
            .episodes
            .iter()
            .map(|e| Some(e.episode.clone()))
            .collect();
        assert_eq!(order, [admission.episode.clone(), fake.episode.clone()]);
        // Once its time has come it is an episode like any other (the notice is then no
        // longer in the future).
        kommun.set_now(NOW + 32 * 24 * 3_600_000);
        let later = sent(
            &kommun,
            Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("Sen"))),
        );
        assert_eq!(later.episode, fake.episode);
    }

    #[test]
    fn later_documents_follow_the_episode_and_accept_its_short_id() {
        let (ward, _kommun, admission) = admitted();
        let episode = admission.episode.expect("episode");
        let ready = sent(
            &ward,
            Request::Send(SendRequest {
                episode: Some(episode[..12].to_uppercase()),
                ..sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::Ready {
                        physician: "Dr Berg".into(),
                        at: None,
                    },
                )
            }),
        );
        assert_eq!(ready.episode.as_deref(), Some(episode.as_str()));
        assert_eq!(
            (ready.to[0].id.as_str(), ready.suggested),
            (unit_of(Side::Kommun).as_str(), true)
        );
        match opened(&ward, &ready.event).payload.document {
            Document::DischargeReady { at_ms, .. } => assert_eq!(at_ms, NOW, "no time given: now"),
            other => panic!("{other:?}"),
        }
        ward.refuses(
            Request::Send(SendRequest {
                episode: Some("0123456789ab".into()),
                ..sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::Ready {
                        physician: "x".into(),
                        at: None,
                    },
                )
            }),
            "inget vårdtillfälle här som börjar på 0123456789ab",
        );
    }

    #[test]
    fn a_plan_reads_its_measures_as_the_help_writes_them() {
        let (ward, _kommun, _) = admitted();
        let s = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        );
        assert!(s.plan.is_some());
        match opened(&ward, &s.event).payload.document {
            Document::Plan { kind, content } => {
                assert_eq!(kind, reservnod_proto::care::documents::PlanKind::Sip);
                assert_eq!(content.goals, "Hem");
                assert_eq!(content.measures.len(), 1);
                assert_eq!(content.measures[0].responsible, "Karlskrona kommun");
                assert_eq!(content.measures[0].by_date.as_deref(), Some("2026-12-10"));
                assert_eq!(content.follow_up, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_goes_back_to_the_asker_and_a_note_to_its_plan() {
        let (ward, kommun, _) = admitted();
        let q = sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[Side::Kommun],
                message_form("Hemtjänst?"),
            )),
        );
        let p = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        );
        ward.carry_to(&kommun);
        let answer = sent(
            &kommun,
            Request::Send(SendRequest {
                reply_to: Some(q.event[..10].into()),
                ..sending(None, &[], message_form("Svar: ja"))
            }),
        );
        assert_eq!(
            answer.to[0].id,
            unit_of(Side::Ward),
            "an answer goes to the asker"
        );
        let o = opened(&kommun, &answer.event);
        assert_eq!(o.payload.patient, opened(&kommun, &q.event).payload.patient);
        assert!(
            matches!(o.payload.document, Document::Message { reply_to: Some(r), .. } if r.to_string() == q.event)
        );
        // A note by the plan's short id: the plan's patient and episode, to the plan's units.
        let plan_id = p.plan.expect("plan");
        let note = sent(
            &kommun,
            Request::Send(sending(
                None,
                &[],
                DocumentForm::PlanNote {
                    plan: plan_id[..12].into(),
                    text: "SIP-möte bokat".into(),
                },
            )),
        );
        assert_eq!(note.to[0].id, unit_of(Side::Ward));
        let o = opened(&kommun, &note.event);
        assert!(
            matches!(&o.payload.document, Document::PlanNote { plan, .. } if plan.to_string() == plan_id)
        );
        assert_eq!(o.payload.episode.map(|e| e.to_string()), note.episode);
        kommun.refuses(
            Request::Send(sending(
                Some(OTHER_PATIENT),
                &[],
                DocumentForm::PlanNote {
                    plan: plan_id[..12].into(),
                    text: "x".into(),
                },
            )),
            "annan patient",
        );
    }

    #[test]
    fn phrase_templates_open_a_message() {
        let ward = TestNode::with_roster(Side::Ward, |r| {
            r.phrases.push(PhraseTemplate {
                key: "recept".into(),
                title: "Receptförnyelse".into(),
                text: "Vi behöver förnyat recept.".into(),
            })
        });
        let s = sent(
            &ward,
            Request::Send(SendRequest {
                phrases: vec![" recept ".into(), "".into()],
                ..sending(
                    None,
                    &[Side::Vc],
                    DocumentForm::Message {
                        subject: "Recept".into(),
                        text: "Alvedon.".into(),
                        kind: Some("recept".into()),
                        answer_by: Some("2026-11-24 10:00".into()),
                    },
                )
            }),
        );
        let o = opened(&ward, &s.event);
        assert_eq!(o.payload.phrases, ["recept"]);
        match o.payload.document {
            Document::Message {
                text,
                kind,
                answer_by_ms,
                ..
            } => {
                assert_eq!(text, "Vi behöver förnyat recept.\n\nAlvedon.");
                assert_eq!(kind, MessageKind::PrescriptionRenewal);
                assert_eq!(
                    answer_by_ms,
                    Some(crate::clock::parse_utc("2026-11-24 09:00").expect("utc"))
                );
            }
            other => panic!("{other:?}"),
        }
        ward.refuses(
            Request::Send(SendRequest {
                phrases: vec!["finnsinte".into()],
                ..sending(None, &[Side::Vc], message_form("x"))
            }),
            "frastexten 'finnsinte' finns inte",
        );
    }

    #[test]
    fn a_care_report_reads_its_drug_lines() {
        let (ward, _kommun, _) = admitted();
        let s = sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[],
                DocumentForm::CareReport {
                    reason: "Höftfraktur".into(),
                    physician: String::new(),
                    summary: "Opererad, mobiliserad".into(),
                    complications: String::new(),
                    health: String::new(),
                    risks: String::new(),
                    changes: String::new(),
                    drugs: vec!["Alvedon; 500 mg; 1x3; ny".into(), " ".into()],
                },
            )),
        );
        match opened(&ward, &s.event).payload.document {
            Document::CareReport { medication, .. } => {
                assert_eq!(medication.len(), 1);
                assert_eq!(medication[0].change.as_deref(), Some("ny"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_refusal_is_one_line_and_changes_nothing() {
        let (ward, _kommun, _) = admitted();
        let ready = || DocumentForm::Ready {
            physician: "x".into(),
            at: None,
        };
        let with = |f: &dyn Fn(&mut SendRequest), base: SendRequest| {
            let mut r = base;
            f(&mut r);
            Request::Send(r)
        };
        let adm = |municipality: Option<&str>,
                   needs: Option<&str>,
                   services: &[&str],
                   preliminary: Option<&str>| DocumentForm::Admission {
            reason: "x".into(),
            municipality: municipality.map(str::to_string),
            needs: needs.map(str::to_string),
            services: services.iter().map(|s| s.to_string()).collect(),
            preliminary_discharge: preliminary.map(str::to_string),
            at: None,
        };
        let msg = || sending(Some(PATIENT), &[Side::Kommun], message_form("a"));
        let cases: Vec<(Request, &str)> = vec![
            (
                Request::Send(sending(
                    Some("19121212-1213"),
                    &[Side::Kommun],
                    message_form("a"),
                )),
                "ogiltigt patient-id '19121212-1213'",
            ),
            (
                with(&|r| r.to = vec!["SE2321000081-FINNSEJ".into()], msg()),
                "finns inte i registret",
            ),
            (
                with(&|r| r.to = vec!["Kommunen".into()], msg()),
                "ogiltigt HSA-id",
            ),
            (
                Request::Send(sending(Some(PATIENT), &[Side::Ward], message_form("a"))),
                "den egna enheten",
            ),
            (
                Request::Send(sending(Some(OTHER_PATIENT), &[Side::Kommun], ready())),
                "inget vårdtillfälle",
            ),
            (
                Request::Send(sending(None, &[Side::Kommun], ready())),
                "måste gälla en patient",
            ),
            (
                with(
                    &|r| r.episode = Some("0123456789abcdef0123456789abcdef".into()),
                    sending(None, &[Side::Kommun], message_form("a")),
                ),
                "kräver en patient",
            ),
            (
                with(
                    &|r| r.episode = Some("zz".into()),
                    sending(Some(PATIENT), &[], ready()),
                ),
                "episod-id",
            ),
            (with(&|r| r.consent = " ".into(), msg()), "grunden"),
            (
                with(&|r| r.reply_to = Some("0011223344".into()), msg()),
                "ingen händelse här börjar på 0011223344",
            ),
            (
                with(
                    &|r| r.reply_to = Some("0011223344".into()),
                    sending(Some(PATIENT), &[], ready()),
                ),
                "bara ett meddelande",
            ),
            (
                Request::Send(sending(Some(PATIENT), &[], adm(None, None, &[], None))),
                "--municipality",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    adm(Some("0180"), None, &[], None),
                )),
                "ingen mottagande enhet för kommun 0180",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    adm(Some("Karlskrona"), None, &[], None),
                )),
                "kommunkod",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    adm(Some("1080"), Some("grannen"), &[], None),
                )),
                "förväntade behov: 'grannen'",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    adm(Some("1080"), None, &["städning"], None),
                )),
                "insats före inskrivningen",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    adm(Some("1080"), None, &[], Some("fredag")),
                )),
                "inget datum",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::Ready {
                        physician: "x".into(),
                        at: Some("igår".into()),
                    },
                )),
                "ingen tidpunkt",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::Plan {
                        kind: Some("vårdplan".into()),
                        content: Default::default(),
                    },
                )),
                "planens slag",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::Plan {
                        kind: None,
                        content: PlanPatch {
                            measures: Some(vec!["x; y; senast 2026-12-32".into()]),
                            ..Default::default()
                        },
                    },
                )),
                "senast ÅÅÅÅ-MM-DD",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::PlanNote {
                        plan: "0123456789ab".into(),
                        text: "x".into(),
                    },
                )),
                "ingen plan här",
            ),
            (
                Request::Send(sending(
                    Some(PATIENT),
                    &[],
                    DocumentForm::CareReport {
                        reason: String::new(),
                        physician: String::new(),
                        summary: "x".into(),
                        complications: String::new(),
                        health: String::new(),
                        risks: String::new(),
                        changes: String::new(),
                        drugs: vec!["; 500 mg".into()],
                    },
                )),
                "saknar namn",
            ),
            (
                Request::Send(sending(
                    None,
                    &[Side::Kommun],
                    DocumentForm::Message {
                        subject: "x".into(),
                        text: " ".into(),
                        kind: None,
                        answer_by: None,
                    },
                )),
                "saknar text",
            ),
            (
                Request::Send(sending(
                    None,
                    &[Side::Kommun],
                    DocumentForm::Message {
                        subject: "x".into(),
                        text: "y".into(),
                        kind: Some("brev".into()),
                        answer_by: None,
                    },
                )),
                "meddelandets slag",
            ),
            (
                Request::Send(sending(None, &[], message_form("utan mottagare"))),
                "ange mottagare med --to",
            ),
        ];
        for (request, expect) in cases {
            ward.refuses(request, expect);
        }
        assert_eq!(ward.audited_writes(), 1, "only the admission was written");
        // A standalone message needs no patient.
        sent(
            &ward,
            Request::Send(sending(None, &[Side::Kommun], message_form("Ring oss"))),
        );
        assert!(matches!(
            ward.ask(Request::Directory {}),
            Ok(Reply::Directory(_))
        ));
    }

    #[test]
    fn a_preview_shows_the_suggestion_and_writes_nothing() {
        let (ward, kommun, admission) = admitted();
        let ready = || {
            sending(
                Some(PATIENT),
                &[],
                DocumentForm::Ready {
                    physician: "Dr Berg".into(),
                    at: None,
                },
            )
        };
        let before = ward.event_count();
        let p = match ward.ask(Request::Preview(ready())) {
            Ok(Reply::Preview(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.kind, "utskrivningsklar");
        assert_eq!(
            p.to.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            [unit_of(Side::Kommun).as_str()]
        );
        assert!(p.suggested);
        assert_eq!(p.basis, "vårdtillfällets deltagare");
        assert_eq!(p.patient.as_deref(), Some(PATIENT));
        assert_eq!(p.episode, admission.episode);
        assert_eq!(ward.event_count(), before, "a preview writes no event");
        let last = ward.audit_log().pop().expect("audited");
        assert_eq!(
            (last.action, last.detail.as_str()),
            (AuditAction::Read, "mottagare föreslagna")
        );
        // The send that follows goes to the same units.
        let s = sent(&ward, Request::Send(ready()));
        assert_eq!(s.to, p.to);
        // An admission's preview names no episode: a new one is made when it is sent.
        match ward.ask(Request::Preview(sending(
            Some(PATIENT),
            &[],
            admission_form(),
        ))) {
            Ok(Reply::Preview(p)) => {
                assert_eq!(p.episode, None);
                assert_eq!(p.basis, "registrets mottagande enhet för kommunen");
            }
            other => panic!("{other:?}"),
        }
        // The municipality, which received the episode, is suggested its author unit.
        match kommun.ask(Request::Preview(sending(
            Some(PATIENT),
            &[],
            DocumentForm::MunicipalityReady {
                measures: "Hemtjänst".into(),
                from: None,
            },
        ))) {
            Ok(Reply::Preview(p)) => assert_eq!(
                p.to.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
                [unit_of(Side::Ward).as_str()]
            ),
            other => panic!("{other:?}"),
        }
        // A preview refuses what a send refuses.
        ward.refuses(
            Request::Preview(sending(None, &[], message_form("utan mottagare"))),
            "ange mottagare med --to",
        );
    }
}
