//! Versioned, frozen migrations.
//!
//! Each migration is a file `NNNN_<name>.json` in this directory, embedded at build time: a list
//! of tables, as the catalogue described them when the migration was made. A table no earlier
//! file created is created; a table an earlier file created is extended by what this file adds
//! to it (columns, which must be nullable, indexes, unique constraints). A file is never edited
//! once applied; a catalogue change gets a new file. The drift test checks that replaying every
//! file gives exactly the tables the current catalogue describes.

use ferrobot_persistence::schema::{merge_spec, TableSpec};
use ferrobot_persistence::{Store, StoreError, StoreResult};
use sea_orm::{ConnectionTrait, Statement};

/// One migration: a version, a name, and the tables it creates.
pub struct Migration {
    pub version: &'static str,
    pub tables: &'static str,
}

/// Every migration in the order it applies.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: "0001_initial", tables: include_str!("../0001_initial.json") },
    Migration { version: "0002_change_log", tables: include_str!("../0002_change_log.json") },
    Migration {
        version: "0003_interface_names",
        tables: include_str!("../0003_interface_names.json"),
    },
    Migration { version: "0004_whole_model", tables: include_str!("../0004_whole_model.json") },
    Migration { version: "0005_name_indexes", tables: include_str!("../0005_name_indexes.json") },
    Migration {
        version: "0006_filter_indexes",
        tables: include_str!("../0006_filter_indexes.json"),
    },
    Migration {
        version: "0007_object_permissions",
        tables: include_str!("../0007_object_permissions.json"),
    },
    Migration {
        version: "0008_token_allowed_ips",
        tables: include_str!("../0008_token_allowed_ips.json"),
    },
    Migration { version: "0009_webhooks", tables: include_str!("../0009_webhooks.json") },
    Migration {
        version: "0010_config_contexts",
        tables: include_str!("../0010_config_contexts.json"),
    },
    Migration { version: "0011_saved_queries", tables: include_str!("../0011_saved_queries.json") },
    Migration {
        version: "0012_dynamic_groups",
        tables: include_str!("../0012_dynamic_groups.json"),
    },
    Migration {
        version: "0013_data_validation",
        tables: include_str!("../0013_data_validation.json"),
    },
    Migration {
        version: "0014_computed_fields",
        tables: include_str!("../0014_computed_fields.json"),
    },
    Migration { version: "0015_relationships", tables: include_str!("../0015_relationships.json") },
    Migration {
        version: "0016_git_repositories",
        tables: include_str!("../0016_git_repositories.json"),
    },
    Migration { version: "0017_job_results", tables: include_str!("../0017_job_results.json") },
];

/// A migration's tables replayed onto the tables before it: for each, what it was (`None` for a
/// new table) and what it becomes.
type Step = Vec<(Option<TableSpec>, TableSpec)>;

fn replay(state: &mut Vec<TableSpec>, specs: Vec<TableSpec>) -> Step {
    let mut step = Vec::new();
    for spec in specs {
        match state.iter_mut().find(|t| t.name == spec.name) {
            Some(table) => {
                let merged = merge_spec(table, &spec);
                step.push((Some(table.clone()), merged.clone()));
                *table = merged;
            }
            None => {
                state.push(spec.clone());
                step.push((None, spec));
            }
        }
    }
    step
}

impl Migration {
    pub fn specs(&self) -> StoreResult<Vec<TableSpec>> {
        serde_json::from_str(self.tables)
            .map_err(|e| StoreError::Internal(format!("migration {}: {e}", self.version)))
    }
}

/// The tables after replaying every migration.
pub fn replayed() -> StoreResult<Vec<TableSpec>> {
    let mut out: Vec<TableSpec> = Vec::new();
    for m in MIGRATIONS {
        replay(&mut out, m.specs()?);
    }
    Ok(out)
}

/// Applies the migrations this database has not seen yet; returns their versions.
/// How many migrations the database still lacks (readiness: 0).
pub async fn pending(store: &Store) -> StoreResult<usize> {
    let applied = store.migration_versions().await?;
    Ok(MIGRATIONS.iter().filter(|m| !applied.iter().any(|v| v == m.version)).count())
}

pub async fn migrate(store: &Store) -> StoreResult<Vec<&'static str>> {
    migrate_through(store, None).await
}

/// [`migrate`], stopping after `last` (to test an upgrade from an older schema).
pub async fn migrate_through(store: &Store, last: Option<&str>) -> StoreResult<Vec<&'static str>> {
    // Replicas started together take turns; the later ones find the work done.
    let lock = store.lock_migrations(LOCK_WAIT).await?;
    let outcome = migrate_locked(store, last).await;
    let released = lock.release().await;
    let done = outcome?;
    released?;
    Ok(done)
}

/// How long a replica waits for another one's migrations.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

async fn migrate_locked(store: &Store, last: Option<&str>) -> StoreResult<Vec<&'static str>> {
    let db = store.connection();
    let backend = db.get_database_backend();
    db.execute(Statement::from_string(
        backend,
        "CREATE TABLE IF NOT EXISTS ferrobot_migrations (version VARCHAR(100) PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)".to_owned(),
    ))
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?;
    let rows = db
        .query_all(Statement::from_string(
            backend,
            "SELECT version FROM ferrobot_migrations".to_owned(),
        ))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let applied: Vec<String> =
        rows.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect();
    let mut done = Vec::new();
    let mut state = Vec::new();
    for m in MIGRATIONS {
        let step = replay(&mut state, m.specs()?);
        if applied.iter().any(|v| v == m.version) {
            continue;
        }
        for (before, after) in step {
            match before {
                None => store.create_tables(std::slice::from_ref(&after)).await?,
                Some(before) => store.extend_table(&before, &after).await?,
            }
        }
        db.execute(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO ferrobot_migrations (version, applied_at) VALUES ($1, $2)"
                }
                _ => "INSERT INTO ferrobot_migrations (version, applied_at) VALUES (?, ?)",
            },
            [m.version.into(), store::now_text().into()],
        ))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?;
        done.push(m.version);
        if last == Some(m.version) {
            break;
        }
    }
    seed_sequence(store).await?;
    Ok(done)
}

/// The change feed's counter row, which every write transaction locks and advances. Replicas
/// that start together may both try to add it: a second insert that fails is fine once the row
/// is there.
async fn seed_sequence(store: &Store) -> StoreResult<()> {
    let db = store.connection();
    let backend = db.get_database_backend();
    let select = "SELECT value FROM ferrobot_sequence WHERE name = 'changes'";
    let present = |rows: &[sea_orm::QueryResult]| !rows.is_empty();
    let rows = db
        .query_all(Statement::from_string(backend, select.to_owned()))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    if present(&rows) {
        return Ok(());
    }
    // Start after any change already logged (a database restored without its counter).
    let insert = "INSERT INTO ferrobot_sequence (name, value) SELECT 'changes', COALESCE(MAX(sequence), 0) FROM extras_objectchange";
    if let Err(error) = db.execute(Statement::from_string(backend, insert.to_owned())).await {
        let rows = db
            .query_all(Statement::from_string(backend, select.to_owned()))
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        if !present(&rows) {
            return Err(StoreError::Internal(format!("seed the change sequence: {error}")));
        }
    }
    Ok(())
}

mod store {
    pub(crate) fn now_text() -> String {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use ferrobot_domain::Catalogue;
    use ferrobot_persistence::schema::tables_for;

    /// The drift test: the migrations create exactly what the catalogue describes. When it fails,
    /// add a migration (never edit an applied one).
    #[test]
    fn migrations_match_the_catalogue() {
        let catalogue = Catalogue::core().expect("catalogue");
        let mut want = tables_for(&catalogue);
        let mut have = super::replayed().expect("migrations parse");
        // A column or index a later file adds comes after the ones before it; unique
        // constraints keep their order, since their index names are numbered by it.
        for tables in [&mut want, &mut have] {
            tables.sort_by(|a, b| a.name.cmp(&b.name));
            for t in tables.iter_mut() {
                t.columns.sort_by(|a, b| a.name.cmp(&b.name));
                t.indexes.sort();
            }
        }
        if want != have {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/drift.json");
            let _ = std::fs::write(path, serde_json::to_string_pretty(&want).unwrap_or_default());
            panic!("the catalogue drifted from the migrations; the wanted tables are in {path}");
        }
    }
}
