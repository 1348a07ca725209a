//! The FilterSet filters Nautobot's clients send, with Nautobot's semantics: several paths
//! (`has_primary_ip`, `vlan_id`, `cables(device:)`), network filters under a path
//! (`devices(ip_addresses:)`), the IPAM search (`q`), strict networks (`prefix_exact`), cable
//! paths (`connected`), empty module bays and trees (`subtree`).

use super::*;

/// The sorted values of `field` in the list `list` of an answer.
fn listed(body: &Value, list: &str, field: &str) -> Vec<String> {
    let mut out: Vec<String> = body["data"][list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row[field].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

async fn client_filters_answer_as_nautobot(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut data = seed(3);
    active_for(&mut data, &["ipam.vlan", "dcim.cable", "dcim.module"]);
    data["dcim.virtualchassis"] = json!([{"name": "vc1"}]);
    data["dcim.rackgroup"] = json!([
        {"name": "rg-region", "location": "region-1"},
        {"name": "rg-site", "location": "site-001"}
    ]);
    for (i, position) in [(0, 1), (1, 2)] {
        data["dcim.device"][i]["virtual_chassis"] = json!("vc1");
        data["dcim.device"][i]["vc_position"] = json!(position);
    }
    if let Some(list) = data["extras.status"].as_array_mut() {
        list.push(json!({"name": "Connected", "content_types": ["dcim.cable"]}));
    }
    data["tenancy.tenant"] = json!([{"name": "acme-corp"}]);
    data["dcim.device"][2]["primary_ip4"] = Value::Null;
    data["dcim.device"][2]["tenant"] = json!("acme-corp");
    data["ipam.prefix"] = json!([
        {"prefix": "10.1.0.0/16", "status": "Active", "type": "network", "namespace": "Global", "tenant": "acme-corp"},
        {"prefix": "10.2.0.0/16", "status": "Active", "type": "network", "namespace": "Global", "description": "backbone"},
        {"prefix": "2001:db8::/32", "status": "Active", "type": "network", "namespace": "Global"},
        {"prefix": "10.1.5.0/24", "status": "Active", "type": "network", "namespace": "Global"}
    ]);
    app.import(data).await?;
    let setup = r#"mutation {
      v10: vlan_create(input: {id: "00000000-0000-4000-8000-0000000000a1", vid: 10, name: "users", status: {name: "Active"}}) { id }
      v20: vlan_create(input: {id: "00000000-0000-4000-8000-0000000000a2", vid: 20, name: "voice", status: {name: "Active"}}) { id }
      untagged: interface_update(ref: {device: {name: "dev-00001"}, name: "eth1"}, input: {mode: ACCESS, untagged_vlan: {id: "00000000-0000-4000-8000-0000000000a1"}}) { id }
      tagged: interface_update(ref: {device: {name: "dev-00002"}, name: "eth1"}, input: {mode: TAGGED, tagged_vlans: [{id: "00000000-0000-4000-8000-0000000000a1"}, {id: "00000000-0000-4000-8000-0000000000a2"}]}) { id }
      cable_create(input: {id: "00000000-0000-4000-8000-0000000000c1", status: {name: "Connected"}, type: CAT6}) { id }
      a: cable_to_cable_termination_create(input: {cable: {id: "00000000-0000-4000-8000-0000000000c1"}, cable_end: A, interface: {device: {name: "dev-00001"}, name: "eth2"}}) { id }
      b: cable_to_cable_termination_create(input: {cable: {id: "00000000-0000-4000-8000-0000000000c1"}, cable_end: B, interface: {device: {name: "dev-00002"}, name: "eth2"}}) { id }
      module_bay_create(input: {parent_device: {name: "dev-00003"}, name: "slot 1", position: "1"}) { id }
      slot2: module_bay_create(input: {id: "00000000-0000-4000-8000-0000000000b2", parent_device: {name: "dev-00003"}, name: "slot 2", position: "2"}) { id }
      module_type_create(input: {manufacturer: {name: "Acme"}, model: "lc-8"}) { id }
      module_create(input: {module_type: {manufacturer: {name: "Acme"}, model: "lc-8"}, parent_module_bay: {id: "00000000-0000-4000-8000-0000000000b2"}, status: {name: "Active"}, serial: "m-1"}) { id }
      rt: route_target_create(input: {name: "65000:100"}) { id }
      red: vrf_create(input: {name: "red", rd: "65000:1", namespace: {name: "Global"}, export_targets: [{name: "65000:100"}], prefixes: [{prefix: "10.1.0.0/16", namespace: {name: "Global"}}]}) { id }
      blue: vrf_create(input: {name: "blue", rd: "65000:2", namespace: {name: "Global"}, import_targets: [{name: "65000:100"}]}) { id }
      green: vrf_create(input: {name: "green", rd: "65000:3", namespace: {name: "Global"}}) { id }
      ssh: service_create(input: {name: "ssh", protocol: TCP, ports: [22, 2222], device: {name: "dev-00001"}}) { id }
      web: service_create(input: {name: "web", protocol: TCP, ports: [80, 443], device: {name: "dev-00002"}}) { id }
    }"#;
    let (_, body, _) = app.graphql(setup, Value::Null).await?;
    anyhow::ensure!(body.get("errors").is_none(), "{body}");
    let (_, body, _) =
        app.graphql(r#"{ ip_addresses(address: "10.1.0.1") { id } }"#, Value::Null).await?;
    let ip_id = body["data"]["ip_addresses"][0]["id"].as_str().unwrap_or_default().to_owned();

    let ip_id_filter = format!(r#"ip_addresses: "{ip_id}""#);
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        // Spec: nautobot/dcim/filters.py (DeviceFilterSet._has_primary_ip: IPv4 or IPv6).
        ("devices", "has_primary_ip: true", "name", vec!["dev-00001", "dev-00002"]),
        ("devices", "has_primary_ip: false", "name", vec!["dev-00003"]),
        // Addresses of the device's interfaces, by address (with or without mask) or id.
        ("devices", r#"ip_addresses: "10.1.0.2""#, "name", vec!["dev-00002"]),
        ("devices", r#"ip_addresses: ["10.1.0.1/16", "10.9.9.9"]"#, "name", vec!["dev-00001"]),
        ("devices", &ip_id_filter, "name", vec!["dev-00001"]),
        ("devices", r#"ip_addresses: "10.1.0.2/24""#, "name", vec![]),
        ("devices", "has_empty_module_bays: true", "name", vec!["dev-00003"]),
        ("devices", "has_empty_module_bays: false", "name", vec!["dev-00001", "dev-00002"]),
        // Spec: nautobot/dcim/filters.py (InterfaceFilterSet.filter_vlan_id, filter_vlan:
        // untagged or tagged).
        ("interfaces", "vlan: 10", "name", vec!["eth1", "eth1"]),
        ("interfaces", "vlan: 20", "name", vec!["eth1"]),
        ("interfaces", "connected: true", "name", vec!["eth2", "eth2"]),
        ("cables", r#"device: "dev-00002""#, "label", vec![""]),
        ("cables", r#"device: "dev-00003""#, "label", vec![]),
        ("cables", r#"location: "site-001""#, "label", vec![""]),
        // Spec: nautobot/ipam/querysets.py (string_search): a partial address, or text.
        (
            "ip_addresses",
            r#"q: "10.1.0""#,
            "address",
            vec!["10.1.0.1/16", "10.1.0.2/16", "10.1.0.3/16"],
        ),
        ("ip_addresses", r#"q: "10.2""#, "address", vec![]),
        ("prefixes", r#"q: "10""#, "prefix", vec!["10.1.0.0/16", "10.1.5.0/24", "10.2.0.0/16"]),
        ("prefixes", r#"q: "10.1.7""#, "prefix", vec!["10.1.0.0/16"]),
        ("prefixes", r#"q: "2001:db8""#, "prefix", vec!["2001:db8::/32"]),
        ("prefixes", r#"q: "BACKBONE""#, "prefix", vec!["10.2.0.0/16"]),
        ("prefixes", r#"prefix_exact: "10.2.0.0/16""#, "prefix", vec!["10.2.0.0/16"]),
        (
            "ip_addresses",
            r#"prefix_exact: "10.1.0.0/24""#,
            "address",
            vec!["10.1.0.1/16", "10.1.0.2/16", "10.1.0.3/16"],
        ),
        ("ip_addresses", r#"prefix_exact: "10.1.1.0/24""#, "address", vec![]),
        ("ip_addresses", r#"device: "dev-00002""#, "address", vec!["10.1.0.2/16"]),
        ("locations", r#"subtree: "region-1""#, "name", vec!["region-1", "site-001"]),
        ("tenants", r#"prefixes: "10.1.0.0/16""#, "name", vec!["acme-corp"]),
        // Spec: nautobot/dcim/filters.py, nautobot/ipam/filters.py (filter_max_depth: rows
        // fewer than N parents deep).
        ("locations", "max_depth: 1", "name", vec!["region-1"]),
        ("locations", "max_depth: 2", "name", vec!["region-1", "site-001"]),
        ("locations", "max_depth: 0", "name", vec!["region-1", "site-001"]),
        ("prefixes", "max_depth: 1", "prefix", vec!["10.1.0.0/16", "10.2.0.0/16", "2001:db8::/32"]),
        // Spec: nautobot/ipam/filters.py (filter_present_in_vrf): in the VRF, or in a VRF that
        // exports a route target the VRF imports.
        ("prefixes", r#"present_in_vrf: "65000:1""#, "prefix", vec!["10.1.0.0/16"]),
        ("prefixes", r#"present_in_vrf: "65000:2""#, "prefix", vec!["10.1.0.0/16"]),
        ("prefixes", r#"present_in_vrf: "65000:3""#, "prefix", vec![]),
        (
            "ip_addresses",
            r#"present_in_vrf: "65000:2""#,
            "address",
            vec!["10.1.0.1/16", "10.1.0.2/16", "10.1.0.3/16"],
        ),
        // Trees walked from the objects named: a prefix's ancestors (without it), a prefix and
        // what lies under it, rack groups in a location or any location above it.
        ("prefixes", r#"ancestors: "10.1.5.0/24""#, "prefix", vec!["10.1.0.0/16"]),
        (
            "prefixes",
            r#"prefix_and_descendants: "10.1.0.0/16""#,
            "prefix",
            vec!["10.1.0.0/16", "10.1.5.0/24"],
        ),
        ("rack_groups", r#"ancestors: "site-001""#, "name", vec!["rg-region", "rg-site"]),
        ("rack_groups", r#"ancestors: "region-1""#, "name", vec!["rg-region"]),
        // Spec: nautobot/ipam/filters.py (ServiceFilterSet.ports: the port is in the list).
        ("services", "ports: 443", "name", vec!["web"]),
        ("services", "ports: 2222", "name", vec!["ssh"]),
        ("services", "ports: 8080", "name", vec![]),
    ];
    for (list, filter, field, want) in cases {
        let query = format!("{{ {list}({filter}) {{ {field} }} }}");
        let (status, body, _) = app.graphql(&query, Value::Null).await?;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        assert_eq!(listed(&body, list, field), want, "{query}: {body}");
    }
    // Spec: nautobot/dcim/filters.py (modules installed in the device, or in its modules).
    let (_, body, _) =
        app.graphql(r#"{ modules(device: "dev-00003") { serial } }"#, Value::Null).await?;
    assert_eq!(body["data"]["modules"], json!([{"serial": "m-1"}]), "{body}");
    let (_, body, _) =
        app.graphql(r#"{ modules(device: "dev-00001") { serial } }"#, Value::Null).await?;
    assert_eq!(body["data"]["modules"], json!([]), "{body}");
    // Device.common_vc_interfaces: a virtual chassis member's interfaces are all its members'.
    let (_, body, _) = app.graphql(r#"{ devices { id name } }"#, Value::Null).await?;
    let id_of = |name: &str| {
        body["data"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["name"] == name)
            .and_then(|d| d["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    for (device, count) in [("dev-00002", 6), ("dev-00003", 3)] {
        let query =
            format!(r#"{{ interfaces(device_with_common_vc: "{}") {{ name }} }}"#, id_of(device));
        let (_, answer, _) = app.graphql(&query, Value::Null).await?;
        assert_eq!(answer["data"]["interfaces"].as_array().map(Vec::len), Some(count), "{answer}");
    }
    // `vlan_id` names the VLAN by id: the untagged port and the tagged one.
    let (_, body, _) = app.graphql(r#"{ vlans(vid: 10) { id } }"#, Value::Null).await?;
    let vlan = body["data"]["vlans"][0]["id"].as_str().unwrap_or_default().to_owned();
    let query = format!(r#"{{ interfaces(vlan_id: "{vlan}") {{ device {{ name }} }} }}"#);
    let (_, body, _) = app.graphql(&query, Value::Null).await?;
    assert_eq!(body["data"]["interfaces"].as_array().map(Vec::len), Some(2), "{body}");
    // A negated lookup excludes along every path: interfaces on neither VLAN end.
    let (_, body, _) =
        app.graphql(r#"{ interfaces(connected: false) { name } }"#, Value::Null).await?;
    assert_eq!(body["data"]["interfaces"].as_array().map(Vec::len), Some(7), "{body}");
    // `prefix_exact` refuses host bits and bare addresses, as Nautobot's strict filter does.
    for (filter, message) in [
        (
            r#"prefix_exact: "10.1.0.7/16""#,
            "Invalid prefix_exact value as it is not a subnet boundary: 10.1.0.7/16, did you mean 10.1.0.0/16?",
        ),
        (r#"prefix_exact: "10.1.0.0""#, "Invalid prefix_exact value (missing mask): 10.1.0.0"),
    ] {
        let query = format!("{{ ip_addresses({filter}) {{ address }} }}");
        let (_, body, _) = app.graphql(&query, Value::Null).await?;
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{body}");
        assert!(error["message"].as_str().unwrap_or_default().contains(message), "{body}");
    }
    // A nested list's filters are checked where Nautobot resolves the list, once per parent:
    // each parent's list is null with an error at its path; without parents, nothing is checked.
    let (status, body, _) = app
        .graphql(
            r#"{ locations(name: "nowhere") { devices(role: "nope") { name } } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"locations": []}), "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let (status, body, _) = app
        .graphql(
            r#"{ locations(name: ["region-1", "site-001"]) { name devices(role: "nope", status: "gone") { name } } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["locations"],
        json!([{"name": "region-1", "devices": null}, {"name": "site-001", "devices": null}]),
        "{body}"
    );
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[1]["path"], json!(["locations", 1, "devices"]), "{body}");
    assert_eq!(errors[1]["locations"], json!([{"line": 1, "column": 52}]), "{body}");
    assert_eq!(errors[1]["extensions"]["arguments"], json!(["role", "status"]), "{body}");
    let message = errors[1]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("{'role': ["), "{body}");
    // The single-valued arguments are typed as Nautobot types them.
    let (status, body, _) =
        app.graphql(r#"{ interfaces(vlan: [10]) { name } }"#, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}
backend_test!(client_filters, client_filters_answer_as_nautobot);
