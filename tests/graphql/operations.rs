//! What operators and browser frontends rely on: health and readiness, body limits, CORS,
//! security headers, compression, login throttling.

use super::*;

async fn operations_endpoints(backend: Backend) -> anyhow::Result<()> {
    let options = ferrobot_persistence::StoreOptions::default();
    let app = TestApp::start_configured(backend, options, |config| {
        config.body_limit = 64 * 1024;
        config.cors_origins = vec!["https://ui.example.com".into()];
        config.login_attempts_per_minute = 3;
    })
    .await?;
    app.import(seed(30)).await?;
    let client = app.client();
    // Liveness and readiness; a stopping server is not ready.
    for path in ["/health", "/ready"] {
        let response = client.get(format!("{}{path}", app.base)).send().await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert_eq!(headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]));
    }
    // A body over the limit: HTTP 413 naming the limit, as `detail` and as a GraphQL error.
    let big =
        json!({ "query": format!("{{ devices(name: \"{}\") {{ name }} }}", "x".repeat(70_000)) });
    let response = client
        .post(format!("{}/api/graphql/", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .json(&big)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await?;
    assert_eq!(error_of(&body)["extensions"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    assert_eq!(error_of(&body)["extensions"]["limit"], 65536, "{body}");
    assert_eq!(body["detail"], "The request body is larger than the limit of 65536 bytes.");
    // CORS: the configured origin may call, with the headers a GraphQL client sends; others not.
    for (origin, allowed) in [("https://ui.example.com", true), ("https://evil.example", false)] {
        let response = client
            .request(reqwest::Method::OPTIONS, format!("{}/api/graphql/", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
            .await?;
        let echoed = response.headers().get("access-control-allow-origin").cloned();
        assert_eq!(echoed.is_some(), allowed, "{origin}: {:?}", response.headers());
        if allowed {
            assert_eq!(echoed.as_ref().map(|v| v.as_bytes()), Some(origin.as_bytes()));
        }
    }
    // Large answers are compressed when the client asks.
    let response = client
        .post(format!("{}/api/graphql/", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .header("Accept-Encoding", "gzip")
        .json(&json!({ "query": "{ devices { name interfaces { name } } }" }))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    // Logins: wrong password and unknown user answer alike; past the limit of failures, 429.
    let login = |username: &str, password: &str| {
        client
            .post(format!("{}/api/auth/token/", app.base))
            .json(&json!({ "username": username, "password": password }))
            .send()
    };
    assert_eq!(login("admin", "secret").await?.status().as_u16(), 200);
    let unknown = login("nobody", "x").await?;
    assert_eq!(unknown.status().as_u16(), 403);
    let unknown: Value = unknown.json().await?;
    let wrong: Value = login("admin", "wrong").await?.json().await?;
    assert_eq!(unknown, wrong);
    login("admin", "wrong").await?;
    login("admin", "wrong").await?;
    let throttled = login("admin", "secret").await?;
    assert_eq!(throttled.status().as_u16(), 429);
    assert!(throttled.headers().get("retry-after").is_some());
    // Request ids: the client's is kept (and stored in the change log), else one is made.
    let request_id = uuid::Uuid::new_v4().to_string();
    let response = client
        .post(format!("{}/api/graphql/", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .header("X-Request-ID", &request_id)
        .json(&json!({ "query": "mutation { tag_create(input: {name: \"traced\"}) { name } }" }))
        .send()
        .await?;
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(request_id.as_bytes())
    );
    let (_, body, _) = app
        .graphql(
            "{ object_changes(changed_object_type: \"extras.tag\") { request_id object_repr } }",
            Value::Null,
        )
        .await?;
    let logged = body["data"]["object_changes"].as_array().cloned().unwrap_or_default();
    assert!(
        logged.iter().any(|c| c["request_id"] == json!(request_id) && c["object_repr"] == "traced"),
        "{body}"
    );
    let response = client.get(format!("{}/health", app.base)).send().await?;
    let made =
        response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(String::from);
    assert!(made.is_some_and(|v| uuid::Uuid::parse_str(&v).is_ok()));
    // Metrics: requests by operation, root field and status; statements, pools, the sequence.
    let text = client.get(format!("{}/metrics", app.base)).send().await?.text().await?;
    for line in [
        "ferrobot_requests_total{operation=\"query\",root_field=\"devices\",status=\"200\"}",
        "ferrobot_requests_total{operation=\"mutation\",root_field=\"tag_create\",status=\"200\"}",
        "ferrobot_requests_total{operation=\"invalid\",root_field=\"\",status=\"413\"} 1",
        "ferrobot_requests_total{operation=\"login\",root_field=\"\",status=\"429\"} 2",
        "ferrobot_request_duration_seconds_bucket{",
        "ferrobot_sql_statements_total ",
        "ferrobot_write_turns_total ",
        "ferrobot_pool_connections{pool=\"reader\",state=\"open\"}",
        "ferrobot_change_log_sequence ",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // Draining: not ready any more, still answering what is sent.
    app.state.drain();
    let response = client.get(format!("{}/ready", app.base)).send().await?;
    assert_eq!(response.status().as_u16(), 503);
    let (status, _, _) = app.graphql("{ devices(limit: 1) { name } }", Value::Null).await?;
    assert_eq!(status, 200);
    Ok(())
}
backend_test!(operations, operations_endpoints);
