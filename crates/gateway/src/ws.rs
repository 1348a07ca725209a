//! GraphQL over WebSocket at the GraphQL endpoint, in both protocols clients speak:
//! `graphql-transport-ws` (the graphql-ws library's, urql's and gql's) and the older
//! `graphql-ws` (subscriptions-transport-ws, Apollo's).
//!
//! A connection authenticates as an HTTP request does: `Authorization` (`Token <key>` or
//! `Bearer <JWT>`) in `connection_init`'s payload (also as `headers.Authorization`, or `token`:
//! a bare key), or on the upgrade request. Every operation runs as a request of that user:
//! queries and mutations through the HTTP path (one `next`, then `complete`), subscriptions
//! through the change feed ([`crate::feed`]). The credential is checked again every minute; a
//! refused one closes the connection (4403); a database that cannot tell (busy) keeps it and is
//! asked again at the next keep-alive.
//!
//! Frames are written to the socket by the task that has them (the connection's, or an
//! operation's), one at a time; a client that does not take a frame for [`SLOW_WRITE`] is
//! disconnected. Its subscriptions hold no more than their buffers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::feed::{CohortKey, Follow};
use crate::AppState;
use ferrobot_domain::permission::Permissions;

/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings (`ping`, or `ka` in the older protocol).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the connection's credential is checked again.
const REAUTHENTICATE: Duration = Duration::from_secs(60);
/// A frame the client has not taken in this long closes the connection.
pub(crate) const SLOW_WRITE: Duration = Duration::from_secs(30);
/// Operations one connection may run at once.
const MAX_OPERATIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    Transport,
    /// `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    fn next(self) -> &'static str {
        match self {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        }
    }
}

/// `GET` at the GraphQL endpoint: a WebSocket upgrade, or the GraphiQL page.
pub(crate) async fn get(
    State(state): State<AppState>,
    client: Option<axum::Extension<crate::auth::ClientAddress>>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade = parts.headers.get(axum::http::header::UPGRADE).and_then(|v| v.to_str().ok());
    if !upgrade.is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return crate::graphiql::page().await;
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let requested: Vec<String> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .map(|p| p.trim().to_owned())
        .collect();
    let protocol = if requested.iter().any(|p| p == "graphql-transport-ws") {
        Protocol::Transport
    } else if requested.iter().any(|p| p == "graphql-ws") {
        Protocol::Legacy
    } else if requested.is_empty() {
        Protocol::Transport
    } else {
        let text = "Unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws.";
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [{ "message": text }] })))
            .into_response();
    };
    let client = client.and_then(|c| c.0 .0);
    let headers = parts.headers;
    let limit = state.config.body_limit;
    // Small buffers to start with (tungstenite's are 128 KiB each): an idle subscriber holds
    // little; a larger message grows them as it arrives.
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(limit)
        .on_upgrade(move |socket| connection(state, socket, protocol, headers, client))
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

/// One connection: the writer task, and the loop that reads the client's messages.
async fn connection(
    state: AppState,
    socket: WebSocket,
    protocol: Protocol,
    upgrade_headers: HeaderMap,
    client: Option<std::net::IpAddr>,
) {
    let (sink, mut stream) = socket.split();
    let out = Out { sink: Arc::new(tokio::sync::Mutex::new(Some(sink))), gone: Default::default() };
    let mut conn = Conn {
        state,
        protocol,
        out: out.clone(),
        authorization: upgrade_headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client,
        acked: false,
        operations: HashMap::new(),
        permissions: tokio::sync::watch::channel(None).0,
    };
    // Without a feed nothing announces account changes: the receiver's sender lives here.
    let (_no_feed, idle) = tokio::sync::watch::channel(0);
    let mut accounts = match &conn.state.feed {
        Some(feed) => feed.accounts(),
        None => idle,
    };
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let mut checked = tokio::time::Instant::now();
    // Set when the permissions could not be read again after a change: tried at every keep-alive.
    let mut stale = false;
    let mut stopping = conn.state.stopping();
    loop {
        tokio::select! {
            _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
                conn.close(1001, "The server is stopping: resume with your last sequence.").await;
                break;
            }
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Binary(_) => {
                        conn.close(4400, "Binary messages are not supported.").await;
                        break;
                    }
                };
                if !conn.handle(&text).await {
                    break;
                }
            }
            changed = accounts.changed() => {
                if changed.is_err() {
                    break;
                }
                if conn.acked {
                    match conn.refresh_permissions().await {
                        Ok(()) => stale = false,
                        Err(Check::Refused(reason)) => {
                            conn.close(4403, &reason).await;
                            break;
                        }
                        // The database did not answer: the connection stays, and its
                        // permissions are read again at the next keep-alive.
                        Err(Check::Unavailable(error)) => {
                            tracing::warn!(%error, "WebSocket permissions not read again yet");
                            stale = true;
                        }
                    }
                }
            }
            _ = out.gone.notified() => break,
            _ = &mut init_deadline, if !conn.acked => {
                conn.close(4408, "Connection initialisation timeout").await;
                break;
            }
            _ = keep_alive.tick() => {
                let ping = match protocol {
                    Protocol::Transport => json!({ "type": "ping" }),
                    Protocol::Legacy => json!({ "type": "ka" }),
                };
                if conn.acked {
                    conn.send(&ping).await;
                }
                if conn.acked && (stale || checked.elapsed() >= REAUTHENTICATE) {
                    let check = if stale {
                        conn.refresh_permissions().await
                    } else {
                        conn.authenticate().await.map(|_| ())
                    };
                    match check {
                        Ok(()) => {
                            checked = tokio::time::Instant::now();
                            stale = false;
                        }
                        Err(Check::Refused(reason)) => {
                            conn.close(4403, &reason).await;
                            break;
                        }
                        // Tried again at the next keep-alive; a busy database is no refusal.
                        Err(Check::Unavailable(error)) => {
                            tracing::warn!(%error, "WebSocket credential not checked again yet");
                        }
                    }
                }
                conn.operations.retain(|_, task| !task.is_finished());
            }
        }
    }
    for (_, task) in conn.operations.drain() {
        task.abort();
    }
    let open = out.sink.lock().await.take();
    if let Some(mut sink) = open {
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    }
}

/// The socket's sending half, shared by the connection and its operations.
#[derive(Clone)]
struct Out {
    sink: Arc<tokio::sync::Mutex<Option<futures_util::stream::SplitSink<WebSocket, Message>>>>,
    /// Told when the client stopped taking frames: the connection ends.
    gone: Arc<tokio::sync::Notify>,
}

impl Out {
    /// Writes a message; `false` when the connection is gone, or the client took nothing for
    /// [`SLOW_WRITE`] (then the connection ends).
    async fn send(&self, message: Message) -> bool {
        let mut sink = self.sink.lock().await;
        let Some(open) = sink.as_mut() else { return false };
        let closing = matches!(message, Message::Close(_));
        match tokio::time::timeout(SLOW_WRITE, open.send(message)).await {
            Ok(Ok(())) if !closing => return true,
            Ok(Ok(())) => {}
            Ok(Err(_)) => {}
            Err(_) => tracing::info!("a WebSocket client stopped reading: disconnected"),
        }
        *sink = None;
        self.gone.notify_one();
        false
    }
}

/// Why a credential check did not give a user.
enum Check {
    /// The credential does not hold (the words for the client).
    Refused(String),
    /// The database did not answer (busy, or gone for a moment): no verdict.
    Unavailable(String),
}

struct Conn {
    state: AppState,
    protocol: Protocol,
    out: Out,
    /// The credential, as an `Authorization` header value.
    authorization: Option<String>,
    client: Option<std::net::IpAddr>,
    acked: bool,
    operations: HashMap<String, tokio::task::JoinHandle<()>>,
    /// The user's permissions as last read again (after a change to accounts or permissions);
    /// subscriptions follow with them from then on.
    permissions: tokio::sync::watch::Sender<Option<Arc<Permissions>>>,
}

impl Conn {
    /// Reads the user's permissions again and hands them to the subscriptions; the refusal's
    /// words when the credential no longer holds.
    async fn refresh_permissions(&self) -> Result<(), Check> {
        let user = self.authenticate().await?;
        match self.state.store.permissions(&user).await {
            Ok(permissions) => {
                self.permissions.send_replace(Some(permissions));
                Ok(())
            }
            Err(error) => Err(Check::Unavailable(error.to_string())),
        }
    }

    async fn send(&self, message: &Value) {
        self.out.send(Message::Text(Utf8Bytes::from(message.to_string()))).await;
    }

    async fn close(&self, code: u16, reason: &str) {
        let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
        self.out.send(Message::Close(Some(frame))).await;
    }

    /// Checks the connection's credential as a request's: the user, the refusal's words, or
    /// the database's error when it could not tell.
    async fn authenticate(&self) -> Result<ferrobot_persistence::auth::User, Check> {
        let header = self.authorization.as_deref();
        let secret = &self.state.config.jwt_secret;
        match crate::auth::authenticate(&self.state.store, secret, header, self.client).await {
            Ok(Ok(user)) => Ok(user),
            Ok(Err(refusal)) => Err(Check::Refused(refusal.detail().to_owned())),
            Err(error) => Err(Check::Unavailable(error.to_string())),
        }
    }

    /// Handles one message; `false` ends the connection.
    async fn handle(&mut self, text: &str) -> bool {
        let Ok(message) = serde_json::from_str::<Incoming>(text) else {
            self.close(4400, "Invalid message received").await;
            return false;
        };
        match (self.protocol, message.kind.as_str()) {
            (_, "connection_init") => {
                if self.acked {
                    self.close(4429, "Too many initialisation requests").await;
                    return false;
                }
                if let Some(credential) = message.payload.as_ref().and_then(credential_of) {
                    self.authorization = Some(credential);
                }
                match self.authenticate().await {
                    Ok(_) => {
                        self.acked = true;
                        self.send(&json!({ "type": "connection_ack" })).await;
                        if self.protocol == Protocol::Legacy {
                            self.send(&json!({ "type": "ka" })).await;
                        }
                        true
                    }
                    Err(check) => {
                        // A refusal is 4403; a database that did not answer, 4500 (the client
                        // may connect again).
                        let (code, reason) = match check {
                            Check::Refused(reason) => (4403, reason),
                            Check::Unavailable(error) => (4500, error),
                        };
                        if self.protocol == Protocol::Legacy {
                            let error = json!({ "type": "connection_error", "payload": { "message": reason } });
                            self.send(&error).await;
                        }
                        self.close(code, &reason).await;
                        false
                    }
                }
            }
            (Protocol::Transport, "ping") => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = message.payload {
                    pong["payload"] = payload;
                }
                self.send(&pong).await;
                true
            }
            (Protocol::Transport, "pong") => true,
            (Protocol::Transport, "subscribe") | (Protocol::Legacy, "start") => {
                if !self.acked {
                    self.close(4401, "Unauthorized").await;
                    return false;
                }
                let Some(id) = message.id.filter(|id| !id.is_empty() && id.len() <= 256) else {
                    self.close(4400, "An operation needs an id.").await;
                    return false;
                };
                if self.operations.get(&id).is_some_and(|task| !task.is_finished()) {
                    self.close(4409, &format!("Subscriber for {id} already exists")).await;
                    return false;
                }
                self.operations.retain(|_, task| !task.is_finished());
                if self.operations.len() >= MAX_OPERATIONS {
                    let text = format!(
                        "At most {MAX_OPERATIONS} operations run at once on one connection."
                    );
                    let error = json!({ "type": "error", "id": id, "payload": [{ "message": text, "extensions": { "code": "TOO_MANY_OPERATIONS" } }] });
                    self.send(&error).await;
                    return true;
                }
                let payload = message.payload.unwrap_or(Value::Null);
                let operation = Operation {
                    state: self.state.clone(),
                    protocol: self.protocol,
                    out: self.out.clone(),
                    authorization: self.authorization.clone(),
                    client: self.client,
                    id_json: serde_json::to_string(&id).unwrap_or_default(),
                    id: id.clone(),
                    permissions: self.permissions.subscribe(),
                };
                self.operations.insert(id, tokio::spawn(operation.run(payload)));
                true
            }
            (Protocol::Transport, "complete") | (Protocol::Legacy, "stop") => {
                if let Some(task) = message.id.and_then(|id| self.operations.remove(&id)) {
                    task.abort();
                }
                true
            }
            (Protocol::Legacy, "connection_terminate") => false,
            _ => {
                self.close(4400, "Invalid message received").await;
                false
            }
        }
    }
}

/// The credential in a `connection_init` payload: `Authorization` (any case), the same in
/// `headers`, or `token` (a bare key, or a whole header value).
fn credential_of(payload: &Value) -> Option<String> {
    let object = payload.as_object()?;
    let find = |map: &serde_json::Map<String, Value>| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    if let Some(found) = find(object) {
        return Some(found);
    }
    if let Some(found) = object.get("headers").and_then(Value::as_object).and_then(find) {
        return Some(found);
    }
    let token = object.get("token").and_then(Value::as_str)?;
    Some(if token.contains(' ') { token.to_owned() } else { format!("Token {token}") })
}

/// One operation of a connection.
struct Operation {
    state: AppState,
    protocol: Protocol,
    out: Out,
    authorization: Option<String>,
    client: Option<std::net::IpAddr>,
    id: String,
    /// The id as JSON, as every frame of the operation starts with it.
    id_json: String,
    /// The connection's user's permissions when read again.
    permissions: tokio::sync::watch::Receiver<Option<Arc<Permissions>>>,
}

impl Operation {
    async fn run(mut self, payload: Value) {
        self.permissions.mark_unchanged();
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => bytes::Bytes::from(body),
            Err(_) => return,
        };
        let mut headers = HeaderMap::new();
        if let Some(value) =
            self.authorization.as_deref().and_then(|a| HeaderValue::from_str(a).ok())
        {
            headers.insert(axum::http::header::AUTHORIZATION, value);
        }
        let id = uuid::Uuid::new_v4();
        let mut kept = None;
        let state = self.state.clone();
        let response =
            crate::respond::answer_graphql(state, id, (headers, self.client), Ok(body), &mut kept)
                .await;
        let subscribed = kept.as_ref().and_then(|s| s.take_subscribed());
        match (subscribed, kept) {
            (Some(Ok(subscribed)), Some(request)) => {
                let user = request.actor.user_id.unwrap_or_default();
                let document = payload.get("query").and_then(Value::as_str).unwrap_or_default();
                let key = CohortKey {
                    document: document.into(),
                    operation: payload.get("operationName").and_then(Value::as_str).map(Into::into),
                    variables: payload
                        .get("variables")
                        .map(Value::to_string)
                        .unwrap_or_default()
                        .into(),
                    reader: crate::feed::reader_of(&request.permissions, user),
                };
                let follow = Follow {
                    key: subscribed.key,
                    select: subscribed.select,
                    permissions: request.permissions.clone(),
                };
                self.subscription(key, follow, (user, subscribed.after)).await;
            }
            (Some(Err(error)), _) => self.error(vec![error]).await,
            _ => self.answer(response).await,
        }
    }

    /// A query's or mutation's answer: `next` then `complete`, or `error` for a refused document.
    /// An answer is one message, held whole: at most the request size limit (HTTP streams
    /// larger ones).
    async fn answer(&self, response: Response) {
        let status = response.status();
        let limit = self.state.config.body_limit;
        let Ok(body) = axum::body::to_bytes(response.into_body(), limit).await else {
            let text = format!(
                "The answer is larger than {limit} bytes, the most one WebSocket message carries: \
                 ask for it over HTTP, or page it."
            );
            let code = json!({ "code": "ANSWER_TOO_LARGE", "limit": limit });
            self.error(vec![json!({ "message": text, "extensions": code })]).await;
            return;
        };
        if status == StatusCode::OK {
            self.frame(self.protocol.next(), &String::from_utf8_lossy(&body)).await;
            self.complete().await;
            return;
        }
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let errors = match value.get("errors").and_then(Value::as_array) {
            Some(errors) => errors.clone(),
            None => {
                let message = value.get("detail").and_then(Value::as_str).unwrap_or("Refused.");
                vec![json!({ "message": message, "extensions": { "code": status_code(status) } })]
            }
        };
        self.error(errors).await;
    }

    async fn error(&self, errors: Vec<Value>) {
        let frame = json!({ "type": "error", "id": self.id, "payload": errors });
        self.out.send(Message::Text(Utf8Bytes::from(frame.to_string()))).await;
        if self.protocol == Protocol::Legacy {
            self.complete().await;
        }
    }

    async fn complete(&self) {
        let frame = json!({ "type": "complete", "id": self.id });
        self.out.send(Message::Text(Utf8Bytes::from(frame.to_string()))).await;
    }

    /// `{"id":…,"type":…,"payload":<payload>}` with the payload's bytes as they are.
    async fn frame(&self, kind: &str, payload: &str) -> bool {
        let mut text = String::with_capacity(payload.len() + self.id.len() + 40);
        text.push_str("{\"id\":");
        text.push_str(&self.id_json);
        text.push_str(",\"type\":\"");
        text.push_str(kind);
        text.push_str("\",\"payload\":");
        text.push_str(payload);
        text.push('}');
        self.out.send(Message::Text(Utf8Bytes::from(text))).await
    }

    /// Follows the change feed for the subscription until the client completes it, the
    /// connection ends, or a read fails (an `error` naming the last sequence delivered). When
    /// the user's permissions change, it follows on from where it stands with the new ones.
    async fn subscription(
        &mut self,
        mut key: CohortKey,
        mut follow: Follow,
        (user, after): (uuid::Uuid, Option<i64>),
    ) {
        let Some(feed) = self.state.feed.clone() else {
            let text = "This server does not follow the change feed.";
            self.error(vec![json!({ "message": text, "extensions": { "code": "INTERNAL" } })])
                .await;
            return;
        };
        let store = feed.store().clone();
        let mut delivered = after.unwrap_or_else(|| feed.done());
        // The filters are checked now, on an empty range, so that a refused one is an error
        // before anything is followed.
        if let Err(error) = follow.read(&store, delivered, delivered).await {
            self.error(vec![store_error_json(&follow.key, error)]).await;
            return;
        }
        let mut permissions = self.permissions.clone();
        loop {
            let shared = Arc::new(follow);
            let start = delivered;
            let ended = {
                let mut frames = Frames { operation: self, delivered: &mut delivered };
                let following = crate::feed::follow(
                    feed.clone(),
                    key.clone(),
                    shared.clone(),
                    start,
                    &mut frames,
                );
                let changed = async {
                    match permissions.changed().await {
                        Ok(()) => permissions.borrow_and_update().clone(),
                        // The connection is gone: nothing will change them.
                        Err(_) => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ended = following => Ok(ended),
                    changed = changed => Err(changed),
                }
            };
            match ended {
                Ok(Ok(())) => return,
                Ok(Err(error)) => {
                    let mut error = store_error_json(&shared.key, error);
                    error["extensions"]["last_sequence"] = json!(delivered);
                    self.error(vec![error]).await;
                    return;
                }
                // New permissions: on from the last batch delivered, in the cohort they make.
                Err(Some(permissions)) => {
                    key.reader = crate::feed::reader_of(&permissions, user);
                    follow = Follow {
                        key: shared.key.clone(),
                        select: shared.select.clone(),
                        permissions,
                    };
                }
                Err(None) => return,
            }
        }
    }
}

/// A subscription's batches written to its socket, one frame per event.
struct Frames<'a> {
    operation: &'a Operation,
    /// Every change up to here has been written (or matched nothing).
    delivered: &'a mut i64,
}

impl crate::feed::Deliver for Frames<'_> {
    async fn deliver(&mut self, upto: i64, events: Arc<[String]>) -> bool {
        for event in events.iter() {
            if !self.operation.frame(self.operation.protocol.next(), event).await {
                return false;
            }
        }
        *self.delivered = upto;
        true
    }
}

/// A read's error as an answer's error of the subscription's field.
fn store_error_json(key: &str, error: ferrobot_persistence::StoreError) -> Value {
    let error = crate::error::GatewayError::from(error);
    if error.code() == "INTERNAL" {
        tracing::warn!(%error, "a subscription failed");
    }
    // As a query's error of the same field is worded, without a place in a document.
    crate::error::FieldError::at(error, crate::error::Stage::Read, key, None, None).to_json()
}

fn status_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::SERVICE_UNAVAILABLE => crate::error::BUSY,
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        _ => "BAD_REQUEST",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where clients put the credential in `connection_init`'s payload: Apollo and urql send
    /// `Authorization` (any case) or `headers`, some a bare `token`.
    #[test]
    fn credentials_in_connection_init() {
        let key = "0123456789abcdef0123456789abcdef01234567";
        let cases = [
            (json!({ "Authorization": format!("Token {key}") }), Some(format!("Token {key}"))),
            (json!({ "authorization": "Bearer abc" }), Some("Bearer abc".to_owned())),
            (
                json!({ "headers": { "Authorization": "Bearer abc" } }),
                Some("Bearer abc".to_owned()),
            ),
            (json!({ "token": key }), Some(format!("Token {key}"))),
            (json!({ "token": "Bearer abc" }), Some("Bearer abc".to_owned())),
            (json!({ "Authorization": 42 }), None),
            (json!({}), None),
            (json!("Token abc"), None),
            (Value::Null, None),
        ];
        for (payload, wanted) in cases {
            assert_eq!(credential_of(&payload), wanted, "{payload}");
        }
    }
}
