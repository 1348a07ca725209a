//! What lies under a level's rows for the usage fields: a prefix's child prefixes and
//! addresses, a rack's devices and reservations.

use std::collections::HashMap;

use ferrobot_domain::catalogue::{IntSize, Model, ModelId};
use sea_query::{Alias, Cond, Expr, Query};
use uuid::Uuid;

use super::{uuid_value, Cell, ColType};
use crate::store::Store;
use crate::StoreResult;

/// What lies under a set of prefixes: each prefix's direct child prefixes and the addresses of
/// its namespace inside its range (whatever their parent), for the usage fields
/// ([`ferrobot_domain::hooks::Behaviour::usage`]).
#[derive(Debug, Default)]
pub struct PrefixUsage {
    pub children: HashMap<Uuid, Vec<ipnet::IpNet>>,
    pub addresses: HashMap<Uuid, Vec<std::net::IpAddr>>,
}

impl Store {
    /// Two statements per 1,000 prefixes: the child prefixes, and the addresses in range. What
    /// lies under a prefix is what it adopts (`Behaviour::adoptions`): rows of its own model, and
    /// the rows of the other model it adopts on create (the addresses).
    pub async fn prefix_usage(
        &self,
        model: ModelId,
        prefixes: &[Uuid],
    ) -> StoreResult<PrefixUsage> {
        use ferrobot_domain::hooks::NamespaceSource;
        use ferrobot_domain::value::ip_from_bytes;
        let catalogue = self.catalogue().clone();
        let prefix = catalogue.model(model);
        let adopted = prefix.behaviour.adoptions.iter().filter(|a| a.on_create);
        let address = adopted.filter_map(|a| catalogue.by_label(a.child)).find(|m| m.id != model);
        let Some(address) = address else { return Ok(PrefixUsage::default()) };
        let (Some(p_rule), Some(a_rule)) = (prefix.behaviour.parent, address.behaviour.parent)
        else {
            return Ok(PrefixUsage::default());
        };
        let (Some(end), NamespaceSource::Field(namespace)) = (p_rule.end, &p_rule.namespace) else {
            return Ok(PrefixUsage::default());
        };
        let pcol = |name: &str| prefix.column_of(name);
        let acol = |name: &str| address.column_of(name);
        let mut usage = PrefixUsage::default();
        for chunk in prefixes.chunks(1000) {
            let keys = || chunk.iter().map(|id| uuid_value(*id));
            let mut children = Query::select();
            children
                .columns(
                    [pcol(p_rule.field), pcol(p_rule.address), pcol(p_rule.length)].map(Alias::new),
                )
                .from(Alias::new(&prefix.table))
                .and_where(Expr::col(Alias::new(pcol(p_rule.field))).is_in(keys()));
            let rows = self
                .fetch(&children, &[ColType::Uuid, ColType::Bytes, ColType::Int(IntSize::Int)])
                .await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(parent), Cell::Bytes(b), Cell::Int(len)) =
                    (row[0].as_uuid(), &row[1], &row[2])
                else {
                    continue;
                };
                let net = ip_from_bytes(b).and_then(|ip| ipnet::IpNet::new(ip, *len as u8).ok());
                if let Some(net) = net {
                    usage.children.entry(parent).or_default().push(net);
                }
            }
            // The addresses of the prefix's namespace (through their parent) inside its range.
            let (p, a, q) = (Alias::new("p"), Alias::new("a"), Alias::new("q"));
            let mut inside = Query::select();
            inside
                .column((p.clone(), Alias::new("id")))
                .column((a.clone(), Alias::new(acol(a_rule.address))))
                .from_as(Alias::new(&prefix.table), p.clone())
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&address.table)),
                        sea_query::SeaRc::new(a.clone()),
                    ),
                    Cond::all()
                        .add(
                            Expr::col((a.clone(), Alias::new(acol(a_rule.version))))
                                .equals((p.clone(), Alias::new(pcol(p_rule.version)))),
                        )
                        .add(
                            Expr::col((a.clone(), Alias::new(acol(a_rule.address))))
                                .gte(Expr::col((p.clone(), Alias::new(pcol(p_rule.address))))),
                        )
                        .add(
                            Expr::col((a.clone(), Alias::new(acol(a_rule.address))))
                                .lte(Expr::col((p.clone(), Alias::new(pcol(end))))),
                        ),
                )
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&prefix.table)),
                        sea_query::SeaRc::new(q.clone()),
                    ),
                    Cond::all()
                        .add(
                            Expr::col((q.clone(), Alias::new("id")))
                                .equals((a.clone(), Alias::new(acol(a_rule.field)))),
                        )
                        .add(
                            Expr::col((q.clone(), Alias::new(pcol(namespace))))
                                .equals((p.clone(), Alias::new(pcol(namespace)))),
                        ),
                )
                .and_where(Expr::col((p.clone(), Alias::new("id"))).is_in(keys()));
            let rows = self.fetch(&inside, &[ColType::Uuid, ColType::Bytes]).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                if let (Some(owner), Cell::Bytes(b)) = (row[0].as_uuid(), &row[1]) {
                    if let Some(ip) = ip_from_bytes(b) {
                        usage.addresses.entry(owner).or_default().push(ip);
                    }
                }
            }
        }
        Ok(usage)
    }
}

/// The devices (with their device types) and reservations of each of a set of racks, for the
/// elevation ([`ferrobot_domain::rack::elevation`]).
pub type RackContents = HashMap<
    Uuid,
    (Vec<ferrobot_domain::rack::RackDevice>, Vec<ferrobot_domain::rack::RackReservation>),
>;

impl Store {
    /// Two statements per 1,000 racks: the devices joined to their device types, and the
    /// reservations.
    pub async fn rack_contents(&self, racks: &[Uuid]) -> StoreResult<RackContents> {
        use ferrobot_domain::rack::{Face, RackDevice, RackReservation};
        let catalogue = self.catalogue().clone();
        let (Some(device), Some(ty), Some(reservation)) = (
            catalogue.by_label("dcim.device"),
            catalogue.by_label("dcim.devicetype"),
            catalogue.by_label("dcim.rackreservation"),
        ) else {
            return Ok(RackContents::default());
        };
        let column = |model: &Model, name: &str| model.column_of(name);
        let (d, t) = (Alias::new("d"), Alias::new("t"));
        let mut out = RackContents::default();
        for chunk in racks.chunks(1000) {
            let keys = || chunk.iter().map(|id| uuid_value(*id));
            let mut select = Query::select();
            select
                .column((d.clone(), Alias::new(column(device, "rack"))))
                .column((d.clone(), Alias::new("id")))
                .column((d.clone(), Alias::new(column(device, "position"))))
                .column((d.clone(), Alias::new(column(device, "face"))))
                .column((t.clone(), Alias::new(column(ty, "u_height"))))
                .column((t.clone(), Alias::new(column(ty, "is_full_depth"))))
                .column((t.clone(), Alias::new(column(ty, "subdevice_role"))))
                .column((t.clone(), Alias::new(column(ty, "model"))))
                .from_as(Alias::new(&device.table), d.clone())
                .inner_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&ty.table)),
                        sea_query::SeaRc::new(t.clone()),
                    ),
                    Expr::col((t.clone(), Alias::new("id")))
                        .equals((d.clone(), Alias::new(column(device, "device_type")))),
                )
                .and_where(
                    Expr::col((d.clone(), Alias::new(column(device, "rack")))).is_in(keys()),
                );
            let small = ColType::Int(IntSize::Small);
            let types = [
                ColType::Uuid,
                ColType::Uuid,
                small,
                ColType::Text,
                small,
                ColType::Bool,
                ColType::Text,
                ColType::Text,
            ];
            let rows = self.fetch(&select, &types).await?;
            let text = |c: &Cell| match c {
                Cell::Text(t) => t.to_string(),
                _ => String::new(),
            };
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(rack), Some(id)) = (row[0].as_uuid(), row[1].as_uuid()) else { continue };
                let int = |c: &Cell| match c {
                    Cell::Int(n) => u16::try_from(*n).ok(),
                    _ => None,
                };
                out.entry(rack).or_default().0.push(RackDevice {
                    id,
                    device_type: text(&row[7]),
                    position: int(&row[2]),
                    u_height: int(&row[4]).unwrap_or(1),
                    face: Face::from_stored(&text(&row[3])),
                    is_full_depth: !matches!(row[5], Cell::Bool(false)),
                    is_child_device: text(&row[6]) == "child",
                });
            }
            let mut select = Query::select();
            select
                .columns(
                    [column(reservation, "rack"), "id".into(), column(reservation, "units")]
                        .map(Alias::new),
                )
                .from(Alias::new(&reservation.table))
                .and_where(Expr::col(Alias::new(column(reservation, "rack"))).is_in(keys()));
            let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid, ColType::Json]).await?;
            for r in 0..rows.len() {
                let row = rows.row(r);
                let (Some(rack), Some(id)) = (row[0].as_uuid(), row[1].as_uuid()) else { continue };
                let units = match &row[2] {
                    Cell::Json(v) => v
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .filter_map(|u| u.as_u64())
                                .filter_map(|u| u16::try_from(u).ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                out.entry(rack).or_default().1.push(RackReservation { id, units });
            }
        }
        Ok(out)
    }
}
