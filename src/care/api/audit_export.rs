//! `audit_export`: the entries a search finds, as CSV for a spreadsheet, a page of up to
//! `AUDIT_EXPORT_ROWS_MAX` rows at a time. The export is itself logged.
//!
//! The CSV follows RFC 4180's quoting (a field holding the separator, a quote, CR or LF is
//! quoted, quotes doubled; CRLF between records; a header row) in UTF-8, with two choices
//! made for the spreadsheet staff have: the separator is `;`, because Excel with Swedish
//! regional settings uses `;` as its list separator (`,` is the decimal mark) and opens a
//! `,`-separated file as one column; and the first page starts with a UTF-8 byte order
//! mark, without which Excel reads the file as Windows-1252 and garbles å, ä and ö. A field
//! that a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, a tab or
//! CR; a refused login attempt logs what a stranger typed) gets a leading `'`.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::{audit_patients, audit_query};
use super::types::{ApiError, AuditFilter, CareNode};
use crate::clock::format_ms_local;
use crate::limits::AUDIT_EXPORT_ROWS_MAX;
use crate::store::AuditAction;

/// One page of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditExported {
    /// What was searched for, in Swedish.
    pub query: String,
    /// The CSV text: the byte order mark and header row on the first page (no `after`),
    /// then one record per entry.
    pub csv: String,
    /// Records in this page.
    pub rows: u64,
    /// Where the next page starts (pass it as `after`), if there may be more.
    pub next: Option<String>,
}

/// The columns, in order.
pub const CSV_HEADER: [&str; 13] = [
    "löpnummer",
    "tid",
    "tid (ms sedan 1970, UTC)",
    "åtgärd",
    "inloggning",
    "namn",
    "enhet",
    "nod",
    "klientadress",
    "väg",
    "patienter",
    "händelse",
    "beskrivning",
];

const SEPARATOR: char = ';';

pub(super) fn audit_export(
    node: &dyn CareNode,
    caller: &Caller,
    filter: &AuditFilter,
) -> Result<AuditExported, ApiError> {
    let limit = filter.limit.map_or(AUDIT_EXPORT_ROWS_MAX, |l| {
        (l as usize).clamp(1, AUDIT_EXPORT_ROWS_MAX)
    });
    let (query, described) = audit_query(node, filter, limit)?;
    let page = node.store().search_audit(&query)?;
    let mut csv = String::new();
    if filter.after.is_none() {
        csv.push('\u{feff}');
        record(&mut csv, CSV_HEADER.iter().map(|s| s.to_string()));
    }
    for (seq, e) in &page.entries {
        record(
            &mut csv,
            [
                seq.to_string(),
                format_ms_local(e.at_ms),
                e.at_ms.to_string(),
                e.action.as_str_sv().to_string(),
                e.login.clone().unwrap_or_default(),
                e.name.clone().unwrap_or_default(),
                e.unit.as_ref().map(|u| u.to_string()).unwrap_or_default(),
                e.node.to_string(),
                e.client.clone().unwrap_or_default(),
                e.via.clone().unwrap_or_default(),
                e.patients
                    .iter()
                    .map(|p| p.canonical())
                    .collect::<Vec<_>>()
                    .join(" "),
                e.event.map(|id| id.to_string()).unwrap_or_default(),
                e.detail.clone(),
            ],
        );
    }
    let rows = page.entries.len() as u64;
    audit_patients(
        node,
        caller,
        AuditAction::LogExported,
        query.patient.into_iter().collect(),
        None,
        &format!("export av loggen (CSV): {described}; {rows} poster"),
    )?;
    Ok(AuditExported {
        query: described,
        csv,
        rows,
        next: page.next.map(|(at, seq)| format!("{at}.{seq}")),
    })
}

/// Appends one CSV record and its CRLF.
fn record(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        field(out, &f);
    }
    out.push_str("\r\n");
}

/// One field, defused against formulas and quoted when it must be.
fn field(out: &mut String, f: &str) {
    let defused = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if defused.contains([SEPARATOR, '"', '\r', '\n', ',']) {
        out.push('"');
        out.push_str(&defused.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&defused);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{Reply, Request};
    use super::*;

    /// A reader of RFC 4180 records with `;`, for checking what was written.
    fn parse(csv: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut f = String::new();
        let mut quoted = false;
        let mut chars = csv.trim_start_matches('\u{feff}').chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    f.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => f.push(c),
                (false, '"') => quoted = true,
                (false, ';') => record.push(std::mem::take(&mut f)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "CRLF");
                    record.push(std::mem::take(&mut f));
                    records.push(std::mem::take(&mut record));
                }
                (false, c) => f.push(c),
            }
        }
        assert!(f.is_empty() && record.is_empty(), "ends with CRLF");
        records
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says_and_formulas_are_defused() {
        let mut out = String::new();
        record(
            &mut out,
            [
                "vanlig".to_string(),
                "med;semikolon".into(),
                "citat \"så\"".into(),
                "två\r\nrader".into(),
                "=HYPERLINK(\"http://x\")".into(),
                "åäö".into(),
                String::new(),
            ],
        );
        assert_eq!(
            out,
            "vanlig;\"med;semikolon\";\"citat \"\"så\"\"\";\"två\r\nrader\";\"'=HYPERLINK(\"\"http://x\"\")\";åäö;\r\n"
        );
        assert_eq!(
            parse(&out),
            [[
                "vanlig",
                "med;semikolon",
                "citat \"så\"",
                "två\r\nrader",
                "'=HYPERLINK(\"http://x\")",
                "åäö",
                ""
            ]]
        );
    }

    #[test]
    fn an_export_has_a_header_a_record_per_entry_and_is_logged() {
        let ward = TestNode::new(Side::Ward);
        sent(
            &ward,
            Request::Send(sending(Some(PATIENT), &[], admission_form())),
        );
        let Ok(Reply::AuditExported(x)) = ward.ask(Request::AuditExport(AuditFilter {
            patient: Some(PATIENT.into()),
            ..AuditFilter::default()
        })) else {
            panic!("an export")
        };
        assert!(x.csv.starts_with('\u{feff}'), "a byte order mark for Excel");
        let records = parse(&x.csv);
        assert_eq!(records[0], CSV_HEADER);
        assert_eq!((records.len(), x.rows), (2, 1));
        let row = &records[1];
        assert_eq!(row.len(), CSV_HEADER.len());
        assert_eq!((row[3].as_str(), row[10].as_str()), ("skrivet", PATIENT));
        assert_eq!(row[1], "2026-11-23 13:00");
        let last = ward.audit_log().pop().expect("logged");
        assert_eq!(last.action, AuditAction::LogExported);
        assert_eq!(last.patients.first().map(|p| p.canonical()), Some(PATIENT));
        // A later page has no header.
        let Ok(Reply::AuditExported(more)) = ward.ask(Request::AuditExport(AuditFilter {
            after: Some("0.0".into()),
            ..AuditFilter::default()
        })) else {
            panic!("an export")
        };
        assert!(!more.csv.starts_with('\u{feff}'));
        assert!(parse(&more.csv).iter().all(|r| r[0] != "löpnummer"));
    }
}
