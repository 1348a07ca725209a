//! The GraphQL schema, generated from the catalogue plus the custom fields defined at run time.
//!
//! async-graphql's dynamic schema gives us parsing, validation with spec-exact errors,
//! introspection and the SDL. Query operations are not executed by it: the plan executor
//! ([`crate::execute`]) takes them over after validation, so these field resolvers only ever run
//! for introspection-adjacent cases and answer with an error.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, InputValue, Object, Scalar, Schema, SchemaBuilder, TypeRef,
};
use ferrobot_domain::catalogue::Relation;
use ferrobot_domain::catalogue::{
    CustomField, CustomFieldKind, FieldKind, Filter, FilterKind, IntSize, Lookup, Model, ModelId,
    Secret,
};
use ferrobot_domain::computed_field::{ComputedField, Template};
use ferrobot_domain::hooks::Usage;
use ferrobot_domain::relationship::Relationship;
use ferrobot_domain::value::enum_item_name;
use ferrobot_domain::Catalogue;

pub use crate::schema_parts::enum_name;
use crate::schema_parts::unresolved;

/// async-graphql's check of selection-set nesting, fragments followed (its default, 32, would
/// fire before the depth limit): high enough for any depth limit, and bounding the walks of a
/// document of fragment chains.
const PARSER_RECURSION: usize = 2 * crate::limits::MAX_DEPTH_LIMIT + 8;

/// The definitions stored as rows that add fields to the schema: custom fields (`cf_<key>`),
/// computed fields (`cpf_<key>`) and relationships (`rel_<key>`). The server rebuilds its schema when they change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definitions {
    pub custom_fields: Vec<CustomField>,
    pub computed_fields: Vec<ComputedField>,
    /// Relationships: `rel_<key>` fields and `cr_<key>__<side>` filters at their ends.
    pub relationships: Vec<Relationship>,
}

/// Everything a request needs that changes when custom or computed fields change; swapped
/// atomically.
pub struct Served {
    pub schema: Schema,
    pub catalogue: Arc<Catalogue>,
    pub custom_fields: Vec<CustomField>,
    pub computed_fields: Vec<ComputedField>,
    /// The computed fields served, compiled once per schema (`Annotation::Rendered`).
    pub templates: Vec<Arc<Template>>,
    pub relationships: Vec<Relationship>,
    /// The relations of the relationship fields served (`Annotation::Association`).
    pub associations: Vec<Arc<Relation>>,
    /// Each model's relationship filters: argument → `associations[index]`.
    pub association_filters: HashMap<ModelId, HashMap<String, usize>>,
    /// GraphQL object type name → model.
    pub types: HashMap<String, ModelId>,
    /// What each root query field reads.
    pub roots: HashMap<String, Root>,
    /// What each field of a model's object type is, recorded as the field was added to the
    /// schema: the request tree is built from these, one lookup per selected field.
    pub fields: HashMap<ModelId, HashMap<String, Annotation>>,
    /// The cursor page type of each model with a list (`<Type>Page`).
    pub page_types: HashMap<ModelId, String>,
    /// Mutation root field → what it writes.
    pub mutations: HashMap<String, crate::mutation_schema::MutationField>,
    /// Subscription root field → the model whose changes it follows (the change log's list:
    /// `object_changes`).
    pub subscriptions: HashMap<String, ModelId>,
}

/// The argument of a subscription that replays the log after a sequence before going live.
pub const AFTER_SEQUENCE: &str = "after_sequence";

/// A root query field: a model's list (with filters and a page), one object by id, or the list
/// as cursor pages (`<list>_page`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    List(ModelId),
    Single(ModelId),
    Page(ModelId),
    /// `render_export_template`: a list rendered by an export template ([`EXPORT_FIELDS`]).
    Export,
}

/// The root field that renders an export template, and its answer's type and fields.
pub const EXPORT_ROOT: &str = "render_export_template";
pub const EXPORT_TYPE: &str = "ExportRenderType";
pub const EXPORT_FIELDS: [(&str, &str); 3] = [
    ("content", "The rendered text."),
    (
        ferrobot_domain::export_template::fields::MIME_TYPE,
        "The template's MIME type (`text/plain` unless it says).",
    ),
    ("file_name", "The file name Nautobot gives the download (`nautobot_devices.csv`)."),
];

/// Rows of a cursor page when `first` is not given, and the most it may ask for.
pub const DEFAULT_PAGE: u64 = 100;
pub const MAX_PAGE: u64 = 1_000;

/// What a field of a cursor page type is: every page type has the fields of [`PAGE_FIELDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageField {
    TotalCount,
    HasNextPage,
    EndCursor,
    Items,
    Typename(String),
}

/// The fields of a page type, as the schema declares them and the request tree looks them up:
/// name, what it is, its type (given the items' type name), description.
#[allow(clippy::type_complexity)]
pub const PAGE_FIELDS: [(&str, PageField, fn(&str) -> TypeRef, &str); 4] = [
    (
        "total_count",
        PageField::TotalCount,
        |_| TypeRef::named_nn("Int"),
        "How many rows the list has with these filters, on every page.",
    ),
    (
        "has_next_page",
        PageField::HasNextPage,
        |_| TypeRef::named_nn("Boolean"),
        "Whether a page follows this one.",
    ),
    (
        "end_cursor",
        PageField::EndCursor,
        |_| TypeRef::named("String"),
        "The cursor of the page's last row: pass it as `after` for the next page.",
    ),
    (
        "items",
        PageField::Items,
        |items| TypeRef::named_nn_list_nn(items),
        "The page's rows, in the list's order.",
    ),
];

/// What a field of a model's object type is (`__typename` aside, which every type has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Annotation {
    /// A stored field: `fields[index]`.
    Column(usize),
    /// `computed[index]`.
    Computed(usize),
    CustomFieldData,
    /// `cf_<key>`.
    CustomField(String),
    /// `relations[index]` to one model.
    Relation(usize),
    /// `relations[index]`, typed as a union of its alternatives.
    Union(usize),
    /// A usage field of a prefix.
    Usage(Usage),
    /// A rack's elevation.
    Elevation,
    /// A content type field (`fields[index]`), answered as `ContentTypeType` objects.
    ContentType(usize),
    /// `url`: the object's REST URL, under this API path (`/api/dcim/devices/`).
    Url(String),
    /// `type_fields[index]`: the model a related row's first set reference names.
    TypeOf(usize),
    /// A secret this request issued for the object (a new token's key), else null.
    Issued,
    /// `config_context`: the merged config context of a device or virtual machine.
    ConfigContext,
    /// `cpf_<key>`: `templates[index]` rendered over the object.
    Rendered(usize),
    /// `rel_<key>`: the objects `associations[index]` leads to.
    Association(usize),
}

/// The field a new object's issued secret is answered in (Nautobot's token `key`).
pub const ISSUED_KEY: &str = "key";

impl Served {
    /// Custom fields that apply to a model.
    pub fn custom_fields_of<'a>(
        &'a self,
        model: &'a Model,
    ) -> impl Iterator<Item = &'a CustomField> {
        self.custom_fields.iter().filter(move |cf| applies(cf, model))
    }
}

/// Whether a custom field is defined on a model.
pub fn applies(cf: &CustomField, model: &Model) -> bool {
    model.features.custom_fields && cf.content_types.contains(&model.label)
}

fn named(name: &str) -> TypeRef {
    TypeRef::named(name)
}

/// The GraphQL type of a custom field value.
pub fn custom_field_type(kind: CustomFieldKind) -> TypeRef {
    match kind {
        CustomFieldKind::Integer => named("Int"),
        CustomFieldKind::Boolean => named("Boolean"),
        CustomFieldKind::Date => named("Date"),
        CustomFieldKind::MultiSelect => TypeRef::named_list("String"),
        CustomFieldKind::Json => named("GenericScalar"),
        _ => named("String"),
    }
}

/// Every model's filter arguments, (name, type), made once per schema: a model's list appears
/// under many others (`devices` on locations, racks, tenants …) with the same arguments.
struct FilterArguments<'c> {
    custom_fields: &'c [CustomField],
    association_filters: &'c HashMap<ModelId, HashMap<String, usize>>,
    made: HashMap<ModelId, Vec<(String, TypeRef)>>,
}

impl FilterArguments<'_> {
    fn of(&mut self, model: &Model) -> &[(String, TypeRef)] {
        let custom_fields = self.custom_fields;
        let associations = self.association_filters.get(&model.id);
        self.made.entry(model.id).or_insert_with(|| {
            let mut out = Vec::new();
            for filter in &model.filters {
                for lookup in &filter.lookups {
                    out.push((lookup.argument(&filter.name), filter_type(filter, *lookup)));
                }
            }
            for cf in custom_fields.iter().filter(|cf| applies(cf, model)) {
                for lookup in custom_field_lookups(cf.kind) {
                    let ty = match (lookup, cf.kind) {
                        (Lookup::IsNull, _) | (_, CustomFieldKind::Boolean) => named("Boolean"),
                        (_, CustomFieldKind::Integer) => TypeRef::named_list("Int"),
                        _ => TypeRef::named_list("String"),
                    };
                    out.push((lookup.argument(&format!("cf_{}", cf.key)), ty));
                }
            }
            // `cr_<key>__<side>`: the ids of associated objects.
            let mut filters: Vec<&String> =
                associations.into_iter().flat_map(|a| a.keys()).collect();
            filters.sort();
            for name in filters {
                out.push((name.clone(), TypeRef::named_list("ID")));
            }
            out
        })
    }

    /// A list field's arguments: `limit`/`offset` (Nautobot's pages) and every filter.
    fn list(&mut self, model: &Model, mut field: Field) -> Field {
        field = field.argument(InputValue::new("limit", named("Int")));
        field = field.argument(InputValue::new("offset", named("Int")));
        self.filters(model, field)
    }

    fn filters(&mut self, model: &Model, mut field: Field) -> Field {
        for (name, ty) in self.of(model) {
            field = field.argument(InputValue::new(name.clone(), ty.clone()));
        }
        field
    }
}

/// The lookups a custom field filter accepts, by kind, as Nautobot offers them.
pub fn custom_field_lookups(kind: CustomFieldKind) -> &'static [Lookup] {
    use Lookup::*;
    match kind {
        CustomFieldKind::Boolean => &[Exact],
        CustomFieldKind::Integer => &[Exact, N, Gt, Gte, Lt, Lte],
        CustomFieldKind::Json => &[Exact],
        _ => &[Exact, N, Ic, Nic, Isw, Nisw, Iew, Niew, Ie, Nie, Re, Nre, Ire, Nire],
    }
}

fn filter_type(filter: &Filter, lookup: Lookup) -> TypeRef {
    if lookup == Lookup::IsNull {
        return named("Boolean");
    }
    match filter.kind {
        FilterKind::Boolean
        | FilterKind::IsNull
        | FilterKind::Has
        | FilterKind::AnyTrue
        | FilterKind::HasEmpty => named("Boolean"),
        FilterKind::Search => named("String"),
        _ if filter.single => named(&filter.value_type),
        _ => TypeRef::named_list(filter.value_type.clone()),
    }
}

/// A choice field's graphene enum (`<App><Class><Field>Choices`, items named as graphene names
/// the values) and the field's type.
fn choice_enum<'c>(
    model: &Model,
    field: &ferrobot_domain::Field,
    choices: impl Iterator<Item = (String, &'c String)>,
    nullable: bool,
) -> (Enum, TypeRef) {
    let name = enum_name(model, &field.name);
    let mut e = Enum::new(&name);
    for (value, label) in choices {
        e = e.item(EnumItem::new(enum_item_name(&value)).description(label.clone()));
    }
    let ty = if nullable { named(&name) } else { TypeRef::named_nn(name) };
    (e, ty)
}

/// Builds the schema for a catalogue and the stored definitions.
pub fn build(
    catalogue: Arc<Catalogue>,
    definitions: Definitions,
    extension: impl async_graphql::extensions::ExtensionFactory,
) -> Result<Served, crate::error::GatewayError> {
    let started = std::time::Instant::now();
    let Definitions { custom_fields, computed_fields, relationships } = definitions;
    let mut templates = Vec::new();
    let (ends, association_filters) = association_relations(&catalogue, &relationships);
    let (associations, association_ends): (Vec<Arc<Relation>>, Vec<(ModelId, String)>) =
        ends.into_iter().unzip();
    let mut query = Object::new("Query");
    let mut builder: Option<SchemaBuilder> = None;
    let mut objects = Vec::new();
    let mut enums = Vec::new();
    let mut unions: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut uses_utilization = false;
    let mut uses_elevation = false;
    let mut arguments = FilterArguments {
        custom_fields: &custom_fields,
        association_filters: &association_filters,
        made: HashMap::new(),
    };
    let mut types = HashMap::new();
    let mut roots = HashMap::new();
    let mut page_types = HashMap::new();
    let mut fields = HashMap::new();
    let mut subscription = async_graphql::dynamic::Subscription::new("Subscription");
    let mut subscriptions = HashMap::new();
    let exposed = |m: &Model| m.graphql.is_some();
    for model in catalogue.models().iter().filter(|m| exposed(m)) {
        let Some(gql) = &model.graphql else { continue };
        let custom: Vec<&CustomField> =
            custom_fields.iter().filter(|cf| applies(cf, model)).collect();
        types.insert(gql.type_name.clone(), model.id);
        let annotations: &mut HashMap<String, Annotation> = fields.entry(model.id).or_default();
        let mut object = Object::new(&gql.type_name);
        if let Some(desc) = Some(format!("The {} model ({}).", model.verbose_name, model.label)) {
            object = object.description(desc);
        }
        for (index, field) in model.fields.iter().enumerate() {
            match field.secret {
                // Never read back.
                Some(Secret::Password) => continue,
                // Shown once, in the answer of the write that made it.
                Some(Secret::TokenKey) => {
                    let f = unresolved(ISSUED_KEY.into(), named("String")).description(
                        "The key: shown once, in the answer of the mutation that creates it; null otherwise.",
                    );
                    object = object.field(f);
                    annotations.insert(ISSUED_KEY.into(), Annotation::Issued);
                    continue;
                }
                None => {}
            }
            let ty = match &field.kind {
                FieldKind::Uuid if field.primary_key => TypeRef::named_nn("UUID"),
                FieldKind::Uuid if !field.null => TypeRef::named_nn("UUID"),
                FieldKind::Uuid => named("UUID"),
                FieldKind::String { .. } | FieldKind::Text => {
                    if field.null {
                        named("String")
                    } else {
                        TypeRef::named_nn("String")
                    }
                }
                FieldKind::Choice { choices, .. } => {
                    let items = choices.iter().map(|(value, label)| (value.clone(), label));
                    let (e, ty) = choice_enum(model, field, items, field.null || field.blank);
                    enums.push(e);
                    ty
                }
                // Integer choices are graphene enums too (`DcimRackWidthChoices.A_19`).
                FieldKind::Integer { choices, .. } if !choices.is_empty() => {
                    let items = choices.iter().map(|(value, label)| (value.to_string(), label));
                    let (e, ty) = choice_enum(model, field, items, field.null);
                    enums.push(e);
                    ty
                }
                FieldKind::Integer { size: IntSize::Big, .. } => named("BigInt"),
                FieldKind::Integer { .. } => {
                    if field.null {
                        named("Int")
                    } else {
                        TypeRef::named_nn("Int")
                    }
                }
                FieldKind::Boolean => TypeRef::named_nn("Boolean"),
                // Non-null where the column is, as graphene types Django's fields.
                FieldKind::DateTime if !field.null => TypeRef::named_nn("DateTime"),
                FieldKind::DateTime => named("DateTime"),
                FieldKind::Date if !field.null => TypeRef::named_nn("Date"),
                FieldKind::Date => named("Date"),
                FieldKind::Decimal { .. } if !field.null => TypeRef::named_nn("Decimal"),
                FieldKind::Decimal { .. } => named("Decimal"),
                FieldKind::Float if !field.null => TypeRef::named_nn("Float"),
                FieldKind::Float => named("Float"),
                FieldKind::Json => named("GenericScalar"),
                FieldKind::IpBytes => TypeRef::named_nn("String"),
                FieldKind::MacAddress => named("String"),
                // Nautobot's `ContentTypeType`: id, app_label, model.
                FieldKind::ContentType => named("ContentTypeType"),
                FieldKind::ContentTypes => TypeRef::named_list("ContentTypeType"),
                FieldKind::ForeignKey { .. } | FieldKind::ManyToMany { .. } => continue,
            };
            let mut f = unresolved(field.name.clone(), ty);
            if let Some(help) = &field.help_text {
                f = f.description(help.clone());
            }
            object = object.field(f);
            let annotation = match field.kind {
                FieldKind::ContentType | FieldKind::ContentTypes => Annotation::ContentType(index),
                _ => Annotation::Column(index),
            };
            annotations.insert(field.name.clone(), annotation);
        }
        for (index, t) in model.type_fields.iter().enumerate() {
            object = object.field(unresolved(t.name.clone(), named("String")));
            annotations.insert(t.name.clone(), Annotation::TypeOf(index));
        }
        // Nautobot's `url`: where the object is in its REST API.
        if let Some(path) = &gql.api_path {
            object = object.field(unresolved("url".into(), named("String")));
            annotations.insert("url".into(), Annotation::Url(path.clone()));
        }
        for (index, computed) in model.computed.iter().enumerate() {
            let ty = match computed.kind {
                ferrobot_domain::catalogue::ComputedKind::DriverMappings => named("GenericScalar"),
                _ => named("String"),
            };
            object = object.field(unresolved(computed.name.clone(), ty));
            annotations.insert(computed.name.clone(), Annotation::Computed(index));
        }
        for (name, usage) in model.behaviour.usage {
            let annotation = match usage {
                Usage::Elevation => Annotation::Elevation,
                other => Annotation::Usage(*other),
            };
            annotations.insert((*name).to_owned(), annotation);
            let field = match usage {
                Usage::Utilization => {
                    uses_utilization = true;
                    unresolved((*name).into(), named("UtilizationType"))
                }
                Usage::AvailablePrefixes => {
                    unresolved((*name).into(), TypeRef::named_list("String"))
                }
                Usage::AvailableIps => unresolved((*name).into(), TypeRef::named_list("String"))
                    .argument(InputValue::new("limit", named("Int")))
                    .description(
                        "The first free addresses (10 unless `limit` says, at most 1,000).",
                    ),
                Usage::FirstAvailableIp => unresolved((*name).into(), named("String")),
                Usage::Elevation => {
                    uses_elevation = true;
                    unresolved((*name).into(), TypeRef::named_list("RackUnitType"))
                        .argument(InputValue::new("face", named("String")))
                        .description(
                            "The face (`front`, the default, or `rear`) unit by unit, top first.",
                        )
                }
            };
            object = object.field(field);
        }
        if model.behaviour.config_context.is_some() {
            object = object.field(unresolved("config_context".into(), named("GenericScalar")));
            annotations.insert("config_context".into(), Annotation::ConfigContext);
        }
        if model.features.custom_fields {
            object = object.field(unresolved("_custom_field_data".into(), named("GenericScalar")));
            annotations.insert("_custom_field_data".into(), Annotation::CustomFieldData);
            for cf in &custom {
                annotations
                    .insert(format!("cf_{}", cf.key), Annotation::CustomField(cf.key.clone()));
                let mut f = unresolved(format!("cf_{}", cf.key), custom_field_type(cf.kind));
                if !cf.description.is_empty() {
                    f = f.description(cf.description.clone());
                }
                object = object.field(f);
            }
        }
        for (index, rel) in model.relations.iter().enumerate() {
            let target = catalogue.model(rel.target);
            let Some(tg) = &target.graphql else { continue };
            let list = rel.shape.is_list();
            let annotation = match rel.alternatives.is_empty() {
                true => Annotation::Relation(index),
                false => Annotation::Union(index),
            };
            annotations.insert(rel.name.clone(), annotation);
            if let Some(union) = &rel.union {
                let members = unions.entry(union.clone()).or_default();
                let targets = rel.alternatives.iter().map(|(t, _)| *t).chain([rel.target]);
                for member in targets.filter_map(|t| catalogue.model(t).graphql.as_ref()) {
                    if !members.contains(&member.type_name) {
                        members.push(member.type_name.clone());
                    }
                }
                object = object.field(unresolved(rel.name.clone(), named(union)));
            } else if !list {
                object = object.field(unresolved(rel.name.clone(), named(&tg.type_name)));
            } else if rel.is_bare_list() {
                object =
                    object.field(unresolved(rel.name.clone(), TypeRef::named_list(&tg.type_name)));
            } else {
                let f = unresolved(rel.name.clone(), TypeRef::named_list(&tg.type_name));
                object = object.field(arguments.list(target, f));
            }
        }
        let computed = computed_fields.iter().filter(|cf| cf.content_type == model.label);
        for cf in computed.filter(|_| ferrobot_domain::computed_field::applies_to(model)) {
            // As Nautobot: a key that cannot be a field name, or a name the type already has,
            // leaves the field out.
            let Some(name) = cf.field_name().filter(|n| !annotations.contains_key(n)) else {
                tracing::warn!(key = %cf.key, model = %model.label, "computed field not served");
                continue;
            };
            templates.push(Arc::new(Template::compile(&catalogue, model, cf)));
            annotations.insert(name.clone(), Annotation::Rendered(templates.len() - 1));
            let description = if cf.description.is_empty() { &cf.label } else { &cf.description };
            object = object.field(unresolved(name, named("String")).description(description));
        }
        for (index, relation) in associations.iter().enumerate() {
            let Some(end) = association_ends.get(index).filter(|(m, _)| *m == model.id) else {
                continue;
            };
            let Some(peer) = catalogue.model(relation.target).graphql.as_ref() else { continue };
            if annotations.contains_key(&relation.name) {
                tracing::warn!(field = %relation.name, model = %model.label, "relationship field not served: the type has the name");
                continue;
            }
            annotations.insert(relation.name.clone(), Annotation::Association(index));
            let ty = match relation.shape.is_list() {
                true => TypeRef::named_list(&peer.type_name),
                false => named(&peer.type_name),
            };
            object = object.field(unresolved(relation.name.clone(), ty).description(&end.1));
        }
        objects.push(object);
        if let Some(single) = &gql.single {
            roots.insert(single.clone(), Root::Single(model.id));
            query = query.field(
                unresolved(single.clone(), named(&gql.type_name))
                    .argument(InputValue::new("id", named("ID"))),
            );
        }
        if let (Some(list), true) =
            (&gql.list, model.label == ferrobot_domain::catalogue::CHANGE_LOG)
        {
            // The change feed: every committed change the filters match, live, after a replay
            // of the log from `after_sequence` when given (`crate::feed`).
            subscriptions.insert(list.clone(), model.id);
            let mut f = async_graphql::dynamic::SubscriptionField::new(
                list.clone(),
                TypeRef::named_nn(&gql.type_name),
                |_| {
                    async_graphql::dynamic::SubscriptionFieldFuture::new(async {
                        Err::<
                            futures_util::stream::Empty<
                                async_graphql::Result<async_graphql::Value>,
                            >,
                            _,
                        >("this field is answered by the change feed".into())
                    })
                },
            )
            .description(
                "Every change committed from now on that the filters match, in sequence order; \
                 with `after_sequence`, first every change after that sequence.",
            )
            .argument(InputValue::new(AFTER_SEQUENCE, named("BigInt")).description(
                "Replay the change log after this sequence, then follow it live, with no gap \
                 and no duplicate.",
            ));
            for (name, ty) in arguments.of(model) {
                f = f.argument(InputValue::new(name.clone(), ty.clone()));
            }
            subscription = subscription.field(f);
        }
        if let Some(list) = &gql.list {
            roots.insert(list.clone(), Root::List(model.id));
            let f = unresolved(list.clone(), TypeRef::named_list(&gql.type_name));
            query = query.field(arguments.list(model, f));
            // The same list as cursor pages, with its total.
            let page_type = format!("{}Page", gql.type_name);
            let mut page = Object::new(&page_type).description(format!(
                "A page of {}: `first` rows after the cursor `after`, in a stable order.",
                model.verbose_name_plural
            ));
            for (name, _, ty, description) in PAGE_FIELDS {
                let field = unresolved(name.into(), ty(&gql.type_name));
                page = page.field(field.description(description));
            }
            page_types.insert(model.id, page_type.clone());
            objects.push(page);
            let name = format!("{list}_page");
            roots.insert(name.clone(), Root::Page(model.id));
            let f = unresolved(name, TypeRef::named_nn(&page_type))
                .argument(InputValue::new("first", named("Int")).description(format!(
                    "Rows per page, 1 to {MAX_PAGE} (default {DEFAULT_PAGE})."
                )))
                .argument(InputValue::new("after", named("String")));
            query = query.field(arguments.filters(model, f));
        }
    }
    // A list rendered by an export template, as Nautobot's REST `?export=` renders it.
    let exports = catalogue.by_label(ferrobot_domain::export_template::MODEL).is_some();
    if exports {
        roots.insert(EXPORT_ROOT.into(), Root::Export);
        query = query.field(
            unresolved(EXPORT_ROOT.into(), TypeRef::named(EXPORT_TYPE))
                .description(
                    "The list of `content_type`'s objects that `filter` selects (its list's filter \
                     arguments, as a mapping), as the user may see it, rendered by its export \
                     template `name`.",
                )
                .argument(InputValue::new("content_type", TypeRef::named_nn("String")))
                .argument(InputValue::new("name", TypeRef::named_nn("String")))
                .argument(InputValue::new("filter", named("GenericScalar"))),
        );
    }
    let subscribes = !subscriptions.is_empty();
    let mut schema = Schema::build("Query", Some("Mutation"), subscribes.then_some("Subscription"));
    if subscribes {
        schema = schema.register(subscription);
    }
    for scalar in ["UUID", "DateTime", "GenericScalar", "BigInt", "Date", "Decimal"] {
        schema = schema.register(Scalar::new(scalar));
    }
    for e in enums {
        schema = schema.register(e);
    }
    for o in objects {
        schema = schema.register(o);
    }
    if uses_utilization {
        // `Prefix.get_utilization`: the share of the prefix in use, as counts and a percentage.
        let utilization = async_graphql::dynamic::Object::new("UtilizationType")
            .field(unresolved("numerator".into(), named("BigInt")))
            .field(unresolved("denominator".into(), named("BigInt")))
            .field(unresolved("percent".into(), named("Float")));
        schema = schema.register(utilization);
    }
    // Django's content types, as Nautobot's GraphQL answers them.
    let content_type = async_graphql::dynamic::Object::new("ContentTypeType")
        .field(unresolved("id".into(), TypeRef::named_nn("ID")))
        .field(unresolved("app_label".into(), TypeRef::named_nn("String")))
        .field(unresolved("model".into(), TypeRef::named_nn("String")));
    schema = schema.register(content_type);
    if exports {
        let mut render = async_graphql::dynamic::Object::new(EXPORT_TYPE)
            .description("An export template rendered over a list.");
        for (name, description) in EXPORT_FIELDS {
            render = render.field(
                unresolved(name.into(), TypeRef::named_nn("String")).description(description),
            );
        }
        schema = schema.register(render);
    }
    if uses_elevation {
        // `Rack.get_rack_units`: which device takes each unit of a face, and which reservation.
        let unit = async_graphql::dynamic::Object::new("RackUnitType")
            .field(unresolved("unit".into(), named("Int")))
            .field(unresolved("name".into(), named("String")))
            .field(unresolved("face".into(), named("String")))
            .field(unresolved("device_id".into(), named("UUID")))
            .field(unresolved("reservation_id".into(), named("UUID")))
            .field(unresolved("occupied".into(), named("Boolean")));
        schema = schema.register(unit);
    }
    for (name, members) in unions {
        let mut union = async_graphql::dynamic::Union::new(name);
        for m in members {
            union = union.possible_type(m);
        }
        schema = schema.register(union);
    }
    // The parser's recursion limit bounds every walk of a document (validation, lowering); the
    // depth limit a request is held to is checked on the request tree (`crate::limits`), with
    // its own error, and may be set up to `MAX_DEPTH_LIMIT`.
    let (with_mutations, mutations) = crate::mutation_schema::register(&catalogue, schema);
    schema =
        with_mutations.register(query).extension(extension).limit_recursive_depth(PARSER_RECURSION);
    builder.replace(schema);
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "schema types made");
    let schema = builder
        .take()
        .ok_or_else(|| crate::error::GatewayError::Schema("no schema".into()))?
        .finish()
        .map_err(|e| crate::error::GatewayError::Schema(e.to_string()))?;
    Ok(Served {
        schema,
        catalogue,
        custom_fields,
        computed_fields,
        templates,
        relationships,
        associations,
        association_filters,
        types,
        roots,
        fields,
        page_types,
        mutations,
        subscriptions,
    })
}

/// The relations of every relationship's ends (each with the model at that end and the
/// field's description), and each model's relationship filters by argument name.
#[allow(clippy::type_complexity)]
fn association_relations(
    catalogue: &Catalogue,
    relationships: &[Relationship],
) -> (Vec<(Arc<Relation>, (ModelId, String))>, HashMap<ModelId, HashMap<String, usize>>) {
    let mut relations = Vec::new();
    let mut filters: HashMap<ModelId, HashMap<String, usize>> = HashMap::new();
    let takes = |m: &Model| m.features.relationships && m.graphql.is_some();
    for relationship in relationships {
        let models = [&relationship.source_type, &relationship.destination_type];
        let mut labels: Vec<&String> = models.into_iter().collect();
        labels.dedup();
        for label in labels {
            let Some(model) = catalogue.by_label(label).filter(|m| takes(m)) else { continue };
            for end in relationship.ends(label) {
                if !catalogue.by_label(&end.peer).is_some_and(takes) {
                    continue;
                }
                let Some(relation) = catalogue.association_relation(relationship, &end) else {
                    continue;
                };
                let description = match relationship.description.is_empty() {
                    true => relationship.label.clone(),
                    false => relationship.description.clone(),
                };
                relations.push((Arc::new(relation), (model.id, description)));
                if let Some(filter) = end.filter {
                    filters.entry(model.id).or_default().insert(filter, relations.len() - 1);
                }
            }
        }
    }
    (relations, filters)
}

/// The SDL as committed in `schema/schema.graphql`: sorted, so that a diff is a review.
pub fn sdl(served: &Served) -> String {
    use async_graphql::SDLExportOptions;
    served.schema.sdl_with_options(
        SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items(),
    )
}
