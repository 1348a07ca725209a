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
//! Three parts, all pure:
//! * here: the termination kinds, the ends of a cable and its layout;
//! * `rules`: [`check_pairing`], [`check_termination`], [`check_termination_pair`],
//!   [`check_cable`] and the smaller checks, on plain facts the caller has loaded;
//! * `trace`: [`trace()`] and [`paths_from`] walk a [`CableGraph`] and give what a
//!   `dcim.cablepath` row holds;
//! * `load`: which paths a write changes, and the [`MemoryGraph`] around them loaded through a
//!   [`CableRows`] reader the store implements, a few batched reads a step.

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

mod load;
mod rules;
mod trace;

pub use load::*;
pub use rules::*;
pub use trace::*;

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
