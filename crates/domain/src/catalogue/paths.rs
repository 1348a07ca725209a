//! Filters and type fields resolved from the catalogue files: each one's kind, lookups and the
//! relation paths it walks (`location__parent`), checked against the models they name.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

/// A field naming the model of the first set reference of a related row (see
/// [`TypeField`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTypeField {
    pub(super) name: String,
    relation: String,
    #[serde(rename = "where", default)]
    conditions: BTreeMap<String, String>,
    types: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilter {
    path: Option<String>,
    /// Alternative paths: a row matches along any of them.
    #[serde(default)]
    paths: Vec<String>,
    kind: String,
    /// One value rather than a list.
    #[serde(default)]
    single: bool,
    /// Network filters: refuse values with host bits set.
    #[serde(default)]
    strict: bool,
    #[serde(rename = "type")]
    ty: Option<String>,
    #[serde(default)]
    lookups: Vec<String>,
}

/// A type field: the list relation, the related model's filters that pick the row, and the
/// references whose models it names.
pub(super) fn resolve_type_field(
    models: &[Model],
    id: ModelId,
    t: &RawTypeField,
) -> Result<TypeField, String> {
    let model = &models[id];
    if model.relation(&t.name).is_some() || model.field(&t.name).is_some() {
        return Err("clashes with a field or relation".into());
    }
    let (relation, rel) =
        model.relation(&t.relation).ok_or_else(|| format!("no relation {}", t.relation))?;
    if !rel.shape.is_list() || !rel.alternatives.is_empty() {
        return Err(format!("{} is not a list of one model", t.relation));
    }
    let target = &models[rel.target];
    let mut conditions = Vec::new();
    for (name, value) in &t.conditions {
        let filter =
            target.filter(name).ok_or_else(|| format!("{} has no filter {name}", target.label))?;
        conditions.push((filter.clone(), value.clone()));
    }
    let mut types = Vec::new();
    for name in &t.types {
        let (index, f) =
            target.field(name).ok_or_else(|| format!("{} has no field {name}", target.label))?;
        let FieldKind::ForeignKey { to, .. } = &f.kind else {
            return Err(format!("{name} is not a reference"));
        };
        types.push((index, models[*to].label.clone()));
    }
    Ok(TypeField { name: t.name.clone(), relation, conditions, types })
}

pub(super) fn resolve_filter(
    models: &[Model],
    id: ModelId,
    name: &str,
    f: &RawFilter,
) -> Result<Filter, String> {
    let mut kind = match f.kind.as_str() {
        "text" => FilterKind::Text,
        "number" => FilterKind::Number,
        "decimal" => FilterKind::Decimal,
        "datetime" => FilterKind::DateTime,
        "uuid" => FilterKind::Uuid,
        "boolean" => FilterKind::Boolean,
        "isnull" => FilterKind::IsNull,
        "related" => FilterKind::Related,
        "tree" => FilterKind::Tree,
        "has" => FilterKind::Has,
        "any_true" => FilterKind::AnyTrue,
        "has_empty" => FilterKind::HasEmpty,
        "json_contains" => FilterKind::JsonContains,
        "max_depth" => FilterKind::MaxDepth,
        "ancestors" => FilterKind::TreeWalk(TreeWalk { up: true, include_self: false }),
        "self_and_ancestors" => FilterKind::TreeWalk(TreeWalk { up: true, include_self: true }),
        "self_and_descendants" => FilterKind::TreeWalk(TreeWalk { up: false, include_self: true }),
        "content_type" => FilterKind::ContentType,
        "search" => FilterKind::Search,
        "prefix" => FilterKind::Prefix,
        "net_in" => FilterKind::Network(NetMatch::In),
        "net_equals" => FilterKind::Network(NetMatch::Equals),
        "net_within" => FilterKind::Network(NetMatch::Within),
        "net_within_include" => FilterKind::Network(NetMatch::WithinInclude),
        "net_contains" => FilterKind::Network(NetMatch::Contains),
        "net_host_within" => FilterKind::Network(NetMatch::HostWithin),
        "net_in_or_id" => FilterKind::Network(NetMatch::InOrId),
        other => return Err(format!("unknown kind {other}")),
    };
    let mut lookups = Vec::new();
    if f.lookups.is_empty() {
        lookups.push(Lookup::Exact);
    }
    for l in &f.lookups {
        lookups.push(Lookup::parse(l).ok_or_else(|| format!("unknown lookup {l}"))?);
    }
    let value_type = f.ty.clone().unwrap_or_else(|| {
        match kind {
            FilterKind::Number => "Int",
            FilterKind::Decimal => "Float",
            FilterKind::Boolean
            | FilterKind::IsNull
            | FilterKind::Has
            | FilterKind::AnyTrue
            | FilterKind::HasEmpty => "Boolean",
            _ => "String",
        }
        .to_owned()
    });
    if f.strict && !matches!(kind, FilterKind::Network(_)) {
        return Err("strict applies to network filters only".into());
    }
    let texts: Vec<String> = match (&f.path, f.paths.is_empty()) {
        (Some(_), false) => return Err("both path and paths".into()),
        (Some(path), true) => vec![path.clone()],
        (None, false) => f.paths.clone(),
        // Search and network filters compare the model itself unless a path says otherwise.
        (None, true) if matches!(kind, FilterKind::Search | FilterKind::Network(_)) => {
            vec![String::new()]
        }
        (None, true) => vec![name.to_owned()],
    };
    let mut paths = Vec::new();
    let mut end: Option<(ModelId, Option<usize>)> = None;
    for text in &texts {
        let (hops, landing, field) = walk_path(models, id, text, &mut kind)?;
        if end.is_some_and(|e| e != (landing, field)) {
            return Err(format!("path {text} ends elsewhere than the filter's other paths"));
        }
        end = Some((landing, field));
        paths.push(hops);
    }
    let (landing, field) = end.unwrap_or((id, None));
    if matches!(kind, FilterKind::TreeWalk(_)) && models[landing].tree_parent().is_none() {
        return Err(format!("{} has no reference to itself to walk", models[landing].label));
    }
    if kind == FilterKind::MaxDepth && (paths.len() != 1 || paths[0].len() != 1) {
        return Err("max_depth needs one path of one relation (the parent)".into());
    }
    if kind == FilterKind::HasEmpty && paths.iter().any(|p| p.len() < 2) {
        return Err("has_empty needs a path of two relations or more".into());
    }
    Ok(Filter {
        name: name.to_owned(),
        paths,
        landing,
        field,
        kind,
        value_type,
        single: f.single,
        strict: f.strict,
        lookups,
    })
}

/// Walks a filter path (`location__parent`) from model `id`: the relations, the model it lands
/// on, and the field it ends on. A path ending on a many-to-many field makes a value filter a
/// related one.
fn walk_path(
    models: &[Model],
    id: ModelId,
    path: &str,
    kind: &mut FilterKind,
) -> Result<(Vec<usize>, ModelId, Option<usize>), String> {
    let mut current = id;
    let mut hops = Vec::new();
    let mut field = None;
    if path.is_empty() {
        return Ok((hops, current, field));
    }
    let segments: Vec<&str> = path.split("__").collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let model = &models[current];
        let seg = if model.relation(seg).is_none() && model.field(seg).is_none() {
            seg.strip_suffix("_id").unwrap_or(seg)
        } else {
            seg
        };
        let wants_relation = matches!(
            *kind,
            FilterKind::Related
                | FilterKind::Tree
                | FilterKind::Has
                | FilterKind::HasEmpty
                | FilterKind::MaxDepth
                | FilterKind::TreeWalk(_)
                | FilterKind::Prefix
                | FilterKind::Network(_)
                | FilterKind::Search
        );
        if let Some((ridx, rel)) = model.relation(seg) {
            // A value filter on a many-to-many field (`interfaces(ip_addresses: "10.0.0.1/24")`)
            // names the related objects: it is a related filter.
            let columnless = model.field(seg).is_some_and(|(_, f)| f.column.is_none());
            if !last || wants_relation || columnless {
                if last && columnless && !wants_relation {
                    *kind = FilterKind::Related;
                }
                hops.push(ridx);
                current = rel.target;
                continue;
            }
        }
        match model.field(seg) {
            Some((fidx, _)) if last => field = Some(fidx),
            _ => return Err(format!("path {path}: cannot resolve {seg} on {}", model.label)),
        }
    }
    Ok((hops, current, field))
}
