//! The 30-character message id of every request: `fixmedins_code` (12) + CST
//! `yyyyMMddHHmmss` (14) + a 4-digit sequence.
//!
//! [`MsgId`] is pure: it formats, parses and validates. The sequence number MUST come from a
//! persistent counter (the daemon's store, through `msgid_source`) so that two requests of the
//! same second never collide, not even across a restart; several public clients use random
//! numbers here and collide. A retry of the same request reuses its msgid; a 2601 reversal
//! names it as `omsgid`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time;

/// Length of a msgid: 12 + 14 + 4.
pub const MSGID_LEN: usize = 30;
/// Length of a designated institution code (`fixmedins_code`).
pub const FIXMEDINS_CODE_LEN: usize = 12;
/// The sequence wraps at this value.
pub const SEQ_MODULUS: u16 = 10_000;

/// Why a msgid could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgIdError {
    #[error("fixmedins_code must be 12 ASCII letters or digits, got {0} characters")]
    FixmedinsCode(usize),
    #[error("msgid must be 30 characters, got {0}")]
    Length(usize),
    #[error("msgid timestamp is not a valid yyyyMMddHHmmss")]
    Timestamp,
    #[error("msgid sequence is not 4 digits")]
    Sequence,
}

/// A validated msgid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId(String);

impl MsgId {
    /// Builds the msgid of a request sent by institution `fixmedins_code` at `at`, with the
    /// counter value `seq` (taken modulo 10000). `seq` must come from the persistent counter.
    pub fn new(fixmedins_code: &str, at: DateTime<Utc>, seq: u16) -> Result<MsgId, MsgIdError> {
        check_code(fixmedins_code)?;
        Ok(MsgId(format!(
            "{fixmedins_code}{}{:04}",
            time::format_stamp(at),
            seq % SEQ_MODULUS
        )))
    }

    /// Parses and validates a msgid (e.g. `inf_refmsgid`, or one read back from the store).
    pub fn parse(text: &str) -> Result<MsgId, MsgIdError> {
        if text.len() != MSGID_LEN || !text.is_ascii() {
            return Err(MsgIdError::Length(text.chars().count()));
        }
        check_code(&text[..12])?;
        time::parse_stamp(&text[12..26]).map_err(|_| MsgIdError::Timestamp)?;
        if !text[26..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(MsgIdError::Sequence);
        }
        Ok(MsgId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn fixmedins_code(&self) -> &str {
        &self.0[..12]
    }

    /// The instant in the msgid (second precision, written in CST).
    pub fn timestamp(&self) -> DateTime<Utc> {
        time::parse_stamp(&self.0[12..26]).expect("validated on construction")
    }

    pub fn sequence(&self) -> u16 {
        self.0[26..].parse().expect("validated on construction")
    }
}

fn check_code(code: &str) -> Result<(), MsgIdError> {
    if code.len() == FIXMEDINS_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(MsgIdError::FixmedinsCode(code.chars().count()))
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MsgId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MsgId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-09T01:02:03Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn formats_code_cst_stamp_and_sequence() {
        let id = MsgId::new("P11010500123", at(), 42).unwrap();
        assert_eq!(id.as_str(), "P11010500123202503090902030042");
        assert_eq!(id.as_str().len(), MSGID_LEN);
        assert_eq!(id.fixmedins_code(), "P11010500123");
        assert_eq!(id.timestamp(), at());
        assert_eq!(id.sequence(), 42);
        assert_eq!(
            MsgId::new("P11010500123", at(), 12_345).unwrap().sequence(),
            2345
        );
    }

    #[test]
    fn parse_round_trips_every_sequence() {
        for seq in 0..SEQ_MODULUS {
            let id = MsgId::new("H11010500001", at(), seq).unwrap();
            assert_eq!(MsgId::parse(id.as_str()), Ok(id.clone()));
            assert_eq!(id.sequence(), seq);
        }
    }

    #[test]
    fn refuses_malformed_ids() {
        assert_eq!(
            MsgId::new("P1101050012", at(), 1),
            Err(MsgIdError::FixmedinsCode(11))
        );
        assert!(MsgId::new("P1101050012-", at(), 1).is_err());
        assert_eq!(MsgId::parse("short"), Err(MsgIdError::Length(5)));
        assert_eq!(
            MsgId::parse("P11010500123202513090902030042"),
            Err(MsgIdError::Timestamp)
        );
        assert_eq!(
            MsgId::parse("P1101050012320250309090203004x"),
            Err(MsgIdError::Sequence)
        );
        assert!(MsgId::parse("P1101050012张0250309090203004").is_err());
    }

    #[test]
    fn serde_is_the_plain_string() {
        let id = MsgId::new("P11010500123", at(), 7).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r#""P11010500123202503090902030007""#);
        assert_eq!(serde_json::from_str::<MsgId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<MsgId>(r#""P11010500123""#).is_err());
    }
}
