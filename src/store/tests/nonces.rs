//! The e-SSC replay guard's purge under clock steps: a nonce is kept at least 24 h past its
//! code's expiry, purged only when the wall clock, the run's monotonic clock and the persisted
//! high-water time all agree (injected clocks: wall seconds and `Instant`s given by the test).

use std::time::{Duration, Instant};

use super::*;
use crate::store::Nonce;
use crate::store::write::trusted_time;

const DAY: i64 = 24 * 3600;

#[test]
fn trusted_time_follows_the_wall_clock_but_not_faster_than_real_time() {
    let t0 = Instant::now();
    let mut first = None;
    assert_eq!(trusted_time(&mut first, 1_000, t0), 1_000);
    // Ten real seconds later the wall clock agrees: believed.
    assert_eq!(
        trusted_time(&mut first, 1_010, t0 + Duration::from_secs(10)),
        1_010
    );
    // The wall clock jumps a year ahead after 20 real seconds: only 20 s are believed.
    let year = 365 * DAY;
    assert_eq!(
        trusted_time(&mut first, 1_000 + year, t0 + Duration::from_secs(20)),
        1_020
    );
    // The wall clock steps back: believed at once (it purges less).
    assert_eq!(
        trusted_time(&mut first, 500, t0 + Duration::from_secs(30)),
        500
    );
}

async fn remember(store: &Store, nonce: &str, exp: i64, now: i64, mono: Instant) -> Nonce {
    store
        .remember_nonce_at("k1", nonce, exp, now, mono)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_nonce_is_kept_a_day_past_expiry_and_a_forward_jump_purges_nothing() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let t0 = Instant::now();
    let start = 1_800_000_000;
    let exp = start + 60;
    assert_eq!(remember(&store, "used", exp, start, t0).await, Nonce::Fresh);

    // The wall clock jumps two days ahead within a second of real time: a write purges
    // nothing, so when the clock is set back the used code is still a replay.
    let jumped = start + 2 * DAY;
    let later = t0 + Duration::from_secs(1);
    assert_eq!(
        remember(&store, "other", jumped + 60, jumped, later).await,
        Nonce::Fresh
    );
    assert_eq!(
        remember(&store, "used", exp, start + 2, later).await,
        Nonce::Replayed
    );

    // Real time passes too, but less than a day past the expiry: still kept.
    let t1 = t0 + Duration::from_secs(u64::try_from(DAY).unwrap());
    assert_eq!(
        remember(&store, "third", start + DAY + 60, start + DAY, t1).await,
        Nonce::Fresh
    );
    assert_eq!(
        remember(&store, "used", exp, start + DAY, t1).await,
        Nonce::Replayed
    );

    // More than a day past expiry by the wall clock AND by real time: purged, so the nonce is
    // new again (its code would no longer verify anyway).
    let t2 = t0 + Duration::from_secs(u64::try_from(DAY + 120).unwrap());
    assert_eq!(
        remember(&store, "fourth", start + DAY + 300, start + DAY + 120, t2).await,
        Nonce::Fresh
    );
    assert_eq!(
        remember(&store, "used", exp, start + DAY + 121, t2).await,
        Nonce::Fresh
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_high_water_time_is_persisted_and_never_moves_back() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let t0 = Instant::now();
    let start = 1_800_000_000;
    remember(&store, "a", start + 60, start, t0).await;
    remember(&store, "b", start + 60, start - 500, t0).await;
    let key = "essc.high_water_unix";
    assert_eq!(
        store.meta(key).await.unwrap().as_deref(),
        Some("1800000000")
    );
    store.close().await.unwrap();

    // A restart with the clock set back two days: nothing is purged (the wall clock says no),
    // and the high-water time stays where it was.
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let back = start - 2 * DAY;
    assert_eq!(
        remember(&store, "c", back + 60, back, Instant::now()).await,
        Nonce::Fresh
    );
    assert_eq!(
        remember(&store, "a", start + 60, back, Instant::now()).await,
        Nonce::Replayed
    );
    assert_eq!(
        store.meta(key).await.unwrap().as_deref(),
        Some("1800000000")
    );
    store.close().await.unwrap();
}
