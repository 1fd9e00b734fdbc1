//! Read queries, run on the store's read-only connection (never the writer's).
//!
//! Plain functions over a `&Connection`; `mod.rs` runs them on the blocking pool. Nothing
//! here may write: the connection is opened `SQLITE_OPEN_READ_ONLY`, so a write would fail.

use rusqlite::{Connection, OptionalExtension};

use super::crypt::{Crypt, label};
use super::sealed::{raw, raw_opt};
use super::{RunRow, StoreError};

/// The `limit` most recent runs, newest first.
pub(super) fn recent_runs(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<RunRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, pid, version, started_at_ms, stopped_at_ms, clean
         FROM runs ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(RunRow {
            id: r.get(0)?,
            pid: r.get(1)?,
            version: r.get(2)?,
            started_at_ms: r.get(3)?,
            stopped_at_ms: r.get(4)?,
            clean: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// The value stored under `key` in `meta`, if any.
pub(super) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// The audit row of one msgid.
pub(super) fn audit(
    conn: &Connection,
    crypt: &Crypt,
    msgid: &str,
) -> Result<Option<super::AuditRow>, StoreError> {
    let found = conn.query_row(
        "SELECT msgid, infno, request, sent_at_ms, http_status, response, outcome, answered_at_ms
         FROM upstream_audit WHERE msgid = ?1",
        [msgid],
        |r| {
            Ok((
                super::AuditRow {
                    msgid: r.get(0)?,
                    infno: r.get(1)?,
                    request: String::new(),
                    sent_at_ms: r.get(3)?,
                    http_status: r.get(4)?,
                    response: None,
                    outcome: r.get(6)?,
                    answered_at_ms: r.get(7)?,
                },
                raw(r, 2)?,
                raw_opt(r, 5)?,
            ))
        },
    );
    let Some((mut row, request, response)) = found.optional()? else {
        return Ok(None);
    };
    row.request = crypt.open(label::AUDIT_REQUEST, &request)?;
    row.response = response
        .map(|r| crypt.open(label::AUDIT_RESPONSE, &r))
        .transpose()?;
    Ok(Some(row))
}
