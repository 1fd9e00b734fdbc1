//! Sales: the state machine ([`state`]), the stored document ([`sale`]), the engine that moves
//! sales through it with every step persisted before its effect ([`engine`], [`flow`]), the
//! offline forwarder and crash recovery ([`forwarder`]), the credentials a sale may be made
//! with ([`credentials`]) and daily reconciliation ([`reconcile`]). Contract: offline.md and
//! upstream.md's 冲正 rules.

mod book;
mod cashier;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod forwarder;
mod intake;
pub mod kiosk;
pub mod reconcile;
mod recovery;
mod requests;
pub mod sale;
mod settler;
pub mod state;
#[cfg(test)]
mod tests;

pub use engine::{Confirmation, Engine, EngineParts, NewItem, NewSale};
pub use error::SaleError;
pub use sale::Sale;
pub use state::{SaleEvent, SaleState};
