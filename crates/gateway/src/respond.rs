//! One GraphQL request answered, from its body to its HTTP response: authentication, the
//! user's permissions, async-graphql's parse and validation, the plan executor, and the
//! answer streamed as [`crate::render`] writes it. The HTTP route and the WebSocket
//! operations ([`crate::ws`]) both answer through it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::answer::RequestState;
use crate::auth::user_of;
use crate::render::write_response;
use crate::AppState;

/// HTTP 413 naming the limit, in the REST shape (`detail`) and the GraphQL one (`errors`).
pub(crate) fn too_large(rejection: BytesRejection, limit: usize) -> Response {
    let status = rejection.status();
    if status != StatusCode::PAYLOAD_TOO_LARGE {
        return errors(status, &rejection.body_text());
    }
    // `detail` as Nautobot's REST answers put it, `errors` for GraphQL clients.
    let message = format!("The request body is larger than the limit of {limit} bytes.");
    let body = json!({
        "detail": message,
        "errors": [{ "message": message, "extensions": { "code": "PAYLOAD_TOO_LARGE", "limit": limit } }],
    });
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    /// Ferrobot's: run the saved query of this id or name instead of a `query` ([`crate::saved`]).
    #[serde(default)]
    saved_query: Option<String>,
}

/// HTTP 503 with `Retry-After`: the database did not take the request in time.
pub(crate) fn busy(message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": crate::error::BUSY, "retryable": true } }] });
    let mut out = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    out.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    out
}

pub(crate) fn errors(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message }] }))).into_response()
}

/// The answer to one GraphQL request; `keep` receives its state once it has one.
pub(crate) async fn answer_graphql(
    state: AppState,
    id: uuid::Uuid,
    (headers, client): (HeaderMap, Option<std::net::IpAddr>),
    body: Result<Bytes, BytesRejection>,
    keep: &mut Option<Arc<RequestState>>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return too_large(rejection, state.config.body_limit),
    };
    let user = match user_of(&state, &headers, client, busy).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let parsed: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return errors(
                StatusCode::BAD_REQUEST,
                &format!("Unable to parse the request body as JSON: {e}"),
            )
        }
    };
    let query = parsed.query.filter(|q| !q.trim().is_empty());
    if query.is_none() && parsed.saved_query.is_none() {
        return errors(StatusCode::BAD_REQUEST, "Must provide query string.");
    }
    let served = state.served();
    let store = state.store.counted();
    let permissions = match store.permissions(&user).await {
        Ok(permissions) => permissions,
        Err(ferrobot_persistence::StoreError::Busy(message)) => return busy(&message),
        Err(error) => {
            tracing::error!(%error, "reading permissions failed");
            return crate::auth::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    // A saved query named instead of a document: found as the user sees saved queries.
    let query = match (query, &parsed.saved_query) {
        (Some(query), _) => query,
        (None, key) => {
            let key = key.clone().unwrap_or_default();
            let which = ferrobot_persistence::saved::Which::Key(key.clone());
            match store.saved_queries(&permissions, &which).await {
                Ok((_, found)) => match found.into_iter().next() {
                    Some(saved) => saved.query,
                    None => {
                        let message = format!("No saved query {key:?}.");
                        return errors(StatusCode::BAD_REQUEST, &message);
                    }
                },
                Err(ferrobot_persistence::StoreError::Busy(message)) => return busy(&message),
                Err(error) => {
                    tracing::error!(%error, "reading a saved query failed");
                    return crate::auth::detail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal error.",
                    );
                }
            }
        }
    };
    let may_write = user.write_enabled;
    let actor =
        ferrobot_persistence::write::Actor { user_id: Some(user.id), user_name: user.username };
    let mut request_state = request_state(&state, served.clone(), store, actor, permissions);
    request_state.may_write = may_write;
    request_state.request_id = id;
    let request_state = Arc::new(request_state);
    *keep = Some(request_state.clone());
    // The text is kept to place the errors of a refused document as graphql-core does.
    let source = query.clone();
    let operation_name = parsed.operation_name;
    let mut request = async_graphql::Request::new(query).data(request_state.clone());
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    // graphene-django also takes the variables as a JSON string (some clients send them so).
    let variables = match parsed.variables {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value) => Some(value),
                Err(_) => return errors(StatusCode::BAD_REQUEST, "Variables are invalid JSON."),
            }
        }
        Some(serde_json::Value::String(_)) => None,
        other => other,
    };
    match variables {
        None | Some(serde_json::Value::Null) => {}
        Some(vars @ serde_json::Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(vars));
        }
        Some(_) => return errors(StatusCode::BAD_REQUEST, "Variables must be a JSON object."),
    }
    // Measured before async-graphql walks the document (its depth check and validation expand
    // fragments as often as they are spread: fragments spreading each other ten times over,
    // ten deep, are a billion fields). The parse is kept for the execution. A document that
    // does not parse is answered with graphql-core's syntax error.
    if request.parsed_query().is_err() {
        if let Some(error) = crate::syntax::first_error(&source) {
            let error = json!({
                "message": error.message,
                "locations": [{ "line": error.line, "column": error.column }],
            });
            return (StatusCode::BAD_REQUEST, Json(json!({ "errors": [error] }))).into_response();
        }
    }
    if let Ok(document) = request.parsed_query() {
        if let Some(refusal) = crate::limits::too_large(document) {
            let errors = json!({ "errors": [refusal.to_json()] });
            return (StatusCode::BAD_REQUEST, Json(errors)).into_response();
        }
    }
    // While a write runs, a read waits for one of a few slots (`admission`).
    let writes = request
        .parsed_query()
        .ok()
        .and_then(|d| crate::execute::operation_definition(d, operation_name.as_deref()))
        .is_some_and(|op| op.ty == async_graphql::parser::types::OperationType::Mutation);
    let read = if writes { None } else { state.admission.read(&state.store).await };
    let response = served.schema.execute(request).await;
    drop(read);
    if let Some(answer) = request_state.take_answer() {
        let statements = answer.statements;
        let (tx, rx) = tokio::sync::mpsc::channel::<crate::render::Chunk>(4);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || write_response(answer, tx, runtime));
        let stream = tokio_stream_from(rx);
        let mut out = Response::new(Body::from_stream(stream));
        out.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&statements.to_string()) {
            out.headers_mut().insert("x-ferrobot-sql-statements", v);
        }
        return out;
    }
    // Not answered by the plan: a document that failed to parse or validate (HTTP 400, no
    // `data`, as graphene answers, in graphql-core's words), or an introspection query.
    if !request_state.executed() {
        let errs = crate::wording::document_errors(
            &request_state,
            &source,
            operation_name.as_deref(),
            &response.errors,
        );
        return (StatusCode::BAD_REQUEST, Json(json!({ "errors": errs }))).into_response();
    }
    if request_state.busy.load(std::sync::atomic::Ordering::Relaxed) {
        let mut out = (StatusCode::SERVICE_UNAVAILABLE, Json(&response)).into_response();
        out.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return out;
    }
    match serde_json::to_vec(&response) {
        Ok(bytes) => ([("content-type", "application/json")], bytes).into_response(),
        Err(_) => errors(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// The state of a request of this user, with the server's settings.
pub(crate) fn request_state(
    state: &AppState,
    served: Arc<crate::schema::Served>,
    store: ferrobot_persistence::Store,
    actor: ferrobot_persistence::write::Actor,
    permissions: Arc<ferrobot_domain::permission::Permissions>,
) -> RequestState {
    let mut request_state = RequestState::new(served, store, actor, permissions);
    request_state.write_threads = state.admission.write_threads();
    request_state.change_log = state.config.change_log;
    request_state.limits = state.config.limits;
    request_state.base_url = state.config.base_url.clone();
    request_state.read_window = state.config.read_window;
    request_state.git = state.config.git.clone();
    request_state
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<crate::render::Chunk>,
) -> impl futures_util::Stream<Item = crate::render::Chunk> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
