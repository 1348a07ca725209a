//! The domain of Ferrobot: the model catalogue and the behaviour no catalogue can say.
//!
//! Reading order: [`catalogue`] (what models exist, resolved once at start-up), [`value`]
//! (how typed values are parsed and rendered: IP addresses, natural ordering, enum names),
//! [`ipam`] (prefix and address math), [`hooks`] (which models get that behaviour), [`error`].
//!
//! This crate does no IO, knows no SQL, HTTP or GraphQL, and is not async.

pub mod cable;
pub mod catalogue;
pub mod error;
pub mod hooks;
pub mod ipam;
pub mod rack;
pub mod request;
pub mod validate;
pub mod value;

pub use catalogue::{Catalogue, CustomField, CustomFieldKind, Field, FieldKind, Model, ModelId};
pub use error::{DomainError, DomainResult, ValidationError};
