//! The SQL behind each [`WriteOp`], and the crash recovery run once at open. Every function
//! here runs exactly one `BEGIN IMMEDIATE` transaction on the write connection.
//!
//! Only the writer thread (and `open.rs`, before that thread exists) calls into this module;
//! it knows nothing about channels, threads or file handling.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::crypt::{Crypt, label};
use super::{StoreError, WriteOp, WriteOutcome};

/// Applies a batch of operations in ONE transaction (group commit: one fsync for all), each
/// inside its own savepoint, so an operation that fails is rolled back alone and answers its
/// error while the others commit. Nothing is answered before the commit: a caller that got
/// `Ok` has its write on disk. If the commit itself fails, every operation answers that.
pub(super) fn apply_batch(
    conn: &mut Connection,
    ops: Vec<WriteOp>,
    crypt: &Crypt,
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = StoreError::from(e);
            return ops.iter().map(|_| Err(clone_error(&e))).collect();
        }
    };
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = match tx.savepoint() {
            Ok(mut sp) => match apply_one(&sp, op, crypt) {
                Ok(outcome) => sp.commit().map(|()| outcome).map_err(StoreError::from),
                Err(e) => {
                    let _ = sp.rollback();
                    Err(e)
                }
            },
            Err(e) => Err(StoreError::from(e)),
        };
        results.push(result);
    }
    if let Err(e) = tx.commit() {
        let e = StoreError::from(e);
        return results.iter().map(|_| Err(clone_error(&e))).collect();
    }
    results
}

/// A commit failure answered to every operation of the batch.
fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Sqlite(inner) => StoreError::Sqlite(clone_sqlite(inner)),
        other => StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(
            other.to_string().into(),
        )),
    }
}

fn clone_sqlite(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        other => rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
    }
}

/// One operation's statements, inside a transaction or savepoint the caller opened.
fn apply_one(tx: &Connection, op: WriteOp, crypt: &Crypt) -> Result<WriteOutcome, StoreError> {
    let outcome = match op {
        WriteOp::RunStarted {
            pid,
            version,
            started_at_ms,
        } => {
            tx.execute(
                "INSERT INTO runs (pid, version, started_at_ms) VALUES (?1, ?2, ?3)",
                params![pid, version, started_at_ms],
            )?;
            WriteOutcome::RunId(tx.last_insert_rowid())
        }
        WriteOp::RunStopped {
            run_id,
            stopped_at_ms,
            clean,
        } => {
            let found: Option<Option<bool>> = tx
                .query_row("SELECT clean FROM runs WHERE id = ?1", [run_id], |r| {
                    r.get(0)
                })
                .optional()?;
            match found {
                None => return Err(StoreError::RunNotFound { run_id }),
                Some(Some(_)) => return Err(StoreError::RunAlreadyStopped { run_id }),
                Some(None) => {}
            }
            tx.execute(
                "UPDATE runs SET stopped_at_ms = ?2, clean = ?3 WHERE id = ?1",
                params![run_id, stopped_at_ms, clean],
            )?;
            WriteOutcome::Done
        }
        WriteOp::SetMeta { key, value } => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            WriteOutcome::Done
        }
        WriteOp::RememberNonce {
            kid,
            nonce,
            expires_at,
            now,
        } => {
            tx.execute("DELETE FROM essc_nonce WHERE expires_at < ?1", [now])?;
            let inserted = tx.execute(
                "INSERT INTO essc_nonce (kid, nonce, expires_at, seen_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kid, nonce) DO NOTHING",
                params![kid, nonce, expires_at, now],
            )?;
            WriteOutcome::Nonce {
                fresh: inserted == 1,
            }
        }
        WriteOp::NextSequence { name } => {
            let value: i64 = tx.query_row(
                "INSERT INTO sequences (name, value) VALUES (?1, 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1
                 RETURNING value",
                [name],
                |r| r.get(0),
            )?;
            WriteOutcome::Sequence(u64::try_from(value).unwrap_or(0))
        }
        WriteOp::ReserveSequence { name, count } => {
            let count = i64::try_from(count.clamp(1, 1_000_000)).unwrap_or(1);
            let value: i64 = tx.query_row(
                "INSERT INTO sequences (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = value + ?2
                 RETURNING value",
                params![name, count],
                |r| r.get(0),
            )?;
            WriteOutcome::Sequence(u64::try_from(value).unwrap_or(0))
        }
        WriteOp::AuditRequest {
            msgid,
            infno,
            request,
            sent_at_ms,
        } => {
            let inserted = tx.execute(
                "INSERT INTO upstream_audit (msgid, infno, request, sent_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (msgid) DO NOTHING",
                params![
                    msgid,
                    infno,
                    crypt.seal(label::AUDIT_REQUEST, &request),
                    sent_at_ms
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::DuplicateMsgId { msgid });
            }
            WriteOutcome::Done
        }
        WriteOp::SaleCreate {
            id,
            at_ms,
            state,
            amount_fen,
            doc,
            detail,
        } => {
            super::sales::create(
                tx,
                crypt,
                &super::sales::NewRow {
                    id: &id,
                    at_ms,
                    state: &state,
                    amount_fen,
                    doc: &doc,
                    detail: &detail,
                },
            )?;
            WriteOutcome::Done
        }
        WriteOp::SaleTransition {
            id,
            from,
            to,
            event,
            at_ms,
            doc,
            detail,
            next_attempt_at_ms,
            store_offline,
        } => {
            super::sales::transition(
                tx,
                crypt,
                &super::sales::Transition {
                    id: &id,
                    from: &from,
                    to: &to,
                    event: &event,
                    at_ms,
                    doc: &doc,
                    detail: &detail,
                    next_attempt_at_ms,
                    store_offline,
                },
            )?;
            WriteOutcome::Done
        }
        WriteOp::IdempotencyPut { key, row, at_ms } => {
            WriteOutcome::Inserted(super::sales::idempotency_put(tx, crypt, &key, &row, at_ms)?)
        }
        WriteOp::AuditAnswer {
            msgid,
            http_status,
            response,
            outcome,
            answered_at_ms,
        } => {
            let updated = tx.execute(
                "UPDATE upstream_audit SET http_status = ?2, response = ?3, outcome = ?4,
                 answered_at_ms = ?5 WHERE msgid = ?1",
                params![
                    msgid,
                    http_status,
                    response.map(|r| crypt.seal(label::AUDIT_RESPONSE, &r)),
                    outcome.as_str(),
                    answered_at_ms
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::UnknownMsgId { msgid });
            }
            WriteOutcome::Done
        }
    };
    Ok(outcome)
}

/// Marks runs a previous process left in progress (it crashed or was killed) as unclean and
/// returns how many there were. Called once at open, before this process records its run.
pub(super) fn recover_unclean_runs(conn: &mut Connection) -> rusqlite::Result<u32> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.execute("UPDATE runs SET clean = 0 WHERE clean IS NULL", [])?;
    tx.commit()?;
    if n > 0 {
        tracing::warn!(runs = n, "runs left in progress by a crash marked unclean");
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
