//! `medsettle store …`: the database key set and the recovery of a quarantined database.
//! `keygen` prints a fresh key line for the key file; `rekey` re-seals every personal-data
//! value under the key set's first key, working on the database file directly (see the rotation
//! steps below); `salvage` (daemon stopped) copies what a quarantined database still holds
//! into the fresh one and lifts the stop of money operations. Prints counts and key ids only,
//! never key material other than the line `keygen` was asked for.
//!
//! Rotation: put a new `keygen` line FIRST in the key file (keep the old line below it),
//! restart the daemon (it now seals with the new key and still opens old values), run
//! `medsettle store rekey`, then delete the old line and restart again. `rekey` needs no daemon
//! (and does not start one); beside a running daemon it is safe once that daemon was restarted
//! with the same key set, because each batch is one short write transaction.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::store::KeySet;

const DEFAULT_CONFIG: &str = "/etc/medsettle/medsettle.toml";

/// `medsettle store …`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum StoreCommand {
    /// Print a fresh database key as a key-file line (`ID:BASE64`).
    Keygen,
    /// Re-seal every personal-data value under the first key of store.key.
    Rekey {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Bring back what a quarantined (corrupt) database still holds, then resume business.
    ///
    /// When medsettle finds its database corrupt (and REINDEX cannot repair it) it moves the
    /// file aside (`<name>.corrupt-<time>`), opens a fresh one and stops every money
    /// operation (`store.quarantined`) until this command has run. Stop the daemon first
    /// (`systemctl stop medsettle`; a running one stays stopped for money anyway and resumes
    /// only when restarted), then run this with the daemon's config: it copies from
    /// the quarantined file into the fresh database every sale it can still read (queued and
    /// in-doubt ones with their history), every platform audit row, the msgid counter (at the
    /// higher of both files) and the e-SSC replay table, prints what it copied and what it
    /// could not read, and lifts the stop. Start the daemon again afterwards. The quarantined
    /// file is only read, never changed or deleted.
    Salvage {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The quarantined file to read. Default: the one the database's pending quarantine
        /// names.
        #[arg(long)]
        from: Option<PathBuf>,
    },
}

pub(super) fn execute(command: StoreCommand) -> ExitCode {
    match command {
        StoreCommand::Keygen => {
            println!("{}", KeySet::generate_line());
            ExitCode::SUCCESS
        }
        StoreCommand::Rekey { config } => rekey(&config),
        StoreCommand::Salvage { config, from } => salvage(&config, from.as_deref()),
    }
}

fn salvage(path: &Path, from: Option<&Path>) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("medsettle: configuration error:\n{e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    // The daemon's own key set: both files are sealed under it. Never created here.
    let keys = match KeySet::load(&config.store.key_ref(), credentials.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("medsettle: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let busy = Duration::from_millis(config.store.busy_timeout_ms);
    match crate::store::salvage(&config.store.path, busy, keys, from) {
        Ok(report) => {
            println!("salvaged from {}", report.from.display());
            for (table, n) in &report.copied {
                println!("  {table}: {n} row(s) copied");
            }
            println!("  open sales now in the database: {}", report.open_sales);
            for line in &report.unreadable {
                eprintln!("medsettle: could not be read: {line}");
            }
            println!("money operations resume when medsettle is started again");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("medsettle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rekey(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("medsettle: configuration error:\n{e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let key_ref = config.store.key_ref();
    // Never create a key file here: re-keying with a key set nobody has is a mistake.
    let keys = match KeySet::load(&key_ref, credentials.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("medsettle: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let ids = keys.ids().join(", ");
    let busy = Duration::from_millis(config.store.busy_timeout_ms);
    match crate::store::rekey(&config.store.path, busy, keys) {
        Ok((report, counts)) => {
            println!(
                "re-sealed {} value(s) under key `{}` (key set: {ids})",
                report.resealed, report.key_id
            );
            for (id, n) in &counts {
                println!("  {id}: {n} value(s)");
            }
            let others: Vec<&String> = counts.keys().filter(|k| **k != report.key_id).collect();
            if others.is_empty() {
                println!(
                    "every value is under `{}`: older keys can now be removed from {key_ref}",
                    report.key_id
                );
                ExitCode::SUCCESS
            } else {
                eprintln!("medsettle: values remain under {others:?}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("medsettle: {e}");
            ExitCode::FAILURE
        }
    }
}
