//! The operator CLI (`medsettle queue …`, `medsettle reconcile`) as the real binary, against
//! the in-process daemon: its bound address goes into the config file the CLI reads.

use medsettle_sandbox::{Fault, FaultRule};
use serde_json::{Value, json};

use super::{ID_NUMBER, NAME, PIN, Rig};
use crate::support::process::run_cli;

/// The rig's config with `api.listen` set to where its daemon really listens.
fn config_for(rig: &Rig, addr: std::net::SocketAddr) -> String {
    let text = rig
        .terminal
        .config_text()
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""));
    let path = rig.terminal.path().join("cli.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn cli(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out, err) = run_cli(&args, None);
        (status.code().unwrap_or(-1), out, err)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn sales_cli_queue_ls_export_flush_wait_and_reconcile() {
    let rig = Rig::online("").await;
    let cfg = config_for(&rig, rig.d.addr);
    // The platform "drops" every 1101 for now: stored sales stay in the queue.
    rig.sandbox()
        .inject(FaultRule::always("1101", Fault::DropBeforeCommit));
    let mut ids = Vec::new();
    for pric in ["12.50", "30.00"] {
        let id = rig.sale(pric, Some("force_offline")).await;
        let (status, body) = rig.confirm(&id, json!({ "pin": PIN })).await;
        assert_eq!(status, 200, "{body}");
        ids.push(id);
    }

    let (code, out, err) = cli(&["queue", "ls", "-c", &cfg, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let ls: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ls["totals"]["count"], 2, "{ls}");
    assert_eq!(ls["totals"]["amount"], "42.50");
    let listed: Vec<&str> = ls["sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, table, err) = cli(&["queue", "ls", "-c", &cfg]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains(&ids[0]) && table.contains("2 stored"),
        "{table}"
    );

    let (code, show, err) = cli(&["queue", "show", "-c", &cfg, &ids[0]]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        show.contains("captured") && show.contains("queued"),
        "{show}"
    );

    // The link is back: flush and wait for the queue to drain.
    rig.sandbox().clear_faults();
    let (code, out, err) = cli(&["queue", "flush", "-c", &cfg, "--wait", "--timeout", "50"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    // The forwarder's own retry may settle some before the CLI's flush counts them, so the
    // bar ends at k/k for k ≤ 2; what matters is that it was drawn and the queue drained.
    assert!(
        ["] 2/2", "] 1/1", "] 0/0"]
            .iter()
            .any(|end| err.trim_end().ends_with(end)),
        "{err}"
    );
    assert!(out.contains("queue drained"), "{out}");
    assert_eq!(rig.sandbox().ledger().effective().count(), 2);
    assert_eq!(rig.queue_count().await, 0);

    let (code, csv, err) = cli(&["queue", "export", "-c", &cfg, "--csv"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,created,state,amount,credential,id_number,name,psn_no,setl_id,cash,refund_due"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    for (line, id) in lines[1..].iter().zip(&ids) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], id);
        assert_eq!(cols[2], "settled");
        assert_eq!(cols[4], "card");
        assert!(
            cols[5].contains('*') && cols[6].contains('*'),
            "masked: {line}"
        );
        assert!(!cols[8].is_empty(), "a setl_id: {line}");
    }
    assert!(!csv.contains(ID_NUMBER) && !csv.contains(NAME) && !csv.contains("M12345678"));

    let today = medsettle::upstream::time::format_date(medsettle::upstream::time::cst_day(
        chrono::Utc::now(),
    ));
    let (code, out, err) = cli(&["reconcile", "-c", &cfg, "--date", &today]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("insutype 310") && out.contains("balanced"),
        "{out}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn sales_cli_without_a_daemon_names_the_address() {
    let rig = Rig::platform_down("").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = config_for(&rig, port);
    // 69 (EX_UNAVAILABLE): the daemon is not running.
    let (code, _, err) = cli(&["queue", "ls", "-c", &cfg]).await;
    assert_eq!(code, 69, "{err}");
    assert!(
        err.contains(&format!("not running at http://{port}")),
        "{err}"
    );
    let (code, _, err) = cli(&["queue", "flush", "-c", &cfg, "--wait"]).await;
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("not running"), "{err}");
    rig.stop().await;
}
