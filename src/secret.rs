//! Secrets (the API token, the database key set, upstream keys and client certificates):
//! referenced from the config, never written in it. Its own module, below both `config` (which
//! holds the references) and the subsystems that load them (`store`, `upstream`, `daemon`);
//! it must not depend on either.
//!
//! A [`SecretRef`] names a file or a systemd credential (`LoadCredential=` puts it under
//! `$CREDENTIALS_DIRECTORY`). [`Secret`] holds the loaded bytes, zeroised on drop, and prints
//! as `****` everywhere.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Largest secret file accepted; anything bigger is a wrong path, not a token.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The systemd credential name of each secret config key, as every shipped file spells it: the
/// packaged config (`systemd/medsettle.toml`), the every-key example, the unit and its drop-in
/// example, and the docs. A credential only works when the config's name and the unit's
/// `LoadCredential=NAME:` agree exactly, and nothing at run time can tell a misspelt name from a
/// missing file; so this is the one list, and a test (`config::validate::credential_names`)
/// checks every shipped file against it.
pub const CREDENTIAL_NAMES: &[(&str, &str)] = &[
    ("api.token", "api-token"),
    ("api.metrics_token", "metrics-token"),
    ("store.key", "db-key"),
    ("upstream.client_cert", "upstream-cert"),
    ("upstream.client_key", "upstream-key"),
    ("upstream.sign_key", "upstream-sm2-key"),
    ("upstream.tif.token", "upstream-paas-token"),
    ("fleet.psn_key", "fleet-psn-key"),
    ("fleet.postgres.url", "fleet-postgres-url"),
];

/// Where a secret comes from: `{ file = "/path" }` or `{ credential = "name" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// A file readable by the daemon's user; surrounding whitespace is trimmed.
    File(PathBuf),
    /// A systemd credential name, read from `$CREDENTIALS_DIRECTORY/<name>`.
    Credential(String),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(p) => write!(f, "file {}", p.display()),
            SecretRef::Credential(n) => write!(f, "systemd credential `{n}`"),
        }
    }
}

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A credential was named but systemd did not pass a credentials directory.
    #[error(
        "{0} is a systemd credential, but $CREDENTIALS_DIRECTORY is not set (add LoadCredential= to the unit, or use {{ file = \"...\" }})"
    )]
    NoCredentialsDirectory(SecretRef),
    /// A credential name that could escape the credentials directory.
    #[error("credential name `{0}` is invalid: use letters, digits, '-', '_' and '.'")]
    BadCredentialName(String),
    /// The file could not be read.
    #[error("cannot read {source_ref}: {error}")]
    Unreadable {
        /// Which secret.
        source_ref: SecretRef,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is empty (after trimming).
    #[error("{0} is empty")]
    Empty(SecretRef),
    /// The file is implausibly large.
    #[error("{0} is larger than {MAX_SECRET_BYTES} bytes; is the path right?")]
    TooLarge(SecretRef),
}

/// How a loaded value compares with the previous load of the same file in this process.
///
/// A SIGHUP re-reads the API token, and an operator needs to know whether that rotated it: a
/// systemd credential is a copy made when the service started and never changes while it runs,
/// so "reloaded" alone would hide a rotation that did not happen. The running token sits inside
/// the API state, out of reach; so every load remembers a keyed digest of what it read (keyed
/// with a random per-process key: nothing about the value can be learnt from it), per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinceLastLoad {
    /// This file was not loaded before in this process.
    First,
    /// The file holds the same value as when it was last loaded.
    Same,
    /// The file holds another value than when it was last loaded.
    Changed,
}

/// Keyed digests of the last value loaded from each file (see [`SinceLastLoad`]).
fn remember(path: &Path, value: &str) -> SinceLastLoad {
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    static LAST: OnceLock<Mutex<HashMap<PathBuf, [u8; 32]>>> = OnceLock::new();
    let key = KEY.get_or_init(rand::random);
    let mut h = Sha256::new();
    h.update(key);
    h.update(value.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut last = LAST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match last.insert(path.to_owned(), digest) {
        None => SinceLastLoad::First,
        Some(before) if before == digest => SinceLastLoad::Same,
        Some(_) => SinceLastLoad::Changed,
    }
}

/// A loaded secret. Never printed, zeroised when dropped.
#[derive(Clone)]
pub struct Secret {
    value: Zeroizing<String>,
    /// True when the file can be read by users other than its owner and group.
    pub world_readable: bool,
    since_last_load: SinceLastLoad,
}

impl Secret {
    /// Loads the secret `r` refers to. `credentials_dir` is `$CREDENTIALS_DIRECTORY`.
    pub fn load(r: &SecretRef, credentials_dir: Option<&Path>) -> Result<Secret, SecretError> {
        let path = match r {
            SecretRef::File(p) => p.clone(),
            SecretRef::Credential(name) => {
                let valid = !name.is_empty()
                    && name != "."
                    && name != ".."
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !valid {
                    return Err(SecretError::BadCredentialName(name.clone()));
                }
                let dir = credentials_dir
                    .ok_or_else(|| SecretError::NoCredentialsDirectory(r.clone()))?;
                dir.join(name)
            }
        };
        let unreadable = |error| SecretError::Unreadable {
            source_ref: r.clone(),
            error,
        };
        let meta = std::fs::metadata(&path).map_err(unreadable)?;
        if meta.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLarge(r.clone()));
        }
        let raw = Zeroizing::new(std::fs::read_to_string(&path).map_err(unreadable)?);
        let value = Zeroizing::new(raw.trim().to_owned());
        if value.is_empty() {
            return Err(SecretError::Empty(r.clone()));
        }
        use std::os::unix::fs::PermissionsExt;
        let world_readable = meta.permissions().mode() & 0o004 != 0;
        let since_last_load = remember(&path, &value);
        Ok(Secret {
            value,
            world_readable,
            since_last_load,
        })
    }

    /// Builds a secret from a value held in memory (tests, generated demo tokens).
    pub fn from_value(value: impl Into<String>) -> Secret {
        Secret {
            value: Zeroizing::new(value.into()),
            world_readable: false,
            since_last_load: SinceLastLoad::First,
        }
    }

    /// Whether this load read the same value as the previous load of the same file.
    pub fn since_last_load(&self) -> SinceLastLoad {
        self.since_last_load
    }

    /// The secret's bytes, for the one place that needs them (e.g. a constant-time compare).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Length in bytes, safe to print.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Always false for a loaded secret; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_says_whether_the_file_changed_since_the_last_load() {
        let dir = tempfile::tempdir().unwrap();
        let r = SecretRef::File(dir.path().join("token"));
        std::fs::write(dir.path().join("token"), "first\n").unwrap();
        assert_eq!(
            Secret::load(&r, None).unwrap().since_last_load(),
            SinceLastLoad::First
        );
        // Whitespace around the value is not part of it.
        std::fs::write(dir.path().join("token"), "  first  \n\n").unwrap();
        assert_eq!(
            Secret::load(&r, None).unwrap().since_last_load(),
            SinceLastLoad::Same
        );
        std::fs::write(dir.path().join("token"), "second\n").unwrap();
        assert_eq!(
            Secret::load(&r, None).unwrap().since_last_load(),
            SinceLastLoad::Changed
        );
        // A credential is remembered by the file it resolves to.
        let cred = SecretRef::Credential("token".into());
        assert_eq!(
            Secret::load(&cred, Some(dir.path()))
                .unwrap()
                .since_last_load(),
            SinceLastLoad::Same
        );
        assert_eq!(
            Secret::from_value("x").since_last_load(),
            SinceLastLoad::First
        );
    }
}
