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
use ferrobot_domain::catalogue::{
    FieldKind, Model, ModelId, OnDelete, CHANGE_LOG, CUSTOM_FIELD, CUSTOM_FIELD_CHOICE,
};
use ferrobot_domain::row::Row;
use ferrobot_domain::validate;
use ferrobot_domain::value::naturalize;
use ferrobot_domain::value::Datum;
use ferrobot_domain::{hooks, ipam, Catalogue, CustomField, DomainError, Field, ValidationError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use sea_query::{Alias, Cond, Expr, Order, Query, Value};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

mod associations;
mod batch;
mod behaviour;
mod cascade;
mod change_log;
mod data_rules;
mod grants;
mod graphs;
mod input;
mod operations;
mod owned;
mod paths;
mod refs;
mod unique;

use self::{batch::is_null, change_log::*, input::*, refs::*};
use crate::bind::{bind, bind_row, column_type, CUSTOM_FIELD_DATA};

use crate::cell::{Cell, ColType, Rows};
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
    /// What the writing user may do ([`grants`]); everything unless the caller says.
    pub permissions: Arc<ferrobot_domain::permission::Permissions>,
    /// The owner the write acts for (a Git repository's sync): the owned rows it may write
    /// ([`ferrobot_domain::owner`]). None for a user's own write, which may not touch them.
    pub acting_for: Option<ferrobot_domain::owner::Owner>,
}

impl WriteOptions {
    pub fn new(actor: Actor, context: &'static str, detail: impl Into<String>) -> WriteOptions {
        WriteOptions {
            request_id: Uuid::new_v4(),
            context,
            detail: detail.into(),
            change_log: true,
            defer_references: false,
            instantiate_components: true,
            permissions: Arc::new(ferrobot_domain::permission::Permissions::superuser(
                actor.user_id.unwrap_or_default(),
            )),
            actor,
            acting_for: None,
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

/// A row on its way to a model's table: column → value. It becomes database values only in
/// [`crate::bind`], as a statement is built.
type Values = BTreeMap<String, Datum>;

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
    /// (column, label): the content type the link rows name (generic through tables).
    content_type: Option<(String, String)>,
}

/// A change-log row not yet queued; held while the object waits for deferred references.
struct Change {
    action: Action,
    model: ModelId,
    id: Uuid,
    before: Option<Row>,
    after: Option<Row>,
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
type UniqueKey = Vec<Datum>;

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
    /// The relationships, read once a write and again after one is written (`associations.rs`).
    relationships: Option<Arc<Vec<ferrobot_domain::relationship::Relationship>>>,
    /// The enabled data validation rules, read once a write (`data_rules.rs`).
    data_rules: Option<Arc<ferrobot_domain::data_validation::Rules>>,
    /// Resolved references per model, by the reference's JSON text.
    refs: HashMap<ModelId, HashMap<String, Uuid>>,
    /// Objects this writer created, which references by id need not look up.
    known: HashSet<(ModelId, Uuid)>,
    /// Unique keys of rows this writer wrote: (model, constraint) → key → (object, operation).
    unique_keys: HashMap<UniqueSlot, HashMap<UniqueKey, (Uuid, usize)>>,
    /// The keys above by object, so that an update or a delete can take them back.
    keys_of: HashMap<Uuid, Vec<(UniqueSlot, UniqueKey)>>,
    snapshots: HashMap<(ModelId, Uuid), Row>,
    /// Stored rows as rules read them (without list fields), kept like the snapshots.
    rule_rows: HashMap<(ModelId, Uuid), Row>,
    /// Models whose rows a rule lists (a cable's ends, a rack's devices), with the fields the
    /// lists select them by; rows of those this writer created, by model and id, and by the
    /// value of each such field, so that a rule finds queued rows without a flush.
    listed_models: HashMap<ModelId, Vec<&'static str>>,
    created_listed: HashMap<ModelId, HashMap<Uuid, Row>>,
    listed_by: HashMap<(ModelId, &'static str, Uuid), Vec<Uuid>>,
    deferred: Vec<Pending>,
    links: Vec<PendingLink>,
    held: HashMap<Uuid, Change>,
    /// The templates of each device type this writer instantiated, per kind of template;
    /// dropped whenever the writer writes a template.
    templates: HashMap<Uuid, Arc<Vec<Vec<Json>>>>,
    /// Cables and cable ends this write touched: their paths are traced again at the end.
    dirty_cables: HashSet<Uuid>,
    dirty_endpoints: HashSet<ferrobot_domain::cable::Endpoint>,
    /// Set while the write acts on its own (components, cleared references): no permission
    /// checks, and nothing it resolves is remembered for the user's references.
    trusted: bool,
    /// Objects written under a constraint, checked when the write ends.
    after_checks: Vec<grants::AfterCheck>,
    /// Objects this write deleted.
    gone: HashSet<Uuid>,
}

/// Models whose rows a rule lists, with the fields the lists select them by.
fn listed_models(catalogue: &Catalogue) -> HashMap<ModelId, Vec<&'static str>> {
    let mut out: HashMap<ModelId, Vec<&'static str>> = HashMap::new();
    for list in catalogue.models().iter().flat_map(|m| m.behaviour.rules).flat_map(|r| r.lists) {
        if let Some(model) = catalogue.by_label(list.model) {
            let fields = out.entry(model.id).or_default();
            if !fields.contains(&list.theirs) {
                fields.push(list.theirs);
            }
        }
    }
    out
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
        let rows = if self.backend == crate::Backend::MySql {
            // MySQL's UPDATE returns no rows: the value is read after the lock is taken.
            self.execute_in(&tx, &lock).await?;
            let mut read = Query::select();
            read.column(Alias::new("value"))
                .from(Alias::new("ferrobot_sequence"))
                .and_where(Expr::col(Alias::new("name")).eq(SEQUENCE));
            self.query_in(&tx, &read).await?
        } else {
            // The lock and the value in one statement.
            lock.returning_col(Alias::new("value"));
            self.query_in(&tx, &lock).await?
        };
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
            relationships: None,
            data_rules: None,
            refs: HashMap::new(),
            known: HashSet::new(),
            unique_keys: HashMap::new(),
            keys_of: HashMap::new(),
            snapshots: HashMap::new(),
            rule_rows: HashMap::new(),
            listed_models: listed_models(&self.catalogue),
            created_listed: HashMap::new(),
            listed_by: HashMap::new(),
            deferred: Vec::new(),
            links: Vec::new(),
            held: HashMap::new(),
            templates: HashMap::new(),
            dirty_cables: HashSet::new(),
            dirty_endpoints: HashSet::new(),
            trusted: false,
            after_checks: Vec::new(),
            gone: HashSet::new(),
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

    /// Runs a statement that returns rows (a select, or a write with `RETURNING`) inside `tx`.
    pub(crate) async fn query_in<C: ConnectionTrait>(
        &self,
        tx: &C,
        select: &impl sea_query::QueryStatementWriter,
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
                rows.cells.push(crate::cell::decode(row, idx, *ty)?);
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
