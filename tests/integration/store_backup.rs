//! `medsettle store backup` and `medsettle store pending` through the real binary, beside a
//! running daemon holding a stored (offline, unsettled) sale; and the package's removal
//! scripts, run against a temporary root (`DPKG_ROOT`) with stubbed system tools: a purge
//! refuses to delete a database that still holds such a sale unless forced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use medsettle::config::SecretRef;
use medsettle::store::{KeySet, Store};
use serde_json::json;

use crate::sales::{ID_NUMBER, NAME, PIN, PSN, Rig};
use crate::support::process::{bin, run_cli};

const OPEN: [&str; 3] = ["queued", "settling", "unknown"];

/// A daemon whose platform is down, holding one stored sale of 12.50 (state `queued`).
async fn rig_with_a_stored_sale() -> (Rig, String) {
    let rig = Rig::platform_down("").await;
    let id = rig.sale("12.50", Some("force_offline")).await;
    let (status, queued) = rig
        .confirm(&id, json!({ "pin": PIN, "collected": "12.50" }))
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["stored"], true, "{queued}");
    (rig, id)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn clear_needles(bytes: &[u8]) -> Vec<&'static str> {
    [ID_NUMBER, NAME, PSN]
        .into_iter()
        .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
        .collect()
}

#[tokio::test]
async fn a_backup_of_a_running_daemon_opens_with_the_same_keys_and_stays_sealed() {
    let (rig, id) = rig_with_a_stored_sale().await;
    let config = rig.terminal.write_config();
    let config = config.to_str().unwrap();
    let out = rig.terminal.path().join("backups");
    std::fs::create_dir(&out).unwrap();
    let copy = out.join("medsettle-backup.db");
    let keys = out.join("medsettle-db-key");

    // Pending, by config and by file, while the daemon runs.
    let (status, stdout, stderr) =
        run_cli(&["store", "pending", "-c", config, "--porcelain"], None);
    assert!(status.success(), "{stderr}");
    // The forwarder keeps trying the platform that is down: the sale may be between `queued`
    // and an attempt (`settling`, in doubt) at any instant.
    assert!(
        stdout.trim().starts_with("pending=1 stored=1 in_doubt="),
        "{stdout}"
    );
    let db = rig.terminal.db_path();
    let (status, stdout, stderr) =
        run_cli(&["store", "pending", "--db", db.to_str().unwrap()], None);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("1 sale(s) not final (1 stored offline"),
        "{stdout}"
    );
    assert!(stdout.contains("medsettle queue export --csv"), "{stdout}");

    // The backup, while the daemon runs, first without the keys.
    let (status, stdout, stderr) = run_cli(
        &["store", "backup", copy.to_str().unwrap(), "-c", config],
        None,
    );
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 sale(s), 1 not final: 1 stored offline"),
        "{stdout}"
    );
    assert!(stdout.contains("stays sealed"), "{stdout}");
    assert!(!keys.exists());
    assert_eq!(mode(&copy), 0o600);
    // A backup never overwrites, and a refused one leaves the first copy as it was.
    let first = std::fs::read(&copy).unwrap();
    let (status, _, stderr) = run_cli(
        &[
            "store",
            "backup",
            copy.to_str().unwrap(),
            "-c",
            config,
            "--keys",
            keys.to_str().unwrap(),
        ],
        None,
    );
    assert!(!status.success());
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), first);
    assert!(!keys.exists(), "nothing written by a refused backup");
    // Again under a new name, with the key set copied apart.
    let copy2 = out.join("medsettle-backup-2.db");
    let (status, stdout, stderr) = run_cli(
        &[
            "store",
            "backup",
            copy2.to_str().unwrap(),
            "-c",
            config,
            "--keys",
            keys.to_str().unwrap(),
        ],
        None,
    );
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("key set (key ids"), "{stdout}");
    assert_eq!(mode(&keys), 0o600);
    // The daemon still serves after both backups.
    assert_eq!(rig.queue_count().await, 1);
    rig.d.shutdown().await;

    // Sealed columns stay sealed in the copy: no personal data in clear anywhere in the file.
    for c in [&copy, &copy2] {
        let bytes = std::fs::read(c).unwrap();
        assert!(bytes.len() > 4096);
        assert_eq!(clear_needles(&bytes), Vec::<&str>::new(), "{}", c.display());
    }
    // The copy opens with the copied key set and holds the same sale, found by ID number
    // (its keyed hash) and read (its sealed document opened).
    let key_set = KeySet::load(&SecretRef::File(keys.clone()), None).unwrap();
    let (backup, _) = Store::open_keyed(&copy2, Duration::from_secs(5), key_set).unwrap();
    let found = backup
        .sales_of(&OPEN, true, Some(ID_NUMBER), None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id.as_str(), found[0].amount_fen),
        (id.as_str(), 1250)
    );
    assert!(found[0].doc.contains(NAME), "opened with the key set");
    backup.close().await.unwrap();
    // And the original holds the same row.
    let (original, _) = Store::open(&db, Duration::from_secs(5)).unwrap();
    let row = original.sale(&id).await.unwrap().unwrap();
    assert!(row.stored && OPEN.contains(&row.state.as_str()), "{row:?}");
    // The same sale (the forwarder kept trying after the backup: its tries differ).
    let doc = |d: &str| serde_json::from_str::<serde_json::Value>(d).unwrap();
    let (now, then) = (doc(&row.doc), doc(&found[0].doc));
    for field in ["id", "credential", "items", "amount", "consent", "stored"] {
        assert_eq!(now[field], then[field], "{field}");
    }
    original.close().await.unwrap();
    // With only the database file (a machine whose config is gone): its key set beside it.
    let copy3 = out.join("medsettle-backup-3.db");
    let keys3 = out.join("medsettle-db-key-3");
    let (status, stdout, stderr) = run_cli(
        &[
            "store",
            "backup",
            "--db",
            db.to_str().unwrap(),
            copy3.to_str().unwrap(),
            "--keys",
            keys3.to_str().unwrap(),
        ],
        None,
    );
    assert!(status.success(), "{stdout}{stderr}");
    assert_eq!(
        std::fs::read(&keys3).unwrap(),
        std::fs::read(&keys).unwrap(),
        "the same key set"
    );
    // Without the key set the copy is refused, naming what is missing.
    let other = KeySet::parse(&KeySet::generate_line(), "other").unwrap();
    let refused = Store::open_keyed(&copy, Duration::from_secs(5), other);
    assert!(refused.is_err(), "a copy opened without its key set");
}

/// A temporary root for the maintainer scripts: `usr/bin/medsettle` (the built binary),
/// `etc/medsettle`, `var/lib/medsettle` holding `db`, and stubs of the system tools that log
/// their arguments instead of touching the machine.
struct FakeRoot {
    dir: tempfile::TempDir,
}

impl FakeRoot {
    fn new(db: Option<&Path>, with_binary: bool) -> FakeRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "usr/bin",
            "etc/medsettle",
            "var/lib/medsettle",
            "run/medsettle",
            "stubs",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        if with_binary {
            std::os::unix::fs::symlink(bin(), root.join("usr/bin/medsettle")).unwrap();
        }
        std::fs::write(root.join("etc/medsettle/api-token"), "x\n").unwrap();
        if let Some(db) = db {
            std::fs::copy(db, root.join("var/lib/medsettle/medsettle.db")).unwrap();
        }
        let log = root.join("stubs.log");
        for (tool, rc) in [
            ("deb-systemd-helper", 0),
            ("deb-systemd-invoke", 0),
            ("systemctl", 0),
            ("userdel", 0),
            ("groupdel", 0),
            // No user medsettle in the fake root's world.
            ("getent", 2),
        ] {
            let path = root.join("stubs").join(tool);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho \"{tool} $*\" >>'{}'\nexit {rc}\n",
                    log.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeRoot { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `systemd/debian/<script> <arg>` with DPKG_ROOT set: (success, stderr).
    fn run(&self, script: &str, arg: &str, force: bool) -> (bool, String) {
        let root = self.dir.path();
        assert!(
            root.starts_with(std::env::temp_dir()),
            "never the real root"
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("systemd/debian")
            .join(script);
        let mut cmd = Command::new("sh");
        cmd.arg(script)
            .arg(arg)
            .env_clear()
            .env("DPKG_ROOT", root)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", root.join("stubs").display()),
            );
        if force {
            cmd.env("MEDSETTLE_FORCE_PURGE", "1");
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test]
async fn a_purge_refuses_to_delete_unsettled_sales_unless_forced() {
    let (rig, _id) = rig_with_a_stored_sale().await;
    let db = rig.terminal.db_path();
    rig.d.shutdown().await;

    // dpkg --purge: prerm remove (binary still there), files removed, postrm remove, postrm purge.
    let r = FakeRoot::new(Some(&db), true);
    let (ok, err) = r.run("prerm", "remove", false);
    assert!(ok, "{err}");
    let marker = std::fs::read_to_string(r.path("var/lib/medsettle/pending-at-remove")).unwrap();
    assert!(
        marker.starts_with("pending=1 stored=1 in_doubt="),
        "{marker}"
    );
    assert!(
        err.contains("still holds sales that are not final"),
        "{err}"
    );
    std::fs::remove_file(r.path("usr/bin/medsettle")).unwrap();
    let (ok, err) = r.run("postrm", "remove", false);
    assert!(ok, "{err}");
    let (ok, err) = r.run("postrm", "purge", false);
    assert!(!ok, "the purge must fail");
    assert!(err.contains("refusing to purge"), "{err}");
    assert!(
        err.contains("still holds 1 sale(s) that are not final"),
        "{err}"
    );
    assert!(err.contains("medsettle queue export --csv"), "{err}");
    assert!(err.contains("medsettle store backup"), "{err}");
    assert!(err.contains("MEDSETTLE_FORCE_PURGE=1"), "{err}");
    assert!(
        r.path("var/lib/medsettle/medsettle.db").exists(),
        "nothing deleted"
    );
    assert!(
        r.path("etc/medsettle/api-token").exists(),
        "nothing deleted"
    );
    let log = std::fs::read_to_string(r.path("stubs.log")).unwrap_or_default();
    assert!(!log.contains("deb-systemd-helper purge"), "{log}");

    // Forced: everything goes.
    let (ok, err) = r.run("postrm", "purge", true);
    assert!(ok, "{err}");
    assert!(err.contains("MEDSETTLE_FORCE_PURGE=1"), "{err}");
    for gone in ["var/lib/medsettle", "etc/medsettle", "run/medsettle"] {
        assert!(!r.path(gone).exists(), "{gone}");
    }
    let log = std::fs::read_to_string(r.path("stubs.log")).unwrap();
    assert!(
        log.contains("deb-systemd-helper purge medsettle.service"),
        "{log}"
    );

    // A database with no open sale purges without force.
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = empty_dir.path().join("medsettle.db");
    let (store, _) = Store::open(&empty, Duration::from_secs(5)).unwrap();
    store.close().await.unwrap();
    let r = FakeRoot::new(Some(&empty), true);
    assert!(r.run("prerm", "remove", false).0);
    let marker = std::fs::read_to_string(r.path("var/lib/medsettle/pending-at-remove")).unwrap();
    assert_eq!(marker.trim(), "pending=0 stored=0 in_doubt=0");
    let (ok, err) = r.run("postrm", "purge", false);
    assert!(ok, "{err}");
    assert!(!r.path("var/lib/medsettle").exists());

    // A database prerm could not check (the binary already gone) counts as holding sales.
    let r = FakeRoot::new(Some(&db), false);
    let (ok, err) = r.run("prerm", "remove", false);
    assert!(ok, "prerm never fails a removal: {err}");
    assert!(err.contains("could not count"), "{err}");
    let (ok, err) = r.run("postrm", "purge", false);
    assert!(!ok);
    assert!(err.contains("sales that could not be counted"), "{err}");
    assert!(r.path("var/lib/medsettle/medsettle.db").exists());

    // No database at all: nothing to protect.
    let r = FakeRoot::new(None, true);
    assert!(r.run("prerm", "remove", false).0);
    let (ok, err) = r.run("postrm", "purge", false);
    assert!(ok, "{err}");
    assert!(!r.path("etc/medsettle").exists());
}
