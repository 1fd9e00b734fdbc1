//! Money safety of the engine through the real daemon binary against the sandbox insurer
//! (issue 15, defects 1, 1b, 2): a client that leaves mid-confirm while the platform holds
//! the 2102 answer gets its sale settled exactly once without a restart, and its retry under
//! the same `Idempotency-Key` gets that settlement; a sale a SIGKILL left `confirmed` (nothing
//! sent) settles once on a retried confirm after restart, and one left unattended past the
//! window is abandoned; a confirm that outlives the API's request timeout answers 202
//! `sale.in_progress` (never a timeout inviting a retry) and its retry gets the outcome; 70
//! stored sales in backoff do not hide a newer due one.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use medsettle::store::{SaleTransition, Store};
use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};

use crate::support::{Api, NORMAL_CARD, Process, TOKEN, Terminal, Timeouts, client};

const DEADLINE: Duration = Duration::from_secs(60);

/// A terminal with the virtual card, `MOCK` signing and upstream timeouts longer than any
/// hold in these tests; `extra` goes into `[settle]`.
fn terminal(base_url: &str, extra: &str) -> Terminal {
    terminal_with(base_url, extra, |_| {})
}

/// [`terminal`] with another change to the config.
fn terminal_with(
    base_url: &str,
    extra: &str,
    edit: impl FnOnce(&mut medsettle::config::Config),
) -> Terminal {
    let t = Terminal::against_sandbox(
        base_url,
        Timeouts(500, 20_000, 20_000),
        &format!(
            "retry_first_ms = 200
retry_max_ms = 1000
offline_max_count = 1000
\
             offline_max_total = \"100000.00\"
{extra}"
        ),
    );
    let text = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        edit(c);
    });
    std::fs::write(t.path().join("engine.toml"), text).unwrap();
    t
}

async fn start(t: &Terminal) -> Process {
    Process::run_file(t, "engine.toml").await
}

async fn sandbox(faults: Vec<FaultRule>) -> Sandbox {
    medsettle_sandbox::start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn rule(infno: &str, fault: Fault, times: Option<u32>) -> FaultRule {
    FaultRule {
        infno: infno.to_owned(),
        fault,
        times,
        probability_permille: None,
        seed: 1,
    }
}

/// POST with an optional `Idempotency-Key`: (status, body, replayed).
async fn post(p: &Process, path: &str, key: Option<&str>, body: Value) -> (u16, Value, bool) {
    Api::new(p)
        .post_keyed(path, key, &body)
        .await
        .unwrap_or_else(|| panic!("no answer to POST {path}"))
}

async fn sale(p: &Process, id: &str) -> Value {
    Api::new(p).sale(id).await
}

/// Polls the sale until it is in `state` (deadline-bounded).
async fn wait_state(p: &Process, id: &str, state: &str) -> Value {
    Api::new(p).wait_state(id, state, DEADLINE).await
}

/// The sandbox's effective settlements of one sale.
fn effective(sandbox: &Sandbox, id: &str) -> Vec<String> {
    sandbox
        .ledger()
        .settlements
        .iter()
        .filter(|s| s.chrg_bchno == id && s.status == SettlementStatus::Effective)
        .map(|s| s.setl_id.clone())
        .collect()
}

fn requests(sandbox: &Sandbox, infno: &str) -> u64 {
    sandbox.ledger().requests.get(infno).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_client_that_leaves_mid_confirm_gets_its_sale_settled_once_without_a_restart() {
    let sandbox = sandbox(vec![rule("2102", Fault::Hold { commit: true }, Some(1))]).await;
    let t = terminal(&sandbox.base_url(), "");
    let daemon = start(&t).await;
    let id = Api::new(&daemon)
        .presettled("prefer_online", "12.30", json!({}))
        .await;

    // The cashier's confirm; the platform settles and holds its answer; the client leaves.
    let path = format!("/v1/sales/{id}/confirm");
    let first = tokio::spawn({
        let url = daemon.url(&path);
        async move {
            client()
                .post(url)
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", "confirm-1")
                .json(&json!({}))
                .send()
                .await
        }
    });
    let started = Instant::now();
    while sandbox.held() == 0 {
        assert!(started.elapsed() < DEADLINE, "the 2102 was never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(sale(&daemon, &id).await["sale"]["state"], "settling");

    // The retry under the same key waits for the running confirmation.
    let retry = tokio::spawn({
        let url = daemon.url(&path);
        async move {
            let r = client()
                .post(url)
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", "confirm-1")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    });
    assert_eq!(sandbox.release(), 1);
    let (status, answered) = retry.await.unwrap();
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["state"], "settled");
    let settled = wait_state(&daemon, &id, "settled").await;
    let setl = effective(&sandbox, &id);
    assert_eq!(setl.len(), 1, "settled exactly once: {setl:?}");
    assert_eq!(settled["sale"]["settlement"]["setl_id"], setl[0].as_str());
    assert_eq!(answered["settlement"]["setl_id"], setl[0].as_str());
    assert_eq!(requests(&sandbox, "2102"), 1);
    assert_eq!(requests(&sandbox, "2601"), 0, "nothing reversed");
    // Remembered now: the same key replays the settlement.
    let (status, again, replayed) = post(&daemon, &path, Some("confirm-1"), json!({})).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again["settlement"]["setl_id"], setl[0].as_str());
    // Another key (a cashier pressing again): the settled sale, not `sale.wrong_state`.
    let (status, other, _) = post(&daemon, &path, Some("confirm-2"), json!({})).await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(other["state"], "settled");
    assert_eq!(requests(&sandbox, "2102"), 1);
    let history = settled["history"].as_array().unwrap();
    let settles = history.iter().filter(|h| h["event"] == "settled").count();
    assert_eq!(settles, 1);
}

#[tokio::test]
async fn a_confirm_outliving_the_request_timeout_answers_in_progress_and_its_retry_the_outcome() {
    let sandbox = sandbox(vec![rule("2102", Fault::Hold { commit: true }, Some(1))]).await;
    let t = terminal_with(&sandbox.base_url(), "", |c| {
        c.readers.wait_ms = 200;
        c.api.request_timeout_ms = 1_500;
    });
    let daemon = start(&t).await;
    let id = Api::new(&daemon)
        .presettled("prefer_online", "7.70", json!({}))
        .await;
    let path = format!("/v1/sales/{id}/confirm");
    // The 2102 is held past the request timeout: 202, the sale as it is, do not retry.
    let (status, v, _) = post(&daemon, &path, Some("slow-1"), json!({})).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["code"], "sale.in_progress");
    assert_eq!(v["details"]["sale"]["state"], "settling");
    assert_eq!(v["details"]["retry"], false);
    assert!(v["message_zh"].as_str().unwrap().contains("请勿重复"));
    assert_eq!(sandbox.held(), 1);
    // Not remembered: once released, the same key answers the settlement.
    assert_eq!(sandbox.release(), 1);
    wait_state(&daemon, &id, "settled").await;
    let (status, v, replayed) = post(&daemon, &path, Some("slow-1"), json!({})).await;
    assert_eq!((status, replayed), (200, false), "{v}");
    assert_eq!(v["state"], "settled");
    assert_eq!(effective(&sandbox, &id).len(), 1);
    assert_eq!(requests(&sandbox, "2102"), 1);
}

/// Writes, with the daemon down, what a SIGKILL between the `confirm` and `send`
/// transitions leaves: the sale `confirmed` (consent given), nothing sent, last changed at
/// `at_ms`.
async fn leave_confirmed(store: &Store, id: &str, at_ms: i64) {
    let row = store.sale(id).await.unwrap().unwrap();
    assert_eq!(row.state, "presettled");
    let mut doc: Value = serde_json::from_str(&row.doc).unwrap();
    doc["state"] = json!("confirmed");
    doc["consent"] = json!({ "kind": "none" });
    store
        .transition_sale(SaleTransition {
            id: id.to_owned(),
            from: "presettled".into(),
            to: "confirmed".into(),
            event: "confirm".into(),
            at_ms,
            doc: doc.to_string(),
            detail: "{}".into(),
            next_attempt_at_ms: None,
            store_offline: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sale_killed_while_confirmed_settles_once_on_a_retried_confirm_after_restart() {
    let sandbox = sandbox(vec![]).await;
    let t = terminal(&sandbox.base_url(), "");
    let daemon = start(&t).await;
    let mut ids = Vec::new();
    for pric in ["3.10", "4.20"] {
        let id = Api::new(&daemon)
            .presettled("prefer_online", pric, json!({}))
            .await;
        ids.push(id);
    }
    daemon.signal(9);
    let (status, _) = daemon.wait();
    assert!(!status.success());

    // The kill left both `confirmed` with nothing sent: one just now, one 40 minutes ago.
    let (store, _) = Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    leave_confirmed(&store, &ids[0], now_ms).await;
    leave_confirmed(&store, &ids[1], now_ms - 40 * 60_000).await;
    store.close().await.unwrap();

    let daemon = start(&t).await;
    // The fresh one: the cashier's retry (the killed request's key) settles it.
    let path = format!("/v1/sales/{}/confirm", ids[0]);
    let (status, v, replayed) = post(&daemon, &path, Some("killed-confirm"), json!({})).await;
    assert_eq!((status, replayed), (200, false), "{v}");
    assert_eq!(v["state"], "settled");
    let setl = effective(&sandbox, &ids[0]);
    assert_eq!(setl.len(), 1);
    assert_eq!(v["settlement"]["setl_id"], setl[0].as_str());
    // The unattended one (past the 30-minute window): abandoned, with the reason; never sent.
    let abandoned = wait_state(&daemon, &ids[1], "abandoned").await;
    let last = abandoned["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "abandon");
    assert_eq!(last["detail"]["reason"], "unattended");
    assert_eq!(last["detail"]["state"], "confirmed");
    assert!(effective(&sandbox, &ids[1]).is_empty());
    assert_eq!(requests(&sandbox, "2102"), 1);
    assert_eq!(requests(&sandbox, "2601"), 0);
}

#[tokio::test]
async fn seventy_stored_sales_in_backoff_do_not_block_a_newer_due_one() {
    // While the 70 are stored the platform refuses to serve 1101 (the forwarder fails them).
    let sandbox = sandbox(vec![rule(
        "1101",
        Fault::HttpStatus {
            status: 500,
            commit: false,
        },
        None,
    )])
    .await;
    let t = terminal(&sandbox.base_url(), "");
    let daemon = start(&t).await;
    let cred = Api::new(&daemon).credential().await;
    let mut stale = Vec::new();
    for i in 0..70 {
        let id = Api::new(&daemon)
            .new_sale(&cred, "force_offline", &format!("1.{i:02}"))
            .await;
        let (status, v, _) =
            post(&daemon, &format!("/v1/sales/{id}/confirm"), None, json!({})).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["state"], "queued");
        stale.push(id);
    }
    daemon.signal(9);
    daemon.wait();
    // Every one of them waits an hour for its next attempt.
    let (store, _) = Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    let later = chrono::Utc::now().timestamp_millis() + 3_600_000;
    for id in &stale {
        let row = store.sale(id).await.unwrap().unwrap();
        assert_eq!(row.state, "queued");
        store
            .transition_sale(SaleTransition {
                id: id.clone(),
                from: "queued".into(),
                to: "queued".into(),
                event: "attempt_failed".into(),
                at_ms: chrono::Utc::now().timestamp_millis(),
                doc: row.doc,
                detail: json!({ "next_attempt_at_ms": later }).to_string(),
                next_attempt_at_ms: Some(later),
                store_offline: None,
            })
            .await
            .unwrap();
    }
    store.close().await.unwrap();

    // The platform serves again; a new stored sale is due at once.
    sandbox.clear_faults();
    let daemon = start(&t).await;
    let cred = Api::new(&daemon).credential().await;
    let fresh = Api::new(&daemon)
        .new_sale(&cred, "force_offline", "9.90")
        .await;
    let (status, v, _) = post(
        &daemon,
        &format!("/v1/sales/{fresh}/confirm"),
        None,
        json!({}),
    )
    .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("queued")), "{v}");
    wait_state(&daemon, &fresh, "settled").await;
    assert_eq!(effective(&sandbox, &fresh).len(), 1);
    // The 70 are still waiting their turn: untouched.
    for id in &stale {
        assert_eq!(sale(&daemon, id).await["sale"]["state"], "queued");
        assert!(effective(&sandbox, id).is_empty());
    }
}
