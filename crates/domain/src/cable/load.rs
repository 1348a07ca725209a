//! The cable paths a write changes: which stored rows touch the cable graph, the graph loaded
//! outwards from them through a [`CableRows`] reader the store implements, the origins to trace
//! again, and the `dcim.cablepath` row of each trace.
//!
//! Spec: nautobot/dcim/signals.py (`rebuild_paths`, `create_cablepath`): the origins are the path
//! endpoints on the changed cables and the origins of stored paths that run through one of those
//! cables or their terminations. A path reads the same from either end, so those are the path
//! endpoints the cable graph reaches from the touched cables and ends.
//!
//! The graph is loaded a wave at a time, a few reads a wave: the cable each endpoint is on and
//! that cable's other rows, a front port's rear port, a rear port's front ports, a circuit
//! termination's other side.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use serde_json::Value as Json;
use uuid::Uuid;

use super::{paths_from, CableEnd, CircuitSide, Endpoint, EndpointKind, MemoryGraph, PathNode};
use crate::row::Row;
use crate::value::Datum;

/// The model whose rows are a cable's ends.
pub const TERMINATION: &str = "dcim.cabletocabletermination";
/// The model whose rows are the traced paths.
pub const PATH: &str = "dcim.cablepath";
/// The field of a path row that names its origin: a write replaces the paths of an origin.
pub const PATH_ORIGIN: &str = "origin_id";
const CABLE: &str = "dcim.cable";
const FRONT_PORT: &str = "dcim.frontport";
const REAR_PORT: &str = "dcim.rearport";
const CIRCUIT_TERMINATION: &str = "circuits.circuittermination";
const STATUS: &str = "extras.status";

/// What loading the graph reads.
pub trait CableRows {
    type Error;
    /// Ids of the rows of `model` whose reference `field` names one of `ids`.
    fn ids_where(
        &mut self,
        model: &str,
        field: &str,
        ids: &[Uuid],
    ) -> impl Future<Output = Result<Vec<Uuid>, Self::Error>> + Send;
    /// Rows of `model` by id; ids of no row are left out.
    fn rows(
        &mut self,
        model: &str,
        ids: &[Uuid],
    ) -> impl Future<Output = Result<HashMap<Uuid, Row>, Self::Error>> + Send;
    /// The row of `model` whose natural key is `name`.
    fn named(
        &mut self,
        model: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Uuid>, Self::Error>> + Send;
}

/// Whether a row of `model` is part of the cable graph, and what of it a change touches: the
/// cable (a cable's own row, or a termination's cable) and the endpoint a termination sets.
pub fn touches(model: &str, row: &Row) -> Option<(Option<Uuid>, Option<Endpoint>)> {
    match model {
        CABLE => Some((row.id(), None)),
        TERMINATION => Some((row.uuid("cable"), endpoint_of(row))),
        _ => None,
    }
}

/// The models whose writes change cable paths.
pub fn traces_paths(model: &str) -> bool {
    matches!(model, CABLE | TERMINATION)
}

/// The origins whose paths the touched cables and endpoints change, sorted, with the graph
/// around them to trace them on.
pub async fn origins<R: CableRows + Send>(
    rows: &mut R,
    cables: &[Uuid],
    mut touched: HashSet<Endpoint>,
) -> Result<(Vec<Endpoint>, MemoryGraph), R::Error> {
    // The rows now on the touched cables.
    let ids = rows.ids_where(TERMINATION, "cable", cables).await?;
    for row in rows.rows(TERMINATION, &ids).await?.values() {
        touched.extend(endpoint_of(row));
    }
    let seeds: Vec<Endpoint> = touched.iter().copied().collect();
    let (graph, reached) = load_graph(rows, &seeds).await?;
    let origins: HashSet<Endpoint> = reached
        .into_iter()
        .chain(touched.iter().copied())
        .filter(|e| e.kind.is_path_endpoint())
        .collect();
    let mut origins: Vec<Endpoint> = origins.into_iter().collect();
    origins.sort_by_key(|e| (e.kind, e.id));
    Ok((origins, graph))
}

/// The `dcim.cablepath` rows of one origin, each field name → value.
pub fn path_rows(
    origin: Endpoint,
    graph: &MemoryGraph,
) -> Result<Vec<Vec<(&'static str, Datum)>>, String> {
    let node = |n: &PathNode| Json::String(format!("{}:{}", n.label(), n.id()));
    Ok(paths_from(origin, graph)?
        .into_iter()
        .map(|t| {
            vec![
                ("origin_type", Datum::text(t.origin.kind.label())),
                (PATH_ORIGIN, Datum::Uuid(t.origin.id)),
                (
                    "destination_type",
                    t.destination.map_or(Datum::Null, |d| Datum::text(d.kind.label())),
                ),
                ("destination_id", t.destination.map_or(Datum::Null, |d| Datum::Uuid(d.id))),
                ("path", Datum::Json(Box::new(Json::Array(t.path.iter().map(node).collect())))),
                ("is_active", Datum::Bool(t.is_active)),
                ("is_split", Datum::Bool(t.is_split)),
                ("peer_connector", Datum::Int(i64::from(t.peer_connector))),
                ("origin_fans_out", Datum::Bool(false)),
                ("destination_fans_out", Datum::Bool(false)),
            ]
        })
        .collect())
}

/// The cable graph around `seeds`, loaded outwards until nothing new is reached, with every
/// endpoint reached.
async fn load_graph<R: CableRows + Send>(
    rows: &mut R,
    seeds: &[Endpoint],
) -> Result<(MemoryGraph, HashSet<Endpoint>), R::Error> {
    let mut graph = MemoryGraph::new();
    let mut seen: HashSet<Endpoint> = HashSet::new();
    let mut cables_seen: HashSet<Uuid> = HashSet::new();
    let mut wave: Vec<Endpoint> = seeds.to_vec();
    let mut connected_status: Option<Option<Uuid>> = None;
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
            let found = rows.ids_where(TERMINATION, kind.column(), &ids).await?;
            for row in rows.rows(TERMINATION, &found).await?.values() {
                cables.extend(row.uuid("cable").filter(|c| cables_seen.insert(*c)));
            }
        }
        if !cables.is_empty() {
            if connected_status.is_none() {
                connected_status = Some(rows.named(STATUS, "Connected").await?);
            }
            let connected = connected_status.flatten();
            for (id, cable) in rows.rows(CABLE, &cables).await? {
                let status = cable.uuid("status");
                graph.add_cable(id, status.is_some() && status == connected, None);
            }
            let found = rows.ids_where(TERMINATION, "cable", &cables).await?;
            for row in rows.rows(TERMINATION, &found).await?.values() {
                let (Some(cable), Some(end)) = (row.uuid("cable"), endpoint_of(row)) else {
                    continue;
                };
                let side = row.text("cable_end").and_then(CableEnd::parse);
                if let Some(side) = side {
                    graph.add_termination(cable, side, number(row, "connector"), end);
                    next.push(end);
                }
            }
        }
        // Pass-throughs: front ↔ rear ports, and the two sides of a circuit.
        let fronts = of_kind(&wave, EndpointKind::FrontPort);
        let mut rears = of_kind(&wave, EndpointKind::RearPort);
        for (id, front) in rows.rows(FRONT_PORT, &fronts).await? {
            if let Some(rear) = front.uuid("rear_port") {
                graph.add_front_port(id, rear, number(&front, "rear_port_position"));
                rears.push(rear);
                next.push(Endpoint::new(EndpointKind::RearPort, rear));
            }
        }
        rears.sort_unstable();
        rears.dedup();
        for (id, rear) in rows.rows(REAR_PORT, &rears).await? {
            graph.add_rear_port(id, number(&rear, "positions"));
        }
        let found = rows.ids_where(FRONT_PORT, "rear_port", &rears).await?;
        for (id, front) in rows.rows(FRONT_PORT, &found).await? {
            if let Some(rear) = front.uuid("rear_port") {
                graph.add_front_port(id, rear, number(&front, "rear_port_position"));
                next.push(Endpoint::new(EndpointKind::FrontPort, id));
            }
        }
        let terms = of_kind(&wave, EndpointKind::CircuitTermination);
        let circuits: Vec<Uuid> = rows
            .rows(CIRCUIT_TERMINATION, &terms)
            .await?
            .values()
            .filter_map(|t| t.uuid("circuit"))
            .collect();
        let found = rows.ids_where(CIRCUIT_TERMINATION, "circuit", &circuits).await?;
        for (id, term) in rows.rows(CIRCUIT_TERMINATION, &found).await? {
            let side = match term.text("term_side") {
                Some("A") => CircuitSide::A,
                Some("Z") => CircuitSide::Z,
                _ => continue,
            };
            if let Some(circuit) = term.uuid("circuit") {
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

fn of_kind(wave: &[Endpoint], kind: EndpointKind) -> Vec<Uuid> {
    wave.iter().filter(|e| e.kind == kind).map(|e| e.id).collect()
}

/// A small count of a row (a connector, a position), 1 when unset.
fn number(row: &Row, key: &str) -> u16 {
    row.int(key).and_then(|n| u16::try_from(n).ok()).unwrap_or(1)
}

/// The endpoint a termination row sets, if any.
fn endpoint_of(row: &Row) -> Option<Endpoint> {
    EndpointKind::ALL.iter().find_map(|k| row.uuid(k.column()).map(|id| Endpoint::new(*k, id)))
}
