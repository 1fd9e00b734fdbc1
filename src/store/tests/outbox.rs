//! The fleet outbox: off until switched on; once on, a change of a settled sale adds its row in
//! the change's own transaction (and a refused change adds none); switching on enqueues the
//! sales that may have facts, switching off drops what waits; rows come back in enqueue order
//! with the sale's version; the v9 fixture's settled sale is enqueued after the upgrade.

use super::*;
use crate::store::{NewSaleRow, OutboxSwitch, SaleTransition, StoreError};

async fn create(store: &Store, id: &str, at: i64) {
    store
        .create_sale(NewSaleRow {
            id: id.into(),
            at_ms: at,
            state: "captured".into(),
            amount_fen: 100,
            doc: format!(r#"{{"id":"{id}"}}"#),
            detail: "{}".into(),
            idempotency: None,
        })
        .await
        .unwrap();
}

/// A move of `id` from `from` to `to`; `setl_id` puts a settlement in the new document.
fn step(id: &str, from: &str, to: &str, at: i64, setl_id: Option<&str>) -> SaleTransition {
    let settlement = setl_id.map_or_else(
        || "null".to_owned(),
        |s| format!(r#"{{"setl_id":"{s}","medfee":"1.00"}}"#),
    );
    SaleTransition {
        id: id.into(),
        from: from.into(),
        to: to.into(),
        event: to.into(),
        at_ms: at,
        doc: format!(r#"{{"id":"{id}","state":"{to}","settlement":{settlement}}}"#),
        detail: "{}".into(),
        next_attempt_at_ms: None,
        store_offline: None,
    }
}

/// Takes `id` from captured to settled (three history rows after its creation: seq 4).
async fn settle(store: &Store, id: &str, at: i64) {
    for (from, to, setl) in [
        ("captured", "confirmed", None),
        ("confirmed", "settling", None),
        ("settling", "settled", Some("X")),
    ] {
        store
            .transition_sale(step(id, from, to, at, setl))
            .await
            .unwrap();
    }
}

fn pairs(rows: &[crate::store::OutboxRow]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|r| (r.sale_id.clone(), r.version))
        .collect()
}

#[tokio::test]
async fn nothing_is_enqueued_while_the_outbox_is_off() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    create(&store, "S1", 1_000).await;
    settle(&store, "S1", 2_000).await;
    assert!(store.outbox_page(10).await.unwrap().is_empty());
    assert_eq!(store.outbox_stats().await.unwrap().rows, 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn switching_on_enqueues_what_may_have_facts_and_later_changes_enqueue_themselves() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    create(&store, "S1", 1_000).await;
    settle(&store, "S1", 2_000).await;
    create(&store, "S2", 1_500).await; // captured: no facts, not enqueued
    assert_eq!(
        store.set_outbox(true, 5_000).await.unwrap(),
        OutboxSwitch::On { backfilled: 1 }
    );
    assert_eq!(
        store.set_outbox(true, 5_001).await.unwrap(),
        OutboxSwitch::Unchanged
    );
    // Changes before the settlement enqueue nothing; the settlement and every change after it do.
    store
        .transition_sale(step("S2", "captured", "confirmed", 6_000, None))
        .await
        .unwrap();
    store
        .transition_sale(step("S2", "confirmed", "settling", 6_100, None))
        .await
        .unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().rows, 1);
    store
        .transition_sale(step("S2", "settling", "settled", 6_200, Some("Y")))
        .await
        .unwrap();
    store
        .transition_sale(step("S1", "settled", "cancelling", 7_000, Some("X")))
        .await
        .unwrap();
    let rows = store.outbox_page(10).await.unwrap();
    assert_eq!(
        pairs(&rows),
        [("S1".into(), 4), ("S2".into(), 4), ("S1".into(), 5)],
        "enqueue order, each with the sale's version then"
    );
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.oldest_enqueued_at_ms, Some(5_000));
    assert_eq!(stats.lag_ms(5_750), 750);
    // The drain reads the sale with its version from one snapshot.
    let s1 = store.sale_versioned("S1").await.unwrap().unwrap();
    assert_eq!((s1.row.state.as_str(), s1.version), ("cancelling", 5));
    assert!(store.sale_versioned("S9").await.unwrap().is_none());
    // Rows go once the ledger committed them; a second removal finds nothing.
    let first_two: Vec<i64> = rows[..2].iter().map(|r| r.id).collect();
    assert_eq!(store.outbox_remove(first_two.clone()).await.unwrap(), 2);
    assert_eq!(store.outbox_remove(first_two).await.unwrap(), 0);
    assert_eq!(
        pairs(&store.outbox_page(10).await.unwrap()),
        [("S1".into(), 5)]
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_change_enqueues_nothing() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store.set_outbox(true, 1).await.unwrap();
    create(&store, "S1", 1_000).await;
    settle(&store, "S1", 2_000).await;
    assert_eq!(store.outbox_stats().await.unwrap().rows, 1);
    // A writer that believes the sale is elsewhere loses, and so does its outbox row.
    let stale = store
        .transition_sale(step("S1", "settling", "settled", 3_000, Some("X")))
        .await;
    assert!(matches!(stale, Err(StoreError::SaleStateConflict { .. })));
    assert_eq!(store.outbox_stats().await.unwrap().rows, 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn switching_off_drops_what_waits_and_stops_enqueueing() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store.set_outbox(true, 1).await.unwrap();
    create(&store, "S1", 1_000).await;
    settle(&store, "S1", 2_000).await;
    assert_eq!(
        store.set_outbox(false, 3).await.unwrap(),
        OutboxSwitch::Off { dropped: 1 }
    );
    store
        .transition_sale(step("S1", "settled", "cancelling", 4_000, Some("X")))
        .await
        .unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().rows, 0);
    // On again: the sale is enqueued once more by the switch.
    assert_eq!(
        store.set_outbox(true, 5).await.unwrap(),
        OutboxSwitch::On { backfilled: 1 }
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_committed_enqueue_wakes_the_drain() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    store.set_outbox(true, 1).await.unwrap();
    // The switch itself left a wake; take it, then nothing is pending.
    store.outbox_wake().await;
    let woken = {
        let store = store.clone();
        tokio::spawn(async move { store.outbox_wake().await })
    };
    create(&store, "S1", 1_000).await;
    settle(&store, "S1", 2_000).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), woken)
        .await
        .expect("the drain is woken after the commit")
        .unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_v9_fixture_upgrades_and_its_settled_sale_is_enqueued_when_switched_on() {
    let dir = tmp();
    let path = copy_fixture(9, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 9);
    assert_eq!(store.outbox_stats().await.unwrap().rows, 0);
    assert_eq!(
        store.set_outbox(true, 1).await.unwrap(),
        OutboxSwitch::On { backfilled: 1 }
    );
    let rows = store.outbox_page(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let sale = store
        .sale_versioned(&rows[0].sale_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sale.row.state, "settled");
    // The fixture's sale has no history rows: its version is 0, as the drain will read it.
    assert_eq!(rows[0].version, sale.version);
    store.close().await.unwrap();
}
