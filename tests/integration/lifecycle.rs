//! The daemon's lifecycle against a fake systemd: READY only once the API answers and the
//! database is migrated, SIGTERM/SIGINT drain and exit 0, the grace timeout, SIGHUP reload,
//! watchdog pings.

use std::time::Duration;

use medsettle::daemon::Control;
use medsettle::store::{SCHEMA_VERSION, Store};

use crate::support::{self, InProcess, Process, TOKEN, Terminal};

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn user_version(terminal: &Terminal) -> u32 {
    let conn = rusqlite::Connection::open(terminal.db_path()).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn ready_comes_after_bind_and_migration() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    // READY has just arrived: the API must already answer and the schema be current.
    let resp = support::client()
        .get(p.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(user_version(&t), SCHEMA_VERSION);
    let seen = p.notify.seen();
    let ready_at = seen.iter().position(|m| m.contains("READY=1")).unwrap();
    let starting_at = seen
        .iter()
        .position(|m| m.contains("STATUS=starting"))
        .unwrap();
    assert!(starting_at < ready_at, "{seen:?}");
    assert_eq!(seen.iter().filter(|m| m.contains("READY=1")).count(), 1);
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    p.signal(SIGTERM);
    let stopping = p.notify.wait_for("STOPPING=1").await;
    assert!(stopping.contains("STATUS=stopping"), "{stopping}");
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("medsettle stopped"), "{log}");
    let (store, report) = Store::open(&t.db_path(), Duration::from_secs(1)).unwrap();
    assert_eq!(report.unclean_runs, 0);
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].clean, Some(true));
    store.close().await.unwrap();
}

#[tokio::test]
async fn sigint_stops_cleanly_too() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    p.signal(SIGINT);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "log:\n{log}");
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_work_and_refuses_new_connections() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let guard = d.work.start();
    d.control.send(Control::Shutdown).await.unwrap();
    let stopping = d.notify.wait_for("STOPPING=1").await;
    assert!(stopping.contains("draining 1 in-flight"), "{stopping}");
    // The listener is closed once STOPPING is sent, before the drain completes.
    let refused = support::client().get(d.url("/healthz")).send().await;
    assert!(refused.is_err() || refused.unwrap().status() == 503);
    assert!(
        !d.task.is_finished(),
        "the daemon exited with work in flight"
    );
    drop(guard);
    d.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn grace_timeout_ends_a_stuck_drain() {
    let t = Terminal::with(|x| x.push_str("\n[daemon]\nshutdown_grace_ms = 50\n"));
    let d = InProcess::start(&t).await;
    let stuck = d.work.start();
    d.shutdown().await;
    drop(stuck);
    let (store, _) = Store::open(&t.db_path(), Duration::from_secs(1)).unwrap();
    let runs = store.recent_runs(5).await.unwrap();
    assert_eq!(
        runs[0].clean,
        Some(false),
        "a drain cut short is recorded as unclean"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn sighup_rotates_the_token() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    let c = support::client();
    let get = |tok: &'static str| c.get(p.url("/v1/status")).bearer_auth(tok).send();
    assert_eq!(get(TOKEN).await.unwrap().status(), 200);
    std::fs::write(t.path().join("api-token"), "rotated-token-42\n").unwrap();
    p.signal(SIGHUP);
    p.notify
        .wait_for("STATUS=ready: configuration reloaded")
        .await;
    assert_eq!(get(TOKEN).await.unwrap().status(), 401);
    assert_eq!(get("rotated-token-42").await.unwrap().status(), 200);
    p.signal(SIGTERM);
    assert_eq!(p.wait().0.code(), Some(0));
}

#[tokio::test]
async fn sighup_with_a_broken_config_keeps_running() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    std::fs::write(t.path().join("medsettle.toml"), "[terminal]\nid = 1\n").unwrap();
    p.signal(SIGHUP);
    p.notify.wait_for("reload refused").await;
    assert_eq!(
        support::client()
            .get(p.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    p.signal(SIGTERM);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0));
    assert!(log.contains("reload refused"), "{log}");
    assert!(log.contains("`terminal.id`"), "{log}");
}

#[tokio::test]
async fn watchdog_is_pinged_when_systemd_asks() {
    let t = Terminal::new();
    let p = Process::start_with(&t, |cmd| {
        cmd.env("WATCHDOG_USEC", "200000");
    })
    .await;
    p.notify.wait_for("WATCHDOG=1").await;
    p.notify.wait_for("WATCHDOG=1").await;
    p.signal(SIGTERM);
    assert_eq!(p.wait().0.code(), Some(0));
}
