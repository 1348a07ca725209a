//! Writes an answer as JSON straight from the loaded rows, streamed in 64 KiB chunks: no
//! GraphQL value tree is ever built, so memory stays near the size of the rows, whatever the
//! size of the answer. A long root list comes in windows of rows, each read as the writer
//! reaches it (one window ahead), so that its levels are never held whole.

use std::collections::HashMap;

use bytes::Bytes;
use ferrobot_domain::hooks;
use ferrobot_domain::value::{enum_item_name, ip_from_bytes};
use ferrobot_persistence::query::{Level, Out, Plan, Render, Windows};
use ferrobot_persistence::{Cell, StoreResult};
use uuid::Uuid;

use crate::answer::{Answer, RootBody};
use crate::schema::PageField;

/// The response key of a `"key":` prefix.
fn unprefixed(prefix: &str) -> String {
    let quoted = prefix.strip_suffix(':').unwrap_or(prefix);
    serde_json::from_str(quoted).unwrap_or_default()
}

/// A chunk of the body, or the error that cuts it short.
pub type Chunk = Result<Bytes, std::io::Error>;

/// Streams chunks of an answer into a channel, 64 KiB at a time.
struct Sink<'a> {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    closed: bool,
    /// Where in the answer the writer is: response keys (raw, or `"key":` as the plan keeps
    /// them) and list indexes, for the path of an error found while writing.
    path: Vec<Seg<'a>>,
    /// Errors found while writing (nested lists whose filters were refused), as JSON.
    late: Vec<serde_json::Value>,
    /// Whether the buffer is kept whole rather than sent in chunks (an event's payload).
    hold: bool,
}

/// One step of an answer path.
#[derive(Clone, Copy)]
enum Seg<'a> {
    /// A root field's response key.
    Root(&'a str),
    /// A nested field's `"key":` prefix.
    Key(&'a str),
    Index(usize),
}

/// Errors of nested lists written at most; past it their lists are still `null`.
const MAX_LATE_ERRORS: usize = 100;

const CHUNK: usize = 64 * 1024;

impl<'a> Sink<'a> {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.closed || self.hold || self.buf.is_empty() {
            return;
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 4096)));
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            // The client went away: stop producing.
            self.closed = true;
        }
    }

    /// A window of the answer could not be read after the answer began: the body ends with an
    /// error (the client sees the connection cut), never as a well-formed but partial answer.
    fn fail(&mut self, error: ferrobot_persistence::StoreError) {
        tracing::error!(%error, "reading a window of the answer failed; the answer is cut short");
        if !self.closed {
            let _ = self.tx.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
        self.closed = true;
    }

    fn string(&mut self, s: &str) {
        let _ = serde_json::to_writer(&mut self.buf, s);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Writes a pre-escaped `"key":` prefix (see [`json_key`]).
    fn field(&mut self, first: &mut bool, prefix: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        self.buf.extend_from_slice(prefix.as_bytes());
    }

    /// A nested list's filters were refused: it is `null`, with an error at this path.
    fn refused(&mut self, key: &'a str, at: (usize, usize), refused: &[(String, String)]) {
        self.push(b"null");
        if self.late.len() >= MAX_LATE_ERRORS {
            return;
        }
        let mut path: Vec<serde_json::Value> = self
            .path
            .iter()
            .map(|seg| match *seg {
                Seg::Root(key) => key.into(),
                Seg::Key(prefix) => unprefixed(prefix).into(),
                Seg::Index(i) => i.into(),
            })
            .collect();
        path.push(unprefixed(key).into());
        let (message, argument, details) = crate::error::filter_refusal(refused);
        let mut extensions =
            serde_json::json!({ "code": "VALIDATION_FAILED", "argument": argument });
        for (k, v) in details {
            extensions[k] = v;
        }
        let mut error =
            serde_json::json!({ "message": message, "path": path, "extensions": extensions });
        if at.0 > 0 {
            error["locations"] = serde_json::json!([{"line": at.0, "column": at.1}]);
        }
        self.late.push(error);
    }

    fn key(&mut self, first: &mut bool, key: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        self.string(key);
        self.buf.push(b':');
    }
}

/// Writes the whole response body for an answer (blocking; run it on a blocking thread). The
/// windows of a list read in windows are read on `runtime` as the writer reaches them.
pub fn write_response(
    mut answer: Answer,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    runtime: tokio::runtime::Handle,
) {
    let started = std::time::Instant::now();
    let mut sink = Sink {
        buf: Vec::with_capacity(CHUNK + 4096),
        tx,
        closed: false,
        path: Vec::new(),
        late: Vec::new(),
        hold: false,
    };
    // A windowed list's windows are taken out of the answer, so that each is dropped once
    // written.
    let mut windows: Vec<Option<(Level, Option<Box<Windows>>)>> = answer
        .roots
        .iter_mut()
        .map(|root| match &mut root.body {
            RootBody::Windows { first, rest, .. } => Some((std::mem::take(first), rest.take())),
            _ => None,
        })
        .collect();
    sink.push(b"{\"data\":{");
    let mut first = true;
    for (root, rest) in answer.roots.iter().zip(&mut windows) {
        if sink.closed {
            return;
        }
        sink.key(&mut first, &root.key);
        sink.path.push(Seg::Root(&root.key));
        match &root.body {
            RootBody::Typename(name) => sink.string(name),
            RootBody::Objects { plan, chunks, list } => {
                write_objects(&mut sink, plan, chunks, *list)
            }
            RootBody::Json(value) => {
                let _ = serde_json::to_writer(&mut sink.buf, value);
            }
            RootBody::Null => sink.push(b"null"),
            RootBody::Page { label, plan, level, first, total, fields } => {
                write_page(&mut sink, label, plan, level, *first, *total, fields)
            }
            RootBody::List(plan, level) => {
                write_list(&mut sink, plan, level, 0, level.rows.len(), None, None)
            }
            RootBody::Windows { plan, .. } => {
                let (first, rest) = rest.take().unwrap_or_default();
                write_windows(&mut sink, plan, first, rest, &runtime)
            }
            RootBody::Single(plan, level) => {
                if level.rows.is_empty() {
                    sink.push(b"null");
                } else {
                    write_object(&mut sink, plan, level, 0);
                }
            }
        }
        sink.path.pop();
    }
    sink.push(b"}");
    if !answer.errors.is_empty() || !sink.late.is_empty() {
        sink.push(b",\"errors\":[");
        for (i, e) in answer.errors.iter().enumerate() {
            if i > 0 {
                sink.push(b",");
            }
            let text = e.to_json().to_string();
            sink.push(text.as_bytes());
        }
        let late = std::mem::take(&mut sink.late);
        for (i, value) in late.iter().enumerate() {
            if i > 0 || !answer.errors.is_empty() {
                sink.push(b",");
            }
            sink.push(value.to_string().as_bytes());
        }
        sink.push(b"]");
    }
    if let Some((cost, limit)) = answer.cost {
        let text =
            format!(",\"extensions\":{{\"cost\":{{\"estimated\":{cost},\"limit\":{limit}}}}}");
        sink.push(text.as_bytes());
    }
    sink.push(b"}");
    sink.flush();
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "answer written");
}

/// Each row of `level` as the payload of one subscription event, `{"data":{"<key>":{…}}}`,
/// with `errors` when a nested list's filters were refused. Blocking: the rows are in memory.
pub fn event_payloads<'a>(plan: &'a Plan, level: &Level, key: &'a str) -> Vec<String> {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut sink =
        Sink { buf: Vec::new(), tx, closed: false, path: Vec::new(), late: Vec::new(), hold: true };
    let mut out = Vec::with_capacity(level.rows.len());
    for row in 0..level.rows.len() {
        sink.buf = Vec::with_capacity(512);
        sink.buf.extend_from_slice(b"{\"data\":{");
        let mut first = true;
        sink.key(&mut first, key);
        sink.path.push(Seg::Root(key));
        write_object(&mut sink, plan, level, row);
        sink.path.pop();
        sink.buf.push(b'}');
        let late = std::mem::take(&mut sink.late);
        if !late.is_empty() {
            sink.buf.extend_from_slice(b",\"errors\":");
            let _ = serde_json::to_writer(&mut sink.buf, &late);
        }
        sink.buf.push(b'}');
        // JSON written by serde and from our own cells: UTF-8 (checked once here, not at every
        // socket the payload goes to).
        let text = String::from_utf8(std::mem::take(&mut sink.buf))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        out.push(text);
    }
    out
}

/// A cursor page: the rows beyond `first` only say that a next page exists.
fn write_page<'a>(
    sink: &mut Sink<'a>,
    label: &str,
    plan: &'a Plan,
    level: &'a Level,
    first: usize,
    total: Option<u64>,
    fields: &[(String, PageField)],
) {
    let shown = level.rows.len().min(first);
    sink.buf.push(b'{');
    let mut started = true;
    for (key, field) in fields {
        sink.field(&mut started, key);
        match field {
            PageField::TotalCount => sink.push(total.unwrap_or(0).to_string().as_bytes()),
            PageField::HasNextPage => {
                sink.push(if level.rows.len() > first { b"true" } else { b"false" })
            }
            PageField::EndCursor if shown == 0 => sink.push(b"null"),
            PageField::EndCursor => {
                let row = level.own(shown - 1);
                let cells: Vec<&Cell> = plan.cursor.iter().map(|&c| &row[c]).collect();
                sink.string(&crate::cursor::encode(label, &cells));
            }
            PageField::Items => write_list(sink, plan, level, 0, shown, None, None),
            PageField::Typename(name) => sink.string(name),
        }
    }
    sink.buf.push(b'}');
}

/// Objects read back after a write, in the order the write named them.
fn write_objects<'a>(
    sink: &mut Sink<'a>,
    plan: &'a Plan,
    chunks: &'a [(Level, Vec<Uuid>)],
    list: bool,
) {
    if list {
        sink.push(b"[");
    }
    let mut first = true;
    let mut position = 0;
    for (level, ids) in chunks {
        let rows: HashMap<Uuid, usize> = (0..level.rows.len())
            .filter_map(|r| level.rows.row(r)[0].as_uuid().map(|id| (id, r)))
            .collect();
        for id in ids {
            let Some(&row) = rows.get(id) else { continue };
            if !first {
                sink.buf.push(b',');
            }
            first = false;
            sink.path.push(Seg::Index(position));
            write_object(sink, plan, level, row);
            sink.path.pop();
            position += 1;
            if !list {
                return;
            }
        }
    }
    if list {
        sink.push(b"]");
    } else if first {
        sink.push(b"null");
    }
}

/// A root list read in windows: each window's rows in turn, the next window read while one is
/// written (one window ahead, no more, so that at most two are held).
fn write_windows<'a>(
    sink: &mut Sink<'a>,
    plan: &'a Plan,
    first: Level,
    rest: Option<Box<Windows>>,
    runtime: &tokio::runtime::Handle,
) {
    sink.push(b"[");
    let mut position = 0;
    write_rows(sink, plan, &first, &mut position);
    drop(first);
    if let Some(rest) = rest {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        runtime.spawn(read_ahead(*rest, tx));
        while !sink.closed {
            match rx.blocking_recv() {
                Some(Ok(window)) => write_rows(sink, plan, &window, &mut position),
                Some(Err(error)) => return sink.fail(error),
                None => break,
            }
        }
    }
    sink.push(b"]");
}

/// Reads windows one at a time, each once the writer has taken the one before; stops when the
/// writer is gone (the client went away) or a window fails.
async fn read_ahead(mut windows: Windows, tx: tokio::sync::mpsc::Sender<StoreResult<Level>>) {
    loop {
        let Ok(permit) = tx.reserve().await else { return };
        let Some(window) = windows.next().await else { break };
        let failed = window.is_err();
        permit.send(window);
        if failed {
            return;
        }
    }
    tracing::debug!(statements = windows.statements(), "last window read");
}

/// A window's rows as items of the list being written, numbered on from `position`.
fn write_rows<'a>(sink: &mut Sink<'a>, plan: &'a Plan, level: &Level, position: &mut usize) {
    for row in 0..level.rows.len() {
        if *position > 0 {
            sink.buf.push(b',');
        }
        sink.path.push(Seg::Index(*position));
        write_object(sink, plan, level, row);
        sink.path.pop();
        *position += 1;
        if sink.closed {
            return;
        }
    }
}

fn write_list<'a>(
    sink: &mut Sink<'a>,
    plan: &'a Plan,
    level: &Level,
    start: usize,
    end: usize,
    limit: Option<u64>,
    offset: Option<u64>,
) {
    sink.push(b"[");
    let start = (start + offset.unwrap_or(0) as usize).min(end);
    let end = match limit {
        Some(l) => (start + l as usize).min(end),
        None => end,
    };
    for row in start..end {
        if row > start {
            sink.buf.push(b',');
        }
        sink.path.push(Seg::Index(row - start));
        write_object(sink, plan, level, row);
        sink.path.pop();
        if sink.closed {
            return;
        }
    }
    sink.push(b"]");
}

fn write_object<'a>(sink: &mut Sink<'a>, plan: &'a Plan, level: &Level, row: usize) {
    let cells = level.rows.row(row);
    let own = &cells[level.skip..];
    sink.buf.push(b'{');
    let mut first = true;
    // An object's config context, merged once however many aliases ask for it.
    let mut context: Option<String> = None;
    for out in &plan.outs {
        match out {
            Out::Column { key, col, render } => {
                sink.field(&mut first, key);
                write_cell(sink, &own[*col], *render);
            }
            // `address` and `prefix` alike: the stored bytes, a slash, the length.
            Out::Computed { key, cols } => {
                sink.field(&mut first, key);
                match (&own[cols[0]], &own[cols[1]]) {
                    (Cell::Bytes(b), Cell::Int(len)) => match ip_from_bytes(b) {
                        Some(ip) => sink.string(&format!("{ip}/{len}")),
                        None => sink.push(b"null"),
                    },
                    _ => sink.push(b"null"),
                }
            }
            Out::Typename { key, name } => {
                sink.field(&mut first, key);
                sink.string(name);
            }
            Out::CustomFieldData { key, col } => {
                sink.field(&mut first, key);
                write_json(sink, &own[*col], None);
            }
            Out::CustomField { key, col, name } => {
                sink.field(&mut first, key);
                write_json(sink, &own[*col], Some(name));
            }
            Out::Usage { key, usage, cols, limit, select } => {
                sink.field(&mut first, key);
                let prefix = match (&own[cols[0]], &own[cols[1]]) {
                    (Cell::Bytes(b), Cell::Int(len)) => ip_from_bytes(b)
                        .and_then(|ip| ipnet::IpNet::new(ip, u8::try_from(*len).ok()?).ok()),
                    _ => None,
                };
                let ty = match &own[cols[2]] {
                    Cell::Text(t) => t.as_ref(),
                    _ => "network",
                };
                let id = own[0].as_uuid().unwrap_or_default();
                let empty = ferrobot_persistence::query::PrefixUsage::default();
                let under = level.usage.as_ref().unwrap_or(&empty);
                let children = under.children.get(&id).map_or(&[][..], Vec::as_slice);
                let addresses = under.addresses.get(&id).map_or(&[][..], Vec::as_slice);
                match prefix {
                    Some(prefix) if *usage == hooks::Usage::Utilization => {
                        let kind = ferrobot_domain::ipam::PrefixType::from_value(ty)
                            .unwrap_or(ferrobot_domain::ipam::PrefixType::Network);
                        let u = ferrobot_domain::ipam::prefix_utilization(
                            prefix, kind, children, addresses,
                        );
                        write_selected(sink, select, |name| match name {
                            "numerator" => u.numerator.to_string(),
                            "denominator" => u.denominator.to_string(),
                            "percent" => ((u.percent() * 100.0).round() / 100.0).to_string(),
                            "__typename" => "\"UtilizationType\"".into(),
                            _ => "null".into(),
                        });
                    }
                    Some(prefix) => {
                        let text = ferrobot_domain::ipam::usage_json(
                            *usage, prefix, ty, children, addresses, *limit,
                        );
                        sink.push(text.as_bytes());
                    }
                    None => sink.push(b"null"),
                }
            }
            Out::Elevation { key, cols, face, select } => {
                sink.field(&mut first, key);
                let int = |c: &Cell| match c {
                    Cell::Int(n) => u16::try_from(*n).ok(),
                    _ => None,
                };
                let rack = ferrobot_domain::rack::Rack::new(
                    int(&own[cols[0]]).unwrap_or(0),
                    matches!(own[cols[1]], Cell::Bool(true)),
                );
                let id = own[0].as_uuid().unwrap_or_default();
                let (devices, reservations) = match level.lists.as_ref().and_then(|l| l.get(&id)) {
                    Some(related) => ferrobot_domain::rack::contents(related),
                    None => (Vec::new(), Vec::new()),
                };
                let units = ferrobot_domain::rack::elevation(&rack, &devices, &reservations, *face);
                sink.buf.push(b'[');
                for (n, unit) in units.iter().enumerate() {
                    if n > 0 {
                        sink.buf.push(b',');
                    }
                    let uuid = |u: Option<Uuid>| u.map_or("null".into(), |u| format!("\"{u}\""));
                    write_selected(sink, select, |name| match name {
                        "unit" => unit.unit.to_string(),
                        "name" => format!("\"{}\"", unit.name),
                        "face" => format!("\"{}\"", unit.face.as_str()),
                        "device_id" => uuid(unit.device),
                        "reservation_id" => uuid(unit.reservation),
                        "occupied" => unit.occupied.to_string(),
                        "__typename" => "\"RackUnitType\"".into(),
                        _ => "null".into(),
                    });
                }
                sink.buf.push(b']');
            }
            Out::TypeOf { key, child, link, labels } => {
                sink.field(&mut first, key);
                let (child_plan, child_level) = (&plan.children[*child].1, &level.children[*child]);
                let found = own[*link].as_uuid().and_then(|k| child_level.index.get(&k)).and_then(
                    |&(row, _)| {
                        let cells = child_level.own(row);
                        child_plan.outs.iter().zip(labels).find_map(|(out, label)| match out {
                            Out::Column { col, .. } if !matches!(cells[*col], Cell::Null) => {
                                Some(label)
                            }
                            _ => None,
                        })
                    },
                );
                match found {
                    Some(label) => sink.string(label),
                    None => sink.push(b"null"),
                }
            }
            Out::Url { key, prefix } => {
                sink.field(&mut first, key);
                match own[0].as_uuid() {
                    Some(id) => sink.string(&format!("{prefix}{id}/")),
                    None => sink.push(b"null"),
                }
            }
            Out::ConfigContext { key, local } => {
                sink.field(&mut first, key);
                if let Some(text) = &context {
                    sink.push(text.as_bytes());
                    continue;
                }
                let local = match &own[*local] {
                    Cell::Text(t) => serde_json::from_str::<serde_json::Value>(t).ok(),
                    Cell::Json(j) => Some((**j).clone()),
                    _ => None,
                };
                let id = own[0].as_uuid().unwrap_or_default();
                let empty = Vec::new();
                let (contexts, values) = match &level.contexts {
                    Some(inputs) => (inputs.contexts.as_slice(), inputs.values.get(&id)),
                    None => (&[][..], None),
                };
                let values = values.unwrap_or(&empty);
                let merged =
                    ferrobot_domain::config_context::merged(contexts, values, local.as_ref());
                let text = merged.to_string();
                sink.push(text.as_bytes());
                context = Some(text);
            }
            Out::Rendered { key, template, outs } => {
                sink.field(&mut first, key);
                let obj = crate::template_object::build(template.needs(), outs, plan, level, row);
                sink.string(&template.render(obj));
            }
            Out::Issued { key, keys } => {
                sink.field(&mut first, key);
                match own[0].as_uuid().and_then(|id| keys.get(&id)) {
                    Some(secret) => sink.string(secret),
                    None => sink.push(b"null"),
                }
            }
            Out::ContentType { key, col, list, select } => {
                sink.field(&mut first, key);
                let Cell::Text(text) = &own[*col] else {
                    sink.push(b"null");
                    continue;
                };
                if !*list {
                    write_content_type(sink, select, text);
                    continue;
                }
                let labels: Vec<String> = serde_json::from_str(text).unwrap_or_default();
                sink.buf.push(b'[');
                for (n, label) in labels.iter().enumerate() {
                    if n > 0 {
                        sink.buf.push(b',');
                    }
                    write_content_type(sink, select, label);
                }
                sink.buf.push(b']');
            }
            Out::Union { key, children } => {
                sink.field(&mut first, key);
                let found = children.iter().find_map(|&(c, link)| {
                    let level = &level.children[c];
                    let key = own[link].as_uuid()?;
                    let range = level.index.get(&key).copied()?;
                    Some((c, level, range.0))
                });
                match found {
                    Some((c, child_level, row)) => {
                        write_object(sink, &plan.children[c].1, child_level, row)
                    }
                    None => sink.push(b"null"),
                }
            }
            Out::Relation { key, child, list, link } => {
                sink.field(&mut first, key);
                let (_, child_plan) = &plan.children[*child];
                let child_level = &level.children[*child];
                if let Some(refused) = &child_level.refused {
                    sink.refused(key, child_plan.at, refused);
                    continue;
                }
                let link = own[*link].as_uuid();
                sink.path.push(Seg::Key(key));
                let range = link.and_then(|k| child_level.index.get(&k)).copied();
                if *list {
                    let (s, e) = range.unwrap_or((0, 0));
                    write_list(
                        sink,
                        child_plan,
                        child_level,
                        s,
                        e,
                        child_plan.page.limit,
                        child_plan.page.offset,
                    );
                } else {
                    match range {
                        Some((s, _)) => write_object(sink, child_plan, child_level, s),
                        None => sink.push(b"null"),
                    }
                }
                sink.path.pop();
            }
        }
    }
    sink.buf.push(b'}');
}

/// A content type label (`dcim.device`) as a `ContentTypeType` object.
fn write_content_type(sink: &mut Sink, select: &[(String, String)], label: &str) {
    let (app_label, model) = label.split_once('.').unwrap_or(("", label));
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    write_selected(sink, select, |name| match name {
        "id" => format!("\"{}\"", ferrobot_domain::catalogue::content_type_id(label)),
        "app_label" => quoted(app_label),
        "model" => quoted(model),
        "__typename" => "\"ContentTypeType\"".into(),
        _ => "null".into(),
    });
}

/// An object of computed values (a utilisation, a rack unit): the selected fields, each as the
/// JSON text `value` gives for the field's name.
fn write_selected(sink: &mut Sink, select: &[(String, String)], value: impl Fn(&str) -> String) {
    sink.buf.push(b'{');
    let mut first = true;
    for (key, name) in select {
        sink.field(&mut first, key);
        sink.push(value(name).as_bytes());
    }
    sink.buf.push(b'}');
}

fn write_cell(sink: &mut Sink, cell: &Cell, render: Render) {
    match cell {
        // No driver: no library names one (`{}`).
        Cell::Null if matches!(render, Render::DriverMappings) => sink.push(b"{}"),
        Cell::Null => sink.push(b"null"),
        Cell::Bool(b) => sink.push(if *b { b"true" } else { b"false" }),
        // An integer choice as graphene's enum item (`A_19`).
        Cell::Int(i) if matches!(render, Render::Enum) => {
            sink.string(&enum_item_name(&i.to_string()))
        }
        Cell::Int(i) => {
            use std::io::Write;
            let _ = write!(sink.buf, "{i}");
        }
        Cell::Text(t) => match render {
            Render::Enum | Render::EmptyIsNull if t.is_empty() => sink.push(b"null"),
            Render::Enum => sink.string(&enum_item_name(t)),
            Render::Json => sink.push(t.as_bytes()),
            // Only JSON number syntax is written bare: any other text could break the answer.
            Render::Number => match serde_json::from_str::<f64>(t) {
                Ok(n) if n.is_finite() => sink.push(t.as_bytes()),
                _ => sink.push(b"null"),
            },
            Render::DriverMappings => {
                let mappings = ferrobot_domain::platform::network_driver_mappings(t);
                let _ = serde_json::to_writer(&mut sink.buf, &mappings);
            }
            Render::Decimal | Render::Plain | Render::Ip | Render::EmptyIsNull => sink.string(t),
        },
        Cell::Uuid(u) => {
            let mut buf = [0u8; 40];
            let text = u.hyphenated().encode_lower(&mut buf);
            sink.buf.push(b'"');
            sink.buf.extend_from_slice(text.as_bytes());
            sink.buf.push(b'"');
        }
        Cell::Bytes(b) => match ip_from_bytes(b) {
            Some(ip) => sink.string(&ip.to_string()),
            None => sink.push(b"null"),
        },
        Cell::Json(v) => {
            let _ = serde_json::to_writer(&mut sink.buf, &**v);
        }
        Cell::DateTime(d) => sink.string(&d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)),
        Cell::Date(d) => sink.string(&d.to_string()),
    }
}

fn write_json(sink: &mut Sink, cell: &Cell, key: Option<&str>) {
    let value = match cell {
        Cell::Json(v) => &**v,
        Cell::Text(t) => {
            let parsed: serde_json::Value =
                serde_json::from_str(t).unwrap_or(serde_json::Value::Null);
            let v = match key {
                Some(k) => parsed.get(k).cloned().unwrap_or(serde_json::Value::Null),
                None => parsed,
            };
            let _ = serde_json::to_writer(&mut sink.buf, &v);
            return;
        }
        _ => {
            sink.push(b"null");
            return;
        }
    };
    let v = match key {
        Some(k) => value.get(k).unwrap_or(&serde_json::Value::Null),
        None => value,
    };
    let _ = serde_json::to_writer(&mut sink.buf, v);
}
