//! `id_check`: is this a valid patient or unit identifier, and if not, why (the rules of
//! `reservnod id check`, and of the web form's check as a person types).

use reservnod_proto::patient::{CivilDate, PatientId};
use reservnod_proto::HsaId;
use serde::{Deserialize, Serialize};

use super::types::CareNode;
use crate::clock::today;

/// The result of checking one identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdCheck {
    /// What was given (trimmed).
    pub input: String,
    /// Whether it is valid.
    pub valid: bool,
    /// The kind, in Swedish (personnummer, samordningsnummer, reservnummer, HSA-id, lokalt enhets-id).
    pub kind: Option<String>,
    /// The canonical form, when valid.
    pub canonical: Option<String>,
    /// What is wrong, in Swedish, when not.
    pub error: Option<String>,
}

/// Checks one identifier. A unit id starts with `SE` or `LOCAL-`; anything else is read
/// as a patient id, with `today` deciding the century of 10-digit forms.
pub fn check_id(input: &str, today: CivilDate) -> IdCheck {
    let trimmed = input.trim();
    let upper_start: String = trimmed
        .chars()
        .take(6)
        .collect::<String>()
        .to_ascii_uppercase();
    let is_unit = upper_start.starts_with("SE") || upper_start.starts_with("LOCAL-");
    let base = IdCheck {
        input: trimmed.to_string(),
        valid: false,
        kind: None,
        canonical: None,
        error: None,
    };
    if is_unit {
        match HsaId::parse(trimmed) {
            Ok(id) => IdCheck {
                valid: true,
                kind: Some(
                    if id.is_local() {
                        "lokalt enhets-id"
                    } else {
                        "HSA-id"
                    }
                    .into(),
                ),
                canonical: Some(id.to_string()),
                ..base
            },
            Err(e) => IdCheck {
                kind: Some("HSA-id".into()),
                error: Some(e.message_sv()),
                ..base
            },
        }
    } else {
        match PatientId::parse_at(trimmed, today) {
            Ok(id) => IdCheck {
                valid: true,
                kind: Some(id.kind().as_str_sv().into()),
                canonical: Some(id.canonical().to_string()),
                ..base
            },
            Err(e) => IdCheck {
                error: Some(e.message_sv()),
                ..base
            },
        }
    }
}

/// The check of one identifier, with the node's today.
pub(super) fn id_check(node: &dyn CareNode, id: &str) -> IdCheck {
    check_id(id, today(node.now_ms()))
}
