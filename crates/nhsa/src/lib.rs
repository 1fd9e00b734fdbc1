//! The national medical-insurance platform protocol (upstream.md) as pure code: no I/O, no
//! clock reads but through [`time`], no storage.
//!
//! Money is `medsettle-base`'s [`Fen`] (integer fen, never `f64`), with [`Qty`] and [`Price`]
//! for fee lines, re-exported here as [`money`] and [`quantity`]; [`time`] converts every
//! platform stamp to and from China Standard Time; [`msgid::MsgId`] is the 30-character request
//! id; [`envelope`] holds the request and response envelopes and [`envelope::classify`], which
//! sorts an HTTP answer into a response or an [`error::UpstreamError`]; [`signing`] is this
//! project's `signtype` convention; [`tif`] the optional gateway headers; [`tx`] the typed inputs
//! and outputs per transaction family. The HTTP client lives in the daemon, the sandbox insurer in
//! `drivers/sandbox`; both speak through these types.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod error;
pub mod msgid;
pub mod signing;
pub mod tif;
pub mod time;
pub mod trace;
pub mod tx;

pub use medsettle_base::{money, quantity};

pub use envelope::{Request, Response, Terminal, classify};
pub use error::{UnknownCause, UpstreamError};
pub use medsettle_base::{Fen, MoneyError, Price, Qty, QuantityError};
pub use msgid::{MsgId, MsgIdError};
