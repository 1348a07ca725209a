//! Cable paths: when a write adds, changes or removes cables or their ends, the paths of every
//! origin they touch are traced again and stored as `dcim.cablepath` rows, in the write's
//! transaction. Which origins, the graph and the rows are the domain's ([`ferrobot_domain::cable`]);
//! the writer reads rows for it ([`CableRows`]) and stores what it gives. Like Nautobot's, path
//! rows are bookkeeping: no change-log rows.

use std::collections::HashMap;

use ferrobot_domain::cable::{self, CableRows, PATH, PATH_ORIGIN};
use ferrobot_domain::catalogue::Model;
use ferrobot_domain::row::Row;
use sea_query::{Alias, Expr, Query};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::{bind_row, column_of, internal, one_invalid, uuid_value, Found, Writer};
use crate::{StoreError, StoreResult};

impl Writer<'_> {
    /// Remembers a cable or a cable end the write touched (its state before or after), so that
    /// the paths through it are traced again when the write finishes (a cable's status decides
    /// whether the paths through it are active).
    pub(super) fn touch_cabling(&mut self, model: &Model, row: &Row) {
        if let Some((cable, end)) = cable::touches(&model.label, row) {
            self.dirty_cables.extend(cable);
            self.dirty_endpoints.extend(end);
        }
    }

    /// Traces again the paths the touched cables and ends change, and stores them: a round of
    /// at most [`SEEDS_A_ROUND`] cables and as many ends at a time, so that an import of a cable
    /// plant never holds the whole plant's graph. An origin two rounds reach is traced twice from
    /// the same stored rows, and its rows of the first round are replaced by the same ones.
    pub(super) async fn rebuild_paths(&mut self) -> StoreResult<()> {
        if self.dirty_cables.is_empty() && self.dirty_endpoints.is_empty() {
            return Ok(());
        }
        self.flush().await?;
        let catalogue = self.catalogue.clone();
        let Some(paths) = catalogue.by_label(PATH) else { return Ok(()) };
        // In id order: new ids are time-ordered, so cables created together (a patch chain)
        // tend to fall in the same round.
        let mut cables: Vec<Uuid> = std::mem::take(&mut self.dirty_cables).into_iter().collect();
        cables.sort_unstable();
        let mut touched: Vec<cable::Endpoint> =
            std::mem::take(&mut self.dirty_endpoints).into_iter().collect();
        touched.sort_unstable_by_key(|e| (e.kind, e.id));
        let rounds =
            cables.len().div_ceil(SEEDS_A_ROUND).max(touched.len().div_ceil(SEEDS_A_ROUND));
        for round in 0..rounds {
            let part = |len: usize| {
                (round * SEEDS_A_ROUND).min(len)..((round + 1) * SEEDS_A_ROUND).min(len)
            };
            let round_cables = &cables[part(cables.len())];
            let round_touched = touched[part(touched.len())].iter().copied().collect();
            self.rebuild_round(paths, round_cables, round_touched).await?;
        }
        Ok(())
    }

    /// One round of [`Writer::rebuild_paths`].
    async fn rebuild_round(
        &mut self,
        paths: &Model,
        cables: &[Uuid],
        touched: std::collections::HashSet<cable::Endpoint>,
    ) -> StoreResult<()> {
        let (origins, graph) = cable::origins(self, cables, touched).await?;
        let origin_ids: Vec<Uuid> = origins.iter().map(|e| e.id).collect();
        for chunk in origin_ids.chunks(1000) {
            let mut delete = Query::delete();
            delete.from_table(Alias::new(&paths.table)).and_where(
                Expr::col(Alias::new(column_of(paths, PATH_ORIGIN)))
                    .is_in(chunk.iter().map(|id| uuid_value(*id))),
            );
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
        }
        for origin in origins {
            let rows = cable::path_rows(origin, &graph).map_err(|m| one_invalid("__all__", m))?;
            for row in rows {
                let id = ("id".to_owned(), ferrobot_domain::value::Datum::Uuid(Uuid::now_v7()));
                let fields = row.into_iter().map(|(name, v)| (column_of(paths, name), v));
                let (columns, values) = bind_row(paths, std::iter::once(id).chain(fields));
                self.push(&paths.table, &columns, values);
            }
        }
        self.flush().await?;
        Ok(())
    }
}

/// Cables (and, apart, ends) whose paths one round of [`Writer::rebuild_paths`] traces.
const SEEDS_A_ROUND: usize = 1000;

/// The writer reads the cable graph's rows in its own transaction, as the change log has them.
impl CableRows for Writer<'_> {
    type Error = StoreError;

    async fn ids_where(
        &mut self,
        model: &str,
        field: &str,
        ids: &[Uuid],
    ) -> StoreResult<Vec<Uuid>> {
        let catalogue = self.catalogue.clone();
        let model =
            catalogue.by_label(model).ok_or_else(|| internal(format!("no model {model}")))?;
        self.ids_where_in(&model.table, &column_of(model, field), ids).await
    }

    async fn rows(&mut self, model: &str, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Row>> {
        let catalogue = self.catalogue.clone();
        let model =
            catalogue.by_label(model).ok_or_else(|| internal(format!("no model {model}")))?;
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read_snapshots(model, ids).await
    }

    async fn named(&mut self, model: &str, name: &str) -> StoreResult<Option<Uuid>> {
        let catalogue = self.catalogue.clone();
        let Some(model) = catalogue.by_label(model) else { return Ok(None) };
        let mut key = Map::new();
        key.insert("name".into(), Json::String(name.into()));
        Ok(match self.lookup_trusted(model.id, &Json::Object(key)).await? {
            Found::One(id) => Some(id),
            _ => None,
        })
    }
}
