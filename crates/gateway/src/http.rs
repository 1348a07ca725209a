//! Routes: the Nautobot-compatible GraphQL endpoint, the GraphiQL page of [`crate::graphiql`],
//! the JWT endpoint and the REST endpoints of [`crate::rest`], with Nautobot's error shapes (403
//! `{"detail"}`, 400 for invalid documents).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::answer::RequestState;
use crate::auth::{detail, issue_jwt};
use crate::login::Outcome;
use crate::respond::{answer_graphql, busy, too_large};
use crate::AppState;

/// The API version clients read from `API-Version` (pynautobot's `nb.version`).
pub use crate::rest::API_VERSION;

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let api = Router::new()
        .route("/api/graphql/", post(graphql).get(crate::ws::get))
        .route("/graphql/", post(graphql).get(crate::ws::get))
        .route("/graphql/static/{name}", get(crate::graphiql::asset))
        .route("/api/", get(crate::rest::api_root))
        .route("/api/status/", get(crate::rest::status))
        .route("/api/docs/", get(crate::rest::docs))
        .route("/api/auth/token/", post(jwt))
        .route("/api/extras/graphql-queries/", get(crate::saved::list))
        .route("/api/extras/graphql-queries/{key}/", get(crate::saved::detail_of))
        .route("/api/extras/graphql-queries/{key}/run/", post(saved_query_run))
        // Any other path: a list's export (`?export=`), else a JSON 404.
        .route("/api/render/", post(crate::fleet::handler))
        .route("/api/extras/git-repositories/{key}/sync/", post(crate::jobs::sync_route))
        .route("/api/{*rest}", axum::routing::any(crate::export::export))
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(tower_http::compression::CompressionLayer::new());
    Router::new()
        .merge(api)
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state.clone())
        .layer(cors(&config.cors_origins))
        .layer(axum::middleware::map_response(api_version))
        // No sniffing of content types, no framing (GraphiQL included), no referrer leaks.
        .layer(header(axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(axum::http::header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(axum::http::header::REFERRER_POLICY, "no-referrer"))
}

fn header(
    name: axum::http::HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Cross-origin calls from the configured origins (`*`: any), so that browser frontends built
/// on the schema can call the API. Credentials travel in the `Authorization` header, not in
/// cookies, so no origin is ever allowed credentials.
fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::ACCEPT,
        ])
        .expose_headers([axum::http::HeaderName::from_static("x-ferrobot-sql-statements")])
        .max_age(std::time::Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}

/// The id of a request: the client's `X-Request-ID` when it is a UUID, else a new one.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub uuid::Uuid);

/// Every request: an id (sent back as `X-Request-ID`), one log line, and the metrics of a
/// GraphQL request (its handler leaves what the document asked for in the answer's extensions).
async fn observe(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .unwrap_or_else(uuid::Uuid::new_v4);
    request.extensions_mut().insert(RequestId(id));
    let client = crate::auth::client_address(&state.config.trusted_proxies, &request);
    request.extensions_mut().insert(crate::auth::ClientAddress(client));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, path);
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", v);
    }
    let mut operation = response.extensions().get::<crate::metrics::Operation>().cloned();
    if operation.is_none() && path == "/api/auth/token/" {
        operation = Some(crate::metrics::Operation { kind: "login", root_fields: Vec::new() });
    }
    let statements = response
        .headers()
        .get("x-ferrobot-sql-statements")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(operation) = &operation {
        state.metrics.request(operation, status, elapsed.as_secs_f64());
    }
    let (kind, roots) = match &operation {
        Some(o) => (o.kind, o.root_fields.join(",")),
        None => ("", String::new()),
    };
    tracing::info!(
        target: "ferrobot::request",
        request_id = %id,
        %method,
        path,
        status,
        operation = kind,
        root_fields = roots,
        statements,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
    );
    response
}

/// Prometheus metrics.
async fn metrics(State(state): State<AppState>) -> Response {
    let feed = match &state.feed {
        Some(feed) => {
            let (subscribers, cohorts) = feed.counts().await;
            let (lagged, position) = (feed.lagged(), feed.done());
            let delivered = &state.webhooks.delivered;
            let failed = &state.webhooks.failed;
            Some(crate::metrics::FeedCounts {
                subscribers,
                cohorts,
                lagged,
                position,
                webhooks_delivered: delivered.load(std::sync::atomic::Ordering::Relaxed),
                webhooks_failed: failed.load(std::sync::atomic::Ordering::Relaxed),
            })
        }
        None => None,
    };
    let text = state.metrics.render(&state.store, feed).await;
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Liveness: the process answers.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: not stopping, the database answers, and its migrations are current.
async fn ready(State(state): State<AppState>) -> Response {
    if state.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "stopping" })))
            .into_response();
    }
    // A database that does not answer soon is as good as gone for a load balancer's check.
    let pending = ferrobot_migrations::pending(&state.store);
    let pending = tokio::time::timeout(std::time::Duration::from_secs(2), pending)
        .await
        .unwrap_or_else(|_| Err(ferrobot_persistence::StoreError::Busy("no answer in 2 s".into())));
    match pending {
        Ok(0) => Json(json!({ "status": "ready" })).into_response(),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "migrations pending", "pending": n })),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" })))
                .into_response()
        }
    }
}

async fn api_version(mut response: Response) -> Response {
    response.headers_mut().insert("API-Version", HeaderValue::from_static(API_VERSION));
    response
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/auth/token/ {username, password}` → `{token, expires}` (a JWT).
async fn jwt(
    State(state): State<AppState>,
    client: Option<axum::Extension<crate::auth::ClientAddress>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return too_large(rejection, state.config.body_limit),
    };
    let Ok(creds) = serde_json::from_slice::<Credentials>(&body) else {
        return detail(StatusCode::BAD_REQUEST, "Send a JSON object with username and password.");
    };
    let address = client.and_then(|c| c.0 .0);
    let attempt = state.logins.attempt(&state.store, &creds.username, &creds.password, address);
    let user = match attempt.await {
        Ok(Outcome::Accepted(user)) => user,
        Ok(Outcome::Refused) => return detail(StatusCode::FORBIDDEN, "Invalid username/password."),
        Ok(Outcome::Throttled(seconds)) => {
            let text = format!("Request was throttled. Expected available in {seconds} seconds.");
            let mut out = detail(StatusCode::TOO_MANY_REQUESTS, &text);
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                out.headers_mut().insert("retry-after", v);
            }
            return out;
        }
        Err(ferrobot_persistence::StoreError::Busy(message)) => return busy(&message),
        Err(error) => {
            tracing::error!(%error, "user lookup failed");
            return detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    match issue_jwt(&state.config.jwt_secret, &user, state.config.jwt_lifetime) {
        Ok((token, expires)) => {
            Json(json!({ "token": token, "expires": expires.to_rfc3339() })).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "jwt encoding failed");
            detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
    }
}

/// `POST /api/extras/graphql-queries/<key>/run/`, under the request's id.
async fn saved_query_run(
    State(state): State<AppState>,
    key: axum::extract::Path<String>,
    id: Option<axum::Extension<RequestId>>,
    client: Option<axum::Extension<crate::auth::ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = id.map_or_else(uuid::Uuid::new_v4, |e| e.0 .0);
    crate::saved::run(State(state), key, id, client, headers, body).await
}

/// `POST /api/graphql/`: answers the document and leaves what it asked for in the answer's
/// extensions, for the request's metrics and log line (`observe`).
async fn graphql(
    State(state): State<AppState>,
    id: Option<axum::Extension<RequestId>>,
    client: Option<axum::Extension<crate::auth::ClientAddress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = id.map_or_else(uuid::Uuid::new_v4, |e| e.0 .0);
    let client = client.and_then(|c| c.0 .0);
    let mut request_state: Option<Arc<RequestState>> = None;
    let mut response = answer_graphql(state, id, (headers, client), body, &mut request_state).await;
    let operation = request_state.and_then(|s| s.operation.lock().ok().and_then(|mut o| o.take()));
    response.extensions_mut().insert(
        operation.unwrap_or(crate::metrics::Operation { kind: "invalid", root_fields: Vec::new() }),
    );
    response
}
