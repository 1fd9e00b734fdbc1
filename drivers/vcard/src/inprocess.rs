//! A reader stack with one slot and a virtual card inside the process: the daemon's
//! `backend = "virtual"` and the demo on machines without pcscd. It implements the core's
//! [`CardReaders`], so everything above it (card service, API, events) runs exactly as with
//! PC/SC; only the bytes travel through a function call instead of pcscd and vpcd.
//!
//! Cards are inserted and removed through [`InProcessReader::insert`] / [`remove`]. A job runs
//! on a blocking thread with the card taken out of the slot for its duration (one exclusive
//! "transaction"), with the per-APDU latency of the card's profile, and with the virtual PSAM
//! as security module. A profile's `remove_after_apdus` fault takes the card away mid-job.
//!
//! [`remove`]: InProcessReader::remove

use std::sync::{Arc, Mutex};
use std::time::Duration;

use medsettle_card::access::BoxFuture;
use medsettle_card::{
    AccessError, CardJob, CardReaders, CardRequest, CardTransport, DeviceEvent, Interface,
    SlotInfo, SlotKind, TransportError, VirtualPsam,
};
use tokio::sync::{broadcast, watch};

use crate::card::{CardAction, VirtualCard};

/// The reader's PC/SC-style name.
pub const READER_NAME: &str = "medsettle Virtual Reader 00 00";

struct Inner {
    kind: SlotKind,
    card: Mutex<Slot>,
    /// Bumped on every insert, removal and close: waiters re-check the slot.
    generation: watch::Sender<u64>,
    events: broadcast::Sender<DeviceEvent>,
}

#[derive(Default)]
struct Slot {
    card: Option<VirtualCard>,
    /// A job has the card out of the slot.
    busy: bool,
    closed: bool,
}

/// The in-process virtual reader. Cheap to clone.
#[derive(Clone)]
pub struct InProcessReader {
    inner: Arc<Inner>,
}

impl InProcessReader {
    /// An empty slot of `kind`.
    pub fn new(kind: SlotKind) -> InProcessReader {
        InProcessReader {
            inner: Arc::new(Inner {
                kind,
                card: Mutex::new(Slot::default()),
                generation: watch::channel(0).0,
                events: broadcast::channel(64).0,
            }),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.inner.card.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.inner.generation.send_modify(|g| *g += 1);
    }

    /// Puts a card in the slot (replacing any card there).
    pub fn insert(&self, mut card: VirtualCard) {
        card.inserted();
        let atr = hex::encode_upper(card.atr());
        self.slot().card = Some(card);
        let _ = self.inner.events.send(DeviceEvent::CardInserted {
            reader: READER_NAME.to_owned(),
            kind: self.inner.kind,
            atr,
        });
        self.bump();
    }

    /// Takes the card out of the slot, if one is there and no job holds it.
    pub fn remove(&self) -> Option<VirtualCard> {
        let card = self.slot().card.take();
        if card.is_some() {
            self.removed();
        }
        card
    }

    fn removed(&self) {
        let _ = self.inner.events.send(DeviceEvent::CardRemoved {
            reader: READER_NAME.to_owned(),
        });
        self.bump();
    }

    fn info(&self, slot: &Slot) -> SlotInfo {
        SlotInfo {
            reader: READER_NAME.to_owned(),
            kind: self.inner.kind,
            card_present: slot.card.is_some() || slot.busy,
            atr: slot.card.as_ref().map(|c| hex::encode_upper(c.atr())),
        }
    }

    /// Waits for a card usable by `request` and takes it out of the slot.
    async fn take(&self, request: &CardRequest) -> Result<(VirtualCard, SlotInfo), AccessError> {
        if !request.policy.preference().contains(&self.inner.kind)
            || request.reader.as_deref().is_some_and(|r| r != READER_NAME)
        {
            return Err(AccessError::NoReader);
        }
        let deadline = tokio::time::Instant::now() + request.wait;
        let mut changes = self.inner.generation.subscribe();
        loop {
            {
                let mut slot = self.slot();
                if slot.closed {
                    return Err(AccessError::ShuttingDown);
                }
                if !slot.busy {
                    if let Some(card) = slot.card.take() {
                        slot.busy = true;
                        let mut info = self.info(&slot);
                        info.atr = Some(hex::encode_upper(card.atr()));
                        return Ok((card, info));
                    }
                }
                changes.borrow_and_update();
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Err(AccessError::NoCard(request.wait)),
            }
        }
    }
}

/// The transport a job sees: the card itself, with its profile's latency and faults.
struct Transport<'a> {
    card: &'a mut VirtualCard,
    atr: Vec<u8>,
    interface: Interface,
    latency: Duration,
    removed: bool,
}

impl CardTransport for Transport<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(TransportError::CardRemoved);
        }
        if !self.latency.is_zero() {
            // Simulated card processing time, as a real card spends it.
            std::thread::sleep(self.latency);
        }
        match self.card.process(command) {
            CardAction::Reply(r) => Ok(r),
            CardAction::Remove => {
                self.removed = true;
                Err(TransportError::CardRemoved)
            }
        }
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn interface(&self) -> Interface {
        self.interface
    }
}

impl CardReaders for InProcessReader {
    fn slots(&self) -> BoxFuture<'_, Result<Vec<SlotInfo>, AccessError>> {
        let info = self.info(&self.slot());
        Box::pin(async move { Ok(vec![info]) })
    }

    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.inner.events.subscribe()
    }

    fn run(&self, request: CardRequest, job: CardJob) -> BoxFuture<'_, Result<(), AccessError>> {
        Box::pin(async move {
            let (mut card, info) = self.take(&request).await?;
            let interface = self.inner.kind.interface().unwrap_or(Interface::Contact);
            let (card, removed) = tokio::task::spawn_blocking(move || {
                card.reset();
                let latency = Duration::from_millis(card.profile().latency_ms);
                let atr = card.atr().to_vec();
                let mut t = Transport {
                    card: &mut card,
                    atr,
                    interface,
                    latency,
                    removed: false,
                };
                let mut psam = VirtualPsam::new();
                job(&mut t, &info, Some(&mut psam));
                let removed = t.removed;
                (card, removed)
            })
            .await
            .map_err(|_| AccessError::Connect(TransportError::Other("card job panicked".into())))?;
            let mut slot = self.slot();
            slot.busy = false;
            if removed {
                drop(slot);
                self.removed();
            } else {
                slot.card = Some(card);
                drop(slot);
                self.bump();
            }
            Ok(())
        })
    }

    fn name(&self) -> &'static str {
        "virtual"
    }

    fn close(&self) {
        self.slot().closed = true;
        self.bump();
    }
}
