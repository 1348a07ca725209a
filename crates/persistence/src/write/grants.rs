//! Object permissions in the write path, as Nautobot checks them: an operation's action must be
//! granted on its model; a reference names only objects the user may see; the object an update
//! or a delete acts on must be inside the constraints before (a delete: it and every object its
//! delete cascades to), and a created or changed object inside them after. The objects written
//! are checked when the write ends, one statement per model and action, so that a constrained
//! bulk write costs a statement per 1,000 objects, not per object.
//!
//! What the write does on its own (components from templates, references cleared by a delete,
//! defaults) is not the user's act and is not checked (`trusted`), as Django's model code is not.

use ferrobot_domain::permission::{Action as Perm, Grant};

use super::*;

/// One object to check once the write ends.
pub(super) struct AfterCheck {
    model: ModelId,
    id: Uuid,
    action: Perm,
    /// The operation that wrote it, for the error.
    operation: usize,
}

impl<'s> Writer<'s> {
    /// Whether `action` is granted on `model`: `Ok(false)` on every row, `Ok(true)` on rows
    /// inside constraints (to be checked), `FORBIDDEN` when not at all.
    pub(super) fn may(&self, model: &Model, action: Perm) -> StoreResult<bool> {
        if self.trusted {
            return Ok(false);
        }
        match self.options.permissions.grant(model.id, action) {
            Grant::All => Ok(false),
            Grant::Rows(_) => Ok(true),
            Grant::Denied => Err(StoreError::Forbidden {
                message: format!(
                    "You do not have permission to {} {} ({}).",
                    action.as_str(),
                    model.verbose_name_plural,
                    codename(model, action)
                ),
                operation: Some(self.operation),
            }),
        }
    }

    /// The rows of `target` a reference may name: those the user may see; `None` for all.
    pub(super) fn visible(&self, target: ModelId) -> Option<sea_query::Condition> {
        if self.trusted {
            return None;
        }
        self.store.view_condition(&self.options.permissions, target)
    }

    /// The ids among `ids` of `model` that the user may see.
    pub(super) async fn visible_among(
        &mut self,
        model: &Model,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Uuid>> {
        match self.visible(model.id) {
            Some(condition) => self.ids_meeting(model, ids, condition).await,
            None => Ok(ids.to_vec()),
        }
    }

    /// The ids among `ids` of `model` whose rows meet `condition`, read in the transaction
    /// (everything queued is written first: a condition may follow relations).
    async fn ids_meeting(
        &mut self,
        model: &Model,
        ids: &[Uuid],
        condition: sea_query::Condition,
    ) -> StoreResult<Vec<Uuid>> {
        self.flush().await?;
        let mut out = Vec::new();
        for chunk in ids.chunks(1000) {
            let mut select = Query::select();
            select
                .column(Alias::new("id"))
                .from(Alias::new(&model.table))
                .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().map(|u| uuid_value(*u))))
                .cond_where(condition.clone());
            let tx = self.tx()?;
            let rows = self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?;
            out.extend((0..rows.len()).filter_map(|r| rows.row(r)[0].as_uuid()));
        }
        Ok(out)
    }

    /// Checks `object` once the write ends (it was created or changed under a constraint).
    pub(super) fn check_after(&mut self, model: ModelId, id: Uuid, action: Perm) {
        if !self.trusted {
            self.after_checks.push(AfterCheck { model, id, action, operation: self.operation });
        }
    }

    /// The ids among `ids` of `model` that `action`'s constraints leave out.
    pub(super) async fn outside(
        &mut self,
        model: &Model,
        ids: &[Uuid],
        action: Perm,
    ) -> StoreResult<Vec<Uuid>> {
        let grant = self.options.permissions.grant(model.id, action);
        let Some(condition) = self.store.grant_condition(model.id, grant) else {
            return Ok(Vec::new());
        };
        let inside: HashSet<Uuid> =
            self.ids_meeting(model, ids, condition).await?.into_iter().collect();
        Ok(ids.iter().filter(|id| !inside.contains(id)).copied().collect())
    }

    /// Checks every object written under a constraint, by model and action; the first outside
    /// refuses the write, naming its operation.
    pub(super) async fn check_written(&mut self) -> StoreResult<()> {
        let checks = std::mem::take(&mut self.after_checks);
        if checks.is_empty() {
            return Ok(());
        }
        let mut groups: BTreeMap<(ModelId, u8), Vec<&AfterCheck>> = BTreeMap::new();
        for check in &checks {
            if !self.gone.contains(&check.id) {
                groups.entry((check.model, check.action as u8)).or_default().push(check);
            }
        }
        // The object as it ends is the work of the last operation that wrote it: that one is
        // named when it is outside.
        let mut last: HashMap<Uuid, usize> = HashMap::new();
        for check in &checks {
            let op = last.entry(check.id).or_default();
            *op = (*op).max(check.operation);
        }
        let catalogue = self.catalogue.clone();
        let mut first: Option<(usize, &AfterCheck)> = None;
        for ((model, _), group) in &groups {
            let model = catalogue.model(*model);
            let mut ids: Vec<Uuid> = group.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            ids.dedup();
            let outside: HashSet<Uuid> =
                self.outside(model, &ids, group[0].action).await?.into_iter().collect();
            for check in group.iter().filter(|c| outside.contains(&c.id)) {
                let op = last.get(&check.id).copied().unwrap_or(check.operation);
                if first.is_none_or(|(f, _)| op < f) {
                    first = Some((op, check));
                }
            }
        }
        let Some((operation, check)) = first else { return Ok(()) };
        let model = catalogue.model(check.model);
        let done = match (check.action, operation == check.operation) {
            (Perm::Add, true) => "created",
            _ => "changed",
        };
        Err(StoreError::Forbidden {
            message: format!(
                "The {} {done} is outside what your permissions allow ({}).",
                model.verbose_name,
                codename(model, check.action)
            ),
            operation: Some(operation),
        })
    }
}

/// Django's permission name: `dcim.change_device`.
pub(super) fn codename(model: &Model, action: Perm) -> String {
    format!("{}.{}_{}", model.app_label, action.as_str(), model.name)
}
