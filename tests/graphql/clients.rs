//! Query shapes of the clients Nautobot users point at Ferrobot, written after theirs: the
//! Ansible collection's GraphQL inventory and `query_graphql`, nornir-nautobot and Golden
//! Config (platform drivers), SSoT (content types, tags), frontends (`url`, `primary_ip`) and
//! Nautobot's own GraphQL docs. Each answer is what Nautobot's source gives for the same data
//! (the `Spec:` lines), on every backend.

use super::*;

async fn client_queries_answer_as_nautobot(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut data = seed(2);
    active_for(&mut data, &["dcim.cable", "dcim.rack"]);
    app.import(data).await?;
    let ask = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body, _) = app.graphql(query, Value::Null).await?;
            anyhow::ensure!(status == 200, "{query}: HTTP {status} {body}");
            anyhow::ensure!(body.get("errors").is_none(), "{query}: {body}");
            Ok::<Value, anyhow::Error>(body["data"].clone())
        }
    };

    // networktocode.nautobot's gql_inventory: its default device fields, paged.
    let data = ask(
        r#"query { devices(limit: 1, offset: 1) { name primary_ip4 { host address } platform { name napalm_driver } status { name } role { name } device_type { model } location { name } tags { name } } }"#,
    )
    .await?;
    assert_eq!(
        data["devices"],
        json!([{
            "name": "dev-00002",
            "primary_ip4": {"host": "10.1.0.2", "address": "10.1.0.2/16"},
            "platform": {"name": "acme-os", "napalm_driver": ""},
            "status": {"name": "Active"},
            "role": {"name": "leaf"},
            "device_type": {"model": "acme-s48"},
            "location": {"name": "site-001"},
            "tags": [{"name": "tag-2"}]
        }])
    );

    // nornir-nautobot and Golden Config read the libraries' driver names off the platform.
    // Spec: nautobot/dcim/models/devices.py (Platform.network_driver_mappings), netutils 1.17.2.
    let data = ask(r#"{ platforms { name network_driver network_driver_mappings } }"#).await?;
    let mappings = &data["platforms"][0]["network_driver_mappings"];
    assert_eq!(data["platforms"][0]["network_driver"], "cisco_ios");
    assert_eq!(mappings["netmiko"], "cisco_ios");
    assert_eq!(mappings["napalm"], "ios");
    assert_eq!(mappings["ansible"], "cisco.ios.ios");

    // SSoT jobs compare content types as objects. Spec: nautobot/core/graphql/types.py
    // (ContentTypeType).
    let data = ask(r#"{ statuses { name content_types { app_label model } } }"#).await?;
    let types = data["statuses"][0]["content_types"].as_array().cloned().unwrap_or_default();
    assert!(types.contains(&json!({"app_label": "dcim", "model": "device"})), "{data}");

    // Frontends link objects by `url` (Nautobot's `get_absolute_url(api=True)`: a path) and show
    // the primary address (Device.primary_ip: IPv6 first, then IPv4).
    let data = ask(r#"{ devices(name: "dev-00001") { id url primary_ip { address } } }"#).await?;
    let device = &data["devices"][0];
    let id = device["id"].as_str().unwrap_or_default();
    assert_eq!(device["url"], json!(format!("/api/dcim/devices/{id}/")), "{data}");
    assert_eq!(device["primary_ip"], json!({"address": "10.1.0.1/16"}), "{data}");
    let data = ask(r#"{ vm_interfaces { url } ip_address_assignments(limit: 1) { url } }"#).await?;
    let url = data["ip_address_assignments"][0]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("/api/ipam/ip-address-to-interface/"), "{data}");

    // Tags list what carries them, per model (Django's reverse names), with the model's filters.
    let data =
        ask(r#"{ tags(name: "tag-1") { name device_set(name__isw: "dev-") { name } } }"#).await?;
    assert_eq!(data["tags"], json!([{"name": "tag-1", "device_set": [{"name": "dev-00001"}]}]));

    // Nautobot's docs: nested lists with filters, and an unset MAC address as null.
    let data = ask(
        r#"{ locations(name: "site-001") { name devices(role: "leaf") { name interfaces(name: "eth0") { name mac_address ip_addresses { address } } } } }"#,
    )
    .await?;
    assert_eq!(
        data["locations"][0]["devices"][0],
        json!({"name": "dev-00001", "interfaces": [{"name": "eth0", "mac_address": null, "ip_addresses": [{"address": "10.1.0.1/16"}]}]})
    );

    // query_graphql with variables, as the collection sends them.
    let (status, body, _) = app
        .graphql(
            r#"query ($names: [String]) { devices(name: $names) { name has_primary: primary_ip4 { address } } }"#,
            json!({"names": ["dev-00002"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["devices"],
        json!([{"name": "dev-00002", "has_primary": {"address": "10.1.0.2/16"}}])
    );

    // Cables' end types, as Nautobot 3.2 keeps them for older clients: the model of each
    // end's first connector (Spec: nautobot/dcim/graphql/types.py, CableType).
    let (_, body, _) = app
        .graphql(
            r#"mutation {
              cable_create(input: {id: "00000000-0000-4000-8000-0000000000c2", status: {name: "Active"}}) { id }
              a: cable_to_cable_termination_create(input: {cable: {id: "00000000-0000-4000-8000-0000000000c2"}, cable_end: A, interface: {device: {name: "dev-00001"}, name: "eth2"}}) { id }
            }"#,
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let data = ask(r#"{ cables { termination_a_type termination_b_type } }"#).await?;
    assert_eq!(
        data["cables"],
        json!([{"termination_a_type": "dcim.interface", "termination_b_type": null}])
    );
    // Integer choices are graphene enums (`DcimRackWidthChoices`), and only they are taken.
    let (_, body, _) = app
        .graphql(
            r#"mutation { rack_create(input: {name: "r1", location: {name: "site-001"}, status: {name: "Active"}, width: 19}) { width } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["rack_create"], json!({"width": "A_19"}), "{body}");
    let (_, body, _) = app
        .graphql(
            r#"mutation { rack_create(input: {name: "r2", location: {name: "site-001"}, status: {name: "Active"}, width: 20}) { width } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["width"],
        json!(["Value 20 is not a valid choice."]),
        "{body}"
    );
    let data = ask(r#"{ racks(width: "19") { name width } }"#).await?;
    assert_eq!(data["racks"], json!([{"name": "r1", "width": "A_19"}]));
    // Two refused filters of one list: one error naming both, the list null (Nautobot's
    // str(dict(filterset.errors))).
    let (status, body, _) = app
        .graphql(r#"{ devices(role: "nope", location: "nowhere") { name } }"#, Value::Null)
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"devices": null}), "{body}");
    let message = error_of(&body)["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("{'role': [") && message.contains("'location': ["), "{body}");
    Ok(())
}
backend_test!(client_queries, client_queries_answer_as_nautobot);
