//! The import/export format: a mapping from model label to a list of objects.
//!
//! ```yaml
//! dcim.location:
//!   - {name: site-001, location_type: Site, status: Active, parent: region-1}
//! dcim.device:
//!   - name: dev-00001
//!     device_type: {manufacturer: Acme, model: acme-s48}
//!     tags: [tag-1, tag-2]
//!     custom_fields: {owner_team: team-1}
//! ```
//!
//! A reference is an id, the value of the target's natural-key field (`name`, `model` …), or a
//! mapping of the target's fields whose values may be references themselves. `ipam.prefix`
//! takes `prefix: 10.0.0.0/16`, `ipam.ipaddress` takes `address: 10.0.0.1/24` (with an optional
//! `namespace`); their parents are computed (the inputs and parent rules are domain hooks,
//! `ferrobot_domain::hooks`). Everything runs in one transaction: the first bad
//! row aborts the import with its document, row and field, and nothing is written.

use std::collections::HashMap;

use ferrobot_domain::catalogue::FieldKind;
use ferrobot_domain::DomainError;
use sea_query::{Alias, Expr, Order, Query};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::cell::ColType;
use crate::object::{object_json, object_select};
use crate::store::Store;
use crate::write::{Actor, WriteOptions};
use crate::StoreError;

/// One import file, already parsed from YAML or JSON.
pub struct Document {
    pub name: String,
    pub body: Json,
}

/// Where an import failed.
#[derive(Debug, thiserror::Error)]
#[error("{document}: {model} row {row}{}: {message}", field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default())]
pub struct ImportError {
    pub document: String,
    pub model: String,
    pub row: usize,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ImportStats {
    pub objects: u64,
}

impl Store {
    /// Imports documents in one transaction; `progress` is called with the objects done so far.
    /// Every object gets its change-log row, as any other write does.
    pub async fn import(
        &self,
        documents: &[Document],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        self.import_as(documents, import_actor(), progress).await
    }

    /// [`Store::import`], with the change log naming `actor`.
    pub async fn import_as(
        &self,
        documents: &[Document],
        actor: Actor,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        let fail = |message: String| ImportError {
            document: String::new(),
            model: String::new(),
            row: 0,
            field: None,
            message,
        };
        let mut options = WriteOptions::new(actor, "orm", "ferrobot import");
        options.defer_references = true;
        options.instantiate_components = false;
        let mut writer = self.writer(options).await.map_err(|e| fail(e.to_string()))?;
        let catalogue = self.catalogue.clone();
        // Operation index → where the object came from, for errors found later.
        let mut origins: Vec<(usize, &str, usize)> = Vec::new();
        let located = |origins: &[(usize, &str, usize)], operation: usize, error: StoreError| {
            let (doc, label, row) = origins.get(operation).copied().unwrap_or((0, "", 0));
            import_error(documents.get(doc).map_or("", |d| d.name.as_str()), label, row, error)
        };
        let mut stats = ImportStats::default();
        for (doc_idx, doc) in documents.iter().enumerate() {
            let Json::Object(models) = &doc.body else {
                return Err(ImportError {
                    document: doc.name.clone(),
                    model: String::new(),
                    row: 0,
                    field: None,
                    message: "expected a mapping from model label to a list of objects".into(),
                });
            };
            for (label, objects) in models {
                let at = |row: usize, message: String| ImportError {
                    document: doc.name.clone(),
                    model: label.clone(),
                    row,
                    field: None,
                    message,
                };
                let model = catalogue
                    .by_label(label)
                    .ok_or_else(|| at(0, format!("unknown model {label}")))?;
                let Json::Array(objects) = objects else {
                    return Err(at(0, "expected a list of objects".into()));
                };
                for (idx, object) in objects.iter().enumerate() {
                    let Json::Object(object) = object else {
                        return Err(at(idx + 1, "expected an object".into()));
                    };
                    writer.begin_operation(origins.len());
                    origins.push((doc_idx, label.as_str(), idx + 1));
                    if let Err(error) = writer.create(model, object).await {
                        let operation = error.operation().unwrap_or(origins.len() - 1);
                        return Err(located(&origins, operation, error));
                    }
                    stats.objects += 1;
                    if stats.objects % 1000 == 0 {
                        progress(stats.objects);
                    }
                }
            }
        }
        if let Err(error) = writer.settle().await {
            let operation = error.operation().unwrap_or(writer.operation());
            return Err(located(&origins, operation, error));
        }
        writer.commit().await.map_err(|e| fail(e.to_string()))?;
        // PostgreSQL plans from statistics that a bulk load leaves stale until autovacuum comes
        // by: at 10,000 devices, `devices(limit: 100) { interfaces { ip_addresses } }` ran 6×
        // slower before an ANALYZE (131 ms against 22 ms).
        if self.backend == crate::Backend::Postgres && stats.objects > 0 {
            self.execute_raw("ANALYZE").await.map_err(|e| fail(e.to_string()))?;
        }
        progress(stats.objects);
        Ok(stats)
    }

    /// Every object of every model, in the import format (references by id).
    pub async fn export(&self) -> Result<Json, StoreError> {
        let catalogue = self.catalogue.clone();
        let mut out = Map::new();
        // Accounts and tokens hold secrets that never leave the database; the change log is the
        // history of this database, not data to load into another: neither is exported.
        for model in catalogue.models().iter().filter(|m| m.app_label != "users" && !m.readonly) {
            let (mut select, types, names) = object_select(model);
            select.from(Alias::new(&model.table));
            for o in &model.ordering {
                select.order_by(
                    Alias::new(&o.column),
                    if o.descending { Order::Desc } else { Order::Asc },
                );
            }
            let rows = self.fetch(&select, &types).await?;
            if rows.is_empty() {
                continue;
            }
            let mut links: Vec<(String, HashMap<Uuid, Vec<Json>>)> = Vec::new();
            for field in &model.fields {
                // Links through a model of their own are exported as that model's rows.
                if let FieldKind::ManyToMany { through, .. } = &field.kind {
                    if through.model.is_some() {
                        continue;
                    }
                    links.push((
                        field.name.clone(),
                        self.pairs(
                            &through.table,
                            &through.source_column,
                            &through.target_column,
                            None,
                        )
                        .await?,
                    ));
                }
            }
            for through in catalogue.generic_throughs_of(model) {
                let content_type = Some((through.type_column.as_str(), model.label.as_str()));
                let pairs = self.pairs(
                    &through.table,
                    &through.object_column,
                    &through.target_column,
                    content_type,
                );
                links.push((through.name.clone(), pairs.await?));
            }
            let mut list = Vec::with_capacity(rows.len());
            for r in 0..rows.len() {
                let row = rows.row(r);
                let mut obj = object_json(model, &names, row);
                let id = row[0].as_uuid();
                for (name, map) in &links {
                    let values = id.and_then(|id| map.get(&id)).cloned().unwrap_or_default();
                    if !values.is_empty() {
                        obj.insert(name.clone(), Json::Array(values));
                    }
                }
                list.push(Json::Object(obj));
            }
            out.insert(model.label.clone(), Json::Array(list));
        }
        Ok(Json::Object(out))
    }

    async fn pairs(
        &self,
        table: &str,
        source: &str,
        target: &str,
        content_type: Option<(&str, &str)>,
    ) -> Result<HashMap<Uuid, Vec<Json>>, StoreError> {
        let mut select = Query::select();
        select.columns([source, target].map(Alias::new)).from(Alias::new(table));
        if let Some((column, label)) = content_type {
            select.and_where(Expr::col(Alias::new(column)).eq(label));
        }
        select.order_by(Alias::new(source), Order::Asc).order_by(Alias::new(target), Order::Asc);
        let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid]).await?;
        let mut map: HashMap<Uuid, Vec<Json>> = HashMap::new();
        for r in 0..rows.len() {
            let row = rows.row(r);
            if let (Some(s), Some(t)) = (row[0].as_uuid(), row[1].as_uuid()) {
                map.entry(s).or_default().push(Json::String(t.to_string()));
            }
        }
        Ok(map)
    }
}

/// Who the change log names for an import that names nobody.
pub fn import_actor() -> Actor {
    Actor { user_id: None, user_name: "import".into() }
}

/// An import error from a write error, located at the object it came from.
fn import_error(document: &str, model: &str, row: usize, error: StoreError) -> ImportError {
    let (field, message) = match error {
        StoreError::Domain(DomainError::Validation(errors)) => {
            let field = errors.first().map(|e| e.field.clone());
            let message = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
            (field, message)
        }
        StoreError::Conflict { fields, message, .. } => (fields.first().cloned(), message),
        other => (None, other.to_string()),
    };
    ImportError { document: document.to_owned(), model: model.to_owned(), row, field, message }
}
