//! `active_patients` and `print` (Utskrift): the unit's care chains still going on, as data
//! (logged as a Read naming every patient shown), and the printouts, one patient's chain or
//! the active patients' sheet, as HTML for an A4 page (logged as `Print`, utskrivet, naming
//! every patient on it). The web interface shows the printouts with the stylesheet as an
//! asset; the daemon's paper fallback writes the same sheet to a file with it inlined
//! ([`Printed::standalone`]). One renderer: the export's (`export::html`), whose header,
//! stylesheet and page shell the sheet shares.

use reservnod_proto::PatientId;
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::chain::{self, ChainView};
use super::common::{audit_patients, patient, unit_ref};
use super::export::fhir::escape;
use super::export::html;
use super::export::{chain_printout, node_name};
use super::types::{ApiError, CareNode, UnitRef};
use crate::clock::format_ms_local;
use crate::store::AuditAction;

/// One plan of an active chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePlan {
    /// Its kind, Swedish.
    pub kind: String,
    /// How many versions it has.
    pub versions: usize,
    /// Several current versions (written apart, not yet resolved).
    pub conflict: bool,
}

/// One care chain still going on (an episode not discharged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveChain {
    /// The patient (canonical form).
    pub patient: String,
    /// The episode (hex).
    pub episode: String,
    /// Where it stands, Swedish.
    pub state: String,
    /// When the patient was admitted (local time), if the notice is here.
    pub admitted: Option<String>,
    /// Whole days since "utskrivningsklar", while it is in force.
    pub days_since_ready: Option<u32>,
    /// The municipality's payment responsibility, Swedish.
    pub payment: String,
    /// When the municipality pays from, if the clock runs or has run out.
    pub payment_from_ms: Option<u64>,
    /// Ready on a Thursday or Friday with the municipality not ready.
    pub weekend_risk: bool,
    /// Its plans.
    pub plans: Vec<ActivePlan>,
    /// Documents and messages to this unit that it has not acknowledged (of those that ask
    /// for a receipt), the patient's messages outside any episode included.
    pub unacknowledged_here: usize,
    /// What this unit sent that a recipient has not acknowledged yet.
    pub unacknowledged_there: usize,
    /// What is missing, Swedish.
    pub gaps: Vec<String>,
}

/// The unit's active care chains.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActivePatients {
    /// The unit.
    pub unit: UnitRef,
    /// This node as printouts name it.
    pub node: String,
    /// As of (the node's time).
    pub at_ms: u64,
    /// The same, local time.
    pub at: String,
    /// The chains: the longest ready first, then the rest by patient.
    pub chains: Vec<ActiveChain>,
}

/// What to print.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sheet", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrintRequest {
    /// The unit's active patients, one line each.
    Active {},
    /// One patient's chain: steps, plans with their versions, every document and message.
    Patient {
        /// The patient as typed.
        patient: String,
    },
}

/// A printout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Printed {
    /// The page's title.
    pub title: String,
    /// The patients on it (canonical form).
    pub patients: Vec<String>,
    /// When it was printed.
    pub printed_at_ms: u64,
    /// The page's content as HTML, every text escaped: what goes in its main landmark.
    pub body: String,
}

impl Printed {
    /// The printout as a page of its own, the stylesheet inlined (a file opened from disk
    /// has no interface to fetch it from).
    pub fn standalone(&self) -> String {
        html::document(&self.title, &self.body)
    }
}

/// The print stylesheet (A4, page numbers, what is shown on screen only).
pub const PRINT_CSS: &str = html::STYLE;

/// The unit's active chains, not logged (the operations below log what they show).
fn collect(node: &dyn CareNode) -> Result<(ActivePatients, Vec<PatientId>), ApiError> {
    let own = node.unit_key().unit().clone();
    let patients: Vec<PatientId> = node.view().patients().cloned().collect();
    let mut chains = Vec::new();
    let mut shown = Vec::new();
    for p in patients {
        let c = match chain::build(node, &p) {
            Ok(c) => c,
            // Gone from the view since the list was taken.
            Err(ApiError::Refused(_)) => continue,
            Err(e) => return Err(e),
        };
        let before = chains.len();
        active_of(&c, &own.to_string(), &mut chains);
        if chains.len() > before {
            shown.push(p);
        }
    }
    chains.sort_by(|a, b| {
        b.days_since_ready
            .cmp(&a.days_since_ready)
            .then_with(|| a.patient.cmp(&b.patient))
    });
    let now = node.now_ms();
    Ok((
        ActivePatients {
            unit: unit_ref(&node.roster(), &own),
            node: node_name(node),
            at_ms: now,
            at: format_ms_local(now),
            chains,
        },
        shown,
    ))
}

/// The active episodes of one patient's chain; the messages outside any episode count
/// with the most recent one.
fn active_of(c: &ChainView, own: &str, out: &mut Vec<ActiveChain>) {
    let mut first = true;
    for e in c.episodes.iter().filter(|e| e.active) {
        let mut items: Vec<&super::types::Item> = e.documents.iter().collect();
        if first {
            items.extend(c.messages.iter());
            first = false;
        }
        let here = items
            .iter()
            .filter(|i| i.from.id != own && i.receipt_required && i.read_ms.is_none())
            .count();
        let there = items
            .iter()
            .filter(|i| i.from.id == own && i.receipt_required)
            .filter(|i| i.recipients.iter().any(|r| r.read_ms.is_none()))
            .count();
        out.push(ActiveChain {
            patient: c.patient.clone(),
            episode: e.episode.clone(),
            state: e.state.clone(),
            admitted: e
                .steps
                .iter()
                .find(|s| s.step == "inskriven")
                .map(|s| s.at.clone()),
            days_since_ready: e.days_since_ready,
            payment: e.payment.clone(),
            payment_from_ms: e.payment_from_ms,
            weekend_risk: e.weekend_risk,
            plans: e
                .plans
                .iter()
                .map(|p| ActivePlan {
                    kind: p.kind.clone(),
                    versions: p.versions,
                    conflict: p.conflict,
                })
                .collect(),
            unacknowledged_here: here,
            unacknowledged_there: there,
            gaps: e.gaps.clone(),
        });
    }
}

pub(super) fn active_patients(
    node: &dyn CareNode,
    caller: &Caller,
) -> Result<ActivePatients, ApiError> {
    let (a, shown) = collect(node)?;
    audit_patients(
        node,
        caller,
        AuditAction::Read,
        shown,
        None,
        &format!("aktiva patienter visade ({} vårdkedjor)", a.chains.len()),
    )?;
    Ok(a)
}

pub(super) fn print(
    node: &dyn CareNode,
    caller: &Caller,
    r: &PrintRequest,
) -> Result<Printed, ApiError> {
    let now = node.now_ms();
    let (printed, shown, detail) = match r {
        PrintRequest::Active {} => {
            let (a, shown) = collect(node)?;
            let by = printed_by(caller);
            let detail = format!("aktiva patienter utskrivna ({} vårdkedjor)", a.chains.len());
            (
                Printed {
                    title: format!("Aktiva patienter, {}", a.unit.name),
                    patients: shown.iter().map(|p| p.canonical().to_string()).collect(),
                    printed_at_ms: now,
                    body: active_sheet(&a, &by),
                },
                shown,
                detail,
            )
        }
        PrintRequest::Patient { patient: typed } => {
            let p = patient(node, typed)?;
            let (body, events) = chain_printout(node, caller, &p)?;
            (
                Printed {
                    title: format!("Vårdkedja {}", p.canonical()),
                    patients: vec![p.canonical().to_string()],
                    printed_at_ms: now,
                    body,
                },
                vec![p],
                format!("vårdkedjan utskriven ({events} händelser)"),
            )
        }
    };
    audit_patients(node, caller, AuditAction::Print, shown, None, &detail)?;
    Ok(printed)
}

/// Who printed, as the header names them.
fn printed_by(caller: &Caller) -> String {
    match caller.author() {
        Ok(p) if !p.name.trim().is_empty() => p.name,
        _ => caller.login().unwrap_or_else(|| "(okänd)".into()),
    }
}

/// The active patients' sheet: one row per chain, the header as on every printout.
fn active_sheet(a: &ActivePatients, by: &str) -> String {
    let mut h = html::header(
        &format!("Reservrutin: aktiva patienter, {}", a.unit.name),
        a.at_ms,
        by,
        &a.unit.id,
        Some(&a.unit.name),
        &a.node,
        "",
    );
    h.push_str(&format!(
        "<h2>Pågående vårdkedjor ({})</h2>\n",
        a.chains.len()
    ));
    if a.chains.is_empty() {
        h.push_str("<p>Inga pågående vårdkedjor här.</p>\n");
        return h;
    }
    h.push_str("<table class=\"list\">\n<thead><tr><th scope=\"col\">Patient</th><th scope=\"col\">Läge</th><th scope=\"col\">Dagar sedan utskrivnings&shy;klar</th><th scope=\"col\">Betalnings&shy;ansvar</th><th scope=\"col\">Planer</th><th scope=\"col\">Okvitterat</th><th scope=\"col\">Saknas</th></tr></thead>\n<tbody>\n");
    for c in &a.chains {
        let state = match &c.admitted {
            Some(at) => format!(
                "{}<br><span class=\"meta\">inskriven {}</span>",
                escape(&c.state),
                escape(at)
            ),
            None => escape(&c.state),
        };
        let days = match c.days_since_ready {
            Some(d) => d.to_string(),
            None => "–".into(),
        };
        let mut payment = escape(&c.payment);
        if c.weekend_risk {
            payment.push_str("<br><strong>Risk: helg utan kommunklar</strong>");
        }
        let plans = if c.plans.is_empty() {
            "–".to_string()
        } else {
            c.plans
                .iter()
                .map(|p| {
                    format!(
                        "{} ({}){}",
                        escape(&p.kind),
                        super::plan::versions_sv(p.versions),
                        if p.conflict {
                            " <strong>KONFLIKT</strong>"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let gaps = if c.gaps.is_empty() {
            "–".to_string()
        } else {
            c.gaps
                .iter()
                .map(|g| escape(g))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        h.push_str(&format!(
            "<tr><td><strong class=\"pnr\">{}</strong><br><span class=\"meta\">vårdtillfälle {}</span></td><td>{state}</td><td>{days}</td><td>{payment}</td><td>{plans}</td><td>till oss: {}<br>från oss: {}</td><td>{gaps}</td></tr>\n",
            escape(&c.patient),
            escape(&c.episode[..c.episode.len().min(12)]),
            c.unacknowledged_here,
            c.unacknowledged_there,
        ));
    }
    h.push_str("</tbody>\n</table>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{DocumentForm, PlanEditRequest, PlanPatch, Reply, Request};
    use super::*;

    fn active(node: &TestNode) -> ActivePatients {
        match node.ask(Request::ActivePatients {}) {
            Ok(Reply::ActivePatients(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn printed(node: &TestNode, r: PrintRequest) -> Printed {
        match node.ask(Request::Print(r)) {
            Ok(Reply::Printed(p)) => *p,
            other => panic!("{other:?}"),
        }
    }

    fn edit(node: &TestNode, doc: &str, goals: &str) {
        node.ask(Request::PlanEdit(PlanEditRequest {
            doc: doc.into(),
            resolve: false,
            base: None,
            heads: None,
            patch: PlanPatch {
                goals: Some(goals.into()),
                ..PlanPatch::default()
            },
            urgent: false,
        }))
        .expect("edited");
    }

    /// Each side counts what it owes and what it waits for; a withdrawn ready notice
    /// keeps the chain active, a plan edited apart shows its conflict, and the discharge
    /// ends it. The sheet logs a Print naming every patient on it.
    #[test]
    fn the_active_list_follows_the_chain_from_both_sides() {
        let (ward, kommun, admission) = admitted();
        let plan = sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[Side::Kommun], plan_form("Hem"))),
        );
        let doc = plan.plan.expect("a plan");
        ward.carry_to(&kommun);
        let a = active(&kommun);
        assert_eq!(a.chains.len(), 1);
        let c = &a.chains[0];
        assert_eq!(
            (c.patient.as_str(), c.state.as_str()),
            (PATIENT, "inskriven")
        );
        assert_eq!(c.admitted.as_deref(), Some("2026-11-20 08:15"));
        assert_eq!((c.unacknowledged_here, c.unacknowledged_there), (2, 0));
        assert_eq!(c.plans.len(), 1);
        assert!(!c.plans[0].conflict);
        // The municipality acknowledges the admission; the ward sees it once carried.
        kommun
            .ask(Request::Ack {
                event: admission.event.clone(),
            })
            .expect("read");
        assert_eq!(active(&kommun).chains[0].unacknowledged_here, 1);
        assert_eq!(active(&ward).chains[0].unacknowledged_there, 2);
        kommun.carry_to(&ward);
        assert_eq!(active(&ward).chains[0].unacknowledged_there, 1);
        // Edited apart: a conflict on both sides once they meet.
        edit(&ward, &doc, "Hem med hemtjänst");
        edit(&kommun, &doc, "Korttidsboende");
        ward.carry_to(&kommun);
        let c = active(&kommun).chains.remove(0);
        assert!(c.plans[0].conflict, "{c:?}");
        assert_eq!(c.plans[0].versions, 3);
        kommun.carry_to(&ward);
        // Ready, then withdrawn: still active, admitted again, no days counted.
        for form in [
            DocumentForm::Ready {
                physician: "Dr Berg".into(),
                at: None,
            },
            DocumentForm::WithdrawReady {
                reason: "Feber".into(),
                at: None,
            },
        ] {
            sent(&ward, Request::Send(sending(Some(PATIENT), &[], form)));
        }
        let c = active(&ward).chains.remove(0);
        assert_eq!((c.state.as_str(), c.days_since_ready), ("inskriven", None));
        // The sheet: a Print naming the patient, not a Read.
        let before = ward.audit_log().len();
        let p = printed(&ward, PrintRequest::Active {});
        assert_eq!(p.patients, [PATIENT]);
        assert!(
            p.body
                .contains("<strong class=\"pnr\">19121212-1212</strong>"),
            "{}",
            p.body
        );
        assert!(p.body.contains("KONFLIKT"));
        assert!(p.standalone().contains("<style>"));
        let new = ward.audit_log().split_off(before);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].action, AuditAction::Print);
        assert_eq!(new[0].patients.len(), 1);
        // Discharged: no longer active, and a sheet of nobody names nobody.
        sent(
            &ward,
            Request::Send(sending(
                Some(PATIENT),
                &[],
                DocumentForm::Discharged {
                    destination: "hemmet".into(),
                    at: None,
                },
            )),
        );
        assert!(active(&ward).chains.is_empty());
        let p = printed(&ward, PrintRequest::Active {});
        assert!(p.patients.is_empty());
        assert!(p.body.contains("Inga pågående vårdkedjor"));
        let last = ward.audit_log().pop().expect("logged");
        assert_eq!((last.action, last.patients.len()), (AuditAction::Print, 0));
    }

    /// One patient's printout: the chain from the export's renderer, logged as printed;
    /// an unknown or invalid patient is refused and logs nothing.
    #[test]
    fn a_patients_printout_is_logged_as_printed() {
        let (ward, _, _) = admitted();
        let before = ward.audit_log().len();
        let p = printed(
            &ward,
            PrintRequest::Patient {
                patient: "191212121212".into(),
            },
        );
        assert_eq!(p.title, format!("Vårdkedja {PATIENT}"));
        assert!(p.body.contains("Personnummer: 19121212-1212"));
        assert!(p.body.contains("Reservrutin: vårdkedja"));
        assert!(!p.body.contains("<style"), "the page brings its stylesheet");
        let new = ward.audit_log().split_off(before);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].action, AuditAction::Print);
        ward.refuses(
            Request::Print(PrintRequest::Patient {
                patient: OTHER_PATIENT.into(),
            }),
            "inget om",
        );
        ward.refuses(
            Request::Print(PrintRequest::Patient {
                patient: "19121212-1213".into(),
            }),
            "kontrollsiffra",
        );
        assert_eq!(ward.audit_log().len(), before + 1);
    }
}
