//! QR credentials: what a camera or a counter scan box reads, classified and validated.
//!
//! [`classify`] sorts scanned bytes into a signed e-SSC (`ESSC1.` prefix, verified offline by
//! [`essc`]) or an NHSA e-voucher candidate (opaque, only syntax-checked here and decoded online
//! through [`evoucher::EcDecoder`]). Nothing in this module talks to a device or the network,
//! and nothing here logs or displays a raw ID number or name ([`person`] wraps them).

pub mod classify;
pub mod essc;
pub mod evoucher;
pub mod person;
