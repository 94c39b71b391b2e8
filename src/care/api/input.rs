//! What a person typed, read into typed values: one parser per kind of field, each refusing
//! with one Swedish line that quotes what was typed and says what is expected.
//!
//! Every way in (the CLI, the local socket, the web form) sends the text as it was typed and
//! the operations read it here, so a field is checked the same way whichever way it came.
//! The parsers are pure: no store, no clock (today's date or now is a parameter), no
//! panics on any input. Where a value has a canonical text form there is a function that
//! writes it, and reading that text gives the value back.
//!
//! A form field left empty (or only spaces) is a field not given: [`given`]. The typed forms
//! several operations take ([`Person`], [`PlanPatch`]) are here too.

use reservnod_proto::care::documents::{
    ConsentBasis, Drug, ExpectedNeeds, Measure, MessageKind, PlanContent, PlanKind, Service,
};
use reservnod_proto::outage::{Mark, CONTROL_TEXT_BYTES_MAX};
use reservnod_proto::patient::CivilDate;
use reservnod_proto::roster::MunicipalityCode;
use reservnod_proto::{HsaId, PatientId};

use serde::{Deserialize, Serialize};

use crate::clock::{from_swedish_local, parse_utc};

/// Who is at the keyboard.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Name as it appears on documents and receipts (e.g. "Anna Andersson").
    #[serde(default)]
    pub name: String,
    /// Role (sjuksköterska, läkare, biståndshandläggare, …).
    #[serde(default)]
    pub role: String,
    /// Login, for the audit log.
    #[serde(default)]
    pub login: Option<String>,
}

/// A plan's fields as typed. In an edit a field not given keeps the base version's content;
/// in a new plan it is empty. Read by [`plan_changes`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    /// New goals.
    #[serde(default)]
    pub goals: Option<String>,
    /// New measures, one per line, `text; ansvarig; senast ÅÅÅÅ-MM-DD` (replace the list;
    /// empty lines are skipped).
    #[serde(default)]
    pub measures: Option<Vec<String>>,
    /// New follow-up date (`ÅÅÅÅ-MM-DD`; empty removes it).
    #[serde(default)]
    pub follow_up: Option<String>,
    /// New participants (replace the list).
    #[serde(default)]
    pub participants: Option<Vec<String>>,
    /// The patient's view.
    #[serde(default)]
    pub patient_view: Option<String>,
}

impl PlanPatch {
    /// `c` as a person would type it into a form (every field given, measures as their
    /// canonical lines): [`plan_changes`] reads it back to `c`. A screen fills a new
    /// version's form from an existing version with it.
    pub fn typed(c: &PlanContent) -> PlanPatch {
        PlanPatch {
            goals: Some(c.goals.clone()),
            measures: Some(c.measures.iter().map(measure_line).collect()),
            follow_up: Some(c.follow_up.clone().unwrap_or_default()),
            participants: Some(c.participants.clone()),
            patient_view: Some(c.patient_view.clone()),
        }
    }
}

/// Why a field was refused: one line, in Swedish, for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(String);

impl Invalid {
    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// Longest piece of typed text quoted back in a refusal.
const QUOTE_CHARS_MAX: usize = 60;

/// `s` as it is quoted back in a refusal: trimmed, on one line, at most
/// `QUOTE_CHARS_MAX` (60) characters.
pub fn quote(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s
        .chars()
        .take(QUOTE_CHARS_MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(QUOTE_CHARS_MAX).is_some() {
        out.push('…');
    }
    out
}

/// The field's text, trimmed, if it was given (not absent, not empty, not only spaces).
pub fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Who is at the keyboard, trimmed; a name is required (it goes on documents and receipts).
pub fn person(p: &Person) -> Result<Person, Invalid> {
    let name = p.name.trim();
    if name.is_empty() {
        return Err(invalid(
            "ange vem du är med --author \"Förnamn Efternamn\" (eller RESERVNOD_AUTHOR)",
        ));
    }
    Ok(Person {
        name: name.to_string(),
        role: p.role.trim().to_string(),
        login: given(p.login.as_deref()).map(str::to_string),
    })
}

/// A patient id in any common spelling (personnummer with or without century and
/// separator, samordningsnummer, reservnummer `R:utfärdare:nummer`); `today` decides the
/// century of a 10-digit number.
pub fn patient(s: &str, today: CivilDate) -> Result<PatientId, Invalid> {
    PatientId::parse_at(s, today).map_err(|e| {
        invalid(format!(
            "ogiltigt patient-id '{}': {}",
            quote(s),
            e.message_sv()
        ))
    })
}

/// A unit's HSA-id (or local id), in any case.
pub fn unit(s: &str) -> Result<HsaId, Invalid> {
    HsaId::parse(s).map_err(|e| {
        invalid(format!(
            "ogiltigt HSA-id '{}': {}",
            quote(s),
            e.message_sv()
        ))
    })
}

/// Units as typed: each entry may hold several, separated by commas, semicolons or spaces
/// (an HSA-id has none); empty entries are skipped; each unit once, in order.
pub fn units(typed: &[String]) -> Result<Vec<HsaId>, Invalid> {
    let mut out: Vec<HsaId> = Vec::new();
    for piece in typed
        .iter()
        .flat_map(|t| t.split(|c: char| c == ',' || c == ';' || c.is_whitespace()))
        .filter(|p| !p.is_empty())
    {
        let id = unit(piece)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Phrase template keys as typed: trimmed, empty ones skipped, each once.
pub fn phrase_keys(typed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in typed.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if !out.iter().any(|o| o == k) {
            out.push(k.to_string());
        }
    }
    out
}

/// An id as typed: its lower-case hex digits, the whole id or a prefix of at least
/// [`HexId::PREFIX_MIN`] digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexId(String);

impl HexId {
    /// Fewest digits that name an id.
    pub const PREFIX_MIN: usize = 8;

    /// The digits, lower case.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The id's bytes, if all of it was typed.
    pub fn whole<const N: usize>(&self) -> Option<[u8; N]> {
        if self.0.len() != 2 * N {
            return None;
        }
        data_encoding::HEXLOWER
            .decode(self.0.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
    }

    /// Whether the id written as `hex` (lower case) starts with these digits.
    pub fn names(&self, hex: &str) -> bool {
        hex.starts_with(&self.0)
    }
}

fn hex_id(s: &str, what: &str, bytes: usize) -> Result<HexId, Invalid> {
    let t = s.trim().to_ascii_lowercase();
    if !(HexId::PREFIX_MIN..=2 * bytes).contains(&t.len())
        || !t.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(invalid(format!(
            "'{}' är inget {what} ({} till {} hexsiffror)",
            quote(s),
            HexId::PREFIX_MIN,
            2 * bytes
        )));
    }
    Ok(HexId(t))
}

/// An event id, whole (64 hex digits) or a prefix.
pub fn event_id(s: &str) -> Result<HexId, Invalid> {
    hex_id(s, "händelse-id", 32)
}

/// A plan (document) id, whole (32 hex digits) or a prefix.
pub fn plan_id(s: &str) -> Result<HexId, Invalid> {
    hex_id(s, "plan-id", 16)
}

/// An episode (vårdtillfälle) id, whole (32 hex digits) or a prefix.
pub fn episode_id(s: &str) -> Result<HexId, Invalid> {
    hex_id(s, "episod-id", 16)
}

/// A date, `ÅÅÅÅ-MM-DD`, that exists (1970–9999); returned in that canonical form.
pub fn date(s: &str) -> Result<String, Invalid> {
    let t = s.trim();
    let b = t.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shaped || parse_utc(t).is_err() {
        return Err(invalid(format!(
            "'{}' är inget datum (ÅÅÅÅ-MM-DD)",
            quote(s)
        )));
    }
    Ok(t.to_string())
}

/// A time of day in Swedish local time, `ÅÅÅÅ-MM-DD TT:MM` (also `ÅÅÅÅ-MM-DDTTT:MM[:SS]`, or
/// a date alone for midnight), as ms since the epoch. The hour that occurs twice in
/// October is read as the second (CET); the hour skipped in March is refused.
pub fn local_time(s: &str) -> Result<u64, Invalid> {
    let wall = parse_utc(s).map_err(|_| {
        invalid(format!(
            "'{}' är ingen tidpunkt (ÅÅÅÅ-MM-DD TT:MM, svensk tid)",
            quote(s)
        ))
    })?;
    from_swedish_local(wall).ok_or_else(|| {
        invalid(format!(
            "'{}' finns inte i svensk tid (natten då sommartid börjar hoppar klockan från 02:00 till 03:00)",
            quote(s)
        ))
    })
}

/// A period as typed by a log reviewer: from (inclusive) and to, each a date or a Swedish
/// local time as [`local_time`] reads them, either may be left out. A date alone as `to`
/// means through the end of that day, a time through the end of that minute. Returned as
/// ms since the epoch, `from` inclusive, `to` exclusive.
pub fn period(from: Option<&str>, to: Option<&str>) -> Result<(Option<u64>, Option<u64>), Invalid> {
    let start = given(from).map(local_time).transpose()?;
    let end = match given(to) {
        None => None,
        Some(t) => {
            let at = local_time(t)?;
            Some(match date(t) {
                // The next day's midnight, local (23 or 25 hours away when the clock moves).
                Ok(_) => {
                    let wall = parse_utc(t).map_err(invalid)? + 86_400_000;
                    from_swedish_local(wall).unwrap_or(at + 86_400_000)
                }
                Err(_) => at - at % 60_000 + 60_000,
            })
        }
    };
    if let (Some(a), Some(b)) = (start, end) {
        if a >= b {
            return Err(invalid(format!(
                "perioden slutar innan den börjar ('{}' till '{}')",
                quote(from.unwrap_or_default()),
                quote(to.unwrap_or_default())
            )));
        }
    }
    Ok((start, end))
}

/// A time as [`local_time`], or `now_ms` if none was given.
pub fn time_or_now(s: Option<&str>, now_ms: u64) -> Result<u64, Invalid> {
    given(s).map_or(Ok(now_ms), local_time)
}

/// Strips `word` (ASCII, any case) and what follows it (spaces or a colon) from the front of
/// `s`; `None` if `s` does not start with the word on its own.
fn after_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    (head.eq_ignore_ascii_case(word)
        && (rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == ':')))
    .then(|| rest.trim_start_matches(|c: char| c.is_whitespace() || c == ':'))
}

/// A plan measure on one line: `text; ansvarig; senast ÅÅÅÅ-MM-DD`. Who is responsible and
/// the date may be left out (`text`, `text; ansvarig`, `text; senast ÅÅÅÅ-MM-DD`); the words
/// `ansvarig` and `senast` in front of them are optional (`text; ansvarig X; senast D`, as
/// measures are shown, reads back the same).
pub fn measure(s: &str) -> Result<Measure, Invalid> {
    let parts: Vec<&str> = s.split(';').map(str::trim).collect();
    let text = parts.first().copied().unwrap_or_default();
    if text.is_empty() {
        return Err(invalid(format!("insatsen '{}' saknar text", quote(s))));
    }
    let (responsible, by_date) = match parts[1..] {
        [] => ("", None),
        [r] if after_word(r, "senast").is_some() => ("", Some(r)),
        [r] => (r, None),
        [r, d] => (r, Some(d)),
        _ => {
            return Err(invalid(format!(
                "insatsen '{}' har för många delar: skriv \"text; ansvarig; senast ÅÅÅÅ-MM-DD\"",
                quote(s)
            )))
        }
    };
    let responsible = after_word(responsible, "ansvarig").unwrap_or(responsible);
    let by_date = match by_date.filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(date(after_word(d, "senast").unwrap_or(d)).map_err(|_| {
            invalid(format!(
                "insatsen '{}': '{}' är inget datum (senast ÅÅÅÅ-MM-DD)",
                quote(s),
                quote(d)
            ))
        })?),
    };
    Ok(Measure {
        text: text.to_string(),
        responsible: responsible.to_string(),
        by_date,
    })
}

/// A measure's canonical line, which [`measure`] reads back to the same measure.
pub fn measure_line(m: &Measure) -> String {
    let mut line = m.text.clone();
    if !m.responsible.is_empty() {
        line.push_str("; ");
        line.push_str(&m.responsible);
    }
    if let Some(d) = &m.by_date {
        line.push_str("; senast ");
        line.push_str(d);
    }
    line
}

/// A drug on one line: `namn; styrka; dos; ändring` (all but the name may be left out).
pub fn drug(s: &str) -> Result<Drug, Invalid> {
    let p: Vec<&str> = s.split(';').map(str::trim).collect();
    if p.first().is_none_or(|n| n.is_empty()) {
        return Err(invalid(format!("läkemedlet '{}' saknar namn", quote(s))));
    }
    if p.len() > 4 {
        return Err(invalid(format!(
            "läkemedlet '{}' har för många delar: skriv \"namn; styrka; dos; ändring\"",
            quote(s)
        )));
    }
    let get = |i: usize| p.get(i).copied().unwrap_or_default().to_string();
    Ok(Drug {
        name: get(0),
        strength: get(1),
        dose: get(2),
        change: Some(get(3)).filter(|c| !c.is_empty()),
    })
}

/// A drug's canonical line, which [`drug`] reads back to the same drug.
pub fn drug_line(d: &Drug) -> String {
    let mut line = format!("{}; {}; {}", d.name, d.strength, d.dose);
    if let Some(c) = &d.change {
        line.push_str("; ");
        line.push_str(c);
    }
    line
}

/// Why the information may pass: `samtycke`, `nödsituation`, or in other words why consent
/// was not obtained (kept as written).
pub fn consent(s: &str) -> Result<ConsentBasis, Invalid> {
    let t = s.trim();
    match t.to_lowercase().as_str() {
        "" => Err(invalid(
            "ange grunden för att uppgifterna lämnas: samtycke, nödsituation, eller varför samtycke saknas",
        )),
        "samtycke" | "consent" => Ok(ConsentBasis::Consent),
        "nödsituation" | "nödläge" | "emergency" => Ok(ConsentBasis::Emergency),
        _ => Ok(ConsentBasis::NotObtained(t.to_string())),
    }
}

/// A consent basis as a person would type it; [`consent`] reads it back.
pub fn consent_text(c: &ConsentBasis) -> String {
    match c {
        ConsentBasis::Consent => "samtycke".into(),
        ConsentBasis::Emergency => "nödsituation".into(),
        ConsentBasis::NotObtained(why) => why.clone(),
    }
}

/// Reads one of a fixed set of words (any case), or refuses naming the field and the
/// choices.
fn one_of<T: Copy>(s: &str, field: &str, words: &[(&[&str], T)]) -> Result<T, Invalid> {
    let t = s.trim().to_lowercase();
    words
        .iter()
        .find(|(ws, _)| ws.contains(&t.as_str()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let choices: Vec<&str> = words.iter().map(|(ws, _)| ws[0]).collect();
            invalid(format!(
                "{field}: '{}' (välj {})",
                quote(s),
                choices.join(", ")
            ))
        })
}

const NEEDS: &[(&[&str], ExpectedNeeds)] = &[
    (
        &["municipality", "kommun", "kommunen"],
        ExpectedNeeds::Municipality,
    ),
    (
        &["primary-care", "vårdcentral", "primärvård"],
        ExpectedNeeds::PrimaryCare,
    ),
    (&["both", "båda"], ExpectedNeeds::Both),
];

/// Who is expected to help after discharge; the municipality if not given.
pub fn needs(s: Option<&str>) -> Result<ExpectedNeeds, Invalid> {
    given(s).map_or(Ok(ExpectedNeeds::Municipality), |s| {
        one_of(s, "förväntade behov", NEEDS)
    })
}

const SERVICES: &[(&[&str], Service)] = &[
    (&["home-care", "hemtjänst"], Service::HomeCare),
    (&["home-nursing", "hemsjukvård"], Service::HomeNursing),
    (
        &["nursing-home", "säbo", "särskilt boende"],
        Service::NursingHome,
    ),
];

/// Services before admission; each entry may hold several separated by commas; each once.
pub fn services(typed: &[String]) -> Result<Vec<Service>, Invalid> {
    let mut out = Vec::new();
    for s in typed
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|s| !s.trim().is_empty())
    {
        let v = one_of(s, "insats före inskrivningen", SERVICES)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

const PLAN_KINDS: &[(&[&str], PlanKind)] = &[
    (&["discharge", "utskrivningsplan"], PlanKind::Discharge),
    (&["sip"], PlanKind::Sip),
    (&["lpt", "lrv", "samordnad vårdplan"], PlanKind::Lpt),
];

/// Which kind of plan; a discharge plan if not given.
pub fn plan_kind(s: Option<&str>) -> Result<PlanKind, Invalid> {
    given(s).map_or(Ok(PlanKind::Discharge), |s| {
        one_of(s, "planens slag", PLAN_KINDS)
    })
}

const MESSAGE_KINDS: &[(&[&str], MessageKind)] = &[
    (
        &["prescription", "recept", "receptförnyelse"],
        MessageKind::PrescriptionRenewal,
    ),
    (
        &["doctor", "läkare", "boka läkare"],
        MessageKind::BookDoctor,
    ),
    (&["home-visit", "hembesök"], MessageKind::HomeVisit),
    (&["question", "fråga"], MessageKind::Question),
    (&["other", "övrigt"], MessageKind::Other),
];

/// Which kind of message; a question if not given.
pub fn message_kind(s: Option<&str>) -> Result<MessageKind, Invalid> {
    given(s).map_or(Ok(MessageKind::Question), |s| {
        one_of(s, "meddelandets slag", MESSAGE_KINDS)
    })
}

/// The form of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// An HL7 FHIR R4 Bundle (`collection`).
    Fhir,
    /// JSON in the project's versioned export schema.
    Json,
    /// A printable HTML page (A4).
    Html,
}

impl ExportFormat {
    /// Its name as typed and shown: `fhir`, `json`, `html`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Fhir => "fhir",
            ExportFormat::Json => "json",
            ExportFormat::Html => "html",
        }
    }
}

const EXPORT_FORMATS: &[(&[&str], ExportFormat)] = &[
    (&["fhir", "fhir-r4"], ExportFormat::Fhir),
    (&["json"], ExportFormat::Json),
    (&["html", "utskrift"], ExportFormat::Html),
];

/// An export's form.
pub fn export_format(s: &str) -> Result<ExportFormat, Invalid> {
    one_of(s, "exportens format", EXPORT_FORMATS)
}

/// A municipality code (kommunkod): four digits.
pub fn municipality(s: &str) -> Result<MunicipalityCode, Invalid> {
    s.parse().map_err(|_| {
        invalid(format!(
            "'{}' är ingen kommunkod (fyra siffror, t.ex. 1080 för Karlskrona)",
            quote(s)
        ))
    })
}

/// A plan's fields as read from a [`PlanPatch`]: `None` keeps the base version's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanChanges {
    /// New goals.
    pub goals: Option<String>,
    /// New measures (replace the list).
    pub measures: Option<Vec<Measure>>,
    /// New follow-up date; `Some(None)` removes it.
    pub follow_up: Option<Option<String>>,
    /// New participants (replace the list).
    pub participants: Option<Vec<String>>,
    /// The patient's view.
    pub patient_view: Option<String>,
}

impl PlanChanges {
    /// `content` with these changes.
    pub fn apply(self, mut content: PlanContent) -> PlanContent {
        if let Some(g) = self.goals {
            content.goals = g;
        }
        if let Some(m) = self.measures {
            content.measures = m;
        }
        if let Some(f) = self.follow_up {
            content.follow_up = f;
        }
        if let Some(p) = self.participants {
            content.participants = p;
        }
        if let Some(v) = self.patient_view {
            content.patient_view = v;
        }
        content
    }
}

/// Reads a plan's typed fields: each measure line, the follow-up date (an empty one removes
/// it), the participants (empty lines skipped, as are empty measure lines).
pub fn plan_changes(p: &PlanPatch) -> Result<PlanChanges, Invalid> {
    Ok(PlanChanges {
        goals: p.goals.clone(),
        measures: p
            .measures
            .as_ref()
            .map(|ms| {
                ms.iter()
                    .filter(|m| !m.trim().is_empty())
                    .map(|m| measure(m))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?,
        follow_up: p
            .follow_up
            .as_ref()
            .map(|f| given(Some(f.as_str())).map(date).transpose())
            .transpose()?,
        participants: p.participants.as_ref().map(|ps| {
            ps.iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        }),
        patient_view: p.patient_view.clone(),
    })
}

/// A line of text for an outage or its re-entry (a reason, a note, a LINK reference):
/// trimmed, at most [`CONTROL_TEXT_BYTES_MAX`] bytes on one line; `what` names the field.
pub fn control_text(what: &str, s: &str, required: bool) -> Result<String, Invalid> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(invalid(format!("{what} saknas")));
    }
    if t.len() > CONTROL_TEXT_BYTES_MAX || t.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} får vara högst {CONTROL_TEXT_BYTES_MAX} tecken på en rad"
        )));
    }
    Ok(t.to_string())
}

/// How a re-entry item was dealt with, as typed: `inregistrerat` (in LINK, with an optional
/// reference) or `behovs-inte` (with a reason).
pub fn reentry_mark(state: &str, link_ref: &str, reason: &str) -> Result<Mark, Invalid> {
    let s = state.trim().to_lowercase();
    match s.as_str() {
        "inregistrerat" | "inregistrerat i link" | "entered" | "link" => Ok(Mark::Entered {
            link_ref: control_text("LINK-referensen", link_ref, false)?,
        }),
        "behovs-inte" | "behövs-inte" | "behövs inte" | "behovs inte" | "not-needed" => {
            Ok(Mark::NotNeeded {
                reason: control_text("skälet till att det inte behövs", reason, true)?,
            })
        }
        _ => Err(invalid(format!(
            "okänt val '{}': välj inregistrerat (i LINK) eller behovs-inte",
            quote(state)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TODAY: CivilDate = CivilDate {
        year: 2026,
        month: 11,
        day: 23,
    };

    /// A form filled from a version (the Patient page's resolving form) and sent as it is
    /// writes that version's content again.
    #[test]
    fn a_plan_typed_back_reads_as_the_same_content() {
        let m = |text: &str, responsible: &str, by: Option<&str>| Measure {
            text: text.into(),
            responsible: responsible.into(),
            by_date: by.map(str::to_string),
        };
        for c in [
            PlanContent {
                goals: "Hem".into(),
                measures: vec![
                    m("Hemtjänst", "Karlskrona kommun", Some("2026-12-10")),
                    m("Trygghetslarm", "", Some("2026-12-01")),
                    m("Hemsjukvård", "Enhet 1", None),
                    m("Uppföljning i hemmet", "", None),
                ],
                follow_up: Some("2026-12-20".into()),
                participants: vec!["Sara Sjöberg".into(), "Kim Karlsson".into()],
                patient_view: "Vill hem".into(),
            },
            PlanContent {
                goals: String::new(),
                measures: vec![],
                follow_up: None,
                participants: vec![],
                patient_view: String::new(),
            },
        ] {
            let empty = PlanContent {
                goals: "x".into(),
                measures: vec![m("y", "z", None)],
                follow_up: Some("2027-01-01".into()),
                participants: vec!["w".into()],
                patient_view: "v".into(),
            };
            let back = plan_changes(&PlanPatch::typed(&c))
                .expect("reads")
                .apply(empty);
            assert_eq!(back, c);
        }
    }

    #[test]
    fn measures_and_drugs_read_from_one_line() {
        let m =
            measure("Hemtjänst morgon och kväll; Karlskrona hemtjänst; 2026-12-01").expect("valid");
        assert_eq!(m.responsible, "Karlskrona hemtjänst");
        assert_eq!(m.by_date.as_deref(), Some("2026-12-01"));
        assert!(measure(" ; x").is_err());
        assert!(measure("x; y; 2026-13-01").is_err());
        let d = drug("Alvedon; 500 mg; 1x3").expect("valid");
        assert_eq!((d.strength.as_str(), d.change), ("500 mg", None));
    }

    /// Issue 10 point 12: the CLI's help shows `senast ÅÅÅÅ-MM-DD`, and that must be read.
    #[test]
    fn a_measure_is_read_as_the_help_writes_it() {
        let m = measure("Hemtjänst morgon och kväll; Karlskrona hemtjänst; senast 2026-12-10")
            .expect("the documented form");
        assert_eq!(m.text, "Hemtjänst morgon och kväll");
        assert_eq!(m.responsible, "Karlskrona hemtjänst");
        assert_eq!(m.by_date.as_deref(), Some("2026-12-10"));
        // Any case, a colon, the date without who is responsible, and the shown form.
        assert_eq!(
            measure("x; y; Senast: 2026-12-10")
                .expect("valid")
                .by_date
                .as_deref(),
            Some("2026-12-10")
        );
        let m = measure("Läkemedelsgenomgång; senast 2026-12-10").expect("valid");
        assert_eq!(
            (m.responsible.as_str(), m.by_date.as_deref()),
            ("", Some("2026-12-10"))
        );
        let m = measure("Hemtjänst; ansvarig Karlskrona kommun; senast 2026-12-10").expect("valid");
        assert_eq!(m.responsible, "Karlskrona kommun");
        // Who is responsible and the date may be left out.
        let m = measure("Tillsyn natt").expect("valid");
        assert_eq!((m.responsible.as_str(), m.by_date), ("", None));
        // A wrong date is refused with the form that works.
        let e = measure("x; y; senast 2026-12-32").expect_err("no such date");
        assert!(e.message().contains("senast ÅÅÅÅ-MM-DD"), "{e}");
        let e = measure("x; y; senast").expect_err("no date");
        assert!(e.message().contains("inget datum"), "{e}");
        // A fourth part is not silently dropped.
        let e = measure("x; y; 2026-12-10; z").expect_err("too many parts");
        assert!(e.message().contains("för många delar"), "{e}");
        // "senastes" is a word of its own, not the keyword.
        let m = measure("x; senastes").expect("valid");
        assert_eq!((m.responsible.as_str(), m.by_date), ("senastes", None));
    }

    #[test]
    fn a_period_reads_dates_and_local_times_and_ends_after_the_last_day_or_minute() {
        // 2026-12-01 00:00 CET is 2026-11-30 23:00 UTC.
        let midnight = 1_796_079_600_000;
        assert_eq!(
            period(Some("2026-12-01"), Some("2026-12-01")),
            Ok((Some(midnight), Some(midnight + 86_400_000)))
        );
        assert_eq!(
            period(Some(" 2026-12-01 08:00 "), Some("2026-12-01 08:30")),
            Ok((
                Some(midnight + 8 * 3_600_000),
                Some(midnight + 8 * 3_600_000 + 31 * 60_000)
            ))
        );
        assert_eq!(period(None, Some("")), Ok((None, None)));
        // The day summer time ends has 25 hours.
        let (a, b) = period(Some("2026-10-25"), Some("2026-10-25")).expect("a period");
        assert_eq!(b.expect("end") - a.expect("start"), 25 * 3_600_000);
        let e = period(Some("2026-12-02"), Some("2026-12-01")).expect_err("backwards");
        assert!(e.message().contains("slutar innan den börjar"), "{e}");
        let e = period(Some("1 dec"), None).expect_err("not a date");
        assert!(e.message().contains("ÅÅÅÅ-MM-DD"), "{e}");
    }

    #[test]
    fn dates_are_canonical_and_exist() {
        assert_eq!(date(" 2026-12-10 ").as_deref(), Ok("2026-12-10"));
        assert_eq!(date("2028-02-29").as_deref(), Ok("2028-02-29"));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-05",
            "2026-+1-01",
            "+2026-01-01",
            "2026-12-10 10:00",
            "10/12/2026",
            "",
            "i morgon",
        ] {
            let e = date(bad).expect_err(bad);
            assert!(e.message().contains("ÅÅÅÅ-MM-DD"), "{bad}: {e}");
        }
    }

    #[test]
    fn local_time_is_swedish() {
        // 2026-11-23 10:00 CET is 09:00 UTC; 2026-07-01 10:00 CEST is 08:00 UTC.
        assert_eq!(
            local_time("2026-11-23 10:00").expect("valid"),
            parse_utc("2026-11-23 09:00").expect("valid")
        );
        assert_eq!(
            local_time("2026-07-01 10:00").expect("valid"),
            parse_utc("2026-07-01 08:00").expect("valid")
        );
        assert!(local_time("igår").is_err());
        let e = local_time("2026-03-29 02:30").expect_err("skipped hour");
        assert!(e.message().contains("sommartid"), "{e}");
        assert_eq!(time_or_now(None, 7), Ok(7));
        assert_eq!(time_or_now(Some("  "), 7), Ok(7));
        assert!(time_or_now(Some("x"), 7).is_err());
    }

    #[test]
    fn ids_are_read_whole_or_as_a_prefix() {
        let full = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let id = event_id(&full.to_uppercase()).expect("whole");
        assert_eq!(id.whole::<32>().map(|b| b[31]), Some(0xff));
        let p = event_id(" 0011AABB ").expect("prefix");
        assert_eq!((p.digits(), p.whole::<32>()), ("0011aabb", None));
        assert!(p.names("0011aabbcc") && !p.names("0011aabc"));
        for bad in ["0011aab", "zz", "", &format!("{full}00"), "0011 aabb"] {
            let e = event_id(bad).expect_err(bad);
            assert!(e.message().contains("händelse-id"), "{e}");
        }
        assert!(plan_id(&full[..32]).expect("whole").whole::<16>().is_some());
        assert!(plan_id(&full[..34]).is_err());
        assert!(episode_id("zz")
            .expect_err("bad")
            .message()
            .contains("episod-id"));
    }

    #[test]
    fn patients_and_units_in_any_spelling() {
        for typed in ["19121212-1212", "191212121212", " 121212+1212 "] {
            assert_eq!(
                patient(typed, TODAY).expect(typed).canonical().to_string(),
                "19121212-1212"
            );
        }
        // Ten digits: the century that makes the person 0 to 99 years old on `today`.
        assert_eq!(
            patient("1212121212", TODAY)
                .expect("valid")
                .canonical()
                .to_string(),
            "20121212-1212"
        );
        assert_eq!(
            patient("19570574-9959", TODAY)
                .expect("samordningsnummer")
                .canonical()
                .to_string(),
            "19570574-9959"
        );
        let e = patient("19121212-1213", TODAY).expect_err("check digit");
        assert!(
            e.message()
                .starts_with("ogiltigt patient-id '19121212-1213'"),
            "{e}"
        );
        assert_eq!(
            units(&["se2321000081-kom1080, SE2321000081-VCNH".into(), " ".into()])
                .expect("two units")
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>(),
            ["SE2321000081-KOM1080", "SE2321000081-VCNH"]
        );
        assert!(
            units(&["SE2321000081-KOM1080".into(), "se2321000081-kom1080".into()])
                .is_ok_and(|u| u.len() == 1)
        );
        assert!(unit("nej")
            .expect_err("bad")
            .message()
            .contains("ogiltigt HSA-id"));
    }

    #[test]
    fn words_in_swedish_or_english() {
        assert_eq!(needs(None), Ok(ExpectedNeeds::Municipality));
        assert_eq!(needs(Some(" Båda ")), Ok(ExpectedNeeds::Both));
        assert!(needs(Some("grannen"))
            .expect_err("bad")
            .message()
            .contains("välj municipality, primary-care, both"));
        assert_eq!(
            services(&["hemtjänst,home-nursing".into(), "SÄBO".into(), "".into()]),
            Ok(vec![
                Service::HomeCare,
                Service::HomeNursing,
                Service::NursingHome
            ])
        );
        assert!(services(&["städning".into()]).is_err());
        assert_eq!(plan_kind(Some("")), Ok(PlanKind::Discharge));
        assert_eq!(plan_kind(Some("SIP")), Ok(PlanKind::Sip));
        assert!(plan_kind(Some("x")).is_err());
        assert_eq!(message_kind(None), Ok(MessageKind::Question));
        assert_eq!(
            message_kind(Some("recept")),
            Ok(MessageKind::PrescriptionRenewal)
        );
        assert!(message_kind(Some("brev")).is_err());
        assert_eq!(
            municipality(" 1080 ").map(|m| m.to_string()).as_deref(),
            Ok("1080")
        );
        assert!(municipality("Karlskrona")
            .expect_err("bad")
            .message()
            .contains("kommunkod"));
        // Every word of every table reads back to its value.
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            table: &[(&[&str], T)],
            read: impl Fn(&str) -> Result<T, Invalid>,
        ) {
            for (words, v) in table {
                for w in *words {
                    assert_eq!(read(w), Ok(*v), "{w}");
                    assert_eq!(read(&w.to_uppercase()), Ok(*v), "{w}");
                }
            }
        }
        check(NEEDS, |w| needs(Some(w)));
        check(SERVICES, |w| services(&[w.into()]).map(|v| v[0]));
        check(PLAN_KINDS, |w| plan_kind(Some(w)));
        check(MESSAGE_KINDS, |w| message_kind(Some(w)));
    }

    #[test]
    fn consent_keeps_the_reason_as_written() {
        assert_eq!(consent("Samtycke"), Ok(ConsentBasis::Consent));
        assert_eq!(consent("nödläge"), Ok(ConsentBasis::Emergency));
        assert_eq!(
            consent(" Patienten kan inte svara "),
            Ok(ConsentBasis::NotObtained("Patienten kan inte svara".into()))
        );
        assert!(consent("  ").is_err());
    }

    #[test]
    fn a_person_needs_a_name() {
        let p = person(&Person {
            name: "  Kim Karlsson ".into(),
            role: " sjuksköterska".into(),
            login: Some(" ".into()),
        })
        .expect("valid");
        assert_eq!(
            (p.name.as_str(), p.role.as_str(), p.login),
            ("Kim Karlsson", "sjuksköterska", None)
        );
        assert!(person(&Person::default())
            .expect_err("no name")
            .message()
            .contains("--author"));
    }

    #[test]
    fn plan_fields_keep_what_is_not_given() {
        let base = PlanContent {
            goals: "Hem".into(),
            measures: vec![],
            follow_up: Some("2026-12-01".into()),
            participants: vec!["A".into()],
            patient_view: "Vill hem".into(),
        };
        let changes = plan_changes(&PlanPatch {
            measures: Some(vec![
                "Hemtjänst; kommunen; senast 2026-12-10".into(),
                " ".into(),
            ]),
            follow_up: Some(String::new()),
            participants: Some(vec![" B ".into(), "".into()]),
            ..PlanPatch::default()
        })
        .expect("valid");
        let c = changes.apply(base.clone());
        assert_eq!(c.goals, "Hem");
        assert_eq!(c.measures.len(), 1);
        assert_eq!(c.measures[0].by_date.as_deref(), Some("2026-12-10"));
        assert_eq!(c.follow_up, None, "an empty follow-up removes it");
        assert_eq!(c.participants, ["B"]);
        assert_eq!(c.patient_view, "Vill hem");
        assert_eq!(
            plan_changes(&PlanPatch::default())
                .expect("empty")
                .apply(base.clone()),
            base
        );
        assert!(plan_changes(&PlanPatch {
            follow_up: Some("snart".into()),
            ..PlanPatch::default()
        })
        .is_err());
        assert!(plan_changes(&PlanPatch {
            measures: Some(vec!["; x".into()]),
            ..PlanPatch::default()
        })
        .is_err());
    }

    #[test]
    fn refusals_quote_briefly_on_one_line() {
        let long = format!("x\ny; {}", "a".repeat(500));
        let e = drug(&format!(";{long}")).expect_err("no name");
        assert!(!e.message().contains('\n'), "{e}");
        assert!(e.message().chars().count() < 150, "{e}");
    }

    /// A field without `;`, trimmed, and not starting with a keyword the parser strips.
    fn field() -> impl Strategy<Value = String> {
        "[^;\\s]([^;]{0,20}[^;\\s])?".prop_filter("no keyword in front", |s| {
            after_word(s, "senast").is_none()
                && after_word(s, "ansvarig").is_none()
                && !s.chars().any(char::is_control)
        })
    }

    fn canonical_date() -> impl Strategy<Value = String> {
        (0i64..2_932_896).prop_map(|days| {
            let (y, m, d) = crate::clock::civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}")
        })
    }

    proptest! {
        #[test]
        fn typed_text_never_panics(line in "\\PC{0,80}", any in ".{0,80}") {
            for s in [&line, &any] {
                if let Ok(m) = measure(s) {
                    prop_assert!(!m.text.is_empty());
                    prop_assert!(m.by_date.as_deref().is_none_or(|d| d.len() == 10));
                }
                if let Ok(d) = drug(s) {
                    prop_assert!(!d.name.is_empty());
                }
                let _ = local_time(s);
                let _ = consent(s);
                if let Ok(d) = date(s) {
                    prop_assert_eq!(d.len(), 10);
                }
                let _ = patient(s, TODAY);
                let _ = units(std::slice::from_ref(s));
                for id in [event_id(s), plan_id(s), episode_id(s)].into_iter().flatten() {
                    prop_assert!(id.digits().len() >= HexId::PREFIX_MIN);
                }
                let _ = (needs(Some(s)), services(std::slice::from_ref(s)), plan_kind(Some(s)));
                let _ = (message_kind(Some(s)), municipality(s));
                let _ = plan_changes(&PlanPatch {
                    goals: Some(s.clone()),
                    measures: Some(vec![s.clone()]),
                    follow_up: Some(s.clone()),
                    participants: Some(vec![s.clone()]),
                    patient_view: None,
                });
                for e in [measure(s).err(), drug(s).err(), local_time(s).err(), date(s).err()]
                    .into_iter()
                    .flatten()
                {
                    prop_assert!(!e.message().contains('\n'));
                }
            }
        }

        #[test]
        fn measures_round_trip(
            text in field(),
            responsible in proptest::option::of(field()),
            by_date in proptest::option::of(canonical_date()),
        ) {
            let m = Measure { text, responsible: responsible.unwrap_or_default(), by_date };
            prop_assert_eq!(measure(&measure_line(&m)), Ok(m));
        }

        #[test]
        fn drugs_round_trip(
            name in field(),
            strength in proptest::option::of(field()),
            dose in proptest::option::of(field()),
            change in proptest::option::of(field()),
        ) {
            let d = Drug {
                name,
                strength: strength.unwrap_or_default(),
                dose: dose.unwrap_or_default(),
                change,
            };
            prop_assert_eq!(drug(&drug_line(&d)), Ok(d));
        }

        #[test]
        fn dates_round_trip(d in canonical_date()) {
            prop_assert_eq!(date(&d), Ok(d));
        }

        #[test]
        fn local_times_round_trip(minute in 0u64..4_000_000u64) {
            // Whole minutes from 2019 on, as staff see them.
            let ms = 1_546_300_800_000 + minute * 3 * 60_000;
            let shown = crate::clock::format_ms_local(ms);
            let back = local_time(&shown);
            // The hour shown twice in October reads as its second (CET) occurrence.
            if crate::clock::swedish_offset_min(ms) == 120
                && crate::clock::swedish_offset_min(ms + 3_600_000) == 60
            {
                prop_assert_eq!(back, Ok(ms + 3_600_000));
            } else {
                prop_assert_eq!(back, Ok(ms));
            }
        }

        #[test]
        fn ids_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
            let hex = reservnod_proto::EventId(bytes).to_string();
            prop_assert_eq!(event_id(&hex).map(|h| h.whole::<32>()), Ok(Some(bytes)));
            let prefix = event_id(&hex[..12]).expect("a prefix");
            prop_assert!(prefix.names(&hex));
        }

        #[test]
        fn consent_round_trips(why in field()) {
            let c = consent(&why).expect("any words are a reason");
            prop_assert_eq!(consent(&consent_text(&c)), Ok(c));
        }
    }
}
