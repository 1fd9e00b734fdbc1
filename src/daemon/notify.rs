//! The systemd notification protocol (`sd_notify`): READY, STATUS, STOPPING, WATCHDOG.
//!
//! The socket and watchdog interval are read from the environment once, in `main`, and passed
//! down; tests point a [`Notifier`] at their own datagram socket. Sending is best effort: a
//! daemon started by hand (no `NOTIFY_SOCKET`) simply sends nothing. Nothing here reads the
//! environment after start-up or changes it.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

/// Where notifications go, and how often the service manager wants a watchdog ping.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<PathBuf>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` as systemd sets them.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").map(PathBuf::from);
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && pid_ok)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// Sends to the datagram socket at `path` (`@name` for the abstract namespace).
    pub fn to_socket(path: impl Into<PathBuf>, watchdog: Option<Duration>) -> Notifier {
        Notifier {
            socket: Some(path.into()),
            watchdog,
        }
    }

    /// Sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Whether a service manager is listening.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to ping the watchdog: half the interval systemd asked for.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }

    /// `RELOADING=1`, then the caller sends [`Notifier::status`] or `READY=1` when done.
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// A `STATUS=` line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        if let Err(e) = send_datagram(path, message) {
            tracing::warn!(error = %e, "cannot notify the service manager");
        }
    }
}

fn send_datagram(path: &std::path::Path, message: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let raw = path.as_os_str().as_encoded_bytes();
    let addr = if let Some(name) = raw.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name)?
    } else {
        SocketAddr::from_pathname(path)?
    };
    sock.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to_socket(&path, Some(Duration::from_secs(20)));
        n.ready("ready: test");
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=ready: test");
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("medsettle-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::to_socket(format!("@{name}"), None).watchdog();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn disabled_notifier_sends_nothing_and_has_no_watchdog() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("nobody listens");
    }
}
