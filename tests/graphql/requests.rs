//! What the request tree gives clients: variables as GraphQL defines them, query limits with the
//! cost in every answer, and cursor pages with totals.

use super::*;

async fn variables_as_graphql_defines_them(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(5)).await?;
    // An omitted variable takes its default, in a filter and in a page.
    let (status, body, _) = app
        .graphql(
            "query($n: [String] = [\"dev-00001\"]) { devices(name: $n) { name } }",
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["devices"], json!([{"name": "dev-00001"}]));
    let (_, body, _) =
        app.graphql("query($l: Int = 2) { devices(limit: $l) { name } }", Value::Null).await?;
    assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(2), "{body}");
    // A value given wins over the default; an explicit null is null (no filter).
    let (_, body, _) =
        app.graphql("query($l: Int = 2) { devices(limit: $l) { name } }", json!({"l": 3})).await?;
    assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(3), "{body}");
    let (_, body, _) = app
        .graphql("query($l: Int = 2) { devices(limit: $l) { name } }", json!({"l": null}))
        .await?;
    assert_eq!(body["data"]["devices"].as_array().map(Vec::len), Some(5), "{body}");
    // A variable used where its type is not allowed is refused at validation.
    let (status, body, _) = app
        .graphql("query($n: String!) { devices(name: $n) { name } }", json!({"n": "dev-00001"}))
        .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Variable '$n' of type 'String!' used in position expecting type '[String]'."
    );
    // graphql-core validates positions before it reads values: a value that does not fit
    // changes nothing (async-graphql refuses the value first; fuzz case 1030).
    let (status, body, _) =
        app.graphql("query($v: UUID) { devices(limit: $v) { name } }", json!({"v": -1e34})).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Variable '$v' of type 'UUID' used in position expecting type 'Int'."
    );
    Ok(())
}
backend_test!(variables, variables_as_graphql_defines_them);

async fn query_limits_before_any_sql(backend: Backend) -> anyhow::Result<()> {
    use ferrobot_gateway::limits::Limits;
    let limits = Limits { depth: 4, aliases: 3, cost: 200 };
    let app = TestApp::start_configured(backend, Default::default(), |c| c.limits = limits).await?;
    app.import(seed(20)).await?;
    // Every answer reports its estimated cost and the limit.
    let (status, body, _) = app.graphql("{ devices { name } }", Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["extensions"]["cost"], json!({"estimated": 20, "limit": 200}));
    // 20 devices, 60 interfaces with 3 fields each, and so on: past the budget, nothing is read.
    let costly = "{ devices { name interfaces { name ip_addresses { address } tags { name } } } }";
    let (status, body, statements) = app.graphql(costly, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body.get("data"), None);
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "QUERY_TOO_COSTLY", "{body}");
    assert_eq!(extensions["limit"], 200);
    assert!(extensions["asked"].as_u64().is_some_and(|c| c > 200), "{body}");
    assert_eq!(statements, None);
    // A page of it costs its page.
    let paged = "{ devices(limit: 2) { name interfaces { name ip_addresses { address } } } }";
    let (status, body, _) = app.graphql(paged, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body["extensions"]["cost"]["estimated"].as_u64().is_some_and(|c| c <= 200));
    // Depth, fragments followed.
    let deep = "{ devices { location { parent { ...p } } } } fragment p on LocationType { parent { parent { name } } }";
    let (status, body, _) = app.graphql(deep, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Query is nested more than 4 levels deep; at most 4 are allowed."
    );
    // Nested past anything a limit may allow: refused by the parser, with the same code.
    let abyss =
        format!("{{ locations {{ {} name {} }} }}", "parent { ".repeat(200), "}".repeat(200));
    let (status, body, _) = app.graphql(&abyss, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], 4, "{body}");
    // Aliases, fragments expanded.
    let aliased =
        "{ a: devices { ...f } b: devices { ...f } } fragment f on DeviceType { n: name }";
    let (status, body, _) = app.graphql(aliased, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_ALIASES");
    assert_eq!(body["errors"][0]["extensions"]["asked"], 4);
    // Fragments spread ten times over, ten deep (a billion fields): refused before validation
    // walks them, at once.
    let fragments: Vec<String> = (0..10)
        .map(|i| {
            let body =
                if i == 9 { "name".to_owned() } else { format!("...F{} ", i + 1).repeat(10) };
            format!("fragment F{i} on DeviceType {{ {body} }}")
        })
        .collect();
    let bomb = format!("{{ devices(limit: 1) {{ ...F0 }} }} {}", fragments.join(" "));
    let started = std::time::Instant::now();
    let (status, body, _) = app.graphql(&bomb, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_LARGE", "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    // A mutation whose answer is too deep writes nothing.
    let mutation = "mutation { location_create(input: {name: \"deep\", location_type: {name: \"Region\"}, status: {name: \"Active\"}}) { parent { parent { parent { parent { name } } } } } }";
    let (status, body, _) = app.graphql(mutation, Value::Null).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{body}");
    let (_, body, _) = app.graphql("{ locations(name: \"deep\") { name } }", Value::Null).await?;
    assert_eq!(body["data"]["locations"], json!([]), "{body}");
    Ok(())
}
backend_test!(query_limits, query_limits_before_any_sql);

/// Follows a list's cursor pages to the end: (names in page order, totals seen, statements per
/// page).
async fn walk_pages(
    app: &TestApp,
    field: &str,
    arguments: &str,
    first: usize,
) -> anyhow::Result<(Vec<String>, Vec<u64>, Vec<u64>)> {
    let (mut names, mut totals, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    let mut after = Value::Null;
    loop {
        let query = format!(
            "query($after: String) {{ {field}(first: {first}, after: $after{arguments}) {{ total_count has_next_page end_cursor items {{ name }} }} }}"
        );
        let (status, body, count) = app.graphql(&query, json!({"after": after})).await?;
        anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{body}");
        let page = &body["data"][field];
        for item in page["items"].as_array().into_iter().flatten() {
            names.push(item["name"].as_str().unwrap_or_default().to_owned());
        }
        totals.push(page["total_count"].as_u64().unwrap_or(u64::MAX));
        statements.push(count.unwrap_or(u64::MAX));
        if page["has_next_page"] != json!(true) {
            break;
        }
        after = page["end_cursor"].clone();
        anyhow::ensure!(names.len() < 10_000, "pages never end");
    }
    Ok((names, totals, statements))
}

async fn cursor_pages_with_totals(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(25)).await?;
    // Every device once, in the list's order, each page with the total of the filters.
    let (names, totals, statements) = walk_pages(&app, "devices_page", "", 7).await?;
    let want: Vec<String> = (1..=25).map(|i| format!("dev-{i:05}")).collect();
    assert_eq!(names, want);
    assert_eq!(totals, vec![25; 4]);
    // A page and its total: two statements, however deep the page.
    assert_eq!(statements, vec![2; 4]);
    let (names, totals, _) =
        walk_pages(&app, "devices_page", ", name__isw: \"dev-0001\"", 4).await?;
    assert_eq!(names.len(), 10);
    assert_eq!(totals, vec![10; 3]);
    // Nullable ordering columns (interfaces order by device, then natural name): every row once.
    let query = "{ interfaces_page(first: 1000) { total_count items { id } } }";
    let (_, body, _) = app.graphql(query, Value::Null).await?;
    assert_eq!(body["data"]["interfaces_page"]["total_count"], 75);
    // The cursor stays right while others write: a row added before it is not seen again, one
    // added after it is.
    let (_, first_page, _) = app
        .graphql("{ devices_page(first: 10) { end_cursor items { name } } }", Value::Null)
        .await?;
    let cursor = first_page["data"]["devices_page"]["end_cursor"].clone();
    let create = |name: &str| {
        format!("mutation {{ device_create(input: {{name: \"{name}\", location: {{name: \"site-001\"}}, role: {{name: \"leaf\"}}, status: {{name: \"Active\"}}, device_type: {{model: \"acme-s48\"}}}}) {{ id }} }}")
    };
    for name in ["dev-00000", "dev-00999"] {
        let (status, body, _) = app.graphql(&create(name), Value::Null).await?;
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
    }
    let (_, body, _) = app
        .graphql(
            "query($a: String) { devices_page(first: 100, after: $a) { items { name } } }",
            json!({"a": cursor}),
        )
        .await?;
    let rest: Vec<&str> = body["data"]["devices_page"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(rest.first(), Some(&"dev-00011"), "{body}");
    assert_eq!(rest.last(), Some(&"dev-00999"), "{body}");
    assert_eq!(rest.len(), 16);
    // NULLs in the order (devices without a name) are paged where the database sorts them,
    // each row once, across pages of three.
    for _ in 0..4 {
        let query = create("x").replace("name: \"x\"", "name: null");
        let (status, body, _) = app.graphql(&query, Value::Null).await?;
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
    }
    let mut paged: Vec<String> = Vec::new();
    let mut after = Value::Null;
    loop {
        let query = "query($a: String) { devices_page(first: 3, after: $a) { has_next_page end_cursor items { id } } }";
        let (_, body, _) = app.graphql(query, json!({"a": after})).await?;
        let page = &body["data"]["devices_page"];
        let ids = page["items"].as_array().into_iter().flatten();
        paged.extend(ids.filter_map(|i| i["id"].as_str().map(str::to_owned)));
        anyhow::ensure!(paged.len() < 100, "pages never end: {body}");
        if page["has_next_page"] != json!(true) {
            break;
        }
        after = page["end_cursor"].clone();
    }
    let (_, body, _) = app.graphql("{ devices { id } }", Value::Null).await?;
    let mut all: Vec<String> = body["data"]["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(paged.len(), all.len(), "every device once");
    let mut seen = paged.clone();
    seen.sort();
    all.sort();
    assert_eq!(seen, all);
    // Bad input: a cursor that is not one, one of another list, a page too big.
    for (query, argument) in [
        ("{ devices_page(after: \"garbage\") { total_count } }", "after"),
        ("{ devices_page(first: 0) { total_count } }", "first"),
        ("{ devices_page(first: 1001) { total_count } }", "first"),
    ] {
        let (status, body, _) = app.graphql(query, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["devices_page"], Value::Null, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["argument"], argument, "{body}");
    }
    let (_, body, _) = app.graphql("{ tags_page(first: 1) { end_cursor } }", Value::Null).await?;
    let tag_cursor = body["data"]["tags_page"]["end_cursor"].clone();
    let (_, body, _) = app
        .graphql(
            "query($a: String) { devices_page(after: $a) { total_count } }",
            json!({"a": tag_cursor}),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    Ok(())
}
backend_test!(cursor_pages, cursor_pages_with_totals);

async fn the_change_log_pages_forward(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let (_, body, _) =
        app.graphql("{ object_changes(limit: 1) { sequence } }", Value::Null).await?;
    let last = body["data"]["object_changes"][0]["sequence"].as_i64().unwrap_or_default();
    assert!(last > 10, "{body}");
    // Forward by sequence from a point, page by page, no gap and no repeat.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (_, body, _) = app
            .graphql(
                "query($a: String, $s: [BigInt]) { object_changes_page(first: 4, after: $a, sequence__gt: $s) { has_next_page end_cursor items { sequence } } }",
                json!({"a": after, "s": [5]}),
            )
            .await?;
        let page = &body["data"]["object_changes_page"];
        seen.extend(
            page["items"].as_array().into_iter().flatten().filter_map(|i| i["sequence"].as_i64()),
        );
        if page["has_next_page"] != json!(true) {
            break;
        }
        after = page["end_cursor"].clone();
    }
    assert_eq!(seen, (6..=last).collect::<Vec<_>>());
    Ok(())
}
backend_test!(change_log_pages, the_change_log_pages_forward);

async fn decimals_compare_as_numbers(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    for (name, latitude) in [("north", "10.5"), ("south", "9.5"), ("far", "-33.25")] {
        let query = format!(
            "mutation {{ location_create(input: {{name: \"{name}\", location_type: {{name: \"Region\"}}, status: {{name: \"Active\"}}, latitude: \"{latitude}\"}}) {{ id }} }}"
        );
        let (status, body, _) = app.graphql(&query, Value::Null).await?;
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]["locations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["name"].as_str().map(str::to_owned))
            .collect()
    };
    for (filter, want) in [
        ("latitude__gt: 9.6", vec!["north"]),
        ("latitude__lt: 10", vec!["far", "south"]),
        ("latitude__gte: -33.25", vec!["far", "north", "south"]),
        ("latitude: 10.50", vec!["north"]),
    ] {
        let (status, body, _) = app
            .graphql(&format!("{{ locations({filter}) {{ name latitude }} }}"), Value::Null)
            .await?;
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(names(&body), want, "{filter}: {body}");
    }
    // Stored with the field's decimal places, as Nautobot's database hands them back.
    let (_, body, _) =
        app.graphql("{ locations(name: [\"far\", \"north\"]) { latitude } }", Value::Null).await?;
    assert_eq!(
        body["data"]["locations"],
        json!([{"latitude": "-33.250000"}, {"latitude": "10.500000"}])
    );
    Ok(())
}
backend_test!(decimals, decimals_compare_as_numbers);

/// MAC addresses as Nautobot keeps them: any accepted form stored as `AA:BB:CC:DD:EE:FF`, a
/// malformed one refused, an unset one answered as null.
async fn mac_addresses_as_nautobot_keeps_them(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let set = |name: &str, mac: &str| {
        format!("mutation {{ interface_update(ref: {{device: {{name: \"dev-00001\"}}, name: \"{name}\"}}, input: {{mac_address: \"{mac}\"}}) {{ mac_address }} }}")
    };
    let (_, body, _) =
        app.graphql("{ interfaces(limit: 2) { name mac_address } }", Value::Null).await?;
    let names: Vec<String> = body["data"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(body["data"]["interfaces"][0]["mac_address"], Value::Null, "unset is null: {body}");
    let (_, body, _) = app.graphql(&set(&names[0], "aabb.ccdd.eeff"), Value::Null).await?;
    assert_eq!(body["data"]["interface_update"]["mac_address"], "AA:BB:CC:DD:EE:FF", "{body}");
    let (_, body, _) = app.graphql(&set(&names[1], "aa:bb:cc:dd:ee"), Value::Null).await?;
    assert_eq!(
        error_of(&body)["message"],
        "{'mac_address': ['Invalid MAC address format: aa:bb:cc:dd:ee']}",
        "{body}"
    );
    // Filters compare in the stored form, on interfaces and on their devices.
    for query in [
        "{ interfaces(mac_address: \"aa-bb-cc-dd-ee-ff\") { mac_address } }",
        "{ devices(mac_address: \"aabbccddeeff\") { name } }",
        "{ devices(mac_address__ic: \"cc:dd\") { name } }",
    ] {
        let (_, body, _) = app.graphql(query, Value::Null).await?;
        let found = body["data"].as_object().and_then(|d| d.values().next()).cloned();
        assert_eq!(found.and_then(|l| l.as_array().map(Vec::len)), Some(1), "{query}: {body}");
    }
    let (_, body, _) = app
        .graphql("{ devices(mac_address__n: \"AA:BB:CC:DD:EE:FF\") { name } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["devices"], json!([]), "{body}");
    let (_, body, _) = app.graphql(&set(&names[0], ""), Value::Null).await?;
    assert_eq!(body["data"]["interface_update"]["mac_address"], Value::Null, "{body}");
    Ok(())
}
backend_test!(mac_addresses, mac_addresses_as_nautobot_keeps_them);
