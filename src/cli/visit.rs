//! `medsettle visit …`: the operator's view of outpatient visits (list, show) and the two
//! ways to end one (cancel before settlement, refund after), through the running daemon's
//! local API like `medsettle queue` (never the database: the daemon owns it). Everything
//! shown is the API's masked view.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::local_api::LocalApi;

const DEFAULT_CONFIG: &str = "/etc/medsettle/medsettle.toml";

/// `medsettle visit …`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum VisitCommand {
    /// List visits, newest first.
    Ls {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only visits in these states (comma-separated, e.g. registered,uploaded).
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one visit: where it stands on the platform, and its history.
    Show {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a visit before settlement: its fee lines (2205) and registration (2202) are
    /// undone on the platform. A settled visit is refunded instead.
    Cancel {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
    },
    /// Refund a settled visit (2208), then undo its fee lines and registration.
    Refund {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        id: String,
    },
}

/// What a command asks of the daemon.
#[derive(Debug, PartialEq, Eq)]
enum Job {
    Ls {
        state: Option<String>,
        limit: u32,
        json: bool,
    },
    Show {
        id: String,
        json: bool,
    },
    /// A POST on the visit (`cancel`, `refund`).
    Act {
        id: String,
        action: &'static str,
    },
}

fn job_of(command: VisitCommand) -> (PathBuf, Job) {
    match command {
        VisitCommand::Ls {
            config,
            state,
            limit,
            json,
        } => (config, Job::Ls { state, limit, json }),
        VisitCommand::Show { config, id, json } => (config, Job::Show { id, json }),
        VisitCommand::Cancel { config, id } => (
            config,
            Job::Act {
                id,
                action: "cancel",
            },
        ),
        VisitCommand::Refund { config, id } => (
            config,
            Job::Act {
                id,
                action: "refund",
            },
        ),
    }
}

pub(super) fn execute(command: VisitCommand) -> ExitCode {
    let (config, job) = job_of(command);
    super::local_api::run(&config, |api| async move {
        match job {
            Job::Ls { state, limit, json } => ls(&api, state.as_deref(), limit, json).await,
            Job::Show { id, json } => show(&api, &id, json).await,
            Job::Act { id, action } => act(&api, &id, action).await,
        }
    })
}

/// `GET /v1/visits` with the filter, query-encoded (state names are plain words; anything
/// else is refused by the daemon, so encoding only has to keep the query intact).
fn list_path(state: Option<&str>, limit: u32) -> String {
    let mut path = format!("/v1/visits?limit={limit}");
    if let Some(s) = state {
        let encoded: String = s
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b',' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        path.push_str(&format!("&state={encoded}"));
    }
    path
}

async fn ls(
    api: &LocalApi,
    state: Option<&str>,
    limit: u32,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let v = api.get(&list_path(state, limit)).await?.ok()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!(
            "{}",
            table(v["visits"].as_array().map_or(&[][..], Vec::as_slice))
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
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

/// The visits as a table, one line each, then a count.
fn table(visits: &[Value]) -> String {
    let mut out = format!(
        "{:<24} {:<11} {:<4} {:<12} {:>10} {:<6} {:<9} CREATED\n",
        "ID", "STATE", "MED", "DEPT", "AMOUNT", "MDTRT", "BATCH"
    );
    for s in visits {
        let v = &s["visit"];
        out.push_str(&format!(
            "{:<24} {:<11} {:<4} {:<12} {:>10} {:<6} {:<9} {}\n",
            text(s, "id"),
            text(s, "state"),
            or_dash(text(v, "med_type")),
            or_dash(text(v, "dept_code")),
            text(s, "amount"),
            if v["mdtrt_id"].is_string() {
                "yes"
            } else {
                "no"
            },
            or_dash(text(&v["batch"], "state")),
            when(s["created_at_ms"].as_i64().unwrap_or(0)),
        ));
    }
    out.push_str(&format!("{} visit(s)\n", visits.len()));
    out
}

/// One visit and its history, as lines.
fn details(doc: &Value) -> String {
    let s = &doc["sale"];
    let v = &s["visit"];
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("{label:<10}{value}\n"));
    };
    line("visit", text(s, "id"));
    line("state", text(s, "state"));
    line("otp no", text(v, "ipt_otp_no"));
    line("med type", text(v, "med_type"));
    line(
        "dept",
        &format!("{} {}", text(v, "dept_code"), text(v, "dept_name")),
    );
    line(
        "doctor",
        &format!("{} {}", text(v, "atddr_no"), text(v, "dr_name")),
    );
    line("begins", text(v, "begntime"));
    line("mdtrt_id", or_dash(text(v, "mdtrt_id")));
    line("insutype", or_dash(text(s, "insutype")));
    let batch = &v["batch"];
    if batch.is_object() {
        line(
            "batch",
            &format!(
                "{} {} {}",
                text(batch, "chrg_bchno"),
                text(batch, "state"),
                text(batch, "total")
            ),
        );
    }
    line("amount", text(s, "amount"));
    if let Some(share) = s["patient_share"].as_str() {
        line("cash", share);
    }
    if let Some(setl) = s["settlement"]["setl_id"].as_str() {
        line("setl_id", setl);
    }
    if let Some(step) = v["step"]["infno"].as_str() {
        line(
            "in flight",
            &format!("{step} msgid {}", text(&v["step"], "msgid")),
        );
    }
    if let Some(code) = s["last_error"]["code"].as_str() {
        line(
            "error",
            &format!("{code}: {}", text(&s["last_error"], "message_en")),
        );
    }
    out.push_str("history\n");
    for h in doc["history"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:>3} {}  {:<11} → {:<11} {:<22} {}\n",
            h["seq"],
            when(h["at_ms"].as_i64().unwrap_or(0)),
            h["from"].as_str().unwrap_or("-"),
            text(h, "to"),
            text(h, "event"),
            h["detail"]
        ));
    }
    out
}

async fn show(api: &LocalApi, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let doc = api.get(&format!("/v1/visits/{id}")).await?.ok()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", details(&doc));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cancel` / `refund`: the visit as it ends (or where its undo chain stopped).
async fn act(api: &LocalApi, id: &str, action: &str) -> anyhow::Result<ExitCode> {
    let s = api
        .post(&format!("/v1/visits/{id}/{action}"), &json!({}))
        .await?
        .ok()?;
    println!("{} {}", text(&s, "id"), text(&s, "state"));
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
            Command::Visit { command } => Ok(job_of(command)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn visit_commands_parse() {
        let (config, job) = parsed(&[
            "medsettle",
            "visit",
            "ls",
            "--state",
            "registered,uploaded",
            "--limit",
            "10",
        ])
        .unwrap();
        assert_eq!(config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(
            job,
            Job::Ls {
                state: Some("registered,uploaded".into()),
                limit: 10,
                json: false
            }
        );
        let (_, job) = parsed(&["medsettle", "visit", "ls"]).unwrap();
        assert_eq!(
            job,
            Job::Ls {
                state: None,
                limit: 50,
                json: false
            }
        );
        let (config, job) = parsed(&[
            "medsettle",
            "visit",
            "show",
            "-c",
            "/tmp/x.toml",
            "V1",
            "--json",
        ])
        .unwrap();
        assert_eq!(config, PathBuf::from("/tmp/x.toml"));
        assert_eq!(
            job,
            Job::Show {
                id: "V1".into(),
                json: true
            }
        );
        for (verb, action) in [("cancel", "cancel"), ("refund", "refund")] {
            let (_, job) = parsed(&["medsettle", "visit", verb, "V9"]).unwrap();
            assert_eq!(
                job,
                Job::Act {
                    id: "V9".into(),
                    action
                }
            );
        }
        assert!(parsed(&["medsettle", "visit", "ls", "--limit", "0"]).is_err());
        assert!(parsed(&["medsettle", "visit", "ls", "--limit", "501"]).is_err());
        assert!(
            parsed(&["medsettle", "visit", "show"]).is_err(),
            "needs an id"
        );
        assert!(parsed(&["medsettle", "visit", "cancel"]).is_err());
    }

    #[test]
    fn the_list_path_keeps_the_query_intact() {
        assert_eq!(list_path(None, 50), "/v1/visits?limit=50");
        assert_eq!(
            list_path(Some("registered,uploaded"), 5),
            "/v1/visits?limit=5&state=registered,uploaded"
        );
        assert_eq!(
            list_path(Some("a&limit=9"), 5),
            "/v1/visits?limit=5&state=a%26limit%3D9"
        );
    }

    fn visit(id: &str, mdtrt: Option<&str>, batch: Value) -> Value {
        json!({
            "id": id, "state": "uploaded", "amount": "37.50", "created_at_ms": 0,
            "visit": { "med_type": "11", "dept_code": "A03", "mdtrt_id": mdtrt, "batch": batch }
        })
    }

    #[test]
    fn the_table_shows_each_visits_step() {
        let out = table(&[
            visit("V1", Some("MD1"), json!({ "state": "uploaded" })),
            visit("V2", None, Value::Null),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].starts_with("ID"), "{out}");
        let v1: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            &v1[..7],
            ["V1", "uploaded", "11", "A03", "37.50", "yes", "uploaded"]
        );
        let v2: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(&v2[5..7], ["no", "-"]);
        assert_eq!(lines[3], "2 visit(s)");
        assert_eq!(table(&[]).lines().last(), Some("0 visit(s)"));
    }

    #[test]
    fn show_prints_the_visit_and_its_history() {
        let doc = json!({
            "sale": {
                "id": "V1", "state": "settled", "amount": "37.50", "patient_share": "10.00",
                "settlement": { "setl_id": "SETL1" },
                "visit": { "ipt_otp_no": "MZ1", "med_type": "11", "mdtrt_id": "MD1",
                           "batch": { "chrg_bchno": "V1", "state": "settled", "total": "37.50" } }
            },
            "history": [
                { "seq": 1, "at_ms": 0, "from": null, "to": "captured", "event": "create", "detail": {} },
                { "seq": 2, "at_ms": 0, "from": "captured", "to": "identified", "event": "identify", "detail": {} }
            ]
        });
        let out = details(&doc);
        for want in [
            "visit     V1",
            "state     settled",
            "mdtrt_id  MD1",
            "batch     V1 settled 37.50",
            "setl_id   SETL1",
            "cash      10.00",
        ] {
            assert!(out.contains(want), "{want:?} in\n{out}");
        }
        assert!(
            out.contains("captured") && out.contains("identified"),
            "{out}"
        );
    }
}
