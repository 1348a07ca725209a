//! A tree filter's walk (`prefixes(ancestors:)`, `locations(descendants:)`): the rows above or
//! below the named ones along the model's reference to itself, a level a statement.

use std::collections::HashSet;

use ferrobot_domain::catalogue::TreeWalk;
use ferrobot_domain::Model;
use sea_query::{Alias, Query};
use uuid::Uuid;

use super::{col, ColType, Keys};
use crate::store::Store;
use crate::StoreResult;

/// The most levels a tree filter walks: a tree deeper is not one a network has (an IPv6 prefix
/// tree has at most 128 levels).
const MAX_TREE_WALK: usize = 128;

impl Store {
    /// The rows reached from `named` along the model's reference to itself, a level a
    /// statement (up: their parents; down: their children), with `named` when the walk says.
    pub(super) async fn walk_tree(
        &self,
        model: &Model,
        named: Vec<Uuid>,
        walk: TreeWalk,
    ) -> StoreResult<Vec<Uuid>> {
        let Some(parent) = model.tree_parent() else { return Ok(Vec::new()) };
        let mut found: HashSet<Uuid> = HashSet::new();
        if walk.include_self {
            found.extend(named.iter().copied());
        }
        let mut frontier = named;
        for _ in 0..=MAX_TREE_WALK {
            if frontier.is_empty() {
                break;
            }
            let (read, by) = if walk.up { (parent, "id") } else { ("id", parent) };
            let mut select = Query::select();
            select
                .column(Alias::new(read))
                .from(Alias::new(&model.table))
                .and_where(Keys::List(frontier).condition(self.backend, col(by)));
            let rows = self.fetch(&select, &[ColType::Uuid]).await?;
            frontier = (0..rows.len())
                .filter_map(|r| rows.row(r)[0].as_uuid())
                .filter(|id| found.insert(*id))
                .collect();
        }
        let mut out: Vec<Uuid> = found.into_iter().collect();
        out.sort();
        Ok(out)
    }
}
