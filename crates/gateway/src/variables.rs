//! Checks an operation's variable values against their definitions before anything runs, in
//! graphql-core's words (`Variable '$s' of required type 'Boolean!' was not provided.`).
//!
//! async-graphql coerces variables as resolvers read them; the plan executor reads them itself,
//! so this is where a missing, null or ill-typed variable is refused (HTTP 400, as graphene does).
//! Spec: <https://spec.graphql.org/October2021/#sec-Coercing-Variable-Values>.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Variables};

use crate::error::GatewayError;
use async_graphql_value::{ConstValue as Value, Value as DocValue};

/// The first variable of `operation` whose value does not fit its definition, as a message.
pub(crate) fn check(
    registry: &Registry,
    operation: &OperationDefinition,
    variables: &Variables,
) -> Result<(), GatewayError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let ty = &definition.var_type.node;
        match variables.get(&Name::new(name)) {
            None if definition.default_value.is_none() && !ty.nullable => {
                return Err(GatewayError::Document(format!(
                    "Variable '${name}' of required type '{ty}' was not provided."
                )));
            }
            None => {}
            Some(Value::Null) if !ty.nullable => {
                return Err(GatewayError::Document(format!(
                    "Variable '${name}' of non-null type '{ty}' must not be null."
                )));
            }
            Some(value) => {
                if let Err(Misfit(problem)) =
                    fits(registry, &ty.to_string(), value, &At::Root(name))
                {
                    return Err(GatewayError::Document(format!(
                        "Variable '${name}' got invalid value {}{problem}",
                        repr(value)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The first variable used where its type is not allowed, in graphql-core's words (async-graphql's
/// own rule lets `String!` pass where `[String]` is expected).
/// Spec: <https://spec.graphql.org/October2021/#sec-All-Variable-Usages-Are-Allowed>.
pub(crate) fn check_positions(
    registry: &Registry,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    root: &str,
) -> Result<(), GatewayError> {
    // Without variables there is nothing to place (and a bulk mutation's literal input, which
    // can hold 100,000 objects, is not walked).
    if operation.variable_definitions.is_empty() {
        return Ok(());
    }
    let definitions: HashMap<&str, &VariableDefinition> = operation
        .variable_definitions
        .iter()
        .map(|d| (d.node.name.node.as_str(), &d.node))
        .collect();
    let mut walk = Positions { registry, document, definitions, seen: HashSet::new() };
    walk.selection_set(&operation.selection_set.node, root)
}

struct Positions<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    definitions: HashMap<&'a str, &'a VariableDefinition>,
    /// Fragments already walked (each once: their usages do not change).
    seen: HashSet<&'a str>,
}

impl<'a> Positions<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, parent: &str) -> Result<(), GatewayError> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let meta = match self.registry.types.get(parent) {
                        Some(MetaType::Object { fields, .. })
                        | Some(MetaType::Interface { fields, .. }) => {
                            fields.get(field.name.node.as_str())
                        }
                        _ => None,
                    };
                    let Some(meta) = meta else { continue };
                    for (name, value) in &field.arguments {
                        if let Some(arg) = meta.args.get(name.node.as_str()) {
                            self.value(&value.node, &arg.ty)?;
                        }
                    }
                    let inner = MetaTypeName::concrete_typename(&meta.ty).to_owned();
                    self.selection_set(&field.selection_set.node, &inner)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(fragment) = self.document.fragments.get(name) {
                        if self.seen.insert(name) {
                            let on = fragment.node.type_condition.node.on.node.as_str();
                            self.selection_set(&fragment.node.selection_set.node, on)?;
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    self.selection_set(&inline.node.selection_set.node, on.unwrap_or(parent))?;
                }
            }
        }
        Ok(())
    }

    /// Checks the variables inside an argument value against the type of their position.
    fn value(&self, value: &DocValue, location: &str) -> Result<(), GatewayError> {
        match value {
            DocValue::Variable(name) => {
                let Some(definition) = self.definitions.get(name.as_str()) else { return Ok(()) };
                let variable = definition.var_type.node.to_string();
                let location_nn = location.strip_suffix('!');
                // A nullable variable with a default may stand where a non-null is expected.
                let has_default = definition.default_value.is_some();
                let fits = match location_nn {
                    Some(inner) if !variable.ends_with('!') && has_default => {
                        compatible(inner, &variable)
                    }
                    _ => compatible(location, &variable),
                };
                if !fits {
                    return Err(GatewayError::Document(format!(
                        "Variable '${name}' of type '{variable}' used in position expecting type '{location}'."
                    )));
                }
                Ok(())
            }
            DocValue::List(items) => {
                let inner = location.trim_end_matches('!');
                let item = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
                items.iter().try_for_each(|v| self.value(v, item.unwrap_or(inner)))
            }
            DocValue::Object(fields) => {
                let name = MetaTypeName::concrete_typename(location);
                let Some(MetaType::InputObject { input_fields, .. }) =
                    self.registry.types.get(name)
                else {
                    return Ok(());
                };
                for (key, v) in fields {
                    if let Some(field) = input_fields.get(key.as_str()) {
                        self.value(v, &field.ty)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a variable of type `variable` may be used where `location` is expected (the spec's
/// AreTypesCompatible).
fn compatible(location: &str, variable: &str) -> bool {
    match (location.strip_suffix('!'), variable.strip_suffix('!')) {
        (Some(location), Some(variable)) => compatible(location, variable),
        (Some(_), None) => false,
        (None, Some(variable)) => compatible(location, variable),
        (None, None) => {
            let list =
                |t: &str| t.strip_prefix('[').and_then(|t| t.strip_suffix(']')).map(str::to_owned);
            match (list(location), list(variable)) {
                (Some(location), Some(variable)) => compatible(&location, &variable),
                (None, None) => location == variable,
                _ => false,
            }
        }
    }
}

/// Gives every omitted variable its default value, as the operation defines it: the executor
/// reads variables itself, so a default it did not see would read as absent.
pub(crate) fn apply_defaults(operation: &OperationDefinition, variables: &mut Variables) {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        if variables.get(name).is_some() {
            continue;
        }
        if let Some(default) = &definition.default_value {
            variables.insert(name.clone(), default.node.clone());
        }
    }
}

/// Where a value does not fit its type, and what was expected: the tail of graphql-core's
/// message (` at 'in.name'; Expected type 'String'.`).
struct Misfit(String);

/// Where in a variable's value a check is, written out only for a message: a bulk mutation's
/// variables hold thousands of values, and all but the wrong one need no path.
enum At<'a> {
    Root(&'a str),
    Index(&'a At<'a>, usize),
    Field(&'a At<'a>, &'a str),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root(name) => f.write_str(name),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// Whether `value` may stand for type `ty` (with input coercion: a single value for a list).
/// `Err` says where in the value, and what was expected.
fn fits(registry: &Registry, ty: &str, value: &Value, path: &At<'_>) -> Result<(), Misfit> {
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => match value {
            Value::Null => Err(Misfit(format!(
                " at '{path}'; Expected non-nullable type '{ty}' not to be null."
            ))),
            _ => fits(registry, inner, value, path),
        },
        MetaTypeName::List(inner) => match value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| fits(registry, inner, item, &At::Index(path, i))),
            other => fits(registry, inner, other, path),
        },
        MetaTypeName::Named(name) => {
            if matches!(value, Value::Null) {
                return Ok(());
            }
            let wrong = || Err(Misfit(format!(" at '{path}'; Expected type '{name}'.")));
            match (name, value) {
                ("Int", Value::Number(n))
                    if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) =>
                {
                    Ok(())
                }
                ("Float", Value::Number(_)) => Ok(()),
                ("String", Value::String(_)) => Ok(()),
                ("Boolean", Value::Boolean(_)) => Ok(()),
                ("ID", Value::String(_)) => Ok(()),
                ("ID", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
                ("Int" | "Float" | "String" | "Boolean" | "ID", _) => wrong(),
                _ => match registry.types.get(name) {
                    Some(MetaType::Scalar { is_valid, .. }) => match is_valid {
                        Some(valid) if !valid(value) => wrong(),
                        _ => Ok(()),
                    },
                    Some(MetaType::Enum { enum_values, .. }) => {
                        let item = match value {
                            Value::String(s) => s.as_str(),
                            Value::Enum(e) => e.as_str(),
                            _ => return wrong(),
                        };
                        if enum_values.contains_key(item) {
                            Ok(())
                        } else {
                            wrong()
                        }
                    }
                    Some(MetaType::InputObject { input_fields, .. }) => {
                        let Value::Object(object) = value else { return wrong() };
                        for key in object.keys() {
                            if !input_fields.contains_key(key.as_str()) {
                                return Err(Misfit(format!(
                                    " at '{path}'; Field '{key}' is not defined by type '{name}'."
                                )));
                            }
                        }
                        for (field, meta) in input_fields {
                            let inner = At::Field(path, field.as_str());
                            match object.get(field.as_str()) {
                                Some(v) => fits(registry, &meta.ty, v, &inner)?,
                                None if meta.ty.ends_with('!') && meta.default_value.is_none() => {
                                    return Err(Misfit(format!(
                                        " at '{path}'; Field '{field}' of required type '{}' was not provided.",
                                        meta.ty
                                    )));
                                }
                                None => {}
                            }
                        }
                        Ok(())
                    }
                    _ => wrong(),
                },
            }
        }
    }
}

/// A value as Python's `repr` shows it, which graphql-core's messages quote.
fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Boolean(true) => "True".into(),
        Value::Boolean(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", truncated(s)),
        Value::Enum(e) => format!("'{e}'"),
        Value::List(items) if items.len() > 10 => {
            format!("[{}, …]", items.iter().take(10).map(repr).collect::<Vec<_>>().join(", "))
        }
        Value::List(items) => {
            format!("[{}]", items.iter().map(repr).collect::<Vec<_>>().join(", "))
        }
        Value::Object(object) => {
            let fields: Vec<String> =
                object.iter().take(10).map(|(k, v)| format!("'{k}': {}", repr(v))).collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Binary(_) => "…".into(),
    }
}

/// At most 100 characters of a string value: an error never echoes a megabyte back.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::parser::types::DocumentOperations;
    use serde_json::json;

    use super::*;

    /// Checks `variables` against the one operation of `query`, on the served schema.
    fn check_with(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let catalogue = Arc::new(ferrobot_domain::Catalogue::core().expect("catalogue"));
        let served = crate::build_schema(catalogue, Default::default()).expect("schema");
        let document = async_graphql::parser::parse_query(query).expect("parse");
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation")
        };
        check(served.schema.registry(), &operation.node, &Variables::from_json(variables))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn variables_fit_their_definitions() {
        let has = "query($s: Boolean!) { devices(has_interfaces: $s) { name } }";
        let input = "mutation($in: TagInput!) { tag_create(input: $in) { id } }";
        let cases: [(&str, serde_json::Value, Result<(), &str>); 9] = [
            (has, json!({"s": true}), Ok(())),
            (has, json!({}), Err("Variable '$s' of required type 'Boolean!' was not provided.")),
            (has, json!({"s": null}), Err("Variable '$s' of non-null type 'Boolean!' must not be null.")),
            (has, json!({"s": "yes"}), Err("Variable '$s' got invalid value 'yes' at 's'; Expected type 'Boolean'.")),
            ("query($n: [String]) { devices(name: $n) { name } }", json!({"n": "one"}), Ok(())),
            ("query($n: Int) { devices(limit: $n) { name } }", json!({"n": 3_000_000_000i64}), Err("Variable '$n' got invalid value 3000000000 at 'n'; Expected type 'Int'.")),
            (input, json!({"in": {"name": "t"}}), Ok(())),
            (input, json!({"in": {"nom": "t"}}), Err("Variable '$in' got invalid value {'nom': 't'} at 'in'; Field 'nom' is not defined by type 'TagInput'.")),
            (input, json!({"in": {"name": 7}}), Err("Variable '$in' got invalid value {'name': 7} at 'in.name'; Expected type 'String'.")),
        ];
        for (query, variables, want) in cases {
            assert_eq!(
                check_with(query, variables.clone()),
                want.map_err(str::to_owned),
                "{query} {variables}"
            );
        }
    }
}

#[cfg(test)]
mod position_tests {
    use super::compatible;

    /// Spec: <https://spec.graphql.org/October2021/#AreTypesCompatible()>.
    #[test]
    fn types_are_compatible_as_the_spec_says() {
        let cases = [
            ("[String]", "[String]", true),
            ("[String]", "[String!]!", true),
            ("[String]", "String!", false),
            ("[String]", "String", false),
            ("String!", "String", false),
            ("String", "String!", true),
            ("Int", "String", false),
            ("[[Int]]", "[[Int!]!]", true),
            ("[Int]!", "[Int]", false),
        ];
        for (location, variable, want) in cases {
            assert_eq!(compatible(location, variable), want, "{variable} at {location}");
        }
    }
}
