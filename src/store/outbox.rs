//! The fleet outbox (`outbox` table, schema v10): which sales the fleet ledger must hear about
//! again, in the order their changes committed.
//!
//! A row is added by the sale transition itself (`sales::transition` calls [`enqueue`] inside
//! its savepoint), so a change and its outbox row commit together or not at all: no crash can
//! leave a settlement the ledger never hears of. Rows are added only while the outbox is on (the
//! `meta` switch [`SWITCH`], set through the writer by [`Store::set_outbox`] when the daemon has
//! a `[fleet]`), and only for sales whose document holds a settlement with a `setl_id` — the
//! sales that have settlement facts. Turning the outbox on enqueues every sale that may have
//! facts (the history before the fleet, or changes made while it was off); turning it off
//! empties it. A row carries the sale id and its version (the seq of its newest history row);
//! the facts are derived from the sale when the row is sent (`fleet::drain`), never copied here.
//! Holds no personal data; knows nothing of PostgreSQL. The writes that reach it through the
//! writer (`set_outbox`, `outbox_remove`) are in `write.rs`; the drain's read of a sale with
//! its version is `sales::sale_versioned`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use super::{Store, StoreError};

/// The `meta` key of the outbox switch: `'1'` while the fleet ledger is configured.
pub(super) const SWITCH: &str = "fleet.outbox";

/// States in which a sale cannot have a settlement yet (or never had one): turning the outbox
/// on skips them. Every other sale is enqueued; the drain drops those without facts.
const BEFORE_SETTLEMENT: &str = "('captured', 'identified', 'presettled', 'confirmed', \
     'queued', 'rejected', 'expired', 'abandoned', 'registering', 'registered', 'uploaded', \
     'undoing')";

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Enqueue order (never reused).
    pub id: i64,
    pub sale_id: String,
    /// The sale's version when enqueued: the seq of its newest history row.
    pub version: i64,
    pub enqueued_at_ms: i64,
}

/// How far the ledger is behind: rows waiting and the oldest one's enqueue time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    pub rows: u64,
    pub oldest_enqueued_at_ms: Option<i64>,
}

impl OutboxStats {
    /// The outbox lag at `now_ms`: the age of the oldest waiting row (0 when empty).
    pub fn lag_ms(&self, now_ms: i64) -> i64 {
        self.oldest_enqueued_at_ms
            .map_or(0, |t| now_ms.saturating_sub(t).max(0))
    }
}

/// What [`Store::set_outbox`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxSwitch {
    /// It already was as asked.
    Unchanged,
    /// Turned on; this many sales that may have facts were enqueued.
    On { backfilled: u64 },
    /// Turned off; this many waiting rows were dropped.
    Off { dropped: u64 },
}

impl Store {
    /// The oldest `limit` outbox rows, in enqueue order.
    pub async fn outbox_page(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.read(move |c| Ok(page(c, limit)?)).await
    }

    /// Rows waiting and the oldest one's enqueue time.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.read(|c| Ok(stats(c)?)).await
    }

    /// Waits until a write that may have enqueued a row committed (a permit is kept if none
    /// waits, so a wake between two looks at the outbox is not lost).
    pub async fn outbox_wake(&self) {
        self.inner.counters.outbox.notified().await;
    }
}

/// The part of a sale document that says whether it has settlement facts.
#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    settlement: Option<Settled>,
}

#[derive(Deserialize)]
struct Settled {
    #[serde(default)]
    setl_id: Option<String>,
}

/// Whether the (clear) sale document `doc` holds a settlement with a `setl_id`.
fn has_settlement(doc: &str) -> bool {
    serde_json::from_str::<Doc>(doc).is_ok_and(|d| {
        d.settlement
            .and_then(|s| s.setl_id)
            .is_some_and(|id| !id.is_empty())
    })
}

fn is_on(c: &Connection) -> rusqlite::Result<bool> {
    Ok(c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([SWITCH], |r| r.get::<_, String>(0))
        .optional()?
        .is_some_and(|v| v == "1"))
}

/// Adds the outbox row of a sale change, inside the change's own savepoint: only while the
/// outbox is on and only when the sale (its new document `doc`, clear) has a settlement.
/// Called after the change's history row is written, so the version is the new one.
pub(super) fn enqueue(
    tx: &Connection,
    sale_id: &str,
    doc: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    if !is_on(tx)? || !has_settlement(doc) {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO outbox (sale_id, version, enqueued_at_ms)
         SELECT ?1, coalesce(max(seq), 0), ?2 FROM sale_events WHERE sale_id = ?1",
    )?
    .execute(params![sale_id, at_ms])?;
    Ok(true)
}

/// The switch: on enqueues every sale that may have facts (oldest change first), off drops
/// every waiting row.
pub(super) fn switch(tx: &Connection, on: bool, at_ms: i64) -> Result<OutboxSwitch, StoreError> {
    if is_on(tx)? == on {
        return Ok(OutboxSwitch::Unchanged);
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![SWITCH, if on { "1" } else { "0" }],
    )?;
    if on {
        let n = tx.execute(
            &format!(
                "INSERT INTO outbox (sale_id, version, enqueued_at_ms)
                 SELECT s.id,
                        (SELECT coalesce(max(seq), 0) FROM sale_events WHERE sale_id = s.id), ?1
                 FROM sales s WHERE s.state NOT IN {BEFORE_SETTLEMENT}
                 ORDER BY s.updated_at_ms, s.id"
            ),
            [at_ms],
        )?;
        Ok(OutboxSwitch::On {
            backfilled: u64::try_from(n).unwrap_or(0),
        })
    } else {
        let n = tx.execute("DELETE FROM outbox", [])?;
        Ok(OutboxSwitch::Off {
            dropped: u64::try_from(n).unwrap_or(0),
        })
    }
}

/// Deletes the rows `ids`; answers how many there were.
pub(super) fn remove(tx: &Connection, ids: &[i64]) -> Result<u64, StoreError> {
    let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
    let mut n = 0;
    for id in ids {
        n += stmt.execute([id])?;
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

fn page(c: &Connection, limit: u32) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, sale_id, version, enqueued_at_ms FROM outbox ORDER BY id LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(OutboxRow {
            id: r.get(0)?,
            sale_id: r.get(1)?,
            version: r.get(2)?,
            enqueued_at_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

fn stats(c: &Connection) -> rusqlite::Result<OutboxStats> {
    c.prepare_cached("SELECT count(*), min(enqueued_at_ms) FROM outbox")?
        .query_row([], |r| {
            Ok(OutboxStats {
                rows: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                oldest_enqueued_at_ms: r.get(1)?,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_settlement_with_a_setl_id_counts() {
        assert!(has_settlement(
            r#"{"id":"S1","settlement":{"setl_id":"X1","medfee":"1.00"},"items":[]}"#
        ));
        assert!(!has_settlement(
            r#"{"id":"S1","settlement":{"setl_id":""}}"#
        ));
        assert!(!has_settlement(
            r#"{"id":"S1","settlement":{"setl_id":null}}"#
        ));
        assert!(!has_settlement(r#"{"id":"S1","settlement":null}"#));
        assert!(!has_settlement(r#"{"id":"S1"}"#));
        assert!(!has_settlement("not json"));
    }

    #[test]
    fn the_lag_is_the_age_of_the_oldest_row() {
        let s = OutboxStats {
            rows: 2,
            oldest_enqueued_at_ms: Some(1_000),
        };
        assert_eq!(s.lag_ms(4_500), 3_500);
        assert_eq!(s.lag_ms(500), 0, "a clock stepped back is no negative lag");
        assert_eq!(OutboxStats::default().lag_ms(4_500), 0);
    }
}
