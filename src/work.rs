//! Counting in-flight work so a shutdown can drain it.
//!
//! Every unit of work that must not be cut off (an API request today, a settlement later)
//! holds a [`WorkGuard`]; the daemon waits for the count to reach zero, up to its grace
//! timeout, before it exits. Holds no data about the work itself, and depends on no other
//! module: the API (which starts work) and the daemon (which drains it) both use it.

use std::sync::Arc;

use tokio::sync::watch;

/// Counts guards alive. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WorkTracker {
    count: Arc<watch::Sender<usize>>,
}

impl Default for WorkTracker {
    fn default() -> Self {
        WorkTracker {
            count: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// Marks one unit of work in flight until dropped.
#[derive(Debug)]
pub struct WorkGuard {
    count: Arc<watch::Sender<usize>>,
}

impl WorkTracker {
    /// Registers one unit of work.
    pub fn start(&self) -> WorkGuard {
        self.count.send_modify(|n| *n += 1);
        WorkGuard {
            count: Arc::clone(&self.count),
        }
    }

    /// How many units are in flight now.
    pub fn in_flight(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves when nothing is in flight.
    pub async fn drained(&self) {
        let mut rx = self.count.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_the_last_guard() {
        let t = WorkTracker::default();
        let a = t.start();
        let b = t.start();
        assert_eq!(t.in_flight(), 2);
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.drained().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.unwrap();
        assert_eq!(t.in_flight(), 0);
    }
}
