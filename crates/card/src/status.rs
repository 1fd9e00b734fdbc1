//! Status words (SW1 SW2) as a closed enum with an [`StatusWord::Other`] fallback, so the code
//! that reacts to a card branches on names instead of magic numbers.
//!
//! `From<u16>` and [`StatusWord::to_u16`] are exact inverses over all 65 536 values (tested).
//! This module only names status words; what to do about them lives in `exchange` (61xx,
//! 6Cxx) and in the application (`ssc`).

use std::fmt;

/// A response status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusWord {
    /// `9000`: normal completion.
    Ok,
    /// `61xx`: more data waiting, fetch with GET RESPONSE (`00` means 256 bytes).
    BytesAvailable(u8),
    /// `6Cxx`: wrong Le, resend with Le = xx (`00` means 256).
    WrongLength(u8),
    /// `6281`: part of the returned data may be corrupted.
    DataMayBeCorrupted,
    /// `6282`: end of file or record reached before Le bytes.
    EndOfFile,
    /// `63Cx`: verification failed, `x` tries left.
    VerifyFailed {
        /// Tries left before the PIN blocks (0..=15).
        tries_left: u8,
    },
    /// `6581`: memory failure.
    MemoryFailure,
    /// `6700`: wrong length (Lc or Le), no hint.
    WrongLengthNoHint,
    /// `6981`: command incompatible with the file structure.
    IncompatibleFileStructure,
    /// `6982`: security status not satisfied (authenticate first).
    SecurityNotSatisfied,
    /// `6983`: authentication method (the PIN) blocked.
    AuthBlocked,
    /// `6984`: referenced data invalidated.
    DataInvalidated,
    /// `6985`: conditions of use not satisfied.
    ConditionsNotSatisfied,
    /// `6986`: command not allowed (no current EF).
    CommandNotAllowed,
    /// `6A80`: incorrect data field.
    WrongData,
    /// `6A81`: function not supported.
    FunctionNotSupported,
    /// `6A82`: file or application not found.
    FileNotFound,
    /// `6A83`: record not found.
    RecordNotFound,
    /// `6A86`: incorrect P1 P2.
    IncorrectP1P2,
    /// `6A88`: referenced data not found.
    ReferencedDataNotFound,
    /// `6B00`: wrong parameters P1 P2 (offset outside the EF).
    WrongP1P2,
    /// `6D00`: instruction not supported.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// `6F00`: no precise diagnosis.
    NoDiagnosis,
    /// Anything else, kept verbatim.
    Other(u16),
}

impl StatusWord {
    /// Builds a status word from the two trailing response bytes.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        StatusWord::from(u16::from_be_bytes([sw1, sw2]))
    }

    /// The numeric value, e.g. `0x9000`.
    pub fn to_u16(self) -> u16 {
        use StatusWord::*;
        match self {
            Ok => 0x9000,
            BytesAvailable(n) => 0x6100 | n as u16,
            WrongLength(n) => 0x6C00 | n as u16,
            DataMayBeCorrupted => 0x6281,
            EndOfFile => 0x6282,
            VerifyFailed { tries_left } => 0x63C0 | (tries_left & 0x0F) as u16,
            MemoryFailure => 0x6581,
            WrongLengthNoHint => 0x6700,
            IncompatibleFileStructure => 0x6981,
            SecurityNotSatisfied => 0x6982,
            AuthBlocked => 0x6983,
            DataInvalidated => 0x6984,
            ConditionsNotSatisfied => 0x6985,
            CommandNotAllowed => 0x6986,
            WrongData => 0x6A80,
            FunctionNotSupported => 0x6A81,
            FileNotFound => 0x6A82,
            RecordNotFound => 0x6A83,
            IncorrectP1P2 => 0x6A86,
            ReferencedDataNotFound => 0x6A88,
            WrongP1P2 => 0x6B00,
            InsNotSupported => 0x6D00,
            ClaNotSupported => 0x6E00,
            NoDiagnosis => 0x6F00,
            Other(v) => v,
        }
    }

    /// `9000`.
    pub fn is_ok(self) -> bool {
        self == StatusWord::Ok
    }
}

impl From<u16> for StatusWord {
    fn from(v: u16) -> Self {
        use StatusWord::*;
        let [sw1, sw2] = v.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Ok,
            (0x61, n) => BytesAvailable(n),
            (0x6C, n) => WrongLength(n),
            (0x63, n) if n & 0xF0 == 0xC0 => VerifyFailed {
                tries_left: n & 0x0F,
            },
            _ => match v {
                0x6281 => DataMayBeCorrupted,
                0x6282 => EndOfFile,
                0x6581 => MemoryFailure,
                0x6700 => WrongLengthNoHint,
                0x6981 => IncompatibleFileStructure,
                0x6982 => SecurityNotSatisfied,
                0x6983 => AuthBlocked,
                0x6984 => DataInvalidated,
                0x6985 => ConditionsNotSatisfied,
                0x6986 => CommandNotAllowed,
                0x6A80 => WrongData,
                0x6A81 => FunctionNotSupported,
                0x6A82 => FileNotFound,
                0x6A83 => RecordNotFound,
                0x6A86 => IncorrectP1P2,
                0x6A88 => ReferencedDataNotFound,
                0x6B00 => WrongP1P2,
                0x6D00 => InsNotSupported,
                0x6E00 => ClaNotSupported,
                0x6F00 => NoDiagnosis,
                other => Other(other),
            },
        }
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> u16 {
        sw.to_u16()
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.to_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_value() {
        for v in 0..=u16::MAX {
            let sw = StatusWord::from(v);
            assert_eq!(sw.to_u16(), v, "{v:04X} -> {sw:?}");
            // A named value is never also reachable as Other.
            if let StatusWord::Other(o) = sw {
                assert_eq!(o, v);
            }
        }
    }

    #[test]
    fn names_the_card_md_words() {
        assert_eq!(StatusWord::from(0x9000), StatusWord::Ok);
        assert_eq!(StatusWord::from(0x6110), StatusWord::BytesAvailable(0x10));
        assert_eq!(StatusWord::from(0x6C12), StatusWord::WrongLength(0x12));
        assert_eq!(StatusWord::from(0x6A82), StatusWord::FileNotFound);
        assert_eq!(StatusWord::from(0x6A83), StatusWord::RecordNotFound);
        assert_eq!(
            StatusWord::from(0x63C2),
            StatusWord::VerifyFailed { tries_left: 2 }
        );
        assert_eq!(StatusWord::from(0x6983), StatusWord::AuthBlocked);
        assert_eq!(StatusWord::from(0x6982), StatusWord::SecurityNotSatisfied);
        assert_eq!(StatusWord::from(0x6985), StatusWord::ConditionsNotSatisfied);
        assert_eq!(StatusWord::from(0x6A86), StatusWord::IncorrectP1P2);
        assert_eq!(StatusWord::from(0x6D00), StatusWord::InsNotSupported);
        assert_eq!(StatusWord::from(0x6E00), StatusWord::ClaNotSupported);
        assert_eq!(StatusWord::from(0x6300), StatusWord::Other(0x6300));
        assert_eq!(StatusWord::from_bytes(0x90, 0x00), StatusWord::Ok);
        assert!(StatusWord::Ok.is_ok());
        assert!(!StatusWord::FileNotFound.is_ok());
        assert_eq!(u16::from(StatusWord::AuthBlocked), 0x6983);
        assert_eq!(
            StatusWord::VerifyFailed { tries_left: 2 }.to_string(),
            "63C2"
        );
    }
}
