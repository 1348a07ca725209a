//! Job results and their log entries, as Nautobot's jobs report them (`extras.jobresult`,
//! `extras.joblogentry`): what Ferrobot's own jobs (a Git repository's sync, a fleet render)
//! leave behind for a client to follow, read through the generated `job_results` and
//! `job_log_entries` roots.
//!
//! Spec: nautobot/extras/models/jobs.py (`JobResult`, `JobLogEntry`),
//! nautobot/extras/choices.py (`JobResultStatusChoices`, `LogLevelChoices`).

/// The label of the job result model.
pub const RESULT: &str = "extras.jobresult";

/// The label of the job log entry model.
pub const LOG_ENTRY: &str = "extras.joblogentry";

/// The fields a job writes of its result and its log entries.
pub mod fields {
    pub const ID: &str = "id";
    pub const NAME: &str = "name";
    pub const TASK_NAME: &str = "task_name";
    pub const DATE_CREATED: &str = "date_created";
    pub const DATE_STARTED: &str = "date_started";
    pub const DATE_DONE: &str = "date_done";
    pub const USER: &str = "user";
    pub const STATUS: &str = "status";
    pub const RESULT: &str = "result";
    pub const META: &str = "meta";
    pub const TASK_ARGS: &str = "task_args";
    pub const TASK_KWARGS: &str = "task_kwargs";
    pub const CELERY_KWARGS: &str = "celery_kwargs";
    pub const CANCELED_BY_USER_NAME: &str = "canceled_by_user_name";
    pub const CANCEL_TYPE: &str = "cancel_type";
    pub const JOB_RESULT: &str = "job_result";
    pub const LOG_LEVEL: &str = "log_level";
    pub const GROUPING: &str = "grouping";
    pub const MESSAGE: &str = "message";
    pub const CREATED: &str = "created";
    pub const LOG_OBJECT: &str = "log_object";
    pub const ABSOLUTE_URL: &str = "absolute_url";
}

/// Where a job stands (`JobResultStatusChoices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Started,
    Success,
    Failure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Started => "STARTED",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
        }
    }

    /// Whether the job has ended.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Success | Status::Failure)
    }
}

/// How much a log entry matters (`LogLevelChoices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Success,
    Warning,
    Failure,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Failure => "failure",
        }
    }

    /// The job result's count this entry adds to (`*_log_count`; failures count as errors, as
    /// in Nautobot).
    pub fn count_field(self) -> &'static str {
        match self {
            Level::Debug => "debug_log_count",
            Level::Info => "info_log_count",
            Level::Success => "success_log_count",
            Level::Warning => "warning_log_count",
            Level::Failure => "error_log_count",
        }
    }
}

/// One log entry of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub level: Level,
    /// What part of the job it belongs to (`config contexts`, `export templates` …).
    pub grouping: String,
    pub message: String,
    /// The object it is about, as printed (`[repo] ntp`), or empty.
    pub object: String,
}

impl Entry {
    pub fn new(level: Level, grouping: &str, message: impl Into<String>) -> Entry {
        Entry { level, grouping: grouping.into(), message: message.into(), object: String::new() }
    }

    pub fn about(mut self, object: impl Into<String>) -> Entry {
        self.object = object.into();
        self
    }
}

/// The most log entries one job keeps; later ones are counted, not stored.
pub const MAX_ENTRIES: usize = 10_000;

/// The longest message stored; longer ones are cut.
pub const MAX_MESSAGE: usize = 4_096;

/// A text cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let cut = cut(&long, MAX_MESSAGE);
        assert!(cut.len() <= MAX_MESSAGE && cut.len() > MAX_MESSAGE - 2);
        assert_eq!(super::cut("short", 10), "short");
    }

    #[test]
    fn failures_count_as_errors() {
        // Spec: nautobot/extras/models/jobs.py (JobResult.log: error_log_count counts failures).
        assert_eq!(Level::Failure.count_field(), "error_log_count");
        assert!(Status::Failure.is_done() && !Status::Started.is_done());
    }
}
