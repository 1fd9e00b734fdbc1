//! Migrations: a fixture for every older schema version upgrades to the current one keeping
//! its data, each step commits in its own transaction, and a failing step rolls back alone.

use super::*;
use crate::store::migrate::{self, MIGRATIONS, Migration};
use crate::store::{AuditAnswer, AuditRequest, Nonce, SCHEMA_VERSION, StoreError};

#[test]
fn every_older_schema_version_has_a_fixture() {
    for v in 0..SCHEMA_VERSION {
        let f = fixture(&format!("v{v}.sqlite"));
        assert!(
            f.is_file(),
            "{} is missing: extend fixtures/db/generate.sh",
            f.display()
        );
    }
}

#[tokio::test]
async fn each_older_fixture_upgrades_to_the_current_schema() {
    for v in 0..SCHEMA_VERSION {
        let dir = tmp();
        let path = copy_fixture(v, &dir);
        let (store, report) = Store::open(&path, BUSY).unwrap();
        assert_eq!(report.migrated_from, v, "fixture v{v}");
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        assert_eq!(report.created, v == 0, "fixture v{v}");
        assert!(report.quarantined.is_none(), "fixture v{v}");
        assert_eq!(store.pragmas().await.unwrap().user_version, SCHEMA_VERSION);
        assert_eq!(store.quick_check().await.unwrap(), "ok");
        // The newest table is usable.
        let id = start_run(&store, 1).await;
        assert_eq!(store.recent_runs(5).await.unwrap()[0].id, id.0);
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_v1_fixture_keeps_its_meta_row() {
    let dir = tmp();
    let path = copy_fixture(1, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 1);
    assert_eq!(
        store.meta("fixture").await.unwrap().as_deref(),
        Some("written by schema v1")
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_v2_fixture_keeps_its_runs_and_gains_the_replay_guard() {
    let dir = tmp();
    let path = copy_fixture(2, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 2);
    assert_eq!(
        report.unclean_runs, 0,
        "the fixture's run was stopped cleanly"
    );
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(
        (runs.len(), runs[0].pid, runs[0].clean),
        (1, 4242, Some(true))
    );
    let remember = |nonce: &'static str, now: i64| store.remember_nonce("k1", nonce, now + 60, now);
    assert_eq!(remember("aa", 1_000).await.unwrap(), Nonce::Fresh);
    assert_eq!(
        remember("aa", 1_010).await.unwrap(),
        Nonce::Replayed,
        "a replay"
    );
    assert_eq!(remember("bb", 1_010).await.unwrap(), Nonce::Fresh);
    // Expired, but kept a day past expiry (and a jump of the clock purges nothing): still a
    // replay (the purge itself: `store::tests::nonces`).
    assert_eq!(remember("aa", 2_000).await.unwrap(), Nonce::Replayed);
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_v3_fixture_keeps_its_nonces_and_counts_msgid_sequences() {
    let dir = tmp();
    let path = copy_fixture(3, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 3);
    // The nonce remembered under v3 is still a replay.
    let again = store
        .remember_nonce(
            "test-2026",
            "00112233445566778899aabbccddeeff",
            4_102_444_800,
            1_795_000_100,
        )
        .await
        .unwrap();
    assert_eq!(again, Nonce::Replayed);
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 1);
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 2);
    assert_eq!(store.next_sequence("other").await.unwrap(), 1);
    assert_eq!(
        store.reserve_sequence("other", 10).await.unwrap(),
        2..=11,
        "a block"
    );
    store.close().await.unwrap();
    // Across a restart the counter goes on; no value is handed out twice.
    let (store, _) = Store::open(&path, BUSY).unwrap();
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 3);
    store.close().await.unwrap();
}

#[tokio::test]
async fn platform_requests_are_audited_before_sending_and_never_twice() {
    let dir = tmp();
    let (store, _) = Store::open(&db_in(&dir), BUSY).unwrap();
    let msgid = "H11010500001202611231000000001";
    let request = |body: &str| {
        store.record_request(AuditRequest {
            msgid: msgid.into(),
            infno: "2102".into(),
            request: body.into(),
            sent_at_ms: 1,
        })
    };
    request("{\"infno\":\"2102\"}").await.unwrap();
    let row = store.audit(msgid).await.unwrap().unwrap();
    assert_eq!((row.infno.as_str(), row.outcome.clone()), ("2102", None));
    let again = request("{}").await.unwrap_err();
    assert!(
        matches!(again, StoreError::DuplicateMsgId { .. }),
        "{again:?}"
    );
    let answer = |id: &str| {
        store.record_answer(AuditAnswer {
            msgid: id.into(),
            http_status: Some(200),
            response: Some("{\"infcode\":0}".into()),
            outcome: crate::store::AuditOutcome::Ok,
            answered_at_ms: 2,
        })
    };
    answer(msgid).await.unwrap();
    let row = store.audit(msgid).await.unwrap().unwrap();
    assert_eq!(row.outcome.as_deref(), Some("ok"));
    assert_eq!(row.request, "{\"infno\":\"2102\"}", "the first body stays");
    let unknown = answer("H11010500001202611231000000002").await.unwrap_err();
    assert!(
        matches!(unknown, StoreError::UnknownMsgId { .. }),
        "{unknown:?}"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_current_database_is_not_migrated_again() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    store.close().await.unwrap();
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(!report.created);
    assert_eq!(report.migrated_from, SCHEMA_VERSION);
    store.close().await.unwrap();
}

#[test]
fn each_step_commits_in_its_own_transaction() {
    let dir = tmp();
    let path = db_in(&dir);
    let mut conn = raw(&path);
    let observer = raw(&path);
    let mut seen = Vec::new();
    let from = migrate::migrate(&mut conn, &path, MIGRATIONS, &test_keys(), |v| {
        // Another connection sees exactly this step committed, not less and not more.
        seen.push((v, migrate::user_version(&observer).unwrap()));
    })
    .unwrap();
    assert_eq!(from, 0);
    let expected: Vec<(u32, u32)> = (1..=SCHEMA_VERSION).map(|v| (v, v)).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_failing_step_rolls_back_alone() {
    let dir = tmp();
    let path = db_in(&dir);
    let broken = [
        Migration {
            to: 1,
            sql: MIGRATIONS[0].sql,
            post: None,
        },
        Migration {
            to: 2,
            sql: "CREATE TABLE half_done (x INTEGER); SELECT no_such_function();",
            post: None,
        },
    ];
    let mut conn = raw(&path);
    let err = migrate::migrate(&mut conn, &path, &broken, &test_keys(), |_| {}).unwrap_err();
    match &err {
        StoreError::Migration { from, to, .. } => assert_eq!((*from, *to), (1, 2)),
        other => panic!("expected Migration, got {other:?}"),
    }
    assert!(err.to_string().contains("left at version 1"), "{err}");
    let c = raw(&path);
    assert_eq!(migrate::user_version(&c).unwrap(), 1);
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["meta"]);
}

#[test]
fn the_migration_list_is_numbered_in_order() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.to as usize, i + 1);
        assert!(!m.sql.trim().is_empty());
    }
}

#[tokio::test]
async fn the_v7_fixture_keeps_its_sales_and_answers_but_drops_remembered_conflicts() {
    let dir = tmp();
    let path = copy_fixture(7, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 7);
    let sale = store.sale("S2611231000000e5f6a7b8").await.unwrap().unwrap();
    assert_eq!((sale.state.as_str(), sale.stored), ("queued", true));
    assert_eq!(
        store
            .sale_events("S2611231000000e5f6a7b8")
            .await
            .unwrap()
            .len(),
        2
    );
    let created = store
        .idempotency_entry("sale-create-1", 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.answer.unwrap().0, 201);
    assert_eq!(created.sale_id, None);
    assert!(
        store
            .idempotency_entry("confirm-busy-1", 0)
            .await
            .unwrap()
            .is_none(),
        "a 409 of v7 is not remembered any more"
    );
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 58);
    store.close().await.unwrap();
}

/// The sales, the 2102 and the PIN proofs of the v8 fixture (see [`write_the_v8_fixture`]).
const V8_OPEN_SALE: &str = "S2611231000000e5f6a7b8";
const V8_FINAL_SALE: &str = "S2612011000001f00dfee";
const V8_2102: &str = "H11010500001202612011000000058";
const V8_NEW_2102: &str = "H11010500001202612011000000059";

/// The old consent proofs the v8 fixture holds: SM3(cert_no:PIN), as the code before the
/// consent seal stored them (one per sale).
fn v8_proofs() -> [String; 2] {
    ["A87654321:123456", "A87654321:654321"].map(|m| medsettle_nhsa::signing::sm3_hex(m.as_bytes()))
}

/// Opens a sealed column of a raw connection with the fixtures' key.
fn open_sealed(conn: &Connection, sql: &str, key: &str, label: &str) -> serde_json::Value {
    let sealed: Vec<u8> = conn.query_row(sql, [key], |r| r.get(0)).unwrap();
    serde_json::from_str(&test_keys().open_text(label, &sealed).unwrap()).unwrap()
}

/// Writes `fixtures/db/v8.sqlite` (and its key, `v8.db-key`): what the code of schema v8 left
/// behind before the consent seal, sealed under [`test_keys`]. The v7 fixture migrated by the
/// v8 steps, then as v8 wrote them: a meta row, the queued sale's consent holding the old
/// `proof`, a settled sale holding one too, a 2102 audited with that proof as `pwd=` in its
/// `cainfo` and its outcome `unknown`, and an idempotency entry only claimed by its sale.
/// Regenerate with `cargo test -p medsettle-daemon --lib write_the_v8_fixture -- --ignored`.
#[test]
#[ignore = "writes fixtures/db/v8.sqlite"]
fn write_the_v8_fixture() {
    use crate::store::crypt::label;
    let dir = tmp();
    let path = copy_fixture(7, &dir);
    let mut conn = raw(&path);
    let keys = test_keys();
    migrate::migrate(&mut conn, &path, &MIGRATIONS[..8], &keys, |_| {}).unwrap();
    let [open_proof, final_proof] = v8_proofs();
    let seal = |label: &str, v: &serde_json::Value| keys.seal(label, v.to_string().as_bytes());
    let mut doc = open_sealed(
        &conn,
        "SELECT doc FROM sales WHERE id = ?1",
        V8_OPEN_SALE,
        label::SALE_DOC,
    );
    doc["consent"] = serde_json::json!({"kind": "pin", "proof": open_proof});
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('fixture', 'written by schema v8')",
        [],
    )
    .unwrap();
    tx.execute(
        "UPDATE sales SET doc = ?2 WHERE id = ?1",
        rusqlite::params![V8_OPEN_SALE, seal(label::SALE_DOC, &doc)],
    )
    .unwrap();
    let mut settled = doc.clone();
    settled["id"] = V8_FINAL_SALE.into();
    settled["chrg_bchno"] = V8_FINAL_SALE.into();
    settled["state"] = "settled".into();
    settled["stored"] = false.into();
    settled["consent"] = serde_json::json!({"kind": "pin", "proof": final_proof});
    tx.execute(
        "INSERT INTO sales (id, created_at_ms, updated_at_ms, state, stored, amount_fen, doc)
         VALUES (?1, 1796100000000, 1796100000900, 'settled', 0, 2000, ?2)",
        rusqlite::params![V8_FINAL_SALE, seal(label::SALE_DOC, &settled)],
    )
    .unwrap();
    let request = serde_json::json!({
        "infno": "2102",
        "msgid": V8_2102,
        "signtype": "SM3",
        "cainfo": format!("sig=QUJDRA==&pwd={open_proof}"),
        "input": {"druginfo": {"psn_no": "PSN4402", "chrg_bchno": V8_OPEN_SALE}},
    });
    tx.execute(
        "INSERT INTO upstream_audit (msgid, infno, request, sent_at_ms, outcome, answered_at_ms)
         VALUES (?1, '2102', ?2, 1796100000100, 'unknown', 1796100030100)",
        rusqlite::params![V8_2102, seal(label::AUDIT_REQUEST, &request)],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO idempotency (key, route, request_hash, sale_id, created_at_ms)
         VALUES ('sale-confirm-8', 'POST /v1/sales/{id}/confirm', 'cd34', ?1, 1796100000000)",
        [V8_OPEN_SALE],
    )
    .unwrap();
    tx.commit().unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    std::fs::copy(&path, fixture("v8.sqlite")).unwrap();
    std::fs::copy(fixture("v7.db-key"), fixture("v8.db-key")).unwrap();
}

#[tokio::test]
async fn the_v8_fixture_loses_its_pin_proofs_once_and_records_unsent_requests() {
    use crate::store::crypt::label;
    let dir = tmp();
    let path = copy_fixture(8, &dir);
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert_eq!(report.migrated_from, 8);
    let proofs = v8_proofs();
    // Both sales lose the consent record that held the proof; nothing else changes.
    for id in [V8_OPEN_SALE, V8_FINAL_SALE] {
        let sale = store.sale(id).await.unwrap().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&sale.doc).unwrap();
        assert_eq!(doc["consent"], serde_json::Value::Null, "{id}");
        assert!(
            proofs.iter().all(|p| !sale.doc.contains(p.as_str())),
            "{id}"
        );
        assert!(sale.doc.contains("A87654321"), "the credential stays");
    }
    assert_eq!(
        store.sale(V8_OPEN_SALE).await.unwrap().unwrap().state,
        "queued"
    );
    // The audited request keeps its signature, not the proof.
    let audit = store.audit(V8_2102).await.unwrap().unwrap();
    assert!(!audit.request.contains("pwd="), "{}", audit.request);
    assert!(!audit.request.contains(proofs[0].as_str()));
    let body: serde_json::Value = serde_json::from_str(&audit.request).unwrap();
    assert_eq!(body["cainfo"], "sig=QUJDRA==");
    assert_eq!(
        audit.outcome.as_deref(),
        Some("unknown"),
        "kept as recorded"
    );
    // Recorded, with what it changed.
    let record: serde_json::Value = serde_json::from_str(
        &store
            .meta(crate::store::scrub::PIN_PROOFS)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (record["sales"].as_u64(), record["requests"].as_u64()),
        (Some(2), Some(1))
    );
    // The claimed idempotency entry of v8 is still there.
    let claimed = store
        .idempotency_entry("sale-confirm-8", 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.sale_id.as_deref(), Some(V8_OPEN_SALE));
    // v9's outcome: a request that never left.
    store
        .record_request(AuditRequest {
            msgid: V8_NEW_2102.into(),
            infno: "2102".into(),
            request: "{}".into(),
            sent_at_ms: 1,
        })
        .await
        .unwrap();
    store
        .record_answer(AuditAnswer {
            msgid: V8_NEW_2102.into(),
            http_status: None,
            response: None,
            outcome: crate::store::AuditOutcome::Unsent,
            answered_at_ms: 2,
        })
        .await
        .unwrap();
    let unsent = store.audit(V8_NEW_2102).await.unwrap().unwrap();
    assert_eq!(unsent.outcome.as_deref(), Some("unsent"));
    store.close().await.unwrap();
    // Nothing of the proofs is left in the file or its WAL (the values are sealed, but the
    // proof was never to be kept at all: look at the clear text through the key instead).
    let conn = raw(&path);
    let doc = open_sealed(
        &conn,
        "SELECT doc FROM sales WHERE id = ?1",
        V8_OPEN_SALE,
        label::SALE_DOC,
    );
    assert_eq!(doc["consent"], serde_json::Value::Null);
    // Not repeated: an old-shaped consent written after the scrub (as if by hand) survives the
    // next open, and the record is unchanged.
    let mut planted = doc.clone();
    planted["consent"] = serde_json::json!({"kind": "pin", "proof": proofs[0]});
    conn.execute(
        "UPDATE sales SET doc = ?2 WHERE id = ?1",
        rusqlite::params![
            V8_OPEN_SALE,
            test_keys().seal(label::SALE_DOC, planted.to_string().as_bytes())
        ],
    )
    .unwrap();
    drop(conn);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let sale = store.sale(V8_OPEN_SALE).await.unwrap().unwrap();
    assert!(
        sale.doc.contains(proofs[0].as_str()),
        "the scrub ran once only"
    );
    let again: serde_json::Value = serde_json::from_str(
        &store
            .meta(crate::store::scrub::PIN_PROOFS)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again, record);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_salvage_from_an_older_file_scrubs_the_pin_proofs_it_copies() {
    // The fresh file was scrubbed (of nothing) when it was created; the rows a salvage brings
    // from an older file are scrubbed as they are copied.
    let dir = tmp();
    let old = dir.path().join("old.sqlite");
    std::fs::rename(copy_fixture(8, &dir), &old).unwrap();
    let path = db_in(&dir);
    let report = crate::store::salvage(&path, BUSY, test_keys(), Some(&old)).unwrap();
    assert!(
        report.copied.contains(&("sales".to_owned(), 2)),
        "{report:?}"
    );
    let (store, _) = Store::open(&path, BUSY).unwrap();
    let proofs = v8_proofs();
    for id in [V8_OPEN_SALE, V8_FINAL_SALE] {
        let sale = store.sale(id).await.unwrap().unwrap();
        assert!(
            proofs.iter().all(|p| !sale.doc.contains(p.as_str())),
            "{id}"
        );
        assert!(sale.doc.contains("\"consent\":null"), "{id}");
    }
    let audit = store.audit(V8_2102).await.unwrap().unwrap();
    assert!(!audit.request.contains("pwd="), "{}", audit.request);
    store.close().await.unwrap();
}
