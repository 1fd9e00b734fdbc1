//! Browser sessions and one-time links for the status page, kept in memory only.
//!
//! A session id is 32 random bytes (hex) that a cookie carries; it is valid for
//! [`SESSION_TTL`]. A one-time link code is 16 random bytes (hex), valid for at most
//! [`LINK_TTL`] and good for one use. Nothing here is written to disk: a restart logs every
//! browser out. Time is passed in (`now`) so the rules are tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// How long a browser session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The longest a one-time link is valid.
pub const LINK_TTL: Duration = Duration::from_secs(120);
/// Bound on live sessions and links: the oldest go first.
const MAX_ENTRIES: usize = 256;

/// Why a one-time code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// Not a code this daemon issued (or issued so long ago it is forgotten).
    Unknown,
    /// Already opened once.
    Used,
    /// Past its validity.
    Expired,
}

#[derive(Debug)]
struct Link {
    expires: Instant,
    used: bool,
}

/// The sessions and links of one daemon.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Instant>>,
    links: Mutex<HashMap<String, Link>>,
}

fn random_hex<const N: usize>() -> String {
    hex::encode(rand::rng().random::<[u8; N]>())
}

/// Drops the entry that expires first when the map is full.
fn make_room<V>(map: &mut HashMap<String, V>, expiry: impl Fn(&V) -> Instant) {
    while map.len() >= MAX_ENTRIES {
        let Some(first) = map
            .iter()
            .min_by_key(|(_, v)| expiry(v))
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&first);
    }
}

impl Sessions {
    /// Opens a session; returns its id.
    pub fn open(&self, now: Instant) -> String {
        let id = random_hex::<32>();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, expires| *expires > now);
        make_room(&mut s, |e| *e);
        s.insert(id.clone(), now + SESSION_TTL);
        id
    }

    /// Whether `id` is a live session.
    pub fn is_valid(&self, id: &str, now: Instant) -> bool {
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.get(id).is_some_and(|expires| *expires > now)
    }

    /// Ends a session (logout). Unknown ids are ignored.
    pub fn close(&self, id: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.remove(id);
    }

    /// Issues a one-time code valid for `valid` (at most [`LINK_TTL`]).
    pub fn issue_link(&self, valid: Duration, now: Instant) -> String {
        let code = random_hex::<16>();
        let mut l = self.links.lock().unwrap_or_else(|p| p.into_inner());
        // Used and expired codes are remembered for a while so a second try says why.
        l.retain(|_, link| link.expires + Duration::from_secs(3600) > now);
        make_room(&mut l, |link| link.expires);
        l.insert(
            code.clone(),
            Link {
                expires: now + valid.min(LINK_TTL),
                used: false,
            },
        );
        code
    }

    /// Uses a one-time code: on success it is spent and a new session is opened.
    pub fn redeem(&self, code: &str, now: Instant) -> Result<String, LinkRefused> {
        {
            let mut l = self.links.lock().unwrap_or_else(|p| p.into_inner());
            let link = l.get_mut(code).ok_or(LinkRefused::Unknown)?;
            if link.used {
                return Err(LinkRefused::Used);
            }
            if now >= link.expires {
                return Err(LinkRefused::Expired);
            }
            link.used = true;
        }
        Ok(self.open(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_last_twelve_hours_and_end_on_close() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.open(t0);
        assert_eq!(id.len(), 64);
        assert!(s.is_valid(&id, t0 + SESSION_TTL - Duration::from_secs(1)));
        assert!(!s.is_valid(&id, t0 + SESSION_TTL));
        assert!(!s.is_valid("not-a-session", t0));
        s.close(&id);
        assert!(!s.is_valid(&id, t0));
    }

    #[test]
    fn links_work_once_and_expire() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let code = s.issue_link(LINK_TTL, t0);
        let session = s.redeem(&code, t0 + Duration::from_secs(119)).unwrap();
        assert!(s.is_valid(&session, t0 + Duration::from_secs(119)));
        assert_eq!(s.redeem(&code, t0), Err(LinkRefused::Used));

        let late = s.issue_link(Duration::from_secs(600), t0);
        assert_eq!(s.redeem(&late, t0 + LINK_TTL), Err(LinkRefused::Expired));
        assert_eq!(s.redeem("nope", t0), Err(LinkRefused::Unknown));
    }

    #[test]
    fn the_map_stays_bounded() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let first = s.open(t0);
        for i in 0..MAX_ENTRIES as u64 {
            s.open(t0 + Duration::from_millis(i + 1));
        }
        assert!(!s.is_valid(&first, t0));
        assert!(s.sessions.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
