//! Writes generated from the catalogue: create, update, upsert and delete of any model, with the
//! model's checks, its change-log rows and the change feed's sequence, in one transaction.
//!
//! A [`Writer`] is one transaction. It locks the sequence counter first, so that writers take
//! turns and sequence numbers follow commit order; a write that rolls back consumes none.
//! Creates are batched into multi-row `INSERT`s, written as batches fill and before a read of a
//! table they hold rows for; a unique violation the database finds is traced to its constraint
//! and operation. Every change adds one `extras_objectchange` row with the object before and
//! after.
//!
//! References are an id, the value of the target's natural-key field, or a mapping of the
//! target's fields (`{manufacturer: {name: Acme}, model: X1}`), as in the import format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferrobot_domain::catalogue::{FieldKind, Model, ModelId, OnDelete, CHANGE_LOG};
use ferrobot_domain::validate::{self, Scalar};
use ferrobot_domain::value::{ip_from_bytes, naturalize};
use ferrobot_domain::{hooks, ipam, Catalogue, CustomField, DomainError, Field, ValidationError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use sea_query::{Alias, Cond, Expr, Order, Query, Value};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

mod paths;

use crate::query::{col_type, Cell, ColType, Rows};
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// Rows waiting to be written to one table, all with the same columns.
#[derive(Debug)]
pub struct Batch {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// The operation each row came from, for error reports.
    pub origins: Vec<usize>,
}

/// How many rows one `INSERT` carries; bounded by the backends' bind-parameter limits.
const MAX_PARAMS: usize = 30_000;

/// Rows a batch collects before it is written.
const BATCH_ROWS: usize = 5000;

/// The counter row the change feed's sequence lives in.
const SEQUENCE: &str = "changes";

/// Who writes, for the change log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub user_name: String,
}

/// What a writer records about itself in every change-log row.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub actor: Actor,
    pub request_id: Uuid,
    /// Nautobot's change contexts: `web` (the API), `orm` (the import), `job` …
    pub context: &'static str,
    pub detail: String,
    /// Whether change-log rows are written (off only to measure what they cost).
    pub change_log: bool,
    /// The import's mode: references that name nothing yet are retried once everything of the
    /// write exists (nullable references and many-to-many lists), instead of failing at once.
    pub defer_references: bool,
    /// Whether a new device gets the components of its device type's templates (off for the
    /// import, whose data carries the components it had).
    pub instantiate_components: bool,
}

impl WriteOptions {
    pub fn new(actor: Actor, context: &'static str, detail: impl Into<String>) -> WriteOptions {
        WriteOptions {
            actor,
            request_id: Uuid::new_v4(),
            context,
            detail: detail.into(),
            change_log: true,
            defer_references: false,
            instantiate_components: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// What one operation did to one object; `action` is `None` for an update that changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub model: ModelId,
    pub id: Uuid,
    pub action: Option<Action>,
}

/// What a committed writer wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    pub request_id: Uuid,
    pub changes: u64,
    /// The last sequence number handed out, when anything changed.
    pub last_sequence: Option<i64>,
}

/// A nullable reference that named nothing yet (import mode), retried at commit.
struct Pending {
    model: ModelId,
    id: Uuid,
    field: usize,
    reference: Json,
    origin: usize,
}

/// A many-to-many or tag list that named nothing yet (import mode), retried at commit.
struct PendingLink {
    owner: Uuid,
    link: LinkField,
    references: Json,
    origin: usize,
}

/// Where the rows of one list field of a model live.
#[derive(Debug, Clone)]
struct LinkField {
    /// The snapshot key: the field name, or `tags`.
    name: String,
    table: String,
    source: String,
    target_column: String,
    target: ModelId,
    /// The through model, when the link rows are objects of their own.
    through: Option<ModelId>,
    content_type: Option<String>,
}

/// A change-log row not yet queued; held while the object waits for deferred references.
struct Change {
    action: Action,
    model: ModelId,
    id: Uuid,
    before: Option<Json>,
    after: Option<Json>,
}

/// The unique values of a batch's rows, kept to name the culprit if the database refuses it.
struct Suspects {
    model: Option<ModelId>,
    /// (constraint fields, each row's values in those fields)
    constraints: Vec<(Vec<usize>, Vec<Vec<Value>>)>,
    origins: Vec<usize>,
}

/// A unique constraint of a model: (model, constraint index); hook sets count down from the top.
type UniqueSlot = (ModelId, usize);

/// The values one object holds in a unique constraint's columns.
type UniqueKey = Vec<String>;

/// One write transaction.
pub struct Writer<'s> {
    store: &'s Store,
    catalogue: Arc<Catalogue>,
    tx: Option<DatabaseTransaction>,
    /// This write's turn among the writers of the process; dropped with the writer, after
    /// the transaction has ended.
    _turn: crate::store::WriteTurn,
    options: WriteOptions,
    /// The change log's table, when the catalogue has the model and the log is on.
    change_log_table: Option<Arc<str>>,
    now: DateTime<Utc>,
    /// The last sequence number handed out, and the one the transaction started from.
    sequence: i64,
    start_sequence: i64,
    changes: u64,
    /// The operation being run (its index in the request), for error reports.
    operation: usize,
    batches: Vec<Batch>,
    ready: Vec<Batch>,
    custom_fields: Option<Vec<CustomField>>,
    /// Resolved references per model, by the reference's JSON text.
    refs: HashMap<ModelId, HashMap<String, Uuid>>,
    /// Objects this writer created, which references by id need not look up.
    known: HashSet<(ModelId, Uuid)>,
    /// Unique keys of rows this writer wrote: (model, constraint) → key → (object, operation).
    unique_keys: HashMap<UniqueSlot, HashMap<UniqueKey, (Uuid, usize)>>,
    /// The keys above by object, so that an update or a delete can take them back.
    keys_of: HashMap<Uuid, Vec<(UniqueSlot, UniqueKey)>>,
    snapshots: HashMap<(ModelId, Uuid), Json>,
    deferred: Vec<Pending>,
    links: Vec<PendingLink>,
    held: HashMap<Uuid, Change>,
    /// The templates of each device type this writer instantiated, per kind of template;
    /// dropped whenever the writer writes a template.
    templates: HashMap<Uuid, Arc<Vec<Vec<Json>>>>,
    /// Cables and cable ends this write touched: their paths are traced again at the end.
    dirty_cables: HashSet<Uuid>,
    dirty_endpoints: HashSet<ferrobot_domain::cable::Endpoint>,
}

/// An address in the snapshot form (`10.0.0.0`) as stored: 4 or 16 bytes.
fn stored_ip(text: &str) -> Option<Vec<u8>> {
    match text.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(a.octets().to_vec()),
        std::net::IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

fn bytes_value(b: Vec<u8>) -> Value {
    Value::Bytes(Some(Box::new(b)))
}

fn uuid_value(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

fn invalid(errors: Vec<ValidationError>) -> StoreError {
    StoreError::Domain(DomainError::Validation(errors))
}

fn one_invalid(field: &str, message: impl Into<String>) -> StoreError {
    invalid(vec![ValidationError::new(field, message)])
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// The outcome of looking a reference up.
enum Found {
    One(Uuid),
    None,
    Many,
}

impl Store {
    /// Begins a write: a transaction that holds the change feed's sequence until it ends.
    pub async fn writer(&self, options: WriteOptions) -> StoreResult<Writer<'_>> {
        let (turn, tx) = self.begin().await?;
        // Lock first: writers take turns from here, so SQLite never has to upgrade a read
        // transaction, and sequence numbers are handed out in commit order.
        let mut lock = Query::update();
        lock.table(Alias::new("ferrobot_sequence"))
            .value(Alias::new("value"), Expr::col(Alias::new("value")))
            .and_where(Expr::col(Alias::new("name")).eq(SEQUENCE));
        self.execute_in(&tx, &lock).await?;
        let mut read = Query::select();
        read.column(Alias::new("value"))
            .from(Alias::new("ferrobot_sequence"))
            .and_where(Expr::col(Alias::new("name")).eq(SEQUENCE));
        let rows = self.query_in(&tx, &read).await?;
        let start = rows
            .first()
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .ok_or_else(|| internal("the sequence counter is missing: run `ferrobot migrate`"))?;
        Ok(Writer {
            store: self,
            catalogue: self.catalogue.clone(),
            tx: Some(tx),
            _turn: turn,
            change_log_table: self
                .catalogue
                .by_label(CHANGE_LOG)
                .filter(|_| options.change_log)
                .map(|m| Arc::from(m.table.as_str())),
            options,
            now: Utc::now(),
            sequence: start,
            start_sequence: start,
            changes: 0,
            operation: 0,
            batches: Vec::new(),
            ready: Vec::new(),
            custom_fields: None,
            refs: HashMap::new(),
            known: HashSet::new(),
            unique_keys: HashMap::new(),
            keys_of: HashMap::new(),
            snapshots: HashMap::new(),
            deferred: Vec::new(),
            links: Vec::new(),
            held: HashMap::new(),
            templates: HashMap::new(),
            dirty_cables: HashSet::new(),
            dirty_endpoints: HashSet::new(),
        })
    }

    /// Writes a batch on `conn` with as few statements as the parameter limits allow.
    pub(crate) async fn insert_batch<C: ConnectionTrait>(
        &self,
        conn: &C,
        batch: Batch,
    ) -> StoreResult<()> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        let per_stmt = (MAX_PARAMS / batch.columns.len().max(1)).max(1);
        let builder = self.backend.query_builder();
        let mut rows = batch.rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert.into_table(Alias::new(&batch.table));
            insert.columns(batch.columns.iter().map(Alias::new));
            for row in rows.by_ref().take(per_stmt) {
                insert.values(row.into_iter().map(Into::into)).map_err(internal)?;
            }
            let (sql, values) = insert.build_any(&*builder);
            self.count();
            conn.execute(self.statement(sql, values)).await?;
        }
        Ok(())
    }

    /// Runs a select inside `tx`.
    pub(crate) async fn query_in<C: ConnectionTrait>(
        &self,
        tx: &C,
        select: &sea_query::SelectStatement,
    ) -> StoreResult<Vec<sea_orm::QueryResult>> {
        let builder = self.backend.query_builder();
        let (sql, values) = select.build_any(&*builder);
        self.count();
        Ok(tx.query_all(self.statement(sql, values)).await?)
    }

    /// Runs a select inside `tx` and decodes its rows.
    pub(crate) async fn fetch_in<C: ConnectionTrait>(
        &self,
        tx: &C,
        select: &sea_query::SelectStatement,
        types: &[ColType],
    ) -> StoreResult<Rows> {
        let results = self.query_in(tx, select).await?;
        let mut rows = Rows { width: types.len(), cells: Vec::with_capacity(results.len()) };
        for row in &results {
            for (idx, ty) in types.iter().enumerate() {
                rows.cells.push(crate::query::decode(row, idx, *ty)?);
            }
        }
        Ok(rows)
    }

    /// Runs an update or a delete inside `tx`.
    pub(crate) async fn execute_in<C: ConnectionTrait>(
        &self,
        tx: &C,
        statement: &impl sea_query::QueryStatementBuilder,
    ) -> StoreResult<()> {
        let builder = self.backend.query_builder();
        let (sql, values) = statement.build_any(&*builder);
        self.count();
        tx.execute(self.statement(sql, values)).await?;
        Ok(())
    }
}

impl<'s> Writer<'s> {
    fn tx(&self) -> StoreResult<&DatabaseTransaction> {
        self.tx.as_ref().ok_or_else(|| internal("the write has ended"))
    }

    /// Marks the start of operation `index` of the request: errors name it.
    pub fn begin_operation(&mut self, index: usize) {
        self.operation = index;
    }

    /// Creates one object from its input (field name → value, references as above).
    pub async fn create(&mut self, model: &Model, input: &Map<String, Json>) -> StoreResult<Uuid> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        let mut errors = Vec::new();
        let id = match input.get("id") {
            None | Some(Json::Null) => Uuid::new_v4(),
            Some(Json::String(s)) => match Uuid::parse_str(s) {
                Ok(id) => id,
                Err(_) => {
                    errors.push(ValidationError::new("id", format!("'{s}' is not a valid UUID.")));
                    Uuid::new_v4()
                }
            },
            Some(other) => {
                errors.push(ValidationError::new("id", format!("Expected a UUID, got {other}.")));
                Uuid::new_v4()
            }
        };
        unknown_keys(model, input, &mut errors);
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        let derived = self.derive_inputs(model, input, &mut values, &mut errors, true);
        let parent_rule = hooks::parent(&model.label).filter(|r| !input.contains_key(r.field));
        let mut deferred = false;
        let mut lists: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for (fidx, field) in model.fields.iter().enumerate() {
            if validate::is_automatic(field)
                || derived.contains(field.name.as_str())
                || parent_rule.is_some_and(|r| r.field == field.name)
            {
                if matches!(field.name.as_str(), "created" | "last_updated") {
                    // Now, unless the input carries the object's own (an export re-imported).
                    let given = input.get(&field.name).filter(|v| !v.is_null());
                    let value = match given.map(|v| self.scalar(field, v)) {
                        Some(Ok(v)) => v,
                        Some(Err(m)) => {
                            errors.push(ValidationError::new(&field.name, m));
                            continue;
                        }
                        None => Value::ChronoDateTimeUtc(Some(Box::new(self.now))),
                    };
                    values.insert(field.name.clone(), value);
                }
                continue;
            }
            let given = input.get(&field.name);
            if let FieldKind::ManyToMany { .. } = &field.kind {
                if let Some(list) = given.filter(|l| !l.is_null()) {
                    let link = link_field(&self.catalogue, model, &field.name);
                    deferred |= self.given_list(id, link, list, &mut lists, &mut errors).await?;
                }
                continue;
            }
            let Some(column) = field.column.clone() else { continue };
            let value = match given {
                // A reference to a user that the input leaves out is the acting user (a rack
                // reservation's `user`, a note's author), as Nautobot's API fills it.
                None if self.is_user_ref(field) && self.options.actor.user_id.is_some() => {
                    Ok(self.options.actor.user_id.map(uuid_value).unwrap_or(Value::Uuid(None)))
                }
                None => match validate::absent(field) {
                    Ok(Some(default)) => self.default_value(field, default).await,
                    Ok(None) => Ok(absent_value(field)),
                    Err(m) => Err(m.to_owned()),
                },
                Some(v) => match self.given_value(field, v).await? {
                    Ok(Some(value)) => Ok(value),
                    // A nullable reference the import may find later: null until then.
                    Ok(None) => {
                        self.deferred.push(Pending {
                            model: model.id,
                            id,
                            field: fidx,
                            reference: v.clone(),
                            origin: self.operation,
                        });
                        deferred = true;
                        Ok(Value::Uuid(None))
                    }
                    Err(m) => Err(m),
                },
            };
            match value {
                Ok(value) => {
                    put(&mut values, field, column, value);
                }
                Err(m) => errors.push(ValidationError::new(&field.name, m)),
            }
        }
        let custom = self.custom_field_data(model, input, None, &mut errors).await?;
        if let Some(data) = &custom {
            values.insert("_custom_field_data".into(), Value::Json(Some(Box::new(data.clone()))));
        }
        if model.features.tags {
            if let Some(list) = input.get("tags").filter(|l| !l.is_null()) {
                let link = tags_link(&self.catalogue, model);
                deferred |= self.given_list(id, link, list, &mut lists, &mut errors).await?;
            }
        }
        if let Some(rule) = parent_rule {
            if errors.is_empty() {
                match self.parent_of(model, rule, input, &values).await? {
                    Ok(parent) => {
                        values.insert(
                            column_of(model, rule.field),
                            parent.map(uuid_value).unwrap_or(Value::Uuid(None)),
                        );
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        let after = snapshot_of(model, id, &values, &lists, custom.as_ref());
        if errors.is_empty() {
            self.check_rules(model, &after, None, &mut errors).await?;
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        self.remember_unique(model, id, &values)?;
        self.check_unique_sets(model, id, &values).await?;
        let mut columns: Vec<String> = vec!["id".into()];
        let mut row = vec![uuid_value(id)];
        for (k, v) in values {
            columns.push(k);
            row.push(v);
        }
        self.push(&model.table, &columns, row);
        for (name, ids) in &lists {
            let link = match name.as_str() {
                "tags" => tags_link(&self.catalogue, model),
                _ => link_field(&self.catalogue, model, name),
            };
            self.insert_links(&link, id, ids).await?;
        }
        self.known.insert((model.id, id));
        if let Some(idx) = model.lookup_field() {
            if let Some(Json::String(s)) = after.get(&model.fields[idx].name) {
                let key = Json::String(s.clone()).to_string();
                self.refs.entry(model.id).or_default().insert(key, id);
            }
        }
        if model.label == "extras.customfield" {
            self.custom_fields = None;
        }
        // Full batches go out as they fill, so memory stays flat on big writes.
        if !self.ready.is_empty() {
            let full = std::mem::take(&mut self.ready);
            self.write_batches(full).await?;
        }
        if model.label.ends_with("template") {
            self.templates.clear();
        }
        self.adopt_children(model, id, &after).await?;
        if hooks::traces_cable_paths(&model.label) {
            self.touch_cabling(model, &after);
        }
        let components = hooks::components(&model.label)
            .filter(|_| self.options.instantiate_components)
            .and_then(|spec| Some((spec, after.get(spec.type_field)?.as_str()?.to_owned())));
        let owner = components.as_ref().map(|_| after.clone());
        let change = Change {
            action: Action::Create,
            model: model.id,
            id,
            before: None,
            after: Some(after),
        };
        if deferred {
            self.held.insert(id, change);
        } else {
            self.log(change);
        }
        if let (Some((spec, type_id)), Some(owner)) = (components, owner) {
            self.instantiate(model, spec, id, &type_id, &owner).await?;
        }
        Ok(id)
    }

    /// Updates the object `target` names with the keys of `patch` (absent keys stay as they
    /// are; `null` clears). An update that changes nothing writes nothing.
    pub async fn update(
        &mut self,
        model: &Model,
        target: &Json,
        patch: &Map<String, Json>,
    ) -> StoreResult<Outcome> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        let id = self.resolve(model.id, target).await?;
        let before = self.read_snapshot(model, id).await?;
        let mut errors = Vec::new();
        unknown_keys(model, patch, &mut errors);
        if let Some(given) = patch.get("id") {
            if given.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(id) {
                errors.push(ValidationError::new("id", "The id of an object cannot be changed."));
            }
        }
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        let derived = self.derive_inputs(model, patch, &mut values, &mut errors, false);
        let mut lists: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for field in &model.fields {
            let Some(given) = patch.get(&field.name) else { continue };
            if validate::is_automatic(field) || derived.contains(field.name.as_str()) {
                continue;
            }
            if let FieldKind::ManyToMany { .. } = &field.kind {
                let link = link_field(&self.catalogue, model, &field.name);
                self.given_list(id, link, given, &mut lists, &mut errors).await?;
                continue;
            }
            let Some(column) = field.column.clone() else { continue };
            let value = match self.given_value(field, given).await? {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(self.not_found_message(field_target(field), given, Found::None)),
                Err(m) => Err(m),
            };
            match value {
                Ok(value) => put(&mut values, field, column, value),
                Err(m) => errors.push(ValidationError::new(&field.name, m)),
            }
        }
        if model.features.tags {
            if let Some(list) = patch.get("tags") {
                let link = tags_link(&self.catalogue, model);
                self.given_list(id, link, list, &mut lists, &mut errors).await?;
            }
        }
        let custom =
            self.custom_field_data(model, patch, before.get("custom_fields"), &mut errors).await?;
        if let Some(data) = &custom {
            values.insert("_custom_field_data".into(), Value::Json(Some(Box::new(data.clone()))));
        }
        let mut after = before.clone();
        merge_snapshot(model, &mut after, &values, &lists, custom.as_ref());
        // A moved address or prefix gets its parent again, unless the input names one.
        if let Some(rule) = hooks::parent(&model.label) {
            let moved = hooks::inputs(&model.label).iter().any(|i| patch.contains_key(i.key))
                || match &rule.namespace {
                    hooks::NamespaceSource::Field(name) => patch.contains_key(*name),
                    hooks::NamespaceSource::Input { key, .. } => patch.contains_key(*key),
                };
            if moved && !patch.contains_key(rule.field) && errors.is_empty() {
                let mut full = stored_values(model, &after);
                full.extend(values.clone());
                match self.parent_of(model, rule, patch, &full).await? {
                    Ok(parent) => {
                        let v = parent.map(uuid_value).unwrap_or(Value::Uuid(None));
                        values.insert(column_of(model, rule.field), v);
                        merge_snapshot(model, &mut after, &values, &lists, custom.as_ref());
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if errors.is_empty() {
            let before_object = before.as_object().cloned().unwrap_or_default();
            self.check_rules(model, &after, Some(&before_object), &mut errors).await?;
            if model.tree && errors.is_empty() {
                self.check_cycle(model, id, &after, &mut errors).await?;
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        if without_timestamps(&after) == without_timestamps(&before) {
            return Ok(Outcome { model: model.id, id, action: None });
        }
        self.forget_unique(id);
        let stored = stored_values(model, &after);
        self.check_unique_update(model, id, &stored).await?;
        self.check_unique_sets(model, id, &stored).await?;
        let now = Value::ChronoDateTimeUtc(Some(Box::new(self.now)));
        if model.field("last_updated").is_some() {
            values.insert("last_updated".into(), now);
            if let Some(map) = after.as_object_mut() {
                map.insert("last_updated".into(), Json::String(self.now.to_rfc3339()));
            }
        }
        let mut update = Query::update();
        update.table(Alias::new(&model.table));
        for (column, value) in values {
            update.value(Alias::new(column), value);
        }
        update.and_where(Expr::col(Alias::new("id")).eq(uuid_value(id)));
        self.flush_for(&model.table).await?;
        let tx = self.tx()?;
        self.store.execute_in(tx, &update).await?;
        for (name, ids) in &lists {
            let link = match name.as_str() {
                "tags" => tags_link(&self.catalogue, model),
                _ => link_field(&self.catalogue, model, name),
            };
            let old: Vec<Uuid> = uuid_list(before.get(name));
            if old != *ids {
                self.replace_links(&link, id, &old, ids).await?;
            }
        }
        self.forget(model.id, id);
        if hooks::traces_cable_paths(&model.label) {
            self.touch_cabling(model, &before);
            self.touch_cabling(model, &after);
        }
        self.log(Change {
            action: Action::Update,
            model: model.id,
            id,
            before: Some(before),
            after: Some(after),
        });
        Ok(Outcome { model: model.id, id, action: Some(Action::Update) })
    }

    /// Creates the object the input's natural key names, or updates it when it exists.
    pub async fn upsert(
        &mut self,
        model: &Model,
        input: &Map<String, Json>,
    ) -> StoreResult<Outcome> {
        let keys = hooks::natural_key_inputs(model);
        if keys.is_empty() {
            return Err(one_invalid(
                "__all__",
                format!("{} has no natural key to upsert by", model.label),
            ));
        }
        let mut mapping = Map::new();
        let mut errors = Vec::new();
        for key in &keys {
            match input.get(key) {
                Some(v) => {
                    mapping.insert(key.clone(), v.clone());
                }
                None => match model.field(key).map(|(_, f)| f) {
                    Some(f) if f.null => {
                        mapping.insert(key.clone(), Json::Null);
                    }
                    Some(Field { default: Some(Json::String(d)), .. })
                        if d.starts_with("natural_key(") =>
                    {
                        let name = d.trim_start_matches("natural_key(").trim_end_matches(')');
                        mapping.insert(key.clone(), Json::String(name.to_owned()));
                    }
                    _ => errors.push(ValidationError::new(key, validate::REQUIRED)),
                },
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        match self.lookup(model.id, &Json::Object(mapping.clone())).await? {
            Found::One(id) => {
                let mut patch = input.clone();
                patch.remove("id");
                self.update(model, &Json::String(id.to_string()), &patch).await
            }
            Found::None => {
                let id = self.create(model, input).await?;
                Ok(Outcome { model: model.id, id, action: Some(Action::Create) })
            }
            Found::Many => Err(StoreError::Conflict {
                fields: keys,
                message: format!(
                    "{} matches more than one {}",
                    Json::Object(mapping),
                    model.verbose_name
                ),
                operation: None,
            }),
        }
    }

    /// Deletes the object `target` names, with what Nautobot's on-delete rules take along:
    /// protected references refuse the delete, cascades delete (and log) their rows too, and
    /// `set null` references are cleared (and logged as updates).
    pub async fn delete(&mut self, model: &Model, target: &Json) -> StoreResult<Vec<Outcome>> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        let id = self.resolve(model.id, target).await?;
        self.flush().await?;
        let catalogue = self.catalogue.clone();
        self.hand_children_on(model, id).await?;
        // Breadth first over every foreign key that points at a model being deleted.
        let mut doomed: Vec<(ModelId, Vec<Uuid>)> = vec![(model.id, vec![id])];
        let mut seen: HashSet<(ModelId, Uuid)> = HashSet::from([(model.id, id)]);
        let mut blocking: Vec<(ModelId, Uuid)> = Vec::new();
        let mut nulling: Vec<(ModelId, usize, Uuid)> = Vec::new();
        let mut next = 0;
        while next < doomed.len() {
            let (target_model, ids) = doomed[next].clone();
            next += 1;
            for other in catalogue.models() {
                for (fidx, field) in other.fields.iter().enumerate() {
                    let FieldKind::ForeignKey { to, on_delete, .. } = &field.kind else { continue };
                    if *to != target_model {
                        continue;
                    }
                    let column = field.column.clone().unwrap_or_default();
                    let referring = self.ids_where_in(&other.table, &column, &ids).await?;
                    let mut fresh = Vec::new();
                    for r in referring {
                        match on_delete {
                            OnDelete::Cascade => {
                                if seen.insert((other.id, r)) {
                                    fresh.push(r);
                                }
                            }
                            OnDelete::Protect => blocking.push((other.id, r)),
                            OnDelete::SetNull => nulling.push((other.id, fidx, r)),
                        }
                    }
                    if !fresh.is_empty() {
                        doomed.push((other.id, fresh));
                    }
                }
            }
        }
        blocking.retain(|key| !seen.contains(key));
        if !blocking.is_empty() {
            return Err(self.protected(model, id, &blocking).await?);
        }
        let mut outcomes = Vec::new();
        nulling.retain(|(m, _, r)| !seen.contains(&(*m, *r)));
        for (m, fidx, r) in nulling {
            let other = catalogue.model(m);
            let mut patch = Map::new();
            patch.insert(other.fields[fidx].name.clone(), Json::Null);
            let outcome = self.update(other, &Json::String(r.to_string()), &patch).await?;
            outcomes.push(outcome);
        }
        // Dependents first, so the log reads as the deletes happened.
        for (m, ids) in doomed.iter().rev() {
            let doomed_model = catalogue.model(*m);
            let snapshots = self.read_snapshots(doomed_model, ids).await?;
            if hooks::traces_cable_paths(&doomed_model.label) {
                for row in snapshots.values() {
                    self.touch_cabling(doomed_model, row);
                }
            }
            for id in ids {
                self.forget(*m, *id);
                self.forget_unique(*id);
                self.known.remove(&(*m, *id));
                let before = snapshots.get(id).cloned();
                self.log(Change {
                    action: Action::Delete,
                    model: *m,
                    id: *id,
                    before,
                    after: None,
                });
                outcomes.push(Outcome { model: *m, id: *id, action: Some(Action::Delete) });
            }
            self.delete_rows(doomed_model, ids).await?;
        }
        Ok(outcomes)
    }

    /// The operation that ran last (or that a deferred reference came from).
    pub fn operation(&self) -> usize {
        self.operation
    }

    /// Resolves what the import deferred and writes everything pending; errors name the
    /// operation through [`Writer::operation`].
    pub async fn settle(&mut self) -> StoreResult<()> {
        self.finish().await?;
        self.flush().await
    }

    /// Ends the write: what is pending goes out, then the transaction commits.
    pub async fn commit(mut self) -> StoreResult<Committed> {
        self.finish().await?;
        self.flush().await?;
        if self.sequence != self.start_sequence {
            let mut update = Query::update();
            update
                .table(Alias::new("ferrobot_sequence"))
                .value(Alias::new("value"), self.sequence)
                .and_where(Expr::col(Alias::new("name")).eq(SEQUENCE));
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
        }
        let tx = self.tx.take().ok_or_else(|| internal("the write has ended"))?;
        tx.commit().await?;
        Ok(Committed {
            request_id: self.options.request_id,
            changes: self.changes,
            last_sequence: (self.sequence != self.start_sequence).then_some(self.sequence),
        })
    }

    /// Abandons the write: nothing of it stays, and no sequence number is used up.
    pub async fn rollback(mut self) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// Retries what the import deferred, then queues the change rows that waited for it.
    async fn finish(&mut self) -> StoreResult<()> {
        self.flush().await?;
        for p in std::mem::take(&mut self.deferred) {
            self.operation = p.origin;
            let model = self.catalogue.clone();
            let model = model.model(p.model);
            let field = &model.fields[p.field];
            let FieldKind::ForeignKey { to, .. } = &field.kind else { continue };
            let target = match self.lookup(*to, &p.reference).await? {
                Found::One(t) => t,
                found => {
                    return Err(one_invalid(
                        &field.name,
                        self.not_found_message(*to, &p.reference, found),
                    ))
                }
            };
            let column = field.column.clone().unwrap_or_default();
            let mut update = Query::update();
            update
                .table(Alias::new(&model.table))
                .value(Alias::new(column), uuid_value(target))
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(p.id)));
            self.flush().await?;
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
            if let Some(Json::Object(after)) =
                self.held.get_mut(&p.id).and_then(|c| c.after.as_mut())
            {
                after.insert(field.name.clone(), Json::String(target.to_string()));
            }
        }
        for link in std::mem::take(&mut self.links) {
            self.operation = link.origin;
            let mut ids = Vec::new();
            for item in link.references.as_array().into_iter().flatten() {
                match self.lookup(link.link.target, item).await? {
                    Found::One(t) => ids.push(t),
                    found => {
                        return Err(one_invalid(
                            &link.link.name,
                            self.not_found_message(link.link.target, item, found),
                        ))
                    }
                }
            }
            ids.sort_unstable();
            ids.dedup();
            self.insert_links(&link.link, link.owner, &ids).await?;
            if let Some(Json::Object(after)) =
                self.held.get_mut(&link.owner).and_then(|c| c.after.as_mut())
            {
                after.insert(link.link.name.clone(), uuid_json(&ids));
            }
        }
        self.rebuild_paths().await?;
        let mut held: Vec<Change> = std::mem::take(&mut self.held).into_values().collect();
        held.sort_by_key(|c| c.id);
        for change in held {
            self.log(change);
        }
        Ok(())
    }

    // ---- Inputs -------------------------------------------------------------------------

    /// Applies the model's input hooks (`prefix`, `address`): the stored fields they fill.
    /// On a create, an input that is missing (and whose fields are not given one by one, as an
    /// export has them) is required, and reported once, on the input.
    fn derive_inputs(
        &self,
        model: &Model,
        input: &Map<String, Json>,
        values: &mut BTreeMap<String, Value>,
        errors: &mut Vec<ValidationError>,
        creating: bool,
    ) -> HashSet<&'static str> {
        let mut derived = HashSet::new();
        for hook in hooks::inputs(&model.label) {
            let Some(given) = input.get(hook.key) else {
                if creating && !hook.fills.iter().any(|f| input.contains_key(*f)) {
                    errors.push(ValidationError::new(hook.key, validate::REQUIRED));
                    derived.extend(hook.fills.iter().copied());
                }
                continue;
            };
            derived.extend(hook.fills.iter().copied());
            let Some(text) = given.as_str() else {
                errors.push(ValidationError::new(hook.key, "Expected a string."));
                continue;
            };
            match (hook.derive)(text) {
                Ok(pairs) => {
                    for (name, value) in pairs {
                        values.insert(column_of(model, name), derived_value(value));
                    }
                }
                Err(m) => errors.push(ValidationError::new(hook.key, m)),
            }
        }
        derived
    }

    /// The stored value of a field the input gives: a reference looked up, a scalar checked,
    /// `null` clearing it (an empty string for blank text). `Ok(None)`: a nullable reference
    /// that names nothing yet, which the import looks up again at the end.
    async fn given_value(
        &mut self,
        field: &Field,
        v: &Json,
    ) -> StoreResult<Result<Option<Value>, String>> {
        Ok(match (&field.kind, v) {
            (_, Json::Null) if !field.null && !field.blank => Err(validate::NOT_NULL.to_owned()),
            (FieldKind::ForeignKey { .. }, Json::Null) => Ok(Some(Value::Uuid(None))),
            (_, Json::Null) => Ok(Some(absent_value(field))),
            (FieldKind::ForeignKey { to, .. }, v) => match self.lookup(*to, v).await? {
                Found::One(target) => Ok(Some(uuid_value(target))),
                Found::None if field.null && self.options.defer_references => Ok(None),
                found => Err(self.not_found_message(*to, v, found)),
            },
            (_, v) => self.scalar(field, v).map(Some),
        })
    }

    /// A list field (many-to-many or tags) the input gives: its ids go to `lists`; `true` when
    /// the import deferred them.
    async fn given_list(
        &mut self,
        owner: Uuid,
        link: LinkField,
        list: &Json,
        lists: &mut BTreeMap<String, Vec<Uuid>>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<bool> {
        let name = link.name.clone();
        Ok(match self.link_targets(owner, link, list).await? {
            Ok(Some(ids)) => {
                lists.insert(name, ids);
                false
            }
            Ok(None) => true,
            Err(m) => {
                errors.push(ValidationError::new(name, m));
                false
            }
        })
    }

    fn scalar(&self, field: &Field, v: &Json) -> Result<Value, String> {
        Ok(scalar_value(field, validate::scalar(&self.catalogue, field, v)?))
    }

    async fn default_value(&mut self, field: &Field, default: &Json) -> Result<Value, String> {
        match default {
            Json::String(s) if s == "now()" => {
                Ok(Value::ChronoDateTimeUtc(Some(Box::new(self.now))))
            }
            Json::String(s) if s.starts_with("natural_key(") => {
                let name = s.trim_start_matches("natural_key(").trim_end_matches(')');
                match &field.kind {
                    FieldKind::ForeignKey { to, .. } => {
                        let v = Json::String(name.into());
                        match self.lookup(*to, &v).await.map_err(|e| e.to_string())? {
                            Found::One(id) => Ok(uuid_value(id)),
                            found => Err(self.not_found_message(*to, &v, found)),
                        }
                    }
                    _ => Err("a natural-key default on a field that is no reference".into()),
                }
            }
            other => self.scalar(field, other),
        }
    }

    /// The checked `_custom_field_data` of an object: `before` merged with the input's
    /// `custom_fields` (or `_custom_field_data`); `None` when the model has no custom fields.
    async fn custom_field_data(
        &mut self,
        model: &Model,
        input: &Map<String, Json>,
        before: Option<&Json>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<Option<Json>> {
        if !model.features.custom_fields {
            return Ok(None);
        }
        let mut data = before.and_then(Json::as_object).cloned().unwrap_or_default();
        let given = input.get("custom_fields").or_else(|| input.get("_custom_field_data"));
        match given {
            None | Some(Json::Null) => {}
            Some(Json::Object(given)) => {
                if !given.is_empty() && self.custom_fields.is_none() {
                    self.flush_for("extras_customfield").await?;
                    let tx = self.tx()?;
                    self.custom_fields = Some(self.store.custom_fields_in(tx).await?);
                }
                let defs = self.custom_fields.as_deref().unwrap_or_default();
                for (key, value) in given {
                    let field = format!("custom_fields.{key}");
                    match defs
                        .iter()
                        .find(|d| d.key == *key && d.content_types.contains(&model.label))
                    {
                        None => errors.push(ValidationError::new(
                            field,
                            format!("{} has no custom field {key}", model.label),
                        )),
                        Some(_) if ferrobot_domain::validate::has_nul(value) => errors.push(
                            ValidationError::new(field, ferrobot_domain::validate::NULL_CHARACTERS),
                        ),
                        Some(def) => match def.check(value) {
                            Ok(()) => {
                                data.insert(key.clone(), value.clone());
                            }
                            Err(m) => errors.push(ValidationError::new(field, m)),
                        },
                    }
                }
            }
            Some(_) => errors.push(ValidationError::new("custom_fields", "Expected a mapping.")),
        }
        Ok(Some(Json::Object(data)))
    }

    /// The computed parent of a row (the closest containing prefix of its namespace).
    async fn parent_of(
        &mut self,
        model: &Model,
        rule: &hooks::ParentRule,
        input: &Map<String, Json>,
        values: &BTreeMap<String, Value>,
    ) -> StoreResult<Result<Option<Uuid>, ValidationError>> {
        let namespace = match &rule.namespace {
            hooks::NamespaceSource::Field(name) => values.get(&column_of(model, name)).cloned(),
            hooks::NamespaceSource::Input { key, default } => {
                let given =
                    input.get(*key).cloned().unwrap_or_else(|| Json::String((*default).into()));
                let Some(namespace) = self.catalogue.by_label("ipam.namespace").map(|m| m.id)
                else {
                    return Ok(Ok(None));
                };
                match self.lookup(namespace, &given).await? {
                    Found::One(id) => Some(uuid_value(id)),
                    found => {
                        return Ok(Err(ValidationError::new(
                            *key,
                            self.not_found_message(namespace, &given, found),
                        )))
                    }
                }
            }
        };
        let parent = match namespace {
            Some(ns) => {
                let address = values.get(&column_of(model, rule.address));
                let length = values.get(&column_of(model, rule.length));
                self.closest_prefix(address, length, &ns, rule.strict).await?
            }
            None => None,
        };
        if parent.is_none() && rule.required {
            let key = hooks::inputs(&model.label).first().map_or(rule.address, |i| i.key);
            return Ok(Err(ValidationError::new(
                key,
                "No suitable parent Prefix exists in the namespace.",
            )));
        }
        Ok(Ok(parent))
    }

    /// The most specific prefix of the namespace containing `address` (bytes) of `length`.
    async fn closest_prefix(
        &mut self,
        address: Option<&Value>,
        length: Option<&Value>,
        ns: &Value,
        strict: bool,
    ) -> StoreResult<Option<Uuid>> {
        self.flush_for("ipam_prefix").await?;
        let Some(Value::Bytes(Some(address))) = address else { return Ok(None) };
        let length = match length {
            Some(Value::BigInt(Some(l))) => Some(*l),
            Some(Value::Int(Some(l))) => Some(i64::from(*l)),
            _ => None,
        };
        // A prefix's parent is strictly shorter; an address's is no longer than its mask.
        let below = match length {
            Some(l) if strict => l as u8,
            Some(l) => (l as u8).saturating_add(1),
            None => (address.len() * 8 + 1) as u8,
        };
        let mut any = Cond::any();
        for (network, length) in ipam::containing_networks(address, below) {
            // The namespace in every term, so that each one is a probe of the unique index.
            any = any.add(
                Cond::all()
                    .add(Expr::col(Alias::new("namespace_id")).eq(ns.clone()))
                    .add(Expr::col(Alias::new("network")).eq(Value::Bytes(Some(Box::new(network)))))
                    .add(Expr::col(Alias::new("prefix_length")).eq(i64::from(length))),
            );
        }
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .from(Alias::new("ipam_prefix"))
            .cond_where(any)
            .order_by(Alias::new("prefix_length"), Order::Desc)
            .limit(1);
        let tx = self.tx()?;
        let rows = self.store.query_in(tx, &select).await?;
        Ok(rows.first().and_then(|r| r.try_get_by_index::<Uuid>(0).ok()))
    }

    /// Runs the model's rules and the generic ones (a status or role must apply to the model).
    async fn check_rules(
        &mut self,
        model: &Model,
        after: &Json,
        before: Option<&hooks::Object>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let Some(object) = after.as_object() else { return Ok(()) };
        for (feature, name) in [(model.features.status, "status"), (model.features.role, "role")] {
            let Some(id) = object.get(name).and_then(Json::as_str).filter(|_| feature) else {
                continue;
            };
            let Some((_, field)) = model.field(name) else { continue };
            let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
            let target = self.snapshot_by_id(to, id).await?;
            let applies = target
                .get("content_types")
                .and_then(Json::as_array)
                .is_some_and(|list| list.iter().any(|l| l.as_str() == Some(&model.label)));
            if !applies {
                let shown = target.get("name").and_then(Json::as_str).unwrap_or(id);
                errors.push(ValidationError::new(
                    name,
                    format!("{shown} is not a valid {name} for {}.", model.verbose_name_plural),
                ));
            }
        }
        for rule in hooks::rules(&model.label) {
            let mut related = hooks::Related::new();
            for need in rule.needs {
                let Some((_, field)) = model.field(need) else { continue };
                let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
                let value = match object.get(*need).and_then(Json::as_str) {
                    Some(id) if Some(id) == object.get("id").and_then(Json::as_str) => {
                        after.clone()
                    }
                    Some(id) => self.snapshot_by_id(to, id).await?,
                    None => Json::Null,
                };
                related.insert(need, value);
            }
            for list in rule.lists {
                let rows = self.rule_list(list, object).await?;
                related.insert(list.name, rows);
            }
            errors.extend((rule.check)(object, before, &related));
        }
        Ok(())
    }

    /// A new row becomes the parent of the rows it now contains most closely: those under its
    /// own parent (or without one) in its namespace, inside its range and longer than it
    /// ([`hooks::adoptions`]). One `UPDATE` a kind of child; like Nautobot's, it writes no
    /// change-log rows.
    async fn adopt_children(&mut self, model: &Model, id: Uuid, after: &Json) -> StoreResult<()> {
        let adoptions = hooks::adoptions(&model.label);
        if adoptions.is_empty() {
            return Ok(());
        }
        let Some(rule) = hooks::parent(&model.label) else { return Ok(()) };
        let get = |name: &str| after.get(name).cloned().unwrap_or(Json::Null);
        let (Some(network), Some(length), Some(version)) = (
            get(rule.address).as_str().and_then(stored_ip),
            get(rule.length).as_i64(),
            get("ip_version").as_i64(),
        ) else {
            return Ok(());
        };
        let Some(broadcast) = get("broadcast").as_str().and_then(stored_ip) else {
            return Ok(());
        };
        let parent = get(rule.field).as_str().and_then(|p| Uuid::parse_str(p).ok());
        let namespace = get("namespace").as_str().and_then(|p| Uuid::parse_str(p).ok());
        self.flush().await?;
        let catalogue = self.catalogue.clone();
        for adoption in adoptions.iter().filter(|a| a.on_create) {
            let (Some(child), Some(child_rule)) =
                (catalogue.by_label(adoption.child), hooks::parent(adoption.child))
            else {
                continue;
            };
            let col = |name: &str| Expr::col(Alias::new(column_of(child, name)));
            let mut update = Query::update();
            update
                .table(Alias::new(&child.table))
                .value(Alias::new(column_of(child, child_rule.field)), uuid_value(id))
                .and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)))
                .and_where(col("ip_version").eq(version))
                .and_where(col(child_rule.address).gte(bytes_value(network.clone())))
                .and_where(col(child_rule.address).lte(bytes_value(broadcast.clone())));
            let longer = col(child_rule.length);
            update.and_where(if child_rule.strict {
                longer.gt(length)
            } else {
                longer.gte(length)
            });
            match parent {
                Some(p) => update.and_where(col(child_rule.field).eq(uuid_value(p))),
                None => {
                    let Some(ns) = namespace else { continue };
                    if child.field("namespace").is_none() {
                        continue;
                    }
                    update
                        .and_where(col(child_rule.field).is_null())
                        .and_where(col("namespace").eq(uuid_value(ns)))
                }
            };
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
        }
        self.snapshots.clear();
        Ok(())
    }

    /// A row about to go hands its children to its own parent; children that need a parent
    /// keep a row without one from going (`PROTECTED`).
    async fn hand_children_on(&mut self, model: &Model, id: Uuid) -> StoreResult<()> {
        let adoptions = hooks::adoptions(&model.label);
        let Some(rule) = hooks::parent(&model.label).filter(|_| !adoptions.is_empty()) else {
            return Ok(());
        };
        let me = self.read_snapshot(model, id).await?;
        let parent =
            me.get(rule.field).and_then(Json::as_str).and_then(|p| Uuid::parse_str(p).ok());
        let catalogue = self.catalogue.clone();
        for adoption in adoptions {
            let Some(child) = catalogue.by_label(adoption.child) else { continue };
            let column = column_of(child, "parent");
            if parent.is_none() && adoption.required {
                let orphans = self.ids_where_in(&child.table, &column, &[id]).await?;
                if !orphans.is_empty() {
                    let blocking: Vec<(ModelId, Uuid)> =
                        orphans.into_iter().map(|o| (child.id, o)).collect();
                    let shown = me.get("prefix").and_then(Json::as_str).unwrap_or_default();
                    let mut error = self.protected(model, id, &blocking).await?;
                    if let StoreError::Protected { message, .. } = &mut error {
                        *message = format!(
                            "Cannot delete {} {shown} because it has child {} objects that would no longer have a valid parent.",
                            model.class, child.class
                        );
                    }
                    return Err(error);
                }
                continue;
            }
            let mut update = Query::update();
            update
                .table(Alias::new(&child.table))
                .value(Alias::new(&column), parent.map(uuid_value).unwrap_or(Value::Uuid(None)))
                .and_where(Expr::col(Alias::new(&column)).eq(uuid_value(id)));
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
        }
        self.snapshots.clear();
        Ok(())
    }

    fn is_user_ref(&self, field: &Field) -> bool {
        matches!(field.kind, FieldKind::ForeignKey { to, .. } if self.catalogue.model(to).label == "users.user")
    }

    /// Creates the components a new object gets from its type's templates (through
    /// [`Writer::create`], so each is validated and logged like any object).
    async fn instantiate(
        &mut self,
        model: &Model,
        spec: &hooks::Components,
        owner: Uuid,
        type_id: &str,
        object: &Json,
    ) -> StoreResult<()> {
        let Ok(type_id) = Uuid::parse_str(type_id) else { return Ok(()) };
        let catalogue = self.catalogue.clone();
        // A value of the row a reference of the new object names (its module bay's device).
        let mut through = async |reference: &str, field: &str| -> StoreResult<Json> {
            let target = object.get(reference).and_then(Json::as_str).map(str::to_owned);
            let to = model.field(reference).and_then(|(_, f)| match f.kind {
                FieldKind::ForeignKey { to, .. } => Some(to),
                _ => None,
            });
            Ok(match (target, to) {
                (Some(target), Some(to)) => self
                    .snapshot_by_id(to, &target)
                    .await?
                    .get(field)
                    .cloned()
                    .unwrap_or(Json::Null),
                _ => Json::Null,
            })
        };
        let inherited = match spec.inherit {
            Some((field, reference, of)) => Some((field, through(reference, of).await?)),
            None => None,
        };
        let placeholder = match spec.placeholder {
            Some((text, reference, of)) => {
                let value = match through(reference, of).await? {
                    Json::String(s) => s,
                    Json::Null => String::new(),
                    other => other.to_string(),
                };
                Some((text, value))
            }
            None => None,
        };
        let templates = match self.templates.get(&type_id) {
            Some(t) => t.clone(),
            None => {
                self.flush().await?;
                let mut all = Vec::with_capacity(spec.templates.len());
                for t in spec.templates {
                    let Some(tm) = catalogue.by_label(t.template) else { continue };
                    let column = column_of(tm, spec.template_type_field);
                    let ids = self.ids_where_in(&tm.table, &column, &[type_id]).await?;
                    let found = self.read_snapshots(tm, &ids).await?;
                    let mut rows: Vec<Json> = found.into_values().collect();
                    let name = |r: &Json| {
                        ferrobot_domain::value::naturalize(
                            r.get("name").and_then(Json::as_str).unwrap_or_default(),
                        )
                    };
                    rows.sort_by_key(name);
                    all.push(rows);
                }
                let all = Arc::new(all);
                self.templates.insert(type_id, all.clone());
                all
            }
        };
        // Template id → the component made from it, for references between components.
        let mut made: HashMap<String, Uuid> = HashMap::new();
        for (t, rows) in spec.templates.iter().zip(templates.iter()) {
            let Some(component) = catalogue.by_label(t.component) else { continue };
            for template in rows {
                let mut input = Map::new();
                input.insert(spec.owner_field.into(), Json::String(owner.to_string()));
                for name in ["name", "label", "description"].iter().chain(t.copy) {
                    if let Some(v) = template.get(*name).filter(|v| !v.is_null()) {
                        let value = match (v, &placeholder, *name) {
                            (Json::String(s), Some((text, by)), "name" | "label") => {
                                Json::String(s.replace(text, by))
                            }
                            _ => v.clone(),
                        };
                        input.insert((*name).into(), value);
                    }
                }
                if let Some((field, value)) = inherited.as_ref().filter(|(_, v)| !v.is_null()) {
                    input.insert((*field).into(), value.clone());
                }
                for (field, template_field) in t.refs {
                    let target = template.get(*template_field).and_then(Json::as_str);
                    if let Some(made_id) = target.and_then(|t| made.get(t)) {
                        input.insert((*field).into(), Json::String(made_id.to_string()));
                    }
                }
                for (field, value) in t.fixed {
                    input.insert((*field).into(), Json::String((*value).into()));
                }
                let id = Box::pin(self.create(component, &input)).await?;
                if let Some(tid) = template.get("id").and_then(Json::as_str) {
                    made.insert(tid.to_owned(), id);
                }
            }
        }
        Ok(())
    }

    /// The rows a rule's [`hooks::List`] names, in the change-log form with the targets of
    /// `expand` embedded: an empty list when the object's field is unset.
    async fn rule_list(&mut self, list: &hooks::List, object: &hooks::Object) -> StoreResult<Json> {
        let Some(key) = object.get(list.ours).and_then(Json::as_str) else {
            return Ok(Json::Array(Vec::new()));
        };
        let Ok(key) = Uuid::parse_str(key) else { return Ok(Json::Array(Vec::new())) };
        let catalogue = self.catalogue.clone();
        let model = catalogue
            .by_label(list.model)
            .ok_or_else(|| StoreError::Internal(format!("rule list of {}", list.model)))?;
        let column = column_of(model, list.theirs);
        self.flush().await?;
        let ids = self.ids_where_in(&model.table, &column, &[key]).await?;
        let found = self.read_snapshots(model, &ids).await?;
        let mut rows = Vec::with_capacity(found.len());
        for id in ids {
            let Some(mut row) = found.get(&id).cloned() else { continue };
            for name in list.expand {
                let Some((_, field)) = model.field(name) else { continue };
                let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
                let target = row.get(*name).and_then(Json::as_str).map(str::to_owned);
                if let Some(target) = target {
                    let embedded = self.snapshot_by_id(to, &target).await?;
                    if let Some(map) = row.as_object_mut() {
                        map.insert((*name).to_owned(), embedded);
                    }
                }
            }
            rows.push(row);
        }
        Ok(Json::Array(rows))
    }

    /// A tree's parent may not be the object itself or one of its descendants.
    async fn check_cycle(
        &mut self,
        model: &Model,
        id: Uuid,
        after: &Json,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let mut current = after.get("parent").and_then(Json::as_str).map(str::to_owned);
        let mut steps = 0;
        while let Some(parent) = current {
            if parent == id.to_string() {
                errors.push(ValidationError::new(
                    "parent",
                    format!("A {} cannot be its own ancestor.", model.verbose_name),
                ));
                return Ok(());
            }
            steps += 1;
            if steps > 1000 {
                break;
            }
            let row = self.snapshot_by_id(model.id, &parent).await?;
            current = row.get("parent").and_then(Json::as_str).map(str::to_owned);
        }
        Ok(())
    }

    // ---- References ---------------------------------------------------------------------

    /// The id of the one object `value` names, or `NOT_FOUND`.
    async fn resolve(&mut self, target: ModelId, value: &Json) -> StoreResult<Uuid> {
        match self.lookup(target, value).await? {
            Found::One(id) => Ok(id),
            Found::Many => {
                let message = self.not_found_message(target, value, Found::Many);
                Err(StoreError::Conflict { fields: Vec::new(), message, operation: None })
            }
            Found::None => Err(StoreError::NotFound {
                kind: self.catalogue.model(target).verbose_name.clone(),
                id: value.to_string(),
            }),
        }
    }

    fn not_found_message(&self, target: ModelId, value: &Json, found: Found) -> String {
        let model = self.catalogue.model(target);
        match found {
            Found::Many => format!("{value} matches more than one {}.", model.verbose_name),
            _ => format!("No {} matches {value}.", model.verbose_name),
        }
    }

    /// Looks up the objects of `target` that a reference names.
    async fn lookup(&mut self, target: ModelId, value: &Json) -> StoreResult<Found> {
        let key = value.to_string();
        if let Some(id) = self.refs.get(&target).and_then(|m| m.get(&key)) {
            return Ok(Found::One(*id));
        }
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(target);
        let mut conditions: Vec<(String, Value)> = Vec::new();
        match value {
            Json::String(s) => {
                if let Ok(id) = Uuid::parse_str(s) {
                    if self.known.contains(&(target, id)) {
                        return Ok(Found::One(id));
                    }
                    conditions.push(("id".into(), uuid_value(id)));
                } else {
                    let Some(idx) = model.lookup_field() else {
                        return Ok(Found::None);
                    };
                    let f = &model.fields[idx];
                    let Ok(v) = self.scalar(f, value) else { return Ok(Found::None) };
                    conditions.push((f.column.clone().unwrap_or_default(), v));
                }
            }
            Json::Object(map) => {
                for (k, v) in map {
                    // An input such as `address` names the object by its stored columns.
                    if let Some(input) = hooks::inputs(&model.label).iter().find(|i| i.key == k) {
                        let Some(text) = v.as_str() else { return Ok(Found::None) };
                        let Ok(pairs) = (input.derive)(text) else { return Ok(Found::None) };
                        for (name, value) in pairs {
                            conditions.push((column_of(model, name), derived_value(value)));
                        }
                        continue;
                    }
                    let (name, rest) = match k.split_once("__") {
                        Some((a, b)) => (a, Some(b)),
                        None => (k.as_str(), None),
                    };
                    let Some((_, f)) = model.field(name) else { return Ok(Found::None) };
                    let Some(column) = f.column.clone() else { return Ok(Found::None) };
                    let v = match (&f.kind, v) {
                        (_, Json::Null) => Value::Uuid(None),
                        (FieldKind::ForeignKey { to, .. }, v) => {
                            let nested = match rest {
                                Some(r) => serde_json::json!({ r: v }),
                                None => v.clone(),
                            };
                            match Box::pin(self.lookup(*to, &nested)).await? {
                                Found::One(id) => uuid_value(id),
                                other => return Ok(other),
                            }
                        }
                        (_, v) => match self.scalar(f, v) {
                            Ok(v) => v,
                            Err(_) => return Ok(Found::None),
                        },
                    };
                    conditions.push((column, v));
                }
                if conditions.is_empty() {
                    return Ok(Found::None);
                }
            }
            _ => return Ok(Found::None),
        }
        self.flush_for(&model.table).await?;
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(2);
        for (c, v) in conditions {
            select.and_where(match v {
                Value::Uuid(None) => Expr::col(Alias::new(c)).is_null(),
                v => Expr::col(Alias::new(c)).eq(v),
            });
        }
        let tx = self.tx()?;
        let rows = self.store.query_in(tx, &select).await?;
        let ids: Vec<Uuid> =
            rows.iter().filter_map(|r| r.try_get_by_index::<Uuid>(0).ok()).collect();
        Ok(match ids.as_slice() {
            [id] => {
                self.refs.entry(target).or_default().insert(key, *id);
                Found::One(*id)
            }
            [] => Found::None,
            _ => Found::Many,
        })
    }

    /// The ids a list field names, sorted; `None` when the import deferred them.
    async fn link_targets(
        &mut self,
        owner: Uuid,
        link: LinkField,
        list: &Json,
    ) -> StoreResult<Result<Option<Vec<Uuid>>, String>> {
        let Some(items) = list.as_array() else {
            return Ok(Err("Expected a list of references.".into()));
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match self.lookup(link.target, item).await? {
                Found::One(id) => ids.push(id),
                _ if self.options.defer_references => {
                    self.links.push(PendingLink {
                        owner,
                        link,
                        references: list.clone(),
                        origin: self.operation,
                    });
                    return Ok(Ok(None));
                }
                found => return Ok(Err(self.not_found_message(link.target, item, found))),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Ok(Some(ids)))
    }

    async fn insert_links(
        &mut self,
        link: &LinkField,
        owner: Uuid,
        ids: &[Uuid],
    ) -> StoreResult<()> {
        for other in ids {
            let row_id = Uuid::new_v4();
            let mut cols = vec!["id".to_owned(), link.source.clone(), link.target_column.clone()];
            let mut row = vec![uuid_value(row_id), uuid_value(owner), uuid_value(*other)];
            if let Some(ct) = &link.content_type {
                cols.push("content_type".into());
                row.push(ct.as_str().into());
            }
            if let Some(tm) = link.through {
                let through = self.catalogue.clone();
                let through = through.model(tm);
                let mut snapshot = Map::new();
                snapshot.insert("id".into(), Json::String(row_id.to_string()));
                for f in &through.fields {
                    match (&f.kind, &f.column) {
                        (FieldKind::Boolean, Some(c)) => {
                            let flag = f.default.as_ref().and_then(Json::as_bool).unwrap_or(false);
                            cols.push(c.clone());
                            row.push(Value::Bool(Some(flag)));
                            snapshot.insert(f.name.clone(), Json::Bool(flag));
                        }
                        (_, Some(c)) if *c == link.source => {
                            snapshot.insert(f.name.clone(), Json::String(owner.to_string()));
                        }
                        (_, Some(c)) if *c == link.target_column => {
                            snapshot.insert(f.name.clone(), Json::String(other.to_string()));
                        }
                        (FieldKind::ForeignKey { .. }, Some(_)) => {
                            snapshot.insert(f.name.clone(), Json::Null);
                        }
                        _ => {}
                    }
                }
                // Link rows that are objects of their own are changes of their own.
                self.log(Change {
                    action: Action::Create,
                    model: tm,
                    id: row_id,
                    before: None,
                    after: Some(Json::Object(snapshot)),
                });
            }
            self.push(&link.table, &cols, row);
        }
        Ok(())
    }

    async fn replace_links(
        &mut self,
        link: &LinkField,
        owner: Uuid,
        old: &[Uuid],
        new: &[Uuid],
    ) -> StoreResult<()> {
        let gone: Vec<Uuid> = old.iter().filter(|o| !new.contains(o)).copied().collect();
        let added: Vec<Uuid> = new.iter().filter(|n| !old.contains(n)).copied().collect();
        if !gone.is_empty() {
            self.flush().await?;
            if let Some(tm) = link.through {
                let through = self.catalogue.clone();
                let through = through.model(tm);
                let mut select = Query::select();
                select
                    .column(Alias::new("id"))
                    .from(Alias::new(&link.table))
                    .and_where(Expr::col(Alias::new(&link.source)).eq(uuid_value(owner)))
                    .and_where(
                        Expr::col(Alias::new(&link.target_column))
                            .is_in(gone.iter().map(|g| uuid_value(*g))),
                    );
                let tx = self.tx()?;
                let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
                let ids: Vec<Uuid> = rows.cells.iter().filter_map(Cell::as_uuid).collect();
                let snapshots = self.read_snapshots(through, &ids).await?;
                for id in ids {
                    let before = snapshots.get(&id).cloned();
                    self.log(Change { action: Action::Delete, model: tm, id, before, after: None });
                }
            }
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(&link.table))
                .and_where(Expr::col(Alias::new(&link.source)).eq(uuid_value(owner)))
                .and_where(
                    Expr::col(Alias::new(&link.target_column))
                        .is_in(gone.iter().map(|g| uuid_value(*g))),
                );
            if let Some(ct) = &link.content_type {
                delete.and_where(Expr::col(Alias::new("content_type")).eq(ct.as_str()));
            }
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
        }
        self.insert_links(link, owner, &added).await
    }

    // ---- Reading rows -------------------------------------------------------------------

    async fn ids_where_in(
        &mut self,
        table: &str,
        column: &str,
        keys: &[Uuid],
    ) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(1000) {
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(table)).and_where(
                Expr::col(Alias::new(column)).is_in(chunk.iter().map(|k| uuid_value(*k))),
            );
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
            out.extend(rows.cells.iter().filter_map(Cell::as_uuid));
        }
        Ok(out)
    }

    /// One stored object in the change-log form, cached for the rules.
    async fn snapshot_by_id(&mut self, model: ModelId, id: &str) -> StoreResult<Json> {
        let Ok(id) = Uuid::parse_str(id) else { return Ok(Json::Null) };
        if let Some(s) = self.snapshots.get(&(model, id)) {
            return Ok(s.clone());
        }
        let catalogue = self.catalogue.clone();
        let found = self.read_snapshots(catalogue.model(model), &[id]).await?;
        let snapshot = found.get(&id).cloned().unwrap_or(Json::Null);
        self.snapshots.insert((model, id), snapshot.clone());
        Ok(snapshot)
    }

    async fn read_snapshot(&mut self, model: &Model, id: Uuid) -> StoreResult<Json> {
        let found = self.read_snapshots(model, &[id]).await?;
        found
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { kind: model.label.clone(), id: id.to_string() })
    }

    /// Stored objects in the change-log form: fields, custom fields, tags and list fields.
    async fn read_snapshots(
        &mut self,
        model: &Model,
        ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Json>> {
        self.flush().await?;
        let mut out = HashMap::new();
        let (select, types, names) = crate::import::object_select(model);
        let mut lists: Vec<LinkField> = model
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::ManyToMany { .. }))
            .map(|f| link_field(&self.catalogue, model, &f.name))
            .collect();
        if model.features.tags {
            lists.push(tags_link(&self.catalogue, model));
        }
        for chunk in ids.chunks(1000) {
            let mut select = select.clone();
            select
                .from(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().map(|k| uuid_value(*k))));
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &types).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let mut obj = crate::import::object_json(model, &names, row);
                computed_json(model, &mut obj);
                if let Some(id) = row[0].as_uuid() {
                    out.insert(id, Json::Object(obj));
                }
            }
            for link in &lists {
                let mut select = Query::select();
                select
                    .columns([&link.source, &link.target_column].map(Alias::new))
                    .from(Alias::new(&link.table))
                    .and_where(
                        Expr::col(Alias::new(&link.source))
                            .is_in(chunk.iter().map(|k| uuid_value(*k))),
                    );
                if let Some(ct) = &link.content_type {
                    select.and_where(Expr::col(Alias::new("content_type")).eq(ct.as_str()));
                }
                let tx = self.tx()?;
                let rows =
                    self.store.fetch_in(tx, &select, &[ColType::Uuid, ColType::Uuid]).await?;
                let mut by_owner: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
                for r in 0..rows.len() {
                    let row = rows.row(r);
                    if let (Some(s), Some(t)) = (row[0].as_uuid(), row[1].as_uuid()) {
                        by_owner.entry(s).or_default().push(t);
                    }
                }
                for (owner, obj) in out.iter_mut() {
                    let mut targets = by_owner.remove(owner).unwrap_or_default();
                    targets.sort_unstable();
                    if let Some(map) = obj.as_object_mut() {
                        map.insert(link.name.clone(), uuid_json(&targets));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Drops what this writer remembers of an object that changed. Every cached reference
    /// goes: one may have named the object through another (`{device: {name: …}, name: …}`).
    fn forget(&mut self, model: ModelId, id: Uuid) {
        self.snapshots.remove(&(model, id));
        self.refs.clear();
        if self.catalogue.model(model).label.ends_with("template") {
            self.templates.clear();
        }
    }

    async fn delete_rows(&mut self, model: &Model, ids: &[Uuid]) -> StoreResult<()> {
        let catalogue = self.catalogue.clone();
        for chunk in ids.chunks(1000) {
            let in_chunk = || chunk.iter().map(|k| uuid_value(*k));
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(in_chunk()));
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
            // Link rows that name the object from either end.
            for other in catalogue.models() {
                for field in &other.fields {
                    let FieldKind::ManyToMany { to, through, .. } = &field.kind else { continue };
                    if through.model.is_some() {
                        continue;
                    }
                    for (owner, column) in
                        [(other.id, &through.source_column), (*to, &through.target_column)]
                    {
                        if owner == model.id {
                            let mut delete = Query::delete();
                            delete
                                .from_table(Alias::new(&through.table))
                                .and_where(Expr::col(Alias::new(column)).is_in(in_chunk()));
                            let tx = self.tx()?;
                            self.store.execute_in(tx, &delete).await?;
                        }
                    }
                }
            }
            let mut tagged = Query::delete();
            tagged.from_table(Alias::new("extras_taggeditem"));
            if model.label == "extras.tag" {
                tagged.and_where(Expr::col(Alias::new("tag_id")).is_in(in_chunk()));
            } else if model.features.tags {
                tagged
                    .and_where(Expr::col(Alias::new("content_type")).eq(model.label.as_str()))
                    .and_where(Expr::col(Alias::new("object_id")).is_in(in_chunk()));
            } else {
                continue;
            }
            let tx = self.tx()?;
            self.store.execute_in(tx, &tagged).await?;
        }
        Ok(())
    }

    async fn protected(
        &mut self,
        model: &Model,
        id: Uuid,
        blocking: &[(ModelId, Uuid)],
    ) -> StoreResult<StoreError> {
        let catalogue = self.catalogue.clone();
        let mut objects = Vec::new();
        for (m, r) in blocking.iter().take(50) {
            let other = catalogue.model(*m);
            let snapshot = self.snapshot_by_id(*m, &r.to_string()).await?;
            objects.push(format!("{} {} ({r})", other.verbose_name, repr_of(other, &snapshot)));
        }
        let own = self.snapshot_by_id(model.id, &id.to_string()).await?;
        Ok(StoreError::Protected {
            message: format!(
                "Unable to delete {} {}. {} dependent objects were found: {}",
                model.verbose_name,
                repr_of(model, &own),
                blocking.len(),
                objects.join(", ")
            ),
            objects,
        })
    }

    // ---- Uniqueness ---------------------------------------------------------------------

    /// Every unique constraint of a model, as field indices.
    fn constraints(model: &Model) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = model
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.unique && !f.primary_key && f.column.is_some())
            .map(|(i, _)| vec![i])
            .collect();
        out.extend(model.unique_together.iter().cloned());
        out
    }

    /// Catches duplicates among the rows of this write before the database sees them.
    fn remember_unique(
        &mut self,
        model: &Model,
        id: Uuid,
        values: &BTreeMap<String, Value>,
    ) -> StoreResult<()> {
        for (cidx, fields) in Self::constraints(model).into_iter().enumerate() {
            let mut key = Vec::with_capacity(fields.len());
            for &f in &fields {
                let column = model.fields[f].column.clone().unwrap_or_default();
                match values.get(&column) {
                    Some(v) if !is_null(v) => key.push(format!("{v:?}")),
                    _ => {
                        key.clear();
                        break;
                    }
                }
            }
            if key.is_empty() {
                continue;
            }
            let seen = self.unique_keys.entry((model.id, cidx)).or_default();
            if seen.contains_key(&key) {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
            seen.insert(key.clone(), (id, self.operation));
            self.keys_of.entry(id).or_default().push(((model.id, cidx), key));
        }
        Ok(())
    }

    /// Forgets the unique keys an object had: it changed or went away.
    fn forget_unique(&mut self, id: Uuid) {
        for (slot, key) in self.keys_of.remove(&id).unwrap_or_default() {
            if let Some(keys) = self.unique_keys.get_mut(&slot) {
                keys.remove(&key);
            }
        }
    }

    /// An update may not take another object's unique values.
    async fn check_unique_update(
        &mut self,
        model: &Model,
        id: Uuid,
        stored: &BTreeMap<String, Value>,
    ) -> StoreResult<()> {
        for fields in Self::constraints(model) {
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
            let mut complete = true;
            for &f in &fields {
                let column = model.fields[f].column.clone().unwrap_or_default();
                match stored.get(&column) {
                    Some(v) if !is_null(v) => {
                        select.and_where(Expr::col(Alias::new(column)).eq(v.clone()));
                    }
                    _ => complete = false,
                }
            }
            if !complete {
                continue;
            }
            select.and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)));
            self.flush_for(&model.table).await?;
            let tx = self.tx()?;
            if !self.store.query_in(tx, &select).await?.is_empty() {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
        }
        Ok(())
    }

    /// The model's hook uniqueness ([`hooks::unique_sets`]), nulls matching nulls: against the
    /// rows this write queued (remembered) and the stored ones (one probe).
    async fn check_unique_sets(
        &mut self,
        model: &Model,
        id: Uuid,
        values: &BTreeMap<String, Value>,
    ) -> StoreResult<()> {
        for (n, set) in hooks::unique_sets(&model.label).iter().enumerate() {
            let columns: Vec<String> = set.iter().map(|f| column_of(model, f)).collect();
            let Some(last) = columns.last() else { continue };
            if values.get(last).is_none_or(is_null) {
                continue;
            }
            let key: Vec<String> = columns
                .iter()
                .map(|c| {
                    values
                        .get(c)
                        .filter(|v| !is_null(v))
                        .map(|v| format!("{v:?}"))
                        .unwrap_or_default()
                })
                .collect();
            let fields: Vec<usize> =
                set.iter().filter_map(|f| model.field(f).map(|(i, _)| i)).collect();
            let slot = (model.id, usize::MAX - n);
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
            for c in &columns {
                select.and_where(match values.get(c).filter(|v| !is_null(v)) {
                    Some(v) => Expr::col(Alias::new(c)).eq(v.clone()),
                    None => Expr::col(Alias::new(c)).is_null(),
                });
            }
            select.and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)));
            let tx = self.tx()?;
            let taken = !self.store.query_in(tx, &select).await?.is_empty()
                || self
                    .unique_keys
                    .get(&slot)
                    .and_then(|k| k.get(&key))
                    .is_some_and(|(other, _)| *other != id);
            if taken {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
            self.unique_keys.entry(slot).or_default().insert(key.clone(), (id, self.operation));
            self.keys_of.entry(id).or_default().push((slot, key));
        }
        Ok(())
    }

    /// After the database refused a batch: the first row that takes existing unique values.
    /// What a diagnosis needs should the database refuse a batch: for each unique constraint
    /// of the table's model, the constrained values of every row (not the whole rows, which
    /// the insert consumes).
    fn suspects(&self, batch: &Batch) -> Suspects {
        let mut out =
            Suspects { model: None, constraints: Vec::new(), origins: batch.origins.clone() };
        let Some(model) = self.catalogue.models().iter().find(|m| m.table == batch.table) else {
            return out;
        };
        out.model = Some(model.id);
        for fields in Self::constraints(model) {
            let positions: Option<Vec<usize>> = fields
                .iter()
                .map(|&f| {
                    let column = model.fields[f].column.as_deref()?;
                    batch.columns.iter().position(|b| b == column)
                })
                .collect();
            let Some(positions) = positions else { continue };
            let rows = batch
                .rows
                .iter()
                .map(|row| positions.iter().map(|&p| row[p].clone()).collect())
                .collect();
            out.constraints.push((fields, rows));
        }
        out
    }

    /// After the database refused a batch: the first row that takes existing unique values.
    async fn diagnose(&mut self, suspects: Suspects) -> StoreResult<StoreError> {
        let catalogue = self.catalogue.clone();
        let Some(model) = suspects.model.map(|m| catalogue.model(m)) else {
            return Ok(StoreError::Conflict {
                fields: Vec::new(),
                message: "rows conflict with existing ones".into(),
                operation: None,
            });
        };
        for (fields, rows) in &suspects.constraints {
            let columns: Vec<String> =
                fields.iter().filter_map(|&f| model.fields[f].column.clone()).collect();
            for (r, row) in rows.iter().enumerate() {
                if row.iter().any(is_null) {
                    continue;
                }
                let mut select = Query::select();
                select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
                for (c, v) in columns.iter().zip(row) {
                    select.and_where(Expr::col(Alias::new(c)).eq(v.clone()));
                }
                let tx = self.tx()?;
                if !self.store.query_in(tx, &select).await?.is_empty() {
                    return Ok(conflict(model, fields, suspects.origins.get(r).copied()));
                }
            }
        }
        Ok(StoreError::Conflict {
            fields: Vec::new(),
            message: format!("{} objects conflict with existing ones", model.verbose_name),
            operation: None,
        })
    }

    // ---- Batching and the change log ----------------------------------------------------

    /// Queues a row; rows of one table with the same columns share a batch. The open batches
    /// are few (a table or two per model written), so finding one is a short scan, with no
    /// allocation for the rows that join it.
    fn push<S: AsRef<str>>(&mut self, table: &str, columns: &[S], row: Vec<Value>) {
        let same = |b: &Batch| {
            b.table == table
                && b.columns.len() == columns.len()
                && b.columns.iter().zip(columns).all(|(a, c)| a == c.as_ref())
        };
        let at = match self.batches.iter().position(same) {
            Some(at) => at,
            None => {
                self.batches.push(Batch {
                    table: table.to_owned(),
                    columns: columns.iter().map(|c| c.as_ref().to_owned()).collect(),
                    rows: Vec::new(),
                    origins: Vec::new(),
                });
                self.batches.len() - 1
            }
        };
        let batch = &mut self.batches[at];
        batch.rows.push(row);
        batch.origins.push(self.operation);
        if batch.rows.len() >= BATCH_ROWS {
            let rows = std::mem::take(&mut batch.rows);
            let origins = std::mem::take(&mut batch.origins);
            let full =
                Batch { table: batch.table.clone(), columns: batch.columns.clone(), rows, origins };
            self.ready.push(full);
        }
    }

    /// Queues the change-log row of one change, with the next sequence number.
    fn log(&mut self, change: Change) {
        self.changes += 1;
        let Some(log_table) = self.change_log_table.clone() else { return };
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(change.model);
        self.sequence += 1;
        let shown = change
            .after
            .as_ref()
            .or(change.before.as_ref())
            .map(|s| repr_of(model, s))
            .unwrap_or_default();
        // One snapshot is stored once: `object_data` is the object after the change (before it,
        // for a delete), `prechange_data` the object before an update or a delete.
        let (object_data, prechange) = match change.action {
            Action::Delete => (change.before, None),
            _ => (change.after, change.before),
        };
        // SQLite and MySQL take the snapshots as text, serialised once here; PostgreSQL binds
        // jsonb from the value.
        let as_text = self.store.backend() != crate::Backend::Postgres;
        let json = |v: Option<Json>| match v {
            Some(v) if as_text => Value::String(Some(Box::new(v.to_string()))),
            Some(v) => Value::Json(Some(Box::new(v))),
            None if as_text => Value::String(None),
            None => Value::Json(None),
        };
        let text = |s: &str| Value::String(Some(Box::new(s.to_owned())));
        let columns = [
            "id",
            "time",
            "user_id",
            "user_name",
            "request_id",
            "action",
            "changed_object_type_id",
            "changed_object_id",
            "change_context",
            "change_context_detail",
            "related_object_type_id",
            "related_object_id",
            "object_repr",
            "object_data",
            "prechange_data",
            "sequence",
        ];
        // Time-ordered ids: change-log rows are only ever appended, and so is their key index.
        let row = vec![
            uuid_value(Uuid::now_v7()),
            Value::ChronoDateTimeUtc(Some(Box::new(self.now))),
            Value::Uuid(self.options.actor.user_id.map(Box::new)),
            text(&self.options.actor.user_name),
            uuid_value(self.options.request_id),
            text(change.action.as_str()),
            text(&model.label),
            uuid_value(change.id),
            text(self.options.context),
            text(&self.options.detail),
            Value::String(None),
            Value::Uuid(None),
            text(&shown.chars().take(200).collect::<String>()),
            json(object_data),
            json(prechange),
            Value::BigInt(Some(self.sequence)),
        ];
        self.push(&log_table, &columns, row);
    }

    /// Writes what is pending when a read is about to look at `table`: reads of tables with
    /// nothing pending (the devices a bulk create of interfaces names) leave the batches to fill.
    async fn flush_for(&mut self, table: &str) -> StoreResult<()> {
        let pending = self.ready.iter().any(|b| b.table == table)
            || self.batches.iter().any(|b| b.table == table && !b.rows.is_empty());
        if pending {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes every pending batch. A batch the database refuses for a unique constraint is
    /// diagnosed under a savepoint, so the error names the constraint and the operation.
    async fn flush(&mut self) -> StoreResult<()> {
        let mut batches = std::mem::take(&mut self.ready);
        batches
            .extend(std::mem::take(&mut self.batches).into_iter().filter(|b| !b.rows.is_empty()));
        self.write_batches(batches).await
    }

    async fn write_batches(&mut self, batches: Vec<Batch>) -> StoreResult<()> {
        for batch in batches {
            let suspects = self.suspects(&batch);
            let tx = self.tx()?;
            // A statement PostgreSQL refuses spoils the transaction, so the insert runs under
            // a savepoint there; SQLite and MySQL undo just the failed statement (a savepoint
            // would make SQLite journal every page the insert touches).
            let result = if self.store.backend() == crate::Backend::Postgres {
                let savepoint = tx.begin().await?;
                let result = self.store.insert_batch(&savepoint, batch).await;
                match result {
                    Ok(()) => savepoint.commit().await?,
                    Err(_) => savepoint.rollback().await?,
                }
                result
            } else {
                self.store.insert_batch(tx, batch).await
            };
            match result {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => return Err(self.diagnose(suspects).await?),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn conflict(model: &Model, fields: &[usize], operation: Option<usize>) -> StoreError {
    StoreError::Conflict {
        fields: fields.iter().map(|&f| model.fields[f].name.clone()).collect(),
        message: validate::unique_message(model, fields),
        operation,
    }
}

fn is_null(v: &Value) -> bool {
    matches!(
        v,
        Value::Uuid(None)
            | Value::String(None)
            | Value::BigInt(None)
            | Value::Int(None)
            | Value::Bool(None)
            | Value::Json(None)
            | Value::Bytes(None)
            | Value::ChronoDate(None)
            | Value::ChronoDateTimeUtc(None)
    )
}

/// Keys of the input that are neither fields nor inputs of the model.
fn unknown_keys(model: &Model, input: &Map<String, Json>, errors: &mut Vec<ValidationError>) {
    for key in input.keys() {
        let known = model.field(key).is_some()
            || (key == "tags" && model.features.tags)
            || (matches!(key.as_str(), "custom_fields" | "_custom_field_data")
                && model.features.custom_fields)
            || hooks::is_input(&model.label, key);
        if !known {
            errors.push(ValidationError::new(key, format!("{} has no field {key}.", model.label)));
        }
    }
}

/// Stores a field's value and, for naturally ordered fields, the companion ordering column.
fn put(values: &mut BTreeMap<String, Value>, field: &Field, column: String, value: Value) {
    if field.natural_order {
        let text = match &value {
            Value::String(Some(s)) => Some(naturalize(s)),
            _ => None,
        };
        values.insert(format!("_{}", field.name), Value::String(text.map(Box::new)));
    }
    values.insert(column, value);
}

fn link_field(catalogue: &Catalogue, model: &Model, name: &str) -> LinkField {
    let field = model.field(name).map(|(_, f)| f);
    match field.map(|f| &f.kind) {
        Some(FieldKind::ManyToMany { to, through, .. }) => LinkField {
            name: name.to_owned(),
            table: through.table.clone(),
            source: through.source_column.clone(),
            target_column: through.target_column.clone(),
            target: *to,
            through: through.model,
            content_type: None,
        },
        _ => tags_link(catalogue, model),
    }
}

fn tags_link(catalogue: &Catalogue, model: &Model) -> LinkField {
    LinkField {
        name: "tags".into(),
        table: "extras_taggeditem".into(),
        source: "object_id".into(),
        target_column: "tag_id".into(),
        target: catalogue.by_label("extras.tag").map(|m| m.id).unwrap_or_default(),
        through: None,
        content_type: Some(model.label.clone()),
    }
}

/// The model a reference field names.
fn field_target(field: &Field) -> ModelId {
    match &field.kind {
        FieldKind::ForeignKey { to, .. } | FieldKind::ManyToMany { to, .. } => *to,
        _ => 0,
    }
}

/// The column of a model's field (a foreign key's `_id` column), by field name.
fn column_of(model: &Model, name: &str) -> String {
    model.column_of(name)
}

fn derived_value(value: hooks::Derived) -> Value {
    match value {
        hooks::Derived::Bytes(b) => Value::Bytes(Some(Box::new(b))),
        hooks::Derived::Int(i) => Value::BigInt(Some(i)),
    }
}

fn scalar_value(field: &Field, scalar: Scalar) -> Value {
    match scalar {
        Scalar::Null => null_of(&field.kind),
        Scalar::Text(s) => Value::String(Some(Box::new(s))),
        Scalar::Int(i) => Value::BigInt(Some(i)),
        Scalar::Bool(b) => Value::Bool(Some(b)),
        Scalar::DateTime(d) => Value::ChronoDateTimeUtc(Some(Box::new(d))),
        Scalar::Date(d) => Value::ChronoDate(Some(Box::new(d))),
        Scalar::Json(j) => Value::Json(Some(Box::new(j))),
        Scalar::Bytes(b) => Value::Bytes(Some(Box::new(b))),
        Scalar::Uuid(u) => uuid_value(u),
    }
}

/// The stored value of a field the input left out and that has no default.
fn absent_value(field: &Field) -> Value {
    match &field.kind {
        FieldKind::ContentTypes => Value::Json(Some(Box::new(Json::Array(Vec::new())))),
        FieldKind::String { .. } | FieldKind::Text | FieldKind::Choice { .. }
            if field.blank && !field.null =>
        {
            Value::String(Some(Box::new(String::new())))
        }
        other => null_of(other),
    }
}

pub(crate) fn null_of(kind: &FieldKind) -> Value {
    match col_type(kind) {
        ColType::Uuid => Value::Uuid(None),
        ColType::Text => Value::String(None),
        ColType::Int(_) => Value::BigInt(None),
        ColType::Bool => Value::Bool(None),
        ColType::DateTime => Value::ChronoDateTimeUtc(None),
        ColType::Date => Value::ChronoDate(None),
        ColType::Json | ColType::JsonText => Value::Json(None),
        ColType::Bytes => Value::Bytes(None),
    }
}

/// A stored value in the change-log form.
fn value_json(field: &Field, value: &Value) -> Json {
    match value {
        Value::Bool(Some(b)) => Json::Bool(*b),
        Value::BigInt(Some(i)) => Json::from(*i),
        Value::Int(Some(i)) => Json::from(*i),
        Value::String(Some(s)) => Json::String(s.to_string()),
        Value::Uuid(Some(u)) => Json::String(u.to_string()),
        Value::Json(Some(j)) => (**j).clone(),
        Value::ChronoDateTimeUtc(Some(d)) => Json::String(d.to_rfc3339()),
        Value::ChronoDate(Some(d)) => Json::String(d.to_string()),
        Value::Bytes(Some(b)) => match (&field.kind, ip_from_bytes(b)) {
            (FieldKind::IpBytes, Some(ip)) => Json::String(ip.to_string()),
            _ => Json::Null,
        },
        _ => Json::Null,
    }
}

/// The change-log form of a new object.
fn snapshot_of(
    model: &Model,
    id: Uuid,
    values: &BTreeMap<String, Value>,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) -> Json {
    let mut obj = Map::new();
    obj.insert("id".into(), Json::String(id.to_string()));
    let mut after = Json::Object(obj);
    for (_, field, column) in model.columns() {
        if !field.primary_key {
            let v = values.get(column).map(|v| value_json(field, v)).unwrap_or(Json::Null);
            if let Some(map) = after.as_object_mut() {
                map.insert(field.name.clone(), v);
            }
        }
    }
    let mut lists = lists.clone();
    for field in &model.fields {
        if matches!(field.kind, FieldKind::ManyToMany { .. }) {
            lists.entry(field.name.clone()).or_default();
        }
    }
    if model.features.tags {
        lists.entry("tags".into()).or_default();
    }
    merge_snapshot(model, &mut after, &BTreeMap::new(), &lists, custom);
    after
}

/// Applies changed columns, list fields and custom fields to a snapshot.
fn merge_snapshot(
    model: &Model,
    snapshot: &mut Json,
    values: &BTreeMap<String, Value>,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) {
    let Some(map) = snapshot.as_object_mut() else { return };
    for (_, field, column) in model.columns() {
        if let Some(v) = values.get(column) {
            map.insert(field.name.clone(), value_json(field, v));
        }
    }
    for (name, ids) in lists {
        map.insert(name.clone(), uuid_json(ids));
    }
    if let Some(custom) = custom {
        map.insert("custom_fields".into(), custom.clone());
    }
    computed_json(model, map);
}

/// `address` and `prefix`: the stored bytes, a slash, the length.
fn computed_json(model: &Model, map: &mut Map<String, Json>) {
    for computed in &model.computed {
        let a = map.get(&model.fields[computed.from[0]].name).and_then(Json::as_str);
        let b = map.get(&model.fields[computed.from[1]].name).and_then(Json::as_i64);
        let value = match (a, b) {
            (Some(ip), Some(len)) => Json::String(format!("{ip}/{len}")),
            _ => Json::Null,
        };
        map.insert(computed.name.clone(), value);
    }
}

/// The stored values a snapshot holds, by column (for uniqueness checks and parent rules).
fn stored_values(model: &Model, snapshot: &Json) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (_, field, column) in model.columns() {
        let Some(v) = snapshot.get(&field.name) else { continue };
        let value = match (&field.kind, v) {
            (FieldKind::ForeignKey { .. } | FieldKind::Uuid, Json::String(s)) => {
                Uuid::parse_str(s).map(uuid_value).unwrap_or(Value::Uuid(None))
            }
            (FieldKind::IpBytes, Json::String(s)) => match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Value::Bytes(Some(Box::new(ferrobot_domain::value::ip_to_bytes(ip)))),
                Err(_) => Value::Bytes(None),
            },
            (FieldKind::Integer { .. }, Json::Number(n)) => Value::BigInt(n.as_i64()),
            (FieldKind::Boolean, Json::Bool(b)) => Value::Bool(Some(*b)),
            (_, Json::String(s)) => Value::String(Some(Box::new(s.clone()))),
            (_, Json::Null) => null_of(&field.kind),
            (_, other) => Value::Json(Some(Box::new(other.clone()))),
        };
        out.insert(column.to_owned(), value);
    }
    out
}

fn without_timestamps(snapshot: &Json) -> Json {
    let mut s = snapshot.clone();
    if let Some(map) = s.as_object_mut() {
        map.remove("created");
        map.remove("last_updated");
    }
    s
}

fn uuid_json(ids: &[Uuid]) -> Json {
    Json::Array(ids.iter().map(|i| Json::String(i.to_string())).collect())
}

fn uuid_list(value: Option<&Json>) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = value
        .and_then(Json::as_array)
        .map(|a| {
            a.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// How an object is named in the change log: its natural-key field, its address or prefix, or
/// its id (Nautobot's `str(obj)`).
pub fn repr_of(model: &Model, snapshot: &Json) -> String {
    if let Some(computed) = model.computed.first() {
        if let Some(s) = snapshot.get(&computed.name).and_then(Json::as_str) {
            return s.to_owned();
        }
    }
    if let Some(idx) = model.lookup_field() {
        if let Some(s) = snapshot.get(&model.fields[idx].name).and_then(Json::as_str) {
            return s.to_owned();
        }
    }
    snapshot.get("id").and_then(Json::as_str).unwrap_or_default().to_owned()
}
