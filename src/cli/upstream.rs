//! `medsettle upstream ping` and `medsettle upstream person`: the operator's view of the
//! platform link, using a configuration file's `[upstream]` and its database (msgid counter and
//! audit table), without a running daemon.
//!
//! `ping` signs in (9001) `--count` times and prints each round trip, then signs out (9002).
//! `person` identifies a patient (1101) from a card in a reader, a QR code's text or an ID
//! number read from standard input (or typed at a prompt) — never from the command line,
//! where `ps` and the shell history would keep it. Personal data is masked unless `--reveal`.
//!
//! Outside the service, `{ credential = … }` secrets are read from the unit's files
//! (`credentials.rs`); run as root before the service's first start they refuse to create the
//! database (`state.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::card::service::{CardOutcome, CardService, ReadRequest};
use crate::config::Config;
use crate::error::UserFacing;
use crate::events::EventBus;
use crate::qr::classify::{Scanned, classify};
use crate::qr::essc::{MemoryReplayGuard, Verifier};
use crate::qr::evoucher::BusinessType;
use crate::store::Store;
use crate::telemetry::pii::{mask_id, mask_name};
use crate::upstream::client::{CallOptions, Client};
use crate::upstream::ec::HttpEcDecoder;
use crate::upstream::tx::identify;
use crate::upstream::tx::person::{PERSON_INFO, PersonInfo};

/// `medsettle upstream …`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum UpstreamCommand {
    /// Sign in to the platform (9001) and print the round trip, then sign out (9002).
    Ping {
        /// The TOML configuration file (`[upstream]`, `[terminal]`, `[store]`).
        #[arg(long, short, env = super::CONFIG_ENV, default_value = super::DEFAULT_CONFIG)]
        config: PathBuf,
        /// How many sign-ins.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
    },
    /// Look up a patient (1101) and print who they are and what insurance they hold.
    Person {
        /// The TOML configuration file.
        #[arg(long, short, env = super::CONFIG_ENV, default_value = super::DEFAULT_CONFIG)]
        config: PathBuf,
        #[command(flatten)]
        by: PersonBy,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        /// Print ID number and name in clear.
        #[arg(long)]
        reveal: bool,
    },
}

/// Exactly one credential.
#[derive(Debug, clap::Args)]
// Not `required` in clap: the hidden `--id` would then show in the usage line; `execute`
// insists on one instead.
#[group(multiple = false)]
pub(super) struct PersonBy {
    /// Read the card in the configured reader.
    #[arg(long)]
    card: bool,
    /// The text of a QR code (e-SSC `ESSC1.…` or an e-voucher).
    #[arg(long, value_name = "TEXT")]
    qr: Option<String>,
    /// A citizen ID number (社会保障号码), read from standard input (one line), or typed at a
    /// prompt when standard input is a terminal. Never given on the command line.
    #[arg(long)]
    id_stdin: bool,
    /// Deprecated and hidden: the ID number on the command line, where `ps` and the shell
    /// history keep it. Still accepted with a warning until the last scripts move to
    /// `--id-stdin`.
    #[arg(long, value_name = "ID", hide = true)]
    id: Option<String>,
}

pub(super) fn execute(command: UpstreamCommand) -> ExitCode {
    match command {
        UpstreamCommand::Ping { config, count } => {
            with_client(&config, "medsettle upstream ping", move |_, client| {
                Box::pin(async move { ping(&client, count).await })
            })
        }
        UpstreamCommand::Person {
            config,
            by,
            json,
            reveal,
        } => {
            if !by.card && by.qr.is_none() && !by.id_stdin && by.id.is_none() {
                eprintln!(
                    "medsettle: upstream person needs one of --card, --qr TEXT or --id-stdin"
                );
                return ExitCode::from(2);
            }
            // Read the ID before anything else, so a prompt is not mixed with later output.
            let id = if by.id_stdin {
                match read_id() {
                    Ok(id) => Some(id),
                    Err(e) => {
                        eprintln!("medsettle: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else if let Some(id) = by.id.clone() {
                eprintln!(
                    "medsettle: warning: --id leaves the ID number in the process list and the \
                     shell history; use --id-stdin (echo ID | medsettle upstream person --id-stdin)"
                );
                Some(id)
            } else {
                None
            };
            with_client(
                &config,
                "medsettle upstream person",
                move |config, client| {
                    Box::pin(async move { person(&config, client, by, id, json, reveal).await })
                },
            )
        }
    }
}

type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode>>>;

/// Loads the config, opens the database, builds the client, runs `job`, closes the database.
fn with_client(
    path: &Path,
    command: &str,
    job: impl FnOnce(Config, Arc<Client>) -> Task + 'static,
) -> ExitCode {
    let mut config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("medsettle: configuration error:\n{e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    if config.upstream.is_none() {
        eprintln!("medsettle: {} has no [upstream] section", path.display());
        return ExitCode::from(super::EXIT_CONFIG);
    }
    if let Err(why) = super::state::may_create(&config, command) {
        eprintln!("medsettle: {why}");
        return ExitCode::from(super::state::EXIT_NOPERM);
    }
    super::credentials::resolve_all(&mut config, path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let (store, _) =
            match Store::open_configured(&config.store.options(), credentials.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("medsettle: database {}: {e}", config.store.path.display());
                    return if matches!(e, crate::store::StoreError::Keys(_)) {
                        ExitCode::from(super::EXIT_CONFIG)
                    } else {
                        ExitCode::FAILURE
                    };
                }
            };
        let client = match crate::daemon::upstream::build(
            &config,
            store.clone(),
            credentials.as_deref(),
            None,
        ) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                eprintln!("medsettle: {e}");
                let _ = store.close().await;
                return ExitCode::from(super::EXIT_CONFIG);
            }
        };
        let code = job(config, client).await;
        let _ = store.close().await;
        code
    })
}

async fn ping(client: &Client, count: u32) -> ExitCode {
    let mut times = Vec::new();
    for i in 1..=count {
        match client.sign_in().await {
            Ok(rtt) => {
                println!("9001 sign-in #{i}: ok in {:.1} ms", rtt.as_secs_f64() * 1e3);
                times.push(rtt);
            }
            Err(e) => {
                println!("9001 sign-in #{i}: failed");
                return fail(&e);
            }
        }
    }
    let started = Instant::now();
    match client.sign_out().await {
        Ok(()) => println!(
            "9002 sign-out: ok in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        ),
        Err(e) => return fail(&e),
    }
    times.sort();
    if times.len() > 1 {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "round trips: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    ExitCode::SUCCESS
}

async fn person(
    config: &Config,
    client: Arc<Client>,
    by: PersonBy,
    id: Option<String>,
    json: bool,
    reveal: bool,
) -> ExitCode {
    let now = chrono::Utc::now();
    let mut options = CallOptions::default();
    let input = if by.card {
        let readers = match super::devices::readers(config) {
            Ok(Some(r)) => r,
            Ok(None) => {
                eprintln!("medsettle: this configuration has no card readers");
                return ExitCode::from(super::EXIT_CONFIG);
            }
            Err(e) => {
                eprintln!("medsettle: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let service =
            match CardService::from_config(config, Arc::clone(&readers), EventBus::default()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("medsettle: `card.blacklist`: {e}");
                    return ExitCode::from(super::EXIT_CONFIG);
                }
            };
        let outcome = service.read(ReadRequest::default()).await;
        readers.close();
        match outcome {
            Ok(CardOutcome { record, .. }) => identify::for_card(&record, now),
            Err(e) => return fail(&e),
        }
    } else if let Some(text) = by.qr {
        match classify(text.as_bytes()) {
            Ok(Scanned::Essc(code)) => {
                let keys = match config.qr.key_ring() {
                    Ok(k) => k,
                    Err(e) => {
                        eprintln!("medsettle: `qr.essc_keys`: {e}");
                        return ExitCode::from(super::EXIT_CONFIG);
                    }
                };
                let verifier = Verifier::new(keys).with_skew(config.qr.essc_skew_secs);
                // Checking a code must not consume it: an in-memory replay guard.
                let guard = MemoryReplayGuard::new(16);
                match verifier.verify(&code, now.timestamp(), &guard) {
                    Ok(id) => identify::for_essc(&id, now),
                    Err(e) => return fail(&e),
                }
            }
            Ok(Scanned::EVoucher(code)) => {
                let Some(decoder) = HttpEcDecoder::new(Arc::clone(&client)) else {
                    eprintln!("medsettle: e-vouchers need upstream.ec_url");
                    return ExitCode::from(super::EXIT_CONFIG);
                };
                match decoder.query(&code, BusinessType::Settlement).await {
                    Ok(id) => {
                        options.insuplc_admdvs = Some(id.insu_org.clone());
                        identify::for_ec_token(&id.ec_token.0, now)
                    }
                    Err(e) => return fail(&e),
                }
            }
            Err(e) => return fail(&e),
        }
    } else if let Some(id) = id {
        match crate::credential::idnumber::parse(&id) {
            Ok(_) => identify::for_id_number(&id, "", now),
            Err(e) => return fail(&e),
        }
    } else {
        unreachable!("execute requires one credential");
    };
    let exchange = match client.call(PERSON_INFO, &input, &options).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let info: PersonInfo = match exchange.output() {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    print_person(&info, json, reveal);
    let _ = client.sign_out().await;
    ExitCode::SUCCESS
}

fn print_person(info: &PersonInfo, json: bool, reveal: bool) {
    let b = &info.baseinfo;
    let certno = b.certno.clone().unwrap_or_default();
    let name = b.psn_name.clone().unwrap_or_default();
    let (certno, name) = if reveal {
        (certno, name)
    } else {
        (mask_id(&certno), mask_name(&name))
    };
    let insurances: Vec<serde_json::Value> = info
        .insuinfo
        .iter()
        .map(|i| {
            serde_json::json!({
                "insutype": i.insutype, "psn_type": i.psn_type, "psn_insu_stas": i.psn_insu_stas,
                "balc": i.balc.to_yuan_string(), "insuplc_admdvs": i.insuplc_admdvs,
            })
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "psn_no": b.psn_no, "certno": certno, "psn_name": name, "gend": b.gend,
            "brdy": b.brdy, "age": b.age, "insuinfo": insurances,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    println!("psn_no   {}", b.psn_no.as_ref().map_or("-", |p| p.expose()));
    println!("certno   {certno}");
    println!("name     {name}");
    println!(
        "gend {}  brdy {}  age {}",
        b.gend.as_deref().unwrap_or("-"),
        b.brdy.as_deref().unwrap_or("-"),
        b.age.as_deref().unwrap_or("-")
    );
    println!(
        "{:<8} {:<8} {:<6} {:>12} 参保地",
        "insutype", "psn_type", "status", "balance"
    );
    for i in &info.insuinfo {
        println!(
            "{:<8} {:<8} {:<6} {:>12} {}",
            i.insutype.as_deref().unwrap_or("-"),
            i.psn_type.as_deref().unwrap_or("-"),
            i.psn_insu_stas.as_deref().unwrap_or("-"),
            i.balc.to_yuan_string(),
            i.insuplc_admdvs.as_deref().unwrap_or("-")
        );
    }
}

/// One ID number from standard input; with a terminal there, after a prompt on stderr.
fn read_id() -> Result<String, String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("社会保障号码 / ID number: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the ID number from standard input: {e}"))?;
    let id = line.trim().to_owned();
    if id.is_empty() {
        return Err(
            "no ID number on standard input (echo ID | medsettle upstream person --id-stdin)"
                .into(),
        );
    }
    Ok(id)
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
