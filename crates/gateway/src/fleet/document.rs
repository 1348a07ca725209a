//! A fleet render's query made a list: the operation's one root field, a single object
//! (Golden Config's `device(id: $device_id)`) or a list, becomes the list of its model with the
//! render's filter, under a key of our own, with the id and name of each object selected
//! beside what the query asks.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};
use async_graphql_value::Value;
use ferrobot_domain::catalogue::ModelId;
use ferrobot_domain::Catalogue;
use serde_json::{Map, Value as Json};

/// The key the list is answered under.
pub(crate) const KEY: &str = "fleet";
/// The keys of each object's id and name, taken out of its data before it is rendered.
pub(crate) const ID: &str = "_fleet_id";
pub(crate) const NAME: &str = "_fleet_name";

/// Rewrites `document` as described; the model listed.
pub(crate) fn as_list(
    catalogue: &Catalogue,
    document: &mut ExecutableDocument,
    operation: Option<&str>,
    filter: &Map<String, Json>,
) -> Result<ModelId, String> {
    let operation = match (&mut document.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get_mut(&Name::new(name))
            .ok_or_else(|| format!("Unknown operation named \"{name}\"."))?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values_mut().next().ok_or("The document has no operation.")?
        }
        (DocumentOperations::Multiple(_), None) => {
            return Err("Must provide operation name if query contains multiple operations.".into())
        }
    };
    let operation = &mut operation.node;
    if operation.ty != OperationType::Query {
        return Err("A render runs a query, not a mutation or a subscription.".into());
    }
    let fields: Vec<&mut Positioned<Field>> = operation
        .selection_set
        .node
        .items
        .iter_mut()
        .filter_map(|s| match &mut s.node {
            Selection::Field(f) if f.node.name.node.as_str() != "__typename" => Some(f),
            _ => None,
        })
        .collect();
    let [field] = <[_; 1]>::try_from(fields).map_err(|_| {
        "The query must select one list or object (`devices`, `device(id:)`) at its root."
    })?;
    let pos = field.pos;
    let node = &mut field.node;
    let asked = node.name.node.to_string();
    let model = catalogue
        .models()
        .iter()
        .find(|m| {
            m.graphql.as_ref().is_some_and(|g| {
                g.list.as_deref() == Some(asked.as_str())
                    || g.single.as_deref() == Some(asked.as_str())
            })
        })
        .ok_or_else(|| format!("`{asked}` is not a list or an object of a model."))?;
    let list = model.graphql.as_ref().and_then(|g| g.list.clone()).ok_or("no list")?;
    let mut dropped = Vec::new();
    if asked != list {
        // A single object's arguments (its id) name one object: the filter names the fleet.
        for (_, value) in node.arguments.drain(..) {
            variables(&value.node, &mut dropped);
        }
        node.name = Positioned::new(Name::new(&list), node.name.pos);
    }
    for (key, value) in filter {
        let value = Value::from_json(value.clone())
            .map_err(|e| format!("The filter `{key}` is not a GraphQL value: {e}"))?;
        node.arguments.retain(|(name, _)| name.node.as_str() != key);
        node.arguments.push((Positioned::new(Name::new(key), pos), Positioned::new(value, pos)));
    }
    node.alias = Some(Positioned::new(Name::new(KEY), pos));
    let mut add = |alias: &str, name: &str| {
        let field = Field {
            alias: Some(Positioned::new(Name::new(alias), pos)),
            name: Positioned::new(Name::new(name), pos),
            arguments: Vec::new(),
            directives: Vec::new(),
            selection_set: Positioned::new(SelectionSet::default(), pos),
        };
        node.selection_set
            .node
            .items
            .push(Positioned::new(Selection::Field(Positioned::new(field, pos)), pos));
    };
    add(ID, "id");
    if model.field("name").is_some() {
        add(NAME, "name");
    }
    // Variables only the dropped arguments used go with them.
    let mut still = Vec::new();
    for (_, value) in &node.arguments {
        variables(&value.node, &mut still);
    }
    operation
        .variable_definitions
        .retain(|d| !dropped.contains(&d.node.name.node) || still.contains(&d.node.name.node));
    Ok(model.id)
}

fn variables(value: &Value, out: &mut Vec<Name>) {
    match value {
        Value::Variable(name) => out.push(name.clone()),
        Value::List(items) => items.iter().for_each(|v| variables(v, out)),
        Value::Object(map) => map.values().for_each(|v| variables(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rewrite(query: &str, filter: Json) -> Result<String, String> {
        let catalogue = Catalogue::core().expect("catalogue");
        let mut document = async_graphql::parser::parse_query(query).expect("parses");
        let filter = filter.as_object().cloned().unwrap_or_default();
        as_list(&catalogue, &mut document, None, &filter)?;
        let DocumentOperations::Single(op) = &document.operations else {
            return Err("many".into());
        };
        let Selection::Field(field) = &op.node.selection_set.node.items[0].node else {
            return Err("no field".into());
        };
        let args: Vec<String> =
            field.node.arguments.iter().map(|(n, v)| format!("{}: {}", n.node, v.node)).collect();
        let selected: Vec<String> = field
            .node
            .selection_set
            .node
            .items
            .iter()
            .filter_map(|s| match &s.node {
                Selection::Field(f) => Some(match &f.node.alias {
                    Some(a) => format!("{}: {}", a.node, f.node.name.node),
                    None => f.node.name.node.to_string(),
                }),
                _ => None,
            })
            .collect();
        let vars: Vec<String> =
            op.node.variable_definitions.iter().map(|d| d.node.name.node.to_string()).collect();
        Ok(format!(
            "{}: {}({}) {{ {} }} vars [{}]",
            field.node.alias.as_ref().map(|a| a.node.to_string()).unwrap_or_default(),
            field.node.name.node,
            args.join(", "),
            selected.join(" "),
            vars.join(", ")
        ))
    }

    #[test]
    fn golden_config_queries_become_the_fleet() {
        assert_eq!(
            rewrite("query ($device_id: ID!) { device(id: $device_id) { hostname: name config_context } }", json!({"location": ["ams01"]})),
            Ok("fleet: devices(location: [\"ams01\"]) { hostname: name config_context _fleet_id: id _fleet_name: name } vars []".into())
        );
        assert_eq!(
            rewrite("query ($role: [String]) { devices(role: $role, status: \"Active\") { name } }", json!({"status": ["Planned"]})),
            Ok("fleet: devices(role: $role, status: [\"Planned\"]) { name _fleet_id: id _fleet_name: name } vars [role]".into())
        );
        assert_eq!(
            rewrite("{ virtual_machines { name } }", json!({})),
            Ok("fleet: virtual_machines() { name _fleet_id: id _fleet_name: name } vars []".into())
        );
    }

    #[test]
    fn other_documents_are_refused() {
        for (query, words) in [
            ("{ devices { name } locations { name } }", "one list or object"),
            ("{ ...F } fragment F on Query { devices { name } }", "one list or object"),
            ("mutation { device_delete(ref: {name: \"x\"}) { id } }", "not a mutation"),
            ("{ render_export_template(content_type: \"dcim.device\", name: \"x\") { content } }", "is not a list"),
        ] {
            let got = rewrite(query, json!({})).expect_err(query);
            assert!(got.contains(words), "{query}: {got}");
        }
    }
}
