//! IPAM math: parsing prefixes and addresses into the stored form, choosing parents, and the
//! space questions a prefix answers (how full it is, what is still free).
//!
//! Spec: nautobot/ipam/models.py (Prefix.get_parent, IPAddress._get_closest_parent): the parent
//! of a prefix or an address is the most specific prefix of the same namespace that contains it.
//!
//! Spec: nautobot/ipam/models.py (Prefix.get_utilization, Prefix.get_available_prefixes,
//! Prefix.get_first_available_prefix, Prefix.get_available_ips, Prefix.get_first_available_ip)
//! and nautobot/ipam/api/views.py (PrefixViewSet.available_prefixes, which allocates a child of a
//! requested length): [`prefix_utilization`], [`available_prefixes`], [`first_available_prefix`],
//! [`first_available_prefix_of_length`], [`available_ips`], [`first_available_ip`] and
//! [`take_available_ips`]. They work on plain values; the caller reads the child prefixes and
//! the addresses of the namespace from the store.
//!
//! All address math runs on `u128` offsets: an IPv4 address is its 32-bit value, an IPv6 address
//! its 128-bit value, and ranges are inclusive `(first, last)` pairs so that the whole IPv6 space
//! (`0 ..= u128::MAX`) fits without overflow.

use std::iter::FusedIterator;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::value::ip_to_bytes;

mod filter;

pub use filter::{filter_net, network_text, search_nets, FilterNet};

/// A prefix in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPrefix {
    pub network: Vec<u8>,
    pub broadcast: Vec<u8>,
    pub prefix_length: u8,
    pub ip_version: u8,
}

/// An address in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAddress {
    pub host: Vec<u8>,
    pub mask_length: u8,
    pub ip_version: u8,
}

/// Parses `10.0.0.0/16`; host bits are cleared, as Nautobot stores the network address.
pub fn parse_prefix(text: &str) -> Result<StoredPrefix, String> {
    let net: IpNet =
        text.trim().parse().map_err(|_| format!("'{text}' is not a valid CIDR prefix"))?;
    let net = net.trunc();
    Ok(StoredPrefix {
        network: ip_to_bytes(net.network()),
        broadcast: ip_to_bytes(net.broadcast()),
        prefix_length: net.prefix_len(),
        ip_version: version(net.network()),
    })
}

/// Parses `10.0.0.1/24` (a host with its mask); a bare address gets the full-length mask.
pub fn parse_address(text: &str) -> Result<StoredAddress, String> {
    let (ip, mask) = host_and_mask(text)?;
    Ok(StoredAddress { host: ip_to_bytes(ip), mask_length: mask, ip_version: version(ip) })
}

/// `10.0.0.1/24` or `10.0.0.1` (the full-length mask) as its address and mask.
pub(crate) fn host_and_mask(text: &str) -> Result<(IpAddr, u8), String> {
    let text = text.trim();
    let invalid = || format!("'{text}' is not a valid IP address");
    let (ip, mask) = match text.split_once('/') {
        Some((ip, mask)) => {
            let ip: IpAddr = ip.parse().map_err(|_| invalid())?;
            let mask: u8 = mask.parse().map_err(|_| invalid())?;
            (ip, mask)
        }
        None => {
            let ip: IpAddr = text.parse().map_err(|_| invalid())?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if mask > max {
        return Err(invalid());
    }
    Ok((ip, mask))
}

pub(super) fn version(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        4
    } else {
        6
    }
}

/// The networks that could contain `address` (4 or 16 bytes), one per prefix length below
/// `below`, longest first: `(network bytes, prefix length)`. Looking these up by equality on the
/// (namespace, network, prefix length) index finds the closest parent with a handful of index
/// probes, however many prefixes the namespace holds.
pub fn containing_networks(address: &[u8], below: u8) -> Vec<(Vec<u8>, u8)> {
    let bits = (address.len() * 8) as u8;
    let mut out = Vec::new();
    for length in (0..below.min(bits.saturating_add(1))).rev() {
        let mut network = address.to_vec();
        for (idx, byte) in network.iter_mut().enumerate() {
            let start = (idx * 8) as u8;
            if start >= length {
                *byte = 0;
            } else if length - start < 8 {
                *byte &= 0xffu8 << (8 - (length - start));
            }
        }
        out.push((network, length));
    }
    out
}

/// A candidate parent: a prefix of the namespace that contains the child.
#[derive(Debug, Clone)]
pub struct Candidate<K> {
    pub key: K,
    pub prefix_length: u8,
}

/// The closest parent among containing prefixes: the longest prefix length wins; a prefix is
/// never its own parent (callers pass only strictly shorter prefixes for prefixes).
pub fn closest_parent<K: Clone>(candidates: &[Candidate<K>]) -> Option<K> {
    candidates.iter().max_by_key(|c| c.prefix_length).map(|c| c.key.clone())
}

/// Nautobot's `Prefix.type` (nautobot/ipam/choices.py, PrefixTypeChoices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixType {
    Container,
    Network,
    Pool,
}

impl PrefixType {
    /// Reads the stored value: `container`, `network` or `pool`.
    pub fn from_value(value: &str) -> Option<Self> {
        match value {
            "container" => Some(Self::Container),
            "network" => Some(Self::Network),
            "pool" => Some(Self::Pool),
            _ => None,
        }
    }

    /// The stored value, the inverse of [`PrefixType::from_value`].
    pub fn as_value(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Network => "network",
            Self::Pool => "pool",
        }
    }
}

/// How much of a prefix is in use: `numerator` addresses of `denominator`.
///
/// Both counts are numbers of addresses, saturated at `u128::MAX`. The only count that does not
/// fit a `u128` is 2^128, the size of `::/0` (or of a set of children covering all of it); it is
/// reported as `u128::MAX`, one less than the truth. The ratio is unaffected at `f64` precision
/// (Nautobot divides floats too, where 2^128 - 1 and 2^128 are the same number), so
/// [`Utilization::percent`] is exact to the last bit; only a caller printing the raw counts of an
/// `::/0` prefix sees the difference, and a genuine count of 2^128 - 1 looks the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Utilization {
    pub numerator: u128,
    pub denominator: u128,
}

impl Utilization {
    /// The share in use as a percentage, `0.0 ..= 100.0`; `0.0` for a zero denominator.
    pub fn percent(&self) -> f64 {
        if self.denominator == 0 {
            return 0.0;
        }
        self.numerator as f64 / self.denominator as f64 * 100.0
    }

    /// The percentage truncated to a whole number, as Nautobot's utilisation bar shows it.
    ///
    /// Spec: nautobot/core/templatetags/helpers.py (utilization_graph_raw_data): the float
    /// percentage is truncated towards zero, and a zero denominator shows 0.
    pub fn percent_floor(&self) -> u32 {
        // `as` truncates towards zero, and the value is within 0..=100.
        self.percent() as u32
    }
}

/// The utilisation of `prefix` of type `kind`.
///
/// Spec: nautobot/ipam/models.py (Prefix.get_utilization).
///
/// - `child_prefixes` are the prefixes below this one. Nautobot reads only the direct children;
///   every deeper descendant lies inside a direct child, so passing all descendants gives the
///   same answer. Overlapping and nested children count once (the union of their space).
///   Prefixes not inside `prefix` (another family, elsewhere, or a supernet) are ignored.
/// - `addresses` are the hosts of the namespace's IP addresses inside the prefix, whatever
///   their parent (Nautobot filters on the host range, not on the parent). Duplicates and
///   addresses outside the prefix are ignored.
///
/// What counts, by type:
/// - container: the space of its child prefixes; addresses are not counted;
/// - network: the union of its child prefixes' space and its addresses;
/// - pool: its addresses only; child prefixes are not counted.
///
/// The denominator is the prefix's size, except for an IPv4 network of /30 or shorter whose
/// numerator covers neither the network nor the broadcast address: those two are then taken
/// off (a /26 is out of 62). If either one is in use (an address or a child pool covers it),
/// the whole size counts. Containers, pools, IPv6, /31 and /32 always use the whole size.
pub fn prefix_utilization(
    prefix: IpNet,
    kind: PrefixType,
    child_prefixes: &[IpNet],
    addresses: &[IpAddr],
) -> Utilization {
    let prefix = prefix.trunc();
    let (first, last) = span(prefix);
    let mut used: Vec<(u128, u128)> = Vec::new();
    if kind != PrefixType::Container {
        used.extend(hosts_within(prefix, addresses).into_iter().map(|host| (host, host)));
    }
    if kind != PrefixType::Pool {
        used.extend(children_within(prefix, child_prefixes).into_iter().map(span));
    }
    let used = merge(used);
    let numerator = used.iter().fold(0u128, |total, &(lo, hi)| total.saturating_add(size(lo, hi)));
    let mut denominator = size(first, last);
    let covers = |point: u128| used.iter().any(|&(lo, hi)| lo <= point && point <= hi);
    if denominator > 2
        && kind == PrefixType::Network
        && prefix.network().is_ipv4()
        && !covers(first)
        && !covers(last)
    {
        denominator -= 2;
    }
    Utilization { numerator, denominator }
}

/// The free space of `parent`: what its child prefixes leave uncovered, as the fewest CIDR
/// blocks, in address order.
///
/// Spec: nautobot/ipam/models.py (Prefix.get_available_prefixes), read through netaddr's
/// `IPSet.iter_cidrs`. Nautobot subtracts every descendant prefix, of any type; nested and
/// overlapping children are fine. Children not inside `parent` are ignored, and host bits of
/// `parent` are cleared.
pub fn available_prefixes(parent: IpNet, children: &[IpNet]) -> Vec<IpNet> {
    let parent = parent.trunc();
    let v4 = parent.network().is_ipv4();
    let (first, last) = span(parent);
    let taken = merge(children_within(parent, children).into_iter().map(span).collect());
    let mut out = Vec::new();
    // `next` is the first address not yet accounted for; `None` once past the parent's end.
    let mut next = Some(first);
    for (lo, hi) in taken {
        let Some(start) = next else { break };
        if lo > start {
            push_cidrs(&mut out, v4, start, lo - 1);
        }
        next = if hi >= last { None } else { Some(hi + 1) };
    }
    if let Some(start) = next {
        push_cidrs(&mut out, v4, start, last);
    }
    out
}

/// The first block of [`available_prefixes`], the largest free block at the lowest address;
/// `None` when the parent is full.
///
/// Spec: nautobot/ipam/models.py (Prefix.get_first_available_prefix).
pub fn first_available_prefix(parent: IpNet, children: &[IpNet]) -> Option<IpNet> {
    available_prefixes(parent, children).into_iter().next()
}

/// The first free, aligned block of prefix length `length` inside `parent`, lowest address
/// first; `None` when no such block is free, when `length` is shorter than the parent's own
/// length (a child cannot be larger than its parent), or longer than the family allows.
///
/// Spec: nautobot/ipam/api/views.py (PrefixViewSet.available_prefixes, POST): Nautobot takes the
/// first block of [`available_prefixes`] whose length is `length` or shorter, and allocates at
/// its network address. Since the free blocks are maximal, that is also the lowest aligned free
/// block of the requested size.
pub fn first_available_prefix_of_length(
    parent: IpNet,
    children: &[IpNet],
    length: u8,
) -> Option<IpNet> {
    if length > parent.max_prefix_len() || length < parent.prefix_len() {
        return None;
    }
    available_prefixes(parent, children)
        .into_iter()
        .find(|block| block.prefix_len() <= length)
        .and_then(|block| IpNet::new(block.network(), length).ok())
}

/// The free host addresses of `prefix`, lazily, in address order; see [`AvailableIps`].
///
/// Spec: nautobot/ipam/models.py (Prefix.get_available_ips).
///
/// `used` are the hosts of the namespace's IP addresses inside the prefix, whatever their parent
/// (Nautobot's `get_all_ips`), in any order, duplicates allowed; others are ignored. Child
/// prefixes do not matter: an address inside a child pool is still available here, as in
/// Nautobot.
///
/// Every address of the prefix is a candidate, except that for an IPv4 prefix of /30 or shorter
/// that is not a pool (so networks and containers alike) the network and broadcast addresses
/// are left out. IPv6 prefixes, pools, and IPv4 /31 and /32 offer every address.
pub fn available_ips(prefix: IpNet, kind: PrefixType, used: &[IpAddr]) -> AvailableIps {
    let prefix = prefix.trunc();
    let (mut first, mut last) = span(prefix);
    if prefix.network().is_ipv4() && kind != PrefixType::Pool && prefix.prefix_len() < 31 {
        first += 1;
        last -= 1;
    }
    let mut used: Vec<u128> =
        hosts_within(prefix, used).into_iter().filter(|&h| first <= h && h <= last).collect();
    used.sort_unstable();
    used.dedup();
    AvailableIps {
        v4: prefix.network().is_ipv4(),
        next: (first <= last).then_some(first),
        last,
        used,
        cursor: 0,
    }
}

/// The first free address of `prefix` with the prefix's length as its mask (`10.0.0.4/24`), or
/// `None` when none is free.
///
/// Spec: nautobot/ipam/models.py (Prefix.get_first_available_ip), which answers the string
/// `"<address>/<prefix length>"`; the returned [`IpNet`] keeps the host bits and prints the same.
pub fn first_available_ip(prefix: IpNet, kind: PrefixType, used: &[IpAddr]) -> Option<IpNet> {
    let host = available_ips(prefix, kind, used).next()?;
    IpNet::new(host, prefix.prefix_len()).ok()
}

/// At most `n` free addresses of `prefix`, in address order, without walking the rest of the
/// range (a /64 holds 2^64 addresses).
///
/// Spec: nautobot/ipam/api/views.py (PrefixViewSet.available_ips, GET), which lists the first
/// `limit` addresses of [`available_ips`].
pub fn take_available_ips(
    prefix: IpNet,
    kind: PrefixType,
    used: &[IpAddr],
    n: usize,
) -> Vec<IpAddr> {
    available_ips(prefix, kind, used).take(n).collect()
}

/// The free addresses of a prefix, built by [`available_ips`]: the next candidate address and
/// the sorted used addresses still ahead of it. Each step skips a run of used addresses, so
/// walking the whole prefix costs its size plus the number of used addresses, and taking the
/// first few costs no more than the used addresses before them.
#[derive(Debug, Clone)]
pub struct AvailableIps {
    v4: bool,
    /// The next candidate; `None` once the range is exhausted.
    next: Option<u128>,
    /// The last candidate, inclusive.
    last: u128,
    /// Used addresses within the candidate range, sorted and without duplicates.
    used: Vec<u128>,
    /// The first entry of `used` not below `next`.
    cursor: usize,
}

impl Iterator for AvailableIps {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        loop {
            let candidate = self.next?;
            self.next = if candidate >= self.last { None } else { Some(candidate + 1) };
            if self.used.get(self.cursor) == Some(&candidate) {
                self.cursor += 1;
                continue;
            }
            return Some(from_offset(self.v4, candidate));
        }
    }
}

impl FusedIterator for AvailableIps {}

/// The inclusive offset range of a (truncated) network.
fn span(net: IpNet) -> (u128, u128) {
    (offset(net.network()), offset(net.broadcast()))
}

fn offset(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_offset(v4: bool, value: u128) -> IpAddr {
    if v4 {
        // Offsets of IPv4 addresses never exceed `u32::MAX`; the mask only documents that.
        IpAddr::V4(Ipv4Addr::from((value & u128::from(u32::MAX)) as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

/// The number of addresses in `lo ..= hi`, saturated (the whole IPv6 space is 2^128).
fn size(lo: u128, hi: u128) -> u128 {
    (hi - lo).saturating_add(1)
}

/// The child prefixes that lie inside `parent` (same family, truncated).
fn children_within(parent: IpNet, children: &[IpNet]) -> Vec<IpNet> {
    children.iter().map(IpNet::trunc).filter(|child| parent.contains(child)).collect()
}

/// The offsets of the addresses that lie inside `prefix` (same family).
fn hosts_within(prefix: IpNet, addresses: &[IpAddr]) -> Vec<u128> {
    addresses.iter().filter(|ip| prefix.contains(*ip)).map(|&ip| offset(ip)).collect()
}

/// Sorts inclusive ranges and joins those that overlap or touch.
fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(prev) if lo <= prev.1.saturating_add(1) => prev.1 = prev.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Appends the fewest CIDR blocks covering `lo ..= hi`, in address order.
fn push_cidrs(out: &mut Vec<IpNet>, v4: bool, mut lo: u128, hi: u128) {
    let bits: u32 = if v4 { 32 } else { 128 };
    loop {
        // The largest block starting at `lo` is bounded by its alignment and by what is left.
        let align = lo.trailing_zeros().min(bits);
        let room = match (hi - lo).checked_add(1) {
            Some(count) => count.ilog2(),
            None => 128,
        };
        let block = align.min(room);
        // `block <= bits`, so the length fits a u8 and is valid for the family.
        if let Ok(net) = IpNet::new(from_offset(v4, lo), (bits - block) as u8) {
            out.push(net);
        }
        let block_last = if block >= 128 { u128::MAX } else { lo + ((1u128 << block) - 1) };
        if block_last >= hi {
            return;
        }
        lo = block_last + 1;
    }
}

/// A list or text usage field of a prefix ([`crate::usage::Usage`]) as JSON text, from the prefix, its type
/// value, its direct child prefixes and the addresses of its namespace inside it. `limit` caps
/// `available_ips`. Counts are written as integers of any size (an IPv6 prefix has 2^64 and more).
pub fn usage_json(
    usage: crate::usage::Usage,
    prefix: IpNet,
    type_value: &str,
    children: &[IpNet],
    addresses: &[IpAddr],
    limit: usize,
) -> String {
    use crate::usage::Usage;
    let kind = PrefixType::from_value(type_value).unwrap_or(PrefixType::Network);
    let quoted = |items: Vec<String>| {
        let inner: Vec<String> = items.into_iter().map(|i| format!("\"{i}\"")).collect();
        format!("[{}]", inner.join(","))
    };
    match usage {
        Usage::AvailablePrefixes => {
            quoted(available_prefixes(prefix, children).iter().map(IpNet::to_string).collect())
        }
        Usage::AvailableIps => quoted(
            take_available_ips(prefix, kind, addresses, limit)
                .into_iter()
                .map(|ip| format!("{ip}/{}", prefix.prefix_len()))
                .collect(),
        ),
        Usage::FirstAvailableIp => match first_available_ip(prefix, kind, addresses) {
            Some(ip) => format!("\"{ip}\""),
            None => "null".into(),
        },
        // Objects, written field by field as the query selects them (the planner).
        Usage::Utilization | Usage::Elevation => "null".into(),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn prefixes_clear_host_bits() {
        let p = parse_prefix("10.1.2.3/16").unwrap();
        assert_eq!(p.network, vec![10, 1, 0, 0]);
        assert_eq!(p.broadcast, vec![10, 1, 255, 255]);
        assert_eq!(p.prefix_length, 16);
        assert_eq!(p.ip_version, 4);
        assert!(parse_prefix("10.1.2.3/33").is_err());
        assert!(parse_prefix("banana").is_err());
    }

    #[test]
    fn addresses_keep_host_and_mask() {
        let a = parse_address("10.1.0.1/24").unwrap();
        assert_eq!((a.host, a.mask_length, a.ip_version), (vec![10, 1, 0, 1], 24, 4));
        assert_eq!(parse_address("2001:db8::1").unwrap().mask_length, 128);
        assert!(parse_address("10.0.0.1/40").is_err());
    }

    #[test]
    fn containing_networks_walk_up_the_mask() {
        let nets = containing_networks(&[10, 1, 2, 3], 25);
        assert_eq!(nets.len(), 25);
        assert_eq!(nets[0], (vec![10, 1, 2, 0], 24));
        assert_eq!(nets[8], (vec![10, 1, 0, 0], 16));
        assert_eq!(nets[24], (vec![0, 0, 0, 0], 0));
        assert_eq!(containing_networks(&[10, 1, 2, 3], 33)[0], (vec![10, 1, 2, 3], 32));
        assert_eq!(containing_networks(&[10, 1, 2, 3], 33)[2], (vec![10, 1, 2, 0], 30));
    }

    #[test]
    fn closest_parent_is_longest() {
        let c = [Candidate { key: 1, prefix_length: 8 }, Candidate { key: 2, prefix_length: 16 }];
        assert_eq!(closest_parent(&c), Some(2));
        assert_eq!(closest_parent::<u8>(&[]), None);
    }

    /// A list of prefixes or addresses in a case table.
    type Strs<'a> = &'a [&'a str];

    /// A utilisation case: prefix, type, child prefixes, addresses, (numerator, denominator).
    type UtilizationCase<'a> = (&'a str, PrefixType, Strs<'a>, Strs<'a>, (u128, u128));

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn nets(texts: &[&str]) -> Vec<IpNet> {
        texts.iter().map(|t| net(t)).collect()
    }

    fn ips(texts: &[&str]) -> Vec<IpAddr> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn hosts(prefix: &str, range: std::ops::RangeInclusive<u8>) -> Vec<String> {
        range.map(|i| format!("{prefix}{i}")).collect()
    }

    use PrefixType::{Container, Network, Pool};

    #[test]
    fn prefix_types_round_trip() {
        for kind in [Container, Network, Pool] {
            assert_eq!(PrefixType::from_value(kind.as_value()), Some(kind));
        }
        assert_eq!(PrefixType::from_value("Network"), None);
    }

    #[test]
    fn utilization_by_type() {
        let slash26_hosts = hosts("10.0.0.", 1..=32);
        let slash26_hosts: Vec<&str> = slash26_hosts.iter().map(String::as_str).collect();
        let mut slash26_edges = slash26_hosts.clone();
        slash26_edges.extend(["10.0.0.0", "10.0.0.63"]);
        let slash27_hosts = hosts("10.0.0.", 0..=31);
        let slash27_hosts: Vec<&str> = slash27_hosts.iter().map(String::as_str).collect();
        let v6_quarter = ["ab00::/12", "ab10::/12", "ab20::/12", "ab30::/12"];
        #[rustfmt::skip]
        let cases: Vec<UtilizationCase<'_>> = vec![
            // Containers count the union of their children; addresses do not count.
            ("10.0.0.0/24", Container, &["10.0.0.0/26", "10.0.0.128/25"], &[], (192, 256)),
            ("10.0.0.0/24", Container, &["10.0.0.0/25", "10.0.0.0/26", "10.0.0.64/26"], &[], (128, 256)),
            ("10.0.0.0/24", Container, &["10.0.0.0/25", "10.0.0.64/26", "10.0.0.96/27"], &[], (128, 256)),
            ("10.0.0.0/24", Container, &[], &["10.0.0.200"], (0, 256)),
            ("10.0.0.0/24", Container, &[], &[], (0, 256)),
            ("22.0.0.0/8", Container, &["22.0.0.0/9", "22.128.0.0/9"], &[], (1 << 24, 1 << 24)),
            ("ab00::/8", Container, &v6_quarter, &[], (1 << 118, 1 << 120)),
            ("ab00::/8", Container, &["ab00::/9", "ab80::/9"], &[], (1 << 120, 1 << 120)),
            // The whole IPv6 space saturates at u128::MAX.
            ("::/0", Container, &[], &[], (0, u128::MAX)),
            ("::/0", Container, &["::/1", "8000::/1"], &[], (u128::MAX, u128::MAX)),
            ("::/0", Container, &["::/1"], &[], (1 << 127, u128::MAX)),
            // IPv4 networks drop network and broadcast unless either is in use.
            ("10.0.0.0/26", Network, &[], &slash26_hosts, (32, 62)),
            ("10.0.0.0/26", Network, &[], &slash26_edges, (34, 64)),
            ("10.0.0.0/24", Network, &[], &["10.0.0.0"], (1, 256)),
            ("10.0.0.0/24", Network, &[], &["10.0.0.255"], (1, 256)),
            ("10.0.0.0/27", Network, &[], &slash27_hosts, (32, 32)),
            ("10.0.0.128/25", Network, &["10.0.0.128/30"], &[], (4, 128)),
            ("10.0.0.128/25", Network, &["10.0.0.132/30"], &[], (4, 126)),
            ("10.0.0.128/25", Network, &["10.0.0.132/30"], &["10.0.0.133", "10.0.0.140"], (5, 126)),
            ("10.0.0.0/30", Network, &[], &[], (0, 2)),
            ("0.0.0.0/0", Network, &[], &[], (0, (1 << 32) - 2)),
            ("10.0.1.0/31", Network, &[], &["10.0.1.0", "10.0.1.1"], (2, 2)),
            ("10.0.1.0/31", Network, &[], &[], (0, 2)),
            ("1.1.1.1/32", Network, &[], &["1.1.1.1"], (1, 1)),
            ("1.1.1.1/32", Network, &[], &[], (0, 1)),
            ("aaab::/124", Network, &[], &["aaab::1", "aaab::2"], (2, 16)),
            ("aaaa::/124", Network, &[], &["aaaa::", "aaaa::f"], (2, 16)),
            ("cccc::1/128", Network, &[], &["cccc::1"], (1, 1)),
            // Out-of-prefix and other-family values, and duplicates, are ignored.
            ("10.0.0.0/30", Network, &["10.0.1.0/24", "10.0.0.0/8"], &["10.0.1.1", "::1", "10.0.0.1", "10.0.0.1"], (1, 2)),
            // Pools count every address against their whole size, and no child prefixes.
            ("10.0.0.0/30", Pool, &["10.0.0.0/31"], &["10.0.0.0"], (1, 4)),
            ("10.0.0.0/30", Pool, &[], &["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"], (4, 4)),
        ];
        for (prefix, kind, children, addresses, (numerator, denominator)) in cases {
            let got = prefix_utilization(net(prefix), kind, &nets(children), &ips(addresses));
            assert_eq!(
                got,
                Utilization { numerator, denominator },
                "{prefix} {kind:?} children {children:?}"
            );
        }
    }

    #[test]
    fn utilization_percent() {
        let cases: [(u128, u128, f64, u32); 6] = [
            (192, 256, 75.0, 75),
            (1, 3, 100.0 / 3.0, 33),
            (2, 3, 200.0 / 3.0, 66),
            (0, 0, 0.0, 0),
            (0, 256, 0.0, 0),
            (u128::MAX, u128::MAX, 100.0, 100),
        ];
        for (numerator, denominator, percent, floor) in cases {
            let u = Utilization { numerator, denominator };
            assert!((u.percent() - percent).abs() < 1e-9, "{u:?} gave {}", u.percent());
            assert_eq!(u.percent_floor(), floor, "{u:?}");
        }
    }

    #[test]
    fn available_prefixes_are_minimal_blocks_in_order() {
        let top_v4 = "255.255.255.252/30";
        let top_v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126";
        #[rustfmt::skip]
        let cases: Vec<(&str, &[&str], &[&str])> = vec![
            ("10.0.0.0/16", &["10.0.0.0/20", "10.0.32.0/20", "10.0.128.0/18"],
                &["10.0.16.0/20", "10.0.48.0/20", "10.0.64.0/18", "10.0.192.0/18"]),
            // Empty and full parents.
            ("10.0.0.0/24", &[], &["10.0.0.0/24"]),
            ("10.0.0.0/24", &["10.0.0.128/25", "10.0.0.0/25"], &[]),
            ("10.0.0.0/24", &["10.0.0.0/24"], &[]),
            // Nested and overlapping children count once.
            ("10.0.0.0/24", &["10.0.0.0/25", "10.0.0.0/26", "10.0.0.128/27"],
                &["10.0.0.160/27", "10.0.0.192/26"]),
            // A gap that is not itself a CIDR block splits into aligned blocks.
            ("10.0.0.0/29", &["10.0.0.0/32"], &["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30"]),
            ("10.0.0.0/29", &["10.0.0.3/32", "10.0.0.4/32"],
                &["10.0.0.0/31", "10.0.0.2/32", "10.0.0.5/32", "10.0.0.6/31"]),
            // Children outside the parent, supernets and other families are ignored; host bits
            // of the parent are cleared.
            ("10.0.0.5/30", &["10.0.1.0/24", "10.0.0.0/8", "::/0"], &["10.0.0.4/30"]),
            // IPv6, including the whole space and the top of it.
            ("2001:db8::/32", &["2001:db8::/34"], &["2001:db8:4000::/34", "2001:db8:8000::/33"]),
            ("::/0", &[], &["::/0"]),
            ("::/0", &["8000::/1"], &["::/1"]),
            ("::/0", &["::/1"], &["8000::/1"]),
            (top_v4, &["255.255.255.255/32"], &["255.255.255.252/31", "255.255.255.254/32"]),
            (top_v4, &["255.255.255.252/32"], &["255.255.255.253/32", "255.255.255.254/31"]),
            (top_v6, &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"],
                &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/127",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"]),
        ];
        for (parent, children, expected) in cases {
            assert_eq!(
                available_prefixes(net(parent), &nets(children)),
                nets(expected),
                "{parent} minus {children:?}"
            );
        }
    }

    #[test]
    fn first_available_prefix_is_the_first_free_block() {
        let three = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"];
        let four = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"];
        let cases: Vec<(&str, &[&str], Option<&str>)> = vec![
            ("10.0.0.0/16", &three, Some("10.0.3.0/24")),
            ("10.0.0.0/16", &four, Some("10.0.4.0/22")),
            ("10.0.0.0/16", &[], Some("10.0.0.0/16")),
            ("10.0.0.0/24", &["10.0.0.0/24"], None),
            ("2001:db8::/48", &["2001:db8::/49"], Some("2001:db8:0:8000::/49")),
        ];
        for (parent, children, expected) in cases {
            assert_eq!(
                first_available_prefix(net(parent), &nets(children)),
                expected.map(net),
                "{parent} minus {children:?}"
            );
        }
    }

    #[test]
    fn first_available_prefix_of_a_length() {
        let three = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"];
        let nested = ["10.0.0.0/25", "10.0.0.0/26", "10.0.0.128/26"];
        #[rustfmt::skip]
        let cases: Vec<(&str, &[&str], u8, Option<&str>)> = vec![
            ("10.0.0.0/16", &three, 24, Some("10.0.3.0/24")),
            ("10.0.0.0/16", &three, 26, Some("10.0.3.0/26")),
            // 10.0.3.0/24 is free but the /23 around it is not: the next aligned /23.
            ("10.0.0.0/16", &three, 23, Some("10.0.4.0/23")),
            ("10.0.0.0/24", &nested, 26, Some("10.0.0.192/26")),
            ("10.0.0.0/24", &nested, 25, None),
            // The parent itself, when empty.
            ("10.0.0.0/24", &[], 24, Some("10.0.0.0/24")),
            // Shorter than the parent: never.
            ("10.0.0.0/24", &[], 16, None),
            // Longer than the family allows: never.
            ("10.0.0.0/24", &[], 33, None),
            ("10.0.0.0/24", &["10.0.0.0/25", "10.0.0.128/25"], 28, None),
            ("1.1.1.1/32", &[], 32, Some("1.1.1.1/32")),
            ("10.0.1.0/31", &["10.0.1.0/32"], 32, Some("10.0.1.1/32")),
            ("2001:db8::/48", &["2001:db8::/64"], 64, Some("2001:db8:0:1::/64")),
            ("::/0", &["::/1"], 1, Some("8000::/1")),
            ("2001:db8::/48", &[], 129, None),
        ];
        for (parent, children, length, expected) in cases {
            assert_eq!(
                first_available_prefix_of_length(net(parent), &nets(children), length),
                expected.map(net),
                "/{length} in {parent} minus {children:?}"
            );
        }
    }

    #[test]
    fn available_ips_by_type_and_length() {
        let odd =
            ["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.7", "10.0.0.9", "10.0.0.11", "10.0.0.13"];
        let top = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126";
        #[rustfmt::skip]
        let cases: Vec<(&str, PrefixType, Strs<'_>, usize, Strs<'_>)> = vec![
            ("10.0.0.0/28", Network, &odd, 100,
                &["10.0.0.2", "10.0.0.4", "10.0.0.6", "10.0.0.8", "10.0.0.10", "10.0.0.12", "10.0.0.14"]),
            // IPv4 networks and containers skip network and broadcast; pools do not.
            ("10.0.0.0/30", Network, &[], 100, &["10.0.0.1", "10.0.0.2"]),
            ("10.0.0.0/30", Container, &[], 100, &["10.0.0.1", "10.0.0.2"]),
            ("10.0.0.0/30", Pool, &[], 100, &["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]),
            // /31 and /32 offer every address.
            ("10.0.1.0/31", Network, &[], 100, &["10.0.1.0", "10.0.1.1"]),
            ("10.0.1.0/31", Network, &["10.0.1.0"], 100, &["10.0.1.1"]),
            ("1.1.1.1/32", Network, &[], 100, &["1.1.1.1"]),
            ("1.1.1.1/32", Network, &["1.1.1.1"], 100, &[]),
            // A full prefix; used network and broadcast addresses change nothing.
            ("10.0.0.0/29", Network,
                &["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"],
                100, &[]),
            // Unsorted, duplicated, out-of-prefix and other-family addresses.
            ("10.0.0.0/29", Network, &["10.0.0.3", "10.0.0.1", "10.0.0.3", "10.0.1.2", "::2"], 100,
                &["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]),
            // IPv6 offers every address, and large ranges are walked lazily.
            ("2001:db8::/126", Network, &[], 100,
                &["2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"]),
            ("2001:db8::/64", Network, &["2001:db8::", "2001:db8::2"], 3,
                &["2001:db8::1", "2001:db8::3", "2001:db8::4"]),
            ("::/0", Container, &[], 2, &["::", "::1"]),
            ("0.0.0.0/0", Network, &["0.0.0.1"], 2, &["0.0.0.2", "0.0.0.3"]),
            // The top of the IPv6 space ends cleanly.
            (top, Network, &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd"], 100,
                &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
            // `take` stops at n.
            ("10.0.0.0/24", Network, &["10.0.0.2"], 3, &["10.0.0.1", "10.0.0.3", "10.0.0.4"]),
            ("10.0.0.0/24", Network, &[], 0, &[]),
        ];
        for (prefix, kind, used, n, expected) in cases {
            assert_eq!(
                take_available_ips(net(prefix), kind, &ips(used), n),
                ips(expected),
                "{prefix} {kind:?} used {used:?} take {n}"
            );
        }
        // The iterator ends for good once exhausted.
        let mut it = available_ips(net("10.0.1.0/31"), Network, &[]);
        assert_eq!(it.by_ref().count(), 2);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn first_available_ip_carries_the_prefix_length() {
        let three = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        #[rustfmt::skip]
        let cases: Vec<(&str, PrefixType, &[&str], Option<&str>)> = vec![
            ("10.0.0.0/24", Network, &three, Some("10.0.0.4/24")),
            ("10.0.3.0/29", Network, &["10.0.3.1"], Some("10.0.3.2/29")),
            ("10.0.0.0/24", Network, &[], Some("10.0.0.1/24")),
            ("10.0.0.0/24", Pool, &[], Some("10.0.0.0/24")),
            ("10.0.1.0/31", Network, &[], Some("10.0.1.0/31")),
            ("1.1.1.1/32", Network, &[], Some("1.1.1.1/32")),
            ("1.1.1.1/32", Network, &["1.1.1.1"], None),
            ("10.0.0.0/30", Network, &["10.0.0.1", "10.0.0.2"], None),
            ("2001:db8::/64", Network, &[], Some("2001:db8::/64")),
            ("2001:db8::/64", Network, &["2001:db8::"], Some("2001:db8::1/64")),
        ];
        for (prefix, kind, used, expected) in cases {
            let got = first_available_ip(net(prefix), kind, &ips(used));
            assert_eq!(
                got.map(|n| n.to_string()).as_deref(),
                expected,
                "{prefix} {kind:?} used {used:?}"
            );
        }
    }
}
