//! `/api/docs/?format=openapi` as networktocode.nautobot's `inventory` plugin reads it before it
//! starts: `info.version`, and the names of the query parameters of the device and VM lists.

use super::*;

async fn openapi_document_for_rest_clients(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(1)).await?;
    let url = format!("{}/api/docs/?format=openapi", app.base);
    let token = format!("Token {}", app.token);
    let response = app.client().get(&url).header("Authorization", &token).send().await?;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/vnd.oai.openapi+json"));
    let openapi: Value = response.json().await?;
    assert_eq!(openapi["info"]["version"], "3.2");
    assert_eq!(openapi["servers"], json!([{"url": "/api"}]));
    // What the plugin does with it: the allowed query filters of each list.
    let names = |path: &str| -> Vec<String> {
        openapi["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let devices = names("/dcim/devices/");
    for want in [
        "name",
        "name__ic",
        "location",
        "role",
        "status",
        "platform",
        "tags",
        "q",
        "cf_owner_team",
        "limit",
    ] {
        assert!(devices.iter().any(|n| n == want), "no {want} among {} parameters", devices.len());
    }
    let vms = names("/virtualization/virtual-machines/");
    for want in ["name", "cluster", "status", "role"] {
        assert!(vms.iter().any(|n| n == want), "no {want} among {} parameters", vms.len());
    }
    assert!(!vms.iter().any(|n| n == "cf_owner_team"), "owner_team is a device custom field");
    // The parameters are the arguments of the GraphQL list field, no more and no fewer.
    let (_, body, _) = app
        .graphql("{ __schema { queryType { fields { name args { name } } } } }", Value::Null)
        .await?;
    let fields =
        body["data"]["__schema"]["queryType"]["fields"].as_array().cloned().unwrap_or_default();
    let arguments = |field: &str| -> Vec<String> {
        fields
            .iter()
            .find(|f| f["name"] == field)
            .and_then(|f| f["args"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|a| a["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(devices, arguments("devices"));
    assert_eq!(vms, arguments("virtual_machines"));
    let parameter = openapi["paths"]["/dcim/devices/"]["get"]["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "name").cloned());
    assert_eq!(
        parameter,
        Some(
            json!({"in": "query", "name": "name", "schema": {"type": "array", "items": {"type": "string"}}, "explode": true, "style": "form"})
        )
    );
    // Without `format` the document too; another format, or no credential, refused.
    let plain = app
        .client()
        .get(format!("{}/api/docs/", app.base))
        .header("Authorization", &token)
        .send()
        .await?;
    assert_eq!(plain.status().as_u16(), 200);
    let yaml = app
        .client()
        .get(format!("{}/api/docs/?format=yaml", app.base))
        .header("Authorization", &token)
        .send()
        .await?;
    assert_eq!(yaml.status().as_u16(), 404);
    let body: Value = yaml.json().await?;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("?format=openapi")), "{body}");
    let anonymous = app.client().get(&url).send().await?;
    assert_eq!(anonymous.status().as_u16(), 403);
    let body: Value = anonymous.json().await?;
    assert_eq!(body, json!({"detail": "Authentication credentials were not provided."}));
    Ok(())
}
backend_test!(openapi, openapi_document_for_rest_clients);
