//! User-defined relationships (Nautobot's `extras.relationship`): `rel_<key>` fields at both
//! ends and `cr_<key>__<side>` filters, served within a second of being defined on every
//! replica; associations written through the generated mutations, the association model and the
//! import format, with Nautobot's cardinality rules and words.

use std::collections::HashMap;

use super::*;

const RELATIONSHIPS: &str = r#"mutation {
  a: relationship_create(input: {key: "home", label: "Home site", type: ONE_TO_MANY, source_type: "dcim.location", destination_type: "dcim.device"}) { key }
  b: relationship_create(input: {key: "peers", label: "Peers", type: SYMMETRIC_MANY_TO_MANY, source_type: "dcim.device", destination_type: "dcim.device"}) { key }
  c: relationship_create(input: {key: "backup", label: "Backup", type: ONE_TO_ONE, source_type: "dcim.device", destination_type: "dcim.device"}) { key }
  d: relationship_create(input: {key: "tagged", label: "Tagged", type: MANY_TO_MANY, source_type: "dcim.device", destination_type: "extras.tag", destination_hidden: true}) { key }
}"#;

/// The ids of the seed's devices by name.
async fn device_ids(app: &TestApp) -> anyhow::Result<HashMap<String, String>> {
    let (_, body, _) = app.graphql("{ devices { id name } }", Value::Null).await?;
    let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
    Ok(devices
        .iter()
        .map(|d| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&d["name"]), text(&d["id"]))
        })
        .collect())
}

async fn relationships_associate(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(4)).await?;
    let replica = app.start_replica().await?;
    // Clients read while the relationships are defined: every answer is whole.
    let reads = (0..20).map(|_| app.graphql("{ devices { name } }", Value::Null));
    let (defined, answers) = tokio::join!(
        app.graphql(RELATIONSHIPS, Value::Null),
        futures_util::future::join_all(reads)
    );
    let (_, body, _) = defined?;
    assert_eq!(body["data"]["d"]["key"], "tagged", "{body}");
    for answer in answers {
        let (status, body, _) = answer?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(4), "{body}");
    }
    let ids = device_ids(&app).await?;
    let id = |name: &str| ids.get(name).cloned().unwrap_or_default();
    // Served within a second, here and on the replica, with Nautobot's names: the two ends of
    // a relationship from a model to itself are split, a symmetric one is one field.
    let fields = "{ devices { name rel_home { name } rel_peers { name } rel_backup_destination { name } rel_backup_source { name } rel_tagged { name } } }";
    for base in [&app.base, &replica.base] {
        let (_, tries) = until_served(&app, base, fields).await?;
        assert!(tries <= 10, "served after {tries} tenths of a second");
    }
    // Associations through the generated mutations (`relationships`, Nautobot's REST form),
    // the association model, and the import format.
    let (_, body, _) = app
        .graphql(
            r#"mutation {
              a: device_update(ref: {name: "dev-00001"}, input: {relationships: {
                  peers: {peer: {objects: [{name: "dev-00002"}, {name: "dev-00003"}]}},
                  backup: {destination: {objects: [{name: "dev-00004"}]}},
                  home: {source: {objects: [{name: "site-001"}]}}}}) { name }
              b: location_update(ref: {name: "region-1"}, input: {relationships: {home: {destination: {objects: [{name: "dev-00004"}]}}}}) { name }
            }"#,
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let association = format!(
        r#"mutation {{ relationship_association_create(input: {{relationship: {{key: "tagged"}}, source_type: "dcim.device", source_id: "{}", destination_type: "extras.tag", destination_id: "{}"}}) {{ id }} }}"#,
        id("dev-00002"),
        tag_id(&app, "tag-2").await?
    );
    let (_, body, _) = app.graphql(&association, Value::Null).await?;
    assert!(body.get("errors").is_none(), "{body}");
    app.import(json!({"extras.relationshipassociation": [
        {"relationship": "peers", "source_type": "dcim.device", "source_id": id("dev-00004"), "destination_type": "dcim.device", "destination_id": id("dev-00003")}
    ]}))
    .await?;
    let (_, body, _) = app.graphql(fields, Value::Null).await?;
    assert_eq!(
        body["data"]["devices"],
        json!([
            {"name": "dev-00001", "rel_home": {"name": "site-001"}, "rel_peers": [{"name": "dev-00002"}, {"name": "dev-00003"}], "rel_backup_destination": {"name": "dev-00004"}, "rel_backup_source": null, "rel_tagged": []},
            {"name": "dev-00002", "rel_home": null, "rel_peers": [{"name": "dev-00001"}], "rel_backup_destination": null, "rel_backup_source": null, "rel_tagged": [{"name": "tag-2"}]},
            {"name": "dev-00003", "rel_home": null, "rel_peers": [{"name": "dev-00001"}, {"name": "dev-00004"}], "rel_backup_destination": null, "rel_backup_source": null, "rel_tagged": []},
            {"name": "dev-00004", "rel_home": {"name": "region-1"}, "rel_peers": [{"name": "dev-00003"}], "rel_backup_destination": null, "rel_backup_source": {"name": "dev-00001"}, "rel_tagged": []}
        ]),
        "{body}"
    );
    // The other end, and filters by relationship (none on a hidden side).
    let (_, body, _) = app
        .graphql(
            &format!(
                r#"{{ locations {{ name rel_home {{ name }} }} p: devices(cr_peers__peer: ["{}"]) {{ name }} h: devices(cr_home__source: ["{}"]) {{ name }} tags {{ name rel_tagged {{ name }} }} }}"#,
                id("dev-00003"),
                location_id(&app, "site-001").await?
            ),
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["locations"],
        json!([{"name": "region-1", "rel_home": [{"name": "dev-00004"}]}, {"name": "site-001", "rel_home": [{"name": "dev-00001"}]}]),
        "{body}"
    );
    assert_eq!(body["data"]["p"], json!([{"name": "dev-00001"}, {"name": "dev-00004"}]), "{body}");
    assert_eq!(body["data"]["h"], json!([{"name": "dev-00001"}]), "{body}");
    assert_eq!(
        body["data"]["tags"][1],
        json!({"name": "tag-2", "rel_tagged": [{"name": "dev-00002"}]})
    );
    let (_, body, _) =
        app.graphql("{ tags(cr_tagged__source: [\"x\"]) { name } }", Value::Null).await?;
    assert!(
        error_of(&body)["message"].as_str().is_some_and(|m| m.contains("cr_tagged__source")),
        "{body}"
    );
    let (_, body, _) =
        app.graphql("{ devices(cr_peers__peer: [\"nope\"]) { name } }", Value::Null).await?;
    assert_eq!(
        error_of(&body)["message"],
        "{'cr_peers__peer': ['Select a valid choice. nope is not one of the available choices.']}",
        "{body}"
    );
    // An update replaces the associations at the sides it names, and leaves the others.
    let (_, body, _) = app
        .graphql(
            r#"mutation { device_update(ref: {name: "dev-00001"}, input: {relationships: {peers: {peer: {objects: [{name: "dev-00004"}]}}}}) { rel_peers { name } rel_backup_destination { name } } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["device_update"],
        json!({"rel_peers": [{"name": "dev-00004"}], "rel_backup_destination": {"name": "dev-00004"}}),
        "{body}"
    );
    // Deleting an object deletes its associations, at either end, change-logged.
    let (_, body, _) = app
        .graphql("mutation { device_delete(ref: {name: \"dev-00004\"}) { id } }", Value::Null)
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body, _) = app
        .graphql(
            "{ relationship_associations(relationship: [\"peers\", \"backup\", \"home\"]) { source_id } object_changes(changed_object_type: \"extras.relationshipassociation\", action: \"delete\") { id } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["relationship_associations"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    // Two the update replaced, four the delete took along.
    assert_eq!(body["data"]["object_changes"].as_array().map(Vec::len), Some(6), "{body}");
    Ok(())
}
backend_test!(relationships, relationships_associate);

async fn tag_id(app: &TestApp, name: &str) -> anyhow::Result<String> {
    let (_, body, _) =
        app.graphql(&format!("{{ tags(name: [\"{name}\"]) {{ id }} }}"), Value::Null).await?;
    Ok(body["data"]["tags"][0]["id"].as_str().unwrap_or_default().to_owned())
}

async fn location_id(app: &TestApp, name: &str) -> anyhow::Result<String> {
    let (_, body, _) =
        app.graphql(&format!("{{ locations(name: [\"{name}\"]) {{ id }} }}"), Value::Null).await?;
    Ok(body["data"]["locations"][0]["id"].as_str().unwrap_or_default().to_owned())
}

/// Spec: `Relationship.clean`, `RelationshipAssociation.clean` and the API's
/// `RelationshipsDataField` and required relationships, with Nautobot's words; a refused write
/// writes nothing.
async fn relationship_rules_hold(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let (_, body, _) = app.graphql(RELATIONSHIPS, Value::Null).await?;
    assert!(body.get("errors").is_none(), "{body}");
    until_served(&app, &app.base, "{ devices { rel_peers { name } } }").await?;
    let ids = device_ids(&app).await?;
    let id = |name: &str| ids.get(name).cloned().unwrap_or_default();
    let associate = |key: &str, source: &str, destination: &str, destination_type: &str| {
        format!(
            r#"mutation {{ relationship_association_create(input: {{relationship: {{key: "{key}"}}, source_type: "dcim.device", source_id: "{source}", destination_type: "{destination_type}", destination_id: "{destination}"}}) {{ id }} }}"#
        )
    };
    let ok = app
        .graphql(
            &associate("backup", &id("dev-00001"), &id("dev-00002"), "dcim.device"),
            Value::Null,
        )
        .await?
        .1;
    assert!(ok.get("errors").is_none(), "{ok}");
    let ok = app
        .graphql(
            &associate("peers", &id("dev-00001"), &id("dev-00002"), "dcim.device"),
            Value::Null,
        )
        .await?
        .1;
    assert!(ok.get("errors").is_none(), "{ok}");
    // (write, field, message)
    let cases = [
        (associate("backup", &id("dev-00001"), &id("dev-00003"), "dcim.device"), "source", format!("Unable to create more than one Backup association from {} (source)", id("dev-00001"))),
        (associate("backup", &id("dev-00003"), &id("dev-00002"), "dcim.device"), "destination", format!("Unable to create more than one Backup association to {} (destination)", id("dev-00002"))),
        (associate("peers", &id("dev-00002"), &id("dev-00001"), "dcim.device"), "__all__", format!("A Peers association already exists between {} and {}", id("dev-00002"), id("dev-00001"))),
        (associate("peers", &id("dev-00003"), &id("dev-00003"), "dcim.device"), "destination_id", "An object cannot form a RelationshipAssociation with itself".into()),
        (associate("peers", &id("dev-00003"), &id("dev-00001"), "extras.tag"), "destination_type", "destination_type has a different value than defined in Peers".into()),
        (associate("peers", &id("dev-00003"), "00000000-0000-0000-0000-000000000001", "dcim.device"), "destination_id", "No device matches 00000000-0000-0000-0000-000000000001.".into()),
        (
            r#"mutation { relationship_create(input: {key: "bad key", label: "B", type: MANY_TO_MANY, source_type: "dcim.device", destination_type: "dcim.device"}) { id } }"#.into(),
            "key",
            "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace".into(),
        ),
        (
            r#"mutation { relationship_create(input: {key: "s", label: "S", type: SYMMETRIC_ONE_TO_ONE, source_type: "dcim.device", destination_type: "dcim.location"}) { id } }"#.into(),
            "destination_type",
            "Must match source_type for a symmetric relationship".into(),
        ),
        (
            r#"mutation { relationship_create(input: {key: "s", label: "S", type: SYMMETRIC_ONE_TO_ONE, source_type: "dcim.device", destination_type: "dcim.device", required_on: SOURCE}) { id } }"#.into(),
            "required_on",
            "Symmetric relationships cannot be marked as required.".into(),
        ),
        (
            r#"mutation { relationship_create(input: {key: "s", label: "S", type: MANY_TO_MANY, source_type: "extras.objectchange", destination_type: "dcim.device"}) { id } }"#.into(),
            "source_type",
            "Select a valid choice. That choice is not one of the available choices.".into(),
        ),
        (
            r#"mutation { relationship_update(ref: {key: "backup"}, input: {type: MANY_TO_MANY}) { id } }"#.into(),
            "__all__",
            "Not supported to change the type of the relationship when some associations are present in the database, delete all associations first before modifying the type.".into(),
        ),
        (
            r#"mutation { device_update(ref: {name: "dev-00003"}, input: {relationships: {nope: {}}}) { id } }"#.into(),
            "relationships",
            "\"nope\" is not a relationship on dcim.Device".into(),
        ),
        (
            r#"mutation { device_update(ref: {name: "dev-00003"}, input: {relationships: {home: {destination: {objects: []}}}}) { id } }"#.into(),
            "relationships",
            "\"destination\" is not a valid side for \"Home site\" on dcim.Device".into(),
        ),
        (
            r#"mutation { device_update(ref: {name: "dev-00003"}, input: {relationships: {backup: {destination: {objects: [{name: "dev-00001"}, {name: "dev-00002"}]}}}}) { id } }"#.into(),
            "relationships",
            "For \"Backup\", \"destination\" objects must include at most a single object".into(),
        ),
        (
            r#"mutation { device_update(ref: {name: "dev-00003"}, input: {relationships: {peers: {peer: {}}}}) { id } }"#.into(),
            "relationships",
            "\"objects\" must be specified under [\"peers\"][\"peer\"] when present".into(),
        ),
    ];
    for (write, field, message) in cases {
        let (_, body, _) = app.graphql(&write, Value::Null).await?;
        assert_eq!(error_of(&body)["extensions"]["code"], "VALIDATION_FAILED", "{write}: {body}");
        assert_eq!(
            error_of(&body)["extensions"]["fields"][field][0],
            json!(message),
            "{write}: {body}"
        );
    }
    // A relationship's filters: checked against the model when written, applied to each
    // association.
    let (_, body, _) = app
        .graphql(
            r#"mutation { relationship_create(input: {key: "f", label: "F", type: MANY_TO_MANY, source_type: "dcim.device", destination_type: "dcim.location", destination_filter: {nope: 1}}) { id } }"#,
            Value::Null,
        )
        .await?;
    assert!(error_of(&body)["extensions"]["fields"]["destination_filter"].is_array(), "{body}");
    let (_, body, _) = app
        .graphql(
            r#"mutation { relationship_create(input: {key: "sites", label: "Sites", type: MANY_TO_MANY, source_type: "dcim.device", destination_type: "dcim.location", destination_filter: {location_type: ["Site"]}}) { id } }"#,
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    until_served(&app, &app.base, "{ devices { rel_sites { name } } }").await?;
    let (_, body, _) = app
        .graphql(
            r#"mutation { device_update(ref: {name: "dev-00003"}, input: {relationships: {sites: {destination: {objects: [{name: "region-1"}]}}}}) { id } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["destination"],
        json!(["region-1 violates Sites destination_filter restriction"]),
        "{body}"
    );
    // Required relationships: on a create the input must name them; an update without them
    // keeps what the object has, or must name them when it has none.
    let (_, body, _) = app
        .graphql(
            r#"mutation { relationship_create(input: {key: "owner", label: "Owner", type: ONE_TO_MANY, source_type: "tenancy.tenant", destination_type: "dcim.location", required_on: DESTINATION}) { id } }"#,
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let create = r#"mutation { location_create(input: {name: "site-002", location_type: {name: "Site"}, status: {name: "Active"}, parent: {name: "region-1"}}) { name } }"#;
    until_served(&app, &app.base, "{ locations { rel_owner { name } } }").await?;
    let (_, body, _) = app.graphql(create, Value::Null).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["relationships.owner"],
        json!([
            "Locations require a tenant, but no tenants exist yet. Create a tenant by posting to /api/tenancy/tenants/",
            "You need to specify [\"relationships\"][\"owner\"][\"source\"][\"objects\"]."
        ]),
        "{body}"
    );
    let (_, body, _) = app
        .graphql(
            r#"mutation { t: tenant_create(input: {name: "acme"}) { name } l: location_create(input: {name: "site-002", location_type: {name: "Site"}, status: {name: "Active"}, parent: {name: "region-1"}, relationships: {owner: {source: {objects: [{name: "acme"}]}}}}) { name rel_owner { name } } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["l"],
        json!({"name": "site-002", "rel_owner": {"name": "acme"}}),
        "{body}"
    );
    let (_, body, _) = app
        .graphql(r#"mutation { location_update(ref: {name: "site-002"}, input: {description: "x"}) { description } }"#, Value::Null)
        .await?;
    assert_eq!(body["data"]["location_update"]["description"], "x", "{body}");
    let (_, body, _) = app
        .graphql(r#"mutation { location_update(ref: {name: "site-001"}, input: {description: "x"}) { description } }"#, Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"]["relationships.owner"],
        json!(["You need to specify [\"relationships\"][\"owner\"][\"source\"][\"objects\"]."]),
        "{body}"
    );
    Ok(())
}
backend_test!(relationship_checks, relationship_rules_hold);

/// A list of devices with a relationship on both kinds of side and a computed field runs the same
/// number of statements at 20 and 1,100 devices (1,100 is read in two windows).
async fn relationship_statements_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let query = "{ devices { name rel_peers { name } rel_home { name } cpf_where } }";
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let (_, body, _) = app.graphql(RELATIONSHIPS, Value::Null).await?;
        assert!(body.get("errors").is_none(), "{body}");
        let (_, body, _) = app
            .graphql(
                r#"mutation { computed_field_create(input: {content_type: "dcim.device", key: "where", label: "Where", template: "{{ obj.location.name }}"}) { key } }"#,
                Value::Null,
            )
            .await?;
        assert!(body.get("errors").is_none(), "{body}");
        let ids = device_ids(&app).await?;
        // Every tenth device peers with the next one.
        let mut associations = Vec::new();
        for i in (0..n - 1).step_by(10) {
            let name = |k: usize| format!("dev-{:05}", k + 1);
            associations.push(json!({"relationship": "peers", "source_type": "dcim.device", "source_id": ids[&name(i)], "destination_type": "dcim.device", "destination_id": ids[&name(i + 1)]}));
        }
        app.import(json!({"extras.relationshipassociation": associations})).await?;
        until_served(&app, &app.base, query).await?;
        let (status, body, statements) = app.graphql(query, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        assert_eq!(devices[0]["rel_peers"], json!([{"name": "dev-00002"}]), "{}", devices[0]);
        assert_eq!(devices[1]["rel_peers"], json!([{"name": "dev-00001"}]));
        assert_eq!(devices[2]["rel_peers"], json!([]));
        assert_eq!(devices[n - 1]["cpf_where"], "site-001");
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the row count: {counts:?}");
    // devices, the peers, the home locations, the computed field's locations.
    assert!(counts[0] <= 4, "{counts:?}");
    Ok(())
}
backend_test!(relationship_statements, relationship_statements_do_not_grow);
