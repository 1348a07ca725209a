//! Checks a write makes against other models' definitions and the stored graph: a stored
//! filter against the filters of the model it names (a dynamic group's `filter`), and rows
//! that are edges of a graph that must stay acyclic (a group's memberships).

use ferrobot_domain::catalogue::Features;
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::request::stored_filter_args;

use super::*;

/// The most groups an acyclic check walks above a new edge.
const MAX_WALK: usize = 100_000;

impl<'s> Writer<'s> {
    /// Spec: `DynamicGroup.clean_filter`: the model the filter is of has the feature, and each
    /// argument is one of its filters with values it takes (objects named exist), as
    /// Nautobot's filter form checks them. A filter on group membership itself is refused:
    /// groups combine as the children of a group of groups.
    pub(super) async fn check_stored_filter(
        &mut self,
        rule: &hooks::FilterField,
        object: &Row,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let catalogue = self.catalogue.clone();
        let Some(label) = object.text(rule.model_field) else { return Ok(()) };
        let has = Features::by_name(rule.feature).unwrap_or(|_| false);
        let target = catalogue
            .by_label(label)
            .filter(|m| has(&m.features) && m.graphql.as_ref().is_some_and(|g| g.list.is_some()));
        let Some(target) = target else {
            errors.push(ValidationError::new(
                rule.model_field,
                "Select a valid choice. That choice is not one of the available choices.",
            ));
            return Ok(());
        };
        let Some(Json::Object(map)) = object.json(rule.field) else { return Ok(()) };
        let args = match stored_filter_args(target, map) {
            Ok(args) => args,
            Err(refused) => {
                for (argument, message) in refused {
                    let field = match argument.is_empty() || rule.errors_under_field {
                        true => rule.field.to_owned(),
                        false => argument,
                    };
                    errors.push(ValidationError::new(field, message));
                }
                return Ok(());
            }
        };
        let mut checked = Vec::with_capacity(args.len());
        for arg in args {
            match &arg.target {
                ferrobot_domain::request::ArgTarget::Filter(f)
                    if f.kind == ferrobot_domain::catalogue::FilterKind::Member && !rule.groups =>
                {
                    errors.push(ValidationError::new(
                        arg.argument.clone(),
                        "A group's filter cannot name groups: combine groups as the children of a group of type `dynamic-set`.",
                    ));
                }
                _ => checked.push(arg),
            }
        }
        // The names a filter gives are checked as any reader's would be, against what is
        // committed (the filter sees every object).
        let everything = Permissions::superuser(Uuid::nil());
        match self.store.compile_filters(target.id, &checked, &everything).await {
            Ok(_) => {}
            Err(StoreError::Invalid { argument, message }) => {
                let field = if rule.errors_under_field { rule.field.to_owned() } else { argument };
                errors.push(ValidationError::new(field, message))
            }
            Err(StoreError::Filters(refused)) => {
                for (argument, message) in refused {
                    let field =
                        if rule.errors_under_field { rule.field.to_owned() } else { argument };
                    errors.push(ValidationError::new(field, message));
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Spec: `DynamicGroupMembership.clean` ("Cannot add ancestor as a child"): the row's
    /// `from` may not be reached by walking up from its `to`.
    pub(super) async fn check_acyclic(
        &mut self,
        model: &Model,
        edge: &hooks::Edge,
        object: &Row,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let (Some(from), Some(to)) = (object.uuid(edge.from), object.uuid(edge.to)) else {
            return Ok(());
        };
        self.flush_for(&model.table).await?;
        let (from_col, to_col) = (column_of(model, edge.from), column_of(model, edge.to));
        let mut seen: HashSet<Uuid> = HashSet::from([to]);
        let mut frontier = vec![to];
        while !frontier.is_empty() && seen.len() < MAX_WALK {
            if frontier.contains(&from) {
                errors.push(ValidationError::new(edge.from, edge.message));
                return Ok(());
            }
            let mut select = Query::select();
            select.column(Alias::new(&to_col)).from(Alias::new(&model.table)).and_where(
                Expr::col(Alias::new(&from_col)).is_in(frontier.iter().map(|u| uuid_value(*u))),
            );
            if let Some(id) = object.id() {
                // The row itself, on an update, is replaced by what it becomes.
                select.and_where(Expr::col(Alias::new("id")).ne(uuid_value(id)));
            }
            let tx = self.tx()?;
            let rows = self.store.query_in(tx, &select).await?;
            frontier = rows
                .iter()
                .filter_map(|r| r.try_get_by_index::<Uuid>(0).ok())
                .filter(|u| seen.insert(*u))
                .collect();
        }
        Ok(())
    }
}
