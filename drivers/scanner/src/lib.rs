//! Counter scan boxes: the devices that decode a QR code themselves and send its text.
//!
//! Two transports, both producing [`Scan`]s on one bounded channel: USB serial (CDC-ACM,
//! [`serial`]) and HID keyboard wedges read through evdev ([`hid`]). Framing ([`framer`]) and
//! key decoding ([`keymap`]) are pure code tested with data; the device loops only move bytes
//! and reconnect when the device disappears. This crate does not interpret scans (the core's
//! `qr::classify` does) and never logs their content: a scan may be a credential.

pub mod framer;
pub mod hid;
pub mod keymap;
pub mod serial;
mod sink;

use std::fmt;

pub use sink::{ScanReceiver, ScanSender, ScannerStats, channel};

/// Which transport produced a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanSource {
    Serial,
    Hid,
}

/// One scanned code: the bytes as the box sent them (terminator removed) and their text.
#[derive(Clone, PartialEq, Eq)]
pub struct Scan {
    pub source: ScanSource,
    pub bytes: Vec<u8>,
    /// The bytes as UTF-8 when valid, otherwise decoded as GBK (Chinese-mode boxes); invalid
    /// sequences become U+FFFD. The bytes stay authoritative.
    pub text: String,
    /// True when the inter-byte timeout, not a terminator, ended the scan.
    pub by_timeout: bool,
}

impl Scan {
    /// Builds a scan, decoding the text.
    pub fn new(source: ScanSource, bytes: Vec<u8>, by_timeout: bool) -> Self {
        let text = match std::str::from_utf8(&bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => encoding_rs::GBK
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned(),
        };
        Self {
            source,
            bytes,
            text,
            by_timeout,
        }
    }
}

impl fmt::Debug for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Content is never shown: a scan may carry an ID number or a bearer code.
        write!(
            f,
            "Scan({:?}, {} bytes, by_timeout={})",
            self.source,
            self.bytes.len(),
            self.by_timeout
        )
    }
}

/// Connection state of one scan box, as published on [`ScannerStats`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LinkState {
    #[default]
    Connecting,
    Connected,
    /// The device is gone or failed to open; a retry follows after the reconnect delay.
    Disconnected {
        reason: String,
    },
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_utf8_or_gbk_and_debug_hides_content() {
        let s = Scan::new(ScanSource::Serial, "张三".as_bytes().to_vec(), false);
        assert_eq!(s.text, "张三");
        let gbk = Scan::new(ScanSource::Hid, vec![0xd5, 0xc5, 0xc8, 0xfd], false);
        assert_eq!(gbk.text, "张三");
        assert_eq!(format!("{gbk:?}"), "Scan(Hid, 4 bytes, by_timeout=false)");
    }
}
