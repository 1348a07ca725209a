//! Dynamic groups: filter groups, static groups and groups of groups; their members through the
//! `dynamic_groups` field and filter of the member model, always current; config contexts
//! assigned to groups; Nautobot's rules, with its words.

use super::*;

/// Over the seed's devices `dev-00001` … `dev-00006` (odd ones tagged `tag-1`, even ones
/// `tag-2`, all at `site-001` under `region-1`).
fn groups() -> Value {
    json!({
        "extras.dynamicgroup": [
            {"name": "tag-1-devices", "content_type": "dcim.device", "filter": {"tags": ["tag-1"]}},
            {"name": "low", "content_type": "dcim.device",
             "filter": {"name": ["dev-00001", "dev-00002", "dev-00003"]}},
            {"name": "first", "content_type": "dcim.device", "filter": {"name__ie": "DEV-00001"}},
            {"name": "region", "content_type": "dcim.device", "filter": {"location": ["region-1"]}},
            {"name": "picked", "content_type": "dcim.device", "group_type": "static"},
            {"name": "combo", "content_type": "dcim.device", "group_type": "dynamic-set"},
            {"name": "eth0s", "content_type": "dcim.interface", "filter": {"name": ["eth0"]}},
        ]
    })
}

/// (tag-1 ∩ low) − first: the children in weight order, whatever order they were written in.
fn memberships() -> Value {
    json!({
        "extras.dynamicgroupmembership": [
            {"parent_group": "combo", "group": "first", "operator": "difference", "weight": 30},
            {"parent_group": "combo", "group": "tag-1-devices", "operator": "union", "weight": 10},
            {"parent_group": "combo", "group": "low", "operator": "intersection", "weight": 20},
        ]
    })
}

async fn names(app: &TestApp, query: &str) -> anyhow::Result<Vec<String>> {
    let (status, body, _) = app.graphql(query, Value::Null).await?;
    anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{query}: {body}");
    let list = body["data"].as_object().and_then(|d| d.values().next().cloned());
    Ok(list
        .and_then(|l| l.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["name"].as_str().map(str::to_owned))
        .collect())
}

/// The error a mutation is refused with: (code, the whole answer as text).
async fn refused(app: &TestApp, mutation: &str) -> anyhow::Result<(String, String)> {
    let (status, body, _) = app.graphql(mutation, Value::Null).await?;
    anyhow::ensure!(status == 200, "{mutation}: {status} {body}");
    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!code.is_empty(), "{mutation}: not refused: {body}");
    Ok((code, body.to_string()))
}

async fn groups_hold_what_their_definitions_name(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(6)).await?;
    app.import(groups()).await?;
    app.import(memberships()).await?;
    let (_, body, _) = app
        .graphql("{ devices(name: [\"dev-00002\", \"dev-00006\"]) { id } }", Value::Null)
        .await?;
    for device in body["data"]["devices"].as_array().cloned().unwrap_or_default() {
        let id = device["id"].as_str().unwrap_or_default();
        let (_, body, _) = app
            .graphql(
                &format!("mutation {{ static_group_association_create(input: {{dynamic_group: {{name: \"picked\"}}, associated_object_type: \"dcim.device\", associated_object_id: \"{id}\"}}) {{ id }} }}"),
                Value::Null,
            )
            .await?;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let members = |group: &str| format!("{{ devices(dynamic_groups: [\"{group}\"]) {{ name }} }}");
    let d = |ns: &[u32]| ns.iter().map(|n| format!("dev-{n:05}")).collect::<Vec<_>>();
    assert_eq!(names(&app, &members("tag-1-devices")).await?, d(&[1, 3, 5]));
    assert_eq!(names(&app, &members("low")).await?, d(&[1, 2, 3]));
    assert_eq!(names(&app, &members("first")).await?, d(&[1]));
    assert_eq!(names(&app, &members("region")).await?, d(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(names(&app, &members("picked")).await?, d(&[2, 6]));
    assert_eq!(names(&app, &members("combo")).await?, d(&[3]));
    // Any of several groups; none of them; a group of another model holds no device.
    let any = "{ devices(dynamic_groups: [\"combo\", \"picked\"]) { name } }";
    assert_eq!(names(&app, any).await?, d(&[2, 3, 6]));
    let none = "{ devices(dynamic_groups__n: [\"low\"]) { name } }";
    assert_eq!(names(&app, none).await?, d(&[4, 5, 6]));
    assert!(names(&app, &members("eth0s")).await?.is_empty());
    assert_eq!(names(&app, "{ interfaces(dynamic_groups: [\"eth0s\"]) { name } }").await?.len(), 6);
    // A group that does not exist is a refused filter value, as any related filter's.
    let (_, body, _) = app.graphql(&members("nowhere"), Value::Null).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    // Each device's groups, by name.
    let (_, body, _) = app
        .graphql(
            "{ devices(name: [\"dev-00003\", \"dev-00004\"]) { name dynamic_groups { name group_type } static_group_association_set { dynamic_group { name } } } }",
            Value::Null,
        )
        .await?;
    let listed = |i: usize| -> Vec<String> {
        body["data"]["devices"][i]["dynamic_groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(listed(0), ["combo", "low", "region", "tag-1-devices"], "{body}");
    assert_eq!(listed(1), ["region"], "{body}");
    assert_eq!(body["data"]["devices"][0]["static_group_association_set"], json!([]), "{body}");
    // Always current: a device retagged is in the group at once, and in the groups of groups.
    let (_, body, _) = app
        .graphql(
            "mutation { device_update(ref: {name: \"dev-00002\"}, input: {tags: [{name: \"tag-1\"}]}) { id } }",
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(names(&app, &members("tag-1-devices")).await?, d(&[1, 2, 3, 5]));
    assert_eq!(names(&app, &members("combo")).await?, d(&[2, 3]));
    // The groups themselves: children in order, parents, static associations.
    let (_, body, _) = app
        .graphql(
            "{ dynamic_groups(name: [\"combo\", \"picked\"]) { name content_type { app_label model } children { name } static_group_associations { associated_object_id } } }",
            Value::Null,
        )
        .await?;
    let combo = &body["data"]["dynamic_groups"][0];
    assert_eq!(combo["content_type"], json!({"app_label": "dcim", "model": "device"}), "{body}");
    assert_eq!(combo["children"].as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(
        body["data"]["dynamic_groups"][1]["static_group_associations"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    // Config contexts assigned to a group apply to its members only.
    app.import(json!({"extras.configcontext": [
        {"name": "combo-only", "weight": 100, "dynamic_groups": ["combo"], "data": {"combo": true}},
    ]}))
    .await?;
    let (_, body, _) = app.graphql("{ devices { name config_context } }", Value::Null).await?;
    let with: Vec<&str> = body["data"]["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["config_context"]["combo"] == true)
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(with, ["dev-00002", "dev-00003"], "{body}");
    Ok(())
}
backend_test!(dynamic_group_members, groups_hold_what_their_definitions_name);

async fn group_rules_speak_nautobots_words(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    app.import(groups()).await?;
    app.import(memberships()).await?;
    let create = |name: &str, rest: &str| {
        format!("mutation {{ dynamic_group_create(input: {{name: \"{name}\", content_type: \"dcim.device\", {rest}}}) {{ id }} }}")
    };
    let cases = [
        (create("bad-key", "filter: {nope: [\"x\"]}"), "nope is not a filter of devices."),
        (
            create("bad-name", "filter: {location: [\"nowhere\"]}"),
            "Select a valid choice. nowhere is not one of the available choices.",
        ),
        (
            create("set-with-filter", "group_type: DYNAMIC_SET, filter: {name: [\"x\"]}"),
            "Filter can only be set for groups of type `dynamic-filter`.",
        ),
        (create("not-a-dict", "filter: [1, 2]"), "Filter must be a dict"),
        (
            create("groups-in-filter", "filter: {dynamic_groups: [\"low\"]}"),
            "combine groups as the children of a group of type `dynamic-set`",
        ),
        (
            "mutation { dynamic_group_create(input: {name: \"x\", content_type: \"extras.objectchange\"}) { id } }".to_owned(),
            "Select a valid choice. That choice is not one of the available choices.",
        ),
        (
            "mutation { dynamic_group_update(ref: {name: \"low\"}, input: {content_type: \"dcim.interface\"}) { id } }".to_owned(),
            "ContentType cannot be changed once created",
        ),
        (
            "mutation { dynamic_group_membership_create(input: {parent_group: {name: \"low\"}, group: {name: \"first\"}, operator: UNION, weight: 1}) { id } }".to_owned(),
            "A parent group must be of `group_type` `\\\"dynamic-set\\\"`.",
        ),
        (
            "mutation { dynamic_group_membership_create(input: {parent_group: {name: \"combo\"}, group: {name: \"picked\"}, operator: UNION, weight: 1}) { id } }".to_owned(),
            "Groups of `group_type` `\\\"static\\\"` may not be child groups at this time.",
        ),
        (
            "mutation { dynamic_group_membership_create(input: {parent_group: {name: \"combo\"}, group: {name: \"eth0s\"}, operator: UNION, weight: 1}) { id } }".to_owned(),
            "ContentType for group and parent_group must match",
        ),
        (
            "mutation { dynamic_group_membership_create(input: {parent_group: {name: \"combo\"}, group: {name: \"combo\"}, operator: UNION, weight: 1}) { id } }".to_owned(),
            "Cannot add group as a child of itself",
        ),
    ];
    for (mutation, words) in &cases {
        let (code, body) = refused(&app, mutation).await?;
        assert_eq!(code, "VALIDATION_FAILED", "{mutation}: {body}");
        assert!(body.contains(words), "{mutation}: {words} not in {body}");
    }
    // A loop through two groups of groups.
    let (_, body, _) = app
        .graphql(
            "mutation { dynamic_group_create(input: {name: \"outer\", content_type: \"dcim.device\", group_type: DYNAMIC_SET}) { id } dynamic_group_membership_create(input: {parent_group: {name: \"outer\"}, group: {name: \"combo\"}, operator: UNION, weight: 1}) { id } }",
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let (code, body) = refused(
        &app,
        "mutation { dynamic_group_membership_create(input: {parent_group: {name: \"combo\"}, group: {name: \"outer\"}, operator: UNION, weight: 40}) { id } }",
    )
    .await?;
    assert_eq!(code, "VALIDATION_FAILED", "{body}");
    assert!(body.contains("Cannot add ancestor as a child"), "{body}");
    // Static associations: only a static group's, of its own model.
    let (_, body, _) = app.graphql("{ devices(name: \"dev-00001\") { id } }", Value::Null).await?;
    let id = body["data"]["devices"][0]["id"].as_str().unwrap_or_default().to_owned();
    for (group, ty, words) in [
        ("low", "dcim.device", "have static group associations"),
        ("picked", "dcim.interface", "Must match the dynamic_group.content_type"),
    ] {
        let (code, body) = refused(
            &app,
            &format!("mutation {{ static_group_association_create(input: {{dynamic_group: {{name: \"{group}\"}}, associated_object_type: \"{ty}\", associated_object_id: \"{id}\"}}) {{ id }} }}"),
        )
        .await?;
        assert_eq!(code, "VALIDATION_FAILED", "{body}");
        assert!(body.contains(words), "{words} not in {body}");
    }
    // A child group cannot go while a group of groups holds it.
    let (code, body) =
        refused(&app, "mutation { dynamic_group_delete(ref: {name: \"low\"}) { id } }").await?;
    assert_eq!(code, "PROTECTED", "{body}");
    // Deleting the parent takes its memberships along, and then the child can go.
    let (_, body, _) = app
        .graphql(
            "mutation { a: dynamic_group_delete(ref: {name: \"outer\"}) { id } b: dynamic_group_delete(ref: {name: \"combo\"}) { id } c: dynamic_group_delete(ref: {name: \"low\"}) { id } }",
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    Ok(())
}
backend_test!(dynamic_group_rules, group_rules_speak_nautobots_words);

/// `devices { dynamic_groups { name } }` costs the same statements for 20 devices as for
/// 1,100: the groups once, their filters compiled once, one statement for every (device,
/// group) pair (a list read in windows reads the pairs once, for the whole list).
async fn group_statements_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        app.import(groups()).await?;
        app.import(memberships()).await?;
        let (status, body, statements) = app
            .graphql(
                "{ devices(dynamic_groups: [\"region\"]) { name dynamic_groups { name } } }",
                Value::Null,
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        assert_eq!(
            devices[2]["dynamic_groups"].as_array().map(Vec::len),
            Some(4),
            "{}",
            devices[2]
        );
        counts.push(statements);
    }
    assert_eq!(counts[0], counts[1], "statements at 20 and 1,100 devices: {counts:?}");
    Ok(())
}
backend_test!(dynamic_group_statements, group_statements_do_not_grow);

/// Hostile definitions: 1,200 groups (more than SQLite takes terms in one compound statement), filters
/// past the value limits, a filter of 5,000 unknown keys.
async fn many_groups_and_hostile_filters(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let many: Vec<Value> = (0..1200)
        .map(|i| {
            json!({"name": format!("g-{i:03}"), "content_type": "dcim.device",
                   "filter": {"name": [format!("dev-{:05}", i % 2 + 1)]}})
        })
        .collect();
    app.import(json!({"extras.dynamicgroup": many})).await?;
    let (status, body, _) =
        app.graphql("{ devices { name dynamic_groups { name } } }", Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    let count = |i: usize| body["data"]["devices"][i]["dynamic_groups"].as_array().map(Vec::len);
    assert_eq!((count(0), count(1), count(2)), (Some(600), Some(600), Some(0)), "{body}");
    let values: Vec<String> = (0..20_001).map(|i| format!("dev-{i}")).collect();
    let long = "x".repeat(5_000);
    let keys: serde_json::Map<String, Value> =
        (0..5_000).map(|i| (format!("k{i}"), json!(1))).collect();
    for (filter, words) in [
        (json!({"name": values}), "at most 20000 values"),
        (json!({"name": [long]}), "at most 4096 characters"),
        (Value::Object(keys), "k4999 is not a filter of devices."),
    ] {
        let (status, body, _) = app
            .graphql(
                "mutation ($f: GenericScalar) { dynamic_group_create(input: {name: \"hostile\", content_type: \"dcim.device\", filter: $f}) { id } }",
                json!({"f": filter}),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED");
        assert!(body.to_string().contains(words), "{words}");
    }
    Ok(())
}
backend_test!(dynamic_group_hostile, many_groups_and_hostile_filters);
