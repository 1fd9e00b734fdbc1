//! Debounce: a code held in front of the camera is one scan, not thirty. A payload seen again
//! within the window of its last sighting is suppressed, and the sighting extends the window,
//! so a code left in view stays one scan; shown again after a gap longer than the window, it
//! is a new scan. Time is passed in, never read here, so tests need no clock or sleeps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Remembers recent payloads (by bytes) and when each was last seen.
#[derive(Debug)]
pub struct Debouncer {
    window: Duration,
    last_seen: HashMap<Vec<u8>, Instant>,
}

impl Default for Debouncer {
    /// A 2 s window.
    fn default() -> Self {
        Debouncer::new(Self::DEFAULT_WINDOW)
    }
}

impl Debouncer {
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

    pub fn new(window: Duration) -> Self {
        Debouncer {
            window,
            last_seen: HashMap::new(),
        }
    }

    /// True when `payload` seen at `now` is a new scan; false when it repeats one still in its
    /// window. Either way `now` becomes its last sighting. Entries past the window are dropped,
    /// so memory is bounded by the codes seen within one window.
    pub fn accept(&mut self, payload: &[u8], now: Instant) -> bool {
        let window = self.window;
        self.last_seen
            .retain(|_, seen| now.saturating_duration_since(*seen) <= window);
        self.last_seen.insert(payload.to_vec(), now).is_none()
    }

    /// Payloads currently remembered.
    pub fn len(&self) -> usize {
        self.last_seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_held_in_view_is_one_scan() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        assert!(d.accept(b"ESSC1.a.b", t0));
        // 30 frames a second for 5 s: the sightings keep extending the window.
        for i in 1..150u64 {
            assert!(
                !d.accept(b"ESSC1.a.b", t0 + Duration::from_millis(i * 33)),
                "frame {i}"
            );
        }
    }

    #[test]
    fn shown_again_after_the_window_is_a_new_scan() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::from_millis(500));
        assert!(d.accept(b"123456789012345678", t0));
        assert!(!d.accept(b"123456789012345678", t0 + Duration::from_millis(500)));
        assert!(d.accept(b"123456789012345678", t0 + Duration::from_millis(1001)));
    }

    #[test]
    fn different_codes_are_different_scans_and_old_ones_are_forgotten() {
        let t0 = Instant::now();
        let mut d = Debouncer::default();
        assert!(d.accept(b"A", t0));
        assert!(d.accept(b"B", t0 + Duration::from_millis(10)));
        assert_eq!(d.len(), 2);
        assert!(d.accept(b"C", t0 + Duration::from_secs(10)));
        assert_eq!(d.len(), 1, "A and B fell out of the window");
    }
}
