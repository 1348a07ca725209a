//! The domain of Ferrobot: the model catalogue and the behaviour no catalogue can say.
//!
//! Reading order: [`catalogue`] (what models exist, resolved once at start-up), [`value`]
//! (the one value type, [`value::Datum`], and how values are parsed and rendered: IP addresses,
//! natural ordering, enum names), [`row`] (an object as rules, snapshots and uniqueness see it),
//! [`ipam`] (prefix and address math), [`hooks`] (which models get that behaviour), [`error`].
//!
//! This crate does no IO and knows no SQL, HTTP or GraphQL. One algorithm reads rows as it goes
//! (the cable graph a write changes, [`cable::origins`]): it is async over a reader trait the
//! store implements, and needs no runtime of its own.

pub mod cable;
pub mod catalogue;
pub mod computed_field;
pub mod config_context;
pub mod data_validation;
pub mod dynamic_group;
pub mod error;
pub mod export_template;
pub mod git_repository;
pub mod hooks;
pub mod intended;
pub mod ipam;
pub mod job;
pub mod owner;
pub mod permission;
pub mod platform;
pub mod rack;
pub mod relationship;
pub mod request;
pub mod row;
pub mod saved_query;
pub mod secret;
pub mod template;
pub mod template_paths;
pub mod usage;
pub mod validate;
pub mod value;
pub mod webhook;

pub use catalogue::{Catalogue, CustomField, CustomFieldKind, Field, FieldKind, Model, ModelId};
pub use error::{DomainError, DomainResult, ValidationError};
