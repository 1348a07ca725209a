//! The import/export format: a mapping from model label to a list of objects.
//!
//! ```yaml
//! dcim.location:
//!   - {name: site-001, location_type: Site, status: Active, parent: region-1}
//! dcim.device:
//!   - name: dev-00001
//!     device_type: {manufacturer: Acme, model: acme-s48}
//!     tags: [tag-1, tag-2]
//!     custom_fields: {owner_team: team-1}
//! ```
//!
//! A reference is an id, the value of the target's natural-key field (`name`, `model` …), or a
//! mapping of the target's fields whose values may be references themselves. `ipam.prefix`
//! takes `prefix: 10.0.0.0/16`, `ipam.ipaddress` takes `address: 10.0.0.1/24` (with an optional
//! `namespace`); their parents are computed (the inputs and parent rules are domain hooks,
//! `ferrobot_domain::hooks`).
//!
//! **Order.** Sections are written in the order they come, and a model may have several
//! sections (in one document or across documents). A required reference must name an object of
//! an earlier section (or one already stored); a nullable reference and a many-to-many list may
//! also name objects that come later: they are resolved once everything else is written.
//!
//! **Streaming.** An import is a feed of [`Item`]s: a section header, then its objects. Files are
//! read into that feed as they are parsed ([`read`]), and the writer writes its batches as they
//! fill, so memory does not grow with the size of the import. Everything runs in one transaction
//! (the first bad row aborts the import with its document, row and field, and nothing is
//! written), or, with [`ImportOptions::chunk`], in transactions of that many objects that say how
//! far they got.

use std::sync::Arc;

use ferrobot_domain::catalogue::ModelId;
use ferrobot_domain::DomainError;
use serde_json::Value as Json;

use crate::store::Store;
use crate::write::{Actor, WriteOptions, Writer};
use crate::StoreError;

pub mod export;
pub mod read;

pub use read::{read_json, read_yaml};

/// One import file, already parsed from YAML or JSON.
pub struct Document {
    pub name: String,
    pub body: Json,
}

/// What an import feed carries.
#[derive(Debug)]
pub enum Item {
    /// The objects that follow are of model `label`, from `document`.
    Section { document: Arc<str>, label: String },
    /// One object of the current section (anything but a mapping is refused).
    Object(Json),
}

/// The sending end of an import feed: items, or the error that ended reading.
pub type FeedSender = tokio::sync::mpsc::Sender<Result<Item, ImportError>>;
pub type Feed = tokio::sync::mpsc::Receiver<Result<Item, ImportError>>;

/// Objects a feed holds between its reader and the writer.
pub const FEED_DEPTH: usize = 1024;

/// A feed and its sending end.
pub fn feed() -> (FeedSender, Feed) {
    tokio::sync::mpsc::channel(FEED_DEPTH)
}

/// Where an import failed: `document: model row N, field F: message`.
#[derive(Debug, thiserror::Error)]
pub struct ImportError {
    pub document: String,
    pub model: String,
    pub row: usize,
    pub field: Option<String>,
    pub message: String,
    /// With chunked commits: the objects committed before the failing chunk, the number to
    /// skip when the import is run again.
    pub committed: Option<u64>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.document.is_empty() {
            write!(f, "{}: ", self.document)?;
        }
        if !self.model.is_empty() {
            write!(f, "{} row {}", self.model, self.row)?;
            if let Some(field) = &self.field {
                write!(f, ", field {field}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)?;
        if let Some(n) = self.committed {
            write!(f, " ({n} objects before it were committed)")?;
        }
        Ok(())
    }
}

impl ImportError {
    /// An error about a document as a whole (it could not be read or parsed).
    pub fn document(document: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            document: document.to_owned(),
            model: String::new(),
            row: 0,
            field: None,
            message: message.into(),
            committed: None,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ImportStats {
    pub objects: u64,
    /// Objects the feed held that were skipped ([`ImportOptions::skip`]).
    pub skipped: u64,
    /// Transactions committed.
    pub commits: u64,
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Who the change log names.
    pub actor: Actor,
    /// Commit after every this many objects (at the end only when `None`). A reference across a
    /// chunk's end must name an object of an earlier chunk.
    pub chunk: Option<u64>,
    /// Objects of the feed to pass over first: those an earlier chunked run committed.
    pub skip: u64,
    /// What the import may do: a named user's object permissions, or everything for the
    /// command line's own `import` actor.
    pub permissions: Option<std::sync::Arc<ferrobot_domain::permission::Permissions>>,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { actor: import_actor(), chunk: None, skip: 0, permissions: None }
    }
}

/// A section of the feed: where its objects came from, for errors found later.
struct Section {
    /// The first operation (object number of the import) of the section.
    first: usize,
    document: Arc<str>,
    label: String,
}

/// An import in progress: a writer fed object by object.
pub struct Importer<'s> {
    store: &'s Store,
    options: ImportOptions,
    writer: Option<Writer<'s>>,
    sections: Vec<Section>,
    model: Option<ModelId>,
    /// Objects committed by earlier chunks.
    committed: u64,
    /// Objects seen so far, skipped ones included: the next object's operation number.
    seen: u64,
    stats: ImportStats,
}

impl Store {
    /// Imports documents in one transaction; `progress` is called with the objects done so far.
    /// Every object gets its change-log row, as any other write does.
    pub async fn import(
        &self,
        documents: &[Document],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        self.import_with(documents, ImportOptions::default(), progress).await
    }

    /// [`Store::import`] as `options` say (who writes, with which permissions).
    pub async fn import_with(
        &self,
        documents: &[Document],
        options: ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        let mut importer = self.importer(options).await?;
        for doc in documents {
            let name: Arc<str> = Arc::from(doc.name.as_str());
            let Json::Object(models) = &doc.body else {
                return Err(ImportError::document(
                    &doc.name,
                    "expected a mapping from model label to a list of objects",
                ));
            };
            for (label, objects) in models {
                importer.section(name.clone(), label)?;
                let Json::Array(objects) = objects else {
                    return Err(importer.at_row(0, "expected a list of objects"));
                };
                for object in objects {
                    importer.object(object.clone()).await?;
                    if importer.stats.objects.is_multiple_of(1000) {
                        progress(importer.stats.objects);
                    }
                }
            }
        }
        let stats = importer.finish().await?;
        progress(stats.objects);
        Ok(stats)
    }

    /// Imports what a feed carries, as it arrives (see [`read`] for files).
    pub async fn import_feed(
        &self,
        mut feed: Feed,
        options: ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportStats, ImportError> {
        let mut importer = self.importer(options).await?;
        // Items are taken from the feed many at a time: taken one at a time from a full feed,
        // each would wake the reader's thread for the next (522,000 wake-ups, a fifth of an
        // import's time in the scheduler).
        let mut items = Vec::with_capacity(FEED_DEPTH / 4);
        while feed.recv_many(&mut items, FEED_DEPTH / 4).await > 0 {
            for item in items.drain(..) {
                match item? {
                    Item::Section { document, label } => importer.section(document, &label)?,
                    Item::Object(object) => {
                        importer.object(object).await?;
                        if importer.seen.is_multiple_of(1000) {
                            progress(importer.stats.objects);
                        }
                    }
                }
            }
        }
        let stats = importer.finish().await?;
        progress(stats.objects);
        Ok(stats)
    }

    /// Starts an import: [`Importer::section`] and [`Importer::object`] feed it.
    pub async fn importer(&self, options: ImportOptions) -> Result<Importer<'_>, ImportError> {
        Ok(Importer {
            store: self,
            options,
            writer: None,
            sections: Vec::new(),
            model: None,
            committed: 0,
            seen: 0,
            stats: ImportStats::default(),
        })
    }
}

impl<'s> Importer<'s> {
    /// The objects that follow are of model `label`.
    pub fn section(&mut self, document: Arc<str>, label: &str) -> Result<(), ImportError> {
        self.sections.push(Section {
            first: self.seen as usize,
            document,
            label: label.to_owned(),
        });
        match self.store.catalogue.by_label(label) {
            Some(model) => {
                self.model = Some(model.id);
                Ok(())
            }
            None => Err(self.at_row(0, format!("unknown model {label}"))),
        }
    }

    /// Writes one object of the current section.
    pub async fn object(&mut self, object: Json) -> Result<(), ImportError> {
        let operation = self.seen as usize;
        self.seen += 1;
        if self.seen <= self.options.skip {
            self.stats.skipped += 1;
            return Ok(());
        }
        let Some(model) = self.model else {
            return Err(ImportError::document("", "an object before any model section"));
        };
        let Json::Object(object) = object else {
            return Err(self.located(operation, None, "expected an object".into()));
        };
        let mut writer = match self.writer.take() {
            Some(writer) => writer,
            None => self.begin().await?,
        };
        writer.begin_operation(operation);
        let catalogue = self.store.catalogue.clone();
        if let Err(error) = writer.create(catalogue.model(model), &object).await {
            let operation = error.operation().unwrap_or(operation);
            return Err(self.failed(operation, error));
        }
        self.writer = Some(writer);
        self.stats.objects += 1;
        if self.options.chunk.is_some_and(|n| self.stats.objects.is_multiple_of(n.max(1))) {
            self.commit().await?;
        }
        Ok(())
    }

    /// Resolves what waited for later sections and commits.
    pub async fn finish(mut self) -> Result<ImportStats, ImportError> {
        self.commit().await?;
        // Both databases plan from statistics that a bulk load leaves stale (PostgreSQL until
        // autovacuum comes by, SQLite until someone runs ANALYZE): at 10,000 devices,
        // `devices(limit: 100) { interfaces { ip_addresses } }` ran 6× slower on PostgreSQL
        // before an ANALYZE (131 ms against 22 ms).
        if self.stats.objects > 0 {
            let statement = match self.store.backend {
                crate::Backend::Postgres | crate::Backend::Sqlite => Some("ANALYZE"),
                crate::Backend::MySql => None,
            };
            if let Some(statement) = statement {
                self.store
                    .execute_raw(statement)
                    .await
                    .map_err(|e| ImportError::document("", e.to_string()))?;
            }
        }
        Ok(self.stats)
    }

    /// The objects written so far.
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    async fn begin(&self) -> Result<Writer<'s>, ImportError> {
        let mut options = WriteOptions::new(self.options.actor.clone(), "orm", "ferrobot import");
        options.defer_references = true;
        options.instantiate_components = false;
        if let Some(permissions) = &self.options.permissions {
            options.permissions = permissions.clone();
        }
        self.store
            .writer(options)
            .await
            .map_err(|e| self.in_chunk(ImportError::document("", e.to_string())))
    }

    async fn commit(&mut self) -> Result<(), ImportError> {
        let Some(mut writer) = self.writer.take() else { return Ok(()) };
        if let Err(error) = writer.settle().await {
            let operation = error.operation().unwrap_or(writer.operation());
            return Err(self.failed(operation, error));
        }
        writer
            .commit()
            .await
            .map_err(|e| self.in_chunk(ImportError::document("", e.to_string())))?;
        self.stats.commits += 1;
        self.committed = self.stats.objects;
        Ok(())
    }

    /// An error at `row` of the current section.
    fn at_row(&self, row: usize, message: impl Into<String>) -> ImportError {
        let (document, model) = self
            .sections
            .last()
            .map_or((String::new(), String::new()), |s| (s.document.to_string(), s.label.clone()));
        self.in_chunk(ImportError {
            document,
            model,
            row,
            field: None,
            message: message.into(),
            committed: None,
        })
    }

    /// An error located at the object of operation `operation`.
    fn located(&self, operation: usize, field: Option<String>, message: String) -> ImportError {
        let at = self.sections.partition_point(|s| s.first <= operation);
        let (document, model, row) = match at.checked_sub(1).and_then(|i| self.sections.get(i)) {
            Some(s) => (s.document.to_string(), s.label.clone(), operation - s.first + 1),
            None => (String::new(), String::new(), 0),
        };
        self.in_chunk(ImportError { document, model, row, field, message, committed: None })
    }

    fn failed(&self, operation: usize, error: StoreError) -> ImportError {
        let (field, message) = match error {
            StoreError::Domain(DomainError::Validation(errors)) => {
                let field = errors.first().map(|e| e.field.clone());
                let message = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
                (field, message)
            }
            StoreError::Conflict { fields, message, .. } => (fields.first().cloned(), message),
            other => (None, other.to_string()),
        };
        self.located(operation, field, message)
    }

    /// With chunked commits, an error says how many objects are already in.
    fn in_chunk(&self, mut error: ImportError) -> ImportError {
        if self.options.chunk.is_some() {
            error.committed = Some(self.options.skip + self.committed);
        }
        error
    }
}

/// Who the change log names for an import that names nobody.
pub fn import_actor() -> Actor {
    Actor { user_id: None, user_name: "import".into() }
}
