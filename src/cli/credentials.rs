//! Secrets for operator commands run outside the service. A `{ credential = "NAME" }` secret
//! exists only inside the running service (systemd's `$CREDENTIALS_DIRECTORY`); an operator's
//! shell has none. Rather than fail, the command reads the file systemd itself would read:
//!
//! 1. the path of the unit's `LoadCredential=NAME:PATH` line, looked up the way systemd does
//!    — `medsettle.service` and its `medsettle.service.d/*.conf` drop-ins in `/etc`, `/run`,
//!    `/usr/lib` and `/lib` (`$SYSTEMD_UNIT_PATH` replaces that list), the last assignment
//!    winning; else
//! 2. the file `NAME` beside the configuration file: the package installs the API token as
//!    `/etc/medsettle/api-token` next to `/etc/medsettle/medsettle.toml`.
//!
//! Those files are root's (0600), so this works for root; members of group `medsettle` reach
//! the daemon over the Unix socket instead and need no token. Inside the service
//! (`$CREDENTIALS_DIRECTORY` set) nothing changes.

use std::path::{Path, PathBuf};

use crate::config::{Config, Secret, SecretError, SecretRef};

/// The unit whose credentials these are.
const UNIT: &str = "medsettle.service";

/// Where a secret is read from by this command: the reference itself inside the service or for
/// files, else the file the unit loads the credential from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resolved {
    /// What to load.
    pub reference: SecretRef,
    /// How the credential was mapped to a file, for messages (`None` when not mapped).
    pub via: Option<String>,
}

/// `$CREDENTIALS_DIRECTORY`, set only inside the service.
pub(super) fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

/// Maps `r` for a command run with configuration file `config` (see the module docs).
pub(super) fn resolve(r: &SecretRef, config: &Path) -> Resolved {
    let name = match r {
        SecretRef::Credential(name) if credentials_dir().is_none() => name,
        _ => {
            return Resolved {
                reference: r.clone(),
                via: None,
            };
        }
    };
    if let Some((path, unit_file)) = load_credential_line(name, &unit_dirs()) {
        return Resolved {
            via: Some(format!(
                "LoadCredential={name}:{} in {}",
                path.display(),
                unit_file.display()
            )),
            reference: SecretRef::File(path),
        };
    }
    let dir = config.parent().unwrap_or(Path::new("."));
    let path = dir.join(name);
    Resolved {
        via: Some(format!(
            "no LoadCredential={name} found; the file beside the configuration"
        )),
        reference: SecretRef::File(path),
    }
}

/// Loads `r` for a command run with configuration `config`; errors say which file was tried.
pub(super) fn load(r: &SecretRef, config: &Path) -> Result<Secret, String> {
    let resolved = resolve(r, config);
    Secret::load(&resolved.reference, credentials_dir().as_deref())
        .map_err(|e| describe(r, &resolved, &e))
}

/// An error naming the credential, the file tried and how it was found.
pub(super) fn describe(r: &SecretRef, resolved: &Resolved, e: &SecretError) -> String {
    match &resolved.via {
        Some(via) => format!("{r} (outside the service: {via}): {e}"),
        None => e.to_string(),
    }
}

/// Every secret reference of `config` resolved by [`resolve`], so code that takes
/// `$CREDENTIALS_DIRECTORY` (the store, the upstream client) finds the unit's files outside the
/// service.
pub(super) fn resolve_all(config: &mut Config, path: &Path) {
    let map = |r: &mut SecretRef| *r = resolve(r, path).reference;
    map(&mut config.api.token);
    if let Some(k) = config.store.key.as_mut() {
        map(k);
    }
    if let Some(up) = config.upstream.as_mut() {
        for r in [
            up.client_cert.as_mut(),
            up.client_key.as_mut(),
            up.sign_key.as_mut(),
            up.tif.as_mut().map(|t| &mut t.token),
        ]
        .into_iter()
        .flatten()
        {
            map(r);
        }
    }
}

/// The unit search path: `$SYSTEMD_UNIT_PATH` (colon-separated) or systemd's system dirs,
/// highest precedence first.
fn unit_dirs() -> Vec<PathBuf> {
    match std::env::var_os("SYSTEMD_UNIT_PATH") {
        Some(v) => std::env::split_paths(&v).collect(),
        None => [
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/lib/systemd/system",
            "/lib/systemd/system",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect(),
    }
}

/// The path of the last `LoadCredential=name:PATH` of the unit: its main file (the first found
/// in `dirs`), then its drop-ins sorted by file name (a name in a higher-precedence dir hides
/// the same name below).
fn load_credential_line(name: &str, dirs: &[PathBuf]) -> Option<(PathBuf, PathBuf)> {
    let mut files = Vec::new();
    if let Some(main) = dirs.iter().map(|d| d.join(UNIT)).find(|p| p.is_file()) {
        files.push(main);
    }
    let mut dropins: std::collections::BTreeMap<std::ffi::OsString, PathBuf> = Default::default();
    for dir in dirs.iter().rev() {
        let Ok(entries) = std::fs::read_dir(dir.join(format!("{UNIT}.d"))) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "conf") {
                dropins.insert(entry.file_name(), path);
            }
        }
    }
    files.extend(dropins.into_values());
    let mut found = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            let Some(value) = line.trim().strip_prefix("LoadCredential=") else {
                continue;
            };
            if let Some((n, path)) = value.trim().split_once(':') {
                if n == name && Path::new(path).is_absolute() {
                    found = Some((PathBuf::from(path), file.clone()));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_load_credential_line_wins_and_etc_hides_lib() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        let lib = root.path().join("lib");
        std::fs::create_dir_all(lib.join("medsettle.service.d")).unwrap();
        std::fs::create_dir_all(etc.join("medsettle.service.d")).unwrap();
        std::fs::write(
            lib.join(UNIT),
            "[Service]\n# LoadCredential=api-token:/commented\nLoadCredential=api-token:/etc/medsettle/api-token\n",
        )
        .unwrap();
        let dirs = vec![etc.clone(), lib.clone()];
        let (path, file) = load_credential_line("api-token", &dirs).unwrap();
        assert_eq!(path, Path::new("/etc/medsettle/api-token"));
        assert_eq!(file, lib.join(UNIT));
        assert_eq!(load_credential_line("upstream-client-key", &dirs), None);

        std::fs::write(
            lib.join("medsettle.service.d/upstream.conf"),
            "[Service]\nLoadCredential=upstream-client-key:/lib/key\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("medsettle.service.d/upstream.conf"),
            "[Service]\nLoadCredential=upstream-client-key:/etc/medsettle/upstream/client.key\n",
        )
        .unwrap();
        let (path, _) = load_credential_line("upstream-client-key", &dirs).unwrap();
        assert_eq!(path, Path::new("/etc/medsettle/upstream/client.key"));
    }
}
