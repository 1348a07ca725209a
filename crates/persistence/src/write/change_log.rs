//! Snapshots of objects and the change-log row of every change.

use super::*;

impl<'s> Writer<'s> {
    /// One stored object in the change-log form, cached for the rules.
    pub(super) async fn snapshot_by_id(&mut self, model: ModelId, id: &str) -> StoreResult<Json> {
        let Ok(id) = Uuid::parse_str(id) else { return Ok(Json::Null) };
        if let Some(s) = self.snapshots.get(&(model, id)) {
            return Ok(s.clone());
        }
        let catalogue = self.catalogue.clone();
        let found = self.read_snapshots(catalogue.model(model), &[id]).await?;
        let snapshot = found.get(&id).cloned().unwrap_or(Json::Null);
        self.snapshots.insert((model, id), snapshot.clone());
        Ok(snapshot)
    }

    pub(super) async fn read_snapshot(&mut self, model: &Model, id: Uuid) -> StoreResult<Json> {
        let found = self.read_snapshots(model, &[id]).await?;
        found
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { kind: model.label.clone(), id: id.to_string() })
    }

    /// Stored objects in the change-log form: fields, custom fields, tags and list fields.
    pub(super) async fn read_snapshots(
        &mut self,
        model: &Model,
        ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Json>> {
        self.flush().await?;
        let mut out = HashMap::new();
        let (select, types, names) = crate::import::object_select(model);
        let mut lists: Vec<LinkField> = model
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::ManyToMany { .. }))
            .map(|f| link_field(&self.catalogue, model, &f.name))
            .collect();
        lists.extend(generic_links(&self.catalogue, model));
        for chunk in ids.chunks(1000) {
            let mut select = select.clone();
            select
                .from(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().map(|k| uuid_value(*k))));
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &types).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let mut obj = crate::import::object_json(model, &names, row);
                computed_json(model, &mut obj);
                if let Some(id) = row[0].as_uuid() {
                    out.insert(id, Json::Object(obj));
                }
            }
            for link in &lists {
                let mut select = Query::select();
                select
                    .columns([&link.source, &link.target_column].map(Alias::new))
                    .from(Alias::new(&link.table))
                    .and_where(
                        Expr::col(Alias::new(&link.source))
                            .is_in(chunk.iter().map(|k| uuid_value(*k))),
                    );
                if let Some((ct_column, ct)) = &link.content_type {
                    select.and_where(Expr::col(Alias::new(ct_column)).eq(ct.as_str()));
                }
                let tx = self.tx()?;
                let rows =
                    self.store.fetch_in(tx, &select, &[ColType::Uuid, ColType::Uuid]).await?;
                let mut by_owner: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
                for r in 0..rows.len() {
                    let row = rows.row(r);
                    if let (Some(s), Some(t)) = (row[0].as_uuid(), row[1].as_uuid()) {
                        by_owner.entry(s).or_default().push(t);
                    }
                }
                for (owner, obj) in out.iter_mut() {
                    let mut targets = by_owner.remove(owner).unwrap_or_default();
                    targets.sort_unstable();
                    if let Some(map) = obj.as_object_mut() {
                        map.insert(link.name.clone(), uuid_json(&targets));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Queues the change-log row of one change, with the next sequence number.
    pub(super) fn log(&mut self, change: Change) {
        self.changes += 1;
        let Some(log_table) = self.change_log_table.clone() else { return };
        let catalogue = self.catalogue.clone();
        let Some(log_model) = catalogue.by_label(CHANGE_LOG) else { return };
        let Some(fields) = log_model.behaviour.change_log else { return };
        let model = catalogue.model(change.model);
        self.sequence += 1;
        let shown = change
            .after
            .as_ref()
            .or(change.before.as_ref())
            .map(|s| repr_of(model, s))
            .unwrap_or_default();
        // One snapshot is stored once: `object_data` is the object after the change (before it,
        // for a delete), `prechange_data` the object before an update or a delete.
        let (object_data, prechange) = match change.action {
            Action::Delete => (change.before, None),
            _ => (change.after, change.before),
        };
        // SQLite and MySQL take the snapshots as text, serialised once here; PostgreSQL binds
        // jsonb from the value.
        let as_text = self.store.backend() != crate::Backend::Postgres;
        let json = |v: Option<Json>| match v {
            Some(v) if as_text => Value::String(Some(Box::new(v.to_string()))),
            Some(v) => Value::Json(Some(Box::new(v))),
            None if as_text => Value::String(None),
            None => Value::Json(None),
        };
        let text = |s: &str| Value::String(Some(Box::new(s.to_owned())));
        let mut columns = vec!["id".to_owned()];
        columns.extend(fields.all().iter().map(|f| column_of(log_model, f)));
        // Time-ordered ids: change-log rows are only ever appended, and so is their key index.
        let row = vec![
            uuid_value(Uuid::now_v7()),
            Value::ChronoDateTimeUtc(Some(Box::new(self.now))),
            Value::Uuid(self.options.actor.user_id.map(Box::new)),
            text(&self.options.actor.user_name),
            uuid_value(self.options.request_id),
            text(change.action.as_str()),
            text(&model.label),
            uuid_value(change.id),
            text(self.options.context),
            text(&self.options.detail),
            Value::String(None),
            Value::Uuid(None),
            text(&shown.chars().take(200).collect::<String>()),
            json(object_data),
            json(prechange),
            Value::BigInt(Some(self.sequence)),
        ];
        self.push(&log_table, &columns, row);
    }
}

/// A stored value in the change-log form (the edge where a value becomes JSON).
pub(super) fn value_json(field: &Field, value: &Datum) -> Json {
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

/// The change-log form of a new object.
pub(super) fn snapshot_of(
    model: &Model,
    id: Uuid,
    values: &Values,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) -> Json {
    let mut obj = Map::new();
    obj.insert("id".into(), Json::String(id.to_string()));
    let mut after = Json::Object(obj);
    for (_, field, column) in model.columns() {
        if !field.primary_key {
            let v = values.get(column).map(|v| value_json(field, v)).unwrap_or(Json::Null);
            if let Some(map) = after.as_object_mut() {
                map.insert(field.name.clone(), v);
            }
        }
    }
    let mut lists = lists.clone();
    for field in &model.fields {
        if matches!(field.kind, FieldKind::ManyToMany { .. }) {
            lists.entry(field.name.clone()).or_default();
        }
    }
    for rel in model.relations.iter().filter(|r| r.is_generic_through()) {
        lists.entry(rel.name.clone()).or_default();
    }
    merge_snapshot(model, &mut after, &Values::new(), &lists, custom);
    after
}

/// Applies changed columns, list fields and custom fields to a snapshot.
pub(super) fn merge_snapshot(
    model: &Model,
    snapshot: &mut Json,
    values: &Values,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) {
    let Some(map) = snapshot.as_object_mut() else { return };
    for (_, field, column) in model.columns() {
        if let Some(v) = values.get(column) {
            map.insert(field.name.clone(), value_json(field, v));
        }
    }
    for (name, ids) in lists {
        map.insert(name.clone(), uuid_json(ids));
    }
    if let Some(custom) = custom {
        map.insert("custom_fields".into(), custom.clone());
    }
    computed_json(model, map);
}

/// `address` and `prefix`: the stored bytes, a slash, the length.
pub(super) fn computed_json(model: &Model, map: &mut Map<String, Json>) {
    for computed in &model.computed {
        let a = map.get(&model.fields[computed.from[0]].name).and_then(Json::as_str);
        let b = map.get(&model.fields[computed.from[1]].name).and_then(Json::as_i64);
        let value = match (a, b) {
            (Some(ip), Some(len)) => Json::String(format!("{ip}/{len}")),
            _ => Json::Null,
        };
        map.insert(computed.name.clone(), value);
    }
}

/// The stored values a snapshot holds, by column (for uniqueness checks and parent rules).
pub(super) fn stored_values(model: &Model, snapshot: &Json) -> Values {
    let mut out = Values::new();
    for (_, field, column) in model.columns() {
        let Some(v) = snapshot.get(&field.name) else { continue };
        let value = match (&field.kind, v) {
            (FieldKind::ForeignKey { .. } | FieldKind::Uuid, Json::String(s)) => {
                Uuid::parse_str(s).map_or(Datum::Null, Datum::Uuid)
            }
            (FieldKind::IpBytes, Json::String(s)) => match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Datum::Bytes(ferrobot_domain::value::ip_to_bytes(ip).into()),
                Err(_) => Datum::Null,
            },
            (FieldKind::Integer { .. }, Json::Number(n)) => {
                n.as_i64().map_or(Datum::Null, Datum::Int)
            }
            (FieldKind::Boolean, Json::Bool(b)) => Datum::Bool(*b),
            (_, Json::String(s)) => Datum::text(s.as_str()),
            (_, Json::Null) => Datum::Null,
            (_, other) => Datum::Json(Box::new(other.clone())),
        };
        out.insert(column.to_owned(), value);
    }
    out
}

pub(super) fn without_timestamps(snapshot: &Json) -> Json {
    let mut s = snapshot.clone();
    if let Some(map) = s.as_object_mut() {
        map.remove("created");
        map.remove("last_updated");
    }
    s
}

pub(super) fn uuid_json(ids: &[Uuid]) -> Json {
    Json::Array(ids.iter().map(|i| Json::String(i.to_string())).collect())
}

pub(super) fn uuid_list(value: Option<&Json>) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = value
        .and_then(Json::as_array)
        .map(|a| {
            a.iter().filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// How an object is named in the change log: its natural-key field, its address or prefix, or
/// its id (Nautobot's `str(obj)`).
pub(super) fn repr_of(model: &Model, snapshot: &Json) -> String {
    if let Some(computed) = model.computed.first() {
        if let Some(s) = snapshot.get(&computed.name).and_then(Json::as_str) {
            return s.to_owned();
        }
    }
    if let Some(idx) = model.lookup_field() {
        if let Some(s) = snapshot.get(&model.fields[idx].name).and_then(Json::as_str) {
            return s.to_owned();
        }
    }
    snapshot.get("id").and_then(Json::as_str).unwrap_or_default().to_owned()
}
