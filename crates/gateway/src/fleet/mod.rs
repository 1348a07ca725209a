//! Intended configurations for the fleet, as Golden Config renders them one device at a time,
//! in one pass: the GraphQL query (inline or saved; Golden Config's `device(id: $device_id)`
//! form or a list) runs once for every device the filter selects, the template (a file of a
//! synced Git repository, or given inline) is compiled once, and each device's data are
//! rendered as they are read, one JSON line per device (`POST /api/render/`, or the files
//! `ferrobot render` writes). A render is recorded as a job result whose `meta` says how far it
//! has got.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json as JsonResponse, Response};
use axum::Extension;
use ferrobot_domain::intended::{Data, Templates};
use ferrobot_domain::job::{Level, Status};
use ferrobot_domain::permission::Permissions;
use ferrobot_persistence::job::JobSpec;
use ferrobot_persistence::write::Actor;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::answer::Answer;
use crate::auth::ClientAddress;
use crate::AppState;

mod document;
pub(crate) mod items;

/// Nautobot-style name of the job a render records.
pub const JOB_NAME: &str = "Intended configurations: render";
const TASK_NAME: &str = "ferrobot.fleet.render";

/// How often (in devices) a render records how far it has got.
const PROGRESS_EVERY: usize = 1_000;

/// Where the template comes from.
#[derive(Debug, Clone)]
pub enum TemplateSource {
    /// Text given with the request.
    Code(String),
    /// A file of a synced Git repository (its path may be a template over the device's data).
    Repository { name: String, path: String },
}

/// What to render.
#[derive(Debug, Clone)]
pub struct Render {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Option<Json>,
    /// The list's filter arguments (`{"location": ["ams01"]}`).
    pub filter: Map<String, Json>,
    pub template: TemplateSource,
}

/// One rendered device, as a line of the answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rendered {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The template's path (or `template` for one given inline).
    pub template: String,
    pub config: Option<String>,
    pub error: Option<String>,
}

/// How a render ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub devices: usize,
    pub rendered: usize,
    pub failed: usize,
    pub job_result: Uuid,
    /// The SQL statements the query ran: the same for any number of devices.
    pub statements: u64,
    /// The query's errors (a nested filter it refused …).
    pub errors: Vec<Json>,
}

/// Why a render could not start: a 400 with these errors (or a 503, or a 500).
#[derive(Debug)]
pub enum Refused {
    Invalid(Vec<Json>),
    Busy(String),
    Internal(String),
}

impl Refused {
    fn one(message: impl Into<String>) -> Refused {
        Refused::Invalid(vec![json!({ "message": message.into() })])
    }
}

/// A render ready to stream: its query answered, its templates compiled.
pub struct Prepared {
    answer: Answer,
    templates: Arc<Templates>,
    store: ferrobot_persistence::Store,
    /// The query's store, counting its statements.
    counted: ferrobot_persistence::Store,
    job: Uuid,
}

/// Checks a render, runs its query and compiles its templates; nothing is rendered yet.
pub async fn prepare(
    state: &AppState,
    actor: Actor,
    permissions: Arc<Permissions>,
    render: Render,
) -> Result<Prepared, Refused> {
    let store = state.store.clone();
    let templates = match &render.template {
        TemplateSource::Code(code) => Templates::inline(code).map_err(Refused::one)?,
        TemplateSource::Repository { name, path } => {
            let (_, files) = ferrobot_git::sync::head_files(&store, name, &state.config.git)
                .await
                .map_err(Refused::one)?;
            let (files, path) = (Arc::new(files), path.clone());
            // Compiling reads the repository's files.
            tokio::task::spawn_blocking(move || {
                Templates::from_source(Arc::new(move |file: &str| files.read(file)), &path)
            })
            .await
            .map_err(|e| Refused::Internal(e.to_string()))?
            .map_err(Refused::one)?
        }
    };
    let served = state.served();
    let mut document: ExecutableDocument = async_graphql::parser::parse_query(&render.query)
        .map_err(|e| {
            let message = match crate::syntax::first_error(&render.query) {
                Some(e) => format!("{} (line {}, column {})", e.message, e.line, e.column),
                None => format!("Syntax Error: {e}"),
            };
            Refused::one(message)
        })?;
    if let Some(refusal) = crate::limits::too_large(&document) {
        return Err(Refused::Invalid(vec![refusal.to_json()]));
    }
    document::as_list(
        &served.catalogue,
        &mut document,
        render.operation_name.as_deref(),
        &render.filter,
    )
    .map_err(Refused::one)?;
    let counted = store.counted();
    let request_state = Arc::new(crate::respond::request_state(
        state,
        served.clone(),
        counted.clone(),
        actor.clone(),
        permissions,
    ));
    let mut request = async_graphql::Request::new(render.query.clone()).data(request_state.clone());
    request.set_parsed_query(document);
    if let Some(name) = &render.operation_name {
        request = request.operation_name(name.clone());
    }
    match render.variables {
        None | Some(Json::Null) => {}
        Some(vars @ Json::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(vars));
        }
        Some(_) => return Err(Refused::one("Variables must be a JSON object.")),
    }
    let read = state.admission.read(&state.store).await;
    let response = served.schema.execute(request).await;
    drop(read);
    let Some(answer) = request_state.take_answer() else {
        if request_state.busy.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Refused::Busy("The database was busy; try again.".into()));
        }
        let errors = crate::wording::document_errors(
            &request_state,
            &render.query,
            render.operation_name.as_deref(),
            &response.errors,
        );
        return Err(Refused::Invalid(errors));
    };
    // The list refused whole (a filter value that names nothing, too many values): nothing
    // would render, so the render is refused as a request.
    let refused = answer.roots.iter().all(|r| matches!(r.body, crate::answer::RootBody::Null));
    if refused && !answer.errors.is_empty() {
        return Err(Refused::Invalid(answer.errors.iter().map(|e| e.to_json()).collect()));
    }
    let job = store
        .job_start(&JobSpec {
            name: JOB_NAME.into(),
            task_name: TASK_NAME.into(),
            user: actor.user_id,
            task_kwargs: json!({ "filter": render.filter, "template": match &render.template {
                TemplateSource::Code(_) => json!("inline"),
                TemplateSource::Repository { name, path } => json!({"repository": name, "path": path}),
            }}),
        })
        .await
        .map_err(|e| Refused::Internal(e.to_string()))?;
    Ok(Prepared { answer, templates: Arc::new(templates), store, counted, job })
}

impl Prepared {
    /// The job result recording this render.
    pub fn job(&self) -> Uuid {
        self.job
    }

    /// Renders every device as its data are read, sending each to `out` (blocking: run it on
    /// the blocking pool); stops early when `out` is closed. The summary, also recorded as the
    /// job's result.
    pub fn stream(
        self,
        out: &mut dyn FnMut(Rendered) -> bool,
        runtime: tokio::runtime::Handle,
    ) -> Summary {
        let (tx, rx) = tokio::sync::mpsc::channel::<crate::render::Chunk>(4);
        let writer_runtime = runtime.clone();
        let answer = self.answer;
        std::thread::scope(|scope| {
            scope.spawn(move || crate::render::write_response(answer, tx, writer_runtime));
            let (mut devices, mut rendered, mut failed) = (0, 0, 0);
            let store = self.store.clone();
            let job = self.job;
            let reader = items::ChunkReader::new(rx);
            let read = items::read(reader, document::KEY, &mut |mut item: Data| {
                let (id, name) = (item.take_text(document::ID), item.take_text(document::NAME));
                let (template, text) = self.templates.render(item);
                devices += 1;
                let (config, error) = match text {
                    Ok(text) => {
                        rendered += 1;
                        (Some(text), None)
                    }
                    Err(e) => {
                        failed += 1;
                        (None, Some(e))
                    }
                };
                if devices % PROGRESS_EVERY == 0 {
                    let meta = json!({"devices": devices, "rendered": rendered, "failed": failed});
                    if let Err(e) = runtime.block_on(store.job_progress(job, meta)) {
                        tracing::warn!(error = %e, "render progress not recorded");
                    }
                }
                out(Rendered { id, name, template, config, error })
            });
            let errors = match read {
                Ok(Some(errors)) => errors,
                Ok(None) => {
                    vec![json!({"message": "The render was stopped: its reader went away."})]
                }
                Err(e) => vec![json!({"message": format!("The answer could not be read: {e}")})],
            };
            let statements = self.counted.statements();
            let summary =
                Summary { devices, rendered, failed, job_result: job, statements, errors };
            let status = if summary.errors.is_empty() { Status::Success } else { Status::Failure };
            let result = json!({"devices": devices, "rendered": rendered, "failed": failed, "errors": summary.errors});
            let counts = [(Level::Success, rendered), (Level::Failure, failed)];
            if let Err(e) = runtime.block_on(store.job_finish(job, status, result, &counts)) {
                tracing::warn!(error = %e, "render end not recorded");
            }
            summary
        })
    }
}

/// The body of `POST /api/render/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderBody {
    query: Option<String>,
    saved_query: Option<String>,
    #[serde(alias = "operationName")]
    operation_name: Option<String>,
    variables: Option<Json>,
    #[serde(default)]
    filter: Map<String, Json>,
    repository: Option<String>,
    template: Option<String>,
    template_code: Option<String>,
}

/// `POST /api/render/`: one JSON line per device (`application/x-ndjson`), then a line with
/// the summary (`{"summary": {...}}`).
pub(crate) async fn handler(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bad = |errors: Vec<Json>| {
        (StatusCode::BAD_REQUEST, JsonResponse(json!({ "errors": errors }))).into_response()
    };
    let user = match crate::auth::user_of(
        &state,
        &headers,
        client.and_then(|c| c.0 .0),
        crate::respond::busy,
    )
    .await
    {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let parsed: RenderBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(vec![json!({"message": format!("The body is not a render: {e}")})]),
    };
    let permissions = match state.store.permissions(&user).await {
        Ok(p) => p,
        Err(ferrobot_persistence::StoreError::Busy(m)) => return crate::respond::busy(&m),
        Err(e) => {
            tracing::error!(error = %e, "reading permissions failed");
            return crate::auth::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    let query = match (parsed.query, parsed.saved_query) {
        (Some(q), None) if !q.trim().is_empty() => q,
        (None, Some(key)) => {
            let which = ferrobot_persistence::saved::Which::Key(key.clone());
            match state.store.saved_queries(&permissions, &which).await {
                Ok((_, found)) => match found.into_iter().next() {
                    Some(saved) => saved.query,
                    None => {
                        return bad(vec![json!({"message": format!("No saved query {key:?}.")})])
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "reading a saved query failed");
                    return crate::auth::detail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal error.",
                    );
                }
            }
        }
        _ => return bad(vec![json!({"message": "Give one of `query` and `saved_query`."})]),
    };
    let template = match (parsed.repository, parsed.template, parsed.template_code) {
        (Some(name), Some(path), None) => TemplateSource::Repository { name, path },
        (None, None, Some(code)) => TemplateSource::Code(code),
        _ => {
            return bad(vec![
                json!({"message": "Give `repository` and `template` (a file of it), or `template_code`."}),
            ])
        }
    };
    let render = Render {
        query,
        operation_name: parsed.operation_name,
        variables: parsed.variables,
        filter: parsed.filter,
        template,
    };
    let actor = Actor { user_id: Some(user.id), user_name: user.username };
    let prepared = match prepare(&state, actor, permissions, render).await {
        Ok(p) => p,
        Err(Refused::Invalid(errors)) => return bad(errors),
        Err(Refused::Busy(m)) => return crate::respond::busy(&m),
        Err(Refused::Internal(m)) => {
            tracing::error!(error = %m, "render failed");
            return crate::auth::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    let job = prepared.job();
    let (tx, rx) = tokio::sync::mpsc::channel::<crate::render::Chunk>(16);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut send = |rendered: Rendered| match line(&rendered) {
            Some(bytes) => tx.blocking_send(Ok(bytes)).is_ok(),
            None => true,
        };
        let summary = prepared.stream(&mut send, runtime);
        if let Some(bytes) = line(&SummaryLine { summary }) {
            let _ = tx.blocking_send(Ok(bytes));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-ndjson"));
    if let Ok(v) = HeaderValue::from_str(&job.to_string()) {
        response.headers_mut().insert("x-ferrobot-job-result", v);
    }
    response
}

#[derive(serde::Serialize)]
struct SummaryLine {
    summary: Summary,
}

/// A value written as one JSON line.
fn line<T: serde::Serialize>(value: &T) -> Option<Bytes> {
    let mut bytes = serde_json::to_vec(value).ok()?;
    bytes.push(b'\n');
    Some(Bytes::from(bytes))
}
