//! The trace-report outbox: a settlement adds one 3505 row per line with codes in its own
//! transaction (a refused move adds none), once; a refund cancels what was never sent and owes
//! a 3506 for the rest; attempts keep their msgid; a 3506 waits for its 3505; an operator
//! retries a failed row; the sold codes are remembered until the refund.

use super::*;
use crate::store::{NewSaleRow, SaleTransition, StoreError, TraceChange, TraceState};

async fn create(store: &Store, id: &str) {
    store
        .create_sale(NewSaleRow {
            id: id.into(),
            at_ms: 1_000,
            state: "captured".into(),
            amount_fen: 100,
            doc: format!(r#"{{"id":"{id}"}}"#),
            detail: "{}".into(),
            idempotency: None,
        })
        .await
        .unwrap();
}

/// Three lines: two boxes, none, one box.
fn doc(id: &str, to: &str) -> String {
    format!(
        r#"{{"id":"{id}","state":"{to}","items":[
            {{"code":"A","trace":{{"codes":["{id}-1","{id}-2"],"trdn_flag":false}}}},
            {{"code":"B"}},
            {{"code":"C","trace":{{"codes":["{id}-3"],"trdn_flag":false}}}}]}}"#
    )
}

fn step(id: &str, from: &str, to: &str, at: i64) -> SaleTransition {
    SaleTransition {
        id: id.into(),
        from: from.into(),
        to: to.into(),
        event: to.into(),
        at_ms: at,
        doc: doc(id, to),
        detail: "{}".into(),
        next_attempt_at_ms: None,
        store_offline: None,
    }
}

async fn walk(store: &Store, id: &str, path: &[&str], at: i64) {
    for pair in path.windows(2) {
        store
            .transition_sale(step(id, pair[0], pair[1], at))
            .await
            .unwrap();
    }
}

/// A fresh store in `dir` holding sale `id` settled at 2000 (its reports owed).
async fn settled_store(dir: &tempfile::TempDir, id: &str) -> Store {
    let (store, _) = Store::open(&db_in(dir), BUSY).unwrap();
    create(&store, id).await;
    walk(
        &store,
        id,
        &["captured", "confirmed", "settling", "settled"],
        2_000,
    )
    .await;
    store
}

fn lines(rows: &[crate::store::TraceReport]) -> Vec<(u32, &str, TraceState, u32)> {
    let mut v: Vec<_> = rows
        .iter()
        .map(|r| (r.line, r.infno.as_str(), r.state, r.codes))
        .collect();
    v.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    v
}

#[tokio::test]
async fn a_settlement_owes_one_3505_per_line_with_codes_once() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    create(&store, "S1").await;
    walk(&store, "S1", &["captured", "confirmed", "settling"], 2_000).await;
    assert!(store.trace_due(i64::MAX, 10).await.unwrap().is_empty());
    // A move the store refuses (wrong `from`) adds nothing.
    let refused = store
        .transition_sale(step("S1", "confirmed", "settled", 2_500))
        .await;
    assert!(matches!(refused, Err(StoreError::SaleStateConflict { .. })));
    assert!(store.trace_due(i64::MAX, 10).await.unwrap().is_empty());
    walk(&store, "S1", &["settling", "settled"], 3_000).await;
    let due = store.trace_due(3_000, 10).await.unwrap();
    assert_eq!(
        lines(&due),
        vec![
            (0, "3505", TraceState::Pending, 2),
            (2, "3505", TraceState::Pending, 1)
        ]
    );
    assert!(store.trace_due(2_999, 10).await.unwrap().is_empty());
    // Settled again (a cancellation reversed, the settlement restored): nothing twice.
    walk(
        &store,
        "S1",
        &["settled", "cancelling", "unknown", "reversing", "settled"],
        4_000,
    )
    .await;
    assert_eq!(store.trace_list(vec![], None, 10).await.unwrap().len(), 2);
    let stats = store.trace_stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.oldest_pending_at_ms),
        (2, Some(3_000))
    );
    assert_eq!(stats.lag_ms(5_000), 2_000);
    // Its codes are sold: another sale sees them, the sale itself does not.
    let codes = vec!["S1-1".to_owned(), "S1-3".to_owned(), "other".to_owned()];
    let elsewhere = store
        .trace_sold_elsewhere(codes.clone(), "S2".into())
        .await
        .unwrap();
    assert_eq!(
        elsewhere
            .iter()
            .map(|s| s.code.as_str())
            .collect::<Vec<_>>(),
        ["S1-1", "S1-3"]
    );
    assert_eq!(elsewhere[0].sale_id, "S1");
    assert!(
        store
            .trace_sold_elsewhere(codes, "S1".into())
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn attempts_keep_their_msgid_and_a_refund_owes_3506_only_for_what_may_have_left() {
    let dir = tmp();
    let store = settled_store(&dir, "S1").await;
    let due = store.trace_due(2_000, 10).await.unwrap();
    let (first, second) = (due[0].id, due[1].id);
    // Line 0: an attempt whose answer was lost, tried later under the same msgid.
    let attempt = TraceChange::Attempt {
        msgid: "M1".into(),
        msg_at_ms: 2_100,
    };
    assert!(store.trace_update(first, attempt, 2_100).await.unwrap());
    let later = TraceChange::Later {
        next_at_ms: 9_000,
        error: "no answer".into(),
    };
    assert!(store.trace_update(first, later, 2_200).await.unwrap());
    let row = store.trace_report(first).await.unwrap().unwrap();
    assert_eq!(
        (
            row.msgid.as_deref(),
            row.msg_at_ms,
            row.tries,
            row.next_at_ms
        ),
        (Some("M1"), Some(2_100), 1, 9_000)
    );
    assert_eq!(store.trace_due(5_000, 10).await.unwrap().len(), 1);
    // Refunded before line 2 was ever attempted: line 2 is cancelled, line 0 owes a 3506,
    // which waits until its 3505 is through.
    walk(&store, "S1", &["settled", "cancelling", "cancelled"], 3_000).await;
    let all = store.trace_list(vec![], None, 10).await.unwrap();
    assert_eq!(
        lines(&all),
        vec![
            (0, "3505", TraceState::Pending, 2),
            (2, "3505", TraceState::Cancelled, 1),
            (0, "3506", TraceState::Pending, 2),
        ]
    );
    let due = store.trace_due(10_000, 10).await.unwrap();
    assert_eq!(lines(&due), vec![(0, "3505", TraceState::Pending, 2)]);
    // The 3506 (due since 3000) waits behind its 3505, which is next due at 9000: the
    // reporter sleeps until then, not in a loop.
    assert_eq!(store.trace_next_due().await.unwrap(), Some(9_000));
    let sent = TraceChange::Sent {
        answer: Some("成功".into()),
    };
    assert!(store.trace_update(first, sent, 10_000).await.unwrap());
    let due = store.trace_due(10_000, 10).await.unwrap();
    assert_eq!(lines(&due), vec![(0, "3506", TraceState::Pending, 2)]);
    // A change to a row in another state applies to nothing.
    let again = TraceChange::Failed { answer: "x".into() };
    assert!(!store.trace_update(first, again, 10_001).await.unwrap());
    assert!(
        !store
            .trace_update(second, TraceChange::Retry, 10_001)
            .await
            .unwrap()
    );
    // The refund forgot the codes.
    assert!(
        store
            .trace_sold_elsewhere(vec!["S1-1".into()], "S2".into())
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_report_waits_for_an_operator_and_a_retry_takes_a_fresh_msgid() {
    let dir = tmp();
    let store = settled_store(&dir, "S1").await;
    let id = store.trace_due(2_000, 10).await.unwrap()[0].id;
    let attempt = TraceChange::Attempt {
        msgid: "M1".into(),
        msg_at_ms: 2_100,
    };
    store.trace_update(id, attempt, 2_100).await.unwrap();
    let failed = TraceChange::Failed {
        answer: "药师执业资格证号不存在".into(),
    };
    assert!(store.trace_update(id, failed, 2_200).await.unwrap());
    assert_eq!(store.trace_due(i64::MAX, 10).await.unwrap().len(), 1);
    let stats = store.trace_stats().await.unwrap();
    assert_eq!((stats.pending, stats.failed), (1, 1));
    let failed_only = store
        .trace_list(vec![TraceState::Failed], Some("S1".into()), 10)
        .await
        .unwrap();
    assert_eq!(failed_only.len(), 1);
    assert_eq!(
        failed_only[0].answer.as_deref(),
        Some("药师执业资格证号不存在")
    );
    assert!(
        store
            .trace_update(id, TraceChange::Retry, 3_000)
            .await
            .unwrap()
    );
    let row = store.trace_report(id).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.msgid, row.next_at_ms, row.tries),
        (TraceState::Pending, None, 3_000, 1)
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refund_cancels_a_refused_3505_and_owes_no_3506_for_it() {
    let dir = tmp();
    let store = settled_store(&dir, "V1").await;
    let due = store.trace_due(2_000, 10).await.unwrap();
    let failed = TraceChange::Failed {
        answer: "refused".into(),
    };
    store.trace_update(due[0].id, failed, 2_100).await.unwrap();
    let sent = TraceChange::Sent { answer: None };
    store.trace_update(due[1].id, sent, 2_100).await.unwrap();
    // A visit's refund: settled → cancelling → closing → cancelled (the second entry adds
    // nothing).
    walk(
        &store,
        "V1",
        &["settled", "cancelling", "closing", "cancelled"],
        3_000,
    )
    .await;
    let all = store.trace_list(vec![], None, 10).await.unwrap();
    assert_eq!(
        lines(&all),
        vec![
            (0, "3505", TraceState::Cancelled, 2),
            (2, "3505", TraceState::Sent, 1),
            (2, "3506", TraceState::Pending, 1),
        ]
    );
    store.close().await.unwrap();
}
