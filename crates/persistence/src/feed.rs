//! The change feed's clock: the change log's last committed sequence, as this process learns it.
//!
//! Sequence numbers follow commit order and have no gaps (a `Writer` locks the counter row
//! first), so "every change after N" is always a prefix of the log: whoever knows the head reads
//! the rows after its own position and misses nothing. This module only says when the head
//! moved:
//! - a write of this process moves it as it commits;
//! - on PostgreSQL, every write sends `NOTIFY ferrobot_changes, '<sequence>'` inside its
//!   transaction (delivered at commit), and [`Store::watch_feed`] listens, so the commits of
//!   other replicas are known within a round trip;
//! - on every backend the counter row is read every `poll` (on PostgreSQL only as a fallback,
//!   ten times as seldom, for notifications lost while the listener reconnected).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Backend, Store, StoreResult};

/// The PostgreSQL channel commits are announced on; the payload is the last sequence.
pub const CHANNEL: &str = "ferrobot_changes";

impl Store {
    /// The head of the change feed as this process knows it: it changes after every commit
    /// this process learns of.
    pub fn head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// The last committed sequence as this process knows it now.
    pub fn head_now(&self) -> i64 {
        *self.head.borrow()
    }

    /// Records that changes up to `sequence` are committed (never moves the head back).
    pub(crate) fn committed(&self, sequence: i64) {
        self.head.send_if_modified(|head| {
            let moved = sequence > *head;
            if moved {
                *head = sequence;
            }
            moved
        });
    }

    /// The labels of the models changed in `(after, upto]`, one statement.
    pub async fn changed_types(&self, after: i64, upto: i64) -> StoreResult<Vec<String>> {
        use sea_query::{Alias, Expr};
        let internal =
            |what: &str| crate::StoreError::Internal(format!("the change log has no {what}"));
        let log = self
            .catalogue
            .by_label(ferrobot_domain::catalogue::CHANGE_LOG)
            .ok_or_else(|| internal("model"))?;
        let fields = log.behaviour.change_log.ok_or_else(|| internal("fields"))?;
        let column = |name: &str| {
            log.field(name).and_then(|(_, f)| f.column.clone()).ok_or_else(|| internal(name))
        };
        let (kind, sequence) = (column(fields.object_type)?, column(fields.sequence)?);
        let mut select = sea_query::Query::select();
        select
            .distinct()
            .column(Alias::new(&kind))
            .from(Alias::new(&log.table))
            .and_where(Expr::col(Alias::new(&sequence)).gt(after))
            .and_where(Expr::col(Alias::new(&sequence)).lte(upto));
        let rows = self.fetch(&select, &[crate::ColType::Text]).await?;
        Ok(rows
            .cells
            .into_iter()
            .filter_map(|c| match c {
                crate::Cell::Text(t) => Some(t.into_string()),
                _ => None,
            })
            .collect())
    }

    /// The statement a write runs before it commits, on PostgreSQL, to wake other replicas.
    pub(crate) fn notify_statement(&self, sequence: i64) -> Option<String> {
        (self.backend == Backend::Postgres)
            .then(|| format!("SELECT pg_notify('{CHANNEL}', '{sequence}')"))
    }

    /// Learns of other processes' commits until the task is dropped: the counter row read now
    /// and every `poll`, and on PostgreSQL the notifications of `CHANNEL` (the poll then only a
    /// fallback, every `10 × poll`).
    pub fn watch_feed(&self, poll: Duration) -> JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let listener = (store.backend == Backend::Postgres).then(|| {
                let store = store.clone();
                tokio::spawn(async move { store.listen().await })
            });
            let poll = if listener.is_some() { poll * 10 } else { poll };
            let _listener = AbortOnDrop(listener);
            let mut tick = tokio::time::interval(poll.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.last_sequence().await {
                    Ok(sequence) => store.committed(sequence),
                    Err(error) => tracing::warn!(%error, "reading the change feed's head failed"),
                }
            }
        })
    }

    /// Listens for commits announced on PostgreSQL; reconnects after a second when the
    /// connection fails, then reads the head again (what was announced meanwhile is lost).
    async fn listen(&self) {
        loop {
            if let Err(error) = self.listen_once().await {
                tracing::warn!(%error, "change feed listener failed; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self) -> StoreResult<()> {
        let sqlx_error = |e: sqlx::Error| crate::StoreError::Internal(format!("LISTEN: {e}"));
        let mut listener =
            sqlx::postgres::PgListener::connect(&self.url).await.map_err(sqlx_error)?;
        listener.listen(CHANNEL).await.map_err(sqlx_error)?;
        // Commits made before the listener started are read once it listens.
        self.committed(self.last_sequence().await?);
        loop {
            let notification = listener.recv().await.map_err(sqlx_error)?;
            match notification.payload().parse::<i64>() {
                Ok(sequence) => self.committed(sequence),
                Err(_) => tracing::warn!(payload = notification.payload(), "unexpected NOTIFY"),
            }
        }
    }
}

struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}
