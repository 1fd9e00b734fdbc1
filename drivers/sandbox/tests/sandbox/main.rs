//! Integration tests of the sandbox insurer over real HTTP on 127.0.0.1, one module per
//! boundary. Each test starts its own sandbox (fresh books) on port 0.

mod support;

mod answers;
mod detail;
mod envelope;
mod evoucher;
mod faults;
mod fees;
mod lifecycle;
mod outpatient;
mod person;
mod reconcile;
mod reversal;
mod session;
mod settle;
mod settle_outpatient;
mod trace;
mod visits;
