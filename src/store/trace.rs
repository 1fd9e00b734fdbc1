//! The trace-report outbox (`trace_reports`, `trace_sold`; schema v11): which item lines must
//! still be reported to the platform's traceability service (3505 商品销售, 3506 退货), and
//! which codes this terminal sold.
//!
//! Rows are added by the sale transition itself (`sales::transition` calls [`on_transition`]
//! inside its savepoint), so a settlement and the reports it owes commit together or not at
//! all: no crash can leave a sold box unreported. Entering `settled` adds a 3505 row per line
//! that has codes and remembers the codes as sold; entering `cancelled` or `closing` (the
//! settlement was refunded) cancels the 3505 rows never attempted (and any the platform
//! refused) and adds a 3506 row for every other line, and forgets the codes. Adding is
//! idempotent (one row per sale, line and infno), so a visit's `closing` → `cancelled` or a
//! restored settlement adds nothing twice. The rows hold counts and msgids, never the codes or
//! the person: the request is built from the (sealed) sale when it is sent
//! (`settle::report`).

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::cached::Cached;
use super::{Store, StoreError};

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    /// Enqueue order (never reused).
    pub id: i64,
    pub sale_id: String,
    /// The item line, counted from 0 as in the sale's `items`.
    pub line: u32,
    /// `3505` (sold) or `3506` (returned).
    pub infno: String,
    pub state: TraceState,
    /// How many codes the line reports.
    pub codes: u32,
    /// Attempts so far.
    pub tries: u32,
    /// When a pending row is next due.
    pub next_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The msgid of the attempt in flight or last sent (a resend keeps it).
    pub msgid: Option<String>,
    /// That attempt's `inf_time`.
    pub msg_at_ms: Option<i64>,
    /// The platform's `msgRslt`, or the last error.
    pub answer: Option<String>,
}

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The platform took it.
    Sent,
    /// The platform refused it: an operator retries it once the cause is fixed.
    Failed,
    /// Not needed any more (a 3505 never sent whose sale was refunded).
    Cancelled,
}

impl TraceState {
    pub const ALL: [TraceState; 4] = [
        TraceState::Pending,
        TraceState::Sent,
        TraceState::Failed,
        TraceState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TraceState::Pending => "pending",
            TraceState::Sent => "sent",
            TraceState::Failed => "failed",
            TraceState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TraceState> {
        TraceState::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What an attempt (or an operator) did to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceChange {
    /// An attempt under `msgid` (inf_time `msg_at_ms`) is about to leave: recorded first, so a
    /// resend after a crash keeps the msgid.
    Attempt { msgid: String, msg_at_ms: i64 },
    /// The platform took it.
    Sent { answer: Option<String> },
    /// The platform refused it.
    Failed { answer: String },
    /// No answer (or a passing error): tried again at `next_at_ms` under the same msgid.
    Later { next_at_ms: i64, error: String },
    /// Not needed any more: a 3506 whose 3505 the platform refused.
    Cancel { answer: String },
    /// An operator sends a failed row again: pending now, a fresh msgid at its next attempt.
    Retry,
}

/// Rows by state and the oldest pending row's enqueue time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TraceStats {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub oldest_pending_at_ms: Option<i64>,
}

impl TraceStats {
    /// Age of the oldest pending row at `now_ms` (0 when none).
    pub fn lag_ms(&self, now_ms: i64) -> i64 {
        self.oldest_pending_at_ms
            .map_or(0, |t| now_ms.saturating_sub(t).max(0))
    }
}

/// A code another sale of this terminal sold and did not take back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoldBefore {
    pub code: String,
    pub sale_id: String,
    pub at_ms: i64,
}

impl Store {
    /// Pending rows due at `now_ms`, oldest first; a 3506 waits while its line's 3505 is still
    /// pending (the platform must have the sale before the return).
    pub async fn trace_due(&self, now_ms: i64, limit: u32) -> Result<Vec<TraceReport>, StoreError> {
        self.read(move |c| {
            Ok(select(
                c,
                &format!("WHERE {SENDABLE} AND r.next_at_ms <= ?1 ORDER BY r.id LIMIT ?2"),
                params![now_ms, limit],
            )?)
        })
        .await
    }

    /// When the next row [`Store::trace_due`] would give falls due (`None`: none waits; a 3506
    /// behind its pending 3505 counts only through that 3505).
    pub async fn trace_next_due(&self) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            Ok(c.row_cached(
                &format!("SELECT min(r.next_at_ms) FROM trace_reports r WHERE {SENDABLE}"),
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// The newest `limit` rows in `states` (every state when empty), newest first; with
    /// `sale_id`, that sale's only.
    pub async fn trace_list(
        &self,
        states: Vec<TraceState>,
        sale_id: Option<String>,
        limit: u32,
    ) -> Result<Vec<TraceReport>, StoreError> {
        self.read(move |c| {
            let names: Vec<&str> = if states.is_empty() {
                TraceState::ALL.iter().map(|s| s.as_str()).collect()
            } else {
                states.iter().map(|s| s.as_str()).collect()
            };
            let list = serde_json::to_string(&names).unwrap_or_default();
            Ok(select(
                c,
                "WHERE r.state IN (SELECT value FROM json_each(?1))
                   AND (?2 IS NULL OR r.sale_id = ?2)
                 ORDER BY r.id DESC LIMIT ?3",
                params![list, sale_id, limit],
            )?)
        })
        .await
    }

    /// Row `id`.
    pub async fn trace_report(&self, id: i64) -> Result<Option<TraceReport>, StoreError> {
        self.read(move |c| {
            Ok(select(c, "WHERE r.id = ?1", params![id])?
                .into_iter()
                .next())
        })
        .await
    }

    /// Rows by state.
    pub async fn trace_stats(&self) -> Result<TraceStats, StoreError> {
        self.read(|c| Ok(stats(c)?)).await
    }

    /// Of `codes`, those another sale than `sale_id` sold and did not take back.
    pub async fn trace_sold_elsewhere(
        &self,
        codes: Vec<String>,
        sale_id: String,
    ) -> Result<Vec<SoldBefore>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT sale_id, at_ms FROM trace_sold WHERE code = ?1 AND sale_id <> ?2
                 ORDER BY at_ms LIMIT 1",
            )?;
            let mut found = Vec::new();
            for code in codes {
                let hit: Option<(String, i64)> = stmt
                    .query_row(params![code, sale_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((sale_id, at_ms)) = hit {
                    found.push(SoldBefore {
                        code,
                        sale_id,
                        at_ms,
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    /// Waits until a write that may have added or freed a row committed (a permit is kept if
    /// none waits, so a wake between two looks is not lost).
    pub async fn trace_wake(&self) {
        self.inner.counters.trace.notified().await;
    }
}

/// A pending row that may be sent: not a 3506 whose line's 3505 is still pending.
const SENDABLE: &str = "r.state = 'pending' AND NOT (r.infno = '3506' AND EXISTS (
     SELECT 1 FROM trace_reports s WHERE s.sale_id = r.sale_id
     AND s.line = r.line AND s.infno = '3505' AND s.state = 'pending'))";

const COLUMNS: &str = "r.id, r.sale_id, r.line, r.infno, r.state, r.codes, r.tries, r.next_at_ms, \
     r.created_at_ms, r.updated_at_ms, r.msgid, r.msg_at_ms, r.answer";

fn select(
    c: &Connection,
    rest: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<TraceReport>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM trace_reports r {rest}"))?;
    let rows = stmt.query_map(params, |r| {
        let state: String = r.get(4)?;
        Ok(TraceReport {
            id: r.get(0)?,
            sale_id: r.get(1)?,
            line: r.get(2)?,
            infno: r.get(3)?,
            state: TraceState::parse(&state).unwrap_or(TraceState::Failed),
            codes: r.get(5)?,
            tries: r.get(6)?,
            next_at_ms: r.get(7)?,
            created_at_ms: r.get(8)?,
            updated_at_ms: r.get(9)?,
            msgid: r.get(10)?,
            msg_at_ms: r.get(11)?,
            answer: r.get(12)?,
        })
    })?;
    rows.collect()
}

fn stats(c: &Connection) -> rusqlite::Result<TraceStats> {
    let mut out = TraceStats::default();
    let mut stmt = c.prepare_cached("SELECT state, count(*) FROM trace_reports GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        let n = u64::try_from(n).unwrap_or(0);
        match TraceState::parse(&state) {
            Some(TraceState::Pending) => out.pending = n,
            Some(TraceState::Sent) => out.sent = n,
            Some(TraceState::Failed) => out.failed = n,
            Some(TraceState::Cancelled) => out.cancelled = n,
            None => {}
        }
    }
    out.oldest_pending_at_ms = c.row_cached(
        "SELECT min(created_at_ms) FROM trace_reports WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(out)
}

/// The part of a (clear) sale document the outbox reads: each line's codes.
#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    items: Vec<DocItem>,
}

#[derive(Deserialize)]
struct DocItem {
    #[serde(default)]
    trace: Option<DocTrace>,
}

#[derive(Deserialize)]
struct DocTrace {
    #[serde(default)]
    codes: Vec<String>,
}

/// The reports a sale's move from `from` to `to` owes, added inside the move's savepoint (see
/// the module docs). Answers whether it added or freed a row (the reporter is then woken).
pub(super) fn on_transition(
    tx: &Connection,
    sale_id: &str,
    from: &str,
    to: &str,
    doc: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    if from == to {
        return Ok(false);
    }
    match to {
        "settled" => {
            let Ok(doc) = serde_json::from_str::<Doc>(doc) else {
                return Ok(false);
            };
            let mut added = false;
            for (line, item) in doc.items.iter().enumerate() {
                let Some(trace) = item.trace.as_ref().filter(|t| !t.codes.is_empty()) else {
                    continue;
                };
                let line = i64::try_from(line).unwrap_or(i64::MAX);
                let codes = i64::try_from(trace.codes.len()).unwrap_or(i64::MAX);
                added |= tx.exec_cached(
                    "INSERT OR IGNORE INTO trace_reports
                     (sale_id, line, infno, state, codes, next_at_ms, created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, '3505', 'pending', ?3, ?4, ?4, ?4)",
                    params![sale_id, line, codes, at_ms],
                )? > 0;
                for code in &trace.codes {
                    tx.exec_cached(
                        "INSERT OR IGNORE INTO trace_sold (code, sale_id, line, at_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![code, sale_id, line, at_ms],
                    )?;
                }
            }
            Ok(added)
        }
        "cancelled" | "closing" => {
            let cancelled = tx.exec_cached(
                "UPDATE trace_reports SET state = 'cancelled', updated_at_ms = ?2,
                     answer = coalesce(answer, 'the settlement was refunded before it was sent')
                 WHERE sale_id = ?1 AND infno = '3505'
                   AND (state = 'failed' OR (state = 'pending' AND tries = 0 AND msgid IS NULL))",
                params![sale_id, at_ms],
            )?;
            let returns = tx.exec_cached(
                "INSERT OR IGNORE INTO trace_reports
                 (sale_id, line, infno, state, codes, next_at_ms, created_at_ms, updated_at_ms)
                 SELECT sale_id, line, '3506', 'pending', codes, ?2, ?2, ?2
                 FROM trace_reports WHERE sale_id = ?1 AND infno = '3505'
                   AND state IN ('pending', 'sent')
                 ORDER BY line",
                params![sale_id, at_ms],
            )?;
            tx.exec_cached("DELETE FROM trace_sold WHERE sale_id = ?1", [sale_id])?;
            Ok(cancelled + returns > 0)
        }
        _ => Ok(false),
    }
}

/// Applies `change` to row `id` at `at_ms`; answers whether the row was in a state the change
/// applies to (an attempt, outcome or delay to a pending row; a retry to a failed one).
pub(super) fn update(
    tx: &Connection,
    id: i64,
    change: &TraceChange,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let n = match change {
        TraceChange::Attempt { msgid, msg_at_ms } => tx.exec_cached(
            "UPDATE trace_reports SET msgid = ?2, msg_at_ms = ?3, updated_at_ms = ?4
             WHERE id = ?1 AND state = 'pending'",
            params![id, msgid, msg_at_ms, at_ms],
        )?,
        TraceChange::Sent { answer } => tx.exec_cached(
            "UPDATE trace_reports SET state = 'sent', tries = tries + 1, answer = ?2,
                 updated_at_ms = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, answer, at_ms],
        )?,
        TraceChange::Failed { answer } => tx.exec_cached(
            "UPDATE trace_reports SET state = 'failed', tries = tries + 1, answer = ?2,
                 updated_at_ms = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, answer, at_ms],
        )?,
        TraceChange::Later { next_at_ms, error } => tx.exec_cached(
            "UPDATE trace_reports SET tries = tries + 1, next_at_ms = ?2, answer = ?3,
                 updated_at_ms = ?4
             WHERE id = ?1 AND state = 'pending'",
            params![id, next_at_ms, error, at_ms],
        )?,
        TraceChange::Cancel { answer } => tx.exec_cached(
            "UPDATE trace_reports SET state = 'cancelled', answer = ?2, updated_at_ms = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, answer, at_ms],
        )?,
        TraceChange::Retry => tx.exec_cached(
            "UPDATE trace_reports SET state = 'pending', next_at_ms = ?2, msgid = NULL,
                 msg_at_ms = NULL, updated_at_ms = ?2
             WHERE id = ?1 AND state = 'failed'",
            params![id, at_ms],
        )?,
    };
    Ok(n > 0)
}
