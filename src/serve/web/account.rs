//! Who may log in: the accounts of this node's unit, as the web layer asks them.

pub use crate::care::api::Account;
use crate::care::api::ApiError;

/// The accounts of this node's unit: the one way a password or an API token becomes a
/// person. Each call writes the attempt to the audit log, with `client` (the address).
pub trait Accounts: Send + Sync {
    /// The account whose login and password these are.
    fn password(&self, login: &str, password: &str, client: &str) -> Result<Account, ApiError>;
    /// The account whose API token this is.
    fn token(&self, token: &str, client: &str) -> Result<Account, ApiError>;
    /// Whether any account of the unit can log in (a LAN bind refuses to start without one).
    fn any_can_log_in(&self) -> bool;
}
