//! Generic code names no model: persistence and the gateway reach a model's behaviour through
//! the catalogue (`Model::behaviour`, relations, fields), never by its label, its table or a
//! column only it has. This scans their non-test source for string literals that do.
//!
//! `KNOWN` lists what is still there, each with where it is; a name that appears anywhere else
//! fails, and so does an entry that is gone (so the list only shrinks).

use std::collections::{BTreeSet, HashMap};

/// (file, literal) pairs not yet moved behind the catalogue.
const KNOWN: &[(&str, &str)] = &[
    // Users and tokens are the authentication store's own tables.
    ("persistence/src/auth.rs", "users_token"),
    ("persistence/src/auth.rs", "auth_user"),
    ("persistence/src/auth.rs", "is_staff"),
    ("persistence/src/auth.rs", "is_superuser"),
    ("persistence/src/auth.rs", "write_enabled"),
    ("persistence/src/auth.rs", "key_digest"),
    ("persistence/src/auth.rs", "allowed_ips"),
    ("persistence/src/auth.rs", "users.token"),
    // A user reference left out defaults to the user who writes.
    ("persistence/src/write/behaviour.rs", "users.user"),
    // Not a model's: the subscription argument, named like a replay's field on purpose (both
    // mean "the changes after this sequence").
    ("gateway/src/schema.rs", "after_sequence"),
];

/// Names that stand for one model: labels, tables (through tables too), and the columns only one model has (those
/// with an underscore: `u_height`, `namespace_id`; one-word columns are too often plain words).
fn model_names() -> anyhow::Result<BTreeSet<String>> {
    let catalogue = ferrobot_domain::Catalogue::core()?;
    let mut names = BTreeSet::new();
    let mut columns: HashMap<String, usize> = HashMap::new();
    for model in catalogue.models() {
        names.insert(model.label.clone());
        names.insert(model.table.clone());
        for column in model.fields.iter().filter_map(|f| f.column.clone()) {
            *columns.entry(column).or_default() += 1;
        }
        for relation in &model.relations {
            if let ferrobot_domain::catalogue::RelationShape::Through { table, .. } =
                &relation.shape
            {
                names.insert(table.clone());
            }
        }
    }
    names.extend(columns.into_iter().filter(|(c, n)| *n == 1 && c.contains('_')).map(|(c, _)| c));
    Ok(names)
}

/// The string literals of a source file's non-test code.
fn literals(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(start) = rest.find('"') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('"') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end + 1..];
        }
    }
    out
}

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sources(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn generic_code_names_no_model() -> anyhow::Result<()> {
    let names = model_names()?;
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut found = BTreeSet::new();
    for krate in ["persistence", "gateway"] {
        let mut files = Vec::new();
        sources(&crates.join(krate).join("src"), &mut files)?;
        for file in files {
            let relative = file.strip_prefix(&crates)?.to_string_lossy().replace('\\', "/");
            for literal in literals(&std::fs::read_to_string(&file)?) {
                if names.contains(&literal) {
                    found.insert((relative.clone(), literal));
                }
            }
        }
    }
    let known: BTreeSet<(String, String)> =
        KNOWN.iter().map(|(f, l)| ((*f).to_owned(), (*l).to_owned())).collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(new.is_empty(), "generic code names a model (reach it through the catalogue): {new:?}");
    assert!(gone.is_empty(), "no longer named, take them off KNOWN: {gone:?}");
    Ok(())
}

/// The top-level modules a crate's module names (`crate::x`, `crate::{x, y}`, and names the
/// crate root re-exports, resolved through its `pub use x::…`), outside comments and tests.
fn module_edges(src: &std::path::Path) -> anyhow::Result<BTreeSet<(String, String)>> {
    let root = std::fs::read_to_string(src.join("lib.rs"))?;
    let mut reexports: HashMap<String, String> = HashMap::new();
    for line in root.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.split_once("::") else { continue };
        let names = names.trim_end_matches(';').trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').map(|n| n.trim().rsplit(' ').next().unwrap_or_default()) {
            reexports.insert(name.to_owned(), module.to_owned());
        }
    }
    let mut files = Vec::new();
    sources(src, &mut files)?;
    let mut edges = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(src)?.to_string_lossy().replace('\\', "/");
        let module = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        for line in std::fs::read_to_string(&file)?.lines().map(str::trim) {
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            if line.starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or_default())
                        .collect(),
                    None => rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .into_iter()
                        .collect(),
                };
                for name in names.into_iter().filter(|n| !n.is_empty()) {
                    let target = match name.starts_with(char::is_uppercase) {
                        true => reexports.get(name).cloned().unwrap_or_default(),
                        false => name.to_owned(),
                    };
                    if !target.is_empty() && target != module {
                        edges.insert((module.to_owned(), target));
                    }
                }
            }
        }
    }
    Ok(edges)
}

/// Spec: the brief's "Each module has one job": a crate's modules depend on each other in one
/// direction, so that each can be read (and tested) knowing only those below it.
#[test]
fn the_modules_of_a_crate_import_each_other_without_cycles() -> anyhow::Result<()> {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    for krate in ["domain", "persistence", "gateway"] {
        let edges = module_edges(&crates.join(krate).join("src"))?;
        // Depth-first from every module; a module met again on the current path is a cycle.
        let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
        for (from, to) in &edges {
            graph.entry(from.as_str()).or_default().push(to.as_str());
        }
        fn visit<'a>(
            node: &'a str,
            graph: &HashMap<&'a str, Vec<&'a str>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<&'a str>> {
            if let Some(at) = path.iter().position(|n| *n == node) {
                return Some(path[at..].iter().copied().chain([node]).collect());
            }
            if !done.insert(node) {
                return None;
            }
            path.push(node);
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for node in graph.keys().copied().collect::<Vec<_>>() {
            let cycle = visit(node, &graph, &mut Vec::new(), &mut done);
            assert!(cycle.is_none(), "{krate}: modules import each other in a cycle: {cycle:?}");
        }
        assert!(edges.len() > 10, "{krate}: the scan found too few imports to mean anything");
    }
    Ok(())
}
