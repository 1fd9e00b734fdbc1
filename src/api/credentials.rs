//! `POST /v1/credentials/wait`: one long-poll for whatever the patient presents first — a card
//! in a reader, a code in front of the camera or scan box, or a code submitted by hand — with
//! the `credential_id` a sale is made with. The same moments are published as
//! `credential.ready` events (masked) on `/v1/events` for clients that prefer SSE.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::card::service::ReadRequest;

enum Got {
    Card(Box<serde_json::Value>),
    Qr(Arc<crate::qr::service::ScanResult>),
    Submitted(serde_json::Value),
    Failed(ApiError),
}

pub(super) async fn wait(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let asked = match super::bodies::credentials_wait(&body, state.limits.request_timeout) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let wait = asked.wait;
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
    // Codes submitted by hand arrive as events; subscribe before anything can happen.
    let mut submitted = state.events.subscribe(None);
    let card = async {
        match (&state.card, want_card) {
            (Some(card), true) => {
                let req = ReadRequest {
                    // A little longer than the overall wait, which answers the timeout.
                    wait: Some(wait + Duration::from_secs(1)),
                    ..ReadRequest::default()
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
                        Got::Card(Box::new(v))
                    }
                    Err(e) => Got::Failed(ApiError::from_card(&e)),
                }
            }
            _ => std::future::pending().await,
        }
    };
    let qr = async {
        match want_qr && state.qr_sources {
            true => match state.qr.next(wait).await {
                Some(r) => Got::Qr(r),
                None => std::future::pending().await,
            },
            _ => std::future::pending().await,
        }
    };
    let manual = async {
        if !want_qr {
            return std::future::pending().await;
        }
        loop {
            match submitted.live.recv().await {
                Ok(e)
                    if e.topic == "credential.ready" && e.data["credential"]["kind"] != "card" =>
                {
                    return Got::Submitted(e.data.clone());
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return std::future::pending().await,
            }
        }
    };
    let got = tokio::select! {
        g = card => g,
        g = qr => g,
        g = manual => g,
        () = tokio::time::sleep(wait) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "credential.not_presented",
                "等待超时：请插卡、刷卡或出示医保码 / 电子社保卡码。",
                "Nothing was presented in time: insert or tap the card, or show the code.",
            )
            .into_response();
        }
    };
    match got {
        Got::Card(v) => Json(serde_json::json!({ "kind": "card", "credential_id": v["credential_id"], "card": *v })).into_response(),
        Got::Qr(r) => Json(serde_json::json!({ "kind": "qr", "credential_id": r.credential_id, "scan": &*r })).into_response(),
        Got::Submitted(v) => Json(serde_json::json!({ "kind": "qr", "credential_id": v["credential_id"], "credential": v["credential"] })).into_response(),
        Got::Failed(e) => e.into_response(),
    }
}
