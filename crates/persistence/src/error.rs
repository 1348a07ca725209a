//! Persistence errors.
//!
//! Policy: database errors never leave this crate as `DbErr`. Unique and foreign-key violations
//! become [`StoreError::Conflict`]; client mistakes found here (a filter value naming nothing)
//! are [`StoreError::Invalid`]; everything else is [`StoreError::Internal`], logged by the caller
//! and masked from clients.

use ferrobot_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// Client input that the catalogue or the data rejects; `argument` names the culprit.
    #[error("{message}")]
    Invalid { argument: String, message: String },
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(error: sea_orm::DbErr) -> Self {
        let text = error.to_string();
        let lower = text.to_lowercase();
        if lower.contains("unique") || lower.contains("duplicate") || lower.contains("foreign key")
        {
            StoreError::Conflict(text)
        } else {
            StoreError::Internal(text)
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
