//! `medsettle-sandbox`: runs the sandbox insurer until Ctrl-C or SIGTERM. Thin: parses the
//! arguments, builds a [`SandboxConfig`], calls [`medsettle_sandbox::start`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use medsettle_sandbox::{FaultRule, SandboxConfig, SandboxError};

/// Sandbox insurer: the national medical-insurance platform protocol on loopback.
#[derive(Debug, Parser)]
#[command(name = "medsettle-sandbox", version)]
struct Args {
    /// Address to listen on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:8890")]
    listen: SocketAddr,
    /// Directory of person files.
    #[arg(long, default_value = "fixtures/persons")]
    persons: PathBuf,
    /// JSON file with an array of fault rules active from the start.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// The terminal's SM2 public key (uncompressed SEC1 hex) for signtype SM2.
    #[arg(long)]
    sm2_public: Option<String>,
    /// Require this fixmedins_code on every request.
    #[arg(long)]
    fixmedins_code: Option<String>,
    /// Protocol endpoint path.
    #[arg(long, default_value = medsettle_sandbox::DEFAULT_PATH)]
    path: String,
    /// E-voucher endpoint path.
    #[arg(long, default_value = medsettle_sandbox::DEFAULT_EC_PATH)]
    ec_path: String,
    /// Lifetime of an ecToken, seconds.
    #[arg(long, default_value_t = 300)]
    ec_token_ttl_secs: u64,
    /// The e-SSC issuer secret key (64 hex); a fresh key when absent.
    #[arg(long, env = "MEDSETTLE_SANDBOX_ESSC_SECRET")]
    essc_secret: Option<String>,
    /// The e-SSC key id.
    #[arg(long, default_value = "sandbox-1")]
    essc_kid: String,
}

fn load_faults(path: &PathBuf) -> Result<Vec<FaultRule>, SandboxError> {
    let bad = |reason: String| SandboxError::FaultFile {
        file: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

async fn run(args: Args) -> Result<(), SandboxError> {
    let faults = match &args.faults {
        Some(path) => load_faults(path)?,
        None => Vec::new(),
    };
    let config = SandboxConfig {
        listen: args.listen,
        persons_dir: args.persons,
        fixmedins_code: args.fixmedins_code,
        path: args.path,
        ec_path: args.ec_path,
        sm2_public_hex: args.sm2_public,
        ec_token_ttl_secs: args.ec_token_ttl_secs,
        essc_issuer_secret_hex: args.essc_secret,
        essc_kid: args.essc_kid,
        faults,
        ..SandboxConfig::default()
    };
    let sandbox = medsettle_sandbox::start(config).await?;
    println!("base_url {}", sandbox.base_url());
    println!("url {}", sandbox.url());
    println!("ec_url {}", sandbox.ec_url());
    println!("essc_kid {}", sandbox.essc_kid());
    println!("essc_public_key_hex {}", sandbox.essc_public_key_hex());
    wait_for_signal().await;
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medsettle-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
