//! Operator endpoints over stored (offline) sales and the day's end: `GET /v1/queue`,
//! `POST /v1/queue/{id}/retry`, `POST /v1/queue/{id}/resolve` (a sale in doubt, stored or not),
//! `POST /v1/queue/{id}/ack` (a settlement answer mismatch acknowledged), `POST /v1/queue/flush`,
//! `POST /v1/reconcile`.
//!
//! The queue lists stored sales not yet closed, oldest first, paginated by sale id, with the
//! totals the offline limits count (offline.md rule 9); `?all=true` lists every stored sale,
//! settled ones included (the CLI's export). Views are masked like every sale view.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::sales::{operator_input, sale_error, view_of};
use super::{ApiError, AppState};
use crate::settle::{Sale, SaleError, SaleState};
use crate::upstream::Fen;

/// Stored sales not yet closed: what the queue lists.
pub const OPEN: [SaleState; 9] = [
    SaleState::Queued,
    SaleState::Settling,
    SaleState::Unknown,
    SaleState::Reversing,
    SaleState::Reversed,
    SaleState::Rejected,
    SaleState::Expired,
    SaleState::Held,
    SaleState::Cancelling,
];

/// Of those, the ones the forwarder still works on by itself (rejected and expired ones wait
/// for an operator).
pub const PENDING: [SaleState; 5] = [
    SaleState::Queued,
    SaleState::Settling,
    SaleState::Unknown,
    SaleState::Reversing,
    SaleState::Reversed,
];

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueQuery {
    limit: Option<u32>,
    after: Option<String>,
    all: Option<bool>,
}

/// `GET /v1/queue`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return ApiError::bad_request(
            "limit: 1-500; after: a sale id from the previous page's next; all: true or false",
        )
        .into_response();
    };
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let all: Vec<&str> = SaleState::ALL.iter().map(|s| s.as_str()).collect();
    let open: Vec<&str> = OPEN.iter().map(|s| s.as_str()).collect();
    let states = if q.all == Some(true) { all } else { open };
    match page(&state, &states, q.after.as_deref(), limit).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => sale_error(&e).into_response(),
    }
}

async fn page(
    state: &AppState,
    states: &[&str],
    after: Option<&str>,
    limit: u32,
) -> Result<serde_json::Value, SaleError> {
    let (sales, next) = sales_page(state, states, true, None, after, limit).await?;
    let totals = state.store.offline_totals().await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let pending = pending_count(state).await?;
    Ok(serde_json::json!({
        "totals": {
            "count": totals.count,
            "amount": Fen(totals.amount_fen).to_string(),
            "oldest_age_s": totals.oldest_created_at_ms.map(|t| (now_ms - t).max(0) / 1000),
            "pending": pending,
        },
        "sales": sales,
        "next": next,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SalesQuery {
    limit: Option<u32>,
    after: Option<String>,
    /// Comma-separated states; default every state.
    state: Option<String>,
    /// Only the sales of this ID number (by `sales.person_key`).
    id_number: Option<String>,
}

/// `GET /v1/sales`: every sale (stored or not), oldest first, paginated, filtered by state.
pub(super) async fn list_sales(
    State(state): State<Arc<AppState>>,
    query: Result<Query<SalesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return ApiError::bad_request(
            "limit: 1-500; after: a sale id from the previous page's next; state: e.g. settled,queued; id_number: 15 or 18 characters",
        )
        .into_response();
    };
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let states: Vec<&str> = match &q.state {
        None => SaleState::ALL.iter().map(|s| s.as_str()).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for name in list.split(',').map(str::trim) {
                match SaleState::parse(name) {
                    Some(s) => out.push(s.as_str()),
                    None => {
                        return ApiError::bad_request(&format!("unknown state {name:?}"))
                            .into_response();
                    }
                }
            }
            out
        }
    };
    if let Some(n) = &q.id_number {
        let n = n.trim();
        if !(15..=18).contains(&n.len()) || !n.chars().all(|c| c.is_ascii_alphanumeric()) {
            return ApiError::bad_request("id_number must be 15-18 letters or digits")
                .into_response();
        }
    }
    let result = sales_page(
        &state,
        &states,
        false,
        q.id_number.as_deref(),
        q.after.as_deref(),
        limit,
    )
    .await
    .map(|(sales, next)| serde_json::json!({ "sales": sales, "next": next }));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => sale_error(&e).into_response(),
    }
}

/// `limit` of a list request: default 50, 1-500.
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    Ok(limit)
}

/// One page of sales in `states`, oldest first, as masked views, and the `next` cursor.
async fn sales_page(
    state: &AppState,
    states: &[&str],
    stored_only: bool,
    person: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<(Vec<serde_json::Value>, Option<String>), SaleError> {
    let mut rows = state
        .store
        .sales_of(states, stored_only, person, after, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let sales = rows
        .iter()
        .filter_map(|r| serde_json::from_str::<Sale>(&r.doc).ok())
        .map(|s| s.view())
        .collect();
    Ok((sales, next))
}

/// Stored sales the forwarder still has to settle.
async fn pending_count(state: &AppState) -> Result<usize, SaleError> {
    let pending: Vec<&str> = PENDING.iter().map(|s| s.as_str()).collect();
    Ok(usize::try_from(state.store.count_sales(&pending, true).await?).unwrap_or(usize::MAX))
}

/// `POST /v1/queue/{id}/retry`: a rejected or expired stored sale goes back in the queue.
pub(super) async fn retry(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    view_of(state.sales.requeue(&id).await)
}

/// `POST /v1/queue/{id}/resolve`: an operator's decision on a sale in doubt (audited in the
/// sale's history with the evidence the terminal holds).
pub(super) async fn resolve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match operator_input(&state, &id, &body, super::bodies::queue_resolve).await {
        Ok(resolution) => view_of(state.sales.resolve(&id, resolution).await),
        Err(refused) => refused,
    }
}

/// `POST /v1/queue/{id}/ack`: an operator acknowledges a settlement answer that failed an
/// advisory check (audited in the sale's history); the sale leaves `sale.answer_mismatch`.
pub(super) async fn ack(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match operator_input(&state, &id, &body, super::bodies::queue_ack).await {
        Ok(ack) => view_of(state.sales.acknowledge_mismatch(&id, ack).await),
        Err(refused) => refused,
    }
}

/// `POST /v1/queue/flush`: wakes the forwarder now.
pub(super) async fn flush(State(state): State<Arc<AppState>>) -> Response {
    let engine = &state.sales;
    engine.flush();
    match pending_count(&state).await {
        Ok(n) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "queued": n })),
        )
            .into_response(),
        Err(e) => sale_error(&e).into_response(),
    }
}

/// `POST /v1/reconcile`: 3201 for a CST day; the outcome shows on the status board.
pub(super) async fn reconcile(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let engine = &state.sales;
    let today = crate::upstream::time::cst_day(chrono::Utc::now());
    let (day, detail) = match super::bodies::reconcile_day(&body, today) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let report = if detail {
        engine.reconcile_detailed(day).await
    } else {
        engine.reconcile(day).await
    };
    match report {
        Ok(report) => {
            crate::settle::reconcile::show(&state.status, &report);
            state
                .status
                .set_reconcile(crate::settle::reconcile::summary(&report));
            Json(report).into_response()
        }
        Err(e) => sale_error(&e).into_response(),
    }
}

/// `POST /v1/fleet/reconcile`: the institution-wide 3201 (3202 on a mismatch, or for every
/// group with `detail`) over every terminal's facts in the fleet ledger, under the
/// institution-day lock; the result is stored in the ledger for every terminal to see.
pub(super) async fn fleet_reconcile(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    use crate::fleet::FleetError;
    let Some(fleet) = state.fleet.as_ref() else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "fleet.not_configured",
            "本终端未配置集中账本（[fleet]），无法进行全院对账。",
            "no [fleet] ledger is configured on this terminal: the institution-wide reconciliation needs one",
        )
        .into_response();
    };
    let today = crate::upstream::time::cst_day(chrono::Utc::now());
    let (day, detail) = match super::bodies::reconcile_day(&body, today) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match fleet
        .run(day, detail, crate::fleet::Trigger::Operator)
        .await
    {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => {
            let status = match &e {
                FleetError::ReconcileBusy { .. } => StatusCode::CONFLICT,
                FleetError::Postgres(_) | FleetError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                FleetError::Reconcile(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let details = match &e {
                FleetError::ReconcileBusy { day, runner } => {
                    serde_json::json!({ "day": day, "runner": runner })
                }
                _ => serde_json::json!({ "day": crate::upstream::time::format_date(day) }),
            };
            ApiError::from_user_facing(status, &e)
                .with_details(details)
                .into_response()
        }
    }
}
