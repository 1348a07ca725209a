//! The REST endpoints Nautobot's clients touch besides GraphQL: the API root (`/api/`), the
//! status (`/api/status/`) and the OpenAPI document (`/api/docs/?format=openapi`, made by
//! [`crate::openapi`]) as Nautobot answers them (authenticated, the same keys, `Allow` and
//! `Vary` as Django REST framework sends them), and a JSON 404 for every other `/api/` path,
//! which Ferrobot does not serve.
//!
//! Spec: nautobot/core/api/views.py (`APIRootView`, `StatusView`), nautobot/core/urls.py
//! (`/api/docs/`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use crate::auth::{detail, user_of, ClientAddress};
use crate::AppState;

/// The apps `/api/` lists, in Nautobot's order, each at `/api/<app>/`.
const APPS: [&str; 13] = [
    "apps",
    "circuits",
    "cloud",
    "dcim",
    "extras",
    "graphql",
    "ipam",
    "plugins",
    "status",
    "tenancy",
    "users",
    "virtualization",
    "wireless",
];

/// The Nautobot release whose API Ferrobot answers as.
const NAUTOBOT_VERSION: &str = "3.2.7";

/// Its API version: every answer's `API-Version` header (pynautobot's `nb.version`), and the
/// OpenAPI document's `info.version`.
pub const API_VERSION: &str = "3.2";

/// `GET /api/`: the URL of each app's API root, absolute as Django's `reverse` writes them.
pub(crate) async fn api_root(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(&state, &headers, client).await {
        return refused;
    }
    let base = base_url(&headers);
    let mut body = Map::new();
    for app in APPS {
        body.insert(app.into(), Value::String(format!("{base}/api/{app}/")));
    }
    drf(Json(Value::Object(body)).into_response())
}

/// `GET /api/status/`: Nautobot's keys, the versions it reports as.
pub(crate) async fn status(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(&state, &headers, client).await {
        return refused;
    }
    let body = json!({
        "django-version": null,
        "installed-apps": {},
        "nautobot-version": NAUTOBOT_VERSION,
        "nautobot-apps": {},
        "plugins": {},
        "python-version": null,
        "celery-workers-running": 0,
    });
    drf(Json(body).into_response())
}

/// `GET /api/docs/?format=openapi`: the OpenAPI document (JSON). Nautobot answers the page of
/// its Swagger UI without `format`; Ferrobot has none and answers the document then too
/// (`?format=json` as well). Any other format is a JSON 404, as Django REST framework answers a
/// format it does not render.
pub(crate) async fn docs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(&state, &headers, client).await {
        return refused;
    }
    let format = query.as_deref().unwrap_or_default().split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "format").then_some(value)
    });
    if let Some(other) = format.filter(|f| !matches!(*f, "openapi" | "json")) {
        let text = format!(
            "Not found: format {other:?}. /api/docs/ serves the OpenAPI document as JSON only (?format=openapi)."
        );
        return drf(detail(StatusCode::NOT_FOUND, &text));
    }
    let document = crate::openapi::document(&state.served(), API_VERSION);
    let mut response = drf(Json(document).into_response());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/vnd.oai.openapi+json"));
    response
}

/// Any other path under `/api/`: a JSON 404 that says what Ferrobot serves.
pub(crate) async fn not_found(uri: Uri) -> Response {
    let text = format!(
        "Not found: {}. Ferrobot serves GraphQL at /api/graphql/; the REST API serves /api/, /api/status/, /api/docs/, /api/auth/token/, /api/extras/graphql-queries/ and the lists' exports (/api/<app>/<list>/?export=<template>) only.",
        uri.path()
    );
    detail(StatusCode::NOT_FOUND, &text)
}

/// Nautobot's refusal when the request carries no valid credential; `None` when it does.
async fn refuse(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<Extension<ClientAddress>>,
) -> Option<Response> {
    let busy = |message: &str| detail(StatusCode::SERVICE_UNAVAILABLE, message);
    let client = client.and_then(|c| c.0 .0);
    user_of(state, headers, client, busy).await.err().map(drf)
}

/// The headers Django REST framework's views send with every answer.
pub(crate) fn drf(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("allow", HeaderValue::from_static("GET, HEAD, OPTIONS"));
    headers.insert("vary", HeaderValue::from_static("Accept"));
    response
}

/// `scheme://host` of the request as the client addressed it (behind a proxy, its
/// `X-Forwarded-Proto` and `X-Forwarded-Host`).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic()))
    };
    let scheme = match text("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    let host = text("x-forwarded-host").or_else(|| text("host")).unwrap_or("localhost");
    format!("{scheme}://{host}")
}
