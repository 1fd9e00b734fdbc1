//! QR codes seen by a camera: greyscale frames, the decoders and their cascade, the debounce
//! window that turns a code held in view into one scan, and the frame pump that keeps only the
//! newest frame. No device access here: frames come from `drivers/camera`.

pub mod cascade;
pub mod debounce;
pub mod decode;
pub mod finder;
pub mod frame;
pub mod pump;

pub use cascade::{Cascade, CascadeHit, Outcome, Variant};
pub use debounce::Debouncer;
pub use decode::{Charset, Decoded, Decoder};
pub use frame::{GreyFrame, GreyImage};
pub use pump::{Mailbox, Scan, run_decoder};
