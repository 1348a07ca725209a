//! A relationship's associations as SQL: the rows of a through table that hold given values
//! (`held`), read either way for a symmetric relationship (`either_way`), and the
//! `cr_<key>__<side>` filter (`Store::association_condition`).

use ferrobot_domain::catalogue::RelationShape;
use ferrobot_domain::value::Datum;
use sea_query::{Alias, Cond, Condition, Expr, IntoCondition, Query, SelectStatement};
use uuid::Uuid;

use super::{col, invalid, ColType, FilterArg, Keys};
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// What the rows of a through table must hold: its content type (a generic table) and its
/// (column, value) conditions (a relationship's id), on bare columns.
pub(super) fn held(
    content_type: &Option<(String, String)>,
    conditions: &[(String, Datum)],
) -> Condition {
    let mut held = Cond::all();
    if let Some((ct_column, label)) = content_type {
        held = held.add(Expr::col(Alias::new(ct_column)).eq(label.as_str()));
    }
    for (column, value) in conditions {
        held = held.add(col(column).eq(crate::bind::bind(ColType::Text, value.clone())));
    }
    held
}

/// The columns of the (near, far) pairs a through table that leads either way is read as.
pub(super) const NEAR: &str = "near_id";
pub(super) const FAR: &str = "far_id";

/// Each row of `table` that holds `held`, read both ways: (source, target) and (target, source)
/// as ([`NEAR`], [`FAR`]).
pub(super) fn either_way(
    table: &str,
    source: &str,
    target: &str,
    held: &Condition,
) -> SelectStatement {
    let half = |near: &str, far: &str| {
        let mut s = Query::select();
        s.expr_as(Expr::col(Alias::new(near)), Alias::new(NEAR))
            .expr_as(Expr::col(Alias::new(far)), Alias::new(FAR))
            .from(Alias::new(table))
            .cond_where(held.clone());
        s
    };
    let mut union = half(source, target);
    union.union(sea_query::UnionType::All, half(target, source));
    union
}

impl Store {
    /// `cr_<key>__<side>`: the objects an association of the relationship links to any of the
    /// ids given (ids of the objects at the other end).
    pub(super) fn association_condition(
        &self,
        relation: &ferrobot_domain::catalogue::Relation,
        arg: &FilterArg,
    ) -> StoreResult<Condition> {
        let RelationShape::Through {
            table,
            source_column,
            target_column,
            conditions,
            both_ways,
            ..
        } = &relation.shape
        else {
            return Err(StoreError::Internal(format!("{} is not an association", relation.name)));
        };
        let mut ids = Vec::with_capacity(arg.values.len());
        for value in &arg.values {
            let text = value.text();
            match Uuid::parse_str(&text) {
                Ok(id) => ids.push(id),
                Err(_) => {
                    return Err(invalid(
                        &arg.argument,
                        format!(
                            "Select a valid choice. {text} is not one of the available choices."
                        ),
                    ))
                }
            }
        }
        let keys = Keys::List(ids);
        let held = held(&None, conditions);
        let mut near = Query::select();
        if *both_ways {
            let pairs = Alias::new("pairs");
            near.column((pairs.clone(), Alias::new(NEAR)))
                .from_subquery(
                    either_way(table, source_column, target_column, &held),
                    pairs.clone(),
                )
                .and_where(keys.condition(self.backend, Expr::col((pairs, Alias::new(FAR)))));
        } else {
            near.column(Alias::new(source_column))
                .from(Alias::new(table))
                .cond_where(held)
                .and_where(keys.condition(self.backend, col(target_column)));
        }
        Ok(col("id").in_subquery(near).into_condition())
    }
}
