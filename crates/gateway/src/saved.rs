//! Saved GraphQL queries (Nautobot's `GraphQLQuery`) over REST as Nautobot serves them, and by
//! name at the GraphQL endpoint:
//! - `GET /api/extras/graphql-queries/` (`?name=`, `?limit=`, `?offset=`): Django REST
//!   framework's page (`count`, `next`, `previous`, `results`), as pynautobot reads it;
//! - `GET /api/extras/graphql-queries/<id or name>/`: one, as the Ansible collection's
//!   `saved_query` option reads it (Nautobot takes the id or the natural key there);
//! - `POST /api/extras/graphql-queries/<id or name>/run/` with `{"variables": {…}}`: the query's
//!   answer as `{"data": …, "errors": …}`;
//! - `POST /api/graphql/` with `{"saved_query": "<id or name>", "variables": {…}}` instead of
//!   `query` (Ferrobot's): the query runs as a document sent there would, streamed.
//!
//! Every read is the user's: a saved query the user may not view is one that does not exist.
//!
//! Spec: nautobot/extras/api/views.py (`GraphQLQueryViewSet`), nautobot/core/api/views.py
//! (`get_object`: a pk or a composite key), Django REST framework's `LimitOffsetPagination`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ferrobot_domain::saved_query::SavedQuery;
use ferrobot_persistence::saved::Which;
use serde_json::{json, Value};

use crate::auth::{detail, user_of, ClientAddress};
use crate::AppState;

/// The route, under `/api/`.
const ROUTE: &str = "extras/graphql-queries";
/// DRF's page size unless `?limit=` says (Nautobot's `PAGINATE_COUNT`), and the most a page holds.
const PAGE: u64 = 50;
const MAX_PAGE: u64 = 1_000;

fn unavailable(message: &str) -> Response {
    detail(StatusCode::SERVICE_UNAVAILABLE, message)
}

/// The saved queries `which` names that the request's user may view, or the refusal.
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<Extension<ClientAddress>>,
    which: &Which,
) -> Result<(u64, Vec<SavedQuery>), Response> {
    let client = client.and_then(|c| c.0 .0);
    let user = user_of(state, headers, client, unavailable).await?;
    lookup(state, &user, which).await
}

/// The saved queries `which` names that `user` may view.
async fn lookup(
    state: &AppState,
    user: &ferrobot_persistence::auth::User,
    which: &Which,
) -> Result<(u64, Vec<SavedQuery>), Response> {
    let failed = |error: ferrobot_persistence::StoreError| match error {
        ferrobot_persistence::StoreError::Busy(message) => unavailable(&message),
        error => {
            tracing::error!(%error, "reading saved queries failed");
            detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
    };
    let perms = state.store.permissions(user).await.map_err(failed)?;
    state.store.saved_queries(&perms, which).await.map_err(failed)
}

/// A saved query as Nautobot's serializer writes it.
fn object(base: &str, q: &SavedQuery) -> Value {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
    };
    let url = format!("{base}/api/{ROUTE}/{}/", q.id);
    json!({
        "id": q.id,
        "object_type": ferrobot_domain::saved_query::SAVED_QUERY,
        "display": q.name,
        "url": url,
        "name": q.name,
        "query": q.query,
        "variables": q.variables,
        "owner_content_type": q.owner_content_type,
        "owner_object_id": q.owner_object_id,
        "created": time(q.created),
        "last_updated": time(q.last_updated),
        "notes_url": format!("{url}notes/"),
    })
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "No GraphQLQuery matches the given query.")
}

/// `GET /api/extras/graphql-queries/`.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    // The refusal's words, when a number is no number.
    let number = |name: &str, default: u64| match param(name) {
        None => Ok(default),
        Some(v) => {
            v.parse::<u64>().map_err(|_| format!("{name} must be a whole number, not {v:?}."))
        }
    };
    let (limit, offset) = match (number("limit", PAGE), number("offset", 0)) {
        (Ok(l), Ok(o)) => (if l == 0 { PAGE } else { l.min(MAX_PAGE) }, o),
        (Err(e), _) | (_, Err(e)) => return detail(StatusCode::BAD_REQUEST, &e),
    };
    let name = param("name");
    let which = Which::Page { name: name.clone(), limit, offset: offset.min(i64::MAX as u64) };
    let (count, found) = match read(&state, &headers, client, &which).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let base = crate::rest::base_url(&headers);
    let page = |at: u64| {
        let mut url = format!("{base}/api/{ROUTE}/?limit={limit}&offset={at}");
        if let Some(name) = &name {
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            url.push_str(&format!("&name={encoded}"));
        }
        url
    };
    let next = (offset.saturating_add(limit) < count).then(|| page(offset + limit));
    let previous = (offset > 0).then(|| page(offset.saturating_sub(limit)));
    let results: Vec<Value> = found.iter().map(|q| object(&base, q)).collect();
    crate::rest::drf(
        Json(json!({ "count": count, "next": next, "previous": previous, "results": results }))
            .into_response(),
    )
}

/// `GET /api/extras/graphql-queries/<id or name>/`.
pub(crate) async fn detail_of(
    State(state): State<AppState>,
    Path(key): Path<String>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    match read(&state, &headers, client, &Which::Key(key)).await {
        Ok((_, found)) => match found.first() {
            Some(q) => {
                crate::rest::drf(Json(object(&crate::rest::base_url(&headers), q)).into_response())
            }
            None => not_found(),
        },
        Err(refused) => refused,
    }
}

/// `POST /api/extras/graphql-queries/<id or name>/run/` (the request's `id` given by the
/// route): the answer as `{"data", "errors"}` (held whole, up to the request size limit, to be
/// reshaped).
pub(crate) async fn run(
    State(state): State<AppState>,
    Path(key): Path<String>,
    id: uuid::Uuid,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let variables = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map.get("variables").cloned().unwrap_or(Value::Null),
            Ok(_) | Err(_) => {
                return detail(StatusCode::BAD_REQUEST, "Send a JSON object: {\"variables\": {…}}.")
            }
        }
    };
    let request = json!({ "saved_query": key, "variables": variables });
    let client_ip = client.and_then(|c| c.0 .0);
    let mut keep = None;
    let answer = crate::respond::answer_graphql(
        state.clone(),
        id,
        (headers, client_ip),
        Ok(Bytes::from(request.to_string())),
        &mut keep,
    )
    .await;
    let status = answer.status();
    let bytes = match axum::body::to_bytes(answer.into_body(), state.config.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!(
                "The answer is larger than {} bytes; run the query at /api/graphql/, which streams it.",
                state.config.body_limit
            );
            return detail(StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return (status, bytes).into_response();
    };
    if status == StatusCode::OK {
        value = json!({
            "data": value.get("data").cloned().unwrap_or(Value::Null),
            "errors": value.get("errors").cloned().unwrap_or(Value::Null),
        });
    }
    (status, Json(value)).into_response()
}
