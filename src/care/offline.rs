//! The data directory as a [`CareNode`] when no daemon runs: the CLI opens the store itself
//! (taking its lock), writes durably, and the daemon spreads what was written when it
//! starts and reconciles with its peers. Nothing written offline is lost or held back.

use std::sync::{Arc, Mutex, MutexGuard};

use reservnod_proto::{Hlc, HlcClock, NodeKey, Roster, SignedEvent, UnitSecretKey};

use super::api::{ApiError, CareNode};
use super::view::CareView;
use crate::clock::now_ms;
use crate::files::datadir::{DataDir, DataDirError};
use crate::store::Store;

/// A node's data directory opened for one command.
pub struct OfflineNode {
    dir: DataDir,
    store: Store,
    roster: Arc<Roster>,
    node_key: NodeKey,
    unit_key: UnitSecretKey,
    clock: Mutex<HlcClock>,
    view: Mutex<CareView>,
    write_turn: Mutex<()>,
    payment_days: u32,
}

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Keys, roster or store.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// No roster installed.
    #[error("no roster is installed in {0}")]
    NoRoster(std::path::PathBuf),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl OfflineNode {
    /// Opens `dir` (its store lock is held until this is dropped).
    pub fn open(dir: &DataDir, payment_days: u32) -> Result<OfflineNode, OfflineError> {
        let roster = dir
            .roster()?
            .ok_or_else(|| OfflineError::NoRoster(dir.root().to_path_buf()))?;
        let node_key = dir.node_key()?;
        let unit_key = dir.unit_key()?;
        let store = dir.open_store()?;
        let clock = crate::clock::hlc_after(store.newest_hlc()?, now_ms());
        let mut view = CareView::build(&store, &unit_key)?;
        view.forget_revoked(&roster);
        Ok(OfflineNode {
            dir: dir.clone(),
            store,
            roster: Arc::new(roster),
            node_key,
            unit_key,
            clock: Mutex::new(clock),
            view: Mutex::new(view),
            write_turn: Mutex::new(()),
            payment_days,
        })
    }
}

impl CareNode for OfflineNode {
    fn store(&self) -> &Store {
        &self.store
    }
    fn roster(&self) -> Arc<Roster> {
        self.roster.clone()
    }
    fn node_key(&self) -> &NodeKey {
        &self.node_key
    }
    fn unit_key(&self) -> &UnitSecretKey {
        &self.unit_key
    }
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, buf)
    }
    fn tick(&self) -> Hlc {
        self.clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now_ms())
    }
    fn view(&self) -> MutexGuard<'_, CareView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.write_turn.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError> {
        let outcome = crate::replication::ingest(&self.store, &self.roster, &events)?;
        if let Some(reason) = outcome.refused.first() {
            return Err(ApiError::Refused(format!(
                "noden får inte skriva enligt registret: {reason}"
            )));
        }
        let mut view = self.view();
        for v in &outcome.new_events {
            view.add(v, &self.unit_key);
        }
        Ok(())
    }
    fn payment_days(&self) -> u32 {
        self.payment_days
    }
    fn install_roster(&self, signed: &reservnod_proto::SignedRoster) -> Result<u64, ApiError> {
        // The store lock is held (taken in `open`): no daemon runs on this directory.
        self.dir
            .install_roster(signed)
            .map(|r| r.version)
            .map_err(|e| ApiError::Refused(format!("rostern installerades inte: {e}")))
    }
}
