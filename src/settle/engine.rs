//! The engine: the thin facade the API, the kiosk and the daemon call. The work is done by
//! small types, one per job, each in its own file: the cashier's operations
//! ([`cashier`](super::cashier): create, presettle, confirm, cancel, requeue), the sale book ([`book`](super::book):
//! load, lock, transition), the settler ([`settler`](super::settler): 1101/2101, 2102, 2103,
//! 2601), crash recovery ([`recovery`](super::recovery)), the forwarder
//! ([`forwarder`](super::forwarder)) and the reconciler ([`reconcile`](super::reconcile)).
//!
//! The facade owns no state of its own; it never builds a platform request (the settler does)
//! nor writes the store directly (the book does).

use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::book::SaleBook;
use super::cashier::{Cashier, CashierParts};
use super::clinic::Clinic;
use super::doubt::Doubts;
use super::error::SaleError;
use super::forwarder::{Forwarder, Pass};
use super::options::SettleConfig;
use super::reconcile::{Reconciler, Report, Totals};
use super::recovery::Recovery;
use super::resolve::{Resolution, Resolver};
use super::sale::Sale;
use super::settler::Settler;
use crate::card::service::CardService;
use crate::credential::Credentials;
use crate::events::EventBus;
use crate::store::Store;
use crate::terminal::TerminalConfig;
use crate::upstream::client::Clock;
use crate::upstream::platform::Platform;
use crate::work::WorkTracker;

pub use super::intake::{Confirmation, NewItem, NewSale};

/// The engine. One per daemon; cheap to share.
pub struct Engine {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    recovery: Recovery,
    forwarder: Arc<Forwarder>,
    reconciler: Arc<Reconciler>,
    cashier: Arc<Cashier>,
    clinic: Arc<Clinic>,
    resolver: Resolver,
    doubts: Arc<Doubts>,
    terminal: TerminalConfig,
    credentials: Arc<Credentials>,
    /// Counts running money operations so a shutdown waits for them.
    work: Option<WorkTracker>,
}

/// The parts an engine is built from.
pub struct EngineParts {
    pub store: Store,
    /// The insurance platform (the HTTP client, or a scripted fake in tests).
    pub platform: Option<Arc<dyn Platform>>,
    pub card: Option<Arc<CardService>>,
    pub events: EventBus,
    pub config: SettleConfig,
    pub terminal: TerminalConfig,
    pub credentials: Arc<Credentials>,
    pub clock: Option<Clock>,
    /// Where stored sales that need an operator are shown as an alarm.
    pub status: Option<Arc<crate::status::StatusBoard>>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Engine {
        let clock = parts.clock.unwrap_or_else(|| Arc::new(Utc::now));
        let book = Arc::new(SaleBook::new(parts.store, parts.events, clock));
        let doubts = Arc::new(Doubts::new(
            Arc::clone(&book),
            parts.status.clone(),
            parts.config.in_doubt_alarm_minutes,
        ));
        let settler = Arc::new(Settler::new(
            Arc::clone(&book),
            parts.platform,
            parts.config.clone(),
            parts.terminal.clone(),
            parts.status.clone(),
            Arc::clone(&doubts),
        ));
        let forwarder = Arc::new(Forwarder::new(
            Arc::clone(&book),
            Arc::clone(&settler),
            parts.config.clone(),
            parts.status,
        ));
        let cashier = Arc::new(Cashier::new(CashierParts {
            book: Arc::clone(&book),
            settler: Arc::clone(&settler),
            forwarder: Arc::clone(&forwarder),
            card: parts.card,
            config: parts.config.clone(),
            credentials: Arc::clone(&parts.credentials),
        }));
        let clinic = Arc::new(Clinic::new(
            Arc::clone(&book),
            Arc::clone(&settler),
            Arc::clone(&cashier),
            parts.config.clone(),
            Arc::clone(&parts.credentials),
        ));
        forwarder.set_clinic(Arc::clone(&clinic) as Arc<dyn super::forwarder::VisitWork>);
        Engine {
            recovery: Recovery::new(Arc::clone(&book), Arc::clone(&settler)),
            cashier,
            clinic,
            resolver: Resolver::new(
                Arc::clone(&book),
                Arc::clone(&settler),
                Arc::clone(&forwarder),
            ),
            doubts,
            forwarder,
            reconciler: Arc::new(Reconciler::new(
                Arc::clone(&book),
                Arc::clone(&settler),
                parts.config.clone(),
                parts.terminal.clone(),
            )),
            book,
            settler,
            terminal: parts.terminal,
            credentials: parts.credentials,
            work: None,
        }
    }

    /// Money operations count as work in flight on `work` (a shutdown drains them).
    pub fn with_work(mut self, work: WorkTracker) -> Engine {
        self.work = Some(work);
        self
    }

    /// Runs a money operation in its own task: it owns the sale's lock from its first
    /// transition to its last and runs to the end even when the caller's future is dropped (a
    /// client that disconnects, a timeout). The caller awaits its outcome.
    async fn to_the_end<T: Send + 'static>(
        &self,
        id: &str,
        op: impl std::future::Future<Output = Result<T, SaleError>> + Send + 'static,
    ) -> Result<T, SaleError> {
        let guard = self.work.as_ref().map(WorkTracker::start);
        let task = tokio::spawn(async move {
            let _guard = guard;
            op.await
        });
        match task.await {
            Ok(outcome) => outcome,
            Err(e) => {
                // A panic: the sale's lock is released; a sale left in flight is stranded and
                // the forwarder recovers it from the audit table.
                tracing::error!(sale = %id, error = %e, "a money operation ended abnormally");
                self.forwarder.wake();
                Err(SaleError::InProgress(id.to_owned()))
            }
        }
    }

    /// The reconciler, for the daily schedule ([`reconcile::schedule`](super::reconcile::schedule)).
    pub fn reconciler(&self) -> Arc<Reconciler> {
        Arc::clone(&self.reconciler)
    }

    /// The credentials cache the card and QR APIs fill.
    pub fn credentials(&self) -> Arc<Credentials> {
        Arc::clone(&self.credentials)
    }

    /// The designated institution's name (receipts).
    pub fn terminal_name(&self) -> &str {
        &self.terminal.fixmedins_name
    }

    /// The terminal has a platform to forward to.
    pub fn has_platform(&self) -> bool {
        self.settler.platform_if_any().is_some()
    }

    /// An operator's flush: the forwarder tries every waiting sale now, backoff or not.
    pub fn flush(&self) {
        self.forwarder.flush();
    }

    /// Asks the forwarder to look at the queue now.
    pub fn wake_forwarder(&self) {
        self.forwarder.wake();
    }

    /// A sale, as stored.
    pub async fn get(&self, id: &str) -> Result<Sale, SaleError> {
        self.book.get(id).await
    }

    /// Crash recovery, once at start: every `settling`/`cancelling` sale is resolved (while
    /// running, the forwarder recovers any whose operation was cut off), and the
    /// `sale.answer_mismatch` alarm is rebuilt from the sales settled with mismatches no
    /// operator acknowledged.
    pub async fn recover(&self) -> Result<u32, SaleError> {
        let n = self.recovery.run().await?;
        self.settler.rebuild_mismatch_alarm().await?;
        Ok(n)
    }

    /// An operator's acknowledgement of a sale's settlement-answer mismatches
    /// (`POST /v1/queue/{id}/ack`).
    pub async fn acknowledge_mismatch(
        &self,
        id: &str,
        ack: super::resolve::MismatchAck,
    ) -> Result<Sale, SaleError> {
        self.resolver.acknowledge(id, ack).await
    }

    /// Runs the forwarder until `stop`, and keeps the `sale.in_doubt` alarm up to date.
    pub async fn run_forwarder(self: Arc<Self>, stop: CancellationToken) {
        let forwarder = Arc::clone(&self.forwarder);
        tokio::join!(forwarder.run(stop.clone()), self.doubts.run(stop));
    }

    /// Raises the `sale.in_doubt` alarm while a sale is held or has been in doubt too long,
    /// clears it otherwise.
    pub async fn show_doubts(&self) {
        self.doubts.show().await;
    }

    /// An operator's resolution of a sale in doubt (`POST /v1/queue/{id}/resolve`).
    pub async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Sale, SaleError> {
        self.resolver.resolve(id, resolution).await
    }

    /// One forwarder pass over the due sales, oldest first.
    pub async fn forward_pass(&self) -> Result<Pass, SaleError> {
        self.forwarder.pass().await
    }

    /// Raises the queue alarm while stored sales are rejected or expired, clears it otherwise.
    pub async fn show_attention(&self) {
        self.forwarder.show_attention().await;
    }

    /// The terminal's totals of `day`'s settled sales, per insurance type.
    pub async fn day_totals(&self, day: chrono::NaiveDate) -> Result<Vec<Totals>, SaleError> {
        self.reconciler.day_totals(day).await
    }

    /// 3201 for `day`, one statement per insurance type.
    pub async fn reconcile(&self, day: chrono::NaiveDate) -> Result<Report, SaleError> {
        self.reconciler
            .reconcile(day, self.reconciler.default_scope())
            .await
    }

    /// 3201 (and 3202 as configured, or for every group with `detail`) for `day` over `facts`
    /// rather than this terminal's own: the fleet's institution-wide run.
    pub async fn reconcile_facts(
        &self,
        facts: &[super::facts::Fact],
        day: chrono::NaiveDate,
        detail: bool,
    ) -> Result<Report, SaleError> {
        let scope = if detail {
            super::reconcile::DetailScope::All
        } else {
            self.reconciler.default_scope()
        };
        self.reconciler.reconcile_facts(facts, day, scope).await
    }

    /// The platform's clock as the engine reads it (a fake one in tests).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.book.now()
    }

    /// [`Engine::reconcile`] with a 3202 detail reconciliation of every group of the day,
    /// balanced or not (`medsettle reconcile --detail`).
    pub async fn reconcile_detailed(&self, day: chrono::NaiveDate) -> Result<Report, SaleError> {
        self.reconciler
            .reconcile(day, super::reconcile::DetailScope::All)
            .await
    }

    /// `POST /v1/sales`: records a sale made with a credential this terminal just read.
    pub async fn create(&self, new: NewSale) -> Result<Sale, SaleError> {
        self.cashier.create(new, None).await
    }

    /// [`Engine::create`] for an API request with an `Idempotency-Key`: the key's entry is
    /// committed in the sale's own transaction, so a crash before the answer cannot make the
    /// retry create a second sale.
    pub async fn create_keyed(
        &self,
        new: NewSale,
        idempotency: Option<crate::store::IdempotencyClaim>,
    ) -> Result<Sale, SaleError> {
        self.cashier.create(new, idempotency).await
    }

    /// `POST /v1/sales/{id}/presettle`: 1101 then 2101; the patient's share becomes known.
    pub async fn presettle(&self, id: &str) -> Result<Sale, SaleError> {
        self.cashier.presettle(id, None).await
    }

    /// [`Engine::presettle`] with the cashier's `insutype` choice among the 1101 rows (`None`:
    /// the configured preference). A choice 1101 did not offer is refused
    /// (`sale.insutype_not_offered`) and changes nothing stored.
    pub async fn presettle_as(&self, id: &str, insutype: Option<&str>) -> Result<Sale, SaleError> {
        self.cashier.presettle(id, insutype).await
    }

    /// `POST /v1/sales/{id}/trace`: codes scanned box by box added to a line of an open sale
    /// (`trace.*` refusals change nothing).
    pub async fn attach_trace(
        &self,
        id: &str,
        add: super::trace::TraceAttach,
    ) -> Result<Sale, SaleError> {
        self.cashier.attach_trace(id, add).await
    }

    /// `POST /v1/sales/{id}/confirm`: the patient consents; the sale settles now, or a card
    /// sale that cannot reach the platform is stored.
    /// Runs to the end in its own task whatever happens to the caller; a retry waits for a
    /// running confirmation and answers its outcome.
    pub async fn confirm(&self, id: &str, c: Confirmation) -> Result<Sale, SaleError> {
        let cashier = Arc::clone(&self.cashier);
        let owned = id.to_owned();
        self.to_the_end(id, async move { cashier.confirm(&owned, c).await })
            .await
    }

    /// `POST /v1/sales/{id}/cancel`: abandoned before settlement, 2103 after.
    /// Runs to the end in its own task whatever happens to the caller, like `confirm`.
    pub async fn cancel(&self, id: &str) -> Result<Sale, SaleError> {
        let cashier = Arc::clone(&self.cashier);
        let owned = id.to_owned();
        self.to_the_end(id, async move { cashier.cancel(&owned).await })
            .await
    }

    /// An operator puts a rejected or expired stored sale back in the queue.
    pub async fn requeue(&self, id: &str) -> Result<Sale, SaleError> {
        self.cashier.requeue(id).await
    }

    /// `POST /v1/visits`: records an outpatient visit (its `Idempotency-Key` with it), then
    /// registers it (1101, 2201, 2203/2203A) and uploads its fee lines if it has some. A
    /// failure after recording is [`SaleError::At`] (the visit, where it stopped, why).
    pub async fn create_visit(
        &self,
        new: super::visit_intake::NewVisit,
        idempotency: Option<crate::store::IdempotencyClaim>,
    ) -> Result<Sale, SaleError> {
        self.clinic.create(new, idempotency).await
    }

    /// `POST /v1/visits/{id}/register`: registration (again) with the cashier's insurance
    /// choice among the 1101 rows.
    pub async fn register_visit(
        &self,
        id: &str,
        insutype: Option<&str>,
    ) -> Result<Sale, SaleError> {
        self.clinic.register(id, insutype).await
    }

    /// `PUT /v1/visits/{id}/details`: uploads (2204) or replaces (2205 + 2204) the fee lines.
    pub async fn visit_details(
        &self,
        id: &str,
        details: Option<super::visit_intake::NewDetails>,
    ) -> Result<Sale, SaleError> {
        self.clinic.details(id, details).await
    }

    /// `POST /v1/visits/{id}/presettle`: 2206, the split the patient sees.
    pub async fn presettle_visit(&self, id: &str) -> Result<Sale, SaleError> {
        self.clinic.presettle(id).await
    }

    /// `POST /v1/visits/{id}/confirm`: the patient consents; 2207. Runs to the end in its
    /// own task whatever happens to the caller, like [`Engine::confirm`].
    pub async fn confirm_visit(&self, id: &str, c: Confirmation) -> Result<Sale, SaleError> {
        let clinic = Arc::clone(&self.clinic);
        let owned = id.to_owned();
        self.to_the_end(id, async move { clinic.confirm(&owned, c).await })
            .await
    }

    /// `POST /v1/visits/{id}/cancel`: abandons the visit and undoes what the platform holds
    /// (2205, 2202); what cannot be undone now the forwarder finishes (`undoing`).
    pub async fn cancel_visit(&self, id: &str) -> Result<Sale, SaleError> {
        let clinic = Arc::clone(&self.clinic);
        let owned = id.to_owned();
        let r = self
            .to_the_end(id, async move { clinic.cancel(&owned).await })
            .await;
        self.forwarder.wake();
        r
    }

    /// `POST /v1/visits/{id}/refund`: 2208, then the visit's lines and registration are
    /// undone (`closing` → `cancelled`).
    pub async fn refund_visit(&self, id: &str) -> Result<Sale, SaleError> {
        let clinic = Arc::clone(&self.clinic);
        let owned = id.to_owned();
        let r = self
            .to_the_end(id, async move { clinic.refund(&owned).await })
            .await;
        self.forwarder.wake();
        r
    }

    /// A credential presented for visit `id` (a kiosk paying a visit the HIS created): it
    /// must identify the visit's person; the visit then settles with it.
    pub async fn present_for_visit(
        &self,
        id: &str,
        credential_id: &str,
    ) -> Result<Sale, SaleError> {
        self.clinic.present(id, credential_id).await
    }
}
