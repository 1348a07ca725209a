//! Config contexts: Nautobot's merge (weight, name, assignment lists, location ancestry, local
//! data on top), schemas that check data, and the fleet's contexts in a bounded number of
//! statements.

use super::*;

/// Contexts over the seed: devices `dev-00001` … at `site-001` under `region-1`, role `leaf`,
/// tags alternating `tag-1` / `tag-2`.
fn contexts() -> Value {
    json!({
        "extras.configcontext": [
            {"name": "global", "weight": 100,
             "data": {"ntp": ["10.0.0.1"], "snmp": {"community": "public", "location": "unknown"}}},
            {"name": "region", "weight": 200, "locations": ["region-1"],
             "data": {"snmp": {"location": "region-1"}}},
            {"name": "tagged-2", "weight": 300, "tags": ["tag-2"], "data": {"tagged": 2}},
            {"name": "spines", "weight": 100, "roles": ["spine"], "data": {"spine": true}},
            {"name": "leaf-in-region", "weight": 150, "roles": ["leaf"], "locations": ["region-1"],
             "data": {"leaf": true}},
            {"name": "off", "weight": 900, "is_active": false, "data": {"off": true}},
            {"name": "b-same-weight", "weight": 250, "data": {"order": "b"}},
            {"name": "a-same-weight", "weight": 250, "data": {"order": "a"}},
        ]
    })
}

async fn config_contexts_merge_as_nautobot_merges_them(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    app.import(contexts()).await?;
    let (status, body, _) = app
        .graphql(
            "mutation { device_update(ref: {name: \"dev-00001\"}, input: {local_config_context_data: {ntp: [\"local\"], snmp: {extra: 1}}}) { id } }",
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body, _) = app.graphql("{ devices { name config_context } }", Value::Null).await?;
    let devices = &body["data"]["devices"];
    // Weight then name; objects merge key by key, anything else is replaced; local data last.
    let first = json!({"ntp": ["local"], "snmp": {"community": "public", "location": "region-1", "extra": 1},
                       "leaf": true, "order": "b"});
    let second = json!({"ntp": ["10.0.0.1"], "snmp": {"community": "public", "location": "region-1"},
                        "leaf": true, "order": "b", "tagged": 2});
    assert_eq!(devices[0]["name"], "dev-00001");
    assert_eq!(devices[0]["config_context"], first, "{body}");
    assert_eq!(devices[1]["config_context"], second, "{body}");
    // Keys in merge order, where the database keeps the data's own (PostgreSQL's jsonb orders
    // keys itself, as it does under Nautobot).
    if backend == Backend::Sqlite {
        assert_eq!(devices[0]["config_context"].to_string(), first.to_string(), "{body}");
    }
    // Asked twice under two names, merged once, answered the same.
    let (_, body, _) =
        app.graphql("{ devices { a: config_context b: config_context } }", Value::Null).await?;
    assert_eq!(body["data"]["devices"][1]["a"], second, "{body}");
    assert_eq!(body["data"]["devices"][1]["b"], second, "{body}");
    // Deactivated, the region's context no longer applies.
    let (_, body, _) = app
        .graphql(
            "mutation { config_context_update(ref: {name: \"region\"}, input: {is_active: false}) { id } }",
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body, _) =
        app.graphql("{ devices(name: \"dev-00002\") { config_context } }", Value::Null).await?;
    assert_eq!(
        body["data"]["devices"][0]["config_context"]["snmp"]["location"], "unknown",
        "{body}"
    );
    // The contexts are objects like any other: listed with their assignments.
    let (_, body, _) = app
        .graphql(
            "{ config_contexts(name: \"leaf-in-region\") { name weight roles { name } locations { name } } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["config_contexts"],
        json!([{"name": "leaf-in-region", "weight": 150, "roles": [{"name": "leaf"}], "locations": [{"name": "region-1"}]}]),
        "{body}"
    );
    Ok(())
}
backend_test!(config_contexts_merge, config_contexts_merge_as_nautobot_merges_them);

/// Schemas are Draft 7 documents of an object; a context's data and a device's local data are
/// checked against theirs, with Nautobot's words.
async fn schemas_check_context_data(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let schema = json!({"type": "object", "properties": {"ntp": {"type": "array", "items": {"type": "string"}}}, "required": ["ntp"]});
    let write = |query: &'static str, variables: Value| {
        let app = &app;
        async move { app.graphql(query, variables).await.map(|(_, body, _)| body) }
    };
    let body = write(
        "mutation($s: GenericScalar!) { config_context_schema_create(input: {name: \"ntp\", data_schema: $s}) { id } }",
        json!({"s": schema}),
    )
    .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let body = write(
        "mutation($s: GenericScalar!) { config_context_schema_create(input: {name: \"bad\", data_schema: $s}) { id } }",
        json!({"s": {"type": "array"}}),
    )
    .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert!(
        body.to_string().contains("must be of type object and specify a set of properties"),
        "{body}"
    );
    let body = write(
        "mutation($d: GenericScalar!) { config_context_create(input: {name: \"c\", data: $d, config_context_schema: {name: \"ntp\"}}) { id } }",
        json!({"d": {"ntp": "not-a-list"}}),
    )
    .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert!(body.to_string().contains("Validation using the JSON Schema ntp failed."), "{body}");
    let body = write(
        "mutation($d: GenericScalar!) { config_context_create(input: {name: \"c\", data: $d, config_context_schema: {name: \"ntp\"}}) { id } }",
        json!({"d": {"ntp": ["10.0.0.1"]}}),
    )
    .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let body = write(
        "mutation($d: GenericScalar!) { config_context_create(input: {name: \"list\", data: $d}) { id } }",
        json!({"d": [1, 2]}),
    )
    .await?;
    assert!(body.to_string().contains("JSON data must be in object form"), "{body}");
    // A device's local data against its schema.
    let body = write(
        "mutation($d: GenericScalar) { device_update(ref: {name: \"dev-00001\"}, input: {local_config_context_data: $d, local_config_context_schema: {name: \"ntp\"}}) { id } }",
        json!({"d": {"ntp": 5}}),
    )
    .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    let body = write(
        "mutation($d: GenericScalar) { device_update(ref: {name: \"dev-00001\"}, input: {local_config_context_data: $d, local_config_context_schema: {name: \"ntp\"}}) { id } }",
        json!({"d": null}),
    )
    .await?;
    assert!(
        body.to_string()
            .contains("Local config context data must exist for a schema to be applied."),
        "{body}"
    );
    let body = write(
        "mutation($d: GenericScalar) { device_update(ref: {name: \"dev-00001\"}, input: {local_config_context_data: $d, local_config_context_schema: {name: \"ntp\"}}) { config_context } }",
        json!({"d": {"ntp": ["local"]}}),
    )
    .await?;
    assert_eq!(
        body["data"]["device_update"]["config_context"],
        json!({"ntp": ["local"]}),
        "{body}"
    );
    Ok(())
}
backend_test!(context_schemas, schemas_check_context_data);

/// `devices { config_context }` costs the same statements for 20 devices as for 1,100 (the
/// contexts and their lists once, each dimension's values once for the level).
async fn config_context_statements_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        app.import(contexts()).await?;
        let (status, body, statements) =
            app.graphql("{ devices { name config_context } }", Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        assert_eq!(devices[1]["config_context"]["tagged"], 2, "{}", devices[1]);
        counts.push(statements);
    }
    assert_eq!(counts[0], counts[1], "statements at 20 and 1,100 devices: {counts:?}");
    Ok(())
}
backend_test!(config_context_statements, config_context_statements_do_not_grow);

/// A virtual machine's dimensions: its cluster, the cluster's group, and the cluster's location
/// with its ancestors; no device type (a context assigned to device types does not apply).
async fn virtual_machines_take_their_clusters_contexts(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    app.import(json!({
        "extras.status": [{"name": "Running", "content_types": ["virtualization.virtualmachine"]}],
        "virtualization.clustertype": [{"name": "kvm"}],
        "virtualization.clustergroup": [{"name": "east"}, {"name": "west"}],
        "virtualization.cluster": [
            {"name": "c1", "cluster_type": "kvm", "cluster_group": "east", "location": "site-001"}
        ],
        "virtualization.virtualmachine": [
            {"name": "vm1", "cluster": "c1", "status": "Running", "local_config_context_data": {"local": true}}
        ],
        "extras.configcontext": [
            {"name": "region", "weight": 1, "locations": ["region-1"], "data": {"region": 1}},
            {"name": "east", "weight": 2, "cluster_groups": ["east"], "data": {"group": "east"}},
            {"name": "c1", "weight": 3, "clusters": ["c1"], "data": {"cluster": "c1"}},
            {"name": "west", "weight": 4, "cluster_groups": ["west"], "data": {"group": "west"}},
            {"name": "types", "weight": 5,
             "device_types": [{"manufacturer": "Acme", "model": "acme-s48"}], "data": {"type": true}},
        ],
    }))
    .await?;
    let (_, body, _) = app
        .graphql(
            "{ virtual_machines { name config_context } devices { name config_context } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["virtual_machines"][0]["config_context"],
        json!({"region": 1, "group": "east", "cluster": "c1", "local": true}),
        "{body}"
    );
    assert_eq!(
        body["data"]["devices"][0]["config_context"],
        json!({"region": 1, "type": true}),
        "{body}"
    );
    // A device in the cluster (through its cluster assignments) takes the cluster's contexts.
    let (_, body, _) = app
        .graphql(
            "mutation { device_update(ref: {name: \"dev-00001\"}, input: {clusters: [{name: \"c1\"}]}) { config_context } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["device_update"]["config_context"],
        json!({"region": 1, "group": "east", "cluster": "c1", "type": true}),
        "{body}"
    );
    Ok(())
}
backend_test!(virtual_machine_contexts, virtual_machines_take_their_clusters_contexts);
