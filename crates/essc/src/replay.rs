//! The replay guard: a nonce is accepted once per issuer key, until its code can no longer
//! verify anyway.
//!
//! [`ReplayGuard`] is the contract; the daemon's implementation persists in SQLite (the store
//! owns it) so a restart does not reopen the window. [`MemoryReplayGuard`] is the in-memory
//! one for tests and the demo: bounded, forgetting entries once expired, and failing closed
//! (refusing) when full of live entries rather than evicting one and reopening its window.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

/// Whether a nonce was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Never seen; now remembered until `expires_at_unix`.
    Fresh,
    /// Seen before: the code is a replay.
    Replayed,
}

/// The guard could not tell; the code must be refused (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("replay guard full ({0} live entries)")]
    Full(usize),
    #[error("replay guard storage: {0}")]
    Storage(String),
}

/// Remembers `(kid, nonce)` pairs. Called only for codes that passed every other check, so
/// forged or expired codes never fill it. `nonce` is lower-case hex.
pub trait ReplayGuard: Send + Sync {
    /// Atomically checks and records the pair. `expires_at_unix` is the last second the code
    /// could verify (`exp + skew`); the entry may be forgotten after it. `now_unix` is the
    /// verifier's clock, used to purge.
    fn check_and_remember(
        &self,
        kid: &str,
        nonce: &str,
        expires_at_unix: i64,
        now_unix: i64,
    ) -> Result<Freshness, GuardError>;
}

/// An in-memory [`ReplayGuard`] holding at most `capacity` live entries.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    seen: HashSet<(String, String)>,
    by_expiry: BTreeSet<(i64, String, String)>,
}

impl MemoryReplayGuard {
    /// A guard for at most `capacity` live entries (a counter sees a few per minute; codes
    /// live at most 300 s plus skew, so a few thousand is ample).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves the sets consistent (each step is one insert
        // or remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn check_and_remember(
        &self,
        kid: &str,
        nonce: &str,
        expires_at_unix: i64,
        now_unix: i64,
    ) -> Result<Freshness, GuardError> {
        let mut e = self.lock();
        while let Some(first) = e.by_expiry.first().cloned() {
            if first.0 >= now_unix {
                break;
            }
            e.by_expiry.remove(&first);
            e.seen.remove(&(first.1, first.2));
        }
        let key = (kid.to_owned(), nonce.to_owned());
        if e.seen.contains(&key) {
            return Ok(Freshness::Replayed);
        }
        if e.seen.len() >= self.capacity {
            return Err(GuardError::Full(e.seen.len()));
        }
        e.by_expiry
            .insert((expires_at_unix, key.0.clone(), key.1.clone()));
        e.seen.insert(key);
        Ok(Freshness::Fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_then_forgets() {
        let g = MemoryReplayGuard::new(10);
        assert_eq!(
            g.check_and_remember("k", "n1", 100, 50),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            g.check_and_remember("k", "n1", 100, 60),
            Ok(Freshness::Replayed)
        );
        assert_eq!(
            g.check_and_remember("k2", "n1", 100, 60),
            Ok(Freshness::Fresh)
        );
        assert_eq!(
            g.check_and_remember("k", "n1", 100, 100),
            Ok(Freshness::Replayed)
        );
        // After expiry the entry is purged (the verifier refuses such a code as expired).
        assert_eq!(
            g.check_and_remember("k", "n2", 300, 101),
            Ok(Freshness::Fresh)
        );
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn fails_closed_when_full_of_live_entries() {
        let g = MemoryReplayGuard::new(2);
        g.check_and_remember("k", "a", 100, 0).unwrap();
        g.check_and_remember("k", "b", 200, 0).unwrap();
        assert_eq!(
            g.check_and_remember("k", "c", 300, 0),
            Err(GuardError::Full(2))
        );
        // Still a replay, not "full", for a known nonce.
        assert_eq!(
            g.check_and_remember("k", "a", 100, 0),
            Ok(Freshness::Replayed)
        );
        // Once "a" expires there is room again.
        assert_eq!(
            g.check_and_remember("k", "c", 300, 101),
            Ok(Freshness::Fresh)
        );
    }
}
