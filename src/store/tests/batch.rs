//! Group commit under a lost transaction: when SQLite rolls back a whole batch by itself
//! (`SQLITE_FULL` here, through `max_page_count`), every write is answered truthfully — `Ok`
//! exactly when it is on disk — and no write after the loss runs in autocommit.

use tokio::sync::oneshot;

use super::*;
use crate::store::StoreError;
use crate::store::job::Job;
use crate::store::ops::apply_batch;

/// A schema-current file with the store closed, and a writer-like connection on it.
fn setup(dir: &TempDir) -> (Connection, crate::store::crypt::Crypt) {
    let path = db_in(dir);
    let (store, _) = Store::open_keyed(&path, BUSY, test_keys()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.close()).unwrap();
    let conn = raw(&path);
    crate::store::open::configure(&conn, BUSY).unwrap();
    let crypt = crate::store::sealed::load_crypt(&conn, test_keys()).unwrap();
    (conn, crypt)
}

type Rx = oneshot::Receiver<Result<(), StoreError>>;

fn meta_job(key: &str, value: String) -> (Job, Rx) {
    let (reply, rx) = oneshot::channel();
    (
        Job::SetMeta {
            key: key.to_owned(),
            value,
            reply,
        },
        rx,
    )
}

fn has_meta(conn: &Connection, key: &str) -> bool {
    conn.query_row("SELECT count(*) FROM meta WHERE key = ?1", [key], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap()
        == 1
}

#[test]
fn a_batch_sqlite_rolls_back_by_itself_answers_every_write_truthfully() {
    let dir = tmp();
    let (mut conn, crypt) = setup(&dir);
    crate::store::writer::limit_pages(&conn, 0).unwrap();
    let big = "x".repeat(200_000);
    let mut jobs = Vec::new();
    let mut rxs = Vec::new();
    for (k, v) in [
        ("before-1", "a".to_owned()),
        ("before-2", "b".to_owned()),
        ("too-big", big),
        ("after", "c".to_owned()),
    ] {
        let (j, rx) = meta_job(k, v);
        jobs.push(j);
        rxs.push((k, rx));
    }
    let (answers, commits) = apply_batch(&mut conn, jobs, &crypt);
    assert!(conn.is_autocommit(), "no transaction is left open");
    for a in answers {
        a.send();
    }
    let mut results = Vec::new();
    for (k, mut rx) in rxs {
        let r = rx.try_recv().expect("every write is answered");
        results.push((k, r));
    }
    // Truthful: Ok exactly when on disk.
    for (k, r) in &results {
        assert_eq!(r.is_ok(), has_meta(&conn, k), "{k}: {r:?}");
    }
    // SQLite rolled the batch back: the writes before the full one are lost and say so, the
    // full one answers SQLITE_FULL, the one after ran in a new transaction and committed.
    assert!(
        matches!(results[0].1, Err(StoreError::TransactionLost { .. })),
        "{:?}",
        results[0]
    );
    assert!(matches!(
        results[1].1,
        Err(StoreError::TransactionLost { .. })
    ));
    let full = results[2].1.as_ref().unwrap_err();
    assert!(
        matches!(full, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)),
        "{full:?}"
    );
    assert!(results[3].1.is_ok());
    assert_eq!(commits, 1);
}

#[test]
fn a_write_that_fails_alone_leaves_the_rest_of_its_batch_committed() {
    let dir = tmp();
    let (mut conn, crypt) = setup(&dir);
    let (a, rx_a) = meta_job("a", "1".to_owned());
    let (reply, mut rx_bad) = oneshot::channel();
    let bad = Job::RunStopped {
        run_id: 999,
        stopped_at_ms: 1,
        clean: true,
        reply,
    };
    let (b, rx_b) = meta_job("b", "2".to_owned());
    let (answers, commits) = apply_batch(&mut conn, vec![a, bad, b], &crypt);
    assert_eq!(commits, 1);
    for answer in answers {
        answer.send();
    }
    for (k, mut rx) in [("a", rx_a), ("b", rx_b)] {
        rx.try_recv().unwrap().unwrap();
        assert!(has_meta(&conn, k));
    }
    assert!(matches!(
        rx_bad.try_recv().unwrap(),
        Err(StoreError::RunNotFound { run_id: 999 })
    ));
}

#[tokio::test]
async fn the_store_keeps_answering_after_a_full_disk() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store.limit_pages(0).await.unwrap();
    let full = store
        .set_meta("big", &"y".repeat(200_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&full, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)),
        "{full:?}"
    );
    store.set_meta("small", "ok").await.unwrap();
    assert_eq!(store.meta("small").await.unwrap().as_deref(), Some("ok"));
    assert_eq!(store.meta("big").await.unwrap(), None);
    store.close().await.unwrap();
}
