//! `medsettle demo`: the daemon on built-in defaults, with everything under `./var` and no
//! hardware. Creates a random API token on first run and prints how to call the API.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use medsettle::config::Config;

pub(super) fn execute(var: &Path, listen: SocketAddr) -> ExitCode {
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
    let token_path = var.join("api-token");
    if let Err(e) = ensure_token(&token_path) {
        eprintln!(
            "medsettle demo: cannot create the API token {}: {e}",
            token_path.display()
        );
        return ExitCode::FAILURE;
    }
    let profile = var.join("virtual-card.json");
    if let Err(e) = std::fs::write(&profile, DEMO_CARD) {
        eprintln!("medsettle demo: cannot write {}: {e}", profile.display());
        return ExitCode::FAILURE;
    }
    let mut config = Config::demo(&var, listen);
    config.readers.backend = medsettle::config::ReaderBackend::Virtual;
    config.readers.virtual_profile = Some(profile);
    let db = config.store.path.clone();
    let banner = move |listen: SocketAddr| {
        format!(
            "\nmedsettle demo is running (演示模式)\n  \
             API       http://{listen}\n  \
             database  {db}\n  \
             token     {tok}\n  \
             try       curl -H \"Authorization: Bearer $(cat {tok})\" http://{listen}/v1/status\n  \
             card      curl -X POST -H \"Authorization: Bearer $(cat {tok})\" http://{listen}/v1/card/read\n  \
             stop      Ctrl-C\n",
            db = db.display(),
            tok = token_path.display(),
        )
    };
    super::run::serve(config, None, Some(Box::new(banner)))
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
