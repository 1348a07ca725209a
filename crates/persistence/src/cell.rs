//! What a read hands back: the type each column is decoded as ([`ColType`]), the decoded value
//! ([`Cell`], the domain's [`Datum`](ferrobot_domain::value::Datum)), and the rows of a statement
//! ([`Rows`]).

use chrono::{DateTime, NaiveDate, Utc};
use ferrobot_domain::catalogue::{FieldKind, IntSize};
use sea_orm::QueryResult;
use uuid::Uuid;

use crate::{StoreError, StoreResult};

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

/// One decoded value of a row: the domain's one value type.
pub use ferrobot_domain::value::Datum as Cell;

pub fn col_type(kind: &FieldKind) -> ColType {
    match kind {
        FieldKind::Uuid | FieldKind::ForeignKey { .. } => ColType::Uuid,
        FieldKind::String { .. }
        | FieldKind::Text
        | FieldKind::Choice { .. }
        | FieldKind::Decimal { .. }
        | FieldKind::Float
        | FieldKind::ContentType
        | FieldKind::MacAddress => ColType::Text,
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
