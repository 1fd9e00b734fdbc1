//! Kiosk mode's API (`terminal.mode = "kiosk"`): the kiosk UI starts a self-service session,
//! follows it on `/v1/events` (`kiosk.step`) or by polling its view, passes the patient's PIN,
//! and may cancel while the session waits. The daemon drives everything else
//! (`crate::settle::kiosk`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::card::parse;
use super::{ApiError, AppState};
use crate::card::Pin;
use crate::settle::NewItem;
use crate::settle::kiosk::{Kiosk, KioskError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    items: Vec<NewItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    pin: Option<Zeroizing<String>>,
}

fn error(e: &KioskError) -> ApiError {
    let status = match e {
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

/// `POST /v1/kiosk/sessions`.
pub(super) async fn start(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let k = match kiosk(&state) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let body: StartBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if body.items.is_empty() {
        return ApiError::bad_request("items must not be empty").into_response();
    }
    match k.start(body.items) {
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
    let body: ConsentBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let pin = match body.pin.as_deref().map(|p| Pin::new(p)).transpose() {
        Ok(p) => p,
        Err(_) => return ApiError::bad_request("pin must be six digits").into_response(),
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
