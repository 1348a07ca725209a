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
    // A body over the limit: HTTP 413 in the GraphQL error shape, naming the limit.
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
    // Draining: not ready any more, still answering what is sent.
    app.state.drain();
    let response = client.get(format!("{}/ready", app.base)).send().await?;
    assert_eq!(response.status().as_u16(), 503);
    let (status, _, _) = app.graphql("{ devices(limit: 1) { name } }", Value::Null).await?;
    assert_eq!(status, 200);
    Ok(())
}
backend_test!(operations, operations_endpoints);
