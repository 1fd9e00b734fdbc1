//! The just-read credential cache moved to [`crate::credential`]; this path stays for the code
//! that still names it (`settle::engine`, `api::mod`, tests, benches) until they import from
//! there. Nothing may be added here.

pub use crate::credential::{Credentials, Fresh};
