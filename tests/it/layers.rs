//! The library's shape stays as `src/lib.rs` documents it: its top-level modules are
//! layers, and a module may use only the layers below it. This test reads every
//! `crate::<module>` the library's files name and fails on an upward edge or a cycle;
//! it also keeps the library from printing or knowing the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and its layer (lower may not use higher; equal ranks may
/// not use each other).
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("fault", 1),
    ("progress", 1),
    ("runtime", 1),
    ("contract", 2),
    ("config", 3),
    ("ingest", 4),
    ("lake", 5),
    ("engine", 6),
    ("kpi", 7),
    ("report", 8),
    ("publish", 9),
    ("alert", 10),
    ("app", 11),
];

fn rank(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "bin") {
                    continue;
                }
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&crate::common::root().join("src"), &mut out);
    out.sort();
    out
}

/// The top-level module a file belongs to (`src/kpi/tiles.rs` → `kpi`).
fn module_of(file: &Path, src: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib").then_some(name)
}

/// Every `crate::<name>` in a file's code (comments left out).
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
        }
        // `use crate::{a, b}` groups.
        if let Some(i) = code.find("crate::{") {
            for part in code[i + "crate::{".len()..].split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// module → modules it uses, with the file that does.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = crate::common::root().join("src");
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for f in library_files() {
        let Some(from) = module_of(&f, &src) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read");
        let entry = g.entry(from.clone()).or_default();
        for to in uses(&text) {
            if to != from && rank(&to).is_some() {
                entry.entry(to).or_insert_with(|| f.clone());
            }
        }
    }
    g
}

#[test]
fn every_top_level_module_is_a_known_layer() {
    let src = crate::common::root().join("src");
    let unknown: BTreeSet<String> = library_files()
        .iter()
        .filter_map(|f| module_of(f, &src))
        .filter(|m| rank(m).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "top-level modules without a layer: {unknown:?} (add them to src/lib.rs's table and to LAYERS)"
    );
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let mut upward = Vec::new();
    for (from, tos) in graph() {
        let rf = rank(&from).unwrap_or(u32::MAX);
        for (to, file) in tos {
            let rt = rank(&to).unwrap_or(u32::MAX);
            if rt >= rf {
                upward.push(format!(
                    "{} uses {to} ({from} is layer {rf}, {to} is {rt})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "upward or sideways imports:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_cycle_between_top_level_modules() {
    let g = graph();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n).copied() {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in g.get(n).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(next, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(cycle) = visit(n, &g, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_library_neither_prints_nor_sees_the_command_line() {
    let mut found = Vec::new();
    for f in library_files() {
        let text = std::fs::read_to_string(&f).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in [
                "println!",
                "print!(",
                "eprintln!",
                "eprint!(",
                "clap::",
                "std::io::stdout",
            ] {
                if code.contains(bad) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the library prints or uses clap:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_upward_edges() {
    // The reader itself: a planted upward `use` is found, a comment is not.
    let text = "use crate::report::model;\n// crate::app is only mentioned\nlet x = crate::kpi::run();\nuse crate::{engine, lake::Lake};";
    let found = uses(text);
    assert!(found.contains("report") && found.contains("kpi"));
    assert!(found.contains("engine") && found.contains("lake"));
    assert!(!found.contains("app"));
}
