//! The pre-outage snapshot file (docs/snapshot.md, format 1): the active care chains a
//! region exports from its primary system, as CSV or JSON. This module reads the file's
//! shape only: rows of text fields, each with the line it starts on, and what is wrong with
//! the shape of a row. What a field means (a personnummer, an HSA-id, a date) is checked
//! by `care::api`'s snapshot import, which reports per row and field.

use std::collections::BTreeMap;

/// The format this code reads.
pub const SNAPSHOT_FORMAT: u64 = 1;
/// Largest snapshot file (it travels to the daemon in one socket request of at most
/// `REQUEST_BYTES_MAX`; a bigger region exports one file per unit).
pub const SNAPSHOT_BYTES_MAX: usize = 640 * 1024;
/// Most rows (chains) in one file.
pub const SNAPSHOT_ROWS_MAX: usize = 10_000;
/// Most fields in one CSV record.
const FIELDS_MAX: usize = 64;

/// The CSV columns of format 1, in order; the header row names them.
pub const COLUMNS: [&str; 11] = [
    "format",
    "taken_at",
    "patient",
    "units",
    "state",
    "admitted",
    "ready",
    "municipality_ready",
    "preliminary_discharge",
    "plan_summary",
    "consent",
];

/// Which form the file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// CSV (RFC 4180, `,` or `;`).
    Csv,
    /// JSON (docs/snapshot-schema.json).
    Json,
}

impl Form {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Form::Csv => "csv",
            Form::Json => "json",
        }
    }
}

/// One row as the file has it: each field's text (absent and empty are the same), and the
/// units as listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawChain {
    /// The line the row starts on (1-based), or for JSON the line its object starts on.
    pub line: usize,
    /// Field name → text, trimmed; only fields given and not empty.
    pub fields: BTreeMap<&'static str, String>,
    /// The `units` field, split.
    pub units: Vec<String>,
}

impl RawChain {
    /// The field's text, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A row (or the whole file) whose shape is wrong: where, which field, why (Swedish).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Line (1-based; 0 for the file as a whole).
    pub line: usize,
    /// The field, or empty.
    pub field: String,
    /// Why, in Swedish.
    pub reason: String,
}

fn shape(line: usize, field: &str, reason: impl Into<String>) -> ShapeError {
    ShapeError {
        line,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// What a file holds: its form, the rows whose shape is right, the rows whose shape is not.
#[derive(Clone, Debug)]
pub struct Read {
    /// CSV or JSON.
    pub form: Form,
    /// Rows in file order.
    pub rows: Vec<RawChain>,
    /// Rows that could not be read as rows.
    pub bad: Vec<ShapeError>,
}

/// Reads a snapshot file. A file that is no snapshot at all (too large, no header, not
/// JSON, another format) is an `Err` naming why; a row whose shape is wrong is in `bad`.
pub fn read(text: &str) -> Result<Read, ShapeError> {
    if text.len() > SNAPSHOT_BYTES_MAX {
        return Err(shape(
            0,
            "",
            format!("filen är större än {SNAPSHOT_BYTES_MAX} byte: dela upp den per enhet"),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        read_json(text)
    } else {
        read_csv(text)
    }
}

// --- CSV --------------------------------------------------------------------------------

/// A CSV record: the line it starts on (1-based) and its fields.
pub type Record = (usize, Vec<String>);

/// Why CSV text does not read: the line and the reason (Swedish).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvError {
    /// The line (1-based) where the trouble is.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The records of CSV `text` (RFC 4180) with `delimiter`: a field in double quotes may hold
/// the delimiter, line breaks and doubled quotes; lines end in LF or CRLF; empty lines are
/// skipped. At most `records_max` records of at most 64 fields.
pub fn csv_records(
    text: &str,
    delimiter: char,
    records_max: usize,
) -> Result<Vec<Record>, CsvError> {
    let mut out: Vec<Record> = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    // Bounded by the text: every turn of either loop takes at least one character.
    while chars.peek().is_some() {
        let start = line;
        let mut fields: Vec<String> = Vec::new();
        let mut field = String::new();
        let mut quoted_field = false;
        loop {
            let Some(c) = chars.next() else {
                fields.push(std::mem::take(&mut field));
                break;
            };
            match c {
                '"' if field.is_empty() && !quoted_field => {
                    quoted_field = true;
                    let opened = line;
                    loop {
                        match chars.next() {
                            None => {
                                return Err(CsvError {
                                    line: opened,
                                    reason: "ett citattecken öppnas men stängs aldrig".into(),
                                })
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    match chars.peek() {
                        None | Some('\n') | Some('\r') => {}
                        Some(&d) if d == delimiter => {}
                        Some(_) => {
                            return Err(CsvError {
                                line,
                                reason: "tecken efter ett citerat fält (före nästa avgränsare)"
                                    .into(),
                            })
                        }
                    }
                }
                '"' => {
                    return Err(CsvError {
                        line,
                        reason: "citattecken mitt i ett fält utan citattecken (skriv fältet inom \"…\" och dubblera citattecknet)".into(),
                    })
                }
                c if c == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    quoted_field = false;
                    if fields.len() >= FIELDS_MAX {
                        return Err(CsvError {
                            line,
                            reason: format!("fler än {FIELDS_MAX} fält på raden"),
                        });
                    }
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                c => {
                    if quoted_field {
                        return Err(CsvError {
                            line,
                            reason: "tecken efter ett citerat fält (före nästa avgränsare)".into(),
                        });
                    }
                    field.push(c);
                }
            }
        }
        let blank = fields.len() == 1 && fields[0].is_empty() && !quoted_field;
        if !blank {
            if out.len() >= records_max {
                return Err(CsvError {
                    line: start,
                    reason: format!("fler än {records_max} rader"),
                });
            }
            out.push((start, fields));
        }
    }
    Ok(out)
}

/// `records` as CSV with `delimiter`, quoting the fields that need it (the writer the
/// property test reads back; also for docs and fixtures).
pub fn csv_write(records: &[Vec<String>], delimiter: char) -> String {
    let mut out = String::new();
    for r in records {
        let line: Vec<String> = r
            .iter()
            .map(|f| {
                if f.contains(delimiter) || f.contains(['"', '\n', '\r']) || f.is_empty() {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect();
        out.push_str(&line.join(&delimiter.to_string()));
        out.push('\n');
    }
    out
}

fn split_units(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == ';' || c == '|' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn read_csv(text: &str) -> Result<Read, ShapeError> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = if first.contains(';') { ';' } else { ',' };
    let records = csv_records(text, delimiter, SNAPSHOT_ROWS_MAX + 1)
        .map_err(|e| shape(e.line, "", e.reason))?;
    let Some(((header_line, header), rows)) = records.split_first() else {
        return Err(shape(0, "", "filen är tom"));
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    if names != COLUMNS {
        return Err(shape(
            *header_line,
            "",
            format!(
                "första raden ska vara kolumnnamnen för format {SNAPSHOT_FORMAT}: {}",
                COLUMNS.join(&delimiter.to_string())
            ),
        ));
    }
    let mut out = Read {
        form: Form::Csv,
        rows: Vec::new(),
        bad: Vec::new(),
    };
    for (line, fields) in rows {
        if fields.len() != COLUMNS.len() {
            out.bad.push(shape(
                *line,
                "",
                format!(
                    "raden har {} fält, ska ha {} ({})",
                    fields.len(),
                    COLUMNS.len(),
                    if delimiter == ';' {
                        "avgränsade med ;"
                    } else {
                        "avgränsade med ,"
                    }
                ),
            ));
            continue;
        }
        let mut row = RawChain {
            line: *line,
            ..RawChain::default()
        };
        for (name, value) in COLUMNS.iter().zip(fields) {
            let v = value.trim();
            if *name == "units" {
                row.units = split_units(v);
            } else if !v.is_empty() {
                row.fields.insert(name, v.to_string());
            }
        }
        out.rows.push(row);
    }
    Ok(out)
}

// --- JSON -------------------------------------------------------------------------------

/// The line (1-based) where each object of the top-level `chains` array starts: a scan
/// over the text that follows strings and nesting (the text already parsed as JSON).
fn chain_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth: Vec<char> = Vec::new();
    let (mut line, mut in_string, mut escaped) = (1usize, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                // The root object holds only one array, `chains`.
                if c == '{' && depth == ['{', '['] {
                    out.push(line);
                }
                depth.push(c);
            }
            '}' | ']' => {
                depth.pop();
            }
            _ => {}
        }
    }
    out
}

const JSON_FIELDS: [&str; 9] = [
    "patient",
    "units",
    "state",
    "admitted",
    "ready",
    "municipality_ready",
    "preliminary_discharge",
    "plan_summary",
    "consent",
];

fn read_json(text: &str) -> Result<Read, ShapeError> {
    let root: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| shape(e.line(), "", format!("filen är ingen giltig JSON: {e}")))?;
    let Some(obj) = root.as_object() else {
        return Err(shape(1, "", "filen ska vara ett JSON-objekt"));
    };
    for key in obj.keys() {
        if !["format", "taken_at", "chains"].contains(&key.as_str()) {
            return Err(shape(1, key, format!("okänt fält '{key}' i filen")));
        }
    }
    match obj.get("format").and_then(serde_json::Value::as_u64) {
        Some(SNAPSHOT_FORMAT) => {}
        Some(other) => {
            return Err(shape(
                1,
                "format",
                format!("format {other} läses inte här (bara format {SNAPSHOT_FORMAT})"),
            ))
        }
        None => {
            return Err(shape(
                1,
                "format",
                format!("fältet format saknas (ska vara {SNAPSHOT_FORMAT})"),
            ))
        }
    }
    let taken_at = match obj.get("taken_at") {
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        _ => {
            return Err(shape(
                1,
                "taken_at",
                "fältet taken_at (när ögonblicksbilden togs) saknas eller är ingen text",
            ))
        }
    };
    let Some(chains) = obj.get("chains").and_then(serde_json::Value::as_array) else {
        return Err(shape(
            1,
            "chains",
            "fältet chains (listan över vårdkedjor) saknas",
        ));
    };
    if chains.len() > SNAPSHOT_ROWS_MAX {
        return Err(shape(
            1,
            "chains",
            format!("fler än {SNAPSHOT_ROWS_MAX} vårdkedjor"),
        ));
    }
    let lines = chain_lines(text);
    let mut out = Read {
        form: Form::Json,
        rows: Vec::new(),
        bad: Vec::new(),
    };
    'chains: for (i, c) in chains.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(0);
        let Some(c) = c.as_object() else {
            out.bad
                .push(shape(line, "", "vårdkedjan är inget JSON-objekt"));
            continue;
        };
        let mut row = RawChain {
            line,
            ..RawChain::default()
        };
        row.fields.insert("format", SNAPSHOT_FORMAT.to_string());
        if !taken_at.is_empty() {
            row.fields.insert("taken_at", taken_at.clone());
        }
        for (key, value) in c {
            let Some(name) = JSON_FIELDS.iter().find(|f| **f == key.as_str()) else {
                out.bad.push(shape(
                    line,
                    key,
                    format!("okänt fält '{}'", key.chars().take(40).collect::<String>()),
                ));
                continue 'chains;
            };
            match (*name, value) {
                (_, serde_json::Value::Null) => {}
                ("units", serde_json::Value::Array(units)) => {
                    for u in units {
                        match u.as_str() {
                            Some(u) => row.units.push(u.trim().to_string()),
                            None => {
                                out.bad.push(shape(
                                    line,
                                    "units",
                                    "varje enhet ska vara en text (HSA-id)",
                                ));
                                continue 'chains;
                            }
                        }
                    }
                }
                ("units", _) => {
                    out.bad
                        .push(shape(line, "units", "units ska vara en lista av HSA-id"));
                    continue 'chains;
                }
                (_, serde_json::Value::String(s)) => {
                    if !s.trim().is_empty() {
                        row.fields.insert(name, s.trim().to_string());
                    }
                }
                _ => {
                    out.bad
                        .push(shape(line, name, "ska vara en text (eller null)"));
                    continue 'chains;
                }
            }
        }
        out.rows.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quoted_fields_hold_delimiters_quotes_and_line_breaks() {
        let text = "a,\"b,c\",\"d \"\"e\"\"\"\r\n\n\"f\ng\",h,\n";
        let r = csv_records(text, ',', 10).expect("reads");
        assert_eq!(
            r,
            vec![
                (1, vec!["a".into(), "b,c".into(), "d \"e\"".into()]),
                (3, vec!["f\ng".into(), "h".into(), "".into()]),
            ]
        );
    }

    #[test]
    fn broken_quotes_name_their_line() {
        let e = csv_records("a,b\nc,\"d\n", ',', 10).expect_err("unterminated");
        assert_eq!(e.line, 2);
        let e = csv_records("a,b\nc,d\"e\n", ',', 10).expect_err("stray quote");
        assert_eq!(e.line, 2);
        let e = csv_records("\"a\"b,c\n", ',', 10).expect_err("after quote");
        assert_eq!(e.line, 1);
        assert!(csv_records("a\nb\nc\n", ',', 2).is_err());
    }

    #[test]
    fn json_objects_are_found_on_their_lines() {
        let text = "{\"format\":1,\"taken_at\":\"x{\",\n\"chains\":[\n{\"patient\":\"a}\"},\n\n  {\"patient\":\"b\"}]}";
        assert_eq!(chain_lines(text), vec![3, 5]);
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zåäö0-9 :-]{0,12}",
            "[a-z,;\"\n\r ]{0,8}",
            any::<String>().prop_map(|s| s.chars().take(10).collect()),
        ]
    }

    proptest! {
        /// What the writer writes, the reader reads back, field for field, with the line
        /// each record starts on.
        #[test]
        fn written_records_read_back(
            records in prop::collection::vec(prop::collection::vec(field(), 1..6), 1..8),
            semicolon in any::<bool>(),
        ) {
            let d = if semicolon { ';' } else { ',' };
            let text = csv_write(&records, d);
            let read = csv_records(&text, d, 100).expect("its own output reads");
            let fields: Vec<Vec<String>> = read.iter().map(|(_, f)| f.clone()).collect();
            // A CR alone inside a quoted field is kept; only CRLF outside quotes ends a line.
            prop_assert_eq!(&fields, &records);
            let mut line = 1;
            for ((at, _), r) in read.iter().zip(&records) {
                prop_assert_eq!(*at, line);
                line += 1 + r.iter().map(|f| f.matches('\n').count()).sum::<usize>();
            }
        }

        /// Any text reads or is refused with a line inside it, never a panic.
        #[test]
        fn any_text_reads_or_names_a_line(text in any::<String>(), semicolon in any::<bool>()) {
            let d = if semicolon { ';' } else { ',' };
            let lines = text.matches('\n').count() + 1;
            match csv_records(&text, d, 1000) {
                Ok(records) => {
                    for (at, fields) in &records {
                        prop_assert!(*at >= 1 && *at <= lines);
                        prop_assert!(!fields.is_empty() && fields.len() <= FIELDS_MAX);
                    }
                }
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines),
            }
            let _ = read(&text);
        }
    }
}
