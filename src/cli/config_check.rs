//! `medsettle config check PATH`: validates a configuration file, checks that its secrets can
//! be loaded, and prints the effective configuration with secrets shown only as references.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, Secret};

pub(super) fn execute(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("medsettle: {} has errors", path.display());
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    println!(
        "# effective configuration of {} (secrets are never shown)",
        path.display()
    );
    print!("{}", config.to_toml());
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    match Secret::load(&config.api.token, creds.as_deref()) {
        Ok(s) => {
            println!(
                "# api.token: loaded from {} ({} bytes)",
                config.api.token,
                s.len()
            );
            if s.world_readable {
                println!("# warning: the token file is readable by every user");
            }
        }
        Err(e) => println!("# api.token: not loadable here: {e}"),
    }
    eprintln!("medsettle: {} is valid", path.display());
    ExitCode::SUCCESS
}
