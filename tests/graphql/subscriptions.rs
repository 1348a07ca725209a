//! The live change feed: subscriptions over WebSocket, in both subprotocols, resumed by
//! sequence, across replicas, for slow readers and under permissions.

use super::*;
use ferrobot_test_support::Socket;

const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

const TAGS: &str = "subscription($after: BigInt) { object_changes(after_sequence: $after, changed_object_type: \"extras.tag\") { sequence action object_repr changed_object_type { app_label model } } }";

/// A socket of the app's superuser, initialised.
async fn admin(app: &TestApp, base: &str, protocol: &'static str) -> anyhow::Result<Socket> {
    Socket::connect(base, protocol, json!({ "Authorization": format!("Token {}", app.token) }))
        .await
}

/// The change log's last sequence, as a client reads it.
async fn last_sequence(app: &TestApp) -> anyhow::Result<i64> {
    let (data, _) = app
        .data_as(&format!("Token {}", app.token), "{ object_changes(limit: 1) { sequence } }")
        .await?;
    Ok(data["object_changes"][0]["sequence"].as_i64().unwrap_or(0))
}

async fn create_tags(base: &str, app: &TestApp, names: &[String]) -> anyhow::Result<()> {
    let inputs: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
    let body = app
        .client()
        .post(format!("{base}/api/graphql/"))
        .header("Authorization", format!("Token {}", app.token))
        .json(&json!({
            "query": "mutation($inputs: [TagInput!]!) { tag_create_bulk(inputs: $inputs) { id } }",
            "variables": { "inputs": inputs },
        }))
        .send()
        .await?
        .json::<Value>()
        .await?;
    anyhow::ensure!(body.get("errors").is_none(), "{body}");
    Ok(())
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:04}")).collect()
}

/// Both subprotocols: a subscription replays from `after_sequence`, then follows writes live,
/// in sequence order, each event the change-log row as selected; queries and mutations run
/// over the socket too; a subscription stops on `complete`/`stop`.
async fn subscriptions_follow_the_log(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    for protocol in PROTOCOLS {
        let start = last_sequence(&app).await?;
        create_tags(&app.base, &app, &names(&format!("{protocol}-before"), 0..3)).await?;
        let mut socket = admin(&app, &app.base, protocol).await?;
        socket.subscribe("s1", TAGS, json!({ "after": start })).await?;
        // The replay: the three changes made before the subscription.
        let replayed = socket.events("s1", 3).await?;
        for (i, event) in replayed.iter().enumerate() {
            let change = &event["data"]["object_changes"];
            assert_eq!(change["sequence"], json!(start + 1 + i as i64), "{event}");
            assert_eq!(change["action"], "CREATE");
            assert_eq!(change["object_repr"], format!("{protocol}-before-{i:04}"));
            assert_eq!(
                change["changed_object_type"],
                json!({"app_label": "extras", "model": "tag"})
            );
        }
        // Live.
        create_tags(&app.base, &app, &names(&format!("{protocol}-live"), 0..2)).await?;
        let live = socket.events("s1", 2).await?;
        assert_eq!(live[0]["data"]["object_changes"]["sequence"], json!(start + 4));
        assert_eq!(
            live[1]["data"]["object_changes"]["object_repr"],
            format!("{protocol}-live-0001")
        );
        // A query over the same socket: one answer, then complete.
        socket.subscribe("q1", "{ tags(name: \"nothing\") { name } }", Value::Null).await?;
        let answer = socket.recv().await?;
        assert_eq!(answer["id"], "q1");
        assert_eq!(answer["payload"]["data"], json!({"tags": []}), "{answer}");
        assert_eq!(socket.recv().await?, json!({"id": "q1", "type": "complete"}));
        // Stopped: nothing more arrives for it; a new subscription from now sees only new work.
        socket.stop("s1").await?;
        socket.subscribe("s2", TAGS, Value::Null).await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        create_tags(&app.base, &app, &names(&format!("{protocol}-after"), 0..1)).await?;
        let after = socket.events("s2", 1).await?;
        assert_eq!(
            after[0]["data"]["object_changes"]["object_repr"],
            format!("{protocol}-after-0000")
        );
    }
    Ok(())
}
backend_test!(subscriptions_follow, subscriptions_follow_the_log);

/// A consumer that resumes from its last sequence while writers write gets every change after
/// it exactly once, in order: the replay and the live feed meet with no gap and no duplicate.
/// Subscriptions of the same document share their batches (one cohort).
async fn resume_without_loss(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let start = last_sequence(&app).await?;
    create_tags(&app.base, &app, &names("early", 0..150)).await?;
    let writer = {
        let base = app.base.clone();
        let client = app.client().clone();
        let token = app.token.clone();
        tokio::spawn(async move {
            for round in 0..20 {
                let inputs: Vec<Value> =
                    (0..5).map(|i| json!({ "name": format!("late-{round:02}-{i}") })).collect();
                client
                    .post(format!("{base}/api/graphql/"))
                    .header("Authorization", format!("Token {token}"))
                    .json(&json!({
                        "query": "mutation($inputs: [TagInput!]!) { tag_create_bulk(inputs: $inputs) { id } }",
                        "variables": { "inputs": inputs },
                    }))
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let mut sockets = Vec::new();
    for protocol in PROTOCOLS {
        let mut socket = admin(&app, &app.base, protocol).await?;
        socket.subscribe("feed", TAGS, json!({ "after": start })).await?;
        sockets.push(socket);
    }
    writer.await??;
    for socket in &mut sockets {
        let events = socket.events("feed", 250).await?;
        let sequences: Vec<i64> = events
            .iter()
            .map(|e| e["data"]["object_changes"]["sequence"].as_i64().unwrap_or(0))
            .collect();
        let wanted: Vec<i64> = (start + 1..=start + 250).collect();
        assert_eq!(sequences, wanted);
    }
    let feed = app.state.feed.clone().ok_or_else(|| anyhow::anyhow!("no feed"))?;
    let (subscribers, cohorts) = feed.counts().await;
    assert_eq!((subscribers, cohorts), (2, 1), "the same document shares one cohort");
    Ok(())
}
backend_test!(resume, resume_without_loss);

/// Another replica's commits reach a subscriber: NOTIFY on PostgreSQL, the log's head read
/// every `feed_poll` elsewhere.
async fn replicas_deliver_every_commit(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let other = app.start_replica().await?;
    let start = last_sequence(&app).await?;
    let mut socket = admin(&app, &other.base, "graphql-transport-ws").await?;
    socket.subscribe("r", TAGS, json!({ "after": start })).await?;
    for (i, base) in [&app.base, &other.base, &app.base].into_iter().enumerate() {
        create_tags(base, &app, &[format!("replica-{i}")]).await?;
        let event = socket.events("r", 1).await?;
        assert_eq!(event[0]["data"]["object_changes"]["object_repr"], format!("replica-{i}"));
        assert_eq!(event[0]["data"]["object_changes"]["sequence"], json!(start + 1 + i as i64));
    }
    Ok(())
}
backend_test!(replicas_deliver, replicas_deliver_every_commit);

/// A subscriber ahead of the log (a position another replica reached first) waits for the feed
/// to get there, and gets only what comes after its position.
async fn subscribers_ahead_wait(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let start = last_sequence(&app).await?;
    let mut socket = admin(&app, &app.base, "graphql-transport-ws").await?;
    socket.subscribe("a", TAGS, json!({ "after": start + 3 })).await?;
    create_tags(&app.base, &app, &names("ahead", 0..5)).await?;
    let events = socket.events("a", 2).await?;
    let sequences: Vec<&Value> =
        events.iter().map(|e| &e["data"]["object_changes"]["sequence"]).collect();
    assert_eq!(sequences, [&json!(start + 4), &json!(start + 5)]);
    Ok(())
}
backend_test!(ahead_of_the_feed, subscribers_ahead_wait);

/// A subscriber that does not read while thousands of large events are written falls out of
/// its cohort and reads the log itself: it gets every event, in order, and the server holds no
/// more than its buffers meanwhile.
async fn slow_consumers_catch_up(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let start = last_sequence(&app).await?;
    let mut socket = admin(&app, &app.base, "graphql-transport-ws").await?;
    let query = "subscription { object_changes(changed_object_type: \"extras.tag\") { sequence a: object_data b: object_data c: object_data d: object_data e: object_data f: object_data g: object_data h: object_data } }";
    socket.subscribe("slow", query, Value::Null).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let description = "x".repeat(250);
    for round in 0..80 {
        let inputs: Vec<Value> = (0..50)
            .map(|i| json!({ "name": format!("slow-{round:02}-{i:02}"), "description": description }))
            .collect();
        let (status, body, _) = app
            .graphql(
                "mutation($inputs: [TagInput!]!) { tag_create_bulk(inputs: $inputs) { id } }",
                json!({ "inputs": inputs }),
            )
            .await?;
        assert!(status == 200 && body.get("errors").is_none(), "{body}");
    }
    let events = socket.events("slow", 4_000).await?;
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["data"]["object_changes"]["sequence"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(sequences, (start + 1..=start + 4_000).collect::<Vec<_>>());
    let feed = app.state.feed.clone().ok_or_else(|| anyhow::anyhow!("no feed"))?;
    assert!(feed.lagged() >= 1, "the reader never fell behind: the test proves nothing");
    Ok(())
}
backend_test!(slow_consumers, slow_consumers_catch_up);

/// Events honour the subscriber's view permissions: a change is seen only with its object.
/// Refusals: bad credentials, no `connection_init`, a refused filter, an invalid document.
async fn permissions_and_refusals(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let alice = app.user("alice", false).await?;
    app.import(json!({"users.objectpermission": [
        {"name": "public tags", "actions": ["view"], "object_types": ["extras.tag"],
         "constraints": {"name__startswith": "pub"}, "users": [{"username": "alice"}]},
        {"name": "the log", "actions": ["view"], "object_types": ["extras.objectchange"],
         "users": [{"username": "alice"}]},
    ]}))
    .await?;
    let start = last_sequence(&app).await?;
    let mut socket =
        Socket::connect(&app.base, "graphql-ws", json!({ "authorization": alice })).await?;
    socket.subscribe("a", TAGS, json!({ "after": start })).await?;
    create_tags(&app.base, &app, &["pub-1".into(), "secret-1".into(), "pub-2".into()]).await?;
    let events = socket.events("a", 2).await?;
    let seen: Vec<&Value> =
        events.iter().map(|e| &e["data"]["object_changes"]["object_repr"]).collect();
    assert_eq!(seen, [&json!("pub-1"), &json!("pub-2")]);
    // A permission granted while subscribed: the connection reads the user's permissions again
    // once the change is handed out, and later events are rendered with them.
    app.import(json!({"users.objectpermission": [
        {"name": "every tag", "actions": ["view"], "object_types": ["extras.tag"],
         "users": [{"username": "alice"}]},
    ]}))
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    create_tags(&app.base, &app, &["secret-2".into()]).await?;
    let events = socket.events("a", 1).await?;
    assert_eq!(events[0]["data"]["object_changes"]["object_repr"], "secret-2");

    // A refused filter: an error for the operation, the connection stays.
    socket
        .subscribe(
            "bad",
            "subscription { object_changes(changed_object_id: \"nope\") { sequence } }",
            Value::Null,
        )
        .await?;
    let error = socket.recv().await?;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("bad")),
        "{error}"
    );
    assert_eq!(error["payload"][0]["extensions"]["code"], "VALIDATION_FAILED", "{error}");
    // The older protocol completes an operation after its error.
    assert_eq!(socket.recv().await?, json!({"type": "complete", "id": "bad"}));
    // An invalid document.
    socket.subscribe("doc", "subscription { object_changes { nope } }", Value::Null).await?;
    let error = socket.recv().await?;
    assert_eq!(error["type"], "error", "{error}");
    assert!(error["payload"][0]["message"].as_str().unwrap_or("").contains("nope"), "{error}");

    // Bad credentials: closed with 4403.
    let mut refused = Socket::open(&app.base, "graphql-transport-ws").await?;
    refused.send(json!({"type": "connection_init", "payload": {"Authorization": "Token 0000000000000000000000000000000000000000"}})).await?;
    let (code, reason) = refused.closed().await?;
    assert_eq!((code, reason.as_str()), (4403, "Invalid token."));
    // A subscription before `connection_init`: 4401.
    let mut early = Socket::open(&app.base, "graphql-transport-ws").await?;
    early.subscribe("x", TAGS, Value::Null).await?;
    assert_eq!(early.closed().await?.0, 4401);
    // The same id twice: 4409.
    let mut twice = admin(&app, &app.base, "graphql-transport-ws").await?;
    twice.subscribe("same", TAGS, Value::Null).await?;
    twice.subscribe("same", TAGS, Value::Null).await?;
    assert_eq!(twice.closed().await?.0, 4409);
    Ok(())
}
backend_test!(subscription_permissions, permissions_and_refusals);

/// A change's object as its own GraphQL type (`changed_object`), read as the change is
/// rendered, one level per model the changes name (none for the others); a deleted object is
/// null and `object_data` holds it as it was. Over HTTP the statements do not grow with rows.
async fn changed_objects_as_their_types(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let start = last_sequence(&app).await?;
    let mut socket = admin(&app, &app.base, "graphql-transport-ws").await?;
    let query = "subscription($after: BigInt) { object_changes(after_sequence: $after) { action object_data changed_object { __typename ... on TagType { name } ... on DeviceType { name location { name } } } } }";
    socket.subscribe("o", query, json!({ "after": start })).await?;
    create_tags(&app.base, &app, &["object-1".into()]).await?;
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"dev-00001\"}, input: {name: \"renamed\"}) { id } }", Value::Null)
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    // A change's object is rendered as it is when its event is: the tag is deleted only once
    // its creation has arrived (else it may be rendered gone).
    let mut events = socket.events("o", 2).await?;
    let (_, body, _) = app
        .graphql("mutation { tag_delete(ref: {name: \"object-1\"}) { id } }", Value::Null)
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    events.extend(socket.events("o", 1).await?);
    let change = |i: usize| events[i]["data"]["object_changes"].clone();
    assert_eq!(change(0)["changed_object"], json!({"__typename": "TagType", "name": "object-1"}));
    assert_eq!(
        change(1)["changed_object"],
        json!({"__typename": "DeviceType", "name": "renamed", "location": {"name": "site-001"}})
    );
    assert_eq!(change(2)["action"], "DELETE");
    assert_eq!(change(2)["changed_object"], Value::Null);
    assert_eq!(change(2)["object_data"]["name"], "object-1");

    // One window of the log (a longer list is read a window at a time, a statement a level and
    // window, as any list).
    let mut counts = Vec::new();
    for n in [20, 900] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let (status, body, statements) = app
            .graphql("{ object_changes(changed_object_type: \"dcim.device\") { changed_object { ... on DeviceType { name location { name } } } } }", Value::Null)
            .await?;
        assert_eq!(status, 200, "{body}");
        let changes = body["data"]["object_changes"].as_array().cloned().unwrap_or_default();
        assert_eq!(changes.len(), n, "{body}");
        assert!(changes.iter().all(|c| c["changed_object"]["location"]["name"].is_string()));
        counts.push(statements.unwrap_or(u64::MAX));
    }
    // The log, the devices, their locations.
    assert_eq!(counts, [3, 3]);
    Ok(())
}
backend_test!(changed_objects, changed_objects_as_their_types);

/// Hostile subscriptions get clear errors and leave the connection (and server) usable: too
/// many filter values or aliases, a bad `after_sequence`, more operations than a connection may
/// run; a message that is not JSON closes the connection (4400).
async fn hostile_subscriptions(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let mut socket = admin(&app, &app.base, "graphql-transport-ws").await?;
    let ids: Vec<String> = (0..20_001).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let query =
        "subscription($ids: [String]) { object_changes(changed_object_id: $ids) { sequence } }";
    socket.subscribe("many", query, json!({ "ids": ids })).await?;
    let error = socket.recv().await?;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("many")),
        "{error}"
    );
    let aliases: String = (0..300).map(|i| format!("a{i}: sequence ")).collect();
    let query = format!("subscription {{ object_changes {{ {aliases} }} }}");
    socket.subscribe("aliases", &query, Value::Null).await?;
    let error = socket.recv().await?;
    assert_eq!(error["payload"][0]["extensions"]["code"], "TOO_MANY_ALIASES", "{error}");
    socket
        .subscribe(
            "minus",
            "subscription { object_changes(after_sequence: -1) { sequence } }",
            Value::Null,
        )
        .await?;
    let error = socket.recv().await?;
    assert_eq!(error["payload"][0]["extensions"]["code"], "VALIDATION_FAILED", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["argument"], "after_sequence", "{error}");
    // At most 100 operations at once on one connection.
    for i in 0..100 {
        socket.subscribe(&format!("s{i}"), TAGS, Value::Null).await?;
    }
    socket.subscribe("one-too-many", TAGS, Value::Null).await?;
    let error = socket.recv().await?;
    assert_eq!(error["id"], "one-too-many", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS", "{error}");
    // The live subscriptions show in the metrics.
    let metrics = app.client().get(format!("{}/metrics", app.base)).send().await?.text().await?;
    assert!(metrics.contains("ferrobot_subscriptions_live"), "{metrics}");
    // Not JSON: the connection closes with 4400.
    socket.send(json!("not an object")).await?;
    assert_eq!(socket.closed().await?.0, 4400);
    // The server goes on.
    let mut again = admin(&app, &app.base, "graphql-transport-ws").await?;
    again.subscribe("q", "{ tags { name } }", Value::Null).await?;
    assert_eq!(again.recv().await?["type"], "next");
    Ok(())
}
backend_test!(hostile_feed, hostile_subscriptions);

/// An answer over a socket is one message, held whole: past the request size limit it is
/// refused with `ANSWER_TOO_LARGE` (HTTP streams it), and the connection goes on.
async fn large_answers_over_a_socket(backend: Backend) -> anyhow::Result<()> {
    let options = ferrobot_persistence::StoreOptions::default();
    let app = TestApp::start_configured(backend, options, |c| c.body_limit = 4_096).await?;
    app.import(seed(60)).await?;
    let mut socket = admin(&app, &app.base, "graphql-transport-ws").await?;
    // About 13 kB.
    socket.subscribe("big", "{ devices { id name interfaces { id name } } }", Value::Null).await?;
    let error = socket.recv().await?;
    assert_eq!(error["payload"][0]["extensions"]["code"], "ANSWER_TOO_LARGE", "{error}");
    socket.subscribe("small", "{ devices(limit: 1) { name } }", Value::Null).await?;
    let answer = socket.recv().await?;
    assert_eq!(answer["payload"]["data"]["devices"][0]["name"], "dev-00001", "{answer}");
    Ok(())
}
backend_test!(large_answers, large_answers_over_a_socket);
