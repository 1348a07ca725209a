//! The plan executor: answers validated query operations with batched SQL per level and JSON
//! written straight from the rows.
//!
//! async-graphql parses and validates every request. [`PlanExtension`] then takes over query
//! operations in its `execute` hook: the selection becomes a tree of [`Node`]s (one per nested
//! list or object), each node is read with one statement ([`Store::load_level`]), and
//! [`write_response`] streams the answer in 64 KiB chunks. No value tree is ever built, so
//! memory stays near the size of the rows, whatever the size of the answer.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Response, ServerResult, Value, Variables};
use bytes::Bytes;
use ferrobot_domain::catalogue::{
    FieldKind, IntSize, Lookup, Model, ModelId, Relation, RelationShape,
};
use ferrobot_domain::hooks;
use ferrobot_domain::value::{enum_item_name, ip_from_bytes};
use ferrobot_persistence::query::{
    ArgTarget, ArgValue, FilterArg, Keys, LevelSpec, Link, Rows, Scope, MAX_FILTER_TEXT,
    MAX_FILTER_VALUES,
};
use ferrobot_persistence::{Cell, ColType, Store, StoreError};
use uuid::Uuid;

use crate::schema::{custom_field_lookups, Served};

/// A parent level with at most this many distinct keys hands them to its children as a list;
/// a larger one hands over its own statement as a subquery.
const KEY_LIST_LIMIT: usize = 1000;

/// Per-request state shared between the HTTP handler and the extension.
pub struct RequestState {
    pub served: Arc<Served>,
    pub store: Store,
    /// Who sent the request, for the change log.
    pub actor: ferrobot_persistence::write::Actor,
    /// Whether writes add change-log rows (see [`crate::Config::change_log`]).
    pub change_log: bool,
    /// Whether the credential may write (a token's `write_enabled`).
    pub may_write: bool,
    pub(crate) document: Mutex<Option<(ExecutableDocument, Variables)>>,
    pub(crate) answer: Mutex<Option<Answer>>,
    /// Set once validation passed and execution began: errors after that are HTTP 200.
    pub(crate) executed: std::sync::atomic::AtomicBool,
    /// Set when the database was too busy to answer: the answer is HTTP 503, retryable.
    pub(crate) busy: std::sync::atomic::AtomicBool,
    /// The request's id: sent back as `X-Request-ID`, stored in the change log.
    pub request_id: Uuid,
    /// What the document asked for, once known (metrics and the request's log line).
    pub(crate) operation: Mutex<Option<crate::metrics::Operation>>,
}

impl RequestState {
    pub fn new(
        served: Arc<Served>,
        store: Store,
        actor: ferrobot_persistence::write::Actor,
    ) -> Self {
        Self {
            served,
            store,
            actor,
            change_log: true,
            may_write: true,
            document: Mutex::new(None),
            answer: Mutex::new(None),
            executed: std::sync::atomic::AtomicBool::new(false),
            busy: std::sync::atomic::AtomicBool::new(false),
            request_id: Uuid::new_v4(),
            operation: Mutex::new(None),
        }
    }

    pub fn executed(&self) -> bool {
        self.executed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn take_answer(&self) -> Option<Answer> {
        self.answer.lock().ok().and_then(|mut a| a.take())
    }
}

/// A query answered by the plan: loaded rows ready to be written, and field errors.
pub struct Answer {
    pub(crate) roots: Vec<RootAnswer>,
    pub(crate) errors: Vec<FieldError>,
    pub statements: u64,
}

pub(crate) struct RootAnswer {
    pub(crate) key: String,
    pub(crate) body: RootBody,
}

pub(crate) enum RootBody {
    Typename(&'static str),
    Null,
    List(Box<Node>, Level),
    Single(Box<Node>, Level),
    /// Objects a mutation wrote, read back in chunks of ids and written in the order given.
    Objects {
        node: Box<Node>,
        chunks: Vec<(Level, Vec<Uuid>)>,
        list: bool,
    },
    /// An answer built in memory (deleted objects, batch results).
    Json(serde_json::Value),
}

#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) message: String,
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) code: &'static str,
    pub(crate) argument: Option<String>,
    /// More `extensions` keys (the failing fields, the operation's index …).
    pub(crate) details: serde_json::Map<String, serde_json::Value>,
}

pub struct PlanExtension;

impl ExtensionFactory for PlanExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PlanExtensionImpl)
    }
}

struct PlanExtensionImpl;

#[async_graphql::async_trait::async_trait]
impl Extension for PlanExtensionImpl {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(state) = ctx.data_opt::<Arc<RequestState>>() {
            if let Ok(mut slot) = state.document.lock() {
                *slot = Some((document.clone(), variables.clone()));
            }
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(state) = ctx.data_opt::<Arc<RequestState>>().cloned() else {
            return next.run(ctx, operation_name).await;
        };
        let taken = state.document.lock().ok().and_then(|mut d| d.take());
        let Some((document, variables)) = taken else {
            state.executed.store(true, std::sync::atomic::Ordering::Relaxed);
            return next.run(ctx, operation_name).await;
        };
        // Variables that do not fit their definitions end the request as a document error
        // would (HTTP 400): `executed` stays false.
        if let Some(operation) = operation_definition(&document, operation_name) {
            let registry = state.served.schema.registry();
            if let Err(message) = crate::variables::check(registry, operation, &variables) {
                return Response::from_errors(vec![async_graphql::ServerError::new(message, None)]);
            }
        }
        state.executed.store(true, std::sync::atomic::Ordering::Relaxed);
        let Some((kind, selection)) = operation_selection(&document, operation_name) else {
            return next.run(ctx, operation_name).await;
        };
        if let Ok(mut slot) = state.operation.lock() {
            let kind = match kind {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            let mut root_fields: Vec<String> = selection
                .items
                .iter()
                .filter_map(|s| match &s.node {
                    Selection::Field(f) => Some(f.node.name.node.to_string()),
                    _ => None,
                })
                .collect();
            root_fields.sort_unstable();
            root_fields.dedup();
            *slot = Some(crate::metrics::Operation { kind, root_fields });
        }
        if kind == OperationType::Subscription {
            return next.run(ctx, operation_name).await;
        }
        let introspects = selection.items.iter().any(|s| {
            matches!(&s.node, Selection::Field(f) if f.node.name.node.starts_with("__") && f.node.name.node != "__typename")
        });
        if introspects {
            return next.run(ctx, operation_name).await;
        }
        let planner = Planner::new(&state.served, &document, &variables);
        let before = state.store.statements();
        let started = std::time::Instant::now();
        let answered = match kind {
            OperationType::Mutation => crate::mutate::mutate(&planner, &state, selection).await,
            _ => answer(&planner, &state.store, selection).await,
        };
        match answered {
            Ok(mut answer) => {
                answer.statements = state.store.statements().saturating_sub(before);
                tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "answer loaded");
                if let Ok(mut slot) = state.answer.lock() {
                    *slot = Some(answer);
                }
                Response::new(Value::Null)
            }
            Err(StoreError::Busy(message)) => {
                tracing::warn!(%message, "request refused: the database is busy");
                state.busy.store(true, std::sync::atomic::Ordering::Relaxed);
                let mut error = async_graphql::ServerError::new(message, None);
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", BUSY);
                extensions.set("retryable", true);
                error.extensions = Some(extensions);
                Response::from_errors(vec![error])
            }
            Err(error) => {
                tracing::error!(%error, "query failed");
                Response::from_errors(vec![async_graphql::ServerError::new("internal error", None)])
            }
        }
    }
}

fn operation_definition<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some(&op.node)
}

fn operation_selection<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, &'a SelectionSet)> {
    operation_definition(document, name).map(|op| (op.ty, &op.selection_set.node))
}

/// The most available addresses or prefixes one `available_ips(limit:)` lists.
const MAX_AVAILABLE: i64 = 1_000;

/// The `extensions.code` of a request the database was too busy to take (HTTP 503 with
/// `Retry-After`): nothing was written, and the same request may be sent again.
pub const BUSY: &str = "BUSY";

pub(crate) struct Planner<'a> {
    pub(crate) served: &'a Served,
    pub(crate) document: &'a ExecutableDocument,
    pub(crate) variables: &'a Variables,
    /// Filter values the document has carried so far (see [`MAX_FILTER_VALUES`]).
    filter_values: std::sync::atomic::AtomicUsize,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(
        served: &'a Served,
        document: &'a ExecutableDocument,
        variables: &'a Variables,
    ) -> Planner<'a> {
        Planner { served, document, variables, filter_values: Default::default() }
    }

    /// Counts a filter argument's values against the document's budget and checks each one's
    /// length: past either limit the argument is refused, before any SQL is built.
    fn admit(&self, argument: &str, values: &[ArgValue]) -> Result<(), StoreError> {
        let invalid =
            |message: String| StoreError::Invalid { argument: argument.to_owned(), message };
        let total = self
            .filter_values
            .fetch_add(values.len(), std::sync::atomic::Ordering::Relaxed)
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

/// One field of the answer, in response order. Each `key` is the field's JSON prefix, escaped
/// once at plan time (`"name":`), since the writer puts it before every row's value.
#[derive(Debug)]
enum Out {
    Column {
        key: String,
        col: usize,
        render: Render,
    },
    Computed {
        key: String,
        cols: [usize; 2],
    },
    Typename {
        key: String,
        name: String,
    },
    CustomFieldData {
        key: String,
        col: usize,
    },
    CustomField {
        key: String,
        col: usize,
        name: String,
    },
    /// `link`: the column holding the key the child level is indexed by (the foreign key for a
    /// forward relation, the row's id otherwise).
    Relation {
        key: String,
        child: usize,
        list: bool,
        link: usize,
    },
    /// A usage field of a prefix ([`hooks::usage_fields`]), from the prefix's network, length
    /// and type columns and what lies under it.
    Usage {
        key: String,
        usage: hooks::Usage,
        cols: [usize; 3],
        limit: usize,
        /// The selected subfields of an object-valued usage: (response key, field name).
        select: Vec<(String, String)>,
    },
    /// A rack's elevation: its height and numbering columns, the face asked for, the selected
    /// fields of each unit.
    Elevation {
        key: String,
        cols: [usize; 2],
        face: ferrobot_domain::rack::Face,
        select: Vec<(String, String)>,
    },
    /// One object of a union: the first of `children` with a row for the key.
    Union {
        key: String,
        children: Vec<usize>,
        link: usize,
    },
}

#[derive(Debug, Clone, Copy)]
enum Render {
    Plain,
    /// A JSON column: its text as it is stored.
    Json,
    Enum,
    Ip,
    Decimal,
}

#[derive(Debug)]
pub(crate) struct Node {
    model: ModelId,
    outs: Vec<Out>,
    columns: Vec<(String, ColType)>,
    pub(crate) filters: Vec<FilterArg>,
    limit: Option<u64>,
    offset: Option<u64>,
    children: Vec<(Relation, Node)>,
    /// Whether a usage field is selected: the level then reads what lies under its rows.
    usage: bool,
    /// Whether an elevation is selected: the level then reads the racks' devices.
    racks: bool,
}

impl Node {
    fn column(&mut self, name: &str, ty: ColType) -> usize {
        if let Some(idx) = self.columns.iter().position(|(c, _)| c == name) {
            return idx;
        }
        self.columns.push((name.to_owned(), ty));
        self.columns.len() - 1
    }
}

/// Hashes a UUID by its first eight bytes: they are random for the v4 ids Ferrobot stores, and
/// the writer looks a key up for every nested object, so SipHash's cost showed.
#[derive(Default)]
struct UuidHasher(u64);

impl std::hash::Hasher for UuidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(2) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}
}

/// Loaded rows of one node, with the index its parent uses to find them.
#[derive(Debug, Default)]
pub(crate) struct Level {
    rows: Rows,
    /// Columns before the node's own: 1 when rows carry a link key.
    skip: usize,
    /// Link key → (first row, end row).
    index: HashMap<Uuid, (usize, usize), BuildHasherDefault<UuidHasher>>,
    children: Vec<Level>,
    usage: Option<ferrobot_persistence::query::PrefixUsage>,
    racks: Option<ferrobot_persistence::query::RackContents>,
}

pub(crate) fn field_error(
    field: &Positioned<async_graphql::parser::types::Field>,
    path: &str,
    error: StoreError,
) -> FieldError {
    let (message, code, argument) = match error {
        StoreError::Invalid { argument, message } if argument.is_empty() => {
            (message, "VALIDATION_FAILED", None)
        }
        StoreError::Invalid { argument, message } => {
            (format!("{{'{argument}': ['{message}']}}"), "VALIDATION_FAILED", Some(argument))
        }
        other => {
            tracing::error!(error = %other, "field failed");
            ("internal error".to_owned(), "INTERNAL", None)
        }
    };
    FieldError {
        message,
        path: path.to_owned(),
        line: field.pos.line,
        column: field.pos.column,
        code,
        argument,
        details: serde_json::Map::new(),
    }
}

async fn answer(
    planner: &Planner<'_>,
    store: &Store,
    selection: &SelectionSet,
) -> Result<Answer, StoreError> {
    let mut roots = Vec::new();
    let mut errors = Vec::new();
    for (key, field) in planner.collect(selection, "Query")? {
        let name = field.node.name.node.as_str();
        if name == "__typename" {
            roots.push(RootAnswer { key, body: RootBody::Typename("Query") });
            continue;
        }
        let (model, single) =
            match (planner.served.lists.get(name), planner.served.singles.get(name)) {
                (Some(m), _) => (*m, false),
                (_, Some(m)) => (*m, true),
                _ => {
                    roots.push(RootAnswer { key, body: RootBody::Null });
                    continue;
                }
            };
        let built = planner.node(model, &field, single);
        let mut node = match built {
            Ok(node) => node,
            Err(e) => {
                errors.push(field_error(&field, &key, e));
                roots.push(RootAnswer { key, body: RootBody::Null });
                continue;
            }
        };
        if single {
            node.limit = Some(1);
        }
        match load(store, &node, Link::Root { limit: node.limit, offset: node.offset }, 0).await {
            Ok(level) => {
                let body = if single {
                    RootBody::Single(Box::new(node), level)
                } else {
                    RootBody::List(Box::new(node), level)
                };
                roots.push(RootAnswer { key, body });
            }
            Err(e @ StoreError::Invalid { .. }) => {
                errors.push(field_error(&field, &key, e));
                roots.push(RootAnswer { key, body: RootBody::Null });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Answer { roots, errors, statements: 0 })
}

/// Loads a node and, level by level, its children.
pub(crate) fn load<'a>(
    store: &'a Store,
    node: &'a Node,
    link: Link,
    depth: usize,
) -> futures_util::future::BoxFuture<'a, Result<Level, StoreError>> {
    Box::pin(async move {
        let condition = store.compile_filters(node.model, &node.filters).await?;
        let skip = usize::from(!matches!(link, Link::Root { .. }));
        let spec =
            LevelSpec { model: node.model, depth, columns: node.columns.clone(), condition, link };
        let (rows, scope) = store.load_level(&spec).await?;
        let mut level = Level {
            rows,
            skip,
            index: HashMap::default(),
            children: Vec::new(),
            usage: None,
            racks: None,
        };
        if skip == 1 {
            let mut idx = 0;
            let n = level.rows.len();
            while idx < n {
                let key = level.rows.row(idx)[0].as_uuid();
                let start = idx;
                while idx < n && level.rows.row(idx)[0].as_uuid() == key {
                    idx += 1;
                }
                if let Some(key) = key {
                    level.index.entry(key).or_insert((start, idx));
                }
            }
        }
        if node.usage || node.racks {
            // The level's own ids: what lies under them is read in one go.
            let mut ids: Vec<Uuid> =
                (0..level.rows.len()).filter_map(|r| level.rows.row(r)[skip].as_uuid()).collect();
            ids.sort_unstable();
            ids.dedup();
            if node.usage {
                level.usage = Some(store.prefix_usage(&ids).await?);
            }
            if node.racks {
                level.racks = Some(store.rack_contents(&ids).await?);
            }
        }
        for (rel, child) in &node.children {
            let link = child_link(store, node, &level, &scope, rel);
            level.children.push(load(store, child, link, depth + 1).await?);
        }
        Ok(level)
    })
}

fn child_link(store: &Store, node: &Node, level: &Level, scope: &Scope, rel: &Relation) -> Link {
    // Few parents: hand over their keys. Many: hand over the parent statement, either as
    // `IN (subquery)` (the database walks the parent keys and probes the child by index) or as a
    // correlated `EXISTS` (it walks the child rows and probes the parent by key), whichever walks
    // fewer rows. Reverse relations always walk the parent keys: their child table is the bigger.
    let keys_from = |column: &str, child_table: Option<&str>| -> Keys {
        let parents = match node.columns.iter().position(|(c, _)| c == column) {
            Some(col) => {
                let mut keys: Vec<Uuid> = (0..level.rows.len())
                    .filter_map(|r| level.rows.row(r)[level.skip + col].as_uuid())
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                if keys.len() <= KEY_LIST_LIMIT {
                    return Keys::List(keys);
                }
                keys.len() as u64
            }
            None => u64::MAX,
        };
        match child_table {
            Some(table) if store.table_rows(table).is_none_or(|rows| rows < parents) => {
                scope.exists_of(column)
            }
            _ => scope.keys_of(column),
        }
    };
    let target_table = store.catalogue().model(rel.target).table.clone();
    match &rel.shape {
        RelationShape::Forward { column, .. } => {
            Link::Forward(keys_from(column, Some(&target_table)))
        }
        RelationShape::Reverse { column, content_type, .. } => Link::Reverse {
            column: column.clone(),
            content_type: content_type.clone(),
            keys: keys_from("id", None),
        },
        RelationShape::Peer {
            table,
            endpoint_column,
            target_column,
            group_column,
            side_column,
        } => Link::Peer {
            table: table.clone(),
            endpoint_column: endpoint_column.clone(),
            target_column: target_column.clone(),
            group_column: group_column.clone(),
            side_column: side_column.clone(),
            keys: keys_from("id", Some(table)),
        },
        RelationShape::Through {
            table,
            source_column,
            target_column,
            content_type,
            conditions,
            ..
        } => Link::Through {
            table: table.clone(),
            source_column: source_column.clone(),
            target_column: target_column.clone(),
            content_type: content_type.clone(),
            conditions: conditions.clone(),
            keys: keys_from("id", Some(table)),
        },
    }
}

pub(crate) type FieldRef = Positioned<async_graphql::parser::types::Field>;

impl Planner<'_> {
    /// The fields of a selection set for an object of `type_name`, fragments expanded, merged by
    /// response key in first-seen order.
    pub(crate) fn collect(
        &self,
        set: &SelectionSet,
        type_name: &str,
    ) -> Result<Vec<(String, FieldRef)>, StoreError> {
        let mut out: Vec<(String, FieldRef)> = Vec::new();
        self.collect_into(set, type_name, &mut out, 0)?;
        Ok(out)
    }

    fn collect_into(
        &self,
        set: &SelectionSet,
        type_name: &str,
        out: &mut Vec<(String, FieldRef)>,
        depth: usize,
    ) -> Result<(), StoreError> {
        if depth > 64 {
            return Ok(());
        }
        for item in &set.items {
            if self.skipped(match &item.node {
                Selection::Field(f) => &f.node.directives,
                Selection::FragmentSpread(f) => &f.node.directives,
                Selection::InlineFragment(f) => &f.node.directives,
            }) {
                continue;
            }
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.to_string();
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, existing)) => {
                            // Same response key twice: validation guarantees the same field, so
                            // merge the sub-selections.
                            let extra = field.node.selection_set.node.items.clone();
                            existing.node.selection_set.node.items.extend(extra);
                        }
                        None => out.push((key, field.clone())),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        if fragment.node.type_condition.node.on.node == type_name {
                            self.collect_into(
                                &fragment.node.selection_set.node,
                                type_name,
                                out,
                                depth + 1,
                            )?;
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
                        self.collect_into(
                            &inline.node.selection_set.node,
                            type_name,
                            out,
                            depth + 1,
                        )?;
                    }
                }
            }
        }
        Ok(())
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

    pub(crate) fn constant(&self, value: &async_graphql_value::Value) -> Option<Value> {
        value
            .clone()
            .into_const_with(|name: Name| self.variables.get(&name).cloned().ok_or(()))
            .ok()
    }

    pub(crate) fn node(
        &self,
        model_id: ModelId,
        field: &FieldRef,
        single: bool,
    ) -> Result<Node, StoreError> {
        let catalogue = &self.served.catalogue;
        let model = catalogue.model(model_id);
        let type_name = model.graphql.as_ref().map(|g| g.type_name.clone()).unwrap_or_default();
        let mut node = Node {
            model: model_id,
            outs: Vec::new(),
            columns: Vec::new(),
            filters: Vec::new(),
            limit: None,
            offset: None,
            children: Vec::new(),
            usage: false,
            racks: false,
        };
        node.column("id", ColType::Uuid);
        self.arguments(model, field, single, &mut node)?;
        for (response_key, sub) in self.collect(&field.node.selection_set.node, &type_name)? {
            let key = json_key(&response_key);
            let name = sub.node.name.node.as_str();
            if name == "__typename" {
                node.outs.push(Out::Typename { key, name: type_name.clone() });
                continue;
            }
            if name == "_custom_field_data" {
                let col = node.column("_custom_field_data", ColType::Json);
                node.outs.push(Out::CustomFieldData { key, col });
                continue;
            }
            if let Some(cf) = name.strip_prefix("cf_") {
                let col = node.column("_custom_field_data", ColType::Json);
                node.outs.push(Out::CustomField { key, col, name: cf.to_owned() });
                continue;
            }
            if let Some(computed) = model.computed.iter().find(|c| c.name == name) {
                let a = &model.fields[computed.from[0]];
                let b = &model.fields[computed.from[1]];
                let ca = node.column(a.column.as_deref().unwrap_or_default(), ColType::Bytes);
                let cb = node.column(
                    b.column.as_deref().unwrap_or_default(),
                    ferrobot_persistence::query::col_type(&b.kind),
                );
                node.outs.push(Out::Computed { key, cols: [ca, cb] });
                continue;
            }
            let usage = hooks::usage_fields(&model.label).iter().find(|(n, _)| *n == name);
            if let Some((_, hooks::Usage::Elevation)) = usage {
                let column = |field: &str| model.column_of(field);
                let cols = [
                    node.column(&column("u_height"), ColType::Int(IntSize::Small)),
                    node.column(&column("desc_units"), ColType::Bool),
                ];
                let face = match sub.node.get_argument("face").and_then(|v| self.constant(&v.node))
                {
                    None | Some(Value::Null) => ferrobot_domain::rack::Face::Front,
                    Some(value) => {
                        let text = match value {
                            Value::String(s) => s,
                            Value::Enum(e) => e.to_string(),
                            other => other.to_string(),
                        };
                        ferrobot_domain::rack::Face::from_stored(&text.to_lowercase()).ok_or_else(
                            || StoreError::Invalid {
                                argument: "face".into(),
                                message: format!(
                                    "Select a valid choice. {text} is not one of the available choices."
                                ),
                            },
                        )?
                    }
                };
                let select = self
                    .collect(&sub.node.selection_set.node, "RackUnitType")?
                    .into_iter()
                    .map(|(k, f)| (json_key(&k), f.node.name.node.to_string()))
                    .collect();
                node.outs.push(Out::Elevation { key, cols, face, select });
                node.racks = true;
                continue;
            }
            if let (Some((_, usage)), Some(rule)) = (usage, hooks::parent(&model.label)) {
                let column = |field: &str| model.column_of(field);
                let cols = [
                    node.column(&column(rule.address), ColType::Bytes),
                    node.column(&column(rule.length), ColType::Int(IntSize::Int)),
                    node.column(&column("type"), ColType::Text),
                ];
                let limit =
                    match sub.node.get_argument("limit").and_then(|v| self.constant(&v.node)) {
                        None | Some(Value::Null) => 10,
                        Some(value) => {
                            let n = match value {
                                Value::Number(n) => n.as_i64().unwrap_or(i64::MAX),
                                _ => -1,
                            };
                            let invalid = |message: String| StoreError::Invalid {
                                argument: "limit".into(),
                                message,
                            };
                            if n < 0 {
                                return Err(invalid(
                                    "Ensure this value is greater than or equal to 0.".into(),
                                ));
                            }
                            if n > MAX_AVAILABLE {
                                return Err(invalid(format!(
                                    "Ensure this value is less than or equal to {MAX_AVAILABLE}."
                                )));
                            }
                            n as usize
                        }
                    };
                let select = self
                    .collect(&sub.node.selection_set.node, "UtilizationType")?
                    .into_iter()
                    .map(|(k, f)| (json_key(&k), f.node.name.node.to_string()))
                    .collect();
                node.outs.push(Out::Usage { key, usage: *usage, cols, limit, select });
                node.usage = true;
                continue;
            }
            if let Some((_, rel)) = model.relation(name).filter(|(_, r)| !r.alternatives.is_empty())
            {
                // A union: one child a member, the first with a row answers.
                let link = node.column("id", ColType::Uuid);
                let mut children = Vec::with_capacity(rel.alternatives.len());
                for (target, shape) in &rel.alternatives {
                    let member = Relation {
                        target: *target,
                        shape: shape.clone(),
                        alternatives: Vec::new(),
                        ..rel.clone()
                    };
                    let child = self.node(*target, &sub, false)?;
                    node.children.push((member, child));
                    children.push(node.children.len() - 1);
                }
                node.outs.push(Out::Union { key, children, link });
                continue;
            }
            if let Some((_, rel)) = model.relation(name) {
                let link = match &rel.shape {
                    RelationShape::Forward { column, .. } => node.column(column, ColType::Uuid),
                    _ => node.column("id", ColType::Uuid),
                };
                let child = self.node(rel.target, &sub, false)?;
                let list = rel.shape.is_list();
                node.children.push((rel.clone(), child));
                node.outs.push(Out::Relation { key, child: node.children.len() - 1, list, link });
                continue;
            }
            if let Some((_, f)) = model.field(name) {
                let render = match &f.kind {
                    FieldKind::Choice { .. } => Render::Enum,
                    FieldKind::IpBytes => Render::Ip,
                    FieldKind::Decimal { .. } => Render::Decimal,
                    FieldKind::Json | FieldKind::ContentTypes => Render::Json,
                    _ => Render::Plain,
                };
                let ty = match render {
                    Render::Json => ColType::JsonText,
                    _ => ferrobot_persistence::query::col_type(&f.kind),
                };
                let col = node.column(f.column.as_deref().unwrap_or_default(), ty);
                node.outs.push(Out::Column { key, col, render });
            }
        }
        Ok(node)
    }

    fn arguments(
        &self,
        model: &Model,
        field: &FieldRef,
        single: bool,
        node: &mut Node,
    ) -> Result<(), StoreError> {
        for (name, value) in &field.node.arguments {
            let name = name.node.as_str();
            // What the argument is for comes first: an argument that is none of these (a
            // mutation's input, which can hold 100,000 objects) is never copied.
            let filter = self.filter_target(model, name);
            let paging = matches!(name, "limit" | "offset") || (single && name == "id");
            if filter.is_none() && !paging {
                continue;
            }
            let Some(value) = self.constant(&value.node) else { continue };
            if value == Value::Null {
                continue;
            }
            let invalid =
                |message: String| StoreError::Invalid { argument: name.to_owned(), message };
            match name {
                "limit" | "offset" => {
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
                        node.limit = Some(n as u64)
                    } else {
                        node.offset = Some(n as u64)
                    }
                    continue;
                }
                "id" if single => {
                    let text = match &value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    };
                    let filter = model.filter("id").cloned();
                    match (Uuid::parse_str(text.trim()), filter) {
                        (Ok(_), Some(filter)) => node.filters.push(FilterArg {
                            argument: "id".into(),
                            target: ArgTarget::Filter(filter),
                            lookup: Lookup::Exact,
                            values: vec![ArgValue::Str(text)],
                        }),
                        _ => return Err(invalid(format!("'{text}' is not a valid UUID."))),
                    }
                    continue;
                }
                _ => {}
            }
            let values = arg_values(&value);
            let Some((target, lookup)) = filter else { continue };
            self.admit(name, &values)?;
            node.filters.push(FilterArg { argument: name.to_owned(), target, lookup, values });
        }
        Ok(())
    }

    /// The filter (or custom field) and lookup an argument names: `name__ic` → filter `name`,
    /// lookup `ic`; a filter whose own name has `__` wins.
    fn filter_target(&self, model: &Model, name: &str) -> Option<(ArgTarget, Lookup)> {
        for lookup in Lookup::ALL {
            let base = if lookup == Lookup::Exact {
                Some(name)
            } else {
                name.strip_suffix(&format!("__{}", lookup.suffix()))
            };
            let Some(base) = base else { continue };
            if let Some(filter) = model.filter(base).filter(|f| f.lookups.contains(&lookup)) {
                return Some((ArgTarget::Filter(filter.clone()), lookup));
            }
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

/// Streams chunks of an answer into a channel, 64 KiB at a time.
struct Sink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    closed: bool,
}

const CHUNK: usize = 64 * 1024;

impl Sink {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.closed || self.buf.is_empty() {
            return;
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 4096)));
        if self.tx.blocking_send(chunk).is_err() {
            // The client went away: stop producing.
            self.closed = true;
        }
    }

    fn string(&mut self, s: &str) {
        let _ = serde_json::to_writer(&mut self.buf, s);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Writes a pre-escaped `"key":` prefix (see [`json_key`]).
    fn field(&mut self, first: &mut bool, prefix: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        self.buf.extend_from_slice(prefix.as_bytes());
    }

    fn key(&mut self, first: &mut bool, key: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        self.string(key);
        self.buf.push(b':');
    }
}

/// `"key":` with the key escaped as JSON.
fn json_key(key: &str) -> String {
    let mut out = serde_json::to_string(key).unwrap_or_else(|_| String::from("\"\""));
    out.push(':');
    out
}

/// Writes the whole response body for an answer (blocking; run it on a blocking thread).
pub fn write_response(answer: Answer, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let started = std::time::Instant::now();
    let mut sink = Sink { buf: Vec::with_capacity(CHUNK + 4096), tx, closed: false };
    sink.push(b"{\"data\":{");
    let mut first = true;
    for root in &answer.roots {
        if sink.closed {
            return;
        }
        sink.key(&mut first, &root.key);
        match &root.body {
            RootBody::Typename(name) => sink.string(name),
            RootBody::Objects { node, chunks, list } => {
                write_objects(&mut sink, node, chunks, *list)
            }
            RootBody::Json(value) => {
                let _ = serde_json::to_writer(&mut sink.buf, value);
            }
            RootBody::Null => sink.push(b"null"),
            RootBody::List(node, level) => {
                write_list(&mut sink, node, level, 0, level.rows.len(), None, None)
            }
            RootBody::Single(node, level) => {
                if level.rows.is_empty() {
                    sink.push(b"null");
                } else {
                    write_object(&mut sink, node, level, 0);
                }
            }
        }
    }
    sink.push(b"}");
    if !answer.errors.is_empty() {
        sink.push(b",\"errors\":[");
        for (i, e) in answer.errors.iter().enumerate() {
            if i > 0 {
                sink.push(b",");
            }
            let mut extensions = serde_json::json!({ "code": e.code });
            if let Some(a) = &e.argument {
                extensions["argument"] = serde_json::Value::String(a.clone());
            }
            for (k, v) in &e.details {
                extensions[k] = v.clone();
            }
            let value = serde_json::json!({
                "message": e.message,
                "locations": [{"line": e.line, "column": e.column}],
                "path": [e.path],
                "extensions": extensions,
            });
            let text = value.to_string();
            sink.push(text.as_bytes());
        }
        sink.push(b"]");
    }
    sink.push(b"}");
    sink.flush();
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "answer written");
}

/// Objects read back after a write, in the order the write named them.
fn write_objects(sink: &mut Sink, node: &Node, chunks: &[(Level, Vec<Uuid>)], list: bool) {
    if list {
        sink.push(b"[");
    }
    let mut first = true;
    for (level, ids) in chunks {
        let rows: HashMap<Uuid, usize> = (0..level.rows.len())
            .filter_map(|r| level.rows.row(r)[0].as_uuid().map(|id| (id, r)))
            .collect();
        for id in ids {
            let Some(&row) = rows.get(id) else { continue };
            if !first {
                sink.buf.push(b',');
            }
            first = false;
            write_object(sink, node, level, row);
            if !list {
                return;
            }
        }
    }
    if list {
        sink.push(b"]");
    } else if first {
        sink.push(b"null");
    }
}

fn write_list(
    sink: &mut Sink,
    node: &Node,
    level: &Level,
    start: usize,
    end: usize,
    limit: Option<u64>,
    offset: Option<u64>,
) {
    sink.push(b"[");
    let start = (start + offset.unwrap_or(0) as usize).min(end);
    let end = match limit {
        Some(l) => (start + l as usize).min(end),
        None => end,
    };
    for row in start..end {
        if row > start {
            sink.buf.push(b',');
        }
        write_object(sink, node, level, row);
        if sink.closed {
            return;
        }
    }
    sink.push(b"]");
}

fn write_object(sink: &mut Sink, node: &Node, level: &Level, row: usize) {
    let cells = level.rows.row(row);
    let own = &cells[level.skip..];
    sink.buf.push(b'{');
    let mut first = true;
    for out in &node.outs {
        match out {
            Out::Column { key, col, render } => {
                sink.field(&mut first, key);
                write_cell(sink, &own[*col], *render);
            }
            // `address` and `prefix` alike: the stored bytes, a slash, the length.
            Out::Computed { key, cols } => {
                sink.field(&mut first, key);
                match (&own[cols[0]], &own[cols[1]]) {
                    (Cell::Bytes(b), Cell::Int(len)) => match ip_from_bytes(b) {
                        Some(ip) => sink.string(&format!("{ip}/{len}")),
                        None => sink.push(b"null"),
                    },
                    _ => sink.push(b"null"),
                }
            }
            Out::Typename { key, name } => {
                sink.field(&mut first, key);
                sink.string(name);
            }
            Out::CustomFieldData { key, col } => {
                sink.field(&mut first, key);
                write_json(sink, &own[*col], None);
            }
            Out::CustomField { key, col, name } => {
                sink.field(&mut first, key);
                write_json(sink, &own[*col], Some(name));
            }
            Out::Usage { key, usage, cols, limit, select } => {
                sink.field(&mut first, key);
                let prefix = match (&own[cols[0]], &own[cols[1]]) {
                    (Cell::Bytes(b), Cell::Int(len)) => ip_from_bytes(b)
                        .and_then(|ip| ipnet::IpNet::new(ip, u8::try_from(*len).ok()?).ok()),
                    _ => None,
                };
                let ty = match &own[cols[2]] {
                    Cell::Text(t) => t.as_ref(),
                    _ => "network",
                };
                let id = own[0].as_uuid().unwrap_or_default();
                let empty = ferrobot_persistence::query::PrefixUsage::default();
                let under = level.usage.as_ref().unwrap_or(&empty);
                let children = under.children.get(&id).map_or(&[][..], Vec::as_slice);
                let addresses = under.addresses.get(&id).map_or(&[][..], Vec::as_slice);
                match prefix {
                    Some(prefix) if *usage == hooks::Usage::Utilization => {
                        let kind = ferrobot_domain::ipam::PrefixType::from_value(ty)
                            .unwrap_or(ferrobot_domain::ipam::PrefixType::Network);
                        let u = ferrobot_domain::ipam::prefix_utilization(
                            prefix, kind, children, addresses,
                        );
                        write_selected(sink, select, |name| match name {
                            "numerator" => u.numerator.to_string(),
                            "denominator" => u.denominator.to_string(),
                            "percent" => ((u.percent() * 100.0).round() / 100.0).to_string(),
                            "__typename" => "\"UtilizationType\"".into(),
                            _ => "null".into(),
                        });
                    }
                    Some(prefix) => {
                        let text = ferrobot_domain::ipam::usage_json(
                            *usage, prefix, ty, children, addresses, *limit,
                        );
                        sink.push(text.as_bytes());
                    }
                    None => sink.push(b"null"),
                }
            }
            Out::Elevation { key, cols, face, select } => {
                sink.field(&mut first, key);
                let int = |c: &Cell| match c {
                    Cell::Int(n) => u16::try_from(*n).ok(),
                    _ => None,
                };
                let rack = ferrobot_domain::rack::Rack::new(
                    int(&own[cols[0]]).unwrap_or(0),
                    matches!(own[cols[1]], Cell::Bool(true)),
                );
                let id = own[0].as_uuid().unwrap_or_default();
                let contents = level.racks.as_ref().and_then(|r| r.get(&id));
                let (devices, reservations) =
                    contents.map_or((&[][..], &[][..]), |(d, r)| (d.as_slice(), r.as_slice()));
                let units = ferrobot_domain::rack::elevation(&rack, devices, reservations, *face);
                sink.buf.push(b'[');
                for (n, unit) in units.iter().enumerate() {
                    if n > 0 {
                        sink.buf.push(b',');
                    }
                    let uuid = |u: Option<Uuid>| u.map_or("null".into(), |u| format!("\"{u}\""));
                    write_selected(sink, select, |name| match name {
                        "unit" => unit.unit.to_string(),
                        "name" => format!("\"{}\"", unit.name),
                        "face" => format!("\"{}\"", unit.face.as_str()),
                        "device_id" => uuid(unit.device),
                        "reservation_id" => uuid(unit.reservation),
                        "occupied" => unit.occupied.to_string(),
                        "__typename" => "\"RackUnitType\"".into(),
                        _ => "null".into(),
                    });
                }
                sink.buf.push(b']');
            }
            Out::Union { key, children, link } => {
                sink.field(&mut first, key);
                let link = own[*link].as_uuid();
                let found = children.iter().find_map(|&c| {
                    let level = &level.children[c];
                    let range = link.and_then(|k| level.index.get(&k)).copied()?;
                    Some((c, level, range.0))
                });
                match found {
                    Some((c, child_level, row)) => {
                        write_object(sink, &node.children[c].1, child_level, row)
                    }
                    None => sink.push(b"null"),
                }
            }
            Out::Relation { key, child, list, link } => {
                sink.field(&mut first, key);
                let (_, child_node) = &node.children[*child];
                let child_level = &level.children[*child];
                let link = own[*link].as_uuid();
                let range = link.and_then(|k| child_level.index.get(&k)).copied();
                if *list {
                    let (s, e) = range.unwrap_or((0, 0));
                    write_list(
                        sink,
                        child_node,
                        child_level,
                        s,
                        e,
                        child_node.limit,
                        child_node.offset,
                    );
                } else {
                    match range {
                        Some((s, _)) => write_object(sink, child_node, child_level, s),
                        None => sink.push(b"null"),
                    }
                }
            }
        }
    }
    sink.buf.push(b'}');
}

/// An object of computed values (a utilisation, a rack unit): the selected fields, each as the
/// JSON text `value` gives for the field's name.
fn write_selected(sink: &mut Sink, select: &[(String, String)], value: impl Fn(&str) -> String) {
    sink.buf.push(b'{');
    let mut first = true;
    for (key, name) in select {
        sink.field(&mut first, key);
        sink.push(value(name).as_bytes());
    }
    sink.buf.push(b'}');
}

fn write_cell(sink: &mut Sink, cell: &Cell, render: Render) {
    match cell {
        Cell::Null => sink.push(b"null"),
        Cell::Bool(b) => sink.push(if *b { b"true" } else { b"false" }),
        Cell::Int(i) => {
            use std::io::Write;
            let _ = write!(sink.buf, "{i}");
        }
        Cell::Text(t) => match render {
            Render::Enum if t.is_empty() => sink.push(b"null"),
            Render::Enum => sink.string(&enum_item_name(t)),
            Render::Json => sink.push(t.as_bytes()),
            Render::Decimal | Render::Plain | Render::Ip => sink.string(t),
        },
        Cell::Uuid(u) => {
            let mut buf = [0u8; 40];
            let text = u.hyphenated().encode_lower(&mut buf);
            sink.buf.push(b'"');
            sink.buf.extend_from_slice(text.as_bytes());
            sink.buf.push(b'"');
        }
        Cell::Bytes(b) => match ip_from_bytes(b) {
            Some(ip) => sink.string(&ip.to_string()),
            None => sink.push(b"null"),
        },
        Cell::Json(v) => {
            let _ = serde_json::to_writer(&mut sink.buf, &**v);
        }
        Cell::DateTime(d) => sink.string(&d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)),
        Cell::Date(d) => sink.string(&d.to_string()),
    }
}

fn write_json(sink: &mut Sink, cell: &Cell, key: Option<&str>) {
    let value = match cell {
        Cell::Json(v) => &**v,
        Cell::Text(t) => {
            let parsed: serde_json::Value =
                serde_json::from_str(t).unwrap_or(serde_json::Value::Null);
            let v = match key {
                Some(k) => parsed.get(k).cloned().unwrap_or(serde_json::Value::Null),
                None => parsed,
            };
            let _ = serde_json::to_writer(&mut sink.buf, &v);
            return;
        }
        _ => {
            sink.push(b"null");
            return;
        }
    };
    let v = match key {
        Some(k) => value.get(k).unwrap_or(&serde_json::Value::Null),
        None => value,
    };
    let _ = serde_json::to_writer(&mut sink.buf, v);
}
