//! Checking patient and unit identifiers, one at a time or a list of many.

use std::io::{BufRead, Write};

use reservnod_proto::patient::CivilDate;

/// Longest input line considered; longer lines are reported, not read into memory whole.
const LINE_BYTES_MAX: usize = 256;

pub use crate::care::api::{check_id as check, IdCheck};

/// Writes one result as a text line (tab-separated) or a JSON line.
pub fn write_result(out: &mut impl Write, r: &IdCheck, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, r).map_err(std::io::Error::other)?;
        writeln!(out)
    } else if r.valid {
        writeln!(
            out,
            "{}\t{}\t{}",
            r.canonical.as_deref().unwrap_or(""),
            r.kind.as_deref().unwrap_or(""),
            r.input
        )
    } else {
        writeln!(
            out,
            "{}\tFEL\t{}",
            r.input,
            r.error.as_deref().unwrap_or("")
        )
    }
}

/// Counts from a bulk check.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Valid identifiers.
    pub valid: u64,
    /// Invalid identifiers.
    pub invalid: u64,
}

/// Checks every non-empty line of `input`, streaming (memory does not grow with the list).
pub fn check_lines(
    input: impl BufRead,
    out: &mut impl Write,
    today: CivilDate,
    json: bool,
) -> std::io::Result<Tally> {
    let mut tally = Tally::default();
    let mut reader = input;
    let mut line = Vec::with_capacity(LINE_BYTES_MAX);
    loop {
        line.clear();
        let n = std::io::Read::take(&mut reader, LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > LINE_BYTES_MAX {
            // Skip the rest of an over-long line without holding it.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let m = std::io::Read::take(&mut reader, 64 * 1024).read_until(b'\n', &mut sink)?;
                if m == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
            let r = IdCheck {
                input: String::from_utf8_lossy(&line[..32]).into_owned() + "…",
                valid: false,
                kind: None,
                canonical: None,
                error: Some(format!("raden är längre än {LINE_BYTES_MAX} tecken")),
            };
            tally.invalid += 1;
            write_result(out, &r, json)?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let r = check(&text, today);
        if r.valid {
            tally.valid += 1;
        } else {
            tally.invalid += 1;
        }
        write_result(out, &r, json)?;
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: CivilDate = CivilDate {
        year: 2026,
        month: 11,
        day: 23,
    };

    #[test]
    fn kinds_and_errors() {
        let r = check(" 640823-3234 ", TODAY);
        assert!(r.valid);
        assert_eq!(r.canonical.as_deref(), Some("19640823-3234"));
        assert_eq!(r.kind.as_deref(), Some("personnummer"));
        assert_eq!(
            check("701063-2391", TODAY).kind.as_deref(),
            Some("samordningsnummer")
        );
        assert_eq!(
            check("se2321000081-abc1", TODAY).canonical.as_deref(),
            Some("SE2321000081-ABC1")
        );
        let bad = check("640823-3235", TODAY);
        assert!(!bad.valid);
        assert!(
            bad.error.as_deref().unwrap_or("").contains("kontrollsiffr"),
            "{bad:?}"
        );
    }

    #[test]
    fn bulk_lines_stream_and_count() {
        let input = "19121212-1212\n\n640823-3235\n".to_string()
            + &"9".repeat(1000)
            + "\nSE2321000081-X1\n";
        let mut out = Vec::new();
        let tally = check_lines(input.as_bytes(), &mut out, TODAY, false).expect("in memory");
        assert_eq!(
            tally,
            Tally {
                valid: 2,
                invalid: 2
            }
        );
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("längre än"));
    }
}
