//! What a level's `config_context` is computed from: the active config contexts with their
//! assignment lists (read once a request, two statements), and each object's values along the
//! dimensions those lists use (`domain::config_context::Subject`): a reference of the object
//! (a column the level reads anyway), a list of it (its tags, a device's clusters: one statement
//! for the level's rows), then references of what those name and, for a tree, its ancestors (a
//! statement per step and level of the tree, for the values not read yet in the request).
//! Nothing of this grows with the number of objects.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferrobot_domain::catalogue::{FieldKind, Model, ModelId};
use ferrobot_domain::config_context::{order, Context, Subject, CONFIG_CONTEXT, LISTS};
use sea_query::{Alias, Expr, Query, UnionType};
use uuid::Uuid;

use super::level::Keys;
use super::{Cell, ColType};
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// The contexts and each object's values, for one level.
#[derive(Debug, Default, Clone)]
pub struct ContextInputs {
    /// The active contexts, in merge order.
    pub contexts: Arc<Vec<Context>>,
    /// Per object: its values per dimension, in `LISTS`' order.
    pub values: HashMap<Uuid, Vec<Vec<Uuid>>>,
}

/// What one request has read of contexts and references, reused by its other levels and
/// windows.
#[derive(Debug, Default)]
pub(crate) struct ContextCache {
    contexts: Option<Arc<Vec<Context>>>,
    /// (model, field) → object → the reference's value.
    steps: HashMap<(ModelId, usize), HashMap<Uuid, Option<Uuid>>>,
    /// (level, dimension) → object → its list, read once for a whole list read in windows.
    lists: HashMap<(usize, usize), Arc<ListOf>>,
}

/// Object → the ids of a list of it (its tags, its clusters).
type ListOf = HashMap<Uuid, Vec<Uuid>>;

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(what.to_string())
}

/// How an object's first step along a dimension is read.
#[derive(Debug, Clone)]
pub enum FirstStep {
    /// The dimension is not the model's: no value.
    None,
    /// A reference: the level's column at this index.
    Column(usize),
    /// A list: (table, object column, target column, a content-type condition for generic
    /// through rows).
    List { table: String, object: String, target: String, content_type: Option<(String, String)> },
    /// The dynamic groups that hold the object (of this model), computed.
    Groups(ModelId),
}

/// How a plan reads an object's values: per dimension, the first step, the model its value is
/// of, and the reference fields after it.
#[derive(Debug, Clone)]
pub struct DimensionPlan {
    pub first: FirstStep,
    /// (model, field index) of each later reference step, from the first step's model on.
    pub steps: Vec<(ModelId, usize)>,
    /// The model the value finally is, when its ancestors count.
    pub tree: Option<ModelId>,
}

/// Resolves a subject's dimensions against the catalogue; `column` adds a column the level
/// reads (by name) and gives its index.
pub fn plan_dimensions(
    catalogue: &ferrobot_domain::Catalogue,
    model: &Model,
    subject: &Subject,
    mut column: impl FnMut(&str) -> usize,
) -> Result<Vec<DimensionPlan>, String> {
    let mut out = Vec::with_capacity(LISTS.len());
    for (dimension, list) in subject.dimensions.iter().zip(LISTS) {
        let Some((first, rest)) = dimension.path.split_first() else {
            out.push(DimensionPlan { first: FirstStep::None, steps: Vec::new(), tree: None });
            continue;
        };
        let missing =
            || format!("{}: config context dimension {list}: no field {first}", model.label);
        let members = |r: &ferrobot_domain::catalogue::Relation| {
            matches!(r.shape, ferrobot_domain::catalogue::RelationShape::Members { .. })
        };
        if model.relation(first).is_some_and(|(_, r)| members(r)) {
            if !rest.is_empty() {
                return Err(format!("{}: dynamic groups end a dimension's path", model.label));
            }
            out.push(DimensionPlan {
                first: FirstStep::Groups(model.id),
                steps: Vec::new(),
                tree: None,
            });
            continue;
        }
        let (first_step, mut at) = match model.field(first) {
            Some((_, f)) => match &f.kind {
                FieldKind::ForeignKey { to, .. } => {
                    let name = f.column.clone().ok_or_else(missing)?;
                    (FirstStep::Column(column(&name)), *to)
                }
                FieldKind::ManyToMany { to, through, .. } => (
                    FirstStep::List {
                        table: through.table.clone(),
                        object: through.source_column.clone(),
                        target: through.target_column.clone(),
                        content_type: None,
                    },
                    *to,
                ),
                _ => return Err(missing()),
            },
            None => {
                let through = catalogue
                    .generic_throughs_of(model)
                    .find(|g| g.name == *first)
                    .ok_or_else(missing)?;
                (
                    FirstStep::List {
                        table: through.table.clone(),
                        object: through.object_column.clone(),
                        target: through.target_column.clone(),
                        content_type: Some((through.type_column.clone(), model.label.clone())),
                    },
                    through.target,
                )
            }
        };
        let mut steps = Vec::new();
        for name in rest {
            let target = catalogue.model(at);
            let Some((index, field)) = target.field(name) else {
                return Err(format!(
                    "{}: config context dimension {list}: no field {name}",
                    target.label
                ));
            };
            let FieldKind::ForeignKey { to, .. } = field.kind else {
                return Err(format!("{}.{name} is not a reference", target.label));
            };
            steps.push((at, index));
            at = to;
        }
        let tree = dimension.ancestors.then_some(at);
        if let Some(tree) = tree {
            if catalogue.model(tree).tree_parent().is_none() {
                return Err(format!("{} is not a tree", catalogue.model(tree).label));
            }
        }
        out.push(DimensionPlan { first: first_step, steps, tree });
    }
    Ok(out)
}

impl Store {
    /// The active contexts with their assignment lists, in merge order: two statements, once a
    /// request.
    async fn active_contexts(&self, cache: &mut ContextCache) -> StoreResult<Arc<Vec<Context>>> {
        if let Some(contexts) = &cache.contexts {
            return Ok(contexts.clone());
        }
        let catalogue = self.catalogue().clone();
        let model = catalogue
            .by_label(CONFIG_CONTEXT)
            .ok_or_else(|| internal("no config context model"))?;
        let col = |name: &str| -> StoreResult<(String, ColType)> {
            let (_, f) = model.field(name).ok_or_else(|| internal(format!("no field {name}")))?;
            Ok((f.column.clone().unwrap_or_default(), crate::cell::col_type(&f.kind)))
        };
        let mut select = Query::select();
        select.column(Alias::new("id")).from(Alias::new(&model.table));
        let mut types = vec![ColType::Uuid];
        for name in ["name", "weight", "data"] {
            let (c, ty) = col(name)?;
            select.column(Alias::new(c));
            types.push(ty);
        }
        let (active, _) = col("is_active")?;
        select.and_where(Expr::col(Alias::new(active)).eq(true));
        let rows = self.fetch(&select, &types).await?;
        let mut contexts = Vec::with_capacity(rows.len());
        let mut index = HashMap::new();
        for r in 0..rows.len() {
            let c = rows.row(r);
            let Some(id) = c[0].as_uuid() else { continue };
            let data = match &c[3] {
                Cell::Json(j) => (**j).clone(),
                _ => serde_json::Value::Null,
            };
            let weight = match c[2] {
                Cell::Int(w) => w,
                _ => 0,
            };
            index.insert(id, contexts.len());
            contexts.push(Context {
                name: c[1].as_str().unwrap_or_default().to_owned(),
                weight,
                data,
                lists: Default::default(),
            });
        }
        if !contexts.is_empty() {
            // Every assignment list in one statement: (list, context, object).
            let mut union: Option<sea_query::SelectStatement> = None;
            for (i, list) in LISTS.iter().enumerate() {
                let Some((_, field)) = model.field(list) else { continue };
                let FieldKind::ManyToMany { through, .. } = &field.kind else { continue };
                let mut part = Query::select();
                part.expr(Expr::val(i as i64))
                    .column(Alias::new(&through.source_column))
                    .column(Alias::new(&through.target_column))
                    .from(Alias::new(&through.table));
                match &mut union {
                    None => union = Some(part),
                    Some(u) => {
                        u.union(UnionType::All, part);
                    }
                }
            }
            if let Some(union) = union {
                let types = [
                    ColType::Int(ferrobot_domain::catalogue::IntSize::Big),
                    ColType::Uuid,
                    ColType::Uuid,
                ];
                let rows = self.fetch(&union, &types).await?;
                for r in 0..rows.len() {
                    let c = rows.row(r);
                    let (Cell::Int(list), Some(context), Some(object)) =
                        (&c[0], c[1].as_uuid(), c[2].as_uuid())
                    else {
                        continue;
                    };
                    if let (Some(&at), Ok(list)) = (index.get(&context), usize::try_from(*list)) {
                        if let Some(l) = contexts[at].lists.get_mut(list) {
                            l.push(object);
                        }
                    }
                }
            }
        }
        for context in &mut contexts {
            for list in &mut context.lists {
                list.sort_unstable();
                list.dedup();
            }
        }
        order(&mut contexts);
        let contexts = Arc::new(contexts);
        cache.contexts = Some(contexts.clone());
        Ok(contexts)
    }

    /// The values of a reference field for `ids`, those not read yet in the request: one
    /// statement.
    async fn step_values(
        &self,
        cache: &mut ContextCache,
        (model, field): (ModelId, usize),
        ids: &HashSet<Uuid>,
    ) -> StoreResult<()> {
        let known = cache.steps.entry((model, field)).or_default();
        let missing: Vec<Uuid> = ids.iter().filter(|id| !known.contains_key(id)).copied().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let catalogue = self.catalogue().clone();
        let m = catalogue.model(model);
        let column = m.fields[field].column.clone().unwrap_or_default();
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .column(Alias::new(column))
            .from(Alias::new(&m.table))
            .and_where(
                Keys::List(missing.clone()).condition(self.backend(), Expr::col(Alias::new("id"))),
            );
        let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid]).await?;
        for id in &missing {
            known.insert(*id, None);
        }
        for r in 0..rows.len() {
            let c = rows.row(r);
            if let Some(id) = c[0].as_uuid() {
                known.insert(id, c[1].as_uuid());
            }
        }
        Ok(())
    }

    /// Each object's values along the dimensions the contexts use. `objects` holds the
    /// objects' ids with their first-step values read from the level's columns; `keys` names the
    /// level's objects for the list steps, or, with `whole` set (a level read in windows, by its
    /// plan's key), every object of the whole list, read once.
    pub(crate) async fn context_inputs(
        &self,
        dimensions: &[DimensionPlan],
        objects: &[(Uuid, Vec<Option<Uuid>>)],
        keys: Keys,
        whole: Option<usize>,
        cache: &mut ContextCache,
    ) -> StoreResult<ContextInputs> {
        let contexts = self.active_contexts(cache).await?;
        let mut values: HashMap<Uuid, Vec<Vec<Uuid>>> =
            objects.iter().map(|(id, _)| (*id, vec![Vec::new(); LISTS.len()])).collect();
        for (d, dimension) in dimensions.iter().enumerate() {
            // Only the dimensions some context is assigned along are read.
            if !contexts.iter().any(|c| !c.lists[d].is_empty()) {
                continue;
            }
            let mut current: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
            match &dimension.first {
                FirstStep::None => continue,
                FirstStep::Column(_) => {
                    for (id, firsts) in objects {
                        if let Some(Some(v)) = firsts.get(d) {
                            current.entry(*id).or_default().push(*v);
                        }
                    }
                }
                FirstStep::Groups(model) => {
                    let read = match whole.and_then(|w| cache.lists.get(&(w, d))) {
                        Some(read) => read.clone(),
                        None => {
                            let catalogue = self.catalogue().clone();
                            let model = catalogue.model(*model);
                            let read = Arc::new(self.memberships(model, &keys).await?);
                            if let Some(w) = whole {
                                cache.lists.insert((w, d), read.clone());
                            }
                            read
                        }
                    };
                    for (id, _) in objects {
                        if let Some(vs) = read.get(id) {
                            current.insert(*id, vs.clone());
                        }
                    }
                }
                FirstStep::List { table, object, target, content_type } => {
                    if let Some(read) = whole.and_then(|w| cache.lists.get(&(w, d))) {
                        for (id, _) in objects {
                            if let Some(vs) = read.get(id) {
                                current.insert(*id, vs.clone());
                            }
                        }
                        // Read for the whole list already.
                        self.finish_dimension(dimension, d, current, &mut values, cache).await?;
                        continue;
                    }
                    let mut select = Query::select();
                    select
                        .column(Alias::new(object))
                        .column(Alias::new(target))
                        .from(Alias::new(table))
                        .and_where(keys.condition(self.backend(), Expr::col(Alias::new(object))));
                    if let Some((column, label)) = content_type {
                        select.and_where(Expr::col(Alias::new(column)).eq(label.as_str()));
                    }
                    let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid]).await?;
                    let mut read: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
                    for r in 0..rows.len() {
                        let c = rows.row(r);
                        if let (Some(o), Some(t)) = (c[0].as_uuid(), c[1].as_uuid()) {
                            read.entry(o).or_default().push(t);
                        }
                    }
                    for (id, _) in objects {
                        if let Some(vs) = read.get(id) {
                            current.insert(*id, vs.clone());
                        }
                    }
                    if let Some(w) = whole {
                        cache.lists.insert((w, d), Arc::new(read));
                    }
                }
            }
            self.finish_dimension(dimension, d, current, &mut values, cache).await?;
        }
        Ok(ContextInputs { contexts, values })
    }

    /// Walks a dimension's later steps and its tree from the first-step values, and stores the
    /// objects' values.
    async fn finish_dimension(
        &self,
        dimension: &DimensionPlan,
        d: usize,
        mut current: HashMap<Uuid, Vec<Uuid>>,
        values: &mut HashMap<Uuid, Vec<Vec<Uuid>>>,
        cache: &mut ContextCache,
    ) -> StoreResult<()> {
        {
            for step in &dimension.steps {
                let ids: HashSet<Uuid> = current.values().flatten().copied().collect();
                self.step_values(cache, *step, &ids).await?;
                let known = cache.steps.get(step);
                for vs in current.values_mut() {
                    *vs = vs
                        .iter()
                        .filter_map(|v| known.and_then(|k| k.get(v)).copied().flatten())
                        .collect();
                }
            }
            if let Some(tree) = dimension.tree {
                let model = self.catalogue().model(tree);
                let parent = model
                    .fields
                    .iter()
                    .position(|f| matches!(f.kind, FieldKind::ForeignKey { to, .. } if to == tree))
                    .ok_or_else(|| internal(format!("{} is not a tree", model.label)))?;
                // Up the tree a level a statement, for the nodes not read yet.
                let mut frontier: HashSet<Uuid> = current.values().flatten().copied().collect();
                let mut depth = 0;
                while !frontier.is_empty() && depth < 64 {
                    self.step_values(cache, (tree, parent), &frontier).await?;
                    let known = cache.steps.get(&(tree, parent));
                    frontier = frontier
                        .iter()
                        .filter_map(|n| known.and_then(|k| k.get(n)).copied().flatten())
                        .collect();
                    depth += 1;
                }
                let known = cache.steps.get(&(tree, parent));
                for vs in current.values_mut() {
                    let mut all = Vec::new();
                    for v in vs.iter() {
                        let mut node = Some(*v);
                        let mut guard = 0;
                        while let Some(n) = node {
                            if all.contains(&n) || guard > 64 {
                                break;
                            }
                            all.push(n);
                            node = known.and_then(|k| k.get(&n)).copied().flatten();
                            guard += 1;
                        }
                    }
                    *vs = all;
                }
            }
            for (id, vs) in current {
                if let Some(slot) = values.get_mut(&id).and_then(|v| v.get_mut(d)) {
                    *slot = vs;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every model with a config context reaches each dimension through fields the catalogue
    /// has (a drifted catalogue fails here, not at a client's request).
    #[test]
    fn every_subject_resolves_against_the_catalogue() {
        let catalogue = ferrobot_domain::Catalogue::core().unwrap_or_else(|e| panic!("{e}"));
        let mut subjects = 0;
        for model in catalogue.models() {
            let Some(subject) = model.behaviour.config_context else { continue };
            subjects += 1;
            let mut columns = Vec::new();
            let dims = plan_dimensions(&catalogue, model, subject, |c| {
                columns.push(c.to_owned());
                columns.len()
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(dims.len(), LISTS.len());
            // Locations and tenant groups count their ancestors.
            assert!(dims[0].tree.is_some() && dims[6].tree.is_some(), "{}", model.label);
        }
        assert_eq!(subjects, 2);
    }
}
