//! The daemon's typed configuration: one TOML file, every key documented in
//! `fixtures/config/medsettle.example.toml`.
//!
//! Parsing is strict: unknown keys and bad values are errors that name the key and the line.
//! Secrets are never required inline; they are references ([`SecretRef`]) resolved from files
//! or systemd credentials when the daemon starts. This module reads files but opens no sockets
//! and no database.

mod card;
mod devices;
mod error;
mod fleet;
mod locate;
mod upstream;
pub(crate) mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::secret::{Secret, SecretError, SecretRef};
pub use crate::settle::options::{SaleMode, SettleConfig};
pub use crate::telemetry::LogFormat;
pub use crate::terminal::{TerminalConfig, TerminalMode};
pub use devices::{CardConfig, QrConfig, ReaderBackend, ReadersConfig, SlotRule};
pub use error::{ConfigError, ConfigErrors};
pub use fleet::{FleetConfig, PostgresConfig, PostgresTls};
pub use upstream::{SignType, TifConfig, UpstreamConfig};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this terminal is, as the platform knows it.
    pub terminal: TerminalConfig,
    /// Where and how the SQLite database is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// The local API for cashier software, kiosk UIs and operators.
    pub api: ApiConfig,
    /// Card readers.
    #[serde(default)]
    pub readers: ReadersConfig,
    /// Which cards are accepted.
    #[serde(default)]
    pub card: CardConfig,
    /// QR credentials (e-SSC issuer keys, debounce).
    #[serde(default)]
    pub qr: QrConfig,
    /// The insurance platform; without it the terminal works offline only.
    #[serde(default)]
    pub upstream: Option<UpstreamConfig>,
    /// Sales: modes, offline store-and-forward limits, reconciliation.
    #[serde(default)]
    pub settle: SettleConfig,
    /// Drug traceability codes: reporting (3505/3506) and the counter's defaults.
    #[serde(default)]
    pub trace: crate::settle::dispensing::TraceConfig,
    /// Lifecycle settings.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The fleet ledger on PostgreSQL; without it the terminal works alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetConfig>,
}

/// The SQLite store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database file. Relative paths are taken from the config file's directory.
    pub path: PathBuf,
    /// How long a connection waits for a lock before giving up, in milliseconds.
    pub busy_timeout_ms: u64,
    /// The database (with its WAL) above this many MiB raises the `store.size` alarm.
    pub alarm_size_mib: u64,
    /// The key set that seals personal data in the database (`ID:BASE64` lines, the first
    /// seals). Default: the file `db-key` beside the database, created on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretRef>,
}

impl StoreConfig {
    /// Where the database key set comes from: `key`, or `db-key` beside the database.
    pub fn key_ref(&self) -> SecretRef {
        self.key
            .clone()
            .unwrap_or_else(|| crate::store::default_key_ref(&self.path))
    }

    /// The store's own options: file, busy timeout, key set.
    pub fn options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            path: self.path.clone(),
            busy_timeout: std::time::Duration::from_millis(self.busy_timeout_ms),
            key: self.key_ref(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("/var/lib/medsettle/medsettle.db"),
            alarm_size_mib: 1024,
            busy_timeout_ms: 5_000,
            key: None,
        }
    }
}

/// The local HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// TCP address to listen on. Loopback by default: the cashier software runs on this PC.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Optional Unix socket path, in addition to TCP.
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    /// Permission bits of the Unix socket, octal as a string.
    #[serde(default = "default_socket_mode")]
    pub unix_socket_mode: String,
    /// The bearer token every request but `/healthz` must carry.
    pub token: SecretRef,
    /// A second bearer token good only for `GET /metrics`, for a Prometheus scraper that must
    /// not hold the token that moves money. Default: none (`/metrics` takes `token` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<SecretRef>,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered with a timeout error, in milliseconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Most connections open at once (TCP and Unix socket together, event streams included);
    /// at the bound further clients wait until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long an `Idempotency-Key` and its answer are kept, in hours: a retry within this
    /// time gets the first answer; afterwards the key is free again (purged by housekeeping).
    #[serde(default = "default_idempotency_ttl_hours")]
    pub idempotency_ttl_hours: u32,
    /// Of `max_connections`, how many only the Unix socket may use: TCP clients holding
    /// connections open cannot lock out the cashier program on the socket. Ignored without
    /// `unix_socket`.
    #[serde(default = "default_unix_reserved_connections")]
    pub unix_reserved_connections: usize,
    /// A client must send a complete request head within this many milliseconds of
    /// connecting (or of its previous answer on a keep-alive connection), else it is
    /// disconnected.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight and no traffic for this many milliseconds is
    /// closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Web origins allowed to call the API from a browser (CORS), e.g. a kiosk UI served from
    /// `http://localhost:8080`. Default: none — CORS is off.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8790))
}
fn default_socket_mode() -> String {
    "0660".to_owned()
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    256
}
fn default_idempotency_ttl_hours() -> u32 {
    24
}

fn default_request_timeout() -> u64 {
    30_000
}
fn default_unix_reserved_connections() -> usize {
    16
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_idle_timeout() -> u64 {
    60_000
}

/// Lifecycle settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// On SIGTERM, how long in-flight work may take to finish before the daemon exits anyway.
    pub shutdown_grace_ms: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_grace_ms: 10_000,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: a level (`info`) or per-module directives (`info,medsettle::store=debug`).
    pub level: String,
    /// `auto` (journald under systemd, else text), `text`, `journald` (native protocol,
    /// structured fields) or `json` (JSON lines on stderr).
    pub format: LogFormat,
    /// At most this many warnings or errors from one place in the code per
    /// `repeat_window_s`; the rest are counted and summarised once a minute (a device failing
    /// in a loop must not flood the journal). 0 turns this off.
    pub repeat_burst: u32,
    /// The window of `repeat_burst`, in seconds.
    pub repeat_window_s: u64,
}

impl LogConfig {
    /// The logger's own options.
    pub fn options(&self) -> crate::telemetry::LogOptions {
        crate::telemetry::LogOptions {
            level: self.level.clone(),
            format: self.format,
            repeat_burst: self.repeat_burst,
            repeat_window: std::time::Duration::from_secs(self.repeat_window_s),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Auto,
            repeat_burst: 10,
            repeat_window_s: 60,
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file. Relative paths inside it are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors::single(ConfigError::unreadable(path, &e)))?;
        let mut config = Config::parse(&text).map_err(|e| e.with_file(path))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_relative(base);
        Ok(config)
    }

    /// Parses and validates config text. Errors name the key and the line.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        let config: Config = locate::deserialize(text)?;
        let problems = validate::validate(&config);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(locate::place(text, problems))
        }
    }

    /// The configuration `medsettle demo` runs on: everything under `var_dir`, API on
    /// `listen`, token from `var_dir/api-token`.
    pub fn demo(var_dir: &Path, listen: SocketAddr) -> Config {
        Config {
            terminal: TerminalConfig::demo(),
            store: StoreConfig {
                path: var_dir.join("medsettle.db"),
                ..StoreConfig::default()
            },
            api: ApiConfig {
                listen,
                unix_socket: None,
                unix_socket_mode: default_socket_mode(),
                token: SecretRef::File(var_dir.join("api-token")),
                metrics_token: None,
                max_body_bytes: default_max_body(),
                request_timeout_ms: default_request_timeout(),
                max_connections: default_max_connections(),
                idempotency_ttl_hours: default_idempotency_ttl_hours(),
                unix_reserved_connections: default_unix_reserved_connections(),
                header_read_timeout_ms: default_header_read_timeout(),
                idle_timeout_ms: default_idle_timeout(),
                cors_origins: Vec::new(),
            },
            readers: ReadersConfig {
                backend: ReaderBackend::None,
                ..ReadersConfig::default()
            },
            card: CardConfig::default(),
            qr: QrConfig::default(),
            upstream: None,
            settle: SettleConfig::default(),
            // The demo counter's pharmacist, so its traced sale can be reported.
            trace: crate::settle::dispensing::TraceConfig {
                phar_name: "演示药师".into(),
                phar_prac_cert_no: "DEMO-PHAR-0001".into(),
                prsc_dr_name: "演示医师".into(),
                opter_name: "演示收银员".into(),
                ..Default::default()
            },
            daemon: DaemonConfig::default(),
            log: LogConfig::default(),
            fleet: None,
        }
    }

    /// The `[settle]` options the engine runs on, with `[trace]` in them (its operator
    /// defaulted to `[upstream] opter_name`).
    pub fn engine_settle(&self) -> SettleConfig {
        let mut settle = self.settle.clone();
        settle.trace = self.trace.clone();
        if settle.trace.opter_name.trim().is_empty() {
            if let Some(u) = &self.upstream {
                settle.trace.opter_name = u.opter_name.clone();
            }
        }
        settle
    }

    /// What the device commands (`readers`, `read-card`) run on when there is no configuration
    /// file, like `pcsc_scan`: every reader through pcscd with the default slot rules and
    /// acceptance rules, no terminal identity (the `iReadCardBas` line's terminal fields stay
    /// empty). Never used to run the daemon.
    pub fn device_defaults() -> Config {
        let mut config = Config::demo(Path::new("/nonexistent"), default_listen());
        config.readers = ReadersConfig::default();
        config.terminal.id = String::new();
        config.terminal.device_no = String::new();
        config
    }

    /// Renders the effective configuration as TOML. Secrets appear only as their references
    /// (file path or credential name), never their values.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Which settings differ between `self` (running) and `new` that only a restart applies.
    pub fn restart_required(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.terminal != new.terminal {
            keys.push("terminal");
        }
        if self.store != new.store {
            keys.push("store");
        }
        if self.api.listen != new.api.listen {
            keys.push("api.listen");
        }
        if self.api.unix_socket != new.api.unix_socket
            || self.api.unix_socket_mode != new.api.unix_socket_mode
        {
            keys.push("api.unix_socket");
        }
        if self.api.max_body_bytes != new.api.max_body_bytes {
            keys.push("api.max_body_bytes");
        }
        if self.api.request_timeout_ms != new.api.request_timeout_ms {
            keys.push("api.request_timeout_ms");
        }
        if self.readers != new.readers {
            keys.push("readers");
        }
        if self.card != new.card {
            keys.push("card");
        }
        if self.qr != new.qr {
            keys.push("qr");
        }
        if self.upstream != new.upstream {
            keys.push("upstream");
        }
        if self.settle != new.settle {
            keys.push("settle");
        }
        if self.trace != new.trace {
            keys.push("trace");
        }
        if self.log.format != new.log.format {
            keys.push("log.format");
        }
        if self.fleet != new.fleet {
            keys.push("fleet");
        }
        keys
    }

    fn resolve_relative(&mut self, base: &Path) {
        let absolutise = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        absolutise(&mut self.store.path);
        if let Some(SecretRef::File(p)) = self.store.key.as_mut() {
            absolutise(p);
        }
        if let Some(sock) = self.api.unix_socket.as_mut() {
            absolutise(sock);
        }
        if let Some(p) = self.readers.virtual_profile.as_mut() {
            absolutise(p);
        }
        if let Some(p) = self.card.blacklist.as_mut() {
            absolutise(p);
        }
        if let Some(p) = self.qr.camera_dir.as_mut() {
            absolutise(p);
        }
        if let Some(u) = self.upstream.as_mut() {
            let secrets = [
                u.client_cert.as_mut(),
                u.client_key.as_mut(),
                u.sign_key.as_mut(),
            ];
            for p in secrets.into_iter().flatten() {
                if let SecretRef::File(p) = p {
                    absolutise(p);
                }
            }
            if let Some(SecretRef::File(p)) = u.tif.as_mut().map(|t| &mut t.token) {
                absolutise(p);
            }
            if let Some(p) = u.ca_bundle.as_mut() {
                absolutise(p);
            }
        }
        if let SecretRef::File(p) = &mut self.api.token {
            absolutise(p);
        }
        if let Some(SecretRef::File(p)) = self.api.metrics_token.as_mut() {
            absolutise(p);
        }
        if let Some(f) = self.fleet.as_mut() {
            f.resolve_relative(base);
        }
    }
}

#[cfg(test)]
mod tests;
