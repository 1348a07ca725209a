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
        json!({"name": format!("{user}: {name}"), "actions": ["view"], "object_types": types,
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

    // A filter path walks only through rows the user may see: carl sees devices and addresses
    // but no interface, so no address is on any device's interface for him.
    let carl = app.user("carl", false).await?;
    app.import(json!({"users.objectpermission": [{"name": "carl", "actions": ["view"],
        "object_types": ["dcim.device", "ipam.ipaddress"], "users": [{"username": "carl"}]}]}))
        .await?;
    const ON_DEVICE: &str = r#"{ ip_addresses(device: ["dev-00001"]) { address } }"#;
    let (every, _) = app.data_as(&admin, ON_DEVICE).await?;
    assert_eq!(names(&every["ip_addresses"], "address"), ["10.1.0.1/16"]);
    let (his, _) = app.data_as(&carl, ON_DEVICE).await?;
    assert_eq!(his["ip_addresses"], json!([]), "{his}");
    Ok(())
}
backend_test!(reads_are_cut_to_permissions, reads_show_only_what_a_permission_allows);

/// Adds, changes and deletes for site-001's devices and interfaces.
fn site_one_writes(user: &str, interfaces: bool) -> Value {
    let mut perms = vec![
        json!({"name": format!("{user} edits devices"), "actions": ["add", "change", "delete"],
        "object_types": ["dcim.device"], "constraints": {"location__name": "site-001"},
        "users": [{"username": user}]}),
    ];
    if interfaces {
        perms.push(json!({"name": format!("{user} edits interfaces"), "actions": ["add", "change", "delete"],
            "object_types": ["dcim.interface"], "constraints": {"device__location__name": "site-001"},
            "users": [{"username": user}]}));
    }
    json!({"users.objectpermission": perms})
}

const CREATE: &str = "mutation($inputs: [DeviceInput!]!) { device_create_bulk(inputs: $inputs) { name tenant { name } } }";

fn device(name: &str, site: &str) -> Value {
    json!({"name": name, "location": {"name": site}, "role": {"name": "leaf"}, "status": {"name": "Active"},
           "device_type": {"manufacturer": {"name": "Acme"}, "model": "acme-s48"}})
}

async fn writes_are_checked_as_nautobot_checks_them(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    app.import(hidden_site()).await?;
    let alice = app.user("alice", false).await?;
    let bob = app.user("bob", false).await?;
    let nobody = app.user("nobody", false).await?;
    app.import(site_one_permissions("alice")).await?;
    app.import(site_one_permissions("bob")).await?;
    app.import(site_one_writes("alice", true)).await?;
    app.import(site_one_writes("bob", false)).await?;
    let admin = format!("Token {}", app.token);
    let write = |auth: String, query: &'static str, variables: Value| {
        let app = &app;
        async move {
            let (status, body, _) = app.graphql_with(Some(&auth), query, variables).await?;
            anyhow::ensure!(status == 200, "{status}: {body}");
            anyhow::Ok(body)
        }
    };
    let error = |body: &Value| body["errors"][0].clone();
    let count = || async {
        let (data, _) = app.data_as(&admin, "{ devices { name } }").await?;
        anyhow::Ok(data["devices"].as_array().map_or(0, Vec::len))
    };

    // Inside the constraints: written, and answered as the user sees it.
    let mut ok = device("dev-new", "site-001");
    ok["tenant"] = json!({"name": "red"});
    let body = write(alice.clone(), CREATE, json!({"inputs": [ok]})).await?;
    assert_eq!(
        body["data"]["device_create_bulk"],
        json!([{"name": "dev-new", "tenant": {"name": "red"}}]),
        "{body}"
    );
    assert_eq!(count().await?, 6);

    // A created object outside the constraints refuses the whole document, naming its index.
    let inputs =
        json!([device("a-1", "site-001"), device("a-2", "site-001"), device("a-3", "site-002")]);
    let body = write(alice.clone(), CREATE, json!({"inputs": inputs})).await?;
    assert_eq!(body["data"]["device_create_bulk"], Value::Null, "{body}");
    assert_eq!(error(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(error(&body)["extensions"]["index"], 2, "{body}");
    assert!(
        error(&body)["message"].as_str().is_some_and(|m| m.contains("dcim.add_device")),
        "{body}"
    );
    assert_eq!(count().await?, 6, "nothing of a refused document is written");

    // A reference to an object the user may not see is one that does not exist.
    let mut hidden_ref = device("a-4", "site-001");
    hidden_ref["tenant"] = json!({"name": "blue"});
    let mut missing_ref = device("a-4", "site-001");
    missing_ref["tenant"] = json!({"name": "pink"});
    let hidden = write(alice.clone(), CREATE, json!({"inputs": [hidden_ref]})).await?;
    let missing = write(alice.clone(), CREATE, json!({"inputs": [missing_ref]})).await?;
    assert_eq!(error(&hidden)["extensions"]["code"], "VALIDATION_FAILED", "{hidden}");
    assert_eq!(
        error(&hidden)["message"].as_str().map(|m| m.replace("blue", "pink")),
        error(&missing)["message"].as_str().map(str::to_owned)
    );

    // Updates: the object before and after must be inside; one outside before is not found,
    // word for word as one that does not exist.
    const UPDATE: &str = "mutation($ref: DeviceRef!, $input: DeviceInput!) { device_update(ref: $ref, input: $input) { name } }";
    let body = write(
        alice.clone(),
        UPDATE,
        json!({"ref": {"name": "dev-00001"}, "input": {"serial": "S1"}}),
    )
    .await?;
    assert_eq!(body["data"]["device_update"]["name"], "dev-00001", "{body}");
    let body = write(
        alice.clone(),
        UPDATE,
        json!({"ref": {"name": "dev-00001"}, "input": {"location": {"name": "site-002"}}}),
    )
    .await?;
    assert_eq!(error(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    let hidden = write(
        alice.clone(),
        UPDATE,
        json!({"ref": {"name": "hidden-1"}, "input": {"serial": "S1"}}),
    )
    .await?;
    let missing =
        write(alice.clone(), UPDATE, json!({"ref": {"name": "nope-1"}, "input": {"serial": "S1"}}))
            .await?;
    assert_eq!(error(&hidden)["extensions"]["code"], "NOT_FOUND", "{hidden}");
    assert_eq!(
        error(&hidden)["message"].as_str().map(|m| m.replace("hidden-1", "nope-1")),
        error(&missing)["message"].as_str().map(str::to_owned)
    );

    // Deletes: the object and everything its delete takes along.
    const DELETE: &str = "mutation($ref: DeviceRef!) { device_delete(ref: $ref) { object_type } }";
    let body = write(bob.clone(), DELETE, json!({"ref": {"name": "dev-00003"}})).await?;
    assert_eq!(error(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(error(&body)["message"].as_str().is_some_and(|m| m.contains("interfaces")), "{body}");
    let body = write(alice.clone(), DELETE, json!({"ref": {"name": "dev-00003"}})).await?;
    let deleted = body["data"]["device_delete"].as_array().map_or(0, Vec::len);
    assert_eq!(deleted, 5, "the device, its three interfaces and an address assignment: {body}");
    let body = write(alice.clone(), DELETE, json!({"ref": {"name": "hidden-2"}})).await?;
    assert_eq!(error(&body)["extensions"]["code"], "NOT_FOUND", "{body}");

    // A batch is checked per operation; no permission at all is refused before anything runs.
    const BATCH: &str = "mutation($ops: [BatchOperation!]!) { batch(operations: $ops) { index } }";
    let ops = json!([{"device_create": device("b-1", "site-001")},
                     {"device_update": {"ref": {"name": "b-1"}, "input": {"location": {"name": "site-002"}}}}]);
    let body = write(alice.clone(), BATCH, json!({"ops": ops})).await?;
    assert_eq!(error(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(error(&body)["extensions"]["index"], 1, "{body}");
    let body =
        write(nobody.clone(), CREATE, json!({"inputs": [device("n-1", "site-001")]})).await?;
    assert_eq!(error(&body)["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(
        error(&body)["message"],
        "You do not have permission to add devices (dcim.add_device).",
        "{body}"
    );
    assert_eq!(count().await?, 5);
    Ok(())
}
backend_test!(writes_are_checked, writes_are_checked_as_nautobot_checks_them);

/// An import run as a named user is checked as that user's mutations are.
async fn imports_run_as_a_user(backend: Backend) -> anyhow::Result<()> {
    use ferrobot_persistence::import::{Document, ImportOptions};
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    app.import(hidden_site()).await?;
    app.user("alice", false).await?;
    app.import(site_one_permissions("alice")).await?;
    app.import(site_one_writes("alice", true)).await?;
    let user = app.store.user_by_name("alice").await?.ok_or_else(|| anyhow::anyhow!("no alice"))?;
    let options = || async {
        anyhow::Ok(ImportOptions {
            actor: ferrobot_persistence::write::Actor {
                user_id: Some(user.id),
                user_name: "alice".into(),
            },
            permissions: Some(app.store.permissions(&user).await?),
            ..ImportOptions::default()
        })
    };
    let import = |body: Value| async {
        let documents = [Document { name: "as-alice".into(), body }];
        app.store
            .import_with(&documents, options().await?, &|_| {})
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let inside = json!({"dcim.device": [device_import("imp-1", "site-001")]});
    import(inside).await?;
    let outside = json!({"dcim.device": [device_import("imp-2", "site-001"), device_import("imp-3", "site-002")]});
    let refused = import(outside).await.expect_err("a device at site-002 is refused");
    assert!(refused.to_string().contains("dcim.add_device"), "{refused}");
    let tag =
        import(json!({"extras.tag": [{"name": "new"}]})).await.expect_err("no permission on tags");
    assert!(tag.to_string().contains("You do not have permission to add tags"), "{tag}");
    let (data, _) = app
        .data_as(&format!("Token {}", app.token), r#"{ devices(name__isw: "imp") { name } }"#)
        .await?;
    assert_eq!(names(&data["devices"], "name"), ["imp-1"]);
    Ok(())
}
backend_test!(imports_as_a_user, imports_run_as_a_user);

fn device_import(name: &str, site: &str) -> Value {
    json!({"name": name, "location": site, "role": "leaf", "status": "Active",
           "device_type": {"manufacturer": "Acme", "model": "acme-s48"}})
}

/// The statements of a nested read for a constrained user do not grow with the rows: the
/// permission's condition joins each level's statement.
async fn constrained_reads_keep_their_statements(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        app.import(hidden_site()).await?;
        let alice = app.user("alice", false).await?;
        app.import(site_one_permissions("alice")).await?;
        let (data, statements) = app
            .data_as(&alice, "{ devices { name location { name } tags { name } interfaces { name ip_addresses { address } } } }")
            .await?;
        let devices = data["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        assert_eq!(
            devices[n - 1]["interfaces"][0]["ip_addresses"].as_array().map(Vec::len),
            Some(1)
        );
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the row count: {counts:?}");
    // The permissions, then one per level: devices, location, tags, interfaces, addresses.
    assert!(counts[0] <= 6, "{counts:?}");
    Ok(())
}
backend_test!(constrained_statements, constrained_reads_keep_their_statements);

/// Users, groups, tokens and permissions through GraphQL: passwords are written and never read,
/// a token's key is shown once, every user manages its own tokens, and a disabled user's tokens
/// stop working at once.
async fn accounts_through_graphql(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let admin = format!("Token {}", app.token);
    let ask = |auth: String, query: &'static str, variables: Value| {
        let app = &app;
        async move {
            let (status, body, _) = app.graphql_with(Some(&auth), query, variables).await?;
            anyhow::ensure!(status == 200, "{status}: {body}");
            anyhow::Ok(body)
        }
    };
    const USER: &str =
        "mutation($input: UserInput!) { user_create(input: $input) { username is_superuser } }";
    let body =
        ask(admin.clone(), USER, json!({"input": {"username": "carol", "password": "pw-carol"}}))
            .await?;
    assert_eq!(
        body["data"]["user_create"],
        json!({"username": "carol", "is_superuser": false}),
        "{body}"
    );
    let body = ask(admin.clone(), USER, json!({"input": {"username": "dave"}})).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert!(body["errors"][0]["extensions"]["fields"]["password"].is_array(), "{body}");
    // The password works, and is stored as nothing anyone can read.
    let response = app
        .client()
        .post(format!("{}/api/auth/token/", app.base))
        .json(&json!({"username": "carol", "password": "pw-carol"}))
        .send()
        .await?;
    let jwt: Value = response.json().await?;
    let carol_jwt = format!("Bearer {}", jwt["token"].as_str().unwrap_or_default());
    let (changes, _) = app
        .data_as(
            &admin,
            r#"{ object_changes(changed_object_type: ["users.user"]) { object_data } }"#,
        )
        .await?;
    let text = changes.to_string();
    assert!(
        text.contains("carol") && !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );

    // Carol, with no permission at all, makes a token of her own: its key is shown once.
    const TOKEN: &str = "mutation($input: TokenInput!) { token_create(input: $input) { key description write_enabled } }";
    let body = ask(carol_jwt.clone(), TOKEN, json!({"input": {"description": "mine"}})).await?;
    let key = body["data"]["token_create"]["key"].as_str().unwrap_or_default().to_owned();
    assert!(key.len() == 40 && key.chars().all(|c| c.is_ascii_hexdigit()), "{body}");
    let carol = format!("Token {key}");
    let (data, _) = app.data_as(&carol, "{ tokens { description key } devices { name } }").await?;
    assert_eq!(data, json!({"tokens": [{"description": "mine", "key": null}], "devices": []}));
    // She sees no other user's tokens, and cannot make one for another user.
    let (data, _) = app.data_as(&admin, "{ tokens { description key user { username } } }").await?;
    assert_eq!(data["tokens"].as_array().map(Vec::len), Some(3), "{data}");
    assert!(data["tokens"].as_array().into_iter().flatten().all(|t| t["key"].is_null()));
    let body = ask(carol.clone(), TOKEN, json!({"input": {"user": {"username": "admin"}}})).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    // Nor can she give herself more: users and permissions are not hers to write.
    const GRANT: &str = "mutation($input: ObjectPermissionInput!) { object_permission_create(input: $input) { name } }";
    let everything = json!({"input": {"name": "all", "actions": ["view"], "object_types": ["dcim.device"],
                                      "users": [{"username": "carol"}]}});
    let body = ask(carol.clone(), GRANT, everything.clone()).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // An administrator can, through the generated mutations; the permission works at once.
    let body = ask(admin.clone(), GRANT, everything).await?;
    assert_eq!(body["data"]["object_permission_create"]["name"], "all", "{body}");
    app.import(seed(2)).await?;
    let (data, _) = app.data_as(&carol, "{ devices { name } }").await?;
    assert_eq!(data["devices"].as_array().map(Vec::len), Some(2));

    // A disabled user's tokens and JWTs stop working at once.
    const DISABLE: &str = "mutation { user_update(ref: {username: \"carol\"}, input: {is_active: false}) { is_active } }";
    let body = ask(admin.clone(), DISABLE, Value::Null).await?;
    assert_eq!(body["data"]["user_update"]["is_active"], false, "{body}");
    for auth in [&carol, &carol_jwt] {
        let (status, body, _) =
            app.graphql_with(Some(auth), "{ devices { name } }", Value::Null).await?;
        assert_eq!(status, 403, "{body}");
    }
    Ok(())
}
backend_test!(accounts, accounts_through_graphql);

/// The cost budget counts what the user may see: a query too costly over every device is
/// within the limit for a user who sees one.
async fn cost_counts_what_the_user_sees(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start_configured(backend, Default::default(), |config| {
        config.limits.cost = 100;
    })
    .await?;
    app.import(seed(40)).await?;
    let alice = app.user("alice", false).await?;
    let perm = |name: &str, types: &[&str], constraints: Value| {
        json!({"name": name, "actions": ["view"], "object_types": types,
               "constraints": constraints, "users": [{"username": "alice"}]})
    };
    app.import(json!({"users.objectpermission": [
        perm("one device", &["dcim.device"], json!({"name": "dev-00001"})),
        perm("its interfaces", &["dcim.interface"], json!({"device__name": "dev-00001"})),
    ]}))
    .await?;
    const QUERY: &str = "{ devices { name interfaces { name } } }";
    let (status, body, _) = app.graphql(QUERY, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COSTLY", "{body}");
    let (status, body, _) = app.graphql_with(Some(&alice), QUERY, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["devices"][0]["interfaces"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
    let estimated = body["extensions"]["cost"]["estimated"].as_u64().unwrap_or(u64::MAX);
    assert!(estimated <= 100, "{body}");
    Ok(())
}
backend_test!(permission_aware_cost, cost_counts_what_the_user_sees);

/// A token used from outside its allowed networks gets the 403 of a bad token; behind a
/// trusted proxy, the client is the address `X-Forwarded-For` names.
async fn tokens_know_where_they_come_from(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start_configured(backend, Default::default(), |config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a network")];
    })
    .await?;
    let admin = format!("Token {}", app.token);
    const TOKEN: &str =
        "mutation($input: TokenInput!) { token_create(input: $input) { key allowed_ips } }";
    let make = |allowed: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let (_, body, _) = app
                .graphql_with(Some(&admin), TOKEN, json!({"input": {"allowed_ips": allowed}}))
                .await?;
            anyhow::Ok(body)
        }
    };
    let body = make(json!(["not-a-network"])).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    let lab = make(json!(["10.9.9.0/24", "2001:db8::1"])).await?;
    assert_eq!(lab["data"]["token_create"]["allowed_ips"], json!(["10.9.9.0/24", "2001:db8::1"]));
    let key = lab["data"]["token_create"]["key"].as_str().unwrap_or_default().to_owned();
    let ask = |forwarded: Option<&str>| {
        let mut request = app
            .client()
            .post(format!("{}/api/graphql/", app.base))
            .header("Authorization", format!("Token {key}"))
            .json(&json!({"query": "{ devices { name } }"}));
        if let Some(f) = forwarded {
            request = request.header("X-Forwarded-For", f);
        }
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.json::<Value>().await?))
        }
    };
    // From the loopback proxy itself, and from a client outside the networks: refused.
    let (status, body) = ask(None).await?;
    assert_eq!(
        (status, &body["detail"]),
        (403, &json!("This token may not be used from this address."))
    );
    let (status, _) = ask(Some("10.1.1.1")).await?;
    assert_eq!(status, 403);
    // A client inside them, through the trusted proxy (a spoofed first hop changes nothing).
    let (status, body) = ask(Some("192.0.2.7, 10.9.9.5")).await?;
    assert_eq!(status, 200, "{body}");
    let (status, _) = ask(Some("10.9.9.5, 192.0.2.7")).await?;
    assert_eq!(status, 403);
    Ok(())
}
backend_test!(token_sources, tokens_know_where_they_come_from);

/// Union members (a cable's far end) and error messages (the objects that protect a delete)
/// name only what the user may see.
async fn unions_and_errors_keep_hidden_objects_hidden(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    app.import(hidden_site()).await?;
    let cable = "00000000-0000-4000-8000-000000000001";
    app.import(json!({
        "extras.status": [{"name": "Connected", "content_types": ["dcim.cable"]}],
        "dcim.cable": [{"id": cable, "status": "Connected", "type": "cat6"}],
        "dcim.cabletocabletermination": [
            {"cable": cable, "cable_end": "A", "interface": {"device": "dev-00001", "name": "eth1"}},
            {"cable": cable, "cable_end": "B", "interface": {"device": "hidden-1", "name": "eth0"}}
        ]
    }))
    .await?;
    let alice = app.user("alice2", false).await?;
    let mut perms = site_one_permissions("alice2");
    if let Some(list) = perms["users.objectpermission"].as_array_mut() {
        list.push(json!({"name": "alice2 deletes locations", "actions": ["delete"],
            "object_types": ["dcim.location"], "users": [{"username": "alice2"}]}));
    }
    app.import(perms).await?;
    let admin = format!("Token {}", app.token);
    const PEERS: &str = r#"{ interfaces(device: ["dev-00001"], name: ["eth1"]) { name connected_endpoint { __typename ... on InterfaceType { name device { name } } } cable_peer { __typename ... on InterfaceType { name device { name } } } } }"#;
    let (every, _) = app.data_as(&admin, PEERS).await?;
    assert_eq!(every["interfaces"][0]["cable_peer"]["device"]["name"], "hidden-1", "{every}");
    assert_eq!(
        every["interfaces"][0]["connected_endpoint"]["device"]["name"], "hidden-1",
        "{every}"
    );
    let (mine, _) = app.data_as(&alice, PEERS).await?;
    assert_eq!(
        mine["interfaces"],
        json!([{"name": "eth1", "connected_endpoint": null, "cable_peer": null}]),
        "{mine}"
    );
    const DELETE: &str = r#"mutation { location_delete(ref: {name: "site-002"}) { id } }"#;
    let (_, body, _) = app.graphql_with(Some(&alice), DELETE, Value::Null).await?;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "PROTECTED", "{body}");
    let text = body.to_string();
    assert!(!text.contains("hidden-"), "a hidden device is named: {text}");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("2 you may not see")), "{body}");
    Ok(())
}
backend_test!(unions_and_errors, unions_and_errors_keep_hidden_objects_hidden);

/// Permissions written as an attacker (or a careless script) would: huge constraints are
/// refused when written, and hundreds of permissions on one model still read in one statement
/// a level.
async fn hostile_permissions(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let alice = app.user("alice", false).await?;
    let perm = |name: String, constraints: Value| {
        json!({"name": name, "actions": ["view"], "object_types": ["dcim.device"],
               "constraints": constraints, "users": [{"username": "alice"}]})
    };
    let many: Vec<String> = (0..20_000).map(|i| format!("dev-{i}")).collect();
    let wide: serde_json::Map<String, Value> =
        (0..10_000).map(|i| (format!("name__in{i}"), json!("x"))).collect();
    let cases = [
        (json!({"name__in": many}), "at most 1000 values"),
        (Value::Object(wide), "at most 64 lookups"),
        (json!({"name": "x".repeat(1 << 20)}), "at most 4096 characters"),
        (json!({"vc_position__gte": "9".repeat(400)}), "not a valid value"),
        (json!({"location": "not-a-uuid"}), "not a valid value"),
        (json!({"name__regex": "(unclosed"}), "not a valid value"),
    ];
    for (constraints, want) in cases {
        let refused = app
            .import(json!({"users.objectpermission": [perm("bad".into(), constraints)]}))
            .await
            .expect_err(want);
        assert!(
            refused.to_string().contains(want),
            "{want}: {}",
            &refused.to_string()[..300.min(refused.to_string().len())]
        );
    }
    let list: Vec<Value> = (0..300)
        .map(|i| {
            perm(
                format!("p{i}"),
                json!({"name": format!("dev-{:05}", i % 3 + 1), "serial__isnull": false}),
            )
        })
        .collect();
    app.import(json!({"users.objectpermission": list})).await?;
    let (data, statements) =
        app.data_as(&alice, "{ devices { name interfaces { name } } }").await?;
    assert_eq!(names(&data["devices"], "name"), ["dev-00001", "dev-00002", "dev-00003"]);
    assert!(statements.is_some_and(|s| s <= 2), "{statements:?}");
    Ok(())
}
backend_test!(hostile_permission_rows, hostile_permissions);

/// A rack's elevation shows only the devices the user may see: a hidden device's units read as
/// free.
async fn elevations_show_what_the_user_sees(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let setup = r#"mutation {
      status_update(ref: {name: "Active"}, input: {content_types: ["dcim.device", "dcim.interface", "dcim.location", "dcim.rack"]}) { name }
      rack_create(input: {name: "r1", location: {name: "site-001"}, status: {name: "Active"}, u_height: 4}) { id }
      seen: device_create(input: {name: "seen", device_type: {manufacturer: {name: "Acme"}, model: "acme-s48"}, role: {name: "leaf"},
        status: {name: "Active"}, location: {name: "site-001"}, rack: {name: "r1"}, position: 1, face: FRONT}) { id }
      secret: device_create(input: {name: "secret", device_type: {manufacturer: {name: "Acme"}, model: "acme-s48"}, role: {name: "leaf"},
        status: {name: "Active"}, location: {name: "site-001"}, rack: {name: "r1"}, position: 3, face: FRONT}) { id }
    }"#;
    let (status, body, _) = app.graphql(setup, Value::Null).await?;
    assert!(status == 200 && body["errors"].is_null(), "{body}");
    let alice = app.user("alice", false).await?;
    let perm = |name: &str, types: &[&str], constraints: Value| {
        json!({"name": name, "actions": ["view"], "object_types": types,
               "constraints": constraints, "users": [{"username": "alice"}]})
    };
    app.import(json!({"users.objectpermission": [
        perm("seen", &["dcim.device"], json!({"name": "seen"})),
        perm("racks", &["dcim.rack", "dcim.devicetype"], Value::Null),
    ]}))
    .await?;
    const ELEVATION: &str =
        r#"{ racks(name: "r1") { elevation(face: "front") { name occupied } } }"#;
    let occupied = |data: &Value| -> Vec<String> {
        data["racks"][0]["elevation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["occupied"] == true)
            .filter_map(|u| u["name"].as_str().map(str::to_owned))
            .collect()
    };
    let (every, _) = app.data_as(&format!("Token {}", app.token), ELEVATION).await?;
    assert_eq!(occupied(&every), ["U3", "U1"], "{every}");
    let (mine, _) = app.data_as(&alice, ELEVATION).await?;
    assert_eq!(occupied(&mine), ["U1"], "{mine}");
    Ok(())
}
backend_test!(elevations, elevations_show_what_the_user_sees);
