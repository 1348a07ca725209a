//! Settings of `ferrobot serve`: a TOML file (`--config`, `FERROBOT_CONFIG`), flags and
//! environment variables. A flag (or its variable) wins over the file, the file over the
//! built-in default. Every value is checked here, once, with the setting named.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub(crate) database_url: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
    #[serde(default)]
    pub(crate) server: ServerFile,
    #[serde(default)]
    pub(crate) auth: AuthFile,
    #[serde(default)]
    pub(crate) database: DatabaseFile,
    #[serde(default)]
    pub(crate) telemetry: TelemetryFile,
    #[serde(default)]
    pub(crate) limits: LimitsFile,
    #[serde(default)]
    pub(crate) git: GitFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GitFile {
    /// Where repositories are fetched to.
    pub(crate) dir: Option<std::path::PathBuf>,
    /// Whether the API may sync local repositories (`file://` and paths on the server).
    pub(crate) local_remotes: Option<bool>,
    /// The ssh client that ssh remotes are fetched through (`ssh -i /etc/ferrobot/key`).
    pub(crate) ssh_command: Option<String>,
    /// Whether the API may sync ssh remotes.
    pub(crate) ssh_remotes: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    pub(crate) max_depth: Option<usize>,
    pub(crate) max_aliases: Option<usize>,
    pub(crate) max_cost: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelemetryFile {
    /// An OTLP/HTTP collector (`http://collector:4318`): traces are exported there when set.
    pub(crate) otlp_endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerFile {
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) drain_seconds: Option<u64>,
    pub(crate) body_limit: Option<usize>,
    pub(crate) request_timeout_seconds: Option<u64>,
    pub(crate) cors_origins: Option<Vec<String>>,
    pub(crate) base_url: Option<String>,
    pub(crate) read_window: Option<usize>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) feed_poll_ms: Option<u64>,
    pub(crate) webhook_allowed_networks: Option<Vec<String>>,
    pub(crate) webhook_backoff_ms: Option<u64>,
    pub(crate) webhook_max_backoff_ms: Option<u64>,
    pub(crate) webhook_attempts: Option<u32>,
    pub(crate) webhook_timeout_ms: Option<u64>,
    pub(crate) webhook_keep_days: Option<u64>,
    pub(crate) job_results_keep_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthFile {
    pub(crate) jwt_secret: Option<String>,
    pub(crate) jwt_minutes: Option<i64>,
    pub(crate) login_attempts_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseFile {
    pub(crate) readers: Option<u32>,
    pub(crate) write_wait_ms: Option<u64>,
    pub(crate) read_wait_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

impl File {
    /// Reads the file, or the empty settings when no file is named.
    pub(crate) fn read(path: Option<&Path>) -> Result<File> {
        let Some(path) = path else { return Ok(File::default()) };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }
}

/// What `serve` runs with, every value resolved and checked.
#[derive(Debug, Clone)]
pub(crate) struct Serve {
    pub(crate) bind: SocketAddr,
    pub(crate) jwt_secret: Option<String>,
    pub(crate) jwt_minutes: i64,
    pub(crate) drain: Duration,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) login_attempts_per_minute: u32,
    pub(crate) limits: ferrobot_gateway::limits::Limits,
    pub(crate) base_url: String,
    pub(crate) read_window: usize,
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    pub(crate) feed_poll: Duration,
    pub(crate) webhooks: ferrobot_gateway::webhook::Settings,
    pub(crate) git_local_remotes: bool,
    pub(crate) git_ssh_remotes: bool,
    pub(crate) job_results_keep: Duration,
}

/// The flags of `serve`, as clap read them (flag or environment); `None` when neither is set.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServeFlags {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FERROBOT_BIND")]
    pub(crate) bind: Option<SocketAddr>,
    /// Secret for signing JWTs; by default one is generated and kept beside a SQLite file.
    #[arg(long, env = "FERROBOT_JWT_SECRET", hide_env_values = true)]
    pub(crate) jwt_secret: Option<String>,
    /// Lifetime of issued JWTs, in minutes, 1 to 5,256,000 (ten years) [default: 60].
    #[arg(long, env = "FERROBOT_JWT_MINUTES", allow_negative_numbers = true)]
    pub(crate) jwt_minutes: Option<i64>,
    /// How long a stop (SIGTERM, Ctrl-C) waits for in-flight requests, in seconds [default: 30].
    #[arg(long, env = "FERROBOT_DRAIN_SECONDS")]
    pub(crate) drain_seconds: Option<u64>,
    /// The largest request body, in bytes [default: 67108864].
    #[arg(long, env = "FERROBOT_BODY_LIMIT")]
    pub(crate) body_limit: Option<usize>,
    /// How long one request may take, in seconds [default: 300].
    #[arg(long, env = "FERROBOT_REQUEST_TIMEOUT_SECONDS")]
    pub(crate) request_timeout_seconds: Option<u64>,
    /// Origins browsers may call the API from, comma-separated (`*`: any) [default: none].
    #[arg(long, env = "FERROBOT_CORS_ORIGINS", value_delimiter = ',')]
    pub(crate) cors_origins: Option<Vec<String>>,
    /// What objects' `url`s begin with: a path prefix, or a scheme and host for absolute URLs
    /// (`https://ferrobot.example.com`) [default: none, Nautobot's `/api/…` paths].
    #[arg(long, env = "FERROBOT_BASE_URL")]
    pub(crate) base_url: Option<String>,
    /// Rows of a root list read at a time with everything under them, 1 to 50,000: a larger
    /// answer is read and written a window at a time [default: 1000].
    #[arg(long, env = "FERROBOT_READ_WINDOW")]
    pub(crate) read_window: Option<usize>,
    /// Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names the
    /// client, for tokens' allowed addresses and the login throttle [default: none].
    #[arg(long, env = "FERROBOT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub(crate) trusted_proxies: Option<Vec<String>>,
    /// How often, in milliseconds, the change log's head is read to learn of other processes'
    /// commits, 10 to 60,000 (on PostgreSQL, where NOTIFY brings them, ten times as seldom)
    /// [default: 250].
    #[arg(long, env = "FERROBOT_FEED_POLL_MS")]
    pub(crate) feed_poll_ms: Option<u64>,
    /// Networks (comma-separated) webhooks may be sent to although they are loopback,
    /// link-local or reserved, which Nautobot's policy refuses [default: none].
    #[arg(long, env = "FERROBOT_WEBHOOK_ALLOWED_NETWORKS", value_delimiter = ',')]
    pub(crate) webhook_allowed_networks: Option<Vec<String>>,
    /// The wait after a webhook delivery's first failure, in milliseconds, 10 to 3,600,000; it
    /// doubles with each failure after it [default: 1000].
    #[arg(long, env = "FERROBOT_WEBHOOK_BACKOFF_MS")]
    pub(crate) webhook_backoff_ms: Option<u64>,
    /// The longest wait between two attempts, in milliseconds, 10 to 86,400,000 [default: 300000].
    #[arg(long, env = "FERROBOT_WEBHOOK_MAX_BACKOFF_MS")]
    pub(crate) webhook_max_backoff_ms: Option<u64>,
    /// Attempts at one event before it is recorded failed, 1 to 1,000 [default: 16].
    #[arg(long, env = "FERROBOT_WEBHOOK_ATTEMPTS")]
    pub(crate) webhook_attempts: Option<u32>,
    /// How long one webhook request may take, in milliseconds, 100 to 600,000 [default: 10000].
    #[arg(long, env = "FERROBOT_WEBHOOK_TIMEOUT_MS")]
    pub(crate) webhook_timeout_ms: Option<u64>,
    /// Days webhook attempts are kept, 1 to 3,650 [default: 30].
    #[arg(long, env = "FERROBOT_WEBHOOK_KEEP_DAYS")]
    pub(crate) webhook_keep_days: Option<u64>,
    /// Days the results of ended jobs (Git syncs, renders) and their logs are kept, 1 to 3,650
    /// [default: 30].
    #[arg(long, env = "FERROBOT_JOB_RESULTS_KEEP_DAYS")]
    pub(crate) job_results_keep_days: Option<u64>,
    /// Failed logins allowed per minute, per user and per client address [default: 10].
    #[arg(long, env = "FERROBOT_LOGIN_ATTEMPTS_PER_MINUTE")]
    pub(crate) login_attempts_per_minute: Option<u32>,
    /// The deepest nesting of a query, 1 to 60 [default: 32].
    #[arg(long, env = "FERROBOT_MAX_DEPTH")]
    pub(crate) max_depth: Option<usize>,
    /// The most aliased fields in a document [default: 256].
    #[arg(long, env = "FERROBOT_MAX_ALIASES")]
    pub(crate) max_aliases: Option<usize>,
    /// The highest estimated cost of a query, rows × fields [default: 50000000].
    #[arg(long, env = "FERROBOT_MAX_COST")]
    pub(crate) max_cost: Option<u64>,
    /// Let API users sync Git repositories from the server's own disk (`file://` URLs and
    /// paths); off by default, as such a sync reads whatever repository the server can.
    #[arg(long, env = "FERROBOT_GIT_LOCAL_REMOTES")]
    pub(crate) git_local_remotes: Option<bool>,
    /// Let API users sync ssh remotes (`ssh://`, `git@host:path`); off by default, as the ssh
    /// client signs in with the server's own keys.
    #[arg(long, env = "FERROBOT_GIT_SSH_REMOTES")]
    pub(crate) git_ssh_remotes: Option<bool>,
}

/// Pool settings shared by every command that opens the database.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct DatabaseFlags {
    /// Connections for reads [default: 16].
    #[arg(long, global = true, env = "FERROBOT_DB_READERS")]
    pub(crate) db_readers: Option<u32>,
    /// How long a write waits for its turn before it is refused as BUSY, in ms [default: 10000].
    #[arg(long, global = true, env = "FERROBOT_WRITE_WAIT_MS")]
    pub(crate) write_wait_ms: Option<u64>,
    /// How long a read waits for a connection, in ms [default: 10000].
    #[arg(long, global = true, env = "FERROBOT_READ_WAIT_MS")]
    pub(crate) read_wait_ms: Option<u64>,
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    value: T,
    low: T,
    high: T,
) -> Result<T> {
    if value < low || value > high {
        bail!("{name} must be between {low} and {high} (it is {value})");
    }
    Ok(value)
}

impl Serve {
    pub(crate) fn resolve(flags: ServeFlags, file: &File) -> Result<Serve> {
        let server = &file.server;
        let auth = &file.auth;
        let jwt_minutes = flags.jwt_minutes.or(auth.jwt_minutes).unwrap_or(60);
        let drain = flags.drain_seconds.or(server.drain_seconds).unwrap_or(30);
        let body_limit = flags.body_limit.or(server.body_limit).unwrap_or(64 * 1024 * 1024);
        let timeout =
            flags.request_timeout_seconds.or(server.request_timeout_seconds).unwrap_or(300);
        let logins =
            flags.login_attempts_per_minute.or(auth.login_attempts_per_minute).unwrap_or(10);
        let window = flags
            .read_window
            .or(server.read_window)
            .unwrap_or(ferrobot_gateway::DEFAULT_READ_WINDOW);
        let defaults = ferrobot_gateway::limits::Limits::default();
        let limits = &file.limits;
        let depth = flags.max_depth.or(limits.max_depth).unwrap_or(defaults.depth);
        let aliases = flags.max_aliases.or(limits.max_aliases).unwrap_or(defaults.aliases);
        let cost = flags.max_cost.or(limits.max_cost).unwrap_or(defaults.cost);
        let limits = ferrobot_gateway::limits::Limits {
            depth: in_range("max_depth", depth, 1, ferrobot_gateway::limits::MAX_DEPTH_LIMIT)?,
            aliases: in_range("max_aliases", aliases, 0, 1_000_000)?,
            cost: in_range("max_cost", cost, 1, u64::MAX >> 1)?,
        };
        Ok(Serve {
            bind: flags.bind.or(server.bind).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            jwt_secret: flags.jwt_secret.or_else(|| auth.jwt_secret.clone()),
            jwt_minutes: in_range("jwt_minutes", jwt_minutes, 1, 5_256_000)?,
            drain: Duration::from_secs(in_range("drain_seconds", drain, 0, 3_600)?),
            body_limit: in_range("body_limit", body_limit, 1_024, 1 << 30)?,
            request_timeout: Duration::from_secs(in_range(
                "request_timeout_seconds",
                timeout,
                1,
                86_400,
            )?),
            cors_origins: flags
                .cors_origins
                .or_else(|| server.cors_origins.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            login_attempts_per_minute: in_range("login_attempts_per_minute", logins, 1, 10_000)?,
            limits,
            base_url: base_url(flags.base_url.or_else(|| server.base_url.clone()))?,
            read_window: in_range("read_window", window, 1, 50_000)?,
            feed_poll: Duration::from_millis(in_range(
                "feed_poll_ms",
                flags.feed_poll_ms.or(server.feed_poll_ms).unwrap_or(250),
                10,
                60_000,
            )?),
            webhooks: ferrobot_gateway::webhook::Settings {
                backoff: Duration::from_millis(in_range(
                    "webhook_backoff_ms",
                    flags.webhook_backoff_ms.or(server.webhook_backoff_ms).unwrap_or(1_000),
                    10,
                    3_600_000,
                )?),
                max_backoff: Duration::from_millis(in_range(
                    "webhook_max_backoff_ms",
                    flags
                        .webhook_max_backoff_ms
                        .or(server.webhook_max_backoff_ms)
                        .unwrap_or(300_000),
                    10,
                    86_400_000,
                )?),
                attempts: in_range(
                    "webhook_attempts",
                    flags.webhook_attempts.or(server.webhook_attempts).unwrap_or(16),
                    1,
                    1_000,
                )?,
                timeout: Duration::from_millis(in_range(
                    "webhook_timeout_ms",
                    flags.webhook_timeout_ms.or(server.webhook_timeout_ms).unwrap_or(10_000),
                    100,
                    600_000,
                )?),
                allowed_networks: networks(
                    "webhook_allowed_networks",
                    flags
                        .webhook_allowed_networks
                        .clone()
                        .or_else(|| server.webhook_allowed_networks.clone())
                        .unwrap_or_default(),
                )?,
                keep: Duration::from_secs(
                    86_400
                        * in_range(
                            "webhook_keep_days",
                            flags.webhook_keep_days.or(server.webhook_keep_days).unwrap_or(30),
                            1,
                            3_650,
                        )?,
                ),
                lease: Duration::ZERO,
            }
            .with_lease(),
            job_results_keep: Duration::from_secs(
                86_400
                    * in_range(
                        "job_results_keep_days",
                        flags.job_results_keep_days.or(server.job_results_keep_days).unwrap_or(30),
                        1,
                        3_650,
                    )?,
            ),
            git_local_remotes: flags.git_local_remotes.or(file.git.local_remotes).unwrap_or(false),
            git_ssh_remotes: flags.git_ssh_remotes.or(file.git.ssh_remotes).unwrap_or(false),
            trusted_proxies: networks(
                "trusted_proxies",
                flags
                    .trusted_proxies
                    .or_else(|| server.trusted_proxies.clone())
                    .unwrap_or_default(),
            )?,
        })
    }
}

/// Networks or single addresses (a /32 or /128), each checked.
fn networks(name: &str, items: Vec<String>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let mut out = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        match (item.parse::<ipnet::IpNet>(), item.parse::<std::net::IpAddr>()) {
            (Ok(net), _) => out.push(net),
            (_, Ok(ip)) => out.push(ipnet::IpNet::from(ip)),
            _ => anyhow::bail!("{name}: {item:?} is no address or network"),
        }
    }
    Ok(out)
}

/// The base of objects' `url`s: empty, a path (`/nautobot`) or an http(s) origin with an
/// optional path, without a trailing slash.
fn base_url(value: Option<String>) -> anyhow::Result<String> {
    let text = value.unwrap_or_default().trim().trim_end_matches('/').to_owned();
    let path_only = text.is_empty() || text.starts_with('/');
    let origin = text.starts_with("http://") || text.starts_with("https://");
    let plain = !text.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if (path_only || origin) && plain && text.len() <= 2_048 {
        return Ok(text);
    }
    anyhow::bail!("base_url must be a path (/nautobot) or an http(s) URL, not {text:?}")
}

/// The pool settings, resolved and checked. A command run by hand (`import`, `migrate` …) is
/// `patient`: unless told otherwise it waits up to ten minutes for a busy server's writes, where
/// a request would rather be refused and retried.
pub(crate) fn store_options(
    flags: &DatabaseFlags,
    file: &File,
    patient: bool,
) -> Result<ferrobot_persistence::StoreOptions> {
    let mut defaults = ferrobot_persistence::StoreOptions::default();
    if patient {
        defaults.write_wait = Duration::from_secs(600);
    }
    let db = &file.database;
    let readers = flags.db_readers.or(db.readers).unwrap_or(defaults.readers);
    let millis = |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| {
        let ms = flag.or(file).unwrap_or(default.as_millis() as u64);
        in_range(name, ms, 1, 3_600_000).map(Duration::from_millis)
    };
    Ok(ferrobot_persistence::StoreOptions {
        readers: in_range("readers", readers, 1, 1_000)?,
        write_wait: millis(
            flags.write_wait_ms,
            db.write_wait_ms,
            defaults.write_wait,
            "write_wait_ms",
        )?,
        read_wait: millis(flags.read_wait_ms, db.read_wait_ms, defaults.read_wait, "read_wait_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_values_are_checked() -> Result<()> {
        let file: File = toml::from_str(
            "[server]\nbind = \"0.0.0.0:9000\"\ndrain_seconds = 5\n[auth]\njwt_minutes = 30\n",
        )?;
        let serve = Serve::resolve(ServeFlags::default(), &file)?;
        assert_eq!((serve.bind.port(), serve.drain.as_secs(), serve.jwt_minutes), (9000, 5, 30));
        let flags = ServeFlags { jwt_minutes: Some(90), ..ServeFlags::default() };
        assert_eq!(Serve::resolve(flags, &file)?.jwt_minutes, 90);
        for minutes in [0, -5, 999_999_999_999_999] {
            let flags = ServeFlags { jwt_minutes: Some(minutes), ..ServeFlags::default() };
            let error = Serve::resolve(flags, &file).err().map(|e| e.to_string());
            assert!(error.is_some_and(|e| e.contains("jwt_minutes")), "{minutes}");
        }
        assert!(toml::from_str::<File>("[server]\nbindd = 1\n").is_err());
        let file: File = toml::from_str("[limits]\nmax_depth = 12\nmax_cost = 1000\n")?;
        let serve = Serve::resolve(ServeFlags::default(), &file)?;
        assert_eq!((serve.limits.depth, serve.limits.aliases, serve.limits.cost), (12, 256, 1000));
        let flags = ServeFlags { max_depth: Some(61), ..ServeFlags::default() };
        let error = Serve::resolve(flags, &file).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("max_depth")));
        Ok(())
    }
}
