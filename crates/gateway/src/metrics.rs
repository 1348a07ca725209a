//! Prometheus metrics (`GET /metrics`): requests and their latency by operation type and root
//! field, SQL statements, pool use, write turns and their waits, busy refusals, schema rebuilds
//! and the change log's sequence. Counters live here; the store's are read when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use ferrobot_persistence::Store;

/// What a request was, for its labels: `query`, `mutation`, `invalid`, `login`; the root
/// fields it selected (names from the schema, so the labels stay few).
#[derive(Debug, Clone, Default)]
pub struct Operation {
    pub kind: &'static str,
    pub root_fields: Vec<String>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    operation: &'static str,
    root_field: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Timed {
    operation: &'static str,
    root_field: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pool {
    pool: &'static str,
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What the change feed's subscriptions are doing, when scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedCounts {
    pub subscribers: usize,
    pub cohorts: usize,
    pub lagged: u64,
    pub position: i64,
    /// Webhook events this process delivered, and recorded as failed.
    pub webhooks_delivered: u64,
    pub webhooks_failed: u64,
}

pub struct Metrics {
    registry: Registry,
    webhooks_delivered: Counter,
    webhooks_failed: Counter,
    requests: Family<Request, Counter>,
    latency: Family<Timed, Histogram, fn() -> Histogram>,
    busy: Counter,
    schema_rebuilds: Counter,
    statements: Counter,
    write_turns: Counter,
    write_wait: Counter<f64, std::sync::atomic::AtomicU64>,
    pools: Family<Pool, Gauge>,
    sequence: Gauge,
    subscribers: Gauge,
    cohorts: Gauge,
    lagged: Counter,
    feed_position: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ferrobot");
        let requests = Family::<Request, Counter>::default();
        registry.register("requests", "GraphQL requests answered, by status", requests.clone());
        let latency: Family<Timed, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time to the answer's first byte",
            latency.clone(),
        );
        let busy = Counter::default();
        registry.register("busy", "Requests refused as busy (HTTP 503, retryable)", busy.clone());
        let schema_rebuilds = Counter::default();
        registry.register(
            "schema_rebuilds",
            "Schemas rebuilt after custom fields changed",
            schema_rebuilds.clone(),
        );
        let statements = Counter::default();
        registry.register("sql_statements", "SQL statements run", statements.clone());
        let write_turns = Counter::default();
        registry.register("write_turns", "Writes that got their turn", write_turns.clone());
        let write_wait = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "write_turn_wait_seconds",
            "Time writes waited for their turn, in all",
            write_wait.clone(),
        );
        let pools = Family::<Pool, Gauge>::default();
        registry.register("pool_connections", "Database connections by pool", pools.clone());
        let sequence = Gauge::default();
        registry.register(
            "change_log_sequence",
            "The change log's last committed sequence number",
            sequence.clone(),
        );
        let subscribers = Gauge::default();
        registry.register(
            "subscriptions_live",
            "Subscriptions following the change feed live (not reading the log)",
            subscribers.clone(),
        );
        let cohorts = Gauge::default();
        registry.register(
            "subscription_cohorts",
            "Groups of live subscriptions that share each batch's read and render",
            cohorts.clone(),
        );
        let lagged = Counter::default();
        registry.register(
            "subscriptions_lagged",
            "Times a subscriber's buffer was full and it read the log itself",
            lagged.clone(),
        );
        let feed_position = Gauge::default();
        registry.register(
            "change_feed_position",
            "The sequence up to which every change was handed to the subscriptions",
            feed_position.clone(),
        );
        let webhooks_delivered = Counter::default();
        registry.register(
            "webhook_deliveries",
            "Webhook events this process delivered (the receiver answered below 400)",
            webhooks_delivered.clone(),
        );
        let webhooks_failed = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook events this process recorded as failed (no other attempt follows)",
            webhooks_failed.clone(),
        );
        Metrics {
            registry,
            webhooks_delivered,
            webhooks_failed,
            subscribers,
            cohorts,
            lagged,
            feed_position,
            requests,
            latency,
            busy,
            schema_rebuilds,
            statements,
            write_turns,
            write_wait,
            pools,
            sequence,
        }
    }

    /// Counts one answered request under each of its root fields.
    pub fn request(&self, operation: &Operation, status: u16, seconds: f64) {
        let roots: &[String] = &operation.root_fields;
        let none = [String::new()];
        let roots = if roots.is_empty() { &none[..] } else { roots };
        for root in roots {
            let labels = Request { operation: operation.kind, root_field: root.clone(), status };
            self.requests.get_or_create(&labels).inc();
            let timed = Timed { operation: operation.kind, root_field: root.clone() };
            self.latency.get_or_create(&timed).observe(seconds);
        }
        if status == 503 {
            self.busy.inc();
        }
    }

    pub fn schema_rebuilt(&self) {
        self.schema_rebuilds.inc();
    }

    /// The text exposition, with the store's figures read now.
    pub async fn render(&self, store: &Store, feed: Option<FeedCounts>) -> String {
        if let Some(feed) = feed {
            self.subscribers.set(feed.subscribers as i64);
            self.cohorts.set(feed.cohorts as i64);
            self.lagged.inc_by(feed.lagged.saturating_sub(self.lagged.get()));
            self.feed_position.set(feed.position);
            let (delivered, failed) = (feed.webhooks_delivered, feed.webhooks_failed);
            self.webhooks_delivered.inc_by(delivered.saturating_sub(self.webhooks_delivered.get()));
            self.webhooks_failed.inc_by(failed.saturating_sub(self.webhooks_failed.get()));
        }
        let stats = store.stats();
        // Counters kept by the store: bring ours up to its totals.
        self.statements.inc_by(stats.statements.saturating_sub(self.statements.get()));
        self.write_turns.inc_by(stats.write_turns.saturating_sub(self.write_turns.get()));
        let waited = stats.write_wait_seconds - self.write_wait.get();
        if waited > 0.0 {
            self.write_wait.inc_by(waited);
        }
        for (pool, (open, idle)) in [("reader", stats.readers), ("writer", stats.writer)] {
            self.pools.get_or_create(&Pool { pool, state: "open" }).set(i64::from(open));
            self.pools.get_or_create(&Pool { pool, state: "idle" }).set(idle as i64);
        }
        match store.last_sequence().await {
            Ok(n) => {
                self.sequence.set(n);
            }
            Err(error) => tracing::warn!(%error, "change log sequence not read"),
        }
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(%error, "metrics not encoded");
        }
        out
    }
}
