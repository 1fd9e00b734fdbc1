//! `medsettle doctor [-c CONFIG] [--json]`: checks the terminal — configuration and secrets,
//! card readers, camera, scan boxes, the platform link and clock, disk, database and queue,
//! the API port — and prints `CHECK | RESULT | DETAIL | FIX` (or JSON).
//!
//! Exit 0 when everything is ok or only warns, 1 when a check failed, 78 when the
//! configuration does not load. The verdict types and thresholds live in the core
//! (`crate::doctor`); this module only probes. It never prints secrets or personal data
//! and never migrates or quarantines the database.

mod devices;
mod local;
mod upstream;

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::doctor::{Check, Report};

pub(super) fn execute(path: &Path, json: bool) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            let mut report = Report::default();
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            report.push(Check::fail(
                "config",
                format!("{}: {first}", path.display()),
                format!(
                    "修正配置后用 medsettle config check {0} 验证 / fix the file, then verify with `medsettle config check {0}`",
                    path.display()
                ),
            ));
            print(&report, json);
            if !json {
                eprintln!("medsettle: configuration error:\n{e}");
            }
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let report = runtime.block_on(run(path, &config));
    print(&report, json);
    ExitCode::from(report.exit_code())
}

/// Runs every check in display order.
async fn run(path: &Path, config: &Config) -> Report {
    crate::upstream::transport::install_crypto_provider();
    let mut report = Report::default();
    report.push(Check::ok(
        "config",
        format!("{} loads and validates", path.display()),
    ));
    local::secrets(config, path)
        .into_iter()
        .for_each(|c| report.push(c));
    report.push(devices::pcscd(config).await);
    devices::camera(config)
        .into_iter()
        .for_each(|c| report.push(c));
    devices::scan_box(config)
        .into_iter()
        .for_each(|c| report.push(c));
    report.push(local::disk(config));
    let (database_usable, db_checks) = local::database(config);
    db_checks.into_iter().for_each(|c| report.push(c));
    upstream::checks(config, path, database_usable)
        .await
        .into_iter()
        .for_each(|c| report.push(c));
    report.push(local::api_listen(config).await);
    report
}

fn print(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", report.to_table());
    }
}
