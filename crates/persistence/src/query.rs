//! Reads: the batched load of one level of a nested selection, with its filters compiled to SQL
//! by [`filter`].
//!
//! A nested query is read level by level, one statement per level. A child level names its
//! parents either by the parents' keys (when there are few) or by the parent level's own
//! `SELECT` as a subquery (when there are many): handing hundreds of thousands of ids to one
//! `IN (…)` costs several times more than letting the database join down from the root filter.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use ferrobot_domain::catalogue::{
    CustomFieldKind, FieldKind, Filter, IntSize, Lookup, Model, ModelId,
};
use futures_util::TryStreamExt;
use sea_orm::{QueryResult, StreamTrait};
use sea_query::{Alias, Cond, Condition, Expr, Order, Query, SelectStatement, SimpleExpr, Value};
use uuid::Uuid;

use crate::store::{Backend, Store};
use crate::{StoreError, StoreResult};

mod filter;

/// How a column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Uuid,
    Text,
    /// An integer column of its declared width: PostgreSQL and MySQL decode each width as its
    /// own type, so the width is known up front rather than found by trial on every cell.
    Int(IntSize),
    Bool,
    DateTime,
    Date,
    Json,
    /// A JSON column read only to be written out again: kept as its text (`Cell::Text`), never
    /// parsed into a value tree, which costs several times the text's size in memory (a change
    /// log of 125 MB of snapshots peaked at 1.27 GB when parsed).
    JsonText,
    Bytes,
}

/// One decoded value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Text(Box<str>),
    Uuid(Uuid),
    Bytes(Box<[u8]>),
    Json(Box<serde_json::Value>),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
}

impl Cell {
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Cell::Uuid(u) => Some(*u),
            _ => None,
        }
    }
}

pub fn col_type(kind: &FieldKind) -> ColType {
    match kind {
        FieldKind::Uuid | FieldKind::ForeignKey { .. } => ColType::Uuid,
        FieldKind::String { .. }
        | FieldKind::Text
        | FieldKind::Choice { .. }
        | FieldKind::Decimal { .. }
        | FieldKind::ContentType => ColType::Text,
        FieldKind::Integer { size, .. } => ColType::Int(*size),
        FieldKind::Boolean => ColType::Bool,
        FieldKind::DateTime => ColType::DateTime,
        FieldKind::Date => ColType::Date,
        FieldKind::Json | FieldKind::ContentTypes => ColType::Json,
        FieldKind::IpBytes => ColType::Bytes,
        FieldKind::ManyToMany { .. } => ColType::Uuid,
    }
}

pub(crate) fn decode(row: &QueryResult, idx: usize, ty: ColType) -> StoreResult<Cell> {
    let err = |e: sea_orm::DbErr| StoreError::Internal(format!("decode column {idx}: {e}"));
    Ok(match ty {
        ColType::Uuid => row.try_get_by_index::<Option<Uuid>>(idx).map_err(err)?.map(Cell::Uuid),
        ColType::Text => row
            .try_get_by_index::<Option<String>>(idx)
            .map_err(err)?
            .map(|s| Cell::Text(s.into_boxed_str())),
        ColType::Int(IntSize::Small) => {
            row.try_get_by_index::<Option<i16>>(idx).map_err(err)?.map(|i| Cell::Int(i64::from(i)))
        }
        ColType::Int(IntSize::Int) => {
            row.try_get_by_index::<Option<i32>>(idx).map_err(err)?.map(|i| Cell::Int(i64::from(i)))
        }
        ColType::Int(IntSize::Big) => {
            row.try_get_by_index::<Option<i64>>(idx).map_err(err)?.map(Cell::Int)
        }
        ColType::Bool => row.try_get_by_index::<Option<bool>>(idx).map_err(err)?.map(Cell::Bool),
        ColType::DateTime => {
            row.try_get_by_index::<Option<DateTime<Utc>>>(idx).map_err(err)?.map(Cell::DateTime)
        }
        ColType::Date => {
            row.try_get_by_index::<Option<NaiveDate>>(idx).map_err(err)?.map(Cell::Date)
        }
        ColType::Json => row
            .try_get_by_index::<Option<serde_json::Value>>(idx)
            .map_err(err)?
            .map(|v| Cell::Json(Box::new(v))),
        // sqlx hands PostgreSQL's jsonb and MySQL's JSON over as values only; each is turned
        // back into text at once, so a level holds text, not trees.
        ColType::JsonText => row
            .try_get_by_index::<Option<serde_json::Value>>(idx)
            .map_err(err)?
            .map(|v| Cell::Text(v.to_string().into_boxed_str())),
        ColType::Bytes => row
            .try_get_by_index::<Option<Vec<u8>>>(idx)
            .map_err(err)?
            .map(|b| Cell::Bytes(b.into_boxed_slice())),
    }
    .unwrap_or(Cell::Null))
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
    fn text(&self) -> String {
        match self {
            ArgValue::Str(s) => s.clone(),
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Float(f) => f.to_string(),
            ArgValue::Bool(b) => b.to_string(),
        }
    }
}

/// What a filter argument filters on.
#[derive(Debug, Clone)]
pub enum ArgTarget {
    Filter(Filter),
    /// `cf_<key>`: a value inside `_custom_field_data`.
    CustomField {
        key: String,
        kind: CustomFieldKind,
    },
}

/// One filter argument of a list field: `name__ic: ["core"]`.
#[derive(Debug, Clone)]
pub struct FilterArg {
    /// The argument name as the client wrote it, for error messages.
    pub argument: String,
    pub target: ArgTarget,
    pub lookup: Lookup,
    pub values: Vec<ArgValue>,
}

fn invalid(argument: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid { argument: argument.to_owned(), message: message.into() }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn uuid_value(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

/// The most values a request's filter arguments may carry in all. A statement carries its own
/// filters and those of the levels above it, and SQLite binds at most 32,766 values.
pub const MAX_FILTER_VALUES: usize = 20_000;

/// The longest text a filter value may have, in characters. SQLite refuses `LIKE` patterns over
/// 50,000 bytes, and a value four bytes a character, escaped, stays under that.
pub const MAX_FILTER_TEXT: usize = 4_096;

/// Key lists longer than this are written into the statement as constants, not bound: the
/// keys a tree filter or a list of names resolves to are not bounded by the filter's values.
const BOUND_KEYS: usize = 1_000;

/// A UUID as a constant of the statement's text, as each backend stores it.
fn uuid_constant(backend: Backend, u: Uuid) -> SimpleExpr {
    match backend {
        Backend::Postgres => SimpleExpr::Constant(uuid_value(u)),
        Backend::Sqlite | Backend::MySql => {
            SimpleExpr::Constant(Value::Bytes(Some(Box::new(u.as_bytes().to_vec()))))
        }
    }
}

/// Any of `conditions`, nested in groups: a flat `a OR b OR …` of n terms is an expression n
/// deep, and SQLite refuses expressions deeper than 1,000. Groups of 64 keep 20,000 terms
/// under 150 deep.
pub(crate) fn any_of(conditions: impl IntoIterator<Item = Condition>) -> Condition {
    const GROUP: usize = 64;
    let mut items: Vec<Condition> = conditions.into_iter().collect();
    while items.len() > GROUP {
        let mut grouped = Vec::with_capacity(items.len() / GROUP + 1);
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            grouped.push(rest.by_ref().take(GROUP).fold(Cond::any(), Condition::add));
        }
        items = grouped;
    }
    items.into_iter().fold(Cond::any(), Condition::add)
}

/// The rows of a level: the key that links each row to its parent (if any), then the selected
/// columns, in one flat vector.
#[derive(Debug, Default)]
pub struct Rows {
    pub width: usize,
    pub cells: Vec<Cell>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn row(&self, idx: usize) -> &[Cell] {
        &self.cells[idx * self.width..(idx + 1) * self.width]
    }
}

/// A set of parent keys: the parents' key values, or a statement that selects them.
#[derive(Debug, Clone)]
pub enum Keys {
    List(Vec<Uuid>),
    /// `column IN (SELECT key FROM parent WHERE …)`: the database walks the parent's keys.
    Query(Box<SelectStatement>),
    /// `EXISTS (SELECT 1 FROM parent AS alias WHERE alias.key = column AND …)`: the database
    /// walks the child's rows and probes the parent by key. Cheaper when the child table is
    /// smaller than the parent set (IP assignments under all interfaces, statuses under them).
    Exists {
        table: String,
        alias: String,
        key: String,
        condition: Condition,
    },
    /// Every row of an unfiltered parent table: any non-null key qualifies.
    All,
}

impl Keys {
    fn condition(&self, backend: Backend, column: Expr) -> SimpleExpr {
        match self {
            Keys::List(ids) => {
                if ids.is_empty() {
                    Expr::val(1).eq(0)
                } else if ids.len() > BOUND_KEYS {
                    column.is_in(ids.iter().map(|u| uuid_constant(backend, *u)))
                } else {
                    column.is_in(ids.iter().map(|u| uuid_value(*u)))
                }
            }
            Keys::Query(stmt) => column.in_subquery((**stmt).clone()),
            Keys::All => column.is_not_null(),
            Keys::Exists { table, alias, key, condition } => {
                let a = Alias::new(alias);
                let mut sub = Query::select();
                sub.expr(Expr::val(1))
                    .from_as(Alias::new(table), a.clone())
                    .and_where(Expr::col((a, Alias::new(key))).eq(column))
                    .cond_where(condition.clone());
                Expr::exists(sub)
            }
        }
    }
}

/// How a level hangs off its parent level.
#[derive(Debug, Clone)]
pub enum Link {
    Root {
        limit: Option<u64>,
        offset: Option<u64>,
    },
    /// The parent's foreign-key values name the rows (`device.location`).
    Forward(Keys),
    /// The rows' `column` holds the parent's id (`device.interfaces`).
    Reverse {
        column: String,
        /// (column, label) for generic references: the rows must name this content type.
        content_type: Option<(String, String)>,
        keys: Keys,
    },
    /// A through table pairs parent ids with row ids (`interface.ip_addresses`, `tags`).
    Through {
        table: String,
        source_column: String,
        target_column: String,
        content_type: Option<String>,
        /// (column, value) pairs the through rows must hold.
        conditions: Vec<(String, String)>,
        keys: Keys,
    },
    /// The other end of a pairing: rows of `table` paired with the parent's row by
    /// `group_column`, on another `side_column` (a cable's far termination).
    Peer {
        table: String,
        endpoint_column: String,
        target_column: String,
        group_column: String,
        side_column: String,
        keys: Keys,
    },
}

/// What to read for one level.
#[derive(Debug, Clone)]
pub struct LevelSpec {
    pub model: ModelId,
    /// Nesting depth, 0 for the root: the level's table is aliased `l<depth>` everywhere, so
    /// conditions from several levels can meet in one statement without clashing.
    pub depth: usize,
    /// Extra columns beyond the model's: `_custom_field_data`, `_name` …
    pub columns: Vec<(String, ColType)>,
    pub condition: Condition,
    pub link: Link,
}

/// The statement that selected a level, kept so that its children can use it as a subquery.
#[derive(Debug, Clone)]
pub struct Scope {
    table: String,
    alias: String,
    /// Every row of the table (or every row with a parent, when the parent level was whole
    /// too): children then need no key condition. Rows without a parent may be read along;
    /// nothing refers to them, so they are never written out.
    whole: bool,
    condition: Condition,
    limit: Option<u64>,
    offset: Option<u64>,
    order: Vec<(String, bool)>,
}

impl Scope {
    /// Whether this level is a whole table (no filter, no page): its children need no key
    /// condition beyond a non-null link.
    fn is_whole_table(&self) -> bool {
        self.whole && self.limit.is_none() && self.offset.is_none()
    }

    /// `SELECT <column> FROM <level> WHERE <its filter>`: the keys of this level for a child.
    pub fn keys_of(&self, column: &str) -> Keys {
        if self.is_whole_table() {
            return Keys::All;
        }
        let a = Alias::new(&self.alias);
        let mut inner = Query::select();
        inner
            .column((a.clone(), Alias::new(column)))
            .from_as(Alias::new(&self.table), a.clone())
            .cond_where(self.condition.clone());
        if self.limit.is_some() || self.offset.is_some() {
            for (c, desc) in &self.order {
                inner.order_by(
                    (a.clone(), Alias::new(c)),
                    if *desc { Order::Desc } else { Order::Asc },
                );
            }
            inner.limit(self.limit.unwrap_or(u64::MAX >> 1));
            if let Some(o) = self.offset {
                inner.offset(o);
            }
            // MySQL refuses LIMIT inside IN (…); a derived table is accepted everywhere.
            let mut outer = Query::select();
            outer.column(Alias::new(column)).from_subquery(inner, Alias::new("page"));
            return Keys::Query(Box::new(outer));
        }
        Keys::Query(Box::new(inner))
    }

    /// The keys of this level as a correlated `EXISTS` (see [`Keys::Exists`]).
    pub fn exists_of(&self, column: &str) -> Keys {
        if self.limit.is_some() || self.offset.is_some() || self.is_whole_table() {
            return self.keys_of(column);
        }
        Keys::Exists {
            table: self.table.clone(),
            alias: self.alias.clone(),
            key: column.to_owned(),
            condition: self.condition.clone(),
        }
    }
}

impl Store {
    /// Reads one level; returns its rows (link key first when it has a parent) and its scope.
    pub async fn load_level(&self, spec: &LevelSpec) -> StoreResult<(Rows, Scope)> {
        use tracing::Instrument;
        let table = self.catalogue.model(spec.model).table.clone();
        let span = tracing::info_span!("load_level", table, depth = spec.depth);
        self.load_level_inner(spec).instrument(span).await
    }

    async fn load_level_inner(&self, spec: &LevelSpec) -> StoreResult<(Rows, Scope)> {
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(spec.model);
        let alias = format!("l{}", spec.depth);
        let t = Alias::new(&alias);
        let qualified = |c: &str| Expr::col((t.clone(), Alias::new(c)));
        let mut select = Query::select();
        let mut types = Vec::new();
        let scope_condition;
        let order: Vec<(String, bool)> =
            model.ordering.iter().map(|o| (o.column.clone(), o.descending)).collect();
        let mut limit = None;
        let mut offset = None;
        match &spec.link {
            Link::Root { limit: l, offset: o } => {
                select.from_as(Alias::new(&model.table), t.clone());
                scope_condition = spec.condition.clone();
                select.cond_where(scope_condition.clone());
                limit = *l;
                offset = *o;
            }
            Link::Forward(keys) => {
                select.from_as(Alias::new(&model.table), t.clone());
                select.expr(qualified("id"));
                types.push(ColType::Uuid);
                scope_condition = Cond::all()
                    .add(keys.condition(self.backend, qualified("id")))
                    .add(spec.condition.clone());
                select.cond_where(scope_condition.clone());
            }
            Link::Reverse { column, content_type, keys } => {
                select.from_as(Alias::new(&model.table), t.clone());
                select.expr(qualified(column));
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, qualified(column)));
                if let Some((ct_column, label)) = content_type {
                    link = link.add(qualified(ct_column).eq(label.as_str()));
                }
                scope_condition = link.add(spec.condition.clone());
                select.cond_where(scope_condition.clone());
                // Children grouped by parent; the model's own ordering may start with the link
                // (interfaces: device, then name), and a repeated key would cost a sort.
                if order.first().is_none_or(|(c, _)| c != column) {
                    select.order_by((t.clone(), Alias::new(column)), Order::Asc);
                }
            }
            Link::Through {
                table,
                source_column,
                target_column,
                content_type,
                conditions,
                keys,
            } => {
                // The through table is aliased by depth too: `th<depth>`.
                let th = Alias::new(format!("th{}", spec.depth));
                let th_col = |c: &str| Expr::col((th.clone(), Alias::new(c)));
                select.from_as(Alias::new(table), th.clone());
                select.inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&model.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    qualified("id").equals((th.clone(), Alias::new(target_column))),
                );
                select.expr(th_col(source_column));
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, th_col(source_column)));
                let mut sub = Query::select();
                sub.column((th.clone(), Alias::new(target_column)))
                    .from_as(Alias::new(table), th.clone());
                let mut sub_cond =
                    Cond::all().add(keys.condition(self.backend, th_col(source_column)));
                if let Some(ct) = content_type {
                    link = link.add(th_col("content_type").eq(ct.as_str()));
                    sub_cond = sub_cond.add(th_col("content_type").eq(ct.as_str()));
                }
                for (column, value) in conditions {
                    link = link.add(th_col(column).eq(value.as_str()));
                    sub_cond = sub_cond.add(th_col(column).eq(value.as_str()));
                }
                sub.cond_where(sub_cond);
                if let Some(own) = own_filter(&model.table, &spec.condition) {
                    link = link.add(qualified("id").in_subquery(own));
                }
                select.cond_where(link);
                scope_condition =
                    Cond::all().add(qualified("id").in_subquery(sub)).add(spec.condition.clone());
                select.order_by((th.clone(), Alias::new(source_column)), Order::Asc);
            }
            Link::Peer {
                table,
                endpoint_column,
                target_column,
                group_column,
                side_column,
                keys,
            } => {
                let near = Alias::new(format!("pa{}", spec.depth));
                let far = Alias::new(format!("pb{}", spec.depth));
                let pairing = |select: &mut SelectStatement| {
                    join_pairing(select, table, &near, &far, group_column, side_column);
                };
                pairing(&mut select);
                select.inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&model.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    qualified("id").equals((far.clone(), Alias::new(target_column))),
                );
                let near_end = Expr::col((near.clone(), Alias::new(endpoint_column)));
                select.expr(near_end.clone());
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, near_end.clone()));
                if let Some(own) = own_filter(&model.table, &spec.condition) {
                    link = link.add(qualified("id").in_subquery(own));
                }
                select.cond_where(link);
                let mut sub = Query::select();
                pairing(&mut sub);
                sub.column((far.clone(), Alias::new(target_column)))
                    .cond_where(keys.condition(self.backend, near_end.clone()));
                scope_condition =
                    Cond::all().add(qualified("id").in_subquery(sub)).add(spec.condition.clone());
                select.order_by_expr(near_end.into(), Order::Asc);
            }
        }
        for (name, ty) in &spec.columns {
            select.expr(qualified(name));
            types.push(*ty);
        }
        if !matches!(spec.link, Link::Forward(_)) {
            for (c, desc) in &order {
                select.order_by(
                    (t.clone(), Alias::new(c)),
                    if *desc { Order::Desc } else { Order::Asc },
                );
            }
        }
        if let Some(l) = limit {
            select.limit(l);
        }
        if let Some(o) = offset {
            if limit.is_none() {
                select.limit(u64::MAX >> 1);
            }
            select.offset(o);
        }
        let rows = self.fetch(&select, &types).await?;
        let whole = spec.condition.is_empty()
            && match &spec.link {
                Link::Root { .. } => true,
                Link::Forward(keys)
                | Link::Reverse { keys, .. }
                | Link::Through { keys, .. }
                | Link::Peer { keys, .. } => matches!(keys, Keys::All),
            };
        let scope = Scope {
            table: model.table.clone(),
            alias,
            whole,
            condition: scope_condition,
            limit,
            offset,
            order,
        };
        Ok((rows, scope))
    }

    /// Runs a select and decodes every row with `types`, streaming from the database.
    pub async fn fetch(&self, select: &SelectStatement, types: &[ColType]) -> StoreResult<Rows> {
        let builder = self.backend.query_builder();
        let (sql, values) = select.build_any(&*builder);
        self.count();
        tracing::debug!(%sql, "select");
        let started = std::time::Instant::now();
        if let Some(reader) = self.reader.clone() {
            let types = types.to_vec();
            let rows = tokio::task::spawn_blocking(move || reader.fetch(&sql, &values.0, &types))
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))??;
            tracing::debug!(
                rows = rows.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "fetched"
            );
            return Ok(rows);
        }
        let stmt = self.statement(sql, values);
        let mut rows = Rows { width: types.len(), cells: Vec::new() };
        let mut stream = self.db.stream(stmt).await?;
        while let Some(row) = stream.try_next().await? {
            for (idx, ty) in types.iter().enumerate() {
                rows.cells.push(decode(&row, idx, *ty)?);
            }
        }
        tracing::debug!(
            rows = rows.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "fetched"
        );
        Ok(rows)
    }

    /// Runs a statement built elsewhere in this crate and returns all rows.
    pub(crate) async fn query_rows(
        &self,
        select: &SelectStatement,
    ) -> StoreResult<Vec<QueryResult>> {
        self.query_in(&self.db, select).await
    }
}

/// A level's own filters as `SELECT id FROM table WHERE …`, for statements that join other
/// tables: the filters name bare columns, so they apply where the model's table is alone.
fn own_filter(table: &str, condition: &Condition) -> Option<SelectStatement> {
    if condition.is_empty() {
        return None;
    }
    let mut own = Query::select();
    own.column(Alias::new("id")).from(Alias::new(table)).cond_where(condition.clone());
    Some(own)
}

/// `FROM table AS near JOIN table AS far ON far.group = near.group AND far.side <> near.side`:
/// each row beside the other end of its pairing (a cable's two terminations).
fn join_pairing(
    select: &mut SelectStatement,
    table: &str,
    near: &Alias,
    far: &Alias,
    group_column: &str,
    side_column: &str,
) {
    select.from_as(Alias::new(table), near.clone()).inner_join(
        sea_query::TableRef::TableAlias(
            sea_query::SeaRc::new(Alias::new(table)),
            sea_query::SeaRc::new(far.clone()),
        ),
        Cond::all()
            .add(
                Expr::col((far.clone(), Alias::new(group_column)))
                    .equals((near.clone(), Alias::new(group_column))),
            )
            .add(
                Expr::col((far.clone(), Alias::new(side_column)))
                    .ne(Expr::col((near.clone(), Alias::new(side_column)))),
            ),
    );
}

pub(crate) fn text_type(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "char",
        _ => "text",
    }
}

/// The custom field definitions, as one statement and a row reader shared by the request path
/// and the import transaction.
fn custom_field_select() -> (SelectStatement, [ColType; 5]) {
    let mut select = Query::select();
    select
        .columns(["key", "label", "type", "description", "content_types"].map(Alias::new))
        .from(Alias::new("extras_customfield"))
        .order_by(Alias::new("key"), Order::Asc);
    (select, [ColType::Text, ColType::Text, ColType::Text, ColType::Text, ColType::Json])
}

fn custom_fields_from(rows: &Rows) -> Vec<ferrobot_domain::CustomField> {
    let mut out = Vec::new();
    for r in 0..rows.len() {
        let row = rows.row(r);
        let text = |c: &Cell| match c {
            Cell::Text(t) => t.to_string(),
            _ => String::new(),
        };
        let Some(kind) = CustomFieldKind::parse(&text(&row[2])) else { continue };
        let content_types = match &row[4] {
            Cell::Json(v) => v
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            Cell::Text(t) => serde_json::from_str::<Vec<String>>(t).unwrap_or_default(),
            _ => Vec::new(),
        };
        out.push(ferrobot_domain::CustomField {
            key: text(&row[0]),
            label: text(&row[1]),
            kind,
            description: text(&row[3]),
            content_types,
            choices: Vec::new(),
        });
    }
    out
}

impl Store {
    /// The custom field definitions, ordered by key: part of the catalogue, read at run time.
    pub async fn custom_fields(&self) -> StoreResult<Vec<ferrobot_domain::CustomField>> {
        let (select, types) = custom_field_select();
        Ok(custom_fields_from(&self.fetch(&select, &types).await?))
    }

    /// The custom field definitions as a transaction sees them (the import's own included).
    pub(crate) async fn custom_fields_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
    ) -> StoreResult<Vec<ferrobot_domain::CustomField>> {
        let (select, types) = custom_field_select();
        let results = self.query_in(tx, &select).await?;
        let mut rows = Rows { width: types.len(), cells: Vec::new() };
        for row in &results {
            for (idx, ty) in types.iter().enumerate() {
                rows.cells.push(decode(row, idx, *ty)?);
            }
        }
        Ok(custom_fields_from(&rows))
    }
}

/// What lies under a set of prefixes: each prefix's direct child prefixes and the addresses of
/// its namespace inside its range (whatever their parent), for the usage fields
/// ([`ferrobot_domain::hooks::usage_fields`]).
#[derive(Debug, Default)]
pub struct PrefixUsage {
    pub children: HashMap<Uuid, Vec<ipnet::IpNet>>,
    pub addresses: HashMap<Uuid, Vec<std::net::IpAddr>>,
}

impl Store {
    /// Two statements per 1,000 prefixes: the child prefixes, and the addresses in range.
    pub async fn prefix_usage(&self, prefixes: &[Uuid]) -> StoreResult<PrefixUsage> {
        use ferrobot_domain::value::ip_from_bytes;
        let catalogue = self.catalogue().clone();
        let (Some(prefix), Some(address), Some(p_rule), Some(a_rule)) = (
            catalogue.by_label("ipam.prefix"),
            catalogue.by_label("ipam.ipaddress"),
            ferrobot_domain::hooks::parent("ipam.prefix"),
            ferrobot_domain::hooks::parent("ipam.ipaddress"),
        ) else {
            return Ok(PrefixUsage::default());
        };
        let pcol = |name: &str| prefix.column_of(name);
        let acol = |name: &str| address.column_of(name);
        let mut usage = PrefixUsage::default();
        for chunk in prefixes.chunks(1000) {
            let keys = || chunk.iter().map(|id| uuid_value(*id));
            let mut children = Query::select();
            children
                .columns(
                    [pcol(p_rule.field), pcol(p_rule.address), pcol(p_rule.length)].map(Alias::new),
                )
                .from(Alias::new(&prefix.table))
                .and_where(Expr::col(Alias::new(pcol(p_rule.field))).is_in(keys()));
            let rows = self
                .fetch(&children, &[ColType::Uuid, ColType::Bytes, ColType::Int(IntSize::Int)])
                .await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(parent), Cell::Bytes(b), Cell::Int(len)) =
                    (row[0].as_uuid(), &row[1], &row[2])
                else {
                    continue;
                };
                let net = ip_from_bytes(b).and_then(|ip| ipnet::IpNet::new(ip, *len as u8).ok());
                if let Some(net) = net {
                    usage.children.entry(parent).or_default().push(net);
                }
            }
            // The addresses of the prefix's namespace (through their parent) inside its range.
            let (p, a, q) = (Alias::new("p"), Alias::new("a"), Alias::new("q"));
            let mut inside = Query::select();
            inside
                .column((p.clone(), Alias::new("id")))
                .column((a.clone(), Alias::new(acol(a_rule.address))))
                .from_as(Alias::new(&prefix.table), p.clone())
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&address.table)),
                        sea_query::SeaRc::new(a.clone()),
                    ),
                    Cond::all()
                        .add(
                            Expr::col((a.clone(), Alias::new(acol("ip_version"))))
                                .equals((p.clone(), Alias::new(pcol("ip_version")))),
                        )
                        .add(
                            Expr::col((a.clone(), Alias::new(acol(a_rule.address))))
                                .gte(Expr::col((p.clone(), Alias::new(pcol(p_rule.address))))),
                        )
                        .add(
                            Expr::col((a.clone(), Alias::new(acol(a_rule.address))))
                                .lte(Expr::col((p.clone(), Alias::new(pcol("broadcast"))))),
                        ),
                )
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&prefix.table)),
                        sea_query::SeaRc::new(q.clone()),
                    ),
                    Cond::all()
                        .add(
                            Expr::col((q.clone(), Alias::new("id")))
                                .equals((a.clone(), Alias::new(acol(a_rule.field)))),
                        )
                        .add(
                            Expr::col((q.clone(), Alias::new(pcol("namespace"))))
                                .equals((p.clone(), Alias::new(pcol("namespace")))),
                        ),
                )
                .and_where(Expr::col((p.clone(), Alias::new("id"))).is_in(keys()));
            let rows = self.fetch(&inside, &[ColType::Uuid, ColType::Bytes]).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                if let (Some(owner), Cell::Bytes(b)) = (row[0].as_uuid(), &row[1]) {
                    if let Some(ip) = ip_from_bytes(b) {
                        usage.addresses.entry(owner).or_default().push(ip);
                    }
                }
            }
        }
        Ok(usage)
    }
}

/// The devices (with their device types) and reservations of each of a set of racks, for the
/// elevation ([`ferrobot_domain::rack::elevation`]).
pub type RackContents = HashMap<
    Uuid,
    (Vec<ferrobot_domain::rack::RackDevice>, Vec<ferrobot_domain::rack::RackReservation>),
>;

impl Store {
    /// Two statements per 1,000 racks: the devices joined to their device types, and the
    /// reservations.
    pub async fn rack_contents(&self, racks: &[Uuid]) -> StoreResult<RackContents> {
        use ferrobot_domain::rack::{Face, RackDevice, RackReservation};
        let catalogue = self.catalogue().clone();
        let (Some(device), Some(ty), Some(reservation)) = (
            catalogue.by_label("dcim.device"),
            catalogue.by_label("dcim.devicetype"),
            catalogue.by_label("dcim.rackreservation"),
        ) else {
            return Ok(RackContents::default());
        };
        let column = |model: &Model, name: &str| model.column_of(name);
        let (d, t) = (Alias::new("d"), Alias::new("t"));
        let mut out = RackContents::default();
        for chunk in racks.chunks(1000) {
            let keys = || chunk.iter().map(|id| uuid_value(*id));
            let mut select = Query::select();
            select
                .column((d.clone(), Alias::new(column(device, "rack"))))
                .column((d.clone(), Alias::new("id")))
                .column((d.clone(), Alias::new(column(device, "position"))))
                .column((d.clone(), Alias::new(column(device, "face"))))
                .column((t.clone(), Alias::new(column(ty, "u_height"))))
                .column((t.clone(), Alias::new(column(ty, "is_full_depth"))))
                .column((t.clone(), Alias::new(column(ty, "subdevice_role"))))
                .column((t.clone(), Alias::new(column(ty, "model"))))
                .from_as(Alias::new(&device.table), d.clone())
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&ty.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    Expr::col((t.clone(), Alias::new("id")))
                        .equals((d.clone(), Alias::new(column(device, "device_type")))),
                )
                .and_where(
                    Expr::col((d.clone(), Alias::new(column(device, "rack")))).is_in(keys()),
                );
            let small = ColType::Int(IntSize::Small);
            let types = [
                ColType::Uuid,
                ColType::Uuid,
                small,
                ColType::Text,
                small,
                ColType::Bool,
                ColType::Text,
                ColType::Text,
            ];
            let rows = self.fetch(&select, &types).await?;
            let text = |c: &Cell| match c {
                Cell::Text(t) => t.to_string(),
                _ => String::new(),
            };
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(rack), Some(id)) = (row[0].as_uuid(), row[1].as_uuid()) else { continue };
                let int = |c: &Cell| match c {
                    Cell::Int(n) => u16::try_from(*n).ok(),
                    _ => None,
                };
                out.entry(rack).or_default().0.push(RackDevice {
                    id,
                    device_type: text(&row[7]),
                    position: int(&row[2]),
                    u_height: int(&row[4]).unwrap_or(1),
                    face: Face::from_stored(&text(&row[3])),
                    is_full_depth: !matches!(row[5], Cell::Bool(false)),
                    is_child_device: text(&row[6]) == "child",
                });
            }
            let mut select = Query::select();
            select
                .columns(
                    [column(reservation, "rack"), "id".into(), column(reservation, "units")]
                        .map(Alias::new),
                )
                .from(Alias::new(&reservation.table))
                .and_where(Expr::col(Alias::new(column(reservation, "rack"))).is_in(keys()));
            let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid, ColType::Json]).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(rack), Some(id)) = (row[0].as_uuid(), row[1].as_uuid()) else { continue };
                let units = match &row[2] {
                    Cell::Json(v) => v
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .filter_map(|u| u.as_u64())
                                .filter_map(|u| u16::try_from(u).ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                out.entry(rack).or_default().1.push(RackReservation { id, units });
            }
        }
        Ok(out)
    }
}
