//! Outages (driftstörningar) and re-entry into the primary system (efterregistrering): what
//! a `Control` event says, and the pure rules that place clinical events in an outage.
//!
//! - An outage is **declared** by a unit admin with a reason: a `Control` event with a plain
//!   body ([`Control::OutageDeclared`]; no patient data), addressed to the units it concerns
//!   (its scope), so every node of those units stores and indexes it. It is **ended** by a
//!   `Control` event naming the declaration ([`Control::OutageEnded`]), addressed the same.
//! - A **re-entry mark** ([`Control::ReentryMarked`]: entered into LINK, or not needed) and a
//!   **sign-off** of what is left ([`Control::ReentrySignedOff`]) are a unit's own: sealed to
//!   the author's unit alone, no recipients, like account changes.
//!
//! Which outage a clinical event belongs to is a function of its hybrid time and the
//! declarations and ends held ([`attach`]), so every node that holds the same events places
//! them the same, and an event written on a node that was cut off when the outage was
//! declared is placed as soon as the declaration arrives.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::EventId;
use crate::hlc::Hlc;
use crate::hsa::HsaId;

/// The control payload encoding this code writes and reads.
pub const CONTROL_FORMAT: u16 = 1;
/// The longest reason, note, LINK reference or name in a control payload, in bytes.
pub const CONTROL_TEXT_BYTES_MAX: usize = 500;
/// The largest encoded control payload.
pub const CONTROL_PAYLOAD_BYTES_MAX: usize = 4 * 1024;

/// How a re-entry item was dealt with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mark {
    /// Entered into LINK (inregistrerat i LINK), with LINK's reference if one was given.
    Entered {
        /// LINK's reference (may be empty).
        link_ref: String,
    },
    /// Not needed in LINK (behövs inte), and why.
    NotNeeded {
        /// Why (required).
        reason: String,
    },
}

/// What a control event says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// An outage is declared (plain body, addressed to the units in scope).
    OutageDeclared {
        /// Why (required).
        reason: String,
    },
    /// The outage declared by `outage` is over (plain body, addressed as the declaration).
    OutageEnded {
        /// The declaration.
        outage: EventId,
        /// A note (may be empty).
        note: String,
    },
    /// A re-entry item marked (sealed to the author's unit alone).
    ReentryMarked {
        /// The outage's declaration.
        outage: EventId,
        /// The clinical event marked.
        item: EventId,
        /// How.
        mark: Mark,
    },
    /// What is left of the unit's re-entry list signed off by a unit admin (sealed to the
    /// author's unit alone).
    ReentrySignedOff {
        /// The outage's declaration.
        outage: EventId,
        /// Why what is left need not be entered (required).
        reason: String,
    },
}

impl Control {
    /// Whether the body of an event saying this is sealed to the author's unit (marks and
    /// sign-offs) rather than plain (declarations and ends).
    pub fn is_unit_private(&self) -> bool {
        matches!(
            self,
            Control::ReentryMarked { .. } | Control::ReentrySignedOff { .. }
        )
    }
}

/// The body of a `Control` event (plain, or the plaintext of a sealed one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPayload {
    /// [`CONTROL_FORMAT`].
    pub format: u16,
    /// When it was written, by the author's wall clock (ms since the epoch).
    pub written_at_ms: u64,
    /// Who (the name as on documents).
    pub by: String,
    /// What.
    pub control: Control,
}

/// Why a control payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ControlError {
    /// Does not decode.
    #[error("damaged control payload: {0}")]
    Malformed(CodecError),
    /// A format this node does not read.
    #[error("unsupported control payload format {0}")]
    UnsupportedFormat(u16),
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

fn text(what: &str, s: &str, required: bool) -> Result<(), ControlError> {
    if required && s.trim().is_empty() {
        return Err(ControlError::Invalid(format!("{what} is empty")));
    }
    if s.len() > CONTROL_TEXT_BYTES_MAX || s.chars().any(char::is_control) {
        return Err(ControlError::Invalid(format!(
            "{what} must be at most {CONTROL_TEXT_BYTES_MAX} bytes with no control character"
        )));
    }
    Ok(())
}

impl ControlPayload {
    /// Checks the field rules.
    pub fn validate(&self) -> Result<(), ControlError> {
        if self.format != CONTROL_FORMAT {
            return Err(ControlError::UnsupportedFormat(self.format));
        }
        text("by", &self.by, true)?;
        match &self.control {
            Control::OutageDeclared { reason } => text("reason", reason, true),
            Control::OutageEnded { note, .. } => text("note", note, false),
            Control::ReentryMarked { mark, .. } => match mark {
                Mark::Entered { link_ref } => text("LINK reference", link_ref, false),
                Mark::NotNeeded { reason } => text("reason", reason, true),
            },
            Control::ReentrySignedOff { reason, .. } => text("reason", reason, true),
        }
    }

    /// Encodes a valid payload.
    pub fn encode(&self) -> Result<Vec<u8>, ControlError> {
        self.validate()?;
        codec::encode::<_, CONTROL_PAYLOAD_BYTES_MAX>(self).map_err(ControlError::Malformed)
    }

    /// Reads a body, under [`CONTROL_PAYLOAD_BYTES_MAX`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ControlError> {
        let format: u16 = codec::decode_prefix(bytes).map_err(ControlError::Malformed)?;
        if format != CONTROL_FORMAT {
            return Err(ControlError::UnsupportedFormat(format));
        }
        let p: ControlPayload = codec::decode::<_, CONTROL_PAYLOAD_BYTES_MAX>(bytes)
            .map_err(ControlError::Malformed)?;
        p.validate()?;
        Ok(p)
    }
}

/// A declaration as held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The declaration event: the outage's id.
    pub id: EventId,
    /// Its hybrid time: where the outage begins.
    pub hlc: Hlc,
    /// The declaring unit.
    pub unit: HsaId,
    /// The units it concerns (its recipients and the declaring unit).
    pub scope: Vec<HsaId>,
    /// Who declared it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When, by the declaring node's wall clock.
    pub written_at_ms: u64,
}

/// An end as held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The end event.
    pub id: EventId,
    /// The declaration it ends.
    pub outage: EventId,
    /// Its hybrid time: where the outage ends.
    pub hlc: Hlc,
    /// The ending unit.
    pub unit: HsaId,
    /// Who ended it.
    pub by: String,
    /// The note.
    pub note: String,
    /// When, by the ending node's wall clock.
    pub written_at_ms: u64,
}

/// One outage: its declaration and, once held, its end (the earliest of several, by hybrid
/// time then id; never before its declaration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The declaration.
    pub declared: Declared,
    /// The end, if held.
    pub ended: Option<Ended>,
}

impl Outage {
    /// Where it ends on the hybrid clock, if it has: never before its declaration.
    pub fn end_hlc(&self) -> Option<Hlc> {
        self.ended.as_ref().map(|e| e.hlc.max(self.declared.hlc))
    }
}

/// The outages held, in declaration order (hybrid time, then id). An end naming no held
/// declaration waits (it is kept by the caller and counts once its declaration arrives).
pub fn outages(declared: &[Declared], ended: &[Ended]) -> Vec<Outage> {
    let mut out: Vec<Outage> = declared
        .iter()
        .map(|d| Outage {
            declared: d.clone(),
            ended: ended
                .iter()
                .filter(|e| e.outage == d.id)
                .min_by_key(|e| (e.hlc, e.id))
                .cloned(),
        })
        .collect();
    out.sort_by_key(|o| (o.declared.hlc, o.declared.id));
    out.dedup_by_key(|o| o.declared.id);
    out
}

/// Where in its outage an event was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// Before the first declaration held: written while no outage was declared (a node that
    /// was cut off, or the first hours before anyone declared).
    BeforeDeclaration,
    /// Between the declaration and the end.
    During,
    /// After the end, before the next declaration: by a node that had not heard of the end.
    AfterEnd,
}

/// The outage (an index into `outages`, as [`outages`] orders them) a clinical event
/// written at `hlc` belongs to, and where in it: the latest declared at or before `hlc`;
/// before every declaration, the first. None when no outage is held. Every event thus
/// belongs to exactly one outage once one is held, whatever order things arrived in:
/// nothing written on the backup system is left out of a re-entry list.
pub fn attach(outages: &[Outage], hlc: Hlc) -> Option<(usize, Placement)> {
    let first = outages.first()?;
    if hlc < first.declared.hlc {
        return Some((0, Placement::BeforeDeclaration));
    }
    let i = outages
        .iter()
        .rposition(|o| o.declared.hlc <= hlc)
        .unwrap_or(0);
    let placement = match outages[i].end_hlc() {
        Some(end) if hlc >= end => Placement::AfterEnd,
        _ => Placement::During,
    };
    Some((i, placement))
}

/// Where the outages stand for a node that holds `outages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// None held: the node works, and warns that none is declared.
    NoneDeclared,
    /// One or more in force (declared, not ended): the newest such, by index.
    InForce(usize),
    /// Every one held is ended: the newest, by index. New clinical documents are refused
    /// (only receipts, answers to the outage's messages, re-entry and exports) until a new
    /// outage is declared.
    Ended(usize),
}

/// Where `outages` stand.
pub fn standing(outages: &[Outage]) -> Standing {
    if outages.is_empty() {
        return Standing::NoneDeclared;
    }
    match outages.iter().rposition(|o| o.ended.is_none()) {
        Some(i) => Standing::InForce(i),
        None => Standing::Ended(outages.len() - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hlc(ms: u64) -> Hlc {
        Hlc {
            wall_ms: ms,
            logical: 0,
        }
    }

    fn unit() -> HsaId {
        "SE2321000081-AVD1".parse().expect("hsa")
    }

    fn decl(n: u8, at: u64) -> Declared {
        Declared {
            id: EventId([n; 32]),
            hlc: hlc(at),
            unit: unit(),
            scope: vec![unit()],
            by: "Anna".into(),
            reason: "LINK nere".into(),
            written_at_ms: at,
        }
    }

    fn end(n: u8, of: u8, at: u64) -> Ended {
        Ended {
            id: EventId([n; 32]),
            outage: EventId([of; 32]),
            hlc: hlc(at),
            unit: unit(),
            by: "Anna".into(),
            note: String::new(),
            written_at_ms: at,
        }
    }

    #[test]
    fn events_are_placed_in_the_outage_they_were_written_in() {
        let o = outages(&[decl(2, 500), decl(1, 100)], &[end(9, 1, 300)]);
        assert_eq!(o[0].declared.id, EventId([1; 32]));
        assert_eq!(attach(&o, hlc(50)), Some((0, Placement::BeforeDeclaration)));
        assert_eq!(attach(&o, hlc(100)), Some((0, Placement::During)));
        assert_eq!(attach(&o, hlc(299)), Some((0, Placement::During)));
        assert_eq!(attach(&o, hlc(300)), Some((0, Placement::AfterEnd)));
        assert_eq!(attach(&o, hlc(500)), Some((1, Placement::During)));
        assert_eq!(standing(&o), Standing::InForce(1));
        assert_eq!(attach(&[], hlc(1)), None);
        assert_eq!(standing(&[]), Standing::NoneDeclared);
        let o = outages(&[decl(1, 100)], &[end(9, 1, 300), end(8, 1, 200)]);
        assert_eq!(o[0].end_hlc(), Some(hlc(200)), "the earliest end counts");
        assert_eq!(standing(&o), Standing::Ended(0));
        // An end stamped before its declaration (a clock behind) ends it at the declaration.
        let o = outages(&[decl(1, 100)], &[end(9, 1, 50)]);
        assert_eq!(attach(&o, hlc(120)), Some((0, Placement::AfterEnd)));
    }

    #[test]
    fn payloads_round_trip_and_are_checked() {
        let p = ControlPayload {
            format: CONTROL_FORMAT,
            written_at_ms: 7,
            by: "Anna Admin".into(),
            control: Control::ReentryMarked {
                outage: EventId([1; 32]),
                item: EventId([2; 32]),
                mark: Mark::Entered {
                    link_ref: "L-123".into(),
                },
            },
        };
        let bytes = p.encode().expect("encodes");
        assert_eq!(ControlPayload::decode(&bytes), Ok(p.clone()));
        let mut bad = p.clone();
        bad.control = Control::ReentrySignedOff {
            outage: EventId([1; 32]),
            reason: " ".into(),
        };
        assert!(bad.encode().is_err(), "a sign-off needs a reason");
        bad.control = Control::OutageDeclared {
            reason: "x\ny".into(),
        };
        assert!(bad.encode().is_err(), "no control characters");
        bad.control = Control::OutageDeclared {
            reason: "x".repeat(CONTROL_TEXT_BYTES_MAX + 1),
        };
        assert!(bad.encode().is_err());
        assert!(ControlPayload::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(ControlPayload::decode(&[9, 9, 9]).is_err());
        assert!(p.control.is_unit_private());
    }
}
