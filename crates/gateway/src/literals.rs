//! Argument literals checked against their types as graphql-core 3.2's `ValuesOfCorrectType`
//! rule checks them, in its words and at its places: every bad literal of an argument, located
//! where the literal starts (`String cannot represent a non string value: 1` at the `1` inside
//! the list), where async-graphql reports the first one at the argument's name.

use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::Positioned;

use crate::suggest::{did_you_mean, suggestion_list, Worded};
use crate::syntax::{Literal, LiteralValue};

/// The errors of the argument whose name is at `line`:`column`, or `None` when that place
/// holds no argument this check can type (the caller keeps async-graphql's words then).
pub(crate) fn argument_errors(
    registry: &Registry,
    document: &ExecutableDocument,
    source: &str,
    line: usize,
    column: usize,
) -> Option<Vec<Worded>> {
    let ty = argument_type(registry, document, line, column)?;
    let (_, literal) = crate::syntax::argument_at(source, line, column)?;
    let mut errors = Vec::new();
    check(registry, &literal, &ty, &mut errors);
    Some(errors)
}

/// Checks `literal` where type `ty` is expected (`ty` as written: `[String]`, `Int!`).
fn check(registry: &Registry, literal: &Literal, ty: &str, errors: &mut Vec<Worded>) {
    let mut report = |message: String| {
        errors.push(Worded { message, locations: vec![(literal.line, literal.column)] })
    };
    if let LiteralValue::Variable(_) = literal.value {
        return;
    }
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => match literal.value {
            LiteralValue::Null => {
                report(format!("Expected value of type '{ty}', found null."));
            }
            _ => check_named_or_list(registry, literal, inner, ty, errors),
        },
        _ => check_named_or_list(registry, literal, ty, ty, errors),
    }
}

/// `ty` without its `!`; `full` the type as the position states it (what messages name).
fn check_named_or_list(
    registry: &Registry,
    literal: &Literal,
    ty: &str,
    full: &str,
    errors: &mut Vec<Worded>,
) {
    if let LiteralValue::Null = literal.value {
        return;
    }
    if let MetaTypeName::List(item) = MetaTypeName::create(ty) {
        match &literal.value {
            LiteralValue::List(items) => {
                items.iter().for_each(|i| check(registry, i, item, errors))
            }
            // One value where a list is expected: checked as an item (input coercion).
            _ => check(registry, literal, item, errors),
        }
        return;
    }
    let at = vec![(literal.line, literal.column)];
    let mut report = |message: String| errors.push(Worded { message, locations: at.clone() });
    let printed = literal.printed();
    let expected = || format!("Expected value of type '{full}', found {printed}.");
    match registry.types.get(ty) {
        Some(MetaType::InputObject { input_fields, name, .. }) => {
            let LiteralValue::Object(fields) = &literal.value else {
                report(expected());
                return;
            };
            for (field, meta) in input_fields {
                let given = fields.iter().any(|(k, ..)| k == field);
                if !given && meta.ty.ends_with('!') && meta.default_value.is_none() {
                    report(format!(
                        "Field '{name}.{field}' of required type '{}' was not provided.",
                        meta.ty
                    ));
                }
            }
            for (key, line, column, value) in fields {
                match input_fields.get(key) {
                    Some(meta) => check(registry, value, &meta.ty, errors),
                    None => {
                        let known = input_fields.keys().map(String::as_str);
                        errors.push(Worded {
                            message: format!(
                                "Field '{key}' is not defined by type '{name}'.{}",
                                did_you_mean(&suggestion_list(key, known), None)
                            ),
                            locations: vec![(*line, *column)],
                        });
                    }
                }
            }
        }
        Some(MetaType::Enum { enum_values, name, .. }) => {
            let values = || enum_values.keys().map(String::as_str);
            match &literal.value {
                LiteralValue::Enum(v) if enum_values.contains_key(v.as_str()) => {}
                LiteralValue::Enum(v) => report(format!(
                    "Value '{v}' does not exist in '{name}' enum.{}",
                    did_you_mean(&suggestion_list(v, values()), Some("the enum value"))
                )),
                _ => report(format!(
                    "Enum '{name}' cannot represent non-enum value: {printed}.{}",
                    did_you_mean(&suggestion_list(&printed, values()), Some("the enum value"))
                )),
            }
        }
        Some(MetaType::Scalar { is_valid, .. }) => {
            let v = &literal.value;
            let message = match ty {
                "Int" => match v {
                    LiteralValue::Int(text) if text.parse::<i32>().is_ok() => None,
                    LiteralValue::Int(_) => Some(format!(
                        "Int cannot represent non 32-bit signed integer value: {printed}"
                    )),
                    _ => Some(format!("Int cannot represent non-integer value: {printed}")),
                },
                "Float" => match v {
                    LiteralValue::Int(_) | LiteralValue::Float(_) => None,
                    _ => Some(format!("Float cannot represent non numeric value: {printed}")),
                },
                "String" => match v {
                    LiteralValue::String(_) => None,
                    _ => Some(format!("String cannot represent a non string value: {printed}")),
                },
                "Boolean" => match v {
                    LiteralValue::Boolean(_) => None,
                    _ => Some(format!("Boolean cannot represent a non boolean value: {printed}")),
                },
                "ID" => match v {
                    LiteralValue::String(_) | LiteralValue::Int(_) => None,
                    _ => Some(format!(
                        "ID cannot represent a non-string and non-integer value: {printed}"
                    )),
                },
                // graphene's own scalars (BigInt, Date, UUID …): a literal they cannot read.
                _ => match (is_valid, to_value(literal)) {
                    (Some(valid), Some(value)) if !valid(&value) => Some(expected()),
                    _ => None,
                },
            };
            if let Some(message) = message {
                report(message);
            }
        }
        _ => {}
    }
}

/// A literal as async-graphql's value, for a custom scalar's own check.
fn to_value(literal: &Literal) -> Option<async_graphql::Value> {
    use async_graphql::Value;
    Some(match &literal.value {
        LiteralValue::Int(t) | LiteralValue::Float(t) => {
            Value::Number(serde_json::from_str::<serde_json::Number>(t).ok()?)
        }
        LiteralValue::String(s) => Value::String(s.clone()),
        LiteralValue::Boolean(b) => Value::Boolean(*b),
        LiteralValue::Null => Value::Null,
        LiteralValue::Enum(e) => Value::Enum(async_graphql::Name::new(e)),
        LiteralValue::Variable(_) => return None,
        LiteralValue::List(items) => {
            Value::List(items.iter().map(to_value).collect::<Option<Vec<_>>>()?)
        }
        LiteralValue::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, _, _, v)| Some((async_graphql::Name::new(k), to_value(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// The type of the argument whose name is at `line`:`column` of the document.
fn argument_type(
    registry: &Registry,
    document: &ExecutableDocument,
    line: usize,
    column: usize,
) -> Option<String> {
    let finder = Finder { registry, line, column };
    for (_, operation) in document.operations.iter() {
        let root = match operation.node.ty {
            OperationType::Query => registry.query_type.as_str(),
            OperationType::Mutation => registry.mutation_type.as_deref()?,
            OperationType::Subscription => registry.subscription_type.as_deref()?,
        };
        if let Some(ty) = finder
            .directives(&operation.node.directives)
            .or_else(|| finder.set(&operation.node.selection_set.node, root, 0))
        {
            return Some(ty);
        }
    }
    for fragment in document.fragments.values() {
        let on = fragment.node.type_condition.node.on.node.as_str();
        if let Some(ty) = finder
            .directives(&fragment.node.directives)
            .or_else(|| finder.set(&fragment.node.selection_set.node, on, 0))
        {
            return Some(ty);
        }
    }
    None
}

struct Finder<'r> {
    registry: &'r Registry,
    line: usize,
    column: usize,
}

impl Finder<'_> {
    fn here(&self, pos: async_graphql::Pos) -> bool {
        pos.line == self.line && pos.column == self.column
    }

    fn directives(&self, directives: &[Positioned<Directive>]) -> Option<String> {
        for directive in directives {
            for (name, _) in &directive.node.arguments {
                if self.here(name.pos) {
                    let meta = self.registry.directives.get(directive.node.name.node.as_str())?;
                    return meta.args.get(name.node.as_str()).map(|a| a.ty.clone());
                }
            }
        }
        None
    }

    fn set(&self, set: &SelectionSet, parent: &str, depth: usize) -> Option<String> {
        // The parser bounds nesting; this bound only keeps the walk from trusting it.
        if depth > 256 {
            return None;
        }
        for item in &set.items {
            let found = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let meta = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(&field.name.node));
                    let argument = field.arguments.iter().find(|(name, _)| self.here(name.pos));
                    if let Some((name, _)) = argument {
                        return meta?.args.get(name.node.as_str()).map(|a| a.ty.clone());
                    }
                    self.directives(&field.directives).or_else(|| {
                        let inner = MetaTypeName::concrete_typename(&meta?.ty);
                        self.set(&field.selection_set.node, inner, depth + 1)
                    })
                }
                Selection::FragmentSpread(spread) => self.directives(&spread.node.directives),
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    self.directives(&inline.node.directives).or_else(|| {
                        self.set(&inline.node.selection_set.node, on.unwrap_or(parent), depth + 1)
                    })
                }
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}
