//! Operator commands on an installed terminal, through the real binary: the daemon's Unix
//! socket without a token (root, a member of the service's group, and outsiders refused, the
//! other users played with `setpriv`), credentials outside the service read from the unit's
//! files, exit codes (69 daemon not running, 77 not allowed, 78 configuration), state files
//! never created as root in the service user's directory, `MEDSETTLE_CONFIG`, every config
//! error at once, device commands without a config, the ID number on stdin, and the generated
//! man pages and completions.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use medsettle::config::SecretRef;

use crate::support::process::{bin, run_cli};
use crate::support::{Process, Terminal};

/// Ids no account on this machine uses: the CLI runs as them through `setpriv`.
const OUTSIDER_UID: u32 = 48_343;
/// The group that owns the socket's directory (setgid), so its members pass the file check.
const SOCKET_GID: u32 = 48_545;

/// Runs the binary with `args`, extra environment, and `stdin` fed to it; through `setpriv`
/// with `as_user` (its options) when given. Returns (exit code, stdout, stderr).
fn cli(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
    as_user: Option<&[&str]>,
) -> (Option<i32>, String, String) {
    let mut cmd = match as_user {
        Some(opts) => {
            let mut c = Command::new("setpriv");
            c.args(opts).arg("--").arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("MEDSETTLE_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the medsettle binary");
    if let Some(text) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cli`] off the async runtime.
async fn cli_async(
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    as_user: Option<Vec<String>>,
) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let user: Option<Vec<&str>> = as_user
            .as_ref()
            .map(|u| u.iter().map(String::as_str).collect());
        cli(&args, &env, stdin.as_deref(), user.as_deref())
    })
    .await
    .unwrap()
}

/// The check `name` of a `doctor --json` report.
fn doctor_check(report: &str, name: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
        .clone()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The daemon with its API socket in `run/` (setgid, group [`SOCKET_GID`], so the socket is
/// that group's) and a CLI config naming the same socket but a token file that does not
/// exist: whatever works below works without the token.
async fn socket_daemon(t: &Terminal) -> (Process, String, PathBuf) {
    let run = t.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::os::unix::fs::chown(&run, Some(0), Some(SOCKET_GID)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o2770)).unwrap();
    // Other users must reach the config file and the socket's directory.
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = run.join("api.sock");
    let daemon_config = t.config_with(|c| c.api.unix_socket = Some(socket.clone()));
    let p = Process::start_config(t.path(), &daemon_config, |_| {}).await;
    let cli_config = t.config_with(|c| {
        c.api.unix_socket = Some(socket.clone());
        c.api.token = SecretRef::File(PathBuf::from("/nonexistent/api-token"));
    });
    let path = t.path().join("cli.toml");
    std::fs::write(&path, cli_config).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (p, path.to_str().unwrap().to_owned(), socket)
}

#[tokio::test]
async fn the_socket_serves_root_and_the_service_group_without_a_token_and_refuses_others() {
    let t = Terminal::new();
    let (_p, cfg, socket) = socket_daemon(&t).await;
    let meta = std::fs::metadata(&socket).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(
        meta.gid(),
        SOCKET_GID,
        "the setgid directory gave the socket its group"
    );
    let ls = strings(&["queue", "ls", "-c", &cfg]);

    // Root: trusted by uid 0.
    let (code, out, err) = cli_async(ls.clone(), vec![], None, None).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("ID "), "{out}");

    // Not root, in the socket's group (the file check) and the daemon's group, gid 0 (the
    // peer check): trusted.
    let uid = format!("--reuid={OUTSIDER_UID}");
    let gid = format!("--regid={OUTSIDER_UID}");
    let member = strings(&[&uid, &gid, &format!("--groups={SOCKET_GID},0")]);
    let (code, out, err) = cli_async(ls.clone(), vec![], None, Some(member)).await;
    assert_eq!(
        code,
        Some(0),
        "a member of the daemon's group: {out}\n{err}"
    );

    // In no group at all: the kernel refuses the connect; a clear error, exit 77.
    let nobody = strings(&[&uid, &gid, "--clear-groups"]);
    let (code, out, err) = cli_async(ls.clone(), vec![], None, Some(nobody)).await;
    assert_eq!(code, Some(77), "{out}\n{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        err.contains("root or as a member of the service's group"),
        "{err}"
    );

    // Let in by the socket's file group, but neither root, the daemon's user nor in its
    // group: the daemon's peer check refuses it (token required), exit 77.
    let file_group_only = strings(&[&uid, &gid, &format!("--groups={SOCKET_GID}")]);
    let (code, out, err) = cli_async(ls, vec![], None, Some(file_group_only)).await;
    assert_eq!(code, Some(77), "{out}\n{err}");
    assert!(err.contains("the daemon refused this user"), "{err}");
    assert!(err.contains("auth.missing_token"), "{err}");
}

/// A member of the service's group may not read the database file (0600, the service
/// user's): `store backup` has the running daemon make the checked copy and stream it over the
/// socket. The copy is the member's, mode 0600, a database the store accepts; the daemon leaves
/// no temporary file; `--keys` is refused (77: the key set is not the member's to copy), and an
/// existing file is never overwritten.
#[tokio::test]
async fn a_member_backs_up_the_database_through_the_daemon_but_not_the_key_set() {
    let t = Terminal::new();
    let (_p, cfg, _) = socket_daemon(&t).await;
    // What the unit's UMask=0077 makes of it: the database is its owner's alone.
    let db = t.db_path();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home = t.path().join("member");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(OUTSIDER_UID), Some(OUTSIDER_UID)).unwrap();
    let copy = home.join("copy.db");
    let member = strings(&[
        &format!("--reuid={OUTSIDER_UID}"),
        &format!("--regid={OUTSIDER_UID}"),
        &format!("--groups={SOCKET_GID},0"),
    ]);
    let backup = |extra: &[&str]| {
        let mut args = strings(&["store", "backup", "-c", &cfg, copy.to_str().unwrap()]);
        args.extend(strings(extra));
        cli_async(args, vec![], None, Some(member.clone()))
    };

    let (code, out, err) = backup(&["--keys", home.join("keys").to_str().unwrap()]).await;
    assert_eq!(code, Some(77), "{out}\n{err}");
    assert!(
        err.contains("--keys KEYFILE") && err.contains("as root"),
        "{err}"
    );
    assert!(!copy.exists() && !home.join("keys").exists());

    let (code, out, err) = backup(&[]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("(through the running daemon)"), "{out}");
    assert!(out.contains("not in the copy"), "{out}");
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (OUTSIDER_UID, 0o600));
    // The store opens it as its own: the same schema, nothing pending.
    let (code, out, err) = cli(
        &[
            "store",
            "pending",
            "--db",
            copy.to_str().unwrap(),
            "--porcelain",
        ],
        &[],
        None,
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "pending=0 stored=0 in_doubt=0");
    let left: Vec<_> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".backup-") || n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "the daemon left {left:?}");

    let (code, _, err) = backup(&[]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("never overwrites"), "{err}");
}

#[tokio::test]
async fn a_daemon_that_is_not_running_exits_69() {
    let t = Terminal::new();
    // A socket configured but absent.
    let text = t.config_with(|c| c.api.unix_socket = Some(t.path().join("gone.sock")));
    let socket_cfg = t.path().join("socket.toml");
    std::fs::write(&socket_cfg, text).unwrap();
    // TCP on a port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = t.config_with(|c| c.api.listen = format!("127.0.0.1:{port}").parse().unwrap());
    let tcp_cfg = t.path().join("tcp.toml");
    std::fs::write(&tcp_cfg, text).unwrap();
    for cfg in [&socket_cfg, &tcp_cfg] {
        for args in [
            vec!["queue", "ls", "-c", cfg.to_str().unwrap()],
            vec!["status-link", "-c", cfg.to_str().unwrap()],
            vec!["reconcile", "-c", cfg.to_str().unwrap()],
        ] {
            let (code, _, err) = cli(&args, &[], None, None);
            assert_eq!(code, Some(69), "{args:?}: {err}");
            assert!(err.contains("the daemon is not running"), "{err}");
        }
    }
}

/// A `{ credential = "api-token" }` token outside the service is read from the file the
/// unit's `LoadCredential=` line names, else from beside the config file.
#[tokio::test]
async fn a_credential_token_is_read_from_the_units_file_outside_the_service() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    let units = t.path().join("units");
    let secret_dir = t.path().join("etc");
    std::fs::create_dir_all(units.join("medsettle.service.d")).unwrap();
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(
        secret_dir.join("the-token"),
        format!("{}\n", crate::support::TOKEN),
    )
    .unwrap();
    // As the package installs it: root's, 0600.
    std::fs::set_permissions(
        secret_dir.join("the-token"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        units.join("medsettle.service"),
        "[Service]\nLoadCredential=api-token:/nonexistent\n",
    )
    .unwrap();
    std::fs::write(
        units.join("medsettle.service.d/token.conf"),
        format!(
            "[Service]\nLoadCredential=api-token:{}\n",
            secret_dir.join("the-token").display()
        ),
    )
    .unwrap();
    let text = t.config_with(|c| {
        c.api.listen = p.addr;
        c.api.token = SecretRef::Credential("api-token".into());
    });
    // The config lives apart from the token, so only the unit can lead to it.
    let cfg_dir = t.path().join("conf");
    std::fs::create_dir(&cfg_dir).unwrap();
    let cfg = cfg_dir.join("medsettle.toml");
    std::fs::write(&cfg, &text).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let units_env = units.to_str().unwrap().to_owned();
    let env = vec![("SYSTEMD_UNIT_PATH".to_owned(), units_env.clone())];
    let (code, out, err) = cli_async(
        strings(&["queue", "ls", "-c", &cfg]),
        env.clone(),
        None,
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{out}\n{err}");

    // config check loads it the same way.
    let (code, out, err) = cli_async(
        strings(&["config", "check", "-c", &cfg]),
        env.clone(),
        None,
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("api.token: loaded from systemd credential `api-token` via"),
        "{out}"
    );

    // doctor judges it the same way: ok, from that file, no chmod advice.
    let (_, out, _) = cli_async(
        strings(&["doctor", "--json", "-c", &cfg]),
        env.clone(),
        None,
        None,
    )
    .await;
    let check = doctor_check(&out, "secret api.token");
    assert_eq!(check["result"], "ok", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("the-token"),
        "{check}"
    );

    // A unit without the line: the file named like the credential beside the config.
    std::fs::remove_file(units.join("medsettle.service.d/token.conf")).unwrap();
    std::fs::write(units.join("medsettle.service"), "[Service]\n").unwrap();
    let (code, _, err) = cli_async(
        strings(&["queue", "ls", "-c", &cfg]),
        env.clone(),
        None,
        None,
    )
    .await;
    assert_eq!(code, Some(78), "no file beside the config yet: {err}");
    assert!(err.contains("api-token"), "{err}");
    std::fs::copy(secret_dir.join("the-token"), cfg_dir.join("api-token")).unwrap();
    let (code, out, err) = cli_async(strings(&["queue", "ls", "-c", &cfg]), env, None, None).await;
    assert_eq!(code, Some(0), "{out}\n{err}");

    // A missing credential file: doctor fails it with the unit's advice, not a chmod 0640.
    std::fs::remove_file(cfg_dir.join("api-token")).unwrap();
    let (_, out, _) = cli(
        &["doctor", "--json", "-c", &cfg],
        &[("SYSTEMD_UNIT_PATH", &units_env)],
        None,
        None,
    );
    let check = doctor_check(&out, "secret api.token");
    assert_eq!(check["result"], "fail", "{check}");
    let fix = check["fix"].as_str().unwrap();
    assert!(
        fix.contains("LoadCredential") && fix.contains("0600"),
        "{check}"
    );
    assert!(!fix.contains("0640"), "{check}");
}

/// Run as root, commands that open the store refuse to create it (and its key) in a directory
/// the service user owns: exit 77, nothing created; `doctor` skips its sign-in instead.
#[test]
fn root_does_not_create_the_services_state() {
    let t = Terminal::new();
    let state = t.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(OUTSIDER_UID), Some(OUTSIDER_UID)).unwrap();
    let text = t.config_with(|c| {
        c.store.path = state.join("medsettle.db");
        c.upstream = Some(crate::support::sandbox_upstream(
            "http://127.0.0.1:9",
            "SM3",
        ));
    });
    let cfg = t.path().join("state.toml");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();

    let (code, _, err) = cli(&["upstream", "ping", "-c", cfg], &[], None, None);
    assert_eq!(code, Some(77), "{err}");
    assert!(err.contains("refusing to create"), "{err}");
    assert!(err.contains("systemctl start medsettle"), "{err}");
    let (code, _, err) = cli(
        &["upstream", "person", "-c", cfg, "--id-stdin"],
        &[],
        Some("110105199003071239\n"),
        None,
    );
    assert_eq!(code, Some(77), "{err}");

    let (_, out, _) = cli(&["doctor", "--json", "-c", cfg], &[], None, None);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let signin = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "upstream.signin")
        .cloned();
    // The platform is unreachable here, so doctor may stop at the connect; if it got as far
    // as the sign-in, the sign-in was skipped for the state's owner.
    if let Some(s) = signin {
        assert!(
            s["result"] != "skip" || s["detail"].as_str().unwrap().contains("refusing"),
            "{s}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
    assert!(left.is_empty(), "nothing created: {left:?}");
}

#[test]
fn medsettle_config_names_the_file_and_config_check_takes_c_and_the_path() {
    let t = Terminal::new();
    let path = t.write_config();
    let path = path.to_str().unwrap();
    let (code, out, err) = cli(
        &["config", "check"],
        &[("MEDSETTLE_CONFIG", path)],
        None,
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("effective configuration of {path}")),
        "{out}"
    );
    let (code, _, err) = cli(&["config", "check", "-c", path], &[], None, None);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = cli(&["config", "check", path], &[], None, None);
    assert_eq!(code, Some(0), "{err}");
    // -c wins over the variable.
    let (code, _, err) = cli(
        &["config", "check", "-c", "/nonexistent.toml"],
        &[("MEDSETTLE_CONFIG", path)],
        None,
        None,
    );
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("/nonexistent.toml"), "{err}");
    // Operator and store commands read it too; `--db` wins over it.
    for args in [["queue", "ls"], ["store", "pending"]] {
        let env = [("MEDSETTLE_CONFIG", "/nonexistent/m.toml")];
        let (code, _, err) = cli(&args, &env, None, None);
        assert_eq!(code, Some(78), "{args:?}: {err}");
        assert!(err.contains("/nonexistent/m.toml"), "{err}");
    }
    let db = t.path().join("fresh.db");
    medsettle::store::Store::open(&db, std::time::Duration::from_secs(5)).unwrap();
    let (code, out, err) = cli(
        &[
            "store",
            "pending",
            "--db",
            db.to_str().unwrap(),
            "--porcelain",
        ],
        &[("MEDSETTLE_CONFIG", "/nonexistent/m.toml")],
        None,
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "pending=0 stored=0 in_doubt=0");
}

#[test]
fn config_check_lists_every_error_with_key_and_line() {
    let t = Terminal::new();
    let text = t
        .config_text()
        .replace("region = \"110105\"\n", "colour = \"blue\"\n")
        .replace("[readers]\n", "[readers]\nwait_ms = \"long\"\n")
        .replace("[api]\n", "[apii]\n");
    let path = t.path().join("broken.toml");
    std::fs::write(&path, &text).unwrap();
    let (status, _, err) = run_cli(&["config", "check", "-c", path.to_str().unwrap()], None);
    assert_eq!(status.code(), Some(78), "{err}");
    let line_of = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    for expected in [
        format!(":{}: `terminal.colour`: unknown field", line_of("colour")),
        format!(":{}: `readers.wait_ms`: invalid type", line_of("wait_ms")),
        format!(":{}: `apii`: unknown field", line_of("[apii]")),
        ": `terminal.region`: missing field".to_owned(),
        ": `api`: missing field".to_owned(),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
}

/// `readers` and `read-card` with no configuration file at all, like `pcsc_scan`: every
/// reader of a private pcscd, a virtual card in one of them. (On a machine with the package
/// installed, `--no-config` stands in for the absent file.)
#[test]
fn readers_and_read_card_need_no_config_file() {
    use medsettle_vcard::{Profile, Testbed, VirtualCard, VpcdConnection};
    let no_config: &[&str] = if Path::new("/etc/medsettle/medsettle.toml").exists() {
        &["--no-config"]
    } else {
        &[]
    };
    let bed = Testbed::start("Operator Test Reader").expect("a private pcscd");
    let sock = bed.socket_path().to_str().unwrap().to_owned();
    let env = [("PCSCLITE_CSOCK_NAME", sock.as_str())];
    let (code, out, err) = cli(&[&["readers"], no_config].concat(), &env, None, None);
    assert!(out.contains("Operator Test Reader 00 00"), "{out}\n{err}");
    assert!(out.contains("Operator Test Reader 00 01"), "{out}\n{err}");
    assert!(code == Some(0), "{err}");

    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/normal.json");
    let card = VirtualCard::from_profile(Profile::load(&profile).unwrap()).unwrap();
    let reader = bed.reader("Operator Test Reader 00 00");
    let _conn = VpcdConnection::connect(reader.addr(), card).unwrap();
    let (code, out, err) = cli(
        &[
            "read-card",
            "--line",
            "--reader",
            &reader.name,
            "--wait-ms",
            "10000",
        ],
        &env,
        None,
        None,
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("110105|110105********1239|"), "{out}");
    // --no-config and -c do not go together.
    let (code, _, err) = cli(
        &["readers", "--no-config", "-c", "/x.toml"],
        &[],
        None,
        None,
    );
    assert_eq!(code, Some(2), "{err}");
}

#[tokio::test]
async fn upstream_person_reads_the_id_number_from_stdin() {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::new();
    let text = t.config_with(|c| {
        c.upstream = Some(crate::support::sandbox_upstream(&sandbox.base_url(), "SM3"));
    });
    let cfg = t.path().join("up.toml");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let args = strings(&["upstream", "person", "-c", &cfg, "--id-stdin"]);
    let (code, out, err) = cli_async(
        args.clone(),
        vec![],
        Some("110105199003071239\n".into()),
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("110105********1239"), "{out}");
    assert!(!out.contains("110105199003071239"), "masked: {out}");
    // Nothing on stdin: refused before any request.
    let before = sandbox.ledger().request_count("1101");
    let (code, _, err) = cli_async(args, vec![], Some(String::new()), None).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no ID number"), "{err}");
    assert_eq!(sandbox.ledger().request_count("1101"), before);
    // No credential at all: a usage error.
    let none = strings(&["upstream", "person", "-c", &cfg]);
    let (code, _, err) = cli_async(none, vec![], None, None).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--id-stdin"), "{err}");
    // The old --id still works, with a warning about the process list and history.
    let old = strings(&[
        "upstream",
        "person",
        "-c",
        &cfg,
        "--id",
        "110105199003071239",
    ]);
    let (code, _, err) = cli_async(old, vec![], None, None).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: --id"), "{err}");
    sandbox.shutdown().await;
}

#[test]
fn generate_docs_writes_man_pages_and_completions_and_the_package_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(
        &["generate-docs", dir.path().to_str().unwrap()],
        &[],
        None,
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let man = dir.path().join("man");
    let root = std::fs::read_to_string(man.join("medsettle.1")).unwrap();
    assert!(
        root.contains(".TH MEDSETTLE 1"),
        "{}",
        &root[..200.min(root.len())]
    );
    assert!(root.contains("queue"), "subcommands are listed");
    assert!(
        root.contains("MEDSETTLE_CONFIG"),
        "the variable is documented"
    );
    let queue = std::fs::read_to_string(man.join("medsettle-queue.1")).unwrap();
    assert!(queue.contains("ls"), "{queue}");
    for page in [
        "medsettle-queue-ls.1",
        "medsettle-doctor.1",
        "medsettle-config-check.1",
    ] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains("\\-\\-config"), "{page}: {text}");
    }
    assert!(
        !man.join("medsettle-generate-docs.1").exists(),
        "the hidden command gets no page"
    );
    let completions = dir.path().join("completions");
    for file in ["medsettle.bash", "_medsettle", "medsettle.fish"] {
        let text = std::fs::read_to_string(completions.join(file)).unwrap();
        assert!(
            text.contains("read-card") && text.contains("config") && text.contains("queue"),
            "{file}"
        );
    }
    // The package installs the copy committed in `systemd/docs/`: it must be exactly what this
    // build's CLI generates. After changing a command or an option, run
    // `cargo run --bin medsettle -- generate-docs systemd/docs` and commit the result.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/docs");
    let files = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for sub in ["man", "completions"] {
            for e in std::fs::read_dir(root.join(sub)).unwrap().flatten() {
                let name = format!("{sub}/{}", e.file_name().to_string_lossy());
                out.push((name, std::fs::read(e.path()).unwrap()));
            }
        }
        out.sort();
        out
    };
    let (want, have) = (files(dir.path()), files(&committed));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&have),
        names(&want),
        "systemd/docs is stale: run `cargo run --bin medsettle -- generate-docs systemd/docs`"
    );
    for ((name, a), (_, b)) in have.iter().zip(&want) {
        assert!(
            a == b,
            "systemd/docs/{name} is stale: run `cargo run --bin medsettle -- generate-docs systemd/docs`"
        );
    }
}
