//! A Git repository's sync, as Nautobot's `Git Repository: Sync` job: fetch the branch, read
//! what the commit provides, and write it in one transaction on the repository's behalf,
//! reporting as a job result with its log.
//!
//! The write creates, updates and deletes what the repository owns so that afterwards it owns
//! exactly what the commit provides: a re-sync of the same commit changes nothing, and a file
//! that cannot be read or written fails the sync naming the file, leaving the previous state.
//!
//! Spec: nautobot/extras/datasources/git.py (`refresh_git_config_contexts`,
//! `refresh_git_config_context_schemas`, `refresh_git_export_templates`), nautobot/core/jobs
//! (`GitRepositorySync`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferrobot_domain::git_repository::{self as repo, fields, Provided};
use ferrobot_domain::job::{Entry, Level, Status};
use ferrobot_domain::owner::{self, Owner};
use ferrobot_domain::row::Row;
use ferrobot_domain::secret;
use ferrobot_domain::value::Datum;
use ferrobot_domain::{Catalogue, Model};
use ferrobot_persistence::job::JobSpec;
use ferrobot_persistence::write::{Actor, WriteOptions, Writer};
use ferrobot_persistence::{Store, StoreError, StoreResult};
use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::fetch::{self, FetchError, Local, Progress, Remote};

/// Nautobot's name of the job.
pub const JOB_NAME: &str = "Git Repository: Sync";
/// Nautobot's task of the job.
pub const TASK_NAME: &str = "nautobot.core.jobs.GitRepositorySync";

/// Where a sync keeps its clones and what it may fetch.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The bare repositories live in `<data_dir>/<repository id>.git`.
    pub data_dir: PathBuf,
    pub local: Local,
    /// The ssh client that ssh remotes are fetched through; `None` refuses them (the client
    /// signs in with the server's own keys, so the API may use it only when the server's
    /// settings say so).
    pub ssh: Option<crate::ssh::Command>,
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub struct Synced {
    pub job: Uuid,
    pub status: Status,
    pub commit: Option<String>,
    /// What changed (`created`, `updated`, `deleted`, `unchanged`), or why it failed.
    pub result: Json,
}

/// What a sync reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Fetching(Progress),
    Writing { done: usize, total: usize },
}

/// The repositories being synced by this process: one sync of a repository at a time.
static RUNNING: Mutex<Option<HashSet<Uuid>>> = Mutex::new(None);

struct Running(Uuid);

impl Running {
    fn claim(id: Uuid) -> Option<Running> {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.get_or_insert_with(HashSet::new).insert(id).then_some(Running(id))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = running.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// Records a sync of `repository` as started (its job result); [`run`] does it.
pub async fn start(store: &Store, repository: Uuid, actor: &Actor) -> StoreResult<Uuid> {
    store
        .job_start(&JobSpec {
            name: JOB_NAME.into(),
            task_name: TASK_NAME.into(),
            user: actor.user_id,
            task_kwargs: json!({ "repository": repository }),
        })
        .await
}

/// Starts and runs a sync.
pub async fn sync(
    store: &Store,
    repository: Uuid,
    actor: &Actor,
    options: &SyncOptions,
    progress: Arc<dyn Fn(Step) + Send + Sync>,
) -> StoreResult<Synced> {
    let job = start(store, repository, actor).await?;
    run(store, job, repository, actor, options, progress).await
}

/// Runs the sync recorded as `job`: its log and its end are written whatever happens.
pub async fn run(
    store: &Store,
    job: Uuid,
    repository: Uuid,
    actor: &Actor,
    options: &SyncOptions,
    progress: Arc<dyn Fn(Step) + Send + Sync>,
) -> StoreResult<Synced> {
    let mut log = Log::default();
    let outcome = match Running::claim(repository) {
        Some(_running) => {
            let progress = recorded(store, job, progress);
            work(store, job, repository, actor, options, progress, &mut log).await
        }
        None => Err(Failed("A sync of this repository is already running.".into())),
    };
    let (status, commit, result) = match outcome {
        Ok(done) => (Status::Success, Some(done.commit.clone()), done.result()),
        Err(Failed(reason)) => {
            log.push(Entry::new(Level::Failure, "sync", reason.clone()));
            (Status::Failure, None, json!({ "error": reason }))
        }
    };
    store.job_log(job, &log.entries).await?;
    store.job_finish(job, status, result.clone(), &log.counts()).await?;
    Ok(Synced { job, status, commit, result })
}

/// Why a sync failed, as its log says it.
struct Failed(String);

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Failed {
        Failed(store_message(&e))
    }
}

fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::Internal(_) => {
            tracing::error!(error = %e, "git sync");
            "The sync failed on an internal error; the server's log has it.".into()
        }
        other => other.to_string(),
    }
}

#[derive(Default)]
struct Log {
    entries: Vec<Entry>,
    dropped: BTreeMap<Level, usize>,
}

impl Log {
    fn push(&mut self, entry: Entry) {
        if self.entries.len() < ferrobot_domain::job::MAX_ENTRIES {
            self.entries.push(entry);
        } else {
            *self.dropped.entry(entry.level).or_default() += 1;
        }
    }

    fn counts(&self) -> Vec<(Level, usize)> {
        let mut counts: BTreeMap<Level, usize> = self.dropped.clone();
        for e in &self.entries {
            *counts.entry(e.level).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// What a sync changed, by kind.
#[derive(Default)]
struct Done {
    commit: String,
    counts: BTreeMap<&'static str, [usize; 4]>,
}

const CREATED: usize = 0;
const UPDATED: usize = 1;
const DELETED: usize = 2;
const UNCHANGED: usize = 3;

impl Done {
    fn count(&mut self, kind: &'static str, what: usize) {
        self.counts.entry(kind).or_default()[what] += 1;
    }

    fn result(&self) -> Json {
        let mut by_kind = Map::new();
        for (kind, [c, u, d, n]) in &self.counts {
            by_kind.insert(
                (*kind).into(),
                json!({"created": c, "updated": u, "deleted": d, "unchanged": n}),
            );
        }
        json!({ "commit": self.commit, "changes": by_kind })
    }
}

/// `progress`, and the fetch's progress also recorded as the job's `meta`, at most once a
/// second. Writing is not recorded while it runs: the write holds the writer's turn.
fn recorded(
    store: &Store,
    job: Uuid,
    progress: Arc<dyn Fn(Step) + Send + Sync>,
) -> Arc<dyn Fn(Step) + Send + Sync> {
    let store = store.clone();
    let runtime = tokio::runtime::Handle::current();
    let last = Mutex::new(None::<std::time::Instant>);
    Arc::new(move |step| {
        progress(step);
        let Step::Fetching(p) = step else { return };
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        let meta = json!({"step": "fetching", "received": p.received, "total": p.total});
        // Called on the fetch's blocking thread, never on the runtime's.
        if let Err(e) = runtime.block_on(store.job_progress(job, meta)) {
            tracing::warn!(error = %e, "sync progress not recorded");
        }
    })
}

async fn work(
    store: &Store,
    job: Uuid,
    id: Uuid,
    actor: &Actor,
    options: &SyncOptions,
    progress: Arc<dyn Fn(Step) + Send + Sync>,
    log: &mut Log,
) -> Result<Done, Failed> {
    let Some(record) = store.objects_where(repo::MODEL, &[("id", Datum::Uuid(id))]).await?.pop()
    else {
        return Err(Failed(format!("No Git repository matches {id}.")));
    };
    let name = record.text(fields::NAME).unwrap_or_default().to_owned();
    let (username, token) = credentials(store, &record, log).await?;
    let remote = Remote {
        url: record.text(fields::REMOTE_URL).unwrap_or_default().to_owned(),
        branch: record.text(fields::BRANCH).unwrap_or_default().to_owned(),
        username,
        token,
    };
    log.push(Entry::new(
        Level::Info,
        "fetch",
        format!("Fetching `{}` from {}", remote.branch, redacted(&remote.url)),
    ));
    let dir = options.data_dir.join(format!("{id}.git"));
    let (local, ssh) = (options.local, options.ssh.clone());
    let report = progress.clone();
    let fetched = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| FetchError::Remote(format!("cannot make {}: {e}", dir.display())))?;
        fetch::fetch(&dir, &remote, local, ssh.as_ref(), &mut |p| report(Step::Fetching(p)))
    })
    .await
    .map_err(|e| Failed(format!("the fetch stopped: {e}")))?;
    let fetched = fetched.map_err(|e| Failed(e.to_string()))?;
    log.push(Entry::new(
        Level::Info,
        "fetch",
        format!("{name}: the current Git repository hash is \"{}\"", fetched.commit),
    ));
    let provided = repo::read(&fetched.files).map_err(|r| Failed(r.to_string()))?;
    let contents: Vec<String> = record
        .json(fields::PROVIDED_CONTENTS)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let provides = |label: &str| contents.iter().any(|c| c == label);
    let provided = Provided {
        contexts: if provides(repo::CONTEXT) { provided.contexts } else { Vec::new() },
        local: if provides(repo::CONTEXT) { provided.local } else { Vec::new() },
        schemas: if provides(repo::SCHEMA) { provided.schemas } else { Vec::new() },
        templates: if provides(repo::TEMPLATE) { provided.templates } else { Vec::new() },
    };
    let objects = provided.contexts.len()
        + provided.local.len()
        + provided.schemas.len()
        + provided.templates.len();
    store
        .job_progress(job, json!({"step": "writing", "commit": fetched.commit, "objects": objects}))
        .await?;
    let mut write_options = WriteOptions::new(actor.clone(), "job", format!("{JOB_NAME}: {name}"));
    write_options.acting_for = Some(Owner { label: repo::MODEL.into(), id });
    let mut writer = store.writer(write_options).await?;
    let mut done = Done { commit: fetched.commit.clone(), ..Done::default() };
    let total = objects;
    let mut load = Load {
        catalogue: store.catalogue().clone(),
        writer: &mut writer,
        owner: id,
        log: Vec::new(),
        files: Vec::new(),
        done: &mut done,
        progress,
        total,
        written: 0,
    };
    let loaded = load.all(&provided, &fetched.commit).await;
    let (entries, files) = (std::mem::take(&mut load.log), std::mem::take(&mut load.files));
    let failed = match loaded {
        Ok(()) => match writer.commit().await {
            Ok(_) => {
                entries.into_iter().for_each(|e| log.push(e));
                return Ok(done);
            }
            Err(e) => located(e, &files),
        },
        Err(e) => {
            writer.rollback().await?;
            e
        }
    };
    Err(failed)
}

/// A failure of the write, named by the file of the operation it came from when the writer
/// says which (a conflict found when a batch is written).
fn located(e: StoreError, files: &[String]) -> Failed {
    match e.operation().and_then(|o| files.get(o)).filter(|f| !f.is_empty()) {
        Some(file) => Failed(format!("{file}: {}", store_message(&e))),
        None => Failed::from(e),
    }
}

/// The repository's HTTP(S) credentials from its secrets group: (user name, token).
async fn credentials(
    store: &Store,
    record: &Row,
    log: &mut Log,
) -> Result<(Option<String>, Option<String>), Failed> {
    let Some(group) = record.uuid(fields::SECRETS_GROUP) else { return Ok((None, None)) };
    let associations = store
        .objects_where(
            secret::GROUP_ASSOCIATION,
            &[
                (secret::fields::SECRETS_GROUP, Datum::Uuid(group)),
                (secret::fields::ACCESS_TYPE, Datum::text(secret::HTTP)),
            ],
        )
        .await?;
    let value_of = async |secret_type: &str| -> Result<Option<String>, Failed> {
        let Some(association) =
            associations.iter().find(|a| a.text(secret::fields::SECRET_TYPE) == Some(secret_type))
        else {
            return Ok(None);
        };
        let Some(secret_id) = association.uuid(secret::fields::SECRET) else { return Ok(None) };
        let Some(secret) =
            store.objects_where(secret::SECRET, &[("id", Datum::Uuid(secret_id))]).await?.pop()
        else {
            return Ok(None);
        };
        let secret_name = secret.text(secret::fields::NAME).unwrap_or_default().to_owned();
        let fail = |reason: String| Failed(format!("Secret `{secret_name}`: {reason}"));
        let source = secret::source(
            secret.text(secret::fields::PROVIDER).unwrap_or_default(),
            secret.json(secret::fields::PARAMETERS).unwrap_or(&Json::Null),
        )
        .map_err(fail)?;
        let value = match source {
            secret::Source::Environment(variable) => std::env::var(&variable)
                .map_err(|_| fail(format!("the environment variable `{variable}` is not set")))?,
            secret::Source::File(path) => tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| fail(format!("cannot read `{path}`: {e}")))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        };
        Ok(Some(value))
    };
    let token = value_of(secret::TOKEN).await?;
    let username = value_of(secret::USERNAME).await?;
    if token.is_none() {
        log.push(Entry::new(
            Level::Warning,
            "fetch",
            "The secrets group has no HTTP(S) token; fetching without credentials.",
        ));
    }
    Ok((username, token))
}

/// The files of the commit the repository named `name` was last synced to, with its id: read
/// from this process's clone when asked for, fetched first when the clone lacks the commit (another
/// process synced it), as Nautobot's `ensure_git_repository` does.
pub async fn head_files(
    store: &Store,
    name: &str,
    options: &SyncOptions,
) -> Result<(Uuid, fetch::CommitFiles), String> {
    let found = store
        .objects_where(repo::MODEL, &[(fields::NAME, Datum::text(name))])
        .await
        .map_err(|e| store_message(&e))?;
    let Some((record, id)) = found.into_iter().find_map(|r| Some((r.clone(), r.id()?))) else {
        return Err(format!("No Git repository named {name:?}."));
    };
    let head = record.text(repo::CURRENT_HEAD).unwrap_or_default().to_owned();
    if head.is_empty() {
        return Err(format!("The Git repository {name:?} has not been synced yet."));
    }
    let dir = options.data_dir.join(format!("{id}.git"));
    let read = |dir: PathBuf, head: String| {
        tokio::task::spawn_blocking(move || fetch::commit_files(&dir, &head))
    };
    let files = read(dir.clone(), head.clone()).await.map_err(|e| e.to_string())?;
    if let Some(files) = files.map_err(|e| e.to_string())? {
        return Ok((id, files));
    }
    let mut log = Log::default();
    let (username, token) = credentials(store, &record, &mut log).await.map_err(|f| f.0)?;
    let remote = Remote {
        url: record.text(fields::REMOTE_URL).unwrap_or_default().to_owned(),
        branch: record.text(fields::BRANCH).unwrap_or_default().to_owned(),
        username,
        token,
    };
    let (local, ssh, fetch_dir) = (options.local, options.ssh.clone(), dir.clone());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&fetch_dir)
            .map_err(|e| FetchError::Remote(format!("cannot make {}: {e}", fetch_dir.display())))?;
        fetch::fetch(&fetch_dir, &remote, local, ssh.as_ref(), &mut |_| {})
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    match read(dir, head.clone()).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())? {
        Some(files) => Ok((id, files)),
        None => Err(format!(
            "The commit {head} of {name:?} is no longer on its branch; sync the repository again."
        )),
    }
}

/// A URL as it may be logged: without its user part.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn model_of<'c>(catalogue: &'c Catalogue, label: &str) -> Result<&'c Model, Failed> {
    catalogue.by_label(label).ok_or_else(|| Failed(format!("no model {label}")))
}

/// One sync's write: what the repository provides, on its behalf.
struct Load<'w, 's> {
    catalogue: Arc<Catalogue>,
    writer: &'w mut Writer<'s>,
    owner: Uuid,
    /// What the write did, logged once it has committed.
    log: Vec<Entry>,
    /// The file each of the write's operations came from, by operation number.
    files: Vec<String>,
    done: &'w mut Done,
    progress: Arc<dyn Fn(Step) + Send + Sync>,
    total: usize,
    written: usize,
}

impl Load<'_, '_> {
    async fn all(&mut self, provided: &Provided, commit: &str) -> Result<(), Failed> {
        // Schemas first: contexts name them.
        let schemas: Vec<_> =
            provided.schemas.iter().map(|s| (vec![s.name.clone()], s.input(), &s.file)).collect();
        self.objects(repo::SCHEMA, "config context schemas", &[repo::NAME], schemas).await?;
        let contexts: Vec<_> =
            provided.contexts.iter().map(|c| (vec![c.name.clone()], c.input(), &c.file)).collect();
        self.objects(repo::CONTEXT, "config contexts", &[repo::NAME], contexts).await?;
        let templates: Vec<_> = provided
            .templates
            .iter()
            .map(|t| (vec![t.content_type.clone(), t.name.clone()], t.input(), &t.file))
            .collect();
        use ferrobot_domain::export_template::fields as template;
        self.objects(
            repo::TEMPLATE,
            "export templates",
            &[template::CONTENT_TYPE, template::NAME],
            templates,
        )
        .await?;
        for label in [repo::DEVICE, repo::VIRTUAL_MACHINE] {
            let local: Vec<_> = provided.local.iter().filter(|l| l.model() == label).collect();
            self.local_data(label, &local).await?;
        }
        let catalogue = self.catalogue.clone();
        let model = model_of(&catalogue, repo::MODEL)?;
        let mut patch = Map::new();
        patch.insert(repo::CURRENT_HEAD.into(), commit.into());
        self.operation("");
        self.writer
            .update(model, &Json::String(self.owner.to_string()), &patch)
            .await
            .map_err(|e| located(e, &self.files))?;
        // Batched rows are written now, so that what the database refuses names its file.
        self.writer.settle().await.map_err(|e| located(e, &self.files))?;
        Ok(())
    }

    /// Starts the write's next operation, from `file`.
    fn operation(&mut self, file: &str) {
        self.writer.begin_operation(self.files.len());
        self.files.push(file.to_owned());
    }

    fn step(&mut self) {
        self.written += 1;
        (self.progress)(Step::Writing { done: self.written, total: self.total });
    }

    /// How rows of `model` are owned, and those the repository owns.
    async fn held(
        &mut self,
        model: &Model,
    ) -> Result<(&'static owner::Ownership, Vec<Row>), Failed> {
        let own = model
            .behaviour
            .owned
            .ok_or_else(|| Failed(format!("{} cannot be owned", model.label)))?;
        let owned_by =
            [(own.type_field, Datum::text(repo::MODEL)), (own.id_field, Datum::Uuid(self.owner))];
        Ok((own, self.writer.objects_where(model, &owned_by).await?))
    }

    /// Makes the rows of `label` the repository owns exactly `wanted` (key, input, file): new
    /// keys are created, known ones updated, the others deleted.
    async fn objects(
        &mut self,
        label: &'static str,
        grouping: &str,
        key_fields: &[&str],
        wanted: Vec<(Vec<String>, Map<String, Json>, &String)>,
    ) -> Result<(), Failed> {
        let catalogue = self.catalogue.clone();
        let model = model_of(&catalogue, label)?;
        let (own, held) = self.held(model).await?;
        let key_of = |row: &Row| -> Vec<String> {
            key_fields.iter().map(|f| row.text(f).unwrap_or_default().to_owned()).collect()
        };
        let mut held: BTreeMap<Vec<String>, Uuid> =
            held.iter().filter_map(|r| Some((key_of(r), r.id()?))).collect();
        for (key, mut input, file) in wanted {
            let shown = key.join(" ");
            self.operation(file);
            let files = &self.files;
            let failed = |e: StoreError| match e.operation().and_then(|o| files.get(o)) {
                Some(other) if other != file && !other.is_empty() => located(e, files),
                _ => Failed(format!("{file}: {}", store_message(&e))),
            };
            match held.remove(&key) {
                Some(id) => {
                    let outcome = self
                        .writer
                        .update(model, &Json::String(id.to_string()), &input)
                        .await
                        .map_err(failed)?;
                    if outcome.action.is_some() {
                        self.done.count(label, UPDATED);
                        self.log.push(
                            Entry::new(
                                Level::Success,
                                grouping,
                                format!("Updated {} `{shown}` from {file}", model.verbose_name),
                            )
                            .about(shown.clone()),
                        );
                    } else {
                        self.done.count(label, UNCHANGED);
                    }
                }
                None => {
                    input.insert(own.type_field.into(), repo::MODEL.into());
                    input.insert(own.id_field.into(), self.owner.to_string().into());
                    self.writer.create(model, &input).await.map_err(failed)?;
                    self.done.count(label, CREATED);
                    self.log.push(
                        Entry::new(
                            Level::Success,
                            grouping,
                            format!("Created {} `{shown}` from {file}", model.verbose_name),
                        )
                        .about(shown.clone()),
                    );
                }
            }
            self.step();
        }
        for (key, id) in held {
            self.operation("");
            self.writer.delete(model, &Json::String(id.to_string())).await?;
            self.done.count(label, DELETED);
            let shown = key.join(" ");
            self.log.push(
                Entry::new(
                    Level::Success,
                    grouping,
                    format!(
                        "Deleted {} `{shown}`: the repository no longer has it",
                        model.verbose_name
                    ),
                )
                .about(shown),
            );
        }
        Ok(())
    }

    /// Makes the local config context data the repository owns on objects of `label` exactly
    /// `wanted`: named objects get theirs, the others it held are cleared.
    async fn local_data(
        &mut self,
        label: &'static str,
        wanted: &[&repo::Local],
    ) -> Result<(), Failed> {
        let catalogue = self.catalogue.clone();
        let model = model_of(&catalogue, label)?;
        let (own, held) = self.held(model).await?;
        let mut held: BTreeMap<String, Uuid> =
            held.iter().filter_map(|r| Some((r.text(repo::NAME)?.to_owned(), r.id()?))).collect();
        let data_field = own.fields.first().copied().unwrap_or_default();
        for local in wanted {
            self.operation(&local.file);
            let files = &self.files;
            let failed = |e: StoreError| match e.operation().and_then(|o| files.get(o)) {
                Some(other) if *other != local.file && !other.is_empty() => located(e, files),
                _ => Failed(format!("{}: {}", local.file, store_message(&e))),
            };
            let target = match held.remove(&local.name) {
                Some(id) => Json::String(id.to_string()),
                None => json!({ repo::NAME: local.name }),
            };
            let mut patch = Map::new();
            patch.insert(data_field.into(), local.data.clone());
            patch.insert(own.type_field.into(), repo::MODEL.into());
            patch.insert(own.id_field.into(), self.owner.to_string().into());
            let outcome = self.writer.update(model, &target, &patch).await.map_err(failed)?;
            let what = if outcome.action.is_some() { UPDATED } else { UNCHANGED };
            self.done.count(label, what);
            if outcome.action.is_some() {
                self.log.push(
                    Entry::new(
                        Level::Success,
                        "local config contexts",
                        format!(
                            "Updated the local config context data of {} `{}` from {}",
                            model.verbose_name, local.name, local.file
                        ),
                    )
                    .about(local.name.clone()),
                );
            }
            self.step();
        }
        for (name, id) in held {
            let mut patch = Map::new();
            for field in own.fields.iter().chain([&own.type_field, &own.id_field]) {
                patch.insert((*field).into(), Json::Null);
            }
            self.operation("");
            self.writer.update(model, &Json::String(id.to_string()), &patch).await?;
            self.done.count(label, DELETED);
            self.log.push(
                Entry::new(Level::Success, "local config contexts", format!("Cleared the local config context data of {} `{name}`: the repository no longer has it", model.verbose_name))
                    .about(name),
            );
        }
        Ok(())
    }
}
