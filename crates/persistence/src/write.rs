//! Inserts generated from the catalogue, batched into multi-row statements.

use sea_orm::{ConnectionTrait, DatabaseTransaction};
use sea_query::{Alias, Query, Value};

use crate::store::Store;
use crate::StoreResult;

/// Rows waiting to be written to one table, all with the same columns.
#[derive(Debug)]
pub struct Batch {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// How many rows one `INSERT` carries; bounded by the backends' bind-parameter limits.
const MAX_PARAMS: usize = 30_000;

impl Store {
    /// Writes a batch inside `tx` with as few statements as the parameter limits allow.
    pub async fn insert_batch(&self, tx: &DatabaseTransaction, batch: Batch) -> StoreResult<()> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        let per_stmt = (MAX_PARAMS / batch.columns.len().max(1)).max(1);
        let builder = self.backend.query_builder();
        let mut rows = batch.rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert.into_table(Alias::new(&batch.table));
            insert.columns(batch.columns.iter().map(Alias::new));
            for row in rows.by_ref().take(per_stmt) {
                insert
                    .values(row.into_iter().map(Into::into))
                    .map_err(|e| crate::StoreError::Internal(e.to_string()))?;
            }
            let (sql, values) = insert.build_any(&*builder);
            self.count();
            tx.execute(self.statement(sql, values)).await?;
        }
        Ok(())
    }

    /// Runs a select inside `tx`.
    pub(crate) async fn query_in(
        &self,
        tx: &DatabaseTransaction,
        select: &sea_query::SelectStatement,
    ) -> StoreResult<Vec<sea_orm::QueryResult>> {
        let builder = self.backend.query_builder();
        let (sql, values) = select.build_any(&*builder);
        self.count();
        Ok(tx.query_all(self.statement(sql, values)).await?)
    }

    /// Runs an update inside `tx`.
    pub(crate) async fn update_in(
        &self,
        tx: &DatabaseTransaction,
        update: &sea_query::UpdateStatement,
    ) -> StoreResult<()> {
        let builder = self.backend.query_builder();
        let (sql, values) = update.build_any(&*builder);
        self.count();
        tx.execute(self.statement(sql, values)).await?;
        Ok(())
    }
}
