//! Who is on the other end of a Unix-socket API connection, and whether that caller may use
//! the API without the bearer token. Operators run `medsettle queue ls` and friends as root
//! or as a member of the service's group; they should not need the token file, which only
//! root can read.
//!
//! **The rule.** A Unix-socket connection is trusted when its kernel-reported credentials
//! (`SO_PEERCRED`, taken at `connect()`) show
//! - uid 0 (root), or
//! - the daemon's own effective uid, or
//! - the daemon's own effective gid as the peer's gid or one of its supplementary groups
//!   (read from `/proc/<pid>/status`, checked to still belong to that uid), or
//! - a peer the daemon cannot see: uid and gid both the kernel's overflow id (65534) while the
//!   daemon runs in a user namespace. systemd's `PrivateUsers=yes` maps every user but root
//!   and the service's own to `nobody`, and `ProtectProc=invisible` hides their `/proc`
//!   entries, so a member of group `medsettle` looks exactly like that. Such a caller got in
//!   only through the socket file's permissions, which the kernel checked at `connect()`
//!   against its real groups: the socket is owned by the daemon's user and group and is never
//!   world-writable (`api.unix_socket_mode` is validated).
//!
//! Everyone else — and every TCP client — needs the token, exactly as before. The socket file's
//! permissions are the first gate (the kernel refuses outsiders with `EACCES`); this check is
//! the second, for sockets whose directory or mode let more callers in than intended.
//! Nothing here is configurable: the service's user and group are the configuration.

use std::path::Path;

/// The kernel's overflow uid/gid (`/proc/sys/kernel/overflowuid`, 65534 unless changed):
/// what an unmapped user looks like inside a user namespace.
const OVERFLOW_ID: u32 = 65_534;

/// A Unix-socket peer as the kernel reported it, and the verdict of the rule above (decided
/// once per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Effective uid at `connect()`.
    pub uid: u32,
    /// Effective gid at `connect()`.
    pub gid: u32,
    /// Process id at `connect()`, when the kernel knows it.
    pub pid: Option<i32>,
    /// May use the API without the token.
    pub trusted: bool,
}

/// A connection that may know its peer (only Unix sockets do).
pub trait PeerSource {
    /// The peer, judged by the rule; `None` for TCP.
    fn peer(&self) -> Option<Peer>;
}

impl PeerSource for tokio::net::TcpStream {
    fn peer(&self) -> Option<Peer> {
        None
    }
}

impl PeerSource for tokio::net::UnixStream {
    fn peer(&self) -> Option<Peer> {
        let cred = match self.peer_cred() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the API socket peer's credentials");
                return None;
            }
        };
        static ME: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
        let me = *ME.get_or_init(Identity::of_self);
        let groups = cred
            .pid()
            .and_then(|pid| groups_of(Path::new(&format!("/proc/{pid}/status")), cred.uid()))
            .unwrap_or_default();
        Some(Peer {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
            trusted: trusted(cred.uid(), cred.gid(), &groups, &me),
        })
    }
}

impl<T: PeerSource> PeerSource for super::connections::Counted<T> {
    fn peer(&self) -> Option<Peer> {
        self.get_ref().peer()
    }
}

/// The daemon's own identity for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Runs in a user namespace that does not map every id (systemd `PrivateUsers=yes`).
    pub namespaced: bool,
}

impl Identity {
    /// From `/proc/self` (no unsafe `geteuid`); unknown ids read as root-less (`u32::MAX`).
    fn of_self() -> Identity {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        Identity {
            uid: effective(&status, "Uid:").unwrap_or(u32::MAX),
            gid: effective(&status, "Gid:").unwrap_or(u32::MAX),
            namespaced: !map.trim().is_empty()
                && map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        }
    }
}

/// The rule (see the module docs).
pub(crate) fn trusted(uid: u32, gid: u32, groups: &[u32], me: &Identity) -> bool {
    uid == 0
        || uid == me.uid
        || gid == me.gid
        || groups.contains(&me.gid)
        || (me.namespaced && uid == OVERFLOW_ID && gid == OVERFLOW_ID)
}

/// The effective id (second field) of a `Uid:`/`Gid:` line of a `/proc/*/status` text.
fn effective(status: &str, field: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The supplementary groups in a `/proc/<pid>/status` file, if it still belongs to a process
/// with effective uid `uid` (a reused pid of another user yields nothing).
fn groups_of(status: &Path, uid: u32) -> Option<Vec<u32>> {
    let text = std::fs::read_to_string(status).ok()?;
    if effective(&text, "Uid:")? != uid {
        return None;
    }
    let line = text.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    Some(
        line.split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: Identity = Identity {
        uid: 997,
        gid: 997,
        namespaced: false,
    };

    #[test]
    fn root_the_service_user_and_its_group_are_trusted() {
        assert!(trusted(0, 0, &[], &SERVICE));
        assert!(trusted(997, 997, &[], &SERVICE));
        assert!(trusted(1000, 997, &[], &SERVICE), "primary group");
        assert!(trusted(1000, 1000, &[27, 997], &SERVICE), "supplementary");
    }

    #[test]
    fn other_users_are_not() {
        assert!(!trusted(1000, 1000, &[27, 100], &SERVICE));
        assert!(!trusted(OVERFLOW_ID, OVERFLOW_ID, &[], &SERVICE));
    }

    #[test]
    fn an_unmapped_peer_is_trusted_only_inside_a_user_namespace() {
        let private = Identity {
            namespaced: true,
            ..SERVICE
        };
        assert!(trusted(OVERFLOW_ID, OVERFLOW_ID, &[], &private));
        assert!(!trusted(OVERFLOW_ID, 1000, &[], &private));
        assert!(!trusted(1000, 1000, &[], &private));
    }

    #[test]
    fn groups_come_from_proc_status_of_the_same_uid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status");
        std::fs::write(
            &path,
            "Name:\tmedsettle\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t27 997 \n",
        )
        .unwrap();
        assert_eq!(groups_of(&path, 1000), Some(vec![27, 997]));
        assert_eq!(groups_of(&path, 1001), None, "another user's process");
        let status = std::fs::read_to_string(&path).unwrap();
        assert_eq!(effective(&status, "Gid:"), Some(1000));
    }

    #[test]
    fn this_process_reads_its_own_identity() {
        let me = Identity::of_self();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert_eq!(Some(me.uid), effective(&status, "Uid:"));
        assert_ne!(me.uid, u32::MAX);
    }
}
