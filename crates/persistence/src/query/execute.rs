//! Executes a [`Plan`]: each level with one statement, children batched under their parents,
//! and each child level indexed by the key its parent finds it with.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use ferrobot_domain::catalogue::{Relation, RelationShape};
use uuid::Uuid;

use super::level::{Keys, LevelSpec, Link, RootKeyset, Scope};
use super::plan::Plan;
use super::usage::{PrefixUsage, UsageLists};
use super::Rows;
use super::{col_type, uuid_value, ColType};
use crate::store::Store;
use crate::StoreError;
use crate::StoreResult;
use ferrobot_domain::catalogue::{IntSize, Model, ModelId};
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::request::{CursorValue, FilterArg, Keyset};

/// A parent level with at most this many distinct keys hands them to its children as a list;
/// a larger one hands over its own statement as a subquery.
const KEY_LIST_LIMIT: usize = 1000;

/// Hashes a UUID by its first eight bytes: they are random for the v4 ids Ferrobot stores, and
/// the writer looks a key up for every nested object, so SipHash's cost showed.
#[derive(Default)]
pub struct UuidHasher(u64);

impl std::hash::Hasher for UuidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(2) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}
}

/// Loaded rows of one plan level, with the index its parent uses to find them.
#[derive(Debug, Default)]
pub struct Level {
    pub rows: Rows,
    /// Columns before the plan's own: 1 when rows carry a link key.
    pub skip: usize,
    /// Link key → (first row, end row).
    pub index: HashMap<Uuid, (usize, usize), BuildHasherDefault<UuidHasher>>,
    /// One level per child of the plan, in the same order; a level read once for a whole list
    /// read in windows is shared by the windows.
    pub children: Vec<Arc<Level>>,
    pub usage: Option<PrefixUsage>,
    /// The rows the level's usage lists read, by object (a rack's devices and reservations).
    pub lists: Option<UsageLists>,
    /// What the level's `config_context` is computed from.
    pub contexts: Option<super::contexts::ContextInputs>,
    /// A nested list whose filter values were refused: (argument, message) per refused filter.
    /// Nautobot checks a nested list's filters each time it resolves the list for a parent, so
    /// each parent's list is `null` with an error, and with no parents nothing is checked.
    pub refused: Option<Vec<(String, String)>>,
}

impl Level {
    /// The plan's own cells of a row (after the link key).
    pub fn own(&self, row: usize) -> &[crate::Cell] {
        &self.rows.row(row)[self.skip..]
    }

    /// The rows a parent's key finds: (first, end).
    pub fn rows_of(&self, key: Option<Uuid>) -> Option<(usize, usize)> {
        key.and_then(|k| self.index.get(&k)).copied()
    }
}

/// What a read keeps while it reads, by plan (a level's plan's address): each nested level's
/// filters compiled, or what was refused in them (compiled and checked once per request, the
/// first time the level has parents), and the levels read once for a whole windowed list.
pub(crate) struct Shared {
    /// Who reads: every level is cut to the rows the user may see.
    perms: Arc<Permissions>,
    compiled: HashMap<usize, Result<sea_query::Condition, Vec<(String, String)>>>,
    whole: HashMap<usize, Arc<Level>>,
    /// The rows of the root list read in windows (0 when it is read whole).
    root_rows: usize,
    /// Levels under a windowed level whose table holds at most this many rows per root row are
    /// read once for the whole list.
    whole_per_row: u64,
    /// Config contexts and the references their dimensions walk, read once a request.
    contexts: super::contexts::ContextCache,
    /// Each member model's groups with their members' conditions, read once a request.
    groups: HashMap<ModelId, Arc<Vec<(Uuid, sea_query::Condition)>>>,
}

impl Shared {
    fn new(perms: Arc<Permissions>) -> Shared {
        Shared {
            perms,
            compiled: HashMap::new(),
            whole: HashMap::new(),
            root_rows: 0,
            whole_per_row: 0,
            contexts: Default::default(),
            groups: HashMap::new(),
        }
    }
}

fn key_of(plan: &Plan) -> usize {
    plan as *const Plan as usize
}

/// How a root list is read in windows.
#[derive(Debug, Clone, Copy)]
pub struct Windowing {
    /// Rows of the root list a window holds; a list with at most this many is read whole.
    pub rows: usize,
    /// A level under a windowed level is read once for the whole list, not once a window, when
    /// the table its rows come from holds at most this many rows per row of the root list:
    /// one pass over a small table costs less than probing it for the parents of every window,
    /// and holds no more rows than the root list does, a few times over.
    pub whole_per_row: u64,
}

impl Windowing {
    /// Windows of `rows` root rows, small levels read whole.
    pub fn rows(rows: usize) -> Windowing {
        Windowing { rows, whole_per_row: WHOLE_PER_ROOT_ROW }
    }
}

/// See [`Windowing::whole_per_row`].
pub const WHOLE_PER_ROOT_ROW: u64 = 8;

/// A root list as [`Store::execute_windows`] read it.
pub enum Read {
    /// Its rows and everything under them, read whole.
    Whole(Box<Level>),
    /// Its rows in windows, what lies under each read when the window is asked for.
    Windows(Box<Windows>),
}

/// The windows of a root list's rows still to read. Each window is a [`Level`] of its own: the
/// window's rows, and under them the levels read for those rows only (one statement a level
/// and window, naming the window's ids) or, for small levels, read once for the whole list and
/// shared by every window.
pub struct Windows {
    store: Store,
    plan: Arc<Plan>,
    table: String,
    /// The scope of the whole root list.
    scope: Scope,
    chunks: std::vec::IntoIter<Rows>,
    shared: Shared,
}

impl Windows {
    /// The statements the store these windows read through has run (the request's count).
    pub fn statements(&self) -> u64 {
        self.store.statements()
    }

    /// Reads the next window: its rows and what lies under them. `None` after the last.
    pub async fn next(&mut self) -> Option<StoreResult<Level>> {
        let rows = self.chunks.next()?;
        let ids: Vec<Uuid> = (0..rows.len()).filter_map(|r| rows.row(r)[0].as_uuid()).collect();
        let scope = Scope::window(&self.table, ids, self.store.backend);
        let mut level = Level { rows, ..Level::default() };
        let read = self.store.complete(
            &self.plan,
            &mut level,
            &scope,
            Some(&self.scope),
            0,
            &mut self.shared,
        );
        Some(read.await.map(|()| level))
    }
}

impl Store {
    /// Reads a root plan (its page applied) and its children, level by level, as `perms`
    /// may see them.
    pub async fn execute(&self, plan: &Plan, perms: &Arc<Permissions>) -> StoreResult<Level> {
        let (rows, scope) = self.load_root(plan, perms).await?;
        let mut level = Level { rows, ..Level::default() };
        self.complete(plan, &mut level, &scope, None, 0, &mut Shared::new(perms.clone())).await?;
        Ok(level)
    }

    /// A cursor's values as the page-ordering columns' own types; a cursor that does not fit
    /// them (another list's, or edited) is refused.
    fn root_keyset(&self, model: ModelId, keyset: &Keyset) -> StoreResult<RootKeyset> {
        let model = self.catalogue().model(model);
        let invalid = || StoreError::Invalid {
            argument: "after".into(),
            message: "Invalid cursor: it is not one of this list's.".into(),
        };
        let after = match &keyset.after {
            None => None,
            Some(values) if values.len() != model.page_ordering.len() => return Err(invalid()),
            Some(values) => {
                let mut out = Vec::with_capacity(values.len());
                for (term, value) in model.page_ordering.iter().zip(values) {
                    let ty = order_col_type(model, &term.column);
                    out.push(cursor_value(ty, value).ok_or_else(invalid)?);
                }
                Some(out)
            }
        };
        Ok(RootKeyset { first: keyset.first, after })
    }

    /// How many rows a list has with its filters (a cursor page's `total_count`).
    pub async fn count_rows(
        &self,
        model: ModelId,
        filters: &[FilterArg],
        perms: &Permissions,
    ) -> StoreResult<u64> {
        let mut condition = self.compile_filters(model, filters, perms).await?;
        if let Some(seen) = self.view_condition(perms, model) {
            condition = condition.add(seen);
        }
        let table = &self.catalogue().model(model).table;
        let mut select = sea_query::Query::select();
        select
            .expr(sea_query::Expr::cust("COUNT(*)"))
            .from(sea_query::Alias::new(table))
            .cond_where(condition);
        let rows = self.fetch(&select, &[ColType::Int(IntSize::Big)]).await?;
        match rows.cells.first() {
            Some(crate::Cell::Int(n)) => Ok((*n).max(0) as u64),
            _ => Ok(0),
        }
    }

    /// Reads a root list: its own rows with one statement, and what lies under them either for
    /// all rows at once, as [`Store::execute`] does (at most `windowing.rows` rows), or a window
    /// of rows at a time ([`Windows`]), so that a fleet-sized answer is never loaded whole.
    pub async fn execute_windows(
        &self,
        plan: Arc<Plan>,
        windowing: Windowing,
        perms: &Arc<Permissions>,
    ) -> StoreResult<Read> {
        let window = windowing.rows.max(1);
        let (rows, scope) = self.load_root(&plan, perms).await?;
        let under =
            !plan.children.is_empty() || plan.usage || plan.lists || plan.config_context.is_some();
        let mut level = Level { rows, ..Level::default() };
        if !under || level.rows.len() <= window {
            let mut shared = Shared::new(perms.clone());
            self.complete(&plan, &mut level, &scope, None, 0, &mut shared).await?;
            return Ok(Read::Whole(Box::new(level)));
        }
        let root_rows = level.rows.len();
        let width = level.rows.width;
        let mut cells = std::mem::take(&mut level.rows.cells).into_iter();
        let mut chunks = Vec::with_capacity(root_rows.div_ceil(window));
        loop {
            let chunk: Vec<crate::Cell> = cells.by_ref().take(window * width).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(Rows { width, cells: chunk });
        }
        let table = self.catalogue().model(plan.model).table.clone();
        let shared = Shared {
            root_rows,
            whole_per_row: windowing.whole_per_row,
            ..Shared::new(perms.clone())
        };
        Ok(Read::Windows(Box::new(Windows {
            store: self.clone(),
            plan,
            table,
            scope,
            chunks: chunks.into_iter(),
            shared,
        })))
    }

    /// The rows of a root level, and the scope its children use.
    async fn load_root(&self, plan: &Plan, perms: &Permissions) -> StoreResult<(Rows, Scope)> {
        let keyset = match &plan.page.keyset {
            Some(keyset) => Some(self.root_keyset(plan.model, keyset)?),
            None => None,
        };
        let link = Link::Root { limit: plan.page.limit, offset: plan.page.offset, keyset };
        let mut condition = self.compile_filters(plan.model, &plan.filters, perms).await?;
        if let Some(seen) = self.view_condition(perms, plan.model) {
            condition = condition.add(seen);
        }
        let columns = plan.columns.clone();
        let spec = LevelSpec { model: plan.model, depth: 0, columns, condition, link };
        self.load_level(&spec).await
    }

    /// A nested level's filters as a condition, or what was refused in them: compiled (and
    /// checked) once per level and request, the first time the level has parents.
    async fn nested_condition(
        &self,
        plan: &Plan,
        shared: &mut Shared,
    ) -> StoreResult<Result<sea_query::Condition, Vec<(String, String)>>> {
        if let Some(found) = shared.compiled.get(&key_of(plan)) {
            return Ok(found.clone());
        }
        let found = match self.compile_filters(plan.model, &plan.filters, &shared.perms).await {
            Ok(condition) => match self.view_condition(&shared.perms, plan.model) {
                Some(seen) => Ok(condition.add(seen)),
                None => Ok(condition),
            },
            Err(StoreError::Invalid { argument, message }) => Err(vec![(argument, message)]),
            Err(StoreError::Filters(refused)) => Err(refused),
            Err(e) => return Err(e),
        };
        shared.compiled.insert(key_of(plan), found.clone());
        Ok(found)
    }

    /// Reads a nested level and what lies under it. `all` is how the level would hang off its
    /// parent for the whole list when the level is read in windows: the levels under it that
    /// are read once for the whole list name their parents by it.
    fn execute_level<'a>(
        &'a self,
        plan: &'a Plan,
        link: Link,
        all: Option<Link>,
        depth: usize,
        shared: &'a mut Shared,
    ) -> futures_util::future::BoxFuture<'a, StoreResult<Level>> {
        Box::pin(async move {
            let condition = match self.nested_condition(plan, shared).await? {
                Ok(condition) => condition,
                Err(refused) => return Ok(Level { refused: Some(refused), ..Level::default() }),
            };
            let spec = LevelSpec {
                model: plan.model,
                depth,
                columns: plan.columns.clone(),
                condition,
                link,
            };
            let (rows, scope) = self.load_level(&spec).await?;
            let all = all.map(|link| self.level_statement(&LevelSpec { link, ..spec }).2);
            let mut level = Level { rows, skip: 1, ..Level::default() };
            let mut idx = 0;
            let n = level.rows.len();
            while idx < n {
                let key = level.rows.row(idx)[0].as_uuid();
                let start = idx;
                while idx < n && level.rows.row(idx)[0].as_uuid() == key {
                    idx += 1;
                }
                if let Some(key) = key {
                    level.index.entry(key).or_insert((start, idx));
                }
            }
            self.complete(plan, &mut level, &scope, all.as_ref(), depth, shared).await?;
            Ok(level)
        })
    }

    /// Reads what lies under a level's rows: its usage lists and its child levels. `all` is the
    /// scope of the level's rows for the whole list when the level is read in windows.
    fn complete<'a>(
        &'a self,
        plan: &'a Plan,
        level: &'a mut Level,
        scope: &'a Scope,
        all: Option<&'a Scope>,
        depth: usize,
        shared: &'a mut Shared,
    ) -> futures_util::future::BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let skip = level.skip;
            if plan.usage || plan.lists {
                // The level's own ids: what lies under them is read in one go.
                let mut ids: Vec<Uuid> = (0..level.rows.len())
                    .filter_map(|r| level.rows.row(r)[skip].as_uuid())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                if plan.usage {
                    level.usage = Some(self.prefix_usage(plan.model, &ids, &shared.perms).await?);
                }
                if plan.lists {
                    level.lists = Some(self.usage_lists(plan.model, &ids, &shared.perms).await?);
                }
            }
            if let Some(dimensions) = &plan.config_context {
                let mut seen = std::collections::HashSet::new();
                let mut objects = Vec::with_capacity(level.rows.len());
                for r in 0..level.rows.len() {
                    let own = level.own(r);
                    let Some(id) = own[0].as_uuid() else { continue };
                    if !seen.insert(id) {
                        continue;
                    }
                    let firsts: Vec<Option<Uuid>> = dimensions
                        .iter()
                        .map(|d| match d.first {
                            super::contexts::FirstStep::Column(c) => own[c].as_uuid(),
                            _ => None,
                        })
                        .collect();
                    objects.push((id, firsts));
                }
                // A list read in windows reads its objects' lists once, for the whole list.
                let (keys, whole) = match all {
                    Some(all) => (all.exists_of("id"), Some(key_of(plan))),
                    None => (Keys::List(objects.iter().map(|(id, _)| *id).collect()), None),
                };
                let inputs = self
                    .context_inputs(dimensions, &objects, keys, whole, &mut shared.contexts)
                    .await?;
                level.contexts = Some(inputs);
            }
            for (rel, child) in &plan.children {
                // No parents: nothing to read, and nothing of the child's is checked.
                if level.rows.is_empty() {
                    level.children.push(Arc::default());
                    continue;
                }
                let Some(all) = all else {
                    let link = self.child_link(plan, Some(level), scope, rel, false);
                    let link = self.members_link(plan, link, shared).await?;
                    if names_nothing(&link) {
                        level.children.push(Arc::default());
                        continue;
                    }
                    let read = self.execute_level(child, link, None, depth + 1, shared).await?;
                    level.children.push(Arc::new(read));
                    continue;
                };
                // Under a level read in windows: a small level is read once for the whole
                // list, a large one for the parents of this window.
                if self.read_whole(rel, shared) {
                    if let Some(read) = shared.whole.get(&key_of(child)) {
                        level.children.push(read.clone());
                        continue;
                    }
                    let link = self.child_link(plan, None, all, rel, false);
                    let link = self.members_link(plan, link, shared).await?;
                    let read = self.execute_level(child, link, None, depth + 1, shared).await?;
                    let read = Arc::new(read);
                    shared.whole.insert(key_of(child), read.clone());
                    level.children.push(read);
                    continue;
                }
                let link = self.child_link(plan, Some(level), scope, rel, true);
                let link = self.members_link(plan, link, shared).await?;
                if names_nothing(&link) {
                    level.children.push(Arc::default());
                    continue;
                }
                let whole_link = self.child_link(plan, None, all, rel, false);
                let whole_link = self.members_link(plan, whole_link, shared).await?;
                let read =
                    self.execute_level(child, link, Some(whole_link), depth + 1, shared).await?;
                level.children.push(Arc::new(read));
            }
            Ok(())
        })
    }

    /// A `dynamic_groups` level's link: the parents' groups, each with its members'
    /// condition (read and compiled once a request per member model).
    async fn members_link(
        &self,
        plan: &Plan,
        link: Link,
        shared: &mut Shared,
    ) -> StoreResult<Link> {
        let Link::Child { shape: RelationShape::Members { .. }, keys } = link else {
            return Ok(link);
        };
        let model = self.catalogue().model(plan.model);
        let groups = match shared.groups.get(&plan.model) {
            Some(found) => found.clone(),
            None => {
                let all = self.read_groups().await?;
                let branches = Arc::new(self.group_branches(model, &all).await?);
                shared.groups.insert(plan.model, branches.clone());
                branches
            }
        };
        Ok(Link::Members { source: model.table.clone(), keys, groups: (*groups).clone() })
    }

    /// Whether a level under a level read in windows is read once for the whole list: the
    /// table its rows come from is small beside the root list (see [`Windowing`]).
    fn read_whole(&self, rel: &Relation, shared: &Shared) -> bool {
        let table = match &rel.shape {
            // A generic reference is read for the models each window's rows name.
            RelationShape::Forward { content_type: Some(_), .. } => return false,
            RelationShape::Forward { .. } | RelationShape::Reverse { .. } => {
                &self.catalogue().model(rel.target).table
            }
            RelationShape::Peer { table, .. } | RelationShape::Through { table, .. } => table,
            // The pairs are read once for the whole list: each group's condition is one pass
            // over the member table (a window's key list costs as much, once per group).
            RelationShape::Members { .. } => return true,
        };
        let most = (shared.root_rows as u64).saturating_mul(shared.whole_per_row);
        self.table_rows(table).is_some_and(|rows| rows <= most)
    }

    /// How a child level names its parents. Few parents: hand over their keys. Many: hand over
    /// the parent statement, either as `IN (subquery)` (the database walks the parent keys and
    /// probes the child by index) or as a correlated `EXISTS` (it walks the child rows and probes
    /// the parent by key), whichever walks fewer rows. Reverse relations always walk the parent
    /// keys: their child table is the bigger.
    /// Without the parent rows (`level` is `None`: a level read once under a level read in
    /// windows), the parents are many and the child table is small: a correlated `EXISTS`.
    fn child_link(
        &self,
        plan: &Plan,
        level: Option<&Level>,
        scope: &Scope,
        rel: &Relation,
        windowed: bool,
    ) -> Link {
        let keys_from = |column: &str, child_table: Option<&str>| -> Keys {
            let Some(level) = level else {
                return scope.exists_of(column);
            };
            let parents = match plan.columns.iter().position(|(c, _)| c == column) {
                Some(col) => {
                    let mut keys: Vec<Uuid> = (0..level.rows.len())
                        .filter_map(|r| level.rows.row(r)[level.skip + col].as_uuid())
                        .collect();
                    keys.sort_unstable();
                    keys.dedup();
                    if keys.len() <= KEY_LIST_LIMIT {
                        return Keys::List(keys);
                    }
                    keys.len() as u64
                }
                None => u64::MAX,
            };
            // A table of unknown size (sizes are counted in the background after start): a
            // whole read probes the parent, once; a window walks its own parents, which are few,
            // rather than the child table once a window.
            let smaller = |table: &str| match self.table_rows(table) {
                Some(rows) => rows < parents,
                None => !windowed,
            };
            match child_table {
                Some(table) if smaller(table) => scope.exists_of(column),
                _ => scope.keys_of(column),
            }
        };
        // Forward relations and through tables walk the parent keys or probe the parent,
        // whichever is fewer rows; reverse relations always walk the parent keys (their child
        // table is the bigger).
        let keys = match &rel.shape {
            // A generic reference: only the parents whose type column names the target.
            RelationShape::Forward { column, content_type: Some((type_column, label)), .. } => {
                let position = |name: &str| plan.columns.iter().position(|(c, _)| c == name);
                let typed = level.zip(position(column)).zip(position(type_column)).map(
                    |((level, col), type_col)| {
                        let mut keys: Vec<Uuid> = (0..level.rows.len())
                            .map(|r| &level.rows.row(r)[level.skip..])
                            .filter(|own| matches!(&own[type_col], crate::Cell::Text(t) if **t == **label))
                            .filter_map(|own| own[col].as_uuid())
                            .collect();
                        keys.sort_unstable();
                        keys.dedup();
                        keys
                    },
                );
                // Many: the parents' statement (every id it names is another model's row, so
                // the target's rows it finds are the typed ones).
                match typed {
                    Some(keys) if keys.len() <= KEY_LIST_LIMIT => Keys::List(keys),
                    _ => keys_from(column, Some(&self.catalogue().model(rel.target).table)),
                }
            }
            RelationShape::Forward { column, .. } => {
                keys_from(column, Some(&self.catalogue().model(rel.target).table))
            }
            RelationShape::Reverse { .. } => keys_from("id", None),
            RelationShape::Peer { table, .. } | RelationShape::Through { table, .. } => {
                keys_from("id", Some(table))
            }
            // A whole parent table: each group's condition alone, one pass over the table.
            RelationShape::Members { .. } if scope.is_whole_table() => Keys::All,
            RelationShape::Members { .. } => keys_from("id", None),
        };
        Link::Child { shape: rel.shape.clone(), keys }
    }
}

/// A generic reference's level that no parent names (all of them name other models): it is
/// not read. Other levels without keys still run, as they always have.
fn names_nothing(link: &Link) -> bool {
    if let Link::Members { groups, .. } = link {
        return groups.is_empty();
    }
    matches!(link, Link::Child {
        shape: RelationShape::Forward { content_type: Some(_), .. },
        keys: Keys::List(keys),
    } if keys.is_empty())
}

/// The type of an ordering column: a field's column, or a natural-order column (`_name`).
pub(crate) fn order_col_type(model: &Model, column: &str) -> ColType {
    match model.fields.iter().find(|f| f.column.as_deref() == Some(column)) {
        Some(field) => col_type(&field.kind),
        None => ColType::Text,
    }
}

/// A cursor value as a bound value of the column's type; `Some(None)` is NULL.
fn cursor_value(ty: ColType, value: &CursorValue) -> Option<Option<sea_query::Value>> {
    use sea_query::Value;
    Some(Some(match (ty, value) {
        (_, CursorValue::Null) => return Some(None),
        (ColType::Uuid, CursorValue::Text(t)) => uuid_value(uuid::Uuid::parse_str(t).ok()?),
        (ColType::Text, CursorValue::Text(t)) => Value::String(Some(Box::new(t.clone()))),
        (ColType::Int(_), CursorValue::Int(i)) => Value::BigInt(Some(*i)),
        (ColType::Bool, CursorValue::Bool(b)) => Value::Bool(Some(*b)),
        (ColType::DateTime, CursorValue::Text(t)) => {
            let at = chrono::DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&chrono::Utc);
            Value::ChronoDateTimeUtc(Some(Box::new(at)))
        }
        (ColType::Date, CursorValue::Text(t)) => {
            Value::ChronoDate(Some(Box::new(t.parse::<chrono::NaiveDate>().ok()?)))
        }
        (ColType::Bytes, CursorValue::Text(t)) => Value::Bytes(Some(Box::new(hex_decode(t)?))),
        _ => return None,
    }))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}
