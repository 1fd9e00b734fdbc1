//! The sale book: loading a sale, per-sale exclusion, and moving a sale through the state
//! machine — the compare-and-set on the state it had plus an append-only history row,
//! committed BEFORE the effect it announces — then publishing `sale.state`.
//!
//! It knows the store, the event bus and the clock; it never talks to the platform and never
//! decides what an answer means (that is the settler's job).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::OwnedMutexGuard;

use super::error::SaleError;
use super::sale::{Failure, Sale};
use super::state::{SaleEvent, SaleState};
use crate::error::UserFacing;
use crate::events::EventBus;
use crate::store::{IdempotencyClaim, NewSaleRow, OfflineLimits, SaleTransition, Store};
use crate::upstream::client::Clock;

/// The sale book. One per engine.
pub(super) struct SaleBook {
    store: Store,
    events: EventBus,
    clock: Clock,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SaleBook {
    pub(super) fn new(store: Store, events: EventBus, clock: Clock) -> SaleBook {
        SaleBook {
            store,
            events,
            clock,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn events(&self) -> &EventBus {
        &self.events
    }

    /// Exclusive access to one sale (waits for a running operation).
    pub(super) async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, m| Arc::strong_count(m) > 1 || m.try_lock().is_err());
            Arc::clone(locks.entry(id.to_owned()).or_default())
        };
        m.lock_owned().await
    }

    /// Exclusive access without waiting (the forwarder skips a sale being worked on).
    pub(super) fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(id.to_owned()).or_default())
        };
        m.try_lock_owned().ok()
    }

    /// A sale, as stored.
    pub(super) async fn get(&self, id: &str) -> Result<Sale, SaleError> {
        let row = self
            .store
            .sale(id)
            .await?
            .ok_or_else(|| SaleError::NotFound(id.to_owned()))?;
        serde_json::from_str(&row.doc)
            .map_err(|e| SaleError::BadRequest(format!("stored sale {id} unreadable: {e}")))
    }

    /// Records a new sale (`captured`, history row `create` with `detail`) and, in the same
    /// transaction, the `Idempotency-Key` of the request that made it; then publishes it.
    pub(super) async fn create(
        &self,
        sale: &Sale,
        detail: serde_json::Value,
        idempotency: Option<IdempotencyClaim>,
    ) -> Result<(), SaleError> {
        self.store
            .create_sale(NewSaleRow {
                id: sale.id.clone(),
                at_ms: sale.created_at_ms,
                state: sale.state.as_str().to_owned(),
                amount_fen: sale.amount.0,
                doc: serde_json::to_string(sale).expect("a sale serialises"),
                detail: detail.to_string(),
                idempotency,
            })
            .await?;
        self.events.publish(
            topic(sale.kind),
            serde_json::json!({ "id": sale.id, "from": null, "to": sale.state, "sale": sale.view() }),
        );
        Ok(())
    }

    /// Moves `sale` by `event`, persisting the new document and a history row (compare-and-set
    /// on the state it had), then publishes `sale.state`. `edit` changes the document; it runs
    /// on a copy, so a refused transition leaves `sale` as it was.
    pub(super) async fn transition(
        &self,
        sale: &mut Sale,
        event: SaleEvent,
        detail: serde_json::Value,
        store_offline: Option<OfflineLimits>,
        edit: impl FnOnce(&mut Sale),
    ) -> Result<(), SaleError> {
        self.transition_due(sale, event, detail, store_offline, None, edit)
            .await
    }

    /// [`SaleBook::transition`] that also sets when the forwarder may next try the sale
    /// (`next_attempt_at_ms`, e.g. a stored sale whose request never left goes back to the
    /// queue with a backoff).
    pub(super) async fn transition_due(
        &self,
        sale: &mut Sale,
        event: SaleEvent,
        detail: serde_json::Value,
        store_offline: Option<OfflineLimits>,
        next_attempt_at_ms: Option<i64>,
        edit: impl FnOnce(&mut Sale),
    ) -> Result<(), SaleError> {
        let from = sale.state;
        let to = from
            .next_for(sale.kind, event)
            .map_err(|e| SaleError::WrongState {
                state: e.from,
                action: event_action(event),
            })?;
        let mut next = sale.clone();
        edit(&mut next);
        next.state = to;
        if super::consent::ends_consent(to) {
            next.consent = None;
        }
        if store_offline.is_some() {
            next.stored = true;
        }
        let row = Row {
            from,
            to,
            event: event_name(event),
            detail,
            next_attempt_at_ms,
            store_offline,
        };
        self.write(&next, row).await?;
        tracing::info!(sale = %next.id, from = %from, to = %to, "sale state");
        crate::telemetry::ops::ops().sale_entered(next.kind.as_str(), to.as_str());
        self.events.publish(
            topic(next.kind),
            serde_json::json!({ "id": next.id, "from": from, "to": to, "sale": next.view() }),
        );
        *sale = next;
        Ok(())
    }

    /// Records a note on a sale without moving it (a failed attempt, a rescheduling).
    pub(super) async fn note(
        &self,
        sale: &mut Sale,
        event: &str,
        failure: Option<Failure>,
        next_attempt_at_ms: Option<i64>,
    ) -> Result<(), SaleError> {
        let mut next = sale.clone();
        if failure.is_some() {
            next.last_error = failure;
        }
        let detail = serde_json::json!({ "error": next.last_error, "next_attempt_at_ms": next_attempt_at_ms });
        let row = Row {
            from: sale.state,
            to: sale.state,
            event,
            detail,
            next_attempt_at_ms,
            store_offline: None,
        };
        self.write(&next, row).await?;
        *sale = next;
        Ok(())
    }

    /// Records an operator's action on a sale that does not move it (an acknowledgement): the
    /// history row `event` with `detail`, and `edit` applied to the document, committed
    /// together (compare-and-set on the state it has); then publishes `sale.state`.
    pub(super) async fn annotate(
        &self,
        sale: &mut Sale,
        event: &str,
        detail: serde_json::Value,
        edit: impl FnOnce(&mut Sale),
    ) -> Result<(), SaleError> {
        let mut next = sale.clone();
        edit(&mut next);
        let row = Row {
            from: sale.state,
            to: sale.state,
            event,
            detail,
            next_attempt_at_ms: None,
            store_offline: None,
        };
        self.write(&next, row).await?;
        self.events.publish(
            topic(next.kind),
            serde_json::json!({ "id": next.id, "from": next.state, "to": next.state, "sale": next.view() }),
        );
        *sale = next;
        Ok(())
    }

    /// [`SaleBook::annotate`] that also sets when the forwarder may next work on the sale.
    pub(super) async fn annotate_due(
        &self,
        sale: &mut Sale,
        event: &str,
        detail: serde_json::Value,
        next_attempt_at_ms: i64,
        edit: impl FnOnce(&mut Sale),
    ) -> Result<(), SaleError> {
        let mut next = sale.clone();
        edit(&mut next);
        let row = Row {
            from: sale.state,
            to: sale.state,
            event,
            detail,
            next_attempt_at_ms: Some(next_attempt_at_ms),
            store_offline: None,
        };
        self.write(&next, row).await?;
        *sale = next;
        Ok(())
    }

    /// Moves the sale by `event` (a refusal, a lost answer) with `e` as its last error, in
    /// the history detail too; `clear_attempt` drops the request that was refused.
    pub(super) async fn record_failure(
        &self,
        sale: &mut Sale,
        event: SaleEvent,
        e: &crate::upstream::UpstreamError,
        extra: serde_json::Value,
        clear_attempt: bool,
    ) -> Result<(), SaleError> {
        let f = failure(e, self.now());
        let mut detail = serde_json::json!({ "error": f });
        if let (Some(d), Some(x)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(x.clone());
        }
        self.transition(sale, event, detail, None, |s| {
            if clear_attempt {
                s.attempt = None;
            }
            s.last_error = Some(f.clone());
        })
        .await
    }

    async fn write(&self, sale: &Sale, row: Row<'_>) -> Result<(), SaleError> {
        let doc = serde_json::to_string(sale).expect("a sale serialises");
        self.store
            .transition_sale(SaleTransition {
                id: sale.id.clone(),
                from: row.from.as_str().to_owned(),
                to: row.to.as_str().to_owned(),
                event: row.event.to_owned(),
                at_ms: self.now().timestamp_millis(),
                doc,
                detail: row.detail.to_string(),
                next_attempt_at_ms: row.next_attempt_at_ms,
                store_offline: row.store_offline,
            })
            .await?;
        Ok(())
    }
}

/// One history row.
struct Row<'a> {
    from: SaleState,
    to: SaleState,
    event: &'a str,
    detail: serde_json::Value,
    next_attempt_at_ms: Option<i64>,
    store_offline: Option<OfflineLimits>,
}

/// A failure as the sale records it.
pub(super) fn failure(e: &dyn UserFacing, at: DateTime<Utc>) -> Failure {
    Failure {
        code: e.code().to_owned(),
        message_zh: e.message_zh(),
        message_en: e.message_en(),
        at_ms: at.timestamp_millis(),
    }
}

fn event_name(e: SaleEvent) -> &'static str {
    match e {
        SaleEvent::Identify => "identify",
        SaleEvent::Presettle => "presettle",
        SaleEvent::Confirm => "confirm",
        SaleEvent::Store => "store",
        SaleEvent::Send => "send",
        SaleEvent::Settled => "settled",
        SaleEvent::Refused => "refused",
        SaleEvent::Lost => "lost",
        SaleEvent::Reverse => "reverse",
        SaleEvent::Reversed => "reversed",
        SaleEvent::Restored => "restored",
        SaleEvent::Retry => "retry",
        SaleEvent::Cancel => "cancel",
        SaleEvent::Cancelled => "cancelled",
        SaleEvent::Expire => "expire",
        SaleEvent::Requeue => "requeue",
        SaleEvent::Abandon => "abandon",
        SaleEvent::Unsent => "unsent",
        SaleEvent::Hold => "hold",
        SaleEvent::ResolveSettled => "resolve_settled",
        SaleEvent::ResolveUnsettled => "resolve_unsettled",
        SaleEvent::ResolveCancelled => "resolve_cancelled",
        SaleEvent::Refunded => "refunded",
        SaleEvent::Register => "register",
        SaleEvent::Registered => "registered",
        SaleEvent::Upload => "upload",
        SaleEvent::Reprice => "reprice",
        SaleEvent::Undo => "undo",
        SaleEvent::Undone => "undone",
        SaleEvent::ResolveUndone => "resolve_undone",
    }
}

fn event_action(e: SaleEvent) -> &'static str {
    match e {
        SaleEvent::Abandon => "be abandoned",
        SaleEvent::Requeue => "be requeued",
        SaleEvent::Cancel => "be cancelled",
        SaleEvent::Store => "be stored offline",
        SaleEvent::Confirm => "be confirmed",
        SaleEvent::Undo => "be undone",
        SaleEvent::Reprice => "be re-priced",
        SaleEvent::Upload => "take fee lines",
        SaleEvent::ResolveUndone => "be resolved by an operator",
        SaleEvent::ResolveSettled | SaleEvent::ResolveUnsettled | SaleEvent::ResolveCancelled => {
            "be resolved by an operator"
        }
        _ => "move on this way",
    }
}

/// The event a sale's moves are published as: `sale.state`, or `visit.state` for a visit.
fn topic(kind: super::state::SaleKind) -> &'static str {
    match kind {
        super::state::SaleKind::Pharmacy => "sale.state",
        super::state::SaleKind::Outpatient => "visit.state",
    }
}
