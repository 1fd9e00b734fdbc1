//! Sale endpoints: `POST /v1/sales`, `POST /v1/sales/{id}/presettle|confirm|cancel`,
//! `GET /v1/sales/{id}` (the masked view and its history).
//!
//! Handlers parse and hand over to the settlement engine; every answer shows a sale through
//! [`Sale::view`](crate::settle::Sale::view) (personal data masked). The PIN of a confirmation
//! is wrapped in [`Pin`](crate::card::Pin) at once (`bodies`) and never logged or echoed. Every POST here honours
//! `Idempotency-Key` (the `idempotency` layer).

use std::sync::Arc;

use super::{ApiError, AppState, bodies};
use crate::settle::{Sale, SaleError};
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
    match details(e) {
        Some(d) => err.with_details(d),
        None => err,
    }
}

/// The machine-readable details of `e` (an object), or none. A step that failed after a
/// visit was recorded ([`SaleError::At`]) names the visit and its state beside its cause's own
/// details, so the HIS both learns the visit exists and can branch on why it stopped.
fn details(e: &SaleError) -> Option<serde_json::Value> {
    Some(match e {
        SaleError::Offline { can_store, cause } => {
            serde_json::json!({ "can_store": can_store, "cause": cause })
        }
        SaleError::InsutypeNotOffered { offered, .. } => serde_json::json!({ "offered": offered }),
        SaleError::InsutypeRequired { offered } => serde_json::json!({ "offered": offered }),
        SaleError::Invalid { field, problem } => {
            serde_json::json!({ "field": field, "problem": problem })
        }
        SaleError::Limit {
            limit,
            current,
            max,
        } => serde_json::json!({
            "limit": limit,
            "current": limit_value(*limit, *current),
            "max": limit_value(*limit, *max),
        }),
        SaleError::WrongState { state, .. } => serde_json::json!({ "state": state }),
        SaleError::NotStorable { kind } => serde_json::json!({ "kind": kind }),
        SaleError::At { id, state, cause } => {
            let mut d = match details(cause) {
                Some(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            // The visit's own state wins over a cause's (`WrongState` of a later step).
            d.insert("visit".into(), serde_json::json!(id));
            d.insert("state".into(), serde_json::json!(state));
            serde_json::Value::Object(d)
        }
        _ => return None,
    })
}

/// Counts stay numbers; amounts are shown in yuan.
fn limit_value(limit: crate::store::LimitKind, v: i64) -> serde_json::Value {
    match limit {
        crate::store::LimitKind::Count => serde_json::json!(v),
        _ => serde_json::json!(Fen(v).to_string()),
    }
}

pub(super) fn answer(result: Result<crate::settle::Sale, SaleError>, ok: StatusCode) -> Response {
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
pub(super) async fn money(
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
pub(super) const MONEY_ROUTES: [&str; 5] = [
    "/v1/sales/{id}/confirm",
    "/v1/sales/{id}/cancel",
    "/v1/visits/{id}/confirm",
    "/v1/visits/{id}/cancel",
    "/v1/visits/{id}/refund",
];

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

/// `POST /v1/sales/{id}/trace`: traceability codes scanned while the sale is open, added to a
/// line.
pub(super) async fn attach_trace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match operator_input(&state, &id, &body, bodies::sale_trace).await {
        Ok(add) => view_of(state.sales.attach_trace(&id, add).await),
        Err(refused) => refused,
    }
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
    match state.sales.get(&id).await {
        Ok(sale) => with_history(&state, sale).await,
        Err(e) => sale_error(&e).into_response(),
    }
}

/// `{sale, history}`: the sale's view and its history rows (a sale's or a visit's).
pub(super) async fn with_history(state: &AppState, sale: crate::settle::Sale) -> Response {
    let rows = match state.store.sale_events(&sale.id).await {
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

/// The body of an operator's step on sale `id`, read by `parse`: an unknown sale is a 404
/// whatever the body says; a bad body is a 400 and changes nothing.
pub(super) async fn operator_input<T>(
    state: &AppState,
    id: &str,
    body: &[u8],
    parse: fn(&[u8]) -> Result<T, ApiError>,
) -> Result<T, Response> {
    if let Err(e) = state.sales.get(id).await {
        return Err(sale_error(&e).into_response());
    }
    parse(body).map_err(IntoResponse::into_response)
}

/// The sale's view, or the error as the API answers it.
pub(super) fn view_of(result: Result<Sale, SaleError>) -> Response {
    match result {
        Ok(sale) => Json(sale.view()).into_response(),
        Err(e) => sale_error(&e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::SaleState;

    #[test]
    fn a_refused_visit_field_names_the_field() {
        let e = sale_error(&SaleError::Invalid {
            field: "items[0].cnt".into(),
            problem: "must be positive".into(),
        });
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "visit.invalid_field");
        assert_eq!(e.details["field"], "items[0].cnt");
        assert_eq!(e.details["problem"], "must be positive");
    }

    #[test]
    fn an_insurance_choice_lists_what_was_offered() {
        let e = sale_error(&SaleError::InsutypeRequired {
            offered: vec!["310".into(), "390".into()],
        });
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "visit.insutype_required");
        assert_eq!(e.details, serde_json::json!({ "offered": ["310", "390"] }));
    }

    #[test]
    fn a_later_step_names_the_visit_beside_its_cause() {
        let at = |cause| SaleError::At {
            id: "V1".into(),
            state: SaleState::Registered,
            cause: Box::new(cause),
        };
        let e = sale_error(&at(SaleError::InsutypeRequired {
            offered: vec!["310".into(), "390".into()],
        }));
        assert_eq!(e.status, StatusCode::CONFLICT, "the cause's status");
        assert_eq!(e.code, "visit.insutype_required", "the cause's code");
        assert_eq!(
            e.details,
            serde_json::json!({ "offered": ["310", "390"], "visit": "V1", "state": "registered" })
        );
        // A cause without details of its own still names the visit.
        let e = sale_error(&at(SaleError::NoPlatform));
        assert_eq!(e.code, "sale.no_platform");
        assert_eq!(
            e.details,
            serde_json::json!({ "visit": "V1", "state": "registered" })
        );
        // Nested: the innermost details, the outermost visit.
        let e = sale_error(&SaleError::At {
            id: "V2".into(),
            state: SaleState::Uploaded,
            cause: Box::new(at(SaleError::Offline {
                can_store: false,
                cause: "upstream.unreachable".into(),
            })),
        });
        assert_eq!(e.details["visit"], "V2");
        assert_eq!(e.details["state"], "uploaded");
        assert_eq!(e.details["can_store"], false);
        assert_eq!(e.details["cause"], "upstream.unreachable");
    }

    #[test]
    fn a_visit_route_on_a_sale_is_the_wrong_kind() {
        let e = sale_error(&SaleError::WrongKind {
            id: "S1".into(),
            expected: "a visit",
        });
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "sale.wrong_kind");
        assert!(e.details.as_object().is_some_and(|d| d.is_empty()));
    }
}
