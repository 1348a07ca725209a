//! `ferrobot-bench`: loads the dataset of `shared/bench/dataset.md` at a chosen size into a
//! SQLite file, starts the real `ferrobot serve` binary on it, and times the queries of
//! `shared/bench/queries.json` through HTTP (minimum and median of several runs, response size,
//! SQL statements per query, the server's peak memory while answering query d).
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench --devices 1000 --queries ../shared/bench/queries.json
//! ```
//!
//! `ferrobot-bench writes …` times bulk creates through GraphQL mutations instead (see
//! [`write`]); `ferrobot-bench load …` runs many concurrent clients mixing reads and writes, and
//! a bulk write under reads (see [`load`](mod@load)); `ferrobot-bench sweep …` times one small
//! query at rising numbers of clients, with and without a writer beside them (see [`sweep`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferrobot_domain::Catalogue;
use ferrobot_gateway::auth;
use ferrobot_persistence::import::{self, ImportOptions, Item};
use ferrobot_persistence::Store;
use serde_json::{json, Value};

mod dataset;
mod feed;
mod floor;
mod load;
mod render;
mod sweep;
mod webhooks;
mod write;

#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    /// Without a subcommand: the query benchmark.
    #[command(subcommand)]
    command: Option<Bench>,
    /// Number of devices (1,000 / 10,000 / 100,000 in the published figures).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Interfaces per device.
    #[arg(long, default_value_t = 48)]
    interfaces: usize,
    /// The benchmark queries.
    #[arg(long, default_value = "../shared/bench/queries.json")]
    queries: PathBuf,
    /// Runs per query (the minimum and the median are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where the database lives; reused when it already holds this size.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// The server binary; by default the `ferrobot` beside this one.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Measure on this database (an empty PostgreSQL or MySQL database) instead of a SQLite
    /// file under `--dir`; the dataset is loaded once and remembered by a token file.
    #[arg(long)]
    database_url: Option<String>,
    /// Ask as a user that is no superuser, whose object permissions allow the devices and
    /// interfaces of half the locations (those under region-1) and every object of the rest.
    #[arg(long)]
    constrained: bool,
    /// Instead of the queries: the fleet render (`POST /api/render/`, Golden Config's query and
    /// an IOS-like template) of one device and of every device.
    #[arg(long)]
    render: bool,
}

#[derive(Subcommand)]
enum Bench {
    /// Bulk creates through GraphQL mutations (`interface_create_bulk`) on a fresh database.
    Writes(write::WriteArgs),
    /// Concurrent clients mixing reads and writes, then a bulk write under reads.
    Load(load::LoadArgs),
    /// Writes the dataset as one JSON file of the import format, object by object.
    Dataset {
        /// Number of devices.
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        /// Interfaces per device.
        #[arg(long, default_value_t = 48)]
        interfaces: usize,
        /// The file to write (`-`: standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// The one-device query at 1, 8, 32, 128 concurrent clients, with and without a writer.
    Sweep(sweep::SweepArgs),
    /// The change feed over WebSockets: commit-to-subscriber latency at rising numbers of
    /// subscribers, memory per idle subscriber, and the replay rate from the log.
    Feed(feed::FeedArgs),
    /// Webhook delivery throughput to a loopback receiver, at one and several webhooks.
    Webhooks(webhooks::WebhookArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Bench::Writes(writes)) => return write::run(writes).await,
        Some(Bench::Load(load)) => return load::run(load).await,
        Some(Bench::Dataset { devices, interfaces, out }) => {
            let mut out: Box<dyn std::io::Write> = if out.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    std::fs::File::create(&out)
                        .with_context(|| format!("create {}", out.display()))?,
                )
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut out);
            let objects = dataset::write_json(devices, interfaces, &mut out)?;
            std::io::Write::flush(&mut out)?;
            report(&format!("{objects} objects"));
            return Ok(());
        }
        Some(Bench::Sweep(sweep)) => return sweep::run(sweep).await,
        Some(Bench::Feed(feed)) => return feed::run(feed).await,
        Some(Bench::Webhooks(hooks)) => return webhooks::run(hooks).await,
        None => {}
    }
    let dir = args.dir.join(format!("{}x{}", args.devices, args.interfaces));
    std::fs::create_dir_all(&dir)?;
    let db_path = std::fs::canonicalize(&dir)?.join("bench.sqlite3");
    let (url, token_path) = match &args.database_url {
        Some(url) => {
            let tag: String = url.chars().filter(char::is_ascii_alphanumeric).collect();
            (url.clone(), dir.join(format!("token-{tag}")))
        }
        None => (format!("sqlite://{}", db_path.display()), dir.join("token")),
    };
    if !token_path.exists() {
        if args.database_url.is_none() {
            let _ = std::fs::remove_file(&db_path);
        }
        let started = Instant::now();
        let token = load(&url, args.devices, args.interfaces).await?;
        std::fs::write(&token_path, &token)?;
        report(&format!(
            "loaded {} devices in {:.1} s",
            args.devices,
            started.elapsed().as_secs_f64()
        ));
    }
    let mut token = std::fs::read_to_string(&token_path)?.trim().to_owned();
    if args.constrained {
        let path = token_path.with_extension("constrained");
        if !path.exists() {
            std::fs::write(&path, constrained_user(&url).await?)?;
        }
        token = std::fs::read_to_string(&path)?.trim().to_owned();
        report("asking as a user whose permissions allow half the devices");
    }
    let server = server_binary(args.server.as_deref())?;
    let port = free_port()?;
    let spawned = Instant::now();
    let mut child = spawn_server(&server, &url, port, &[], "warn")?;
    let guard = ChildGuard(&mut child);
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    wait_ready(&client, &endpoint, &token).await?;
    report(&format!(
        "server answering {:.0} ms after spawn",
        spawned.elapsed().as_secs_f64() * 1000.0
    ));
    let pid = guard.0.id();
    if args.render {
        render::run(&client, &format!("http://127.0.0.1:{port}"), &token, args.runs).await?;
        drop(guard);
        return Ok(());
    }

    let queries: Value = serde_json::from_str(&std::fs::read_to_string(&args.queries)?)?;
    let mut list: Vec<(String, String)> = queries["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| Some((q["name"].as_str()?.to_owned(), q["query"].as_str()?.to_owned())))
        .collect();
    // Query d first, so the peak memory read after it is the peak while serving it.
    list.sort_by_key(|(name, _)| !name.starts_with("d_"));
    let baseline = rss_kib(pid, "VmRSS");
    report("| query | min | median | size | SQL statements |");
    report("|---|---|---|---|---|");
    for (name, query) in list {
        let mut times = Vec::new();
        let mut size = 0;
        let mut statements = String::new();
        for _ in 0..args.runs {
            let started = Instant::now();
            let response = client
                .post(&endpoint)
                .header("Authorization", format!("Token {token}"))
                .json(&json!({ "query": query }))
                .send()
                .await?;
            let status = response.status();
            statements = response
                .headers()
                .get("x-ferrobot-sql-statements")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let body = response.bytes().await?;
            times.push(started.elapsed());
            size = body.len();
            if !status.is_success() || body.starts_with(b"{\"errors\"") {
                bail!(
                    "{name}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                );
            }
        }
        times.sort();
        report(&format!(
            "| {name} | {} | {} | {} | {statements} |",
            ms(times[0]),
            ms(times[times.len() / 2]),
            bytes(size)
        ));
        if name.starts_with("d_") {
            let peak = rss_kib(pid, "VmHWM");
            report(&format!(
                "| (server memory: {} MiB before, peak {} MiB after d) | | | | |",
                baseline / 1024,
                peak / 1024
            ));
        }
    }
    drop(guard);
    Ok(())
}

/// The server binary: `explicit`, or the `ferrobot` beside this one.
fn server_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    Ok(match explicit {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?.with_file_name("ferrobot"),
    })
}

/// Starts `server serve` on `127.0.0.1:port` over `url`, with `extra` serve flags.
fn spawn_server(
    server: &Path,
    url: &str,
    port: u16,
    extra: &[&str],
    rust_log: &str,
) -> Result<Child> {
    spawn_server_to(server, url, port, extra, rust_log, Stdio::inherit())
}

/// [`spawn_server`] with the server's log (its stderr) sent to `log`.
fn spawn_server_to(
    server: &Path,
    url: &str,
    port: u16,
    extra: &[&str],
    rust_log: &str,
    log: Stdio,
) -> Result<Child> {
    Command::new(server)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("FERROBOT_DATABASE_URL", url)
        .env("FERROBOT_JWT_SECRET", "bench-only-secret")
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}", server.display()))
}

#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn bytes(n: usize) -> String {
    if n > 1 << 20 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{:.1} kB", n as f64 / 1e3)
    }
}

struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn wait_ready(client: &reqwest::Client, endpoint: &str, token: &str) -> Result<()> {
    for _ in 0..200 {
        let sent = client
            .post(endpoint)
            .header("Authorization", format!("Token {token}"))
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the server did not answer within 5 s")
}

/// Creates the database, imports the dataset in one transaction (generated on a thread of its
/// own as the import writes it, so that no size needs it whole in memory), and returns a token
/// key.
async fn load(url: &str, n_devices: usize, n_interfaces: usize) -> Result<String> {
    let catalogue = Arc::new(Catalogue::core()?);
    let store = Store::connect(url, catalogue).await?;
    ferrobot_migrations::migrate(&store).await?;
    let (sender, feed) = import::feed();
    let generator = std::thread::spawn(move || {
        let document: Arc<str> = Arc::from("dataset");
        let mut section = "";
        dataset::generate(n_devices, n_interfaces, &mut |label, object| {
            if section != label {
                section = label;
                let header = Item::Section { document: document.clone(), label: label.into() };
                sender.blocking_send(Ok(header))?;
            }
            sender.blocking_send(Ok(Item::Object(object)))?;
            Ok(())
        })
    });
    let imported = store.import_feed(feed, ImportOptions::default(), &|_| {}).await;
    // The generator stops on its own when the import failed (its sends fail).
    let generated =
        generator.join().map_err(|_| anyhow::anyhow!("the dataset generator panicked"))?;
    imported.map_err(|e| anyhow::anyhow!("{e}"))?;
    generated?;
    let key = create_token(&store).await?;
    store.close().await;
    Ok(key)
}

/// Creates the user `bench-half` and its permissions: the devices and interfaces of the
/// locations under region-1 (half of them), every object of the other models; returns a new
/// token key for it.
async fn constrained_user(url: &str) -> Result<String> {
    let catalogue = Arc::new(Catalogue::core()?);
    let store = Store::connect(url, catalogue.clone()).await?;
    ferrobot_migrations::migrate(&store).await?;
    let hash = auth::hash_password("bench").map_err(anyhow::Error::msg)?;
    let user = store.create_user("bench-half", &hash, false).await?;
    let halved = ["dcim.device", "dcim.interface"];
    let rest: Vec<&str> = catalogue
        .models()
        .iter()
        .filter(|m| m.graphql.is_some() && !halved.contains(&m.label.as_str()))
        .map(|m| m.label.as_str())
        .collect();
    let perm = |name: &str, types: Vec<&str>, constraints: Value| {
        json!({"name": name, "actions": ["view"], "object_types": types,
               "constraints": constraints, "users": [{"username": "bench-half"}]})
    };
    let body = json!({"users.objectpermission": [
        perm("half the devices", vec!["dcim.device"], json!({"location__parent__name": "region-1"})),
        perm("their interfaces", vec!["dcim.interface"], json!({"device__location__parent__name": "region-1"})),
        perm("the rest", rest, Value::Null),
    ]});
    let documents = [import::Document { name: "permissions".into(), body }];
    store.import(&documents, &|_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = auth::new_token_key();
    store.create_token(user, &auth::token_digest(&key), None, "bench").await?;
    store.close().await;
    Ok(key)
}

/// Creates the superuser `bench` and returns a new token key for it.
async fn create_token(store: &Store) -> Result<String> {
    let hash = auth::hash_password("bench").map_err(anyhow::Error::msg)?;
    let user = store.create_user("bench", &hash, true).await?;
    let key = auth::new_token_key();
    store.create_token(user, &auth::token_digest(&key), None, "bench").await?;
    Ok(key)
}
