//! The model rules: which models have which (`rules`), and what Nautobot's `clean()` methods
//! check beyond single fields, each a function over the object, its stored form before an
//! update and the rows it asked for.

use super::*;

/// The model rules of a model.
pub(super) fn rules(label: &str) -> &'static [Rule] {
    match label {
        "users.user" => &[Rule { needs: &[], lists: &[], check: user_rules }],
        "users.token" => &[Rule { needs: &[], lists: &[], check: token_rules }],
        "dcim.location" => {
            &[Rule { needs: &["location_type", "parent"], lists: &[], check: location_rules }]
        }
        "dcim.interface" => &[Rule {
            needs: &["lag", "parent_interface", "bridge"],
            lists: &[],
            check: interface_rules,
        }],
        "dcim.device" => &[
            Rule { needs: &["rack"], lists: &[], check: device_rules },
            Rule {
                needs: &["local_config_context_schema"],
                lists: &[],
                check: local_context_rules,
            },
            Rule {
                needs: &["rack", "device_type"],
                lists: &[RACK_DEVICES],
                check: crate::rack::device_fit_rule,
            },
        ],
        "dcim.rackreservation" => &[Rule {
            needs: &["rack"],
            lists: &[List {
                name: "reservations",
                model: "dcim.rackreservation",
                theirs: "rack",
                ours: "rack",
                expand: &[],
            }],
            check: crate::rack::reservation_rule,
        }],
        "dcim.rack" => &[Rule {
            needs: &[],
            lists: &[RACK_DEVICES_OF_RACK],
            check: crate::rack::rack_height_rule,
        }],
        "dcim.cabletocabletermination" => &[Rule {
            needs: &crate::cable::TERMINATION_COLUMNS,
            lists: &[List {
                name: "terminations",
                model: "dcim.cabletocabletermination",
                theirs: "cable",
                ours: "cable",
                expand: &crate::cable::TERMINATION_COLUMNS,
            }],
            check: crate::cable::termination_rule,
        }],
        "ipam.ipaddress" => &[Rule { needs: &[], lists: &[], check: address_rules }],
        "extras.customfield" => &[Rule { needs: &[], lists: &[], check: custom_field_rules }],
        crate::webhook::WEBHOOK => &[Rule { needs: &[], lists: &[], check: webhook_rules }],
        "virtualization.virtualmachine" => &[Rule {
            needs: &["local_config_context_schema"],
            lists: &[],
            check: local_context_rules,
        }],
        crate::config_context::CONFIG_CONTEXT => {
            &[Rule { needs: &["config_context_schema"], lists: &[], check: config_context_rules }]
        }
        crate::config_context::SCHEMA => {
            &[Rule { needs: &[], lists: &[], check: context_schema_rules }]
        }
        crate::webhook::REPLAY => &[Rule { needs: &[], lists: &[], check: replay_rules }],
        crate::dynamic_group::GROUP => &[Rule { needs: &[], lists: &[], check: group_rules }],
        crate::dynamic_group::MEMBERSHIP => &[Rule {
            needs: &[crate::dynamic_group::fields::PARENT, crate::dynamic_group::fields::CHILD],
            lists: &[],
            check: membership_rules,
        }],
        RELATIONSHIP => &[Rule {
            needs: &[],
            lists: &[List {
                name: crate::relationship::ASSOCIATIONS_OF_RELATIONSHIP,
                model: RELATIONSHIP_ASSOCIATION,
                theirs: crate::relationship::fields::RELATIONSHIP,
                ours: "id",
                expand: &[],
            }],
            check: relationship_rules,
        }],
        RELATIONSHIP_ASSOCIATION => &[Rule {
            needs: &[crate::relationship::fields::RELATIONSHIP],
            lists: &ASSOCIATION_LISTS,
            check: association_of_relationship_rules,
        }],
        CUSTOM_FIELD_CHOICE => &[Rule {
            needs: &[CUSTOM_FIELD_CHOICE_FIELDS[0]],
            lists: &[],
            check: custom_field_choice_rules,
        }],
        crate::dynamic_group::ASSOCIATION => &[Rule {
            needs: &[crate::dynamic_group::fields::ASSOCIATED_GROUP],
            lists: &[],
            check: association_rules,
        }],
        "ipam.vlan" => &[Rule { needs: &["vlan_group"], lists: &[], check: vlan_rules }],
        "ipam.vlangroup" => &[Rule {
            needs: &[],
            lists: &[List {
                name: "vlans",
                model: "ipam.vlan",
                theirs: "vlan_group",
                ours: "id",
                expand: &[],
            }],
            check: vlan_group_rules,
        }],
        "ipam.service" => &[Rule { needs: &[], lists: &[], check: service_rules }],
        "circuits.circuittermination" => {
            &[Rule { needs: &[], lists: &[], check: circuit_termination_rules }]
        }
        "dcim.powerfeed" => &[Rule { needs: &[], lists: &[], check: power_feed_rules }],
        "dcim.virtualchassis" => {
            &[Rule { needs: &["master"], lists: &[], check: virtual_chassis_rules }]
        }
        _ => &[],
    }
}

/// The associations sharing an end with an association (`crate::relationship::lists`).
const ASSOCIATION_LISTS: [List; 4] = {
    use crate::relationship::fields::{DESTINATION_ID, SOURCE_ID};
    use crate::relationship::lists::*;
    const fn list(name: &'static str, theirs: &'static str, ours: &'static str) -> List {
        List { name, model: RELATIONSHIP_ASSOCIATION, theirs, ours, expand: &[] }
    }
    [
        list(SAME_DESTINATION, DESTINATION_ID, DESTINATION_ID),
        list(SAME_SOURCE, SOURCE_ID, SOURCE_ID),
        list(DESTINATION_IS_SOURCE, DESTINATION_ID, SOURCE_ID),
        list(SOURCE_IS_DESTINATION, SOURCE_ID, DESTINATION_ID),
    ]
};

/// A text field's value, unless blank.
pub(super) fn text<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object.text(key).filter(|s| !s.is_empty())
}

pub(super) fn name_of(object: &Row) -> String {
    object.text("name").unwrap_or("?").to_owned()
}

/// Ferrobot's own: an account's password is a secret field stored as its argon2 hash. A
/// mutation hashes the password it is given; an import must carry the hash, so that no
/// password is ever stored in clear.
pub(super) fn user_rules(
    object: &Object,
    _before: Option<&Object>,
    _related: &Related,
) -> Vec<ValidationError> {
    // The API hashes the password it is given; data must carry the hash itself.
    match object.text("password") {
        Some(hash) if hash.starts_with("$argon2") => Vec::new(),
        _ => vec![ValidationError::new(
            "password",
            "Enter the password as an argon2 hash (a mutation hashes the password it is given).",
        )],
    }
}

/// NetBox's `Token.allowed_ips` (Nautobot has none): a list of networks or addresses, at most
/// `MAX_ALLOWED_IPS` of them.
pub(super) fn token_rules(
    object: &Object,
    _before: Option<&Object>,
    _related: &Related,
) -> Vec<ValidationError> {
    let refuse = |m: String| vec![ValidationError::new("allowed_ips", m)];
    let items = match object.json("allowed_ips") {
        None | Some(serde_json::Value::Null) => return Vec::new(),
        Some(serde_json::Value::Array(items)) => items,
        Some(_) => return refuse("Enter a list of networks (10.0.0.0/8, 2001:db8::/32).".into()),
    };
    if items.len() > MAX_ALLOWED_IPS {
        return refuse(format!("Enter at most {MAX_ALLOWED_IPS} networks."));
    }
    for item in items {
        let text = item.as_str().map(str::trim).unwrap_or_default();
        let fits = text.parse::<ipnet::IpNet>().is_ok() || text.parse::<std::net::IpAddr>().is_ok();
        if !fits {
            return refuse(format!("Enter a valid IPv4 or IPv6 network, not {item}."));
        }
    }
    Vec::new()
}

/// The most networks a token's `allowed_ips` holds.
const MAX_ALLOWED_IPS: usize = 100;

/// Spec: nautobot/dcim/models/locations.py `Location.clean`.
pub(super) fn location_rules(
    object: &Object,
    before: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if let Some(before) = before {
        if before.uuid("location_type") != object.uuid("location_type") {
            errors.push(ValidationError::new(
                "location_type",
                "Changing the type of an existing Location is not permitted.",
            ));
            return errors;
        }
    }
    let Some(ty) = related.row("location_type") else { return errors };
    let type_name = name_of(ty);
    let own_type = ty.id();
    let parent_of_type = ty.uuid("parent");
    let nestable = ty.bool("nestable").unwrap_or(false);
    let parent = related.row("parent");
    let parent_type = parent.and_then(|p| p.uuid("location_type"));
    if parent.is_some() && object.uuid("parent") == object.id() {
        errors.push(ValidationError::new("parent", "A Location cannot be its own parent."));
        return errors;
    }
    let message = match (parent_of_type, parent_type) {
        (None, None) => None,
        (None, Some(p)) if nestable && Some(p) == own_type => None,
        (None, Some(_)) if nestable => Some(format!(
            "A Location of type {type_name} may only have a Location of the same type as its parent."
        )),
        (None, Some(_)) => {
            Some(format!("A Location of type {type_name} must not have a parent Location."))
        }
        (Some(_), None) => {
            Some(format!("A Location of type {type_name} must have a parent Location."))
        }
        (Some(want), Some(p)) if p == want || (nestable && Some(p) == own_type) => None,
        (Some(_), Some(_)) if nestable => Some(format!(
            "A Location of type {type_name} can only have a Location of the same type or of its parent type as its parent."
        )),
        (Some(_), Some(_)) => Some(format!(
            "A Location of type {type_name} can only have a Location of its parent type as its parent."
        )),
    };
    errors.extend(message.map(|m| ValidationError::new("parent", m)));
    errors
}

/// Spec: nautobot/dcim/models/device_components.py (`ModularComponentModel.clean`,
/// `Interface.clean`): a component belongs to a device; LAG, parent and bridge interfaces are
/// other interfaces of the same device.
pub(super) fn interface_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let device = object.uuid("device");
    if device.is_none() {
        errors.push(ValidationError::new("device", "Either device or module must be set."));
    }
    let own = object.id();
    for (field, what) in [
        ("lag", "LAG interface"),
        ("parent_interface", "parent interface"),
        ("bridge", "bridge interface"),
    ] {
        let Some(other) = related.row(field) else { continue };
        if other.id() == own {
            errors.push(ValidationError::new(
                field,
                format!("An interface cannot be its own {what}."),
            ));
        } else if other.uuid("device") != device {
            errors.push(ValidationError::new(
                field,
                format!("The selected {what} ({}) belongs to a different device.", name_of(other)),
            ));
        }
    }
    errors
}

/// Spec: nautobot/dcim/models/devices.py `Device.clean` (rack, face and position).
pub(super) fn device_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let rack = related.row("rack");
    let has_face = text(object, "face").is_some();
    let has_position = object.has("position");
    if let Some(rack) = rack {
        if rack.uuid("location") != object.uuid("location") {
            errors.push(ValidationError::new(
                "rack",
                format!("Rack \"{}\" does not belong to the device's location.", name_of(rack)),
            ));
        }
    } else {
        if has_face {
            errors.push(ValidationError::new(
                "face",
                "Cannot select a rack face without assigning a rack.",
            ));
        }
        if has_position {
            errors.push(ValidationError::new(
                "position",
                "Cannot select a rack position without assigning a rack.",
            ));
        }
    }
    errors
}

/// A numeric range list (`1-100,200,300-399`) as (low, high) pairs, each within `min..=max`.
/// Spec: nautobot/core/models/fields.py (`PositiveRangeNumberTextField`) and
/// nautobot/core/utils/data.py (`parse_numeric_range`).
pub fn parse_ranges(text: &str, min: u32, max: u32) -> Result<Vec<(u32, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (low, high) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (Ok(low), Ok(high)) = (low.parse::<u32>(), high.parse::<u32>()) else {
            return Err(format!(
                "Invalid range: \"{part}\" is not a number or a range of numbers."
            ));
        };
        if low > high {
            return Err(format!("Invalid range: \"{part}\" starts after it ends."));
        }
        if low < min || high > max {
            return Err(format!("Invalid range: \"{part}\" is outside {min}-{max}."));
        }
        out.push((low, high));
    }
    if out.is_empty() {
        return Err("This field cannot be blank.".into());
    }
    Ok(out)
}

pub(super) fn in_ranges(ranges: &[(u32, u32)], n: u32) -> bool {
    ranges.iter().any(|&(low, high)| (low..=high).contains(&n))
}

/// Spec: nautobot/ipam/models.py (`VLAN.clean`): a VLAN's id lies in its group's range.
pub(super) fn vlan_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let Some(group) = related.row("vlan_group") else { return vec![] };
    let range = group.text("range").unwrap_or("1-4094");
    let vid = object.int("vid").and_then(|v| u32::try_from(v).ok());
    match (parse_ranges(range, 1, 4094), vid) {
        (Ok(ranges), Some(vid)) if !in_ranges(&ranges, vid) => vec![ValidationError::new(
            "vid",
            format!("VLAN ID is not contained in VLAN Group range ({range})"),
        )],
        _ => Vec::new(),
    }
}

/// Spec: nautobot/ipam/models.py (`VLANGroup.clean`, the range field's validation): the range
/// is a list of VLAN ids and ranges, and still holds the group's VLANs.
pub(super) fn vlan_group_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let range = object.text("range").unwrap_or("1-4094");
    let ranges = match parse_ranges(range, 1, 4094) {
        Ok(r) => r,
        Err(m) => return vec![ValidationError::new("range", m)],
    };
    let outside: Vec<String> = related
        .list("vlans")
        .iter()
        .filter_map(|v| v.row.int("vid"))
        .filter(|&vid| u32::try_from(vid).is_ok_and(|vid| !in_ranges(&ranges, vid)))
        .map(|vid| vid.to_string())
        .collect();
    if outside.is_empty() {
        return Vec::new();
    }
    vec![ValidationError::new(
        "range",
        format!(
            "VLAN group range may not be re-sized due to existing VLANs (IDs: {}).",
            outside.join(",")
        ),
    )]
}

pub(super) fn set(object: &Object, key: &str) -> bool {
    object.has(key)
}

/// Spec: nautobot/ipam/models.py (`Service.clean`): on a device or a virtual machine, not both.
pub(super) fn service_rules(
    object: &Object,
    _: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    let message = match (set(object, "device"), set(object, "virtual_machine")) {
        (true, true) => "A service cannot be associated with both a device and a virtual machine.",
        (false, false) => "A service must be associated with either a device or a virtual machine.",
        _ => return Vec::new(),
    };
    vec![ValidationError::new("__all__", message)]
}

/// Spec: nautobot/circuits/models.py (`CircuitTermination.clean`): one of a location, a
/// provider network or a cloud network.
pub(super) fn circuit_termination_rules(
    object: &Object,
    _: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    let message = match (
        set(object, "location"),
        set(object, "provider_network"),
        set(object, "cloud_network"),
    ) {
        (false, false, false) => {
            "A circuit termination must attach to a location, a provider network or a cloud network."
        }
        (true, true, _) => "A circuit termination cannot attach to both a location and a provider network.",
        (true, _, true) => "A circuit termination cannot attach to both a location and a cloud network.",
        (_, true, true) => {
            "A circuit termination cannot attach to both a provider network and a cloud network."
        }
        _ => return Vec::new(),
    };
    vec![ValidationError::new("__all__", message)]
}

/// Spec: nautobot/dcim/models/power.py (`PowerFeed.clean`): AC voltage is not negative, a feed
/// does not feed its own panel. (The rack / panel location hierarchy and breaker positions are
/// not checked yet.)
pub(super) fn power_feed_rules(
    object: &Object,
    _: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let voltage = object.int("voltage").unwrap_or(0);
    if voltage < 0 && text(object, "supply") == Some("ac") {
        errors.push(ValidationError::new("voltage", "Voltage cannot be negative for AC supply"));
    }
    if set(object, "destination_panel")
        && object.uuid("destination_panel") == object.uuid("power_panel")
    {
        errors.push(ValidationError::new(
            "destination_panel",
            "A power feed cannot connect a panel to itself",
        ));
    }
    errors
}

/// Spec: nautobot/dcim/models/devices.py (`VirtualChassis.clean`): the master is a member (not
/// checked on create, when the chassis has no members yet).
pub(super) fn virtual_chassis_rules(
    object: &Object,
    before: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let Some(master) = related.row("master") else { return vec![] };
    if before.is_none() {
        return Vec::new();
    }
    if master.uuid("virtual_chassis") == object.id() {
        return Vec::new();
    }
    vec![ValidationError::new(
        "master",
        format!(
            "The selected master ({}) is not assigned to this virtual chassis.",
            name_of(master)
        ),
    )]
}

/// A custom field's key names a GraphQL field (`cf_<key>`) and the stored data: it must be an
/// identifier, and it never changes. Spec: nautobot/extras/models/customfields.py
/// (`CustomField.clean`: the key cannot be changed once created).
pub(super) fn custom_field_rules(
    object: &Object,
    before: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    let key = object.text("key").unwrap_or_default();
    if !crate::value::graphql_safe(key) {
        return vec![ValidationError::new(
            "key",
            "The key must be letters, digits and underscores, not starting with a digit.",
        )];
    }
    let mut errors = match before.and_then(|b| b.text("key")) {
        Some(old) if old != key => {
            vec![ValidationError::new("key", "Key cannot be changed once created.")]
        }
        _ => Vec::new(),
    };
    // Checked here so that a value is never checked against a pattern that cannot run
    // (Ferrobot's regex engine is linear-time: no look-around, no back-references).
    if let Some(pattern) = text(object, "validation_regex") {
        if let Err(e) = regex::Regex::new(pattern) {
            errors.push(ValidationError::new(
                "validation_regex",
                format!("Invalid regular expression: {e}"),
            ));
        }
    }
    errors
}

/// Spec: `Relationship.clean` (in `crate::relationship`).
pub(super) fn relationship_rules(
    object: &Object,
    before: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::relationship::relationship_rules(object, before, related)
}

/// Spec: `RelationshipAssociation.clean` (in `crate::relationship`).
pub(super) fn association_of_relationship_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::relationship::association_rules(object, related)
}

/// Spec: nautobot/extras/models/models.py `Webhook.clean` (in `crate::webhook`).
pub(super) fn webhook_rules(
    object: &Object,
    _: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    crate::webhook::rules(object)
}

/// Spec: `CustomFieldChoice.clean`: choices belong to select fields, and a choice is held to
/// its field's length bounds and pattern.
pub(super) fn custom_field_choice_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    let [field, value, _] = super::CUSTOM_FIELD_CHOICE_FIELDS;
    let Some(definition) = related.row(field) else { return Vec::new() };
    let error = |m: String| vec![ValidationError::new("__all__", m)];
    if !matches!(definition.text("type"), Some("select" | "multi-select")) {
        return error("Custom field choices can only be assigned to selection fields.".into());
    }
    let choice = object.text(value).unwrap_or_default();
    let length = choice.chars().count() as i64;
    let bound = |name| match definition.get(name) {
        crate::value::Datum::Int(n) => Some(*n),
        _ => None,
    };
    if let Some(min) = bound("validation_minimum").filter(|m| length < *m) {
        return error(format!("Value must be at least {min} characters long."));
    }
    if let Some(max) = bound("validation_maximum").filter(|m| length > *m) {
        return error(format!("Value must not exceed {max} characters long."));
    }
    let pattern = definition.text("validation_regex").unwrap_or_default();
    if !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(choice)) {
        return error(format!("Value must match regex {pattern} got {choice}."));
    }
    Vec::new()
}

/// Spec: `DynamicGroup.clean` (in `crate::dynamic_group`).
pub(super) fn group_rules(
    object: &Object,
    before: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    crate::dynamic_group::group_rules(object, before)
}

/// Spec: `DynamicGroupMembership.clean` (in `crate::dynamic_group`).
pub(super) fn membership_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::dynamic_group::membership_rules(object, related)
}

/// Spec: `StaticGroupAssociation.clean` (in `crate::dynamic_group`).
pub(super) fn association_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::dynamic_group::association_rules(object, related)
}

/// Spec: `ConfigContext.clean` (in `crate::config_context`).
pub(super) fn config_context_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::config_context::context_rules(object, related)
}

/// Spec: `ConfigContextSchema.clean` (in `crate::config_context`).
pub(super) fn context_schema_rules(
    object: &Object,
    _: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    crate::config_context::schema_rules(object)
}

/// Spec: `ConfigContextModel.clean`: a device's or virtual machine's local context data.
pub(super) fn local_context_rules(
    object: &Object,
    _: Option<&Object>,
    related: &Related,
) -> Vec<ValidationError> {
    crate::config_context::local_rules(object, related)
}

/// A replay is a range of the log, named once (`crate::webhook`).
pub(super) fn replay_rules(
    object: &Object,
    before: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    crate::webhook::replay_rules(object, before)
}

/// Spec: nautobot/ipam/models.py `IPAddress.clean` (the host never changes).
pub(super) fn address_rules(
    object: &Object,
    before: Option<&Object>,
    _: &Related,
) -> Vec<ValidationError> {
    match before {
        Some(before) if before.get("host") != object.get("host") => {
            vec![ValidationError::new("address", "Host address cannot be changed once created.")]
        }
        _ => Vec::new(),
    }
}
