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
    Ok(())
}
backend_test!(variables, variables_as_graphql_defines_them);
