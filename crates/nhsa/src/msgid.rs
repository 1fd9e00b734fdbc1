//! The 30-character message id of every request: `fixmedins_code` (12) + CST
//! `yyyyMMddHHmmss` (14) + a 4-digit sequence.
//!
//! [`MsgId`] is pure: it formats, parses and validates. The sequence number MUST come from a
//! persistent counter (the daemon's store, through `msgid_source`) so that two requests of the
//! same second never collide, not even across a restart; several public clients use random
//! numbers here and collide. A retry of the same request reuses its msgid; a 2601 reversal
//! names it as `omsgid`.
//!
//! Several terminals of one institution share the 12-character prefix, so the 4-digit field is
//! split by a [`SeqLayout`]: the terminal's node number (0 to 3 digits) first, then the
//! counter part in the remaining digits. A terminal whose layout leaves `n` counter digits can
//! issue `10^n` distinct msgids per second; `msgid_source` keeps it within that.

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
    #[error("the node part of the msgid sequence may have 0 to 3 digits, got {0}")]
    NodeDigits(u8),
    #[error("node {node} does not fit in {digits} digit(s) of the msgid sequence")]
    NodeWidth { node: u16, digits: u8 },
}

/// How the 4-digit sequence field is shared: `node_digits` digits of this terminal's node
/// number, zero padded, then `4 - node_digits` digits of its counter. Terminals of one
/// institution with distinct nodes of the same width never produce the same field, whatever
/// their counters do. `SeqLayout::default()` (no node) gives the whole field to the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqLayout {
    node: u16,
    node_digits: u8,
}

impl SeqLayout {
    /// The most digits a node may take: one counter digit must remain.
    pub const MAX_NODE_DIGITS: u8 = 3;

    /// The layout of terminal `node` written in `node_digits` digits (0 to 3; with 0 the node
    /// must be 0, i.e. there is no node part).
    pub fn new(node: u16, node_digits: u8) -> Result<SeqLayout, MsgIdError> {
        if node_digits > Self::MAX_NODE_DIGITS {
            return Err(MsgIdError::NodeDigits(node_digits));
        }
        if u32::from(node) >= 10u32.pow(u32::from(node_digits)) {
            return Err(MsgIdError::NodeWidth {
                node,
                digits: node_digits,
            });
        }
        Ok(SeqLayout { node, node_digits })
    }

    pub fn node(&self) -> u16 {
        self.node
    }

    pub fn node_digits(&self) -> u8 {
        self.node_digits
    }

    /// Digits left to the counter part (1 to 4).
    pub fn counter_digits(&self) -> u8 {
        4 - self.node_digits
    }

    /// How many distinct sequence values one terminal has per second: 10^counter_digits.
    pub fn per_second(&self) -> u16 {
        10u16.pow(u32::from(self.counter_digits()))
    }

    /// The 4-digit field for counter value `counter` (taken modulo [`Self::per_second`], so
    /// the counter part wraps and the node part never changes).
    pub fn sequence(&self, counter: u64) -> u16 {
        let per_second = self.per_second();
        let part = u16::try_from(counter % u64::from(per_second)).unwrap_or(0);
        self.node * per_second + part
    }

    /// The node and counter parts of a 4-digit field, read with this layout.
    pub fn split(&self, sequence: u16) -> (u16, u16) {
        let per_second = self.per_second();
        (sequence / per_second, sequence % per_second)
    }
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

    /// Builds the msgid whose 4-digit field is `layout`'s node followed by counter value
    /// `counter` (its counter part wraps; see [`SeqLayout::sequence`]).
    pub fn with_layout(
        fixmedins_code: &str,
        at: DateTime<Utc>,
        layout: SeqLayout,
        counter: u64,
    ) -> Result<MsgId, MsgIdError> {
        MsgId::new(fixmedins_code, at, layout.sequence(counter))
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
    fn layouts_accept_nodes_that_fit_their_width_only() {
        assert_eq!(SeqLayout::default(), SeqLayout::new(0, 0).unwrap());
        assert_eq!(
            SeqLayout::new(1, 0),
            Err(MsgIdError::NodeWidth { node: 1, digits: 0 })
        );
        assert!(SeqLayout::new(9, 1).is_ok());
        assert_eq!(
            SeqLayout::new(10, 1),
            Err(MsgIdError::NodeWidth {
                node: 10,
                digits: 1
            })
        );
        assert!(SeqLayout::new(99, 2).is_ok());
        assert!(SeqLayout::new(100, 2).is_err());
        assert!(SeqLayout::new(999, 3).is_ok());
        assert!(SeqLayout::new(1000, 3).is_err());
        assert_eq!(SeqLayout::new(0, 4), Err(MsgIdError::NodeDigits(4)));
        let per_second: Vec<u16> = (0..=3)
            .map(|d| SeqLayout::new(0, d).unwrap().per_second())
            .collect();
        assert_eq!(per_second, [10_000, 1_000, 100, 10]);
    }

    #[test]
    fn the_node_is_zero_padded_and_the_counter_part_wraps() {
        let cases: [(u16, u8, u64, &str); 9] = [
            (0, 0, 42, "0042"),
            (0, 0, 10_042, "0042"),
            (7, 1, 5, "7005"),
            (7, 1, 1_999, "7999"),
            (7, 1, 2_000, "7000"),
            (4, 2, 7, "0407"),
            (41, 2, 123, "4123"),
            (17, 3, 9, "0179"),
            (417, 3, 23, "4173"),
        ];
        for (node, digits, counter, field) in cases {
            let layout = SeqLayout::new(node, digits).unwrap();
            let id = MsgId::with_layout("H11010500001", at(), layout, counter).unwrap();
            assert_eq!(
                &id.as_str()[26..],
                field,
                "node {node}/{digits}, counter {counter}"
            );
            assert_eq!(
                layout.split(id.sequence()),
                (
                    node,
                    u16::try_from(counter % u64::from(layout.per_second())).unwrap()
                )
            );
        }
    }

    #[test]
    fn one_second_of_a_layout_never_repeats_and_nodes_never_meet() {
        for digits in 0..=3u8 {
            let a = SeqLayout::new(0, digits).unwrap();
            let fields: std::collections::HashSet<u16> = (1_000u64..)
                .take(usize::from(a.per_second()))
                .map(|c| a.sequence(c))
                .collect();
            assert_eq!(fields.len(), usize::from(a.per_second()));
            if digits > 0 {
                let b = SeqLayout::new(1, digits).unwrap();
                assert!((0..20_000u64).all(|c| !fields.contains(&b.sequence(c))));
            }
        }
    }

    #[test]
    fn the_one_digit_layout_is_the_legacy_format() {
        // Before the layout existed, node n gave n * 1000 + counter % 1000, and no node gave
        // counter % 10000; existing configurations must keep producing exactly those ids.
        for node in 0..10u16 {
            let layout = SeqLayout::new(node, 1).unwrap();
            for counter in [0u64, 1, 999, 1_000, 12_345, u64::MAX] {
                let legacy = u16::try_from(u64::from(node) * 1_000 + counter % 1_000).unwrap();
                assert_eq!(layout.sequence(counter), legacy);
            }
        }
        for counter in [0u64, 9_999, 10_000, 123_456] {
            let legacy = u16::try_from(counter % 10_000).unwrap();
            assert_eq!(SeqLayout::default().sequence(counter), legacy);
            assert_eq!(
                MsgId::with_layout("H11010500001", at(), SeqLayout::default(), counter).unwrap(),
                MsgId::new("H11010500001", at(), legacy).unwrap()
            );
        }
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
