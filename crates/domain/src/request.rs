//! The request tree: a validated read as typed data, between the schema and SQL.
//!
//! The gateway lowers a GraphQL selection into a [`Select`] (one lookup per field in the
//! schema's annotations, no name chain); persistence plans and executes it; the gateway renders
//! the rows it returns. Limits and cost are computed on this tree before any SQL runs, and it is
//! where a row filter per model (permissions) belongs. It knows no GraphQL and no SQL.

use crate::catalogue::{CustomFieldKind, Filter, Lookup, Model, ModelId};
use crate::rack::Face;
use crate::usage::Usage;
use crate::Catalogue;

/// One object or list of one model: its filters, its page and what is selected of each row.
#[derive(Debug, Clone)]
pub struct Select {
    pub model: ModelId,
    pub filters: Vec<FilterArg>,
    pub page: Page,
    pub fields: Vec<Selected>,
    /// Where the field that asks for this level is in the document (line, column from 1), for
    /// errors of the level; (0, 0) when none does.
    pub at: (usize, usize),
}

impl Select {
    pub fn new(model: ModelId) -> Select {
        Select { model, filters: Vec::new(), page: Page::default(), fields: Vec::new(), at: (0, 0) }
    }

    /// The tree as indented text, one line per level and field: for logs, tests and review.
    pub fn outline(&self, catalogue: &Catalogue) -> String {
        let mut out = String::new();
        self.outline_into(catalogue, 0, &mut out);
        out
    }

    fn outline_into(&self, catalogue: &Catalogue, indent: usize, out: &mut String) {
        use std::fmt::Write;
        let model = catalogue.model(self.model);
        let pad = "  ".repeat(indent);
        let _ = write!(out, "{pad}{}", model.label);
        for f in &self.filters {
            let values: Vec<String> = f.values.iter().map(ArgValue::text).collect();
            let _ = write!(out, " {}={:?}", f.argument, values);
        }
        if let Some(limit) = self.page.limit {
            let _ = write!(out, " limit={limit}");
        }
        if let Some(offset) = self.page.offset {
            let _ = write!(out, " offset={offset}");
        }
        if let Some(keyset) = &self.page.keyset {
            let _ = write!(out, " first={}", keyset.first);
            if let Some(after) = &keyset.after {
                let _ = write!(out, " after={after:?}");
            }
        }
        out.push('\n');
        for field in &self.fields {
            let _ = write!(out, "{pad}  {}: ", field.key);
            match &field.kind {
                SelectedKind::Typename(name) => {
                    let _ = writeln!(out, "typename {name}");
                }
                SelectedKind::Column(i) => {
                    let _ = writeln!(out, "column {}", model.fields[*i].name);
                }
                SelectedKind::Computed(i) => {
                    let _ = writeln!(out, "computed {}", model.computed[*i].name);
                }
                SelectedKind::CustomFieldData => out.push_str("custom field data\n"),
                SelectedKind::CustomField(key) => {
                    let _ = writeln!(out, "custom field {key}");
                }
                SelectedKind::Relation { relation, child } => {
                    let _ = writeln!(out, "relation {}", model.relations[*relation].name);
                    child.outline_into(catalogue, indent + 2, out);
                }
                SelectedKind::Union { relation, members } => {
                    let _ = writeln!(out, "union {}", model.relations[*relation].name);
                    for member in members {
                        member.outline_into(catalogue, indent + 2, out);
                    }
                }
                SelectedKind::Usage { usage, limit, select } => {
                    let _ = writeln!(out, "usage {usage:?} limit={limit} {select:?}");
                }
                SelectedKind::Elevation { face, select } => {
                    let _ = writeln!(out, "elevation {} {select:?}", face.as_str());
                }
                SelectedKind::ConfigContext => {
                    let _ = writeln!(out, "config context");
                }
                SelectedKind::TypeOf { relation, child, labels } => {
                    let _ = writeln!(out, "type of {} {labels:?}", model.relations[*relation].name);
                    child.outline_into(catalogue, indent + 2, out);
                }
                SelectedKind::Url { prefix } => {
                    let _ = writeln!(out, "url {prefix}<id>/");
                }
                SelectedKind::Association { relation, child } => {
                    let _ = writeln!(out, "association {}", relation.name);
                    child.outline_into(catalogue, indent + 2, out);
                }
                SelectedKind::Rendered(template) => {
                    let _ = writeln!(out, "rendered");
                    template.needs().outline_into(catalogue, indent + 2, out);
                }
                SelectedKind::Issued(keys) => {
                    let _ = writeln!(out, "issued ({} keys)", keys.len());
                }
                SelectedKind::ContentType { field, select } => {
                    let _ = writeln!(out, "content type {} {select:?}", model.fields[*field].name);
                }
            }
        }
    }

    /// The selections under this one, depth first (relations and union members).
    pub fn children(&self) -> impl Iterator<Item = &Select> {
        self.fields.iter().flat_map(|f| match &f.kind {
            SelectedKind::Relation { child, .. } | SelectedKind::TypeOf { child, .. } => {
                std::slice::from_ref(&**child)
            }
            SelectedKind::Union { members, .. } => members.as_slice(),
            _ => &[],
        })
    }
}

/// Which rows of a list: Nautobot's `limit`/`offset`, or a keyset page (`first` rows after a
/// cursor, in the model's page ordering).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// A cursor page: rows in the page ordering, strictly after `after` when given.
    pub keyset: Option<Keyset>,
}

/// A cursor page: `first` rows after the position `after` names.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset {
    pub first: u64,
    pub after: Option<Vec<CursorValue>>,
}

/// One value of a cursor: the page-ordering values of the row it names, in order (the id last).
/// UUIDs, dates and times are their text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
}

/// One selected field of an object, under its response key.
#[derive(Debug, Clone)]
pub struct Selected {
    pub key: String,
    pub kind: SelectedKind,
}

/// What a selected field is, as the schema annotated it.
#[derive(Debug, Clone)]
pub enum SelectedKind {
    /// `__typename`: the object type's name.
    Typename(String),
    /// A stored field of the model (`fields[index]`).
    Column(usize),
    /// A value computed from stored fields (`computed[index]`: `address`, `prefix`).
    Computed(usize),
    /// All custom field values, as stored.
    CustomFieldData,
    /// One custom field's value (`cf_<key>`).
    CustomField(String),
    /// A relation to one model (`relations[index]`), with what is selected of its rows.
    Relation { relation: usize, child: Box<Select> },
    /// A relation whose end is one of several models: one selection per member, in the order of
    /// the relation's alternatives; the first member with a row answers.
    Union { relation: usize, members: Vec<Select> },
    /// A prefix's usage: utilisation or free space, the first `limit` when a list.
    Usage { usage: Usage, limit: usize, select: Vec<(String, String)> },
    /// A rack face unit by unit; `select` is (response key, unit field).
    Elevation { face: Face, select: Vec<(String, String)> },
    /// The object's config context: the contexts that match it, merged, then its local data
    /// (`crate::config_context`).
    ConfigContext,
    /// A content type field (`fields[field]`: one label, or a list of them) as Nautobot's
    /// `ContentTypeType` objects; `select` is (response key, object field).
    ContentType { field: usize, select: Vec<(String, String)> },
    /// The object's REST URL: `prefix` (the configured base and the model's API path), then
    /// its id and a slash.
    Url { prefix: String },
    /// A secret the request issued, by object id (a new token's key, in the answer of the
    /// write that made it); null for any other object.
    Issued(std::sync::Arc<std::collections::HashMap<uuid::Uuid, String>>),
    /// The model of the first set reference in the first row `child` reads along `relation`
    /// (`child` selects the references, in the order of `labels`, each model's label).
    TypeOf { relation: usize, child: Box<Select>, labels: Vec<String> },
    /// The objects a user-defined relationship associates with this one (`rel_<key>`): a
    /// relation the catalogue does not hold, made from the relationship when the schema is
    /// (`Catalogue::association_relation`), with what is selected of its rows.
    Association { relation: std::sync::Arc<crate::catalogue::Relation>, child: Box<Select> },
    /// Text a template renders over the object (a computed field, `cpf_<key>`): the planner
    /// reads what the template's tree selects with the level, and the template renders it.
    Rendered(std::sync::Arc<dyn ObjectTemplate>),
}

/// A template rendered over each object of a level (`crate::computed_field::Template`).
pub trait ObjectTemplate: std::fmt::Debug + Send + Sync {
    /// What it reads of an object, as a request tree of the object's model: each selected
    /// field's key is the attribute the template sees it under.
    fn needs(&self) -> &Select;
    /// The text for one object, built from what [`ObjectTemplate::needs`] read.
    fn render(&self, obj: minijinja::Value) -> String;
}

/// One value of a filter argument, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl ArgValue {
    pub fn text(&self) -> String {
        match self {
            ArgValue::Str(s) => s.clone(),
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Float(f) => f.to_string(),
            ArgValue::Bool(b) => b.to_string(),
        }
    }
}

/// What a filter argument filters on.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgTarget {
    Filter(Filter),
    /// `cf_<key>`: a value inside `_custom_field_data`.
    CustomField {
        key: String,
        kind: CustomFieldKind,
    },
    /// `cr_<key>__<side>`: objects associated by a relationship with any of the given ids (its
    /// association relation, `SelectedKind::Association`).
    Association(std::sync::Arc<crate::catalogue::Relation>),
}

/// One filter argument of a list field: `name__ic: ["core"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterArg {
    /// The argument name as the client wrote it, for error messages.
    pub argument: String,
    pub target: ArgTarget,
    pub lookup: Lookup,
    pub values: Vec<ArgValue>,
}

/// The most values a request's filter arguments (or a stored filter, a dynamic group's) may
/// carry in all. A statement carries its own filters and those of the levels above it, and
/// SQLite binds at most 32,766 values.
pub const MAX_FILTER_VALUES: usize = 20_000;

/// The longest text a filter value may have, in characters. SQLite refuses `LIKE` patterns over
/// 50,000 bytes, and a value four bytes a character, escaped, stays under that.
pub const MAX_FILTER_TEXT: usize = 4_096;

/// A stored filter (a dynamic group's `filter`: `{"location": ["ams01"], "name__ic": "edge"}`)
/// as filter arguments of `model`'s list: each key an argument of the model's filters, each
/// value a scalar or a list of scalars. Refused keys and values come back as
/// (argument, message), every one of them.
pub fn stored_filter_args(
    model: &Model,
    filter: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<FilterArg>, Vec<(String, String)>> {
    let mut args = Vec::with_capacity(filter.len());
    let mut refused = Vec::new();
    let mut total = 0usize;
    for (key, value) in filter {
        let Some((target, lookup)) = model.filter_named(key) else {
            refused.push((
                key.clone(),
                format!("{key} is not a filter of {}.", model.verbose_name_plural),
            ));
            continue;
        };
        let items: Vec<&serde_json::Value> = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let value = match item {
                serde_json::Value::String(s) if s.chars().count() > MAX_FILTER_TEXT => {
                    refused.push((
                        key.clone(),
                        format!("Ensure this value has at most {MAX_FILTER_TEXT} characters."),
                    ));
                    break;
                }
                serde_json::Value::String(s) => ArgValue::Str(s.clone()),
                serde_json::Value::Bool(b) => ArgValue::Bool(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => ArgValue::Int(i),
                    None => ArgValue::Float(n.as_f64().unwrap_or_default()),
                },
                _ => {
                    refused.push((key.clone(), "Enter a value or a list of values.".into()));
                    break;
                }
            };
            values.push(value);
        }
        if target.single && values.len() > 1 {
            refused.push((key.clone(), "Enter a single value.".into()));
            continue;
        }
        total += values.len();
        args.push(FilterArg {
            argument: key.clone(),
            target: ArgTarget::Filter(target.clone()),
            lookup,
            values,
        });
    }
    if total > MAX_FILTER_VALUES {
        refused.push((
            String::new(),
            format!("Ensure the filter has at most {MAX_FILTER_VALUES} values in all."),
        ));
    }
    match refused.is_empty() {
        true => Ok(args),
        false => Err(refused),
    }
}
