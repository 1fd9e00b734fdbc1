//! `medsettle store salvage`: what a quarantined (corrupt) database still holds, copied into
//! the fresh one, then the quarantine lifted so money operations resume.
//!
//! Copied, each row that can still be read: every sale (queued and in-doubt ones above all;
//! settled ones too, for cancellation and reconciliation) with its history, every audit row
//! (the evidence recovery and reversal need), the named counters at the higher of both values
//! (the msgid high-water mark: a msgid is never handed out twice), the e-SSC nonces and their
//! high-water time. Not copied: runs (history of processes) and idempotency keys (short-lived;
//! a retry after the salvage is judged afresh). Sealed values are copied as they are (both
//! files are sealed under the same key set); `person_key` is computed anew under the fresh
//! file's lookup key. Each table is read in key order and, if a damaged page stops the scan,
//! again in reverse order from the other end; what still cannot be read is reported.
//!
//! Runs with the daemon stopped: one transaction on the fresh file, through SQLite's locks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use super::crypt::{Crypt, KeySet, label};
use super::sealed::person_id_in_doc;
use super::{StoreError, open, quarantine};

/// What a salvage copied and what it could not read.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SalvageReport {
    /// The quarantined file read.
    pub from: PathBuf,
    /// Rows copied, by table (`sales`, `sale_events`, `upstream_audit`, `sequences`,
    /// `essc_nonce`).
    pub copied: Vec<(String, u64)>,
    /// Sales copied that are still open (not settled, cancelled or abandoned).
    pub open_sales: u64,
    /// What could not be read or written, one line each.
    pub unreadable: Vec<String>,
}

/// One table to copy: its columns (the key first) and how its key orders.
struct Table {
    name: &'static str,
    columns: &'static str,
    order: &'static str,
    /// The insert into the fresh file, `?n` per column in `columns` order.
    insert: &'static str,
}

const TABLES: &[Table] = &[
    Table {
        name: "sales",
        columns: "id, created_at_ms, updated_at_ms, state, stored, amount_fen, next_attempt_at_ms, doc",
        order: "id",
        insert: "INSERT INTO sales (id, created_at_ms, updated_at_ms, state, stored, amount_fen,
                 next_attempt_at_ms, doc, person_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO NOTHING",
    },
    Table {
        name: "sale_events",
        columns: "sale_id, seq, at_ms, from_state, to_state, event, detail",
        order: "sale_id, seq",
        insert: "INSERT INTO sale_events (sale_id, seq, at_ms, from_state, to_state, event, detail)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM sales WHERE id = ?1)
                 ON CONFLICT (sale_id, seq) DO NOTHING",
    },
    Table {
        name: "upstream_audit",
        columns: "msgid, infno, request, sent_at_ms, http_status, response, outcome, answered_at_ms",
        order: "msgid",
        insert: "INSERT INTO upstream_audit (msgid, infno, request, sent_at_ms, http_status,
                 response, outcome, answered_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (msgid) DO NOTHING",
    },
    Table {
        name: "sequences",
        columns: "name, value",
        order: "name",
        insert: "INSERT INTO sequences (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
    },
    Table {
        name: "essc_nonce",
        columns: "kid, nonce, expires_at, seen_at",
        order: "kid, nonce",
        insert: "INSERT INTO essc_nonce (kid, nonce, expires_at, seen_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kid, nonce) DO NOTHING",
    },
];

/// See the module doc. `from` defaults to the file of the pending quarantine.
pub(super) fn salvage(
    path: &Path,
    busy: Duration,
    keys: KeySet,
    from: Option<&Path>,
) -> Result<SalvageReport, StoreError> {
    let opened = open::open(path, busy, keys)?;
    let pending = opened.report.pending_quarantine.clone();
    drop(opened.reader);
    let mut fresh = opened.writer;
    let crypt = opened.crypt;
    let from = match (from, &pending) {
        (Some(f), _) => f.to_owned(),
        (None, Some(q)) => q.moved_to.clone(),
        (None, None) => {
            return Err(StoreError::NothingToSalvage {
                path: path.to_owned(),
            });
        }
    };
    let old = open::read_only(&from, busy)?;
    let mut report = SalvageReport {
        from: from.clone(),
        ..SalvageReport::default()
    };
    let tx = fresh
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::from)?;
    for table in TABLES {
        let (rows, problems) = read_table(&old, table);
        report.unreadable.extend(problems);
        let mut copied = 0u64;
        let mut insert = tx.prepare(table.insert)?;
        for mut row in rows {
            if table.name == "sales" {
                row.push(person_key(&crypt, &row));
            }
            match insert.execute(params_from_iter(row.iter())) {
                Ok(n) => copied += u64::try_from(n).unwrap_or(0),
                Err(e) => report
                    .unreadable
                    .push(format!("{}: a row could not be written: {e}", table.name)),
            }
        }
        report.copied.push((table.name.to_owned(), copied));
    }
    // An older file may hold PIN proofs the fresh one was scrubbed of at open.
    let scrubbed = super::scrub::pin_proofs(&tx, crypt.keys())?;
    if scrubbed != super::scrub::ScrubReport::default() {
        tracing::warn!(
            sales = scrubbed.sales,
            requests = scrubbed.requests,
            "old PIN proofs removed from the salvaged rows"
        );
    }
    // The high-water time of the replay guard, never lowered.
    if let Ok(hw) = old.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [super::ops::NONCE_HIGH_WATER],
        |r| r.get::<_, String>(0),
    ) {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value
             WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
            [super::ops::NONCE_HIGH_WATER, hw.as_str()],
        )?;
    }
    // The open stored sales' running totals (kept by triggers on UPDATE, not on these inserts).
    tx.execute_batch(
        "UPDATE offline_totals SET
             count = (SELECT count(*) FROM sales WHERE stored = 1
                      AND state NOT IN ('settled', 'cancelled', 'abandoned')),
             amount_fen = (SELECT coalesce(sum(amount_fen), 0) FROM sales WHERE stored = 1
                      AND state NOT IN ('settled', 'cancelled', 'abandoned'))
         WHERE id = 1",
    )?;
    report.open_sales = tx.query_row(
        "SELECT count(*) FROM sales WHERE state NOT IN ('settled', 'cancelled', 'abandoned')",
        [],
        |r| r.get::<_, i64>(0).map(|n| u64::try_from(n).unwrap_or(0)),
    )?;
    tx.execute("DELETE FROM meta WHERE key = ?1", [quarantine::PENDING])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('store.salvaged', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [serde_json::to_string(&report).expect("a report serialises")],
    )?;
    tx.commit()?;
    let _ = fresh.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    tracing::warn!(from = %from.display(), copied = ?report.copied,
        unreadable = report.unreadable.len(), "quarantined database salvaged");
    Ok(report)
}

/// Every row of `table` that can be read: in key order, then (if a damaged page stopped the
/// scan) in reverse order until the rows meet or the damage stops it again.
fn read_table(old: &Connection, table: &Table) -> (Vec<Vec<Value>>, Vec<String>) {
    let width = table.columns.split(',').count();
    let mut problems = Vec::new();
    let scan = |desc: bool, rows: &mut Vec<Vec<Value>>| -> Result<(), rusqlite::Error> {
        let order = table
            .order
            .split(',')
            .map(|c| format!("{} {}", c.trim(), if desc { "DESC" } else { "ASC" }))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {order}",
            table.columns, table.name
        );
        let mut stmt = old.prepare(&sql)?;
        let mut it = stmt.query([])?;
        while let Some(r) = it.next()? {
            let row = (0..width)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.push(row);
        }
        Ok(())
    };
    let mut forward = Vec::new();
    let Err(first) = scan(false, &mut forward) else {
        return (forward, problems);
    };
    let mut backward = Vec::new();
    let second = scan(true, &mut backward);
    let read = forward.len() + backward.len();
    problems.push(format!(
        "{}: damaged ({first}); {read} row(s) read around the damage{}",
        table.name,
        match &second {
            Ok(()) => String::new(),
            Err(e) => format!(", the rows between could not be read ({e})"),
        }
    ));
    forward.extend(backward);
    (forward, problems)
}

/// The sale's `person_key` under the fresh file's lookup key (NULL if its document cannot be
/// opened or names nobody).
fn person_key(crypt: &Crypt, row: &[Value]) -> Value {
    let Some(Value::Blob(doc)) = row.get(7) else {
        return Value::Null;
    };
    crypt
        .open(label::SALE_DOC, doc)
        .ok()
        .and_then(|d| person_id_in_doc(&d))
        .and_then(|id| crypt.person_key(&id))
        .map_or(Value::Null, Value::Blob)
}
