//! The typed transactions: every family of `medsettle-nhsa` (re-exported so `crate::upstream::tx::…`
//! names them) plus the two that need the daemon's credential types: [`identify`] (the 1101
//! input from a card read or a verified e-SSC) and [`evoucher`] (the e-voucher service's
//! `ec.query`, whose identity becomes the QR layer's `EcIdentity`).

pub use medsettle_nhsa::tx::*;

pub mod evoucher;
pub mod identify;
