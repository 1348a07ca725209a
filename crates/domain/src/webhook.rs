//! Webhooks as Nautobot sends them, as plain data: which changes a webhook takes, the payload of
//! a change, the body and headers its templates render, the signature, and how long a failing
//! delivery waits before its next attempt.
//!
//! Spec: nautobot/extras/models/models.py (`Webhook`: `clean`, `render_headers`,
//! `render_body`), nautobot/extras/tasks.py (`process_webhook`: the context, the headers, the
//! signature, what counts as delivered), nautobot/extras/webhooks.py (`enqueue_webhooks`, the
//! payload URL policy), nautobot/extras/models/change_logging.py (`ObjectChange.get_snapshots`).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value as Json};
use sha2::Sha512;
use uuid::Uuid;

use crate::error::ValidationError;
use crate::row::Row;

/// The webhook model.
pub const WEBHOOK: &str = "extras.webhook";
/// Ferrobot's own: a request to deliver a range of a webhook's events again.
pub const REPLAY: &str = "extras.webhookreplay";
/// Ferrobot's own: one attempt to deliver one change to one webhook.
pub const ATTEMPT: &str = "extras.webhookattempt";

/// The fields of the attempt model the delivery writes, in the order [`Attempt`] fills them.
pub const ATTEMPT_FIELDS: [&str; 11] = [
    "id",
    "webhook",
    "object_change",
    "sequence",
    "attempt",
    "replayed",
    "status",
    "response_code",
    "error",
    "time",
    "duration_ms",
];

/// The fields of a replay the delivery reads.
pub const REPLAY_FIELDS: [&str; 3] = ["webhook", "after_sequence", "upto_sequence"];

pub use crate::template::MAX_RENDERED;

/// A webhook as the delivery uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub name: String,
    /// Model labels (`dcim.device`).
    pub content_types: Vec<String>,
    pub type_create: bool,
    pub type_update: bool,
    pub type_delete: bool,
    pub payload_url: String,
    pub enabled: bool,
    pub http_method: String,
    pub http_content_type: String,
    pub additional_headers: String,
    pub body_template: String,
    pub secret: String,
    pub ssl_verification: bool,
    pub ca_file_path: String,
}

impl Webhook {
    /// The webhook a stored row holds.
    pub fn from_row(id: Uuid, row: &Row) -> Webhook {
        let text = |name: &str| row.text(name).unwrap_or_default().to_owned();
        let flag = |name: &str, default: bool| row.bool(name).unwrap_or(default);
        let content_types = match row.json("content_types") {
            Some(Json::Array(items)) => {
                items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
            }
            _ => Vec::new(),
        };
        Webhook {
            id,
            name: text("name"),
            content_types,
            type_create: flag("type_create", false),
            type_update: flag("type_update", false),
            type_delete: flag("type_delete", false),
            payload_url: text("payload_url"),
            enabled: flag("enabled", true),
            http_method: text("http_method"),
            http_content_type: text("http_content_type"),
            additional_headers: text("additional_headers"),
            body_template: text("body_template"),
            secret: text("secret"),
            ssl_verification: flag("ssl_verification", true),
            ca_file_path: text("ca_file_path"),
        }
    }

    /// Whether a change of `action` (`create`, `update`, `delete`) to an object of `label` calls
    /// this webhook (`enqueue_webhooks`: the content type and the action's flag).
    pub fn takes(&self, label: &str, action: &str) -> bool {
        let flag = match action {
            "create" => self.type_create,
            "update" => self.type_update,
            "delete" => self.type_delete,
            _ => false,
        };
        flag && self.content_types.iter().any(|t| t == label)
    }

    /// The actions this webhook takes, as the change log writes them.
    pub fn actions(&self) -> Vec<&'static str> {
        [("create", self.type_create), ("update", self.type_update), ("delete", self.type_delete)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(a, _)| a)
            .collect()
    }
}

/// One change of the log, as a webhook's payload is made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub sequence: i64,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The changed object's model label (`dcim.device`).
    pub label: String,
    pub time: DateTime<Utc>,
    pub user_name: String,
    pub request_id: Uuid,
    /// The object after the change (before it, for a delete).
    pub data: Option<Json>,
    /// The object before an update or a delete.
    pub prechange: Option<Json>,
}

impl Event {
    /// Nautobot's context: what the default body is, and what templates see.
    pub fn context(&self) -> Json {
        let event = match self.action.as_str() {
            "create" => "created",
            "update" => "updated",
            "delete" => "deleted",
            other => other,
        };
        let model = self.label.rsplit('.').next().unwrap_or_default();
        json!({
            "event": event,
            "timestamp": python_time(self.time),
            "model": model,
            "username": self.user_name,
            "request_id": self.request_id.to_string(),
            "data": self.data.clone().unwrap_or(Json::Null),
            "snapshots": self.snapshots(),
        })
    }

    /// `ObjectChange.get_snapshots`: the object before and after, and a shallow diff.
    pub fn snapshots(&self) -> Json {
        let (prechange, postchange) = match self.action.as_str() {
            "create" => (None, self.data.clone()),
            // A delete's data is the object as it was.
            "delete" => (self.prechange.clone().or_else(|| self.data.clone()), None),
            _ => (self.prechange.clone(), self.data.clone()),
        };
        let present = |v: &Option<Json>| v.as_ref().is_some_and(truthy);
        let (removed, added) = match (&prechange, &postchange) {
            (Some(Json::Object(pre)), Some(Json::Object(post)))
                if present(&prechange) && present(&postchange) =>
            {
                let added: Map<String, Json> = post
                    .iter()
                    .filter(|(k, v)| k.as_str() != "last_updated" && pre.get(k.as_str()) != Some(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let removed: Map<String, Json> = added
                    .keys()
                    .map(|k| (k.clone(), pre.get(k).cloned().unwrap_or(Json::Null)))
                    .collect();
                (Json::Object(removed), Json::Object(added))
            }
            _ if present(&prechange) && !present(&postchange) => {
                (prechange.clone().unwrap_or(Json::Null), Json::Null)
            }
            _ => (Json::Null, postchange.clone().unwrap_or(Json::Null)),
        };
        json!({
            "prechange": prechange,
            "postchange": postchange,
            "differences": {"removed": removed, "added": added},
        })
    }
}

/// Python's truth of a JSON value (an empty object is false).
fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Object(m) => !m.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::String(s) => !s.is_empty(),
        Json::Number(n) => n.as_f64() != Some(0.0),
    }
}

/// `str(datetime)` in Python: `2026-12-03 16:37:02.123456+00:00`.
pub fn python_time(time: DateTime<Utc>) -> String {
    if time.timestamp_subsec_micros() == 0 {
        time.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

/// One HTTP request of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A webhook's templates, compiled once for the events delivered in a row.
pub struct Templates {
    env: minijinja::Environment<'static>,
    body: bool,
    headers: bool,
}

impl Templates {
    /// Compiles the webhook's body and header templates; a syntax error names the field.
    pub fn new(webhook: &Webhook) -> Result<Templates, ValidationError> {
        let mut env = crate::template::environment();
        let mut add = |name: &'static str, source: &str| -> Result<bool, ValidationError> {
            if source.is_empty() {
                return Ok(false);
            }
            env.add_template_owned(name, source.to_owned())
                .map_err(|e| ValidationError::new(name, crate::template::error_text(&e)))?;
            Ok(true)
        };
        let body = add("body_template", &webhook.body_template)?;
        let headers = add("additional_headers", &webhook.additional_headers)?;
        Ok(Templates { env, body, headers })
    }

    fn render(&self, name: &str, context: &Json) -> Result<String, String> {
        crate::template::render(&self.env, name, context)
    }

    /// The request that delivers `event` (`process_webhook`): the content type, the rendered
    /// extra headers, the body (the template's, or the context as JSON), the signature.
    pub fn request(&self, webhook: &Webhook, event: &Event) -> Result<Request, String> {
        let context = event.context();
        let mut headers = vec![("Content-Type".to_owned(), webhook.http_content_type.clone())];
        if self.headers {
            let text = self.render("additional_headers", &context)?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let Some((name, value)) = line.split_once(':') else {
                    let start: String = line.chars().take(100).collect();
                    return Err(format!("Header line {start:?} is not of the form Name: Value."));
                };
                let (name, value) = (name.trim(), value.trim());
                let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || !name.chars().all(token) {
                    return Err(format!("{name:?} is not a header name."));
                }
                if value.chars().any(|c| c.is_control() && c != '\t') {
                    return Err(format!("The value of header {name} has control characters."));
                }
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let body = if self.body {
            self.render("body_template", &context)?
        } else {
            // Python's json.dumps: ", " and ": " between items, text as it is.
            python_json(&context)
        };
        if !webhook.secret.is_empty() {
            headers
                .push(("X-Hook-Signature".to_owned(), signature(&webhook.secret, body.as_bytes())));
        }
        Ok(Request {
            method: webhook.http_method.clone(),
            url: webhook.payload_url.clone(),
            headers,
            body,
        })
    }
}

/// JSON as Python's `json.dumps(…, ensure_ascii=False)` writes it: `{"a": 1, "b": [1, 2]}`.
pub fn python_json(value: &Json) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Json, out: &mut String) {
    match value {
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push_str(": ");
                write_python_json(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `X-Hook-Signature`: the HMAC-SHA512 of the body keyed by the secret, in hex
/// (nautobot/extras/utils.py `generate_signature`).
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha512>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a delivery went, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth another attempt: the receiver is down, busy or failing.
    Transient,
    /// Another attempt would fail the same way: the request is wrong for the receiver, or the
    /// webhook cannot be sent as configured.
    Permanent,
}

/// What an HTTP status means for the delivery (`response.ok` in Nautobot: below 400; Ferrobot
/// retries what may pass later).
pub fn outcome(status: u16) -> Outcome {
    match status {
        100..=399 => Outcome::Delivered,
        408 | 409 | 423 | 425 | 429 => Outcome::Transient,
        400..=499 => Outcome::Permanent,
        _ => Outcome::Transient,
    }
}

/// The wait before attempt `failures + 1` after `failures` failed ones: exponential from `base`,
/// at most `cap`, with "equal jitter" (half fixed, half random: `unit` in [0, 1)), so that
/// receivers coming back are not hit by every webhook at once.
pub fn backoff(failures: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let full = exp.min(cap);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// Addresses a webhook is never sent to unless the operator allows them
/// (`_webhook_addr_is_builtin_blocked`: loopback, link-local, multicast, unspecified, reserved).
pub fn blocked(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.octets()[0] >= 240
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return blocked(IpAddr::V4(v4));
            }
            let first = a.segments()[0];
            a.is_loopback() || a.is_multicast() || a.is_unspecified() || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The scheme and host of a payload URL, or why it cannot be one.
pub fn url_parts(url: &str) -> Result<(String, String), String> {
    let parsed = url::Url::parse(url).map_err(|_| "Enter a valid URL.".to_owned())?;
    let scheme = parsed.scheme().to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "Webhook URL scheme '{scheme}' is not permitted; allowed schemes are: http, https."
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("Webhook URL must include a host.".to_owned());
    }
    Ok((scheme, host.to_owned()))
}

/// `Webhook.clean`, and the templates compile. Spec: nautobot/extras/models/models.py.
pub fn rules(object: &Row) -> Vec<ValidationError> {
    let webhook = Webhook::from_row(Uuid::nil(), object);
    let mut errors = Vec::new();
    if !webhook.type_create && !webhook.type_update && !webhook.type_delete {
        errors.push(ValidationError::new(
            "__all__",
            "You must select at least one type: create, update, and/or delete.",
        ));
    }
    if !webhook.ssl_verification && !webhook.ca_file_path.is_empty() {
        errors.push(ValidationError::new(
            "ca_file_path",
            "Do not specify a CA certificate file if SSL verification is disabled.",
        ));
    }
    if let Err(message) = url_parts(&webhook.payload_url) {
        errors.push(ValidationError::new("payload_url", message));
    }
    if let Err(e) = Templates::new(&webhook) {
        errors.push(e);
    }
    errors
}

/// A replay names a range of the log once: after ≤ upto, and it is not changed afterwards.
pub fn replay_rules(object: &Row, before: Option<&Row>) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let int = |name: &str| match object.get(name) {
        crate::value::Datum::Int(v) => Some(*v),
        _ => None,
    };
    let after = int("after_sequence");
    if let (Some(after), Some(upto)) = (after, int("upto_sequence")) {
        if upto < after {
            errors.push(ValidationError::new(
                "upto_sequence",
                "Ensure this value is greater than or equal to after_sequence.",
            ));
        }
    }
    if let Some(before) = before {
        for field in REPLAY_FIELDS {
            if before.get(field) != object.get(field) {
                errors.push(ValidationError::new(
                    field,
                    "A replay cannot be changed; delete it and create another.",
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Datum;

    fn hook() -> Webhook {
        Webhook {
            id: Uuid::nil(),
            name: "h".into(),
            content_types: vec!["dcim.device".into()],
            type_create: true,
            type_update: false,
            type_delete: true,
            payload_url: "http://receiver.example/hook".into(),
            enabled: true,
            http_method: "POST".into(),
            http_content_type: "application/json".into(),
            additional_headers: String::new(),
            body_template: String::new(),
            secret: String::new(),
            ssl_verification: true,
            ca_file_path: String::new(),
        }
    }

    fn event(action: &str, data: Option<Json>, prechange: Option<Json>) -> Event {
        Event {
            id: Uuid::nil(),
            sequence: 7,
            action: action.into(),
            label: "dcim.device".into(),
            time: DateTime::parse_from_rfc3339("2026-12-03T16:37:02.123456Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            user_name: "alice".into(),
            request_id: Uuid::nil(),
            data,
            prechange,
        }
    }

    /// Spec: `enqueue_webhooks` filters by content type and the action's flag.
    #[test]
    fn webhooks_take_their_types_and_actions() {
        let h = hook();
        let cases = [
            ("dcim.device", "create", true),
            ("dcim.device", "update", false),
            ("dcim.device", "delete", true),
            ("dcim.site", "create", false),
            ("dcim.device", "other", false),
        ];
        for (label, action, want) in cases {
            assert_eq!(h.takes(label, action), want, "{label} {action}");
        }
        assert_eq!(h.actions(), ["create", "delete"]);
    }

    /// Spec: `ObjectChange.get_snapshots` (shallow diff without `last_updated`).
    #[test]
    fn snapshots_are_nautobots() {
        let pre = json!({"name": "a", "serial": "1", "last_updated": "x"});
        let post = json!({"name": "b", "serial": "1", "last_updated": "y"});
        let cases = [
            (
                event("create", Some(post.clone()), None),
                json!({"prechange": null, "postchange": post,
                       "differences": {"removed": null, "added": post}}),
            ),
            (
                event("update", Some(post.clone()), Some(pre.clone())),
                json!({"prechange": pre, "postchange": post,
                       "differences": {"removed": {"name": "a"}, "added": {"name": "b"}}}),
            ),
            (
                event("delete", Some(pre.clone()), None),
                json!({"prechange": pre, "postchange": null,
                       "differences": {"removed": pre, "added": null}}),
            ),
        ];
        for (event, want) in cases {
            assert_eq!(event.snapshots(), want, "{}", event.action);
        }
    }

    /// Spec: `process_webhook`'s context and the default body (`json.dumps`).
    #[test]
    fn the_default_body_is_the_context_as_python_writes_it() {
        let e = event("create", Some(json!({"name": "é", "n": [1, 2]})), None);
        let request = Templates::new(&hook())
            .and_then(|t| t.request(&hook(), &e).map_err(|m| ValidationError::new("__all__", m)));
        let request = request.map_err(|e| e.message).unwrap_or_else(|e| panic!("{e}"));
        assert!(request.body.starts_with(
            r#"{"event": "created", "timestamp": "2026-12-03 16:37:02.123456+00:00", "model": "device", "username": "alice", "request_id": "00000000-0000-0000-0000-000000000000", "data": {"name": "é", "n": [1, 2]}"#
        ), "{}", request.body);
        assert_eq!(request.headers, [("Content-Type".to_owned(), "application/json".to_owned())]);
    }

    #[test]
    fn templates_render_body_and_headers_and_the_body_is_signed() {
        let mut h = hook();
        h.body_template = "{{ event }} {{ data.name }} by {{ username }}".into();
        h.additional_headers = "X-Model: {{ model }}\n\nAuthorization: Bearer a:b".into();
        h.secret = "s3cret".into();
        let t = Templates::new(&h).unwrap_or_else(|e| panic!("{}", e.message));
        let r = t.request(&h, &event("update", Some(json!({"name": "r1"})), None));
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.body, "updated r1 by alice");
        assert_eq!(r.headers[1], ("X-Model".to_owned(), "device".to_owned()));
        assert_eq!(r.headers[2], ("Authorization".to_owned(), "Bearer a:b".to_owned()));
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cret",b"updated r1 by alice",hashlib.sha512).hexdigest())'
        assert_eq!(r.headers[3].0, "X-Hook-Signature");
        assert_eq!(
            r.headers[3].1,
            "53da92db7178a8b0bc90fbd17079ffb240e3d0a2f537fa5c2a42a251ae7b615ce243ab6959558541fab6ddddaae8388006d041c86537e963821313b028053b3a"
        );
    }

    #[test]
    fn hostile_templates_fail_instead_of_running_away() {
        let mut h = hook();
        h.body_template =
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}"
                .into();
        let t = Templates::new(&h).unwrap_or_else(|e| panic!("{}", e.message));
        assert!(t.request(&h, &event("create", None, None)).is_err());
        h.body_template = "{% for %}".into();
        let e = Templates::new(&h).err().map(|e| e.field);
        assert_eq!(e.as_deref(), Some("body_template"));
        h.body_template = String::new();
        h.additional_headers = "no colon here".into();
        let t = Templates::new(&h).unwrap_or_else(|e| panic!("{}", e.message));
        assert!(t.request(&h, &event("create", None, None)).is_err());
    }

    #[test]
    fn statuses_decide_retries() {
        let cases = [
            (200, Outcome::Delivered),
            (204, Outcome::Delivered),
            (302, Outcome::Delivered),
            (400, Outcome::Permanent),
            (404, Outcome::Permanent),
            (408, Outcome::Transient),
            (429, Outcome::Transient),
            (500, Outcome::Transient),
            (503, Outcome::Transient),
        ];
        for (status, want) in cases {
            assert_eq!(outcome(status), want, "{status}");
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(300));
        let cases = [
            (1, 0.0, 500),
            (1, 0.999_999, 999),
            (2, 0.0, 1000),
            (4, 0.0, 4000),
            (10, 0.0, 150_000),
            (40, 0.5, 225_000),
        ];
        for (failures, unit, ms) in cases {
            assert_eq!(backoff(failures, base, cap, unit).as_millis(), ms, "{failures} {unit}");
        }
    }

    /// Spec: nautobot/extras/webhooks.py `_webhook_addr_is_builtin_blocked`.
    #[test]
    fn reserved_addresses_are_blocked() {
        let cases = [
            ("127.0.0.1", true),
            ("169.254.169.254", true),
            ("224.0.0.1", true),
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("10.0.0.1", false),
            ("192.0.2.10", false),
            ("::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("2001:db8::1", false),
        ];
        for (addr, want) in cases {
            let ip: IpAddr = addr.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            assert_eq!(blocked(ip), want, "{addr}");
        }
    }

    /// Spec: `Webhook.clean`.
    #[test]
    fn webhooks_are_checked_as_nautobot_checks_them() {
        let row = |pairs: &[(&str, Datum)]| {
            let mut r = Row::new();
            r.set("payload_url", Datum::text("https://h.example/x"));
            r.set("type_create", Datum::Bool(true));
            r.set("ssl_verification", Datum::Bool(true));
            for (k, v) in pairs {
                r.set(*k, v.clone());
            }
            r
        };
        let cases: Vec<(Row, Vec<&str>)> = vec![
            (row(&[]), vec![]),
            (row(&[("type_create", Datum::Bool(false))]), vec!["__all__"]),
            (
                row(&[
                    ("ssl_verification", Datum::Bool(false)),
                    ("ca_file_path", Datum::text("/ca.pem")),
                ]),
                vec!["ca_file_path"],
            ),
            (row(&[("payload_url", Datum::text("ftp://h.example/"))]), vec!["payload_url"]),
            (row(&[("payload_url", Datum::text("not a url"))]), vec!["payload_url"]),
            (row(&[("body_template", Datum::text("{{ oops"))]), vec!["body_template"]),
        ];
        for (r, want) in cases {
            let got: Vec<String> = rules(&r).into_iter().map(|e| e.field).collect();
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn replays_are_ranges_that_do_not_change() {
        let row = |after: i64, upto: Option<i64>| {
            let mut r = Row::new();
            r.set("webhook", Datum::Uuid(Uuid::nil()));
            r.set("after_sequence", Datum::Int(after));
            r.set("upto_sequence", upto.map(Datum::Int).unwrap_or(Datum::Null));
            r
        };
        assert!(replay_rules(&row(3, Some(9)), None).is_empty());
        assert!(replay_rules(&row(3, None), None).is_empty());
        assert_eq!(replay_rules(&row(9, Some(3)), None).len(), 1);
        assert_eq!(replay_rules(&row(3, Some(10)), Some(&row(3, Some(9)))).len(), 1);
    }
}
