//! `medsettle doctor` as the operator runs it: the real binary against a healthy terminal
//! (virtual reader, sandbox platform on loopback, fresh database) and against terminals broken
//! one way each, checking the exit code, the failing row's fix text, and that `--json` agrees.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use medsettle_sandbox::SandboxConfig;
use serde_json::Value;

use crate::support::Terminal;
use crate::support::process::run_cli;

/// Runs `medsettle doctor -c CONFIG` twice (table, then `--json`); returns the exit code, the
/// table and the parsed JSON, after checking that `ok` matches the exit code.
fn doctor(config: &Path) -> (i32, String, Value) {
    let cfg = config.to_str().unwrap();
    let (status, table, err) = run_cli(&["doctor", "-c", cfg], None);
    let code = status.code().unwrap();
    let (json_status, out, _) = run_cli(&["doctor", "-c", cfg, "--json"], None);
    assert_eq!(json_status.code().unwrap(), code, "{table}\n{err}");
    let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(json["ok"], code == 0, "{out}");
    (code, table, json)
}

/// The check named `name` in the JSON report.
fn check<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {json:#}"))
}

/// Writes `config_text` (with `edit` applied) next to the terminal's and returns its path;
/// the token file is made private so only what a test breaks shows up.
fn write(t: &Terminal, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let token = t.path().join("api-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = t.path().join("doctor.toml");
    std::fs::write(&path, edit(t.config_text())).unwrap();
    path
}

fn virtual_reader(text: String) -> String {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    text.replace(
        "backend = \"none\"",
        &format!("backend = \"virtual\"\nvirtual_profile = \"{profile}\""),
    )
}

#[tokio::test]
async fn doctor_healthy_terminal_is_all_ok_or_skip() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let camera = tempfile::tempdir().unwrap();
    std::fs::write(camera.path().join("code.png"), b"not decoded by doctor").unwrap();
    let t = Terminal::with(|x| {
        x.push_str(&format!(
            "\n[qr]\ncamera_dir = \"{}\"\n\n[upstream]\nbase_url = \"{}\"\nallow_plain_http = true\nsigntype = \"SM3\"\nconnect_timeout_ms = 500\n",
            camera.path().display(),
            sandbox.base_url()
        ));
    });
    // A fresh database, as the daemon leaves it.
    let (store, _) =
        medsettle::store::Store::open(&t.db_path(), std::time::Duration::from_secs(1)).unwrap();
    store.close().await.unwrap();
    let config = write(&t, virtual_reader);
    let (code, table, json) = tokio::task::spawn_blocking(move || doctor(&config))
        .await
        .unwrap();
    assert_eq!(code, 0, "{table}");
    for c in json["checks"].as_array().unwrap() {
        assert!(c["result"] == "ok" || c["result"] == "skip", "{table}");
        assert!(c["fix"].is_null(), "{c}");
    }
    for name in [
        "config",
        "secret api.token",
        "pcscd",
        "camera",
        "disk",
        "database",
        "queue",
        "upstream.dns",
        "upstream.tcp",
        "upstream.signin",
        "upstream.clock",
    ] {
        assert_eq!(check(&json, name)["result"], "ok", "{name}\n{table}");
    }
    assert!(table.starts_with("CHECK 检查"), "{table}");
    assert!(table.contains("OK — 0 failed, 0 warnings"), "{table}");
    sandbox.shutdown().await;
}

#[test]
fn doctor_unreachable_platform_fails_with_a_network_fix() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Terminal::with(|x| {
        x.push_str(&format!(
            "\n[upstream]\nbase_url = \"http://127.0.0.1:{port}\"\nallow_plain_http = true\nconnect_timeout_ms = 500\n"
        ));
    });
    let (code, table, json) = doctor(&write(&t, |s| s));
    assert_eq!(code, 1, "{table}");
    let tcp = check(&json, "upstream.tcp");
    assert_eq!(tcp["result"], "fail");
    assert!(tcp["fix"].as_str().unwrap().contains("防火墙"), "{tcp}");
    assert!(
        table.contains("check the network, gateway and firewall"),
        "{table}"
    );
}

#[test]
fn doctor_missing_camera_dir_fails() {
    let t = Terminal::with(|x| x.push_str("\n[qr]\ncamera_dir = \"/nonexistent/medsettle-qr\"\n"));
    let (code, table, json) = doctor(&write(&t, |s| s));
    assert_eq!(code, 1, "{table}");
    let camera = check(&json, "camera");
    assert_eq!(camera["result"], "fail");
    assert_eq!(
        camera["fix"],
        "创建目录或修正 qr.camera_dir / create the directory or fix qr.camera_dir"
    );
}

#[test]
fn doctor_follows_a_camera_by_id_path_and_judges_where_it_leads() {
    let t = Terminal::new();
    let by_id = t.path().join("by-id");
    std::fs::create_dir(&by_id).unwrap();
    // A by-id link that leads to something other than a videoN node (a serial port's, say).
    let not_video = t.path().join("ttyACM0");
    std::fs::write(&not_video, b"").unwrap();
    let wrong = by_id.join("usb-Acme_QR_Cam_0001-video-index0");
    std::os::unix::fs::symlink(&not_video, &wrong).unwrap();
    let config = write(&t, |s| {
        s + &format!("\n[qr]\ncamera_device = \"{}\"\n", wrong.display())
    });
    let (code, table, json) = doctor(&config);
    assert_eq!(code, 1, "{table}");
    let camera = check(&json, "camera");
    assert_eq!(camera["result"], "fail", "{camera}");
    let detail = camera["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("→ {}", not_video.display()))
            && detail.contains("not a /dev/videoN camera node"),
        "{detail}"
    );

    // Unplugged: the link is gone.
    std::fs::remove_file(&wrong).unwrap();
    let (code, table, json) = doctor(&config);
    assert_eq!(code, 1, "{table}");
    let camera = check(&json, "camera");
    assert!(
        camera["detail"]
            .as_str()
            .unwrap()
            .ends_with("does not exist")
            && camera["fix"].as_str().unwrap().contains("qr.camera_device"),
        "{camera}"
    );
}

#[test]
fn doctor_missing_serial_scan_box_fails() {
    let t = Terminal::with(|x| x.push_str("\n[qr]\nserial = \"/dev/ttyMEDSETTLE-NONE\"\n"));
    let (code, table, json) = doctor(&write(&t, |s| s));
    assert_eq!(code, 1, "{table}");
    let serial = check(&json, "scanbox.serial");
    assert_eq!(serial["result"], "fail");
    assert!(
        serial["fix"]
            .as_str()
            .unwrap()
            .contains("/dev/serial/by-id/"),
        "{serial}"
    );
}

#[test]
fn doctor_corrupt_database_fails_and_leaves_the_file_alone() {
    let t = Terminal::new();
    let garbage = b"this is not an SQLite database, just garbage bytes ".repeat(100);
    std::fs::write(t.db_path(), &garbage).unwrap();
    let (code, table, json) = doctor(&write(&t, |s| s));
    assert_eq!(code, 1, "{table}");
    let db = check(&json, "database");
    assert_eq!(db["result"], "fail");
    assert!(db["fix"].as_str().unwrap().contains("moved aside"), "{db}");
    // Diagnosing must not quarantine, migrate or rewrite anything.
    assert_eq!(std::fs::read(t.db_path()).unwrap(), garbage);
    let names: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("medsettle.db"))
        .collect();
    assert_eq!(names, ["medsettle.db"]);
}

#[test]
fn doctor_world_readable_token_only_warns() {
    let t = Terminal::new();
    let config = write(&t, |s| s);
    let token = t.path().join("api-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, table, json) = doctor(&config);
    assert_eq!(code, 0, "{table}");
    let secret = check(&json, "secret api.token");
    assert_eq!(secret["result"], "warn");
    assert!(
        secret["fix"].as_str().unwrap().contains("chmod 0640"),
        "{secret}"
    );
    assert!(
        !table.contains(crate::support::TOKEN),
        "the token leaked:\n{table}"
    );
}

#[test]
fn doctor_unloadable_config_exits_78() {
    let t = Terminal::new();
    let path = t.path().join("broken.toml");
    std::fs::write(&path, "[terminal]\nid = \n").unwrap();
    let (code, table, json) = doctor(&path);
    assert_eq!(code, 78, "{table}");
    assert_eq!(check(&json, "config")["result"], "fail");
    assert!(table.contains("medsettle config check"), "{table}");
}

#[tokio::test]
async fn doctor_finds_api_listen_held_by_a_running_medsettle() {
    let t = Terminal::new();
    let daemon = crate::support::InProcess::start(&t).await;
    let addr = daemon.url("").trim_start_matches("http://").to_owned();
    let config = write(&t, |s| {
        s.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""))
    });
    let (code, table, json) = tokio::task::spawn_blocking(move || doctor(&config))
        .await
        .unwrap();
    assert_eq!(code, 0, "{table}");
    let listen = check(&json, "api.listen");
    assert_eq!(listen["result"], "ok", "{table}");
    assert!(
        listen["detail"]
            .as_str()
            .unwrap()
            .contains("running medsettle"),
        "{listen}"
    );
    // The running daemon's database inspects clean through its WAL.
    assert_eq!(check(&json, "database")["result"], "ok", "{table}");
    daemon.shutdown().await;
}
