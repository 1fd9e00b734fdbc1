//! What the integration tests and the benchmarks share: temporary terminals with a config file
//! (edited as a typed `Config`), a token and a fake systemd notification socket, run either
//! in-process (`InProcess`) or as the real binary (`Process`), and the HTTP client they talk
//! through, and a real PostgreSQL for the fleet ledger (`postgres`). Synchronisation is by
//! events (notifications, process exit) or a bounded wait on a condition (`poll`), never by
//! sleeps.
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod notify;
pub mod poll;
pub mod postgres;
pub mod process;

use std::path::{Path, PathBuf};

pub use api::Api;
pub use notify::NotifySocket;
pub use postgres::Postgres;
pub use process::Process;

use medsettle::config::Config;
use medsettle::daemon::{self, Control, Environment, Notifier, WorkTracker};
use tokio::sync::mpsc;

/// The token every test terminal uses.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A temporary terminal directory: config, token file, database path.
pub struct Terminal {
    pub dir: tempfile::TempDir,
    /// Extra TOML appended to the base config (`[section]` blocks). Lines before the first
    /// `[section]` header go into `[terminal]` (e.g. `msgid_node = 2`).
    pub extra: String,
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal::new()
    }
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal::with(|_| {})
    }

    pub fn with(edit: impl FnOnce(&mut String)) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api-token"), format!("{TOKEN}\n")).unwrap();
        let mut extra = String::new();
        edit(&mut extra);
        Terminal { dir, extra }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("medsettle.db")
    }

    /// The config text: loopback port 0, everything inside the temp dir.
    pub fn config_text(&self) -> String {
        let mut text = format!(
            r#"
[terminal]
id = "T0001"
fixmedins_code = "H11010500001"
fixmedins_name = "测试社区卫生服务中心"
region = "110105"

[store]
path = "{db}"

[readers]
backend = "none"

[api]
listen = "127.0.0.1:0"
token = {{ file = "{tok}" }}
"#,
            db = self.db_path().display(),
            tok = self.dir.path().join("api-token").display(),
        );
        let (terminal_lines, sections) = match self.extra.find("\n[") {
            Some(i) if !self.extra.trim_start().starts_with('[') => self.extra.split_at(i),
            _ => ("", self.extra.as_str()),
        };
        if !terminal_lines.trim().is_empty() {
            text = text.replacen(
                "region = \"110105\"\n",
                &format!("region = \"110105\"\n{}\n", terminal_lines.trim()),
                1,
            );
        }
        text.push_str(sections);
        text
    }

    /// Writes the config file and returns its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.path().join("medsettle.toml");
        std::fs::write(&path, self.config_text()).unwrap();
        path
    }

    pub fn config(&self) -> Config {
        Config::parse(&self.config_text()).unwrap()
    }

    /// The config as a typed value after `edit`, rendered back to TOML: how a test changes a
    /// setting of the base config (never by editing its text).
    pub fn config_with(&self, edit: impl FnOnce(&mut Config)) -> String {
        let mut config = self.config();
        edit(&mut config);
        config.to_toml()
    }

    /// The config with the in-process virtual card of `profile` as its reader.
    pub fn config_with_virtual_card(&self, profile: impl Into<PathBuf>) -> String {
        self.config_with(|c| {
            c.readers.backend = medsettle::config::ReaderBackend::Virtual;
            c.readers.virtual_profile = Some(profile.into());
        })
    }
}

/// The upstream client's timeouts of a test daemon, in ms: connect, read, whole request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts(pub u64, pub u64, pub u64);

impl Terminal {
    /// A terminal against the sandbox insurer at `base_url`: plain HTTP on loopback, `MOCK`
    /// signing, no PIN asked (`settle.skip_pin_consent`, as in the demo), the upstream
    /// `timeouts`, no scheduled reconciliation, and `settle` (lines such as the retry times)
    /// added to `[settle]`.
    pub fn against_sandbox(base_url: &str, timeouts: Timeouts, settle: &str) -> Terminal {
        let Timeouts(connect, read, total) = timeouts;
        Terminal::with(|t| {
            t.push_str(&format!(
                "\n[upstream]\nbase_url = \"{base_url}\"\nallow_plain_http = true\n\
                 signtype = \"MOCK\"\nconnect_timeout_ms = {connect}\nread_timeout_ms = {read}\n\
                 timeout_ms = {total}\n\n[settle]\nskip_pin_consent = true\nreconcile_at = \"\"\n\
                 {settle}\n"
            ));
        })
    }
}

/// The virtual card profile of the sandbox's 张三 (`fixtures/cards/normal.json`).
pub const NORMAL_CARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/cards/normal.json"
);

/// (VmRSS, VmHWM) of process `pid` in KiB: its resident memory now and at its peak.
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `[fleet]` reading its PostgreSQL URL and its psn key from the files `url` and `psn_key`, with
/// `extra` settings (`heartbeat_s = 1\n…`) before its `[postgres]` table.
pub fn fleet_section(psn_key: &Path, url: &Path, extra: &str) -> medsettle::config::FleetConfig {
    toml::from_str(&format!(
        "psn_key = {{ file = \"{}\" }}\n{extra}\n[postgres]\nurl = {{ file = \"{}\" }}\n",
        psn_key.display(),
        url.display()
    ))
    .expect("a [fleet] section")
}

/// `[upstream]` for the sandbox insurer at `base_url`: plain HTTP on loopback, `signtype`
/// (`MOCK` sends no signature, `SM3` signs; neither skips PIN consent: that is
/// `settle.skip_pin_consent`).
pub fn sandbox_upstream(base_url: &str, signtype: &str) -> medsettle::config::UpstreamConfig {
    toml::from_str(&format!(
        "base_url = \"{base_url}\"\nallow_plain_http = true\nsigntype = \"{signtype}\"\n"
    ))
    .expect("an [upstream] section")
}

/// A daemon running inside the test's runtime.
pub struct InProcess {
    pub addr: std::net::SocketAddr,
    pub control: mpsc::Sender<Control>,
    pub work: WorkTracker,
    pub notify: NotifySocket,
    pub events: medsettle::events::EventBus,
    pub task: tokio::task::JoinHandle<Result<(), daemon::DaemonError>>,
}

impl InProcess {
    /// Starts the daemon and waits for its READY notification.
    pub async fn start(terminal: &Terminal) -> InProcess {
        InProcess::start_with_readers(terminal, None).await
    }

    /// Starts the daemon with a reader stack.
    pub async fn start_with_readers(
        terminal: &Terminal,
        readers: Option<std::sync::Arc<dyn medsettle::card::CardReaders>>,
    ) -> InProcess {
        InProcess::start_full(terminal, readers, None).await
    }

    /// Starts the daemon with a reader stack and a QR scan feed.
    pub async fn start_full(
        terminal: &Terminal,
        readers: Option<std::sync::Arc<dyn medsettle::card::CardReaders>>,
        scans: Option<mpsc::Receiver<medsettle::qr::service::RawScan>>,
    ) -> InProcess {
        InProcess::start_config(terminal, terminal.config(), readers, scans).await
    }

    /// Starts the daemon on `config` (usually the terminal's, edited) in the terminal's folder.
    pub async fn start_config(
        terminal: &Terminal,
        config: Config,
        readers: Option<std::sync::Arc<dyn medsettle::card::CardReaders>>,
        scans: Option<mpsc::Receiver<medsettle::qr::service::RawScan>>,
    ) -> InProcess {
        let notify = NotifySocket::new(terminal.path());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let events = medsettle::events::EventBus::default();
        let env = Environment {
            notifier: Notifier::to_socket(notify.path(), None),
            credentials_dir: None,
            log: None,
            events: events.clone(),
            readers,
            scans,
        };
        let d = daemon::Daemon::start(config, listener, env).await.unwrap();
        let addr = d.local_addr().unwrap();
        let work = d.work();
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(d.serve(rx));
        notify.wait_for("READY=1").await;
        InProcess {
            addr,
            control,
            work,
            notify,
            events,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn shutdown(self) {
        self.control.send(Control::Shutdown).await.unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// An HTTP client that never reuses connections (each request sees the daemon as it is now).
/// `GET url` with the test token; the answer's JSON body (any status).
pub async fn get_json(url: &str) -> serde_json::Value {
    client()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    medsettle::upstream::transport::install_crypto_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The card of the sandbox's 张三 (`fixtures/persons`) as a credential just read, for tests and
/// benchmarks that make sales through the engine without a reader.
pub fn zhang_card() -> medsettle::credential::Fresh {
    use medsettle::card::{CardRecord, Holder, Interface, Sex};
    medsettle::credential::Fresh::Card(CardRecord {
        region: "110105".into(),
        card_id: "110105D15600000500A1B2C3D4E5F601".into(),
        card_no: "M12345678".into(),
        spec_version: "3.00".into(),
        issue_date: None,
        expiry_date: None,
        holder: Some(Holder {
            id_number: "110105199003071239".into(),
            name: "测试张三".into(),
            sex: Sex::Male,
            nation: 1,
            birth_date: None,
        }),
        interface: Interface::Contact,
        atr: String::new(),
        atr_historical: String::new(),
    })
}

/// The counter's `[trace]` defaults (a pharmacist, a prescriber, an operator) with fast
/// retries, so sales whose lines carry trace codes can be confirmed and reported.
pub fn counter_trace(c: &mut medsettle::config::Config) {
    c.trace.phar_name = "王药师".into();
    c.trace.phar_prac_cert_no = "YS2020001".into();
    c.trace.prsc_dr_name = "李医生".into();
    c.trace.opter_name = "收银员".into();
    c.trace.retry_first_ms = 200;
    c.trace.retry_max_ms = 1_000;
}
