//! `ferrobot-bench --render`: intended configurations for the fleet (`POST /api/render/`), as
//! Golden Config renders them one device at a time: its `device(id: $device_id)` query with the
//! device's config context, interfaces and addresses, and an IOS-like template with loops over
//! the interfaces. Timed for one device (Golden Config's unit of work) and for every device of
//! the dataset in one request: the total, per device, the statements and the bytes.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::{bytes, ms, report};

const QUERY: &str = "query ($device_id: ID!) { device(id: $device_id) { config_context hostname: name serial \
    tenant { name } tags { name } role { name } platform { name network_driver manufacturer { name } } \
    location { name parent { name } } primary_ip4 { address } \
    interfaces { name description enabled mac_address mtu mode ip_addresses { address } untagged_vlan { vid } tagged_vlans { vid } } } }";

const TEMPLATE: &str = "!\n! {{ hostname }} ({{ platform.name if platform else 'no platform' }}), {{ location.name }}\n!\nhostname {{ hostname }}\n\
{% if serial %}! serial {{ serial }}\n{% endif %}\
{% for t in tags %}! tag {{ t.name }}\n{% endfor %}\
{% for key, value in config_context.items() %}! context {{ key }}\n{% endfor %}\
{% for i in interfaces %}interface {{ i.name }}\n\
{% if i.description %} description {{ i.description }}\n{% endif %}\
{% if i.mtu %} mtu {{ i.mtu }}\n{% endif %}\
{% for a in i.ip_addresses %} ip address {{ a.address }}\n{% endfor %}\
{% if i.untagged_vlan %} switchport access vlan {{ i.untagged_vlan.vid }}\n{% endif %}\
{% if i.tagged_vlans %} switchport trunk allowed vlan {{ i.tagged_vlans | map(attribute='vid') | join(',') }}\n{% endif %}\
{% if not i.enabled %} shutdown\n{% endif %}!\n{% endfor %}end\n";

/// One timed render: the wall time, the devices, the statements, the bytes.
async fn once(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    filter: &Value,
) -> Result<(Duration, u64, u64, usize)> {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/render/"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"query": QUERY, "filter": filter, "template_code": TEMPLATE}))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("render: HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    }
    let last = body.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap_or_default();
    let summary: Value = serde_json::from_slice(last)?;
    let summary = &summary["summary"];
    if summary["failed"].as_u64() != Some(0)
        || summary["errors"].as_array().is_some_and(|e| !e.is_empty())
    {
        let first = body
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .find(|l| !l["error"].is_null());
        bail!("render: {summary}; first failure: {}", first.unwrap_or_default());
    }
    let devices = summary["devices"].as_u64().unwrap_or_default();
    let statements = summary["statements"].as_u64().unwrap_or_default();
    Ok((elapsed, devices, statements, body.len()))
}

/// Times the render of one device and of the whole fleet, `runs` times each.
pub(crate) async fn run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    runs: usize,
) -> Result<()> {
    report("| render | devices | min | median | per device (median) | SQL statements | size |");
    report("|---|---|---|---|---|---|---|");
    let thousand: Vec<String> = (1..=1000).map(|i| format!("dev-{i:05}")).collect();
    let cases = [
        ("one device", json!({"name": ["dev-00001"]})),
        ("1,000 devices by name", json!({"name": thousand})),
        ("every device", json!({})),
    ];
    for (label, filter) in cases {
        let mut times = Vec::new();
        let (mut devices, mut statements, mut size) = (0, 0, 0);
        for _ in 0..runs.max(1) {
            let (t, d, s, b) = once(client, base, token, &filter).await?;
            times.push(t);
            (devices, statements, size) = (d, s, b);
        }
        times.sort();
        let median = times[times.len() / 2];
        let per_device = median.as_secs_f64() * 1000.0 / devices.max(1) as f64;
        report(&format!(
            "| {label} | {devices} | {} | {} | {per_device:.3} ms | {statements} | {} |",
            ms(times[0]),
            ms(median),
            bytes(size)
        ));
    }
    Ok(())
}
