//! Patient and care-unit identifiers at the crate boundary: the shared personnummer test
//! list, Skatteverket's test numbers, and property tests over generated (synthetic) ids.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use reservnod_proto::hsa::{HsaId, HsaIdError, HSA_ID_LEN_MAX};
use reservnod_proto::patient::{CivilDate, PatientId, PatientIdError, PatientIdKind};
use serde::Deserialize;

/// Fixed reference date, so century inference does not depend on when the tests run.
const TODAY: CivilDate = CivilDate {
    year: 2026,
    month: 11,
    day: 23,
};

const FIXTURE: &str = "shared/fixtures/personnummer-meta-list.json";

/// Finds `shared/` by walking up from the crate: it sits beside the repository (or beside
/// a scratch crate), so the same test works wherever the crate is checked out.
fn fixture_path() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join(FIXTURE))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "fixture {FIXTURE} not found in {} or any directory above it; \
                 shared/ must sit beside the repository",
                manifest.display()
            )
        })
}

/// One entry of the personnummer project's shared test list.
#[derive(Deserialize)]
struct Entry {
    long_format: String,
    short_format: String,
    separated_format: String,
    separated_long: String,
    valid: bool,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "isMale")]
    is_male: bool,
    #[serde(rename = "isFemale")]
    is_female: bool,
}

#[test]
fn agrees_with_personnummer_meta_list() {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let entries: Vec<Entry> = serde_json::from_str(&text).expect("fixture is valid JSON");
    assert!(entries.len() >= 10, "fixture looks truncated");

    for entry in &entries {
        let spellings = [
            ("long_format", &entry.long_format),
            ("short_format", &entry.short_format),
            ("separated_format", &entry.separated_format),
            ("separated_long", &entry.separated_long),
        ];
        for (field, spelling) in spellings {
            let parsed = PatientId::parse_at(spelling, TODAY);
            assert_eq!(
                parsed.is_ok(),
                entry.valid,
                "{field} {spelling:?}: expected valid = {}, got {parsed:?}",
                entry.valid
            );
            let Ok(id) = parsed else { continue };
            let kind = match entry.kind.as_str() {
                "ssn" => PatientIdKind::Personnummer,
                "con" => PatientIdKind::Samordningsnummer,
                other => panic!("unknown type {other:?} in fixture"),
            };
            assert_eq!(id.kind(), kind, "{field} {spelling:?}");
            assert_eq!(id.is_male(), Some(entry.is_male), "{field} {spelling:?}");
            assert_eq!(
                id.is_female(),
                Some(entry.is_female),
                "{field} {spelling:?}"
            );
            // Ten digits without a separator take their century from the reference date,
            // which may differ from the fixture's person (0905271474 is 2009 today).
            if field != "short_format" {
                let long = &entry.long_format;
                let expected = format!("{}-{}", &long[..8], &long[8..]);
                assert_eq!(id.canonical(), expected, "{field} {spelling:?}");
            }
        }
    }
}

#[test]
fn skatteverket_test_numbers() {
    for (input, canonical, kind) in [
        (
            "19121212-1212",
            "19121212-1212",
            PatientIdKind::Personnummer,
        ),
        ("640823-3234", "19640823-3234", PatientIdKind::Personnummer),
        (
            "701063-2391",
            "19701063-2391",
            PatientIdKind::Samordningsnummer,
        ),
    ] {
        let id = PatientId::parse_at(input, TODAY).expect("Skatteverket's test number");
        assert_eq!(id.canonical(), canonical);
        assert_eq!(id.kind(), kind);
        assert_eq!(id.to_string(), canonical);
        assert_eq!(canonical.parse::<PatientId>(), Ok(id));
    }
}

#[test]
fn fixture_is_found_above_the_crate() {
    // The walk ends at the filesystem root; a missing fixture fails with the path searched.
    assert!(fixture_path().ends_with(FIXTURE));
}

/// Independent Luhn oracle for generated numbers.
fn luhn(nine: &[u8]) -> u8 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let p = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_days(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A generated (synthetic) personnummer or samordningsnummer, born on or before `TODAY`
/// and at most 199 years old then, so its short form is unambiguous.
#[derive(Debug, Clone)]
struct Generated {
    birth: CivilDate,
    samordning: bool,
    serial: u32,
    check: u8,
}

impl Generated {
    /// `YYMMDD` + `NNN` + check digit as digits, day + 60 for samordningsnummer.
    fn ten(&self) -> String {
        let day = self.birth.day + if self.samordning { 60 } else { 0 };
        format!(
            "{:02}{:02}{:02}{:03}{}",
            self.birth.year % 100,
            self.birth.month,
            day,
            self.serial,
            self.check
        )
    }

    fn century(&self) -> i32 {
        self.birth.year / 100
    }

    fn age(&self) -> i32 {
        let mut age = TODAY.year - self.birth.year;
        if (TODAY.month, TODAY.day) < (self.birth.month, self.birth.day) {
            age -= 1;
        }
        age
    }

    fn canonical(&self) -> String {
        let ten = self.ten();
        format!("{}{}-{}", self.century(), &ten[..6], &ten[6..])
    }

    /// Every accepted spelling of this number on `TODAY`.
    fn spellings(&self) -> Vec<String> {
        let ten = self.ten();
        let (date, last) = ten.split_at(6);
        let c = self.century();
        let short_sep = if self.age() >= 100 { '+' } else { '-' };
        let mut all = vec![
            format!("{c}{ten}"),
            format!("{c}{date}-{last}"),
            format!("{c}{date}+{last}"),
            format!("{date}{short_sep}{last}"),
            format!("  {date}{short_sep}{last}\t"),
        ];
        if self.age() < 100 {
            all.push(ten.clone());
        }
        all
    }
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        1827i32..=2026,
        1u32..=12,
        1u32..=31,
        any::<bool>(),
        1u32..=999,
    )
        .prop_filter_map(
            "a real date on or before the reference",
            |(y, m, d, s, n)| {
                let birth = CivilDate::new(y, m, d.min(month_days(y, m)))?;
                if birth > TODAY {
                    return None;
                }
                let mut g = Generated {
                    birth,
                    samordning: s,
                    serial: n,
                    check: 0,
                };
                let nine: Vec<u8> = g.ten().bytes().take(9).map(|b| b - b'0').collect();
                g.check = luhn(&nine);
                Some(g)
            },
        )
}

fn any_date() -> impl Strategy<Value = CivilDate> {
    (any::<i32>(), any::<u32>(), any::<u32>()).prop_map(|(year, month, day)| CivilDate {
        year,
        month,
        day,
    })
}

/// A valid organisation number: nine random digits and their check digit.
fn org_number() -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..=9, 9).prop_map(|nine| {
        let check = luhn(&nine);
        nine.iter()
            .chain([check].iter())
            .map(|d| char::from(b'0' + d))
            .collect()
    })
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>(), t in any::<String>(), today in any_date()) {
        let _ = PatientId::parse_at(&s, today);
        let _ = PatientId::parse(&s);
        let _ = PatientId::reservnummer(&s, &t);
        let _ = HsaId::parse(&s);
        let _ = serde_json::from_value::<PatientId>(serde_json::Value::String(s.clone()));
        let _ = serde_json::from_value::<HsaId>(serde_json::Value::String(s));
    }

    #[test]
    fn near_miss_strings_never_panic(
        s in "[0-9+\\- R:a-zA-Zåäö]{0,16}",
        today in any_date(),
    ) {
        if let Ok(id) = PatientId::parse_at(&s, today) {
            // Whatever parses has a canonical form that reads back.
            prop_assert_eq!(PatientId::parse(id.canonical()), Ok(id.clone()));
            let _ = id.to_short_form(today);
            let _ = id.age_at(today);
        }
        let _ = HsaId::parse(&s);
        let _ = HsaId::parse(&format!("SE{s}"));
    }

    #[test]
    fn every_spelling_gives_the_same_canonical_form(g in generated()) {
        let canonical = g.canonical();
        let kind = if g.samordning {
            PatientIdKind::Samordningsnummer
        } else {
            PatientIdKind::Personnummer
        };
        for spelling in g.spellings() {
            let id = PatientId::parse_at(&spelling, TODAY)
                .map_err(|e| TestCaseError::fail(format!("{spelling:?}: {e}")))?;
            prop_assert_eq!(id.canonical(), canonical.as_str(), "{:?}", spelling);
            prop_assert_eq!(id.kind(), kind);
            prop_assert_eq!(id.birth_date(), Some(g.birth));
            prop_assert_eq!(id.is_male(), Some(g.serial % 2 == 1));
        }
        // canonical -> parse -> canonical is the identity, with and without a date.
        let id = PatientId::parse(&canonical).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(id.canonical(), canonical.as_str());
        prop_assert_eq!(&PatientId::parse_at(&canonical, TODAY), &Ok(id.clone()));
        // The short form for the same day reads back to the same id.
        let short = id.to_short_form(TODAY).expect("not a reservnummer");
        prop_assert_eq!(&PatientId::parse_at(&short, TODAY), &Ok(id.clone()));
        // Serde is the canonical string.
        let json = serde_json::to_string(&id).expect("serializes");
        prop_assert_eq!(&json, &format!("\"{canonical}\""));
        prop_assert_eq!(serde_json::from_str::<PatientId>(&json).ok(), Some(id));
    }

    #[test]
    fn a_changed_check_digit_always_fails(g in generated(), delta in 1u8..=9) {
        let wrong = (g.check + delta) % 10;
        let bad = Generated { check: wrong, ..g.clone() };
        for spelling in bad.spellings() {
            prop_assert_eq!(
                PatientId::parse_at(&spelling, TODAY),
                Err(PatientIdError::CheckDigit { expected: g.check, found: wrong }),
                "{:?}", spelling
            );
        }
    }

    #[test]
    fn reservnummer_round_trips(issuer in "[A-Za-z0-9-]{1,31}", value in "[A-Za-z0-9-]{1,20}") {
        let id = PatientId::reservnummer(&issuer, &value)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = format!("R:{}:{}", issuer.to_ascii_uppercase(), value.to_ascii_uppercase());
        prop_assert_eq!(id.canonical(), expected.as_str());
        prop_assert_eq!(id.kind(), PatientIdKind::Reservnummer);
        prop_assert_eq!(&PatientId::parse(id.canonical()), &Ok(id.clone()));
        prop_assert_eq!(&PatientId::parse_at(id.canonical(), TODAY), &Ok(id.clone()));
        let json = serde_json::to_string(&id).expect("serializes");
        prop_assert_eq!(serde_json::from_str::<PatientId>(&json).ok(), Some(id));
    }

    #[test]
    fn hsa_id_round_trips(org in org_number(), local in "[A-Za-z0-9]{1,18}", lower in any::<bool>()) {
        let prefix = if lower { "se" } else { "SE" };
        let input = format!("{prefix}{org}-{local}");
        let id = HsaId::parse(&input).map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        prop_assert_eq!(id.as_str(), input.to_ascii_uppercase());
        prop_assert_eq!(id.organisation_number(), Some(org.as_str()));
        prop_assert!(!id.is_local());
        prop_assert_eq!(&id.as_str().parse::<HsaId>(), &Ok(id.clone()));
        let json = serde_json::to_string(&id).expect("serializes");
        prop_assert_eq!(serde_json::from_str::<HsaId>(&json).ok(), Some(id));
    }

    #[test]
    fn local_id_round_trips(local in "[A-Za-z0-9]{1,25}") {
        let id = HsaId::parse(&format!("LOCAL-{local}"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(id.is_local());
        prop_assert_eq!(id.local_part(), local.to_ascii_uppercase());
        prop_assert_eq!(&HsaId::parse(id.as_str()), &Ok(id.clone()));
    }

    #[test]
    fn hsa_id_rejects_swedish_letters(
        org in org_number(),
        local in "[A-Za-z0-9]{1,17}",
        at in any::<prop::sample::Index>(),
        ch in prop::sample::select(vec!['å', 'ä', 'ö', 'Å', 'Ä', 'Ö']),
    ) {
        let cut = at.index(local.len() + 1);
        let input = format!("SE{org}-{}{ch}{}", &local[..cut], &local[cut..]);
        prop_assert_eq!(
            HsaId::parse(&input),
            Err(HsaIdError::InvalidLocalCharacter { ch, position: 13 + cut })
        );
    }

    #[test]
    fn hsa_id_rejects_over_long_ids(org in org_number(), local in "[A-Za-z0-9]{19,60}") {
        let input = format!("SE{org}-{local}");
        prop_assert!(input.len() > HSA_ID_LEN_MAX);
        prop_assert_eq!(HsaId::parse(&input), Err(HsaIdError::TooLong { len: input.len() }));
    }

    #[test]
    fn hsa_id_rejects_a_wrong_org_check_digit(org in org_number(), delta in 1u8..=9) {
        let found = (org.as_bytes()[9] - b'0' + delta) % 10;
        let input = format!("SE{}{found}-A1", &org[..9]);
        let is_check_error = matches!(
            HsaId::parse(&input),
            Err(HsaIdError::OrgNumberCheckDigit { .. })
        );
        prop_assert!(is_check_error, "{}", input);
    }
}
