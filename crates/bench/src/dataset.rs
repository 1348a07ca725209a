//! The dataset of `shared/bench/dataset.md`, generated object by object in the import format's
//! order (a model's section after the sections it refers to), so that no size needs the whole
//! dataset in memory: 100,000 devices are 5.2 million objects.

use std::io::Write;

use anyhow::Result;
use serde_json::{json, Value};

/// The first two octets of site `k`'s networks: `10.K` as `dataset.md` defines them, carried on
/// into `11.(K-256)` … past site 255, where `10.K` stops being an address (100,000 devices have
/// 800 sites). Smaller datasets are unchanged.
fn site_net(k: usize) -> String {
    format!("{}.{}", 10 + k / 256, k % 256)
}

fn site(k: usize) -> String {
    format!("site-{k:03}")
}

const TYPES: [&str; 4] = ["acme-s48", "acme-s96", "globex-x48", "globex-x96"];

/// Cable `n`'s id: fixed, so that the termination rows can name their cable.
fn cable_id(n: usize) -> String {
    uuid::Uuid::from_u128(0x00c4_b1e0_0000_4000_8000_0000_0000_0000 | n as u128).to_string()
}

/// Calls `emit(label, object)` for every object of the dataset, one model section after the other.
pub(crate) fn generate(
    n_devices: usize,
    n_interfaces: usize,
    emit: &mut dyn FnMut(&'static str, Value) -> Result<()>,
) -> Result<()> {
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
    emit("extras.status", json!({"name": "Active", "content_types": all}))?;
    emit("extras.status", json!({"name": "Connected", "content_types": ["dcim.cable"]}))?;
    for role in ["leaf", "spine", "border"] {
        emit("extras.role", json!({"name": role, "content_types": ["dcim.device"]}))?;
    }
    for t in 1..=5 {
        emit("extras.tag", json!({"name": format!("tag-{t}")}))?;
    }
    emit(
        "extras.customfield",
        json!({"key": "owner_team", "label": "Owner team", "type": "text", "content_types": ["dcim.device"]}),
    )?;
    for t in 1..=5 {
        emit("tenancy.tenant", json!({"name": format!("tenant-{t}")}))?;
    }
    emit("ipam.namespace", json!({"name": "Global"}))?;
    emit("ipam.namespace", json!({"name": "bench"}))?;
    emit("dcim.locationtype", json!({"name": "Region", "nestable": false, "content_types": []}))?;
    emit(
        "dcim.locationtype",
        json!({"name": "Site", "parent": "Region", "content_types": ["dcim.device", "dcim.rack", "ipam.prefix", "ipam.vlan", "ipam.vlangroup"]}),
    )?;
    for r in 1..=2 {
        emit(
            "dcim.location",
            json!({"name": format!("region-{r}"), "location_type": "Region", "status": "Active"}),
        )?;
    }
    for k in 1..=n_sites {
        emit(
            "dcim.location",
            json!({"name": site(k), "location_type": "Site", "status": "Active", "parent": format!("region-{}", k % 2 + 1)}),
        )?;
    }
    emit("dcim.manufacturer", json!({"name": "Acme"}))?;
    emit("dcim.manufacturer", json!({"name": "Globex"}))?;
    for (n, t) in TYPES.iter().enumerate() {
        let manufacturer = if n < 2 { "Acme" } else { "Globex" };
        emit("dcim.devicetype", json!({"manufacturer": manufacturer, "model": t}))?;
    }
    emit(
        "dcim.platform",
        json!({"name": "acme-os", "manufacturer": "Acme", "network_driver": "cisco_ios"}),
    )?;
    emit(
        "dcim.platform",
        json!({"name": "globex-os", "manufacturer": "Globex", "network_driver": "arista_eos"}),
    )?;
    for i in (0..n_devices).filter(|i| i % 125 % 20 == 0) {
        let (k, j) = (i / 125 + 1, i % 125);
        let rack = format!("rack-{k:03}-{:02}", j / 20 + 1);
        emit("dcim.rack", json!({"name": rack, "location": site(k), "status": "Active"}))?;
    }
    for k in 1..=n_sites {
        emit(
            "ipam.prefix",
            json!({"prefix": format!("{}.0.0/16", site_net(k)), "type": "container", "status": "Active", "namespace": "bench", "locations": [site(k)]}),
        )?;
    }
    for i in 0..n_devices {
        let (k, j) = (i / 125 + 1, i % 125);
        emit(
            "ipam.prefix",
            json!({"prefix": format!("{}.{j}.0/24", site_net(k)), "type": "network", "status": "Active", "namespace": "bench", "locations": [site(k)]}),
        )?;
    }
    for i in 0..n_devices {
        let (k, j) = (i / 125 + 1, i % 125);
        let address = format!("{}.{j}.1/24", site_net(k));
        emit(
            "ipam.ipaddress",
            json!({"address": address, "status": "Active", "namespace": "bench"}),
        )?;
    }
    for k in 1..=n_sites {
        emit(
            "ipam.vlangroup",
            json!({"name": format!("vg-{}", site(k)), "location": site(k), "range": "1-4094"}),
        )?;
    }
    for k in 1..=n_sites {
        for vid in 100..200 {
            emit(
                "ipam.vlan",
                json!({"vid": vid, "name": format!("vlan-{vid}"), "status": "Active", "vlan_group": format!("vg-{}", site(k)), "locations": [site(k)]}),
            )?;
        }
    }
    for i in 0..n_devices {
        let (k, j) = (i / 125 + 1, i % 125);
        let rack = format!("rack-{k:03}-{:02}", j / 20 + 1);
        let address = format!("{}.{j}.1/24", site_net(k));
        let manufacturer = if i % 4 < 2 { "Acme" } else { "Globex" };
        let role = ["leaf", "spine", "border"][i % 3];
        emit(
            "dcim.device",
            json!({
                "name": format!("dev-{:05}", i + 1), "status": "Active", "role": role,
                "device_type": {"manufacturer": manufacturer, "model": TYPES[i % 4]},
                "platform": if i % 4 < 2 { "acme-os" } else { "globex-os" },
                "tenant": format!("tenant-{}", i % 5 + 1), "location": site(k), "rack": rack,
                "serial": format!("SN{:08}", i + 1),
                "tags": [format!("tag-{}", i % 5 + 1), format!("tag-{}", (i + 1) % 5 + 1)],
                "custom_fields": {"owner_team": format!("team-{}", i % 7 + 1)},
                "primary_ip4": {"address": address},
            }),
        )?;
    }
    for i in 0..n_devices {
        let (k, j) = (i / 125 + 1, i % 125);
        let name = format!("dev-{:05}", i + 1);
        for e in 0..n_interfaces {
            let mut iface = json!({"device": name, "name": format!("eth{e}"), "type": "1000base-t", "status": "Active"});
            if e == 0 {
                iface["tags"] = json!([format!("tag-{}", i % 5 + 1)]);
                iface["ip_addresses"] = json!([{"address": format!("{}.{j}.1/24", site_net(k))}]);
            }
            emit("dcim.interface", iface)?;
        }
    }
    let cabled = || (0..n_devices).filter(move |i| i % 10 == 0 && i + 1 < n_devices);
    for i in cabled() {
        emit("dcim.cable", json!({"id": cable_id(i), "status": "Connected", "type": "cat6"}))?;
    }
    let last = format!("eth{}", n_interfaces.saturating_sub(1));
    for i in cabled() {
        for (end, device) in [("A", i + 1), ("B", i + 2)] {
            emit(
                "dcim.cabletocabletermination",
                json!({"cable": cable_id(i), "cable_end": end, "interface": {"device": format!("dev-{device:05}"), "name": last}}),
            )?;
        }
    }
    Ok(())
}

/// Writes the dataset as one JSON document of the import format, object by object.
pub(crate) fn write_json(
    n_devices: usize,
    n_interfaces: usize,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut section: Option<&'static str> = None;
    let mut objects = 0u64;
    out.write_all(b"{")?;
    generate(n_devices, n_interfaces, &mut |label, object| {
        if section != Some(label) {
            if section.is_some() {
                out.write_all(b"],")?;
            }
            write!(out, "\n{}: [", Value::from(label))?;
            section = Some(label);
        } else {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, &object)?;
        objects += 1;
        Ok(())
    })?;
    if section.is_some() {
        out.write_all(b"]")?;
    }
    out.write_all(b"\n}\n")?;
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every section comes once, in one run, and the JSON document parses back whole.
    #[test]
    fn sections_are_contiguous_and_the_document_parses() -> Result<()> {
        let mut order: Vec<&str> = Vec::new();
        generate(260, 3, &mut |label, _| {
            if order.last() != Some(&label) {
                assert!(!order.contains(&label), "{label} comes twice");
                order.push(label);
            }
            Ok(())
        })?;
        assert_eq!(order.first(), Some(&"extras.status"));
        assert_eq!(order.last(), Some(&"dcim.cabletocabletermination"));
        let mut text = Vec::new();
        let objects = write_json(260, 3, &mut text)?;
        let parsed: Value = serde_json::from_slice(&text)?;
        let counted: usize = parsed
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_array())
            .map(Vec::len)
            .sum();
        assert_eq!(counted as u64, objects);
        assert_eq!(parsed["dcim.interface"].as_array().map(Vec::len), Some(780));
        // Sites past 255 carry on into 11.x (3 sites here; 260 devices need 3).
        assert_eq!(parsed["dcim.location"].as_array().map(Vec::len), Some(5));
        Ok(())
    }
}
