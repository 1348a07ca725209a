//! Config contexts as plain data: which contexts an object takes (its assignment dimensions,
//! matched against the object's own values), Nautobot's deep merge of their data, and the
//! checks a context, a schema and an object's local data get when written.
//!
//! Spec: nautobot/extras/querysets.py (`ConfigContextQuerySet.get_for_object`),
//! nautobot/extras/models/models.py (`ConfigContextModel.get_config_context`, `ConfigContext.clean`,
//! `ConfigContextSchema.clean`, `_validate_with_schema`), nautobot/core/utils/data.py
//! (`deepmerge`).

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::error::ValidationError;
use crate::row::{Related, Row};

/// The config context model.
pub const CONFIG_CONTEXT: &str = "extras.configcontext";
/// The config context schema model.
pub const SCHEMA: &str = "extras.configcontextschema";

/// The assignment lists of a context (its many-to-many fields), in the order [`Subject`]s give
/// their values. An empty list matches every object; a list matches an object when it holds
/// one of the object's values along that dimension.
pub const LISTS: [&str; 12] = [
    "locations",
    "roles",
    "device_types",
    "device_families",
    "platforms",
    "device_redundancy_groups",
    "tenant_groups",
    "tenants",
    "tags",
    "clusters",
    "cluster_groups",
    "dynamic_groups",
];

/// How an object of one model reaches its value along one dimension: a path of fields from the
/// object (a reference or a list, then references), and whether the value's ancestors count too
/// (a location matches the contexts of the locations above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension {
    pub path: &'static [&'static str],
    pub ancestors: bool,
}

const NONE: Dimension = Dimension { path: &[], ancestors: false };

const fn on(path: &'static [&'static str]) -> Dimension {
    Dimension { path, ancestors: false }
}

const fn up(path: &'static [&'static str]) -> Dimension {
    Dimension { path, ancestors: true }
}

/// The field of a device's or virtual machine's own context data (merged last) …
pub const LOCAL: &str = "local_config_context_data";
/// … and of the schema it is checked against.
pub const LOCAL_SCHEMA: &str = "local_config_context_schema";

/// A model whose objects have a config context: its dimensions, in [`LISTS`]' order (its local
/// data is [`LOCAL`]).
#[derive(Debug)]
pub struct Subject {
    pub dimensions: [Dimension; 12],
}

/// Devices: `get_for_object` on a `Device` (clusters through its cluster assignments).
static DEVICE: Subject = Subject {
    dimensions: [
        up(&["location"]),
        on(&["role"]),
        on(&["device_type"]),
        on(&["device_type", "device_family"]),
        on(&["platform"]),
        on(&["device_redundancy_group"]),
        up(&["tenant", "tenant_group"]),
        on(&["tenant"]),
        on(&["tags"]),
        on(&["clusters"]),
        on(&["clusters", "cluster_group"]),
        on(&["dynamic_groups"]),
    ],
};

/// Virtual machines: no device type, family or redundancy group; the cluster's location.
static VIRTUAL_MACHINE: Subject = Subject {
    dimensions: [
        up(&["cluster", "location"]),
        on(&["role"]),
        NONE,
        NONE,
        on(&["platform"]),
        NONE,
        up(&["tenant", "tenant_group"]),
        on(&["tenant"]),
        on(&["tags"]),
        on(&["cluster"]),
        on(&["cluster", "cluster_group"]),
        on(&["dynamic_groups"]),
    ],
};

/// The models that serve `config_context`, and how.
pub fn subject(label: &str) -> Option<&'static Subject> {
    match label {
        "dcim.device" => Some(&DEVICE),
        "virtualization.virtualmachine" => Some(&VIRTUAL_MACHINE),
        _ => None,
    }
}

/// An active context as the merge takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub name: String,
    pub weight: i64,
    pub data: Json,
    /// The assignment lists, in [`LISTS`]' order, each sorted.
    pub lists: [Vec<Uuid>; 12],
}

impl Context {
    /// Whether the context applies to an object with these values per dimension (sorted or
    /// not; ancestors included where the dimension counts them).
    pub fn matches(&self, values: &[Vec<Uuid>]) -> bool {
        self.lists.iter().enumerate().all(|(i, list)| {
            list.is_empty()
                || values.get(i).is_some_and(|vs| vs.iter().any(|v| list.binary_search(v).is_ok()))
        })
    }
}

/// Orders contexts as Nautobot merges them: by weight, then name.
pub fn order(contexts: &mut [Context]) {
    contexts.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name)));
}

/// An object's config context: every context that matches (in `contexts`' order, which
/// [`order`] gives), deep-merged, then the object's local data on top.
pub fn merged(contexts: &[Context], values: &[Vec<Uuid>], local: Option<&Json>) -> Json {
    let mut data = Map::new();
    for context in contexts.iter().filter(|c| c.matches(values)) {
        if let Json::Object(new) = &context.data {
            data = deepmerge(data, new);
        }
    }
    if let Some(Json::Object(new)) = local {
        if !new.is_empty() {
            data = deepmerge(data, new);
        }
    }
    Json::Object(data)
}

/// `deepmerge`: `new` into `original`; objects on both sides merge, anything else is replaced.
/// Keys keep `original`'s order, new ones follow.
pub fn deepmerge(mut original: Map<String, Json>, new: &Map<String, Json>) -> Map<String, Json> {
    for (key, value) in new {
        match (original.get_mut(key), value) {
            (Some(Json::Object(old)), Json::Object(add)) => {
                let merged = deepmerge(std::mem::take(old), add);
                *old = merged;
            }
            _ => {
                original.insert(key.clone(), value.clone());
            }
        }
    }
    original
}

const OBJECT_FORM: &str = "JSON data must be in object form. Example: {\"foo\": 123}";

/// `_validate_with_schema`: `data` against the schema a reference names, with Nautobot's two
/// messages (which schema, and why).
fn against_schema(
    field: &str,
    data: Option<&Json>,
    schema_field: &str,
    related: &Related,
) -> Vec<ValidationError> {
    let Some(schema) = related.row(schema_field) else { return Vec::new() };
    let Some(document) = schema.json("data_schema") else { return Vec::new() };
    let data = data.cloned().unwrap_or(Json::Null);
    let name = schema.text("name").unwrap_or_default();
    // Patterns run on the linear-time `regex` engine, with a size cap: a schema is user input.
    let patterns = jsonschema::PatternOptions::regex().size_limit(1 << 20);
    let built = jsonschema::draft7::options().with_pattern_options(patterns).build(document);
    let validator = match built {
        Ok(v) => v,
        Err(e) => {
            return vec![ValidationError::new(
                field,
                format!("The JSON Schema {name} cannot be used: {e}"),
            )]
        }
    };
    let first = validator.iter_errors(&data).next().map(|error| {
        let at = error.instance_path().to_string();
        if at.is_empty() {
            error.to_string()
        } else {
            format!("{error} (at {at})")
        }
    });
    match first {
        None => Vec::new(),
        Some(why) => vec![
            ValidationError::new(field, format!("Validation using the JSON Schema {name} failed.")),
            ValidationError::new(field, why),
        ],
    }
}

/// `ConfigContext.clean`: the data is an object, and fits the context's schema.
pub fn context_rules(object: &Row, related: &Related) -> Vec<ValidationError> {
    match object.json("data") {
        Some(Json::Object(_)) => {}
        _ => return vec![ValidationError::new("data", OBJECT_FORM)],
    }
    against_schema("data", object.json("data"), "config_context_schema", related)
}

/// `ConfigContextModel.clean` for an object with local data ([`LOCAL`], [`LOCAL_SCHEMA`]).
pub fn local_rules(object: &Row, related: &Related) -> Vec<ValidationError> {
    let data = object.json(LOCAL).filter(|d| !d.is_null());
    if let Some(d) = data {
        if !d.is_object() {
            return vec![ValidationError::new(LOCAL, OBJECT_FORM)];
        }
    }
    let empty = data.is_none_or(|d| d.as_object().is_some_and(Map::is_empty));
    if object.has(LOCAL_SCHEMA) && empty {
        return vec![ValidationError::new(
            LOCAL_SCHEMA,
            "Local config context data must exist for a schema to be applied.",
        )];
    }
    against_schema(LOCAL, data, LOCAL_SCHEMA, related)
}

/// `ConfigContextSchema.clean`: a Draft 7 schema of an object with properties.
pub fn schema_rules(object: &Row) -> Vec<ValidationError> {
    let document = object.json("data_schema").cloned().unwrap_or(Json::Null);
    if let Err(e) = jsonschema::draft7::meta::validate(&document) {
        return vec![ValidationError::new("data_schema", e.to_string())];
    }
    let object_form = document.get("type").and_then(Json::as_str) == Some("object")
        && document.get("properties").is_some();
    if !object_form {
        return vec![ValidationError::new(
            "data_schema",
            "Nautobot only supports context data in the form of an object and thus the JSON schema must be of type object and specify a set of properties.",
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn context(name: &str, weight: i64, data: Json, lists: &[(usize, &[u128])]) -> Context {
        let mut all: [Vec<Uuid>; 12] = Default::default();
        for (i, ids) in lists {
            all[*i] = ids.iter().map(|n| id(*n)).collect();
            all[*i].sort();
        }
        Context { name: name.into(), weight, data, lists: all }
    }

    /// Spec: nautobot/core/tests/test_utils.py (deepmerge) and
    /// nautobot/extras/tests/test_models.py (`ConfigContextTest`), as our own tables.
    #[test]
    fn deep_merge_is_nautobots() {
        let cases = [
            (json!({}), json!({"a": 1}), json!({"a": 1})),
            (json!({"a": 1}), json!({"a": 2}), json!({"a": 2})),
            (json!({"a": {"b": 1}}), json!({"a": {"c": 2}}), json!({"a": {"b": 1, "c": 2}})),
            (json!({"a": {"b": 1}}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"a": [1, 2]}), json!({"a": [3]}), json!({"a": [3]})),
            (
                json!({"x": 1, "a": {"b": {"c": 1}}}),
                json!({"a": {"b": {"d": 2}}, "y": 3}),
                json!({"x": 1, "a": {"b": {"c": 1, "d": 2}}, "y": 3}),
            ),
            (json!({"a": 1}), json!({"a": null}), json!({"a": null})),
        ];
        for (a, b, want) in cases {
            let (Json::Object(a), Json::Object(b)) = (a.clone(), b.clone()) else { continue };
            let got = Json::Object(deepmerge(a, &b));
            assert_eq!(got, want);
            // Key order follows the original, then the new keys.
            assert_eq!(got.to_string(), want.to_string());
        }
    }

    /// Spec: `ConfigContextTest.test_higher_weight_wins`, `test_name_ordering_after_weight`,
    /// `test_annotation_same_as_get_for_object`, local data on top.
    #[test]
    fn contexts_merge_by_weight_then_name_then_local_data() {
        let mut contexts = vec![
            context("c", 200, json!({"a": 789, "d": {"x": 1}}), &[]),
            context("b", 100, json!({"a": 456, "c": 1}), &[]),
            context("a", 100, json!({"a": 123, "b": 1}), &[]),
        ];
        order(&mut contexts);
        let names: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let none: Vec<Vec<Uuid>> = vec![Vec::new(); LISTS.len()];
        assert_eq!(
            merged(&contexts, &none, None),
            json!({"a": 789, "b": 1, "c": 1, "d": {"x": 1}})
        );
        let local = json!({"a": "local", "d": {"y": 2}});
        assert_eq!(
            merged(&contexts, &none, Some(&local)),
            json!({"a": "local", "b": 1, "c": 1, "d": {"x": 1, "y": 2}})
        );
    }

    /// Spec: `get_for_object`: an empty list matches all; a list matches when it holds one of
    /// the object's values (a location's ancestors included by the caller).
    #[test]
    fn assignment_lists_match_the_objects_values() {
        let (region, site, other, role) = (1, 2, 3, 10);
        let contexts = [
            context("all", 1, json!({"all": 1}), &[]),
            context("region", 2, json!({"region": 1}), &[(0, &[region])]),
            context("other-site", 3, json!({"other": 1}), &[(0, &[other])]),
            context("region-and-role", 4, json!({"rr": 1}), &[(0, &[region]), (1, &[role])]),
            context("region-and-other-role", 5, json!({"ro": 1}), &[(0, &[region]), (1, &[99])]),
            context("either-site", 6, json!({"either": 1}), &[(0, &[other, site])]),
        ];
        let mut values: Vec<Vec<Uuid>> = vec![Vec::new(); LISTS.len()];
        values[0] = vec![id(site), id(region)];
        values[1] = vec![id(role)];
        let got = merged(&contexts, &values, None);
        assert_eq!(got, json!({"all": 1, "region": 1, "rr": 1, "either": 1}));
        // No role: a context that names roles does not apply.
        values[1].clear();
        let got = merged(&contexts, &values, None);
        assert_eq!(got, json!({"all": 1, "region": 1, "either": 1}));
    }

    #[test]
    fn data_and_schemas_are_checked_as_nautobot_checks_them() {
        let schema = json!({"type": "object", "properties": {"ntp": {"type": "array"}}, "required": ["ntp"]});
        let mut good = Row::new();
        good.set("data_schema", crate::value::Datum::Json(Box::new(schema.clone())));
        assert!(schema_rules(&good).is_empty());
        let mut bad = Row::new();
        bad.set("data_schema", crate::value::Datum::Json(Box::new(json!({"type": "array"}))));
        assert_eq!(schema_rules(&bad).len(), 1);
        let mut broken = Row::new();
        broken.set("data_schema", crate::value::Datum::Json(Box::new(json!({"type": 5}))));
        assert_eq!(schema_rules(&broken)[0].field, "data_schema");

        let mut named = Row::new();
        named.set("name", crate::value::Datum::text("ntp-schema"));
        named.set("data_schema", crate::value::Datum::Json(Box::new(schema)));
        let mut related = Related::default();
        related.rows.insert("config_context_schema", named);
        let mut context = Row::new();
        context.set("data", crate::value::Datum::Json(Box::new(json!({"ntp": ["a"]}))));
        assert!(context_rules(&context, &related).is_empty());
        context.set("data", crate::value::Datum::Json(Box::new(json!({"ntp": "a"}))));
        let errors = context_rules(&context, &related);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].message, "Validation using the JSON Schema ntp-schema failed.");
        assert!(errors[1].message.contains("/ntp"), "{}", errors[1].message);
        context.set("data", crate::value::Datum::Json(Box::new(json!([1]))));
        assert_eq!(context_rules(&context, &related)[0].message, OBJECT_FORM);
    }
}
