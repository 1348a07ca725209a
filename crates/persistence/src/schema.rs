//! The tables the catalogue describes, and their DDL on each backend.
//!
//! [`tables_for`] derives a [`TableSpec`] list from the catalogue. Migrations freeze such lists
//! in files (`migrations/`), and the drift test checks that replaying them equals what the
//! catalogue describes now. DDL is produced by sea-query, so one spec serves all backends.

use ferrobot_domain::catalogue::{FieldKind, IntSize};
use ferrobot_domain::Catalogue;
use sea_query::{Alias, ColumnDef, Index, Table, TableCreateStatement};
use serde::{Deserialize, Serialize};

use crate::store::{Backend, Store};
use crate::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub columns: Vec<ColumnSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uniques: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnTy,
    #[serde(default, skip_serializing_if = "is_false")]
    pub null: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnTy {
    Uuid,
    Varchar(u32),
    Text,
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    DateTime,
    Date,
    Json,
    Bytes,
}

fn col(name: &str, ty: ColumnTy, null: bool) -> ColumnSpec {
    ColumnSpec { name: name.to_owned(), ty, null, primary_key: false }
}

/// Every table the catalogue needs, in a stable order.
pub fn tables_for(catalogue: &Catalogue) -> Vec<TableSpec> {
    let mut tables = Vec::new();
    for model in catalogue.models() {
        let mut columns = Vec::new();
        let mut indexes: Vec<Vec<String>> = Vec::new();
        let mut uniques: Vec<Vec<String>> = Vec::new();
        for (_, field, column) in model.columns() {
            let ty = match &field.kind {
                FieldKind::Uuid | FieldKind::ForeignKey { .. } => ColumnTy::Uuid,
                FieldKind::String { max_length } | FieldKind::Choice { max_length, .. } => {
                    ColumnTy::Varchar(*max_length)
                }
                FieldKind::Text => ColumnTy::Text,
                FieldKind::Integer { size: IntSize::Small, .. } => ColumnTy::SmallInt,
                FieldKind::Integer { size: IntSize::Int, .. } => ColumnTy::Integer,
                FieldKind::Integer { size: IntSize::Big, .. } => ColumnTy::BigInt,
                FieldKind::Boolean => ColumnTy::Boolean,
                FieldKind::DateTime => ColumnTy::DateTime,
                FieldKind::Date => ColumnTy::Date,
                FieldKind::Decimal { .. } | FieldKind::Float => ColumnTy::Varchar(32),
                FieldKind::Json | FieldKind::ContentTypes => ColumnTy::Json,
                FieldKind::IpBytes => ColumnTy::Bytes,
                FieldKind::ContentType => ColumnTy::Varchar(100),
                FieldKind::MacAddress => ColumnTy::Varchar(18),
                FieldKind::ManyToMany { .. } => continue,
            };
            let mut spec = col(column, ty, field.null);
            spec.primary_key = field.primary_key;
            columns.push(spec);
            if field.natural_order {
                columns.push(col(&format!("_{}", field.name), ColumnTy::Varchar(255), field.null));
            }
            if field.unique && !field.primary_key {
                uniques.push(vec![column.to_owned()]);
            } else if matches!(field.kind, FieldKind::ForeignKey { .. } | FieldKind::IpBytes) {
                indexes.push(vec![column.to_owned()]);
            }
        }
        if model.features.custom_fields {
            columns.push(col("_custom_field_data", ColumnTy::Json, false));
        }
        for group in &model.unique_together {
            let cols: Vec<String> =
                group.iter().filter_map(|&i| model.fields[i].column.clone()).collect();
            uniques.push(cols);
        }
        for group in &model.indexes {
            indexes.push(group.iter().filter_map(|&i| model.fields[i].column.clone()).collect());
        }
        // The default ordering is how every list is read: index it.
        // JSON and text columns can't be keys of an index (MySQL refuses them): the index
        // covers the ordering up to the first of those.
        let order: Vec<String> = model
            .ordering
            .iter()
            .map(|t| t.column.clone())
            .take_while(|c| {
                !columns
                    .iter()
                    .any(|s| &s.name == c && matches!(s.ty, ColumnTy::Json | ColumnTy::Text))
            })
            .collect();
        if order.len() > 1 || order.first().is_some_and(|c| c != "id") {
            indexes.retain(|i| i.first() != order.first() || i.len() > order.len());
            indexes.push(order);
        }
        tables.push(TableSpec { name: model.table.clone(), columns, indexes, uniques });

        for field in &model.fields {
            if let FieldKind::ManyToMany { through, .. } = &field.kind {
                if through.model.is_none() {
                    tables.push(TableSpec {
                        name: through.table.clone(),
                        columns: vec![
                            ColumnSpec { primary_key: true, ..col("id", ColumnTy::Uuid, false) },
                            col(&through.source_column, ColumnTy::Uuid, false),
                            col(&through.target_column, ColumnTy::Uuid, false),
                        ],
                        indexes: vec![vec![through.target_column.clone()]],
                        uniques: vec![vec![
                            through.source_column.clone(),
                            through.target_column.clone(),
                        ]],
                    });
                }
            }
        }
    }
    // The change feed's position: one row per counter, locked by every write transaction so
    // that sequence numbers follow commit order and a rolled-back write consumes none.
    tables.push(TableSpec {
        name: "ferrobot_sequence".into(),
        columns: vec![
            ColumnSpec { primary_key: true, ..col("name", ColumnTy::Varchar(50), false) },
            col("value", ColumnTy::BigInt, false),
        ],
        indexes: Vec::new(),
        uniques: Vec::new(),
    });
    // Webhook deliveries (`webhook.rs`): one row per stream of a webhook's events (its live
    // stream, keyed by the webhook, and each replay, keyed by the replay): how far it got, when
    // it tries next, and which process holds it.
    tables.push(TableSpec {
        name: "ferrobot_webhook_stream".into(),
        columns: vec![
            ColumnSpec { primary_key: true, ..col("id", ColumnTy::Uuid, false) },
            col("webhook_id", ColumnTy::Uuid, false),
            col("replay", ColumnTy::Boolean, false),
            col("position", ColumnTy::BigInt, false),
            col("upto", ColumnTy::BigInt, true),
            col("failures", ColumnTy::Integer, false),
            col("retry_at", ColumnTy::BigInt, false),
            col("lease_owner", ColumnTy::Varchar(36), true),
            col("lease_until", ColumnTy::BigInt, false),
        ],
        indexes: vec![vec!["webhook_id".into()]],
        uniques: Vec::new(),
    });
    // Generic through tables (tags): (content type, object, target) triples.
    for through in catalogue.generic_throughs() {
        let (ty, object, target) =
            (&through.type_column, &through.object_column, &through.target_column);
        tables.push(TableSpec {
            name: through.table.clone(),
            columns: vec![
                ColumnSpec { primary_key: true, ..col("id", ColumnTy::Uuid, false) },
                col(ty, ColumnTy::Varchar(100), false),
                col(object, ColumnTy::Uuid, false),
                col(target, ColumnTy::Uuid, false),
            ],
            indexes: vec![vec![object.clone()], vec![target.clone()]],
            uniques: vec![vec![ty.clone(), object.clone(), target.clone()]],
        });
    }
    tables
}

/// A column's type on one backend.
fn column_type(def: &mut ColumnDef, ty: ColumnTy, backend: Backend) {
    match (ty, backend) {
        (ColumnTy::Uuid, Backend::Postgres) => def.uuid(),
        (ColumnTy::Uuid, _) => def.binary_len(16),
        (ColumnTy::Varchar(n), _) => def.string_len(n),
        // MySQL's TEXT holds 64 KiB; Django's TextField is LONGTEXT there.
        (ColumnTy::Text, Backend::MySql) => def.custom(Alias::new("longtext")),
        (ColumnTy::Text, _) => def.text(),
        (ColumnTy::SmallInt, _) => def.small_integer(),
        (ColumnTy::Integer, _) => def.integer(),
        (ColumnTy::BigInt, _) => def.big_integer(),
        (ColumnTy::Boolean, _) => def.boolean(),
        (ColumnTy::DateTime, Backend::MySql) => def.custom(Alias::new("datetime(6)")),
        (ColumnTy::DateTime, _) => def.timestamp_with_time_zone(),
        (ColumnTy::Date, _) => def.date(),
        (ColumnTy::Json, Backend::Postgres) => def.json_binary(),
        (ColumnTy::Json, Backend::MySql) => def.json(),
        (ColumnTy::Json, Backend::Sqlite) => def.text(),
        (ColumnTy::Bytes, Backend::Postgres) => def.custom(Alias::new("bytea")),
        (ColumnTy::Bytes, Backend::MySql) => def.var_binary(16),
        (ColumnTy::Bytes, Backend::Sqlite) => def.blob(),
    };
}

/// The `CREATE TABLE` and `CREATE INDEX` statements of one table on one backend.
pub fn create_statements(spec: &TableSpec, backend: Backend) -> Vec<String> {
    let mut create: TableCreateStatement = Table::create();
    create.table(Alias::new(&spec.name)).if_not_exists();
    if backend == Backend::MySql {
        // Every character, whatever the server's default (often latin1); the collation stays
        // the character set's default, case-insensitive as latin1's was.
        create.character_set("utf8mb4");
    }
    for c in &spec.columns {
        let mut def = ColumnDef::new(Alias::new(&c.name));
        column_type(&mut def, c.ty, backend);
        if c.null {
            def.null();
        } else {
            def.not_null();
        }
        if c.primary_key {
            def.primary_key();
        }
        create.col(&mut def);
    }
    for (n, cols) in spec.uniques.iter().enumerate() {
        let mut index = Index::create();
        index.name(index_name(&spec.name, "uniq", n)).unique();
        for c in cols {
            index.col(Alias::new(c));
        }
        create.index(&mut index);
    }
    let builder = backend.schema_builder();
    let mut out = vec![create.build_any(&*builder)];
    for (n, cols) in spec.indexes.iter().enumerate() {
        out.push(create_index(&spec.name, n, cols, false, backend));
    }
    out
}

/// The name of a table's `n`th index of a kind: `<table>_<kind>_<n>`. PostgreSQL and MySQL cut
/// identifiers at 63 and 64 bytes, so a longer name keeps the table's first 48 bytes and adds a
/// hash of the whole table name (FNV-1a), which keeps names of different tables apart.
pub fn index_name(table: &str, kind: &str, n: usize) -> String {
    let full = format!("{table}_{kind}_{n}");
    if full.len() <= 63 {
        return full;
    }
    let hash = table
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let head: String = table.chars().take(48).collect();
    format!("{head}_{:08x}_{kind}_{n}", hash as u32)
}

/// `CREATE [UNIQUE] INDEX <table>_{idx|uniq}_<n>`, re-runnable where the backend allows (MySQL
/// has no `IF NOT EXISTS` for indexes).
fn create_index(table: &str, n: usize, cols: &[String], unique: bool, backend: Backend) -> String {
    let mut index = Index::create();
    let kind = if unique { "uniq" } else { "idx" };
    index.name(index_name(table, kind, n)).table(Alias::new(table));
    if unique {
        index.unique();
    }
    if backend != Backend::MySql {
        index.if_not_exists();
    }
    for c in cols {
        index.col(Alias::new(c));
    }
    index.build_any(&*backend.schema_builder())
}

/// What a migration adds to a table an earlier migration created: the new columns, indexes
/// and unique constraints of `after` (a superset of `before`), on one backend. Names continue
/// the table's numbering, as if the table had been created whole.
pub fn extend_statements(before: &TableSpec, after: &TableSpec, backend: Backend) -> Vec<String> {
    let builder = backend.schema_builder();
    let mut out = Vec::new();
    for c in after.columns.iter().filter(|c| !before.columns.contains(c)) {
        // A column added to a table with rows must be nullable or have a default; the specs
        // of added columns are nullable.
        let mut alter = Table::alter();
        let mut def = ColumnDef::new(Alias::new(&c.name));
        column_type(&mut def, c.ty, backend);
        def.null();
        alter.table(Alias::new(&after.name)).add_column(&mut def);
        out.push(alter.build_any(&*builder));
    }
    for (n, cols) in after.uniques.iter().enumerate().skip(before.uniques.len()) {
        out.push(create_index(&after.name, n, cols, true, backend));
    }
    for (n, cols) in after.indexes.iter().enumerate().skip(before.indexes.len()) {
        out.push(create_index(&after.name, n, cols, false, backend));
    }
    out
}

/// Merges a later migration's spec of a table into the table as it stood: new columns,
/// indexes and unique constraints are appended.
pub fn merge_spec(before: &TableSpec, later: &TableSpec) -> TableSpec {
    let mut merged = before.clone();
    for c in &later.columns {
        if !merged.columns.iter().any(|m| m.name == c.name) {
            merged.columns.push(c.clone());
        }
    }
    for i in &later.indexes {
        if !merged.indexes.contains(i) {
            merged.indexes.push(i.clone());
        }
    }
    for u in &later.uniques {
        if !merged.uniques.contains(u) {
            merged.uniques.push(u.clone());
        }
    }
    merged
}

impl Store {
    /// Runs the DDL that extends a table an earlier migration created (used by the migrator).
    pub async fn extend_table(&self, before: &TableSpec, after: &TableSpec) -> StoreResult<()> {
        for sql in extend_statements(before, after, self.backend) {
            self.execute_raw(&sql).await?;
        }
        Ok(())
    }

    /// Runs DDL for `tables` (used by the migrator).
    pub async fn create_tables(&self, tables: &[TableSpec]) -> StoreResult<()> {
        for spec in tables {
            for sql in create_statements(spec, self.backend) {
                self.execute_raw(&sql).await?;
            }
        }
        Ok(())
    }

    /// Counts the rows of every table the catalogue describes (run off the request path).
    pub async fn refresh_table_sizes(&self) -> StoreResult<()> {
        let tables = tables_for(self.catalogue());
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
        self.set_table_sizes(sizes);
        Ok(())
    }
}
