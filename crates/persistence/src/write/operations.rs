//! The public operations of a `Writer`: create, update, upsert, delete, and the end of the
//! transaction (settle, commit, rollback).

use super::*;
use ferrobot_domain::owner;
use ferrobot_domain::permission::{self, Action as Perm, PERMISSION};

impl<'s> Writer<'s> {
    pub(super) fn tx(&self) -> StoreResult<&DatabaseTransaction> {
        self.tx.as_ref().ok_or_else(|| internal("the write has ended"))
    }

    /// Marks the start of operation `index` of the request: errors name it.
    pub fn begin_operation(&mut self, index: usize) {
        self.operation = index;
    }

    /// Creates one object from its input (field name → value, references as above).
    pub async fn create(&mut self, model: &Model, input: &Map<String, Json>) -> StoreResult<Uuid> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        let constrained = self.may(model, Perm::Add)?;
        let mut errors = Vec::new();
        let id = match input.get("id") {
            // Time-ordered: new rows append to the key index instead of landing anywhere in it.
            None | Some(Json::Null) => Uuid::now_v7(),
            Some(Json::String(s)) => match Uuid::parse_str(s) {
                Ok(id) => id,
                Err(_) => {
                    errors.push(ValidationError::new("id", format!("'{s}' is not a valid UUID.")));
                    Uuid::new_v4()
                }
            },
            Some(other) => {
                errors.push(ValidationError::new("id", format!("Expected a UUID, got {other}.")));
                Uuid::new_v4()
            }
        };
        unknown_keys(model, input, &mut errors);
        let mut values = Values::new();
        let derived = self.derive_inputs(model, input, &mut values, &mut errors, true);
        let parent_rule = model.behaviour.parent.filter(|r| !input.contains_key(r.field));
        let mut deferred = false;
        let mut lists: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for (fidx, field) in model.fields.iter().enumerate() {
            if validate::is_automatic(field)
                || derived.contains(field.name.as_str())
                || parent_rule.is_some_and(|r| r.field == field.name)
            {
                if matches!(field.name.as_str(), "created" | "last_updated") {
                    // Now, unless the input carries the object's own (an export re-imported).
                    let given = input.get(&field.name).filter(|v| !v.is_null());
                    let value = match given.map(|v| self.scalar(field, v)) {
                        Some(Ok(v)) => v,
                        Some(Err(m)) => {
                            errors.push(ValidationError::new(&field.name, m));
                            continue;
                        }
                        None => Datum::DateTime(self.now),
                    };
                    values.insert(field.name.clone(), value);
                }
                continue;
            }
            let given = input.get(&field.name);
            if let FieldKind::ManyToMany { .. } = &field.kind {
                if let Some(list) = given.filter(|l| !l.is_null()) {
                    let link = link_field(&self.catalogue, model, &field.name);
                    deferred |= self.given_list(id, link, list, &mut lists, &mut errors).await?;
                }
                continue;
            }
            let Some(column) = field.column.clone() else { continue };
            let value = match given {
                // A reference to a user that the input leaves out is the acting user (a rack
                // reservation's `user`, a note's author), as Nautobot's API fills it.
                None if self.is_user_ref(field) && self.options.actor.user_id.is_some() => {
                    Ok(self.options.actor.user_id.map_or(Datum::Null, Datum::Uuid))
                }
                None => match validate::absent(field) {
                    Ok(Some(default)) => self.default_value(field, default, input).await,
                    Ok(None) => Ok(absent_value(field)),
                    Err(m) => Err(m.to_owned()),
                },
                Some(v) => match self.given_value(field, v).await? {
                    Ok(Some(value)) => Ok(value),
                    // A nullable reference the import may find later: null until then.
                    Ok(None) => {
                        self.deferred.push(Pending {
                            model: model.id,
                            id,
                            field: fidx,
                            reference: v.clone(),
                            origin: self.operation,
                        });
                        deferred = true;
                        Ok(Datum::Null)
                    }
                    Err(m) => Err(m),
                },
            };
            match value {
                Ok(value) => {
                    put(&mut values, field, column, value);
                }
                Err(m) => errors.push(ValidationError::new(&field.name, m)),
            }
        }
        let custom = self.custom_field_data(model, input, None, &mut errors).await?;
        if let Some(data) = &custom {
            values.insert(CUSTOM_FIELD_DATA.into(), Datum::Json(Box::new(data.clone())));
        }
        let catalogue = self.catalogue.clone();
        for link in generic_links(&catalogue, model) {
            if let Some(list) = input.get(&link.name).filter(|l| !l.is_null()) {
                deferred |= self.given_list(id, link, list, &mut lists, &mut errors).await?;
            }
        }
        if let Some(rule) = parent_rule {
            if errors.is_empty() {
                match self.parent_of(model, rule, input, &values).await? {
                    Ok(parent) => {
                        values.insert(
                            column_of(model, rule.field),
                            parent.map_or(Datum::Null, Datum::Uuid),
                        );
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        let after = snapshot_of(model, id, &values, &lists, custom.as_ref());
        if errors.is_empty() {
            self.check_rules(model, &after, None, &mut errors).await?;
        }
        self.check_data_rules(model, id, &after, &mut errors).await?;
        if model.label == PERMISSION {
            errors.extend(permission::check(&self.catalogue, &after));
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        self.remember_unique(model, id, &values)?;
        self.check_unique_sets(model, id, &values).await?;
        let id_column = ("id".to_owned(), Datum::Uuid(id));
        let (columns, row) = bind_row(model, std::iter::once(id_column).chain(values));
        self.push(&model.table, &columns, row);
        for (name, ids) in &lists {
            let link = link_field(&self.catalogue, model, name);
            self.insert_links(&link, id, ids).await?;
        }
        self.known.insert((model.id, id));
        if let Some(fields) = self.listed_models.get(&model.id) {
            for field in fields {
                if let Some(key) = after.uuid(field) {
                    self.listed_by.entry((model.id, *field, key)).or_default().push(id);
                }
            }
            self.created_listed.entry(model.id).or_default().insert(id, after.clone());
        }
        if let Some(idx) = model.lookup_field() {
            if let Some(s) = after.text(&model.fields[idx].name) {
                let key = Json::String(s.to_owned()).to_string();
                self.refs.entry(model.id).or_default().insert(key, id);
            }
        }
        self.definitions_written(model);
        // Full batches go out as they fill, so memory stays flat on big writes.
        if !self.ready.is_empty() {
            let full = std::mem::take(&mut self.ready);
            self.write_batches(full).await?;
            self.bound_memory().await?;
        }
        if model.is_template {
            self.templates.clear();
        }
        self.adopt_children(model, id, &after).await?;
        if model.behaviour.traces_cable_paths {
            self.touch_cabling(model, &after);
        }
        let components = model
            .behaviour
            .components
            .filter(|_| self.options.instantiate_components)
            .and_then(|spec| Some((spec, after.uuid(spec.type_field)?)));
        let owner = components.as_ref().map(|_| after.clone());
        let change = Change {
            action: Action::Create,
            model: model.id,
            id,
            before: None,
            after: Some(after),
        };
        if deferred {
            self.held.insert(id, change);
        } else {
            self.log(change);
        }
        if constrained {
            self.check_after(model.id, id, Perm::Add);
        }
        if let (Some((spec, type_id)), Some(owner)) = (components, owner) {
            let was = std::mem::replace(&mut self.trusted, true);
            let made = self.instantiate(model, spec, id, type_id, &owner).await;
            self.trusted = was;
            made?;
        }
        self.given_relationships(model, id, input, true).await?;
        Ok(id)
    }

    /// Updates the object `target` names with the keys of `patch` (absent keys stay as they
    /// are; `null` clears). An update that changes nothing writes nothing.
    pub async fn update(
        &mut self,
        model: &Model,
        target: &Json,
        patch: &Map<String, Json>,
    ) -> StoreResult<Outcome> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        let constrained = self.may(model, Perm::Change)?;
        let id = self.resolve(model.id, target).await?;
        // An object outside the constraints is one the user cannot name.
        if constrained && !self.outside(model, &[id], Perm::Change).await?.is_empty() {
            return Err(StoreError::NotFound {
                kind: model.verbose_name.clone(),
                id: target.to_string(),
            });
        }
        let before = self.read_snapshot(model, id).await?;
        let mut errors = Vec::new();
        unknown_keys(model, patch, &mut errors);
        if let Some(given) = patch.get("id") {
            if given.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(id) {
                errors.push(ValidationError::new("id", "The id of an object cannot be changed."));
            }
        }
        let mut values = Values::new();
        let derived = self.derive_inputs(model, patch, &mut values, &mut errors, false);
        let mut lists: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for field in &model.fields {
            let Some(given) = patch.get(&field.name) else { continue };
            if validate::is_automatic(field) || derived.contains(field.name.as_str()) {
                continue;
            }
            if let FieldKind::ManyToMany { .. } = &field.kind {
                let link = link_field(&self.catalogue, model, &field.name);
                self.given_list(id, link, given, &mut lists, &mut errors).await?;
                continue;
            }
            let Some(column) = field.column.clone() else { continue };
            let value = match self.given_value(field, given).await? {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(self.not_found_message(field_target(field), given, Found::None)),
                Err(m) => Err(m),
            };
            match value {
                Ok(value) => put(&mut values, field, column, value),
                Err(m) => errors.push(ValidationError::new(&field.name, m)),
            }
        }
        let catalogue = self.catalogue.clone();
        for link in generic_links(&catalogue, model) {
            if let Some(list) = patch.get(&link.name) {
                self.given_list(id, link, list, &mut lists, &mut errors).await?;
            }
        }
        let custom =
            self.custom_field_data(model, patch, before.custom_fields(), &mut errors).await?;
        if let Some(data) = &custom {
            values.insert(CUSTOM_FIELD_DATA.into(), Datum::Json(Box::new(data.clone())));
        }
        let mut after = before.clone();
        merge_snapshot(model, &mut after, &values, &lists, custom.as_ref());
        // A moved address or prefix gets its parent again, unless the input names one.
        if let Some(rule) = model.behaviour.parent {
            let moved = model.behaviour.inputs.iter().any(|i| patch.contains_key(i.key))
                || match &rule.namespace {
                    hooks::NamespaceSource::Field(name) => patch.contains_key(*name),
                    hooks::NamespaceSource::Input { key, .. } => patch.contains_key(*key),
                };
            if moved && !patch.contains_key(rule.field) && errors.is_empty() {
                let mut full = stored_values(model, &after);
                full.extend(values.clone());
                match self.parent_of(model, rule, patch, &full).await? {
                    Ok(parent) => {
                        let v = parent.map_or(Datum::Null, Datum::Uuid);
                        values.insert(column_of(model, rule.field), v);
                        merge_snapshot(model, &mut after, &values, &lists, custom.as_ref());
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if model.label == PERMISSION {
            errors.extend(permission::check(&self.catalogue, &after));
        }
        if errors.is_empty() {
            self.check_rules(model, &after, Some(&before), &mut errors).await?;
            if model.tree && errors.is_empty() {
                self.check_cycle(model, id, &after, &mut errors).await?;
            }
        }
        self.check_data_rules(model, id, &after, &mut errors).await?;
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        if after.same_as(&before) {
            self.given_relationships(model, id, patch, false).await?;
            return Ok(Outcome { model: model.id, id, action: None });
        }
        self.forget_unique(id);
        let stored = stored_values(model, &after);
        self.check_unique_update(model, id, &stored).await?;
        self.check_unique_sets(model, id, &stored).await?;
        if model.field("last_updated").is_some() {
            values.insert("last_updated".into(), Datum::DateTime(self.now));
            after.set("last_updated", Datum::DateTime(self.now));
        }
        let mut update = Query::update();
        update.table(Alias::new(&model.table));
        let (columns, row) = bind_row(model, values);
        for (column, value) in columns.into_iter().zip(row) {
            update.value(Alias::new(column), value);
        }
        update.and_where(Expr::col(Alias::new("id")).eq(uuid_value(id)));
        self.flush_for(&model.table).await?;
        let tx = self.tx()?;
        self.store.execute_in(tx, &update).await?;
        for (name, ids) in &lists {
            let link = link_field(&self.catalogue, model, name);
            let old = before.list(name).to_vec();
            if old != *ids {
                self.replace_links(&link, id, &old, ids).await?;
            }
        }
        self.forget(model.id, id);
        self.definitions_written(model);
        if model.behaviour.traces_cable_paths {
            self.touch_cabling(model, &before);
            self.touch_cabling(model, &after);
        }
        self.log(Change {
            action: Action::Update,
            model: model.id,
            id,
            before: Some(before),
            after: Some(after),
        });
        if constrained {
            self.check_after(model.id, id, Perm::Change);
        }
        self.given_relationships(model, id, patch, false).await?;
        Ok(Outcome { model: model.id, id, action: Some(Action::Update) })
    }

    /// Creates the object the input's natural key names, or updates it when it exists.
    pub async fn upsert(
        &mut self,
        model: &Model,
        input: &Map<String, Json>,
    ) -> StoreResult<Outcome> {
        let keys = model.natural_key_inputs();
        if keys.is_empty() {
            return Err(one_invalid(
                "__all__",
                format!("{} has no natural key to upsert by", model.label),
            ));
        }
        let mut mapping = Map::new();
        let mut errors = Vec::new();
        for key in &keys {
            match input.get(key) {
                Some(v) => {
                    mapping.insert(key.clone(), v.clone());
                }
                None => match model.field(key).map(|(_, f)| f) {
                    Some(f) if f.null => {
                        mapping.insert(key.clone(), Json::Null);
                    }
                    Some(Field { default: Some(Json::String(d)), .. })
                        if d.starts_with("natural_key(") =>
                    {
                        let name = d.trim_start_matches("natural_key(").trim_end_matches(')');
                        mapping.insert(key.clone(), Json::String(name.to_owned()));
                    }
                    _ => errors.push(ValidationError::new(key, validate::REQUIRED)),
                },
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        match self.lookup(model.id, &Json::Object(mapping.clone())).await? {
            Found::One(id) => {
                let mut patch = input.clone();
                patch.remove("id");
                self.update(model, &Json::String(id.to_string()), &patch).await
            }
            Found::None => {
                let id = self.create(model, input).await?;
                Ok(Outcome { model: model.id, id, action: Some(Action::Create) })
            }
            Found::Many => Err(StoreError::Conflict {
                fields: keys,
                message: format!(
                    "{} matches more than one {}",
                    Json::Object(mapping),
                    model.verbose_name
                ),
                operation: None,
            }),
        }
    }

    /// Deletes the object `target` names, with what Nautobot's on-delete rules take along:
    /// protected references refuse the delete, cascades delete (and log) their rows too, and
    /// `set null` references are cleared (and logged as updates).
    pub async fn delete(&mut self, model: &Model, target: &Json) -> StoreResult<Vec<Outcome>> {
        if model.readonly {
            return Err(one_invalid("__all__", format!("{} objects are read-only", model.label)));
        }
        self.may(model, Perm::Delete)?;
        let id = self.resolve(model.id, target).await?;
        self.flush().await?;
        let catalogue = self.catalogue.clone();
        self.hand_children_on(model, id).await?;
        // Breadth first over every foreign key that points at a model being deleted.
        let mut doomed: Vec<(ModelId, Vec<Uuid>)> = vec![(model.id, vec![id])];
        let mut seen: HashSet<(ModelId, Uuid)> = HashSet::from([(model.id, id)]);
        let mut blocking: Vec<(ModelId, Uuid)> = Vec::new();
        let mut nulling: Vec<(ModelId, usize, Uuid)> = Vec::new();
        let mut clearing: Vec<(ModelId, Uuid, owner::Owner)> = Vec::new();
        let mut next = 0;
        while next < doomed.len() {
            let (target_model, ids) = doomed[next].clone();
            next += 1;
            for other in catalogue.models() {
                for (fidx, field) in other.fields.iter().enumerate() {
                    let FieldKind::ForeignKey { to, on_delete, .. } = &field.kind else { continue };
                    if *to != target_model {
                        continue;
                    }
                    let column = field.column.clone().unwrap_or_default();
                    let referring = self.ids_where_in(&other.table, &column, &ids).await?;
                    let mut fresh = Vec::new();
                    for r in referring {
                        match on_delete {
                            OnDelete::Cascade => {
                                if seen.insert((other.id, r)) {
                                    fresh.push(r);
                                }
                            }
                            OnDelete::Protect => blocking.push((other.id, r)),
                            OnDelete::SetNull => nulling.push((other.id, fidx, r)),
                        }
                    }
                    if !fresh.is_empty() {
                        doomed.push((other.id, fresh));
                    }
                }
            }
            // Rows that name the objects generically (type and id): their contact
            // associations, metadata, static group memberships, relationship associations.
            // The change log keeps its rows.
            for rel in &catalogue.model(target_model).relations {
                let ferrobot_domain::catalogue::RelationShape::Reverse {
                    column,
                    content_type: Some((type_column, label)),
                    ..
                } = &rel.shape
                else {
                    continue;
                };
                let other = catalogue.model(rel.target);
                if other.readonly {
                    continue;
                }
                let mut fresh = Vec::new();
                for chunk in ids.chunks(1000) {
                    let mut select = Query::select();
                    select
                        .column(Alias::new("id"))
                        .from(Alias::new(&other.table))
                        .and_where(
                            Expr::col(Alias::new(column))
                                .is_in(chunk.iter().map(|k| uuid_value(*k))),
                        )
                        .and_where(Expr::col(Alias::new(type_column)).eq(label.as_str()));
                    let tx = self.tx()?;
                    let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
                    for r in rows.cells.iter().filter_map(Cell::as_uuid) {
                        if seen.insert((other.id, r)) {
                            fresh.push(r);
                        }
                    }
                }
                if !fresh.is_empty() {
                    doomed.push((other.id, fresh));
                }
            }
            // What an owner (a Git repository) owns goes with it: rows it owns whole are
            // deleted, the fields it owns of other rows (local config context data) cleared.
            let target_label = catalogue.model(target_model).label.clone();
            if owner::OWNERS.contains(&target_label.as_str()) {
                for (label, own) in owner::OWNED {
                    let Some(owned) = catalogue.by_label(label) else { continue };
                    let rows = self.owned_rows(owned, own, &target_label, &ids).await?;
                    if own.whole() {
                        let fresh: Vec<Uuid> = rows
                            .into_iter()
                            .filter(|(r, _)| seen.insert((owned.id, *r)))
                            .map(|(r, _)| r)
                            .collect();
                        if !fresh.is_empty() {
                            doomed.push((owned.id, fresh));
                        }
                    } else {
                        clearing.extend(rows.into_iter().map(|(r, by)| {
                            (owned.id, r, owner::Owner { label: target_label.clone(), id: by })
                        }));
                    }
                }
            }
        }
        blocking.retain(|key| !seen.contains(key));
        for (m, _) in &doomed {
            self.definitions_written(catalogue.model(*m));
        }
        // The object and everything its delete takes along must be the user's to delete; the
        // object itself outside the constraints is one the user cannot name.
        for (m, ids) in &doomed {
            let doomed_model = catalogue.model(*m);
            // Links and what the write keeps itself (cable paths) go with their objects.
            let object = doomed_model.graphql.is_some() && !doomed_model.readonly;
            if *m != model.id && (doomed_model.is_through || !object) {
                continue;
            }
            if !self.may(doomed_model, Perm::Delete)? {
                continue;
            }
            let outside = self.outside(doomed_model, ids, Perm::Delete).await?;
            if outside.contains(&id) {
                return Err(StoreError::NotFound {
                    kind: model.verbose_name.clone(),
                    id: target.to_string(),
                });
            }
            if !outside.is_empty() {
                return Err(StoreError::Forbidden {
                    message: format!(
                        "Deleting this {} would also delete {} {} you may not delete ({}).",
                        model.verbose_name,
                        outside.len(),
                        doomed_model.verbose_name_plural,
                        grants::codename(doomed_model, Perm::Delete)
                    ),
                    operation: Some(self.operation),
                });
            }
        }
        if !blocking.is_empty() {
            return Err(self.protected(model, id, &blocking).await?);
        }
        let mut outcomes = Vec::new();
        nulling.retain(|(m, _, r)| !seen.contains(&(*m, *r)));
        // References the delete clears are the delete's doing, not a change the user asks.
        let was = std::mem::replace(&mut self.trusted, true);
        for (m, fidx, r) in nulling {
            let other = catalogue.model(m);
            let mut patch = Map::new();
            patch.insert(other.fields[fidx].name.clone(), Json::Null);
            let outcome = self.update(other, &Json::String(r.to_string()), &patch).await;
            match outcome {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    self.trusted = was;
                    return Err(e);
                }
            }
        }
        self.trusted = was;
        clearing.retain(|(m, r, _)| !seen.contains(&(*m, *r)));
        for (m, r, by) in clearing {
            let other = catalogue.model(m);
            let Some(own) = other.behaviour.owned else { continue };
            let mut patch = Map::new();
            for field in own.fields.iter().chain([&own.type_field, &own.id_field]) {
                patch.insert((*field).to_owned(), Json::Null);
            }
            let acting = self.options.acting_for.replace(by);
            let outcome = self.update(other, &Json::String(r.to_string()), &patch).await;
            self.options.acting_for = acting;
            outcomes.push(outcome?);
        }
        // Dependents first, so the log reads as the deletes happened.
        for (m, ids) in doomed.iter().rev() {
            let doomed_model = catalogue.model(*m);
            if doomed_model.readonly && *m != model.id {
                // Rows Ferrobot keeps itself (a webhook's attempts) go unlogged, as they came.
                self.delete_rows(doomed_model, ids).await?;
                continue;
            }
            let snapshots = self.read_snapshots(doomed_model, ids).await?;
            if let Some(own) = doomed_model.behaviour.owned {
                self.check_owned_deletes(doomed_model, own, &snapshots, &seen)?;
            }
            if doomed_model.behaviour.traces_cable_paths {
                for row in snapshots.values() {
                    self.touch_cabling(doomed_model, row);
                }
            }
            for id in ids {
                self.forget(*m, *id);
                self.forget_unique(*id);
                self.known.remove(&(*m, *id));
                self.gone.insert(*id);
                let before = snapshots.get(id).cloned();
                self.log(Change {
                    action: Action::Delete,
                    model: *m,
                    id: *id,
                    before,
                    after: None,
                });
                outcomes.push(Outcome { model: *m, id: *id, action: Some(Action::Delete) });
            }
            self.delete_rows(doomed_model, ids).await?;
        }
        Ok(outcomes)
    }

    /// The operation that ran last (or that a deferred reference came from).
    pub fn operation(&self) -> usize {
        self.operation
    }

    /// Resolves what the import deferred and writes everything pending; errors name the
    /// operation through [`Writer::operation`].
    pub async fn settle(&mut self) -> StoreResult<()> {
        self.finish().await?;
        self.flush().await?;
        self.check_written().await
    }

    /// Ends the write: what is pending goes out, then the transaction commits.
    pub async fn commit(mut self) -> StoreResult<Committed> {
        self.finish().await?;
        self.flush().await?;
        self.check_written().await?;
        if self.sequence != self.start_sequence {
            let mut update = Query::update();
            update
                .table(Alias::new("ferrobot_sequence"))
                .value(Alias::new("value"), self.sequence)
                .and_where(Expr::col(Alias::new("name")).eq(SEQUENCE));
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
            // Other replicas learn of the commit when it happens (PostgreSQL's NOTIFY is sent
            // at commit, and not at all on a rollback).
            if let Some(sql) = self.store.notify_statement(self.sequence) {
                let statement = sea_orm::Statement::from_string(self.store.backend.db(), sql);
                sea_orm::ConnectionTrait::execute(self.tx()?, statement).await?;
            }
        }
        let tx = self.tx.take().ok_or_else(|| internal("the write has ended"))?;
        tx.commit().await?;
        if self.sequence != self.start_sequence {
            self.store.committed(self.sequence);
        }
        Ok(Committed {
            request_id: self.options.request_id,
            changes: self.changes,
            last_sequence: (self.sequence != self.start_sequence).then_some(self.sequence),
        })
    }

    /// Abandons the write: nothing of it stays, and no sequence number is used up.
    pub async fn rollback(mut self) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// Retries what the import deferred, then queues the change rows that waited for it.
    pub(super) async fn finish(&mut self) -> StoreResult<()> {
        self.flush().await?;
        for p in std::mem::take(&mut self.deferred) {
            self.operation = p.origin;
            let model = self.catalogue.clone();
            let model = model.model(p.model);
            let field = &model.fields[p.field];
            let FieldKind::ForeignKey { to, .. } = &field.kind else { continue };
            let target = match self.lookup(*to, &p.reference).await? {
                Found::One(t) => t,
                found => {
                    return Err(one_invalid(
                        &field.name,
                        self.not_found_message(*to, &p.reference, found),
                    ))
                }
            };
            let column = field.column.clone().unwrap_or_default();
            let mut update = Query::update();
            update
                .table(Alias::new(&model.table))
                .value(Alias::new(column), uuid_value(target))
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(p.id)));
            self.flush().await?;
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
            if let Some(after) = self.held.get_mut(&p.id).and_then(|c| c.after.as_mut()) {
                after.set(field.name.clone(), Datum::Uuid(target));
            }
        }
        for link in std::mem::take(&mut self.links) {
            self.operation = link.origin;
            let mut ids = Vec::new();
            for item in link.references.as_array().into_iter().flatten() {
                match self.lookup(link.link.target, item).await? {
                    Found::One(t) => ids.push(t),
                    found => {
                        return Err(one_invalid(
                            &link.link.name,
                            self.not_found_message(link.link.target, item, found),
                        ))
                    }
                }
            }
            ids.sort_unstable();
            ids.dedup();
            self.insert_links(&link.link, link.owner, &ids).await?;
            if let Some(after) = self.held.get_mut(&link.owner).and_then(|c| c.after.as_mut()) {
                after.set_list(link.link.name.clone(), ids);
            }
        }
        self.rebuild_paths().await?;
        let mut held: Vec<Change> = std::mem::take(&mut self.held).into_values().collect();
        held.sort_by_key(|c| c.id);
        for change in held {
            self.log(change);
        }
        Ok(())
    }
}
