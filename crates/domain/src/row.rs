//! An object as the domain sees it: its stored fields by name as typed values, its
//! many-to-many lists and its custom field data. The model rules read it (with the rows they
//! asked for, [`Related`]), the writer's snapshots and uniqueness are made of it, and it becomes
//! JSON only at the edge, in the change-log form (`Model::row_json`).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;
use uuid::Uuid;

use crate::value::Datum;

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
        self.get(name).as_str()
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

    /// The list fields and their ids.
    pub fn lists(&self) -> impl Iterator<Item = (&str, &[Uuid])> {
        self.lists.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
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
}

/// The rows a model rule asked for.
#[derive(Debug, Clone, Default)]
pub struct Related {
    /// The targets of the rule's `needs`, by reference field; absent when the field is unset.
    pub rows: HashMap<&'static str, Row>,
    /// The rows of each of the rule's lists, by list name.
    pub lists: HashMap<&'static str, Vec<Listed>>,
}

impl Related {
    pub fn row(&self, field: &str) -> Option<&Row> {
        self.rows.get(field)
    }

    /// The rows of a list; none when the rule did not ask for it or the object's field is unset.
    pub fn list(&self, name: &str) -> &[Listed] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }
}

/// A row of a rule's list, with the targets of the list's `expand` references.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub row: Row,
    pub expanded: HashMap<&'static str, Row>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ip_to_bytes;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

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
        let json = model.row_json(&address("10.0.0.1", 24));
        let keys: Vec<&str> =
            json.as_object().expect("object").keys().map(String::as_str).collect();
        let columns = model.columns().count();
        assert_eq!(keys.len(), columns + 1 + model.computed.len() + 1, "{keys:?}");
        assert_eq!(json["host"], "10.0.0.1");
        assert_eq!(json["address"], "10.0.0.1/24");
        assert_eq!(json["custom_fields"], Json::Null);
        assert_eq!(json["tags"][0], Uuid::from_u128(1).to_string(), "lists are sorted");
        assert_eq!(json["dns_name"], Json::Null, "a column the row lacks is null");
        assert_eq!(model.repr(&address("10.0.0.1", 24)), "10.0.0.1/24");
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
