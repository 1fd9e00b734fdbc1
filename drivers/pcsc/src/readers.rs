//! The PC/SC reader stack as the core sees it: [`PcscReaders`] implements
//! [`medsettle_card::CardReaders`] over a [`ReaderHandle`], translating the driver's events
//! and errors into the core's. A small forwarding thread turns [`ReaderEvent`]s into
//! [`DeviceEvent`]s so subscribers need no runtime of ours.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use medsettle_card::access::BoxFuture;
use medsettle_card::{
    AccessError, CardJob, CardReaders, CardRequest, DeviceEvent, SlotInfo, TransportError,
};
use tokio::sync::broadcast;

use crate::config::ReaderConfig;
use crate::error::PcscError;
use crate::event::{ReaderEvent, ReaderInfo};
use crate::handle::ReaderHandle;

/// The daemon's PC/SC reader stack.
pub struct PcscReaders {
    handle: ReaderHandle,
    events: broadcast::Sender<DeviceEvent>,
    closed: Arc<AtomicBool>,
}

fn slot_info(r: &ReaderInfo) -> SlotInfo {
    SlotInfo {
        reader: r.name.clone(),
        kind: r.slot,
        card_present: r.card_present,
        atr: r.atr.as_deref().map(hex_upper),
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn device_event(e: ReaderEvent) -> DeviceEvent {
    match e {
        ReaderEvent::ReaderAdded { name, slot } => DeviceEvent::ReaderAdded {
            reader: name,
            kind: slot,
        },
        ReaderEvent::ReaderRemoved { name } => DeviceEvent::ReaderRemoved { reader: name },
        ReaderEvent::CardInserted { reader, slot, atr } => DeviceEvent::CardInserted {
            reader,
            kind: slot,
            atr: hex_upper(&atr),
        },
        ReaderEvent::CardRemoved { reader } => DeviceEvent::CardRemoved { reader },
        ReaderEvent::ServiceLost => DeviceEvent::ServiceLost,
        ReaderEvent::ServiceRestored => DeviceEvent::ServiceRestored,
    }
}

impl PcscReaders {
    /// Starts the reader threads (see [`ReaderHandle::spawn`]).
    pub fn spawn(config: ReaderConfig) -> PcscReaders {
        let handle = ReaderHandle::spawn(config);
        let (events, _) = broadcast::channel(64);
        let mut feed = handle.subscribe();
        let tx = events.clone();
        let spawned = std::thread::Builder::new()
            .name("pcsc-events".into())
            .spawn(move || {
                loop {
                    match feed.blocking_recv() {
                        Ok(e) => {
                            let _ = tx.send(device_event(e));
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "reader events lagged");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the reader event thread");
        }
        PcscReaders {
            handle,
            events,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The driver handle (stats, tests).
    pub fn handle(&self) -> &ReaderHandle {
        &self.handle
    }
}

impl CardReaders for PcscReaders {
    fn slots(&self) -> BoxFuture<'_, Result<Vec<SlotInfo>, AccessError>> {
        let result = if self.handle.service_available() {
            Ok(self.handle.readers().iter().map(slot_info).collect())
        } else {
            Err(AccessError::ServiceUnavailable)
        };
        Box::pin(async move { result })
    }

    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    fn run(&self, request: CardRequest, job: CardJob) -> BoxFuture<'_, Result<(), AccessError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                return Err(AccessError::ShuttingDown);
            }
            let wait = request.wait;
            let result =
                self.handle
                    .with_card_in(request.policy, request.reader, wait, move |t, info, sam| {
                        match sam {
                            Some(sam) => {
                                let mut psam = medsettle_card::psam::Psam::new(sam);
                                job(t, &slot_info(info), Some(&mut psam))
                            }
                            None => job(t, &slot_info(info), None),
                        }
                    })
                    .await;
            match result {
                Ok(()) => Ok(()),
                Err(PcscError::NoCard(_)) => Err(AccessError::NoCard(wait)),
                Err(PcscError::UnknownReader(_)) => Err(AccessError::NoReader),
                Err(PcscError::Shutdown | PcscError::Aborted) => Err(AccessError::ShuttingDown),
                Err(PcscError::Transport(TransportError::ServiceGone)) => {
                    Err(AccessError::ServiceUnavailable)
                }
                Err(PcscError::Transport(e)) => Err(AccessError::Connect(e)),
            }
        })
    }

    fn name(&self) -> &'static str {
        "pcsc"
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.handle.shutdown();
    }
}
