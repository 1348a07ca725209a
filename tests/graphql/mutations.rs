//! Writes through GraphQL: generated mutations, validation, the change log, deletes.

use super::*;

const DEVICE: &str = "mutation($in: DeviceInput!) { device_create(input: $in) { id name status { name } location { name } device_type { model } tags { name } cf_owner_team } }";

async fn creates_updates_and_logs(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let input = json!({
        "name": "edge-01",
        "device_type": {"manufacturer": {"name": "Acme"}, "model": "acme-s48"},
        "role": {"name": "leaf"},
        "status": {"name": "Active"},
        "location": {"name": "site-001"},
        "tags": [{"name": "tag-1"}],
        "custom_fields": {"owner_team": "netops"},
    });
    let (status, body, _) = app.graphql(DEVICE, json!({"in": input})).await?;
    assert_eq!(status, 200, "{body}");
    let created = &body["data"]["device_create"];
    assert_eq!(
        (
            created["name"].clone(),
            created["location"].clone(),
            created["tags"].clone(),
            created["cf_owner_team"].clone()
        ),
        (
            json!("edge-01"),
            json!({"name": "site-001"}),
            json!([{"name": "tag-1"}]),
            json!("netops")
        ),
        "{body}"
    );
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    // A partial update by natural key; the same update again changes nothing and logs nothing.
    let update = "mutation($ref: DeviceRef!, $in: DeviceInput!) { device_update(ref: $ref, input: $in) { name serial } }";
    let vars = json!({"ref": {"name": "edge-01", "location": {"name": "site-001"}}, "in": {"serial": "SN1"}});
    for _ in 0..2 {
        let (status, body, _) = app.graphql(update, vars.clone()).await?;
        assert_eq!(
            (status, &body["data"]["device_update"]),
            (200, &json!({"name": "edge-01", "serial": "SN1"})),
            "{body}"
        );
    }
    let (_, body, _) = app
        .graphql(&format!("{{ device(id: \"{id}\") {{ object_changes {{ action user_name changed_object_type {{ id app_label model __typename }} prechange_data object_data request_id sequence }} }} }}"), Value::Null)
        .await?;
    let changes = body["data"]["device"]["object_changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 2, "{body}");
    // Newest first, as Nautobot orders them.
    assert_eq!(changes[0]["action"], "UPDATE");
    assert_eq!(changes[1]["action"], "CREATE");
    assert_eq!(changes[0]["user_name"], "admin");
    // Nautobot's ContentTypeType object; its id is the same on every server.
    assert_eq!(
        changes[0]["changed_object_type"],
        json!({
            "id": ferrobot_domain::catalogue::content_type_id("dcim.device").to_string(),
            "app_label": "dcim",
            "model": "device",
            "__typename": "ContentTypeType"
        })
    );
    assert_eq!(changes[0]["prechange_data"]["serial"], "");
    assert_eq!(changes[0]["object_data"]["serial"], "SN1");
    assert_eq!(changes[1]["prechange_data"], Value::Null);
    assert!(changes[0]["sequence"].as_i64() > changes[1]["sequence"].as_i64(), "{body}");
    Ok(())
}
backend_test!(mutation_basics, creates_updates_and_logs);

/// The first error of an answer, with every root field null.
async fn count(app: &TestApp, query: &str) -> anyhow::Result<usize> {
    let (_, body, _) = app.graphql(query, Value::Null).await?;
    let data = body["data"].as_object().cloned().unwrap_or_default();
    Ok(data.values().next().and_then(Value::as_array).map_or(usize::MAX, Vec::len))
}

async fn errors_name_every_field(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let changes_before = count(&app, "{ object_changes { id } }").await?;
    // Every field error of the object at once, with the field names.
    let input = json!({
        "name": "x".repeat(300),
        "device_type": {"manufacturer": {"name": "Acme"}, "model": "nope"},
        "role": {"name": "leaf"},
        "status": {"name": "Active"},
        "face": "FRONT",
    });
    let (status, body, _) = app.graphql(DEVICE, json!({"in": input})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["device_create"], Value::Null, "{body}");
    let error = error_of(&body);
    assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert_eq!(error["path"], json!(["device_create"]));
    let fields = error["extensions"]["fields"].as_object().cloned().unwrap_or_default();
    for field in ["name", "device_type", "location"] {
        assert!(fields.contains_key(field), "{field} missing: {body}");
    }
    assert_eq!(fields["location"], json!(["This field is required."]));
    assert_eq!(
        fields["name"],
        json!(["Ensure this value has at most 255 characters (it has 300)."])
    );
    // Model rules: a site needs a parent; an address needs a prefix; a status must apply.
    let (_, body, _) = app
        .graphql("mutation { location_create(input: {name: \"orphan\", location_type: {name: \"Site\"}, status: {name: \"Active\"}}) { id } }", Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["parent"],
        json!(["A Location of type Site must have a parent Location."]),
        "{body}"
    );
    let (_, body, _) = app
        .graphql("mutation { ip_address_create(input: {address: \"192.0.2.1/24\", status: {name: \"Active\"}}) { id } }", Value::Null)
        .await?;
    assert!(error_of(&body)["extensions"]["fields"]["address"].is_array(), "{body}");
    let (_, body, _) = app
        .graphql("mutation { tag_create(input: {name: \"t\"}) { id } status_create(input: {name: \"Planned\", content_types: [\"ipam.prefix\"]}) { id } }", Value::Null)
        .await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"dev-00001\", location: {name: \"site-001\"}}, input: {status: {name: \"Planned\"}}) { id } }", Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["status"],
        json!(["Planned is not a valid status for devices."]),
        "{body}"
    );
    // Uniqueness: CONFLICT naming the fields, also between two objects of one bulk call.
    let (_, body, _) = app
        .graphql("mutation { tag_create(input: {name: \"tag-1\"}) { id } }", Value::Null)
        .await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "CONFLICT", "{body}");
    assert_eq!(error_of(&body)["extensions"]["fields"], json!(["name"]));
    assert_eq!(error_of(&body)["message"], "Tag with this Name already exists.");
    let (_, body, _) = app
        .graphql("mutation { tag_create_bulk(inputs: [{name: \"a\"}, {name: \"b\"}, {name: \"a\"}]) { id } }", Value::Null)
        .await?;
    assert_eq!(
        (&error_of(&body)["extensions"]["code"], &error_of(&body)["extensions"]["index"]),
        (&json!("CONFLICT"), &json!(2)),
        "{body}"
    );
    // Found by the database, after other rows of the same batch: diagnosed, with its index.
    let (_, body, _) = app
        .graphql("mutation { tag_create_bulk(inputs: [{name: \"c\"}, {name: \"d\"}, {name: \"tag-2\"}]) { id } }", Value::Null)
        .await?;
    assert_eq!(
        (&error_of(&body)["extensions"]["code"], &error_of(&body)["extensions"]["index"]),
        (&json!("CONFLICT"), &json!(2)),
        "{body}"
    );
    // Device names are unique per location and tenant, a missing tenant included (Nautobot 3).
    let twin = json!({"name": "dev-00001", "device_type": {"manufacturer": {"name": "Acme"}, "model": "acme-s48"}, "role": {"name": "leaf"}, "status": {"name": "Active"}, "location": {"name": "site-001"}});
    let (_, body, _) = app.graphql(DEVICE, json!({"in": twin})).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!(["location", "tenant", "name"]),
        "{body}"
    );
    // A key given up earlier in the same request is free again.
    let ops = json!([{"tag_create": {"name": "q"}}, {"tag_update": {"ref": {"name": "q"}, "input": {"name": "r"}}}, {"tag_create": {"name": "q"}}]);
    let (_, body, _) = app.graphql(BATCH, json!({"ops": ops})).await?;
    assert!(body["errors"].is_null(), "{body}");
    // Names that name nothing.
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"ghost\", location: {name: \"site-001\"}}, input: {serial: \"1\"}) { id } }", Value::Null)
        .await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "NOT_FOUND", "{body}");
    // Nothing of a failed mutation was written: only the tag and the status of the good one.
    assert_eq!(count(&app, "{ tags(name: [\"a\", \"b\", \"c\", \"d\"]) { id } }").await?, 0);
    assert_eq!(count(&app, "{ object_changes { id } }").await?, changes_before + 5);
    // A read-only token reads but does not write.
    let read_only = format!("Token {}", app.read_only_token);
    let (status, body, _) = app
        .graphql_with(
            Some(&read_only),
            "mutation { tag_create(input: {name: \"ro\"}) { id } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        (status, &error_of(&body)["extensions"]["code"]),
        (200, &json!("FORBIDDEN")),
        "{body}"
    );
    let (status, _, _) = app.graphql_with(Some(&read_only), "{ tags { id } }", Value::Null).await?;
    assert_eq!(status, 200);
    assert_eq!(count(&app, "{ tags(name: \"ro\") { id } }").await?, 0);
    // A bad input type is the document's error: HTTP 400, as any invalid document.
    let (status, _, _) = app
        .graphql("mutation { tag_create(input: {name: 7, nope: 1}) { id } }", Value::Null)
        .await?;
    assert_eq!(status, 400);
    Ok(())
}
backend_test!(mutation_errors, errors_name_every_field);

async fn deletes_follow_on_delete_rules(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    // Protected: devices keep their location.
    let (_, body, _) = app
        .graphql("mutation { location_delete(ref: {name: \"site-001\"}) { id } }", Value::Null)
        .await?;
    let error = error_of(&body);
    assert_eq!(error["extensions"]["code"], "PROTECTED", "{body}");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("dev-00001")), "{body}");
    assert_eq!(count(&app, "{ locations { id } }").await?, 2);
    // Cascade: a device takes its interfaces (and their IP assignments) along, all logged.
    let (status, body, _) = app
        .graphql("mutation { device_delete(ref: {name: \"dev-00002\", location: {name: \"site-001\"}}) { id object_type } }", Value::Null)
        .await?;
    assert_eq!(status, 200, "{body}");
    let deleted = body["data"]["device_delete"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = deleted.iter().filter_map(|d| d["object_type"].as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "dcim.interface").count(), 3, "{body}");
    assert_eq!(types.iter().filter(|t| **t == "dcim.device").count(), 1, "{body}");
    assert!(types.contains(&"ipam.ipaddresstointerface"), "{body}");
    assert_eq!(count(&app, "{ interfaces { id } }").await?, 6);
    assert_eq!(count(&app, "{ object_changes(action: \"delete\") { id } }").await?, deleted.len());
    let (_, body, _) = app
        .graphql("{ object_changes(action: \"delete\", changed_object_type: \"dcim.device\") { object_repr prechange_data object_data } }", Value::Null)
        .await?;
    let change = &body["data"]["object_changes"][0];
    assert_eq!(
        (&change["object_repr"], &change["prechange_data"]),
        (&json!("dev-00002"), &Value::Null),
        "{body}"
    );
    assert_eq!(change["object_data"]["name"], "dev-00002");
    // Set null: deleting a platform clears the devices' platform, logged as updates.
    let (status, body, _) = app
        .graphql(
            "mutation { platform_delete(ref: {name: \"acme-os\"}) { object_type } }",
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(&app, "{ devices(platform__isnull: true) { id } }").await?, 2,);
    assert_eq!(
        count(
            &app,
            "{ object_changes(action: \"update\", changed_object_type: \"dcim.device\") { id } }"
        )
        .await?,
        2
    );
    Ok(())
}
backend_test!(mutation_deletes, deletes_follow_on_delete_rules);

const BATCH: &str = "mutation($ops: [BatchOperation!]!) { batch(operations: $ops) { index operation action object_type id } }";

/// A location, a device in it, its interfaces and an address, each naming what came before.
fn build_ops(site: &str, fail_last: bool) -> Value {
    let device = format!("{site}-dev");
    let mut ops = vec![
        json!({"location_create": {"name": site, "location_type": {"name": "Site"}, "parent": {"name": "region-1"}, "status": {"name": "Active"}}}),
        json!({"device_create": {"name": device, "location": {"name": site}, "role": {"name": "leaf"}, "status": {"name": "Active"}, "device_type": {"manufacturer": {"name": "Acme"}, "model": "acme-s48"}}}),
    ];
    for i in 0..3 {
        ops.push(json!({"interface_create": {"device": {"name": device, "location": {"name": site}}, "name": format!("eth{i}"), "type": "A_1000BASE_T", "status": {"name": "Active"}}}));
    }
    ops.push(
        json!({"ip_address_create": {"address": "10.1.200.1/16", "status": {"name": "Active"}}}),
    );
    ops.push(json!({"ip_address_assignment_create": {"ip_address": {"address": "10.1.200.1/16"}, "interface": {"device": {"name": device}, "name": "eth0"}}}));
    ops.push(json!({"device_update": {"ref": {"name": device, "location": {"name": site}}, "input": {"primary_ip4": {"address": "10.1.200.1/16"}}}}));
    if fail_last {
        ops.push(json!({"tag_create": {"name": "tag-1"}}));
    }
    Value::Array(ops)
}

async fn batches_are_all_or_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let (_, body, _) =
        app.graphql("{ object_changes(limit: 1) { sequence } }", Value::Null).await?;
    let before = body["data"]["object_changes"][0]["sequence"].as_i64().unwrap_or(-1);
    let changes = count(&app, "{ object_changes { id } }").await?;
    // The last operation fails: nothing of the batch stays, no change-log row, no sequence used.
    let (status, body, _) = app.graphql(BATCH, json!({"ops": build_ops("site-new", true)})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["batch"], Value::Null, "{body}");
    assert_eq!(
        (&error_of(&body)["extensions"]["code"], &error_of(&body)["extensions"]["index"]),
        (&json!("CONFLICT"), &json!(8)),
        "{body}"
    );
    assert_eq!(count(&app, "{ locations(name: \"site-new\") { id } }").await?, 0);
    assert_eq!(count(&app, "{ devices(name: \"site-new-dev\") { id } }").await?, 0);
    assert_eq!(count(&app, "{ object_changes { id } }").await?, changes);
    // The same batch without the bad operation: every object, every change, consecutive numbers.
    let (status, body, _) =
        app.graphql(BATCH, json!({"ops": build_ops("site-new", false)})).await?;
    assert_eq!(status, 200, "{body}");
    let results = body["data"]["batch"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 8, "{body}");
    assert_eq!(results[7]["action"], "update");
    let (_, body, _) = app
        .graphql("{ devices(name: \"site-new-dev\") { location { name } primary_ip4 { address } interfaces { name ip_addresses { address } } } }", Value::Null)
        .await?;
    assert_eq!(
        body["data"]["devices"][0],
        json!({"location": {"name": "site-new"}, "primary_ip4": {"address": "10.1.200.1/16"}, "interfaces": [{"name": "eth0", "ip_addresses": [{"address": "10.1.200.1/16"}]}, {"name": "eth1", "ip_addresses": []}, {"name": "eth2", "ip_addresses": []}]}),
        "{body}"
    );
    let (_, body, _) = app
        .graphql(
            &format!(
                "{{ object_changes(sequence__gt: {before}) {{ sequence request_id user_name }} }}"
            ),
            Value::Null,
        )
        .await?;
    let rows = body["data"]["object_changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 8, "{body}");
    let mut sequences: Vec<i64> = rows.iter().filter_map(|r| r["sequence"].as_i64()).collect();
    sequences.sort_unstable();
    assert_eq!(sequences, ((before + 1)..=(before + 8)).collect::<Vec<_>>());
    assert!(rows
        .iter()
        .all(|r| r["request_id"] == rows[0]["request_id"] && r["user_name"] == "admin"));
    let request = rows[0]["request_id"].as_str().unwrap_or_default();
    assert_eq!(
        count(&app, &format!("{{ object_changes(request_id: \"{request}\") {{ id }} }}")).await?,
        8
    );
    // Upsert by natural key: the second call updates the object the first created.
    let upsert = "mutation { tenant_upsert(input: {name: \"acme\", description: \"one\"}) { id description } }";
    let (_, first, _) = app.graphql(upsert, Value::Null).await?;
    let (_, second, _) = app.graphql(&upsert.replace("one", "two"), Value::Null).await?;
    assert_eq!(
        first["data"]["tenant_upsert"]["id"], second["data"]["tenant_upsert"]["id"],
        "{first} {second}"
    );
    assert_eq!(second["data"]["tenant_upsert"]["description"], "two");
    Ok(())
}
backend_test!(mutation_batches, batches_are_all_or_nothing);

async fn concurrent_writers_take_turns(backend: Backend) -> anyhow::Result<()> {
    let app = std::sync::Arc::new(TestApp::start(backend).await?);
    app.import(seed(1)).await?;
    let update = "mutation($s: String) { device_update(ref: {name: \"dev-00001\", location: {name: \"site-001\"}}, input: {serial: $s}) { serial } }";
    let create = "mutation { tag_create(input: {name: \"contested\"}) { id } }";
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let a = app.graphql(update, json!({"s": format!("SN{i}")})).await?;
            let b = app.graphql(create, Value::Null).await?;
            anyhow::Ok((a, b))
        }));
    }
    let mut created = 0;
    for task in tasks {
        let ((status, body, _), (_, tag, _)) = task.await??;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        if tag["errors"].is_null() {
            created += 1;
        } else {
            assert_eq!(error_of(&tag)["extensions"]["code"], "CONFLICT", "{tag}");
        }
    }
    assert_eq!(created, 1, "exactly one writer creates the contested tag");
    // Every update is logged once, each with its own number, and the last one stands.
    let (_, body, _) = app
        .graphql("{ devices(name: \"dev-00001\") { serial object_changes(action: \"update\") { sequence object_data } } }", Value::Null)
        .await?;
    let device = &body["data"]["devices"][0];
    let changes = device["object_changes"].as_array().cloned().unwrap_or_default();
    let mut sequences: Vec<i64> = changes.iter().filter_map(|c| c["sequence"].as_i64()).collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), 8, "{body}");
    assert_eq!(changes[0]["object_data"]["serial"], device["serial"], "{body}");
    Ok(())
}
backend_test!(mutation_concurrency, concurrent_writers_take_turns);

async fn statements_do_not_grow_with_objects(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let mut counts = Vec::new();
    for (run, n) in [10, 400].into_iter().enumerate() {
        let inputs: Vec<Value> = (0..n)
            .map(|i| json!({"device": {"name": format!("dev-0000{}", i % 2 + 1)}, "name": format!("x{run}-{i}"), "type": "A_1000BASE_T", "status": {"name": "Active"}, "tags": [{"name": "tag-1"}]}))
            .collect();
        let (status, body, statements) = app
            .graphql("mutation($in: [InterfaceInput!]!) { interface_create_bulk(inputs: $in) { name device { name } tags { name } } }", json!({"in": inputs}))
            .await?;
        assert_eq!(status, 200, "{body}");
        let made = body["data"]["interface_create_bulk"].as_array().cloned().unwrap_or_default();
        assert_eq!(made.len(), n, "{body}");
        assert_eq!(
            made[n - 1]["name"],
            format!("x{run}-{}", n - 1),
            "answers keep the order of the inputs"
        );
        assert_eq!(made[n - 1]["tags"], json!([{"name": "tag-1"}]));
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the objects written: {counts:?}");
    Ok(())
}
backend_test!(mutation_statements, statements_do_not_grow_with_objects);

/// Random batches of tag operations, valid and invalid, against a model of what they should do:
/// the database must end equal to applying only the batches that were valid as a whole, and the
/// change log must hold exactly their effective changes.
async fn random_batches_match_the_model(backend: Backend) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    let app = TestApp::start(backend).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let names = ["p0", "p1", "p2", "p3", "p4"];
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let mut logged = 0;
    for _ in 0..40 {
        let mut next = model.clone();
        let mut valid = true;
        let mut changes = 0;
        let mut ops = Vec::new();
        for _ in 0..rng.gen_range(1..=4) {
            let name = names[rng.gen_range(0..names.len())].to_owned();
            let text = format!("d{}", rng.gen_range(0..3));
            match rng.gen_range(0..4) {
                0 => {
                    ops.push(json!({"tag_create": {"name": name, "description": text}}));
                    valid &= next.insert(name, text).is_none();
                    changes += 1;
                }
                1 => {
                    ops.push(json!({"tag_update": {"ref": {"name": name}, "input": {"description": text}}}));
                    match next.get_mut(&name) {
                        Some(d) => {
                            changes += usize::from(*d != text);
                            *d = text;
                        }
                        None => valid = false,
                    }
                }
                2 => {
                    let to = names[rng.gen_range(0..names.len())].to_owned();
                    ops.push(json!({"tag_update": {"ref": {"name": name}, "input": {"name": to}}}));
                    match next.remove(&name) {
                        Some(d) if to == name => {
                            next.insert(name, d);
                        }
                        Some(d) => {
                            valid &= next.insert(to, d).is_none();
                            changes += 1;
                        }
                        None => valid = false,
                    }
                }
                _ => {
                    ops.push(json!({"tag_delete": {"name": name}}));
                    valid &= next.remove(&name).is_some();
                    changes += 1;
                }
            }
        }
        let (status, body, _) = app.graphql(BATCH, json!({"ops": ops})).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errors"].is_null(), valid, "ops {ops:?} against {model:?}: {body}");
        if valid {
            model = next;
            logged += changes;
        }
    }
    let (_, body, _) = app.graphql("{ tags { name description } }", Value::Null).await?;
    let have: BTreeMap<String, String> = body["data"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["description"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(have, model);
    assert_eq!(
        count(&app, "{ object_changes(changed_object_type: \"extras.tag\") { id } }").await?,
        logged
    );
    Ok(())
}
backend_test!(mutation_model, random_batches_match_the_model);

async fn the_change_log_is_queryable(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    // The import logs every object it writes, as the `import` user in the ORM context.
    let (_, body, _) = app
        .graphql("{ object_changes(user_name: \"import\", change_context: \"orm\", limit: 1) { change_context action } }", Value::Null)
        .await?;
    assert_eq!(
        body["data"]["object_changes"],
        json!([{"change_context": "ORM", "action": "CREATE"}]),
        "{body}"
    );
    let imported = count(&app, "{ object_changes { id } }").await?;
    let (_, body, _) = app
        .graphql("mutation { tag_create(input: {name: \"fresh\"}) { id } }", Value::Null)
        .await?;
    let id = body["data"]["tag_create"]["id"].as_str().unwrap_or_default().to_owned();
    // Nautobot's filter names: user, object type and id, action, time range, and ours: sequence.
    let (_, body, _) =
        app.graphql("{ object_changes(limit: 1) { time sequence } }", Value::Null).await?;
    let time = body["data"]["object_changes"][0]["time"].as_str().unwrap_or_default().to_owned();
    let sequence = body["data"]["object_changes"][0]["sequence"].as_i64().unwrap_or_default();
    for (filter, want) in [
        ("user: \"admin\"".to_owned(), 1),
        (format!("changed_object_type: \"extras.tag\", changed_object_id: \"{id}\""), 1),
        (format!("time__gte: \"{time}\""), 1),
        (format!("time__lt: \"{time}\""), imported),
        (format!("sequence__gt: {}", sequence - 1), 1),
        (format!("sequence__lte: {sequence}"), imported + 1),
        ("action: \"update\"".to_owned(), 0),
        ("q: \"fresh\"".to_owned(), 1),
    ] {
        let got = count(&app, &format!("{{ object_changes({filter}) {{ id }} }}")).await?;
        assert_eq!(got, want, "{filter}");
    }
    let (_, body, _) = app
        .graphql(&format!("{{ tag(id: \"{id}\") {{ object_changes {{ object_repr change_context_detail object_data }} }} }}"), Value::Null)
        .await?;
    let change = &body["data"]["tag"]["object_changes"][0];
    assert_eq!(
        (&change["object_repr"], &change["change_context_detail"]),
        (&json!("fresh"), &json!("graphql")),
        "{body}"
    );
    assert_eq!(change["object_data"]["id"], json!(id));
    // The change log is written by Ferrobot only.
    let (status, _, _) =
        app.graphql("mutation { object_change_create(input: {}) { id } }", Value::Null).await?;
    assert_eq!(status, 400);
    Ok(())
}
backend_test!(mutation_change_log, the_change_log_is_queryable);

/// Migrations extend tables that hold rows: rows written at an earlier migration stay readable
/// and referable once the later ones have added tables, columns and unique constraints.
async fn migrations_extend_existing_tables(backend: Backend) -> anyhow::Result<()> {
    let db = ferrobot_test_support::TestDb::new(backend).await?;
    let catalogue = std::sync::Arc::new(ferrobot_domain::Catalogue::core()?);
    let store = ferrobot_persistence::Store::connect(&db.url, catalogue.clone()).await?;
    let first = ferrobot_migrations::migrate_through(&store, Some("0002_change_log")).await?;
    assert_eq!(first, ["0001_initial", "0002_change_log"]);
    let document = |body| ferrobot_persistence::import::Document { name: "t".into(), body };
    // Rows in tables that the later migrations leave as they are (the writer writes every
    // column the catalogue has now, so it can't write a table a later file extends), of a
    // model no data validation rule can name (writing those reads the rules' tables, 0013).
    let early = json!({
        "extras.customfield": [{"key": "owner", "label": "Owner", "type": "text", "content_types": ["dcim.device"], "required": true}],
    });
    store.import(&[document(early)], &|_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let later: Vec<&str> =
        ferrobot_migrations::MIGRATIONS.iter().skip(2).map(|m| m.version).collect();
    assert_eq!(ferrobot_migrations::migrate(&store).await?, later);
    assert!(ferrobot_migrations::migrate(&store).await?.is_empty());
    // Extended and new tables take rows that refer to the early ones.
    let rest = json!({
        "extras.status": [{"name": "Active", "content_types": ["dcim.device", "dcim.location", "dcim.interface"]}],
        "extras.role": [{"name": "leaf", "content_types": ["dcim.device"]}],
        "dcim.locationtype": [{"name": "Site"}],
        "dcim.location": [{"name": "site-001", "location_type": "Site", "status": "Active"}],
        "dcim.manufacturer": [{"name": "Acme"}],
        "dcim.devicetype": [{"manufacturer": "Acme", "model": "x1"}],
        "dcim.device": [{"name": "dev-1", "device_type": {"manufacturer": "Acme", "model": "x1"}, "role": "leaf", "status": "Active", "location": "site-001", "custom_fields": {"owner": "noc"}}],
        "dcim.interface": [{"device": "dev-1", "name": "eth0", "type": "1000base-t", "status": "Active"}],
    });
    store.import(&[document(rest)], &|_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // The unique constraint 0003 added holds.
    let twin = json!({"dcim.interface": [{"device": "dev-1", "name": "eth0", "type": "1000base-t", "status": "Active"}]});
    let error =
        store.import(&[document(twin)], &|_| {}).await.expect_err("a second eth0").to_string();
    assert!(error.contains("Interface with this Device and Name already exists."), "{error}");
    // The early custom field holds.
    let ownerless = json!({"dcim.device": [{"name": "dev-2", "device_type": {"manufacturer": "Acme", "model": "x1"}, "role": "leaf", "status": "Active", "location": "site-001"}]});
    let error = store
        .import(&[document(ownerless)], &|_| {})
        .await
        .expect_err("owner is required")
        .to_string();
    assert!(error.contains("Missing required custom field 'owner'."), "{error}");
    store.close().await;
    Ok(())
}
backend_test!(migrations_extend, migrations_extend_existing_tables);

/// Custom fields are written like any object, and their `cf_<key>` field appears without a
/// restart; values are then checked against them.
async fn custom_fields_are_written_live(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let (_, body, _) = app
        .graphql("mutation { custom_field_create(input: {key: \"rack unit\", label: \"Rack unit\", type: INTEGER, content_types: [\"dcim.device\"]}) { id } }", Value::Null)
        .await?;
    assert!(error_of(&body)["extensions"]["fields"]["key"].is_array(), "{body}");
    let (_, body, _) = app
        .graphql("mutation { custom_field_create(input: {key: \"rack_unit\", label: \"Rack unit\", type: INTEGER, content_types: [\"dcim.device\"]}) { key type } }", Value::Null)
        .await?;
    assert_eq!(
        body["data"]["custom_field_create"],
        json!({"key": "rack_unit", "type": "INTEGER"}),
        "{body}"
    );
    let update = "mutation($v: GenericScalar) { device_update(ref: {name: \"dev-00001\", location: {name: \"site-001\"}}, input: {custom_fields: $v}) { cf_rack_unit cf_owner_team } }";
    let mut answered = Value::Null;
    for _ in 0..20 {
        let (status, body, _) = app.graphql(update, json!({"v": {"rack_unit": 42}})).await?;
        if status == 200 {
            answered = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        answered["data"]["device_update"],
        json!({"cf_rack_unit": 42, "cf_owner_team": "team-1"}),
        "{answered}"
    );
    let (_, body, _) = app.graphql(update, json!({"v": {"rack_unit": "tall"}})).await?;
    assert!(
        error_of(&body)["extensions"]["fields"]["custom_fields.rack_unit"].is_array(),
        "{body}"
    );
    let (_, body, _) = app
        .graphql("mutation { custom_field_update(ref: {key: \"rack_unit\"}, input: {key: \"ru\"}) { key } }", Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["key"],
        json!(["Key cannot be changed once created."]),
        "{body}"
    );
    Ok(())
}
backend_test!(mutation_custom_fields, custom_fields_are_written_live);

/// Spec: `CustomField.validate` and `CustomFieldModel.clean`: a custom field's own rules
/// (pattern, bounds, required, default) hold on every write, each failed field listed in one
/// `VALIDATION_FAILED`.
async fn custom_field_rules_are_enforced(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    app.import(json!({"extras.customfield": [
        {"key": "asset_code", "label": "Asset code", "type": "text", "content_types": ["dcim.device"],
         "validation_regex": "^AC-[0-9]+$", "validation_minimum": 4, "validation_maximum": 12},
        {"key": "rack_unit", "label": "Rack unit", "type": "integer", "content_types": ["dcim.device"],
         "validation_minimum": 1, "validation_maximum": 10},
        {"key": "owner", "label": "Owner", "type": "text", "content_types": ["dcim.device"],
         "required": true},
        {"key": "tier", "label": "Tier", "type": "text", "content_types": ["dcim.device"],
         "default": "bronze"},
    ]}))
    .await?;
    let update = "mutation($v: GenericScalar) { device_update(ref: {name: \"dev-00001\"}, input: {custom_fields: $v}) { cf_asset_code cf_rack_unit } }";
    let mut refused = Value::Null;
    for _ in 0..20 {
        let (status, body, _) = app
            .graphql(update, json!({"v": {"asset_code": "nope", "rack_unit": 99, "owner": ""}}))
            .await?;
        if status == 200 {
            refused = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fields = &error_of(&refused)["extensions"]["fields"];
    assert_eq!(
        fields["custom_fields.asset_code"],
        json!([
            "Invalid value for custom field 'asset_code': Value must match regex '^AC-[0-9]+$'"
        ]),
        "{refused}"
    );
    assert_eq!(
        fields["custom_fields.rack_unit"],
        json!(["Invalid value for custom field 'rack_unit': Value must not exceed 10"]),
        "{refused}"
    );
    assert_eq!(
        fields["custom_fields.owner"],
        json!(["Invalid value for custom field 'owner': Required field cannot be empty."]),
        "{refused}"
    );
    let (_, body, _) = app
        .graphql(update, json!({"v": {"asset_code": "AC-1234567890123", "rack_unit": 0}}))
        .await?;
    let fields = &error_of(&body)["extensions"]["fields"];
    assert_eq!(
        fields["custom_fields.asset_code"],
        json!(["Invalid value for custom field 'asset_code': Value must not exceed 12 characters in length"]),
        "{body}"
    );
    assert_eq!(
        fields["custom_fields.rack_unit"],
        json!(["Invalid value for custom field 'rack_unit': Value must be at least 1"]),
        "{body}"
    );
    // Every save checks all the object's custom fields (`CustomFieldModel.clean`): the
    // device predates the required field, so an update must give it.
    assert_eq!(
        fields["custom_fields.owner"],
        json!(["Missing required custom field 'owner'."]),
        "{body}"
    );
    let (_, body, _) = app
        .graphql(update, json!({"v": {"asset_code": "AC-42", "rack_unit": 7, "owner": "noc"}}))
        .await?;
    assert_eq!(
        body["data"]["device_update"],
        json!({"cf_asset_code": "AC-42", "cf_rack_unit": 7}),
        "{body}"
    );
    let (_, body, _) =
        app.graphql("{ devices(name: [\"dev-00001\"]) { cf_tier } }", Value::Null).await?;
    assert_eq!(
        body["data"]["devices"][0]["cf_tier"], "bronze",
        "the default, filled on save: {body}"
    );
    // A new device: the required field must be given, the default is filled in.
    let create = "mutation($v: GenericScalar) { device_create(input: {name: \"new\", location: {name: \"site-001\"}, role: {name: \"leaf\"}, status: {name: \"Active\"}, device_type: {model: \"acme-s48\"}, custom_fields: $v}) { cf_owner cf_tier } }";
    let (_, body, _) = app.graphql(create, json!({"v": {}})).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["custom_fields.owner"],
        json!(["Missing required custom field 'owner'."]),
        "{body}"
    );
    let (_, body, _) = app.graphql(create, json!({"v": {"owner": "noc"}})).await?;
    assert_eq!(
        body["data"]["device_create"],
        json!({"cf_owner": "noc", "cf_tier": "bronze"}),
        "{body}"
    );
    // A pattern the linear-time engine cannot run is refused when the field is written.
    let (_, body, _) = app
        .graphql("mutation { custom_field_create(input: {key: \"lookaround\", label: \"L\", type: TEXT, content_types: [\"dcim.device\"], validation_regex: \"^(?!x)\"}) { id } }", Value::Null)
        .await?;
    let message = error_of(&body)["extensions"]["fields"]["validation_regex"][0].to_string();
    assert!(message.contains("Invalid regular expression"), "{body}");
    Ok(())
}
backend_test!(custom_field_rules, custom_field_rules_are_enforced);
