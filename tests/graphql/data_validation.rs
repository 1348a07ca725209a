//! Data validation rules (Nautobot's data validation engine) and custom field choices, enforced
//! on every write from the write after they are created, with Nautobot's words.

use super::*;

/// A device create with the seed's references and `extra` fields.
fn device(alias: &str, extra: &str) -> String {
    format!(
        "{alias}: device_create(input: {{location: {{name: \"site-001\"}}, role: {{name: \"leaf\"}}, status: {{name: \"Active\"}}, device_type: {{model: \"acme-s48\"}}, {extra}}}) {{ name serial }}"
    )
}

async fn rules_are_enforced(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    // No rule yet: anything goes.
    let (_, body, _) = app
        .graphql(&format!("mutation {{ {} }}", device("a", "name: \"ANY\"")), Value::Null)
        .await?;
    assert_eq!(body["data"]["a"]["name"], "ANY", "{body}");

    let (_, body, _) = app
        .graphql(
            r#"mutation {
                r1: regular_expression_validation_rule_create(input: {name: "device names", content_type: "dcim.device", field: "name", regular_expression: "[a-z]{3}[0-9]{2}-"}) { name }
                r2: required_validation_rule_create(input: {name: "serials", content_type: "dcim.device", field: "serial"}) { name }
                r3: unique_validation_rule_create(input: {name: "one serial", content_type: "dcim.device", field: "serial"}) { name max_instances }
                r4: min_max_validation_rule_create(input: {name: "mtu", content_type: "dcim.interface", field: "mtu", min: 1280, max: 9216, error_message: "MTU must be 1280 to 9216"}) { name min max }
                r5: min_max_validation_rule_create(input: {name: "off", content_type: "dcim.device", field: "vc_priority", enabled: false, max: 1}) { name }
            }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["r3"], json!({"name": "one serial", "max_instances": 1}), "{body}");
    // A float is answered as Nautobot's graphene does: a JSON number.
    assert_eq!(body["data"]["r4"], json!({"name": "mtu", "min": 1280.0, "max": 9216.0}), "{body}");
    // Float filters compare numbers, not text ("9216.0" < "10000" as text).
    for (filter, want) in [
        ("min__gte: 1000, max__lt: 10000", json!([{"name": "mtu"}])),
        ("min__gt: 1280", json!([])),
        ("min: [1280]", json!([{"name": "mtu"}])),
        ("min__isnull: true", json!([{"name": "off"}])),
    ] {
        let (_, body, _) = app
            .graphql(&format!("{{ min_max_validation_rules({filter}) {{ name }} }}"), Value::Null)
            .await?;
        assert_eq!(body["data"]["min_max_validation_rules"], want, "{filter}: {body}");
    }

    // Every failed field in one VALIDATION_FAILED, with Nautobot's words.
    let (_, body, _) = app
        .graphql(&format!("mutation {{ {} }}", device("a", "name: \"BAD\"")), Value::Null)
        .await?;
    let error = error_of(&body);
    assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert_eq!(
        error["extensions"]["fields"],
        json!({
            "name": ["Value does not conform to regex: [a-z]{3}[0-9]{2}-"],
            "serial": ["This field cannot be blank."],
        }),
        "{body}"
    );
    // Unique: the second of two in one write, and nothing of the write is kept.
    let two = format!(
        "mutation {{ {} {} }}",
        device("a", "name: \"ams01-a\", serial: \"S1\""),
        device("b", "name: \"ams01-b\", serial: \"S1\"")
    );
    let (_, body, _) = app.graphql(&two, Value::Null).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"serial": ["There can only be 1 instance with this value."]}),
        "{body}"
    );
    let (_, body, _) =
        app.graphql("{ devices(name: [\"ams01-a\"]) { name } }", Value::Null).await?;
    assert_eq!(body["data"]["devices"], json!([]), "{body}");
    let (_, body, _) = app
        .graphql(
            &format!("mutation {{ {} }}", device("a", "name: \"ams01-a\", serial: \"S1\"")),
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["a"], json!({"name": "ams01-a", "serial": "S1"}), "{body}");
    // Updating the object itself does not count it against itself.
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"ams01-a\"}, input: {serial: \"S1\", comments: \"x\"}) { name } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["device_update"]["name"], "ams01-a", "{body}");
    // Two allowed: a second holder passes, a third fails.
    let (_, body, _) = app
        .graphql("mutation { unique_validation_rule_update(ref: {content_type: \"dcim.device\", field: \"serial\"}, input: {max_instances: 2}) { max_instances } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["unique_validation_rule_update"]["max_instances"], 2, "{body}");
    let (_, body, _) = app.graphql(&two.replace("ams01-a", "ams01-c"), Value::Null).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"serial": ["There can only be 2 instances with this value."]}),
        "{body}"
    );
    // The user's message; a disabled rule is not applied.
    let mtu = "mutation($mtu: Int) { interface_update(ref: {device: {name: \"dev-00001\"}, name: \"eth0\"}, input: {mtu: $mtu}) { mtu } }";
    let (_, body, _) = app.graphql(mtu, json!({"mtu": 100})).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"mtu": ["MTU must be 1280 to 9216"]}),
        "{body}"
    );
    let (_, body, _) = app.graphql(mtu, json!({"mtu": 9000})).await?;
    assert_eq!(body["data"]["interface_update"]["mtu"], 9000, "{body}");
    let (_, body, _) = app
        .graphql("mutation { required_validation_rule_update(ref: {content_type: \"dcim.device\", field: \"serial\"}, input: {enabled: false}) { enabled } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["required_validation_rule_update"]["enabled"], false, "{body}");
    let (_, body, _) = app
        .graphql(
            &format!("mutation {{ {} }}", device("a", "name: \"ams01-d\", vc_priority: 5")),
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["a"]["name"], "ams01-d", "{body}");
    // A rule written in the same write applies to the objects after it.
    let (_, body, _) = app
        .graphql(
            &format!(
                "mutation {{ r: regular_expression_validation_rule_create(input: {{name: \"serial form\", content_type: \"dcim.device\", field: \"serial\", regular_expression: \"SN\"}}) {{ name }} {} }}",
                device("a", "name: \"ams01-e\", serial: \"X1\"")
            ),
            Value::Null,
        )
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"serial": ["Value does not conform to regex: SN"]}),
        "{body}"
    );
    // A pattern rendered over the object (`context_processing`).
    let (_, body, _) = app
        .graphql(
            r#"mutation { regular_expression_validation_rule_update(ref: {content_type: "dcim.device", field: "name"}, input: {context_processing: true, regular_expression: "{{ obj.serial | lower }}-"}) { name } }"#,
            Value::Null,
        )
        .await?;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body, _) = app
        .graphql(
            &format!("mutation {{ {} }}", device("a", "name: \"s7-x\", serial: \"S7\"")),
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["a"]["name"], "s7-x", "{body}");
    let (_, body, _) = app
        .graphql(
            &format!("mutation {{ {} }}", device("a", "name: \"s8-x\", serial: \"S7\"")),
            Value::Null,
        )
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"name": ["Value does not conform to regex: s7-"]}),
        "{body}"
    );
    // The import is a write like any other.
    let err = app
        .import(json!({"dcim.interface": [{"device": "dev-00001", "name": "eth9", "type": "1000base-t", "status": "Active", "mtu": 10}]}))
        .await
        .expect_err("the rule refuses the import");
    assert!(err.to_string().contains("MTU must be 1280 to 9216"), "{err}");
    // Objects still queued in the write's batches are counted too (an import's third row).
    app.import(json!({"data_validation.uniquevalidationrule": [{"name": "one description", "content_type": "dcim.manufacturer", "field": "description", "max_instances": 2}]}))
        .await?;
    let same = |name: &str| json!({"name": name, "description": "same"});
    let err = app
        .import(json!({"dcim.manufacturer": [same("m1"), same("m2"), same("m3")]}))
        .await
        .expect_err("a third holder");
    assert!(err.to_string().contains("There can only be 2 instances with this value."), "{err}");
    app.import(json!({"dcim.manufacturer": [same("m1"), same("m2")]})).await?;
    Ok(())
}
backend_test!(data_validation_rules, rules_are_enforced);

async fn rules_are_checked_when_written(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let cases = [
        (
            r#"regular_expression_validation_rule_create(input: {name: "a", content_type: "dcim.device", field: "nope", regular_expression: "x"})"#,
            json!({"field": ["Not a valid field for content type dcim.device."]}),
        ),
        (
            r#"regular_expression_validation_rule_create(input: {name: "a", content_type: "dcim.device", field: "name", regular_expression: "(?<=x)y"})"#,
            json!({"__all__": ["(?<=x)y is not a valid regular expression."]}),
        ),
        (
            r#"regular_expression_validation_rule_create(input: {name: "a", content_type: "dcim.device", field: "location", regular_expression: "x"})"#,
            json!({"field": ["This field's type does not support regular expression validation."]}),
        ),
        (
            r#"regular_expression_validation_rule_create(input: {name: "a", content_type: "extras.objectchange", field: "request_id", regular_expression: "x"})"#,
            json!({"content_type": ["Select a valid choice. That choice is not one of the available choices."]}),
        ),
        (
            r#"min_max_validation_rule_create(input: {name: "a", content_type: "dcim.interface", field: "mtu", min: 9000, max: 1500})"#,
            json!({"min": ["Minimum value cannot be more than the maximum value."], "max": ["Maximum value cannot be less than the minimum value."]}),
        ),
        (
            r#"min_max_validation_rule_create(input: {name: "a", content_type: "dcim.interface", field: "mtu"})"#,
            json!({"__all__": ["At least a minimum or maximum value must be specified."]}),
        ),
        (
            r#"required_validation_rule_create(input: {name: "a", content_type: "dcim.location", field: "name"})"#,
            json!({"field": ["This field is already required by default."]}),
        ),
        (
            r#"unique_validation_rule_create(input: {name: "a", content_type: "dcim.device", field: "asset_tag"})"#,
            json!({"field": ["This field is already unique by default."]}),
        ),
        (
            r#"unique_validation_rule_create(input: {name: "a", content_type: "dcim.device", field: "serial", max_instances: 0})"#,
            json!({"max_instances": ["Ensure this value is greater than or equal to 1."]}),
        ),
    ];
    for (mutation, want) in cases {
        let (_, body, _) =
            app.graphql(&format!("mutation {{ {mutation} {{ id }} }}"), Value::Null).await?;
        assert_eq!(error_of(&body)["extensions"]["fields"], want, "{mutation}: {body}");
    }
    Ok(())
}
backend_test!(data_validation_rule_checks, rules_are_checked_when_written);

async fn custom_field_choices_are_enforced(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    app.import(json!({
        "extras.customfield": [
            {"key": "tier", "label": "Tier", "type": "select", "content_types": ["dcim.device"]},
            {"key": "roles", "label": "Roles", "type": "multi-select", "content_types": ["dcim.device"]},
        ],
        "extras.customfieldchoice": [
            {"custom_field": "tier", "value": "gold", "weight": 10},
            {"custom_field": "tier", "value": "bronze", "weight": 30},
            {"custom_field": "tier", "value": "silver", "weight": 20},
            {"custom_field": "roles", "value": "edge"},
            {"custom_field": "roles", "value": "core"},
        ],
    }))
    .await?;
    let update = "mutation($v: GenericScalar) { device_update(ref: {name: \"dev-00001\"}, input: {custom_fields: $v}) { cf_tier cf_roles } }";
    let (_, body, _) =
        app.graphql(update, json!({"v": {"tier": "platinum", "roles": ["edge", "it's"]}})).await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({
            "custom_fields.tier": ["Invalid value for custom field 'tier': Invalid choice (platinum). Available choices are: gold, silver, bronze"],
            "custom_fields.roles": ["Invalid value for custom field 'roles': Invalid choice(s) (['edge', \"it's\"]). Available choices are: core, edge"],
        }),
        "{body}"
    );
    let (_, body, _) =
        app.graphql(update, json!({"v": {"tier": "silver", "roles": ["edge", "core"]}})).await?;
    assert_eq!(
        body["data"]["device_update"],
        json!({"cf_tier": "silver", "cf_roles": ["edge", "core"]}),
        "{body}"
    );
    // A choice added in the same write is one the objects after it may take.
    let (_, body, _) = app
        .graphql(
            "mutation { c: custom_field_choice_create(input: {custom_field: {key: \"tier\"}, value: \"platinum\"}) { value } d: device_update(ref: {name: \"dev-00001\"}, input: {custom_fields: {tier: \"platinum\"}}) { cf_tier } }",
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["d"]["cf_tier"], "platinum", "{body}");
    // A stored value is checked again on the next save: a device's tier whose choice went away.
    let (_, body, _) = app
        .graphql("mutation { custom_field_choice_update(ref: {custom_field: {key: \"tier\"}, value: \"platinum\"}, input: {value: \"diamond\"}) { value } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["custom_field_choice_update"]["value"], "diamond", "{body}");
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"dev-00001\"}, input: {serial: \"x\"}) { serial } }", Value::Null)
        .await?;
    assert_eq!(
        error_of(&body)["extensions"]["fields"],
        json!({"custom_fields.tier": ["Invalid value for custom field 'tier': Invalid choice (platinum). Available choices are: gold, silver, bronze, diamond"]}),
        "{body}"
    );
    // Spec: `CustomFieldChoice.clean`.
    app.import(json!({"extras.customfield": [
        {"key": "plain", "label": "Plain", "type": "text", "content_types": ["dcim.device"]},
        {"key": "code", "label": "Code", "type": "select", "content_types": ["dcim.device"], "validation_regex": "^[A-Z]+$", "validation_maximum": 3},
    ]}))
    .await?;
    let choice = "mutation($f: String, $v: String) { custom_field_choice_create(input: {custom_field: {key: $f}, value: $v}) { value } }";
    for (field, value, want) in [
        ("plain", "a", "Custom field choices can only be assigned to selection fields."),
        ("code", "ABCD", "Value must not exceed 3 characters long."),
        ("code", "ab", "Value must match regex ^[A-Z]+$ got ab."),
    ] {
        let (_, body, _) = app.graphql(choice, json!({"f": field, "v": value})).await?;
        assert_eq!(error_of(&body)["extensions"]["fields"], json!({"__all__": [want]}), "{body}");
    }
    let (_, body, _) = app.graphql(choice, json!({"f": "code", "v": "ABC"})).await?;
    assert_eq!(body["data"]["custom_field_choice_create"]["value"], "ABC", "{body}");
    Ok(())
}
backend_test!(custom_field_choices, custom_field_choices_are_enforced);

/// A write reads the rules in one statement however many there are: a device create runs as
/// many statements under one rule of its model as under that rule and 12 rules of others.
async fn rule_statements_do_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for others in [0usize, 12] {
        let app = TestApp::start(backend).await?;
        app.import(seed(1)).await?;
        let mut rules = vec![
            json!({"name": "device names", "content_type": "dcim.device", "field": "name", "regular_expression": "[a-z]"}),
        ];
        let models = [
            "dcim.location",
            "dcim.locationtype",
            "dcim.manufacturer",
            "dcim.platform",
            "extras.tag",
            "ipam.vrf",
            "ipam.vlan",
            "tenancy.tenant",
            "circuits.provider",
            "dcim.rack",
            "extras.status",
            "extras.role",
        ];
        for (i, model) in models.iter().take(others).enumerate() {
            rules.push(json!({"name": format!("r{i}"), "content_type": model, "field": "name", "regular_expression": "."}));
        }
        app.import(json!({"data_validation.regularexpressionvalidationrule": rules})).await?;
        let (_, body, statements) = app
            .graphql(&format!("mutation {{ {} }}", device("a", "name: \"ams01-x\"")), Value::Null)
            .await?;
        assert_eq!(body["data"]["a"]["name"], "ams01-x", "{body}");
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the rules: {counts:?}");
    Ok(())
}
backend_test!(data_validation_statements, rule_statements_do_not_grow);
