//! The connection to one database, chosen by URL: `sqlite://path`, `postgres://…`, `mysql://…`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrobot_domain::Catalogue;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SchemaBuilder, SqliteQueryBuilder,
};

use crate::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub(crate) fn db(self) -> DbBackend {
        match self {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MySql => DbBackend::MySql,
        }
    }

    pub(crate) fn query_builder(self) -> Box<dyn QueryBuilder + Send + Sync> {
        match self {
            Backend::Sqlite => Box::new(SqliteQueryBuilder),
            Backend::Postgres => Box::new(PostgresQueryBuilder),
            Backend::MySql => Box::new(MysqlQueryBuilder),
        }
    }

    pub(crate) fn schema_builder(self) -> Box<dyn SchemaBuilder + Send + Sync> {
        match self {
            Backend::Sqlite => Box::new(SqliteQueryBuilder),
            Backend::Postgres => Box::new(PostgresQueryBuilder),
            Backend::MySql => Box::new(MysqlQueryBuilder),
        }
    }
}

/// Pool sizes and waits. The defaults suit one server on a small machine; `ferrobot serve`
/// reads them from its settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads and token lookups (SQLite reads of a file also have their own
    /// read-only connections).
    pub readers: u32,
    /// How long a write waits for its turn before it is refused as busy ([`StoreError::Busy`]):
    /// first behind the other writes of this process, in the order they came, then for the
    /// database's lock against other processes (`ferrobot import`, other replicas).
    pub write_wait: Duration,
    /// How long a read waits for a free connection before it is refused as busy.
    pub read_wait: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            readers: 16,
            write_wait: Duration::from_secs(10),
            read_wait: Duration::from_secs(10),
        }
    }
}

/// Connection pools plus the resolved catalogue that describes their tables.
///
/// Readers and writers have pools of their own, so that a write waiting for the database's lock
/// never holds a connection a read (or a token lookup) needs: on SQLite, readers of a WAL file
/// take no lock at all. Writers take turns through `write_turn`, a fair queue: one write of this
/// process at a time holds the writer connection, which all writers would wait for anyway (they
/// serialise on the change log's sequence counter).
#[derive(Clone)]
pub struct Store {
    /// The reader pool.
    pub(crate) db: DatabaseConnection,
    /// The writer pool: one connection on SQLite, a spare beside it elsewhere.
    pub(crate) writer_db: DatabaseConnection,
    write_turn: Arc<tokio::sync::Mutex<()>>,
    /// Writes of this process holding their turn now (0 or 1), so that reads can give way.
    writing: Arc<AtomicUsize>,
    write_wait: Duration,
    /// Counters for operators, shared by every handle on this store.
    activity: Arc<Activity>,
    pub(crate) backend: Backend,
    pub(crate) catalogue: Arc<Catalogue>,
    statements: Arc<AtomicU64>,
    /// Approximate row counts per table, refreshed in the background; the read planner uses
    /// them to choose between `IN (subquery)` and a correlated `EXISTS`.
    sizes: Arc<std::sync::RwLock<std::collections::HashMap<String, u64>>>,
    /// Reads decoded without sea-orm (every backend but in-memory SQLite databases).
    pub(crate) reader: Option<Reader>,
    /// The change feed's last committed sequence as this process knows it (see [`crate::feed`]).
    pub(crate) head: Arc<tokio::sync::watch::Sender<i64>>,
    /// The URL connected to (the change feed's listener opens a connection of its own).
    pub(crate) url: Arc<str>,
}

/// A read path of its own, beside sea-orm's.
#[derive(Clone)]
pub(crate) enum Reader {
    Sqlite(Arc<crate::sqlite_read::SqliteReader>),
    Sqlx(crate::sqlx_read::SqlxReader),
}

/// What the store has done since it started, for `/metrics`.
#[derive(Debug, Default)]
struct Activity {
    statements: AtomicU64,
    write_turns: AtomicU64,
    write_wait_micros: AtomicU64,
}

/// A snapshot of the store's pools and counters.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// (connections open, of which idle) in the reader and writer pools.
    pub readers: (u32, usize),
    pub writer: (u32, usize),
    /// SQL statements run since start.
    pub statements: u64,
    /// Writes that got their turn, and the time they waited for it in all.
    pub write_turns: u64,
    pub write_wait_seconds: f64,
}

/// A write's turn: held from before its transaction begins until it ends.
pub(crate) struct WriteTurn {
    _turn: tokio::sync::OwnedMutexGuard<()>,
    writing: Arc<AtomicUsize>,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.writing.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Store {
    /// Connects to `url` with the default options.
    pub async fn connect(url: &str, catalogue: Arc<Catalogue>) -> StoreResult<Store> {
        Store::connect_with(url, catalogue, &StoreOptions::default()).await
    }

    /// Connects to `url`. A SQLite file (and its directory) is created when missing.
    pub async fn connect_with(
        url: &str,
        catalogue: Arc<Catalogue>,
        settings: &StoreOptions,
    ) -> StoreResult<Store> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Backend::MySql
        } else {
            return Err(StoreError::Internal(format!(
                "unsupported database URL (use sqlite://, postgres:// or mysql://): {url}"
            )));
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = ConnectOptions::new(url.clone());
        options.sqlx_logging(false).acquire_timeout(settings.read_wait);
        let write_wait = settings.write_wait;
        let (db, writer_db, reader) = match backend {
            Backend::Sqlite => {
                if !memory {
                    create_parent_dir(&url)?;
                }
                let mut writer = options.clone();
                writer.max_connections(1).min_connections(1).acquire_timeout(write_wait);
                writer.map_sqlx_sqlite_opts(move |opts| {
                    let opts = opts
                        .create_if_missing(true)
                        .foreign_keys(true)
                        .busy_timeout(write_wait)
                        .with_regexp();
                    if memory {
                        opts
                    } else {
                        // A page cache of 16 MiB (SQLite's default is 2 MiB): a big write
                        // touches index pages all over, and each page evicted mid-write is
                        // written to the WAL and read back. 64 MiB measured no faster and
                        // held ~50 MiB more.
                        opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                            .pragma("cache_size", "-16384")
                    }
                });
                let writer_db = Database::connect(writer).await?;
                if memory {
                    // One in-memory database is one connection: readers share it.
                    (writer_db.clone(), writer_db, None)
                } else {
                    options.max_connections(settings.readers.max(1)).min_connections(1);
                    options.map_sqlx_sqlite_opts(|opts| {
                        opts.read_only(true).busy_timeout(Duration::from_secs(5)).with_regexp()
                    });
                    let db = Database::connect(options).await?;
                    let reader = sqlite_path(&url).map(|p| {
                        let size = settings.readers.max(1) as usize;
                        Reader::Sqlite(Arc::new(crate::sqlite_read::SqliteReader::new(p, size)))
                    });
                    (db, writer_db, reader)
                }
            }
            Backend::Postgres => {
                let mut writer = options.clone();
                writer.max_connections(2).acquire_timeout(write_wait);
                // A lock another replica's write holds is waited for as long as a turn here.
                let lock_timeout = format!("{}ms", write_wait.as_millis());
                writer.map_sqlx_postgres_opts(move |opts| {
                    opts.options([("lock_timeout", lock_timeout.as_str())])
                });
                // Reads take a pooled connection without a test query first: one round trip
                // less a statement; a connection found closed is replaced and the read retried.
                options.max_connections(settings.readers.max(1)).test_before_acquire(false);
                let db = Database::connect(options).await?;
                let pool = db.get_postgres_connection_pool().clone();
                let reader = Reader::Sqlx(crate::sqlx_read::SqlxReader::Postgres(pool));
                (db, Database::connect(writer).await?, Some(reader))
            }
            Backend::MySql => {
                let seconds = write_wait.as_secs().max(1);
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(write_wait)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            let set = format!("SET SESSION innodb_lock_wait_timeout = {seconds}");
                            conn.execute(set.as_str()).await.map(|_| ())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(|e| {
                        StoreError::from(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))
                    })?;
                // As on PostgreSQL: no test query before each read.
                options.max_connections(settings.readers.max(1)).test_before_acquire(false);
                let writer_db = sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool);
                let db = Database::connect(options).await?;
                let pool = db.get_mysql_connection_pool().clone();
                let reader = Reader::Sqlx(crate::sqlx_read::SqlxReader::MySql(pool));
                (db, writer_db, Some(reader))
            }
        };
        Ok(Store {
            db,
            writer_db,
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
            writing: Default::default(),
            write_wait,
            activity: Default::default(),
            backend,
            catalogue,
            statements: Arc::new(AtomicU64::new(0)),
            sizes: Default::default(),
            reader,
            head: Arc::new(tokio::sync::watch::channel(0).0),
            url: url.into(),
        })
    }

    /// Waits for this write's turn, in the order writes asked, for at most the write wait.
    pub(crate) async fn write_turn(&self) -> StoreResult<WriteTurn> {
        let asked = std::time::Instant::now();
        let turn = tokio::time::timeout(self.write_wait, self.write_turn.clone().lock_owned())
            .await
            .map_err(|_| self.busy())?;
        let waited = asked.elapsed().as_micros() as u64;
        self.activity.write_turns.fetch_add(1, Ordering::Relaxed);
        self.activity.write_wait_micros.fetch_add(waited, Ordering::Relaxed);
        self.writing.fetch_add(1, Ordering::AcqRel);
        Ok(WriteTurn { _turn: turn, writing: self.writing.clone() })
    }

    /// How long a write waits for its turn.
    pub fn write_wait(&self) -> Duration {
        self.write_wait
    }

    /// The refusal of a write that did not get its turn within the write wait.
    pub fn busy(&self) -> StoreError {
        StoreError::Busy(format!(
            "Another write held the database for {} ms; nothing was written. Try again.",
            self.write_wait.as_millis()
        ))
    }

    /// Whether a write of this process holds its turn now (reads may give way to it).
    pub fn write_running(&self) -> bool {
        self.writing.load(Ordering::Acquire) > 0
    }

    /// The pools and counters now.
    pub fn stats(&self) -> StoreStats {
        let pool = |db: &DatabaseConnection| match self.backend {
            Backend::Sqlite => {
                let p = db.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            Backend::Postgres => {
                let p = db.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            Backend::MySql => {
                let p = db.get_mysql_connection_pool();
                (p.size(), p.num_idle())
            }
        };
        let activity = &self.activity;
        StoreStats {
            readers: pool(&self.db),
            writer: pool(&self.writer_db),
            statements: activity.statements.load(Ordering::Relaxed),
            write_turns: activity.write_turns.load(Ordering::Relaxed),
            write_wait_seconds: activity.write_wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// The change log's last committed sequence number.
    pub async fn last_sequence(&self) -> StoreResult<i64> {
        let mut select = sea_query::Query::select();
        select
            .column(sea_query::Alias::new("value"))
            .from(sea_query::Alias::new("ferrobot_sequence"))
            .and_where(sea_query::Expr::col(sea_query::Alias::new("name")).eq("changes"));
        let big = crate::ColType::Int(ferrobot_domain::catalogue::IntSize::Big);
        let rows = self.fetch(&select, &[big]).await?;
        Ok(match rows.cells.first() {
            Some(crate::Cell::Int(n)) => *n,
            _ => 0,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// A store that shares this one's pool but serves another catalogue snapshot.
    pub fn with_catalogue(&self, catalogue: Arc<Catalogue>) -> Store {
        Store { catalogue, ..self.clone() }
    }

    /// A handle on the same pool whose statement count starts at zero: one per request, so that
    /// background work (the custom-field watcher) never shows in a request's count.
    pub fn counted(&self) -> Store {
        Store { statements: Arc::new(AtomicU64::new(0)), ..self.clone() }
    }

    /// SQL statements run through this store so far; a test measure, not a metric.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub(crate) fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.activity.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn statement(&self, sql: String, values: sea_query::Values) -> Statement {
        // Every statement's text, at `RUST_LOG=ferrobot_persistence=trace`.
        tracing::trace!(%sql, "statement");
        Statement::from_sql_and_values(self.backend.db(), sql, values)
    }

    pub(crate) async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        self.count();
        let _turn = self.write_turn().await?;
        self.writer_db.execute(Statement::from_string(self.backend.db(), sql.to_owned())).await?;
        Ok(())
    }

    /// Begins a write transaction on the writer connection, once it is this write's turn.
    pub(crate) async fn begin(&self) -> StoreResult<(WriteTurn, DatabaseTransaction)> {
        let turn = self.write_turn().await?;
        Ok((turn, self.writer_db.begin().await?))
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
        let _ = self.writer_db.close().await;
    }
}

fn create_parent_dir(url: &str) -> StoreResult<()> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    match std::path::Path::new(&path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Internal(format!("create {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| path.to_owned())
}

/// Held while migrations run, so that replicas started together take turns: the first migrates,
/// the others wait and then find nothing left to do. PostgreSQL: a transaction-scoped advisory
/// lock; MySQL: a named lock (`GET_LOCK`), released before the connection goes back; SQLite: an
/// exclusive lock on a file beside the database (another process's `ferrobot migrate` included).
pub struct MigrationLock {
    tx: Option<DatabaseTransaction>,
    file: Option<std::fs::File>,
    backend: Backend,
}

/// The advisory lock key and lock name (any constant; "ferrobot" in ASCII, as a number).
const MIGRATION_LOCK_KEY: i64 = 0x6665_7272_6f62_6f74;
const MIGRATION_LOCK_NAME: &str = "ferrobot_migrations";

impl MigrationLock {
    /// Lets the next replica migrate.
    pub async fn release(mut self) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            if self.backend == Backend::MySql {
                let sql = format!("SELECT RELEASE_LOCK('{MIGRATION_LOCK_NAME}')");
                tx.execute(Statement::from_string(DbBackend::MySql, sql)).await?;
            }
            tx.commit().await?;
        }
        if let Some(file) = self.file.take() {
            file.unlock().map_err(|e| StoreError::Internal(format!("unlock migrations: {e}")))?;
        }
        Ok(())
    }
}

impl Store {
    /// Waits (up to `wait`) for the right to migrate; see [`MigrationLock`]. The lock is taken on
    /// the reader pool, whose connections have no lock timeout.
    pub async fn lock_migrations(&self, wait: Duration) -> StoreResult<MigrationLock> {
        let mut lock = MigrationLock { tx: None, file: None, backend: self.backend };
        match self.backend {
            Backend::Postgres => {
                let tx = self.db.begin().await?;
                let sql = format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})");
                let timeout = format!("SET LOCAL lock_timeout = '{}ms'", wait.as_millis());
                tx.execute(Statement::from_string(DbBackend::Postgres, timeout)).await?;
                tx.execute(Statement::from_string(DbBackend::Postgres, sql)).await?;
                lock.tx = Some(tx);
            }
            Backend::MySql => {
                let tx = self.db.begin().await?;
                let sql =
                    format!("SELECT GET_LOCK('{MIGRATION_LOCK_NAME}', {})", wait.as_secs().max(1));
                let row = tx.query_one(Statement::from_string(DbBackend::MySql, sql)).await?;
                let got = row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok()).flatten();
                if got != Some(1) {
                    let _ = tx.rollback().await;
                    return Err(StoreError::Busy(format!(
                        "Another replica held the migration lock for {} s.",
                        wait.as_secs()
                    )));
                }
                lock.tx = Some(tx);
            }
            Backend::Sqlite => {
                let Some(Reader::Sqlite(reader)) = &self.reader else {
                    return Ok(lock); // An in-memory database has one connection.
                };
                let path = format!("{}.migrate-lock", reader.path());
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::Internal(format!("open {path}: {e}")))?;
                let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| StoreError::Internal(e.to_string()))?
                    .map_err(|e| StoreError::Internal(format!("lock {path}: {e}")))?;
                lock.file = Some(file);
            }
        }
        Ok(lock)
    }

    /// The migrations the database records as applied, read on the reader pool (readiness
    /// checks must not wait behind a long write).
    pub async fn migration_versions(&self) -> StoreResult<Vec<String>> {
        let mut select = sea_query::Query::select();
        select
            .column(sea_query::Alias::new("version"))
            .from(sea_query::Alias::new("ferrobot_migrations"));
        let rows = self.fetch(&select, &[crate::ColType::Text]).await?;
        Ok(rows.cells.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
    }

    /// The writer connection, for the migrator only.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.writer_db
    }
}

impl Store {
    /// Runs one administrative statement (creating or dropping a test database).
    pub async fn execute_admin(&self, sql: &str) -> StoreResult<()> {
        self.execute_raw(sql).await
    }
}

impl Store {
    /// The last known row count of a table.
    pub fn table_rows(&self, table: &str) -> Option<u64> {
        self.sizes.read().ok().and_then(|s| s.get(table).copied())
    }

    /// Replaces the known row counts (see `Store::refresh_table_sizes`).
    pub(crate) fn set_table_sizes(&self, sizes: std::collections::HashMap<String, u64>) {
        if let Ok(mut slot) = self.sizes.write() {
            *slot = sizes;
        }
    }
}
