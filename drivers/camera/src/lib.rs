//! Camera frame sources for medsettle: everything that turns a device or a file into
//! [`GreyFrame`]s. A [`FrameSource`] is blocking (run it on its own thread) and yields frames
//! in capture order; decoding, debouncing and pacing the decoder belong to the core (the daemon's `qr` module).
//!
//! Sources: [`DirectorySource`] (PNG/JPEG files in name order), [`Y4mSource`] (a Y4M video
//! replayed at a chosen frame rate) and, with the `v4l` feature, [`V4lSource`] (a UVC camera
//! through nokhwa, reconnecting with backoff), chosen by [`CameraDevice`] (an index or a
//! `/dev/v4l/by-id/…` path).

mod device;
mod dir;
#[cfg(feature = "v4l")]
mod v4l;
mod y4m;

pub use device::CameraDevice;
pub use dir::{DirectorySource, load_grey};
pub use medsettle_frame::GreyFrame;
#[cfg(feature = "v4l")]
pub use v4l::{Backoff, CameraConfig, V4lSource};
pub use y4m::{Y4mHeader, Y4mSource};

/// Why a source could not produce a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot decode image: {message}")]
    Image { path: String, message: String },
    #[error("{path}: not a Y4M stream: {message}")]
    Y4m { path: String, message: String },
    #[error("camera: {0}")]
    Camera(String),
}

impl SourceError {
    /// True when trying again later can help (a camera that went away), false for bad input.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Camera(_))
    }
}

/// A blocking producer of greyscale frames.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` at the end of a finite source.
    fn next_frame(&mut self) -> Result<Option<GreyFrame>, SourceError>;
}

/// Runs `source` on a new thread, pushing every frame into `mailbox` (newest wins) until the
/// source ends or fails; then closes the mailbox. Returns the frames produced.
pub fn spawn_capture(
    mut source: impl FrameSource + 'static,
    mailbox: std::sync::Arc<medsettle_frame::Mailbox>,
) -> std::thread::JoinHandle<Result<u64, SourceError>> {
    std::thread::spawn(move || {
        let mut frames = 0;
        let result = loop {
            match source.next_frame() {
                Ok(Some(frame)) => {
                    mailbox.push(frame);
                    frames += 1;
                }
                Ok(None) => break Ok(frames),
                Err(e) => break Err(e),
            }
        };
        mailbox.close();
        result
    })
}
