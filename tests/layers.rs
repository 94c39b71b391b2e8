//! The layering invariants of ARCHITECTURE.md, checked by reading the `use` lines and paths
//! of every module under src/: a module names only modules of lower layers (or of its own
//! group), no module imports one that imports it back, `serve` knows only the care API,
//! and sled appears only in the store.
//!
//! Paths are read from the code outside comments and outside the `#[cfg(test)]` part at
//! the end of a file (unit tests may reach for anything).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, lowest layer first.
const LAYERS: &[&str] = &[
    "limits",
    "clock",
    "store",
    "replication",
    "files",
    "care",
    "node",
    "mesh",
    "serve",
    "daemon",
    "demo",
    "cli",
];

/// A module of the crate and the source of its file.
struct Module {
    path: Vec<String>,
    code: String,
    children: Vec<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its trailing test module.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let mut path: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        if path == ["lib"] || path == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        let code = code_of(&text);
        let children = code
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let rest = l
                    .strip_prefix("pub mod ")
                    .or_else(|| l.strip_prefix("pub(crate) mod "))
                    .or_else(|| l.strip_prefix("mod "))?;
                rest.strip_suffix(';').map(|n| n.trim().to_string())
            })
            .collect();
        out.push(Module {
            path,
            code,
            children,
        });
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path starting at `start` in `code` (`crate::a::b`, `super::c`, grouped uses
/// `crate::a::{b, c::d}` expanded), as segment lists without the leading keyword.
fn paths_after(code: &str, keyword: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pattern = format!("{keyword}::");
    let mut from = 0;
    while let Some(i) = code[from..].find(&pattern) {
        let at = from + i;
        from = at + pattern.len();
        if at > 0
            && code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| is_ident(c) || c == ':')
        {
            continue;
        }
        let mut found = Vec::new();
        parse_tree(&code[from..], Vec::new(), &mut found);
        out.extend(found);
    }
    out
}

/// Parses a use tree (`a::b`, `a::{b, c::d}`) at the start of `s`; returns bytes consumed.
fn parse_tree(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    let mut i = 0;
    let bytes = s.as_bytes();
    loop {
        while i < bytes.len() && (bytes[i] as char).is_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                i += parse_tree(&s[i..], path.clone(), out);
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => return i + 1,
                    _ => return i,
                }
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'}') {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i] as char) {
            i += 1;
        }
        if i == start {
            break;
        }
        path.push(s[start..i].to_string());
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            break;
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    i
}

/// The module a path names: its longest prefix that is a module.
fn resolve(known: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

/// Module → the modules it names.
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let mut graph = BTreeMap::new();
    for m in &modules {
        let mut targets = BTreeSet::new();
        let mut candidates: Vec<Vec<String>> = paths_after(&m.code, "crate");
        // `super::` at a file's top level names the parent module.
        let parent = &m.path[..m.path.len() - 1];
        for p in paths_after(&m.code, "super") {
            let mut full = parent.to_vec();
            full.extend(p);
            candidates.push(full);
        }
        // A child module named by its own name (`mod dial; … dial::run()`).
        for child in &m.children {
            for p in paths_after(&m.code, child) {
                let mut full = m.path.clone();
                full.push(child.clone());
                full.extend(p);
                candidates.push(full);
            }
        }
        for c in candidates {
            if let Some(t) = resolve(&known, &c) {
                if t != m.path {
                    targets.insert(t);
                }
            }
        }
        graph.insert(m.path.clone(), targets);
    }
    graph
}

fn name(p: &[String]) -> String {
    p.join("::")
}

fn rank(p: &[String]) -> usize {
    LAYERS
        .iter()
        .position(|l| *l == p[0])
        .unwrap_or_else(|| panic!("{} is not in LAYERS: add it where it belongs", name(p)))
}

#[test]
fn every_module_is_placed_in_a_layer() {
    for m in graph().keys() {
        rank(m);
    }
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        for to in targets {
            if from[0] != to[0] && rank(&to) > rank(&from) {
                wrong.push(format!("{} names {}", name(&from), name(&to)));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken: {wrong:#?}");
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = graph();
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        at: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|s| s == at) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(at.clone());
            return Some(cycle);
        }
        if done.contains(at) {
            return None;
        }
        stack.push(at.clone());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(at.clone());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|p| name(p)).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn serve_knows_only_the_care_api() {
    let allowed = [
        vec!["care".to_string(), "api".to_string()],
        vec!["limits".to_string()],
    ];
    for (from, targets) in graph().into_iter().filter(|(m, _)| m[0] == "serve") {
        for to in targets.iter().filter(|t| t[0] != "serve") {
            assert!(
                allowed.contains(to),
                "{} names {}: serve builds Requests and renders Replies, nothing else",
                name(&from),
                name(to)
            );
        }
    }
}

#[test]
fn mesh_never_names_the_daemon_and_node_never_names_the_mesh() {
    for (from, targets) in graph() {
        for to in &targets {
            assert!(
                !(from[0] == "mesh" && to[0] == "daemon"),
                "{} names {}",
                name(&from),
                name(to)
            );
            assert!(
                !(from[0] == "node" && (to[0] == "mesh" || to[0] == "daemon")),
                "{} names {}",
                name(&from),
                name(to)
            );
        }
    }
}

#[test]
fn sled_only_in_the_store() {
    for m in modules() {
        if m.path[0] != "store" {
            assert!(
                !m.code.contains("sled::"),
                "{} uses sled directly",
                name(&m.path)
            );
        }
    }
}

#[test]
fn the_reader_of_paths_reads_grouped_uses() {
    let found = paths_after(
        "use crate::a::{b, c::{d, e}};\nlet x = super::f::g(1);",
        "crate",
    );
    assert_eq!(
        found,
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["a".to_string(), "c".to_string(), "d".to_string()],
            vec!["a".to_string(), "c".to_string(), "e".to_string()],
        ]
    );
}

#[test]
fn the_web_layer_knows_only_the_care_api_and_its_own_parts() {
    let allowed = |t: &Vec<String>| {
        t.starts_with(&["care".to_string(), "api".to_string()])
            || t == &vec!["limits".to_string()]
            || t.starts_with(&["serve".to_string(), "web".to_string()])
    };
    let mut seen = false;
    for (from, targets) in graph()
        .into_iter()
        .filter(|(m, _)| m.starts_with(&["serve".to_string(), "web".to_string()]))
    {
        seen = true;
        for to in &targets {
            assert!(
                allowed(to),
                "{} names {}: the web layer builds Requests for care::api and renders Replies",
                name(&from),
                name(to)
            );
        }
    }
    assert!(seen, "serve::web exists");
}
