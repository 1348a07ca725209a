//! Uniqueness: sets the database cannot enforce, checked by the writer, and unique violations the
//! database finds traced to their constraint and operation.

use super::*;

impl<'s> Writer<'s> {
    /// Every unique constraint of a model, as field indices.
    pub(super) fn constraints(model: &Model) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = model
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.unique && !f.primary_key && f.column.is_some())
            .map(|(i, _)| vec![i])
            .collect();
        out.extend(model.unique_together.iter().cloned());
        out
    }

    /// Catches duplicates among the rows of this write before the database sees them.
    pub(super) fn remember_unique(
        &mut self,
        model: &Model,
        id: Uuid,
        values: &Values,
    ) -> StoreResult<()> {
        for (cidx, fields) in Self::constraints(model).into_iter().enumerate() {
            let mut key = Vec::with_capacity(fields.len());
            for &f in &fields {
                let column = model.fields[f].column.clone().unwrap_or_default();
                match values.get(&column) {
                    Some(v) if !v.is_null() => key.push(v.clone()),
                    _ => {
                        key.clear();
                        break;
                    }
                }
            }
            if key.is_empty() {
                continue;
            }
            let seen = self.unique_keys.entry((model.id, cidx)).or_default();
            if seen.contains_key(&key) {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
            seen.insert(key.clone(), (id, self.operation));
            self.keys_of.entry(id).or_default().push(((model.id, cidx), key));
        }
        Ok(())
    }

    /// Forgets the unique keys an object had: it changed or went away.
    pub(super) fn forget_unique(&mut self, id: Uuid) {
        for (slot, key) in self.keys_of.remove(&id).unwrap_or_default() {
            if let Some(keys) = self.unique_keys.get_mut(&slot) {
                keys.remove(&key);
            }
        }
    }

    /// An update may not take another object's unique values.
    pub(super) async fn check_unique_update(
        &mut self,
        model: &Model,
        id: Uuid,
        stored: &Values,
    ) -> StoreResult<()> {
        for fields in Self::constraints(model) {
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
            let mut complete = true;
            for &f in &fields {
                let column = model.fields[f].column.clone().unwrap_or_default();
                match stored.get(&column) {
                    Some(v) if !v.is_null() => {
                        let value = bind(column_type(model, &column), v.clone());
                        select.and_where(Expr::col(Alias::new(column)).eq(value));
                    }
                    _ => complete = false,
                }
            }
            if !complete {
                continue;
            }
            select.and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)));
            self.flush_for(&model.table).await?;
            let tx = self.tx()?;
            if !self.store.query_in(tx, &select).await?.is_empty() {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
        }
        Ok(())
    }

    /// The model's hook uniqueness ([`hooks::Behaviour::unique_sets`]), nulls matching nulls: against the
    /// rows this write queued (remembered) and the stored ones (one probe).
    pub(super) async fn check_unique_sets(
        &mut self,
        model: &Model,
        id: Uuid,
        values: &Values,
    ) -> StoreResult<()> {
        for (n, set) in model.behaviour.unique_sets.iter().enumerate() {
            let columns: Vec<String> = set.iter().map(|f| column_of(model, f)).collect();
            let Some(last) = columns.last() else { continue };
            if values.get(last).is_none_or(Datum::is_null) {
                continue;
            }
            let key: Vec<Datum> =
                columns.iter().map(|c| values.get(c).cloned().unwrap_or(Datum::Null)).collect();
            let fields: Vec<usize> =
                set.iter().filter_map(|f| model.field(f).map(|(i, _)| i)).collect();
            let slot = (model.id, usize::MAX - n);
            let mut select = Query::select();
            select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
            for c in &columns {
                select.and_where(match values.get(c).filter(|v| !v.is_null()) {
                    Some(v) => Expr::col(Alias::new(c)).eq(bind(column_type(model, c), v.clone())),
                    None => Expr::col(Alias::new(c)).is_null(),
                });
            }
            select.and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)));
            let tx = self.tx()?;
            let taken = !self.store.query_in(tx, &select).await?.is_empty()
                || self
                    .unique_keys
                    .get(&slot)
                    .and_then(|k| k.get(&key))
                    .is_some_and(|(other, _)| *other != id);
            if taken {
                return Err(conflict(model, &fields, Some(self.operation)));
            }
            self.unique_keys.entry(slot).or_default().insert(key.clone(), (id, self.operation));
            self.keys_of.entry(id).or_default().push((slot, key));
        }
        Ok(())
    }

    /// What a diagnosis needs should the database refuse a batch: for each unique constraint
    /// of the table's model, the constrained values of every row (not the whole rows, which
    /// the insert consumes).
    pub(super) fn suspects(&self, batch: &Batch) -> Suspects {
        let mut out =
            Suspects { model: None, constraints: Vec::new(), origins: batch.origins.clone() };
        let Some(model) = self.catalogue.models().iter().find(|m| m.table == batch.table) else {
            return out;
        };
        out.model = Some(model.id);
        for fields in Self::constraints(model) {
            let positions: Option<Vec<usize>> = fields
                .iter()
                .map(|&f| {
                    let column = model.fields[f].column.as_deref()?;
                    batch.columns.iter().position(|b| b == column)
                })
                .collect();
            let Some(positions) = positions else { continue };
            let rows = batch
                .rows
                .iter()
                .map(|row| positions.iter().map(|&p| row[p].clone()).collect())
                .collect();
            out.constraints.push((fields, rows));
        }
        out
    }

    /// After the database refused a batch: the first row that takes existing unique values.
    pub(super) async fn diagnose(&mut self, suspects: Suspects) -> StoreResult<StoreError> {
        let catalogue = self.catalogue.clone();
        let Some(model) = suspects.model.map(|m| catalogue.model(m)) else {
            return Ok(StoreError::Conflict {
                fields: Vec::new(),
                message: "rows conflict with existing ones".into(),
                operation: None,
            });
        };
        for (fields, rows) in &suspects.constraints {
            let columns: Vec<String> =
                fields.iter().filter_map(|&f| model.fields[f].column.clone()).collect();
            for (r, row) in rows.iter().enumerate() {
                if row.iter().any(is_null) {
                    continue;
                }
                let mut select = Query::select();
                select.column(Alias::new("id")).from(Alias::new(&model.table)).limit(1);
                for (c, v) in columns.iter().zip(row) {
                    select.and_where(Expr::col(Alias::new(c)).eq(v.clone()));
                }
                let tx = self.tx()?;
                if !self.store.query_in(tx, &select).await?.is_empty() {
                    return Ok(conflict(model, fields, suspects.origins.get(r).copied()));
                }
            }
        }
        Ok(StoreError::Conflict {
            fields: Vec::new(),
            message: format!("{} objects conflict with existing ones", model.verbose_name),
            operation: None,
        })
    }
}

pub(super) fn conflict(model: &Model, fields: &[usize], operation: Option<usize>) -> StoreError {
    StoreError::Conflict {
        fields: fields.iter().map(|&f| model.fields[f].name.clone()).collect(),
        message: validate::unique_message(model, fields),
        operation,
    }
}
