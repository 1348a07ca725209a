//! Password logins (`POST /api/auth/token/`) that cannot be used as a lever against the server
//! or as an oracle of user names.
//!
//! - Argon2 runs on the blocking pool, at most one hash per core at a time: a flood of logins
//!   queues behind itself and never occupies the async workers that answer queries.
//! - Failed attempts are counted per user name and per client address in one-minute windows;
//!   past the limit the answer is HTTP 429 before any hash is computed.
//! - An unknown user costs the same hash as a known one (a dummy hash of the same parameters is
//!   verified), so the time of an answer does not tell whether the user exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferrobot_persistence::auth::User;
use ferrobot_persistence::{Store, StoreResult};

use crate::auth::{hash_password, verify_password};

/// How a login ended.
#[derive(Debug)]
pub enum Outcome {
    Accepted(User),
    Refused,
    /// Too many failures lately: retry after this many seconds.
    Throttled(u64),
}

const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked names or addresses, windows that have ended are forgotten.
const TRACKED: usize = 100_000;

/// Failed attempts per user name and per client address.
pub struct Logins {
    limit: u32,
    failures: Mutex<HashMap<Key, (Instant, u32)>>,
    hashing: tokio::sync::Semaphore,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

impl Logins {
    pub fn new(limit: u32) -> Logins {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Logins {
            limit: limit.max(1),
            failures: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(cores),
        }
    }

    /// Checks `password` for `username`, coming from `address`.
    pub async fn attempt(
        self: &Arc<Self>,
        store: &Store,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> StoreResult<Outcome> {
        let keys: Vec<Key> = std::iter::once(Key::User(username.to_owned()))
            .chain(address.map(Key::Address))
            .collect();
        if let Some(wait) = self.throttled(&keys) {
            return Ok(Outcome::Throttled(wait));
        }
        let user = store.user_by_name(username).await?;
        let hash = match &user {
            Some(u) => u.password_hash.clone(),
            None => dummy_hash().to_owned(),
        };
        let password = password.to_owned();
        let verified = {
            let _permit = self.hashing.acquire().await.ok();
            tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .unwrap_or(false)
        };
        match user {
            Some(user) if verified && user.is_active => Ok(Outcome::Accepted(user)),
            _ => {
                self.fail(&keys);
                Ok(Outcome::Refused)
            }
        }
    }

    /// Seconds until the first of `keys` over the limit may try again.
    fn throttled(&self, keys: &[Key]) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter(|(start, count)| *count >= self.limit && start.elapsed() < WINDOW)
            .map(|(start, _)| WINDOW.saturating_sub(start.elapsed()).as_secs().max(1))
            .max()
    }

    fn fail(&self, keys: &[Key]) {
        let Ok(mut failures) = self.failures.lock() else { return };
        if failures.len() > TRACKED {
            failures.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((Instant::now(), 0));
            if entry.0.elapsed() >= WINDOW {
                *entry = (Instant::now(), 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }
}

/// A hash of the same parameters as real ones, verified for unknown users.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_per_window_and_key() {
        let logins = Logins::new(3);
        let user = [Key::User("admin".into())];
        let address = [Key::Address(IpAddr::from([127, 0, 0, 1]))];
        for _ in 0..3 {
            assert_eq!(logins.throttled(&user), None);
            logins.fail(&user);
        }
        assert!(logins.throttled(&user).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(logins.throttled(&address), None);
        // A window that has ended counts from zero again.
        if let Ok(mut failures) = logins.failures.lock() {
            let ended = Instant::now().checked_sub(WINDOW).unwrap_or_else(Instant::now);
            failures.insert(user[0].clone(), (ended, 3));
        }
        assert_eq!(logins.throttled(&user), None);
    }
}
