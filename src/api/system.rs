//! Endpoints about the daemon itself: `/healthz`, `/v1/version`, `/v1/status`, `/metrics`,
//! `/v1/openapi.json`. Read-only; none of them shows personal data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::settle::SaleState;
use crate::status::{Health, Phase};
use crate::telemetry::metrics::Exposition;

/// The OpenAPI document, kept in the repository beside this file.
pub const OPENAPI: &str = include_str!("openapi.json");

pub(super) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let phase = state.status.phase();
    let code = if phase == Phase::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(serde_json::json!({ "status": if code == StatusCode::OK { "ok" } else { "unavailable" }, "phase": phase }))).into_response()
}

#[derive(Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
    api: &'static str,
    schema_version: u32,
}

pub(super) async fn version(State(state): State<Arc<AppState>>) -> Json<impl Serialize> {
    Json(Version {
        // The product, not the cargo package (`medsettle-daemon`).
        name: "medsettle",
        version: env!("CARGO_PKG_VERSION"),
        api: "v1",
        schema_version: state.store.schema_version(),
    })
}

pub(super) async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let snap = state.status.snapshot();
    Json(serde_json::json!({
        "phase": snap.phase,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "terminal": {
            "id": state.terminal.id,
            "fixmedins_code": state.terminal.fixmedins_code,
            "region": state.terminal.region,
            "mode": state.terminal.mode,
        },
        "work_in_flight": state.work.in_flight(),
        "offline_queue": state.store.offline_totals().await.ok().map(|q| serde_json::json!({
            "count": q.count,
            "amount": crate::upstream::Fen(q.amount_fen),
            "oldest_created_at_ms": q.oldest_created_at_ms,
        })),
        // The drug trace reports (3505/3506) by state and the oldest one still waiting.
        "trace": state.store.trace_stats().await.ok(),
        "components": snap.components,
        "alarms": snap.alarms,
        // The fleet ledger's view (terminals, outbox lag, reconciliations) when `[fleet]` is
        // configured and the ledger answered; absent otherwise.
        "fleet": snap.fleet,
        // The last 3201/3202 this daemon ran (`settle::reconcile::summary`); null until one ran.
        "reconcile": snap.reconcile,
    }))
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut e = Exposition::default();
    e.header("medsettle_build_info", "Build information.", "gauge");
    e.sample(
        "medsettle_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.gauge(
        "medsettle_uptime_seconds",
        "Seconds since the daemon started.",
        state.started.elapsed().as_secs_f64(),
    );
    let snap = state.status.snapshot();
    e.gauge(
        "medsettle_running",
        "1 while serving, 0 while starting or stopping.",
        f64::from(u8::from(snap.phase == Phase::Running)),
    );
    e.header(
        "medsettle_component_up",
        "1 when a component is ok, 0 otherwise.",
        "gauge",
    );
    for (name, c) in &snap.components {
        e.sample(
            "medsettle_component_up",
            &[("component", name)],
            f64::from(u8::from(c.health == Health::Ok)),
        );
    }
    e.gauge(
        "medsettle_alarms_active",
        "Alarms waiting for an operator.",
        snap.alarms.len() as f64,
    );
    e.header(
        "medsettle_alarm",
        "1 for each alarm waiting for an operator, by code.",
        "gauge",
    );
    for a in &snap.alarms {
        e.sample("medsettle_alarm", &[("code", &a.code)], 1.0);
    }
    if let Ok(q) = state.store.offline_totals().await {
        e.gauge(
            "medsettle_offline_sales",
            "Sales stored offline and not yet settled, cancelled or abandoned.",
            f64::from(q.count),
        );
        e.gauge_exact(
            "medsettle_offline_amount_yuan",
            "Their total amount, in yuan.",
            &crate::upstream::Fen(q.amount_fen),
        );
        let oldest = q.oldest_created_at_ms.map_or(0.0, |t| {
            ((chrono::Utc::now().timestamp_millis() - t).max(0) as f64) / 1000.0
        });
        e.gauge(
            "medsettle_offline_oldest_age_seconds",
            "Age of the oldest of them, in seconds (0 when none).",
            oldest,
        );
    }
    if let Some(r) = state.status.snapshot().reconcile {
        e.gauge(
            "medsettle_reconcile_last_balanced",
            "1 when the last reconciliation (3201) balanced, 0 when it did not.",
            if r["balanced"] == true { 1.0 } else { 0.0 },
        );
        e.gauge(
            "medsettle_reconcile_last_run_timestamp_seconds",
            "When the last reconciliation ran (unix seconds).",
            r["at_ms"].as_i64().unwrap_or(0) as f64 / 1000.0,
        );
        e.header(
            "medsettle_reconcile_last_differences",
            "Settlements the last 3202 detail reconciliation found different, by class.",
            "gauge",
        );
        for class in ["local_only", "platform_only", "amount_differs"] {
            e.sample(
                "medsettle_reconcile_last_differences",
                &[("class", class)],
                r[class].as_u64().unwrap_or(0) as f64,
            );
        }
    }
    if let Ok(o) = state.store.outbox_stats().await {
        e.gauge(
            "medsettle_fleet_outbox_rows",
            "Sale changes waiting in the outbox for the fleet ledger (0 without [fleet]).",
            o.rows as f64,
        );
        e.gauge(
            "medsettle_fleet_outbox_lag_seconds",
            "Age of the oldest of them, in seconds (0 when none).",
            o.lag_ms(chrono::Utc::now().timestamp_millis()) as f64 / 1000.0,
        );
    }
    if let Ok(t) = state.store.trace_stats().await {
        e.header(
            "medsettle_trace_reports",
            "Drug trace reports (3505 sold, 3506 returned) in the outbox, by state.",
            "gauge",
        );
        for (name, n) in [
            ("pending", t.pending),
            ("sent", t.sent),
            ("failed", t.failed),
            ("cancelled", t.cancelled),
        ] {
            e.sample("medsettle_trace_reports", &[("state", name)], n as f64);
        }
        e.gauge(
            "medsettle_trace_oldest_pending_age_seconds",
            "Age of the oldest trace report still waiting to be sent, in seconds (0 when none).",
            t.lag_ms(chrono::Utc::now().timestamp_millis()) as f64 / 1000.0,
        );
    }
    e.gauge(
        "medsettle_work_in_flight",
        "Requests and jobs in progress.",
        state.work.in_flight() as f64,
    );
    let s = state.store.stats();
    e.header(
        "medsettle_store_writes_total",
        "Store write operations, by result.",
        "counter",
    );
    e.sample(
        "medsettle_store_writes_total",
        &[("result", "ok")],
        s.writes_ok as f64,
    );
    e.sample(
        "medsettle_store_writes_total",
        &[("result", "failed")],
        s.writes_failed as f64,
    );
    // Only a sum and a count are kept, which is what a summary without quantiles is.
    e.header(
        "medsettle_store_write_duration_seconds",
        "Time spent in store writes.",
        "summary",
    );
    e.sample(
        "medsettle_store_write_duration_seconds_sum",
        &[],
        s.write_latency_us_sum as f64 / 1e6,
    );
    e.sample(
        "medsettle_store_write_duration_seconds_count",
        &[],
        (s.writes_ok + s.writes_failed) as f64,
    );
    e.header(
        "medsettle_store_commits_total",
        "Store transactions committed (several writes may share one: group commit).",
        "counter",
    );
    e.sample("medsettle_store_commits_total", &[], s.batches as f64);
    e.gauge(
        "medsettle_store_queue_depth",
        "Operations waiting for the store writer.",
        s.queue_depth as f64,
    );
    e.gauge(
        "medsettle_store_schema_version",
        "Schema version of the open database.",
        f64::from(state.store.schema_version()),
    );
    e.gauge(
        "medsettle_api_connections",
        "API connections open now (event streams included).",
        state.connections.open() as f64,
    );
    e.gauge(
        "medsettle_api_connections_max",
        "The bound on open API connections (api.max_connections).",
        state.connections.max() as f64,
    );
    e.gauge(
        "medsettle_api_connections_unix_reserved",
        "Of the bound, the connections only the Unix socket may use (api.unix_reserved_connections).",
        state.connections.reserve() as f64,
    );
    let panics = crate::qr::pump::decoder_stats().panics();
    e.header(
        "medsettle_qr_decoder_panics_total",
        "Camera frames whose QR decode panicked (caught; the frame was skipped).",
        "counter",
    );
    e.sample(
        "medsettle_qr_decoder_panics_total",
        &[],
        panics.total as f64,
    );
    e.gauge(
        "medsettle_qr_decoder_last_panic_timestamp_seconds",
        "Unix time of the last caught decoder panic (0 when none).",
        panics.last_at_ms.map_or(0.0, |ms| ms as f64 / 1000.0),
    );
    if let Some(t) = crate::telemetry::log_throttle() {
        e.header(
            "medsettle_log_suppressed_total",
            "Warnings and errors dropped by the repeated-message limit (log.repeat_burst).",
            "counter",
        );
        e.sample(
            "medsettle_log_suppressed_total",
            &[],
            t.total_suppressed() as f64,
        );
    }
    let in_doubt: Vec<&str> = SaleState::IN_DOUBT.iter().map(|s| s.as_str()).collect();
    if let Ok(n) = state.store.count_sales(&in_doubt, false).await {
        e.gauge(
            "medsettle_sales_in_doubt",
            "Sales and visits whose money request's outcome is not known yet (settling, unknown, reversing, …).",
            n as f64,
        );
    }
    if let Ok(n) = state
        .store
        .count_sales(&[SaleState::Held.as_str()], false)
        .await
    {
        e.gauge(
            "medsettle_sales_held",
            "Sales held for an operator: in doubt, and the platform refused the reversal.",
            n as f64,
        );
    }
    state.metrics.render_into(&mut e);
    crate::telemetry::ops::ops().render_into(&mut e);
    crate::telemetry::process::render_into(&mut e);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        e.finish(),
    )
        .into_response()
}

/// `GET /v1/store/backup`: a consistent, checked copy of the database, streamed as
/// `application/vnd.sqlite3` (`medsettle store backup` for an operator who may not read the
/// file itself: a member of the service's group). Sealed personal data stays sealed; the key set
/// is not in it. The copy is made beside the database and unlinked before the first byte goes
/// out, so nothing is left behind whatever happens to the connection.
pub(super) async fn store_backup(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let path = state.store.path().to_owned();
    let made = tokio::task::spawn_blocking(move || {
        crate::store::snapshot(&path, std::time::Duration::from_secs(5))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let (file, report) = made.map_err(|e| {
        tracing::error!(error = %e, "store backup for an operator failed");
        ApiError::from_user_facing(StatusCode::INTERNAL_SERVER_ERROR, &e)
    })?;
    tracing::info!(
        bytes = report.bytes,
        sales = report.sales,
        "store backup streamed to an operator"
    );
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.sqlite3".to_owned()),
            (header::CONTENT_LENGTH, report.bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"medsettle-backup.db\"".to_owned(),
            ),
        ],
        body,
    )
        .into_response())
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found()
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
