//! The local API for cashier software, kiosk UIs and operators: HTTP/JSON on loopback TCP and
//! optionally a Unix socket.
//!
//! [`router`] builds the routes from one table ([`ROUTES`] is what it registered), so the
//! OpenAPI document can be checked against the real routes. Every API route but `/healthz`
//! requires the bearer token; the status page's routes ([`Access::Page`], module `ui`) check
//! its session cookie themselves, and that cookie also opens the few read-only `GET` routes the
//! page calls. Handlers call into the core; they never open the database or a
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
mod queue;
mod sales;
mod system;
mod ui;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::MethodRouter;

pub use error::ApiError;
pub use middleware::Limits;
pub use system::OPENAPI;

use crate::config::{Config, Secret, TerminalConfig};
use crate::events::EventBus;
use crate::status::StatusBoard;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::work::WorkTracker;

/// Everything handlers share.
pub struct AppState {
    token: RwLock<Secret>,
    /// Terminal identity, for status answers.
    pub terminal: TerminalConfig,
    /// The database.
    pub store: Store,
    /// Component health and alarms.
    pub status: Arc<StatusBoard>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// In-flight work, drained on shutdown.
    pub work: WorkTracker,
    /// Events for `/v1/events`.
    pub events: EventBus,
    /// The card service, when the terminal has card readers.
    pub card: Option<Arc<crate::card::service::CardService>>,
    /// The QR service (codes from sources, or submitted by hand).
    pub qr: Option<Arc<crate::qr::service::QrService>>,
    /// The terminal has QR sources (camera, scan box) for `POST /v1/qr/scan` to wait on.
    pub qr_sources: bool,
    /// The platform client, when `[upstream]` is configured.
    pub upstream: Option<Arc<crate::upstream::client::Client>>,
    /// Credentials just read or scanned, by id, for `POST /v1/sales`.
    pub credentials: Arc<crate::settle::credentials::Credentials>,
    /// The settlement engine.
    pub sales: Option<Arc<crate::settle::Engine>>,
    /// The self-service driver, in kiosk mode.
    pub kiosk: Option<Arc<crate::settle::kiosk::Kiosk>>,
    /// Requests under an `Idempotency-Key` being answered, by key.
    pub idempotency: idempotency::Keys,
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

impl AppState {
    /// Builds the shared state.
    pub fn new(
        config: &Config,
        token: Secret,
        store: Store,
        status: Arc<StatusBoard>,
        metrics: Arc<Metrics>,
        work: WorkTracker,
        events: EventBus,
    ) -> AppState {
        AppState {
            token: RwLock::new(token),
            terminal: config.terminal.clone(),
            store,
            status,
            metrics,
            work,
            events: events.clone(),
            card: None,
            qr: None,
            qr_sources: false,
            upstream: None,
            credentials: Arc::new(crate::settle::credentials::Credentials::with_events(
                events.clone(),
            )),
            sales: None,
            kiosk: None,
            idempotency: idempotency::Keys::default(),
            cors_origins: config.api.cors_origins.clone(),
            limits: Limits {
                max_body_bytes: config.api.max_body_bytes,
                request_timeout: Duration::from_millis(config.api.request_timeout_ms),
            },
            sessions: ui::session::Sessions::default(),
            started: Instant::now(),
            connections: connections::ConnectionLimit::new(config.api.max_connections),
        }
    }

    /// Swaps the API token (SIGHUP after rotation).
    pub fn replace_token(&self, token: Secret) {
        if let Ok(mut t) = self.token.write() {
            *t = token;
        }
    }

    fn with_token<R>(&self, f: impl FnOnce(&Secret) -> R) -> R {
        let guard = self.token.read().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect (only `/healthz`).
    Public,
    /// Callers presenting the bearer token.
    Token,
    /// The status page and its login: served to anyone who can connect, not part of the JSON
    /// API; the handler checks the session cookie itself (module `ui`).
    Page,
}

/// One registered route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, uppercase.
    pub method: &'static str,
    /// Path template in OpenAPI style (`/v1/sales/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Every route the API serves; the router is built from this table.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        access: Access::Public,
    },
    Route {
        method: "GET",
        path: "/v1/version",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/status",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/metrics",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/openapi.json",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/events",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/readers",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/card/read",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/card/verify-pin",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/qr/scan",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/qr/submit",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/credentials/wait",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/kiosk/sessions",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/kiosk/sessions/{id}",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/kiosk/sessions/{id}/consent",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/kiosk/sessions/{id}/cancel",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/sales",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/sales/{id}",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/sales/{id}/presettle",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/sales/{id}/confirm",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/sales/{id}/cancel",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/queue",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/v1/sales",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/queue/{id}/retry",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/queue/flush",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/reconcile",
        access: Access::Token,
    },
    Route {
        method: "POST",
        path: "/v1/ui/links",
        access: Access::Token,
    },
    Route {
        method: "GET",
        path: "/",
        access: Access::Page,
    },
    Route {
        method: "GET",
        path: "/ui/app.js",
        access: Access::Page,
    },
    Route {
        method: "GET",
        path: "/ui/app.css",
        access: Access::Page,
    },
    Route {
        method: "POST",
        path: "/ui/login",
        access: Access::Page,
    },
    Route {
        method: "POST",
        path: "/ui/logout",
        access: Access::Page,
    },
    Route {
        method: "GET",
        path: "/ui/enter",
        access: Access::Page,
    },
];

type S = Arc<AppState>;

fn handler_for(route: &Route) -> MethodRouter<S> {
    use axum::routing::{get, post};
    match (route.method, route.path) {
        ("GET", "/healthz") => get(system::healthz),
        ("GET", "/v1/version") => get(system::version),
        ("GET", "/v1/status") => get(system::status),
        ("GET", "/metrics") => get(system::metrics),
        ("GET", "/v1/openapi.json") => get(system::openapi),
        ("GET", "/v1/events") => get(events::events),
        ("GET", "/v1/readers") => get(card::readers),
        ("POST", "/v1/card/read") => post(card::read),
        ("POST", "/v1/card/verify-pin") => post(card::verify_pin),
        ("POST", "/v1/qr/scan") => post(card::qr_scan),
        ("POST", "/v1/qr/submit") => post(card::qr_submit),
        ("POST", "/v1/credentials/wait") => post(credentials::wait),
        ("POST", "/v1/kiosk/sessions") => post(kiosk::start),
        ("GET", "/v1/kiosk/sessions/{id}") => get(kiosk::view),
        ("POST", "/v1/kiosk/sessions/{id}/consent") => post(kiosk::consent),
        ("POST", "/v1/kiosk/sessions/{id}/cancel") => post(kiosk::cancel),
        ("POST", "/v1/sales") => post(sales::create),
        ("GET", "/v1/sales/{id}") => get(sales::get),
        ("POST", "/v1/sales/{id}/presettle") => post(sales::presettle),
        ("POST", "/v1/sales/{id}/confirm") => post(sales::confirm),
        ("POST", "/v1/sales/{id}/cancel") => post(sales::cancel),
        ("GET", "/v1/queue") => get(queue::list),
        ("GET", "/v1/sales") => get(queue::list_sales),
        ("POST", "/v1/queue/{id}/retry") => post(queue::retry),
        ("POST", "/v1/queue/flush") => post(queue::flush),
        ("POST", "/v1/reconcile") => post(queue::reconcile),
        ("POST", "/v1/ui/links") => post(ui::create_link),
        ("GET", "/") => get(ui::index),
        ("GET", "/ui/app.js") => get(ui::app_js),
        ("GET", "/ui/app.css") => get(ui::app_css),
        ("POST", "/ui/login") => post(ui::login),
        ("POST", "/ui/logout") => post(ui::logout),
        ("GET", "/ui/enter") => get(ui::enter),
        _ => unreachable!(
            "route {} {} in ROUTES has no handler",
            route.method, route.path
        ),
    }
}

/// Builds the API router with its middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let mut public = Router::new();
    let mut protected = Router::new();
    for route in ROUTES {
        let mut mr = handler_for(route);
        if idempotency::applies(route.method, route.path) {
            mr = mr.layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                idempotency::layer,
            ));
        }
        match route.access {
            Access::Public | Access::Page => public = public.route(route.path, mr),
            Access::Token => protected = protected.route(route.path, mr),
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
            .allow_methods([Method::GET, Method::POST])
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
