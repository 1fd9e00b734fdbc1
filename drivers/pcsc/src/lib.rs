//! The PC/SC reader driver: the only crate in medsettle that links PC/SC.
//!
//! [`ReaderHandle::spawn`] starts two threads, each with its own PC/SC `Context`: a monitor
//! (reader enumeration, PnP hot-plug, card presence, pcscd loss and recovery — see `monitor`)
//! and a worker that runs card jobs, each in one exclusive transaction, behind the core's
//! byte-level [`medsettle_card::CardTransport`] (see `worker`). Callers reach both only through
//! the handle: requests over a channel, replies on a oneshot, events on a broadcast channel.
//! Slot kinds come from reader names ([`ReaderConfig::classify`]); interface choice follows the
//! 通用接口 iType policies ([`InterfacePolicy`]). This crate knows nothing about APDU contents.

#![forbid(unsafe_code)]

mod config;
mod error;
mod event;
mod handle;
mod monitor;
mod readers;
mod transport;
mod worker;

pub use config::{InterfacePolicy, ReaderConfig, SlotKind, SlotRule, default_slot_kind};
pub use error::{PcscError, map_error};
pub use event::{ReaderEvent, ReaderInfo, ReaderStats};
pub use handle::ReaderHandle;
pub use readers::PcscReaders;
