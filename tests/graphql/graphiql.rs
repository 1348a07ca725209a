//! The GraphiQL page: over plain HTTP (every asset from the server itself, with its content type
//! and headers), and in a real browser, Chromium driven over WebDriver by chromedriver, reaching
//! nothing but loopback: the page loads, a person logs in with a password, runs a query and sees
//! the answer, and the docs explorer shows the schema.
//!
//! The browser test needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`;
//! scripts/test.sh installs them when missing), or their paths in `FERROBOT_TEST_CHROMIUM` and
//! `FERROBOT_TEST_CHROMEDRIVER`. Without them it fails: a suite never passes by skipping.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};

use super::*;

/// `src="…"` and `href="…"` values of a page.
fn links(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in page.match_indices(attribute) {
            let rest = &page[at + attribute.len()..];
            out.extend(rest.split('"').next().map(str::to_owned));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_page_and_assets_are_served_by_the_server_itself() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    for path in ["/graphql/", "/api/graphql/"] {
        let response = app.client().get(format!("{}{path}", app.base)).send().await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let page = response.text().await?;
        assert!(!page.contains("<script>"), "no inline script: {page}");
        // Inline data (the empty icon) aside, every link is to an asset of the server.
        let links: Vec<String> =
            links(&page).into_iter().filter(|l| !l.starts_with("data:")).collect();
        assert_eq!(links.len(), 6, "{links:?}");
        for link in links {
            assert!(link.starts_with("/graphql/static/"), "{link} is not served by the server");
            let response = app.client().get(format!("{}{link}", app.base)).send().await?;
            assert_eq!(response.status().as_u16(), 200, "{link}");
            let header = |name: &str| {
                response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
            };
            let want = if link.contains(".css") { "text/css" } else { "text/javascript" };
            let content_type = header("content-type").unwrap_or_default();
            assert!(content_type.starts_with(want), "{link}: {content_type}");
            let cache = header("cache-control").unwrap_or_default();
            assert!(cache.contains("max-age=31536000"), "{link}: {cache}");
            assert!(!response.bytes().await?.is_empty(), "{link}");
        }
    }
    let response = app.client().get(format!("{}/graphql/static/nope.js", app.base)).send().await?;
    assert_eq!(response.status().as_u16(), 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_in_a_browser_logs_in_and_answers_a_query() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.import(seed(0)).await?;
    let started = Instant::now();
    let browser = Browser::start().await?;
    let outcome = drive(&browser, &app.base, &app.token).await;
    let log = browser.console().await;
    browser.quit().await;
    outcome.with_context(|| format!("browser console: {log:#?}"))?;
    // Nothing refused (by the server or by the page's Content-Security-Policy), nothing broken.
    let errors: Vec<&String> = log.iter().filter(|line| line.starts_with("SEVERE")).collect();
    assert!(errors.is_empty(), "errors in the browser console: {errors:#?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    Ok(())
}

/// The page as a person uses it: load, log in, query, docs, log out, and in again with a token.
async fn drive(browser: &Browser, base: &str, token: &str) -> Result<()> {
    browser.goto(&format!("{base}/graphql/")).await?;
    browser
        .wait_for(
            "the query editor",
            "return !!document.querySelector('.graphiql-query-editor .CodeMirror')",
        )
        .await?;
    browser.type_into("#ferrobot-username", "admin").await?;
    browser.type_into("#ferrobot-password", "secret").await?;
    browser.click("#ferrobot-login-button").await?;
    browser
        .wait_for(
            "the login",
            "return document.getElementById('ferrobot-status').textContent.includes('Logged in as admin')",
        )
        .await?;
    let storage = browser
        .script(
            "return [sessionStorage.getItem('ferrobot.graphiql.credential') || '', JSON.stringify(localStorage)]",
            json!([]),
        )
        .await?;
    ensure!(storage[0].as_str().is_some_and(|s| s.contains("Bearer ")), "{storage}");
    ensure!(!storage[1].as_str().unwrap_or_default().contains("Bearer"), "{storage}");
    // The remounted GraphiQL introspected with the credential: the docs show the schema.
    browser
        .wait_for(
            "the query editor after login",
            "return !!document.querySelector('.graphiql-query-editor .CodeMirror')",
        )
        .await?;
    browser.click(".graphiql-sidebar button[aria-label='Show Documentation Explorer']").await?;
    browser
        .wait_for(
            "the docs explorer's root types",
            "const d = document.querySelector('.graphiql-doc-explorer'); return !!d && d.textContent.includes('Query')",
        )
        .await?;
    browser
        .script(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(arguments[0])",
            json!(["{ locations { name } }"]),
        )
        .await?;
    browser.click(".graphiql-execute-button").await?;
    let answer = browser
        .wait_for(
            "the answer",
            "const r = document.querySelector('.result-window .CodeMirror'); const t = r ? r.CodeMirror.getValue() : ''; return t.includes('site-001') ? t : false",
        )
        .await?;
    let answer: Value = serde_json::from_str(answer.as_str().unwrap_or_default())?;
    let want = json!({"locations": [{"name": "region-1"}, {"name": "site-001"}]});
    ensure!(answer["data"] == want, "the answer pane shows {answer}");
    browser.click("#ferrobot-logout").await?;
    let left = browser
        .script("return sessionStorage.getItem('ferrobot.graphiql.credential')", json!([]))
        .await?;
    ensure!(left == Value::Null, "log out left {left}");
    browser.type_into("#ferrobot-token-key", token).await?;
    browser.click("#ferrobot-token-button").await?;
    browser
        .wait_for(
            "the token accepted",
            "return document.getElementById('ferrobot-status').textContent.includes('with an API token')",
        )
        .await?;
    let stored = browser
        .script("return sessionStorage.getItem('ferrobot.graphiql.credential')", json!([]))
        .await?;
    let want = format!("Token {token}");
    ensure!(stored.as_str().is_some_and(|s| s.contains(&want)), "{stored}");
    Ok(())
}

/// A file on PATH, or the one an environment variable names.
fn program(variable: &str, names: &[&str]) -> Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Ok(path.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!("{} not found (nor {variable} set): scripts/test.sh installs Debian's chromium and chromium-driver", names.join(" or "))
        })
}

/// One Chromium, headless, driven by its own chromedriver, with a fresh profile; it reaches
/// nothing but loopback (every other address goes to a proxy that is not there).
struct Browser {
    client: reqwest::Client,
    driver: std::process::Child,
    url: String,
    session: String,
    profile: std::path::PathBuf,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Result<Browser> {
        let chromium =
            program("FERROBOT_TEST_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])?;
        let chromedriver = program("FERROBOT_TEST_CHROMEDRIVER", &["chromedriver"])?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let profile =
            std::env::temp_dir().join(format!("fb-chromium-{}", uuid::Uuid::new_v4().simple()));
        let mut browser = Browser {
            client: reqwest::Client::new(),
            driver,
            url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = browser.client.get(format!("{}/status", browser.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not answer on port {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--proxy-server=http://127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            &format!("--user-data-dir={}", browser.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session = browser.call(reqwest::Method::POST, "/session", Some(capabilities)).await?;
        browser.session = session["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id in {session}"))?
            .to_owned();
        Ok(browser)
    }

    /// A WebDriver command (`path` under the session when it starts with `/session/{id}`
    /// already, or the driver); its `value`, or the error it answered.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            bail!("WebDriver {path}: {error}: {}", value["message"]);
        }
        Ok(value)
    }

    async fn command(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, &format!("/session/{}{path}", self.session), Some(body))
            .await
    }

    async fn goto(&self, url: &str) -> Result<()> {
        self.command("/url", json!({ "url": url })).await.map(drop)
    }

    async fn element(&self, css: &str) -> Result<String> {
        let found =
            self.command("/element", json!({"using": "css selector", "value": css})).await?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no element {css}: {found}"))
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.command(&format!("/element/{id}/value"), json!({ "text": text })).await.map(drop)
    }

    async fn click(&self, css: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.command(&format!("/element/{id}/click"), json!({})).await.map(drop)
    }

    async fn script(&self, script: &str, args: Value) -> Result<Value> {
        self.command("/execute/sync", json!({ "script": script, "args": args })).await
    }

    /// Polls `script` until it returns something truthy (returned), for up to 15 s.
    async fn wait_for(&self, what: &str, script: &str) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.script(script, json!([])).await?;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                let page = self.script("return document.body.innerText", json!([])).await?;
                bail!("waited 15 s for {what}; the page reads: {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console's messages so far.
    async fn console(&self) -> Vec<String> {
        let log = self.command("/se/log", json!({"type": "browser"})).await;
        let entries = log.ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
        let text = |e: &Value, key: &str| e[key].as_str().unwrap_or_default().to_owned();
        entries.iter().map(|e| format!("{} {}", text(e, "level"), text(e, "message"))).collect()
    }

    /// Ends the session (Chromium exits) and the driver.
    async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.call(reqwest::Method::DELETE, &path, None).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A session still open (a failure on the way): end it, so that Chromium exits, before
        // the driver is stopped.
        if !self.session.is_empty() {
            let _ = end_session(&self.url, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` without the async runtime (from `drop`).
fn end_session(url: &str, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map(drop)
}
