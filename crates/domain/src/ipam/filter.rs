//! The networks filter values and search text name: a filter's address or network (with or
//! without a mask, host bits kept), and a partial address typed into `q` as Nautobot's IPAM
//! search reads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::{host_and_mask, version};
use crate::value::ip_to_bytes;

/// A network a filter value names: `10.0.0.0/16`, `10.0.0.1/24` (the host kept beside its
/// network), or a bare address, which stands for its own /32 (/128) and is `masked: false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterNet {
    pub host: Vec<u8>,
    pub network: Vec<u8>,
    pub broadcast: Vec<u8>,
    pub length: u8,
    pub masked: bool,
    pub ip_version: u8,
}

pub fn filter_net(text: &str) -> Result<FilterNet, String> {
    let (ip, length) = host_and_mask(text)?;
    let net = IpNet::new(ip, length).map_err(|_| format!("'{text}' is not a valid IP address"))?;
    Ok(FilterNet {
        host: ip_to_bytes(ip),
        network: ip_to_bytes(net.network()),
        broadcast: ip_to_bytes(net.broadcast()),
        length,
        masked: text.contains('/'),
        ip_version: version(ip),
    })
}

/// A filter network written back as text: `10.0.0.0/24`.
pub fn network_text(net: &FilterNet) -> String {
    let ip = match net.network.len() {
        4 => <[u8; 4]>::try_from(net.network.as_slice()).map(IpAddr::from).ok(),
        _ => <[u8; 16]>::try_from(net.network.as_slice()).map(IpAddr::from).ok(),
    };
    match ip {
        Some(ip) => format!("{ip}/{}", net.length),
        None => String::new(),
    }
}

/// The networks a free-text search names, as Nautobot's IPAM search reads a partial address:
/// `10.1` is 10.1.0.0/16, `2001:db8` is 2001:db8::/32, `2001:db8::1` is that host; a mask is
/// ignored. Digits below 256 could begin either version and name both (`10`: 10.0.0.0/8 and
/// 10::/16). Text that parses as neither names 0.0.0.0/32 (or ::/128), as Nautobot's does.
/// Spec: nautobot/ipam/querysets.py (`BaseNetworkQuerySet.parse_network_string`).
pub fn search_nets(text: &str) -> Vec<FilterNet> {
    let text = text.split('/').next().unwrap_or_default();
    let ambiguous = text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.is_empty()
        && text.parse::<u16>().is_ok_and(|n| n < 256);
    if ambiguous {
        return vec![partial_v4(text), partial_v6(&prepare_v6(text))];
    }
    let text = prepare_v6(text);
    if text.contains(':') {
        vec![partial_v6(&text)]
    } else {
        vec![partial_v4(&text)]
    }
}

/// Completes a partial IPv6 search so that its groups parse: `2001:db8` → `2001:db8:`, a lone
/// group (`fe80`, or a number past 255) → `fe80::`.
fn prepare_v6(text: &str) -> String {
    let hextet = (1..=4).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    // A trailing single colon, or groups without `::`, end in an empty group.
    let open_end = text.ends_with(':') && !text.ends_with("::");
    let groups_only = !text.ends_with(':') && text.contains(':') && !text.contains("::");
    if open_end || groups_only {
        format!("{text}:")
    } else if (digits && text.parse::<u64>().map_or(true, |n| n > 255)) || hextet {
        format!("{text}::")
    } else {
        text.to_owned()
    }
}

/// `10.1` → 10.1.0.0/16: eight bits per group given.
fn partial_v4(text: &str) -> FilterNet {
    let groups: Vec<&str> = text.split('.').filter(|g| !g.is_empty()).collect();
    let parsed = (groups.len() <= 4)
        .then(|| {
            let mut full = groups.clone();
            full.resize(4, "0");
            full.join(".").parse::<Ipv4Addr>().ok()
        })
        .flatten();
    match parsed {
        Some(ip) => net_of(IpAddr::V4(ip), 8 * groups.len() as u8),
        None => net_of(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 32),
    }
}

/// `2001:db8::` → 2001:db8::/32 (sixteen bits per group given); a last group that is present
/// (`2001:db8::1`) names the host itself.
fn partial_v6(text: &str) -> FilterNet {
    let groups: Vec<&str> = text.split(':').collect();
    let whole = groups
        .last()
        .is_some_and(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_alphanumeric()));
    let parsed = if whole {
        text.parse::<Ipv6Addr>().ok().map(|ip| (ip, 128))
    } else {
        let given: Vec<&str> = groups.into_iter().filter(|g| !g.is_empty()).collect();
        (given.len() <= 8)
            .then(|| {
                let mut full = given.clone();
                full.resize(8, "0");
                full.join(":").parse::<Ipv6Addr>().ok().map(|ip| (ip, 16 * given.len() as u8))
            })
            .flatten()
    };
    match parsed {
        Some((ip, length)) => net_of(IpAddr::V6(ip), length),
        None => net_of(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128),
    }
}

fn net_of(ip: IpAddr, length: u8) -> FilterNet {
    let net = IpNet::new(ip, length).unwrap_or_else(|_| IpNet::from(ip));
    FilterNet {
        host: ip_to_bytes(ip),
        network: ip_to_bytes(net.network()),
        broadcast: ip_to_bytes(net.broadcast()),
        length: net.prefix_len(),
        masked: true,
        ip_version: version(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec: nautobot/ipam/querysets.py (`parse_network_string`, `_check_and_prep_ipv6`).
    #[test]
    fn a_search_reads_a_partial_address_as_nautobot_does() {
        let cases: &[(&str, &[&str])] = &[
            ("10.1", &["10.1.0.0/16"]),
            ("10.1.2.3", &["10.1.2.3/32"]),
            ("10.1.2.3/24", &["10.1.2.3/32"]),
            ("10", &["10.0.0.0/8", "10::/16"]),
            ("300", &["300::/16"]),
            ("fe80", &["fe80::/16"]),
            ("2001:db8", &["2001:db8::/32"]),
            ("2001:db8::", &["2001:db8::/32"]),
            ("2001:db8::1", &["2001:db8::1/128"]),
            ("router", &["0.0.0.0/32"]),
            ("1.2.3.4.5", &["0.0.0.0/32"]),
            ("1:2:3:4:5:6:7:8:9:", &["::/128"]),
        ];
        for (text, want) in cases {
            let got: Vec<String> = search_nets(text)
                .iter()
                .map(|n| {
                    let ip = if n.ip_version == 4 {
                        IpAddr::from(<[u8; 4]>::try_from(n.network.as_slice()).unwrap())
                    } else {
                        IpAddr::from(<[u8; 16]>::try_from(n.network.as_slice()).unwrap())
                    };
                    format!("{ip}/{}", n.length)
                })
                .collect();
            assert_eq!(&got, want, "{text}");
        }
        // Whatever the text, a search names some network and never panics.
        let odd = [
            "",
            ":",
            "::",
            ".",
            "1.",
            "256",
            "1e5",
            "::1::2",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ];
        for text in odd.iter().map(|s| s.to_string()).chain([("9".repeat(40)), ("a:".repeat(5000))])
        {
            assert!(!search_nets(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn filter_values_name_networks() {
        let n = filter_net("10.1.2.3/16").expect("masked");
        assert_eq!(
            (n.network, n.broadcast, n.length, n.masked),
            (vec![10, 1, 0, 0], vec![10, 1, 255, 255], 16, true)
        );
        assert_eq!(n.host, vec![10, 1, 2, 3]);
        let bare = filter_net("10.1.2.3").expect("bare");
        assert_eq!(
            (bare.network.clone(), bare.length, bare.masked),
            (vec![10, 1, 2, 3], 32, false)
        );
        assert_eq!(filter_net("2001:db8::1").expect("v6").ip_version, 6);
        assert!(filter_net("10.1.2.3/33").is_err() && filter_net("ten").is_err());
    }
}
