//! Where msgids come from in the daemon: the store's persistent `upstream.msgid` counter,
//! reserved in blocks of 64 that are committed before any of their values is handed out, so no
//! two requests ever share a msgid — not within a second, not across a restart or a crash (a
//! crash skips the rest of a block).
//!
//! The 4-digit field is the counter modulo 10000, or, when several terminals share one
//! `fixmedins_code`, the terminal's node digit followed by the counter modulo 1000. Should a
//! terminal ever issue more ids within one second than the field holds, the id's timestamp moves
//! on to the next second (the stamps stay monotonic), so a wrap can never repeat an id.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::msgid::{MsgId, MsgIdError, SEQ_MODULUS};
use crate::store::{Store, StoreError};

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
}

/// Issues msgids for one terminal.
#[derive(Clone)]
pub struct MsgIdSource {
    store: Store,
    fixmedins_code: String,
    node: Option<u8>,
    /// The last stamp used, how many ids carry it, and the reserved counter block.
    state: Arc<tokio::sync::Mutex<Issuing>>,
}

/// What the source tracks between ids.
struct Issuing {
    /// Unix seconds of the last id's stamp, and how many ids carry it.
    last_stamp: i64,
    issued: u32,
    /// Counter values reserved in the store and not yet used: `next ..= end`.
    next: u64,
    end: u64,
}

/// Counter values reserved per store write. Reserving commits the block before any value of
/// it is used, so a crash skips the rest of a block and never reuses a value.
const BLOCK: u64 = 64;

impl MsgIdSource {
    /// A source for `fixmedins_code` (checked now, so a bad code fails at start-up), with this
    /// terminal's node digit (0-9) when several terminals share the code.
    pub fn new(
        store: Store,
        fixmedins_code: &str,
        node: Option<u8>,
    ) -> Result<MsgIdSource, MsgIdError> {
        MsgId::new(fixmedins_code, Utc::now(), 0)?;
        if node.is_some_and(|n| n > 9) {
            return Err(MsgIdError::Sequence);
        }
        Ok(MsgIdSource {
            store,
            fixmedins_code: fixmedins_code.to_owned(),
            node,
            state: Arc::new(tokio::sync::Mutex::new(Issuing {
                last_stamp: i64::MIN,
                issued: 0,
                next: 1,
                end: 0,
            })),
        })
    }

    /// How many distinct sequence values one second holds.
    fn per_second(&self) -> u32 {
        if self.node.is_some() {
            1_000
        } else {
            u32::from(SEQ_MODULUS)
        }
    }

    /// The next msgid, stamped `at` (China Standard Time in the id) or, when this second's
    /// sequence values are used up, a later second.
    pub async fn next(&self, at: DateTime<Utc>) -> Result<MsgId, MsgIdSourceError> {
        // Held across the counter write so stamps and counter values advance together.
        let mut state = self.state.lock().await;
        if state.next > state.end {
            let block = self.store.reserve_sequence(COUNTER, BLOCK).await?;
            state.next = *block.start();
            state.end = *block.end();
        }
        let value = state.next;
        state.next += 1;
        let per_second = self.per_second();
        let in_field = value % u64::from(per_second);
        let seq = match self.node {
            Some(n) => u64::from(n) * 1_000 + in_field,
            None => in_field,
        };
        let seq = u16::try_from(seq).unwrap_or(0);
        if at.timestamp() > state.last_stamp {
            state.last_stamp = at.timestamp();
            state.issued = 0;
        }
        if state.issued >= per_second {
            state.last_stamp += 1;
            state.issued = 0;
        }
        state.issued += 1;
        let at = DateTime::from_timestamp(state.last_stamp, 0).unwrap_or(at);
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
            let ids = MsgIdSource::new(store.clone(), "H11010500001", None).unwrap();
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
        assert!(MsgIdSource::new(store.clone(), "H110", None).is_err());
        assert!(MsgIdSource::new(store, "H11010500001", Some(10)).is_err());
    }

    #[tokio::test]
    async fn terminals_sharing_a_code_never_collide_and_a_busy_second_moves_on() {
        let dir = tempfile::tempdir().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .to_utc();
        let mut seen = HashSet::new();
        let mut stores = Vec::new();
        for node in [1u8, 2] {
            let path = dir.path().join(format!("t{node}.db"));
            let (store, _) = Store::open(&path, Duration::from_secs(1)).unwrap();
            let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(node)).unwrap();
            // 1500 ids "within one second": the field holds 1000, so 500 move to the next one.
            for _ in 0..1_500 {
                let id = ids.next(at).await.unwrap();
                assert_eq!(id.sequence() / 1_000, u16::from(node));
                assert!(seen.insert(id.as_str().to_owned()), "{} twice", id.as_str());
            }
            stores.push(store);
        }
        let later = seen.iter().filter(|id| &id[20..26] == "100001").count();
        assert_eq!(later, 1_000, "500 per terminal stamped one second later");
        for s in stores {
            s.close().await.unwrap();
        }
    }
}
