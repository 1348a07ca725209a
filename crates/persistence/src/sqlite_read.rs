//! The SQLite read path: reads on plain SQLite connections, on a blocking thread.
//!
//! sqlx runs each SQLite connection on a worker thread and hands every row over a channel,
//! which costs ~4 µs a row; a fleet-sized level (480,000 interfaces) spent most of its time there.
//! Reading through rusqlite on the same library (`libsqlite3-sys`, shared with sqlx) costs a
//! fraction of that. Writes stay on sea-orm, so transactions keep one owner; readers open the
//! file read-only and, in WAL mode, see the last committed state.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as Lite, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sea_query::Value;

use crate::cell::{Cell, ColType, Rows};
use crate::{StoreError, StoreResult};

/// A pool of read-only connections to one SQLite file, as many as reads may run at once.
///
/// Reads take a permit first, so that however many clients ask, at most `size` blocking
/// threads read (more would only contend for SQLite's locks and the two cores) and every
/// connection is kept for the next read: opening one re-reads the whole schema.
pub(crate) struct SqliteReader {
    path: String,
    idle: Mutex<Vec<Connection>>,
    size: usize,
    permits: tokio::sync::Semaphore,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
impl SqliteReader {
    pub(crate) fn new(path: String, size: usize) -> SqliteReader {
        let size = size.max(1);
        SqliteReader {
            path,
            idle: Mutex::new(Vec::with_capacity(size)),
            size,
            permits: tokio::sync::Semaphore::new(size),
        }
    }

    /// The database file.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    fn open(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(internal)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(internal)?;
        conn.set_prepared_statement_cache_capacity(64);
        // `x REGEXP y` calls regexp(y, x): the pattern comes first.
        conn.create_scalar_function(
            "regexp",
            2,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                // The pattern is a constant of the statement: compiled on the first row and kept
                // by SQLite beside it (auxiliary data) for the rows after.
                let regex =
                    ctx.get_or_create_aux(0, |pattern| -> Result<regex::Regex, BoxError> {
                        let pattern = pattern.as_str().map_err(|e| Box::new(e) as BoxError)?;
                        Ok(crate::pattern::compile(pattern)?)
                    })?;
                Ok(match ctx.get_raw(1) {
                    ValueRef::Text(t) => regex.is_match(&String::from_utf8_lossy(t)),
                    ValueRef::Integer(i) => regex.is_match(&i.to_string()),
                    ValueRef::Real(r) => regex.is_match(&r.to_string()),
                    _ => false,
                })
            },
        )
        .map_err(internal)?;
        Ok(conn)
    }

    /// Runs one statement on a blocking thread, once one of the pool's permits is free.
    pub(crate) async fn read(
        self: &Arc<Self>,
        sql: String,
        values: Vec<Value>,
        types: Vec<ColType>,
    ) -> StoreResult<Rows> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || reader.fetch(&sql, &values, &types))
            .await
            .map_err(internal)?
    }

    /// Runs one statement and decodes every row with `types` (blocking).
    fn fetch(&self, sql: &str, values: &[Value], types: &[ColType]) -> StoreResult<Rows> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(c) => c,
            None => self.open()?,
        };
        let result = run(&conn, sql, values, types);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.size {
                idle.push(conn);
            }
        }
        result
    }
}

fn run(conn: &Connection, sql: &str, values: &[Value], types: &[ColType]) -> StoreResult<Rows> {
    let mut stmt = conn.prepare_cached(sql).map_err(internal)?;
    let params: Vec<Lite> = values.iter().map(to_lite).collect::<StoreResult<_>>()?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(internal)?;
    let mut out = Rows { width: types.len(), cells: Vec::new() };
    while let Some(row) = rows.next().map_err(internal)? {
        for (idx, ty) in types.iter().enumerate() {
            let raw = row.get_ref(idx).map_err(internal)?;
            out.cells.push(decode(raw, *ty)?);
        }
    }
    Ok(out)
}

fn decode(raw: ValueRef<'_>, ty: ColType) -> StoreResult<Cell> {
    let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
    Ok(match (ty, raw) {
        (_, ValueRef::Null) => Cell::Null,
        (ColType::Uuid, ValueRef::Blob(b)) => {
            Cell::Uuid(uuid::Uuid::from_slice(b).map_err(internal)?)
        }
        (ColType::Uuid, ValueRef::Text(t)) => {
            Cell::Uuid(uuid::Uuid::parse_str(&text(t)).map_err(internal)?)
        }
        (ColType::Text, ValueRef::Text(t)) => Cell::Text(text(t).into_boxed_str()),
        (ColType::Text, ValueRef::Integer(i)) => Cell::Text(i.to_string().into_boxed_str()),
        (ColType::Text, ValueRef::Real(r)) => Cell::Text(r.to_string().into_boxed_str()),
        (ColType::Int(_), ValueRef::Integer(i)) => Cell::Int(i),
        (ColType::Int(_), ValueRef::Real(r)) => Cell::Int(r as i64),
        (ColType::Bool, ValueRef::Integer(i)) => Cell::Bool(i != 0),
        (ColType::DateTime, ValueRef::Text(t)) => {
            let s = text(t);
            let parsed = DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(&s, "%F %T%.f").map(|n| n.and_utc())
                })
                .map_err(internal)?;
            Cell::DateTime(parsed)
        }
        (ColType::Date, ValueRef::Text(t)) => {
            Cell::Date(NaiveDate::parse_from_str(&text(t), "%F").map_err(internal)?)
        }
        (ColType::JsonText, ValueRef::Text(t)) => Cell::Text(text(t).into_boxed_str()),
        (ColType::Json, ValueRef::Text(t)) => {
            Cell::Json(Box::new(serde_json::from_slice(t).map_err(internal)?))
        }
        (ColType::Bytes, ValueRef::Blob(b)) => Cell::Bytes(b.to_vec().into_boxed_slice()),
        (ty, other) => {
            return Err(StoreError::Internal(format!(
                "cannot read {:?} as {ty:?}",
                other.data_type()
            )))
        }
    })
}

/// Binds a value exactly as sqlx encodes it for SQLite, so both paths see the same data.
fn to_lite(value: &Value) -> StoreResult<Lite> {
    Ok(match value {
        Value::Bool(v) => v.map_or(Lite::Null, |b| Lite::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::SmallInt(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::Int(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::BigInt(v) => v.map_or(Lite::Null, Lite::Integer),
        Value::TinyUnsigned(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::SmallUnsigned(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::Unsigned(v) => v.map_or(Lite::Null, |i| Lite::Integer(i64::from(i))),
        Value::BigUnsigned(v) => v.map_or(Lite::Null, |i| Lite::Integer(i as i64)),
        Value::Float(v) => v.map_or(Lite::Null, |f| Lite::Real(f64::from(f))),
        Value::Double(v) => v.map_or(Lite::Null, Lite::Real),
        Value::String(v) => v.as_ref().map_or(Lite::Null, |s| Lite::Text(s.to_string())),
        Value::Char(v) => v.map_or(Lite::Null, |c| Lite::Text(c.to_string())),
        Value::Bytes(v) => v.as_ref().map_or(Lite::Null, |b| Lite::Blob(b.to_vec())),
        Value::Uuid(v) => v.as_ref().map_or(Lite::Null, |u| Lite::Blob(u.as_bytes().to_vec())),
        Value::Json(v) => v.as_ref().map_or(Lite::Null, |j| Lite::Text(j.to_string())),
        Value::ChronoDateTimeUtc(v) => v.as_ref().map_or(Lite::Null, |d| {
            Lite::Text(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        }),
        Value::ChronoDate(v) => {
            v.as_ref().map_or(Lite::Null, |d| Lite::Text(d.format("%F").to_string()))
        }
        other => {
            return Err(StoreError::Internal(format!("unsupported SQLite parameter {other:?}")))
        }
    })
}
