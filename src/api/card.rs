//! Card endpoints: `GET /v1/readers`, `POST /v1/card/read`, `POST /v1/card/verify-pin` (the QR
//! routes are `qr.rs`).
//!
//! Reads answer with the record and the `iReadCardBas` line in clear — the cashier program on
//! this PC needs them — and nothing of it is logged. PINs arrive in the body, are wrapped in
//! [`Pin`](crate::card::Pin) at once (`bodies`) (zeroized on drop) and never echoed.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, bodies};
use crate::card::service::CardServiceError;

pub(super) async fn readers(State(state): State<Arc<AppState>>) -> Response {
    let Some(card) = &state.card else {
        return disabled().into_response();
    };
    match card.readers().slots().await {
        Ok(slots) => Json(serde_json::json!({
            "backend": card.readers().name(),
            "slots": slots,
        }))
        .into_response(),
        Err(e) => ApiError::from_card(&CardServiceError::Access(e)).into_response(),
    }
}

pub(super) async fn read(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(card) = &state.card else {
        return disabled().into_response();
    };
    let req = match bodies::card_read(&body, state.limits.request_timeout) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match card.read(req).await {
        Ok(outcome) => {
            let id = state
                .credentials
                .insert(crate::credential::Fresh::Card(outcome.record.clone()));
            let mut v = serde_json::to_value(&outcome).unwrap_or_default();
            v["credential_id"] = serde_json::Value::String(id);
            Json(v).into_response()
        }
        Err(e) => ApiError::from_card(&e).into_response(),
    }
}

pub(super) async fn verify_pin(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(card) = &state.card else {
        return disabled().into_response();
    };
    let check = match bodies::card_verify_pin(&body, state.limits.request_timeout) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match card
        .verify_pin(check.pin, check.interface, check.reader, check.wait)
        .await
    {
        Ok(slot) => {
            Json(serde_json::json!({ "verified": true, "reader": slot.reader })).into_response()
        }
        Err(e) => ApiError::from_card(&e).into_response(),
    }
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "reader.disabled",
        "本终端未配置读卡器。",
        "This terminal has no card reader configured.",
    )
}
