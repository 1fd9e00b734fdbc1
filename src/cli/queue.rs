//! `medsettle queue …` and `medsettle reconcile`: the operator's view of stored (offline)
//! sales and of the day's end, through the running daemon's local API (never the database
//! directly: the daemon owns it). Everything shown is the API's masked sale view.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde_json::{Value, json};

use super::local_api::LocalApi;

const DEFAULT_CONFIG: &str = "/etc/medsettle/medsettle.toml";

/// `medsettle queue …`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum QueueCommand {
    /// List stored sales not yet closed, oldest first.
    Ls {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print the API's answer (all pages) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one sale and its history.
    Show {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
    },
    /// Put a rejected or expired stored sale back in the queue.
    Retry {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
    },
    /// Resolve a sale in doubt after checking with the platform: --settled SETL_ID (the
    /// platform holds the settlement; for a cancellation in doubt: it was not cancelled) or
    /// --not-settled (it does not; for a cancellation in doubt: it was cancelled). Audited in
    /// the sale's history with the evidence the terminal holds.
    Resolve {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
        /// The platform's settlement id (setl_id).
        #[arg(
            long,
            value_name = "SETL_ID",
            conflicts_with = "not_settled",
            required_unless_present = "not_settled"
        )]
        settled: Option<String>,
        #[arg(long)]
        not_settled: bool,
        /// Why: who confirmed it, a ticket number (kept in the history).
        #[arg(long)]
        note: Option<String>,
    },
    /// Acknowledge a sale that settled with a platform answer that failed a check (the
    /// `sale.answer_mismatch` alarm), after verifying it. Audited in the sale's history (who,
    /// the note, the mismatches); the alarm clears when no such sale is left.
    Ack {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
        /// What was verified, a ticket number (kept in the history).
        #[arg(long)]
        note: Option<String>,
        /// Who acknowledges (default: the login name, $SUDO_USER or $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Cancel a sale (abandon it, or 2103 when settled).
    Cancel {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
    },
    /// Export every stored sale, settled ones included. ID numbers and names are masked
    /// (the API's view); the clear values never leave the daemon.
    Export {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// CSV on standard output (the only format).
        #[arg(long, required = true)]
        csv: bool,
    },
    /// Wake the forwarder; with --wait, show progress until nothing is left to forward.
    Flush {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds (exit 1).
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

pub(super) fn execute(command: QueueCommand) -> ExitCode {
    let (config, job): (PathBuf, Job) = match command {
        QueueCommand::Ls { config, json } => (config, Job::Ls { json }),
        QueueCommand::Show { config, id } => (config, Job::Show(id)),
        QueueCommand::Retry { config, id } => (config, Job::Retry(id)),
        QueueCommand::Cancel { config, id } => (config, Job::Cancel(id)),
        QueueCommand::Resolve {
            config,
            id,
            settled,
            not_settled: _,
            note,
        } => {
            let mut body = match settled {
                Some(setl_id) => json!({ "decision": "settled", "setl_id": setl_id }),
                None => json!({ "decision": "not_settled" }),
            };
            if let Some(n) = note {
                body["note"] = json!(n);
            }
            (config, Job::Resolve(id, body))
        }
        QueueCommand::Ack {
            config,
            id,
            note,
            by,
        } => {
            let by = by.or_else(|| {
                ["SUDO_USER", "USER", "LOGNAME"]
                    .iter()
                    .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            });
            let mut body = json!({});
            if let Some(b) = by {
                body["by"] = json!(b);
            }
            if let Some(n) = note {
                body["note"] = json!(n);
            }
            (config, Job::Ack(id, body))
        }
        QueueCommand::Export { config, .. } => (config, Job::Export),
        QueueCommand::Flush {
            config,
            wait,
            timeout,
        } => (config, Job::Flush { wait, timeout }),
    };
    run(&config, job)
}

/// `medsettle reconcile --date`.
pub(super) fn reconcile(config: &std::path::Path, date: Option<String>, detail: bool) -> ExitCode {
    run(config, Job::Reconcile(date, detail))
}

/// `medsettle fleet reconcile --date`: through the running daemon, which stamps the msgids.
pub(super) fn fleet_reconcile(
    config: &std::path::Path,
    date: Option<String>,
    detail: bool,
    json: bool,
) -> ExitCode {
    run(config, Job::FleetReconcile { date, detail, json })
}

enum Job {
    Ls {
        json: bool,
    },
    Show(String),
    Retry(String),
    Cancel(String),
    Resolve(String, Value),
    Ack(String, Value),
    Export,
    Flush {
        wait: bool,
        timeout: u64,
    },
    Reconcile(Option<String>, bool),
    FleetReconcile {
        date: Option<String>,
        detail: bool,
        json: bool,
    },
}

fn run(config: &std::path::Path, job: Job) -> ExitCode {
    super::local_api::run(config, |api| async move {
        match job {
            Job::Ls { json } => ls(&api, json).await,
            Job::Show(id) => show(&api, &id).await,
            Job::Retry(id) => one(&api, &format!("/v1/queue/{id}/retry")).await,
            Job::Cancel(id) => one(&api, &format!("/v1/sales/{id}/cancel")).await,
            Job::Resolve(id, body) => resolve(&api, &id, &body).await,
            Job::Ack(id, body) => ack(&api, &id, &body).await,
            Job::Export => export(&api).await,
            Job::Flush { wait, timeout } => flush(&api, wait, Duration::from_secs(timeout)).await,
            Job::Reconcile(date, detail) => reconcile_day(&api, date, detail).await,
            Job::FleetReconcile { date, detail, json } => {
                fleet_reconcile_day(&api, date, detail, json).await
            }
        }
    })
}

/// Every page of `GET /v1/queue` (`all`: every stored sale); the totals of the first.
async fn all_pages(api: &LocalApi, all: bool) -> anyhow::Result<(Value, Vec<Value>)> {
    let mut sales = Vec::new();
    let mut after: Option<String> = None;
    let mut totals = Value::Null;
    loop {
        let mut path = format!("/v1/queue?limit=500&all={all}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let page = api.get(&path).await?.ok()?;
        if totals.is_null() {
            totals = page["totals"].clone();
        }
        sales.extend(page["sales"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return Ok((totals, sales)),
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn age(created_at_ms: i64) -> String {
    let s = (chrono::Utc::now().timestamp_millis() - created_at_ms).max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

async fn ls(api: &LocalApi, as_json: bool) -> anyhow::Result<ExitCode> {
    let (totals, sales) = all_pages(api, false).await?;
    if as_json {
        let out = json!({ "totals": totals, "sales": sales });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<22} {:<10} {:>10} {:>7} {:>5}  LAST ERROR",
        "ID", "STATE", "AMOUNT", "AGE", "TRIES"
    );
    for s in &sales {
        println!(
            "{:<22} {:<10} {:>10} {:>7} {:>5}  {}",
            text(s, "id"),
            text(s, "state"),
            text(s, "amount"),
            age(s["created_at_ms"].as_i64().unwrap_or(0)),
            s["tries"].as_u64().unwrap_or(0),
            s["last_error"]["code"].as_str().unwrap_or("-"),
        );
    }
    println!(
        "{} stored, {} yuan, {} still to forward{}",
        totals["count"],
        text(&totals, "amount"),
        totals["pending"],
        totals["oldest_age_s"]
            .as_i64()
            .map(|s| format!(", oldest {s} s"))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(api: &LocalApi, id: &str) -> anyhow::Result<ExitCode> {
    let v = api.get(&format!("/v1/sales/{id}")).await?.ok()?;
    let s = &v["sale"];
    println!("sale      {}", text(s, "id"));
    println!("state     {}", text(s, "state"));
    println!("mode      {}", text(s, "mode"));
    println!("amount    {}", text(s, "amount"));
    println!("stored    {}", s["stored"]);
    if let Some(share) = s["patient_share"].as_str() {
        println!("cash      {share}");
    }
    if let Some(r) = s["refund_due"].as_str() {
        println!("refund    {r}");
    }
    if let Some(code) = s["last_error"]["code"].as_str() {
        println!("error     {code}: {}", text(&s["last_error"], "message_en"));
    }
    if let Some(m) = s["msgid"].as_str() {
        println!("msgid     {m}");
    }
    // Advisory checks the settlement answer failed (`queue ack` once verified).
    for m in s["mismatches"].as_array().into_iter().flatten() {
        println!("mismatch  {} {}", text(m, "check"), text(m, "detail"));
    }
    let acked = &s["settlement"]["mismatches_acknowledged"];
    if acked.is_object() {
        println!(
            "acked     by {} {}",
            acked["by"].as_str().unwrap_or("-"),
            acked["note"].as_str().unwrap_or("")
        );
    }
    // What the platform or an operator said about a request in doubt: what a resolution
    // (`queue resolve`) is decided on.
    for e in s["evidence"].as_array().into_iter().flatten() {
        println!(
            "evidence  {} msgid {} about {} infcode {} {} {}",
            text(e, "source"),
            e["msgid"].as_str().unwrap_or("-"),
            e["omsgid"].as_str().unwrap_or("-"),
            e["infcode"],
            e["refusal"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        );
    }
    println!("history");
    for h in v["history"].as_array().into_iter().flatten() {
        let at = chrono::DateTime::from_timestamp_millis(h["at_ms"].as_i64().unwrap_or(0))
            .map(|t| {
                t.with_timezone(&crate::upstream::time::cst())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        println!(
            "  {:>3} {at}  {:<10} → {:<10} {:<16} {}",
            h["seq"],
            h["from"].as_str().unwrap_or("-"),
            text(h, "to"),
            text(h, "event"),
            h["detail"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn one(api: &LocalApi, path: &str) -> anyhow::Result<ExitCode> {
    let s = api.post(path, &json!({})).await?.ok()?;
    println!("{} {}", text(&s, "id"), text(&s, "state"));
    Ok(ExitCode::SUCCESS)
}

/// `queue resolve`: the decision, then the sale as it ends.
async fn resolve(api: &LocalApi, id: &str, body: &Value) -> anyhow::Result<ExitCode> {
    let s = api
        .post(&format!("/v1/queue/{id}/resolve"), body)
        .await?
        .ok()?;
    println!("{} {}", text(&s, "id"), text(&s, "state"));
    Ok(ExitCode::SUCCESS)
}

/// `queue ack`: the acknowledgement, then the sale as it is.
async fn ack(api: &LocalApi, id: &str, body: &Value) -> anyhow::Result<ExitCode> {
    let s = api.post(&format!("/v1/queue/{id}/ack"), body).await?.ok()?;
    println!(
        "{} {} acknowledged {} mismatch(es)",
        text(&s, "id"),
        text(&s, "state"),
        s["mismatches"].as_array().map_or(0, Vec::len)
    );
    Ok(ExitCode::SUCCESS)
}

/// A CSV field (quoted when needed).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

async fn export(api: &LocalApi) -> anyhow::Result<ExitCode> {
    let (_, sales) = all_pages(api, true).await?;
    println!("id,created,state,amount,credential,id_number,name,psn_no,setl_id,cash,refund_due");
    for s in &sales {
        let created =
            chrono::DateTime::from_timestamp_millis(s["created_at_ms"].as_i64().unwrap_or(0))
                .map(|t| t.with_timezone(&crate::upstream::time::cst()).to_rfc3339())
                .unwrap_or_default();
        let cols = [
            text(s, "id").to_owned(),
            created,
            text(s, "state").to_owned(),
            text(s, "amount").to_owned(),
            text(&s["credential"], "kind").to_owned(),
            text(&s["credential"], "id_number").to_owned(),
            text(&s["credential"], "name").to_owned(),
            text(s, "psn_no").to_owned(),
            text(&s["settlement"], "setl_id").to_owned(),
            text(&s["settlement"], "cash").to_owned(),
            text(s, "refund_due").to_owned(),
        ];
        let line: Vec<String> = cols.iter().map(|c| field(c)).collect();
        println!("{}", line.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 10;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!(
        "[{}{}] {done}/{total}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize)
    )
}

async fn pending(api: &LocalApi) -> anyhow::Result<u64> {
    let q = api.get("/v1/queue?limit=1").await?.ok()?;
    q["totals"]["pending"]
        .as_u64()
        .ok_or_else(|| anyhow!("the daemon's queue answer has no totals.pending"))
}

async fn flush(api: &LocalApi, wait: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    // Subscribe before waking the forwarder so no state change is missed.
    let mut events = if wait {
        Some(api.events("sale").await?)
    } else {
        None
    };
    let answer = api.post("/v1/queue/flush", &json!({})).await?.ok()?;
    let total = answer["queued"].as_u64().unwrap_or(0);
    let Some(events) = events.as_mut() else {
        println!("forwarder woken: {total} stored sale(s) to forward");
        return Ok(ExitCode::SUCCESS);
    };
    let deadline = Instant::now() + timeout;
    let mut total = total;
    loop {
        let left = pending(api).await?;
        total = total.max(left);
        eprint!("\r{}", bar(total - left, total));
        if left == 0 {
            eprintln!();
            println!("queue drained: {total} sale(s) forwarded");
            return Ok(ExitCode::SUCCESS);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            eprintln!();
            eprintln!(
                "medsettle: {left} sale(s) still waiting after {} s",
                timeout.as_secs()
            );
            return Ok(ExitCode::FAILURE);
        }
        // Any event chunk (a `sale.state`, a keep-alive) or a few seconds: read the queue again.
        let step = remaining.min(Duration::from_secs(2));
        match tokio::time::timeout(step, events.chunk()).await {
            Ok(Ok(Some(_))) | Err(_) => {}
            Ok(Ok(None)) => return Err(anyhow!("the daemon closed the event stream")),
            Ok(Err(e)) => return Err(anyhow!("event stream from the daemon: {e}")),
        }
    }
}

async fn reconcile_day(
    api: &LocalApi,
    date: Option<String>,
    detail: bool,
) -> anyhow::Result<ExitCode> {
    let r = api
        .post("/v1/reconcile", &reconcile_body(date, detail))
        .await?
        .ok()?;
    Ok(print_report(&r, detail))
}

/// `medsettle fleet reconcile`'s exit code when another terminal is running the day.
const EXIT_BUSY: u8 = 3;

/// The body of `POST /v1/reconcile` and `/v1/fleet/reconcile`.
fn reconcile_body(date: Option<String>, detail: bool) -> Value {
    let mut body = match date {
        Some(d) => json!({ "date": d }),
        None => json!({}),
    };
    if detail {
        body["detail"] = json!(true);
    }
    body
}

async fn fleet_reconcile_day(
    api: &LocalApi,
    date: Option<String>,
    detail: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let answer = api
        .post("/v1/fleet/reconcile", &reconcile_body(date, detail))
        .await?;
    if answer.status == 409 && answer.body["code"] == "fleet.reconcile_busy" {
        eprintln!(
            "medsettle: {}",
            super::local_api::describe_error(answer.status, &answer.body)
        );
        return Ok(ExitCode::from(EXIT_BUSY));
    }
    let r = answer.ok()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        let balanced = r["report"]["balanced"] == true;
        return Ok(if balanced {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!(
        "institution-wide reconciliation of {}: {} by terminal {} at {} over {} settlement line(s) from the fleet ledger",
        text(&r, "day"),
        if r["ran"] == true {
            "sent"
        } else {
            "already done"
        },
        text(&r, "runner"),
        text(&r, "ran_at"),
        r["facts"]
    );
    let incomplete: Vec<&str> = r["incomplete"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !incomplete.is_empty() {
        println!(
            "  WARNING: terminal(s) {} had unsent settlements or were not seen recently: their sales may be missing",
            incomplete.join(", ")
        );
    }
    Ok(print_report(&r["report"], detail))
}

/// Prints a 3201 report (with its 3202 details); exit 1 unless everything balanced.
fn print_report(r: &Value, detail: bool) -> ExitCode {
    println!(
        "3201 reconciliation for {} (refd_setl_flag {})",
        text(r, "day"),
        r["refd_setl_flag"].as_str().unwrap_or("left out")
    );
    for l in r["lines"].as_array().into_iter().flatten() {
        let t = &l["totals"];
        println!(
            "  insutype {:<4} clr_type {:<3} setl_optins {:<6} count {:>4}  medfee {:>10}  fund {:>10}  account {:>10}  {}{}",
            text(t, "insutype"),
            text(t, "clr_type"),
            text(t, "setl_optins"),
            t["count"],
            text(t, "medfee"),
            text(t, "fund"),
            text(t, "account"),
            if l["balanced"] == true {
                "balanced"
            } else {
                "NOT BALANCED"
            },
            l["description"]
                .as_str()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        if t["guessed"].as_u64().is_some_and(|n| n > 0) {
            println!(
                "    {} line(s) grouped by the terminal's guess: the answer named no clr_type/clr_optins/setl_time",
                t["guessed"]
            );
        }
    }
    for d in r["details"].as_array().into_iter().flatten() {
        print_detail(d, detail);
    }
    let differ = r["details"].as_array().into_iter().flatten().any(|d| {
        let c = &d["report"]["counts"];
        !d["error"].is_null()
            || ["local_only", "platform_only", "amount_differs"]
                .iter()
                .any(|k| c[k].as_u64().unwrap_or(0) > 0)
    });
    if r["balanced"] == true && !differ {
        println!("balanced");
        ExitCode::SUCCESS
    } else {
        println!("NOT BALANCED: an operator must check the day's settlements");
        ExitCode::FAILURE
    }
}

/// One group's 3202: its counts, and each settlement that differs with what to do (every
/// line, matched ones included, with `--detail`).
fn print_detail(d: &Value, all: bool) {
    let g = &d["group"];
    let group = format!(
        "setl_optins {} clr_type {}",
        text(g, "setl_optins"),
        text(g, "clr_type")
    );
    if !d["error"].is_null() {
        println!(
            "  3202 {group}: FAILED {} ({})",
            text(&d["error"], "message_en"),
            text(&d["error"], "code")
        );
        return;
    }
    let r = &d["report"];
    let c = &r["counts"];
    println!(
        "  3202 {group}: {} matched, {} local only, {} platform only, {} amount differs (file {})",
        c["matched"],
        c["local_only"],
        c["platform_only"],
        c["amount_differs"],
        text(r, "filename")
    );
    for e in r["entries"].as_array().into_iter().flatten() {
        let class = text(e, "class");
        if class == "matched" && !all {
            continue;
        }
        println!(
            "    {:<14} setl_id {:<20} sale {:<16} msgid {:<30} {}{}",
            class,
            text(e, "setl_id"),
            e["sale_id"].as_str().unwrap_or("-"),
            e["msgid"].as_str().unwrap_or("-"),
            if e["refund"] == true { "refund " } else { "" },
            e["action"]["en"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar() {
        assert_eq!(bar(3, 10), "[###-------] 3/10");
        assert_eq!(bar(0, 0), "[##########] 0/0");
        assert_eq!(bar(10, 10), "[##########] 10/10");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("x\"y"), "\"x\"\"y\"");
        assert_eq!(field("S1"), "S1");
    }
}
