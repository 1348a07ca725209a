//! The export: every object of every model in the import format, written as it is read, a page
//! of rows at a time, so that memory does not grow with the database.

use std::collections::HashMap;
use std::io::Write;

use ferrobot_domain::catalogue::FieldKind;
use ferrobot_domain::value::Datum;
use ferrobot_domain::Model;
use sea_query::{Alias, Expr, Order, Query};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::bind::bind;
use crate::cell::ColType;
use crate::object::{object_json, object_select};
use crate::store::Store;
use crate::StoreError;

/// Rows of a model read in one statement.
const PAGE: u64 = 2000;

/// The text form of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document: a mapping of model label to list, one object per line.
    Json,
    /// One YAML document of the same shape.
    Yaml,
}

/// A list field exported with its owner: the through table's columns.
struct Link {
    name: String,
    table: String,
    source: String,
    target: String,
    content_type: Option<(String, String)>,
}

impl Store {
    /// Every object of every model, in the import format (references by id), as one value.
    /// Small databases and tests only: [`Store::export_to`] writes without holding it.
    pub async fn export(&self) -> Result<Json, StoreError> {
        let mut text = Vec::new();
        self.export_to(&mut text, Format::Json).await?;
        serde_json::from_slice(&text).map_err(|e| StoreError::Internal(e.to_string()))
    }

    /// Writes every object of every model to `out`, model by model, in pages of rows ordered
    /// by id: every model the catalogue marks exported. Accounts, their groups, tokens and
    /// permissions hold secrets or name accounts that never leave the database; the change log is
    /// the history of this database, not data to load into another: none of them is.
    /// Returns the number of objects written.
    pub async fn export_to(
        &self,
        out: &mut (dyn Write + Send),
        format: Format,
    ) -> Result<u64, StoreError> {
        let io = |e: std::io::Error| StoreError::Internal(format!("export: {e}"));
        let catalogue = self.catalogue.clone();
        let mut sections = 0;
        let mut objects = 0;
        if format == Format::Json {
            out.write_all(b"{").map_err(io)?;
        }
        for model in catalogue.models().iter().filter(|m| m.exported) {
            let links = links_of(&catalogue, model);
            let mut after: Option<Uuid> = None;
            let mut first = true;
            loop {
                let page = self.export_page(model, &links, after).await?;
                let Some((last, _)) = page.last() else { break };
                after = Some(*last);
                for (_, object) in &page {
                    if first {
                        let label = Json::from(model.label.as_str());
                        match format {
                            Format::Json if sections == 0 => write!(out, "\n{label}: ["),
                            Format::Json => write!(out, "],\n{label}: ["),
                            Format::Yaml => writeln!(out, "{}:", model.label),
                        }
                        .map_err(io)?;
                        sections += 1;
                    }
                    match format {
                        Format::Json => {
                            out.write_all(if first { b"\n" } else { b",\n" }).map_err(io)?;
                            serde_json::to_writer(&mut *out, object)
                                .map_err(|e| StoreError::Internal(e.to_string()))?;
                        }
                        Format::Yaml => {
                            let item = serde_yaml::to_string(&[object])
                                .map_err(|e| StoreError::Internal(e.to_string()))?;
                            out.write_all(item.as_bytes()).map_err(io)?;
                        }
                    }
                    first = false;
                    objects += 1;
                }
                if (page.len() as u64) < PAGE {
                    break;
                }
            }
        }
        match format {
            Format::Json if sections > 0 => out.write_all(b"]\n}\n"),
            Format::Json => out.write_all(b"}\n"),
            Format::Yaml if sections == 0 => out.write_all(b"{}\n"),
            Format::Yaml => Ok(()),
        }
        .map_err(io)?;
        out.flush().map_err(io)?;
        Ok(objects)
    }

    /// One page of a model's objects after `after`, with their list fields.
    async fn export_page(
        &self,
        model: &Model,
        links: &[Link],
        after: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Map<String, Json>)>, StoreError> {
        let (mut select, types, names) = object_select(model);
        select.from(Alias::new(&model.table)).order_by(Alias::new("id"), Order::Asc).limit(PAGE);
        if let Some(after) = after {
            select
                .and_where(Expr::col(Alias::new("id")).gt(bind(ColType::Uuid, Datum::Uuid(after))));
        }
        let rows = self.fetch(&select, &types).await?;
        let mut page = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let row = rows.row(r);
            if let Some(id) = row[0].as_uuid() {
                page.push((id, object_json(model, &names, row)));
            }
        }
        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        for link in links {
            let mut pairs = self.pairs(link, &ids).await?;
            for (id, object) in &mut page {
                if let Some(values) = pairs.remove(id) {
                    object.insert(link.name.clone(), Json::Array(values));
                }
            }
        }
        Ok(page)
    }

    /// The targets of a list field for the owners `ids`, by owner, in target order.
    async fn pairs(
        &self,
        link: &Link,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<Json>>, StoreError> {
        let mut map: HashMap<Uuid, Vec<Json>> = HashMap::new();
        if ids.is_empty() {
            return Ok(map);
        }
        let mut select = Query::select();
        select
            .columns([&link.source, &link.target].map(Alias::new))
            .from(Alias::new(&link.table))
            .and_where(
                Expr::col(Alias::new(&link.source))
                    .is_in(ids.iter().map(|id| bind(ColType::Uuid, Datum::Uuid(*id)))),
            );
        if let Some((column, label)) = &link.content_type {
            select.and_where(Expr::col(Alias::new(column)).eq(label.as_str()));
        }
        select
            .order_by(Alias::new(&link.source), Order::Asc)
            .order_by(Alias::new(&link.target), Order::Asc);
        let rows = self.fetch(&select, &[ColType::Uuid, ColType::Uuid]).await?;
        for r in 0..rows.len() {
            let row = rows.row(r);
            if let (Some(s), Some(t)) = (row[0].as_uuid(), row[1].as_uuid()) {
                map.entry(s).or_default().push(Json::String(t.to_string()));
            }
        }
        Ok(map)
    }
}

/// The list fields exported with a model's objects: many-to-many fields without a through
/// model of their own (those are exported as that model's rows), and generic links (tags).
fn links_of(catalogue: &ferrobot_domain::Catalogue, model: &Model) -> Vec<Link> {
    let mut links = Vec::new();
    for field in &model.fields {
        if let FieldKind::ManyToMany { through, .. } = &field.kind {
            if through.model.is_none() {
                links.push(Link {
                    name: field.name.clone(),
                    table: through.table.clone(),
                    source: through.source_column.clone(),
                    target: through.target_column.clone(),
                    content_type: None,
                });
            }
        }
    }
    for through in catalogue.generic_throughs_of(model) {
        links.push(Link {
            name: through.name.clone(),
            table: through.table.clone(),
            source: through.object_column.clone(),
            target: through.target_column.clone(),
            content_type: Some((through.type_column.clone(), model.label.clone())),
        });
    }
    links
}
