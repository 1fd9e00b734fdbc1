//! `medsettle scan`: decode QR credentials from image files and say what they are — the
//! operator's check of the QR path without a running daemon.
//!
//! Per input it prints the decoded text (masked: a code is a credential and an e-SSC payload
//! carries an ID number), the classification, the validation result, the decoder that found it
//! and the decode time. e-SSC codes are verified against the configured issuer keys with an
//! in-memory replay guard, so checking a code here does not use it up. e-vouchers can only be
//! decoded online by the platform; here they get their local syntax check.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, QrConfig};
use crate::error::UserFacing;
use crate::qr::classify::{Scanned, classify};
use crate::qr::essc::{MemoryReplayGuard, Verifier};
use crate::qr::{Cascade, GreyImage};

/// Options of `scan`.
#[derive(Debug, clap::Args)]
pub(super) struct ScanArgs {
    /// Configuration file for the e-SSC issuer keys (`[qr]`); default: the installed one when
    /// it exists, else none (no key is known).
    #[arg(long, short, env = super::CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Image files (PNG, JPEG) to decode.
    #[arg(long = "image", num_args = 1.., required_unless_present_any = ["dir", "serial", "camera"], conflicts_with_all = ["dir", "serial", "camera"])]
    images: Vec<PathBuf>,
    /// A directory of images, decoded in name order.
    #[arg(long, conflicts_with = "serial")]
    dir: Option<PathBuf>,
    /// A counter scan box on this serial port: print each code it sends until `--count`
    /// codes or Ctrl-C.
    #[arg(long)]
    serial: Option<PathBuf>,
    /// A V4L2 camera by index (0 = /dev/video0) or by device path
    /// (`/dev/v4l/by-id/usb-…-video-index0`): print each code it sees until `--count` codes or
    /// Ctrl-C. Needs a build with `--features v4l` (the Debian package has it).
    #[arg(long, conflicts_with_all = ["dir", "serial"])]
    camera: Option<medsettle_camera::CameraDevice>,
    /// With `--serial` or `--camera`: stop after this many codes.
    #[arg(long)]
    count: Option<u64>,
    /// With `--serial`: the port's baud rate.
    #[arg(long, default_value_t = 9600, requires = "serial")]
    baud: u32,
    /// One JSON object per input instead of text.
    #[arg(long)]
    json: bool,
    /// Print codes and identities in clear.
    #[arg(long)]
    reveal: bool,
}

pub(super) fn execute(args: ScanArgs) -> ExitCode {
    let qr = match super::card::device_config_path(args.config.as_deref()) {
        Some(path) => match Config::load(&path) {
            Ok(c) => c.qr,
            Err(e) => {
                eprintln!("medsettle: configuration error:\n{e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        },
        None => QrConfig::default(),
    };
    let keys = match qr.key_ring() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("medsettle: `qr.essc_keys`: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let verifier = Verifier::new(keys).with_skew(qr.essc_skew_secs);
    if let Some(port) = args.serial.clone() {
        return serial(port, &args, &verifier);
    }
    if let Some(device) = args.camera.clone() {
        return camera(device, &args, &verifier, qr.debounce_ms);
    }
    let inputs = match inputs(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("medsettle: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cascade = Cascade::default();
    let guard = MemoryReplayGuard::new(1024);
    let now = chrono::Utc::now().timestamp();
    let mut all_ok = true;
    for path in inputs {
        let report = scan_one(&path, &cascade, &verifier, &guard, now, args.reveal);
        all_ok &= report["valid"] == true;
        if args.json {
            println!("{report}");
        } else {
            print_text(&report);
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Decodes a live camera's frames (newest frame wins) and reports each code once.
#[cfg(feature = "v4l")]
fn camera(
    device: medsettle_camera::CameraDevice,
    args: &ScanArgs,
    verifier: &Verifier,
    debounce_ms: u64,
) -> ExitCode {
    use crate::qr::{Debouncer, Mailbox, run_decoder};
    use std::sync::Arc;
    // The source would wait for the camera to be plugged in; a command should say so.
    let node = match device.node() {
        Ok(node) if node.exists() => node,
        Ok(node) => {
            eprintln!(
                "medsettle: camera {device}: {} does not exist (is the camera plugged in?)",
                node.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("medsettle: camera {device}: {e} (is the camera plugged in?)");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = device.resolve() {
        eprintln!("medsettle: camera {device}: {e}");
        return ExitCode::FAILURE;
    }
    let index = device.to_string();
    let source = medsettle_camera::V4lSource::new(medsettle_camera::CameraConfig {
        device,
        ..Default::default()
    });
    let mailbox = Arc::new(Mailbox::new());
    let capture = medsettle_camera::spawn_capture(source, Arc::clone(&mailbox));
    let cascade = Cascade::default();
    let mut debounce = Debouncer::new(std::time::Duration::from_millis(debounce_ms));
    let guard = MemoryReplayGuard::new(1024);
    eprintln!("medsettle: reading {} (Ctrl-C to stop)", node.display());
    let mut seen = 0;
    run_decoder(&mailbox, &cascade, &mut debounce, |scan| {
        let mut r = report(
            &format!("camera:{index}"),
            &scan.decoded.bytes,
            Some(format!("{}/{:?}", scan.decoder, scan.variant)),
            verifier,
            &guard,
            chrono::Utc::now().timestamp(),
            args.reveal,
        );
        r["decode_ms"] = ((scan.decode_time.as_secs_f64() * 1e5).round() / 100.0).into();
        if args.json {
            println!("{r}");
        } else {
            print_text(&r);
        }
        seen += 1;
        if args.count.is_some_and(|n| seen >= n) {
            mailbox.close();
        }
    });
    if args.count.is_some_and(|n| seen >= n) {
        // Done: the capture thread ends with the process.
        return ExitCode::SUCCESS;
    }
    // The decoder loop ended because the camera source did: report why.
    match capture.join() {
        Ok(Err(e)) => {
            eprintln!("medsettle: camera {index}: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Without the `v4l` feature there is no camera driver in this build.
#[cfg(not(feature = "v4l"))]
fn camera(device: medsettle_camera::CameraDevice, _: &ScanArgs, _: &Verifier, _: u64) -> ExitCode {
    eprintln!(
        "medsettle: camera {device}: this build has no camera driver; rebuild with \
         `cargo build --release --features v4l` (needs libclang-dev and libv4l-dev)"
    );
    ExitCode::FAILURE
}

/// Reads codes from a scan box and reports each like an image input.
fn serial(port: PathBuf, args: &ScanArgs, verifier: &Verifier) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("medsettle: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let guard = MemoryReplayGuard::new(1024);
    let config = medsettle_scanner::serial::SerialConfig {
        path: port.clone(),
        baud: args.baud,
        ..Default::default()
    };
    runtime.block_on(async {
        let (sink, mut rx) = medsettle_scanner::channel(8);
        tokio::spawn(medsettle_scanner::serial::run_serial(config, sink, async {
            let _ = tokio::signal::ctrl_c().await;
        }));
        eprintln!(
            "medsettle: waiting for codes on {} (Ctrl-C to stop)",
            port.display()
        );
        let mut seen = 0;
        while let Some(scan) = rx.scans.recv().await {
            let r = report(
                &format!("serial:{}", port.display()),
                &scan.bytes,
                None,
                verifier,
                &guard,
                chrono::Utc::now().timestamp(),
                args.reveal,
            );
            if args.json {
                println!("{r}");
            } else {
                print_text(&r);
            }
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                break;
            }
        }
    });
    ExitCode::SUCCESS
}

fn inputs(args: &ScanArgs) -> Result<Vec<PathBuf>, String> {
    match &args.dir {
        Some(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                    })
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!("no PNG or JPEG images in {}", dir.display()));
            }
            Ok(files)
        }
        None => Ok(args.images.clone()),
    }
}

fn scan_one(
    path: &Path,
    cascade: &Cascade,
    verifier: &Verifier,
    guard: &MemoryReplayGuard,
    now: i64,
    reveal: bool,
) -> serde_json::Value {
    let file = path.display().to_string();
    let (w, h, pixels) = match medsettle_camera::load_grey(path) {
        Ok(v) => v,
        Err(e) => {
            return serde_json::json!({ "file": file, "valid": false, "error": e.to_string() });
        }
    };
    let Some(img) = GreyImage::new(w as usize, h as usize, &pixels) else {
        return serde_json::json!({ "file": file, "valid": false, "error": "image has no pixels" });
    };
    let outcome = cascade.decode(img);
    let ms = outcome.elapsed.as_secs_f64() * 1e3;
    let decoder = outcome
        .hit
        .map(|h| format!("{}/{:?}", h.decoder, h.variant));
    let Some(decoded) = outcome.decoded.first() else {
        return serde_json::json!({ "file": file, "valid": false, "code": "qr.no_code",
            "error": "no QR code found", "decode_ms": ms });
    };
    let mut r = report(&file, &decoded.bytes, decoder, verifier, guard, now, reveal);
    r["decode_ms"] = ((ms * 100.0).round() / 100.0).into();
    r
}

/// Classifies and validates one code; the JSON every input kind prints.
fn report(
    file: &str,
    bytes: &[u8],
    decoder: Option<String>,
    verifier: &Verifier,
    guard: &MemoryReplayGuard,
    now: i64,
    reveal: bool,
) -> serde_json::Value {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let shown = if reveal {
        text.clone()
    } else {
        mask_code(&text)
    };
    let (kind, valid, detail) = match classify(bytes) {
        Ok(Scanned::Essc(code)) => match verifier.verify(&code, now, guard) {
            Ok(id) => {
                let who = if reveal {
                    format!(
                        "{} {} region {} (kid {})",
                        id.sn.expose(),
                        id.name.expose(),
                        id.region,
                        id.kid
                    )
                } else {
                    id.to_string()
                };
                (
                    "e-ssc",
                    true,
                    serde_json::json!({ "identity": who, "exp": id.exp }),
                )
            }
            Err(e) => ("e-ssc", false, refusal(&e)),
        },
        Ok(Scanned::EVoucher(_)) => (
            "e-voucher",
            true,
            serde_json::json!({ "note": "syntax ok; only the platform (ec.query) can decode it" }),
        ),
        Err(e) => ("unknown", false, refusal(&e)),
    };
    serde_json::json!({
        "file": file, "text": shown, "kind": kind, "valid": valid, "result": detail,
        "decoder": decoder, "decode_ms": null,
    })
}

fn refusal(e: &dyn UserFacing) -> serde_json::Value {
    serde_json::json!({ "code": e.code(), "message_zh": e.message_zh(), "message_en": e.message_en() })
}

/// A code shortened to its first 10 and last 4 characters.
fn mask_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 16 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail} ({} chars)", chars.len())
}

fn print_text(r: &serde_json::Value) {
    let s = |v: &serde_json::Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    println!("{}", s(&r["file"]));
    if let Some(e) = r.get("error") {
        println!("  error     {}", s(e));
        return;
    }
    println!("  text      {}", s(&r["text"]));
    println!("  kind      {}", s(&r["kind"]));
    let result = &r["result"];
    if r["valid"] == true {
        let what = result
            .get("identity")
            .or_else(|| result.get("note"))
            .map(s)
            .unwrap_or_default();
        println!("  valid     yes — {what}");
    } else {
        println!(
            "  valid     no — {}: {} / {}",
            s(&result["code"]),
            s(&result["message_zh"]),
            s(&result["message_en"])
        );
    }
    println!("  decoder   {} in {} ms", s(&r["decoder"]), r["decode_ms"]);
}
