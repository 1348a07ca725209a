//! Batches: rows queued per table and written as multi-row `INSERT`s.

use super::*;

impl<'s> Writer<'s> {
    /// Queues a row; rows of one table with the same columns share a batch. The open batches
    /// are few (a table or two per model written), so finding one is a short scan, with no
    /// allocation for the rows that join it.
    pub(super) fn push<S: AsRef<str>>(&mut self, table: &str, columns: &[S], row: Vec<Value>) {
        let same = |b: &Batch| {
            b.table == table
                && b.columns.len() == columns.len()
                && b.columns.iter().zip(columns).all(|(a, c)| a == c.as_ref())
        };
        let at = match self.batches.iter().position(same) {
            Some(at) => at,
            None => {
                self.batches.push(Batch {
                    table: table.to_owned(),
                    columns: columns.iter().map(|c| c.as_ref().to_owned()).collect(),
                    rows: Vec::new(),
                    origins: Vec::new(),
                });
                self.batches.len() - 1
            }
        };
        let batch = &mut self.batches[at];
        batch.rows.push(row);
        batch.origins.push(self.operation);
        if batch.rows.len() >= BATCH_ROWS {
            let rows = std::mem::take(&mut batch.rows);
            let origins = std::mem::take(&mut batch.origins);
            let full =
                Batch { table: batch.table.clone(), columns: batch.columns.clone(), rows, origins };
            self.ready.push(full);
        }
    }

    /// Writes what is pending when a read is about to look at `table`: reads of tables with
    /// nothing pending (the devices a bulk create of interfaces names) leave the batches to fill.
    pub(super) async fn flush_for(&mut self, table: &str) -> StoreResult<()> {
        self.flush_for_tables(&[table]).await
    }

    /// [`Writer::flush_for`] for a read of several tables: only their batches go out. Tables
    /// have no foreign keys in the database (references are the writer's to check), so rows of
    /// other tables may wait; a write that reads as it goes (a prefix looks for its parent, a
    /// cable end for its cable's other ends) would otherwise send the change log and every
    /// link table out a row at a time.
    pub(super) async fn flush_for_tables(&mut self, tables: &[&str]) -> StoreResult<()> {
        let pending = |b: &Batch| !b.rows.is_empty() && tables.contains(&b.table.as_str());
        if !(self.ready.iter().any(pending) || self.batches.iter().any(pending)) {
            return Ok(());
        }
        let (mut out, kept): (Vec<Batch>, Vec<Batch>) =
            std::mem::take(&mut self.ready).into_iter().partition(|b| pending(b));
        self.ready = kept;
        for batch in self.batches.iter_mut().filter(|b| pending(b)) {
            out.push(Batch {
                table: batch.table.clone(),
                columns: batch.columns.clone(),
                rows: std::mem::take(&mut batch.rows),
                origins: std::mem::take(&mut batch.origins),
            });
        }
        self.write_batches(out).await
    }

    /// Writes every pending batch. A batch the database refuses for a unique constraint is
    /// diagnosed under a savepoint, so the error names the constraint and the operation.
    pub(super) async fn flush(&mut self) -> StoreResult<()> {
        let mut batches = std::mem::take(&mut self.ready);
        batches
            .extend(std::mem::take(&mut self.batches).into_iter().filter(|b| !b.rows.is_empty()));
        self.write_batches(batches).await
    }

    pub(super) async fn write_batches(&mut self, batches: Vec<Batch>) -> StoreResult<()> {
        for batch in batches {
            let suspects = self.suspects(&batch);
            let tx = self.tx()?;
            // A statement PostgreSQL refuses spoils the transaction, so the insert runs under
            // a savepoint there; SQLite and MySQL undo just the failed statement (a savepoint
            // would make SQLite journal every page the insert touches).
            let result = if self.store.backend() == crate::Backend::Postgres {
                let savepoint = tx.begin().await?;
                let result = self.store.insert_batch(&savepoint, batch).await;
                match result {
                    Ok(()) => savepoint.commit().await?,
                    Err(_) => savepoint.rollback().await?,
                }
                result
            } else {
                self.store.insert_batch(tx, batch).await
            };
            match result {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => return Err(self.diagnose(suspects).await?),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<'s> Writer<'s> {
    /// Keeps what a long write remembers bounded, so that an import of millions of objects runs
    /// in flat memory. Everything bounded here is either a cache (resolved references, created
    /// ids, snapshots) or a check the database takes over once the rows are written (the unique
    /// keys of queued rows): past [`REMEMBERED`] entries, the pending batches go out and the
    /// writer forgets.
    pub(super) async fn bound_memory(&mut self) -> StoreResult<()> {
        let keys: usize = self.unique_keys.values().map(HashMap::len).sum();
        if keys > REMEMBERED {
            self.flush().await?;
            self.unique_keys.clear();
            self.keys_of.clear();
        }
        if self.known.len() > REMEMBERED {
            self.known.clear();
        }
        if self.refs.values().map(HashMap::len).sum::<usize>() > REMEMBERED {
            self.refs.clear();
        }
        if self.snapshots.len() + self.rule_rows.len() > REMEMBERED / 10 {
            self.snapshots.clear();
            self.rule_rows.clear();
        }
        if self.created_listed.values().map(HashMap::len).sum::<usize>() > REMEMBERED / 10 {
            // Everything they stand for goes to the database first, where rule lists find it.
            self.flush().await?;
            self.created_listed.clear();
            self.listed_by.clear();
        }
        Ok(())
    }
}

/// Entries a writer's caches and unique-key memory hold before [`Writer::bound_memory`] lets go.
const REMEMBERED: usize = 100_000;

pub(super) fn is_null(v: &Value) -> bool {
    matches!(
        v,
        Value::Uuid(None)
            | Value::String(None)
            | Value::BigInt(None)
            | Value::Int(None)
            | Value::Bool(None)
            | Value::Json(None)
            | Value::Bytes(None)
            | Value::ChronoDate(None)
            | Value::ChronoDateTimeUtc(None)
    )
}
