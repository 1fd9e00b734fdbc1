//! `medsettle config check PATH`: validates a configuration file, checks that its secrets can
//! be loaded, and prints the effective configuration with secrets shown only as references.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Secret, SecretRef};

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
    // Outside the service a credential is the file the unit loads it from (`credentials.rs`).
    let resolved = super::credentials::resolve(&config.api.token, path);
    let creds = super::credentials::credentials_dir();
    match Secret::load(&resolved.reference, creds.as_deref()) {
        Ok(s) => {
            let from = match (&resolved.via, &resolved.reference) {
                (Some(_), SecretRef::File(p)) => format!(" via {}", p.display()),
                _ => String::new(),
            };
            println!(
                "# api.token: loaded from {}{from} ({} bytes)",
                config.api.token,
                s.len()
            );
            if s.world_readable {
                println!("# warning: the token file is readable by every user");
            }
        }
        Err(e) => println!(
            "# api.token: not loadable here: {}",
            super::credentials::describe(&config.api.token, &resolved, &e)
        ),
    }
    eprintln!("medsettle: {} is valid", path.display());
    ExitCode::SUCCESS
}
