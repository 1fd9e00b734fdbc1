//! Who may create the daemon's state files from an operator command. `upstream ping`,
//! `upstream person` and `doctor`'s sign-in open the database, which creates it and its key
//! file (`db-key`) when they do not exist yet. Run as root before the service's first start,
//! that left both owned by root in a directory the service user (`medsettle`) owns, and the
//! service could not start.
//!
//! **The rule.** Running as root, a command refuses to create the database or its key file in
//! a directory that belongs to another user: that user is the service's (systemd's
//! `StateDirectory=` and the package's tmpfiles.d make `/var/lib/medsettle` `medsettle`'s), so
//! the daemon must create them itself on its first start. Files that already exist are used as
//! they are (SQLite, run as root, gives the journal and WAL files it creates the database
//! file's owner). Refusing rather than creating and handing the files over (chown) keeps one
//! creator of the key that seals personal data: the daemon, under its own user and umask.
//! Not root, or a directory root owns (development, tests, `demo`): nothing changes.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, SecretRef};

/// sysexits EX_NOPERM: the command refuses to create state as the wrong owner.
pub(super) const EXIT_NOPERM: u8 = 77;

/// Why `command` must not open the store now, or `Ok` when it may.
pub(super) fn may_create(config: &Config, command: &str) -> Result<(), String> {
    if effective_uid() != Some(0) {
        return Ok(());
    }
    let mut files = vec![config.store.path.clone()];
    if let SecretRef::File(key) = config.store.key_ref() {
        files.push(key);
    }
    for file in files {
        if let Some((dir, owner)) = foreign_parent(&file) {
            let user = user_name(owner).unwrap_or_else(|| format!("uid {owner}"));
            return Err(format!(
                "refusing to create {file} as root: {dir} belongs to `{user}`, the service's \
                 user, which could then not open it. Start the service once \
                 (`systemctl start medsettle`) so that it creates its database and key, then \
                 run `{command}` again",
                file = file.display(),
                dir = dir.display(),
            ));
        }
    }
    Ok(())
}

/// For a file that does not exist: its directory and that directory's owner, when the owner
/// is not root.
fn foreign_parent(file: &Path) -> Option<(PathBuf, u32)> {
    if std::fs::symlink_metadata(file).is_ok() {
        return None;
    }
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
    let owner = std::fs::metadata(dir).ok()?.uid();
    (owner != 0).then(|| (dir.to_owned(), owner))
}

/// This process's effective uid, from `/proc/self/status` (no unsafe `geteuid`).
pub(super) fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The name of user `uid` from `/etc/passwd`.
fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}
