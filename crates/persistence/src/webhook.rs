//! Webhook deliveries as rows: which webhooks and replays exist, the streams of events each
//! delivers (`ferrobot_webhook_stream`), which process holds a stream (a lease), the events a
//! stream reads from the change log, and the attempts it records.
//!
//! A stream is a webhook's live events (keyed by the webhook) or one replay (keyed by the
//! replay). Its `position` is the last sequence it has dealt with; it moves only with the
//! attempts that deal with the events before it, in one transaction, and only while the process
//! writing holds the stream's lease. So each event is delivered by one process at a time, in
//! sequence order, and at least once: a process killed between a delivery and its record
//! delivers that event again when the stream is next claimed.

use chrono::{DateTime, Utc};
use ferrobot_domain::catalogue::{Model, CHANGE_LOG};
use ferrobot_domain::row::Row;
use ferrobot_domain::webhook::{
    Event, Webhook, ATTEMPT, ATTEMPT_FIELDS, REPLAY, REPLAY_FIELDS, WEBHOOK,
};
use sea_orm::ConnectionTrait;
use sea_query::{Alias, Expr, Order, Query, Value};
use uuid::Uuid;

use crate::bind::bind;
use crate::cell::{col_type, Cell, ColType};
use crate::query::uuid_value;
use crate::store::Store;
use crate::{StoreError, StoreResult};

const STREAMS: &str = "ferrobot_webhook_stream";

/// One stream of a webhook's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The webhook's id for its live stream, the replay's for a replay.
    pub id: Uuid,
    pub webhook: Uuid,
    pub replay: bool,
    /// The last sequence dealt with.
    pub position: i64,
    /// A replay's last sequence; none for the live stream.
    pub upto: Option<i64>,
    /// Failed attempts at the event after `position`; -1 while the webhook is disabled.
    pub failures: i32,
    /// Unix milliseconds before which the stream waits (a retry's backoff).
    pub retry_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
}

impl Stream {
    /// Whether the stream has events to look at below `head`.
    pub fn has_work(&self, head: i64) -> bool {
        self.failures >= 0 && self.position < self.upto.unwrap_or(head).min(head)
    }

    /// The last sequence the stream reads up to, with the log at `head`.
    pub fn bound(&self, head: i64) -> i64 {
        self.upto.unwrap_or(head).min(head)
    }
}

/// A replay as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub id: Uuid,
    pub webhook: Uuid,
    pub after: i64,
    pub upto: Option<i64>,
}

/// Everything the delivery reads each round: three statements.
#[derive(Debug, Clone, Default)]
pub struct WebhookState {
    pub webhooks: Vec<Webhook>,
    pub replays: Vec<Replay>,
    pub streams: Vec<Stream>,
}

/// One attempt to deliver an event, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub webhook: Uuid,
    pub change: Uuid,
    pub sequence: i64,
    pub attempt: i32,
    pub replayed: bool,
    /// `delivered`, `retrying` or `failed`.
    pub status: &'static str,
    pub response_code: Option<i32>,
    pub error: String,
    pub time: DateTime<Utc>,
    pub duration_ms: i64,
}

/// Where a stream stands after a round of deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub position: i64,
    pub failures: i32,
    pub retry_at: i64,
    pub lease_until: i64,
}

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(what.to_string())
}

fn model<'c>(store: &'c Store, label: &str) -> StoreResult<&'c Model> {
    store.catalogue().by_label(label).ok_or_else(|| internal(format!("no model {label}")))
}

fn column(model: &Model, field: &str) -> StoreResult<(String, ColType)> {
    let (_, f) = model
        .field(field)
        .ok_or_else(|| internal(format!("{} has no field {field}", model.label)))?;
    let column = f.column.clone().ok_or_else(|| internal(format!("{field} has no column")))?;
    Ok((column, col_type(&f.kind)))
}

/// A JSON column's value (every reader decodes `ColType::Json` into a value).
fn json_of(cell: &Cell) -> Option<serde_json::Value> {
    match cell {
        Cell::Json(j) => Some((**j).clone()),
        _ => None,
    }
}

fn int_of(cell: &Cell) -> Option<i64> {
    match cell {
        Cell::Int(i) => Some(*i),
        _ => None,
    }
}

fn text_of(cell: &Cell) -> Option<String> {
    cell.as_str().map(str::to_owned)
}

/// Every row of a model, as the domain's rows by id: the select whole objects share.
async fn rows_of(store: &Store, model: &Model) -> StoreResult<Vec<(Uuid, Row)>> {
    let (mut select, types, fields) = crate::object::object_select(model);
    select.from(Alias::new(&model.table));
    let rows = store.fetch(&select, &types).await?;
    let id = fields.iter().position(|f| f.primary_key).unwrap_or(0);
    Ok((0..rows.len())
        .filter_map(|r| {
            let cells = rows.row(r);
            Some((cells[id].as_uuid()?, crate::object::object_row(model, &fields, cells)))
        })
        .collect())
}

const STREAM_COLUMNS: [(&str, ColType); 9] = [
    ("id", ColType::Uuid),
    ("webhook_id", ColType::Uuid),
    ("replay", ColType::Bool),
    ("position", ColType::Int(ferrobot_domain::catalogue::IntSize::Big)),
    ("upto", ColType::Int(ferrobot_domain::catalogue::IntSize::Big)),
    ("failures", ColType::Int(ferrobot_domain::catalogue::IntSize::Int)),
    ("retry_at", ColType::Int(ferrobot_domain::catalogue::IntSize::Big)),
    ("lease_owner", ColType::Text),
    ("lease_until", ColType::Int(ferrobot_domain::catalogue::IntSize::Big)),
];

impl Store {
    /// The webhooks, the replays and the streams, as stored now.
    pub async fn webhook_state(&self) -> StoreResult<WebhookState> {
        let hooks = rows_of(self, model(self, WEBHOOK)?).await?;
        let webhooks = hooks.iter().map(|(id, row)| Webhook::from_row(*id, row)).collect();
        let [webhook, after, upto] = REPLAY_FIELDS;
        let replays = rows_of(self, model(self, REPLAY)?)
            .await?
            .into_iter()
            .filter_map(|(id, row)| {
                let webhook = row.get(webhook).as_uuid()?;
                let after = int_of(row.get(after))?;
                Some(Replay { id, webhook, after, upto: int_of(row.get(upto)) })
            })
            .collect();
        let mut select = Query::select();
        select.from(Alias::new(STREAMS));
        for (name, _) in STREAM_COLUMNS {
            select.column(Alias::new(name));
        }
        let types: Vec<ColType> = STREAM_COLUMNS.iter().map(|(_, t)| *t).collect();
        let rows = self.fetch(&select, &types).await?;
        let mut streams = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let c = rows.row(r);
            let (Some(id), Some(webhook)) = (c[0].as_uuid(), c[1].as_uuid()) else { continue };
            streams.push(Stream {
                id,
                webhook,
                replay: matches!(c[2], Cell::Bool(true)),
                position: int_of(&c[3]).unwrap_or(0),
                upto: int_of(&c[4]),
                failures: int_of(&c[5]).unwrap_or(0) as i32,
                retry_at: int_of(&c[6]).unwrap_or(0),
                lease_owner: text_of(&c[7]),
                lease_until: int_of(&c[8]).unwrap_or(0),
            });
        }
        Ok(WebhookState { webhooks, replays, streams })
    }

    /// Makes the streams agree with the webhooks and replays, in one write when anything is to
    /// be done: a new webhook's live stream starts at the change that created it (so nothing
    /// committed after it is missed, whenever the delivery notices it); a replay's starts at its
    /// `after_sequence` and ends at its `upto_sequence` (the head now, when it has none); a
    /// disabled webhook's live stream is parked at the head (what happens while it is disabled
    /// is not delivered) and goes on from its last change once enabled; the streams of deleted
    /// webhooks and replays go. Returns whether it wrote anything (then `state` is stale).
    pub async fn sync_webhook_streams(&self, state: &WebhookState, head: i64) -> StoreResult<bool> {
        let mut creates: Vec<(Uuid, Uuid, bool, i64, Option<i64>)> = Vec::new();
        let mut parks = Vec::new();
        let mut resumes = Vec::new();
        for hook in &state.webhooks {
            match state.streams.iter().find(|s| s.id == hook.id) {
                None => creates.push((hook.id, hook.id, false, -1, None)),
                Some(s) if !hook.enabled && (s.failures >= 0 || s.position < head) => {
                    parks.push(hook.id)
                }
                Some(s) if hook.enabled && s.failures < 0 => resumes.push(hook.id),
                Some(_) => {}
            }
        }
        for replay in &state.replays {
            if !state.streams.iter().any(|s| s.id == replay.id) {
                let upto = replay.upto.unwrap_or(head).max(replay.after);
                creates.push((replay.id, replay.webhook, true, replay.after, Some(upto)));
            }
        }
        let gone: Vec<Uuid> = state
            .streams
            .iter()
            .filter(|s| {
                let owner_exists = if s.replay {
                    state.replays.iter().any(|r| r.id == s.id)
                } else {
                    state.webhooks.iter().any(|w| w.id == s.id)
                };
                !owner_exists
            })
            .map(|s| s.id)
            .collect();
        if creates.is_empty() && parks.is_empty() && resumes.is_empty() && gone.is_empty() {
            return Ok(false);
        }
        let (_turn, tx) = self.begin().await?;
        for (id, webhook, replay, mut position, upto) in creates {
            if position < 0 {
                position = self.last_change_of(&tx, webhook, Some("create")).await?.unwrap_or(head);
            }
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(STREAMS))
                .columns(STREAM_COLUMNS.iter().map(|(n, _)| Alias::new(*n)))
                .values([
                    uuid_value(id).into(),
                    uuid_value(webhook).into(),
                    replay.into(),
                    position.into(),
                    upto.into(),
                    0i32.into(),
                    0i64.into(),
                    Value::String(None).into(),
                    0i64.into(),
                ])
                .map_err(internal)?;
            self.run_in(&tx, &insert).await?;
        }
        for id in parks {
            let mut update = Query::update();
            update
                .table(Alias::new(STREAMS))
                .value(Alias::new("position"), head)
                .value(Alias::new("failures"), -1i32)
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(id)));
            self.run_in(&tx, &update).await?;
        }
        for id in resumes {
            // Enabled by its last change: what came after it is delivered.
            let from = self.last_change_of(&tx, id, None).await?.unwrap_or(head);
            let mut update = Query::update();
            update
                .table(Alias::new(STREAMS))
                .value(Alias::new("position"), from)
                .value(Alias::new("failures"), 0i32)
                .value(Alias::new("retry_at"), 0i64)
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(id)));
            self.run_in(&tx, &update).await?;
        }
        for chunk in gone.chunks(500) {
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(STREAMS))
                .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().map(|u| uuid_value(*u))));
            self.run_in(&tx, &delete).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The sequence of the last change to object `id` (of `action`, when given).
    async fn last_change_of<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: Uuid,
        action: Option<&str>,
    ) -> StoreResult<Option<i64>> {
        let log = model(self, CHANGE_LOG)?;
        let fields = log.behaviour.change_log.ok_or_else(|| internal("no change-log fields"))?;
        let (object_id, _) = column(log, fields.object_id)?;
        let (sequence, _) = column(log, fields.sequence)?;
        let (action_column, _) = column(log, fields.action)?;
        let mut select = Query::select();
        select
            .expr(Expr::col(Alias::new(&sequence)).max())
            .from(Alias::new(&log.table))
            .and_where(Expr::col(Alias::new(object_id)).eq(uuid_value(id)));
        if let Some(action) = action {
            select.and_where(Expr::col(Alias::new(action_column)).eq(action));
        }
        let rows = self
            .fetch_in(conn, &select, &[ColType::Int(ferrobot_domain::catalogue::IntSize::Big)])
            .await?;
        Ok(rows.cells.first().and_then(int_of))
    }

    /// Takes the leases of `ids` that no process holds now (or this one does), for
    /// `lease_ms`; returns the ids this process holds afterwards.
    pub async fn claim_webhook_streams(
        &self,
        ids: &[Uuid],
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (_turn, tx) = self.begin().await?;
        let mut claimed = Vec::new();
        for id in ids {
            let mut update = Query::update();
            update
                .table(Alias::new(STREAMS))
                .value(Alias::new("lease_owner"), owner)
                .value(Alias::new("lease_until"), now_ms + lease_ms)
                .and_where(Expr::col(Alias::new("id")).eq(uuid_value(*id)))
                .cond_where(
                    sea_query::Cond::any()
                        .add(Expr::col(Alias::new("lease_owner")).is_null())
                        .add(Expr::col(Alias::new("lease_owner")).eq(owner))
                        .add(Expr::col(Alias::new("lease_until")).lt(now_ms)),
                );
            if self.run_in(&tx, &update).await? > 0 {
                claimed.push(*id);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Gives up this process's leases (at shutdown), so another replica goes on at once.
    pub async fn release_webhook_streams(&self, owner: &str) -> StoreResult<()> {
        let (_turn, tx) = self.begin().await?;
        let mut update = Query::update();
        update
            .table(Alias::new(STREAMS))
            .value(Alias::new("lease_owner"), Value::String(None))
            .value(Alias::new("lease_until"), 0i64)
            .and_where(Expr::col(Alias::new("lease_owner")).eq(owner));
        self.run_in(&tx, &update).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The next changes a webhook takes after `after`, up to `upto`, at most `limit`, in
    /// sequence order: one statement on the change log's sequence index.
    pub async fn webhook_events(
        &self,
        webhook: &Webhook,
        after: i64,
        upto: i64,
        limit: u64,
    ) -> StoreResult<Vec<Event>> {
        let log = model(self, CHANGE_LOG)?;
        let f = log.behaviour.change_log.ok_or_else(|| internal("no change-log fields"))?;
        let names = [
            "id",
            f.sequence,
            f.action,
            f.object_type,
            f.time,
            f.user_name,
            f.request_id,
            f.data,
            f.prechange,
        ];
        let mut select = Query::select();
        let mut types = Vec::new();
        let mut columns = Vec::new();
        for name in names {
            let (c, ty) = column(log, name)?;
            select.column(Alias::new(&c));
            types.push(ty);
            columns.push(c);
        }
        let actions = webhook.actions();
        if actions.is_empty() || webhook.content_types.is_empty() {
            return Ok(Vec::new());
        }
        select
            .from(Alias::new(&log.table))
            .and_where(Expr::col(Alias::new(&columns[1])).gt(after))
            .and_where(Expr::col(Alias::new(&columns[1])).lte(upto))
            .and_where(Expr::col(Alias::new(&columns[2])).is_in(actions))
            .and_where(
                Expr::col(Alias::new(&columns[3])).is_in(webhook.content_types.iter().cloned()),
            )
            .order_by(Alias::new(&columns[1]), Order::Asc)
            .limit(limit);
        let rows = self.fetch(&select, &types).await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let c = rows.row(r);
            let (Some(id), Some(sequence)) = (c[0].as_uuid(), int_of(&c[1])) else { continue };
            events.push(Event {
                id,
                sequence,
                action: text_of(&c[2]).unwrap_or_default(),
                label: text_of(&c[3]).unwrap_or_default(),
                time: match c[4] {
                    Cell::DateTime(t) => t,
                    _ => Utc::now(),
                },
                user_name: text_of(&c[5]).unwrap_or_default(),
                request_id: c[6].as_uuid().unwrap_or_default(),
                data: json_of(&c[7]),
                prechange: json_of(&c[8]),
            });
        }
        Ok(events)
    }

    /// Records `attempts` and where the stream stands, in one transaction, if this process
    /// still holds the stream; `false` (nothing written) when it does not.
    pub async fn record_webhook_attempts(
        &self,
        stream: Uuid,
        owner: &str,
        attempts: &[Attempt],
        progress: Progress,
    ) -> StoreResult<bool> {
        let (_turn, tx) = self.begin().await?;
        let mut update = Query::update();
        update
            .table(Alias::new(STREAMS))
            .value(Alias::new("position"), progress.position)
            .value(Alias::new("failures"), progress.failures)
            .value(Alias::new("retry_at"), progress.retry_at)
            .value(Alias::new("lease_until"), progress.lease_until)
            .and_where(Expr::col(Alias::new("id")).eq(uuid_value(stream)))
            .and_where(Expr::col(Alias::new("lease_owner")).eq(owner));
        if self.run_in(&tx, &update).await? == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if !attempts.is_empty() {
            let attempt_model = model(self, ATTEMPT)?;
            let mut columns = Vec::new();
            for field in ATTEMPT_FIELDS {
                columns.push(column(attempt_model, field)?);
            }
            let per_statement = 1000;
            for chunk in attempts.chunks(per_statement) {
                let mut insert = Query::insert();
                insert
                    .into_table(Alias::new(&attempt_model.table))
                    .columns(columns.iter().map(|(c, _)| Alias::new(c)));
                for a in chunk {
                    let data = [
                        Cell::Uuid(Uuid::now_v7()),
                        Cell::Uuid(a.webhook),
                        Cell::Uuid(a.change),
                        Cell::Int(a.sequence),
                        Cell::Int(i64::from(a.attempt)),
                        Cell::Bool(a.replayed),
                        Cell::text(a.status),
                        a.response_code.map(|c| Cell::Int(i64::from(c))).unwrap_or(Cell::Null),
                        Cell::text(a.error.as_str()),
                        Cell::DateTime(a.time),
                        Cell::Int(a.duration_ms),
                    ];
                    let values: Vec<sea_query::SimpleExpr> = columns
                        .iter()
                        .zip(data)
                        .map(|((_, ty), datum)| bind(*ty, datum).into())
                        .collect();
                    insert.values(values).map_err(internal)?;
                }
                self.run_in(&tx, &insert).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the attempts that started before `before`, 1,000 a transaction, at most `max`;
    /// returns how many went. Attempts are not change-logged, so neither is their pruning.
    pub async fn prune_webhook_attempts(
        &self,
        before: DateTime<Utc>,
        max: usize,
    ) -> StoreResult<usize> {
        let attempts = model(self, ATTEMPT)?;
        let (time, _) = column(attempts, "time")?;
        let mut gone = 0;
        while gone < max {
            let mut select = Query::select();
            select
                .column(Alias::new("id"))
                .from(Alias::new(&attempts.table))
                .and_where(
                    Expr::col(Alias::new(&time))
                        .lt(bind(ColType::DateTime, Cell::DateTime(before))),
                )
                .order_by(Alias::new(&time), Order::Asc)
                .limit(1_000);
            let rows = self.fetch(&select, &[ColType::Uuid]).await?;
            let ids: Vec<Uuid> = rows.cells.iter().filter_map(Cell::as_uuid).collect();
            if ids.is_empty() {
                break;
            }
            let (_turn, tx) = self.begin().await?;
            let mut delete = Query::delete();
            delete
                .from_table(Alias::new(&attempts.table))
                .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().map(|u| uuid_value(*u))));
            self.run_in(&tx, &delete).await?;
            tx.commit().await?;
            gone += ids.len();
            if ids.len() < 1_000 {
                break;
            }
        }
        Ok(gone)
    }

    /// Runs a statement in `conn` and says how many rows it touched.
    pub(crate) async fn run_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        statement: &impl sea_query::QueryStatementWriter,
    ) -> StoreResult<u64> {
        let builder = self.backend().query_builder();
        let (sql, values) = statement.build_any(&*builder);
        self.count();
        Ok(conn.execute(self.statement(sql, values)).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_have_work_below_their_bound() {
        let s = |position: i64, upto: Option<i64>, failures: i32| Stream {
            id: Uuid::nil(),
            webhook: Uuid::nil(),
            replay: upto.is_some(),
            position,
            upto,
            failures,
            retry_at: 0,
            lease_owner: None,
            lease_until: 0,
        };
        let cases = [
            (s(5, None, 0), 9, true, 9),
            (s(9, None, 0), 9, false, 9),
            (s(5, None, -1), 9, false, 9),
            (s(5, Some(7), 0), 9, true, 7),
            (s(7, Some(7), 0), 9, false, 7),
            (s(5, Some(20), 0), 9, true, 9),
        ];
        for (stream, head, work, bound) in cases {
            assert_eq!(stream.has_work(head), work, "{stream:?}");
            assert_eq!(stream.bound(head), bound, "{stream:?}");
        }
    }
}
