//! Grey camera frames ([`GreyFrame`], [`GreyImage`]) and the single-slot [`Mailbox`] a camera
//! thread hands them over in. Pure data and std synchronisation: no device, no decoder, so a
//! camera driver depends on this crate alone.
#![forbid(unsafe_code)]

pub mod frame;
pub mod mailbox;

pub use frame::{GreyFrame, GreyImage};
pub use mailbox::Mailbox;
