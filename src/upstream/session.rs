//! The sign-in session (9001's `sign_no`) and the link state `/v1/status` shows.
//!
//! One async mutex serialises sign-ins, so concurrent requests at the start of a day cause one
//! 9001, not many; a plain snapshot lets status readers see the session without waiting. The
//! session is for one CST day: the client signs in again when the day changes or when the
//! platform rejects the number. No I/O here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub sign_no: String,
    /// The CST day it was obtained on.
    pub day: NaiveDate,
}

/// The session slot.
#[derive(Default)]
pub struct Session {
    slot: tokio::sync::Mutex<Option<SessionState>>,
    snapshot: std::sync::Mutex<Option<SessionState>>,
}

impl Session {
    /// Exclusive access while signing in.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Option<SessionState>> {
        self.slot.lock().await
    }

    /// Makes `state` visible to [`Session::sign_no`] (call while holding the lock).
    pub fn publish(&self, state: Option<&SessionState>) {
        *self.snapshot.lock().expect("session snapshot") = state.cloned();
    }

    /// The current session number, if signed in.
    pub fn sign_no(&self) -> Option<String> {
        self.snapshot
            .lock()
            .expect("session snapshot")
            .as_ref()
            .map(|s| s.sign_no.clone())
    }

    /// Drops the session if it is still `rejected` (another task may have renewed it already).
    pub async fn invalidate(&self, rejected: &str) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|s| s.sign_no == rejected) {
            *slot = None;
            self.publish(None);
        }
    }
}

/// The platform link, for `/v1/status` and `medsettle upstream ping`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStatus {
    /// The last exchange reached the platform (an answer, even a refusal).
    pub reachable: bool,
    pub signed_in: bool,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub last_answer_at: Option<DateTime<Utc>>,
    pub last_rtt_ms: Option<u64>,
    /// Error code and time of the last failed exchange.
    pub last_error: Option<(String, DateTime<Utc>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalidating_a_renewed_session_keeps_the_new_one() {
        let s = Session::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        {
            let mut g = s.lock().await;
            *g = Some(SessionState {
                sign_no: "A".into(),
                day,
            });
            s.publish(g.as_ref());
        }
        assert_eq!(s.sign_no().as_deref(), Some("A"));
        {
            let mut g = s.lock().await;
            *g = Some(SessionState {
                sign_no: "B".into(),
                day,
            });
            s.publish(g.as_ref());
        }
        s.invalidate("A").await;
        assert_eq!(s.sign_no().as_deref(), Some("B"));
        s.invalidate("B").await;
        assert_eq!(s.sign_no(), None);
        assert!(s.lock().await.is_none());
    }
}
