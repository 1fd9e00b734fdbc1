//! The untyped write API kept while its last callers move to the typed methods of
//! `write.rs`: [`Store::write`] takes a [`WriteOp`] and answers a [`WriteOutcome`]. It is a
//! thin translation onto the typed methods (no SQL, no channel of its own); delete this file
//! when nothing calls `Store::write` any more.

use super::job::{AuditAnswer, AuditRequest, NewSaleRow, Nonce, Remembered, SaleTransition};
use super::{AuditOutcome, IdempotencyRow, OfflineLimits, RunId, Store, StoreError};

/// Every write, untyped (prefer the typed methods). Each is one transaction.
#[derive(Debug)]
pub enum WriteOp {
    /// This process started; answers [`WriteOutcome::RunId`].
    RunStarted {
        pid: u32,
        version: String,
        started_at_ms: i64,
    },
    /// This process stopped; `clean` is false when the drain was cut short.
    RunStopped {
        run_id: i64,
        stopped_at_ms: i64,
        clean: bool,
    },
    /// Sets (inserts or replaces) a `meta` entry.
    SetMeta { key: String, value: String },
    /// Remembers an e-SSC nonce until `expires_at` (unix seconds) and purges expired ones;
    /// answers [`WriteOutcome::Nonce`]: fresh, or already seen (a replay).
    RememberNonce {
        kid: String,
        nonce: String,
        expires_at: i64,
        now: i64,
    },
    /// Advances the named counter and answers [`WriteOutcome::Sequence`] with its new value
    /// (the first is 1). Committed before the caller uses the value, so a value is never
    /// handed out twice, whatever happens to the process.
    NextSequence { name: String },
    /// Advances the named counter by `count` at once and answers [`WriteOutcome::Sequence`]
    /// with the last value of the block (the block is `last - count + 1 ..= last`). Values of
    /// a block the caller never used are skipped, never handed out again.
    ReserveSequence { name: String, count: u64 },
    /// Records a platform request before it is sent. A msgid already recorded is an error
    /// ([`StoreError::DuplicateMsgId`]): a retry reuses its row, it never adds one.
    AuditRequest {
        msgid: String,
        infno: String,
        request: String,
        sent_at_ms: i64,
    },
    /// Creates a sale in `state` with its first history row. An id already used is
    /// [`StoreError::DuplicateSale`].
    SaleCreate {
        id: String,
        at_ms: i64,
        state: String,
        amount_fen: i64,
        /// The sale as JSON.
        doc: String,
        /// History detail, JSON.
        detail: String,
    },
    /// Moves a sale from `from` to `to` (compare-and-set: [`StoreError::SaleStateConflict`]
    /// if it is elsewhere), replaces its document and appends a history row, in one
    /// transaction. `to == from` records a note (an attempt that failed, a rescheduling).
    /// With `store_offline`, the sale becomes stored and the limits are checked first
    /// ([`StoreError::OfflineLimit`]: nothing is written).
    SaleTransition {
        id: String,
        from: String,
        to: String,
        event: String,
        at_ms: i64,
        doc: String,
        detail: String,
        next_attempt_at_ms: Option<i64>,
        store_offline: Option<OfflineLimits>,
    },
    /// Remembers the answer to an API request under its `Idempotency-Key`; answers
    /// [`WriteOutcome::Inserted`] (false when the key was already there: the first answer
    /// stands).
    IdempotencyPut {
        key: String,
        row: IdempotencyRow,
        at_ms: i64,
    },
    /// Records the answer (or the lack of one) to a recorded request.
    AuditAnswer {
        msgid: String,
        http_status: Option<u16>,
        response: Option<String>,
        outcome: AuditOutcome,
        answered_at_ms: i64,
    },
}

/// What a write produced.
#[derive(Debug, PartialEq)]
pub enum WriteOutcome {
    /// The id of the inserted run.
    RunId(i64),
    /// The write committed; nothing to return.
    Done,
    /// For [`WriteOp::RememberNonce`]: `true` when the nonce was new.
    Nonce { fresh: bool },
    /// For [`WriteOp::NextSequence`]: the counter's new value.
    Sequence(u64),
    /// For [`WriteOp::IdempotencyPut`]: whether the row was new.
    Inserted(bool),
}

impl Store {
    /// Runs one write through its typed method and wraps the answer. Prefer the typed
    /// methods ([`Store::record_run`], [`Store::transition_sale`], …).
    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        Ok(match op {
            WriteOp::RunStarted {
                pid,
                version,
                started_at_ms,
            } => {
                let RunId(id) = self.record_run(pid, &version, started_at_ms).await?;
                WriteOutcome::RunId(id)
            }
            WriteOp::RunStopped {
                run_id,
                stopped_at_ms,
                clean,
            } => {
                self.record_stop(RunId(run_id), stopped_at_ms, clean)
                    .await?;
                WriteOutcome::Done
            }
            WriteOp::SetMeta { key, value } => {
                self.set_meta(&key, &value).await?;
                WriteOutcome::Done
            }
            WriteOp::RememberNonce {
                kid,
                nonce,
                expires_at,
                now,
            } => {
                let seen = self.remember_nonce(&kid, &nonce, expires_at, now).await?;
                WriteOutcome::Nonce {
                    fresh: seen == Nonce::Fresh,
                }
            }
            WriteOp::NextSequence { name } => {
                WriteOutcome::Sequence(self.next_sequence(&name).await?)
            }
            WriteOp::ReserveSequence { name, count } => {
                WriteOutcome::Sequence(*self.reserve_sequence(&name, count).await?.end())
            }
            WriteOp::AuditRequest {
                msgid,
                infno,
                request,
                sent_at_ms,
            } => {
                self.record_request(AuditRequest {
                    msgid,
                    infno,
                    request,
                    sent_at_ms,
                })
                .await?;
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
                self.create_sale(NewSaleRow {
                    id,
                    at_ms,
                    state,
                    amount_fen,
                    doc,
                    detail,
                })
                .await?;
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
                self.transition_sale(SaleTransition {
                    id,
                    from,
                    to,
                    event,
                    at_ms,
                    doc,
                    detail,
                    next_attempt_at_ms,
                    store_offline,
                })
                .await?;
                WriteOutcome::Done
            }
            WriteOp::IdempotencyPut { key, row, at_ms } => {
                let r = self.remember_answer(&key, row, at_ms).await?;
                WriteOutcome::Inserted(r == Remembered::New)
            }
            WriteOp::AuditAnswer {
                msgid,
                http_status,
                response,
                outcome,
                answered_at_ms,
            } => {
                self.record_answer(AuditAnswer {
                    msgid,
                    http_status,
                    response,
                    outcome,
                    answered_at_ms,
                })
                .await?;
                WriteOutcome::Done
            }
        })
    }
}
