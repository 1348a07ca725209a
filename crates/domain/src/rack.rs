//! Rack units as plain data: which units a rack has, which a device takes, whether a device or
//! a reservation fits, and the elevation of a face.
//!
//! Spec: nautobot/dcim/models/racks.py (`Rack.units`, `Rack.get_rack_units`,
//! `Rack.get_available_units`, `Rack.get_reserved_units`, `Rack.clean`, `RackReservation.clean`)
//! and nautobot/dcim/models/devices.py (`Device.clean`: face, position, 0U and child device
//! checks, then the rack space check).
//!
//! A device's `position` is the lowest-numbered unit it takes, whatever way the rack numbers its
//! units; a device of height `h` at `p` takes `p..p+h`. A full-depth device takes its units on
//! both faces, a half-depth one only on its own face. Reservations never block a device, as in
//! Nautobot. Units are whole: Nautobot's `DeviceType.u_height` is an integer, no half units.
//!
//! `starting_unit` is not a Nautobot field (NetBox has it): Nautobot's racks always start at U1,
//! which is [`Rack::new`]. Any other start shifts every unit, and nothing else changes.

use std::collections::BTreeSet;

use serde::Serialize;
use uuid::Uuid;

use crate::row::{Listed, Related, Row};
use crate::ValidationError;
use serde_json::Value as Json;

/// A rack face. A device without a face is `None` where a face is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    Front,
    Rear,
}

impl Face {
    /// The stored value: `front`, `rear`.
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Front => "front",
            Face::Rear => "rear",
        }
    }

    /// Reads a stored value; blank or anything else is no face.
    pub fn from_stored(text: &str) -> Option<Face> {
        match text {
            "front" => Some(Face::Front),
            "rear" => Some(Face::Rear),
            _ => None,
        }
    }
}

/// The numbering of a rack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rack {
    /// Height in units (Nautobot: 1 to 500).
    pub u_height: u16,
    /// The lowest unit number; 1 in Nautobot.
    pub starting_unit: u16,
    /// Units are numbered top to bottom: the top unit is the lowest number.
    pub desc_units: bool,
}

impl Rack {
    /// A Nautobot rack: units 1 to `u_height`.
    pub fn new(u_height: u16, desc_units: bool) -> Self {
        Self { u_height, starting_unit: 1, desc_units }
    }

    /// One above the highest unit number.
    fn end(&self) -> u32 {
        u32::from(self.starting_unit) + u32::from(self.u_height)
    }

    /// Whether `unit` is one of the rack's units.
    pub fn has_unit(&self, unit: u16) -> bool {
        unit >= self.starting_unit && u32::from(unit) < self.end()
    }

    /// The units from the top of the rack down, as Nautobot lists them: highest number first,
    /// or lowest first when the rack numbers its units top to bottom.
    pub fn units(&self) -> Vec<u16> {
        let ascending = (self.starting_unit..=u16::MAX).take(usize::from(self.u_height));
        if self.desc_units {
            ascending.collect()
        } else {
            let mut units: Vec<u16> = ascending.collect();
            units.reverse();
            units
        }
    }
}

/// A device as rack space sees it; its device type gives `u_height`, `is_full_depth` and
/// `is_child_device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RackDevice {
    pub id: Uuid,
    /// The device type as messages name it (`Acme X1`).
    pub device_type: String,
    /// The lowest unit the device takes; `None` when it is in the rack but not in a unit.
    pub position: Option<u16>,
    /// Height in units; 0 for a zero-U device (a vertical PDU).
    pub u_height: u16,
    pub face: Option<Face>,
    /// Takes its units on both faces.
    pub is_full_depth: bool,
    /// Its device type is a child type: it sits in a parent's device bay, never in a unit.
    pub is_child_device: bool,
}

/// A reservation of units in a rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RackReservation {
    pub id: Uuid,
    pub units: Vec<u16>,
}

/// One unit of one face in an elevation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RackUnit {
    /// The unit number.
    pub unit: u16,
    /// `U12`.
    pub name: String,
    pub face: Face,
    /// The device taking this unit on this face: mounted on it, or full depth from the other.
    pub device: Option<Uuid>,
    /// The reservation holding this unit; a reserved unit may hold a device too.
    pub reservation: Option<Uuid>,
    /// Whether a device takes the unit.
    pub occupied: bool,
}

/// The units a device takes, lowest first: none unless it has a position and a height.
pub fn occupied_units(device: &RackDevice) -> Vec<u16> {
    match device.position {
        Some(p) if p > 0 => (p..=u16::MAX).take(usize::from(device.u_height)).collect(),
        _ => Vec::new(),
    }
}

/// Whether `device` takes units on `face`: mounted there or full depth. `None` (a full-depth
/// device asking) is taken by every device.
fn blocks(device: &RackDevice, face: Option<Face>) -> bool {
    face.is_none() || device.face == face || device.is_full_depth
}

/// The units where a device of height `u_height` can have its position, highest first: every
/// unit from there up is in the rack and not taken. `face` is the candidate's face, `None` for
/// a full-depth candidate (which needs both faces free). Devices in `exclude` are ignored, so a
/// device being moved within its rack does not collide with itself. Reservations do not count.
pub fn available_units(
    rack: &Rack,
    devices: &[RackDevice],
    u_height: u16,
    face: Option<Face>,
    exclude: &[Uuid],
) -> Vec<u16> {
    let mut free: BTreeSet<u16> = rack.units().into_iter().collect();
    for device in devices {
        if exclude.contains(&device.id) || !blocks(device, face) {
            continue;
        }
        for unit in occupied_units(device) {
            free.remove(&unit);
        }
    }
    let fits = |start: u16| {
        (0..u32::from(u_height))
            .all(|i| u16::try_from(u32::from(start) + i).is_ok_and(|unit| free.contains(&unit)))
    };
    free.iter().rev().copied().filter(|&start| fits(start)).collect()
}

/// Whether `candidate` may stand where it says in `rack`, among `others` (the rack's devices;
/// the candidate itself, matched by id, is ignored). Every failing field is reported once, with
/// the first of Nautobot's messages for it.
pub fn check_fit(
    rack: &Rack,
    others: &[RackDevice],
    candidate: &RackDevice,
) -> Result<(), Vec<ValidationError>> {
    let mut errors = Vec::new();
    // Django's MinValueValidator(1) on `position`; `Device.clean` then treats 0 as no position.
    let position = match candidate.position {
        Some(0) => {
            errors.push(ValidationError::new(
                "position",
                "Ensure this value is greater than or equal to 1.",
            ));
            None
        }
        p => p,
    };
    if position.is_some() && candidate.face.is_none() {
        errors.push(ValidationError::new(
            "face",
            "Must specify rack face when defining rack position.",
        ));
    }
    if candidate.is_child_device && candidate.face.is_some() {
        errors.push(ValidationError::new(
            "face",
            "Child device types cannot be assigned to a rack face; that is an attribute of the \
             parent device.",
        ));
    }
    if let Some(p) = position {
        let dt = &candidate.device_type;
        if candidate.u_height == 0 {
            errors.push(ValidationError::new(
                "position",
                format!("A U0 device type ({dt}) cannot be assigned to a rack position."),
            ));
        } else if candidate.is_child_device {
            errors.push(ValidationError::new(
                "position",
                "Child device types cannot be assigned to a rack position; that is an attribute \
                 of the parent device.",
            ));
        } else if errors.is_empty() {
            let face = if candidate.is_full_depth { None } else { candidate.face };
            let free = available_units(rack, others, candidate.u_height, face, &[candidate.id]);
            if !free.contains(&p) {
                errors.push(ValidationError::new(
                    "position",
                    format!(
                        "U{p} is already occupied or does not have sufficient space to \
                         accommodate this device type: {dt} ({}U)",
                        candidate.u_height
                    ),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn unit_list(units: &[u16]) -> String {
    units.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// Whether `candidate` may reserve its units in `rack`: every unit exists there, and none is
/// held by another reservation of the rack (`others`; the candidate itself, matched by id, is
/// ignored). Units a device takes may be reserved, as in Nautobot.
pub fn check_reservation(
    rack: &Rack,
    others: &[RackReservation],
    candidate: &RackReservation,
) -> Result<(), Vec<ValidationError>> {
    let invalid: Vec<u16> =
        candidate.units.iter().copied().filter(|&u| !rack.has_unit(u)).collect();
    if !invalid.is_empty() {
        return Err(vec![ValidationError::new(
            "units",
            format!("Invalid unit(s) for {}U rack: {}", rack.u_height, unit_list(&invalid)),
        )]);
    }
    let reserved: BTreeSet<u16> = others
        .iter()
        .filter(|r| r.id != candidate.id)
        .flat_map(|r| r.units.iter().copied())
        .collect();
    let taken: Vec<u16> =
        candidate.units.iter().copied().filter(|u| reserved.contains(u)).collect();
    if !taken.is_empty() {
        return Err(vec![ValidationError::new(
            "units",
            format!("The following units have already been reserved: {}", unit_list(&taken)),
        )]);
    }
    Ok(())
}

/// Whether `rack` (a new height or start for a stored rack) still houses every device with a
/// position. Nautobot's `Rack.clean` measures from the device with the highest position; this
/// measures from the highest unit any device takes.
pub fn check_rack_height(rack: &Rack, devices: &[RackDevice]) -> Result<(), Vec<ValidationError>> {
    let top = devices.iter().flat_map(occupied_units).max();
    match top {
        Some(top) if u32::from(top) >= rack.end() => {
            let needed = u32::from(top) + 1 - u32::from(rack.starting_unit.min(top));
            Err(vec![ValidationError::new(
                "u_height",
                format!(
                    "Rack must be at least {needed}U tall to house currently installed devices."
                ),
            )])
        }
        _ => Ok(()),
    }
}

/// The elevation of one face, a unit per entry from the top of the rack down: the device taking
/// the unit on that face and the reservation holding it. Where data overlap, the later device
/// or reservation in the slices wins, as in Nautobot. Units a device reaches beyond the rack
/// are not shown.
pub fn elevation(
    rack: &Rack,
    devices: &[RackDevice],
    reservations: &[RackReservation],
    face: Face,
) -> Vec<RackUnit> {
    let mut units: Vec<RackUnit> = rack
        .units()
        .into_iter()
        .map(|unit| RackUnit {
            unit,
            name: format!("U{unit}"),
            face,
            device: None,
            reservation: None,
            occupied: false,
        })
        .collect();
    let index = |unit: u16| -> Option<usize> {
        if !rack.has_unit(unit) {
            return None;
        }
        let from_bottom = usize::from(unit - rack.starting_unit);
        let from_top = if rack.desc_units {
            from_bottom
        } else {
            usize::from(rack.u_height) - 1 - from_bottom
        };
        Some(from_top)
    };
    for device in devices.iter().filter(|d| blocks(d, Some(face))) {
        for unit in occupied_units(device) {
            if let Some(entry) = index(unit).and_then(|i| units.get_mut(i)) {
                entry.device = Some(device.id);
                entry.occupied = true;
            }
        }
    }
    for reservation in reservations {
        for &unit in &reservation.units {
            if let Some(entry) = index(unit).and_then(|i| units.get_mut(i)) {
                entry.reservation = Some(reservation.id);
            }
        }
    }
    units
}

// ---- The rules of the write path (see `hooks::rules`) --------------------------------------

fn int(object: &Row, key: &str) -> Option<u16> {
    object.int(key).and_then(|n| u16::try_from(n).ok())
}

fn rack_of(rack: &Row) -> Rack {
    Rack::new(int(rack, "u_height").unwrap_or(0), rack.bool("desc_units").unwrap_or(false))
}

/// A stored device, with its device type, as rack space sees it.
fn rack_device(device: &Row, ty: Option<&Row>) -> RackDevice {
    let ty_int = |k| ty.and_then(|t| int(t, k));
    RackDevice {
        id: device.id().unwrap_or_default(),
        device_type: ty.and_then(|t| t.text("model")).unwrap_or("?").to_owned(),
        position: int(device, "position"),
        u_height: ty_int("u_height").unwrap_or(1),
        face: device.text("face").and_then(Face::from_stored),
        is_full_depth: ty.and_then(|t| t.bool("is_full_depth")).unwrap_or(true),
        is_child_device: ty.and_then(|t| t.text("subdevice_role")) == Some("child"),
    }
}

/// A device of a rule's or usage's list, its device type expanded.
fn listed_device(listed: &Listed) -> RackDevice {
    rack_device(&listed.row, listed.expanded.get("device_type"))
}

fn reservation(row: &Row) -> RackReservation {
    RackReservation { id: row.id().unwrap_or_default(), units: reserved_units(row) }
}

/// What a rack holds, from the rows its usage lists read ([`crate::hooks::Behaviour::usage_lists`]):
/// its devices (with their device types) and its reservations, for [`elevation`].
pub fn contents(related: &Related) -> (Vec<RackDevice>, Vec<RackReservation>) {
    let devices = related.list("rack_devices").iter().map(listed_device).collect();
    let reservations = related.list("reservations").iter().map(|r| reservation(&r.row)).collect();
    (devices, reservations)
}

/// The units a reservation holds.
fn reserved_units(reservation: &Row) -> Vec<u16> {
    reservation
        .json("units")
        .and_then(Json::as_array)
        .map(|l| l.iter().filter_map(|u| u.as_u64().and_then(|n| u16::try_from(n).ok())).collect())
        .unwrap_or_default()
}

/// A device in a rack fits its position (`Device.clean`).
pub fn device_fit_rule(object: &Row, _: Option<&Row>, related: &Related) -> Vec<ValidationError> {
    let Some(rack) = related.row("rack") else { return Vec::new() };
    let candidate = rack_device(object, related.row("device_type"));
    let others: Vec<RackDevice> = related.list("rack_devices").iter().map(listed_device).collect();
    check_fit(&rack_of(rack), &others, &candidate).err().unwrap_or_default()
}

/// A reservation's units exist and are not reserved already (`RackReservation.clean`).
pub fn reservation_rule(object: &Row, _: Option<&Row>, related: &Related) -> Vec<ValidationError> {
    let Some(rack) = related.row("rack") else { return Vec::new() };
    let others: Vec<RackReservation> =
        related.list("reservations").iter().map(|r| reservation(&r.row)).collect();
    check_reservation(&rack_of(rack), &others, &reservation(object)).err().unwrap_or_default()
}

/// A rack stays tall enough for the devices in it (`Rack.clean`).
pub fn rack_height_rule(
    object: &Row,
    before: Option<&Row>,
    related: &Related,
) -> Vec<ValidationError> {
    if before.is_none() {
        return Vec::new();
    }
    let devices: Vec<RackDevice> = related.list("rack_devices").iter().map(listed_device).collect();
    check_rack_height(&rack_of(object), &devices).err().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    use Face::{Front, Rear};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A device: id, position, height, face, full depth.
    fn dev(
        n: u128,
        position: Option<u16>,
        u_height: u16,
        face: Option<Face>,
        full: bool,
    ) -> RackDevice {
        RackDevice {
            id: id(n),
            device_type: format!("DT{u_height}"),
            position,
            u_height,
            face,
            is_full_depth: full,
            is_child_device: false,
        }
    }

    fn resv(n: u128, units: &[u16]) -> RackReservation {
        RackReservation { id: id(n), units: units.to_vec() }
    }

    fn rack(u_height: u16, starting_unit: u16, desc_units: bool) -> Rack {
        Rack { u_height, starting_unit, desc_units }
    }

    #[test]
    fn units_in_nautobot_order() {
        let cases: &[(Rack, &[u16])] = &[
            (rack(4, 1, false), &[4, 3, 2, 1]),
            (rack(4, 1, true), &[1, 2, 3, 4]),
            (rack(3, 10, false), &[12, 11, 10]),
            (rack(3, 10, true), &[10, 11, 12]),
            (rack(1, 1, false), &[1]),
            (rack(0, 1, false), &[]),
        ];
        for (r, expected) in cases {
            assert_eq!(r.units(), expected.to_vec(), "{r:?}");
        }
        assert_eq!(Rack::new(42, false).units().len(), 42);
        assert_eq!(Rack::new(42, false).units()[0], 42);
        let has: &[(Rack, u16, bool)] = &[
            (rack(42, 1, false), 0, false),
            (rack(42, 1, false), 1, true),
            (rack(42, 1, false), 42, true),
            (rack(42, 1, false), 43, false),
            (rack(4, 10, true), 9, false),
            (rack(4, 10, true), 13, true),
            (rack(4, 10, true), 14, false),
        ];
        for (r, unit, expected) in has {
            assert_eq!(r.has_unit(*unit), *expected, "{r:?} U{unit}");
        }
    }

    #[test]
    fn units_a_device_takes() {
        let cases: &[(Option<u16>, u16, &[u16])] = &[
            (Some(10), 1, &[10]),
            (Some(10), 3, &[10, 11, 12]),
            (Some(10), 0, &[]),
            (None, 2, &[]),
            (Some(0), 2, &[]),
            (Some(u16::MAX), 2, &[u16::MAX]),
        ];
        for (position, height, expected) in cases {
            let d = dev(1, *position, *height, Some(Front), false);
            assert_eq!(occupied_units(&d), expected.to_vec(), "{position:?} {height}U");
        }
    }

    #[test]
    fn available_units_follow_faces_and_depth() {
        let r = rack(6, 1, false);
        // Front half-depth 2U at 1; rear half-depth 1U at 4; front full-depth 1U at 6.
        let devices = [
            dev(1, Some(1), 2, Some(Front), false),
            dev(2, Some(4), 1, Some(Rear), false),
            dev(3, Some(6), 1, Some(Front), true),
        ];
        type Case<'a> = (&'a str, u16, Option<Face>, &'a [u128], &'a [u16]);
        let cases: &[Case] = &[
            ("1U front", 1, Some(Front), &[], &[5, 4, 3]),
            ("1U rear", 1, Some(Rear), &[], &[5, 3, 2, 1]),
            ("1U full depth", 1, None, &[], &[5, 3]),
            ("2U front", 2, Some(Front), &[], &[4, 3]),
            ("2U rear", 2, Some(Rear), &[], &[2, 1]),
            ("3U full depth", 3, None, &[], &[]),
            ("front without device 1", 2, Some(Front), &[1], &[4, 3, 2, 1]),
            ("full depth without 2", 3, None, &[2], &[3]),
            ("0U fits anywhere free", 0, Some(Front), &[], &[5, 4, 3]),
        ];
        for (what, height, face, exclude, expected) in cases {
            let exclude: Vec<Uuid> = exclude.iter().map(|&n| id(n)).collect();
            assert_eq!(
                available_units(&r, &devices, *height, *face, &exclude),
                expected.to_vec(),
                "{what}"
            );
        }
        // Numbering does not change where devices fit; a start above 1 shifts the units.
        let desc = rack(6, 1, true);
        assert_eq!(available_units(&desc, &devices, 1, Some(Front), &[]), vec![5, 4, 3]);
        let shifted = rack(3, 10, false);
        let high = [dev(1, Some(11), 1, Some(Front), false)];
        assert_eq!(available_units(&shifted, &high, 1, Some(Front), &[]), vec![12, 10]);
        assert_eq!(available_units(&shifted, &high, 2, Some(Rear), &[]), vec![11, 10]);
    }

    fn space(p: u16, u_height: u16) -> String {
        format!(
            "U{p} is already occupied or does not have sufficient space to accommodate this \
             device type: DT{u_height} ({u_height}U)"
        )
    }

    /// The errors a case expects, as (field, message).
    type Expect = Vec<(&'static str, String)>;

    /// A half-depth candidate (id 9) at `p`, `h` units high, on `face`.
    fn at(p: u16, h: u16, face: Face) -> RackDevice {
        dev(9, Some(p), h, Some(face), false)
    }

    fn full(d: RackDevice) -> RackDevice {
        RackDevice { is_full_depth: true, ..d }
    }

    fn moved(d: RackDevice) -> RackDevice {
        RackDevice { id: id(1), ..d }
    }

    fn no_room(p: u16, h: u16) -> Expect {
        vec![("position", space(p, h))]
    }

    const NO_FACE: &str = "Must specify rack face when defining rack position.";
    const U0: &str = "A U0 device type (DT0) cannot be assigned to a rack position.";
    const MIN_1: &str = "Ensure this value is greater than or equal to 1.";
    const CHILD_FACE: &str = "Child device types cannot be assigned to a rack face; that is an \
                              attribute of the parent device.";

    #[test]
    fn check_fit_gives_nautobot_errors() {
        let r42 = rack(42, 1, false);
        let desc = rack(42, 1, true);
        let from5 = rack(10, 5, false);
        let others = [
            dev(1, Some(10), 2, Some(Front), false), // front 10-11
            dev(2, Some(20), 1, Some(Rear), true),   // full depth 20
            dev(3, Some(30), 1, Some(Rear), false),  // rear 30
        ];
        let child = RackDevice { is_child_device: true, ..dev(9, None, 0, Some(Front), false) };
        let child_placed = RackDevice { position: Some(5), ..child.clone() };
        let child_faceless = RackDevice { face: None, ..child.clone() };
        let cases: Vec<(&str, Rack, RackDevice, Expect)> = vec![
            ("fits", r42, at(1, 1, Front), vec![]),
            ("top unit", r42, at(42, 1, Front), vec![]),
            ("beyond the top", r42, at(42, 2, Front), no_room(42, 2)),
            ("outside the rack", r42, at(44, 1, Front), no_room(44, 1)),
            ("no face", r42, dev(9, Some(1), 1, None, false), vec![("face", NO_FACE.into())]),
            (
                "no face, taken unit",
                r42,
                dev(9, Some(11), 1, None, false),
                vec![("face", NO_FACE.into())],
            ),
            ("face, no position", r42, dev(9, None, 1, Some(Rear), false), vec![]),
            ("neither", r42, dev(9, None, 1, None, false), vec![]),
            ("overlaps same face", r42, at(11, 1, Front), no_room(11, 1)),
            ("reaches into same face", r42, at(9, 2, Front), no_room(9, 2)),
            ("other face is free", r42, at(10, 2, Rear), vec![]),
            ("full depth blocks other face", r42, at(20, 1, Front), no_room(20, 1)),
            ("full depth blocked by rear", r42, full(at(30, 1, Front)), no_room(30, 1)),
            ("half depth beside rear", r42, at(30, 1, Front), vec![]),
            ("moving within itself", r42, moved(at(11, 2, Front)), vec![]),
            ("moving onto another", r42, moved(at(19, 2, Front)), no_room(19, 2)),
            ("0U in a unit", r42, at(5, 0, Front), vec![("position", U0.into())]),
            ("0U without position", r42, dev(9, None, 0, None, false), vec![]),
            ("position 0", r42, at(0, 1, Front), vec![("position", MIN_1.into())]),
            ("below the start", from5, at(4, 1, Front), no_room(4, 1)),
            ("at the start", from5, at(5, 1, Front), vec![]),
            ("top of a shifted rack", from5, at(14, 2, Front), no_room(14, 2)),
            ("descending, top", desc, at(41, 2, Front), vec![]),
            ("descending, beyond", desc, at(42, 2, Front), no_room(42, 2)),
            ("descending, overlap", desc, at(10, 1, Front), no_room(10, 1)),
            ("child on a face", r42, child, vec![("face", CHILD_FACE.into())]),
            ("child without face", r42, child_faceless, vec![]),
            (
                "child in a unit",
                r42,
                child_placed,
                vec![("face", CHILD_FACE.into()), ("position", U0.into())],
            ),
        ];
        for (what, r, candidate, expected) in cases {
            let expected: Vec<ValidationError> =
                expected.into_iter().map(|(f, m)| ValidationError::new(f, m)).collect();
            let got = check_fit(&r, &others, &candidate).err().unwrap_or_default();
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn check_reservation_gives_nautobot_errors() {
        let others = [resv(1, &[1, 2]), resv(2, &[10])];
        let invalid = |list: &str| format!("Invalid unit(s) for 10U rack: {list}");
        let taken = |list: &str| format!("The following units have already been reserved: {list}");
        let cases: Vec<(&str, Rack, RackReservation, Option<String>)> = vec![
            ("free units", rack(10, 1, false), resv(9, &[3, 4]), None),
            ("descending rack", rack(10, 1, true), resv(9, &[3, 4]), None),
            (
                "outside the rack",
                rack(10, 1, false),
                resv(9, &[0, 3, 11, 12]),
                Some(invalid("0, 11, 12")),
            ),
            ("overlap", rack(10, 1, false), resv(9, &[2, 3, 10]), Some(taken("2, 10"))),
            ("invalid before overlap", rack(10, 1, false), resv(9, &[2, 11]), Some(invalid("11"))),
            ("editing itself", rack(10, 1, false), resv(1, &[1, 2, 3]), None),
            ("below the start", rack(10, 5, false), resv(9, &[4, 5]), Some(invalid("4"))),
            ("top of a shifted rack", rack(10, 5, false), resv(9, &[14, 15]), Some(invalid("15"))),
            ("shifted overlap", rack(10, 5, false), resv(9, &[10, 11]), Some(taken("10"))),
            ("no units", rack(10, 1, false), resv(9, &[]), None),
        ];
        for (what, r, candidate, expected) in cases {
            let expected: Vec<ValidationError> =
                expected.into_iter().map(|m| ValidationError::new("units", m)).collect();
            let got = check_reservation(&r, &others, &candidate).err().unwrap_or_default();
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn rack_height_houses_installed_devices() {
        let devices = [
            dev(1, Some(10), 4, Some(Front), false),
            dev(2, Some(12), 1, Some(Rear), false),
            dev(3, None, 1, None, false),
        ];
        let message = |n: u16| {
            format!("Rack must be at least {n}U tall to house currently installed devices.")
        };
        let cases: &[(Rack, Option<u16>)] = &[
            (rack(13, 1, false), None),
            (rack(12, 1, false), Some(13)),
            (rack(4, 1, true), Some(13)),
            (rack(4, 10, false), None),
            (rack(3, 10, false), Some(4)),
            (rack(2, 11, false), Some(3)),
            (rack(20, 11, false), None),
        ];
        for (r, needed) in cases {
            let expected: Vec<ValidationError> =
                needed.iter().map(|&n| ValidationError::new("u_height", message(n))).collect();
            let got = check_rack_height(r, &devices).err().unwrap_or_default();
            assert_eq!(got, expected, "{r:?}");
        }
        assert_eq!(check_rack_height(&rack(1, 1, false), &[]), Ok(()));
    }

    #[test]
    fn elevations_show_devices_and_reservations() {
        // Front half-depth 2U at 1, rear full-depth 1U at 4, rear half-depth 1U at 3, a 0U PDU
        // and a reservation of 3 and 4; the 3U racks leave U4 or U1 outside.
        let devices = [
            dev(1, Some(1), 2, Some(Front), false),
            dev(2, Some(4), 1, Some(Rear), true),
            dev(3, Some(3), 1, Some(Rear), false),
            dev(4, None, 0, None, false),
        ];
        let reservations = [resv(7, &[3, 4])];
        let (d1, d2, d3, r7) = (Some(id(1)), Some(id(2)), Some(id(3)), Some(id(7)));
        type Row = (u16, Option<Uuid>, Option<Uuid>);
        let cases: Vec<(&str, Rack, Face, Vec<Row>)> = vec![
            (
                "front",
                rack(4, 1, false),
                Front,
                vec![(4, d2, r7), (3, None, r7), (2, d1, None), (1, d1, None)],
            ),
            (
                "rear",
                rack(4, 1, false),
                Rear,
                vec![(4, d2, r7), (3, d3, r7), (2, None, None), (1, None, None)],
            ),
            (
                "descending front",
                rack(4, 1, true),
                Front,
                vec![(1, d1, None), (2, d1, None), (3, None, r7), (4, d2, r7)],
            ),
            (
                "short rack",
                rack(3, 1, false),
                Rear,
                vec![(3, d3, r7), (2, None, None), (1, None, None)],
            ),
            ("shifted", rack(3, 2, false), Front, vec![(4, d2, r7), (3, None, r7), (2, d1, None)]),
            (
                "shifted descending",
                rack(3, 2, true),
                Rear,
                vec![(2, None, None), (3, d3, r7), (4, d2, r7)],
            ),
        ];
        for (what, r, face, expected) in cases {
            let got = elevation(&r, &devices, &reservations, face);
            let rows: Vec<Row> = got.iter().map(|u| (u.unit, u.device, u.reservation)).collect();
            assert_eq!(rows, expected, "{what}");
            for u in &got {
                assert_eq!(
                    (u.face, u.occupied, u.name.clone()),
                    (face, u.device.is_some(), format!("U{}", u.unit)),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn faces_read_and_serialise() {
        let cases: &[(&str, Option<Face>)] =
            &[("front", Some(Front)), ("rear", Some(Rear)), ("", None), ("Front", None)];
        for (text, face) in cases {
            assert_eq!(Face::from_stored(text), *face, "{text:?}");
            if let Some(f) = face {
                assert_eq!(f.as_str(), *text);
            }
        }
        let unit = RackUnit {
            unit: 3,
            name: "U3".into(),
            face: Rear,
            device: None,
            reservation: Some(id(7)),
            occupied: false,
        };
        let json = serde_json::to_value(&unit).unwrap();
        assert_eq!(json["face"], "rear");
        assert_eq!(json["reservation"], id(7).to_string());
    }
}
