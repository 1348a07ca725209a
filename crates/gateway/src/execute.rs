//! Execution: async-graphql parses and validates every request; [`PlanExtension`] then takes
//! over query and mutation operations in its `execute` hook. A query's root fields are lowered
//! to request trees (`ir`), planned and read by persistence (one statement per level),
//! and the [`Answer`] is written by [`crate::render`].

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Response, ServerResult, Value, Variables};
use ferrobot_persistence::query::{Plan, Read, Windowing};
use ferrobot_persistence::{Store, StoreError};

pub use crate::answer::{Answer, RequestState};
use crate::answer::{RootAnswer, RootBody};
use crate::error::{FieldError, GatewayError, Stage, BUSY};
use crate::ir::Lowerer;
use crate::schema::PageField;
use crate::schema::Root;
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::request::Select;
use ferrobot_persistence::query::json_key;

/// Reads a cursor page: its rows (one more than the page, to know whether another follows) and,
/// when selected, the total with the same filters.
async fn read_page(
    store: &Store,
    catalogue: &ferrobot_domain::Catalogue,
    select: &Select,
    fields: Vec<(String, PageField)>,
    perms: &Arc<Permissions>,
) -> Result<RootBody, StoreError> {
    let plan = Plan::new(catalogue, select);
    let level = store.execute(&plan, perms).await?;
    let total = match fields.iter().any(|(_, f)| *f == PageField::TotalCount) {
        true => Some(store.count_rows(select.model, &select.filters, perms).await?),
        false => None,
    };
    let first = select.page.keyset.as_ref().map_or(0, |k| k.first as usize);
    let fields = fields.into_iter().map(|(k, f)| (json_key(&k), f)).collect();
    let label = catalogue.model(select.model).label.clone();
    Ok(RootBody::Page { label, plan: Box::new(plan), level, first, total, fields })
}

/// Reads a root list: whole when it has at most `window` rows, else its first window of rows
/// with what lies under them, the others read as the answer is written.
async fn read_list(
    store: &Store,
    catalogue: &ferrobot_domain::Catalogue,
    select: &Select,
    window: usize,
    perms: &Arc<Permissions>,
) -> Result<RootBody, StoreError> {
    let plan = Arc::new(Plan::new(catalogue, select));
    match store.execute_windows(plan.clone(), Windowing::rows(window), perms).await? {
        Read::Whole(level) => Ok(RootBody::List(plan, *level)),
        Read::Windows(mut windows) => {
            // The first window is read before the answer starts, so that what fails in every
            // window (a statement the database refuses, a busy database) fails as before.
            let first = windows.next().await.transpose()?.unwrap_or_default();
            Ok(RootBody::Windows { plan, first, rest: Some(windows) })
        }
    }
}

/// The rows of the tables the selects read that the user may see, for the models it does not
/// see whole.
async fn visible_sizes<'a>(
    store: &Store,
    selects: impl Iterator<Item = &'a Select>,
    perms: &Permissions,
) -> Result<std::collections::HashMap<String, u64>, StoreError> {
    let mut models = std::collections::BTreeSet::new();
    let mut stack: Vec<&Select> = selects.collect();
    while let Some(select) = stack.pop() {
        models.insert(select.model);
        stack.extend(select.children());
    }
    let catalogue = store.catalogue().clone();
    let mut out = std::collections::HashMap::new();
    for model in models {
        let table = catalogue.model(model).table.clone();
        match perms.grant(model, ferrobot_domain::permission::Action::View) {
            ferrobot_domain::permission::Grant::All => {}
            ferrobot_domain::permission::Grant::Denied => {
                out.insert(table, 0);
            }
            ferrobot_domain::permission::Grant::Rows(_) => {
                out.insert(table, store.count_rows(model, &[], perms).await?);
            }
        }
    }
    Ok(out)
}

pub struct PlanExtension;

impl ExtensionFactory for PlanExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PlanExtensionImpl)
    }
}

struct PlanExtensionImpl;

#[async_graphql::async_trait::async_trait]
impl Extension for PlanExtensionImpl {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(state) = ctx.data_opt::<Arc<RequestState>>() {
            if let Ok(mut slot) = state.document.lock() {
                *slot = Some((document.clone(), variables.clone()));
            }
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(state) = ctx.data_opt::<Arc<RequestState>>().cloned() else {
            return next.run(ctx, operation_name).await;
        };
        let taken = state.document.lock().ok().and_then(|mut d| d.take());
        let Some((document, variables)) = taken else {
            state.executed.store(true, std::sync::atomic::Ordering::Relaxed);
            return next.run(ctx, operation_name).await;
        };
        // Variables that do not fit their definitions end the request as a document error
        // would (HTTP 400): `executed` stays false. An omitted variable takes its default.
        let mut variables = variables;
        if let Some(operation) = operation_definition(&document, operation_name) {
            let registry = state.served.schema.registry();
            let root = match operation.ty {
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
                OperationType::Query => "Query",
            };
            let positions = crate::variables::check_positions(registry, &document, operation, root);
            let checked =
                positions.and_then(|()| crate::variables::check(registry, operation, &variables));
            if let Err(error) = checked {
                let message = error.to_string();
                return Response::from_errors(vec![async_graphql::ServerError::new(message, None)]);
            }
            crate::variables::apply_defaults(operation, &mut variables);
        }
        state.executed.store(true, std::sync::atomic::Ordering::Relaxed);
        let Some((kind, selection)) = operation_selection(&document, operation_name) else {
            return next.run(ctx, operation_name).await;
        };
        if let Ok(mut slot) = state.operation.lock() {
            let kind = match kind {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            let mut root_fields: Vec<String> = selection
                .items
                .iter()
                .filter_map(|s| match &s.node {
                    Selection::Field(f) => Some(f.node.name.node.to_string()),
                    _ => None,
                })
                .collect();
            root_fields.sort_unstable();
            root_fields.dedup();
            *slot = Some(crate::metrics::Operation { kind, root_fields });
        }
        if kind == OperationType::Subscription {
            let lowerer = Lowerer::new(&state.served, &document, &variables, state.limits)
                .with_base_url(&state.base_url);
            let subscribed = match subscribe(&lowerer, &state.store, selection) {
                Ok(subscribed) => Ok(subscribed),
                Err(Refused::Limit(refusal)) => {
                    state.executed.store(false, std::sync::atomic::Ordering::Relaxed);
                    return Response::from_errors(vec![refusal.into_error()]);
                }
                Err(Refused::Field(error)) => Err(error.to_json()),
            };
            if let Ok(mut slot) = state.subscribed.lock() {
                *slot = Some(subscribed);
            }
            return Response::new(Value::Null);
        }
        let introspects = selection.items.iter().any(|s| {
            matches!(&s.node, Selection::Field(f) if f.node.name.node.starts_with("__") && f.node.name.node != "__typename")
        });
        if introspects {
            return next.run(ctx, operation_name).await;
        }
        let before = state.store.statements();
        let started = std::time::Instant::now();
        let answered = match kind {
            OperationType::Mutation => {
                let operation_name = operation_name.map(str::to_owned);
                let thread =
                    crate::admission::write_thread(&state.write_threads, &state.store).await;
                let state = state.clone();
                on_own_thread(thread.map_err(Into::into), async move {
                    let Some((_, selection)) =
                        operation_selection(&document, operation_name.as_deref())
                    else {
                        return Err(StoreError::Internal("the mutation went missing".into()).into());
                    };
                    let lowerer = Lowerer::new(&state.served, &document, &variables, state.limits)
                        .with_base_url(&state.base_url);
                    crate::mutate::mutate(&lowerer, &state, selection).await
                })
                .await
            }
            _ => {
                let lowerer = Lowerer::new(&state.served, &document, &variables, state.limits)
                    .with_base_url(&state.base_url);
                answer(&lowerer, &state.store, selection, state.read_window, &state.permissions)
                    .await
            }
        };
        match answered {
            Ok(mut answer) => {
                answer.statements = state.store.statements().saturating_sub(before);
                tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "answer loaded");
                if let Ok(mut slot) = state.answer.lock() {
                    *slot = Some(answer);
                }
                Response::new(Value::Null)
            }
            Err(GatewayError::Limit(refusal)) => {
                // Refused before anything ran: a document error (HTTP 400).
                state.executed.store(false, std::sync::atomic::Ordering::Relaxed);
                Response::from_errors(vec![refusal.into_error()])
            }
            Err(GatewayError::Store(StoreError::Busy(message))) => {
                tracing::warn!(%message, "request refused: the database is busy");
                state.busy.store(true, std::sync::atomic::Ordering::Relaxed);
                let mut error = async_graphql::ServerError::new(message, None);
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", BUSY);
                extensions.set("retryable", true);
                error.extensions = Some(extensions);
                Response::from_errors(vec![error])
            }
            Err(error) => {
                tracing::error!(%error, "query failed");
                Response::from_errors(vec![async_graphql::ServerError::new("internal error", None)])
            }
        }
    }
}

/// Runs a write on a thread of its own, polled there from start to end.
///
/// A mutation runs dozens of statements one after the other (32 for a `device_update` with the
/// change log), each a round trip to the writer connection's thread. On the runtime's worker
/// threads every one of those wake-ups would queue behind the tasks of every read in flight. A
/// thread that polls only this write is woken directly when a statement answers; with the
/// [`crate::admission`] gate keeping a core free while a write is in flight, writes keep much of
/// their pace under reads. Writes take turns anyway (`Store::write_turn`), so at most one of
/// these threads is busy at a time; the others wait for their turn.
///
/// Dropping the returned future (the client went away, the request timed out) drops the write
/// on its thread as it would have been dropped here: its transaction rolls back.
async fn on_own_thread<T: Send + 'static, P>(
    thread: Result<P, GatewayError>,
    write: impl std::future::Future<Output = Result<T, GatewayError>> + Send + 'static,
) -> Result<T, GatewayError> {
    // The permit for a thread ([`crate::admission`]), held until the write ends.
    let _thread = thread?;
    let runtime = tokio::runtime::Handle::current();
    let (_keep, cancelled) = tokio::sync::oneshot::channel::<()>();
    let thread = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            tokio::select! {
                done = write => Some(done),
                _ = cancelled => None,
            }
        })
    });
    match thread.await {
        Ok(Some(done)) => done,
        Ok(None) => Err(StoreError::Internal("the write was cancelled".into()).into()),
        Err(e) => Err(StoreError::Internal(format!("the write's thread failed: {e}")).into()),
    }
}

pub(crate) fn operation_definition<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some(&op.node)
}

fn operation_selection<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, &'a SelectionSet)> {
    operation_definition(document, name).map(|op| (op.ty, &op.selection_set.node))
}

/// Lowers a subscription operation: its one root field (the change feed's list) to the request
/// tree each batch of changes is read with, checked against the limits as a query would be
/// (the change-log level counted as one batch of changes).
fn subscribe(
    lowerer: &Lowerer<'_>,
    store: &Store,
    selection: &SelectionSet,
) -> Result<crate::answer::Subscribed, Refused> {
    let collected = lowerer.collect(selection, "Subscription");
    let found =
        collected.iter().find_map(|c| Some((c, *lowerer.served.subscriptions.get(c.name())?)));
    let Some((root, model)) = found else {
        // Validation lets through only `Subscription`'s fields, one per operation.
        return Err(Refused::Field(Box::new(FieldError {
            message: "A subscription selects one field of `Subscription`.".into(),
            path: String::new(),
            at: Some((1, 1)),
            code: "GRAPHQL_VALIDATION_FAILED",
            argument: None,
            details: Default::default(),
        })));
    };
    let located = |e: GatewayError| {
        Box::new(FieldError::located(e, Stage::Read, &root.key, root.field(), None))
    };
    let select =
        lowerer.select(model, root, false, 1).map_err(|e| Refused::Field(located(e.into())))?;
    if let Some(refusal) = lowerer.refusal() {
        return Err(Refused::Limit(refusal));
    }
    let after = match lowerer.argument(root.field(), crate::schema::AFTER_SEQUENCE) {
        None => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => n.as_i64(),
        Some(_) => {
            let error = StoreError::Invalid {
                argument: crate::schema::AFTER_SEQUENCE.into(),
                message: "Ensure this value is a sequence: a whole number, 0 or more.".into(),
            };
            return Err(Refused::Field(located(error.into())));
        }
    };
    let catalogue = &lowerer.served.catalogue;
    let log = &catalogue.model(model).table;
    let batch = crate::feed::BATCH as u64;
    let sizes = |t: &str| if t == log { Some(batch) } else { store.table_rows(t) };
    let cost = crate::limits::cost(&sizes, catalogue, &select, false);
    if cost > lowerer.limits.cost {
        return Err(Refused::Limit(crate::limits::too_costly(cost, lowerer.limits.cost)));
    }
    Ok(crate::answer::Subscribed { key: root.key.clone(), select, after })
}

/// Why a subscription is refused: a limit (a document error), or its root field's error.
enum Refused {
    Limit(crate::limits::Refusal),
    Field(Box<FieldError>),
}

/// Answers a query operation: each root field lowered to a request tree, checked against the
/// limits as a whole, then planned and read. A refused document reads nothing.
async fn answer(
    lowerer: &Lowerer<'_>,
    store: &Store,
    selection: &SelectionSet,
    window: usize,
    perms: &Arc<Permissions>,
) -> Result<Answer, GatewayError> {
    enum Lowered {
        Typename,
        Null,
        Read(Select, bool),
        Page(Select, Vec<(String, PageField)>),
        /// An export: the list's model, the template's name, the filter, the selected fields
        /// (response key, field name).
        Export(
            ferrobot_domain::ModelId,
            String,
            serde_json::Map<String, serde_json::Value>,
            Vec<(String, String)>,
        ),
        Failed(StoreError),
    }
    let collected = lowerer.collect(selection, "Query");
    let mut lowered = Vec::with_capacity(collected.len());
    for root in &collected {
        let item = match (root.name(), lowerer.served.roots.get(root.name())) {
            ("__typename", _) => Lowered::Typename,
            (_, Some(Root::List(m))) => match lowerer.select(*m, root, false, 1) {
                Ok(select) => Lowered::Read(select, false),
                Err(e) => Lowered::Failed(e),
            },
            (_, Some(Root::Single(m))) => match lowerer.select(*m, root, true, 1) {
                Ok(select) => Lowered::Read(select, true),
                Err(e) => Lowered::Failed(e),
            },
            (_, Some(Root::Page(m))) => match lowerer.page(*m, root) {
                Ok((select, fields)) => Lowered::Page(select, fields),
                Err(e) => Lowered::Failed(e),
            },
            (_, Some(Root::Export)) => match export_arguments(lowerer, root) {
                Ok((model, name, filter)) => {
                    let fields = lowerer.subfields(root, crate::schema::EXPORT_TYPE);
                    Lowered::Export(model, name, filter, fields)
                }
                Err(e) => Lowered::Failed(e),
            },
            (_, None) => Lowered::Null,
        };
        lowered.push(item);
    }
    if let Some(refusal) = lowerer.refusal() {
        return Err(GatewayError::Limit(refusal));
    }
    let catalogue = &lowerer.served.catalogue;
    let estimate = |sizes: crate::limits::Sizes<'_>| {
        lowered
            .iter()
            .map(|l| match l {
                Lowered::Read(select, single) => {
                    crate::limits::cost(sizes, catalogue, select, *single)
                }
                Lowered::Page(select, _) => crate::limits::cost(sizes, catalogue, select, false),
                Lowered::Export(model, ..) => {
                    crate::limits::export_cost(sizes, &catalogue.model(*model).table)
                }
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
    };
    let mut cost = estimate(&|t| store.table_rows(t));
    // Past the limit over whole tables, a user who sees part of them is estimated on what it
    // sees: the rows of each model it may see are counted (a statement per such model).
    if cost > lowerer.limits.cost && !perms.is_superuser() {
        let selects = lowered.iter().filter_map(|l| match l {
            Lowered::Read(select, _) | Lowered::Page(select, _) => Some(select),
            _ => None,
        });
        let visible = visible_sizes(store, selects, perms).await?;
        cost = estimate(&|t| visible.get(t).copied().or_else(|| store.table_rows(t)));
    }
    if cost > lowerer.limits.cost {
        return Err(GatewayError::Limit(crate::limits::too_costly(cost, lowerer.limits.cost)));
    }
    let mut roots = Vec::with_capacity(lowered.len());
    let mut errors = Vec::new();
    for (root, item) in collected.iter().zip(lowered) {
        let key = root.key.clone();
        let read = match item {
            Lowered::Typename => {
                roots.push(RootAnswer { key, body: RootBody::Typename("Query") });
                continue;
            }
            Lowered::Null => {
                roots.push(RootAnswer { key, body: RootBody::Null });
                continue;
            }
            Lowered::Failed(e) => Err(e),
            Lowered::Page(select, fields) => {
                match read_page(store, catalogue, &select, fields, perms).await {
                    Ok(body) => {
                        roots.push(RootAnswer { key, body });
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
            Lowered::Read(select, true) => {
                let plan = Plan::new(catalogue, &select);
                let read = store.execute(&plan, perms).await;
                read.map(|level| RootBody::Single(Box::new(plan), level))
            }
            Lowered::Read(select, false) => {
                read_list(store, catalogue, &select, window, perms).await
            }
            Lowered::Export(model, name, filter, fields) => {
                let model = catalogue.model(model);
                let rendered =
                    crate::export::render(store, catalogue, perms, model, &name, &filter).await;
                rendered.map(|r| {
                    use ferrobot_domain::export_template::fields::MIME_TYPE;
                    let value = |field: &str| match field {
                        "content" => serde_json::Value::String(r.text.clone()),
                        f if f == MIME_TYPE => serde_json::Value::String(r.mime_type.clone()),
                        "file_name" => serde_json::Value::String(r.file_name.clone()),
                        "__typename" => crate::schema::EXPORT_TYPE.into(),
                        _ => serde_json::Value::Null,
                    };
                    let object = fields.iter().map(|(key, field)| (key.clone(), value(field)));
                    RootBody::Json(serde_json::Value::Object(object.collect()))
                })
            }
        };
        match read {
            Ok(body) => roots.push(RootAnswer { key, body }),
            Err(
                e @ (StoreError::Invalid { .. }
                | StoreError::Filters(_)
                | StoreError::NotFound { .. }),
            ) => {
                errors.push(FieldError::located(e.into(), Stage::Read, &key, root.field(), None));
                roots.push(RootAnswer { key, body: RootBody::Null });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Answer { roots, errors, statements: 0, cost: Some((cost, lowerer.limits.cost)) })
}

/// The arguments of `render_export_template`: the model (a content type with export
/// templates), the template's name and the filter mapping.
#[allow(clippy::type_complexity)]
fn export_arguments(
    lowerer: &Lowerer<'_>,
    root: &crate::ir::Collected<'_>,
) -> Result<
    (ferrobot_domain::ModelId, String, serde_json::Map<String, serde_json::Value>),
    StoreError,
> {
    let text = |name: &str| {
        lowerer.argument(root.field(), name).and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s),
            _ => None,
        })
    };
    let invalid = |argument: &str, message: &str| StoreError::Invalid {
        argument: argument.into(),
        message: message.into(),
    };
    let label = text("content_type").unwrap_or_default();
    let model = lowerer
        .served
        .catalogue
        .by_label(&label)
        .filter(|m| m.features.export_templates)
        .ok_or_else(|| {
        invalid(
            "content_type",
            "Select a valid choice. That choice is not one of the available choices.",
        )
    })?;
    let name = text("name").unwrap_or_default();
    let filter = match lowerer.argument(root.field(), "filter") {
        None => serde_json::Map::new(),
        Some(value) => match value.into_json() {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(invalid("filter", "Expected a mapping of filter arguments.")),
        },
    };
    Ok((model.id, name, filter))
}
