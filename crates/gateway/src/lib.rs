//! The HTTP and GraphQL face of Ferrobot.
//!
//! Reading order: [`schema`] (the dynamic schema generated from the catalogue, each field
//! annotated with what it is), [`execute`] (takes over validated operations), `ir` (a selection
//! lowered to a request tree), [`limits`] (depth, aliases, cost), [`render`] (the answer written
//! straight from the rows), [`mutate`], [`error`] (the one error type and its codes), [`http`]
//! (routes, error mapping, the Nautobot-compatible endpoints), [`auth`] (tokens, JWT, passwords).
//!
//! API Boundary: the routes of [`http::router`] and the SDL in `schema/schema.graphql`.

mod admission;
pub mod answer;
pub mod auth;
mod cursor;
pub mod error;
pub mod execute;
mod export;
pub mod feed;
pub mod fleet;
mod graphiql;
pub mod http;
mod ir;
mod jobs;
pub mod limits;
mod literals;
pub mod login;
pub mod metrics;
pub mod mutate;
pub mod mutation_schema;
mod openapi;
#[cfg(test)]
mod parity;
pub mod render;
mod respond;
mod rest;
mod saved;
pub mod schema;
mod schema_parts;
mod suggest;
mod syntax;
mod template_object;
mod variables;
pub mod webhook;
mod wording;
mod ws;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrobot_domain::{Catalogue, CustomField};
use ferrobot_persistence::Store;

pub use answer::{Answer, RequestState};
pub use http::router;

/// The schema a server serves: generated from the catalogue and the stored definitions
/// (custom and computed fields), with the executor that answers its queries and mutations
/// ([`execute::PlanExtension`]).
pub fn build_schema(
    catalogue: Arc<Catalogue>,
    definitions: schema::Definitions,
) -> Result<schema::Served, error::GatewayError> {
    schema::build(catalogue, definitions, execute::PlanExtension)
}

/// Server settings the gateway needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub jwt_secret: String,
    pub jwt_lifetime: chrono::Duration,
    /// How often the custom and computed field definitions are checked for changes.
    pub reload_interval: Duration,
    /// Whether writes add change-log rows; off only to measure their cost.
    pub change_log: bool,
    /// The largest request body taken, in bytes; larger ones are answered HTTP 413.
    pub body_limit: usize,
    /// How long one request may take before it is answered HTTP 408.
    pub request_timeout: Duration,
    /// Origins browsers may call the API from (`*` for any); none by default.
    pub cors_origins: Vec<String>,
    /// Failed logins allowed per minute for one user, and for one client address.
    pub login_attempts_per_minute: u32,
    /// What one request may ask for: depth, aliases, estimated cost.
    pub limits: limits::Limits,
    /// What objects' `url`s begin with: empty for Nautobot's own form (`/api/dcim/devices/<id>/`,
    /// a path), a path prefix where the API is served under one, or a scheme and host for
    /// absolute URLs (`https://ferrobot.example.com`). No trailing slash.
    pub base_url: String,
    /// How many rows of a root list are read at a time together with everything under them
    /// (see `Store::execute_windows`): a larger answer is read and written a window at a time,
    /// so that its levels are never loaded whole.
    pub read_window: usize,
    /// Proxies whose `X-Forwarded-For` names the client (a token's allowed addresses and the
    /// login throttle compare the client's address, not the proxy's).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often the change log's head is read to learn of other processes' commits (on
    /// PostgreSQL, where LISTEN/NOTIFY brings them, ten times as seldom).
    pub feed_poll: Duration,
    /// How webhooks are delivered (backoff, attempts, timeout, allowed networks).
    pub webhooks: webhook::Settings,
    /// Where Git repositories are fetched to, and whether local remotes (`file://`) may be.
    pub git: ferrobot_git::SyncOptions,
    /// How long the results of ended jobs (syncs, renders) and their logs are kept.
    pub job_results_keep: Duration,
}

/// The rows of a root list read at a time with what lies under them, unless configured.
pub const DEFAULT_READ_WINDOW: usize = 1_000;

impl Config {
    /// Settings for tests and tools: a generated secret aside, the server's defaults.
    pub fn new(jwt_secret: String) -> Config {
        Config {
            jwt_secret,
            jwt_lifetime: chrono::Duration::minutes(60),
            reload_interval: Duration::from_millis(500),
            change_log: true,
            body_limit: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(300),
            cors_origins: Vec::new(),
            login_attempts_per_minute: 10,
            limits: limits::Limits::default(),
            base_url: String::new(),
            read_window: DEFAULT_READ_WINDOW,
            trusted_proxies: Vec::new(),
            feed_poll: Duration::from_millis(250),
            webhooks: webhook::Settings::default(),
            git: ferrobot_git::SyncOptions {
                data_dir: std::path::PathBuf::from("data/git"),
                local: ferrobot_git::Local::Refused,
                ssh: None,
            },
            job_results_keep: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Shared state of a running server.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Config,
    served: Arc<RwLock<Arc<schema::Served>>>,
    /// Set when the server was asked to stop: `/ready` answers 503 so that load balancers
    /// send nothing new while in-flight requests finish.
    draining: Arc<std::sync::atomic::AtomicBool>,
    pub logins: Arc<login::Logins>,
    pub metrics: Arc<metrics::Metrics>,
    /// Reads give way to writes (see [`admission`]).
    pub(crate) admission: Arc<admission::Admission>,
    /// The subscriptions to the change feed.
    pub feed: Option<Arc<feed::Feed>>,
    /// Told when the server stops: long-lived connections (WebSockets) close.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Delivers webhooks from the change log.
    pub webhooks: Arc<webhook::Dispatcher>,
}

impl AppState {
    /// Loads the definitions and builds the first schema.
    pub async fn new(store: Store, config: Config) -> Result<AppState, error::GatewayError> {
        let definitions = definitions(&store).await?;
        let started = std::time::Instant::now();
        let served = build_schema(store.catalogue().clone(), definitions)?;
        tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "schema built");
        let logins = Arc::new(login::Logins::new(config.login_attempts_per_minute));
        let feed = feed::Feed::start(store.clone()).await?;
        Ok(AppState {
            served: Arc::new(RwLock::new(Arc::new(served))),
            draining: Default::default(),
            logins,
            metrics: Default::default(),
            admission: Arc::new(admission::Admission::new()),
            feed: Some(feed),
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
            webhooks: webhook::Dispatcher::new(store.clone(), config.webhooks.clone()),
            store,
            config,
        })
    }

    /// Marks the server as stopping (see `draining`); WebSocket connections close (1001).
    pub fn drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Relaxed);
        self.stopping.send_replace(true);
    }

    /// Becomes true when the server is stopping.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The schema requests start on now; in-flight requests keep the one they started on.
    pub fn served(&self) -> Arc<schema::Served> {
        match self.served.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the schema when the custom or computed fields changed; returns whether it did.
    pub async fn refresh(&self) -> Result<bool, error::GatewayError> {
        let definitions = definitions(&self.store).await?;
        let current = self.served();
        if current.custom_fields == definitions.custom_fields
            && current.computed_fields == definitions.computed_fields
            && current.relationships == definitions.relationships
        {
            return Ok(false);
        }
        let catalogue: Arc<Catalogue> = current.catalogue.clone();
        let fresh = Arc::new(build_schema(catalogue, definitions)?);
        match self.served.write() {
            Ok(mut slot) => *slot = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        self.metrics.schema_rebuilt();
        tracing::info!("custom fields, computed fields or relationships changed: schema rebuilt");
        Ok(true)
    }

    /// Follows the change log until the tasks are dropped: the head of the log (this process's
    /// commits, and other processes' as `Config::feed_poll` and NOTIFY bring them) and the
    /// subscriptions' batches.
    pub fn spawn_feed(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![self.store.watch_feed(self.config.feed_poll)];
        if let Some(feed) = &self.feed {
            tasks.push(tokio::spawn(feed.clone().run()));
        }
        tasks.push(tokio::spawn(self.webhooks.clone().run(self.stopping())));
        tasks
    }

    /// Deletes the results of jobs that ended longer than `Config::job_results_keep` ago, every
    /// hour, until shutdown (every replica may: the deletes are idempotent and bounded per run).
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3_600));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Ok(keep) = chrono::Duration::from_std(state.config.job_results_keep) else {
                    continue;
                };
                let before = chrono::Utc::now() - keep;
                match state.store.prune_job_results(before, 1_000_000).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(job_results = n, "old job results deleted"),
                    Err(error) => tracing::warn!(%error, "job results not pruned"),
                }
            }
        })
    }

    /// Watches the custom and computed field definitions (which another process may change)
    /// until shutdown.
    pub fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.reload_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sized_at: Option<std::time::Instant> = None;
            loop {
                tick.tick().await;
                if let Err(error) = state.refresh().await {
                    tracing::warn!(%error, "definitions reload failed");
                }
                // Table sizes steer the read planner; they need only be roughly right.
                if sized_at.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(30)) {
                    sized_at = Some(std::time::Instant::now());
                    if let Err(error) = state.store.refresh_table_sizes().await {
                        tracing::warn!(%error, "table sizes not refreshed");
                    }
                }
            }
        })
    }
}

/// Custom fields as the schema needs them.
pub type CustomFields = Vec<CustomField>;

/// The stored definitions the schema is built from: three statements.
async fn definitions(store: &Store) -> Result<schema::Definitions, error::GatewayError> {
    Ok(schema::Definitions {
        custom_fields: store.custom_fields().await?,
        computed_fields: store.computed_fields().await?,
        relationships: store.relationships().await?,
    })
}

/// Serves the API on `listener` until `shutdown` completes.
///
/// Nagle's algorithm is switched off: answers are streamed in chunks, and a chunk held back
/// waiting for the client's delayed ACK costs ~40 ms per request.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "TCP_NODELAY not set");
        }
    });
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
