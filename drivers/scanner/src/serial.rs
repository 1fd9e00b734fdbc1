//! USB serial (CDC-ACM) scan boxes: open the port, frame its bytes, reopen when it vanishes.
//!
//! [`run_serial`] owns one port until `shutdown` resolves or the consumer drops the channel.
//! Unplugging the box makes reads fail (EIO/EOF); the loop reports
//! [`LinkState::Disconnected`] and retries every `reconnect_delay`, so replugging (udev
//! gives it the same `/dev/serial/by-id/…` path) needs no restart. Scan content is never logged.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::framer::{Frame, Framer, Terminator};
use crate::{LinkState, Scan, ScanSender, ScanSource};

/// One serial scan box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialConfig {
    /// Prefer the stable `/dev/serial/by-id/usb-…` link over `/dev/ttyACM0`.
    pub path: PathBuf,
    /// Ignored by CDC-ACM boxes, needed by RS-232 ones (9600 is the usual factory setting).
    pub baud: u32,
    pub terminator: Terminator,
    /// A partial scan is complete after this much silence (boxes without a terminator).
    pub inter_byte_timeout: Duration,
    /// Longest scan kept; longer ones are counted as oversized and discarded.
    pub max_len: usize,
    pub reconnect_delay: Duration,
}

impl Default for SerialConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/dev/ttyACM0"),
            baud: 9600,
            terminator: Terminator::Cr,
            inter_byte_timeout: Duration::from_millis(100),
            max_len: 2048,
            reconnect_delay: Duration::from_secs(1),
        }
    }
}

enum Ended {
    Shutdown,
    Lost(String),
}

/// Reads scans from the configured port until `shutdown` resolves or the receiver is dropped.
pub async fn run_serial(
    config: SerialConfig,
    sink: ScanSender,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    while !sink.is_closed() {
        sink.link(LinkState::Connecting);
        let opened =
            tokio_serial::new(config.path.to_string_lossy(), config.baud).open_native_async();
        match opened {
            Ok(port) => {
                tracing::info!(path = %config.path.display(), "serial scan box connected");
                sink.link(LinkState::Connected);
                match read_port(port, &config, &sink, shutdown.as_mut()).await {
                    Ended::Shutdown => break,
                    Ended::Lost(reason) => {
                        tracing::warn!(path = %config.path.display(), %reason, "serial scan box lost");
                        sink.link(LinkState::Disconnected { reason });
                    }
                }
            }
            Err(e) => sink.link(LinkState::Disconnected {
                reason: e.to_string(),
            }),
        }
        tokio::select! {
            () = shutdown.as_mut() => break,
            () = tokio::time::sleep(config.reconnect_delay) => {}
        }
    }
    sink.link(LinkState::Stopped);
}

async fn read_port(
    mut port: SerialStream,
    config: &SerialConfig,
    sink: &ScanSender,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Ended {
    let mut framer = Framer::new(config.terminator, config.max_len);
    let mut buf = [0u8; 1024];
    loop {
        let partial = framer.has_partial();
        let frames = tokio::select! {
            () = shutdown.as_mut() => return Ended::Shutdown,
            () = tokio::time::sleep(config.inter_byte_timeout), if partial => {
                framer.flush().into_iter().collect()
            }
            read = port.read(&mut buf) => match read {
                Ok(0) => return Ended::Lost("end of stream".into()),
                Ok(n) => framer.push(&buf[..n]),
                Err(e) => return Ended::Lost(e.to_string()),
            },
        };
        for frame in frames {
            match frame {
                Frame::Complete { bytes, by_timeout } => {
                    sink.offer(Scan::new(ScanSource::Serial, bytes, by_timeout));
                }
                Frame::Oversized => sink.oversized(),
            }
        }
        if sink.is_closed() {
            return Ended::Shutdown;
        }
    }
}
