//! PostgreSQL's rows decoded from their binary form straight into cells: each cell's bytes are
//! read as the column's type says (`int4` is four bytes big endian, `timestamptz` microseconds
//! since 2000, `jsonb` a version byte and the text …), with no typed decoder in between.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Row, ValueRef};

use super::internal;
use crate::cell::{Cell, ColType};
use crate::{StoreError, StoreResult};

// PostgreSQL's type oids (`pg_type.oid`) of the columns Ferrobot's tables and reads have.
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const JSON: u32 = 114;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const UUID: u32 = 2950;
const JSONB: u32 = 3802;

pub(super) fn decode_row(row: &PgRow, types: &[ColType], cells: &mut Vec<Cell>) -> StoreResult<()> {
    for (idx, ty) in types.iter().enumerate() {
        let raw = row.try_get_raw(idx).map_err(internal)?;
        if raw.is_null() {
            cells.push(Cell::Null);
            continue;
        }
        let oid = raw.type_info().oid().map_or(0, |o| o.0);
        if raw.format() != PgValueFormat::Binary {
            return Err(StoreError::Internal(format!("column {idx} did not come in binary")));
        }
        let bytes = raw.as_bytes().map_err(internal)?;
        cells.push(decode(*ty, oid, bytes).ok_or_else(|| {
            StoreError::Internal(format!("cannot read column {idx} (type oid {oid}) as {ty:?}"))
        })?);
    }
    Ok(())
}

/// One cell from its binary form: `oid` is the column's type, `ty` what the read wants.
fn decode(ty: ColType, oid: u32, bytes: &[u8]) -> Option<Cell> {
    let text = || std::str::from_utf8(bytes).ok().map(|s| s.to_owned().into_boxed_str());
    Some(match (ty, oid) {
        (ColType::Uuid, UUID) => Cell::Uuid(uuid::Uuid::from_slice(bytes).ok()?),
        (ColType::Text | ColType::JsonText, TEXT | VARCHAR | BPCHAR | NAME | JSON) => {
            Cell::Text(text()?)
        }
        (ColType::Text | ColType::JsonText, JSONB) => Cell::Text(jsonb_text(bytes)?.into()),
        (ColType::Text, INT2 | INT4 | INT8) => Cell::Text(int(bytes)?.to_string().into()),
        (ColType::Int(_), INT2 | INT4 | INT8) => Cell::Int(int(bytes)?),
        (ColType::Bool, BOOL) => Cell::Bool(*bytes.first()? != 0),
        (ColType::DateTime, TIMESTAMPTZ | TIMESTAMP) => {
            let micros = i64::from_be_bytes(bytes.try_into().ok()?);
            Cell::DateTime(epoch().checked_add_signed(Duration::microseconds(micros))?)
        }
        (ColType::Date, DATE) => {
            let days = i32::from_be_bytes(bytes.try_into().ok()?);
            let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)?;
            Cell::Date(epoch.checked_add_signed(Duration::days(i64::from(days)))?)
        }
        (ColType::Json, JSON) => Cell::Json(Box::new(serde_json::from_slice(bytes).ok()?)),
        (ColType::Json, JSONB) => {
            Cell::Json(Box::new(serde_json::from_str(jsonb_text(bytes)?).ok()?))
        }
        (ColType::Bytes, BYTEA) => Cell::Bytes(bytes.into()),
        _ => return None,
    })
}

/// An integer of any width: its width is its length.
fn int(bytes: &[u8]) -> Option<i64> {
    Some(match bytes.len() {
        2 => i64::from(i16::from_be_bytes(bytes.try_into().ok()?)),
        4 => i64::from(i32::from_be_bytes(bytes.try_into().ok()?)),
        8 => i64::from_be_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

/// `jsonb`'s binary form: a version byte (1), then the JSON text.
fn jsonb_text(bytes: &[u8]) -> Option<&str> {
    match bytes.split_first() {
        Some((1, rest)) => std::str::from_utf8(rest).ok(),
        _ => None,
    }
}

/// PostgreSQL's epoch for dates and times: 2000-01-01 00:00 UTC.
fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec: https://www.postgresql.org/docs/15/protocol-overview.html#PROTOCOL-FORMAT-CODES —
    // each type's binary form is its `*send` function's output (int4send, timestamptz_send,
    // jsonb_send …).
    #[test]
    fn cells_decode_from_binary_forms() {
        let id = uuid::Uuid::now_v7();
        let cases: Vec<(ColType, u32, Vec<u8>, Option<Cell>)> = vec![
            (ColType::Uuid, UUID, id.as_bytes().to_vec(), Some(Cell::Uuid(id))),
            (ColType::Text, VARCHAR, b"eth0".to_vec(), Some(Cell::Text("eth0".into()))),
            (
                ColType::Int(ferrobot_domain::catalogue::IntSize::Small),
                INT2,
                vec![0xff, 0xfe],
                Some(Cell::Int(-2)),
            ),
            (
                ColType::Int(ferrobot_domain::catalogue::IntSize::Int),
                INT4,
                48i32.to_be_bytes().to_vec(),
                Some(Cell::Int(48)),
            ),
            (
                ColType::Int(ferrobot_domain::catalogue::IntSize::Big),
                INT8,
                (1i64 << 40).to_be_bytes().to_vec(),
                Some(Cell::Int(1 << 40)),
            ),
            (ColType::Text, INT4, 7i32.to_be_bytes().to_vec(), Some(Cell::Text("7".into()))),
            (ColType::Bool, BOOL, vec![1], Some(Cell::Bool(true))),
            (ColType::Bool, BOOL, vec![0], Some(Cell::Bool(false))),
            // 2026-12-03 08:00:00.5 UTC is 849,600,000.5 s after 2000-01-01.
            (
                ColType::DateTime,
                TIMESTAMPTZ,
                849_600_000_500_000i64.to_be_bytes().to_vec(),
                DateTime::from_timestamp(946_684_800 + 849_600_000, 500_000_000)
                    .map(Cell::DateTime),
            ),
            // Before 2000: negative.
            (
                ColType::Date,
                DATE,
                (-1i32).to_be_bytes().to_vec(),
                NaiveDate::from_ymd_opt(1999, 12, 31).map(Cell::Date),
            ),
            (
                ColType::JsonText,
                JSONB,
                b"\x01{\"a\": 1}".to_vec(),
                Some(Cell::Text("{\"a\": 1}".into())),
            ),
            (
                ColType::Json,
                JSONB,
                b"\x01[1]".to_vec(),
                Some(Cell::Json(Box::new(serde_json::json!([1])))),
            ),
            (ColType::Bytes, BYTEA, vec![10, 0, 0, 1], Some(Cell::Bytes(vec![10, 0, 0, 1].into()))),
            // What does not fit is refused, never guessed.
            (ColType::Uuid, TEXT, b"not a uuid".to_vec(), None),
            (ColType::Int(ferrobot_domain::catalogue::IntSize::Int), INT4, vec![1, 2, 3], None),
            (ColType::Json, JSONB, b"\x02{}".to_vec(), None),
            (ColType::Text, TEXT, vec![0xff, 0xfe], None),
        ];
        for (ty, oid, bytes, want) in cases {
            assert_eq!(decode(ty, oid, &bytes), want, "{ty:?} from oid {oid}: {bytes:?}");
        }
    }
}
