//! Loading the catalogue files and resolving every name they use into indices.

use std::collections::HashMap;

use super::paths::{resolve_filter, resolve_type_field};
use super::raw::*;
use super::*;
use crate::value::Datum;
use crate::{DomainError, DomainResult};

pub(super) fn resolve(files: Vec<CatalogueFile>) -> DomainResult<Catalogue> {
    let mut labels = HashMap::new();
    let mut raws = Vec::new();
    for file in files {
        for raw in file.models {
            let label = format!("{}.{}", file.app, raw.model);
            if labels.insert(label.clone(), raws.len()).is_some() {
                return Err(err(&file.source, &label, "model defined twice"));
            }
            raws.push((file.source.clone(), file.app.clone(), label, raw));
        }
    }

    // Pass 1: models with their own fields.
    let mut models = Vec::with_capacity(raws.len());
    for (id, (source, app, label, raw)) in raws.iter().enumerate() {
        let ctx = |msg: String| err(source, label, &msg);
        let mut fields = Vec::with_capacity(raw.fields.len());
        for f in &raw.fields {
            fields.push(resolve_field(f, &labels, &raws, id).map_err(ctx)?);
        }
        let features = Features {
            custom_fields: raw.features.iter().any(|f| f == "custom_fields"),
            tags: raw.features.iter().any(|f| f == "tags"),
            status: raw.features.iter().any(|f| f == "status"),
            role: raw.features.iter().any(|f| f == "role"),
            contacts: raw.features.iter().any(|f| f == "contacts"),
            dynamic_groups: raw.features.iter().any(|f| f == "dynamic_groups"),
            custom_validators: raw.features.iter().any(|f| f == "custom_validators"),
            relationships: raw.features.iter().any(|f| f == "relationships"),
            export_templates: raw.features.iter().any(|f| f == "export_templates"),
        };
        if let Some(unknown) = raw.features.iter().find(|f| Features::by_name(f).is_none()) {
            return Err(ctx(format!("unknown feature {unknown}")));
        }
        let mut model = Model {
            id,
            label: label.clone(),
            app_label: app.clone(),
            name: raw.model.clone(),
            class: raw.class.clone(),
            verbose_name: raw.verbose_name.clone(),
            verbose_name_plural: raw.verbose_name_plural.clone(),
            table: raw.table.clone(),
            graphql: raw.graphql.as_ref().map(|g| GraphqlNames {
                type_name: g.ty.clone(),
                list: g.list.clone(),
                single: g.single.clone(),
                api_path: api_path(app, g),
            }),
            features,
            natural_key: raw.natural_key.clone(),
            ordering: Vec::new(),
            behaviour: crate::hooks::Behaviour::NONE,
            is_template: false,
            is_through: false,
            page_ordering: Vec::new(),
            unique_together: Vec::new(),
            indexes: Vec::new(),
            tree: raw.tree,
            readonly: raw.readonly,
            exported: raw.export && !raw.readonly,
            owner: None,
            fields,
            computed: Vec::new(),
            relations: Vec::new(),
            type_fields: Vec::new(),
            filters: Vec::new(),
            search: Vec::new(),
        };
        if model.field("id").is_none_or(|(_, f)| !f.primary_key) {
            return Err(ctx("the first-class `id` primary key is missing".into()));
        }
        // Rows are read with the id first (snapshots, the export).
        if model.fields.first().is_none_or(|f| !f.primary_key) {
            return Err(ctx("the `id` primary key must be the first field".into()));
        }
        if let Some(owner) = &raw.owner {
            match model.field(owner) {
                Some((i, f)) if matches!(f.kind, FieldKind::ForeignKey { .. }) => {
                    model.owner = Some(i)
                }
                _ => return Err(ctx(format!("owner {owner} is not a foreign key of the model"))),
            }
        }
        model.ordering = resolve_ordering(&model, &raw.ordering).map_err(ctx)?;
        model.page_ordering = match raw.page_ordering.is_empty() {
            true => model.ordering.clone(),
            false => resolve_ordering(&model, &raw.page_ordering).map_err(ctx)?,
        };
        let groups = |what: &str, groups: &[Vec<String>]| -> DomainResult<Vec<Vec<usize>>> {
            groups
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .map(|name| {
                            model
                                .field(name)
                                .map(|(i, _)| i)
                                .ok_or_else(|| ctx(format!("{what} names unknown field {name}")))
                        })
                        .collect()
                })
                .collect()
        };
        let (unique_together, indexes) =
            (groups("unique_together", &raw.unique_together)?, groups("indexes", &raw.indexes)?);
        model.unique_together = unique_together;
        model.indexes = indexes;
        for c in &raw.computed {
            let kind = match c.kind.as_str() {
                "ip_interface" => ComputedKind::IpInterface,
                "ip_network" => ComputedKind::IpNetwork,
                "network_driver_mappings" => ComputedKind::DriverMappings,
                other => return Err(ctx(format!("unknown computed kind {other}"))),
            };
            let mut from = Vec::new();
            for name in &c.from {
                from.push(
                    model
                        .field(name)
                        .ok_or_else(|| ctx(format!("computed {} uses unknown {name}", c.name)))?
                        .0,
                );
            }
            model.computed.push(Computed { name: c.name.clone(), kind, from });
        }
        for name in &raw.search {
            model.search.push(
                model.field(name).ok_or_else(|| ctx(format!("search field {name} unknown")))?.0,
            );
        }
        models.push(model);
    }

    // Pass 2: relations, forward then reverse, with clash checks.
    for model in models.iter_mut() {
        let mut rels = Vec::new();
        for (idx, f) in model.fields.iter().enumerate() {
            match &f.kind {
                FieldKind::ForeignKey { to, .. } => rels.push(Relation {
                    name: f.name.clone(),
                    target: *to,
                    shape: RelationShape::Forward {
                        column: f.column.clone().unwrap_or_default(),
                        field: idx,
                        content_type: None,
                    },
                    union: None,
                    alternatives: Vec::new(),
                }),
                FieldKind::ManyToMany { to, through, .. } => rels.push(Relation {
                    name: f.name.clone(),
                    target: *to,
                    shape: RelationShape::Through {
                        table: through.table.clone(),
                        source_column: through.source_column.clone(),
                        target_column: through.target_column.clone(),
                        content_type: None,
                        conditions: Vec::new(),
                        single: false,
                        both_ways: false,
                    },
                    union: None,
                    alternatives: Vec::new(),
                }),
                _ => {}
            }
        }
        model.relations = rels;
    }
    for id in 0..models.len() {
        let mut reverse = Vec::new();
        for f in &models[id].fields {
            match &f.kind {
                FieldKind::ForeignKey { to, related_name: Some(name), .. } => reverse.push((
                    *to,
                    Relation {
                        name: name.clone(),
                        target: id,
                        shape: RelationShape::Reverse {
                            column: f.column.clone().unwrap_or_default(),
                            unique: f.unique,
                            content_type: None,
                        },
                        union: None,
                        alternatives: Vec::new(),
                    },
                )),
                FieldKind::ManyToMany { to, through, related_name: Some(name) } => reverse.push((
                    *to,
                    Relation {
                        name: name.clone(),
                        target: id,
                        shape: RelationShape::Through {
                            table: through.table.clone(),
                            source_column: through.target_column.clone(),
                            target_column: through.source_column.clone(),
                            content_type: None,
                            conditions: Vec::new(),
                            single: false,
                            both_ways: false,
                        },
                        union: None,
                        alternatives: Vec::new(),
                    },
                )),
                _ => {}
            }
        }
        for (owner, rel) in reverse {
            let model = &models[owner];
            if model.relation(&rel.name).is_some() || model.field(&rel.name).is_some() {
                return Err(err(
                    "catalogue",
                    &model.label,
                    &format!("reverse relation {} from {} clashes", rel.name, models[id].label),
                ));
            }
            models[owner].relations.push(rel);
        }
    }

    // Generic relations: the change log (`device.object_changes`), contact associations,
    // object metadata, each declared once on the model whose rows attach to any object.
    for (owner, (source, _, label, raw)) in raws.iter().enumerate() {
        for generic in &raw.generic_relations {
            let ctx = |msg: &str| {
                err(source, label, &format!("generic_relation {}: {msg}", generic.name))
            };
            let column = |name: &str| {
                models[owner]
                    .field(name)
                    .and_then(|(_, f)| f.column.clone())
                    .ok_or_else(|| ctx(&format!("no stored field {name}")))
            };
            let (type_column, id_column) =
                (column(&generic.type_field)?, column(&generic.id_field)?);
            let id_field = models[owner].field(&generic.id_field).map_or(0, |(i, _)| i);
            // The way forward, when declared: the object a row names, one shape per model.
            let mut forward = Vec::new();
            let feature = match &generic.feature {
                Some(name) => Some(Features::by_name(name).ok_or_else(|| ctx("unknown feature"))?),
                None => None,
            };
            for model in models.iter_mut() {
                if model.id == owner || model.graphql.is_none() {
                    continue;
                }
                if feature.is_some_and(|has| !has(&model.features)) {
                    continue;
                }
                if !generic.models.is_empty() && !generic.models.contains(&model.label) {
                    continue;
                }
                forward.push((
                    model.id,
                    RelationShape::Forward {
                        column: id_column.clone(),
                        field: id_field,
                        content_type: Some((type_column.clone(), model.label.clone())),
                    },
                ));
                // A reverse foreign key of the same name to the same model is what Nautobot
                // means by the name (a user's `object_changes` are the changes it made).
                if model.relation(&generic.name).is_some_and(|(_, r)| r.target == owner) {
                    continue;
                }
                if model.relation(&generic.name).is_some() || model.field(&generic.name).is_some() {
                    return Err(err(
                        "catalogue",
                        &model.label,
                        &format!("{} clashes", generic.name),
                    ));
                }
                let label = model.label.clone();
                model.relations.push(Relation {
                    name: generic.name.clone(),
                    target: owner,
                    shape: RelationShape::Reverse {
                        column: id_column.clone(),
                        unique: generic.single,
                        content_type: Some((type_column.clone(), label)),
                    },
                    union: None,
                    alternatives: Vec::new(),
                });
            }
            if let Some(way) = &generic.forward {
                let owner_model = &models[owner];
                if owner_model.relation(&way.name).is_some()
                    || owner_model.field(&way.name).is_some()
                {
                    return Err(ctx(&format!("{} clashes", way.name)));
                }
                let Some((target, shape)) = forward.first().cloned() else {
                    return Err(ctx("no model for the way forward"));
                };
                models[owner].relations.push(Relation {
                    name: way.name.clone(),
                    target,
                    shape,
                    union: Some(way.union.clone()),
                    alternatives: forward,
                });
            }
        }
    }

    // Generic through tables (tags): declared once on the model the rows lead to.
    let mut generic_throughs = Vec::new();
    for (owner, (source, _, label, raw)) in raws.iter().enumerate() {
        for through in &raw.generic_through {
            let ctx =
                |msg: &str| err(source, label, &format!("generic_through {}: {msg}", through.name));
            let has = Features::by_name(&through.feature).ok_or_else(|| ctx("unknown feature"))?;
            for model in models.iter_mut().filter(|m| has(&m.features)) {
                if model.relation(&through.name).is_some() || model.field(&through.name).is_some() {
                    return Err(err(
                        "catalogue",
                        &model.label,
                        &format!("{} clashes", through.name),
                    ));
                }
                let label = model.label.clone();
                model.relations.push(Relation {
                    name: through.name.clone(),
                    target: owner,
                    shape: RelationShape::Through {
                        table: through.table.clone(),
                        source_column: through.object_column.clone(),
                        target_column: through.target_column.clone(),
                        content_type: Some((through.type_column.clone(), label)),
                        conditions: Vec::new(),
                        single: false,
                        both_ways: false,
                    },
                    union: None,
                    alternatives: Vec::new(),
                });
            }
            // And the way back, as Django names reverse relations (`Tag.device_set`): the
            // objects of each model that carry the row, a list with the model's filters.
            let mut back = Vec::new();
            for model in models.iter().filter(|m| has(&m.features) && m.graphql.is_some()) {
                let model_name = model.label.rsplit('.').next().unwrap_or(&model.label);
                back.push(Relation {
                    name: format!("{model_name}_set"),
                    target: model.id,
                    shape: RelationShape::Through {
                        table: through.table.clone(),
                        source_column: through.target_column.clone(),
                        target_column: through.object_column.clone(),
                        content_type: None,
                        conditions: vec![(
                            through.type_column.clone(),
                            Datum::Text(model.label.as_str().into()),
                        )],
                        single: false,
                        both_ways: false,
                    },
                    union: None,
                    alternatives: Vec::new(),
                });
            }
            for rel in back {
                let owner_model = &models[owner];
                if owner_model.relation(&rel.name).is_some()
                    || owner_model.field(&rel.name).is_some()
                {
                    return Err(ctx(&format!("{} clashes", rel.name)));
                }
                models[owner].relations.push(rel);
            }
            generic_throughs.push(GenericThrough {
                name: through.name.clone(),
                feature: has,
                table: through.table.clone(),
                type_column: through.type_column.clone(),
                object_column: through.object_column.clone(),
                target_column: through.target_column.clone(),
                target: owner,
            });
        }
    }

    // Groups (dynamic groups): every model with the feature gets the groups that hold it.
    let mut groups_of = Vec::new();
    for (owner, (source, _, label, raw)) in raws.iter().enumerate() {
        let Some(groups) = &raw.groups_of else { continue };
        let ctx = |msg: &str| err(source, label, &format!("groups_of: {msg}"));
        let has = Features::by_name(&groups.feature).ok_or_else(|| ctx("unknown feature"))?;
        let type_column = models[owner]
            .field(&groups.type_field)
            .and_then(|(_, f)| f.column.clone())
            .ok_or_else(|| ctx(&format!("no stored field {}", groups.type_field)))?;
        for model in models.iter_mut().filter(|m| has(&m.features) && m.graphql.is_some()) {
            if model.relation(&groups.name).is_some() || model.field(&groups.name).is_some() {
                return Err(err("catalogue", &model.label, &format!("{} clashes", groups.name)));
            }
            let label = model.label.clone();
            model.relations.push(Relation {
                name: groups.name.clone(),
                target: owner,
                shape: RelationShape::Members { type_column: type_column.clone(), label },
                union: None,
                alternatives: Vec::new(),
            });
            groups_of.push((model.id, owner, groups.name.clone()));
        }
    }

    // Declared links through other models' rows.
    for id in 0..models.len() {
        let (source, _, label, raw) = &raws[id];
        for link in &raw.links {
            let rel = resolve_link(&models, &labels, id, link)
                .map_err(|m| err(source, label, &format!("link {}: {m}", link.name)))?;
            if models[id].relation(&rel.name).is_some() || models[id].field(&rel.name).is_some() {
                return Err(err(source, label, &format!("link {} clashes", rel.name)));
            }
            models[id].relations.push(rel);
        }
    }

    // Pass 3: filters, which walk relations.
    for id in 0..models.len() {
        let (source, _, label, raw) = &raws[id];
        let mut filters = Vec::new();
        for (name, f) in &raw.filters {
            let filter = resolve_filter(&models, id, name, f)
                .map_err(|m| err(source, label, &format!("filter {name}: {m}")))?;
            filters.push(filter);
        }
        models[id].filters = filters;
    }
    // The groups filter of each member model (`devices(dynamic_groups: ["edge"])`).
    for (member, owner, name) in groups_of {
        if models[member].filter(&name).is_some() {
            return Err(err("catalogue", &models[member].label, &format!("filter {name} clashes")));
        }
        models[member].filters.push(Filter {
            name,
            paths: vec![Vec::new()],
            landing: owner,
            field: None,
            kind: FilterKind::Member,
            value_type: "String".into(),
            single: false,
            strict: false,
            lookups: vec![Lookup::Exact, Lookup::N],
        });
    }
    for id in 0..models.len() {
        let (source, _, label, raw) = &raws[id];
        let mut type_fields = Vec::new();
        for t in &raw.type_fields {
            let resolved = resolve_type_field(&models, id, t)
                .map_err(|m| err(source, label, &format!("type field {}: {m}", t.name)))?;
            type_fields.push(resolved);
        }
        models[id].type_fields = type_fields;
    }

    // Pass 4: behaviour, checked against what the catalogue has.
    for id in 0..models.len() {
        let (source, _, label, _) = &raws[id];
        let behaviour = crate::hooks::behaviour(label);
        check_behaviour(&models, &labels, id, &behaviour).map_err(|m| err(source, label, &m))?;
        models[id].behaviour = behaviour;
    }
    // Network filters compare the address layout of the model they land on.
    for model in &models {
        for f in &model.filters {
            let network = matches!(f.kind, FilterKind::Network(_));
            if network && models[f.landing].behaviour.parent.is_none() {
                let (source, _, label, _) = &raws[model.id];
                let m = format!("filter {}: lands on a model without an address layout", f.name);
                return Err(err(source, label, &m));
            }
        }
    }
    let templates: Vec<usize> = models
        .iter()
        .filter_map(|m| m.behaviour.components)
        .flat_map(|c| c.templates.iter())
        .filter_map(|t| labels.get(t.template).copied())
        .collect();
    for id in templates {
        models[id].is_template = true;
    }
    let throughs: Vec<usize> = models
        .iter()
        .flat_map(|m| m.fields.iter())
        .filter_map(|f| match &f.kind {
            FieldKind::ManyToMany { through, .. } => through.model,
            _ => None,
        })
        .collect();
    for id in throughs {
        models[id].is_through = true;
    }
    Ok(Catalogue::new(models, generic_throughs))
}

/// Every field, model and list a model's behaviour names exists: a hook that names something
/// the catalogue lacks fails start-up, not a write.
fn check_behaviour(
    models: &[Model],
    labels: &HashMap<String, usize>,
    id: usize,
    behaviour: &crate::hooks::Behaviour,
) -> Result<(), String> {
    use crate::hooks::NamespaceSource;
    let model = &models[id];
    let by_label = |label: &str| -> Result<&Model, String> {
        labels
            .get(label)
            .map(|&i| &models[i])
            .ok_or_else(|| format!("behaviour names model {label}, which the catalogue lacks"))
    };
    let field = |m: &Model, name: &str| -> Result<(), String> {
        m.field(name).map(|_| ()).ok_or_else(|| {
            format!("behaviour names field {}.{name}, which the catalogue lacks", m.label)
        })
    };
    for input in behaviour.inputs {
        input.fills.iter().try_for_each(|f| field(model, f))?;
    }
    if let Some(rule) = behaviour.parent {
        let fields = [rule.field, rule.address, rule.length, rule.version];
        fields.iter().chain(&rule.end).try_for_each(|f| field(model, f))?;
        match rule.namespace {
            NamespaceSource::Field(name) => field(model, name)?,
            NamespaceSource::Input { model: label, .. } => drop(by_label(label)?),
        }
    }
    for adoption in behaviour.adoptions {
        by_label(adoption.child)?;
    }
    for set in behaviour.unique_sets {
        set.iter().try_for_each(|f| field(model, f))?;
    }
    if let Some(spec) = behaviour.components {
        field(model, spec.type_field)?;
        for t in spec.templates {
            let (template, component) = (by_label(t.template)?, by_label(t.component)?);
            field(template, spec.template_type_field)?;
            field(component, t.owner.unwrap_or(spec.owner_field))?;
            t.copy.iter().try_for_each(|f| field(template, f).and(field(component, f)))?;
            for (ours, theirs) in t.refs {
                field(component, ours)?;
                field(template, theirs)?;
            }
            t.fixed.iter().try_for_each(|(f, _)| field(component, f))?;
        }
    }
    behaviour.usage_inputs.iter().try_for_each(|f| field(model, f))?;
    if let Some(fields) = behaviour.change_log {
        fields.all().iter().try_for_each(|f| field(model, f))?;
    }
    for list in behaviour.usage_lists {
        if list.ours != "id" {
            return Err(format!("usage list {} must start from the object's id", list.name));
        }
        let other = by_label(list.model)?;
        field(other, list.theirs)?;
        list.expand.iter().try_for_each(|f| field(other, f))?;
    }
    for rule in behaviour.rules {
        rule.needs.iter().try_for_each(|f| field(model, f))?;
        for list in rule.lists {
            let other = by_label(list.model)?;
            field(other, list.theirs)?;
            field(model, list.ours)?;
            list.expand.iter().try_for_each(|f| field(other, f))?;
        }
    }
    for filter in behaviour.filter_fields {
        field(model, filter.field)?;
        field(model, filter.model_field)?;
        Features::by_name(filter.feature).ok_or(format!("unknown feature {}", filter.feature))?;
    }
    if let Some(edge) = behaviour.acyclic {
        field(model, edge.from)?;
        field(model, edge.to)?;
    }
    Ok(())
}

fn resolve_link(
    models: &[Model],
    labels: &HashMap<String, ModelId>,
    id: ModelId,
    link: &RawLink,
) -> Result<Relation, String> {
    if link.kind == "first_of" {
        return first_of(&models[id], link);
    }
    let via = *labels.get(&link.via).ok_or_else(|| format!("unknown model {}", link.via))?;
    let via_model = &models[via];
    let key = |name: &str| -> Result<(String, Option<ModelId>), String> {
        let (_, f) =
            via_model.field(name).ok_or_else(|| format!("{} has no field {name}", link.via))?;
        let to = match &f.kind {
            FieldKind::ForeignKey { to, .. } => Some(*to),
            _ => None,
        };
        Ok((f.column.clone().ok_or_else(|| format!("{name} is not a column"))?, to))
    };
    let (source_column, source_to) = key(&link.source)?;
    let source_type = link.source_type.as_deref().map(key).transpose()?.map(|(c, _)| c);
    if source_to != Some(id) && source_type.is_none() {
        return Err(format!("{}.{} does not refer to this model", link.via, link.source));
    }
    let member = |label: &str| {
        labels.get(label).copied().ok_or_else(|| format!("unknown member model {label}"))
    };
    let mut alternatives: Vec<(ModelId, RelationShape)> = Vec::new();
    match link.kind.as_str() {
        "through" => {
            let target = link.target.as_deref().ok_or("`target` is required")?;
            let (target_column, to) = key(target)?;
            let single = source_type.is_some()
                || via_model.field(&link.source).is_some_and(|(_, f)| f.unique);
            let shape = |conditions: Vec<(String, Datum)>| RelationShape::Through {
                table: via_model.table.clone(),
                source_column: source_column.clone(),
                target_column: target_column.clone(),
                content_type: None,
                conditions,
                single,
                both_ways: false,
            };
            let own: Vec<(String, Datum)> = source_type
                .iter()
                .map(|c| (c.clone(), Datum::Text(models[id].label.as_str().into())))
                .collect();
            match (&link.target_type, to) {
                (Some(target_type), _) => {
                    let (type_column, _) = key(target_type)?;
                    for label in &link.targets {
                        let mut conditions = own.clone();
                        conditions.push((type_column.clone(), Datum::Text(label.as_str().into())));
                        alternatives.push((member(label)?, shape(conditions)));
                    }
                }
                (None, Some(to)) => alternatives.push((to, shape(own))),
                (None, None) => return Err("the target is not a foreign key".into()),
            }
        }
        "peer" => {
            let (group_column, _) = key(link.group.as_deref().ok_or("`group` is required")?)?;
            let (side_column, _) = key(link.side.as_deref().ok_or("`side` is required")?)?;
            let targets = if link.targets.is_empty() {
                vec![link.source.clone()]
            } else {
                link.targets.clone()
            };
            for target in &targets {
                let (target_column, to) = key(target)?;
                alternatives.push((
                    to.ok_or_else(|| format!("{target} is not a foreign key"))?,
                    RelationShape::Peer {
                        table: via_model.table.clone(),
                        endpoint_column: source_column.clone(),
                        target_column,
                        group_column: group_column.clone(),
                        side_column: side_column.clone(),
                    },
                ));
            }
        }
        other => return Err(format!("unknown link kind {other}")),
    }
    let (target, shape) = alternatives.first().cloned().ok_or("a union needs `targets`")?;
    if link.union.is_none() && alternatives.len() > 1 {
        return Err("several targets need a `union`".into());
    }
    Ok(Relation {
        name: link.name.clone(),
        target,
        shape,
        union: link.union.clone(),
        alternatives: if link.union.is_some() { alternatives } else { Vec::new() },
    })
}

/// The first of a model's own references that is set, in the order `targets` names them, all
/// to one model: `primary_ip` is `primary_ip6`, else `primary_ip4` (Nautobot's
/// `Device.primary_ip` without `PREFER_IPV4`).
fn first_of(model: &Model, link: &RawLink) -> Result<Relation, String> {
    let mut alternatives = Vec::new();
    for name in &link.targets {
        let (index, f) = model.field(name).ok_or_else(|| format!("no field {name}"))?;
        let (FieldKind::ForeignKey { to, .. }, Some(column)) = (&f.kind, &f.column) else {
            return Err(format!("{name} is not a reference"));
        };
        if alternatives.first().is_some_and(|(first, _)| first != to) {
            return Err(format!("{name} refers to another model than the first target"));
        }
        let shape =
            RelationShape::Forward { column: column.clone(), field: index, content_type: None };
        alternatives.push((*to, shape));
    }
    let (target, shape) = alternatives.first().cloned().ok_or("first_of needs `targets`")?;
    Ok(Relation { name: link.name.clone(), target, shape, union: None, alternatives })
}

fn err(source: &str, label: &str, msg: &str) -> DomainError {
    DomainError::Catalogue(format!("{source}: {label}: {msg}"))
}

type RawList = [(String, String, String, RawModel)];

fn resolve_field(
    f: &RawField,
    labels: &HashMap<String, ModelId>,
    raws: &RawList,
    owner: ModelId,
) -> Result<Field, String> {
    let target = |f: &RawField| -> Result<ModelId, String> {
        let to = f.to.as_deref().ok_or_else(|| format!("{}: `to` is required", f.name))?;
        labels.get(to).copied().ok_or_else(|| format!("{}: unknown target {to}", f.name))
    };
    let mut column = Some(f.name.clone());
    let kind = match f.kind.as_str() {
        "uuid" => FieldKind::Uuid,
        "string" => FieldKind::String { max_length: f.max_length.unwrap_or(255) },
        "text" => FieldKind::Text,
        "choice" => {
            if f.choices.is_empty() {
                return Err(format!("{}: a choice field needs choices", f.name));
            }
            FieldKind::Choice { max_length: f.max_length.unwrap_or(50), choices: f.choices.clone() }
        }
        "integer" => FieldKind::Integer {
            size: match f.size.as_deref() {
                None | Some("int") => IntSize::Int,
                Some("small") => IntSize::Small,
                Some("big") => IntSize::Big,
                Some(other) => return Err(format!("{}: unknown size {other}", f.name)),
            },
            min: f.min,
            max: f.max,
            choices: f
                .choices
                .iter()
                .map(|(value, label)| {
                    let n = value.parse::<i64>();
                    n.map(|n| (n, label.clone()))
                        .map_err(|_| format!("{}: choice {value} is not an integer", f.name))
                })
                .collect::<Result<_, _>>()?,
        },
        "boolean" => FieldKind::Boolean,
        "datetime" => FieldKind::DateTime,
        "date" => FieldKind::Date,
        "decimal" => match (f.max_digits, f.decimal_places) {
            (Some(max_digits), Some(decimal_places)) if decimal_places <= max_digits => {
                FieldKind::Decimal { max_digits, decimal_places }
            }
            _ => {
                return Err(format!(
                    "{}: a decimal needs max_digits and decimal_places (no more than max_digits)",
                    f.name
                ))
            }
        },
        "json" => FieldKind::Json,
        "float" => FieldKind::Float,
        "ip_bytes" => FieldKind::IpBytes,
        "mac_address" => FieldKind::MacAddress,
        "content_type" => {
            column = Some(format!("{}_id", f.name));
            FieldKind::ContentType
        }
        "content_types" => FieldKind::ContentTypes,
        "foreign_key" => {
            column = Some(format!("{}_id", f.name));
            FieldKind::ForeignKey {
                to: target(f)?,
                on_delete: match f.on_delete.as_deref() {
                    Some("cascade") => OnDelete::Cascade,
                    Some("protect") | None => OnDelete::Protect,
                    Some("set_null") => OnDelete::SetNull,
                    Some(other) => return Err(format!("{}: unknown on_delete {other}", f.name)),
                },
                related_name: f.related_name.clone(),
            }
        }
        "many_to_many" => {
            column = None;
            let to = target(f)?;
            let owner_raw = &raws[owner];
            let through = match &f.through {
                Some(label) => {
                    let tid = *labels
                        .get(label)
                        .ok_or_else(|| format!("{}: unknown through {label}", f.name))?;
                    let traw = &raws[tid].3;
                    let fk_to = |want: &str, skip: Option<&str>| {
                        traw.fields
                            .iter()
                            .find(|tf| {
                                tf.kind == "foreign_key"
                                    && tf.to.as_deref() == Some(want)
                                    && Some(tf.name.as_str()) != skip
                            })
                            .map(|tf| tf.name.clone())
                    };
                    let source = fk_to(&owner_raw.2, None)
                        .ok_or_else(|| format!("{}: {label} has no key to the owner", f.name))?;
                    let target_label = &raws[to].2;
                    let dest = fk_to(target_label, Some(&source))
                        .ok_or_else(|| format!("{}: {label} has no key to the target", f.name))?;
                    Through {
                        table: traw.table.clone(),
                        model: Some(tid),
                        source_column: format!("{source}_id"),
                        target_column: format!("{dest}_id"),
                    }
                }
                None => {
                    let (src, dst) = if to == owner {
                        (
                            format!("from_{}_id", owner_raw.3.model),
                            format!("to_{}_id", owner_raw.3.model),
                        )
                    } else {
                        (format!("{}_id", owner_raw.3.model), format!("{}_id", raws[to].3.model))
                    };
                    Through {
                        table: format!("{}_{}", owner_raw.3.table, f.name),
                        model: None,
                        source_column: src,
                        target_column: dst,
                    }
                }
            };
            FieldKind::ManyToMany { to, through, related_name: f.related_name.clone() }
        }
        other => return Err(format!("{}: unknown kind {other}", f.name)),
    };
    let secret = match f.secret.as_deref() {
        None => None,
        Some("password") => Some(Secret::Password),
        Some("token_key") => Some(Secret::TokenKey),
        Some(other) => return Err(format!("{}: unknown secret {other}", f.name)),
    };
    Ok(Field {
        name: f.name.clone(),
        kind,
        secret,
        column,
        null: f.null,
        blank: f.blank,
        unique: f.unique,
        primary_key: f.primary_key,
        natural_order: f.natural_order,
        help_text: f.help_text.clone(),
        default: f.default.clone(),
    })
}

fn resolve_ordering(model: &Model, terms: &[String]) -> Result<Vec<OrderTerm>, String> {
    let mut out = Vec::new();
    for term in terms {
        let (descending, name) = match term.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, term.as_str()),
        };
        let column = if name == "pk" {
            "id".to_owned()
        } else if let Some(base) = name.strip_prefix('_') {
            match model.field(base) {
                Some((_, f)) if f.natural_order => name.to_owned(),
                _ => return Err(format!("ordering {term}: no natural-order field {base}")),
            }
        } else {
            let base = match model.field(name) {
                Some(_) => name,
                None => name.strip_suffix("_id").unwrap_or(name),
            };
            match model.field(base) {
                Some((_, f)) => match &f.column {
                    Some(c) => c.clone(),
                    None => return Err(format!("ordering {term}: not a column")),
                },
                None => return Err(format!("ordering {term}: unknown field")),
            }
        };
        out.push(OrderTerm { column, descending });
    }
    // The primary key last, so that every page boundary is stable.
    if !out.iter().any(|t| t.column == "id") {
        out.push(OrderTerm { column: "id".into(), descending: false });
    }
    Ok(out)
}

/// `/api/<app>/<route>/`: Nautobot's REST routes are the app label and the list name with
/// dashes, unless the catalogue names another route (or none).
fn api_path(app: &str, g: &RawGraphql) -> Option<String> {
    let route = match g.rest.as_deref() {
        Some("none") => return None,
        Some(route) => route.to_owned(),
        None => g.list.as_ref()?.replace('_', "-"),
    };
    Some(format!("/api/{}/{route}/", app.replace('_', "-")))
}
