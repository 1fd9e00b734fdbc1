//! The real `medsettle` binary as a child process, with a fake notification socket and its
//! stderr captured for log assertions.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{NotifySocket, Terminal};

/// The `medsettle` binary of this build: beside the `deps/` folder the running test or
/// benchmark executable is in (`target/debug/deps/integration-…` → `target/debug/medsettle`).
/// Cargo builds it before any integration test or benchmark of the package.
pub fn bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    dir.join("medsettle")
}

pub struct Process {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    pub notify: NotifySocket,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Runs `medsettle run --config <terminal config>` and waits for READY.
    pub async fn start(terminal: &Terminal) -> Process {
        Process::start_with(terminal, |_| {}).await
    }

    pub async fn start_with(terminal: &Terminal, edit: impl FnOnce(&mut Command)) -> Process {
        let config = terminal.write_config();
        let args = ["run".as_ref(), "--config".as_ref(), config.as_os_str()];
        Process::launch(terminal.path(), &args, edit).await
    }

    /// Writes `config` (a whole config file's text, usually the terminal's edited) to
    /// `dir/medsettle-run.toml`, runs `medsettle run` on it and waits for READY.
    pub async fn start_config(
        dir: &Path,
        config: &str,
        edit: impl FnOnce(&mut Command),
    ) -> Process {
        let path = dir.join("medsettle-run.toml");
        std::fs::write(&path, config).unwrap();
        let args = ["run".as_ref(), "--config".as_ref(), path.as_os_str()];
        Process::launch(dir, &args, edit).await
    }

    /// Runs the binary with `args` (its notification socket in `dir`) and waits for READY.
    /// `medsettle run --config <file>`, `file` among `t`'s files, with warnings logged only,
    /// in a run directory of its own (each start gets its own notification socket).
    pub async fn run_file(t: &Terminal, file: &str) -> Process {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = t.path().join(format!("run-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&run).unwrap();
        let config = t.path().join(file);
        let args = ["run".as_ref(), "--config".as_ref(), config.as_os_str()];
        Process::launch(&run, &args, |c| {
            c.env("RUST_LOG", "warn");
        })
        .await
    }

    pub async fn launch(
        dir: &Path,
        args: &[&std::ffi::OsStr],
        edit: impl FnOnce(&mut Command),
    ) -> Process {
        let notify = NotifySocket::new(dir);
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("NOTIFY_SOCKET", notify.path())
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        edit(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let ready = notify.wait_for("READY=1").await;
        let addr = parse_addr(&ready);
        Process {
            child,
            addr,
            notify,
            stderr,
            reader: Some(reader),
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes beside `terminal`'s files a copy of config `text` naming this daemon's real API
    /// address (test configs listen on `127.0.0.1:0`), for CLI commands; returns its path.
    pub fn cli_config(&self, terminal: &crate::Terminal, text: &str) -> String {
        let cli_text = text.replace("127.0.0.1:0", &self.addr.to_string());
        assert_ne!(cli_text, text, "the config names the API's listen address");
        let path = terminal.path().join("cli.toml");
        std::fs::write(&path, cli_text).expect("the CLI's config");
        path.to_str().expect("a UTF-8 path").to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn signal(&self, sig: i32) {
        let rc = send_signal(self.child.id(), sig);
        assert!(rc, "kill -{sig} failed");
    }

    /// Waits for exit and returns the status and everything written to stderr.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let text = self.stderr.lock().unwrap().clone();
        (status, text)
    }

    pub fn db(&self, terminal: &Terminal) -> std::path::PathBuf {
        terminal.db_path()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address from `STATUS=ready: API on 127.0.0.1:PORT, ...`.
fn parse_addr(ready: &str) -> std::net::SocketAddr {
    let after = ready
        .split("API on ")
        .nth(1)
        .expect("READY status names the API address");
    let addr = after.split([',', ' ']).next().unwrap();
    addr.parse()
        .unwrap_or_else(|_| panic!("bad address in {ready:?}"))
}

/// Sends a signal with the `kill` command, so the tests need no unsafe code.
fn send_signal(pid: u32, sig: i32) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs the binary to completion with arguments; returns (status, stdout, stderr). A command
/// that has not finished after a minute is killed and the test fails, rather than hanging CI.
pub fn run_cli(args: &[&str], cwd: Option<&Path>) -> (ExitStatus, String, String) {
    run_cli_with_input(args, cwd, None)
}

/// [`run_cli`] with `input` written to the command's standard input (then closed).
pub fn run_cli_with_input(
    args: &[&str],
    cwd: Option<&Path>,
    input: Option<&str>,
) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap();
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write as _;
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = finished.recv_timeout(Duration::from_secs(60)).is_err();
        if timed_out {
            send_signal(pid, 9);
        }
        timed_out
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    assert!(
        !watchdog.join().unwrap(),
        "`medsettle {}` did not finish within 60 s",
        args.join(" ")
    );
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
