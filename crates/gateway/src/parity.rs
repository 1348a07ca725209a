//! The schema-parity test: every argument of a root field of Nautobot's `Query` that Ferrobot
//! serves is an argument of Ferrobot's field too, or is named in `schema/excluded.yaml` with its
//! reason; so is every root field Ferrobot does not serve. The same comparison gives the parity
//! figures (root fields, arguments, fields of the object types both have).
//!
//! The reference is `../shared/reference/nautobot-schema.graphql` beside the project. What the
//! test needs of it (`schema/reference-schema.json`: root fields with their arguments, object
//! types with their fields) is committed, so that the test also runs where the reference is
//! absent; when both are present, the test checks that the copy is current and rewrites it if not.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use serde::{Deserialize, Serialize};

/// Root fields (with their arguments) and object types (with their fields) of one SDL.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Shape {
    roots: BTreeMap<String, Vec<String>>,
    types: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Excluded {
    #[serde(default)]
    roots: BTreeMap<String, String>,
    #[serde(default)]
    arguments: BTreeMap<String, String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shape_of(sdl: &str) -> Shape {
    let document = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
    let mut shape = Shape::default();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let ty = ty.node;
        let TypeKind::Object(object) = ty.kind else { continue };
        let name = ty.name.node.to_string();
        if name == "Mutation" || name == "Subscription" {
            continue;
        }
        if name == "Query" {
            for field in object.fields {
                let args = field.node.arguments.iter().map(|a| a.node.name.node.to_string());
                shape.roots.insert(field.node.name.node.to_string(), args.collect());
            }
        } else {
            let fields = object.fields.iter().map(|f| f.node.name.node.to_string());
            shape.types.insert(name, fields.collect());
        }
    }
    for list in shape.roots.values_mut().chain(shape.types.values_mut()) {
        list.sort();
    }
    shape
}

/// Nautobot's shape: from the reference when it is beside the project (refreshing the
/// committed copy), else from the copy.
fn reference() -> Shape {
    let copy = root().join("schema/reference-schema.json");
    let full = root().join("../shared/reference/nautobot-schema.graphql");
    if let Ok(sdl) = std::fs::read_to_string(&full) {
        let shape = shape_of(&sdl);
        let current = std::fs::read_to_string(&copy).ok();
        let parsed: Option<Shape> = current.and_then(|t| serde_json::from_str(&t).ok());
        if parsed.as_ref() != Some(&shape) {
            let text = serde_json::to_string_pretty(&shape).expect("serializes");
            std::fs::write(&copy, text + "\n").expect("writes schema/reference-schema.json");
        }
        return shape;
    }
    let text = std::fs::read_to_string(&copy).expect("schema/reference-schema.json");
    serde_json::from_str(&text).expect("schema/reference-schema.json parses")
}

#[test]
fn every_nautobot_root_field_and_argument_is_served_or_excluded_with_a_reason() {
    let theirs = reference();
    let sdl = std::fs::read_to_string(root().join("schema/schema.graphql")).expect("SDL");
    let ours = shape_of(&sdl);
    let excluded: Excluded = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("schema/excluded.yaml")).expect("excluded.yaml"),
    )
    .expect("excluded.yaml parses");

    let mut problems = Vec::new();
    let (mut roots, mut arguments, mut served_arguments) = (0, 0, 0);
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, args) in &theirs.roots {
        let Some(our_args) = ours.roots.get(name) else {
            if !excluded.roots.contains_key(name) {
                problems.push(format!("root field {name} is missing"));
            }
            continue;
        };
        roots += 1;
        for arg in args {
            arguments += 1;
            if our_args.binary_search(arg).is_ok() {
                served_arguments += 1;
                continue;
            }
            let reason = excluded
                .arguments
                .get(&format!("{name}.{arg}"))
                .or_else(|| excluded.arguments.get(&format!("*.{arg}")));
            match reason {
                Some(reason) => *reasons.entry(reason.as_str()).or_insert(0) += 1,
                None => problems.push(format!("argument {name}({arg}:) is missing")),
            }
        }
    }
    // Entries for what is served (or what Nautobot lacks) would hide nothing: they are stale.
    for name in excluded.roots.keys() {
        if ours.roots.contains_key(name) || !theirs.roots.contains_key(name) {
            problems.push(format!("excluded root field {name} is served or not Nautobot's"));
        }
    }
    for key in excluded.arguments.keys() {
        let Some((field, arg)) = key.split_once('.') else {
            problems.push(format!("excluded argument {key} is not root.argument"));
            continue;
        };
        let lacking = theirs.roots.iter().any(|(name, args)| {
            (field == "*" || field == name)
                && args.iter().any(|a| a == arg)
                && ours.roots.get(name).is_some_and(|ours| !ours.iter().any(|a| a == arg))
        });
        if !lacking {
            problems.push(format!("excluded argument {key} is served or not Nautobot's"));
        }
    }
    let (mut fields, mut served_fields) = (0, 0);
    for (ty, names) in &theirs.types {
        let Some(our_names) = ours.types.get(ty) else { continue };
        fields += names.len();
        served_fields += names.iter().filter(|n| our_names.binary_search(n).is_ok()).count();
    }
    eprintln!(
        "parity: {roots} of {} root fields, {served_arguments} of {arguments} of their arguments, \
         {served_fields} of {fields} fields of the object types both have ({} of Nautobot's {} \
         types)",
        theirs.roots.len(),
        theirs.types.keys().filter(|t| ours.types.contains_key(*t)).count(),
        theirs.types.len(),
    );
    for (reason, count) in &reasons {
        eprintln!("  {count:>4} arguments: {reason}");
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
