//! Test support: a fresh database per test on each backend, and a server on a random loopback
//! port.
//!
//! SQLite needs nothing. PostgreSQL and MySQL/MariaDB tests read `FERROBOT_TEST_POSTGRES_URL` /
//! `FERROBOT_TEST_MYSQL_URL` (set by `scripts/test.sh`, which starts private servers); each test
//! creates its own database there and drops it when done. A backend whose variable is missing
//! fails the test: a suite can never pass by silently skipping a backend.

mod receiver;
pub use receiver::{Received, Receiver};

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrobot_domain::Catalogue;
use ferrobot_gateway::{auth, AppState, Config};
use ferrobot_persistence::import::Document;
use ferrobot_persistence::{Store, StoreOptions};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// A database made for one test.
pub struct TestDb {
    pub url: String,
    admin: Option<(Backend, String, String)>,
    _dir: Option<TempDir>,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> Result<TestDb> {
        let name = format!("fb_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}/db.sqlite3", dir.display());
                Ok(TestDb { url, admin: None, _dir: Some(TempDir(dir)) })
            }
            Backend::Postgres | Backend::MySql => {
                let var = if backend == Backend::Postgres {
                    "FERROBOT_TEST_POSTGRES_URL"
                } else {
                    "FERROBOT_TEST_MYSQL_URL"
                };
                let admin = std::env::var(var).with_context(|| {
                    format!("{var} is not set: run the tests with scripts/test.sh, which starts the test databases")
                })?;
                admin_execute(&admin, &format!("CREATE DATABASE {name}")).await?;
                let base =
                    admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin.clone());
                Ok(TestDb {
                    url: format!("{base}/{name}"),
                    admin: Some((backend, admin, name)),
                    _dir: None,
                })
            }
        }
    }
}

async fn admin_execute(admin: &str, sql: &str) -> Result<()> {
    let catalogue = Arc::new(Catalogue::core()?);
    let store = Store::connect(admin, catalogue).await?;
    store.execute_admin(sql).await?;
    store.close().await;
    Ok(())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((backend, admin, name)) = self.admin.take() {
            let sql = match backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            // Drop runs outside the test's runtime: use a short-lived one.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    let _ = rt.block_on(admin_execute(&admin, &sql));
                }
            })
            .join();
        }
    }
}

/// A running server and a token to call it with.
pub struct TestApp {
    pub base: String,
    pub token: String,
    /// A token of the same user that may not write.
    pub read_only_token: String,
    pub store: Store,
    pub state: AppState,
    pub db: TestDb,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn start(backend: Backend) -> Result<TestApp> {
        TestApp::start_with(backend, StoreOptions::default()).await
    }

    /// Starts a server whose store has these pool sizes and waits.
    pub async fn start_with(backend: Backend, options: StoreOptions) -> Result<TestApp> {
        TestApp::start_configured(backend, options, |_| {}).await
    }

    /// Starts a server with these store options and server settings changed by `edit`.
    pub async fn start_configured(
        backend: Backend,
        options: StoreOptions,
        edit: impl FnOnce(&mut Config),
    ) -> Result<TestApp> {
        let db = TestDb::new(backend).await?;
        let catalogue = Arc::new(Catalogue::core()?);
        let store = Store::connect_with(&db.url, catalogue, &options).await?;
        ferrobot_migrations::migrate(&store).await?;
        let hash = auth::hash_password("secret").map_err(anyhow::Error::msg)?;
        let user = store.create_user("admin", &hash, true).await?;
        let token = auth::new_token_key();
        store.create_token(user, &auth::token_digest(&token), None, "tests").await?;
        let read_only_token = auth::new_token_key();
        let digest = auth::token_digest(&read_only_token);
        store.create_token_with(user, &digest, None, "read only", false).await?;
        let config = Config {
            jwt_lifetime: chrono::Duration::minutes(5),
            reload_interval: Duration::from_millis(100),
            ..Config::new("test-secret".into())
        };
        let mut config = config;
        edit(&mut config);
        let state = AppState::new(store.clone(), config).await.map_err(anyhow::Error::msg)?;
        let mut background = state.spawn_feed();
        background.push(state.spawn_reloader());
        let (base, tx) = serve(state.clone(), background).await?;
        Ok(TestApp {
            base,
            token,
            read_only_token,
            store,
            state,
            db,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
        })
    }

    /// Loads objects in the import format.
    pub async fn import(&self, body: Value) -> Result<()> {
        self.store
            .import(&[Document { name: "test".into(), body }], &|_| {})
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.state.refresh().await.map_err(anyhow::Error::msg)?;
        // The query cost estimate reads the table sizes the server refreshes every 30 s.
        self.store.refresh_table_sizes().await?;
        Ok(())
    }

    /// POSTs a query with the app's token; returns status, body and the SQL statement count.
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<(u16, Value, Option<u64>)> {
        self.graphql_with(Some(&format!("Token {}", self.token)), query, variables).await
    }

    pub async fn graphql_with(
        &self,
        auth: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<(u16, Value, Option<u64>)> {
        let mut request = self
            .client
            .post(format!("{}/api/graphql/", self.base))
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(a) = auth {
            request = request.header("Authorization", a);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let statements = response
            .headers()
            .get("x-ferrobot-sql-statements")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.json::<Value>().await?;
        Ok((status, body, statements))
    }

    /// POSTs a query with the app's token; returns status, the `Retry-After` header and body.
    pub async fn graphql_with_headers(&self, query: &str) -> Result<(u16, Option<String>, Value)> {
        let response = self
            .client
            .post(format!("{}/api/graphql/", self.base))
            .header("Authorization", format!("Token {}", self.token))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
        Ok((status, retry_after, response.json::<Value>().await?))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Makes a user (a superuser or not: then it may do what its object permissions say) and
    /// returns the `Authorization` header of a new token of its.
    pub async fn user(&self, username: &str, superuser: bool) -> Result<String> {
        let hash = auth::hash_password("secret").map_err(anyhow::Error::msg)?;
        let user = self.store.create_user(username, &hash, superuser).await?;
        let token = auth::new_token_key();
        self.store.create_token(user, &auth::token_digest(&token), None, "tests").await?;
        Ok(format!("Token {token}"))
    }

    /// [`TestApp::graphql_with`] the `Authorization` header given, the body's `data` checked
    /// to be there without errors.
    pub async fn data_as(&self, auth: &str, query: &str) -> Result<(Value, Option<u64>)> {
        let (status, body, statements) = self.graphql_with(Some(auth), query, Value::Null).await?;
        anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{status}: {body}");
        Ok((body["data"].clone(), statements))
    }
}

/// Serves `state` on a random loopback port until the returned sender fires (or drops); the
/// background task, if any, stops with the server.
async fn serve(
    state: AppState,
    background: Vec<tokio::task::JoinHandle<()>>,
) -> Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = ferrobot_gateway::serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
        for task in background {
            task.abort();
        }
    });
    Ok((base, tx))
}

/// A second server on a [`TestApp`]'s database, as another replica would be.
pub struct Replica {
    pub base: String,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts another server on this app's database, with a store (and pools) of its own, its
    /// change feed and its schema reloader.
    pub async fn start_replica(&self) -> Result<Replica> {
        let catalogue = Arc::new(Catalogue::core()?);
        let store = Store::connect(&self.db.url, catalogue).await?;
        ferrobot_migrations::migrate(&store).await?;
        let state =
            AppState::new(store, self.state.config.clone()).await.map_err(anyhow::Error::msg)?;
        let mut background = state.spawn_feed();
        background.push(state.spawn_reloader());
        let (base, tx) = serve(state.clone(), background).await?;
        Ok(Replica { base, state, shutdown: Some(tx) })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The small network most tests start from, in the import format.
pub fn seed(n_devices: usize) -> Value {
    let mut devices = Vec::new();
    let mut interfaces = Vec::new();
    let mut ips = Vec::new();
    for i in 0..n_devices {
        let name = format!("dev-{:05}", i + 1);
        devices.push(serde_json::json!({
            "name": name, "device_type": {"manufacturer": "Acme", "model": "acme-s48"}, "role": "leaf",
            "status": "Active", "location": "site-001", "platform": "acme-os",
            "tags": [format!("tag-{}", i % 2 + 1)], "custom_fields": {"owner_team": format!("team-{}", i % 3 + 1)},
            "primary_ip4": {"address": format!("10.1.{}.{}/16", i / 250, i % 250 + 1)}
        }));
        ips.push(serde_json::json!({"address": format!("10.1.{}.{}/16", i / 250, i % 250 + 1), "status": "Active"}));
        for j in 0..3 {
            let mut iface = serde_json::json!({"device": name, "name": format!("eth{j}"), "type": "1000base-t", "status": "Active"});
            if j == 0 {
                iface["ip_addresses"] = serde_json::json!([{"address": format!("10.1.{}.{}/16", i / 250, i % 250 + 1)}]);
                iface["tags"] = serde_json::json!(["tag-1"]);
            }
            interfaces.push(iface);
        }
    }
    serde_json::json!({
        "extras.status": [{"name": "Active", "content_types": ["dcim.device", "dcim.interface", "dcim.location", "ipam.prefix", "ipam.ipaddress"]}],
        "extras.role": [{"name": "leaf", "content_types": ["dcim.device"]}, {"name": "spine", "content_types": ["dcim.device"]}],
        "extras.tag": [{"name": "tag-1"}, {"name": "tag-2"}],
        "extras.customfield": [{"key": "owner_team", "label": "Owner team", "type": "text", "content_types": ["dcim.device"]}],
        "ipam.namespace": [{"name": "Global"}],
        "dcim.locationtype": [{"name": "Region"}, {"name": "Site", "parent": "Region"}],
        "dcim.location": [
            {"name": "region-1", "location_type": "Region", "status": "Active"},
            {"name": "site-001", "location_type": "Site", "status": "Active", "parent": "region-1"}
        ],
        "dcim.manufacturer": [{"name": "Acme"}],
        "dcim.devicetype": [{"manufacturer": "Acme", "model": "acme-s48"}],
        "dcim.platform": [{"name": "acme-os", "manufacturer": "Acme", "network_driver": "cisco_ios"}],
        "ipam.prefix": [{"prefix": "10.1.0.0/16", "status": "Active", "type": "network", "namespace": "Global"}],
        "ipam.ipaddress": ips,
        "dcim.device": devices,
        "dcim.interface": interfaces,
    })
}

/// A GraphQL client over WebSocket, in one subprotocol (`graphql-transport-ws` or
/// `graphql-ws`), for tests.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub protocol: &'static str,
}

/// How long a test waits for a message it expects.
pub const SOCKET_WAIT: Duration = Duration::from_secs(20);

impl Socket {
    /// Connects to `base`'s GraphQL endpoint and upgrades, without `connection_init`.
    pub async fn open(base: &str, protocol: &'static str) -> Result<Socket> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/api/graphql/", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request()?;
        request.headers_mut().insert("sec-websocket-protocol", protocol.parse()?);
        let (stream, response) = tokio_tungstenite::connect_async(request).await?;
        let chosen = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        anyhow::ensure!(chosen == Some(protocol), "subprotocol {chosen:?}, not {protocol}");
        Ok(Socket { stream, protocol })
    }

    /// Connects and initialises with `payload` (the credential), expecting `connection_ack`.
    pub async fn connect(base: &str, protocol: &'static str, payload: Value) -> Result<Socket> {
        let mut socket = Socket::open(base, protocol).await?;
        socket.send(serde_json::json!({ "type": "connection_init", "payload": payload })).await?;
        let ack = socket.recv().await?;
        anyhow::ensure!(ack["type"] == "connection_ack", "expected connection_ack, got {ack}");
        Ok(socket)
    }

    pub async fn send(&mut self, message: Value) -> Result<()> {
        use futures_util::SinkExt;
        let text = tokio_tungstenite::tungstenite::Message::text(message.to_string());
        self.stream.send(text).await?;
        Ok(())
    }

    /// Starts an operation: `subscribe` (or `start` in `graphql-ws`).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<()> {
        let kind = if self.protocol == "graphql-ws" { "start" } else { "subscribe" };
        let payload = serde_json::json!({ "query": query, "variables": variables });
        self.send(serde_json::json!({ "type": kind, "id": id, "payload": payload })).await
    }

    /// Stops an operation: `complete` (or `stop`).
    pub async fn stop(&mut self, id: &str) -> Result<()> {
        let kind = if self.protocol == "graphql-ws" { "stop" } else { "complete" };
        self.send(serde_json::json!({ "type": kind, "id": id })).await
    }

    /// The next message, keep-alives skipped (a `ping` answered); an error when the connection
    /// closed (with its code and reason) or nothing came in [`SOCKET_WAIT`].
    pub async fn recv(&mut self) -> Result<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        // One deadline for the message, keep-alives or not.
        let deadline = tokio::time::Instant::now() + SOCKET_WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| anyhow::anyhow!("no message in {SOCKET_WAIT:?}"))?;
            let message = message.ok_or_else(|| anyhow::anyhow!("the connection ended"))??;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text)?;
                    match value["type"].as_str() {
                        Some("ka") | Some("pong") => continue,
                        Some("ping") => {
                            self.send(serde_json::json!({ "type": "pong" })).await?;
                            continue;
                        }
                        _ => return Ok(value),
                    }
                }
                Message::Close(frame) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    anyhow::bail!("closed {code}: {reason}");
                }
                _ => continue,
            }
        }
    }

    /// The close code and reason the server ends the connection with.
    pub async fn closed(&mut self) -> Result<(u16, String)> {
        loop {
            match self.recv().await {
                Ok(_) => continue,
                Err(error) => {
                    let text = error.to_string();
                    let Some(rest) = text.strip_prefix("closed ") else { return Err(error) };
                    let (code, reason) = rest.split_once(": ").unwrap_or((rest, ""));
                    return Ok((code.parse()?, reason.to_owned()));
                }
            }
        }
    }

    /// The payloads of the next `n` events of operation `id` (`next`, or `data`); any other
    /// message for it is an error.
    pub async fn events(&mut self, id: &str, n: usize) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let message = self.recv().await?;
            anyhow::ensure!(message["id"] == id, "expected an event of {id}, got {message}");
            match message["type"].as_str() {
                Some("next") | Some("data") => out.push(message["payload"].clone()),
                _ => anyhow::bail!("expected an event of {id}, got {message}"),
            }
        }
        Ok(out)
    }
}

/// Runs `git` in `dir` with a test identity and `main` as the default branch; its output.
pub fn git(dir: &std::path::Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
