//! An active care chain as the region's primary system had it before the outage, imported
//! from its snapshot file (`reservnod snapshot import`, docs/snapshot.md). It travels as
//! the [`Document::Snapshot`](super::documents::Document::Snapshot) of a clinical event,
//! sealed to the units the chain names, and gives the chain its steps (admitted, ready,
//! municipality ready) until documents written during the outage say more.

use serde::{Deserialize, Serialize};

use super::chain::ChainState;
use crate::hsa::HsaId;

/// The chain of one row of a snapshot file.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// Derived from what identifies the chain, the patient and the admission (see
    /// [`row_key`]): every snapshot of one chain, imported at any node of any unit, has the
    /// same key, and the newest (by `taken_at_ms`) is the one the chain counts. (Version 1
    /// keyed the row's whole content; such events are matched by patient and admission.)
    pub key: [u8; 16],
    /// When the primary system took the snapshot (ms since the epoch).
    pub taken_at_ms: u64,
    /// Where the chain stood (never `Discharged`: a snapshot holds active chains).
    pub state: ChainState,
    /// When the patient was admitted (ms since the epoch).
    pub admitted_at_ms: u64,
    /// When the patient was judged ready for discharge, if so.
    pub ready_at_ms: Option<u64>,
    /// When the municipality was ready, if so.
    pub municipality_ready_at_ms: Option<u64>,
    /// Preliminary discharge date (YYYY-MM-DD).
    pub preliminary_discharge: Option<String>,
    /// What the plan said, in a few lines (may be empty).
    pub plan_summary: String,
    /// The units of the chain, as the file named them.
    pub units: Vec<HsaId>,
}

/// The key of a snapshot row: BLAKE3 (derive-key mode) over the parts that identify its
/// chain (the importer passes the patient's canonical id and the admission time), each
/// part length-prefixed, first 16 bytes.
pub fn row_key(parts: &[&[u8]]) -> [u8; 16] {
    digest("reservnod 2026-12 snapshot row key v2", parts)
}

/// The episode of a snapshot chain: derived from the patient and the admission time, so
/// every unit that imports the same chain files it under the same episode.
pub fn episode(patient: &str, admitted_at_ms: u64) -> [u8; 16] {
    digest(
        "reservnod 2026-12 snapshot episode v1",
        &[patient.as_bytes(), &admitted_at_ms.to_le_bytes()],
    )
}

fn digest(context: &str, parts: &[&[u8]]) -> [u8; 16] {
    let mut h = blake3::Hasher::new_derive_key(context);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_its_boundaries() {
        let a = row_key(&[b"ab", b"c"]);
        assert_eq!(a, row_key(&[b"ab", b"c"]));
        assert_ne!(a, row_key(&[b"a", b"bc"]));
        assert_ne!(a, row_key(&[b"ab", b"d"]));
        assert_ne!(episode("191212121212", 1), episode("191212121212", 2));
    }
}
