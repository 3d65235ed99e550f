//! The house rule that imports run one way (issue 15): no module of the
//! library imports a module that imports it back, at two levels. Between
//! the top-level modules (`config`, `server`, `source`, ...), every
//! `crate::X` path counts; inside a folder module, between its files, every
//! `super::X` and `crate::folder::X` path that names a sibling file (or an
//! item of the folder's `mod.rs`) counts. The check reads the source text,
//! so it needs no tool beyond the test itself, and it fails with the cycle
//! spelled out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `dir`, relative to `root`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// The text without comments, so a doc line that mentions `crate::x` is no
/// import. (String literals are left: none of ours spells a path.)
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment after each `prefix` in `text`: `crate::a::b` gives
/// `a`, and `crate::{a::X, b}` gives `a` and `b`.
fn first_segments(text: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the brace group.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        item_start = false;
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            out.push(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// What a mod.rs re-exports from its files: `pub use a::{B, c::D};` maps
/// `B` and `D` to `a`.
fn reexports(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in text.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((file, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if item.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                out.insert(item.to_owned(), file.trim().to_owned());
            }
        }
    }
    out
}

/// The two import graphs of the library under `src`: between top-level
/// modules, and between the files of each folder module (`folder/file`).
fn graphs(src: &Path) -> (Graph, Graph) {
    let mut files = Vec::new();
    sources(src, src, &mut files);
    let module_of = |file: &Path| -> Vec<String> {
        let mut parts: Vec<String> = file
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        parts
    };
    let tops: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f)[0].clone())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut top = Graph::new();
    let mut inner = Graph::new();
    for file in &files {
        let module = module_of(file);
        if !tops.contains(&module[0]) {
            continue;
        }
        let text = code(&std::fs::read_to_string(src.join(file)).unwrap());
        let node = module.join("/");
        top.entry(module[0].clone()).or_default();
        for name in first_segments(&text, "crate::") {
            if tops.contains(&name) && name != module[0] {
                top.get_mut(&module[0]).unwrap().insert(name);
            }
        }
        // Inside a folder: the file's siblings, through `super::` (from a
        // file one level down) or `crate::folder::`; an item that the
        // folder's mod.rs re-exports counts as its defining file's.
        if module.len() <= 2 && tops.contains(&module[0]) {
            let folder = &module[0];
            let siblings: BTreeSet<String> = files
                .iter()
                .map(|f| module_of(f))
                .filter(|m| m.len() == 2 && &m[0] == folder)
                .map(|m| m[1].clone())
                .collect();
            if siblings.is_empty() {
                continue;
            }
            let reexports = reexports(&code(
                &std::fs::read_to_string(src.join(folder).join("mod.rs")).unwrap_or_default(),
            ));
            let names = if module.len() == 2 {
                let mut names = first_segments(&text, "super::");
                names.extend(first_segments(&text, &format!("crate::{folder}::")));
                names
            } else {
                // The folder's own mod.rs names its files bare.
                siblings
                    .iter()
                    .filter(|s| !first_segments(&text, &format!("{s}::")).is_empty())
                    .cloned()
                    .collect()
            };
            let edges = inner.entry(node.clone()).or_default();
            for name in names {
                let target = if siblings.contains(&name) {
                    format!("{folder}/{name}")
                } else if let Some(file) = reexports.get(&name) {
                    format!("{folder}/{file}")
                } else {
                    folder.clone()
                };
                if target != node {
                    edges.insert(target);
                }
            }
        }
    }
    (top, inner)
}

/// A cycle of `graph`, if there is one, as the path that closes it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::Open => {
                let from = path.iter().position(|n| n == node).unwrap();
                let mut found = path[from..].to_vec();
                found.push(node.to_owned());
                return Some(found);
            }
            Mark::New => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, marks, path) {
                return Some(found);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(found) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(found);
        }
    }
    None
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (top, inner) = graphs(&src);
    // The reading must see the house: these arrows are the data flow.
    for (from, to) in [
        ("app", "server"),
        ("server", "snapshot"),
        ("index", "snapshot"),
        ("driver", "index"),
        ("source", "driver"),
        ("server", "wire"),
        ("transfer", "wire"),
    ] {
        assert!(
            top.get(from).is_some_and(|t| t.contains(to)),
            "the check no longer reads `{from}` -> `{to}`: {top:#?}"
        );
    }
    // A query's way in: the socket loop, the one entry, the fast path.
    for (from, to) in [
        ("server/udp", "server/packet"),
        ("server/tcp", "server/packet"),
        ("server/packet", "server/fast"),
    ] {
        assert!(
            inner.get(from).is_some_and(|t| t.contains(to)),
            "the check no longer reads {from} -> {to}: {inner:#?}"
        );
    }
    if let Some(found) = cycle(&top) {
        panic!(
            "an import circle between modules: {}\n(each imports the next; break it by moving what the lower one needs down)",
            found.join(" -> ")
        );
    }
    if let Some(found) = cycle(&inner) {
        panic!(
            "an import circle between the files of a folder: {}",
            found.join(" -> ")
        );
    }
}

#[test]
fn the_check_finds_a_circle_and_reads_brace_groups() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned());
    }
    let found = cycle(&graph).unwrap();
    assert_eq!(found.first(), found.last());
    assert_eq!(found.len(), 4, "{found:?}");
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(cycle(&graph), None);
    assert_eq!(
        first_segments(
            "use crate::{config::X, metrics, server::{a, b}};\nlet x = crate::names::y; // crate::no",
            "crate::"
        ),
        ["config", "metrics", "server", "names", "no"]
    );
    assert_eq!(
        code("let a = 1; // crate::x\n"),
        "let a = 1; ",
        "comments are not code"
    );
}
