//! Intended configurations for the fleet (`POST /api/render/`): Golden Config's query and
//! templates from a synced repository, one JSON line per device, the query run once for all.

use ferrobot_persistence::StoreOptions;

use super::*;

const QUERY: &str = "query ($device_id: ID!) { device(id: $device_id) { hostname: name config_context platform { network_driver } interfaces { name ip_addresses { address } } } }";

const IOS: &str = "hostname {{ hostname }}\n{% include 'templates/ntp.j2' %}{% for i in interfaces %}interface {{ i.name }}\n{% for a in i.ip_addresses %} ip address {{ a.address }}\n{% endfor %}{% endfor %}";
const NTP: &str = "{% for s in config_context.ntp_servers %}ntp server {{ s }}\n{% endfor %}";

/// POSTs a render; the status, and the answer's lines as JSON (or the error body).
async fn render(app: &TestApp, auth: &str, body: Value) -> anyhow::Result<(u16, Vec<Value>)> {
    let response = app
        .client()
        .post(format!("{}/api/render/", app.base))
        .header("Authorization", auth)
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let lines = text.lines().map(serde_json::from_str).collect::<Result<Vec<Value>, _>>()?;
    Ok((status, lines))
}

fn work_repo(dir: &std::path::Path) -> anyhow::Result<()> {
    let run = |args: &[&str]| ferrobot_test_support::git(dir, args).map(drop);
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::create_dir_all(dir.join("config_contexts"))?;
    std::fs::write(dir.join("templates/cisco_ios.j2"), IOS)?;
    std::fs::write(dir.join("templates/ntp.j2"), NTP)?;
    // A file larger than a template may be, which the templates never reach: renders go on.
    std::fs::create_dir_all(dir.join("backups"))?;
    std::fs::write(dir.join("backups/core.cfg"), "!\n".repeat(9 << 20))?;
    std::fs::write(
        dir.join("config_contexts/ntp.yaml"),
        "_metadata: {name: ntp}\nntp_servers: [10.0.0.1]\n",
    )?;
    run(&["init", "-q"])?;
    run(&["add", "-A"])?;
    run(&["commit", "-q", "-m", "templates"])
}

async fn renders_the_fleet_in_one_pass(backend: Backend) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("fb_fleet_{}", uuid::Uuid::new_v4().simple()));
    let work = scratch.join("work");
    work_repo(&work)?;
    let data_dir = scratch.join("clones");
    let app = TestApp::start_configured(backend, StoreOptions::default(), move |c| {
        c.git = ferrobot_git::SyncOptions {
            data_dir,
            local: ferrobot_git::Local::Allowed,
            ..c.git.clone()
        };
    })
    .await?;
    app.import(seed(30)).await?;
    app.import(json!({"extras.gitrepository": [{"name": "golden", "remote_url": format!("file://{}", work.display()),
        "branch": "main", "provided_contents": ["extras.configcontext"]}]}))
    .await?;
    let (_, body, _) = app
        .graphql("mutation { git_repository_sync(ref: {name: \"golden\"}) { id } }", Value::Null)
        .await?;
    let job = body["data"]["git_repository_sync"]["id"].as_str().unwrap_or_default().to_owned();
    let mut done = Value::Null;
    for _ in 0..300 {
        let (_, body, _) = app
            .graphql(
                "query($id: ID!) { job_result(id: $id) { status result } }",
                json!({"id": job}),
            )
            .await?;
        done = body["data"]["job_result"].clone();
        if done["status"] == "SUCCESS" || done["status"] == "FAILURE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "SUCCESS", "{done}");
    let admin = format!("Token {}", app.token);
    let request = |filter: Value| {
        json!({"query": QUERY, "filter": filter, "repository": "golden",
               "template": "templates/{{ platform.network_driver }}.j2"})
    };

    // Two devices: a line each, then the summary.
    let (status, lines) =
        render(&app, &admin, request(json!({"name": ["dev-00001", "dev-00002"]}))).await?;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["name"], "dev-00001");
    assert_eq!(lines[0]["template"], "templates/cisco_ios.j2");
    assert_eq!(
        lines[0]["config"],
        "hostname dev-00001\nntp server 10.0.0.1\ninterface eth0\n ip address 10.1.0.1/16\ninterface eth1\ninterface eth2\n",
        "{lines:?}"
    );
    let summary = &lines[2]["summary"];
    assert_eq!((summary["devices"].as_u64(), summary["rendered"].as_u64()), (Some(2), Some(2)));
    // The render is a job result, with its counts.
    let (_, body, _) = app
        .graphql(
            "query($id: [String]) { job_results(id: $id) { name status result } }",
            json!({"id": [summary["job_result"]]}),
        )
        .await?;
    let recorded = &body["data"]["job_results"][0];
    assert_eq!(recorded["name"], "Intended configurations: render", "{body}");
    assert_eq!(recorded["status"], "SUCCESS", "{body}");
    assert_eq!(recorded["result"]["rendered"], 2, "{body}");

    // The whole fleet: the same statements for 30 devices as for 2.
    let (status, lines) = render(&app, &admin, request(json!({}))).await?;
    assert_eq!(status, 200);
    assert_eq!(lines.len(), 31, "{lines:?}");
    let all = &lines[30]["summary"];
    assert_eq!(all["rendered"], 30, "{all}");
    assert_eq!(all["statements"], summary["statements"], "{all} against {summary}");

    // A device whose render fails fails alone.
    let (_, lines) = render(
        &app,
        &admin,
        json!({"query": "{ devices { name } }", "template_code": "{% if name == 'dev-00002' %}{% for i in range(100000000) %}{% endfor %}{% endif %}{{ name }}",
               "filter": {"name": ["dev-00001", "dev-00002", "dev-00003"]}}),
    )
    .await?;
    let failed: Vec<&Value> = lines.iter().filter(|l| !l["error"].is_null()).collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(failed[0]["name"], "dev-00002");
    assert_eq!(lines[3]["summary"]["failed"], 1, "{lines:?}");

    // A user sees its devices only.
    let carl = app.user("carl", false).await?;
    app.import(json!({"users.objectpermission": [{"name": "carl", "actions": ["view"], "object_types": ["dcim.device"],
        "constraints": {"name": "dev-00003"}, "users": [{"username": "carl"}]}]}))
    .await?;
    let (_, lines) = render(
        &app,
        &carl,
        json!({"query": "{ devices { name } }", "template_code": "{{ name }}"}),
    )
    .await?;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["config"], "dev-00003");

    // Refusals before anything renders.
    for (body, words) in [
        (
            json!({"query": "{ devices { name } locations { name } }", "template_code": "x"}),
            "one list or object",
        ),
        (json!({"query": "{ devices { nam } }", "template_code": "x"}), "Cannot query field 'nam'"),
        (json!({"query": "{ devices { name } }", "template_code": "{% for %}"}), "syntax error"),
        (
            json!({"query": "{ devices { name } }", "repository": "nope", "template": "x.j2"}),
            "No Git repository named",
        ),
        (
            json!({"query": "{ devices { name } }", "repository": "golden", "template": "missing.j2"}),
            "no file `missing.j2`",
        ),
        (
            json!({"query": "{ devices { name } }", "template_code": "x", "filter": {"nope": ["1"]}}),
            "nope",
        ),
        (json!({"query": "{ devices { name } }"}), "Give `repository` and `template`"),
        (
            json!({"query": "{ devices { name } }", "template_code": "x", "filter": {"location": ["nowhere"]}}),
            "nowhere",
        ),
    ] {
        let (status, lines) = render(&app, &admin, body.clone()).await?;
        assert_eq!(status, 400, "{body}: {lines:?}");
        assert!(lines[0].to_string().contains(words), "{body}: {lines:?}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
backend_test!(fleet_render, renders_the_fleet_in_one_pass);
