//! `medsettle fleet status`: the fleet as the ledger on PostgreSQL shows it — every terminal of
//! the institution with its last heartbeat, offline queue, sales in doubt and outbox lag, and
//! the last institution-wide reconciliation of each day. Reads only: it connects with the
//! `[fleet]` of the config file, never migrates, never needs the daemon to be running.
//!
//! `medsettle fleet reconcile --date D`: the institution-wide 3201 (3202 on a mismatch) over
//! every terminal's settlements, sent by the running daemon (it owns the msgid counter)
//! through its local API, under the institution-day lock.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use medsettle_base::UserFacing;

use crate::config::Config;
use crate::fleet::Ledger;

/// Most terminals listed (an institution has at most about a thousand).
const MAX_TERMINALS: u32 = 100_000;

#[derive(Debug, Subcommand)]
pub(super) enum FleetCommand {
    /// Print the fleet: terminals (last seen, queue depth, sales in doubt, outbox lag) and the
    /// last institution-wide reconciliation per day. Exit 1 when the ledger cannot be read.
    Status {
        /// The TOML configuration file (its `[fleet]` and `[terminal]`).
        #[arg(long, short, env = super::CONFIG_ENV, default_value = super::DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print the view as JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// How many days of reconciliation results to show.
        #[arg(long, default_value_t = 14)]
        days: u32,
    },
    /// Reconcile a CST day for the whole institution (3201 over every terminal's settlements
    /// in the ledger; 3202 for the unbalanced groups) through the running daemon, and store
    /// the result in the ledger. Exit 1 when it does not balance, 3 when another terminal is
    /// running it right now.
    Reconcile {
        #[command(flatten)]
        day: super::ReconcileArgs,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn execute(command: FleetCommand) -> ExitCode {
    match command {
        FleetCommand::Status { config, json, days } => status(&config, json, days),
        FleetCommand::Reconcile { day, json } => {
            super::queue::fleet_reconcile(&day.config, day.date, day.detail, json)
        }
    }
}

fn status(path: &Path, json: bool, days: u32) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("medsettle: {} has errors", path.display());
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let Some(fleet) = &config.fleet else {
        eprintln!(
            "medsettle: {} 没有 [fleet] 集中账本配置 / has no [fleet] section: this terminal is not part of a fleet ledger",
            path.display()
        );
        return ExitCode::from(super::EXIT_CONFIG);
    };
    let options = fleet.options(&config.terminal);
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let view = runtime.block_on(async {
        let ledger = Ledger::connect_only(&options, credentials.as_deref()).await?;
        ledger
            .view(MAX_TERMINALS, days, options.heartbeat * 3)
            .await
    });
    match view {
        Ok(view) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&view).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok(view) => {
            print!("{}", view.render());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("medsettle: [{}] {}", e.code(), e.message_zh());
            eprintln!("medsettle: {e}");
            ExitCode::FAILURE
        }
    }
}
