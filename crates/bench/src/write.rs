//! `ferrobot-bench writes`: bulk creates through GraphQL mutations.
//!
//! Each run starts from an empty database (a SQLite file under `--dir`, or a database created
//! for the run on the PostgreSQL/MySQL server of `--database-url` and dropped afterwards),
//! imports a small seed (statuses, a location, a device type, a role and `--devices` devices),
//! starts the real `ferrobot serve` binary, and sends
//! `mutation($in: [InterfaceInput!]!) { interface_create_bulk(inputs: $in) { id } }` with
//! `--chunk` interfaces in each request's variables until `--objects` interfaces exist. It
//! reports the wall time, objects per second, per-request latency and the server's SQL
//! statements per request, then checks the interface count and (with the change log on) the
//! change-log rows through queries.
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench writes --runs 3
//! target/release/ferrobot-bench writes --no-change-log --chunk 1000
//! target/release/ferrobot-bench writes --database-url "$FERROBOT_TEST_POSTGRES_URL"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ferrobot_domain::Catalogue;
use ferrobot_persistence::import::Document;
use ferrobot_persistence::Store;
use serde_json::{json, Value};

use crate::{
    create_token, free_port, ms, report, rss_kib, server_binary, spawn_server, wait_ready,
    ChildGuard,
};

const MUTATION: &str =
    "mutation($in: [InterfaceInput!]!) { interface_create_bulk(inputs: $in) { id } }";

#[derive(clap::Args)]
pub(crate) struct WriteArgs {
    /// Devices in the seed; the interfaces are spread evenly over them.
    #[arg(long, default_value_t = 2000)]
    devices: usize,
    /// Interfaces created in all.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Interfaces per mutation request.
    #[arg(long, default_value_t = 5000)]
    chunk: usize,
    /// Start the server with `--no-change-log` (no change-log rows are written).
    #[arg(long)]
    no_change_log: bool,
    /// Runs, each on a fresh database.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Where the SQLite file lives (replaced at every run).
    #[arg(long, default_value = "target/bench/writes")]
    dir: PathBuf,
    /// The server binary; by default the `ferrobot` beside this one.
    #[arg(long)]
    server: Option<PathBuf>,
    /// An admin URL of a PostgreSQL or MySQL server: every run creates its own database there
    /// and drops it afterwards. Without it, a SQLite file under `--dir`.
    #[arg(long)]
    database_url: Option<String>,
    /// `RUST_LOG` for the server (its log goes to this process's stderr), e.g.
    /// `ferrobot_persistence=debug` for statement timings.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Print every request's latency and statement count.
    #[arg(long)]
    verbose: bool,
    /// The floor instead (SQLite only): the same rows inserted straight into the seeded file,
    /// no server (see `floor.rs`).
    #[arg(long, conflicts_with = "database_url")]
    floor: bool,
}

/// What one run measured.
struct RunResult {
    wall: Duration,
    latencies: Vec<Duration>,
    statements: Vec<u64>,
    seed: Duration,
    peak_rss_mib: u64,
}

pub(crate) async fn run(args: WriteArgs) -> Result<()> {
    ensure!(args.chunk > 0 && args.objects > 0 && args.devices > 0, "sizes must be positive");
    let per_device = args.objects.div_ceil(args.devices);
    report(&format!(
        "writes: {} interfaces ({per_device} per device, {} devices) in chunks of {}, change log {}, on {}",
        args.objects,
        args.devices,
        args.chunk,
        if args.no_change_log { "off" } else { "on" },
        match &args.database_url {
            Some(url) => backend_name(url),
            None => "SQLite",
        }
    ));
    if args.floor {
        return floor_runs(&args, per_device).await;
    }
    // The request bodies are made before any run so that the runs time only the server.
    let bodies = bodies(args.objects, args.chunk, per_device)?;
    let total_bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    report(&format!(
        "{} requests, {:.1} MB of request bodies",
        bodies.len(),
        total_bytes as f64 / 1e6
    ));
    report("| run | objects | wall | objects/s | request min | median | max | SQL statements/request | seed | server peak RSS |");
    report("|---|---|---|---|---|---|---|---|---|---|");
    let mut rates = Vec::new();
    for n in 1..=args.runs {
        let db = FreshDb::new(args.database_url.as_deref(), &args.dir, "writes").await?;
        let result = one_run(&args, &db.url, &bodies).await;
        db.drop_database().await?;
        let r = result?;
        let mut lat = r.latencies.clone();
        lat.sort();
        let rate = args.objects as f64 / r.wall.as_secs_f64();
        rates.push(rate);
        let (smin, smax) = (
            r.statements.iter().min().copied().unwrap_or(0),
            r.statements.iter().max().copied().unwrap_or(0),
        );
        let statements = if smin == smax { smin.to_string() } else { format!("{smin}–{smax}") };
        report(&format!(
            "| {n} | {} | {:.2} s | {:.0} | {} | {} | {} | {statements} | {:.1} s | {} MiB |",
            args.objects,
            r.wall.as_secs_f64(),
            rate,
            ms(lat[0]),
            ms(lat[lat.len() / 2]),
            ms(lat[lat.len() - 1]),
            r.seed.as_secs_f64(),
            r.peak_rss_mib,
        ));
    }
    if rates.len() > 1 {
        rates.sort_by(f64::total_cmp);
        report(&format!(
            "objects/s over {} runs: {:.0}–{:.0} (median {:.0})",
            rates.len(),
            rates[0],
            rates[rates.len() - 1],
            rates[rates.len() / 2]
        ));
    }
    Ok(())
}

pub(crate) fn backend_name(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        "MySQL"
    } else {
        "SQLite"
    }
}

/// The interfaces, device-major (`dev-00001` eth0 … eth49, `dev-00002` …), as request bodies
/// of `chunk` objects each, with the number of objects in each.
fn bodies(objects: usize, chunk: usize, per_device: usize) -> Result<Vec<(usize, Vec<u8>)>> {
    let inputs: Vec<Value> = (0..objects)
        .map(|k| {
            json!({
                "device": {"name": device_name(k / per_device)},
                "name": format!("eth{}", k % per_device),
                "type": "A_1000BASE_T",
                "status": {"name": "Active"},
            })
        })
        .collect();
    inputs
        .chunks(chunk)
        .map(|c| {
            let body = serde_json::to_vec(&json!({"query": MUTATION, "variables": {"in": c}}))?;
            Ok((c.len(), body))
        })
        .collect()
}

fn device_name(i: usize) -> String {
    format!("dev-{:05}", i + 1)
}

async fn one_run(args: &WriteArgs, url: &str, bodies: &[(usize, Vec<u8>)]) -> Result<RunResult> {
    let started = Instant::now();
    let token = seed(url, args.devices).await?;
    let seed_time = started.elapsed();
    let server = server_binary(args.server.as_deref())?;
    let port = free_port()?;
    let extra: &[&str] = if args.no_change_log { &["--no-change-log"] } else { &[] };
    let mut child = spawn_server(&server, url, port, extra, &args.server_log)?;
    let guard = ChildGuard(&mut child);
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    wait_ready(&client, &endpoint, &token).await?;
    let pid = guard.0.id();

    let mut latencies = Vec::new();
    let mut statements = Vec::new();
    let wall = Instant::now();
    for (n, (count, body)) in bodies.iter().enumerate() {
        let sent = Instant::now();
        let response = client
            .post(&endpoint)
            .header("Authorization", format!("Token {token}"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = response.status();
        let header = response
            .headers()
            .get("x-ferrobot-sql-statements")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let answer = response.bytes().await?;
        let latency = sent.elapsed();
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let created = parsed["data"]["interface_create_bulk"].as_array().map(Vec::len);
        if !status.is_success() || parsed.get("errors").is_some() || created != Some(*count) {
            bail!(
                "request {n}: HTTP {status}, {} of {count} created: {}",
                created.map_or("none".to_owned(), |c| c.to_string()),
                String::from_utf8_lossy(&answer[..answer.len().min(600)])
            );
        }
        if args.verbose {
            report(&format!(
                "  request {n}: {count} objects, {}, {} statements",
                ms(latency),
                header.map_or("-".to_owned(), |s| s.to_string())
            ));
        }
        latencies.push(latency);
        statements.extend(header);
    }
    let wall = wall.elapsed();
    let peak_rss_mib = rss_kib(pid, "VmHWM") / 1024;
    verify(&client, &endpoint, &token, args.objects, !args.no_change_log).await?;
    drop(guard);
    Ok(RunResult { wall, latencies, statements, seed: seed_time, peak_rss_mib })
}

/// `--floor`: seeded files filled by [`crate::floor`], objects/s a run.
async fn floor_runs(args: &WriteArgs, per_device: usize) -> Result<()> {
    report("| run | objects | wall | objects/s |");
    report("|---|---|---|---|");
    for n in 1..=args.runs {
        let db = FreshDb::new(None, &args.dir, "floor").await?;
        seed(&db.url, args.devices).await?;
        let path = db.url.trim_start_matches("sqlite://").to_owned();
        let (objects, chunk, log) = (args.objects, args.chunk, !args.no_change_log);
        let wall = tokio::task::spawn_blocking(move || {
            crate::floor::run(&path, objects, chunk, per_device, log)
        })
        .await??;
        report(&format!(
            "| {n} | {objects} | {:.2} s | {:.0} |",
            wall.as_secs_f64(),
            objects as f64 / wall.as_secs_f64()
        ));
    }
    Ok(())
}

/// Checks through queries that exactly `objects` interfaces exist, and that the change log has
/// one create row for each of them (or none without the change log).
async fn verify(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    objects: usize,
    change_log: bool,
) -> Result<()> {
    let changes = if change_log { objects } else { 0 };
    let query = format!(
        "{{ last: interfaces(limit: 1, offset: {}) {{ name }} past: interfaces(limit: 1, offset: {objects}) {{ name }} \
         last_change: object_changes(changed_object_type: \"dcim.interface\", action: \"create\", limit: 1, offset: {}) {{ id }} \
         past_change: object_changes(changed_object_type: \"dcim.interface\", action: \"create\", limit: 1, offset: {changes}) {{ id }} }}",
        objects - 1,
        changes.saturating_sub(1),
    );
    let response = client
        .post(endpoint)
        .header("Authorization", format!("Token {token}"))
        .json(&json!({ "query": query }))
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.context("the check's answer")?;
    let len = |key: &str| answer["data"][key].as_array().map(Vec::len);
    let want_last_change = if change_log { Some(1) } else { Some(0) };
    if !status.is_success()
        || answer.get("errors").is_some()
        || len("last") != Some(1)
        || len("past") != Some(0)
        || len("last_change") != want_last_change
        || len("past_change") != Some(0)
    {
        bail!("check failed: expected {objects} interfaces and {changes} create changes; query {query}; HTTP {status}: {answer}");
    }
    Ok(())
}

/// Migrates the empty database at `url`, imports the seed, and returns a token key.
pub(crate) async fn seed(url: &str, devices: usize) -> Result<String> {
    let catalogue = Arc::new(Catalogue::core()?);
    let store = Store::connect(url, catalogue).await?;
    ferrobot_migrations::migrate(&store).await?;
    store
        .import(&[Document { name: "seed".into(), body: seed_document(devices) }], &|_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = create_token(&store).await?;
    store.close().await;
    Ok(key)
}

/// Statuses, one location, one device type, one role and `devices` devices.
fn seed_document(devices: usize) -> Value {
    let devices: Vec<Value> = (0..devices)
        .map(|i| {
            json!({
                "name": device_name(i), "status": "Active", "role": "leaf", "location": "site-1",
                "device_type": {"manufacturer": "Acme", "model": "acme-s48"},
            })
        })
        .collect();
    json!({
        "extras.status": [
            {"name": "Active", "content_types": ["dcim.device", "dcim.interface", "dcim.location"]},
            {"name": "Planned", "content_types": ["dcim.device", "dcim.interface"]},
        ],
        "extras.role": [{"name": "leaf", "content_types": ["dcim.device"]}],
        "dcim.locationtype": [{"name": "Site", "content_types": ["dcim.device"]}],
        "dcim.location": [{"name": "site-1", "location_type": "Site", "status": "Active"}],
        "dcim.manufacturer": [{"name": "Acme"}],
        "dcim.devicetype": [{"manufacturer": "Acme", "model": "acme-s48"}],
        "dcim.device": devices,
    })
}

/// The database of one run: a new SQLite file `<dir>/<stem>.sqlite3`, or a new database
/// `fb_<stem>_<uuid>` on the server of `database_url`, dropped by [`FreshDb::drop_database`].
pub(crate) struct FreshDb {
    pub(crate) url: String,
    admin: Option<(String, String)>,
}

impl FreshDb {
    pub(crate) async fn new(database_url: Option<&str>, dir: &Path, stem: &str) -> Result<FreshDb> {
        match database_url {
            None => {
                std::fs::create_dir_all(dir)?;
                let path = std::fs::canonicalize(dir)?.join(format!("{stem}.sqlite3"));
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Ok(FreshDb { url: format!("sqlite://{}", path.display()), admin: None })
            }
            Some(admin) => {
                let name = format!("fb_{stem}_{}", uuid::Uuid::new_v4().simple());
                admin_execute(admin, &format!("CREATE DATABASE {name}")).await?;
                let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
                Ok(FreshDb { url: format!("{base}/{name}"), admin: Some((admin.to_owned(), name)) })
            }
        }
    }

    pub(crate) async fn drop_database(self) -> Result<()> {
        if let Some((admin, name)) = self.admin {
            let sql = if admin.starts_with("postgres") {
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            } else {
                format!("DROP DATABASE IF EXISTS {name}")
            };
            admin_execute(&admin, &sql).await?;
        }
        Ok(())
    }
}

async fn admin_execute(admin: &str, sql: &str) -> Result<()> {
    let store = Store::connect(admin, Arc::new(Catalogue::core()?)).await?;
    store.execute_admin(sql).await.with_context(|| sql.to_owned())?;
    store.close().await;
    Ok(())
}
