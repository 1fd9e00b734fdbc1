//! Start-up benchmark: how long the real binary takes from `exec` to `READY=1`, and how much
//! memory it holds once idle. Run with `cargo bench --bench startup` (or `make bench`).
//!
//! Each round makes a fresh terminal directory (config, token, no database), starts
//! `medsettle run` with `NOTIFY_SOCKET` pointing at a datagram socket owned by this process,
//! and times the arrival of `READY=1`. Half the rounds start on an empty directory (the database
//! is created and migrated), half on the database the previous round left (open only). After
//! READY the daemon is left idle for a moment and its `VmRSS` read from `/proc`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_medsettle");
const ROUNDS: usize = 20;
const IDLE: Duration = Duration::from_millis(500);

fn main() {
    let mut fresh = Vec::new();
    let mut reopen = Vec::new();
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_config(dir.path());
        let (ready, kb) = one_start(dir.path(), &config);
        fresh.push(ready);
        rss.push(kb);
        let (ready, _) = one_start(dir.path(), &config);
        reopen.push(ready);
        eprint!("\rround {}/{ROUNDS}", round + 1);
    }
    eprintln!();
    println!("binary: {BIN}");
    report("start→READY, new database", &mut fresh);
    report("start→READY, existing database", &mut reopen);
    rss.sort_unstable();
    println!(
        "idle RSS after READY + {} ms: min {:.1} MiB, median {:.1} MiB, max {:.1} MiB",
        IDLE.as_millis(),
        rss[0] as f64 / 1024.0,
        rss[rss.len() / 2] as f64 / 1024.0,
        rss[rss.len() - 1] as f64 / 1024.0
    );
}

/// Starts the daemon once; returns the time to READY and the idle RSS in KiB.
fn one_start(dir: &Path, config: &Path) -> (Duration, u64) {
    let sock_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env("NOTIFY_SOCKET", &sock_path)
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start medsettle");
    let ready = wait_ready(&sock, &mut child, started);
    std::thread::sleep(IDLE);
    let kb = vm_rss_kib(child.id());
    stop(&mut child);
    (ready, kb)
}

fn wait_ready(sock: &UnixDatagram, child: &mut Child, started: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill();
                panic!("no READY from medsettle: {e}");
            }
        };
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "READY=1")
        {
            return started.elapsed();
        }
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait for medsettle");
    assert!(status.success(), "medsettle exited with {status}");
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("api-token"), "bench-token-0123456789abcdef\n").unwrap();
    let path = dir.join("medsettle.toml");
    let text = format!(
        "[terminal]\nid = \"T0001\"\nfixmedins_code = \"H11010500001\"\n\
         fixmedins_name = \"基准测试\"\nregion = \"110105\"\n\n\
         [store]\npath = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\
         token = {{ file = \"{}\" }}\n\n[log]\nlevel = \"warn\"\n",
        dir.join("medsettle.db").display(),
        dir.join("api-token").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        samples.len()
    );
}
