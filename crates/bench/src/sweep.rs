//! `ferrobot-bench sweep`: the one-device query at rising numbers of concurrent clients, with
//! and without a writer beside them.
//!
//! The run loads the dataset of `shared/bench/dataset.md` at `--devices` devices into a fresh
//! database (a SQLite file under `--dir`, or a database `fb_sweep_<uuid>` created on the
//! PostgreSQL/MySQL server of `--database-url` and dropped afterwards), then, for each server
//! binary of `--server` in turn (`--rounds` times over, so that two binaries alternate on the
//! same data), starts `ferrobot serve` on it and sweeps the levels of `--clients`.
//!
//! A level runs N closed-loop readers: each has its own HTTP client with one keep-alive
//! connection and sends, one after the other,
//! `query($n: [String]) { devices(name: $n) { name status { name } primary_ip4 { address } } }`
//! with a random existing device's name. The first `--warmup` seconds of a level are not
//! counted; the next `--seconds` are. A request counts when it was sent inside the measured
//! window (its answer may come after it). Latency is from the request sent to its body read;
//! an answer that is not HTTP 200 with `data` and no `errors` is an error.
//!
//! With `--writer`, one more client sends small writes in a loop beside the readers of every
//! level (`device_update` of a random device's `comments`, by id), and a first level with the
//! writer alone gives its solo rate. The table has, per level: the readers' requests/s and its
//! ratio to the one-reader rate, p50/p90/p99/max, errors; the writer's requests/s, its ratio to
//! the solo rate, p50/p99; the server's CPU (cores), the bench's own CPU (both share the
//! machine), the server's largest sampled thread count and resident memory.
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench sweep                                 # 1/8/32/128 readers, 10 s each
//! target/release/ferrobot-bench sweep --writer --clients 1,32
//! target/release/ferrobot-bench sweep --writer --server /tmp/old-ferrobot --server target/release/ferrobot --rounds 2
//! target/release/ferrobot-bench sweep --database-url "$FERROBOT_TEST_POSTGRES_URL"
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::load::{cpu_seconds, pct, Rng};
use crate::write::{backend_name, FreshDb};
use crate::{
    free_port, ms, report, rss_kib, server_binary, spawn_server_to, wait_ready, ChildGuard,
};

const READ: &str =
    "query($n: [String]) { devices(name: $n) { name status { name } primary_ip4 { address } } }";
const WRITE: &str =
    "mutation($ref: DeviceRef!, $in: DeviceInput!) { device_update(ref: $ref, input: $in) { id } }";

#[derive(clap::Args)]
pub(crate) struct SweepArgs {
    /// Devices in the dataset (125 a site).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Interfaces per device.
    #[arg(long, default_value_t = 48)]
    interfaces: usize,
    /// The numbers of concurrent readers, one level each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    clients: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds at the start of each level that are not counted.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// One writer beside the readers of every level, and a level with the writer alone.
    #[arg(long)]
    writer: bool,
    /// Where the SQLite file and the servers' log live (the file is replaced at every run).
    #[arg(long, default_value = "target/bench/sweep")]
    dir: PathBuf,
    /// A server binary; repeat to compare binaries on the same data, swept one after the other.
    /// By default the `ferrobot` beside this one.
    #[arg(long)]
    server: Vec<PathBuf>,
    /// Sweep every server this many times, alternating.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// An admin URL of a PostgreSQL or MySQL server: the run creates its own database there
    /// and drops it afterwards. Without it, a SQLite file under `--dir`.
    #[arg(long)]
    database_url: Option<String>,
    /// `RUST_LOG` for the server; its log goes to `<dir>/server.log`.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// A request with no answer after this many seconds counts as an error.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub(crate) async fn run(args: SweepArgs) -> Result<()> {
    ensure!(args.devices > 0 && args.interfaces > 0, "sizes must be positive");
    ensure!(args.seconds > 0 && args.rounds > 0, "at least one round of one second");
    ensure!(args.clients.iter().all(|&c| c > 0), "every level needs a client");
    let db = FreshDb::new(args.database_url.as_deref(), &args.dir, "sweep").await?;
    let result = sweep(&args, &db.url).await;
    db.drop_database().await?;
    result
}

async fn sweep(args: &SweepArgs, url: &str) -> Result<()> {
    let started = Instant::now();
    let token = crate::load(url, args.devices, args.interfaces).await?;
    report(&format!("loaded {} devices in {:.1} s", args.devices, started.elapsed().as_secs_f64()));
    let servers = match args.server.as_slice() {
        [] => vec![server_binary(None)?],
        given => given.to_vec(),
    };
    for round in 1..=args.rounds {
        for server in &servers {
            report("");
            report(&format!(
                "## Sweep{}: {} on {}, {} devices, {} s a level",
                if args.rounds > 1 { format!(" (round {round})") } else { String::new() },
                server.display(),
                args.database_url.as_deref().map_or("SQLite", backend_name),
                args.devices,
                args.seconds,
            ));
            one_server(args, url, &token, server).await?;
        }
    }
    Ok(())
}

/// What every client of one server shares.
struct Target {
    endpoint: String,
    auth: String,
    /// One read request body per device.
    reads: Vec<String>,
    /// Device ids, for the writer.
    ids: Vec<String>,
    timeout: Duration,
}

async fn one_server(args: &SweepArgs, url: &str, token: &str, server: &Path) -> Result<()> {
    let port = free_port()?;
    std::fs::create_dir_all(&args.dir)?;
    let log_path = args.dir.join("server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    let mut child = spawn_server_to(server, url, port, &[], &args.server_log, Stdio::from(log))?;
    let guard = ChildGuard(&mut child);
    let pid = guard.0.id();
    let endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    let setup = reqwest::Client::new();
    wait_ready(&setup, &endpoint, token).await?;
    let auth = format!("Token {token}");
    let listed: Value = setup
        .post(&endpoint)
        .header("Authorization", &auth)
        .json(&json!({"query": "{ devices { id name } }"}))
        .send()
        .await?
        .json()
        .await?;
    let devices: Vec<(String, String)> = listed["data"]["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["id"].as_str()?.to_owned(), d["name"].as_str()?.to_owned())))
        .collect();
    ensure!(
        devices.len() == args.devices,
        "expected {} devices, listed {}",
        args.devices,
        devices.len()
    );
    let target = Arc::new(Target {
        endpoint,
        auth,
        reads: devices
            .iter()
            .map(|(_, name)| json!({"query": READ, "variables": {"n": name}}).to_string())
            .collect(),
        ids: devices.into_iter().map(|(id, _)| id).collect(),
        timeout: Duration::from_secs(args.timeout),
    });

    report("");
    report("| readers | reads/s | × 1 reader | p50 | p90 | p99 | max | errors | writes/s | × solo | write p50 | write p99 | server CPU | bench CPU | server threads | server RSS |");
    report("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut levels: Vec<usize> = Vec::new();
    if args.writer {
        levels.push(0);
    }
    levels.extend(&args.clients);
    let mut one_reader: Option<f64> = None;
    let mut solo: Option<f64> = None;
    let mut errors: Vec<String> = Vec::new();
    for (idx, &readers) in levels.iter().enumerate() {
        let level = run_level(&target, pid, readers, args.writer, args, idx as u64).await?;
        let rate = |n: usize| n as f64 / args.seconds as f64;
        let reads = &level.reads;
        let read_rate = rate(reads.latencies.len());
        if readers == 1 {
            one_reader.get_or_insert(read_rate);
        }
        let (writes, write_ratio, write_p50, write_p99) = match &level.write {
            Some(w) => {
                let write_rate = rate(w.latencies.len());
                if readers == 0 {
                    solo = Some(write_rate);
                }
                (
                    format!("{write_rate:.1}"),
                    solo.map_or("-".to_owned(), |s| format!("{:.2}", write_rate / s)),
                    pct(&w.latencies, 50.0),
                    pct(&w.latencies, 99.0),
                )
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let reads_cell = |s: String| if readers == 0 { "-".to_owned() } else { s };
        report(&format!(
            "| {readers} | {} | {} | {} | {} | {} | {} | {} | {writes} | {write_ratio} | {write_p50} | {write_p99} | {:.2} | {:.2} | {} | {} MiB |",
            reads_cell(format!("{read_rate:.0}")),
            reads_cell(one_reader.map_or("-".to_owned(), |o| format!("{:.2}", read_rate / o))),
            reads_cell(pct(&reads.latencies, 50.0)),
            reads_cell(pct(&reads.latencies, 90.0)),
            reads_cell(pct(&reads.latencies, 99.0)),
            reads_cell(reads.latencies.last().map_or("-".to_owned(), |d| ms(*d))),
            reads.errors + level.write.as_ref().map_or(0, |w| w.errors),
            level.server_cpu / args.seconds as f64,
            level.bench_cpu / args.seconds as f64,
            level.threads,
            level.rss_kib / 1024,
        ));
        for outcome in [Some(reads), level.write.as_ref()].into_iter().flatten() {
            if let Some(first) = &outcome.first_error {
                errors
                    .push(format!("{readers} readers: {} errors, first: {first}", outcome.errors));
            }
        }
    }
    report("");
    for e in &errors {
        report(&format!("- {e}"));
    }
    report(&format!(
        "server: peak {} MiB resident (VmHWM), {} threads at the end",
        rss_kib(pid, "VmHWM") / 1024,
        rss_kib(pid, "Threads")
    ));
    drop(guard);
    Ok(())
}

/// What one kind of client measured in a level's window.
#[derive(Default)]
struct Outcome {
    /// Sorted.
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

struct Level {
    reads: Outcome,
    write: Option<Outcome>,
    /// CPU seconds in the measured window.
    server_cpu: f64,
    bench_cpu: f64,
    /// Largest sampled thread count and resident memory of the server.
    threads: u64,
    rss_kib: u64,
}

async fn run_level(
    target: &Arc<Target>,
    pid: u32,
    readers: usize,
    writer: bool,
    args: &SweepArgs,
    seed: u64,
) -> Result<Level> {
    let start = Instant::now();
    let window = (
        start + Duration::from_secs(args.warmup),
        start + Duration::from_secs(args.warmup + args.seconds),
    );
    let mut tasks = Vec::new();
    for n in 0..readers {
        let rng = Rng(seed << 32 | n as u64);
        tasks.push(tokio::spawn(client(target.clone(), Role::Read, rng, window)));
    }
    // The writer has a thread and a runtime of its own: on the runtime of the readers its every
    // step would queue behind theirs, and the bench would measure its own queue.
    let write_task = writer.then(|| {
        let rng = Rng(seed << 32 | 0xffff_ffff);
        let target = target.clone();
        std::thread::spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(client(target, Role::Write, rng, window)),
                Err(e) => Outcome {
                    errors: 1,
                    first_error: Some(format!("writer runtime: {e}")),
                    ..Outcome::default()
                },
            }
        })
    });
    // Samples the server's threads and memory four times a second while the window lasts.
    let stop = Arc::new(AtomicBool::new(false));
    let (threads, rss) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (stop, threads, rss) = (stop.clone(), threads.clone(), rss.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(window.0.into()).await;
            while !stop.load(Ordering::Relaxed) {
                threads.fetch_max(rss_kib(pid, "Threads"), Ordering::Relaxed);
                rss.fetch_max(rss_kib(pid, "VmRSS"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let server = pid.to_string();
    tokio::time::sleep_until(window.0.into()).await;
    let cpu_from = (cpu_seconds(&server), cpu_seconds("self"));
    tokio::time::sleep_until(window.1.into()).await;
    let cpu_to = (cpu_seconds(&server), cpu_seconds("self"));
    stop.store(true, Ordering::Relaxed);
    let mut reads = Outcome::default();
    for t in tasks {
        reads.merge(t.await?);
    }
    reads.latencies.sort();
    let write = match write_task {
        Some(thread) => {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await?;
            let mut w = joined.map_err(|_| anyhow::anyhow!("the writer's thread panicked"))?;
            w.latencies.sort();
            Some(w)
        }
        None => None,
    };
    sampler.await?;
    Ok(Level {
        reads,
        write,
        server_cpu: cpu_to.0 - cpu_from.0,
        bench_cpu: cpu_to.1 - cpu_from.1,
        threads: threads.load(Ordering::Relaxed),
        rss_kib: rss.load(Ordering::Relaxed),
    })
}

#[derive(Clone, Copy)]
enum Role {
    Read,
    Write,
}

/// One closed-loop client on its own keep-alive connection, until the window's end; what it
/// measured inside the window.
async fn client(
    target: Arc<Target>,
    role: Role,
    mut rng: Rng,
    (from, to): (Instant, Instant),
) -> Outcome {
    let mut out = Outcome::default();
    let http = match reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(target.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            out.errors += 1;
            out.first_error = Some(format!("HTTP client: {e}"));
            return out;
        }
    };
    loop {
        let sent = Instant::now();
        if sent >= to {
            break;
        }
        let body = match role {
            Role::Read => target.reads[rng.below(target.reads.len())].clone(),
            Role::Write => {
                let id = &target.ids[rng.below(target.ids.len())];
                let comments = format!("sweep {}", rng.below(1_000_000));
                json!({"query": WRITE, "variables": {"ref": {"id": id}, "in": {"comments": comments}}})
                    .to_string()
            }
        };
        let answer = http
            .post(&target.endpoint)
            .header("Authorization", &target.auth)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        let failure = match answer {
            Err(e) => Some(format!("transport: {e}")),
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Err(e) => Some(format!("transport: {e}")),
                    // Cheap checks, so that the bench spends little CPU: an answer with data and
                    // without errors (a name or a key never holds `"errors"`).
                    Ok(b)
                        if status == 200
                            && b.starts_with(b"{\"data\":{")
                            && !contains(&b, b"\"errors\"") =>
                    {
                        None
                    }
                    Ok(b) => Some(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&b[..b.len().min(200)])
                    )),
                }
            }
        };
        if sent < from {
            continue;
        }
        out.latencies.push(sent.elapsed());
        if let Some(f) = failure {
            out.errors += 1;
            out.first_error.get_or_insert(f);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
