//! Computed fields (Nautobot's `extras.computedfield`): `cpf_<key>` fields rendered from Jinja2
//! templates over each object, served within a second of being defined, on every replica.

use super::*;

/// A computed field create with these inputs.
fn define(alias: &str, content_type: &str, key: &str, template: &str, fallback: &str) -> String {
    format!(
        "{alias}: computed_field_create(input: {{content_type: {}, key: {}, label: {}, template: {}, fallback_value: {}}}) {{ key }}",
        json!(content_type),
        json!(key),
        json!(key.replace('_', " ")),
        json!(template),
        json!(fallback),
    )
}

/// A loop over a list whose items' references and lists the template reads.
const PORTS: &str = "{% for i in obj.interfaces.all() %}{{ i.name }}={{ i.status }}{% for ip in i.ip_addresses.all() %} {{ ip.address }}{% endfor %};{% endfor %}";

async fn computed_fields_render(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let replica = app.start_replica().await?;
    let summary = "{{ obj.name }} in {{ obj.location }} ({{ obj.location.parent.name }}), \
                   {{ obj.status }}, {{ obj.interfaces.count() }} ports: \
                   {{ obj.interfaces.all() | join(', ') }}; tags {{ obj.tags.all() | map(attribute='name') | join('+') }}; \
                   team {{ obj.cf.owner_team }}; ip {{ obj.primary_ip4.address }}; \
                   tenant {{ obj.tenant }}; driver {{ obj.platform.network_driver | upper }}";
    let mutation = format!(
        "mutation {{ {} {} {} {} {} }}",
        define("a", "dcim.device", "summary", summary, "?"),
        define("b", "dcim.device", "broken", "{{ obj.interfaces.filter(name='x') }}", "n/a"),
        define(
            "c",
            "dcim.device",
            "whole",
            "{{ obj }}/{{ obj.serial == '' }}/{{ obj.location_id == obj.location.id }}",
            ""
        ),
        define(
            "d",
            "dcim.interface",
            "label_text",
            "{{ obj.device.name }}:{{ obj.name }}{% if obj.mgmt_only %}*{% endif %}",
            ""
        ),
        define("e", "dcim.device", "ports", PORTS, ""),
    );
    let (_, body, _) = app.graphql(&mutation, Value::Null).await?;
    assert_eq!(body["data"]["a"]["key"], "summary", "{body}");
    let query = "{ devices { name cpf_summary cpf_broken cpf_whole cpf_ports interfaces { cpf_label_text } } }";
    // Served within a second, by this server and by the replica.
    for base in [&app.base, &replica.base] {
        let (body, tries) = until_served(&app, base, query).await?;
        assert!(tries <= 10, "served after {tries} tenths of a second");
        let devices = &body["data"]["devices"];
        assert_eq!(
            devices[0]["cpf_summary"],
            "dev-00001 in site-001 (region-1), Active, 3 ports: eth0, eth1, eth2; tags tag-1; \
             team team-1; ip 10.1.0.1/16; tenant None; driver CISCO_IOS",
            "{body}"
        );
        assert_eq!(
            devices[1]["cpf_summary"].as_str().map(|s| s.contains("team team-2")),
            Some(true)
        );
        // A failed render gives the fallback value.
        assert_eq!(devices[0]["cpf_broken"], "n/a");
        assert_eq!(devices[0]["cpf_whole"], "dev-00001/True/True");
        // A loop's items are objects too: their references and lists are followed.
        assert_eq!(
            devices[0]["cpf_ports"], "eth0=Active 10.1.0.1/16;eth1=Active;eth2=Active;",
            "{body}"
        );
        assert_eq!(
            devices[1]["interfaces"],
            json!([{"cpf_label_text": "dev-00002:eth0"}, {"cpf_label_text": "dev-00002:eth1"}, {"cpf_label_text": "dev-00002:eth2"}])
        );
    }
    // The SDL has the field as Nautobot types it: a String.
    let (_, body, _) = app
        .graphql("{ __type(name: \"DeviceType\") { fields { name type { name } } } }", Value::Null)
        .await?;
    let fields = body["data"]["__type"]["fields"].as_array().cloned().unwrap_or_default();
    let cpf = fields.iter().find(|f| f["name"] == "cpf_summary").cloned().unwrap_or_default();
    assert_eq!(cpf["type"]["name"], "String", "{body}");
    // A change of template shows from the next schema on; a deleted field leaves the schema.
    let (_, body, _) = app
        .graphql(
            "mutation { computed_field_update(ref: {key: \"summary\"}, input: {template: \"{{ obj.name | upper }}\"}) { key } }",
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["computed_field_update"]["key"], "summary", "{body}");
    let mut changed = Value::Null;
    for _ in 0..50 {
        let (_, body, _) =
            app.graphql("{ devices(name: [\"dev-00001\"]) { cpf_summary } }", Value::Null).await?;
        changed = body;
        if changed["data"]["devices"][0]["cpf_summary"] == "DEV-00001" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(changed["data"]["devices"][0]["cpf_summary"], "DEV-00001", "{changed}");
    let (_, body, _) = app
        .graphql("mutation { computed_field_delete(ref: {key: \"broken\"}) { id } }", Value::Null)
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let mut gone = Value::Null;
    for _ in 0..50 {
        let (_, body, _) = app.graphql("{ devices { cpf_broken } }", Value::Null).await?;
        gone = body;
        if gone.get("errors").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let message = error_of(&gone)["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("Cannot query field 'cpf_broken'"), "{gone}");
    // The import format writes them too.
    app.import(json!({"extras.computedfield": [
        {"content_type": "dcim.location", "key": "path", "label": "Path", "template": "{{ obj.parent.name }}/{{ obj.name }}"}
    ]}))
    .await?;
    let (body, _) =
        until_served(&app, &app.base, "{ locations(name: [\"site-001\"]) { cpf_path } }").await?;
    assert_eq!(body["data"]["locations"][0]["cpf_path"], "region-1/site-001", "{body}");
    // Computed fields are read like any model.
    let (_, body, _) = app
        .graphql("{ computed_fields(content_type: [\"dcim.interface\"]) { key label content_type { model } weight } }", Value::Null)
        .await?;
    assert_eq!(
        body["data"]["computed_fields"],
        json!([{"key": "label_text", "label": "label text", "content_type": {"model": "interface"}, "weight": 100}]),
        "{body}"
    );
    Ok(())
}
backend_test!(computed_fields, computed_fields_render);

/// Spec: `ComputedField.clean` and its API's lengths, with Nautobot's words; nothing is written
/// when a definition fails.
async fn computed_field_definitions_are_checked(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let long = "x".repeat(501);
    let cases = [
        ("dcim.device", "1st", "x", "key", "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace"),
        ("dcim.device", "has-dash", "x", "key", "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace"),
        ("dcim.device", "k", "{% for x in %}", "template", "Template syntax error on line 1: "),
        ("dcim.device", "k", "ok\n{{ obj.name }", "template", "Template syntax error on line 2: "),
        ("dcim.device", "k", long.as_str(), "template", "Ensure this field has no more than 500 characters."),
        ("extras.objectchange", "k", "x", "content_type", "Select a valid choice. That choice is not one of the available choices."),
    ];
    for (content_type, key, template, field, message) in cases {
        let (_, body, _) = app
            .graphql(
                &format!("mutation {{ {} }}", define("x", content_type, key, template, "")),
                Value::Null,
            )
            .await?;
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{body}");
        let got = error["extensions"]["fields"][field][0].as_str().unwrap_or_default();
        assert!(got.starts_with(message), "{key} {template}: {body}");
    }
    let (_, body, _) = app.graphql("{ computed_fields { key } }", Value::Null).await?;
    assert_eq!(body["data"]["computed_fields"], json!([]), "{body}");
    // The same label twice on one content type (Nautobot's unique_together).
    let twice = format!(
        "mutation {{ {} }}",
        define("x", "dcim.device", "one", "a", "").replace("label: \"one\"", "label: \"same\"")
            + " "
            + &define("y", "dcim.device", "two", "b", "")
                .replace("label: \"two\"", "label: \"same\"")
    );
    let (_, body, _) = app.graphql(&twice, Value::Null).await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "CONFLICT", "{body}");
    assert_eq!(error_of(&body)["extensions"]["fields"], json!(["content_type", "label"]), "{body}");
    Ok(())
}
backend_test!(computed_field_checks, computed_field_definitions_are_checked);

/// A list of devices with a computed field that reads references, a list and tags runs the same
/// number of statements at 20 and 1,100 devices (1,100 is read in two windows).
async fn computed_field_statements_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    let template = "{{ obj.location.parent.name }}/{{ obj.interfaces.count() }}/{{ obj.tags.all() | join(',') }}/{{ obj.status }}";
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let (_, body, _) = app
            .graphql(
                &format!("mutation {{ {} }}", define("a", "dcim.device", "where", template, "")),
                Value::Null,
            )
            .await?;
        assert!(body.get("errors").is_none(), "{body}");
        let (body, _) =
            until_served(&app, &app.base, "{ devices(limit: 1) { cpf_where } }").await?;
        assert_eq!(body["data"]["devices"][0]["cpf_where"], "region-1/3/tag-1/Active", "{body}");
        let (status, body, statements) =
            app.graphql("{ devices { name cpf_where } }", Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        let last = n - 1;
        assert_eq!(
            devices[last]["cpf_where"],
            format!("region-1/3/tag-{}/Active", last % 2 + 1),
            "{}",
            devices[last]
        );
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the row count: {counts:?}");
    // devices, location, parent, interfaces, tags, status.
    assert!(counts[0] <= 6, "{counts:?}");
    Ok(())
}
backend_test!(computed_field_statements, computed_field_statements_do_not_grow);

/// A computed field defined while clients read: every answer is whole (with the field's old
/// schema or the new one), and a template that runs away or writes too much gives its fallback
/// without stalling the list.
async fn computed_fields_under_load(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(30)).await?;
    let reads = (0..20).map(|_| app.graphql("{ devices { name } }", Value::Null));
    let mutation = format!(
        "mutation {{ {} {} }}",
        define(
            "a",
            "dcim.device",
            "spin",
            "{% for i in range(1000000) %}{{ i }}{% endfor %}",
            "too much"
        ),
        define("b", "dcim.device", "huge", "{{ 'x' * 1000000 }}", "too big"),
    );
    let defining = app.graphql(&mutation, Value::Null);
    let (defined, answers) = tokio::join!(defining, futures_util::future::join_all(reads));
    assert!(defined?.1.get("errors").is_none());
    for answer in answers {
        let (status, body, _) = answer?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(30), "{body}");
    }
    let (body, _) = until_served(&app, &app.base, "{ devices { cpf_spin cpf_huge } }").await?;
    let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
    assert_eq!(devices.len(), 30);
    assert!(
        devices.iter().all(|d| d["cpf_spin"] == "too much" && d["cpf_huge"] == "too big"),
        "{body}"
    );
    Ok(())
}
backend_test!(computed_field_load, computed_fields_under_load);
