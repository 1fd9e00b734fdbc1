//! The `medsettle` command line: one file per subcommand. This is the glue between the
//! arguments and the rest of the library: it parses them, sets up logging and the runtime, picks
//! the drivers and calls the daemon. `anyhow` is allowed here and in `main.rs` only.

mod card;
mod config_check;
pub(crate) mod credentials;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_tour;
mod devices;
mod docs;
mod doctor;
mod fleet;
mod local_api;
mod queue;
mod run;
mod scan;
pub(crate) mod state;
mod status_link;
mod store;
mod trace;
mod upstream;
mod visit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a configuration that cannot be used (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// The configuration file every command reads unless `-c/--config` or `MEDSETTLE_CONFIG`
/// names another.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/medsettle/medsettle.toml";

/// The environment variable that names the configuration file (below `-c/--config`).
pub(crate) const CONFIG_ENV: &str = "MEDSETTLE_CONFIG";

/// medsettle — medical-insurance settlement terminal daemon (医保结算终端服务).
#[derive(Debug, Parser)]
#[command(
    name = "medsettle",
    version,
    about,
    long_about = None,
    after_help = "Every command takes -c/--config FILE (default /etc/medsettle/medsettle.toml, \
                  or $MEDSETTLE_CONFIG).\nExit codes: 0 ok, 1 failed, 69 daemon not running, \
                  77 not allowed, 78 configuration or credential error."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon with a configuration file (what systemd starts).
    Run {
        /// The TOML configuration file.
        #[arg(long, short, env = CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Run the daemon on built-in defaults: database under ./var, API on loopback,
    /// simulated devices and sandbox insurer. No hardware, no configuration needed. Source
    /// builds only (`make demo`): the Debian package has no sandbox insurer and refuses it.
    Demo {
        /// Directory for the demo's database and token.
        #[arg(long, default_value = "var")]
        var: PathBuf,
        /// Address of the demo API.
        #[arg(long, default_value = "127.0.0.1:8790")]
        listen: std::net::SocketAddr,
        /// Do not run the scripted tour of sales; just serve.
        #[arg(long)]
        no_tour: bool,
        /// Stop the daemon once the tour is done (exit 0 if every step succeeded).
        #[arg(long, conflicts_with = "no_tour")]
        exit_after_tour: bool,
        /// Show the daemon's log on this terminal instead of writing it to VAR/medsettle.log.
        #[arg(long)]
        verbose: bool,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check the terminal: config, secrets, readers, camera, scan boxes, platform link and
    /// clock, disk, database, API port. Exit 0 ok/warnings, 1 a check failed, 78 bad config.
    Doctor {
        /// The TOML configuration file.
        #[arg(long, short, env = CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print `{checks: [{name, result, detail, fix}], ok}` instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print the version and the database schema version this build uses.
    Version,
    /// List card readers and slots (contact, contactless, SAM) with card presence. Needs no
    /// configuration file (like `pcsc_scan`); uses one when given or installed.
    Readers {
        #[command(flatten)]
        config: card::DeviceConfig,
    },
    /// Decode QR credentials from images; classify and verify them (masked unless --reveal).
    Scan {
        #[command(flatten)]
        args: scan::ScanArgs,
    },
    /// Read and validate a social security card; personal data masked unless --reveal. Needs
    /// no configuration file; uses one when given or installed.
    ReadCard {
        #[command(flatten)]
        config: card::DeviceConfig,
        #[command(flatten)]
        args: card::ReadCardArgs,
    },
    /// Talk to the insurance platform: sign-in round trip, person lookup (1101).
    Upstream {
        #[command(subcommand)]
        command: upstream::UpstreamCommand,
    },
    /// Stored (offline) sales in the running daemon: list, show, retry, cancel, export, flush.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// Outpatient visits in the running daemon: list, show, cancel, refund.
    Visit {
        #[command(subcommand)]
        command: visit::VisitCommand,
    },
    /// Drug trace reports (3505 sold, 3506 returned) in the running daemon: list, show, retry.
    Trace {
        #[command(subcommand)]
        command: trace::TraceCommand,
    },
    /// The database: `backup` (a consistent copy), `pending` (sales a deletion would lose); its
    /// key set: `keygen` (a fresh key line), `rekey` (re-seal under the first key).
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// Print a one-time link (valid 2 minutes, single use) that opens the running daemon's
    /// status page in a browser without typing the token.
    StatusLink {
        /// The TOML configuration file (`api.listen`, `api.token`).
        #[arg(long, short, env = CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The fleet ledger on PostgreSQL (`[fleet]`): `status` lists the institution's terminals
    /// and its reconciliations.
    Fleet {
        #[command(subcommand)]
        command: fleet::FleetCommand,
    },
    /// Daily totals reconciliation (3201) through the running daemon; exit 1 when unbalanced.
    Reconcile {
        #[command(flatten)]
        day: ReconcileArgs,
    },
    /// Write the man pages (medsettle.1, one per subcommand) and the bash, zsh and fish
    /// completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
}

/// What `medsettle reconcile` and `medsettle fleet reconcile` take.
#[derive(Debug, clap::Args)]
pub(super) struct ReconcileArgs {
    /// The TOML configuration file (`api.listen`, `api.token` of the running daemon).
    #[arg(long, short, env = CONFIG_ENV, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The CST day, YYYY-MM-DD (default today).
    #[arg(long)]
    date: Option<String>,
    /// Also run 3202 detail reconciliation for every group (balanced or not) and list
    /// each settlement, with what to do about each that differs.
    #[arg(long)]
    detail: bool,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective configuration (secrets masked).
    /// Every problem is listed with its key and line.
    Check {
        /// The TOML configuration file.
        #[arg(long, short, env = CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The file as a positional argument (the older form; wins over `-c`).
        #[arg(value_name = "FILE")]
        path: Option<PathBuf>,
    },
}

/// `medsettle demo`: only in builds with the `demo` feature (not the Debian package).
#[cfg(feature = "demo")]
fn demo(
    var: &std::path::Path,
    listen: std::net::SocketAddr,
    no_tour: bool,
    exit_after_tour: bool,
    verbose: bool,
) -> ExitCode {
    demo::execute(
        var,
        listen,
        demo::TourMode::from_flags(no_tour, exit_after_tour),
        verbose,
    )
}

#[cfg(not(feature = "demo"))]
fn demo(_: &std::path::Path, _: std::net::SocketAddr, _: bool, _: bool, _: bool) -> ExitCode {
    eprintln!(
        "medsettle demo: this build has no demo (the Debian package ships no sandbox insurer); \
         run `make demo` from the source tree"
    );
    ExitCode::from(69)
}

/// The binary's whole `main`: parse the arguments and run the command.
pub fn main() -> ExitCode {
    Cli::parse().execute()
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn execute(self) -> ExitCode {
        match self.command {
            Command::Run { config } => run::execute(&config),
            Command::Demo {
                var,
                listen,
                no_tour,
                exit_after_tour,
                verbose,
            } => demo(&var, listen, no_tour, exit_after_tour, verbose),
            Command::Config {
                command: ConfigCommand::Check { config, path },
            } => config_check::execute(path.as_deref().unwrap_or(&config)),
            Command::Doctor { config, json } => doctor::execute(&config, json),
            Command::Readers { config } => card::readers(&config),
            Command::Scan { args } => scan::execute(args),
            Command::ReadCard { config, args } => card::read_card(&config, args),
            Command::Upstream { command } => upstream::execute(command),
            Command::Queue { command } => queue::execute(command),
            Command::Visit { command } => visit::execute(command),
            Command::Trace { command } => trace::execute(command),
            Command::Store { command } => store::execute(command),
            Command::Fleet { command } => fleet::execute(command),
            Command::Reconcile { day } => queue::reconcile(&day.config, day.date, day.detail),
            Command::StatusLink { config } => status_link::execute(&config),
            Command::GenerateDocs { dir } => docs::execute(&dir),
            Command::Version => {
                println!(
                    "medsettle {} (database schema v{})",
                    env!("CARGO_PKG_VERSION"),
                    crate::store::SCHEMA_VERSION
                );
                ExitCode::SUCCESS
            }
        }
    }
}
