//! Personal data: the newtypes that hold it ([`IdNumber`], [`PersonName`], [`CardNumber`],
//! [`PsnNo`]: masked in `Debug` and `Display`, clear only through `expose()` and serde) and the
//! masking helpers for text that is not (yet) typed ([`mask_id`], [`mask_name`],
//! [`mask_card`], [`MaskedId`], [`MaskedName`], and [`scrub`], the log writer's backstop).
//!
//! Nothing here unmasks, logs or does I/O; nothing here validates (GB 11643 lives in the
//! daemon's `credential` module).

mod mask;
mod newtypes;

pub use mask::{MaskedId, MaskedName, mask_card, mask_id, mask_name, scrub};
pub use newtypes::{CardNumber, IdNumber, PersonName, PsnNo};
