//! The closed enum of writes the writer thread accepts ([`Job`]), each variant carrying its
//! input and the reply channel of its own reply type, and those inputs and reply types.
//!
//! Data only: no SQL (`ops.rs`), no thread (`writer.rs`), no `Store` method (`write.rs`).

use std::ops::RangeInclusive;

use tokio::sync::oneshot;

use super::outbox::OutboxSwitch;
use super::trace::TraceChange;
use super::{AuditOutcome, IdempotencyClaim, IdempotencyRow, OfflineLimits, StoreError};

/// The id of a row of `runs` (one process lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RunId(pub i64);

/// Whether an e-SSC nonce was new to the replay guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonce {
    /// First use: remembered now.
    Fresh,
    /// Seen before and not yet expired: a replay.
    Replayed,
}

/// Whether an idempotent answer was remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// The key was new; this answer is the one replayed from now on.
    New,
    /// The key was already there: the first answer stands.
    AlreadyThere,
}

/// A platform request, recorded before it is sent.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    pub msgid: String,
    pub infno: String,
    pub request: String,
    pub sent_at_ms: i64,
}

/// The answer (or the lack of one) to a recorded request.
#[derive(Debug, Clone)]
pub struct AuditAnswer {
    pub msgid: String,
    pub http_status: Option<u16>,
    pub response: Option<String>,
    pub outcome: AuditOutcome,
    pub answered_at_ms: i64,
}

/// A new sale in `state` with its first history row.
#[derive(Debug, Clone)]
pub struct NewSaleRow {
    pub id: String,
    pub at_ms: i64,
    pub state: String,
    pub amount_fen: i64,
    /// The sale as JSON.
    pub doc: String,
    /// History detail, JSON.
    pub detail: String,
    /// The API request's key, committed with the sale.
    pub idempotency: Option<IdempotencyClaim>,
}

/// A sale's move from `from` to `to` (see [`Store::transition_sale`](super::Store::transition_sale)).
#[derive(Debug, Clone)]
pub struct SaleTransition {
    pub id: String,
    pub from: String,
    pub to: String,
    pub event: String,
    pub at_ms: i64,
    pub doc: String,
    pub detail: String,
    pub next_attempt_at_ms: Option<i64>,
    /// Makes the sale stored, checking these limits first.
    pub store_offline: Option<OfflineLimits>,
}

/// Where a write's answer goes: exactly its own reply type.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Every write the store accepts, each with its reply channel. Each is one savepoint of a
/// group-committed transaction (`ops.rs`).
pub(super) enum Job {
    RunStarted {
        pid: u32,
        version: String,
        started_at_ms: i64,
        reply: Reply<RunId>,
    },
    RunStopped {
        run_id: i64,
        stopped_at_ms: i64,
        clean: bool,
        reply: Reply<()>,
    },
    SetMeta {
        key: String,
        value: String,
        reply: Reply<()>,
    },
    RememberNonce {
        kid: String,
        nonce: String,
        expires_at: i64,
        now: i64,
        /// The caller's trusted time (unix s): its wall clock, never ahead of the time elapsed
        /// on the monotonic clock since the run first asked (`write.rs`).
        trusted_now: i64,
        reply: Reply<Nonce>,
    },
    /// Advances a counter by `count`; answers the block.
    Sequence {
        name: String,
        count: u64,
        reply: Reply<RangeInclusive<u64>>,
    },
    AuditRequest {
        request: AuditRequest,
        reply: Reply<()>,
    },
    AuditAnswer {
        answer: AuditAnswer,
        reply: Reply<()>,
    },
    SaleCreate {
        sale: NewSaleRow,
        reply: Reply<()>,
    },
    SaleTransition {
        step: SaleTransition,
        reply: Reply<()>,
    },
    IdempotencyPut {
        key: String,
        row: IdempotencyRow,
        at_ms: i64,
        expired_before_ms: i64,
        reply: Reply<Remembered>,
    },
    /// Deletes idempotency entries created before `before_ms`; answers how many.
    IdempotencyPurge {
        before_ms: i64,
        reply: Reply<u64>,
    },
    /// Turns the fleet outbox on or off (`outbox.rs`).
    OutboxSwitch {
        on: bool,
        at_ms: i64,
        reply: Reply<OutboxSwitch>,
    },
    /// Deletes outbox rows the ledger committed; answers how many were there.
    OutboxRemove {
        ids: Vec<i64>,
        reply: Reply<u64>,
    },
    /// An attempt, outcome or operator action on a trace report (`trace.rs`); answers whether
    /// the row was in a state it applies to.
    TraceUpdate {
        id: i64,
        change: TraceChange,
        at_ms: i64,
        reply: Reply<bool>,
    },
}

impl Job {
    /// Whether this write may add an outbox row (the writer then wakes the drain after the
    /// commit).
    pub(super) fn may_enqueue(&self) -> bool {
        matches!(self, Job::SaleTransition { .. } | Job::OutboxSwitch { .. })
    }

    /// Whether this write may add or free a trace report (the writer then wakes the
    /// reporter after the commit).
    pub(super) fn may_report(&self) -> bool {
        matches!(
            self,
            Job::SaleTransition { .. }
                | Job::TraceUpdate {
                    change: TraceChange::Retry
                        | TraceChange::Sent { .. }
                        | TraceChange::Failed { .. },
                    ..
                }
        )
    }
}
