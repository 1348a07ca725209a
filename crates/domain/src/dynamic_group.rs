//! Nautobot's dynamic groups as plain data: what kind a group is, its members as set algebra
//! over the member model's rows ([`Members`]: a filter, static associations, or child groups
//! combined in weight order), and the rules of `DynamicGroup.clean`,
//! `DynamicGroupMembership.clean` and `StaticGroupAssociation.clean`.
//!
//! Membership is never stored: the store compiles [`Members`] into one SQL condition when a
//! read asks (a group's `filter` through the member model's own filters), so a group is
//! always current, whatever changed since it was written (Nautobot caches members and
//! refreshes them when the group is saved or a job asks).
//!
//! Spec: nautobot/extras/models/groups.py (`DynamicGroup.generate_query`,
//! `_perform_membership_set_operation`, the `clean` methods).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::error::ValidationError;
use crate::row::{Related, Row};

/// The group model (Nautobot's `DynamicGroup`).
pub const GROUP: &str = "extras.dynamicgroup";
/// A child group's place in its parent (`DynamicGroupMembership`).
pub const MEMBERSHIP: &str = "extras.dynamicgroupmembership";
/// An object held by a static group (`StaticGroupAssociation`).
pub const ASSOCIATION: &str = "extras.staticgroupassociation";

/// The fields the store reads of a group, a membership and an association.
pub mod fields {
    pub const GROUP_TYPE: &str = "group_type";
    pub const CONTENT_TYPE: &str = "content_type";
    pub const FILTER: &str = "filter";
    pub const NAME: &str = "name";
    pub const PARENT: &str = "parent_group";
    pub const CHILD: &str = "group";
    pub const OPERATOR: &str = "operator";
    pub const WEIGHT: &str = "weight";
    pub const ASSOCIATED_GROUP: &str = "dynamic_group";
    pub const ASSOCIATED_TYPE: &str = "associated_object_type";
    pub const ASSOCIATED_ID: &str = "associated_object_id";
}

/// How a group defines its members (`group_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `dynamic-filter`: the member model's rows its `filter` matches.
    Filter,
    /// `dynamic-set`: its child groups combined.
    Set,
    /// `static`: the objects associated with it.
    Static,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "dynamic-filter" => Some(Kind::Filter),
            "dynamic-set" => Some(Kind::Set),
            "static" => Some(Kind::Static),
            _ => None,
        }
    }
}

/// How a child group's members combine with those of the children before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Union,
    Intersection,
    Difference,
}

impl Operator {
    pub fn parse(text: &str) -> Option<Operator> {
        match text {
            "union" => Some(Operator::Union),
            "intersection" => Some(Operator::Intersection),
            "difference" => Some(Operator::Difference),
            _ => None,
        }
    }
}

/// A group as membership needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    /// The label of the member model (`dcim.device`).
    pub content_type: String,
    pub kind: Kind,
    pub filter: serde_json::Value,
    /// Child groups in the order they apply: by weight, then by name.
    pub children: Vec<(Operator, Uuid)>,
}

/// A group's members as set algebra over the member model's rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Members {
    /// Every row (a filter with no arguments, a set with no children).
    All,
    /// No row (a cycle, a missing child, a child of another model).
    Nothing,
    /// The rows the filter of this group matches.
    Filter(Uuid),
    /// The rows associated with this static group.
    Static(Uuid),
    Not(Box<Members>),
    And(Vec<Members>),
    Or(Vec<Members>),
}

/// How deep groups of groups nest: a group further down holds nothing (each level of a
/// difference is a subquery, and databases refuse statements nested too deep).
pub const MAX_DEPTH: usize = 32;

/// A group's members: its filter, its static associations, or its children applied in order
/// (union: or, intersection: and, difference: and not), the first one starting the set.
/// `groups` holds every group by id. Cycles the write path refused are guarded against
/// anyway: a group met again below itself holds nothing.
pub fn members(groups: &HashMap<Uuid, Group>, id: Uuid) -> Members {
    fn walk(groups: &HashMap<Uuid, Group>, id: Uuid, path: &mut HashSet<Uuid>) -> Members {
        let Some(group) = groups.get(&id) else { return Members::Nothing };
        if path.len() >= MAX_DEPTH || !path.insert(id) {
            return Members::Nothing;
        }
        let found = match group.kind {
            Kind::Static => Members::Static(id),
            Kind::Filter if group.filter.as_object().is_some_and(|m| !m.is_empty()) => {
                Members::Filter(id)
            }
            Kind::Filter => Members::All,
            Kind::Set => {
                let mut set: Option<Members> = None;
                for (operator, child) in &group.children {
                    let next = match groups.get(child) {
                        Some(c) if c.content_type == group.content_type => {
                            walk(groups, *child, path)
                        }
                        _ => Members::Nothing,
                    };
                    set = Some(match (set, operator) {
                        (None, Operator::Difference) => Members::All.without(next),
                        (None, _) => next,
                        (Some(set), Operator::Union) => set.or(next),
                        (Some(set), Operator::Intersection) => set.and(next),
                        (Some(set), Operator::Difference) => set.without(next),
                    });
                }
                set.unwrap_or(Members::All)
            }
        };
        path.remove(&id);
        found
    }
    walk(groups, id, &mut HashSet::new())
}

impl Members {
    fn or(self, other: Members) -> Members {
        match (self, other) {
            (Members::All, _) | (_, Members::All) => Members::All,
            (Members::Nothing, x) | (x, Members::Nothing) => x,
            (Members::Or(mut a), b) => {
                a.push(b);
                Members::Or(a)
            }
            (a, b) => Members::Or(vec![a, b]),
        }
    }

    fn and(self, other: Members) -> Members {
        match (self, other) {
            (Members::Nothing, _) | (_, Members::Nothing) => Members::Nothing,
            (Members::All, x) | (x, Members::All) => x,
            (Members::And(mut a), b) => {
                a.push(b);
                Members::And(a)
            }
            (a, b) => Members::And(vec![a, b]),
        }
    }

    fn without(self, other: Members) -> Members {
        match other {
            Members::Nothing => self,
            Members::All => Members::Nothing,
            other => self.and(Members::Not(Box::new(other))),
        }
    }

    /// The filter groups whose filters the set needs compiled.
    pub fn filters(&self) -> Vec<Uuid> {
        let mut out = Vec::new();
        self.each(&mut |m| {
            if let Members::Filter(id) = m {
                out.push(*id)
            }
        });
        out
    }

    fn each(&self, f: &mut impl FnMut(&Members)) {
        f(self);
        match self {
            Members::Not(inner) => inner.each(f),
            Members::And(items) | Members::Or(items) => items.iter().for_each(|i| i.each(f)),
            _ => {}
        }
    }
}

/// Spec: `DynamicGroup.clean_filter` and `DynamicGroup.clean`. The filter's arguments are
/// checked against the member model's filters by the write path, which knows the catalogue.
pub fn group_rules(object: &Row, before: Option<&Row>) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let filter = object.json(fields::FILTER);
    match filter {
        None | Some(serde_json::Value::Object(_)) => {}
        Some(_) => errors.push(ValidationError::new(fields::FILTER, "Filter must be a dict")),
    }
    let kind = object.text(fields::GROUP_TYPE).and_then(Kind::parse);
    let has_filter = filter.and_then(|f| f.as_object()).is_some_and(|m| !m.is_empty());
    if kind.is_some_and(|k| k != Kind::Filter) && has_filter {
        errors.push(ValidationError::new(
            fields::FILTER,
            "Filter can only be set for groups of type `dynamic-filter`.",
        ));
    }
    if let Some(before) = before {
        if before.text(fields::CONTENT_TYPE) != object.text(fields::CONTENT_TYPE) {
            errors.push(ValidationError::new(
                fields::CONTENT_TYPE,
                "ContentType cannot be changed once created",
            ));
        }
    }
    errors
}

/// Spec: `DynamicGroupMembership.clean` (the ancestor check is the write path's: it walks
/// the stored memberships).
pub fn membership_rules(object: &Row, related: &Related) -> Vec<ValidationError> {
    let (Some(parent), Some(child)) =
        (related.rows.get(fields::PARENT), related.rows.get(fields::CHILD))
    else {
        return Vec::new();
    };
    let kind = |g: &Row| g.text(fields::GROUP_TYPE).and_then(Kind::parse);
    let mut errors = Vec::new();
    if kind(parent) != Some(Kind::Set) {
        errors.push(ValidationError::new(
            fields::PARENT,
            "A parent group must be of `group_type` `\"dynamic-set\"`.",
        ));
    }
    if kind(child) == Some(Kind::Static) {
        errors.push(ValidationError::new(
            fields::CHILD,
            "Groups of `group_type` `\"static\"` may not be child groups at this time.",
        ));
    }
    if parent.text(fields::CONTENT_TYPE) != child.text(fields::CONTENT_TYPE) {
        errors.push(ValidationError::new(
            fields::CHILD,
            "ContentType for group and parent_group must match",
        ));
    }
    if object.uuid(fields::PARENT).is_some()
        && object.uuid(fields::PARENT) == object.uuid(fields::CHILD)
    {
        errors.push(ValidationError::new(fields::CHILD, "Cannot add group as a child of itself"));
    }
    errors
}

/// Spec: `StaticGroupAssociation.clean`. Ferrobot's own rule besides: only a static group
/// takes associations (Nautobot keeps its cache of other groups' members in the same table;
/// Ferrobot computes those, so an association of another group would mean nothing).
pub fn association_rules(object: &Row, related: &Related) -> Vec<ValidationError> {
    let Some(group) = related.rows.get(fields::ASSOCIATED_GROUP) else { return Vec::new() };
    let mut errors = Vec::new();
    if group.text(fields::CONTENT_TYPE) != object.text(fields::ASSOCIATED_TYPE) {
        errors.push(ValidationError::new(
            fields::ASSOCIATED_TYPE,
            "Must match the dynamic_group.content_type",
        ));
    }
    if group.text(fields::GROUP_TYPE).and_then(Kind::parse) != Some(Kind::Static) {
        errors.push(ValidationError::new(
            fields::ASSOCIATED_GROUP,
            "Only groups of `group_type` `\"static\"` have static group associations.",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Datum;
    use serde_json::json;

    fn group(
        n: u128,
        kind: Kind,
        filter: serde_json::Value,
        children: &[(Operator, u128)],
    ) -> Group {
        Group {
            id: Uuid::from_u128(n),
            name: format!("g{n}"),
            content_type: "dcim.device".into(),
            kind,
            filter,
            children: children.iter().map(|(o, c)| (*o, Uuid::from_u128(*c))).collect(),
        }
    }

    fn set(groups: Vec<Group>) -> HashMap<Uuid, Group> {
        groups.into_iter().map(|g| (g.id, g)).collect()
    }

    fn f(n: u128) -> Members {
        Members::Filter(Uuid::from_u128(n))
    }

    /// Spec: `DynamicGroup._perform_membership_set_operation` over the children in weight
    /// order, the first child starting the set (a difference first: everything but it).
    #[test]
    fn set_algebra() {
        use Operator::*;
        let leaf = |n| group(n, Kind::Filter, json!({"name": ["x"]}), &[]);
        let cases: Vec<(&[(Operator, u128)], Members)> = vec![
            (&[], Members::All),
            (&[(Union, 1)], f(1)),
            (&[(Intersection, 1)], f(1)),
            (&[(Difference, 1)], Members::Not(Box::new(f(1)))),
            (&[(Union, 1), (Union, 2)], Members::Or(vec![f(1), f(2)])),
            (&[(Union, 1), (Intersection, 2)], Members::And(vec![f(1), f(2)])),
            (
                &[(Union, 1), (Union, 2), (Difference, 3)],
                Members::And(vec![Members::Or(vec![f(1), f(2)]), Members::Not(Box::new(f(3)))]),
            ),
            // An empty filter holds every row: a union with it is everything.
            (&[(Union, 1), (Union, 4)], Members::All),
            (&[(Union, 1), (Difference, 4)], Members::Nothing),
            // A missing child holds nothing.
            (&[(Union, 1), (Union, 99)], f(1)),
        ];
        for (children, want) in cases {
            let groups = set(vec![
                leaf(1),
                leaf(2),
                leaf(3),
                group(4, Kind::Filter, json!({}), &[]),
                group(10, Kind::Set, json!({}), children),
            ]);
            assert_eq!(members(&groups, Uuid::from_u128(10)), want, "{children:?}");
        }
    }

    #[test]
    fn nested_sets_static_children_and_cycles() {
        use Operator::*;
        let groups = set(vec![
            group(1, Kind::Filter, json!({"name": ["x"]}), &[]),
            group(2, Kind::Static, json!({}), &[]),
            group(3, Kind::Set, json!({}), &[(Union, 1), (Union, 2)]),
            group(4, Kind::Set, json!({}), &[(Union, 3), (Difference, 1)]),
            // A cycle written around the rules: the group met again holds nothing.
            group(5, Kind::Set, json!({}), &[(Union, 1), (Union, 6)]),
            group(6, Kind::Set, json!({}), &[(Union, 5)]),
        ]);
        let s2 = Members::Static(Uuid::from_u128(2));
        assert_eq!(
            members(&groups, Uuid::from_u128(4)),
            Members::And(vec![Members::Or(vec![f(1), s2]), Members::Not(Box::new(f(1)))])
        );
        assert_eq!(members(&groups, Uuid::from_u128(5)), f(1));
        assert_eq!(members(&groups, Uuid::from_u128(6)), f(1));
        assert_eq!(members(&groups, Uuid::from_u128(4)).filters().len(), 2);
    }

    /// A chain of groups of groups deeper than `MAX_DEPTH` holds nothing below the limit.
    #[test]
    fn depth_is_bounded() {
        let n = MAX_DEPTH as u128 + 10;
        let mut all = vec![group(0, Kind::Filter, json!({"name": ["x"]}), &[])];
        for i in 1..=n {
            all.push(group(i, Kind::Set, json!({}), &[(Operator::Union, i - 1)]));
        }
        let groups = set(all);
        assert_eq!(members(&groups, Uuid::from_u128(n)), Members::Nothing);
        assert_eq!(members(&groups, Uuid::from_u128(MAX_DEPTH as u128 - 1)), f(0));
    }

    /// A row from JSON values: strings that are UUIDs become references, other strings
    /// text, objects and lists JSON.
    fn row(pairs: &[(&str, serde_json::Value)]) -> Row {
        let mut row = Row::new();
        for (name, value) in pairs {
            let datum = match value {
                serde_json::Value::String(s) => match Uuid::parse_str(s) {
                    Ok(u) => Datum::Uuid(u),
                    Err(_) => Datum::Text(s.as_str().into()),
                },
                other => Datum::Json(Box::new(other.clone())),
            };
            row.set(*name, datum);
        }
        row
    }

    fn row_of(object: &serde_json::Value) -> Row {
        let pairs: Vec<(&str, serde_json::Value)> = object
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        row(&pairs)
    }

    /// Spec: `DynamicGroup.clean_filter`, `DynamicGroup.clean`.
    #[test]
    fn group_rules_table() {
        let cases = [
            (json!({"group_type": "dynamic-filter", "filter": {"name": ["a"]}}), None),
            (json!({"group_type": "dynamic-filter", "filter": []}), Some("Filter must be a dict")),
            (
                json!({"group_type": "static", "filter": {"name": ["a"]}}),
                Some("Filter can only be set for groups of type `dynamic-filter`."),
            ),
            (json!({"group_type": "dynamic-set", "filter": {}}), None),
        ];
        for (object, want) in cases {
            let object = row_of(&object);
            let got = group_rules(&object, None);
            assert_eq!(got.first().map(|e| e.message.as_str()), want, "{object:?}");
        }
        let before = row(&[("content_type", json!("dcim.device"))]);
        let after = row(&[("content_type", json!("dcim.interface"))]);
        assert_eq!(
            group_rules(&after, Some(&before))[0].message,
            "ContentType cannot be changed once created"
        );
    }

    /// Spec: `DynamicGroupMembership.clean`.
    #[test]
    fn membership_rules_table() {
        let g =
            |kind: &str, ct: &str| row(&[("group_type", json!(kind)), ("content_type", json!(ct))]);
        let cases = [
            (g("dynamic-set", "dcim.device"), g("dynamic-filter", "dcim.device"), None),
            (
                g("dynamic-filter", "dcim.device"),
                g("dynamic-filter", "dcim.device"),
                Some("A parent group must be of `group_type` `\"dynamic-set\"`."),
            ),
            (
                g("dynamic-set", "dcim.device"),
                g("static", "dcim.device"),
                Some("Groups of `group_type` `\"static\"` may not be child groups at this time."),
            ),
            (
                g("dynamic-set", "dcim.device"),
                g("dynamic-filter", "dcim.interface"),
                Some("ContentType for group and parent_group must match"),
            ),
        ];
        let object = row(&[
            ("parent_group", json!(Uuid::from_u128(1).to_string())),
            ("group", json!(Uuid::from_u128(2).to_string())),
        ]);
        for (parent, child, want) in cases {
            let mut related = Related::default();
            related.rows.insert(fields::PARENT, parent);
            related.rows.insert(fields::CHILD, child);
            let got = membership_rules(&object, &related);
            assert_eq!(got.first().map(|e| e.message.as_str()), want);
        }
        let same = row(&[
            ("parent_group", json!(Uuid::from_u128(1).to_string())),
            ("group", json!(Uuid::from_u128(1).to_string())),
        ]);
        let mut related = Related::default();
        related.rows.insert(fields::PARENT, g("dynamic-set", "dcim.device"));
        related.rows.insert(fields::CHILD, g("dynamic-set", "dcim.device"));
        assert_eq!(
            membership_rules(&same, &related)[0].message,
            "Cannot add group as a child of itself"
        );
    }

    /// Spec: `StaticGroupAssociation.clean`.
    #[test]
    fn association_rules_table() {
        let object = row(&[("associated_object_type", json!("dcim.device"))]);
        let check = |kind: &str, ct: &str| {
            let mut related = Related::default();
            related.rows.insert(
                fields::ASSOCIATED_GROUP,
                row(&[("group_type", json!(kind)), ("content_type", json!(ct))]),
            );
            association_rules(&object, &related).into_iter().map(|e| e.message).collect::<Vec<_>>()
        };
        assert!(check("static", "dcim.device").is_empty());
        assert_eq!(
            check("static", "dcim.interface"),
            ["Must match the dynamic_group.content_type"]
        );
        assert_eq!(
            check("dynamic-filter", "dcim.device"),
            ["Only groups of `group_type` `\"static\"` have static group associations."]
        );
    }
}
