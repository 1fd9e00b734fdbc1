//! The command line: `config check`, `run` with a broken config, `version`.

use crate::support::Terminal;
use crate::support::process::run_cli;

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let t = Terminal::new();
    let path = t.write_config();
    let (status, out, err) = run_cli(&["config", "check", path.to_str().unwrap()], None);
    assert!(status.success(), "{err}");
    assert!(out.contains("fixmedins_code = \"H11010500001\""), "{out}");
    assert!(
        out.contains("busy_timeout_ms = 5000"),
        "defaults are shown: {out}"
    );
    assert!(out.contains("api.token: loaded"), "{out}");
    assert!(
        !out.contains(crate::support::TOKEN),
        "the token value leaked: {out}"
    );
    assert!(err.contains("is valid"));
}

#[test]
fn config_check_names_key_and_line_and_exits_78() {
    let t = Terminal::with(|x| x.push_str("\n[daemon]\nshutdown_grace = 5\n"));
    let path = t.write_config();
    let (status, _, err) = run_cli(&["config", "check", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(78));
    let line = t
        .config_text()
        .lines()
        .position(|l| l.starts_with("shutdown_grace"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(":{line}: `daemon.shutdown_grace`: unknown field")),
        "{err}"
    );
}

#[test]
fn run_refuses_a_broken_config_before_touching_anything() {
    let t = Terminal::with(|x| x.push_str("\n[log]\nlevel = \"loud\"\n"));
    let path = t.write_config();
    let (status, _, err) = run_cli(&["run", "--config", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(78));
    assert!(err.contains("`log.level`"), "{err}");
    assert!(
        !t.db_path().exists(),
        "no database is created for a config that does not load"
    );
}

/// A credential error at start is a configuration error: exit 78, which the unit does not
/// restart (`RestartPreventExitStatus=78`), and nothing is created.
#[test]
fn run_reports_a_missing_token_file_by_key_and_exits_78() {
    let t = Terminal::new();
    std::fs::remove_file(t.path().join("api-token")).unwrap();
    let path = t.write_config();
    let (status, _, err) = run_cli(&["run", "--config", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(78), "{err}");
    assert!(err.contains("`api.token`"), "{err}");
    assert!(
        !t.db_path().exists(),
        "no database for a start that failed on its token"
    );
}

/// A `{ credential = … }` token outside systemd (no $CREDENTIALS_DIRECTORY): still 78.
#[test]
fn run_with_a_credential_but_no_credentials_directory_exits_78() {
    let t = Terminal::new();
    let text = t.config_text().replace(
        &format!("{{ file = \"{}\" }}", t.path().join("api-token").display()),
        "{ credential = \"api-token\" }",
    );
    let path = t.path().join("cred.toml");
    std::fs::write(&path, text).unwrap();
    let (status, _, err) = run_cli(&["run", "--config", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(78), "{err}");
    assert!(err.contains("CREDENTIALS_DIRECTORY"), "{err}");
}

/// A start that fails after logging is up says so once, through the log (which systemd puts in
/// the journal with the unit): exit 1, since a busy or missing address may come back.
#[test]
fn run_reports_a_start_failure_once() {
    let t = Terminal::new();
    // TEST-NET-1: never an address of this machine, so the bind fails at once.
    let text = t
        .config_text()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"192.0.2.1:1\"");
    let path = t.path().join("unbindable.toml");
    std::fs::write(&path, text).unwrap();
    let (status, out, err) = run_cli(&["run", "--config", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert_eq!(
        err.matches("cannot listen on 192.0.2.1:1").count(),
        1,
        "reported once: {err}"
    );
}

#[test]
fn version_names_the_schema() {
    let (status, out, _) = run_cli(&["version"], None);
    assert!(status.success());
    assert!(
        out.starts_with(&format!("medsettle {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("schema v"));
}

#[tokio::test]
async fn demo_serves_on_built_in_defaults_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let var = dir.path().join("var");
    let p = crate::support::Process::launch(
        dir.path(),
        &[
            "demo".as_ref(),
            "--var".as_ref(),
            var.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--no-tour".as_ref(),
        ],
        |_| {},
    )
    .await;
    let token = std::fs::read_to_string(var.join("api-token")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(var.join("api-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the demo token must be private");
    let resp = crate::support::client()
        .get(p.url("/v1/status"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let status: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status["phase"], "running");
    assert!(var.join("medsettle.db").exists());
    p.signal(2);
    let (exit, log) = p.wait();
    assert_eq!(exit.code(), Some(0), "{log}");
}

/// `make demo`'s tour, as a test: every kind of sale through the real binary's API against its
/// sandbox insurer, the outage and the forwarding, a settled and an abandoned outpatient visit,
/// the end-of-day balance; then a clean stop.
#[tokio::test]
async fn the_demo_tour_runs_every_sale_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let var = dir.path().join("var");
    let var_arg = var.to_str().unwrap().to_owned();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        crate::support::process::run_cli(
            &[
                "demo",
                "--var",
                &var_arg,
                "--listen",
                "127.0.0.1:0",
                "--exit-after-tour",
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert!(status.success(), "{out}\n{err}");
    // The terminal shows the banner and the tour; the daemon's log is in the file the banner
    // names.
    let log_file = var.join("medsettle.log");
    assert!(
        out.contains(&format!("log       {}", log_file.display())),
        "{out}"
    );
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("medsettle::store::migrate"), "{log}");
    for line in out.lines().chain(err.lines()) {
        assert!(
            !line.contains(" INFO ") && !line.contains(" WARN ") && !line.contains("medsettle::"),
            "a log line on the terminal: {line}"
        );
    }
    // No camera: the only scans are the tour's, handed over by the API: three boxes' barcodes
    // (two trace codes and a 商品码) and two patients' codes.
    let scans: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("QR code scanned"))
        .collect();
    assert_eq!(scans.len(), 5, "{log}");
    assert!(scans.iter().all(|l| l.contains("source=manual")), "{log}");
    for step in [
        "① 刷卡结算 Online card sale",
        "trace.commodity_code",
        "line 1 now has 2 box(es)",
        "追溯码上报 trace report (3505): 1 line(s), 2 box(es) → sent",
        "② 电子社保卡码结算 e-SSC QR sale",
        "③ 医保码结算 e-voucher QR sale",
        "④ 医保平台中断 Platform outage",
        "sale.offline",
        "脱机保存 stored: state=\"queued\"",
        "refund due to the patient",
        "⑤ 门诊就诊结算 Outpatient visit",
        "已结算 settled (2207)",
        "⑥ 放弃就诊 Abandoned visit",
        "撤销费用明细 2205 → 撤销挂号 2202: abandoned (platform holds nothing: true)",
        "cancelled with 0 fee line(s)",
        "⑦ 日终对账 End-of-day reconciliation",
        "Tour done",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    // Four sales and one visit settled.
    assert_eq!(out.matches("已结算 settled").count(), 5, "{out}");
    assert!(!out.contains("NOT balanced"), "{out}");
    assert!(
        !out.contains("110105199003071239") && !out.contains("测试张三"),
        "{out}"
    );
}

/// A terminal whose reader stack is the in-process virtual reader holding `profile`.
fn virtual_terminal(profile: &str) -> (Terminal, std::path::PathBuf) {
    let card = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cards")
        .join(format!("{profile}.json"));
    let t = Terminal::new();
    let text = t.config_with_virtual_card(card);
    let path = t.path().join("virtual.toml");
    std::fs::write(&path, text).unwrap();
    (t, path)
}

#[test]
fn readers_lists_the_virtual_slot() {
    let (_t, cfg) = virtual_terminal("contactless");
    let (status, out, err) = run_cli(&["readers", "-c", cfg.to_str().unwrap()], None);
    assert!(status.success(), "{err}");
    assert!(out.contains("medsettle Virtual Reader 00 00"), "{out}");
    assert!(out.contains("contactless") && out.contains("yes"), "{out}");
}

#[test]
fn read_card_masks_unless_revealed() {
    let (_t, cfg) = virtual_terminal("normal");
    let cfg = cfg.to_str().unwrap();
    let (status, out, err) = run_cli(&["read-card", "-c", cfg, "--line"], None);
    assert!(status.success(), "{err}");
    assert!(!out.contains("110105199003071239"), "{out}");
    assert!(!out.contains("测试张三"), "{out}");
    assert!(out.starts_with("110105|110105********1239|"), "{out}");
    let (status, out, _) = run_cli(&["read-card", "-c", cfg, "--line", "--reveal"], None);
    assert!(status.success());
    assert_eq!(
        out.trim(),
        "110105|110105199003071239|M12345678|110105D15600000500A1B2C3D4E5F601|测试张三|\
         4D534554544C45303031|3.00|20210315|20310315|T0001||"
    );
    let (status, out, _) = run_cli(&["read-card", "-c", cfg, "--json"], None);
    assert!(status.success());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["record"]["holder"]["id_number"], "110105********1239");
    assert_eq!(v["apdus"], 13);
}

#[test]
fn read_card_fails_with_the_error_code() {
    let (_t, cfg) = virtual_terminal("expired");
    let (status, out, err) = run_cli(&["read-card", "-c", cfg.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("card.expired"), "{err}");
    assert!(err.contains("过有效期"), "{err}");
}

/// Writes `text` as a QR code PNG (4-pixel modules, quiet zone) to `path`.
pub fn qr_png(text: &str, path: &std::path::Path) {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let width = code.width();
    let colors = code.to_colors();
    let scale = 4;
    let quiet = 4;
    let side = ((width + 2 * quiet) * scale) as u32;
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x as usize / scale, y as usize / scale);
        let dark = mx >= quiet
            && my >= quiet
            && mx < width + quiet
            && my < width + quiet
            && colors[(my - quiet) * width + (mx - quiet)] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    img.save(path).unwrap();
}

#[test]
fn scan_classifies_verifies_and_masks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, keys) = crate::qr::fresh_essc();
    let t = Terminal::new();
    let png = t.path().join("essc.png");
    qr_png(&code, &png);
    let cfg = t.path().join("qr.toml");
    let text = format!("{}\n[qr]\n{keys}\n", t.config_text());
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();

    let (status, out, err) = run_cli(
        &[
            "scan",
            "-c",
            cfg,
            "--image",
            png.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(status.success(), "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["kind"], "e-ssc", "{r}");
    assert_eq!(r["valid"], true, "{r}");
    assert!(r["decoder"].as_str().is_some(), "{r}");
    assert!(
        !out.contains("11010519491231002X") && !out.contains("张三"),
        "{out}"
    );
    assert!(
        !out.contains(&code),
        "the code itself is a credential: {out}"
    );
    assert!(out.contains("110105********002X"), "{out}");

    // Without the issuer key the same code is refused with the stable code.
    let (status, out, _) = run_cli(&["scan", "--image", png.to_str().unwrap(), "--json"], None);
    assert_eq!(status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["result"]["code"], "essc.unknown_kid", "{r}");

    // A URL-shaped e-voucher from the fixture frames passes the local syntax check; only the
    // platform can decode it.
    let url = root.join("fixtures/qr/frames/001-1280x720-url.jpg");
    let (status, out, _) = run_cli(&["scan", "--image", url.to_str().unwrap()], None);
    assert!(status.success(), "{out}");
    assert!(out.contains("kind      e-voucher"), "{out}");
    assert!(out.contains("ec.query"), "{out}");
    // A garbage code (too short for either kind) is refused with its code.
    let short = t.path().join("short.png");
    qr_png("12345", &short);
    let (status, out, _) = run_cli(&["scan", "--image", short.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(1));
    assert!(out.contains("qr.too_short"), "{out}");
}

#[test]
fn scan_reads_codes_from_a_serial_scan_box() {
    use std::io::Write as _;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let port = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    // Raw mode from the start, so bytes written before the command opens the port arrive
    // untouched by the line discipline.
    let mut tio = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
    nix::sys::termios::cfmakeraw(&mut tio);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &tio).unwrap();
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(b"0123456789ABCDEFGHIJ-EVOUCHER\r")
        .unwrap();
    let (status, out, err) = run_cli(
        &[
            "scan",
            "--serial",
            port.to_str().unwrap(),
            "--count",
            "1",
            "--json",
        ],
        None,
    );
    assert!(status.success(), "{err}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["kind"], "e-voucher", "{r}");
    assert_eq!(r["file"], format!("serial:{}", port.display()));
    assert_eq!(r["text"], "0123456789…CHER (29 chars)", "masked: {r}");
    drop(pty.slave);
}

#[test]
fn scan_without_a_camera_driver_says_how_to_get_one() {
    let (status, out, err) = run_cli(&["scan", "--camera", "0"], None);
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty(), "{out}");
    // Default builds have no V4L2 driver; a `--features v4l` build finds no /dev/video0 here.
    assert!(
        err.contains("--features v4l") || err.contains("/dev/video0 does not exist"),
        "{err}"
    );
}

#[test]
fn a_camera_the_build_cannot_drive_stops_the_start_with_the_key() {
    let t = Terminal::new();
    let text = t
        .config_text()
        .replace("[readers]", "[qr]\ncamera_index = 7\n\n[readers]");
    let path = t.path().join("camera.toml");
    std::fs::write(&path, text).unwrap();
    let (status, _, err) = run_cli(&["run", "--config", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("qr.camera_index"), "{err}");
}
