//! The third-generation social security card: APDUs, status words, TLV records and the
//! application sequence, as pure code over a byte-level [`CardTransport`]. Nothing here links a
//! reader library or does I/O of its own; see `../shared/domain/card.md` for the contract.

pub mod access;
pub mod monitor;
pub mod transport;

pub use access::{
    AccessError, CardJob, CardReaders, CardRequest, DeviceEvent, InterfacePolicy, SlotInfo,
    SlotKind,
};
pub use transport::{CardTransport, Interface, TransportError};
