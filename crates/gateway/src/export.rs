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
use std::sync::Arc;

use ferrobot_domain::export_template::{Export, MODEL};
use ferrobot_domain::permission::{Action, Grant, Permissions};
use ferrobot_domain::{Catalogue, Model};
use ferrobot_persistence::query::Plan;
use ferrobot_persistence::{Store, StoreError};
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
    let mut filter = Map::new();
    for (key, value) in params.iter().filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str())) {
        let values = filter.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(Value::String(value.clone()));
        }
    }
    let (text, mime_type, file_name) =
        match render(&state.store, &catalogue, &perms, model, &name, &filter).await {
            Ok(Rendered { text, mime_type, file_name }) => (text, mime_type, file_name),
            Err(StoreError::NotFound { .. }) => {
                return drf(detail(StatusCode::NOT_FOUND, "Not found."))
            }
            Err(StoreError::Invalid { argument, message }) if argument == TEMPLATE => {
                return drf(bad_request(&message))
            }
            Err(StoreError::Invalid { argument, message }) => {
                return drf(refusal(&[(argument, message)]))
            }
            Err(StoreError::Filters(refused)) => return drf(refusal(&refused)),
            Err(e) => return failed(e),
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

/// An export: its text, MIME type and file name.
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) mime_type: String,
    pub(crate) file_name: String,
}

/// The argument a template's own failure is reported under.
pub(crate) const TEMPLATE: &str = "template";

/// Renders the export template `name` of `model` over the list `filter` selects, as `perms`
/// see it: `NotFound` without such a template (or without view permission on templates),
/// `Invalid` for refused filters and for a template that fails (argument [`TEMPLATE`]).
pub(crate) async fn render(
    store: &Store,
    catalogue: &Arc<Catalogue>,
    perms: &Arc<Permissions>,
    model: &Model,
    name: &str,
    filter: &Map<String, Value>,
) -> Result<Rendered, StoreError> {
    let not_found = || StoreError::NotFound { kind: "export template".into(), id: name.to_owned() };
    let template_error = |message: String| StoreError::Invalid {
        argument: TEMPLATE.into(),
        message: format!("Template error: {message}"),
    };
    // The template must be one the user may see, as the list's objects are.
    let may_see = catalogue
        .by_label(MODEL)
        .is_some_and(|m| !matches!(perms.grant(m.id, Action::View), Grant::Denied));
    let Some([code, mime_type, extension]) =
        store.export_template(&model.label, name).await?.filter(|_| may_see)
    else {
        return Err(not_found());
    };
    let export =
        Export::compile(catalogue, model, &code, &mime_type, &extension).map_err(template_error)?;
    let mut select = export.needs().clone();
    select.filters =
        ferrobot_domain::request::stored_filter_args(model, filter).map_err(StoreError::Filters)?;
    let plan = Plan::new(catalogue, &select);
    let level = store.execute(&plan, perms).await?;
    let rendered = tokio::task::spawn_blocking(move || {
        let objects = (0..level.rows.len())
            .map(|row| crate::template_object::build(&select, &plan.outs, &plan, &level, row))
            .collect();
        export.render(objects).map(|text| Rendered {
            text,
            mime_type: export.mime_type,
            file_name: export.file_name,
        })
    })
    .await
    .map_err(|e| StoreError::Internal(format!("the export stopped: {e}")))?;
    rendered.map_err(template_error)
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
