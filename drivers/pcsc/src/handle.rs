//! [`ReaderHandle`]: the only way into the reader threads. Requests go in over a channel,
//! replies come back on a oneshot; reader state is read from the shared snapshot. It spawns the
//! threads and stops them; it makes no PC/SC call except `Context::cancel` on shutdown.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use medsettle_card::CardTransport;
use tokio::sync::{broadcast, oneshot};

use crate::config::{InterfacePolicy, ReaderConfig};
use crate::error::PcscError;
use crate::event::{ReaderEvent, ReaderInfo, ReaderStats, Shared};
use crate::worker::{Job, JobFn, Msg};
use crate::{monitor, worker};

/// A cheap, cloneable handle to the reader threads. The threads stop on [`ReaderHandle::shutdown`]
/// or when the last handle is dropped.
#[derive(Clone)]
pub struct ReaderHandle {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl ReaderHandle {
    /// Starts the monitor and worker threads and waits (up to `startup_wait_ms`) for the first
    /// reader enumeration, so `readers()` is meaningful on return. pcscd being down is not an
    /// error: the threads keep retrying and report `ServiceRestored`.
    pub fn spawn(config: ReaderConfig) -> ReaderHandle {
        let startup = Duration::from_millis(config.startup_wait_ms);
        let shared = Arc::new(Shared::new(config));
        let (tx, rx) = channel::<Msg>();
        let (ready_tx, ready_rx) = channel::<()>();
        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name("pcsc-worker".into())
                .spawn(move || worker::run(&s, &rx))
                .expect("spawning the PC/SC worker thread"),
        );
        let s = Arc::clone(&shared);
        let wake = tx.clone();
        threads.push(
            std::thread::Builder::new()
                .name("pcsc-monitor".into())
                .spawn(move || monitor::run(&s, &wake, ready_tx))
                .expect("spawning the PC/SC monitor thread"),
        );
        let _ = ready_rx.recv_timeout(startup);
        ReaderHandle {
            inner: Arc::new(Inner {
                shared,
                tx,
                threads: Mutex::new(threads),
            }),
        }
    }

    /// Readers as last seen, sorted by name. Empty while pcscd is down.
    pub fn readers(&self) -> Vec<ReaderInfo> {
        self.inner.shared.snapshot()
    }

    /// Whether pcscd answered the monitor's last call.
    pub fn service_available(&self) -> bool {
        self.inner.shared.service_up.load(Ordering::SeqCst)
    }

    /// Reader and card events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ReaderEvent> {
        self.inner.shared.events.subscribe()
    }

    pub fn stats(&self) -> ReaderStats {
        self.inner.shared.stats()
    }

    fn submit<R, F>(
        &self,
        policy: InterfacePolicy,
        reader: Option<String>,
        timeout: Duration,
        f: F,
    ) -> oneshot::Receiver<Result<R, PcscError>>
    where
        F: FnOnce(&mut dyn CardTransport, &ReaderInfo, Option<&mut dyn CardTransport>) -> R
            + Send
            + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let run: JobFn = Box::new(move |t| {
            let result = t.map(|(t, info, sam)| f(t, info, sam));
            Box::new(move || {
                let _ = reply.send(result);
            })
        });
        let job = Job {
            policy,
            reader,
            timeout,
            deadline: Instant::now() + timeout,
            run,
        };
        if let Err(std::sync::mpsc::SendError(Msg::WithCard(job))) =
            self.inner.tx.send(Msg::WithCard(job))
        {
            (job.run)(Err(PcscError::Shutdown))();
        }
        rx
    }

    /// Runs `f` on the reader thread with a connected card: the card on `reader` if named (any
    /// slot kind, SAM included), else the first card found on the slots `policy` prefers. Waits
    /// up to `timeout` for such a card. `f` runs inside one exclusive PC/SC transaction; the card
    /// is reset afterwards unless `reset_after_use` is off. Errors inside `f` (card removed…)
    /// are `f`'s own to return.
    pub async fn with_card<R, F>(
        &self,
        policy: InterfacePolicy,
        reader: Option<String>,
        timeout: Duration,
        f: F,
    ) -> Result<R, PcscError>
    where
        F: FnOnce(&mut dyn CardTransport) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit(policy, reader, timeout, move |t, _, _| f(t))
            .await
            .unwrap_or(Err(PcscError::Aborted))
    }

    /// [`ReaderHandle::with_card`] whose closure also learns which reader slot it runs on and
    /// gets the card in the SAM slot (a PSAM), connected in its own transaction, when there is
    /// one.
    pub async fn with_card_in<R, F>(
        &self,
        policy: InterfacePolicy,
        reader: Option<String>,
        timeout: Duration,
        f: F,
    ) -> Result<R, PcscError>
    where
        F: FnOnce(&mut dyn CardTransport, &ReaderInfo, Option<&mut dyn CardTransport>) -> R
            + Send
            + 'static,
        R: Send + 'static,
    {
        self.submit(policy, reader, timeout, f)
            .await
            .unwrap_or(Err(PcscError::Aborted))
    }

    /// [`ReaderHandle::with_card`] for non-async callers. Must not be called from inside an
    /// async runtime thread.
    pub fn with_card_blocking<R, F>(
        &self,
        policy: InterfacePolicy,
        reader: Option<String>,
        timeout: Duration,
        f: F,
    ) -> Result<R, PcscError>
    where
        F: FnOnce(&mut dyn CardTransport) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit(policy, reader, timeout, move |t, _, _| f(t))
            .blocking_recv()
            .unwrap_or(Err(PcscError::Aborted))
    }

    /// Stops both threads: pending jobs fail with `Shutdown`, the monitor's status wait is
    /// cancelled with `Context::cancel`. Blocks until a running job finishes. Idempotent.
    pub fn shutdown(&self) {
        self.inner.stop();
    }
}

impl Inner {
    fn stop(&self) {
        let shared = &self.shared;
        {
            let _guard = shared.stop_lock.lock().unwrap_or_else(|p| p.into_inner());
            shared.stopping.store(true, Ordering::SeqCst);
            shared.stop_cv.notify_all();
        }
        if let Some(ctx) = shared
            .monitor_ctx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = ctx.cancel();
        }
        let _ = self.tx.send(Msg::Shutdown);
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}
