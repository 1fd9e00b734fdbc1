//! Unit tests of the store, by concern: `open` (pragmas, refusals, quarantine), `migrate`
//! (fixtures of every older schema, one transaction per step), `writer` (operations, close,
//! crash recovery, stats), `outbox` (the fleet outbox). Each test works in its own temporary directory and copies
//! fixtures there first; the committed fixtures are never opened in place.

mod batch;
mod inspect;
mod migrate;
mod nonces;
mod open;
mod outbox;
mod sales;
mod sealed;
mod trace;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use tempfile::TempDir;

use super::{RunId, Store};

/// An unusual busy timeout, so reading it back proves it was applied.
const BUSY: Duration = Duration::from_millis(1234);

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn db_in(dir: &TempDir) -> PathBuf {
    dir.path().join("medsettle.db")
}

/// `fixtures/db/<name>` in the repository.
fn fixture(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR")))
        .join("fixtures/db")
        .join(name)
}

/// Copies the schema-`version` fixture into `dir` and returns the copy's path. A fixture
/// with sealed values (v7 on) comes with its key file (`vN.db-key`, the [`test_keys`] line),
/// copied to the default key file beside the database.
fn copy_fixture(version: u32, dir: &TempDir) -> PathBuf {
    let to = db_in(dir);
    std::fs::copy(fixture(&format!("v{version}.sqlite")), &to).unwrap();
    let key = fixture(&format!("v{version}.db-key"));
    if key.is_file() {
        let dest = dir.path().join(super::crypt::DEFAULT_KEY_FILE);
        std::fs::copy(key, &dest).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    to
}

/// A fixed key set for tests that work below `Store::open`.
fn test_keys() -> super::KeySet {
    super::KeySet::parse(
        "test-1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "test",
    )
    .unwrap()
}

/// A plain connection for looking at a file from outside the store.
fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn start_run(store: &Store, pid: u32) -> RunId {
    store
        .record_run(pid, "0.1.0", 1_000 + i64::from(pid))
        .await
        .unwrap()
}
