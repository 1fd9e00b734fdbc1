//! Loopback control endpoints for tests and demos: the ledger, fault rules, minting e-SSC
//! codes and e-voucher QR codes, and the issuer key. No authentication: the sandbox is a test
//! double and must only listen on loopback.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::Shared;
use crate::fault::FaultRule;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/ledger", get(ledger))
        .route(
            "/admin/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/admin/essc", post(essc))
        .route("/admin/evoucher", post(evoucher))
        .route("/admin/keys", get(keys))
}

#[derive(Deserialize)]
struct Certno {
    certno: String,
}

async fn ledger(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().ledger()).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().faults.rules()).into_response()
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(rule): Json<FaultRule>) -> Response {
    shared.lock().faults.add(rule);
    Json(json!({"ok": true})).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().faults.clear();
    Json(json!({"ok": true})).into_response()
}

fn not_found(e: impl std::fmt::Display) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response()
}

async fn essc(State(shared): State<Arc<Shared>>, Json(req): Json<Certno>) -> Response {
    match shared.mint_essc(&req.certno) {
        Ok(code) => Json(json!({"code": code})).into_response(),
        Err(e) => not_found(e),
    }
}

async fn evoucher(State(shared): State<Arc<Shared>>, Json(req): Json<Certno>) -> Response {
    match shared.issue_evoucher(&req.certno) {
        Ok(code) => Json(json!({"ecQrCode": code})).into_response(),
        Err(e) => not_found(e),
    }
}

async fn keys(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "essc_kid": shared.issuer.kid(),
        "essc_public_key_hex": shared.issuer.public_key_hex(),
    }))
    .into_response()
}
