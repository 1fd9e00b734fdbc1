//! Follow-ups of the money-safety work against the sandbox insurer over loopback HTTP: the
//! platform client audits a request that never reached the platform (no connection, a
//! gateway's refusal) as `unsent`, what crash recovery reads to spare it a 2601; and, through
//! the real binary, a settlement answer for another amount raises `sale.answer_mismatch`; an operator's
//! `medsettle queue ack` records who and why in the sale's history, takes the sale off the
//! alarm, and the alarm clears when none is left; the alarm is rebuilt from the store when the
//! daemon starts again.

use std::time::Duration;

use serde_json::json;

use medsettle::store::Store;
use medsettle::upstream::MsgId;
use medsettle::upstream::UpstreamError;
use medsettle::upstream::client::CallOptions;
use medsettle::upstream::tx::reverse::ReversalInput;
use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};

use crate::support::process::run_cli;
use crate::support::{Api, NORMAL_CARD, Process, Terminal, Timeouts};

/// The daemon binary on `terminal`'s files (the same database across restarts), and a copy of
/// its configuration naming the API's real address, for the CLI.
struct Daemon {
    process: Process,
    api: Api,
    cli_config: String,
}

impl Daemon {
    /// `run`: the process's own directory (its notify socket), one per start.
    async fn start(terminal: &Terminal, text: &str, run: &str) -> Daemon {
        let run = terminal.path().join(run);
        std::fs::create_dir_all(&run).unwrap();
        let process = Process::start_config(&run, text, |c| {
            c.env("RUST_LOG", "warn");
        })
        .await;
        Daemon {
            cli_config: process.cli_config(terminal, text),
            api: Api::new(&process),
            process,
        }
    }

    /// The sale ids `sale.answer_mismatch` lists, `None` when it is not raised.
    async fn mismatch_alarm(&self) -> Option<Vec<String>> {
        let status = self.api.get("/v1/status").await;
        let alarm = status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "sale.answer_mismatch")?
            .clone();
        Some(
            alarm["details"]["sales"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect(),
        )
    }

    /// `medsettle queue ack ID …` through the binary: (exit code, stdout, stderr).
    async fn ack(&self, id: &str, extra: &[&str]) -> (i32, String, String) {
        self.queue("ack", id, extra).await
    }

    /// `medsettle queue VERB ID …` through the binary: (exit code, stdout, stderr).
    async fn queue(&self, verb: &str, id: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args: Vec<String> = ["queue", verb, "-c", &self.cli_config, id]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, out, err) = run_cli(&args, None);
            (status.code().unwrap_or(-1), out, err)
        })
        .await
        .unwrap()
    }

    /// Stops the daemon (SIGTERM) and checks it exited cleanly.
    fn stop(self) {
        self.process.signal(15);
        let (status, log) = self.process.wait();
        assert_eq!(status.code(), Some(0), "{log}");
    }
}

fn config(sandbox: &Sandbox) -> (Terminal, String) {
    let t = Terminal::against_sandbox(
        &sandbox.base_url(),
        Timeouts(300, 2000, 3000),
        "retry_first_ms = 100\nretry_max_ms = 400",
    );
    let text = t.config_with_virtual_card(NORMAL_CARD);
    (t, text)
}

#[tokio::test]
async fn an_answer_mismatch_is_acknowledged_through_the_cli_and_its_alarm_survives_a_restart() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let (terminal, text) = config(&sandbox);
    let d = Daemon::start(&terminal, &text, "run1").await;
    // Two settlements for another amount: both settle, both are listed.
    sandbox.inject(FaultRule::times(
        "2102",
        Fault::SettleOtherAmount { delta_fen: 1_000 },
        2,
    ));
    let a = d.api.online_sale("20.00", json!({})).await;
    let b = d.api.online_sale("21.00", json!({})).await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(d.mismatch_alarm().await, Some(vec![a.clone(), b.clone()]));
    // A sale whose answer passed every check has nothing to acknowledge: a clear 409.
    let fine = d.api.online_sale("5.00", json!({})).await;
    assert_eq!(fine["state"], "settled", "{fine}");
    assert!(fine["settlement"].get("mismatches").is_none(), "{fine}");
    let (code, _, err) = d.ack(fine["id"].as_str().unwrap(), &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("sale.wrong_state"), "{err}");

    // The operator acknowledges the first: audited, off the list, the alarm stays for the other.
    let (code, out, err) = d
        .ack(&a, &["--by", "王药师", "--note", "医保科核对 #4711"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&a) && out.contains("settled"), "{out}");
    let doc = d.api.get(&format!("/v1/sales/{a}")).await;
    assert_eq!(doc["sale"]["state"], "settled");
    let acked = &doc["sale"]["settlement"]["mismatches_acknowledged"];
    assert_eq!(acked["by"], "王药师", "{doc}");
    let last = doc["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "ack_mismatch", "{last}");
    assert_eq!(last["detail"]["by"], "王药师");
    assert_eq!(last["detail"]["note"], "医保科核对 #4711");
    assert!(
        last["detail"]["mismatches"]
            .to_string()
            .contains("medfee_sent")
    );
    assert_eq!(d.mismatch_alarm().await, Some(vec![b.clone()]));
    // `queue show` names the failed checks and the acknowledgement.
    let (code, out, err) = d.queue("show", &a, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mismatch  medfee_sent"), "{out}");
    assert!(
        out.contains("acked     by 王药师 医保科核对 #4711"),
        "{out}"
    );
    let (_, out, _) = d.queue("show", &b, &[]).await;
    assert!(
        out.contains("mismatch  medfee_sent") && !out.contains("acked"),
        "{out}"
    );

    // A restart: the alarm is rebuilt from the store, the acknowledged sale stays off it.
    d.stop();
    let d = Daemon::start(&terminal, &text, "run2").await;
    let rebuilt = {
        // The start-up pass runs beside the API: wait for it, with a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match d.mismatch_alarm().await {
                Some(ids) => break ids,
                None if std::time::Instant::now() < deadline => tokio::task::yield_now().await,
                None => panic!("sale.answer_mismatch not rebuilt after the restart"),
            }
        }
    };
    assert_eq!(rebuilt, vec![b.clone()]);

    // The last one acknowledged: the alarm clears. Again: the same answer, no new row.
    let (code, _, err) = d.ack(&b, &["--note", "checked"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(d.mismatch_alarm().await, None);
    let rows = d.api.get(&format!("/v1/sales/{b}")).await["history"]
        .as_array()
        .unwrap()
        .len();
    let (code, _, err) = d.ack(&b, &[]).await;
    assert_eq!(code, 0, "{err}");
    let again = d.api.get(&format!("/v1/sales/{b}")).await;
    assert_eq!(again["history"].as_array().unwrap().len(), rows);

    let ledger = sandbox.ledger();
    assert_eq!(ledger.request_count("2601"), 0, "nothing is reversed");
    assert_eq!(ledger.request_count("2102"), 3);
    d.stop();
}

#[tokio::test]
async fn a_request_that_never_reached_the_platform_is_audited_as_unsent() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let section = format!(
        "\n[upstream]\nbase_url = \"{}\"\nallow_plain_http = true\nsigntype = \"SM3\"\n\
         connect_timeout_ms = 300\nread_timeout_ms = 1000\ntimeout_ms = 1500\n",
        sandbox.base_url()
    );
    let terminal = Terminal::with(|t| t.push_str(&section));
    let (store, _) = Store::open(&terminal.db_path(), Duration::from_secs(5)).unwrap();
    let client =
        medsettle::daemon::upstream::build(&terminal.config(), store.clone(), None, None).unwrap();
    // A 2601 (a money-moving request: audited before it leaves) for some earlier 2102.
    let omsgid = MsgId::parse("H11010500001202612011000000001").unwrap();
    let input = ReversalInput::of("P110105000001", omsgid, "2102").unwrap();
    let options = CallOptions {
        insuplc_admdvs: Some("110105".into()),
        password_proof: None,
    };
    let outcome = |msgid: String| {
        let store = store.clone();
        async move { store.audit(&msgid).await.unwrap().unwrap().outcome }
    };

    // The gateway refuses it (HTTP 403, no envelope): it never reached the platform.
    sandbox.inject(FaultRule::times(
        "2601",
        Fault::HttpStatus {
            status: 403,
            commit: false,
        },
        1,
    ));
    let p = client.prepare("2601", &input, &options).await.unwrap();
    let e = client.send(&p).await.unwrap_err();
    assert_eq!(e, UpstreamError::Gateway { status: 403 });
    assert_eq!(
        outcome(p.msgid.as_str().to_owned()).await.as_deref(),
        Some("unsent")
    );

    // A 5xx proves nothing: the platform may have acted. Unknown, as before.
    sandbox.inject(FaultRule::times(
        "2601",
        Fault::HttpStatus {
            status: 500,
            commit: false,
        },
        1,
    ));
    let p = client.prepare("2601", &input, &options).await.unwrap();
    let e = client.send(&p).await.unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    assert_eq!(
        outcome(p.msgid.as_str().to_owned()).await.as_deref(),
        Some("unknown")
    );

    // The platform is gone: no connection, nothing sent.
    let p = client.prepare("2601", &input, &options).await.unwrap();
    sandbox.shutdown().await;
    let e = client.send(&p).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable { .. }), "{e:?}");
    assert_eq!(
        outcome(p.msgid.as_str().to_owned()).await.as_deref(),
        Some("unsent")
    );
    store.close().await.unwrap();
}
