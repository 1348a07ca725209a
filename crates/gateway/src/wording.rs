//! async-graphql's validation messages in graphql-core 3.2's words, which Nautobot's clients
//! read (`Cannot query field 'site' on type 'DeviceType'. Did you mean 'sites'?`), with
//! graphql-core's suggestions (`suggestion_list`, `did_you_mean`) computed from the served
//! schema.
//!
//! Each async-graphql message is recognised by its fixed words and the names it quotes; one
//! that is not recognised keeps its text with graphql-core's quotes. An argument value of the
//! wrong type is checked again by [`crate::literals`], which places each bad literal as
//! graphql-core does.

use async_graphql::registry::{MetaType, Registry};

pub(crate) use crate::suggest::{did_you_mean, natural, suggestion_list, Worded};

/// At most this many errors are reported for one document (graphql-core stops validating at
/// 100, then adds a last error saying so).
pub(crate) const MAX_ERRORS: usize = 100;

/// The last error of a document with more errors than [`MAX_ERRORS`], as graphql-core words it.
pub(crate) const TOO_MANY: &str =
    "Too many validation errors, error limit reached. Validation aborted.";

/// The names an async-graphql message quotes, in order.
fn quoted(message: &str) -> Vec<&str> {
    message.split('"').skip(1).step_by(2).collect()
}

/// The field names of an object or interface type.
fn field_names<'r>(registry: &'r Registry, ty: &str) -> Vec<&'r str> {
    match registry.types.get(ty).and_then(MetaType::fields) {
        Some(fields) => fields.keys().map(String::as_str).collect(),
        None => Vec::new(),
    }
}

/// graphql-core's suggestions for a field that `ty` does not have: the possible types of an
/// abstract type that have it (an inline fragment), else the type's fields that are close.
fn field_suggestion(registry: &Registry, ty: &str, field: &str) -> String {
    if let Some(
        MetaType::Union { possible_types, .. } | MetaType::Interface { possible_types, .. },
    ) = registry.types.get(ty)
    {
        let mut having: Vec<&str> = possible_types
            .iter()
            .filter(|t| field_names(registry, t).contains(&field))
            .map(String::as_str)
            .collect();
        having.sort_by_key(|t| natural(t));
        let having: Vec<String> = having.into_iter().map(str::to_owned).collect();
        let types = did_you_mean(&having, Some("to use an inline fragment on"));
        if !types.is_empty() {
            return types;
        }
    }
    did_you_mean(&suggestion_list(field, field_names(registry, ty)), None)
}

/// An async-graphql validation message in graphql-core's words; `None` for a message about an
/// argument value, which [`crate::literals`] words.
pub(crate) fn reword(registry: &Registry, message: &str) -> Option<String> {
    let q = quoted(message);
    let starts = |s: &str| message.starts_with(s);
    let text = if starts("Invalid value for argument") {
        return None;
    } else if starts("Unknown field ") && q.len() >= 2 {
        let (field, ty) = (q[0], q[1]);
        format!(
            "Cannot query field '{field}' on type '{ty}'.{}",
            field_suggestion(registry, ty, field)
        )
    } else if starts("Unknown argument ") && message.contains("\" on directive \"") && q.len() >= 2
    {
        let (arg, directive) = (q[0], q[1]);
        let args = registry
            .directives
            .get(directive)
            .map(|d| d.args.keys().map(String::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        format!(
            "Unknown argument '{arg}' on directive '@{directive}'.{}",
            did_you_mean(&suggestion_list(arg, args), None)
        )
    } else if starts("Unknown argument ") && q.len() >= 3 {
        let (arg, field, ty) = (q[0], q[1], q[2]);
        let args: Vec<&str> = registry
            .types
            .get(ty)
            .and_then(|t| t.field_by_name(field))
            .map(|f| f.args.keys().map(String::as_str).collect())
            .unwrap_or_default();
        format!(
            "Unknown argument '{arg}' on field '{ty}.{field}'.{}",
            did_you_mean(&suggestion_list(arg, args), None)
        )
    } else if starts("Unknown type ") && !q.is_empty() {
        let names = registry.types.keys().map(String::as_str).filter(|n| !n.starts_with("__"));
        format!("Unknown type '{}'.{}", q[0], did_you_mean(&suggestion_list(q[0], names), None))
    } else if starts("Variable \"")
        && message.contains("\" used in position expecting type \"")
        && q.len() >= 3
    {
        let name = q[0].trim_start_matches('$');
        format!("Variable '${name}' of type '{}' used in position expecting type '{}'.", q[1], q[2])
    } else if starts("Variable \"")
        && message.contains("is not defined by operation")
        && q.len() >= 2
    {
        format!("Variable '{}' is not defined by operation '{}'.", q[0], q[1])
    } else if starts("Variable \"") && message.ends_with("is not defined") && !q.is_empty() {
        format!("Variable '{}' is not defined.", q[0])
    } else if starts("Variable \"") && message.contains("is not used by operation") && q.len() >= 2
    {
        format!("Variable '{}' is never used in operation '{}'.", q[0], q[1])
    } else if starts("Variable \"") && message.ends_with("is not used") && !q.is_empty() {
        format!("Variable '{}' is never used.", q[0])
    } else if starts("Fragment \"") && message.ends_with("is never used") && !q.is_empty() {
        format!("Fragment '{}' is never used.", q[0])
    } else if starts("Unknown fragment: ") && !q.is_empty() {
        format!("Unknown fragment '{}'.", q[0])
    } else if starts("Field \"") && message.contains("is required but not provided") && q.len() >= 3
    {
        format!(
            "Field '{}' argument '{}' of type '{}' is required, but it was not provided.",
            q[0], q[1], q[2]
        )
    } else if starts("Directive \"@")
        && message.contains("is required but not provided")
        && q.len() >= 3
    {
        format!(
            "Directive '{}' argument '{}' of type '{}' is required, but it was not provided.",
            q[0], q[1], q[2]
        )
    } else if message.contains("must not have a selection since type") && q.len() >= 2 {
        format!(
            "Field '{}' must not have a selection since type '{}' has no subfields.",
            q[0], q[1]
        )
    } else if message.contains("must have a selection of subfields") && q.len() >= 2 {
        format!("Field '{0}' of type '{1}' must have a selection of subfields. Did you mean '{0} {{ ... }}'?", q[0], q[1])
    } else if starts("There can only be one argument named") && !q.is_empty() {
        format!("There can be only one argument named '{}'.", q[0])
    } else if starts("There can only be one variable named") && !q.is_empty() {
        format!("There can be only one variable named '{}'.", q[0])
    } else if starts("Unknown directive ") && !q.is_empty() {
        format!("Unknown directive '@{}'.", q[0])
    } else if starts("Duplicate directive ") && !q.is_empty() {
        format!("The directive '@{}' can only be used once at this location.", q[0])
    } else if starts("Fields \"") && message.contains("are different fields") && q.len() >= 3 {
        format!("Fields '{}' conflict because '{}' and '{}' are different fields. Use different aliases on the fields to fetch both if this was intentional.", q[0], q[1], q[2])
    } else if starts("Fields \"") && message.contains("differing arguments") && !q.is_empty() {
        format!("Fields '{}' conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.", q[0])
    } else if starts("Fragment \"") && message.contains("cannot be spread here") && q.len() >= 3 {
        format!("Fragment '{}' cannot be spread here as objects of type '{}' can never be of type '{}'.", q[0], q[1], q[2])
    } else if starts("Fragment cannot be spread here") && q.len() >= 2 {
        format!(
            "Fragment cannot be spread here as objects of type '{}' can never be of type '{}'.",
            q[0], q[1]
        )
    } else if starts("Fragment \"")
        && message.contains("cannot condition non composite type")
        && q.len() >= 2
    {
        format!("Fragment '{}' cannot condition on non composite type '{}'.", q[0], q[1])
    } else if starts("Fragment cannot condition non composite type") && !q.is_empty() {
        format!("Fragment cannot condition on non composite type '{}'.", q[0])
    } else if starts("Variable \"")
        && message.contains("cannot be of non-input type")
        && q.len() >= 2
    {
        format!("Variable '${}' cannot be non-input type '{}'.", q[0].trim_start_matches('$'), q[1])
    } else {
        let text = message.replace('"', "'");
        if text.ends_with('.') {
            text
        } else {
            format!("{text}.")
        }
    };
    Some(text)
}

/// The errors of a document async-graphql refused, as the answer's `errors` (HTTP 400): each
/// message in graphql-core's words, bad argument literals placed where they start, at most
/// [`MAX_ERRORS`] of them. A value refused only through a variable is the variable's error
/// (`Variable '$n' got invalid value …`), as graphql-core coerces variables after validation.
pub(crate) fn document_errors(
    state: &crate::answer::RequestState,
    source: &str,
    operation_name: Option<&str>,
    errors: &[async_graphql::ServerError],
) -> Vec<serde_json::Value> {
    let registry = state.served.schema.registry();
    let document = state.document.lock().ok().and_then(|mut d| d.take());
    let mut out: Vec<serde_json::Value> = Vec::new();
    let mut worded: Vec<Worded> = Vec::new();
    let mut through_variables = false;
    for e in errors {
        // Past the cap nothing more is read (each error may re-read the document's text).
        if worded.len() > MAX_ERRORS {
            break;
        }
        // The parser's own recursion bound (far past any depth limit) is the depth refusal.
        if e.message == "recursion limit exceeded." {
            let limit = state.limits.depth;
            out.push(crate::limits::too_deep(crate::limits::MAX_DEPTH_LIMIT + 1, limit).to_json());
            continue;
        }
        let locations: Vec<(usize, usize)> =
            e.locations.iter().map(|l| (l.line, l.column)).collect();
        // A refusal by a query limit says which, with its figures.
        if let Some(extensions) = &e.extensions {
            let mut v = serde_json::json!({ "message": e.message, "extensions": extensions });
            if !locations.is_empty() {
                v["locations"] = locations_json(&locations);
            }
            out.push(v);
            continue;
        }
        // graphql-core has no parent type below a leaf, so it does not report its fields.
        if let (true, [_, ty, ..]) =
            (e.message.starts_with("Unknown field "), quoted(&e.message).as_slice())
        {
            if registry.types.get(*ty).is_some_and(MetaType::is_leaf) {
                continue;
            }
        }
        match reword(registry, &e.message) {
            Some(message) => {
                let locations = relocated(source, &message, locations);
                let w = Worded { message, locations };
                // async-graphql reports some errors twice (an unknown variable type).
                if !worded.contains(&w) {
                    worded.push(w);
                }
            }
            None => {
                let literal = match (&document, locations.first()) {
                    (Some((doc, _)), Some(&(line, column))) => {
                        crate::literals::argument_errors(registry, doc, source, line, column)
                    }
                    _ => None,
                };
                match literal {
                    Some(errors) if errors.is_empty() => through_variables = true,
                    Some(errors) => worded.extend(errors),
                    None => worded.push(Worded { message: e.message.replace('"', "'"), locations }),
                }
            }
        }
    }
    if worded.is_empty() && out.is_empty() && through_variables {
        if let Some(message) = variable_error(state, document.as_ref(), operation_name) {
            worded.push(Worded { message, locations: Vec::new() });
        }
    }
    // A value refused through a variable whose place was never allowed is graphql-core's
    // position error; anything else keeps async-graphql's own words, so a refused document
    // always says why.
    if worded.is_empty() && out.is_empty() {
        if let Some(message) = variable_error(state, document.as_ref(), operation_name) {
            worded.push(Worded { message, locations: Vec::new() });
        }
    }
    if worded.is_empty() && out.is_empty() {
        for e in errors.iter().take(MAX_ERRORS) {
            let locations = e.locations.iter().map(|l| (l.line, l.column)).collect();
            worded.push(Worded { message: e.message.replace('"', "'"), locations });
        }
    }
    let capped = worded.len() > MAX_ERRORS;
    for w in worded.into_iter().take(MAX_ERRORS) {
        let mut v = serde_json::json!({ "message": w.message });
        if !w.locations.is_empty() {
            v["locations"] = locations_json(&w.locations);
        }
        out.push(v);
    }
    if capped {
        out.push(serde_json::json!({ "message": TOO_MANY }));
    }
    out
}

/// The places graphql-core reports where async-graphql reports the start of a construct.
fn relocated(source: &str, message: &str, locations: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    use crate::syntax::{place_within, Within};
    let within = if message.starts_with("Unknown fragment ") {
        Within::SpreadName
    } else if message.contains("must not have a selection since type") {
        Within::SelectionSet
    } else if message.starts_with("Unknown type ") {
        Within::VariableType
    } else {
        return locations;
    };
    locations
        .into_iter()
        .map(|(line, column)| place_within(source, line, column, within).unwrap_or((line, column)))
        .collect()
}

fn locations_json(locations: &[(usize, usize)]) -> serde_json::Value {
    locations
        .iter()
        .map(|(line, column)| serde_json::json!({"line": line, "column": column}))
        .collect()
}

/// The first variable whose value does not fit (async-graphql checked the values it
/// substituted into arguments; graphql-core words that as the variable's error).
fn variable_error(
    state: &crate::answer::RequestState,
    document: Option<&(async_graphql::parser::types::ExecutableDocument, async_graphql::Variables)>,
    operation_name: Option<&str>,
) -> Option<String> {
    let (document, variables) = document?;
    let operation = crate::execute::operation_definition(document, operation_name)?;
    let registry = state.served.schema.registry();
    // graphql-core validates the document before it reads any value: a variable used where its
    // type is not allowed is that error, whatever the value.
    let root = match operation.ty {
        async_graphql::parser::types::OperationType::Mutation => "Mutation",
        _ => "Query",
    };
    crate::variables::check_positions(registry, document, operation, root)
        .and_then(|()| crate::variables::check(registry, operation, variables))
        .err()
        .map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_follow_graphql_core() {
        // Expected lists are graphql-core 3.2.11's `suggestion_list` on the same inputs.
        let options = [
            "name", "names", "nam", "Name", "label", "role", "roles", "rack", "racks", "a10", "a9",
        ];
        let cases: [(&str, &[&str]); 5] = [
            ("name", &["name", "Name", "nam", "names"]),
            ("rol", &["role", "roles"]),
            ("raks", &["racks", "rack"]),
            ("a1", &["a9", "a10"]),
            ("xyz", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(suggestion_list(input, options), want.to_vec(), "{input}");
        }
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(did_you_mean(&s(&[]), None), "");
        assert_eq!(did_you_mean(&s(&["a"]), None), " Did you mean 'a'?");
        assert_eq!(did_you_mean(&s(&["a", "b"]), None), " Did you mean 'a' or 'b'?");
        assert_eq!(
            did_you_mean(&s(&["a", "b", "c", "d", "e", "f"]), Some("the enum value")),
            " Did you mean the enum value 'a', 'b', 'c', 'd', or 'e'?"
        );
    }
}
