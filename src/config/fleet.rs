//! `[fleet]`: the optional fleet ledger on PostgreSQL that every terminal of an institution
//! replicates its settlement facts to (`crate::fleet`). Without it the terminal works alone,
//! exactly as before. The connection URL and the key of the `psn_no` hash are secrets,
//! referenced like every other secret (`{ file = "…" }` or `{ credential = "…" }`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretRef;
use crate::fleet::{FleetOptions, TlsOptions};
use crate::terminal::TerminalConfig;

/// `[fleet]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// How to reach PostgreSQL.
    pub postgres: PostgresConfig,
    /// This terminal's name in the ledger. Default: `terminal.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<String>,
    /// The key of the keyed hash (HMAC-SHA256) that stands for `psn_no` in the ledger: the
    /// same for every terminal of the fleet, at least 16 bytes.
    pub psn_key: SecretRef,
    /// Seconds between two heartbeats (last seen, queue depth, outbox lag).
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_s: u64,
    /// The first wait after PostgreSQL failed, ms; doubled on each further failure.
    #[serde(default = "default_retry_first_ms")]
    pub retry_first_ms: u64,
    /// The longest wait between two attempts while PostgreSQL is down, ms.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Outbox rows sent in one PostgreSQL transaction.
    #[serde(default = "default_batch")]
    pub batch: u32,
}

/// `[fleet.postgres]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The connection URL (`postgresql://user:password@host:5432/ledger`), a secret.
    pub url: SecretRef,
    /// TLS; leave out for a Unix socket or loopback only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PostgresTls>,
}

/// `[fleet.postgres.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresTls {
    /// PEM CA certificates the server must chain to. Default: the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Refuse plain text (true, the default) or fall back to it when the server has no TLS.
    #[serde(default = "yes")]
    pub require: bool,
}

fn default_heartbeat_s() -> u64 {
    30
}
fn default_retry_first_ms() -> u64 {
    1_000
}
fn default_retry_max_ms() -> u64 {
    60_000
}
fn default_batch() -> u32 {
    100
}
fn yes() -> bool {
    true
}

impl FleetConfig {
    /// The fleet's own options; `terminal` names the terminal and its institution.
    pub fn options(&self, terminal: &TerminalConfig) -> FleetOptions {
        FleetOptions {
            url: self.postgres.url.clone(),
            tls: self.postgres.tls.as_ref().map(|t| TlsOptions {
                ca_file: t.ca_file.clone(),
                require: t.require,
            }),
            terminal_id: self
                .terminal_id
                .clone()
                .unwrap_or_else(|| terminal.id.clone()),
            fixmedins_code: terminal.fixmedins_code.clone(),
            psn_key: self.psn_key.clone(),
            heartbeat: Duration::from_secs(self.heartbeat_s),
            retry_first: Duration::from_millis(self.retry_first_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            batch: self.batch,
        }
    }

    /// Values serde accepts but the fleet cannot run with: (key, message).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, msg: &str| out.push((format!("fleet.{key}"), msg.to_owned()));
        if let Some(id) = &self.terminal_id {
            let ok = (1..=30).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                bad(
                    "terminal_id",
                    "must be 1-30 ASCII letters, digits, '-' or '_'",
                );
            }
        }
        if !(1..=3_600).contains(&self.heartbeat_s) {
            bad("heartbeat_s", "must be between 1 and 3600 seconds");
        }
        if !(1..=600_000).contains(&self.retry_first_ms) {
            bad("retry_first_ms", "must be between 1 and 600000");
        }
        if self.retry_max_ms < self.retry_first_ms || self.retry_max_ms > 3_600_000 {
            bad(
                "retry_max_ms",
                "must be at least retry_first_ms and at most 3600000",
            );
        }
        if !(1..=10_000).contains(&self.batch) {
            bad("batch", "must be between 1 and 10000");
        }
        out
    }

    /// Makes relative file paths absolute against `base` (the config file's directory).
    pub(super) fn resolve_relative(&mut self, base: &std::path::Path) {
        let absolutise = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for secret in [&mut self.postgres.url, &mut self.psn_key] {
            if let SecretRef::File(p) = secret {
                absolutise(p);
            }
        }
        if let Some(p) = self.postgres.tls.as_mut().and_then(|t| t.ca_file.as_mut()) {
            absolutise(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTION: &str = r#"
postgres = { url = { file = "fleet-url" }, tls = { ca_file = "ca.pem" } }
psn_key = { credential = "fleet-psn-key" }
"#;

    fn terminal() -> TerminalConfig {
        TerminalConfig::demo()
    }

    #[test]
    fn defaults_name_the_terminal_and_require_tls_when_tls_is_given() {
        let f: FleetConfig = toml::from_str(SECTION).unwrap();
        let o = f.options(&terminal());
        assert_eq!(o.terminal_id, terminal().id);
        assert_eq!(o.fixmedins_code, terminal().fixmedins_code);
        assert_eq!(o.heartbeat, Duration::from_secs(30));
        assert_eq!(o.batch, 100);
        let tls = o.tls.unwrap();
        assert!(tls.require);
        assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
        assert!(f.problems().is_empty());
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_directory() {
        let mut f: FleetConfig = toml::from_str(SECTION).unwrap();
        f.resolve_relative(std::path::Path::new("/etc/medsettle"));
        assert_eq!(
            f.postgres.url,
            SecretRef::File("/etc/medsettle/fleet-url".into())
        );
        assert_eq!(
            f.postgres.tls.unwrap().ca_file,
            Some(PathBuf::from("/etc/medsettle/ca.pem"))
        );
        assert_eq!(f.psn_key, SecretRef::Credential("fleet-psn-key".into()));
    }

    #[test]
    fn bad_values_name_their_keys() {
        let text = format!(
            "{SECTION}terminal_id = \"T 1\"\nheartbeat_s = 0\nretry_first_ms = 500\nretry_max_ms = 100\nbatch = 0\n"
        );
        let f: FleetConfig = toml::from_str(&text).unwrap();
        let keys: Vec<String> = f.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "fleet.terminal_id",
                "fleet.heartbeat_s",
                "fleet.retry_max_ms",
                "fleet.batch"
            ]
        );
    }

    #[test]
    fn an_inline_url_is_refused() {
        // The URL holds a password: only a reference is accepted.
        let text = SECTION.replace(
            "url = { file = \"fleet-url\" }",
            "url = \"postgresql://u:p@h/db\"",
        );
        assert!(toml::from_str::<FleetConfig>(&text).is_err());
    }
}
