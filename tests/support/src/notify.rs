//! A fake systemd notification socket: receives the daemon's datagrams so tests can wait for
//! READY, STOPPING, WATCHDOG and STATUS lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixDatagram;

/// Upper bound for any single wait; a daemon that needs longer is broken, not slow.
const DEADLINE: Duration = Duration::from_secs(30);

pub struct NotifySocket {
    path: PathBuf,
    sock: UnixDatagram,
    seen: std::sync::Mutex<Vec<String>>,
}

impl NotifySocket {
    pub fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        NotifySocket {
            path,
            sock,
            seen: Default::default(),
        }
    }

    /// A blocking-socket variant for tests without a runtime.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives messages until one contains `needle`; returns it.
    pub async fn wait_for(&self, needle: &str) -> String {
        let fut = async {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = self.sock.recv(&mut buf).await.unwrap();
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.lock().unwrap().push(msg.clone());
                if msg.contains(needle) {
                    return msg;
                }
            }
        };
        match tokio::time::timeout(DEADLINE, fut).await {
            Ok(m) => m,
            Err(_) => panic!(
                "no notification containing {needle:?}; saw {:?}",
                self.seen()
            ),
        }
    }

    /// Every message received so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
