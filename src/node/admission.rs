//! Admission: the roster in force, shared by the TLS verifiers, every connection and the
//! ingest pipeline, and replaced as a whole when a newer roster is installed.

use std::sync::{Arc, RwLock};

use reservnod_proto::{NodeId, Roster};

/// The admission policy: the current roster, shared by the TLS verifiers, the connections
/// and the ingest pipeline.
#[derive(Debug)]
pub struct Admission {
    roster: RwLock<Arc<Roster>>,
}

impl Admission {
    /// Admission by `roster`.
    pub fn new(roster: Roster) -> Arc<Self> {
        Arc::new(Admission {
            roster: RwLock::new(Arc::new(roster)),
        })
    }
    /// The current roster.
    pub fn roster(&self) -> Arc<Roster> {
        self.roster
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Replaces the roster (the caller checked succession and signature).
    pub fn replace(&self, roster: Roster) {
        *self.roster.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(roster);
    }
    /// Whether `node` may connect: listed and not revoked.
    pub fn check(&self, node: &NodeId) -> Result<(), String> {
        reservnod_proto::link::admission(&self.roster(), node)
    }
}
