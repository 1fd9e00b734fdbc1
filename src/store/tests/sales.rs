//! Sales in the store: creation, compare-and-set transitions with their history, the offline
//! limits checked in the storing transaction (nothing written past a limit), paging, and
//! idempotency keys.

use super::*;
use crate::store::{
    IdempotencyRow, LimitKind, NewSaleRow, OfflineLimits, Remembered, SaleTransition, StoreError,
};

async fn create(store: &Store, id: &str, at: i64, amount: i64) {
    store
        .create_sale(NewSaleRow {
            id: id.into(),
            at_ms: at,
            state: "captured".into(),
            amount_fen: amount,
            doc: format!(r#"{{"id":"{id}"}}"#),
            detail: "{}".into(),
            idempotency: None,
        })
        .await
        .unwrap();
}

fn step(id: &str, from: &str, to: &str, limits: Option<OfflineLimits>) -> SaleTransition {
    SaleTransition {
        id: id.into(),
        from: from.into(),
        to: to.into(),
        event: format!("{from}->{to}"),
        at_ms: 2_000,
        doc: format!(r#"{{"id":"{id}","state":"{to}"}}"#),
        detail: r#"{"why":"test"}"#.into(),
        next_attempt_at_ms: Some(3_000),
        store_offline: limits,
    }
}

const LIMITS: OfflineLimits = OfflineLimits {
    per_sale_fen: 50_000,
    total_fen: 80_000,
    count: 3,
};

#[tokio::test]
async fn transitions_are_compare_and_set_with_a_history_row_each() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    create(&store, "S1", 1_000, 12_850).await;
    let dup = store
        .create_sale(NewSaleRow {
            id: "S1".into(),
            at_ms: 1,
            state: "captured".into(),
            amount_fen: 1,
            doc: "{}".into(),
            detail: "{}".into(),
            idempotency: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::DuplicateSale { .. })));
    store
        .transition_sale(step("S1", "captured", "identified", None))
        .await
        .unwrap();
    // A second writer that still believes the sale is captured loses.
    let stale = store
        .transition_sale(step("S1", "captured", "abandoned", None))
        .await;
    assert!(
        matches!(&stale, Err(StoreError::SaleStateConflict { actual, .. }) if actual == "identified"),
        "{stale:?}"
    );
    let missing = store
        .transition_sale(step("S9", "captured", "identified", None))
        .await;
    assert!(matches!(missing, Err(StoreError::UnknownSale { .. })));
    let row = store.sale("S1").await.unwrap().unwrap();
    assert_eq!(row.state, "identified");
    assert_eq!(row.created_at_ms, 1_000);
    assert_eq!(row.updated_at_ms, 2_000);
    assert_eq!(row.next_attempt_at_ms, Some(3_000));
    assert!(row.doc.contains("identified") && !row.stored);
    let history = store.sale_events("S1").await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (history[0].seq, history[0].from_state.as_deref()),
        (1, None)
    );
    assert_eq!(history[1].from_state.as_deref(), Some("captured"));
    assert_eq!(history[1].to_state, "identified");
    store.close().await.unwrap();
}

#[tokio::test]
async fn each_offline_limit_refuses_and_writes_nothing() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    // Per sale.
    create(&store, "BIG", 1_000, 50_001).await;
    let e = store
        .transition_sale(step("BIG", "captured", "queued", Some(LIMITS)))
        .await;
    assert!(
        matches!(
            e,
            Err(StoreError::OfflineLimit {
                limit: LimitKind::PerSale,
                ..
            })
        ),
        "{e:?}"
    );
    let row = store.sale("BIG").await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.stored), ("captured", false));
    assert_eq!(store.sale_events("BIG").await.unwrap().len(), 1);
    // Total amount: 40000 + 40000 fits, the next 1 fen does not.
    for (i, id) in ["A", "B"].iter().enumerate() {
        create(&store, id, 2_000 + i as i64, 40_000).await;
        store
            .transition_sale(step(id, "captured", "queued", Some(LIMITS)))
            .await
            .unwrap();
    }
    create(&store, "C", 3_000, 1).await;
    let e = store
        .transition_sale(step("C", "captured", "queued", Some(LIMITS)))
        .await;
    assert!(
        matches!(
            e,
            Err(StoreError::OfflineLimit {
                limit: LimitKind::Total,
                current: 80_000,
                ..
            })
        ),
        "{e:?}"
    );
    // Count: once one settles, its amount leaves the totals; a third fits, a fourth does not.
    store
        .transition_sale(step("A", "queued", "settled", None))
        .await
        .unwrap();
    store
        .transition_sale(step("C", "captured", "queued", Some(LIMITS)))
        .await
        .unwrap();
    create(&store, "D", 4_000, 1).await;
    store
        .transition_sale(step("D", "captured", "queued", Some(LIMITS)))
        .await
        .unwrap();
    create(&store, "E", 5_000, 1).await;
    let e = store
        .transition_sale(step("E", "captured", "queued", Some(LIMITS)))
        .await;
    assert!(
        matches!(
            e,
            Err(StoreError::OfflineLimit {
                limit: LimitKind::Count,
                ..
            })
        ),
        "{e:?}"
    );
    let totals = store.offline_totals().await.unwrap();
    assert_eq!(totals.count, 3);
    assert_eq!(totals.amount_fen, 40_002);
    assert_eq!(totals.oldest_created_at_ms, Some(2_001));
    // Stored stays stored: the settled one is still listed among stored sales.
    let stored = store.sales_in(&["settled"], true, None, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn listing_pages_oldest_first() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    for i in 0..5 {
        create(&store, &format!("P{i}"), 10_000 - i, 100).await;
    }
    let first = store.sales_in(&["captured"], false, None, 2).await.unwrap();
    let ids: Vec<_> = first.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["P4", "P3"]);
    let next = store
        .sales_in(&["captured"], false, Some("P3"), 10)
        .await
        .unwrap();
    let ids: Vec<_> = next.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["P2", "P1", "P0"]);
    assert!(
        store
            .sales_in(&["captured"], true, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn idempotency_keeps_the_first_answer() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let row = |response: &str| IdempotencyRow {
        route: "POST /v1/sales".into(),
        request_hash: "h1".into(),
        status: 201,
        response: response.into(),
    };
    assert_eq!(
        store.remember_answer("K1", row("first"), 1).await.unwrap(),
        Remembered::New
    );
    assert_eq!(
        store.remember_answer("K1", row("second"), 1).await.unwrap(),
        Remembered::AlreadyThere
    );
    assert_eq!(
        store.idempotency("K1").await.unwrap().unwrap().response,
        "first"
    );
    assert!(store.idempotency("K2").await.unwrap().is_none());
    store.close().await.unwrap();
}

#[tokio::test]
async fn grouped_writes_fail_alone_and_the_rest_commit() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    create(&store, "DUP", 1, 1).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        // Every tenth write collides with an existing id and must fail on its own.
        let id = if i % 10 == 0 {
            "DUP".to_owned()
        } else {
            format!("G{i}")
        };
        tasks.push(tokio::spawn(async move {
            store
                .create_sale(NewSaleRow {
                    id,
                    at_ms: 2,
                    state: "captured".into(),
                    amount_fen: 1,
                    doc: "{}".into(),
                    detail: "{}".into(),
                    idempotency: None,
                })
                .await
        }));
    }
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::DuplicateSale { .. }) => failed += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(failed, 6);
    let rows = store
        .sales_in(&["captured"], false, None, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 55, "54 new sales and the first DUP");
    let history = store.sale_events("DUP").await.unwrap();
    assert_eq!(history.len(), 1, "a failed write left no history row");
    let stats = store.stats();
    assert_eq!(stats.writes_ok, 55);
    assert!(stats.batches <= stats.writes_ok + stats.writes_failed);
    store.close().await.unwrap();
}

fn claim(key: &str, hash: &str, expired_before_ms: i64) -> crate::store::IdempotencyClaim {
    crate::store::IdempotencyClaim {
        key: key.into(),
        route: "/v1/sales".into(),
        request_hash: hash.into(),
        expired_before_ms,
    }
}

#[tokio::test]
async fn a_key_claimed_by_a_sale_commits_with_it_and_takes_its_answer_later() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store
        .create_sale(NewSaleRow {
            id: "S1".into(),
            at_ms: 1_000,
            state: "captured".into(),
            amount_fen: 100,
            doc: "{}".into(),
            detail: "{}".into(),
            idempotency: Some(claim("K1", "h1", 0)),
        })
        .await
        .unwrap();
    // Committed with the sale, without an answer: it names the sale.
    let entry = store.idempotency_entry("K1", 0).await.unwrap().unwrap();
    assert_eq!(entry.sale_id.as_deref(), Some("S1"));
    assert_eq!(entry.answer, None);
    assert_eq!(entry.request_hash, "h1");
    assert!(
        store.idempotency("K1").await.unwrap().is_none(),
        "no answer yet"
    );

    // Another request under the key cannot fill in the answer; the same one does.
    let row = |hash: &str, body: &str| IdempotencyRow {
        route: "/v1/sales".into(),
        request_hash: hash.into(),
        status: 201,
        response: body.into(),
    };
    assert_eq!(
        store
            .remember_answer_until("K1", row("other", "x"), 1_100, 0)
            .await
            .unwrap(),
        Remembered::AlreadyThere
    );
    assert_eq!(
        store
            .remember_answer_until("K1", row("h1", "{\"id\":\"S1\"}"), 1_100, 0)
            .await
            .unwrap(),
        Remembered::New
    );
    let entry = store.idempotency_entry("K1", 0).await.unwrap().unwrap();
    assert_eq!(entry.answer, Some((201, "{\"id\":\"S1\"}".to_owned())));
    assert_eq!(entry.sale_id.as_deref(), Some("S1"));
    // Now answered, it stands.
    assert_eq!(
        store
            .remember_answer_until("K1", row("h1", "later"), 1_200, 0)
            .await
            .unwrap(),
        Remembered::AlreadyThere
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_expired_key_is_ignored_replaced_and_purged() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let row = |body: &str| IdempotencyRow {
        route: "/v1/sales/{id}/cancel".into(),
        request_hash: "h".into(),
        status: 200,
        response: body.into(),
    };
    store
        .remember_answer_until("OLD", row("old"), 1_000, 0)
        .await
        .unwrap();
    store
        .remember_answer_until("NEW", row("new"), 5_000, 0)
        .await
        .unwrap();
    // Live since 2 000: the old entry is as good as gone.
    assert!(
        store
            .idempotency_entry("OLD", 2_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .idempotency_entry("NEW", 2_000)
            .await
            .unwrap()
            .is_some()
    );
    // A new request under the expired key replaces it.
    assert_eq!(
        store
            .remember_answer_until("OLD", row("again"), 6_000, 2_000)
            .await
            .unwrap(),
        Remembered::New
    );
    let again = store
        .idempotency_entry("OLD", 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.answer, Some((200, "again".to_owned())));
    assert_eq!(again.created_at_ms, 6_000);
    // Housekeeping purges by age.
    assert_eq!(store.purge_idempotency(5_500).await.unwrap(), 1);
    assert!(store.idempotency_entry("NEW", 0).await.unwrap().is_none());
    assert!(store.idempotency_entry("OLD", 0).await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test]
async fn due_work_is_selected_in_sql_past_any_number_in_backoff() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let roomy = OfflineLimits {
        per_sale_fen: 1_000_000,
        total_fen: 100_000_000,
        count: 1_000,
    };
    // 70 stored sales in backoff (next attempt at 3 000), older than everything else.
    for i in 0..70 {
        let id = format!("B{i:02}");
        create(&store, &id, 1_000 + i, 100).await;
        store
            .transition_sale(step(&id, "captured", "queued", Some(roomy)))
            .await
            .unwrap();
    }
    // An online reversed sale (waits for its cashier), due.
    create(&store, "R", 1_500, 100).await;
    let mut reversed = step("R", "captured", "reversed", None);
    reversed.next_attempt_at_ms = None;
    store.transition_sale(reversed).await.unwrap();
    // The newest: a queued sale that is due.
    create(&store, "Q", 2_000, 100).await;
    let mut due = step("Q", "captured", "queued", Some(roomy));
    due.next_attempt_at_ms = None;
    store.transition_sale(due).await.unwrap();

    let states = ["queued", "reversed"];
    let page = store
        .sales_due(&states, Some(2_500), None, 64)
        .await
        .unwrap();
    let ids: Vec<_> = page.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["Q"]);
    assert_eq!(
        store.sales_waiting(&states, 2_500).await.unwrap(),
        (70, Some(3_000))
    );
    // Once due (or flushed), all of them, oldest first, paged by (created_at_ms, id).
    let first = store
        .sales_due(&states, Some(3_000), None, 64)
        .await
        .unwrap();
    assert_eq!(first.len(), 64);
    assert_eq!(first[0].id, "B00");
    let last = first.last().unwrap();
    let rest = store
        .sales_due(
            &states,
            None,
            Some((last.created_at_ms, last.id.clone())),
            64,
        )
        .await
        .unwrap();
    let ids: Vec<_> = rest.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["B64", "B65", "B66", "B67", "B68", "B69", "Q"]);
    // Unattended online sales: by last change, never a stored one.
    let stale = store
        .sales_unattended(&["reversed", "queued"], 2_001, 10, false)
        .await
        .unwrap();
    let ids: Vec<_> = stale.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["R"]);
    assert!(
        store
            .sales_unattended(&["reversed"], 2_000, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await.unwrap();
}
