//! The trace-report outbox through the real daemon binary: a sale settles while the platform's
//! trace service drops every 3505; the daemon is killed (SIGKILL) with the reports pending and
//! restarted once the service is back: each line's 3505 goes out then, once, and the `trace`
//! CLI lists them.

use std::time::Duration;

use serde_json::{Value, json};

use medsettle_sandbox::{Fault, FaultRule, SandboxConfig};

use crate::support::process::run_cli;
use crate::support::{self, Api, NORMAL_CARD, Process, Terminal, Timeouts};

const DEADLINE: Duration = Duration::from_secs(60);

fn terminal(base_url: &str) -> Terminal {
    let t = Terminal::against_sandbox(
        base_url,
        Timeouts(500, 3_000, 3_000),
        "retry_first_ms = 200\nretry_max_ms = 1000\n",
    );
    let text = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        support::counter_trace(c);
    });
    std::fs::write(t.path().join("trace.toml"), text).unwrap();
    t
}

async fn start(t: &Terminal) -> Process {
    Process::run_file(t, "trace.toml").await
}

fn line(code: &str, codes: &[&str]) -> Value {
    json!({ "code": code, "name": "阿莫西林胶囊", "cnt": codes.len().to_string(), "pric": "12.50",
            "trace": { "codes": codes, "fixmedins_bchno": "B1", "manu_lotnum": "L1",
                       "manu_date": "2025-11-01", "rx_flag": "0" } })
}

#[tokio::test]
async fn pending_trace_reports_survive_a_sigkill_and_go_out_once_after_the_restart() {
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        faults: vec![FaultRule::always("3505", Fault::DropBeforeCommit)],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let t = terminal(&sandbox.base_url());
    let daemon = start(&t).await;
    let api = Api::new(&daemon);
    let credential = api.credential().await;
    let (a, b, c) = (
        "81234567890123460001",
        "81234567890123460002",
        "81234567890123460003",
    );
    let body = json!({ "credential_id": credential, "mode": "require_online",
                       "items": [line("XA01BAA123A001010100001", &[a, b]),
                                 line("XA01BAA123A001010100002", &[c])] });
    let (status, v) = api.post("/v1/sales", body).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    // Both reports tried and left pending by the outage; the settlement stands.
    api.trace_reports_until(&id, DEADLINE, |r| {
        r.len() == 2
            && r.iter()
                .all(|x| x["state"] == "pending" && x["tries"].as_u64() >= Some(1))
    })
    .await;
    assert!(sandbox.trace_events().is_empty());
    daemon.signal(9);
    let (status, _) = daemon.wait();
    assert!(!status.success());

    sandbox.clear_faults();
    let daemon = start(&t).await;
    let api = Api::new(&daemon);
    let sent = api
        .trace_reports_until(&id, DEADLINE, |r| {
            r.len() == 2 && r.iter().all(|x| x["state"] == "sent")
        })
        .await;
    assert!(sent.iter().all(|r| r["infno"] == "3505"), "{sent:?}");
    let mut codes: Vec<String> = sandbox
        .trace_events()
        .iter()
        .map(|e| e.code.clone())
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [a, b, c], "each box reported once");
    let sale = api.sale(&id).await;
    assert_eq!(sale["sale"]["state"], "settled");
    let settled: Vec<_> = sandbox
        .ledger()
        .effective()
        .map(|s| s.chrg_bchno.clone())
        .collect();
    assert_eq!(settled, std::slice::from_ref(&id), "settled once");

    // The operator's view.
    let text = std::fs::read_to_string(t.path().join("trace.toml")).unwrap();
    let config = daemon.cli_config(&t, &text);
    let args: Vec<String> = ["trace", "ls", "-c", &config, "--sale", &id]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args, None)
    })
    .await
    .unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(out.matches("3505").count(), 2, "{out}");
    assert!(out.contains("sent 2"), "{out}");
    drop(daemon);
    sandbox.shutdown().await;
}
