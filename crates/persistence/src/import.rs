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

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use ferrobot_domain::catalogue::{FieldKind, Model, ModelId};
use ferrobot_domain::value::{ip_from_bytes, naturalize};
use ferrobot_domain::{hooks, ipam, Catalogue, Field};
use sea_orm::DatabaseTransaction;
use sea_query::{Alias, Expr, Order, Query, Value};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::query::{col_type, Cell, ColType};
use crate::store::Store;
use crate::write::Batch;
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

struct Pending {
    table: String,
    id: Uuid,
    column: String,
    target: ModelId,
    reference: Json,
    at: (String, String, usize, String),
}

struct Importer<'a> {
    store: &'a Store,
    catalogue: &'a Catalogue,
    tx: &'a DatabaseTransaction,
    batches: HashMap<String, Batch>,
    order: Vec<String>,
    /// Batches that filled up, waiting for the next flush.
    ready: Vec<Batch>,
    /// Custom field definitions as this import sees them; reloaded after it adds one.
    custom_fields: Option<Vec<ferrobot_domain::CustomField>>,
    refs: HashMap<(ModelId, String), Uuid>,
    known: HashSet<(ModelId, Uuid)>,
    deferred: Vec<Pending>,
    links: Vec<PendingLink>,
    now: DateTime<Utc>,
}

/// A many-to-many or tag link, resolved once every object of the import exists.
struct PendingLink {
    table: String,
    source: String,
    target_column: String,
    owner: Uuid,
    target: ModelId,
    references: Json,
    through: Option<ModelId>,
    content_type: Option<String>,
    at: (String, String, usize, String),
}

type FieldResult<T> = Result<T, (Option<String>, String)>;

fn uuid_value(u: Uuid) -> Value {
    Value::Uuid(Some(Box::new(u)))
}

impl Store {
    /// Imports documents in one transaction; `progress` is called with the objects done so far.
    pub async fn import(
        &self,
        documents: &[Document],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        let fail = |message: String| ImportError {
            document: String::new(),
            model: String::new(),
            row: 0,
            field: None,
            message,
        };
        let tx = self.begin().await.map_err(|e| fail(e.to_string()))?;
        let catalogue = self.catalogue.clone();
        let mut importer = Importer {
            store: self,
            catalogue: &catalogue,
            tx: &tx,
            batches: HashMap::new(),
            order: Vec::new(),
            ready: Vec::new(),
            custom_fields: None,
            refs: HashMap::new(),
            known: HashSet::new(),
            deferred: Vec::new(),
            links: Vec::new(),
            now: Utc::now(),
        };
        let mut stats = ImportStats::default();
        for doc in documents {
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
                let at = |row: usize, field: Option<String>, message: String| ImportError {
                    document: doc.name.clone(),
                    model: label.clone(),
                    row,
                    field,
                    message,
                };
                let model = catalogue
                    .by_label(label)
                    .ok_or_else(|| at(0, None, format!("unknown model {label}")))?;
                let Json::Array(objects) = objects else {
                    return Err(at(0, None, "expected a list of objects".into()));
                };
                for (idx, object) in objects.iter().enumerate() {
                    let Json::Object(object) = object else {
                        return Err(at(idx + 1, None, "expected an object".into()));
                    };
                    importer
                        .object(model, object, (doc.name.clone(), label.clone(), idx + 1))
                        .await
                        .map_err(|(field, message)| at(idx + 1, field, message))?;
                    // Full batches go out as they fill, so memory stays flat on big imports.
                    if importer.ready.len() >= 4 {
                        importer
                            .flush()
                            .await
                            .map_err(|(field, message)| at(idx + 1, field, message))?;
                    }
                    stats.objects += 1;
                    if stats.objects % 1000 == 0 {
                        progress(stats.objects);
                    }
                }
            }
        }
        importer.flush().await.map_err(|(_, m)| fail(m))?;
        importer.resolve_deferred().await?;
        importer.resolve_links().await?;
        tx.commit().await.map_err(|e| fail(e.to_string()))?;
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
        // Accounts and tokens hold secrets that never leave the database: not exported.
        for model in catalogue.models().iter().filter(|m| m.app_label != "users") {
            let mut select = Query::select();
            let mut types = Vec::new();
            let mut names = Vec::new();
            for (_, field, column) in model.columns() {
                select.column(Alias::new(column));
                types.push(col_type(&field.kind));
                names.push(field);
            }
            if model.features.custom_fields {
                select.column(Alias::new("_custom_field_data"));
                types.push(ColType::Json);
            }
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
            if model.features.tags {
                links.push((
                    "tags".into(),
                    self.pairs("extras_taggeditem", "object_id", "tag_id", Some(&model.label))
                        .await?,
                ));
            }
            let mut list = Vec::with_capacity(rows.len());
            for r in 0..rows.len() {
                let row = rows.row(r);
                let mut obj = Map::new();
                for (i, field) in names.iter().enumerate() {
                    obj.insert(field.name.clone(), cell_json(&row[i], field));
                }
                if model.features.custom_fields {
                    obj.insert("custom_fields".into(), cell_json_raw(&row[names.len()]));
                }
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
        content_type: Option<&str>,
    ) -> Result<HashMap<Uuid, Vec<Json>>, StoreError> {
        let mut select = Query::select();
        select.columns([source, target].map(Alias::new)).from(Alias::new(table));
        if let Some(ct) = content_type {
            select.and_where(Expr::col(Alias::new("content_type")).eq(ct));
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

fn cell_json_raw(cell: &Cell) -> Json {
    match cell {
        Cell::Json(v) => (**v).clone(),
        Cell::Null => Json::Null,
        Cell::Text(t) => serde_json::from_str(t).unwrap_or(Json::Null),
        _ => Json::Null,
    }
}

fn cell_json(cell: &Cell, field: &Field) -> Json {
    match cell {
        Cell::Null => Json::Null,
        Cell::Bool(b) => Json::Bool(*b),
        Cell::Int(i) => Json::from(*i),
        Cell::Text(t) => Json::String(t.to_string()),
        Cell::Uuid(u) => Json::String(u.to_string()),
        Cell::Bytes(b) => match (&field.kind, ip_from_bytes(b)) {
            (FieldKind::IpBytes, Some(ip)) => Json::String(ip.to_string()),
            _ => Json::Null,
        },
        Cell::Json(v) => (**v).clone(),
        Cell::DateTime(d) => Json::String(d.to_rfc3339()),
        Cell::Date(d) => Json::String(d.to_string()),
    }
}

impl Importer<'_> {
    async fn object(
        &mut self,
        model: &Model,
        object: &Map<String, Json>,
        at: (String, String, usize),
    ) -> FieldResult<()> {
        let id = match object.get("id") {
            Some(Json::String(s)) => Uuid::parse_str(s)
                .map_err(|_| (Some("id".into()), format!("'{s}' is not a valid UUID")))?,
            Some(other) => {
                return Err((Some("id".into()), format!("expected a UUID, got {other}")))
            }
            None => Uuid::new_v4(),
        };
        for key in object.keys() {
            let known = model.field(key).is_some()
                || matches!(key.as_str(), "tags" | "custom_fields" | "_custom_field_data")
                || hooks::is_input(&model.label, key);
            if !known || (key == "tags" && !model.features.tags) {
                return Err((Some(key.clone()), format!("{} has no field {key}", model.label)));
            }
        }
        let mut values: HashMap<String, Value> = HashMap::new();
        let mut derived: HashSet<&str> = HashSet::new();
        // Inputs that are not fields (`prefix`, `address`) fill stored columns (domain hooks).
        for input in hooks::inputs(&model.label) {
            let Some(given) = object.get(input.key) else { continue };
            let text =
                given.as_str().ok_or((Some(input.key.into()), "expected a string".into()))?;
            for (name, value) in (input.derive)(text).map_err(|m| (Some(input.key.into()), m))? {
                let column = column_of(model, name);
                values.insert(column, derived_value(value));
                derived.insert(name);
            }
        }
        let parent_rule =
            hooks::parent(&model.label).filter(|rule| !object.contains_key(rule.field));
        if let Some(rule) = parent_rule {
            // Computed below, once the namespace is known.
            derived.insert(rule.field);
        }
        for field in &model.fields {
            if field.primary_key || derived.contains(field.name.as_str()) {
                continue;
            }
            let given = object.get(&field.name);
            if let FieldKind::ManyToMany { to, through, .. } = &field.kind {
                if let Some(list) = given {
                    if !list.is_array() {
                        return Err((
                            Some(field.name.clone()),
                            "expected a list of references".into(),
                        ));
                    }
                    self.links.push(PendingLink {
                        table: through.table.clone(),
                        source: through.source_column.clone(),
                        target_column: through.target_column.clone(),
                        owner: id,
                        target: *to,
                        references: list.clone(),
                        through: through.model,
                        content_type: None,
                        at: (at.0.clone(), at.1.clone(), at.2, field.name.clone()),
                    });
                }
                continue;
            }
            let Some(column) = field.column.clone() else { continue };
            let value = match given {
                None | Some(Json::Null)
                    if matches!(field.name.as_str(), "created" | "last_updated") =>
                {
                    Value::ChronoDateTimeUtc(Some(Box::new(self.now)))
                }
                Some(Json::Null) if field.null => null_of(&field.kind),
                None => match &field.default {
                    Some(d) => self
                        .default_value(field, d)
                        .await
                        .map_err(|m| (Some(field.name.clone()), m))?,
                    None if field.null => null_of(&field.kind),
                    None if field.kind == FieldKind::ContentTypes => {
                        Value::Json(Some(Box::new(Json::Array(Vec::new()))))
                    }
                    None if field.blank
                        && matches!(
                            field.kind,
                            FieldKind::String { .. } | FieldKind::Text | FieldKind::Choice { .. }
                        ) =>
                    {
                        Value::String(Some(Box::new(String::new())))
                    }
                    None => {
                        return Err((Some(field.name.clone()), "This field is required.".into()))
                    }
                },
                Some(Json::Null) => {
                    return Err((Some(field.name.clone()), "This field cannot be null.".into()))
                }
                Some(v) => {
                    if let FieldKind::ForeignKey { to, .. } = &field.kind {
                        match self.reference(*to, v).await {
                            Ok(id) => uuid_value(id),
                            Err(_) if field.null => {
                                self.deferred.push(Pending {
                                    table: model.table.clone(),
                                    id,
                                    column: column.clone(),
                                    target: *to,
                                    reference: v.clone(),
                                    at: (at.0.clone(), at.1.clone(), at.2, field.name.clone()),
                                });
                                null_of(&field.kind)
                            }
                            Err(m) => return Err((Some(field.name.clone()), m)),
                        }
                    } else {
                        self.scalar(field, v).map_err(|m| (Some(field.name.clone()), m))?
                    }
                }
            };
            if field.natural_order {
                let text = match &value {
                    Value::String(Some(s)) => Some(naturalize(s)),
                    _ => None,
                };
                values.insert(format!("_{}", field.name), Value::String(text.map(Box::new)));
            }
            values.insert(column, value);
        }
        if model.features.custom_fields {
            self.check_custom_fields(model, object).await?;
            let data = object
                .get("custom_fields")
                .or_else(|| object.get("_custom_field_data"))
                .cloned()
                .unwrap_or_else(|| Json::Object(Map::new()));
            if !data.is_object() {
                return Err((Some("custom_fields".into()), "expected a mapping".into()));
            }
            values.insert("_custom_field_data".into(), Value::Json(Some(Box::new(data))));
        }
        if let Some(rule) = parent_rule {
            let namespace = match &rule.namespace {
                hooks::NamespaceSource::Field(name) => values.get(&column_of(model, name)).cloned(),
                hooks::NamespaceSource::Input { key, default } => {
                    let given = object
                        .get(*key)
                        .cloned()
                        .unwrap_or_else(|| Json::String((*default).into()));
                    let namespace = self.model_id("ipam.namespace")?;
                    let id = self
                        .reference(namespace, &given)
                        .await
                        .map_err(|m| (Some((*key).into()), m))?;
                    Some(uuid_value(id))
                }
            };
            let parent = match namespace {
                Some(ns) => {
                    let address = values.get(&column_of(model, rule.address));
                    let length = values.get(&column_of(model, rule.length));
                    self.closest_prefix(address, length, &ns, rule.strict).await?
                }
                None => None,
            };
            if parent.is_none() && rule.required {
                let key = hooks::inputs(&model.label).first().map_or(rule.address, |i| i.key);
                return Err((
                    Some(key.into()),
                    "No suitable parent Prefix exists in the namespace".into(),
                ));
            }
            values.insert(
                column_of(model, rule.field),
                parent.map(uuid_value).unwrap_or(Value::Uuid(None)),
            );
        }
        let mut columns: Vec<String> = vec!["id".into()];
        let mut row = vec![uuid_value(id)];
        let mut keys: Vec<&String> = values.keys().collect();
        keys.sort();
        for k in keys {
            columns.push(k.clone());
            row.push(values[k].clone());
        }
        self.push(&model.table, columns, row);
        self.known.insert((model.id, id));
        if model.label == "extras.customfield" {
            self.custom_fields = None;
        }
        if let Some(idx) = model.lookup_field() {
            let f = &model.fields[idx];
            if let Some(Value::String(Some(s))) = f.column.as_ref().and_then(|c| values.get(c)) {
                self.refs.insert((model.id, Json::String(s.to_string()).to_string()), id);
            }
        }
        if model.features.tags {
            if let Some(list) = object.get("tags") {
                if !list.is_array() {
                    return Err((Some("tags".into()), "expected a list of tags".into()));
                }
                self.links.push(PendingLink {
                    table: "extras_taggeditem".into(),
                    source: "object_id".into(),
                    target_column: "tag_id".into(),
                    owner: id,
                    target: self.model_id("extras.tag")?,
                    references: list.clone(),
                    through: None,
                    content_type: Some(model.label.clone()),
                    at: (at.0.clone(), at.1.clone(), at.2, "tags".into()),
                });
            }
        }
        Ok(())
    }

    /// Every key of `custom_fields` must name a custom field of the model, with a value of its type.
    async fn check_custom_fields(
        &mut self,
        model: &Model,
        object: &Map<String, Json>,
    ) -> FieldResult<()> {
        let Some(Json::Object(data)) =
            object.get("custom_fields").or_else(|| object.get("_custom_field_data"))
        else {
            return Ok(());
        };
        if data.is_empty() {
            return Ok(());
        }
        if self.custom_fields.is_none() {
            self.flush().await?;
            let defs =
                self.store.custom_fields_in(self.tx).await.map_err(|e| (None, e.to_string()))?;
            self.custom_fields = Some(defs);
        }
        let defs = self.custom_fields.as_deref().unwrap_or_default();
        for (key, value) in data {
            let field = Some(format!("custom_fields.{key}"));
            let Some(def) =
                defs.iter().find(|d| d.key == *key && d.content_types.contains(&model.label))
            else {
                return Err((field, format!("{} has no custom field {key}", model.label)));
            };
            def.check(value).map_err(|m| (field, m))?;
        }
        Ok(())
    }

    fn model_id(&self, label: &str) -> FieldResult<ModelId> {
        self.catalogue
            .by_label(label)
            .map(|m| m.id)
            .ok_or((None, format!("{label} is not in the catalogue")))
    }

    fn push(&mut self, table: &str, columns: Vec<String>, row: Vec<Value>) {
        let key = format!("{table}|{}", columns.join(","));
        let batch = self.batches.entry(key.clone()).or_insert_with(|| {
            self.order.push(key.clone());
            Batch { table: table.to_owned(), columns, rows: Vec::new() }
        });
        batch.rows.push(row);
        if batch.rows.len() >= 5000 {
            let rows = std::mem::take(&mut batch.rows);
            let full = Batch { table: batch.table.clone(), columns: batch.columns.clone(), rows };
            self.ready.push(full);
        }
    }

    async fn flush(&mut self) -> FieldResult<()> {
        for batch in std::mem::take(&mut self.ready) {
            self.store.insert_batch(self.tx, batch).await.map_err(|e| (None, e.to_string()))?;
        }
        for key in std::mem::take(&mut self.order) {
            if let Some(batch) = self.batches.remove(&key) {
                self.store.insert_batch(self.tx, batch).await.map_err(|e| (None, e.to_string()))?;
            }
        }
        Ok(())
    }

    async fn default_value(&mut self, field: &Field, default: &Json) -> Result<Value, String> {
        match default {
            Json::String(s) if s == "now()" => {
                Ok(Value::ChronoDateTimeUtc(Some(Box::new(self.now))))
            }
            Json::String(s) if s.starts_with("natural_key(") => {
                let name = s.trim_start_matches("natural_key(").trim_end_matches(')');
                match &field.kind {
                    FieldKind::ForeignKey { to, .. } => {
                        Ok(uuid_value(self.reference(*to, &Json::String(name.into())).await?))
                    }
                    _ => Err("a natural-key default on a field that is no reference".into()),
                }
            }
            other => self.scalar(field, other),
        }
    }

    fn scalar(&self, field: &Field, v: &Json) -> Result<Value, String> {
        let text =
            || v.as_str().map(str::to_owned).ok_or_else(|| format!("expected a string, got {v}"));
        Ok(match &field.kind {
            FieldKind::Uuid => uuid_value(
                Uuid::parse_str(&text()?).map_err(|_| format!("'{v}' is not a valid UUID"))?,
            ),
            FieldKind::String { max_length } => {
                let s = match v {
                    Json::Number(n) => n.to_string(),
                    _ => text()?,
                };
                if s.chars().count() > *max_length as usize {
                    return Err(format!(
                        "Ensure this value has at most {max_length} characters (it has {}).",
                        s.chars().count()
                    ));
                }
                Value::String(Some(Box::new(s)))
            }
            FieldKind::Text | FieldKind::Decimal => Value::String(Some(Box::new(match v {
                Json::Number(n) => n.to_string(),
                _ => text()?,
            }))),
            FieldKind::Choice { choices, .. } => {
                let s = text()?;
                let allowed =
                    (s.is_empty() && field.blank) || choices.iter().any(|(value, _)| *value == s);
                if !allowed {
                    return Err(format!("Value '{s}' is not a valid choice."));
                }
                Value::String(Some(Box::new(s)))
            }
            FieldKind::Integer { min, .. } => {
                let i = v.as_i64().ok_or_else(|| format!("expected an integer, got {v}"))?;
                if min.is_some_and(|m| i < m) {
                    return Err(format!(
                        "Ensure this value is greater than or equal to {}.",
                        min.unwrap_or_default()
                    ));
                }
                Value::BigInt(Some(i))
            }
            FieldKind::Boolean => Value::Bool(Some(
                v.as_bool().ok_or_else(|| format!("expected true or false, got {v}"))?,
            )),
            FieldKind::DateTime => {
                let s = text()?;
                let d = DateTime::parse_from_rfc3339(&s)
                    .map_err(|_| format!("'{s}' is not an RFC 3339 date-time"))?;
                Value::ChronoDateTimeUtc(Some(Box::new(d.with_timezone(&Utc))))
            }
            FieldKind::Date => {
                let s = text()?;
                Value::ChronoDate(Some(Box::new(
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD)"))?,
                )))
            }
            FieldKind::Json => Value::Json(Some(Box::new(v.clone()))),
            FieldKind::ContentTypes => {
                let list = v.as_array().ok_or("expected a list of model labels")?;
                for item in list {
                    let label = item.as_str().unwrap_or_default();
                    if self.catalogue.by_label(label).is_none() {
                        return Err(format!("unknown content type {item}"));
                    }
                }
                Value::Json(Some(Box::new(v.clone())))
            }
            FieldKind::ContentType => {
                let s = text()?;
                if self.catalogue.by_label(&s).is_none() {
                    return Err(format!("unknown content type {s}"));
                }
                Value::String(Some(Box::new(s)))
            }
            FieldKind::IpBytes => {
                let s = text()?;
                let ip: std::net::IpAddr =
                    s.parse().map_err(|_| format!("'{s}' is not an IP address"))?;
                Value::Bytes(Some(Box::new(ferrobot_domain::value::ip_to_bytes(ip))))
            }
            FieldKind::ForeignKey { .. } | FieldKind::ManyToMany { .. } => {
                return Err("a reference is not a scalar".into())
            }
        })
    }

    async fn ref_list(&mut self, target: ModelId, list: &Json) -> Result<Vec<Uuid>, String> {
        let items = list.as_array().ok_or("expected a list of references")?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.reference(target, item).await?);
        }
        Ok(out)
    }

    /// Resolves a reference to the id of exactly one object of `target`.
    async fn reference(&mut self, target: ModelId, value: &Json) -> Result<Uuid, String> {
        let key = (target, value.to_string());
        if let Some(id) = self.refs.get(&key) {
            return Ok(*id);
        }
        let model = self.catalogue.model(target);
        let mut conditions: Vec<(String, Value)> = Vec::new();
        match value {
            Json::String(s) => {
                if let Ok(id) = Uuid::parse_str(s) {
                    if self.known.contains(&(target, id)) {
                        return Ok(id);
                    }
                    conditions.push(("id".into(), uuid_value(id)));
                } else {
                    let idx = model.lookup_field().ok_or_else(|| {
                        format!("{} objects can only be named by id", model.label)
                    })?;
                    let f = &model.fields[idx];
                    let v = self.scalar(f, value)?;
                    conditions.push((f.column.clone().unwrap_or_default(), v));
                }
            }
            Json::Object(map) => {
                for (k, v) in map {
                    // An input such as `address` names the object by its stored columns.
                    if let Some(input) = hooks::inputs(&model.label).iter().find(|i| i.key == k) {
                        let text = v.as_str().ok_or_else(|| format!("{k}: expected a string"))?;
                        for (name, value) in (input.derive)(text)? {
                            let column = column_of(model, name);
                            conditions.push((column, derived_value(value)));
                        }
                        continue;
                    }
                    let (name, rest) = match k.split_once("__") {
                        Some((a, b)) => (a, Some(b)),
                        None => (k.as_str(), None),
                    };
                    let (_, f) = model
                        .field(name)
                        .ok_or_else(|| format!("{} has no field {name}", model.label))?;
                    let column =
                        f.column.clone().ok_or_else(|| format!("{name} cannot name an object"))?;
                    let v = match (&f.kind, v) {
                        (FieldKind::ForeignKey { .. }, Json::Null) => Value::Uuid(None),
                        (FieldKind::ForeignKey { to, .. }, v) => {
                            let nested = match rest {
                                Some(r) => serde_json::json!({ r: v }),
                                None => v.clone(),
                            };
                            uuid_value(Box::pin(self.reference(*to, &nested)).await?)
                        }
                        (_, v) => self.scalar(f, v)?,
                    };
                    conditions.push((column, v));
                }
            }
            other => {
                return Err(format!("{other} is not a reference (use an id, a name or a mapping)"))
            }
        }
        self.flush().await.map_err(|(_, m)| m)?;
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(2);
        for (c, v) in conditions {
            select.and_where(match v {
                Value::Uuid(None) => Expr::col(Alias::new(c)).is_null(),
                v => Expr::col(Alias::new(c)).eq(v),
            });
        }
        let rows = self.store.query_in(self.tx, &select).await.map_err(|e| e.to_string())?;
        let ids: Vec<Uuid> =
            rows.iter().filter_map(|r| r.try_get_by_index::<Uuid>(0).ok()).collect();
        match ids.as_slice() {
            [id] => {
                self.refs.insert(key, *id);
                Ok(*id)
            }
            [] => Err(format!("no {} matches {value}", model.verbose_name)),
            _ => Err(format!("{value} matches more than one {}", model.verbose_name)),
        }
    }

    /// The most specific prefix of the namespace containing `address` (bytes) of `length`.
    async fn closest_prefix(
        &mut self,
        address: Option<&Value>,
        length: Option<&Value>,
        ns: &Value,
        strict: bool,
    ) -> FieldResult<Option<Uuid>> {
        self.flush().await?;
        let Some(Value::Bytes(Some(address))) = address else { return Ok(None) };
        let length = match length {
            Some(Value::BigInt(Some(l))) => Some(*l),
            Some(Value::Int(Some(l))) => Some(i64::from(*l)),
            _ => None,
        };
        // A prefix's parent is strictly shorter; an address's is no longer than its mask.
        let below = match length {
            Some(l) if strict => l as u8,
            Some(l) => (l as u8).saturating_add(1),
            None => (address.len() * 8 + 1) as u8,
        };
        let mut any = sea_query::Cond::any();
        for (network, length) in ipam::containing_networks(address, below) {
            // The namespace in every term, so that each one is a probe of the unique index.
            any = any.add(
                sea_query::Cond::all()
                    .add(Expr::col(Alias::new("namespace_id")).eq(ns.clone()))
                    .add(Expr::col(Alias::new("network")).eq(Value::Bytes(Some(Box::new(network)))))
                    .add(Expr::col(Alias::new("prefix_length")).eq(i64::from(length))),
            );
        }
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .from(Alias::new("ipam_prefix"))
            .cond_where(any)
            .order_by(Alias::new("prefix_length"), Order::Desc)
            .limit(1);
        let rows =
            self.store.query_in(self.tx, &select).await.map_err(|e| (None, e.to_string()))?;
        Ok(rows.first().and_then(|r| r.try_get_by_index::<Uuid>(0).ok()))
    }

    async fn resolve_links(&mut self) -> Result<(), ImportError> {
        for link in std::mem::take(&mut self.links) {
            let ids =
                self.ref_list(link.target, &link.references).await.map_err(|m| ImportError {
                    document: link.at.0.clone(),
                    model: link.at.1.clone(),
                    row: link.at.2,
                    field: Some(link.at.3.clone()),
                    message: m,
                })?;
            for other in ids {
                let mut cols =
                    vec!["id".to_owned(), link.source.clone(), link.target_column.clone()];
                let mut row =
                    vec![uuid_value(Uuid::new_v4()), uuid_value(link.owner), uuid_value(other)];
                if let Some(ct) = &link.content_type {
                    cols.push("content_type".into());
                    row.push(ct.as_str().into());
                }
                if let Some(tm) = link.through {
                    for f in &self.catalogue.model(tm).fields {
                        if let (FieldKind::Boolean, Some(c)) = (&f.kind, &f.column) {
                            cols.push(c.clone());
                            row.push(Value::Bool(Some(
                                f.default.as_ref().and_then(Json::as_bool).unwrap_or(false),
                            )));
                        }
                    }
                }
                self.push(&link.table, cols, row);
            }
        }
        self.flush().await.map_err(|(_, m)| ImportError {
            document: String::new(),
            model: String::new(),
            row: 0,
            field: None,
            message: m,
        })
    }

    async fn resolve_deferred(&mut self) -> Result<(), ImportError> {
        for p in std::mem::take(&mut self.deferred) {
            let id = self.reference(p.target, &p.reference).await.map_err(|m| ImportError {
                document: p.at.0.clone(),
                model: p.at.1.clone(),
                row: p.at.2,
                field: Some(p.at.3.clone()),
                message: m,
            })?;
            let mut update = Query::update();
            update
                .table(Alias::new(&p.table))
                .value(Alias::new(&p.column), uuid_value(id))
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(p.id)));
            self.store.update_in(self.tx, &update).await.map_err(|e| ImportError {
                document: p.at.0,
                model: p.at.1,
                row: p.at.2,
                field: Some(p.at.3),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// The column of a model's field (a foreign key's `_id` column), by field name.
fn column_of(model: &Model, name: &str) -> String {
    model.field(name).and_then(|(_, f)| f.column.clone()).unwrap_or_else(|| name.to_owned())
}

fn derived_value(value: hooks::Derived) -> Value {
    match value {
        hooks::Derived::Bytes(b) => Value::Bytes(Some(Box::new(b))),
        hooks::Derived::Int(i) => Value::BigInt(Some(i)),
    }
}

fn null_of(kind: &FieldKind) -> Value {
    match col_type(kind) {
        ColType::Uuid => Value::Uuid(None),
        ColType::Text => Value::String(None),
        ColType::Int(_) => Value::BigInt(None),
        ColType::Bool => Value::Bool(None),
        ColType::DateTime => Value::ChronoDateTimeUtc(None),
        ColType::Date => Value::ChronoDate(None),
        ColType::Json => Value::Json(None),
        ColType::Bytes => Value::Bytes(None),
    }
}
