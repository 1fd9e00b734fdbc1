//! The platform client: how this terminal talks to the national medical-insurance platform
//! (upstream.md). The protocol itself (money, time, msgid, envelope, signing, tif, typed
//! transactions) is the pure crate `medsettle-nhsa`, re-exported here under the same names.
//!
//! [`money::Fen`] is the only amount type (integer fen, never `f64`), with [`quantity`]'s
//! [`Qty`](quantity::Qty) and [`Price`](quantity::Price) for fee lines; [`time`] converts every
//! platform stamp to and from China Standard Time; [`msgid::MsgId`] is the 30-character request
//! id; [`envelope`] holds the request and response envelopes and [`envelope::classify`], which
//! sorts an HTTP answer into a response or an [`error::UpstreamError`]; [`tx`] has the typed
//! inputs and outputs per transaction family. [`transport`] is the HTTP edge, [`client`] the
//! envelope-level client with the audit trail and [`session`] the sign-in; [`platform`] is the
//! trait the settlement engine talks to (the client, or `scripted`'s strict fake in tests);
//! `daemon::upstream` builds the client from the configuration, which nothing here reads. The
//! sandbox insurer lives in `drivers/sandbox`.

pub mod calls;
pub mod client;
pub mod ec;
pub mod link;
pub mod msgid_source;
pub mod platform;
#[cfg(test)]
pub mod scripted;
pub mod session;
pub mod transport;
pub mod tx;

pub use medsettle_nhsa::{envelope, error, money, msgid, quantity, signing, tif, time};

pub use medsettle_nhsa::envelope::{Request, Response, Terminal, classify};
pub use medsettle_nhsa::error::{UnknownCause, UpstreamError};
pub use medsettle_nhsa::money::{Fen, MoneyError};
pub use medsettle_nhsa::msgid::{MsgId, MsgIdError};
pub use medsettle_nhsa::quantity::{Price, Qty, QuantityError};
