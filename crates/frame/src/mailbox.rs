//! The single-slot, newest-wins hand-over of frames between a camera thread and the decoder.
//! Frames arrive faster than they decode: a new frame replaces the one waiting (counted as
//! dropped) and the decoder always gets the newest. Never a queue: memory holds at most one
//! waiting frame whatever the camera does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::frame::GreyFrame;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
