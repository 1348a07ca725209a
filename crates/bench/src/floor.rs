//! The write floor (`ferrobot-bench writes --floor`): the rows `ferrobot-bench writes` creates —
//! interfaces and, unless `--no-change-log`, one change-log row each with its JSON snapshot —
//! inserted straight into the same migrated SQLite file with rusqlite: prepared multi-row
//! statements reused across batches, one transaction per request's worth of rows, no GraphQL,
//! no HTTP, no checks, no reference lookups. What is left between this and the server is what
//! Ferrobot's write path costs.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferrobot_domain::value::naturalize;
use rusqlite::types::Value as Sql;
use serde_json::json;

/// SQLite's bound-parameter limit per statement.
const MAX_PARAMS: usize = 32_766;

const INTERFACE: &[&str] = &[
    "id",
    "created",
    "last_updated",
    "name",
    "_name",
    "label",
    "description",
    "device_id",
    "status_id",
    "enabled",
    "mac_address",
    "mode",
    "type",
    "port_type",
    "mgmt_only",
    "duplex",
    "_custom_field_data",
];

const CHANGE: &[&str] = &[
    "id",
    "time",
    "user_name",
    "request_id",
    "action",
    "changed_object_type_id",
    "changed_object_id",
    "change_context",
    "change_context_detail",
    "object_repr",
    "object_data",
    "sequence",
];

/// Inserts `objects` interfaces, `per_device` on each seeded device, `chunk` a transaction, into
/// the seeded SQLite file at `path`; returns the wall time of the inserts.
pub(crate) fn run(
    path: &str,
    objects: usize,
    chunk: usize,
    per_device: usize,
    change_log: bool,
) -> Result<Duration> {
    let mut conn = rusqlite::Connection::open(path).with_context(|| format!("open {path}"))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    conn.pragma_update(None, "cache_size", "-65536")?;
    let mut devices: Vec<Vec<u8>> = Vec::new();
    {
        let mut select = conn.prepare("SELECT id FROM dcim_device ORDER BY name")?;
        let rows = select.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        for row in rows {
            devices.push(row?);
        }
    }
    let status: Vec<u8> =
        conn.query_row("SELECT id FROM extras_status WHERE name = 'Active'", [], |r| r.get(0))?;
    let request = uuid::Uuid::new_v4();
    let started = Instant::now();
    let mut sequence = 0i64;
    let mut done = 0;
    while done < objects {
        let n = chunk.min(objects - done);
        let tx = conn.transaction()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false);
        let mut interfaces = Vec::with_capacity(n);
        let mut changes = Vec::with_capacity(n);
        for k in done..done + n {
            let id = uuid::Uuid::now_v7();
            let device = &devices[(k / per_device) % devices.len().max(1)];
            let name = format!("eth{}", k % per_device);
            let row = vec![
                Sql::Blob(id.as_bytes().to_vec()),
                Sql::Text(now.clone()),
                Sql::Text(now.clone()),
                Sql::Text(name.clone()),
                Sql::Text(naturalize(&name)),
                Sql::Text(String::new()),
                Sql::Text(String::new()),
                Sql::Blob(device.clone()),
                Sql::Blob(status.clone()),
                Sql::Integer(1),
                Sql::Text(String::new()),
                Sql::Text(String::new()),
                Sql::Text("1000base-t".into()),
                Sql::Text(String::new()),
                Sql::Integer(0),
                Sql::Text(String::new()),
                Sql::Text("{}".into()),
            ];
            if change_log {
                sequence += 1;
                let snapshot = json!({
                    "id": id, "created": now, "last_updated": now, "name": name, "label": "",
                    "description": "", "device": uuid::Uuid::from_slice(device).unwrap_or_default(),
                    "status": uuid::Uuid::from_slice(&status).unwrap_or_default(), "enabled": true,
                    "mac_address": "", "mtu": null, "role": null, "mode": "", "parent_interface": null,
                    "bridge": null, "lag": null, "type": "1000base-t", "port_type": "",
                    "mgmt_only": false, "untagged_vlan": null, "vrf": null, "speed": null,
                    "duplex": "", "breakout_position": null, "module": null, "custom_fields": {},
                    "ip_addresses": [], "tagged_vlans": [], "tags": [],
                });
                changes.push(vec![
                    Sql::Blob(uuid::Uuid::now_v7().as_bytes().to_vec()),
                    Sql::Text(now.clone()),
                    Sql::Text("floor".into()),
                    Sql::Blob(request.as_bytes().to_vec()),
                    Sql::Text("create".into()),
                    Sql::Text("dcim.interface".into()),
                    Sql::Blob(id.as_bytes().to_vec()),
                    Sql::Text("web".into()),
                    Sql::Text("graphql".into()),
                    Sql::Text(name),
                    Sql::Text(snapshot.to_string()),
                    Sql::Integer(sequence),
                ]);
            }
            interfaces.push(row);
        }
        insert(&tx, "dcim_interface", INTERFACE, interfaces)?;
        insert(&tx, "extras_objectchange", CHANGE, changes)?;
        tx.commit()?;
        done += n;
    }
    Ok(started.elapsed())
}

/// Multi-row inserts of `rows`: full statements come from the connection's statement cache.
fn insert(
    conn: &rusqlite::Connection,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Sql>>,
) -> Result<()> {
    let per = (MAX_PARAMS / columns.len()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Sql>> = rows.by_ref().take(per).collect();
        let one = format!("({})", vec!["?"; columns.len()].join(","));
        let sql = format!(
            "INSERT INTO \"{table}\" ({}) VALUES {}",
            columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(","),
            vec![one; batch.len()].join(",")
        );
        let mut statement = conn.prepare_cached(&sql)?;
        statement.execute(rusqlite::params_from_iter(batch.into_iter().flatten()))?;
    }
    Ok(())
}
