//! The live camera: a UVC/V4L2 device through nokhwa 0.10 (feature `v4l`), chosen by index or
//! by a `/dev/v4l/by-id/…` path ([`CameraDevice`], resolved again at every reopen), opened at
//! the closest format nokhwa offers to the requested resolution, frame rate and encoding
//! (MJPEG or YUYV), converted to greyscale by nokhwa. When the camera disappears (unplugged,
//! driver reset) the source reopens it with exponential backoff instead of failing. Kept thin
//! on purpose: everything above it is tested through the file sources, since CI has no
//! /dev/video*.
//!
//! # Enabling it
//!
//! The feature is off by default because nokhwa's V4L2 bindings run bindgen at build time:
//!
//! ```text
//! apt-get install libclang-dev libv4l-dev     # or: scripts/bootstrap (lists both)
//! cargo build -p medsettle-camera --features v4l
//! ```
//!
//! A crate that wants the live camera depends on `medsettle-camera` with
//! `features = ["v4l"]` and runs [`V4lSource`] through [`spawn_capture`](crate::spawn_capture).
//! `make lint` should keep the feature compiling (`cargo clippy -p medsettle-camera --features
//! v4l --all-targets -- -D warnings`). nokhwa's `camera-sync-impl` feature is enabled so that
//! its `Camera` is `Send`; the camera is opened and read only on the capture thread.

use std::time::Duration;

use nokhwa::Camera;
use nokhwa::pixel_format::LumaFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use crate::{CameraDevice, FrameSource, GreyFrame, SourceError};

/// Which camera and how to drive it.
#[derive(Clone, Debug)]
pub struct CameraConfig {
    /// Which camera: `CameraDevice::Index(0)` for /dev/video0, or a `/dev/v4l/by-id/…` path.
    pub device: CameraDevice,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Prefer MJPEG (less USB bandwidth); otherwise YUYV.
    pub mjpeg: bool,
    pub backoff: Backoff,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            device: CameraDevice::Index(0),
            width: 1280,
            height: 720,
            fps: 30,
            mjpeg: true,
            backoff: Backoff::default(),
        }
    }
}

/// Reconnection delays: `first`, doubling up to `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before attempt `n` (0-based) to reopen.
    pub fn delay(&self, n: u32) -> Duration {
        self.first.saturating_mul(1u32 << n.min(16)).min(self.max)
    }
}

/// A V4L2 camera that reopens itself after it disappears.
pub struct V4lSource {
    config: CameraConfig,
    camera: Option<Camera>,
    failures: u32,
    seq: u64,
}

impl V4lSource {
    /// Does not touch the device yet: the first [`next_frame`](FrameSource::next_frame) opens it.
    pub fn new(config: CameraConfig) -> Self {
        V4lSource {
            config,
            camera: None,
            failures: 0,
            seq: 0,
        }
    }

    fn open(&self) -> Result<Camera, SourceError> {
        let c = &self.config;
        let fourcc = if c.mjpeg {
            FrameFormat::MJPEG
        } else {
            FrameFormat::YUYV
        };
        let wanted = CameraFormat::new(Resolution::new(c.width, c.height), fourcc, c.fps);
        let format = RequestedFormat::new::<LumaFormat>(RequestedFormatType::Closest(wanted));
        // Resolved at every open: a by-id path may lead to another /dev/videoN after a replug.
        let index = c.device.resolve()?;
        let mut cam = Camera::new(CameraIndex::Index(index), format)
            .map_err(|e| SourceError::Camera(e.to_string()))?;
        cam.open_stream()
            .map_err(|e| SourceError::Camera(e.to_string()))?;
        Ok(cam)
    }
}

impl FrameSource for V4lSource {
    /// Blocks until a frame arrives, reopening the camera with backoff as often as needed.
    fn next_frame(&mut self) -> Result<Option<GreyFrame>, SourceError> {
        loop {
            if self.camera.is_none() {
                match self.open() {
                    Ok(cam) => self.camera = Some(cam),
                    // A path that leads to no camera node will not start to: say so once.
                    Err(e) if !e.is_retryable() => return Err(e),
                    Err(e) => {
                        let wait = self.config.backoff.delay(self.failures);
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "camera unavailable");
                        self.failures = self.failures.saturating_add(1);
                        std::thread::sleep(wait);
                        continue;
                    }
                }
            }
            let cam = self.camera.as_mut().expect("opened above");
            let grabbed = cam
                .frame()
                .and_then(|buf| buf.decode_image::<LumaFormat>())
                .map_err(|e| SourceError::Camera(e.to_string()));
            match grabbed {
                Ok(img) => {
                    self.failures = 0;
                    let (w, h) = img.dimensions();
                    let frame = GreyFrame::new(w, h, img.into_raw(), self.seq);
                    self.seq += 1;
                    return Ok(Some(frame));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "camera lost; reopening");
                    self.camera = None; // dropping it closes the stream
                }
            }
        }
    }
}
