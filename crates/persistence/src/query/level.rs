//! One level of a nested read: how it hangs off its parent ([`Link`], [`Keys`]) and the one
//! statement that reads it ([`Store::load_level`]), kept as a [`Scope`] for its children.

use sea_query::{Alias, Cond, Condition, Expr, Order, Query, SelectStatement, SimpleExpr};
use uuid::Uuid;

use super::{uuid_constant, uuid_value, ColType, Rows, BOUND_KEYS};
use crate::store::{Backend, Store};
use crate::StoreResult;
use ferrobot_domain::catalogue::{ModelId, RelationShape};

/// A set of parent keys: the parents' key values, or a statement that selects them.
#[derive(Debug, Clone)]
pub enum Keys {
    List(Vec<Uuid>),
    /// `column IN (SELECT key FROM parent WHERE …)`: the database walks the parent's keys.
    Query(Box<SelectStatement>),
    /// `EXISTS (SELECT 1 FROM parent AS alias WHERE alias.key = column AND …)`: the database
    /// walks the child's rows and probes the parent by key. Cheaper when the child table is
    /// smaller than the parent set (IP assignments under all interfaces, statuses under them).
    Exists {
        table: String,
        alias: String,
        key: String,
        condition: Condition,
    },
    /// Every row of an unfiltered parent table: any non-null key qualifies.
    All,
}

impl Keys {
    pub(crate) fn condition(&self, backend: Backend, column: Expr) -> SimpleExpr {
        match self {
            Keys::List(ids) => {
                if ids.is_empty() {
                    Expr::val(1).eq(0)
                } else if backend == Backend::Postgres {
                    // One array bound as one value: the statement's text is the same for any
                    // number of keys, so PostgreSQL parses and plans it once per connection.
                    Expr::cust_with_exprs(
                        "$1 = ANY(CAST($2 AS uuid[]))",
                        [column.into(), Expr::val(uuid_array(ids)).into()],
                    )
                } else if ids.len() > BOUND_KEYS {
                    column.is_in(ids.iter().map(|u| uuid_constant(backend, *u)))
                } else {
                    column.is_in(ids.iter().map(|u| uuid_value(*u)))
                }
            }
            Keys::Query(stmt) => column.in_subquery((**stmt).clone()),
            Keys::All => column.is_not_null(),
            Keys::Exists { table, alias, key, condition } => {
                let a = Alias::new(alias);
                let mut sub = Query::select();
                sub.expr(Expr::val(1))
                    .from_as(Alias::new(table), a.clone())
                    .and_where(Expr::col((a, Alias::new(key))).eq(column))
                    .cond_where(condition.clone());
                Expr::exists(sub)
            }
        }
    }
}

/// PostgreSQL's text form of a `uuid[]`: `{…,…}`.
fn uuid_array(ids: &[Uuid]) -> String {
    let mut out = String::with_capacity(2 + ids.len() * 37);
    out.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    }
    out.push('}');
    out
}

/// How a level hangs off its parent level.
#[derive(Debug, Clone)]
pub enum Link {
    Root {
        limit: Option<u64>,
        offset: Option<u64>,
        /// A cursor page instead of `limit`/`offset`.
        keyset: Option<RootKeyset>,
    },
    /// A child level: the relation's shape (the parent's foreign key, the rows' reference to
    /// the parent, a through table, a pairing) and the parents it serves.
    Child { shape: RelationShape, keys: Keys },
    /// The groups that hold the parents (`dynamic_groups`): the parents' table (`source`)
    /// read once per group that can hold them, each with its members' condition, as a
    /// `UNION ALL` of (object, group) pairs joined to the groups.
    Members { source: String, keys: Keys, groups: Vec<(Uuid, Condition)> },
}

/// A cursor page of a root level: `first` rows after a position given as the page-ordering
/// columns' values (`None` for NULL), decoded by the column types.
#[derive(Debug, Clone)]
pub struct RootKeyset {
    pub first: u64,
    pub after: Option<Vec<Option<sea_query::Value>>>,
}

/// What to read for one level.
#[derive(Debug, Clone)]
pub struct LevelSpec {
    pub model: ModelId,
    /// Nesting depth, 0 for the root: the level's table is aliased `l<depth>` everywhere, so
    /// conditions from several levels can meet in one statement without clashing.
    pub depth: usize,
    /// Extra columns beyond the model's: `_custom_field_data`, `_name` …
    pub columns: Vec<(String, ColType)>,
    pub condition: Condition,
    pub link: Link,
}

/// The statement that selected a level, kept so that its children can use it as a subquery.
#[derive(Debug, Clone)]
pub struct Scope {
    table: String,
    alias: String,
    /// Every row of the table (or every row with a parent, when the parent level was whole
    /// too): children then need no key condition. Rows without a parent may be read along;
    /// nothing refers to them, so they are never written out.
    whole: bool,
    condition: Condition,
    limit: Option<u64>,
    offset: Option<u64>,
    order: Vec<OrderKey>,
    /// A window of a root level's rows: exactly the rows with these ids, which its children
    /// are handed as a list.
    ids: Option<Vec<Uuid>>,
}

/// One key of a level's order.
#[derive(Debug, Clone)]
pub(crate) struct OrderKey {
    column: String,
    descending: bool,
}

/// `ORDER BY` the keys, on the table aliased `alias`, NULLs where each backend's indexes keep
/// them (so that an index on the columns serves the order).
fn order_by(select: &mut SelectStatement, alias: &Alias, keys: &[OrderKey]) {
    for key in keys {
        let column = Expr::col((alias.clone(), Alias::new(&key.column)));
        let direction = if key.descending { Order::Desc } else { Order::Asc };
        select.order_by_expr(column.into(), direction);
    }
}

/// Where a backend sorts NULL: below every value on SQLite and MySQL, above on PostgreSQL.
fn null_is_highest(backend: Backend) -> bool {
    backend == Backend::Postgres
}

/// The rows strictly after the position `values` in the order of `keys`, NULL placed as the
/// backend places it: the lexicographic comparison spelled out, one disjunct per key, and
/// ahead of it the first key's bound (`col >= v`), which lets the database seek to the cursor
/// through an index on that column rather than read the rows before it.
fn after(
    alias: &Alias,
    keys: &[OrderKey],
    values: &[Option<sea_query::Value>],
    backend: Backend,
) -> Condition {
    let column = |k: &OrderKey| Expr::col((alias.clone(), Alias::new(&k.column)));
    let null_high = null_is_highest(backend);
    let mut any = Cond::any();
    for (i, key) in keys.iter().enumerate() {
        let mut all = Cond::all();
        for (k, v) in keys.iter().zip(values).take(i) {
            all = all.add(match v {
                None => column(k).is_null(),
                Some(v) => column(k).eq(v.clone()),
            });
        }
        // Whether NULL comes after every value in this key's direction.
        let null_after = null_high != key.descending;
        let beyond: Condition = match (&values[i], key.descending) {
            (None, _) if null_after => continue,
            (None, _) => Cond::all().add(column(key).is_not_null()),
            (Some(v), false) => Cond::any().add(column(key).gt(v.clone())),
            (Some(v), true) => Cond::any().add(column(key).lt(v.clone())),
        };
        let beyond = match (&values[i], null_after) {
            (Some(_), true) => beyond.add(column(key).is_null()),
            _ => beyond,
        };
        any = any.add(all.add(beyond));
    }
    if any.is_empty() {
        return Cond::all().add(Expr::val(1).eq(0));
    }
    let mut out = Cond::all();
    if let (Some(first), Some(Some(v))) = (keys.first(), values.first()) {
        let null_after = null_high != first.descending;
        let bound = match first.descending {
            false => column(first).gte(v.clone()),
            true => column(first).lte(v.clone()),
        };
        out = out.add(match null_after {
            true => Cond::any().add(bound).add(column(first).is_null()),
            false => Cond::all().add(bound),
        });
    }
    out.add(any)
}

impl Scope {
    /// The scope of a window of a root level's rows: the rows with these ids (aliased `l0`).
    pub(crate) fn window(table: &str, ids: Vec<Uuid>, backend: Backend) -> Scope {
        let alias = String::from("l0");
        let id = Expr::col((Alias::new(&alias), Alias::new("id")));
        let condition = Cond::all().add(Keys::List(ids.clone()).condition(backend, id));
        Scope {
            table: table.to_owned(),
            alias,
            whole: false,
            condition,
            limit: None,
            offset: None,
            order: Vec::new(),
            ids: Some(ids),
        }
    }

    /// Whether this level is a whole table (no filter, no page): its children need no key
    /// condition beyond a non-null link.
    pub(crate) fn is_whole_table(&self) -> bool {
        self.whole && self.limit.is_none() && self.offset.is_none()
    }

    /// `SELECT <column> FROM <level> WHERE <its filter>`: the keys of this level for a child.
    pub fn keys_of(&self, column: &str) -> Keys {
        if let (Some(ids), "id") = (&self.ids, column) {
            return Keys::List(ids.clone());
        }
        if self.is_whole_table() {
            return Keys::All;
        }
        let a = Alias::new(&self.alias);
        let mut inner = Query::select();
        inner
            .column((a.clone(), Alias::new(column)))
            .from_as(Alias::new(&self.table), a.clone())
            .cond_where(self.condition.clone());
        if self.limit.is_some() || self.offset.is_some() {
            order_by(&mut inner, &a, &self.order);
            inner.limit(self.limit.unwrap_or(u64::MAX >> 1));
            if let Some(o) = self.offset {
                inner.offset(o);
            }
            // MySQL refuses LIMIT inside IN (…); a derived table is accepted everywhere.
            let mut outer = Query::select();
            outer.column(Alias::new(column)).from_subquery(inner, Alias::new("page"));
            return Keys::Query(Box::new(outer));
        }
        Keys::Query(Box::new(inner))
    }

    /// The keys of this level as a correlated `EXISTS` (see [`Keys::Exists`]).
    pub fn exists_of(&self, column: &str) -> Keys {
        if self.limit.is_some()
            || (self.ids.is_some() && column == "id")
            || self.offset.is_some()
            || self.is_whole_table()
        {
            return self.keys_of(column);
        }
        Keys::Exists {
            table: self.table.clone(),
            alias: self.alias.clone(),
            key: column.to_owned(),
            condition: self.condition.clone(),
        }
    }
}

impl Store {
    /// Reads one level; returns its rows (link key first when it has a parent) and its scope.
    pub async fn load_level(&self, spec: &LevelSpec) -> StoreResult<(Rows, Scope)> {
        use tracing::Instrument;
        let table = self.catalogue.model(spec.model).table.clone();
        let span = tracing::info_span!("load_level", table, depth = spec.depth);
        let (select, types, scope) = self.level_statement(spec);
        let rows = self.fetch(&select, &types).instrument(span).await?;
        Ok((rows, scope))
    }

    /// The statement that reads one level, the types of its columns, and the scope its children
    /// use; nothing is run.
    pub(crate) fn level_statement(
        &self,
        spec: &LevelSpec,
    ) -> (SelectStatement, Vec<ColType>, Scope) {
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(spec.model);
        let alias = format!("l{}", spec.depth);
        let t = Alias::new(&alias);
        let qualified = |c: &str| Expr::col((t.clone(), Alias::new(c)));
        let mut select = Query::select();
        let mut types = Vec::new();
        let scope_condition;
        let key = |o: &ferrobot_domain::catalogue::OrderTerm| OrderKey {
            column: o.column.clone(),
            descending: o.descending,
        };
        let mut order: Vec<OrderKey> = model.ordering.iter().map(key).collect();
        let mut limit = None;
        let mut offset = None;
        match &spec.link {
            Link::Root { limit: l, offset: o, keyset } => {
                select.from_as(Alias::new(&model.table), t.clone());
                let mut condition = spec.condition.clone();
                if let Some(keyset) = keyset {
                    // A cursor page: the page order, one row more than asked
                    // (whether a next page exists).
                    order = model.page_ordering.iter().map(key).collect();
                    if let Some(values) = &keyset.after {
                        condition =
                            Cond::all().add(condition).add(after(&t, &order, values, self.backend));
                    }
                    limit = Some(keyset.first.saturating_add(1));
                } else {
                    limit = *l;
                    offset = *o;
                }
                scope_condition = condition;
                select.cond_where(scope_condition.clone());
            }
            Link::Child { shape: RelationShape::Forward { .. }, keys } => {
                select.from_as(Alias::new(&model.table), t.clone());
                select.expr(qualified("id"));
                types.push(ColType::Uuid);
                scope_condition = Cond::all()
                    .add(keys.condition(self.backend, qualified("id")))
                    .add(spec.condition.clone());
                select.cond_where(scope_condition.clone());
            }
            Link::Child { shape: RelationShape::Reverse { column, content_type, .. }, keys } => {
                select.from_as(Alias::new(&model.table), t.clone());
                select.expr(qualified(column));
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, qualified(column)));
                if let Some((ct_column, label)) = content_type {
                    link = link.add(qualified(ct_column).eq(label.as_str()));
                }
                scope_condition = link.add(spec.condition.clone());
                select.cond_where(scope_condition.clone());
                // Children grouped by parent; the model's own ordering may start with the link
                // (interfaces: device, then name), and a repeated key would cost a sort.
                if order.first().is_none_or(|k| &k.column != column) {
                    select.order_by((t.clone(), Alias::new(column)), Order::Asc);
                }
            }
            Link::Child {
                shape:
                    RelationShape::Through {
                        table,
                        source_column,
                        target_column,
                        content_type,
                        conditions,
                        both_ways,
                        ..
                    },
                keys,
            } => {
                // The through table is aliased by depth too: `th<depth>`.
                let th = Alias::new(format!("th{}", spec.depth));
                let th_col = |c: &str| Expr::col((th.clone(), Alias::new(c)));
                let held = super::associations::held(content_type, conditions);
                // The rows as (near, far) pairs: the table itself, or for rows that lead either
                // way both readings of each row, as a derived table under the same alias.
                let pairs = |select: &mut SelectStatement| {
                    if *both_ways {
                        select.from_subquery(
                            super::associations::either_way(
                                table,
                                source_column,
                                target_column,
                                &held,
                            ),
                            th.clone(),
                        );
                    } else {
                        select.from_as(Alias::new(table), th.clone());
                    }
                };
                let (near, far) = match both_ways {
                    true => (super::associations::NEAR, super::associations::FAR),
                    false => (source_column.as_str(), target_column.as_str()),
                };
                pairs(&mut select);
                select.inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&model.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    qualified("id").equals((th.clone(), Alias::new(far))),
                );
                select.expr(th_col(near));
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, th_col(near)));
                let mut sub = Query::select();
                sub.column((th.clone(), Alias::new(far)));
                pairs(&mut sub);
                let mut sub_cond = Cond::all().add(keys.condition(self.backend, th_col(near)));
                if !*both_ways {
                    if let Some((ct_column, label)) = content_type {
                        link = link.add(th_col(ct_column).eq(label.as_str()));
                        sub_cond = sub_cond.add(th_col(ct_column).eq(label.as_str()));
                    }
                    for (column, value) in conditions {
                        let value = crate::bind::bind(ColType::Text, value.clone());
                        link = link.add(th_col(column).eq(value.clone()));
                        sub_cond = sub_cond.add(th_col(column).eq(value));
                    }
                }
                sub.cond_where(sub_cond);
                if let Some(own) = own_filter(&model.table, qualified("id"), &spec.condition) {
                    link = link.add(own);
                }
                select.cond_where(link);
                scope_condition =
                    Cond::all().add(qualified("id").in_subquery(sub)).add(spec.condition.clone());
                select.order_by((th.clone(), Alias::new(near)), Order::Asc);
            }
            Link::Members { source, keys, groups } => {
                // (object, group) pairs, joined to the groups.
                let src = format!("ms{}", spec.depth);
                let pairs = Alias::new(format!("mb{}", spec.depth));
                let (object, group) = (Alias::new("o"), Alias::new("g"));
                let union =
                    self.membership_pairs(source, &src, keys, groups).unwrap_or_else(|| {
                        // No group: no pair (the executor does not read such a level).
                        let none = Alias::new(&src);
                        let mut select = Query::select();
                        select
                            .expr_as(Expr::col((none.clone(), Alias::new("id"))), object.clone())
                            .expr_as(Expr::col((none.clone(), Alias::new("id"))), group.clone())
                            .from_as(Alias::new(source), none)
                            .and_where(Expr::val(1).eq(0));
                        select
                    });
                select.from_subquery(union.clone(), pairs.clone());
                // The pairs first, each group found by its key: SQLite's `CROSS JOIN` keeps
                // that order (its planner otherwise put the groups outside: 10,000 devices in
                // 27 groups took 4.1× query b's time instead of 2.7×); elsewhere an inner join,
                // as PostgreSQL takes no `ON` after `CROSS JOIN`.
                let join = match self.backend {
                    Backend::Sqlite => sea_query::JoinType::CrossJoin,
                    _ => sea_query::JoinType::InnerJoin,
                };
                select.join(
                    join,
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&model.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    qualified("id").equals((pairs.clone(), group.clone())),
                );
                let pair_object = Expr::col((pairs.clone(), object.clone()));
                select.expr(pair_object.clone());
                types.push(ColType::Uuid);
                if let Some(own) = own_filter(&model.table, qualified("id"), &spec.condition) {
                    select.and_where(own);
                }
                let mut sub = Query::select();
                sub.column((pairs.clone(), group.clone())).from_subquery(union, pairs.clone());
                scope_condition =
                    Cond::all().add(qualified("id").in_subquery(sub)).add(spec.condition.clone());
                select.order_by_expr(pair_object.into(), Order::Asc);
            }
            // Read through `Link::Members`, which the executor makes of it.
            Link::Child { shape: RelationShape::Members { .. }, .. } => {
                select.from_as(Alias::new(&model.table), t.clone());
                select.expr(qualified("id"));
                types.push(ColType::Uuid);
                scope_condition = Cond::all().add(Expr::val(1).eq(0));
                select.cond_where(scope_condition.clone());
            }
            Link::Child {
                shape:
                    RelationShape::Peer {
                        table,
                        endpoint_column,
                        target_column,
                        group_column,
                        side_column,
                    },
                keys,
            } => {
                let near = Alias::new(format!("pa{}", spec.depth));
                let far = Alias::new(format!("pb{}", spec.depth));
                let pairing = |select: &mut SelectStatement| {
                    join_pairing(select, table, &near, &far, group_column, side_column);
                };
                pairing(&mut select);
                select.inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&model.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    qualified("id").equals((far.clone(), Alias::new(target_column))),
                );
                let near_end = Expr::col((near.clone(), Alias::new(endpoint_column)));
                select.expr(near_end.clone());
                types.push(ColType::Uuid);
                let mut link = Cond::all().add(keys.condition(self.backend, near_end.clone()));
                if let Some(own) = own_filter(&model.table, qualified("id"), &spec.condition) {
                    link = link.add(own);
                }
                select.cond_where(link);
                let mut sub = Query::select();
                pairing(&mut sub);
                sub.column((far.clone(), Alias::new(target_column)))
                    .cond_where(keys.condition(self.backend, near_end.clone()));
                scope_condition =
                    Cond::all().add(qualified("id").in_subquery(sub)).add(spec.condition.clone());
                select.order_by_expr(near_end.into(), Order::Asc);
            }
        }
        for (name, ty) in &spec.columns {
            select.expr(qualified(name));
            types.push(*ty);
        }
        if !matches!(spec.link, Link::Child { shape: RelationShape::Forward { .. }, .. }) {
            order_by(&mut select, &t, &order);
        }
        if let Some(l) = limit {
            select.limit(l);
        }
        if let Some(o) = offset {
            if limit.is_none() {
                select.limit(u64::MAX >> 1);
            }
            select.offset(o);
        }
        let whole = spec.condition.is_empty()
            && match &spec.link {
                Link::Root { .. } => true,
                Link::Child { keys, .. } => matches!(keys, Keys::All),
                Link::Members { .. } => false,
            };
        let scope = Scope {
            table: model.table.clone(),
            alias,
            whole,
            condition: scope_condition,
            limit,
            offset,
            order,
            ids: None,
        };
        (select, types, scope)
    }
}

/// A level's own filters (and the user's permission) for statements that join other tables:
/// the conditions name bare columns, so they apply where the model's table is alone, as a
/// correlated `EXISTS (SELECT 1 FROM table AS own WHERE own.id = <the level's id> AND …)`, which
/// probes the key of each row the statement reads instead of listing every row the conditions
/// allow (all the interfaces a user may see, under a few addresses).
fn own_filter(table: &str, id: Expr, condition: &Condition) -> Option<SimpleExpr> {
    if condition.is_empty() {
        return None;
    }
    let own = Alias::new("own");
    let mut sub = Query::select();
    sub.expr(Expr::val(1))
        .from_as(Alias::new(table), own.clone())
        .and_where(Expr::col((own, Alias::new("id"))).eq(id))
        .cond_where(condition.clone());
    Some(Expr::exists(sub))
}

/// `FROM table AS near JOIN table AS far ON far.group = near.group AND far.side <> near.side`:
/// each row beside the other end of its pairing (a cable's two terminations).
pub(crate) fn join_pairing(
    select: &mut SelectStatement,
    table: &str,
    near: &Alias,
    far: &Alias,
    group_column: &str,
    side_column: &str,
) {
    select.from_as(Alias::new(table), near.clone()).inner_join(
        sea_query::TableRef::TableAlias(
            sea_query::SeaRc::new(Alias::new(table)),
            sea_query::SeaRc::new(far.clone()),
        ),
        Cond::all()
            .add(
                Expr::col((far.clone(), Alias::new(group_column)))
                    .equals((near.clone(), Alias::new(group_column))),
            )
            .add(
                Expr::col((far.clone(), Alias::new(side_column)))
                    .ne(Expr::col((near.clone(), Alias::new(side_column)))),
            ),
    );
}
