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
