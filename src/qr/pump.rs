//! The decoder loop between a camera thread's [`Mailbox`] (`medsettle-frame`: single slot,
//! newest wins) and the QR service. [`run_decoder`]: newest frame → cascade → debounce →
//! [`Scan`].
//!
//! Each frame's decode is isolated: a decoder that panics on a crafted code costs that frame
//! only. The panic is caught, counted in the process-wide [`DecoderStats`] (the daemon shows
//! the count and the last time on its status board and in `/metrics`) and the loop takes the
//! next frame. What the closure touches is the frame it owns (taken out of the mailbox, so no
//! lock is held and no shared buffer can be left half-written), the cascade (`&self`, no
//! interior state: each decode builds its own variant buffers) and nothing else; the debouncer
//! is used only after a decode returned.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Mailbox;
use super::cascade::{Cascade, Outcome, Variant};
use super::debounce::Debouncer;
use super::decode::Decoded;
use super::frame::GreyFrame;

/// Decoder panics caught in this process: how many, and when the last one was (Unix ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PanicCount {
    pub total: u64,
    pub last_at_ms: Option<i64>,
}

/// The decoder threads' health, shared by every pipeline of the process.
pub struct DecoderStats {
    panics: watch::Sender<PanicCount>,
}

static STATS: LazyLock<DecoderStats> = LazyLock::new(|| DecoderStats {
    panics: watch::Sender::new(PanicCount::default()),
});

/// The process's decoder statistics.
pub fn decoder_stats() -> &'static DecoderStats {
    &STATS
}

impl DecoderStats {
    /// The count now.
    pub fn panics(&self) -> PanicCount {
        *self.panics.borrow()
    }

    /// Changes of the count (the daemon's status board follows it).
    pub fn subscribe(&self) -> watch::Receiver<PanicCount> {
        self.panics.subscribe()
    }

    fn record_panic(&self) {
        let at = chrono::Utc::now().timestamp_millis();
        self.panics.send_modify(|p| {
            p.total += 1;
            p.last_at_ms = Some(at);
        });
    }
}

/// Test hook (test and `demo` builds only; the packaged build has none): with
/// `MEDSETTLE_TEST_QR_DECODER_PANICS=N` in the environment, the first `N` frames a decoder
/// loop takes panic inside the decode, as a crafted code would.
#[cfg(any(test, feature = "demo"))]
mod hook {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub const VAR: &str = "MEDSETTLE_TEST_QR_DECODER_PANICS";

    pub struct PanicHook {
        left: AtomicU64,
    }

    impl PanicHook {
        pub fn from_env() -> PanicHook {
            let n = std::env::var(VAR)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            PanicHook::new(n)
        }

        pub fn new(n: u64) -> PanicHook {
            PanicHook {
                left: AtomicU64::new(n),
            }
        }

        pub fn fire(&self) {
            let take = self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if take.is_ok() {
                panic!("test hook {VAR}: decoder panic");
            }
        }
    }
}

#[cfg(not(any(test, feature = "demo")))]
mod hook {
    pub struct PanicHook;

    impl PanicHook {
        pub fn from_env() -> PanicHook {
            PanicHook
        }

        #[inline(always)]
        pub fn fire(&self) {}
    }
}

/// The thread name of the daemon's decoder loops (`cli/devices.rs` names them so).
pub const DECODER_THREAD: &str = "qr-decoder";

/// Keeps the default panic message (a line on stderr per panic, outside the log and its
/// repeat limit) quiet for the decoder threads: their panics are caught per frame and logged
/// by [`decode_frame`], and a crafted code held in view panics on every frame. Other threads
/// keep the previous hook. Installed once per process.
fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(DECODER_THREAD) {
                previous(info);
            }
        }));
    });
}

/// Decodes one frame; a panic inside is caught and counted, and the frame yields nothing.
fn decode_frame(cascade: &Cascade, frame: &GreyFrame, hook: &hook::PanicHook) -> Option<Outcome> {
    // Unwind safety: the closure reads the frame (owned by this loop, dropped after) and the
    // cascade (shared, stateless between calls); nothing it could leave half-updated is
    // observed after a panic.
    let result = catch_unwind(AssertUnwindSafe(|| {
        hook.fire();
        cascade.decode(frame.view())
    }));
    match result {
        Ok(outcome) => Some(outcome),
        Err(payload) => {
            STATS.record_panic();
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(seq = frame.seq, panic = %what, "QR decoder panicked on a frame; frame skipped, scanning continues");
            None
        }
    }
}

/// One scan: a decoded code that passed the debounce window.
#[derive(Clone, Debug)]
pub struct Scan {
    pub decoded: Decoded,
    pub decoder: &'static str,
    pub variant: Variant,
    /// Time the cascade spent on the frame.
    pub decode_time: Duration,
    /// The frame's sequence number and capture time.
    pub seq: u64,
    pub captured_at: Instant,
}

/// The decoder loop: takes the newest frame until the mailbox closes, decodes it with
/// `cascade`, and hands every code that `debounce` lets through to `on_scan`. Run it on its own
/// thread (decoding is CPU-bound and blocking). A frame whose decode panics is skipped and
/// counted ([`decoder_stats`]). Returns the number of frames taken.
pub fn run_decoder(
    mailbox: &Mailbox,
    cascade: &Cascade,
    debounce: &mut Debouncer,
    on_scan: impl FnMut(Scan),
) -> u64 {
    quiet_decoder_panics();
    run_with_hook(
        mailbox,
        cascade,
        debounce,
        &hook::PanicHook::from_env(),
        on_scan,
    )
}

fn run_with_hook(
    mailbox: &Mailbox,
    cascade: &Cascade,
    debounce: &mut Debouncer,
    hook: &hook::PanicHook,
    mut on_scan: impl FnMut(Scan),
) -> u64 {
    let mut frames = 0;
    while let Some(frame) = mailbox.recv() {
        frames += 1;
        let Some(outcome) = decode_frame(cascade, &frame, hook) else {
            continue;
        };
        let Some(hit) = outcome.hit else { continue };
        for decoded in outcome.decoded {
            if debounce.accept(&decoded.bytes, frame.captured_at) {
                on_scan(Scan {
                    decoded,
                    decoder: hit.decoder,
                    variant: hit.variant,
                    decode_time: outcome.elapsed,
                    seq: frame.seq,
                    captured_at: frame.captured_at,
                });
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qr::GreyFrame;
    use std::sync::Arc;

    fn frame(seq: u64) -> GreyFrame {
        GreyFrame::new(64, 48, vec![128u8; 64 * 48], seq)
    }

    #[test]
    fn a_flood_while_decoding_stays_bounded() {
        let mb = Arc::new(Mailbox::new());
        let producer = {
            let mb = Arc::clone(&mb);
            std::thread::spawn(move || {
                let mut max_len = 0;
                for seq in 0..5000 {
                    mb.push(frame(seq));
                    max_len = max_len.max(mb.len());
                }
                mb.close();
                max_len
            })
        };
        let cascade = Cascade::default();
        let mut debounce = Debouncer::default();
        let decoded = run_decoder(&mb, &cascade, &mut debounce, |s| panic!("no code: {s:?}"));
        let max_len = producer.join().expect("producer");
        assert!(max_len <= 1, "queue length {max_len}");
        assert_eq!(decoded, mb.delivered());
        assert_eq!(
            mb.dropped() + mb.delivered(),
            5000,
            "every frame decoded or dropped"
        );
        assert!(mb.dropped() > 0, "the decoder is slower than the flood");
    }

    /// A frame showing `text` as a QR code (4 px modules, quiet zone).
    fn code_frame(text: &str, seq: u64) -> GreyFrame {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let modules = code.width();
        let colors = code.to_colors();
        let (scale, quiet) = (4, 4);
        let side = (modules + 2 * quiet) * scale;
        let mut px = vec![255u8; side * side];
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = (x / scale, y / scale);
                if (quiet..quiet + modules).contains(&mx)
                    && (quiet..quiet + modules).contains(&my)
                    && colors[(my - quiet) * modules + (mx - quiet)] == qrcode::Color::Dark
                {
                    px[y * side + x] = 0;
                }
            }
        }
        GreyFrame::new(side as u32, side as u32, px, seq)
    }

    #[test]
    fn a_panicking_decode_costs_its_frame_only() {
        let before = decoder_stats().panics().total;
        let mb = Mailbox::new();
        let cascade = Cascade::default();
        let mut debounce = Debouncer::default();
        let hook = hook::PanicHook::new(2);
        let mut scans = Vec::new();
        // Pushed one at a time and taken before the next: none is dropped.
        for seq in 0..3 {
            mb.push(code_frame("HELLO-AFTER-PANIC", seq));
            let frame = mb.recv().unwrap();
            let outcome = decode_frame(&cascade, &frame, &hook);
            assert_eq!(outcome.is_none(), seq < 2, "frame {seq}");
            if let Some(o) = outcome {
                scans.extend(o.decoded);
            }
        }
        assert_eq!(scans.len(), 1);
        assert_eq!(scans[0].bytes, b"HELLO-AFTER-PANIC");
        let after = decoder_stats().panics();
        assert!(after.total >= before + 2, "{after:?}");
        assert!(after.last_at_ms.is_some());
        // And through the loop: the panicking frames are skipped, the next one scans, the
        // mailbox still works (its lock is not poisoned).
        let hook = hook::PanicHook::new(1);
        mb.push(code_frame("SECOND", 10));
        let mut seen = Vec::new();
        let base = mb.delivered();
        let taken = |n: u64| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while mb.delivered() < base + n {
                assert!(
                    Instant::now() < deadline,
                    "the decoder loop stopped taking frames"
                );
                std::thread::yield_now();
            }
        };
        let reader = std::thread::scope(|s| {
            let h = s.spawn(|| {
                run_with_hook(&mb, &cascade, &mut debounce, &hook, |scan| {
                    seen.push(scan.decoded.bytes)
                })
            });
            // The first frame panics; wait until it was taken, then show the code again.
            taken(1);
            mb.push(code_frame("SECOND", 11));
            taken(2);
            mb.close();
            h.join().unwrap()
        });
        assert_eq!(reader, 2);
        assert_eq!(seen, vec![b"SECOND".to_vec()]);
    }
}
