//! The daemon's services, built once at start by `daemon::services::build` and shared,
//! read-only, by the API and the background tasks. Every field is filled when the daemon
//! runs; an `Option` here means the terminal really may lack the thing (no card reader, no
//! `[upstream]`, not a kiosk), never "not wired yet".
//!
//! A plain struct: it builds nothing and starts nothing.

use std::sync::Arc;

use crate::card::service::CardService;
use crate::credential::Credentials;
use crate::events::EventBus;
use crate::qr::service::QrService;
use crate::settle::Engine;
use crate::settle::kiosk::Kiosk;
use crate::status::StatusBoard;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::terminal::TerminalConfig;
use crate::upstream::client::Client;
use crate::work::WorkTracker;

/// Everything the daemon runs on.
pub struct Services {
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
    pub card: Option<Arc<CardService>>,
    /// The QR service: codes from sources, or submitted by hand (`POST /v1/qr/submit`).
    pub qr: Arc<QrService>,
    /// The terminal has QR sources (camera, scan box) for `POST /v1/qr/scan` to wait on.
    pub qr_sources: bool,
    /// The platform client, when `[upstream]` is configured.
    pub upstream: Option<Arc<Client>>,
    /// Credentials just read or scanned, by id, for `POST /v1/sales`.
    pub credentials: Arc<Credentials>,
    /// The settlement engine.
    pub sales: Arc<Engine>,
    /// The self-service driver, in kiosk mode.
    pub kiosk: Option<Arc<Kiosk>>,
    /// The institution-wide reconciliation, when `[fleet]` is configured.
    pub fleet: Option<Arc<crate::fleet::FleetRunner>>,
}
