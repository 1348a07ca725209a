//! One object's stored columns, read into the domain's [`Row`]: the select every reader of whole
//! objects shares (the writer's snapshots, the export, the usage lists, webhooks and their
//! replays, saved queries).

use ferrobot_domain::row::Row;
use ferrobot_domain::{Field, Model};
use sea_query::{Alias, Query};
use serde_json::{Map, Value as Json};

use crate::bind::CUSTOM_FIELD_DATA;
use crate::cell::{col_type, Cell, ColType};

/// The select of an object's stored values (its fields, then its custom field data), without
/// its table: the decoding types and the fields, in column order.
pub(crate) fn object_select(
    model: &Model,
) -> (sea_query::SelectStatement, Vec<ColType>, Vec<&Field>) {
    let mut select = Query::select();
    let mut types = Vec::new();
    let names = object_columns(model, None, &mut select, &mut types);
    (select, types, names)
}

/// A model's columns as [`object_json`] reads them, added to `select` (on the table aliased
/// `alias`, when given) with their types; returns the fields, in order.
pub(crate) fn object_columns<'m>(
    model: &'m Model,
    alias: Option<&Alias>,
    select: &mut sea_query::SelectStatement,
    types: &mut Vec<ColType>,
) -> Vec<&'m Field> {
    let mut add = |column: &str| {
        match alias {
            Some(a) => select.column((a.clone(), Alias::new(column))),
            None => select.column(Alias::new(column)),
        };
    };
    let mut fields = Vec::new();
    for (_, field, column) in model.columns() {
        add(column);
        types.push(col_type(&field.kind));
        fields.push(field);
    }
    if model.features.custom_fields {
        add(CUSTOM_FIELD_DATA);
        types.push(ColType::Json);
    }
    fields
}

/// A row of [`object_select`] as the domain's row: its fields' values, its custom field data.
pub(crate) fn object_row(model: &Model, fields: &[&Field], cells: &[Cell]) -> Row {
    let mut row = Row::new();
    for (field, cell) in fields.iter().zip(cells) {
        row.set(field.name.clone(), cell.clone());
    }
    if model.features.custom_fields {
        let data = match cells.get(fields.len()) {
            Some(Cell::Json(v)) => Some((**v).clone()),
            Some(Cell::Text(t)) => serde_json::from_str(t).ok(),
            _ => None,
        };
        row.set_custom_fields(data);
    }
    row
}

/// A row of [`object_select`] in the import format: field name → value, `custom_fields`.
pub(crate) fn object_json(model: &Model, fields: &[&Field], cells: &[Cell]) -> Map<String, Json> {
    model.fields_json(&object_row(model, fields, cells))
}

/// The select of whole objects of `model` whose fields equal the values given (field name,
/// value), with its table: the decoding types and the fields, in column order.
pub(crate) fn objects_where<'m>(
    model: &'m Model,
    equal: &[(&str, Cell)],
) -> (sea_query::SelectStatement, Vec<ColType>, Vec<&'m Field>) {
    let (mut select, types, fields) = object_select(model);
    select.from(Alias::new(&model.table));
    for (name, value) in equal {
        let ty = model.field(name).map_or(ColType::Text, |(_, f)| col_type(&f.kind));
        select.and_where(
            sea_query::Expr::col(Alias::new(model.column_of(name)))
                .eq(crate::bind::bind(ty, value.clone())),
        );
    }
    (select, types, fields)
}

impl crate::Store {
    /// The stored objects of the model of `label` whose fields equal the values given, as rows
    /// (read by a reader, outside any write).
    pub async fn objects_where(
        &self,
        label: &str,
        equal: &[(&str, Cell)],
    ) -> crate::StoreResult<Vec<Row>> {
        let catalogue = self.catalogue().clone();
        let model = catalogue
            .by_label(label)
            .ok_or_else(|| crate::StoreError::Internal(format!("no model {label}")))?;
        let (select, types, fields) = objects_where(model, equal);
        let rows = self.fetch(&select, &types).await?;
        Ok((0..rows.len()).map(|r| object_row(model, &fields, rows.row(r))).collect())
    }
}
