//! The card as the daemon uses it: everything of `medsettle-card` (the pure card application,
//! re-exported here so `crate::card::…` names it), plus [`service`], which runs a read or PIN
//! check through any reader stack and validates it, and [`monitor`], which turns device events
//! into bus events and the `readers` status component.

pub use medsettle_card::*;

pub mod monitor;
pub mod service;
