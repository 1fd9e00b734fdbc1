//! The daemon's card service: one read or PIN check on request, through whatever reader stack
//! the terminal has, with the result validated and announced on the event bus.
//!
//! It glues the pure parts together — [`CardReaders`] finds the card, [`read_card_with`] runs the
//! application on the reader's thread, [`credential::validate`] applies the acceptance rules —
//! and never touches a device or the database itself. PINs pass through as [`Pin`] (zeroized on
//! drop) and are never logged. Events carry masked data only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::access::{AccessError, CardReaders, CardRequest, InterfacePolicy, SlotInfo};
use super::apdu::{Apdu, SSSE_AID};
use super::error::CardError;
use super::exchange::Channel;
use super::pin::{Pin, verify_pin};
use super::record::{CardRecord, TerminalIds};
use super::ssc::{AuthPolicy, ReadOptions, read_card_with};
use super::status::StatusWord;
use crate::credential::{self, Blacklist, CredentialError, Policy};
use crate::error::UserFacing;
use crate::events::EventBus;
use medsettle_base::pii::{MaskedId, MaskedName};

/// Defaults for requests that leave things out.
#[derive(Debug, Clone)]
pub struct CardDefaults {
    /// Slot preference.
    pub policy: InterfacePolicy,
    /// Only this reader.
    pub reader: Option<String>,
    /// How long to wait for a card.
    pub wait: Duration,
}

/// One read request from the API or CLI.
#[derive(Debug, Default)]
pub struct ReadRequest {
    /// Slot preference; the configured default when `None`.
    pub policy: Option<InterfacePolicy>,
    /// Only this reader.
    pub reader: Option<String>,
    /// How long to wait for the card; the configured default when `None`.
    pub wait: Option<Duration>,
    /// Verify this PIN during the read.
    pub pin: Option<Pin>,
}

/// A validated read.
#[derive(Debug, Clone, Serialize)]
pub struct CardOutcome {
    /// The card as read (personal data in clear: for the cashier program only).
    pub record: CardRecord,
    /// The `iReadCardBas` line (personal data in clear).
    pub line: String,
    /// Reader and slot the card was read in.
    pub slot: SlotInfo,
    /// APDUs the read took.
    pub apdus: u32,
    /// Wall time from card connected to record, in milliseconds (excludes waiting for the card).
    pub read_ms: u64,
    /// Whether external authentication ran.
    pub authenticated: bool,
    /// Whether holder data was withheld by the card for lack of authentication.
    pub holder_protected: bool,
}

/// Why a read or PIN check failed. Each variant has the stable code of what it wraps.
#[derive(Debug, thiserror::Error)]
pub enum CardServiceError {
    /// No card or reader to run on.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The card answered badly, or the PIN was refused.
    #[error(transparent)]
    Card(#[from] CardError),
    /// The card was read but is not acceptable.
    #[error(transparent)]
    Invalid(#[from] CredentialError),
}

impl CardServiceError {
    fn inner(&self) -> &dyn UserFacing {
        match self {
            CardServiceError::Access(e) => e,
            CardServiceError::Card(e) => e,
            CardServiceError::Invalid(e) => e,
        }
    }
}

impl UserFacing for CardServiceError {
    fn code(&self) -> &'static str {
        self.inner().code()
    }
    fn message_zh(&self) -> String {
        self.inner().message_zh()
    }
    fn message_en(&self) -> String {
        self.inner().message_en()
    }
}

/// The card service.
pub struct CardService {
    readers: Arc<dyn CardReaders>,
    bus: EventBus,
    defaults: CardDefaults,
    policy: Policy,
    blacklist: Arc<Blacklist>,
    terminal: TerminalIds,
}

impl CardService {
    /// Builds the service.
    pub fn new(
        readers: Arc<dyn CardReaders>,
        bus: EventBus,
        defaults: CardDefaults,
        policy: Policy,
        blacklist: Blacklist,
        terminal: TerminalIds,
    ) -> CardService {
        CardService {
            readers,
            bus,
            defaults,
            policy,
            blacklist: Arc::new(blacklist),
            terminal,
        }
    }

    /// The reader stack.
    pub fn readers(&self) -> &Arc<dyn CardReaders> {
        &self.readers
    }

    fn request(
        &self,
        policy: Option<InterfacePolicy>,
        reader: Option<String>,
        wait: Option<Duration>,
    ) -> CardRequest {
        CardRequest {
            policy: policy.unwrap_or(self.defaults.policy),
            reader: reader.or_else(|| self.defaults.reader.clone()),
            wait: wait.unwrap_or(self.defaults.wait),
        }
    }

    /// Waits for a card, reads it (verifying the PIN if one is given), validates it.
    pub async fn read(&self, req: ReadRequest) -> Result<CardOutcome, CardServiceError> {
        let request = self.request(req.policy, req.reader, req.wait);
        let pin = req.pin;
        let (tx, rx) = oneshot::channel();
        let job = Box::new(
            move |t: &mut dyn super::CardTransport,
                  slot: &SlotInfo,
                  module: Option<&mut dyn super::SecurityModule>| {
                let started = Instant::now();
                let opts = ReadOptions {
                    auth: AuthPolicy::OnDemand,
                    ..ReadOptions::default()
                };
                let result = read_card_with(t, &opts, pin.as_ref(), module);
                drop(pin);
                let _ = tx.send((result, slot.clone(), started.elapsed()));
            },
        );
        let outcome = self.run(request, job, rx).await;
        let (result, slot, took) = match outcome {
            Ok(v) => v,
            Err(e) => return Err(self.failed(None, e)),
        };
        let read = match result {
            Ok(r) => r,
            Err(e) => return Err(self.failed(Some(&slot), e.into())),
        };
        if let Err(e) = credential::validate(
            &read.record,
            &self.policy,
            &self.blacklist,
            credential::today_in_china(),
        ) {
            return Err(self.failed(Some(&slot), e.into()));
        }
        let outcome = CardOutcome {
            line: read.record.ireadcardbas_line(&self.terminal),
            record: read.record,
            slot,
            apdus: read.apdus,
            read_ms: took.as_millis() as u64,
            authenticated: read.authenticated,
            holder_protected: read.holder_protected,
        };
        self.bus.publish("card.read", read_event(&outcome));
        crate::telemetry::ops::ops().card_read("ok");
        tracing::info!(reader = %outcome.slot.reader, apdus = outcome.apdus, read_ms = outcome.read_ms,
            card = %MaskedId(&outcome.record.card_no), "card read");
        Ok(outcome)
    }

    /// Checks the cardholder's PIN on the present card. Tries left and blocked cards come back
    /// as `card.pin_wrong` / `card.pin_blocked`.
    pub async fn verify_pin(
        &self,
        pin: Pin,
        policy: Option<InterfacePolicy>,
        reader: Option<String>,
        wait: Option<Duration>,
    ) -> Result<SlotInfo, CardServiceError> {
        let request = self.request(policy, reader, wait);
        let (tx, rx) = oneshot::channel();
        let job = Box::new(
            move |t: &mut dyn super::CardTransport,
                  slot: &SlotInfo,
                  _m: Option<&mut dyn super::SecurityModule>| {
                let mut ch = Channel::new(t);
                let result = select_app(&mut ch).and_then(|()| verify_pin(&mut ch, &pin));
                drop(pin);
                let _ = tx.send((result, slot.clone(), Duration::ZERO));
            },
        );
        let (result, slot, _) = match self.run(request, job, rx).await {
            Ok(v) => v,
            Err(e) => return Err(self.failed(None, e)),
        };
        match result {
            Ok(()) => {
                self.bus
                    .publish("card.pin_verified", json!({ "reader": slot.reader }));
                Ok(slot)
            }
            Err(e) => Err(self.failed(Some(&slot), e.into())),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        request: CardRequest,
        job: super::CardJob,
        rx: oneshot::Receiver<T>,
    ) -> Result<T, CardServiceError> {
        self.readers.run(request, job).await?;
        rx.await.map_err(|_| {
            CardServiceError::Card(CardError::Protocol(
                "the card job ended without an answer".into(),
            ))
        })
    }

    fn failed(&self, slot: Option<&SlotInfo>, e: CardServiceError) -> CardServiceError {
        self.bus.publish(
            "card.failed",
            json!({
                "reader": slot.map(|s| s.reader.as_str()),
                "code": e.code(),
                "message_zh": e.message_zh(),
                "message_en": e.message_en(),
            }),
        );
        tracing::warn!(code = e.code(), error = %e, "card operation failed");
        crate::telemetry::ops::ops().card_read(e.code());
        e
    }
}

fn select_app(ch: &mut Channel<'_>) -> Result<(), CardError> {
    match ch.exchange(&Apdu::select_aid(&SSSE_AID))?.sw {
        StatusWord::Ok | StatusWord::FileNotFound => Ok(()),
        sw => Err(CardError::UnexpectedStatus {
            command: "SELECT AID",
            sw,
        }),
    }
}

/// The `card.read` event: enough for a UI to react, personal data masked.
fn read_event(o: &CardOutcome) -> serde_json::Value {
    let holder = o.record.holder.as_ref();
    json!({
        "reader": o.slot.reader,
        "interface": o.record.interface,
        "region": o.record.region,
        "card_no": MaskedId(&o.record.card_no).to_string(),
        "id_number": holder.map(|h| MaskedId(&h.id_number).to_string()),
        "name": holder.map(|h| MaskedName(&h.name).to_string()),
        "spec_version": o.record.spec_version,
        "apdus": o.apdus,
        "read_ms": o.read_ms,
    })
}

/// The credential intake reads cards through the service: a validated read, published and
/// logged as any other.
impl credential::CardSource for CardService {
    type Read = CardOutcome;
    type Error = CardServiceError;

    fn read_card(
        &self,
        wait: Duration,
    ) -> impl std::future::Future<Output = Result<CardOutcome, CardServiceError>> + Send {
        self.read(ReadRequest {
            wait: Some(wait),
            ..ReadRequest::default()
        })
    }

    fn record(read: &CardOutcome) -> &CardRecord {
        &read.record
    }
}
