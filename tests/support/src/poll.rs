//! Waiting on a condition the test cannot be told about (a row appearing in PostgreSQL, a
//! background task catching up): checked again and again, a short pause between checks, and a
//! failure naming what never happened once the bound is reached. The condition is the
//! synchronisation; the pause only keeps the loop from spinning.

use std::future::Future;
use std::time::{Duration, Instant};

/// The pause between two checks.
const PAUSE: Duration = Duration::from_millis(25);

/// Checks `condition` until it answers `true`; panics naming `what` after `within`.
pub async fn until<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} and still not: {what}"
        );
        tokio::time::sleep(PAUSE).await;
    }
}
