//! Issuer public keys by `kid`, built from configuration (`kid` → uncompressed SEC1 hex).
//!
//! Keys are parsed once, at configuration time, so a malformed key fails the daemon's start
//! with the `kid` named rather than failing a patient's scan. Only uncompressed points
//! (`04‖x‖y`, 130 hex digits) are accepted, as qr.md specifies.

use std::collections::BTreeMap;
use std::fmt;

use sm2::dsa::VerifyingKey;

use crate::DIST_ID;
use medsettle_base::UserFacing;

/// The configured issuer keys.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: BTreeMap<String, VerifyingKey>,
}

/// A configured issuer key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("e-SSC issuer key {kid:?}: {reason}")]
pub struct KeyError {
    pub kid: String,
    pub reason: &'static str,
}

impl UserFacing for KeyError {
    fn code(&self) -> &'static str {
        "essc.key_invalid"
    }

    fn message_zh(&self) -> String {
        format!(
            "电子社保卡码签发机构公钥 {} 配置错误：{}",
            self.kid, self.reason
        )
    }

    fn message_en(&self) -> String {
        self.to_string()
    }
}

impl KeyRing {
    /// An empty ring: every code is refused with `essc.unknown_kid`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a ring from `(kid, hex)` pairs as found in the configuration.
    pub fn from_hex<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, KeyError> {
        let mut ring = Self::new();
        for (kid, hex) in entries {
            ring.insert_hex(kid, hex)?;
        }
        Ok(ring)
    }

    /// Adds one key given as uncompressed SEC1 hex (`04‖x‖y`).
    pub fn insert_hex(&mut self, kid: &str, sec1_hex: &str) -> Result<(), KeyError> {
        let err = |reason| KeyError {
            kid: kid.to_owned(),
            reason,
        };
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err("kid must be 1-64 printable ASCII characters"));
        }
        if self.keys.contains_key(kid) {
            return Err(err("kid configured twice"));
        }
        let bytes = hex::decode(sec1_hex.trim()).map_err(|_| err("not hex"))?;
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return Err(err(
                "not an uncompressed SEC1 point (04 || x || y, 130 hex digits)",
            ));
        }
        let key = VerifyingKey::from_sec1_bytes(DIST_ID, &bytes)
            .map_err(|_| err("not a point on the SM2 curve"))?;
        self.keys.insert(kid.to_owned(), key);
        Ok(())
    }

    /// The key for `kid`, if configured.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// Configured key ids, sorted.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.kids()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_keys_naming_the_kid() {
        let bad = |hex: &str| KeyRing::from_hex([("k1", hex)]).unwrap_err().reason;
        assert_eq!(bad("zz"), "not hex");
        assert!(bad("02aabb").starts_with("not an uncompressed"));
        let off_curve = format!("04{}", "11".repeat(64));
        assert_eq!(bad(&off_curve), "not a point on the SM2 curve");
        let e = KeyRing::from_hex([("", "04")]).unwrap_err();
        assert_eq!(e.code(), "essc.key_invalid");
    }
}
