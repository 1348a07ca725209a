//! The `ferrobot` binary: a thin layer over the crates, configured from a settings file, flags
//! and environment ([`config`]).

mod config;
mod telemetry;

/// jemalloc gives freed memory back to the system: its background threads purge pages left
/// idle for about ten seconds, where glibc's allocator kept an idle server at the peak of its
/// largest answers.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ferrobot_domain::Catalogue;
use ferrobot_gateway::{auth, AppState, Config};
use ferrobot_persistence::import;
use ferrobot_persistence::Store;

#[derive(Parser)]
#[command(name = "ferrobot", version, about = "A network source of truth with a GraphQL API")]
struct Cli {
    /// Database URL: sqlite://PATH, postgres://…, mysql://… [default: sqlite://data/ferrobot.sqlite3]
    #[arg(long, global = true, env = "FERROBOT_DATABASE_URL")]
    database_url: Option<String>,
    /// A TOML settings file; flags and environment variables win over it.
    #[arg(long, global = true, env = "FERROBOT_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines as text or as JSON objects [default: text].
    #[arg(long, global = true, env = "FERROBOT_LOG_FORMAT")]
    log_format: Option<config::LogFormat>,
    /// Export traces to this OTLP/HTTP collector (`http://collector:4318`) [default: none].
    #[arg(long, global = true, env = "FERROBOT_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    #[command(flatten)]
    database: config::DatabaseFlags,
    /// Where Git repositories are fetched to [default: data/git].
    #[arg(long, global = true, env = "FERROBOT_GIT_DIR")]
    git_dir: Option<PathBuf>,
    /// The ssh client that ssh remotes are fetched through, split at spaces
    /// (`ssh -i /etc/ferrobot/key`) [default: ssh].
    #[arg(long, global = true, env = "FERROBOT_GIT_SSH_COMMAND")]
    git_ssh_command: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API.
    Serve {
        #[command(flatten)]
        flags: Box<config::ServeFlags>,
        /// Write no change-log rows (only to measure what they cost: the change feed and every
        /// object's `object_changes` then miss these writes).
        #[arg(long, hide = true)]
        no_change_log: bool,
    },
    /// Apply pending migrations.
    Migrate,
    /// Create a superuser.
    Createsuperuser {
        #[arg(long)]
        username: String,
        #[arg(long, env = "FERROBOT_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// A user that may do only what its object permissions allow (none yet: it sees nothing).
    Createuser {
        #[arg(long)]
        username: String,
        #[arg(long, env = "FERROBOT_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load objects from YAML or JSON files (`.json`: JSON; anything else: YAML), read as a
    /// stream and written in one transaction.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The user the objects are written as: the change log names it and its object
        /// permissions are checked (by default `import`, which may write anything).
        #[arg(long)]
        user: Option<String>,
        /// Commit after every N objects instead of once at the end; a failure says how many
        /// objects are in, to pass to --skip when the import is run again.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        chunk: Option<u64>,
        /// Pass over the first N objects of the files (those an earlier chunked run committed).
        #[arg(long, value_name = "N", default_value_t = 0)]
        skip: u64,
    },
    /// Write every object in the import format (JSON, or YAML with --yaml), as it is read.
    Export {
        #[arg(long)]
        yaml: bool,
    },
    /// The GraphQL schema.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Intended configurations for the fleet: the query runs once for every device the filter
    /// selects, the template is compiled once, one file per device (or, without --out, one
    /// JSON line per device on stdout).
    Render(Box<RenderArgs>),
    /// Git repositories as data sources.
    Git {
        #[command(subcommand)]
        command: GitCommand,
    },
}

#[derive(Subcommand)]
enum GitCommand {
    /// Fetch a repository's branch and load what it provides, in one transaction, as the API's
    /// `git_repository_sync` does; the job result and its log are kept as for that sync.
    Sync {
        /// The repository's name (or id).
        name: String,
        /// The user the sync runs as (the change log names it); `git` by default.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a user and print its key (shown once, stored hashed).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Days until the token expires; never by default.
        #[arg(long)]
        expires_days: Option<i64>,
        /// A token that reads but cannot write (Nautobot's `write_enabled: false`).
        #[arg(long)]
        read_only: bool,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Print the SDL (as committed in schema/schema.graphql).
    Export,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let file = config::File::read(cli.config.as_deref())?;
    let format = cli.log_format.or(file.log_format).unwrap_or(config::LogFormat::Text);
    let endpoint = cli.otlp_endpoint.clone().or_else(|| file.telemetry.otlp_endpoint.clone());
    let traces = telemetry::init(format, endpoint.as_deref())?;
    let database_url = cli
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| "sqlite://data/ferrobot.sqlite3".into());
    let patient = !matches!(cli.command, Command::Serve { .. });
    let store_options = config::store_options(&cli.database, &file, patient)?;
    let started = Instant::now();
    let catalogue = Arc::new(Catalogue::core().context("the core catalogue is invalid")?);
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "catalogue resolved");
    if let Command::Schema { command: SchemaCommand::Export } = &cli.command {
        let served = ferrobot_gateway::build_schema(catalogue, Default::default())
            .map_err(anyhow::Error::msg)?;
        print(&ferrobot_gateway::schema::sdl(&served));
        return Ok(());
    }
    let store = Store::connect_with(&database_url, catalogue, &store_options)
        .await
        .context("connect to the database")?;
    let applied = ferrobot_migrations::migrate(&store).await.context("migrate")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let git = ferrobot_git::SyncOptions {
        data_dir: cli
            .git_dir
            .clone()
            .or_else(|| file.git.dir.clone())
            .unwrap_or_else(|| PathBuf::from("data/git")),
        // Whoever runs a command holds the server's disk and keys: local and ssh repositories may
        // be synced (`serve` lets API users do so only when configured to).
        local: ferrobot_git::Local::Allowed,
        ssh: Some(match cli.git_ssh_command.clone().or_else(|| file.git.ssh_command.clone()) {
            Some(line) => ferrobot_git::ssh::Command::parse(&line)
                .map_err(anyhow::Error::msg)
                .context("git ssh_command")?,
            None => ferrobot_git::ssh::Command::default(),
        }),
    };
    match cli.command {
        Command::Serve { flags, no_change_log } => {
            let settings = config::Serve::resolve(*flags, &file)?;
            let bind = settings.bind;
            let secret = match settings.jwt_secret {
                Some(s) => s,
                None => local_secret(&database_url)?,
            };
            let config = Config {
                jwt_lifetime: chrono::Duration::minutes(settings.jwt_minutes),
                change_log: !no_change_log,
                body_limit: settings.body_limit,
                request_timeout: settings.request_timeout,
                cors_origins: settings.cors_origins,
                login_attempts_per_minute: settings.login_attempts_per_minute,
                limits: settings.limits,
                base_url: settings.base_url,
                read_window: settings.read_window,
                trusted_proxies: settings.trusted_proxies,
                feed_poll: settings.feed_poll,
                webhooks: settings.webhooks.clone(),
                job_results_keep: settings.job_results_keep,
                git: ferrobot_git::SyncOptions {
                    local: if settings.git_local_remotes {
                        ferrobot_git::Local::Allowed
                    } else {
                        ferrobot_git::Local::Refused
                    },
                    ssh: git.ssh.clone().filter(|_| settings.git_ssh_remotes),
                    ..git.clone()
                },
                ..Config::new(secret)
            };
            let state = AppState::new(store, config).await.map_err(anyhow::Error::msg)?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "catalogue resolved and schema built"
            );
            let _reloader = state.spawn_reloader();
            let _housekeeping = state.spawn_housekeeping();
            let _feed = state.spawn_feed();
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("bind {bind}"))?;
            tracing::info!(database = %redacted(&database_url), "data lives here");
            tracing::info!("get a token: ferrobot createsuperuser --username admin --password …; ferrobot token create --user admin");
            tracing::info!("listening on http://{bind}/api/graphql/");
            // A stop (SIGTERM from Docker, systemd or Kubernetes, or Ctrl-C) stops accepting
            // connections, turns /ready to 503 and lets in-flight requests finish, for at most
            // the drain time.
            let stopping = Arc::new(tokio::sync::Notify::new());
            let signalled = stopping.clone();
            let draining = state.clone();
            let server = ferrobot_gateway::serve(listener, state, async move {
                stop_signal().await;
                tracing::info!("stopping: draining in-flight requests");
                draining.drain();
                signalled.notify_one();
            });
            let drain = settings.drain;
            tokio::select! {
                served = server => served.context("serve")?,
                () = async { stopping.notified().await; tokio::time::sleep(drain).await } => {
                    tracing::warn!(seconds = drain.as_secs(), "drain time over: requests still in flight were cut");
                }
            }
            tracing::info!("stopped");
        }
        Command::Migrate => {
            tracing::info!(count = applied.len(), "migrations up to date");
        }
        Command::Createsuperuser { username, password } => {
            create_user(&store, &username, &password, true).await?;
        }
        Command::Createuser { username, password } => {
            create_user(&store, &username, &password, false).await?;
        }
        Command::Token {
            command: TokenCommand::Create { user, description, expires_days, read_only },
        } => {
            let Some(user) = store.user_by_name(&user).await? else {
                bail!("no user named {user}")
            };
            let key = auth::new_token_key();
            let expires = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d));
            let digest = auth::token_digest(&key);
            store.create_token_with(user.id, &digest, expires, &description, !read_only).await?;
            print(&key);
        }
        Command::Import { files, user, chunk, skip } => {
            // A named user imports with its object permissions; the command line's own
            // `import` actor may do everything (whoever runs it holds the database).
            let (actor, permissions) = match user {
                Some(name) => match store.user_by_name(&name).await? {
                    Some(u) if !u.is_active => bail!("the user {name} is not active"),
                    Some(u) => {
                        let permissions = store.permissions(&u).await?;
                        let actor = ferrobot_persistence::write::Actor {
                            user_id: Some(u.id),
                            user_name: u.username,
                        };
                        (actor, Some(permissions))
                    }
                    None => bail!("no user named {name}"),
                },
                None => (import::import_actor(), None),
            };
            let mut total = 0;
            for path in &files {
                total += std::fs::metadata(path)
                    .with_context(|| format!("read {}", path.display()))?
                    .len();
            }
            // The bar follows the bytes read; the objects written are its message.
            let read = Arc::new(AtomicU64::new(0));
            let feed = import::read::spawn_files(files, read.clone());
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} ({eta}) {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let progress = |n: u64| {
                bar.set_position(read.load(Ordering::Relaxed));
                bar.set_message(format!("{n} objects"));
            };
            let options = import::ImportOptions { actor, chunk, skip, permissions };
            let stats = store.import_feed(feed, options, &progress).await?;
            bar.finish();
            tracing::info!(
                objects = stats.objects,
                skipped = stats.skipped,
                commits = stats.commits,
                statements = store.statements(),
                "import committed"
            );
        }
        Command::Export { yaml } => {
            let format =
                if yaml { import::export::Format::Yaml } else { import::export::Format::Json };
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            let objects = store.export_to(&mut out, format).await?;
            tracing::info!(objects, "exported");
        }
        Command::Schema { .. } => {}
        Command::Render(args) => render(store, git, *args).await?,
        Command::Git { command: GitCommand::Sync { name, user } } => {
            git_sync(&store, &name, user, &git).await?;
        }
    }
    telemetry::finish(traces).await;
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "SIGTERM is not handled");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// A database URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Writes to stdout (the binary's output, not a log line).
#[allow(clippy::print_stdout)]
fn print(text: &str) {
    println!("{text}");
}

/// A JWT secret kept beside the SQLite file (created once), or an error for other backends.
fn local_secret(url: &str) -> Result<String> {
    let Some(path) = url.strip_prefix("sqlite://").and_then(|p| p.split('?').next()) else {
        bail!("set FERROBOT_JWT_SECRET (or --jwt-secret) when the database is not a SQLite file");
    };
    let dir = PathBuf::from(path).parent().map(PathBuf::from).unwrap_or_default();
    let file = dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&file) {
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(&dir).ok();
    let secret = auth::new_token_key() + &auth::new_token_key();
    std::fs::write(&file, &secret).with_context(|| format!("write {}", file.display()))?;
    Ok(secret)
}

/// Makes a user with this password: a superuser, or one with no permissions yet.
async fn create_user(
    store: &ferrobot_persistence::Store,
    username: &str,
    password: &str,
    superuser: bool,
) -> anyhow::Result<()> {
    if store.user_by_name(username).await?.is_some() {
        bail!("user {username} exists already");
    }
    let hash = auth::hash_password(password).map_err(anyhow::Error::msg)?;
    store.create_user(username, &hash, superuser).await?;
    tracing::info!(%username, superuser, "user created");
    Ok(())
}

/// `ferrobot git sync NAME`: the sync, with a progress bar for the fetch and the write.
async fn git_sync(
    store: &Store,
    name: &str,
    user: Option<String>,
    options: &ferrobot_git::SyncOptions,
) -> Result<()> {
    use ferrobot_domain::value::Datum;
    let label = ferrobot_domain::git_repository::MODEL;
    let mut found = store
        .objects_where(label, &[(ferrobot_domain::git_repository::fields::NAME, Datum::text(name))])
        .await?;
    if found.is_empty() {
        if let Ok(id) = uuid::Uuid::parse_str(name) {
            found = store.objects_where(label, &[("id", Datum::Uuid(id))]).await?;
        }
    }
    let Some(id) = found.first().and_then(|r| r.id()) else {
        bail!("no Git repository named {name}")
    };
    let actor = match user {
        Some(user) => match store.user_by_name(&user).await? {
            Some(u) => {
                ferrobot_persistence::write::Actor { user_id: Some(u.id), user_name: u.username }
            }
            None => bail!("no user named {user}"),
        },
        None => ferrobot_persistence::write::Actor { user_id: None, user_name: "git".into() },
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:12} {bar:40} {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let progress = Arc::new(move |step: ferrobot_git::sync::Step| match step {
        ferrobot_git::sync::Step::Fetching(p) => {
            shown.set_message("fetching");
            shown.set_length(p.total as u64);
            shown.set_position(p.received as u64);
        }
        ferrobot_git::sync::Step::Writing { done, total } => {
            shown.set_message("writing");
            shown.set_length(total as u64);
            shown.set_position(done as u64);
        }
    });
    let synced = ferrobot_git::sync(store, id, &actor, options, progress).await?;
    bar.finish_and_clear();
    match synced.status {
        ferrobot_domain::job::Status::Success => {
            tracing::info!(job = %synced.job, commit = synced.commit.as_deref().unwrap_or_default(), result = %synced.result, "synced");
            Ok(())
        }
        _ => bail!(
            "the sync failed (job result {}): {}",
            synced.job,
            synced.result.get("error").and_then(|e| e.as_str()).unwrap_or_default()
        ),
    }
}

#[derive(clap::Args)]
struct RenderArgs {
    /// The GraphQL query, in a file (`device(id: $device_id) {…}` as Golden Config has it,
    /// or a list).
    #[arg(long, conflicts_with = "saved_query", required_unless_present = "saved_query")]
    query_file: Option<PathBuf>,
    /// A saved query, by name or id.
    #[arg(long)]
    saved_query: Option<String>,
    /// The list's filter, `argument=value`, as many as needed (`--filter location=ams01`).
    #[arg(long = "filter", value_name = "ARG=VALUE")]
    filters: Vec<String>,
    /// The Git repository the template is a file of (synced).
    #[arg(long, requires = "template", conflicts_with = "template_file")]
    repository: Option<String>,
    /// The template's path in the repository; may be a template over the device's data
    /// (`templates/{{ platform.network_driver }}.j2`).
    #[arg(long)]
    template: Option<String>,
    /// A template file instead of a repository's.
    #[arg(long, required_unless_present = "repository")]
    template_file: Option<PathBuf>,
    /// The directory the configurations are written to, one `<device name>.<extension>` each.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "cfg")]
    extension: String,
    /// The user the query runs as (its object permissions apply); everything by default.
    #[arg(long)]
    user: Option<String>,
}

/// `ferrobot render`: the fleet render of the API's `POST /api/render/`, in this process.
async fn render(store: Store, git: ferrobot_git::SyncOptions, args: RenderArgs) -> Result<()> {
    use ferrobot_gateway::fleet::{self, TemplateSource};
    let (actor, permissions) = match &args.user {
        Some(name) => match store.user_by_name(name).await? {
            Some(u) => {
                let permissions = store.permissions(&u).await?;
                (
                    ferrobot_persistence::write::Actor {
                        user_id: Some(u.id),
                        user_name: u.username,
                    },
                    permissions,
                )
            }
            None => bail!("no user named {name}"),
        },
        None => (
            ferrobot_persistence::write::Actor { user_id: None, user_name: "render".into() },
            Arc::new(ferrobot_domain::permission::Permissions::superuser(uuid::Uuid::nil())),
        ),
    };
    let query = match (&args.query_file, &args.saved_query) {
        (Some(path), _) => {
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
        }
        (None, Some(key)) => {
            let which = ferrobot_persistence::saved::Which::Key(key.clone());
            match store.saved_queries(&permissions, &which).await?.1.into_iter().next() {
                Some(saved) => saved.query,
                None => bail!("no saved query {key}"),
            }
        }
        (None, None) => bail!("give --query-file or --saved-query"),
    };
    let mut filter = serde_json::Map::new();
    for item in &args.filters {
        let Some((key, value)) = item.split_once('=') else {
            bail!("--filter {item}: write it as argument=value")
        };
        let values = filter.entry(key.to_owned()).or_insert_with(|| serde_json::json!([]));
        if let Some(list) = values.as_array_mut() {
            list.push(serde_json::Value::String(value.to_owned()));
        }
    }
    let template = match (&args.repository, &args.template, &args.template_file) {
        (Some(name), Some(path), _) => {
            TemplateSource::Repository { name: name.clone(), path: path.clone() }
        }
        (_, _, Some(file)) => TemplateSource::Code(
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?,
        ),
        _ => bail!("give --repository with --template, or --template-file"),
    };
    let mut config = Config::new(String::new());
    config.git = git;
    let state = AppState::new(store, config).await.map_err(anyhow::Error::msg)?;
    let job = fleet::Render { query, operation_name: None, variables: None, filter, template };
    let prepared = match fleet::prepare(&state, actor, permissions, job).await {
        Ok(prepared) => prepared,
        Err(fleet::Refused::Invalid(errors)) => {
            bail!("the render was refused: {}", serde_json::Value::Array(errors))
        }
        Err(fleet::Refused::Busy(m) | fleet::Refused::Internal(m)) => {
            bail!("the render failed: {m}")
        }
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("make {}", dir.display()))?;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} devices rendered ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let runtime = tokio::runtime::Handle::current();
    let (out, extension, shown) = (args.out.clone(), args.extension.clone(), bar.clone());
    let written = tokio::task::spawn_blocking(
        move || -> Result<(ferrobot_gateway::fleet::Summary, usize)> {
            let mut seen = std::collections::HashSet::new();
            let mut failure: Option<anyhow::Error> = None;
            let mut files = 0;
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            let summary = prepared.stream(
                &mut |rendered| {
                    shown.inc(1);
                    let result = match &out {
                        Some(dir) => write_config(dir, &extension, &rendered, &mut seen)
                            .map(|wrote| files += usize::from(wrote)),
                        None => serde_json::to_writer(&mut stdout, &rendered)
                            .map_err(anyhow::Error::from)
                            .and_then(|()| {
                                std::io::Write::write_all(&mut stdout, b"\n")
                                    .map_err(anyhow::Error::from)
                            }),
                    };
                    match result {
                        Ok(()) => true,
                        Err(e) => {
                            failure = Some(e);
                            false
                        }
                    }
                },
                runtime,
            );
            std::io::Write::flush(&mut stdout)?;
            match failure {
                Some(e) => Err(e),
                None => Ok((summary, files)),
            }
        },
    )
    .await??;
    bar.finish_and_clear();
    let (summary, files) = written;
    tracing::info!(
        devices = summary.devices,
        rendered = summary.rendered,
        failed = summary.failed,
        files,
        job_result = %summary.job_result,
        "rendered"
    );
    if !summary.errors.is_empty() {
        bail!("the query answered with errors: {}", serde_json::Value::Array(summary.errors));
    }
    Ok(())
}

/// Writes one device's configuration as `<name>.<extension>` in `dir` (through a temporary
/// file, so a reader never sees half of one); a device that failed is logged, not written.
fn write_config(
    dir: &std::path::Path,
    extension: &str,
    rendered: &ferrobot_gateway::fleet::Rendered,
    seen: &mut std::collections::HashSet<String>,
) -> Result<bool> {
    let Some(config) = &rendered.config else {
        tracing::warn!(
            device = rendered.name.as_deref().unwrap_or_default(),
            error = rendered.error.as_deref().unwrap_or_default(),
            "not rendered"
        );
        return Ok(false);
    };
    let base: String = rendered
        .name
        .as_deref()
        .or(rendered.id.as_deref())
        .unwrap_or("device")
        .chars()
        .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    let base = base.trim_start_matches('.').to_owned();
    // Two devices of one name (in two locations) keep both files.
    let stem = if seen.insert(base.clone()) {
        base
    } else {
        format!("{base}-{}", rendered.id.as_deref().unwrap_or_default())
    };
    let path = dir.join(format!("{stem}.{extension}"));
    let partial = dir.join(format!(".{stem}.{extension}.partial"));
    std::fs::write(&partial, config).with_context(|| format!("write {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(true)
}
