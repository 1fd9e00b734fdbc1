//! `medsettle store …`: the database key set. `keygen` prints a fresh key line for the key
//! file; `rekey` re-seals every personal-data value under the key set's first key, working on
//! the database file directly (see the rotation steps below). Prints counts and key ids only,
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
}

pub(super) fn execute(command: StoreCommand) -> ExitCode {
    match command {
        StoreCommand::Keygen => {
            println!("{}", KeySet::generate_line());
            ExitCode::SUCCESS
        }
        StoreCommand::Rekey { config } => rekey(&config),
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
