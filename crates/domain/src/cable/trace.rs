//! Path tracing: `CablePath.from_origin` over a [`CableGraph`] the caller loads.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::*;

// ---------------------------------------------------------------------------------------------
// Path tracing
// ---------------------------------------------------------------------------------------------

/// The refusal when tracing loops: Nautobot refuses the cable change that closes the loop.
pub const LOOP_DETECTED: &str = "The cable path loops back on itself";

/// The cable attached to a termination, as the trace needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedCable {
    pub id: Uuid,
    /// Its status is `Connected`.
    pub connected: bool,
    /// Its cable type is a breakout (the ends have different connector counts).
    pub breakout: bool,
    /// Breakout cables only: the connectors of the far end that this termination's connector
    /// shares a lane with, in mapping order, occupied or not. Empty otherwise.
    pub far_connectors: Vec<u16>,
}

impl AttachedCable {
    /// The termination sits where a breakout fans out to several far connectors.
    pub fn fans_out(&self) -> bool {
        self.breakout && self.far_connectors.len() > 1
    }
}

/// A termination on the far end of a cable, with the connector it occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub connector: u16,
    pub endpoint: Endpoint,
}

/// The cabling facts a trace reads. Implement it over data loaded beforehand ([`MemoryGraph`]):
/// a trace calls it a few times per hop.
pub trait CableGraph {
    /// The cable attached to `end`, or None when `end` is not cabled.
    fn cable(&self, end: Endpoint) -> Option<AttachedCable>;
    /// The terminations on the far end of the cable attached to `end`, ordered by connector: on a
    /// breakout only those sharing a lane with `end`'s connector, otherwise all of that end.
    /// Empty when `end` is not cabled.
    fn peers(&self, end: Endpoint) -> Vec<Peer>;
    /// A front port's rear port and its position on it.
    fn front_to_rear(&self, front: Uuid) -> Option<(Uuid, u16)>;
    /// A rear port's number of positions (1 when unknown).
    fn rear_positions(&self, rear: Uuid) -> u16;
    /// The front port mapped to `position` of a rear port.
    fn rear_to_front(&self, rear: Uuid, position: u16) -> Option<Uuid>;
    /// The circuit's termination on the other side (A <-> Z) of a circuit termination.
    fn circuit_peer(&self, termination: Uuid) -> Option<Uuid>;
}

/// One element of a stored path: a cable or a termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathNode {
    Cable(Uuid),
    Termination(Endpoint),
}

impl PathNode {
    /// The model label of the node (`dcim.cable`, `dcim.frontport`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            PathNode::Cable(_) => "dcim.cable",
            PathNode::Termination(e) => e.kind.label(),
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            PathNode::Cable(id) => *id,
            PathNode::Termination(e) => e.id,
        }
    }
}

/// Why a trace stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It reached a path endpoint: the destination.
    Destination,
    /// It ran out of cabling: a termination without a cable, a cable without a far end, or a
    /// rear port without a front port at the position.
    Open,
    /// It cannot choose where to go on: a multi-position rear port reached with no position to
    /// take, or a breakout fanning out (or a breakout lane with nothing on it).
    Split,
    /// It came back to a termination it had left already.
    Loop,
}

/// A near end, the cable from it, and the far end it reaches (a `None` pads an unfinished hop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub near: Option<Endpoint>,
    pub cable: Option<Uuid>,
    pub far: Option<Endpoint>,
}

/// The outcome of tracing from one origin: the content of one `dcim.cablepath` row, plus why the
/// trace stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub origin: Endpoint,
    /// The path endpoint reached, if the trace reached one.
    pub destination: Option<Endpoint>,
    /// The nodes after the origin, up to but not including the destination: the origin's cable,
    /// then for each pass-through the termination entered and the one left, then the next cable.
    pub path: Vec<PathNode>,
    /// A destination was reached and every cable crossed is `Connected`.
    pub is_active: bool,
    pub is_split: bool,
    /// The far-end connector followed on the first cable (1 unless the origin is on a breakout).
    pub peer_connector: u16,
    pub stop: Stop,
}

impl Trace {
    /// The path as hops, origin first, destination last: each hop is (near end, cable, far end),
    /// with `None` padding where the path stops early (Nautobot's `CablePath.trace`).
    pub fn hops(&self) -> Vec<Hop> {
        let mut items: Vec<Option<PathNode>> = Vec::with_capacity(self.path.len() + 3);
        items.push(Some(PathNode::Termination(self.origin)));
        items.extend(self.path.iter().copied().map(Some));
        while items.len() % 3 != 2 {
            items.push(None);
        }
        items.push(self.destination.map(PathNode::Termination));
        let end = |n: Option<PathNode>| match n {
            Some(PathNode::Termination(e)) => Some(e),
            _ => None,
        };
        let cable = |n: Option<PathNode>| match n {
            Some(PathNode::Cable(c)) => Some(c),
            _ => None,
        };
        items
            .chunks(3)
            .map(|c| Hop { near: end(c[0]), cable: cable(c[1]), far: end(c[2]) })
            .collect()
    }

    /// The cables crossed, in order.
    pub fn cables(&self) -> Vec<Uuid> {
        self.path
            .iter()
            .filter_map(|n| match n {
                PathNode::Cable(id) => Some(*id),
                PathNode::Termination(_) => None,
            })
            .collect()
    }

    /// Whether `node` is in the stored path (origin and destination are not).
    pub fn contains(&self, node: PathNode) -> bool {
        self.path.contains(&node)
    }

    /// Nautobot's segment count: the number of (near, cable, far) triples the path fills.
    pub fn segment_count(&self) -> usize {
        (1 + self.path.len() + usize::from(self.destination.is_some())) / 3
    }
}

/// Traces from `origin` along the first lane (what a standard cable has). None when the origin is
/// not cabled: it has no path.
pub fn trace(origin: Endpoint, graph: &impl CableGraph) -> Option<Trace> {
    trace_lane(origin, 1, graph)
}

/// Traces from `origin`; when the origin is on a breakout cable, the first hop goes to the far
/// termination on `peer_connector` (a lane with nothing there splits the path at once).
///
/// From the origin: take the cable to its far end. A front port leads to its rear port (a rear
/// port of several positions remembers the front port's position on a stack); a rear port leads
/// to the front port at the position popped from the stack (position 1 on a one-position rear
/// port; with an empty stack the path splits there). A circuit termination leads to the circuit's
/// other termination, or is the destination when the circuit has none. Any other kind is the
/// destination. Past the first hop, a termination where a breakout fans out splits the path.
pub fn trace_lane(origin: Endpoint, peer_connector: u16, graph: &impl CableGraph) -> Option<Trace> {
    graph.cable(origin)?;
    let mut t = Trace {
        origin,
        destination: None,
        path: Vec::new(),
        is_active: true,
        is_split: false,
        peer_connector,
        stop: Stop::Open,
    };
    let mut positions: Vec<u16> = Vec::new();
    let mut visited: HashSet<Endpoint> = HashSet::new();
    let mut node = origin;
    let mut first_hop = true;
    while let Some(cable) = graph.cable(node) {
        if !visited.insert(node) {
            t.stop = Stop::Loop;
            break;
        }
        if !cable.connected {
            t.is_active = false;
        }
        if !first_hop && cable.fans_out() {
            t.is_split = true;
            t.stop = Stop::Split;
            break;
        }
        t.path.push(PathNode::Cable(cable.id));
        let peers = graph.peers(node);
        let peer = if first_hop && cable.breakout {
            let lane = peers.iter().find(|p| p.connector == peer_connector);
            if lane.is_none() {
                t.is_split = true;
                t.stop = Stop::Split;
            }
            lane.map(|p| p.endpoint)
        } else {
            peers.first().map(|p| p.endpoint)
        };
        first_hop = false;
        let Some(peer) = peer else { break };
        match peer.kind {
            K::FrontPort => {
                t.path.push(PathNode::Termination(peer));
                let Some((rear, position)) = graph.front_to_rear(peer.id) else { break };
                if graph.rear_positions(rear) > 1 {
                    positions.push(position);
                }
                node = Endpoint::new(K::RearPort, rear);
                t.path.push(PathNode::Termination(node));
            }
            K::RearPort => {
                t.path.push(PathNode::Termination(peer));
                let position = if graph.rear_positions(peer.id) <= 1 {
                    1
                } else if let Some(p) = positions.pop() {
                    p
                } else {
                    t.is_split = true;
                    t.stop = Stop::Split;
                    break;
                };
                let Some(front) = graph.rear_to_front(peer.id, position) else { break };
                node = Endpoint::new(K::FrontPort, front);
                t.path.push(PathNode::Termination(node));
            }
            K::CircuitTermination => {
                let Some(other) = graph.circuit_peer(peer.id) else {
                    t.destination = Some(peer);
                    t.stop = Stop::Destination;
                    break;
                };
                t.path.push(PathNode::Termination(peer));
                node = Endpoint::new(K::CircuitTermination, other);
                t.path.push(PathNode::Termination(node));
            }
            _ => {
                t.destination = Some(peer);
                t.stop = Stop::Destination;
                break;
            }
        }
    }
    if t.destination.is_none() {
        t.is_active = false;
    }
    Some(t)
}

/// Every path `origin` has (Nautobot's `create_cablepath`): none for a pass-through port or an
/// uncabled termination; on a breakout, one per far connector its connector shares a lane with;
/// otherwise one. A loop refuses the change that made it ([`LOOP_DETECTED`]).
pub fn paths_from(origin: Endpoint, graph: &impl CableGraph) -> Result<Vec<Trace>, String> {
    if !origin.kind.is_path_endpoint() {
        return Ok(Vec::new());
    }
    let Some(cable) = graph.cable(origin) else { return Ok(Vec::new()) };
    let lanes = if cable.breakout { cable.far_connectors } else { vec![1] };
    let mut out = Vec::with_capacity(lanes.len());
    for lane in lanes {
        if let Some(t) = trace_lane(origin, lane, graph) {
            if t.stop == Stop::Loop {
                return Err(LOOP_DETECTED.into());
            }
            out.push(t);
        }
    }
    Ok(out)
}

/// The origins whose paths must be traced again after a change to `cable` (it was created or
/// deleted, or one of its termination rows was added, changed or removed; Nautobot's
/// `rebuild_paths` on a cable). `terminations` are the cable's terminations now; `stored` the
/// stored paths as (origin, path). Delete the stored paths that contain the cable or one of those
/// terminations, then write [`paths_from`] for each origin returned, origins in order, each once.
///
/// A status change is not a rebuild: leaving `Connected` clears `is_active` on the paths that
/// contain the cable; entering it rebuilds like this.
pub fn origins_to_rebuild<'a>(
    cable: Uuid,
    terminations: &[Endpoint],
    stored: impl IntoIterator<Item = (Endpoint, &'a [PathNode])>,
) -> Vec<Endpoint> {
    let stored: Vec<(Endpoint, &[PathNode])> = stored.into_iter().collect();
    let mut out: Vec<Endpoint> = Vec::new();
    let push = |e: Endpoint, out: &mut Vec<Endpoint>| {
        if !out.contains(&e) {
            out.push(e);
        }
    };
    for (origin, path) in &stored {
        if path.contains(&PathNode::Cable(cable)) {
            push(*origin, &mut out);
        }
    }
    for &term in terminations {
        for (origin, path) in &stored {
            if path.contains(&PathNode::Termination(term)) {
                push(*origin, &mut out);
            }
        }
        if term.kind.is_path_endpoint() {
            push(term, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// In-memory graph
// ---------------------------------------------------------------------------------------------

/// The side of a circuit a circuit termination is on (`term_side`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitSide {
    A,
    Z,
}

impl CircuitSide {
    pub fn opposite(self) -> Self {
        match self {
            CircuitSide::A => CircuitSide::Z,
            CircuitSide::Z => CircuitSide::A,
        }
    }
}

#[derive(Debug, Clone)]
struct StoredCable {
    connected: bool,
    layout: Option<CableLayout>,
    rows: Vec<(CableEnd, u16, Endpoint)>,
}

/// A [`CableGraph`] over rows loaded beforehand: cables, their termination rows, front and rear
/// ports, circuit terminations. A termination row whose cable was not added counts as being on a
/// standard cable that is not `Connected`.
#[derive(Debug, Clone, Default)]
pub struct MemoryGraph {
    cables: HashMap<Uuid, StoredCable>,
    on_cable: HashMap<Endpoint, (Uuid, CableEnd, u16)>,
    rear_of_front: HashMap<Uuid, (Uuid, u16)>,
    front_at: HashMap<(Uuid, u16), Uuid>,
    rear_positions: HashMap<Uuid, u16>,
    circuit_of: HashMap<Uuid, (Uuid, CircuitSide)>,
    circuit_sides: HashMap<(Uuid, CircuitSide), Uuid>,
}

impl MemoryGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cable; `layout` None for a cable without a cable type.
    pub fn add_cable(&mut self, id: Uuid, connected: bool, layout: Option<CableLayout>) {
        let rows = self.cables.remove(&id).map(|c| c.rows).unwrap_or_default();
        self.cables.insert(id, StoredCable { connected, layout, rows });
    }

    /// A `dcim.cabletocabletermination` row.
    pub fn add_termination(&mut self, cable: Uuid, end: CableEnd, connector: u16, term: Endpoint) {
        self.on_cable.insert(term, (cable, end, connector));
        let stored = self.cables.entry(cable).or_insert_with(|| StoredCable {
            connected: false,
            layout: None,
            rows: Vec::new(),
        });
        stored.rows.push((end, connector, term));
    }

    pub fn add_rear_port(&mut self, id: Uuid, positions: u16) {
        self.rear_positions.insert(id, positions);
    }

    pub fn add_front_port(&mut self, id: Uuid, rear_port: Uuid, position: u16) {
        self.rear_of_front.insert(id, (rear_port, position));
        self.front_at.insert((rear_port, position), id);
    }

    pub fn add_circuit_termination(&mut self, id: Uuid, circuit: Uuid, side: CircuitSide) {
        self.circuit_of.insert(id, (circuit, side));
        self.circuit_sides.insert((circuit, side), id);
    }

    fn row(&self, end: Endpoint) -> Option<(&StoredCable, Uuid, CableEnd, u16)> {
        let &(cable, side, connector) = self.on_cable.get(&end)?;
        let stored = self.cables.get(&cable)?;
        Some((stored, cable, side, connector))
    }
}

impl CableGraph for MemoryGraph {
    fn cable(&self, end: Endpoint) -> Option<AttachedCable> {
        let (stored, id, side, connector) = self.row(end)?;
        let breakout = stored.layout.as_ref().is_some_and(CableLayout::is_breakout);
        let far_connectors = match &stored.layout {
            Some(layout) if breakout => layout.far_connectors(side, connector),
            _ => Vec::new(),
        };
        Some(AttachedCable { id, connected: stored.connected, breakout, far_connectors })
    }

    fn peers(&self, end: Endpoint) -> Vec<Peer> {
        let Some((stored, _, side, connector)) = self.row(end) else { return Vec::new() };
        let lanes = match &stored.layout {
            Some(layout) if layout.is_breakout() => Some(layout.far_connectors(side, connector)),
            _ => None,
        };
        let mut out: Vec<Peer> = stored
            .rows
            .iter()
            .filter(|(e, c, _)| {
                *e == side.opposite() && lanes.as_ref().is_none_or(|l| l.contains(c))
            })
            .map(|&(_, connector, endpoint)| Peer { connector, endpoint })
            .collect();
        out.sort_by_key(|p| p.connector);
        out
    }

    fn front_to_rear(&self, front: Uuid) -> Option<(Uuid, u16)> {
        self.rear_of_front.get(&front).copied()
    }

    fn rear_positions(&self, rear: Uuid) -> u16 {
        self.rear_positions.get(&rear).copied().unwrap_or(1)
    }

    fn rear_to_front(&self, rear: Uuid, position: u16) -> Option<Uuid> {
        self.front_at.get(&(rear, position)).copied()
    }

    fn circuit_peer(&self, termination: Uuid) -> Option<Uuid> {
        let &(circuit, side) = self.circuit_of.get(&termination)?;
        self.circuit_sides.get(&(circuit, side.opposite())).copied()
    }
}
