//! Job results as rows (`ferrobot_domain::job`): a job starts, logs and finishes in short
//! transactions of their own, never inside the work it reports on, so that the log of a job
//! whose work rolled back stays behind to say why. Job results are not change-logged, as in
//! Nautobot.

use chrono::Utc;
use ferrobot_domain::catalogue::Model;
use ferrobot_domain::job::{self, fields, Entry, Level, Status};
use sea_query::{Alias, Expr, Query, SimpleExpr};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::bind::{bind, CUSTOM_FIELD_DATA};
use crate::cell::{col_type, Cell, ColType};
use crate::query::uuid_value;
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// What a job is, as its result names it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// `Git Repository: Sync`.
    pub name: String,
    /// The task (`nautobot.core.jobs.GitRepositorySync`).
    pub task_name: String,
    /// Who started it.
    pub user: Option<Uuid>,
    /// Its arguments (`{"repository": "<id>"}`).
    pub task_kwargs: Json,
}

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(what.to_string())
}

fn model<'c>(store: &'c Store, label: &str) -> StoreResult<&'c Model> {
    store.catalogue().by_label(label).ok_or_else(|| internal(format!("no model {label}")))
}

/// The values of `fields` of `model`, bound for a statement: (column, value).
fn bound(model: &Model, fields: Vec<(&str, Cell)>) -> StoreResult<Vec<(Alias, SimpleExpr)>> {
    fields
        .into_iter()
        .map(|(name, datum)| {
            let (_, field) = model
                .field(name)
                .ok_or_else(|| internal(format!("{} has no field {name}", model.label)))?;
            let column =
                field.column.clone().ok_or_else(|| internal(format!("{name} has no column")))?;
            Ok((Alias::new(column), bind(col_type(&field.kind), datum).into()))
        })
        .collect()
}

impl Store {
    /// Records a job that starts now; its id.
    pub async fn job_start(&self, spec: &JobSpec) -> StoreResult<Uuid> {
        let results = model(self, job::RESULT)?;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let values = bound(
            results,
            vec![
                (fields::ID, Cell::Uuid(id)),
                (fields::NAME, Cell::text(job::cut(&spec.name, 255))),
                (fields::TASK_NAME, Cell::text(spec.task_name.as_str())),
                (fields::DATE_CREATED, Cell::DateTime(now)),
                (fields::DATE_STARTED, Cell::DateTime(now)),
                (fields::USER, spec.user.map_or(Cell::Null, Cell::Uuid)),
                (fields::STATUS, Cell::text(Status::Started.as_str())),
                (fields::TASK_ARGS, Cell::Json(Box::new(Json::Array(Vec::new())))),
                (fields::TASK_KWARGS, Cell::Json(Box::new(spec.task_kwargs.clone()))),
                (fields::CELERY_KWARGS, Cell::Json(Box::new(Json::Object(Default::default())))),
                (fields::CANCELED_BY_USER_NAME, Cell::text("")),
                (fields::CANCEL_TYPE, Cell::text("")),
            ],
        )?;
        let mut values = values;
        if results.features.custom_fields {
            let empty = Cell::Json(Box::new(Json::Object(Default::default())));
            values.push((Alias::new(CUSTOM_FIELD_DATA), bind(ColType::Json, empty).into()));
        }
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(&results.table))
            .columns(values.iter().map(|(c, _)| c.clone()))
            .values(values.into_iter().map(|(_, v)| v))
            .map_err(internal)?;
        self.run_alone(&insert).await?;
        Ok(id)
    }

    /// Adds log entries to a job, in one transaction.
    pub async fn job_log(&self, job: Uuid, entries: &[Entry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let logs = model(self, job::LOG_ENTRY)?;
        let now = Utc::now();
        let (_turn, tx) = self.begin().await?;
        for chunk in entries.chunks(500) {
            let mut insert = Query::insert();
            let mut columns = None;
            for entry in chunk {
                let values = bound(
                    logs,
                    vec![
                        (fields::ID, Cell::Uuid(Uuid::now_v7())),
                        (fields::JOB_RESULT, Cell::Uuid(job)),
                        (fields::LOG_LEVEL, Cell::text(entry.level.as_str())),
                        (fields::GROUPING, Cell::text(job::cut(&entry.grouping, 100))),
                        (fields::MESSAGE, Cell::text(job::cut(&entry.message, job::MAX_MESSAGE))),
                        (fields::CREATED, Cell::DateTime(now)),
                        (fields::LOG_OBJECT, Cell::text(job::cut(&entry.object, 200))),
                        (fields::ABSOLUTE_URL, Cell::text("")),
                    ],
                )?;
                if columns.is_none() {
                    insert
                        .into_table(Alias::new(&logs.table))
                        .columns(values.iter().map(|(c, _)| c.clone()));
                    columns = Some(());
                }
                insert.values(values.into_iter().map(|(_, v)| v)).map_err(internal)?;
            }
            self.run_in(&tx, &insert).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records how far a job has got (its result's `meta`: `{"done": …, "total": …}` or the
    /// like), while it runs.
    pub async fn job_progress(&self, job: Uuid, meta: Json) -> StoreResult<()> {
        let results = model(self, job::RESULT)?;
        let mut update = Query::update();
        update
            .table(Alias::new(&results.table))
            .values(bound(results, vec![(fields::META, Cell::Json(Box::new(meta)))])?)
            .and_where(Expr::col(Alias::new(fields::ID)).eq(uuid_value(job)));
        self.run_alone(&update).await
    }

    /// Ends a job: its status, what it returned and the counts of its log entries by level.
    pub async fn job_finish(
        &self,
        job: Uuid,
        status: Status,
        result: Json,
        counts: &[(Level, usize)],
    ) -> StoreResult<()> {
        let results = model(self, job::RESULT)?;
        let mut fields = vec![
            (fields::STATUS, Cell::text(status.as_str())),
            (fields::DATE_DONE, Cell::DateTime(Utc::now())),
            (fields::RESULT, Cell::Json(Box::new(result))),
        ];
        for level in [Level::Debug, Level::Info, Level::Success, Level::Warning] {
            let n = counts.iter().filter(|(l, _)| *l == level).map(|(_, n)| n).sum::<usize>();
            fields.push((level.count_field(), Cell::Int(n as i64)));
        }
        let errors =
            counts.iter().filter(|(l, _)| *l == Level::Failure).map(|(_, n)| n).sum::<usize>();
        fields.push((Level::Failure.count_field(), Cell::Int(errors as i64)));
        let mut update = Query::update();
        update
            .table(Alias::new(&results.table))
            .values(bound(results, fields)?)
            .and_where(Expr::col(Alias::new(fields::ID)).eq(uuid_value(job)));
        self.run_alone(&update).await?;
        Ok(())
    }

    /// Deletes the jobs that ended before `before`, with their log entries, 1,000 a
    /// transaction, at most `max`; returns how many went. Job results are not change-logged,
    /// so neither is their pruning.
    pub async fn prune_job_results(
        &self,
        before: chrono::DateTime<Utc>,
        max: usize,
    ) -> StoreResult<usize> {
        let results = model(self, job::RESULT)?;
        let logs = model(self, job::LOG_ENTRY)?;
        let done = results.column_of(fields::DATE_DONE);
        let of_result = logs.column_of(fields::JOB_RESULT);
        let mut gone = 0;
        while gone < max {
            let mut select = Query::select();
            select
                .column(Alias::new(fields::ID))
                .from(Alias::new(&results.table))
                .and_where(
                    Expr::col(Alias::new(&done))
                        .lt(bind(ColType::DateTime, Cell::DateTime(before))),
                )
                .limit(1_000);
            let rows = self.fetch(&select, &[ColType::Uuid]).await?;
            let ids: Vec<Uuid> = rows.cells.iter().filter_map(Cell::as_uuid).collect();
            if ids.is_empty() {
                break;
            }
            let (_turn, tx) = self.begin().await?;
            let keys = || ids.iter().map(|u| uuid_value(*u));
            let mut entries = Query::delete();
            entries
                .from_table(Alias::new(&logs.table))
                .and_where(Expr::col(Alias::new(&of_result)).is_in(keys()));
            self.run_in(&tx, &entries).await?;
            let mut jobs = Query::delete();
            jobs.from_table(Alias::new(&results.table))
                .and_where(Expr::col(Alias::new(fields::ID)).is_in(keys()));
            self.run_in(&tx, &jobs).await?;
            tx.commit().await?;
            gone += ids.len();
            if ids.len() < 1_000 {
                break;
            }
        }
        Ok(gone)
    }

    /// Runs one statement in a transaction of its own.
    async fn run_alone(&self, statement: &impl sea_query::QueryStatementWriter) -> StoreResult<()> {
        let (_turn, tx) = self.begin().await?;
        self.run_in(&tx, statement).await?;
        tx.commit().await?;
        Ok(())
    }
}
