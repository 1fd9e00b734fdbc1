//! The daemon's background tasks, started from one list once the API serves: the card
//! monitor, the QR pipeline, crash recovery then the forwarder, the reconciliation schedule,
//! store housekeeping, the database size check, the platform link and the fleet ledger's
//! outbox drain (or, without `[fleet]`, turning the outbox off). Each runs until `stop`; a task a terminal
//! does not have sets its component `disabled` on the status board instead.
//!
//! It builds no service (`services.rs`) and owns no lifecycle step (`mod.rs`: READY, drain,
//! the watchdog).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::size;
use crate::card::CardReaders;
use crate::config::Config;
use crate::qr::service::RawScan;
use crate::services::Services;
use crate::status::Health;

/// One background task.
struct Task {
    name: &'static str,
    run: BoxFuture<'static, ()>,
}

/// Spawns every task this terminal has; each stops when `stop` is cancelled.
pub(super) fn start(
    services: &Services,
    config: &Config,
    readers: Option<&Arc<dyn CardReaders>>,
    scans: Option<mpsc::Receiver<RawScan>>,
    credentials_dir: Option<&std::path::Path>,
    stop: &CancellationToken,
) {
    for task in tasks(services, config, readers, scans, credentials_dir, stop) {
        tracing::debug!(task = task.name, "background task started");
        tokio::spawn(task.run);
    }
}

/// The list.
fn tasks(
    s: &Services,
    config: &Config,
    readers: Option<&Arc<dyn CardReaders>>,
    scans: Option<mpsc::Receiver<RawScan>>,
    credentials_dir: Option<&std::path::Path>,
    stop: &CancellationToken,
) -> Vec<Task> {
    let mut out = Vec::new();
    let mut add = |name, run| out.push(Task { name, run });

    match readers {
        Some(readers) => add(
            "card monitor",
            Box::pin(crate::card::monitor::run(
                Arc::clone(readers),
                s.events.clone(),
                Arc::clone(&s.status),
                stop.clone(),
            )),
        ),
        None => s.status.set(
            crate::card::monitor::COMPONENT,
            Health::Disabled,
            "no card readers configured",
        ),
    }

    match scans {
        Some(scans) => {
            add("qr", Box::pin(Arc::clone(&s.qr).run(scans, stop.clone())));
            s.status.set("qr", Health::Ok, "QR sources connected");
            add(
                "qr decoder panics",
                Box::pin(follow_decoder_panics(Arc::clone(&s.status), stop.clone())),
            );
        }
        None => s
            .status
            .set("qr", Health::Disabled, "no QR sources configured"),
    }

    // With a fleet ledger the platform reconciles the institution, not the terminal: the
    // daily run is the institution-wide one (one runner per day, the others show its result).
    match (&s.fleet, s.sales.has_platform()) {
        (_, false) => {}
        (Some(fleet), true) => add(
            "reconcile schedule (institution)",
            Box::pin(crate::fleet::schedule(Arc::clone(fleet), stop.clone())),
        ),
        (None, true) => add(
            "reconcile schedule",
            Box::pin(crate::settle::reconcile::schedule(
                s.sales.reconciler(),
                Arc::clone(&s.status),
                stop.clone(),
            )),
        ),
    }
    let engine = Arc::clone(&s.sales);
    let until = stop.clone();
    let quarantined = s.store.quarantined().is_some();
    add(
        "recovery and forwarder",
        Box::pin(async move {
            if quarantined {
                // The sales to recover and forward are in the quarantined file: nothing may
                // move money until `medsettle store salvage` brought them back.
                tracing::error!("store quarantined: crash recovery and forwarding not started");
                return;
            }
            match engine.recover().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(sales = n, "recovered sales left in flight by the last run")
                }
                Err(e) => tracing::error!(error = %e, "crash recovery failed"),
            }
            if engine.has_platform() {
                engine.run_forwarder(until).await;
            }
        }),
    );

    add(
        "store housekeeping",
        Box::pin(housekeeping(
            s.store.clone(),
            std::time::Duration::from_secs(u64::from(config.api.idempotency_ttl_hours) * 3600),
            stop.clone(),
        )),
    );

    add(
        "database size",
        Box::pin(size::watch(
            config.store.path.clone(),
            config.store.alarm_size_mib,
            Arc::clone(&s.status),
            stop.clone(),
        )),
    );

    match &s.upstream {
        Some(client) => add(
            "platform link",
            Box::pin(crate::upstream::link::run(
                Arc::clone(client),
                Arc::clone(&s.status),
                s.events.clone(),
                stop.clone(),
            )),
        ),
        None => s.status.set(
            crate::upstream::link::COMPONENT,
            Health::Disabled,
            "no [upstream] platform configured (offline only)",
        ),
    }

    match &config.fleet {
        Some(fleet) => add(
            "fleet ledger",
            Box::pin(crate::fleet::run_drain(
                s.store.clone(),
                fleet.options(&config.terminal),
                credentials_dir.map(std::path::Path::to_owned),
                Arc::clone(&s.status),
                stop.clone(),
            )),
        ),
        None => {
            s.status.set(
                crate::fleet::COMPONENT,
                Health::Disabled,
                "no [fleet] ledger configured",
            );
            add("fleet outbox off", Box::pin(outbox_off(s.store.clone())));
        }
    }
    out
}

/// Without `[fleet]`: the outbox is turned off (and emptied), so sales enqueue nothing; a
/// ledger configured again later gets every settlement through the switch turning it on.
async fn outbox_off(store: crate::store::Store) {
    match store.set_outbox(false, crate::status::now_ms()).await {
        Ok(crate::store::OutboxSwitch::Off { dropped }) => {
            tracing::info!(
                rows = dropped,
                "no [fleet]: the fleet outbox was turned off"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot turn the fleet outbox off"),
    }
}

/// How often housekeeping runs.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Store housekeeping, at start and then hourly: purges the idempotency entries older than
/// `ttl` (`api.idempotency_ttl_hours`). e-SSC nonces are purged by the replay guard itself.
async fn housekeeping(
    store: crate::store::Store,
    ttl: std::time::Duration,
    stop: CancellationToken,
) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    loop {
        let before = crate::status::now_ms().saturating_sub(ttl_ms);
        match store.purge_idempotency(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "expired idempotency keys purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
        }
    }
}

/// Shows the camera decoders' caught panics on the status board: the `qr` component's detail
/// and the alarm `qr.decoder_panic` (count and last time), as they happen. Scanning goes on
/// (each frame's decode is isolated, `qr::pump`), so the component stays up.
async fn follow_decoder_panics(status: Arc<crate::status::StatusBoard>, stop: CancellationToken) {
    let mut panics = crate::qr::pump::decoder_stats().subscribe();
    loop {
        let p = *panics.borrow_and_update();
        if p.total > 0 {
            status.set(
                "qr",
                Health::Ok,
                format!(
                    "QR sources connected; decoder panics caught: {} (frames skipped, scanning continues)",
                    p.total
                ),
            );
            status.raise(
                "qr.decoder_panic",
                format!("二维码解码器异常 {} 次（已跳过该帧，继续扫描）", p.total),
                format!(
                    "the QR decoder panicked {} time(s) (frame skipped, scanning continues)",
                    p.total
                ),
                serde_json::json!({ "count": p.total, "last_at_ms": p.last_at_ms }),
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = panics.changed() => if changed.is_err() { return },
        }
    }
}
