//! An object as the domain sees it: its stored fields by name as typed values, its
//! many-to-many lists and its custom field data. The model rules read it, the writer's
//! snapshots and uniqueness are made of it, and it becomes JSON only at the edge, in the
//! change-log form ([`Row::to_json`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::catalogue::{ComputedKind, Field, FieldKind, Model};
use crate::value::{ip_from_bytes, Datum};

/// The key of the custom field data in the change-log form.
pub const CUSTOM_FIELDS: &str = "custom_fields";

/// Fields that change on every write and so do not make two states of an object differ.
const TIMESTAMPS: [&str; 2] = ["created", "last_updated"];

static NULL: Datum = Datum::Null;

/// Field name → value (references as the target's id, addresses as their bytes), list field
/// name → ids (sorted), and the custom field data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    values: BTreeMap<String, Datum>,
    lists: BTreeMap<String, Vec<Uuid>>,
    custom: Option<Json>,
}

impl Row {
    pub fn new() -> Row {
        Row::default()
    }

    /// The value of a field; null when the row has none.
    pub fn get(&self, name: &str) -> &Datum {
        self.values.get(name).unwrap_or(&NULL)
    }

    pub fn set(&mut self, name: impl Into<String>, value: Datum) {
        self.values.insert(name.into(), value);
    }

    /// Whether the field has a value other than null.
    pub fn has(&self, name: &str) -> bool {
        !self.get(name).is_null()
    }

    pub fn id(&self) -> Option<Uuid> {
        self.uuid("id")
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Datum::Text(t) => Some(t),
            _ => None,
        }
    }

    /// A reference's target, or a UUID field.
    pub fn uuid(&self, name: &str) -> Option<Uuid> {
        self.get(name).as_uuid()
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Datum::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A JSON field's value (a rack reservation's units, a status's content types).
    pub fn json(&self, name: &str) -> Option<&Json> {
        match self.get(name) {
            Datum::Json(j) => Some(j),
            _ => None,
        }
    }

    /// The fields and their values.
    pub fn values(&self) -> impl Iterator<Item = (&str, &Datum)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The ids a list field (many-to-many, tags) holds.
    pub fn list(&self, name: &str) -> &[Uuid] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }

    /// Sets a list field, sorted.
    pub fn set_list(&mut self, name: impl Into<String>, mut ids: Vec<Uuid>) {
        ids.sort_unstable();
        self.lists.insert(name.into(), ids);
    }

    pub fn custom_fields(&self) -> Option<&Json> {
        self.custom.as_ref()
    }

    pub fn set_custom_fields(&mut self, data: Option<Json>) {
        self.custom = data;
    }

    /// Whether two states of an object differ in more than their timestamps.
    pub fn same_as(&self, other: &Row) -> bool {
        fn content(r: &Row) -> impl Iterator<Item = (&String, &Datum)> {
            r.values.iter().filter(|(k, _)| !TIMESTAMPS.contains(&k.as_str()))
        }
        self.lists == other.lists && self.custom == other.custom && content(self).eq(content(other))
    }

    /// The value of a computed field (`address`, `prefix`): `host/length`.
    pub fn computed(&self, model: &Model, index: usize) -> Option<String> {
        let computed = model.computed.get(index)?;
        match computed.kind {
            ComputedKind::IpInterface | ComputedKind::IpNetwork => {
                let (a, b) = (computed.from.first()?, computed.from.get(1)?);
                let Datum::Bytes(bytes) = self.get(&model.fields[*a].name) else { return None };
                let length = self.int(&model.fields[*b].name)?;
                Some(format!("{}/{length}", ip_from_bytes(bytes)?))
            }
        }
    }

    /// The stored fields in the import and export form: each column's field in the model's
    /// order, then the custom field data.
    pub fn fields_json(&self, model: &Model) -> Map<String, Json> {
        let mut map = Map::new();
        for (_, field, _) in model.columns() {
            map.insert(field.name.clone(), value_json(field, self.get(&field.name)));
        }
        if model.features.custom_fields {
            map.insert(CUSTOM_FIELDS.into(), self.custom.clone().unwrap_or(Json::Null));
        }
        map
    }

    /// The change-log form: the stored fields, the computed ones, then the list fields.
    pub fn to_json(&self, model: &Model) -> Json {
        let mut map = self.fields_json(model);
        for (i, computed) in model.computed.iter().enumerate() {
            map.insert(
                computed.name.clone(),
                self.computed(model, i).map_or(Json::Null, Json::String),
            );
        }
        for (name, ids) in &self.lists {
            map.insert(name.clone(), ids.iter().map(|i| Json::String(i.to_string())).collect());
        }
        Json::Object(map)
    }

    /// How the change log names the object: its computed field (an address, a prefix), its
    /// natural-key field, or its id (Nautobot's `str(obj)`).
    pub fn repr(&self, model: &Model) -> String {
        if let Some(shown) = (!model.computed.is_empty()).then(|| self.computed(model, 0)).flatten()
        {
            return shown;
        }
        if let Some(text) = model.lookup_field().and_then(|i| self.text(&model.fields[i].name)) {
            return text.to_owned();
        }
        self.id().map(|id| id.to_string()).unwrap_or_default()
    }
}

/// A stored value in the JSON of the change log and the export: addresses as text.
pub fn value_json(field: &Field, value: &Datum) -> Json {
    match value {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int(i) => Json::from(*i),
        Datum::Text(s) => Json::String(s.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ip_to_bytes;
    use chrono::{TimeZone, Utc};

    fn address(host: &str, length: i64) -> Row {
        let mut row = Row::new();
        row.set("id", Datum::Uuid(Uuid::from_u128(7)));
        let ip: std::net::IpAddr = host.parse().expect("an address");
        row.set("host", Datum::Bytes(ip_to_bytes(ip).into()));
        row.set("mask_length", Datum::Int(length));
        row.set_list("tags", vec![Uuid::from_u128(2), Uuid::from_u128(1)]);
        row
    }

    #[test]
    fn the_change_log_form_has_every_column_then_computed_then_lists() {
        let catalogue = crate::Catalogue::core().expect("catalogue");
        let model = catalogue.by_label("ipam.ipaddress").expect("ipaddress");
        let json = address("10.0.0.1", 24).to_json(model);
        let keys: Vec<&str> =
            json.as_object().expect("object").keys().map(String::as_str).collect();
        let columns = model.columns().count();
        assert_eq!(keys.len(), columns + 1 + model.computed.len() + 1, "{keys:?}");
        assert_eq!(json["host"], "10.0.0.1");
        assert_eq!(json["address"], "10.0.0.1/24");
        assert_eq!(json["custom_fields"], Json::Null);
        assert_eq!(json["tags"][0], Uuid::from_u128(1).to_string(), "lists are sorted");
        assert_eq!(json["dns_name"], Json::Null, "a column the row lacks is null");
        assert_eq!(address("10.0.0.1", 24).repr(model), "10.0.0.1/24");
    }

    #[test]
    fn timestamps_do_not_make_two_states_differ() {
        let before = address("10.0.0.1", 24);
        let mut after = before.clone();
        after.set("last_updated", Datum::DateTime(Utc.timestamp_opt(1, 0).unwrap()));
        assert!(after.same_as(&before));
        after.set("mask_length", Datum::Int(25));
        assert!(!after.same_as(&before));
        let mut tagged = before.clone();
        tagged.set_list("tags", Vec::new());
        assert!(!tagged.same_as(&before));
        assert_eq!(before.get("missing"), &Datum::Null);
        assert_eq!(before.text("host"), None, "bytes are not text");
    }
}
