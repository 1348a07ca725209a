//! Filter arguments → SQL conditions: lookups on fields, related objects by id or natural key
//! (tree filters with descendants), paths across relations, custom fields, search.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use ferrobot_domain::catalogue::{ComputedKind, Filter, FilterKind, Lookup, RelationShape};
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::{Catalogue, CustomFieldKind, FieldKind, Model, ModelId};
use sea_query::{
    Alias, Cond, Condition, Expr, Func, IntoCondition, LikeExpr, Query, SelectStatement,
    SimpleExpr, Value,
};
use uuid::Uuid;

use super::{
    any_of, col, col_type, invalid, join_pairing, text_type, uuid_value, ArgTarget, ArgValue, Cell,
    ColType, FilterArg, Keys,
};
use crate::store::{Backend, Store};
use crate::{StoreError, StoreResult};

impl Store {
    /// Compiles the filter arguments of one list field into a condition on `model`'s table.
    ///
    /// Values that name related objects are checked here, as Nautobot's filter forms do: a name
    /// that matches nothing is an error naming the argument, not an empty answer.
    /// Related objects are found among those the user may see (`perms`): filtering by an
    /// object the user may not see is filtering by one that does not exist.
    pub async fn compile_filters(
        &self,
        model: ModelId,
        args: &[FilterArg],
        perms: &Permissions,
    ) -> StoreResult<Condition> {
        let catalogue = self.catalogue.clone();
        let model = catalogue.model(model);
        let mut all = Cond::all();
        // Every refused value is reported, one message per argument, as a filter form's
        // errors are.
        let mut refused = Vec::new();
        for arg in args {
            match self.compile_one(&catalogue, model, arg, perms).await {
                Ok(cond) => all = all.add(cond),
                Err(StoreError::Invalid { argument, message }) => refused.push((argument, message)),
                Err(e) => return Err(e),
            }
        }
        match refused.len() {
            0 => Ok(all),
            1 => {
                let (argument, message) = refused.remove(0);
                Err(StoreError::Invalid { argument, message })
            }
            _ => Err(StoreError::Filters(refused)),
        }
    }

    async fn compile_one(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        arg: &FilterArg,
        perms: &Permissions,
    ) -> StoreResult<Condition> {
        let filter = match &arg.target {
            ArgTarget::CustomField { key, kind } => {
                let expr = self.custom_field_expr(key, *kind);
                if *kind == CustomFieldKind::Boolean {
                    let want = matches!(arg.values.first(), Some(ArgValue::Bool(true)));
                    let literal = match (self.backend, want) {
                        (Backend::Sqlite, true) => "1",
                        (Backend::Sqlite, false) => "0",
                        (_, true) => "true",
                        (_, false) => "false",
                    };
                    return Ok(Expr::expr(expr).eq(literal).into_condition());
                }
                let positive = text_or_number_condition(
                    self.backend,
                    expr,
                    arg,
                    matches!(kind, CustomFieldKind::Integer),
                    false,
                )?;
                return Ok(negate_if(arg.lookup, positive));
            }
            ArgTarget::Association(relation) => {
                return Ok(negate_if(arg.lookup, self.association_condition(relation, arg)?));
            }
            ArgTarget::Filter(f) => f,
        };
        let landing = catalogue.model(filter.landing);
        let want = || matches!(arg.values.first(), Some(ArgValue::Bool(true)));
        // What the landing rows must satisfy, and whether the answer is the rows that match
        // along no path instead (a negated lookup excludes the rows any related row matches,
        // as Django's `exclude`; `has_x: false` asks for rows with none).
        let (leaf, flip) = match filter.kind {
            FilterKind::Search => {
                let Some(ArgValue::Str(text)) = arg.values.first() else {
                    return Ok(Cond::all());
                };
                if text.trim().is_empty() {
                    return Ok(Cond::all());
                }
                (Leaf::Rows(self.search_condition(landing, text.trim())), false)
            }
            FilterKind::Network(how) => {
                let cond = super::network::network_condition(landing, how, filter.strict, arg)?;
                (Leaf::Rows(cond), arg.lookup.is_negated())
            }
            FilterKind::Has | FilterKind::HasEmpty => (Leaf::Any, !want()),
            FilterKind::AnyTrue => {
                let Some(fidx) = filter.field else { return Ok(Cond::all()) };
                let column = landing.fields[fidx].column.clone().unwrap_or_default();
                (Leaf::Rows(col(&column).eq(true).into_condition()), !want())
            }
            FilterKind::TreeWalk(walk) => {
                let Keys::List(named) = self.resolve_related(landing, filter, arg, perms).await?
                else {
                    return Err(crate::StoreError::Internal("named objects not listed".into()));
                };
                let found = self.walk_tree(landing, named, walk).await?;
                (Leaf::Keys(Keys::List(found)), arg.lookup.is_negated())
            }
            FilterKind::Member => {
                let Keys::List(named) = self.resolve_related(landing, filter, arg, perms).await?
                else {
                    return Err(crate::StoreError::Internal("named groups not listed".into()));
                };
                let members = self.members_of_any(model, &named).await?;
                return Ok(negate_if(arg.lookup, members));
            }
            FilterKind::Related | FilterKind::Tree | FilterKind::Prefix => {
                if arg.lookup == Lookup::IsNull {
                    (Leaf::Any, want())
                } else {
                    let ids = self.resolve_related(landing, filter, arg, perms).await?;
                    (Leaf::Keys(ids), arg.lookup.is_negated())
                }
            }
            FilterKind::MaxDepth => {
                // Nautobot ignores a depth below 1; deeper than MAX_TREE_DEPTH, no tree goes.
                let depth = match arg.values.first() {
                    Some(value) => whole_number(arg, value)?,
                    None => 0,
                };
                if !(1..=MAX_TREE_DEPTH).contains(&depth) {
                    return Ok(Cond::all());
                }
                let hop = filter.paths.first().and_then(|p| p.first()).copied().unwrap_or_default();
                let hops = vec![hop; depth as usize];
                return Ok(self.path_condition(catalogue, model, &hops, None, &everything).not());
            }
            FilterKind::JsonContains => {
                let Some(fidx) = filter.field else { return Ok(Cond::all()) };
                let column = landing.fields[fidx].column.clone().unwrap_or_default();
                let mut any = Vec::with_capacity(arg.values.len());
                for v in &arg.values {
                    any.push(json_list_holds(self.backend, &column, whole_number(arg, v)?));
                }
                (Leaf::Rows(any_of(any)), arg.lookup.is_negated())
            }
            FilterKind::IsNull => {
                let Some(fidx) = filter.field else { return Ok(Cond::all()) };
                let column = landing.fields[fidx].column.clone().unwrap_or_default();
                let c = if want() { col(&column).is_null() } else { col(&column).is_not_null() };
                (Leaf::Rows(c.into_condition()), false)
            }
            FilterKind::ContentType => {
                let Some(fidx) = filter.field else { return Ok(Cond::all()) };
                let column = landing.fields[fidx].column.clone().unwrap_or_default();
                let any = if landing.fields[fidx].kind == FieldKind::ContentType {
                    // One content type: its label, compared whole.
                    let labels = arg.values.iter().map(|v| v.text());
                    Expr::col(Alias::new(&column)).is_in(labels).into_condition()
                } else {
                    // A list of them: a JSON array holding the label.
                    any_of(arg.values.iter().map(|v| {
                        let pattern = format!("%\"{}\"%", escape_like(&v.text()));
                        Expr::expr(Func::cast_as(
                            Expr::col(Alias::new(&column)),
                            Alias::new(text_type(self.backend)),
                        ))
                        .like(LikeExpr::new(pattern).escape('\\'))
                        .into_condition()
                    }))
                };
                (Leaf::Rows(any), arg.lookup.is_negated())
            }
            _ => {
                let Some(fidx) = filter.field else { return Ok(Cond::all()) };
                let field = &landing.fields[fidx];
                let column = field.column.clone().unwrap_or_default();
                if arg.lookup == Lookup::IsNull {
                    let c =
                        if want() { col(&column).is_null() } else { col(&column).is_not_null() };
                    (Leaf::Rows(c.into_condition()), false)
                } else {
                    let c = self.field_condition(field, &column, filter.kind, arg)?;
                    (Leaf::Rows(c), arg.lookup.is_negated())
                }
            }
        };
        // Along each path: the model's own rows, or rows related to matching landing rows
        // (walked down with subqueries).
        let seen_by = |m: &Model| self.view_condition(perms, m.id);
        // Across relations, only the landing rows the user may see count.
        let seen = match filter.is_local() {
            true => None,
            false => self.view_condition(perms, landing.id),
        };
        let keys = match leaf {
            Leaf::Any => seen.map(|seen| {
                let mut inner = Query::select();
                inner.column(Alias::new("id")).from(Alias::new(&landing.table)).cond_where(seen);
                Keys::Query(Box::new(inner))
            }),
            Leaf::Keys(keys) => Some(keys),
            Leaf::Rows(cond) if filter.is_local() => {
                return Ok(if flip { cond.not() } else { cond });
            }
            Leaf::Rows(cond) => {
                let mut inner = Query::select();
                inner.column(Alias::new("id")).from(Alias::new(&landing.table)).cond_where(cond);
                if let Some(seen) = seen {
                    inner.cond_where(seen);
                }
                Some(Keys::Query(Box::new(inner)))
            }
        };
        let along = any_of(filter.paths.iter().map(|hops| match filter.kind {
            FilterKind::HasEmpty => self.empty_condition(catalogue, model, hops, &seen_by),
            _ => self.path_condition(catalogue, model, hops, keys.clone(), &seen_by),
        }));
        Ok(if flip { along.not() } else { along })
    }

    /// A lookup on a field, along a path of relations when it has one: what a permission's
    /// constraints compile to. Needs no statement.
    pub(crate) fn plain_condition(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        arg: &FilterArg,
    ) -> StoreResult<Condition> {
        let ArgTarget::Filter(filter) = &arg.target else {
            return Err(StoreError::Internal("a constraint on a custom field".into()));
        };
        let landing = catalogue.model(filter.landing);
        let Some(fidx) = filter.field else {
            return Err(StoreError::Internal("a constraint without a field".into()));
        };
        let field = &landing.fields[fidx];
        let column = field.column.clone().unwrap_or_default();
        let cond = if arg.lookup == Lookup::IsNull {
            let want = matches!(arg.values.first(), Some(ArgValue::Bool(true)));
            let c = if want { col(&column).is_null() } else { col(&column).is_not_null() };
            c.into_condition()
        } else {
            self.field_condition(field, &column, filter.kind, arg)?
        };
        if filter.is_local() {
            return Ok(cond);
        }
        let mut inner = Query::select();
        inner.column(Alias::new("id")).from(Alias::new(&landing.table)).cond_where(cond);
        let keys = Keys::Query(Box::new(inner));
        Ok(any_of(
            filter
                .paths
                .iter()
                .map(|hops| self.unindexed_path(catalogue, model, hops, keys.clone())),
        ))
    }

    /// Free text over the model's search fields (and its id), and on a model with an address
    /// layout the networks the text names as a partial address (within or containing them, or
    /// holding a host inside them). Spec: nautobot/ipam/querysets.py (`string_search`).
    fn search_condition(&self, model: &Model, text: &str) -> Condition {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        let mut any = Cond::any();
        for &f in &model.search {
            if let Some(c) = &model.fields[f].column {
                any = any.add(
                    Expr::expr(Func::lower(Expr::col(Alias::new(c))))
                        .like(LikeExpr::new(pattern.clone()).escape('\\')),
                );
            }
        }
        if let Ok(id) = Uuid::parse_str(text) {
            any = any.add(col("id").eq(uuid_value(id)));
        }
        if let Some(networks) = super::network::search_networks(model, text) {
            any = any.add(networks);
        }
        any
    }

    fn field_condition(
        &self,
        field: &ferrobot_domain::Field,
        column: &str,
        kind: FilterKind,
        arg: &FilterArg,
    ) -> StoreResult<Condition> {
        let expr = col(column);
        let guard = |c: Condition| {
            if field.null {
                Cond::all().add(col(column).is_not_null()).add(c)
            } else {
                c
            }
        };
        match kind {
            FilterKind::Uuid => {
                let mut ids = Vec::new();
                for v in &arg.values {
                    let text = v.text();
                    let id = Uuid::parse_str(text.trim())
                        .map_err(|_| invalid(&arg.argument, "Enter a valid UUID."))?;
                    ids.push(uuid_value(id));
                }
                Ok(guard(expr.is_in(ids).into_condition()))
            }
            FilterKind::Boolean => {
                let want = matches!(arg.values.first(), Some(ArgValue::Bool(true)));
                if field.kind != FieldKind::Boolean {
                    // Nautobot's boolean filters on other fields ask whether there is a value
                    // (`local_config_context_data: true`: `isnull`, excluded).
                    let c = if want { col(column).is_not_null() } else { col(column).is_null() };
                    return Ok(c.into_condition());
                }
                Ok(expr.eq(want).into_condition())
            }
            FilterKind::DateTime => {
                let mut terms = Vec::with_capacity(arg.values.len());
                for v in &arg.values {
                    let text = v.text();
                    let when = parse_datetime(&text)
                        .ok_or_else(|| invalid(&arg.argument, "Enter a valid date/time."))?;
                    let value = Value::ChronoDateTimeUtc(Some(Box::new(when)));
                    terms.push(
                        compare(col(column).into(), arg.lookup.positive(), value).into_condition(),
                    );
                }
                Ok(guard(any_of(terms)))
            }
            FilterKind::Number | FilterKind::Decimal => {
                // Decimals are stored as text: compare them as numbers.
                let expr: SimpleExpr = match field.kind {
                    FieldKind::Decimal { .. } | FieldKind::Float => {
                        Func::cast_as(expr, Alias::new(numeric_type(self.backend))).into()
                    }
                    _ => expr.into(),
                };
                let whole = matches!(field.kind, FieldKind::Integer { .. });
                let c = text_or_number_condition(self.backend, expr, arg, true, whole)?;
                Ok(guard(c))
            }
            // A text filter on a column that is not text (Nautobot's filters take strings for
            // integers, dates and JSON): equality binds the column's own type; the pattern
            // lookups compare the column's text.
            _ if !matches!(
                field.kind,
                FieldKind::String { .. }
                    | FieldKind::Text
                    | FieldKind::Choice { .. }
                    | FieldKind::MacAddress
            ) =>
            {
                let pattern = !matches!(
                    arg.lookup.positive(),
                    Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte
                );
                let as_text = || -> SimpleExpr {
                    Func::cast_as(col(column), Alias::new(text_type(self.backend))).into()
                };
                let c = match &field.kind {
                    FieldKind::Integer { .. } if !pattern => {
                        text_or_number_condition(self.backend, expr.into(), arg, true, true)?
                    }
                    FieldKind::Date if !pattern => {
                        let mut terms = Vec::with_capacity(arg.values.len());
                        for v in &arg.values {
                            let text = v.text();
                            let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                                .map_err(|_| invalid(&arg.argument, "Enter a valid date."))?;
                            let value = Value::ChronoDate(Some(Box::new(day)));
                            terms.push(
                                compare(col(column).into(), arg.lookup.positive(), value)
                                    .into_condition(),
                            );
                        }
                        any_of(terms)
                    }
                    FieldKind::Decimal { .. } | FieldKind::Float if !pattern => {
                        let number = Func::cast_as(expr, Alias::new(numeric_type(self.backend)));
                        text_or_number_condition(self.backend, number.into(), arg, true, false)?
                    }
                    _ => text_or_number_condition(self.backend, as_text(), arg, false, false)?,
                };
                Ok(guard(c))
            }
            _ => {
                if let FieldKind::Choice { choices, .. } = &field.kind {
                    if arg.lookup.positive() == Lookup::Exact {
                        for v in &arg.values {
                            let text = v.text();
                            if !choices.iter().any(|(value, _)| *value == text) {
                                return Err(invalid(
                                    &arg.argument,
                                    format!(
                                        "Select a valid choice. {text} is not one of the available choices."
                                    ),
                                ));
                            }
                        }
                    }
                }
                // MAC addresses compare in their stored form, whatever form the value has.
                let normalized;
                let arg = match &field.kind {
                    FieldKind::MacAddress if arg.lookup.positive() == Lookup::Exact => {
                        let mut copy = arg.clone();
                        for v in &mut copy.values {
                            if let Some(mac) = ferrobot_domain::value::mac_address(&v.text()) {
                                *v = ArgValue::Str(mac);
                            }
                        }
                        normalized = copy;
                        &normalized
                    }
                    _ => arg,
                };
                let c = text_or_number_condition(self.backend, expr.into(), arg, false, false)?;
                Ok(guard(c))
            }
        }
    }

    fn custom_field_expr(&self, key: &str, kind: CustomFieldKind) -> SimpleExpr {
        let key = key.replace(['\'', '"', '\\'], "");
        let integer = kind == CustomFieldKind::Integer;
        match self.backend {
            Backend::Sqlite => {
                Expr::cust(format!("json_extract(_custom_field_data, '$.\"{key}\"')"))
            }
            Backend::Postgres if integer => {
                Expr::cust(format!("((_custom_field_data->>'{key}')::bigint)"))
            }
            Backend::Postgres => Expr::cust(format!("(_custom_field_data->>'{key}')")),
            Backend::MySql if integer => Expr::cust(format!(
                "CAST(JSON_EXTRACT(_custom_field_data, '$.\"{key}\"') AS SIGNED)"
            )),
            Backend::MySql => {
                Expr::cust(format!("JSON_UNQUOTE(JSON_EXTRACT(_custom_field_data, '$.\"{key}\"'))"))
            }
        }
    }

    /// The ids of `landing` named by the values (ids or natural-key values), plus descendants for
    /// tree filters. A value that names nothing is an error, as in Nautobot.
    async fn resolve_related(
        &self,
        landing: &Model,
        filter: &Filter,
        arg: &FilterArg,
        perms: &Permissions,
    ) -> StoreResult<Keys> {
        let mut ids = Vec::new();
        let mut names = Vec::new();
        // Prefixes and addresses are named by their text (`10.0.0.0/16`, `10.0.0.1/24`): the
        // model's computed value says which stored columns that text stands for.
        let cidr = landing.computed.iter().find(|c| c.kind.is_address());
        let mut prefixes: Vec<(String, Vec<u8>, i64)> = Vec::new();
        for v in &arg.values {
            let text = v.text();
            if let Ok(id) = Uuid::parse_str(text.trim()) {
                ids.push(id);
            } else if let Some(computed) = cidr.filter(|_| filter.kind != FilterKind::Tree) {
                let (bytes, length) = match computed.kind {
                    ComputedKind::IpNetwork => {
                        let p = ferrobot_domain::ipam::parse_prefix(&text)
                            .map_err(|m| invalid(&arg.argument, m))?;
                        (p.network, i64::from(p.prefix_length))
                    }
                    _ => {
                        let a = ferrobot_domain::ipam::parse_address(&text)
                            .map_err(|m| invalid(&arg.argument, m))?;
                        (a.host, i64::from(a.mask_length))
                    }
                };
                prefixes.push((text, bytes, length));
            } else {
                names.push(text);
            }
        }
        // Names match the natural-key field when it is text (a prefix's is its network bytes, which
        // the CIDR text above covers).
        let lookup = landing
            .lookup_field()
            .filter(|&i| col_type(&landing.fields[i].kind) == ColType::Text)
            .and_then(|i| landing.fields[i].column.clone());
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&landing.table));
        let mut types = vec![ColType::Uuid];
        if let Some(l) = &lookup {
            select.column(Alias::new(l));
            types.push(ColType::Text);
        }
        let tree = filter.kind == FilterKind::Tree && landing.tree;
        if tree {
            select.column(Alias::new("parent_id"));
            types.push(ColType::Uuid);
        }
        let mut terms = Vec::new();
        if !ids.is_empty() {
            terms.push(col("id").is_in(ids.iter().map(|u| uuid_value(*u))).into_condition());
        }
        if let (Some(l), false) = (&lookup, names.is_empty()) {
            terms.push(col(l).is_in(names.iter().cloned()).into_condition());
        }
        if let Some(computed) = cidr {
            let bytes_col = landing.fields[computed.from[0]].column.clone().unwrap_or_default();
            let length_col = landing.fields[computed.from[1]].column.clone().unwrap_or_default();
            for (_, bytes, length) in &prefixes {
                terms.push(
                    Cond::all()
                        .add(col(&bytes_col).eq(bytes.clone()))
                        .add(col(&length_col).eq(*length)),
                );
            }
        }
        if !tree {
            select.cond_where(any_of(terms));
        }
        if let Some(seen) = self.view_condition(perms, landing.id) {
            select.cond_where(seen);
        }
        let rows = self.fetch(&select, &types).await?;
        let mut matched = HashSet::new();
        let mut found_ids = HashSet::new();
        let mut found_names = HashSet::new();
        let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in 0..rows.len() {
            let row = rows.row(r);
            let Some(id) = row[0].as_uuid() else { continue };
            let name = match row.get(1) {
                Some(Cell::Text(t)) => Some(t.to_string()),
                _ => None,
            };
            if tree {
                if let Some(parent) = row.get(2).and_then(Cell::as_uuid) {
                    children.entry(parent).or_default().push(id);
                }
            }
            let hit =
                ids.contains(&id) || name.as_ref().is_some_and(|n| names.contains(n)) || !tree;
            if hit {
                matched.insert(id);
                found_ids.insert(id);
                if let Some(n) = name {
                    found_names.insert(n);
                }
            }
        }
        if prefixes.is_empty() {
            for name in &names {
                if !found_names.contains(name) {
                    return Err(invalid(
                        &arg.argument,
                        format!(
                            "Select a valid choice. {name} is not one of the available choices."
                        ),
                    ));
                }
            }
            for id in &ids {
                if !found_ids.contains(id) {
                    return Err(invalid(
                        &arg.argument,
                        format!("Select a valid choice. {id} is not one of the available choices."),
                    ));
                }
            }
        }
        if tree {
            let mut stack: Vec<Uuid> = matched.iter().copied().collect();
            while let Some(id) = stack.pop() {
                for child in children.get(&id).into_iter().flatten() {
                    if matched.insert(*child) {
                        stack.push(*child);
                    }
                }
            }
        }
        let mut out: Vec<Uuid> = matched.into_iter().collect();
        out.sort();
        Ok(Keys::List(out))
    }

    /// `model` rows related through all but the last of `hops` to a row that has nothing along
    /// the last one.
    fn empty_condition(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        hops: &[usize],
        seen: Seen<'_>,
    ) -> Condition {
        let Some((&last, walk)) = hops.split_last() else { return Cond::all() };
        let mut holder = model;
        for &hop in walk {
            holder = catalogue.model(holder.relations[hop].target);
        }
        let empty = self.path_condition(catalogue, holder, &[last], None, seen).not();
        let mut inner = Query::select();
        inner.column(Alias::new("id")).from(Alias::new(&holder.table)).cond_where(empty);
        self.path_condition(catalogue, model, walk, Some(Keys::Query(Box::new(inner))), seen)
    }

    /// [`Store::path_condition`] for a permission's constraint, which joins statements that
    /// already name their rows (a child level's parent keys): the database must search by those
    /// keys and probe the constraint, not walk every row the constraint allows and probe the
    /// keys. On SQLite the outer column is written `+column`, which no index serves (100
    /// devices' interfaces under a constraint allowing 5,000 devices: 93 ms → 10 ms); on
    /// PostgreSQL the subquery is written so that the planner keeps it a hashed subplan
    /// instead of a join it would drive from (it estimated 122 of the 5,000 devices a two-hop
    /// constraint allows: 182 ms → 4 ms).
    fn unindexed_path(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        hops: &[usize],
        leaf: Keys,
    ) -> Condition {
        if self.backend == Backend::MySql || hops.is_empty() {
            return self.path_condition(catalogue, model, hops, Some(leaf), &everything);
        }
        let (column, keys) = self.first_hop(catalogue, model, hops, Some(leaf), &everything);
        let outer = match self.backend {
            Backend::Sqlite => Expr::expr(Expr::cust(format!("+\"{}\"", column.replace('"', "")))),
            _ => col(&column),
        };
        match keys {
            // `OR FALSE` keeps PostgreSQL from pulling the subquery up into a semi-join (it
            // does so only for a condition at the top of the WHERE clause); constant folding
            // then drops it, leaving a hashed subplan probed per row.
            Some(Keys::Query(select)) if self.backend == Backend::Postgres => Cond::any()
                .add(outer.in_subquery(*select))
                .add(Expr::cust("FALSE"))
                .into_condition(),
            Some(keys) => keys.condition(self.backend, outer).into_condition(),
            None => outer.is_not_null().into_condition(),
        }
    }

    /// `model` rows related through `hops` to landing rows in `leaf` (or to any row when `None`).
    fn path_condition(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        hops: &[usize],
        leaf: Option<Keys>,
        seen: Seen<'_>,
    ) -> Condition {
        if hops.is_empty() {
            return match leaf {
                Some(keys) => keys.condition(self.backend, col("id")).into_condition(),
                None => Cond::all(),
            };
        }
        let (column, keys) = self.first_hop(catalogue, model, hops, leaf, seen);
        match keys {
            Some(keys) => Cond::all()
                .add(col(&column).is_not_null())
                .add(keys.condition(self.backend, col(&column))),
            None => col(&column).is_not_null().into_condition(),
        }
    }

    /// The column of `model` that the first of `hops` compares (a foreign key, or the id), and
    /// the keys it must be among for the rest of the path to reach `leaf` (any, when `None`).
    fn first_hop(
        &self,
        catalogue: &Catalogue,
        model: &Model,
        hops: &[usize],
        leaf: Option<Keys>,
        seen: Seen<'_>,
    ) -> (String, Option<Keys>) {
        let Some((&first, rest)) = hops.split_first() else {
            return ("id".into(), leaf);
        };
        let rel = &model.relations[first];
        let target = catalogue.model(rel.target);
        // The keys of the next model that satisfy the rest of the path.
        let next: Option<Keys> = if rest.is_empty() {
            leaf
        } else {
            let cond = self.path_condition(catalogue, target, rest, leaf, seen);
            let mut s = Query::select();
            s.column(Alias::new("id")).from(Alias::new(&target.table)).cond_where(cond);
            // A model the path walks through counts only with the rows the user may see.
            if let Some(visible) = seen(target) {
                s.cond_where(visible);
            }
            Some(Keys::Query(Box::new(s)))
        };
        let ids = |s: SelectStatement| ("id".to_owned(), Some(Keys::Query(Box::new(s))));
        match &rel.shape {
            RelationShape::Forward { column, .. } => (column.clone(), next),
            RelationShape::Reverse { column, content_type, .. } => {
                let mut s = Query::select();
                s.column(Alias::new(column)).from(Alias::new(&target.table));
                let mut c = Cond::all().add(col(column).is_not_null());
                if let Some((ct_column, label)) = content_type {
                    c = c.add(col(ct_column).eq(label.as_str()));
                }
                if let Some(keys) = next {
                    c = c.add(keys.condition(self.backend, col("id")));
                }
                s.cond_where(c);
                ids(s)
            }
            RelationShape::Peer {
                table,
                endpoint_column,
                target_column,
                group_column,
                side_column,
            } => {
                let (near, far) = (Alias::new("pa"), Alias::new("pb"));
                let mut s = Query::select();
                s.column((near.clone(), Alias::new(endpoint_column)));
                join_pairing(&mut s, table, &near, &far, group_column, side_column);
                if let Some(keys) = next {
                    s.cond_where(
                        keys.condition(self.backend, Expr::col((far, Alias::new(target_column)))),
                    );
                }
                ids(s)
            }
            RelationShape::Through {
                table,
                source_column,
                target_column,
                content_type,
                conditions,
                ..
            } => {
                let mut s = Query::select();
                s.column(Alias::new(source_column)).from(Alias::new(table));
                let mut c = Cond::all();
                if let Some((ct_column, label)) = content_type {
                    c = c.add(col(ct_column).eq(label.as_str()));
                }
                for (column, value) in conditions {
                    c = c.add(
                        col(column).eq(crate::bind::bind(crate::ColType::Text, value.clone())),
                    );
                }
                if let Some(keys) = next {
                    c = c.add(keys.condition(self.backend, col(target_column)));
                }
                s.cond_where(c);
                ids(s)
            }
            // Membership is computed, not stored: no path walks through it (the member
            // filter, `FilterKind::Member`, compiles it instead).
            RelationShape::Members { .. } => ("id".to_owned(), Some(Keys::List(Vec::new()))),
        }
    }
}

/// The rows of a model a filter path may walk through (the user's view permission), `None`
/// for all of them.
type Seen<'a> = &'a dyn Fn(&Model) -> Option<Condition>;

/// Every row: a permission's own constraints walk their paths whole.
fn everything(_: &Model) -> Option<Condition> {
    None
}

/// The type a decimal's text is cast to for numeric comparisons.
fn numeric_type(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "numeric",
        Backend::MySql => "decimal(30,10)",
        Backend::Sqlite => "real",
    }
}

/// The deepest `max_depth` compared: a tree deeper than this many levels is not one a network
/// has, and each level is a subquery.
const MAX_TREE_DEPTH: i64 = 64;

/// An integer filter value (`max_depth: 2`, `ports: "22"`), refused in Django's words.
fn whole_number(arg: &FilterArg, value: &ArgValue) -> StoreResult<i64> {
    match value {
        ArgValue::Int(n) => Ok(*n),
        other => other
            .text()
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(&arg.argument, "Enter a whole number.")),
    }
}

/// `column` (a JSON list) holds the number `n`. The number is written into the statement: it
/// is an integer, so nothing else can be.
fn json_list_holds(backend: Backend, column: &str, n: i64) -> Condition {
    let column = column.replace('"', "");
    let sql = match backend {
        Backend::Sqlite => {
            format!("EXISTS (SELECT 1 FROM json_each(\"{column}\") WHERE json_each.value = {n})")
        }
        Backend::Postgres => format!("\"{column}\" @> '[{n}]'::jsonb"),
        Backend::MySql => format!("JSON_CONTAINS(`{column}`, '{n}')"),
    };
    Expr::cust(sql).into_condition()
}

/// What the rows a filter lands on must satisfy.
enum Leaf {
    /// Any row (whether one exists).
    Any,
    /// Rows with these keys.
    Keys(Keys),
    /// Rows meeting a condition on the landing model's table.
    Rows(Condition),
}

fn negate_if(lookup: Lookup, cond: Condition) -> Condition {
    if lookup.is_negated() {
        cond.not()
    } else {
        cond
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(dt.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn compare(expr: SimpleExpr, lookup: Lookup, value: Value) -> SimpleExpr {
    let expr = Expr::expr(expr);
    match lookup {
        Lookup::Gt => expr.gt(value),
        Lookup::Gte => expr.gte(value),
        Lookup::Lt => expr.lt(value),
        Lookup::Lte => expr.lte(value),
        _ => expr.eq(value),
    }
}

/// String lookups (exact, contains, starts/ends with, regex — case-insensitive forms lower both
/// sides) and numeric comparisons. Several values match when any one does.
fn text_or_number_condition(
    backend: Backend,
    expr: SimpleExpr,
    arg: &FilterArg,
    numeric: bool,
    whole: bool,
) -> StoreResult<Condition> {
    let lookup = arg.lookup.positive();
    let mut terms = Vec::with_capacity(arg.values.len());
    // Exact values are one `IN (…)`, however many there are.
    let mut exact = Vec::new();
    for v in &arg.values {
        let value: Value = if numeric {
            match v {
                ArgValue::Int(i) => Value::BigInt(Some(*i)),
                ArgValue::Float(f) => Value::Double(Some(*f)),
                ArgValue::Str(s) => match s.trim().parse::<i64>() {
                    Ok(i) => Value::BigInt(Some(i)),
                    Err(_) => match s.trim().parse::<f64>() {
                        Ok(f) => Value::Double(Some(f)),
                        Err(_) => {
                            // Django's IntegerField and DecimalField words.
                            let message = match whole {
                                true => "Enter a whole number.",
                                false => "Enter a number.",
                            };
                            return Err(invalid(&arg.argument, message));
                        }
                    },
                },
                ArgValue::Bool(b) => Value::BigInt(Some(*b as i64)),
            }
        } else {
            Value::String(Some(Box::new(v.text())))
        };
        let text = v.text();
        let lower = || Expr::expr(Func::lower(expr.clone()));
        let like = |pattern: String| lower().like(LikeExpr::new(pattern).escape('\\'));
        let c: SimpleExpr = match lookup {
            Lookup::Exact => {
                exact.push(value);
                continue;
            }
            Lookup::Ie => lower().eq(text.to_lowercase()),
            Lookup::Ic => like(format!("%{}%", escape_like(&text.to_lowercase()))),
            Lookup::Isw => like(format!("{}%", escape_like(&text.to_lowercase()))),
            Lookup::Iew => like(format!("%{}", escape_like(&text.to_lowercase()))),
            Lookup::Re | Lookup::Ire => {
                // A pattern that does not compile is the client's mistake, not the database's.
                if let Err(e) = crate::pattern::compile(&text) {
                    return Err(invalid(&arg.argument, format!("Invalid regular expression: {e}")));
                }
                let insensitive = lookup == Lookup::Ire;
                match backend {
                    Backend::Postgres => {
                        let op = if insensitive { "~*" } else { "~" };
                        Expr::cust_with_exprs(
                            format!("$1 {op} $2"),
                            [expr.clone(), Expr::val(text).into()],
                        )
                    }
                    // sea-query's custom placeholders are `$n` on PostgreSQL and `?` elsewhere.
                    Backend::Sqlite | Backend::MySql => {
                        let flag = if insensitive {
                            "(?i)"
                        } else if backend == Backend::MySql {
                            "(?-i)"
                        } else {
                            ""
                        };
                        Expr::cust_with_exprs(
                            "? REGEXP ?",
                            [expr.clone(), Expr::val(format!("{flag}{text}")).into()],
                        )
                    }
                }
            }
            Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte => {
                compare(expr.clone(), lookup, value)
            }
            _ => Expr::expr(expr.clone()).eq(value),
        };
        terms.push(c.into_condition());
    }
    match exact.len() {
        0 => {}
        1 => terms.extend(exact.pop().map(|v| Expr::expr(expr.clone()).eq(v).into_condition())),
        _ => terms.push(Expr::expr(expr).is_in(exact).into_condition()),
    }
    Ok(any_of(terms))
}
