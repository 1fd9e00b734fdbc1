//! The SQL behind each write (the writer's [`Job`]), and the crash recovery run once at open.
//! A batch of writes runs in one `BEGIN IMMEDIATE` transaction, each write in its savepoint
//! (and in a fresh transaction after SQLite rolled back the batch by itself).
//!
//! Only the writer thread (and `open.rs`, before that thread exists) calls into this module;
//! it knows nothing about channels, threads or file handling.

use std::ops::RangeInclusive;

use super::cached::Cached;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::crypt::{Crypt, label};
use super::job::{AuditAnswer, AuditRequest, Job, Nonce, Remembered, Reply, RunId};
use super::{IdempotencyRow, StoreError};

/// A write's result waiting for the batch's commit, with the channel it is answered on.
pub(super) trait Answer: Send {
    /// The write's error, if it failed (or was rolled back with its batch).
    fn failed(&self) -> Option<&StoreError>;
    /// Marks a write that had succeeded as failed after all (its transaction was rolled
    /// back); a write that failed keeps its own error.
    fn undo(&mut self, why: &StoreError);
    /// Answers the caller.
    fn send(self: Box<Self>);
}

struct Pending<T> {
    reply: Reply<T>,
    result: Result<T, StoreError>,
}

impl<T: Send> Answer for Pending<T> {
    fn failed(&self) -> Option<&StoreError> {
        self.result.as_ref().err()
    }

    fn undo(&mut self, why: &StoreError) {
        if self.result.is_ok() {
            self.result = Err(clone_error(why));
        }
    }

    fn send(self: Box<Self>) {
        let _ = self.reply.send(self.result);
    }
}

/// Runs `f`'s statements inside `job`'s reply channel: every arm of [`Job`] the same way.
macro_rules! each_job {
    ($job:expr, $reply:ident => $body:expr) => {
        match $job {
            Job::RunStarted { reply: $reply, .. } => $body,
            Job::RunStopped { reply: $reply, .. } => $body,
            Job::SetMeta { reply: $reply, .. } => $body,
            Job::RememberNonce { reply: $reply, .. } => $body,
            Job::Sequence { reply: $reply, .. } => $body,
            Job::AuditRequest { reply: $reply, .. } => $body,
            Job::AuditAnswer { reply: $reply, .. } => $body,
            Job::SaleCreate { reply: $reply, .. } => $body,
            Job::SaleTransition { reply: $reply, .. } => $body,
            Job::IdempotencyPut { reply: $reply, .. } => $body,
            Job::IdempotencyPurge { reply: $reply, .. } => $body,
            Job::OutboxSwitch { reply: $reply, .. } => $body,
            Job::OutboxRemove { reply: $reply, .. } => $body,
            Job::TraceUpdate { reply: $reply, .. } => $body,
        }
    };
}

impl Job {
    /// The job answered with `error()` without running (a refused or failed batch).
    pub(super) fn fail(self, error: impl FnOnce() -> StoreError) -> Box<dyn Answer> {
        each_job!(self, reply => Box::new(Pending { reply, result: Err(error()) }))
    }
}

/// Applies a batch of writes in one transaction (group commit: one fsync for all), each
/// inside its own savepoint, so a write that fails is rolled back alone and answers its error
/// while the others commit. Nothing is sent here: the writer answers after this returns, so a
/// caller that got `Ok` has its write on disk. Answers come back in the order of `jobs`, with
/// the number of transactions committed.
///
/// SQLite may roll back the WHOLE transaction by itself when a statement fails with
/// `SQLITE_FULL`, `SQLITE_IOERR`, `SQLITE_NOMEM` (and others): the connection is then back in
/// autocommit, and any further statement would commit on its own. So after every write the
/// connection is asked whether the transaction is still open; when it is not, the writes
/// before it in the batch are answered failed ([`StoreError::TransactionLost`]: nothing of
/// them is on disk), and the writes after it run in a NEW transaction, never in autocommit.
/// A failed `COMMIT` is rolled back (if SQLite left the transaction open) and answered to
/// every write of that transaction.
pub(super) fn apply_batch(
    conn: &mut Connection,
    jobs: Vec<Job>,
    crypt: &Crypt,
) -> (Vec<Box<dyn Answer>>, u64) {
    let mut done: Vec<Box<dyn Answer>> = Vec::with_capacity(jobs.len());
    let mut commits = 0;
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        if let Err(e) = conn.exec_cached("BEGIN IMMEDIATE", []).map(drop) {
            let e = StoreError::from(e);
            done.extend(jobs.by_ref().map(|j| j.fail(|| clone_error(&e))));
            break;
        }
        let mut open: Vec<Box<dyn Answer>> = Vec::new();
        let mut lost = false;
        for job in jobs.by_ref() {
            let mut answer = apply_one(conn, job, crypt);
            if conn.is_autocommit() {
                let why = StoreError::TransactionLost {
                    cause: answer
                        .failed()
                        .map_or_else(|| "the transaction ended".to_owned(), |e| e.to_string()),
                };
                tracing::error!(error = %why, undone = open.len(),
                    "SQLite rolled back a whole write batch; its earlier writes are answered failed");
                for mut a in open.drain(..) {
                    a.undo(&why);
                    done.push(a);
                }
                answer.undo(&why);
                done.push(answer);
                lost = true;
                break;
            }
            open.push(answer);
        }
        if lost {
            // The writes after the one that lost the transaction run in a fresh one.
            continue;
        }
        match conn.exec_cached("COMMIT", []).map(drop) {
            Ok(()) => commits += 1,
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.exec_cached("ROLLBACK", []);
                }
                let e = StoreError::from(e);
                for a in &mut open {
                    a.undo(&e);
                }
            }
        }
        done.append(&mut open);
    }
    (done, commits)
}

/// A batch's failure (begin, commit, lost transaction) answered to each of its writes.
fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Sqlite(inner) => StoreError::Sqlite(clone_sqlite(inner)),
        StoreError::TransactionLost { cause } => StoreError::TransactionLost {
            cause: cause.clone(),
        },
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

/// Runs `f` in a savepoint of the open transaction: released on success, rolled back on
/// error. A savepoint that cannot be released, or a transaction that vanished under `f` (the
/// connection is in autocommit afterwards), is the write's error.
fn in_savepoint<T: Send + 'static>(
    conn: &Connection,
    reply: Reply<T>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Box<dyn Answer> {
    let result = match conn.exec_cached("SAVEPOINT job", []).map(drop) {
        Ok(()) => match f(conn) {
            Ok(value) if conn.is_autocommit() => {
                drop(value);
                Err(StoreError::TransactionLost {
                    cause: "the transaction ended during the write".to_owned(),
                })
            }
            Ok(value) => conn
                .exec_cached("RELEASE job", [])
                .map(|_| value)
                .map_err(StoreError::from),
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.exec_cached("ROLLBACK TO job", []);
                    let _ = conn.exec_cached("RELEASE job", []);
                }
                Err(e)
            }
        },
        Err(e) => Err(StoreError::from(e)),
    };
    Box::new(Pending { reply, result })
}

/// One write's statements, in its own savepoint of the batch's transaction.
fn apply_one(tx: &Connection, job: Job, crypt: &Crypt) -> Box<dyn Answer> {
    match job {
        Job::RunStarted {
            pid,
            version,
            started_at_ms,
            reply,
        } => in_savepoint(tx, reply, |c| run_started(c, pid, &version, started_at_ms)),
        Job::RunStopped {
            run_id,
            stopped_at_ms,
            clean,
            reply,
        } => in_savepoint(tx, reply, |c| run_stopped(c, run_id, stopped_at_ms, clean)),
        Job::SetMeta { key, value, reply } => in_savepoint(tx, reply, |c| {
            c.exec_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        }),
        Job::RememberNonce {
            kid,
            nonce,
            expires_at,
            now,
            trusted_now,
            reply,
        } => in_savepoint(tx, reply, |c| {
            remember_nonce(c, &kid, &nonce, expires_at, now, trusted_now)
        }),
        Job::Sequence { name, count, reply } => {
            in_savepoint(tx, reply, |c| reserve(c, &name, count))
        }
        Job::AuditRequest { request, reply } => {
            in_savepoint(tx, reply, |c| audit_request(c, crypt, request))
        }
        Job::AuditAnswer { answer, reply } => {
            in_savepoint(tx, reply, |c| audit_answer(c, crypt, answer))
        }
        Job::SaleCreate { sale, reply } => in_savepoint(tx, reply, |c| {
            super::sales::create(
                c,
                crypt,
                &super::sales::NewRow {
                    id: &sale.id,
                    at_ms: sale.at_ms,
                    state: &sale.state,
                    amount_fen: sale.amount_fen,
                    doc: &sale.doc,
                    detail: &sale.detail,
                    idempotency: sale.idempotency.as_ref(),
                },
            )
        }),
        Job::SaleTransition { step, reply } => in_savepoint(tx, reply, |c| {
            super::sales::transition(
                c,
                crypt,
                &super::sales::Transition {
                    id: &step.id,
                    from: &step.from,
                    to: &step.to,
                    event: &step.event,
                    at_ms: step.at_ms,
                    doc: &step.doc,
                    detail: &step.detail,
                    next_attempt_at_ms: step.next_attempt_at_ms,
                    store_offline: step.store_offline,
                },
            )
        }),
        Job::IdempotencyPut {
            key,
            row,
            at_ms,
            expired_before_ms,
            reply,
        } => in_savepoint(tx, reply, |c| {
            idempotency_put(c, crypt, &key, &row, at_ms, expired_before_ms)
        }),
        Job::IdempotencyPurge { before_ms, reply } => in_savepoint(tx, reply, |c| {
            let n = c.exec_cached(
                "DELETE FROM idempotency WHERE created_at_ms < ?1",
                [before_ms],
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        }),
        Job::OutboxSwitch { on, at_ms, reply } => {
            in_savepoint(tx, reply, |c| super::outbox::switch(c, on, at_ms))
        }
        Job::OutboxRemove { ids, reply } => {
            in_savepoint(tx, reply, |c| super::outbox::remove(c, &ids))
        }
        Job::TraceUpdate {
            id,
            change,
            at_ms,
            reply,
        } => in_savepoint(tx, reply, |c| super::trace::update(c, id, &change, at_ms)),
    }
}

fn run_started(
    c: &Connection,
    pid: u32,
    version: &str,
    started_at_ms: i64,
) -> Result<RunId, StoreError> {
    c.exec_cached(
        "INSERT INTO runs (pid, version, started_at_ms) VALUES (?1, ?2, ?3)",
        params![pid, version, started_at_ms],
    )?;
    Ok(RunId(c.last_insert_rowid()))
}

fn run_stopped(
    c: &Connection,
    run_id: i64,
    stopped_at_ms: i64,
    clean: bool,
) -> Result<(), StoreError> {
    let found: Option<Option<bool>> = c
        .query_row("SELECT clean FROM runs WHERE id = ?1", [run_id], |r| {
            r.get(0)
        })
        .optional()?;
    match found {
        None => return Err(StoreError::RunNotFound { run_id }),
        Some(Some(_)) => return Err(StoreError::RunAlreadyStopped { run_id }),
        Some(None) => {}
    }
    c.exec_cached(
        "UPDATE runs SET stopped_at_ms = ?2, clean = ?3 WHERE id = ?1",
        params![run_id, stopped_at_ms, clean],
    )?;
    Ok(())
}

/// The `meta` key of the e-SSC high-water time: the latest wall time (unix s) the replay guard
/// was ever given. It never moves backwards.
pub(super) const NONCE_HIGH_WATER: &str = "essc.high_water_unix";

/// How long a nonce is kept past its code's expiry (seconds): a clock stepped back by less than
/// this cannot make a used, expired code verify again without its nonce being there.
pub(super) const NONCE_KEEP_SECS: i64 = 24 * 3600;

fn remember_nonce(
    c: &Connection,
    kid: &str,
    nonce: &str,
    expires_at: i64,
    now: i64,
    trusted_now: i64,
) -> Result<Nonce, StoreError> {
    c.exec_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value
         WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
        params![NONCE_HIGH_WATER, now.to_string()],
    )?;
    let high_water: i64 = c.row_cached(
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1",
        [NONCE_HIGH_WATER],
        |r| r.get(0),
    )?;
    // Purged only when the caller's clock (wall AND monotonic, `trusted_now`) and the
    // persisted high-water time both put the code's expiry more than a day back.
    let horizon = trusted_now.min(high_water) - NONCE_KEEP_SECS;
    c.exec_cached("DELETE FROM essc_nonce WHERE expires_at < ?1", [horizon])?;
    let inserted = c.exec_cached(
        "INSERT INTO essc_nonce (kid, nonce, expires_at, seen_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kid, nonce) DO NOTHING",
        params![kid, nonce, expires_at, now],
    )?;
    Ok(if inserted == 1 {
        Nonce::Fresh
    } else {
        Nonce::Replayed
    })
}

/// Advances the counter `name` by `count` (clamped to 1..=1 000 000); the block reserved.
fn reserve(c: &Connection, name: &str, count: u64) -> Result<RangeInclusive<u64>, StoreError> {
    let count = count.clamp(1, 1_000_000);
    let value: i64 = c.row_cached(
        "INSERT INTO sequences (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = value + ?2
         RETURNING value",
        params![name, i64::try_from(count).unwrap_or(1)],
        |r| r.get(0),
    )?;
    let last = u64::try_from(value).unwrap_or(0);
    Ok(last.saturating_sub(count) + 1..=last)
}

fn audit_request(c: &Connection, crypt: &Crypt, r: AuditRequest) -> Result<(), StoreError> {
    let inserted = c.exec_cached(
        "INSERT INTO upstream_audit (msgid, infno, request, sent_at_ms)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (msgid) DO NOTHING",
        params![
            r.msgid,
            r.infno,
            crypt.seal(label::AUDIT_REQUEST, &r.request),
            r.sent_at_ms
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::DuplicateMsgId { msgid: r.msgid });
    }
    Ok(())
}

fn audit_answer(c: &Connection, crypt: &Crypt, a: AuditAnswer) -> Result<(), StoreError> {
    let updated = c.exec_cached(
        "UPDATE upstream_audit SET http_status = ?2, response = ?3, outcome = ?4,
         answered_at_ms = ?5 WHERE msgid = ?1",
        params![
            a.msgid,
            a.http_status,
            a.response.map(|r| crypt.seal(label::AUDIT_RESPONSE, &r)),
            a.outcome.as_str(),
            a.answered_at_ms
        ],
    )?;
    if updated == 0 {
        return Err(StoreError::UnknownMsgId { msgid: a.msgid });
    }
    Ok(())
}

fn idempotency_put(
    c: &Connection,
    crypt: &Crypt,
    key: &str,
    row: &IdempotencyRow,
    at_ms: i64,
    expired_before_ms: i64,
) -> Result<Remembered, StoreError> {
    Ok(
        if super::sales::idempotency_put(c, crypt, key, row, at_ms, expired_before_ms)? {
            Remembered::New
        } else {
            Remembered::AlreadyThere
        },
    )
}

/// Marks runs a previous process left in progress (it crashed or was killed) as unclean and
/// returns how many there were. Called once at open, before this process records its run.
pub(super) fn recover_unclean_runs(conn: &mut Connection) -> rusqlite::Result<u32> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.exec_cached("UPDATE runs SET clean = 0 WHERE clean IS NULL", [])?;
    tx.commit()?;
    if n > 0 {
        tracing::warn!(runs = n, "runs left in progress by a crash marked unclean");
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
