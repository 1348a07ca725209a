//! Subscriptions to the change feed: each follows the change log by sequence.
//!
//! The log is the source of truth: sequence numbers follow commit order with no gaps, so the
//! changes after a position are always read whole from the table, whoever wrote them (this
//! process, or another replica: `ferrobot_persistence::feed` says when the head moved).
//!
//! - [`Feed::run`] reads each batch of new changes once per *cohort* (the subscriptions with
//!   the same document, variables and reader, so with the same request tree and permissions),
//!   through the executor queries use (one statement a level for the whole batch), renders one
//!   payload per change and hands the same payloads to every subscriber of the cohort: the
//!   cost of a batch grows with the distinct subscriptions, not with the sockets.
//! - A subscriber that starts from `after_sequence`, or whose buffer of batches ([`BUFFER`])
//!   filled because it read too slowly, reads the log itself from its own position, at its own
//!   pace ([`follow`]), then joins its cohort where the feed stands: no gap and no duplicate at
//!   the seam, and no server memory grows with a slow reader.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferrobot_domain::catalogue::Lookup;
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::request::{ArgTarget, ArgValue, FilterArg, Keyset, Page, Select};
use ferrobot_domain::Catalogue;
use ferrobot_persistence::query::Plan;
use ferrobot_persistence::{Store, StoreError, StoreResult};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Sequences read per statement: a batch holds at most this many changes.
pub const BATCH: i64 = 1_000;

/// Cohorts whose batch is read at the same time.
const READS_AT_ONCE: usize = 8;

/// Batches a live subscriber may have waiting; past it, it reads the log itself.
pub const BUFFER: usize = 16;

/// The subscriptions of one server.
pub struct Feed {
    store: Store,
    /// Held while a batch is read and handed out, and while a subscriber joins, so that a
    /// subscriber joins between two batches.
    hub: tokio::sync::Mutex<Hub>,
    /// Every change up to here has been handed to every cohort (a watch: a subscriber ahead of
    /// the feed waits on it).
    done: tokio::sync::watch::Sender<i64>,
    /// Subscribers dropped from their cohort because their buffer was full.
    lagged: std::sync::atomic::AtomicU64,
    /// Moves when a batch changed permissions, accounts, groups or tokens: connections read
    /// their user's permissions again ([`ferrobot_domain::permission::account_labels`]).
    accounts: tokio::sync::watch::Sender<u64>,
    account_labels: Vec<String>,
}

#[derive(Default)]
struct Hub {
    done: i64,
    cohorts: HashMap<CohortKey, Cohort>,
}

/// What makes subscriptions share their batches: the same document, variables and operation
/// (so the same request tree) read by the same reader (so with the same permissions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CohortKey {
    pub document: Arc<str>,
    pub operation: Option<Arc<str>>,
    pub variables: Arc<str>,
    /// `None` for a superuser (all superusers see the same), else the user and a fingerprint
    /// of its permissions (read again, they make another cohort when they changed).
    pub reader: Option<(uuid::Uuid, u64)>,
}

struct Cohort {
    follow: Arc<Follow>,
    subscribers: Vec<mpsc::Sender<Batch>>,
}

/// The changes of a range a subscription matches, one payload each, in sequence order.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Every change up to this sequence has been considered.
    pub upto: i64,
    pub events: Arc<[String]>,
}

/// What a subscription reads: its root field's request tree, as one reader.
pub struct Follow {
    pub key: String,
    pub select: Select,
    pub permissions: Arc<Permissions>,
}

impl Follow {
    /// The changes in `(after, upto]` the subscription matches, rendered: one statement a
    /// level for the whole range (at most [`BATCH`] sequences).
    pub async fn read(&self, store: &Store, after: i64, upto: i64) -> StoreResult<Vec<String>> {
        let catalogue = store.catalogue().clone();
        let select = self.ranged(&catalogue, after, upto)?;
        let plan = Plan::new(&catalogue, &select);
        let level = store.execute(&plan, &self.permissions).await?;
        if level.rows.is_empty() {
            return Ok(Vec::new());
        }
        Ok(crate::render::event_payloads(&plan, &level, &self.key))
    }

    /// The subscription's tree cut to the sequences `(after, upto]`, in sequence order (the
    /// change log's page ordering).
    fn ranged(&self, catalogue: &Catalogue, after: i64, upto: i64) -> StoreResult<Select> {
        let mut select = self.select.clone();
        let model = catalogue.model(select.model);
        let filter = model
            .behaviour
            .change_log
            .and_then(|fields| model.filter(fields.sequence))
            .ok_or_else(|| StoreError::Internal(format!("{} has no sequence", model.label)))?;
        for (lookup, value) in [(Lookup::Gt, after), (Lookup::Lte, upto)] {
            select.filters.push(FilterArg {
                argument: lookup.argument(&filter.name),
                target: ArgTarget::Filter(filter.clone()),
                lookup,
                values: vec![ArgValue::Int(value)],
            });
        }
        let first = (upto - after).clamp(1, BATCH) as u64;
        select.page = Page { keyset: Some(Keyset { first, after: None }), ..Page::default() };
        Ok(select)
    }
}

/// Where a subscriber stands when it asks to join its cohort.
pub enum Joined {
    /// Live: batches arrive here; when the channel closes, the subscriber fell behind (or the
    /// feed dropped it) and reads the log from its position again.
    Live(mpsc::Receiver<Batch>),
    /// The feed is further than this: read the log up to [`Feed::done`] first.
    Behind,
}

impl Feed {
    /// A feed that starts where the log stands now.
    pub async fn start(store: Store) -> StoreResult<Arc<Feed>> {
        let head = store.last_sequence().await?;
        let hub = Hub { done: head, cohorts: HashMap::new() };
        Ok(Arc::new(Feed {
            hub: tokio::sync::Mutex::new(hub),
            done: tokio::sync::watch::channel(head).0,
            lagged: Default::default(),
            accounts: tokio::sync::watch::channel(0).0,
            account_labels: ferrobot_domain::permission::account_labels(store.catalogue()),
            store,
        }))
    }

    /// Every change up to here has been handed to every cohort.
    pub fn done(&self) -> i64 {
        *self.done.borrow()
    }

    /// Moves when a change to the accounts or permissions was handed out.
    pub fn accounts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.accounts.subscribe()
    }

    /// How many times a subscriber fell behind and read the log itself.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Subscriptions live now, and their cohorts (for metrics).
    pub async fn counts(&self) -> (usize, usize) {
        let hub = self.hub.lock().await;
        (hub.cohorts.values().map(|c| c.subscribers.len()).sum(), hub.cohorts.len())
    }

    /// Reads and hands out each batch of new changes as the head moves, until dropped.
    pub async fn run(self: Arc<Feed>) {
        let mut head = self.store.head();
        loop {
            let target = *head.borrow_and_update();
            self.advance(target).await;
            if head.changed().await.is_err() {
                return;
            }
        }
    }

    async fn advance(&self, target: i64) {
        let mut hub = self.hub.lock().await;
        while hub.done < target {
            let (after, upto) = (hub.done, target.min(hub.done + BATCH));
            // Subscribers read with their user's permissions: a batch that changed them has
            // their connections read them again (one statement a batch, while any cohort
            // follows).
            if !hub.cohorts.is_empty() {
                match self.store.changed_types(after, upto).await {
                    Ok(types) if types.iter().any(|t| self.account_labels.contains(t)) => {
                        self.accounts.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "reading a batch's object types failed"),
                }
            }
            // Each cohort's batch read at once with the others (a few at a time): on
            // PostgreSQL and MySQL a read mostly waits on round trips.
            let jobs: Vec<(CohortKey, Arc<Follow>)> =
                hub.cohorts.iter().map(|(k, c)| (k.clone(), c.follow.clone())).collect();
            let reads = jobs.into_iter().map(|(key, follow)| {
                let store = self.store.clone();
                async move {
                    let events = follow.read(&store, after, upto).await;
                    (key, events)
                }
            });
            let read: Vec<(CohortKey, StoreResult<Vec<String>>)> =
                futures_util::stream::iter(reads).buffer_unordered(READS_AT_ONCE).collect().await;
            let mut failed = Vec::new();
            for (key, events) in read {
                let Some(cohort) = hub.cohorts.get_mut(&key) else { continue };
                let events = match events {
                    Ok(events) => Arc::<[String]>::from(events),
                    Err(error) => {
                        // Its subscribers read the log themselves, and say what failed.
                        tracing::warn!(%error, "a subscription's batch failed");
                        failed.push(key);
                        continue;
                    }
                };
                let batch = Batch { upto, events };
                // A subscriber whose buffer is full is dropped from the cohort: its channel
                // closes once it has read what it holds, and it reads the log from there.
                let before = cohort.subscribers.len();
                cohort.subscribers.retain(|tx| tx.try_send(batch.clone()).is_ok());
                let dropped = (before - cohort.subscribers.len()) as u64;
                self.lagged.fetch_add(dropped, Ordering::Relaxed);
            }
            for key in failed {
                hub.cohorts.remove(&key);
            }
            hub.cohorts.retain(|_, c| !c.subscribers.is_empty());
            hub.done = upto;
            self.done.send_replace(upto);
        }
    }

    /// Joins the cohort of `key` at `position`, which must be where the feed stands; what lies
    /// between, when the feed is at most one batch further, is read now (the feed waits) and is
    /// the first batch the subscriber receives.
    pub async fn join(
        &self,
        key: &CohortKey,
        follow: &Arc<Follow>,
        position: i64,
    ) -> StoreResult<Joined> {
        let mut hub = self.hub.lock().await;
        let done = hub.done;
        if done - position > BATCH {
            return Ok(Joined::Behind);
        }
        let (tx, rx) = mpsc::channel(BUFFER);
        if done > position {
            let events = follow.read(&self.store, position, done).await?;
            let _ = tx.try_send(Batch { upto: done, events: events.into() });
        }
        let cohort = hub
            .cohorts
            .entry(key.clone())
            .or_insert_with(|| Cohort { follow: follow.clone(), subscribers: Vec::new() });
        cohort.subscribers.push(tx);
        Ok(Joined::Live(rx))
    }
}

/// Where a subscription's batches go (a socket's frames).
pub trait Deliver: Send {
    /// Hands over a batch's events, every change up to `upto` considered; `false` ends the
    /// subscription (the client went away).
    fn deliver(
        &mut self,
        upto: i64,
        events: Arc<[String]>,
    ) -> impl std::future::Future<Output = bool> + Send;
}

/// Follows the change log for one subscription from `position`: reads the log up to where the
/// feed stands, joins its cohort, and reads the log again whenever it fell behind. Each batch
/// goes to `out` as it comes (whose pace paces the reads). Ends when `out` refuses a batch,
/// or with the error of a read.
pub async fn follow(
    feed: Arc<Feed>,
    key: CohortKey,
    follow: Arc<Follow>,
    mut position: i64,
    out: &mut impl Deliver,
) -> StoreResult<()> {
    loop {
        // Catch up from the log, one batch at a time, as fast as the socket takes them.
        loop {
            let done = feed.done();
            if position >= done {
                break;
            }
            let upto = done.min(position + BATCH);
            let events = read_retrying(&follow, feed.store(), position, upto).await?;
            position = upto;
            if !events.is_empty() && !out.deliver(upto, events.into()).await {
                return Ok(());
            }
        }
        // A position this process has not reached yet (another replica's commit it has not
        // heard of): wait for the feed, so that nothing before the position is sent.
        if position > feed.done() {
            let mut done = feed.done.subscribe();
            if done.wait_for(|d| *d >= position).await.is_err() {
                return Ok(());
            }
        }
        let mut live = match feed.join(&key, &follow, position).await? {
            Joined::Live(rx) => rx,
            Joined::Behind => continue,
        };
        while let Some(batch) = live.recv().await {
            position = batch.upto;
            if !batch.events.is_empty() && !out.deliver(batch.upto, batch.events).await {
                return Ok(());
            }
        }
        // Dropped from the cohort: too slow, or its batch failed. Read the log from here.
    }
}

/// Reads a range, waiting out a busy database (a second at a time, at most a minute).
async fn read_retrying(
    follow: &Follow,
    store: &Store,
    after: i64,
    upto: i64,
) -> StoreResult<Vec<String>> {
    let mut tries = 0;
    loop {
        match follow.read(store, after, upto).await {
            Err(StoreError::Busy(_)) if tries < 60 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// The reader a cohort is keyed by: `None` for a superuser (all superusers see the same).
pub fn reader_of(permissions: &Permissions, user: uuid::Uuid) -> Option<(uuid::Uuid, u64)> {
    (!permissions.is_superuser()).then(|| (user, permissions.fingerprint()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrobot_domain::permission::Permissions;

    /// A batch is the subscription's own tree with the range's bounds added and the change
    /// log's page ordering (sequence, ascending), at most [`BATCH`] rows.
    #[test]
    fn a_batch_is_the_tree_cut_to_its_range() {
        let catalogue = Catalogue::core().expect("core catalogue");
        let log = catalogue.by_label(ferrobot_domain::catalogue::CHANGE_LOG).expect("change log");
        let follow = Follow {
            key: "object_changes".into(),
            select: Select::new(log.id),
            permissions: Arc::new(Permissions::superuser(uuid::Uuid::nil())),
        };
        let select = follow.ranged(&catalogue, 41, 97).expect("ranged");
        let bounds: Vec<(String, Vec<ArgValue>)> =
            select.filters.iter().map(|f| (f.argument.clone(), f.values.clone())).collect();
        assert_eq!(
            bounds,
            [
                ("sequence__gt".to_owned(), vec![ArgValue::Int(41)]),
                ("sequence__lte".to_owned(), vec![ArgValue::Int(97)])
            ]
        );
        assert_eq!(select.page.keyset, Some(Keyset { first: 56, after: None }));
        let wide = follow.ranged(&catalogue, 0, 10 * BATCH).expect("ranged");
        assert_eq!(wide.page.keyset.map(|k| k.first), Some(BATCH as u64));
    }

    #[test]
    fn superusers_share_cohorts_and_users_do_by_their_grants() {
        let catalogue = Catalogue::core().expect("core catalogue");
        let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(reader_of(&Permissions::superuser(alice), alice), None);
        assert_eq!(reader_of(&Permissions::superuser(bob), bob), None);
        let none = Permissions::from_stored(&catalogue, alice, &[]).0;
        let reader = reader_of(&none, alice);
        assert_eq!(reader.map(|r| r.0), Some(alice));
        assert_ne!(reader, reader_of(&Permissions::from_stored(&catalogue, bob, &[]).0, bob));
    }
}
