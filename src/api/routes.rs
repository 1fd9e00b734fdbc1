//! The API's one route table: each route's method, path, access rule and handler, in one
//! row. The router (`mod.rs`) registers exactly these rows, and the OpenAPI test reads the
//! same table, so a route cannot be served without being listed or listed without a handler.
//!
//! Rows only: no middleware and no handler code here.

use std::sync::Arc;

use axum::routing::MethodRouter;

use super::{AppState, card, credentials, events, kiosk, qr, queue, sales, system, ui, visits};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect (only `/healthz`).
    Public,
    /// Callers presenting the bearer token.
    Token,
    /// Callers presenting the bearer token or the read-only metrics token
    /// (`api.metrics_token`), which opens nothing else (only `GET /metrics`).
    Metrics,
    /// The status page and its login: served to anyone who can connect, not part of the JSON
    /// API; the handler checks the session cookie itself (module `ui`).
    Page,
}

/// One route: what the router registers and the OpenAPI test checks.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, uppercase.
    pub method: &'static str,
    /// Path template in OpenAPI style (`/v1/sales/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The handler, under the route's method.
    pub handler: fn() -> MethodRouter<Arc<AppState>>,
}

/// One row: `route!(GET "/path", Token, module::handler)`; GET, POST and PUT (a visit's fee
/// lines are replaced as a whole: `PUT /v1/visits/{id}/details`).
macro_rules! route {
    (GET $path:literal, $access:ident, $handler:path) => {
        route!(@ "GET", get, $path, $access, $handler)
    };
    (POST $path:literal, $access:ident, $handler:path) => {
        route!(@ "POST", post, $path, $access, $handler)
    };
    (PUT $path:literal, $access:ident, $handler:path) => {
        route!(@ "PUT", put, $path, $access, $handler)
    };
    (@ $method:literal, $via:ident, $path:literal, $access:ident, $handler:path) => {
        Route {
            method: $method,
            path: $path,
            access: Access::$access,
            handler: || axum::routing::$via($handler),
        }
    };
}

/// Whether `METHOD path` (a route template) takes the metrics token.
pub(super) fn takes_metrics_token(method: &str, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.access == Access::Metrics && r.method == method && r.path == path)
}

/// Every route the API serves.
pub const ROUTES: &[Route] = &[
    route!(GET "/healthz", Public, system::healthz),
    route!(GET "/v1/version", Token, system::version),
    route!(GET "/v1/status", Token, system::status),
    route!(GET "/metrics", Metrics, system::metrics),
    route!(GET "/v1/openapi.json", Token, system::openapi),
    route!(GET "/v1/events", Token, events::events),
    route!(GET "/v1/readers", Token, card::readers),
    route!(POST "/v1/card/read", Token, card::read),
    route!(POST "/v1/card/verify-pin", Token, card::verify_pin),
    route!(POST "/v1/qr/scan", Token, qr::scan),
    route!(POST "/v1/qr/submit", Token, qr::submit),
    route!(POST "/v1/credentials/wait", Token, credentials::wait),
    route!(POST "/v1/kiosk/sessions", Token, kiosk::start),
    route!(GET "/v1/kiosk/sessions/{id}", Token, kiosk::view),
    route!(POST "/v1/kiosk/sessions/{id}/consent", Token, kiosk::consent),
    route!(POST "/v1/kiosk/sessions/{id}/cancel", Token, kiosk::cancel),
    route!(POST "/v1/sales", Token, sales::create),
    route!(GET "/v1/sales/{id}", Token, sales::get),
    route!(POST "/v1/sales/{id}/presettle", Token, sales::presettle),
    route!(POST "/v1/sales/{id}/trace", Token, sales::attach_trace),
    route!(POST "/v1/sales/{id}/confirm", Token, sales::confirm),
    route!(POST "/v1/sales/{id}/cancel", Token, sales::cancel),
    route!(POST "/v1/visits", Token, visits::create),
    route!(GET "/v1/visits", Token, visits::list),
    route!(GET "/v1/visits/{id}", Token, visits::get),
    route!(POST "/v1/visits/{id}/register", Token, visits::register),
    route!(PUT "/v1/visits/{id}/details", Token, visits::details),
    route!(POST "/v1/visits/{id}/presettle", Token, visits::presettle),
    route!(POST "/v1/visits/{id}/confirm", Token, visits::confirm),
    route!(POST "/v1/visits/{id}/cancel", Token, visits::cancel),
    route!(POST "/v1/visits/{id}/refund", Token, visits::refund),
    route!(GET "/v1/queue", Token, queue::list),
    route!(GET "/v1/sales", Token, queue::list_sales),
    route!(POST "/v1/queue/{id}/retry", Token, queue::retry),
    route!(POST "/v1/queue/{id}/resolve", Token, queue::resolve),
    route!(POST "/v1/queue/{id}/ack", Token, queue::ack),
    route!(POST "/v1/queue/flush", Token, queue::flush),
    route!(POST "/v1/reconcile", Token, queue::reconcile),
    route!(GET "/v1/store/backup", Token, system::store_backup),
    route!(POST "/v1/fleet/reconcile", Token, queue::fleet_reconcile),
    route!(POST "/v1/ui/links", Token, ui::create_link),
    route!(GET "/", Page, ui::index),
    route!(GET "/ui/app.js", Page, ui::app_js),
    route!(GET "/ui/app.css", Page, ui::app_css),
    route!(POST "/ui/login", Page, ui::login),
    route!(POST "/ui/logout", Page, ui::logout),
    route!(GET "/ui/enter", Page, ui::enter),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_is_one_method_and_path_with_a_handler() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            assert!(matches!(r.method, "GET" | "POST" | "PUT"), "{r:?}");
            assert!(r.path.starts_with('/'), "{r:?}");
            assert!(seen.insert((r.method, r.path)), "listed twice: {r:?}");
            let _ = (r.handler)();
        }
        let public: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Public)
            .collect();
        assert_eq!(public.len(), 1, "only /healthz is public");
        assert_eq!(public[0].path, "/healthz");
        // The metrics token is read-only: it may open no route that changes anything.
        for r in ROUTES.iter().filter(|r| r.access == Access::Metrics) {
            assert_eq!(r.method, "GET", "{r:?}");
        }
    }
}
