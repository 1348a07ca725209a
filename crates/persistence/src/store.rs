//! The connection to one database, chosen by URL: `sqlite://path`, `postgres://…`, `mysql://…`.

use std::sync::atomic::{AtomicU64, Ordering};
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

/// A pool of connections plus the resolved catalogue that describes its tables.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    pub(crate) backend: Backend,
    pub(crate) catalogue: Arc<Catalogue>,
    statements: Arc<AtomicU64>,
    /// Approximate row counts per table, refreshed in the background; the read planner uses
    /// them to choose between `IN (subquery)` and a correlated `EXISTS`.
    sizes: Arc<std::sync::RwLock<std::collections::HashMap<String, u64>>>,
    /// Fast reads for a SQLite file (not for in-memory databases).
    pub(crate) reader: Option<Arc<crate::sqlite_read::SqliteReader>>,
}

impl Store {
    /// Connects to `url`. A SQLite file (and its directory) is created when missing.
    pub async fn connect(url: &str, catalogue: Arc<Catalogue>) -> StoreResult<Store> {
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
        let mut options = ConnectOptions::new(url.clone());
        options.sqlx_logging(false).acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            if !memory {
                if let Some(path) = sqlite_path(&url) {
                    if let Some(dir) = std::path::Path::new(&path).parent() {
                        if !dir.as_os_str().is_empty() {
                            std::fs::create_dir_all(dir).map_err(|e| {
                                StoreError::Internal(format!("create {}: {e}", dir.display()))
                            })?;
                        }
                    }
                }
            }
            // One writer at a time is SQLite's nature; WAL lets readers run beside it.
            options.max_connections(if memory { 1 } else { 8 }).min_connections(1);
            options.map_sqlx_sqlite_opts(move |opts| {
                let opts = opts
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .with_regexp();
                if memory {
                    opts
                } else {
                    opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                }
            });
        } else {
            options.max_connections(16);
        }
        let reader = match backend {
            Backend::Sqlite if !(url.contains(":memory:") || url.contains("mode=memory")) => {
                sqlite_path(&url).map(|p| Arc::new(crate::sqlite_read::SqliteReader::new(p)))
            }
            _ => None,
        };
        let db = Database::connect(options).await?;
        Ok(Store {
            db,
            backend,
            catalogue,
            statements: Arc::new(AtomicU64::new(0)),
            sizes: Default::default(),
            reader,
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
    }

    pub(crate) fn statement(&self, sql: String, values: sea_query::Values) -> Statement {
        Statement::from_sql_and_values(self.backend.db(), sql, values)
    }

    pub(crate) async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        self.count();
        self.db.execute(Statement::from_string(self.backend.db(), sql.to_owned())).await?;
        Ok(())
    }

    pub async fn begin(&self) -> StoreResult<DatabaseTransaction> {
        Ok(self.db.begin().await?)
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| path.to_owned())
}

impl Store {
    /// The raw connection, for the migrator only.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
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

    /// Counts the rows of every table the catalogue describes (run off the request path).
    pub async fn refresh_table_sizes(&self) -> StoreResult<()> {
        let tables = crate::schema::tables_for(&self.catalogue);
        let mut sizes = std::collections::HashMap::new();
        for table in tables {
            let mut select = sea_query::Query::select();
            select.expr(sea_query::Expr::cust("COUNT(*)")).from(sea_query::Alias::new(&table.name));
            let rows = self
                .fetch(&select, &[crate::ColType::Int(ferrobot_domain::catalogue::IntSize::Big)])
                .await?;
            if let Some(crate::Cell::Int(n)) = rows.cells.first() {
                sizes.insert(table.name, *n as u64);
            }
        }
        if let Ok(mut slot) = self.sizes.write() {
            *slot = sizes;
        }
        Ok(())
    }
}
