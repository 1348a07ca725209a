//! Mutations: every root field of a mutation document runs in one write transaction, then the
//! objects it wrote are read back through the plan, as a query would read them.
//!
//! Arguments become the import format's objects (field name → value, references as mappings),
//! so GraphQL writes and `ferrobot import` share one write path ([`Writer`]). On any error the
//! whole document is rolled back: every root field is `null` and one error names the field,
//! the operation's index in a list, and each failing field of the object.

use async_graphql::parser::types::SelectionSet;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use ferrobot_domain::catalogue::{Lookup, ModelId, Secret};
use ferrobot_domain::request::{ArgTarget, ArgValue, FilterArg};
use ferrobot_domain::request::{Select, SelectedKind};
use ferrobot_domain::{DomainError, Model, ValidationError};
use ferrobot_persistence::query::Plan;
use ferrobot_persistence::write::{Outcome, WriteOptions, Writer};
use ferrobot_persistence::StoreError;
use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::answer::{Answer, RequestState, RootAnswer, RootBody};
use crate::error::{FieldError, GatewayError, Stage};
use crate::ir::{Collected, FieldRef, Lowerer};
use crate::limits::level_cost;
use crate::mutation_schema::{MutationField, Operation};

/// What one root field wrote, to be rendered once the transaction has committed.
enum Written {
    Objects {
        model: ModelId,
        ids: Vec<Uuid>,
        list: bool,
    },
    Deleted(Vec<Outcome>),
    Batch(Vec<(usize, String, Outcome)>),
    /// A sync to start once the transaction has committed: its repository.
    Sync(Uuid),
    Typename,
}

/// A failure, located: the root field's response key and the operation's index in its list.
struct Failure<'d> {
    key: String,
    field: &'d FieldRef,
    index: Option<usize>,
    error: StoreError,
}

pub(crate) async fn mutate<'d>(
    planner: &Lowerer<'d>,
    state: &RequestState,
    selection: &'d SelectionSet,
) -> Result<Answer, GatewayError> {
    let fields = planner.collect(selection, "Mutation");
    // The selections of the objects written are lowered first: a document past the depth or
    // alias limit writes nothing.
    let mut selects = Vec::with_capacity(fields.len());
    for collected in &fields {
        let target = planner.served.mutations.get(collected.name());
        let select = match target {
            Some(t) if t.operation != Operation::Delete => {
                // A sync answers its job's result.
                let answered = match t.operation {
                    Operation::Sync => job_result_model(planner)?,
                    _ => t.model,
                };
                match planner.select(answered, collected, false, 1) {
                    Ok(select) => Some(Ok(select)),
                    Err(e) => Some(Err(e)),
                }
            }
            _ => None,
        };
        selects.push(select);
    }
    if let Some(refusal) = planner.refusal() {
        return Err(GatewayError::Limit(refusal));
    }
    if !state.may_write {
        let first = fields.first().ok_or(StoreError::Internal("no field".into()))?;
        let error = FieldError::located(
            GatewayError::Forbidden(
                "This token does not allow writes (write_enabled is false).".into(),
            ),
            Stage::Write,
            &first.key,
            first.field(),
            None,
        );
        return Ok(failed(&fields, error));
    }
    let mut options = WriteOptions::new(state.actor.clone(), "web", "graphql");
    options.request_id = state.request_id;
    options.change_log = state.change_log;
    options.permissions = state.permissions.clone();
    let mut writer = state.store.writer(options).await?;
    // Global operation number → (root field, index in its list), for errors found later.
    let mut places: Vec<(usize, Option<usize>)> = Vec::new();
    let mut written = Vec::new();
    let mut failure = None;
    let mut issued = Issued::new();
    for (root, collected) in fields.iter().enumerate() {
        let field = collected.field();
        match run_field(planner, &mut writer, field, root, &mut places, &mut issued).await {
            Ok(w) => written.push(w),
            Err(error) => {
                let place =
                    error.operation().or(Some(writer.operation())).and_then(|o| places.get(o));
                let (root, index) = place.copied().unwrap_or((root, None));
                let at = fields.get(root).unwrap_or(collected);
                failure = Some(Failure { key: at.key.clone(), field: at.field(), index, error });
                break;
            }
        }
    }
    if failure.is_none() {
        if let Err(error) = writer.settle().await {
            let place = places.get(error.operation().unwrap_or(writer.operation())).copied();
            let (root, index) = place.unwrap_or((0, None));
            match fields.get(root).or(fields.first()) {
                Some(at) => {
                    failure = Some(Failure { key: at.key.clone(), field: at.field(), index, error })
                }
                None => return Err(error.into()),
            }
        }
    }
    if let Some(failure) = failure {
        writer.rollback().await?;
        match &failure.error {
            StoreError::Internal(message) => {
                tracing::error!(%message, "mutation failed");
                return Err(failure.error.into());
            }
            StoreError::Busy(_) => return Err(failure.error.into()),
            _ => {}
        }
        let error = FieldError::located(
            failure.error.into(),
            Stage::Write,
            &failure.key,
            failure.field,
            failure.index,
        );
        return Ok(failed(&fields, error));
    }
    let committed = writer.commit().await?;
    let issued = Arc::new(issued);
    tracing::debug!(request_id = %committed.request_id, changes = committed.changes, "mutation committed");
    let mut roots = Vec::new();
    let mut errors = Vec::new();
    let mut cost = 0u64;
    for ((collected, w), lowered) in fields.iter().zip(written).zip(selects) {
        let (key, field) = (&collected.key, collected);
        let w = match w {
            Written::Sync(repository) => {
                let job =
                    crate::jobs::start_sync(&state.store, &state.actor, &state.git, repository)
                        .await?;
                Written::Objects { model: job_result_model(planner)?, ids: vec![job], list: false }
            }
            other => other,
        };
        let body = match w {
            Written::Sync(_) => RootBody::Null,
            Written::Typename => RootBody::Typename("Mutation"),
            Written::Objects { model, ids, list } => {
                let read = match lowered {
                    Some(Ok(select)) => {
                        let catalogue = &planner.served.catalogue;
                        let rows = ids.len() as u64;
                        let estimate =
                            level_cost(&|t| state.store.table_rows(t), catalogue, &select, rows);
                        cost = cost.saturating_add(estimate);
                        let mut select = select;
                        with_issued(&mut select, &issued);
                        read_back(planner, state, model, select, &ids, list).await
                    }
                    Some(Err(e)) => Err(e),
                    None => {
                        Err(StoreError::Internal("a written object without a selection".into()))
                    }
                };
                match read {
                    Ok(body) => body,
                    Err(e @ (StoreError::Invalid { .. } | StoreError::Filters(_))) => {
                        errors.push(FieldError::located(
                            e.into(),
                            Stage::Read,
                            key,
                            collected.field(),
                            None,
                        ));
                        RootBody::Null
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Written::Deleted(outcomes) => {
                let items: Vec<Json> = outcomes
                    .iter()
                    .filter(|o| o.action == Some(ferrobot_persistence::write::Action::Delete))
                    .map(|o| {
                        let label = &planner.served.catalogue.model(o.model).label;
                        select(
                            planner,
                            field,
                            "DeletedObject",
                            &json!({"id": o.id.to_string(), "object_type": label}),
                        )
                    })
                    .collect();
                RootBody::Json(Json::Array(items))
            }
            Written::Batch(results) => {
                let items: Vec<Json> = results
                    .iter()
                    .map(|(index, operation, o)| {
                        let label = &planner.served.catalogue.model(o.model).label;
                        let value = json!({
                            "index": index,
                            "operation": operation,
                            "action": o.action.map(|a| a.as_str()),
                            "object_type": label,
                            "id": o.id.to_string(),
                        });
                        select(planner, field, "BatchResult", &value)
                    })
                    .collect();
                RootBody::Json(Json::Array(items))
            }
        };
        roots.push(RootAnswer { key: key.clone(), body });
    }
    Ok(Answer { roots, errors, statements: 0, cost: Some((cost, planner.limits.cost)) })
}

/// An argument as the write path's JSON (enums as their item names, ids as strings).
fn argument(planner: &Lowerer<'_>, field: &FieldRef, name: &str) -> Json {
    field
        .node
        .get_argument(name)
        .and_then(|v| planner.constant(&v.node))
        .and_then(|v| v.into_json().ok())
        .unwrap_or(Json::Null)
}

/// An argument's object, borrowed (a bulk list's items are not copied); anything else is empty.
fn object(value: &Json) -> &Map<String, Json> {
    static EMPTY: std::sync::OnceLock<Map<String, Json>> = std::sync::OnceLock::new();
    value.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// Runs one root field's operations.
async fn run_field(
    planner: &Lowerer<'_>,
    writer: &mut Writer<'_>,
    field: &FieldRef,
    root: usize,
    places: &mut Vec<(usize, Option<usize>)>,
    issued: &mut Issued,
) -> Result<Written, StoreError> {
    let name = field.node.name.node.as_str();
    if name == "__typename" {
        return Ok(Written::Typename);
    }
    if name == "batch" {
        let operations = argument(planner, field, "operations");
        let mut results = Vec::new();
        for (index, op) in operations.as_array().into_iter().flatten().enumerate() {
            let Some((op_name, body)) = op.as_object().and_then(|m| m.iter().next()) else {
                continue;
            };
            let Some(target) = planner.served.mutations.get(op_name).copied() else { continue };
            writer.begin_operation(places.len());
            places.push((root, Some(index)));
            for outcome in run_one(planner, writer, target, body, issued).await? {
                results.push((index, op_name.clone(), outcome));
            }
        }
        return Ok(Written::Batch(results));
    }
    let Some(target) = planner.served.mutations.get(name).copied() else {
        return Err(StoreError::Internal(format!("no mutation {name}")));
    };
    // One object or a list: the list's items are operations of their own.
    let items: Vec<Json> = match (target.operation, target.bulk) {
        (Operation::Create | Operation::Upsert, false) => vec![argument(planner, field, "input")],
        (Operation::Create | Operation::Upsert, true) => list(argument(planner, field, "inputs")),
        (Operation::Update, false) => {
            vec![
                json!({"ref": argument(planner, field, "ref"), "input": argument(planner, field, "input")}),
            ]
        }
        (Operation::Update, true) => list(argument(planner, field, "updates")),
        (Operation::Delete, false) => vec![argument(planner, field, "ref")],
        (Operation::Delete, true) => list(argument(planner, field, "refs")),
        (Operation::Sync, _) => {
            // The repository must be the user's to change; nothing of it is written here.
            writer.begin_operation(places.len());
            places.push((root, None));
            let model = planner.served.catalogue.model(target.model);
            let repository = reference(&argument(planner, field, "ref"));
            let outcome = writer.update(model, &repository, &Map::new()).await?;
            return Ok(Written::Sync(outcome.id));
        }
    };
    let mut outcomes = Vec::new();
    for (index, item) in items.iter().enumerate() {
        writer.begin_operation(places.len());
        places.push((root, target.bulk.then_some(index)));
        outcomes.extend(run_one(planner, writer, target, item, issued).await?);
    }
    Ok(match target.operation {
        Operation::Delete => Written::Deleted(outcomes),
        _ => Written::Objects {
            model: target.model,
            ids: outcomes.iter().map(|o| o.id).collect(),
            list: target.bulk,
        },
    })
}

fn list(value: Json) -> Vec<Json> {
    match value {
        Json::Array(items) => items,
        _ => Vec::new(),
    }
}

/// Runs one operation on one object.
async fn run_one(
    planner: &Lowerer<'_>,
    writer: &mut Writer<'_>,
    target: MutationField,
    body: &Json,
    issued: &mut Issued,
) -> Result<Vec<Outcome>, StoreError> {
    let catalogue = planner.served.catalogue.clone();
    let model = catalogue.model(target.model);
    Ok(match target.operation {
        Operation::Create => {
            let input = saved_query_input(model, secrets(model, object(body), true, issued)?)?;
            let id = writer.create(model, &input).await?;
            vec![Outcome {
                model: model.id,
                id,
                action: Some(ferrobot_persistence::write::Action::Create),
            }]
        }
        Operation::Upsert => {
            let input = saved_query_input(model, secrets(model, object(body), false, issued)?)?;
            vec![writer.upsert(model, &input).await?]
        }
        Operation::Update => {
            let reference = reference(body.get("ref").unwrap_or(&Json::Null));
            let input =
                secrets(model, object(body.get("input").unwrap_or(&Json::Null)), false, issued)?;
            let input = saved_query_input(model, input)?;
            vec![writer.update(model, &reference, &input).await?]
        }
        Operation::Delete => writer.delete(model, &reference(body)).await?,
        Operation::Sync => Vec::new(),
    })
}

/// The job result model, which a sync answers.
fn job_result_model(planner: &Lowerer<'_>) -> Result<ModelId, GatewayError> {
    planner
        .served
        .catalogue
        .by_label(ferrobot_domain::job::RESULT)
        .map(|m| m.id)
        .ok_or_else(|| StoreError::Internal("no job result model".into()).into())
}

/// The secrets a write issued, by object id (a new token's key), for its answer only.
type Issued = HashMap<Uuid, String>;

/// An input with its secrets as they are stored: a password as its hash; on a create, a new
/// key for a token-key field (stored as its digest, the key kept in `issued` for the answer).
fn secrets<'i>(
    model: &Model,
    input: &'i Map<String, Json>,
    create: bool,
    issued: &mut Issued,
) -> Result<Cow<'i, Map<String, Json>>, StoreError> {
    // Most models hold no secret: their inputs go on as they are.
    if model.fields.iter().all(|f| f.secret.is_none()) {
        return Ok(Cow::Borrowed(input));
    }
    let mut input = input.clone();
    for field in &model.fields {
        match field.secret {
            Some(Secret::Password) => {
                if let Some(Json::String(clear)) = input.get(&field.name) {
                    if clear.is_empty() || clear.len() > MAX_PASSWORD {
                        let message =
                            format!("Enter a password of 1 to {MAX_PASSWORD} characters.");
                        let error = ValidationError::new(&field.name, message);
                        return Err(StoreError::Domain(DomainError::Validation(vec![error])));
                    }
                    let hash = crate::auth::hash_password(clear)
                        .map_err(|e| StoreError::Internal(e.to_string()))?;
                    input.insert(field.name.clone(), Json::String(hash));
                }
            }
            Some(Secret::TokenKey) if create => {
                let id = match input.get("id").and_then(Json::as_str).map(Uuid::parse_str) {
                    Some(Ok(id)) => id,
                    _ => Uuid::now_v7(),
                };
                let key = crate::auth::new_token_key();
                input.insert("id".into(), Json::String(id.to_string()));
                input.insert(field.name.clone(), Json::String(crate::auth::token_digest(&key)));
                issued.insert(id, key);
            }
            _ => {}
        }
    }
    Ok(Cow::Owned(input))
}

/// A saved query's input as Nautobot saves it (`GraphQLQuery.clean` and `save`): its document
/// must parse, and its `variables` are those the document defines, each with its default when
/// that is a string or an integer, else `""`.
fn saved_query_input<'i>(
    model: &Model,
    input: Cow<'i, Map<String, Json>>,
) -> Result<Cow<'i, Map<String, Json>>, StoreError> {
    use ferrobot_domain::saved_query::{QUERY, SAVED_QUERY, VARIABLES};
    if model.label != SAVED_QUERY {
        return Ok(input);
    }
    let Some(Json::String(text)) = input.get(QUERY) else { return Ok(input) };
    let document = match async_graphql::parser::parse_query(text) {
        Ok(document) => document,
        Err(error) => {
            let message = match crate::syntax::first_error(text) {
                Some(e) => format!("{} (line {}, column {})", e.message, e.line, e.column),
                None => format!("Syntax Error: {error}"),
            };
            let error = ValidationError::new(QUERY, message);
            return Err(StoreError::Domain(DomainError::Validation(vec![error])));
        }
    };
    let mut variables = Map::new();
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            let default = match definition.node.default_value.as_ref().map(|v| &v.node) {
                Some(async_graphql::Value::String(s)) => Json::String(s.clone()),
                Some(async_graphql::Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    Json::String(n.to_string())
                }
                _ => Json::String(String::new()),
            };
            variables.insert(definition.node.name.node.to_string(), default);
        }
    }
    let mut input = input.into_owned();
    input.insert(VARIABLES.into(), Json::Object(variables));
    Ok(Cow::Owned(input))
}

/// The longest password hashed: argon2 takes any length, and its time grows with it.
const MAX_PASSWORD: usize = 1024;

/// The selection as it answers the secrets this write issued.
fn with_issued(select: &mut Select, keys: &Arc<Issued>) {
    for field in &mut select.fields {
        match &mut field.kind {
            SelectedKind::Issued(slot) => *slot = keys.clone(),
            SelectedKind::Relation { child, .. }
            | SelectedKind::TypeOf { child, .. }
            | SelectedKind::Association { child, .. } => with_issued(child, keys),
            SelectedKind::Union { members, .. } => {
                members.iter_mut().for_each(|m| with_issued(m, keys))
            }
            _ => {}
        }
    }
}

/// `{id: X}` names an object by id; any other mapping by its fields.
fn reference(value: &Json) -> Json {
    match value.get("id") {
        Some(Json::String(id)) => Json::String(id.clone()),
        _ => {
            let mut map = object(value).clone();
            map.retain(|_, v| !v.is_null());
            Json::Object(map)
        }
    }
}

/// Reads the written objects back with the field's selection, in chunks of at most 1,000 ids.
async fn read_back(
    planner: &Lowerer<'_>,
    state: &RequestState,
    model: ModelId,
    mut select: Select,
    ids: &[Uuid],
    list: bool,
) -> Result<RootBody, StoreError> {
    // A selection of ids alone (the usual answer to a bulk create) needs no read.
    let id_alone = select.fields.iter().all(|f| match &f.kind {
        SelectedKind::Typename(_) => true,
        SelectedKind::Column(index) => {
            planner.served.catalogue.model(model).fields[*index].primary_key
        }
        _ => false,
    });
    if id_alone {
        let mut items = ids.iter().map(|id| {
            let fields = select.fields.iter().map(|f| {
                let value = match &f.kind {
                    SelectedKind::Typename(name) => Json::String(name.clone()),
                    _ => Json::String(id.to_string()),
                };
                (f.key.clone(), value)
            });
            Json::Object(fields.collect())
        });
        let answer =
            if list { Json::Array(items.collect()) } else { items.next().unwrap_or(Json::Null) };
        return Ok(RootBody::Json(answer));
    }
    let Some(filter) = planner.served.catalogue.model(model).id_filter() else {
        return Err(StoreError::Internal("a writable model without a primary key".into()));
    };
    let mut chunks = Vec::new();
    let mut plan = None;
    for chunk in ids.chunks(1000) {
        let mut unique = chunk.to_vec();
        unique.sort_unstable();
        unique.dedup();
        select.filters = vec![FilterArg {
            argument: "id".into(),
            target: ArgTarget::Filter(filter.clone()),
            lookup: Lookup::Exact,
            values: unique.iter().map(|u| ArgValue::Str(u.to_string())).collect(),
        }];
        let chunk_plan = Plan::new(&planner.served.catalogue, &select);
        let level = state.store.execute(&chunk_plan, &state.permissions).await?;
        chunks.push((level, chunk.to_vec()));
        plan = Some(chunk_plan);
    }
    let plan = plan.unwrap_or_else(|| Plan::new(&planner.served.catalogue, &select));
    Ok(RootBody::Objects { plan: Box::new(plan), chunks, list })
}

/// The selected keys of an in-memory object (`DeletedObject`, `BatchResult`).
fn select(planner: &Lowerer<'_>, collected: &Collected<'_>, type_name: &str, value: &Json) -> Json {
    let mut out = Map::new();
    for sub in planner.collect_merged(collected, type_name) {
        let name = sub.name();
        let v = if name == "__typename" {
            Json::String(type_name.to_owned())
        } else {
            value.get(name).cloned().unwrap_or(Json::Null)
        };
        out.insert(sub.key, v);
    }
    Json::Object(out)
}

/// The answer of a mutation that wrote nothing: every root field null, one error.
fn failed(fields: &[Collected<'_>], error: FieldError) -> Answer {
    let roots =
        fields.iter().map(|c| RootAnswer { key: c.key.clone(), body: RootBody::Null }).collect();
    Answer { roots, errors: vec![error], statements: 0, cost: None }
}
