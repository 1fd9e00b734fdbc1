//! `medsettle trace …`: the operator's view of the drug trace reports (3505 sold, 3506
//! returned) waiting in, or gone through, the daemon's outbox, and the retry of one the
//! platform refused — through the running daemon's local API like `medsettle visit`.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::local_api::LocalApi;

const DEFAULT_CONFIG: &str = "/etc/medsettle/medsettle.toml";

/// `medsettle trace …`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum TraceCommand {
    /// List the reports, newest first, with the counts by state.
    Ls {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only reports in these states (comma-separated: pending, sent, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Only the reports of this sale or visit.
        #[arg(long)]
        sale: Option<String>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one report: its line, state, msgid and the platform's answer.
    Show {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: i64,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a report the platform refused again (after fixing its cause, e.g. `[trace]`).
    Retry {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: i64,
    },
}

/// What a command asks of the daemon.
#[derive(Debug, PartialEq, Eq)]
enum Job {
    Ls {
        state: Option<String>,
        sale: Option<String>,
        limit: u32,
        json: bool,
    },
    Show {
        id: i64,
        json: bool,
    },
    Retry {
        id: i64,
    },
}

fn job_of(command: TraceCommand) -> (PathBuf, Job) {
    match command {
        TraceCommand::Ls {
            config,
            state,
            sale,
            limit,
            json,
        } => (
            config,
            Job::Ls {
                state,
                sale,
                limit,
                json,
            },
        ),
        TraceCommand::Show { config, id, json } => (config, Job::Show { id, json }),
        TraceCommand::Retry { config, id } => (config, Job::Retry { id }),
    }
}

pub(super) fn execute(command: TraceCommand) -> ExitCode {
    let (config, job) = job_of(command);
    super::local_api::run(&config, |api| async move {
        match job {
            Job::Ls {
                state,
                sale,
                limit,
                json,
            } => {
                let path = list_path(state.as_deref(), sale.as_deref(), limit);
                ls(&api, &path, json).await
            }
            Job::Show { id, json } => show(&api, id, json).await,
            Job::Retry { id } => retry(&api, id).await,
        }
    })
}

/// Percent-encodes all but plain letters, digits, `_`, `-` and `,`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /v1/trace` with the filters.
fn list_path(state: Option<&str>, sale: Option<&str>, limit: u32) -> String {
    let mut path = format!("/v1/trace?limit={limit}");
    if let Some(s) = state {
        path.push_str(&format!("&state={}", encode(s)));
    }
    if let Some(s) = sale {
        path.push_str(&format!("&sale_id={}", encode(s)));
    }
    path
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// When, in CST.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&crate::upstream::time::cst())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// The reports as a table, one line each, then the counts.
fn table(v: &Value) -> String {
    let mut out = format!(
        "{:>6} {:<24} {:>4} {:<5} {:<9} {:>5} {:>5} {:<19} ANSWER\n",
        "ID", "SALE", "LINE", "INFNO", "STATE", "CODES", "TRIES", "CREATED"
    );
    for r in v["reports"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:>6} {:<24} {:>4} {:<5} {:<9} {:>5} {:>5} {:<19} {}\n",
            r["id"],
            text(r, "sale_id"),
            r["line"],
            text(r, "infno"),
            text(r, "state"),
            r["codes"],
            r["tries"],
            when(r["created_at_ms"].as_i64().unwrap_or(0)),
            text(r, "answer"),
        ));
    }
    let c = &v["counts"];
    out.push_str(&format!(
        "pending {} · sent {} · failed {} · cancelled {}\n",
        c["pending"], c["sent"], c["failed"], c["cancelled"]
    ));
    out
}

/// One report, as lines.
fn details(r: &Value) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<10}{value}\n"));
    line("report", r["id"].to_string());
    line("sale", text(r, "sale_id").to_owned());
    line("line", r["line"].to_string());
    line("infno", text(r, "infno").to_owned());
    line("state", text(r, "state").to_owned());
    line("codes", r["codes"].to_string());
    line("tries", r["tries"].to_string());
    line("created", when(r["created_at_ms"].as_i64().unwrap_or(0)));
    line("updated", when(r["updated_at_ms"].as_i64().unwrap_or(0)));
    if text(r, "state") == "pending" {
        line("next", when(r["next_at_ms"].as_i64().unwrap_or(0)));
    }
    if let Some(m) = r["msgid"].as_str() {
        line("msgid", m.to_owned());
    }
    if let Some(a) = r["answer"].as_str() {
        line("answer", a.to_owned());
    }
    out
}

async fn ls(api: &LocalApi, path: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let v = api.get(path).await?.ok()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", table(&v));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(api: &LocalApi, id: i64, as_json: bool) -> anyhow::Result<ExitCode> {
    let r = api.get(&format!("/v1/trace/{id}")).await?.ok()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", details(&r));
    }
    Ok(ExitCode::SUCCESS)
}

async fn retry(api: &LocalApi, id: i64) -> anyhow::Result<ExitCode> {
    let r = api
        .post(&format!("/v1/trace/{id}/retry"), &json!({}))
        .await?
        .ok()?;
    println!("{} {}", r["id"], text(&r, "state"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn parsed(args: &[&str]) -> Result<(PathBuf, Job), clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        match cli.command {
            Command::Trace { command } => Ok(job_of(command)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trace_commands_parse_and_build_their_paths() {
        let (_, job) = parsed(&[
            "medsettle",
            "trace",
            "ls",
            "--state",
            "failed,pending",
            "--sale",
            "S1 2",
            "--limit",
            "5",
        ])
        .unwrap();
        let Job::Ls {
            state, sale, limit, ..
        } = job
        else {
            panic!("{job:?}")
        };
        assert_eq!(
            list_path(state.as_deref(), sale.as_deref(), limit),
            "/v1/trace?limit=5&state=failed,pending&sale_id=S1%202"
        );
        assert_eq!(
            parsed(&["medsettle", "trace", "retry", "7"]).unwrap().1,
            Job::Retry { id: 7 }
        );
        assert!(parsed(&["medsettle", "trace", "show", "x"]).is_err());
        assert!(parsed(&["medsettle", "trace", "ls", "--limit", "0"]).is_err());
    }

    #[test]
    fn the_table_shows_each_report_and_the_counts() {
        let v = json!({
            "reports": [{"id": 3, "sale_id": "S1", "line": 0, "infno": "3505", "state": "failed",
                         "codes": 2, "tries": 1, "created_at_ms": 0, "answer": "药师执业资格证号不存在"}],
            "counts": {"pending": 1, "sent": 4, "failed": 1, "cancelled": 0},
        });
        let t = table(&v);
        assert!(
            t.contains("S1") && t.contains("3505") && t.contains("failed"),
            "{t}"
        );
        assert!(t.contains("药师执业资格证号不存在"), "{t}");
        assert!(
            t.ends_with("pending 1 · sent 4 · failed 1 · cancelled 0\n"),
            "{t}"
        );
    }
}
