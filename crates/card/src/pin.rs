//! The cardholder PIN and VERIFY: a [`Pin`] holds exactly six digits, zeroizes them on drop and
//! never shows them (`Debug` prints `Pin(******)`, there is no `Display`).
//!
//! [`verify_pin`] sends `00 20 00 00 03 <3 BCD bytes>` and turns `63Cx` / `6983` into the
//! distinct errors [`CardError::PinWrong`] and [`CardError::PinBlocked`]. Nothing here logs.

use std::fmt;

use zeroize::Zeroizing;

use crate::apdu::Apdu;
use crate::error::CardError;
use crate::exchange::Channel;
use crate::status::StatusWord;

/// A six-digit PIN, wiped from memory when dropped.
pub struct Pin {
    digits: Zeroizing<[u8; 6]>,
}

impl Pin {
    /// Checks the format (exactly six ASCII digits) and takes a copy.
    pub fn new(text: &str) -> Result<Pin, CardError> {
        let bytes = text.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CardError::PinFormat);
        }
        let mut digits = Zeroizing::new([0u8; 6]);
        for (d, b) in digits.iter_mut().zip(bytes) {
            *d = b - b'0';
        }
        Ok(Pin { digits })
    }

    /// Runs `f` on the PIN as text (for the consent proof sent to the platform, which is a
    /// digest, never the PIN); the text is wiped afterwards.
    pub fn with_digits<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        let mut text = Zeroizing::new([0u8; 6]);
        for (t, d) in text.iter_mut().zip(self.digits.iter()) {
            *t = b'0' + d;
        }
        f(std::str::from_utf8(&*text).expect("six ASCII digits"))
    }

    /// The PIN packed as 3 BCD bytes, for VERIFY.
    fn to_bcd(&self) -> Zeroizing<[u8; 3]> {
        let d = &self.digits;
        Zeroizing::new([(d[0] << 4) | d[1], (d[2] << 4) | d[3], (d[4] << 4) | d[5]])
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(******)")
    }
}

/// Presents the PIN to the card (application already selected).
pub fn verify_pin(channel: &mut Channel<'_>, pin: &Pin) -> Result<(), CardError> {
    let bcd = pin.to_bcd();
    let response = channel.exchange(&Apdu::verify(&*bcd))?;
    match response.sw {
        StatusWord::Ok => Ok(()),
        StatusWord::VerifyFailed { tries_left: 0 } | StatusWord::AuthBlocked => {
            Err(CardError::PinBlocked)
        }
        StatusWord::VerifyFailed { tries_left } => Err(CardError::PinWrong { tries_left }),
        sw => Err(CardError::UnexpectedStatus {
            command: "VERIFY",
            sw,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptedTransport;

    fn verify(script: &str, pin: &str) -> Result<(), CardError> {
        let mut t = ScriptedTransport::parse(script).unwrap();
        let mut ch = Channel::new(&mut t);
        verify_pin(&mut ch, &Pin::new(pin).unwrap())
    }

    #[test]
    fn format_is_six_digits() {
        assert!(Pin::new("123456").is_ok());
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６", "12 456"] {
            assert_eq!(Pin::new(bad).unwrap_err(), CardError::PinFormat, "{bad}");
        }
    }

    #[test]
    fn never_shows_digits() {
        let pin = Pin::new("908172").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(******)");
        assert_eq!(&*pin.to_bcd(), &[0x90, 0x81, 0x72]);
    }

    #[test]
    fn outcomes() {
        assert_eq!(verify("> 0020000003123456\n< 9000\n", "123456"), Ok(()));
        assert_eq!(
            verify("> 0020000003000000\n< 63C2\n", "000000"),
            Err(CardError::PinWrong { tries_left: 2 })
        );
        assert_eq!(
            verify("> 0020000003000000\n< 63C0\n", "000000"),
            Err(CardError::PinBlocked)
        );
        assert_eq!(
            verify("> 0020000003000000\n< 6983\n", "000000"),
            Err(CardError::PinBlocked)
        );
        assert_eq!(
            verify("> 0020000003000000\n< 6985\n", "000000"),
            Err(CardError::UnexpectedStatus {
                command: "VERIFY",
                sw: StatusWord::ConditionsNotSatisfied
            })
        );
    }
}
