//! The one function that builds the daemon's [`Services`] from the config and what the
//! process hands over ([`Environment`]), and the API's options. Every service is built here, once, before anything
//! serves; nothing is assigned afterwards. It starts no task (`tasks.rs`) and binds nothing.

use std::sync::Arc;
use std::time::Duration;

use super::{DaemonError, Environment};
use crate::api::{ApiOptions, Limits};
use crate::card::service::CardService;
use crate::config::{ApiConfig, Config, TerminalMode};
use crate::credential::Credentials;
use crate::qr::essc::Verifier;
use crate::qr::service::QrService;
use crate::services::Services;
use crate::settle::kiosk::Kiosk;
use crate::settle::{Engine, EngineParts};
use crate::status::StatusBoard;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::work::WorkTracker;

/// The API's own settings from `[api]` (the API sits above the engine, which still reads the
/// config, so this conversion lives here rather than in `config`).
pub(super) fn api_options(api: &ApiConfig) -> ApiOptions {
    ApiOptions {
        limits: Limits {
            max_body_bytes: api.max_body_bytes,
            request_timeout: Duration::from_millis(api.request_timeout_ms),
        },
        max_connections: api.max_connections,
        idempotency_ttl: Duration::from_secs(u64::from(api.idempotency_ttl_hours) * 3600),
        unix_reserved_connections: if api.unix_socket.is_some() {
            api.unix_reserved_connections
        } else {
            0
        },
        cors_origins: api.cors_origins.clone(),
    }
}

/// Builds every service over the open `store`. Fails on a blacklist, e-SSC key or
/// `[upstream]` setting that cannot be used.
pub(super) fn build(
    config: &Config,
    env: &Environment,
    store: Store,
    status: Arc<StatusBoard>,
) -> Result<Services, DaemonError> {
    let events = env.events.clone();
    let card = match &env.readers {
        Some(readers) => Some(Arc::new(CardService::from_config(
            config,
            Arc::clone(readers),
            events.clone(),
        )?)),
        None => None,
    };
    let credentials = Arc::new(Credentials::with_events(events.clone()));
    // The QR service always exists: codes may be submitted by hand (`POST /v1/qr/submit`)
    // even without a camera or scan box.
    for (kid, hex) in &config.qr.essc_keys {
        if let Some(k) = crate::config::validate::test_keys::known(hex) {
            // Only a demo build gets here (validation refuses test keys otherwise): say it at
            // every start, so a demo config copied onto a counter is noticed.
            tracing::warn!(
                kid = %kid,
                "qr.allow_test_keys: trusting {} — anyone can mint e-SSC codes it verifies; never on a counter",
                k.name
            );
        }
    }
    let verifier = Verifier::new(config.qr.key_ring()?).with_skew(config.qr.essc_skew_secs);
    let qr = Arc::new(
        QrService::new(
            verifier,
            Arc::new(store.clone()),
            events.clone(),
            Duration::from_millis(config.qr.debounce_ms),
        )
        .with_credentials(Arc::clone(&credentials)),
    );
    let upstream = match &config.upstream {
        Some(_) => Some(Arc::new(crate::daemon::upstream::build(
            config,
            store.clone(),
            env.credentials_dir.as_deref(),
            None,
        )?)),
        None => None,
    };
    let work = WorkTracker::default();
    let sales = Arc::new(
        Engine::new(EngineParts {
            store: store.clone(),
            platform: upstream
                .clone()
                .map(|c| c as Arc<dyn crate::upstream::platform::Platform>),
            card: card.clone(),
            events: events.clone(),
            config: config.engine_settle(),
            terminal: config.terminal.clone(),
            credentials: Arc::clone(&credentials),
            clock: None,
            status: Some(Arc::clone(&status)),
        })
        .with_work(work.clone()),
    );
    let kiosk = (config.terminal.mode == TerminalMode::Kiosk).then(|| {
        Arc::new(Kiosk::new(
            Arc::clone(&sales),
            card.clone(),
            events.clone(),
            Duration::from_millis(config.settle.kiosk_step_timeout_ms),
        ))
    });
    let fleet = config.fleet.as_ref().map(|f| {
        Arc::new(crate::fleet::FleetRunner::new(
            f.options(&config.terminal),
            env.credentials_dir.clone(),
            Arc::clone(&sales),
            Arc::clone(&status),
        ))
    });
    Ok(Services {
        terminal: config.terminal.clone(),
        store,
        status,
        metrics: Arc::new(Metrics::default()),
        work,
        events,
        card,
        qr,
        qr_sources: env.scans.is_some(),
        upstream,
        credentials,
        sales,
        kiosk,
        fleet,
    })
}
