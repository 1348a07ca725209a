//! The coverage test: every model and field of the Nautobot 3.2 reference is in the catalogue
//! with Nautobot's name, table and kind, or is listed in `schema/excluded.yaml` with a reason.
//!
//! The reference is `../shared/reference/nautobot-models.json` beside the project. A trimmed copy
//! (`schema/reference-models.json`: labels, tables, classes and field kinds only) is committed so
//! that the test also runs where the reference is absent; when both are present, the test checks
//! that the copy is current and rewrites it if not.

use super::{Catalogue, FieldKind, Model};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct Full {
    models: Vec<FullModel>,
}

#[derive(Debug, Deserialize)]
struct FullModel {
    label: String,
    class: String,
    db_table: String,
    fields: Vec<FullField>,
}

#[derive(Debug, Deserialize)]
struct FullField {
    name: String,
    kind: String,
    related_model: Option<String>,
    #[serde(default)]
    reverse: bool,
}

/// The facts the test needs, per model label.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct RefModel {
    class: String,
    table: String,
    /// `[name, kind, related model or ""]`
    fields: Vec<(String, String, String)>,
}

#[derive(Debug, Deserialize)]
struct Excluded {
    models: BTreeMap<String, String>,
    fields: BTreeMap<String, String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Nautobot's field kinds that are not columns of their own: reverse accessors, generic
/// relations, the natural-ordering companions (`_name`), and the features.
fn structural(kind: &str) -> bool {
    matches!(kind, "GenericRelation" | "GenericForeignKey" | "NaturalOrderingField" | "TagsField")
}

fn reference() -> BTreeMap<String, RefModel> {
    let trimmed_path = root().join("schema/reference-models.json");
    let full_path = root().join("../shared/reference/nautobot-models.json");
    let trimmed: Option<BTreeMap<String, RefModel>> =
        std::fs::read_to_string(&trimmed_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    let Ok(text) = std::fs::read_to_string(&full_path) else {
        return trimmed.expect("neither the reference nor schema/reference-models.json");
    };
    let full: Full = serde_json::from_str(&text).expect("the reference parses");
    let fresh: BTreeMap<String, RefModel> = full
        .models
        .into_iter()
        .map(|m| {
            let fields = m
                .fields
                .into_iter()
                .filter(|f| !f.reverse && !structural(&f.kind))
                .map(|f| (f.name, f.kind, f.related_model.unwrap_or_default()))
                .collect();
            (m.label, RefModel { class: m.class, table: m.db_table, fields })
        })
        .collect();
    if trimmed.as_ref() != Some(&fresh) {
        let text = serde_json::to_string_pretty(&fresh).expect("serialises");
        std::fs::write(&trimmed_path, text + "\n").expect("writes the trimmed reference");
        panic!("{} was stale and is rewritten: review and commit it", trimmed_path.display());
    }
    fresh
}

/// Whether a catalogue field has the kind (and target) of the reference's field.
fn same_kind(catalogue: &Catalogue, kind: &FieldKind, theirs: &str, target: &str) -> bool {
    let label = |id: usize| catalogue.model(id).label.as_str();
    match kind {
        FieldKind::ForeignKey { to, .. } => {
            matches!(
                theirs,
                "ForeignKey"
                    | "ForeignKeyWithAutoRelatedName"
                    | "ForeignKeyLimitedByContentTypes"
                    | "StatusField"
                    | "RoleField"
                    | "TreeNodeForeignKey"
                    | "OneToOneField"
            ) && label(*to) == target
        }
        FieldKind::ManyToMany { to, .. } => theirs == "ManyToManyField" && label(*to) == target,
        FieldKind::ContentType => {
            target == "contenttypes.contenttype" && theirs != "ManyToManyField"
        }
        FieldKind::ContentTypes => {
            target == "contenttypes.contenttype" && theirs == "ManyToManyField"
        }
        FieldKind::Uuid => theirs == "UUIDField",
        FieldKind::MacAddress => theirs == "MACAddressCharField",
        FieldKind::String { .. } | FieldKind::Choice { .. } => matches!(
            theirs,
            "CharField"
                | "EmailField"
                | "ColorField"
                | "AutoSlugField"
                | "TimeZoneField"
                | "PositiveRangeNumberTextField"
                | "SlugField"
                | "URLField"
                | "LaxURLField"
                | "ImageField"
                | "FileField"
        ),
        FieldKind::Text => theirs == "TextField",
        FieldKind::Integer { .. } => theirs.ends_with("IntegerField") || theirs == "ASNField",
        FieldKind::Boolean => theirs == "BooleanField",
        FieldKind::DateTime => theirs == "DateTimeField",
        FieldKind::Date => theirs == "DateField",
        FieldKind::Decimal { .. } => theirs == "DecimalField",
        FieldKind::Float => theirs == "FloatField",
        FieldKind::Json => matches!(theirs, "JSONField" | "JSONArrayField" | "JSONPathField"),
        FieldKind::IpBytes => theirs == "VarbinaryIPField",
    }
}

/// What the catalogue serves of a reference field: `Ok` or the problem.
fn check_field(
    catalogue: &Catalogue,
    model: &Model,
    (name, kind, target): &(String, String, String),
) -> Result<(), String> {
    if name == "_custom_field_data" {
        return match model.features.custom_fields {
            true => Ok(()),
            false => Err("has custom field data but not the custom_fields feature".into()),
        };
    }
    match model.field(name) {
        None => Err(format!("field {name} ({kind}) is missing")),
        Some((_, f)) if !same_kind(catalogue, &f.kind, kind, target) => {
            Err(format!("field {name} is {:?}, the reference has {kind} {target}", f.kind))
        }
        Some(_) => Ok(()),
    }
}

#[test]
fn the_catalogue_covers_the_reference() {
    let catalogue = Catalogue::core().expect("catalogue");
    let reference = reference();
    let excluded: Excluded = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("schema/excluded.yaml")).expect("excluded.yaml"),
    )
    .expect("excluded.yaml parses");

    let mut problems = Vec::new();
    for label in excluded.models.keys() {
        if !reference.contains_key(label) {
            problems.push(format!("excluded model {label} is not in the reference"));
        }
        if catalogue.by_label(label).is_some() {
            problems.push(format!("excluded model {label} is in the catalogue"));
        }
    }
    for key in excluded.fields.keys() {
        let known = key.rsplit_once('.').and_then(|(m, f)| {
            reference.get(m).map(|r| r.fields.iter().any(|(name, _, _)| name == f))
        });
        if known != Some(true) {
            problems.push(format!("excluded field {key} is not in the reference"));
        }
    }

    let (mut models, mut fields, mut fields_in_scope) = (0, 0, 0);
    for (label, theirs) in &reference {
        if excluded.models.contains_key(label) {
            continue;
        }
        let Some(model) = catalogue.by_label(label) else {
            problems.push(format!("{label}: model missing from the catalogue"));
            continue;
        };
        models += 1;
        if model.table != theirs.table || model.class != theirs.class {
            problems.push(format!(
                "{label}: table/class {}/{} where the reference has {}/{}",
                model.table, model.class, theirs.table, theirs.class
            ));
        }
        for field in &theirs.fields {
            if excluded.fields.contains_key(&format!("{label}.{}", field.0)) {
                continue;
            }
            fields_in_scope += 1;
            match check_field(&catalogue, model, field) {
                Ok(()) => fields += 1,
                Err(e) => problems.push(format!("{label}: {e}")),
            }
        }
    }
    let in_scope = reference.len() - excluded.models.len();
    #[allow(clippy::print_stdout)] // the figures, seen with `--nocapture`
    {
        println!(
            "coverage: {models}/{in_scope} reference models in scope ({} excluded of {}), \
         {fields}/{fields_in_scope} of their fields ({} excluded)",
            excluded.models.len(),
            reference.len(),
            excluded.fields.len()
        );
    }
    assert!(problems.is_empty(), "{} coverage problems:\n{}", problems.len(), problems.join("\n"));
}
