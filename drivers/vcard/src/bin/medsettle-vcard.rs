//! `medsettle-vcard`: plugs one virtual card into a vpcd reader until interrupted.
//! Thin: parses arguments, loads the profile, runs a [`VpcdConnection`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use medsettle_vcard::{DEFAULT_VPCD_PORT, Profile, VirtualCard, VpcdConnection};

const USAGE: &str = "usage: medsettle-vcard --profile FILE [--host HOST] [--port PORT] [--latency-ms N]\n\
  Connects a virtual social security card to vpcd (default 127.0.0.1:35963, reader 'Virtual PCD 00 00').\n\
  Stop with Ctrl-C (the card is removed when the process exits).";

struct Args {
    profile: String,
    host: String,
    port: u16,
    latency_ms: Option<u64>,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        profile: String::new(),
        host: "127.0.0.1".to_owned(),
        port: DEFAULT_VPCD_PORT,
        latency_ms: None,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--profile" => args.profile = value()?,
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--latency-ms" => {
                args.latency_ms = Some(value()?.parse().map_err(|e| format!("--latency-ms: {e}"))?)
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.profile.is_empty() {
        return Err("--profile is required".to_owned());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut profile = match Profile::load(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(ms) = args.latency_ms {
        profile.latency_ms = ms;
    }
    let addr: SocketAddr = match (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            eprintln!("error: cannot resolve {}:{}", args.host, args.port);
            return ExitCode::FAILURE;
        }
    };
    eprintln!("{}: {}", args.profile, profile.description);
    let card = match VirtualCard::from_profile(profile) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let conn = match VpcdConnection::connect(addr, card) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("card inserted into vpcd at {addr}; Ctrl-C to remove");
    let mut last = (false, 0);
    loop {
        let now = (conn.is_connected(), conn.apdu_count());
        if now != last {
            eprintln!("connected={} apdus={}", now.0, now.1);
            last = now;
        }
        if !conn.is_inserted() {
            eprintln!("the profile's fault removed the card; exiting");
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
