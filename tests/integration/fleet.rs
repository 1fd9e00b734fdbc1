//! The fleet ledger against a real PostgreSQL (started by the test: `support::Postgres`) and
//! the sandbox insurer: schema migrations applied once even when terminals race, idempotent
//! version-guarded upserts, the outbox drained in order, a PostgreSQL restart in the middle of
//! a day of sales (sales go on, the outbox grows, then catches up with every settlement in
//! the ledger exactly once), no clear personal data in any column, `medsettle fleet status`,
//! and a daemon with `[fleet]` showing the fleet on `/v1/status` and `/metrics`.
//! Background work is waited for with `support::poll::until`, never slept on.

use std::sync::Arc;
use std::time::Duration;

use medsettle::card::Pin;
use medsettle::config::SaleMode;
use medsettle::credential::Credentials;
use medsettle::fleet::{Drain, FleetOptions, Ledger, LedgerRow, SaleFacts};
use medsettle::secret::SecretRef;
use medsettle::settle::{Confirmation, Engine, EngineParts, NewItem, NewSale, SaleState};
use medsettle::status::{Health, StatusBoard};
use medsettle::store::Store;
use medsettle::upstream::{Price, Qty};
use medsettle_sandbox::{Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

use crate::support::poll::until;
use crate::support::{BIN, Postgres, Terminal, zhang_card};

/// The sandbox's 张三: what must never reach PostgreSQL in clear.
const PSN: &str = "P110105000001";
const CLEAR: [&str; 4] = [PSN, "110105199003071239", "测试张三", "M12345678"];
const PSN_KEY: &str = "fleet-psn-key-for-the-tests-0123";
const WAIT: Duration = Duration::from_secs(60);

/// A terminal against the sandbox with a store, an engine and the fleet options of `pg`.
struct Rig {
    /// Its own sandbox; `None` when the rig shares another's.
    sandbox: Option<Sandbox>,
    terminal: Terminal,
    store: Store,
    engine: Arc<Engine>,
    credentials: Arc<Credentials>,
    options: FleetOptions,
}

/// Writes the ledger URL and the psn key into `dir` and answers the options of terminal `id`.
fn options_in(dir: &std::path::Path, pg: &Postgres, id: &str) -> FleetOptions {
    std::fs::write(dir.join("fleet-url"), pg.url()).unwrap();
    std::fs::write(dir.join("fleet-psn-key"), PSN_KEY).unwrap();
    FleetOptions {
        url: SecretRef::File(dir.join("fleet-url")),
        tls: None,
        terminal_id: id.into(),
        fixmedins_code: "H11010500001".into(),
        psn_key: SecretRef::File(dir.join("fleet-psn-key")),
        heartbeat: Duration::from_secs(30),
        retry_first: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        batch: 2,
    }
}

impl Rig {
    async fn new(pg: &Postgres, id: &str) -> Rig {
        let sandbox = medsettle_sandbox::start(SandboxConfig::default())
            .await
            .unwrap();
        let url = sandbox.base_url();
        let mut rig = Rig::on(pg, id, &url, None).await;
        rig.sandbox = Some(sandbox);
        rig
    }

    /// A terminal `id` of the same institution against the sandbox at `url`, stamping msgids
    /// as node `node` (two digits) when given.
    async fn on(pg: &Postgres, id: &str, url: &str, node: Option<u16>) -> Rig {
        let text = format!(
            "\n[upstream]\nbase_url = \"{}\"\nallow_plain_http = true\nsigntype = \"SM3\"\n\
             connect_timeout_ms = 300\nread_timeout_ms = 1000\ntimeout_ms = 1500\n\n[settle]\n\
             retry_first_ms = 100\nretry_max_ms = 200\n",
            url
        );
        let terminal = Terminal::with(|t| t.push_str(&text));
        let mut config = terminal.config();
        if let Some(node) = node {
            config.terminal.msgid_node = Some(node);
            config.terminal.msgid_node_digits = Some(2);
        }
        let (store, _) = Store::open(&terminal.db_path(), Duration::from_secs(5)).unwrap();
        let client = Arc::new(
            medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap(),
        );
        let credentials = Arc::new(Credentials::default());
        let engine = Arc::new(Engine::new(EngineParts {
            store: store.clone(),
            platform: Some(client),
            card: None,
            events: medsettle::events::EventBus::default(),
            config: config.settle.clone(),
            terminal: config.terminal.clone(),
            credentials: Arc::clone(&credentials),
            clock: None,
            status: None,
        }));
        let options = options_in(terminal.path(), pg, id);
        Rig {
            sandbox: None,
            terminal,
            store,
            engine,
            credentials,
            options,
        }
    }

    fn drain(&self, status: Option<Arc<StatusBoard>>) -> Drain {
        Drain::new(self.store.clone(), self.options.clone(), None, status).unwrap()
    }

    /// An online card sale of 2 × `pric`, settled.
    async fn online(&self, pric: &str) -> String {
        let credential_id = self.credentials.insert(zhang_card());
        let sale = self
            .engine
            .create(NewSale {
                credential_id,
                items: vec![NewItem {
                    code: "XA01BAA123A001010100001".into(),
                    local_code: None,
                    name: "阿莫西林胶囊".into(),
                    cnt: Qty::parse("2").unwrap(),
                    pric: Price::parse(pric).unwrap(),
                    trace: None,
                }],
                mode: Some(SaleMode::PreferOnline),
                use_account: Some(true),
            })
            .await
            .unwrap();
        self.engine.presettle(&sale.id).await.unwrap();
        let done = self
            .engine
            .confirm(
                &sale.id,
                Confirmation {
                    pin: Some(Pin::new("123456").unwrap()),
                    collected: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(done.state, SaleState::Settled, "{:?}", done.last_error);
        sale.id
    }

    async fn setl_id(&self, id: &str) -> String {
        let sale = self.engine.get(id).await.unwrap();
        sale.settlement.unwrap().setl_id.unwrap()
    }

    async fn outbox_rows(&self) -> u64 {
        self.store.outbox_stats().await.unwrap().rows
    }

    async fn close(self) {
        self.store.close().await.unwrap();
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}

/// A number PostgreSQL answers through psql.
fn number(pg: &Postgres, sql: &str) -> i64 {
    pg.query(sql).trim().parse().unwrap()
}

fn lines(pg: &Postgres, sql: &str) -> Vec<String> {
    let out = pg.query(sql);
    out.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_once_even_when_terminals_connect_at_the_same_time() {
    let pg = Postgres::start_new();
    let dir = tempfile::tempdir().unwrap();
    let options = options_in(dir.path(), &pg, "T0001");
    // Eight terminals start at once against the empty database.
    let connects = (0..8).map(|i| {
        let mut o = options.clone();
        o.terminal_id = format!("T{i:04}");
        tokio::spawn(async move { Ledger::connect(&o, None).await.map(|_| ()) })
    });
    for c in connects.collect::<Vec<_>>() {
        c.await.unwrap().unwrap();
    }
    assert_eq!(
        lines(
            &pg,
            "SELECT version, name FROM medsettle_schema_version ORDER BY version"
        ),
        ["1|ledger", "2|psn_sealed"],
        "each step recorded once"
    );
    let ledger = Ledger::connect(&options, None).await.unwrap();
    assert_eq!(
        medsettle::fleet::schema_version(ledger.client())
            .await
            .unwrap(),
        medsettle::fleet::SCHEMA_VERSION
    );
    for table in ["settlement_facts", "terminals", "reconciliations"] {
        assert_eq!(
            number(&pg, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table} exists and is empty"
        );
    }
    // A reader connects without migrating: an empty database stays empty.
    pg.psql("postgres", "CREATE DATABASE untouched");
    let mut o = options.clone();
    std::fs::write(
        dir.path().join("fleet-url-2"),
        pg.url().replace("medsettle_ledger", "untouched"),
    )
    .unwrap();
    o.url = SecretRef::File(dir.path().join("fleet-url-2"));
    let reader = Ledger::connect_only(&o, None).await.unwrap();
    assert_eq!(
        medsettle::fleet::schema_version(reader.client())
            .await
            .unwrap(),
        0
    );
}

fn facts(sale: &str, version: i64, state: &str, refunds: &[bool]) -> SaleFacts {
    SaleFacts {
        sale_id: sale.into(),
        version,
        state: state.into(),
        created_at_ms: 1_796_000_000_000,
        updated_at_ms: 1_796_000_000_000 + version,
        rows: refunds
            .iter()
            .map(|&refund| LedgerRow {
                refund,
                kind: "pharmacy",
                msgid: format!("H11010500001202612021000000{version:03}"),
                setl_id: if refund { "C1".into() } else { "S1".into() },
                original_setl_id: refund.then(|| "S1".into()),
                mdtrt_id: "M1".into(),
                psn_hash: "ab".repeat(32),
                psn_sealed: None,
                insutype: "310".into(),
                clr_type: "41".into(),
                clr_optins: "110199".into(),
                setl_time: Some("2026-12-02 10:00:00".into()),
                day: chrono::NaiveDate::from_ymd_opt(2026, 12, 2),
                medfee_fen: if refund { -9_100 } else { 9_100 },
                fund_fen: 0,
                account_fen: 0,
                cash_fen: 0,
                from_answer: true,
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_are_idempotent_and_an_older_version_never_overwrites_a_newer_one() {
    let pg = Postgres::start_new();
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::connect(&options_in(dir.path(), &pg, "T0001"), None)
        .await
        .unwrap();
    let row = |pg: &Postgres| {
        lines(
            pg,
            "SELECT refund, version, state, medfee_fen FROM settlement_facts ORDER BY refund",
        )
    };
    ledger
        .upsert(&[facts("S1", 6, "settled", &[false])])
        .await
        .unwrap();
    assert_eq!(row(&pg), ["f|6|settled|9100"]);
    let recorded = pg.query("SELECT recorded_at FROM settlement_facts");
    // The same version again (a drain that crashed before deleting its rows): nothing changes.
    ledger
        .upsert(&[facts("S1", 6, "settled", &[false])])
        .await
        .unwrap();
    assert_eq!(row(&pg), ["f|6|settled|9100"]);
    assert_eq!(
        pg.query("SELECT recorded_at FROM settlement_facts"),
        recorded
    );
    // The cancellation at version 9 adds its line and moves the settlement's state.
    ledger
        .upsert(&[facts("S1", 9, "cancelled", &[false, true])])
        .await
        .unwrap();
    assert_eq!(row(&pg), ["f|9|cancelled|9100", "t|9|cancelled|-9100"]);
    // An older version arriving late changes nothing, not even a line it lacks.
    ledger
        .upsert(&[facts("S1", 7, "cancelling", &[false])])
        .await
        .unwrap();
    assert_eq!(row(&pg), ["f|9|cancelled|9100", "t|9|cancelled|-9100"]);
    // A newer version without the cancellation (a settlement restored) voids that line.
    ledger
        .upsert(&[facts("S1", 12, "settled", &[false])])
        .await
        .unwrap();
    assert_eq!(row(&pg), ["f|12|settled|9100", "t|12|void|-9100"]);
    // Another terminal's sale of the same id is another row.
    let mut other = Ledger::connect(&options_in(dir.path(), &pg, "T0002"), None)
        .await
        .unwrap();
    other
        .upsert(&[facts("S1", 1, "settled", &[false])])
        .await
        .unwrap();
    assert_eq!(
        lines(
            &pg,
            "SELECT terminal_id, version FROM settlement_facts WHERE NOT refund ORDER BY terminal_id"
        ),
        ["T0001|12", "T0002|1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_drains_in_order_and_each_settlement_lands_once_without_clear_personal_data() {
    let pg = Postgres::start_new();
    let rig = Rig::new(&pg, "T0001").await;
    let mut drain = rig.drain(None);
    // The first pass connects, migrates and turns nothing on yet: the daemon's task does that.
    rig.store.set_outbox(true, 0).await.unwrap();
    let mut ids = Vec::new();
    for pric in ["10.00", "12.50", "7.30"] {
        ids.push(rig.online(pric).await);
    }
    let first = ids[0].clone();
    let cancelled = rig.engine.cancel(&first).await.unwrap();
    assert_eq!(cancelled.state, SaleState::Cancelled);
    let waiting = rig.store.outbox_page(100).await.unwrap();
    assert!(waiting.len() >= 4, "{waiting:?}");
    // Enqueue order follows the sales.
    let order: Vec<&str> = waiting.iter().map(|r| r.sale_id.as_str()).collect();
    let firsts: Vec<&str> = {
        let mut seen = Vec::new();
        for id in &order {
            if !seen.contains(id) {
                seen.push(*id);
            }
        }
        seen
    };
    assert_eq!(firsts, ids.iter().map(String::as_str).collect::<Vec<_>>());

    let sent = drain.drain_once().await.unwrap();
    assert!(sent >= 3, "{sent}");
    assert_eq!(rig.outbox_rows().await, 0);
    assert_eq!(drain.drain_once().await.unwrap(), 0, "nothing twice");
    // Pages of two rows: each page is its own PostgreSQL transaction, committed in outbox
    // order (xmin grows with each transaction).
    let by_commit = lines(
        &pg,
        "SELECT sale_id FROM settlement_facts WHERE NOT refund
         ORDER BY xmin::text::bigint, sale_id",
    );
    assert_eq!(by_commit.len(), 3);
    assert_eq!(
        lines(
            &pg,
            "SELECT sale_id FROM settlement_facts WHERE NOT refund ORDER BY sale_id"
        ),
        {
            let mut s = ids.clone();
            s.sort();
            s
        }
    );
    // Each settlement once, with the platform's setl_id and the sandbox's amounts; the
    // cancellation as a second, negative line.
    for id in &ids {
        let setl = rig.setl_id(id).await;
        assert_eq!(
            number(
                &pg,
                &format!(
                    "SELECT count(*) FROM settlement_facts WHERE setl_id = '{setl}' AND NOT refund"
                )
            ),
            1
        );
    }
    assert_eq!(
        lines(
            &pg,
            &format!(
                "SELECT state, medfee_fen FROM settlement_facts WHERE sale_id = '{first}' ORDER BY refund"
            )
        ),
        ["cancelled|2000", "cancelled|-2000"]
    );
    assert_eq!(
        number(
            &pg,
            "SELECT count(*) FROM settlement_facts WHERE NOT refund AND medfee_fen = 2500"
        ),
        1
    );
    // psn_no only as HMAC-SHA256 under the fleet key, and nothing personal in clear anywhere.
    let expected = {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, PSN_KEY.as_bytes());
        hex::encode(ring::hmac::sign(&key, PSN.as_bytes()).as_ref())
    };
    assert_eq!(
        lines(&pg, "SELECT DISTINCT psn_hash FROM settlement_facts"),
        [expected]
    );
    let everything = pg.query(
        "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM settlement_facts t
         UNION ALL SELECT string_agg(row_to_json(t)::text, E'\\n') FROM terminals t",
    );
    assert!(everything.contains(&first), "the dump holds the rows");
    for clear in CLEAR {
        assert!(!everything.contains(clear), "{clear} reached PostgreSQL");
    }
    rig.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_in_the_middle_loses_nothing_and_doubles_nothing() {
    let mut pg = Postgres::start_new();
    let rig = Rig::new(&pg, "T0001").await;
    let status = Arc::new(StatusBoard::default());
    let stop = CancellationToken::new();
    let drain = rig.drain(Some(Arc::clone(&status)));
    let stats = drain.stats();
    let task = tokio::spawn(drain.run(stop.clone()));

    let mut ids = vec![rig.online("10.00").await, rig.online("11.00").await];
    let settled_in_pg = |pg: &Postgres| {
        // The table exists once the drain's first connection has migrated the ledger.
        let migrated = "SELECT count(*) FROM pg_tables WHERE tablename = 'settlement_facts'";
        if number(pg, migrated) == 0 {
            return 0;
        }
        number(
            pg,
            "SELECT count(*) FROM settlement_facts WHERE NOT refund AND state <> 'void'",
        )
    };
    until("the first two settlements reach PostgreSQL", WAIT, || {
        let n = settled_in_pg(&pg);
        async move { n == 2 }
    })
    .await;

    // PostgreSQL goes down; sales go on and the outbox grows.
    tokio::task::block_in_place(|| pg.stop());
    for pric in ["12.00", "13.00", "14.00"] {
        ids.push(rig.online(pric).await);
    }
    let cancelled = rig.engine.cancel(&ids[1]).await.unwrap();
    assert_eq!(cancelled.state, SaleState::Cancelled);
    assert!(
        rig.outbox_rows().await >= 4,
        "the outbox holds what PostgreSQL missed"
    );
    until("the status board shows the ledger degraded", WAIT, || {
        let c = status.snapshot().components.get("fleet").cloned();
        async move { c.is_some_and(|c| c.health == Health::Degraded) }
    })
    .await;
    assert!(stats.failures.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // Back up: the outbox catches up by itself.
    tokio::task::block_in_place(|| pg.start());
    until(
        "the outbox is empty and every sale is in PostgreSQL",
        WAIT,
        || {
            let store = rig.store.clone();
            let n = settled_in_pg(&pg);
            async move { n == 5 && store.outbox_stats().await.unwrap().rows == 0 }
        },
    )
    .await;
    until("the status board shows the ledger ok", WAIT, || {
        let c = status.snapshot().components.get("fleet").cloned();
        async move { c.is_some_and(|c| c.health == Health::Ok) }
    })
    .await;
    stop.cancel();
    task.await.unwrap();

    // Every settlement exactly once, the cancellation once, and the ledger agrees with the
    // platform.
    let mut setl_ids = Vec::new();
    for id in &ids {
        setl_ids.push(rig.setl_id(id).await);
    }
    setl_ids.sort();
    assert_eq!(
        lines(
            &pg,
            "SELECT setl_id FROM settlement_facts WHERE NOT refund ORDER BY setl_id"
        ),
        setl_ids
    );
    assert_eq!(
        lines(
            &pg,
            "SELECT sale_id, state FROM settlement_facts WHERE refund ORDER BY sale_id"
        ),
        [format!("{}|cancelled", ids[1])]
    );
    // The heartbeat reported the terminal.
    assert_eq!(
        lines(&pg, "SELECT terminal_id, outbox_rows FROM terminals"),
        ["T0001|0"]
    );
    rig.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_status_lists_the_terminals_and_the_last_reconciliation_of_each_day() {
    let pg = Postgres::start_new();
    // Two terminals of the institution beat their heartbeats.
    let a = Rig::new(&pg, "T0001").await;
    let b = Rig::new(&pg, "T0002").await;
    let mut da = a.drain(None);
    let mut db = b.drain(None);
    da.beat().await.unwrap();
    db.beat().await.unwrap();
    pg.query(
        "INSERT INTO reconciliations (fixmedins_code, day, group_key, result, report,
             runner_terminal, ran_at)
         VALUES ('H11010500001', '2026-12-01', '', 'balanced', '{}', 'T0002', '2026-12-01 16:40:00+00'),
                ('H11010500001', '2026-12-02', '', 'balanced', '{}', 'T0001', '2026-12-02 16:40:00+00'),
                ('H11010500001', '2026-12-02', '', 'unbalanced', '{}', 'T0002', '2026-12-02 17:00:00+00'),
                ('H11010500001', '2026-12-02', '310/41/110199', 'unbalanced', '{}', 'T0002', '2026-12-02 17:00:00+00'),
                ('H99999999999', '2026-12-02', '', 'failed', '{}', 'X1', '2026-12-02 18:00:00+00')",
    );
    // The config of terminal T0001 with its [fleet].
    let config = a.terminal.config_with(|c| {
        c.fleet = Some(crate::support::fleet_section(
            &a.terminal.path().join("fleet-psn-key"),
            &a.terminal.path().join("fleet-url"),
            "",
        ));
    });
    let path = a.terminal.path().join("fleet.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["fleet", "status", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2 终端 terminals (0 失联 stale)"), "{text}");
    for t in ["T0001", "T0002"] {
        assert!(
            text.lines().any(|l| l.starts_with(t)),
            "{t} missing:\n{text}"
        );
    }
    let day2 = text.lines().find(|l| l.starts_with("2026-12-02")).unwrap();
    assert!(
        day2.contains("unbalanced 不平") && day2.contains("T0002"),
        "{day2}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("2026-12-01") && l.contains("balanced 平"))
    );
    assert!(
        !text.contains("X1"),
        "another institution's run is not ours:\n{text}"
    );
    // JSON for scripts.
    let out = std::process::Command::new(BIN)
        .args(["fleet", "status", "--json", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["terminals"], 2);
    assert_eq!(v["reconciliations"][0]["result"], "unbalanced");
    // Without [fleet] the command says so (exit 78, a configuration problem).
    let plain = a.terminal.write_config();
    let out = std::process::Command::new(BIN)
        .args(["fleet", "status", "--config"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[fleet]"));
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_with_a_fleet_shows_it_on_the_status_page_and_in_metrics() {
    let pg = Postgres::start_new();
    let terminal = Terminal::new();
    let options = options_in(terminal.path(), &pg, "T0001");
    let SecretRef::File(url) = &options.url else {
        unreachable!()
    };
    let SecretRef::File(key) = &options.psn_key else {
        unreachable!()
    };
    let config = terminal.config_with(|c| {
        c.fleet = Some(crate::support::fleet_section(
            key,
            url,
            "heartbeat_s = 1\nretry_first_ms = 20\nretry_max_ms = 200",
        ));
    });
    let daemon = crate::support::InProcess::start_config(
        &terminal,
        medsettle::config::Config::parse(&config).unwrap(),
        None,
        None,
    )
    .await;
    let status_url = daemon.url("/v1/status");
    until("the status page shows the fleet", WAIT, || {
        let url = status_url.clone();
        async move {
            let s = crate::support::get_json(&url).await;
            s["fleet"]["summary"]["terminals"] == 1 && s["components"]["fleet"]["health"] == "ok"
        }
    })
    .await;
    let s = crate::support::get_json(&status_url).await;
    assert_eq!(s["fleet"]["terminals"][0]["terminal_id"], "T0001");
    assert_eq!(s["fleet"]["fixmedins_code"], "H11010500001");
    let metrics = crate::support::client()
        .get(daemon.url("/metrics"))
        .bearer_auth(crate::support::TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nmedsettle_fleet_outbox_rows 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nmedsettle_fleet_outbox_lag_seconds 0\n"),
        "{metrics}"
    );
    daemon.shutdown().await;

    // Without [fleet], the component says so and there is no fleet section.
    let plain = Terminal::new();
    let daemon = crate::support::InProcess::start(&plain).await;
    let s = crate::support::get_json(&daemon.url("/v1/status")).await;
    assert_eq!(s["components"]["fleet"]["health"], "disabled");
    assert!(s["fleet"].is_null());
    // … and the institution-wide reconciliation says why it cannot run.
    let r = crate::support::client()
        .post(daemon.url("/v1/fleet/reconcile"))
        .bearer_auth(crate::support::TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "fleet.not_configured", "{body}");
    daemon.shutdown().await;
}

/// A CA and a server certificate for `localhost` it signed: (CA PEM, certificate PEM, key PEM).
fn pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// `options` with TLS to `url`, trusting the CA `ca_pem`, written into `dir` under `name`.
fn tls_options(
    dir: &std::path::Path,
    options: &FleetOptions,
    name: &str,
    url: &str,
    ca_pem: &str,
    require: bool,
) -> FleetOptions {
    std::fs::write(dir.join(format!("{name}-url")), url).unwrap();
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca_pem).unwrap();
    FleetOptions {
        url: SecretRef::File(dir.join(format!("{name}-url"))),
        tls: Some(medsettle::fleet::TlsOptions {
            ca_file: Some(dir.join(format!("{name}-ca.pem"))),
            require,
        }),
        ..options.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_connection_uses_tls_when_configured_and_checks_the_server() {
    let (ca, cert, key) = pki();
    let pg = Postgres::start_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let base = options_in(dir.path(), &pg, "T0001");
    let url = pg.url().replace("127.0.0.1", "localhost");
    let ssl_in_use = |ledger: Ledger| async move {
        let row = ledger
            .client()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, bool>(0)
    };
    // TLS, the server's certificate checked against the configured CA.
    let o = tls_options(dir.path(), &base, "good", &url, &ca, true);
    assert!(ssl_in_use(Ledger::connect(&o, None).await.unwrap()).await);
    // A certificate from another CA is refused, whatever `require` says.
    let (other_ca, _, _) = pki();
    for require in [true, false] {
        let o = tls_options(dir.path(), &base, "other", &url, &other_ca, require);
        let e = Ledger::connect(&o, None).await.err().expect("refused");
        assert!(
            matches!(e, medsettle::fleet::FleetError::Postgres(_)),
            "{e}"
        );
    }
    // Without [fleet.postgres.tls] the same server is reached in plain text (loopback only).
    assert!(!ssl_in_use(Ledger::connect(&base, None).await.unwrap()).await);
    // A server without TLS: refused when TLS is required, plain text when only preferred.
    let plain = Postgres::start_new();
    let plain_url = plain.url().replace("127.0.0.1", "localhost");
    let o = tls_options(dir.path(), &base, "plain", &plain_url, &ca, true);
    assert!(Ledger::connect(&o, None).await.is_err());
    let o = tls_options(dir.path(), &base, "prefer", &plain_url, &ca, false);
    assert!(!ssl_in_use(Ledger::connect(&o, None).await.unwrap()).await);
    // A CA file holding no certificate is a configuration error, named as such.
    let o = tls_options(
        dir.path(),
        &base,
        "empty",
        &url,
        "not a certificate\n",
        true,
    );
    let e = Ledger::connect(&o, None).await.err().expect("refused");
    assert!(matches!(e, medsettle::fleet::FleetError::Ca { .. }), "{e}");
    assert!(!e.is_retryable());
}

/// The institution-wide 3201/3202 (issue 17, point 5): two terminals of one institution sell
/// against one platform. Each terminal alone can never balance (the platform counts the
/// institution); the run over the ledger does, is stored for every terminal, runs once per
/// day for the schedule, refuses a second runner while the first holds the day, and finds
/// a settlement only the platform has.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_institution_reconciles_once_over_every_terminals_settlements() {
    use medsettle::fleet::{FleetError, FleetRunner, Trigger};
    use medsettle::upstream::Fen;
    let pg = Postgres::start_new();
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let a = Rig::on(&pg, "T-A", &sandbox.base_url(), Some(41)).await;
    let b = Rig::on(&pg, "T-B", &sandbox.base_url(), Some(42)).await;
    for rig in [&a, &b] {
        rig.store.set_outbox(true, 0).await.unwrap();
    }
    a.online("10.00").await;
    let cancelled = a.online("12.50").await;
    assert_eq!(
        a.engine.cancel(&cancelled).await.unwrap().state,
        SaleState::Cancelled
    );
    b.online("7.30").await;
    for rig in [&a, &b] {
        let mut drain = rig.drain(None);
        drain.drain_once().await.unwrap();
        drain.beat().await.unwrap();
        assert_eq!(rig.outbox_rows().await, 0);
    }
    let day = medsettle::upstream::time::cst_day(a.engine.now());

    // One terminal's own totals are not the institution's.
    let alone = a.engine.reconcile(day).await.unwrap();
    assert!(!alone.balanced, "{alone:?}");

    let status_a = Arc::new(StatusBoard::default());
    let runner_a = FleetRunner::new(
        a.options.clone(),
        None,
        Arc::clone(&a.engine),
        Arc::clone(&status_a),
    );
    let runner_b = FleetRunner::new(
        b.options.clone(),
        None,
        Arc::clone(&b.engine),
        Arc::new(StatusBoard::default()),
    );
    let sent = runner_a.run(day, false, Trigger::Operator).await.unwrap();
    assert!(sent.ran);
    assert_eq!(sent.runner, "T-A");
    // Three settlements and one cancellation, every psn_no opened for the detail file.
    assert_eq!((sent.facts, sent.unsealed), (4, 0));
    assert!(sent.incomplete.is_empty(), "{:?}", sent.incomplete);
    assert_eq!(sent.report["balanced"], true, "{}", sent.report);
    let line = &sent.report["lines"][0]["totals"];
    // 2 × 10.00 + 2 × 12.50 − 2 × 12.50 + 2 × 7.30.
    assert_eq!(line["medfee"], "34.60", "{line}");
    assert_eq!(
        (line["settlements"].as_u64(), line["refunds"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        status_a.snapshot().reconcile.unwrap()["scope"],
        "institution"
    );
    assert_eq!(
        lines(
            &pg,
            "SELECT group_key, result, runner_terminal FROM reconciliations ORDER BY group_key"
        ),
        // The day's verdict, the group that sold, and the empty home group of
        // `reconcile_insutypes` (390).
        [
            "|balanced|T-A",
            "310/41/110105|balanced|T-A",
            "390/41/110105|balanced|T-A"
        ]
    );

    // The schedule on the other terminal finds the day done and sends nothing.
    let reconciles = sandbox.ledger().request_count("3201");
    let shown = runner_b.run(day, false, Trigger::Schedule).await.unwrap();
    assert!(!shown.ran);
    assert_eq!(shown.runner, "T-A");
    assert_eq!(shown.report["balanced"], true);
    assert_eq!(sandbox.ledger().request_count("3201"), reconciles);

    // While a runner holds the day, another is refused and told who.
    let holder = Ledger::connect(&a.options, None).await.unwrap();
    let key = format!("{}/{}", a.options.fixmedins_code, day);
    let held: bool = holder
        .client()
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&i32::from_be_bytes(*b"mrc1"), &key],
        )
        .await
        .unwrap()
        .get(0);
    assert!(held);
    match runner_b.run(day, false, Trigger::Operator).await {
        Err(FleetError::ReconcileBusy { runner, .. }) => assert_eq!(runner, "T-A"),
        other => panic!("expected busy, got {other:?}"),
    }
    holder
        .client()
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&i32::from_be_bytes(*b"mrc1"), &key],
        )
        .await
        .unwrap();
    drop(holder);

    // A settlement only the platform has: 3201 no longer balances and 3202 names it.
    sandbox.inject_settlement(medsettle_sandbox::Injected {
        setl_id: "SETL-FOREIGN".into(),
        mdtrt_id: "M-FOREIGN".into(),
        psn_no: PSN.into(),
        insutype: "310".into(),
        fixmedins_code: a.options.fixmedins_code.clone(),
        day: medsettle::upstream::time::format_date(day),
        medfee_sumamt: Fen(5_500),
        fund_pay_sumamt: Fen(3_000),
        acct_pay: Fen(500),
        msgid: String::new(),
        clr_type: "41".into(),
        clr_optins: "110105".into(),
    });
    let again = runner_b.run(day, false, Trigger::Operator).await.unwrap();
    assert!(again.ran);
    assert_eq!(again.report["balanced"], false);
    let report: medsettle::settle::reconcile::Report =
        serde_json::from_value(again.report.clone()).unwrap();
    assert_eq!(report.differences(), (0, 1, 0), "{}", again.report);
    assert_eq!(
        lines(
            &pg,
            "SELECT result, runner_terminal FROM reconciliations WHERE group_key = ''
             ORDER BY ran_at"
        ),
        ["balanced|T-A", "unbalanced|T-B"]
    );
    a.close().await;
    b.close().await;
    sandbox.shutdown().await;
}

/// A terminal starting after the day's run time makes sure the institution's previous day has a
/// result (every terminal may have been off at the hour); a second terminal finds it stored,
/// sends nothing and shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_terminal_starting_late_reconciles_the_missed_day_once_for_the_institution() {
    let pg = Postgres::start_new();
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let start = |id: &'static str, node: u16| {
        let terminal = crate::support::Terminal::against_sandbox(
            &sandbox.base_url(),
            crate::support::Timeouts(300, 2000, 3000),
            "",
        );
        let options = options_in(terminal.path(), &pg, id);
        let (SecretRef::File(url), SecretRef::File(key)) = (&options.url, &options.psn_key) else {
            unreachable!()
        };
        let mut config = terminal.config();
        config.terminal.id = id.into();
        config.terminal.msgid_node = Some(node);
        // Always in the past (unless the test starts on the stroke of midnight, CST).
        config.settle.reconcile_at = "00:00".into();
        config.fleet = Some(crate::support::fleet_section(key, url, ""));
        async move {
            let daemon =
                crate::support::InProcess::start_config(&terminal, config, None, None).await;
            (terminal, daemon)
        }
    };
    let yesterday = medsettle::upstream::time::format_date(
        medsettle::upstream::time::cst_day(chrono::Utc::now())
            .pred_opt()
            .unwrap(),
    );
    let shown = |daemon: &crate::support::InProcess| {
        let url = daemon.url("/v1/status");
        let yesterday = yesterday.clone();
        move || {
            let url = url.clone();
            let yesterday = yesterday.clone();
            async move {
                let s = crate::support::get_json(&url).await;
                s["reconcile"]["day"] == yesterday.as_str() && s["reconcile"]["runner"] == "T-ONE"
            }
        }
    };
    let (_t1, one) = start("T-ONE", 1).await;
    until("the first terminal reconciles yesterday", WAIT, shown(&one)).await;
    let verdicts = format!(
        "SELECT result || '|' || runner_terminal FROM reconciliations
         WHERE day = '{yesterday}' AND group_key = ''"
    );
    assert_eq!(lines(&pg, &verdicts), ["balanced|T-ONE"]);
    let sent = sandbox.ledger().request_count("3201");
    assert!(sent >= 1);

    let (_t2, two) = start("T-TWO", 2).await;
    until(
        "the second terminal shows the stored result",
        WAIT,
        shown(&two),
    )
    .await;
    assert_eq!(lines(&pg, &verdicts), ["balanced|T-ONE"], "sent once");
    assert_eq!(sandbox.ledger().request_count("3201"), sent);
    one.shutdown().await;
    two.shutdown().await;
    sandbox.shutdown().await;
}
