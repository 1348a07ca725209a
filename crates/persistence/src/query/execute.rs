//! Executes a [`Plan`]: each level with one statement, children batched under their parents,
//! and each child level indexed by the key its parent finds it with.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use ferrobot_domain::catalogue::{Relation, RelationShape};
use uuid::Uuid;

use super::level::{Keys, LevelSpec, Link, RootKeyset, Scope};
use super::plan::Plan;
use super::usage::{PrefixUsage, UsageLists};
use super::Rows;
use super::{col_type, uuid_value, ColType};
use crate::store::Store;
use crate::StoreError;
use crate::StoreResult;
use ferrobot_domain::catalogue::{IntSize, Model, ModelId};
use ferrobot_domain::request::{CursorValue, FilterArg, Keyset};

/// A parent level with at most this many distinct keys hands them to its children as a list;
/// a larger one hands over its own statement as a subquery.
const KEY_LIST_LIMIT: usize = 1000;

/// Hashes a UUID by its first eight bytes: they are random for the v4 ids Ferrobot stores, and
/// the writer looks a key up for every nested object, so SipHash's cost showed.
#[derive(Default)]
pub struct UuidHasher(u64);

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

/// Loaded rows of one plan level, with the index its parent uses to find them.
#[derive(Debug, Default)]
pub struct Level {
    pub rows: Rows,
    /// Columns before the plan's own: 1 when rows carry a link key.
    pub skip: usize,
    /// Link key → (first row, end row).
    pub index: HashMap<Uuid, (usize, usize), BuildHasherDefault<UuidHasher>>,
    /// One level per child of the plan, in the same order.
    pub children: Vec<Level>,
    pub usage: Option<PrefixUsage>,
    /// The rows the level's usage lists read, by object (a rack's devices and reservations).
    pub lists: Option<UsageLists>,
    /// A nested list whose filter values were refused: (argument, message) per refused filter.
    /// Nautobot checks a nested list's filters each time it resolves the list for a parent, so
    /// each parent's list is `null` with an error, and with no parents nothing is checked.
    pub refused: Option<Vec<(String, String)>>,
}

impl Level {
    /// The plan's own cells of a row (after the link key).
    pub fn own(&self, row: usize) -> &[crate::Cell] {
        &self.rows.row(row)[self.skip..]
    }

    /// The rows a parent's key finds: (first, end).
    pub fn rows_of(&self, key: Option<Uuid>) -> Option<(usize, usize)> {
        key.and_then(|k| self.index.get(&k)).copied()
    }
}

impl Store {
    /// Reads a root plan (its page applied) and its children, level by level.
    pub async fn execute(&self, plan: &Plan) -> StoreResult<Level> {
        let keyset = match &plan.page.keyset {
            Some(keyset) => Some(self.root_keyset(plan.model, keyset)?),
            None => None,
        };
        let link = Link::Root { limit: plan.page.limit, offset: plan.page.offset, keyset };
        self.execute_level(plan, link, 0).await
    }

    /// A cursor's values as the page-ordering columns' own types; a cursor that does not fit
    /// them (another list's, or edited) is refused.
    fn root_keyset(&self, model: ModelId, keyset: &Keyset) -> StoreResult<RootKeyset> {
        let model = self.catalogue().model(model);
        let invalid = || StoreError::Invalid {
            argument: "after".into(),
            message: "Invalid cursor: it is not one of this list's.".into(),
        };
        let after = match &keyset.after {
            None => None,
            Some(values) if values.len() != model.page_ordering.len() => return Err(invalid()),
            Some(values) => {
                let mut out = Vec::with_capacity(values.len());
                for (term, value) in model.page_ordering.iter().zip(values) {
                    let ty = order_col_type(model, &term.column);
                    out.push(cursor_value(ty, value).ok_or_else(invalid)?);
                }
                Some(out)
            }
        };
        Ok(RootKeyset { first: keyset.first, after })
    }

    /// How many rows a list has with its filters (a cursor page's `total_count`).
    pub async fn count_rows(&self, model: ModelId, filters: &[FilterArg]) -> StoreResult<u64> {
        let condition = self.compile_filters(model, filters).await?;
        let table = &self.catalogue().model(model).table;
        let mut select = sea_query::Query::select();
        select
            .expr(sea_query::Expr::cust("COUNT(*)"))
            .from(sea_query::Alias::new(table))
            .cond_where(condition);
        let rows = self.fetch(&select, &[ColType::Int(IntSize::Big)]).await?;
        match rows.cells.first() {
            Some(crate::Cell::Int(n)) => Ok((*n).max(0) as u64),
            _ => Ok(0),
        }
    }

    fn execute_level<'a>(
        &'a self,
        plan: &'a Plan,
        link: Link,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, StoreResult<Level>> {
        Box::pin(async move {
            let skip = usize::from(!matches!(link, Link::Root { .. }));
            let condition = match self.compile_filters(plan.model, &plan.filters).await {
                Ok(condition) => condition,
                Err(StoreError::Invalid { argument, message }) if skip == 1 => {
                    return Ok(Level {
                        refused: Some(vec![(argument, message)]),
                        ..Level::default()
                    })
                }
                Err(StoreError::Filters(refused)) if skip == 1 => {
                    return Ok(Level { refused: Some(refused), ..Level::default() })
                }
                Err(e) => return Err(e),
            };
            let spec = LevelSpec {
                model: plan.model,
                depth,
                columns: plan.columns.clone(),
                condition,
                link,
            };
            let (rows, scope) = self.load_level(&spec).await?;
            let mut level = Level { rows, skip, ..Level::default() };
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
            if plan.usage || plan.lists {
                // The level's own ids: what lies under them is read in one go.
                let mut ids: Vec<Uuid> = (0..level.rows.len())
                    .filter_map(|r| level.rows.row(r)[skip].as_uuid())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                if plan.usage {
                    level.usage = Some(self.prefix_usage(plan.model, &ids).await?);
                }
                if plan.lists {
                    level.lists = Some(self.usage_lists(plan.model, &ids).await?);
                }
            }
            for (rel, child) in &plan.children {
                // No parents: nothing to read, and nothing of the child's is checked.
                if level.rows.is_empty() {
                    level.children.push(Level::default());
                    continue;
                }
                let link = self.child_link(plan, &level, &scope, rel);
                level.children.push(self.execute_level(child, link, depth + 1).await?);
            }
            Ok(level)
        })
    }

    /// How a child level names its parents. Few parents: hand over their keys. Many: hand over
    /// the parent statement, either as `IN (subquery)` (the database walks the parent keys and
    /// probes the child by index) or as a correlated `EXISTS` (it walks the child rows and probes
    /// the parent by key), whichever walks fewer rows. Reverse relations always walk the parent
    /// keys: their child table is the bigger.
    fn child_link(&self, plan: &Plan, level: &Level, scope: &Scope, rel: &Relation) -> Link {
        let keys_from = |column: &str, child_table: Option<&str>| -> Keys {
            let parents = match plan.columns.iter().position(|(c, _)| c == column) {
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
                Some(table) if self.table_rows(table).is_none_or(|rows| rows < parents) => {
                    scope.exists_of(column)
                }
                _ => scope.keys_of(column),
            }
        };
        // Forward relations and through tables walk the parent keys or probe the parent,
        // whichever is fewer rows; reverse relations always walk the parent keys (their child
        // table is the bigger).
        let keys = match &rel.shape {
            RelationShape::Forward { column, .. } => {
                keys_from(column, Some(&self.catalogue().model(rel.target).table))
            }
            RelationShape::Reverse { .. } => keys_from("id", None),
            RelationShape::Peer { table, .. } | RelationShape::Through { table, .. } => {
                keys_from("id", Some(table))
            }
        };
        Link::Child { shape: rel.shape.clone(), keys }
    }
}

/// The type of an ordering column: a field's column, or a natural-order column (`_name`).
pub(crate) fn order_col_type(model: &Model, column: &str) -> ColType {
    match model.fields.iter().find(|f| f.column.as_deref() == Some(column)) {
        Some(field) => col_type(&field.kind),
        None => ColType::Text,
    }
}

/// A cursor value as a bound value of the column's type; `Some(None)` is NULL.
fn cursor_value(ty: ColType, value: &CursorValue) -> Option<Option<sea_query::Value>> {
    use sea_query::Value;
    Some(Some(match (ty, value) {
        (_, CursorValue::Null) => return Some(None),
        (ColType::Uuid, CursorValue::Text(t)) => uuid_value(uuid::Uuid::parse_str(t).ok()?),
        (ColType::Text, CursorValue::Text(t)) => Value::String(Some(Box::new(t.clone()))),
        (ColType::Int(_), CursorValue::Int(i)) => Value::BigInt(Some(*i)),
        (ColType::Bool, CursorValue::Bool(b)) => Value::Bool(Some(*b)),
        (ColType::DateTime, CursorValue::Text(t)) => {
            let at = chrono::DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&chrono::Utc);
            Value::ChronoDateTimeUtc(Some(Box::new(at)))
        }
        (ColType::Date, CursorValue::Text(t)) => {
            Value::ChronoDate(Some(Box::new(t.parse::<chrono::NaiveDate>().ok()?)))
        }
        (ColType::Bytes, CursorValue::Text(t)) => Value::Bytes(Some(Box::new(hex_decode(t)?))),
        _ => return None,
    }))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}
