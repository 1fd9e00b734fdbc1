//! A client of the running daemon's local API for operator commands (`queue`, `visit`,
//! `reconcile`, `status-link`).
//!
//! With `api.unix_socket` configured the client talks over that socket and needs no token:
//! the daemon trusts root, its own user and members of its group by their peer credentials
//! (`api/peer.rs`); the token is still sent when this user can read it. Without a socket it
//! uses `api.listen` and the bearer token from `api.token` (outside the service a
//! `{ credential = … }` token is read from the file the unit loads it from, `credentials.rs`).
//!
//! Errors say which way was tried. "The daemon is not running" is [`NotRunning`] (exit 69,
//! EX_UNAVAILABLE) and "not allowed on the socket" is [`Denied`] (exit 77, EX_NOPERM), so
//! scripts can tell them from a failed command (exit 1) and a bad configuration (exit 78).

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use anyhow::{Context as _, anyhow};
use serde_json::Value;

/// sysexits EX_UNAVAILABLE: the daemon is not running.
pub(super) const EXIT_UNAVAILABLE: u8 = 69;
/// sysexits EX_NOPERM: this user may not use the daemon's socket.
pub(super) const EXIT_NOPERM: u8 = 77;

/// The daemon does not answer where the configuration says it listens.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct NotRunning(String);

/// This user may not use the daemon's socket.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Denied(String);

/// The exit code for an error of an operator command: 69, 77, else `default`.
/// Runs `job` against the daemon that `config` names, on a current-thread runtime: a config or
/// credential that does not load exits 78, a failed job 1 (69 when the daemon is not running,
/// 77 when its socket refuses the caller; see [`exit_code`]), each reason printed.
pub(super) fn run<F, Fut>(config: &Path, job: F) -> ExitCode
where
    F: FnOnce(LocalApi) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let api = match LocalApi::from_config(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            return exit_code(&e, super::EXIT_CONFIG);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    match runtime.block_on(job(api)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            exit_code(&e, 1)
        }
    }
}

pub(super) fn exit_code(e: &anyhow::Error, default: u8) -> ExitCode {
    if e.downcast_ref::<NotRunning>().is_some() {
        ExitCode::from(EXIT_UNAVAILABLE)
    } else if e.downcast_ref::<Denied>().is_some() {
        ExitCode::from(EXIT_NOPERM)
    } else {
        ExitCode::from(default)
    }
}

/// How the daemon is reached.
enum Via {
    Socket(PathBuf),
    Tcp(SocketAddr),
}

/// The daemon's API as the operator reaches it.
pub(super) struct LocalApi {
    base: String,
    link_base: String,
    token: Option<String>,
    via: Via,
    client: reqwest::Client,
}

/// An answer: status and JSON body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body when the status is 2xx, else the API error as text.
    pub fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(anyhow!("{}", describe_error(self.status, &self.body)))
    }
}

/// `code: English message (中文)`, from an API error body.
pub(super) fn describe_error(status: u16, body: &Value) -> String {
    match body["code"].as_str() {
        Some(code) => format!(
            "{code}: {} ({})",
            body["message_en"].as_str().unwrap_or(""),
            body["message_zh"].as_str().unwrap_or("")
        ),
        None => format!("HTTP {status}"),
    }
}

impl LocalApi {
    /// From a configuration file.
    pub fn from_config(path: &Path) -> anyhow::Result<LocalApi> {
        let config = Config::load(path)
            .map_err(|e| anyhow!("configuration error in {}:\n{e}", path.display()))?;
        crate::upstream::transport::install_crypto_provider();
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(3));
        let mut addr = config.api.listen;
        if addr.ip().is_unspecified() {
            addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
        }
        let link_base = format!("http://{addr}");
        if let Some(socket) = &config.api.unix_socket {
            match std::fs::symlink_metadata(socket) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Denied(format!(
                        "permission denied reaching the daemon's socket {} (api.unix_socket): \
                         run this as root or as a member of the service's group (e.g. `sudo \
                         medsettle …`, or `usermod -aG medsettle USER` and log in again)",
                        socket.display()
                    ))
                    .into());
                }
                Err(_) => {
                    return Err(NotRunning(format!(
                        "the daemon is not running: no socket at {} (api.unix_socket); \
                         start it with `systemctl start medsettle`",
                        socket.display()
                    ))
                    .into());
                }
            }
            // Root and the service's own user and group need no token here; anyone else who
            // can read it still gets in with it.
            let token = super::credentials::load(&config.api.token, path).ok();
            let client = builder
                .unix_socket(socket.as_path())
                .build()
                .context("building the HTTP client")?;
            return Ok(LocalApi {
                base: "http://localhost".to_owned(),
                link_base,
                token: token.map(|t| t.expose().to_owned()),
                via: Via::Socket(socket.clone()),
                client,
            });
        }
        let token = super::credentials::load(&config.api.token, path)
            .map_err(|e| anyhow!("api.token: {e}"))?;
        let client = builder
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(LocalApi {
            base: link_base.clone(),
            link_base,
            token: Some(token.expose().to_owned()),
            via: Via::Tcp(addr),
            client,
        })
    }

    /// The base URL of links a browser opens: `api.listen`, whichever way this client talks.
    pub fn link_base(&self) -> &str {
        &self.link_base
    }

    /// True when the daemon is reached over its Unix socket (a browser link then needs the
    /// TCP address, which only the daemon's answer knows).
    pub fn over_socket(&self) -> bool {
        matches!(self.via, Via::Socket(_))
    }

    fn place(&self) -> String {
        match &self.via {
            Via::Socket(p) => format!("{} (api.unix_socket)", p.display()),
            Via::Tcp(a) => format!("http://{a} (api.listen)"),
        }
    }

    fn not_running(&self, e: reqwest::Error) -> anyhow::Error {
        if !e.is_connect() {
            return anyhow!("request to the daemon at {} failed: {e}", self.place());
        }
        let kind = io_error_kind(&e);
        if kind == Some(std::io::ErrorKind::PermissionDenied) {
            let group = self
                .socket_group()
                .unwrap_or_else(|| "medsettle".to_owned());
            return Denied(format!(
                "permission denied on the daemon's socket {}: run this as root or as a member \
                 of the service's group `{group}` (e.g. `sudo medsettle …`, or \
                 `usermod -aG {group} USER` and log in again)",
                self.place(),
            ))
            .into();
        }
        NotRunning(format!(
            "the daemon is not running at {}: {e}; start it with `systemctl start medsettle`",
            self.place()
        ))
        .into()
    }

    /// The group owning the socket file, by name.
    fn socket_group(&self) -> Option<String> {
        let Via::Socket(path) = &self.via else {
            return None;
        };
        std::fs::metadata(path)
            .ok()
            .map(|m| m.gid())
            .and_then(group_name)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| self.not_running(e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.not_running(e))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 401 && self.over_socket() {
            return Err(self.refused_on_socket(&body));
        }
        Ok(Answer { status, body })
    }

    /// The daemon did not trust this user on its socket (and no token was readable).
    fn refused_on_socket(&self, body: &Value) -> anyhow::Error {
        Denied(format!(
            "the daemon refused this user on {}: only root, the service's user and members of \
             its group `{}` may use the socket without the API token ({})",
            self.place(),
            self.socket_group()
                .unwrap_or_else(|| "medsettle".to_owned()),
            describe_error(401, body)
        ))
        .into()
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Opens `GET /v1/events?topics=…` (Server-Sent Events).
    pub async fn events(&self, topics: &str) -> anyhow::Result<reqwest::Response> {
        self.stream(&format!("/v1/events?topics={topics}")).await
    }

    /// `GET path` whose body the caller reads as it comes (events, a database copy); an
    /// answer other than 2xx is an error with the daemon's code and message.
    pub async fn stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let req = self.client.get(format!("{}{path}", self.base));
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| self.not_running(e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.json().await.unwrap_or(Value::Null);
            if status == 401 && self.over_socket() {
                return Err(self.refused_on_socket(&body));
            }
            return Err(anyhow!("{}", describe_error(status, &body)));
        }
        Ok(resp)
    }
}

/// The I/O error kind at the bottom of a connect error.
fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// The name of group `gid` from `/etc/group`.
fn group_name(gid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == gid).then(|| name.to_owned())
    })
}
