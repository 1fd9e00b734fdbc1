//! The fuzz targets' regression inputs, without a fuzzer: every file under
//! `fixtures/fuzz/TARGET/` goes through the same check the libFuzzer target `TARGET` runs
//! (`medsettle_fuzz_harness`), so a crash once found stays fixed in plain `cargo test`.

use std::path::Path;

#[test]
fn every_regression_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fuzz");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).expect("fixtures/fuzz exists") {
        let dir = dir.expect("a directory entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let check = medsettle_fuzz_harness::target(name)
            .unwrap_or_else(|| panic!("fixtures/fuzz/{name}: no fuzz target of that name"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("a readable directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} fails its target", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression input under {}", root.display());
}

#[test]
fn every_target_accepts_the_empty_input() {
    for (name, check) in medsettle_fuzz_harness::TARGETS {
        let outcome = std::panic::catch_unwind(|| check(&[]));
        assert!(outcome.is_ok(), "target {name} fails on the empty input");
    }
}
