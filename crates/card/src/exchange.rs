//! The one place where status words `61xx` and `6Cxx` are handled: [`exchange`] sends a
//! command, follows GET RESPONSE chains and resends with the Le the card asked for, and returns
//! the assembled data with the final status word. [`Channel`] wraps a transport and counts every
//! APDU that went over it.
//!
//! Bounded: at most [`MAX_ROUNDS`] transmissions and [`MAX_RESPONSE`] bytes per logical
//! command, so a misbehaving card cannot keep a reader thread forever. Status words other than
//! 61xx/6Cxx are not errors here; the application decides what they mean.

use crate::apdu::Apdu;
use crate::status::StatusWord;
use crate::transport::{CardTransport, Interface, TransportError};

/// Most transmissions one logical command may take (first send, resends, GET RESPONSEs).
pub const MAX_ROUNDS: u32 = 16;
/// Most response bytes one logical command may assemble.
pub const MAX_RESPONSE: usize = 4096;

/// A complete response: all data (GET RESPONSE chains joined) and the final status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data without the status word.
    pub data: Vec<u8>,
    /// The status word of the last transmission.
    pub sw: StatusWord,
}

/// Why an exchange produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The card answered fewer than the two status bytes.
    #[error("card answered {0} bytes, fewer than a status word")]
    ShortResponse(usize),
    /// The card kept asking for GET RESPONSE or a new Le past [`MAX_ROUNDS`].
    #[error("card needed more than {MAX_ROUNDS} transmissions for one command")]
    TooManyRounds,
    /// The assembled response grew past [`MAX_RESPONSE`].
    #[error("card response longer than {MAX_RESPONSE} bytes")]
    TooLong,
}

/// Sends `apdu` and resolves `61xx` (GET RESPONSE, chained) and `6Cxx` (resend with Le=xx).
/// `counter` is incremented once per transmission.
pub fn exchange(
    transport: &mut dyn CardTransport,
    apdu: &Apdu,
    counter: &mut u32,
) -> Result<Response, ExchangeError> {
    let mut current = apdu.clone();
    let mut data = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let raw = transport.transmit(&current.to_bytes())?;
        *counter += 1;
        if raw.len() < 2 {
            return Err(ExchangeError::ShortResponse(raw.len()));
        }
        let (body, sw) = raw.split_at(raw.len() - 2);
        let sw = StatusWord::from_bytes(sw[0], sw[1]);
        match sw {
            // The body of a 6Cxx answer is meaningless; the same command goes again.
            StatusWord::WrongLength(n) => current = current.with_le(u16::from(n)),
            StatusWord::BytesAvailable(n) => {
                data.extend_from_slice(body);
                current = Apdu::get_response(u16::from(n));
            }
            _ => {
                data.extend_from_slice(body);
                return check_len(data).map(|data| Response { data, sw });
            }
        }
        data = check_len(data)?;
    }
    Err(ExchangeError::TooManyRounds)
}

fn check_len(data: Vec<u8>) -> Result<Vec<u8>, ExchangeError> {
    if data.len() > MAX_RESPONSE {
        Err(ExchangeError::TooLong)
    } else {
        Ok(data)
    }
}

/// A transport plus a count of the APDUs sent over it.
pub struct Channel<'a> {
    transport: &'a mut dyn CardTransport,
    apdus: u32,
}

impl<'a> Channel<'a> {
    /// Wraps a connected card.
    pub fn new(transport: &'a mut dyn CardTransport) -> Self {
        Channel {
            transport,
            apdus: 0,
        }
    }

    /// Sends one logical command (see [`exchange`]).
    pub fn exchange(&mut self, apdu: &Apdu) -> Result<Response, ExchangeError> {
        exchange(self.transport, apdu, &mut self.apdus)
    }

    /// APDUs transmitted so far, GET RESPONSEs and resends included.
    pub fn apdus(&self) -> u32 {
        self.apdus
    }

    /// The card's ATR.
    pub fn atr(&self) -> Vec<u8> {
        self.transport.atr().to_vec()
    }

    /// The interface the card answers on.
    pub fn interface(&self) -> Interface {
        self.transport.interface()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptedTransport;

    fn run(script: &str, apdu: &Apdu) -> (Result<Response, ExchangeError>, u32) {
        let mut t = ScriptedTransport::parse(script).unwrap();
        let mut ch = Channel::new(&mut t);
        let r = ch.exchange(apdu);
        (r, ch.apdus())
    }

    #[test]
    fn plain_ok() {
        let (r, n) = run("> 00B2010403\n< 0101AA9000\n", &Apdu::read_record(1, 3));
        assert_eq!(
            r.unwrap(),
            Response {
                data: vec![1, 1, 0xAA],
                sw: StatusWord::Ok
            }
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn chains_get_response() {
        let s = "> 00B2010400\n< 0102 6102\n> 00C0000002\n< AABB 6101\n> 00C0000001\n< CC 9000\n";
        let (r, n) = run(s, &Apdu::read_record(1, 256));
        assert_eq!(r.unwrap().data, vec![1, 2, 0xAA, 0xBB, 0xCC]);
        assert_eq!(n, 3);
    }

    #[test]
    fn resends_with_the_le_asked_for() {
        let s = "> 00B2010412\n< 6C03\n> 00B2010403\n< 0101AA 9000\n";
        let (r, n) = run(s, &Apdu::read_record(1, 0x12));
        assert_eq!(r.unwrap().data, vec![1, 1, 0xAA]);
        assert_eq!(n, 2);
    }

    #[test]
    fn other_status_words_pass_through() {
        let (r, n) = run("> 00B2010412\n< 6A83\n", &Apdu::read_record(1, 0x12));
        assert_eq!(
            r.unwrap(),
            Response {
                data: vec![],
                sw: StatusWord::RecordNotFound
            }
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn bounds_a_card_that_never_stops() {
        let mut s = String::from("> 00B2010412\n< 6C12\n");
        for _ in 1..MAX_ROUNDS {
            s.push_str("> 00B2010412\n< 6C12\n");
        }
        let (r, n) = run(&s, &Apdu::read_record(1, 0x12));
        assert_eq!(r.unwrap_err(), ExchangeError::TooManyRounds);
        assert_eq!(n, MAX_ROUNDS);
    }

    #[test]
    fn bounds_the_response_size() {
        let big = "00".repeat(1000); // a transport may hand over more than 256 bytes at once
        let mut s = String::from("> 00B2010400\n");
        for _ in 0..MAX_ROUNDS {
            s.push_str(&format!("< {big} 6100\n> 00C0000000\n"));
        }
        s.push_str("< 9000\n");
        let mut t = ScriptedTransport::parse(&s).unwrap();
        t.allow_unfinished();
        let mut counter = 0;
        let r = exchange(&mut t, &Apdu::read_record(1, 256), &mut counter);
        assert_eq!(r.unwrap_err(), ExchangeError::TooLong);
        assert!(counter < MAX_ROUNDS);
    }

    #[test]
    fn short_responses_and_transport_errors() {
        let (r, _) = run("> 00B2010412\n< 90\n", &Apdu::read_record(1, 0x12));
        assert_eq!(r.unwrap_err(), ExchangeError::ShortResponse(1));
        let (r, n) = run("> 00B2010412\n! removed\n", &Apdu::read_record(1, 0x12));
        assert_eq!(
            r.unwrap_err(),
            ExchangeError::Transport(TransportError::CardRemoved)
        );
        assert_eq!(n, 0);
    }
}
