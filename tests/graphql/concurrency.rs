//! Readers and writers at once. Writers create, update and delete tags, locations and devices
//! (and send writes that must fail) while readers run nested queries; a busy database may
//! refuse a request as retryable (HTTP 503, BUSY), and nothing else goes wrong. Afterwards
//! every acknowledged write is there, no refused one left anything, and the change log has one
//! row per acknowledged change, numbered 1..N without gaps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const WRITERS: usize = 8;
const WRITES: usize = 40;
const READERS: usize = 16;
const READS: usize = 60;
/// Seeded devices (`dev-00001` …), which writers update concurrently.
const DEVICES: usize = 20;
/// How often a request refused as BUSY is sent again.
const ATTEMPTS: usize = 5;
const REQUEST_BOUND: Duration = Duration::from_secs(30);
/// How long a write waits for its turn before it is refused as BUSY.
const WRITE_WAIT: Duration = Duration::from_millis(250);

/// An answer: acknowledged (data, no errors) or refused (200 with an error code).
enum Answer {
    Acknowledged(Value),
    Refused(String, Value),
    /// Still BUSY after every attempt.
    Busy,
}

/// What one task saw of the server.
#[derive(Default)]
struct Tally {
    busy: usize,
    requests: usize,
    slowest: Duration,
}

/// Sends a document, again while the answer is BUSY; any other failure is an error.
async fn send(app: &TestApp, query: &str, tally: &mut Tally) -> anyhow::Result<Answer> {
    for attempt in 0..ATTEMPTS {
        tally.requests += 1;
        let sent = Instant::now();
        let (status, body, _) =
            tokio::time::timeout(REQUEST_BOUND, app.graphql(query, Value::Null))
                .await
                .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_BOUND:?}: {query}"))??;
        tally.slowest = tally.slowest.max(sent.elapsed());
        let code = error_of(&body)["extensions"]["code"].as_str().unwrap_or_default().to_owned();
        match status {
            503 => {
                anyhow::ensure!(code == "BUSY", "HTTP 503 that is not BUSY: {query}: {body}");
                tally.busy += 1;
                if attempt + 1 < ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(200 * (attempt as u64 + 1))).await;
                }
            }
            200 if body.get("errors").is_none() && body["data"].is_object() => {
                return Ok(Answer::Acknowledged(body["data"].clone()));
            }
            200 => {
                anyhow::ensure!(!code.is_empty() && code != "INTERNAL", "{query}: {body}");
                return Ok(Answer::Refused(code, body));
            }
            _ => anyhow::bail!("HTTP {status}: {query}: {body}"),
        }
    }
    Ok(Answer::Busy)
}

/// An object a writer made, as it must be found afterwards.
#[derive(Debug, Clone, PartialEq)]
struct Object {
    id: String,
    /// The tag's or location's description, the device's serial.
    value: String,
    /// The device's location.
    location: Option<String>,
}

/// What one writer's acknowledged and refused writes must have left.
#[derive(Default)]
struct Writer {
    tags: BTreeMap<String, Object>,
    locations: BTreeMap<String, Object>,
    devices: BTreeMap<String, Object>,
    /// (object id, action) for every change acknowledged, in order.
    changes: Vec<(String, &'static str)>,
    /// Acknowledged serials of the shared seeded devices: (device id, serial).
    shared: Vec<(String, String)>,
    acknowledged: usize,
    refused: BTreeMap<String, usize>,
    /// Writes still BUSY after every attempt (they must have left nothing).
    gave_up: usize,
    tally: Tally,
}

/// The answer's id at a path of the data, as text.
fn id_at(data: &Value, pointer: &str) -> anyhow::Result<String> {
    data.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no id at {pointer}: {data}"))
}

const DEVICE_TYPE: &str = r#"device_type: {manufacturer: {name: "Acme"}, model: "acme-s48"}, role: {name: "leaf"}, status: {name: "Active"}"#;

fn location_input(name: &str, description: &str) -> String {
    format!(
        r#"{{name: "{name}", description: "{description}", location_type: {{name: "Site"}}, status: {{name: "Active"}}, parent: {{name: "region-1"}}}}"#
    )
}

fn device_input(name: &str, serial: &str, location: &str) -> String {
    format!(
        r#"{{name: "{name}", serial: "{serial}", location: {{name: "{location}"}}, {DEVICE_TYPE}}}"#
    )
}

impl Writer {
    fn pick(map: &BTreeMap<String, Object>, rng: &mut StdRng) -> Option<(String, Object)> {
        if map.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..map.len());
        map.iter().nth(i).map(|(k, v)| (k.clone(), v.clone()))
    }

    /// A write that must be refused with one of `codes`; it must leave nothing.
    async fn refused(&mut self, app: &TestApp, query: &str, codes: &[&str]) -> anyhow::Result<()> {
        match send(app, query, &mut self.tally).await? {
            Answer::Refused(code, body) => {
                anyhow::ensure!(
                    codes.contains(&code.as_str()),
                    "{query}: refused as {code}: {body}"
                );
                let roots = body["data"].as_object().cloned().unwrap_or_default();
                anyhow::ensure!(
                    roots.values().all(Value::is_null),
                    "refused, yet answered: {body}"
                );
                *self.refused.entry(code).or_default() += 1;
            }
            Answer::Acknowledged(data) => anyhow::bail!("{query}: acknowledged, must fail: {data}"),
            Answer::Busy => self.gave_up += 1,
        }
        Ok(())
    }

    /// A write that must be acknowledged (`None` if it stayed BUSY, and so left nothing).
    async fn acknowledged(&mut self, app: &TestApp, query: &str) -> anyhow::Result<Option<Value>> {
        match send(app, query, &mut self.tally).await? {
            Answer::Acknowledged(data) => {
                self.acknowledged += 1;
                Ok(Some(data))
            }
            Answer::Refused(code, body) => anyhow::bail!("{query}: refused as {code}: {body}"),
            Answer::Busy => {
                self.gave_up += 1;
                Ok(None)
            }
        }
    }

    async fn step(
        &mut self,
        app: &TestApp,
        w: usize,
        i: usize,
        rng: &mut StdRng,
    ) -> anyhow::Result<()> {
        let value = format!("w{w}-{i}");
        let roll = rng.gen_range(0..100);
        let own_tag = Writer::pick(&self.tags, rng);
        let own_device = Writer::pick(&self.devices, rng);
        let own_location = Writer::pick(&self.locations, rng);
        match roll {
            0..=11 => {
                let name = format!("cc-w{w}-t{i}");
                let query = format!(
                    r#"mutation {{ tag_create(input: {{name: "{name}", description: "{value}"}}) {{ id description }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let id = id_at(&data, "/tag_create/id")?;
                    anyhow::ensure!(data["tag_create"]["description"] == value.as_str(), "{data}");
                    self.changes.push((id.clone(), "CREATE"));
                    self.tags.insert(name, Object { id, value, location: None });
                }
            }
            12..=21 => {
                let name = format!("cc-w{w}-l{i}");
                let query = format!(
                    "mutation {{ location_create(input: {}) {{ id }} }}",
                    location_input(&name, &value)
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let id = id_at(&data, "/location_create/id")?;
                    self.changes.push((id.clone(), "CREATE"));
                    self.locations.insert(name, Object { id, value, location: None });
                }
            }
            22..=33 => {
                let name = format!("cc-w{w}-d{i}");
                let location = own_location.map(|(n, _)| n).unwrap_or_else(|| "site-001".into());
                let query = format!(
                    "mutation {{ device_create(input: {}) {{ id serial location {{ name }} }} }}",
                    device_input(&name, &value, &location)
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let id = id_at(&data, "/device_create/id")?;
                    anyhow::ensure!(
                        data["device_create"]["location"]["name"] == location.as_str(),
                        "{data}"
                    );
                    self.changes.push((id.clone(), "CREATE"));
                    self.devices.insert(name, Object { id, value, location: Some(location) });
                }
            }
            34..=41 if own_tag.is_some() => {
                let Some((name, mut tag)) = own_tag else { return Ok(()) };
                let query = format!(
                    r#"mutation {{ tag_update(ref: {{name: "{name}"}}, input: {{description: "{value}"}}) {{ id description }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    anyhow::ensure!(data["tag_update"]["id"] == tag.id.as_str(), "{data}");
                    self.changes.push((tag.id.clone(), "UPDATE"));
                    tag.value = value;
                    self.tags.insert(name, tag);
                }
            }
            42..=49 if own_device.is_some() => {
                let Some((name, mut device)) = own_device else { return Ok(()) };
                let query = format!(
                    r#"mutation {{ device_update(ref: {{name: "{name}"}}, input: {{serial: "{value}"}}) {{ id serial }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    anyhow::ensure!(data["device_update"]["serial"] == value.as_str(), "{data}");
                    self.changes.push((device.id.clone(), "UPDATE"));
                    device.value = value;
                    self.devices.insert(name, device);
                }
            }
            50..=59 => {
                // Seeded devices, updated by every writer: the last committed serial wins.
                let device = format!("dev-{:05}", rng.gen_range(1..=DEVICES));
                let serial = format!("s-{value}");
                let query = format!(
                    r#"mutation {{ device_update(ref: {{name: "{device}"}}, input: {{serial: "{serial}"}}) {{ id serial }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let id = id_at(&data, "/device_update/id")?;
                    self.changes.push((id.clone(), "UPDATE"));
                    self.shared.push((id, serial));
                }
            }
            60..=65 if own_tag.is_some() => {
                let Some((name, tag)) = own_tag else { return Ok(()) };
                let query = format!(
                    r#"mutation {{ tag_delete(ref: {{name: "{name}"}}) {{ id object_type }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    anyhow::ensure!(
                        data["tag_delete"] == json!([{"id": tag.id, "object_type": "extras.tag"}]),
                        "{data}"
                    );
                    self.changes.push((tag.id, "DELETE"));
                    self.tags.remove(&name);
                }
            }
            66..=71 if own_device.is_some() => {
                let Some((name, device)) = own_device else { return Ok(()) };
                let query = format!(
                    r#"mutation {{ device_delete(ref: {{name: "{name}"}}) {{ id object_type }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    anyhow::ensure!(
                        data["device_delete"]
                            == json!([{"id": device.id, "object_type": "dcim.device"}]),
                        "{data}"
                    );
                    self.changes.push((device.id, "DELETE"));
                    self.devices.remove(&name);
                }
            }
            72..=79 => {
                // A tag, a location and a device in it, in one transaction.
                let (tag, location, device) =
                    (format!("cc-w{w}-bt{i}"), format!("cc-w{w}-bl{i}"), format!("cc-w{w}-bd{i}"));
                let query = format!(
                    r#"mutation {{ batch(operations: [{{tag_create: {{name: "{tag}", description: "{value}"}}}}, {{location_create: {}}}, {{device_create: {}}}]) {{ index action object_type id }} }}"#,
                    location_input(&location, &value),
                    device_input(&device, &value, &location),
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let ids: Vec<String> = (0..3)
                        .map(|k| id_at(&data, &format!("/batch/{k}/id")))
                        .collect::<anyhow::Result<_>>()?;
                    for id in &ids {
                        self.changes.push((id.clone(), "CREATE"));
                    }
                    self.tags.insert(
                        tag,
                        Object { id: ids[0].clone(), value: value.clone(), location: None },
                    );
                    self.locations.insert(
                        location.clone(),
                        Object { id: ids[1].clone(), value: value.clone(), location: None },
                    );
                    self.devices.insert(
                        device,
                        Object { id: ids[2].clone(), value, location: Some(location) },
                    );
                }
            }
            // Writes that must fail, and leave nothing.
            80..=83 => {
                let name = own_tag.map(|(n, _)| n).unwrap_or_else(|| "tag-1".into());
                let query = format!(
                    r#"mutation {{ tag_create(input: {{name: "{name}", description: "dup"}}) {{ id }} }}"#
                );
                self.refused(app, &query, &["CONFLICT"]).await?;
            }
            84..=87 => {
                let query = format!(
                    "mutation {{ device_create(input: {}) {{ id }} }}",
                    device_input(&format!("cc-w{w}-f{i}"), &value, &format!("cc-w{w}-nowhere{i}"))
                );
                self.refused(app, &query, &["NOT_FOUND", "VALIDATION_FAILED"]).await?;
            }
            88..=91 => {
                // A valid create and an update, then a duplicate: the whole batch is refused.
                let update = match &own_tag {
                    Some((name, _)) => format!(
                        r#"{{tag_update: {{ref: {{name: "{name}"}}, input: {{description: "never-{value}"}}}}}}, "#
                    ),
                    None => String::new(),
                };
                let query = format!(
                    r#"mutation {{ batch(operations: [{{tag_create: {{name: "cc-w{w}-x{i}"}}}}, {update}{{location_create: {}}}, {{tag_create: {{name: "tag-2"}}}}]) {{ id }} }}"#,
                    location_input(&format!("cc-w{w}-xl{i}"), &value)
                );
                self.refused(app, &query, &["CONFLICT"]).await?;
            }
            92..=94 => {
                let query = format!(
                    r#"mutation {{ tag_delete(ref: {{name: "cc-w{w}-gone{i}"}}) {{ id }} }}"#
                );
                self.refused(app, &query, &["NOT_FOUND"]).await?;
            }
            95..=97 => {
                let query = format!(
                    r#"mutation {{ location_create(input: {{name: "cc-w{w}-v{i}", location_type: {{name: "Site"}}}}) {{ id }} }}"#
                );
                self.refused(app, &query, &["VALIDATION_FAILED"]).await?;
            }
            98 | 99 if own_tag.is_some() => {
                // Renaming a tag onto a taken name.
                let Some((name, _)) = own_tag else { return Ok(()) };
                let query = format!(
                    r#"mutation {{ tag_update(ref: {{name: "{name}"}}, input: {{name: "tag-1", description: "never"}}) {{ id }} }}"#
                );
                self.refused(app, &query, &["CONFLICT"]).await?;
            }
            _ => {
                // The update or delete drawn had nothing to act on: a tag instead.
                let name = format!("cc-w{w}-t{i}");
                let query = format!(
                    r#"mutation {{ tag_create(input: {{name: "{name}", description: "{value}"}}) {{ id }} }}"#
                );
                if let Some(data) = self.acknowledged(app, &query).await? {
                    let id = id_at(&data, "/tag_create/id")?;
                    self.changes.push((id.clone(), "CREATE"));
                    self.tags.insert(name, Object { id, value, location: None });
                }
            }
        }
        Ok(())
    }
}

async fn writer(app: &TestApp, w: usize) -> anyhow::Result<Writer> {
    let mut rng = StdRng::seed_from_u64(0xc0c0 + w as u64);
    let mut state = Writer::default();
    for i in 0..WRITES {
        state.step(app, w, i, &mut rng).await?;
    }
    Ok(state)
}

const READS_OF: &[&str] = &[
    "{ devices { name serial location { name parent { name } } status { name } role { name } tags { name } interfaces { name ip_addresses { address } } } }",
    "{ locations(name__isw: \"cc-\") { name description location_type { name } parent { name } devices { name serial status { name } } } }",
    "{ tags(name__isw: \"cc-\") { id name description } }",
    "{ object_changes(limit: 50) { sequence action changed_object_type { model } changed_object_id } }",
    "{ devices(name__isw: \"cc-\") { name serial location { name parent { name } } role { name } } }",
];

/// Reads that must always answer, and never show a half-written object.
async fn reader(app: &TestApp, r: usize) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for i in 0..READS {
        let query = READS_OF[(r + i) % READS_OF.len()];
        let data = match send(app, query, &mut tally).await? {
            Answer::Acknowledged(data) => data,
            Answer::Busy => continue,
            Answer::Refused(code, body) => anyhow::bail!("{query}: refused as {code}: {body}"),
        };
        for device in data["devices"].as_array().into_iter().flatten() {
            anyhow::ensure!(
                device["location"]["name"].is_string(),
                "a device without its location: {device}"
            );
            anyhow::ensure!(
                device["role"]["name"] == "leaf",
                "a device without its role: {device}"
            );
        }
        if query.starts_with("{ devices {") {
            let names: BTreeSet<&str> = data["devices"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["name"].as_str())
                .collect();
            let seeded = (1..=DEVICES).all(|k| names.contains(format!("dev-{k:05}").as_str()));
            anyhow::ensure!(seeded, "a seeded device is missing: {names:?}");
        }
        for location in data["locations"].as_array().into_iter().flatten() {
            anyhow::ensure!(location["parent"]["name"] == "region-1", "{location}");
            anyhow::ensure!(location["location_type"]["name"] == "Site", "{location}");
        }
        let sequences: Vec<i64> = data["object_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["sequence"].as_i64())
            .collect();
        let distinct: BTreeSet<i64> = sequences.iter().copied().collect();
        anyhow::ensure!(
            distinct.len() == sequences.len(),
            "a sequence number twice: {sequences:?}"
        );
    }
    Ok(tally)
}

async fn readers_and_writers_at_once(backend: Backend) -> anyhow::Result<()> {
    // Writes wait briefly for their turn, so that some are refused as BUSY and sent again.
    let options =
        ferrobot_persistence::StoreOptions { write_wait: WRITE_WAIT, ..Default::default() };
    let app = TestApp::start_with(backend, options).await?;
    app.import(seed(DEVICES)).await?;
    let (status, body, _) = app.graphql("{ object_changes { sequence } }", Value::Null).await?;
    anyhow::ensure!(status == 200, "{body}");
    let seeded = body["data"]["object_changes"].as_array().map(Vec::len).unwrap_or_default() as i64;
    anyhow::ensure!(seeded > 0, "the seed wrote no change-log rows: {body}");

    let started = Instant::now();
    let writers = join_all((0..WRITERS).map(|w| writer(&app, w)));
    let readers = join_all((0..READERS).map(|r| reader(&app, r)));
    let (writers, readers) = tokio::join!(writers, readers);
    let elapsed = started.elapsed();
    let writers: Vec<Writer> = writers.into_iter().collect::<anyhow::Result<_>>()?;
    let readers: Vec<Tally> = readers.into_iter().collect::<anyhow::Result<_>>()?;

    // Every acknowledged object is there with its last acknowledged value; nothing else is.
    let (status, body, _) = app
        .graphql(
            "{ tags(name__isw: \"cc-\") { id name description } locations(name__isw: \"cc-\") { id name description } devices(name__isw: \"cc-\") { id name serial location { name } } }",
            Value::Null,
        )
        .await?;
    anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{body}");
    for (root, field) in
        [("tags", "description"), ("locations", "description"), ("devices", "serial")]
    {
        let mut want: BTreeMap<String, Object> = BTreeMap::new();
        for w in &writers {
            let objects = match root {
                "tags" => &w.tags,
                "locations" => &w.locations,
                _ => &w.devices,
            };
            want.extend(objects.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let have: BTreeMap<String, Object> = body["data"][root]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                let location = o["location"]["name"].as_str().map(str::to_owned);
                (text(&o["name"]), Object { id: text(&o["id"]), value: text(&o[field]), location })
            })
            .collect();
        let missing: Vec<_> = want.iter().filter(|(k, v)| have.get(*k) != Some(v)).collect();
        let unexpected: Vec<_> = have.keys().filter(|k| !want.contains_key(*k)).collect();
        anyhow::ensure!(
            missing.is_empty() && unexpected.is_empty(),
            "{root}: acknowledged and not found as written: {missing:?}; present though never acknowledged: {unexpected:?}"
        );
    }

    // The change log: 1..N, and past the seed one row per acknowledged change.
    let (status, body, _) = app
        .graphql(
            "{ object_changes { sequence action changed_object_id object_data } }",
            Value::Null,
        )
        .await?;
    anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{body}");
    let mut rows: Vec<&Value> =
        body["data"]["object_changes"].as_array().into_iter().flatten().collect();
    rows.sort_by_key(|r| r["sequence"].as_i64());
    let sequences: Vec<i64> = rows.iter().filter_map(|r| r["sequence"].as_i64()).collect();
    anyhow::ensure!(
        sequences == (1..=rows.len() as i64).collect::<Vec<_>>(),
        "sequences are not 1..{}: {:?}",
        rows.len(),
        sequences
            .iter()
            .enumerate()
            .filter(|(i, s)| **s != *i as i64 + 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let mut logged: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["sequence"].as_i64() > Some(seeded)) {
        let key = (
            r["changed_object_id"].as_str().unwrap_or_default().to_owned(),
            r["action"].as_str().unwrap_or_default().to_owned(),
        );
        *logged.entry(key).or_default() += 1;
    }
    let mut acknowledged: BTreeMap<(String, String), usize> = BTreeMap::new();
    for w in &writers {
        for (id, action) in &w.changes {
            *acknowledged.entry((id.clone(), (*action).to_owned())).or_default() += 1;
        }
    }
    if logged != acknowledged {
        let differ: Vec<_> = logged
            .keys()
            .chain(acknowledged.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| logged.get(*k) != acknowledged.get(*k))
            .map(|k| {
                (k, logged.get(k).copied().unwrap_or(0), acknowledged.get(k).copied().unwrap_or(0))
            })
            .take(10)
            .collect();
        anyhow::bail!("change log rows ≠ acknowledged changes ((id, action), logged, acknowledged): {differ:?}");
    }

    // The shared devices: every acknowledged serial was logged, and the last logged is current.
    let (_, body, _) =
        app.graphql("{ devices(name__isw: \"dev-\") { id name serial } }", Value::Null).await?;
    let current: BTreeMap<String, String> = body["data"]["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["id"].as_str().unwrap_or_default().to_owned(),
                d["serial"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    anyhow::ensure!(current.len() == DEVICES, "{body}");
    let mut shared: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for w in &writers {
        for (id, serial) in &w.shared {
            shared.entry(id).or_default().insert(serial);
        }
    }
    for (id, serial) in &current {
        let updates: Vec<&str> = rows
            .iter()
            .filter(|r| {
                r["sequence"].as_i64() > Some(seeded)
                    && r["changed_object_id"] == id.as_str()
                    && r["action"] == "UPDATE"
            })
            .filter_map(|r| r["object_data"]["serial"].as_str())
            .collect();
        let logged: BTreeSet<&str> = updates.iter().copied().collect();
        let wanted = shared.get(id.as_str()).cloned().unwrap_or_default();
        anyhow::ensure!(
            logged == wanted,
            "device {id}: logged serials {logged:?}, acknowledged {wanted:?}"
        );
        let last = updates.last().copied().unwrap_or("");
        anyhow::ensure!(
            serial == last,
            "device {id}: serial {serial:?}, the last logged update says {last:?}"
        );
    }

    let busy: usize = writers.iter().map(|w| w.tally.busy).sum::<usize>()
        + readers.iter().map(|r| r.busy).sum::<usize>();
    let requests: usize = writers.iter().map(|w| w.tally.requests).sum::<usize>()
        + readers.iter().map(|r| r.requests).sum::<usize>();
    let acknowledged_writes: usize = writers.iter().map(|w| w.acknowledged).sum();
    let gave_up: usize = writers.iter().map(|w| w.gave_up).sum();
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &writers {
        for (code, n) in &w.refused {
            *refused.entry(code).or_default() += n;
        }
    }
    let slowest_write = writers.iter().map(|w| w.tally.slowest).max().unwrap_or_default();
    let slowest_read = readers.iter().map(|r| r.slowest).max().unwrap_or_default();
    eprintln!(
        "concurrency {backend:?}: {WRITERS}×{WRITES} writes and {READERS}×{READS} reads in {elapsed:?} (slowest write {slowest_write:?}, read {slowest_read:?}); {acknowledged_writes} writes acknowledged, refused {refused:?}, {gave_up} given up as BUSY; {busy} of {requests} requests answered BUSY; {} change-log rows",
        rows.len()
    );
    Ok(())
}
backend_test!(concurrency, readers_and_writers_at_once);
