//! `snapshot_import`: the active care chains of the region's pre-outage snapshot file
//! (docs/snapshot.md) as clinical events of this unit, sealed to the units each chain names,
//! so they replicate like any document and the Patient page and the inbox show them marked
//! "från ögonblicksbild".
//!
//! Every row is checked (the patient by proto's patient rules, each unit as an HSA-id in the
//! roster, states and dates); each bad row is reported with its line, field and reason. A
//! file with a bad row imports nothing unless `skip_bad_rows`. A row is keyed by the chain
//! it is about ([`row_key`] over the patient and the admission) and filed under an episode
//! derived from the same, so importing the same file again, here or at another node, adds
//! nothing, and a newer snapshot of a chain (a later `taken_at` saying more) is written as
//! its update, which the chain counts instead of the older one; an older one is left out.

use reservnod_proto::care::chain::ChainState;
use reservnod_proto::care::documents::{
    ClinicalPayload, ConsentBasis, Document, EpisodeId, PAYLOAD_FORMAT, TEXT_BYTES_MAX,
};
use reservnod_proto::care::snapshot::{episode, row_key, ChainSnapshot};
use reservnod_proto::{HsaId, PatientId, SignedEvent};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, clinical_event, Links};
use super::input;
use super::types::{refused, ApiError, CareNode};
use crate::clock::today;
use crate::files::snapshot::{self as file, RawChain, SNAPSHOT_FORMAT};
use crate::limits::CLOCK_AHEAD_MAX_MS;
use crate::store::AuditAction;

/// What to import.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotImportRequest {
    /// The file's text (CSV or JSON, format 1).
    pub text: String,
    /// Import the good rows even if some are bad (each bad one is still reported).
    #[serde(default)]
    pub skip_bad_rows: bool,
}

/// A row that was not imported: where, which field, why (Swedish).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRow {
    /// The line the row starts on (1-based).
    pub line: usize,
    /// The field (column), or empty for the row as a whole.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotImported {
    /// `csv` or `json`.
    pub form: String,
    /// Rows (chains) in the file.
    pub rows: usize,
    /// Chains written now.
    pub imported: usize,
    /// Chains already here (imported before, here or at another node).
    pub already: usize,
    /// Chains here from an older snapshot, for which this file's newer one was written
    /// (it replaces the older one in the chain).
    #[serde(default)]
    pub updated: usize,
    /// Rows saying otherwise than the snapshot of their chain already here but taken no
    /// later than it: not written (the chain is known better here).
    #[serde(default)]
    pub older: usize,
    /// Rows about chains that do not involve this unit (left for their units).
    pub other_units: usize,
    /// The bad rows, in file order.
    pub bad: Vec<BadRow>,
    /// Whether anything was written (false when bad rows stopped the import).
    pub written: bool,
}

/// A good row, ready to be written.
struct Chain {
    line: usize,
    patient: PatientId,
    snapshot: ChainSnapshot,
    consent: ConsentBasis,
    to: Vec<HsaId>,
}

fn bad(line: usize, field: &str, reason: impl Into<String>) -> BadRow {
    BadRow {
        line,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// A time field: a date (midnight) or a Swedish local time, not after `latest`.
fn time(row: &RawChain, field: &str, latest: u64) -> Result<Option<u64>, BadRow> {
    let Some(s) = row.get(field) else {
        return Ok(None);
    };
    let at = input::local_time(s).map_err(|e| bad(row.line, field, e.message()))?;
    if at > latest {
        return Err(bad(
            row.line,
            field,
            format!("'{}' ligger efter ögonblicksbildens tid", input::quote(s)),
        ));
    }
    Ok(Some(at))
}

fn state(row: &RawChain) -> Result<ChainState, BadRow> {
    let Some(s) = row.get("state") else {
        return Err(bad(
            row.line,
            "state",
            "status saknas (inskriven, utskrivningsklar eller kommunklar)",
        ));
    };
    match s.to_lowercase().as_str() {
        "inskriven" => Ok(ChainState::Admitted),
        "utskrivningsklar" => Ok(ChainState::ReadyForDischarge),
        "kommunklar" => Ok(ChainState::MunicipalityReady),
        "utskriven" => Err(bad(
            row.line,
            "state",
            "en utskriven patient har ingen aktiv vårdkedja: raden hör inte till ögonblicksbilden",
        )),
        _ => Err(bad(
            row.line,
            "state",
            format!(
                "okänd status '{}' (inskriven, utskrivningsklar eller kommunklar)",
                input::quote(s)
            ),
        )),
    }
}

/// Checks one row against the node: `Ok(None)` for a good row that does not involve this
/// unit.
fn check(node: &dyn CareNode, row: &RawChain) -> Result<Option<Chain>, BadRow> {
    let line = row.line;
    let now = node.now_ms();
    match row.get("format") {
        Some(f) if f == SNAPSHOT_FORMAT.to_string() => {}
        Some(f) => {
            return Err(bad(
                line,
                "format",
                format!(
                    "format '{}' läses inte här (bara {SNAPSHOT_FORMAT})",
                    input::quote(f)
                ),
            ))
        }
        None => {
            return Err(bad(
                line,
                "format",
                format!("format saknas (ska vara {SNAPSHOT_FORMAT})"),
            ))
        }
    }
    let taken_at = match row.get("taken_at") {
        None => {
            return Err(bad(
                line,
                "taken_at",
                "tiden då ögonblicksbilden togs saknas",
            ))
        }
        Some(s) => input::local_time(s).map_err(|e| bad(line, "taken_at", e.message()))?,
    };
    if taken_at > now.saturating_add(CLOCK_AHEAD_MAX_MS) {
        return Err(bad(
            line,
            "taken_at",
            "ögonblicksbilden är daterad i framtiden",
        ));
    }
    let Some(typed) = row.get("patient") else {
        return Err(bad(line, "patient", "patient saknas"));
    };
    let patient =
        input::patient(typed, today(now)).map_err(|e| bad(line, "patient", e.message()))?;
    let roster = node.roster();
    if row.units.is_empty() {
        return Err(bad(
            line,
            "units",
            "inga enheter (HSA-id för vårdkedjans enheter)",
        ));
    }
    let mut units: Vec<HsaId> = Vec::new();
    for u in &row.units {
        let id = input::unit(u).map_err(|e| bad(line, "units", e.message()))?;
        if roster.unit(&id).is_none() {
            return Err(bad(
                line,
                "units",
                format!("enheten {id} finns inte i regionens register"),
            ));
        }
        if !units.contains(&id) {
            units.push(id);
        }
    }
    if units.len() > reservnod_proto::care::documents::LIST_ITEMS_MAX {
        return Err(bad(line, "units", "för många enheter"));
    }
    let state = state(row)?;
    let Some(admitted) = time(row, "admitted", taken_at)? else {
        return Err(bad(line, "admitted", "inskrivningstiden saknas"));
    };
    let ready = time(row, "ready", taken_at)?;
    let municipality_ready = time(row, "municipality_ready", taken_at)?;
    match (state, ready, municipality_ready) {
        (ChainState::Admitted, Some(_), _) => {
            return Err(bad(
                line,
                "ready",
                "status inskriven men en tid för utskrivningsklar",
            ))
        }
        (ChainState::Admitted | ChainState::ReadyForDischarge, _, Some(_)) => {
            return Err(bad(
                line,
                "municipality_ready",
                "en tid för kommunklar men status är inte kommunklar",
            ))
        }
        (ChainState::ReadyForDischarge | ChainState::MunicipalityReady, None, _) => {
            return Err(bad(line, "ready", "tiden för utskrivningsklar saknas"))
        }
        (ChainState::MunicipalityReady, _, None) => {
            return Err(bad(
                line,
                "municipality_ready",
                "tiden för kommunklar saknas",
            ))
        }
        _ => {}
    }
    if ready.is_some_and(|r| r < admitted) {
        return Err(bad(line, "ready", "utskrivningsklar före inskrivningen"));
    }
    if let (Some(r), Some(m)) = (ready, municipality_ready) {
        // The municipality is ready to receive a patient the ward has judged ready, not
        // before: such a row would start and stop the payment clock out of order.
        if m < r {
            return Err(bad(
                line,
                "municipality_ready",
                format!(
                    "kommunklar {} är före utskrivningsklar {}",
                    crate::clock::format_ms_local(m),
                    crate::clock::format_ms_local(r)
                ),
            ));
        }
    }
    let preliminary_discharge = row
        .get("preliminary_discharge")
        .map(input::date)
        .transpose()
        .map_err(|e| bad(line, "preliminary_discharge", e.message()))?;
    let plan_summary = row.get("plan_summary").unwrap_or_default().to_string();
    if plan_summary.len() > TEXT_BYTES_MAX {
        return Err(bad(
            line,
            "plan_summary",
            format!("planen är längre än {TEXT_BYTES_MAX} byte"),
        ));
    }
    let consent = match row.get("consent") {
        Some(c) => input::consent(c).map_err(|e| bad(line, "consent", e.message()))?,
        None => ConsentBasis::NotObtained("ej angivet i ögonblicksbilden".into()),
    };
    let own = node.unit_key().unit();
    if !units.contains(own) {
        return Ok(None);
    }
    // A clinical event goes to someone: the chain is shared with the units it names.
    if units.len() < 2 {
        return Err(bad(
            line,
            "units",
            "bara den egna enheten: ange också de enheter vårdkedjan delas med (kommun, vårdcentral)",
        ));
    }
    // What identifies the chain: the patient and the admission (its episode). A newer
    // snapshot of the same chain has the same key and replaces the older one; the units
    // are not part of it, since a chain may be shared with one more unit later.
    let admitted_bytes = admitted.to_le_bytes();
    let parts: [&[u8]; 2] = [patient.canonical().as_bytes(), &admitted_bytes];
    let key = row_key(&parts);
    Ok(Some(Chain {
        line,
        to: units.iter().filter(|u| *u != own).cloned().collect(),
        snapshot: ChainSnapshot {
            key,
            taken_at_ms: taken_at,
            state,
            admitted_at_ms: admitted,
            ready_at_ms: ready,
            municipality_ready_at_ms: municipality_ready,
            preliminary_discharge,
            plan_summary,
            units,
        },
        consent,
        patient,
    }))
}

pub(super) fn snapshot_import(
    node: &dyn CareNode,
    caller: &Caller,
    r: SnapshotImportRequest,
) -> Result<SnapshotImported, ApiError> {
    let person = caller.author()?;
    let read = file::read(&r.text).map_err(|e| {
        refused(if e.line > 0 {
            format!(
                "filen är ingen ögonblicksbild (rad {}): {}",
                e.line, e.reason
            )
        } else {
            format!("filen är ingen ögonblicksbild: {}", e.reason)
        })
    })?;
    let mut out = SnapshotImported {
        form: read.form.name().into(),
        rows: read.rows.len() + read.bad.len(),
        imported: 0,
        already: 0,
        updated: 0,
        older: 0,
        other_units: 0,
        bad: read
            .bad
            .iter()
            .map(|e| bad(e.line, &e.field, e.reason.clone()))
            .collect(),
        written: false,
    };
    let mut good: Vec<Chain> = Vec::new();
    for row in &read.rows {
        match check(node, row) {
            Ok(Some(c)) => {
                // One chain per patient and admission in a file: two rows that disagree
                // about it cannot both be the primary system's word.
                if let Some(first) = good.iter().find(|g| g.snapshot.key == c.snapshot.key) {
                    if !same_row(&first.snapshot, &c.snapshot) {
                        out.bad.push(bad(
                            c.line,
                            "patient",
                            format!(
                                "samma patient och inskrivning som rad {} men andra uppgifter",
                                first.line
                            ),
                        ));
                    }
                    continue;
                }
                good.push(c);
            }
            Ok(None) => out.other_units += 1,
            Err(b) => out.bad.push(b),
        }
    }
    out.bad.sort_by_key(|b| b.line);
    if !out.bad.is_empty() && !r.skip_bad_rows {
        return Ok(out);
    }
    let _one_at_a_time = node.write_turn();
    let roster = node.roster();
    let mut events: Vec<SignedEvent> = Vec::new();
    let mut patients: Vec<PatientId> = Vec::new();
    {
        let view = node.view();
        good.retain(|c| {
            // The snapshots of this chain already here (by patient and admission, which
            // also finds those an older version keyed by their content).
            let held: Vec<&ChainSnapshot> = view
                .patient(&c.patient)
                .into_iter()
                .filter_map(|o| match &o.payload.document {
                    Document::Snapshot(s) if s.admitted_at_ms == c.snapshot.admitted_at_ms => {
                        Some(s)
                    }
                    _ => None,
                })
                .collect();
            if held.iter().any(|s| same_row(s, &c.snapshot)) {
                out.already += 1;
                return false;
            }
            match held.iter().map(|s| s.taken_at_ms).max() {
                None => true,
                Some(t) if t < c.snapshot.taken_at_ms => {
                    out.updated += 1;
                    true
                }
                // Taken at the same time or before the one here: the chain is known better.
                Some(_) => {
                    out.older += 1;
                    false
                }
            }
        });
    }
    for c in good {
        let payload = ClinicalPayload {
            format: PAYLOAD_FORMAT,
            episode: Some(EpisodeId(episode(
                c.patient.canonical(),
                c.snapshot.admitted_at_ms,
            ))),
            patient: Some(c.patient.clone()),
            written_at_ms: node.now_ms(),
            author: person.name.clone(),
            role: person.role.clone(),
            consent: c.consent,
            // Nobody acknowledges a snapshot: it is the primary system's record, not a message.
            receipt_required: false,
            phrases: Vec::new(),
            document: Document::Snapshot(c.snapshot),
        };
        let (signed, _) = clinical_event(
            node,
            &roster,
            &c.to,
            person.login.clone(),
            false,
            Links::None,
            &payload,
        )?;
        events.push(signed);
        patients.push(c.patient);
    }
    out.imported = events.len() - out.updated;
    let detail = format!(
        "ögonblicksbild importerad: {} vårdkedjor nya, {} uppdaterade, {} fanns redan, {} äldre än de som fanns, {} felaktiga rader hoppades över",
        out.imported,
        out.updated,
        out.already,
        out.older,
        out.bad.len()
    );
    // The access log first (no write unlogged); then the events in one batch.
    audit_patients(
        node,
        caller,
        AuditAction::Import,
        patients.clone(),
        None,
        &detail,
    )?;
    let events_empty = events.is_empty();
    if !events_empty {
        if let Err(e) = node.write(events) {
            let _ = audit_patients(
                node,
                caller,
                AuditAction::Import,
                patients,
                None,
                &format!("ögonblicksbilden skrevs inte ({e})"),
            );
            return Err(e);
        }
    }
    out.written = !events_empty;
    Ok(out)
}

/// Whether two snapshots of a chain say the same (units in any order; the key and when it
/// was taken apart): the same row of the same export, or of a later export that has nothing
/// new to say of the chain, so a nightly import writes nothing for a chain that stood still.
fn same_row(a: &ChainSnapshot, b: &ChainSnapshot) -> bool {
    let units = |s: &ChainSnapshot| {
        let mut u: Vec<String> = s.units.iter().map(|u| u.to_string()).collect();
        u.sort();
        u
    };
    a.state == b.state
        && a.admitted_at_ms == b.admitted_at_ms
        && a.ready_at_ms == b.ready_at_ms
        && a.municipality_ready_at_ms == b.municipality_ready_at_ms
        && a.preliminary_discharge == b.preliminary_discharge
        && a.plan_summary == b.plan_summary
        && units(a) == units(b)
}
