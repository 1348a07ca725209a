//! Saved GraphQL queries (Nautobot's `GraphQLQuery`): the model and its fields, named once.
//!
//! Spec: nautobot/extras/models/models.py (`GraphQLQuery`), nautobot/extras/api/views.py
//! (`GraphQLQueryViewSet.run`).

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::row::Row;
use crate::value::Datum;

/// The saved query model.
pub const SAVED_QUERY: &str = "extras.graphqlquery";
/// Its field holding the document …
pub const QUERY: &str = "query";
/// … and the one holding its variables (derived from the document when written).
pub const VARIABLES: &str = "variables";

/// A saved query as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedQuery {
    pub id: Uuid,
    pub name: String,
    pub query: String,
    pub variables: Json,
    pub owner_content_type: Option<String>,
    pub owner_object_id: Option<Uuid>,
    pub created: Option<DateTime<Utc>>,
    pub last_updated: Option<DateTime<Utc>>,
}

impl SavedQuery {
    /// The saved query a stored row holds.
    pub fn from_row(id: Uuid, row: &Row) -> SavedQuery {
        let time = |name: &str| match row.get(name) {
            Datum::DateTime(t) => Some(*t),
            _ => None,
        };
        SavedQuery {
            id,
            name: row.text("name").unwrap_or_default().to_owned(),
            query: row.text(QUERY).unwrap_or_default().to_owned(),
            variables: row.json(VARIABLES).cloned().unwrap_or(Json::Object(Default::default())),
            owner_content_type: row.text("owner_content_type").map(str::to_owned),
            owner_object_id: match row.get("owner_object_id") {
                Datum::Uuid(u) => Some(*u),
                _ => None,
            },
            created: time("created"),
            last_updated: time("last_updated"),
        }
    }
}
