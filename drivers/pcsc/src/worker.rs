//! The worker thread: owns its own PC/SC context and runs `with_card` jobs, one at a time, each
//! inside one exclusive connection and one PC/SC transaction. Jobs wait (until their deadline)
//! for a suitable card; the monitor wakes the worker when presence changes. It never watches
//! reader status itself.

use std::collections::VecDeque;
use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use medsettle_card::{CardTransport, Interface, TransportError};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

use crate::config::{InterfacePolicy, SlotKind};
use crate::error::{PcscError, context_is_dead, map_error};
use crate::event::{ReaderInfo, Shared};
use crate::transport::PcscTransport;

/// Sends a job's reply; called only after the card is released.
pub(crate) type Reply = Box<dyn FnOnce() + Send>;

/// The type-erased closure of one `with_card` call: runs the caller's closure and returns the
/// reply to send once the transaction is ended and the card disconnected.
pub(crate) type JobFn = Box<dyn for<'a> FnOnce(Result<JobCard<'a>, PcscError>) -> Reply + Send>;

/// What a job gets: the patient card, the slot it is in, and the SAM slot's card (a PSAM) when
/// one is present and the job is not for the SAM itself.
pub(crate) type JobCard<'a> = (
    &'a mut (dyn CardTransport + 'a),
    &'a ReaderInfo,
    Option<&'a mut (dyn CardTransport + 'a)>,
);

pub(crate) struct Job {
    pub policy: InterfacePolicy,
    pub reader: Option<String>,
    pub timeout: Duration,
    pub deadline: Instant,
    pub run: JobFn,
}

pub(crate) enum Msg {
    WithCard(Job),
    /// Reader status changed (or the service came back): look at pending jobs again.
    Wake,
    Shutdown,
}

enum Attempt {
    Done,
    /// No suitable card is reported: wait for a monitor wake-up (or the deadline).
    NotYet(Job),
    /// A card is reported but connecting failed transiently (busy, just reset, status not yet
    /// updated, service restarting): try again shortly even without a wake-up.
    RetrySoon(Job),
}

/// Back-off for [`Attempt::RetrySoon`].
const RETRY: Duration = Duration::from_millis(50);

pub(crate) fn run(shared: &Shared, rx: &Receiver<Msg>) {
    let mut ctx: Option<Context> = None;
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut retry_at: Option<Instant> = None;
    loop {
        let next = pending.iter().map(|j| j.deadline).chain(retry_at).min();
        let msg = match next {
            None => rx.recv().ok(),
            Some(deadline) => {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => Some(Msg::Wake),
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        match msg {
            None | Some(Msg::Shutdown) => {
                for job in pending.drain(..) {
                    fail(shared, job, PcscError::Shutdown);
                }
                return;
            }
            Some(Msg::WithCard(job)) => pending.push_back(job),
            Some(Msg::Wake) => {}
        }
        let mut waiting = VecDeque::new();
        retry_at = None;
        while let Some(job) = pending.pop_front() {
            let job = match attempt(shared, &mut ctx, job) {
                Attempt::Done => None,
                Attempt::NotYet(job) => Some(job),
                Attempt::RetrySoon(job) => {
                    retry_at = Some(Instant::now() + RETRY);
                    Some(job)
                }
            };
            if let Some(job) = job {
                if Instant::now() >= job.deadline {
                    let err = match &job.reader {
                        Some(name) if !reader_known(shared, name) => {
                            PcscError::UnknownReader(name.clone())
                        }
                        _ => PcscError::NoCard(job.timeout),
                    };
                    fail(shared, job, err);
                } else {
                    waiting.push_back(job);
                }
            }
        }
        pending = waiting;
    }
}

fn fail(shared: &Shared, job: Job, err: PcscError) {
    shared
        .jobs_failed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(reply) = catch_unwind(AssertUnwindSafe(move || (job.run)(Err(err)))) {
        reply();
    }
}

fn reader_known(shared: &Shared, name: &str) -> bool {
    shared
        .readers
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(name)
}

/// The reader a job should use now, if any has a card.
fn choose(shared: &Shared, job: &Job) -> Option<ReaderInfo> {
    let readers = shared.snapshot();
    match &job.reader {
        Some(name) => readers
            .into_iter()
            .find(|r| &r.name == name && r.card_present),
        None => job.policy.preference().iter().find_map(|kind| {
            readers
                .iter()
                .find(|r| r.slot == *kind && r.card_present)
                .cloned()
        }),
    }
}

/// Connects the card in the first SAM slot that holds one (the PSAM), if any.
fn connect_sam(shared: &Shared, c: &Context) -> Option<(pcsc::Card, CString, Vec<u8>)> {
    let sam = shared
        .snapshot()
        .into_iter()
        .find(|r| r.slot == SlotKind::Sam && r.card_present)?;
    let name = CString::new(sam.name.clone()).ok()?;
    match c.connect(&name, ShareMode::Exclusive, Protocols::ANY) {
        Ok(card) => {
            let atr = sam.atr.unwrap_or_default();
            Some((card, name, atr))
        }
        Err(e) => {
            tracing::warn!(reader = %sam.name, error = %e, "cannot connect the PSAM");
            None
        }
    }
}

fn attempt(shared: &Shared, ctx: &mut Option<Context>, job: Job) -> Attempt {
    let Some(reader) = choose(shared, &job) else {
        return Attempt::NotYet(job);
    };
    let Ok(cname) = CString::new(reader.name.clone()) else {
        fail(shared, job, PcscError::UnknownReader(reader.name));
        return Attempt::Done;
    };
    // A context may be stale after a pcscd restart: one fresh retry.
    let mut card = None;
    for _ in 0..2 {
        if ctx.is_none() {
            match Context::establish(Scope::User) {
                Ok(c) => *ctx = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "worker cannot reach pcscd");
                    return Attempt::RetrySoon(job);
                }
            }
        }
        let c = ctx.as_ref().expect("context established above");
        match c.connect(&cname, ShareMode::Exclusive, Protocols::ANY) {
            Ok(k) => {
                card = Some(k);
                break;
            }
            Err(e) if context_is_dead(e) => *ctx = None,
            Err(
                pcsc::Error::NoSmartcard
                | pcsc::Error::RemovedCard
                | pcsc::Error::SharingViolation
                | pcsc::Error::UnknownReader
                | pcsc::Error::ReaderUnavailable
                | pcsc::Error::ResetCard,
            ) => return Attempt::RetrySoon(job),
            Err(e) => {
                fail(shared, job, PcscError::Transport(map_error(e)));
                return Attempt::Done;
            }
        }
    }
    let Some(mut card) = card else {
        return Attempt::RetrySoon(job);
    };
    let atr = card
        .status2_owned()
        .map(|s| s.atr().to_vec())
        .unwrap_or_else(|_| reader.atr.clone().unwrap_or_default());
    let interface = match reader.slot {
        SlotKind::Contactless => Interface::Contactless,
        SlotKind::Contact | SlotKind::Sam => Interface::Contact,
    };
    let tx = match card.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let mapped = map_error(e);
            if context_is_dead(e) {
                *ctx = None;
            }
            if matches!(
                mapped,
                TransportError::CardRemoved | TransportError::CardReset
            ) {
                return Attempt::NotYet(job);
            }
            fail(shared, job, PcscError::Transport(mapped));
            return Attempt::Done;
        }
    };
    let Some(c) = ctx.as_ref() else {
        return Attempt::NotYet(job);
    };
    let mut transport = PcscTransport {
        card: &tx,
        ctx: c,
        reader: &cname,
        atr,
        interface,
        buf: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        apdus: &shared.apdus,
    };
    shared
        .jobs_run
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run = job.run;
    let mut sam = if reader.slot == SlotKind::Sam {
        None
    } else {
        connect_sam(shared, c)
    };
    let reply = match &mut sam {
        Some((sam_card, sam_name, sam_atr)) => match sam_card.transaction() {
            Ok(sam_tx) => {
                let mut sam_transport = PcscTransport {
                    card: &sam_tx,
                    ctx: c,
                    reader: sam_name,
                    atr: sam_atr.clone(),
                    interface: Interface::Contact,
                    buf: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
                    apdus: &shared.apdus,
                };
                let reply = catch_unwind(AssertUnwindSafe(|| {
                    run(Ok((
                        &mut transport,
                        &reader,
                        Some(&mut sam_transport as &mut dyn CardTransport),
                    )))
                }));
                let _ = sam_tx.end(Disposition::LeaveCard);
                reply
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a transaction on the SAM slot");
                catch_unwind(AssertUnwindSafe(|| {
                    run(Ok((&mut transport, &reader, None)))
                }))
            }
        },
        None => catch_unwind(AssertUnwindSafe(|| {
            run(Ok((&mut transport, &reader, None)))
        })),
    };
    if reply.is_err() {
        tracing::error!(reader = %reader.name, "card job panicked");
    }
    if let Err((_, e)) = tx.end(Disposition::LeaveCard) {
        tracing::debug!(error = %e, "ending the transaction failed");
        if context_is_dead(e) {
            *ctx = None;
        }
    }
    let disposition = if shared.config.reset_after_use {
        Disposition::ResetCard
    } else {
        Disposition::LeaveCard
    };
    if let Err((_, e)) = card.disconnect(disposition) {
        tracing::debug!(error = %e, "disconnect failed");
    }
    if let Ok(reply) = reply {
        reply();
    }
    Attempt::Done
}
