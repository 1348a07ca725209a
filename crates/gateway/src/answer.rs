//! What one request carries between the HTTP handler and the executor: its credentials and
//! limits on the way in ([`RequestState`]), the parsed document, and the loaded [`Answer`] on the
//! way out, which [`crate::render`] writes.

use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Variables;
use ferrobot_persistence::query::{Level, Plan, Windows};
use ferrobot_persistence::Store;
use uuid::Uuid;

use crate::error::FieldError;
use crate::schema::{PageField, Served};

/// Per-request state shared between the HTTP handler and the extension.
pub struct RequestState {
    pub served: Arc<Served>,
    pub store: Store,
    /// Who sent the request, for the change log.
    pub actor: ferrobot_persistence::write::Actor,
    /// What the user may see and do.
    pub permissions: Arc<ferrobot_domain::permission::Permissions>,
    /// Whether writes add change-log rows (see [`crate::Config::change_log`]).
    pub change_log: bool,
    /// Whether the credential may write (a token's `write_enabled`).
    pub may_write: bool,
    /// What one request may ask for.
    pub limits: crate::limits::Limits,
    /// What objects' `url`s begin with (see [`crate::Config::base_url`]).
    pub base_url: String,
    /// Rows of a root list read at a time with what lies under them (see
    /// [`crate::Config::read_window`]).
    pub read_window: usize,
    /// How a sync this request starts fetches (see [`crate::Config::git`]).
    pub git: ferrobot_git::SyncOptions,
    pub(crate) document: Mutex<Option<(ExecutableDocument, Variables)>>,
    pub(crate) answer: Mutex<Option<Answer>>,
    /// A subscription the document asked for, lowered (the change feed follows it).
    /// (or the error of its root field, as the answer's `errors` would hold it).
    pub(crate) subscribed: Mutex<Option<Result<Subscribed, serde_json::Value>>>,
    /// Set once validation passed and execution began: errors after that are HTTP 200.
    pub(crate) executed: std::sync::atomic::AtomicBool,
    /// Set when the database was too busy to answer: the answer is HTTP 503, retryable.
    pub(crate) busy: std::sync::atomic::AtomicBool,
    /// The request's id: sent back as `X-Request-ID`, stored in the change log.
    pub request_id: Uuid,
    /// What the document asked for, once known (metrics and the request's log line).
    pub(crate) operation: Mutex<Option<crate::metrics::Operation>>,
    /// The server's threads for writes ([`crate::admission`]).
    pub(crate) write_threads: Arc<tokio::sync::Semaphore>,
}

impl RequestState {
    pub fn new(
        served: Arc<Served>,
        store: Store,
        actor: ferrobot_persistence::write::Actor,
        permissions: Arc<ferrobot_domain::permission::Permissions>,
    ) -> Self {
        Self {
            served,
            store,
            actor,
            permissions,
            change_log: true,
            may_write: true,
            limits: crate::limits::Limits::default(),
            base_url: String::new(),
            read_window: crate::DEFAULT_READ_WINDOW,
            git: crate::Config::new(String::new()).git,
            document: Mutex::new(None),
            answer: Mutex::new(None),
            subscribed: Mutex::new(None),
            executed: std::sync::atomic::AtomicBool::new(false),
            busy: std::sync::atomic::AtomicBool::new(false),
            request_id: Uuid::new_v4(),
            operation: Mutex::new(None),
            write_threads: Arc::new(tokio::sync::Semaphore::new(crate::admission::WRITE_THREADS)),
        }
    }

    pub fn executed(&self) -> bool {
        self.executed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn take_answer(&self) -> Option<Answer> {
        self.answer.lock().ok().and_then(|mut a| a.take())
    }

    pub fn take_subscribed(&self) -> Option<Result<Subscribed, serde_json::Value>> {
        self.subscribed.lock().ok().and_then(|mut s| s.take())
    }
}

/// A subscription operation lowered: its one root field's response key, the request tree of
/// the rows it follows (its filters included), and where its replay starts.
#[derive(Debug, Clone)]
pub struct Subscribed {
    pub key: String,
    pub select: ferrobot_domain::request::Select,
    /// `after_sequence`: replay every change after it first; `None` follows from now.
    pub after: Option<i64>,
}

/// An operation's answer: loaded rows ready to be written, and field errors.
pub struct Answer {
    pub(crate) roots: Vec<RootAnswer>,
    pub(crate) errors: Vec<FieldError>,
    pub statements: u64,
    /// The estimated cost and the limit, reported in `extensions.cost`.
    pub(crate) cost: Option<(u64, u64)>,
}

pub(crate) struct RootAnswer {
    pub(crate) key: String,
    pub(crate) body: RootBody,
}

pub(crate) enum RootBody {
    Typename(&'static str),
    Null,
    List(Arc<Plan>, Level),
    /// A root list read in windows of rows: the first window read, the others read as the
    /// writer reaches them.
    Windows {
        plan: Arc<Plan>,
        first: Level,
        rest: Option<Box<Windows>>,
    },
    Single(Box<Plan>, Level),
    /// Objects a mutation wrote, read back in chunks of ids and written in the order given.
    Objects {
        plan: Box<Plan>,
        chunks: Vec<(Level, Vec<Uuid>)>,
        list: bool,
    },
    /// An answer built in memory (deleted objects, batch results).
    Json(serde_json::Value),
    /// A cursor page: its first `first` rows, whether there are more, the total if asked.
    Page {
        /// The list's model, named in its cursors.
        label: String,
        plan: Box<Plan>,
        level: Level,
        first: usize,
        total: Option<u64>,
        /// The page's own fields: (JSON key prefix, field).
        fields: Vec<(String, PageField)>,
    },
}
