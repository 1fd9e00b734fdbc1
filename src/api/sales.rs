//! Sale endpoints: `POST /v1/sales`, `POST /v1/sales/{id}/presettle|confirm|cancel`,
//! `GET /v1/sales/{id}` (the masked view and its history).
//!
//! Handlers parse and hand over to the settlement engine; every answer shows a sale through
//! [`Sale::view`](crate::settle::Sale::view) (personal data masked). The PIN of a confirmation
//! is wrapped in [`Pin`](crate::card::Pin) at once (`bodies`) and never logged or echoed. Every POST here honours
//! `Idempotency-Key` (the `idempotency` layer).

use std::sync::Arc;

use super::{ApiError, AppState, bodies};
use crate::settle::SaleError;
use crate::store::IdempotencyClaim;
use crate::upstream::Fen;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// A sale error as an API answer, with the details a cashier program branches on.
pub(super) fn sale_error(e: &SaleError) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let err = ApiError::from_user_facing(status, e);
    match e {
        SaleError::Offline { can_store, cause } => {
            err.with_details(serde_json::json!({ "can_store": can_store, "cause": cause }))
        }
        SaleError::InsutypeNotOffered { offered, .. } => {
            err.with_details(serde_json::json!({ "offered": offered }))
        }
        SaleError::Limit {
            limit,
            current,
            max,
        } => err.with_details(serde_json::json!({
            "limit": limit,
            "current": limit_value(*limit, *current),
            "max": limit_value(*limit, *max),
        })),
        SaleError::WrongState { state, .. } => {
            err.with_details(serde_json::json!({ "state": state }))
        }
        SaleError::NotStorable { kind } => err.with_details(serde_json::json!({ "kind": kind })),
        _ => err,
    }
}

/// Counts stay numbers; amounts are shown in yuan.
fn limit_value(limit: crate::store::LimitKind, v: i64) -> serde_json::Value {
    match limit {
        crate::store::LimitKind::Count => serde_json::json!(v),
        _ => serde_json::json!(Fen(v).to_string()),
    }
}

fn answer(result: Result<crate::settle::Sale, SaleError>, ok: StatusCode) -> Response {
    match result {
        Ok(sale) => (ok, Json(sale.view())).into_response(),
        Err(e) => sale_error(&e).into_response(),
    }
}

/// A money operation (confirm, cancel) as an answer. The engine runs it in its own task to the
/// end whatever happens to this request, so the route is exempt from the generic request
/// timeout (`middleware::limits`); after `api.request_timeout_ms` it answers 202
/// `sale.in_progress` with the sale as it is now ("do not retry; GET /v1/sales/{id}"),
/// which the idempotency layer does not remember: a retry waits for the operation and gets
/// its real outcome.
async fn money(
    state: &AppState,
    id: &str,
    op: impl std::future::Future<Output = Result<crate::settle::Sale, SaleError>>,
) -> Response {
    let wait = state.limits.request_timeout;
    match tokio::time::timeout(wait, op).await {
        Ok(Err(SaleError::InProgress(_))) | Err(_) => in_progress(state, id).await,
        Ok(result) => answer(result, StatusCode::OK),
    }
}

/// 202 `sale.in_progress`: the sale's current view in `details.sale`; not remembered.
async fn in_progress(state: &AppState, id: &str) -> Response {
    let e = SaleError::InProgress(id.to_owned());
    let sale = state.sales.get(id).await.ok().map(|s| s.view());
    let mut resp = sale_error(&e)
        .with_details(serde_json::json!({ "sale": sale, "retry": false }))
        .into_response();
    resp.extensions_mut().insert(super::error::Provisional);
    resp
}

/// The routes [`money`] answers: exempt from the generic request timeout.
pub(super) const MONEY_ROUTES: [&str; 2] = ["/v1/sales/{id}/confirm", "/v1/sales/{id}/cancel"];

/// `POST /v1/sales`. The request's `Idempotency-Key` (handed over by the idempotency layer)
/// commits with the sale.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    claim: Option<Extension<IdempotencyClaim>>,
    body: Bytes,
) -> Response {
    let engine = &state.sales;
    let new = match bodies::sale_new(&body) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let created = engine.create_keyed(new, claim.map(|Extension(c)| c)).await;
    #[cfg(feature = "demo")]
    if created.is_ok() {
        crash_after_create_hook();
    }
    answer(created, StatusCode::CREATED)
}

/// Test hook of the real binary (`demo` builds only, never in the package): with
/// `MEDSETTLE_TEST_ABORT_AFTER_CREATE=1` the process aborts right after a sale was committed
/// and before it is answered, as a crash or SIGKILL there would.
#[cfg(feature = "demo")]
fn crash_after_create_hook() {
    static ARMED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let armed = *ARMED.get_or_init(|| {
        std::env::var_os("MEDSETTLE_TEST_ABORT_AFTER_CREATE").is_some_and(|v| v == "1")
    });
    if armed {
        tracing::error!("test hook: aborting after the sale was committed");
        std::process::abort();
    }
}

/// `POST /v1/sales/{id}/presettle`, with an optional `{"insutype": "…"}` choice.
pub(super) async fn presettle(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let insutype = match bodies::sale_presettle(&body) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    answer(
        state.sales.presettle_as(&id, insutype.as_deref()).await,
        StatusCode::OK,
    )
}

/// `POST /v1/sales/{id}/confirm`.
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let engine = &state.sales;
    let confirmation = match bodies::sale_confirm(&body) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    money(&state, &id, engine.confirm(&id, confirmation)).await
}

/// `POST /v1/sales/{id}/cancel`.
pub(super) async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    money(&state, &id, state.sales.cancel(&id)).await
}

/// `GET /v1/sales/{id}`: the view and the history.
pub(super) async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let engine = &state.sales;
    let sale = match engine.get(&id).await {
        Ok(s) => s,
        Err(e) => return sale_error(&e).into_response(),
    };
    let rows = match state.store.sale_events(&id).await {
        Ok(r) => r,
        Err(e) => return sale_error(&SaleError::from(e)).into_response(),
    };
    let history: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            // The engine writes msgids, error codes/messages and amounts; anything ID-shaped
            // a platform message might carry is masked all the same.
            let detail = crate::telemetry::pii::scrub(&r.detail);
            serde_json::json!({
                "seq": r.seq,
                "at_ms": r.at_ms,
                "from": r.from_state,
                "to": r.to_state,
                "event": r.event,
                "detail": serde_json::from_str::<serde_json::Value>(&detail)
                    .unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    Json(serde_json::json!({ "sale": sale.view(), "history": history })).into_response()
}
