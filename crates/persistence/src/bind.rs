//! The database edge of a write: the domain's values become the values a statement binds,
//! typed by the column they go to (a null is bound as its column's type, which PostgreSQL
//! needs). Nothing before this point holds a database value.

use ferrobot_domain::catalogue::Model;
use ferrobot_domain::value::Datum;
use sea_query::Value;

use crate::cell::{col_type, ColType};

/// The column the custom field data of a model is kept in.
pub const CUSTOM_FIELD_DATA: &str = "_custom_field_data";

/// The value `datum` binds as in a column of type `ty`.
pub fn bind(ty: ColType, datum: Datum) -> Value {
    match datum {
        Datum::Null => null(ty),
        Datum::Bool(b) => Value::Bool(Some(b)),
        Datum::Int(i) => Value::BigInt(Some(i)),
        Datum::Text(s) => Value::String(Some(Box::new(s.into()))),
        Datum::Uuid(u) => Value::Uuid(Some(Box::new(u))),
        Datum::Bytes(b) => Value::Bytes(Some(Box::new(b.into()))),
        Datum::Json(j) => Value::Json(Some(j)),
        Datum::DateTime(d) => Value::ChronoDateTimeUtc(Some(Box::new(d))),
        Datum::Date(d) => Value::ChronoDate(Some(Box::new(d))),
    }
}

/// A null of a column's type.
pub fn null(ty: ColType) -> Value {
    match ty {
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

/// The type of a column of a model's table: a field's column, a naturally ordered field's
/// companion (`_name`, text) or the custom field data (JSON). The same columns as the DDL in
/// [`crate::schema`] declares.
pub fn column_type(model: &Model, column: &str) -> ColType {
    if let Some((_, field, _)) = model.columns().find(|(_, _, c)| *c == column) {
        return col_type(&field.kind);
    }
    if column == CUSTOM_FIELD_DATA {
        ColType::Json
    } else {
        ColType::Text
    }
}

/// A model's row on its way to its table: each column's value bound as its type.
pub fn bind_row(
    model: &Model,
    values: impl IntoIterator<Item = (String, Datum)>,
) -> (Vec<String>, Vec<Value>) {
    values
        .into_iter()
        .map(|(column, datum)| {
            let value = bind(column_type(model, &column), datum);
            (column, value)
        })
        .unzip()
}
