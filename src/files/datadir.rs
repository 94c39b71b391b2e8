//! A node's data directory.
//!
//! ```text
//! DIR/node.key        the node's ed25519 secret (0600), made here by `node init`
//! DIR/unit.key        the unit's X25519 secret (0600), handed over by the admin
//! DIR/trusted-admin   the admin public key this node trusts (pinned at init)
//! DIR/roster.rsv      the newest admin-signed roster this node has accepted
//! DIR/store/          the sled store and its LOCK file
//! DIR/config-path     the config `reservnod run` last ran this directory with (absolute)
//! DIR/format          the data format (see `files::format`), written at init and upgrade
//! DIR/upgrade-backups/ the store as it was before each upgrade of its format
//! ```

use std::path::{Path, PathBuf};

use reservnod_proto::keys::KeyError;
use reservnod_proto::limits::ROSTER_BYTES_MAX;
use reservnod_proto::roster::RosterError;
use reservnod_proto::{AdminPublicKey, NodeKey, Roster, SignedRoster, UnitSecretKey};

use crate::files::format::{self, FormatError};
use crate::files::keyfile::{self, FileError};
use crate::store::{Store, StoreError};

/// The file in a data directory naming the config `reservnod run` runs it with.
pub const CONFIG_RECORD: &str = "config-path";

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file problem.
    #[error(transparent)]
    File(#[from] FileError),
    /// A key file's content.
    #[error("{path}: {cause}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong (said in the message, so not also a source).
        cause: KeyError,
    },
    /// A roster problem.
    #[error("roster {path}: {cause}")]
    Roster {
        /// The roster file.
        path: PathBuf,
        /// What is wrong (said in the message, so not also a source).
        cause: RosterError,
    },
    /// The directory is not set up.
    #[error("{0} is not a reservnod data directory (run `reservnod node init` first)")]
    NotInitialised(PathBuf),
    /// Already set up.
    #[error("{0} already holds a node key; this node is already set up")]
    AlreadyInitialised(PathBuf),
    /// The unit key does not belong to a unit of the roster, or not this node's unit.
    #[error("{0}")]
    Mismatch(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory's format (too new, or the upgrade failed).
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// The paths and contents of one node's data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// What `init` made.
pub struct Initialised {
    /// The new node key.
    pub node: NodeKey,
    /// The unit key installed.
    pub unit: UnitSecretKey,
    /// The roster installed with it, if one was given.
    pub roster: Option<Roster>,
}

impl DataDir {
    /// The data directory at `root` (nothing is read yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    /// Its root.
    pub fn root(&self) -> &Path {
        &self.root
    }
    fn node_key_path(&self) -> PathBuf {
        self.root.join("node.key")
    }
    fn unit_key_path(&self) -> PathBuf {
        self.root.join("unit.key")
    }
    fn admin_path(&self) -> PathBuf {
        self.root.join("trusted-admin")
    }
    /// Where the accepted roster is kept.
    pub fn roster_path(&self) -> PathBuf {
        self.root.join("roster.rsv")
    }
    /// Where `reservnod run` records the config it runs this directory with.
    pub fn config_record_path(&self) -> PathBuf {
        self.root.join(CONFIG_RECORD)
    }
    fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Sets up a new node: creates its key, installs the unit key from the admin and,
    /// if given, the roster (whose admin key is then the one this node trusts).
    pub fn init(
        &self,
        unit_key_text: &str,
        roster: Option<&SignedRoster>,
    ) -> Result<Initialised, DataDirError> {
        if self.node_key_path().exists() {
            return Err(DataDirError::AlreadyInitialised(self.root.clone()));
        }
        let unit =
            UnitSecretKey::from_file_text(unit_key_text).map_err(|source| DataDirError::Key {
                path: PathBuf::from("(unit key)"),
                cause: source,
            })?;
        let verified = match roster {
            None => None,
            Some(signed) => {
                let r = signed.verify().map_err(|source| DataDirError::Roster {
                    path: PathBuf::from("(given roster)"),
                    cause: source,
                })?;
                check_unit_key(&r, &unit)?;
                Some(r)
            }
        };
        // Leftovers of an earlier attempt would make a write below fail halfway.
        for path in [
            self.unit_key_path(),
            self.admin_path(),
            self.roster_path(),
            self.root.join(format::FORMAT_FILE),
        ] {
            if path.exists() {
                return Err(DataDirError::Mismatch(format!(
                    "{} already exists, but no node key: a half-made data directory? Remove it or use another directory",
                    path.display()
                )));
            }
        }
        let created = !self.root.exists();
        // Owner-only: it holds the keys and the store.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.root)
            .map_err(|source| FileError::Io {
                what: "cannot create",
                path: self.root.clone(),
                cause: source,
            })?;
        let node = NodeKey::generate(&mut rand_core::OsRng);
        let mut written = Vec::new();
        let result = (|| {
            format::write(&self.root)?;
            written.push(self.root.join(format::FORMAT_FILE));
            keyfile::write_secret(&self.unit_key_path(), &unit.to_file_text())?;
            written.push(self.unit_key_path());
            if let (Some(signed), Some(r)) = (roster, &verified) {
                keyfile::write_public(&self.admin_path(), format!("{}\n", r.admin).as_bytes())?;
                written.push(self.admin_path());
                self.write_roster(signed)?;
                written.push(self.roster_path());
            }
            // The node key last: its presence is what marks the directory as set up.
            keyfile::write_secret(&self.node_key_path(), &node.to_file_text())
                .map_err(DataDirError::from)
        })();
        if let Err(e) = result {
            // A refusal leaves the directory as it was.
            for path in written.iter().rev() {
                let _ = std::fs::remove_file(path);
            }
            if created {
                let _ = std::fs::remove_dir(&self.root);
            }
            return Err(e);
        }
        Ok(Initialised {
            node,
            unit,
            roster: verified,
        })
    }

    /// The node's key.
    pub fn node_key(&self) -> Result<NodeKey, DataDirError> {
        let path = self.node_key_path();
        if !path.exists() {
            return Err(DataDirError::NotInitialised(self.root.clone()));
        }
        let text = keyfile::read_secret(&path)?;
        NodeKey::from_file_text(&text).map_err(|source| DataDirError::Key {
            path,
            cause: source,
        })
    }

    /// The unit's key.
    pub fn unit_key(&self) -> Result<UnitSecretKey, DataDirError> {
        let path = self.unit_key_path();
        let text = keyfile::read_secret(&path)?;
        UnitSecretKey::from_file_text(&text).map_err(|source| DataDirError::Key {
            path,
            cause: source,
        })
    }

    /// Records `config` (an absolute path) as the config this directory's node runs with,
    /// so the commands that open the directory themselves use the same settings.
    pub fn record_config(&self, config: &Path) -> Result<(), DataDirError> {
        let text = format!("{}\n", config.display());
        keyfile::write_public(&self.config_record_path(), text.as_bytes())?;
        Ok(())
    }

    /// The config `reservnod run` last ran this directory with, if it ever ran.
    pub fn recorded_config(&self) -> Result<Option<PathBuf>, DataDirError> {
        let path = self.config_record_path();
        if !path.exists() {
            return Ok(None);
        }
        let text = keyfile::read_bounded(&path, 4096)?;
        let text = String::from_utf8_lossy(&text);
        Ok(Some(PathBuf::from(text.trim_end_matches(['\n', '\r']))))
    }

    /// The admin key this node trusts, if a roster was ever installed.
    pub fn trusted_admin(&self) -> Result<Option<AdminPublicKey>, DataDirError> {
        let path = self.admin_path();
        if !path.exists() {
            return Ok(None);
        }
        let text = keyfile::read_bounded(&path, 1024)?;
        let text = String::from_utf8_lossy(&text);
        let id: reservnod_proto::NodeId =
            text.trim().parse().map_err(|source| DataDirError::Key {
                path: path.clone(),
                cause: source,
            })?;
        Ok(Some(AdminPublicKey(id.0)))
    }

    /// The roster this node holds, verified against the trusted admin key.
    pub fn roster(&self) -> Result<Option<Roster>, DataDirError> {
        let Some(admin) = self.trusted_admin()? else {
            return Ok(None);
        };
        let path = self.roster_path();
        let bytes = keyfile::read_bounded(&path, ROSTER_BYTES_MAX + 1024)?;
        let roster = SignedRoster::from_file_bytes(&bytes)
            .and_then(|s| s.verify_trusted(&admin))
            .map_err(|source| DataDirError::Roster {
                path,
                cause: source,
            })?;
        Ok(Some(roster))
    }

    /// Installs a roster: it must be signed by the trusted admin key (the first roster
    /// pins that key) and newer than the one held, and the node's unit must be in it.
    pub fn install_roster(&self, signed: &SignedRoster) -> Result<Roster, DataDirError> {
        let path = PathBuf::from("(new roster)");
        let new = match self.trusted_admin()? {
            Some(admin) => signed.verify_trusted(&admin),
            None => signed.verify(),
        }
        .map_err(|source| DataDirError::Roster {
            path: path.clone(),
            cause: source,
        })?;
        if let Some(current) = self.roster()? {
            current
                .check_successor(&new)
                .map_err(|source| DataDirError::Roster {
                    path,
                    cause: source,
                })?;
        }
        check_unit_key(&new, &self.unit_key()?)?;
        if self.trusted_admin()?.is_none() {
            keyfile::write_public(&self.admin_path(), format!("{}\n", new.admin).as_bytes())?;
        }
        self.write_roster(signed)?;
        Ok(new)
    }

    /// Replaces the roster in force, `current` (as the running node holds it: the file on
    /// disk may already be the new one, dropped in its place), with a newer one by the same
    /// admin for which this node's unit key is right.
    pub fn replace_roster(
        &self,
        current: &Roster,
        signed: &SignedRoster,
    ) -> Result<Roster, DataDirError> {
        let path = PathBuf::from("(new roster)");
        let new = signed
            .verify_trusted(&current.admin)
            .map_err(|source| DataDirError::Roster {
                path: path.clone(),
                cause: source,
            })?;
        current
            .check_successor(&new)
            .map_err(|source| DataDirError::Roster {
                path,
                cause: source,
            })?;
        check_unit_key(&new, &self.unit_key()?)?;
        self.write_roster(signed)?;
        Ok(new)
    }

    fn write_roster(&self, signed: &SignedRoster) -> Result<(), DataDirError> {
        let bytes = signed
            .to_file_bytes()
            .map_err(|source| DataDirError::Roster {
                path: self.roster_path(),
                cause: source,
            })?;
        keyfile::write_public(&self.roster_path(), &bytes)?;
        Ok(())
    }

    /// Whether a process holds the store's lock (a running node or a command using it).
    pub fn store_in_use(&self) -> bool {
        Store::is_in_use(&self.store_path())
    }

    /// Opens the node's store (takes the directory's lock), upgrading an older data format
    /// first (after copying the store) and refusing a newer one.
    pub fn open_store(&self) -> Result<Store, DataDirError> {
        if !self.node_key_path().exists() {
            return Err(DataDirError::NotInitialised(self.root.clone()));
        }
        Ok(format::open_store(&self.root, &self.store_path())?)
    }
}

fn check_unit_key(roster: &Roster, unit: &UnitSecretKey) -> Result<(), DataDirError> {
    match roster.unit(unit.unit()) {
        None => Err(DataDirError::Mismatch(format!(
            "unit {} of the unit key is not in the roster",
            unit.unit()
        ))),
        Some(u) if u.encryption_key != unit.public() => Err(DataDirError::Mismatch(format!(
            "the unit key is not the key the roster lists for {} (an old or wrong key file?)",
            unit.unit()
        ))),
        Some(_) => Ok(()),
    }
}
