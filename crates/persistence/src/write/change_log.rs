//! Snapshots of objects and the change-log row of every change.

use super::*;

impl<'s> Writer<'s> {
    /// One stored object, cached for the rules (`None`: no such row).
    pub(super) async fn snapshot_by_id(
        &mut self,
        model: ModelId,
        id: Uuid,
    ) -> StoreResult<Option<Row>> {
        if let Some(s) = self.snapshots.get(&(model, id)) {
            return Ok(Some(s.clone()));
        }
        let catalogue = self.catalogue.clone();
        let found = self.read_snapshots(catalogue.model(model), &[id]).await?.remove(&id);
        if let Some(row) = &found {
            self.snapshots.insert((model, id), row.clone());
        }
        Ok(found)
    }

    /// A stored object as a rule reads it: its columns, without list fields (the snapshot
    /// when this writer has one).
    pub(super) async fn rule_row(&mut self, model: ModelId, id: Uuid) -> StoreResult<Option<Row>> {
        if let Some(row) = self.remembered_rule_row(model, id) {
            return Ok(Some(row.clone()));
        }
        self.remember_rule_rows(model, vec![id]).await?;
        Ok(self.remembered_rule_row(model, id).cloned())
    }

    fn remembered_rule_row(&self, model: ModelId, id: Uuid) -> Option<&Row> {
        self.snapshots.get(&(model, id)).or_else(|| self.rule_rows.get(&(model, id)))
    }

    /// Reads the rows of `ids` that [`Writer::rule_row`] does not remember yet, in one statement,
    /// and remembers them.
    pub(super) async fn remember_rule_rows(
        &mut self,
        model: ModelId,
        mut ids: Vec<Uuid>,
    ) -> StoreResult<()> {
        ids.retain(|id| self.remembered_rule_row(model, *id).is_none());
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let catalogue = self.catalogue.clone();
        for (id, row) in self.read_rows(catalogue.model(model), &ids, false).await? {
            self.rule_rows.insert((model, id), row);
        }
        Ok(())
    }

    pub(super) async fn read_snapshot(&mut self, model: &Model, id: Uuid) -> StoreResult<Row> {
        let found = self.read_snapshots(model, &[id]).await?;
        found
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { kind: model.label.clone(), id: id.to_string() })
    }

    /// Stored objects: fields, custom field data, tags and list fields.
    pub(super) async fn read_snapshots(
        &mut self,
        model: &Model,
        ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Row>> {
        self.read_rows(model, ids, true).await
    }

    /// Stored objects, with their list fields when `lists` (the rules read none).
    pub(super) async fn read_rows(
        &mut self,
        model: &Model,
        ids: &[Uuid],
        lists: bool,
    ) -> StoreResult<HashMap<Uuid, Row>> {
        let mut links: Vec<LinkField> = Vec::new();
        if lists {
            links.extend(
                model
                    .fields
                    .iter()
                    .filter(|f| matches!(f.kind, FieldKind::ManyToMany { .. }))
                    .map(|f| link_field(&self.catalogue, model, &f.name)),
            );
            links.extend(generic_links(&self.catalogue, model));
        }
        let tables: Vec<&str> = std::iter::once(model.table.as_str())
            .chain(links.iter().map(|l| l.table.as_str()))
            .collect();
        self.flush_for_tables(&tables).await?;
        self.read_stored(model, ids, &links).await
    }

    /// [`Writer::read_rows`] of rows known to be in the database already (no flush).
    pub(super) async fn read_stored(
        &mut self,
        model: &Model,
        ids: &[Uuid],
        lists: &[LinkField],
    ) -> StoreResult<HashMap<Uuid, Row>> {
        let mut out = HashMap::new();
        let (select, types, names) = crate::object::object_select(model);
        for chunk in ids.chunks(1000) {
            let mut select = select.clone();
            select
                .from(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().map(|k| uuid_value(*k))));
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &types).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                if let Some(id) = row[0].as_uuid() {
                    out.insert(id, crate::object::object_row(model, &names, row));
                }
            }
            for link in lists {
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
                    obj.set_list(link.name.clone(), by_owner.remove(owner).unwrap_or_default());
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
            .map(|s| model.repr(s))
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
        let json = |v: Option<Row>| match v.map(|row| model.row_json(&row)) {
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

/// The snapshot of a new object.
pub(super) fn snapshot_of(
    model: &Model,
    id: Uuid,
    values: &Values,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) -> Row {
    let mut after = Row::new();
    after.set("id", Datum::Uuid(id));
    for field in &model.fields {
        if matches!(field.kind, FieldKind::ManyToMany { .. }) {
            after.set_list(field.name.clone(), Vec::new());
        }
    }
    for rel in model.relations.iter().filter(|r| r.is_generic_through()) {
        after.set_list(rel.name.clone(), Vec::new());
    }
    merge_snapshot(model, &mut after, values, lists, custom);
    after
}

/// Applies changed columns, list fields and custom fields to a snapshot.
pub(super) fn merge_snapshot(
    model: &Model,
    snapshot: &mut Row,
    values: &Values,
    lists: &BTreeMap<String, Vec<Uuid>>,
    custom: Option<&Json>,
) {
    for (_, field, column) in model.columns() {
        if let Some(v) = values.get(column) {
            snapshot.set(field.name.clone(), v.clone());
        }
    }
    for (name, ids) in lists {
        snapshot.set_list(name.clone(), ids.clone());
    }
    if let Some(custom) = custom {
        snapshot.set_custom_fields(Some(custom.clone()));
    }
}

/// The stored values a snapshot holds, by column (for uniqueness checks and parent rules).
pub(super) fn stored_values(model: &Model, snapshot: &Row) -> Values {
    model
        .columns()
        .map(|(_, field, column)| (column.to_owned(), snapshot.get(&field.name).clone()))
        .collect()
}
