//! Webhooks: delivered from the change log to a real loopback receiver, in order, through its
//! failures, signed; attempts recorded and queryable; replays; one delivery across replicas.

use std::time::Duration;

use super::*;
use ferrobot_test_support::Receiver;

/// Fast retries, and loopback allowed (Nautobot's policy refuses it).
fn settings(config: &mut ferrobot_gateway::Config) {
    config.webhooks.backoff = Duration::from_millis(50);
    config.webhooks.max_backoff = Duration::from_millis(200);
    config.webhooks.attempts = 1_000;
    config.webhooks.allowed_networks =
        vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())];
}

async fn start(backend: Backend) -> anyhow::Result<TestApp> {
    TestApp::start_configured(backend, Default::default(), settings).await
}

const CREATE: &str =
    "mutation($input: WebhookInput!) { webhook_create(input: $input) { id name } }";

async fn create_webhook(app: &TestApp, input: Value) -> anyhow::Result<Value> {
    let (status, body, _) = app.graphql(CREATE, json!({ "input": input })).await?;
    anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{body}");
    Ok(body["data"]["webhook_create"].clone())
}

async fn write(app: &TestApp, query: &str) -> anyhow::Result<()> {
    let (status, body, _) = app.graphql(query, Value::Null).await?;
    anyhow::ensure!(status == 200 && body.get("errors").is_none(), "{query}: {body}");
    Ok(())
}

/// Asks `query` until `done` holds of its data, for at most 10 s (attempts are recorded up to
/// half a second after their delivery); returns that data.
async fn until(app: &TestApp, query: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body, _) = app.graphql(query, Value::Null).await?;
        if done(&body["data"]) {
            return Ok(body["data"].clone());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{query}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A receiver that is down gets every event once it is up, in sequence order, each signed and
/// in Nautobot's payload; the failed attempts are recorded and queryable.
async fn webhooks_deliver_in_order_through_failures(backend: Backend) -> anyhow::Result<()> {
    let app = start(backend).await?;
    let receiver = Receiver::start(503).await?;
    create_webhook(
        &app,
        json!({
            "name": "tags",
            "content_types": ["extras.tag"],
            "type_create": true, "type_update": true, "type_delete": true,
            "payload_url": receiver.url,
            "secret": "s3cret",
            "additional_headers": "X-Model: {{ model }}\nX-Event: {{ event }}",
        }),
    )
    .await?;
    // Not this webhook's: no delivery.
    write(&app, "mutation { manufacturer_create(input: {name: \"Acme\"}) { id } }").await?;
    let inputs: Vec<Value> = (0..20).map(|i| json!({ "name": format!("t{i:02}") })).collect();
    let (_, body, _) = app
        .graphql(
            "mutation($i: [TagInput!]!) { tag_create_bulk(inputs: $i) { id } }",
            json!({ "i": inputs }),
        )
        .await?;
    anyhow::ensure!(body.get("errors").is_none(), "{body}");
    write(&app, "mutation { tag_update(ref: {name: \"t03\"}, input: {color: \"ff0000\"}) { id } }")
        .await?;
    write(&app, "mutation { tag_delete(ref: {name: \"t04\"}) { id } }").await?;
    // Down: the first event is tried again and again, nothing after it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tried = receiver.received();
    assert!(tried.len() >= 2, "{} attempts while down", tried.len());
    let first: Vec<String> =
        tried.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    assert!(first.iter().all(|b| b == &first[0]), "only the first event is retried");
    let (_, body, _) = app
        .graphql(
            "{ webhook_attempts(status: \"retrying\") { attempt status response_code error webhook { name } object_change { action object_repr } } }",
            Value::Null,
        )
        .await?;
    let retrying = body["data"]["webhook_attempts"].as_array().cloned().unwrap_or_default();
    assert!(retrying.len() >= 2, "{body}");
    assert_eq!(retrying[0]["response_code"], 503, "{body}");
    assert_eq!(retrying[0]["webhook"]["name"], "tags");
    assert_eq!(retrying[0]["object_change"]["object_repr"], "t00");
    assert!(retrying[0]["error"].as_str().unwrap_or_default().starts_with("Status 503"), "{body}");
    // Up: every event, in order.
    receiver.answer(200);
    receiver.wait_delivered(22, Duration::from_secs(30)).await?;
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 22);
    let names: Vec<&str> =
        delivered.iter().map(|d| d["data"]["name"].as_str().unwrap_or_default()).collect();
    let mut want: Vec<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    want.extend(["t03".to_owned(), "t04".to_owned()]);
    assert_eq!(names, want);
    let events: Vec<&str> =
        delivered.iter().map(|d| d["event"].as_str().unwrap_or_default()).collect();
    assert_eq!(events[0], "created");
    assert_eq!(events[20], "updated");
    assert_eq!(events[21], "deleted");
    let update = &delivered[20];
    assert_eq!(update["model"], "tag");
    assert_eq!(update["username"], "admin");
    assert_eq!(update["snapshots"]["differences"]["added"]["color"], "ff0000", "{update}");
    assert_eq!(update["snapshots"]["differences"]["removed"]["color"], "9e9e9e", "{update}");
    assert_eq!(delivered[21]["snapshots"]["postchange"], Value::Null);
    // Signed with the secret; the rendered headers are there.
    for r in receiver.received().iter().filter(|r| r.status == 200) {
        let signature = r.headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
        assert_eq!(signature, Some(hmac_hex("s3cret", &r.body).as_str()));
        assert_eq!(r.headers.get("x-model").and_then(|v| v.to_str().ok()), Some("tag"));
        let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(ct, Some("application/json"));
    }
    // Recorded: one delivered attempt per event, in sequence order.
    until(&app, "{ webhook_attempts(status: \"delivered\") { sequence } }", |data| {
        data["webhook_attempts"].as_array().map(Vec::len) == Some(22)
    })
    .await?;
    let metrics = app.client().get(format!("{}/metrics", app.base)).send().await?.text().await?;
    assert!(metrics.contains("ferrobot_webhook_deliveries_total 22"), "{metrics}");
    assert!(metrics.contains("ferrobot_webhook_failures_total 0"), "{metrics}");
    Ok(())
}
backend_test!(
    webhooks_deliver_in_order_through_failures,
    webhooks_deliver_in_order_through_failures
);

/// What cannot be mended by waiting fails at once and the stream goes on; a replay delivers it
/// again; bad webhooks are refused when written.
async fn webhook_failures_and_replays(backend: Backend) -> anyhow::Result<()> {
    let app = start(backend).await?;
    let receiver = Receiver::start(200).await?;
    receiver.refuse("bad");
    let hook = create_webhook(
        &app,
        json!({
            "name": "tags", "content_types": ["extras.tag"], "type_create": true,
            "payload_url": receiver.url,
            "body_template": "{\"name\": \"{{ data.name }}\", \"seq\": \"{{ event }}\"}",
        }),
    )
    .await?;
    for name in ["a1", "bad", "a2"] {
        write(&app, &format!("mutation {{ tag_create(input: {{name: \"{name}\"}}) {{ id }} }}"))
            .await?;
    }
    receiver.wait_delivered(2, Duration::from_secs(20)).await?;
    let names: Vec<Value> = receiver.delivered().iter().map(|d| d["name"].clone()).collect();
    assert_eq!(names, [json!("a1"), json!("a2")]);
    // Recorded with the deliveries after it (at most half a second later).
    let data = until(
        &app,
        "{ webhook_attempts(status: \"failed\") { sequence response_code error replayed } }",
        |data| data["webhook_attempts"].as_array().is_some_and(|a| !a.is_empty()),
    )
    .await?;
    let failed = data["webhook_attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["response_code"], 400);
    let sequence = failed[0]["sequence"].as_i64().unwrap_or_default();
    // Replayed once the receiver takes it.
    receiver.refuse("never");
    let (_, body, _) = app
        .graphql(
            "mutation($h: ID!, $a: BigInt!, $u: BigInt!) { webhook_replay_create(input: {webhook: {id: $h}, after_sequence: $a, upto_sequence: $u}) { id after_sequence upto_sequence } }",
            json!({ "h": hook["id"], "a": sequence - 1, "u": sequence }),
        )
        .await?;
    anyhow::ensure!(body.get("errors").is_none(), "{body}");
    receiver.wait_delivered(3, Duration::from_secs(20)).await?;
    assert_eq!(receiver.delivered()[2]["name"], "bad");
    let query = format!(
        "{{ webhook_attempts(status: \"delivered\", sequence: [{sequence}]) {{ replayed }} }}"
    );
    until(&app, &query, |data| data["webhook_attempts"][0]["replayed"] == true).await?;
    // A replay names its range once.
    let (_, body, _) = app
        .graphql(
            "mutation($h: ID!) { webhook_replay_create(input: {webhook: {id: $h}, after_sequence: 9, upto_sequence: 3}) { id } }",
            json!({ "h": hook["id"] }),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    // Refused when written, with Nautobot's words.
    let cases = [
        (
            json!({"type_create": false}),
            "You must select at least one type: create, update, and/or delete.",
        ),
        (
            json!({"payload_url": "ftp://x.example/"}),
            "Webhook URL scheme 'ftp' is not permitted; allowed schemes are: http, https.",
        ),
        (
            json!({"ssl_verification": false, "ca_file_path": "/ca.pem"}),
            "Do not specify a CA certificate file if SSL verification is disabled.",
        ),
        (json!({"body_template": "{% for %}"}), "syntax error"),
        (json!({"http_method": "BREW"}), "BREW"),
    ];
    for (i, (patch, words)) in cases.into_iter().enumerate() {
        let mut input = json!({
            "name": format!("bad-{i}"), "content_types": ["extras.tag"], "type_create": true,
            "payload_url": "https://h.example/",
        });
        for (k, v) in patch.as_object().into_iter().flatten() {
            input[k] = v.clone();
        }
        let (_, body, _) = app.graphql(CREATE, json!({ "input": input })).await?;
        assert!(body.to_string().contains(words), "{words}: {body}");
        assert!(body["errors"].is_array(), "{body}");
    }
    // Loopback addresses are refused unless allowed: the attempt says why, and fails at once.
    create_webhook(
        &app,
        json!({ "name": "local", "content_types": ["dcim.manufacturer"], "type_create": true,
                "payload_url": "http://127.0.0.2:9/x" }),
    )
    .await?;
    write(&app, "mutation { manufacturer_create(input: {name: \"M\"}) { id } }").await?;
    let data = until(
        &app,
        "{ webhook_attempts(status: \"failed\") { error webhook { name } } }",
        |data| data.to_string().contains("is not permitted"),
    )
    .await?;
    assert!(data.to_string().contains("'127.0.0.2'"), "{data}");
    // Deleting a webhook takes its attempts and replays along, without logging them.
    write(&app, "mutation { webhook_delete(ref: {name: \"tags\"}) { id } }").await?;
    let (_, body, _) = app
        .graphql(
            "{ webhook_attempts(webhook: \"tags\") { id } webhook_replays { id } object_changes(changed_object_type: \"extras.webhookattempt\") { id } }",
            Value::Null,
        )
        .await?;
    assert_eq!(body["data"]["webhook_replays"], json!([]), "{body}");
    assert_eq!(body["data"]["object_changes"], json!([]), "{body}");
    // Old attempts are pruned (the dispatcher does it hourly, past `--webhook-keep-days`).
    let before = chrono::Utc::now() + chrono::Duration::seconds(1);
    let (_, body, _) = app.graphql("{ webhook_attempts { id } }", Value::Null).await?;
    let left = body["data"]["webhook_attempts"].as_array().map(Vec::len).unwrap_or(0);
    assert!(left >= 1, "{body}");
    assert_eq!(app.store.prune_webhook_attempts(before, 1_000_000).await?, left);
    let (_, body, _) = app.graphql("{ webhook_attempts { id } }", Value::Null).await?;
    assert_eq!(body["data"]["webhook_attempts"], json!([]), "{body}");
    Ok(())
}
backend_test!(webhook_failures_and_replays, webhook_failures_and_replays);

/// Two servers on one database: each event is delivered once, in order, whichever server wrote
/// it and whichever claims the stream.
async fn webhooks_deliver_once_across_replicas(backend: Backend) -> anyhow::Result<()> {
    let app = start(backend).await?;
    let replica = app.start_replica().await?;
    let receiver = Receiver::start(200).await?;
    create_webhook(
        &app,
        json!({ "name": "tags", "content_types": ["extras.tag"], "type_create": true,
                "payload_url": receiver.url }),
    )
    .await?;
    for i in 0..30 {
        let base = if i % 2 == 0 { &app.base } else { &replica.base };
        let body = app
            .client()
            .post(format!("{base}/api/graphql/"))
            .header("Authorization", format!("Token {}", app.token))
            .json(&json!({ "query": format!("mutation {{ tag_create(input: {{name: \"r{i:02}\"}}) {{ id }} }}") }))
            .send()
            .await?
            .json::<Value>()
            .await?;
        anyhow::ensure!(body.get("errors").is_none(), "{body}");
    }
    receiver.wait_delivered(30, Duration::from_secs(30)).await?;
    // Nothing more arrives: no event twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let names: Vec<String> = receiver
        .delivered()
        .iter()
        .map(|d| d["data"]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let want: Vec<String> = (0..30).map(|i| format!("r{i:02}")).collect();
    assert_eq!(names, want);
    Ok(())
}
backend_test!(webhooks_deliver_once_across_replicas, webhooks_deliver_once_across_replicas);
