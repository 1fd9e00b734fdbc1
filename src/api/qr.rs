//! QR endpoints: `POST /v1/qr/scan` (wait for the next code from a camera or scan box) and
//! `POST /v1/qr/submit` (a code typed or pasted by the cashier program). Both answer the QR
//! service's result: an e-SSC verified and replay-guarded, an e-voucher only syntax-checked
//! (decoded by the platform at sale time). Nothing here logs the code's content.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, bodies};

/// `POST /v1/qr/submit`: a code entered by hand or typed into the cashier program by a scan
/// box, processed like a scan (classified, an e-SSC verified and replay-guarded).
pub(super) async fn submit(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let text = match bodies::qr_submit_text(&body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let scan = crate::qr::service::RawScan {
        bytes: text,
        source: "manual".to_owned(),
        decoder: None,
        decode_ms: None,
        symbology: None,
    };
    match state.qr.submit(scan).await {
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
pub(super) async fn scan(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    if !state.qr_sources {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "qr.disabled",
            "本终端未配置扫码设备。",
            "This terminal has no QR source configured.",
        )
        .into_response();
    }
    let wait = match bodies::qr_scan_wait(&body, state.limits.request_timeout) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    match state.qr.next(wait).await {
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
