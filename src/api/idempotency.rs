//! `Idempotency-Key` for POST (and PUT) routes: a client that retries a request (a lost
//! answer, a cashier pressing twice) under the same key gets the first answer back, with
//! `Idempotent-Replayed: true`, and causes no second effect.
//!
//! The key (1–128 printable ASCII characters) is stored with a keyed hash of method, path and
//! body: the same key with another request is refused (`idempotency.mismatch`). Requests with
//! one key are serialised in this process, so two at once cause one effect. A layer: which
//! routes carry it is decided in [`super::router`] ([`applies`]).
//!
//! **What is remembered.** Only answers that stay true: every 2xx (the effect happened) and
//! 422 (the platform or the card refused this very request). Never remembered, so a retry is
//! judged afresh: 5xx (a transient failure), 400/404/405/413/415 (malformed or unknown:
//! nothing happened), 408 (no card was presented) and every 409 — `sale.wrong_state`,
//! `sale.busy`, `sale.other_card`, the offline limits, `sale.not_storable` describe the sale or
//! the terminal at that moment, and a retry once it has moved on must see where it is now.
//!
//! **Expiry.** An entry lives `api.idempotency_ttl_hours` (default 24): older ones are ignored
//! here, replaced by a new request under the same key, and purged by housekeeping.
//!
//! **Committed with the write.** The layer hands the key, route and hash to the handler as an
//! [`IdempotencyClaim`] request extension; a handler whose write takes it (`POST /v1/sales`,
//! `POST /v1/visits`) commits the entry in the write's own transaction, naming the sale, before any answer
//! exists. A retry that finds such an entry without an answer (the daemon died between the
//! write and the answer) is answered from the sale as it is now (`201` and the sale's view for
//! a create), never by running the request again.
//!
//! **Provisional answers.** A money operation still running answers 202 `sale.in_progress`
//! marked [`Provisional`]: never remembered; a retry waits for the operation and gets its
//! outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::Provisional;
use super::{ApiError, AppState};
use crate::store::{IdempotencyClaim, IdempotencyEntry, IdempotencyRow};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// Every POST and PUT of the API (`/v1/…`) honours `Idempotency-Key`.
const PREFIXES: &[&str] = &["/v1/"];

/// Whether a route carries the idempotency layer (a PUT too: `PUT /v1/visits/{id}/details`
/// replaces fee lines on the platform, a retry must not replace them twice).
pub fn applies(method: &str, path: &str) -> bool {
    matches!(method, "POST" | "PUT") && PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The routes that create a sale or a visit: a replay from the sale itself answers 201.
const CREATES: [&str; 2] = ["/v1/sales", "/v1/visits"];

/// One in-process lock per key being worked on.
#[derive(Default)]
pub struct Keys {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Keys {
    async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, m| Arc::strong_count(m) > 1);
            Arc::clone(locks.entry(key.to_owned()).or_default())
        };
        m.lock_owned().await
    }
}

/// A key as the header carries it, checked.
fn key_of(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let bytes = v.as_bytes();
    if bytes.is_empty() || bytes.len() > 128 || !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 128 printable ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// SHA-256 over method, path and body. Stored only through a keyed hash
/// ([`crate::store::Store::keyed_hash`]): a confirm's body holds a six-digit PIN, which a plain
/// hash in the database file would give away to 10^6 guesses.
pub fn request_hash(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().into()
}

/// The layer.
pub(super) async fn layer(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let key = match key_of(&req) {
        Ok(Some(k)) => k,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, state.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(state.limits.max_body_bytes).into_response(),
    };
    let hash = state.store.keyed_hash(
        "idempotency",
        &request_hash(&parts.method, parts.uri.path(), &body),
    );
    let _guard = state.idempotency.lock(&key).await;
    let ttl_ms = i64::try_from(state.idempotency_ttl.as_millis()).unwrap_or(i64::MAX);
    let live_since = chrono::Utc::now().timestamp_millis().saturating_sub(ttl_ms);
    match state.store.idempotency_entry(&key, live_since).await {
        Ok(Some(entry)) if entry.request_hash != hash => {
            return ApiError::idempotency_mismatch().into_response();
        }
        Ok(Some(entry)) => return replay(&state, &entry).await,
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "idempotency lookup failed");
            return ApiError::internal().into_response();
        }
    }
    let mut parts = parts;
    parts.extensions.insert(IdempotencyClaim {
        key: key.clone(),
        route: route.clone(),
        request_hash: hash.clone(),
        expired_before_ms: live_since,
    });
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = resp.status();
    if !remembered(status) || resp.extensions().get::<Provisional>().is_some() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal().into_response();
    };
    let row = IdempotencyRow {
        route,
        request_hash: hash,
        status: status.as_u16(),
        response: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let at_ms = chrono::Utc::now().timestamp_millis();
    if let Err(e) = state
        .store
        .remember_answer_until(&key, row, at_ms, live_since)
        .await
    {
        // The effect happened; the caller gets its answer. A write that claimed the key is
        // answered from its sale on a retry; any other would run again.
        tracing::error!(error = %e, "could not remember an idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The answers that are remembered (see the module doc): 2xx and 422.
pub(super) fn remembered(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::UNPROCESSABLE_ENTITY
}

/// The answer for a live entry: its remembered answer, or — when only the write committed —
/// the sale it wrote, as it is now.
async fn replay(state: &AppState, entry: &IdempotencyEntry) -> Response {
    if let Some((status, body)) = &entry.answer {
        return replayed(*status, body.clone());
    }
    let Some(id) = &entry.sale_id else {
        return ApiError::internal().into_response();
    };
    match state.sales.get(id).await {
        Ok(sale) => {
            let status = if CREATES.contains(&entry.route.as_str()) {
                201
            } else {
                200
            };
            replayed(status, sale.view().to_string())
        }
        Err(e) => super::sales::sale_error(&e).into_response(),
    }
}

fn replayed(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_method_path_and_body() {
        let a = request_hash(&Method::POST, "/v1/sales", b"{}");
        assert_eq!(a, request_hash(&Method::POST, "/v1/sales", b"{}"));
        assert_ne!(a, request_hash(&Method::POST, "/v1/sales", b"{ }"));
        assert_ne!(a, request_hash(&Method::POST, "/v1/queue/flush", b"{}"));
        assert_ne!(a, request_hash(&Method::PUT, "/v1/sales", b"{}"));
    }

    #[test]
    fn only_lasting_answers_are_remembered() {
        for ok in [200, 201, 202, 204, 422] {
            assert!(remembered(StatusCode::from_u16(ok).unwrap()), "{ok}");
        }
        for not in [400, 404, 405, 408, 409, 413, 415, 429, 500, 502, 503, 504] {
            assert!(!remembered(StatusCode::from_u16(not).unwrap()), "{not}");
        }
    }

    #[test]
    fn applies_to_every_api_post() {
        assert!(applies("POST", "/v1/sales/{id}/confirm"));
        assert!(applies("POST", "/v1/reconcile"));
        assert!(applies("POST", "/v1/card/read"));
        assert!(applies("POST", "/v1/qr/submit"));
        assert!(applies("POST", "/v1/visits"));
        assert!(applies("PUT", "/v1/visits/{id}/details"));
        assert!(!applies("GET", "/v1/sales/{id}"));
        assert!(!applies("GET", "/v1/events"));
    }
}
