//! Sessions and login throttling, in memory: time is a parameter everywhere (the web layer's
//! injected clock), so idle and absolute expiry and back-off are tested without waiting.
//!
//! A session id is 32 random bytes, sent only in the cookie; the table keys sessions by the
//! id's BLAKE3 hash, so the table itself holds nothing a cookie could be made from. Each
//! session has its own CSRF token (forms carry it; scripts send it in a header).

use std::collections::HashMap;
use std::time::Duration;

use super::account::Account;
use crate::limits::{
    LOGIN_BACKOFF_BASE, LOGIN_BACKOFF_MAX, LOGIN_COUNTERS_MAX, LOGIN_FREE_FAILURES_PER_ACCOUNT,
    LOGIN_FREE_FAILURES_PER_ADDRESS, WEB_SESSIONS_MAX, WEB_SESSION_ABSOLUTE,
};

/// A random token as lowercase hex (32 bytes from the system's generator).
pub fn random_token() -> String {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    data_encoding::HEXLOWER.encode(&b)
}

fn key_of(id: &str) -> [u8; 32] {
    *blake3::hash(id.as_bytes()).as_bytes()
}

/// One logged-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who.
    pub account: Account,
    /// What the account stood on at login (its password and roles, see
    /// [`crate::care::api::Standing`]): when the account's stamp is no longer this, the
    /// session ends.
    pub stamp: [u8; 32],
    /// The client address it logged in from (for the access log when it ends unseen).
    pub client: String,
    /// The token every state-changing request of this session carries.
    pub csrf: String,
    /// When they logged in (ms).
    pub created_ms: u64,
    /// Their last activity (ms); polling is not activity.
    pub last_ms: u64,
}

impl Session {
    /// When this session ends if nothing more happens: the idle limit or the absolute one.
    pub fn ends_ms(&self, idle: Duration) -> u64 {
        (self.last_ms + idle.as_millis() as u64)
            .min(self.created_ms + WEB_SESSION_ABSOLUTE.as_millis() as u64)
    }

    /// Why it has ended by `now_ms`, if it has (Swedish, for the access log).
    fn expired(&self, idle: Duration, now_ms: u64) -> Option<String> {
        if now_ms < self.ends_ms(idle) {
            return None;
        }
        let absolute = self.created_ms + WEB_SESSION_ABSOLUTE.as_millis() as u64;
        Some(if absolute <= self.last_ms + idle.as_millis() as u64 {
            format!(
                "sessionen gick ut: längsta tid ({} timmar) nådd",
                WEB_SESSION_ABSOLUTE.as_secs() / 3600
            )
        } else {
            format!(
                "sessionen gick ut efter {} minuter utan aktivitet",
                idle.as_secs() / 60
            )
        })
    }
}

/// A session that ended, and why (Swedish), for the access log.
#[derive(Clone, Debug)]
pub struct Ended {
    /// The session as it was.
    pub session: Session,
    /// Why it ended.
    pub why: String,
}

/// How often, at most, every session is checked for expiry (one is always checked when it
/// is used).
const SWEEP_EVERY_MS: u64 = 60_000;

/// The sessions of this node. Every session that ends, however it ends, is queued in
/// [`Sessions::take_ended`] for the access log.
pub struct Sessions {
    idle: Duration,
    table: HashMap<[u8; 32], Session>,
    ended: Vec<Ended>,
    swept_ms: u64,
}

impl Sessions {
    /// No sessions; `idle` is the idle timeout.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            table: HashMap::new(),
            ended: Vec::new(),
            swept_ms: 0,
        }
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// A new session for `account` (standing on `stamp`) from `client`: its id (for the
    /// cookie) and the session. Always a new id, so an id someone planted before login is
    /// never the one that logs in.
    pub fn start(
        &mut self,
        account: Account,
        stamp: [u8; 32],
        client: &str,
        now_ms: u64,
    ) -> (String, Session) {
        self.expire(now_ms);
        if self.table.len() >= WEB_SESSIONS_MAX {
            if let Some(oldest) = self
                .table
                .iter()
                .min_by_key(|(_, s)| s.last_ms)
                .map(|(k, _)| *k)
            {
                self.remove(
                    &oldest,
                    "sessionen avslutad: för många öppna sessioner på noden",
                );
            }
        }
        let id = random_token();
        let session = Session {
            account,
            stamp,
            client: client.to_string(),
            csrf: random_token(),
            created_ms: now_ms,
            last_ms: now_ms,
        };
        self.table.insert(key_of(&id), session.clone());
        (id, session)
    }

    /// The live session of `id`; `activity` moves its idle limit. An expired one is removed.
    pub fn get(&mut self, id: &str, now_ms: u64, activity: bool) -> Option<Session> {
        let key = key_of(id);
        let idle = self.idle;
        let why = self.table.get(&key)?.expired(idle, now_ms);
        if let Some(why) = why {
            self.remove(&key, &why);
            return None;
        }
        let s = self.table.get_mut(&key)?;
        if activity {
            s.last_ms = s.last_ms.max(now_ms);
        }
        Some(s.clone())
    }

    /// Ends a session (logout, the account changed), saying why.
    pub fn end(&mut self, id: &str, why: &str) {
        self.remove(&key_of(id), why);
    }

    /// The session of `id` now stands on `stamp` (its own password changed in it).
    pub fn restamp(&mut self, id: &str, stamp: [u8; 32]) {
        if let Some(s) = self.table.get_mut(&key_of(id)) {
            s.stamp = stamp;
        }
    }

    /// Ends every session of `login` but `keep` (its password was changed in `keep`).
    pub fn end_others(&mut self, login: &str, keep: &str, why: &str) {
        let keep = key_of(keep);
        let others: Vec<[u8; 32]> = self
            .table
            .iter()
            .filter(|(k, s)| **k != keep && s.account.login == login)
            .map(|(k, _)| *k)
            .collect();
        for k in others {
            self.remove(&k, why);
        }
    }

    /// Checks every session for expiry, at most once a minute.
    pub fn sweep(&mut self, now_ms: u64) {
        if now_ms >= self.swept_ms.saturating_add(SWEEP_EVERY_MS) || now_ms < self.swept_ms {
            self.expire(now_ms);
        }
    }

    /// The sessions that ended since the last call, to write to the access log.
    pub fn take_ended(&mut self) -> Vec<Ended> {
        std::mem::take(&mut self.ended)
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn remove(&mut self, key: &[u8; 32], why: &str) {
        if let Some(session) = self.table.remove(key) {
            self.ended.push(Ended {
                session,
                why: why.to_string(),
            });
        }
    }

    fn expire(&mut self, now_ms: u64) {
        self.swept_ms = now_ms;
        let idle = self.idle;
        let gone: Vec<([u8; 32], String)> = self
            .table
            .iter()
            .filter_map(|(k, s)| s.expired(idle, now_ms).map(|why| (*k, why)))
            .collect();
        for (k, why) in gone {
            self.remove(&k, &why);
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_ms: u64,
}

/// Failed logins per client address and per login, with back-off: after the free failures,
/// each further attempt must wait `LOGIN_BACKOFF_BASE` doubled per failure, at most
/// `LOGIN_BACKOFF_MAX`. A login that succeeds clears its account's count (not the address's:
/// one person logging in does not clear someone else's guessing from the same address).
#[derive(Default)]
pub struct Throttle {
    by_address: HashMap<String, Failures>,
    by_login: HashMap<String, Failures>,
}

fn wait_ms(f: Option<&Failures>, free: u32, now_ms: u64) -> u64 {
    let Some(f) = f else { return 0 };
    if f.count < free {
        return 0;
    }
    let doublings = (f.count - free).min(20);
    let backoff = (LOGIN_BACKOFF_BASE.as_millis() as u64)
        .saturating_mul(1 << doublings)
        .min(LOGIN_BACKOFF_MAX.as_millis() as u64);
    (f.last_ms + backoff).saturating_sub(now_ms)
}

fn bump(map: &mut HashMap<String, Failures>, key: &str, now_ms: u64) {
    if !map.contains_key(key) && map.len() >= LOGIN_COUNTERS_MAX {
        if let Some(stalest) = map
            .iter()
            .min_by_key(|(_, f)| f.last_ms)
            .map(|(k, _)| k.clone())
        {
            map.remove(&stalest);
        }
    }
    let f = map.entry(key.to_string()).or_insert(Failures {
        count: 0,
        last_ms: now_ms,
    });
    f.count = f.count.saturating_add(1);
    f.last_ms = now_ms;
}

impl Throttle {
    /// How long (ms) an attempt from `address` for `login` must still wait; 0: it may go on.
    pub fn wait_ms(&self, address: &str, login: &str, now_ms: u64) -> u64 {
        wait_ms(
            self.by_address.get(address),
            LOGIN_FREE_FAILURES_PER_ADDRESS,
            now_ms,
        )
        .max(wait_ms(
            self.by_login.get(&login.to_lowercase()),
            LOGIN_FREE_FAILURES_PER_ACCOUNT,
            now_ms,
        ))
    }

    /// Counts a failed attempt.
    pub fn failed(&mut self, address: &str, login: &str, now_ms: u64) {
        bump(&mut self.by_address, address, now_ms);
        bump(&mut self.by_login, &login.to_lowercase(), now_ms);
    }

    /// A successful login clears that login's failures.
    pub fn succeeded(&mut self, login: &str) {
        self.by_login.remove(&login.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kim() -> Account {
        Account {
            login: "kim".into(),
            name: "Kim Karlsson".into(),
            title: "sjuksköterska".into(),
            unit: "SE2321000081-AVD12".parse().expect("a valid HSA-id"),
            roles: vec![crate::care::api::Role::Staff],
        }
    }

    #[test]
    fn idle_and_absolute_limits() {
        let idle = Duration::from_secs(20 * 60);
        let mut s = Sessions::new(idle);
        let (id, _) = s.start(kim(), [0; 32], "10.0.0.7", 0);
        // Polling does not keep it alive; activity does, up to the absolute limit.
        assert!(s.get(&id, 19 * 60_000, false).is_some());
        assert!(s.get(&id, 20 * 60_000, false).is_none());
        let ended = s.take_ended();
        assert_eq!(ended.len(), 1);
        assert!(
            ended[0].why.contains("20 minuter utan aktivitet"),
            "{:?}",
            ended[0].why
        );
        let (id, _) = s.start(kim(), [0; 32], "10.0.0.7", 0);
        let mut t = 0;
        while t + 10 * 60_000 < WEB_SESSION_ABSOLUTE.as_millis() as u64 {
            t += 10 * 60_000;
            assert!(s.get(&id, t, true).is_some(), "alive at {t}");
        }
        assert!(s
            .get(&id, WEB_SESSION_ABSOLUTE.as_millis() as u64, true)
            .is_none());
        let ended = s.take_ended();
        assert_eq!(ended.len(), 1);
        assert!(ended[0].why.contains("längsta tid"), "{:?}", ended[0].why);
        assert_eq!(ended[0].session.client, "10.0.0.7");
    }

    #[test]
    fn a_session_that_ends_unseen_is_found_by_the_sweep_once() {
        let idle = Duration::from_secs(20 * 60);
        let mut s = Sessions::new(idle);
        s.start(kim(), [0; 32], "10.0.0.7", 0);
        let (other, _) = s.start(kim(), [0; 32], "10.0.0.8", 0);
        s.get(&other, 15 * 60_000, true).expect("alive");
        // Within a minute of the last sweep nothing is looked at; then the idle one is found.
        s.sweep(30_000);
        assert!(s.take_ended().is_empty());
        s.sweep(21 * 60_000);
        let ended = s.take_ended();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].session.client, "10.0.0.7");
        s.sweep(60 * 60_000);
        assert_eq!(s.take_ended().len(), 1, "the other, once");
        s.sweep(120 * 60_000);
        assert!(s.take_ended().is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn back_off_doubles_after_the_free_failures() {
        let mut t = Throttle::default();
        for i in 0..LOGIN_FREE_FAILURES_PER_ACCOUNT {
            assert_eq!(t.wait_ms("10.0.0.1", "kim", 1000), 0, "{i}");
            t.failed("10.0.0.1", "Kim", 1000);
        }
        let base = LOGIN_BACKOFF_BASE.as_millis() as u64;
        assert_eq!(t.wait_ms("10.0.0.2", "kim", 1000), base);
        t.failed("10.0.0.2", "kim", 1000);
        assert_eq!(t.wait_ms("10.0.0.2", "KIM", 1000), 2 * base);
        // Another login from the address is not held up by kim's failures.
        assert_eq!(t.wait_ms("10.0.0.1", "sara", 1000), 0);
        t.succeeded("kim");
        assert_eq!(t.wait_ms("10.0.0.1", "kim", 1000), 0);
    }
}
