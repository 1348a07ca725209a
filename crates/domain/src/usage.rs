//! The usage fields a model serves: read-only values computed from the rows under an object
//! (a prefix's free space, a rack's elevation), named here so that the IPAM and rack modules,
//! the behaviour registry and the request tree share them.

/// Read-only fields computed from the rows under an object, served beside its own fields:
/// a prefix's utilisation and its free space ([`crate::ipam`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `{numerator, denominator, percent}` (`Prefix.get_utilization`).
    Utilization,
    /// The free space as CIDR blocks (`Prefix.get_available_prefixes`).
    AvailablePrefixes,
    /// Free addresses, the first `limit` (`Prefix.get_available_ips`).
    AvailableIps,
    /// The first free address with the prefix's length (`Prefix.get_first_available_ip`).
    FirstAvailableIp,
    /// A rack face unit by unit, top first (`Rack.get_rack_units`): [`crate::rack::elevation`].
    Elevation,
}
