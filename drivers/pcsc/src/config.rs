//! Reader configuration: how reader names map to slot kinds, and the interface policies of the
//! 通用接口 (`iType` 1–4). Pure data and string matching; no PC/SC calls.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use medsettle_card::{InterfacePolicy, SlotKind, default_slot_kind};

/// A configured name rule: a reader whose name contains `pattern` (case-insensitive) is `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRule {
    pub pattern: String,
    pub kind: SlotKind,
}

/// Settings of the reader thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderConfig {
    /// Checked in order before the default name patterns.
    pub slot_rules: Vec<SlotRule>,
    /// Reset the card when a `with_card` sequence ends, so no PIN or authentication state
    /// outlives it (default true).
    pub reset_after_use: bool,
    /// How often to retry reaching pcscd while it is down, milliseconds.
    pub service_retry_ms: u64,
    /// How long `spawn` waits for the first reader enumeration, milliseconds.
    pub startup_wait_ms: u64,
}

impl Default for ReaderConfig {
    fn default() -> ReaderConfig {
        ReaderConfig {
            slot_rules: Vec::new(),
            reset_after_use: true,
            service_retry_ms: 200,
            startup_wait_ms: 2000,
        }
    }
}

impl ReaderConfig {
    /// The slot kind of a reader, by configured rules then default patterns.
    pub fn classify(&self, reader_name: &str) -> SlotKind {
        let upper = reader_name.to_uppercase();
        self.slot_rules
            .iter()
            .find(|r| upper.contains(&r.pattern.to_uppercase()))
            .map(|r| r.kind)
            .unwrap_or_else(|| default_slot_kind(reader_name))
    }

    pub(crate) fn service_retry(&self) -> Duration {
        Duration::from_millis(self.service_retry_ms.max(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_patterns() {
        for (name, kind) in [
            ("Virtual PCD 00 00", SlotKind::Contact),
            ("ACS ACR1281 1S Dual Reader ICC 00 00", SlotKind::Contact),
            (
                "ACS ACR1281 1S Dual Reader PICC 00 01",
                SlotKind::Contactless,
            ),
            ("ACS ACR1281 1S Dual Reader SAM 00 02", SlotKind::Sam),
            ("Generic Contactless Reader 00 00", SlotKind::Contactless),
            ("Vendor CL Reader 00 00", SlotKind::Contactless),
            ("Vendor PSAM-1 00 00", SlotKind::Sam),
            ("Cloudy Reader 00 00", SlotKind::Contact),
            ("Samsung Reader 00 00", SlotKind::Contact),
        ] {
            assert_eq!(default_slot_kind(name), kind, "{name}");
        }
    }

    #[test]
    fn rules_override_defaults() {
        let config = ReaderConfig {
            slot_rules: vec![SlotRule {
                pattern: "virtual pcd 00 01".into(),
                kind: SlotKind::Contactless,
            }],
            ..ReaderConfig::default()
        };
        assert_eq!(config.classify("Virtual PCD 00 01"), SlotKind::Contactless);
        assert_eq!(config.classify("Virtual PCD 00 00"), SlotKind::Contact);
    }

    #[test]
    fn itype_mapping() {
        assert_eq!(
            InterfacePolicy::from_itype(3),
            Some(InterfacePolicy::AutoContact)
        );
        assert_eq!(InterfacePolicy::from_itype(5), None);
        assert_eq!(
            InterfacePolicy::AutoContactless.preference(),
            &[SlotKind::Contactless, SlotKind::Contact]
        );
    }

    #[test]
    fn config_parses_from_toml_like_json() {
        let c: ReaderConfig =
            serde_json::from_str(r#"{"slot_rules":[{"pattern":"Virtual PCD","kind":"sam"}]}"#)
                .unwrap();
        assert_eq!(c.classify("Virtual PCD 00 00"), SlotKind::Sam);
        assert!(c.reset_after_use);
    }
}
