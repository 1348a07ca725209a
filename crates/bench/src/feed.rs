//! `ferrobot-bench feed`: the change feed through real WebSockets (`graphql-transport-ws`).
//!
//! On a fresh database (a SQLite file under `--dir`, or a database created on the server of
//! `--database-url` and dropped afterwards) with a small seed, it starts `ferrobot serve` (two,
//! with `--replicas`: subscribers on the second, writes through the first), then for each level
//! of `--subscribers`:
//! - opens that many sockets, each subscribed to the tags' changes, with the same document, or
//!   with `--distinct` documents spread over them (`user_name__n: ["nobody-<k>"]`: each matches
//!   every change, and each is its own cohort);
//! - sends `--events` tag creates one after the other (a commit each, `--pause` ms apart);
//! - measures, for every event at every socket, the time from the change's `time` (set in the
//!   writing transaction) to the frame read by the client: p50, p99, max;
//! - reports the server's resident memory before the sockets opened and with them idle.
//!
//! Then the replay: `--replay` changes written in bulk, and one subscription with
//! `after_sequence` read to the end: changes per second, with `{ sequence }` and with the
//! change's snapshot (`object_data`).
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench feed
//! target/release/ferrobot-bench feed --subscribers 100 --distinct 100
//! target/release/ferrobot-bench feed --database-url postgres://postgres@127.0.0.1:55432/postgres --replicas
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::write::{backend_name, FreshDb};
use crate::{free_port, report, rss_kib, server_binary, spawn_server_to, wait_ready, ChildGuard};

#[derive(clap::Args)]
pub(crate) struct FeedArgs {
    /// Subscribers per level.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,10000")]
    subscribers: Vec<usize>,
    /// Distinct documents among a level's subscribers (1: all share one cohort).
    #[arg(long, default_value_t = 1)]
    distinct: usize,
    /// Changes written per level, one commit each.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Milliseconds between two writes.
    #[arg(long, default_value_t = 20)]
    pause: u64,
    /// Changes written for the replay measurement (0: none).
    #[arg(long, default_value_t = 100_000)]
    replay: usize,
    /// Two servers on the database: subscribers on one, writes through the other.
    #[arg(long)]
    replicas: bool,
    /// A PostgreSQL or MySQL server URL to create the database on; a SQLite file by default.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "target/bench/feed")]
    dir: PathBuf,
    #[arg(long)]
    server: Option<PathBuf>,
}

const DOCUMENT: &str = "subscription($not: [String]) { object_changes(changed_object_type: \"extras.tag\", user_name__n: $not) { sequence time } }";

pub(crate) async fn run(args: FeedArgs) -> Result<()> {
    let db = FreshDb::new(args.database_url.as_deref(), &args.dir, "feed").await?;
    let token = crate::write::seed(&db.url, 1).await?;
    let server = server_binary(args.server.as_deref())?;
    let log = || std::fs::File::create(args.dir.join("server.log")).map(std::process::Stdio::from);
    std::fs::create_dir_all(&args.dir)?;
    let port = free_port()?;
    let mut writer_child = spawn_server_to(&server, &db.url, port, &[], "warn", log()?)?;
    let _writer_guard = ChildGuard(&mut writer_child);
    let mut reader_child;
    let mut _reader_guard = None;
    let mut reader_pid = None;
    let reader_port = if args.replicas {
        let port = free_port()?;
        reader_child = spawn_server_to(&server, &db.url, port, &[], "warn", log()?)?;
        reader_pid = Some(reader_child.id());
        _reader_guard = Some(ChildGuard(&mut reader_child));
        port
    } else {
        port
    };
    let client = reqwest::Client::new();
    let write_endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    let read_endpoint = format!("http://127.0.0.1:{reader_port}/api/graphql/");
    wait_ready(&client, &write_endpoint, &token).await?;
    wait_ready(&client, &read_endpoint, &token).await?;
    let pid = reader_pid.unwrap_or_else(|| _writer_guard.0.id());
    report(&format!(
        "change feed on {}{}: {} events a level, {} distinct document(s)",
        backend_name(&db.url),
        if args.replicas { ", across two replicas" } else { "" },
        args.events,
        args.distinct
    ));
    report(
        "| subscribers | p50 | p99 | max | events delivered | server CPU a delivery | server RSS idle | idle RSS a subscriber |",
    );
    report("|---|---|---|---|---|---|---|---|");
    let mut written = 0usize;
    for &n in &args.subscribers {
        let before = rss_kib(pid, "VmRSS:");
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(n * args.events)));
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let not = vec![format!("nobody-{}", i % args.distinct.max(1))];
            let socket = open(reader_port, &token, json!({ "not": not })).await?;
            tasks.push(tokio::spawn(listen(socket, latencies.clone(), seen.clone())));
        }
        // Every socket live: a probe change reaches each.
        write_tag(&client, &write_endpoint, &token, &format!("probe-{n}")).await?;
        written += 1;
        wait_for(&seen, n, Duration::from_secs(120)).await?;
        let idle = rss_kib(pid, "VmRSS:");
        latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clear();
        seen.store(0, std::sync::atomic::Ordering::SeqCst);
        let cpu = crate::load::cpu_seconds(&pid.to_string());
        for e in 0..args.events {
            write_tag(&client, &write_endpoint, &token, &format!("t-{n}-{e}")).await?;
            written += 1;
            tokio::time::sleep(Duration::from_millis(args.pause)).await;
        }
        wait_for(&seen, n * args.events, Duration::from_secs(300)).await?;
        let cpu = crate::load::cpu_seconds(&pid.to_string()) - cpu;
        let mut all =
            std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        for task in tasks {
            task.abort();
        }
        all.sort_by(f64::total_cmp);
        let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
        let per = (idle.saturating_sub(before) as f64 * 1024.0) / n as f64;
        report(&format!(
            "| {n} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {:.1} µs | {:.0} MiB | {:.1} kB |",
            pct(0.5),
            pct(0.99),
            all.last().copied().unwrap_or(0.0),
            all.len(),
            cpu * 1e6 / all.len().max(1) as f64,
            idle as f64 / 1024.0,
            per / 1000.0,
        ));
        // Let the closed sockets go before the next level.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if args.replay > 0 {
        let start = last_sequence(&client, &write_endpoint, &token).await?;
        let chunk = 1_000;
        let mut left = args.replay;
        let mut k = 0;
        while left > 0 {
            let take = left.min(chunk);
            let inputs: Vec<Value> =
                (0..take).map(|i| json!({ "name": format!("replay-{k}-{i}") })).collect();
            let body = json!({
                "query": "mutation($in: [TagInput!]!) { tag_create_bulk(inputs: $in) { id } }",
                "variables": { "in": inputs },
            });
            post(&client, &write_endpoint, &token, &body).await?;
            left -= take;
            k += 1;
        }
        for (label, selection) in
            [("{ sequence }", "sequence"), ("{ sequence object_data }", "sequence object_data")]
        {
            let document = format!("subscription($after: BigInt) {{ object_changes(after_sequence: $after, changed_object_type: \"extras.tag\") {{ {selection} }} }}");
            let mut socket =
                open_with(reader_port, &token, &document, json!({ "after": start })).await?;
            let started = Instant::now();
            let mut count = 0usize;
            while count < args.replay {
                let message = next_text(&mut socket).await?;
                if message.contains("\"type\":\"next\"") {
                    count += 1;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            report(&format!(
                "replay {label}: {count} changes in {seconds:.2} s, {:.0} changes/s",
                count as f64 / seconds
            ));
        }
    }
    report(&format!("({written} changes written for the latency levels)"));
    db.drop_database().await?;
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(port: u16, token: &str, variables: Value) -> Result<Socket> {
    open_with(port, token, DOCUMENT, variables).await
}

async fn open_with(port: u16, token: &str, document: &str, variables: Value) -> Result<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/api/graphql/").into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.context("connect")?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Token {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    let ack = next_text(&mut socket).await?;
    ensure!(ack.contains("connection_ack"), "expected connection_ack, got {ack}");
    let subscribe = json!({ "type": "subscribe", "id": "1", "payload": { "query": document, "variables": variables } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

async fn next_text(socket: &mut Socket) -> Result<String> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("no message in 60 s")?
            .context("the connection ended")??;
        match message {
            Message::Text(text) if text.contains("\"type\":\"ping\"") => {
                socket.send(Message::text(json!({ "type": "pong" }).to_string())).await?;
            }
            Message::Text(text) => return Ok(text.to_string()),
            Message::Close(frame) => bail!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads a socket's events: the latency of each (now − the change's `time`), in ms.
async fn listen(
    mut socket: Socket,
    latencies: Arc<Mutex<Vec<f64>>>,
    seen: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<()> {
    loop {
        let text = next_text(&mut socket).await?;
        let now = chrono::Utc::now();
        let Some(at) = text.split("\"time\":\"").nth(1).and_then(|t| t.split('"').next()) else {
            continue;
        };
        let at = chrono::DateTime::parse_from_rfc3339(at)?;
        let ms =
            (now - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        if let Ok(mut all) = latencies.lock() {
            all.push(ms);
        }
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn wait_for(seen: &std::sync::atomic::AtomicUsize, n: usize, within: Duration) -> Result<()> {
    let started = Instant::now();
    while seen.load(std::sync::atomic::Ordering::SeqCst) < n {
        ensure!(
            started.elapsed() < within,
            "only {} of {n} events in {within:?}",
            seen.load(std::sync::atomic::Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    body: &Value,
) -> Result<Value> {
    let answer: Value = client
        .post(endpoint)
        .header("Authorization", format!("Token {token}"))
        .json(body)
        .send()
        .await?
        .json()
        .await?;
    ensure!(answer.get("errors").is_none(), "{answer}");
    Ok(answer)
}

async fn write_tag(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    name: &str,
) -> Result<()> {
    let body = json!({ "query": "mutation($n: String!) { tag_create(input: {name: $n}) { id } }", "variables": { "n": name } });
    post(client, endpoint, token, &body).await.map(|_| ())
}

async fn last_sequence(client: &reqwest::Client, endpoint: &str, token: &str) -> Result<i64> {
    let body = json!({ "query": "{ object_changes(limit: 1) { sequence } }" });
    let answer = post(client, endpoint, token, &body).await?;
    Ok(answer["data"]["object_changes"][0]["sequence"].as_i64().unwrap_or(0))
}
