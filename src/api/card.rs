//! Credential endpoints: `GET /v1/readers`, `POST /v1/card/read`, `POST /v1/card/verify-pin`,
//! and `POST /v1/qr/scan`.
//!
//! Reads answer with the record and the `iReadCardBas` line in clear — the cashier program on
//! this PC needs them — and nothing of it is logged. PINs arrive in the body, are wrapped in
//! [`Pin`] at once (zeroized on drop) and never echoed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{ApiError, AppState};
use crate::card::service::{CardServiceError, ReadRequest};
use crate::card::{AccessError, CardError, InterfacePolicy, Pin};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    /// `contact`, `contactless`, `auto-contact`, `auto-contactless`.
    interface: Option<InterfacePolicy>,
    reader: Option<String>,
    wait_ms: Option<u64>,
    pin: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    pin: Zeroizing<String>,
    interface: Option<InterfacePolicy>,
    reader: Option<String>,
    wait_ms: Option<u64>,
}

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
        Err(e) => service_error(&CardServiceError::Access(e)).into_response(),
    }
}

pub(super) async fn read(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(card) = &state.card else {
        return disabled().into_response();
    };
    let body: ReadBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let wait = match wait(&state, body.wait_ms) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let pin = match body.pin.as_deref().map(|p| Pin::new(p)).transpose() {
        Ok(p) => p,
        Err(e) => return service_error(&CardServiceError::Card(e)).into_response(),
    };
    let req = ReadRequest {
        policy: body.interface,
        reader: any_reader(body.reader),
        wait,
        pin,
    };
    match card.read(req).await {
        Ok(outcome) => {
            let id = state
                .credentials
                .insert(crate::settle::credentials::Fresh::Card(
                    outcome.record.clone(),
                ));
            let mut v = serde_json::to_value(&outcome).unwrap_or_default();
            v["credential_id"] = serde_json::Value::String(id);
            Json(v).into_response()
        }
        Err(e) => service_error(&e).into_response(),
    }
}

pub(super) async fn verify_pin(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(card) = &state.card else {
        return disabled().into_response();
    };
    let body: PinBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let wait = match wait(&state, body.wait_ms) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let pin = match Pin::new(&body.pin) {
        Ok(p) => p,
        Err(e) => return service_error(&CardServiceError::Card(e)).into_response(),
    };
    match card
        .verify_pin(pin, body.interface, any_reader(body.reader), wait)
        .await
    {
        Ok(slot) => {
            Json(serde_json::json!({ "verified": true, "reader": slot.reader })).into_response()
        }
        Err(e) => service_error(&e).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    wait_ms: Option<u64>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// The code's text, as a scan box in keyboard mode typed it or a cashier pasted it.
    text: String,
}

/// `POST /v1/qr/submit`: a code entered by hand or typed into the cashier program by a scan
/// box, processed like a scan (classified, an e-SSC verified and replay-guarded).
pub(super) async fn qr_submit(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(qr) = &state.qr else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "qr.disabled",
            "本终端未启用扫码。",
            "QR codes are not enabled on this terminal.",
        )
        .into_response();
    };
    let body: SubmitBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if body.text.is_empty() || body.text.len() > 4096 {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.invalid",
            "二维码内容为空或过长，请重新扫码。",
            "The code text is empty or longer than 4096 bytes.",
        )
        .into_response();
    }
    let scan = crate::qr::service::RawScan {
        bytes: body.text.into_bytes(),
        source: "manual".to_owned(),
        decoder: None,
        decode_ms: None,
    };
    match qr.submit(scan).await {
        Some(result) => Json(&*result).into_response(),
        None => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "qr.failed",
            "扫码处理失败，请重试。",
            "The code could not be processed; try again.",
        )
        .into_response(),
    }
}

/// `POST /v1/qr/scan`: waits for the next code from any QR source.
pub(super) async fn qr_scan(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let qr = state.qr.as_ref().filter(|_| state.qr_sources);
    let Some(qr) = qr else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "qr.disabled",
            "本终端未配置扫码设备。",
            "This terminal has no QR source configured.",
        )
        .into_response();
    };
    let body: ScanBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let wait = match wait(&state, body.wait_ms) {
        Ok(w) => w.unwrap_or(Duration::from_secs(20).min(state.limits.request_timeout / 2)),
        Err(e) => return e.into_response(),
    };
    match qr.next(wait).await {
        Some(result) => Json(&*result).into_response(),
        None => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "qr.not_presented",
            "等待扫码超时：请出示医保码或电子社保卡码。",
            "No code was scanned in time: show the e-voucher or e-SSC code.",
        )
        .into_response(),
    }
}

/// A reader name sent empty (a form field left blank) means no preference, like none at all.
fn any_reader(reader: Option<String>) -> Option<String> {
    reader.filter(|r| !r.trim().is_empty())
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    // No body at all is the same as `{}` (every such endpoint's fields are optional).
    let value: serde_json::Value = if body.is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            // serde_json's message names the position; it never quotes the PIN value.
            ApiError::bad_request(&format!("body must be a JSON object as documented ({e})"))
        })?
    };
    // serde would also fill a struct from an array (`[null, null]`); the API takes objects only.
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "body must be a JSON object as documented",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        // serde_json's message names the field; it never quotes the PIN value.
        ApiError::bad_request(&format!("body must be a JSON object as documented ({e})"))
    })
}

/// A requested wait must end before the request timeout answers for it.
fn wait(state: &AppState, wait_ms: Option<u64>) -> Result<Option<Duration>, ApiError> {
    let limit = state.limits.request_timeout.as_millis() as u64;
    match wait_ms {
        Some(ms) if ms == 0 || ms + 1_000 > limit => Err(ApiError::bad_request(&format!(
            "wait_ms must be between 1 and {} (api.request_timeout_ms minus one second)",
            limit.saturating_sub(1_000)
        ))),
        other => Ok(other.map(Duration::from_millis)),
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

pub(super) fn service_error(e: &CardServiceError) -> ApiError {
    let status = match e {
        CardServiceError::Access(AccessError::NoCard(_)) => StatusCode::REQUEST_TIMEOUT,
        CardServiceError::Access(_) => StatusCode::SERVICE_UNAVAILABLE,
        CardServiceError::Card(CardError::Transport(_)) => StatusCode::CONFLICT,
        // A PIN that is not 6 digits never reaches the card: a malformed request.
        CardServiceError::Card(CardError::PinFormat) => StatusCode::BAD_REQUEST,
        CardServiceError::Card(_) | CardServiceError::Invalid(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let mut err = ApiError::from_user_facing(status, e);
    if let CardServiceError::Card(CardError::PinWrong { tries_left }) = e {
        err = err.with_details(serde_json::json!({ "tries_left": tries_left }));
    }
    err
}
