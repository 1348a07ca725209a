//! Rows owned by another object (`ferrobot_domain::owner`): finding what an owner owns when it
//! is deleted, and refusing the delete of an owned row by anyone but its owner.

use ferrobot_domain::owner::{self, Ownership};

use super::*;
use crate::query::uuid_value;

impl<'s> Writer<'s> {
    /// The rows of `model` owned by objects `owners` of model `label`: (row, owner).
    pub(super) async fn owned_rows(
        &mut self,
        model: &Model,
        own: &Ownership,
        label: &str,
        owners: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let column = |name: &str| {
            model.field(name).and_then(|(_, f)| f.column.clone()).ok_or_else(|| {
                StoreError::Internal(format!("{} has no column {name}", model.label))
            })
        };
        let (type_column, id_column) = (column(own.type_field)?, column(own.id_field)?);
        let mut out = Vec::new();
        for chunk in owners.chunks(1000) {
            let mut select = Query::select();
            select
                .column(Alias::new("id"))
                .column(Alias::new(&id_column))
                .from(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new(&type_column)).eq(label))
                .and_where(
                    Expr::col(Alias::new(&id_column)).is_in(chunk.iter().map(|k| uuid_value(*k))),
                );
            self.flush_for(&model.table).await?;
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid, ColType::Uuid]).await?;
            for pair in rows.cells.chunks(2) {
                if let [Cell::Uuid(row), Cell::Uuid(by)] = pair {
                    out.push((*row, *by));
                }
            }
        }
        Ok(out)
    }

    /// Refuses deleting an owned row unless its owner is deleted with it or the write acts
    /// for its owner.
    pub(super) fn check_owned_deletes(
        &self,
        model: &Model,
        own: &Ownership,
        snapshots: &HashMap<Uuid, Row>,
        deleted: &HashSet<(ModelId, Uuid)>,
    ) -> StoreResult<()> {
        for row in snapshots.values() {
            let owner_deleted = row
                .text(own.type_field)
                .and_then(|label| self.catalogue.by_label(label))
                .zip(row.uuid(own.id_field))
                .is_some_and(|(m, id)| deleted.contains(&(m.id, id)));
            if owner_deleted {
                continue;
            }
            let acting = self.options.acting_for.as_ref();
            let errors = owner::check(own, &model.verbose_name, acting, Some(row), None);
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
        }
        Ok(())
    }

    /// The stored objects of `model` whose fields equal the values given, as this write sees
    /// them (its own rows included).
    pub async fn objects_where(
        &mut self,
        model: &Model,
        equal: &[(&str, Cell)],
    ) -> StoreResult<Vec<Row>> {
        let (select, types, fields) = crate::object::objects_where(model, equal);
        self.flush_for(&model.table).await?;
        let tx = self.tx()?;
        let rows = self.store.fetch_in(tx, &select, &types).await?;
        Ok((0..rows.len())
            .map(|r| crate::object::object_row(model, &fields, rows.row(r)))
            .collect())
    }
}
