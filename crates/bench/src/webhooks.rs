//! `ferrobot-bench webhooks`: webhook delivery throughput to a loopback receiver.
//!
//! On a fresh database it starts `ferrobot serve` (loopback allowed for webhooks), creates
//! `--hooks` webhooks on tags, all to one receiver on loopback, then writes `--events` tag
//! creates in bulk (1,000 a commit) and times from the first write to the last delivery: events
//! delivered per second, in all and per webhook (each webhook's events go one after the other,
//! in sequence order; webhooks deliver side by side). With `--down` seconds, the receiver
//! answers 503 that long first, and the figure includes the catch-up after it.
//!
//! ```text
//! cargo build --release -p ferrobot -p ferrobot-bench
//! target/release/ferrobot-bench webhooks --hooks 1,4 --events 5000
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use ferrobot_test_support::Receiver;
use serde_json::{json, Value};

use crate::write::{backend_name, FreshDb};
use crate::{free_port, report, server_binary, spawn_server_to, wait_ready, ChildGuard};

#[derive(clap::Args)]
pub(crate) struct WebhookArgs {
    /// Webhooks on tags, one level each.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    hooks: Vec<usize>,
    /// Tag creates per level.
    #[arg(long, default_value_t = 5_000)]
    events: usize,
    /// Seconds the receiver answers 503 before it takes deliveries.
    #[arg(long, default_value_t = 0)]
    down: u64,
    /// A PostgreSQL or MySQL server URL to create the database on; a SQLite file by default.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "target/bench/webhooks")]
    dir: PathBuf,
    #[arg(long)]
    server: Option<PathBuf>,
}

pub(crate) async fn run(args: WebhookArgs) -> Result<()> {
    let db = FreshDb::new(args.database_url.as_deref(), &args.dir, "webhooks").await?;
    let token = crate::write::seed(&db.url, 1).await?;
    let server = server_binary(args.server.as_deref())?;
    std::fs::create_dir_all(&args.dir)?;
    let log = std::fs::File::create(args.dir.join("server.log"))?;
    let port = free_port()?;
    let flags = ["--webhook-allowed-networks", "127.0.0.1/32", "--webhook-max-backoff-ms", "1000"];
    let mut child = spawn_server_to(&server, &db.url, port, &flags, "warn", log.into())?;
    let guard = ChildGuard(&mut child);
    let client = reqwest::Client::new();
    let endpoint = format!("http://127.0.0.1:{port}/api/graphql/");
    wait_ready(&client, &endpoint, &token).await?;
    let post = |body: Value| {
        let request =
            client.post(&endpoint).header("Authorization", format!("Token {token}")).json(&body);
        async move {
            let answer: Value = request.send().await?.json().await?;
            ensure!(answer.get("errors").is_none(), "{answer}");
            anyhow::Ok(answer)
        }
    };
    report(&format!(
        "webhook deliveries on {}, {} events a level",
        backend_name(&db.url),
        args.events
    ));
    report("| webhooks | deliveries | seconds | deliveries/s | per webhook/s | server CPU a delivery |");
    report("|---|---|---|---|---|---|");
    for (level, &hooks) in args.hooks.iter().enumerate() {
        let receiver = Receiver::start(if args.down > 0 { 503 } else { 200 }).await?;
        for h in 0..hooks {
            post(json!({
                "query": "mutation($i: WebhookInput!) { webhook_create(input: $i) { id } }",
                "variables": { "i": {
                    "name": format!("bench-{level}-{h}"), "content_types": ["extras.tag"],
                    "type_create": true, "payload_url": receiver.url,
                } },
            }))
            .await?;
        }
        let cpu = crate::load::cpu_seconds(&guard.0.id().to_string());
        let started = Instant::now();
        let mut left = args.events;
        let mut k = 0;
        while left > 0 {
            let take = left.min(1_000);
            let inputs: Vec<Value> =
                (0..take).map(|i| json!({ "name": format!("w-{level}-{k}-{i}") })).collect();
            post(json!({
                "query": "mutation($in: [TagInput!]!) { tag_create_bulk(inputs: $in) { id } }",
                "variables": { "in": inputs },
            }))
            .await?;
            left -= take;
            k += 1;
        }
        if args.down > 0 {
            tokio::time::sleep(Duration::from_secs(args.down)).await;
            receiver.answer(200);
        }
        let total = hooks * args.events;
        receiver.wait_delivered(total, Duration::from_secs(600)).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = crate::load::cpu_seconds(&guard.0.id().to_string()) - cpu;
        report(&format!(
            "| {hooks} | {total} | {seconds:.2} | {:.0} | {:.0} | {:.0} µs |",
            total as f64 / seconds,
            args.events as f64 / seconds,
            cpu * 1e6 / total as f64
        ));
        // The next level's webhooks only.
        for h in 0..hooks {
            post(json!({ "query": format!("mutation {{ webhook_delete(ref: {{name: \"bench-{level}-{h}\"}}) {{ id }} }}") }))
                .await?;
        }
    }
    drop(guard);
    db.drop_database().await?;
    Ok(())
}
