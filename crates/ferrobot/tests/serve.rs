//! The binary as an operator runs it: `serve` on a SQLite file, stopped with SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_ferrobot");

struct Server {
    child: Child,
    base: String,
    token: String,
    url: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ferrobot(url: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(BINARY).arg("--database-url").arg(url).args(args).output()?;
    if !out.status.success() {
        bail!("ferrobot {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `ferrobot serve` on a fresh SQLite file and waits until it is ready.
async fn start(extra: &[&str]) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("ferrobot-serve-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/db.sqlite3", dir.display());
    ferrobot(&url, &["migrate"])?;
    ferrobot(&url, &["createsuperuser", "--username", "admin", "--password", "pw"])?;
    let token = ferrobot(&url, &["token", "create", "--user", "admin"])?;
    start_on(TempDir(dir), url, token, extra).await
}

/// Starts `ferrobot serve` on a database that exists, and waits until it is ready.
async fn start_on(dir: TempDir, url: String, token: String, extra: &[&str]) -> Result<Server> {
    let port = free_port()?;
    let child = Command::new(BINARY)
        .args(["--database-url", &url, "--write-wait-ms", "20000", "serve"])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), token, url, _dir: dir };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{}/ready", server.base)).send().await {
            if r.status().is_success() {
                return Ok(server);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not become ready")
}

fn terminate(child: &Child) -> Result<()> {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    if !status.success() {
        bail!("kill -TERM failed");
    }
    Ok(())
}

/// Holds the database's write lock from another connection (as `ferrobot import` would), so
/// that a mutation sent now is in flight until the lock is released.
async fn hold_the_lock(url: &str) -> Result<ferrobot_persistence::Store> {
    let catalogue = std::sync::Arc::new(ferrobot_domain::Catalogue::core()?);
    Ok(ferrobot_persistence::Store::connect(url, catalogue).await?)
}

fn mutation(server: &Server) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/api/graphql/", server.base))
        .header("Authorization", format!("Token {}", server.token))
        .json(&json!({ "query": "mutation { tag_create(input: {name: \"late\"}) { name } }" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() -> Result<()> {
    let mut server = start(&[]).await?;
    let other = hold_the_lock(&server.url).await?;
    let actor = ferrobot_persistence::import::import_actor();
    let options = ferrobot_persistence::write::WriteOptions::new(actor, "orm", "");
    let holder = other.writer(options).await?;
    let in_flight = tokio::spawn(mutation(&server).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&server.child)?;
    // Stopping: not ready, no new connections once the listener closed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = reqwest::Client::new().get(format!("{}/ready", server.base)).send().await;
    assert!(ready.map_or(true, |r| r.status().as_u16() == 503));
    holder.rollback().await?;
    let response = in_flight.await?.context("the in-flight request was cut")?;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await?;
    assert_eq!(body["data"]["tag_create"]["name"], "late", "{body}");
    let status = tokio::task::spawn_blocking(move || server.child.wait()).await??;
    assert!(status.success(), "{status}");
    other.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_takes_too_long_is_cut() -> Result<()> {
    let mut server = start(&["--drain-seconds", "1"]).await?;
    let other = hold_the_lock(&server.url).await?;
    let actor = ferrobot_persistence::import::import_actor();
    let options = ferrobot_persistence::write::WriteOptions::new(actor, "orm", "");
    let holder = other.writer(options).await?;
    let in_flight = tokio::spawn(mutation(&server).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(&server.child)?;
    let status = tokio::task::spawn_blocking(move || server.child.wait()).await??;
    assert!(status.success(), "{status}");
    // The server is gone while the lock is still held: the request was cut, nothing written.
    assert!(in_flight.await?.is_err());
    holder.rollback().await?;
    other.close().await;
    Ok(())
}

/// A collector that takes OTLP/HTTP posts and keeps each one's path and body.
async fn collector() -> Result<(u16, tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&chunk[..n]);
                    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if data.len() < end + 4 + length {
                        continue;
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let _ = tx.send((path, data[end + 4..end + 4 + length].to_vec()));
                    data.drain(..end + 4 + length);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if socket.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((port, rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_go_to_the_collector() -> Result<()> {
    let (port, mut posts) = collector().await?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut server = start(&["--otlp-endpoint", &endpoint]).await?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/graphql/", server.base))
        .header("Authorization", format!("Token {}", server.token))
        .json(&json!({ "query": "{ tags { name } }" }))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    // Stopping flushes the spans not sent yet.
    terminate(&server.child)?;
    let status = tokio::task::spawn_blocking(move || server.child.wait()).await??;
    assert!(status.success(), "{status}");
    let mut bodies = Vec::new();
    while let Ok((path, body)) = posts.try_recv() {
        assert_eq!(path, "/v1/traces");
        bodies.extend(body);
    }
    let has = |needle: &[u8]| bodies.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"ferrobot"), "no service name in {} bytes", bodies.len());
    assert!(has(b"request") && has(b"load_level"), "no request or level span");
    Ok(())
}

/// A fresh SQLite database, migrated, in a directory removed afterwards.
fn fresh_database() -> Result<(String, TempDir)> {
    let dir = std::env::temp_dir().join(format!("ferrobot-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/db.sqlite3", dir.display());
    ferrobot(&url, &["migrate"])?;
    Ok((url, TempDir(dir)))
}

/// `ferrobot import` reads JSON and YAML files as streams (sections in file order, YAML
/// documents one after the other), `export` writes what a fresh database imports back to the
/// same export, and a chunked import that fails says how far it got and resumes with `--skip`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_export_stream_through_the_command_line() -> Result<()> {
    let (url, dir) = fresh_database()?;
    let json_file = dir.0.join("base.json");
    std::fs::write(
        &json_file,
        json!({
            "extras.status": [{"name": "Active", "content_types": ["dcim.location", "dcim.device", "dcim.interface"]}],
            "dcim.locationtype": [{"name": "Site", "content_types": ["dcim.device"]}],
            "dcim.location": [{"name": "site-1", "location_type": "Site", "status": "Active"}],
            "dcim.manufacturer": [{"name": "Acme"}],
            "dcim.devicetype": [{"manufacturer": "Acme", "model": "s48"}],
            "extras.role": [{"name": "leaf", "content_types": ["dcim.device"]}],
            "extras.tag": [{"name": "gold"}],
        })
        .to_string(),
    )?;
    // Two YAML documents; the second names a device of the first, and a tag of the JSON file.
    let yaml_file = dir.0.join("devices.yaml");
    let mut yaml = String::from("dcim.device:\n");
    for i in 1..=3 {
        yaml += &format!("- {{name: dev-{i}, status: Active, role: leaf, location: site-1, device_type: {{model: s48}}, tags: [gold]}}\n");
    }
    yaml += "---\ndcim.interface:\n";
    for i in 0..5 {
        yaml += &format!("- {{device: dev-1, name: eth{i}, type: 1000base-t, status: Active}}\n");
    }
    std::fs::write(&yaml_file, &yaml)?;
    ferrobot(
        &url,
        &["import", &json_file.display().to_string(), &yaml_file.display().to_string()],
    )?;
    let exported: Value = serde_json::from_str(&ferrobot(&url, &["export"])?)?;
    assert_eq!(exported["dcim.device"].as_array().map(Vec::len), Some(3));
    assert_eq!(exported["dcim.interface"].as_array().map(Vec::len), Some(5));
    assert_eq!(exported["dcim.device"][0]["tags"].as_array().map(Vec::len), Some(1));
    // The export imports into a fresh database and exports the same again (YAML too).
    let export_file = dir.0.join("export.json");
    std::fs::write(&export_file, exported.to_string())?;
    let (other, _other_dir) = fresh_database()?;
    ferrobot(&other, &["import", &export_file.display().to_string()])?;
    let again: Value = serde_json::from_str(&ferrobot(&other, &["export"])?)?;
    assert_eq!(without_times(exported.clone()), without_times(again));
    let yaml_export = ferrobot(&other, &["export", "--yaml"])?;
    let from_yaml: Value = serde_yaml::from_str(&yaml_export)?;
    assert_eq!(without_times(exported), without_times(from_yaml));

    // A parse error names the file and the line.
    let broken = dir.0.join("broken.json");
    std::fs::write(&broken, "{\"extras.tag\": [{\"name\": \"x\"},\n {\"name\": }]}")?;
    let error = ferrobot(&url, &["import", &broken.display().to_string()]).expect_err("must fail");
    assert!(
        error.to_string().contains("broken.json") && error.to_string().contains("line 2"),
        "{error}"
    );

    // Chunks of 2: the 5th tag is bad; 4 tags are in, and --skip 4 goes on from there.
    let tags = dir.0.join("tags.json");
    let mut list: Vec<Value> = (1..=6).map(|i| json!({"name": format!("t{i}")})).collect();
    list[4] = json!({"name": "t1"});
    std::fs::write(&tags, json!({"extras.tag": list}).to_string())?;
    let error = ferrobot(&url, &["import", "--chunk", "2", &tags.display().to_string()])
        .expect_err("a duplicate must fail");
    let error = error.to_string();
    assert!(
        error.contains("extras.tag row 5") && error.contains("4 objects before it were committed"),
        "{error}"
    );
    list[4] = json!({"name": "t5"});
    std::fs::write(&tags, json!({"extras.tag": list}).to_string())?;
    ferrobot(&url, &["import", "--chunk", "2", "--skip", "4", &tags.display().to_string()])?;
    let exported: Value = serde_json::from_str(&ferrobot(&url, &["export"])?)?;
    let mut names: Vec<String> = exported["extras.tag"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, ["gold", "t1", "t2", "t3", "t4", "t5", "t6"]);
    Ok(())
}

fn without_times(mut value: Value) -> Value {
    for list in value.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
        for object in list.as_array_mut().into_iter().flatten() {
            if let Some(o) = object.as_object_mut() {
                o.remove("created");
                o.remove("last_updated");
            }
        }
    }
    value
}

const TAGS: &str = "subscription($after: BigInt) { object_changes(after_sequence: $after, changed_object_type: \"extras.tag\") { sequence object_repr } }";

/// A subscriber keeps its last sequence across a SIGTERM (the server stops at once, its socket
/// closed) and a kill -9, while another process writes: resumed with it, it gets every change
/// after, once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_resume_across_stops_and_kills() -> Result<()> {
    use ferrobot_test_support::Socket;
    let mut server = start(&[]).await?;
    let key = server.token.clone();
    let auth = || json!({ "Authorization": format!("Token {key}") });
    let mut socket = Socket::connect(&server.base, "graphql-transport-ws", auth()).await?;
    socket.subscribe("t", TAGS, json!({ "after": 0 })).await?;
    let send = |base: String, token: String, name: &str| {
        let body = json!({ "query": format!("mutation {{ tag_create(input: {{name: \"{name}\"}}) {{ name }} }}") });
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/graphql/"))
                .header("Authorization", format!("Token {token}"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success());
            anyhow::Ok(())
        }
    };
    send(server.base.clone(), server.token.clone(), "one").await?;
    let event = socket.events("t", 1).await?;
    assert_eq!(event[0]["data"]["object_changes"]["object_repr"], "one");
    let mut last = event[0]["data"]["object_changes"]["sequence"].as_i64().unwrap_or(0);

    // SIGTERM with the socket open: the server closes it (1001) and exits 0.
    terminate(&server.child)?;
    let started = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait();
        (server, status)
    });
    let (stopped, status) = status.await?;
    assert!(status?.success());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let (code, _) = socket.closed().await?;
    assert_eq!(code, 1001);
    server = stopped;
    // Written while no server runs (another process: the command line).
    let import = server._dir.0.join("tags.json");
    std::fs::write(
        &import,
        json!({ "extras.tag": [{"name": "two"}, {"name": "three"}] }).to_string(),
    )?;
    ferrobot(&server.url, &["import", &import.display().to_string()])?;

    for round in 0..2 {
        let dir = TempDir(std::mem::take(&mut server._dir.0));
        let (url, token) = (server.url.clone(), server.token.clone());
        drop(server);
        server = start_on(dir, url, token, &[]).await?;
        let mut socket = Socket::connect(&server.base, "graphql-ws", auth()).await?;
        socket.subscribe("t", TAGS, json!({ "after": last })).await?;
        let wanted: &[&str] = if round == 0 { &["two", "three"] } else { &["four"] };
        let events = socket.events("t", wanted.len()).await?;
        for (event, name) in events.iter().zip(wanted) {
            let change = &event["data"]["object_changes"];
            assert_eq!(change["object_repr"], *name);
            assert_eq!(change["sequence"].as_i64(), Some(last + 1));
            last += 1;
        }
        if round == 0 {
            // Committed, then kill -9 before the subscriber read it: the next round finds it.
            send(server.base.clone(), server.token.clone(), "four").await?;
            server.child.kill()?;
            server.child.wait()?;
        }
    }
    Ok(())
}

/// Webhooks lose nothing to a `kill -9`: events committed while the receiver is down, and
/// events committed just before the kill, are delivered by the next server, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_survive_kill_9() -> Result<()> {
    use ferrobot_test_support::Receiver;
    let flags = [
        "--webhook-allowed-networks",
        "127.0.0.1/32",
        "--webhook-backoff-ms",
        "50",
        "--webhook-max-backoff-ms",
        "200",
        "--webhook-timeout-ms",
        "1000",
    ];
    let receiver = Receiver::start(200).await?;
    let mut server = start(&flags).await?;
    let send = |server: &Server, query: String| {
        let request = reqwest::Client::new()
            .post(format!("{}/api/graphql/", server.base))
            .header("Authorization", format!("Token {}", server.token))
            .json(&json!({ "query": query }));
        async move {
            let body: Value = request.send().await?.json().await?;
            anyhow::ensure!(body.get("errors").is_none(), "{body}");
            anyhow::Ok(())
        }
    };
    let tag =
        |name: &str| format!("mutation {{ tag_create(input: {{name: \"{name}\"}}) {{ name }} }}");
    send(
        &server,
        format!(
            "mutation {{ webhook_create(input: {{name: \"w\", content_types: [\"extras.tag\"], type_create: true, payload_url: \"{}\"}}) {{ id }} }}",
            receiver.url
        ),
    )
    .await?;
    send(&server, tag("a0")).await?;
    receiver.wait_delivered(1, Duration::from_secs(20)).await?;
    // Down while changes are committed, then the server is killed.
    receiver.answer(503);
    for i in 1..6 {
        send(&server, tag(&format!("a{i}"))).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.child.kill()?;
    server.child.wait()?;
    receiver.answer(200);
    // Up, and a change killed right after its commit.
    for round in 0..2 {
        let dir = TempDir(std::mem::take(&mut server._dir.0));
        let (url, token) = (server.url.clone(), server.token.clone());
        drop(server);
        server = start_on(dir, url, token, &flags).await?;
        if round == 0 {
            send(&server, tag("b0")).await?;
            server.child.kill()?;
            server.child.wait()?;
        }
    }
    receiver.wait_delivered(7, Duration::from_secs(30)).await?;
    let mut names: Vec<String> = Vec::new();
    for d in receiver.delivered() {
        let name = d["data"]["name"].as_str().unwrap_or_default().to_owned();
        // At least once: a delivery the killed server made but did not record comes again.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    assert_eq!(names, ["a0", "a1", "a2", "a3", "a4", "a5", "b0"]);
    Ok(())
}

/// `ferrobot git sync` loads a repository from the machine's disk, and `ferrobot render` writes
/// one file per device from its template.
#[tokio::test]
async fn git_sync_and_render_from_the_command_line() -> Result<()> {
    let (url, dir) = fresh_database()?;
    let repo = dir.0.join("repo");
    std::fs::create_dir_all(repo.join("templates"))?;
    std::fs::create_dir_all(repo.join("config_contexts"))?;
    std::fs::write(
        repo.join("templates/device.j2"),
        "hostname {{ name }}\n{% for s in config_context.ntp %}ntp server {{ s }}\n{% endfor %}",
    )?;
    std::fs::write(
        repo.join("config_contexts/ntp.yaml"),
        "_metadata: {name: ntp}\nntp: [10.0.0.1]\n",
    )?;
    let git = |args: &[&str]| ferrobot_test_support::git(&repo, args).map(drop);
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "one"])?;
    let data = dir.0.join("data.json");
    let mut devices = Vec::new();
    for i in 1..=3 {
        devices.push(json!({"name": format!("dev-{i}"), "status": "Active", "role": "leaf", "location": "site-1", "device_type": {"model": "s48"}}));
    }
    std::fs::write(
        &data,
        json!({
            "extras.status": [{"name": "Active", "content_types": ["dcim.location", "dcim.device"]}],
            "dcim.locationtype": [{"name": "Site", "content_types": ["dcim.device"]}],
            "dcim.location": [{"name": "site-1", "location_type": "Site", "status": "Active"}],
            "dcim.manufacturer": [{"name": "Acme"}],
            "dcim.devicetype": [{"manufacturer": "Acme", "model": "s48"}],
            "extras.role": [{"name": "leaf", "content_types": ["dcim.device"]}],
            "dcim.device": devices,
            "extras.gitrepository": [{"name": "golden", "remote_url": format!("file://{}", repo.display()), "branch": "main",
                "provided_contents": ["extras.configcontext"]}],
        })
        .to_string(),
    )?;
    ferrobot(&url, &["import", &data.display().to_string()])?;
    let clones = dir.0.join("clones").display().to_string();
    ferrobot(&url, &["--git-dir", &clones, "git", "sync", "golden"])?;
    let query = dir.0.join("query.graphql");
    std::fs::write(
        &query,
        "query ($device_id: ID!) { device(id: $device_id) { name config_context } }",
    )?;
    let out = dir.0.join("configs");
    ferrobot(
        &url,
        &[
            "--git-dir",
            &clones,
            "render",
            "--query-file",
            &query.display().to_string(),
            "--repository",
            "golden",
            "--template",
            "templates/device.j2",
            "--filter",
            "name=dev-1",
            "--filter",
            "name=dev-3",
            "--out",
            &out.display().to_string(),
        ],
    )?;
    let mut written: Vec<String> = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    written.sort();
    assert_eq!(written, ["dev-1.cfg", "dev-3.cfg"]);
    assert_eq!(
        std::fs::read_to_string(out.join("dev-3.cfg"))?,
        "hostname dev-3\nntp server 10.0.0.1\n"
    );
    // A repository that is not there fails the command with the reason.
    let error = ferrobot(&url, &["--git-dir", &clones, "git", "sync", "nope"])
        .expect_err("no such repository");
    assert!(error.to_string().contains("no Git repository named nope"), "{error}");
    Ok(())
}
