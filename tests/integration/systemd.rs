//! The files in `systemd/`, checked with systemd's own tools: `systemd-analyze verify` and
//! `security --offline=true` on the unit (alone and with the drop-in example),
//! `systemd-sysusers` and `systemd-tmpfiles` into a temporary root, and `udevadm verify` on the
//! udev rule where the installed udev has it (systemd >= 254), else a syntax check of our own.
//! A missing systemd tool fails the test with a pointer to `scripts/bootstrap`; nothing here
//! touches the host's users, directories or services.

mod udev_syntax;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The highest `systemd-analyze security` exposure the unit may have. The first issue asked
/// for 2.5, a later one for 2.0.
const EXPOSURE_LIMIT: f64 = 2.0;

/// The `ExecStart=` line of the installed unit; tests swap in the binary cargo built.
const EXEC_START: &str = "ExecStart=/usr/bin/medsettle run --config /etc/medsettle/medsettle.toml";

fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

fn read(name: &str) -> String {
    let path = systemd_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The path of a system tool, or a test failure that says how to get it.
fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed; it comes with the Debian `systemd` package, which \
             scripts/bootstrap installs (run it first)"
        )
    })
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temporary unit directory holding `medsettle.service` with `ExecStart=` pointing at the
/// built binary (verify insists that the program exists), and, if asked, the drop-in example
/// installed as `medsettle.service.d/upstream.conf`.
fn staged_unit(with_dropin: bool) -> (tempfile::TempDir, PathBuf) {
    let unit = read("medsettle.service");
    assert_eq!(
        unit.lines().filter(|l| *l == EXEC_START).count(),
        1,
        "the unit must start the daemon exactly as `{EXEC_START}`"
    );
    let built = env!("CARGO_BIN_EXE_medsettle");
    let exec = EXEC_START.replace("/usr/bin/medsettle", &format!("\"{built}\""));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medsettle.service");
    std::fs::write(&path, unit.replace(EXEC_START, &exec)).unwrap();
    if with_dropin {
        let d = dir.path().join("medsettle.service.d");
        std::fs::create_dir(&d).unwrap();
        let example = read("medsettle.service.d/upstream.conf.example");
        std::fs::write(d.join("upstream.conf"), example).unwrap();
    }
    (dir, path)
}

/// Complaints `verify` may make that are about this machine, not about the unit: a missing
/// pcscd.socket is acceptable only where pcscd is not installed.
fn is_acceptable(line: &str) -> bool {
    line.contains("pcscd.socket") && find_tool("pcscd").is_none()
}

fn verify(with_dropin: bool) {
    let (_dir, unit) = staged_unit(with_dropin);
    let out = run(Command::new(tool("systemd-analyze"))
        .args(["verify", "--man=no", "--generators=no"])
        .arg(&unit));
    let stderr = text(&out.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_acceptable(l))
        .collect();
    // verify exits 0 even for unknown keys and unparsable values; any output is a finding.
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify (drop-in: {with_dropin}) {}:\n{stderr}{}",
        out.status,
        text(&out.stdout)
    );
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    verify(false);
}

#[test]
fn unit_with_the_dropin_example_passes_systemd_analyze_verify() {
    verify(true);
}

/// Runs `systemd-analyze security --offline=true` and returns the overall exposure.
fn exposure(with_dropin: bool) -> f64 {
    let (_dir, unit) = staged_unit(with_dropin);
    let out = run(Command::new(tool("systemd-analyze"))
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze security {}:\n{stderr}{stdout}",
        out.status
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for medsettle.service:"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{stdout}"));
    let score = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure from {line:?}"));
    let record = format!(
        "medsettle.service{}: exposure {score} (systemd-analyze security --offline=true)\n",
        if with_dropin { " + upstream.conf" } else { "" }
    );
    println!("{}", record.trim_end());
    let name = format!(
        "systemd-exposure{}.txt",
        if with_dropin { "-dropin" } else { "" }
    );
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Err(e) = std::fs::write(&file, &record) {
        eprintln!("cannot record the score in {}: {e}", file.display());
    }
    score
}

#[test]
fn unit_exposure_is_within_the_limit() {
    let score = exposure(false);
    assert!(
        score <= EXPOSURE_LIMIT,
        "exposure {score} > {EXPOSURE_LIMIT:.1}"
    );
}

#[test]
fn dropin_example_does_not_raise_the_exposure() {
    let base = exposure(false);
    let with = exposure(true);
    assert!(
        with <= base,
        "the drop-in example raises exposure {base} to {with}"
    );
}

/// `Key=value` pairs of a unit file, in order, without comments.
fn directives(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('='))
        .collect()
}

fn seconds(span: &str) -> u64 {
    let (n, unit) = span.split_at(
        span.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(span.len()),
    );
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("timespan {span:?}"));
    match unit {
        "" | "s" => n,
        "min" => n * 60,
        other => panic!("timespan unit {other:?} in {span:?}: extend this test"),
    }
}

#[test]
fn unit_states_the_daemon_contract() {
    let unit = read("medsettle.service");
    let d = directives(&unit);
    let has = |k: &str, v: &str| d.iter().any(|(dk, dv)| *dk == k && *dv == v);
    for (k, v) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "78"),
        ("User", "medsettle"),
        ("StateDirectory", "medsettle"),
        ("RuntimeDirectory", "medsettle"),
        ("ConfigurationDirectory", "medsettle"),
        ("LoadCredential", "api-token:/etc/medsettle/api-token"),
        ("Wants", "pcscd.socket"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("DeviceAllow", "char-video4linux rw"),
        ("DeviceAllow", "char-ttyACM rw"),
        ("DeviceAllow", "char-ttyUSB rw"),
        ("DeviceAllow", "char-input rw"),
    ] {
        assert!(has(k, v), "the unit lacks {k}={v}");
    }
    assert!(
        d.iter()
            .any(|(k, v)| *k == "After" && v.contains("pcscd.socket"))
    );
    let get = |k: &str| d.iter().find(|(dk, _)| *dk == k).map(|(_, v)| *v).unwrap();
    assert!(
        seconds(get("WatchdogSec")) >= 10,
        "the daemon pings every half interval"
    );
    let grace_ms = medsettle::config::DaemonConfig::default().shutdown_grace_ms;
    assert!(
        seconds(get("TimeoutStopSec")) * 1000 > grace_ms + 5_000,
        "TimeoutStopSec must leave a margin over daemon.shutdown_grace_ms ({grace_ms} ms)"
    );
}

/// Every directive line has a comment line right above it (style.md, item 8).
#[test]
fn every_directive_is_commented() {
    for name in [
        "medsettle.service",
        "medsettle.service.d/upstream.conf.example",
        "medsettle.sysusers",
        "medsettle.tmpfiles",
        "60-medsettle.rules",
    ] {
        let file = read(name);
        let lines: Vec<&str> = file.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let directive =
                !line.trim().is_empty() && !line.starts_with('#') && !line.starts_with('[');
            let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
            assert!(
                !directive || above.starts_with('#'),
                "{name}:{}: `{line}` has no comment above it",
                i + 1
            );
        }
    }
}

/// A temporary root with an `etc/` for sysusers to write into.
fn temp_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    root
}

fn apply_sysusers(root: &Path) {
    let out = run(Command::new(tool("systemd-sysusers"))
        .arg(format!("--root={}", root.display()))
        .arg(systemd_dir().join("medsettle.sysusers")));
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-sysusers {}:\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("medsettle.sysusers:"),
        "systemd-sysusers complains about the file:\n{stderr}"
    );
}

#[test]
fn sysusers_creates_the_medsettle_user_and_group() {
    let root = temp_root();
    apply_sysusers(root.path());
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("medsettle:"))
        .unwrap_or_else(|| panic!("no medsettle user in:\n{passwd}"))
        .split(':')
        .collect();
    assert_eq!(user[5], "/var/lib/medsettle", "home");
    assert_eq!(user[6], "/usr/sbin/nologin", "shell");
    let group = std::fs::read_to_string(root.path().join("etc/group")).unwrap();
    let gid = group
        .lines()
        .find(|l| l.starts_with("medsettle:"))
        .and_then(|l| l.split(':').nth(2))
        .unwrap_or_else(|| panic!("no medsettle group in:\n{group}"));
    assert_eq!(user[3], gid, "the user's primary group is medsettle");
}

#[test]
fn tmpfiles_creates_the_directories_with_their_modes() {
    let root = temp_root();
    apply_sysusers(root.path());
    let token = root.path().join("etc/medsettle/api-token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, "t\n").unwrap();
    // Only root may hand directories to another user; elsewhere the chowns fail and are the
    // only complaints allowed.
    let is_root = std::fs::metadata(&token).unwrap().uid() == 0;
    let out = run(Command::new(tool("systemd-tmpfiles"))
        .arg(format!("--root={}", root.path().display()))
        .arg("--create")
        .arg(systemd_dir().join("medsettle.tmpfiles")));
    let stderr = text(&out.stderr);
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| is_root || !l.contains("Operation not permitted"))
        .collect();
    assert!(
        unexpected.is_empty() && (out.status.success() || !is_root),
        "systemd-tmpfiles {}:\n{stderr}",
        out.status
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let uid: u32 = passwd
        .lines()
        .find_map(|l| l.strip_prefix("medsettle:x:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    for (path, mode, owner) in [
        ("var/lib/medsettle", 0o750, uid),
        ("etc/medsettle", 0o755, 0),
        ("run/medsettle", 0o750, uid),
        ("etc/medsettle/api-token", 0o600, 0),
    ] {
        let meta = std::fs::metadata(root.path().join(path))
            .unwrap_or_else(|e| panic!("{path} was not created: {e}"));
        if is_root {
            assert_eq!(meta.mode() & 0o7777, mode, "{path} mode {:o}", meta.mode());
            assert_eq!(meta.uid(), owner, "{path} owner");
        }
    }
}

#[test]
fn udev_rule_is_valid() {
    let path = systemd_dir().join("60-medsettle.rules");
    let rules = read("60-medsettle.rules");
    if let Some(udevadm) = find_tool("udevadm") {
        let help = run(Command::new(&udevadm).args(["verify", "--help"]));
        if help.status.success() {
            let out = run(Command::new(&udevadm)
                .args(["verify", "--resolve-names=never"])
                .arg(&path));
            assert!(
                out.status.success(),
                "udevadm verify {}:\n{}{}",
                out.status,
                text(&out.stderr),
                text(&out.stdout)
            );
        }
    }
    // Always, also where udevadm verify exists: our own reading of the syntax and intent.
    let parsed =
        udev_syntax::parse(&rules).unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    let assigns = |key: &str, value: &str| {
        parsed
            .iter()
            .flatten()
            .filter(|t| t.key == key && t.op == "=")
            .all(|t| t.value == value)
    };
    assert!(
        assigns("GROUP", "medsettle"),
        "devices go to group medsettle only"
    );
    assert!(assigns("MODE", "0660"), "device modes are 0660");
    for subsystem in ["video4linux", "tty", "input"] {
        assert!(
            parsed.iter().any(|rule| rule
                .iter()
                .any(|t| t.key == "SUBSYSTEM" && t.op == "==" && t.value == subsystem)
                && rule.iter().any(|t| t.key == "GROUP")),
            "no rule gives {subsystem} devices to the group"
        );
    }
}
