//! An object's JSON forms: the stored fields as the import and export read them, and the
//! change-log form (fields, computed fields, list fields), made from a [`Row`] at the edge.

use serde_json::{Map, Value as Json};

use super::{ComputedKind, Field, FieldKind, Model};
use crate::row::{Row, CUSTOM_FIELDS};
use crate::value::{ip_from_bytes, Datum};

impl Model {
    /// The text of an address-valued computed field (`address`, `prefix`): `host/length`.
    pub fn computed_of(&self, row: &Row, index: usize) -> Option<String> {
        let model = self;
        let computed = model.computed.get(index).filter(|c| c.kind.is_address())?;
        let (a, b) = (computed.from.first()?, computed.from.get(1)?);
        let Datum::Bytes(bytes) = row.get(&model.fields[*a].name) else { return None };
        let length = row.int(&model.fields[*b].name)?;
        Some(format!("{}/{length}", ip_from_bytes(bytes)?))
    }

    /// A computed field's value as JSON (its change-log form).
    pub fn computed_json(&self, row: &Row, index: usize) -> Json {
        let Some(computed) = self.computed.get(index) else { return Json::Null };
        match computed.kind {
            ComputedKind::IpInterface | ComputedKind::IpNetwork => {
                self.computed_of(row, index).map_or(Json::Null, Json::String)
            }
            ComputedKind::DriverMappings => {
                let driver = computed.from.first().and_then(|f| row.text(&self.fields[*f].name));
                crate::platform::network_driver_mappings(driver.unwrap_or_default())
            }
        }
    }

    /// The stored fields in the import and export form: each column's field in the model's
    /// order, then the custom field data.
    pub fn fields_json(&self, row: &Row) -> Map<String, Json> {
        let model = self;
        let mut map = Map::new();
        for (_, field, _) in model.columns().filter(|(_, f, _)| f.secret.is_none()) {
            map.insert(field.name.clone(), value_json(field, row.get(&field.name)));
        }
        if model.features.custom_fields {
            map.insert(CUSTOM_FIELDS.into(), row.custom_fields().cloned().unwrap_or(Json::Null));
        }
        map
    }

    /// The change-log form: the stored fields, the computed ones, then the list fields.
    pub fn row_json(&self, row: &Row) -> Json {
        let mut map = self.fields_json(row);
        for (i, computed) in self.computed.iter().enumerate() {
            map.insert(computed.name.clone(), self.computed_json(row, i));
        }
        for (name, ids) in row.lists() {
            map.insert(name.to_owned(), ids.iter().map(|i| Json::String(i.to_string())).collect());
        }
        Json::Object(map)
    }

    /// How the change log names the object: its computed field (an address, a prefix), its
    /// natural-key field, or its id (Nautobot's `str(obj)`).
    pub fn repr(&self, row: &Row) -> String {
        let model = self;
        if let Some(shown) =
            (!model.computed.is_empty()).then(|| self.computed_of(row, 0)).flatten()
        {
            return shown;
        }
        if let Some(text) = model.lookup_field().and_then(|i| row.text(&model.fields[i].name)) {
            return text.to_owned();
        }
        row.id().map(|id| id.to_string()).unwrap_or_default()
    }
}

/// A stored value in the JSON of the change log and the export: addresses as text.
pub fn value_json(field: &Field, value: &Datum) -> Json {
    match value {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int(i) => Json::from(*i),
        Datum::Text(s) => {
            match (&field.kind, s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)) {
                (FieldKind::Float, Some(n)) => Json::Number(n),
                _ => Json::String(s.to_string()),
            }
        }
        Datum::Uuid(u) => Json::String(u.to_string()),
        Datum::Json(j) => (**j).clone(),
        Datum::DateTime(d) => Json::String(d.to_rfc3339()),
        Datum::Date(d) => Json::String(d.to_string()),
        Datum::Bytes(b) => match (&field.kind, ip_from_bytes(b)) {
            (FieldKind::IpBytes, Some(ip)) => Json::String(ip.to_string()),
            _ => Json::Null,
        },
    }
}
