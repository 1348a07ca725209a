//! User-defined relationships (Nautobot's `extras.relationship` and
//! `extras.relationshipassociation`) as plain data: a relationship's kind and sides, the fields
//! and filters it gives the models at its ends (`rel_<key>`, `cr_<key>__<side>`), and the rules
//! of `Relationship.clean` and `RelationshipAssociation.clean` with Nautobot's words.
//!
//! A relationship is a row read at run time, as a custom field is: the schema grows its fields
//! within a second of its being written. Its associations are rows of the association model,
//! which the planner reads as a through table (`source_id` → `destination_id`, either way for a
//! symmetric relationship).
//!
//! Spec: nautobot/extras/models/relationships.py.

use serde_json::Value as Json;
use uuid::Uuid;

use crate::row::{Related, Row};
use crate::value::graphql_safe;
use crate::ValidationError;

/// The labels of the two models, named once here (the store reads their rows).
pub const MODEL: &str = "extras.relationship";
pub const ASSOCIATION: &str = "extras.relationshipassociation";

/// The fields of the two models, as the store and the rules read them.
pub mod fields {
    pub const KEY: &str = "key";
    pub const LABEL: &str = "label";
    pub const DESCRIPTION: &str = "description";
    pub const TYPE: &str = "type";
    pub const REQUIRED_ON: &str = "required_on";
    pub const SOURCE_TYPE: &str = "source_type";
    pub const SOURCE_LABEL: &str = "source_label";
    pub const SOURCE_HIDDEN: &str = "source_hidden";
    pub const SOURCE_FILTER: &str = "source_filter";
    pub const DESTINATION_TYPE: &str = "destination_type";
    pub const DESTINATION_LABEL: &str = "destination_label";
    pub const DESTINATION_HIDDEN: &str = "destination_hidden";
    pub const DESTINATION_FILTER: &str = "destination_filter";
    /// An association's relationship, and the ids at its ends.
    pub const RELATIONSHIP: &str = "relationship";
    pub const SOURCE_ID: &str = "source_id";
    pub const DESTINATION_ID: &str = "destination_id";
}

/// The fields of a relationship the store reads, in the order [`Relationship`] is made from them
/// (after the id).
pub const FIELDS: [&str; 13] = [
    fields::KEY,
    fields::LABEL,
    fields::DESCRIPTION,
    fields::TYPE,
    fields::REQUIRED_ON,
    fields::SOURCE_TYPE,
    fields::SOURCE_LABEL,
    fields::SOURCE_HIDDEN,
    fields::SOURCE_FILTER,
    fields::DESTINATION_TYPE,
    fields::DESTINATION_LABEL,
    fields::DESTINATION_HIDDEN,
    fields::DESTINATION_FILTER,
];

/// The feature a model needs to be at an end of a relationship.
pub const FEATURE: &str = "relationships";

/// What the fields of a relationship are named: `rel_<key>` (Nautobot's
/// `GRAPHQL_RELATIONSHIP_PREFIX`), its filters `cr_<key>__<side>`.
pub const FIELD_PREFIX: &str = "rel_";
pub const FILTER_PREFIX: &str = "cr_";

/// The input key of a generated mutation that sets an object's associations (Nautobot's REST
/// `relationships`).
pub const INPUT_KEY: &str = "relationships";

/// A relationship's cardinality. Spec: `RelationshipTypeChoices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OneToOne,
    OneToOneSymmetric,
    OneToMany,
    ManyToMany,
    ManyToManySymmetric,
}

impl Kind {
    pub fn parse(value: &str) -> Option<Kind> {
        Some(match value {
            "one-to-one" => Kind::OneToOne,
            "symmetric-one-to-one" => Kind::OneToOneSymmetric,
            "one-to-many" => Kind::OneToMany,
            "many-to-many" => Kind::ManyToMany,
            "symmetric-many-to-many" => Kind::ManyToManySymmetric,
            _ => return None,
        })
    }

    pub fn symmetric(self) -> bool {
        matches!(self, Kind::OneToOneSymmetric | Kind::ManyToManySymmetric)
    }

    /// Whether `side` can hold several objects for one object at the other end. Spec:
    /// `Relationship.has_many`.
    pub fn has_many(self, side: Side) -> bool {
        match self {
            Kind::ManyToMany | Kind::ManyToManySymmetric => true,
            Kind::OneToOne | Kind::OneToOneSymmetric => false,
            Kind::OneToMany => side == Side::Destination,
        }
    }
}

/// A side of a relationship; `Peer` is either side of a symmetric one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Destination,
    Peer,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
            Side::Peer => "peer",
        }
    }

    pub fn parse(value: &str) -> Option<Side> {
        Some(match value {
            "source" => Side::Source,
            "destination" => Side::Destination,
            "peer" => Side::Peer,
            _ => return None,
        })
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
            Side::Peer => Side::Peer,
        }
    }

    /// The association field holding the object at this side (`Peer` reads as the source).
    pub fn id_field(self) -> &'static str {
        match self {
            Side::Destination => fields::DESTINATION_ID,
            Side::Source | Side::Peer => fields::SOURCE_ID,
        }
    }
}

/// A relationship as defined, in the stored form the schema and the writer use.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub id: Uuid,
    pub key: String,
    pub label: String,
    pub description: String,
    pub kind: Kind,
    /// The side whose objects must have an association, if any.
    pub required_on: Option<Side>,
    pub source_type: String,
    pub destination_type: String,
    pub source_hidden: bool,
    pub destination_hidden: bool,
    /// Filter arguments the objects of each side must match (of that side's model).
    pub source_filter: Option<Json>,
    pub destination_filter: Option<Json>,
}

/// One end of a relationship on a model: where the model stands, what the field and the filter
/// that reach the other end are named, and what stands there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// The side objects of the model are on.
    pub side: Side,
    /// `rel_<key>`, or `rel_<key>_<peer side>` when both sides are this model.
    pub field: String,
    /// `cr_<key>__<peer side>`; `None` on a hidden side (Nautobot adds no filter there).
    pub filter: Option<String>,
    /// The label of the model at the other end.
    pub peer: String,
    /// Whether the other end holds several objects for one of these.
    pub many: bool,
}

impl Relationship {
    /// Reads a stored row (the fields of [`FIELDS`] by name, and `id`).
    pub fn from_row(row: &Row) -> Option<Relationship> {
        let text = |name| row.text(name).unwrap_or_default().to_owned();
        let filter = |name| row.json(name).filter(|j| !j.is_null()).cloned();
        Some(Relationship {
            id: row.id()?,
            key: text(fields::KEY),
            label: text(fields::LABEL),
            description: text(fields::DESCRIPTION),
            kind: Kind::parse(row.text(fields::TYPE)?)?,
            required_on: row.text(fields::REQUIRED_ON).and_then(Side::parse),
            source_type: text(fields::SOURCE_TYPE),
            destination_type: text(fields::DESTINATION_TYPE),
            source_hidden: row.bool(fields::SOURCE_HIDDEN) == Some(true),
            destination_hidden: row.bool(fields::DESTINATION_HIDDEN) == Some(true),
            source_filter: filter(fields::SOURCE_FILTER),
            destination_filter: filter(fields::DESTINATION_FILTER),
        })
    }

    /// The ends a model labelled `label` has: none, one, or two (a relationship that is not
    /// symmetric from a model to itself gives it `rel_<key>_source` and `rel_<key>_destination`).
    /// Spec: nautobot/core/graphql/schema.py `extend_schema_type_relationships`.
    pub fn ends(&self, label: &str) -> Vec<End> {
        let mut ends = Vec::new();
        if self.kind.symmetric() {
            if self.source_type == label {
                ends.push(self.end(Side::Peer, label, false));
            }
            return ends;
        }
        let same = self.source_type == self.destination_type;
        for side in [Side::Source, Side::Destination] {
            let at = if side == Side::Source { &self.source_type } else { &self.destination_type };
            if at == label {
                ends.push(self.end(side, label, same));
            }
        }
        ends
    }

    fn end(&self, side: Side, label: &str, split: bool) -> End {
        let peer_side = side.opposite();
        let field = match split {
            true => format!("{FIELD_PREFIX}{}_{}", self.key, peer_side.name()),
            false => format!("{FIELD_PREFIX}{}", self.key),
        };
        let hidden = match side {
            Side::Destination => self.destination_hidden,
            Side::Source | Side::Peer => self.source_hidden,
        };
        let peer = match peer_side {
            Side::Destination => self.destination_type.clone(),
            Side::Source => self.source_type.clone(),
            Side::Peer => label.to_owned(),
        };
        End {
            side,
            field,
            filter: (!hidden).then(|| format!("{FILTER_PREFIX}{}__{}", self.key, peer_side.name())),
            peer,
            many: self.kind.has_many(peer_side),
        }
    }

    /// The filter the objects of `side` must match; a symmetric relationship's sides share one.
    pub fn filter_of(&self, side: Side) -> Option<&Json> {
        match side {
            Side::Destination => self.destination_filter.as_ref(),
            Side::Source => self.source_filter.as_ref(),
            Side::Peer => self.source_filter.as_ref().or(self.destination_filter.as_ref()),
        }
    }
}

/// The list of a relationship's associations its rule reads.
pub const ASSOCIATIONS_OF_RELATIONSHIP: &str = "associations";

/// Spec: `Relationship.clean`: a GraphQL-safe key; a symmetric relationship's two sides alike
/// and nothing required; no change of kind or types once it has associations. The filters are
/// checked against their models by the writer (`hooks::FilterField`), the content types against
/// the `relationships` feature.
pub fn relationship_rules(
    object: &Row,
    before: Option<&Row>,
    related: &Related,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if !graphql_safe(object.text(fields::KEY).unwrap_or_default()) {
        errors.push(ValidationError::new(
            fields::KEY,
            "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace",
        ));
    }
    let kind = object.text(fields::TYPE).and_then(Kind::parse);
    if kind.is_some_and(Kind::symmetric) {
        let text = |name| object.text(name).unwrap_or_default();
        if text(fields::SOURCE_TYPE) != text(fields::DESTINATION_TYPE) {
            errors.push(ValidationError::new(
                fields::DESTINATION_TYPE,
                "Must match source_type for a symmetric relationship",
            ));
        }
        // One label, or one filter, given for both sides is taken as both's (Nautobot copies it).
        let (a, b) = (text(fields::SOURCE_LABEL), text(fields::DESTINATION_LABEL));
        if !a.is_empty() && !b.is_empty() && a != b {
            errors.push(ValidationError::new(
                fields::DESTINATION_LABEL,
                "Must match source_label for a symmetric relationship",
            ));
        }
        if object.bool(fields::SOURCE_HIDDEN) != object.bool(fields::DESTINATION_HIDDEN) {
            errors.push(ValidationError::new(
                fields::DESTINATION_HIDDEN,
                "Must match source_hidden for a symmetric relationship",
            ));
        }
        let filter = |name| object.json(name).filter(|j| !j.is_null());
        if let (Some(a), Some(b)) =
            (filter(fields::SOURCE_FILTER), filter(fields::DESTINATION_FILTER))
        {
            if a != b {
                errors.push(ValidationError::new(
                    fields::DESTINATION_FILTER,
                    "Must match source_filter for a symmetric relationship",
                ));
            }
        }
        if !text(fields::REQUIRED_ON).is_empty() {
            errors.push(ValidationError::new(
                fields::REQUIRED_ON,
                "Symmetric relationships cannot be marked as required.",
            ));
        }
    }
    let in_use = !related.list(ASSOCIATIONS_OF_RELATIONSHIP).is_empty();
    if let (Some(before), true) = (before, in_use) {
        let changed = |name| before.get(name) != object.get(name);
        let message = if changed(fields::TYPE) {
            Some("Not supported to change the type of the relationship when some associations are present in the database, delete all associations first before modifying the type.")
        } else if changed(fields::SOURCE_TYPE) {
            Some("Not supported to change the type of the source object when some associations are present in the database, delete all associations first before modifying the source type.")
        } else if changed(fields::DESTINATION_TYPE) {
            Some("Not supported to change the type of the destination object when some associations are present in the database, delete all associations first before modifying the destination type.")
        } else {
            None
        };
        if let Some(message) = message {
            errors.push(ValidationError::new("__all__", message));
        }
    }
    errors
}

/// The lists an association's rule reads: other associations sharing an end with it.
pub mod lists {
    /// Associations whose destination is this one's destination.
    pub const SAME_DESTINATION: &str = "same_destination";
    /// Associations whose source is this one's source.
    pub const SAME_SOURCE: &str = "same_source";
    /// Associations whose destination is this one's source.
    pub const DESTINATION_IS_SOURCE: &str = "destination_is_source";
    /// Associations whose source is this one's destination.
    pub const SOURCE_IS_DESTINATION: &str = "source_is_destination";
}

/// Spec: `RelationshipAssociation.clean`: the ends' types are the relationship's, an object is
/// not associated with itself, a symmetric pair is stored once, and the relationship's
/// cardinality holds. Objects are named by id (the filter restrictions and the objects'
/// existence are checked by the writer, which reads them).
pub fn association_rules(object: &Row, related: &Related) -> Vec<ValidationError> {
    let Some(relationship) = related.row(fields::RELATIONSHIP) else { return Vec::new() };
    let name = relationship.text(fields::LABEL).unwrap_or_default();
    let Some(kind) = relationship.text(fields::TYPE).and_then(Kind::parse) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for (field, of) in
        [(fields::SOURCE_TYPE, "source_type"), (fields::DESTINATION_TYPE, "destination_type")]
    {
        if object.text(field) != relationship.text(field) {
            errors.push(ValidationError::new(
                field,
                format!("{of} has a different value than defined in {name}"),
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let (source, destination) =
        (object.uuid(fields::SOURCE_ID), object.uuid(fields::DESTINATION_ID));
    let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    if object.text(fields::SOURCE_TYPE) == object.text(fields::DESTINATION_TYPE)
        && source == destination
    {
        return vec![ValidationError::new(
            fields::DESTINATION_ID,
            "An object cannot form a RelationshipAssociation with itself",
        )];
    }
    let this = object.id();
    let rel = relationship.id();
    // Other associations of this relationship in a list.
    let others = |list: &str| {
        related
            .list(list)
            .iter()
            .map(|l| &l.row)
            .filter(|r| r.uuid(fields::RELATIONSHIP) == rel && r.id() != this)
            .collect::<Vec<_>>()
    };
    if kind.symmetric() {
        let swapped = others(lists::DESTINATION_IS_SOURCE)
            .iter()
            .any(|r| r.uuid(fields::SOURCE_ID) == destination);
        if swapped {
            return vec![ValidationError::new(
                "__all__",
                format!(
                    "A {name} association already exists between {} and {}",
                    id(source),
                    id(destination)
                ),
            )];
        }
    }
    if matches!(kind, Kind::ManyToMany | Kind::ManyToManySymmetric) {
        return errors;
    }
    if !others(lists::SAME_DESTINATION).is_empty() {
        errors.push(ValidationError::new(
            "destination",
            format!(
                "Unable to create more than one {name} association to {} (destination)",
                id(destination)
            ),
        ));
        return errors;
    }
    if matches!(kind, Kind::OneToOne | Kind::OneToOneSymmetric)
        && !others(lists::SAME_SOURCE).is_empty()
    {
        errors.push(ValidationError::new(
            "source",
            format!(
                "Unable to create more than one {name} association from {} (source)",
                id(source)
            ),
        ));
        return errors;
    }
    if kind == Kind::OneToOneSymmetric {
        if !others(lists::DESTINATION_IS_SOURCE).is_empty() {
            errors.push(ValidationError::new(
                "source",
                format!(
                    "Unable to create more than one {name} association involving {} (peer)",
                    id(source)
                ),
            ));
        } else if !others(lists::SOURCE_IS_DESTINATION).is_empty() {
            errors.push(ValidationError::new(
                "destination",
                format!(
                    "Unable to create more than one {name} association involving {} (peer)",
                    id(destination)
                ),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Listed;
    use crate::value::Datum;

    fn relationship(kind: &str, source: &str, destination: &str) -> Relationship {
        let mut row = Row::new();
        row.set("id", Datum::Uuid(Uuid::from_u128(1)));
        row.set(fields::KEY, Datum::Text("peer".into()));
        row.set(fields::LABEL, Datum::Text("Peer".into()));
        row.set(fields::TYPE, Datum::Text(kind.into()));
        row.set(fields::SOURCE_TYPE, Datum::Text(source.into()));
        row.set(fields::DESTINATION_TYPE, Datum::Text(destination.into()));
        Relationship::from_row(&row).unwrap()
    }

    #[test]
    fn ends_are_named_as_nautobot_names_them() {
        // (type, source, destination, model, [(field, filter, many)])
        type Ends = &'static [(&'static str, &'static str, bool)];
        let table: &[(&str, &str, &str, &str, Ends)] = &[
            (
                "one-to-many",
                "dcim.device",
                "ipam.vlan",
                "dcim.device",
                &[("rel_peer", "cr_peer__destination", true)],
            ),
            (
                "one-to-many",
                "dcim.device",
                "ipam.vlan",
                "ipam.vlan",
                &[("rel_peer", "cr_peer__source", false)],
            ),
            (
                "one-to-one",
                "dcim.device",
                "ipam.vlan",
                "ipam.vlan",
                &[("rel_peer", "cr_peer__source", false)],
            ),
            (
                "many-to-many",
                "dcim.device",
                "ipam.vlan",
                "ipam.vlan",
                &[("rel_peer", "cr_peer__source", true)],
            ),
            ("many-to-many", "dcim.device", "ipam.vlan", "dcim.rack", &[]),
            // From a model to itself: both ends, split.
            (
                "one-to-many",
                "dcim.device",
                "dcim.device",
                "dcim.device",
                &[
                    ("rel_peer_destination", "cr_peer__destination", true),
                    ("rel_peer_source", "cr_peer__source", false),
                ],
            ),
            (
                "symmetric-many-to-many",
                "dcim.device",
                "dcim.device",
                "dcim.device",
                &[("rel_peer", "cr_peer__peer", true)],
            ),
            (
                "symmetric-one-to-one",
                "dcim.device",
                "dcim.device",
                "dcim.device",
                &[("rel_peer", "cr_peer__peer", false)],
            ),
        ];
        for (kind, source, destination, model, want) in table {
            let ends = relationship(kind, source, destination).ends(model);
            let got: Vec<(&str, &str, bool)> = ends
                .iter()
                .map(|e| (e.field.as_str(), e.filter.as_deref().unwrap_or_default(), e.many))
                .collect();
            assert_eq!(got, *want, "{kind} {source} {destination} on {model}");
        }
    }

    fn row(pairs: &[(&str, Datum)]) -> Row {
        let mut r = Row::new();
        for (k, v) in pairs {
            r.set(*k, v.clone());
        }
        r
    }

    fn text(s: &str) -> Datum {
        Datum::Text(s.into())
    }

    fn id(n: u128) -> Datum {
        Datum::Uuid(Uuid::from_u128(n))
    }

    #[test]
    fn relationship_rules_say_what_nautobot_says() {
        let base = |kind: &str| {
            row(&[
                (fields::KEY, text("k")),
                (fields::TYPE, text(kind)),
                (fields::SOURCE_TYPE, text("dcim.device")),
                (fields::DESTINATION_TYPE, text("dcim.device")),
                (fields::SOURCE_HIDDEN, Datum::Bool(false)),
                (fields::DESTINATION_HIDDEN, Datum::Bool(false)),
            ])
        };
        let mut used = Related::default();
        used.lists.insert(ASSOCIATIONS_OF_RELATIONSHIP, vec![Listed::default()]);
        let unused = Related::default();
        let with = |kind: &str, name: &str, value: Datum| {
            let mut r = base(kind);
            r.set(name, value);
            r
        };
        // (object, before, related, field, message)
        let cases: Vec<(Row, Option<Row>, &Related, &str, &str)> = vec![
            (base("many-to-many"), None, &unused, "", ""),
            (with("many-to-many", fields::KEY, text("a-b")), None, &unused, "key", "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace"),
            (with("symmetric-many-to-many", fields::DESTINATION_TYPE, text("ipam.vlan")), None, &unused, "destination_type", "Must match source_type for a symmetric relationship"),
            (with("symmetric-many-to-many", fields::REQUIRED_ON, text("source")), None, &unused, "required_on", "Symmetric relationships cannot be marked as required."),
            (with("symmetric-one-to-one", fields::DESTINATION_HIDDEN, Datum::Bool(true)), None, &unused, "destination_hidden", "Must match source_hidden for a symmetric relationship"),
            // One label on one side is both sides' label.
            (with("symmetric-one-to-one", fields::SOURCE_LABEL, text("peers")), None, &unused, "", ""),
            (base("one-to-many"), Some(base("many-to-many")), &used, "__all__", "Not supported to change the type of the relationship when some associations are present in the database, delete all associations first before modifying the type."),
            (base("one-to-many"), Some(base("many-to-many")), &unused, "", ""),
            (with("many-to-many", fields::SOURCE_TYPE, text("ipam.vlan")), Some(base("many-to-many")), &used, "__all__", "Not supported to change the type of the source object when some associations are present in the database, delete all associations first before modifying the source type."),
        ];
        for (object, before, related, field, message) in cases {
            let errors = relationship_rules(&object, before.as_ref(), related);
            if field.is_empty() {
                assert!(errors.is_empty(), "{errors:?}");
                continue;
            }
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!((errors[0].field.as_str(), errors[0].message.as_str()), (field, message));
        }
    }

    #[test]
    fn associations_hold_the_cardinality() {
        let rel = |kind: &str| {
            row(&[
                ("id", id(1)),
                (fields::LABEL, text("Uplink")),
                (fields::TYPE, text(kind)),
                (fields::SOURCE_TYPE, text("dcim.device")),
                (fields::DESTINATION_TYPE, text("dcim.device")),
            ])
        };
        let assoc = |n: u128, source: u128, destination: u128| {
            row(&[
                ("id", id(n)),
                (fields::RELATIONSHIP, id(1)),
                (fields::SOURCE_TYPE, text("dcim.device")),
                (fields::SOURCE_ID, id(source)),
                (fields::DESTINATION_TYPE, text("dcim.device")),
                (fields::DESTINATION_ID, id(destination)),
            ])
        };
        // Lists as the writer reads them for association 100 (source 10, destination 20).
        let related = |kind: &str, stored: &[Row]| {
            let mut r = Related::default();
            r.rows.insert(fields::RELATIONSHIP, rel(kind));
            let pick = |f: &dyn Fn(&Row) -> bool| {
                stored
                    .iter()
                    .filter(|s| f(s))
                    .map(|s| Listed { row: s.clone(), ..Default::default() })
                    .collect()
            };
            let u = |r: &Row, f| r.uuid(f).map(|u| u.as_u128());
            r.lists.insert(
                lists::SAME_DESTINATION,
                pick(&|s| u(s, fields::DESTINATION_ID) == Some(20)),
            );
            r.lists.insert(lists::SAME_SOURCE, pick(&|s| u(s, fields::SOURCE_ID) == Some(10)));
            r.lists.insert(
                lists::DESTINATION_IS_SOURCE,
                pick(&|s| u(s, fields::DESTINATION_ID) == Some(10)),
            );
            r.lists.insert(
                lists::SOURCE_IS_DESTINATION,
                pick(&|s| u(s, fields::SOURCE_ID) == Some(20)),
            );
            r
        };
        let new = assoc(100, 10, 20);
        let d = |n: u128| Uuid::from_u128(n).to_string();
        // (kind, stored associations, field, message)
        let table: Vec<(&str, Vec<Row>, &str, String)> = vec![
            ("many-to-many", vec![assoc(2, 10, 30), assoc(3, 40, 20)], "", String::new()),
            ("one-to-many", vec![assoc(2, 10, 30)], "", String::new()),
            (
                "one-to-many",
                vec![assoc(2, 40, 20)],
                "destination",
                format!(
                    "Unable to create more than one Uplink association to {} (destination)",
                    d(20)
                ),
            ),
            (
                "one-to-one",
                vec![assoc(2, 10, 30)],
                "source",
                format!(
                    "Unable to create more than one Uplink association from {} (source)",
                    d(10)
                ),
            ),
            (
                "symmetric-many-to-many",
                vec![assoc(2, 20, 10)],
                "__all__",
                format!("A Uplink association already exists between {} and {}", d(10), d(20)),
            ),
            (
                "symmetric-one-to-one",
                vec![assoc(2, 30, 10)],
                "source",
                format!(
                    "Unable to create more than one Uplink association involving {} (peer)",
                    d(10)
                ),
            ),
            (
                "symmetric-one-to-one",
                vec![assoc(2, 20, 30)],
                "destination",
                format!(
                    "Unable to create more than one Uplink association involving {} (peer)",
                    d(20)
                ),
            ),
            // The association itself, read back on an update, does not count.
            ("one-to-one", vec![assoc(100, 10, 20)], "", String::new()),
        ];
        for (kind, stored, field, message) in table {
            let errors = association_rules(&new, &related(kind, &stored));
            if field.is_empty() {
                assert!(errors.is_empty(), "{kind}: {errors:?}");
                continue;
            }
            assert_eq!(errors.len(), 1, "{kind}: {errors:?}");
            assert_eq!(
                (errors[0].field.as_str(), errors[0].message.as_str()),
                (field, message.as_str()),
                "{kind}"
            );
        }
        // Types other than the relationship's, and an object with itself.
        let mut wrong = assoc(100, 10, 20);
        wrong.set(fields::DESTINATION_TYPE, text("ipam.vlan"));
        let errors = association_rules(&wrong, &related("many-to-many", &[]));
        assert_eq!(
            errors[0].message,
            "destination_type has a different value than defined in Uplink"
        );
        let errors = association_rules(&assoc(100, 10, 10), &related("many-to-many", &[]));
        assert_eq!(
            errors[0].message,
            "An object cannot form a RelationshipAssociation with itself"
        );
    }
}
