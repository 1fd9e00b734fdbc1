//! `medsettle demo`: the daemon on built-in defaults, with everything under `./var` and no
//! hardware: the virtual card in a simulated reader, and the sandbox insurer on a loopback
//! port of its own (its persons written to `var/persons`). Creates a random API token on first
//! run and prints how to call the API.
//!
//! The terminal shows the banner and the tour only: the daemon's log (and that of the private
//! pcscd it starts) goes to `var/medsettle.log`, named in the banner, unless `--verbose`. The
//! demo has no camera: the tour hands its QR codes over as a scan box would
//! (`POST /v1/qr/submit`), so every scan the daemon sees is one the tour explains.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

/// Whether and how the scripted tour runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TourMode {
    Skip,
    ThenServe,
    ThenExit,
}

impl TourMode {
    pub(super) fn from_flags(no_tour: bool, exit_after: bool) -> TourMode {
        match (no_tour, exit_after) {
            (true, _) => TourMode::Skip,
            (false, true) => TourMode::ThenExit,
            (false, false) => TourMode::ThenServe,
        }
    }
}

pub(super) fn execute(var: &Path, listen: SocketAddr, tour: TourMode, verbose: bool) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(var) {
        eprintln!("medsettle demo: cannot create {}: {e}", var.display());
        return ExitCode::FAILURE;
    }
    let var = match var.canonicalize() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("medsettle demo: cannot resolve {}: {e}", var.display());
            return ExitCode::FAILURE;
        }
    };
    let log_path = var.join("medsettle.log");
    let log_line = if verbose {
        "this terminal (--verbose)".to_owned()
    } else {
        match log_to_file(&log_path) {
            Ok(()) => format!("{} (--verbose shows it here)", log_path.display()),
            Err(e) => {
                eprintln!(
                    "medsettle demo: cannot write the log {}: {e}",
                    log_path.display()
                );
                return ExitCode::FAILURE;
            }
        }
    };
    let token_path = var.join("api-token");
    if let Err(e) = ensure_token(&token_path) {
        say(&format!(
            "medsettle demo: cannot create the API token {}: {e}",
            token_path.display()
        ));
        return ExitCode::FAILURE;
    }
    let profile = var.join("virtual-card.json");
    if let Err(e) = std::fs::write(&profile, demo_card()) {
        say(&format!(
            "medsettle demo: cannot write {}: {e}",
            profile.display()
        ));
        return ExitCode::FAILURE;
    }
    // The card through the real PC/SC stack when this machine has pcscd and the vpcd driver
    // (a private pcscd; must happen while this process has one thread), else in-process.
    let pcsc = pcsc_testbed(&profile);
    let persons = var.join("persons");
    if let Err(e) = write_persons(&persons) {
        say(&format!(
            "medsettle demo: cannot write {}: {e}",
            persons.display()
        ));
        return ExitCode::FAILURE;
    }
    let persons_shown = persons.display().to_string();
    let sandbox = match start_sandbox(persons) {
        Ok(s) => s,
        Err(e) => {
            say(&format!(
                "medsettle demo: cannot start the sandbox insurer: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let mut config = Config::demo(&var, listen);
    let reader_line = match &pcsc {
        Some(name) => {
            config.readers.backend = crate::config::ReaderBackend::Pcsc;
            config.readers.reader = Some(name.clone());
            format!("{name} (pcscd + vpcd, a private pcscd)")
        }
        None => {
            config.readers.backend = crate::config::ReaderBackend::Virtual;
            config.readers.virtual_profile = Some(profile);
            "in-process virtual reader (pcscd or vsmartcard-vpcd not installed)".to_owned()
        }
    };
    config.qr.essc_keys.insert(
        sandbox.essc_kid.clone(),
        sandbox.essc_public_key_hex.clone(),
    );
    config.upstream = Some(demo_upstream(&sandbox));
    let db = config.store.path.clone();
    let insurer = sandbox.base_url.clone();
    let sandbox_url = sandbox.base_url.clone();
    let token_file = token_path.clone();
    let banner = move |listen: SocketAddr| {
        start_tour(listen, &token_file, sandbox_url, tour);
        format!(
            "\nmedsettle demo is running (演示模式)\n  \
             API       http://{listen}\n  \
             database  {db}\n  \
             reader    {reader_line}\n  \
             insurer   {insurer} (sandbox insurer; persons in {persons})\n  \
             token     {tok}\n  \
             log       {log_line}\n  \
             scans     the tour's QR codes, handed over as a scan box would (no camera in the demo)\n  \
             try       curl -H \"Authorization: Bearer $(cat {tok})\" http://{listen}/v1/status\n  \
             card      curl -X POST -H \"Authorization: Bearer $(cat {tok})\" http://{listen}/v1/card/read\n  \
             stop      Ctrl-C\n",
            db = db.display(),
            persons = persons_shown,
            tok = token_path.display(),
        )
    };
    let code = super::run::serve(config, None, Some(Box::new(banner)));
    if code != ExitCode::SUCCESS && !verbose {
        say(&format!(
            "medsettle demo: the daemon stopped with an error; its log is {}",
            log_path.display()
        ));
    }
    code
}

/// The terminal's stderr, kept when the demo sends fd 2 to the log file.
static CONSOLE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Points this process's stderr (and so the daemon's log and the private pcscd's) at `path`,
/// appending, mode 0600; the terminal's stderr stays reachable through [`say`].
fn log_to_file(path: &Path) -> std::io::Result<()> {
    use std::os::fd::{AsFd as _, AsRawFd as _};
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let console = std::io::stderr().as_fd().try_clone_to_owned()?;
    let _ = CONSOLE.set(std::fs::File::from(console));
    nix::unistd::dup2(file.as_raw_fd(), 2).map_err(std::io::Error::from)?;
    Ok(())
}

/// A line for the person at the terminal: on its stderr even when the log goes to the file.
pub(super) fn say(line: &str) {
    match CONSOLE.get() {
        Some(mut console) => {
            let _ = writeln!(console, "{line}");
        }
        None => eprintln!("{line}"),
    }
}

/// Starts a private pcscd with the vpcd driver and puts the demo card in its reader; `None`
/// (the demo then uses the in-process reader) when pcscd or the driver is missing or anything
/// fails. The testbed and the card live as long as the process.
fn pcsc_testbed(profile: &Path) -> Option<String> {
    const NAME: &str = "medsettle Demo Reader";
    let driver = Path::new("/usr/lib/pcsc/drivers/serial/libifdvpcd.so");
    if !driver.exists() {
        return None;
    }
    let bed = medsettle_vcard::Testbed::start(NAME).ok()?;
    bed.export_client_env_single_threaded().ok()?;
    let card = medsettle_vcard::Profile::load(profile)
        .ok()
        .and_then(|p| medsettle_vcard::VirtualCard::from_profile(p).ok())?;
    let reader = format!("{NAME} 00 00");
    let conn = medsettle_vcard::VpcdConnection::connect(bed.reader(&reader).addr(), card).ok()?;
    Box::leak(Box::new((bed, conn)));
    Some(reader)
}

/// The demo card: `fixtures/cards/normal.json` with the PIN 123456 the sandbox knows.
fn demo_card() -> String {
    let mut card: serde_json::Value =
        serde_json::from_str(DEMO_CARD).expect("the demo card fixture is JSON");
    card["pin"] = serde_json::json!({ "value": "123456", "tries_left": 3 });
    serde_json::to_string_pretty(&card).expect("JSON serialises")
}

/// Runs the tour on its own thread once the API is up; with `exit`, stops the daemon after it
/// (SIGTERM to this process, so the stop is the normal drain) and exits 1 if it failed.
fn start_tour(listen: SocketAddr, token_file: &Path, sandbox: String, mode: TourMode) {
    let exit = mode == TourMode::ThenExit;
    let token = std::fs::read_to_string(token_file)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let tour = super::demo_tour::Tour {
        api: format!("http://{listen}"),
        token,
        sandbox,
    };
    let spawned = std::thread::Builder::new()
        .name("demo-tour".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the tour");
            runtime.block_on(super::demo_tour::print_status_link(&tour));
            if mode == TourMode::Skip {
                return;
            }
            let result = runtime.block_on(super::demo_tour::run(tour));
            if let Err(e) = &result {
                say(&format!("medsettle demo: the tour stopped: {e:#}"));
            }
            if exit {
                if result.is_err() {
                    std::process::exit(1);
                }
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(std::process::id().to_string())
                    .status();
            }
        });
    if let Err(e) = spawned {
        say(&format!("medsettle demo: cannot start the tour: {e}"));
    }
}

/// Where the demo's sandbox insurer listens and what it signs e-SSC codes with.
struct SandboxInfo {
    base_url: String,
    ec_url: String,
    essc_kid: String,
    essc_public_key_hex: String,
}

/// Starts the sandbox insurer on its own thread and runtime (it lives as long as the process).
fn start_sandbox(persons_dir: std::path::PathBuf) -> Result<SandboxInfo, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sandbox-insurer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let config = medsettle_sandbox::SandboxConfig {
                    persons_dir,
                    fixmedins_code: Some(DEMO_FIXMEDINS.to_owned()),
                    ..medsettle_sandbox::SandboxConfig::default()
                };
                match medsettle_sandbox::start(config).await {
                    Ok(sandbox) => {
                        let _ = tx.send(Ok(SandboxInfo {
                            base_url: sandbox.base_url(),
                            ec_url: sandbox.ec_url(),
                            essc_kid: sandbox.essc_kid(),
                            essc_public_key_hex: sandbox.essc_public_key_hex(),
                        }));
                        // Serve until the process exits.
                        std::future::pending::<()>().await;
                        drop(sandbox);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())?
}

const DEMO_FIXMEDINS: &str = "H11010500001";

/// `[upstream]` for the sandbox: plain HTTP on loopback, SM3 digests as in production.
fn demo_upstream(sandbox: &SandboxInfo) -> crate::config::UpstreamConfig {
    let text = format!(
        "base_url = \"{}\"\nec_url = \"{}\"\nallow_plain_http = true\nsigntype = \"SM3\"\n\
         opter = \"0001\"\nopter_name = \"演示收费员\"\n",
        sandbox.base_url, sandbox.ec_url
    );
    toml::from_str(&text).expect("the demo's upstream section is valid")
}

/// The sandbox's insured persons (fictional), written for it to load.
const PERSONS: [(&str, &str); 6] = [
    (
        "zhangsan.json",
        include_str!("../../fixtures/persons/zhangsan.json"),
    ),
    (
        "lisi.json",
        include_str!("../../fixtures/persons/lisi.json"),
    ),
    (
        "wangwu_suspended.json",
        include_str!("../../fixtures/persons/wangwu_suspended.json"),
    ),
    (
        "zhaoliu_zero.json",
        include_str!("../../fixtures/persons/zhaoliu_zero.json"),
    ),
    (
        "sunqi_resident.json",
        include_str!("../../fixtures/persons/sunqi_resident.json"),
    ),
    (
        "zhouba_crossregion.json",
        include_str!("../../fixtures/persons/zhouba_crossregion.json"),
    ),
];

fn write_persons(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in PERSONS {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The demo's virtual card: a valid third-generation card with fictional data.
const DEMO_CARD: &str = include_str!("../../fixtures/cards/normal.json");

/// Writes a fresh random token (mode 0600) unless one is already there.
fn ensure_token(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{}", hex::encode(bytes))
}
