//! Writes through GraphQL: generated mutations, validation, the change log, deletes.

use super::*;

const DEVICE: &str = "mutation($in: DeviceInput!) { device_create(input: $in) { id name status { name } location { name } device_type { model } tags { name } cf_owner_team } }";

async fn creates_updates_and_logs(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let input = json!({
        "name": "edge-01",
        "device_type": {"manufacturer": {"name": "Acme"}, "model": "acme-s48"},
        "role": {"name": "leaf"},
        "status": {"name": "Active"},
        "location": {"name": "site-001"},
        "tags": [{"name": "tag-1"}],
        "custom_fields": {"owner_team": "netops"},
    });
    let (status, body, _) = app.graphql(DEVICE, json!({"in": input})).await?;
    assert_eq!(status, 200, "{body}");
    let created = &body["data"]["device_create"];
    assert_eq!(
        (
            created["name"].clone(),
            created["location"].clone(),
            created["tags"].clone(),
            created["cf_owner_team"].clone()
        ),
        (
            json!("edge-01"),
            json!({"name": "site-001"}),
            json!([{"name": "tag-1"}]),
            json!("netops")
        ),
        "{body}"
    );
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    // A partial update by natural key; the same update again changes nothing and logs nothing.
    let update = "mutation($ref: DeviceRef!, $in: DeviceInput!) { device_update(ref: $ref, input: $in) { name serial } }";
    let vars = json!({"ref": {"name": "edge-01", "location": {"name": "site-001"}}, "in": {"serial": "SN1"}});
    for _ in 0..2 {
        let (status, body, _) = app.graphql(update, vars.clone()).await?;
        assert_eq!(
            (status, &body["data"]["device_update"]),
            (200, &json!({"name": "edge-01", "serial": "SN1"})),
            "{body}"
        );
    }
    let (_, body, _) = app
        .graphql(&format!("{{ device(id: \"{id}\") {{ object_changes {{ action user_name changed_object_type prechange_data postchange_data request_id sequence }} }} }}"), Value::Null)
        .await?;
    let changes = body["data"]["device"]["object_changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 2, "{body}");
    // Newest first, as Nautobot orders them.
    assert_eq!(changes[0]["action"], "UPDATE");
    assert_eq!(changes[1]["action"], "CREATE");
    assert_eq!(changes[0]["user_name"], "admin");
    assert_eq!(changes[0]["changed_object_type"], "dcim.device");
    assert_eq!(changes[0]["prechange_data"]["serial"], "");
    assert_eq!(changes[0]["postchange_data"]["serial"], "SN1");
    assert_eq!(changes[1]["prechange_data"], Value::Null);
    assert!(changes[0]["sequence"].as_i64() > changes[1]["sequence"].as_i64(), "{body}");
    Ok(())
}
backend_test!(mutation_basics, creates_updates_and_logs);
