//! Data validation rules applied to a write (`ferrobot_domain::data_validation`): the enabled
//! rules read once a write, in one statement, each object checked against its model's rules, and
//! unique rules counted in the transaction.

use ferrobot_domain::data_validation::{fields, Rule, Rules, Verdict, MODELS};
use sea_query::{Func, SelectStatement, UnionType};

use super::*;
use crate::store::Backend;

/// The rule fields read from every rule model, with their types; a model without one reads null.
const COLUMNS: [(&str, ColType); 10] = [
    (fields::NAME, ColType::Text),
    (fields::CONTENT_TYPE, ColType::Text),
    (fields::FIELD, ColType::Text),
    (fields::ENABLED, ColType::Bool),
    (fields::ERROR_MESSAGE, ColType::Text),
    (fields::REGULAR_EXPRESSION, ColType::Text),
    (fields::CONTEXT_PROCESSING, ColType::Bool),
    (fields::MIN, ColType::Text),
    (fields::MAX, ColType::Text),
    (fields::MAX_INSTANCES, ColType::Int(ferrobot_domain::catalogue::IntSize::Big)),
];

/// One select of every rule model, its kind (the index in `MODELS`) first, ordered by kind and
/// name, as Nautobot runs them.
fn rules_select(catalogue: &Catalogue, backend: Backend) -> Option<SelectStatement> {
    let mut union: Option<SelectStatement> = None;
    for (kind, label) in MODELS.iter().enumerate() {
        let Some(model) = catalogue.by_label(label) else { continue };
        let mut select = Query::select();
        // Literals, not parameters: MySQL types a union's column from them.
        let kind = match backend {
            Backend::Postgres => format!("CAST({kind} AS bigint)"),
            _ => kind.to_string(),
        };
        select.expr_as(Expr::cust(kind), Alias::new("kind"));
        for (name, ty) in COLUMNS {
            match model.field(name) {
                Some(_) => {
                    select.expr_as(Expr::col(Alias::new(model.column_of(name))), Alias::new(name))
                }
                None => select.expr_as(Expr::cust(typed_null(backend, ty)), Alias::new(name)),
            };
        }
        select.from(Alias::new(&model.table));
        match &mut union {
            None => union = Some(select),
            Some(u) => {
                u.union(UnionType::All, select);
            }
        }
    }
    union.map(|mut u| {
        u.order_by(Alias::new("kind"), Order::Asc).order_by(Alias::new(fields::NAME), Order::Asc);
        u
    })
}

/// A null a union can type: PostgreSQL types a union's columns branch by branch, so a null
/// before the first typed branch must say its type; MySQL and SQLite take a bare one.
fn typed_null(backend: Backend, ty: ColType) -> &'static str {
    match (backend, ty) {
        (Backend::Postgres, ColType::Bool) => "CAST(NULL AS boolean)",
        (Backend::Postgres, ColType::Int(_)) => "CAST(NULL AS bigint)",
        (Backend::Postgres, _) => "CAST(NULL AS text)",
        _ => "NULL",
    }
}

impl<'s> Writer<'s> {
    /// The enabled rules as this transaction sees them, read once (again after a rule is
    /// written).
    async fn data_rules(&mut self) -> StoreResult<Arc<Rules>> {
        if let Some(rules) = &self.data_rules {
            return Ok(rules.clone());
        }
        let catalogue = self.catalogue.clone();
        let mut rules = Vec::new();
        if let Some(select) = rules_select(&catalogue, self.store.backend) {
            let tables: Vec<&str> = MODELS
                .iter()
                .filter_map(|l| catalogue.by_label(l).map(|m| m.table.as_str()))
                .collect();
            self.flush_for_tables(&tables).await?;
            let mut types = vec![ColType::Int(ferrobot_domain::catalogue::IntSize::Big)];
            types.extend(COLUMNS.iter().map(|(_, t)| *t));
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &types).await?;
            for r in 0..rows.len() {
                let cells = rows.row(r);
                let Some(label) = cells[0].as_i64().and_then(|k| MODELS.get(k as usize)) else {
                    continue;
                };
                let mut row = Row::new();
                for ((name, _), cell) in COLUMNS.iter().zip(&cells[1..]) {
                    row.set(*name, cell.clone());
                }
                rules.extend(Rule::from_row(label, &row));
            }
        }
        let rules = Arc::new(Rules::new(rules));
        self.data_rules = Some(rules.clone());
        Ok(rules)
    }

    /// Spec: `BaseValidator.clean`: every enabled rule of the object's model, each failure on
    /// its field (a field that failed already is not judged again).
    pub(super) async fn check_data_rules(
        &mut self,
        model: &Model,
        id: Uuid,
        object: &Row,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        if !model.features.custom_validators {
            return Ok(());
        }
        let rules = self.data_rules().await?;
        for rule in rules.of(&model.label) {
            if errors.iter().any(|e| e.field == rule.field) {
                continue;
            }
            let Some((_, field)) = model.field(&rule.field) else { continue };
            let value = object.get(&rule.field);
            match rule.check(field, value, || model.row_json(object)) {
                Verdict::Pass => {}
                Verdict::Fail(m) => errors.push(ValidationError::new(&rule.field, m)),
                Verdict::Count { limit } => {
                    let Some(column) = field.column.as_deref() else { continue };
                    let others = self.count_others(model, id, column, value).await?;
                    if others >= limit {
                        errors.push(ValidationError::new(&rule.field, rule.unique_failure(limit)));
                    }
                }
            }
        }
        Ok(())
    }

    /// How many objects of the model other than `id` hold `value` in `column`, this write's
    /// own included: those in the table, and those still queued (counted in the batches, so
    /// that a write under a unique rule keeps its multi-row inserts).
    async fn count_others(
        &mut self,
        model: &Model,
        id: Uuid,
        column: &str,
        value: &Datum,
    ) -> StoreResult<i64> {
        let bound = bind(column_type(model, column), value.clone());
        let own = crate::query::uuid_value(id);
        let queued = self
            .ready
            .iter()
            .chain(&self.batches)
            .filter(|b| b.table == model.table)
            .map(|b| {
                let at = |name: &str| b.columns.iter().position(|c| c == name);
                let (Some(v), Some(i)) = (at(column), at("id")) else { return 0 };
                b.rows.iter().filter(|r| r[v] == bound && r[i] != own).count() as i64
            })
            .sum::<i64>();
        let mut select = Query::select();
        select
            .expr(Func::count(Expr::col(Alias::new("id"))))
            .from(Alias::new(&model.table))
            .and_where(Expr::col(Alias::new(column)).eq(bound))
            .and_where(Expr::col(Alias::new("id")).ne(own));
        let tx = self.tx()?;
        let rows = self
            .store
            .fetch_in(tx, &select, &[ColType::Int(ferrobot_domain::catalogue::IntSize::Big)])
            .await?;
        Ok(queued + rows.cells.first().and_then(Cell::as_i64).unwrap_or(0))
    }
}
