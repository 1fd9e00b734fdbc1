//! QR credentials: what a camera or a counter scan box reads, decoded, classified and validated.
//!
//! Camera frames (from `drivers/camera`) go through the decoder [`cascade`] (rqrr, quircs, rxing
//! in a measured order), the [`pump`] that keeps only the newest frame and the [`debounce`]
//! window that turns a code held in view into one scan. [`classify`] sorts scanned bytes into a
//! signed e-SSC (`ESSC1.` prefix, verified offline by [`essc`]) or an NHSA e-voucher candidate
//! (opaque, only syntax-checked here and decoded online through [`evoucher::EcDecoder`]).
//! Codes that pass are held in the credential cache (`crate::credential`, which this module
//! depends on, never the reverse). Nothing in this module talks to a device or the network, and
//! nothing here logs or displays a raw ID number or name (the `medsettle_base::pii` newtypes
//! hold them; [`person`] is their old path).

pub mod cascade;
pub mod classify;
pub mod complete;
pub mod debounce;
pub mod decode;
pub mod dmlocate;
pub mod essc;
pub mod evoucher;
pub mod finder;
pub mod pump;
pub mod service;

pub use cascade::{Cascade, CascadeHit, Outcome, Variant};
pub use debounce::Debouncer;
pub use decode::{Charset, Decoded, Decoder};
pub use medsettle_base::person;
pub use medsettle_frame::{GreyFrame, GreyImage, Mailbox, frame};
pub use pump::{Scan, run_decoder};
