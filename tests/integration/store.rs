//! The store at the daemon's boundary: an older database is upgraded keeping its data, a
//! newer one stops the daemon with an operator-readable error and stays byte-identical, and
//! a corrupt one is moved aside, replaced and reported as an alarm.

use std::path::Path;
use std::time::Duration;

use medsettle::store::{SCHEMA_VERSION, Store};
use serde_json::Value;

use crate::support::process::run_cli;
use crate::support::{self, InProcess, Terminal};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/db")
        .join(name)
}

#[tokio::test]
async fn the_daemon_upgrades_a_v1_database_and_keeps_its_data() {
    let t = Terminal::new();
    std::fs::copy(fixture("v1.sqlite"), t.db_path()).unwrap();
    let d = InProcess::start(&t).await;
    d.shutdown().await;
    let (store, report) = Store::open(&t.db_path(), Duration::from_secs(1)).unwrap();
    assert_eq!(report.migrated_from, SCHEMA_VERSION);
    assert_eq!(
        store.meta("fixture").await.unwrap().as_deref(),
        Some("written by schema v1")
    );
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].clean, Some(true));
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_daemon_refuses_a_newer_database_and_leaves_it_untouched() {
    let t = Terminal::new();
    {
        let c = rusqlite::Connection::open(t.db_path()).unwrap();
        c.execute_batch("CREATE TABLE later (x INTEGER);").unwrap();
        c.pragma_update(None, "application_id", medsettle::store::APPLICATION_ID)
            .unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let before = std::fs::read(t.db_path()).unwrap();
    let config = t.write_config();
    let (status, _, err) = run_cli(&["run", "--config", config.to_str().unwrap()], None);
    assert!(!status.success(), "{err}");
    assert!(err.contains("newer medsettle"), "{err}");
    assert!(err.contains("Upgrade medsettle"), "{err}");
    assert_eq!(std::fs::read(t.db_path()).unwrap(), before);
}

#[tokio::test]
async fn a_corrupt_database_is_moved_aside_and_raises_an_alarm() {
    let t = Terminal::new();
    let garbage = b"this was never an SQLite database, but it is somebody's data".repeat(100);
    std::fs::write(t.db_path(), &garbage).unwrap();
    let d = InProcess::start(&t).await;
    let status: Value = support::get_json(&d.url("/v1/status")).await;
    let alarms = status["alarms"].to_string();
    assert!(alarms.contains("store.quarantined"), "{status}");
    d.shutdown().await;
    let moved: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("medsettle.db.corrupt-") && !name.contains("-wal")
        })
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), garbage);
}

/// A database above `store.alarm_size_mib` raises the `store.size` alarm; below it, none.
#[tokio::test]
async fn a_database_above_its_alarm_size_is_an_alarm() {
    for (big, limit) in [(false, 1024), (true, 1)] {
        let t = crate::support::Terminal::new();
        if big {
            let (store, _) =
                medsettle::store::Store::open(&t.db_path(), std::time::Duration::from_secs(5))
                    .unwrap();
            store
                .set_meta("padding", &"x".repeat(1_500_000))
                .await
                .unwrap();
            store.close().await.unwrap();
        }
        let mut config = t.config();
        config.store.alarm_size_mib = limit;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let env = medsettle::daemon::Environment {
            notifier: medsettle::daemon::Notifier::disabled(),
            credentials_dir: None,
            log: None,
            events: medsettle::events::EventBus::default(),
            readers: None,
            scans: None,
        };
        let d = medsettle::daemon::Daemon::start(config, listener, env)
            .await
            .unwrap();
        let url = format!("http://{}/v1/status", d.local_addr().unwrap());
        let (control, rx) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(d.serve(rx));
        // The first check runs before READY.
        let status = crate::support::get_json(&url).await;
        let alarmed = status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "store.size");
        assert_eq!(alarmed, big);
        control
            .send(medsettle::daemon::Control::Shutdown)
            .await
            .unwrap();
        task.await.unwrap().unwrap();
    }
}
