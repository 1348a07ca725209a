//! Query limits, on by default: depth, aliases and an estimated cost, computed on the request
//! trees before any SQL runs. Nautobot has none (its #3007).
//!
//! The cost of a level is its estimated rows times its selected fields; rows are estimated from
//! the row counts the store keeps (refreshed off the request path): a root list is its table (or
//! its `limit`), a forward relation one row per parent, a list relation the parents times the
//! average fan-out (child rows over parent rows, at most its `limit`).

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use ferrobot_domain::catalogue::RelationShape;
use ferrobot_domain::request::{Select, SelectedKind};
use ferrobot_domain::Catalogue;

/// The highest depth limit that may be configured: async-graphql's parser refuses selection sets
/// nested deeper than 64 whatever the limit.
pub const MAX_DEPTH_LIMIT: usize = 60;

/// What one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of objects below a root field (a root field is depth 1).
    pub depth: usize,
    /// The most aliased fields in a document, fragments expanded.
    pub aliases: usize,
    /// The highest estimated cost of a query (rows × selected fields, summed over levels).
    pub cost: u64,
}

impl Default for Limits {
    /// Every real client query we hold passes (the inventory plugin's, the benchmark's query d
    /// at 100,000 devices: about 24 million); the whole inventory under 100 aliases does not.
    fn default() -> Self {
        Limits { depth: 32, aliases: 256, cost: 50_000_000 }
    }
}

/// A request refused by a limit: HTTP 400, before any SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// The figures: what the request asked for, and the limit.
    pub asked: u64,
    pub limit: u64,
}

impl Refusal {
    /// The refusal as one GraphQL error of an HTTP 400 answer written by hand.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "message": self.message,
            "extensions": {"code": self.code, "asked": self.asked, "limit": self.limit},
        })
    }

    pub(crate) fn into_error(self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code);
        extensions.set("asked", self.asked);
        extensions.set("limit", self.limit);
        error.extensions = Some(extensions);
        error
    }
}

pub(crate) fn too_deep(depth: usize, limit: usize) -> Refusal {
    Refusal {
        code: "QUERY_TOO_DEEP",
        message: format!(
            "Query is nested more than {limit} levels deep; at most {limit} are allowed."
        ),
        asked: depth as u64,
        limit: limit as u64,
    }
}

pub(crate) fn too_many_aliases(aliases: usize, limit: usize) -> Refusal {
    Refusal {
        code: "TOO_MANY_ALIASES",
        message: format!("Query has {aliases} aliased fields; at most {limit} are allowed."),
        asked: aliases as u64,
        limit: limit as u64,
    }
}

pub(crate) fn too_costly(cost: u64, limit: u64) -> Refusal {
    Refusal {
        code: "QUERY_TOO_COSTLY",
        message: format!(
            "Query has an estimated cost of {cost} (rows × fields); at most {limit} is allowed. Ask for fewer fields, filter, or page with limit."
        ),
        asked: cost,
        limit,
    }
}

/// A table's row count, as the store last counted it.
pub(crate) type Sizes<'a> = &'a dyn Fn(&str) -> Option<u64>;

/// The most fields a document may select with its fragments expanded (each spread counts the
/// fragment's fields again); checked on the parsed document, before validation walks it.
pub const MAX_FIELDS: u64 = 100_000;

/// Fragment spreads followed inside one another at most: a deeper chain is refused too.
const MAX_SPREAD_DEPTH: usize = 128;

/// The refusal of a document that selects more than [`MAX_FIELDS`] fields, fragments expanded.
/// Counted once per fragment (memoised), so the count itself costs the document's size.
pub(crate) fn too_large(document: &ExecutableDocument) -> Option<Refusal> {
    let mut sizes: HashMap<&str, Option<u64>> = HashMap::new();
    let mut total = 0u64;
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    for set in operations {
        let size = fields_in(document, set, &mut sizes, 0).unwrap_or(u64::MAX);
        total = total.max(size);
    }
    (total > MAX_FIELDS).then(|| Refusal {
        code: "QUERY_TOO_LARGE",
        message: if total == u64::MAX {
            format!("Query spreads fragments more than {MAX_SPREAD_DEPTH} deep.")
        } else {
            format!("Query selects {total} fields with its fragments expanded; at most {MAX_FIELDS} are allowed.")
        },
        asked: total,
        limit: MAX_FIELDS,
    })
}

/// The fields of a selection set, fragments expanded; `None` past [`MAX_SPREAD_DEPTH`].
fn fields_in<'d>(
    document: &'d ExecutableDocument,
    set: &'d SelectionSet,
    sizes: &mut HashMap<&'d str, Option<u64>>,
    depth: usize,
) -> Option<u64> {
    if depth > MAX_SPREAD_DEPTH {
        return None;
    }
    let mut total = 0u64;
    for item in &set.items {
        let size = match &item.node {
            Selection::Field(field) => {
                1 + fields_in(document, &field.node.selection_set.node, sizes, depth + 1)?
            }
            Selection::InlineFragment(inline) => {
                fields_in(document, &inline.node.selection_set.node, sizes, depth + 1)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match sizes.get(name) {
                    Some(known) => (*known)?,
                    None => {
                        // A cycle (refused by validation later) counts nothing meanwhile.
                        sizes.insert(name, Some(0));
                        let size = match document.fragments.get(name) {
                            Some(f) => {
                                fields_in(document, &f.node.selection_set.node, sizes, depth + 1)
                            }
                            None => Some(0),
                        };
                        sizes.insert(name, size);
                        size?
                    }
                }
            }
        };
        total = total.saturating_add(size);
    }
    Some(total)
}

/// The estimated cost of a root selection.
pub(crate) fn cost(sizes: Sizes<'_>, catalogue: &Catalogue, select: &Select, single: bool) -> u64 {
    let model = catalogue.model(select.model);
    let mut rows = if single { 1 } else { table_rows(sizes, &model.table) };
    if let Some(limit) = select.page.limit {
        rows = rows.min(limit);
    }
    if let Some(keyset) = &select.page.keyset {
        rows = rows.min(keyset.first.saturating_add(1));
    }
    level_cost(sizes, catalogue, select, rows)
}

/// What an export template's rendering weighs per row of its list: the list is read whole
/// and each object rendered, with whatever the template reads of it, so a document cannot
/// render a large list many times over (aliases) within the limit.
pub(crate) const EXPORT_WEIGHT: u64 = 100;

/// The estimated cost of rendering an export of the list of `table`.
pub(crate) fn export_cost(sizes: Sizes<'_>, table: &str) -> u64 {
    table_rows(sizes, table).saturating_mul(EXPORT_WEIGHT)
}

fn table_rows(sizes: Sizes<'_>, table: &str) -> u64 {
    sizes(table).unwrap_or(0).max(1)
}

/// The estimated cost of a level of `rows` rows and everything under it.
pub(crate) fn level_cost(
    sizes: Sizes<'_>,
    catalogue: &Catalogue,
    select: &Select,
    rows: u64,
) -> u64 {
    let model = catalogue.model(select.model);
    let mut total = rows.saturating_mul(select.fields.len() as u64);
    for field in &select.fields {
        let below = match &field.kind {
            SelectedKind::Relation { .. } | SelectedKind::Association { .. } => {
                let (rel, child) = match &field.kind {
                    SelectedKind::Relation { relation, child } => {
                        (&model.relations[*relation], child)
                    }
                    SelectedKind::Association { relation, child } => (&**relation, child),
                    _ => continue,
                };
                let parents = table_rows(sizes, &model.table);
                // List relations: the child table (or the through table) spread over the
                // parents, at most the child `limit` each, at most the child rows in all.
                let children = match &rel.shape {
                    RelationShape::Forward { .. } | RelationShape::Peer { .. } => None,
                    RelationShape::Reverse { unique: true, .. } => None,
                    RelationShape::Reverse { .. } => {
                        Some(table_rows(sizes, &catalogue.model(rel.target).table))
                    }
                    RelationShape::Through { table, .. } => Some(table_rows(sizes, table)),
                    // At most every group for every parent.
                    RelationShape::Members { .. } => Some(
                        table_rows(sizes, &catalogue.model(rel.target).table)
                            .saturating_mul(parents),
                    ),
                };
                let mut child_rows = match children {
                    Some(children) => {
                        let per_parent = children.div_ceil(parents).max(1);
                        let mut n = rows.saturating_mul(per_parent);
                        if let Some(limit) = child.page.limit {
                            n = n.min(rows.saturating_mul(limit));
                        }
                        n.min(children)
                    }
                    None => rows,
                };
                child_rows = child_rows.max(1);
                level_cost(sizes, catalogue, child, child_rows)
            }
            // One object per parent, whichever member answers.
            SelectedKind::Union { members, .. } => members
                .iter()
                .map(|m| level_cost(sizes, catalogue, m, rows))
                .fold(0u64, u64::saturating_add),
            SelectedKind::Usage { limit, select, .. } => {
                let items = (*limit).max(select.len()).max(1) as u64;
                rows.saturating_mul(items)
            }
            // A rack of up to 48 units, typically, each with its selected fields.
            SelectedKind::Elevation { select, .. } => {
                rows.saturating_mul(48).saturating_mul(select.len().max(1) as u64)
            }
            // One merged document per object, the size of its contexts' data: a few fields.
            SelectedKind::ConfigContext => rows.saturating_mul(10),
            // One related row per object.
            SelectedKind::TypeOf { child, .. } => level_cost(sizes, catalogue, child, rows),
            // What the template reads, as if selected.
            SelectedKind::Rendered(template) => {
                level_cost(sizes, catalogue, template.needs(), rows)
            }
            // A list of content types: a handful per row, typically.
            SelectedKind::ContentType { select, .. } => {
                rows.saturating_mul(select.len().max(1) as u64)
            }
            _ => 0,
        };
        total = total.saturating_add(below);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fragments that spread the next one ten times, `n` deep.
    fn bomb(n: usize) -> String {
        let fragments: Vec<String> = (0..n)
            .map(|i| {
                let body = if i + 1 == n {
                    "name".to_owned()
                } else {
                    format!("...F{} ", i + 1).repeat(10)
                };
                format!("fragment F{i} on DeviceType {{ {body} }}")
            })
            .collect();
        format!("{{ devices(limit: 1) {{ ...F0 }} }} {}", fragments.join(" "))
    }

    fn refusal(query: &str) -> Option<(&'static str, u64)> {
        let document = async_graphql::parser::parse_query(query).expect("parse");
        too_large(&document).map(|r| (r.code, r.asked))
    }

    #[test]
    fn documents_are_measured_with_fragments_expanded() {
        assert_eq!(refusal("{ devices { name interfaces { name } } }"), None);
        // 10^4 + 1 fields: under the limit; 10^5 + 1 and a billion are refused, counted once
        // per fragment.
        assert_eq!(refusal(&bomb(5)), None);
        assert_eq!(refusal(&bomb(6)), Some(("QUERY_TOO_LARGE", 100_001)));
        assert_eq!(refusal(&bomb(10)), Some(("QUERY_TOO_LARGE", 1_000_000_001)));
        // A chain of spreads deeper than any document needs.
        let chain: Vec<String> = (0..300)
            .map(|i| format!("fragment C{i} on DeviceType {{ name ...C{} }}", i + 1))
            .chain(["fragment C300 on DeviceType { name }".to_owned()])
            .collect();
        let query = format!("{{ devices {{ ...C0 }} }} {}", chain.join(" "));
        assert_eq!(refusal(&query).map(|(code, _)| code), Some("QUERY_TOO_LARGE"));
        // A cycle counts nothing here; validation refuses it.
        let cycle = "{ devices { ...A } } fragment A on DeviceType { name ...B } fragment B on DeviceType { ...A }";
        assert_eq!(refusal(cycle), None);
    }
}
