//! The regional admin's directory: the admin key, the roster, and the unit keys to hand out.
//!
//! ```text
//! DIR/admin.key             the admin's ed25519 secret (0600); keep it offline
//! DIR/roster.rsv            the current signed roster, given to every node
//! DIR/units/<HSA-id>.key    each unit's X25519 secret (0600), given to that unit's nodes
//! ```
//! Every change re-signs the roster with the next version number.

use std::path::{Path, PathBuf};

use reservnod_proto::limits::ROSTER_BYTES_MAX;
use reservnod_proto::retention::{PurgeCover, PurgeDecision};
use reservnod_proto::roster::{
    MunicipalityCode, NodeEntry, PhraseTemplate, Revocation, RosterError, RoutingRule, Unit,
    UnitKind,
};
use reservnod_proto::{AdminKey, Hlc, HsaId, NodeId, Roster, SignedRoster, UnitSecretKey};

use crate::files::keyfile::{self, FileError};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A file problem.
    #[error(transparent)]
    File(#[from] FileError),
    /// The roster is damaged, forged, or the change breaks a rule.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// The admin key file's content.
    #[error("{path}: {cause}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong (said in the message, so not also a source).
        cause: reservnod_proto::keys::KeyError,
    },
    /// Not an admin directory.
    #[error("{0} is not an admin directory (run `reservnod admin init` first)")]
    NotInitialised(PathBuf),
    /// The requested change cannot be made.
    #[error("{0}")]
    Refused(String),
}

/// The admin's directory.
pub struct AdminDir {
    root: PathBuf,
}

/// The admin key with the roster it signs.
pub struct Admin {
    dir: PathBuf,
    key: AdminKey,
    /// The current roster.
    pub roster: Roster,
}

impl AdminDir {
    /// The admin directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AdminDir { root: root.into() }
    }
    fn key_path(&self) -> PathBuf {
        self.root.join("admin.key")
    }
    /// Where the roster file is.
    pub fn roster_path(&self) -> PathBuf {
        self.root.join("roster.rsv")
    }

    /// Creates the admin key and an empty roster (version 1) for `region`.
    pub fn init(&self, region: &str, now_ms: u64) -> Result<Admin, AdminError> {
        if self.key_path().exists() {
            return Err(AdminError::Refused(format!(
                "{} already exists: this directory already has an admin key",
                self.key_path().display()
            )));
        }
        std::fs::create_dir_all(self.root.join("units")).map_err(|source| FileError::Io {
            what: "cannot create",
            path: self.root.clone(),
            cause: source,
        })?;
        let key = AdminKey::generate(&mut rand_core::OsRng);
        let roster = Roster::new(region, key.public(), now_ms);
        let signed = roster.sign(&key)?;
        let bytes = signed.to_file_bytes()?;
        keyfile::write_secret(&self.key_path(), &key.to_file_text())?;
        if let Err(e) = keyfile::write_public(&self.roster_path(), &bytes) {
            // A refusal leaves no admin key behind that would block the next attempt.
            let _ = std::fs::remove_file(self.key_path());
            return Err(e.into());
        }
        Ok(Admin {
            dir: self.root.clone(),
            key,
            roster,
        })
    }

    /// Loads the key and the roster, checking the roster is signed by this key.
    pub fn load(&self) -> Result<Admin, AdminError> {
        let path = self.key_path();
        if !path.exists() {
            return Err(AdminError::NotInitialised(self.root.clone()));
        }
        let text = keyfile::read_secret(&path)?;
        let key = AdminKey::from_file_text(&text).map_err(|source| AdminError::Key {
            path,
            cause: source,
        })?;
        let roster = read_roster_file(&self.roster_path())?.verify_trusted(&key.public())?;
        Ok(Admin {
            dir: self.root.clone(),
            key,
            roster,
        })
    }
}

/// Reads a signed roster file (the signature is checked by the caller).
pub fn read_roster_file(path: &Path) -> Result<SignedRoster, AdminError> {
    let bytes = keyfile::read_bounded(path, ROSTER_BYTES_MAX + 1024)?;
    Ok(SignedRoster::from_file_bytes(&bytes)?)
}

impl Admin {
    /// Signs `next` as the following version and writes it; the roster on disk changes only
    /// if the whole new roster is valid.
    fn commit(&mut self, mut next: Roster, now_ms: u64) -> Result<(), AdminError> {
        next.version = self.roster.version + 1;
        next.issued_at_ms = now_ms;
        let signed = next.sign(&self.key)?;
        keyfile::write_public(&self.dir.join("roster.rsv"), &signed.to_file_bytes()?)?;
        self.roster = next;
        Ok(())
    }

    /// The current roster, signed.
    pub fn signed(&self) -> Result<SignedRoster, AdminError> {
        Ok(self.roster.sign(&self.key)?)
    }

    /// Adds a unit with a new encryption key; returns where its key file was written.
    pub fn add_unit(
        &mut self,
        id: HsaId,
        name: &str,
        kind: UnitKind,
        municipality: MunicipalityCode,
        now_ms: u64,
    ) -> Result<PathBuf, AdminError> {
        if self.roster.unit(&id).is_some() {
            return Err(AdminError::Refused(format!(
                "unit {id} is already in the roster"
            )));
        }
        let key = UnitSecretKey::generate(id.clone(), &mut rand_core::OsRng);
        let mut next = self.roster.clone();
        next.units.push(Unit {
            id: id.clone(),
            name: name.trim().to_string(),
            kind,
            municipality,
            encryption_key: key.public(),
        });
        next.validate()?;
        let key_path = self.dir.join("units").join(format!("{id}.key"));
        keyfile::write_secret(&key_path, &key.to_file_text())?;
        if let Err(e) = self.commit(next, now_ms) {
            // The unit is not in the roster: its key file must not block the next attempt.
            let _ = std::fs::remove_file(&key_path);
            return Err(e);
        }
        Ok(key_path)
    }

    /// Admits a node to serve a unit.
    pub fn add_node(
        &mut self,
        id: NodeId,
        unit: HsaId,
        name: &str,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        if self.roster.node(&id).is_some() {
            return Err(AdminError::Refused(format!(
                "node {id} is already in the roster"
            )));
        }
        if self.roster.unit(&unit).is_none() {
            return Err(AdminError::Refused(format!(
                "unit {unit} is not in the roster (add it with `admin unit add`)"
            )));
        }
        let mut next = self.roster.clone();
        next.nodes.push(NodeEntry {
            id,
            unit,
            name: name.trim().to_string(),
        });
        self.commit(next, now_ms)
    }

    /// Revokes a node: every node that gets this roster refuses it from then on. Its events
    /// written before `cutoff_ms` (default: now) stay valid when an admitted node carries them;
    /// a cut-off after now is refused (the node could go on writing valid events).
    pub fn revoke_node(
        &mut self,
        id: NodeId,
        reason: &str,
        cutoff_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        if self.roster.node(&id).is_none() {
            return Err(AdminError::Refused(format!(
                "node {id} is not in the roster"
            )));
        }
        if self.roster.is_revoked(&id) {
            return Err(AdminError::Refused(format!("node {id} is already revoked")));
        }
        let cutoff_ms = cutoff_ms.unwrap_or(now_ms);
        if cutoff_ms > now_ms {
            return Err(AdminError::Refused(
                "the cut-off is in the future: the node could go on writing valid events".into(),
            ));
        }
        let mut next = self.roster.clone();
        next.revoked.push(Revocation {
            node: id,
            at_ms: now_ms,
            cutoff: Hlc {
                wall_ms: cutoff_ms,
                logical: 0,
            },
            reason: reason.trim().to_string(),
        });
        self.commit(next, now_ms)
    }

    /// Sets (or replaces) the municipal unit that receives patients of a municipality.
    pub fn set_route(
        &mut self,
        municipality: MunicipalityCode,
        unit: HsaId,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        let mut next = self.roster.clone();
        next.routing.retain(|r| r.municipality != municipality);
        next.routing.push(RoutingRule { municipality, unit });
        self.commit(next, now_ms)
    }

    /// Adds or replaces a phrase template.
    pub fn set_phrase(
        &mut self,
        key: &str,
        title: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        let mut next = self.roster.clone();
        next.phrases.retain(|p| p.key != key);
        next.phrases.push(PhraseTemplate {
            key: key.trim().to_string(),
            title: title.trim().to_string(),
            text: text.to_string(),
        });
        self.commit(next, now_ms)
    }

    /// Sets the escalation times.
    pub fn set_escalation(
        &mut self,
        urgent_minutes: u32,
        normal_minutes: u32,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        let mut next = self.roster.clone();
        next.escalation.urgent_unread_minutes = urgent_minutes;
        next.escalation.normal_unread_minutes = normal_minutes;
        self.commit(next, now_ms)
    }

    /// Records a purge decision (gallringsbeslut) in the roster. It covers one outage or
    /// what was written before a horizon, for the units listed (each once it has reported
    /// its re-entry closed). Nothing is purged by this: the node's side (a config setting,
    /// the housekeeping pass) is not built yet (ARCHITECTURE.md, Retention).
    pub fn add_purge_decision(
        &mut self,
        reference: &str,
        covers: PurgeCover,
        units: Vec<HsaId>,
        now_ms: u64,
    ) -> Result<(), AdminError> {
        let reference = reference.trim().to_string();
        if self
            .roster
            .purge_decisions
            .iter()
            .any(|d| d.reference == reference)
        {
            return Err(AdminError::Refused(format!(
                "purge decision {reference} is already in the roster (a decision cannot be changed)"
            )));
        }
        if let PurgeCover::WrittenBefore { wall_ms } = covers {
            if wall_ms > now_ms {
                return Err(AdminError::Refused(
                    "the horizon is in the future: it would cover what is not yet written".into(),
                ));
            }
        }
        let mut next = self.roster.clone();
        next.purge_decisions.push(PurgeDecision {
            reference,
            covers,
            units,
            decided_at_ms: now_ms,
        });
        self.commit(next, now_ms)
    }
}
