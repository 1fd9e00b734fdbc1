//! The hospital fleet at scale (issue 17). Run with `cargo bench --bench fleet` (release).
//!
//! 1. A fleet of real daemons (`medsettle run`, `FLEET_DAEMONS`, default 200) under one
//!    institution code against one in-process sandbox insurer and one PostgreSQL ledger
//!    (`support::Postgres`, started here, `fsync=off` like the tests'). Each daemon has the
//!    sandbox's 张三 card in its virtual reader, its own store, msgid node and `[fleet]`.
//!    Measured: each daemon's resident memory once all are up and again after the load;
//!    `FLEET_SALES` (default 2,000) online card sales spread over the daemons through their
//!    local APIs, `FLEET_INFLIGHT` (default 16) at once; the outbox lag of each settlement
//!    (PostgreSQL's `recorded_at` minus the sale's last change), and how long the ledger
//!    takes to hold every sale once the load stops.
//! 2. An institution's day of `FLEET_SETTLEMENTS` (default 100,000) settlements in the ledger
//!    (written through the same upsert the drain uses, by ten loader terminals) and on the
//!    platform, plus one settlement only the platform has: the time of the institution-wide
//!    run (`FleetRunner::run`: read the day from PostgreSQL, open every sealed psn_no, 3201 per
//!    group, 3202 with its 9101 upload and 9102 download for the unbalanced group, classify).
//!
//! Measurements only; results go into benches/README.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medsettle::config::{Config, FleetConfig, ReaderBackend};
use medsettle::credential::Credentials;
use medsettle::fleet::{
    FleetOptions, FleetRunner, Ledger, LedgerRow, PsnHasher, SaleFacts, Trigger,
};
use medsettle::secret::SecretRef;
use medsettle::status::StatusBoard;
use medsettle::store::Store;
use medsettle::upstream::Fen;
use medsettle_sandbox::{Injected, SandboxConfig};
use medsettle_test_support::bench::{ms, pss_kib, quantile, rss_kib, runtime};
use medsettle_test_support::{Api, NORMAL_CARD, Postgres, Process, Terminal, sandbox_upstream};
use serde_json::{Value, json};

const PSN_KEY: &str = "fleet-bench-psn-key-0123456789ab";
const FLEET_CODE: &str = "H11010500001";
const DAY_CODE: &str = "H11010500099";
const REGION: &str = "110105";
const PSN: &str = "P110105000001";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let daemons = env_or("FLEET_DAEMONS", 200);
    let sales = env_or("FLEET_SALES", 2_000);
    let inflight = env_or("FLEET_INFLIGHT", 16);
    let settlements = env_or("FLEET_SETTLEMENTS", 100_000);
    let rt = runtime();
    // One connection per daemon's drain, the runner's, the loaders' and psql's.
    let pg = Postgres::start_sized(u32::try_from(daemons).unwrap_or(1_000) + 40);
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("fleet-url"), pg.url()).unwrap();
    std::fs::write(secrets.path().join("fleet-psn-key"), PSN_KEY).unwrap();
    rt.block_on(async {
        if daemons > 0 {
            fleet(&pg, secrets.path(), daemons, sales, inflight).await;
        }
        if settlements > 0 {
            institution_day(secrets.path(), settlements).await;
        }
    });
}

/// One daemon of the fleet.
struct Member {
    _terminal: Terminal,
    process: Process,
    api: Api,
    credential: String,
}

impl Member {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.api.post(path, body).await
    }

    /// create + presettle + confirm: an online card sale of one box.
    async fn sale(&self) {
        let (s, sale) = self
            .post(
                "/v1/sales",
                json!({"credential_id": self.credential,
                       "items": [{"code": "XA01", "cnt": "1", "pric": "1.20"}]}),
            )
            .await;
        assert_eq!(s, 201, "{sale}");
        let id = sale["id"].as_str().unwrap().to_owned();
        let (s, v) = self
            .post(&format!("/v1/sales/{id}/presettle"), json!({}))
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = self
            .post(&format!("/v1/sales/{id}/confirm"), json!({}))
            .await;
        assert_eq!((s, v["state"].as_str()), (200, Some("settled")), "{v}");
    }
}

fn fleet_section(secrets: &std::path::Path) -> FleetConfig {
    medsettle_test_support::fleet_section(
        &secrets.join("fleet-psn-key"),
        &secrets.join("fleet-url"),
        "heartbeat_s = 5",
    )
}

async fn start_member(i: usize, sandbox_url: String, fleet: FleetConfig) -> Member {
    let terminal = Terminal::new();
    let config = terminal.config_with(|c: &mut Config| {
        c.terminal.id = format!("K{i:03}");
        c.terminal.msgid_node = Some(u16::try_from(i).unwrap());
        c.terminal.msgid_node_digits = Some(3);
        c.upstream = Some(sandbox_upstream(&sandbox_url, "MOCK"));
        c.settle.skip_pin_consent = true;
        c.settle.reconcile_at = String::new();
        c.readers.backend = ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        c.log.level = "warn".into();
        c.fleet = Some(fleet);
    });
    let process = Process::start_config(terminal.path(), &config, |_| {}).await;
    let api = Api::new(&process);
    let credential = api.credential().await;
    Member {
        _terminal: terminal,
        process,
        api,
        credential,
    }
}

/// Memory of every member by `measure`, MiB: (mean, median, max).
fn memory(members: &[Member], measure: fn(u32) -> u64) -> (f64, f64, f64) {
    let mut kib: Vec<u64> = members.iter().map(|m| measure(m.process.pid())).collect();
    kib.sort_unstable();
    let mib = |k: u64| k as f64 / 1024.0;
    (
        mib(kib.iter().sum::<u64>()) / kib.len() as f64,
        mib(kib[kib.len() / 2]),
        mib(*kib.last().unwrap()),
    )
}

async fn fleet(pg: &Postgres, secrets: &std::path::Path, n: usize, sales: usize, inflight: usize) {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let fleet = fleet_section(secrets);
    let t0 = Instant::now();
    let mut members = Vec::with_capacity(n);
    // Ten at a time: all at once would measure the machine's start-up storm, not the fleet.
    let ids: Vec<usize> = (0..n).collect();
    for wave in ids.chunks(10) {
        let mut set = tokio::task::JoinSet::new();
        for &i in wave {
            set.spawn(start_member(i, sandbox.base_url(), fleet.clone()));
        }
        while let Some(m) = set.join_next().await {
            members.push(m.unwrap());
        }
    }
    let started = t0.elapsed();
    let idle = memory(&members, rss_kib);
    let idle_pss = memory(&members, pss_kib);
    println!(
        "fleet: {n} daemons up in {:.1} s; per daemon idle: RSS mean {:.1} MiB, median {:.1}, max {:.1}; PSS mean {:.1} MiB (all {n}: {:.0} MiB)",
        started.as_secs_f64(),
        idle.0,
        idle.1,
        idle.2,
        idle_pss.0,
        idle_pss.0 * n as f64
    );

    let members = Arc::new(members);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..inflight {
        let members = Arc::clone(&members);
        let next = Arc::clone(&next);
        workers.spawn(async move {
            let mut took = Vec::new();
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= sales {
                    return took;
                }
                let s0 = Instant::now();
                members[k % members.len()].sale().await;
                took.push(s0.elapsed());
            }
        });
    }
    let mut took = Vec::with_capacity(sales);
    while let Some(t) = workers.join_next().await {
        took.extend(t.unwrap());
    }
    let load = t0.elapsed();
    took.sort_unstable();
    println!(
        "fleet: {sales} online card sales over the API, {inflight} in flight: {:.1} s ({:.0} sales/s), sale p50 {:.1} ms, p99 {:.1} ms",
        load.as_secs_f64(),
        sales as f64 / load.as_secs_f64(),
        ms(quantile(&took, 0.5)),
        ms(quantile(&took, 0.99))
    );
    // Until the ledger holds every sale (bench polling: a measurement, not a test).
    let count = || {
        pg.query(&format!(
            "SELECT count(*) FROM settlement_facts WHERE fixmedins_code = '{FLEET_CODE}' AND NOT refund AND state <> 'void'"
        ))
        .trim()
        .parse::<usize>()
        .unwrap_or(0)
    };
    let t0 = Instant::now();
    while count() < sales {
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "the ledger holds {} of {sales}",
            count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = t0.elapsed();
    let lag = pg.query(&format!(
        "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l) * 1000)::bigint || ' ' ||
                round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l) * 1000)::bigint || ' ' ||
                round(max(l) * 1000)::bigint
         FROM (SELECT extract(epoch FROM recorded_at - sale_updated_at) AS l
               FROM settlement_facts WHERE fixmedins_code = '{FLEET_CODE}') t"
    ));
    let lag: Vec<&str> = lag.split_whitespace().collect();
    println!(
        "fleet: outbox lag (settled → in the ledger) p50 {} ms, p99 {} ms, max {} ms; every sale in the ledger {:.1} s after the last",
        lag.first().unwrap_or(&"?"),
        lag.get(1).unwrap_or(&"?"),
        lag.get(2).unwrap_or(&"?"),
        caught_up.as_secs_f64()
    );
    let loaded = memory(&members, rss_kib);
    let loaded_pss = memory(&members, pss_kib);
    println!(
        "fleet: per daemon after the load: RSS mean {:.1} MiB, median {:.1}, max {:.1}; PSS mean {:.1} MiB",
        loaded.0, loaded.1, loaded.2, loaded_pss.0
    );
    assert_eq!(sandbox.ledger().effective().count(), sales);
    drop(members);
    sandbox.shutdown().await;
}

/// Options of a terminal of the day's institution.
fn day_options(secrets: &std::path::Path, id: &str) -> FleetOptions {
    FleetOptions {
        url: SecretRef::File(secrets.join("fleet-url")),
        tls: None,
        terminal_id: id.into(),
        fixmedins_code: DAY_CODE.into(),
        psn_key: SecretRef::File(secrets.join("fleet-psn-key")),
        heartbeat: Duration::from_secs(30),
        retry_first: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        batch: 500,
    }
}

/// Settlement `i` of the day: the ledger's row and the platform's record agree.
fn settlement(i: usize, day: chrono::NaiveDate, hasher: &PsnHasher) -> (SaleFacts, Injected) {
    let medfee = 1_000 + (i % 500) as i64;
    let fund = medfee / 2;
    let account = medfee / 4;
    let msgid = format!(
        "{DAY_CODE}{:014}{:04}",
        20_261_203_000_000u64 + (i / 10_000) as u64,
        i % 10_000
    );
    let setl_id = format!("SETL{i:09}");
    let mdtrt_id = format!("MDTRT{i:09}");
    let day_text = day.format("%Y-%m-%d").to_string();
    let row = LedgerRow {
        refund: false,
        kind: "pharmacy",
        msgid: msgid.clone(),
        setl_id: setl_id.clone(),
        original_setl_id: None,
        mdtrt_id: mdtrt_id.clone(),
        psn_hash: hasher.hash(PSN),
        psn_sealed: hasher.seal(PSN),
        insutype: "310".into(),
        clr_type: "41".into(),
        clr_optins: REGION.into(),
        setl_time: Some(format!("{day_text} 10:00:00")),
        day: Some(day),
        medfee_fen: medfee,
        fund_fen: fund,
        account_fen: account,
        cash_fen: medfee - fund - account,
        from_answer: true,
    };
    let facts = SaleFacts {
        sale_id: format!("S{i:09}"),
        version: 1,
        state: "settled".into(),
        created_at_ms: 1_796_000_000_000,
        updated_at_ms: 1_796_000_000_000,
        rows: vec![row],
    };
    let injected = Injected {
        setl_id,
        mdtrt_id,
        psn_no: PSN.into(),
        insutype: "310".into(),
        fixmedins_code: DAY_CODE.into(),
        day: day_text,
        medfee_sumamt: Fen(medfee),
        fund_pay_sumamt: Fen(fund),
        acct_pay: Fen(account),
        msgid,
        clr_type: "41".into(),
        clr_optins: REGION.into(),
    };
    (facts, injected)
}

async fn institution_day(secrets: &std::path::Path, n: usize) {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let hasher = PsnHasher::new(PSN_KEY.as_bytes()).unwrap();
    let day = medsettle::upstream::time::cst_day(chrono::Utc::now());
    let mut rows: Vec<SaleFacts> = Vec::with_capacity(n);
    for i in 0..n {
        let (facts, injected) = settlement(i, day, &hasher);
        sandbox.inject_settlement(injected);
        rows.push(facts);
    }
    // The one only the platform has.
    let (_, mut foreign) = settlement(n, day, &hasher);
    foreign.setl_id = "SETL-FOREIGN".into();
    foreign.msgid = String::new();
    sandbox.inject_settlement(foreign);

    let t0 = Instant::now();
    let loaders = 10;
    let per = n.div_ceil(loaders);
    let mut set = tokio::task::JoinSet::new();
    for (k, chunk) in rows.chunks(per.max(1)).enumerate() {
        let chunk = chunk.to_vec();
        let options = day_options(secrets, &format!("L{k:02}"));
        set.spawn(async move {
            let mut ledger = Ledger::connect(&options, None).await.unwrap();
            for page in chunk.chunks(1_000) {
                ledger.upsert(page).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let ingest = t0.elapsed();
    println!(
        "institution day: {n} settlements written to the ledger by {loaders} terminals in {:.1} s ({:.0} rows/s)",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64()
    );

    let terminal = Terminal::new();
    let mut config = terminal.config();
    config.terminal.fixmedins_code = DAY_CODE.into();
    config.terminal.id = "R00".into();
    let mut upstream = sandbox_upstream(&sandbox.base_url(), "MOCK");
    upstream.read_timeout_ms = 120_000;
    upstream.timeout_ms = 180_000;
    config.upstream = Some(upstream);
    let (store, _) = Store::open(&terminal.db_path(), Duration::from_secs(5)).unwrap();
    let client =
        Arc::new(medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap());
    let credentials = Arc::new(Credentials::default());
    let engine = medsettle_test_support::bench::engine(&store, &config, &credentials, Some(client));
    let runner = FleetRunner::new(
        day_options(secrets, "R00"),
        None,
        engine,
        Arc::new(StatusBoard::default()),
    );
    let t0 = Instant::now();
    let outcome = runner.run(day, false, Trigger::Operator).await.unwrap();
    let took = t0.elapsed();
    let report: medsettle::settle::reconcile::Report =
        serde_json::from_value(outcome.report.clone()).unwrap();
    let (local_only, platform_only, amount) = report.differences();
    println!(
        "institution day: 3201 ({} groups) + 3202 of the unbalanced group over {} settlements: {:.1} s; balanced {}, 3202 found {platform_only} platform only, {local_only} local only, {amount} amount differs",
        report.lines.len(),
        outcome.facts,
        took.as_secs_f64(),
        report.balanced
    );
    assert_eq!((local_only, platform_only, amount), (0, 1, 0));
    store.close().await.unwrap();
    sandbox.shutdown().await;
}
