//! `medsettle-sandbox`: a sandbox insurer speaking the national medical-insurance platform
//! protocol (upstream.md) on loopback, for tests, the demo and benchmarks.
//!
//! [`start`] loads the persons (`fixtures/persons/*.json`), binds, and serves the protocol
//! endpoint (9001/9002, 1101, 2101–2103, the outpatient 2201–2208 with 2203A, 2601, 3201,
//! 5201, 5203; 3202 with its files 9101/9102, also on the file paths), the e-voucher
//! `ec.query` endpoint and loopback `/admin/*` endpoints, until [`Sandbox::shutdown`]. State
//! is in memory; [`Sandbox::ledger`] snapshots it. [`FaultRule`]s make it slow, silent or
//! wrong on purpose. A request whose `sign_no` is unknown, signed out or from another CST day
//! is refused with an `err_msg` starting with [`SIGN_IN_INVALID`] (`签到信息无效`): the
//! client's cue to sign in again. This crate is a test double: it must never be reachable
//! from outside the machine, and production code must not depend on it.

#![forbid(unsafe_code)]

mod admin;
pub mod config;
mod envelope;
pub mod error;
mod evoucher;
pub mod fault;
mod http;
pub mod ledger;
pub mod persons;
mod protocol;
mod server;
pub mod shapes;
pub mod split;
mod state;
mod tx;
mod visits;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use medsettle_essc::Issuer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{DEFAULT_EC_PATH, DEFAULT_PATH, SandboxConfig, default_persons_dir};
pub use error::SandboxError;
pub use evoucher::INVALID as EVOUCHER_INVALID;
pub use fault::{Fault, FaultRule};
pub use ledger::{
    AccountSnapshot, FeeLineRecord, Ledger, SettlementRecord, SettlementStatus, VisitRecord,
    VisitSettlement, VisitStatus,
};
pub use persons::Person;
pub use protocol::SIGN_IN_INVALID;
pub use shapes::AnswerShapes;
pub use state::TraceEvent;
pub use tx::detail::{Injected, UploadRecord};

use state::State;

/// What the server tasks share.
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) issuer: Issuer,
    pub(crate) holds: fault::Holds,
    /// 9101 uploads and 3202 results (`tx/detail.rs`); locked after `state`, never before.
    pub(crate) files: Mutex<tx::detail::Files>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mint_essc(&self, certno: &str) -> Result<String, SandboxError> {
        let state = self.lock();
        let p = state
            .person_by_certno(certno)
            .ok_or_else(|| SandboxError::UnknownPerson(certno.to_owned()))?;
        let card = p.card.as_ref().map_or("", |c| c.card_number.as_str());
        let lifetime = i64::try_from(self.config.essc_ttl_secs.min(300)).unwrap_or(300);
        let claims = self.issuer.claims(
            &p.certno,
            &p.psn_name,
            card,
            p.region(),
            state.now().timestamp(),
            lifetime,
        );
        Ok(self.issuer.mint(&claims))
    }

    fn issue_evoucher(&self, certno: &str) -> Result<String, SandboxError> {
        let mut state = self.lock();
        let psn_no = state
            .person_by_certno(certno)
            .map(|p| p.psn_no.clone())
            .ok_or_else(|| SandboxError::UnknownPerson(certno.to_owned()))?;
        Ok(evoucher::issue(&mut state, &self.config, &psn_no))
    }
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Loads the persons, binds `config.listen` and starts serving.
pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
    let persons = persons::load_dir(&config.persons_dir)?;
    let issuer = match &config.essc_issuer_secret_hex {
        Some(secret) => Issuer::from_secret_hex(&config.essc_kid, secret)
            .map_err(|e| SandboxError::IssuerKey(e.to_string()))?,
        None => Issuer::generate(&config.essc_kid),
    };
    if let Some(public) = &config.sm2_public_hex {
        let ok = hex::decode(public).is_ok_and(|b| b.len() == 65 && b[0] == 4);
        if !ok {
            return Err(SandboxError::Sm2Key(
                "expected uncompressed SEC1 hex (04‖x‖y, 130 hex digits)".to_owned(),
            ));
        }
    }
    let mut faults = fault::FaultSet::default();
    for rule in &config.faults {
        faults.add(rule.clone());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: config.listen,
        source,
    })?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(persons, faults, config.shapes.clone())),
        config,
        issuer,
        holds: fault::Holds::default(),
        files: Mutex::default(),
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
    Ok(Sandbox {
        addr,
        shared,
        stop,
        task: Some(task),
    })
}

impl Sandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the client's `base_url` (the protocol path is appended).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full protocol endpoint URL.
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url(), self.shared.config.path)
    }

    /// The full e-voucher (`ec.query`) endpoint URL.
    pub fn ec_url(&self) -> String {
        format!("{}{}", self.base_url(), self.shared.config.ec_path)
    }

    /// The e-SSC issuer public key (uncompressed SEC1 hex) a terminal configures for
    /// [`Sandbox::essc_kid`].
    pub fn essc_public_key_hex(&self) -> String {
        self.shared.issuer.public_key_hex()
    }

    pub fn essc_kid(&self) -> String {
        self.shared.issuer.kid().to_owned()
    }

    /// A signed e-SSC code (qr.md profile) for the person with `certno`, issued now.
    pub fn mint_essc(&self, certno: &str) -> Result<String, SandboxError> {
        self.shared.mint_essc(certno)
    }

    /// An e-voucher QR code (`ecQrCode`) for the person with `certno`.
    pub fn issue_evoucher(&self, certno: &str) -> Result<String, SandboxError> {
        self.shared.issue_evoucher(certno)
    }

    /// The persons the sandbox insures.
    pub fn persons(&self) -> Vec<Person> {
        self.shared.lock().persons.clone()
    }

    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().faults.add(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// How many answers a [`fault::Fault::Hold`] is holding now.
    pub fn held(&self) -> usize {
        self.shared.holds.held()
    }

    /// Releases every held answer; returns how many there were.
    pub fn release(&self) -> usize {
        self.shared.holds.release()
    }

    /// Sets the shapes of the answers from now on.
    pub fn set_shapes(&self, shapes: shapes::AnswerShapes) {
        self.shared.lock().shapes = shapes;
    }

    /// A snapshot of the books.
    pub fn ledger(&self) -> Ledger {
        self.shared.lock().ledger()
    }

    /// Every trace code reported (3505 sold, 3506 returned), in arrival order.
    pub fn trace_events(&self) -> Vec<TraceEvent> {
        self.shared.lock().trace.clone()
    }

    /// Codes reported sold twice with no return between (not split): the platform's 回流药 view.
    pub fn trace_sold_twice(&self) -> Vec<String> {
        tx::trace::sold_twice(&self.shared.lock().trace)
    }

    /// Every outpatient visit (2201), open or cancelled, with its fee lines and settlements.
    pub fn visits(&self) -> Vec<VisitRecord> {
        self.shared.lock().visit_records()
    }

    /// What the platform still holds of the visits: those open, and those with fee lines
    /// still uploaded (a client that abandoned a visit must leave none behind).
    pub fn visits_holding(&self) -> Vec<VisitRecord> {
        self.visits()
            .into_iter()
            .filter(VisitRecord::holds)
            .collect()
    }

    /// Moves the sandbox's expiry clock (e-voucher codes and tokens, e-SSC `iat`) forward.
    /// Business dates come from each request's `inf_time` and are not affected.
    pub fn advance_clock(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut state = self.shared.lock();
        state.clock_offset += by;
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Dropping a sandbox stops it too (without waiting).
impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
