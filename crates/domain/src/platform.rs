//! A platform's network driver mappings: what each automation library calls the platform's
//! normalized driver (`cisco_ios` → ansible `cisco.ios.ios`, napalm `ios`, netmiko
//! `cisco_ios` …), Nautobot's `Platform.network_driver_mappings`.
//!
//! The table is netutils' `NAME_TO_ALL_LIB_MAPPER` at the version Nautobot 3.2 pins (1.17.2),
//! kept as data in `data/network-drivers.json` (`scripts/network-drivers.sh` writes it anew).
//! Spec: nautobot/dcim/utils.py (`get_all_network_driver_mappings`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value as Json};

type Mappings = BTreeMap<String, Map<String, Json>>;

fn table() -> &'static Mappings {
    static TABLE: OnceLock<Mappings> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is part of the source; a malformed one fails the unit test below.
        serde_json::from_str(include_str!("../data/network-drivers.json")).unwrap_or_default()
    })
}

/// The libraries' names for a normalized driver: an empty object for a driver netutils does
/// not know, or none.
pub fn network_driver_mappings(driver: &str) -> Json {
    Json::Object(table().get(driver).cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec: netutils/lib_mapper.py (`NAME_TO_ALL_LIB_MAPPER["cisco_ios"]`).
    #[test]
    fn drivers_map_as_netutils_maps_them() {
        assert!(table().len() > 100, "the table loads");
        let ios = network_driver_mappings("cisco_ios");
        assert_eq!(ios["ansible"], "cisco.ios.ios");
        assert_eq!(ios["napalm"], "ios");
        assert_eq!(ios["netmiko"], "cisco_ios");
        assert_eq!(ios["scrapli"], "cisco_iosxe");
        assert_eq!(network_driver_mappings("juniper_junos")["napalm"], "junos");
        assert_eq!(network_driver_mappings("no-such-driver"), Json::Object(Map::new()));
        assert_eq!(network_driver_mappings(""), Json::Object(Map::new()));
    }
}
