//! Patient identifiers: personnummer, samordningsnummer and reservnummer.
//!
//! A [`PatientId`] is stored in one canonical form:
//! - personnummer and samordningsnummer: the 12-digit long form with a hyphen,
//!   `YYYYMMDD-NNNC` (for example `19121212-1212`). A samordningsnummer keeps its day + 60
//!   (`19701063-2391`). The hyphen is used whatever the age: the `+` of the 10-digit form
//!   only matters when the century is missing.
//! - reservnummer: `R:<issuer>:<value>` in upper case (for example
//!   `R:SE2321000081:BLE12345AB`). There is no national format, so a reservnummer is opaque
//!   and carries who issued it; it is never Luhn-checked.
//!
//! Two ways in:
//! - [`PatientId::parse_at`] is the parser for what people type: every common spelling
//!   (`YYMMDD-NNNC`, `YYMMDD+NNNC`, `YYMMDDNNNC`, `YYYYMMDDNNNC`, `YYYYMMDD-NNNC`,
//!   `YYYYMMDD+NNNC`) and the canonical reservnummer. A 10-digit spelling lacks the century,
//!   which depends on today's date; this crate never reads the clock, so the caller passes
//!   `today`.
//! - [`FromStr`] (and [`PatientId::parse`]) reads stored forms only: 12 digits with `-` or
//!   `+`, or `R:<issuer>:<value>` (any case; `r:` too). Deserialization is stricter still:
//!   only the exact canonical string is accepted, so one patient has one encoding.
//!
//! Errors name what is wrong (a character and where, a length, an impossible date, a wrong
//! check digit) without echoing the whole number.

use crate::idtext::{char_sv, digits_sv, luhn_check_digit};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Earliest birth year accepted. People born in the 1800s got personnummer when the system
/// started in 1947; anything earlier is a typing error.
pub const BIRTH_YEAR_MIN: i32 = 1800;
/// Latest birth year that fits the four-digit year of the canonical form.
pub const BIRTH_YEAR_MAX: i32 = 9999;
/// Longest reservnummer issuer (an HSA-id is at most 31 characters).
pub const RESERVNUMMER_ISSUER_LEN_MAX: usize = 31;
/// Longest reservnummer value. Regional formats are shorter; the bound keeps ids small.
pub const RESERVNUMMER_VALUE_LEN_MAX: usize = 20;

/// Prefix of the canonical reservnummer form `R:<issuer>:<value>`.
const RESERV_PREFIX: &str = "R:";

/// A calendar date (proleptic Gregorian), used for birth dates and for the reference date
/// ("today") that the caller passes in. No time zone: a date as a person would say it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CivilDate {
    /// Year, for example 2026.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
}

impl CivilDate {
    /// Returns the date if it exists in the Gregorian calendar (leap years included).
    pub const fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let date = Self { year, month, day };
        if date.is_valid() {
            Some(date)
        } else {
            None
        }
    }

    /// Whether this date exists: month 1 to 12 and a day that the month has.
    pub const fn is_valid(&self) -> bool {
        self.day >= 1 && self.day <= days_in_month(self.year, self.month)
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Gregorian leap year: every fourth year, except centuries not divisible by 400.
const fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`; 0 for a month that does not exist, so no day fits.
const fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Which kind of patient identifier this is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatientIdKind {
    /// A Swedish personal identity number from Skatteverket.
    Personnummer,
    /// A coordination number for people not registered in Sweden (day of birth + 60).
    Samordningsnummer,
    /// A temporary local number for a patient who is not (yet) identified.
    Reservnummer,
}

impl PatientIdKind {
    /// The Swedish term, as shown in the user interface.
    pub const fn as_str_sv(&self) -> &'static str {
        match self {
            Self::Personnummer => "personnummer",
            Self::Samordningsnummer => "samordningsnummer",
            Self::Reservnummer => "reservnummer",
        }
    }
}

impl fmt::Display for PatientIdKind {
    /// The glossary term; the Swedish words are used in English text too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str_sv())
    }
}

/// Why a string is not a valid patient identifier. Positions are 0-based character indices
/// into the input after surrounding whitespace is trimmed (for reservnummer parts: into
/// that part).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PatientIdError {
    /// The input is empty or only whitespace.
    #[error("the patient id is empty")]
    Empty,
    /// A character that is neither a digit nor a separator (`-` or `+`).
    #[error(
        "invalid character {ch:?} at index {position}: a personnummer or samordningsnummer \
         has only digits and one '-' or '+' before the last four digits (a reservnummer \
         reads R:<issuer>:<value>)"
    )]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character index in the trimmed input.
        position: usize,
    },
    /// Not 10 or 12 digits.
    #[error("expected 10 or 12 digits, got {digits}")]
    WrongLength {
        /// How many digits the input has.
        digits: usize,
    },
    /// A second separator, or a separator anywhere but right before the last four digits.
    #[error(
        "separator {ch:?} at index {position} is misplaced: one '-' or '+' may stand right \
         before the last four digits"
    )]
    MisplacedSeparator {
        /// The separator (`-` or `+`).
        ch: char,
        /// Its 0-based character index in the trimmed input.
        position: usize,
    },
    /// [`FromStr`] got a spelling that is not a stored form; only [`PatientId::parse_at`]
    /// reads it (10 digits need today's date for the century), or serde got a non-canonical
    /// string.
    #[error(
        "not a stored patient id: expected YYYYMMDD-NNNC or R:<issuer>:<value> exactly; \
         other spellings must be read with PatientId::parse_at and a reference date"
    )]
    NotCanonical,
    /// The birth year is before 1800 (or after 9999).
    #[error("birth year {year} is out of range: expected {BIRTH_YEAR_MIN} to {BIRTH_YEAR_MAX}")]
    YearOutOfRange {
        /// The year as read or inferred.
        year: i32,
    },
    /// The birth date does not exist: month 13, day 0, 30 February, 29 February in a
    /// non-leap year, or a day that is neither 1 to 31 nor 61 to 91.
    #[error("birth date {}", impossible_date_message(*.year, *.month, *.day, *.samordningsnummer))]
    ImpossibleDate {
        /// Birth year (read or inferred).
        year: i32,
        /// Month as written.
        month: u32,
        /// Day of the month: as written, or minus 60 for a samordningsnummer.
        day: u32,
        /// Whether the day was written as day + 60 (a samordningsnummer).
        samordningsnummer: bool,
    },
    /// The birth date is after the reference date.
    #[error("birth date {birth_date} is after today ({today}); check the century and the date")]
    BornInFuture {
        /// The birth date read from the number.
        birth_date: CivilDate,
        /// The reference date passed as today.
        today: CivilDate,
    },
    /// The birth number (digits 7 to 9 of the 10-digit form) is 000, which is never issued.
    #[error("birth number 000 is never issued (the three digits before the check digit)")]
    ZeroSerial,
    /// The last digit does not match the Luhn check digit of the nine before it.
    #[error(
        "wrong check digit: the number ends in {found} but the digits before it give \
         {expected}; a digit is probably mistyped"
    )]
    CheckDigit {
        /// The check digit computed from the first nine digits of the 10-digit form.
        expected: u8,
        /// The last digit as written.
        found: u8,
    },
    /// Starts with `R:` but has no second `:` between issuer and value.
    #[error("a reservnummer must read R:<issuer>:<value>; the ':' after the issuer is missing")]
    MalformedReservnummer,
    /// The reservnummer issuer is empty or longer than 31 characters.
    #[error(
        "the reservnummer issuer must be 1 to {RESERVNUMMER_ISSUER_LEN_MAX} characters, \
         got {len}"
    )]
    IssuerLength {
        /// Length of the issuer in characters.
        len: usize,
    },
    /// The reservnummer issuer has a character outside `A-Z a-z 0-9 -`.
    #[error(
        "invalid character {ch:?} at index {position} of the reservnummer issuer: only \
         A-Z, a-z, 0-9 and '-' are allowed"
    )]
    InvalidIssuerCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character index in the issuer.
        position: usize,
    },
    /// The reservnummer value is empty or longer than 20 characters.
    #[error("the reservnummer must be 1 to {RESERVNUMMER_VALUE_LEN_MAX} characters, got {len}")]
    ReservnummerLength {
        /// Length of the value in characters.
        len: usize,
    },
    /// The reservnummer value has a character outside `A-Z a-z 0-9 -`.
    #[error(
        "invalid character {ch:?} at index {position} of the reservnummer: only A-Z, a-z, \
         0-9 and '-' are allowed"
    )]
    InvalidReservnummerCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character index in the value.
        position: usize,
    },
}

/// Says why a date does not exist, for [`PatientIdError::ImpossibleDate`].
fn impossible_date_message(year: i32, month: u32, day: u32, samordningsnummer: bool) -> String {
    let written = if samordningsnummer {
        format!(" (samordningsnummer day {} = {day} + 60)", day + 60)
    } else {
        String::new()
    };
    let head = format!("{year:04}-{month:02}-{day:02}{written} does not exist");
    let why = match MONTH_NAMES.get((month as usize).wrapping_sub(1)) {
        None => format!("there is no month {month:02}"),
        Some(_) if day == 0 => "there is no day 00".to_owned(),
        Some(name) => {
            let hint = if !samordningsnummer && day > 31 {
                "; a samordningsnummer has day + 60, that is 61 to 91"
            } else {
                ""
            };
            format!(
                "{name} {year} has {} days{hint}",
                days_in_month(year, month)
            )
        }
    };
    format!("{head}: {why}")
}

/// Month names in Swedish, in lower case as in running text.
const MONTH_NAMES_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// The characters allowed in a reservnummer, in words, for the Swedish messages.
const RESERV_CHARS_SV: &str =
    "bara bokstäverna A–Z, stora eller små (inte å, ä eller ö), siffror och bindestreck '-' \
     får användas";

impl PatientIdError {
    /// The same error as a Swedish sentence for the staff who typed the number.
    ///
    /// It says what is wrong in everyday words, with the same facts as the English
    /// [`Display`](fmt::Display) text (which stays English, for logs). Positions are
    /// 1-based ("plats 1" is the first character), counted as in the error: in the trimmed
    /// input, or in the reservnummer part concerned. Like the English text, it starts with
    /// a lower-case letter (unless it starts with a name) and has no full stop, so the
    /// caller can put it after a heading such as "Ogiltigt personnummer: ".
    pub fn message_sv(&self) -> String {
        match self {
            Self::Empty => {
                "numret är tomt: skriv in ett personnummer, samordningsnummer eller reservnummer"
                    .to_owned()
            }
            Self::InvalidCharacter { ch, position } => format!(
                "{} på plats {} är inte tillåtet: ett personnummer eller samordningsnummer \
                 består bara av siffror och ett '-' eller '+' före de fyra sista siffrorna \
                 (ett reservnummer skrivs R:<utfärdare>:<nummer>)",
                char_sv(*ch),
                position.saturating_add(1)
            ),
            Self::WrongLength { digits } => format!(
                "numret har {}, men ett personnummer eller samordningsnummer ska ha 10 eller \
                 12 siffror",
                digits_sv(*digits)
            ),
            Self::MisplacedSeparator { ch, position } => format!(
                "{} på plats {} står på fel ställe: det får bara finnas ett '-' eller '+', \
                 och det ska stå direkt före de fyra sista siffrorna",
                char_sv(*ch),
                position.saturating_add(1)
            ),
            Self::NotCanonical => {
                "numret är inte skrivet i den form som sparas, ÅÅÅÅMMDD-NNNN eller \
                 R:<utfärdare>:<nummer>; andra skrivsätt (till exempel med bara 10 siffror) \
                 kan bara läsas tillsammans med dagens datum, som avgör vilket århundrade det \
                 gäller"
                    .to_owned()
            }
            Self::YearOutOfRange { year } => format!(
                "födelseåret {year} är inte möjligt: det måste vara mellan {BIRTH_YEAR_MIN} \
                 och {BIRTH_YEAR_MAX}"
            ),
            Self::ImpossibleDate {
                year,
                month,
                day,
                samordningsnummer,
            } => impossible_date_message_sv(*year, *month, *day, *samordningsnummer),
            Self::BornInFuture { birth_date, today } => format!(
                "födelsedatumet {birth_date} ligger efter dagens datum ({today}): kontrollera \
                 århundradet och datumet"
            ),
            Self::ZeroSerial => "födelsenumret 000 (de tre siffrorna före kontrollsiffran) \
                 delas aldrig ut – kontrollera att numret är rätt inskrivet"
                .to_owned(),
            Self::CheckDigit { expected, found } => format!(
                "kontrollsiffran stämmer inte (den borde vara {expected}, men är {found}) – \
                 kontrollera att numret är rätt inskrivet, troligen är någon siffra fel"
            ),
            Self::MalformedReservnummer => "ett reservnummer skrivs R:<utfärdare>:<nummer>, \
                 men kolonet ':' efter utfärdaren saknas"
                .to_owned(),
            Self::IssuerLength { len } => format!(
                "utfärdaren i reservnumret har {len} tecken, men ska ha 1 till \
                 {RESERVNUMMER_ISSUER_LEN_MAX} tecken"
            ),
            Self::InvalidIssuerCharacter { ch, position } => format!(
                "{} på plats {} i reservnumrets utfärdare är inte tillåtet: {RESERV_CHARS_SV}",
                char_sv(*ch),
                position.saturating_add(1)
            ),
            Self::ReservnummerLength { len } => format!(
                "reservnumret (delen efter utfärdaren) har {len} tecken, men ska ha 1 till \
                 {RESERVNUMMER_VALUE_LEN_MAX} tecken"
            ),
            Self::InvalidReservnummerCharacter { ch, position } => format!(
                "{} på plats {} i reservnumret (delen efter utfärdaren) är inte tillåtet: \
                 {RESERV_CHARS_SV}",
                char_sv(*ch),
                position.saturating_add(1)
            ),
        }
    }
}

/// Says in Swedish why a date does not exist, for [`PatientIdError::message_sv`].
fn impossible_date_message_sv(year: i32, month: u32, day: u32, samordningsnummer: bool) -> String {
    let written = if samordningsnummer {
        format!(
            " (samordningsnummer med dag {} = {day} + 60)",
            day.saturating_add(60)
        )
    } else {
        String::new()
    };
    let head = format!("födelsedatumet {year:04}-{month:02}-{day:02}{written} finns inte");
    let why = match MONTH_NAMES_SV.get((month as usize).wrapping_sub(1)) {
        None => format!("det finns ingen månad {month:02}"),
        Some(_) if day == 0 => "det finns ingen dag 00".to_owned(),
        Some(name) => {
            let hint = if !samordningsnummer && day > 31 {
                "; ett samordningsnummer har dag + 60, alltså 61 till 91"
            } else {
                ""
            };
            format!(
                "{name} {year} har {} dagar{hint}",
                days_in_month(year, month)
            )
        }
    };
    format!("{head}: {why}")
}

/// A validated patient identifier in canonical form (see the module doc).
///
/// Ordering is by the canonical string: personnummer and samordningsnummer by birth date,
/// then reservnummer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PatientId {
    // Invariant: for personnummer and samordningsnummer exactly 13 ASCII bytes
    // `YYYYMMDD-NNNC` that passed every check; for reservnummer `R:<ISSUER>:<VALUE>`.
    canonical: String,
    kind: PatientIdKind,
}

/// Byte offsets in the canonical `YYYYMMDD-NNNC` form.
const CANON_LEN: usize = 13;
const CANON_SEP: usize = 8;
const CANON_GENDER_DIGIT: usize = 11;

impl PatientId {
    /// Parses what a person typed, with `today` as the reference date for the century.
    ///
    /// Accepts, after trimming surrounding whitespace: `YYMMDD-NNNC`, `YYMMDD+NNNC`,
    /// `YYMMDDNNNC`, `YYYYMMDDNNNC`, `YYYYMMDD-NNNC`, `YYYYMMDD+NNNC`, and the reservnummer
    /// form `R:<issuer>:<value>` (any case). For the 10-digit forms the century is the one
    /// that makes the person 0 to 99 years old on `today` (no separator or `-`), or at
    /// least 100 (`+`). With 12 digits the century is as written, whatever the separator,
    /// and a birth date after `today` is rejected. Internal spaces are rejected.
    ///
    /// This is the parser for user input; the CLI passes the local date.
    pub fn parse_at(s: &str, today: CivilDate) -> Result<Self, PatientIdError> {
        parse_inner(s, Some(today))
    }

    /// Parses a stored form: `YYYYMMDD-NNNC`, `YYYYMMDD+NNNC` or `R:<issuer>:<value>`
    /// (any case), trimmed of surrounding whitespace.
    ///
    /// Other spellings return [`PatientIdError::NotCanonical`]: a 10-digit form needs a
    /// reference date, so read user input with [`PatientId::parse_at`]. A birth date in
    /// the future is not detected here (there is no "today").
    pub fn parse(s: &str) -> Result<Self, PatientIdError> {
        parse_inner(s, None)
    }

    /// Builds a reservnummer from its issuer and value.
    ///
    /// `issuer` names who issued the number: an HSA-id or a short organisation code,
    /// 1 to 31 characters of `A-Z a-z 0-9 -`. `value` is the number itself, 1 to 20
    /// characters of the same set. Both are trimmed of surrounding whitespace and stored
    /// in upper case. The value is opaque: no check digit is computed.
    pub fn reservnummer(issuer: &str, value: &str) -> Result<Self, PatientIdError> {
        build_reservnummer(issuer.trim(), value.trim())
    }

    /// Which kind of identifier this is.
    pub const fn kind(&self) -> PatientIdKind {
        self.kind
    }

    /// Whether this is a reservnummer (the UI shows it as such).
    pub fn is_reservnummer(&self) -> bool {
        self.kind == PatientIdKind::Reservnummer
    }

    /// The canonical form: `YYYYMMDD-NNNC` or `R:<issuer>:<value>`.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Issuer and value of a reservnummer; `None` for personnummer and samordningsnummer.
    pub fn reservnummer_parts(&self) -> Option<(&str, &str)> {
        if self.kind != PatientIdKind::Reservnummer {
            return None;
        }
        // The issuer never contains ':', so the first one after the prefix splits them.
        self.canonical
            .strip_prefix(RESERV_PREFIX)
            .and_then(|rest| rest.split_once(':'))
    }

    /// The birth date (for a samordningsnummer the real day, day − 60); `None` for a
    /// reservnummer.
    pub fn birth_date(&self) -> Option<CivilDate> {
        if self.kind == PatientIdKind::Reservnummer {
            return None;
        }
        let year = self.number(0, 4);
        let month = self.number(4, 2);
        let mut day = self.number(6, 2);
        if self.kind == PatientIdKind::Samordningsnummer {
            day -= 60;
        }
        // The canonical year has four digits, so it always fits an i32.
        Some(CivilDate {
            year: i32::try_from(year).expect("a four-digit year fits i32"),
            month,
            day,
        })
    }

    /// Whole years of age on `today`; `None` for a reservnummer or if `today` is before the
    /// birth date.
    pub fn age_at(&self, today: CivilDate) -> Option<u32> {
        let born = self.birth_date()?;
        let mut years = i64::from(today.year) - i64::from(born.year);
        if (today.month, today.day) < (born.month, born.day) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }

    /// `Some(true)` for a man (third digit of the birth number odd), `Some(false)` for a
    /// woman; `None` for a reservnummer.
    pub fn is_male(&self) -> Option<bool> {
        if self.kind == PatientIdKind::Reservnummer {
            return None;
        }
        Some(self.number(CANON_GENDER_DIGIT, 1) % 2 == 1)
    }

    /// `Some(true)` for a woman (third digit of the birth number even), `Some(false)` for a
    /// man; `None` for a reservnummer.
    pub fn is_female(&self) -> Option<bool> {
        self.is_male().map(|male| !male)
    }

    /// The 10-digit form `YYMMDD-NNNC`, with `+` instead of `-` if the person is 100 or
    /// older on `today`; `None` for a reservnummer.
    ///
    /// For anyone 0 to 199 years old on `today`, [`PatientId::parse_at`] with the same
    /// `today` reads this back to the same id.
    pub fn to_short_form(&self, today: CivilDate) -> Option<String> {
        if self.kind == PatientIdKind::Reservnummer {
            return None;
        }
        let sep = match self.age_at(today) {
            Some(age) if age >= 100 => '+',
            _ => '-',
        };
        let mut out = String::with_capacity(11);
        out.push_str(self.canonical.get(2..CANON_SEP)?);
        out.push(sep);
        out.push_str(self.canonical.get(CANON_SEP + 1..CANON_LEN)?);
        Some(out)
    }

    /// Reads `len` decimal digits of the canonical form from byte `start`.
    fn number(&self, start: usize, len: usize) -> u32 {
        self.canonical.as_bytes()[start..start + len]
            .iter()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
    }
}

impl fmt::Display for PatientId {
    /// The canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl FromStr for PatientId {
    type Err = PatientIdError;

    /// Same as [`PatientId::parse`]: stored forms only.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PatientId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for PatientId {
    /// Accepts only the exact canonical string.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CanonicalVisitor;

        impl serde::de::Visitor<'_> for CanonicalVisitor {
            type Value = PatientId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a canonical patient id (YYYYMMDD-NNNC or R:<issuer>:<value>)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PatientId, E> {
                let id = PatientId::parse(v).map_err(E::custom)?;
                if id.canonical != v {
                    return Err(E::custom(PatientIdError::NotCanonical));
                }
                Ok(id)
            }
        }

        deserializer.deserialize_str(CanonicalVisitor)
    }
}

/// The parser behind [`PatientId::parse_at`] (`today` given) and [`PatientId::parse`]
/// (`today` absent: stored forms only).
fn parse_inner(input: &str, today: Option<CivilDate>) -> Result<PatientId, PatientIdError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(PatientIdError::Empty);
    }
    // Lower-case "r:" is accepted from people; the canonical form has "R:".
    if let Some(rest) = s
        .strip_prefix(RESERV_PREFIX)
        .or_else(|| s.strip_prefix("r:"))
    {
        let (issuer, value) = rest
            .split_once(':')
            .ok_or(PatientIdError::MalformedReservnummer)?;
        // No trimming inside: "R: X :Y" is not a stored form.
        return build_reservnummer(issuer, value);
    }

    // One pass, no allocation: collect up to 12 digits and the one separator.
    let mut digits = [0u8; 12];
    let mut count = 0usize;
    // (separator, its character index, digits before it)
    let mut separator: Option<(char, usize, usize)> = None;
    for (position, ch) in s.chars().enumerate() {
        match ch {
            '0'..='9' => {
                if let Some(slot) = digits.get_mut(count) {
                    *slot = ch as u8 - b'0';
                }
                count += 1;
            }
            '-' | '+' => {
                if separator.is_some() {
                    return Err(PatientIdError::MisplacedSeparator { ch, position });
                }
                separator = Some((ch, position, count));
            }
            _ => return Err(PatientIdError::InvalidCharacter { ch, position }),
        }
    }
    if count != 10 && count != 12 {
        return Err(PatientIdError::WrongLength { digits: count });
    }
    if let Some((ch, position, before)) = separator {
        if before != count - 4 {
            return Err(PatientIdError::MisplacedSeparator { ch, position });
        }
    }
    let plus = matches!(separator, Some(('+', _, _)));

    // From here on the last ten digits are the 10-digit form.
    let (century, ten) = digits[..count].split_at(count - 10);
    let two = |i: usize| u32::from(ten[i]) * 10 + u32::from(ten[i + 1]);
    let (yy, month, written_day) = (two(0), two(2), two(4));
    let (kind, day) = if (61..=91).contains(&written_day) {
        (PatientIdKind::Samordningsnummer, written_day - 60)
    } else {
        (PatientIdKind::Personnummer, written_day)
    };

    let year: i64 = match (century, today) {
        ([c1, c2], _) if separator.is_some() || today.is_some() => {
            i64::from(*c1) * 1000 + i64::from(*c2) * 100 + i64::from(yy)
        }
        ([], Some(today)) => infer_year(yy, month, day, today, plus),
        _ => return Err(PatientIdError::NotCanonical),
    };
    let year = match i32::try_from(year) {
        Ok(y) if (BIRTH_YEAR_MIN..=BIRTH_YEAR_MAX).contains(&y) => y,
        Ok(y) => return Err(PatientIdError::YearOutOfRange { year: y }),
        Err(_) => {
            let year = if year < 0 { i32::MIN } else { i32::MAX };
            return Err(PatientIdError::YearOutOfRange { year });
        }
    };

    let birth_date = CivilDate { year, month, day };
    if !birth_date.is_valid() {
        return Err(PatientIdError::ImpossibleDate {
            year,
            month,
            day,
            samordningsnummer: kind == PatientIdKind::Samordningsnummer,
        });
    }
    if let Some(today) = today {
        if birth_date > today {
            return Err(PatientIdError::BornInFuture { birth_date, today });
        }
    }
    if ten[6..9] == [0, 0, 0] {
        return Err(PatientIdError::ZeroSerial);
    }
    let mut nine = [0u8; 9];
    nine.copy_from_slice(&ten[..9]);
    let expected = luhn_check_digit(&nine);
    let found = ten[9];
    if expected != found {
        return Err(PatientIdError::CheckDigit { expected, found });
    }

    // The one allocation: YYYYMMDD-NNNC.
    let mut canonical = String::with_capacity(CANON_LEN);
    let year_digits = [year / 1000, year / 100 % 10, year / 10 % 10, year % 10];
    for d in year_digits {
        // Each is a single digit because the year is 1800 to 9999.
        canonical.push(char::from(b'0' + d as u8));
    }
    for (i, &d) in ten.iter().enumerate().skip(2) {
        if i == 6 {
            canonical.push('-');
        }
        canonical.push(char::from(b'0' + d));
    }
    debug_assert_eq!(canonical.len(), CANON_LEN);
    Ok(PatientId { canonical, kind })
}

/// Century for a 10-digit form: the latest year ending in `yy` whose date (`month`, `day`)
/// is on or before the reference, where the reference is `today` for "under 100" and
/// `today` minus 100 years for `+` ("100 or older").
fn infer_year(yy: u32, month: u32, day: u32, today: CivilDate, plus: bool) -> i64 {
    // i64 so that no reference date, however odd, overflows.
    let reference_year = i64::from(today.year) - if plus { 100 } else { 0 };
    let mut year = reference_year - (reference_year - i64::from(yy)).rem_euclid(100);
    if (year, month, day) > (reference_year, today.month, today.day) {
        year -= 100;
    }
    year
}

/// Validates the parts of a reservnummer as given (no trimming) and builds it.
fn build_reservnummer(issuer: &str, value: &str) -> Result<PatientId, PatientIdError> {
    let issuer_len = check_reserv_chars(issuer, |ch, position| {
        PatientIdError::InvalidIssuerCharacter { ch, position }
    })?;
    if !(1..=RESERVNUMMER_ISSUER_LEN_MAX).contains(&issuer_len) {
        return Err(PatientIdError::IssuerLength { len: issuer_len });
    }
    let value_len = check_reserv_chars(value, |ch, position| {
        PatientIdError::InvalidReservnummerCharacter { ch, position }
    })?;
    if !(1..=RESERVNUMMER_VALUE_LEN_MAX).contains(&value_len) {
        return Err(PatientIdError::ReservnummerLength { len: value_len });
    }
    // Both parts are ASCII now, so byte lengths equal character counts.
    let mut canonical = String::with_capacity(RESERV_PREFIX.len() + issuer.len() + 1 + value.len());
    canonical.push_str(RESERV_PREFIX);
    canonical.extend(issuer.chars().map(|c| c.to_ascii_uppercase()));
    canonical.push(':');
    canonical.extend(value.chars().map(|c| c.to_ascii_uppercase()));
    Ok(PatientId {
        canonical,
        kind: PatientIdKind::Reservnummer,
    })
}

/// Checks that every character is `A-Z a-z 0-9 -` and returns the count.
fn check_reserv_chars(
    part: &str,
    error: impl Fn(char, usize) -> PatientIdError,
) -> Result<usize, PatientIdError> {
    let mut len = 0;
    for (position, ch) in part.chars().enumerate() {
        if !(ch.is_ascii_alphanumeric() || ch == '-') {
            return Err(error(ch, position));
        }
        len = position + 1;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: CivilDate = CivilDate {
        year: 2026,
        month: 11,
        day: 23,
    };

    fn err(s: &str) -> PatientIdError {
        match PatientId::parse_at(s, TODAY) {
            Ok(id) => panic!("{s:?} parsed as {id}"),
            Err(e) => e,
        }
    }

    fn ok(s: &str) -> PatientId {
        PatientId::parse_at(s, TODAY).expect("test input is valid")
    }

    #[test]
    fn skatteverket_test_numbers() {
        let id = ok("19121212-1212");
        assert_eq!(id.canonical(), "19121212-1212");
        assert_eq!(id.kind(), PatientIdKind::Personnummer);
        assert_eq!(ok("640823-3234").canonical(), "19640823-3234");
        let sam = ok("701063-2391");
        assert_eq!(sam.canonical(), "19701063-2391");
        assert_eq!(sam.kind(), PatientIdKind::Samordningsnummer);
        assert_eq!(
            sam.birth_date(),
            Some(CivilDate {
                year: 1970,
                month: 10,
                day: 3
            })
        );
    }

    #[test]
    fn century_inference() {
        // Born 1912-12-12: 113 on the reference date, so '+' in the short form.
        assert_eq!(ok("121212+1212").canonical(), "19121212-1212");
        // Without '+' the same digits are someone born in 2012.
        assert_eq!(ok("1212121212").canonical(), "20121212-1212");
        let id = ok("19121212-1212");
        assert_eq!(id.to_short_form(TODAY).as_deref(), Some("121212+1212"));
        assert_eq!(id.age_at(TODAY), Some(113));
        assert_eq!(
            ok("640823-3234").to_short_form(TODAY).as_deref(),
            Some("640823-3234")
        );
    }

    #[test]
    fn infer_year_boundaries() {
        // Birthday tomorrow in yy = 26: the person must be from 1926 (99 years old).
        assert_eq!(infer_year(26, 11, 24, TODAY, false), 1926);
        // Birthday today: born today, 2026.
        assert_eq!(infer_year(26, 11, 23, TODAY, false), 2026);
        // '+': 100 today is born 1926-11-23; tomorrow's birthday is 1826.
        assert_eq!(infer_year(26, 11, 23, TODAY, true), 1926);
        assert_eq!(infer_year(26, 11, 24, TODAY, true), 1826);
    }

    #[test]
    fn reservnummer_forms() {
        let id = PatientId::reservnummer(" se2321000081 ", "ble12345ab").expect("valid");
        assert_eq!(id.canonical(), "R:SE2321000081:BLE12345AB");
        assert_eq!(id.kind(), PatientIdKind::Reservnummer);
        assert_eq!(
            id.reservnummer_parts(),
            Some(("SE2321000081", "BLE12345AB"))
        );
        assert_eq!(id.birth_date(), None);
        assert_eq!(id.is_male(), None);
        assert_eq!(id.to_short_form(TODAY), None);
        assert_eq!(PatientId::parse(id.canonical()), Ok(id.clone()));
        assert_eq!(ok("R:SE2321000081:BLE12345AB"), id);
    }

    #[test]
    fn gender() {
        let man = ok("19121212-1212");
        assert_eq!((man.is_male(), man.is_female()), (Some(true), Some(false)));
        let woman = ok("19900101-0025");
        assert_eq!(
            (woman.is_male(), woman.is_female()),
            (Some(false), Some(true))
        );
    }

    #[test]
    fn parse_reads_stored_forms_only() {
        assert!(PatientId::parse("19121212-1212").is_ok());
        assert!(PatientId::parse("19121212+1212").is_ok());
        assert_eq!(
            PatientId::parse("191212121212"),
            Err(PatientIdError::NotCanonical)
        );
        assert_eq!(
            PatientId::parse("121212-1212"),
            Err(PatientIdError::NotCanonical)
        );
        assert_eq!(
            "1212121212".parse::<PatientId>(),
            Err(PatientIdError::NotCanonical)
        );
    }

    #[test]
    fn serde_is_the_canonical_string() {
        let id = ok("701063-2391");
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, "\"19701063-2391\"");
        let back: PatientId = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, id);
        for bad in [
            "\"19701063+2391\"",
            "\"197010632391\"",
            "\"r:x:y\"",
            "\" 19701063-2391\"",
        ] {
            let e = serde_json::from_str::<PatientId>(bad).expect_err("not canonical");
            assert!(
                e.to_string().contains("not a stored patient id"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn message_empty() {
        assert_eq!(err("  ").to_string(), "the patient id is empty");
    }

    #[test]
    fn message_invalid_character() {
        let e = err("19090527 1474");
        assert_eq!(
            e,
            PatientIdError::InvalidCharacter {
                ch: ' ',
                position: 8
            }
        );
        assert!(
            e.to_string()
                .starts_with("invalid character ' ' at index 8"),
            "{e}"
        );
    }

    #[test]
    fn message_wrong_length() {
        let e = err("12345678901");
        assert_eq!(e, PatientIdError::WrongLength { digits: 11 });
        assert_eq!(e.to_string(), "expected 10 or 12 digits, got 11");
    }

    #[test]
    fn message_misplaced_separator() {
        let e = err("1212-121212");
        assert_eq!(
            e,
            PatientIdError::MisplacedSeparator {
                ch: '-',
                position: 4
            }
        );
        assert!(e.to_string().contains("'-' at index 4 is misplaced"), "{e}");
        assert_eq!(
            err("121212--1212"),
            PatientIdError::MisplacedSeparator {
                ch: '-',
                position: 7
            }
        );
    }

    #[test]
    fn message_not_canonical() {
        let e = PatientId::parse("640823-3234").expect_err("10 digits need a date");
        assert_eq!(e, PatientIdError::NotCanonical);
        assert!(e.to_string().contains("PatientId::parse_at"), "{e}");
    }

    #[test]
    fn message_year_out_of_range() {
        let e = err("17991231-0000");
        assert_eq!(e, PatientIdError::YearOutOfRange { year: 1799 });
        assert_eq!(
            e.to_string(),
            "birth year 1799 is out of range: expected 1800 to 9999"
        );
    }

    #[test]
    fn message_impossible_date() {
        let month = err("19901301-2385");
        assert!(matches!(
            month,
            PatientIdError::ImpossibleDate { month: 13, .. }
        ));
        assert_eq!(
            month.to_string(),
            "birth date 1990-13-01 does not exist: there is no month 13"
        );
        let day0 = err("19900100-2385");
        assert_eq!(
            day0.to_string(),
            "birth date 1990-01-00 does not exist: there is no day 00"
        );
        assert_eq!(
            err("19900230-2385").to_string(),
            "birth date 1990-02-30 does not exist: February 1990 has 28 days"
        );
        // 1900 is not a leap year (century not divisible by 400); 2000 is.
        assert_eq!(
            err("19000229-2385").to_string(),
            "birth date 1900-02-29 does not exist: February 1900 has 28 days"
        );
        assert!(!matches!(
            err("20000229-2385"),
            PatientIdError::ImpossibleDate { .. }
        ));
        let day45 = err("19900145-2385");
        assert!(
            day45
                .to_string()
                .contains("a samordningsnummer has day + 60"),
            "{day45}"
        );
        let sam = err("19900290-2385");
        assert_eq!(
            sam,
            PatientIdError::ImpossibleDate {
                year: 1990,
                month: 2,
                day: 30,
                samordningsnummer: true
            }
        );
        assert_eq!(
            sam.to_string(),
            "birth date 1990-02-30 (samordningsnummer day 90 = 30 + 60) does not exist: \
             February 1990 has 28 days"
        );
    }

    #[test]
    fn message_born_in_future() {
        let e = err("20270101-0008");
        assert!(matches!(e, PatientIdError::BornInFuture { .. }));
        assert_eq!(
            e.to_string(),
            "birth date 2027-01-01 is after today (2026-11-23); check the century and the date"
        );
    }

    #[test]
    fn message_zero_serial() {
        let e = err("20150916-0006");
        assert_eq!(e, PatientIdError::ZeroSerial);
        assert!(
            e.to_string().contains("birth number 000 is never issued"),
            "{e}"
        );
    }

    #[test]
    fn message_check_digit() {
        let e = err("19121212-1213");
        assert_eq!(
            e,
            PatientIdError::CheckDigit {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "wrong check digit: the number ends in 3 but the digits before it give 2; \
             a digit is probably mistyped"
        );
    }

    #[test]
    fn message_reservnummer() {
        assert_eq!(
            err("R:SE2321000081").to_string(),
            "a reservnummer must read R:<issuer>:<value>; the ':' after the issuer is missing"
        );
        assert_eq!(
            err("R::X").to_string(),
            "the reservnummer issuer must be 1 to 31 characters, got 0"
        );
        let long_issuer = PatientId::reservnummer(&"A".repeat(32), "X").expect_err("too long");
        assert_eq!(long_issuer, PatientIdError::IssuerLength { len: 32 });
        assert_eq!(
            err("R:Blekinge sjukhus:X").to_string(),
            "invalid character ' ' at index 8 of the reservnummer issuer: only A-Z, a-z, 0-9 \
             and '-' are allowed"
        );
        assert_eq!(
            err("R:BLE:").to_string(),
            "the reservnummer must be 1 to 20 characters, got 0"
        );
        assert_eq!(
            PatientId::reservnummer("BLE", &"9".repeat(21)),
            Err(PatientIdError::ReservnummerLength { len: 21 })
        );
        assert_eq!(
            err("R:BLE:12:34").to_string(),
            "invalid character ':' at index 2 of the reservnummer: only A-Z, a-z, 0-9 and \
             '-' are allowed"
        );
        assert_eq!(
            PatientId::reservnummer("BLE", "Åsa1"),
            Err(PatientIdError::InvalidReservnummerCharacter {
                ch: 'Å',
                position: 0
            })
        );
    }

    #[test]
    fn odd_reference_dates_do_not_panic() {
        for today in [
            CivilDate {
                year: i32::MIN,
                month: 0,
                day: 0,
            },
            CivilDate {
                year: i32::MAX,
                month: 99,
                day: 99,
            },
        ] {
            assert!(PatientId::parse_at("640823-3234", today).is_err());
            assert!(PatientId::parse_at("640823+3234", today).is_err());
            let id = ok("19121212-1212");
            let _ = id.to_short_form(today);
            let _ = id.age_at(today);
        }
    }

    #[test]
    fn civil_date() {
        assert!(CivilDate::new(2024, 2, 29).is_some());
        assert!(CivilDate::new(2023, 2, 29).is_none());
        assert!(CivilDate::new(2023, 0, 1).is_none());
        assert_eq!(
            CivilDate::new(2026, 1, 2).map(|d| d.to_string()).as_deref(),
            Some("2026-01-02")
        );
    }

    /// Words of the English messages that must not turn up in the Swedish ones, separated
    /// by spaces.
    const ENGLISH_WORDS: &str =
        "the is at of to got must only invalid character index expected digit digits \
         separator misplaced birth date year month day days does not exist after today \
         check wrong number issuer empty allowed missing stored february";

    /// English words left in `text`, compared whole-word and ignoring case.
    fn english_leftovers(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| ENGLISH_WORDS.split_whitespace().any(|e| e == w))
            .collect()
    }

    /// The facts a Swedish message must state. The match has no catch-all, so a new
    /// variant does not compile until it is covered here.
    fn essential_facts_sv(e: &PatientIdError) -> Vec<String> {
        match e {
            PatientIdError::Empty => vec!["tomt".into()],
            PatientIdError::InvalidCharacter { ch, position }
            | PatientIdError::MisplacedSeparator { ch, position }
            | PatientIdError::InvalidIssuerCharacter { ch, position }
            | PatientIdError::InvalidReservnummerCharacter { ch, position } => {
                let named = if *ch == ' ' {
                    "mellanslaget".to_owned()
                } else {
                    format!("tecknet '{ch}'")
                };
                vec![format!("{named} på plats {}", position + 1)]
            }
            PatientIdError::WrongLength { digits } => vec![format!("har {digits} siffr")],
            PatientIdError::NotCanonical => vec!["ÅÅÅÅMMDD-NNNN".into(), "datum".into()],
            PatientIdError::YearOutOfRange { year } => {
                vec![year.to_string(), "1800".into(), "9999".into()]
            }
            PatientIdError::ImpossibleDate {
                year, month, day, ..
            } => vec![format!("födelsedatumet {year:04}-{month:02}-{day:02}")],
            PatientIdError::BornInFuture { birth_date, today } => {
                vec![birth_date.to_string(), today.to_string()]
            }
            PatientIdError::ZeroSerial => vec!["000".into()],
            PatientIdError::CheckDigit { expected, found } => {
                vec![format!("(den borde vara {expected}, men är {found})")]
            }
            PatientIdError::MalformedReservnummer => vec!["':'".into()],
            PatientIdError::IssuerLength { len } => {
                vec![
                    format!("utfärdaren i reservnumret har {len} tecken"),
                    "31".into(),
                ]
            }
            PatientIdError::ReservnummerLength { len } => {
                vec![format!("har {len} tecken"), "20".into()]
            }
        }
    }

    #[test]
    fn message_sv_for_every_variant() {
        let samples = [
            err("  "),
            err("19121212-12x2"),
            err("19090527 1474"),
            err("12345678901"),
            err("1212-121212"),
            PatientId::parse("640823-3234").expect_err("10 digits need a date"),
            err("17991231-0000"),
            err("19000229-2385"),
            err("19901301-2385"),
            err("19900100-2385"),
            err("19900145-2385"),
            err("19900290-2385"),
            err("20270101-0008"),
            err("20150916-0006"),
            err("19121212-1213"),
            err("R:SE2321000081"),
            err("R::X"),
            err("R:Blekinge sjukhus:X"),
            err("R:BLE:"),
            err("R:BLE:12:34"),
        ];
        for e in &samples {
            let sv = e.message_sv();
            assert!(!sv.trim().is_empty(), "{e:?}");
            assert_ne!(sv, e.to_string(), "{e:?}");
            assert_eq!(english_leftovers(&sv), Vec::<String>::new(), "{sv}");
            // The word list does catch the English text.
            assert!(!english_leftovers(&e.to_string()).is_empty(), "{e}");
            for fact in essential_facts_sv(e) {
                assert!(sv.contains(&fact), "{e:?}: {sv:?} lacks {fact:?}");
            }
        }

        // The key messages in full: the character, the digit, the date, 1-based positions.
        assert_eq!(
            err("19121212-12x2").message_sv(),
            "tecknet 'x' på plats 12 är inte tillåtet: ett personnummer eller \
             samordningsnummer består bara av siffror och ett '-' eller '+' före de fyra sista \
             siffrorna (ett reservnummer skrivs R:<utfärdare>:<nummer>)"
        );
        assert!(err("19090527 1474")
            .message_sv()
            .starts_with("mellanslaget på plats 9 är inte tillåtet"));
        assert_eq!(
            err("19121212-1213").message_sv(),
            "kontrollsiffran stämmer inte (den borde vara 2, men är 3) – kontrollera att \
             numret är rätt inskrivet, troligen är någon siffra fel"
        );
        assert_eq!(
            err("19000229-2385").message_sv(),
            "födelsedatumet 1900-02-29 finns inte: februari 1900 har 28 dagar"
        );
        assert_eq!(
            err("19900290-2385").message_sv(),
            "födelsedatumet 1990-02-30 (samordningsnummer med dag 90 = 30 + 60) finns inte: \
             februari 1990 har 28 dagar"
        );
        assert!(err("19900145-2385")
            .message_sv()
            .ends_with("; ett samordningsnummer har dag + 60, alltså 61 till 91"));
        assert!(err("19901301-2385")
            .message_sv()
            .ends_with(": det finns ingen månad 13"));
        assert!(err("19900100-2385")
            .message_sv()
            .ends_with(": det finns ingen dag 00"));
        assert!(err("1212-121212")
            .message_sv()
            .starts_with("tecknet '-' på plats 5 står på fel ställe"));
        assert!(err("R:Blekinge sjukhus:X")
            .message_sv()
            .starts_with("mellanslaget på plats 9 i reservnumrets utfärdare"));
        assert!(err("R:BLE:12:34")
            .message_sv()
            .starts_with("tecknet ':' på plats 3 i reservnumret"));
        assert_eq!(
            PatientIdError::WrongLength { digits: 1 }.message_sv(),
            "numret har 1 siffra, men ett personnummer eller samordningsnummer ska ha 10 \
             eller 12 siffror"
        );
        // Characters that cannot be seen are named, not printed.
        let invisible = PatientIdError::InvalidCharacter {
            ch: '\u{200b}',
            position: 6,
        };
        assert!(invisible
            .message_sv()
            .starts_with("det osynliga tecknet U+200B på plats 7"));
        // Fields are public, so extreme values must not panic.
        let _ = PatientIdError::ImpossibleDate {
            year: i32::MIN,
            month: u32::MAX,
            day: u32::MAX,
            samordningsnummer: true,
        }
        .message_sv();
        let _ = PatientIdError::InvalidCharacter {
            ch: 'x',
            position: usize::MAX,
        }
        .message_sv();
    }
}
