//! Git repositories as data sources: repositories made here with `git` (commits, a rewritten
//! branch, a deletion, a bad file), synced over `file://` and over smart HTTP on loopback
//! (`git http-backend` behind basic authentication), with the credentials from a secrets group.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrobot_persistence::StoreOptions;

use super::*;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("fb_git_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use ferrobot_test_support::git;

/// A new repository with its work tree at `dir`.
fn init(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    git(dir, &["init", "-q"])?;
    Ok(())
}

/// Writes `files` (path, contents; `None` deletes) into the work tree at `dir` and commits them,
/// amending the last commit when `amend` (a rewritten branch, as after a force-push); the
/// commit's hash.
fn commit(dir: &Path, files: &[(&str, Option<&str>)], amend: bool) -> anyhow::Result<String> {
    for (path, contents) in files {
        let path = dir.join(path);
        match contents {
            Some(text) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, text)?;
            }
            None => std::fs::remove_file(&path)?,
        }
    }
    git(dir, &["add", "-A"])?;
    let mut args = vec!["commit", "-q", "-m", "data"];
    if amend {
        args.push("--amend");
    }
    git(dir, &args)?;
    git(dir, &["rev-parse", "HEAD"])
}

/// Starts a sync of the repository named `name` and waits for its job to end; the job result.
async fn sync(app: &TestApp, name: &str) -> anyhow::Result<Value> {
    let (_, body, _) = app
        .graphql(
            "mutation($name: String!) { git_repository_sync(ref: {name: $name}) { id status name } }",
            json!({"name": name}),
        )
        .await?;
    let job = &body["data"]["git_repository_sync"];
    anyhow::ensure!(job["name"] == "Git Repository: Sync", "{body}");
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..300 {
        let (_, body, _) = app
            .graphql(
                "query($id: ID!) { job_result(id: $id) { status result meta error_log_count job_log_entries { log_level grouping message } } }",
                json!({"id": id}),
            )
            .await?;
        let result = &body["data"]["job_result"];
        if result["status"] == "SUCCESS" || result["status"] == "FAILURE" {
            return Ok(result.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the sync of {name} never ended")
}

/// The messages of a job's log at `level`.
fn logged(job: &Value, level: &str) -> Vec<String> {
    job["job_log_entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["log_level"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(level)))
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

const NTP: &str = "_metadata:\n  name: ntp\n  weight: 100\n  schema: ntp-schema\n  locations:\n    - name: site-001\nntp_servers: [10.0.0.1, 10.0.0.2]\n";
const SCHEMA: &str = "_metadata: {name: ntp-schema, description: NTP servers}\ndata_schema: {type: object, properties: {ntp_servers: {type: array}}}\n";
const NAMES: &str = "{% for d in queryset %}{{ d.name }}\n{% endfor %}";
const CONTENTS: &str =
    "[\"extras.configcontext\", \"extras.configcontextschema\", \"extras.exporttemplate\"]";

async fn syncs_from_a_local_repository(backend: Backend) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let (work, clones) = (scratch.0.join("work"), scratch.0.join("clones"));
    init(&work)?;
    let first = commit(
        &work,
        &[
            ("config_contexts/ntp.yaml", Some(NTP)),
            ("config_contexts/roles/leaf.yml", Some("mtu: 9000\n_metadata:\n  name: leaf mtu\n")),
            ("config_contexts/devices/dev-00001.yaml", Some("snmp: {community: public}\n")),
            ("config_context_schemas/ntp.yaml", Some(SCHEMA)),
            ("export_templates/dcim/device/names.txt", Some(NAMES)),
            ("README.md", Some("not data\n")),
        ],
        false,
    )?;
    let data_dir = clones.clone();
    let app = TestApp::start_configured(backend, StoreOptions::default(), move |c| {
        c.git = ferrobot_git::SyncOptions {
            data_dir,
            local: ferrobot_git::Local::Allowed,
            ..c.git.clone()
        };
    })
    .await?;
    app.import(seed(2)).await?;
    let (_, body, _) = app
        .graphql(
            &format!("mutation($url: String!) {{ git_repository_create(input: {{name: \"config\", remote_url: $url, branch: \"main\", provided_contents: {CONTENTS}}}) {{ id }} }}"),
            json!({"url": format!("file://{}", work.display())}),
        )
        .await?;
    let repository =
        body["data"]["git_repository_create"]["id"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!repository.is_empty(), "{body}");

    // The first sync creates everything the commit provides, owned by the repository.
    let job = sync(&app, "config").await?;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["commit"], first.as_str());
    let changes = &job["result"]["changes"];
    assert_eq!(changes["extras.configcontext"]["created"], 2, "{job}");
    assert_eq!(changes["extras.configcontextschema"]["created"], 1, "{job}");
    assert_eq!(changes["extras.exporttemplate"]["created"], 1, "{job}");
    assert_eq!(changes["dcim.device"]["updated"], 1, "{job}");
    // How far it got, as it went: the last step recorded, and what it wrote.
    assert_eq!(job["meta"], json!({"step": "writing", "commit": first, "objects": 5}), "{job}");
    let (_, body, _) = app
        .graphql(
            r#"{ devices(name: ["dev-00001", "dev-00002"]) { name config_context local_config_context_data } config_contexts { name weight owner_object_id config_context_schema { name } locations { name } roles { name } } git_repositories { current_head } }"#,
            Value::Null,
        )
        .await?;
    let data = &body["data"];
    assert_eq!(
        data["devices"][0]["config_context"],
        json!({"ntp_servers": ["10.0.0.1", "10.0.0.2"], "mtu": 9000, "snmp": {"community": "public"}}),
        "{body}"
    );
    assert_eq!(data["devices"][1]["local_config_context_data"], Value::Null, "{body}");
    assert_eq!(data["git_repositories"][0]["current_head"], first.as_str());
    let contexts = data["config_contexts"].as_array().cloned().unwrap_or_default();
    assert_eq!(contexts.len(), 2, "{body}");
    assert!(contexts.iter().all(|c| c["owner_object_id"] == repository.as_str()), "{body}");
    let ntp = contexts.iter().find(|c| c["name"] == "ntp").cloned().unwrap_or_default();
    assert_eq!(ntp["config_context_schema"]["name"], "ntp-schema");
    assert_eq!(ntp["locations"], json!([{"name": "site-001"}]));
    // The export template renders through Nautobot's route.
    let exported = app
        .client()
        .get(format!("{}/api/dcim/devices/?export=names.txt", app.base))
        .header("Authorization", format!("Token {}", app.token))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(exported, "dev-00001\ndev-00002\n");

    // Every change is change-logged as the user's, in the job's context.
    let logged_changes = |body: &Value| {
        body["data"]["object_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["change_context"] == "job" || c["change_context"] == "JOB")
            .count()
    };
    let changes_query = "{ object_changes { change_context user_name } }";
    let (_, body, _) = app.graphql(changes_query, Value::Null).await?;
    let after_first = logged_changes(&body);
    // 2 contexts, 1 schema, 1 template, 1 device, the repository's head.
    assert_eq!(after_first, 6, "{body}");

    // What the repository owns is written by its syncs only.
    for (mutation, words) in [
        ("config_context_update(ref: {name: \"ntp\"}, input: {weight: 5}) { id }", "is owned by extras.gitrepository"),
        ("config_context_delete(ref: {name: \"ntp\"}) { id }", "is owned by extras.gitrepository"),
        ("device_update(ref: {name: \"dev-00001\"}, input: {local_config_context_data: {x: 1}}) { id }", "device's data is owned"),
        ("config_context_create(input: {name: \"mine\", data: {}, owner_content_type: \"extras.gitrepository\"}) { id }", "cannot be written by hand"),
    ] {
        let (_, body, _) = app.graphql(&format!("mutation {{ {mutation} }}"), Value::Null).await?;
        assert_eq!(error_of(&body)["extensions"]["code"], "VALIDATION_FAILED", "{body}");
        assert!(body.to_string().contains(words), "{mutation}: {body}");
    }
    // The rest of the device is the user's.
    let (_, body, _) = app
        .graphql("mutation { device_update(ref: {name: \"dev-00001\"}, input: {serial: \"X1\"}) { serial } }", Value::Null)
        .await?;
    assert_eq!(body["data"]["device_update"]["serial"], "X1", "{body}");

    // Nautobot's REST route starts a sync too; a read-only token may not, nor an unknown id.
    let post = |token: &str, id: &str| {
        app.client()
            .post(format!("{}/api/extras/git-repositories/{id}/sync/", app.base))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    let refused = post(&app.read_only_token, &repository).await?;
    assert_eq!(refused.status().as_u16(), 403);
    let missing = post(&app.token, &uuid::Uuid::nil().to_string()).await?;
    assert_eq!(missing.status().as_u16(), 404);
    let started: Value = post(&app.token, &repository).await?.json().await?;
    assert_eq!(started["message"], "Repository config sync job added to queue.", "{started}");
    let rest_job = started["job_result"]["id"].as_str().unwrap_or_default().to_owned();
    let mut finished = Value::Null;
    for _ in 0..300 {
        let (_, body, _) = app
            .graphql("query($id: ID!) { job_result(id: $id) { status } }", json!({"id": rest_job}))
            .await?;
        finished = body["data"]["job_result"]["status"].clone();
        if finished == "SUCCESS" || finished == "FAILURE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(finished, "SUCCESS");
    // A re-sync of the same commit changes nothing and logs nothing.
    let job = sync(&app, "config").await?;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["changes"]["extras.configcontext"]["unchanged"], 2, "{job}");
    let (_, body, _) = app.graphql(changes_query, Value::Null).await?;
    assert_eq!(logged_changes(&body), after_first, "{body}");

    // The branch rewritten (a force-push): a file changed, others deleted, a template renamed.
    let second = commit(
        &work,
        &[
            (
                "config_contexts/ntp.yaml",
                Some("_metadata: {name: ntp, weight: 200}\nntp_servers: [10.9.9.9]\n"),
            ),
            ("config_contexts/devices/dev-00001.yaml", None),
            ("config_context_schemas/ntp.yaml", None),
            ("export_templates/dcim/device/names.txt", None),
            (
                "export_templates/dcim/device/names.csv",
                Some("name\n{% for d in queryset %}{{ d.name }}\n{% endfor %}"),
            ),
        ],
        true,
    )?;
    assert_ne!(
        git(&work, &["merge-base", "--is-ancestor", &first, &second]).ok(),
        Some(String::new())
    );
    let job = sync(&app, "config").await?;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["commit"], second.as_str());
    let (_, body, _) = app
        .graphql(
            r#"{ devices(name: ["dev-00001"]) { config_context local_config_context_data } config_contexts(name: ["ntp"]) { weight data locations { name } config_context_schema { name } } config_context_schemas { name } export_templates { name mime_type file_extension } }"#,
            Value::Null,
        )
        .await?;
    let data = &body["data"];
    assert_eq!(data["devices"][0]["local_config_context_data"], Value::Null, "{body}");
    // `ntp` is no longer assigned to a location: it applies to every device.
    assert_eq!(
        data["devices"][0]["config_context"],
        json!({"ntp_servers": ["10.9.9.9"], "mtu": 9000}),
        "{body}"
    );
    assert_eq!(
        data["config_contexts"][0],
        json!({"weight": 200, "data": {"ntp_servers": ["10.9.9.9"]}, "locations": [], "config_context_schema": null}),
        "{body}"
    );
    assert_eq!(data["config_context_schemas"], json!([]), "{body}");
    assert_eq!(
        data["export_templates"],
        json!([{"name": "names.csv", "mime_type": "text/csv", "file_extension": "csv"}]),
        "{body}"
    );

    // A bad file fails the sync with the file and the reason, and leaves everything as it was.
    commit(
        &work,
        &[("config_contexts/bad.yaml", Some("_metadata: {name: bad\nx: [1, 2\n"))],
        false,
    )?;
    let job = sync(&app, "config").await?;
    assert_eq!(job["status"], "FAILURE", "{job}");
    let failures = logged(&job, "failure");
    assert!(
        failures.iter().any(|m| m.starts_with("config_contexts/bad.yaml: not valid YAML")),
        "{job}"
    );
    assert_eq!(job["error_log_count"], 1, "{job}");
    // A file that names what does not exist fails the same way, after part of the write.
    commit(
        &work,
        &[
            ("config_contexts/bad.yaml", None),
            (
                "config_contexts/tenant.yaml",
                Some("_metadata: {name: by tenant, tenants: [{name: nobody}]}\nx: 1\n"),
            ),
        ],
        false,
    )?;
    let job = sync(&app, "config").await?;
    assert_eq!(job["status"], "FAILURE", "{job}");
    assert!(
        logged(&job, "failure").iter().any(|m| m.starts_with("config_contexts/tenant.yaml:")),
        "{job}"
    );
    let (_, body, _) = app
        .graphql("{ config_contexts { name } git_repositories { current_head } }", Value::Null)
        .await?;
    assert_eq!(
        body["data"]["config_contexts"],
        json!([{"name": "ntp"}, {"name": "leaf mtu"}]),
        "{body}"
    );
    assert_eq!(body["data"]["git_repositories"][0]["current_head"], second.as_str(), "{body}");

    // Deleting the repository deletes what it owns.
    let (_, body, _) = app
        .graphql(
            "mutation { git_repository_delete(ref: {name: \"config\"}) { object_type } }",
            Value::Null,
        )
        .await?;
    let deleted: Vec<&str> = body["data"]["git_repository_delete"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["object_type"].as_str())
        .collect();
    assert!(
        deleted.contains(&"extras.configcontext") && deleted.contains(&"extras.exporttemplate"),
        "{body}"
    );
    let (_, body, _) =
        app.graphql("{ config_contexts { name } export_templates { name } }", Value::Null).await?;
    assert_eq!(body["data"], json!({"config_contexts": [], "export_templates": []}), "{body}");

    // Ended jobs are kept for a while, then deleted with their logs; a running one stays.
    let (_, body, _) =
        app.graphql("{ job_results { id } job_log_entries { id } }", Value::Null).await?;
    let jobs = body["data"]["job_results"].as_array().map_or(0, Vec::len);
    assert!(
        jobs == 6 && !body["data"]["job_log_entries"].as_array().is_none_or(Vec::is_empty),
        "{body}"
    );
    let kept = app
        .store
        .prune_job_results(chrono::Utc::now() - chrono::Duration::days(1), 1_000_000)
        .await?;
    assert_eq!(kept, 0);
    let running = app
        .store
        .job_start(&ferrobot_persistence::job::JobSpec {
            name: "still running".into(),
            task_name: "test".into(),
            user: None,
            task_kwargs: json!({}),
        })
        .await?;
    let gone = app
        .store
        .prune_job_results(chrono::Utc::now() + chrono::Duration::seconds(1), 1_000_000)
        .await?;
    assert_eq!(gone, jobs);
    let (_, body, _) =
        app.graphql("{ job_results { id } job_log_entries { id } }", Value::Null).await?;
    assert_eq!(
        body["data"],
        json!({"job_results": [{"id": running.to_string()}], "job_log_entries": []}),
        "{body}"
    );
    Ok(())
}
backend_test!(git_local, syncs_from_a_local_repository);

/// A smart-HTTP Git server on loopback: `git http-backend` as a CGI program, behind basic
/// authentication (`user`, `password`); its base URL.
async fn http_backend(root: PathBuf, user: &str, password: &str) -> anyhow::Result<String> {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let handler = move |request: axum::extract::Request| {
        let (root, expected) = (root.clone(), expected.clone());
        async move {
            use axum::response::IntoResponse;
            let authorized = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == expected);
            if !authorized {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Basic realm=\"git\"")],
                    "",
                )
                    .into_response();
            }
            let method = request.method().to_string();
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            let content_type = request
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body =
                axum::body::to_bytes(request.into_body(), 64 << 20).await.unwrap_or_default();
            let output = tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut child = Command::new("git")
                    .arg("http-backend")
                    .env("GIT_PROJECT_ROOT", &root)
                    .env("GIT_HTTP_EXPORT_ALL", "1")
                    .env("REQUEST_METHOD", method)
                    .env("PATH_INFO", path)
                    .env("QUERY_STRING", query)
                    .env("CONTENT_TYPE", content_type)
                    .env("CONTENT_LENGTH", body.len().to_string())
                    .env("REMOTE_USER", "git")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()?;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(&body)?;
                }
                child.wait_with_output()
            })
            .await;
            let Ok(Ok(output)) = output else {
                return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            // A CGI answer: header lines, a blank line, the body.
            let raw = output.stdout;
            let split = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
            let split = split.or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
            let Some((end, gap)) = split else {
                return axum::http::StatusCode::BAD_GATEWAY.into_response();
            };
            let mut response =
                axum::response::Response::new(axum::body::Body::from(raw[end + gap..].to_vec()));
            for line in String::from_utf8_lossy(&raw[..end]).lines() {
                let Some((name, value)) = line.split_once(':') else { continue };
                let value = value.trim();
                if name.eq_ignore_ascii_case("status") {
                    let code = value.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
                    *response.status_mut() = axum::http::StatusCode::from_u16(code)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                } else if let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
                    axum::http::HeaderValue::from_str(value),
                ) {
                    response.headers_mut().insert(n, v);
                }
            }
            response
        }
    };
    let router = axum::Router::new().fallback(handler);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(base)
}

async fn syncs_over_http_with_credentials(backend: Backend) -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let (work, served, clones) =
        (scratch.0.join("work"), scratch.0.join("served"), scratch.0.join("clones"));
    std::fs::create_dir_all(&served)?;
    init(&work)?;
    let head = commit(
        &work,
        &[
            ("config_contexts/ntp.yaml", Some(NTP)),
            ("config_context_schemas/ntp.yaml", Some(SCHEMA)),
        ],
        false,
    )?;
    // A tag on it, and a branch that has a context of its own instead.
    git(&work, &["tag", "v1"])?;
    git(&work, &["checkout", "-q", "-b", "staging"])?;
    let staging = commit(
        &work,
        &[
            ("config_contexts/ntp.yaml", None),
            (
                "config_contexts/staging.yaml",
                Some(
                    "_metadata: {name: staging}
syslog: [10.5.5.5]
",
                ),
            ),
        ],
        false,
    )?;
    git(&work, &["checkout", "-q", "main"])?;
    git(&served, &["clone", "-q", "--bare", &work.display().to_string(), "repo.git"])?;
    let base = http_backend(served.clone(), "bob", "t0ken-s3cret").await?;
    // The server's settings keep local repositories out of reach of the API.
    let data_dir = clones.clone();
    let app = TestApp::start_configured(backend, StoreOptions::default(), move |c| {
        c.git = ferrobot_git::SyncOptions {
            data_dir,
            local: ferrobot_git::Local::Refused,
            ..c.git.clone()
        };
    })
    .await?;
    let (token_file, user_file) = (scratch.0.join("token"), scratch.0.join("user"));
    std::fs::write(&token_file, "t0ken-s3cret\n")?;
    std::fs::write(&user_file, "bob")?;
    app.import(seed(1)).await?;
    app.import(json!({
        "extras.secret": [
            {"name": "git token", "provider": "text-file", "parameters": {"path": token_file.display().to_string()}},
            {"name": "git user", "provider": "text-file", "parameters": {"path": user_file.display().to_string()}},
        ],
        "extras.secretsgroup": [{"name": "git"}],
        "extras.secretsgroupassociation": [
            {"secrets_group": "git", "secret": "git token", "access_type": "HTTP(S)", "secret_type": "token"},
            {"secrets_group": "git", "secret": "git user", "access_type": "HTTP(S)", "secret_type": "username"},
        ],
        "extras.gitrepository": [
            {"name": "over http", "remote_url": format!("{base}/repo.git"), "branch": "main", "secrets_group": "git",
             "provided_contents": ["extras.configcontext", "extras.configcontextschema"]},
            {"name": "anonymous", "remote_url": format!("{base}/repo.git"), "branch": "main",
             "provided_contents": ["extras.configcontext"]},
            {"name": "local", "remote_url": format!("file://{}", work.display()), "branch": "main",
             "provided_contents": ["extras.configcontext"]},
            {"name": "over ssh", "remote_url": "git@git.example:netops/config.git", "branch": "main",
             "provided_contents": ["extras.configcontext"]},
            {"name": "no branch", "remote_url": format!("{base}/repo.git"), "branch": "nope", "secrets_group": "git",
             "provided_contents": ["extras.configcontext"]},
            {"name": "an option", "remote_url": format!("{base}/repo.git"), "branch": "--upload-pack=touch", "secrets_group": "git",
             "provided_contents": ["extras.configcontext"]},
            {"name": "staging", "remote_url": format!("{base}/repo.git"), "branch": "staging", "secrets_group": "git",
             "provided_contents": ["extras.configcontext"]},
            {"name": "by commit", "remote_url": format!("{base}/repo.git"), "branch": staging.clone(), "secrets_group": "git",
             "provided_contents": ["extras.configcontext"]},
            {"name": "by tag", "remote_url": format!("{base}/repo.git"), "branch": "v1", "secrets_group": "git",
             "provided_contents": ["extras.configcontext"]},
        ],
    }))
    .await?;
    let job = sync(&app, "over http").await?;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["commit"], head.as_str());
    let (_, body, _) = app.graphql("{ config_contexts { name data } }", Value::Null).await?;
    assert_eq!(
        body["data"]["config_contexts"],
        json!([{"name": "ntp", "data": {"ntp_servers": ["10.0.0.1", "10.0.0.2"]}}]),
        "{body}"
    );

    // Refusals, each naming its reason; no secret in any of them.
    for (name, words) in [
        ("anonymous", "the remote refused the credentials"),
        ("local", "local repositories (file://) are not allowed here"),
        ("over ssh", "ssh remotes are not allowed here"),
        ("no branch", "the remote has no branch, tag or commit `nope`"),
        ("an option", "is not a valid branch, tag or commit"),
    ] {
        let job = sync(&app, name).await?;
        assert_eq!(job["status"], "FAILURE", "{name}: {job}");
        assert!(logged(&job, "failure").iter().any(|m| m.contains(words)), "{name}: {job}");
        assert!(!job.to_string().contains("t0ken-s3cret"), "{name}: {job}");
    }
    // A branch, and a commit named by its hash, load what they have.
    let job = sync(&app, "staging").await?;
    assert_eq!(
        (&job["status"], &job["result"]["commit"]),
        (&json!("SUCCESS"), &json!(staging)),
        "{job}"
    );
    let (_, body, _) = app.graphql("{ config_contexts { name } }", Value::Null).await?;
    assert_eq!(
        body["data"]["config_contexts"],
        json!([{"name": "ntp"}, {"name": "staging"}]),
        "{body}"
    );
    // The same commit through another repository: its context's name is taken.
    let job = sync(&app, "by commit").await?;
    assert_eq!(job["status"], "FAILURE", "{job}");
    assert!(
        logged(&job, "failure").iter().any(|m| m.starts_with("config_contexts/staging.yaml:") && m.contains("already exists")),
        "{job}"
    );
    // Nothing of a sync that failed is logged as done: it was rolled back.
    assert!(logged(&job, "success").is_empty(), "{job}");
    // A tag: the first commit's `ntp`, which "over http" owns.
    let job = sync(&app, "by tag").await?;
    assert_eq!(job["status"], "FAILURE", "{job}");
    assert!(
        logged(&job, "failure").iter().any(|m| m.starts_with("config_contexts/ntp.yaml:")),
        "{job}"
    );
    // A wrong token fails without showing it.
    std::fs::write(&token_file, "wrong-t0ken")?;
    let job = sync(&app, "over http").await?;
    assert_eq!(job["status"], "FAILURE", "{job}");
    assert!(logged(&job, "failure").iter().any(|m| m.contains("refused the credentials")), "{job}");
    assert!(!job.to_string().contains("wrong-t0ken"), "{job}");
    // What the last good syncs loaded stays.
    let (_, body, _) = app.graphql("{ config_contexts { name } }", Value::Null).await?;
    assert_eq!(
        body["data"]["config_contexts"],
        json!([{"name": "ntp"}, {"name": "staging"}]),
        "{body}"
    );
    Ok(())
}
backend_test!(git_http, syncs_over_http_with_credentials);

/// A stand-in for OpenSSH, as git's own tests have one: it writes down its arguments and runs
/// the remote command here, as sshd would run it on the host; a host named `denied…` refuses
/// the key as a server does.
const FAKE_SSH: &str = r#"#!/bin/sh
printf '%s\n' "$@" >> "$(dirname "$0")/ssh.args"
while [ $# -gt 2 ]; do shift; done
case "$1" in
  *denied*) echo "$1: Permission denied (publickey)." >&2; exit 255 ;;
esac
PATH="$(git --exec-path):$PATH" exec sh -c "$2"
"#;

async fn syncs_over_ssh(backend: Backend) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new()?;
    // A path the remote shell must take as one word: a space, a quote, a `$(…)`.
    let (work, clones) = (scratch.0.join("it's a $(repo)"), scratch.0.join("clones"));
    init(&work)?;
    let head = commit(
        &work,
        &[
            ("config_contexts/ntp.yaml", Some(NTP)),
            ("config_context_schemas/ntp.yaml", Some(SCHEMA)),
        ],
        false,
    )?;
    let ssh = scratch.0.join("fake-ssh");
    std::fs::write(&ssh, FAKE_SSH)?;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755))?;
    let command = ferrobot_git::ssh::Command::parse(&format!("{} -i /keys/deploy", ssh.display()))
        .map_err(anyhow::Error::msg)?;
    // The server lets the API use ssh (`--git-ssh-remotes`); local repositories stay refused: an
    // ssh remote is not one.
    let data_dir = clones.clone();
    let app = TestApp::start_configured(backend, StoreOptions::default(), move |c| {
        c.git = ferrobot_git::SyncOptions {
            data_dir,
            local: ferrobot_git::Local::Refused,
            ssh: Some(command),
        };
    })
    .await?;
    app.import(seed(1)).await?;
    let path = work.display().to_string();
    let escaped: String = path
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    app.import(json!({
        "extras.gitrepository": [
            {"name": "ssh", "remote_url": format!("ssh://git@git.example:2222{escaped}"), "branch": "main",
             "provided_contents": ["extras.configcontext", "extras.configcontextschema"]},
            {"name": "scp-like", "remote_url": format!("git@git.example:{path}"), "branch": "main",
             "provided_contents": []},
            {"name": "denied", "remote_url": "ssh://git@denied.example/srv/config.git", "branch": "main",
             "provided_contents": ["extras.configcontext"]},
            {"name": "an option", "remote_url": "ssh://-oProxyCommand=touch%20owned/r.git", "branch": "main",
             "provided_contents": ["extras.configcontext"]},
        ],
    }))
    .await?;
    let job = sync(&app, "ssh").await?;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["commit"], head.as_str());
    let (_, body, _) =
        app.graphql("{ config_contexts { name owner_object_id } }", Value::Null).await?;
    assert_eq!(body["data"]["config_contexts"][0]["name"], "ntp", "{body}");
    // The client ran in batch mode, with the configured key, at the URL's user, host and port.
    let args = std::fs::read_to_string(scratch.0.join("ssh.args"))?;
    let args: Vec<&str> = args.lines().collect();
    let quoted = path.replace('\'', r"'\''");
    assert_eq!(
        args,
        [
            "-i",
            "/keys/deploy",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            "2222",
            "git@git.example",
            &format!("git-upload-pack '{quoted}'")
        ]
    );
    // A re-sync over the same clone takes a new commit.
    let second = commit(
        &work,
        &[("config_contexts/ntp.yaml", Some(&NTP.replace("10.0.0.2", "10.0.0.3")))],
        false,
    )?;
    let job = sync(&app, "ssh").await?;
    assert_eq!(
        (&job["status"], &job["result"]["commit"]),
        (&json!("SUCCESS"), &json!(second)),
        "{job}"
    );
    // git's scp-like form.
    let job = sync(&app, "scp-like").await?;
    assert_eq!(
        (&job["status"], &job["result"]["commit"]),
        (&json!("SUCCESS"), &json!(second)),
        "{job}"
    );
    // What ssh says when it fails is the reason; nothing reaches the client as an option.
    for (name, words) in [
        ("denied", "ssh exited with 255: git@denied.example: Permission denied (publickey)."),
        ("an option", "may not start with `-`"),
    ] {
        let job = sync(&app, name).await?;
        assert_eq!(job["status"], "FAILURE", "{name}: {job}");
        assert!(logged(&job, "failure").iter().any(|m| m.contains(words)), "{name}: {job}");
    }
    assert!(!scratch.0.join("owned").exists() && !std::path::Path::new("owned").exists());
    Ok(())
}
backend_test!(git_ssh, syncs_over_ssh);
