//! Object permissions on reads, tried as an attacker would: a user allowed the devices of one
//! site must learn nothing of another site's devices, interfaces, addresses or tenant through
//! any way a row can surface (root list, single, nested forward and reverse, totals, the change
//! log, usage, filters by related object), on every backend.

use super::*;

/// seed(3) at site-001, and two devices at site-002 of tenant `blue` that the constrained user
/// may not see; tenant `red` it may.
fn hidden_site() -> Value {
    json!({
        "tenancy.tenant": [{"name": "blue"}, {"name": "red"}],
        "dcim.location": [{"name": "site-002", "location_type": "Site", "status": "Active", "parent": "region-1"}],
        "dcim.device": [
            {"name": "hidden-1", "device_type": {"manufacturer": "Acme", "model": "acme-s48"}, "role": "leaf",
             "status": "Active", "location": "site-002", "tenant": "blue"},
            {"name": "hidden-2", "device_type": {"manufacturer": "Acme", "model": "acme-s48"}, "role": "leaf",
             "status": "Active", "location": "site-002", "tenant": "blue"}
        ],
        "ipam.ipaddress": [
            {"address": "10.1.9.1/16", "status": "Active"}, {"address": "10.1.9.2/16", "status": "Active"}
        ],
        "dcim.interface": [
            {"device": "hidden-1", "name": "eth0", "type": "1000base-t", "status": "Active",
             "ip_addresses": [{"address": "10.1.9.1/16"}]},
            {"device": "hidden-2", "name": "eth0", "type": "1000base-t", "status": "Active",
             "ip_addresses": [{"address": "10.1.9.2/16"}]}
        ],
    })
}

/// Site-001's devices, their interfaces and addresses; every location, status, role, prefix
/// and change; tenant `red`.
fn site_one_permissions(user: &str) -> Value {
    let perm = |name: &str, types: &[&str], constraints: Value| {
        json!({"name": name, "actions": ["view"], "object_types": types,
               "constraints": constraints, "users": [{"username": user}]})
    };
    json!({"users.objectpermission": [
        perm("devices", &["dcim.device"], json!({"location__name": "site-001"})),
        perm("interfaces", &["dcim.interface"], json!({"device__location__name": "site-001"})),
        perm("addresses", &["ipam.ipaddress"], json!([{"interfaces__device__location__name": "site-001"}])),
        perm("red", &["tenancy.tenant"], json!({"name__in": ["red"]})),
        perm("the rest", &["dcim.location", "extras.status", "extras.role", "ipam.prefix",
            "extras.objectchange", "dcim.devicetype", "dcim.manufacturer"], Value::Null),
    ]})
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .map(|a| a.iter().map(|o| o[key].as_str().unwrap_or("?").to_owned()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

async fn reads_show_only_what_a_permission_allows(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    app.import(hidden_site()).await?;
    let alice = app.user("alice", false).await?;
    let nobody = app.user("nobody", false).await?;
    app.import(site_one_permissions("alice")).await?;
    let admin = format!("Token {}", app.token);
    let visible = ["dev-00001", "dev-00002", "dev-00003"];

    // Root list and single.
    let (all, _) = app.data_as(&admin, "{ devices { name id } }").await?;
    assert_eq!(names(&all["devices"], "name").len(), 5);
    let hidden_id = all["devices"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["name"] == "hidden-1"))
        .map(|d| d["id"].clone())
        .unwrap_or_default();
    let (data, _) = app.data_as(&alice, "{ devices { name } }").await?;
    assert_eq!(names(&data["devices"], "name"), visible);
    let (data, _) =
        app.data_as(&alice, &format!("{{ device(id: {hidden_id}) {{ name }} }}")).await?;
    assert_eq!(data["device"], Value::Null);
    // Deny by default: a user without permissions sees nothing.
    let (data, _) = app.data_as(&nobody, "{ devices { name } locations { name } }").await?;
    assert_eq!(data, json!({"devices": [], "locations": []}));

    // Nested reverse and forward: a visible location never lists a hidden device, a visible
    // address never leads to a hidden interface, a visible device never to a hidden tenant.
    let (data, _) = app
        .data_as(&alice, r#"{ locations(name: ["site-002"]) { name devices { name } } }"#)
        .await?;
    assert_eq!(data["locations"], json!([{"name": "site-002", "devices": []}]));
    let (data, _) = app
        .data_as(
            &alice,
            "{ interfaces { name device { name tenant { name } } ip_addresses { address } } }",
        )
        .await?;
    let interfaces = data["interfaces"].as_array().cloned().unwrap_or_default();
    assert_eq!(interfaces.len(), 9, "{data}");
    assert!(interfaces
        .iter()
        .all(|i| i["device"]["name"].as_str().is_some_and(|n| n.starts_with("dev-"))));
    let (data, _) = app.data_as(&alice, "{ ip_addresses { address } tenants { name } }").await?;
    assert_eq!(
        names(&data["ip_addresses"], "address"),
        ["10.1.0.1/16", "10.1.0.2/16", "10.1.0.3/16"]
    );
    assert_eq!(names(&data["tenants"], "name"), ["red"]);
    let (data, _) =
        app.data_as(&admin, r#"{ devices(name: ["hidden-1"]) { tenant { name } } }"#).await?;
    assert_eq!(data["devices"][0]["tenant"]["name"], "blue");

    // Totals count what the user sees.
    let (data, _) = app.data_as(&alice, "{ devices_page(first: 2) { total_count } }").await?;
    assert_eq!(data["devices_page"]["total_count"], 3);

    // Filters by related objects: a tenant or device the user may not see is one that does not
    // exist, word for word.
    let refusal = |body: &Value| body["errors"][0]["message"].as_str().unwrap_or("?").to_owned();
    let ask = |filter: &str| format!("{{ devices({filter}) {{ name }} }}");
    let (_, hidden, _) =
        app.graphql_with(Some(&alice), &ask(r#"tenant: ["blue"]"#), Value::Null).await?;
    let (_, missing, _) =
        app.graphql_with(Some(&alice), &ask(r#"tenant: ["pink"]"#), Value::Null).await?;
    assert_eq!(refusal(&hidden).replace("blue", "pink"), refusal(&missing), "{hidden}");
    assert_eq!(hidden["data"]["devices"], Value::Null);
    let (_, hidden, _) = app
        .graphql_with(
            Some(&alice),
            r#"{ ip_addresses(device: ["hidden-1"]) { address } }"#,
            Value::Null,
        )
        .await?;
    assert!(refusal(&hidden).contains("hidden-1 is not one of the available choices"), "{hidden}");
    // Across a relation, only the rows the user may see match.
    let (data, _) = app.data_as(&alice, r#"{ locations(name: ["site-002"]) { name } devices(location: ["site-002"]) { name } }"#).await?;
    assert_eq!(data["devices"], json!([]));

    // The change log shows the changes of objects the user may see, and no other.
    let (data, _) = app
        .data_as(&alice, r#"{ object_changes(changed_object_type: ["dcim.device", "dcim.interface", "tenancy.tenant"]) { object_repr } }"#)
        .await?;
    let reprs = names(&data["object_changes"], "object_repr");
    assert!(
        !reprs.is_empty() && reprs.iter().all(|r| !r.contains("hidden") && r != "blue"),
        "{reprs:?}"
    );
    assert!(reprs.contains(&"red".to_owned()), "{reprs:?}");

    // A prefix's usage counts only the addresses the user may see.
    let (mine, _) = app
        .data_as(&alice, "{ prefixes { prefix utilization { numerator denominator } } }")
        .await?;
    let (every, _) = app
        .data_as(&admin, "{ prefixes { prefix utilization { numerator denominator } } }")
        .await?;
    assert_ne!(mine, every, "alice sees the hidden site's addresses counted");
    Ok(())
}
backend_test!(reads_are_cut_to_permissions, reads_show_only_what_a_permission_allows);
