//! The trace-report outbox for operators: `GET /v1/trace` (the reports, newest first, with
//! the counts by state), `GET /v1/trace/{id}`, `POST /v1/trace/{id}/retry` (a report the
//! platform refused is sent again once its cause is fixed).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::sales::sale_error;
use crate::store::TraceState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TraceQuery {
    /// Comma-separated states (pending, sent, failed, cancelled); default every state.
    state: Option<String>,
    /// One sale's or visit's reports.
    sale_id: Option<String>,
    /// 1-500, default 50.
    limit: Option<u32>,
}

const SHAPE: &str =
    "state: pending, sent, failed or cancelled (comma-separated); sale_id; limit: 1-500";

/// `GET /v1/trace`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<TraceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return ApiError::bad_request(SHAPE).into_response();
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return ApiError::bad_request(SHAPE).into_response();
    }
    let mut states = Vec::new();
    for name in q.state.iter().flat_map(|s| s.split(',')).map(str::trim) {
        match TraceState::parse(name) {
            Some(s) => states.push(s),
            None => return ApiError::bad_request(SHAPE).into_response(),
        }
    }
    if q.sale_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > 64)
    {
        return ApiError::bad_request(SHAPE).into_response();
    }
    let store = &state.store;
    let rows = match store.trace_list(states, q.sale_id, limit).await {
        Ok(r) => r,
        Err(e) => return sale_error(&e.into()).into_response(),
    };
    let stats = match store.trace_stats().await {
        Ok(s) => s,
        Err(e) => return sale_error(&e.into()).into_response(),
    };
    Json(serde_json::json!({ "reports": rows, "counts": stats })).into_response()
}

fn unknown(id: &str) -> Response {
    let id: String = id.chars().take(64).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "trace.unknown_report",
        format!("没有编号为 {id} 的追溯码上报记录。"),
        format!("There is no trace report {id}."),
    )
    .into_response()
}

/// A report id of the path: a number, else no such report.
fn report_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|id| *id > 0)
}

/// `GET /v1/trace/{id}`.
pub(super) async fn get(State(state): State<Arc<AppState>>, Path(text): Path<String>) -> Response {
    let Some(id) = report_id(&text) else {
        return unknown(&text);
    };
    match state.store.trace_report(id).await {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => unknown(&text),
        Err(e) => sale_error(&e.into()).into_response(),
    }
}

/// `POST /v1/trace/{id}/retry`: only a failed report; another is answered 409 unchanged.
pub(super) async fn retry(
    State(state): State<Arc<AppState>>,
    Path(text): Path<String>,
) -> Response {
    let Some(id) = report_id(&text) else {
        return unknown(&text);
    };
    match state.sales.trace_retry(id).await {
        Ok(Some((true, r))) => Json(r).into_response(),
        Ok(Some((false, r))) => ApiError::new(
            StatusCode::CONFLICT,
            "trace.not_failed",
            format!(
                "该上报记录状态为 {}，只有被拒绝（failed）的记录可以重试。",
                r.state.as_str()
            ),
            format!(
                "Report {id} is {}: only a failed report is retried.",
                r.state.as_str()
            ),
        )
        .with_details(serde_json::json!({ "state": r.state }))
        .into_response(),
        Ok(None) => unknown(&text),
        Err(e) => sale_error(&e).into_response(),
    }
}
