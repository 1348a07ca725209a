//! Deletes: the on-delete rules of the catalogue (cascade, set null, protect).

use super::*;

impl<'s> Writer<'s> {
    /// Drops what this writer remembers of an object that changed. Every cached reference
    /// goes: one may have named the object through another (`{device: {name: …}, name: …}`).
    pub(super) fn forget(&mut self, model: ModelId, id: Uuid) {
        self.snapshots.remove(&(model, id));
        self.rule_rows.remove(&(model, id));
        if let Some(rows) = self.created_listed.get_mut(&model) {
            rows.remove(&id);
        }
        self.refs.clear();
        if self.catalogue.model(model).is_template {
            self.templates.clear();
        }
    }

    /// Drops the remembered rows of models a set-based `UPDATE` just changed.
    pub(super) fn forget_rows_of<'m>(&mut self, models: impl Iterator<Item = &'m Model>) {
        let changed: Vec<ModelId> = models.map(|m| m.id).collect();
        self.snapshots.retain(|(m, _), _| !changed.contains(m));
        self.rule_rows.retain(|(m, _), _| !changed.contains(m));
    }

    pub(super) async fn delete_rows(&mut self, model: &Model, ids: &[Uuid]) -> StoreResult<()> {
        let catalogue = self.catalogue.clone();
        for chunk in ids.chunks(1000) {
            let in_chunk = || chunk.iter().map(|k| uuid_value(*k));
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(in_chunk()));
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
            // Link rows that name the object from either end.
            for other in catalogue.models() {
                for field in &other.fields {
                    let FieldKind::ManyToMany { to, through, .. } = &field.kind else { continue };
                    if through.model.is_some() {
                        continue;
                    }
                    for (owner, column) in
                        [(other.id, &through.source_column), (*to, &through.target_column)]
                    {
                        if owner == model.id {
                            let mut delete = Query::delete();
                            delete
                                .from_table(Alias::new(&through.table))
                                .and_where(Expr::col(Alias::new(column)).is_in(in_chunk()));
                            let tx = self.tx()?;
                            self.store.execute_in(tx, &delete).await?;
                        }
                    }
                }
            }
            // Generic link rows (tags) that name the object from either end.
            for through in catalogue.generic_throughs() {
                let col = |name: &str| Expr::col(Alias::new(name));
                let mut delete = Query::delete();
                delete.from_table(Alias::new(&through.table));
                if through.target == model.id {
                    delete.and_where(col(&through.target_column).is_in(in_chunk()));
                } else if (through.feature)(&model.features) {
                    delete
                        .and_where(col(&through.type_column).eq(model.label.as_str()))
                        .and_where(col(&through.object_column).is_in(in_chunk()));
                } else {
                    continue;
                }
                let tx = self.tx()?;
                self.store.execute_in(tx, &delete).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn protected(
        &mut self,
        model: &Model,
        id: Uuid,
        blocking: &[(ModelId, Uuid)],
    ) -> StoreResult<StoreError> {
        let catalogue = self.catalogue.clone();
        let mut objects = Vec::new();
        // Only objects the user may see are named; the others are counted.
        let mut hidden = 0;
        let named: Vec<(ModelId, Uuid)> = blocking.iter().take(50).copied().collect();
        let mut by_model: BTreeMap<ModelId, Vec<Uuid>> = BTreeMap::new();
        for (m, r) in &named {
            by_model.entry(*m).or_default().push(*r);
        }
        let mut seen = HashSet::new();
        for (m, ids) in by_model {
            seen.extend(self.visible_among(catalogue.model(m), &ids).await?);
        }
        for (m, r) in named {
            if !seen.contains(&r) {
                hidden += 1;
                continue;
            }
            let other = catalogue.model(m);
            let shown = self.snapshot_by_id(m, r).await?.map(|s| other.repr(&s));
            objects.push(format!("{} {} ({r})", other.verbose_name, shown.unwrap_or_default()));
        }
        if hidden > 0 {
            objects.push(format!("{hidden} you may not see"));
        }
        let own = self.snapshot_by_id(model.id, id).await?.map(|s| model.repr(&s));
        Ok(StoreError::Protected {
            message: format!(
                "Unable to delete {} {}. {} dependent objects were found: {}",
                model.verbose_name,
                own.unwrap_or_default(),
                blocking.len(),
                objects.join(", ")
            ),
            objects,
        })
    }
}
