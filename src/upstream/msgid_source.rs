//! Where msgids come from in the daemon: the store's persistent `upstream.msgid` counter,
//! advanced and committed before the id is handed out, so no two requests ever share a msgid —
//! not within a second, not across a restart or a crash.
//!
//! The 4-digit field wraps every 10000 requests; with the 14-digit timestamp in front, a
//! collision would need 10000 requests within one second on one terminal.

use chrono::{DateTime, Utc};

use super::msgid::{MsgId, MsgIdError, SEQ_MODULUS};
use crate::store::{Store, StoreError, WriteOp, WriteOutcome};

/// The counter's name in the store.
pub const COUNTER: &str = "upstream.msgid";

/// Why no msgid could be issued.
#[derive(Debug, thiserror::Error)]
pub enum MsgIdSourceError {
    /// The counter could not be advanced (the request must not be sent).
    #[error("msgid counter: {0}")]
    Store(#[from] StoreError),
    /// The configured institution code cannot form a msgid.
    #[error(transparent)]
    Invalid(#[from] MsgIdError),
    /// The store answered with something other than a counter value (a bug).
    #[error("the store answered the msgid counter with {0}")]
    UnexpectedAnswer(String),
}

/// Issues msgids for one terminal.
#[derive(Clone)]
pub struct MsgIdSource {
    store: Store,
    fixmedins_code: String,
}

impl MsgIdSource {
    /// A source for `fixmedins_code` (checked now, so a bad code fails at start-up).
    pub fn new(store: Store, fixmedins_code: &str) -> Result<MsgIdSource, MsgIdError> {
        MsgId::new(fixmedins_code, Utc::now(), 0)?;
        Ok(MsgIdSource {
            store,
            fixmedins_code: fixmedins_code.to_owned(),
        })
    }

    /// The next msgid, stamped `at` (China Standard Time in the id).
    pub async fn next(&self, at: DateTime<Utc>) -> Result<MsgId, MsgIdSourceError> {
        let op = WriteOp::NextSequence {
            name: COUNTER.to_owned(),
        };
        let value = match self.store.write(op).await? {
            WriteOutcome::Sequence(v) => v,
            other => {
                return Err(MsgIdSourceError::Store(StoreError::Closed)).inspect_err(|_| {
                    tracing::error!(
                        ?other,
                        "the store answered NextSequence with another outcome"
                    )
                });
            }
        };
        let seq = u16::try_from(value % u64::from(SEQ_MODULUS)).unwrap_or(0);
        Ok(MsgId::new(&self.fixmedins_code, at, seq)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    #[tokio::test]
    async fn ids_are_unique_within_a_second_and_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .to_utc();
        let mut seen = HashSet::new();
        for _ in 0..2 {
            let (store, _) = Store::open(&path, Duration::from_secs(1)).unwrap();
            let ids = MsgIdSource::new(store.clone(), "H11010500001").unwrap();
            for _ in 0..50 {
                let id = ids.next(at).await.unwrap();
                assert_eq!(&id.as_str()[..26], "H1101050000120261123100000");
                assert!(
                    seen.insert(id.as_str().to_owned()),
                    "{} issued twice",
                    id.as_str()
                );
            }
            store.close().await.unwrap();
        }
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn a_bad_institution_code_fails_at_construction() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("m.db"), Duration::from_secs(1)).unwrap();
        assert!(MsgIdSource::new(store, "H110").is_err());
    }
}
