//! Conditions on a model's address layout (its address, length, version and, for prefixes,
//! last-address fields): Nautobot's network filters and the networks of the IPAM search.

use ferrobot_domain::catalogue::NetMatch;
use ferrobot_domain::request::FilterArg;
use ferrobot_domain::Model;
use sea_query::{Cond, Condition, Value};
use uuid::Uuid;

use super::{any_of, col, invalid, uuid_value};
use crate::StoreResult;

/// On a model with an address layout, the networks a free-text search names as a partial
/// address: rows within or containing them (prefixes), or whose host lies inside them
/// (addresses). Spec: nautobot/ipam/querysets.py (`string_search`).
pub(super) fn search_networks(model: &Model, text: &str) -> Option<Condition> {
    let layout = model.behaviour.parent?;
    let mut any = Cond::any();
    let column = |name: &str| col(&model.column_of(name));
    let bytes = |b: &[u8]| Value::Bytes(Some(Box::new(b.to_vec())));
    for net in ferrobot_domain::ipam::search_nets(text) {
        let (first, last) = (bytes(&net.network), bytes(&net.broadcast));
        let version = column(layout.version).eq(i64::from(net.ip_version));
        let address = || column(layout.address);
        any = any.add(match layout.end {
            // Prefixes (rows with a last address): within the network, or containing it.
            Some(end) => Cond::all().add(version).add(
                Cond::any()
                    .add(
                        Cond::all()
                            .add(address().gte(first.clone()))
                            .add(column(end).lte(last.clone())),
                    )
                    .add(
                        Cond::all()
                            .add(column(layout.length).lte(i64::from(net.length)))
                            .add(address().lte(first))
                            .add(column(end).gte(last)),
                    ),
            ),
            // Hosts: inside the network.
            None => Cond::all().add(version).add(address().gte(first)).add(address().lte(last)),
        });
    }
    Some(any)
}

/// Rows of an IP model compared with the networks the values name, on the model's address
/// layout (its address, length, version and, for ranges, last-address fields).
pub(super) fn network_condition(
    model: &Model,
    how: NetMatch,
    strict: bool,
    arg: &FilterArg,
) -> StoreResult<Condition> {
    let Some(layout) = model.behaviour.parent else {
        return Err(crate::StoreError::Internal(format!(
            "{}: a network filter on a model without an address layout",
            model.label
        )));
    };
    let column = |name: &str| col(&model.column_of(name));
    let bytes = |b: &[u8]| Value::Bytes(Some(Box::new(b.to_vec())));
    let address = || column(layout.address);
    let end = || column(layout.end.unwrap_or(layout.address));
    let length = || column(layout.length);
    let version = |v: u8| column(layout.version).eq(i64::from(v));
    let mut nets = Vec::with_capacity(arg.values.len());
    let mut ids = Vec::new();
    for v in &arg.values {
        let text = v.text();
        if how == NetMatch::InOrId {
            if let Ok(id) = Uuid::parse_str(text.trim()) {
                ids.push(uuid_value(id));
                continue;
            }
        }
        let net =
            ferrobot_domain::ipam::filter_net(&text).map_err(|m| invalid(&arg.argument, m))?;
        if strict {
            if !net.masked {
                let m = format!("Invalid {} value (missing mask): {text}", arg.argument);
                return Err(invalid(&arg.argument, m));
            }
            if net.host != net.network {
                let m = format!(
                    "Invalid {} value as it is not a subnet boundary: {text}, did you mean {}?",
                    arg.argument,
                    ferrobot_domain::ipam::network_text(&net)
                );
                return Err(invalid(&arg.argument, m));
            }
        }
        nets.push(net);
    }
    if matches!(how, NetMatch::In | NetMatch::InOrId) {
        // Nautobot's `net_in`: masked values match host and mask (any of the hosts with any of
        // the masks), bare ones the host alone.
        let (masked, bare): (Vec<_>, Vec<_>) = nets.iter().partition(|n| n.masked);
        let mut any = Cond::any();
        if !ids.is_empty() {
            any = any.add(col("id").is_in(ids));
        }
        if !masked.is_empty() {
            any = any.add(
                Cond::all()
                    .add(address().is_in(masked.iter().map(|n| bytes(&n.host))))
                    .add(length().is_in(masked.iter().map(|n| i64::from(n.length)))),
            );
        }
        if !bare.is_empty() {
            any = any.add(address().is_in(bare.iter().map(|n| bytes(&n.host))));
        }
        return Ok(any);
    }
    Ok(any_of(nets.iter().map(|n| {
        let length_of = i64::from(n.length);
        let all = Cond::all().add(version(n.ip_version));
        match how {
            NetMatch::Equals => {
                all.add(address().eq(bytes(&n.network))).add(length().eq(length_of))
            }
            NetMatch::Within | NetMatch::WithinInclude => {
                let longer = match how {
                    NetMatch::Within => length().gt(length_of),
                    _ => length().gte(length_of),
                };
                all.add(address().gte(bytes(&n.network)))
                    .add(end().lte(bytes(&n.broadcast)))
                    .add(longer)
            }
            NetMatch::Contains => all
                .add(address().lte(bytes(&n.network)))
                .add(end().gte(bytes(&n.broadcast)))
                .add(length().lte(length_of)),
            NetMatch::HostWithin | NetMatch::In | NetMatch::InOrId => {
                all.add(address().gte(bytes(&n.network))).add(address().lte(bytes(&n.broadcast)))
            }
        }
    })))
}
