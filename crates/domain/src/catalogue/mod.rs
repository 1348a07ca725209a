//! The catalogue: every model Ferrobot serves, as data.
//!
//! The core catalogue lives in `schema/models/*.yaml` (one file per Nautobot app) and is embedded
//! in the binary. [`Catalogue::core`] loads and *resolves* it once: every reference is checked
//! (targets exist, names are unique, reverse names do not clash) and turned into indices, so the
//! later stages (SQL, GraphQL, import) read only the resolved form and cannot fail on it.
//!
//! Custom fields are catalogue too: they arrive at run time and are kept beside the resolved
//! models in [`CustomField`], so that a schema can be rebuilt from `catalogue + custom fields`.

mod associations;
#[cfg(test)]
mod coverage;
mod custom_field;
mod forms;
mod load;
mod paths;
mod raw;

use std::collections::HashMap;

pub use custom_field::{CustomField, CustomFieldKind};
pub use forms::value_json;
pub use raw::CatalogueFile;

pub type ModelId = usize;

pub use crate::hooks::{
    CHANGE_LOG, CUSTOM_FIELD, CUSTOM_FIELD_CHOICE, CUSTOM_FIELD_CHOICE_FIELDS, CUSTOM_FIELD_FIELDS,
};

/// The resolved, immutable catalogue.
#[derive(Debug)]
pub struct Catalogue {
    models: Vec<Model>,
    by_label: HashMap<String, ModelId>,
    generic_throughs: Vec<GenericThrough>,
}

/// A table of (content type, object, target) rows through which every model with a feature
/// reaches rows of one model (`tags`: `extras_taggeditem`, to `extras.tag`). Each such model has
/// a list relation `name` of shape `Through` with its content type.
#[derive(Debug, Clone)]
pub struct GenericThrough {
    pub name: String,
    /// Whether a model has the feature.
    pub feature: fn(&Features) -> bool,
    pub table: String,
    pub type_column: String,
    pub object_column: String,
    pub target_column: String,
    /// The model the rows lead to.
    pub target: ModelId,
}

#[derive(Debug)]
pub struct Model {
    pub id: ModelId,
    /// `app_label.model`, e.g. `dcim.device`; also the content type of the model.
    pub label: String,
    pub app_label: String,
    pub name: String,
    pub class: String,
    pub verbose_name: String,
    pub verbose_name_plural: String,
    pub table: String,
    pub graphql: Option<GraphqlNames>,
    pub features: Features,
    /// Natural key as Nautobot's lookups (`name`, `tenant__name`, `location__name`).
    pub natural_key: Vec<String>,
    pub ordering: Vec<OrderTerm>,
    /// What the model does beyond this entry (IPAM parents, rules, components …), resolved and
    /// checked at load.
    pub behaviour: crate::hooks::Behaviour,
    /// Whether rows of this model are templates some model's components are made from (a write
    /// to them invalidates what the writer remembers of templates).
    pub is_template: bool,
    /// Whether rows of this model are the links of a many-to-many field (an IP address's
    /// assignment to an interface): they go with the objects they link.
    pub is_through: bool,
    /// The order of cursor pages (`<list>_page`): `ordering` unless the catalogue says.
    pub page_ordering: Vec<OrderTerm>,
    pub unique_together: Vec<Vec<usize>>,
    /// Extra indexes (field indices), beyond foreign keys and the ordering.
    pub indexes: Vec<Vec<usize>>,
    pub tree: bool,
    /// Written by Ferrobot itself (the change log): no mutations.
    pub readonly: bool,
    /// Whether `ferrobot export` writes its rows: not for rows written by Ferrobot itself, nor
    /// for accounts, their groups, tokens and permissions (`export: false`).
    pub exported: bool,
    /// The field naming the account that owns a row (`owner:`, a token's `user`): a user may
    /// do anything to the rows it owns ([`crate::permission`]).
    pub owner: Option<usize>,
    pub fields: Vec<Field>,
    pub computed: Vec<Computed>,
    /// Every nested object or list: forward and reverse foreign keys, many-to-many, tags.
    pub relations: Vec<Relation>,
    pub filters: Vec<Filter>,
    /// Fields naming the model of a related row's first set reference (`type_fields`).
    pub type_fields: Vec<TypeField>,
    /// Fields searched by the `q` filter.
    pub search: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct GraphqlNames {
    pub type_name: String,
    pub list: Option<String>,
    pub single: Option<String>,
    /// The path of the model's objects in Nautobot's REST API (`/api/dcim/devices/`), which
    /// an object's `url` names; `None` where Nautobot has no route for the model.
    pub api_path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Features {
    pub custom_fields: bool,
    pub tags: bool,
    pub status: bool,
    pub role: bool,
    /// Contacts and teams can be associated (`associated_contacts`).
    pub contacts: bool,
    /// Objects can be members of dynamic groups (`dynamic_groups`).
    pub dynamic_groups: bool,
    /// Data validation rules can name the model's fields (`custom_validators`).
    pub custom_validators: bool,
    /// User-defined relationships can have the model at either end (`relationships`).
    pub relationships: bool,
    /// Export templates can render lists of the model (`export_templates`).
    pub export_templates: bool,
}

impl Features {
    /// The test for a feature named in the catalogue.
    pub fn by_name(name: &str) -> Option<fn(&Features) -> bool> {
        Some(match name {
            "custom_fields" => |f| f.custom_fields,
            "tags" => |f| f.tags,
            "status" => |f| f.status,
            "role" => |f| f.role,
            "contacts" => |f| f.contacts,
            "dynamic_groups" => |f| f.dynamic_groups,
            "custom_validators" => |f| f.custom_validators,
            "relationships" => |f| f.relationships,
            "export_templates" => |f| f.export_templates,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct OrderTerm {
    pub column: String,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    /// A secret field: written, never read back (not served, not in the change log, not
    /// exported).
    pub secret: Option<Secret>,
    /// The SQL column; `None` for many-to-many fields, which live in a through table.
    pub column: Option<String>,
    pub null: bool,
    pub blank: bool,
    pub unique: bool,
    pub primary_key: bool,
    /// A companion `_<name>` column keeps the naturalised value for ordering.
    pub natural_order: bool,
    pub help_text: Option<String>,
    pub default: Option<serde_json::Value>,
}

/// What kind of secret a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// A password, given in clear and stored as its hash (argon2).
    Password,
    /// A token's key, made when the object is created and shown once; stored as its digest.
    TokenKey,
}

/// The id a content type (`dcim.device`) answers with as Nautobot's `ContentTypeType`: Django
/// numbers its rows as they are made; Ferrobot has no such table, so the id is a hash of the
/// label (32-bit FNV-1a, kept positive), the same on every server and every start.
pub fn content_type_id(label: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in label.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & 0x7fff_ffff
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Uuid,
    String {
        max_length: u32,
    },
    Text,
    Choice {
        max_length: u32,
        choices: Vec<(String, String)>,
    },
    Integer {
        size: IntSize,
        /// The model's validators (`MinValueValidator`, `MaxValueValidator`); the column's own
        /// range applies besides (see [`IntSize::range`]).
        min: Option<i64>,
        max: Option<i64>,
        /// The values allowed, with their labels, when the field has choices (a rack's
        /// `width`); empty otherwise. Answered as graphene's enum (`A_19`).
        choices: Vec<(i64, String)>,
    },
    Boolean,
    DateTime,
    Date,
    /// Stored as text; Django's `DecimalField(max_digits, decimal_places)`.
    Decimal {
        max_digits: u32,
        decimal_places: u32,
    },
    Json,
    /// Django's `FloatField`: stored as the text of the number as Python prints it (`10.0`), so
    /// that it reads back exactly; answered as a GraphQL `Float`, a JSON number.
    Float,
    /// An IP address as 4 or 16 bytes (IPv4 / IPv6), so that ranges are indexed comparisons.
    IpBytes,
    /// A MAC address (Nautobot's `MACAddressCharField`): stored as `AA:BB:CC:DD:EE:FF`, or `""`
    /// when unset, which reads as null.
    MacAddress,
    /// A content type label (`dcim.device`).
    ContentType,
    /// A list of content type labels, stored as a JSON array.
    ContentTypes,
    ForeignKey {
        to: ModelId,
        on_delete: OnDelete,
        related_name: Option<String>,
    },
    ManyToMany {
        to: ModelId,
        through: Through,
        related_name: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSize {
    Small,
    Int,
    Big,
}

impl IntSize {
    /// The values the column holds on every backend, as Django's `integer_field_range`.
    pub fn range(self) -> (i64, i64) {
        match self {
            IntSize::Small => (i64::from(i16::MIN), i64::from(i16::MAX)),
            IntSize::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
            IntSize::Big => (i64::MIN, i64::MAX),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    Cascade,
    Protect,
    SetNull,
}

/// Where the rows of a many-to-many relation live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Through {
    pub table: String,
    /// The through model, when it is a model of its own (`ipam.ipaddresstointerface`).
    pub model: Option<ModelId>,
    pub source_column: String,
    pub target_column: String,
}

/// A value derived from stored columns (`address` from `host` and `mask_length`).
#[derive(Debug, Clone)]
pub struct Computed {
    pub name: String,
    pub kind: ComputedKind,
    pub from: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputedKind {
    /// `host/mask_length`, e.g. `10.0.0.1/24`.
    IpInterface,
    /// `network/prefix_length`, e.g. `10.0.0.0/24`.
    IpNetwork,
    /// What each automation library calls a normalized network driver (a JSON object, see
    /// [`crate::platform`]).
    DriverMappings,
}

impl ComputedKind {
    /// Whether the value is an address or a network in text (what names the object).
    pub fn is_address(self) -> bool {
        matches!(self, ComputedKind::IpInterface | ComputedKind::IpNetwork)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub name: String,
    pub target: ModelId,
    pub shape: RelationShape,
    /// The GraphQL union the relation is typed as (`PathEndpointTypes`), when not the target's
    /// own type: the union's members are the catalogue models that can stand at its end.
    pub union: Option<String>,
    /// A union relation's members, one shape per target model (`interface.cable_peer`: the
    /// peer as an interface, a front port, …); `target` and `shape` are the first of them.
    /// Empty for a relation to one model.
    pub alternatives: Vec<(ModelId, RelationShape)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationShape {
    /// `self.column = target.id`: one object or null.
    Forward {
        column: String,
        field: usize,
        /// (type column, label): the reference is generic, and names a row of the target only
        /// where the type column holds its label (a change's `changed_object`).
        content_type: Option<(String, String)>,
    },
    /// `target.column = self.id`: a list (or one object when the column is unique).
    /// `content_type` (column, label) restricts generic references (`object_changes`).
    Reverse { column: String, unique: bool, content_type: Option<(String, String)> },
    /// Rows of a through table: a list. `content_type` (column, label) restricts generic through
    /// tables (tags).
    Through {
        table: String,
        source_column: String,
        target_column: String,
        content_type: Option<(String, String)>,
        /// (column, value) pairs the through rows must hold (`dcim.cablepath`: the origin's and
        /// the destination's content types; a relationship's associations: its id).
        conditions: Vec<(String, crate::value::Datum)>,
        /// One row at most per source (`interface.cable` through its cable termination).
        single: bool,
        /// Rows lead either way: a row names its target from either column (a symmetric
        /// relationship's associations).
        both_ways: bool,
    },
    /// The object at the other end of a pairing table: rows of `table` whose `group_column`
    /// matches this object's row and whose `side_column` differs (`interface.cable_peer`
    /// through the two terminations of its cable).
    /// `target_column` names the object at the far end (`endpoint_column` at the near end).
    Peer {
        table: String,
        endpoint_column: String,
        target_column: String,
        group_column: String,
        side_column: String,
    },
    /// The groups (rows of the target) whose definition the object meets, computed when read
    /// from each group's filter, static members or child groups (`device.dynamic_groups`).
    /// Only groups whose `type_column` holds `label` can hold the object.
    Members { type_column: String, label: String },
}

impl RelationShape {
    pub fn is_list(&self) -> bool {
        match self {
            RelationShape::Forward { .. } => false,
            RelationShape::Reverse { unique, .. } => !unique,
            RelationShape::Through { single, .. } => !single,
            RelationShape::Peer { .. } => false,
            RelationShape::Members { .. } => true,
        }
    }
}

/// A field that names the model (`dcim.interface`) of the first reference that is set in a
/// related row: `Cable.termination_a_type`, the type of the A end's first connector.
#[derive(Debug, Clone)]
pub struct TypeField {
    pub name: String,
    /// The list relation to the rows (`terminations`).
    pub relation: usize,
    /// Which of those rows: filters of the related model with their value (`cable_end` `A`,
    /// `connector` `1`).
    pub conditions: Vec<(Filter, String)>,
    /// The related model's references, in order, each with the label of the model it names.
    pub types: Vec<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    /// The relations walked from the model, one list per path: a row matches when it matches
    /// along any of them (`has_primary_ip`: `primary_ip4` or `primary_ip6`). One empty path
    /// when the filter compares the model's own fields. All paths land on the same model and
    /// compare the same field.
    pub paths: Vec<Vec<usize>>,
    /// The model the last hop lands on.
    pub landing: ModelId,
    /// The field compared at the end of the path, on `landing`.
    pub field: Option<usize>,
    pub kind: FilterKind,
    /// The GraphQL scalar of one value: `String`, `Int`, `Float`, `BigInt`, `Boolean`.
    pub value_type: String,
    /// Whether the argument takes one value (`vlan_id: String`) rather than a list.
    pub single: bool,
    /// Network filters: a value with host bits set is refused (`prefix_exact`).
    pub strict: bool,
    pub lookups: Vec<Lookup>,
}

impl Filter {
    /// Whether the filter compares the model's own fields (no relation walked).
    pub fn is_local(&self) -> bool {
        self.paths.iter().all(|p| p.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Text,
    Number,
    Decimal,
    DateTime,
    Uuid,
    Boolean,
    /// `field IS NULL` when true.
    IsNull,
    /// Related objects by id or natural key (`location: ["Site A"]`).
    Related,
    /// Like `Related`, and includes the descendants of tree models.
    Tree,
    /// Whether any related object exists (`has_interfaces`).
    Has,
    /// Whether any related row holds `true` in the boolean field the path ends on; `false`
    /// asks for none (`connected`: an active cable path, or none or an inactive one).
    AnyTrue,
    /// Whether any row along the path but its last relation has nothing along that last one
    /// (`has_empty_module_bays`: a module bay with no installed module).
    HasEmpty,
    /// A JSON list column holding the number (`services(ports: 22)`; Nautobot's
    /// `NumericArrayFilter` with `contains`).
    JsonContains,
    /// Rows fewer than N steps below a root along the path's relation (`max_depth: 1`: the
    /// roots), as Nautobot excludes those with `parent__…__parent` (N times) set.
    MaxDepth,
    /// The objects the values name walked up or down their model's tree (its reference to
    /// itself): `prefixes(ancestors:)`, `prefixes(prefix_and_descendants:)`,
    /// `rack_groups(ancestors:)` (through their location).
    TreeWalk(TreeWalk),
    ContentType,
    /// A related prefix named by its CIDR text (`parent: ["10.0.0.0/16"]`).
    Prefix,
    /// Free-text search over the model's search fields; on a model with an address layout
    /// also the networks a partial address names (`q: "10.1"`: within or containing 10.1.0.0/16).
    Search,
    /// Rows of an IP model (its address layout: [`crate::hooks::ParentRule`]) compared with
    /// the networks the values name.
    Network(NetMatch),
    /// Members of the groups the values name (by id or name; the filter lands on the group
    /// model): each group's definition compiled when read (`devices(dynamic_groups:)`).
    Member,
}

/// Which way a tree filter walks from the objects named, and whether they count themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeWalk {
    pub up: bool,
    pub include_self: bool,
}

/// How a network filter compares rows with the networks it is given.
/// Spec: nautobot/ipam/querysets.py (`net_in`, `net_equals`, `net_contained`,
/// `net_contained_or_equal`, `net_contains_or_equals`, `net_host_contained`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMatch {
    /// An address: its host and mask when the value has a mask, its host alone otherwise
    /// (`ip_addresses(address:)`).
    In,
    /// The network and its length (`prefixes(prefix:)`).
    Equals,
    /// Strictly inside (`prefixes(within:)`).
    Within,
    /// Inside or equal (`prefixes(within_include:)`).
    WithinInclude,
    /// Containing or equal (`prefixes(contains:)`; an address stands for its own /32 or /128).
    Contains,
    /// Whose host lies in the network (`ip_addresses(prefix:)`).
    HostWithin,
    /// Like `In`, and a UUID value names the row itself (`devices(ip_addresses:)`).
    InOrId,
}

/// A lookup suffix with its name as it appears in an argument (`name__ic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lookup {
    Exact,
    N,
    Ic,
    Nic,
    Isw,
    Nisw,
    Iew,
    Niew,
    Ie,
    Nie,
    Re,
    Nre,
    Ire,
    Nire,
    Gt,
    Gte,
    Lt,
    Lte,
    IsNull,
}

impl Lookup {
    pub const ALL: [Lookup; 19] = [
        Lookup::Exact,
        Lookup::N,
        Lookup::Ic,
        Lookup::Nic,
        Lookup::Isw,
        Lookup::Nisw,
        Lookup::Iew,
        Lookup::Niew,
        Lookup::Ie,
        Lookup::Nie,
        Lookup::Re,
        Lookup::Nre,
        Lookup::Ire,
        Lookup::Nire,
        Lookup::Gt,
        Lookup::Gte,
        Lookup::Lt,
        Lookup::Lte,
        Lookup::IsNull,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            Lookup::Exact => "",
            Lookup::N => "n",
            Lookup::Ic => "ic",
            Lookup::Nic => "nic",
            Lookup::Isw => "isw",
            Lookup::Nisw => "nisw",
            Lookup::Iew => "iew",
            Lookup::Niew => "niew",
            Lookup::Ie => "ie",
            Lookup::Nie => "nie",
            Lookup::Re => "re",
            Lookup::Nre => "nre",
            Lookup::Ire => "ire",
            Lookup::Nire => "nire",
            Lookup::Gt => "gt",
            Lookup::Gte => "gte",
            Lookup::Lt => "lt",
            Lookup::Lte => "lte",
            Lookup::IsNull => "isnull",
        }
    }

    pub fn parse(name: &str) -> Option<Lookup> {
        if name == "exact" {
            return Some(Lookup::Exact);
        }
        Lookup::ALL.into_iter().find(|l| l.suffix() == name && !name.is_empty())
    }

    /// `__n`, `__nic` …: the negated forms, which exclude what the positive form matches.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Lookup::N
                | Lookup::Nic
                | Lookup::Nisw
                | Lookup::Niew
                | Lookup::Nie
                | Lookup::Nre
                | Lookup::Nire
        )
    }

    /// The positive lookup this one negates (or itself).
    pub fn positive(self) -> Lookup {
        match self {
            Lookup::N => Lookup::Exact,
            Lookup::Nic => Lookup::Ic,
            Lookup::Nisw => Lookup::Isw,
            Lookup::Niew => Lookup::Iew,
            Lookup::Nie => Lookup::Ie,
            Lookup::Nre => Lookup::Re,
            Lookup::Nire => Lookup::Ire,
            other => other,
        }
    }

    /// The GraphQL argument name for a filter with this lookup.
    pub fn argument(self, filter: &str) -> String {
        match self {
            Lookup::Exact => filter.to_owned(),
            other => format!("{filter}__{}", other.suffix()),
        }
    }
}

impl Catalogue {
    /// The core catalogue embedded from `schema/models/`.
    pub fn core() -> crate::DomainResult<Catalogue> {
        let files = CORE_FILES
            .iter()
            .map(|(name, text)| CatalogueFile::parse(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        load::resolve(files)
    }

    pub fn from_files(files: Vec<CatalogueFile>) -> crate::DomainResult<Catalogue> {
        load::resolve(files)
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn model(&self, id: ModelId) -> &Model {
        &self.models[id]
    }

    pub fn by_label(&self, label: &str) -> Option<&Model> {
        self.by_label.get(label).map(|&id| &self.models[id])
    }

    pub(crate) fn new(models: Vec<Model>, generic_throughs: Vec<GenericThrough>) -> Catalogue {
        let by_label = models.iter().map(|m| (m.label.clone(), m.id)).collect();
        Catalogue { models, by_label, generic_throughs }
    }

    /// The generic through tables (tags).
    pub fn generic_throughs(&self) -> &[GenericThrough] {
        &self.generic_throughs
    }

    /// The generic through tables a model's objects reach rows through.
    pub fn generic_throughs_of<'a>(
        &'a self,
        model: &'a Model,
    ) -> impl Iterator<Item = &'a GenericThrough> + 'a {
        self.generic_throughs.iter().filter(move |g| (g.feature)(&model.features))
    }
}

impl Relation {
    /// Whether the relation goes through a generic through table ([`GenericThrough`]: tags).
    pub fn is_generic_through(&self) -> bool {
        matches!(self.shape, RelationShape::Through { content_type: Some(_), .. })
    }

    /// Whether the list is served bare, without its target's filters as arguments, as Nautobot
    /// types tags and dynamic groups (`tags: [TagType]`, `dynamic_groups: [DynamicGroupType]`).
    pub fn is_bare_list(&self) -> bool {
        self.is_generic_through() || matches!(self.shape, RelationShape::Members { .. })
    }
}

impl Model {
    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// The SQL column of a field (`device` → `device_id`); the name itself for what is not a
    /// stored field of the model.
    pub fn column_of(&self, name: &str) -> String {
        self.field(name).and_then(|(_, f)| f.column.clone()).unwrap_or_else(|| name.to_owned())
    }

    pub fn relation(&self, name: &str) -> Option<(usize, &Relation)> {
        self.relations.iter().enumerate().find(|(_, r)| r.name == name)
    }

    pub fn filter(&self, name: &str) -> Option<&Filter> {
        self.filters.iter().find(|f| f.name == name)
    }

    /// The filter and lookup an argument names (`name__ic`: filter `name`, lookup `ic`); a
    /// filter whose own name has `__` wins. Custom fields (`cf_…`) are not catalogue filters.
    pub fn filter_named(&self, argument: &str) -> Option<(&Filter, Lookup)> {
        Lookup::ALL.into_iter().find_map(|lookup| {
            let base = match lookup {
                Lookup::Exact => argument,
                _ => argument.strip_suffix(lookup.suffix())?.strip_suffix("__")?,
            };
            self.filter(base).filter(|f| f.lookups.contains(&lookup)).map(|f| (f, lookup))
        })
    }

    /// A filter on the primary key, whether or not the model offers clients one (objects are
    /// read back by id after a write).
    pub fn id_filter(&self) -> Option<Filter> {
        if let Some(filter) = self.filter("id") {
            return Some(filter.clone());
        }
        let field = self.fields.iter().position(|f| f.primary_key)?;
        Some(Filter {
            name: "id".into(),
            paths: vec![Vec::new()],
            landing: self.id,
            field: Some(field),
            kind: FilterKind::Uuid,
            value_type: "String".into(),
            single: false,
            strict: false,
            lookups: vec![Lookup::Exact],
        })
    }

    /// The column of the model's reference to itself (a tree's parent), if it has one.
    pub fn tree_parent(&self) -> Option<&str> {
        self.fields.iter().find_map(|f| match (&f.kind, &f.column) {
            (FieldKind::ForeignKey { to, .. }, Some(column)) if *to == self.id => {
                Some(column.as_str())
            }
            _ => None,
        })
    }

    /// The field that a related filter value names when it is not a UUID (`name`, `model` …).
    pub fn lookup_field(&self) -> Option<usize> {
        self.natural_key
            .iter()
            .find(|k| !k.contains("__"))
            .and_then(|k| self.field(k))
            .or_else(|| self.field("name"))
            .map(|(idx, _)| idx)
    }

    /// Columns that every row of this model stores, in declaration order.
    /// The input keys that name an object by its natural key: the first segment of each natural-key
    /// lookup (`location__name` → `location`), with stored fields an input fills replaced by that
    /// input (`network`, `prefix_length` → `prefix`) and computed parents left out.
    pub fn natural_key_inputs(&self) -> Vec<String> {
        let model = self;
        let mut out: Vec<String> = Vec::new();
        let behaviour = &model.behaviour;
        let computed_parent = behaviour.parent.map(|p| p.field);
        for lookup in &model.natural_key {
            let first = lookup.split("__").next().unwrap_or_default();
            if first == "pk" || first == "id" || Some(first) == computed_parent {
                continue;
            }
            let key = behaviour
                .inputs
                .iter()
                .find(|i| i.fills.contains(&first))
                .map_or(first, |i| i.key)
                .to_owned();
            let known = model.field(&key).is_some() || behaviour.is_input(&key);
            if known && !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    pub fn columns(&self) -> impl Iterator<Item = (usize, &Field, &str)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(idx, f)| f.column.as_deref().map(|c| (idx, f, c)))
    }
}

/// The core catalogue files, embedded at build time.
const CORE_FILES: &[(&str, &str)] = &[
    ("extras.yaml", include_str!("../../../../schema/models/extras.yaml")),
    ("tenancy.yaml", include_str!("../../../../schema/models/tenancy.yaml")),
    ("dcim.yaml", include_str!("../../../../schema/models/dcim.yaml")),
    ("ipam.yaml", include_str!("../../../../schema/models/ipam.yaml")),
    ("virtualization.yaml", include_str!("../../../../schema/models/virtualization.yaml")),
    ("users.yaml", include_str!("../../../../schema/models/users.yaml")),
    ("circuits.yaml", include_str!("../../../../schema/models/circuits.yaml")),
    ("cloud.yaml", include_str!("../../../../schema/models/cloud.yaml")),
    ("wireless.yaml", include_str!("../../../../schema/models/wireless.yaml")),
    ("vpn.yaml", include_str!("../../../../schema/models/vpn.yaml")),
    ("load_balancers.yaml", include_str!("../../../../schema/models/load_balancers.yaml")),
    ("auth.yaml", include_str!("../../../../schema/models/auth.yaml")),
    ("data_validation.yaml", include_str!("../../../../schema/models/data_validation.yaml")),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec: nautobot/extras/models/customfields.py `CustomField.validate`.
    #[test]
    fn custom_field_rules() {
        use serde_json::json;
        let field = |kind, min, max, regex: Option<&str>, required| CustomField {
            key: "f".into(),
            label: "F".into(),
            kind,
            description: String::new(),
            content_types: vec!["dcim.device".into()],
            choices: Vec::new(),
            required,
            default: None,
            validation_minimum: min,
            validation_maximum: max,
            validation_regex: regex.map(str::to_owned),
        };
        let prefix = "Invalid value for custom field 'f': ";
        let text = field(CustomFieldKind::Text, Some(4), Some(8), Some("^AC-[0-9]+$"), false);
        let int = field(CustomFieldKind::Integer, Some(1), Some(10), None, true);
        let json_field = field(CustomFieldKind::Json, None, Some(10), None, false);
        let cases: Vec<(&CustomField, serde_json::Value, Option<&str>)> = vec![
            (&text, json!("AC-1"), None),
            (&text, json!("nope"), Some("Value must match regex '^AC-[0-9]+$'")),
            (&text, json!("AC-"), Some("Value must be at least 4 characters in length")),
            (&text, json!("AC-123456"), Some("Value must not exceed 8 characters in length")),
            (&text, json!(""), None),
            (&text, json!(null), None),
            (&int, json!(5), None),
            (&int, json!(0), Some("Value must be at least 1")),
            (&int, json!(11), Some("Value must not exceed 10")),
            (&int, json!(null), Some("Required field cannot be empty.")),
            // JSON is measured as Python's json.dumps writes it.
            (&json_field, json!({"a": 1}), None),
            (
                &json_field,
                json!({"ab": 123}),
                Some("Value must not exceed 10 characters in length"),
            ),
        ];
        for (field, value, want) in cases {
            let got = field.check(&value).err();
            assert_eq!(got, want.map(|w| format!("{prefix}{w}")), "{value}");
        }
    }

    #[test]
    fn core_catalogue_resolves() {
        let catalogue = match Catalogue::core() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let device = catalogue.by_label("dcim.device").expect("dcim.device");
        assert_eq!(device.table, "dcim_device");
        let (_, interfaces) = device.relation("interfaces").expect("device.interfaces");
        assert_eq!(catalogue.model(interfaces.target).label, "dcim.interface");
        let interface = catalogue.by_label("dcim.interface").expect("interface");
        let (_, ips) = interface.relation("ip_addresses").expect("interface.ip_addresses");
        assert!(
            matches!(&ips.shape, RelationShape::Through { table, .. } if table == "ipam_ipaddresstointerface")
        );
        assert!(device.filter("location").is_some_and(|f| f.kind == FilterKind::Tree));
    }

    #[test]
    fn a_bad_reference_names_file_model_and_field() {
        let text = "app: x\nmodels:\n- model: a\n  class: A\n  verbose_name: a\n  verbose_name_plural: as\n  table: x_a\n  fields:\n  - {name: id, kind: uuid, primary_key: true}\n  - {name: b, kind: foreign_key, to: x.missing}\n";
        let file = CatalogueFile::parse("x.yaml", text).expect("parses");
        let error = Catalogue::from_files(vec![file]).expect_err("must fail").to_string();
        assert!(
            error.contains("x.yaml") && error.contains("x.a") && error.contains("x.missing"),
            "{error}"
        );
    }
}
