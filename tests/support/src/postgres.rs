//! A real PostgreSQL for the tests: Debian's `postgresql` package (installed by
//! `scripts/bootstrap`), a fresh cluster made by `initdb` in a temporary directory and run by
//! `pg_ctl` on a free loopback port (its Unix socket in the same directory), with one database
//! and a password user. Nothing assumes the package's own cluster runs.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then every PostgreSQL binary runs
//! as the unprivileged user `nobody` through `setpriv`, in a directory handed to that user.
//! [`Postgres::stop`] / [`Postgres::start`] (and [`Postgres::restart`]) keep the data; the
//! cluster is stopped when the value is dropped. Waiting is `pg_ctl -w` (it returns once the
//! server accepts connections or has shut down), never a sleep.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database the fixture creates.
pub const DATABASE: &str = "medsettle_ledger";
/// The user it connects as.
pub const USER: &str = "medsettle";
/// That user's password (SCRAM, as a hospital's server would ask).
pub const PASSWORD: &str = "ledger-test-password";

/// One PostgreSQL cluster of a test.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some((uid, gid))` when the binaries run as another user (we are root).
    run_as: Option<(u32, u32)>,
    running: bool,
    /// The server offers TLS with `server.crt`/`server.key` in its directory.
    tls: bool,
    /// `max_connections` (60 unless a bench asked for more).
    max_connections: u32,
}

impl Postgres {
    /// Creates and starts a cluster with the database [`DATABASE`]. Panics with the server's
    /// log when PostgreSQL is missing or does not start (run `scripts/bootstrap`).
    pub fn start_new() -> Postgres {
        Postgres::start_with(None)
    }

    /// [`Postgres::start_new`] with TLS offered (plain text still accepted): the server's
    /// certificate chain and key, PEM.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Postgres {
        Postgres::start_with(Some((cert_pem, key_pem)))
    }

    /// [`Postgres::start_new`] taking `max_connections` connections (the fleet bench runs a
    /// connection per daemon).
    pub fn start_sized(max_connections: u32) -> Postgres {
        let mut pg = Postgres::start_with(None);
        pg.stop();
        pg.max_connections = max_connections;
        pg.start();
        pg
    }

    fn start_with(tls: Option<(&str, &str)>) -> Postgres {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: \
                 run scripts/bootstrap (it installs the `postgresql` package)"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("medsettle-pg-")
            .tempdir()
            .unwrap();
        let run_as = is_root().then(nobody);
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        // The key must belong to the server's user and be readable by it alone.
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            for (name, pem, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
                let path = dir.path().join(name);
                std::fs::write(&path, pem).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                if let Some((uid, gid)) = run_as {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
                }
            }
        }
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            run_as,
            running: false,
            tls: tls.is_some(),
            max_connections: 60,
        };
        let data = pg.data_dir();
        pg.run_ok(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                USER,
                "--pwfile",
                &pwfile.to_string_lossy(),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // A port that was free a moment ago; a clash (another test took it) is retried.
        for attempt in 0..5 {
            pg.port = free_port();
            if pg.try_start() {
                break;
            }
            assert!(attempt < 4, "PostgreSQL did not start:\n{}", pg.log());
        }
        pg.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        pg
    }

    /// The connection URL of [`DATABASE`] over TCP on loopback (password included).
    pub fn url(&self) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the cluster, its socket and its log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (fast: sessions are cut), keeping the data. Returns once it is down.
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data_dir();
            self.run_ok(
                "pg_ctl",
                &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
            );
            self.running = false;
        }
    }

    /// Starts the stopped server on the same port with the same data. Returns once it accepts
    /// connections.
    pub fn start(&mut self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start:\n{}",
            self.log()
        );
    }

    /// [`Postgres::stop`] then [`Postgres::start`].
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Runs `sql` in `database` through `psql` and answers its unaligned, tuples-only output
    /// (`|` between columns, a line per row). Panics when psql fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                database,
                "-c",
                sql,
            ],
        );
        assert!(
            out.status.success(),
            "psql failed on {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// [`Postgres::psql`] in [`DATABASE`].
    pub fn query(&self, sql: &str) -> String {
        self.psql(DATABASE, sql)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn try_start(&mut self) -> bool {
        let data = self.data_dir();
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c shared_buffers=16MB -c max_connections={}",
            self.port,
            self.dir.path().display(),
            self.max_connections
        );
        if self.tls {
            let d = self.dir.path().display();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key"
            ));
        }
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &self.log_file().to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = out.status.success();
        self.running
    }

    /// Runs a PostgreSQL binary (as `nobody` when we are root) with the password in its
    /// environment.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGDATABASE")
            // initdb and pg_ctl change into nothing; a cwd the other user cannot read only
            // makes them warn.
            .current_dir(self.dir.path());
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` (or `$MEDSETTLE_PG_BIN`).
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MEDSETTLE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // The owner of a file we just made is who we are.
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

/// The uid and gid of `nobody` (65534 where `id` cannot say).
fn nobody() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, "nobody"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65534)
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
