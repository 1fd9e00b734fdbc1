//! HID keyboard-wedge scan boxes read through evdev, grabbed so their keys never reach a
//! focused window.
//!
//! [`run_hid`] opens the event device (use the stable `/dev/input/by-id/…-event-kbd` link),
//! grabs it exclusively, decodes keys with [`KeyDecoder`] and ends a scan on the configured
//! control key (Enter by default) or after the inter-key timeout. When the device vanishes the
//! loop reports [`LinkState::Disconnected`] and reopens it every `reconnect_delay`. Needs read
//! access to the device node (the `input` group); nothing here is tested without hardware
//! beyond the pure [`crate::keymap`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use evdev::{Device, EventType};

use crate::keymap::{ControlKey, KeyDecoder};
use crate::{LinkState, Scan, ScanSender, ScanSource};

/// One keyboard-wedge scan box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidConfig {
    pub path: PathBuf,
    /// Grab the device exclusively (EVIOCGRAB). Leave on: otherwise scans are typed into
    /// whatever window has focus.
    pub grab: bool,
    /// The key that ends a scan; the other control key is kept as data (`\t` / `\r`).
    pub terminator: ControlKey,
    pub inter_key_timeout: Duration,
    pub max_len: usize,
    pub reconnect_delay: Duration,
}

impl Default for HidConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/dev/input/by-id/usb-scanner-event-kbd"),
            grab: true,
            terminator: ControlKey::Enter,
            inter_key_timeout: Duration::from_millis(200),
            max_len: 2048,
            reconnect_delay: Duration::from_secs(1),
        }
    }
}

/// Reads scans from the configured event device until `shutdown` resolves.
pub async fn run_hid(config: HidConfig, sink: ScanSender, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    while !sink.is_closed() {
        sink.link(LinkState::Connecting);
        let reason = match open(&config) {
            Ok(stream) => {
                sink.link(LinkState::Connected);
                tokio::select! {
                    () = shutdown.as_mut() => break,
                    reason = read_events(stream, &config, &sink) => reason,
                }
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(path = %config.path.display(), %reason, "HID scan box unavailable");
        sink.link(LinkState::Disconnected { reason });
        tokio::select! {
            () = shutdown.as_mut() => break,
            () = tokio::time::sleep(config.reconnect_delay) => {}
        }
    }
    sink.link(LinkState::Stopped);
}

fn open(config: &HidConfig) -> std::io::Result<evdev::EventStream> {
    let mut device = Device::open(&config.path)?;
    if config.grab {
        device.grab()?;
    }
    device.into_event_stream()
}

/// Returns why the device stopped delivering events.
async fn read_events(
    mut stream: evdev::EventStream,
    config: &HidConfig,
    sink: &ScanSender,
) -> String {
    let mut decoder = KeyDecoder::new();
    let mut buf = Vec::new();
    let mut overflow = false;
    loop {
        let partial = !buf.is_empty() || overflow;
        let event = tokio::select! {
            () = tokio::time::sleep(config.inter_key_timeout), if partial => {
                finish(&mut buf, std::mem::take(&mut overflow), sink, true);
                continue;
            }
            event = stream.next_event() => match event {
                Ok(event) => event,
                Err(e) => return e.to_string(),
            },
        };
        if event.event_type() != EventType::KEY {
            continue;
        }
        match decoder.feed(event.code(), event.value(), &mut buf) {
            Some(key) if key == config.terminator => {
                finish(&mut buf, std::mem::take(&mut overflow), sink, false);
            }
            Some(ControlKey::Tab) => buf.push(b'\t'),
            Some(ControlKey::Enter) => buf.push(b'\r'),
            None => {}
        }
        if buf.len() > config.max_len {
            // Keep reading to the terminator, then report one oversized scan.
            buf.clear();
            overflow = true;
        }
        if sink.is_closed() {
            return "consumer gone".into();
        }
    }
}

fn finish(buf: &mut Vec<u8>, overflow: bool, sink: &ScanSender, by_timeout: bool) {
    let bytes = std::mem::take(buf);
    if overflow {
        sink.oversized();
    } else if !bytes.is_empty() {
        sink.offer(Scan::new(ScanSource::Hid, bytes, by_timeout));
    }
}
