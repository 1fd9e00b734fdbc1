//! `POST /v1/credentials/wait`: one long-poll for whatever the patient presents first — a card
//! in a reader, a code in front of the camera or scan box, or a code submitted by hand — with
//! the `credential_id` a sale is made with. The waiting is `credential::Intake`'s (the kiosk
//! uses the same); this handler only parses the body and shapes the answer. The same moments
//! are published as `credential.ready` events (masked) on `/v1/events` for SSE clients.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::credential::{Intake, IntakeError, Presented, Want};

pub(super) async fn wait(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let asked = match super::bodies::credentials_wait(&body, state.limits.request_timeout) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let want_card = asked.card && state.card.is_some();
    let want_qr = asked.qr;
    if !want_card && !want_qr {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "credential.disabled",
            "本终端没有可用的读卡器或扫码设备。",
            "This terminal has no card reader or QR source for these kinds.",
        )
        .into_response();
    }
    let intake = Intake::new(&state.credentials, state.card.as_deref());
    let want = Want {
        wait: asked.wait,
        card: want_card,
        codes: want_qr,
        // With a camera or scan box, a refused code answers too (as `POST /v1/qr/scan`).
        refused: state.qr_sources,
    };
    match intake.next(want).await {
        Ok(Presented::Card { id, read }) => {
            let mut card = serde_json::to_value(&read).unwrap_or_default();
            card["credential_id"] = serde_json::Value::String(id.clone());
            Json(serde_json::json!({ "kind": "card", "credential_id": id, "card": card }))
                .into_response()
        }
        Ok(Presented::Code(scan)) => {
            let credential = scan
                .credential_id
                .as_ref()
                .and_then(|id| state.credentials.get(id))
                .map(|fresh| fresh.summary());
            Json(serde_json::json!({
                "kind": "qr", "credential_id": scan.credential_id,
                "scan": &*scan, "credential": credential,
            }))
            .into_response()
        }
        Err(IntakeError::Card(e)) => ApiError::from_card(&e).into_response(),
        Err(IntakeError::NotPresented) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "credential.not_presented",
            "等待超时：请插卡、刷卡或出示医保码 / 电子社保卡码。",
            "Nothing was presented in time: insert or tap the card, or show the code.",
        )
        .into_response(),
    }
}
