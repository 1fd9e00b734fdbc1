//! The module graph of one crate, from its source files: the module tree (followed from the
//! crate root through `mod x;` declarations and `#[path]`), each module's `pub use`
//! re-exports, and every path that names an item of the same crate (`crate::…`, `super::…`,
//! `self::…`, a child module's name), resolved through re-exports to the module that defines
//! the item.
//!
//! It reads files and nothing else; it never compiles or runs the code it looks at.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::lex::{Tok, lex};

/// A module's path from the crate root (`["api", "card"]`); the root is `[]`.
pub type ModPath = Vec<String>;

/// One use of another module's item: where it is written and the defining module.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: ModPath,
    pub to: ModPath,
    pub file: PathBuf,
    pub line: usize,
}

struct File {
    module: ModPath,
    path: PathBuf,
    toks: Vec<(Tok, usize)>,
    children: BTreeSet<String>,
}

/// The crate rooted at `root` (`src/lib.rs`): its modules and the edges between them.
pub struct Crate {
    files: Vec<File>,
    modules: BTreeSet<ModPath>,
    /// Module → re-exported name → the absolute path it stands for.
    reexports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
}

impl Crate {
    pub fn load(root: &Path) -> Crate {
        let mut files = Vec::new();
        load_file(root, Vec::new(), true, &mut files);
        let modules = files.iter().map(|f| f.module.clone()).collect();
        let mut krate = Crate {
            files,
            modules,
            reexports: BTreeMap::new(),
        };
        for f in &krate.files {
            let mut names = BTreeMap::new();
            for (name, target) in reexports(f) {
                names.insert(name, target);
            }
            krate.reexports.insert(f.module.clone(), names);
        }
        krate
    }

    /// Every reference from a file to an item of another module of this crate.
    pub fn edges(&self) -> Vec<Edge> {
        let mut out = Vec::new();
        for f in &self.files {
            for (target, line) in paths(f) {
                let to = self.resolve(&target, 0);
                // A module naming its own items is no dependency; nor is the crate root,
                // which holds only declarations.
                if to != f.module && !to.is_empty() {
                    out.push(Edge {
                        from: f.module.clone(),
                        to,
                        file: f.path.clone(),
                        line,
                    });
                }
            }
        }
        out
    }

    /// The module that defines the item at the absolute `path`, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> ModPath {
        let mut n = path.len();
        while n > 0 && !self.modules.contains(&path[..n]) {
            n -= 1;
        }
        let module = path[..n].to_vec();
        if depth < 8
            && let Some(name) = path.get(n)
            && let Some(target) = self.reexports.get(&module).and_then(|r| r.get(name))
        {
            let mut next = target.clone();
            next.extend_from_slice(&path[n + 1..]);
            return self.resolve(&next, depth + 1);
        }
        module
    }
}

/// Reads `file` as module `module` and, through its `mod x;` lines, every module under it.
fn load_file(file: &Path, module: ModPath, owns_dir: bool, out: &mut Vec<File>) {
    let src = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let toks = lex(&src);
    let dir = if owns_dir {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let mut children = BTreeSet::new();
    let mut inline_depth = 0usize;
    let mut depth = 0usize;
    let mut inline_stack = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline_stack.last() == Some(&depth) {
                    inline_stack.pop();
                    inline_depth -= 1;
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((next, _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    if *next == Tok::Punct(';') && inline_depth == 0 {
                        let child_file = path_attr(&toks[..i])
                            .map(|p| file.parent().unwrap().join(p))
                            .unwrap_or_else(|| {
                                let flat = dir.join(format!("{name}.rs"));
                                if flat.exists() {
                                    flat
                                } else {
                                    dir.join(name).join("mod.rs")
                                }
                            });
                        let owns = child_file.file_name().is_some_and(|n| n == "mod.rs");
                        let mut m = module.clone();
                        m.push(name.clone());
                        children.insert(name.clone());
                        load_file(&child_file, m, owns, out);
                    } else if *next == Tok::Punct('{') {
                        inline_stack.push(depth);
                        inline_depth += 1;
                        depth += 1;
                        i += 2;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push(File {
        module,
        path: file.to_path_buf(),
        toks,
        children,
    });
}

/// The string of a `#[path = "…"]` right before a `mod` (after other attributes, `pub`).
fn path_attr(before: &[(Tok, usize)]) -> Option<String> {
    let mut j = before.len();
    while j > 0 {
        j -= 1;
        match &before[j].0 {
            Tok::Ident(w) if w == "pub" || w == "crate" || w == "super" => {}
            Tok::Punct('(') | Tok::Punct(')') => {}
            Tok::Punct(']') => {
                // Walk back to the attribute's `#[`.
                let end = j;
                while j > 0 && before[j].0 != Tok::Punct('[') {
                    j -= 1;
                }
                let attr = &before[j..end];
                if let [
                    (Tok::Punct('['), _),
                    (Tok::Ident(p), _),
                    (Tok::Punct('='), _),
                    (Tok::Str(s), _),
                ] = attr
                    && p == "path"
                {
                    return Some(s.clone());
                }
                j = j.saturating_sub(1); // the `#`
            }
            _ => return None,
        }
    }
    None
}

/// Every crate-internal path written in `f`, absolute, with its line.
fn paths(f: &File) -> Vec<(ModPath, usize)> {
    let mut out = Vec::new();
    let toks = &f.toks;
    let mut scope = Scope::new(f);
    let mut i = 0;
    while i < toks.len() {
        scope.step(toks, i);
        let here = scope.module();
        let prev_is_path = i > 0 && toks[i - 1].0 == Tok::Path;
        if let Tok::Ident(first) = &toks[i].0
            && !prev_is_path
            && toks.get(i + 1).is_some_and(|t| t.0 == Tok::Path)
            && let Some(base) = anchor(first, &here, f)
        {
            let line = toks[i].1;
            let (trees, end) = tree(toks, i + 2);
            for t in trees {
                let mut p = base.clone();
                for seg in t {
                    if seg == "self" {
                        continue;
                    }
                    if seg == "super" {
                        p.pop();
                        continue;
                    }
                    p.push(seg);
                }
                out.push((p, line));
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// The `pub use` re-exports at the top level of `f`: (name, absolute target).
fn reexports(f: &File) -> Vec<(String, ModPath)> {
    let mut out = Vec::new();
    let toks = &f.toks;
    let mut scope = Scope::new(f);
    for i in 0..toks.len() {
        scope.step(toks, i);
        if toks[i].0 != Tok::Ident("use".into()) || scope.inline > 0 {
            continue;
        }
        let public = i > 0
            && (toks[i - 1].0 == Tok::Ident("pub".into()) || toks[i - 1].0 == Tok::Punct(')'));
        let Some((Tok::Ident(first), _)) = toks.get(i + 1) else {
            continue;
        };
        if !public || toks.get(i + 2).map(|t| &t.0) != Some(&Tok::Path) {
            continue;
        }
        let Some(base) = anchor(first, &f.module, f) else {
            continue;
        };
        let (trees, _) = tree(toks, i + 3);
        for t in trees {
            let mut p = base.clone();
            let mut name = None;
            let mut it = t.into_iter().peekable();
            while let Some(seg) = it.next() {
                match seg.as_str() {
                    "self" => {}
                    "super" => {
                        p.pop();
                    }
                    "as" => name = it.next(),
                    _ => p.push(seg),
                }
            }
            if let Some(last) = name.or_else(|| p.last().cloned())
                && last != "*"
                && last != "_"
            {
                out.push((last, p));
            }
        }
    }
    out
}

/// Where a path starting with `first` is anchored: `crate`, `super`, `self` or a child module.
fn anchor(first: &str, here: &[String], f: &File) -> Option<ModPath> {
    match first {
        "crate" => Some(Vec::new()),
        "self" => Some(here.to_vec()),
        "super" => Some(here[..here.len().saturating_sub(1)].to_vec()),
        name if here == f.module.as_slice() && f.children.contains(name) => {
            let mut p = here.to_vec();
            p.push(name.to_owned());
            Some(p)
        }
        _ => None,
    }
}

/// The paths of a use tree or a plain path starting at `toks[i]`, and where it ends.
fn tree(toks: &[(Tok, usize)], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                i += 1;
                if toks.get(i).map(|t| &t.0) == Some(&Tok::Ident("as".into())) {
                    prefix.push("as".into());
                    if let Some((Tok::Ident(alias), _)) = toks.get(i + 1) {
                        prefix.push(alias.clone());
                    }
                    return (vec![prefix], i + 2);
                }
                if toks.get(i).map(|t| &t.0) == Some(&Tok::Path) {
                    i += 1;
                    continue;
                }
                return (vec![prefix], i);
            }
            Some(Tok::Punct('*')) => {
                prefix.push("*".into());
                return (vec![prefix], i + 1);
            }
            Some(Tok::Punct('{')) => {
                let mut all = Vec::new();
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        Some(Tok::Punct('}')) | None => return (all, i + 1),
                        Some(Tok::Punct(',')) => i += 1,
                        _ => {
                            let (subs, end) = tree(toks, i);
                            for s in subs {
                                let mut p = prefix.clone();
                                p.extend(s);
                                all.push(p);
                            }
                            i = end.max(i + 1);
                        }
                    }
                }
            }
            // `Vec::<T>`, `<T as Trait>::`: the path so far is what matters.
            _ => return (vec![prefix], i),
        }
    }
}

/// Tracks inline `mod x { … }` blocks so `super::` inside them resolves correctly.
struct Scope<'a> {
    file: &'a File,
    depth: usize,
    stack: Vec<(usize, String)>,
    inline: usize,
}

impl<'a> Scope<'a> {
    fn new(file: &'a File) -> Self {
        Scope {
            file,
            depth: 0,
            stack: Vec::new(),
            inline: 0,
        }
    }

    fn step(&mut self, toks: &[(Tok, usize)], i: usize) {
        match &toks[i].0 {
            Tok::Punct('{') => {
                let opens_mod = i >= 2
                    && toks[i - 2].0 == Tok::Ident("mod".into())
                    && matches!(toks[i - 1].0, Tok::Ident(_));
                if opens_mod && let Tok::Ident(name) = &toks[i - 1].0 {
                    self.stack.push((self.depth, name.clone()));
                    self.inline += 1;
                }
                self.depth += 1;
            }
            Tok::Punct('}') => {
                self.depth = self.depth.saturating_sub(1);
                if self.stack.last().is_some_and(|(d, _)| *d == self.depth) {
                    self.stack.pop();
                    self.inline -= 1;
                }
            }
            _ => {}
        }
    }

    fn module(&self) -> ModPath {
        let mut m = self.file.module.clone();
        m.extend(self.stack.iter().map(|(_, n)| n.clone()));
        m
    }
}
