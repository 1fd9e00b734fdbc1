//! The bounded scan channel and the counters every transport updates.
//!
//! A scan box must never block on a slow consumer: when the channel is full the scan is
//! dropped and counted, and the count is visible on [`ScannerStats`] (a `watch` channel, so
//! tests and the status page wait for changes instead of polling).

use tokio::sync::{mpsc, watch};

use crate::{LinkState, Scan};

/// Counters and link state of the scanners feeding one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScannerStats {
    /// Scans framed by a transport (delivered + dropped).
    pub framed: u64,
    /// Scans delivered to the channel.
    pub delivered: u64,
    /// Scans dropped because the channel was full.
    pub dropped: u64,
    /// Scans longer than the configured maximum, cut and discarded.
    pub oversized: u64,
    /// Times a device open was attempted.
    pub attempts: u64,
    /// Times a device was (re)opened successfully.
    pub connects: u64,
    pub link: LinkState,
}

/// The transports' end: cloneable, never blocks.
#[derive(Clone)]
pub struct ScanSender {
    tx: mpsc::Sender<Scan>,
    stats: watch::Sender<ScannerStats>,
}

/// The consumer's end.
pub struct ScanReceiver {
    pub scans: mpsc::Receiver<Scan>,
    pub stats: watch::Receiver<ScannerStats>,
}

/// A scan channel holding at most `capacity` undelivered scans (at least 1).
pub fn channel(capacity: usize) -> (ScanSender, ScanReceiver) {
    let (tx, scans) = mpsc::channel(capacity.max(1));
    let (stats, stats_rx) = watch::channel(ScannerStats::default());
    (
        ScanSender { tx, stats },
        ScanReceiver {
            scans,
            stats: stats_rx,
        },
    )
}

impl ScanSender {
    /// Offers a scan; drops and counts it when the channel is full or closed.
    pub fn offer(&self, scan: Scan) {
        let delivered = self.tx.try_send(scan).is_ok();
        if !delivered {
            tracing::warn!("scan dropped: consumer not keeping up");
        }
        self.stats.send_modify(|s| {
            s.framed += 1;
            if delivered {
                s.delivered += 1;
            } else {
                s.dropped += 1;
            }
        });
    }

    /// Counts an oversized scan.
    pub fn oversized(&self) {
        self.stats.send_modify(|s| s.oversized += 1);
    }

    /// Publishes a link state change.
    pub fn link(&self, link: LinkState) {
        self.stats.send_modify(|s| {
            match link {
                LinkState::Connecting => s.attempts += 1,
                LinkState::Connected => s.connects += 1,
                _ => {}
            }
            s.link = link;
        });
    }

    /// True once the consumer is gone: transports stop.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
