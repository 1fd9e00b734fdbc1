//! `medsettle store …`: the database key set, the recovery of a quarantined database, backups
//! and the count of sales a deletion would lose.
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

use anyhow::Context as _;

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
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
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
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The quarantined file to read. Default: the one the database's pending quarantine
        /// names.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Copy the database to a new file, consistent even while the daemon runs.
    ///
    /// The copy is a checked SQLite snapshot (`VACUUM INTO`), created mode 0600, never over an
    /// existing file. Personal data stays sealed in it: the copy is readable only with the
    /// database key set (store.key), which is NOT in it. Give `--keys FILE` to copy the key set
    /// too, to a file of its own; keep the two apart (whoever has both has the data).
    /// Restore: stop the daemon, put the copy in place of store.path (remove the old -wal and
    /// -shm files), make sure store.key holds the same key set, start.
    Backup {
        /// The new backup file.
        to: PathBuf,
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The database file itself, instead of the config's store.path (its key set is then
        /// the `db-key` file beside it): for a machine whose config is gone. Wins over `-c`
        /// and MEDSETTLE_CONFIG.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Also copy the key set to this new file (mode 0600).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Count the sales a deletion of the database would lose: not settled, stored offline,
    /// or in doubt at the platform. Reads only; works beside a running daemon.
    ///
    /// Prints `pending=N stored=N in_doubt=N` with --porcelain (the package's removal scripts
    /// use it). Export such sales with `medsettle queue export --csv` or keep a
    /// `medsettle store backup` before deleting anything.
    Pending {
        #[arg(long, short, env = super::CONFIG_ENV, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The database file itself, instead of the config's store.path; wins over `-c` and
        /// MEDSETTLE_CONFIG.
        #[arg(long)]
        db: Option<PathBuf>,
        /// One machine-readable line.
        #[arg(long)]
        porcelain: bool,
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
        StoreCommand::Backup {
            to,
            config,
            db,
            keys,
        } => backup(&config, db.as_deref(), &to, keys.as_deref()),
        StoreCommand::Pending {
            config,
            db,
            porcelain,
        } => pending(&config, db.as_deref(), porcelain),
    }
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("medsettle: configuration error:\n{e}");
        ExitCode::from(super::EXIT_CONFIG)
    })
}

fn backup(path: &Path, given_db: Option<&Path>, to: &Path, keys: Option<&Path>) -> ExitCode {
    let (db, busy, key_ref) = match given_db {
        Some(db) => (
            db.to_owned(),
            Duration::from_secs(5),
            crate::store::default_key_ref(db),
        ),
        None => match load_config(path) {
            Ok(c) => (
                c.store.path.clone(),
                Duration::from_millis(c.store.busy_timeout_ms),
                c.store.key_ref(),
            ),
            Err(code) => return code,
        },
    };
    if given_db.is_none() && owner_only(&db) {
        return backup_through_daemon(path, &db, to, keys);
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    // The key set is read before anything is written: a backup whose keys cannot be copied as
    // asked would be a trap. It is never created here.
    let key_text = match keys {
        Some(_) => match crate::config::Secret::load(&key_ref, credentials.as_deref()) {
            Ok(s) => match KeySet::parse(s.expose(), &key_ref.to_string()) {
                Ok(set) => Some((s, set.ids().join(", "))),
                Err(e) => {
                    eprintln!("medsettle: {e}");
                    return ExitCode::from(super::EXIT_CONFIG);
                }
            },
            Err(e) => {
                eprintln!("medsettle: the key set ({key_ref}): {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        },
        None => None,
    };
    if let Some(k) = keys.filter(|k| k.exists()) {
        eprintln!(
            "medsettle: {} exists already; choose a new name (a backup never overwrites)",
            k.display()
        );
        return ExitCode::FAILURE;
    }
    let report = match crate::store::backup(&db, busy, to) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("medsettle: backup failed, nothing written: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_report(&db, "", &report);
    match (keys, key_text) {
        (Some(dest), Some((secret, ids))) => {
            if let Err(e) = crate::store::write_key_copy(secret.expose(), dest) {
                eprintln!(
                    "medsettle: the database copy is complete, but the key set could not be written to {}: {e}",
                    dest.display()
                );
                return ExitCode::FAILURE;
            }
            println!(
                "key set (key ids {ids}) copied to {} (mode 0600): keep it apart from the backup",
                dest.display()
            );
        }
        _ => println!(
            "personal data in the copy stays sealed: it can be read only with the key set ({key_ref}), \
             which is not in the copy; back it up apart (or run again with --keys FILE)"
        ),
    }
    ExitCode::SUCCESS
}

fn print_report(db: &Path, via: &str, report: &crate::store::BackupReport) {
    println!(
        "backed up {}{via} to {} ({} bytes, schema {}, {} sale(s), {} not final: {} stored offline, {} in doubt)",
        db.display(),
        report.to.display(),
        report.bytes,
        report.schema_version,
        report.sales,
        report.pending.open,
        report.pending.stored,
        report.pending.in_doubt
    );
}

/// The database exists and only its owner may read it: this user is not the service user
/// (typically a member of its group, who reaches the daemon over the socket).
fn owner_only(db: &Path) -> bool {
    matches!(std::fs::File::open(db), Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// A backup by a user who may not read the database file: the running daemon makes the
/// checked copy and streams it (`GET /v1/store/backup`); it is checked again here, written
/// 0600 under a temporary name and renamed into place. The key set, which such a user may
/// not read either, is never sent: `--keys` is refused with what to do instead.
fn backup_through_daemon(config: &Path, db: &Path, to: &Path, keys: Option<&Path>) -> ExitCode {
    if keys.is_some() {
        eprintln!(
            "medsettle: {} and its key set are readable only by the service user; copy the key \
             set as root (`sudo medsettle store backup FILE --keys KEYFILE`), or leave out \
             --keys to have the running daemon copy the database for you",
            db.display()
        );
        return ExitCode::from(super::local_api::EXIT_NOPERM);
    }
    if to.exists() {
        eprintln!(
            "medsettle: {} exists already; choose a new name (a backup never overwrites)",
            to.display()
        );
        return ExitCode::FAILURE;
    }
    let api = match super::local_api::LocalApi::from_config(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            return super::local_api::exit_code(&e, super::EXIT_CONFIG);
        }
    };
    let partial = crate::store::partial_name(to);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let received = runtime.block_on(async {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut resp = api.stream("/v1/store/backup").await?;
        let _ = std::fs::remove_file(&partial);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        while let Some(chunk) = resp.chunk().await? {
            file.write_all(&chunk)
                .with_context(|| format!("cannot write {}", partial.display()))?;
        }
        anyhow::Ok(())
    });
    let adopted = received.and_then(|()| crate::store::adopt(&partial, to).map_err(Into::into));
    match adopted {
        Ok(report) => {
            print_report(db, " (through the running daemon)", &report);
            println!(
                "personal data in the copy stays sealed: it can be read only with the key set, \
                 which is not in the copy and which only root or the service user can copy \
                 (`sudo medsettle store backup FILE --keys KEYFILE`)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            eprintln!("medsettle: backup failed, nothing written: {e:#}");
            super::local_api::exit_code(&e, 1)
        }
    }
}

fn pending(path: &Path, db: Option<&Path>, porcelain: bool) -> ExitCode {
    let (db, busy) = match db {
        Some(db) => (db.to_owned(), Duration::from_secs(5)),
        None => match load_config(path) {
            Ok(c) => (
                c.store.path.clone(),
                Duration::from_millis(c.store.busy_timeout_ms),
            ),
            Err(code) => return code,
        },
    };
    match crate::store::pending(&db, busy) {
        Ok(p) if porcelain => {
            println!(
                "pending={} stored={} in_doubt={}",
                p.open, p.stored, p.in_doubt
            );
            ExitCode::SUCCESS
        }
        Ok(p) => {
            println!(
                "{}: {} sale(s) not final ({} stored offline, not yet settled; {} in doubt at the platform)",
                db.display(),
                p.open,
                p.stored,
                p.in_doubt
            );
            if p.open > 0 {
                println!(
                    "deleting this database loses them: export with `medsettle queue export --csv` \
                     and keep a `medsettle store backup FILE --keys KEYFILE` first"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("medsettle: {e}");
            ExitCode::FAILURE
        }
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
