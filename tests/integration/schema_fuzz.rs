//! The API against its own OpenAPI document, fuzzed by schemathesis (PyPI; `scripts/bootstrap`
//! installs the pinned version) on the real binary with every part present: the virtual card
//! reader, a looping camera, the sandbox insurer — so an answer is never "not available here".
//!
//! - Invalid requests (`--mode negative`): each must be refused with a 4xx, none may answer
//!   5xx or hang, and none may change the database. Schemathesis also sends some valid requests
//!   in this mode (an optional body left out); every row added during the run must be the effect
//!   of a request that was accepted, by the HAR log of the run: no sale, history row or e-SSC
//!   nonce without an accepted request that makes one, no idempotency entry for a refused
//!   request, no upstream call but the sign-in and an accepted reconciliation's 3201.
//! - Valid requests (`--mode positive`): no 5xx (read from the HAR log; the one exception is
//!   a contactless slot asked of the contact-only virtual reader), no hang.
//!
//! The event stream (`GET /v1/events`) never ends by design and is left out; the kiosk routes
//! run against a daemon in kiosk mode. Each run is seeded and time-boxed; the seed and the
//! report are printed on failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::process::Process;
use crate::support::{TOKEN, Terminal};

/// Seconds each schemathesis run may take.
const BUDGET_S: &str = "40";
const SEED: &str = "20261123";

fn schemathesis() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("st"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("schemathesis (`st`) is not installed: run scripts/bootstrap (CI does)")
        })
}

/// The rows a run added, for a failure message.
fn what_changed(db: &Path) -> String {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut out = String::new();
    for (sql, label) in [
        (
            "SELECT route || ' ' || status FROM idempotency",
            "idempotency",
        ),
        (
            "SELECT infno || ' ' || coalesce(outcome, '-') FROM upstream_audit",
            "upstream",
        ),
        ("SELECT id || ' ' || state FROM sales", "sales"),
    ] {
        let mut q = c.prepare(sql).unwrap();
        let rows: Vec<String> = q
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.push_str(&format!("{label}: {rows:?}\n"));
    }
    out
}

/// Runs schemathesis in `mode` on the operations `filter` selects; panics with its report
/// unless it passed. Returns how many requests were accepted (2xx), per `METHOD /path` with
/// the sale id in place of `{id}`.
fn run(p: &Process, mode: &str, checks: &str, filter: &[&str]) -> Vec<(String, u16, String)> {
    let work = tempfile::tempdir().unwrap();
    let har = work.path().join("run.har");
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/openapi.json");
    let out = Command::new(schemathesis())
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(["run"])
        .arg(&spec)
        .args(["--url", &p.url("")])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--mode", mode, "--checks", checks])
        .args([
            "--seed",
            SEED,
            "--max-time",
            BUDGET_S,
            "--max-examples",
            "40",
        ])
        // One worker: with two, hypothesis parses lambda sources with `ast.parse` on two threads
        // at once, which CPython 3.11 does not survive ("AST constructor recursion depth
        // mismatch", a crash of the tool, not a finding).
        .args(["--request-timeout", "35", "--workers", "1"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--exclude-path", "/v1/events"])
        .args(["--report", "har", "--report-har-path"])
        .arg(&har)
        .args(filter)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("schemathesis {mode}: {}", text.lines().last().unwrap_or(""));
    assert!(
        out.status.success(),
        "schemathesis --mode {mode} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    log["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap();
            let path = url.split_once("://").unwrap().1;
            let path = &path[path.find('/').unwrap()..];
            let path = path.split('?').next().unwrap();
            let body: serde_json::Value =
                serde_json::from_str(e["response"]["content"]["text"].as_str().unwrap_or(""))
                    .unwrap_or_default();
            (
                format!("{} {path}", e["request"]["method"].as_str().unwrap()),
                e["response"]["status"].as_u64().unwrap() as u16,
                body["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// No valid request answered 5xx, but one: the terminal's virtual reader has a contact slot
/// only, so a request that insists on a contactless slot is told `503 reader.none` (no
/// suitable reader connected), as on a counter whose reader has no contactless antenna.
fn assert_no_server_error(requests: &[(String, u16, String)]) {
    let errors: Vec<_> = requests
        .iter()
        .filter(|(_, s, code)| *s >= 500 && !(*s == 503 && code == "reader.none"))
        .collect();
    println!(
        "schemathesis positive: {} requests, {} answered 503 reader.none",
        requests.len(),
        requests
            .iter()
            .filter(|(_, _, c)| c == "reader.none")
            .count()
    );
    assert!(
        errors.is_empty(),
        "5xx answers to valid requests: {errors:?}"
    );
}

/// Every row the negative run added must come from an accepted request.
fn assert_only_accepted_requests_changed_state(db: &Path, requests: &[(String, u16, String)]) {
    let accepted = |what: &str| {
        requests
            .iter()
            .filter(|(r, s, _)| (200..300).contains(s) && r.starts_with(what))
            .count()
    };
    let refused = requests.iter().filter(|(_, s, _)| *s >= 400).count();
    println!(
        "schemathesis negative: {} requests, {refused} refused",
        requests.len()
    );
    assert!(
        refused > 100,
        "the negative run refused only {refused} requests"
    );
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let changed = || what_changed(db);
    if accepted("POST /v1/sales") == 0 {
        assert_eq!(count("SELECT count(*) FROM sales"), 0, "{}", changed());
        assert_eq!(
            count("SELECT count(*) FROM sale_events"),
            0,
            "{}",
            changed()
        );
    }
    if accepted("POST /v1/qr/submit") == 0 {
        assert_eq!(count("SELECT count(*) FROM essc_nonce"), 0, "{}", changed());
    }
    assert_eq!(
        count("SELECT count(*) FROM idempotency WHERE status IN (400, 404, 405, 413, 415)"),
        0,
        "a refused request left an idempotency entry: {}",
        changed()
    );
    let calls = if accepted("POST /v1/reconcile") > 0 {
        "('9001', '3201')"
    } else {
        "('9001')"
    };
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM upstream_audit WHERE infno NOT IN {calls}"
        )),
        0,
        "{}",
        changed()
    );
}

/// The daemon under test; no scheduled 3201 (`reconcile_at = ""`), so what reaches the
/// platform is only what the campaign's requests caused, whatever the time of day.
async fn daemon(t: &Terminal, sandbox: &medsettle_sandbox::Sandbox, extra: &str) -> Process {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    let frames = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/qr/frames");
    let text = t
        .config_text()
        .replace(
            "backend = \"none\"",
            &format!("backend = \"virtual\"\nvirtual_profile = \"{profile}\""),
        )
        .replace("[terminal]\n", &format!("[terminal]\n{extra}"))
        + &format!(
            "\n[upstream]\nbase_url = \"{}\"\nec_url = \"{}\"\nallow_plain_http = true\n\
             signtype = \"MOCK\"\n\n[settle]\nskip_pin_consent = true\nreconcile_at = \"\"\n\n[qr]\ncamera_dir = \"{frames}\"\ncamera_loop = true\n",
            sandbox.base_url(),
            sandbox.ec_url()
        );
    Process::start_config(t.path(), &text, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await
}

/// One campaign: a daemon (with `terminal_extra` in `[terminal]`), the negative run and its
/// state check, the positive run, and a clean stop.
async fn campaign(terminal_extra: &str, filter: [&'static str; 2]) {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::new();
    let p = daemon(&t, &sandbox, terminal_extra).await;
    let db = p.db(&t);
    let (p, requests) = tokio::task::spawn_blocking(move || {
        let checks = "not_a_server_error,negative_data_rejection";
        let r = run(&p, "negative", checks, &filter);
        (p, r)
    })
    .await
    .unwrap();
    // A kiosk session is what the kiosk routes start (it may read the card, call the platform
    // and make a sale); unless one was accepted, only accepted requests may have changed state.
    if !requests
        .iter()
        .any(|(r, s, _)| r == "POST /v1/kiosk/sessions" && (200..300).contains(s))
    {
        assert_only_accepted_requests_changed_state(&db, &requests);
    }
    let p = tokio::task::spawn_blocking(move || {
        let requests = run(&p, "positive", "content_type_conformance", &filter);
        assert_no_server_error(&requests);
        p
    })
    .await
    .unwrap();
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_fuzz_invalid_requests_change_nothing_and_nothing_answers_5xx() {
    campaign("", ["--exclude-path-regex", "^/v1/kiosk"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_fuzz_kiosk_routes_in_kiosk_mode() {
    campaign("mode = \"kiosk\"\n", ["--include-path-regex", "^/v1/kiosk"]).await;
}
