//! The OpenAPI document of `/api/docs/?format=openapi`, as much of Nautobot's (drf-spectacular,
//! OpenAPI 3) as its REST clients read before they start: `info.version`, and for each model's
//! list, `paths["/<app>/<list>/"]["get"]["parameters"][*]["name"]`, the filters it takes
//! (networktocode.nautobot's `inventory` plugin checks its `query_filters` against those of
//! `/dcim/devices/` and `/virtualization/virtual-machines/`).
//!
//! The parameters are the arguments of the model's GraphQL list field in the schema being served
//! (its filters, custom fields included, `limit` and `offset`), so the two never differ. The
//! path of a model is its REST route in the catalogue (`GraphqlNames::api_path`, the one objects'
//! `url`s name: `/virtualization/interfaces/` for VM interfaces), without the `/api` prefix the
//! document's server carries; models Nautobot has no route for are left out.
//! Ferrobot serves none of these REST lists (they answer 404); each operation says which GraphQL
//! field answers it.
//!
//! Spec: nautobot/core/settings.py (`SPECTACULAR_SETTINGS`), drf-spectacular's filter
//! parameters (`in: query`, arrays exploded in form style).

use async_graphql::registry::MetaTypeName;
use serde_json::{json, Map, Value};

use crate::schema::{Root, Served};

/// The document for the schema being served; `version` is what `info.version` says.
pub(crate) fn document(served: &Served, version: &str) -> Value {
    let registry = served.schema.registry();
    let query = registry.types.get(&registry.query_type).and_then(|t| t.fields());
    let mut lists: Vec<(String, &str, &ferrobot_domain::catalogue::Model)> = served
        .roots
        .iter()
        .filter_map(|(field, root)| match root {
            Root::List(id) => {
                let model = served.catalogue.model(*id);
                let api_path = model.graphql.as_ref()?.api_path.as_deref()?;
                Some((path(api_path), field.as_str(), model))
            }
            _ => None,
        })
        .collect();
    lists.sort_by(|a, b| a.0.cmp(&b.0));
    let mut paths = Map::new();
    for (path, field, model) in lists {
        let arguments = query.and_then(|fields| fields.get(field)).map(|f| &f.args);
        let parameters: Vec<Value> = arguments
            .into_iter()
            .flatten()
            .map(|(name, argument)| parameter(name, &argument.ty))
            .collect();
        let operation = json!({
            "operationId": format!("{}_list", path.trim_matches('/').replace(['/', '-'], "_")),
            "description": format!(
                "The {} with these filters. Ferrobot answers this list in GraphQL only: the `{field}` field of the query at /api/graphql/ takes the same filters as arguments.",
                model.verbose_name_plural
            ),
            "tags": [model.app_label],
            "parameters": parameters,
            "security": [{ "tokenAuth": [] }],
            "responses": {
                "404": { "description": format!("Ferrobot does not serve this REST list; query `{field}` at /api/graphql/.") }
            },
        });
        paths.insert(path, json!({ "get": operation }));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "API Documentation",
            "version": version,
            "description": "Source of truth and network automation platform (Ferrobot: the filters of each list, as its GraphQL list field takes them).",
            "license": { "name": "Apache v2 License" },
        },
        "servers": [{ "url": "/api" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "tokenAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Token-based authentication with required prefix \"Token\"",
                }
            }
        },
    })
}

/// A REST route as the document names it: under its server's `/api`.
fn path(api_path: &str) -> String {
    api_path.strip_prefix("/api").unwrap_or(api_path).to_owned()
}

/// A query parameter as drf-spectacular writes a filter: lists exploded in form style.
fn parameter(name: &str, ty: &str) -> Value {
    let (list, item) = match MetaTypeName::create(ty) {
        MetaTypeName::List(item) => (true, MetaTypeName::concrete_typename(item)),
        MetaTypeName::NonNull(item) | MetaTypeName::Named(item) => {
            (false, MetaTypeName::concrete_typename(item))
        }
    };
    let scalar = match item {
        "Boolean" => json!({ "type": "boolean" }),
        "Int" | "BigInt" => json!({ "type": "integer" }),
        "Float" | "Decimal" => json!({ "type": "number" }),
        "UUID" => json!({ "type": "string", "format": "uuid" }),
        "Date" => json!({ "type": "string", "format": "date" }),
        "DateTime" => json!({ "type": "string", "format": "date-time" }),
        _ => json!({ "type": "string" }),
    };
    if list {
        json!({
            "in": "query",
            "name": name,
            "schema": { "type": "array", "items": scalar },
            "explode": true,
            "style": "form",
        })
    } else {
        json!({ "in": "query", "name": name, "schema": scalar })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_as_drf_spectacular_writes_them() {
        assert_eq!(
            parameter("name__ic", "[String]"),
            json!({"in": "query", "name": "name__ic", "schema": {"type": "array", "items": {"type": "string"}}, "explode": true, "style": "form"})
        );
        assert_eq!(
            parameter("has_interfaces", "Boolean"),
            json!({"in": "query", "name": "has_interfaces", "schema": {"type": "boolean"}})
        );
        assert_eq!(parameter("id", "[UUID]")["schema"]["items"]["format"], "uuid");
        assert_eq!(
            path("/api/virtualization/virtual-machines/"),
            "/virtualization/virtual-machines/"
        );
    }
}
