//! What lies under a level's rows for the usage fields: a prefix's child prefixes and
//! addresses, a rack's devices and reservations.

use std::collections::HashMap;

use ferrobot_domain::catalogue::{FieldKind, IntSize, Model, ModelId};
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::row::{Listed, Related};
use ferrobot_domain::Field;
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
        perms: &Permissions,
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
            // Only what the user may see counts.
            if let Some(seen) = self.visible_ids(perms, prefix, None) {
                children.and_where(seen);
            }
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
            if let Some(seen) = self.visible_ids(perms, address, Some(&a)) {
                inside.and_where(seen);
            }
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

/// The rows each object's usage lists read ([`ferrobot_domain::hooks::Behaviour::usage_lists`]),
/// by object id: what a rack holds, for its elevation.
pub type UsageLists = HashMap<Uuid, Related>;

impl Store {
    /// One statement per list per 1,000 objects: the list's rows whose `theirs` field names one
    /// of `ids`, in the change-log object form, with the targets of `expand` joined in.
    pub async fn usage_lists(
        &self,
        model: ModelId,
        ids: &[Uuid],
        perms: &Permissions,
    ) -> StoreResult<UsageLists> {
        let catalogue = self.catalogue().clone();
        let mut out = UsageLists::default();
        for list in catalogue.model(model).behaviour.usage_lists {
            let Some(rows_of) = catalogue.by_label(list.model) else { continue };
            let base = Alias::new("b");
            let mut select = Query::select();
            select
                .column((base.clone(), Alias::new(rows_of.column_of(list.theirs))))
                .from_as(Alias::new(&rows_of.table), base.clone());
            let mut types = vec![ColType::Uuid];
            let own = crate::object::object_columns(rows_of, Some(&base), &mut select, &mut types);
            // A rack shows only the devices and reservations the user may see.
            if let Some(seen) = self.visible_ids(perms, rows_of, Some(&base)) {
                select.and_where(seen);
            }
            let mut expanded: Vec<(&'static str, &Model, Vec<&Field>)> = Vec::new();
            for (i, name) in list.expand.iter().enumerate() {
                let Some((_, field)) = rows_of.field(name) else { continue };
                let FieldKind::ForeignKey { to, .. } = field.kind else { continue };
                let target = catalogue.model(to);
                let alias = Alias::new(format!("e{i}"));
                select.left_join(
                    sea_query::TableRef::TableAlias(
                        sea_query::SeaRc::new(Alias::new(&target.table)),
                        sea_query::SeaRc::new(alias.clone()),
                    ),
                    Expr::col((alias.clone(), Alias::new("id")))
                        .equals((base.clone(), Alias::new(rows_of.column_of(name)))),
                );
                let fields =
                    crate::object::object_columns(target, Some(&alias), &mut select, &mut types);
                expanded.push((name, target, fields));
            }
            for chunk in ids.chunks(1000) {
                let mut select = select.clone();
                select.and_where(
                    Expr::col((base.clone(), Alias::new(rows_of.column_of(list.theirs))))
                        .is_in(chunk.iter().map(|id| uuid_value(*id))),
                );
                let rows = self.fetch(&select, &types).await?;
                for r in 0..rows.len() {
                    let row = rows.row(r);
                    let Some(owner) = row[0].as_uuid() else { continue };
                    let width = |model: &Model, fields: &[&Field]| {
                        fields.len() + usize::from(model.features.custom_fields)
                    };
                    let mut at = 1;
                    let object = crate::object::object_row(rows_of, &own, &row[at..]);
                    at += width(rows_of, &own);
                    let mut listed = Listed { row: object, expanded: HashMap::new() };
                    for (name, model, fields) in &expanded {
                        if listed.row.has(name) {
                            let target = crate::object::object_row(model, fields, &row[at..]);
                            listed.expanded.insert(name, target);
                        }
                        at += width(model, fields);
                    }
                    out.entry(owner).or_default().lists.entry(list.name).or_default().push(listed);
                }
            }
        }
        Ok(out)
    }
}
