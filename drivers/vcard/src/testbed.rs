//! A private pcscd with vpcd readers, for tests and benches: its own reader configuration, its
//! own client socket, its own TCP ports. Several testbeds (one per test process) run side by side
//! and beside a system pcscd without seeing each other.
//!
//! How: pcscd is started by "socket activation" (`LISTEN_FDS=1`, socket on fd 3), the same
//! mechanism systemd uses, so it serves a socket in a temporary directory instead of
//! `/run/pcscd/pcscd.comm`; clients find it through `PCSCLITE_CSOCK_NAME`. This module starts
//! processes and writes files; it never talks PC/SC itself.

use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One vpcd reader slot of the testbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualReader {
    /// The name PC/SC reports, e.g. `Medsettle ICC 00 00`.
    pub name: String,
    /// vpcd's TCP port for this slot.
    pub port: u16,
}

impl VirtualReader {
    /// Where a virtual card connects to be "inserted" into this reader.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// A running private pcscd (see the module documentation).
pub struct Testbed {
    dir: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    log: PathBuf,
    readers: Vec<VirtualReader>,
    child: Mutex<Option<Child>>,
}

/// How long pcscd may take to report "daemon ready".
const READY_TIMEOUT: Duration = Duration::from_secs(15);

impl Testbed {
    /// Starts pcscd with one vpcd reader entry: two readers, `<friendly_name> 00 00` and
    /// `<friendly_name> 00 01`, on two consecutive free ports.
    ///
    /// One entry per pcscd only: the vpcd driver keeps one global table indexed by slot number,
    /// so a second entry in the same pcscd overwrites the first and neither sees cards. More
    /// readers mean more testbeds (one per process, since the client socket is per process).
    pub fn start(friendly_name: &str) -> io::Result<Testbed> {
        let dir = std::env::temp_dir().join(format!(
            "medsettle-pcscd-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir)?;
        let (port, held) = free_port_pair()?;
        let config = format!(
            "FRIENDLYNAME \"{friendly_name}\"\nDEVICENAME /dev/null:0x{port:04X}\n\
             LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x{port:04X}\n"
        );
        let readers = vec![
            VirtualReader {
                name: format!("{friendly_name} 00 00"),
                port,
            },
            VirtualReader {
                name: format!("{friendly_name} 00 01"),
                port: port + 1,
            },
        ];
        let config_path = dir.join("reader.conf");
        std::fs::write(&config_path, config)?;
        drop(held);
        let bed = Testbed {
            socket: dir.join("pcscd.comm"),
            log: dir.join("pcscd.log"),
            config: config_path,
            dir,
            readers,
            child: Mutex::new(None),
        };
        bed.start_pcscd()?;
        Ok(bed)
    }

    /// The client socket; set `PCSCLITE_CSOCK_NAME` to it (see [`Testbed::export_client_env`]).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The directory holding the socket, the reader configuration and `pcscd.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn readers(&self) -> &[VirtualReader] {
        &self.readers
    }

    /// The reader with this exact PC/SC name.
    pub fn reader(&self, name: &str) -> &VirtualReader {
        self.readers
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no testbed reader named {name}"))
    }

    /// Points this process's PC/SC client library at the testbed's pcscd.
    ///
    /// # Safety
    /// Sets an environment variable: no other thread may read or write the environment
    /// concurrently, and it must run before this process's first PC/SC call (libpcsclite reads
    /// the variable once and caches it).
    pub unsafe fn export_client_env(&self) {
        // SAFETY: the caller guarantees exclusive access to the environment (see above).
        unsafe { std::env::set_var("PCSCLITE_CSOCK_NAME", &self.socket) };
    }

    /// [`Testbed::export_client_env`] for a program (the demo) that calls it early: it checks
    /// that this process still has a single thread — where changing the environment is sound —
    /// and refuses otherwise.
    pub fn export_client_env_single_threaded(&self) -> io::Result<()> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .map(str::trim);
        if threads != Some("1") {
            return Err(io::Error::other(
                "the process already runs several threads; PCSCLITE_CSOCK_NAME cannot be set safely",
            ));
        }
        // SAFETY: this process has one thread (checked just above), so nothing else can read
        // or write the environment concurrently.
        unsafe { self.export_client_env() };
        Ok(())
    }

    /// The pcscd process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(Child::id)
    }

    /// Starts pcscd (again) on the same socket path, configuration and ports, and waits until
    /// it reports ready.
    pub fn start_pcscd(&self) -> io::Result<()> {
        let mut child_slot = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if child_slot.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(&self.socket);
        let listener = UnixListener::bind(&self.socket)?;
        let log = File::create(&self.log)?;
        // The listening socket goes in as stdin; the shell moves it to fd 3 (SD_LISTEN_FDS_START)
        // and sets LISTEN_PID to its own pid, which `exec` hands on to pcscd.
        let child = Command::new("sh")
            .arg("-c")
            .arg("exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec pcscd --foreground --info --auto-exit --config \"$0\"")
            .arg(&self.config)
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        *child_slot = Some(child);
        drop(child_slot);
        self.wait_ready()
    }

    /// Kills pcscd (SIGKILL, like a crash) and waits for it to exit; its vpcd ports close, so
    /// virtual cards see the reader vanish.
    pub fn stop_pcscd(&self) -> io::Result<()> {
        let mut child_slot = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = child_slot.take() {
            let _ = child.kill();
            child.wait()?;
        }
        let _ = std::fs::remove_file(&self.socket);
        Ok(())
    }

    fn wait_ready(&self) -> io::Result<()> {
        let started = Instant::now();
        loop {
            let mut text = String::new();
            File::open(&self.log)?.read_to_string(&mut text)?;
            if text.contains("daemon ready") {
                return Ok(());
            }
            let exited = {
                let mut slot = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(status))) => Some(status),
                    _ => None,
                }
            };
            if let Some(status) = exited {
                return Err(io::Error::other(format!("pcscd exited ({status}): {text}")));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(io::Error::other(format!(
                    "pcscd not ready after {READY_TIMEOUT:?}: {text}"
                )));
            }
            // Startup wait only (pcscd gives no other readiness signal here).
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = self.stop_pcscd();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Two consecutive free TCP ports (vpcd binds every address), held until the caller drops the
/// returned listeners.
fn free_port_pair() -> io::Result<(u16, Vec<TcpListener>)> {
    for _ in 0..64 {
        let first = TcpListener::bind("0.0.0.0:0")?;
        let port = first.local_addr()?.port();
        if port == u16::MAX {
            continue;
        }
        if let Ok(second) = TcpListener::bind(("0.0.0.0", port + 1)) {
            return Ok((port, vec![first, second]));
        }
    }
    Err(io::Error::other("no two consecutive free TCP ports"))
}
