//! Kiosk mode (`terminal.mode = "kiosk"`): the daemon drives the self-service flow and publishes
//! every step as a `kiosk.step` event for the kiosk UI — wait for a card or a QR code → identify
//! → presettle → show the patient's share → consent (card PIN, or the e-voucher itself) →
//! settle → receipt. The UI only starts a session, passes the PIN and may cancel; every wait has
//! a timeout, and a cancelled or timed-out session abandons its sale. Once settling has begun a
//! cancel is refused: the money flow finishes (or is reversed) exactly as at a counter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::engine::{Confirmation, Engine, NewItem, NewSale};
use super::error::SaleError;
use super::options::SaleMode;
use super::sale::Sale;
use super::state::{SaleKind, SaleState};
use crate::card::Pin;
use crate::card::service::CardService;
use crate::credential::{Credentials, Intake, IntakeError, Want};
use crate::error::UserFacing;
use crate::events::EventBus;

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    WaitingCredential,
    Identifying,
    Share,
    Settling,
    Receipt,
    Failed,
    Cancelled,
    Timeout,
}

impl Step {
    fn is_final(self) -> bool {
        matches!(
            self,
            Step::Receipt | Step::Failed | Step::Cancelled | Step::Timeout
        )
    }
}

/// A session as the UI sees it.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub session: String,
    pub step: Step,
    /// Step data: the masked sale at `share`, the receipt, the error.
    pub data: serde_json::Value,
}

/// What a session settles.
enum Purpose {
    /// A new pharmacy sale of these items.
    Sale(Vec<NewItem>),
    /// The fees of an existing outpatient visit.
    Visit(String),
}

struct Session {
    id: String,
    view: Mutex<View>,
    consent: Mutex<Option<oneshot::Sender<Option<Pin>>>>,
    cancel: CancellationToken,
}

/// Why a kiosk request was refused.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    #[error("this terminal is not in kiosk mode")]
    Disabled,
    /// The visit a session was asked to pay cannot be paid (unknown, not a visit, not
    /// waiting for payment): the engine's own refusal.
    #[error(transparent)]
    Visit(SaleError),
    #[error("a session is already running")]
    Busy,
    #[error("no such session")]
    NotFound,
    #[error("the session is not waiting for that")]
    WrongStep,
}

impl UserFacing for KioskError {
    fn code(&self) -> &'static str {
        match self {
            KioskError::Disabled => "kiosk.disabled",
            KioskError::Visit(e) => e.code(),
            KioskError::Busy => "kiosk.busy",
            KioskError::NotFound => "kiosk.not_found",
            KioskError::WrongStep => "kiosk.wrong_step",
        }
    }
    fn message_zh(&self) -> String {
        match self {
            KioskError::Disabled => "本终端不是自助机模式。".into(),
            KioskError::Visit(e) => e.message_zh(),
            KioskError::Busy => "自助机正在为其他患者服务，请稍候。".into(),
            KioskError::NotFound => "未找到该自助服务会话。".into(),
            KioskError::WrongStep => "当前步骤不能进行此操作。".into(),
        }
    }
    fn message_en(&self) -> String {
        if let KioskError::Visit(e) = self {
            return e.message_en();
        }
        let mut s = self.to_string();
        if let Some(f) = s.get_mut(0..1) {
            f.make_ascii_uppercase();
        }
        s
    }
}

/// The kiosk driver.
pub struct Kiosk {
    engine: Arc<Engine>,
    card: Option<Arc<CardService>>,
    credentials: Arc<Credentials>,
    events: EventBus,
    step_timeout: Duration,
    current: Mutex<Option<Arc<Session>>>,
}

impl Kiosk {
    pub fn new(
        engine: Arc<Engine>,
        card: Option<Arc<CardService>>,
        events: EventBus,
        step_timeout: Duration,
    ) -> Kiosk {
        Kiosk {
            credentials: engine.credentials(),
            engine,
            card,
            events,
            step_timeout,
            current: Mutex::new(None),
        }
    }

    /// Starts a session for `items`; the daemon drives it from here.
    pub fn start(self: &Arc<Self>, items: Vec<NewItem>) -> Result<View, KioskError> {
        self.begin(Purpose::Sale(items))
    }

    /// Starts a session that pays the outpatient visit `visit_id` (created by the HIS through
    /// `POST /v1/visits`). A visit that is unknown, not a visit, or not waiting for payment is
    /// refused at once rather than after the patient presented a card; the engine checks the
    /// state again when the credential is presented.
    pub async fn start_visit(self: &Arc<Self>, visit_id: &str) -> Result<View, KioskError> {
        let visit = self.engine.get(visit_id).await.map_err(KioskError::Visit)?;
        if visit.kind != SaleKind::Outpatient {
            return Err(KioskError::Visit(SaleError::WrongKind {
                id: visit.id,
                expected: "a visit",
            }));
        }
        if !matches!(
            visit.state,
            SaleState::Registered
                | SaleState::Uploaded
                | SaleState::Presettled
                | SaleState::Rejected
        ) {
            return Err(KioskError::Visit(SaleError::WrongState {
                state: visit.state,
                action: "be paid at the kiosk (it is not waiting for payment)",
            }));
        }
        self.begin(Purpose::Visit(visit.id))
    }

    /// Opens the session (one at a time) and spawns its driver.
    fn begin(self: &Arc<Self>, purpose: Purpose) -> Result<View, KioskError> {
        let session = {
            let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if current.as_ref().is_some_and(|s| {
                !s.view
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .step
                    .is_final()
            }) {
                return Err(KioskError::Busy);
            }
            let id = format!("K{}", hex::encode(rand::random::<[u8; 8]>()));
            let session = Arc::new(Session {
                view: Mutex::new(View {
                    session: id.clone(),
                    step: Step::WaitingCredential,
                    data: serde_json::Value::Null,
                }),
                id,
                consent: Mutex::new(None),
                cancel: CancellationToken::new(),
            });
            *current = Some(Arc::clone(&session));
            session
        };
        let first = match &purpose {
            Purpose::Sale(_) => serde_json::Value::Null,
            Purpose::Visit(id) => serde_json::json!({ "visit": id }),
        };
        self.publish(&session, Step::WaitingCredential, first);
        let me = Arc::clone(self);
        let s = Arc::clone(&session);
        tokio::spawn(async move {
            match purpose {
                Purpose::Sale(items) => me.drive(s, items).await,
                Purpose::Visit(id) => me.drive_visit(s, id).await,
            }
        });
        Ok(session
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn session(&self, id: &str) -> Result<Arc<Session>, KioskError> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|s| s.id == id)
            .cloned()
            .ok_or(KioskError::NotFound)
    }

    /// The session's current view.
    pub fn view(&self, id: &str) -> Result<View, KioskError> {
        Ok(self
            .session(id)?
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// The patient consents (with the card PIN where needed).
    pub fn consent(&self, id: &str, pin: Option<Pin>) -> Result<(), KioskError> {
        let s = self.session(id)?;
        let tx = s.consent.lock().unwrap_or_else(|p| p.into_inner()).take();
        match tx {
            Some(tx) => tx.send(pin).map_err(|_| KioskError::WrongStep),
            None => Err(KioskError::WrongStep),
        }
    }

    /// Cancels while the session waits (for a credential or for consent).
    pub fn cancel(&self, id: &str) -> Result<(), KioskError> {
        let s = self.session(id)?;
        let step = s.view.lock().unwrap_or_else(|p| p.into_inner()).step;
        if !matches!(
            step,
            Step::WaitingCredential | Step::Share | Step::Identifying
        ) {
            return Err(KioskError::WrongStep);
        }
        s.cancel.cancel();
        Ok(())
    }

    fn publish(&self, s: &Session, step: Step, data: serde_json::Value) {
        {
            let mut v = s.view.lock().unwrap_or_else(|p| p.into_inner());
            v.step = step;
            v.data = data.clone();
        }
        self.events.publish(
            "kiosk.step",
            serde_json::json!({ "session": s.id, "step": step, "data": data }),
        );
    }

    async fn drive(self: Arc<Self>, s: Arc<Session>, items: Vec<NewItem>) {
        // 1. A card or a code.
        let credential = tokio::select! {
            () = s.cancel.cancelled() => return self.publish(&s, Step::Cancelled, serde_json::Value::Null),
            r = self.wait_credential() => match r {
                Ok(Some(id)) => id,
                Ok(None) => return self.publish(&s, Step::Timeout, serde_json::json!({ "waiting_for": "credential" })),
                Err(e) => return self.fail(&s, &e),
            },
        };
        // 2. Identify and presettle.
        self.publish(&s, Step::Identifying, serde_json::Value::Null);
        let sale = match self
            .engine
            .create(NewSale {
                credential_id: credential,
                items,
                mode: Some(SaleMode::RequireOnline),
                use_account: Some(true),
                dispensing: None,
            })
            .await
        {
            Ok(sale) => sale,
            Err(e) => return self.fail(&s, &e),
        };
        let sale = match self.engine.presettle(&sale.id).await {
            Ok(sale) => sale,
            Err(e) => {
                let _ = self.engine.cancel(&sale.id).await;
                return self.fail(&s, &e);
            }
        };
        // 3. Show the share and wait for consent.
        let (tx, rx) = oneshot::channel();
        *s.consent.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        self.publish(&s, Step::Share, sale.view());
        let pin = tokio::select! {
            () = s.cancel.cancelled() => {
                let _ = self.engine.cancel(&sale.id).await;
                return self.publish(&s, Step::Cancelled, serde_json::json!({ "sale": sale.id }));
            }
            r = tokio::time::timeout(self.step_timeout, rx) => match r {
                Ok(Ok(pin)) => pin,
                _ => {
                    let _ = self.engine.cancel(&sale.id).await;
                    return self.publish(&s, Step::Timeout, serde_json::json!({ "waiting_for": "consent", "sale": sale.id }));
                }
            },
        };
        // 4. Settle: not cancellable from here.
        self.publish(&s, Step::Settling, serde_json::json!({ "sale": sale.id }));
        match self
            .engine
            .confirm(
                &sale.id,
                Confirmation {
                    pin,
                    collected: None,
                },
            )
            .await
        {
            Ok(done) => self.publish(&s, Step::Receipt, self.receipt(&done)),
            Err(e) => self.fail(&s, &e),
        }
    }

    /// A visit's payment: credential → present (the visit's person only) → 2206 → share →
    /// consent → 2207 → receipt. Nothing here cancels the visit: a session that ends early
    /// leaves it to the HIS where it stands.
    async fn drive_visit(self: Arc<Self>, s: Arc<Session>, visit_id: String) {
        let about = serde_json::json!({ "visit": visit_id });
        // 1. A card or a code.
        let credential = tokio::select! {
            () = s.cancel.cancelled() => return self.publish(&s, Step::Cancelled, about),
            r = self.wait_credential() => match r {
                Ok(Some(id)) => id,
                Ok(None) => return self.publish(&s, Step::Timeout, serde_json::json!({ "waiting_for": "credential", "visit": visit_id })),
                Err(e) => return self.fail(&s, &e),
            },
        };
        // 2. The visit's person? Then the share (2206).
        self.publish(&s, Step::Identifying, about.clone());
        if let Err(e) = self.engine.present_for_visit(&visit_id, &credential).await {
            return self.fail(&s, &e);
        }
        let visit = match self.engine.presettle_visit(&visit_id).await {
            Ok(v) => v,
            Err(e) => return self.fail(&s, &e),
        };
        // 3. Show the share and wait for consent.
        let (tx, rx) = oneshot::channel();
        *s.consent.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        self.publish(&s, Step::Share, visit.view());
        let pin = tokio::select! {
            () = s.cancel.cancelled() => return self.publish(&s, Step::Cancelled, about),
            r = tokio::time::timeout(self.step_timeout, rx) => match r {
                Ok(Ok(pin)) => pin,
                _ => return self.publish(&s, Step::Timeout, serde_json::json!({ "waiting_for": "consent", "visit": visit_id })),
            },
        };
        // 4. Settle: not cancellable from here.
        self.publish(&s, Step::Settling, about);
        match self
            .engine
            .confirm_visit(
                &visit_id,
                Confirmation {
                    pin,
                    collected: None,
                },
            )
            .await
        {
            Ok(done) => self.publish(&s, Step::Receipt, self.receipt(&done)),
            Err(e) => self.fail(&s, &e),
        }
    }

    fn fail(&self, s: &Session, e: &dyn UserFacing) {
        self.publish(
            s,
            Step::Failed,
            serde_json::json!({ "code": e.code(), "message_zh": e.message_zh(), "message_en": e.message_en() }),
        );
    }

    /// The next card (read by the kiosk itself) or accepted code (scanned or submitted),
    /// through the same intake as `POST /v1/credentials/wait`.
    async fn wait_credential(&self) -> Result<Option<String>, SaleError> {
        let intake = Intake::new(&self.credentials, self.card.as_deref());
        let want = Want {
            wait: self.step_timeout,
            card: true,
            codes: true,
            refused: false,
        };
        match intake.next(want).await {
            Ok(presented) => Ok(presented.credential_id().map(str::to_owned)),
            Err(IntakeError::NotPresented) => Ok(None),
            Err(IntakeError::Card(e)) => {
                Err(SaleError::Card(e.message_zh(), e.code(), e.message_en()))
            }
        }
    }

    /// What the kiosk prints: amounts and the institution; the patient masked.
    fn receipt(&self, sale: &Sale) -> serde_json::Value {
        let view = sale.view();
        serde_json::json!({
            "sale": sale.id,
            "kind": sale.kind,
            "fixmedins_name": self.engine.terminal_name(),
            "time_ms": chrono::Utc::now().timestamp_millis(),
            "patient": view["credential"],
            "items": view["items"],
            "total": sale.amount,
            "settlement": sale.settlement,
            "patient_pays": sale.patient_share(),
        })
    }
}
