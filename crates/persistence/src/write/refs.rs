//! References: an id, a natural-key value or a mapping resolved to an id (cached per writer), and
//! the through rows of many-to-many fields.

use super::*;

impl<'s> Writer<'s> {
    /// The id of the one object `value` names, or `NOT_FOUND`.
    pub(super) async fn resolve(&mut self, target: ModelId, value: &Json) -> StoreResult<Uuid> {
        match self.lookup(target, value).await? {
            Found::One(id) => Ok(id),
            Found::Many => {
                let message = self.not_found_message(target, value, Found::Many);
                Err(StoreError::Conflict { fields: Vec::new(), message, operation: None })
            }
            Found::None => Err(StoreError::NotFound {
                kind: self.catalogue.model(target).verbose_name.clone(),
                id: value.to_string(),
            }),
        }
    }

    pub(super) fn not_found_message(&self, target: ModelId, value: &Json, found: Found) -> String {
        let model = self.catalogue.model(target);
        match found {
            Found::Many => format!("{value} matches more than one {}.", model.verbose_name),
            _ => format!("No {} matches {value}.", model.verbose_name),
        }
    }

    /// [`Writer::lookup`] for what the write names on its own (a default, a path's status),
    /// whether or not the user may see it.
    pub(super) async fn lookup_trusted(
        &mut self,
        target: ModelId,
        value: &Json,
    ) -> StoreResult<Found> {
        let was = std::mem::replace(&mut self.trusted, true);
        let found = self.lookup(target, value).await;
        self.trusted = was;
        found
    }

    /// Looks up the objects of `target` that a reference names.
    pub(super) async fn lookup(&mut self, target: ModelId, value: &Json) -> StoreResult<Found> {
        let key = value.to_string();
        if let Some(id) = self.refs.get(&target).and_then(|m| m.get(&key)) {
            return Ok(Found::One(*id));
        }
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(target);
        let mut conditions: Vec<(String, Datum)> = Vec::new();
        match value {
            Json::String(s) => {
                if let Ok(id) = Uuid::parse_str(s) {
                    if self.known.contains(&(target, id)) {
                        return Ok(Found::One(id));
                    }
                    conditions.push(("id".into(), Datum::Uuid(id)));
                } else {
                    let Some(idx) = model.lookup_field() else {
                        return Ok(Found::None);
                    };
                    let f = &model.fields[idx];
                    let Ok(v) = self.scalar(f, value) else { return Ok(Found::None) };
                    conditions.push((f.column.clone().unwrap_or_default(), v));
                }
            }
            Json::Object(map) => {
                for (k, v) in map {
                    // An input such as `address` names the object by its stored columns.
                    if let Some(input) = model.behaviour.inputs.iter().find(|i| i.key == k) {
                        let Some(text) = v.as_str() else { return Ok(Found::None) };
                        let Ok(pairs) = (input.derive)(text) else { return Ok(Found::None) };
                        for (name, value) in pairs {
                            conditions.push((column_of(model, name), derived_datum(value)));
                        }
                        continue;
                    }
                    let (name, rest) = match k.split_once("__") {
                        Some((a, b)) => (a, Some(b)),
                        None => (k.as_str(), None),
                    };
                    let Some((_, f)) = model.field(name) else { return Ok(Found::None) };
                    let Some(column) = f.column.clone() else { return Ok(Found::None) };
                    let v = match (&f.kind, v) {
                        (_, Json::Null) => Datum::Null,
                        (FieldKind::ForeignKey { to, .. }, v) => {
                            let nested = match rest {
                                Some(r) => serde_json::json!({ r: v }),
                                None => v.clone(),
                            };
                            match Box::pin(self.lookup(*to, &nested)).await? {
                                Found::One(id) => Datum::Uuid(id),
                                other => return Ok(other),
                            }
                        }
                        (_, v) => match self.scalar(f, v) {
                            Ok(v) => v,
                            Err(_) => return Ok(Found::None),
                        },
                    };
                    conditions.push((column, v));
                }
                if conditions.is_empty() {
                    return Ok(Found::None);
                }
            }
            _ => return Ok(Found::None),
        }
        // Only objects the user may see can be named; a constraint may follow relations, so
        // everything queued goes out first.
        let visible = self.visible(target);
        match visible {
            Some(_) => self.flush().await?,
            None => self.flush_for(&model.table).await?,
        }
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(2);
        if let Some(visible) = visible {
            select.cond_where(visible);
        }
        for (c, v) in conditions {
            select.and_where(match v {
                Datum::Null => Expr::col(Alias::new(c)).is_null(),
                v => Expr::col(Alias::new(&c)).eq(bind(column_type(model, &c), v)),
            });
        }
        let tx = self.tx()?;
        let rows = self.store.query_in(tx, &select).await?;
        let ids: Vec<Uuid> =
            rows.iter().filter_map(|r| r.try_get_by_index::<Uuid>(0).ok()).collect();
        Ok(match ids.as_slice() {
            [id] => {
                // What the write resolves on its own is not the user's to reuse.
                if !self.trusted || self.options.permissions.is_superuser() {
                    self.refs.entry(target).or_default().insert(key, *id);
                }
                Found::One(*id)
            }
            [] => Found::None,
            _ => Found::Many,
        })
    }

    /// The ids a list field names, sorted; `None` when the import deferred them.
    pub(super) async fn link_targets(
        &mut self,
        owner: Uuid,
        link: LinkField,
        list: &Json,
    ) -> StoreResult<Result<Option<Vec<Uuid>>, String>> {
        let Some(items) = list.as_array() else {
            return Ok(Err("Expected a list of references.".into()));
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match self.lookup(link.target, item).await? {
                Found::One(id) => ids.push(id),
                _ if self.options.defer_references => {
                    self.links.push(PendingLink {
                        owner,
                        link,
                        references: list.clone(),
                        origin: self.operation,
                    });
                    return Ok(Ok(None));
                }
                found => return Ok(Err(self.not_found_message(link.target, item, found))),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Ok(Some(ids)))
    }

    pub(super) async fn insert_links(
        &mut self,
        link: &LinkField,
        owner: Uuid,
        ids: &[Uuid],
    ) -> StoreResult<()> {
        for other in ids {
            let row_id = Uuid::now_v7();
            let mut cols = vec!["id".to_owned(), link.source.clone(), link.target_column.clone()];
            let mut row = vec![uuid_value(row_id), uuid_value(owner), uuid_value(*other)];
            if let Some((ct_column, ct)) = &link.content_type {
                cols.push(ct_column.clone());
                row.push(ct.as_str().into());
            }
            if let Some(tm) = link.through {
                let through = self.catalogue.clone();
                let through = through.model(tm);
                let mut snapshot = Row::new();
                snapshot.set("id", Datum::Uuid(row_id));
                for f in &through.fields {
                    match (&f.kind, &f.column) {
                        (FieldKind::Boolean, Some(c)) => {
                            let flag = f.default.as_ref().and_then(Json::as_bool).unwrap_or(false);
                            cols.push(c.clone());
                            row.push(Value::Bool(Some(flag)));
                            snapshot.set(f.name.clone(), Datum::Bool(flag));
                        }
                        (_, Some(c)) if *c == link.source => {
                            snapshot.set(f.name.clone(), Datum::Uuid(owner));
                        }
                        (_, Some(c)) if *c == link.target_column => {
                            snapshot.set(f.name.clone(), Datum::Uuid(*other));
                        }
                        _ => {}
                    }
                }
                // Link rows that are objects of their own are changes of their own.
                self.log(Change {
                    action: Action::Create,
                    model: tm,
                    id: row_id,
                    before: None,
                    after: Some(snapshot),
                });
            }
            self.push(&link.table, &cols, row);
        }
        Ok(())
    }

    pub(super) async fn replace_links(
        &mut self,
        link: &LinkField,
        owner: Uuid,
        old: &[Uuid],
        new: &[Uuid],
    ) -> StoreResult<()> {
        let gone: Vec<Uuid> = old.iter().filter(|o| !new.contains(o)).copied().collect();
        let added: Vec<Uuid> = new.iter().filter(|n| !old.contains(n)).copied().collect();
        if !gone.is_empty() {
            self.flush().await?;
            if let Some(tm) = link.through {
                let through = self.catalogue.clone();
                let through = through.model(tm);
                let mut select = Query::select();
                select
                    .column(Alias::new("id"))
                    .from(Alias::new(&link.table))
                    .and_where(Expr::col(Alias::new(&link.source)).eq(uuid_value(owner)))
                    .and_where(
                        Expr::col(Alias::new(&link.target_column))
                            .is_in(gone.iter().map(|g| uuid_value(*g))),
                    );
                let tx = self.tx()?;
                let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
                let ids: Vec<Uuid> = rows.cells.iter().filter_map(Cell::as_uuid).collect();
                let snapshots = self.read_snapshots(through, &ids).await?;
                for id in ids {
                    let before = snapshots.get(&id).cloned();
                    self.log(Change { action: Action::Delete, model: tm, id, before, after: None });
                }
            }
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(&link.table))
                .and_where(Expr::col(Alias::new(&link.source)).eq(uuid_value(owner)))
                .and_where(
                    Expr::col(Alias::new(&link.target_column))
                        .is_in(gone.iter().map(|g| uuid_value(*g))),
                );
            if let Some((ct_column, ct)) = &link.content_type {
                delete.and_where(Expr::col(Alias::new(ct_column)).eq(ct.as_str()));
            }
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
        }
        self.insert_links(link, owner, &added).await
    }

    // ---- Reading rows -------------------------------------------------------------------

    pub(super) async fn ids_where_in(
        &mut self,
        table: &str,
        column: &str,
        keys: &[Uuid],
    ) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(1000) {
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(table)).and_where(
                Expr::col(Alias::new(column)).is_in(chunk.iter().map(|k| uuid_value(*k))),
            );
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
            out.extend(rows.cells.iter().filter_map(Cell::as_uuid));
        }
        Ok(out)
    }
}

pub(super) fn link_field(catalogue: &Catalogue, model: &Model, name: &str) -> LinkField {
    let field = model.field(name).map(|(_, f)| f);
    match field.map(|f| &f.kind) {
        Some(FieldKind::ManyToMany { to, through, .. }) => LinkField {
            name: name.to_owned(),
            table: through.table.clone(),
            source: through.source_column.clone(),
            target_column: through.target_column.clone(),
            target: *to,
            through: through.model,
            content_type: None,
        },
        _ => {
            generic_links(catalogue, model).find(|l| l.name == name).unwrap_or_else(|| LinkField {
                name: name.to_owned(),
                table: String::new(),
                source: String::new(),
                target_column: String::new(),
                target: 0,
                through: None,
                content_type: None,
            })
        }
    }
}

/// The generic through tables a model's objects are linked through (`tags`).
pub(super) fn generic_links<'a>(
    catalogue: &'a Catalogue,
    model: &'a Model,
) -> impl Iterator<Item = LinkField> + 'a {
    catalogue.generic_throughs_of(model).map(|g| LinkField {
        name: g.name.clone(),
        table: g.table.clone(),
        source: g.object_column.clone(),
        target_column: g.target_column.clone(),
        target: g.target,
        through: None,
        content_type: Some((g.type_column.clone(), model.label.clone())),
    })
}

/// The model a reference field names.
pub(super) fn field_target(field: &Field) -> ModelId {
    match &field.kind {
        FieldKind::ForeignKey { to, .. } | FieldKind::ManyToMany { to, .. } => *to,
        _ => 0,
    }
}

/// The column of a model's field (a foreign key's `_id` column), by field name.
pub(super) fn column_of(model: &Model, name: &str) -> String {
    model.column_of(name)
}
