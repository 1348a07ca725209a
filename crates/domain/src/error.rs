//! Domain errors.
//!
//! Policy: `thiserror` enums only, no IO. Validation reports every field error of an object at
//! once (`Vec<ValidationError>`), so a client fixes its input in one round trip.

use std::fmt;

/// One field of one object failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The catalogue files are inconsistent; the message names the file, model and field.
    #[error("catalogue: {0}")]
    Catalogue(String),
    /// Input values failed validation.
    #[error("validation failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Validation(Vec<ValidationError>),
}

pub type DomainResult<T> = Result<T, DomainError>;
