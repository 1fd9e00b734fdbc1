//! The local API for cashier software, kiosk UIs and operators: HTTP/JSON on loopback TCP and
//! optionally a Unix socket.
//!
//! [`router`] registers exactly the rows of one table ([`ROUTES`], `routes.rs`: method, path,
//! access rule and handler), so the OpenAPI document can be checked against the real routes.
//! [`AppState`] is the daemon's [`Services`] plus the state only HTTP needs. Every API route but `/healthz`
//! requires the bearer token; the status page's routes ([`Access::Page`], module `ui`) check
//! its session cookie themselves, and that cookie also opens the few read-only `GET` routes the
//! page calls. On the Unix socket, root, the service user and members of its group need no
//! token (peer credentials, `peer.rs`). Handlers call into the core; they never open the database or a
//! device themselves.

pub mod bodies;
mod card;
pub mod connections;
mod credentials;
mod error;
mod events;
pub mod idempotency;
mod kiosk;
mod middleware;
pub mod peer;
mod qr;
mod queue;
mod routes;
mod sales;
pub mod serve;
mod system;
mod trace;
mod ui;
mod visits;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;

pub use error::ApiError;
pub use middleware::Limits;
pub use routes::{Access, ROUTES, Route};
pub use system::OPENAPI;

use crate::secret::Secret;
use crate::services::Services;

/// Everything handlers share: the daemon's [`Services`] (reached through `Deref`, so a
/// handler writes `state.store`) and the state only HTTP needs.
pub struct AppState {
    services: Services,
    token: RwLock<Secret>,
    /// `api.metrics_token`: opens `GET /metrics` only.
    metrics_token: RwLock<Option<Secret>>,
    /// Requests under an `Idempotency-Key` being answered, by key.
    pub idempotency: idempotency::Keys,
    /// How long an `Idempotency-Key` is kept.
    pub idempotency_ttl: std::time::Duration,
    /// Request limits.
    pub limits: Limits,
    /// Browser origins allowed by CORS (`api.cors_origins`); empty = CORS off.
    pub cors_origins: Vec<String>,
    /// Status page sessions and one-time links (memory only).
    pub sessions: ui::session::Sessions,
    /// When the daemon started.
    pub started: Instant,
    /// Open connections against `api.max_connections`.
    pub connections: connections::ConnectionLimit,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// The API's own settings (from `[api]`, converted by the daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOptions {
    /// Request limits.
    pub limits: Limits,
    /// Open connections at most, TCP and Unix socket together.
    pub max_connections: usize,
    /// Of those, the ones only the Unix socket may use.
    pub unix_reserved_connections: usize,
    /// Browser origins allowed by CORS; empty = CORS off.
    pub cors_origins: Vec<String>,
    /// How long an `Idempotency-Key` is kept (`api.idempotency_ttl_hours`).
    pub idempotency_ttl: std::time::Duration,
}

impl AppState {
    /// The HTTP state around `services`.
    pub fn new(options: ApiOptions, token: Secret, services: Services) -> AppState {
        AppState {
            services,
            token: RwLock::new(token),
            metrics_token: RwLock::new(None),
            idempotency: idempotency::Keys::default(),
            idempotency_ttl: options.idempotency_ttl,
            cors_origins: options.cors_origins,
            limits: options.limits,
            sessions: ui::session::Sessions::default(),
            started: Instant::now(),
            connections: connections::ConnectionLimit::new(
                options.max_connections,
                options.unix_reserved_connections,
            ),
        }
    }

    /// Swaps the API token (SIGHUP after rotation).
    pub fn replace_token(&self, token: Secret) {
        if let Ok(mut t) = self.token.write() {
            *t = token;
        }
    }

    /// Sets or swaps the read-only metrics token (start-up, SIGHUP); `None` removes it.
    pub fn replace_metrics_token(&self, token: Option<Secret>) {
        if let Ok(mut t) = self.metrics_token.write() {
            *t = token;
        }
    }

    /// Whether `presented` is the metrics token (constant time).
    fn is_metrics_token(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let guard = self.metrics_token.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .is_some_and(|t| t.expose().as_bytes().ct_eq(presented.as_bytes()).into())
    }

    fn with_token<R>(&self, f: impl FnOnce(&Secret) -> R) -> R {
        let guard = self.token.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

/// Builds the API router with its middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let mut public = Router::new();
    let mut protected = Router::new();
    for route in ROUTES {
        let mut mr = (route.handler)();
        if idempotency::applies(route.method, route.path) {
            mr = mr.layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                idempotency::layer,
            ));
        }
        if middleware::is_money_route(route.method, route.path) {
            mr = mr.layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                middleware::money_gate,
            ));
        }
        match route.access {
            Access::Public | Access::Page => public = public.route(route.path, mr),
            Access::Token | Access::Metrics => protected = protected.route(route.path, mr),
        }
    }
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        middleware::auth,
    ));
    let cors = cors_layer(&state.cors_origins);
    let router = public
        .merge(protected)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            middleware::limits,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            middleware::track,
        ))
        .with_state(state);
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// CORS for the configured origins only (`api.cors_origins`); `None` (off) when there are none.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(idempotency::HEADER),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([HeaderName::from_static(idempotency::REPLAYED)])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
