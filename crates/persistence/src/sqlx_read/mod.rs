//! The PostgreSQL and MySQL read path: statements run on sqlx's pools directly, rows decoded
//! into cells as they arrive.
//!
//! Through sea-orm each row passed a traced, metered stream and each cell sea-orm's result
//! wrapper and sqlx's type check before its decoder: at 480,000 interface rows that cost about
//! as much server time as PostgreSQL spent producing them. Here PostgreSQL's cells are read from
//! their binary form ([`pg`]), MySQL's through sqlx's decoders without the type check
//! ([`mysql`]). Writes stay on sea-orm, as on SQLite, so transactions keep one owner.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use sea_query::Value;
use sqlx::{Arguments, Database, Encode, Executor, IntoArguments, Pool, Type};

use crate::cell::{Cell, ColType, Rows};
use crate::{StoreError, StoreResult};

mod mysql;
mod pg;

/// Reads on the reader pool of a PostgreSQL or MySQL database.
#[derive(Clone)]
pub(crate) enum SqlxReader {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn query_error(e: sqlx::Error) -> StoreError {
    StoreError::from(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)))
}

/// Why a read failed: its connection was found closed before any row came (the read may be
/// tried again on another), or anything else.
enum Failure {
    Connection(StoreError),
    Other(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Connection(e) | Failure::Other(e) => e,
        }
    }
}

impl SqlxReader {
    /// Runs one statement and decodes every row with `types`. The pools hand connections out
    /// without a test round trip, so a connection found closed (the database restarted) before
    /// any row came is replaced and the read tried once more.
    pub(crate) async fn read(
        &self,
        sql: &str,
        values: &[Value],
        types: &[ColType],
    ) -> StoreResult<Rows> {
        match self.try_read(sql, values, types).await {
            Err(Failure::Connection(_)) => {
                self.try_read(sql, values, types).await.map_err(Failure::into_error)
            }
            other => other.map_err(Failure::into_error),
        }
    }

    async fn try_read(
        &self,
        sql: &str,
        values: &[Value],
        types: &[ColType],
    ) -> Result<Rows, Failure> {
        match self {
            SqlxReader::Postgres(pool) => fetch(pool, sql, values, types, pg::decode_row).await,
            SqlxReader::MySql(pool) => fetch(pool, sql, values, types, mysql::decode_row).await,
        }
    }
}

type DecodeRow<DB> = fn(&<DB as Database>::Row, &[ColType], &mut Vec<Cell>) -> StoreResult<()>;

async fn fetch<DB>(
    pool: &Pool<DB>,
    sql: &str,
    values: &[Value],
    types: &[ColType],
    decode_row: DecodeRow<DB>,
) -> Result<Rows, Failure>
where
    DB: Database + Bindable,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut args = DB::Arguments::default();
    for value in values {
        DB::bind(&mut args, value).map_err(Failure::Other)?;
    }
    let mut out = Rows { width: types.len(), cells: Vec::new() };
    let mut rows = sqlx::query_with(sql, args).fetch(pool);
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => decode_row(&row, types, &mut out.cells).map_err(Failure::Other)?,
            Ok(None) => return Ok(out),
            Err(e @ (sqlx::Error::Io(_) | sqlx::Error::PoolClosed)) if out.is_empty() => {
                return Err(Failure::Connection(query_error(e)))
            }
            Err(e) => return Err(Failure::Other(query_error(e))),
        }
    }
}

/// A database whose arguments take every value a statement of ours binds.
pub(crate) trait Bindable: Database {
    fn bind<'q>(args: &mut Self::Arguments<'q>, value: &Value) -> StoreResult<()>;
}

impl Bindable for sqlx::Postgres {
    fn bind<'q>(args: &mut Self::Arguments<'q>, value: &Value) -> StoreResult<()> {
        bind::<Self>(args, value)
    }
}

impl Bindable for sqlx::MySql {
    fn bind<'q>(args: &mut Self::Arguments<'q>, value: &Value) -> StoreResult<()> {
        bind::<Self>(args, value)
    }
}

/// Binds a value as sea-orm binds it, so both paths see the same types.
fn bind<'q, DB: Database>(args: &mut DB::Arguments<'q>, value: &Value) -> StoreResult<()>
where
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<i16>: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<f32>: Encode<'q, DB> + Type<DB>,
    Option<f64>: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
    Option<uuid::Uuid>: Encode<'q, DB> + Type<DB>,
    Option<serde_json::Value>: Encode<'q, DB> + Type<DB>,
    Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
    Option<NaiveDate>: Encode<'q, DB> + Type<DB>,
{
    let added = match value {
        Value::Bool(v) => args.add(*v),
        Value::TinyInt(v) => args.add(v.map(i16::from)),
        Value::SmallInt(v) => args.add(*v),
        Value::Int(v) => args.add(*v),
        Value::BigInt(v) => args.add(*v),
        Value::TinyUnsigned(v) => args.add(v.map(i16::from)),
        Value::SmallUnsigned(v) => args.add(v.map(i32::from)),
        Value::Unsigned(v) => args.add(v.map(i64::from)),
        Value::BigUnsigned(v) => args.add(v.map(|u| u as i64)),
        Value::Float(v) => args.add(*v),
        Value::Double(v) => args.add(*v),
        Value::String(v) => args.add(v.as_deref().cloned()),
        Value::Char(v) => args.add(v.map(String::from)),
        Value::Bytes(v) => args.add(v.as_deref().cloned()),
        Value::Uuid(v) => args.add(v.as_deref().copied()),
        Value::Json(v) => args.add(v.as_deref().cloned()),
        Value::ChronoDateTimeUtc(v) => args.add(v.as_deref().copied()),
        Value::ChronoDate(v) => args.add(v.as_deref().copied()),
        other => return Err(StoreError::Internal(format!("unsupported parameter {other:?}"))),
    };
    added.map_err(internal)
}
