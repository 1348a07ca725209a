//! Lowering: a validated GraphQL selection becomes a request tree ([`Select`]).
//!
//! Each selected field is looked up once in the schema's annotations ([`Annotation`]); nothing
//! is guessed from its name. Fragments are expanded, `@skip`/`@include` applied, fields that
//! share a response key merged, variables (with their defaults) substituted, and every filter
//! argument counted against the request's budget before any SQL is built.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value, Variables};
use ferrobot_domain::catalogue::{Lookup, Model, ModelId};
use ferrobot_domain::rack::Face;
use ferrobot_domain::request::{
    ArgTarget, ArgValue, FilterArg, Keyset, Select, Selected, SelectedKind,
};
use ferrobot_persistence::query::{MAX_FILTER_TEXT, MAX_FILTER_VALUES};
use ferrobot_persistence::StoreError;
use uuid::Uuid;

use crate::limits::{Limits, Refusal};
use crate::schema::{
    custom_field_lookups, Annotation, PageField, Served, DEFAULT_PAGE, MAX_PAGE, PAGE_FIELDS,
};

/// Which kind of field a tree is lowered for: its arguments differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    List,
    Single,
    Page,
}

/// The most available addresses or prefixes one `available_ips(limit:)` lists.
pub(crate) const MAX_AVAILABLE: i64 = 1_000;

/// A field of the document, with its position.
pub(crate) type FieldRef = Positioned<Field>;

/// The fields selected under one response key: one, or several that validation found to be the
/// same field (their sub-selections are merged).
pub(crate) struct Collected<'d> {
    pub(crate) key: String,
    pub(crate) fields: Vec<&'d FieldRef>,
}

impl<'d> Collected<'d> {
    /// The first of the merged fields: its name, arguments and position stand for all.
    pub(crate) fn field(&self) -> &'d FieldRef {
        self.fields[0]
    }

    pub(crate) fn name(&self) -> &'d str {
        self.fields[0].node.name.node.as_str()
    }

    /// The merged sub-selections.
    fn selections(&self) -> impl Iterator<Item = &'d SelectionSet> + '_ {
        self.fields.iter().map(|f| &f.node.selection_set.node)
    }
}

/// Turns one operation of a document into request trees.
pub(crate) struct Lowerer<'a> {
    pub(crate) served: &'a Served,
    pub(crate) document: &'a ExecutableDocument,
    pub(crate) variables: &'a Variables,
    pub(crate) limits: Limits,
    /// What objects' `url`s begin with (`Config::base_url`).
    base_url: &'a str,
    /// Filter values the document has carried so far (see [`MAX_FILTER_VALUES`]).
    filter_values: AtomicUsize,
    /// Aliased fields met so far, fragments expanded.
    aliases: AtomicUsize,
    /// The deepest level met past the depth limit (0 when none was).
    too_deep: AtomicUsize,
}

impl<'a> Lowerer<'a> {
    pub(crate) fn new(
        served: &'a Served,
        document: &'a ExecutableDocument,
        variables: &'a Variables,
        limits: Limits,
    ) -> Lowerer<'a> {
        Lowerer {
            served,
            document,
            variables,
            limits,
            base_url: "",
            filter_values: AtomicUsize::new(0),
            aliases: AtomicUsize::new(0),
            too_deep: AtomicUsize::new(0),
        }
    }

    /// Objects' `url`s begin with `base` (a path prefix or a scheme and host).
    pub(crate) fn with_base_url(mut self, base: &'a str) -> Lowerer<'a> {
        self.base_url = base;
        self
    }

    /// The depth or alias limit the document went past, if any (cost is the caller's: it needs
    /// the whole trees).
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        let deepest = self.too_deep.load(Ordering::Relaxed);
        if deepest > 0 {
            return Some(crate::limits::too_deep(deepest, self.limits.depth));
        }
        let aliases = self.aliases.load(Ordering::Relaxed);
        if aliases > self.limits.aliases {
            return Some(crate::limits::too_many_aliases(aliases, self.limits.aliases));
        }
        None
    }

    /// The fields of a selection set for an object of `type_name`, fragments expanded, merged by
    /// response key in first-seen order.
    pub(crate) fn collect(&self, set: &'a SelectionSet, type_name: &str) -> Vec<Collected<'a>> {
        let mut out = Vec::new();
        self.collect_into(set, type_name, &mut out, 0);
        out
    }

    /// The fields under a collected field (its merged sub-selections), for `type_name`.
    pub(crate) fn collect_merged(
        &self,
        collected: &Collected<'a>,
        type_name: &str,
    ) -> Vec<Collected<'a>> {
        self.collect_all(collected.selections(), type_name)
    }

    /// [`Lowerer::collect`] over several selection sets (merged fields).
    fn collect_all(
        &self,
        sets: impl Iterator<Item = &'a SelectionSet>,
        type_name: &str,
    ) -> Vec<Collected<'a>> {
        let mut out = Vec::new();
        for set in sets {
            self.collect_into(set, type_name, &mut out, 0);
        }
        out
    }

    fn collect_into(
        &self,
        set: &'a SelectionSet,
        type_name: &str,
        out: &mut Vec<Collected<'a>>,
        depth: usize,
    ) {
        // Fragment cycles are refused at validation; this bounds spreads of spreads anyway.
        if depth > 64 {
            return;
        }
        for item in &set.items {
            let directives = match &item.node {
                Selection::Field(f) => &f.node.directives,
                Selection::FragmentSpread(f) => &f.node.directives,
                Selection::InlineFragment(f) => &f.node.directives,
            };
            if self.skipped(directives) {
                continue;
            }
            match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        self.aliases.fetch_add(1, Ordering::Relaxed);
                    }
                    let key = field.node.response_key().node.as_str();
                    match out.iter_mut().find(|c| c.key == key) {
                        Some(existing) => existing.fields.push(field),
                        None => out.push(Collected { key: key.to_owned(), fields: vec![field] }),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self.document.fragments.get(&spread.node.fragment_name.node);
                    if let Some(fragment) = fragment {
                        if fragment.node.type_condition.node.on.node == type_name {
                            let set = &fragment.node.selection_set.node;
                            self.collect_into(set, type_name, out, depth + 1);
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    let applies = inline
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| c.node.on.node == type_name);
                    if applies {
                        let set = &inline.node.selection_set.node;
                        self.collect_into(set, type_name, out, depth + 1);
                    }
                }
            }
        }
    }

    fn skipped(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> bool {
        directives.iter().any(|d| {
            let flag = d
                .node
                .get_argument("if")
                .and_then(|v| self.constant(&v.node))
                .map(|v| v == Value::Boolean(true));
            match d.node.name.node.as_str() {
                "skip" => flag == Some(true),
                "include" => flag == Some(false),
                _ => false,
            }
        })
    }

    /// A value of the document with its variables substituted.
    pub(crate) fn constant(&self, value: &async_graphql_value::Value) -> Option<Value> {
        value
            .clone()
            .into_const_with(|name: Name| self.variables.get(&name).cloned().ok_or(()))
            .ok()
    }

    /// An argument of a field, variables substituted; `None` when absent or null.
    pub(crate) fn argument(&self, field: &FieldRef, name: &str) -> Option<Value> {
        let value = self.constant(&field.node.get_argument(name)?.node)?;
        (value != Value::Null).then_some(value)
    }

    /// The request tree of a field that reads `model`: a root list or single (`depth` 1), or a
    /// relation. Past the depth limit nothing more is lowered (see [`Lowerer::refusal`]).
    pub(crate) fn select(
        &self,
        model_id: ModelId,
        collected: &Collected<'a>,
        single: bool,
        depth: usize,
    ) -> Result<Select, StoreError> {
        let mode = if single { Mode::Single } else { Mode::List };
        self.select_from(model_id, collected.field(), collected, mode, depth)
    }

    /// A cursor page (`<list>_page`): the tree of its `items`, filtered and paged by the page
    /// field's arguments, and what else the page field selects.
    pub(crate) fn page(
        &self,
        model_id: ModelId,
        collected: &Collected<'a>,
    ) -> Result<(Select, Vec<(String, PageField)>), StoreError> {
        let page_type = self.served.page_types.get(&model_id).map_or("", String::as_str);
        let mut fields = Vec::new();
        let mut items: Option<Collected<'a>> = None;
        for sub in self.collect_all(collected.selections(), page_type) {
            let field = match sub.name() {
                "__typename" => PageField::Typename(page_type.to_owned()),
                name => match PAGE_FIELDS.iter().find(|(n, ..)| *n == name) {
                    Some((_, field, ..)) => field.clone(),
                    None => {
                        return Err(StoreError::Internal(format!(
                            "{page_type}.{name} is not known"
                        )))
                    }
                },
            };
            if matches!(field, PageField::Items) {
                // Every `items` under one key is one list; under several keys, the same list.
                match &mut items {
                    Some(existing) => existing.fields.extend(sub.fields.iter().copied()),
                    None => {
                        items = Some(Collected { key: sub.key.clone(), fields: sub.fields.clone() })
                    }
                }
            }
            fields.push((sub.key, field));
        }
        let empty = Collected { key: String::new(), fields: Vec::new() };
        let selections = items.as_ref().unwrap_or(&empty);
        let select = self.select_from(model_id, collected.field(), selections, Mode::Page, 1)?;
        Ok((select, fields))
    }

    fn select_from(
        &self,
        model_id: ModelId,
        arguments: &FieldRef,
        collected: &Collected<'a>,
        mode: Mode,
        depth: usize,
    ) -> Result<Select, StoreError> {
        let catalogue = &self.served.catalogue;
        let model = catalogue.model(model_id);
        let type_name = model.graphql.as_ref().map(|g| g.type_name.as_str()).unwrap_or_default();
        let annotations = self.served.fields.get(&model_id);
        let mut select = Select::new(model_id);
        select.at = (arguments.pos.line, arguments.pos.column);
        if depth > self.limits.depth {
            self.too_deep.fetch_max(depth, Ordering::Relaxed);
            return Ok(select);
        }
        self.arguments(model, arguments, mode, &mut select)?;
        for sub in self.collect_all(collected.selections(), type_name) {
            let name = sub.name();
            let kind = if name == "__typename" {
                SelectedKind::Typename(type_name.to_owned())
            } else {
                let Some(annotation) = annotations.and_then(|a| a.get(name)) else {
                    // The schema has the field (validation passed) but did not say what it is.
                    return Err(StoreError::Internal(format!(
                        "{type_name}.{name} has no annotation in the schema"
                    )));
                };
                self.selected(model, annotation, &sub, depth)?
            };
            select.fields.push(Selected { key: sub.key, kind });
        }
        Ok(select)
    }

    fn selected(
        &self,
        model: &Model,
        annotation: &Annotation,
        sub: &Collected<'a>,
        depth: usize,
    ) -> Result<SelectedKind, StoreError> {
        Ok(match annotation {
            Annotation::Column(index) => SelectedKind::Column(*index),
            Annotation::Computed(index) => SelectedKind::Computed(*index),
            Annotation::CustomFieldData => SelectedKind::CustomFieldData,
            Annotation::CustomField(key) => SelectedKind::CustomField(key.clone()),
            Annotation::Relation(index) => {
                let target = model.relations[*index].target;
                let child = self.select(target, sub, false, depth + 1)?;
                SelectedKind::Relation { relation: *index, child: Box::new(child) }
            }
            Annotation::Union(index) => {
                let rel = &model.relations[*index];
                let members = rel
                    .alternatives
                    .iter()
                    .map(|(target, _)| self.select(*target, sub, false, depth + 1))
                    .collect::<Result<_, _>>()?;
                SelectedKind::Union { relation: *index, members }
            }
            Annotation::Usage(usage) => {
                let limit = match self.argument(sub.field(), "limit") {
                    None => 10,
                    Some(value) => bounded_limit(&value)?,
                };
                let select = self.subfields(sub, "UtilizationType");
                SelectedKind::Usage { usage: *usage, limit, select }
            }
            Annotation::Elevation => {
                let face = match self.argument(sub.field(), "face") {
                    None => Face::Front,
                    Some(value) => face(value)?,
                };
                SelectedKind::Elevation { face, select: self.subfields(sub, "RackUnitType") }
            }
            Annotation::TypeOf(index) => {
                let t = &model.type_fields[*index];
                let target = model.relations[t.relation].target;
                let mut child = Select::new(target);
                for (filter, value) in &t.conditions {
                    child.filters.push(FilterArg {
                        argument: filter.name.clone(),
                        target: ArgTarget::Filter(filter.clone()),
                        lookup: Lookup::Exact,
                        values: vec![ArgValue::Str(value.clone())],
                    });
                }
                for (i, (field, _)) in t.types.iter().enumerate() {
                    child.fields.push(Selected {
                        key: format!("t{i}"),
                        kind: SelectedKind::Column(*field),
                    });
                }
                let labels = t.types.iter().map(|(_, label)| label.clone()).collect();
                SelectedKind::TypeOf { relation: t.relation, child: Box::new(child), labels }
            }
            Annotation::Url(path) => {
                SelectedKind::Url { prefix: format!("{}{path}", self.base_url) }
            }
            Annotation::Issued => SelectedKind::Issued(Default::default()),
            Annotation::ConfigContext => SelectedKind::ConfigContext,
            Annotation::Association(index) => {
                let Some(relation) = self.served.associations.get(*index) else {
                    return Err(StoreError::Internal(format!("no association {index}")));
                };
                let child = self.select(relation.target, sub, false, depth + 1)?;
                SelectedKind::Association { relation: relation.clone(), child: Box::new(child) }
            }
            Annotation::Rendered(index) => match self.served.templates.get(*index) {
                Some(template) => SelectedKind::Rendered(template.clone()),
                None => return Err(StoreError::Internal(format!("no template {index}"))),
            },
            Annotation::ContentType(index) => SelectedKind::ContentType {
                field: *index,
                select: self.subfields(sub, "ContentTypeType"),
            },
        })
    }

    /// The selected fields of a computed object: (response key, field name).
    pub(crate) fn subfields(&self, sub: &Collected<'a>, type_name: &str) -> Vec<(String, String)> {
        self.collect_all(sub.selections(), type_name)
            .into_iter()
            .map(|c| (c.key.clone(), c.name().to_owned()))
            .collect()
    }

    fn arguments(
        &self,
        model: &Model,
        field: &FieldRef,
        mode: Mode,
        select: &mut Select,
    ) -> Result<(), StoreError> {
        let single = mode == Mode::Single;
        match mode {
            Mode::Single => select.page.limit = Some(1),
            Mode::Page => select.page.keyset = Some(Keyset { first: DEFAULT_PAGE, after: None }),
            Mode::List => {}
        }
        for (name, value) in &field.node.arguments {
            let name = name.node.as_str();
            // What the argument is for comes first: an argument that is none of these (a
            // mutation's input, which can hold 100,000 objects) is never copied.
            let filter = self.filter_target(model, name);
            let paging = match mode {
                Mode::List => matches!(name, "limit" | "offset"),
                Mode::Single => name == "id",
                Mode::Page => matches!(name, "first" | "after"),
            };
            if filter.is_none() && !paging {
                continue;
            }
            let Some(value) = self.constant(&value.node) else { continue };
            if value == Value::Null {
                continue;
            }
            let invalid =
                |message: String| StoreError::Invalid { argument: name.to_owned(), message };
            match (name, &mut select.page.keyset) {
                ("first", Some(keyset)) => {
                    let n = match &value {
                        Value::Number(n) => n.as_i64().unwrap_or(i64::MAX),
                        _ => 0,
                    };
                    if n < 1 || n > MAX_PAGE as i64 {
                        return Err(invalid(format!(
                            "Ensure this value is between 1 and {MAX_PAGE}."
                        )));
                    }
                    keyset.first = n as u64;
                    continue;
                }
                ("after", Some(keyset)) => {
                    let Value::String(text) = &value else { continue };
                    let Some(values) = crate::cursor::decode(&model.label, text) else {
                        return Err(invalid("Invalid cursor.".into()));
                    };
                    keyset.after = Some(values);
                    continue;
                }
                _ => {}
            }
            match name {
                "limit" | "offset" if mode == Mode::List => {
                    let n = match &value {
                        Value::Number(n) => n.as_i64().unwrap_or(0),
                        _ => 0,
                    };
                    if n < 0 {
                        return Err(invalid(
                            "Ensure this value is greater than or equal to 0.".into(),
                        ));
                    }
                    if name == "limit" {
                        select.page.limit = Some(n as u64)
                    } else {
                        select.page.offset = Some(n as u64)
                    }
                    continue;
                }
                "id" if single => {
                    let text = match &value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    };
                    match (Uuid::parse_str(text.trim()), model.id_filter()) {
                        (Ok(_), Some(filter)) => select.filters.push(FilterArg {
                            argument: "id".into(),
                            target: ArgTarget::Filter(filter.clone()),
                            lookup: Lookup::Exact,
                            values: vec![ArgValue::Str(text)],
                        }),
                        _ => return Err(invalid(format!("'{text}' is not a valid UUID."))),
                    }
                    continue;
                }
                _ => {}
            }
            let Some((target, lookup)) = filter else { continue };
            let values = arg_values(&value);
            self.admit(name, &values)?;
            select.filters.push(FilterArg { argument: name.to_owned(), target, lookup, values });
        }
        Ok(())
    }

    /// The filter (or custom field) and lookup an argument names: `name__ic` → filter `name`,
    /// lookup `ic`; a filter whose own name has `__` wins.
    fn filter_target(&self, model: &Model, name: &str) -> Option<(ArgTarget, Lookup)> {
        if let Some((filter, lookup)) = model.filter_named(name) {
            return Some((ArgTarget::Filter(filter.clone()), lookup));
        }
        let association = self.served.association_filters.get(&model.id).and_then(|f| f.get(name));
        if let Some(relation) = association.and_then(|i| self.served.associations.get(*i)) {
            return Some((ArgTarget::Association(relation.clone()), Lookup::Exact));
        }
        for lookup in Lookup::ALL {
            let base = if lookup == Lookup::Exact {
                Some(name)
            } else {
                name.strip_suffix(&format!("__{}", lookup.suffix()))
            };
            let Some(base) = base else { continue };
            if let Some(key) = base.strip_prefix("cf_") {
                if let Some(cf) = self.served.custom_fields_of(model).find(|cf| cf.key == key) {
                    if custom_field_lookups(cf.kind).contains(&lookup) {
                        return Some((
                            ArgTarget::CustomField { key: cf.key.clone(), kind: cf.kind },
                            lookup,
                        ));
                    }
                }
            }
        }
        None
    }

    /// Counts a filter argument's values against the document's budget and checks each one's
    /// length: past either limit the argument is refused, before any SQL is built.
    fn admit(&self, argument: &str, values: &[ArgValue]) -> Result<(), StoreError> {
        let invalid =
            |message: String| StoreError::Invalid { argument: argument.to_owned(), message };
        let total = self
            .filter_values
            .fetch_add(values.len(), Ordering::Relaxed)
            .saturating_add(values.len());
        if total > MAX_FILTER_VALUES {
            return Err(invalid(format!(
                "Ensure the filters of one request have at most {MAX_FILTER_VALUES} values in all (this one has at least {total})."
            )));
        }
        for value in values {
            if let ArgValue::Str(text) = value {
                if text.contains('\0') {
                    return Err(invalid(ferrobot_domain::validate::NULL_CHARACTERS.into()));
                }
                let chars = text.chars().count();
                if chars > MAX_FILTER_TEXT {
                    return Err(invalid(format!(
                        "Ensure this value has at most {MAX_FILTER_TEXT} characters (it has {chars})."
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `available_ips(limit:)`: 0 to [`MAX_AVAILABLE`].
fn bounded_limit(value: &Value) -> Result<usize, StoreError> {
    let n = match value {
        Value::Number(n) => n.as_i64().unwrap_or(i64::MAX),
        _ => -1,
    };
    let invalid = |message: String| StoreError::Invalid { argument: "limit".into(), message };
    if n < 0 {
        return Err(invalid("Ensure this value is greater than or equal to 0.".into()));
    }
    if n > MAX_AVAILABLE {
        return Err(invalid(format!(
            "Ensure this value is less than or equal to {MAX_AVAILABLE}."
        )));
    }
    Ok(n as usize)
}

/// `elevation(face:)`: `front` or `rear`, in any case.
fn face(value: Value) -> Result<Face, StoreError> {
    let text = match value {
        Value::String(s) => s,
        Value::Enum(e) => e.to_string(),
        other => other.to_string(),
    };
    Face::from_stored(&text.to_lowercase()).ok_or_else(|| StoreError::Invalid {
        argument: "face".into(),
        message: format!("Select a valid choice. {text} is not one of the available choices."),
    })
}

fn arg_values(value: &Value) -> Vec<ArgValue> {
    match value {
        Value::List(items) => items.iter().flat_map(arg_values).collect(),
        Value::String(s) => vec![ArgValue::Str(s.clone())],
        Value::Enum(s) => vec![ArgValue::Str(s.to_string())],
        Value::Boolean(b) => vec![ArgValue::Bool(*b)],
        Value::Number(n) => match n.as_i64() {
            Some(i) => vec![ArgValue::Int(i)],
            None => vec![ArgValue::Float(n.as_f64().unwrap_or_default())],
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use async_graphql::parser::types::DocumentOperations;
    use ferrobot_domain::request::Select;

    use super::*;
    use crate::limits::Limits;
    use crate::schema::Root;

    pub(crate) fn served() -> Served {
        let catalogue = Arc::new(ferrobot_domain::Catalogue::core().expect("catalogue"));
        crate::build_schema(catalogue, Default::default()).expect("schema")
    }

    /// A root field lowered: its tree and whether it is a single.
    pub(crate) type Lowered = Result<(Select, bool), StoreError>;

    /// Lowers the root fields of a query document: (tree, single) per root, and the refusal.
    pub(crate) fn lower(
        served: &Served,
        query: &str,
        variables: serde_json::Value,
        limits: Limits,
    ) -> (Vec<Lowered>, Option<Refusal>) {
        let document = async_graphql::parser::parse_query(query).expect("parse");
        let mut variables = Variables::from_json(variables);
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation")
        };
        crate::variables::apply_defaults(&operation.node, &mut variables);
        let lowerer = Lowerer::new(served, &document, &variables, limits);
        let roots = lowerer
            .collect(&operation.node.selection_set.node, "Query")
            .iter()
            .filter_map(|root| {
                let (model, single) = match served.roots.get(root.name())? {
                    Root::List(m) => (*m, false),
                    Root::Single(m) => (*m, true),
                    Root::Page(m) => return Some(lowerer.page(*m, root).map(|(s, _)| (s, false))),
                    Root::Export => return None,
                };
                Some(lowerer.select(model, root, single, 1).map(|s| (s, single)))
            })
            .collect();
        (roots, lowerer.refusal())
    }

    fn outlines(query: &str, variables: serde_json::Value) -> String {
        let served = served();
        let (roots, refusal) = lower(&served, query, variables, Limits::default());
        assert_eq!(refusal, None);
        roots
            .into_iter()
            .map(|r| match r {
                Ok((select, _)) => select.outline(&served.catalogue),
                Err(e) => format!("error: {e}\n"),
            })
            .collect()
    }

    #[test]
    fn a_nested_query_becomes_a_tree() {
        let tree = outlines(
            "query($n: [String] = [\"dev-1\"]) { devices(name: $n, limit: 5) { name d: status { name } interfaces(limit: 2) { ...i } } }
             fragment i on InterfaceType { name ip_addresses { address __typename } }",
            serde_json::Value::Null,
        );
        insta::assert_snapshot!(tree, @r#"
        dcim.device name=["dev-1"] limit=5
          name: column name
          d: relation status
            extras.status
              name: column name
          interfaces: relation interfaces
            dcim.interface limit=2
              name: column name
              ip_addresses: relation ip_addresses
                ipam.ipaddress
                  address: computed address
                  __typename: typename IPAddressType
        "#);
    }

    #[test]
    fn unions_usage_custom_fields_and_singles() {
        let id = "6f1c7c8e-0000-4000-8000-000000000001";
        let tree = outlines(
            &format!(
                "{{ interfaces {{ connected_endpoint {{ ... on InterfaceType {{ name }} ... on FrontPortType {{ label }} }} _custom_field_data }}
                   prefixes(prefix__n: [\"10.0.0.0/8\"]) {{ utilization {{ percent }} available_ips(limit: 3) }}
                   rack(id: \"{id}\") {{ elevation(face: \"rear\") {{ unit occupied }} }} }}"
            ),
            serde_json::Value::Null,
        );
        insta::assert_snapshot!(tree);
    }

    #[test]
    fn a_cursor_page_is_its_items_paged() {
        let tree = outlines(
            "{ object_changes_page(first: 50, sequence__gt: [7]) { total_count items { sequence action } } }",
            serde_json::Value::Null,
        );
        insta::assert_snapshot!(tree, @r#"
        extras.objectchange sequence__gt=["7"] first=50
          sequence: column sequence
          action: column action
        "#);
    }

    #[test]
    fn skipped_and_merged_fields() {
        let tree = outlines(
            "query($s: Boolean = true) { locations { name @skip(if: $s) name slug: name parent { name } parent { id } } }",
            serde_json::Value::Null,
        );
        insta::assert_snapshot!(tree, @r"
        dcim.location
          name: column name
          slug: column name
          parent: relation parent
            dcim.location
              name: column name
              id: column id
        ");
    }

    #[test]
    fn limits_are_checked_on_the_tree() {
        let served = served();
        let limits = Limits { depth: 3, aliases: 2, cost: u64::MAX };
        let (_, refusal) = lower(
            &served,
            "{ devices { location { parent { name } } } }",
            serde_json::Value::Null,
            limits,
        );
        assert_eq!(refusal, None);
        let (_, refusal) = lower(
            &served,
            "{ devices { location { parent { parent { name } } } } }",
            serde_json::Value::Null,
            limits,
        );
        assert_eq!(refusal.map(|r| (r.code, r.asked, r.limit)), Some(("QUERY_TOO_DEEP", 4, 3)));
        // Aliases are counted with fragments expanded: one fragment spread three times.
        let (_, refusal) = lower(
            &served,
            "{ a: devices { ...f } b: devices { ...f } } fragment f on DeviceType { n: name }",
            serde_json::Value::Null,
            limits,
        );
        assert_eq!(refusal.map(|r| (r.code, r.asked)), Some(("TOO_MANY_ALIASES", 4)));
    }

    /// The benchmark's dataset sizes (shared/bench/dataset.md) at `devices` devices.
    fn bench_sizes(devices: u64) -> impl Fn(&str) -> Option<u64> {
        move |table: &str| {
            Some(match table {
                "dcim_device" => devices,
                "dcim_interface" => devices * 48,
                "ipam_ipaddress" => devices,
                "ipam_ipaddresstointerface" => devices,
                "extras_taggeditem" => devices * 3,
                "extras_status" => 4,
                "dcim_location" => devices / 125 + 2,
                _ => 10,
            })
        }
    }

    #[test]
    fn default_limits_let_real_queries_through_and_stop_repeats() {
        let served = served();
        let cost = |query: &str, devices: u64| -> u64 {
            let (roots, _) = lower(&served, query, serde_json::Value::Null, Limits::default());
            let sizes = bench_sizes(devices);
            roots
                .into_iter()
                .map(|r| {
                    r.map(|(s, single)| crate::limits::cost(&sizes, &served.catalogue, &s, single))
                })
                .map(|c| c.expect("lowered"))
                .sum()
        };
        let d = "{ devices { name interfaces { name status { name } ip_addresses { address } tags { name } } } }";
        let inventory = "{ devices { id name serial status { name } role { name } platform { name network_driver } location { name parent { name } } tenant { name } tags { name } primary_ip4 { address } device_type { model manufacturer { name } } } }";
        let limit = Limits::default().cost;
        assert!(cost(d, 100_000) <= limit, "query d at 100,000 devices: {}", cost(d, 100_000));
        assert!(cost(inventory, 100_000) <= limit, "{}", cost(inventory, 100_000));
        // Query d a hundred times over, under aliases, at 10,000 devices: refused.
        let repeated: String = (0..100)
            .map(|i| format!("a{i}: devices {{ name interfaces {{ name status {{ name }} ip_addresses {{ address }} tags {{ name }} }} }} "))
            .collect();
        let repeated = format!("{{ {repeated} }}");
        assert!(cost(&repeated, 10_000) > limit, "{}", cost(&repeated, 10_000));
        // A page costs its page.
        assert!(cost("{ devices(limit: 100) { name interfaces { name } } }", 100_000) < 100_000);
    }

    /// Every annotation the schema needs is there: each field of each model's object type is either
    /// `__typename` or annotated. A field added to the schema without saying what it is fails here.
    #[test]
    fn every_field_of_every_model_type_is_annotated() {
        let served = served();
        let registry = served.schema.registry();
        let mut missing = Vec::new();
        for (type_name, model) in &served.types {
            let Some(ty) = registry.types.get(type_name) else { continue };
            let async_graphql::registry::MetaType::Object { fields, .. } = ty else { continue };
            let annotated = served.fields.get(model);
            for name in fields.keys().filter(|n| !n.starts_with("__")) {
                if annotated.is_none_or(|a| !a.contains_key(name.as_str())) {
                    missing.push(format!("{type_name}.{name}"));
                }
            }
        }
        assert!(missing.is_empty(), "fields without annotation: {missing:?}");
    }
}
