//! The monitor thread: owns one PC/SC context and waits in `SCardGetStatusChange` on every
//! reader plus the PnP notification pseudo-reader. It keeps the reader snapshot, publishes
//! events and wakes the worker; when pcscd goes away it reports `ServiceLost`, retries, and
//! reports `ServiceRestored`. It never talks to cards.

use std::ffi::CString;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::Duration;

use pcsc::{Context, ReaderState, Scope, State};

use crate::error::context_is_dead;
use crate::event::{ReaderEvent, ReaderInfo, Shared};
use crate::worker::Msg;

/// Upper bound of one status wait, so a shutdown that races the wait is seen promptly
/// (`SCardCancel` does not latch when no wait is in progress).
const WAIT_SLICE: Duration = Duration::from_millis(500);

enum SessionEnd {
    Stop,
    ServiceLost,
}

pub(crate) fn run(shared: &Shared, worker: &Sender<Msg>, ready: std::sync::mpsc::Sender<()>) {
    let mut ready = Some(ready);
    let mut lost = false;
    while !shared.stopping() {
        let ctx = match Context::establish(Scope::User) {
            Ok(c) => c,
            Err(e) => {
                if !lost && shared.service_up.swap(false, Ordering::SeqCst) {
                    lose_service(shared);
                }
                tracing::debug!(error = %e, "pcscd not reachable");
                lost = true;
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                shared.pause(shared.config.service_retry());
                continue;
            }
        };
        *shared.monitor_ctx.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.clone());
        if shared.stopping() {
            break;
        }
        shared.service_up.store(true, Ordering::SeqCst);
        if lost {
            // `lost` is set again when this session ends by losing the service.
            tracing::info!("PC/SC service restored");
            shared.emit(ReaderEvent::ServiceRestored);
        }
        let end = session(shared, &ctx, worker, &mut ready);
        *shared.monitor_ctx.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match end {
            SessionEnd::Stop => break,
            SessionEnd::ServiceLost => {
                shared.service_up.store(false, Ordering::SeqCst);
                lose_service(shared);
                lost = true;
                let _ = worker.send(Msg::Wake);
                shared.pause(shared.config.service_retry());
            }
        }
    }
}

fn lose_service(shared: &Shared) {
    tracing::warn!("PC/SC service lost");
    shared.service_losses.fetch_add(1, Ordering::Relaxed);
    shared
        .readers
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    shared.emit(ReaderEvent::ServiceLost);
}

fn session(
    shared: &Shared,
    ctx: &Context,
    worker: &Sender<Msg>,
    ready: &mut Option<std::sync::mpsc::Sender<()>>,
) -> SessionEnd {
    let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
    let mut refresh = true;
    loop {
        if shared.stopping() {
            return SessionEnd::Stop;
        }
        if refresh {
            match ctx.list_readers_owned() {
                Ok(names) => sync_reader_list(shared, &mut states, names),
                Err(pcsc::Error::NoReadersAvailable) => {
                    sync_reader_list(shared, &mut states, Vec::new())
                }
                Err(e) if context_is_dead(e) => return SessionEnd::ServiceLost,
                Err(e) => tracing::warn!(error = %e, "cannot list readers"),
            }
            refresh = false;
        }
        match ctx.get_status_change(Some(WAIT_SLICE), &mut states) {
            Ok(()) => {
                let (changed, needs_refresh) = apply_changes(shared, &mut states);
                refresh = needs_refresh;
                if changed {
                    let _ = worker.send(Msg::Wake);
                }
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Err(pcsc::Error::Timeout) | Err(pcsc::Error::Cancelled) => {}
            Err(e) if context_is_dead(e) => return SessionEnd::ServiceLost,
            Err(pcsc::Error::UnknownReader) | Err(pcsc::Error::ReaderUnavailable) => refresh = true,
            Err(e) => {
                tracing::warn!(error = %e, "status wait failed");
                refresh = true;
                shared.pause(shared.config.service_retry());
            }
        }
    }
}

/// Makes `states` (index 0 = PnP) match the reader list, publishing added/removed readers.
fn sync_reader_list(shared: &Shared, states: &mut Vec<ReaderState>, names: Vec<CString>) {
    let wanted: Vec<String> = names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let mut removed = Vec::new();
    states.retain(|rs| {
        let name = rs.name().to_string_lossy();
        let keep = rs.name() == pcsc::PNP_NOTIFICATION() || wanted.iter().any(|w| *w == name);
        if !keep {
            removed.push(name.into_owned());
        }
        keep
    });
    for name in removed {
        let had = shared
            .readers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        if had.is_some_and(|r| r.card_present) {
            shared.emit(ReaderEvent::CardRemoved {
                reader: name.clone(),
            });
        }
        shared.emit(ReaderEvent::ReaderRemoved { name });
    }
    for (cname, name) in names.into_iter().zip(wanted) {
        if states.iter().any(|rs| rs.name() == cname.as_c_str()) {
            continue;
        }
        let slot = shared.config.classify(&name);
        shared
            .readers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name.clone(),
                ReaderInfo {
                    name: name.clone(),
                    slot,
                    card_present: false,
                    atr: None,
                },
            );
        states.push(ReaderState::new(cname, State::UNAWARE));
        shared.emit(ReaderEvent::ReaderAdded { name, slot });
    }
}

/// Publishes card presence changes; returns (anything changed, reader list must be re-read).
fn apply_changes(shared: &Shared, states: &mut [ReaderState]) -> (bool, bool) {
    let mut changed = false;
    let mut refresh = false;
    for rs in states.iter_mut() {
        let ev = rs.event_state();
        if !ev.contains(State::CHANGED) {
            continue;
        }
        changed = true;
        if rs.name() == pcsc::PNP_NOTIFICATION() {
            refresh = true;
            rs.sync_current_state();
            continue;
        }
        if ev.intersects(State::UNKNOWN | State::IGNORE | State::UNAVAILABLE) {
            refresh = true;
        }
        let name = rs.name().to_string_lossy().into_owned();
        let present = ev.contains(State::PRESENT) && !ev.contains(State::MUTE);
        let atr = present.then(|| rs.atr().to_vec());
        let mut event = None;
        {
            let mut readers = shared.readers.write().unwrap_or_else(|p| p.into_inner());
            if let Some(info) = readers.get_mut(&name) {
                if present && !info.card_present {
                    event = Some(ReaderEvent::CardInserted {
                        reader: name.clone(),
                        slot: info.slot,
                        atr: atr.clone().unwrap_or_default(),
                    });
                } else if !present && info.card_present {
                    event = Some(ReaderEvent::CardRemoved {
                        reader: name.clone(),
                    });
                }
                info.card_present = present;
                info.atr = atr;
            }
        }
        if let Some(e) = event {
            shared.emit(e);
        }
        rs.sync_current_state();
    }
    (changed, refresh)
}
