//! The frame pump between a camera thread and the decoder. Frames arrive faster than they
//! decode, so the hand-over is a single-slot [`Mailbox`]: a new frame replaces the one waiting
//! (counted as dropped) and the decoder always gets the newest. Never a queue: memory holds at
//! most one waiting frame whatever the camera does. [`run_decoder`] is the decoder loop:
//! newest frame → cascade → debounce → [`Scan`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::cascade::{Cascade, Variant};
use super::debounce::Debouncer;
use super::decode::Decoded;
use super::frame::GreyFrame;

#[derive(Default)]
struct Slot {
    frame: Option<GreyFrame>,
    closed: bool,
}

/// A single-slot, newest-wins hand-over of frames between two threads.
#[derive(Default)]
pub struct Mailbox {
    slot: Mutex<Slot>,
    ready: Condvar,
    dropped: AtomicU64,
    delivered: AtomicU64,
}

impl Mailbox {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `frame` in the slot, replacing (and counting as dropped) a frame not yet taken.
    /// After [`close`](Self::close) the frame is dropped and counted too.
    pub fn push(&self, frame: GreyFrame) {
        let mut slot = self.lock();
        if slot.closed || slot.frame.replace(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(slot);
        self.ready.notify_one();
    }

    /// The newest frame, waiting for one; `None` once closed and empty.
    pub fn recv(&self) -> Option<GreyFrame> {
        let mut slot = self.lock();
        loop {
            if let Some(frame) = slot.frame.take() {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                return Some(frame);
            }
            if slot.closed {
                return None;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The newest frame if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<GreyFrame> {
        let frame = self.lock().frame.take();
        if frame.is_some() {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        frame
    }

    /// No more frames: [`recv`](Self::recv) returns what is left, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Frames waiting: 0 or 1, by construction.
    pub fn len(&self) -> usize {
        usize::from(self.lock().frame.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames replaced before the decoder took them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Frames handed to the decoder.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
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
/// thread (decoding is CPU-bound and blocking). Returns the number of frames decoded.
pub fn run_decoder(
    mailbox: &Mailbox,
    cascade: &Cascade,
    debounce: &mut Debouncer,
    mut on_scan: impl FnMut(Scan),
) -> u64 {
    let mut frames = 0;
    while let Some(frame) = mailbox.recv() {
        frames += 1;
        let outcome = cascade.decode(frame.view());
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
    use std::sync::Arc;

    fn frame(seq: u64) -> GreyFrame {
        GreyFrame::new(64, 48, vec![128u8; 64 * 48], seq)
    }

    #[test]
    fn newest_frame_wins_and_the_rest_are_counted() {
        let mb = Mailbox::new();
        for seq in 0..1000 {
            mb.push(frame(seq));
            assert!(mb.len() <= 1);
        }
        assert_eq!(mb.dropped(), 999);
        assert_eq!(mb.recv().map(|f| f.seq), Some(999));
        assert!(mb.try_recv().is_none());
        mb.close();
        assert!(mb.recv().is_none());
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
}
