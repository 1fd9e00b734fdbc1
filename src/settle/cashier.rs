//! The cashier's operations on a sale — create, presettle, confirm, cancel, requeue — as the
//! counter API and the kiosk drive them: which state allows what, the patient's consent (card
//! PIN verified by the card, or the e-voucher), and whether a sale that cannot reach the
//! platform may be stored (offline.md rules 3-5).
//!
//! Every move goes through the sale book and every platform request through the settler; the
//! cashier never builds a request itself and never retries on its own beyond the one fresh
//! attempt after a reversal while the patient waits.

use std::sync::Arc;

use super::book::{SaleBook, failure};
use super::consent::Fact;
use super::error::SaleError;
use super::forwarder::Forwarder;
use super::intake::{Confirmation, NewSale};
use super::options::{SaleMode, SettleConfig};
use super::sale::{Consent, Sale};
use super::settler::Settler;
use super::state::{SaleEvent, SaleState};
use crate::card::Pin;
use crate::card::service::{CardService, ReadRequest};
use crate::credential::Credential;
use crate::credential::{Credentials, Fresh};
use crate::error::UserFacing;
use crate::upstream::UpstreamError;

/// The cashier's side of the engine.
pub(super) struct Cashier {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    forwarder: Arc<Forwarder>,
    card: Option<Arc<CardService>>,
    config: SettleConfig,
    credentials: Arc<Credentials>,
}

/// What a [`Cashier`] works with.
pub(super) struct CashierParts {
    pub(super) book: Arc<SaleBook>,
    pub(super) settler: Arc<Settler>,
    pub(super) forwarder: Arc<Forwarder>,
    pub(super) card: Option<Arc<CardService>>,
    pub(super) config: SettleConfig,
    pub(super) credentials: Arc<Credentials>,
}

impl Cashier {
    pub(super) fn new(p: CashierParts) -> Cashier {
        Cashier {
            book: p.book,
            settler: p.settler,
            forwarder: p.forwarder,
            card: p.card,
            config: p.config,
            credentials: p.credentials,
        }
    }

    /// `POST /v1/sales`: records a sale made with a credential this terminal just read; the
    /// request's `Idempotency-Key`, if given, commits with it.
    pub(super) async fn create(
        &self,
        new: NewSale,
        idempotency: Option<crate::store::IdempotencyClaim>,
    ) -> Result<Sale, SaleError> {
        let (items, amount) = super::intake::items_of(new.items)?;
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
        let now = self.book.now();
        let id = format!(
            "S{}{}",
            now.with_timezone(&crate::upstream::time::cst())
                .format("%y%m%d%H%M%S"),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let sale = Sale {
            items,
            amount,
            use_account: new.use_account.unwrap_or(true),
            ..Sale::captured(id, now.timestamp_millis(), mode, credential)
        };
        let detail = serde_json::json!({ "mode": mode, "credential": sale.credential.kind() });
        self.book.create(&sale, detail, idempotency).await?;
        Ok(sale)
    }

    /// Turns a fresh credential into the sale's credential (an e-voucher is decoded now: its
    /// token is short-lived).
    pub(super) async fn resolve(&self, fresh: Fresh) -> Result<Credential, SaleError> {
        Ok(match fresh {
            Fresh::Card(r) => Credential::from_card(&r),
            Fresh::Essc(id) => Credential::from_essc(&id),
            Fresh::EVoucher(code) => {
                let platform = self
                    .settler
                    .platform_if_any()
                    .filter(|p| p.has_ec())
                    .ok_or(SaleError::NoPlatform)?;
                let id = platform
                    .ec_query(&code, crate::qr::evoucher::BusinessType::PharmacyPurchase)
                    .await
                    .map_err(|e| offline_or(e, false))?;
                Credential::EVoucher {
                    ec_token: crate::credential::BearerToken::new(&*id.ec_token.0),
                    insu_org: id.insu_org.clone(),
                    id_number: id.id_no.clone(),
                    name: id.user_name.clone(),
                }
            }
        })
    }

    fn check_storable(&self, c: &Credential) -> Result<(), SaleError> {
        match c {
            Credential::Card { .. } => Ok(()),
            Credential::Essc { .. } if self.config.store_essc_offline => Ok(()),
            other => Err(SaleError::NotStorable { kind: other.kind() }),
        }
    }

    /// `POST /v1/sales/{id}/trace`: traceability codes scanned box by box while the sale is
    /// open (before the patient consents), added to one line. Money is unchanged: a sale
    /// already pre-settled stays so, and its settlement announces the new counts.
    pub(super) async fn attach_trace(
        &self,
        id: &str,
        add: super::trace::TraceAttach,
    ) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        if sale.kind != super::state::SaleKind::Pharmacy {
            return Err(SaleError::WrongKind {
                id: id.to_owned(),
                expected: "a pharmacy sale",
            });
        }
        if !sale.state.before_consent() {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "add trace codes to",
            });
        }
        let (line, added) = (add.line, add.trace.codes.len());
        let mut items = sale.items.clone();
        super::trace::attach(&mut items, add)?;
        let detail = serde_json::json!({ "line": line, "codes_added": added });
        self.book
            .annotate(&mut sale, "trace_attached", detail, |s| s.items = items)
            .await?;
        Ok(sale)
    }

    /// `POST /v1/sales/{id}/presettle`: 1101 then 2101; the patient's share becomes known.
    pub(super) async fn presettle(
        &self,
        id: &str,
        insutype: Option<&str>,
    ) -> Result<Sale, SaleError> {
        if let Some(t) = insutype {
            super::requests::check_insutype(t)?;
        }
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        if sale.mode == SaleMode::ForceOffline {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "presettle a force_offline sale",
            });
        }
        if !sale.state.before_consent() {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "presettle",
            });
        }
        let can_store =
            sale.mode == SaleMode::PreferOnline && self.check_storable(&sale.credential).is_ok();
        let client = self.settler.platform()?;
        let mut chosen = false;
        if sale.person.is_none() {
            match self.settler.identify(client.as_ref(), &sale).await {
                Ok(mut person) => {
                    // A choice 1101 did not offer is refused before anything is stored.
                    if let Some(t) = insutype {
                        super::requests::choose_insutype(&mut person, t)?;
                    }
                    self.book
                        .transition(
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
        } else if let (Some(t), Some(current)) = (insutype, sale.person.as_ref()) {
            let mut person = current.clone();
            super::requests::choose_insutype(&mut person, t)?;
            chosen = &person != current;
            sale.person = Some(person);
        }
        match self.settler.estimate(client.as_ref(), &sale).await {
            Ok(split) => {
                if sale.state == SaleState::Presettled {
                    sale.estimate = Some(split);
                    if chosen {
                        self.book
                            .note(&mut sale, "insutype_chosen", None, None)
                            .await?;
                    }
                } else {
                    self.book
                        .transition(
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
            let failure = failure(&e, self.book.now());
            if let Err(store) = self
                .book
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
    pub(super) async fn confirm(&self, id: &str, c: Confirmation) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        match sale.state {
            SaleState::Presettled => {
                self.take_consent(&mut sale, c.pin).await?;
                self.settle_online(&mut sale).await?;
                Ok(sale)
            }
            SaleState::Reversed if !sale.stored => {
                self.settle_online(&mut sale).await?;
                Ok(sale)
            }
            // The last 2102 never reached the platform (`unsent`): the cashier was told
            // `can_store` when the sale may be stored, and confirming again stores it;
            // otherwise it is tried online again under a new msgid.
            SaleState::Confirmed if self.can_store(&sale) && sale.last_error.is_some() => {
                let collected = c.collected.unwrap_or(sale.amount);
                if collected.0 < 0 {
                    return Err(SaleError::BadRequest(
                        "collected must not be negative".into(),
                    ));
                }
                let limits = self.config.limits();
                self.book
                    .transition(
                        &mut sale,
                        SaleEvent::Store,
                        serde_json::json!({ "collected": collected }),
                        Some(limits),
                        |s| {
                            s.collected = Some(collected);
                            s.last_error = None;
                        },
                    )
                    .await?;
                self.forwarder.wake();
                Ok(sale)
            }
            // The patient consented and nothing was sent (`send` is recorded before sending):
            // a crash, or the platform was unreachable before the 2102 left. Settle now.
            SaleState::Confirmed => {
                self.settle_online(&mut sale).await?;
                Ok(sale)
            }
            // A retry of a confirmation that already ran (the lock was awaited): its outcome.
            SaleState::Settled | SaleState::Queued => Ok(sale),
            // Held for an operator: the same answer as when it was held.
            SaleState::Held => Err(SaleError::Held {
                refusal: sale
                    .evidence
                    .iter()
                    .rev()
                    .find_map(|e| e.refusal.as_deref())
                    .map_or("other", |r| super::doubt::Refusal::of_name(r).as_str()),
                id: sale.id,
            }),
            SaleState::Rejected | SaleState::Unknown | SaleState::Reversing => {
                Err(earlier(&sale, "confirm"))
            }
            // Lock held and still in flight: the operation was cut off; the forwarder
            // finishes it from the audit table.
            SaleState::Settling => {
                self.forwarder.wake();
                Err(SaleError::InProgress(sale.id))
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
                self.book
                    .transition(
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
                self.forwarder.wake();
                Ok(sale)
            }
            state => Err(SaleError::WrongState {
                state,
                action: "confirm",
            }),
        }
    }

    /// A sale of the counter that may be stored offline when the platform cannot be reached.
    fn can_store(&self, sale: &Sale) -> bool {
        sale.mode == SaleMode::PreferOnline && self.check_storable(&sale.credential).is_ok()
    }

    /// [`Cashier::settle_with_one_retry`]; a 2102 that never reached the platform (the sale is
    /// `confirmed` again) answers the link failure as presettle does: `sale.offline` with
    /// `can_store` for a sale that may be stored — never a 2601.
    async fn settle_online(&self, sale: &mut Sale) -> Result<(), SaleError> {
        match self.settle_with_one_retry(sale).await {
            Err(SaleError::Upstream(e)) if sale.state == SaleState::Confirmed => {
                Err(offline_or(e, self.can_store(sale)))
            }
            other => other,
        }
    }

    /// Settles while the patient waits: when the first attempt's outcome was unknown and its
    /// reversal went through, one fresh attempt (new msgid) follows at once — the consent
    /// still holds. Anything else is left to the cashier or the forwarder.
    async fn settle_with_one_retry(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let first = self.settler.settle_now(sale).await;
        if sale.state == SaleState::Reversed {
            return self.settler.settle_now(sale).await;
        }
        first
    }

    /// The patient consents to a presettled sale or visit: `presettled` → `confirmed` with the
    /// consent recorded ([`Cashier::consent`]).
    pub(super) async fn take_consent(
        &self,
        sale: &mut Sale,
        pin: Option<Pin>,
    ) -> Result<(), SaleError> {
        let consent = self.consent(sale, pin).await?;
        self.book
            .transition(sale, SaleEvent::Confirm, serde_json::json!({}), None, |s| {
                s.consent = Some(consent);
            })
            .await
    }

    /// The patient's consent for this sale: the card PIN, verified by the card itself, or the
    /// e-voucher. What the sale keeps is a seal bound to it (`consent.rs`), never the PIN or a
    /// hash of it. Only `settle.skip_pin_consent` (sandbox and demo builds) skips the PIN —
    /// the platform's `signtype` has no say.
    pub(super) async fn consent(
        &self,
        sale: &Sale,
        pin: Option<Pin>,
    ) -> Result<Consent, SaleError> {
        if let Credential::EVoucher { .. } = sale.credential {
            return Ok(Consent::EVoucher);
        }
        let Some(pin) = pin else {
            return if self.config.skip_pin_consent {
                Ok(Consent::None)
            } else {
                Err(SaleError::PinRequired)
            };
        };
        let fact = match (&sale.credential, &self.card) {
            (Credential::Card { card_no, .. }, Some(card)) => {
                // The PIN is verified by the card itself, and it must be the sale's card.
                let outcome = card
                    .read(ReadRequest {
                        pin: Some(pin),
                        ..ReadRequest::default()
                    })
                    .await
                    .map_err(|e| SaleError::Card(e.message_zh(), e.code(), e.message_en()))?;
                if outcome.record.card_no != card_no.expose() {
                    return Err(SaleError::OtherCard);
                }
                Fact::PinVerifiedByCard
            }
            _ => Fact::PinEntered,
        };
        let seal = super::consent::seal(self.book.store(), &sale.chrg_bchno, sale.amount, fact);
        Ok(Consent::Pin { seal })
    }

    /// `POST /v1/sales/{id}/cancel`: before settlement the sale is abandoned; a settled sale is
    /// cancelled with the platform (2103).
    pub(super) async fn cancel(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        match sale.state {
            SaleState::Settled => {
                self.settler.cancel_settled(&mut sale).await?;
                return Ok(sale);
            }
            // A retry of a cancellation that already ran (the lock was awaited): its outcome.
            SaleState::Cancelled | SaleState::Abandoned => return Ok(sale),
            SaleState::Cancelling => {
                self.forwarder.wake();
                return Err(SaleError::InProgress(sale.id));
            }
            SaleState::Unknown | SaleState::Reversing if cancelling(&sale) => {
                return Err(earlier(&sale, "cancel"));
            }
            _ => {}
        }
        self.book
            .transition(
                &mut sale,
                SaleEvent::Abandon,
                serde_json::json!({}),
                None,
                |_| {},
            )
            .await?;
        if sale.stored {
            self.forwarder.show_attention().await;
        }
        Ok(sale)
    }

    /// An operator puts a rejected or expired stored sale back in the queue.
    pub(super) async fn requeue(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        if !sale.stored {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "requeue a sale that was never stored",
            });
        }
        let waive = sale.state == SaleState::Expired;
        self.book
            .transition(
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
        self.forwarder.wake();
        self.forwarder.show_attention().await;
        Ok(sale)
    }
}

/// The request in doubt is a cancellation (2103/2208).
fn cancelling(sale: &Sale) -> bool {
    sale.attempt
        .as_ref()
        .is_some_and(|a| !super::settler::is_settlement(&a.infno))
}

/// The error the earlier run of an operation ended with (its recorded failure), for a retry.
fn earlier(sale: &Sale, action: &'static str) -> SaleError {
    match &sale.last_error {
        Some(f) => SaleError::Earlier(f.clone()),
        None => SaleError::WrongState {
            state: sale.state,
            action,
        },
    }
}

/// A platform failure as a sale error: link failures say whether the sale could be stored.
fn offline_or(e: UpstreamError, can_store: bool) -> SaleError {
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
