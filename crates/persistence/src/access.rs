//! Which rows a user may see or touch, as SQL: a user's object permissions read with one
//! statement, and a [`Grant`] compiled into a condition on its model's table, which the read
//! path joins to each level's statement and the write path checks written rows against.

use std::sync::Arc;

use ferrobot_domain::catalogue::ModelId;
use ferrobot_domain::permission::{self, Action, Grant, Permissions, StoredPermission};
use ferrobot_domain::{Catalogue, FieldKind, Model};
use sea_query::{Alias, Cond, Condition, Expr, IntoCondition, Query, SimpleExpr};

use crate::auth::User;
use crate::cell::{Cell, ColType};
use crate::query::{any_of, uuid_value};
use crate::store::Store;
use crate::{StoreError, StoreResult};

impl Store {
    /// What `user` may do: everything for a superuser (no statement), otherwise its enabled
    /// permissions and its groups', read with one statement.
    pub async fn permissions(&self, user: &User) -> StoreResult<Arc<Permissions>> {
        if user.is_superuser {
            return Ok(Arc::new(Permissions::superuser(user.id)));
        }
        let catalogue = self.catalogue().clone();
        let select = permissions_statement(&catalogue, user)?;
        let rows = self
            .fetch(&select, &[ColType::Text, ColType::Json, ColType::Json, ColType::Json])
            .await?;
        let mut stored = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let row = rows.row(r);
            let json = |c: &Cell| match c {
                Cell::Json(j) => (**j).clone(),
                Cell::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
                _ => serde_json::Value::Null,
            };
            let object_types = match json(&row[3]) {
                serde_json::Value::Array(items) => {
                    items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                }
                _ => Vec::new(),
            };
            stored.push(StoredPermission {
                name: row[0].as_str().unwrap_or_default().to_owned(),
                actions: json(&row[1]),
                constraints: json(&row[2]),
                object_types,
            });
        }
        let (permissions, problems) = Permissions::from_stored(&catalogue, user.id, &stored);
        for problem in problems {
            tracing::warn!(user = %user.username, %problem, "permission grants nothing");
        }
        Ok(Arc::new(permissions))
    }

    /// The rows of `model` a grant allows, as a condition on the model's table (bare columns);
    /// `None` for every row. A grant whose values the database could not compare grants
    /// nothing (permissions are checked when written; this guards older rows).
    pub(crate) fn grant_condition(&self, model: ModelId, grant: &Grant) -> Option<Condition> {
        let groups = match grant {
            Grant::All => return None,
            Grant::Denied => return Some(nothing()),
            Grant::Rows(groups) => groups,
        };
        let catalogue = self.catalogue().clone();
        let model = catalogue.model(model);
        let mut any = Vec::with_capacity(groups.len());
        for group in groups {
            let mut all = Cond::all();
            for arg in group {
                match self.plain_condition(&catalogue, model, arg) {
                    Ok(c) => all = all.add(c),
                    Err(e) => {
                        tracing::warn!(model = %model.label, argument = %arg.argument, error = %e, "constraint grants nothing");
                        all = all.add(nothing());
                    }
                }
            }
            any.push(all);
        }
        Some(any_of(any))
    }

    /// The rows of `model` the user may see (`None`: all of them). A change-log row is seen
    /// only with the object it records: of a model the user sees whole, or of an object it
    /// sees now.
    pub(crate) fn view_condition(&self, perms: &Permissions, model: ModelId) -> Option<Condition> {
        if perms.is_superuser() {
            return None;
        }
        let own = self.grant_condition(model, perms.grant(model, Action::View));
        let catalogue = self.catalogue().clone();
        let Some(fields) = catalogue.model(model).behaviour.change_log else { return own };
        let changes = catalogue.model(model);
        let type_col = changes.column_of(fields.object_type);
        let id_col = changes.column_of(fields.object_id);
        let mut whole = Vec::new();
        let mut some = Vec::new();
        for other in catalogue.models() {
            match perms.grant(other.id, Action::View) {
                Grant::Denied => {}
                Grant::All => whole.push(other.label.clone()),
                grant => {
                    let Some(c) = self.grant_condition(other.id, grant) else { continue };
                    let mut ids = Query::select();
                    ids.column(Alias::new("id")).from(Alias::new(&other.table)).cond_where(c);
                    some.push(
                        Cond::all()
                            .add(Expr::col(Alias::new(&type_col)).eq(other.label.as_str()))
                            .add(Expr::col(Alias::new(&id_col)).in_subquery(ids)),
                    );
                }
            }
        }
        let mut types = Vec::with_capacity(some.len() + 1);
        if !whole.is_empty() {
            types.push(Expr::col(Alias::new(&type_col)).is_in(whole).into_condition());
        }
        types.extend(some);
        let types = if types.is_empty() { nothing() } else { any_of(types) };
        Some(match own {
            Some(own) => Cond::all().add(own).add(types),
            None => types,
        })
    }

    /// `[alias.]id IN (SELECT id FROM table WHERE <what the user may see>)`, for statements
    /// that read a model's rows beside others (usage lists); `None` when every row is seen.
    pub(crate) fn visible_ids(
        &self,
        perms: &Permissions,
        model: &Model,
        alias: Option<&Alias>,
    ) -> Option<SimpleExpr> {
        let condition = self.view_condition(perms, model.id)?;
        let mut ids = Query::select();
        ids.column(Alias::new("id")).from(Alias::new(&model.table)).cond_where(condition);
        let id = match alias {
            Some(a) => Expr::col((a.clone(), Alias::new("id"))),
            None => Expr::col(Alias::new("id")),
        };
        Some(id.in_subquery(ids))
    }
}

/// A condition no row meets.
pub(crate) fn nothing() -> Condition {
    Expr::val(1).eq(0).into_condition()
}

/// The enabled permissions given to the user or to one of its groups: their name, actions,
/// constraints and object types.
fn permissions_statement(
    catalogue: &Catalogue,
    user: &User,
) -> StoreResult<sea_query::SelectStatement> {
    let missing = |what: &str| StoreError::Internal(format!("the catalogue has no {what}"));
    let model = catalogue.by_label(permission::PERMISSION).ok_or_else(|| missing("permissions"))?;
    let account = catalogue.by_label(permission::ACCOUNT).ok_or_else(|| missing("accounts"))?;
    let through = |m: &Model, name: &str| match m.field(name).map(|(_, f)| &f.kind) {
        Some(FieldKind::ManyToMany { through, .. }) => Ok(through.clone()),
        _ => Err(missing(&format!("{}.{name}", m.label))),
    };
    let fields = &permission::FIELDS;
    let to_users = through(model, fields.users)?;
    let to_groups = through(model, fields.groups)?;
    let membership = through(account, fields.account_groups)?;
    let me = || uuid_value(user.id);
    let mut direct = Query::select();
    direct
        .column(Alias::new(&to_users.source_column))
        .from(Alias::new(&to_users.table))
        .and_where(Expr::col(Alias::new(&to_users.target_column)).eq(me()));
    let mut groups = Query::select();
    groups
        .column(Alias::new(&membership.target_column))
        .from(Alias::new(&membership.table))
        .and_where(Expr::col(Alias::new(&membership.source_column)).eq(me()));
    let mut by_group = Query::select();
    by_group
        .column(Alias::new(&to_groups.source_column))
        .from(Alias::new(&to_groups.table))
        .and_where(Expr::col(Alias::new(&to_groups.target_column)).in_subquery(groups));
    let mut select = Query::select();
    select
        .columns(
            [fields.name, fields.actions, fields.constraints, fields.object_types]
                .map(|f| Alias::new(model.column_of(f))),
        )
        .from(Alias::new(&model.table))
        .and_where(Expr::col(Alias::new(model.column_of(fields.enabled))).eq(true))
        .cond_where(
            Cond::any()
                .add(Expr::col(Alias::new("id")).in_subquery(direct))
                .add(Expr::col(Alias::new("id")).in_subquery(by_group)),
        );
    Ok(select)
}
