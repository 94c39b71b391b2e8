//! Who may log in: the accounts of this node's unit, as the web layer asks them.

use std::sync::Arc;

pub use crate::care::api::{Account, Standing};
use crate::care::api::{ApiError, CareNode, Secret};

/// The accounts of this node's unit: the one way a password or an API token becomes a
/// person. Each login call writes the attempt to the audit log, with `client` (the address).
pub trait Accounts: Send + Sync {
    /// The account whose login and password these are.
    fn password(&self, login: &str, password: &str, client: &str) -> Result<Account, ApiError>;
    /// The account whose API token this is.
    fn token(&self, token: &str, client: &str) -> Result<Account, ApiError>;
    /// Whether any account of the unit can log in (a LAN bind refuses to start without one).
    fn any_can_log_in(&self) -> bool;
    /// The account `login` as it stands now (None: unknown or disabled). A session compares
    /// it with what it logged in as on every request; it must be cheap.
    fn standing(&self, login: &str) -> Option<Standing>;
    /// Writes to the access log that a session of `account` from `client` ended, and why.
    fn session_ended(&self, account: &Account, client: &str, why: &str) -> Result<(), ApiError>;
}

/// The unit's accounts as this node holds them: `care::api`'s checks against the node's view
/// of the unit's accounts (the web layer calls the slow ones on a blocking thread).
pub struct UnitAccounts(pub Arc<dyn CareNode>);

impl Accounts for UnitAccounts {
    fn password(&self, login: &str, password: &str, client: &str) -> Result<Account, ApiError> {
        crate::care::api::authenticate_password(
            self.0.as_ref(),
            login,
            &Secret::new(password),
            Some(client.to_string()),
        )
    }
    fn token(&self, token: &str, client: &str) -> Result<Account, ApiError> {
        crate::care::api::authenticate_token(
            self.0.as_ref(),
            &Secret::new(token),
            Some(client.to_string()),
        )
    }
    fn any_can_log_in(&self) -> bool {
        crate::care::api::any_can_log_in(self.0.as_ref())
    }
    fn standing(&self, login: &str) -> Option<Standing> {
        crate::care::api::standing(self.0.as_ref(), login)
    }
    fn session_ended(&self, account: &Account, client: &str, why: &str) -> Result<(), ApiError> {
        crate::care::api::audit_session_end(self.0.as_ref(), account, Some(client.to_string()), why)
    }
}
