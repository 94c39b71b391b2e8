//! `HsaId`: the identifier of a care unit.
//!
//! Canonical form (upper case, surrounding whitespace trimmed, at most 31 characters):
//! - an HSA-id: `SE` + organisation number + `-` + local part `[A-Z0-9]+`, for example
//!   `SE2321000081-ABC1` (Region Blekinge's prefix is `SE2321000081-`). The organisation
//!   number is 10 digits with a Luhn check digit. The 12-digit form `16` + 10 digits is
//!   accepted as well, because national HSA-ids use it (Inera's is `SE165565594230-1000`);
//!   it is kept as written, since an HSA-id is compared as a string.
//! - a local id for a unit that has no HSA-id (some private providers): `LOCAL-` +
//!   `[A-Z0-9]+`. [`HsaId::is_local`] tells them apart so the UI can mark them.
//!
//! HSA-ids are case-insensitive in practice, so input in any case is accepted and stored in
//! upper case. Serde uses the canonical string and rejects anything else.

use crate::idtext::{char_sv, digits_sv, luhn_check_digit};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest HSA-id (or local id), in characters.
pub const HSA_ID_LEN_MAX: usize = 31;
/// Prefix of a local id for a unit without an HSA-id.
pub const LOCAL_ID_PREFIX: &str = "LOCAL-";
/// Prefix of every real HSA-id.
const SE_PREFIX: &str = "SE";
/// Digits of an organisation number, and of its 12-digit form with `16` in front.
const ORG_DIGITS: usize = 10;
const ORG_DIGITS_LONG: usize = 12;
/// The two digits in front of a 12-digit organisation number of a legal entity.
const ORG_LONG_PREFIX: u8 = 16;

/// Why a string is not a valid HSA-id. Positions are 0-based character indices into the
/// input after surrounding whitespace is trimmed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum HsaIdError {
    /// The input is empty or only whitespace.
    #[error("the HSA-id is empty")]
    Empty,
    /// Neither `SE` nor `LOCAL-` at the start.
    #[error(
        "an HSA-id starts with SE and the organisation number (like SE2321000081-ABC1), \
         or with LOCAL- for a unit without an HSA-id"
    )]
    MissingPrefix,
    /// A character other than a digit inside the organisation number.
    #[error(
        "invalid character {ch:?} at index {position} in the organisation number: only \
         digits are allowed"
    )]
    OrgNumberCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character index in the trimmed input.
        position: usize,
    },
    /// The organisation number after `SE` does not have 10 (or 12) digits.
    #[error(
        "the organisation number after SE must have 10 digits (or 12 beginning with 16), \
         got {digits}"
    )]
    OrgNumberLength {
        /// How many digits were found before the `-`.
        digits: usize,
    },
    /// A 12-digit organisation number that does not begin with `16`.
    #[error("a 12-digit organisation number must begin with 16, got {found:02}")]
    OrgNumberPrefix {
        /// The first two digits as written.
        found: u8,
    },
    /// The organisation number's last digit does not match its Luhn check digit.
    #[error(
        "wrong check digit in the organisation number: it ends in {found} but the digits \
         before it give {expected}; a digit is probably mistyped"
    )]
    OrgNumberCheckDigit {
        /// The check digit computed from the first nine digits.
        expected: u8,
        /// The last digit as written.
        found: u8,
    },
    /// No `-` between the organisation number and the local part.
    #[error("expected '-' between the organisation number and the local part at index {position}")]
    MissingHyphen {
        /// The 0-based character index where the `-` should be.
        position: usize,
    },
    /// Nothing after the `-`.
    #[error("the local part after '-' is empty")]
    EmptyLocalPart,
    /// A character outside `A-Z a-z 0-9` in the local part.
    #[error(
        "invalid character {ch:?} at index {position} in the local part: only A-Z, a-z and \
         0-9 are allowed (no å, ä, ö)"
    )]
    InvalidLocalCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character index in the trimmed input.
        position: usize,
    },
    /// Longer than 31 characters.
    #[error("the HSA-id is {len} characters long; at most {HSA_ID_LEN_MAX} are allowed")]
    TooLong {
        /// Length in characters after trimming.
        len: usize,
    },
    /// Deserialization got a valid HSA-id that is not in canonical form.
    #[error("not a canonical HSA-id (trimmed, upper case): expected {expected}")]
    NotCanonical {
        /// The canonical form of the same id.
        expected: String,
    },
}

impl HsaIdError {
    /// The same error as a Swedish sentence for the staff who typed the HSA-id.
    ///
    /// It says what is wrong in everyday words, with the same facts as the English
    /// [`Display`](fmt::Display) text (which stays English, for logs). Positions are
    /// 1-based ("plats 1" is the first character) in the trimmed input. Like the English
    /// text, it starts with a lower-case letter (unless it starts with a name such as
    /// "HSA-id") and has no full stop, so the caller can put it after a heading such as
    /// "Ogiltigt HSA-id: ".
    pub fn message_sv(&self) -> String {
        match self {
            Self::Empty => "HSA-id saknas: fältet är tomt".to_owned(),
            Self::MissingPrefix => "HSA-id måste börja med SE följt av organisationsnummer \
                 (till exempel SE2321000081-ABC1), eller med LOCAL- för en enhet som saknar \
                 HSA-id"
                .to_owned(),
            Self::OrgNumberCharacter { ch, position } => format!(
                "{} på plats {} i organisationsnumret är inte tillåtet: organisationsnumret \
                 får bara innehålla siffror",
                char_sv(*ch),
                position.saturating_add(1)
            ),
            Self::OrgNumberLength { digits } => format!(
                "organisationsnumret efter SE har {}, men ska ha {ORG_DIGITS} siffror (eller \
                 {ORG_DIGITS_LONG} siffror som börjar med {ORG_LONG_PREFIX})",
                digits_sv(*digits)
            ),
            Self::OrgNumberPrefix { found } => format!(
                "ett organisationsnummer med {ORG_DIGITS_LONG} siffror måste börja med \
                 {ORG_LONG_PREFIX}, men det här börjar med {found:02}"
            ),
            Self::OrgNumberCheckDigit { expected, found } => format!(
                "kontrollsiffran i organisationsnumret stämmer inte (den borde vara \
                 {expected}, men är {found}) – kontrollera att HSA-id är rätt inskrivet, \
                 troligen är någon siffra fel"
            ),
            Self::MissingHyphen { position } => format!(
                "bindestrecket '-' mellan organisationsnumret och enhetens egen del saknas: \
                 det ska stå på plats {}",
                position.saturating_add(1)
            ),
            Self::EmptyLocalPart => "enhetens egen del efter bindestrecket '-' är tom: HSA-id \
                 måste fortsätta efter '-' (till exempel SE2321000081-ABC1)"
                .to_owned(),
            Self::InvalidLocalCharacter { ch, position } => format!(
                "{} på plats {} är inte tillåtet i enhetens egen del efter '-': där får bara \
                 bokstäverna A–Z, stora eller små, och siffror användas; å, ä och ö är inte \
                 tillåtna i HSA-id",
                char_sv(*ch),
                position.saturating_add(1)
            ),
            Self::TooLong { len } => {
                format!("HSA-id är {len} tecken långt, men får vara högst {HSA_ID_LEN_MAX} tecken")
            }
            Self::NotCanonical { expected } => format!(
                "HSA-id är inte sparat i sin standardform (stora bokstäver, utan mellanslag \
                 före eller efter): det borde vara {expected}"
            ),
        }
    }
}

/// A validated care-unit identifier in canonical form (see the module doc).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct HsaId(
    // Invariant: valid, upper case, ASCII, at most 31 bytes.
    String,
);

impl HsaId {
    /// Parses an HSA-id (`SE` + organisation number + `-` + local part) or a local id
    /// (`LOCAL-` + local part), in any case, trimmed of surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, HsaIdError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(HsaIdError::Empty);
        }
        // `get` returns None if the cut would split a character, which is no prefix either.
        let has_prefix = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        let (prefix_len, local) = if has_prefix(LOCAL_ID_PREFIX) {
            (LOCAL_ID_PREFIX.len(), true)
        } else if has_prefix(SE_PREFIX) {
            (SE_PREFIX.len(), false)
        } else {
            return Err(HsaIdError::MissingPrefix);
        };
        // The prefix is ASCII, so its byte length is its character count.
        let mut chars = s[prefix_len..]
            .chars()
            .enumerate()
            .map(|(i, ch)| (i + prefix_len, ch));

        if !local {
            check_org_number(&mut chars)?;
        }

        let mut local_len = 0usize;
        for (position, ch) in chars {
            if !ch.is_ascii_alphanumeric() {
                return Err(HsaIdError::InvalidLocalCharacter { ch, position });
            }
            local_len += 1;
        }
        if local_len == 0 {
            return Err(HsaIdError::EmptyLocalPart);
        }
        // Every character is ASCII now, so bytes are characters.
        if s.len() > HSA_ID_LEN_MAX {
            return Err(HsaIdError::TooLong { len: s.len() });
        }
        Ok(Self(s.to_ascii_uppercase()))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a local id (`LOCAL-…`) for a unit without an HSA-id.
    pub fn is_local(&self) -> bool {
        self.0.starts_with(LOCAL_ID_PREFIX)
    }

    /// The 10-digit organisation number (without a `16` in front); `None` for a local id.
    pub fn organisation_number(&self) -> Option<&str> {
        if self.is_local() {
            return None;
        }
        let hyphen = self.0.find('-')?;
        self.0.get(hyphen.checked_sub(ORG_DIGITS)?..hyphen)
    }

    /// The part after the first `-`: the unit's own part of an HSA-id, or the local id
    /// without `LOCAL-`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('-').map_or("", |(_, local)| local)
    }
}

/// Reads the organisation number and the `-` after it, checking length, prefix and
/// check digit.
fn check_org_number(chars: &mut impl Iterator<Item = (usize, char)>) -> Result<(), HsaIdError> {
    let mut digits = [0u8; ORG_DIGITS_LONG];
    let mut count = 0usize;
    let mut last_position = SE_PREFIX.len();
    let mut hyphen = false;
    for (position, ch) in chars.by_ref() {
        last_position = position + 1;
        match ch {
            '0'..='9' => {
                if let Some(slot) = digits.get_mut(count) {
                    *slot = ch as u8 - b'0';
                }
                count += 1;
            }
            '-' => {
                hyphen = true;
                break;
            }
            // After a complete number, a letter means the '-' was left out.
            _ if count == ORG_DIGITS || count == ORG_DIGITS_LONG => {
                return Err(HsaIdError::MissingHyphen { position });
            }
            _ => return Err(HsaIdError::OrgNumberCharacter { ch, position }),
        }
    }
    if count != ORG_DIGITS && count != ORG_DIGITS_LONG {
        return Err(HsaIdError::OrgNumberLength { digits: count });
    }
    if !hyphen {
        return Err(HsaIdError::MissingHyphen {
            position: last_position,
        });
    }
    let ten = if count == ORG_DIGITS_LONG {
        let found = digits[0] * 10 + digits[1];
        if found != ORG_LONG_PREFIX {
            return Err(HsaIdError::OrgNumberPrefix { found });
        }
        &digits[2..]
    } else {
        &digits[..ORG_DIGITS]
    };
    let expected = luhn_check_digit(&ten[..9]);
    let found = ten[9];
    if expected != found {
        return Err(HsaIdError::OrgNumberCheckDigit { expected, found });
    }
    Ok(())
}

impl fmt::Display for HsaId {
    /// The canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for HsaId {
    type Err = HsaIdError;

    /// Same as [`HsaId::parse`]: any case, trimmed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for HsaId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HsaId {
    /// Accepts only the exact canonical string.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CanonicalVisitor;

        impl serde::de::Visitor<'_> for CanonicalVisitor {
            type Value = HsaId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a canonical HSA-id (like SE2321000081-ABC1 or LOCAL-ABC1)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HsaId, E> {
                let id = HsaId::parse(v).map_err(E::custom)?;
                if id.0 != v {
                    return Err(E::custom(HsaIdError::NotCanonical { expected: id.0 }));
                }
                Ok(id)
            }
        }

        deserializer.deserialize_str(CanonicalVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> HsaIdError {
        match HsaId::parse(s) {
            Ok(id) => panic!("{s:?} parsed as {id}"),
            Err(e) => e,
        }
    }

    #[test]
    fn region_blekinge_org_number_passes_luhn() {
        assert_eq!(luhn_check_digit(&[2, 3, 2, 1, 0, 0, 0, 0, 8]), 1);
        let id = HsaId::parse(" se2321000081-abc1 ").expect("valid");
        assert_eq!(id.as_str(), "SE2321000081-ABC1");
        assert_eq!(id.to_string(), "SE2321000081-ABC1");
        assert_eq!(id.organisation_number(), Some("2321000081"));
        assert_eq!(id.local_part(), "ABC1");
        assert!(!id.is_local());
    }

    #[test]
    fn national_twelve_digit_form() {
        let id = HsaId::parse("SE165565594230-1000").expect("Inera's national HSA-id");
        assert_eq!(id.organisation_number(), Some("5565594230"));
        assert_eq!(id.local_part(), "1000");
    }

    #[test]
    fn local_ids() {
        let id: HsaId = "local-Vardcentral7".parse().expect("valid");
        assert_eq!(id.as_str(), "LOCAL-VARDCENTRAL7");
        assert!(id.is_local());
        assert_eq!(id.organisation_number(), None);
        assert_eq!(id.local_part(), "VARDCENTRAL7");
    }

    #[test]
    fn serde_is_the_canonical_string() {
        let id = HsaId::parse("SE2321000081-ABC1").expect("valid");
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, "\"SE2321000081-ABC1\"");
        assert_eq!(
            serde_json::from_str::<HsaId>(&json).expect("deserializes"),
            id
        );
        let e = serde_json::from_str::<HsaId>("\"se2321000081-abc1\"").expect_err("lower case");
        assert!(
            e.to_string().contains(
                "not a canonical HSA-id (trimmed, upper case): expected SE2321000081-ABC1"
            ),
            "{e}"
        );
        let e = serde_json::from_str::<HsaId>("\"SE2321000081\"").expect_err("invalid");
        assert!(e.to_string().contains("expected '-'"), "{e}");
    }

    #[test]
    fn message_empty() {
        assert_eq!(err(" ").to_string(), "the HSA-id is empty");
    }

    #[test]
    fn message_missing_prefix() {
        for s in ["2321000081-ABC1", "S", "ÅSE2321000081-A", "XE2321000081-A"] {
            assert_eq!(err(s), HsaIdError::MissingPrefix, "{s}");
        }
        assert!(err("X").to_string().starts_with("an HSA-id starts with SE"));
    }

    #[test]
    fn message_org_number_character() {
        let e = err("SE23210X0081-ABC1");
        assert_eq!(
            e,
            HsaIdError::OrgNumberCharacter {
                ch: 'X',
                position: 7
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid character 'X' at index 7 in the organisation number: only digits are allowed"
        );
    }

    #[test]
    fn message_org_number_length() {
        let e = err("SE232100008-ABC1");
        assert_eq!(e, HsaIdError::OrgNumberLength { digits: 9 });
        assert_eq!(
            e.to_string(),
            "the organisation number after SE must have 10 digits (or 12 beginning with 16), got 9"
        );
        assert_eq!(err("SE"), HsaIdError::OrgNumberLength { digits: 0 });
    }

    #[test]
    fn message_org_number_prefix() {
        let e = err("SE192321000081-A");
        assert_eq!(e, HsaIdError::OrgNumberPrefix { found: 19 });
        assert_eq!(
            e.to_string(),
            "a 12-digit organisation number must begin with 16, got 19"
        );
    }

    #[test]
    fn message_org_number_check_digit() {
        let e = err("SE2321000082-ABC1");
        assert_eq!(
            e,
            HsaIdError::OrgNumberCheckDigit {
                expected: 1,
                found: 2
            }
        );
        assert_eq!(
            e.to_string(),
            "wrong check digit in the organisation number: it ends in 2 but the digits before \
             it give 1; a digit is probably mistyped"
        );
    }

    #[test]
    fn message_missing_hyphen() {
        let e = err("SE2321000081ABC1");
        assert_eq!(e, HsaIdError::MissingHyphen { position: 12 });
        assert_eq!(
            e.to_string(),
            "expected '-' between the organisation number and the local part at index 12"
        );
        assert_eq!(
            err("SE2321000081"),
            HsaIdError::MissingHyphen { position: 12 }
        );
    }

    #[test]
    fn message_empty_local_part() {
        assert_eq!(err("SE2321000081-"), HsaIdError::EmptyLocalPart);
        assert_eq!(err("LOCAL-"), HsaIdError::EmptyLocalPart);
        assert_eq!(
            err("LOCAL-").to_string(),
            "the local part after '-' is empty"
        );
    }

    #[test]
    fn message_invalid_local_character() {
        let e = err("SE2321000081-Växjö");
        assert_eq!(
            e,
            HsaIdError::InvalidLocalCharacter {
                ch: 'ä',
                position: 14
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid character 'ä' at index 14 in the local part: only A-Z, a-z and 0-9 are \
             allowed (no å, ä, ö)"
        );
        assert!(matches!(
            err("SE2321000081-AB-C"),
            HsaIdError::InvalidLocalCharacter {
                ch: '-',
                position: 15
            }
        ));
    }

    #[test]
    fn message_too_long() {
        // 13 characters of prefix + 18 = 31 is the longest allowed.
        assert!(HsaId::parse(&format!("SE2321000081-{}", "A".repeat(18))).is_ok());
        let e = err(&format!("SE2321000081-{}", "A".repeat(19)));
        assert_eq!(e, HsaIdError::TooLong { len: 32 });
        assert_eq!(
            e.to_string(),
            "the HSA-id is 32 characters long; at most 31 are allowed"
        );
    }

    /// Words of the English messages that must not turn up in the Swedish ones, separated
    /// by spaces.
    const ENGLISH_WORDS: &str =
        "the is at of to an got must only invalid character index expected digit digits \
         starts with organisation number unit without beginning begin wrong check part \
         after empty allowed long characters most canonical trimmed upper case no";

    /// English words left in `text`, compared whole-word and ignoring case.
    fn english_leftovers(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| ENGLISH_WORDS.split_whitespace().any(|e| e == w))
            .collect()
    }

    /// The facts a Swedish message must state. The match has no catch-all, so a new
    /// variant does not compile until it is covered here.
    fn essential_facts_sv(e: &HsaIdError) -> Vec<String> {
        match e {
            HsaIdError::Empty => vec!["tomt".into()],
            HsaIdError::MissingPrefix => vec![
                "HSA-id måste börja med SE följt av organisationsnummer".into(),
                "LOCAL-".into(),
            ],
            HsaIdError::OrgNumberCharacter { ch, position }
            | HsaIdError::InvalidLocalCharacter { ch, position } => {
                let named = if *ch == ' ' {
                    "mellanslaget".to_owned()
                } else {
                    format!("tecknet '{ch}'")
                };
                vec![format!("{named} på plats {}", position + 1)]
            }
            HsaIdError::OrgNumberLength { digits } => {
                vec![format!("har {digits} siffr"), "10".into(), "16".into()]
            }
            HsaIdError::OrgNumberPrefix { found } => vec![format!("börjar med {found:02}")],
            HsaIdError::OrgNumberCheckDigit { expected, found } => {
                vec![format!("(den borde vara {expected}, men är {found})")]
            }
            HsaIdError::MissingHyphen { position } => {
                vec!["'-'".into(), format!("plats {}", position + 1)]
            }
            HsaIdError::EmptyLocalPart => vec!["'-'".into(), "tom".into()],
            HsaIdError::TooLong { len } => vec![format!("{len} tecken"), "31".into()],
            HsaIdError::NotCanonical { expected } => vec![expected.clone()],
        }
    }

    #[test]
    fn message_sv_for_every_variant() {
        let samples = [
            err(" "),
            err("2321000081-ABC1"),
            err("SE23210X0081-ABC1"),
            err("SE232100008-ABC1"),
            err("SE192321000081-A"),
            err("SE2321000082-ABC1"),
            err("SE2321000081ABC1"),
            err("SE2321000081-"),
            err("SE2321000081-Växjö"),
            err("SE2321000081-A B"),
            err(&format!("SE2321000081-{}", "A".repeat(19))),
            HsaIdError::NotCanonical {
                expected: "SE2321000081-ABC1".to_owned(),
            },
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

        // The key messages in full: the character, the digit, 1-based positions.
        assert_eq!(
            err("SE2321000081-Växjö").message_sv(),
            "tecknet 'ä' på plats 15 är inte tillåtet i enhetens egen del efter '-': där får \
             bara bokstäverna A–Z, stora eller små, och siffror användas; å, ä och ö är inte \
             tillåtna i HSA-id"
        );
        assert!(err("SE23210X0081-ABC1")
            .message_sv()
            .starts_with("tecknet 'X' på plats 8 i organisationsnumret är inte tillåtet"));
        assert_eq!(
            err("SE2321000082-ABC1").message_sv(),
            "kontrollsiffran i organisationsnumret stämmer inte (den borde vara 1, men är 2) – \
             kontrollera att HSA-id är rätt inskrivet, troligen är någon siffra fel"
        );
        assert_eq!(
            err("SE2321000081ABC1").message_sv(),
            "bindestrecket '-' mellan organisationsnumret och enhetens egen del saknas: det \
             ska stå på plats 13"
        );
        assert_eq!(
            err("SE232100008-ABC1").message_sv(),
            "organisationsnumret efter SE har 9 siffror, men ska ha 10 siffror (eller 12 \
             siffror som börjar med 16)"
        );
        assert!(err("SE2321000081-A B")
            .message_sv()
            .starts_with("mellanslaget på plats 15 är inte tillåtet"));
        assert!(err("X")
            .message_sv()
            .starts_with("HSA-id måste börja med SE följt av organisationsnummer"));
        // Fields are public, so extreme values must not panic.
        let _ = HsaIdError::MissingHyphen {
            position: usize::MAX,
        }
        .message_sv();
    }
}
