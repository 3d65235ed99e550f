//! The house rule that imports run one way (issue 15): no module of the
//! library imports a module that imports it back, at every level of the
//! tree. For each module with children (the crate root, `source`,
//! `source/cluster`, ...), the check builds the graph between that module's
//! own file and its children, each child standing for everything below it,
//! and fails on a circle. An import is any `crate::`, `super::` or `self::`
//! path, a bare `child::` path in a module's own file, and a glob:
//! `use super::*` counts as importing the whole parent. A name a module's
//! file re-exports (`pub use child::Item`) counts as the child's. Test code
//! (`tests.rs` files and inline `#[cfg(test)] mod tests`) is left out. The
//! check reads the source text, so it needs no tool beyond the test itself,
//! and it fails with the circle spelled out.

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

/// The text of a file that the library runs: comments gone (a doc line that
/// mentions `crate::x` is no import; string literals are left, none of ours
/// spells a path) and its inline `#[cfg(test)] mod tests { .. }` cut off
/// (test modules come last, and what only tests import is no circle).
fn runtime_code(text: &str) -> String {
    let text = code(text);
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths that follow `prefix` in `text`, as segments: `crate::a::b::C`
/// gives `[a, b, C]`, `crate::{a::X, b::{c, D}}` gives `[a, X]`, `[b, c]`
/// and `[b, D]`, and a glob gives its path with `*` last.
fn paths(text: &str, prefix: &str) -> Vec<Vec<String>> {
    /// The path at the start of `s` after a prefix, expanding brace groups.
    fn expand(s: &str, base: &[String], out: &mut Vec<Vec<String>>) {
        let mut segments = base.to_vec();
        let mut rest = s;
        loop {
            let rest_trim = rest.trim_start();
            if let Some(group) = rest_trim.strip_prefix('{') {
                let mut depth = 0;
                let mut item_start = 0;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            expand(&group[item_start..i], &segments, out);
                            return;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&group[item_start..i], &segments, out);
                            item_start = i + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            if let Some(after) = rest_trim.strip_prefix('*') {
                let _ = after;
                segments.push("*".to_owned());
                break;
            }
            let name: String = rest_trim.chars().take_while(|c| is_ident(*c)).collect();
            if name.is_empty() {
                break;
            }
            rest = &rest_trim[name.len()..];
            segments.push(name);
            match rest.strip_prefix("::") {
                Some(more) => rest = more,
                None => break,
            }
        }
        if segments.len() > base.len() || !base.is_empty() {
            out.push(segments);
        }
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        expand(rest, &[], &mut out);
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The first segment of each path after `prefix` (see [`paths`]).
fn first_segments(text: &str, prefix: &str) -> Vec<String> {
    paths(text, prefix)
        .into_iter()
        .filter_map(|p| p.into_iter().next())
        .collect()
}

/// What a module's file re-exports from its children: `pub use a::{B, c::D};`
/// maps `B` and `D` to `a`.
fn reexports(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in text.split(';') {
        let statement = statement.trim();
        let Some(rest) = ["pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|p| statement.strip_prefix(p))
        else {
            continue;
        };
        // A re-export from elsewhere (`crate::`, `super::`, an outside
        // crate's path) is no child of this module: resolved where it is
        // named, it stops here.
        if ["crate::", "super::", "self::"]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            continue;
        }
        for path in paths(&format!("\u{0}{rest}"), "\u{0}") {
            if let (Some(child), Some(item)) = (path.first(), path.last())
                && path.len() >= 2
            {
                out.insert(item.clone(), child.clone());
            }
        }
    }
    out
}

/// A module of the library: its path below the crate, its file's runtime
/// text, and its children.
struct Module {
    text: String,
    children: BTreeSet<String>,
}

/// Every module under `src` by path (`source/cluster`), from its file
/// (`source/cluster.rs` or `source/cluster/mod.rs`). `tests.rs` files and
/// the binary's `main.rs` are left out; `lib.rs` is the root, `""`.
fn modules(src: &Path) -> BTreeMap<String, Module> {
    let mut files = Vec::new();
    sources(src, src, &mut files);
    let mut out = BTreeMap::new();
    for file in &files {
        let mut parts: Vec<String> = file
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        if parts.last().is_some_and(|p| p == "tests" || p == "main") {
            continue;
        }
        let text = runtime_code(&std::fs::read_to_string(src.join(file)).unwrap());
        out.insert(
            parts.join("/"),
            Module {
                text,
                children: BTreeSet::new(),
            },
        );
    }
    let paths: Vec<String> = out.keys().cloned().collect();
    for path in paths {
        if let Some((parent, child)) = path.rsplit_once('/') {
            out.get_mut(parent)
                .unwrap()
                .children
                .insert(child.to_owned());
        } else if !path.is_empty() {
            out.get_mut("").unwrap().children.insert(path.clone());
        }
    }
    out
}

fn join(base: &str, segment: &str) -> String {
    if base.is_empty() {
        segment.to_owned()
    } else {
        format!("{base}/{segment}")
    }
}

/// The module a path names: the deepest module along its segments, then
/// through the re-exports of that module's file to the child that defines
/// the item.
fn resolve(all: &BTreeMap<String, Module>, mut at: String, segments: &[String]) -> String {
    for segment in segments {
        let Some(module) = all.get(&at) else { break };
        if module.children.contains(segment) {
            at = join(&at, segment);
        } else if let Some(child) = reexports(&module.text).get(segment) {
            at = join(&at, child);
        } else {
            break;
        }
    }
    at
}

/// Every import edge between modules: `crate::`, `super::` and `self::`
/// paths, bare paths to a child (`child::item`), and globs (`super::*`
/// counts as importing the whole parent).
fn edges(all: &BTreeMap<String, Module>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, module) in all {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
        let mut targets = Vec::new();
        for p in paths(&module.text, "crate::") {
            targets.push(resolve(all, String::new(), &p));
        }
        for p in paths(&module.text, "super::") {
            let mut base = parent.clone();
            let mut segs: &[String] = &p;
            while segs.first().is_some_and(|s| s == "super") {
                base = base.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
                segs = &segs[1..];
            }
            targets.push(resolve(all, base, segs));
        }
        for p in paths(&module.text, "self::") {
            targets.push(resolve(all, path.clone(), &p));
        }
        for child in &module.children {
            if !first_segments(&module.text, &format!("{child}::")).is_empty() {
                targets.push(join(path, child));
            }
        }
        // A glob of the parent brings the siblings' names in too: a bare
        // `sibling::item` after `use super::*` imports that sibling.
        if module.text.lines().any(|l| l.trim() == "use super::*;")
            && let Some(parent_module) = all.get(&parent)
        {
            for sibling in &parent_module.children {
                if &join(&parent, sibling) != path
                    && !first_segments(&module.text, &format!("{sibling}::")).is_empty()
                {
                    targets.push(join(&parent, sibling));
                }
            }
        }
        for target in targets {
            if &target != path {
                out.insert((path.clone(), target));
            }
        }
    }
    out
}

/// For every module with children, the graph between it (its own file) and
/// its children, each child standing for everything below it: an edge
/// from anything under child `a` to anything under child `b` is `a -> b`.
/// Keyed by the module (`""` is the crate root, whose own file is left out).
fn graphs(src: &Path) -> BTreeMap<String, Graph> {
    let all = modules(src);
    let edges = edges(&all);
    let mut out = BTreeMap::new();
    for (folder, module) in &all {
        if module.children.is_empty() {
            continue;
        }
        let below = |m: &str| -> Option<String> {
            if m == folder.as_str() {
                return (!folder.is_empty()).then(|| folder.clone());
            }
            let rest = if folder.is_empty() {
                m
            } else {
                m.strip_prefix(folder.as_str())?.strip_prefix('/')?
            };
            Some(join(folder, rest.split('/').next().unwrap()))
        };
        let mut graph = Graph::new();
        for (from, to) in &edges {
            if let (Some(a), Some(b)) = (below(from), below(to))
                && a != b
            {
                graph.entry(a).or_default().insert(b);
            }
        }
        out.insert(folder.clone(), graph);
    }
    out
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
    let graphs = graphs(&src);
    let top = &graphs[""];
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
    for (folder, from, to) in [
        ("server", "server/udp", "server/packet"),
        ("server", "server/tcp", "server/packet"),
        ("server", "server/packet", "server/fast"),
        ("source", "source/embedded", "source/cluster"),
        (
            "source/cluster",
            "source/cluster/statefulset",
            "source/cluster",
        ),
    ] {
        assert!(
            graphs[folder].get(from).is_some_and(|t| t.contains(to)),
            "the check no longer reads {from} -> {to}: {:#?}",
            graphs[folder]
        );
    }
    let mut circles = Vec::new();
    for (folder, graph) in &graphs {
        if let Some(found) = cycle(graph) {
            let at = if folder.is_empty() {
                "the crate"
            } else {
                folder
            };
            circles.push(format!("in {at}: {}", found.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles (each imports the next; break one by moving what the lower one needs down):\n{}",
        circles.join("\n")
    );
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
        ["config", "metrics", "server", "server", "names", "no"]
    );
    assert_eq!(
        paths("use super::*;\nuse crate::a::{b::C, d};", "super::"),
        [vec!["*".to_owned()]]
    );
    assert_eq!(
        paths("use crate::a::{b::C, d::{E, f}};", "crate::"),
        [
            vec!["a", "b", "C"],
            vec!["a", "d", "E"],
            vec!["a", "d", "f"]
        ]
    );
    let re = reexports("pub use a::{B, c::D};\npub(crate) use e::F;\npub use crate::x::G;");
    assert_eq!(re.get("B").map(String::as_str), Some("a"));
    assert_eq!(re.get("D").map(String::as_str), Some("a"));
    assert_eq!(re.get("F").map(String::as_str), Some("e"));
    assert_eq!(re.get("G"), None, "a re-export from elsewhere is no child");
    assert_eq!(
        runtime_code("use a;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n"),
        "use a;\n"
    );
    assert_eq!(
        code("let a = 1; // crate::x\n"),
        "let a = 1; ",
        "comments are not code"
    );
}
