//! The mutation half of the schema, generated from the catalogue like the queries.
//!
//! For every model served over GraphQL that clients may write (all but the change log), with
//! `s` its single root field (`device`, `ip_address`):
//!
//! - `s_create(input: XInput!)`, `s_create_bulk(inputs: [XInput!]!)` → the new objects;
//! - `s_update(ref: XRef!, input: XInput!)`, `s_update_bulk(updates: [XUpdate!]!)`: partial
//!   updates (absent keys stay, `null` clears);
//! - `s_upsert(input: XInput!)`, `s_upsert_bulk(inputs: [XInput!]!)`: create or update the
//!   object the input's natural key names (models with a natural key);
//! - `s_delete(ref: XRef!)`, `s_delete_bulk(refs: [XRef!]!)` → the deleted objects, cascades
//!   included;
//! - `batch(operations: [BatchOperation!]!)`: any mix of the above, in order.
//!
//! `X` is the model's class (`Device`, `IPAddress`). `XRef` names an object by `id` or by its
//! natural key, with references nested (`{device_type: {manufacturer: {name: "Acme"}, model:
//! "X1"}}`). Every mutation document runs in one transaction.

use std::collections::HashMap;

use async_graphql::dynamic::{InputObject, InputValue, Object, SchemaBuilder, TypeRef};
use ferrobot_domain::catalogue::{FieldKind, IntSize, Model, ModelId, Secret};
use ferrobot_domain::{hooks, validate, Catalogue};

use crate::schema_parts::{enum_name, unresolved};

/// What one mutation root field does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Upsert,
    Delete,
    /// A sync of a data source (a Git repository): it starts a job and answers its result.
    Sync,
}

impl Operation {
    pub const ALL: [Operation; 4] =
        [Operation::Create, Operation::Update, Operation::Upsert, Operation::Delete];

    pub fn suffix(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
            Operation::Delete => "delete",
            Operation::Sync => "sync",
        }
    }
}

/// A mutation root field: which model, which operation, one object or a list.
#[derive(Debug, Clone, Copy)]
pub struct MutationField {
    pub model: ModelId,
    pub operation: Operation,
    pub bulk: bool,
}

/// The root field name of an operation on a model (`device_create`, `device_create_bulk`).
pub fn field_name(single: &str, operation: Operation, bulk: bool) -> String {
    if bulk {
        format!("{single}_{}_bulk", operation.suffix())
    } else {
        format!("{single}_{}", operation.suffix())
    }
}

/// Whether clients may write a model through GraphQL.
pub fn writable(model: &Model) -> bool {
    !model.readonly && model.graphql.as_ref().is_some_and(|g| g.single.is_some())
}

/// Whether a model can be upserted: it has a natural key other than its id.
pub fn upsertable(model: &Model) -> bool {
    !model.natural_key_inputs().is_empty()
}

fn ref_name(model: &Model) -> String {
    format!("{}Ref", model.class)
}

fn input_name(model: &Model) -> String {
    format!("{}Input", model.class)
}

fn update_name(model: &Model) -> String {
    format!("{}Update", model.class)
}

/// The input type of a stored field, or `None` for fields clients do not set.
fn field_input_type(
    catalogue: &Catalogue,
    model: &Model,
    field: &ferrobot_domain::Field,
) -> Option<TypeRef> {
    Some(match &field.kind {
        FieldKind::Uuid => TypeRef::named("ID"),
        FieldKind::String { .. }
        | FieldKind::Text
        | FieldKind::IpBytes
        | FieldKind::MacAddress
        | FieldKind::ContentType => TypeRef::named("String"),
        FieldKind::Choice { .. } => TypeRef::named(enum_name(model, &field.name)),
        FieldKind::Integer { size: IntSize::Big, .. } => TypeRef::named("BigInt"),
        FieldKind::Integer { .. } => TypeRef::named("Int"),
        FieldKind::Boolean => TypeRef::named("Boolean"),
        FieldKind::DateTime => TypeRef::named("DateTime"),
        FieldKind::Date => TypeRef::named("Date"),
        FieldKind::Decimal { .. } => TypeRef::named("Decimal"),
        FieldKind::Float => TypeRef::named("Float"),
        FieldKind::Json => TypeRef::named("GenericScalar"),
        FieldKind::ContentTypes => TypeRef::named_list("String"),
        FieldKind::ForeignKey { to, .. } => {
            let target = catalogue.model(*to);
            target.graphql.as_ref()?;
            TypeRef::named(ref_name(target))
        }
        FieldKind::ManyToMany { to, .. } => {
            let target = catalogue.model(*to);
            target.graphql.as_ref()?;
            TypeRef::named_nn_list(ref_name(target))
        }
    })
}

/// `XRef`: an object named by id or by its natural key.
fn ref_type(catalogue: &Catalogue, model: &Model) -> InputObject {
    let mut object = InputObject::new(ref_name(model)).description(format!(
        "Names one {}: by `id`, or by its natural key ({}).",
        model.verbose_name,
        model.natural_key_inputs().join(", ")
    ));
    object = object.field(InputValue::new("id", TypeRef::named("ID")));
    for key in model.natural_key_inputs() {
        let ty = match model.field(&key) {
            Some((_, field)) => field_input_type(catalogue, model, field),
            None => Some(TypeRef::named("String")),
        };
        if let Some(ty) = ty {
            object = object.field(InputValue::new(key, ty));
        }
    }
    object
}

/// `XInput`: the fields of a create, an update or an upsert, all optional in the schema; the
/// write path reports missing required fields together with every other error.
fn input_type(catalogue: &Catalogue, model: &Model) -> InputObject {
    let mut object = InputObject::new(input_name(model))
        .description(format!("The fields of a {} to write.", model.verbose_name));
    let filled: Vec<&str> =
        model.behaviour.inputs.iter().flat_map(|i| i.fills.iter().copied()).collect();
    let computed_parent = model.behaviour.parent.map(|p| p.field);
    for field in &model.fields {
        if (validate::is_automatic(field) && !field.primary_key)
            || field.secret == Some(Secret::TokenKey)
            || filled.contains(&field.name.as_str())
            || computed_parent == Some(field.name.as_str())
        {
            continue;
        }
        let Some(ty) = field_input_type(catalogue, model, field) else { continue };
        let mut value = InputValue::new(field.name.clone(), ty);
        let required = validate::absent(field).is_err() && !field.primary_key;
        let help = match (&field.help_text, required) {
            (Some(h), true) => Some(format!("{h} Required on create.")),
            (Some(h), false) => Some(h.clone()),
            (None, true) => Some("Required on create.".to_owned()),
            (None, false) => None,
        };
        if let Some(help) = help {
            value = value.description(help);
        }
        object = object.field(value);
    }
    for input in model.behaviour.inputs {
        object = object.field(
            InputValue::new(input.key, TypeRef::named("String")).description("Required on create."),
        );
    }
    if let Some(rule) = model.behaviour.parent {
        if let hooks::NamespaceSource::Input { key, model: namespace, default } = rule.namespace {
            if let Some(ns) = catalogue.by_label(namespace) {
                object =
                    object.field(InputValue::new(key, TypeRef::named(ref_name(ns))).description(
                        format!("Where the parent prefix is looked for ({default} by default)."),
                    ));
            }
        }
    }
    for through in catalogue.generic_throughs_of(model) {
        let target = catalogue.model(through.target);
        object =
            object.field(InputValue::new(&through.name, TypeRef::named_nn_list(ref_name(target))));
    }
    if model.features.custom_fields {
        object = object.field(
            InputValue::new("custom_fields", TypeRef::named("GenericScalar")).description(
                "Custom field values by key; on an update, the keys given replace theirs.",
            ),
        );
    }
    if model.features.relationships {
        object = object.field(
            InputValue::new(
                ferrobot_domain::relationship::INPUT_KEY,
                TypeRef::named("GenericScalar"),
            )
            .description(
                "Associations by relationship key and side, as Nautobot's REST API takes them: \
                 `{uplinks: {destination: {objects: [id or natural key, ...]}}}`; the objects \
                 given become the object's associations at that side.",
            ),
        );
    }
    object
}

/// Registers the mutation types and returns the root fields by name.
pub fn register(
    catalogue: &Catalogue,
    mut schema: SchemaBuilder,
) -> (SchemaBuilder, HashMap<String, MutationField>) {
    let mut fields = HashMap::new();
    let mut mutation = Object::new("Mutation");
    let mut batch = InputObject::new("BatchOperation").oneof().description(
        "One operation of a batch: exactly one field, named like the mutation it runs.",
    );
    for model in catalogue.models().iter().filter(|m| m.graphql.is_some()) {
        schema = schema.register(ref_type(catalogue, model));
    }
    for model in catalogue.models().iter().filter(|m| writable(m)) {
        let (Some(gql), Some(single)) =
            (&model.graphql, model.graphql.as_ref().and_then(|g| g.single.as_ref()))
        else {
            continue;
        };
        schema = schema.register(input_type(catalogue, model));
        schema = schema.register(
            InputObject::new(update_name(model))
                .field(InputValue::new("ref", TypeRef::named_nn(ref_name(model))))
                .field(InputValue::new("input", TypeRef::named_nn(input_name(model)))),
        );
        let object = TypeRef::named(&gql.type_name);
        let objects = TypeRef::named_list(&gql.type_name);
        let input = || TypeRef::named_nn(input_name(model));
        let inputs = || TypeRef::named_nn_list_nn(input_name(model));
        let reference = || TypeRef::named_nn(ref_name(model));
        for operation in Operation::ALL {
            if operation == Operation::Upsert && !upsertable(model) {
                continue;
            }
            let (one, many) = match operation {
                Operation::Create | Operation::Upsert => (
                    unresolved(field_name(single, operation, false), object.clone())
                        .argument(InputValue::new("input", input())),
                    unresolved(field_name(single, operation, true), objects.clone())
                        .argument(InputValue::new("inputs", inputs())),
                ),
                Operation::Update => (
                    unresolved(field_name(single, operation, false), object.clone())
                        .argument(InputValue::new("ref", reference()))
                        .argument(InputValue::new("input", input())),
                    unresolved(field_name(single, operation, true), objects.clone()).argument(
                        InputValue::new("updates", TypeRef::named_nn_list_nn(update_name(model))),
                    ),
                ),
                Operation::Delete => (
                    unresolved(
                        field_name(single, operation, false),
                        TypeRef::named_list("DeletedObject"),
                    )
                    .argument(InputValue::new("ref", reference())),
                    unresolved(
                        field_name(single, operation, true),
                        TypeRef::named_list("DeletedObject"),
                    )
                    .argument(InputValue::new("refs", TypeRef::named_nn_list_nn(ref_name(model)))),
                ),
                Operation::Sync => continue,
            };
            mutation = mutation.field(one).field(many);
            for bulk in [false, true] {
                fields.insert(
                    field_name(single, operation, bulk),
                    MutationField { model: model.id, operation, bulk },
                );
            }
            let op_type = match operation {
                Operation::Create | Operation::Upsert => TypeRef::named(input_name(model)),
                Operation::Update => TypeRef::named(update_name(model)),
                Operation::Delete | Operation::Sync => TypeRef::named(ref_name(model)),
            };
            batch = batch.field(InputValue::new(field_name(single, operation, false), op_type));
        }
    }
    // Data sources sync as jobs: `git_repository_sync(ref:)` answers the job's result.
    let job_type =
        catalogue.by_label(ferrobot_domain::job::RESULT).and_then(|m| m.graphql.as_ref());
    for label in ferrobot_domain::owner::OWNERS {
        let Some(model) = catalogue.by_label(label) else { continue };
        let (Some(single), Some(job)) =
            (model.graphql.as_ref().and_then(|g| g.single.as_ref()), job_type)
        else {
            continue;
        };
        let name = field_name(single, Operation::Sync, false);
        mutation = mutation.field(
            unresolved(name.clone(), TypeRef::named(&job.type_name))
                .description(
                    "Starts a sync of the repository (Nautobot's `Git Repository: Sync` job) and answers its job result; follow it with `job_result(id:)` and `job_log_entries(job_result:)`.",
                )
                .argument(InputValue::new("ref", TypeRef::named_nn(ref_name(model)))),
        );
        fields.insert(
            name,
            MutationField { model: model.id, operation: Operation::Sync, bulk: false },
        );
    }
    mutation = mutation.field(
        unresolved("batch".into(), TypeRef::named_list("BatchResult"))
            .argument(InputValue::new("operations", TypeRef::named_nn_list_nn("BatchOperation"))),
    );
    let deleted = Object::new("DeletedObject")
        .description("An object a delete removed (the one named, or one its deletion cascaded to).")
        .field(unresolved("id".into(), TypeRef::named_nn("UUID")))
        .field(unresolved("object_type".into(), TypeRef::named_nn("String")));
    let result = Object::new("BatchResult")
        .description("What one operation of a batch did.")
        .field(unresolved("index".into(), TypeRef::named_nn("Int")))
        .field(unresolved("operation".into(), TypeRef::named_nn("String")))
        .field(
            unresolved("action".into(), TypeRef::named("String"))
                .description("create, update or delete; null for an update that changed nothing."),
        )
        .field(unresolved("object_type".into(), TypeRef::named_nn("String")))
        .field(unresolved("id".into(), TypeRef::named_nn("UUID")));
    schema = schema.register(batch).register(deleted).register(result).register(mutation);
    (schema, fields)
}
