//! The signed electronic social security card code (电子社保卡码, e-SSC), as profiled in qr.md.
//!
//! `ESSC1.<payload>.<signature>`: base64url JSON claims, signed with SM2 (SM3 digest, default
//! distinguishing ID) by an issuer whose public key is configured per `kid`. [`Verifier`]
//! checks a code offline against a [`KeyRing`], an injected clock and a [`ReplayGuard`], and
//! yields an [`EsscIdentity`] whose personal fields never print in clear; [`Issuer`] mints codes
//! for the sandbox insurer, the demo and tests. Every refusal is one [`EsscError`] variant with
//! its own code. Nothing here reads the system clock, the network or a file.
#![forbid(unsafe_code)]

mod checks;
mod error;
mod issuer;
mod keyring;
mod payload;
mod replay;
mod verify;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

pub use error::EsscError;
pub use issuer::{Issuer, generate_secret_hex};
pub use keyring::{KeyError, KeyRing};
pub use payload::{Claims, MAX_CODE_LEN};
pub use replay::{Freshness, GuardError, MemoryReplayGuard, ReplayGuard};
pub use verify::{EsscIdentity, Verifier};

/// What every e-SSC code starts with.
pub const ESSC_PREFIX: &str = "ESSC1.";

/// SM2 distinguishing ID used for signing and verifying (the GM/T 0009 default).
pub const DIST_ID: &str = "1234567812345678";
/// Longest allowed validity window, `exp - iat`, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Default clock skew tolerated on both ends of the window, in seconds.
pub const DEFAULT_SKEW_SECS: i64 = 30;
