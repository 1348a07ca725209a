//! `ferrobot-bench load`: many concurrent clients reading and writing through HTTP.
//!
//! Each run starts from a fresh database (a SQLite file under `--dir`, or a database
//! `fb_load_<uuid>` created on the PostgreSQL/MySQL server of `--database-url` and dropped
//! afterwards), loads the dataset of `shared/bench/dataset.md` at `--devices` devices, starts the
//! real `ferrobot serve` binary (its log goes to `<dir>/server.log`) and runs two phases against
//! it.
//!
//! **Mixed load.** `--clients` clients, each one loop of requests, one at a time, over one shared
//! `reqwest::Client` whose pool keeps a connection per client, for `--seconds` seconds (every
//! client stops at the deadline; a request in flight then still counts). A request is a write
//! with probability `--write-percent` %, else a read:
//!
//! - reads: `device` (one device by name with its status, primary IPv4 address and interfaces,
//!   50 % of the reads), `devices_page` (a page of 50 devices with status, role, location,
//!   primary IP, tenant and tags at a random offset, 25 %), `location_devices` (one site with its
//!   125 devices, their status and role, 25 %);
//! - writes, in a cycle per client (started at a random point): `tag_create` (a new tag with a
//!   unique name), `device_update` (a random device's serial or comments, by id),
//!   `location_create` (a new site under `region-1`), `delete` (the oldest object this client
//!   created: `tag_delete` or `location_delete` by id), `device_update`, `delete`.
//!
//! A refusal of a busy database (HTTP 503, `extensions.code` `BUSY`, `Retry-After`) is counted
//! apart from the other errors, and the client waits `Retry-After` before its next request (it
//! does not send the same request again). Errors are counted by HTTP status and
//! `errors[0].extensions.code` (`-` without a code; `transport` when no answer came, e.g. after
//! `--timeout`). Latencies are those of every answer, errors included, from the request sent to
//! its body read. The report has, per operation: count, BUSY, other errors, throughput over the
//! phase's wall time, p50/p90/p99/max; then the completions per second (a second with none is a
//! stall), the server's resident memory (peak `VmHWM` and the largest `VmRSS` sampled every
//! second), its thread count (largest sampled and at the end) and its CPU time beside the
//! bench's own (both share the machine).
//!
//! **Bulk write under reads** (`--bulk N`, 0 skips it). `--bulk-readers` clients read as above
//! (reads only) while one more client waits `--bulk-pause` seconds, sends one
//! `interface_create_bulk` of N interfaces (`bulk-<k>` spread over the devices), waits
//! `--bulk-pause` seconds, sends one `interface_delete_bulk` of the same N by id, and after
//! `--bulk-pause` seconds more the readers stop. Reads are grouped by when they ran: before the
//! bulk create, overlapping the create, overlapping the delete, and the rest (between and after);
//! for each: count, errors, p50/p90/p99/max. The bulk requests' own time, answer and SQL
//! statements are reported too; they have their own timeout (`--bulk-timeout`), and a bulk
//! request that fails is reported as such (the delete is skipped when the create failed).
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench load                                  # 200 clients, 60 s, 10 % writes, bulk 5,000
//! target/release/ferrobot-bench load --clients 50 --seconds 10 --bulk 0
//! scripts/test-dbs.sh start && eval "$(scripts/test-dbs.sh env)"
//! target/release/ferrobot-bench load --database-url "$FERROBOT_TEST_POSTGRES_URL"
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::write::{backend_name, FreshDb};
use crate::{
    free_port, ms, report, rss_kib, server_binary, spawn_server_to, wait_ready, ChildGuard,
};

#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// Devices in the dataset (125 a site).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Interfaces per device.
    #[arg(long, default_value_t = 48)]
    interfaces: usize,
    /// Concurrent clients of the mixed phase.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Length of the mixed phase, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Share of writes among the mixed phase's requests, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    write_percent: u32,
    /// Objects in the bulk create and the bulk delete of the second phase; 0 skips the phase.
    #[arg(long, default_value_t = 5000)]
    bulk: usize,
    /// Reading clients during the bulk phase.
    #[arg(long, default_value_t = 32)]
    bulk_readers: usize,
    /// Seconds of reads before the bulk create, between it and the bulk delete, and after.
    #[arg(long, default_value_t = 5)]
    bulk_pause: u64,
    /// A request with no answer after this many seconds counts as a transport error.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// The same for the two bulk requests.
    #[arg(long, default_value_t = 600)]
    bulk_timeout: u64,
    /// Where the SQLite file and the server's log live (the file is replaced at every run).
    #[arg(long, default_value = "target/bench/load")]
    dir: PathBuf,
    /// The server binary; by default the `ferrobot` beside this one.
    #[arg(long)]
    server: Option<PathBuf>,
    /// An admin URL of a PostgreSQL or MySQL server: the run creates its own database there
    /// and drops it afterwards. Without it, a SQLite file under `--dir`.
    #[arg(long)]
    database_url: Option<String>,
    /// `RUST_LOG` for the server; its log goes to `<dir>/server.log`.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Print the completions, resident memory and threads of every second.
    #[arg(long)]
    timeline: bool,
}

pub(crate) async fn run(args: LoadArgs) -> Result<()> {
    ensure!(args.devices > 0 && args.interfaces > 0, "sizes must be positive");
    ensure!(args.clients > 0 && args.seconds > 0, "at least one client for at least a second");
    report(&format!(
        "load: {} devices × {} interfaces on {}; {} clients for {} s, {} % writes; bulk {} with {} readers",
        args.devices,
        args.interfaces,
        args.database_url.as_deref().map_or("SQLite", backend_name),
        args.clients,
        args.seconds,
        args.write_percent,
        args.bulk,
        args.bulk_readers,
    ));
    let db = FreshDb::new(args.database_url.as_deref(), &args.dir, "load").await?;
    let result = one_run(&args, &db.url).await;
    db.drop_database().await?;
    result
}

async fn one_run(args: &LoadArgs, url: &str) -> Result<()> {
    let started = Instant::now();
    let token = crate::load(url, args.devices, args.interfaces).await?;
    report(&format!("loaded {} devices in {:.1} s", args.devices, started.elapsed().as_secs_f64()));
    let server = server_binary(args.server.as_deref())?;
    let port = free_port()?;
    std::fs::create_dir_all(&args.dir)?;
    let log_path = args.dir.join("server.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("create {}", log_path.display()))?;
    let mut child = spawn_server_to(&server, url, port, &[], &args.server_log, Stdio::from(log))?;
    let guard = ChildGuard(&mut child);
    let pid = guard.0.id();
    let endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    let pool = args.clients.max(args.bulk_readers) + 2;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(args.timeout))
        .build()?;
    wait_ready(&client, &endpoint, &token).await?;

    let ctx = Arc::new(Ctx::new(client, endpoint, &token, args).await?);
    report(&format!(
        "server pid {pid}: {} MiB resident, {} threads before the load",
        rss_kib(pid, "VmRSS") / 1024,
        rss_kib(pid, "Threads")
    ));

    mixed_phase(&ctx, args, pid).await?;
    if args.bulk > 0 {
        bulk_phase(&ctx, args, pid).await?;
    }
    report(&format!(
        "server at the end: peak {} MiB resident (VmHWM), {} MiB now, {} threads",
        rss_kib(pid, "VmHWM") / 1024,
        rss_kib(pid, "VmRSS") / 1024,
        rss_kib(pid, "Threads")
    ));
    drop(guard);
    summarize_log(&log_path)?;
    Ok(())
}

/// What every client shares.
struct Ctx {
    client: reqwest::Client,
    endpoint: String,
    auth: String,
    /// `(id, name)` of every device of the dataset.
    devices: Vec<(String, String)>,
    sites: usize,
    /// Tells this run's object names apart (the database is fresh, but the names stay readable).
    run: String,
    /// Answers received, for the per-second timeline.
    completed: AtomicU64,
}

impl Ctx {
    async fn new(
        client: reqwest::Client,
        endpoint: String,
        token: &str,
        args: &LoadArgs,
    ) -> Result<Ctx> {
        let mut ctx = Ctx {
            client,
            endpoint,
            auth: format!("Token {token}"),
            devices: Vec::new(),
            sites: args.devices.div_ceil(125),
            run: uuid::Uuid::new_v4().simple().to_string()[..6].to_owned(),
            completed: AtomicU64::new(0),
        };
        let (_, answer) = ctx.send(&json!({"query": "{ devices { id name } }"})).await;
        let answer = answer.map_err(|f| anyhow::anyhow!("listing the devices: {}", f.message))?;
        ctx.devices = answer["data"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["id"].as_str()?.to_owned(), d["name"].as_str()?.to_owned())))
            .collect();
        ensure!(ctx.devices.len() == args.devices, "expected {} devices", args.devices);
        Ok(ctx)
    }

    /// Sends one GraphQL request; the time until its body is read, and its `data` or why not.
    async fn send(&self, body: &Value) -> (Duration, Result<Value, Failure>) {
        let sent = Instant::now();
        let response = self
            .client
            .post(&self.endpoint)
            .header("Authorization", &self.auth)
            .json(body)
            .send()
            .await;
        let outcome = match response {
            Err(e) => Err(Failure::transport(&e)),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match response.bytes().await {
                    Err(e) => Err(Failure::transport(&e)),
                    Ok(bytes) => {
                        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let error = &parsed["errors"][0];
                        if status == 200 && error.is_null() && parsed["data"].is_object() {
                            Ok(parsed)
                        } else {
                            let code = error["extensions"]["code"].as_str().unwrap_or("-");
                            let message = match error["message"].as_str() {
                                Some(m) => m.to_owned(),
                                None => String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                                    .into_owned(),
                            };
                            Err(Failure {
                                key: format!("{status} {code}"),
                                busy: code == "BUSY",
                                retry_after,
                                message,
                            })
                        }
                    }
                }
            }
        };
        self.completed.fetch_add(1, Ordering::Relaxed);
        (sent.elapsed(), outcome)
    }
}

/// Why a request did not succeed.
struct Failure {
    /// `"<HTTP status> <extensions.code>"`, or `"transport <kind>"`.
    key: String,
    busy: bool,
    retry_after: Option<u64>,
    message: String,
}

impl Failure {
    fn transport(e: &reqwest::Error) -> Failure {
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else {
            "other"
        };
        Failure {
            key: format!("transport {kind}"),
            busy: false,
            retry_after: None,
            message: e.to_string(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Device,
    DevicesPage,
    LocationDevices,
    TagCreate,
    LocationCreate,
    DeviceUpdate,
    TagDelete,
    LocationDelete,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::DevicesPage => "devices_page",
            Kind::LocationDevices => "location_devices",
            Kind::TagCreate => "tag_create",
            Kind::LocationCreate => "location_create",
            Kind::DeviceUpdate => "device_update",
            Kind::TagDelete => "tag_delete",
            Kind::LocationDelete => "location_delete",
        }
    }

    fn is_read(self) -> bool {
        matches!(self, Kind::Device | Kind::DevicesPage | Kind::LocationDevices)
    }
}

/// One answered request.
struct Sample {
    kind: Kind,
    /// When it was sent, from the phase's start.
    start: Duration,
    latency: Duration,
    /// The failure's key, whether it was a BUSY refusal, and its message.
    error: Option<(String, bool, String)>,
}

const DEVICE: &str = "query($name: [String]) { devices(name: $name) { name status { name } primary_ip4 { address } interfaces { name status { name } } } }";
const DEVICES_PAGE: &str = "query($offset: Int) { devices(limit: 50, offset: $offset) { name status { name } role { name } location { name } primary_ip4 { address } tenant { name } tags { name } } }";
const LOCATION_DEVICES: &str = "query($name: [String]) { locations(name: $name) { name devices { name status { name } role { name } } } }";
const TAG_CREATE: &str = "mutation($in: TagInput!) { tag_create(input: $in) { id } }";
const LOCATION_CREATE: &str =
    "mutation($in: LocationInput!) { location_create(input: $in) { id } }";
const DEVICE_UPDATE: &str =
    "mutation($ref: DeviceRef!, $in: DeviceInput!) { device_update(ref: $ref, input: $in) { id } }";
const TAG_DELETE: &str = "mutation($ref: TagRef!) { tag_delete(ref: $ref) { id } }";
const LOCATION_DELETE: &str = "mutation($ref: LocationRef!) { location_delete(ref: $ref) { id } }";
const BULK_CREATE: &str =
    "mutation($in: [InterfaceInput!]!) { interface_create_bulk(inputs: $in) { id } }";
const BULK_DELETE: &str =
    "mutation($refs: [InterfaceRef!]!) { interface_delete_bulk(refs: $refs) { id } }";

/// A step of the write cycle.
#[derive(Clone, Copy)]
enum Step {
    CreateTag,
    UpdateDevice,
    CreateLocation,
    /// Deletes the oldest object this client created (or updates a device when none is left).
    DeleteOwn,
}

/// The write cycle of every client (see the module's header).
const WRITE_CYCLE: [Step; 6] = [
    Step::CreateTag,
    Step::UpdateDevice,
    Step::CreateLocation,
    Step::DeleteOwn,
    Step::UpdateDevice,
    Step::DeleteOwn,
];

/// A small deterministic generator (SplitMix64): enough to pick requests, no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n.max(1) as u64) as usize
    }
}

/// One client: requests one after the other until `stop` is set or `deadline` passes.
async fn client_loop(
    ctx: Arc<Ctx>,
    n: usize,
    write_percent: u32,
    phase_start: Instant,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut rng = Rng(0x5eed_0000 + n as u64);
    let mut cycle = rng.below(WRITE_CYCLE.len());
    let mut created: VecDeque<(Kind, String)> = VecDeque::new();
    let mut made = 0usize;
    let mut samples = Vec::new();
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let write = (rng.below(100) as u32) < write_percent;
        let (kind, body) = if write {
            let step = WRITE_CYCLE[cycle % WRITE_CYCLE.len()];
            cycle += 1;
            let mut name = || {
                made += 1;
                format!("load-{}-c{n}-{made}", ctx.run)
            };
            match (step, created.front()) {
                (Step::CreateTag, _) => (
                    Kind::TagCreate,
                    json!({"query": TAG_CREATE, "variables": {"in": {"name": name()}}}),
                ),
                (Step::CreateLocation, _) => (
                    Kind::LocationCreate,
                    json!({"query": LOCATION_CREATE, "variables": {"in": {
                        "name": name(), "location_type": {"name": "Site"},
                        "status": {"name": "Active"}, "parent": {"name": "region-1"},
                    }}}),
                ),
                (Step::DeleteOwn, Some((Kind::LocationCreate, id))) => (
                    Kind::LocationDelete,
                    json!({"query": LOCATION_DELETE, "variables": {"ref": {"id": id}}}),
                ),
                (Step::DeleteOwn, Some((_, id))) => (
                    Kind::TagDelete,
                    json!({"query": TAG_DELETE, "variables": {"ref": {"id": id}}}),
                ),
                (Step::UpdateDevice | Step::DeleteOwn, _) => {
                    (Kind::DeviceUpdate, device_update(&ctx, &mut rng))
                }
            }
        } else {
            match rng.below(4) {
                0 | 1 => {
                    let (_, name) = &ctx.devices[rng.below(ctx.devices.len())];
                    (Kind::Device, json!({"query": DEVICE, "variables": {"name": name}}))
                }
                2 => {
                    let offset = rng.below(ctx.devices.len().saturating_sub(50).max(1));
                    (
                        Kind::DevicesPage,
                        json!({"query": DEVICES_PAGE, "variables": {"offset": offset}}),
                    )
                }
                _ => {
                    let site = format!("site-{:03}", rng.below(ctx.sites) + 1);
                    (
                        Kind::LocationDevices,
                        json!({"query": LOCATION_DEVICES, "variables": {"name": site}}),
                    )
                }
            }
        };
        let start = phase_start.elapsed();
        let (latency, outcome) = ctx.send(&body).await;
        let busy = matches!(&outcome, Err(f) if f.busy);
        if matches!(kind, Kind::TagDelete | Kind::LocationDelete) && !busy {
            // Deleted, or refused for good; a BUSY refusal is tried again at the next delete.
            created.pop_front();
        }
        let error = match outcome {
            Ok(answer) => {
                if matches!(kind, Kind::TagCreate | Kind::LocationCreate) {
                    let field =
                        if kind == Kind::TagCreate { "tag_create" } else { "location_create" };
                    if let Some(id) = answer["data"][field]["id"].as_str() {
                        created.push_back((kind, id.to_owned()));
                    }
                }
                None
            }
            Err(failure) => {
                let wait = failure.retry_after.filter(|_| failure.busy);
                let error = Some((failure.key, failure.busy, failure.message));
                if let Some(seconds) = wait {
                    let until = (Instant::now() + Duration::from_secs(seconds)).min(deadline);
                    tokio::time::sleep_until(until.into()).await;
                }
                error
            }
        };
        samples.push(Sample { kind, start, latency, error });
    }
    samples
}

fn device_update(ctx: &Ctx, rng: &mut Rng) -> Value {
    let (id, _) = &ctx.devices[rng.below(ctx.devices.len())];
    let value = format!("load-{}-{}", ctx.run, rng.below(1_000_000));
    let input =
        if rng.below(2) == 0 { json!({"serial": value}) } else { json!({"comments": value}) };
    json!({"query": DEVICE_UPDATE, "variables": {"ref": {"id": id}, "in": input}})
}

/// One second of the timeline.
struct Tick {
    completed: u64,
    rss_kib: u64,
    threads: u64,
}

/// Samples the completions, resident memory and threads every second until `stop` is set.
fn sampler(ctx: Arc<Ctx>, pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Tick>> {
    tokio::spawn(async move {
        let mut ticks = Vec::new();
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.tick().await;
        let mut last = ctx.completed.load(Ordering::Relaxed);
        while !stop.load(Ordering::Relaxed) {
            interval.tick().await;
            let now = ctx.completed.load(Ordering::Relaxed);
            ticks.push(Tick {
                completed: now - last,
                rss_kib: rss_kib(pid, "VmRSS"),
                threads: rss_kib(pid, "Threads"),
            });
            last = now;
        }
        ticks
    })
}

/// CPU seconds (user + system) of a process so far, from `/proc/<pid>/stat` (100 ticks a second,
/// as on every Linux this runs on).
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (tick(11) + tick(12)) / 100.0
}

async fn mixed_phase(ctx: &Arc<Ctx>, args: &LoadArgs, pid: u32) -> Result<()> {
    report("");
    report(&format!(
        "## Mixed load: {} clients, {} s, {} % writes",
        args.clients, args.seconds, args.write_percent
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = sampler(ctx.clone(), pid, stop.clone());
    let (server_cpu, own_cpu) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let clients: Vec<_> = (0..args.clients)
        .map(|n| {
            tokio::spawn(client_loop(
                ctx.clone(),
                n,
                args.write_percent,
                start,
                deadline,
                stop.clone(),
            ))
        })
        .collect();
    let mut samples = Vec::new();
    for c in clients {
        samples.extend(c.await?);
    }
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let ticks = ticks.await?;
    let (server_cpu, own_cpu) =
        (cpu_seconds(&pid.to_string()) - server_cpu, cpu_seconds("self") - own_cpu);

    report(&format!(
        "{} requests in {:.1} s ({:.0}/s); server CPU {:.0} s ({:.2} cores), bench CPU {:.0} s ({:.2} cores)",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64(),
        server_cpu,
        server_cpu / wall.as_secs_f64(),
        own_cpu,
        own_cpu / wall.as_secs_f64(),
    ));
    report("");
    report("| operation | count | BUSY | other errors | req/s | p50 | p90 | p99 | max |");
    report("|---|---|---|---|---|---|---|---|---|");
    let mut kinds: BTreeMap<Kind, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        kinds.entry(s.kind).or_default().push(s);
    }
    for (kind, group) in &kinds {
        report(&row(kind.name(), group, wall));
    }
    let reads: Vec<&Sample> = samples.iter().filter(|s| s.kind.is_read()).collect();
    let writes: Vec<&Sample> = samples.iter().filter(|s| !s.kind.is_read()).collect();
    report(&row("**all reads**", &reads, wall));
    report(&row("**all writes**", &writes, wall));
    report(&row("**all**", &samples.iter().collect::<Vec<_>>(), wall));
    report_errors(&samples);
    report_ticks(&ticks, args.timeline);
    report(&format!(
        "server after the mixed load: peak {} MiB resident (VmHWM), {} threads",
        rss_kib(pid, "VmHWM") / 1024,
        rss_kib(pid, "Threads")
    ));
    Ok(())
}

/// A table row: count, BUSY, other errors, rate, p50/p90/p99/max over every answer.
fn row(name: &str, group: &[&Sample], wall: Duration) -> String {
    let busy = group.iter().filter(|s| matches!(s.error, Some((_, true, _)))).count();
    let other = group.iter().filter(|s| matches!(s.error, Some((_, false, _)))).count();
    let mut lat: Vec<Duration> = group.iter().map(|s| s.latency).collect();
    lat.sort();
    format!(
        "| {name} | {} | {busy} | {other} | {:.1} | {} | {} | {} | {} |",
        group.len(),
        group.len() as f64 / wall.as_secs_f64(),
        pct(&lat, 50.0),
        pct(&lat, 90.0),
        pct(&lat, 99.0),
        lat.last().map_or("-".to_owned(), |d| ms(*d)),
    )
}

/// The `p`th percentile (nearest rank) of sorted latencies.
pub(crate) fn pct(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".to_owned();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Errors by operation and key (`<HTTP status> <extensions.code>`), with the first message.
fn report_errors(samples: &[Sample]) {
    let mut errors: BTreeMap<(&str, &str), (usize, &str)> = BTreeMap::new();
    for s in samples {
        if let Some((key, _, message)) = &s.error {
            errors.entry((s.kind.name(), key.as_str())).or_insert((0, message)).0 += 1;
        }
    }
    if errors.is_empty() {
        report("no errors");
        return;
    }
    report("");
    report("| operation | HTTP status and extensions.code | count | first message |");
    report("|---|---|---|---|");
    for ((kind, key), (count, message)) in errors {
        let message: String = message.chars().take(160).collect();
        report(&format!("| {kind} | {key} | {count} | {} |", message.replace('|', "\\|")));
    }
}

fn report_ticks(ticks: &[Tick], each: bool) {
    if ticks.is_empty() {
        return;
    }
    let mut per_second: Vec<u64> = ticks.iter().map(|t| t.completed).collect();
    if each {
        for (i, t) in ticks.iter().enumerate() {
            report(&format!(
                "  second {:>3}: {:>6} answers, {:>5} MiB, {:>3} threads",
                i + 1,
                t.completed,
                t.rss_kib / 1024,
                t.threads
            ));
        }
    }
    let stalls = per_second.iter().filter(|&&c| c == 0).count();
    per_second.sort_unstable();
    report(&format!(
        "answers per second over {} s: min {}, median {}, max {}; {stalls} s without any answer; \
         sampled resident memory max {} MiB; threads max {}",
        ticks.len(),
        per_second[0],
        per_second[per_second.len() / 2],
        per_second[per_second.len() - 1],
        ticks.iter().map(|t| t.rss_kib).max().unwrap_or(0) / 1024,
        ticks.iter().map(|t| t.threads).max().unwrap_or(0),
    ));
}

/// A bulk request's interval from the phase's start, and what it answered.
struct BulkRun {
    name: &'static str,
    from: Duration,
    to: Duration,
    /// `200`, or the failure's key and message.
    outcome: String,
    statements: String,
    /// The ids answered (one per object on success).
    ids: Vec<String>,
}

async fn bulk_phase(ctx: &Arc<Ctx>, args: &LoadArgs, pid: u32) -> Result<()> {
    report("");
    report(&format!(
        "## Bulk write under reads: {} interfaces created, then deleted, in one request each, {} readers",
        args.bulk, args.bulk_readers
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    // A bound only: the readers stop when the bulk client says so.
    let deadline = start + Duration::from_secs(3 * args.bulk_pause + 2 * args.bulk_timeout + 60);
    let readers: Vec<_> = (0..args.bulk_readers)
        .map(|n| {
            tokio::spawn(client_loop(ctx.clone(), 10_000 + n, 0, start, deadline, stop.clone()))
        })
        .collect();
    let pause = Duration::from_secs(args.bulk_pause);
    let timeout = Duration::from_secs(args.bulk_timeout);
    let mut bulks = Vec::new();
    tokio::time::sleep(pause).await;
    let inputs: Vec<Value> = (0..args.bulk)
        .map(|k| {
            let (id, _) = &ctx.devices[k % ctx.devices.len()];
            json!({"device": {"id": id}, "name": format!("bulk-{k}"), "type": "A_1000BASE_T", "status": {"name": "Active"}})
        })
        .collect();
    let body = json!({"query": BULK_CREATE, "variables": {"in": inputs}});
    let created = bulk_send(ctx, &body, "interface_create_bulk", start, timeout).await;
    let ids: Vec<Value> = created.ids.iter().map(|id| json!({"id": id})).collect();
    bulks.push(created);
    if !ids.is_empty() {
        tokio::time::sleep(pause).await;
        let body = json!({"query": BULK_DELETE, "variables": {"refs": ids}});
        bulks.push(bulk_send(ctx, &body, "interface_delete_bulk", start, timeout).await);
    }
    tokio::time::sleep(pause).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for r in readers {
        samples.extend(r.await?);
    }

    report("");
    report("| bulk request | objects | time | objects/s | answer | SQL statements |");
    report("|---|---|---|---|---|---|");
    for b in &bulks {
        let time = b.to - b.from;
        report(&format!(
            "| {} | {} | {} | {:.0} | {} | {} |",
            b.name,
            b.ids.len(),
            ms(time),
            b.ids.len() as f64 / time.as_secs_f64(),
            b.outcome,
            b.statements
        ));
    }
    // Reads before the first bulk request, overlapping each, and the rest (between and after).
    let first = bulks.first().map_or(Duration::ZERO, |b| b.from);
    let mut windows: Vec<(String, Vec<&Sample>, Duration)> =
        vec![("before the bulk create".to_owned(), Vec::new(), first)];
    for b in &bulks {
        windows.push((format!("during {}", b.name), Vec::new(), b.to - b.from));
    }
    windows.push(("between and after".to_owned(), Vec::new(), Duration::ZERO));
    let last = windows.len() - 1;
    for s in &samples {
        let end = s.start + s.latency;
        let w = if end <= first {
            0
        } else {
            bulks.iter().position(|b| s.start < b.to && end > b.from).map_or(last, |i| i + 1)
        };
        windows[w].1.push(s);
    }
    let end = samples.iter().map(|s| s.start + s.latency).max().unwrap_or_default();
    let busy: Duration = bulks.iter().map(|b| b.to - b.from).sum();
    windows[last].2 = end.saturating_sub(first).saturating_sub(busy);
    report("");
    report("| reads | count | BUSY | other errors | req/s | p50 | p90 | p99 | max |");
    report("|---|---|---|---|---|---|---|---|---|");
    for (name, group, span) in &windows {
        report(&row(name, group, (*span).max(Duration::from_millis(1))));
    }
    report_errors(&samples);
    report(&format!(
        "server after the bulk phase: peak {} MiB resident (VmHWM), {} threads",
        rss_kib(pid, "VmHWM") / 1024,
        rss_kib(pid, "Threads")
    ));
    Ok(())
}

/// Sends a bulk request (with its own timeout); what it answered, with the ids it returned.
async fn bulk_send(
    ctx: &Ctx,
    body: &Value,
    name: &'static str,
    start: Instant,
    timeout: Duration,
) -> BulkRun {
    let from = start.elapsed();
    let sent = Instant::now();
    let mut run = BulkRun {
        name,
        from,
        to: from,
        outcome: String::new(),
        statements: "-".to_owned(),
        ids: Vec::new(),
    };
    let response = ctx
        .client
        .post(&ctx.endpoint)
        .header("Authorization", &ctx.auth)
        .timeout(timeout)
        .json(body)
        .send()
        .await;
    let answered = match response {
        Ok(response) => {
            let status = response.status();
            if let Some(v) =
                response.headers().get("x-ferrobot-sql-statements").and_then(|v| v.to_str().ok())
            {
                v.clone_into(&mut run.statements);
            }
            response.bytes().await.map(|b| (status, b))
        }
        Err(e) => Err(e),
    };
    run.to = from + sent.elapsed();
    let (status, answer) = match answered {
        Ok(a) => a,
        Err(e) => {
            let failure = Failure::transport(&e);
            run.outcome = format!("{}: {}", failure.key, failure.message);
            return run;
        }
    };
    let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    run.ids = parsed["data"][name]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect();
    let error = &parsed["errors"][0];
    run.outcome = if error.is_null() {
        status.as_u16().to_string()
    } else {
        format!(
            "{} {}: {}",
            status.as_u16(),
            error["extensions"]["code"].as_str().unwrap_or("-"),
            error["message"].as_str().unwrap_or_default().chars().take(160).collect::<String>()
        )
    };
    run
}

/// Counts the server log's warnings and errors and shows the first of each distinct message.
fn summarize_log(path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    let mut firsts: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for raw in text.lines() {
        let line = strip_ansi(raw);
        let Some(level) = ["ERROR", "WARN"].into_iter().find(|l| line.contains(&format!(" {l} ")))
        else {
            continue;
        };
        *levels.entry(level).or_default() += 1;
        // The message without the timestamp: what follows the level and the target.
        let message = line.split_once(&format!(" {level} ")).map_or(line.as_str(), |(_, m)| m);
        let key: String = message.chars().take(80).collect();
        firsts.entry(key).or_insert((0, line.clone())).0 += 1;
    }
    report("");
    if levels.is_empty() {
        report(&format!("server log ({}): no warnings or errors", path.display()));
        return Ok(());
    }
    report(&format!(
        "server log ({}): {}",
        path.display(),
        levels.iter().map(|(l, n)| format!("{n} {l}")).collect::<Vec<_>>().join(", ")
    ));
    for (count, line) in firsts.values().take(10) {
        report(&format!("  ×{count}: {}", line.chars().take(300).collect::<String>()));
    }
    Ok(())
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
