//! The object a computed field's template sees (`obj`), built from the columns and child
//! levels the plan read for it (`Out::Rendered`): attributes by name as
//! `domain::computed_field` makes them, in the order of the template's tree.

use std::collections::BTreeMap;

use ferrobot_domain::computed_field::{manager, object, value, Value};
use ferrobot_domain::request::{Select, SelectedKind};
use ferrobot_domain::value::ip_from_bytes;
use ferrobot_persistence::query::{Level, Out, Plan, Render};
use ferrobot_persistence::Cell;

/// Row `row` of `level` as the object `select` (a template's tree, or a level of it) describes;
/// `outs` are the plan's outputs for its fields, one each, in order.
pub(crate) fn build(
    select: &Select,
    outs: &[Out],
    plan: &Plan,
    level: &Level,
    row: usize,
) -> Value {
    let own = level.own(row);
    let mut attrs = BTreeMap::new();
    for (field, out) in select.fields.iter().zip(outs) {
        let v = match out {
            Out::Column { col, render, .. } => cell(&own[*col], *render),
            Out::Computed { cols, .. } => match (&own[cols[0]], &own[cols[1]]) {
                (Cell::Bytes(b), Cell::Int(len)) => match ip_from_bytes(b) {
                    Some(ip) => Value::from(format!("{ip}/{len}")),
                    None => Value::from(()),
                },
                _ => Value::from(()),
            },
            Out::CustomFieldData { col, .. } => cell(&own[*col], Render::Json),
            Out::Relation { child, list, link, .. } => {
                let SelectedKind::Relation { child: below, .. } = &field.kind else { continue };
                let (_, child_plan) = &plan.children[*child];
                let child_level = &level.children[*child];
                let range = child_level.rows_of(own[*link].as_uuid());
                let at = |r| build(below, &child_plan.outs, child_plan, child_level, r);
                match (range, *list) {
                    (Some((start, end)), true) => manager((start..end).map(at).collect()),
                    (None, true) => manager(Vec::new()),
                    (Some((start, _)), false) => at(start),
                    (None, false) => Value::from(()),
                }
            }
            _ => Value::from(()),
        };
        attrs.insert(field.key.clone(), v);
    }
    object(attrs)
}

/// A column as the template sees it: JSON text parsed, a float's text as a number, anything
/// else as stored (a choice as its value, not graphene's enum name).
fn cell(c: &Cell, render: Render) -> Value {
    match (c, render) {
        (Cell::Text(t), Render::Json) => match serde_json::from_str::<serde_json::Value>(t) {
            Ok(json) => Value::from_serialize(&json),
            Err(_) => Value::from(()),
        },
        (Cell::Text(t), Render::Number) => match t.parse::<f64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(()),
        },
        _ => value(c),
    }
}
