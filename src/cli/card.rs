//! `medsettle readers` and `medsettle read-card`: the operator's view of the card path, using
//! the reader stack and acceptance rules of a configuration file, without a running daemon.
//! Like `pcsc_scan` they need no configuration: without one they use every reader through
//! pcscd and the built-in rules.
//!
//! Personal data is masked unless `--reveal` is given. The PIN, when needed, is read from
//! standard input (never from the command line, where `ps` would show it).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::card::InterfacePolicy;
use crate::card::service::{CardOutcome, CardService, ReadRequest};
use crate::card::{CardReaders, Pin, TerminalIds};
use crate::config::Config;
use crate::error::UserFacing;
use crate::events::EventBus;
use crate::telemetry::pii::{mask_id, mask_name};

/// How `read-card` prints the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// A short human-readable summary.
    Text,
    /// The record as JSON.
    Json,
    /// The `iReadCardBas` line.
    Line,
}

/// Options of `read-card`.
#[derive(Debug, clap::Args)]
pub(super) struct ReadCardArgs {
    /// Only this reader (see `medsettle readers`).
    #[arg(long)]
    reader: Option<String>,
    /// Slot preference, like the 通用接口 iType 1-4.
    #[arg(long, value_enum)]
    interface: Option<Interface>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Shortcut for `--format json`.
    #[arg(long, conflicts_with_all = ["format", "line"])]
    json: bool,
    /// Shortcut for `--format line`.
    #[arg(long, conflicts_with = "format")]
    line: bool,
    /// Print ID number, name and card number in clear.
    #[arg(long)]
    reveal: bool,
    /// How long to wait for the card, in milliseconds (default: `readers.wait_ms`).
    #[arg(long)]
    wait_ms: Option<u64>,
    /// Read the cardholder's PIN from standard input and verify it during the read.
    #[arg(long)]
    pin_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Interface {
    Contact,
    Contactless,
    AutoContact,
    AutoContactless,
}

impl From<Interface> for InterfacePolicy {
    fn from(i: Interface) -> Self {
        match i {
            Interface::Contact => InterfacePolicy::Contact,
            Interface::Contactless => InterfacePolicy::Contactless,
            Interface::AutoContact => InterfacePolicy::AutoContact,
            Interface::AutoContactless => InterfacePolicy::AutoContactless,
        }
    }
}

/// Which configuration a device command (`readers`, `read-card`) uses.
#[derive(Debug, clap::Args)]
pub(super) struct DeviceConfig {
    /// The TOML configuration file (`[readers]`, `[card]`, `[terminal]`); default: the
    /// installed one when it exists, else built-in defaults (every reader through pcscd).
    #[arg(long, short, env = super::CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Use the built-in defaults even when a configuration is installed.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
}

/// The configuration file a device command uses: the one given (`-c` or `MEDSETTLE_CONFIG`),
/// else the installed one when it exists, else none (built-in defaults).
pub(super) fn device_config_path(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_owned()),
        None => {
            let installed = Path::new(super::DEFAULT_CONFIG);
            installed.exists().then(|| installed.to_owned())
        }
    }
}

/// The configuration (see [`device_config_path`]; [`Config::device_defaults`] without a file
/// or with `--no-config`) and the reader stack it asks for.
fn load(choice: &DeviceConfig) -> Result<(Config, Arc<dyn CardReaders>), ExitCode> {
    let path = if choice.no_config {
        None
    } else {
        device_config_path(choice.config.as_deref())
    };
    let config = match path {
        Some(path) => Config::load(&path).map_err(|e| {
            eprintln!("medsettle: configuration error:\n{e}");
            ExitCode::from(super::EXIT_CONFIG)
        })?,
        None => Config::device_defaults(),
    };
    match super::devices::readers(&config) {
        Ok(Some(r)) => Ok((config, r)),
        Ok(None) => {
            eprintln!(
                "medsettle: this configuration has no card readers (readers.backend = \"none\")"
            );
            Err(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            Err(ExitCode::FAILURE)
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// `medsettle readers`.
pub(super) fn readers(config: &DeviceConfig) -> ExitCode {
    let (_, readers) = match load(config) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let slots = runtime().block_on(readers.slots());
    readers.close();
    match slots {
        Ok(slots) if slots.is_empty() => {
            println!("no readers ({})", readers.name());
            ExitCode::FAILURE
        }
        Ok(slots) => {
            println!("{:<48} {:<12} {:<6} ATR", "READER", "SLOT", "CARD");
            for s in slots {
                println!(
                    "{:<48} {:<12} {:<6} {}",
                    s.reader,
                    s.kind.to_string(),
                    if s.card_present { "yes" } else { "no" },
                    s.atr.unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// `medsettle read-card`.
pub(super) fn read_card(config: &DeviceConfig, args: ReadCardArgs) -> ExitCode {
    let (config, readers) = match load(config) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let pin = if args.pin_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            eprintln!("medsettle: cannot read the PIN from standard input");
            return ExitCode::FAILURE;
        }
        match Pin::new(line.trim()) {
            Ok(p) => Some(p),
            Err(e) => return fail(&e),
        }
    } else {
        None
    };
    let service = match CardService::from_config(&config, Arc::clone(&readers), EventBus::default())
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("medsettle: `card.blacklist`: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let terminal = TerminalIds {
        terminal_no: config.terminal.id.clone(),
        device_no: config.terminal.device_no.clone(),
    };
    let req = ReadRequest {
        policy: args.interface.map(Into::into),
        reader: args.reader.clone(),
        wait: args.wait_ms.map(Duration::from_millis),
        pin,
    };
    let result = runtime().block_on(service.read(req));
    readers.close();
    let format = if args.json {
        Format::Json
    } else if args.line {
        Format::Line
    } else {
        args.format
    };
    match result {
        Ok(outcome) => {
            print_outcome(&outcome, &terminal, format, args.reveal);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn UserFacing) -> ExitCode {
    eprintln!(
        "medsettle: {}: {} / {}",
        e.code(),
        e.message_zh(),
        e.message_en()
    );
    ExitCode::FAILURE
}

fn print_outcome(o: &CardOutcome, terminal: &TerminalIds, format: Format, reveal: bool) {
    let mut record = o.record.clone();
    if !reveal {
        record.card_no = mask_id(&record.card_no);
        if let Some(h) = record.holder.as_mut() {
            h.id_number = mask_id(&h.id_number);
            h.name = mask_name(&h.name);
        }
    }
    match format {
        Format::Line => println!("{}", record.ireadcardbas_line(terminal)),
        Format::Json => {
            let mut value = serde_json::to_value(o).unwrap_or_default();
            value["record"] = serde_json::to_value(&record).unwrap_or_default();
            if !reveal {
                value["line"] = serde_json::Value::Null;
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Format::Text => {
            let h = record.holder.as_ref();
            println!("reader     {} ({})", o.slot.reader, o.slot.kind);
            println!("card no    {}", record.card_no);
            println!("card id    {}", record.card_id);
            println!("region     {}", record.region);
            println!("spec       {}", record.spec_version);
            println!(
                "holder     {}",
                h.map(|h| format!("{} {}", h.name, h.id_number))
                    .unwrap_or_else(|| "(protected)".into())
            );
            println!(
                "valid      {} .. {}",
                record.issue_date.map(|d| d.to_string()).unwrap_or_default(),
                record
                    .expiry_date
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            );
            println!("apdus      {} in {} ms", o.apdus, o.read_ms);
        }
    }
}
