//! MySQL's rows decoded into cells through sqlx's decoders, without sqlx's per-cell type check:
//! each column's type is known from the catalogue (UUIDs are `binary(16)`, JSON is text).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::{Decode, MySql, Row, Type};

use super::internal;
use crate::cell::{Cell, ColType};
use crate::StoreResult;

fn get<'r, T: Decode<'r, MySql> + Type<MySql>>(
    row: &'r MySqlRow,
    idx: usize,
) -> StoreResult<Option<T>> {
    row.try_get_unchecked::<Option<T>, _>(idx)
        .map_err(|e| internal(format!("decode column {idx}: {e}")))
}

pub(super) fn decode_row(
    row: &MySqlRow,
    types: &[ColType],
    cells: &mut Vec<Cell>,
) -> StoreResult<()> {
    let text = |b: &[u8]| -> StoreResult<Box<str>> {
        Ok(std::str::from_utf8(b).map_err(internal)?.into())
    };
    for (idx, ty) in types.iter().enumerate() {
        let cell = match ty {
            ColType::Uuid => match get::<&[u8]>(row, idx)? {
                Some(b) => Some(Cell::Uuid(uuid::Uuid::from_slice(b).map_err(internal)?)),
                None => None,
            },
            ColType::Text | ColType::JsonText => match get::<&[u8]>(row, idx)? {
                Some(b) => Some(Cell::Text(text(b)?)),
                None => None,
            },
            ColType::Int(_) => get::<i64>(row, idx)?.map(Cell::Int),
            ColType::Bool => get::<bool>(row, idx)?.map(Cell::Bool),
            ColType::DateTime => get::<DateTime<Utc>>(row, idx)?.map(Cell::DateTime),
            ColType::Date => get::<NaiveDate>(row, idx)?.map(Cell::Date),
            ColType::Json => match get::<&[u8]>(row, idx)? {
                Some(b) => Some(Cell::Json(Box::new(serde_json::from_slice(b).map_err(internal)?))),
                None => None,
            },
            ColType::Bytes => get::<&[u8]>(row, idx)?.map(|b| Cell::Bytes(b.into())),
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(())
}
