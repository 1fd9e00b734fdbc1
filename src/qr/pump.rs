//! The decoder loop between a camera thread's [`Mailbox`] (`medsettle-frame`: single slot,
//! newest wins) and the QR service. [`run_decoder`]: newest frame → cascade → debounce →
//! [`Scan`].

use std::time::{Duration, Instant};

use super::Mailbox;
use super::cascade::{Cascade, Variant};
use super::debounce::Debouncer;
use super::decode::Decoded;

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
}
