//! Persistence errors.
//!
//! Policy: database errors never leave this crate as `DbErr`. Unique and foreign-key violations
//! become [`StoreError::Conflict`]; client mistakes found here (a filter value naming nothing)
//! are [`StoreError::Invalid`]; everything else is [`StoreError::Internal`], logged by the caller
//! and masked from clients.

use ferrobot_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object of `kind` (a verbose name) matches `id` (the reference, as the client wrote it).
    #[error("No {kind} matches {id}.")]
    NotFound { kind: String, id: String },
    /// A unique constraint refused the write: `fields` name it, `operation` is the index of the
    /// operation whose object conflicts, when known.
    #[error("{message}")]
    Conflict { fields: Vec<String>, message: String, operation: Option<usize> },
    /// A delete refused by protected references; `objects` names the blocking objects.
    #[error("{message}")]
    Protected { message: String, objects: Vec<String> },
    /// Client input that the catalogue or the data rejects; `argument` names the culprit.
    #[error("{message}")]
    Invalid { argument: String, message: String },
    /// Filter values of one list that its filter form refuses, more than one: (argument,
    /// message) per argument, in the order the arguments were given.
    #[error("{}", .0.iter().map(|(a, m)| format!("{a}: {m}")).collect::<Vec<_>>().join("; "))]
    Filters(Vec<(String, String)>),
    /// The user's object permissions do not allow the write; `operation` is the index of the
    /// operation refused, when known.
    #[error("{message}")]
    Forbidden { message: String, operation: Option<usize> },
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database could not take the request in time: a write waited too long for its turn
    /// or for a lock another process holds, or no connection was free. Nothing was written;
    /// the same request may be sent again.
    #[error("{0}")]
    Busy(String),
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(error: sea_orm::DbErr) -> Self {
        let text = error.to_string();
        let lower = text.to_lowercase();
        // SQLite's SQLITE_BUSY, PostgreSQL's lock_timeout (55P03) and deadlocks (40P01),
        // MySQL's 1205 and 1213, and a pool with no free connection in time.
        let busy = [
            "database is locked",
            "lock timeout",
            "lock wait timeout",
            "deadlock",
            "pool timed out",
        ];
        // A pattern Rust's regex accepted but the database's dialect does not (PostgreSQL's
        // ARE, MariaDB's PCRE): the client's mistake, named as such.
        if ["invalid regular expression", "regex error", "from regexp"]
            .iter()
            .any(|r| lower.contains(r))
        {
            return StoreError::Invalid {
                argument: String::new(),
                message: format!("Invalid regular expression for this database: {text}"),
            };
        }
        if busy.iter().any(|b| lower.contains(b)) {
            return StoreError::Busy(
                "The database was busy and did not take the request in time; nothing was written. Try again."
                    .into(),
            );
        }
        if lower.contains("unique") || lower.contains("duplicate") || lower.contains("foreign key")
        {
            StoreError::Conflict { fields: Vec::new(), message: text, operation: None }
        } else {
            StoreError::Internal(text)
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The operation of the request an error belongs to, when the error itself knows it.
    pub fn operation(&self) -> Option<usize> {
        match self {
            StoreError::Conflict { operation, .. } | StoreError::Forbidden { operation, .. } => {
                *operation
            }
            _ => None,
        }
    }
}
