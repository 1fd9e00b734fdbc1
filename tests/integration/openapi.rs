//! The OpenAPI document (`src/api/openapi.json`) kept true by hand: valid OpenAPI 3.1 by an
//! independent validator (`openapi-spec-validator`, PyPI, pinned in `scripts/bootstrap`), an
//! `operationId` and declared tags on every operation, and the same operations as the route
//! table the router registers — both as data and against the running daemon.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use medsettle::api::{Access, OPENAPI, ROUTES};
use serde_json::Value;

use crate::support::{self, InProcess, Terminal};

fn doc() -> Value {
    serde_json::from_str(OPENAPI).unwrap()
}

/// Every operation: (METHOD, path, operation object).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

/// The validator on PATH; `None` (the test skips) unless CI is set, where its absence fails.
fn validator() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("openapi-spec-validator"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openapi-spec-validator is not installed: run scripts/bootstrap"
        );
        eprintln!(
            "SKIPPED: openapi-spec-validator is not installed (scripts/bootstrap installs it)"
        );
    }
    found
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    // 3.0's `nullable` means nothing in 3.1 (a null must be in `type`): none may be left.
    assert!(
        !OPENAPI.contains("\"nullable\""),
        "3.0 `nullable` in a 3.1 document"
    );
    let Some(validator) = validator() else { return };
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/openapi.json");
    let out = Command::new(&validator).arg(&spec).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("OK"),
        "openapi-spec-validator refused the document:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator itself refuses a broken document (it is not passing everything).
    let work = tempfile::tempdir().unwrap();
    let mut broken = doc.clone();
    broken["paths"]["/healthz"]["get"]["responses"] = serde_json::json!({ "200": {} });
    let bad = work.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let out = Command::new(&validator).arg(&bad).output().unwrap();
    assert!(
        !out.status.success(),
        "a response without a description passed"
    );
}

#[test]
fn every_operation_has_a_unique_id_and_declared_tags() {
    let doc = doc();
    let declared: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("top-level tags")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric()) && id.starts_with(char::is_lowercase),
            "{method} {path}: operationId {id:?} is not lowerCamelCase"
        );
        assert!(ids.insert(id.to_owned()), "operationId {id} used twice");
        let tags = op["tags"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no tags"));
        assert!(!tags.is_empty(), "{method} {path}: no tags");
        for t in tags {
            let t = t.as_str().unwrap();
            assert!(
                declared.contains(t),
                "{method} {path}: tag {t:?} not declared"
            );
            used.insert(t.to_owned());
        }
    }
    let unused: Vec<_> = declared.iter().filter(|t| !used.contains(**t)).collect();
    assert!(
        unused.is_empty(),
        "declared tags no operation uses: {unused:?}"
    );
}

#[tokio::test]
async fn the_document_and_the_router_have_the_same_operations() {
    let doc = doc();
    let mut documented = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let public = op
            .get("security")
            .is_some_and(|s| s.as_array().is_some_and(|a| a.is_empty()));
        let page = op
            .get("x-medsettle-page")
            .is_some_and(|p| p == &Value::Bool(true));
        documented.insert((method.clone(), path.clone(), public, page));
        assert!(
            ["200", "201", "202", "303"]
                .iter()
                .any(|c| op["responses"].get(*c).is_some()),
            "{method} {path}"
        );
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                matches!(r.access, Access::Public | Access::Page),
                r.access == Access::Page,
            )
        })
        .collect();
    assert_eq!(documented, served, "openapi.json and api::ROUTES disagree");

    // The running router: every documented protected operation exists there (asked without a
    // token it answers 401, not the router's 404/405), and a method the document does not
    // list on a documented path is refused as not allowed.
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    for (method, path, op) in operations(&doc) {
        let public = op
            .get("security")
            .is_some_and(|s| s == &serde_json::json!([]));
        let url = d.url(&path.replace("{id}", "no-such-id"));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        if !public {
            let r = c.request(m, &url).send().await.unwrap();
            assert_eq!(
                r.status(),
                401,
                "{method} {path} is not routed as protected"
            );
        }
        let item = doc["paths"][&path].as_object().unwrap();
        if !item.contains_key("put") && !item.contains_key("post") {
            let r = c.request(reqwest::Method::PUT, &url).send().await.unwrap();
            assert_eq!(r.status(), 405, "PUT {path} is routed but not documented");
        }
    }
    // The daemon serves the same document.
    let served_doc: Value = support::get_json(&d.url("/v1/openapi.json")).await;
    assert_eq!(served_doc, doc);
    d.shutdown().await;
}
