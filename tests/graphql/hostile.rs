//! Hostile input: lists, values and documents a careless or malicious client may send. Each
//! either works or is refused with a clear error; none takes the server down.

use super::*;

/// `devices(name: [...])` with a list as a client may build it: inline in the document or in
/// a variable, up to the request's budget of filter values, of any lookup.
async fn long_filter_lists_work_or_are_refused(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(5)).await?;
    let budget = ferrobot_persistence::query::MAX_FILTER_VALUES;
    // 15,000 names inline (it overflowed a worker's stack) and near the budget in a variable.
    let mut names: Vec<String> = (0..15_000).map(|i| format!("absent-{i}")).collect();
    names.push("dev-00002".into());
    let inline = format!("{{ devices(name: {}) {{ name }} }}", serde_json::to_string(&names)?);
    let (status, body, _) = app.graphql(&inline, Value::Null).await?;
    assert_eq!(status, 200, "{}", error_of(&body));
    assert_eq!(body["data"]["devices"], json!([{"name": "dev-00002"}]));
    names.resize(budget - 1, "absent".into());
    names.push("dev-00003".into());
    for query in [
        "query($n: [String]) { devices(name: $n) { name } }",
        "query($n: [String]) { devices(name__n: $n) { name } }",
        "query($n: [String]) { devices(name__ic: $n) { name } }",
        "query($n: [String]) { devices(name__iew: $n) { name } }",
        "query($n: [String]) { devices(name__ie: $n) { name } }",
    ] {
        let (status, body, _) = app.graphql(query, json!({ "n": names })).await?;
        assert_eq!(status, 200, "{query}: {}", error_of(&body));
        let want = if query.contains("__n") { 3 } else { 2 };
        let got = body["data"]["devices"].as_array().map(Vec::len);
        assert_eq!(got, Some(want), "{query}: {}", error_of(&body));
    }
    // Related objects by name: 1,000 names that exist (each a location of its own).
    let locations: Vec<Value> = (0..1_000)
        .map(|i| json!({"name": format!("loc-{i}"), "location_type": "Site", "status": "Active", "parent": "region-1"}))
        .collect();
    app.import(json!({ "dcim.location": locations })).await?;
    let wanted: Vec<String> = (0..1_000).map(|i| format!("loc-{i}")).collect();
    let (status, body, _) = app
        .graphql("query($l: [String]) { devices(location: $l) { name } }", json!({ "l": wanted }))
        .await?;
    assert_eq!((status, &body["data"]["devices"]), (200, &json!([])), "{}", error_of(&body));
    // Ids as many as the budget allows, and timestamps.
    let ids: Vec<String> = (0..budget).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (status, body, _) = app
        .graphql("query($i: [String]) { devices(id: $i) { name } }", json!({ "i": ids }))
        .await?;
    assert_eq!((status, &body["data"]["devices"]), (200, &json!([])), "{}", error_of(&body));
    // Past the budget: refused with the limit named, whichever arguments carry the values.
    let over: Vec<String> = (0..=budget).map(|i| format!("n{i}")).collect();
    let half: Vec<String> = over[..budget / 2 + 1].to_vec();
    for (query, variables) in [
        ("query($n: [String]) { devices(name: $n) { name } }", json!({ "n": over })),
        ("query($n: [String]) { devices(name: $n, serial: $n) { name } }", json!({ "n": half })),
        (
            "query($n: [String]) { devices(name: $n) { interfaces(name: $n) { name } } }",
            json!({ "n": half }),
        ),
    ] {
        let (status, body, _) = app.graphql(query, variables).await?;
        assert_eq!(status, 200, "{body}");
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{query}: {error}");
        assert!(error["message"].as_str().unwrap_or("").contains(&budget.to_string()), "{error}");
    }
    Ok(())
}
backend_test!(long_filter_lists, long_filter_lists_work_or_are_refused);

/// Values longer than any filter needs are refused before they reach the database.
async fn huge_filter_values_are_refused(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let limit = ferrobot_persistence::query::MAX_FILTER_TEXT;
    let at_limit = "x".repeat(limit);
    let (status, body, _) = app
        .graphql(
            "query($v: [String]) { devices(name__ic: $v) { name } }",
            json!({ "v": [at_limit] }),
        )
        .await?;
    assert_eq!((status, &body["data"]["devices"]), (200, &json!([])), "{}", error_of(&body));
    for (query, value) in [
        ("query($v: [String]) { devices(name__ic: $v) { name } }", "é".repeat(60_000)),
        ("query($v: String) { devices(q: $v) { name } }", "%_".repeat(500_000)),
        ("query($v: [String]) { devices(name__re: $v) { name } }", "a".repeat(limit + 1)),
    ] {
        let (status, body, _) = app.graphql(query, json!({ "v": value })).await?;
        assert_eq!(status, 200, "{query}: {body}");
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{query}: {error}");
        assert!(error["message"].as_str().unwrap_or("").contains(&limit.to_string()), "{error}");
    }
    Ok(())
}
backend_test!(huge_filter_values, huge_filter_values_are_refused);

/// A write that holds the database (another process's, here a second store on the same
/// database, as `ferrobot import` is) stalls no read; the writes behind it queue, and those
/// that do not get their turn in time are refused as retryable, with nothing written.
async fn reads_never_wait_for_writers(backend: Backend) -> anyhow::Result<()> {
    let wait = std::time::Duration::from_millis(1_500);
    let options = ferrobot_persistence::StoreOptions { write_wait: wait, ..Default::default() };
    let app = TestApp::start_with(backend, options.clone()).await?;
    app.import(seed(3)).await?;
    let catalogue = app.store.catalogue().clone();
    let other = ferrobot_persistence::Store::connect_with(&app.db.url, catalogue, &options).await?;
    let actor = ferrobot_persistence::import::import_actor();
    let write = ferrobot_persistence::write::WriteOptions::new(actor, "orm", "");
    let holder = other.writer(write).await?;
    // More writes than the pools have connections, and reads beside them.
    let writes = (0..20).map(|i| {
        let query = format!("mutation {{ tag_create(input: {{name: \"held-{i}\"}}) {{ id }} }}");
        let app = &app;
        async move { app.graphql_with_headers(&query).await }
    });
    let reads = (0..40).map(|_| app.graphql("{ devices { name tags { name } } }", Value::Null));
    let (writes, reads) =
        tokio::join!(futures_util::future::join_all(writes), futures_util::future::join_all(reads));
    for read in reads {
        let (status, body, _) = read?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(3), "{body}");
    }
    for write in writes {
        let (status, retry_after, body) = write?;
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(error_of(&body)["extensions"]["code"], "BUSY", "{body}");
        assert_eq!(error_of(&body)["extensions"]["retryable"], true, "{body}");
    }
    holder.rollback().await?;
    other.close().await;
    // Nothing of the refused writes is there, and the next write goes through.
    let (_, body, _) = app.graphql("{ tags(name__isw: \"held-\") { name } }", Value::Null).await?;
    assert_eq!(body["data"]["tags"], json!([]), "{body}");
    let (status, body, _) = app
        .graphql("mutation { tag_create(input: {name: \"after\"}) { name } }", Value::Null)
        .await?;
    assert_eq!((status, &body["data"]["tag_create"]["name"]), (200, &json!("after")), "{body}");
    Ok(())
}
backend_test!(reads_beside_a_held_write, reads_never_wait_for_writers);

/// Every value the schema lets in fits its column and the model's range, checked before the
/// write with Django's words; the object stays writable after a refused value.
async fn values_past_a_range_are_refused(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let (status, body, _) = app.graphql(r#"mutation {
      status_update(ref: {name: "Active"}, input: {content_types: ["dcim.device", "dcim.rack", "ipam.vlan", "dcim.location", "dcim.interface", "ipam.prefix", "ipam.ipaddress"]}) { name }
      rack_create(input: {name: "r1", location: {name: "site-001"}, status: {name: "Active"}, u_height: 10}) { id }
    }"#, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    let device = |position: i64| {
        format!(
            r#"mutation {{ device_update(ref: {{name: "dev-00001"}}, input: {{rack: {{name: "r1"}}, face: FRONT, position: {position}}}) {{ position }} }}"#
        )
    };
    let vlan = |vid: i64| {
        format!(
            r#"mutation {{ vlan_create(input: {{name: "v{vid}", vid: {vid}, status: {{name: "Active"}}}}) {{ vid }} }}"#
        )
    };
    let cases = [
        (device(0), "position", "Ensure this value is greater than or equal to 1."),
        (device(32_768), "position", "Ensure this value is less than or equal to 32767."),
        (device(65_536), "position", "Ensure this value is less than or equal to 32767."),
        (device(2_147_483_647), "position", "Ensure this value is less than or equal to 32767."),
        (vlan(0), "vid", "Ensure this value is greater than or equal to 1."),
        (vlan(4_095), "vid", "Ensure this value is less than or equal to 4094."),
        (vlan(5_000), "vid", "Ensure this value is less than or equal to 4094."),
        (
            r#"mutation { rack_update(ref: {name: "r1"}, input: {u_height: 501}) { u_height } }"#.into(),
            "u_height",
            "Ensure this value is less than or equal to 500.",
        ),
        (
            r#"mutation { interface_update(ref: {device: {name: "dev-00001"}, name: "eth0"}, input: {mtu: 70000}) { mtu } }"#.into(),
            "mtu",
            "Ensure this value is less than or equal to 65536.",
        ),
        (
            format!(r#"mutation {{ location_update(ref: {{name: "site-001"}}, input: {{latitude: "{}"}}) {{ latitude }} }}"#, "9".repeat(40)),
            "latitude",
            "Ensure that there are no more than 8 digits in total.",
        ),
    ];
    for (query, field, message) in cases {
        let (status, body, _) = app.graphql(&query, Value::Null).await?;
        assert_eq!(status, 200, "{query}: {body}");
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{query}: {body}");
        assert_eq!(error["extensions"]["fields"][field][0], message, "{query}: {body}");
    }
    // In range: written, and the rack is still writable.
    let (_, body, _) = app.graphql(&device(9), Value::Null).await?;
    assert_eq!(body["data"]["device_update"]["position"], 9, "{body}");
    let (_, body, _) = app.graphql(&vlan(4_094), Value::Null).await?;
    assert_eq!(body["data"]["vlan_create"]["vid"], 4094, "{body}");
    let (_, body, _) = app
        .graphql(
            r#"mutation { rack_update(ref: {name: "r1"}, input: {u_height: 12}) { u_height } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["rack_update"]["u_height"], 12, "{body}");
    // Arguments of computed fields.
    for (query, argument) in [
        (r#"{ prefixes { available_ips(limit: -1) } }"#, "limit"),
        (r#"{ prefixes { available_ips(limit: 1001) } }"#, "limit"),
        (r#"{ racks { elevation(face: "sideways") { name } } }"#, "face"),
    ] {
        let (status, body, _) = app.graphql(query, Value::Null).await?;
        assert_eq!(status, 200, "{query}: {body}");
        let error = error_of(&body);
        assert_eq!(error["extensions"]["code"], "VALIDATION_FAILED", "{query}: {body}");
        assert_eq!(error["extensions"]["argument"], argument, "{query}: {body}");
    }
    let (_, body, _) =
        app.graphql(r#"{ racks { elevation(face: "rear") { name } } }"#, Value::Null).await?;
    assert_eq!(body["data"]["racks"][0]["elevation"].as_array().map(Vec::len), Some(12), "{body}");
    Ok(())
}
backend_test!(values_past_a_range, values_past_a_range_are_refused);

/// Answers say what happened: a write that commits answers its objects, and a document whose
/// variables do not fit it is refused before anything runs.
async fn answers_tell_the_truth(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    // A model without an `id` filter is still read back after its create.
    let create = r#"mutation { external_integration_create(input: {name: "ext", remote_url: "https://example.invalid"}) { name remote_url } }"#;
    let (status, body, _) = app.graphql(create, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["external_integration_create"],
        json!({"name": "ext", "remote_url": "https://example.invalid"}),
        "{body}"
    );
    let (_, body, _) = app.graphql(create, Value::Null).await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "CONFLICT", "{body}");
    // Variables that do not fit their definitions: HTTP 400, no data, graphql-core's words.
    let has = "query($s: Boolean!) { devices(has_interfaces: $s) { name } }";
    let limit = "query($n: Int) { devices(limit: $n) { name } }";
    let names = "query($n: [String]) { devices(name: $n) { name } }";
    for (query, variables, message) in [
        (has, Value::Null, "Variable '$s' of required type 'Boolean!' was not provided."),
        (has, json!({}), "Variable '$s' of required type 'Boolean!' was not provided."),
        (has, json!({"s": null}), "Variable '$s' of non-null type 'Boolean!' must not be null."),
        // Ill-typed values are found by validation or by the variable check, whichever first.
        (has, json!({"s": "yes"}), ""),
        (limit, json!({"n": "abc"}), ""),
        (limit, json!({"n": 1.5}), ""),
        (limit, json!({"n": 3_000_000_000i64}), ""),
        (names, json!({"n": [1, {"a": 1}]}), ""),
    ] {
        let (status, body, _) = app.graphql(query, variables.clone()).await?;
        assert_eq!(status, 400, "{query} {variables}: {body}");
        assert!(body.get("data").is_none(), "{body}");
        let got = error_of(&body)["message"].as_str().unwrap_or_default();
        assert!(!got.is_empty() && got.starts_with(message), "{query} {variables}: {got}");
    }
    // A variable with a default, or nullable and left out, is fine.
    let (status, body, _) = app
        .graphql("query($s: Boolean = true) { devices(has_interfaces: $s) { name } }", Value::Null)
        .await?;
    assert_eq!((status, body["data"]["devices"].as_array().map(Vec::len)), (200, Some(2)));
    let (status, body, _) = app.graphql(limit, json!({})).await?;
    assert_eq!((status, body["data"]["devices"].as_array().map(Vec::len)), (200, Some(2)));
    // Variables as a JSON string, as graphene-django takes them; anything else is refused.
    for (variables, want) in [
        (json!("{\"n\": [\"dev-00002\"]}"), 200),
        (json!(""), 200),
        (json!("{not json"), 400),
        (json!([1, 2]), 400),
        (json!(7), 400),
    ] {
        let response = app
            .client()
            .post(format!("{}/api/graphql/", app.base))
            .header("Authorization", format!("Token {}", app.token))
            .json(&json!({ "query": names, "variables": variables }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        assert_eq!(status, want, "{variables}: {body}");
        if want == 200 && variables != json!("") {
            assert_eq!(body["data"]["devices"], json!([{"name": "dev-00002"}]), "{body}");
        }
    }
    Ok(())
}
backend_test!(truthful_answers, answers_tell_the_truth);

/// Shapes the fuzz test found answered `internal error` on one backend or another: each now
/// works or is VALIDATION_FAILED, on every backend.
async fn filters_and_values_of_every_type(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let long = "x".repeat(70_000);
    let cases: Vec<(String, &str)> = vec![
        // Filters on JSON, date, decimal and integer columns given text, numbers or booleans.
        (r#"{ platforms(napalm_args: ["a"]) { name } }"#.into(), "ok"),
        (r#"{ devices(local_config_context_data: true) { name } }"#.into(), "ok"),
        (r#"{ circuits(install_date: ["2024-01-01"]) { cid } }"#.into(), "ok"),
        (r#"{ circuits(install_date: ["yesterday"]) { cid } }"#.into(), "invalid"),
        (r#"{ locations(latitude__gte: 0.0) { name } }"#.into(), "ok"),
        (r#"{ racks(width: ["19"]) { name } }"#.into(), "ok"),
        (r#"{ racks(width: ["nineteen"]) { name } }"#.into(), "invalid"),
        (r#"{ power_feeds(breaker_pole_count__isw: ["1"]) { name } }"#.into(), "ok"),
        // Patterns Rust takes and a database's dialect may not.
        (r#"{ devices(name__re: ["a???"]) { name } }"#.into(), "ok or invalid"),
        (r#"{ devices(name__re: ["a{1,99999}"]) { name } }"#.into(), "ok or invalid"),
        (r#"{ devices(name__re: ["(?P<n>a)"]) { name } }"#.into(), "ok or invalid"),
        // A pattern that compiles to more than a filter may take: refused before any SQL.
        (r#"{ devices(name__re: ["(\\w{100}){100}"]) { name } }"#.into(), "invalid"),
        // NUL characters, text beyond Latin-1, long text.
        (r#"{ tags(name: "a\u0000b") { name } }"#.into(), "invalid"),
        (r#"mutation { tag_create(input: {name: "nul\u0000x"}) { name } }"#.into(), "invalid"),
        (r#"mutation { tag_create(input: {name: "漢字🚀"}) { name } }"#.into(), "ok"),
        (r#"{ tags(name: "🚀") { name } }"#.into(), "ok"),
        (
            format!(
                r#"mutation {{ device_update(ref: {{name: "dev-00001"}}, input: {{comments: "{long}"}}) {{ name }} }}"#
            ),
            "ok",
        ),
    ];
    for (query, want) in cases {
        let (status, body, _) = app.graphql(&query, Value::Null).await?;
        let shown = &query[..query.len().min(120)];
        assert_eq!(status, 200, "{shown}: {body}");
        let code = error_of(&body)["extensions"]["code"].as_str().map(str::to_owned);
        let got = match code.as_deref() {
            None if body.get("errors").is_none() => "ok",
            Some("VALIDATION_FAILED") => "invalid",
            _ => "other",
        };
        assert!(want.contains(got), "{shown}: wanted {want}, got {body}");
    }
    let (_, body, _) = app.graphql(r#"{ tags(name: "漢字🚀") { name } }"#, Value::Null).await?;
    assert_eq!(body["data"]["tags"], json!([{"name": "漢字🚀"}]), "{body}");
    let (_, body, _) =
        app.graphql(r#"{ devices(name: "dev-00001") { comments } }"#, Value::Null).await?;
    assert_eq!(body["data"]["devices"][0]["comments"].as_str().map(str::len), Some(70_000));
    Ok(())
}
backend_test!(every_type_of_filter_and_value, filters_and_values_of_every_type);
