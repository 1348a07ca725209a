//! Export templates (Nautobot's `extras.exporttemplate`): a list rendered by a Jinja2 template
//! over `queryset`, from Nautobot's REST route (`/api/<app>/<list>/?export=<name>`), as the user
//! may see the list.

use super::*;

const CSV: &str = "name,site,ports\n{% for d in queryset %}{{ d.name }},{{ d.location.parent.name }}/{{ d.location }},{% for i in d.interfaces.all() %}{{ i.name }}={{ i.status }}{% if not loop.last %};{% endif %}{% endfor %}\r\n{% endfor %}{{ queryset.count() }} devices";

/// GETs an export as `auth`; returns the status, the content type and disposition, the body.
async fn get(
    app: &TestApp,
    auth: &str,
    query: &str,
) -> anyhow::Result<(u16, String, String, String)> {
    let response = app
        .client()
        .get(format!("{}/api/dcim/devices/?{query}", app.base))
        .header("Authorization", auth)
        .send()
        .await?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    Ok((status, kind, disposition, response.text().await?))
}

async fn exports_render(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(3)).await?;
    let admin = format!("Token {}", app.token);
    let (_, body, _) = app
        .graphql(
            "mutation($code: String!) { export_template_create(input: {content_type: \"dcim.device\", name: \"csv\", template_code: $code, mime_type: \"text/csv\", file_extension: \".csv\"}) { name } }",
            json!({"code": CSV}),
        )
        .await?;
    assert_eq!(body["data"]["export_template_create"]["name"], "csv", "{body}");
    // The list as its filters select it, rendered once, CRLF written as LF.
    let (status, kind, disposition, text) =
        get(&app, &admin, "export=csv&name=dev-00001&name=dev-00003").await?;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/csv");
    assert_eq!(disposition, "attachment; filename=\"nautobot_devices.csv\"");
    assert_eq!(
        text,
        "name,site,ports\n\
         dev-00001,region-1/site-001,eth0=Active;eth1=Active;eth2=Active\n\
         dev-00003,region-1/site-001,eth0=Active;eth1=Active;eth2=Active\n\
         2 devices"
    );
    // The same from GraphQL: the filter as a mapping of the list's arguments.
    let (_, body, _) = app
        .graphql(
            r#"{ render_export_template(content_type: "dcim.device", name: "csv", filter: {name: ["dev-00001", "dev-00003"]}) { content mime_type file_name } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(
        body["data"]["render_export_template"],
        json!({"content": text, "mime_type": "text/csv", "file_name": "nautobot_devices.csv"}),
        "{body}"
    );
    let (_, body, _) = app
        .graphql(
            r#"{ a: render_export_template(content_type: "dcim.device", name: "missing") { content } b: render_export_template(content_type: "dcim.device", name: "csv", filter: {nope: 1}) { content } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    assert_eq!(body["errors"][1]["extensions"]["argument"], "nope", "{body}");
    // An export weighs its list's rows: many of them in one document pass the cost limit.
    let app_small =
        TestApp::start_configured(backend, Default::default(), |c| c.limits.cost = 5_000).await?;
    app_small.import(seed(3)).await?;
    let one = "render_export_template(content_type: \"dcim.device\", name: \"none\") { content }";
    let many: Vec<String> = (0..20).map(|i| format!("e{i}: {one}")).collect();
    let (status, body, _) =
        app_small.graphql(&format!("{{ {} }}", many.join(" ")), Value::Null).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COSTLY", "{status} {body}");
    let (_, body, _) = app_small.graphql(&format!("{{ {one} }}"), Value::Null).await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    // Nautobot's answers to what cannot be exported.
    let (status, _, _, text) = get(&app, &admin, "export=csv&nope=1").await?;
    assert_eq!((status, text.as_str()), (400, r#"{"nope":["nope is not a filter of devices."]}"#));
    let (status, _, _, text) = get(&app, &admin, "export=missing").await?;
    assert_eq!((status, text.as_str()), (404, r#"{"detail":"Not found."}"#));
    let (status, _, _, _) = get(&app, "Token nope", "export=csv").await?;
    assert_eq!(status, 403);
    // A template that fails says why.
    let (_, body, _) = app
        .graphql(
            "mutation { export_template_create(input: {content_type: \"dcim.device\", name: \"bad\", template_code: \"{{ queryset.nope() }}\"}) { name } }",
            Value::Null,
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");
    let (status, _, _, text) = get(&app, &admin, "export=bad").await?;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Template error"), "{text}");
    // A user sees the export as it sees the list: only the devices it may view, and no export
    // without the template.
    let carl = app.user("carl", false).await?;
    app.import(json!({"users.objectpermission": [
        {"name": "carl", "actions": ["view"], "object_types": ["dcim.device"],
         "constraints": {"name__in": ["dev-00002"]}, "users": [{"username": "carl"}]},
        {"name": "carl too", "actions": ["view"],
         "object_types": ["dcim.location", "dcim.interface", "extras.status"], "users": [{"username": "carl"}]}
    ]}))
    .await?;
    let (status, _, _, _) = get(&app, &carl, "export=csv").await?;
    assert_eq!(status, 404);
    app.import(json!({"users.objectpermission": [{"name": "carl templates", "actions": ["view"],
        "object_types": ["extras.exporttemplate"], "users": [{"username": "carl"}]}]}))
        .await?;
    let (status, _, _, text) = get(&app, &carl, "export=csv").await?;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("name,site,ports\ndev-00002,") && text.ends_with("1 devices"),
        "{text}"
    );
    // Nautobot's limits on what an export template may name.
    for (input, field) in [
        ("content_type: \"extras.objectchange\"", "content_type"),
        ("content_type: \"dcim.device\", owner_content_type: \"dcim.rack\"", "owner_content_type"),
    ] {
        let (_, body, _) = app
            .graphql(
                &format!("mutation {{ export_template_create(input: {{{input}, name: \"x\", template_code: \"x\"}}) {{ name }} }}"),
                Value::Null,
            )
            .await?;
        assert_eq!(
            error_of(&body)["extensions"]["fields"][field][0],
            json!("Select a valid choice. That choice is not one of the available choices."),
            "{body}"
        );
    }
    Ok(())
}
backend_test!(export_templates, exports_render);
