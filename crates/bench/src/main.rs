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
use ferrobot_persistence::import::Document;
use ferrobot_persistence::Store;
use serde_json::{json, Value};

mod load;
mod sweep;
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
}

#[derive(Subcommand)]
enum Bench {
    /// Bulk creates through GraphQL mutations (`interface_create_bulk`) on a fresh database.
    Writes(write::WriteArgs),
    /// Concurrent clients mixing reads and writes, then a bulk write under reads.
    Load(load::LoadArgs),
    /// The one-device query at 1, 8, 32, 128 concurrent clients, with and without a writer.
    Sweep(sweep::SweepArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Bench::Writes(writes)) => return write::run(writes).await,
        Some(Bench::Load(load)) => return load::run(load).await,
        Some(Bench::Sweep(sweep)) => return sweep::run(sweep).await,
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
    let token = std::fs::read_to_string(&token_path)?.trim().to_owned();
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

/// Creates the database, imports the dataset in one transaction, and returns a token key.
async fn load(url: &str, n_devices: usize, n_interfaces: usize) -> Result<String> {
    let catalogue = Arc::new(Catalogue::core()?);
    let store = Store::connect(url, catalogue).await?;
    ferrobot_migrations::migrate(&store).await?;
    let body = dataset(n_devices, n_interfaces);
    store
        .import(&[Document { name: "dataset".into(), body }], &|_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = create_token(&store).await?;
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

/// The first two octets of site `k`'s networks: `10.K` as `dataset.md` defines them, carried on
/// into `11.(K-256)` … past site 255, where `10.K` stops being an address (100,000 devices have
/// 800 sites). Smaller datasets are unchanged.
fn site_net(k: usize) -> String {
    format!("{}.{}", 10 + k / 256, k % 256)
}

/// The dataset of `shared/bench/dataset.md`, in the import format.
pub fn dataset(n_devices: usize, n_interfaces: usize) -> Value {
    let all = [
        "dcim.device",
        "dcim.interface",
        "dcim.location",
        "dcim.rack",
        "ipam.prefix",
        "ipam.ipaddress",
        "ipam.vlan",
        "dcim.cable",
    ];
    let n_sites = n_devices.div_ceil(125);
    let site = |k: usize| format!("site-{k:03}");
    let mut locations = vec![
        json!({"name": "region-1", "location_type": "Region", "status": "Active"}),
        json!({"name": "region-2", "location_type": "Region", "status": "Active"}),
    ];
    let mut racks = Vec::new();
    let mut prefixes = Vec::new();
    let mut vlan_groups = Vec::new();
    let mut vlans = Vec::new();
    for k in 1..=n_sites {
        locations.push(json!({"name": site(k), "location_type": "Site", "status": "Active", "parent": format!("region-{}", k % 2 + 1)}));
        prefixes.push(json!({"prefix": format!("{}.0.0/16", site_net(k)), "type": "container", "status": "Active", "namespace": "bench", "locations": [site(k)]}));
        vlan_groups.push(
            json!({"name": format!("vg-{}", site(k)), "location": site(k), "range": "1-4094"}),
        );
        for vid in 100..200 {
            vlans.push(json!({"vid": vid, "name": format!("vlan-{vid}"), "status": "Active", "vlan_group": format!("vg-{}", site(k)), "locations": [site(k)]}));
        }
    }
    let mut devices = Vec::new();
    let mut interfaces = Vec::new();
    let mut ips = Vec::new();
    let mut cables = Vec::new();
    let mut terminations = Vec::new();
    let types = ["acme-s48", "acme-s96", "globex-x48", "globex-x96"];
    for i in 0..n_devices {
        let k = i / 125 + 1;
        let j = i % 125;
        let rr = j / 20 + 1;
        let rack = format!("rack-{k:03}-{rr:02}");
        if j % 20 == 0 {
            racks.push(json!({"name": rack, "location": site(k), "status": "Active"}));
        }
        let name = format!("dev-{:05}", i + 1);
        let address = format!("{}.{j}.1/24", site_net(k));
        prefixes.push(json!({"prefix": format!("{}.{j}.0/24", site_net(k)), "type": "network", "status": "Active", "namespace": "bench", "locations": [site(k)]}));
        ips.push(json!({"address": address, "status": "Active", "namespace": "bench"}));
        let ty = types[i % 4];
        let manufacturer = if i % 4 < 2 { "Acme" } else { "Globex" };
        let role = ["leaf", "spine", "border"][i % 3];
        devices.push(json!({
            "name": name, "status": "Active", "role": role,
            "device_type": {"manufacturer": manufacturer, "model": ty},
            "platform": if i % 4 < 2 { "acme-os" } else { "globex-os" },
            "tenant": format!("tenant-{}", i % 5 + 1), "location": site(k), "rack": rack,
            "serial": format!("SN{:08}", i + 1),
            "tags": [format!("tag-{}", i % 5 + 1), format!("tag-{}", (i + 1) % 5 + 1)],
            "custom_fields": {"owner_team": format!("team-{}", i % 7 + 1)},
            "primary_ip4": {"address": address},
        }));
        for e in 0..n_interfaces {
            let mut iface = json!({"device": name, "name": format!("eth{e}"), "type": "1000base-t", "status": "Active"});
            if e == 0 {
                iface["tags"] = json!([format!("tag-{}", i % 5 + 1)]);
                iface["ip_addresses"] = json!([{"address": address}]);
            }
            interfaces.push(iface);
        }
        if i % 10 == 0 && i + 1 < n_devices {
            let id = uuid::Uuid::new_v4().to_string();
            let last = format!("eth{}", n_interfaces - 1);
            cables.push(json!({"id": id, "status": "Connected", "type": "cat6"}));
            terminations.push(
                json!({"cable": id, "cable_end": "A", "interface": {"device": name, "name": last}}),
            );
            terminations.push(json!({"cable": id, "cable_end": "B", "interface": {"device": format!("dev-{:05}", i + 2), "name": last}}));
        }
    }
    json!({
        "extras.status": [
            {"name": "Active", "content_types": all},
            {"name": "Connected", "content_types": ["dcim.cable"]},
        ],
        "extras.role": [
            {"name": "leaf", "content_types": ["dcim.device"]},
            {"name": "spine", "content_types": ["dcim.device"]},
            {"name": "border", "content_types": ["dcim.device"]},
        ],
        "extras.tag": (1..=5).map(|t| json!({"name": format!("tag-{t}")})).collect::<Vec<_>>(),
        "extras.customfield": [{"key": "owner_team", "label": "Owner team", "type": "text", "content_types": ["dcim.device"]}],
        "tenancy.tenant": (1..=5).map(|t| json!({"name": format!("tenant-{t}")})).collect::<Vec<_>>(),
        "ipam.namespace": [{"name": "Global"}, {"name": "bench"}],
        "dcim.locationtype": [
            {"name": "Region", "nestable": false, "content_types": []},
            {"name": "Site", "parent": "Region", "content_types": ["dcim.device", "dcim.rack", "ipam.prefix", "ipam.vlan", "ipam.vlangroup"]},
        ],
        "dcim.location": locations,
        "dcim.manufacturer": [{"name": "Acme"}, {"name": "Globex"}],
        "dcim.devicetype": types.iter().enumerate().map(|(n, t)| json!({"manufacturer": if n < 2 { "Acme" } else { "Globex" }, "model": t})).collect::<Vec<_>>(),
        "dcim.platform": [
            {"name": "acme-os", "manufacturer": "Acme", "network_driver": "cisco_ios"},
            {"name": "globex-os", "manufacturer": "Globex", "network_driver": "arista_eos"},
        ],
        "dcim.rack": racks,
        "ipam.prefix": prefixes,
        "ipam.ipaddress": ips,
        "ipam.vlangroup": vlan_groups,
        "ipam.vlan": vlans,
        "dcim.device": devices,
        "dcim.interface": interfaces,
        "dcim.cable": cables,
        "dcim.cabletocabletermination": terminations,
    })
}
