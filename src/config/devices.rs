//! Configuration of the card readers (`[readers]`) and of card acceptance (`[card]`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::card::{InterfacePolicy, SlotKind};

/// Which reader stack the daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderBackend {
    /// Real readers through pcscd.
    #[default]
    Pcsc,
    /// A virtual card inside the daemon (demo and tests; no pcscd needed).
    Virtual,
    /// No card readers at this terminal (QR only).
    None,
}

/// A reader-name rule: readers whose name contains `pattern` (ASCII case-insensitive) are of
/// `kind`. Rules are tried in order before the built-in defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRule {
    /// Part of the reader name, e.g. "PICC" or "Terminal 00 01".
    pub pattern: String,
    /// `contact`, `contactless` or `sam`.
    pub kind: SlotKind,
}

/// `[readers]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadersConfig {
    /// `pcsc`, `virtual` or `none`.
    pub backend: ReaderBackend,
    /// Default slot preference when a request names none.
    pub policy: InterfacePolicy,
    /// Only use the reader with exactly this name (default: any).
    pub reader: Option<String>,
    /// How long a read waits for a card to be presented, in milliseconds.
    pub wait_ms: u64,
    /// Extra reader-name rules, tried before the defaults.
    pub slots: Vec<SlotRule>,
    /// Card profile (JSON) of the virtual card, for `backend = "virtual"`.
    pub virtual_profile: Option<PathBuf>,
}

impl Default for ReadersConfig {
    fn default() -> Self {
        ReadersConfig {
            backend: ReaderBackend::Pcsc,
            policy: InterfacePolicy::AutoContact,
            reader: None,
            wait_ms: 20_000,
            slots: Vec::new(),
            virtual_profile: None,
        }
    }
}

impl ReadersConfig {
    /// The kind of a reader slot: the configured rules first, then
    /// [`default_slot_kind`](crate::card::default_slot_kind).
    pub fn classify(&self, reader: &str) -> SlotKind {
        let name = reader.to_ascii_lowercase();
        if let Some(rule) = self
            .slots
            .iter()
            .find(|r| name.contains(&r.pattern.to_ascii_lowercase()))
        {
            return rule.kind;
        }
        crate::card::default_slot_kind(reader)
    }
}

/// `[card]`: which cards are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardConfig {
    /// Accepted card specification versions (规范版本), as the card reports them.
    pub spec_versions: Vec<String>,
    /// File of blacklisted card numbers / card identifiers, one per line (optional).
    pub blacklist: Option<PathBuf>,
}

impl Default for CardConfig {
    fn default() -> Self {
        CardConfig {
            spec_versions: vec!["2.00".to_owned(), "3.00".to_owned()],
            blacklist: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_slot_classification() {
        let c = ReadersConfig::default();
        for (name, kind) in [
            ("Virtual PCD 00 00", SlotKind::Contact),
            (
                "ACS ACR1281 1S Dual Reader PICC 00 00",
                SlotKind::Contactless,
            ),
            ("ACS ACR1281 1S Dual Reader SAM 00 01", SlotKind::Sam),
            ("Generic Contactless Reader 01 00", SlotKind::Contactless),
            ("OMNIKEY CardMan 5x21-CL 0", SlotKind::Contactless),
            ("Samsung Reader 00 00", SlotKind::Contact),
            ("CLASSIC Reader 00 00", SlotKind::Contact),
        ] {
            assert_eq!(c.classify(name), kind, "{name}");
        }
    }

    #[test]
    fn configured_rules_come_first() {
        let c = ReadersConfig {
            slots: vec![SlotRule {
                pattern: "pcd 00 01".into(),
                kind: SlotKind::Contactless,
            }],
            ..ReadersConfig::default()
        };
        assert_eq!(c.classify("Virtual PCD 00 01"), SlotKind::Contactless);
        assert_eq!(c.classify("Virtual PCD 00 00"), SlotKind::Contact);
    }
}

/// `[qr]`: QR credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QrConfig {
    /// e-SSC issuer public keys: key id (`kid`) → uncompressed SEC1 hex (`04‖x‖y`).
    pub essc_keys: std::collections::BTreeMap<String, String>,
    /// Clock skew tolerated on an e-SSC code's validity window, in seconds.
    pub essc_skew_secs: i64,
    /// The same code seen again within this window is one scan, in milliseconds.
    pub debounce_ms: u64,
    /// Camera source replaying a directory of images (tests, demo, lab), in name order.
    pub camera_dir: Option<PathBuf>,
    /// Replay `camera_dir` in a loop.
    pub camera_loop: bool,
    /// A counter scan box on a serial port (USB CDC-ACM), e.g. `/dev/serial/by-id/usb-…`.
    pub serial: Option<PathBuf>,
    /// Its baud rate (ignored by CDC-ACM boxes).
    pub serial_baud: u32,
    /// The scan boxes send an AIM symbology identifier (`]C0` Code 128, `]d2` GS1 DataMatrix,
    /// `]Q1` QR Code, `]E0` EAN-13, …) before each code: strip it and record the symbology,
    /// which tells a box's trace code from a credential for certain. Only when the boxes are
    /// configured to send one (traceability.md, rule 5): otherwise a code that happens to start
    /// with `]` would lose its first three characters.
    pub aim_ids: bool,
    /// A keyboard-wedge scan box (HID), grabbed exclusively: `/dev/input/by-id/…-event-kbd`.
    pub hid: Option<PathBuf>,
    /// A live V4L2 camera by index (0 = /dev/video0); needs a build with `--features v4l`.
    /// Prefer `camera_device`: the index of a camera changes with what else is plugged in.
    pub camera_index: Option<u32>,
    /// A live V4L2 camera by device path, best the stable udev name
    /// `/dev/v4l/by-id/usb-<vendor>_<model>_<serial>-video-index0` (same camera whichever USB
    /// port, whatever boot order); followed to its `/dev/videoN` node at every (re)open.
    /// Needs a build with `--features v4l` (the Debian package has it). Not together with
    /// `camera_index`.
    pub camera_device: Option<PathBuf>,
    /// Accept the e-SSC test keys published in this repository (their private halves are
    /// committed, so anyone can mint codes they verify). For tests and demos only: builds
    /// without the `demo` feature (the Debian package) refuse it, no shipped config or example
    /// has it, and no error message suggests it. See `config::validate::test_keys`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_test_keys: bool,
}

impl Default for QrConfig {
    fn default() -> Self {
        QrConfig {
            essc_keys: Default::default(),
            essc_skew_secs: 30,
            debounce_ms: 2_000,
            camera_dir: None,
            camera_loop: true,
            serial: None,
            serial_baud: 9_600,
            aim_ids: false,
            hid: None,
            camera_index: None,
            camera_device: None,
            allow_test_keys: false,
        }
    }
}

impl QrConfig {
    /// The live camera `camera_device` or `camera_index` names, if any; both at once is a
    /// mistake the daemon refuses rather than guessing which one the operator meant.
    pub fn live_camera(&self) -> Result<Option<medsettle_camera::CameraDevice>, String> {
        match (&self.camera_device, self.camera_index) {
            (Some(_), Some(_)) => {
                Err("qr.camera_device and qr.camera_index both name a camera; keep one".to_owned())
            }
            (Some(path), None) => Ok(Some(medsettle_camera::CameraDevice::Path(path.clone()))),
            (None, Some(index)) => Ok(Some(medsettle_camera::CameraDevice::Index(index))),
            (None, None) => Ok(None),
        }
    }

    /// The issuer key ring.
    pub fn key_ring(&self) -> Result<crate::qr::essc::KeyRing, crate::qr::essc::KeyError> {
        crate::qr::essc::KeyRing::from_hex(
            self.essc_keys.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

#[cfg(test)]
mod qr_tests {
    use super::*;

    #[test]
    fn camera_by_id_path_or_index_not_both() {
        let qr: QrConfig =
            toml::from_str("camera_device = \"/dev/v4l/by-id/usb-Acme_QR_Cam_0001-video-index0\"")
                .expect("parses");
        assert_eq!(
            qr.live_camera().expect("one camera"),
            Some(medsettle_camera::CameraDevice::Path(
                "/dev/v4l/by-id/usb-Acme_QR_Cam_0001-video-index0".into()
            ))
        );
        let qr: QrConfig = toml::from_str("camera_index = 1").expect("parses");
        assert_eq!(
            qr.live_camera().expect("one camera"),
            Some(medsettle_camera::CameraDevice::Index(1))
        );
        assert_eq!(QrConfig::default().live_camera().expect("none"), None);
        let both: QrConfig =
            toml::from_str("camera_index = 1\ncamera_device = \"/dev/video1\"").expect("parses");
        assert!(both.live_camera().unwrap_err().contains("keep one"));
    }
}
