//! Saved GraphQL queries: written through the generated mutations (the document checked and its
//! variables derived as Nautobot saves them), read over Nautobot's REST routes as the Ansible
//! collection and pynautobot read them, and run by id or name.

use super::*;

const INVENTORY: &str =
    "query($role: [String] = \"leaf\", $limit: Int = 2) { devices(role: $role, limit: $limit) { name } }";

async fn get(app: &TestApp, auth: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let response = app
        .client()
        .get(format!("{}{path}", app.base))
        .header("Authorization", auth)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

async fn post(app: &TestApp, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let response = app
        .client()
        .post(format!("{}{path}", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

async fn saved_queries_run_by_name(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let auth = format!("Token {}", app.token);
    let (_, body, _) = app
        .graphql(
            "mutation($q: String!) { graphql_query_create(input: {name: \"inventory\", query: $q}) { id name variables } }",
            json!({ "q": INVENTORY }),
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let created = &body["data"]["graphql_query_create"];
    // Nautobot's `save`: each variable with its string or integer default.
    assert_eq!(created["variables"], json!({"role": "leaf", "limit": "2"}), "{body}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    // A document that does not parse is refused with graphql-core's words.
    let (_, body, _) = app
        .graphql(
            "mutation { graphql_query_create(input: {name: \"bad\", query: \"{ devices { name \"}) { id } }",
            Value::Null,
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED", "{body}");
    assert!(body.to_string().contains("Syntax Error: Expected Name, found <EOF>."), "{body}");

    // The Ansible collection's `saved_query`: the object by name, then its `query`.
    let (status, object) = get(&app, &auth, "/api/extras/graphql-queries/inventory/").await?;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["query"], INVENTORY);
    assert_eq!(object["object_type"], "extras.graphqlquery");
    assert_eq!(object["id"], id.as_str());
    let (status, by_id) = get(&app, &auth, &format!("/api/extras/graphql-queries/{id}/")).await?;
    assert_eq!((status, &by_id["name"]), (200, &json!("inventory")));
    // pynautobot's `graphql_queries.get(name=…)`: the list filtered by name.
    let (status, page) = get(&app, &auth, "/api/extras/graphql-queries/?name=inventory").await?;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 1);
    assert_eq!(page["results"][0]["name"], "inventory");
    assert_eq!(page["next"], Value::Null);
    let (status, refused) = get(&app, &auth, "/api/extras/graphql-queries/?limit=many").await?;
    assert_eq!(status, 400, "{refused}");
    let (_, none) = get(&app, &auth, "/api/extras/graphql-queries/?name=nope").await?;
    assert_eq!((none["count"].clone(), none["results"].clone()), (json!(0), json!([])));
    let (status, missing) = get(&app, &auth, "/api/extras/graphql-queries/nope/").await?;
    assert_eq!(status, 404, "{missing}");
    assert!(missing["detail"].is_string(), "{missing}");

    // Run: with the defaults, then with variables; over REST and at the GraphQL endpoint.
    let (status, ran) =
        post(&app, &format!("/api/extras/graphql-queries/{id}/run/"), json!({})).await?;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(ran["data"]["devices"].as_array().map(Vec::len), Some(2), "{ran}");
    assert_eq!(ran["errors"], Value::Null);
    let (_, ran) = post(
        &app,
        "/api/extras/graphql-queries/inventory/run/",
        json!({"variables": {"limit": 3}}),
    )
    .await?;
    assert_eq!(ran["data"]["devices"].as_array().map(Vec::len), Some(3), "{ran}");
    let (_, ran) = post(
        &app,
        "/api/graphql/",
        json!({"saved_query": "inventory", "variables": {"role": ["spine"]}}),
    )
    .await?;
    assert_eq!(ran["data"], json!({"devices": []}), "{ran}");
    let (status, ran) = post(&app, "/api/graphql/", json!({"saved_query": "nope"})).await?;
    assert_eq!(status, 400, "{ran}");

    // A user who may not view saved queries finds none.
    let bob = app.user("bob", false).await?;
    let (status, _) = get(&app, &bob, "/api/extras/graphql-queries/inventory/").await?;
    assert_eq!(status, 404);
    let (_, page) = get(&app, &bob, "/api/extras/graphql-queries/").await?;
    assert_eq!(page["count"], 0, "{page}");
    let (status, _) = get(&app, "Token nope", "/api/extras/graphql-queries/").await?;
    assert_eq!(status, 403);
    Ok(())
}
backend_test!(saved_queries, saved_queries_run_by_name);
