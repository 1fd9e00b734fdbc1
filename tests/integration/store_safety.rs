//! The store's money safety through the real binary: a group commit hit by a full disk answers
//! each caller truthfully (issue 15 defect 6), a corrupt database stops money operations until
//! `medsettle store salvage` (defect 7), and a sale whose answer was lost to a crash is answered
//! again, not created twice, for the same `Idempotency-Key` (defect 1c).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Process, TOKEN, Terminal, client};

const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(p: &Process) -> Api {
        Api {
            http: client(),
            base: format!("http://{}", p.addr),
        }
    }

    /// POST with an optional `Idempotency-Key`; `None` when the daemon did not answer.
    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Option<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(20))
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn credential(&self) -> String {
        let (status, v) = self.post("/v1/card/read", None, &json!({})).await.unwrap();
        assert_eq!(status, 200, "{v}");
        v["credential_id"].as_str().unwrap().to_owned()
    }
}

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
            (key.clone(), api.post("/v1/sales", Some(&key), &body).await)
        }));
    }
    let mut created = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (_, answer) = task.await.unwrap();
        let (status, v) = answer.expect("the daemon answers every request");
        match status {
            201 => created.push(v["id"].as_str().unwrap().to_owned()),
            s if s >= 500 => failed += 1,
            other => panic!("unexpected answer {other}: {v}"),
        }
    }
    p.signal(15);
    let (status, log) = p.wait();
    assert!(status.success(), "{log}");
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
        let (status, v) = api.get(&format!("/v1/sales/{id}")).await;
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
    let lost = api.post("/v1/sales", Some("crash-key-1"), &body).await;
    assert!(lost.is_none(), "the daemon must die before answering: {lost:?}");
    let (status, log) = p.wait();
    assert!(!status.success(), "{log}");
    assert!(log.contains("aborting after the sale was committed"), "{log}");

    let p = start(&t, &[]).await;
    let api = Api::new(&p);
    let r = api
        .http
        .post(format!("{}/v1/sales", api.base))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "crash-key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(
        r.headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let sale: Value = r.json().await.unwrap();
    let id = sale["id"].as_str().unwrap().to_owned();
    assert_eq!(sale["state"], "captured", "{sale}");
    // Answered again from the entry the sale committed with, now with its remembered answer.
    let (status, again) = api.post("/v1/sales", Some("crash-key-1"), &body).await.unwrap();
    assert_eq!((status, again["id"].as_str()), (201, Some(id.as_str())));
    // The same key with another request is still refused.
    let (status, other) = api
        .post("/v1/sales", Some("crash-key-1"), &sale_body(&credential, 8))
        .await
        .unwrap();
    assert_eq!((status, other["code"].as_str()), (422, Some("idempotency.mismatch")), "{other}");
    p.signal(15);
    assert!(p.wait().0.success());

    let (store, _) =
        medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    let sales = store
        .sales_in(&["captured", "identified", "presettled", "confirmed", "queued"], false, None, 10)
        .await
        .unwrap();
    assert_eq!(
        sales.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()],
        "exactly the one sale"
    );
    store.close().await.unwrap();
}
