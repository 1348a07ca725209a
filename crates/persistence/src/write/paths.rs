//! Cable paths: when a write adds, changes or removes cable terminations, the paths of every
//! origin they touch are traced again ([`ferrobot_domain::cable::paths_from`]) and stored as
//! `dcim.cablepath` rows, in the write's transaction.
//!
//! Spec: nautobot/dcim/signals.py (`rebuild_paths`, `create_cablepath`): the origins are the path
//! endpoints on the changed cables and the origins of stored paths that run through one of those
//! cables or their terminations; a path reads the same from either end, so those are the path
//! endpoints the cable graph reaches from the touched cables and ends. Like Nautobot's, path
//! rows are bookkeeping: no change-log rows.
//!
//! The graph is loaded outwards from the origins, a few statements a step: the cable each
//! endpoint is on and that cable's other rows, a front port's rear port, a rear port's front
//! ports, a circuit termination's other side.

use std::collections::HashSet;

use ferrobot_domain::cable::{
    paths_from, CableEnd, CircuitSide, Endpoint, EndpointKind, MemoryGraph, PathNode,
};
use ferrobot_domain::catalogue::Model;
use sea_query::{Alias, Expr, Query, Value};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::{column_of, internal, one_invalid, uuid_value, Writer};
use crate::StoreResult;

const TERMINATION: &str = "dcim.cabletocabletermination";
const PATH: &str = "dcim.cablepath";

fn uuid_at(row: &Json, key: &str) -> Option<Uuid> {
    row.get(key).and_then(Json::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

/// The endpoint a termination row sets, if any.
fn endpoint_of(row: &Json) -> Option<Endpoint> {
    EndpointKind::ALL.iter().find_map(|k| uuid_at(row, k.column()).map(|id| Endpoint::new(*k, id)))
}

impl Writer<'_> {
    /// Remembers a cable or a termination row the write touched (its state before or after), so
    /// that the paths through it are traced again when the write finishes (a cable's status
    /// decides whether the paths through it are active).
    pub(super) fn touch_cabling(&mut self, model: &Model, row: &Json) {
        let cable = if model.label == TERMINATION { "cable" } else { "id" };
        if let Some(cable) = uuid_at(row, cable) {
            self.dirty_cables.insert(cable);
        }
        if let Some(end) = endpoint_of(row).filter(|_| model.label == TERMINATION) {
            self.dirty_endpoints.insert(end);
        }
    }

    /// Traces again the paths the touched terminations change and stores them.
    pub(super) async fn rebuild_paths(&mut self) -> StoreResult<()> {
        if self.dirty_cables.is_empty() && self.dirty_endpoints.is_empty() {
            return Ok(());
        }
        self.flush().await?;
        let catalogue = self.catalogue.clone();
        let (Some(terms), Some(paths)) =
            (catalogue.by_label(TERMINATION), catalogue.by_label(PATH))
        else {
            return Ok(());
        };
        let cables: Vec<Uuid> = std::mem::take(&mut self.dirty_cables).into_iter().collect();
        let mut touched: HashSet<Endpoint> = std::mem::take(&mut self.dirty_endpoints);
        // The rows now on the touched cables.
        let ids = self.ids_where_in(&terms.table, &column_of(terms, "cable"), &cables).await?;
        for row in self.read_snapshots(terms, &ids).await?.values() {
            touched.extend(endpoint_of(row));
        }
        // A path is the same walk read from either end, so the stored paths through a touched
        // cable or end start at the path endpoints the graph reaches from them: load the graph
        // around them, and every path endpoint in it is an origin to trace again.
        let seeds: Vec<Endpoint> = touched.iter().copied().collect();
        let (graph, reached) = self.load_graph(&seeds).await?;
        let origins: HashSet<Endpoint> = reached
            .into_iter()
            .chain(touched.iter().copied())
            .filter(|e| e.kind.is_path_endpoint())
            .collect();
        if origins.is_empty() {
            return Ok(());
        }
        let mut origins: Vec<Endpoint> = origins.into_iter().collect();
        origins.sort_by_key(|e| (e.kind, e.id));
        let origin_ids: Vec<Uuid> = origins.iter().map(|e| e.id).collect();
        for chunk in origin_ids.chunks(1000) {
            let mut delete = Query::delete();
            delete.from_table(Alias::new(&paths.table)).and_where(
                Expr::col(Alias::new(column_of(paths, "origin_id")))
                    .is_in(chunk.iter().map(|id| uuid_value(*id))),
            );
            let tx = self.tx()?;
            self.store.execute_in(tx, &delete).await?;
        }
        for origin in origins {
            let traces = paths_from(origin, &graph).map_err(|m| one_invalid("__all__", m))?;
            for t in traces {
                let node = |n: &PathNode| Json::String(format!("{}:{}", n.label(), n.id()));
                let mut columns = vec!["id".to_owned()];
                let mut row = vec![uuid_value(Uuid::new_v4())];
                let mut put = |name: &str, value: Value| {
                    columns.push(column_of(paths, name));
                    row.push(value);
                };
                put("origin_type", Value::String(Some(Box::new(t.origin.kind.label().into()))));
                put("origin_id", uuid_value(t.origin.id));
                put(
                    "destination_type",
                    Value::String(t.destination.map(|d| Box::new(d.kind.label().to_owned()))),
                );
                put("destination_id", Value::Uuid(t.destination.map(|d| Box::new(d.id))));
                put(
                    "path",
                    Value::Json(Some(Box::new(Json::Array(t.path.iter().map(node).collect())))),
                );
                put("is_active", Value::Bool(Some(t.is_active)));
                put("is_split", Value::Bool(Some(t.is_split)));
                put("peer_connector", Value::SmallInt(Some(t.peer_connector as i16)));
                put("origin_fans_out", Value::Bool(Some(false)));
                put("destination_fans_out", Value::Bool(Some(false)));
                self.push(&paths.table, &columns, row);
            }
        }
        self.flush().await?;
        Ok(())
    }

    /// The cable graph around `seeds`, loaded outwards until nothing new is reached, with every
    /// endpoint reached.
    async fn load_graph(
        &mut self,
        seeds: &[Endpoint],
    ) -> StoreResult<(MemoryGraph, HashSet<Endpoint>)> {
        let catalogue = self.catalogue.clone();
        let model = |label: &str| {
            catalogue.by_label(label).ok_or_else(|| internal(format!("no model {label}")))
        };
        let terms = model(TERMINATION)?;
        let mut graph = MemoryGraph::new();
        let mut seen: HashSet<Endpoint> = HashSet::new();
        let mut cables_seen: HashSet<Uuid> = HashSet::new();
        let mut wave: Vec<Endpoint> = seeds.to_vec();
        let mut connected_status: Option<Option<String>> = None;
        while !wave.is_empty() {
            let mut next = Vec::new();
            wave.retain(|e| seen.insert(*e));
            // The cables the wave's endpoints are on, and every row of those cables.
            let mut cables = Vec::new();
            for kind in EndpointKind::ALL {
                let ids: Vec<Uuid> = wave.iter().filter(|e| e.kind == kind).map(|e| e.id).collect();
                if ids.is_empty() {
                    continue;
                }
                let rows =
                    self.ids_where_in(&terms.table, &column_of(terms, kind.column()), &ids).await?;
                for row in self.read_snapshots(terms, &rows).await?.values() {
                    cables.extend(uuid_at(row, "cable").filter(|c| cables_seen.insert(*c)));
                }
            }
            if !cables.is_empty() {
                if connected_status.is_none() {
                    connected_status = Some(self.status_named("Connected").await?);
                }
                let connected = connected_status.clone().flatten();
                let cable_model = model("dcim.cable")?;
                for (id, cable) in self.read_snapshots(cable_model, &cables).await? {
                    let status = cable.get("status").and_then(Json::as_str);
                    graph.add_cable(id, status.is_some() && status == connected.as_deref(), None);
                }
                let rows =
                    self.ids_where_in(&terms.table, &column_of(terms, "cable"), &cables).await?;
                for row in self.read_snapshots(terms, &rows).await?.values() {
                    let (Some(cable), Some(end)) = (uuid_at(row, "cable"), endpoint_of(row)) else {
                        continue;
                    };
                    let side =
                        row.get("cable_end").and_then(Json::as_str).and_then(CableEnd::parse);
                    let connector = row.get("connector").and_then(Json::as_u64).unwrap_or(1);
                    if let Some(side) = side {
                        graph.add_termination(cable, side, connector as u16, end);
                        next.push(end);
                    }
                }
            }
            // Pass-throughs: front ↔ rear ports, and the two sides of a circuit.
            let fronts: Vec<Uuid> =
                wave.iter().filter(|e| e.kind == EndpointKind::FrontPort).map(|e| e.id).collect();
            let mut rears: Vec<Uuid> =
                wave.iter().filter(|e| e.kind == EndpointKind::RearPort).map(|e| e.id).collect();
            let front_model = model("dcim.frontport")?;
            for (id, front) in self.read_snapshots(front_model, &fronts).await? {
                if let Some(rear) = uuid_at(&front, "rear_port") {
                    let position =
                        front.get("rear_port_position").and_then(Json::as_u64).unwrap_or(1);
                    graph.add_front_port(id, rear, position as u16);
                    rears.push(rear);
                    next.push(Endpoint::new(EndpointKind::RearPort, rear));
                }
            }
            rears.sort_unstable();
            rears.dedup();
            let rear_model = model("dcim.rearport")?;
            for (id, rear) in self.read_snapshots(rear_model, &rears).await? {
                let positions = rear.get("positions").and_then(Json::as_u64).unwrap_or(1);
                graph.add_rear_port(id, positions as u16);
            }
            let ids = self
                .ids_where_in(&front_model.table, &column_of(front_model, "rear_port"), &rears)
                .await?;
            for (id, front) in self.read_snapshots(front_model, &ids).await? {
                if let Some(rear) = uuid_at(&front, "rear_port") {
                    let position =
                        front.get("rear_port_position").and_then(Json::as_u64).unwrap_or(1);
                    graph.add_front_port(id, rear, position as u16);
                    next.push(Endpoint::new(EndpointKind::FrontPort, id));
                }
            }
            let circuit_terms: Vec<Uuid> = wave
                .iter()
                .filter(|e| e.kind == EndpointKind::CircuitTermination)
                .map(|e| e.id)
                .collect();
            let ct_model = model("circuits.circuittermination")?;
            let circuits: Vec<Uuid> = self
                .read_snapshots(ct_model, &circuit_terms)
                .await?
                .values()
                .filter_map(|t| uuid_at(t, "circuit"))
                .collect();
            let ids = self
                .ids_where_in(&ct_model.table, &column_of(ct_model, "circuit"), &circuits)
                .await?;
            for (id, term) in self.read_snapshots(ct_model, &ids).await? {
                let side = match term.get("term_side").and_then(Json::as_str) {
                    Some("A") => CircuitSide::A,
                    Some("Z") => CircuitSide::Z,
                    _ => continue,
                };
                if let Some(circuit) = uuid_at(&term, "circuit") {
                    graph.add_circuit_termination(id, circuit, side);
                    next.push(Endpoint::new(EndpointKind::CircuitTermination, id));
                }
            }
            next.retain(|e| !seen.contains(e));
            next.sort_by_key(|e| (e.kind, e.id));
            next.dedup();
            wave = next;
        }
        Ok((graph, seen))
    }

    /// The id of the status named `name`, if there is one.
    async fn status_named(&mut self, name: &str) -> StoreResult<Option<String>> {
        let catalogue = self.catalogue.clone();
        let Some(status) = catalogue.by_label("extras.status") else { return Ok(None) };
        let mut key = Map::new();
        key.insert("name".into(), Json::String(name.into()));
        match self.lookup(status.id, &Json::Object(key)).await? {
            super::Found::One(id) => Ok(Some(id.to_string())),
            _ => Ok(None),
        }
    }
}
