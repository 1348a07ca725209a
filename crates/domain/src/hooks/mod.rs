//! Behaviour attached to models that a catalogue entry cannot say.
//!
//! [`behaviour`] is asked once per model when the catalogue loads, and the loader checks that
//! every field, model and list it names exists; from then on each model carries its
//! [`Behaviour`], and the generic code (writes, reads, the schema) asks it, never a label:
//! which extra input keys a model takes and how they turn into stored columns, whether its rows
//! get a computed parent, which model rules an object must pass, which components it gets, which
//! usage fields it serves. Adding such behaviour to a model is a line here and a function in the
//! domain module that owns it, never a special case in the generic code.

use crate::row::{Related, Row};
use crate::{ipam, ValidationError};

/// The label of the change-log model: every write adds its rows, every model shows its own.
pub const CHANGE_LOG: &str = "extras.objectchange";

/// The label of the custom-field model: its rows are part of the catalogue, read at run time
/// (its [`CUSTOM_FIELD_FIELDS`]).
pub const CUSTOM_FIELD: &str = "extras.customfield";

/// The labels of the data validation rule models (`crate::data_validation`).
pub mod validation_rules {
    pub const REGEX: &str = "data_validation.regularexpressionvalidationrule";
    pub const MIN_MAX: &str = "data_validation.minmaxvalidationrule";
    pub const REQUIRED: &str = "data_validation.requiredvalidationrule";
    pub const UNIQUE: &str = "data_validation.uniquevalidationrule";
    pub const MODELS: [&str; 4] = [REGEX, MIN_MAX, REQUIRED, UNIQUE];
}

/// The label of a custom field's choices (select and multi-select fields): read with the
/// definitions, in weight then value order.
pub const CUSTOM_FIELD_CHOICE: &str = "extras.customfieldchoice";

/// The fields of a custom field choice the store reads: its field, its value, its weight.
pub const CUSTOM_FIELD_CHOICE_FIELDS: [&str; 3] = ["custom_field", "value", "weight"];

/// The fields of a custom field definition the store reads, in the order `CustomField` is
/// made from them.
pub const CUSTOM_FIELD_FIELDS: [&str; 10] = [
    "key",
    "label",
    "type",
    "description",
    "content_types",
    "required",
    "default",
    "validation_minimum",
    "validation_maximum",
    "validation_regex",
];

/// A stored value an input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derived {
    Bytes(Vec<u8>),
    Int(i64),
}

/// What an input derives: (field, value) pairs of the stored form.
pub type Derivation = Result<Vec<(&'static str, Derived)>, String>;

/// An input key that is not a field: `prefix: 10.0.0.0/16` on prefixes, which fills `network`,
/// `broadcast`, `prefix_length` and `ip_version`.
pub struct Input {
    pub key: &'static str,
    /// The stored fields it fills.
    pub fills: &'static [&'static str],
    /// The stored form, as (field, value) pairs.
    pub derive: fn(&str) -> Derivation,
}

/// How a row's parent is found: the most specific prefix of the namespace that contains it.
pub struct ParentRule {
    /// The field that holds the parent.
    pub field: &'static str,
    /// The field holding the address bytes to contain.
    pub address: &'static str,
    /// The field holding its length (prefix length or mask length).
    pub length: &'static str,
    /// The field holding the IP version: parents and children share it.
    pub version: &'static str,
    /// The field holding the last address of the range, when the row is a range that can contain
    /// others (a prefix's broadcast address); rows without one adopt nothing.
    pub end: Option<&'static str>,
    /// Whether the parent must be strictly shorter (prefixes) or may be as long (addresses).
    pub strict: bool,
    /// Where the namespace comes from: a field of the row, or an input key naming one.
    pub namespace: NamespaceSource,
    /// Whether a row without any containing prefix is refused.
    pub required: bool,
}

pub enum NamespaceSource {
    Field(&'static str),
    /// An input key naming an object of `model` (the namespace), with the name used when it is
    /// absent.
    Input {
        key: &'static str,
        model: &'static str,
        default: &'static str,
    },
}

fn prefix_columns(text: &str) -> Derivation {
    let p = ipam::parse_prefix(text)?;
    Ok(vec![
        ("network", Derived::Bytes(p.network)),
        ("broadcast", Derived::Bytes(p.broadcast)),
        ("prefix_length", Derived::Int(i64::from(p.prefix_length))),
        ("ip_version", Derived::Int(i64::from(p.ip_version))),
    ])
}

fn address_columns(text: &str) -> Derivation {
    let a = ipam::parse_address(text)?;
    Ok(vec![
        ("host", Derived::Bytes(a.host)),
        ("mask_length", Derived::Int(i64::from(a.mask_length))),
        ("ip_version", Derived::Int(i64::from(a.ip_version))),
    ])
}

/// What a model does beyond its catalogue entry (nothing, for most).
#[derive(Clone, Copy)]
pub struct Behaviour {
    /// Input keys that are not fields (`prefix`), and the stored fields they fill.
    pub inputs: &'static [Input],
    /// How its rows' computed parent is found.
    pub parent: Option<&'static ParentRule>,
    /// Rows of other models that a new row adopts, or a deleted one hands on.
    pub adoptions: &'static [Adoption],
    /// Uniqueness the database cannot enforce (nulls equal).
    pub unique_sets: &'static [&'static [&'static str]],
    /// Components a new object gets from its type's templates.
    pub components: Option<&'static Components>,
    /// Whether writing its rows changes cable paths.
    pub traces_cable_paths: bool,
    /// Read-only fields computed from the rows under an object, by GraphQL name.
    pub usage: &'static [(&'static str, Usage)],
    /// The stored fields the usage fields are computed from, in the order their computation
    /// takes them (a prefix's network, length and type; a rack's height and numbering).
    pub usage_inputs: &'static [&'static str],
    /// Rows of other models the usage fields read, each a list whose `ours` is the object's id
    /// (a rack's devices with their types, its reservations).
    pub usage_lists: &'static [List],
    /// Model rules beyond single fields (`clean()`).
    pub rules: &'static [Rule],
    /// The fields of a change-log row, on the change-log model.
    pub change_log: Option<&'static ChangeLogFields>,
    /// How its objects match config contexts (devices, virtual machines): `config_context`.
    pub config_context: Option<&'static crate::config_context::Subject>,
    /// JSON fields holding filter arguments of the model another field names (a dynamic
    /// group's `filter`, of its `content_type`; a relationship's `source_filter` and
    /// `destination_filter`).
    pub filter_fields: &'static [FilterField],
    /// Its rows are edges of a graph that must stay acyclic (a group's memberships).
    pub acyclic: Option<&'static Edge>,
    /// Its rows are data validation rules (`crate::data_validation`): checked against the
    /// model and field they name when written, and applied to every write of that model.
    pub validation_rule: bool,
    /// A check of its rows against the catalogue (the model and field a row names): a data
    /// validation rule's or a computed field's `clean()`.
    pub catalogue_rule: Option<CatalogueRule>,
    /// How its rows may be owned (by a Git repository), which only the owner's sync writes.
    pub owned: Option<&'static crate::owner::Ownership>,
}

/// A model rule that reads the catalogue (the model and field a row names). Named here and
/// run by the writer: the modules that hold these rules read the catalogue, which reads this
/// module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogueRule {
    /// `data_validation::rule_rules`.
    DataValidation,
    /// `computed_field::clean`.
    ComputedField,
    /// `export_template::clean`.
    ExportTemplate,
}

/// The label of the export template model (`export_template`).
pub const EXPORT_TEMPLATE: &str = "extras.exporttemplate";

/// The label of the computed-field model (`computed_field`).
pub const COMPUTED_FIELD: &str = "extras.computedfield";

// The labels of the relationship models (`crate::relationship`).
use crate::relationship::{ASSOCIATION as RELATIONSHIP_ASSOCIATION, MODEL as RELATIONSHIP};

/// A JSON field holding the filter arguments of a list of another model: the write path
/// checks each argument against that model's filters, and the model must have `feature`.
pub struct FilterField {
    /// The JSON field (`filter`).
    pub field: &'static str,
    /// The content-type field naming the model filtered (`content_type`).
    pub model_field: &'static str,
    /// The feature the model filtered must have (`dynamic_groups`).
    pub feature: &'static str,
    /// Whether the filter may name dynamic groups (a group's own filter may not).
    pub groups: bool,
    /// Whether a refused argument is reported under the filter field (a relationship's
    /// `destination_filter`) rather than under its own name (a group's filter form).
    pub errors_under_field: bool,
}

/// A row linking `from` below `to` (a child group under its parent): the write path refuses a
/// row under which `to` would be reached again from `from`, naming `from`.
pub struct Edge {
    pub from: &'static str,
    pub to: &'static str,
    pub message: &'static str,
}

/// Which field of the change-log model holds what the write path records of each change.
///
/// Spec: nautobot/extras/models/change_logging.py (`ObjectChange`).
pub struct ChangeLogFields {
    pub time: &'static str,
    pub user: &'static str,
    pub user_name: &'static str,
    pub request_id: &'static str,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: &'static str,
    pub context: &'static str,
    pub context_detail: &'static str,
    pub related_type: &'static str,
    pub related_id: &'static str,
    pub repr: &'static str,
    /// The object after the change (before it, for a delete).
    pub data: &'static str,
    /// The object before an update or a delete.
    pub prechange: &'static str,
    /// The change feed's position.
    pub sequence: &'static str,
}

impl ChangeLogFields {
    /// Every field, in the order the write path fills them.
    pub fn all(&self) -> [&'static str; 15] {
        [
            self.time,
            self.user,
            self.user_name,
            self.request_id,
            self.action,
            self.object_type,
            self.object_id,
            self.context,
            self.context_detail,
            self.related_type,
            self.related_id,
            self.repr,
            self.data,
            self.prechange,
            self.sequence,
        ]
    }
}

fn change_log(label: &str) -> Option<&'static ChangeLogFields> {
    static OBJECT_CHANGE: ChangeLogFields = ChangeLogFields {
        time: "time",
        user: "user",
        user_name: "user_name",
        request_id: "request_id",
        action: "action",
        object_type: "changed_object_type",
        object_id: "changed_object_id",
        context: "change_context",
        context_detail: "change_context_detail",
        related_type: "related_object_type",
        related_id: "related_object_id",
        repr: "object_repr",
        data: "object_data",
        prechange: "prechange_data",
        sequence: "sequence",
    };
    (label == CHANGE_LOG).then_some(&OBJECT_CHANGE)
}

impl Behaviour {
    /// No behaviour at all.
    pub const NONE: Behaviour = Behaviour {
        inputs: &[],
        parent: None,
        adoptions: &[],
        unique_sets: &[],
        components: None,
        traces_cable_paths: false,
        usage: &[],
        usage_inputs: &[],
        usage_lists: &[],
        rules: &[],
        change_log: None,
        config_context: None,
        filter_fields: &[],
        acyclic: None,
        validation_rule: false,
        catalogue_rule: None,
        owned: None,
    };

    /// Whether `key` is an input of the model that is not one of its fields.
    pub fn is_input(&self, key: &str) -> bool {
        self.inputs.iter().any(|i| i.key == key)
            || self.parent.is_some_and(
                |p| matches!(p.namespace, NamespaceSource::Input { key: k, .. } if k == key),
            )
    }
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour")
            .field("inputs", &self.inputs.iter().map(|i| i.key).collect::<Vec<_>>())
            .field("parent", &self.parent.map(|p| p.field))
            .field("adoptions", &self.adoptions.iter().map(|a| a.child).collect::<Vec<_>>())
            .field("unique_sets", &self.unique_sets)
            .field("components", &self.components.map(|c| c.type_field))
            .field("traces_cable_paths", &self.traces_cable_paths)
            .field("usage", &self.usage)
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// The behaviour of the model `label` (the one place a label is matched: the loader resolves it
/// into the model and checks it).
pub fn behaviour(label: &str) -> Behaviour {
    Behaviour {
        inputs: inputs(label),
        parent: parent(label),
        adoptions: adoptions(label),
        unique_sets: unique_sets(label),
        components: components(label),
        traces_cable_paths: traces_cable_paths(label),
        usage: usage_fields(label),
        usage_inputs: usage_inputs(label),
        usage_lists: usage_lists(label),
        rules: rules(label),
        change_log: change_log(label),
        config_context: crate::config_context::subject(label),
        filter_fields: match label {
            crate::dynamic_group::GROUP => &GROUP_FILTER,
            RELATIONSHIP => &RELATIONSHIP_FILTERS,
            _ => &[],
        },
        acyclic: match label {
            crate::dynamic_group::MEMBERSHIP => Some(&MEMBERSHIP_EDGE),
            _ => None,
        },
        validation_rule: validation_rules::MODELS.contains(&label),
        catalogue_rule: match label {
            COMPUTED_FIELD => Some(CatalogueRule::ComputedField),
            EXPORT_TEMPLATE => Some(CatalogueRule::ExportTemplate),
            _ if validation_rules::MODELS.contains(&label) => Some(CatalogueRule::DataValidation),
            _ => None,
        },
        owned: crate::owner::ownership(label),
    }
}

/// Spec: `DynamicGroup.clean_filter` (the filter set of the group's content type).
static GROUP_FILTER: [FilterField; 1] = [FilterField {
    field: crate::dynamic_group::fields::FILTER,
    model_field: crate::dynamic_group::fields::CONTENT_TYPE,
    feature: "dynamic_groups",
    groups: false,
    errors_under_field: false,
}];

/// Spec: `Relationship.clean` (each side's filter, of that side's model).
static RELATIONSHIP_FILTERS: [FilterField; 2] = [
    FilterField {
        field: crate::relationship::fields::SOURCE_FILTER,
        model_field: crate::relationship::fields::SOURCE_TYPE,
        feature: crate::relationship::FEATURE,
        groups: true,
        errors_under_field: true,
    },
    FilterField {
        field: crate::relationship::fields::DESTINATION_FILTER,
        model_field: crate::relationship::fields::DESTINATION_TYPE,
        feature: crate::relationship::FEATURE,
        groups: true,
        errors_under_field: true,
    },
];

/// Spec: `DynamicGroupMembership.clean` ("Cannot add ancestor as a child").
static MEMBERSHIP_EDGE: Edge = Edge {
    from: crate::dynamic_group::fields::CHILD,
    to: crate::dynamic_group::fields::PARENT,
    message: "Cannot add ancestor as a child",
};

/// The extra inputs of a model.
fn inputs(label: &str) -> &'static [Input] {
    match label {
        "ipam.prefix" => &[Input {
            key: "prefix",
            fills: &["network", "broadcast", "prefix_length", "ip_version"],
            derive: prefix_columns,
        }],
        "ipam.ipaddress" => &[Input {
            key: "address",
            fills: &["host", "mask_length", "ip_version"],
            derive: address_columns,
        }],
        _ => &[],
    }
}

/// The parent rule of a model, if its rows have a computed parent.
fn parent(label: &str) -> Option<&'static ParentRule> {
    // Spec: nautobot/ipam/models.py (Prefix.get_parent, IPAddress._get_closest_parent).
    static PREFIX: ParentRule = ParentRule {
        field: "parent",
        address: "network",
        length: "prefix_length",
        version: "ip_version",
        end: Some("broadcast"),
        strict: true,
        namespace: NamespaceSource::Field("namespace"),
        required: false,
    };
    static ADDRESS: ParentRule = ParentRule {
        field: "parent",
        address: "host",
        length: "mask_length",
        version: "ip_version",
        end: None,
        strict: false,
        namespace: NamespaceSource::Input {
            key: "namespace",
            model: "ipam.namespace",
            default: "Global",
        },
        required: true,
    };
    match label {
        "ipam.prefix" => Some(&PREFIX),
        "ipam.ipaddress" => Some(&ADDRESS),
        _ => None,
    }
}

/// The models whose computed parent a row of `label` may be: a new prefix adopts the prefixes
/// and addresses it now contains most closely, and a deleted prefix hands its children to its own
/// parent, as Nautobot 3 keeps the tree (`Prefix.save` → `reparent_subnets`, `reparent_ips`;
/// `Prefix.delete`). Children that need a parent (addresses, ranges) keep a deleted prefix
/// without a parent from going.
pub struct Adoption {
    pub child: &'static str,
    /// Whether the child needs a parent (a prefix without one may not be deleted).
    pub required: bool,
    /// Whether new rows adopt it (ranges are re-parented on delete only).
    pub on_create: bool,
}

fn adoptions(label: &str) -> &'static [Adoption] {
    match label {
        "ipam.prefix" => &[
            Adoption { child: "ipam.prefix", required: false, on_create: true },
            Adoption { child: "ipam.ipaddress", required: true, on_create: true },
            Adoption { child: "ipam.ipaddressrange", required: true, on_create: false },
        ],
        _ => &[],
    }
}

/// Uniqueness the database cannot enforce: sets of fields that no two objects share, where a
/// null matches a null (SQL unique indexes let nulls repeat). An object whose last field is
/// null is exempt (an unnamed device).
///
/// Spec: nautobot/dcim/custom_validators.py `DeviceUniquenessValidator` (the default
/// `DEVICE_UNIQUENESS = "location_tenant_name"`).
fn unique_sets(label: &str) -> &'static [&'static [&'static str]] {
    match label {
        "dcim.device" => &[&["location", "tenant", "name"]],
        _ => &[],
    }
}

/// Components a new object gets from its type's templates, in the order they are made (power
/// outlets name power ports, front ports name rear ports).
///
/// Spec: nautobot/dcim/models/devices.py (`Device.create_components`) and
/// nautobot/dcim/models/device_component_templates.py (each template's `instantiate`).
pub struct Components {
    /// The object's field naming its type (`device_type`), and the templates' field naming it.
    pub type_field: &'static str,
    pub template_type_field: &'static str,
    /// The components' field naming the new object.
    pub owner_field: &'static str,
    /// (component field, owner reference, field of its target): a value the components take
    /// from a row the new object names (a module's components are on the device its module
    /// bay belongs to).
    pub inherit: Option<(&'static str, &'static str, &'static str)>,
    /// (placeholder, owner reference, field of its target): names and labels replace the
    /// placeholder by that value (`{module}` by the module bay's position).
    pub placeholder: Option<(&'static str, &'static str, &'static str)>,
    pub templates: &'static [Template],
}

/// One kind of template and the component it makes.
pub struct Template {
    pub template: &'static str,
    pub component: &'static str,
    /// Fields copied as they are, beyond `name`, `label` and `description`.
    pub copy: &'static [&'static str],
    /// (component field, template field): a reference to another template becomes a reference
    /// to the component made from it.
    pub refs: &'static [(&'static str, &'static str)],
    /// (field, value) set on every component made (an interface's status).
    pub fixed: &'static [(&'static str, &'static str)],
    /// The component's field naming the new object, when not `owner_field` (a module bay names
    /// its device as `parent_device`, its module as `parent_module`).
    pub owner: Option<&'static str>,
}

/// The components instantiated when an object of the model is created.
fn components(label: &str) -> Option<&'static Components> {
    const fn t(
        template: &'static str,
        component: &'static str,
        copy: &'static [&'static str],
        refs: &'static [(&'static str, &'static str)],
    ) -> Template {
        Template { template, component, copy, refs, fixed: &[], owner: None }
    }
    static DEVICE: Components = Components {
        type_field: "device_type",
        template_type_field: "device_type",
        owner_field: "device",
        inherit: None,
        placeholder: None,
        templates: &[
            t("dcim.consoleporttemplate", "dcim.consoleport", &["type"], &[]),
            t("dcim.consoleserverporttemplate", "dcim.consoleserverport", &["type"], &[]),
            t(
                "dcim.powerporttemplate",
                "dcim.powerport",
                &["type", "maximum_draw", "allocated_draw", "power_factor"],
                &[],
            ),
            t(
                "dcim.poweroutlettemplate",
                "dcim.poweroutlet",
                &["type", "feed_leg"],
                &[("power_port", "power_port_template")],
            ),
            Template {
                template: "dcim.interfacetemplate",
                component: "dcim.interface",
                copy: &["type", "port_type", "mgmt_only", "speed", "duplex"],
                refs: &[],
                fixed: &[("status", "Active")],
                owner: None,
            },
            t("dcim.rearporttemplate", "dcim.rearport", &["type", "positions"], &[]),
            t(
                "dcim.frontporttemplate",
                "dcim.frontport",
                &["type", "rear_port_position"],
                &[("rear_port", "rear_port_template")],
            ),
            t("dcim.devicebaytemplate", "dcim.devicebay", &[], &[]),
            Template {
                owner: Some("parent_device"),
                ..t("dcim.modulebaytemplate", "dcim.modulebay", &["position"], &[])
            },
        ],
    };
    // A module has no device bays.
    static MODULE_TEMPLATES: &[Template] = &[
        t("dcim.consoleporttemplate", "dcim.consoleport", &["type"], &[]),
        t("dcim.consoleserverporttemplate", "dcim.consoleserverport", &["type"], &[]),
        t(
            "dcim.powerporttemplate",
            "dcim.powerport",
            &["type", "maximum_draw", "allocated_draw", "power_factor"],
            &[],
        ),
        t(
            "dcim.poweroutlettemplate",
            "dcim.poweroutlet",
            &["type", "feed_leg"],
            &[("power_port", "power_port_template")],
        ),
        Template {
            template: "dcim.interfacetemplate",
            component: "dcim.interface",
            copy: &["type", "port_type", "mgmt_only", "speed", "duplex"],
            refs: &[],
            fixed: &[("status", "Active")],
            owner: None,
        },
        t("dcim.rearporttemplate", "dcim.rearport", &["type", "positions"], &[]),
        t(
            "dcim.frontporttemplate",
            "dcim.frontport",
            &["type", "rear_port_position"],
            &[("rear_port", "rear_port_template")],
        ),
        Template {
            owner: Some("parent_module"),
            ..t("dcim.modulebaytemplate", "dcim.modulebay", &["position"], &[])
        },
    ];
    // Spec: nautobot/dcim/models/devices.py (`Module.create_components`,
    // `Module.render_component_names`; `Module.device` is its module bay's device).
    static MODULE: Components = Components {
        type_field: "module_type",
        template_type_field: "module_type",
        owner_field: "module",
        inherit: Some(("device", "parent_module_bay", "parent_device")),
        placeholder: Some(("{module}", "parent_module_bay", "position")),
        templates: MODULE_TEMPLATES,
    };
    match label {
        "dcim.device" => Some(&DEVICE),
        "dcim.module" => Some(&MODULE),
        _ => None,
    }
}

/// Whether writing rows of the model changes cable paths (they are traced again when the write
/// ends: nautobot/dcim/signals.py `rebuild_paths`): cable ends, and cables, whose status
/// decides whether a path is active.
fn traces_cable_paths(label: &str) -> bool {
    crate::cable::traces_paths(label)
}

pub use crate::usage::Usage;

/// The stored fields the usage fields of a model are computed from.
fn usage_inputs(label: &str) -> &'static [&'static str] {
    match label {
        "ipam.prefix" => &["network", "prefix_length", "type"],
        "dcim.rack" => &["u_height", "desc_units"],
        _ => &[],
    }
}

/// The rows the usage fields of a model read: a rack's elevation, its devices and reservations
/// ([`crate::rack::contents`]).
fn usage_lists(label: &str) -> &'static [List] {
    match label {
        "dcim.rack" => &[RACK_DEVICES_OF_RACK, RACK_RESERVATIONS_OF_RACK],
        _ => &[],
    }
}

/// The usage fields of a model, by GraphQL name.
fn usage_fields(label: &str) -> &'static [(&'static str, Usage)] {
    match label {
        "ipam.prefix" => &[
            ("utilization", Usage::Utilization),
            ("available_prefixes", Usage::AvailablePrefixes),
            ("available_ips", Usage::AvailableIps),
            ("first_available_ip", Usage::FirstAvailableIp),
        ],
        "dcim.rack" => &[("elevation", Usage::Elevation)],
        _ => &[],
    }
}

/// An object as the rules see it.
pub type Object = Row;

/// A model rule: what Nautobot's `clean()` checks beyond single fields.
pub struct Rule {
    /// Reference fields whose target rows the rule reads.
    pub needs: &'static [&'static str],
    /// Other rows the rule reads: those of a model whose reference field names what one of
    /// this object's references names (the devices in the same rack).
    pub lists: &'static [List],
    /// `before` is the stored object on an update, `None` on a create.
    pub check: fn(&Object, Option<&Object>, &Related) -> Vec<ValidationError>,
}

/// Rows of `model` whose field `theirs` equals this object's field `ours`, each with the
/// targets of its references `expand` embedded; the rule finds them under `name`.
pub struct List {
    pub name: &'static str,
    pub model: &'static str,
    pub theirs: &'static str,
    pub ours: &'static str,
    pub expand: &'static [&'static str],
}

pub(super) const RACK_DEVICES: List = List {
    name: "rack_devices",
    model: "dcim.device",
    theirs: "rack",
    ours: "rack",
    expand: &["device_type"],
};

pub(super) const RACK_RESERVATIONS_OF_RACK: List = List {
    name: "reservations",
    model: "dcim.rackreservation",
    theirs: "rack",
    ours: "id",
    expand: &[],
};

pub(super) const RACK_DEVICES_OF_RACK: List = List {
    name: "rack_devices",
    model: "dcim.device",
    theirs: "rack",
    ours: "id",
    expand: &["device_type"],
};

mod rules;

pub use rules::parse_ranges;
use rules::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_nautobot_reads_them() {
        type Ranges = Option<Vec<(u32, u32)>>;
        let cases: &[(&str, Ranges)] = &[
            ("1-4094", Some(vec![(1, 4094)])),
            ("10, 20-30", Some(vec![(10, 10), (20, 30)])),
            ("30-20", None),
            ("0-10", None),
            ("1-5000", None),
            ("ten", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_ranges(text, 1, 4094).ok(), *want, "{text}");
        }
    }

    use crate::row::Listed;
    use crate::value::Datum;
    use serde_json::{json, Value as Json};
    use std::collections::HashMap;

    /// A made-up id, named: rows of these tests refer to each other by names.
    fn fake_id(name: &str) -> uuid::Uuid {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        uuid::Uuid::from_u64_pair(hasher.finish(), 1)
    }

    /// A row of `label` written as JSON, typed by the catalogue's fields; references and ids
    /// are names of made-up ids.
    fn row(label: &str, value: Json) -> Row {
        let catalogue = crate::Catalogue::core().expect("catalogue");
        let model = catalogue.by_label(label).expect(label);
        let mut row = Row::new();
        for (key, v) in value.as_object().into_iter().flatten() {
            let kind = model.field(key).map(|(_, f)| &f.kind);
            let reference =
                matches!(kind, Some(crate::FieldKind::ForeignKey { .. } | crate::FieldKind::Uuid));
            let datum = match v {
                Json::Null => Datum::Null,
                Json::String(s) if reference => Datum::Uuid(fake_id(s)),
                Json::String(s) => Datum::text(s.as_str()),
                Json::Number(n) => Datum::Int(n.as_i64().expect("an integer")),
                Json::Bool(b) => Datum::Bool(*b),
                other => Datum::Json(Box::new(other.clone())),
            };
            row.set(key.clone(), datum);
        }
        row
    }

    fn related(rows: &[(&'static str, Row)]) -> Related {
        Related { rows: rows.iter().cloned().collect(), lists: HashMap::new() }
    }

    #[test]
    fn model_rules_refuse_what_nautobot_refuses() {
        let group = related(&[("vlan_group", row("ipam.vlangroup", json!({"range": "100-199"})))]);
        let vlan = |v: Json| row("ipam.vlan", v);
        assert_eq!(vlan_rules(&vlan(json!({"vid": 150})), None, &group), vec![]);
        assert_eq!(vlan_rules(&vlan(json!({"vid": 200})), None, &group).len(), 1);
        let listed = |vid: i64| Listed { row: vlan(json!({ "vid": vid })), ..Listed::default() };
        let vlans = Related {
            rows: HashMap::new(),
            lists: [("vlans", vec![listed(150), listed(250)])].into_iter().collect(),
        };
        let range = row("ipam.vlangroup", json!({"range": "100-199"}));
        let errors = vlan_group_rules(&range, None, &vlans);
        assert!(errors[0].message.contains("IDs: 250"), "{errors:?}");
        let none = Related::default();
        let service = |v: Json| row("ipam.service", v);
        assert_eq!(service_rules(&service(json!({"device": "d"})), None, &none), vec![]);
        assert_eq!(service_rules(&service(json!({})), None, &none).len(), 1);
        let both = json!({"location": "l", "provider_network": "p"});
        let termination = row("circuits.circuittermination", both);
        assert_eq!(circuit_termination_rules(&termination, None, &none).len(), 1);
        let master = related(&[(
            "master",
            row("dcim.device", json!({"name": "m", "virtual_chassis": "other"})),
        )]);
        let feed = |v: Json| row("dcim.powerfeed", v);
        let ac =
            json!({"voltage": -48, "supply": "ac", "power_panel": "p", "destination_panel": "p"});
        assert_eq!(power_feed_rules(&feed(ac), None, &none).len(), 2);
        let dc = json!({"voltage": -48, "supply": "dc", "power_panel": "p"});
        assert_eq!(power_feed_rules(&feed(dc), None, &none), vec![]);
        let vc = row("dcim.virtualchassis", json!({"id": "vc1"}));
        assert_eq!(virtual_chassis_rules(&vc, None, &master), vec![]);
        assert_eq!(virtual_chassis_rules(&vc, Some(&vc), &master).len(), 1);
    }

    #[test]
    fn prefix_input_fills_the_stored_columns() {
        let cols = (inputs("ipam.prefix")[0].derive)("10.1.2.3/16").expect("valid");
        assert_eq!(cols[0], ("network", Derived::Bytes(vec![10, 1, 0, 0])));
        assert_eq!(cols[2], ("prefix_length", Derived::Int(16)));
        assert!((inputs("ipam.prefix")[0].derive)("nope").is_err());
        assert!(inputs("dcim.device").is_empty());
        let is_input = |label: &str, key: &str| behaviour(label).is_input(key);
        assert!(is_input("ipam.ipaddress", "namespace") && !is_input("ipam.prefix", "namespace"));
    }

    #[test]
    fn natural_keys_are_named_by_inputs() {
        let catalogue = crate::Catalogue::core().expect("catalogue");
        let keys = |label: &str| catalogue.by_label(label).expect(label).natural_key_inputs();
        assert_eq!(keys("ipam.prefix"), ["namespace", "prefix"]);
        assert_eq!(keys("ipam.ipaddress"), ["address"]);
        assert_eq!(keys("dcim.device"), ["name", "tenant", "location"]);
        assert_eq!(keys("dcim.devicetype"), ["manufacturer", "model"]);
    }

    /// The messages of a model's rules; `related` rows are those of the references they are
    /// keyed by (a null: the reference is unset).
    fn check(
        label: &str,
        obj: Json,
        before: Option<Json>,
        related: &[(&'static str, Json)],
    ) -> Vec<String> {
        let catalogue = crate::Catalogue::core().expect("catalogue");
        let model = catalogue.by_label(label).expect(label);
        let mut rows = HashMap::new();
        for (name, value) in related.iter().filter(|(_, v)| !v.is_null()) {
            let Some((_, field)) = model.field(name) else { panic!("{label} has no {name}") };
            let crate::FieldKind::ForeignKey { to, .. } = field.kind else { panic!("{name}") };
            rows.insert(*name, row(&catalogue.model(to).label, value.clone()));
        }
        let related = Related { rows, lists: HashMap::new() };
        let before = before.map(|b| row(label, b));
        rules(label)
            .iter()
            .flat_map(|r| (r.check)(&row(label, obj.clone()), before.as_ref(), &related))
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn location_parents_follow_their_types() {
        let region = json!({"id": "t-region", "name": "Region", "parent": null, "nestable": false});
        let site = json!({"id": "t-site", "name": "Site", "parent": "t-region", "nestable": false});
        let in_region = json!({"id": "r1", "location_type": "t-region"});
        let ok = check(
            "dcim.location",
            json!({"id": "s1", "location_type": "t-site", "parent": "r1"}),
            None,
            &[("location_type", site.clone()), ("parent", in_region.clone())],
        );
        assert!(ok.is_empty(), "{ok:?}");
        let orphan = check(
            "dcim.location",
            json!({"id": "s1", "location_type": "t-site"}),
            None,
            &[("location_type", site), ("parent", Json::Null)],
        );
        assert_eq!(orphan, ["parent: A Location of type Site must have a parent Location."]);
        let nested = check(
            "dcim.location",
            json!({"id": "r2", "location_type": "t-region", "parent": "r1"}),
            None,
            &[("location_type", region), ("parent", in_region)],
        );
        assert_eq!(nested, ["parent: A Location of type Region must not have a parent Location."]);
        let retyped = check(
            "dcim.location",
            json!({"id": "s1", "location_type": "t-x"}),
            Some(json!({"id": "s1", "location_type": "t-site"})),
            &[],
        );
        assert_eq!(retyped.len(), 1);
    }

    #[test]
    fn interfaces_and_devices_hold_together() {
        let lag = json!({"id": "i2", "name": "po1", "device": "d2"});
        let errors = check(
            "dcim.interface",
            json!({"id": "i1", "device": "d1", "lag": "i2"}),
            None,
            &[("lag", lag)],
        );
        assert_eq!(
            errors,
            ["lag: The selected LAG interface (po1) belongs to a different device."]
        );
        let errors = check("dcim.interface", json!({"id": "i1"}), None, &[]);
        assert_eq!(errors, ["device: Either device or module must be set."]);
        let errors = check(
            "dcim.device",
            json!({"location": "l1", "position": 3, "face": "front"}),
            None,
            &[("rack", Json::Null)],
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
