//! Nautobot's REST export: `GET /api/<app>/<list>/?export=<name>&<filters>` renders the list,
//! as the user may see it, with the content type's export template of that name, as a file
//! (the template's MIME type, `Content-Disposition: attachment`).
//!
//! The template is compiled for the request and walked for what it reads of the objects
//! (`domain::export_template`); the list is read with those levels in one pass, whatever its
//! length, and rendered once.
//!
//! Spec: nautobot/core/api/views.py (`ModelViewSetMixin.list` with `export`),
//! nautobot/extras/models/models.py (`ExportTemplate.render_to_response`).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use ferrobot_domain::export_template::{Export, MODEL};
use ferrobot_domain::permission::{Action, Grant};
use ferrobot_persistence::query::Plan;
use ferrobot_persistence::StoreError;
use serde_json::{Map, Value};

use crate::auth::{detail, user_of, ClientAddress};
use crate::rest::{drf, not_found};
use crate::AppState;

/// Query parameters of Nautobot's list views that are not filters.
const NOT_FILTERS: [&str; 7] = ["export", "limit", "offset", "format", "brief", "depth", "include"];

/// `GET /api/<app>/<list>/`: with `export`, the list rendered by that export template; any
/// other request under `/api/` is the JSON 404 of a path Ferrobot does not serve.
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let parts: Vec<&str> = rest.split('/').collect();
    let (app, list) = match parts.as_slice() {
        [app, list, ""] if method == Method::GET => (*app, *list),
        _ => return not_found(uri).await,
    };
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let Some(name) = params.iter().find(|(k, _)| k == "export").map(|(_, v)| v.clone()) else {
        return not_found(uri).await;
    };
    let served = state.served();
    let catalogue = served.catalogue.clone();
    let path = format!("/api/{app}/{list}/");
    let model = catalogue.models().iter().find(|m| {
        m.features.export_templates
            && m.graphql.as_ref().and_then(|g| g.api_path.as_deref()) == Some(path.as_str())
    });
    let Some(model) = model else { return not_found(uri).await };
    let busy = |message: &str| detail(StatusCode::SERVICE_UNAVAILABLE, message);
    let user = match user_of(&state, &headers, client.and_then(|c| c.0 .0), busy).await {
        Ok(user) => user,
        Err(refused) => return drf(refused),
    };
    let failed = |e: StoreError| {
        tracing::error!(error = %e, "export failed");
        detail(StatusCode::INTERNAL_SERVER_ERROR, "The export failed.")
    };
    let perms = match state.store.permissions(&user).await {
        Ok(perms) => perms,
        Err(e) => return failed(e),
    };
    // The template must be one the user may see, as the list's objects are.
    let may_see = catalogue
        .by_label(MODEL)
        .is_some_and(|m| !matches!(perms.grant(m.id, Action::View), Grant::Denied));
    let template = match state.store.export_template(&model.label, &name).await {
        Ok(Some(template)) if may_see => template,
        Ok(_) => return drf(detail(StatusCode::NOT_FOUND, "Not found.")),
        Err(e) => return failed(e),
    };
    let [code, mime_type, extension] = template;
    let export = match Export::compile(&catalogue, model, &code, &mime_type, &extension) {
        Ok(export) => export,
        Err(e) => return drf(bad_request(&format!("Template error: {e}"))),
    };
    let mut filter = Map::new();
    for (key, value) in params.iter().filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str())) {
        let values = filter.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(Value::String(value.clone()));
        }
    }
    let mut select = export.needs().clone();
    select.filters = match ferrobot_domain::request::stored_filter_args(model, &filter) {
        Ok(args) => args,
        Err(refused) => return drf(refusal(&refused)),
    };
    let plan = Plan::new(&catalogue, &select);
    let level = match state.store.execute(&plan, &perms).await {
        Ok(level) => level,
        Err(StoreError::Invalid { argument, message }) => {
            return drf(refusal(&[(argument, message)]));
        }
        Err(StoreError::Filters(refused)) => return drf(refusal(&refused)),
        Err(e) => return failed(e),
    };
    let rendered = tokio::task::spawn_blocking(move || {
        let objects = (0..level.rows.len())
            .map(|row| crate::template_object::build(&select, &plan.outs, &plan, &level, row))
            .collect();
        export.render(objects).map(|text| (text, export.mime_type, export.file_name))
    })
    .await;
    let (text, mime_type, file_name) = match rendered {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return drf(bad_request(&format!("Template error: {e}"))),
        Err(_) => return detail(StatusCode::INTERNAL_SERVER_ERROR, "The export failed."),
    };
    let mut response = text.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime_type) {
        headers.insert("content-type", value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert("content-disposition", value);
    }
    drf(response)
}

fn bad_request(message: &str) -> Response {
    detail(StatusCode::BAD_REQUEST, message)
}

/// Refused filters as Django REST framework answers a filter form's errors: a 400 with each
/// argument's messages.
fn refusal(refused: &[(String, String)]) -> Response {
    let mut body = Map::new();
    for (argument, message) in refused {
        let entry = body.entry(argument.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message.clone()));
        }
    }
    (StatusCode::BAD_REQUEST, axum::Json(Value::Object(body))).into_response()
}
