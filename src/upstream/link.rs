//! Keeps the terminal signed in while the daemon runs: signs in at start (retrying with capped
//! backoff while the platform is unreachable), checks every minute so a new CST day gets a new
//! session before the first sale needs it, and reports the link on the status board and as
//! `upstream.link` events. The daemon signs out (9002) after draining, through the client.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::Client;
use crate::error::UserFacing as _;
use crate::events::EventBus;
use crate::status::{Health, StatusBoard};

/// The status board component name.
pub const COMPONENT: &str = "upstream";

const CHECK_EVERY: Duration = Duration::from_secs(60);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Runs until `stop` is cancelled.
pub async fn run(
    client: Arc<Client>,
    status: Arc<StatusBoard>,
    events: EventBus,
    stop: CancellationToken,
) {
    status.set(
        COMPONENT,
        Health::Starting,
        "signing in to the platform (9001)",
    );
    let mut retry = FIRST_RETRY;
    let mut was_up: Option<bool> = None;
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = client.ensure_signed_in() => r,
        };
        let up = result.is_ok();
        match &result {
            Ok(_) => {
                status.set(COMPONENT, Health::Ok, "signed in to the platform");
                retry = FIRST_RETRY;
            }
            Err(e) => {
                status.set(
                    COMPONENT,
                    Health::Degraded,
                    format!("sign-in failed ({}): {e}", e.code()),
                );
            }
        }
        if was_up != Some(up) {
            let error = result.as_ref().err().map(|e| e.code());
            events.publish(
                "upstream.link",
                serde_json::json!({ "signed_in": up, "error": error }),
            );
            was_up = Some(up);
        }
        let wait = if up {
            CHECK_EVERY
        } else {
            let w = retry;
            retry = (retry * 2).min(MAX_RETRY);
            w
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
