//! The gateway's one error type: every way a request or the server's set-up can fail, with the
//! `extensions.code` and the place in the answer decided here, once.
//!
//! | code | when | HTTP |
//! |---|---|---|
//! | (none) | the document or its variables are invalid | 400, no `data` |
//! | `QUERY_TOO_DEEP`, `TOO_MANY_ALIASES`, `QUERY_TOO_COSTLY` | a query limit, before any SQL | 400, no `data` |
//! | `VALIDATION_FAILED` | a value names nothing or breaks a rule | 200, the field `null` |
//! | `CONFLICT`, `NOT_FOUND`, `PROTECTED`, `FORBIDDEN` | a write that could not be done | 200, every root field `null` |
//! | `BUSY` | the database could not take the request in time | 503, `Retry-After` |
//! | `INTERNAL` | anything else (logged, masked) | 200 or 500 |

use std::collections::HashMap;

use async_graphql::parser::types::Field;
use async_graphql::Positioned;
use ferrobot_domain::DomainError;
use ferrobot_persistence::StoreError;
use serde_json::{json, Map, Value as Json};

use crate::limits::Refusal;

/// Whether an error arose reading (a filter names nothing: the argument is named) or writing
/// (the failing fields are listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Read,
    Write,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The document or its variables do not fit the schema (graphql-core's words).
    #[error("{0}")]
    Document(String),
    /// Refused by a query limit before any SQL ran.
    #[error("{}", .0.message)]
    Limit(Refusal),
    /// The credential may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The schema could not be built from the catalogue and the custom fields.
    #[error("schema: {0}")]
    Schema(String),
    /// A failure of the store: values, conflicts, missing or protected objects, busy, internal.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that should not happen (hashing a password failed …).
    #[error("{0}")]
    Internal(String),
}

/// The `extensions.code` of a request the database was too busy to take (HTTP 503 with
/// `Retry-After`): nothing was written, and the same request may be sent again.
pub const BUSY: &str = "BUSY";

impl GatewayError {
    /// The `extensions.code` clients see.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Document(_) => "GRAPHQL_VALIDATION_FAILED",
            GatewayError::Limit(refusal) => refusal.code,
            GatewayError::Forbidden(_) => "FORBIDDEN",
            GatewayError::Schema(_) | GatewayError::Internal(_) => "INTERNAL",
            GatewayError::Store(error) => match error {
                StoreError::Invalid { .. }
                | StoreError::Filters(_)
                | StoreError::Domain(DomainError::Validation(_)) => "VALIDATION_FAILED",
                StoreError::Conflict { .. } => "CONFLICT",
                StoreError::NotFound { .. } => "NOT_FOUND",
                StoreError::Protected { .. } => "PROTECTED",
                StoreError::Forbidden { .. } => "FORBIDDEN",
                StoreError::Busy(_) => BUSY,
                _ => "INTERNAL",
            },
        }
    }
}

/// An error of one root field, located in the document, as written in the answer's `errors`.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) message: String,
    pub(crate) path: String,
    /// Where the field is in the document (line, column); none where there is no document to
    /// point into (a subscription's batch read long after its document).
    pub(crate) at: Option<(usize, usize)>,
    pub(crate) code: &'static str,
    pub(crate) argument: Option<String>,
    /// More `extensions` keys (the failing fields, the operation's index …).
    pub(crate) details: Map<String, Json>,
}

impl FieldError {
    /// The error as an answer's `errors` holds it.
    pub(crate) fn to_json(&self) -> Json {
        let mut extensions = json!({ "code": self.code });
        if let Some(a) = &self.argument {
            extensions["argument"] = Json::String(a.clone());
        }
        for (k, v) in &self.details {
            extensions[k] = v.clone();
        }
        let mut out = json!({ "message": self.message });
        if let Some((line, column)) = self.at {
            out["locations"] = json!([{"line": line, "column": column}]);
        }
        out["path"] = json!([self.path]);
        out["extensions"] = extensions;
        out
    }

    /// The error of the root field `field` answered under `path`; `index` is the operation's
    /// place in a bulk list or a batch.
    pub(crate) fn located(
        error: GatewayError,
        stage: Stage,
        path: &str,
        field: &Positioned<Field>,
        index: Option<usize>,
    ) -> FieldError {
        let at = Some((field.pos.line, field.pos.column));
        FieldError::at(error, stage, path, at, index)
    }

    /// The error of the root field answered under `path`, at `at` in the document if known.
    pub(crate) fn at(
        error: GatewayError,
        stage: Stage,
        path: &str,
        at: Option<(usize, usize)>,
        index: Option<usize>,
    ) -> FieldError {
        let code = error.code();
        let mut details = Map::new();
        if let Some(index) = index {
            details.insert("index".into(), json!(index));
        }
        let mut argument = None;
        let message = match error {
            GatewayError::Store(StoreError::Domain(DomainError::Validation(errors))) => {
                let mut by_field: HashMap<String, Vec<String>> = HashMap::new();
                let mut order = Vec::new();
                for e in errors {
                    if !by_field.contains_key(&e.field) {
                        order.push(e.field.clone());
                    }
                    by_field.entry(e.field).or_default().push(e.message);
                }
                let text = order
                    .iter()
                    .map(|f| {
                        let messages: Vec<String> =
                            by_field[f].iter().map(|m| python_repr(m)).collect();
                        format!("'{f}': [{}]", messages.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let fields: Map<String, Json> =
                    order.iter().map(|f| (f.clone(), json!(by_field[f]))).collect();
                details.insert("fields".into(), Json::Object(fields));
                format!("{{{text}}}")
            }
            GatewayError::Store(StoreError::Invalid { argument: name, message })
                if name.is_empty() =>
            {
                message
            }
            GatewayError::Store(StoreError::Filters(refused)) => {
                let (message, first, more) = filter_refusal(&refused);
                argument = first;
                details.extend(more);
                message
            }
            GatewayError::Store(StoreError::Invalid { argument: name, message }) => {
                let text = format!("{{{}: [{}]}}", python_repr(&name), python_repr(&message));
                match stage {
                    Stage::Read => argument = Some(name),
                    Stage::Write => {
                        details.insert("fields".into(), json!({ name: [message] }));
                    }
                }
                text
            }
            GatewayError::Store(StoreError::Conflict { fields, message, .. }) => {
                details.insert("fields".into(), json!(fields));
                message
            }
            GatewayError::Store(StoreError::Protected { message, objects }) => {
                details.insert("objects".into(), json!(objects));
                message
            }
            GatewayError::Store(
                e @ (StoreError::NotFound { .. } | StoreError::Forbidden { .. }),
            ) => e.to_string(),
            GatewayError::Forbidden(message) | GatewayError::Document(message) => message,
            GatewayError::Limit(refusal) => refusal.message,
            other => {
                tracing::error!(error = %other, "field failed");
                "internal error".to_owned()
            }
        };
        FieldError { message, path: path.to_owned(), at, code, argument, details }
    }
}

/// Refused filter values as Nautobot reports them, `str(dict(filterset.errors))`: every refused
/// filter, one message each; the first's argument (`extensions.argument`), and `arguments`
/// naming all of them when there are several.
pub(crate) fn filter_refusal(
    refused: &[(String, String)],
) -> (String, Option<String>, Map<String, Json>) {
    let argument = refused.first().map(|(name, _)| name.clone());
    let mut details = Map::new();
    if refused.len() > 1 {
        let names: Vec<&str> = refused.iter().map(|(name, _)| name.as_str()).collect();
        details.insert("arguments".into(), json!(names));
    }
    let text: Vec<String> = refused
        .iter()
        .map(|(name, message)| format!("{}: [{}]", python_repr(name), python_repr(message)))
        .collect();
    (format!("{{{}}}", text.join(", ")), argument, details)
}

/// A string as Python prints it in a dict (Django's error dicts, which Nautobot's clients see):
/// single quotes, or double quotes when the text holds a single quote.
fn python_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\'', "\\'"))
    }
}
