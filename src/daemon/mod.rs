//! The daemon's wiring and lifecycle: open the store, bind the API, tell systemd READY, serve
//! until told to stop, then drain in-flight work and exit cleanly.
//!
//! `main` builds a [`Config`], a bound `TcpListener` and an [`Environment`], and calls
//! [`run`]; tests do the same with `127.0.0.1:0`. Control arrives as [`Control`] messages
//! (the binary turns SIGTERM/SIGINT/SIGHUP into them). Nothing here parses arguments or reads
//! the process environment.

mod notify;
mod reload;
mod services;
mod size;
mod tasks;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::work::{WorkGuard, WorkTracker};
pub use notify::Notifier;
pub use size::SIZE_ALARM;

use crate::api::{self, AppState};
use crate::config::{Config, Secret, SecretError};
use crate::status::{Health, Phase, StatusBoard, now_ms};
use crate::store::{RunId, Store, StoreError};
use crate::telemetry::LogHandle;

/// What the daemon takes from the process it runs in.
#[derive(Default)]
pub struct Environment {
    /// systemd notifications.
    pub notifier: Notifier,
    /// `$CREDENTIALS_DIRECTORY`, for secrets given as systemd credentials.
    pub credentials_dir: Option<PathBuf>,
    /// Changes the log filter on reload; `None` when the caller owns logging (tests).
    pub log: Option<LogHandle>,
    /// The event bus; device glue created before the daemon publishes into the same bus.
    pub events: crate::events::EventBus,
    /// The card reader stack, if this terminal has one (built by the binary from
    /// `[readers]`: PC/SC or the virtual reader).
    pub readers: Option<Arc<dyn crate::card::CardReaders>>,
    /// Scans from the QR sources (camera pipelines, scan boxes) the binary started, if any.
    pub scans: Option<mpsc::Receiver<crate::qr::service::RawScan>>,
}

/// How long a stop waits for the platform's answer to 9002.
const SIGN_OUT_WAIT: Duration = Duration::from_secs(3);

/// Instructions to a running daemon.
#[derive(Debug)]
pub enum Control {
    /// Stop taking work, drain, exit (SIGTERM, SIGINT).
    Shutdown,
    /// Apply what can be applied from a freshly loaded config (SIGHUP).
    Reload(Box<Config>),
    /// A reload was asked for but the file has errors; the running config stays.
    ReloadRejected(crate::config::ConfigErrors),
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A secret named in the config could not be loaded.
    #[error("`{key}`: {source}")]
    Secret {
        /// The config key.
        key: &'static str,
        /// What went wrong.
        source: SecretError,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// An e-SSC issuer key in `qr.essc_keys` is not usable.
    #[error("`qr.essc_keys`: {0}")]
    EsscKey(#[from] crate::qr::essc::KeyError),
    /// The card blacklist named by `card.blacklist` could not be loaded.
    #[error("`card.blacklist`: {0}")]
    Blacklist(#[from] crate::credential::BlacklistError),
    /// The platform client could not be built from `[upstream]`.
    #[error("{0}")]
    Upstream(#[from] crate::daemon::upstream::SetupError),
    /// A listener could not be set up.
    #[error("{what}: {source}")]
    Listen {
        /// Which listener.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A started daemon: database open and migrated, listeners bound, not yet serving.
pub struct Daemon {
    config: Config,
    env: Environment,
    state: Arc<AppState>,
    tcp: TcpListener,
    unix: Option<UnixListener>,
    run_id: RunId,
}

/// Starts and serves until a [`Control::Shutdown`] arrives or `control` closes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    env: Environment,
    control: mpsc::Receiver<Control>,
) -> Result<(), DaemonError> {
    Daemon::start(config, listener, env)
        .await?
        .serve(control)
        .await
}

impl Daemon {
    /// Loads secrets, opens and migrates the database and binds the Unix socket. Sends no
    /// READY: that comes from [`Daemon::serve`] once the API accepts connections.
    pub async fn start(
        config: Config,
        tcp: TcpListener,
        env: Environment,
    ) -> Result<Daemon, DaemonError> {
        let status = Arc::new(StatusBoard::default());
        status.set("store", Health::Starting, "opening the database");
        env.notifier.status("starting: opening the database");

        let token =
            Secret::load(&config.api.token, env.credentials_dir.as_deref()).map_err(|source| {
                DaemonError::Secret {
                    key: "api.token",
                    source,
                }
            })?;
        if token.world_readable {
            tracing::warn!("the API token file is readable by every user; chmod 0640 or 0600 it");
        }

        let store_config = config.store.options();
        let creds = env.credentials_dir.clone();
        let (store, report) = tokio::task::spawn_blocking(move || {
            Store::open_configured(&store_config, creds.as_deref())
        })
        .await
        .expect("store open task panicked")?;
        if let Some(q) = &report.quarantined {
            tracing::error!(moved_to = %q.moved_to.display(), reason = %q.reason,
                "the database was corrupt: moved aside and a new one created");
        }
        if let Some(q) = &report.pending_quarantine {
            tracing::error!(moved_to = %q.moved_to.display(),
                "money operations are stopped until `medsettle store salvage` is run");
            status.raise(
                "store.quarantined",
                format!("数据库文件损坏，已移至 {}。收费业务已暂停：请停止 medsettle 服务，执行 medsettle store salvage 恢复待上传和待确认的交易，然后重新启动。", q.moved_to.display()),
                format!("The database was corrupt and was moved to {}. Money operations are stopped: stop medsettle, run `medsettle store salvage` to bring back the queued and in-doubt sales, then start it again.", q.moved_to.display()),
                serde_json::json!({ "moved_to": q.moved_to, "reason": q.reason }),
            );
        }
        if let Some(findings) = &report.repaired {
            tracing::warn!(findings = %findings, "damaged indexes were rebuilt (REINDEX)");
        }
        if report.unclean_runs > 0 {
            tracing::warn!(
                runs = report.unclean_runs,
                "earlier runs ended without a clean stop"
            );
        }
        if report.migrated_from != report.schema_version {
            tracing::info!(
                from = report.migrated_from,
                to = report.schema_version,
                "database migrated"
            );
        }
        match &report.pending_quarantine {
            None => status.set(
                "store",
                Health::Ok,
                format!(
                    "schema v{} at {}",
                    report.schema_version,
                    store.path().display()
                ),
            ),
            Some(q) => status.set(
                "store",
                Health::Down,
                format!(
                    "quarantined: the corrupt database is at {}; money operations stopped until `medsettle store salvage`",
                    q.moved_to.display()
                ),
            ),
        }
        size::check(&config.store.path, config.store.alarm_size_mib, &status);
        let run_id = store
            .record_run(std::process::id(), env!("CARGO_PKG_VERSION"), now_ms())
            .await?;

        let unix = match &config.api.unix_socket {
            Some(path) => Some(bind_unix(path, &config.api.unix_socket_mode)?),
            None => None,
        };
        let services = services::build(&config, &env, store, status)?;
        let state = Arc::new(AppState::new(
            services::api_options(&config.api),
            token,
            services,
        ));
        state.replace_metrics_token(reload::metrics_token(&config, &env)?);
        Ok(Daemon {
            config,
            env,
            state,
            tcp,
            unix,
            run_id,
        })
    }

    /// The TCP address the API is bound to.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }

    /// The in-flight work counter (tests hold guards to exercise the drain).
    pub fn work(&self) -> WorkTracker {
        self.state.work.clone()
    }

    /// Serves the API, sends READY, pings the watchdog, applies reloads, and on shutdown
    /// drains in-flight work for at most `daemon.shutdown_grace_ms`.
    pub async fn serve(self, mut control: mpsc::Receiver<Control>) -> Result<(), DaemonError> {
        let Daemon {
            mut config,
            mut env,
            state,
            tcp,
            unix,
            run_id,
        } = self;
        let stop_accepting = CancellationToken::new();
        let router = api::router(Arc::clone(&state));
        let addr = tcp.local_addr().ok();

        let mut servers = Vec::new();
        let timeouts = api::serve::Timeouts {
            header_read: Duration::from_millis(config.api.header_read_timeout_ms),
            idle: Duration::from_millis(config.api.idle_timeout_ms),
        };
        let limit = state.connections.clone();
        // TCP_NODELAY on each API connection: an answer written in more than one segment
        // must not wait for the client's delayed ACK (Nagle), tens of milliseconds each time.
        let tcp = axum::serve::ListenerExt::tap_io(tcp, |stream: &mut tokio::net::TcpStream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on an API connection");
            }
        });
        servers.push(tokio::spawn(api::serve::serve(
            limit.wrap(tcp),
            router.clone(),
            timeouts,
            stop_accepting.clone(),
        )));
        if let Some(unix) = unix {
            servers.push(tokio::spawn(api::serve::serve(
                limit.wrap_reserved(unix),
                router,
                timeouts,
                stop_accepting.clone(),
            )));
        }

        state.status.set(
            "api",
            Health::Ok,
            format!("listening on {}", display_addr(addr, &config)),
        );
        state.status.set_phase(Phase::Running);
        env.notifier.ready(&format!(
            "ready: API on {}, database schema v{}",
            display_addr(addr, &config),
            state.store.schema_version()
        ));
        tracing::info!(api = %display_addr(addr, &config), "medsettle ready");

        let monitors = CancellationToken::new();
        tasks::start(
            &state,
            &config,
            env.readers.as_ref(),
            env.scans.take(),
            env.credentials_dir.as_deref(),
            &monitors,
        );

        let watchdog = env.notifier.watchdog_interval().map(|every| {
            tokio::spawn(watchdog_loop(
                every,
                state.store.clone(),
                env.notifier.clone(),
            ))
        });

        while let Some(msg) = control.recv().await {
            match msg {
                Control::Shutdown => break,
                Control::Reload(new) => {
                    env.notifier.reloading();
                    reload::apply(&mut config, *new, &state, &env);
                    env.notifier.ready("ready: configuration reloaded");
                }
                Control::ReloadRejected(errors) => {
                    tracing::error!("reload refused, keeping the running configuration:\n{errors}");
                    env.notifier
                        .status("ready: reload refused (configuration has errors)");
                }
            }
        }

        // Drain: refuse new work, let what is in flight finish.
        state.status.set_phase(Phase::Stopping);
        let in_flight = state.work.in_flight();
        env.notifier.stopping(&format!(
            "stopping: draining {in_flight} in-flight request(s)"
        ));
        tracing::info!(in_flight, "shutting down: draining in-flight work");
        stop_accepting.cancel();
        monitors.cancel();
        if let Some(readers) = &env.readers {
            readers.close();
        }
        state.events.close();
        let grace = Duration::from_millis(config.daemon.shutdown_grace_ms);
        let started = Instant::now();
        let drained = tokio::time::timeout(grace, async {
            state.work.drained().await;
            for s in servers {
                let _ = s.await;
            }
        })
        .await
        .is_ok();
        if drained {
            tracing::info!(took_ms = started.elapsed().as_millis() as u64, "drained");
        } else {
            tracing::warn!(
                abandoned = state.work.in_flight(),
                grace_ms = config.daemon.shutdown_grace_ms,
                "grace period over: exiting with work still in flight"
            );
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        if let Some(client) = &state.upstream {
            // 9002: a courtesy to the platform; a platform that does not answer quickly does
            // not hold up the stop (its session expires by itself).
            match tokio::time::timeout(SIGN_OUT_WAIT, client.sign_out()).await {
                Ok(Ok(())) => tracing::info!("signed out of the platform (9002)"),
                Ok(Err(e)) => tracing::warn!(error = %e, "sign-out (9002) failed"),
                Err(_) => tracing::warn!("sign-out (9002) took too long; stopping anyway"),
            }
        }
        let stopped = state.store.record_stop(run_id, now_ms(), drained).await;
        if let Err(e) = stopped {
            tracing::error!(error = %e, "cannot record the stop in the database");
        }
        state.store.clone().close().await?;
        if let Some(path) = &config.api.unix_socket {
            let _ = std::fs::remove_file(path);
        }
        env.notifier.status("stopped");
        tracing::info!("medsettle stopped");
        Ok(())
    }
}

fn display_addr(addr: Option<std::net::SocketAddr>, config: &Config) -> String {
    let tcp = addr.map_or_else(|| "?".to_owned(), |a| a.to_string());
    match &config.api.unix_socket {
        Some(p) => format!("{tcp} and {}", p.display()),
        None => tcp,
    }
}

/// Pings the watchdog only while the store's writer thread answers: a wedged writer means
/// systemd restarts us rather than leaving a terminal that cannot record sales.
async fn watchdog_loop(every: Duration, store: Store, notifier: Notifier) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match tokio::time::timeout(every, store.ping()).await {
            Ok(Ok(())) => notifier.watchdog(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "store not answering: watchdog ping withheld")
            }
            Err(_) => tracing::error!("store ping timed out: watchdog ping withheld"),
        }
    }
}

/// Binds the API's Unix socket, replacing a stale socket file but never a live one.
fn bind_unix(path: &std::path::Path, mode: &str) -> Result<UnixListener, DaemonError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let err = |what: &str, source| DaemonError::Listen {
        what: format!("{what} {}", path.display()),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(err(
                "refusing to replace a non-socket file at",
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(
                "another process is serving on",
                std::io::Error::from(std::io::ErrorKind::AddrInUse),
            ));
        }
        std::fs::remove_file(path).map_err(|e| err("cannot remove the stale socket", e))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err("cannot create the directory of", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| err("cannot bind", e))?;
    let bits = u32::from_str_radix(mode, 8).unwrap_or(0o660);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits))
        .map_err(|e| err("cannot set the mode of", e))?;
    Ok(listener)
}
