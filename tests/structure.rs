//! The shape of `src/`: the modules import each other without a circle, and the HTTP front
//! reaches the index and the storage area only through the services.
//!
//! A small structure checker: every `crate::…`, `super::…`, `self::…` path and every path
//! through a child module declared with `mod x;` is an edge from the file's module to the
//! module it names (the longest module prefix of the path). Test modules (`#[cfg(test)]` to
//! the end of a file) and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/services/ingest/record.rs` → `[services, ingest, record]`; `mod.rs` and `main.rs`
/// name their folder.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its test module.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            // A `//` inside a string ("http://...") is rare in paths; cut only after code.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the paths of one `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand_use(tree: &str) -> Vec<String> {
    // `a as b` renames the last segment: keep `a`.
    let tree: String = tree
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    fn go(prefix: &str, tree: &str, out: &mut Vec<String>) {
        if let Some(open) = tree.find('{') {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            let mut items = Vec::new();
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            for item in items.into_iter().filter(|i| !i.is_empty()) {
                go(&format!("{prefix}{head}"), item, out);
            }
        } else {
            let tree = tree.split('@').next().unwrap_or(tree);
            out.push(format!("{prefix}{tree}"));
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// Every path mentioned by the code: the expanded `use` trees, and paths written inline.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` statements, possibly over several lines.
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        if before.is_none_or(|c| !is_ident(c)) {
            if let Some(end) = after.find(';') {
                out.extend(expand_use(&after[..end]));
            }
        }
        rest = after;
    }
    // Inline paths: identifier segments joined by `::`.
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len()
                && (is_ident(chars[i]) || (chars[i] == ':' && chars.get(i + 1) == Some(&':')))
            {
                if chars[i] == ':' {
                    i += 2;
                } else {
                    i += 1;
                }
            }
            let path: String = chars[start..i].iter().collect();
            if path.contains("::") {
                out.push(path.trim_end_matches(':').to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The child modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared_children(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or_else(|| l.strip_prefix("pub "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            name.chars().all(is_ident).then(|| name.to_owned())
        })
        .collect()
}

/// The module a path names, relative to `module` (whose children are `children`), if it is
/// one of `modules`: the longest module prefix of the path.
fn target(
    module: &Module,
    children: &BTreeSet<String>,
    path: &str,
    modules: &BTreeSet<Module>,
) -> Option<Module> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let first = *segments.first()?;
    let (mut base, rest): (Module, &[&str]) = match first {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (module.clone(), &segments[1..]),
        "super" => {
            let mut base = module.clone();
            let mut n = 0;
            while segments.get(n) == Some(&"super") {
                base.pop();
                n += 1;
            }
            (base, &segments[n..])
        }
        name if children.contains(name) => (module.clone(), &segments[..]),
        _ => return None,
    };
    let mut best = modules.contains(&base).then(|| base.clone());
    for s in rest {
        base.push((*s).to_owned());
        if modules.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

/// `code` contains `needle`, as a whole identifier where `needle` is one.
fn mentions(code: &str, needle: &str) -> bool {
    let whole_word = needle.chars().all(is_ident);
    code.match_indices(needle).any(|(i, _)| {
        let before = code[..i].chars().last();
        let after = code[i + needle.len()..].chars().next();
        !whole_word || !(before.is_some_and(is_ident) || after.is_some_and(is_ident))
    })
}

struct Tree {
    /// Module → the modules it uses.
    edges: BTreeMap<Module, BTreeSet<Module>>,
    /// Module → its code.
    code: BTreeMap<Module, String>,
}

fn tree() -> Tree {
    // Another tree may be checked (`STOWAGE_STRUCTURE_SRC`), e.g. an older commit's.
    let src = std::env::var_os("STOWAGE_STRUCTURE_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let code: BTreeMap<Module, String> = files
        .iter()
        .map(|f| {
            (
                module_of(&src, f),
                code_of(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<Module> = code.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (module, text) in &code {
        let children = declared_children(text);
        let targets: BTreeSet<Module> = paths_in(text)
            .iter()
            .filter_map(|p| target(module, &children, p, &modules))
            .filter(|t| t != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    Tree { edges, code }
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// The strongly connected components with more than one module (Tarjan).
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_checker_sees_a_circle_and_the_edges_it_should() {
    let m = |s: &str| -> Module {
        s.split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let modules: BTreeSet<Module> = ["", "a", "a::b", "c"].iter().map(|s| m(s)).collect();
    let none = BTreeSet::new();
    assert_eq!(
        target(&m("a::b"), &none, "super::X", &modules),
        Some(m("a"))
    );
    assert_eq!(
        target(&m("a"), &none, "crate::a::b::f", &modules),
        Some(m("a::b"))
    );
    let children: BTreeSet<String> = ["b".to_owned()].into();
    assert_eq!(
        target(&m("a"), &children, "b::Y", &modules),
        Some(m("a::b"))
    );
    assert_eq!(target(&m("a"), &none, "std::sync::Arc", &modules), None);
    assert_eq!(
        expand_use("super::{x::{A, B as C}, y}"),
        ["super::x::A", "super::x::B", "super::y"]
    );
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), [m("c")].into());
    edges.insert(m("c"), [m("a")].into());
    edges.insert(m("a::b"), [m("a")].into());
    assert_eq!(circles(&edges).len(), 1);
}

#[test]
fn src_has_no_import_circles() {
    let tree = tree();
    assert!(
        tree.edges.len() > 20,
        "only {} modules found under src/",
        tree.edges.len()
    );
    let found = circles(&tree.edges);
    let described: Vec<String> = found
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(found.is_empty(), "import circles in src/: {described:#?}");
}

#[test]
fn services_know_no_front_and_the_front_no_backend() {
    let tree = tree();
    // The layers the README describes are really there.
    let services: Module = vec!["services".into()];
    let rest: Module = vec!["rest".into()];
    assert!(tree
        .edges
        .iter()
        .any(|(m, t)| m.starts_with(&rest) && t.iter().any(|t| t.starts_with(&services))));
    for (module, targets) in &tree.edges {
        let is = |top: &str| module.first().is_some_and(|m| m == top);
        let uses = |top: &str| targets.iter().any(|t| t.first().is_some_and(|m| m == top));
        if is("services") || is("support") {
            for front in ["rest", "app", "server"] {
                assert!(!uses(front), "{} uses the {front} layer", name(module));
            }
        }
        if is("support") {
            assert!(!uses("services"), "{} uses the services", name(module));
        }
    }
    // The HTTP front reaches the index and the storage area only through the services.
    for (module, code) in &tree.code {
        if module.first().is_none_or(|m| m != "rest") {
            continue;
        }
        for forbidden in [
            "stowage_index_",
            "stowage_storage_",
            "IndexTransaction",
            "StorageArea",
            "read_blocking",
            "write_blocking",
            "ctx.read(",
            "ctx.write(",
            ".storage.",
            ".index.",
        ] {
            assert!(
                !mentions(code, forbidden),
                "{} mentions `{forbidden}`: handlers call the services",
                name(module)
            );
        }
    }
}
