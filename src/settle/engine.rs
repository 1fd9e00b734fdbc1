//! The settlement engine: the cashier's operations on a sale (create, presettle, confirm,
//! cancel) and the plumbing every flow shares — loading a sale, moving it through the state
//! machine with its history row committed BEFORE the effect, per-sale exclusion, events.
//!
//! The money-moving flows (settle, reverse, cancel, crash recovery) are in `flow.rs`; the
//! background forwarder in `forwarder.rs`; reconciliation in `reconcile.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedMutexGuard};

use super::credentials::{Credentials, Fresh};
use super::error::SaleError;
use super::sale::{Consent, Credential, Failure, Item, Sale};
use super::state::{SaleEvent, SaleState};
use crate::card::Pin;
use crate::card::service::{CardService, ReadRequest};
use crate::config::{SaleMode, SettleConfig, TerminalConfig};
use crate::error::UserFacing;
use crate::events::EventBus;
use crate::store::{OfflineLimits, Store, WriteOp};
use crate::upstream::client::Clock;
use crate::upstream::platform::Platform;
use crate::upstream::{Fen, Price, Qty, UpstreamError};

/// A new sale as the cashier describes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    /// From `POST /v1/card/read` or `POST /v1/qr/scan`.
    pub credential_id: String,
    pub items: Vec<NewItem>,
    /// Default per credential (`[settle] card_mode`, `qr_mode`).
    #[serde(default)]
    pub mode: Option<SaleMode>,
    /// The personal account may pay. Default true.
    #[serde(default)]
    pub use_account: Option<bool>,
}

/// One line as the cashier sends it (quantities and prices as decimal text).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub code: String,
    #[serde(default)]
    pub local_code: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub name: String,
    pub cnt: Qty,
    pub pric: Price,
}

/// An optional text field sent as `null` is the same as one left out.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(<Option<String> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// What `confirm` carries.
#[derive(Default)]
pub struct Confirmation {
    /// The card PIN (card and e-SSC sales, unless the platform is `MOCK`).
    pub pin: Option<Pin>,
    /// For a sale stored offline: what the patient paid now. Default the full amount.
    pub collected: Option<Fen>,
}

/// The engine. One per daemon; cheap to share.
pub struct Engine {
    pub(super) store: Store,
    pub(super) platform: Option<Arc<dyn Platform>>,
    pub(super) card: Option<Arc<CardService>>,
    pub(super) events: EventBus,
    pub(super) config: SettleConfig,
    pub(super) terminal: TerminalConfig,
    pub(super) credentials: Arc<Credentials>,
    pub(super) clock: Clock,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the forwarder (a sale was stored, an operator asked for a flush).
    pub(super) wake: Arc<Notify>,
    pub(super) status: Option<Arc<crate::status::StatusBoard>>,
    /// An operator asked for a flush: the next pass ignores per-sale backoff.
    pub(super) flush_requested: std::sync::atomic::AtomicBool,
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
        Engine {
            store: parts.store,
            platform: parts.platform,
            card: parts.card,
            events: parts.events,
            config: parts.config,
            terminal: parts.terminal,
            credentials: parts.credentials,
            clock: parts.clock.unwrap_or_else(|| Arc::new(Utc::now)),
            status: parts.status,
            locks: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            flush_requested: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
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
        self.platform.is_some()
    }

    /// An operator's flush: the forwarder tries every waiting sale now, backoff or not.
    pub fn flush(&self) {
        self.flush_requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Asks the forwarder to look at the queue now.
    pub fn wake_forwarder(&self) {
        self.wake.notify_one();
    }

    /// Exclusive access to one sale (waits for a running operation).
    pub(super) async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, m| Arc::strong_count(m) > 1 || m.try_lock().is_err());
            Arc::clone(locks.entry(id.to_owned()).or_default())
        };
        m.lock_owned().await
    }

    /// Exclusive access without waiting (the forwarder skips a sale being worked on).
    pub(super) fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(id.to_owned()).or_default())
        };
        m.try_lock_owned().ok()
    }

    /// A sale, as stored.
    pub async fn get(&self, id: &str) -> Result<Sale, SaleError> {
        let row = self
            .store
            .sale(id)
            .await?
            .ok_or_else(|| SaleError::NotFound(id.to_owned()))?;
        serde_json::from_str(&row.doc)
            .map_err(|e| SaleError::BadRequest(format!("stored sale {id} unreadable: {e}")))
    }

    /// Moves `sale` by `event`, persisting the new document and a history row (compare-and-set
    /// on the state it had), then publishes `sale.state`. `edit` changes the document; it runs
    /// on a copy, so a refused transition leaves `sale` as it was.
    pub(super) async fn transition(
        &self,
        sale: &mut Sale,
        event: SaleEvent,
        detail: serde_json::Value,
        store_offline: Option<OfflineLimits>,
        edit: impl FnOnce(&mut Sale),
    ) -> Result<(), SaleError> {
        let from = sale.state;
        let to = from.next(event).map_err(|e| SaleError::WrongState {
            state: e.from,
            action: event_action(event),
        })?;
        let mut next = sale.clone();
        edit(&mut next);
        next.state = to;
        if store_offline.is_some() {
            next.stored = true;
        }
        self.write(
            &next,
            from,
            to,
            event_name(event),
            detail,
            None,
            store_offline,
        )
        .await?;
        tracing::info!(sale = %next.id, from = %from, to = %to, "sale state");
        self.events.publish(
            "sale.state",
            serde_json::json!({ "id": next.id, "from": from, "to": to, "sale": next.view() }),
        );
        *sale = next;
        Ok(())
    }

    /// Records a note on a sale without moving it (a failed attempt, a rescheduling).
    pub(super) async fn note(
        &self,
        sale: &mut Sale,
        event: &str,
        failure: Option<Failure>,
        next_attempt_at_ms: Option<i64>,
    ) -> Result<(), SaleError> {
        let mut next = sale.clone();
        if failure.is_some() {
            next.last_error = failure;
        }
        let detail = serde_json::json!({ "error": next.last_error, "next_attempt_at_ms": next_attempt_at_ms });
        self.write(
            &next,
            sale.state,
            sale.state,
            event,
            detail,
            next_attempt_at_ms,
            None,
        )
        .await?;
        *sale = next;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        sale: &Sale,
        from: SaleState,
        to: SaleState,
        event: &str,
        detail: serde_json::Value,
        next_attempt_at_ms: Option<i64>,
        store_offline: Option<OfflineLimits>,
    ) -> Result<(), SaleError> {
        let doc = serde_json::to_string(sale).expect("a sale serialises");
        self.store
            .write(WriteOp::SaleTransition {
                id: sale.id.clone(),
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                event: event.to_owned(),
                at_ms: self.now().timestamp_millis(),
                doc,
                detail: detail.to_string(),
                next_attempt_at_ms,
                store_offline,
            })
            .await?;
        Ok(())
    }

    /// `POST /v1/sales`: records a sale made with a credential this terminal just read.
    pub async fn create(&self, new: NewSale) -> Result<Sale, SaleError> {
        if new.items.is_empty() {
            return Err(SaleError::BadRequest(
                "a sale needs at least one item".into(),
            ));
        }
        if new.items.len() > 200 {
            return Err(SaleError::BadRequest("at most 200 items per sale".into()));
        }
        let mut items = Vec::with_capacity(new.items.len());
        for (i, it) in new.items.into_iter().enumerate() {
            if it.code.trim().is_empty() || it.code.len() > 50 {
                return Err(SaleError::BadRequest(format!(
                    "item {i}: code must be 1-50 characters"
                )));
            }
            if it.cnt.0 <= 0 {
                return Err(SaleError::BadRequest(format!(
                    "item {i}: cnt must be positive"
                )));
            }
            let amount = crate::upstream::quantity::line_amount(it.cnt, it.pric)
                .ok_or_else(|| SaleError::BadRequest(format!("item {i}: amount overflows")))?;
            items.push(Item {
                local_code: it.local_code.unwrap_or_else(|| it.code.clone()),
                code: it.code,
                name: it.name,
                cnt: it.cnt,
                pric: it.pric,
                amount,
            });
        }
        let amount = Fen::checked_sum(items.iter().map(|i| i.amount))
            .filter(|a| a.0 > 0)
            .ok_or_else(|| SaleError::BadRequest("the sale amount must be positive".into()))?;
        let fresh = self
            .credentials
            .get(&new.credential_id)
            .ok_or_else(|| SaleError::UnknownCredential(new.credential_id.clone()))?;
        let credential = self.resolve(fresh).await?;
        let mode = new.mode.unwrap_or(match credential {
            Credential::Card { .. } => self.config.card_mode,
            _ => self.config.qr_mode,
        });
        if mode == SaleMode::ForceOffline {
            self.check_storable(&credential)?;
        }
        let now = self.now();
        let id = format!(
            "S{}{}",
            now.with_timezone(&crate::upstream::time::cst())
                .format("%y%m%d%H%M%S"),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let sale = Sale {
            chrg_bchno: id.clone(),
            id,
            created_at_ms: now.timestamp_millis(),
            state: SaleState::Captured,
            mode,
            credential,
            items,
            amount,
            use_account: new.use_account.unwrap_or(true),
            collected: None,
            person: None,
            estimate: None,
            consent: None,
            attempt: None,
            reversed_attempts: Vec::new(),
            reversal: None,
            settlement: None,
            tries: 0,
            last_error: None,
            stored: false,
            age_waived: false,
        };
        self.store
            .write(WriteOp::SaleCreate {
                id: sale.id.clone(),
                at_ms: sale.created_at_ms,
                state: SaleState::Captured.as_str().to_owned(),
                amount_fen: sale.amount.0,
                doc: serde_json::to_string(&sale).expect("a sale serialises"),
                detail: serde_json::json!({ "mode": mode, "credential": sale.credential.kind() })
                    .to_string(),
            })
            .await?;
        self.events.publish(
            "sale.state",
            serde_json::json!({ "id": sale.id, "from": null, "to": sale.state, "sale": sale.view() }),
        );
        Ok(sale)
    }

    /// Turns a fresh credential into the sale's credential (an e-voucher is decoded now: its
    /// token is short-lived).
    async fn resolve(&self, fresh: Fresh) -> Result<Credential, SaleError> {
        Ok(match fresh {
            Fresh::Card(r) => {
                let (id_number, name) = r
                    .holder
                    .as_ref()
                    .map(|h| (h.id_number.clone(), h.name.clone()))
                    .unwrap_or_default();
                Credential::Card {
                    card_no: r.card_no.clone(),
                    card_sn: r.card_id.clone(),
                    id_number,
                    name,
                }
            }
            Fresh::Essc(id) => Credential::Essc {
                id_number: id.sn.expose().to_owned(),
                name: id.name.expose().to_owned(),
                region: id.region.clone(),
            },
            Fresh::EVoucher(code) => {
                let platform = self
                    .platform
                    .as_ref()
                    .filter(|p| p.has_ec())
                    .ok_or(SaleError::NoPlatform)?;
                let id = platform
                    .ec_query(&code, crate::qr::evoucher::BusinessType::PharmacyPurchase)
                    .await
                    .map_err(|e| offline_or(e, false))?;
                Credential::EVoucher {
                    ec_token: id.ec_token.0.clone(),
                    insu_org: id.insu_org.clone(),
                    id_number: id.id_no.expose().to_owned(),
                    name: id.user_name.expose().to_owned(),
                }
            }
        })
    }

    pub(super) fn check_storable(&self, c: &Credential) -> Result<(), SaleError> {
        match c {
            Credential::Card { .. } => Ok(()),
            Credential::Essc { .. } if self.config.store_essc_offline => Ok(()),
            other => Err(SaleError::NotStorable { kind: other.kind() }),
        }
    }

    /// `POST /v1/sales/{id}/presettle`: 1101 then 2101; the patient's share becomes known.
    pub async fn presettle(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.lock(id).await;
        let mut sale = self.get(id).await?;
        if sale.mode == SaleMode::ForceOffline {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "presettle a force_offline sale",
            });
        }
        if !matches!(
            sale.state,
            SaleState::Captured | SaleState::Identified | SaleState::Presettled
        ) {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "presettle",
            });
        }
        let can_store =
            sale.mode == SaleMode::PreferOnline && self.check_storable(&sale.credential).is_ok();
        let client = self.platform()?;
        if sale.person.is_none() {
            match self.identify(client.as_ref(), &sale).await {
                Ok(person) => {
                    self.transition(
                        &mut sale,
                        SaleEvent::Identify,
                        serde_json::json!({}),
                        None,
                        |s| {
                            s.person = Some(person);
                        },
                    )
                    .await?
                }
                Err(e) => return Err(self.refuse_or_offline(&mut sale, e, can_store).await),
            }
        }
        match self.estimate(client.as_ref(), &sale).await {
            Ok(split) => {
                if sale.state == SaleState::Presettled {
                    sale.estimate = Some(split);
                } else {
                    self.transition(
                        &mut sale,
                        SaleEvent::Presettle,
                        serde_json::json!({}),
                        None,
                        |s| {
                            s.estimate = Some(split);
                        },
                    )
                    .await?;
                }
                Ok(sale)
            }
            Err(e) => Err(self.refuse_or_offline(&mut sale, e, can_store).await),
        }
    }

    /// A business refusal moves the sale to `rejected`; a link failure leaves it as it is.
    async fn refuse_or_offline(
        &self,
        sale: &mut Sale,
        e: UpstreamError,
        can_store: bool,
    ) -> SaleError {
        if matches!(e, UpstreamError::Business { .. }) {
            let failure = failure(&e, self.now());
            if let Err(store) = self
                .transition(
                    sale,
                    SaleEvent::Refused,
                    serde_json::json!({ "error": failure }),
                    None,
                    |s| {
                        s.last_error = Some(failure.clone());
                    },
                )
                .await
            {
                return store;
            }
        }
        offline_or(e, can_store)
    }

    /// `POST /v1/sales/{id}/confirm`: the patient consents. Online, the sale settles now; when
    /// the platform was unreachable (or the sale is `force_offline`) a card sale is stored.
    pub async fn confirm(&self, id: &str, c: Confirmation) -> Result<Sale, SaleError> {
        let _guard = self.lock(id).await;
        let mut sale = self.get(id).await?;
        match sale.state {
            SaleState::Presettled => {
                let consent = self.consent(&sale, c.pin).await?;
                self.transition(
                    &mut sale,
                    SaleEvent::Confirm,
                    serde_json::json!({}),
                    None,
                    |s| {
                        s.consent = Some(consent);
                    },
                )
                .await?;
                self.settle_with_one_retry(&mut sale).await?;
                Ok(sale)
            }
            SaleState::Reversed if !sale.stored => {
                self.settle_with_one_retry(&mut sale).await?;
                Ok(sale)
            }
            SaleState::Captured | SaleState::Identified => {
                if sale.mode == SaleMode::RequireOnline {
                    return Err(SaleError::OnlineRequired);
                }
                self.check_storable(&sale.credential)?;
                let consent = self.consent(&sale, c.pin).await?;
                let collected = c.collected.unwrap_or(sale.amount);
                if collected.0 < 0 {
                    return Err(SaleError::BadRequest(
                        "collected must not be negative".into(),
                    ));
                }
                let limits = self.config.limits();
                self.transition(
                    &mut sale,
                    SaleEvent::Store,
                    serde_json::json!({ "collected": collected }),
                    Some(limits),
                    |s| {
                        s.consent = Some(consent);
                        s.collected = Some(collected);
                    },
                )
                .await?;
                self.wake_forwarder();
                Ok(sale)
            }
            state => Err(SaleError::WrongState {
                state,
                action: "confirm",
            }),
        }
    }

    /// Settles while the patient waits: when the first attempt's outcome was unknown and its
    /// reversal went through, one fresh attempt (new msgid) follows at once — the consent
    /// still holds. Anything else is left to the cashier or the forwarder.
    async fn settle_with_one_retry(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let first = self.settle_now(sale).await;
        if sale.state == SaleState::Reversed {
            return self.settle_now(sale).await;
        }
        first
    }

    /// The consent proof for this sale's credential.
    async fn consent(&self, sale: &Sale, pin: Option<Pin>) -> Result<Consent, SaleError> {
        if let Credential::EVoucher { .. } = sale.credential {
            return Ok(Consent::EVoucher);
        }
        let mock = self
            .platform
            .as_ref()
            .is_some_and(|c| c.signtype() == "MOCK");
        let Some(pin) = pin else {
            return if mock {
                Ok(Consent::None)
            } else {
                Err(SaleError::PinRequired)
            };
        };
        let proof = pin.with_digits(|digits| {
            crate::upstream::signing::password_proof(sale.credential.cert_no(), digits)
        });
        if let (Credential::Card { card_no, .. }, Some(card)) = (&sale.credential, &self.card) {
            // The PIN is verified by the card itself, and it must be the sale's card.
            let outcome = card
                .read(ReadRequest {
                    pin: Some(pin),
                    ..ReadRequest::default()
                })
                .await
                .map_err(|e| SaleError::Card(e.message_zh(), e.code(), e.message_en()))?;
            if &outcome.record.card_no != card_no {
                return Err(SaleError::OtherCard);
            }
        }
        Ok(Consent::Pin { proof })
    }

    /// `POST /v1/sales/{id}/cancel`: before settlement the sale is abandoned; a settled sale is
    /// cancelled with the platform (2103).
    pub async fn cancel(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.lock(id).await;
        let mut sale = self.get(id).await?;
        if sale.state == SaleState::Settled {
            self.cancel_settled(&mut sale).await?;
            return Ok(sale);
        }
        self.transition(
            &mut sale,
            SaleEvent::Abandon,
            serde_json::json!({}),
            None,
            |_| {},
        )
        .await?;
        if sale.stored {
            self.show_attention().await;
        }
        Ok(sale)
    }

    /// An operator puts a rejected or expired stored sale back in the queue.
    pub async fn requeue(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.lock(id).await;
        let mut sale = self.get(id).await?;
        if !sale.stored {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "requeue a sale that was never stored",
            });
        }
        let waive = sale.state == SaleState::Expired;
        self.transition(
            &mut sale,
            SaleEvent::Requeue,
            serde_json::json!({ "age_waived": waive }),
            None,
            |s| {
                s.tries = 0;
                s.last_error = None;
                s.age_waived |= waive;
            },
        )
        .await?;
        self.wake_forwarder();
        self.show_attention().await;
        Ok(sale)
    }
}

/// A platform failure as a sale error: link failures say whether the sale could be stored.
pub(super) fn offline_or(e: UpstreamError, can_store: bool) -> SaleError {
    match e {
        UpstreamError::Business { .. } => SaleError::Upstream(e),
        other if other.is_retryable() || matches!(other, UpstreamError::Gateway { .. }) => {
            SaleError::Offline {
                can_store,
                cause: other.code().to_owned(),
            }
        }
        other => SaleError::Upstream(other),
    }
}

pub(super) fn failure(e: &dyn UserFacing, at: DateTime<Utc>) -> Failure {
    Failure {
        code: e.code().to_owned(),
        message_zh: e.message_zh(),
        message_en: e.message_en(),
        at_ms: at.timestamp_millis(),
    }
}

fn event_name(e: SaleEvent) -> &'static str {
    match e {
        SaleEvent::Identify => "identify",
        SaleEvent::Presettle => "presettle",
        SaleEvent::Confirm => "confirm",
        SaleEvent::Store => "store",
        SaleEvent::Send => "send",
        SaleEvent::Settled => "settled",
        SaleEvent::Refused => "refused",
        SaleEvent::Lost => "lost",
        SaleEvent::Reverse => "reverse",
        SaleEvent::Reversed => "reversed",
        SaleEvent::Restored => "restored",
        SaleEvent::Retry => "retry",
        SaleEvent::Cancel => "cancel",
        SaleEvent::Cancelled => "cancelled",
        SaleEvent::Expire => "expire",
        SaleEvent::Requeue => "requeue",
        SaleEvent::Abandon => "abandon",
    }
}

fn event_action(e: SaleEvent) -> &'static str {
    match e {
        SaleEvent::Abandon => "be abandoned",
        SaleEvent::Requeue => "be requeued",
        SaleEvent::Cancel => "be cancelled",
        SaleEvent::Store => "be stored offline",
        SaleEvent::Confirm => "be confirmed",
        _ => "move on this way",
    }
}
