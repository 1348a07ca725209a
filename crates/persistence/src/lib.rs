//! Database access generated from the catalogue.
//!
//! Reading order: [`store`] (connecting to SQLite, PostgreSQL or MySQL/MariaDB and running
//! statements), [`schema`] (the tables the catalogue describes, as DDL), [`query`] (filters and
//! batched level loads compiled to SQL), [`write`] (inserts with their change-log rows),
//! [`bind`] (where the domain's values become the values a statement binds),
//! [`import`] (the documented import/export format), [`auth`] (users and tokens).
//!
//! This is the only crate, with `migrations/`, that names sea-orm or sea-query; rows leave it as
//! [`Cell`]s, never as entities.

mod access;
pub mod auth;
pub mod bind;
pub mod cell;
pub mod error;
pub mod feed;
pub mod import;
pub mod job;
mod object;
mod pattern;
pub mod query;
pub mod saved;
pub mod schema;
mod sqlite_read;
mod sqlx_read;
pub mod store;
pub mod webhook;
pub mod write;

pub use cell::{Cell, ColType};
pub use error::{StoreError, StoreResult};
pub use store::{Backend, Store, StoreOptions, StoreStats};
