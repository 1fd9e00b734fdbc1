//! Rate limiting for repeated warnings and errors: a device that fails in a loop (a reader
//! that keeps vanishing, a camera that cannot open, a scan box that floods garbage) must not
//! fill the journal or the disk.
//!
//! Per log call site (one `warn!`/`error!` line in the source, whatever its field values),
//! at most `burst` events pass in each `window`; the rest are dropped and counted. The
//! counts are reported by [`LogThrottle::report`] (the daemon calls it every minute) as one
//! warning per call site, and by the `medsettle_log_suppressed_total` metric. Info, debug and
//! trace events are never throttled: they are not repeated device errors, and sales must
//! always be logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where a throttled call site is in the source, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// `target` and `file:line` of the call site.
    pub site: String,
    /// Events dropped since the last report.
    pub count: u64,
}

struct Site {
    name: &'static Metadata<'static>,
    window_start: Instant,
    passed: u32,
    dropped: u64,
}

/// The shared state: per call site, the current window and what it dropped.
pub struct LogThrottle {
    burst: u32,
    window: Duration,
    sites: Mutex<HashMap<Identifier, Site>>,
    total: AtomicU64,
}

impl LogThrottle {
    /// At most `burst` warnings or errors per call site in each `window`.
    pub fn new(burst: u32, window: Duration) -> LogThrottle {
        LogThrottle {
            burst,
            window,
            sites: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
        }
    }

    /// Whether an event from `meta` may be written now (counts it either way).
    pub fn allow(&self, meta: &'static Metadata<'static>, now: Instant) -> bool {
        if *meta.level() > Level::WARN || self.burst == 0 {
            return true;
        }
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let site = sites.entry(meta.callsite()).or_insert(Site {
            name: meta,
            window_start: now,
            passed: 0,
            dropped: 0,
        });
        if now.duration_since(site.window_start) >= self.window {
            site.window_start = now;
            site.passed = 0;
        }
        if site.passed < self.burst {
            site.passed += 1;
            true
        } else {
            site.dropped += 1;
            self.total.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// The call sites that dropped events since the last call, and resets their counts.
    pub fn take_suppressed(&self) -> Vec<Suppressed> {
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Suppressed> = sites
            .values_mut()
            .filter(|s| s.dropped > 0)
            .map(|s| {
                let count = std::mem::take(&mut s.dropped);
                Suppressed {
                    site: format!(
                        "{} {}:{}",
                        s.name.target(),
                        s.name.file().unwrap_or("?"),
                        s.name.line().unwrap_or(0)
                    ),
                    count,
                }
            })
            .collect();
        // Sites that have been quiet for a whole window are forgotten, so the map stays as
        // small as the set of currently noisy call sites.
        let now = Instant::now();
        let window = self.window;
        sites.retain(|_, s| s.dropped > 0 || now.duration_since(s.window_start) < window);
        out.sort_by(|a, b| a.site.cmp(&b.site));
        out
    }

    /// Logs one warning per call site that dropped events since the last report.
    pub fn report(&self) {
        for s in self.take_suppressed() {
            tracing::warn!(site = %s.site, suppressed = s.count, "repeated log messages suppressed");
        }
    }

    /// Events dropped since the daemon started.
    pub fn total_suppressed(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// The layer that applies a [`LogThrottle`] to every output.
pub struct ThrottleLayer(pub std::sync::Arc<LogThrottle>);

impl<S: Subscriber> Layer<S> for ThrottleLayer {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        self.0.allow(event.metadata(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Counts what reaches the output.
    struct Count(Arc<AtomicU64>);
    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, _e: &Event<'_>, _c: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn noisy(n: usize) {
        for i in 0..n {
            tracing::warn!(attempt = i, "reader keeps failing");
        }
    }

    fn other(n: usize) {
        for _ in 0..n {
            tracing::error!("camera keeps failing");
        }
    }

    #[test]
    fn repeated_warnings_pass_up_to_the_burst_per_call_site() {
        let throttle = Arc::new(LogThrottle::new(5, Duration::from_secs(3600)));
        let seen = Arc::new(AtomicU64::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(ThrottleLayer(throttle.clone()))
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            noisy(1000);
            other(3);
            for _ in 0..50 {
                tracing::info!("a sale settled");
            }
        });
        // 5 from the noisy site, all 3 from the other, every info event.
        assert_eq!(seen.load(Ordering::Relaxed), 5 + 3 + 50);
        assert_eq!(throttle.total_suppressed(), 995);
        let s = throttle.take_suppressed();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].count, 995);
        assert!(s[0].site.contains("throttle.rs:"), "{}", s[0].site);
        assert!(
            throttle.take_suppressed().is_empty(),
            "counts reset on report"
        );
    }

    #[test]
    fn a_new_window_lets_the_burst_through_again() {
        let throttle = LogThrottle::new(2, Duration::from_secs(60));
        static CALLSITE_META: std::sync::OnceLock<&'static Metadata<'static>> =
            std::sync::OnceLock::new();
        // Capture a real call site's metadata through a layer.
        struct Grab;
        impl<S: Subscriber> Layer<S> for Grab {
            fn on_event(&self, e: &Event<'_>, _c: Context<'_, S>) {
                let _ = CALLSITE_META.set(e.metadata());
            }
        }
        tracing::subscriber::with_default(tracing_subscriber::registry().with(Grab), || {
            tracing::warn!("once");
        });
        let meta = *CALLSITE_META.get().unwrap();
        let t0 = Instant::now();
        let passed = (0..10).filter(|_| throttle.allow(meta, t0)).count();
        assert_eq!(passed, 2);
        let later = t0 + Duration::from_secs(61);
        let passed = (0..10).filter(|_| throttle.allow(meta, later)).count();
        assert_eq!(passed, 2);
        assert_eq!(throttle.total_suppressed(), 16);
    }

    #[test]
    fn a_burst_of_zero_turns_throttling_off() {
        let throttle = Arc::new(LogThrottle::new(0, Duration::from_secs(60)));
        let seen = Arc::new(AtomicU64::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(ThrottleLayer(throttle.clone()))
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || noisy(100));
        assert_eq!(seen.load(Ordering::Relaxed), 100);
    }
}
