//! Store-and-forward costs. Run with `cargo bench --bench settle` (release).
//!
//! 1. Durable enqueue: storing a captured sale offline (`captured → queued`: compare-and-set,
//!    the offline limits counted in the same transaction, the history row — one commit) next
//!    to raw SQLite single-row commits with the same pragmas (WAL, synchronous=FULL) in the
//!    same directory; then the whole engine call (`confirm` of a force_offline sale).
//! 2. Drain: stored sales settled by the forwarder against the in-process sandbox insurer on
//!    loopback (1101 + 2101 + 2102 each, every step durable).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use medsettle::config::Config;
use medsettle::credential::Credentials;
use medsettle::settle::Confirmation;
use medsettle::store::{SaleTransition, Store};
use medsettle_test_support::bench;

const ROUNDS: usize = 2_000;
const DRAIN: usize = 300;

fn report(what: &str, samples: &mut [Duration], total: Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<46} {:>7.0}/s  p50 {:>6.3} ms  p99 {:>6.3} ms  ({} runs)",
        samples.len() as f64 / total.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.len()
    );
}

fn main() {
    let rt = medsettle_test_support::bench::runtime();
    let dir = tempfile::tempdir_in(".").unwrap();
    raw_sqlite(dir.path());
    rt.block_on(engine_benches(dir.path()));
}

fn raw_sqlite(dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID")
        .unwrap();
    let doc = "x".repeat(900);
    let mut samples = Vec::with_capacity(ROUNDS);
    let started = Instant::now();
    for i in 0..ROUNDS {
        let t0 = Instant::now();
        conn.execute(
            "INSERT INTO t (id, doc) VALUES (?1, ?2)",
            (format!("R{i:06}"), &doc),
        )
        .unwrap();
        samples.push(t0.elapsed());
    }
    report(
        "raw SQLite single-row commit (FULL, WAL)",
        &mut samples,
        started.elapsed(),
    );
}

async fn engine_benches(dir: &std::path::Path) {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let mut config = Config::demo(dir, "127.0.0.1:0".parse().unwrap());
    config.store.path = dir.join("engine.db");
    config.settle.offline_max_count = 100_000;
    config.settle.offline_max_total = "100000000.00".into();
    // The sandbox: sales confirm without a PIN (a MOCK signtype alone does not skip it).
    config.settle.skip_pin_consent = true;
    config.upstream = Some(
        toml::from_str(&format!(
            "base_url = \"{}\"\nallow_plain_http = true\nsigntype = \"MOCK\"\n",
            sandbox.base_url()
        ))
        .unwrap(),
    );
    let (store, _) = Store::open(&config.store.path, Duration::from_secs(5)).unwrap();
    let credentials = Arc::new(Credentials::default());

    // 1a. The store's enqueue transaction alone.
    let offline = bench::engine(&store, &config, &credentials, None);
    let ids = bench::new_sales(&offline, &credentials, ROUNDS).await;
    let limits = config.settle.limits();
    let mut samples = Vec::with_capacity(ROUNDS);
    let started = Instant::now();
    for id in &ids {
        let sale = offline.get(id).await.unwrap();
        let doc = serde_json::to_string(&sale).unwrap();
        let t0 = Instant::now();
        store
            .transition_sale(SaleTransition {
                id: id.clone(),
                from: "captured".into(),
                to: "queued".into(),
                event: "store".into(),
                at_ms: Utc::now().timestamp_millis(),
                doc,
                detail: "{}".into(),
                next_attempt_at_ms: None,
                store_offline: Some(limits),
            })
            .await
            .unwrap();
        samples.push(t0.elapsed());
    }
    let elapsed = started.elapsed();
    report(
        "enqueue: store transaction (limits + history)",
        &mut samples,
        elapsed,
    );

    // 1b. The whole engine call (`skip_pin_consent`: no PIN needed, nothing sent on enqueue).
    let online = bench::engine(
        &store,
        &config,
        &credentials,
        Some(Arc::new(
            medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap(),
        )),
    );
    let ids = bench::new_sales(&online, &credentials, ROUNDS).await;
    let mut samples = Vec::with_capacity(ROUNDS);
    let started = Instant::now();
    for id in &ids {
        let t0 = Instant::now();
        online
            .confirm(
                id,
                Confirmation {
                    pin: None,
                    collected: None,
                },
            )
            .await
            .unwrap();
        samples.push(t0.elapsed());
    }
    report(
        "enqueue: engine confirm of a force_offline sale",
        &mut samples,
        started.elapsed(),
    );

    // 1c. Sixteen cashiers enqueueing at once: the writer commits waiting writes together.
    let ids = bench::new_sales(&online, &credentials, ROUNDS).await;
    let before = store.stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in ids.chunks(ROUNDS / 16) {
        let engine = Arc::clone(&online);
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(chunk.len());
            for id in chunk {
                let t0 = Instant::now();
                engine
                    .confirm(
                        &id,
                        Confirmation {
                            pin: None,
                            collected: None,
                        },
                    )
                    .await
                    .unwrap();
                samples.push(t0.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    report(
        "enqueue: 16 concurrent engine confirms",
        &mut samples,
        elapsed,
    );
    let after = store.stats();
    println!(
        "{:<46} {:.1} writes per commit",
        "  (group commit)",
        (after.writes_ok - before.writes_ok) as f64
            / (after.batches - before.batches).max(1) as f64
    );

    // 2. Drain against the sandbox.
    let fresh_dir = dir.join("drain");
    std::fs::create_dir_all(&fresh_dir).unwrap();
    store.close().await.unwrap();
    config.store.path = fresh_dir.join("drain.db");
    let (store, _) = Store::open(&config.store.path, Duration::from_secs(5)).unwrap();
    let client =
        Arc::new(medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap());
    let drainer = bench::engine(&store, &config, &credentials, Some(client));
    let ids = bench::new_sales(&drainer, &credentials, DRAIN).await;
    for id in &ids {
        drainer
            .confirm(
                id,
                Confirmation {
                    pin: None,
                    collected: None,
                },
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut settled = 0;
    while settled < DRAIN {
        let pass = drainer.forward_pass().await.unwrap();
        settled += pass.progressed as usize;
        assert!(!pass.link_down);
    }
    let took = started.elapsed();
    println!(
        "{:<46} {:>7.1}/s  ({DRAIN} sales in {:.2} s; 1101+2101+2102 each)",
        "drain: forwarder against the sandbox",
        DRAIN as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
    assert_eq!(sandbox.ledger().effective().count(), DRAIN);
    store.close().await.unwrap();
    sandbox.shutdown().await;
}
