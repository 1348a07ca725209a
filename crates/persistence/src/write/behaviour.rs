//! The domain's behaviour applied to a write: parents and adoption, model rules with the rows they
//! ask for, components instantiated from templates, cycles in trees.

use ferrobot_domain::owner;

use super::*;

impl<'s> Writer<'s> {
    /// The computed parent of a row (the closest containing prefix of its namespace).
    pub(super) async fn parent_of(
        &mut self,
        model: &Model,
        rule: &hooks::ParentRule,
        input: &Map<String, Json>,
        values: &Values,
    ) -> StoreResult<Result<Option<Uuid>, ValidationError>> {
        let namespace = match &rule.namespace {
            hooks::NamespaceSource::Field(name) => values.get(&column_of(model, name)).cloned(),
            hooks::NamespaceSource::Input { key, model: label, default } => {
                let given =
                    input.get(*key).cloned().unwrap_or_else(|| Json::String((*default).into()));
                let Some(namespace) = self.catalogue.by_label(label).map(|m| m.id) else {
                    return Ok(Ok(None));
                };
                match self.lookup(namespace, &given).await? {
                    Found::One(id) => Some(Datum::Uuid(id)),
                    found => {
                        return Ok(Err(ValidationError::new(
                            *key,
                            self.not_found_message(namespace, &given, found),
                        )))
                    }
                }
            }
        };
        let parent = match namespace {
            Some(ns) => {
                let address = values.get(&column_of(model, rule.address));
                let length = values.get(&column_of(model, rule.length));
                let target =
                    field_target(model.field(rule.field).map(|(_, f)| f).ok_or_else(|| {
                        StoreError::Internal(format!("{} has no {}", model.label, rule.field))
                    })?);
                self.closest_prefix(target, address, length, &ns, rule.strict).await?
            }
            None => None,
        };
        if parent.is_none() && rule.required {
            let key = model.behaviour.inputs.first().map_or(rule.address, |i| i.key);
            return Ok(Err(ValidationError::new(
                key,
                "No suitable parent Prefix exists in the namespace.",
            )));
        }
        Ok(Ok(parent))
    }

    /// The most specific row of `parents` (prefixes) of the namespace containing `address`
    /// (bytes) of `length`, by the parent model's own network, length and namespace fields.
    pub(super) async fn closest_prefix(
        &mut self,
        parents: ModelId,
        address: Option<&Datum>,
        length: Option<&Datum>,
        ns: &Datum,
        strict: bool,
    ) -> StoreResult<Option<Uuid>> {
        let catalogue = self.catalogue.clone();
        let parent_model = catalogue.model(parents);
        let Some(rule) = parent_model.behaviour.parent else { return Ok(None) };
        let hooks::NamespaceSource::Field(namespace) = rule.namespace else { return Ok(None) };
        let column = |name: &str| Alias::new(column_of(parent_model, name));
        self.flush_for(&parent_model.table).await?;
        let Some(Datum::Bytes(address)) = address else { return Ok(None) };
        let &Datum::Uuid(ns) = ns else { return Ok(None) };
        let length = match length {
            Some(Datum::Int(l)) => Some(*l),
            _ => None,
        };
        // A prefix's parent is strictly shorter; an address's is no longer than its mask.
        let below = match length {
            Some(l) if strict => l as u8,
            Some(l) => (l as u8).saturating_add(1),
            None => (address.len() * 8 + 1) as u8,
        };
        let mut any = Cond::any();
        for (network, length) in ipam::containing_networks(address, below) {
            // The namespace in every term, so that each one is a probe of the unique index.
            any = any.add(
                Cond::all()
                    .add(Expr::col(column(namespace)).eq(uuid_value(ns)))
                    .add(Expr::col(column(rule.address)).eq(Value::Bytes(Some(Box::new(network)))))
                    .add(Expr::col(column(rule.length)).eq(i64::from(length))),
            );
        }
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .from(Alias::new(&parent_model.table))
            .cond_where(any)
            .order_by(column(rule.length), Order::Desc)
            .limit(1);
        let tx = self.tx()?;
        let rows = self.store.query_in(tx, &select).await?;
        Ok(rows.first().and_then(|r| r.try_get_by_index::<Uuid>(0).ok()))
    }

    /// Runs the model's rules and the generic ones (a status or role must apply to the model).
    pub(super) async fn check_rules(
        &mut self,
        model: &Model,
        object: &Row,
        before: Option<&Row>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        for (feature, name) in [(model.features.status, "status"), (model.features.role, "role")] {
            let Some(id) = object.uuid(name).filter(|_| feature) else { continue };
            let Some((_, field)) = model.field(name) else { continue };
            let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
            let target = self.snapshot_by_id(to, id).await?.unwrap_or_default();
            let applies = target
                .json("content_types")
                .and_then(Json::as_array)
                .is_some_and(|list| list.iter().any(|l| l.as_str() == Some(&model.label)));
            if !applies {
                let shown = target.text("name").map_or_else(|| id.to_string(), str::to_owned);
                errors.push(ValidationError::new(
                    name,
                    format!("{shown} is not a valid {name} for {}.", model.verbose_name_plural),
                ));
            }
        }
        for rule in model.behaviour.rules {
            let mut related = ferrobot_domain::row::Related::default();
            for need in rule.needs {
                let Some((_, field)) = model.field(need) else { continue };
                let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
                let row = match object.uuid(need) {
                    Some(id) if Some(id) == object.id() => Some(object.clone()),
                    Some(id) => self.rule_row(to, id).await?,
                    None => None,
                };
                if let Some(row) = row {
                    related.rows.insert(need, row);
                }
            }
            for list in rule.lists {
                let rows = self.rule_list(list, object).await?;
                related.lists.insert(list.name, rows);
            }
            errors.extend((rule.check)(object, before, &related));
        }
        for rule in model.behaviour.filter_fields {
            self.check_stored_filter(rule, object, errors).await?;
        }
        if let Some(rule) = model.behaviour.catalogue_rule {
            use ferrobot_domain::hooks::CatalogueRule;
            let check = match rule {
                CatalogueRule::DataValidation => ferrobot_domain::data_validation::rule_rules,
                CatalogueRule::ComputedField => ferrobot_domain::computed_field::clean,
                CatalogueRule::ExportTemplate => ferrobot_domain::export_template::clean,
            };
            errors.extend(check(&self.catalogue, &model.label, object));
        }
        if let Some(own) = model.behaviour.owned {
            let acting = self.options.acting_for.as_ref();
            errors.extend(owner::check(own, &model.verbose_name, acting, before, Some(object)));
        }
        if let Some(edge) = model.behaviour.acyclic {
            self.check_acyclic(model, edge, object, errors).await?;
        }
        if model.label == ferrobot_domain::relationship::ASSOCIATION {
            self.check_association(object, errors).await?;
        }
        Ok(())
    }

    /// A new row becomes the parent of the rows it now contains most closely: those under its
    /// own parent (or without one) in its namespace, inside its range and longer than it
    /// ([`hooks::Behaviour::adoptions`]). One `UPDATE` a kind of child; like Nautobot's, it writes no
    /// change-log rows.
    pub(super) async fn adopt_children(
        &mut self,
        model: &Model,
        id: Uuid,
        after: &Row,
    ) -> StoreResult<()> {
        let adoptions = model.behaviour.adoptions;
        if adoptions.is_empty() {
            return Ok(());
        }
        let Some(rule) = model.behaviour.parent else { return Ok(()) };
        let bytes = |name: &str| match after.get(name) {
            Datum::Bytes(b) => Some(b.to_vec()),
            _ => None,
        };
        let (Some(network), Some(length), Some(version)) =
            (bytes(rule.address), after.int(rule.length), after.int(rule.version))
        else {
            return Ok(());
        };
        let Some(broadcast) = rule.end.and_then(bytes) else {
            return Ok(());
        };
        let parent = after.uuid(rule.field);
        let namespace = match rule.namespace {
            hooks::NamespaceSource::Field(name) => after.uuid(name),
            hooks::NamespaceSource::Input { .. } => None,
        };
        let catalogue = self.catalogue.clone();
        let mut tables = vec![model.table.as_str()];
        tables.extend(
            adoptions.iter().filter_map(|a| catalogue.by_label(a.child)).map(|c| c.table.as_str()),
        );
        self.flush_for_tables(&tables).await?;
        for adoption in adoptions.iter().filter(|a| a.on_create) {
            let Some(child) = catalogue.by_label(adoption.child) else { continue };
            let Some(child_rule) = child.behaviour.parent else { continue };
            let col = |name: &str| Expr::col(Alias::new(column_of(child, name)));
            let mut update = Query::update();
            update
                .table(Alias::new(&child.table))
                .value(Alias::new(column_of(child, child_rule.field)), uuid_value(id))
                .and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)))
                .and_where(col(child_rule.version).eq(version))
                .and_where(col(child_rule.address).gte(bytes_value(network.clone())))
                .and_where(col(child_rule.address).lte(bytes_value(broadcast.clone())));
            let longer = col(child_rule.length);
            update.and_where(if child_rule.strict {
                longer.gt(length)
            } else {
                longer.gte(length)
            });
            match parent {
                Some(p) => update.and_where(col(child_rule.field).eq(uuid_value(p))),
                None => {
                    // Rows without a parent, of the same namespace (when they hold one).
                    let Some(ns) = namespace else { continue };
                    let hooks::NamespaceSource::Field(child_namespace) = child_rule.namespace
                    else {
                        continue;
                    };
                    update
                        .and_where(col(child_rule.field).is_null())
                        .and_where(col(child_namespace).eq(uuid_value(ns)))
                }
            };
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
        }
        self.forget_rows_of(adoptions.iter().filter_map(|a| catalogue.by_label(a.child)));
        Ok(())
    }

    /// A row about to go hands its children to its own parent; children that need a parent
    /// keep a row without one from going (`PROTECTED`).
    pub(super) async fn hand_children_on(&mut self, model: &Model, id: Uuid) -> StoreResult<()> {
        let adoptions = model.behaviour.adoptions;
        let Some(rule) = model.behaviour.parent.filter(|_| !adoptions.is_empty()) else {
            return Ok(());
        };
        let me = self.read_snapshot(model, id).await?;
        let parent = me.uuid(rule.field);
        let catalogue = self.catalogue.clone();
        for adoption in adoptions {
            let Some(child) = catalogue.by_label(adoption.child) else { continue };
            let Some(child_rule) = child.behaviour.parent else { continue };
            let column = column_of(child, child_rule.field);
            if parent.is_none() && adoption.required {
                let orphans = self.ids_where_in(&child.table, &column, &[id]).await?;
                if !orphans.is_empty() {
                    let blocking: Vec<(ModelId, Uuid)> =
                        orphans.into_iter().map(|o| (child.id, o)).collect();
                    // The row as its input names it (a prefix's `prefix`).
                    let shown = model
                        .behaviour
                        .inputs
                        .first()
                        .and_then(|i| model.computed.iter().position(|c| c.name == i.key))
                        .and_then(|c| model.computed_of(&me, c))
                        .unwrap_or_default();
                    let mut error = self.protected(model, id, &blocking).await?;
                    if let StoreError::Protected { message, .. } = &mut error {
                        *message = format!(
                            "Cannot delete {} {shown} because it has child {} objects that would no longer have a valid parent.",
                            model.class, child.class
                        );
                    }
                    return Err(error);
                }
                continue;
            }
            let mut update = Query::update();
            update
                .table(Alias::new(&child.table))
                .value(Alias::new(&column), parent.map(uuid_value).unwrap_or(Value::Uuid(None)))
                .and_where(Expr::col(Alias::new(&column)).eq(uuid_value(id)));
            let tx = self.tx()?;
            self.store.execute_in(tx, &update).await?;
        }
        self.forget_rows_of(adoptions.iter().filter_map(|a| catalogue.by_label(a.child)));
        Ok(())
    }

    pub(super) fn is_user_ref(&self, field: &Field) -> bool {
        matches!(field.kind, FieldKind::ForeignKey { to, .. } if self.catalogue.model(to).label == "users.user")
    }

    /// Creates the components a new object gets from its type's templates (through
    /// [`Writer::create`], so each is validated and logged like any object).
    pub(super) async fn instantiate(
        &mut self,
        model: &Model,
        spec: &hooks::Components,
        owner: Uuid,
        type_id: Uuid,
        object: &Row,
    ) -> StoreResult<()> {
        let catalogue = self.catalogue.clone();
        // A value of the row a reference of the new object names (its module bay's device), in
        // the input form the components are created from.
        let mut through = async |reference: &str, field: &str| -> StoreResult<Json> {
            let to = model.field(reference).and_then(|(_, f)| match f.kind {
                FieldKind::ForeignKey { to, .. } => Some(to),
                _ => None,
            });
            let (Some(target), Some(to)) = (object.uuid(reference), to) else {
                return Ok(Json::Null);
            };
            let Some((_, of)) = catalogue.model(to).field(field) else { return Ok(Json::Null) };
            let row = self.snapshot_by_id(to, target).await?.unwrap_or_default();
            Ok(ferrobot_domain::catalogue::value_json(of, row.get(field)))
        };
        let inherited = match spec.inherit {
            Some((field, reference, of)) => Some((field, through(reference, of).await?)),
            None => None,
        };
        let placeholder = match spec.placeholder {
            Some((text, reference, of)) => {
                let value = match through(reference, of).await? {
                    Json::String(s) => s,
                    Json::Null => String::new(),
                    other => other.to_string(),
                };
                Some((text, value))
            }
            None => None,
        };
        let templates = match self.templates.get(&type_id) {
            Some(t) => t.clone(),
            None => {
                self.flush().await?;
                let mut all = Vec::with_capacity(spec.templates.len());
                for t in spec.templates {
                    let Some(tm) = catalogue.by_label(t.template) else { continue };
                    let column = column_of(tm, spec.template_type_field);
                    let ids = self.ids_where_in(&tm.table, &column, &[type_id]).await?;
                    let found = self.read_snapshots(tm, &ids).await?;
                    let mut rows: Vec<Json> =
                        found.into_values().map(|r| tm.row_json(&r)).collect();
                    let name = |r: &Json| {
                        ferrobot_domain::value::naturalize(
                            r.get("name").and_then(Json::as_str).unwrap_or_default(),
                        )
                    };
                    rows.sort_by_key(name);
                    all.push(rows);
                }
                let all = Arc::new(all);
                self.templates.insert(type_id, all.clone());
                all
            }
        };
        // Template id → the component made from it, for references between components.
        let mut made: HashMap<String, Uuid> = HashMap::new();
        for (t, rows) in spec.templates.iter().zip(templates.iter()) {
            let Some(component) = catalogue.by_label(t.component) else { continue };
            for template in rows {
                let mut input = Map::new();
                let owner_field = t.owner.unwrap_or(spec.owner_field);
                input.insert(owner_field.into(), Json::String(owner.to_string()));
                for name in ["name", "label", "description"].iter().chain(t.copy) {
                    if let Some(v) = template.get(*name).filter(|v| !v.is_null()) {
                        let value = match (v, &placeholder, *name) {
                            (Json::String(s), Some((text, by)), "name" | "label") => {
                                Json::String(s.replace(text, by))
                            }
                            _ => v.clone(),
                        };
                        input.insert((*name).into(), value);
                    }
                }
                // Inherited only by components that have the field (a module's module bays
                // name the module alone).
                let inherits = |field: &str| component.field(field).is_some();
                if let Some((field, value)) =
                    inherited.as_ref().filter(|(f, v)| !v.is_null() && inherits(f))
                {
                    input.insert((*field).into(), value.clone());
                }
                for (field, template_field) in t.refs {
                    let target = template.get(*template_field).and_then(Json::as_str);
                    if let Some(made_id) = target.and_then(|t| made.get(t)) {
                        input.insert((*field).into(), Json::String(made_id.to_string()));
                    }
                }
                for (field, value) in t.fixed {
                    input.insert((*field).into(), Json::String((*value).into()));
                }
                let id = Box::pin(self.create(component, &input)).await?;
                if let Some(tid) = template.get("id").and_then(Json::as_str) {
                    made.insert(tid.to_owned(), id);
                }
            }
        }
        Ok(())
    }

    /// The rows a rule's [`hooks::List`] names, with the targets of `expand`: none when the
    /// object's field is unset.
    pub(super) async fn rule_list(
        &mut self,
        list: &hooks::List,
        object: &Row,
    ) -> StoreResult<Vec<ferrobot_domain::row::Listed>> {
        let Some(key) = object.uuid(list.ours) else { return Ok(Vec::new()) };
        let catalogue = self.catalogue.clone();
        let model = catalogue
            .by_label(list.model)
            .ok_or_else(|| StoreError::Internal(format!("rule list of {}", list.model)))?;
        let column = column_of(model, list.theirs);
        // Stored rows, then the rows this write queued (its own rows are not read back: a
        // cable end would otherwise send the queue out once per end).
        let stored = self.ids_where_in(&model.table, &column, &[key]).await?;
        let mut found = self.read_stored(model, &stored, &[]).await?;
        let mut ids = stored;
        let queued = self.listed_by.get(&(model.id, list.theirs, key));
        let created = self.created_listed.get(&model.id);
        for id in queued.into_iter().flatten() {
            // Gone from the created rows: changed or deleted since, and then in the database.
            let Some(row) = created.and_then(|c| c.get(id)) else { continue };
            if row.uuid(list.theirs) == Some(key) && !found.contains_key(id) {
                ids.push(*id);
                found.insert(*id, row.clone());
            }
        }
        // The targets the rule expands, read one statement a field rather than one a row (a
        // rack's devices name their device types).
        for name in list.expand {
            let Some((_, field)) = model.field(name) else { continue };
            let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
            let targets: Vec<Uuid> = found.values().filter_map(|row| row.uuid(name)).collect();
            self.remember_rule_rows(to, targets).await?;
        }
        let mut rows = Vec::with_capacity(found.len());
        for id in ids {
            let Some(row) = found.remove(&id) else { continue };
            let mut listed = ferrobot_domain::row::Listed { row, expanded: HashMap::new() };
            for name in list.expand {
                let Some((_, field)) = model.field(name) else { continue };
                let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
                if let Some(target) = listed.row.uuid(name) {
                    if let Some(embedded) = self.rule_row(to, target).await? {
                        listed.expanded.insert(name, embedded);
                    }
                }
            }
            rows.push(listed);
        }
        Ok(rows)
    }

    /// A tree's parent may not be the object itself or one of its descendants.
    pub(super) async fn check_cycle(
        &mut self,
        model: &Model,
        id: Uuid,
        after: &Row,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let mut current = after.uuid("parent");
        let mut steps = 0;
        while let Some(parent) = current {
            if parent == id {
                errors.push(ValidationError::new(
                    "parent",
                    format!("A {} cannot be its own ancestor.", model.verbose_name),
                ));
                return Ok(());
            }
            steps += 1;
            if steps > 1000 {
                break;
            }
            current = self.snapshot_by_id(model.id, parent).await?.and_then(|r| r.uuid("parent"));
        }
        Ok(())
    }

    // ---- References ---------------------------------------------------------------------
}
