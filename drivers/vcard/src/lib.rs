//! A virtual third-generation social security card for the vpcd virtual reader, used by tests,
//! benches and the demo. It answers APDUs as `shared/domain/card.md` describes, from a JSON
//! profile in `fixtures/cards/`, and plugs into pcscd through vpcd's TCP socket protocol.
//!
//! Layers: [`profile`] (data) → [`card`] (pure APDU state machine) → [`framing`] + [`vpcd`]
//! (socket). [`testbed`] starts a private pcscd with vpcd readers. Nothing here links PC/SC.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod auth;
pub mod card;
pub mod framing;
pub mod inprocess;
pub mod profile;
pub mod testbed;
pub mod vpcd;

pub use card::{CardAction, SSSE_AID, VirtualCard};
pub use inprocess::InProcessReader;
pub use profile::{Profile, ProfileError};
pub use testbed::{Testbed, VirtualReader};
pub use vpcd::VpcdConnection;

/// Default vpcd port of the packaged `/etc/reader.conf.d/vpcd` (first slot).
pub const DEFAULT_VPCD_PORT: u16 = 35963;
