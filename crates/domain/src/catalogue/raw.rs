//! The catalogue files as they are written: one YAML file per app, parsed into these structs
//! before anything is resolved (`load.rs` turns their names into indices).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::paths::{RawFilter, RawTypeField};
use crate::{DomainError, DomainResult};

/// One parsed catalogue file (one Nautobot app), not yet resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    #[serde(skip)]
    pub(super) source: String,
    pub(super) app: String,
    pub(super) models: Vec<RawModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) model: String,
    pub(super) class: String,
    pub(super) verbose_name: String,
    pub(super) verbose_name_plural: String,
    pub(super) table: String,
    pub(super) graphql: Option<RawGraphql>,
    #[serde(default)]
    pub(super) features: Vec<String>,
    #[serde(default)]
    pub(super) natural_key: Vec<String>,
    #[serde(default)]
    pub(super) ordering: Vec<String>,
    /// The order of cursor pages, when not `ordering` (the change log pages forward by
    /// sequence while its list is newest first).
    #[serde(default)]
    pub(super) page_ordering: Vec<String>,
    #[serde(default)]
    pub(super) unique_together: Vec<Vec<String>>,
    /// Extra indexes beyond those of foreign keys and the ordering.
    #[serde(default)]
    pub(super) indexes: Vec<Vec<String>>,
    #[serde(default)]
    pub(super) tree: bool,
    /// Rows written by Ferrobot itself (the change log): no mutations.
    #[serde(default)]
    pub(super) readonly: bool,
    /// Rows that never leave the database through `ferrobot export` (accounts, tokens,
    /// permissions): `export: false`.
    #[serde(default = "yes")]
    pub(super) export: bool,
    /// The field naming the account that owns a row (a token's `user`): every user may view,
    /// add, change and delete the rows it owns without an object permission.
    #[serde(default)]
    pub(super) owner: Option<String>,
    pub(super) fields: Vec<RawField>,
    #[serde(default)]
    pub(super) computed: Vec<RawComputed>,
    #[serde(default)]
    pub(super) filters: BTreeMap<String, RawFilter>,
    #[serde(default)]
    pub(super) search: Vec<String>,
    #[serde(default)]
    pub(super) links: Vec<RawLink>,
    #[serde(default)]
    pub(super) type_fields: Vec<RawTypeField>,
    /// Rows of this model attach to objects of any model by content type and id: every model
    /// served over GraphQL (with `feature`, when given) gets a reverse relation `name` to them.
    #[serde(default)]
    pub(super) generic_relations: Vec<RawGeneric>,
    /// Objects of any model with `feature` reach rows of this model through a table of
    /// (content type, object, this row) triples: every such model gets a list relation `name`.
    #[serde(default)]
    pub(super) generic_through: Vec<RawGenericThrough>,
    /// Rows of this model are groups of objects of any model with `feature`, each holding the
    /// objects its definition names: every such model gets a list relation and a filter to
    /// the groups that hold it (`dynamic_groups`).
    #[serde(default)]
    pub(super) groups_of: Option<RawGroupsOf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroupsOf {
    pub(super) feature: String,
    /// The relation and the filter each member model gets.
    pub(super) name: String,
    /// This model's field naming the model of a group's members.
    pub(super) type_field: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenericThrough {
    pub(super) name: String,
    pub(super) feature: String,
    pub(super) table: String,
    pub(super) type_column: String,
    pub(super) object_column: String,
    pub(super) target_column: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeneric {
    pub(super) name: String,
    /// Only models with this feature get the relation …
    pub(super) feature: Option<String>,
    /// … or only these models.
    #[serde(default)]
    pub(super) models: Vec<String>,
    pub(super) type_field: String,
    pub(super) id_field: String,
    /// One object at most (`interface.path`), rather than a list.
    #[serde(default)]
    pub(super) single: bool,
    /// The way back on the declaring model: the object a row names, typed as a union of every
    /// model that gets the relation (`ObjectChange.changed_object`).
    #[serde(default)]
    pub(super) forward: Option<RawGenericForward>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenericForward {
    pub(super) name: String,
    pub(super) union: String,
}

/// A relation through another model's rows, declared on the model it starts from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) name: String,
    /// `through` (one object reached through a row of `via`), `peer` (the object at the other
    /// end of a pairing in `via`) or `first_of` (the first of the model's own references in
    /// `targets` that is set: a device's `primary_ip`).
    pub(super) kind: String,
    #[serde(default)]
    pub(super) via: String,
    /// The key of `via` that names this model.
    #[serde(default)]
    pub(super) source: String,
    /// `through`: the key of `via` that names the target.
    pub(super) target: Option<String>,
    /// `peer`: the column pairing rows, and the column telling the two ends apart.
    pub(super) group: Option<String>,
    pub(super) side: Option<String>,
    /// Generic rows (`dcim.cablepath`): `source` and `target` are ids, and these fields hold
    /// their content types.
    pub(super) source_type: Option<String>,
    pub(super) target_type: Option<String>,
    /// A union's members: for `peer`, the keys of `via` naming the far end (one per member
    /// model); for a generic `through`, the member models' labels.
    #[serde(default)]
    pub(super) targets: Vec<String>,
    pub(super) union: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGraphql {
    #[serde(rename = "type")]
    pub(super) ty: String,
    pub(super) list: Option<String>,
    pub(super) single: Option<String>,
    /// The REST route where it is not the list name with dashes (`ip-address-to-interface`),
    /// or `none` where Nautobot has none.
    pub(super) rest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) to: Option<String>,
    pub(super) on_delete: Option<String>,
    pub(super) related_name: Option<String>,
    pub(super) through: Option<String>,
    pub(super) max_length: Option<u32>,
    #[serde(default)]
    pub(super) choices: Vec<(String, String)>,
    pub(super) size: Option<String>,
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
    pub(super) max_digits: Option<u32>,
    pub(super) decimal_places: Option<u32>,
    #[serde(default)]
    pub(super) null: bool,
    #[serde(default)]
    pub(super) blank: bool,
    #[serde(default)]
    pub(super) unique: bool,
    #[serde(default)]
    pub(super) primary_key: bool,
    #[serde(default)]
    pub(super) natural_order: bool,
    pub(super) help_text: Option<String>,
    pub(super) default: Option<serde_json::Value>,
    /// A secret: `password` (written as a password, stored as its hash) or `token_key` (made
    /// when the object is created, stored as its digest): never read back.
    pub(super) secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComputed {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) from: Vec<String>,
}

impl CatalogueFile {
    pub fn parse(source: &str, text: &str) -> DomainResult<CatalogueFile> {
        let mut file: CatalogueFile = serde_yaml::from_str(text)
            .map_err(|e| DomainError::Catalogue(format!("{source}: {e}")))?;
        file.source = source.to_owned();
        Ok(file)
    }
}

fn yes() -> bool {
    true
}
