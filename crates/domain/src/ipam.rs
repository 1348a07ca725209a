//! IPAM math: parsing prefixes and addresses into the stored form, and choosing parents.
//!
//! Spec: nautobot/ipam/models.py (Prefix.get_parent, IPAddress._get_closest_parent): the parent
//! of a prefix or an address is the most specific prefix of the same namespace that contains it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::value::ip_to_bytes;

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
    Ok(StoredAddress { host: ip_to_bytes(ip), mask_length: mask, ip_version: version(ip) })
}

fn version(ip: IpAddr) -> u8 {
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
}
