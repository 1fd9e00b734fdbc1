//! Sales: the state machine ([`state`]), the stored document ([`sale`]), the `[settle]` options
//! ([`options`], the config reads them from the file), and the engine that moves sales through the machine with
//! every step persisted before its effect — small types, one per job, over the
//! [`Platform`](crate::upstream::platform::Platform) trait: the [`engine`] facade, the cashier's
//! operations (`cashier`), the sale book (`book`: load, lock, transition), the settler
//! (`settler`, with `requests` building its inputs), crash recovery (`recovery`), the offline
//! [`forwarder`] and daily [`reconcile`]iation. Contract: offline.md and upstream.md's 冲正
//! rules. Unit tests of every money path against the scripted platform: `tests/`.

mod book;
mod cashier;
mod clinic;
mod consent;
pub mod detail;
pub mod dispensing;
pub mod doubt;
pub mod engine;
pub mod error;
pub mod facts;
pub mod forwarder;
mod intake;
pub mod kiosk;
pub mod options;
pub mod reconcile;
mod recovery;
pub mod report;
pub mod reporter;
mod requests;
pub mod resolve;
pub mod sale;
mod settler;
pub mod state;
#[cfg(test)]
mod tests;
pub mod trace;
pub mod visit;
pub mod visit_intake;
mod visit_requests;

pub use engine::{Confirmation, Engine, EngineParts, NewItem, NewSale};
pub use error::SaleError;
pub use resolve::{Decision, MismatchAck, Resolution};
pub use sale::Sale;
pub use state::{SaleEvent, SaleKind, SaleState};
pub use visit_intake::{NewDetails, NewVisit};
