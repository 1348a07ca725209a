//! GraphQL over HTTP: reads, filters, errors, authentication, import and the live schema.

use ferrobot_test_support::{seed, Backend, TestApp};
use serde_json::{json, Value};

/// Emits one test per backend from one async body taking the backend.
macro_rules! backend_test {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                $body(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                $body(Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() -> anyhow::Result<()> {
                $body(Backend::MySql).await
            }
        }
    };
}

const NESTED: &str = "{ devices { name location { name parent { name } } status { name } role { name } tags { name } interfaces { name ip_addresses { address } } } }";

async fn nested_query_statement_count_does_not_grow(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    // 20 devices: every level hands its keys to the next as a list. 1,100 devices: the levels
    // below devices and interfaces pass their own statement (IN and EXISTS subqueries).
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let (status, body, statements) = app.graphql(NESTED, Value::Null).await?;
        assert_eq!(status, 200, "{body}");
        let devices = body["data"]["devices"].as_array().cloned().unwrap_or_default();
        assert_eq!(devices.len(), n);
        assert_eq!(devices[0]["location"]["parent"]["name"], "region-1");
        assert_eq!(devices[0]["interfaces"][0]["ip_addresses"][0]["address"], "10.1.0.1/16");
        assert_eq!(devices[0]["interfaces"].as_array().map(Vec::len), Some(3));
        let last = &devices[n - 1];
        let i = n - 1;
        assert_eq!(last["name"], format!("dev-{:05}", n));
        assert_eq!(last["tags"], json!([{"name": format!("tag-{}", i % 2 + 1)}]));
        assert_eq!(last["interfaces"][0]["name"], "eth0");
        assert_eq!(
            last["interfaces"][0]["ip_addresses"],
            json!([{"address": format!("10.1.{}.{}/16", i / 250, i % 250 + 1)}])
        );
        assert_eq!(last["interfaces"][1]["ip_addresses"], json!([]));
        counts.push(statements.unwrap_or(u64::MAX));
    }
    assert_eq!(counts[0], counts[1], "statements grew with the row count: {counts:?}");
    // One per level: devices, location, parent, status, role, tags, interfaces, ip_addresses.
    assert!(counts[0] <= 8, "{counts:?}");
    Ok(())
}
backend_test!(nested_statements, nested_query_statement_count_does_not_grow);

/// POSTs a query; returns status, the statements header and the body as sent.
async fn raw_graphql(app: &TestApp, query: &str) -> anyhow::Result<(u16, Option<u64>, String)> {
    let response = app
        .client()
        .post(format!("{}/api/graphql/", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .json(&json!({ "query": query }))
        .send()
        .await?;
    let status = response.status().as_u16();
    let statements = response
        .headers()
        .get("x-ferrobot-sql-statements")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok((status, statements, response.text().await?))
}

/// A list longer than the read window is read and written a window of devices at a time, and
/// answers byte for byte what it answers read whole: order, nulls, nested errors, cost.
async fn windowed_answers_are_the_same(backend: Backend) -> anyhow::Result<()> {
    let mut data = seed(30);
    // Six interfaces a device: more rows than the small levels read once hold (four a device),
    // so the interfaces are read once a window.
    let mut more = Vec::new();
    for i in 0..30 {
        for j in 3..6 {
            more.push(json!({"device": format!("dev-{:05}", i + 1), "name": format!("eth{j}"),
                             "type": "1000base-t", "status": "Active"}));
        }
    }
    if let Some(interfaces) = data["dcim.interface"].as_array_mut() {
        interfaces.extend(more);
    }
    let whole = TestApp::start(backend).await?;
    whole.import(data.clone()).await?;
    let windowed = TestApp::start_configured(backend, Default::default(), |config| {
        config.read_window = 7;
    })
    .await?;
    windowed.import(data).await?;
    let queries = [
        NESTED,
        "{ devices(limit: 20, offset: 3) { name interfaces(limit: 2, offset: 1) { name } } }",
        "{ a: devices(location: \"site-001\") { name interfaces { name tags { name } } } b: devices { name primary_ip4 { address } } }",
        // A nested filter refused: the list is null under every parent, with an error each.
        "{ devices { name interfaces(status: \"gone\") { name } } }",
        "{ devices(name: [\"dev-00001\", \"dev-00030\"]) { name interfaces { name } } }",
    ];
    for query in queries {
        let (status, statements, body) = raw_graphql(&whole, query).await?;
        let (windowed_status, windowed_statements, windowed_body) =
            raw_graphql(&windowed, query).await?;
        assert_eq!((status, body.len()), (windowed_status, windowed_body.len()), "{query}");
        assert!(body == windowed_body, "{query}: {body}\n{windowed_body}");
        if query.contains("gone") {
            assert!(body.contains("VALIDATION_FAILED"), "{body}");
        }
        // The interfaces are read a window at a time: the header counts the statements run
        // before the answer began, the root's and the first window's.
        if query == NESTED {
            assert_eq!((statements, windowed_statements), (Some(8), Some(8)));
        }
    }
    Ok(())
}
backend_test!(windowed_answers, windowed_answers_are_the_same);

async fn reads_follow_nautobot(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(12)).await?;
    // Natural ordering and pagination.
    let (_, body, _) =
        app.graphql("{ devices(limit: 3, offset: 9) { name } }", Value::Null).await?;
    assert_eq!(
        body["data"]["devices"],
        json!([{"name": "dev-00010"}, {"name": "dev-00011"}, {"name": "dev-00012"}])
    );
    // Lookups, related by name, tree descendants, custom fields, variables in lists.
    let cases = [
        ("{ devices(name__ic: \"0001\") { name } }", 4),
        ("{ devices(location: \"region-1\") { name } }", 12),
        ("{ devices(tag: \"tag-2\") { name } }", 0),
        ("{ devices(tags: [\"tag-2\"]) { name } }", 6),
        ("{ devices(cf_owner_team: \"team-1\") { name } }", 4),
        ("{ devices(name__n: [\"dev-00001\", \"dev-00002\"]) { name } }", 10),
        ("{ devices(name__isw: \"DEV-0000\") { name } }", 9),
        ("{ devices(q: \"dev-00012\") { name } }", 1),
        ("{ devices(name__re: \"^dev-0001[01]$\") { name } }", 2),
        ("{ devices(name__ire: \"^DEV-0001[01]$\") { name } }", 2),
        ("{ devices(name__nre: \"^dev-0000\") { name } }", 3),
        ("{ devices(has_interfaces: true) { name } }", 12),
    ];
    for (query, want) in cases {
        let (status, body, _) = app.graphql(query, Value::Null).await?;
        if query.contains("tag:") {
            // `tag` is not a Nautobot device filter: the document is invalid.
            assert_eq!(status, 400, "{body}");
            continue;
        }
        assert_eq!(status, 200, "{query}: {body}");
        let got = body["data"]["devices"].as_array().map(Vec::len).unwrap_or(usize::MAX);
        assert_eq!(got, want, "{query}: {body}");
    }
    let (_, body, _) = app
        .graphql("query($n: String) { devices(name: [$n]) { name cf_owner_team _custom_field_data interfaces(name: \"eth1\") { name type } } }", json!({"n": "dev-00003"}))
        .await?;
    assert_eq!(
        body["data"]["devices"],
        json!([{"name": "dev-00003", "cf_owner_team": "team-3", "_custom_field_data": {"owner_team": "team-3"}, "interfaces": [{"name": "eth1", "type": "A_1000BASE_T"}]}])
    );
    // Prefixes and addresses are named by their text in related filters.
    let (_, body, _) = app
        .graphql("{ ip_addresses(parent: \"10.1.0.0/16\", limit: 3) { address } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["ip_addresses"].as_array().map(Vec::len), Some(3), "{body}");
    let (_, body, _) = app
        .graphql(
            "{ interfaces(ip_addresses: \"10.1.0.2/16\") { name device { name } } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["interfaces"],
        json!([{"name": "eth0", "device": {"name": "dev-00002"}}]),
        "{body}"
    );
    // Single object by id, and reverse relations.
    let (_, body, _) = app.graphql("{ devices(name: \"dev-00001\") { id } }", Value::Null).await?;
    let id = body["data"]["devices"][0]["id"].as_str().unwrap_or_default().to_owned();
    let (_, body, _) = app.graphql(&format!("{{ device(id: \"{id}\") {{ name primary_ip4 {{ address parent {{ prefix }} }} }} }}"), Value::Null).await?;
    assert_eq!(
        body["data"]["device"],
        json!({"name": "dev-00001", "primary_ip4": {"address": "10.1.0.1/16", "parent": {"prefix": "10.1.0.0/16"}}})
    );
    let (_, body, _) = app
        .graphql(
            "{ locations(name: \"site-001\") { name devices(limit: 2) { name } } }",
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["locations"][0]["devices"],
        json!([{"name": "dev-00001"}, {"name": "dev-00002"}])
    );
    Ok(())
}
backend_test!(reads, reads_follow_nautobot);

async fn errors_are_nautobots(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    // Unknown field: HTTP 400, errors, no data.
    let (status, body, _) = app.graphql("{ devices { site } }", Value::Null).await?;
    assert_eq!(status, 400);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["message"], "Cannot query field 'site' on type 'DeviceType'.");
    // Syntax error.
    let (status, _, _) = app.graphql("{ devices { name ", Value::Null).await?;
    assert_eq!(status, 400);
    // A value naming nothing: HTTP 200, the field null, the argument named.
    let (status, body, _) =
        app.graphql("{ devices(role: \"nope\") { name } }", Value::Null).await?;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["devices"], Value::Null);
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED");
    assert_eq!(body["errors"][0]["extensions"]["argument"], "role");
    assert_eq!(body["errors"][0]["path"], json!(["devices"]));
    for bad in [
        "{ devices(id: \"not-a-uuid\") { name } }",
        "{ devices(face: \"sideways\") { name } }",
        "{ prefixes(parent: \"10.0.0.0/99\") { prefix } }",
        "{ devices(limit: -1) { name } }",
        "{ devices(name__re: \"(\") { name } }",
    ] {
        let (status, body, _) = app.graphql(bad, Value::Null).await?;
        assert_eq!(status, 200, "{bad}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{bad}: {body}");
    }
    // Introspection is answered by async-graphql; GraphiQL is served on GET.
    let (status, body, _) = app.graphql("{ __schema { queryType { name } } }", Value::Null).await?;
    assert_eq!(
        (status, &body["data"]["__schema"]["queryType"]["name"]),
        (200, &json!("Query")),
        "{body}"
    );
    let (status, body, _) =
        app.graphql("{ __type(name: \"DeviceType\") { fields { name } } }", Value::Null).await?;
    assert_eq!(status, 200);
    assert!(
        body["data"]["__type"]["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["name"] == "cf_owner_team")),
        "{body}"
    );
    let page = app.client().get(format!("{}/graphql/", app.base)).send().await?;
    assert!(page.status().is_success() && page.text().await?.contains("graphiql"));
    // A document deeper than any real query is refused, not recursed into.
    let deep = format!("{{ devices {{ {}name{} }} }}", "location { ".repeat(60), " }".repeat(60));
    let (status, _, _) = app.graphql(&deep, Value::Null).await?;
    assert_eq!(status, 400);
    // `id` on list fields is [String]: an Int literal is invalid.
    let (status, _, _) = app.graphql("{ devices(id: 1) { name } }", Value::Null).await?;
    assert_eq!(status, 400);
    Ok(())
}
backend_test!(errors, errors_are_nautobots);

async fn authentication(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let q = "{ devices { name } }";
    let (status, body, _) = app.graphql_with(None, q, Value::Null).await?;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("Authentication credentials were not provided."))
    );
    let (status, body, _) = app
        .graphql_with(Some("Token 0123456789012345678901234567890123456789"), q, Value::Null)
        .await?;
    assert_eq!((status, body["detail"].as_str()), (403, Some("Invalid token.")));
    let (status, _, _) = app.graphql_with(Some("Bearer nonsense"), q, Value::Null).await?;
    assert_eq!(status, 403);
    let response = app
        .client()
        .post(format!("{}/api/auth/token/", app.base))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 403);
    let response = app
        .client()
        .post(format!("{}/api/auth/token/", app.base))
        .json(&json!({"username": "admin", "password": "secret"}))
        .send()
        .await?;
    let jwt: Value = response.json().await?;
    let bearer = format!("Bearer {}", jwt["token"].as_str().unwrap_or_default());
    let (status, body, _) = app.graphql_with(Some(&bearer), q, Value::Null).await?;
    assert_eq!(status, 200, "{body}");
    let response = app.client().get(format!("{}/api/status/", app.base)).send().await?;
    assert_eq!(response.headers().get("API-Version").and_then(|v| v.to_str().ok()), Some("3.2"));
    assert_eq!(response.status().as_u16(), 403, "the status wants a credential, as Nautobot's");
    let body: Value = response.json().await?;
    assert_eq!(body, json!({"detail": "Authentication credentials were not provided."}));
    Ok(())
}
backend_test!(auth, authentication);

/// `/api/` and `/api/status/` as Nautobot answers them; any other REST path a JSON 404.
async fn rest_endpoints_clients_touch(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let token = format!("Token {}", app.token);
    let get = |path: &str| {
        app.client().get(format!("{}{path}", app.base)).header("Authorization", token.as_str())
    };
    let response = get("/api/status/").send().await?;
    assert_eq!(response.status().as_u16(), 200);
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("allow").as_deref(), Some("GET, HEAD, OPTIONS"));
    assert_eq!(header("vary").as_deref(), Some("Accept"));
    assert_eq!(header("api-version").as_deref(), Some("3.2"));
    let status: Value = response.json().await?;
    let keys: Vec<&str> =
        status.as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "django-version",
            "installed-apps",
            "nautobot-version",
            "nautobot-apps",
            "plugins",
            "python-version",
            "celery-workers-running"
        ]
    );
    assert_eq!(status["nautobot-version"], "3.2.7");
    let root: Value = get("/api/")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "nautobot.example.com")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(root["graphql"], "https://nautobot.example.com/api/graphql/", "{root}");
    assert_eq!(root["dcim"], "https://nautobot.example.com/api/dcim/", "{root}");
    assert_eq!(root.as_object().map(|o| o.len()), Some(13), "{root}");
    let response = get("/api/dcim/devices/?limit=1").send().await?;
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await?;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("/api/dcim/devices/")), "{body}");
    let response = app.client().get(format!("{}/api/", app.base)).send().await?;
    assert_eq!(response.status().as_u16(), 403);
    Ok(())
}
backend_test!(rest, rest_endpoints_clients_touch);

async fn import_is_all_or_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut bad = seed(3);
    bad["dcim.interface"][4]["type"] = json!("not-a-type");
    let error = app.import(bad).await.expect_err("a bad row must fail").to_string();
    assert!(error.contains("dcim.interface row 5") && error.contains("field type"), "{error}");
    let (_, body, _) = app.graphql("{ devices { name } statuses { name } }", Value::Null).await?;
    assert_eq!(body["data"], json!({"devices": [], "statuses": []}));
    // Custom field data is checked against the definitions, the import's own included.
    for (key, value, want) in [
        ("owner_team", json!(7), "custom_fields.owner_team"),
        ("nope", json!("x"), "custom_fields.nope"),
    ] {
        let mut bad = seed(2);
        bad["dcim.device"][1]["custom_fields"] = json!({ key: value });
        let error = app.import(bad).await.expect_err("bad custom field data must fail").to_string();
        assert!(error.contains("dcim.device row 2") && error.contains(want), "{error}");
    }
    // Export and import again into a fresh database: the same answer.
    app.import(seed(3)).await?;
    let exported = app.store.export().await?;
    let other = TestApp::start(backend).await?;
    other.import(exported.clone()).await?;
    let again = other.store.export().await?;
    assert_eq!(strip_times(exported), strip_times(again));
    Ok(())
}
backend_test!(import, import_is_all_or_nothing);

/// An import writes its rows in multi-row batches as they fill: the statements it runs grow with
/// the batches (a few per thousand rows), never with the rows, on every backend.
async fn import_statements_grow_with_batches(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [2_000usize, 12_000] {
        let app = TestApp::start(backend).await?;
        app.import(seed(2)).await?;
        let interfaces: Vec<Value> = (0..n)
            .map(|i| json!({"device": format!("dev-{:05}", i % 2 + 1), "name": format!("x{i}"), "type": "1000base-t", "status": "Active", "tags": ["tag-1"]}))
            .collect();
        let document = ferrobot_persistence::import::Document {
            name: "interfaces".into(),
            body: json!({ "dcim.interface": interfaces }),
        };
        // A store of its own: the server's background statements are not counted.
        let store =
            ferrobot_persistence::Store::connect(&app.db.url, app.store.catalogue().clone())
                .await?;
        let stats = store.import(&[document], &|_| {}).await?;
        assert_eq!(stats.objects, n as u64);
        counts.push(store.statements());
        store.close().await;
    }
    // Interfaces, their change-log rows and their tag rows: a few multi-row INSERTs per batch of
    // 5,000 (14 and 32 statements on every backend when this was written).
    let grown = counts[1] - counts[0];
    assert!(grown <= 25, "10,000 more rows took {grown} more statements: {counts:?}");
    assert!(counts[1] <= 40, "{counts:?}");
    Ok(())
}
backend_test!(import_statements, import_statements_grow_with_batches);

fn strip_times(mut value: Value) -> Value {
    if let Some(models) = value.as_object_mut() {
        models.remove("users.user");
        models.remove("users.token");
        for list in models.values_mut() {
            for obj in list.as_array_mut().into_iter().flatten() {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("created");
                    o.remove("last_updated");
                }
            }
        }
    }
    value
}

async fn custom_fields_appear_live(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let (status, _, _) = app.graphql("{ devices { cf_rack_unit } }", Value::Null).await?;
    assert_eq!(status, 400);
    app.import(json!({"extras.customfield": [{"key": "rack_unit", "label": "Rack unit", "type": "integer", "content_types": ["dcim.device"]}]})).await?;
    let mut seen = false;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (status, body, _) = app
            .graphql("{ devices(cf_rack_unit__gte: 1) { name cf_rack_unit } }", Value::Null)
            .await?;
        if status == 200 {
            assert_eq!(body["data"]["devices"], json!([]), "{body}");
            seen = true;
            break;
        }
    }
    assert!(seen, "cf_rack_unit did not appear within two seconds");
    Ok(())
}
backend_test!(custom_fields, custom_fields_appear_live);

async fn cables_connect_interfaces(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    let mut data = seed(3);
    active_for(&mut data, &["dcim.cable"]);
    let cable = "5b0f1c84-8f77-4a54-9d3b-2f6f6c1e2a11";
    data["dcim.cable"] = json!([{"id": cable, "status": "Active", "type": "cat6"}]);
    data["dcim.cabletocabletermination"] = json!([
        {"cable": cable, "cable_end": "A", "interface": {"device": "dev-00001", "name": "eth2"}},
        {"cable": cable, "cable_end": "B", "interface": {"device": "dev-00002", "name": "eth2"}},
    ]);
    app.import(data).await?;
    let (status, body, _) = app
        .graphql(
            "{ devices(name: \"dev-00001\") { interfaces(name: [\"eth1\", \"eth2\"]) { name cable { type } connected_endpoint { __typename ... on InterfaceType { name device { name } } } } } }",
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["devices"][0]["interfaces"],
        json!([
            {"name": "eth1", "cable": null, "connected_endpoint": null},
            {"name": "eth2", "cable": {"type": "CAT6"}, "connected_endpoint": {"__typename": "InterfaceType", "name": "eth2", "device": {"name": "dev-00002"}}},
        ])
    );
    Ok(())
}
backend_test!(cables, cables_connect_interfaces);

/// The committed SDL is the API contract: regenerate it with
/// `cargo run -p ferrobot -- schema export > schema/schema.graphql`.
#[test]
fn committed_sdl_is_current() -> anyhow::Result<()> {
    let catalogue = std::sync::Arc::new(ferrobot_domain::Catalogue::core()?);
    let served = ferrobot_gateway::build_schema(catalogue, Default::default())
        .map_err(anyhow::Error::msg)?;
    let want = ferrobot_gateway::schema::sdl(&served);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/schema.graphql");
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have.trim_end() == want.trim_end(), "schema/schema.graphql is out of date: run `cargo run -p ferrobot -- schema export > schema/schema.graphql`");
    Ok(())
}

/// The first error of an answer.
/// Asks `query` of the server at `base` until it answers without errors (the schema grew the
/// fields it asks for), every tenth of a second for at most five seconds; returns the answer and
/// how many tries it took.
async fn until_served(app: &TestApp, base: &str, query: &str) -> anyhow::Result<(Value, usize)> {
    let mut last = Value::Null;
    for attempt in 1..=50 {
        let response = app
            .client()
            .post(format!("{base}/api/graphql/"))
            .header("Authorization", format!("Token {}", app.token))
            .json(&json!({ "query": query }))
            .send()
            .await?;
        last = response.json().await?;
        if last.get("errors").is_none() {
            return Ok((last, attempt));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{query} never answered: {last}")
}

fn error_of(body: &Value) -> &Value {
    &body["errors"][0]
}

/// The seed's `Active` status applied also to these content types (cables, VLANs …).
fn active_for(data: &mut Value, more: &[&str]) {
    if let Some(types) = data["extras.status"][0]["content_types"].as_array_mut() {
        types.extend(more.iter().map(|t| json!(t)));
    }
}

mod access;
mod behaviour;
mod clients;
mod computed_fields;
mod concurrency;
mod config_contexts;
mod data_validation;
mod dynamic_groups;
mod error_words;
mod export_templates;
mod filters;
mod fleet;
mod fuzz;
mod git_repositories;
mod graphiql;
mod hostile;
mod mutations;
mod openapi;
mod operations;
mod permissions;
mod relationships;
mod replicas;
mod requests;
mod saved_queries;
mod subscriptions;
mod webhooks;
