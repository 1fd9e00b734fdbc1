//! Sales in doubt through the real daemon process (the built binary, a virtual card, the
//! sandbox insurer over loopback): a platform that cannot be reached — nothing listening, or a
//! gateway refusing with HTTP 403 — never gets a 2601, and the sales settle once it is back; a
//! 2601 the platform refuses ("原交易不存在") ends in the `sale.in_doubt` alarm with the evidence,
//! not a loop (the sandbox's 2601 count stays put), and `medsettle queue resolve` ends it.
//! Waits poll the API until a condition holds, with a deadline; no sleeps.

use std::net::SocketAddr;
use std::time::Duration;

use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};
use serde_json::{Value, json};

use crate::support::process::run_cli;
use crate::support::{Api, NORMAL_CARD, Process, Terminal, Timeouts};

const DEADLINE: Duration = Duration::from_secs(30);

/// A free loopback port (nothing listens on it once this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn sandbox_on(port: u16) -> Sandbox {
    medsettle_sandbox::start(SandboxConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

struct Daemon {
    terminal: Terminal,
    process: Process,
    api: Api,
    /// A config file naming the daemon's real API address, for the CLI.
    cli_config: String,
}

impl Daemon {
    /// The binary with the virtual card, `signtype = "MOCK"`, no PIN (`skip_pin_consent`) and fast retries.
    async fn start(base_url: &str) -> Daemon {
        let terminal = Terminal::against_sandbox(
            base_url,
            Timeouts(300, 800, 1000),
            "retry_first_ms = 100\nretry_max_ms = 300",
        );
        let text = terminal.config_with_virtual_card(NORMAL_CARD);
        let run = terminal.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let process = Process::start_config(&run, &text, |c| {
            c.env("RUST_LOG", "warn");
        })
        .await;
        Daemon {
            cli_config: process.cli_config(&terminal, &text),
            api: Api::new(&process),
            terminal,
            process,
        }
    }

    /// A card sale of `pric` yuan in `mode`: its id.
    async fn sale(&self, pric: &str, mode: &str) -> String {
        let credential = self.api.credential().await;
        self.api.new_sale(&credential, mode, pric).await
    }

    /// Polls the sale until `state` (deadline).
    async fn wait_state(&self, id: &str, state: &str) -> Value {
        self.api.wait_state(id, state, DEADLINE).await
    }

    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, out, err) = run_cli(&args, None);
            (status.code().unwrap_or(-1), out, err)
        })
        .await
        .unwrap()
    }
}

/// Events of a sale's history.
fn events(doc: &Value) -> Vec<String> {
    doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap().to_owned())
        .collect()
}

/// Adds a fault rule through the sandbox's admin API.
async fn inject(sandbox: &Sandbox, rule: FaultRule) {
    let r = crate::support::client()
        .post(format!("{}/admin/faults", sandbox.base_url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn doubt_an_unreachable_platform_never_gets_a_2601_and_the_sales_settle_when_it_is_back() {
    let port = free_port();
    let first = sandbox_on(port).await;
    let d = Daemon::start(&first.base_url()).await;

    // A gateway that refuses every 2102 with HTTP 403 (no envelope): the request never reached
    // the platform. A stored sale goes back to the queue and is tried again, new msgid each time.
    inject(
        &first,
        FaultRule::times(
            "2102",
            Fault::HttpStatus {
                status: 403,
                commit: false,
            },
            2,
        ),
    )
    .await;
    let stored = d.sale("12.50", "force_offline").await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{stored}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let doc = d.wait_state(&stored, "settled").await;
    let ev = events(&doc);
    assert_eq!(
        ev.iter().filter(|e| *e == "requeue").count(),
        2,
        "two gateway refusals, each back to the queue: {ev:?}"
    );
    assert!(!ev.iter().any(|e| e == "lost" || e == "reverse"), "{ev:?}");
    let msgids: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "send" || h["event"] == "retry")
        .map(|h| h["detail"]["msgid"].as_str().unwrap())
        .collect();
    assert_eq!(msgids.len(), 3, "{doc}");
    assert!(
        msgids[0] != msgids[1] && msgids[1] != msgids[2] && msgids[0] != msgids[2],
        "a new msgid for every attempt: {msgids:?}"
    );
    let ledger = first.ledger();
    assert_eq!(
        ledger.request_count("2601"),
        0,
        "no reversal for a refused gateway"
    );
    assert_eq!(ledger.request_count("2102"), 3);
    assert_eq!(ledger.effective().count(), 1);

    // An online sale presettled, then the platform goes away (nothing listens).
    let online = d.api.presettled("prefer_online", "20.00", json!({})).await;
    let before = first.ledger();
    first.shutdown().await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{online}/confirm"), json!({}))
        .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "sale.offline");
    assert_eq!(v["details"]["can_store"], true, "{v}");
    assert_eq!(v["details"]["cause"], "upstream.unreachable");
    let doc = d.api.sale(&online).await;
    assert_eq!(doc["sale"]["state"], "confirmed", "{doc}");
    assert_eq!(events(&doc).last().unwrap(), "unsent");
    // A stored sale forwarded while nothing listens.
    let waiting = d.sale("8.00", "force_offline").await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{waiting}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    // The cashier confirms again: the online sale is stored (can_store).
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{online}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "queued");
    // While the platform is down, neither sale is ever in doubt.
    for id in [&online, &waiting] {
        let doc = d.api.sale(id).await;
        let ev = events(&doc);
        assert!(
            !ev.iter().any(|e| e == "lost" || e == "reverse"),
            "{id}: {ev:?}"
        );
    }
    assert!(d.api.alarm("sale.in_doubt").await.is_none());

    // The platform is back on the same address: both settle, with no 2601 anywhere.
    let second = sandbox_on(port).await;
    for id in [&online, &waiting] {
        let doc = d.wait_state(id, "settled").await;
        let ev = events(&doc);
        assert!(
            !ev.iter().any(|e| e == "lost" || e == "reverse"),
            "{id}: {ev:?}"
        );
    }
    let ledger = second.ledger();
    assert_eq!(ledger.request_count("2601"), 0);
    assert_eq!(before.request_count("2601"), 0);
    assert_eq!(ledger.effective().count(), 2);
    drop(d.process);
    drop(d.terminal);
    second.shutdown().await;
}

#[tokio::test]
async fn doubt_a_refused_2601_ends_in_an_alarm_with_the_evidence_and_queue_resolve_ends_it() {
    let sandbox = sandbox_on(0).await;
    let d = Daemon::start(&sandbox.base_url()).await;
    // The first 2102 settles but its answer is lost; the second is lost before it settles.
    // Every 2601 is refused as "original not found".
    inject(
        &sandbox,
        FaultRule::times("2102", Fault::DropAfterCommit, 1),
    )
    .await;
    inject(
        &sandbox,
        FaultRule::times("2102", Fault::DropBeforeCommit, 1),
    )
    .await;
    inject(
        &sandbox,
        FaultRule::always(
            "2601",
            Fault::BusinessError {
                message: "原交易不存在".into(),
            },
        ),
    )
    .await;

    // Online: the cashier is told the sale is held, never "try again".
    let online = d.api.presettled("prefer_online", "20.00", json!({})).await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{online}/confirm"), json!({}))
        .await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["code"], "sale.held", "{v}");
    // Stored: the forwarder ends in the same place.
    let stored = d.sale("12.50", "force_offline").await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{stored}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let held = d.wait_state(&stored, "held").await;
    let evidence = &held["sale"]["evidence"][0];
    assert_eq!(evidence["source"], "reversal");
    assert_eq!(evidence["refusal"], "not_found");
    assert_eq!(evidence["infcode"], -1);
    assert_eq!(evidence["message"], "原交易不存在");
    assert_eq!(evidence["omsgid"], held["sale"]["msgid"]);
    let doc = d.api.sale(&online).await;
    assert_eq!(doc["sale"]["state"], "held", "{doc}");
    assert_eq!(events(&doc).last().unwrap(), "hold");

    let alarm = d
        .api
        .alarm("sale.in_doubt")
        .await
        .expect("the in-doubt alarm is raised");
    let named: Vec<&str> = alarm["details"]["sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        named.contains(&online.as_str()) && named.contains(&stored.as_str()),
        "{alarm}"
    );
    assert_eq!(
        sandbox.ledger().request_count("2601"),
        2,
        "one 2601 per sale"
    );

    // No loop: flushes and a whole other stored sale going through the forwarder send no
    // further 2601.
    let other = d.sale("5.00", "force_offline").await;
    let (status, v) = d
        .api
        .post(&format!("/v1/sales/{other}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    for _ in 0..5 {
        d.api.post("/v1/queue/flush", json!({})).await;
    }
    d.wait_state(&other, "settled").await;
    for _ in 0..5 {
        d.api.post("/v1/queue/flush", json!({})).await;
    }
    d.wait_state(&other, "settled").await;
    assert_eq!(
        sandbox.ledger().request_count("2601"),
        2,
        "the refused 2601s are not repeated"
    );

    // The operator sees the evidence.
    let (code, out, err) = d
        .cli(&["queue", "show", "-c", &d.cli_config, &stored])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("evidence  reversal")
            && out.contains("not_found")
            && out.contains("原交易不存在"),
        "{out}"
    );

    // A sale not in doubt cannot be resolved: a clear 409.
    let (code, _, err) = d
        .cli(&[
            "queue",
            "resolve",
            "-c",
            &d.cli_config,
            &other,
            "--not-settled",
        ])
        .await;
    assert_ne!(code, 0);
    assert!(err.contains("sale.not_in_doubt"), "{err}");

    // The operator finds the online sale's settlement at the platform and names it.
    let online_msgid = doc["sale"]["msgid"].as_str().unwrap().to_owned();
    let record = sandbox
        .ledger()
        .by_msgid(&online_msgid)
        .cloned()
        .expect("the first 2102 settled at the platform");
    assert_eq!(record.status, SettlementStatus::Effective);
    let (code, out, err) = d
        .cli(&[
            "queue",
            "resolve",
            "-c",
            &d.cli_config,
            &online,
            "--settled",
            &record.setl_id,
            "--note",
            "bureau confirmed by phone",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&online) && out.contains("settled"), "{out}");
    let doc = d.api.sale(&online).await;
    assert_eq!(doc["sale"]["state"], "settled");
    assert_eq!(
        doc["sale"]["settlement"]["setl_id"],
        record.setl_id.as_str()
    );
    let last = doc["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "resolve_settled");
    assert_eq!(last["detail"]["decision"], "settled");
    assert_eq!(last["detail"]["note"], "bureau confirmed by phone");
    assert_eq!(last["detail"]["evidence"][0]["message"], "原交易不存在");

    // The stored sale never reached the platform's books: not settled, and the forwarder
    // settles it afresh under a new msgid.
    let (code, _, err) = d
        .cli(&[
            "queue",
            "resolve",
            "-c",
            &d.cli_config,
            &stored,
            "--not-settled",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let doc = d.wait_state(&stored, "settled").await;
    let ev = events(&doc);
    assert!(ev.contains(&"resolve_unsettled".to_owned()), "{ev:?}");
    assert_ne!(doc["sale"]["msgid"], held["sale"]["msgid"]);
    assert_eq!(
        doc["sale"]["reversed"][0]["reversed_by"]["source"],
        "operator"
    );

    // Nothing left in doubt: the alarm is cleared; one settlement per sale at the platform.
    assert!(d.api.alarm("sale.in_doubt").await.is_none());
    let ledger = sandbox.ledger();
    assert_eq!(ledger.effective().count(), 3);
    assert_eq!(ledger.request_count("2601"), 2);
    drop(d.process);
    sandbox.shutdown().await;
}
