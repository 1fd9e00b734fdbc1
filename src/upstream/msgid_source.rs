//! Where msgids come from in the daemon: the store's persistent `upstream.msgid` counter,
//! reserved in blocks of 64 that are committed before any of their values is handed out, so no
//! two requests ever share a msgid — not within a second, not across a restart or a crash (a
//! crash skips the rest of a block).
//!
//! The 4-digit field is the terminal's node (when several terminals share one
//! `fixmedins_code`) followed by the counter's value modulo what the counter part holds (see
//! [`SeqLayout`]). Consecutive counter values are distinct modulo that size, so as long as one
//! second's stamp carries no more ids than the counter part holds, no id repeats. When a burst
//! would need more, the source waits (a tokio sleep, not a busy loop) until the wall clock
//! reaches the next second: an id is never reused and never stamped ahead of the clock.
//!
//! Stamps never go backwards: a caller that read the clock just before another one but got the
//! lock after it shares the later second (which the clock has already reached). Should the
//! system clock step back, the stamps stay on the later second and move on only as the seconds
//! fill, until the clock catches up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::msgid::{MsgId, MsgIdError, SeqLayout};
use crate::store::{Store, StoreError};

/// The counter's name in the store.
pub const COUNTER: &str = "upstream.msgid";

/// Why no msgid could be issued.
#[derive(Debug, thiserror::Error)]
pub enum MsgIdSourceError {
    /// The counter could not be advanced (the request must not be sent).
    #[error("msgid counter: {0}")]
    Store(#[from] StoreError),
    /// The configured institution code cannot form a msgid.
    #[error(transparent)]
    Invalid(#[from] MsgIdError),
}

/// The monotonic time the source waits on: tokio's clock in the daemon, a fake in tests (so a
/// test of a full second neither sleeps nor depends on the machine's speed).
pub trait Waiter: Send + Sync + 'static {
    /// Time elapsed since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    /// Completes once [`Waiter::now`] has reached `until`.
    fn wait_until(&self, until: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// [`Waiter`] on tokio's monotonic clock.
struct TokioWaiter {
    origin: tokio::time::Instant,
}

impl Waiter for TokioWaiter {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wait_until(&self, until: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep_until(self.origin + until))
    }
}

/// Issues msgids for one terminal.
#[derive(Clone)]
pub struct MsgIdSource {
    store: Store,
    fixmedins_code: String,
    layout: SeqLayout,
    waiter: Arc<dyn Waiter>,
    /// The last stamp used, how many ids carry it, and the reserved counter block.
    state: Arc<tokio::sync::Mutex<Issuing>>,
}

/// What the source tracks between ids.
struct Issuing {
    /// Unix seconds of the last id's stamp, and how many ids carry it.
    stamp: i64,
    issued: u32,
    /// The waiter's time by which the wall clock has surely passed into `stamp + 1` (computed
    /// from the caller's clock reading, which is never later than the truth, so never early).
    next_second: Duration,
    /// Counter values reserved in the store and not yet used: `next ..= end`.
    next: u64,
    end: u64,
}

/// Counter values reserved per store write. Reserving commits the block before any value of
/// it is used, so a crash skips the rest of a block and never reuses a value.
const BLOCK: u64 = 64;

impl MsgIdSource {
    /// A source for `fixmedins_code` (checked now, so a bad code fails at start-up), with this
    /// terminal's node layout when several terminals share the code (`None`: the whole field
    /// is the counter).
    pub fn new(
        store: Store,
        fixmedins_code: &str,
        layout: Option<SeqLayout>,
    ) -> Result<MsgIdSource, MsgIdError> {
        MsgId::new(fixmedins_code, Utc::now(), 0)?;
        Ok(MsgIdSource {
            store,
            fixmedins_code: fixmedins_code.to_owned(),
            layout: layout.unwrap_or_default(),
            waiter: Arc::new(TokioWaiter {
                origin: tokio::time::Instant::now(),
            }),
            state: Arc::new(tokio::sync::Mutex::new(Issuing {
                stamp: i64::MIN,
                issued: 0,
                next_second: Duration::ZERO,
                next: 1,
                end: 0,
            })),
        })
    }

    /// The same source waiting on `waiter` instead of tokio's clock (tests).
    pub fn with_waiter(mut self, waiter: Arc<dyn Waiter>) -> MsgIdSource {
        self.waiter = waiter;
        self
    }

    /// Treats the second of `now` (the wall clock as the source is built) as already full, so
    /// this source's first id is stamped a later second. A previous run of the daemon that
    /// stopped within this second may have used any of its sequence values, and the counter
    /// skips up to a block on a restart, so only a later second is certainly free. The daemon
    /// asks for this when the counter part is narrow (100 or 10 ids per second); with 1000 or
    /// more, a repeat would take some 900 ids in the second of the restart, which a terminal
    /// never sends, and the first request is not delayed.
    pub fn after_restart_at(self, now: DateTime<Utc>) -> MsgIdSource {
        {
            let mut state = self
                .state
                .try_lock()
                .expect("a source being built is not shared yet");
            state.stamp = now.timestamp();
            state.issued = u32::from(self.layout.per_second());
            state.next_second = self.waiter.now() + until_next_second(now);
        }
        self
    }

    pub fn layout(&self) -> SeqLayout {
        self.layout
    }

    /// The next msgid, stamped with the second of `at` (China Standard Time in the id): the
    /// wall clock as the caller read it just before. When that second already carries as many
    /// ids as the counter part holds, this waits until the clock has reached the next second
    /// and stamps that one. `at` must come from the real clock for the wait to mean anything.
    pub async fn next(&self, at: DateTime<Utc>) -> Result<MsgId, MsgIdSourceError> {
        // Held across the counter write and any wait, so stamps and counter values advance
        // together and a waiting caller keeps its place.
        let mut state = self.state.lock().await;
        if state.next > state.end {
            let block = self.store.reserve_sequence(COUNTER, BLOCK).await?;
            state.next = *block.start();
            state.end = *block.end();
        }
        let value = state.next;
        state.next += 1;
        if at.timestamp() > state.stamp {
            state.stamp = at.timestamp();
            state.issued = 0;
            state.next_second = self.waiter.now() + until_next_second(at);
        }
        if state.issued >= u32::from(self.layout.per_second()) {
            tracing::debug!(
                per_second = self.layout.per_second(),
                "msgid: this second's sequence values are used up, waiting for the next second"
            );
            self.waiter.wait_until(state.next_second).await;
            state.stamp += 1;
            state.issued = 0;
            state.next_second += Duration::from_secs(1);
        }
        state.issued += 1;
        let stamp = DateTime::from_timestamp(state.stamp, 0).unwrap_or(at);
        Ok(MsgId::with_layout(
            &self.fixmedins_code,
            stamp,
            self.layout,
            value,
        )?)
    }
}

/// How long from `at` until the wall clock shows the next whole second.
fn until_next_second(at: DateTime<Utc>) -> Duration {
    let nanos = u64::from(at.timestamp_subsec_nanos().min(999_999_999));
    Duration::from_nanos(1_000_000_000 - nanos)
}

#[cfg(test)]
mod tests;
