//! The reconciliation commands as an operator runs them: `medsettle reconcile --date D
//! --detail` (the terminal's own 3201 and 3202) and `medsettle fleet reconcile --date D`
//! (the institution's, over the fleet ledger), each through the real daemon's local API
//! against the sandbox and a real PostgreSQL: the report printed, exit 0 when everything
//! balances, 1 when the platform holds a settlement the terminal does not, and the institution's
//! result visible in `medsettle fleet status`.

use std::time::Duration;

use medsettle::upstream::Fen;
use medsettle::upstream::time::{cst_day, format_date};
use medsettle_sandbox::SandboxConfig;
use serde_json::Value;

use crate::support::poll::until;
use crate::support::process::run_cli;
use crate::support::{Api, NORMAL_CARD, Postgres, Process, Terminal, Timeouts};

const WAIT: Duration = Duration::from_secs(60);

async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out, err) = run_cli(&args, None);
        (status.code().unwrap_or(-1), out, err)
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_commands_print_the_report_and_exit_by_the_verdict() {
    let pg = Postgres::start_new();
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let terminal = Terminal::against_sandbox(&sandbox.base_url(), Timeouts(300, 3000, 5000), "");
    std::fs::write(terminal.path().join("fleet-url"), pg.url()).unwrap();
    std::fs::write(
        terminal.path().join("fleet-psn-key"),
        "fleet-psn-key-for-the-cli-test-01",
    )
    .unwrap();
    let fleet = crate::support::fleet_section(
        &terminal.path().join("fleet-psn-key"),
        &terminal.path().join("fleet-url"),
        "heartbeat_s = 1\nretry_first_ms = 20\nretry_max_ms = 200",
    );
    let text = terminal.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        c.fleet = Some(fleet);
    });
    let run = terminal.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let process = Process::start_config(&run, &text, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await;
    let api = Api::new(&process);
    let sale = api.online_sale("10.00", serde_json::json!({})).await;
    assert_eq!(sale["state"], "settled", "{sale}");
    let config = process.cli_config(&terminal, &text);
    let day = format_date(cst_day(chrono::Utc::now()));

    // The terminal's own day, with every settlement listed.
    let (code, out, err) = cli(args(&[
        "reconcile",
        "-c",
        &config,
        "--date",
        &day,
        "--detail",
    ]))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("3201 reconciliation for {day}")),
        "{out}"
    );
    assert!(
        out.contains("1 matched, 0 local only, 0 platform only"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("balanced"), "{out}");

    // The institution's, once the ledger holds the sale.
    until("the ledger holds the sale", WAIT, || async {
        pg.query("SELECT count(*) FROM settlement_facts WHERE state <> 'void'")
            .trim()
            == "1"
    })
    .await;
    let (code, out, err) = cli(args(&["fleet", "reconcile", "-c", &config, "--date", &day])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "institution-wide reconciliation of {day}: sent by terminal T0001"
        )),
        "{out}"
    );
    assert!(out.contains("over 1 settlement line(s)"), "{out}");
    assert!(out.trim_end().ends_with("balanced"), "{out}");

    // A settlement of the institution only the platform has: both say so, exit 1.
    sandbox.inject_settlement(medsettle_sandbox::Injected {
        setl_id: "SETL-FOREIGN".into(),
        mdtrt_id: "M-FOREIGN".into(),
        psn_no: "P110105000001".into(),
        insutype: "310".into(),
        fixmedins_code: "H11010500001".into(),
        day: day.clone(),
        medfee_sumamt: Fen(5_500),
        fund_pay_sumamt: Fen(3_000),
        acct_pay: Fen(500),
        msgid: String::new(),
        clr_type: "41".into(),
        clr_optins: "110105".into(),
    });
    let (code, out, err) = cli(args(&[
        "reconcile",
        "-c",
        &config,
        "--date",
        &day,
        "--detail",
    ]))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("NOT BALANCED"), "{out}");
    assert!(out.contains("SETL-FOREIGN"), "{out}");
    let (code, out, err) = cli(args(&[
        "fleet",
        "reconcile",
        "-c",
        &config,
        "--date",
        &day,
        "--json",
    ]))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["ran"], true);
    assert_eq!(outcome["report"]["balanced"], false);
    let platform_only: u64 = outcome["report"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["report"]["counts"]["platform_only"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(platform_only, 1, "{out}");

    // Every terminal sees the institution's last verdict of the day.
    let (code, out, err) = cli(args(&["fleet", "status", "-c", &config])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&day))
        .unwrap_or_else(|| panic!("no line for {day}: {out}"));
    assert!(row.contains("unbalanced") && row.contains("T0001"), "{row}");

    process.signal(15);
    let (status, log) = process.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    sandbox.shutdown().await;
}
