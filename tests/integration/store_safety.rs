//! The store's money safety through the real binary: a group commit hit by a full disk answers
//! each caller truthfully (issue 15 defect 6), a corrupt database stops money operations until
//! `medsettle store salvage` (defect 7), and a sale whose answer was lost to a crash is answered
//! again, not created twice, for the same `Idempotency-Key` (defect 1c).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Process, Terminal};

const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");

fn sale_body(credential: &str, n: usize) -> Value {
    json!({
        "credential_id": credential,
        "items": [{"code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊", "cnt": "1",
                   "pric": format!("{}.{:02}", 1 + n % 5, n % 100)}],
        "mode": "force_offline",
    })
}

/// The terminal's config with the virtual card, written to `run.toml`.
fn config(t: &Terminal) -> String {
    t.config_with_virtual_card(CARD)
}

async fn start(t: &Terminal, env: &[(&str, &str)]) -> Process {
    let run = t.path().join(format!("run-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&run).unwrap();
    let text = config(t);
    Process::start_config(&run, &text, |c| {
        c.env("RUST_LOG", "warn");
        for (k, v) in env {
            c.env(k, v);
        }
    })
    .await
}

/// Defect 6: sales created concurrently while the database runs out of room. Each `201` is a
/// sale that exists after a restart; each failure is a sale that does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_during_group_commit_answers_every_sale_truthfully() {
    let t = Terminal::new();
    let p = start(&t, &[("MEDSETTLE_TEST_STORE_SPARE_PAGES", "6")]).await;
    let api = std::sync::Arc::new(Api::new(&p));
    let credential = api.credential().await;
    let mut tasks = Vec::new();
    for n in 0..60 {
        let api = std::sync::Arc::clone(&api);
        let body = sale_body(&credential, n);
        let key = format!("full-disk-{n}");
        tasks.push(tokio::spawn(async move {
            (
                key.clone(),
                api.post_keyed("/v1/sales", Some(&key), &body).await,
            )
        }));
    }
    let mut created = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (_, answer) = task.await.unwrap();
        let (status, v, _) = answer.expect("the daemon answers every request");
        match status {
            201 => created.push(v["id"].as_str().unwrap().to_owned()),
            s if s >= 500 => failed += 1,
            other => panic!("unexpected answer {other}: {v}"),
        }
    }
    p.signal(15);
    let (status, log) = p.wait();
    assert!(status.success(), "{log}");
    // SQLite rolled back whole transactions by itself (the path of defect 6), not only
    // single statements.
    assert!(
        log.contains("rolled back a whole write batch"),
        "the test never lost a transaction: it proves nothing\n{log}"
    );
    assert!(
        failed > 0,
        "the database never filled ({} created): the test proves nothing\n{log}",
        created.len()
    );
    assert!(
        !created.is_empty(),
        "no sale fit at all: the test proves nothing"
    );

    // Restart without the cap: what was answered created exists, nothing else does.
    let p = start(&t, &[]).await;
    let api = Api::new(&p);
    for id in &created {
        let (status, v) = api.get_with_status(&format!("/v1/sales/{id}")).await;
        assert_eq!(status, 200, "sale {id} was answered 201 but is gone: {v}");
    }
    p.signal(15);
    p.wait();
    let (store, _) = medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    let all = store
        .count_sales(
            &[
                "captured",
                "identified",
                "presettled",
                "confirmed",
                "queued",
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        all,
        created.len() as u64,
        "every sale on disk was answered 201, no failed one was saved"
    );
    store.close().await.unwrap();
}

/// Defect 1c: the daemon dies after the sale committed and before its answer left. The retry
/// under the same `Idempotency-Key` after a restart answers that sale (the key committed with
/// it) — it does not run the create again (which would fail: the card read did not survive)
/// and no second sale exists.
#[tokio::test]
async fn a_sale_whose_answer_was_lost_to_a_crash_is_answered_again_not_created_twice() {
    let t = Terminal::new();
    let p = start(&t, &[("MEDSETTLE_TEST_ABORT_AFTER_CREATE", "1")]).await;
    let api = Api::new(&p);
    let credential = api.credential().await;
    let body = sale_body(&credential, 7);
    let lost = api
        .post_keyed("/v1/sales", Some("crash-key-1"), &body)
        .await;
    assert!(
        lost.is_none(),
        "the daemon must die before answering: {lost:?}"
    );
    let (status, log) = p.wait();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("aborting after the sale was committed"),
        "{log}"
    );

    let p = start(&t, &[]).await;
    let api = Api::new(&p);
    let (status, sale, replayed) = api
        .post_keyed("/v1/sales", Some("crash-key-1"), &body)
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert!(
        replayed,
        "answered from the committed entry: Idempotent-Replayed"
    );
    let id = sale["id"].as_str().unwrap().to_owned();
    assert_eq!(sale["state"], "captured", "{sale}");
    // Answered again from the entry the sale committed with, now with its remembered answer.
    let (status, again, _) = api
        .post_keyed("/v1/sales", Some("crash-key-1"), &body)
        .await
        .unwrap();
    assert_eq!((status, again["id"].as_str()), (201, Some(id.as_str())));
    // The same key with another request is still refused.
    let (status, other, _) = api
        .post_keyed("/v1/sales", Some("crash-key-1"), &sale_body(&credential, 8))
        .await
        .unwrap();
    assert_eq!(
        (status, other["code"].as_str()),
        (422, Some("idempotency.mismatch")),
        "{other}"
    );
    p.signal(15);
    assert!(p.wait().0.success());

    let (store, _) = medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    let sales = store
        .sales_in(
            &[
                "captured",
                "identified",
                "presettled",
                "confirmed",
                "queued",
            ],
            false,
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        sales.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()],
        "exactly the one sale"
    );
    store.close().await.unwrap();
}

const PIN: &str = "123456";

/// A terminal whose virtual card has the holder's PIN set (a stored card sale needs it), no
/// platform: sales made `force_offline` and confirmed are stored as `queued`.
fn pin_terminal() -> (Terminal, String) {
    let t = Terminal::new();
    let mut profile: Value = serde_json::from_str(&std::fs::read_to_string(CARD).unwrap()).unwrap();
    profile["pin"] = json!({ "value": PIN, "tries_left": 3 });
    let path = t.path().join("card.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let text = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(path);
    });
    std::fs::write(t.path().join("run.toml"), &text).unwrap();
    (t, text)
}

async fn start_text(t: &Terminal, text: &str) -> Process {
    let run = t.path().join(format!("run-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&run).unwrap();
    Process::start_config(&run, text, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await
}

/// A `force_offline` sale confirmed with the PIN: stored, `queued`.
async fn queued_sale(api: &Api, credential: &str, n: usize) -> String {
    let (status, v, _) = api
        .post_keyed("/v1/sales", None, &sale_body(credential, n))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v, _) = api
        .post_keyed(
            &format!("/v1/sales/{id}/confirm"),
            None,
            &json!({ "pin": PIN }),
        )
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("queued")), "{v}");
    id
}

async fn stop(p: Process) {
    p.signal(15);
    let (status, log) = p.wait();
    assert!(status.success(), "{log}");
}

/// Overwrites the last `len` bytes of the b-tree page `root` of `name` (a table or index):
/// its cell content, deterministically. Returns the page number.
fn damage(db: &std::path::Path, name: &str, len: usize) -> usize {
    let (page_size, root) = {
        let c = rusqlite::Connection::open(db).unwrap();
        let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let root: i64 = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        (
            usize::try_from(page_size).unwrap(),
            usize::try_from(root).unwrap(),
        )
    };
    let wal = format!("{}-wal", db.display());
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the WAL was checkpointed at stop"
    );
    let mut bytes = std::fs::read(db).unwrap();
    let end = root * page_size;
    bytes[end - len..end].fill(0x7f);
    std::fs::write(db, &bytes).unwrap();
    root
}

fn quick_check(db: &std::path::Path) -> String {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let rows: Result<Vec<String>, _> = c
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    rows.map_or_else(|e| e.to_string(), |r| r.join("\n"))
}

fn corrupt_files(t: &Terminal) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("medsettle.db.corrupt-")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .collect()
}

/// Defect 7: a corrupt database stops money operations (a bilingual `store.quarantined` on
/// every money route, an alarm, the store component down) until `medsettle store salvage`
/// brings the queued sales, the msgid high-water mark and the e-SSC nonces back.
#[tokio::test]
async fn a_corrupt_database_stops_money_until_salvage_brings_the_queued_sales_back() {
    let (t, text) = pin_terminal();
    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let credential = api.credential().await;
    let queued = [
        queued_sale(&api, &credential, 1).await,
        queued_sale(&api, &credential, 2).await,
    ];
    stop(p).await;
    // What the platform requests and QR codes of the day left behind.
    {
        let (store, _) =
            medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
        store.reserve_sequence("upstream.msgid", 41).await.unwrap();
        let now = chrono::Utc::now().timestamp();
        store
            .remember_nonce("kid-1", "nonce-used", now + 600, now)
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    // A damaged table page: `runs` (which salvage does not need), so quick_check fails and
    // REINDEX cannot help.
    damage(&t.db_path(), "runs", 64);
    assert_ne!(
        quick_check(&t.db_path()),
        "ok",
        "the damage must be visible to quick_check"
    );

    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let status = api.get_with_status("/v1/status").await.1;
    let alarm = status["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "store.quarantined")
        .unwrap_or_else(|| panic!("{status}"))
        .clone();
    assert!(
        alarm["message_en"]
            .as_str()
            .unwrap()
            .contains("store salvage"),
        "{alarm}"
    );
    assert!(
        alarm["message_zh"]
            .as_str()
            .unwrap()
            .contains("store salvage"),
        "{alarm}"
    );
    assert_eq!(status["components"]["store"]["health"], "down", "{status}");
    // Every money route refuses, bilingually; reads and card reads still answer.
    let credential = api.credential().await;
    for path in [
        "/v1/sales".to_owned(),
        format!("/v1/sales/{}/confirm", queued[0]),
        format!("/v1/sales/{}/cancel", queued[0]),
        "/v1/queue/flush".to_owned(),
        "/v1/kiosk/sessions".to_owned(),
    ] {
        let (status, v, _) = api
            .post_keyed(&path, None, &sale_body(&credential, 3))
            .await
            .unwrap();
        assert_eq!(
            (status, v["code"].as_str()),
            (503, Some("store.quarantined")),
            "{path}: {v}"
        );
        assert!(!v["message_zh"].as_str().unwrap_or("").is_empty(), "{v}");
    }
    assert_eq!(
        api.get_with_status(&format!("/v1/sales/{}", queued[0]))
            .await
            .0,
        404
    );
    stop(p).await;
    // A restart alone does not resume business.
    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let (status, v, _) = api
        .post_keyed("/v1/sales", None, &sale_body("x", 4))
        .await
        .unwrap();
    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("store.quarantined")),
        "{v}"
    );
    stop(p).await;
    let moved = corrupt_files(&t);
    assert_eq!(moved.len(), 1, "{moved:?}");
    let before = std::fs::read(&moved[0]).unwrap();

    let config = t.path().join("run.toml");
    let (status, out, err) = crate::support::process::run_cli(
        &["store", "salvage", "--config", config.to_str().unwrap()],
        None,
    );
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("sales: 2 row(s) copied"), "{out}");
    assert!(out.contains("sequences"), "{out}");
    assert_eq!(
        std::fs::read(&moved[0]).unwrap(),
        before,
        "the quarantined file is only read"
    );

    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let status = api.get_with_status("/v1/status").await.1;
    assert!(
        !status["alarms"].to_string().contains("store.quarantined"),
        "{status}"
    );
    for id in &queued {
        let (code, v) = api.get_with_status(&format!("/v1/sales/{id}")).await;
        assert_eq!(
            (code, v["sale"]["state"].as_str().or(v["state"].as_str())),
            (200, Some("queued")),
            "{v}"
        );
    }
    let (code, queue) = api.get_with_status("/v1/queue").await;
    assert_eq!(code, 200);
    for id in &queued {
        assert!(queue.to_string().contains(id.as_str()), "{queue}");
    }
    // Business continues.
    let credential = api.credential().await;
    queued_sale(&api, &credential, 5).await;
    stop(p).await;

    let (store, _) = medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    assert_eq!(
        store.next_sequence("upstream.msgid").await.unwrap(),
        42,
        "the msgid high-water mark"
    );
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        store
            .remember_nonce("kid-1", "nonce-used", now + 600, now)
            .await
            .unwrap(),
        medsettle::store::Nonce::Replayed,
        "the replay table came back"
    );
    assert_eq!(store.offline_totals().await.unwrap().count, 3);
    store.close().await.unwrap();
}

/// Defect 7, the cheaper repair: only an index is damaged. REINDEX rebuilds it at start,
/// nothing is quarantined and business continues with every sale.
#[tokio::test]
async fn a_damaged_index_is_rebuilt_and_business_continues() {
    let (t, text) = pin_terminal();
    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let credential = api.credential().await;
    let id = queued_sale(&api, &credential, 1).await;
    stop(p).await;
    damage(&t.db_path(), "sales_by_state", 48);
    assert_ne!(
        quick_check(&t.db_path()),
        "ok",
        "the damage must be visible to quick_check"
    );

    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let status = api.get_with_status("/v1/status").await.1;
    assert!(
        !status["alarms"].to_string().contains("store.quarantined"),
        "{status}"
    );
    assert_eq!(status["components"]["store"]["health"], "ok", "{status}");
    let (code, v) = api.get_with_status(&format!("/v1/sales/{id}")).await;
    assert_eq!(code, 200, "{v}");
    let credential = api.credential().await;
    queued_sale(&api, &credential, 2).await;
    let (_, queue) = api.get_with_status("/v1/queue").await;
    assert!(queue.to_string().contains(id.as_str()), "{queue}");
    stop(p).await;
    assert_eq!(quick_check(&t.db_path()), "ok");
    assert!(corrupt_files(&t).is_empty());
}

/// Defect 11: a 409 that describes the moment (here the offline count limit) is not
/// remembered under its `Idempotency-Key`: once the limit has room again, the same request
/// under the same key goes through, and from then on its 200 is what the key replays.
#[tokio::test]
async fn a_conflict_of_the_moment_is_not_remembered_under_its_key() {
    let (t, _) = pin_terminal();
    let profile = t.path().join("card.json");
    let text = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(profile);
        c.settle.offline_max_count = 1;
    });
    let p = start_text(&t, &text).await;
    let api = Api::new(&p);
    let credential = api.credential().await;
    let first = queued_sale(&api, &credential, 1).await;
    let (status, v, _) = api
        .post_keyed("/v1/sales", None, &sale_body(&credential, 2))
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    let second = v["id"].as_str().unwrap().to_owned();
    let confirm = format!("/v1/sales/{second}/confirm");
    let pin = json!({ "pin": PIN });
    let (status, v, _) = api
        .post_keyed(&confirm, Some("confirm-2"), &pin)
        .await
        .unwrap();
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.limit_count")),
        "{v}"
    );
    // The limit has room again: the retry under the same key is judged afresh.
    let (status, v, _) = api
        .post_keyed(&format!("/v1/sales/{first}/cancel"), None, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("abandoned")),
        "{v}"
    );
    let (status, v, _) = api
        .post_keyed(&confirm, Some("confirm-2"), &pin)
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("queued")), "{v}");
    // That answer stands for the key.
    let (status, v, _) = api
        .post_keyed(&confirm, Some("confirm-2"), &pin)
        .await
        .unwrap();
    assert_eq!((status, v["state"].as_str()), (200, Some("queued")), "{v}");
    stop(p).await;
}
