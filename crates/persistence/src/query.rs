//! Reads: a request tree planned ([`Plan`]) and executed level by level ([`Store::execute`]),
//! one statement a level, with filters compiled to SQL by `filter`.
//!
//! A nested query is read level by level. A child level names its parents either by the
//! parents' keys (when there are few) or by the parent level's own `SELECT` as a subquery (when
//! there are many): handing hundreds of thousands of ids to one `IN (…)` costs several times
//! more than letting the database join down from the root filter.

use ferrobot_domain::catalogue::CustomFieldKind;
use futures_util::TryStreamExt;
use sea_orm::StreamTrait;
use sea_query::{Alias, Cond, Condition, Expr, Order, Query, SelectStatement, SimpleExpr, Value};
use uuid::Uuid;

use crate::store::{Backend, Reader, Store};
use crate::{StoreError, StoreResult};

mod associations;
pub mod contexts;
mod execute;
mod filter;
mod groups;
mod level;
mod network;
mod plan;
mod tree;
mod usage;

pub use execute::{Level, Read, Windowing, Windows, WHOLE_PER_ROOT_ROW};
pub use plan::{json_key, Out, Plan, Render};

pub(crate) use level::join_pairing;
pub use level::{Keys, LevelSpec, Link, Scope};
pub use usage::{PrefixUsage, UsageLists};

pub(crate) use crate::cell::decode;
pub use crate::cell::{col_type, Cell, ColType, Rows};

pub use ferrobot_domain::request::{ArgTarget, ArgValue, FilterArg};

fn invalid(argument: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid { argument: argument.to_owned(), message: message.into() }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

pub(crate) fn uuid_value(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

/// The filter limits, named once in the request tree (a request's filters and a stored filter
/// share them).
pub use ferrobot_domain::request::{MAX_FILTER_TEXT, MAX_FILTER_VALUES};

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

impl Store {
    /// Runs a select and decodes every row with `types`, streaming from the database.
    pub async fn fetch(&self, select: &SelectStatement, types: &[ColType]) -> StoreResult<Rows> {
        let builder = self.backend.query_builder();
        let (sql, values) = select.build_any(&*builder);
        self.count();
        tracing::debug!(%sql, "select");
        let started = std::time::Instant::now();
        if let Some(reader) = &self.reader {
            let rows = match reader {
                Reader::Sqlite(reader) => reader.read(sql, values.0, types.to_vec()).await?,
                Reader::Sqlx(reader) => reader.read(&sql, &values.0, types).await?,
            };
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
}

pub(crate) fn text_type(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "char",
        _ => "text",
    }
}

/// The stored definitions of a model the schema and the writer read at run time (custom
/// fields, computed fields): `fields` in that order, ordered by `order`.
fn definition_select(
    catalogue: &ferrobot_domain::Catalogue,
    label: &str,
    fields: &[&str],
    order: &[&str],
) -> StoreResult<(SelectStatement, Vec<ColType>)> {
    let model = catalogue
        .by_label(label)
        .ok_or_else(|| StoreError::Internal(format!("the catalogue has no {label}")))?;
    let mut select = Query::select();
    let mut types = Vec::with_capacity(fields.len());
    for name in fields {
        let (_, field) = model
            .field(name)
            .ok_or_else(|| StoreError::Internal(format!("{label} has no field {name}")))?;
        select.column(Alias::new(model.column_of(name)));
        types.push(col_type(&field.kind));
    }
    select.from(Alias::new(&model.table));
    for name in order {
        select.order_by(Alias::new(model.column_of(name)), Order::Asc);
    }
    Ok((select, types))
}

/// The custom field definitions, as one statement and a row reader shared by the request path
/// and the import transaction.
fn custom_field_select(
    catalogue: &ferrobot_domain::Catalogue,
) -> StoreResult<(SelectStatement, Vec<ColType>)> {
    use ferrobot_domain::catalogue::{CUSTOM_FIELD, CUSTOM_FIELD_FIELDS};
    definition_select(catalogue, CUSTOM_FIELD, &CUSTOM_FIELD_FIELDS, &["key"])
}

fn custom_fields_from(rows: &Rows) -> Vec<ferrobot_domain::CustomField> {
    let mut out = Vec::new();
    for r in 0..rows.len() {
        let row = rows.row(r);
        let text = |c: &Cell| c.as_str().unwrap_or_default().to_owned();
        let json = |c: &Cell| match c {
            Cell::Json(v) => Some((**v).clone()),
            Cell::Text(t) => serde_json::from_str(t).ok(),
            _ => None,
        };
        let int = |c: &Cell| match c {
            Cell::Int(i) => Some(*i),
            _ => None,
        };
        let Some(kind) = CustomFieldKind::parse(&text(&row[2])) else { continue };
        let content_types = json(&row[4])
            .and_then(|v| {
                v.as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            })
            .unwrap_or_default();
        out.push(ferrobot_domain::CustomField {
            key: text(&row[0]),
            label: text(&row[1]),
            kind,
            description: text(&row[3]),
            content_types,
            choices: Vec::new(),
            required: matches!(row[5], Cell::Bool(true)),
            default: json(&row[6]).filter(|v| !v.is_null()),
            validation_minimum: int(&row[7]),
            validation_maximum: int(&row[8]),
            validation_regex: row[9].as_str().filter(|p| !p.is_empty()).map(str::to_owned),
        });
    }
    out
}

/// The choices of select fields: (the field's key, a value), in weight then value order.
fn choice_select(catalogue: &ferrobot_domain::Catalogue) -> StoreResult<SelectStatement> {
    use ferrobot_domain::catalogue::{
        CUSTOM_FIELD, CUSTOM_FIELD_CHOICE, CUSTOM_FIELD_CHOICE_FIELDS,
    };
    let missing = |label: &str| StoreError::Internal(format!("the catalogue has no {label}"));
    let fields = catalogue.by_label(CUSTOM_FIELD).ok_or_else(|| missing(CUSTOM_FIELD))?;
    let choices =
        catalogue.by_label(CUSTOM_FIELD_CHOICE).ok_or_else(|| missing(CUSTOM_FIELD_CHOICE))?;
    let [field, value, weight] = CUSTOM_FIELD_CHOICE_FIELDS;
    let (f, c) = (Alias::new("f"), Alias::new("c"));
    let mut select = Query::select();
    select
        .column((f.clone(), Alias::new(fields.column_of("key"))))
        .column((c.clone(), Alias::new(choices.column_of(value))))
        .from_as(Alias::new(&choices.table), c.clone())
        .inner_join(
            sea_query::TableRef::TableAlias(
                sea_query::SeaRc::new(Alias::new(&fields.table)),
                sea_query::SeaRc::new(f.clone()),
            ),
            Expr::col((f.clone(), Alias::new("id")))
                .equals((c.clone(), Alias::new(choices.column_of(field)))),
        )
        .order_by((c.clone(), Alias::new(choices.column_of(weight))), Order::Asc)
        .order_by((c, Alias::new(choices.column_of(value))), Order::Asc);
    Ok(select)
}

/// Where a read runs: the reader pool, or a write's transaction (which sees its own rows).
enum Via<'a> {
    Reader,
    Tx(&'a sea_orm::DatabaseTransaction),
}

impl Store {
    async fn fetch_via(
        &self,
        via: &Via<'_>,
        select: &SelectStatement,
        types: &[ColType],
    ) -> StoreResult<Rows> {
        match via {
            Via::Reader => self.fetch(select, types).await,
            Via::Tx(tx) => self.fetch_in(*tx, select, types).await,
        }
    }

    /// The definitions with the choices of their select fields (read only when one has any).
    async fn definitions(&self, via: Via<'_>) -> StoreResult<Vec<ferrobot_domain::CustomField>> {
        let (select, types) = custom_field_select(&self.catalogue)?;
        let mut fields = custom_fields_from(&self.fetch_via(&via, &select, &types).await?);
        let selects = |k| matches!(k, CustomFieldKind::Select | CustomFieldKind::MultiSelect);
        if fields.iter().any(|f| selects(f.kind)) {
            let rows = self
                .fetch_via(&via, &choice_select(&self.catalogue)?, &[ColType::Text, ColType::Text])
                .await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(key), Some(value)) = (row[0].as_str(), row[1].as_str()) else { continue };
                if let Some(field) = fields.iter_mut().find(|f| f.key == key && selects(f.kind)) {
                    field.choices.push(value.to_owned());
                }
            }
        }
        Ok(fields)
    }

    /// The custom field definitions, ordered by key: part of the catalogue, read at run time.
    pub async fn custom_fields(&self) -> StoreResult<Vec<ferrobot_domain::CustomField>> {
        self.definitions(Via::Reader).await
    }

    /// The computed field definitions, in Nautobot's order (weight, then key).
    pub async fn computed_fields(
        &self,
    ) -> StoreResult<Vec<ferrobot_domain::computed_field::ComputedField>> {
        use ferrobot_domain::computed_field::{ComputedField, FIELDS, MODEL, ORDER};
        let (select, types) = definition_select(&self.catalogue, MODEL, &FIELDS, &ORDER)?;
        let rows = self.fetch(&select, &types).await?;
        let text = |c: &Cell| c.as_str().unwrap_or_default().to_owned();
        Ok((0..rows.len())
            .map(|r| {
                let [key, label, description, content_type, template, fallback_value] =
                    [0, 1, 2, 3, 4, 5].map(|i| text(&rows.row(r)[i]));
                ComputedField { key, label, description, content_type, template, fallback_value }
            })
            .collect())
    }

    /// The export template of a content type by name: its code, MIME type and file extension.
    pub async fn export_template(
        &self,
        content_type: &str,
        name: &str,
    ) -> StoreResult<Option<[String; 3]>> {
        use ferrobot_domain::export_template::{fields, MODEL, RENDER_FIELDS};
        let (mut select, types) = definition_select(&self.catalogue, MODEL, &RENDER_FIELDS, &[])?;
        let Some(model) = self.catalogue.by_label(MODEL) else { return Ok(None) };
        select
            .and_where(
                Expr::col(Alias::new(model.column_of(fields::CONTENT_TYPE))).eq(content_type),
            )
            .and_where(Expr::col(Alias::new(model.column_of(fields::NAME))).eq(name));
        let rows = self.fetch(&select, &types).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let text = |i: usize| rows.row(0)[i].as_str().unwrap_or_default().to_owned();
        Ok(Some([text(0), text(1), text(2)]))
    }

    /// The relationships, in label order: part of the schema, read at run time.
    pub async fn relationships(
        &self,
    ) -> StoreResult<Vec<ferrobot_domain::relationship::Relationship>> {
        self.relationship_definitions(Via::Reader).await
    }

    /// The relationships as a write's transaction sees them.
    pub(crate) async fn relationships_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
    ) -> StoreResult<Vec<ferrobot_domain::relationship::Relationship>> {
        self.relationship_definitions(Via::Tx(tx)).await
    }

    async fn relationship_definitions(
        &self,
        via: Via<'_>,
    ) -> StoreResult<Vec<ferrobot_domain::relationship::Relationship>> {
        use ferrobot_domain::relationship::{fields, Relationship, FIELDS, MODEL};
        let names: Vec<&str> = std::iter::once("id").chain(FIELDS).collect();
        let (select, types) = definition_select(&self.catalogue, MODEL, &names, &[fields::LABEL])?;
        let rows = self.fetch_via(&via, &select, &types).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let mut row = ferrobot_domain::row::Row::new();
            for ((name, cell), ty) in names.iter().zip(rows.row(r)).zip(&types) {
                // JSON read as text on some backends: the domain reads it as JSON.
                let value = match (cell, ty) {
                    (Cell::Text(t), ColType::Json) => {
                        serde_json::from_str(t).map_or(Cell::Null, |j| Cell::Json(Box::new(j)))
                    }
                    _ => cell.clone(),
                };
                row.set(*name, value);
            }
            out.extend(Relationship::from_row(&row));
        }
        Ok(out)
    }

    /// The custom field definitions as a transaction sees them (the import's own included).
    pub(crate) async fn custom_fields_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
    ) -> StoreResult<Vec<ferrobot_domain::CustomField>> {
        self.definitions(Via::Tx(tx)).await
    }
}
