//! The behaviour that keeps the model true: components from templates, rack space.

use super::*;

/// A device type with templates of every kind that names another (front → rear ports, power
/// outlets → power ports), written in one request with a device of that type.
const TEMPLATES: &str = r#"mutation {
  device_type_create(input: {manufacturer: {name: "Acme"}, model: "patch-2u", u_height: 2}) { id }
  rear_port_template_create_bulk(inputs: [
    {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "rear1", type: MPO, positions: 2}
  ]) { id }
  front_port_template_create_bulk(inputs: [
    {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "front1", type: LC, rear_port_position: 1,
     rear_port_template: {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "rear1"}},
    {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "front2", type: LC, rear_port_position: 2,
     rear_port_template: {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "rear1"}}
  ]) { id }
  interface_template_create_bulk(inputs: [
    {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "mgmt0", type: A_1000BASE_T, mgmt_only: true}
  ]) { id }
  power_port_template_create(input: {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "psu1"}) { id }
  power_outlet_template_create(input: {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "out1",
    power_port_template: {device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, name: "psu1"}}) { id }
  device_create(input: {name: "pp-1", device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, role: {name: "leaf"},
    status: {name: "Active"}, location: {name: "site-001"}}) {
    name
    interfaces { name mgmt_only status { name } }
    rear_ports { name positions }
    front_ports { name rear_port { name } rear_port_position }
    power_outlets { name power_port { name } }
  }
}"#;

async fn components_come_from_templates(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let (status, body, _) = app.graphql(TEMPLATES, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["device_create"],
        json!({
            "name": "pp-1",
            "interfaces": [{"name": "mgmt0", "mgmt_only": true, "status": {"name": "Active"}}],
            "rear_ports": [{"name": "rear1", "positions": 2}],
            "front_ports": [
                {"name": "front1", "rear_port": {"name": "rear1"}, "rear_port_position": 1},
                {"name": "front2", "rear_port": {"name": "rear1"}, "rear_port_position": 2}
            ],
            "power_outlets": [{"name": "out1", "power_port": {"name": "psu1"}}]
        }),
        "{body}"
    );
    // Each component is a change of its own, in the request of the device.
    let (_, body, _) = app
        .graphql(
            r#"{ object_changes(changed_object_type: "dcim.frontport") { action object_repr } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["object_changes"].as_array().map(Vec::len), Some(2), "{body}");
    Ok(())
}
backend_test!(components_from_templates, components_come_from_templates);

async fn rack_space_is_checked(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let setup = r#"mutation {
      status_update(ref: {name: "Active"}, input: {content_types: ["dcim.device", "dcim.interface", "dcim.location", "dcim.rack"]}) { name }
      rack_create(input: {name: "r1", location: {name: "site-001"}, status: {name: "Active"}, u_height: 10}) { id }
      device_type_create(input: {manufacturer: {name: "Acme"}, model: "big-4u", u_height: 4, is_full_depth: true}) { id }
      a: device_create(input: {name: "a", device_type: {manufacturer: {name: "Acme"}, model: "big-4u"}, role: {name: "leaf"},
        status: {name: "Active"}, location: {name: "site-001"}, rack: {name: "r1"}, position: 1, face: FRONT}) { id }
    }"#;
    let (status, body, _) = app.graphql(setup, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let place = |name: &str, position: u32, face: &str| {
        format!(
            r#"mutation {{ device_create(input: {{name: "{name}", device_type: {{manufacturer: {{name: "Acme"}}, model: "big-4u"}}, role: {{name: "leaf"}}, status: {{name: "Active"}}, location: {{name: "site-001"}}, rack: {{name: "r1"}}, position: {position}, face: {face}}}) {{ name position }} }}"#
        )
    };
    // Overlapping units on the other face: the first device is full depth.
    let (_, body, _) = app.graphql(&place("b", 3, "REAR"), Value::Null).await?;
    let error = error_of(&body);
    assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    let message = error["extensions"]["fields"]["position"][0].as_str().unwrap_or_default();
    assert!(message.starts_with("U3 is already occupied"), "{body}");
    // Beyond the top of a 10U rack.
    let (_, body, _) = app.graphql(&place("b", 8, "FRONT"), Value::Null).await?;
    assert!(error_of(&body)["extensions"]["fields"]["position"].is_array(), "{body}");
    // The units above are free.
    let (_, body, _) = app.graphql(&place("b", 5, "FRONT"), Value::Null).await?;
    assert_eq!(body["data"]["device_create"], json!({"name": "b", "position": 5}), "{body}");
    // A device moved within the rack does not collide with itself.
    let (_, body, _) = app
        .graphql(
            r#"mutation { device_update(ref: {name: "b", location: {name: "site-001"}}, input: {position: 6}) { position } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["device_update"], json!({"position": 6}), "{body}");
    // Reservations: units must exist and not be reserved twice.
    let reserve = |units: &str| {
        format!(
            r#"mutation {{ rack_reservation_create(input: {{rack: {{name: "r1"}}, units: {units}, description: "x"}}) {{ units }} }}"#
        )
    };
    let (_, body, _) = app.graphql(&reserve("[9, 10]"), Value::Null).await?;
    assert_eq!(body["data"]["rack_reservation_create"], json!({"units": [9, 10]}), "{body}");
    let (_, body, _) = app.graphql(&reserve("[10, 11]"), Value::Null).await?;
    let message =
        error_of(&body)["extensions"]["fields"]["units"][0].as_str().unwrap_or_default().to_owned();
    assert_eq!(message, "Invalid unit(s) for 10U rack: 11", "{body}");
    let (_, body, _) = app.graphql(&reserve("[8, 9]"), Value::Null).await?;
    let message =
        error_of(&body)["extensions"]["fields"]["units"][0].as_str().unwrap_or_default().to_owned();
    assert_eq!(message, "The following units have already been reserved: 9", "{body}");
    // A rack can't shrink below the devices it holds (b takes U6–U9).
    let (_, body, _) = app
        .graphql(
            r#"mutation { rack_update(ref: {name: "r1"}, input: {u_height: 8}) { u_height } }"#,
            Value::Null,
        )
        .await?;
    assert!(error_of(&body)["extensions"]["fields"]["u_height"].is_array(), "{body}");
    // The elevation of the rear face, top first: both devices are full depth.
    let (_, body, _) = app
        .graphql(
            r#"{ devices(name: ["a", "b"]) { id name } racks(name: "r1") { elevation(face: "rear") { name occupied device_id reservation_id } } }"#,
            Value::Null,
        )
        .await?;
    let id = |n: usize| body["data"]["devices"][n]["id"].clone();
    let units = body["data"]["racks"][0]["elevation"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = units.iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["U10", "U9", "U8", "U7", "U6", "U5", "U4", "U3", "U2", "U1"], "{body}");
    assert_eq!(
        (units[0]["occupied"].clone(), units[0]["device_id"].clone()),
        (json!(false), Value::Null)
    );
    assert!(
        units[0]["reservation_id"].is_string() && units[1]["reservation_id"].is_string(),
        "{body}"
    );
    assert_eq!(units[1]["device_id"], id(1), "{body}");
    assert_eq!(
        (units[5]["occupied"].clone(), units[5]["reservation_id"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(units[9]["device_id"], id(0), "{body}");
    Ok(())
}
backend_test!(rack_space, rack_space_is_checked);

/// Updating a device in a rack checks its place against the rack's other devices and their
/// types: the types are read in one statement, however many devices and types the rack holds.
async fn rack_rule_reads_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [2usize, 12] {
        let app = TestApp::start(backend).await?;
        app.import(seed(1)).await?;
        let mut setup = String::from(
            r#"mutation {
              status_update(ref: {name: "Active"}, input: {content_types: ["dcim.device", "dcim.interface", "dcim.location", "dcim.rack"]}) { name }
              rack_create(input: {name: "r1", location: {name: "site-001"}, status: {name: "Active"}, u_height: 42}) { id }"#,
        );
        for i in 0..n {
            setup.push_str(&format!(
                r#"
              t{i}: device_type_create(input: {{manufacturer: {{name: "Acme"}}, model: "type-{i}", u_height: 1}}) {{ id }}
              d{i}: device_create(input: {{name: "r-{i}", device_type: {{manufacturer: {{name: "Acme"}}, model: "type-{i}"}}, role: {{name: "leaf"}},
                status: {{name: "Active"}}, location: {{name: "site-001"}}, rack: {{name: "r1"}}, position: {}, face: FRONT}}) {{ id }}"#,
                i + 1
            ));
        }
        setup.push_str(
            "
}",
        );
        let (status, body, _) = app.graphql(&setup, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        let update = r#"mutation { device_update(ref: {name: "r-0", location: {name: "site-001"}}, input: {comments: "checked"}) { comments } }"#;
        let (_, body, statements) = app.graphql(update, Value::Null).await?;
        assert_eq!(body["data"]["device_update"], json!({"comments": "checked"}), "{body}");
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the rack's devices: {counts:?}");
    Ok(())
}
backend_test!(rack_rule_reads, rack_rule_reads_do_not_grow);

async fn prefixes_keep_the_tree(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let write = |q: String| {
        let app = &app;
        async move {
            let (_, body, _) = app.graphql(&q, Value::Null).await?;
            anyhow::Ok(body)
        }
    };
    let prefix = |p: &str| {
        format!(
            r#"mutation {{ prefix_create(input: {{prefix: "{p}", status: {{name: "Active"}}, namespace: {{name: "Global"}}}}) {{ parent {{ prefix }} }} }}"#
        )
    };
    let body = write(r#"mutation { ip_address_create(input: {address: "10.1.5.5/24", status: {name: "Active"}}) { parent { prefix } } }"#.into()).await?;
    assert_eq!(body["data"]["ip_address_create"]["parent"]["prefix"], "10.1.0.0/16", "{body}");
    // A wider prefix adopts the top of the tree; a narrower one adopts the address.
    let body = write(prefix("10.0.0.0/8")).await?;
    assert_eq!(body["data"]["prefix_create"]["parent"], Value::Null, "{body}");
    let body = write(prefix("10.1.5.0/24")).await?;
    assert_eq!(body["data"]["prefix_create"]["parent"]["prefix"], "10.1.0.0/16", "{body}");
    let tree = r#"{ prefixes { prefix parent { prefix } } ip_addresses(mask_length: 24) { parent { prefix } } }"#;
    let body = write(tree.into()).await?;
    assert_eq!(
        body["data"],
        json!({
            "prefixes": [
                {"prefix": "10.0.0.0/8", "parent": null},
                {"prefix": "10.1.0.0/16", "parent": {"prefix": "10.0.0.0/8"}},
                {"prefix": "10.1.5.0/24", "parent": {"prefix": "10.1.0.0/16"}}
            ],
            "ip_addresses": [{"parent": {"prefix": "10.1.5.0/24"}}]
        }),
        "{body}"
    );
    // Deleting hands the children to the parent.
    let delete = |p: &str| {
        format!(
            r#"mutation {{ prefix_delete(ref: {{prefix: "{p}", namespace: {{name: "Global"}}}}) {{ id }} }}"#
        )
    };
    let body = write(delete("10.1.5.0/24")).await?;
    assert!(body["errors"].is_null(), "{body}");
    let body = write(delete("10.0.0.0/8")).await?;
    assert!(body["errors"].is_null(), "{body}");
    let body = write(tree.into()).await?;
    assert_eq!(
        body["data"],
        json!({
            "prefixes": [{"prefix": "10.1.0.0/16", "parent": null}],
            "ip_addresses": [{"parent": {"prefix": "10.1.0.0/16"}}]
        }),
        "{body}"
    );
    // The last prefix over addresses can't go: they would have no parent.
    let body = write(delete("10.1.0.0/16")).await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "PROTECTED", "{body}");
    let message = error_of(&body)["message"].as_str().unwrap_or_default();
    assert!(message.contains("would no longer have a valid parent"), "{body}");
    Ok(())
}
backend_test!(prefix_tree, prefixes_keep_the_tree);

/// Statements per query do not grow with the rows across the relations of the whole model:
/// cables between interfaces, and addresses assigned to interfaces.
async fn deep_queries_across_new_relations(backend: Backend) -> anyhow::Result<()> {
    const CONNECTED: &str = "{ devices { name interfaces { name connected_endpoint { __typename ... on InterfaceType { name device { name location { name } } } } } } }";
    const ASSIGNED: &str = "{ prefixes { prefix ip_addresses { address interfaces { name device { name location { name } } } } } }";
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        let mut data = seed(n);
        active_for(&mut data, &["dcim.cable"]);
        // Device i's eth2 to device i+1's eth1, for every even i.
        let mut cables = Vec::new();
        let mut ends = Vec::new();
        for i in (0..n - 1).step_by(2) {
            let id = format!("00000000-0000-4000-8000-{:012}", i);
            cables.push(json!({"id": id, "status": "Active", "type": "cat6"}));
            ends.push(json!({"cable": id, "cable_end": "A", "interface": {"device": format!("dev-{:05}", i + 1), "name": "eth2"}}));
            ends.push(json!({"cable": id, "cable_end": "B", "interface": {"device": format!("dev-{:05}", i + 2), "name": "eth1"}}));
        }
        data["dcim.cable"] = json!(cables);
        data["dcim.cabletocabletermination"] = json!(ends);
        app.import(data).await?;
        let (status, body, connected) = app.graphql(CONNECTED, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n, "{body}");
        assert_eq!(
            devices[n - 2]["interfaces"][2]["connected_endpoint"],
            json!({"__typename": "InterfaceType", "name": "eth1", "device": {"name": format!("dev-{:05}", n), "location": {"name": "site-001"}}}),
        );
        assert_eq!(devices[0]["interfaces"][0]["connected_endpoint"], Value::Null);
        let (status, body, assigned) = app.graphql(ASSIGNED, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let addresses =
            body["data"]["prefixes"][0]["ip_addresses"].as_array().cloned().unwrap_or_default();
        assert_eq!(addresses.len(), n, "{body}");
        assert_eq!(
            addresses[0]["interfaces"],
            json!([{"name": "eth0", "device": {"name": "dev-00001", "location": {"name": "site-001"}}}])
        );
        counts.push((connected.unwrap_or(u64::MAX), assigned.unwrap_or(u64::MAX)));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the row count: {counts:?}");
    // One per level: devices, interfaces, the connected endpoint as each kind a path from an
    // interface can end on (circuit termination, console port, console server port, interface),
    // their devices, locations; and prefixes, addresses, interfaces, devices, locations.
    assert!(counts[0].0 <= 8 && counts[0].1 <= 5, "{counts:?}");
    Ok(())
}
backend_test!(deep_statements, deep_queries_across_new_relations);

async fn cables_follow_the_rules(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut data = seed(2);
    active_for(&mut data, &["dcim.cable"]);
    data["dcim.powerport"] = json!([{"device": "dev-00002", "name": "psu1"}]);
    if let Some(list) = data["dcim.interface"].as_array_mut() {
        list.push(
            json!({"device": "dev-00002", "name": "vlan10", "type": "virtual", "status": "Active"}),
        );
    }
    app.import(data).await?;
    let cable = |id: &str, b: &str| {
        format!(
            r#"mutation {{
              cable_create(input: {{id: "{id}", status: {{name: "Active"}}, type: CAT6}}) {{ id }}
              a: cable_to_cable_termination_create(input: {{cable: {{id: "{id}"}}, cable_end: A, interface: {{device: {{name: "dev-00001"}}, name: "eth2"}}}}) {{ id }}
              b: cable_to_cable_termination_create(input: {{cable: {{id: "{id}"}}, cable_end: B, {b}}}) {{ id }}
            }}"#
        )
    };
    let id = "00000000-0000-4000-8000-00000000000c";
    // Power never meets data; a virtual interface takes no cable.
    let (_, body, _) = app
        .graphql(
            &cable(id, r#"power_port: {device: {name: "dev-00002"}, name: "psu1"}"#),
            Value::Null,
        )
        .await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    let message =
        error_of(&body)["extensions"]["fields"]["__all__"][0].as_str().unwrap_or_default();
    assert!(message.contains("cannot be cabled together"), "{body}");
    assert_eq!(error_of(&body)["path"], json!(["b"]), "{body}");
    let (_, body, _) = app
        .graphql(
            &cable(id, r#"interface: {device: {name: "dev-00002"}, name: "vlan10"}"#),
            Value::Null,
        )
        .await?;
    let message =
        error_of(&body)["extensions"]["fields"]["__all__"][0].as_str().unwrap_or_default();
    assert_eq!(message, "Virtual interfaces cannot be cabled", "{body}");
    // Nothing of the refused requests was written; the right pair is.
    let (_, body, _) = app
        .graphql(
            &cable(id, r#"interface: {device: {name: "dev-00002"}, name: "eth1"}"#),
            Value::Null,
        )
        .await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app
        .graphql(
            r#"{ interfaces(device: "dev-00001", name: "eth2") { connected_endpoint { ... on InterfaceType { name device { name } } } } cables { id } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"],
        json!({"interfaces": [{"connected_endpoint": {"name": "eth1", "device": {"name": "dev-00002"}}}], "cables": [{"id": id}]}),
        "{body}"
    );
    Ok(())
}
backend_test!(cable_rules, cables_follow_the_rules);

/// A path runs from an interface through two patch panels (front → rear, rear → rear, rear →
/// front) to the far interface, is stored when the cables are written and traced again when one
/// goes.
async fn cable_paths_are_traced(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut data = seed(2);
    data["extras.status"] = json!([
        {"name": "Active", "content_types": ["dcim.device", "dcim.interface", "dcim.location", "ipam.prefix", "ipam.ipaddress", "dcim.cable"]},
        {"name": "Connected", "content_types": ["dcim.cable"]}
    ]);
    app.import(data).await?;
    // Two patch panels from one device type with a 2-position rear port.
    let (_, body, _) = app.graphql(TEMPLATES, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app
        .graphql(
            r#"mutation { device_create(input: {name: "pp-2", device_type: {manufacturer: {name: "Acme"}, model: "patch-2u"}, role: {name: "leaf"}, status: {name: "Active"}, location: {name: "site-001"}}) { id } }"#,
            Value::Null,
        )
        .await?;
    assert!(body["errors"].is_null(), "{body}");
    let end = |cable: &str, side: &str, what: &str| {
        format!(
            r#"{{cable_to_cable_termination_create: {{cable: {{id: "{cable}"}}, cable_end: {side}, {what}}}}}"#
        )
    };
    let port = |kind: &str, device: &str, name: &str| {
        format!(r#"{kind}: {{device: {{name: "{device}"}}, name: "{name}"}}"#)
    };
    let ids = [
        "00000000-0000-4000-8000-0000000000c1",
        "00000000-0000-4000-8000-0000000000c2",
        "00000000-0000-4000-8000-0000000000c3",
    ];
    let mut ops: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{cable_create: {{id: "{id}", status: {{name: "Connected"}}}}}}"#))
        .collect();
    ops.push(end(ids[0], "A", &port("interface", "dev-00001", "eth2")));
    ops.push(end(ids[0], "B", &port("front_port", "pp-1", "front2")));
    ops.push(end(ids[1], "A", &port("rear_port", "pp-1", "rear1")));
    ops.push(end(ids[1], "B", &port("rear_port", "pp-2", "rear1")));
    ops.push(end(ids[2], "A", &port("front_port", "pp-2", "front2")));
    ops.push(end(ids[2], "B", &port("interface", "dev-00002", "eth1")));
    let batch = format!("mutation {{ batch(operations: [{}]) {{ index }} }}", ops.join(", "));
    let (_, body, _) = app.graphql(&batch, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    let query = r#"{ a: interfaces(device: "dev-00001", name: "eth2") { path { is_active is_split destination_type { app_label model } path } }
                    b: interfaces(device: "dev-00002", name: "eth1") { id path { destination_id } cable_paths { is_active } } }"#;
    let (_, body, _) = app.graphql(query, Value::Null).await?;
    let path = &body["data"]["a"][0]["path"];
    assert_eq!(path["is_active"], true, "{body}");
    assert_eq!(path["is_split"], false, "{body}");
    // Nautobot's ContentTypeType object.
    assert_eq!(
        path["destination_type"],
        json!({"app_label": "dcim", "model": "interface"}),
        "{body}"
    );
    let hops: Vec<String> = path["path"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().and_then(|s| s.split(':').next()).map(str::to_owned))
        .collect();
    assert_eq!(
        hops,
        [
            "dcim.cable",
            "dcim.frontport",
            "dcim.rearport",
            "dcim.cable",
            "dcim.rearport",
            "dcim.frontport",
            "dcim.cable"
        ],
        "{body}"
    );
    // The connected endpoint is the far interface, past both panels; the cable peer is the
    // panel's front port.
    let (_, ends, _) = app
        .graphql(
            r#"{ interfaces(device: "dev-00001", name: "eth2") {
                 connected_endpoint { __typename ... on InterfaceType { name device { name } } }
                 cable_peer { __typename ... on FrontPortType { name device { name } } }
                 connected_interface { name } connected_circuit_termination { id } cable_peer_front_port { name } }
               front_ports(device: "pp-1", name: "front2") { cable_peer { ... on InterfaceType { name } } } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        ends["data"],
        json!({
            "interfaces": [{
                "connected_endpoint": {"__typename": "InterfaceType", "name": "eth1", "device": {"name": "dev-00002"}},
                "cable_peer": {"__typename": "FrontPortType", "name": "front2", "device": {"name": "pp-1"}},
                "connected_interface": {"name": "eth1"},
                "connected_circuit_termination": null,
                "cable_peer_front_port": {"name": "front2"}
            }],
            "front_ports": [{"cable_peer": {"name": "eth2"}}]
        }),
        "{ends}"
    );
    // The far end's path leads back.
    let far = &body["data"]["b"][0];
    assert_eq!(far["cable_paths"], json!([{"is_active": true}]), "{body}");
    assert!(far["path"]["destination_id"].is_string(), "{body}");
    // Without the middle cable both paths stop at the panels.
    let (_, body, _) = app
        .graphql(
            &format!(r#"mutation {{ cable_delete(ref: {{id: "{}"}}) {{ id }} }}"#, ids[1]),
            Value::Null,
        )
        .await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app.graphql(query, Value::Null).await?;
    let path = &body["data"]["a"][0]["path"];
    assert_eq!(
        (path["is_active"].clone(), path["destination_type"].clone()),
        (json!(false), Value::Null),
        "{body}"
    );
    assert_eq!(path["path"].as_array().map(Vec::len), Some(3), "{body}");
    // Paths are Ferrobot's own rows: no mutations write them.
    let (_, body, _) = app
        .graphql(r#"mutation { cable_path_delete(ref: {id: "x"}) { id } }"#, Value::Null)
        .await?;
    assert!(
        body["errors"][0]["message"].as_str().unwrap_or_default().contains("cable_path_delete"),
        "{body}"
    );
    Ok(())
}
backend_test!(cable_paths, cable_paths_are_traced);

/// A write touching more cables than one round of path tracing takes (1,000) traces them in
/// rounds: every cable's ends see each other, the first, the last and those at the seam alike.
async fn many_cables_are_traced_in_rounds(backend: Backend) -> anyhow::Result<()> {
    const CABLES: usize = 1_003;
    let app = TestApp::start(backend).await?;
    let mut data = seed(2 * CABLES);
    active_for(&mut data, &["dcim.cable"]);
    let mut cables = Vec::new();
    let mut ends = Vec::new();
    for i in 0..CABLES {
        let id = format!("00000000-0000-4000-8000-{:012}", i);
        cables.push(json!({"id": id, "status": "Active", "type": "cat6"}));
        ends.push(json!({"cable": id, "cable_end": "A", "interface": {"device": format!("dev-{:05}", 2 * i + 1), "name": "eth2"}}));
        ends.push(json!({"cable": id, "cable_end": "B", "interface": {"device": format!("dev-{:05}", 2 * i + 2), "name": "eth1"}}));
    }
    data["dcim.cable"] = json!(cables);
    data["dcim.cabletocabletermination"] = json!(ends);
    app.import(data).await?;
    let query = r#"{ interfaces(name: "eth2") { device { name } connected_endpoint { ... on InterfaceType { name device { name } } } } }"#;
    let (status, body, _) = app.graphql(query, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    let found = body["data"]["interfaces"].as_array().cloned().unwrap_or_default();
    let mut peers = std::collections::BTreeMap::new();
    for interface in &found {
        if let Some(device) = interface["device"]["name"].as_str() {
            peers.insert(device.to_owned(), interface["connected_endpoint"].clone());
        }
    }
    for i in 0..CABLES {
        let (a, b) = (format!("dev-{:05}", 2 * i + 1), format!("dev-{:05}", 2 * i + 2));
        assert_eq!(
            peers.get(&a),
            Some(&json!({"name": "eth1", "device": {"name": b}})),
            "cable {i}"
        );
        assert_eq!(peers.get(&b), Some(&Value::Null), "{b}'s eth2 has no cable");
    }
    let (_, body, _) = app.graphql("{ cable_paths { id } }", Value::Null).await?;
    let stored = body["data"]["cable_paths"].as_array().map_or(0, Vec::len);
    assert_eq!(stored, 2 * CABLES, "one path from each end: {body}");
    Ok(())
}
backend_test!(many_cable_paths, many_cables_are_traced_in_rounds);

async fn vlans_stay_in_their_group_range(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let setup = r#"mutation {
      status_update(ref: {name: "Active"}, input: {content_types: ["dcim.device", "ipam.vlan"]}) { name }
      vlan_group_create(input: {name: "campus", range: "100-199"}) { range }
      vlan_create(input: {vid: 150, name: "users", status: {name: "Active"}, vlan_group: {name: "campus"}}) { vid }
    }"#;
    let (_, body, _) = app.graphql(setup, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app
        .graphql(
            r#"mutation { vlan_create(input: {vid: 250, name: "far", status: {name: "Active"}, vlan_group: {name: "campus"}}) { vid } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["vid"][0],
        "VLAN ID is not contained in VLAN Group range (100-199)",
        "{body}"
    );
    let (_, body, _) = app
        .graphql(r#"mutation { vlan_group_update(ref: {name: "campus"}, input: {range: "160-199"}) { range } }"#, Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["range"][0],
        "VLAN group range may not be re-sized due to existing VLANs (IDs: 150).",
        "{body}"
    );
    let (_, body, _) = app
        .graphql(r#"mutation { vlan_group_update(ref: {name: "campus"}, input: {range: "1-10,100-150"}) { range } }"#, Value::Null)
        .await?;
    assert_eq!(body["data"]["vlan_group_update"], json!({"range": "1-10,100-150"}), "{body}");
    Ok(())
}
backend_test!(vlan_groups, vlans_stay_in_their_group_range);

async fn prefixes_report_their_use(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let setup = r#"mutation {
      a: prefix_create(input: {prefix: "10.9.0.0/24", status: {name: "Active"}, namespace: {name: "Global"}}) { id }
      b: prefix_create(input: {prefix: "10.9.0.128/25", type: POOL, status: {name: "Active"}, namespace: {name: "Global"}}) { id }
      ip_address_create_bulk(inputs: [{address: "10.9.0.1/24", status: {name: "Active"}}, {address: "10.9.0.2/24", status: {name: "Active"}},
                                      {address: "10.9.0.130/24", status: {name: "Active"}}]) { id }
    }"#;
    let (_, body, _) = app.graphql(setup, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    let query = r#"{ prefixes(prefix_length: [24, 25]) { prefix utilization { numerator denominator } available_prefixes
                     available_ips(limit: 3) first_available_ip } }"#;
    let (_, body, statements) = app.graphql(query, Value::Null).await?;
    assert_eq!(
        body["data"]["prefixes"],
        json!([
            // The /25 covers 128 addresses, with .1 and .2 beside it: 130; the broadcast address
            // is in the pool, so it counts in the 256 (Prefix.get_utilization).
            {"prefix": "10.9.0.0/24", "utilization": {"numerator": 130, "denominator": 256},
             "available_prefixes": ["10.9.0.0/25"],
             "available_ips": ["10.9.0.3/24", "10.9.0.4/24", "10.9.0.5/24"], "first_available_ip": "10.9.0.3/24"},
            // A pool counts its addresses, all 128 of them hosts; .130 is taken.
            {"prefix": "10.9.0.128/25", "utilization": {"numerator": 1, "denominator": 128},
             "available_prefixes": ["10.9.0.128/25"],
             "available_ips": ["10.9.0.128/25", "10.9.0.129/25", "10.9.0.131/25"], "first_available_ip": "10.9.0.128/25"}
        ]),
        "{body}"
    );
    // The prefixes, then what lies under them: child prefixes and addresses.
    assert_eq!(statements, Some(3), "{body}");
    Ok(())
}
backend_test!(prefix_usage, prefixes_report_their_use);

/// A module gets the components of its module type's templates, on the device its bay belongs
/// to, with `{module}` in their names replaced by the bay's position.
async fn module_components_come_from_templates(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let bay = "00000000-0000-4000-8000-0000000000b1";
    let setup = format!(
        r#"mutation {{
      status_update(ref: {{name: "Active"}}, input: {{content_types: ["dcim.device", "dcim.interface", "dcim.module"]}}) {{ name }}
      module_type_create(input: {{manufacturer: {{name: "Acme"}}, model: "lc-8"}}) {{ id }}
      interface_template_create(input: {{module_type: {{manufacturer: {{name: "Acme"}}, model: "lc-8"}}, name: "Ethernet{{module}}/1", type: A_1000BASE_T}}) {{ id }}
      module_bay_template_create(input: {{module_type: {{manufacturer: {{name: "Acme"}}, model: "lc-8"}}, name: "sub{{module}}", position: "1"}}) {{ id }}
      module_bay_create(input: {{id: "{bay}", parent_device: {{name: "dev-00001"}}, name: "slot 3", position: "3"}}) {{ id }}
      module_create(input: {{module_type: {{manufacturer: {{name: "Acme"}}, model: "lc-8"}}, parent_module_bay: {{id: "{bay}"}}, status: {{name: "Active"}}}}) {{
        interfaces {{ name device {{ name }} }}
        module_bays {{ name parent_device {{ name }} }}
      }}
    }}"#
    );
    let (_, body, _) = app.graphql(&setup, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["module_create"]["interfaces"],
        json!([{"name": "Ethernet3/1", "device": {"name": "dev-00001"}}]),
        "{body}"
    );
    // A module's module bays name the module alone (Nautobot: a parent device or a parent
    // module, never both); a device's name the device.
    assert_eq!(
        body["data"]["module_create"]["module_bays"],
        json!([{"name": "sub3", "parent_device": null}]),
        "{body}"
    );
    let device = r#"mutation {
      module_bay_template_create(input: {device_type: {model: "acme-s48"}, name: "bay 1", position: "1"}) { id }
      device_create(input: {name: "with-bays", location: {name: "site-001"}, role: {name: "leaf"}, status: {name: "Active"}, device_type: {model: "acme-s48"}}) {
        module_bays { name parent_device { name } }
      }
    }"#;
    let (_, body, _) = app.graphql(device, Value::Null).await?;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["device_create"]["module_bays"],
        json!([{"name": "bay 1", "parent_device": {"name": "with-bays"}}]),
        "{body}"
    );
    Ok(())
}
backend_test!(module_components, module_components_come_from_templates);

/// Nautobot's network filters: prefixes by network, within (strictly or not), containing;
/// addresses by host (with or without their mask) and by the prefix they lie in.
async fn network_filters_compare_networks(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    for p in ["172.16.0.0/12", "172.16.0.0/16", "172.16.1.0/24", "172.17.0.0/16", "2001:db8::/32"] {
        let q = format!(
            r#"mutation {{ prefix_create(input: {{prefix: "{p}", status: {{name: "Active"}}, namespace: {{name: "Global"}}}}) {{ id }} }}"#
        );
        let (_, body, _) = app.graphql(&q, Value::Null).await?;
        anyhow::ensure!(body.get("errors").is_none(), "{body}");
    }
    for a in ["172.16.1.5/24", "172.16.1.6/24", "172.17.0.9/16"] {
        let q = format!(
            r#"mutation {{ ip_address_create(input: {{address: "{a}", status: {{name: "Active"}}}}) {{ id }} }}"#
        );
        let (_, body, _) = app.graphql(&q, Value::Null).await?;
        anyhow::ensure!(body.get("errors").is_none(), "{body}");
    }
    let listed = |body: &Value, list: &str, field: &str| -> Vec<String> {
        let mut out: Vec<String> = body["data"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p[field].as_str().map(str::to_owned))
            .collect();
        out.sort();
        out
    };
    for (filter, want) in [
        (r#"prefix: "172.16.0.0/16""#, vec!["172.16.0.0/16"]),
        (r#"within: "172.16.0.0/12""#, vec!["172.16.0.0/16", "172.16.1.0/24", "172.17.0.0/16"]),
        (
            r#"within_include: "172.16.0.0/12""#,
            vec!["172.16.0.0/12", "172.16.0.0/16", "172.16.1.0/24", "172.17.0.0/16"],
        ),
        (r#"contains: "172.16.1.77""#, vec!["172.16.0.0/12", "172.16.0.0/16", "172.16.1.0/24"]),
        (r#"contains: "2001:db8::/48""#, vec!["2001:db8::/32"]),
        (r#"within: ["172.17.0.0/16", "2001:db8::/31"]"#, vec!["2001:db8::/32"]),
    ] {
        let (status, body, _) =
            app.graphql(&format!("{{ prefixes({filter}) {{ prefix }} }}"), Value::Null).await?;
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(listed(&body, "prefixes", "prefix"), want, "{filter}: {body}");
    }
    for (filter, want) in [
        (r#"address: "172.16.1.5""#, vec!["172.16.1.5/24"]),
        (r#"address: "172.16.1.5/24""#, vec!["172.16.1.5/24"]),
        (r#"address: "172.16.1.5/25""#, vec![]),
        (r#"address: ["172.16.1.6/24", "172.17.0.9"]"#, vec!["172.16.1.6/24", "172.17.0.9/16"]),
        (r#"prefix: "172.16.1.0/24""#, vec!["172.16.1.5/24", "172.16.1.6/24"]),
        (r#"prefix: "172.16.0.0/12", address: "172.16.1.5""#, vec!["172.16.1.5/24"]),
    ] {
        let (status, body, _) = app
            .graphql(&format!("{{ ip_addresses({filter}) {{ address }} }}"), Value::Null)
            .await?;
        assert_eq!(status, 200, "{filter}: {body}");
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(listed(&body, "ip_addresses", "address"), want, "{filter}: {body}");
    }
    let (_, body, _) =
        app.graphql(r#"{ prefixes(within: "not-a-prefix") { prefix } }"#, Value::Null).await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    Ok(())
}
backend_test!(network_filters, network_filters_compare_networks);
