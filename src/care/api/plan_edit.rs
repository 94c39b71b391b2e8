//! `plan edit` and `plan resolve`: a new version of a plan, from the only head or, to
//! resolve a conflict, from a chosen head, replacing every head. Only what is part of the
//! plan counts (its first version's participants, patient and episode; see
//! [`crate::care::view::CareView::plan`]), and the new version goes to the plan's
//! participants, never to a unit taken from a later version.

use reservnod_proto::care::documents::{ClinicalPayload, Document, PlanKind, PAYLOAD_FORMAT};
use reservnod_proto::event::DocRef;
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{
    audited_write, clinical_event, find_event, find_plan, other_units, unit_ref, worded, Links,
};
use super::input::{self, given, PlanPatch};
use super::types::{refused, ApiError, CareNode, Sent};

/// Write a new version of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanEditRequest {
    /// The plan (hex document id, or a unique prefix).
    pub doc: String,
    /// For a conflict: resolve it; the new version replaces every head.
    #[serde(default)]
    pub resolve: bool,
    /// The version whose text the edit starts from (hex event id, or a unique prefix); by
    /// default the only head.
    #[serde(default)]
    pub base: Option<String>,
    /// For a resolution: the heads the person saw side by side (hex ids or unique
    /// prefixes). If the plan's heads are other than these (a version arrived meanwhile),
    /// the resolution is refused, so it never replaces a version nobody saw.
    #[serde(default)]
    pub heads: Option<Vec<String>>,
    /// The changes.
    #[serde(default)]
    pub patch: PlanPatch,
    /// Urgent or not.
    #[serde(default)]
    pub urgent: bool,
}

pub(super) fn plan_edit(
    node: &dyn CareNode,
    caller: &Caller,
    r: PlanEditRequest,
) -> Result<Sent, ApiError> {
    let person = caller.author()?;
    let changes = input::plan_changes(&r.patch)?;
    let _one_at_a_time = node.write_turn();
    let roster = node.roster();
    let own = node.unit_key().unit().clone();
    let (doc, parents, base, first, to) = {
        let view = node.view();
        let doc = find_plan(&view, &r.doc)?;
        let plan = view.plan(&doc);
        let Some(first) = plan.first.cloned() else {
            return Err(refused(format!(
                "planens första version har inte kommit hit än: planen {} kan ändras när den har kommit",
                doc.to_string().get(..12).unwrap_or_default()
            )));
        };
        let state = plan.state;
        if state.heads.is_empty() {
            return Err(refused(format!("planen {doc} har ingen version här")));
        }
        let short = doc.to_string().get(..12).unwrap_or_default().to_string();
        if state.in_conflict() && !r.resolve {
            let what = format!(
                "planen har {} versioner som skrivits samtidigt (konflikt)",
                state.heads.len()
            );
            return Err(refused(worded(
                caller,
                &format!("{what}: visa dem med `reservnod plan show {short}` och lös konflikten med `reservnod plan resolve`"),
                &format!("{what}: lös konflikten med en ny version på patientens sida, där versionerna visas sida vid sida"),
            )));
        }
        if !state.in_conflict() && r.resolve {
            return Err(refused(worded(
                caller,
                "planen har ingen konflikt att lösa: använd `reservnod plan edit`",
                "planen har ingen konflikt att lösa (någon kan redan ha löst den): visa patienten igen",
            )));
        }
        if let Some(seen) = &r.heads {
            // A resolution replaces every head: only the ones the person saw side by side.
            let mut seen_ids = Vec::new();
            for h in seen {
                seen_ids.push(find_event(&view, h)?.id);
            }
            let mut now = state.heads.clone();
            now.sort();
            seen_ids.sort();
            seen_ids.dedup();
            if seen_ids != now {
                return Err(refused(
                    "planen har fått en ny version sedan den visades: titta på versionerna igen innan du skriver den nya",
                ));
            }
        }
        let base_id = match given(r.base.as_deref()) {
            Some(b) => {
                let o = find_event(&view, b)?;
                if !state.heads.contains(&o.id) {
                    return Err(refused(format!(
                        "{} är inte en av planens aktuella versioner",
                        o.id.short()
                    )));
                }
                o.id
            }
            None if state.heads.len() == 1 => state.heads[0],
            None if !state.incomplete.is_empty() => {
                let what = format!(
                    "planen väntar på en version som inte har kommit än, och det är ännu inte känt om de {} aktuella versionerna ersätter varandra",
                    state.heads.len()
                );
                return Err(refused(worded(
                    caller,
                    &format!("{what}: ange med --base vilken den nya texten utgår från (se `reservnod plan show {short}`)"),
                    &format!("{what}: ange vilken version den nya texten utgår från"),
                )));
            }
            None => {
                return Err(refused(worded(
                    caller,
                    "ange med --base vilken av versionerna den nya texten utgår från",
                    "ange vilken av versionerna den nya texten utgår från",
                )))
            }
        };
        // A resolution replaces every head; an edit only the version it was written from
        // (beside a head whose history is still on its way, it claims to replace nothing it
        // has not seen).
        let parents = if r.resolve {
            state.heads.clone()
        } else {
            vec![base_id]
        };
        let base = view
            .get(&base_id)
            .ok_or_else(|| refused("versionen finns inte här"))?
            .clone();
        let to = other_units(&roster, &own, &plan.participants);
        (doc, parents, base, first, to)
    };
    let Document::Plan { kind, content } = &base.payload.document else {
        return Err(refused("versionen är ingen plan"));
    };
    let content = changes.apply(content.clone());
    let kind: PlanKind = *kind;
    let payload = ClinicalPayload {
        format: PAYLOAD_FORMAT,
        patient: first.payload.patient.clone(),
        episode: first.payload.episode,
        written_at_ms: node.now_ms(),
        author: person.name,
        role: person.role,
        consent: base.payload.consent.clone(),
        receipt_required: base.payload.receipt_required,
        phrases: vec![],
        document: Document::Plan { kind, content },
    };
    let (event, _) = clinical_event(
        node,
        &roster,
        &to,
        person.login.clone(),
        r.urgent,
        Links::Version(DocRef { doc, parents }),
        &payload,
    )?;
    let id = event.id();
    let what = if r.resolve {
        "löste konflikt i plan"
    } else {
        "ny version av plan"
    };
    audited_write(
        node,
        caller,
        first.payload.patient.clone(),
        id,
        what,
        vec![event],
    )?;
    Ok(Sent {
        event: id.to_string(),
        kind: payload.document.name_sv().into(),
        to: to.iter().map(|u| unit_ref(&roster, u)).collect(),
        suggested: true,
        episode: payload.episode.map(|e| e.to_string()),
        plan: Some(doc.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;
    use crate::store::AuditAction;

    fn edit(doc: &str, patch: PlanPatch, resolve: bool, base: Option<&str>) -> Request {
        Request::PlanEdit(PlanEditRequest {
            doc: doc.into(),
            resolve,
            base: base.map(str::to_string),
            heads: None,
            patch,
            urgent: false,
        })
    }

    fn goals(g: &str) -> PlanPatch {
        PlanPatch {
            goals: Some(g.into()),
            ..PlanPatch::default()
        }
    }

    fn plan_of(node: &TestNode, doc: &str) -> super::super::PlanView {
        match node.ask(Request::Plan { doc: doc.into() }) {
            Ok(Reply::Plan(p)) => p,
            other => panic!("{other:?}"),
        }
    }

    /// The ward's plan, carried to the municipality: (ward, kommun, plan id, first version).
    fn planned() -> (TestNode, TestNode, String, String) {
        let (ward, kommun, _) = admitted();
        let s = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], plan_form("Hem"))),
        );
        ward.carry_to(&kommun);
        (ward, kommun, s.plan.expect("plan"), s.event)
    }

    #[test]
    fn an_edit_changes_what_is_given_and_keeps_the_rest() {
        let (ward, _kommun, doc, first) = planned();
        ward.set_now(NOW + 60_000);
        let s = match ward.ask_as(
            &local("Planerare"),
            edit(
                &doc[..12],
                PlanPatch {
                    measures: Some(vec!["Trygghetslarm; kommunen; senast 2026-12-01".into()]),
                    follow_up: Some("2027-01-15".into()),
                    ..PlanPatch::default()
                },
                false,
                None,
            ),
        ) {
            Ok(Reply::Sent(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.plan.as_deref(), Some(doc.as_str()));
        assert_eq!(s.to[0].id, unit_of(Side::Kommun), "to the plan's units");
        let p = plan_of(&ward, &doc);
        assert_eq!((p.versions, p.heads.len()), (2, 1));
        let head = &p.heads[0];
        assert_eq!(head.event, s.event);
        assert_eq!(head.replaces, [first]);
        assert_eq!(head.author, "Planerare");
        assert_eq!(head.content.goals, "Hem", "kept");
        assert_eq!(head.content.patient_view, "Vill hem", "kept");
        assert_eq!(head.content.measures.len(), 1);
        assert_eq!(head.content.measures[0].text, "Trygghetslarm");
        assert_eq!(
            head.content.measures[0].by_date.as_deref(),
            Some("2026-12-01")
        );
        assert_eq!(head.content.follow_up.as_deref(), Some("2027-01-15"));
        let log = ward.audit_log();
        let w = log
            .iter()
            .rfind(|e| e.action == AuditAction::Write)
            .expect("write");
        assert_eq!(
            (w.detail.as_str(), w.at_ms),
            ("ny version av plan", NOW + 60_000)
        );
    }

    #[test]
    fn a_conflict_is_refused_until_a_person_resolves_it_from_one_head() {
        let (ward, kommun, doc, first) = planned();
        let a = sent(&ward, edit(&doc, goals("Avdelningens text"), false, None));
        let b = sent(&kommun, edit(&doc, goals("Kommunens text"), false, None));
        ward.carry_to(&kommun);
        kommun.carry_to(&ward);
        let p = plan_of(&ward, &doc);
        assert!(p.conflict);
        let states: Vec<&str> = p.history.iter().map(|v| v.state.as_str()).collect();
        assert_eq!(states, ["ersatt", "konflikt", "konflikt"]);
        ward.refuses(edit(&doc, goals("en tredje"), false, None), "konflikt");
        ward.refuses(edit(&doc, goals("utan bas"), true, None), "--base");
        ward.refuses(
            edit(&doc, goals("från den gamla"), true, Some(&first)),
            "inte en av planens aktuella versioner",
        );
        ward.refuses(edit(&doc, goals("x"), true, Some("zz")), "händelse-id");
        let r = sent(
            &ward,
            edit(&doc, goals("Gemensam text"), true, Some(&b.event[..12])),
        );
        let p = plan_of(&ward, &doc);
        assert!(!p.conflict);
        assert_eq!(p.heads[0].event, r.event);
        let mut replaced = p.heads[0].replaces.clone();
        replaced.sort();
        let mut heads = vec![a.event, b.event];
        heads.sort();
        assert_eq!(replaced, heads, "the resolution replaces both heads");
        assert_eq!(p.heads[0].content.goals, "Gemensam text");
        // The history lists every version, superseded ones too, with who, where and what
        // each replaced (issue 10 point 12).
        let h: Vec<(&str, &str, Vec<String>)> = p
            .history
            .iter()
            .map(|v| (v.event.as_str(), v.state.as_str(), v.replaces.clone()))
            .collect();
        assert_eq!(h.len(), 4, "{h:?}");
        assert_eq!(h[0], (first.as_str(), "ersatt", vec![]));
        let mut conflicting: Vec<&str> = h[1..3].iter().map(|v| v.0).collect();
        conflicting.sort();
        assert_eq!(
            conflicting,
            heads.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(h[1..3]
            .iter()
            .all(|v| v.1 == "ersatt" && v.2 == [first.clone()]));
        assert_eq!((h[3].0, h[3].1), (r.event.as_str(), "gällande"));
        let by_unit: Vec<(&str, &str)> = p
            .history
            .iter()
            .map(|v| (v.unit.id.as_str(), v.author.as_str()))
            .collect();
        let kommun_id = unit_of(Side::Kommun);
        assert!(
            by_unit
                .iter()
                .any(|(u, who)| *u == kommun_id && !who.is_empty()),
            "{by_unit:?}"
        );
        assert_eq!(p.history[0].author, "Sara Sjöberg");
        assert_eq!(p.history[0].replaced_by.len(), 2);
        assert_eq!(p.history[1].replaced_by, std::slice::from_ref(&r.event));
        let log = ward.audit_log();
        let w = log
            .iter()
            .rfind(|e| e.action == AuditAction::Write)
            .expect("write");
        assert_eq!(w.detail, "löste konflikt i plan");
        ward.refuses(
            edit(&doc, goals("x"), true, None),
            "ingen konflikt att lösa",
        );
    }

    /// A screen shows the heads side by side and sends them with the resolution: if they
    /// are no longer the plan's heads, nothing is written. A web caller is told what to do
    /// in the screen's words, the CLI in its flags.
    #[test]
    fn a_resolution_names_the_heads_it_saw_and_a_web_caller_gets_no_cli_flag() {
        let (ward, kommun, doc, _) = planned();
        let a = sent(&ward, edit(&doc, goals("Avdelningens text"), false, None));
        let b = sent(&kommun, edit(&doc, goals("Kommunens text"), false, None));
        ward.carry_to(&kommun);
        kommun.carry_to(&ward);
        let resolve = |heads: Vec<&str>| {
            Request::PlanEdit(PlanEditRequest {
                doc: doc.clone(),
                resolve: true,
                base: Some(a.event.clone()),
                heads: Some(heads.into_iter().map(str::to_string).collect()),
                patch: goals("Gemensam text"),
                urgent: false,
            })
        };
        ward.refuses(
            resolve(vec![&a.event]),
            "har fått en ny version sedan den visades",
        );
        ward.refuses(resolve(vec!["zz"]), "händelse-id");
        let sara = account(Side::Ward, "sara", &[super::super::Role::Staff]);
        let m = ward.refuses_as(
            &sara,
            edit(&doc, goals("utan bas"), true, None),
            "ange vilken av versionerna",
        );
        assert!(!m.contains("--") && !m.contains("reservnod"), "{m}");
        let m = ward.refuses_as(
            &sara,
            edit(&doc, goals("x"), false, None),
            "patientens sida",
        );
        assert!(!m.contains("reservnod"), "{m}");
        // The heads as seen, by unique prefixes, in any order: written.
        let r = sent(&ward, resolve(vec![&b.event[..12], &a.event[..12]]));
        let p = plan_of(&ward, &doc);
        assert!(!p.conflict);
        assert_eq!(p.heads[0].event, r.event);
    }

    #[test]
    fn bad_fields_are_refused_before_anything_is_read_or_written() {
        let (ward, _kommun, doc, _) = planned();
        let bad = |patch: PlanPatch| edit(&doc, patch, false, None);
        ward.refuses(
            bad(PlanPatch {
                follow_up: Some("om en vecka".into()),
                ..PlanPatch::default()
            }),
            "inget datum",
        );
        ward.refuses(
            bad(PlanPatch {
                measures: Some(vec!["; kommunen".into()]),
                ..PlanPatch::default()
            }),
            "saknar text",
        );
        ward.refuses_as(&local(""), bad(goals("x")), "--author");
        ward.refuses(edit("zz", goals("x"), false, None), "plan-id");
        ward.refuses(
            edit("0123456789ab", goals("x"), false, None),
            "ingen plan här",
        );
    }

    #[test]
    fn edits_on_one_node_take_turns_and_another_node_does_not_wait() {
        let (ward, kommun, doc, _) = planned();
        // Concurrent edits on one node never make it conflict with itself.
        std::thread::scope(|s| {
            for i in 0..4 {
                let (ward, doc) = (&ward, &doc);
                s.spawn(move || sent(ward, edit(doc, goals(&format!("text {i}")), false, None)));
            }
        });
        let p = plan_of(&ward, &doc);
        assert!(!p.conflict, "{} heads", p.heads.len());
        assert_eq!(p.versions, 5);
        // The lock is the node's own: while the ward holds its lock, the municipality edits.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let held = ward.write_turn();
            let (kommun, doc) = (&kommun, &doc);
            s.spawn(move || {
                let _ = tx.send(
                    kommun
                        .ask(edit(doc, goals("kommunen"), false, None))
                        .is_ok(),
                );
            });
            let answered = rx.recv_timeout(std::time::Duration::from_secs(30));
            // Released before the assertion, so a failure ends the test instead of hanging it.
            drop(held);
            assert_eq!(
                answered,
                Ok(true),
                "an edit on another node waited for this node's lock"
            );
        });
    }
}
