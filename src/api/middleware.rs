//! The layers every API request passes through, outermost first: `track` (refuse during
//! shutdown, count in-flight work, metrics, a log line without personal data), `limits`
//! (body size, timeout — not on the money routes, which answer 202 `sale.in_progress` by
//! themselves), and on protected routes `auth` (a trusted Unix-socket peer, see `peer.rs`;
//! bearer token, constant time; on `/metrics` also the read-only metrics token; or the
//! status page's session cookie, for `GET` on the routes in `ui::SESSION_READABLE` only — a
//! cookie never authorizes a change, so a forged cross-site request cannot make one).
//!
//! Request logging names the route template, never the raw URI, query or body: those can
//! carry ID numbers and names.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::status::Phase;

pub(super) async fn track(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(req.method());
    let response = if state.status.phase() == Phase::Stopping && route != "/healthz" {
        ApiError::stopping().into_response()
    } else {
        let _guard = state.work.start();
        next.run(req).await
    };
    let status = response.status().as_u16();
    let took = started.elapsed();
    state.metrics.observe_http(&route, method, status, took);
    let ms = took.as_secs_f64() * 1e3;
    if status >= 500 {
        tracing::warn!(method, route, status, ms, "api request failed");
    } else {
        tracing::debug!(method, route, status, ms, "api request");
    }
    response
}

pub(super) async fn limits(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let max = state.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return ApiError::too_large(max).into_response();
    }
    // Chunked bodies without a length are cut off at the same limit while they are read.
    let req = req.map(|body| Body::new(Limited::new(body, max)));
    let timeout = state.limits.request_timeout;
    // A money route answers by itself when its operation outlives the timeout (202
    // `sale.in_progress`, never a timeout inviting a retry): the generic timer stays off it.
    let money = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| super::sales::MONEY_ROUTES.contains(&m.as_str()));
    if money {
        return next.run(req).await;
    }
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::timeout(timeout.as_millis() as u64).into_response(),
    }
}

pub(super) async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(peer) = req.extensions().get::<super::peer::Peer>() {
        if peer.trusted {
            return next.run(req).await;
        }
        if !req.headers().contains_key(header::AUTHORIZATION) {
            tracing::warn!(
                uid = peer.uid,
                gid = peer.gid,
                "api socket peer is not root, the service user or in its group: token required"
            );
        }
    }
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        if session_may_read(&state, &req) {
            return next.run(req).await;
        }
        return ApiError::missing_token().into_response();
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(presented) = presented else {
        return ApiError::missing_token().into_response();
    };
    let ok: bool = state.with_token(|t| t.expose().as_bytes().ct_eq(presented.as_bytes()).into())
        || (takes_metrics_token(&req) && state.is_metrics_token(presented));
    if !ok {
        tracing::warn!("api request with an invalid token refused");
        return ApiError::invalid_token().into_response();
    }
    next.run(req).await
}

/// Whether the request's route accepts the read-only metrics token.
fn takes_metrics_token(req: &Request) -> bool {
    req.extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| super::routes::takes_metrics_token(method_label(req.method()), m.as_str()))
}

/// A `GET` on a route the status page reads, with a live session cookie.
fn session_may_read(state: &AppState, req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| super::ui::SESSION_READABLE.contains(&m.as_str()))
        && super::ui::has_session(state, req.headers())
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `api.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `api.request_timeout_ms`.
    pub request_timeout: Duration,
}

/// The routes that move money or sales: every POST (and PUT) under `/v1/sales`, `/v1/visits`,
/// `/v1/queue`, `/v1/kiosk`, `/v1/reconcile` and `/v1/fleet/reconcile` (3201 stamps msgids
/// from the store). They stop while the store is quarantined ([`money_gate`]).
pub(super) fn is_money_route(method: &str, path: &str) -> bool {
    matches!(method, "POST" | "PUT")
        && [
            "/v1/sales",
            "/v1/visits",
            "/v1/queue",
            "/v1/kiosk",
            "/v1/reconcile",
            "/v1/fleet/reconcile",
        ]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Refuses a money route with `store.quarantined` (503) while the database is quarantined:
/// the queued and in-doubt sales, the msgid counter and the replay table are in the file set
/// aside, so nothing may move money until `medsettle store salvage` brought them back.
pub(super) async fn money_gate(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    match state.store.quarantined() {
        Some(q) => ApiError::store_quarantined()
            .with_details(serde_json::json!({ "moved_to": q.moved_to }))
            .into_response(),
        None => next.run(req).await,
    }
}
