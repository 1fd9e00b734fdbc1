//! Outpatient visit endpoints (the clinic flow of outpatient.md): `POST /v1/visits`,
//! `GET /v1/visits`, `GET /v1/visits/{id}`, `POST /v1/visits/{id}/register`,
//! `PUT /v1/visits/{id}/details`, `POST /v1/visits/{id}/presettle|confirm|cancel|refund`.
//!
//! A visit is a sale of kind `outpatient` (id `V…`): the handlers parse, hand over to the
//! engine's visit facade and answer the masked sale view (with its `visit` object) exactly as
//! the sale endpoints do, through the same error mapping (`sales::sale_error`) and the same
//! 202-in-progress wrapper for the money operations (confirm, cancel, refund). Every POST and
//! the PUT honour `Idempotency-Key`; the create commits the key with the visit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::sales::{answer, money, sale_error, with_history};
use super::{ApiError, AppState, bodies};
use crate::settle::{Sale, SaleError, SaleKind, SaleState};
use crate::store::IdempotencyClaim;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// `POST /v1/visits`: records the visit (with the request's `Idempotency-Key`), registers it
/// and uploads its fee lines when it has some. A step that fails after the visit was recorded
/// answers its error with `details.visit` and `details.state`.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    claim: Option<Extension<IdempotencyClaim>>,
    body: Bytes,
) -> Response {
    let new = match bodies::visit_new(&body) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let created = state
        .sales
        .create_visit(new, claim.map(|Extension(c)| c))
        .await;
    answer(created, StatusCode::CREATED)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VisitsQuery {
    /// Comma-separated states; default every state.
    state: Option<String>,
    /// 1-500, default 50.
    limit: Option<u32>,
}

/// The states a `?state=` list names, or every state.
fn states_of(list: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(list) = list else {
        return Ok(SaleState::ALL.iter().map(|s| s.as_str()).collect());
    };
    list.split(',')
        .map(str::trim)
        .map(|name| {
            SaleState::parse(name)
                .map(SaleState::as_str)
                .ok_or_else(|| ApiError::bad_request(&format!("unknown state {name:?}")))
        })
        .collect()
}

/// `GET /v1/visits`: visits, newest first, masked views.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<VisitsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return ApiError::bad_request("state: e.g. registered,uploaded; limit: 1-500")
            .into_response();
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return ApiError::bad_request("limit must be between 1 and 500").into_response();
    }
    let states = match states_of(q.state.as_deref()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match state.store.visits_newest(&states, limit).await {
        Ok(rows) => {
            let visits: Vec<serde_json::Value> = rows
                .iter()
                .filter_map(|r| serde_json::from_str::<Sale>(&r.doc).ok())
                .map(|s| s.view())
                .collect();
            Json(serde_json::json!({ "visits": visits })).into_response()
        }
        Err(e) => sale_error(&SaleError::from(e)).into_response(),
    }
}

/// The sale `id` when it is a visit; a pharmacy sale is `sale.wrong_kind`.
fn visit_only(id: &str, sale: Sale) -> Result<Sale, SaleError> {
    if sale.kind == SaleKind::Outpatient {
        Ok(sale)
    } else {
        Err(SaleError::WrongKind {
            id: id.to_owned(),
            expected: "a visit",
        })
    }
}

/// `GET /v1/visits/{id}`: the view and the history.
pub(super) async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.sales.get(&id).await.and_then(|s| visit_only(&id, s)) {
        Ok(visit) => with_history(&state, visit).await,
        Err(e) => sale_error(&e).into_response(),
    }
}

/// `POST /v1/visits/{id}/register`, with an optional `{"insutype": "…"}` choice.
pub(super) async fn register(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let insutype = match bodies::visit_register(&body) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    answer(
        state.sales.register_visit(&id, insutype.as_deref()).await,
        StatusCode::OK,
    )
}

/// `PUT /v1/visits/{id}/details`: the fee lines (replacing any the platform holds).
pub(super) async fn details(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let details = match bodies::visit_details(&body) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    answer(
        state.sales.visit_details(&id, details).await,
        StatusCode::OK,
    )
}

/// `POST /v1/visits/{id}/presettle`: 2206 (repeatable).
pub(super) async fn presettle(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = bodies::no_fields(&body) {
        return e.into_response();
    }
    answer(state.sales.presettle_visit(&id).await, StatusCode::OK)
}

/// `POST /v1/visits/{id}/confirm`: the patient consents (PIN); 2207.
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let confirmation = match bodies::sale_confirm(&body) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    money(&state, &id, state.sales.confirm_visit(&id, confirmation)).await
}

/// `POST /v1/visits/{id}/cancel`: abandons the visit and undoes what the platform holds.
pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = bodies::no_fields(&body) {
        return e.into_response();
    }
    money(&state, &id, state.sales.cancel_visit(&id)).await
}

/// `POST /v1/visits/{id}/refund`: 2208, then the visit's lines and registration are undone.
pub(super) async fn refund(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = bodies::no_fields(&body) {
        return e.into_response();
    }
    money(&state, &id, state.sales.refund_visit(&id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_filter_names_known_states_only() {
        assert_eq!(
            states_of(Some("registered, uploaded")).unwrap(),
            vec!["registered", "uploaded"]
        );
        assert_eq!(states_of(None).unwrap().len(), SaleState::ALL.len());
        let e = states_of(Some("registered,nope")).unwrap_err();
        assert_eq!(e.code, "request.invalid");
        assert!(e.message_en.contains("nope"), "{}", e.message_en);
    }
}
