//! The crate graph the architecture promises (ARCHITECTURE.md), read from `cargo metadata`:
//! no driver and no pure protocol crate depends on the daemon; the pure crates, the fake card
//! (vcard) and the fake insurer (sandbox) compile without the daemon's heavy edges (axum,
//! SQLite, the HTTP client, the QR decoders).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Package name → the names of its normal (non-dev, non-build) dependencies, transitively.
fn normal_closure() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let name = name_of[node["id"].as_str().unwrap()].to_owned();
        let deps = node["deps"].as_array().unwrap().iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null())
        });
        let entry = direct.entry(name).or_default();
        entry.extend(deps.map(|d| name_of[d["pkg"].as_str().unwrap()].to_owned()));
    }
    let mut closure = BTreeMap::new();
    for name in direct.keys() {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.clone()];
        while let Some(n) = todo.pop() {
            for d in direct.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        closure.insert(name.clone(), seen);
    }
    closure
}

fn members(dir: &str) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let manifest = e.ok()?.path().join("Cargo.toml");
            let text = std::fs::read_to_string(manifest).ok()?;
            let line = text.lines().find(|l| l.starts_with("name = "))?;
            Some(
                line.trim_start_matches("name = ")
                    .trim_matches('"')
                    .to_owned(),
            )
        })
        .collect();
    names.sort();
    names
}

const HEAVY: [&str; 6] = ["axum", "rusqlite", "reqwest", "rqrr", "quircs", "rxing"];

#[test]
fn no_driver_or_protocol_crate_depends_on_the_daemon() {
    let closure = normal_closure();
    let crates = members("crates");
    let drivers = members("drivers");
    assert!(
        crates.len() >= 5 && drivers.len() >= 5,
        "{crates:?} {drivers:?}"
    );
    for name in crates.iter().chain(&drivers) {
        let deps = &closure[name];
        assert!(
            !deps.contains("medsettle-daemon"),
            "{name} depends on the daemon: {deps:?}"
        );
    }
    // The check can fail: the daemon itself reaches every driver.
    assert!(closure["medsettle-daemon"].contains("medsettle-pcsc"));
}

#[test]
fn the_pure_crates_and_the_fake_card_compile_without_the_heavy_edges() {
    let closure = normal_closure();
    let mut light = members("crates");
    light.push("medsettle-vcard".into());
    for name in &light {
        let heavy: Vec<_> = HEAVY
            .iter()
            .filter(|h| closure[name].contains(**h))
            .collect();
        assert!(heavy.is_empty(), "{name} pulls in {heavy:?}");
    }
    // The fake insurer runs its own HTTP server (axum) but no database, client or decoder.
    let sandbox = &closure["medsettle-sandbox"];
    let heavy: Vec<_> = HEAVY[1..]
        .iter()
        .filter(|h| sandbox.contains(**h))
        .collect();
    assert!(heavy.is_empty(), "the sandbox pulls in {heavy:?}");
    // And the daemon does use them all, so the names are right.
    for h in HEAVY {
        assert!(
            closure["medsettle-daemon"].contains(h),
            "daemon without {h}?"
        );
    }
}
