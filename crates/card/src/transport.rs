//! The byte-level boundary between the card application logic and a reader.
//!
//! `CardTransport` moves one command APDU to a card and brings its raw response back. It knows
//! nothing about status words, files or TLV: those live in the pure modules beside this one.
//! Implementations live in `drivers/` (PC/SC) and in tests (transcripts); the core never links a
//! reader library. Calls are blocking: a card sequence runs on the reader's own thread, inside
//! one exclusive reader transaction.

use std::fmt;

/// Which radio or contacts the card answered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interface {
    /// ISO 7816 contacts (card in the slot).
    Contact,
    /// ISO 14443 contactless ("一晃而过").
    Contactless,
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interface::Contact => "contact",
            Interface::Contactless => "contactless",
        })
    }
}

/// Why an exchange with the card did not complete. Every variant means the response is absent;
/// none of them carries card data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The card left the reader (pulled out, or walked away from the antenna).
    #[error("card removed from the reader")]
    CardRemoved,
    /// Another process or the reader reset the card mid-sequence.
    #[error("card was reset")]
    CardReset,
    /// The reader itself disappeared (unplugged).
    #[error("reader unavailable: {0}")]
    ReaderGone(String),
    /// The PC/SC service stopped or restarted.
    #[error("PC/SC service unavailable")]
    ServiceGone,
    /// The card did not answer in time.
    #[error("card did not answer in time")]
    Timeout,
    /// Anything else the reader stack reported.
    #[error("reader error: {0}")]
    Other(String),
}

/// One card, powered and connected, ready for APDUs.
pub trait CardTransport {
    /// Sends one command APDU and returns the complete response: data followed by SW1 SW2.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// The card's answer to reset, as the reader reported it.
    fn atr(&self) -> &[u8];

    /// The interface the card is connected on.
    fn interface(&self) -> Interface;
}
