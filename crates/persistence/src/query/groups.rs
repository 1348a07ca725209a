//! Dynamic group membership as SQL, computed when a read asks: every group with its children
//! read in two statements, and a group's members ([`domain::dynamic_group::Members`]) compiled
//! into one condition on the member model's table — a filter group's `filter` through the
//! model's own filters, a static group's associations as a subquery, child groups combined.
//! Nothing is cached between requests, so a group is never stale.
//!
//! [`domain::dynamic_group::Members`]: ferrobot_domain::dynamic_group::Members

use std::collections::HashMap;
use std::sync::Arc;

use ferrobot_domain::dynamic_group::{self as dg, fields, Group, Kind, Members, Operator};
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::request::stored_filter_args;
use ferrobot_domain::{Model, ModelId};
use sea_query::{Alias, Cond, Condition, Expr, IntoCondition, Query};
use uuid::Uuid;

use super::{uuid_value, Cell, ColType};
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// Whether an argument filters on group membership (`dynamic_groups`).
pub(crate) fn is_member_filter(arg: &ferrobot_domain::request::FilterArg) -> bool {
    matches!(&arg.target, ferrobot_domain::request::ArgTarget::Filter(f)
        if f.kind == ferrobot_domain::catalogue::FilterKind::Member)
}

/// Every group by id.
pub(crate) type Groups = Arc<HashMap<Uuid, Group>>;

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(what.to_string())
}

/// `1 = 1` / `1 = 0`: written out, so that they mean the same nested anywhere.
fn always(yes: bool) -> Condition {
    Expr::val(1).eq(if yes { 1 } else { 0 }).into_condition()
}

impl Store {
    /// Every group with its children in order: two statements.
    pub(crate) async fn read_groups(&self) -> StoreResult<Groups> {
        let catalogue = self.catalogue().clone();
        let group = catalogue.by_label(dg::GROUP).ok_or_else(|| internal("no group model"))?;
        let column = |m: &Model, name: &str| -> StoreResult<(String, ColType)> {
            let (_, f) = m.field(name).ok_or_else(|| internal(format!("no field {name}")))?;
            Ok((f.column.clone().unwrap_or_default(), crate::cell::col_type(&f.kind)))
        };
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&group.table));
        let mut types = vec![ColType::Uuid];
        for name in [fields::NAME, fields::CONTENT_TYPE, fields::GROUP_TYPE, fields::FILTER] {
            let (c, ty) = column(group, name)?;
            select.column(Alias::new(c));
            types.push(ty);
        }
        let rows = self.fetch(&select, &types).await?;
        let mut groups = HashMap::with_capacity(rows.len());
        for r in 0..rows.len() {
            let c = rows.row(r);
            let Some(id) = c[0].as_uuid() else { continue };
            let text = |i: usize| c[i].as_str().unwrap_or_default().to_owned();
            let Some(kind) = Kind::parse(&text(3)) else { continue };
            let filter = match &c[4] {
                Cell::Json(j) => (**j).clone(),
                _ => serde_json::Value::Null,
            };
            groups.insert(
                id,
                Group {
                    id,
                    name: text(1),
                    content_type: text(2),
                    kind,
                    filter,
                    children: Vec::new(),
                },
            );
        }
        let membership =
            catalogue.by_label(dg::MEMBERSHIP).ok_or_else(|| internal("no membership model"))?;
        let mut select = Query::select();
        let mut types = Vec::new();
        for name in [fields::PARENT, fields::CHILD, fields::OPERATOR, fields::WEIGHT] {
            let (c, ty) = column(membership, name)?;
            select.column(Alias::new(c));
            types.push(ty);
        }
        select.from(Alias::new(&membership.table));
        let rows = self.fetch(&select, &types).await?;
        let mut children: HashMap<Uuid, Vec<(i64, String, Operator, Uuid)>> = HashMap::new();
        for r in 0..rows.len() {
            let c = rows.row(r);
            let (Some(parent), Some(child)) = (c[0].as_uuid(), c[1].as_uuid()) else { continue };
            let Some(operator) = c[2].as_str().and_then(Operator::parse) else { continue };
            let weight = match c[3] {
                Cell::Int(w) => w,
                _ => 0,
            };
            let name = groups.get(&child).map(|g| g.name.clone()).unwrap_or_default();
            children.entry(parent).or_default().push((weight, name, operator, child));
        }
        for (parent, mut list) in children {
            list.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            if let Some(g) = groups.get_mut(&parent) {
                g.children = list.into_iter().map(|(_, _, o, c)| (o, c)).collect();
            }
        }
        Ok(Arc::new(groups))
    }

    /// The condition on `model`'s table that holds for the members of group `id`; a group of
    /// another model holds none of its rows. A filter that no longer compiles (an object it
    /// names was deleted) holds nothing, as Nautobot's query for it finds nothing.
    pub(crate) async fn group_condition(
        &self,
        groups: &HashMap<Uuid, Group>,
        model: &Model,
        id: Uuid,
    ) -> StoreResult<Condition> {
        if groups.get(&id).is_none_or(|g| g.content_type != model.label) {
            return Ok(always(false));
        }
        let members = dg::members(groups, id);
        let mut compiled = HashMap::new();
        for filter_group in members.filters() {
            if compiled.contains_key(&filter_group) {
                continue;
            }
            let condition = self.filter_condition(groups, model.id, filter_group).await?;
            compiled.insert(filter_group, condition);
        }
        Ok(self.members_sql(model, &members, &compiled))
    }

    /// A filter group's filter as a condition, or `1 = 0` when it names what is not there.
    /// Boxed: compiling a filter may compile a group again (the member filter).
    fn filter_condition<'a>(
        &'a self,
        groups: &'a HashMap<Uuid, Group>,
        model: ModelId,
        id: Uuid,
    ) -> futures_util::future::BoxFuture<'a, StoreResult<Condition>> {
        Box::pin(async move {
            let catalogue = self.catalogue().clone();
            let Some(map) = groups.get(&id).and_then(|g| g.filter.as_object()) else {
                return Ok(always(false));
            };
            let Ok(args) = stored_filter_args(catalogue.model(model), map) else {
                return Ok(always(false));
            };
            // Groups combine through child groups, never through a filter on membership (the
            // write path refuses one): nothing recurses here.
            if args.iter().any(is_member_filter) {
                return Ok(always(false));
            }
            // Membership is a fact of the data, whoever reads it: the filter sees every object.
            let everything = Permissions::superuser(Uuid::nil());
            match self.compile_filters(model, &args, &everything).await {
                Ok(condition) => Ok(condition),
                Err(StoreError::Invalid { .. } | StoreError::Filters(_)) => Ok(always(false)),
                Err(e) => Err(e),
            }
        })
    }

    fn members_sql(
        &self,
        model: &Model,
        members: &Members,
        compiled: &HashMap<Uuid, Condition>,
    ) -> Condition {
        match members {
            Members::All => always(true),
            Members::Nothing => always(false),
            Members::Filter(id) => compiled.get(id).cloned().unwrap_or_else(|| always(false)),
            Members::Static(id) => {
                let catalogue = self.catalogue().clone();
                let Some(association) = catalogue.by_label(dg::ASSOCIATION) else {
                    return always(false);
                };
                let column = |name: &str| {
                    association.field(name).and_then(|(_, f)| f.column.clone()).unwrap_or_default()
                };
                let mut sub = Query::select();
                sub.column(Alias::new(column(fields::ASSOCIATED_ID)))
                    .from(Alias::new(&association.table))
                    .and_where(
                        Expr::col(Alias::new(column(fields::ASSOCIATED_GROUP))).eq(uuid_value(*id)),
                    )
                    .and_where(
                        Expr::col(Alias::new(column(fields::ASSOCIATED_TYPE)))
                            .eq(model.label.as_str()),
                    );
                Expr::col(Alias::new("id")).in_subquery(sub).into_condition()
            }
            // Rows outside the set, nulls included: `id NOT IN (rows of the set)`.
            Members::Not(inner) => {
                let mut sub = Query::select();
                sub.column(Alias::new("id"))
                    .from(Alias::new(&model.table))
                    .cond_where(self.members_sql(model, inner, compiled));
                Expr::col(Alias::new("id")).not_in_subquery(sub).into_condition()
            }
            Members::And(items) => items
                .iter()
                .fold(Cond::all(), |all, m| all.add(self.members_sql(model, m, compiled))),
            Members::Or(items) => items
                .iter()
                .fold(Cond::any(), |any, m| any.add(self.members_sql(model, m, compiled))),
        }
    }

    /// The members of any of the groups `ids` (`devices(dynamic_groups: [...])`).
    pub(crate) async fn members_of_any(
        &self,
        model: &Model,
        ids: &[Uuid],
    ) -> StoreResult<Condition> {
        let groups = self.read_groups().await?;
        let mut any = Vec::with_capacity(ids.len());
        for id in ids {
            any.push(self.group_condition(&groups, model, *id).await?);
        }
        Ok(match any.is_empty() {
            true => always(false),
            false => super::any_of(any),
        })
    }

    /// Each group that can hold `model`'s objects, with its members' condition: what the
    /// `dynamic_groups` of a level are read with.
    pub(crate) async fn group_branches(
        &self,
        model: &Model,
        groups: &HashMap<Uuid, Group>,
    ) -> StoreResult<Vec<(Uuid, Condition)>> {
        let mut ids: Vec<&Group> =
            groups.values().filter(|g| g.content_type == model.label).collect();
        ids.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(ids.len());
        for g in ids {
            out.push((g.id, self.group_condition(groups, model, g.id).await?));
        }
        Ok(out)
    }

    /// Object → the groups that hold it, for the objects `keys` names: the groups of the model
    /// read (two statements), then every pair in one `UNION ALL` statement.
    pub(crate) async fn memberships(
        &self,
        model: &Model,
        keys: &super::Keys,
    ) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        let groups = self.read_groups().await?;
        let branches = self.group_branches(model, &groups).await?;
        let union = self.membership_pairs(&model.table, "ms", keys, &branches);
        let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let Some(union) = union else { return Ok(out) };
        let rows = self.fetch(&union, &[ColType::Uuid, ColType::Uuid]).await?;
        for r in 0..rows.len() {
            let c = rows.row(r);
            if let (Some(object), Some(group)) = (c[0].as_uuid(), c[1].as_uuid()) {
                out.entry(object).or_default().push(group);
            }
        }
        Ok(out)
    }

    /// (object, group) pairs, columns `o` and `g`: `SELECT src.id, <group> FROM src WHERE
    /// <keys> AND <members>` for each group, as one `UNION ALL` (a union of subqueries of at
    /// most [`UNION_TERMS`] branches each past that). `None` without groups.
    pub(crate) fn membership_pairs(
        &self,
        source: &str,
        alias: &str,
        keys: &super::Keys,
        groups: &[(Uuid, Condition)],
    ) -> Option<sea_query::SelectStatement> {
        let src = Alias::new(alias);
        let id = || Expr::col((src.clone(), Alias::new("id")));
        let parts = groups.iter().map(|(group, members)| {
            let mut part = Query::select();
            part.expr_as(id(), Alias::new("o"))
                .expr_as(Expr::val(uuid_value(*group)), Alias::new("g"))
                .from_as(Alias::new(source), src.clone())
                .and_where(keys.condition(self.backend(), id()))
                .cond_where(members.clone());
            part
        });
        union_all(parts.collect(), 0)
    }
}

/// The most branches one compound `SELECT` holds: SQLite refuses more than 500 terms.
const UNION_TERMS: usize = 400;

/// The parts (each with columns `o`, `g`) as one `UNION ALL`; more than [`UNION_TERMS`] of
/// them as a union of subqueries (`SELECT o, g FROM (…) AS u<depth>_<i>`) of at most that
/// many each, a level of subqueries per [`UNION_TERMS`] factor.
fn union_all(
    mut parts: Vec<sea_query::SelectStatement>,
    depth: usize,
) -> Option<sea_query::SelectStatement> {
    if parts.len() > UNION_TERMS {
        let mut wrapped = Vec::with_capacity(parts.len().div_ceil(UNION_TERMS));
        let mut rest = parts.into_iter();
        let mut i = 0;
        loop {
            let chunk: Vec<_> = rest.by_ref().take(UNION_TERMS).collect();
            if chunk.is_empty() {
                break;
            }
            let union = union_all(chunk, depth + 1)?;
            let mut outer = Query::select();
            outer
                .column(Alias::new("o"))
                .column(Alias::new("g"))
                .from_subquery(union, Alias::new(format!("u{depth}_{i}")));
            wrapped.push(outer);
            i += 1;
        }
        return union_all(wrapped, depth + 1);
    }
    let mut rest = parts.drain(..);
    let mut union = rest.next()?;
    for part in rest {
        union.union(sea_query::UnionType::All, part);
    }
    Some(union)
}
