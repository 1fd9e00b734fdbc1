//! The one integration test binary, a module per boundary. `support` starts real daemons
//! (in-process or as the built binary) with their own temporary directories.

mod answers;
mod api;
mod card_profiles;
mod card_profiles_pcsc;
mod card_transcripts;
mod chaos;
mod cli;
mod credentials;
mod doctor;
mod doubt;
mod edges;
mod engine_safety;
mod events;
mod fleet;
mod fleet_sim;
mod flood;
mod gaps;
mod kiosk;
mod layout;
mod lifecycle;
mod page;
mod pii;
mod qr;
mod qr_frames;
mod reconcile_cli;
mod sales;
mod schema_fuzz;
mod settle;
mod store;
mod store_safety;
mod support;
mod systemd;
mod upstream;
mod visit_api;
mod visits;
