//! Cable rules: which terminations a cable may join and the checks of `Cable.clean`,
//! `CableToCableTermination.clean` and the termination models, on plain facts.

use uuid::Uuid;

use crate::row::Row;

use super::*;

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
// The rule of the write path (see `hooks::rules`)
// ---------------------------------------------------------------------------------------------

/// The termination a row of `dcim.cabletocabletermination` sets, from the row and the objects
/// its references name (`target`, by field).
fn row_facts<'a>(
    row: &'a Row,
    target_of: impl Fn(&str) -> Option<&'a Row>,
) -> Result<Option<TerminationFacts<'a>>, String> {
    let set: Vec<&str> =
        EndpointKind::ALL.iter().map(|k| k.column()).filter(|c| row.has(c)).collect();
    check_one_termination(&set)?;
    let Some(kind) = set.first().and_then(|c| EndpointKind::from_column(c)) else {
        return Ok(None);
    };
    let id = row.uuid(kind.column()).unwrap_or_default();
    let Some(target) = target_of(kind.column()) else {
        return Ok(None);
    };
    let mut facts =
        TerminationFacts::new(Endpoint::new(kind, id), target.text("name").unwrap_or("?"));
    facts.interface_type = target.text("type").filter(|_| kind == K::Interface);
    facts.on_provider_network = kind == K::CircuitTermination && target.has("provider_network");
    facts.rear_port = target.uuid("rear_port");
    facts.positions = target
        .int("positions")
        .and_then(|n| u16::try_from(n).ok())
        .filter(|_| kind == K::RearPort)
        .unwrap_or(1);
    Ok(Some(facts))
}

fn row_end(row: &Row) -> (Option<CableEnd>, u16) {
    let end = row.text("cable_end").and_then(CableEnd::parse);
    let connector = row.int("connector").and_then(|n| u16::try_from(n).ok()).unwrap_or(1);
    (end, connector)
}

/// A cable termination row passes Nautobot's checks against the other rows of its cable
/// (`CableToCableTermination.clean`, `Cable.validate_termination_pair`): one termination
/// column, a connectable termination, compatible kinds on the two ends, no front port to its own
/// rear port, rear ports of matching positions.
pub fn termination_rule(
    object: &Row,
    _: Option<&Row>,
    related: &crate::row::Related,
) -> Vec<crate::ValidationError> {
    let fail = |m: String| vec![crate::ValidationError::new("__all__", m)];
    let own = match row_facts(object, |c| related.row(c)) {
        Ok(Some(facts)) => facts,
        Ok(None) => return Vec::new(),
        Err(m) => return fail(m),
    };
    let mut rows = Vec::new();
    let (end, connector) = row_end(object);
    let Some(end) = end else { return Vec::new() };
    rows.push(CableRow { end, connector, termination: own });
    for other in related.list("terminations") {
        if other.row.id() == object.id() {
            continue;
        }
        let (Some(end), connector) = row_end(&other.row) else { continue };
        if let Ok(Some(termination)) = row_facts(&other.row, |c| other.expanded.get(c)) {
            rows.push(CableRow { end, connector, termination });
        }
    }
    match check_cable(object.uuid("cable"), None, &rows) {
        Ok(()) => Vec::new(),
        Err(m) => fail(m),
    }
}
