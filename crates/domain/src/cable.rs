//! Cables: which terminations a cable may join, and how a cable path is traced end to end.
//!
//! Spec (Nautobot 3.2, branch `next`): nautobot/dcim/constants.py (COMPATIBLE_TERMINATION_TYPES,
//! BREAKOUT_COMPATIBLE_TERMINATION_TYPES, NONCONNECTABLE_IFACE_TYPES,
//! TERMINATION_FK_TO_CONTENT_TYPE); nautobot/dcim/models/cables.py (Cable.clean,
//! Cable.validate_termination_pair, CableToCableTermination.clean, CablePath.from_origin,
//! CablePath.trace); nautobot/dcim/utils.py (validate_cable_termination);
//! nautobot/dcim/models/device_components.py (PathEndpoint, CableTermination.get_cable_peer and
//! breakout_fans_out, FrontPort/RearPort positions); nautobot/dcim/signals.py (create_cablepath,
//! rebuild_paths).
//!
//! A cable's ends are rows of `dcim.cabletocabletermination`: (cable, end A/B, connector, one
//! termination column). A standard cable has one row per end on connector 1; a cable whose cable
//! type has several connectors on an end (a breakout) has one row per occupied connector.
//!
//! Two parts, both pure:
//! * rules: [`check_pairing`], [`check_termination`], [`check_termination_pair`],
//!   [`check_cable`] and the smaller checks, on plain facts the caller has loaded;
//! * tracing: [`trace`] and [`paths_from`] walk a [`CableGraph`] (the persistence layer loads one,
//!   e.g. a [`MemoryGraph`], in a few batched queries) and give what a `dcim.cablepath` row holds.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Termination kinds
// ---------------------------------------------------------------------------------------------

/// The nine models a cable can terminate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointKind {
    CircuitTermination,
    ConsolePort,
    ConsoleServerPort,
    FrontPort,
    Interface,
    PowerFeed,
    PowerOutlet,
    PowerPort,
    RearPort,
}

use EndpointKind as K;

/// The `dcim.cabletocabletermination` column of each kind, in the order of
/// [`EndpointKind::ALL`] (the enum's own order).
pub const TERMINATION_COLUMNS: [&str; 9] = [
    "circuit_termination",
    "console_port",
    "console_server_port",
    "front_port",
    "interface",
    "power_feed",
    "power_outlet",
    "power_port",
    "rear_port",
];

impl EndpointKind {
    pub const ALL: [EndpointKind; 9] = [
        K::CircuitTermination,
        K::ConsolePort,
        K::ConsoleServerPort,
        K::FrontPort,
        K::Interface,
        K::PowerFeed,
        K::PowerOutlet,
        K::PowerPort,
        K::RearPort,
    ];

    /// The model label, `app_label.model`: `dcim.interface`.
    pub fn label(self) -> &'static str {
        match self {
            K::CircuitTermination => "circuits.circuittermination",
            K::ConsolePort => "dcim.consoleport",
            K::ConsoleServerPort => "dcim.consoleserverport",
            K::FrontPort => "dcim.frontport",
            K::Interface => "dcim.interface",
            K::PowerFeed => "dcim.powerfeed",
            K::PowerOutlet => "dcim.poweroutlet",
            K::PowerPort => "dcim.powerport",
            K::RearPort => "dcim.rearport",
        }
    }

    /// The model name alone (`interface`), as Nautobot names kinds in its pairing messages.
    pub fn model_name(self) -> &'static str {
        let label = self.label();
        label.split_once('.').map_or(label, |(_, model)| model)
    }

    /// The termination column of `dcim.cabletocabletermination` that holds this kind.
    pub fn column(self) -> &'static str {
        TERMINATION_COLUMNS[self as usize]
    }

    /// The human name (Django's verbose name): `console server port`.
    pub fn verbose_name(self) -> &'static str {
        match self {
            K::CircuitTermination => "circuit termination",
            K::ConsolePort => "console port",
            K::ConsoleServerPort => "console server port",
            K::FrontPort => "front port",
            K::Interface => "interface",
            K::PowerFeed => "power feed",
            K::PowerOutlet => "power outlet",
            K::PowerPort => "power port",
            K::RearPort => "rear port",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }

    pub fn from_column(column: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.column() == column)
    }

    /// [`Self::from_label`], with the refusal the API gives for any other model.
    pub fn parse_label(label: &str) -> Result<Self, String> {
        Self::from_label(label).ok_or_else(|| format!("{label} is not a cable termination type"))
    }

    /// Whether a cable path can start and end here (Nautobot's `PathEndpoint` models): every
    /// kind but the two pass-through ports. A circuit termination is one, although a trace
    /// crosses it to the circuit's other termination when there is one.
    pub fn is_path_endpoint(self) -> bool {
        !self.is_pass_through()
    }

    /// Front and rear ports: a trace always continues through them.
    pub fn is_pass_through(self) -> bool {
        matches!(self, K::FrontPort | K::RearPort)
    }

    /// Whether this kind may terminate a cable whose type has several connectors on an end.
    pub fn supports_breakout(self) -> bool {
        matches!(self, K::CircuitTermination | K::FrontPort | K::Interface | K::RearPort)
    }

    /// The kinds the other end of a cable may be, most usual first (the relation is symmetric).
    pub fn compatible_peers(self) -> &'static [EndpointKind] {
        const PATCHABLE: &[EndpointKind] = &[
            K::Interface,
            K::FrontPort,
            K::RearPort,
            K::CircuitTermination,
            K::ConsolePort,
            K::ConsoleServerPort,
        ];
        match self {
            K::CircuitTermination => {
                &[K::Interface, K::FrontPort, K::RearPort, K::CircuitTermination]
            }
            K::ConsolePort => &[K::ConsoleServerPort, K::FrontPort, K::RearPort],
            K::ConsoleServerPort => &[K::ConsolePort, K::FrontPort, K::RearPort],
            K::Interface => &[K::Interface, K::CircuitTermination, K::FrontPort, K::RearPort],
            K::FrontPort | K::RearPort => PATCHABLE,
            K::PowerFeed | K::PowerOutlet => &[K::PowerPort],
            K::PowerPort => &[K::PowerOutlet, K::PowerFeed],
        }
    }

    /// Whether a cable may join this kind to `other`.
    pub fn can_face(self, other: EndpointKind) -> bool {
        self.compatible_peers().contains(&other)
    }
}

/// One termination: its kind and primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub kind: EndpointKind,
    pub id: Uuid,
}

impl Endpoint {
    pub fn new(kind: EndpointKind, id: Uuid) -> Self {
        Self { kind, id }
    }
}

/// The `cable_end` column: which end of the cable a termination row is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CableEnd {
    A,
    B,
}

impl CableEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            CableEnd::A => "A",
            CableEnd::B => "B",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "A" => Some(CableEnd::A),
            "B" => Some(CableEnd::B),
            _ => None,
        }
    }

    pub fn opposite(self) -> Self {
        match self {
            CableEnd::A => CableEnd::B,
            CableEnd::B => CableEnd::A,
        }
    }
}

/// One lane of a cable type's mapping: which A connector it joins to which B connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneMap {
    pub a_connector: u16,
    pub b_connector: u16,
}

/// The connector structure a cable gets from its `dcim.cabletype`. A cable without a type is a
/// standard cable: one connector per end, one lane (see [`CableLayout::standard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableLayout {
    pub a_connectors: u16,
    pub b_connectors: u16,
    /// The lanes in mapping order.
    pub mapping: Vec<LaneMap>,
}

impl CableLayout {
    pub fn standard() -> Self {
        Self {
            a_connectors: 1,
            b_connectors: 1,
            mapping: vec![LaneMap { a_connector: 1, b_connector: 1 }],
        }
    }

    /// The ends have different connector counts: a trunk fanning out to legs.
    pub fn is_breakout(&self) -> bool {
        self.a_connectors != self.b_connectors
    }

    /// Some end has more than one connector (a breakout, or e.g. a symmetric 2x2 shuffle).
    pub fn is_multi_connector(&self) -> bool {
        self.a_connectors > 1 || self.b_connectors > 1
    }

    pub fn connectors(&self, end: CableEnd) -> u16 {
        match end {
            CableEnd::A => self.a_connectors,
            CableEnd::B => self.b_connectors,
        }
    }

    /// The connectors of the other end that share a lane with `connector` on `end`, in mapping
    /// order, each once.
    pub fn far_connectors(&self, end: CableEnd, connector: u16) -> Vec<u16> {
        let mut out = Vec::new();
        for lane in &self.mapping {
            let (near, far) = match end {
                CableEnd::A => (lane.a_connector, lane.b_connector),
                CableEnd::B => (lane.b_connector, lane.a_connector),
            };
            if near == connector && !out.contains(&far) {
                out.push(far);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Cable rules
// ---------------------------------------------------------------------------------------------

/// Interface types that cannot take a cable (Nautobot's virtual and wireless categories), with the
/// label each is displayed with.
pub const NONCONNECTABLE_INTERFACE_TYPES: &[(&str, &str)] = &[
    ("virtual", "Virtual"),
    ("bridge", "Bridge"),
    ("lag", "Link Aggregation Group (LAG)"),
    ("tunnel", "Tunnel"),
    ("ieee802.11a", "IEEE 802.11a"),
    ("ieee802.11g", "IEEE 802.11b/g"),
    ("ieee802.11n", "IEEE 802.11n"),
    ("ieee802.11ac", "IEEE 802.11ac"),
    ("ieee802.11ad", "IEEE 802.11ad"),
    ("ieee802.11ax", "IEEE 802.11ax"),
    ("ieee802.11ay", "IEEE 802.11ay"),
    ("ieee802.15.1", "IEEE 802.15.1 (Bluetooth)"),
    ("other-wireless", "Other (Wireless)"),
];

/// Whether an interface of this `type` may be cabled.
pub fn is_connectable_interface_type(interface_type: &str) -> bool {
    !NONCONNECTABLE_INTERFACE_TYPES.iter().any(|(value, _)| *value == interface_type)
}

/// The kinds on the two ends of one cable may face each other. With more than one termination on
/// an end the cable type is multi-connector, so every kind must support breakout; each kind of
/// one end must be compatible with each kind of the other (an end may mix kinds: all breakout
/// kinds are mutually compatible). An empty end has nothing to check.
pub fn check_pairing(a: &[EndpointKind], b: &[EndpointKind]) -> Result<(), String> {
    let multi_connector = a.len() > 1 || b.len() > 1;
    for &kind in a.iter().chain(b) {
        check_breakout_kind(kind, multi_connector)?;
    }
    for &x in a {
        for &y in b {
            check_kinds(x, y)?;
        }
    }
    Ok(())
}

fn check_kinds(a: EndpointKind, b: EndpointKind) -> Result<(), String> {
    if a.can_face(b) {
        Ok(())
    } else {
        Err(format!(
            "Termination types {} and {} cannot be cabled together",
            a.model_name(),
            b.model_name()
        ))
    }
}

/// A cable type with several connectors on an end takes only the kinds that support breakout.
pub fn check_breakout_kind(kind: EndpointKind, multi_connector: bool) -> Result<(), String> {
    if !multi_connector || kind.supports_breakout() {
        return Ok(());
    }
    Err(format!(
        "{} cannot terminate a multi-connector cable type: only interfaces, front ports, rear \
         ports and circuit terminations can",
        a_or_an(kind)
    ))
}

/// "A power port", "An interface".
fn a_or_an(kind: EndpointKind) -> String {
    let name = kind.verbose_name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "An" } else { "A" };
    format!("{article} {name}")
}

/// What the rules need to know about one termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminationFacts<'a> {
    pub endpoint: Endpoint,
    /// How the termination is named in messages (its display string, usually its name).
    pub display: &'a str,
    /// Interfaces: the `type` value.
    pub interface_type: Option<&'a str>,
    /// Circuit terminations: whether `provider_network` is set.
    pub on_provider_network: bool,
    /// The cable the termination is on now, if any.
    pub cable: Option<Uuid>,
    /// Front ports: their rear port.
    pub rear_port: Option<Uuid>,
    /// Rear ports: their number of positions (1 for other kinds).
    pub positions: u16,
}

impl<'a> TerminationFacts<'a> {
    /// Facts with nothing special: not cabled, one position.
    pub fn new(endpoint: Endpoint, display: &'a str) -> Self {
        Self {
            endpoint,
            display,
            interface_type: None,
            on_provider_network: false,
            cable: None,
            rear_port: None,
            positions: 1,
        }
    }
}

/// The checks on one termination that need no peer (Nautobot's `validate_cable_termination`):
/// a virtual or wireless interface, a circuit termination on a provider network, and a
/// termination already on a cable other than `cable` (the cable being validated; `None` when it
/// is being created) are refused.
pub fn check_termination(t: &TerminationFacts<'_>, cable: Option<Uuid>) -> Result<(), String> {
    if t.endpoint.kind == K::Interface {
        if let Some(ty) = t.interface_type {
            if let Some((_, shown)) = NONCONNECTABLE_INTERFACE_TYPES.iter().find(|(v, _)| *v == ty)
            {
                return Err(format!("{shown} interfaces cannot be cabled"));
            }
        }
    }
    if t.endpoint.kind == K::CircuitTermination && t.on_provider_network {
        return Err("A circuit termination attached to a provider network cannot be cabled".into());
    }
    if let Some(current) = t.cable {
        if Some(current) != cable {
            return Err(format!("{} is already on cable #{current}", t.display));
        }
    }
    Ok(())
}

/// The checks on one A/B pair sharing a lane (Nautobot's `Cable.validate_termination_pair`), in
/// its order: not the same termination twice, compatible kinds, not a front port to its own rear
/// port, and two rear ports of more than one position each must have as many positions.
pub fn check_termination_pair(
    a: &TerminationFacts<'_>,
    b: &TerminationFacts<'_>,
) -> Result<(), String> {
    if a.endpoint == b.endpoint {
        return Err(format!("{} cannot be cabled to itself", a_or_an(a.endpoint.kind)));
    }
    check_kinds(a.endpoint.kind, b.endpoint.kind)?;
    let own_rear = |front: &TerminationFacts<'_>, rear: &TerminationFacts<'_>| {
        front.endpoint.kind == K::FrontPort
            && rear.endpoint.kind == K::RearPort
            && front.rear_port == Some(rear.endpoint.id)
    };
    if own_rear(a, b) || own_rear(b, a) {
        return Err("A front port cannot be cabled to its own rear port".into());
    }
    if a.endpoint.kind == K::RearPort
        && b.endpoint.kind == K::RearPort
        && a.positions > 1
        && b.positions > 1
        && a.positions != b.positions
    {
        return Err(format!(
            "{} has {} position(s) and {} has {}: rear ports cabled together need the same \
             number of positions when both have more than one",
            a.display, a.positions, b.display, b.positions
        ));
    }
    Ok(())
}

/// A termination row's connector must exist on its end: 1 on a standard cable (`layout` None),
/// `1..=connectors` on a typed one.
pub fn check_connector(
    end: CableEnd,
    connector: u16,
    layout: Option<&CableLayout>,
) -> Result<(), String> {
    let max = layout.map_or(1, |l| l.connectors(end));
    if (1..=max).contains(&connector) {
        Ok(())
    } else {
        Err(format!(
            "Connector {connector} does not exist on the {} end of this cable (valid: 1..{max})",
            end.as_str()
        ))
    }
}

/// A termination row sets exactly one termination column; `set` lists those it sets.
pub fn check_one_termination(set: &[&str]) -> Result<(), String> {
    match set.len() {
        1 => Ok(()),
        0 => {
            Err("A cable termination must set exactly one termination column; it sets none".into())
        }
        n => Err(format!(
            "A cable termination must set exactly one termination column; it sets {n}: {}",
            set.join(", ")
        )),
    }
}

/// A length needs a unit; without a length the unit is dropped. Returns the unit to store.
pub fn check_length(length: Option<u16>, unit: &str) -> Result<&str, String> {
    match length {
        Some(_) if unit.is_empty() => Err("A cable length needs a unit".into()),
        Some(_) => Ok(unit),
        None => Ok(""),
    }
}

/// A front port's position must exist on its rear port.
pub fn check_rear_port_position(
    position: u16,
    rear_port: &str,
    rear_positions: u16,
) -> Result<(), String> {
    if position > rear_positions {
        return Err(format!(
            "Rear port position {position} does not exist: rear port {rear_port} has only \
             {rear_positions} positions"
        ));
    }
    Ok(())
}

/// A rear port needs at least as many positions as it has front ports.
pub fn check_rear_port_positions(positions: u16, front_ports: usize) -> Result<(), String> {
    if usize::from(positions) < front_ports {
        return Err(format!(
            "A rear port cannot have fewer positions than its {front_ports} front ports"
        ));
    }
    Ok(())
}

/// One termination row of a cable being validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CableRow<'a> {
    pub end: CableEnd,
    pub connector: u16,
    pub termination: TerminationFacts<'a>,
}

/// Every rule for a cable's termination rows, as Nautobot runs them per row
/// (`CableToCableTermination.clean`): the lone-termination checks, breakout kinds, connector
/// range, then the pair checks against each row of the other end sharing a lane. `cable` is the
/// cable's id when it exists already; `layout` is None for a standard cable.
pub fn check_cable(
    cable: Option<Uuid>,
    layout: Option<&CableLayout>,
    rows: &[CableRow<'_>],
) -> Result<(), String> {
    let standard = CableLayout::standard();
    let effective = layout.unwrap_or(&standard);
    for row in rows {
        check_termination(&row.termination, cable)?;
        check_breakout_kind(row.termination.endpoint.kind, effective.is_multi_connector())?;
        check_connector(row.end, row.connector, layout)?;
    }
    for row in rows.iter().filter(|r| r.end == CableEnd::A) {
        let lane_peers = effective.far_connectors(CableEnd::A, row.connector);
        for peer in rows.iter().filter(|r| r.end == CableEnd::B) {
            if lane_peers.contains(&peer.connector) {
                check_termination_pair(&row.termination, &peer.termination)?;
            }
        }
    }
    Ok(())
}

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

// ---------------------------------------------------------------------------------------------
// The rule of the write path (see `hooks::rules`)
// ---------------------------------------------------------------------------------------------

/// The termination a row of `dcim.cabletocabletermination` sets, from the row and the objects
/// its references name (`related`, by column).
fn row_facts<'a>(
    row: &'a serde_json::Map<String, serde_json::Value>,
    endpoint_of: impl Fn(&str) -> Option<&'a serde_json::Value>,
) -> Result<Option<TerminationFacts<'a>>, String> {
    let set: Vec<&str> = EndpointKind::ALL
        .iter()
        .map(|k| k.column())
        .filter(|c| row.get(*c).is_some_and(|v| !v.is_null()))
        .collect();
    check_one_termination(&set)?;
    let Some(kind) = set.first().and_then(|c| EndpointKind::from_column(c)) else {
        return Ok(None);
    };
    let id = row
        .get(kind.column())
        .and_then(serde_json::Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_default();
    let Some(target) = endpoint_of(kind.column()).filter(|t| t.is_object()) else {
        return Ok(None);
    };
    let text = |k: &str| target.get(k).and_then(serde_json::Value::as_str);
    let mut facts = TerminationFacts::new(Endpoint::new(kind, id), text("name").unwrap_or("?"));
    facts.interface_type = text("type").filter(|_| kind == K::Interface);
    facts.on_provider_network = kind == K::CircuitTermination
        && target.get("provider_network").is_some_and(|p| !p.is_null());
    facts.rear_port = text("rear_port").and_then(|s| Uuid::parse_str(s).ok());
    facts.positions = target
        .get("positions")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|_| kind == K::RearPort)
        .unwrap_or(1);
    Ok(Some(facts))
}

fn row_end(row: &serde_json::Map<String, serde_json::Value>) -> (Option<CableEnd>, u16) {
    let end = row.get("cable_end").and_then(serde_json::Value::as_str).and_then(CableEnd::parse);
    let connector = row
        .get("connector")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(1);
    (end, connector)
}

/// A cable termination row passes Nautobot's checks against the other rows of its cable
/// (`CableToCableTermination.clean`, `Cable.validate_termination_pair`): one termination
/// column, a connectable termination, compatible kinds on the two ends, no front port to its own
/// rear port, rear ports of matching positions.
pub fn termination_rule(
    object: &crate::hooks::Object,
    _: Option<&crate::hooks::Object>,
    related: &crate::hooks::Related,
) -> Vec<crate::ValidationError> {
    let fail = |m: String| vec![crate::ValidationError::new("__all__", m)];
    let own = match row_facts(object, |c| related.get(c)) {
        Ok(Some(facts)) => facts,
        Ok(None) => return Vec::new(),
        Err(m) => return fail(m),
    };
    let own_id = object.get("id").and_then(serde_json::Value::as_str);
    let mut rows = Vec::new();
    let (end, connector) = row_end(object);
    let Some(end) = end else { return Vec::new() };
    rows.push(CableRow { end, connector, termination: own });
    let others = related.get("terminations").and_then(serde_json::Value::as_array);
    for other in others.into_iter().flatten() {
        let Some(map) = other.as_object() else { continue };
        if map.get("id").and_then(serde_json::Value::as_str) == own_id {
            continue;
        }
        let (Some(end), connector) = row_end(map) else { continue };
        if let Ok(Some(termination)) = row_facts(map, |c| map.get(c)) {
            rows.push(CableRow { end, connector, termination });
        }
    }
    let cable = object
        .get("cable")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok());
    match check_cable(cable, None, &rows) {
        Ok(()) => Vec::new(),
        Err(m) => fail(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn ep(kind: EndpointKind, n: u128) -> Endpoint {
        Endpoint::new(kind, id(n))
    }
    fn iface(n: u128) -> Endpoint {
        ep(K::Interface, n)
    }
    fn fp(n: u128) -> Endpoint {
        ep(K::FrontPort, n)
    }
    fn rp(n: u128) -> Endpoint {
        ep(K::RearPort, n)
    }
    fn ct(n: u128) -> Endpoint {
        ep(K::CircuitTermination, n)
    }
    fn c(n: u128) -> PathNode {
        PathNode::Cable(id(n))
    }
    fn t(e: Endpoint) -> PathNode {
        PathNode::Termination(e)
    }

    /// A connected standard cable `n` from `a` to `b`.
    fn cable(g: &mut MemoryGraph, n: u128, a: Endpoint, b: Endpoint) {
        g.add_cable(id(n), true, None);
        g.add_termination(id(n), CableEnd::A, 1, a);
        g.add_termination(id(n), CableEnd::B, 1, b);
    }

    /// A panel port pair: rear port `rear` of `positions`, front port `front` at `position`.
    fn panel(g: &mut MemoryGraph, front: u128, rear: u128, position: u16, positions: u16) {
        g.add_rear_port(id(rear), positions);
        g.add_front_port(id(front), id(rear), position);
    }

    fn layout(a: u16, b: u16, lanes: &[(u16, u16)]) -> CableLayout {
        CableLayout {
            a_connectors: a,
            b_connectors: b,
            mapping: lanes
                .iter()
                .map(|&(a, b)| LaneMap { a_connector: a, b_connector: b })
                .collect(),
        }
    }

    #[test]
    fn interface_to_interface() {
        let mut g = MemoryGraph::new();
        cable(&mut g, 100, iface(1), iface(2));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(2)));
        assert_eq!(tr.path, vec![c(100)]);
        assert!(tr.is_active && !tr.is_split);
        assert_eq!(tr.stop, Stop::Destination);
        assert_eq!(
            tr.hops(),
            vec![Hop { near: Some(iface(1)), cable: Some(id(100)), far: Some(iface(2)) }]
        );
        assert_eq!(tr.segment_count(), 1);
        assert_eq!(trace(iface(2), &g).unwrap().destination, Some(iface(1)));
        // An uncabled termination has no path at all.
        assert_eq!(trace(iface(3), &g), None);
        assert_eq!(paths_from(iface(3), &g), Ok(vec![]));

        // A planned (not connected) cable still reaches the far end but is not active.
        g.add_cable(id(100), false, None);
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(2)));
        assert!(!tr.is_active);
    }

    #[test]
    fn through_patch_panels_by_position() {
        // IF1 -C1- FP11 [RP1 x4] -C2- [RP2 x4] FP21 -C3- IF2
        // IF3 -C4- FP12 (pos 2)        (pos 2) FP22 -C5- IF4
        let mut g = MemoryGraph::new();
        panel(&mut g, 11, 10, 1, 4);
        panel(&mut g, 12, 10, 2, 4);
        panel(&mut g, 21, 20, 1, 4);
        panel(&mut g, 22, 20, 2, 4);
        cable(&mut g, 1, iface(1), fp(11));
        cable(&mut g, 2, rp(10), rp(20));
        cable(&mut g, 3, fp(21), iface(2));
        cable(&mut g, 4, iface(3), fp(12));
        cable(&mut g, 5, fp(22), iface(4));

        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(2)));
        assert_eq!(tr.path, vec![c(1), t(fp(11)), t(rp(10)), c(2), t(rp(20)), t(fp(21)), c(3)]);
        assert!(tr.is_active && !tr.is_split);
        assert_eq!(tr.segment_count(), 3);
        assert_eq!(tr.cables(), vec![id(1), id(2), id(3)]);
        assert_eq!(tr.hops()[1], Hop { near: Some(rp(10)), cable: Some(id(2)), far: Some(rp(20)) });

        let tr = trace(iface(4), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(3)));
        assert_eq!(tr.path, vec![c(5), t(fp(22)), t(rp(20)), c(2), t(rp(10)), t(fp(12)), c(4)]);
    }

    #[test]
    fn nested_panels_pop_positions_last_in_first_out() {
        // IF1 -C1- FPa(pos1 of RPa) ; RPa -C2- FPb(pos2 of RPb) ; RPb -C3- RPc ;
        // RPc pos2 = FPc2 -C4- RPd ; RPd pos1 = FPd1 -C5- IF2.
        // Decoys: RPc pos1 = FPc1 -C6- IF3, RPd pos2 = FPd2 -C7- IF4.
        let mut g = MemoryGraph::new();
        panel(&mut g, 11, 10, 1, 4);
        panel(&mut g, 21, 20, 2, 4);
        panel(&mut g, 31, 30, 1, 4);
        panel(&mut g, 32, 30, 2, 4);
        panel(&mut g, 41, 40, 1, 4);
        panel(&mut g, 42, 40, 2, 4);
        cable(&mut g, 1, iface(1), fp(11));
        cable(&mut g, 2, rp(10), fp(21));
        cable(&mut g, 3, rp(20), rp(30));
        cable(&mut g, 4, fp(32), rp(40));
        cable(&mut g, 5, fp(41), iface(2));
        cable(&mut g, 6, fp(31), iface(3));
        cable(&mut g, 7, fp(42), iface(4));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(2)));
        assert_eq!(
            tr.path,
            vec![
                c(1),
                t(fp(11)),
                t(rp(10)),
                c(2),
                t(fp(21)),
                t(rp(20)),
                c(3),
                t(rp(30)),
                t(fp(32)),
                c(4),
                t(rp(40)),
                t(fp(41)),
                c(5)
            ]
        );
    }

    #[test]
    fn incomplete_path_ends_at_unconnected_port() {
        // IF1 -C1- RP1 (one position) ; FP1 has no cable.
        let mut g = MemoryGraph::new();
        panel(&mut g, 11, 10, 1, 1);
        cable(&mut g, 1, iface(1), rp(10));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, None);
        assert_eq!(tr.path, vec![c(1), t(rp(10)), t(fp(11))]);
        assert!(!tr.is_active && !tr.is_split);
        assert_eq!(tr.stop, Stop::Open);
        assert_eq!(tr.hops()[1], Hop { near: Some(fp(11)), cable: None, far: None });

        // IF2 -C2- FP2 [RP2] -C3- RP3 (one position, no front port).
        panel(&mut g, 21, 20, 1, 1);
        g.add_rear_port(id(30), 1);
        cable(&mut g, 2, iface(2), fp(21));
        cable(&mut g, 3, rp(20), rp(30));
        let tr = trace(iface(2), &g).unwrap();
        assert_eq!(tr.path, vec![c(2), t(fp(21)), t(rp(20)), c(3), t(rp(30))]);
        assert_eq!((tr.destination, tr.is_active, tr.stop), (None, false, Stop::Open));
    }

    #[test]
    fn circuit_in_the_middle() {
        // IF1 -C1- CTA ~circuit 90~ CTZ -C2- IF2
        let mut g = MemoryGraph::new();
        g.add_circuit_termination(id(50), id(90), CircuitSide::A);
        g.add_circuit_termination(id(51), id(90), CircuitSide::Z);
        cable(&mut g, 1, iface(1), ct(50));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.path, vec![c(1), t(ct(50)), t(ct(51))]);
        assert_eq!((tr.destination, tr.is_active), (None, false));

        cable(&mut g, 2, ct(51), iface(2));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(2)));
        assert_eq!(tr.path, vec![c(1), t(ct(50)), t(ct(51)), c(2)]);
        assert!(tr.is_active);
        assert_eq!(
            tr.hops()[1],
            Hop { near: Some(ct(51)), cable: Some(id(2)), far: Some(iface(2)) }
        );
        let back = trace(iface(2), &g).unwrap();
        assert_eq!(back.path, vec![c(2), t(ct(51)), t(ct(50)), c(1)]);
        assert_eq!(back.destination, Some(iface(1)));

        // A circuit with a single termination: that termination is the destination.
        let mut g = MemoryGraph::new();
        g.add_circuit_termination(id(50), id(90), CircuitSide::A);
        cable(&mut g, 1, iface(1), ct(50));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(
            (tr.destination, tr.path.clone(), tr.is_active),
            (Some(ct(50)), vec![c(1)], true)
        );
    }

    #[test]
    fn loops_terminate() {
        // Both terminations of one circuit cabled to each other.
        let mut g = MemoryGraph::new();
        g.add_circuit_termination(id(50), id(90), CircuitSide::A);
        g.add_circuit_termination(id(51), id(90), CircuitSide::Z);
        cable(&mut g, 1, ct(50), ct(51));
        let tr = trace(ct(50), &g).unwrap();
        assert_eq!(tr.stop, Stop::Loop);
        assert_eq!((tr.destination, tr.is_active), (None, false));
        assert_eq!(paths_from(ct(50), &g), Err(LOOP_DETECTED.to_string()));

        // IF1 -C1- FP11 [RP10 x2] -C2- FP21 [RP20] -C3- FP12 (pos 2 of RP10) -> RP10 again.
        let mut g = MemoryGraph::new();
        panel(&mut g, 11, 10, 1, 2);
        panel(&mut g, 12, 10, 2, 2);
        panel(&mut g, 21, 20, 1, 1);
        cable(&mut g, 1, iface(1), fp(11));
        cable(&mut g, 2, rp(10), fp(21));
        cable(&mut g, 3, rp(20), fp(12));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.stop, Stop::Loop);
        assert!(paths_from(iface(1), &g).is_err());
    }

    #[test]
    fn rear_port_without_position_splits() {
        // IF1 -C1- RP1 (4 positions): FP11 -C2- IF2, FP12 -C3- IF3.
        let mut g = MemoryGraph::new();
        panel(&mut g, 11, 10, 1, 4);
        panel(&mut g, 12, 10, 2, 4);
        cable(&mut g, 1, iface(1), rp(10));
        cable(&mut g, 2, fp(11), iface(2));
        cable(&mut g, 3, fp(12), iface(3));
        let tr = trace(iface(1), &g).unwrap();
        assert_eq!(tr.path, vec![c(1), t(rp(10))]);
        assert!(tr.is_split && !tr.is_active);
        assert_eq!((tr.destination, tr.stop), (None, Stop::Split));
        let hops = tr.hops();
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[1], Hop { near: None, cable: None, far: None });
        // The other direction has a position, so it is not split.
        let tr = trace(iface(3), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(1)));
        assert_eq!(tr.path, vec![c(3), t(fp(12)), t(rp(10)), c(1)]);
        assert!(!tr.is_split);
    }

    #[test]
    fn breakout_lanes() {
        // Trunk IF1 on A1 of a 1x4 breakout; only B1 has IF2.
        let mut g = MemoryGraph::new();
        let l14 = layout(1, 4, &[(1, 1), (1, 2), (1, 3), (1, 4)]);
        g.add_cable(id(1), true, Some(l14.clone()));
        g.add_termination(id(1), CableEnd::A, 1, iface(1));
        g.add_termination(id(1), CableEnd::B, 1, iface(2));
        let paths = paths_from(iface(1), &g).unwrap();
        assert_eq!(paths.iter().map(|p| p.peer_connector).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(paths[0].destination, Some(iface(2)));
        assert!(paths[0].is_active && !paths[0].is_split);
        for p in &paths[1..] {
            assert_eq!((p.destination, p.is_split, p.is_active), (None, true, false));
            assert_eq!(p.path, vec![c(1)]);
        }
        assert_eq!(paths_from(iface(2), &g).unwrap()[0].destination, Some(iface(1)));

        // Mid-path: IF3 -C2- RP30 [FP31] on A1 of another 1x4 breakout: the trace splits at FP31.
        panel(&mut g, 31, 30, 1, 1);
        cable(&mut g, 2, iface(3), rp(30));
        g.add_cable(id(3), true, Some(l14));
        g.add_termination(id(3), CableEnd::A, 1, fp(31));
        g.add_termination(id(3), CableEnd::B, 1, iface(4));
        let tr = trace(iface(3), &g).unwrap();
        assert_eq!(tr.path, vec![c(2), t(rp(30)), t(fp(31))]);
        assert!(tr.is_split);

        // ... but from the leg side the lane leads to the single trunk.
        cable(&mut g, 4, iface(5), rp(40));
        panel(&mut g, 41, 40, 1, 1);
        g.add_cable(id(5), true, Some(layout(1, 2, &[(1, 1), (1, 2)])));
        g.add_termination(id(5), CableEnd::A, 1, iface(6));
        g.add_termination(id(5), CableEnd::B, 2, fp(41));
        let tr = trace(iface(5), &g).unwrap();
        assert_eq!(tr.destination, Some(iface(6)));
        assert!(!tr.is_split && tr.is_active);
    }

    #[test]
    fn pairing_rules() {
        assert_eq!(check_pairing(&[K::Interface], &[K::Interface]), Ok(()));
        assert_eq!(check_pairing(&[K::Interface], &[K::CircuitTermination]), Ok(()));
        assert_eq!(check_pairing(&[K::ConsolePort], &[K::FrontPort]), Ok(()));
        assert_eq!(check_pairing(&[K::PowerFeed], &[K::PowerPort]), Ok(()));
        assert_eq!(check_pairing(&[K::PowerOutlet], &[K::PowerPort]), Ok(()));
        assert_eq!(
            check_pairing(&[K::PowerPort], &[K::Interface]),
            Err("Termination types powerport and interface cannot be cabled together".into())
        );
        assert!(check_pairing(&[K::ConsolePort], &[K::ConsolePort]).is_err());
        assert!(check_pairing(&[K::PowerOutlet], &[K::FrontPort]).is_err());
        assert!(check_pairing(&[K::PowerFeed], &[K::PowerOutlet]).is_err());
        // Several terminations on an end: breakout kinds only, mixing allowed.
        assert_eq!(check_pairing(&[K::Interface], &[K::Interface, K::FrontPort]), Ok(()));
        let err = check_pairing(&[K::PowerOutlet], &[K::PowerPort, K::PowerPort]).unwrap_err();
        assert!(err.starts_with("A power outlet cannot terminate a multi-connector"), "{err}");
        assert_eq!(check_pairing(&[], &[K::PowerPort]), Ok(()));
        // The relation is symmetric.
        for a in EndpointKind::ALL {
            for b in EndpointKind::ALL {
                assert_eq!(a.can_face(b), b.can_face(a), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn kinds_name_their_model_and_column() {
        assert_eq!(K::Interface.label(), "dcim.interface");
        assert_eq!(K::CircuitTermination.label(), "circuits.circuittermination");
        assert_eq!(K::ConsoleServerPort.column(), "console_server_port");
        assert_eq!(K::PowerFeed.model_name(), "powerfeed");
        for k in EndpointKind::ALL {
            assert_eq!(EndpointKind::from_label(k.label()), Some(k));
            assert_eq!(EndpointKind::from_column(k.column()), Some(k));
            // The column table follows the enum's order.
            assert_eq!(k.column().replace('_', ""), k.model_name());
        }
        assert_eq!(
            EndpointKind::parse_label("dcim.device"),
            Err("dcim.device is not a cable termination type".into())
        );
        let endpoints: Vec<_> =
            EndpointKind::ALL.into_iter().filter(|k| k.is_path_endpoint()).collect();
        assert_eq!(endpoints.len(), 7);
        assert!(!K::FrontPort.is_path_endpoint() && !K::RearPort.is_path_endpoint());
    }

    #[test]
    fn termination_rules() {
        let mut lag = TerminationFacts::new(iface(1), "ae0");
        lag.interface_type = Some("lag");
        assert_eq!(
            check_termination(&lag, None),
            Err("Link Aggregation Group (LAG) interfaces cannot be cabled".into())
        );
        let mut wifi = lag;
        wifi.interface_type = Some("ieee802.11ax");
        assert!(check_termination(&wifi, None).is_err());
        let mut copper = lag;
        copper.interface_type = Some("1000base-t");
        assert_eq!(check_termination(&copper, None), Ok(()));
        assert!(is_connectable_interface_type("10gbase-x-sfpp"));
        assert!(!is_connectable_interface_type("virtual"));

        let mut cid = TerminationFacts::new(ct(5), "C1: A");
        cid.on_provider_network = true;
        assert!(check_termination(&cid, None).is_err());

        let mut taken = TerminationFacts::new(iface(2), "eth0");
        taken.cable = Some(id(7));
        assert_eq!(
            check_termination(&taken, None),
            Err(format!("eth0 is already on cable #{}", id(7)))
        );
        assert_eq!(check_termination(&taken, Some(id(7))), Ok(()));
        assert!(check_termination(&taken, Some(id(8))).is_err());
    }

    #[test]
    fn pair_rules() {
        let a = TerminationFacts::new(iface(1), "eth0");
        assert_eq!(
            check_termination_pair(&a, &a),
            Err("An interface cannot be cabled to itself".into())
        );
        let power = TerminationFacts::new(ep(K::PowerPort, 2), "PSU1");
        assert!(check_termination_pair(&a, &power).is_err());

        let mut front = TerminationFacts::new(fp(11), "F1");
        front.rear_port = Some(id(10));
        let rear = TerminationFacts::new(rp(10), "R1");
        let other_rear = TerminationFacts::new(rp(20), "R2");
        assert!(check_termination_pair(&front, &rear).is_err());
        assert!(check_termination_pair(&rear, &front).is_err());
        assert_eq!(check_termination_pair(&front, &other_rear), Ok(()));

        let mut r4 = rear;
        r4.positions = 4;
        let mut r2 = other_rear;
        r2.positions = 2;
        assert!(check_termination_pair(&r4, &r2).unwrap_err().starts_with("R1 has 4 position(s)"));
        r2.positions = 1;
        assert_eq!(check_termination_pair(&r4, &r2), Ok(()));
    }

    #[test]
    fn cable_rows_and_small_checks() {
        let standard = [
            CableRow {
                end: CableEnd::A,
                connector: 1,
                termination: TerminationFacts::new(iface(1), "a"),
            },
            CableRow {
                end: CableEnd::B,
                connector: 1,
                termination: TerminationFacts::new(iface(2), "b"),
            },
        ];
        assert_eq!(check_cable(None, None, &standard), Ok(()));
        let mut bad = standard;
        bad[1].connector = 2;
        assert!(check_cable(None, None, &bad).is_err());
        let mut power = standard;
        power[1].termination = TerminationFacts::new(ep(K::PowerPort, 3), "p");
        assert!(check_cable(None, None, &power).is_err());

        // On a 2x2 straight cable only lane-sharing rows are paired: A1-B1 and A2-B2.
        let mut front = TerminationFacts::new(fp(11), "F1");
        front.rear_port = Some(id(10));
        let two = layout(2, 2, &[(1, 1), (2, 2)]);
        let rows = [
            CableRow { end: CableEnd::A, connector: 1, termination: front },
            CableRow {
                end: CableEnd::B,
                connector: 2,
                termination: TerminationFacts::new(rp(10), "R1"),
            },
        ];
        assert_eq!(check_cable(None, Some(&two), &rows), Ok(()));
        let crossed = layout(2, 2, &[(1, 2), (2, 1)]);
        assert!(check_cable(None, Some(&crossed), &rows).is_err());
        let console = [CableRow {
            end: CableEnd::A,
            connector: 1,
            termination: TerminationFacts::new(ep(K::ConsolePort, 4), "con"),
        }];
        assert!(check_cable(None, Some(&two), &console).is_err());

        assert_eq!(check_connector(CableEnd::B, 4, Some(&layout(1, 4, &[]))), Ok(()));
        assert!(check_connector(CableEnd::A, 2, Some(&layout(1, 4, &[]))).is_err());
        assert!(check_connector(CableEnd::A, 0, None).is_err());
        assert_eq!(check_one_termination(&["interface"]), Ok(()));
        assert!(check_one_termination(&[]).is_err());
        assert!(check_one_termination(&["interface", "rear_port"])
            .unwrap_err()
            .contains("interface, rear_port"));
        assert_eq!(check_length(Some(3), "m"), Ok("m"));
        assert!(check_length(Some(3), "").is_err());
        assert_eq!(check_length(None, "m"), Ok(""));
        assert!(check_rear_port_position(5, "R1", 4).is_err());
        assert_eq!(check_rear_port_position(4, "R1", 4), Ok(()));
        assert!(check_rear_port_positions(2, 3).is_err());
        assert_eq!(check_rear_port_positions(3, 3), Ok(()));
    }

    #[test]
    fn rebuild_origins() {
        // IF1 -C1- FP11 [RP10]; IF1's stored path ends at RP10. Cabling RP10 to IF2 with C2 must
        // retrace IF1 (its path contains RP10) and trace IF2 (a new endpoint on C2).
        let stored_path = vec![c(1), t(fp(11)), t(rp(10))];
        let stored = [(iface(1), stored_path.as_slice())];
        let origins = origins_to_rebuild(id(2), &[rp(10), iface(2)], stored.iter().copied());
        assert_eq!(origins, vec![iface(1), iface(2)]);
        // Deleting C1: IF1's path contains it; IF1 is no longer among the cable's terminations.
        assert_eq!(origins_to_rebuild(id(1), &[], stored.iter().copied()), vec![iface(1)]);
        assert_eq!(origins_to_rebuild(id(9), &[], stored.iter().copied()), vec![]);
    }
}
