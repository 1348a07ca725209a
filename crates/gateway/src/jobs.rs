//! Ferrobot's jobs started by requests and run on the runtime after them: a Git repository's
//! sync, from the `git_repository_sync` mutation (once its document has committed) and from
//! Nautobot's REST route `POST /api/extras/git-repositories/<id>/sync/`.
//!
//! Spec: nautobot/extras/api/views.py (`GitRepositoryViewSet.sync`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ferrobot_domain::git_repository;
use ferrobot_persistence::write::{Actor, WriteOptions};
use ferrobot_persistence::{Store, StoreError};
use serde_json::{json, Map};
use uuid::Uuid;

use crate::auth::{detail, user_of, ClientAddress};
use crate::AppState;

/// HTTP 503 in DRF's shape: the database did not take the request in time.
fn busy(message: &str) -> Response {
    detail(StatusCode::SERVICE_UNAVAILABLE, message)
}

/// Starts the sync of `repository` as a job of its own; the job's result id.
pub(crate) async fn start_sync(
    store: &Store,
    actor: &Actor,
    options: &ferrobot_git::SyncOptions,
    repository: Uuid,
) -> Result<Uuid, StoreError> {
    let job = ferrobot_git::sync::start(store, repository, actor).await?;
    let (store, actor, options) = (store.clone(), actor.clone(), options.clone());
    tokio::spawn(async move {
        let quiet = std::sync::Arc::new(|_| {});
        let outcome =
            ferrobot_git::sync::run(&store, job, repository, &actor, &options, quiet).await;
        match outcome {
            Ok(done) => tracing::info!(%job, status = done.status.as_str(), "git sync"),
            Err(error) => tracing::error!(%job, %error, "git sync could not record its end"),
        }
    });
    Ok(job)
}

/// `POST /api/extras/git-repositories/<id>/sync/`: the repository must be the user's to change
/// (`extras.change_gitrepository`); answers Nautobot's message and the job result.
pub(crate) async fn sync_route(
    State(state): State<AppState>,
    Path(key): Path<String>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    let user = match user_of(&state, &headers, client.and_then(|c| c.0 .0), busy).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let not_found = || detail(StatusCode::NOT_FOUND, "No GitRepository matches the given query.");
    let Ok(id) = Uuid::parse_str(&key) else { return not_found() };
    let refused = || {
        detail(
            StatusCode::FORBIDDEN,
            "This user does not have permission to make changes to Git repositories.",
        )
    };
    if !user.write_enabled {
        return refused();
    }
    let failed = |e: StoreError| {
        tracing::error!(error = %e, "git sync request failed");
        detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
    };
    let permissions = match state.store.permissions(&user).await {
        Ok(p) => p,
        Err(StoreError::Busy(m)) => return busy(&m),
        Err(e) => return failed(e),
    };
    let actor = Actor { user_id: Some(user.id), user_name: user.username.clone() };
    let catalogue = state.store.catalogue().clone();
    let Some(model) = catalogue.by_label(git_repository::MODEL) else { return not_found() };
    // An update that changes nothing: the user's permission on this repository, checked as
    // the mutation checks it, and its name.
    let mut options = WriteOptions::new(actor.clone(), "web", "sync");
    options.permissions = permissions;
    let mut writer = match state.store.writer(options).await {
        Ok(w) => w,
        Err(StoreError::Busy(m)) => return busy(&m),
        Err(e) => return failed(e),
    };
    let checked = writer.update(model, &json!(id.to_string()), &Map::new()).await;
    let name = match &checked {
        Ok(_) => writer
            .objects_where(model, &[("id", ferrobot_domain::value::Datum::Uuid(id))])
            .await
            .ok()
            .and_then(|rows| {
                rows.first().and_then(|r| r.text(git_repository::fields::NAME).map(str::to_owned))
            })
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if let Err(e) = writer.rollback().await {
        return failed(e);
    }
    match checked {
        Ok(_) => {}
        Err(StoreError::NotFound { .. }) => return not_found(),
        Err(StoreError::Forbidden { .. }) => return refused(),
        Err(e) => return failed(e),
    }
    let job = match start_sync(&state.store, &actor, &state.config.git, id).await {
        Ok(job) => job,
        Err(e) => return failed(e),
    };
    let url = format!("{}/api/extras/job-results/{job}/", state.config.base_url);
    let body = json!({
        "message": format!("Repository {name} sync job added to queue."),
        "job_result": {
            "id": job,
            "object_type": ferrobot_domain::job::RESULT,
            "display": ferrobot_git::sync::JOB_NAME,
            "url": url,
            "name": ferrobot_git::sync::JOB_NAME,
            "status": {"value": "STARTED", "label": "STARTED"},
            "user": {"id": user.id, "object_type": ferrobot_domain::permission::ACCOUNT, "url": format!("{}/api/users/users/{}/", state.config.base_url, user.id)},
        },
    });
    (StatusCode::OK, Json(body)).into_response()
}
