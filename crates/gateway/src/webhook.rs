//! Delivers webhooks from the change log: each webhook's events in sequence order, at least
//! once, retried with backoff while the receiver fails, one process per stream at a time.
//!
//! Every round (when the log's head moves, or every second for retries that fall due), the
//! dispatcher reads the webhooks, replays and streams (`persistence::webhook`), makes the
//! streams agree with them, claims the streams that have events and that no other process
//! holds (a lease in the database), and runs one task per claimed stream. A task reads the
//! stream's next events (one statement per 100), sends each as Nautobot would
//! (`domain::webhook`: payload, templates, signature) and records the attempts with the
//! stream's new position in one transaction every 64 deliveries or half a second. A failure
//! records a `retrying` attempt and parks the stream until its backoff is over; after the
//! last attempt, or at once for a failure another attempt cannot mend (a 4xx, a bad template,
//! a forbidden address), it records `failed` and goes on with the next event (a replay
//! delivers it again).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferrobot_domain::webhook::{self as rules, Event, Outcome, Templates, Webhook};
use ferrobot_persistence::webhook::{Attempt, Progress, Stream};
use ferrobot_persistence::Store;
use rand::Rng;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How deliveries behave; `Config::webhooks`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The wait after the first failure; it doubles with each failure after it …
    pub backoff: Duration,
    /// … up to this.
    pub max_backoff: Duration,
    /// Attempts at one event before it is recorded `failed` and the stream goes on.
    pub attempts: u32,
    /// How long one request may take, connection included.
    pub timeout: Duration,
    /// Addresses webhooks may be sent to although they are loopback, link-local or reserved.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// How long attempts are kept; older ones are deleted every hour.
    pub keep: Duration,
    /// How long a claimed stream stays this process's without being renewed: three request
    /// timeouts ([`Settings::with_lease`]), since a lease is renewed between requests.
    pub lease: Duration,
}

impl Settings {
    /// The settings with the lease that goes with their timeout.
    pub fn with_lease(mut self) -> Settings {
        self.lease = (self.timeout * 3).max(Duration::from_secs(1));
        self
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            attempts: 16,
            timeout: Duration::from_secs(10),
            allowed_networks: Vec::new(),
            keep: Duration::from_secs(30 * 86_400),
            lease: Duration::from_secs(30),
        }
    }
}

/// Events read from the log at a time, per stream.
const EVENTS_PER_READ: u64 = 100;
/// Deliveries recorded together (they are delivered again if the process dies first).
const RECORD_EVERY: usize = 64;
const RECORD_AFTER: Duration = Duration::from_millis(500);
/// Streams delivering at once in one process.
const STREAMS_AT_ONCE: usize = 32;
/// How often attempts past `Settings::keep` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// The most of a failing receiver's answer kept in the attempt's error.
const ERROR_BODY: usize = 512;

/// A host name and the addresses checked for it, which its requests go to.
type Pinned = (String, Vec<std::net::SocketAddr>);

/// What an HTTP client is made for: TLS verification, the CA file, the pinned host.
type ClientKey = (bool, String, Option<Pinned>);

/// The longest error an attempt keeps.
const ERROR_TEXT: usize = 1_000;

/// `text` cut to `ERROR_TEXT` characters.
fn capped(text: String) -> String {
    if text.chars().count() <= ERROR_TEXT {
        return text;
    }
    text.chars().take(ERROR_TEXT).collect::<String>() + "…"
}

/// The dispatcher of one process.
pub struct Dispatcher {
    store: Store,
    settings: Settings,
    /// This process's name in leases.
    owner: String,
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
    /// Deliveries made, for `/metrics`.
    pub delivered: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

impl Dispatcher {
    pub fn new(store: Store, settings: Settings) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            store,
            settings,
            owner: Uuid::new_v4().to_string(),
            clients: Mutex::new(HashMap::new()),
            delivered: Default::default(),
            failed: Default::default(),
        })
    }

    /// Runs until `stopping` turns true; then stops its deliveries and gives up its leases.
    pub async fn run(self: Arc<Self>, mut stopping: watch::Receiver<bool>) {
        let mut head = self.store.head();
        let mut running: JoinSet<Uuid> = JoinSet::new();
        let mut busy: HashSet<Uuid> = HashSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned: Option<Instant> = None;
        loop {
            if *stopping.borrow() {
                break;
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned = Some(Instant::now());
                self.prune().await;
            }
            // The next retry that falls due, so that a backoff shorter than a second is kept.
            let mut next_retry = None;
            match self.round(&mut running, &mut busy).await {
                Ok(retry) => next_retry = retry,
                Err(error) => tracing::warn!(%error, "webhook round failed"),
            }
            let wait = next_retry
                .map(|at| Duration::from_millis((at - Utc::now().timestamp_millis()).max(1) as u64))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            tokio::select! {
                _ = head.changed() => {}
                _ = tick.tick() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(done) = running.join_next() => {
                    if let Ok(id) = done {
                        busy.remove(&id);
                    }
                }
                _ = stopping.changed() => {}
            }
            while let Some(done) = running.try_join_next() {
                if let Ok(id) = done {
                    busy.remove(&id);
                }
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        if let Err(error) = self.store.release_webhook_streams(&self.owner).await {
            tracing::warn!(%error, "webhook leases not released");
        }
    }

    /// Deletes the attempts older than `Settings::keep` (every replica may: the deletes are
    /// idempotent, and bounded per run).
    async fn prune(&self) {
        let Ok(keep) = chrono::Duration::from_std(self.settings.keep) else { return };
        let before = Utc::now() - keep;
        match self.store.prune_webhook_attempts(before, 1_000_000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(attempts = n, "old webhook attempts deleted"),
            Err(error) => tracing::warn!(%error, "webhook attempts not pruned"),
        }
    }

    /// One round: sync the streams, claim those with due work, start a task for each. Returns
    /// when the first stream waiting for a retry falls due (Unix milliseconds).
    async fn round(
        self: &Arc<Self>,
        running: &mut JoinSet<Uuid>,
        busy: &mut HashSet<Uuid>,
    ) -> Result<Option<i64>, ferrobot_persistence::StoreError> {
        let state = self.store.webhook_state().await?;
        if state.webhooks.is_empty() && state.streams.is_empty() {
            return Ok(None);
        }
        let head = self.store.head_now();
        // Read again only when the streams changed.
        let state = match self.store.sync_webhook_streams(&state, head).await? {
            true => self.store.webhook_state().await?,
            false => state,
        };
        let now = Utc::now().timestamp_millis();
        let webhooks: HashMap<Uuid, &Webhook> = state.webhooks.iter().map(|w| (w.id, w)).collect();
        let due: Vec<Uuid> = state
            .streams
            .iter()
            .filter(|s| !busy.contains(&s.id))
            .filter(|s| webhooks.get(&s.webhook).is_some_and(|w| w.enabled || s.replay))
            .filter(|s| s.has_work(head) && s.retry_at <= now)
            .filter(|s| {
                s.lease_owner.is_none()
                    || s.lease_owner.as_deref() == Some(self.owner.as_str())
                    || s.lease_until < now
            })
            .take(STREAMS_AT_ONCE.saturating_sub(busy.len()))
            .map(|s| s.id)
            .collect();
        let lease = self.settings.lease.as_millis() as i64;
        let claimed = self.store.claim_webhook_streams(&due, &self.owner, now, lease).await?;
        for id in claimed {
            let Some(stream) = state.streams.iter().find(|s| s.id == id).cloned() else {
                continue;
            };
            let Some(webhook) = webhooks.get(&stream.webhook).map(|w| (*w).clone()) else {
                continue;
            };
            busy.insert(id);
            let me = self.clone();
            running.spawn(async move {
                if let Err(error) = me.deliver(stream, webhook).await {
                    tracing::warn!(%error, stream = %id, "webhook delivery stopped");
                }
                id
            });
        }
        let next_retry = state
            .streams
            .iter()
            .filter(|s| s.has_work(head) && s.retry_at > now)
            .map(|s| s.retry_at)
            .min();
        Ok(next_retry)
    }

    /// Delivers a stream's events until it is caught up, waits for a retry, or loses its lease.
    async fn deliver(
        &self,
        stream: Stream,
        webhook: Webhook,
    ) -> Result<(), ferrobot_persistence::StoreError> {
        let templates = Templates::new(&webhook).map_err(|e| e.message);
        let mut position = stream.position;
        let mut failures = stream.failures.max(0) as u32;
        let mut pending: Vec<Attempt> = Vec::new();
        let mut since = Instant::now();
        loop {
            let bound = stream.bound(self.store.head_now());
            if position >= bound {
                break;
            }
            let events =
                self.store.webhook_events(&webhook, position, bound, EVENTS_PER_READ).await?;
            if events.is_empty() {
                // Nothing this webhook takes up to the bound: the stream moves past it.
                position = bound;
                break;
            }
            let full = events.len() as u64 == EVENTS_PER_READ;
            for event in &events {
                let started = Utc::now();
                let clock = Instant::now();
                let (outcome, code, error) = match &templates {
                    Ok(t) => self.send(&webhook, t, event).await,
                    Err(message) => (Outcome::Permanent, None, message.clone()),
                };
                let attempt_number = failures as i32 + 1;
                let last = outcome == Outcome::Permanent
                    || (outcome == Outcome::Transient
                        && attempt_number as u32 >= self.settings.attempts);
                let status = match outcome {
                    Outcome::Delivered => "delivered",
                    _ if last => "failed",
                    _ => "retrying",
                };
                pending.push(Attempt {
                    webhook: webhook.id,
                    change: event.id,
                    sequence: event.sequence,
                    attempt: attempt_number,
                    replayed: stream.replay,
                    status,
                    response_code: code.map(i32::from),
                    error: capped(error),
                    time: started,
                    duration_ms: clock.elapsed().as_millis() as i64,
                });
                if status == "retrying" {
                    failures += 1;
                    let wait = rules::backoff(
                        failures,
                        self.settings.backoff,
                        self.settings.max_backoff,
                        rand::thread_rng().gen::<f64>(),
                    );
                    let retry_at = Utc::now().timestamp_millis() + wait.as_millis() as i64;
                    self.record(&stream, &mut pending, position, failures as i32, retry_at).await?;
                    return Ok(());
                }
                match status {
                    "delivered" => {
                        self.delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    }
                    _ => self.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                };
                failures = 0;
                position = event.sequence;
                if pending.len() >= RECORD_EVERY || since.elapsed() >= RECORD_AFTER {
                    if !self.record(&stream, &mut pending, position, 0, 0).await? {
                        return Ok(());
                    }
                    since = Instant::now();
                }
            }
            if !full {
                // Read to the bound: nothing else of this webhook's below it.
                position = position.max(bound);
            }
        }
        self.record(&stream, &mut pending, position, failures as i32, 0).await?;
        Ok(())
    }

    /// Writes the attempts and the stream's position; false when the lease is lost.
    async fn record(
        &self,
        stream: &Stream,
        pending: &mut Vec<Attempt>,
        position: i64,
        failures: i32,
        retry_at: i64,
    ) -> Result<bool, ferrobot_persistence::StoreError> {
        let lease_until = Utc::now().timestamp_millis() + self.settings.lease.as_millis() as i64;
        let progress = Progress { position, failures, retry_at, lease_until };
        let kept =
            self.store.record_webhook_attempts(stream.id, &self.owner, pending, progress).await?;
        if !kept {
            tracing::warn!(stream = %stream.id, "webhook stream taken over by another process");
        }
        pending.clear();
        Ok(kept)
    }

    /// Sends one event; how it went, the receiver's status, and the error.
    async fn send(
        &self,
        webhook: &Webhook,
        templates: &Templates,
        event: &Event,
    ) -> (Outcome, Option<u16>, String) {
        let request = match templates.request(webhook, event) {
            Ok(r) => r,
            Err(message) => return (Outcome::Permanent, None, message),
        };
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) => url,
            Err(e) => return (Outcome::Permanent, None, format!("Enter a valid URL: {e}.")),
        };
        let pinned = match self.permitted(&url).await {
            Ok(pinned) => pinned,
            Err(message) => return (Outcome::Permanent, None, message),
        };
        let client = match self.client(webhook, pinned).await {
            Ok(c) => c,
            Err(message) => return (Outcome::Permanent, None, message),
        };
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return (Outcome::Permanent, None, format!("{} is not a method.", request.method))
            }
        };
        let mut builder = client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.body(request.body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let outcome = rules::outcome(status);
                if outcome == Outcome::Delivered {
                    return (outcome, Some(status), String::new());
                }
                // The start of the answer only: a receiver may answer without end.
                let mut response = response;
                let mut body = Vec::new();
                while body.len() < ERROR_BODY {
                    match response.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                let cut: String = String::from_utf8_lossy(&body).chars().take(ERROR_BODY).collect();
                (outcome, Some(status), format!("Status {status} returned with content '{cut}'."))
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    format!("No answer within {} s.", self.settings.timeout.as_secs_f64())
                } else if e.is_builder() {
                    return (Outcome::Permanent, None, format!("The request cannot be made: {e}"));
                } else {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text = format!("{text}: {s}");
                        source = s.source();
                    }
                    text
                };
                (Outcome::Transient, None, what)
            }
        }
    }

    /// Nautobot's send-time URL policy: the host's addresses must not be loopback, link-local,
    /// multicast or reserved (unless the operator allows their network).
    /// A host name comes back with the addresses checked, which the request is then pinned to
    /// (a name resolved again could lead elsewhere: DNS rebinding).
    async fn permitted(&self, url: &reqwest::Url) -> Result<Option<Pinned>, String> {
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(80);
        let (addrs, pinned): (Vec<IpAddr>, bool) = match host.parse::<IpAddr>() {
            Ok(ip) => (vec![ip], false),
            Err(_) => match tokio::net::lookup_host((host, port)).await {
                Ok(found) => (found.map(|a| a.ip()).collect(), true),
                Err(_) => return Err(format!("Unable to resolve webhook host '{host}'.")),
            },
        };
        if addrs.is_empty() {
            return Err(format!("Unable to resolve webhook host '{host}'."));
        }
        for ip in &addrs {
            let ip = *ip;
            let allowed = self.settings.allowed_networks.iter().any(|n| n.contains(&ip));
            if rules::blocked(ip) && !allowed {
                return Err(format!(
                    "Webhook URL host '{host}' is not permitted (resolves to a reserved/loopback/link-local address)."
                ));
            }
        }
        if !pinned {
            return Ok(None);
        }
        let mut sockets: Vec<std::net::SocketAddr> =
            addrs.into_iter().map(|ip| std::net::SocketAddr::new(ip, port)).collect();
        sockets.sort();
        sockets.dedup();
        Ok(Some((host.to_owned(), sockets)))
    }

    /// One HTTP client per TLS setting (verification, CA file) and pinned host, kept for reuse
    /// of connections.
    async fn client(
        &self,
        webhook: &Webhook,
        pinned: Option<Pinned>,
    ) -> Result<reqwest::Client, String> {
        let key = (webhook.ssl_verification, webhook.ca_file_path.clone(), pinned.clone());
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.settings.timeout)
            .connect_timeout(self.settings.timeout)
            // Never followed: the address policy checks only the URL's host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferrobot/", env!("CARGO_PKG_VERSION")));
        if let Some((host, addrs)) = &pinned {
            builder = builder.resolve_to_addrs(host, addrs);
        }
        if !webhook.ssl_verification {
            builder = builder.danger_accept_invalid_certs(true);
        } else if !webhook.ca_file_path.is_empty() {
            let pem = tokio::fs::read(&webhook.ca_file_path)
                .await
                .map_err(|e| format!("CA file {}: {e}", webhook.ca_file_path))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("CA file {}: {e}", webhook.ca_file_path))?;
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        if clients.len() > 64 {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}
