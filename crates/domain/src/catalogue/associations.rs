//! A relationship's associations as a relation of the catalogue's kind: the through table the
//! planner reads for a `rel_<key>` field and a `cr_<key>__<side>` filter.

use super::{Catalogue, Relation, RelationShape};
use crate::relationship::{fields, End, Relationship, Side, ASSOCIATION};
use crate::value::Datum;

impl Catalogue {
    /// The relation from an object at `end` of `relationship` to the objects at the other end:
    /// rows of the association model holding the relationship's id, from the object's id column
    /// to the peer's (either way for a symmetric relationship). `None` when the catalogue has
    /// no association model or no model at the other end.
    pub fn association_relation(&self, relationship: &Relationship, end: &End) -> Option<Relation> {
        let associations = self.by_label(ASSOCIATION)?;
        let target = self.by_label(&end.peer)?.id;
        let column = |name: &str| associations.field(name).and_then(|(_, f)| f.column.clone());
        let (near, far) = match end.side {
            Side::Destination => (fields::DESTINATION_ID, fields::SOURCE_ID),
            Side::Source | Side::Peer => (fields::SOURCE_ID, fields::DESTINATION_ID),
        };
        Some(Relation {
            name: end.field.clone(),
            target,
            shape: RelationShape::Through {
                table: associations.table.clone(),
                source_column: column(near)?,
                target_column: column(far)?,
                content_type: None,
                conditions: vec![(column(fields::RELATIONSHIP)?, Datum::Uuid(relationship.id))],
                single: !end.many,
                both_ways: end.side == Side::Peer,
            },
            union: None,
            alternatives: Vec::new(),
        })
    }
}
