//! Typed writes: one method per write, each answering its own reply type
//! ([`Store::record_run`] → [`RunId`], [`Store::remember_nonce`] → [`Nonce`], …).
//!
//! Each method wraps its input and a reply channel of exactly its reply type into the writer's
//! closed [`Job`] enum (`job.rs`), so no caller ever handles an answer that cannot happen. The
//! SQL is in `ops.rs`; this file holds no SQL and no channel handling beyond building the job.

use std::ops::RangeInclusive;
use std::time::Instant;

use tokio::sync::oneshot;

use super::job::{
    AuditAnswer, AuditRequest, Job, NewSaleRow, Nonce, Remembered, Reply, RunId, SaleTransition,
};
use super::outbox::OutboxSwitch;
use super::trace::TraceChange;
use super::writer::Command;
use super::{IdempotencyRow, Store, StoreError};

impl Store {
    /// Records this process's start; answers the run's id.
    pub async fn record_run(
        &self,
        pid: u32,
        version: &str,
        started_at_ms: i64,
    ) -> Result<RunId, StoreError> {
        let version = version.to_owned();
        self.run(|reply| Job::RunStarted {
            pid,
            version,
            started_at_ms,
            reply,
        })
        .await
    }

    /// Records this process's stop; `clean` is false when the drain was cut short.
    /// [`StoreError::RunNotFound`] / [`StoreError::RunAlreadyStopped`] otherwise.
    pub async fn record_stop(
        &self,
        run: RunId,
        stopped_at_ms: i64,
        clean: bool,
    ) -> Result<(), StoreError> {
        self.run(|reply| Job::RunStopped {
            run_id: run.0,
            stopped_at_ms,
            clean,
            reply,
        })
        .await
    }

    /// Sets (inserts or replaces) a `meta` entry.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(|reply| Job::SetMeta { key, value, reply }).await
    }

    /// Remembers an e-SSC nonce of a code valid until `expires_at` (unix seconds) and purges
    /// old ones. A nonce is kept at least 24 h past its code's expiry whatever the clock does:
    /// it is purged only when the wall clock `now`, the wall clock as the monotonic clock has
    /// advanced it during this run ([`trusted_time`]) and the persisted high-water time (the
    /// latest `now` ever given, in `meta`, never moving backwards) all put that expiry more
    /// than 24 h back. A clock stepped forward does not purge early within a run; a clock
    /// stepped back purges nothing.
    /// Blocking (the e-SSC verifier's replay guard is synchronous): never call it on a
    /// runtime thread.
    pub fn remember_nonce_blocking(
        &self,
        kid: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Nonce, StoreError> {
        let (kid, nonce) = (kid.to_owned(), nonce.to_owned());
        let trusted_now = self.trusted_now(now, Instant::now());
        self.run_blocking(|reply| Job::RememberNonce {
            kid,
            nonce,
            expires_at,
            now,
            trusted_now,
            reply,
        })
    }

    /// [`Store::remember_nonce_blocking`] from async code.
    pub async fn remember_nonce(
        &self,
        kid: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Nonce, StoreError> {
        self.remember_nonce_at(kid, nonce, expires_at, now, Instant::now())
            .await
    }

    /// [`Store::remember_nonce`] with the monotonic clock's reading given (tests).
    pub(super) async fn remember_nonce_at(
        &self,
        kid: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
        mono: Instant,
    ) -> Result<Nonce, StoreError> {
        let (kid, nonce) = (kid.to_owned(), nonce.to_owned());
        let trusted_now = self.trusted_now(now, mono);
        self.run(|reply| Job::RememberNonce {
            kid,
            nonce,
            expires_at,
            now,
            trusted_now,
            reply,
        })
        .await
    }

    /// Advances the named counter by one and answers its new value (the first is 1),
    /// committed before the caller sees it: a value is never handed out twice.
    pub async fn next_sequence(&self, name: &str) -> Result<u64, StoreError> {
        Ok(*self.reserve_sequence(name, 1).await?.end())
    }

    /// Advances the named counter by `count` (1..=1 000 000) at once and answers the block of
    /// values reserved. Values of a block the caller never uses are skipped for good.
    pub async fn reserve_sequence(
        &self,
        name: &str,
        count: u64,
    ) -> Result<RangeInclusive<u64>, StoreError> {
        let name = name.to_owned();
        self.run(|reply| Job::Sequence { name, count, reply }).await
    }

    /// Records a platform request before it is sent. A msgid already recorded is
    /// [`StoreError::DuplicateMsgId`]: a retry reuses its row, it never adds one.
    pub async fn record_request(&self, request: AuditRequest) -> Result<(), StoreError> {
        self.run(|reply| Job::AuditRequest { request, reply }).await
    }

    /// [`Store::record_request`] queued to the writer without waiting for its commit: the
    /// returned future answers once it is committed. Writes are applied in order, so the
    /// request's answer recorded later lands on its row. For requests that move no money,
    /// whose row may commit while the request is on the wire.
    pub async fn queue_request(
        &self,
        request: AuditRequest,
    ) -> Result<impl std::future::Future<Output = Result<(), StoreError>> + use<>, StoreError> {
        let rx = self
            .queue(|reply| Job::AuditRequest { request, reply })
            .await?;
        let gone = self.gone();
        Ok(async move { rx.await.map_err(|_| gone)? })
    }

    /// Records the answer to a recorded request ([`StoreError::UnknownMsgId`] if it was not).
    pub async fn record_answer(&self, answer: AuditAnswer) -> Result<(), StoreError> {
        self.run(|reply| Job::AuditAnswer { answer, reply }).await
    }

    /// [`Store::record_answer`] queued to the writer without waiting for its commit: the
    /// returned future answers once it is committed. Writes are applied in order, so any write
    /// queued after it (the sale step the answer leads to) commits with it or after it.
    pub async fn queue_answer(
        &self,
        answer: AuditAnswer,
    ) -> Result<impl std::future::Future<Output = Result<(), StoreError>> + use<>, StoreError> {
        let rx = self
            .queue(|reply| Job::AuditAnswer { answer, reply })
            .await?;
        let gone = self.gone();
        Ok(async move { rx.await.map_err(|_| gone)? })
    }

    /// Creates a sale; an id already used is [`StoreError::DuplicateSale`].
    pub async fn create_sale(&self, sale: NewSaleRow) -> Result<(), StoreError> {
        self.run(|reply| Job::SaleCreate { sale, reply }).await
    }

    /// Moves a sale from `from` to `to` (compare-and-set: [`StoreError::SaleStateConflict`] if
    /// it is elsewhere), replaces its document and appends a history row, in one transaction.
    /// `to == from` records a note. With `store_offline`, the sale becomes stored and the
    /// limits are checked first ([`StoreError::OfflineLimit`]: nothing is written).
    pub async fn transition_sale(&self, step: SaleTransition) -> Result<(), StoreError> {
        self.run(|reply| Job::SaleTransition { step, reply }).await
    }

    /// Remembers the answer to an API request under its `Idempotency-Key` (an entry that
    /// never expires; see [`Store::remember_answer_until`]).
    pub async fn remember_answer(
        &self,
        key: &str,
        row: IdempotencyRow,
        at_ms: i64,
    ) -> Result<Remembered, StoreError> {
        self.remember_answer_until(key, row, at_ms, i64::MIN).await
    }

    /// Remembers the answer to an API request under its `Idempotency-Key`: a new entry, the
    /// answer of the entry its write claimed in the same transaction (same request hash), or
    /// the replacement of an entry created before `expired_before_ms`. A live answered entry
    /// stands ([`Remembered::AlreadyThere`]).
    pub async fn remember_answer_until(
        &self,
        key: &str,
        row: IdempotencyRow,
        at_ms: i64,
        expired_before_ms: i64,
    ) -> Result<Remembered, StoreError> {
        let key = key.to_owned();
        self.run(|reply| Job::IdempotencyPut {
            key,
            row,
            at_ms,
            expired_before_ms,
            reply,
        })
        .await
    }

    /// Deletes the idempotency entries created before `before_ms` (housekeeping); answers
    /// how many.
    pub async fn purge_idempotency(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.run(|reply| Job::IdempotencyPurge { before_ms, reply })
            .await
    }

    /// Turns the fleet outbox on (`[fleet]` configured) or off (`outbox.rs`), through the
    /// writer so it is ordered with the sale transitions: every transition committed after
    /// the switch turned on enqueues itself, and every sale changed before it is enqueued by
    /// the switch.
    pub async fn set_outbox(&self, on: bool, at_ms: i64) -> Result<OutboxSwitch, StoreError> {
        self.run(|reply| Job::OutboxSwitch { on, at_ms, reply })
            .await
    }

    /// Deletes the outbox rows `ids` (sent and committed by the fleet ledger); answers how
    /// many were there.
    pub async fn outbox_remove(&self, ids: Vec<i64>) -> Result<u64, StoreError> {
        self.run(|reply| Job::OutboxRemove { ids, reply }).await
    }

    /// Applies `change` to trace report `id` (`trace.rs`); answers whether the row was in a
    /// state the change applies to.
    pub async fn trace_update(
        &self,
        id: i64,
        change: TraceChange,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.run(|reply| Job::TraceUpdate {
            id,
            change,
            at_ms,
            reply,
        })
        .await
    }

    /// Queues the job `make` builds around a reply channel and waits for its answer.
    async fn run<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let rx = self.queue(make).await?;
        rx.await.map_err(|_| self.gone())?
    }

    /// Queues a job and returns the receiver of its answer (tests use it to order sends).
    pub(super) async fn queue<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Job,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Write(make(reply))).await?;
        Ok(rx)
    }

    /// [`Store::run`] outside the runtime; blocks until the writer answers.
    fn run_blocking<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send_blocking(Command::Write(make(reply)))?;
        rx.blocking_recv().map_err(|_| self.gone())?
    }
}

/// The replay guard's trusted time (unix s): the wall clock `wall`, but never ahead of the wall
/// time first seen in this run (`first`, set on the first call) plus the time the monotonic
/// clock `mono` has advanced since. A wall clock stepped forward is believed only as fast as
/// real time passes; one stepped back is believed at once (it purges less).
pub(super) fn trusted_time(first: &mut Option<(i64, Instant)>, wall: i64, mono: Instant) -> i64 {
    let (wall0, mono0) = *first.get_or_insert((wall, mono));
    let elapsed =
        i64::try_from(mono.saturating_duration_since(mono0).as_secs()).unwrap_or(i64::MAX);
    wall.min(wall0.saturating_add(elapsed))
}
