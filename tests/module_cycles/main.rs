//! The module-cycle check (issue 14, item 6): no import cycle between the top-level modules of
//! a crate, nor between the sibling modules of any folder, in the daemon (`src/`) and in every
//! crate under `crates/` and `drivers/`. Paths are read from the source (`crate::`, `super::`,
//! `self::`, child modules, `pub use` re-exports followed to the defining module; comments and
//! strings skipped); a cycle fails the test with the lines that make it. A folder's own
//! `mod.rs` is its parent, not a sibling.
//!
//! `ALLOWED` is empty: no cycle is allowed. It exists for a refactoring in progress to name a
//! dependency (module → module within one folder) it will remove; an entry whose dependency is
//! gone, or that closes no cycle, fails the test, so the list can only shrink back to empty.

mod graph;
mod lex;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use graph::{Crate, Edge, ModPath};

/// (crate folder, module folder, from, to): dependencies left out of the graph. Empty.
const ALLOWED: &[(&str, &str, &str, &str)] = &[];

/// One strongly connected set of modules within one folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cycle {
    krate: String,
    folder: String,
    modules: BTreeSet<String>,
}

#[test]
fn no_module_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut crates = vec![(".".to_owned(), root.join("src/lib.rs"))];
    for group in ["crates", "drivers"] {
        let mut dirs: Vec<_> = std::fs::read_dir(root.join(group))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("src/lib.rs").exists())
            .collect();
        dirs.sort();
        for d in dirs {
            let name = format!("{group}/{}", d.file_name().unwrap().to_string_lossy());
            crates.push((name, d.join("src/lib.rs")));
        }
    }

    let allowed: BTreeSet<(String, String, String, String)> = ALLOWED
        .iter()
        .map(|(k, d, a, b)| {
            let s = |x: &str| x.to_owned();
            (s(k), s(d), s(a), s(b))
        })
        .collect();
    let mut report = String::new();
    let mut used = BTreeSet::new();
    for (name, lib) in &crates {
        let edges = Crate::load(lib).edges();
        // The daemon has hundreds of internal paths: none found means the reader broke.
        assert!(
            name != "." || edges.len() > 100,
            "no paths in {}",
            lib.display()
        );
        for (cycle, lines) in cycles(name, &edges, &allowed, &mut used) {
            report.push_str(&format!(
                "cycle in {} {}: {:?}\n{lines}",
                cycle.krate, cycle.folder, cycle.modules
            ));
        }
        // Each entry must be needed: without it, a cycle comes back.
        for entry in allowed.iter().filter(|e| e.0 == *name) {
            let mut fewer = allowed.clone();
            fewer.remove(entry);
            if cycles(name, &edges, &fewer, &mut BTreeSet::new()).is_empty() {
                report.push_str(&format!(
                    "ALLOWED names a dependency that closes no cycle (delete the entry): {entry:?}\n"
                ));
            }
        }
    }
    for stale in allowed.difference(&used) {
        report.push_str(&format!(
            "ALLOWED names a dependency that is gone (delete the entry): {stale:?}\n"
        ));
    }
    assert!(report.is_empty(), "\n{report}");
}

/// For every module folder of one crate (the root included): its cycles, each with the lines
/// that make it.
fn cycles(
    krate: &str,
    edges: &[Edge],
    allowed: &BTreeSet<(String, String, String, String)>,
    used: &mut BTreeSet<(String, String, String, String)>,
) -> Vec<(Cycle, String)> {
    let folders: BTreeSet<ModPath> = edges
        .iter()
        .flat_map(|e| [&e.from, &e.to])
        .flat_map(|m| (0..m.len()).map(|n| m[..n].to_vec()))
        .collect();
    let mut out = Vec::new();
    for folder in folders {
        // Each child module of the folder is a node (with everything under it). The folder's
        // own file (`mod.rs`) is the parent, not a sibling: it declares and re-exports its
        // children, and they use the items it defines.
        let node = |m: &ModPath| -> Option<String> {
            if m.starts_with(&folder) {
                m.get(folder.len()).cloned()
            } else {
                None
            }
        };
        let mut graph: BTreeMap<String, BTreeMap<String, &Edge>> = BTreeMap::new();
        for e in edges {
            if let (Some(a), Some(b)) = (node(&e.from), node(&e.to))
                && a != b
            {
                let key = (krate.to_owned(), folder.join("::"), a.clone(), b.clone());
                if allowed.contains(&key) {
                    used.insert(key);
                    continue;
                }
                graph.entry(a).or_default().entry(b).or_insert(e);
            }
        }
        for scc in strongly_connected(&graph) {
            let mut lines = String::new();
            for a in &scc {
                for (b, e) in graph.get(a).into_iter().flatten() {
                    if scc.contains(b) {
                        lines.push_str(&format!("  {a} -> {b}: {}:{}\n", e.file.display(), e.line));
                    }
                }
            }
            let cycle = Cycle {
                krate: krate.to_owned(),
                folder: if folder.is_empty() {
                    "(top level)".to_owned()
                } else {
                    folder.join("::")
                },
                modules: scc,
            };
            out.push((cycle, lines));
        }
    }
    out
}

/// The sets of two or more nodes that all reach each other.
fn strongly_connected(graph: &BTreeMap<String, BTreeMap<String, &Edge>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (n, r) in &reaches {
        if !r.contains(*n) || out.iter().any(|s| s.contains(*n)) {
            continue;
        }
        let scc = r
            .iter()
            .filter(|m| reaches.get(m).is_some_and(|rm| rm.contains(*n)))
            .cloned()
            .collect();
        out.push(scc);
    }
    out
}

#[test]
fn a_cycle_through_a_use_tree_a_re_export_or_a_child_path_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\n");
    // a -> b by a use tree; b -> c by a re-export in c's parent; c -> a by a plain path.
    write(
        "a.rs",
        "use crate::{b::{self, X}};\n/// crate::c::Z in a comment is no path\n",
    );
    write("b/mod.rs", "mod inner;\npub use inner::Y;\npub struct X;\n");
    write("b/inner.rs", "pub struct Y(crate::c::Z);\n");
    write(
        "c.rs",
        "pub struct Z;\nfn f() { let _ = \"crate::b\"; super::a::g(); }\n",
    );
    let edges = Crate::load(&dir.path().join("lib.rs")).edges();
    let found = cycles("t", &edges, &BTreeSet::new(), &mut BTreeSet::new());
    let modules: Vec<_> = found.iter().map(|(c, _)| c.modules.clone()).collect();
    let all: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    assert_eq!(modules, [all]);
}
