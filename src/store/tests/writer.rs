//! The writer thread: operations and their errors, serialised concurrent writes, runs a crash
//! left open, stats, and `close()` draining what was queued before it.

use super::*;
use crate::store::StoreError;

#[tokio::test]
async fn runs_round_trip_newest_first() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let first = start_run(&store, 10).await;
    let second = start_run(&store, 11).await;
    store.record_stop(first, 5_000, true).await.unwrap();
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second.0, first.0]
    );
    assert_eq!(runs[0].clean, None);
    assert_eq!(runs[0].stopped_at_ms, None);
    assert_eq!(runs[1].pid, 10);
    assert_eq!(runs[1].version, "0.1.0");
    assert_eq!(runs[1].started_at_ms, 1_010);
    assert_eq!(runs[1].stopped_at_ms, Some(5_000));
    assert_eq!(runs[1].clean, Some(true));
    assert_eq!(store.recent_runs(1).await.unwrap().len(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn stopping_an_unknown_or_stopped_run_is_an_error() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let id = start_run(&store, 1).await;
    let stop = |run| store.record_stop(run, 2_000, false);
    let unknown = stop(RunId(id.0 + 100)).await.unwrap_err();
    assert!(
        matches!(unknown, StoreError::RunNotFound { run_id } if run_id == id.0 + 100),
        "{unknown:?}"
    );
    stop(id).await.unwrap();
    let again = stop(id).await.unwrap_err();
    assert!(
        matches!(again, StoreError::RunAlreadyStopped { run_id } if run_id == id.0),
        "{again:?}"
    );
    let stats = store.stats();
    assert_eq!((stats.writes_ok, stats.writes_failed), (2, 2));
    assert_eq!(stats.queue_depth, 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn set_meta_inserts_then_replaces() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    assert_eq!(store.meta("k").await.unwrap(), None);
    for v in ["one", "two"] {
        store.set_meta("k", v).await.unwrap();
    }
    assert_eq!(store.meta("k").await.unwrap().as_deref(), Some("two"));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_run_left_open_by_a_crash_is_marked_unclean_once() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let stopped = start_run(&store, 1).await;
    store.record_stop(stopped, 2_000, true).await.unwrap();
    let crashed = start_run(&store, 2).await;
    // The process "dies": no RunStopped is ever written for `crashed`.
    store.close().await.unwrap();

    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.unclean_runs, 1);
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(runs[0].id, crashed.0);
    assert_eq!(runs[0].clean, Some(false));
    assert_eq!(runs[0].stopped_at_ms, None);
    assert_eq!(runs[1].clean, Some(true));
    let late = store.record_stop(crashed, 3_000, true).await.unwrap_err();
    assert!(matches!(late, StoreError::RunAlreadyStopped { .. }));
    store.close().await.unwrap();

    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.unclean_runs, 0, "only runs found at this open count");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_serialised() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let tasks: Vec<_> = (0..100u32)
        .map(|pid| {
            let s = store.clone();
            tokio::spawn(async move { start_run(&s, pid).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=100).map(RunId).collect::<Vec<_>>());
    let stats = store.stats();
    assert_eq!(stats.writes_ok, 100);
    assert_eq!(stats.writes_failed, 0);
    assert_eq!(stats.queue_depth, 0);
    assert!(stats.write_latency_us_sum > 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn close_drains_queued_writes_then_refuses_everything() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let other = store.clone();
    let mut queued = Vec::new();
    for pid in 0..10 {
        let job = |reply| crate::store::job::Job::RunStarted {
            pid,
            version: "0.1.0".into(),
            started_at_ms: 0,
            reply,
        };
        queued.push(store.queue(job).await.unwrap());
    }
    store.close().await.unwrap();
    for reply in queued {
        assert!(matches!(reply.await.unwrap(), Ok(RunId(_))));
    }
    assert!(matches!(other.ping().await, Err(StoreError::Closed)));
    assert!(matches!(
        other.recent_runs(1).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(other.meta("k").await, Err(StoreError::Closed)));
    let late = other.set_meta("k", "v").await;
    assert!(matches!(late, Err(StoreError::Closed)), "{late:?}");
    other.clone().close().await.unwrap();

    // The WAL was checkpointed into the main file and truncated.
    let wal = crate::store::quarantine::with_suffix(&path, "-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0));
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.unclean_runs, 10);
    assert_eq!(store.recent_runs(100).await.unwrap().len(), 10);
    store.close().await.unwrap();
}

#[tokio::test]
async fn ping_and_quick_check_answer_while_open() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.quick_check().await.unwrap(), "ok");
    assert_eq!(store.schema_version(), crate::store::SCHEMA_VERSION);
    store.close().await.unwrap();
}

#[tokio::test]
async fn typed_writes_answer_their_own_types() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let id = store.record_run(7, "0.1.0", 1).await.unwrap();
    assert_eq!(store.recent_runs(1).await.unwrap()[0].id, id.0);
    assert_eq!(store.reserve_sequence("n", 5).await.unwrap(), 1..=5);
    assert_eq!(store.next_sequence("n").await.unwrap(), 6);
    store.close().await.unwrap();
}
