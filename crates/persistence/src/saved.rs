//! Saved GraphQL queries as a user sees them: found by id or name, or listed by name, cut to
//! the rows the user's view permission allows.

use ferrobot_domain::permission::Permissions;
use ferrobot_domain::saved_query::{SavedQuery, SAVED_QUERY};
use sea_query::{Alias, Expr, Func, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::cell::{Cell, ColType};
use crate::store::Store;
use crate::{StoreError, StoreResult};

/// Which saved queries to read.
#[derive(Debug, Clone)]
pub enum Which {
    /// One, by id, or by name when the text is no id (Nautobot's detail route takes either).
    Key(String),
    /// A page of them, by name when given.
    Page { name: Option<String>, limit: u64, offset: u64 },
}

impl Store {
    /// The saved queries `which` names that `perms` may view, in name order, with how many
    /// there are in all (two statements for a page, one for a key).
    pub async fn saved_queries(
        &self,
        perms: &Permissions,
        which: &Which,
    ) -> StoreResult<(u64, Vec<SavedQuery>)> {
        let catalogue = self.catalogue().clone();
        let model = catalogue
            .by_label(SAVED_QUERY)
            .ok_or_else(|| StoreError::Internal("no saved query model".into()))?;
        // The select whole objects share.
        let (mut select, types, fields) = crate::object::object_select(model);
        select.from(Alias::new(&model.table));
        let id = fields.iter().position(|f| f.primary_key).unwrap_or(0);
        let name_column = model.column_of("name");
        let filtered = |s: &mut SelectStatement| {
            if let Some(seen) = self.visible_ids(perms, model, None) {
                s.and_where(seen);
            }
            match which {
                Which::Key(key) => match Uuid::parse_str(key) {
                    Ok(id) => s.and_where(
                        Expr::col(Alias::new("id")).eq(Expr::val(crate::query::uuid_value(id))),
                    ),
                    Err(_) => s.and_where(Expr::col(Alias::new(&name_column)).eq(key.as_str())),
                },
                Which::Page { name: Some(name), .. } => {
                    s.and_where(Expr::col(Alias::new(&name_column)).eq(name.as_str()))
                }
                Which::Page { name: None, .. } => s,
            };
        };
        filtered(&mut select);
        select.order_by(Alias::new(&name_column), Order::Asc);
        let mut total = None;
        if let Which::Page { limit, offset, .. } = which {
            select.limit(*limit).offset(*offset);
            let mut count = Query::select();
            count.expr(Func::count(Expr::col(Alias::new("id")))).from(Alias::new(&model.table));
            filtered(&mut count);
            let rows = self
                .fetch(&count, &[ColType::Int(ferrobot_domain::catalogue::IntSize::Big)])
                .await?;
            total = match rows.cells.first() {
                Some(Cell::Int(n)) => Some(*n as u64),
                _ => Some(0),
            };
        }
        let rows = self.fetch(&select, &types).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in 0..rows.len() {
            let cells = rows.row(r);
            let Some(id) = cells[id].as_uuid() else { continue };
            let row = crate::object::object_row(model, &fields, cells);
            out.push(SavedQuery::from_row(id, &row));
        }
        Ok((total.unwrap_or(out.len() as u64), out))
    }
}
