//! Kiosk mode's API (`terminal.mode = "kiosk"`): the kiosk UI starts a self-service session,
//! follows it on `/v1/events` (`kiosk.step`) or by polling its view, passes the patient's PIN,
//! and may cancel while the session waits. A session sells `items` (pharmacy) or pays an
//! outpatient visit the HIS created (`visit_id`). The daemon drives everything else
//! (`crate::settle::kiosk`).

use std::sync::Arc;

use super::{ApiError, AppState, bodies};
use crate::settle::kiosk::{Kiosk, KioskError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

fn error(e: &KioskError) -> ApiError {
    let status = match e {
        KioskError::Visit(e) => return super::sales::sale_error(e),
        KioskError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        KioskError::Busy | KioskError::WrongStep => StatusCode::CONFLICT,
        KioskError::NotFound => StatusCode::NOT_FOUND,
    };
    ApiError::from_user_facing(status, e)
}

fn kiosk(state: &AppState) -> Result<&Arc<Kiosk>, ApiError> {
    state
        .kiosk
        .as_ref()
        .ok_or_else(|| error(&KioskError::Disabled))
}

/// `POST /v1/kiosk/sessions`: a pharmacy sale of `items`, or the payment of the outpatient
/// visit `visit_id`.
pub(super) async fn start(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let k = match kiosk(&state) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let started = match bodies::kiosk_start(&body) {
        Ok(bodies::KioskStart::Items(items)) => k.start(items),
        Ok(bodies::KioskStart::Visit(id)) => k.start_visit(&id).await,
        Err(e) => return e.into_response(),
    };
    match started {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => error(&e).into_response(),
    }
}

/// `GET /v1/kiosk/sessions/{id}`.
pub(super) async fn view(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match kiosk(&state).map(|k| k.view(&id)) {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(&e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/kiosk/sessions/{id}/consent`.
pub(super) async fn consent(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let k = match kiosk(&state) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let pin = match bodies::kiosk_consent(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match k.consent(&id, pin) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": true })),
        )
            .into_response(),
        Err(e) => error(&e).into_response(),
    }
}

/// `POST /v1/kiosk/sessions/{id}/cancel`.
pub(super) async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match kiosk(&state).map(|k| k.cancel(&id)) {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "cancelling": true })),
        )
            .into_response(),
        Ok(Err(e)) => error(&e).into_response(),
        Err(e) => e.into_response(),
    }
}
