//! `medsettle run --config PATH`: the daemon as systemd starts it. Also the shared start-up
//! path `demo` uses once it has built its configuration. A configuration or credential that
//! stops the start exits 78 (EX_CONFIG), which the unit does not restart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::daemon::{self, Control, Environment, Notifier};
use crate::telemetry;

pub(super) fn execute(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("medsettle: configuration error:\n{e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    serve(config, Some(path.to_owned()), None)
}

/// Text printed once the API is bound, from the bound address.
pub(super) type Banner = Box<dyn FnOnce(std::net::SocketAddr) -> String + Send>;

/// Sets up logging and the runtime, binds the API and runs the daemon until a signal stops it.
/// `banner` is printed once the API is bound (the demo's instructions); it gets the bound
/// address, which differs from the configured one when that has port 0.
pub(super) fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    banner: Option<Banner>,
) -> ExitCode {
    let log = match telemetry::init(&config.log.options()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("medsettle: cannot set up logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("medsettle: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.api.listen)
            .await
            .with_context(|| format!("cannot listen on {} (`api.listen`)", config.api.listen))?;
        let events = crate::events::EventBus::default();
        let env = Environment {
            notifier: Notifier::from_env(),
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            log: Some(log),
            readers: super::devices::readers(&config)?,
            scans: super::devices::scans(&config, &events)?,
            events,
        };
        let (tx, rx) = mpsc::channel(4);
        spawn_signal_handlers(tx, config_path)?;
        let daemon = daemon::Daemon::start(config, listener, env).await?;
        if let Some(b) = banner {
            println!("{}", b(daemon.local_addr()?));
        }
        daemon.serve(rx).await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log goes to stderr (or the journal, which systemd shows with the unit).
            tracing::error!("{e:#}");
            exit_code(&e)
        }
    }
}

/// 78 (EX_CONFIG) for a start that failed on the configuration or a credential — a secret or
/// the database key set that cannot be loaded, an unusable issuer key, blacklist or upstream
/// certificate — so systemd does not restart it in a loop (`RestartPreventExitStatus=78`);
/// 1 for everything a restart may cure (a busy port, a database being moved, a device).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use crate::daemon::DaemonError;
    use crate::store::StoreError;
    let config = matches!(
        e.downcast_ref::<DaemonError>(),
        Some(
            DaemonError::Secret { .. }
                | DaemonError::Store(StoreError::Keys(_))
                | DaemonError::EsscKey(_)
                | DaemonError::Blacklist(_)
                | DaemonError::Upstream(_)
        )
    );
    if config {
        ExitCode::from(super::EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

/// SIGTERM and SIGINT stop the daemon; SIGHUP re-reads the config file and reloads it.
fn spawn_signal_handlers(
    tx: mpsc::Sender<Control>,
    config_path: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
                _ = int.recv() => { tracing::info!("SIGINT received"); break; }
                _ = hup.recv() => {
                    let Some(path) = &config_path else {
                        tracing::info!("SIGHUP ignored: no configuration file to reload");
                        continue;
                    };
                    match Config::load(path) {
                        Ok(c) => { let _ = tx.send(Control::Reload(Box::new(c))).await; }
                        Err(e) => { let _ = tx.send(Control::ReloadRejected(e)).await; }
                    }
                }
            }
        }
        let _ = tx.send(Control::Shutdown).await;
    });
    Ok(())
}
