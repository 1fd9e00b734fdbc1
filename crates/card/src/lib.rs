//! The third-generation social security card: APDUs, status words, TLV records and the
//! application sequence, as pure code over a byte-level [`CardTransport`]. Nothing here links a
//! reader library or does I/O of its own; see `../shared/domain/card.md` for the contract.
//!
//! Entry points: [`ssc::read_card`] / [`ssc::read_card_with`] (one read, optionally with PIN and
//! security module), [`two_step::two_step_begin`] / [`two_step::two_step_finish`] (remote HSM flow),
//! [`CardRecord::ireadcardbas_line`] (the cashier line) and [`script::ScriptedTransport`] (the
//! strict fake for tests).
#![forbid(unsafe_code)]

pub mod access;
pub mod apdu;
pub mod atr;
pub mod auth;
pub mod codec;
pub mod error;
pub mod exchange;
pub mod pin;
pub mod psam;
pub mod record;
pub mod script;
pub mod security;
pub mod ssc;
pub mod status;
pub mod tlv;
pub mod transport;
pub mod two_step;

#[cfg(test)]
mod tests;

pub use access::{
    AccessError, CardJob, CardReaders, CardRequest, DeviceEvent, InterfacePolicy, SlotInfo,
    SlotKind, default_slot_kind,
};
pub use apdu::Apdu;
pub use error::CardError;
pub use exchange::{Channel, Response};
pub use pin::Pin;
pub use record::{CardRecord, Holder, Sex, TerminalIds};
pub use security::{SecurityError, SecurityModule, VirtualPsam};
pub use ssc::{AuthPolicy, CardRead, ReadOptions, ReadStyle, read_card, read_card_with};
pub use status::StatusWord;
pub use transport::{CardTransport, Interface, TransportError};
