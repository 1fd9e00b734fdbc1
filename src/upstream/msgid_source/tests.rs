//! Unit tests of the msgid source: uniqueness within a second, across restarts and across
//! terminals; a burst larger than the counter part waits for the next second on a fake clock
//! (no real sleeps) and never stamps an id ahead of that clock.

use super::*;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn store(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open(&dir.path().join(name), Duration::from_secs(1))
        .unwrap()
        .0
}

/// A fake monotonic clock and the wall clock it drives: waiting jumps straight to the end of
/// the wait, and the wall clock moves with it.
struct FakeTime {
    wall_origin: DateTime<Utc>,
    now: Mutex<Duration>,
    waits: Mutex<Vec<Duration>>,
}

impl FakeTime {
    fn starting(wall: DateTime<Utc>) -> Arc<FakeTime> {
        Arc::new(FakeTime {
            wall_origin: wall,
            now: Mutex::new(Duration::ZERO),
            waits: Mutex::new(Vec::new()),
        })
    }

    fn wall(&self) -> DateTime<Utc> {
        self.wall_origin + chrono::Duration::from_std(*self.now.lock().unwrap()).unwrap()
    }

    fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl Waiter for FakeTime {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap()
    }

    fn wait_until(&self, until: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut now = self.now.lock().unwrap();
        self.waits.lock().unwrap().push(until.saturating_sub(*now));
        *now = (*now).max(until);
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn ids_are_unique_within_a_second_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let at = at("2026-11-23T02:00:00Z");
    let mut seen = HashSet::new();
    for _ in 0..2 {
        let store = store(&dir, "m.db");
        let ids = MsgIdSource::new(store.clone(), "H11010500001", None).unwrap();
        for _ in 0..50 {
            let id = ids.next(at).await.unwrap();
            assert_eq!(&id.as_str()[..26], "H1101050000120261123100000");
            assert!(
                seen.insert(id.as_str().to_owned()),
                "{} issued twice",
                id.as_str()
            );
        }
        store.close().await.unwrap();
    }
    assert_eq!(seen.len(), 100);
}

#[test]
fn a_bad_institution_code_fails_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    assert!(MsgIdSource::new(store(&dir, "m.db"), "H110", None).is_err());
}

#[tokio::test]
async fn a_burst_beyond_the_counter_part_waits_for_the_next_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, "t.db");
    // Half a second into 10:00:00 CST; node 417 of 3 digits holds 10 ids per second.
    let time = FakeTime::starting(at("2026-11-23T02:00:00.5Z"));
    let layout = SeqLayout::new(417, 3).unwrap();
    let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(layout))
        .unwrap()
        .with_waiter(time.clone());
    let mut seen = HashSet::new();
    let mut per_stamp: HashMap<i64, usize> = HashMap::new();
    let mut last = DateTime::<Utc>::MIN_UTC;
    for _ in 0..25 {
        let id = ids.next(time.wall()).await.unwrap();
        let stamp = id.timestamp();
        assert!(stamp <= time.wall(), "{id} stamped ahead of the clock");
        assert!(stamp >= last, "{id} went back in time");
        last = stamp;
        assert_eq!(layout.split(id.sequence()).0, 417, "{id}");
        assert!(seen.insert(id.clone()), "{id} issued twice");
        *per_stamp.entry(stamp.timestamp()).or_default() += 1;
    }
    let mut counts: Vec<_> = per_stamp.into_iter().collect();
    counts.sort_unstable();
    let base = at("2026-11-23T02:00:00Z").timestamp();
    assert_eq!(counts, [(base, 10), (base + 1, 10), (base + 2, 5)]);
    // The first wait is the rest of the half-second, the second a whole second.
    assert_eq!(
        time.waits(),
        [Duration::from_millis(500), Duration::from_secs(1)]
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_later_second_needs_no_wait_and_callers_that_read_the_clock_early_share_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, "t.db");
    let time = FakeTime::starting(at("2026-11-23T02:00:00.9Z"));
    let layout = SeqLayout::new(5, 2).unwrap();
    let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(layout))
        .unwrap()
        .with_waiter(time.clone());
    let early = time.wall();
    time.advance(Duration::from_millis(200));
    let first = ids.next(time.wall()).await.unwrap();
    // A caller that read 10:00:00.9 but got the lock after 10:00:01.1 shares 10:00:01.
    let second = ids.next(early).await.unwrap();
    assert_eq!(first.timestamp(), at("2026-11-23T02:00:01Z"));
    assert_eq!(second.timestamp(), first.timestamp());
    assert_ne!(first, second);
    assert!(time.waits().is_empty());
    store.close().await.unwrap();
}

#[tokio::test]
async fn after_a_restart_a_narrow_layout_skips_the_start_up_second() {
    let dir = tempfile::tempdir().unwrap();
    let layout = SeqLayout::new(7, 3).unwrap();
    let time = FakeTime::starting(at("2026-11-23T02:00:00.25Z"));
    let mut seen = HashSet::new();
    // The first run issues a full second's worth and stops; the second starts in the same
    // second and must not stamp it again.
    let first = {
        let store = store(&dir, "t.db");
        let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(layout))
            .unwrap()
            .with_waiter(time.clone());
        for _ in 0..10 {
            assert!(seen.insert(ids.next(time.wall()).await.unwrap()));
        }
        store.close().await.unwrap();
        seen.clone()
    };
    assert!(
        first
            .iter()
            .all(|id| id.timestamp() == at("2026-11-23T02:00:00Z"))
    );
    let store = store(&dir, "t.db");
    let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(layout))
        .unwrap()
        .with_waiter(time.clone())
        .after_restart_at(time.wall());
    for _ in 0..10 {
        let id = ids.next(time.wall()).await.unwrap();
        assert_eq!(id.timestamp(), at("2026-11-23T02:00:01Z"));
        assert!(id.timestamp() <= time.wall());
        assert!(seen.insert(id.clone()), "{id} issued twice");
    }
    assert_eq!(time.waits(), [Duration::from_millis(750)]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn terminals_sharing_a_code_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let time = FakeTime::starting(at("2026-11-23T02:00:00Z"));
    let mut seen = HashSet::new();
    let mut stores = Vec::new();
    // Three terminals of the 3-digit layout, each three seconds' worth of ids and more.
    for node in [0u16, 1, 417] {
        let store = store(&dir, &format!("t{node}.db"));
        let layout = SeqLayout::new(node, 3).unwrap();
        let ids = MsgIdSource::new(store.clone(), "H11010500001", Some(layout))
            .unwrap()
            .with_waiter(time.clone());
        for _ in 0..35 {
            let id = ids.next(time.wall()).await.unwrap();
            assert!(seen.insert(id.clone()), "{id} twice");
        }
        stores.push(store);
    }
    assert_eq!(seen.len(), 105);
    for s in stores {
        s.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_one_digit_layout_issues_the_ids_it_always_did() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, "t.db");
    let at = at("2026-11-23T02:00:00Z");
    let ids = MsgIdSource::new(
        store.clone(),
        "H11010500001",
        Some(SeqLayout::new(3, 1).unwrap()),
    )
    .unwrap();
    // The counter starts at 1: the first ids of node 3 are 3001, 3002, ...
    let first: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(ids.next(at).await.unwrap().as_str()[26..].to_owned());
        }
        v
    };
    assert_eq!(first, ["3001", "3002", "3003"]);
    store.close().await.unwrap();
}
