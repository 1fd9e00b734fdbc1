//! Typed inputs and outputs of the transactions this terminal uses, one file per family.
//!
//! Inputs serialise to the named node the platform expects (`signIn`, `data`, …). Outputs are
//! decoded from [`Response::output`](super::envelope::Response) with
//! [`Response::output_as`](super::envelope::Response::output_as): unknown fields are ignored,
//! optional fields default, codes may arrive as strings or numbers. Nothing here sends anything.

pub mod fee;
pub mod outpatient;
pub mod person;
pub mod pharmacy;
pub mod query;
pub mod reverse;
pub mod settle;
pub mod sign;
pub mod statement;
pub mod trace;
pub mod visit;
